/* tests/fuzz/fuzz_session.c: libFuzzer entry for the session loader.
 *
 * Any bytes either load into a session, which must then serialise and load again to the
 * same bytes (save -> load -> save is the identity on what the loader accepts once it has
 * been written by us), or fail with a one-line message naming the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 22))
        return 0;
    struct session s;
    char err[1024];
    if (session_load_buffer(&s, (const char *)data, size, "fuzz.json", err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.json: ", 11) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    char *j1 = NULL, *j2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (session_to_json(&s, &j1, &n1, err, sizeof err) == 0) {
        struct session t;
        if (session_load_buffer(&t, j1, n1, "again.json", err, sizeof err) != 0)
            abort(); /* we wrote something we cannot read */
        if (session_to_json(&t, &j2, &n2, err, sizeof err) != 0 || n1 != n2 ||
            memcmp(j1, j2, n1) != 0)
            abort(); /* not a fixed point */
        session_free(&t);
    }
    free(j1);
    free(j2);
    session_free(&s);
    return 0;
}
