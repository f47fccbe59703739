/* engine/text_escape.h: model text made safe to show: shown, never obeyed.
 *
 * A model can emit bytes that a terminal would act on (ESC sequences, BEL, carriage return),
 * characters that reorder or hide text (bidi overrides and isolates, zero-width characters)
 * and bytes that are not UTF-8 at all. text_escape() turns each into a visible escape and
 * copies everything else unchanged:
 *   ESC                                  -> \e
 *   other C0 controls (not \n, \t), DEL  -> \xNN      e.g. \x07, \r -> \x0D, \x7F
 *   C1 controls U+0080..U+009F           -> <U+0085>
 *   bidi U+061C, U+200E..U+200F, U+202A..U+202E, U+2066..U+2069          -> <U+202E>
 *   invisible U+00AD, U+180E, U+200B..U+200D, U+2028..U+2029, U+2060..U+2064,
 *             U+FEFF, U+FFF9..U+FFFB, tags U+E0000..U+E007F              -> <U+200B>
 *   invalid UTF-8 (bad lead or continuation, overlong, surrogate, > U+10FFFF, truncated),
 *   one byte at a time                   -> \xNN      e.g. \xC0
 * Newline and tab are kept. One exception: a zero-width joiner (U+200D) between two
 * pictographs (emoji ranges) is kept, so ZWJ emoji sequences still draw as one glyph.
 * A backslash in the text stays a single backslash (the output is for eyes, not parsers).
 *
 * The input is a complete chunk: feed it what the streaming detokenizer released, which
 * holds back an incomplete UTF-8 tail. */
#ifndef MOESCOPE_TEXT_ESCAPE_H
#define MOESCOPE_TEXT_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n), with its code point in *cp,
 * or 0 when s does not start one (n == 0 included). Overlong forms, surrogates and code
 * points above U+10FFFF are not well-formed. */
int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Whether a code point is shown as an escape rather than itself (the table above; the
 * ZWJ exception needs context and is made by text_escape). */
bool text_cp_is_unsafe(uint32_t cp);

/* Writes the visible form of src[0..n) into dst, NUL-terminated when dstlen > 0, never
 * splitting an escape or a character. Returns the length the whole output needs (without
 * the NUL), like snprintf: the output was complete when the result is < dstlen. */
size_t text_escape(const char *src, size_t n, char *dst, size_t dstlen);
/* The same for words a file supplies inside a one-line message (a model name, a key's
 * value in an error): newline and tab become \x0A and \x09 too. */
size_t text_escape_line(const char *src, size_t n, char *dst, size_t dstlen);

#endif
