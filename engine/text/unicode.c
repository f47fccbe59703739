/* engine/text/unicode.c: see unicode.h. */
#include "unicode.h"

uint8_t unicode_class(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return UCAT_UNDEF;
    /* Binary search for the last range starting at or before cp (entry 0 starts at 0). */
    size_t lo = 0, hi = unicode_ranges_n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((unicode_ranges[mid] >> 8) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (uint8_t)(unicode_ranges[lo] & 0xff);
}

size_t unicode_len_utf8(unsigned char c)
{
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

static int unicode_is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

uint32_t unicode_decode(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    *adv = 1;
    if (c < 0x80)
        return c;
    if (!(c & 0x40))
        return UNICODE_REPLACEMENT;
    if (!(c & 0x20)) {
        if (n < 2 || !unicode_is_cont(s[1]))
            return UNICODE_REPLACEMENT;
        *adv = 2;
        return ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if (!(c & 0x10)) {
        if (n < 3 || !unicode_is_cont(s[1]) || !unicode_is_cont(s[2]))
            return UNICODE_REPLACEMENT;
        *adv = 3;
        return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    if (!(c & 0x08)) {
        if (n < 4 || !unicode_is_cont(s[1]) || !unicode_is_cont(s[2]) || !unicode_is_cont(s[3]))
            return UNICODE_REPLACEMENT;
        uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
                      ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        /* llama.cpp throws on re-encoding these; we keep going with the replacement. */
        if (cp > 0x10FFFF)
            return UNICODE_REPLACEMENT;
        *adv = 4;
        return cp;
    }
    return UNICODE_REPLACEMENT;
}

size_t unicode_encode(uint32_t cp, unsigned char out[4])
{
    if (cp <= 0x7f) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp <= 0x7ff) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp <= 0xffff) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | ((cp >> 18) & 0x07));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 take
 * U+0100.. in byte order. */
static int unicode_byte_is_printable(int b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

uint32_t unicode_byte_to_cp(uint8_t b)
{
    if (unicode_byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        n += !unicode_byte_is_printable(i);
    return 256 + n;
}

int unicode_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return unicode_byte_is_printable((int)cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        if (unicode_byte_is_printable(b))
            continue;
        if (256 + n == cp)
            return b;
        n++;
    }
    return -1;
}
