/* tui/main.c: dispatches `moescope COMMAND ...` to the command's own file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

#ifndef MOESCOPE_DATADIR
#define MOESCOPE_DATADIR "/usr/local/share/moescope"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    { "info", cmd_info, "print a model's architecture, shape and size" },
    { "bench", cmd_bench, "measure speed against this machine's bandwidth floor" },
    { "run", cmd_run, "generate from a prompt, streaming text (and a trace)" },
    { "export", cmd_export, "write a saved session as md, csv, ndjson or html" },
};

const char *default_model_path(void)
{
    static char path[4096];
    const char *env = getenv("MOESCOPE_MODEL");
    if (env && *env)
        return env;
    /* Next to the binary in a source tree (make run), else the installed copy. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(path, sizeof path, "%s/build/default.gguf", exe) < (int)sizeof path &&
                access(path, R_OK) == 0)
                return path;
        }
    }
    snprintf(path, sizeof path, "%s/default.gguf", MOESCOPE_DATADIR);
    return path;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: moescope [-m MODEL] [options]   open the full-screen app\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "       moescope %-6s ...                %s\n", commands[i].name,
                commands[i].what);
    fprintf(out, "See moescope(1) for every option.\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
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
