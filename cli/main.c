/* cli/main.c: dispatches `moescope COMMAND ...` to the command's own file, and answers for
 * standard output (cli/stdout_check.c). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    { "info", cmd_info, "print a model's architecture, shape and size" },
    { "bench", cmd_bench, "measure speed against this machine's bandwidth floor" },
    { "run", cmd_run, "generate from a prompt, streaming text (and a trace)" },
    { "export", cmd_export, "write a saved session as md, csv, ndjson or html" },
    { "models", cmd_models, "list the GGUF models on this machine (Ollama, HF, LM Studio)" },
    { "analyze", cmd_analyze, "replay a session's routing through an expert cache" },
    { "compare", cmd_compare, "run the same prompts through two models, side by side" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: moescope [-m MODEL] [options]   open the full-screen app\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "       moescope %-7s ...               %s\n", commands[i].name,
                commands[i].what);
    fprintf(out, "See moescope(1) for every option.\n");
}

static int main_dispatch(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        fputc('\n', stdout);
        return cmd_app(argc, argv); /* and the app's own options */
    }
    if (argc < 2 || argv[1][0] == '-')
        return cmd_app(argc, argv);
    if (argc >= 2)
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(argv[1], commands[i].name))
                return commands[i].fn(argc - 1, argv + 1);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    bool stdout_closed = cli_stdout_hold();
    /* A file size limit makes write() fail with EFBIG, which every writer reports (and the
     * temporary file is removed), instead of killing the process mid-save. */
    signal(SIGXFSZ, SIG_IGN);
    return cli_stdout_finish(main_dispatch(argc, argv), stdout_closed);
}
