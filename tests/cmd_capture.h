/* tests/cmd_capture.h: running a subcommand as main() would (cli/commands.h), with its
 * stdout and stderr in files, and reading a file back whole; for the tests of run and
 * analyze. */
#ifndef MOESCOPE_CMD_CAPTURE_H
#define MOESCOPE_CMD_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

/* Runs cmd(argv) with stdout into out_path and stderr into err_path; its exit status. */
static inline int cmd_captured(int (*cmd)(int, char **), char **argv, int argc, const char *out_path,
                        const char *err_path)
{
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, STDOUT_FILENO);
    dup2(fe, STDERR_FILENO);
    close(fo);
    close(fe);
    int rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    return rc;
}

static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* cmd_captured into files named NAME.out and NAME.err in the test's folder, read back into
 * *out and *err (malloc'd; NULL when unreadable). */
static inline int cmd_captured_text(int (*cmd)(int, char **), char **argv, int argc,
                                    const char *name, char **out, char **err)
{
    char o[4096], e[4096];
    snprintf(o, sizeof o, "%s/%s.out", test_tmp_dir(), name);
    snprintf(e, sizeof e, "%s/%s.err", test_tmp_dir(), name);
    int rc = cmd_captured(cmd, argv, argc, o, e);
    *out = slurp(o, NULL);
    *err = slurp(e, NULL);
    return rc;
}

#endif
