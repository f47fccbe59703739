/* tests/test_escape.c: model text made visible, one class of dangerous text at a time. */
#include "test.h"

#include "text_escape.h"

static const char *esc(const char *s, size_t n)
{
    static char out[512];
    size_t need = text_escape(s, n, out, sizeof out);
    CHECK(need < sizeof out);
    CHECK_INT_EQ(strlen(out), need);
    return out;
}
#define ESC(lit) esc(lit, sizeof lit - 1)

TEST(escape_keeps_plain_text_newlines_tabs)
{
    CHECK_STR_EQ(ESC("Once upon a time\n\tthere was"), "Once upon a time\n\tthere was");
    CHECK_STR_EQ(ESC("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"),
                 "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80");
    CHECK_STR_EQ(ESC("a\\b"), "a\\b");
    CHECK_STR_EQ(esc("", 0), "");
}

TEST(escape_c0_esc_del)
{
    CHECK_STR_EQ(ESC("\x1b[2J\x1b]0;pwned\x07"), "\\e[2J\\e]0;pwned\\x07");
    CHECK_STR_EQ(ESC("a\rb\bc\x7f"), "a\\x0Db\\x08c\\x7F");
    CHECK_STR_EQ(esc("x\0y", 3), "x\\x00y");
}

TEST(escape_c1_controls)
{
    /* U+009B is CSI on terminals that honour 8-bit controls; U+0085 is NEL. */
    CHECK_STR_EQ(ESC("a\xc2\x9b" "2Jb\xc2\x85"), "a<U+009B>2Jb<U+0085>");
    /* a bare C1 byte is not UTF-8: escaped as a byte */
    CHECK_STR_EQ(ESC("\x9b"), "\\x9B");
    CHECK_STR_EQ(ESC("\xc2\xa0"), "\xc2\xa0"); /* U+00A0 no-break space is fine */
}

TEST(escape_bidi_controls)
{
    CHECK_STR_EQ(ESC("abc\xe2\x80\xae" "fed"), "abc<U+202E>fed"); /* RLO */
    CHECK_STR_EQ(ESC("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"),
                 "<U+202A><U+202B><U+202C><U+202D>");
    CHECK_STR_EQ(ESC("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"),
                 "<U+2066><U+2067><U+2068><U+2069>");
    CHECK_STR_EQ(ESC("\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f"), "<U+061C><U+200E><U+200F>");
}

TEST(escape_zero_width_and_invisible)
{
    CHECK_STR_EQ(ESC("a\xe2\x80\x8b" "b\xe2\x80\x8c" "c\xe2\x80\x8d" "d"),
                 "a<U+200B>b<U+200C>c<U+200D>d");
    CHECK_STR_EQ(ESC("\xef\xbb\xbfx\xe2\x81\xa0y"), "<U+FEFF>x<U+2060>y");
    CHECK_STR_EQ(ESC("\xc2\xad\xe2\x80\xa8"), "<U+00AD><U+2028>");
    /* Unicode tag characters can smuggle hidden ASCII */
    CHECK_STR_EQ(ESC("\xf3\xa0\x81\x81"), "<U+E0041>");
    /* ...but a ZWJ between two emoji joins them and is kept (man + ZWJ + laptop) */
    CHECK_STR_EQ(ESC("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb"),
                 "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb");
    CHECK_STR_EQ(ESC("\xf0\x9f\x91\xa8\xe2\x80\x8d"), "\xf0\x9f\x91\xa8<U+200D>");
}

TEST(escape_invalid_utf8)
{
    CHECK_STR_EQ(ESC("\xc0\xaf"), "\\xC0\\xAF");               /* overlong '/' */
    CHECK_STR_EQ(ESC("\xe0\x80\xaf"), "\\xE0\\x80\\xAF");      /* overlong, 3 bytes */
    CHECK_STR_EQ(ESC("\xf0\x82\x82\xac"), "\\xF0\\x82\\x82\\xAC"); /* overlong, 4 bytes */
    CHECK_STR_EQ(ESC("\xed\xa0\x80"), "\\xED\\xA0\\x80");      /* surrogate U+D800 */
    CHECK_STR_EQ(ESC("\xf4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80"); /* above U+10FFFF */
    CHECK_STR_EQ(ESC("\xff\xfe"), "\\xFF\\xFE");
    CHECK_STR_EQ(ESC("ab\xe4\xb8"), "ab\\xE4\\xB8");           /* truncated */
    CHECK_STR_EQ(ESC("\xe4x\xb8"), "\\xE4x\\xB8");            /* broken continuation */
}

TEST(escape_decode_boundaries)
{
    uint32_t cp = 0;
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xc2\x80", 2, &cp), 2);
    CHECK_INT_EQ(cp, 0x80);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xe0\xa0\x80", 3, &cp), 3);
    CHECK_INT_EQ(cp, 0x800);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xf0\x90\x80\x80", 4, &cp), 4);
    CHECK_INT_EQ(cp, 0x10000);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
    CHECK_INT_EQ(cp, 0x10FFFF);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xef\xbf\xbf", 3, &cp), 3);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\xe4\xb8\xad", 2, &cp), 0);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"\x80", 1, &cp), 0);
    CHECK_INT_EQ(utf8_decode((const unsigned char *)"a", 0, &cp), 0);
}

TEST(escape_output_never_cut_mid_escape)
{
    char out[8];
    /* "ab\e" is 4 bytes, then "<U+202E>" (8) does not fit in what is left */
    size_t need = text_escape("ab\x1b\xe2\x80\xaez", 7, out, sizeof out);
    CHECK_INT_EQ(need, 2 + 2 + 8 + 1);
    CHECK_STR_EQ(out, "ab\\e");
    /* a multi-byte character is written whole or not at all */
    need = text_escape("abcdef\xe4\xb8\xad", 9, out, sizeof out);
    CHECK_INT_EQ(need, 9);
    CHECK_STR_EQ(out, "abcdef");
    CHECK_INT_EQ(text_escape("abc", 3, NULL, 0), 3);
}

/* Words from a file inside a one-line message: newline and tab are escaped too (the
 * tokenizer fuzzer found a model name whose newline split the error message in two). */
TEST(escape_line_escapes_newline_and_tab)
{
    char out[128];
    CHECK_INT_EQ(text_escape_line("a\nb\tc\x1b", 6, out, sizeof out), 13);
    CHECK_STR_EQ(out, "a\\x0Ab\\x09c\\e");
    CHECK_INT_EQ(text_escape_line("caf\xc3\xa9", 5, out, sizeof out), 5);
    CHECK_STR_EQ(out, "caf\xc3\xa9");
}
