/* remote/routed.h: the routed expert ids that vLLM and SGLang return, decoded.
 *
 * vLLM (server flag --enable-return-routed-experts): `routed_experts` per choice and
 * `prompt_routed_experts`, each a base64 NumPy .npy file of shape [tokens, moe_layers,
 * top_k]; the dtype is read from the file's header (u1/i1/u2/i2/u4/i4/u8/i8, either byte
 * order, C or Fortran order). SGLang (--enable-return-routed-experts and the request field
 * return_routed_experts): base64 little-endian int32, flattened [tokens, layers, top_k], with
 * no shape in it: the caller names layers and top_k.
 *
 * Limits: a header over 64 KiB, more than 3 dimensions (or fewer), a dimension of 0 layers or
 * k, k over TRACE_MAX_K, or an id outside [0, 65535] is refused with one line naming what is
 * wrong. Nothing is read beyond the given bytes. */
#ifndef MOESCOPE_ROUTED_H
#define MOESCOPE_ROUTED_H

#include <stddef.h>
#include <stdint.h>

struct routed_experts {
    int n_tokens, n_layers, top_k;
    uint16_t *ids;             /* (n_tokens * n_layers * top_k), token-major, owned */
};

void routed_free(struct routed_experts *r);
/* A .npy file in memory. Returns 0, or -1 with err set. */
int routed_from_npy(const unsigned char *buf, size_t len, struct routed_experts *out,
                    char *err, size_t errlen);
/* Base64 text (not NUL-terminated) of a .npy file (vLLM) or of raw int32 (SGLang; layers and
 * top_k must be given). Returns 0, or -1 with err set ("what" names the field). */
int routed_from_b64_npy(const char *b64, size_t n, struct routed_experts *out, const char *what,
                        char *err, size_t errlen);
int routed_from_b64_int32(const char *b64, size_t n, int n_layers, int top_k,
                          struct routed_experts *out, const char *what, char *err,
                          size_t errlen);
/* Appends b's tokens to a (same layers and k; a empty takes b's shape). 0, or -1. */
int routed_append(struct routed_experts *a, const struct routed_experts *b, char *err,
                  size_t errlen);

#endif
