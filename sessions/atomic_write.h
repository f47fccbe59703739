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
 * file keeps the old file's permission bits, or gets 0666 & ~umask when it is new. */
#ifndef MOESCOPE_ATOMIC_WRITE_H
#define MOESCOPE_ATOMIC_WRITE_H

#include <stddef.h>

/* Returns 0 to let the rename happen, or -1 with err set to refuse it. */
typedef int (*atomic_guard_fn)(const char *path, void *ctx, char *err, size_t errlen);

int atomic_write_file(const char *path, const void *data, size_t len, atomic_guard_fn guard,
                      void *ctx, char *err, size_t errlen);

#endif
