/* tui/signals.c: the terminal is given back on every way out.
 *
 * Every signal whose default action ends the process is in one of the lists below.
 * - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
 *   SIGXCPU, SIGIO, SIGPWR, SIGSTKFLT and the real-time signals only set signal_quit: the
 *   main loop leaves, restores the terminal the normal way (endwin, history saved) and then
 *   re-raises the signal so the parent sees how we died. The loop blocks them except inside
 *   ppoll(), so one that arrives between a check and the wait is never lost.
 * - SIGPIPE and SIGXFSZ are ignored: a write that would raise them fails with EPIPE or
 *   EFBIG instead and is reported like any failed write (SIGXFSZ is ignored from main()).
 * - SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS: nothing of the program can
 *   be trusted, so the
 *   handler writes precomputed escape strings (leave the alternate screen, show the cursor,
 *   attributes off, bracketed paste off) and puts back the termios captured before curses
 *   started, using only write() and tcsetattr(), which are async-signal-safe. Then the
 *   handler is reset (SA_RESETHAND) and the signal raised again for the core dump.
 * - SIGCONT sets signal_cont: after a stop the loop puts curses back.
 * - SIGWINCH is curses' own: it turns into KEY_RESIZE.
 *
 * Keyboard Ctrl-C is not a signal here: the terminal is in raw mode and Ctrl-C arrives as
 * a key, which the app answers (stop, then quit on the second). */
#include <errno.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <curses.h>
#include <term.h>

#include "signals.h"

volatile sig_atomic_t signal_quit;
volatile sig_atomic_t signal_cont;

static struct termios saved_tio;          /* the shell's modes, from before curses */
static int saved_fd = -1;                 /* the terminal they belong to */
static volatile sig_atomic_t restore_armed; /* the terminal is ours and needs restoring */
static char restore_seq[512];             /* escape strings that undo our screen modes */
static size_t restore_len;

static const int quit_signals[] = { SIGINT,   SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                                    SIGUSR2,  SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
                                    SIGIO,    SIGPWR,  SIGSTKFLT };
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };

/* The i-th signal that ends the app in order: the table, then the real-time ones (whose
 * numbers are only known at run time); 0 past the end. */
static int quit_signal_at(int i)
{
    const int n = (int)(sizeof quit_signals / sizeof quit_signals[0]);
    if (i < n)
        return quit_signals[i];
    return SIGRTMIN + (i - n) <= SIGRTMAX ? SIGRTMIN + (i - n) : 0;
}

static void on_quit(int sig)
{
    signal_quit = sig;
}

static void on_cont(int sig)
{
    (void)sig;
    signal_cont = 1;
}

static void on_fatal(int sig)
{
    signals_restore_terminal();
    /* SA_RESETHAND has put the default action back: raising again ends the process (for
     * SIGSEGV, returning would re-run the faulting instruction, which also does). */
    raise(sig);
}

void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    for (int i = 0, sig; (sig = quit_signal_at(i)); i++)
        sigaction(sig, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

void signals_uninstall(void)
{
    restore_armed = 0;
    for (int i = 0, sig; (sig = quit_signal_at(i)); i++)
        signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        signal(fatal_signals[i], SIG_DFL);
    signal(SIGCONT, SIG_DFL);
}

void signals_block_mask(sigset_t *set)
{
    sigemptyset(set);
    for (int i = 0, sig; (sig = quit_signal_at(i)); i++)
        sigaddset(set, sig);
    sigaddset(set, SIGWINCH);
    sigaddset(set, SIGCONT);
}

/* Appends a terminfo string without its padding ($<5>), which only a tputs would honour. */
static void restore_append(const char *s)
{
    if (!s || s == (const char *)-1)
        return;
    for (; *s && restore_len + 1 < sizeof restore_seq; s++) {
        if (s[0] == '$' && s[1] == '<') {
            const char *end = strchr(s, '>');
            if (end) {
                s = end;
                continue;
            }
        }
        restore_seq[restore_len++] = *s;
    }
}

void signals_capture_strings(void)
{
    restore_len = 0;
    restore_append("\033[?2004l");           /* bracketed paste off */
    restore_append(tigetstr("sgr0"));
    restore_append(tigetstr("cnorm"));
    restore_append(tigetstr("rmkx"));
    restore_append(tigetstr("rmcup"));
    restore_armed = 1;
}

void signals_capture_modes(int fd)
{
    if (tcgetattr(fd, &saved_tio) == 0)
        saved_fd = fd;
}

void signals_restore_terminal(void)
{
    if (!restore_armed)
        return;
    restore_armed = 0;
    int fd = saved_fd >= 0 ? saved_fd : STDOUT_FILENO;
    size_t off = 0;
    while (off < restore_len) {
        ssize_t n = write(fd, restore_seq + off, restore_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (saved_fd >= 0)
        tcsetattr(saved_fd, TCSANOW, &saved_tio);
}
