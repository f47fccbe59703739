/* cli/commands.h: the subcommands of the moescope binary, one file each (cli/cmd_*.c; the app in tui/cmd_app.c).
 * Each takes the arguments after its name (argv[0] is the command's name) and returns the
 * process exit status: 0 success, 1 bad input (a file, a model), 2 bad usage. */
#ifndef MOESCOPE_COMMANDS_H
#define MOESCOPE_COMMANDS_H

#include <stdbool.h>

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_app(int argc, char **argv); /* the full-screen app: `moescope [options]` */

/* The model used when no -m is given: $MOESCOPE_MODEL, else the installed default, else the
 * one built in this source tree. Returns a path (maybe one that does not exist). */
const char *default_model_path(void);

/* Call right after a write to stdout failed: keeps errno as the reason main() gives when it
 * reports the failed output at exit (one line, exit 1, for every command). */
void cli_stdout_failed(void);
/* At start: puts /dev/null in place of a closed stdin, stdout or stderr; true when stdout
 * was closed. At exit: flushes and closes stdout and returns rc, or 1 after one line on
 * stderr when any of its output was lost. */
bool cli_stdout_hold(void);
int cli_stdout_finish(int rc, bool stdout_closed);

#endif
