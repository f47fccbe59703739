/* engine/text/text_escape.c: UTF-8 decoding and visible escapes for model text (text_escape.h). */
#include "text_escape.h"

#include <stdio.h>
#include <string.h>

int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int len;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) { /* C0 and C1 would be overlong */
        len = 2, c = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3, c = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < (size_t)len)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

bool text_cp_is_unsafe(uint32_t cp)
{
    if (cp < 0x20)
        return cp != '\n' && cp != '\t';
    if (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
        return true;
    if (cp < 0xAD)
        return false;
    return cp == 0xAD || cp == 0x061C || cp == 0x180E ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
           (cp >= 0xE0000 && cp <= 0xE007F);
}

/* Emoji-like code points that a ZWJ may join. */
static bool cp_is_pictograph(uint32_t cp)
{
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF) ||
           cp == 0x2640 || cp == 0x2642 || cp == 0x2695 || cp == 0x2696 || cp == 0x2708;
}

/* Appends to dst while everything so far fits, always counts: an escape or a character is
 * written whole or not at all, and nothing after a miss is written. */
struct esc_out {
    char *dst;
    size_t cap, written, len;
    bool full;
};

static void esc_put(struct esc_out *o, const char *s, size_t n)
{
    if (!o->full && o->written + n < o->cap) {
        memcpy(o->dst + o->written, s, n);
        o->written += n;
    } else {
        o->full = true;
    }
    o->len += n;
}

static size_t escape(const char *src, size_t n, char *dst, size_t dstlen, bool one_line)
{
    const unsigned char *s = (const unsigned char *)src;
    struct esc_out o = { dst, dstlen, 0, 0, false };
    uint32_t prev = 0;
    char tmp[16];
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = utf8_decode(s + i, n - i, &cp);
        if (len == 0) {
            snprintf(tmp, sizeof tmp, "\\x%02X", s[i]);
            esc_put(&o, tmp, 4);
            prev = 0;
            i++;
            continue;
        }
        bool unsafe = text_cp_is_unsafe(cp) || (one_line && (cp == '\n' || cp == '\t'));
        if (unsafe && cp == 0x200D && cp_is_pictograph(prev)) {
            uint32_t next;
            if (utf8_decode(s + i + len, n - i - len, &next) && cp_is_pictograph(next))
                unsafe = false;
        }
        if (!unsafe)
            esc_put(&o, src + i, (size_t)len);
        else if (cp == 0x1B)
            esc_put(&o, "\\e", 2);
        else if (cp < 0x80)
            esc_put(&o, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", cp));
        else
            esc_put(&o, tmp, (size_t)snprintf(tmp, sizeof tmp, "<U+%04X>", cp));
        prev = cp;
        i += (size_t)len;
    }
    if (dstlen > 0)
        dst[o.written] = 0;
    return o.len;
}

size_t text_escape(const char *src, size_t n, char *dst, size_t dstlen)
{
    return escape(src, n, dst, dstlen, false);
}

size_t text_escape_line(const char *src, size_t n, char *dst, size_t dstlen)
{
    return escape(src, n, dst, dstlen, true);
}
