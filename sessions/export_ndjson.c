/* sessions/export_ndjson.c: the records as `moescope run --trace` writes them, one JSON
 * object per line (trace_json_line in engine/trace.c defines the line). */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int session_export_ndjson(const struct session *s, FILE *out, char *err, size_t errlen)
{
    size_t cap = 4096;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->log.n; i++) {
        size_t n = trace_json_line(&s->log, i, buf, cap);
        if (n >= cap) {
            cap = n + 1;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                snprintf(err, errlen, "out of memory for a %zu-byte line", n);
                return -1;
            }
            buf = p;
            n = trace_json_line(&s->log, i, buf, cap);
        }
        fwrite(buf, 1, n, out);
        fputc('\n', out);
    }
    free(buf);
    if (ferror(out)) {
        snprintf(err, errlen, "write: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
