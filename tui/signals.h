/* tui/signals.h: the terminal restored on every way out (signals.c). */
#ifndef MOESCOPE_SIGNALS_H
#define MOESCOPE_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t signal_quit;  /* SIGTERM, SIGHUP, SIGINT: the signal number */
extern volatile sig_atomic_t signal_cont;  /* SIGCONT: the terminal needs setting up again */
/* Installs the handlers. Fatal signals restore the terminal (with what the two captures
 * below remembered) and re-raise; the others set flags. */
void signals_install(void);
/* Before initscr(): remembers the shell's terminal modes on fd. */
void signals_capture_modes(int fd);
/* After initscr(): remembers the escape strings that undo the screen modes, and arms the
 * fatal handlers' restoration. */
void signals_capture_strings(void);
/* Async-signal-safe restoration (also used on a normal exit before endwin). */
void signals_restore_terminal(void);
/* The signals the loop blocks except while waiting in ppoll. */
void signals_block_mask(sigset_t *set);
void signals_uninstall(void);

#endif
