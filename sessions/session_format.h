/* sessions/session_format.h: what session_save.c and session_load.c share: the column
 * encodings of the file format (described in full in docs/session-format.md).
 *
 * Per (record, layer) columns are little-endian binary arrays in base64 (RFC 4648, with
 * padding): that is what keeps a (token, layer) with k = 8 under 64 bytes. Gate weights are
 * IEEE binary16: relative error at most 2^-11, range to 65504 (DeepSeek-style scaled
 * weights fit), and float16 -> float -> float16 is exact, so a re-save is byte-identical. */
#ifndef MOESCOPE_SESSION_FORMAT_H
#define MOESCOPE_SESSION_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Base64 length of n bytes (with padding). */
static inline size_t session_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes session_b64_len(n) characters (no NUL). */
void session_b64_encode(const unsigned char *src, size_t n, char *dst);
/* Decodes src[0..n) into dst (room for n / 4 * 3 bytes). Returns the byte count, or -1
 * when src is not canonical padded base64. */
long session_b64_decode(const char *src, size_t n, unsigned char *dst);

/* IEEE binary16 <-> binary32, round to nearest even, NaN payloads kept. */
uint16_t session_f32_to_f16(float f);
float session_f16_to_f32(uint16_t h);

#endif
