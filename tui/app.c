/* tui/app.c: the main loop of the full-screen app, and the terminal it runs in.
 *
 *   wait (ppoll on the keyboard and the worker's pipe, signals unblocked only there)
 *     -> keys (keys.c): handlers change state and set dirty bits
 *     -> worker (intake.c): records and status taken, conversation and inspector dirty
 *     -> frame (frame.c): only dirty windows are drawn, wnoutrefresh each, one doupdate;
 *        at most ~30 frames a second while tokens stream.
 *
 * The loop never blocks on the engine: the worker thread runs it, and the UI takes what
 * the worker has posted whenever it looks. A reply is autosaved when it ends (sessions/);
 * the first autosave says where. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <term.h>

#include "app.h"
#include "commands.h"
#include "draw.h"
#include "input.h"
#include "intake.h"
#include "keys.h"
#include "signals.h"

enum {
    FRAME_MS = 33,             /* ~30 frames a second while streaming */
    MSG_SECONDS = 4,           /* how long a hint-line message stays */
    WORKER_QUIT_MS = 700,      /* how long quitting waits for the engine to let go */
};

void app_options_default(struct app_options *o)
{
    memset(o, 0, sizeof *o);
    sampler_params_default(&o->sampler);
    o->n_predict = 2048;
}

void app_message(struct app *a, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    /* Newlines would break the one-line bar: show them as spaces. */
    for (char *p = a->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    a->msg_error = error;
    a->msg_until = clock_now_s() + (error ? 2 * MSG_SECONDS : MSG_SECONDS);
    a->dirty |= DIRTY_HINTS;
}

int app_init(struct app *a, const struct app_options *o, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->opt = *o;
    a->sampler = o->sampler;
    a->n_predict = o->n_predict;
    a->stream_msg = -1;
    a->sel = -1;
    a->view = VIEW_OVERVIEW;
    a->inspector_on = true;
    a->focus = FOCUS_INPUT;
    a->dirty = DIRTY_ALL;
    a->vctx.layer = 0;
    a->vctx.heat = HEAT_SELECTED;
    a->vctx.entropy = ENTROPY_MEAN;
    transcript_init(&a->tr);
    trace_log_init(&a->log, 0, 0, 0);
    a->cache = calloc(1, sizeof *a->cache);
    if (!a->cache) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->system && *o->system) {
        a->system = strdup(o->system);
        if (!a->system) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (o->chat_template)
        snprintf(a->chat_template, sizeof a->chat_template, "%s", o->chat_template);
    char msg[1024] = "";
    if (theme_load(o->theme, &a->theme, msg, sizeof msg) < 0) {
        /* A theme that cannot be found or read is an error before the app starts. */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        snprintf(err, errlen, "%s", msg[0] ? msg : "cannot load the theme");
        return -1;
    }
    if (msg[0]) {
        /* Bad lines: the theme is used with those roles at their defaults; say which. */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        app_message(a, true, "%s", msg);
    }
    return 0;
}

void app_free(struct app *a)
{
    transcript_free(&a->tr);
    trace_log_free(&a->log);
    free(a->ws.reply);
    app_switch_abandon(a);
    free(a->system);
    if (a->cache)
        view_cache_free(a->cache);
    free(a->cache);
    app_session_free(&a->sess);
    picker_close(&a->picker);
    a->ws.reply = NULL;
    a->system = NULL;
    a->cache = NULL;
}

bool app_busy(const struct app *a)
{
    return a->worker && worker_state_busy(a->ws.state);
}

/* Suspends to the shell (Ctrl-Z): the terminal is given back, then taken again (the
 * caller draws everything anew). */
void app_suspend(void)
{
    fputs("\033[?2004l", stdout);
    fflush(stdout);
    endwin();
    raise(SIGSTOP);
    /* Back from fg. */
    reset_prog_mode();
    fputs("\033[?2004h", stdout);
    fflush(stdout);
    clearok(curscr, TRUE);
}

/* ---- the loop ---- */

static int app_terminal_on(struct app *a)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "moescope: the app needs a terminal (for scripts: moescope run)\n");
        return -1;
    }
    signals_capture_modes(STDIN_FILENO);
    /* A terminal that cannot move its cursor (TERM=dumb, an editor's shell buffer) would
     * get garbage: say so before taking it over. */
    int terr = 0;
    if (setupterm(NULL, STDOUT_FILENO, &terr) == OK) {
        const char *cup = tigetstr("cup");
        bool usable = cup && cup != (const char *)-1;
        del_curterm(cur_term);
        if (!usable) {
            const char *t = getenv("TERM");
            fprintf(stderr, "moescope: terminal type '%s' cannot move the cursor; the app "
                            "needs a full-screen terminal (for plain output: moescope run)\n",
                    t ? t : "(unset)");
            return -1;
        }
    }
    if (!newterm(NULL, stdout, stdin)) {
        const char *t = getenv("TERM");
        fprintf(stderr, "moescope: cannot use terminal type '%s'\n", t ? t : "(unset)");
        return -1;
    }
    a->curses_on = true;
    raw();
    noecho();
    nonl();
    set_escdelay(25);
    a->theme_dirty = true;
    signals_capture_strings();
    fputs("\033[?2004h", stdout);   /* bracketed paste */
    fflush(stdout);
    a->win.keys = newwin(1, 1, 0, 0);
    keypad(a->win.keys, TRUE);
    nodelay(a->win.keys, TRUE);
    return 0;
}

static void app_terminal_off(struct app *a)
{
    if (!a->curses_on)
        return;
    frame_windows_free(&a->win);
    curs_set(1);
    endwin();
    fputs("\033[?2004l", stdout);
    fflush(stdout);
    a->curses_on = false;
}

/* The engine's settings from the options, for the model at path. */
static void app_engine_params(const struct app *a, const char *path, struct engine_params *ep)
{
    engine_params_default(ep);
    ep->model_path = path;
    ep->n_threads = a->opt.n_threads;
    ep->n_ctx = a->opt.n_ctx;
    ep->sampler = a->sampler;
    ep->trace = true;
    ep->prewarm = a->opt.prewarm;
    ep->mlock = a->opt.mlock;
}

int app_switch_model(struct app *a, const char *path, char *err, size_t errlen)
{
    if (app_busy(a)) {
        snprintf(err, errlen, "a reply is being written (Esc stops it first)");
        return -1;
    }
    if (a->next_worker) {
        snprintf(err, errlen, "%.3000s is still opening", a->next_path);
        return -1;
    }
    struct engine_params ep;
    app_engine_params(a, path, &ep);
    /* Opened before the old one is closed: a model that fails in engine_open (out of
     * memory, mlock refused, a tensor that does not bind) must leave the old one running,
     * and opening the old one again could fail too. The cost is both in memory for the
     * load's duration; their weights are mapped from their files, so what is doubled is
     * mostly the KV caches and any repacked or locked weights. */
    struct worker *w = worker_start(&ep, err, errlen);
    if (!w)
        return -1;
    a->next_worker = w;
    free(a->next_ws.reply);
    memset(&a->next_ws, 0, sizeof a->next_ws);
    a->next_ws.state = WORKER_LOADING;
    snprintf(a->next_path, sizeof a->next_path, "%s", path);
    a->dirty |= DIRTY_STATUS;
    return 0;
}

void app_switch_abandon(struct app *a)
{
    if (!a->next_worker)
        return;
    worker_quit(a->next_worker, WORKER_QUIT_MS);
    a->next_worker = NULL;
    free(a->next_ws.reply);
    memset(&a->next_ws, 0, sizeof a->next_ws);
    a->next_path[0] = 0;
}

void app_switch_take_over(struct app *a)
{
    if (a->worker)
        worker_quit(a->worker, WORKER_QUIT_MS);
    a->worker = a->next_worker;
    a->next_worker = NULL;
    a->next_path[0] = 0;
    /* The new model's status as last taken; intake_model_ready takes its shape. The
     * conversation stays: its records were the old model's, so no message owns any now,
     * and the next send feeds it all to the new one. */
    free(a->ws.reply);
    a->ws = a->next_ws;
    memset(&a->next_ws, 0, sizeof a->next_ws);
    a->ws.reply_first = -1;
    a->done_seen = a->ws.done_seq;
    a->model_ready = false;
    a->vocab = NULL;
    trace_log_clear(&a->log);
    for (int i = 0; i < a->tr.n; i++) {
        a->tr.msg[i].rec_end = 0;
        a->tr.msg[i].rec_first = -1;
    }
    a->sel = -1;
    a->state_since = clock_now_s();
    a->dirty |= DIRTY_ALL;
}

/* Opens the model (the worker loads it in the background) or the replayed session, and
 * the session to continue. Returns 0, or -1 after saying why on stderr. */
static int app_open(struct app *a)
{
    if (a->opt.replay) {
        a->replay = true;
        /* The theme's bad-line warning (app_init) is what the first screen must show, not
         * the load's own "loaded ..." line. */
        char theme_warning[sizeof a->msg];
        snprintf(theme_warning, sizeof theme_warning, "%s", a->msg);
        if (app_session_load(a, a->opt.replay) < 0) {
            fprintf(stderr, "moescope: %s\n", a->msg);
            return -1;
        }
        a->msg[0] = 0;
        if (theme_warning[0])
            app_message(a, true, "%s", theme_warning);
        return 0;
    }
    struct engine_params ep;
    app_engine_params(a, a->opt.model ? a->opt.model : default_model_path(), &ep);
    char err[512];
    /* Started with the signals blocked, so they all come to this thread. */
    a->worker = worker_start_with(&ep, &a->opt.backend, err, sizeof err);
    a->state_since = clock_now_s();   /* loading: the status bar counts the seconds */
    if (!a->worker) {
        fprintf(stderr, "moescope: %s\n", err);
        return -1;
    }
    if (a->opt.session && app_session_load(a, a->opt.session) < 0) {
        fprintf(stderr, "moescope: %s\n", a->msg);
        return -1;
    }
    return 0;
}

/* Keys, worker news and frames until the user, a signal or a lost terminal ends it. */
static void app_loop(struct app *a, const sigset_t *waitmask)
{
    while (!a->quit) {
        if (signal_quit) {
            a->quit_signal = signal_quit;
            break;
        }
        if (signal_cont) {
            signal_cont = 0;
            reset_prog_mode();
            fputs("\033[?2004h", stdout);
            fflush(stdout);
            clearok(curscr, TRUE);
            a->dirty |= DIRTY_ALL;
        }
        keys_read(a);
        if (a->quit)
            break;
        intake_pump(a);
        double now = clock_now_s();
        if (a->msg[0] && a->msg_until > 0 && now >= a->msg_until) {
            a->msg[0] = 0;
            a->dirty |= DIRTY_HINTS;
        }
        bool streaming = app_busy(a);
        if (a->opt.frames > 0)
            a->dirty |= DIRTY_ALL & ~DIRTY_LAYOUT;   /* --frames: a whole frame every tick */
        int timeout = -1;
        /* A long prompt or a slow model: the status bar's clock moves four times a second
         * even when no token arrives. */
        if (streaming && !a->dirty && now - a->frame.last_frame >= 0.25)
            a->dirty |= DIRTY_STATUS;
        if (a->dirty) {
            double wait_ms = (a->frame.last_frame + FRAME_MS / 1000.0 - now) * 1000.0;
            if (!streaming || wait_ms <= 0 || (a->dirty & (DIRTY_INPUT | DIRTY_LAYOUT)))
                frame_draw(a);   /* keys are answered at once; streaming is paced */
            else
                timeout = (int)wait_ms + 1;
        }
        if (a->opt.frames > 0 && a->frame.frames_drawn >= a->opt.frames)
            break;
        if (a->opt.frames > 0 && timeout < 0)
            timeout = FRAME_MS;
        if (streaming && timeout < 0)
            timeout = 250;
        if (a->msg[0] && a->msg_until > 0) {
            int until = (int)((a->msg_until - now) * 1000.0) + 1;
            if (timeout < 0 || until < timeout)
                timeout = until > 0 ? until : 0;
        }
        int paste_ms = a->in ? input_paste_wait_ms(a->in) : -1;
        if (paste_ms >= 0 && (timeout < 0 || paste_ms < timeout))
            timeout = paste_ms;
        struct pollfd fds[3] = { { STDIN_FILENO, POLLIN, 0 }, { -1, POLLIN, 0 },
                                 { -1, POLLIN, 0 } };
        /* While a paced frame is pending, the worker's news waits in its queue (merged)
         * until the frame is due: the UI wakes ~30 times a second, not once per token. */
        if (a->worker && !(a->dirty && streaming))
            fds[1].fd = worker_wake_fd(a->worker);
        if (a->next_worker) /* a model being switched to: its open or its failure */
            fds[2].fd = worker_wake_fd(a->next_worker);
        struct timespec ts, *tsp = NULL;
        if (timeout >= 0) {
            ts.tv_sec = timeout / 1000;
            ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
            tsp = &ts;
        }
        int pr = ppoll(fds, 3, tsp, waitmask);
        /* The terminal went away (its window closed, tmux killed the pane): no key will
         * ever come, so leave as a hangup would. A readable terminal that yields no key
         * again and again is the same thing seen differently (EOF). */
        if (pr > 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))) {
            a->quit_signal = SIGHUP;
            break;
        }
        a->idle_wakeups = pr > 0 && (fds[0].revents & POLLIN) ? a->idle_wakeups + 1 : 0;
        if (a->idle_wakeups > 1000) {
            a->quit_signal = SIGHUP;
            break;
        }
    }
}

/* --frames: what a frame costs (drawing and writing it out), and the memory the session
 * took (peak RSS). */
static void app_frames_report(const struct app *a, int rows, int cols)
{
    if (a->opt.frames <= 0 || a->frame.frames_drawn <= 0)
        return;
    struct rusage ru;
    const long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    fprintf(stderr, "moescope: %ld frames at %dx%d, %zu records: %.3f ms a frame on "
                    "average, %.3f ms at most; peak RSS %.1f MiB\n",
            a->frame.frames_drawn, cols, rows, a->log.n,
            a->frame.draw_ms_sum / (double)a->frame.frames_drawn, a->frame.draw_ms_max,
            (double)peak_kib / 1024.0);
}

int app_run(struct app *a)
{
    a->utf8 = draw_locale_utf8();
    signals_install();
    sigset_t block, waitmask;
    signals_block_mask(&block);
    pthread_sigmask(SIG_BLOCK, &block, &waitmask);   /* waitmask: what ppoll unblocks */

    int code = 1;
    const char *why = NULL;   /* said on stderr once the terminal is given back */
    if (app_open(a) == 0 && app_terminal_on(a) == 0) {
        a->in = input_open(a);
        if (a->in) {
            app_loop(a, &waitmask);
            code = 0;
        } else {
            why = "cannot set up the input line";
        }
    }

    /* The one way out: every path above comes here. */
    int rows = a->curses_on ? getmaxy(stdscr) : 0, cols = a->curses_on ? getmaxx(stdscr) : 0;
    input_close(a->in);
    a->in = NULL;
    app_terminal_off(a);
    if (why)
        fprintf(stderr, "moescope: %s\n", why);
    if (code == 0)
        app_frames_report(a, rows, cols);
    if (a->worker)
        worker_quit(a->worker, WORKER_QUIT_MS);
    a->worker = NULL;
    app_switch_abandon(a);
    pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
    signals_uninstall();
    if (a->quit_signal) {
        raise(a->quit_signal);
        return 128 + a->quit_signal;
    }
    return code;
}
