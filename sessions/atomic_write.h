/* sessions/atomic_write.h: replace a file so that a crash at any moment leaves either the
 * old contents or the new, never a mix.
 *
 * The bytes go to a temporary file in the same folder (".NAME.tmp-PID-XXXXXX"), which is
 * fsync'd, renamed over NAME, and then the folder itself is fsync'd so the rename survives a
 * power cut. On any failure (disk full, no permission, a file size limit) the temporary file
 * is removed, NAME is untouched and err says why. Temporary files left by a process that
 * was killed mid-write are removed by the next write to the same NAME.
 *
 * A guard, when given, is called just before the rename (after the data is safe on disk)
 * and may refuse it: that is how a save avoids replacing a different session's file. The
 * file keeps the old file's permission bits, or gets 0666 & ~umask when it is new.
 *
 * One rule for every file moescope writes, by what is at NAME:
 *   - nothing, or a regular file: replaced atomically as above;
 *   - a symbolic link to a regular file: the file it points to is replaced (the temporary
 *     file goes beside the target), so the link stays and points at the new contents;
 *   - a character device (/dev/null, /dev/stdout on a terminal): written in place, never
 *     renamed over (as root a rename would replace the device node itself);
 *   - a folder, a named pipe, a socket, a block device, or a link to a missing file:
 *     refused with one line, nothing written.
 * A file size limit (ulimit -f) fails the write with EFBIG (main() ignores SIGXFSZ): it is
 * reported like a full disk and the temporary file removed. */
#ifndef MOESCOPE_ATOMIC_WRITE_H
#define MOESCOPE_ATOMIC_WRITE_H

#include <stddef.h>

/* Returns 0 to let the rename happen, or -1 with err set to refuse it. */
typedef int (*atomic_guard_fn)(const char *path, void *ctx, char *err, size_t errlen);

int atomic_write_file(const char *path, const void *data, size_t len, atomic_guard_fn guard,
                      void *ctx, char *err, size_t errlen);

/* Checks before any work is done that path could be written by atomic_write_file(): what
 * is there is allowed by the rule above and its folder exists and is writable. 0, or -1
 * with err set (one line naming path). */
int atomic_write_check(const char *path, char *err, size_t errlen);

#endif
