/* cli/commands.h: the subcommands of the moescope binary, one file each (cli/cmd_*.c; the app in tui/cmd_app.c).
 * Each takes the arguments after its name (argv[0] is the command's name) and returns the
 * process exit status: 0 success, 1 bad input (a file, a model), 2 bad usage. */
#ifndef MOESCOPE_COMMANDS_H
#define MOESCOPE_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_app(int argc, char **argv); /* the full-screen app: `moescope [options]` */

/* The model used when no -m is given: $MOESCOPE_MODEL, else the installed default, else the
 * one built in this source tree. Returns a path (maybe one that does not exist). */
const char *default_model_path(void);

#endif
