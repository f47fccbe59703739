/* cli/stdout_check.c: a command whose output could not be written (a full disk,
 * >/dev/full, a closed stdout) exits 1 with one line saying so, whatever the command itself
 * returned: scripts must never take a lost output for a success (commands.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* A closed stdin, stdout or stderr (`>&-`) would be handed to the next open(), and a model
 * or a temporary file would then receive the output. /dev/null holds the place instead,
 * opened read-only for stdout so that writing to it still fails (EBADF) and is reported. */
bool cli_stdout_hold(void)
{
    bool stdout_closed = false;
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            stdout_closed |= fd == STDOUT_FILENO;
            int nfd = open("/dev/null", fd == STDERR_FILENO ? O_WRONLY : O_RDONLY);
            if (nfd >= 0 && nfd != fd) {
                dup2(nfd, fd);
                close(nfd);
            }
        }
    return stdout_closed;
}

static int stdout_errno; /* the first failed write's reason */

void cli_stdout_failed(void)
{
    if (!stdout_errno)
        stdout_errno = errno ? errno : EIO;
}

/* The command's status, or 1 with one line when stdout did not take all it was given. */
int cli_stdout_finish(int rc, bool closed)
{
    bool failed = fflush(stdout) != 0 || ferror(stdout);
    int e = stdout_errno ? stdout_errno : errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        e = errno;
    }
    if (!failed)
        return rc;
    fprintf(stderr, "moescope: cannot write the output: %s\n",
            closed ? "standard output is closed" : strerror(e ? e : EIO));
    return 1;
}

