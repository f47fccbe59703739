/* engine/text/unicode.h: the few Unicode facts the tokenizers need, as llama.cpp's unicode.cpp
 * has them: UTF-8 decoding with its error rule, the general-category class of a codepoint
 * (tools/gen_unicode.py builds the table), and GPT-2's byte <-> codepoint mapping. */
#ifndef MOESCOPE_UNICODE_H
#define MOESCOPE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The first letter of a codepoint's general category, plus a whitespace bit. 0 means "no
 * codepoint" (past the end of a chunk); UCAT_UNDEF is a value past U+10FFFF. */
enum ucat {
    UCAT_NONE = 0,
    UCAT_N = 1, /* \p{N} */
    UCAT_L = 2, /* \p{L} */
    UCAT_Z = 3, /* \p{Z} */
    UCAT_M = 4, /* \p{M} */
    UCAT_P = 5, /* \p{P} */
    UCAT_S = 6, /* \p{S} */
    UCAT_C = 7, /* \p{C}, which includes unassigned codepoints */
    UCAT_UNDEF = 8,
    UCAT_MASK = 0x0f,
    UCAT_WHITESPACE = 0x80 /* the Unicode White_Space property */
};

enum { UNICODE_REPLACEMENT = 0xFFFD };

/* unicode_data.c (generated): first codepoint << 8 | class, sorted by codepoint. */
extern const uint32_t unicode_ranges[];
extern const size_t unicode_ranges_n;

/* The class byte of cp: an enum ucat value, | UCAT_WHITESPACE. */
uint8_t unicode_class(uint32_t cp);

/* Length of a UTF-8 sequence from its first byte alone (1 for stray continuation bytes),
 * as llama.cpp's unicode_len_utf8. */
size_t unicode_len_utf8(unsigned char c);

/* Decodes one codepoint at s[0..n), n > 0. An invalid sequence gives U+FFFD and advances one
 * byte, as llama.cpp does; like llama.cpp it accepts overlong forms and surrogates (their
 * bytes survive re-encoding unchanged). Values past U+10FFFF are treated as invalid. */
uint32_t unicode_decode(const unsigned char *s, size_t n, size_t *adv);

/* Encodes cp (<= 0x10FFFF) into out; returns the length (1..4). */
size_t unicode_encode(uint32_t cp, unsigned char out[4]);

/* GPT-2 byte-level BPE: the codepoint that stands for a byte, and back (-1 when cp stands
 * for no byte). */
uint32_t unicode_byte_to_cp(uint8_t b);
int unicode_cp_to_byte(uint32_t cp);

#endif
