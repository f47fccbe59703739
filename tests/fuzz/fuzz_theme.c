/* tests/fuzz/fuzz_theme.c: libFuzzer entry for the theme parser (no curses needed).
 * Any bytes: the parser must not crash, must keep every role's colours well-formed, and must
 * leave its message buffer terminated. Seeds: tests/fuzz/corpus/fuzz_theme/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "theme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The base the app parses a theme file over; parsed once (doing it per input was 80% of
     * the time, all on the same fixed text). */
    static struct theme dark;
    static bool ready;
    if (!ready) {
        theme_builtin("dark", &dark);
        ready = true;
    }
    struct theme th = dark;
    char msg[512];
    msg[0] = 0;
    /* A copy of exactly `size` bytes, so reading one past the input is caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    int bad = theme_parse(&th, text, size, "fuzz.theme", msg, sizeof msg);
    if (bad < 0 || memchr(msg, 0, sizeof msg) == NULL)
        abort();
    if (bad > 0 && strncmp(msg, "fuzz.theme:", 11) != 0)
        abort();
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        if (th.style[r].fg.kind > THEME_COLOR_RGB || th.style[r].bg.kind > THEME_COLOR_RGB)
            abort();
    struct theme_color c;
    theme_parse_color(text, size, &c);
    free(text);
    return 0;
}
