/* engine/file_open.h: opening a file that is about to be read, without hanging on it.
 *
 * open() of a named pipe waits for a writer, and a read of a FIFO, socket or terminal
 * waits for data: given as a model, a prompt file, a theme or a session, any of them would
 * freeze the program past Ctrl-C. So every file moescope reads is opened with O_NONBLOCK
 * (which never waits), checked with fstat to be a regular file, and only then read, with
 * O_NONBLOCK taken off again. */
#ifndef MOESCOPE_FILE_OPEN_H
#define MOESCOPE_FILE_OPEN_H

#include <stddef.h>
#include <sys/stat.h>

/* A read-only, close-on-exec descriptor of the regular file at path, its stat in *st (when
 * st is not NULL); or -1 with why set to what is wrong, without the path ("not a regular
 * file (a named pipe)", "No such file or directory"), and errno kept. */
int file_open_regular(const char *path, struct stat *st, char *why, size_t whylen);

#endif
