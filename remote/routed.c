/* remote/routed.c: routed expert ids from .npy blobs and raw int32 (see routed.h). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routed.h"
#include "session_format.h"
#include "trace.h"

enum { NPY_MAX_HEADER = 64 << 10 };

void routed_free(struct routed_experts *r)
{
    free(r->ids);
    memset(r, 0, sizeof *r);
}

/* The value text after 'key': in a .npy header dict, or NULL. */
static const char *npy_find(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *k = strstr(h, pat);
    if (!k)
        return NULL;
    k += strlen(pat);
    while (*k == ' ')
        k++;
    if (*k != ':')
        return NULL;
    k++;
    while (*k == ' ')
        k++;
    return k;
}

struct npy_dtype {
    int size;                  /* bytes per element: 1, 2, 4 or 8 */
    bool is_signed, big_endian;
};

static int npy_parse_descr(const char *v, struct npy_dtype *t)
{
    if (!v || (*v != '\'' && *v != '"'))
        return -1;
    char q = *v++;
    char order = *v++;
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return -1;
    char kind = *v++;
    if (kind != 'i' && kind != 'u')
        return -1;
    int size = *v++ - '0';
    if ((size != 1 && size != 2 && size != 4 && size != 8) || *v != q)
        return -1;
    t->size = size;
    t->is_signed = kind == 'i';
    t->big_endian = order == '>';
    return 0;
}

/* shape: "(a, b, c)" with exactly three dimensions. */
static int npy_parse_shape(const char *v, long dims[3])
{
    if (!v || *v != '(')
        return -1;
    v++;
    int n = 0;
    for (;;) {
        while (*v == ' ')
            v++;
        if (*v == ')')
            break;
        if (!isdigit((unsigned char)*v) || n == 3)
            return -1;
        char *end;
        long d = strtol(v, &end, 10);
        if (d < 0 || d > (1L << 30))
            return -1;
        dims[n++] = d;
        v = end;
        while (*v == ' ')
            v++;
        if (*v == ',')
            v++;
        else if (*v != ')')
            return -1;
    }
    return n == 3 ? 0 : -1;
}

static int64_t npy_element(const unsigned char *p, const struct npy_dtype *t)
{
    uint64_t u = 0;
    for (int i = 0; i < t->size; i++)
        u |= (uint64_t)p[t->big_endian ? i : t->size - 1 - i] << (8 * (t->size - 1 - i));
    if (t->is_signed && t->size < 8 && (u >> (8 * t->size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * t->size);
    return t->is_signed ? (int64_t)u : (u > INT64_MAX ? -1 : (int64_t)u);
}

static int routed_check_shape(long t, long l, long k, char *err, size_t errlen)
{
    if (l < 1 || k < 1 || k > TRACE_MAX_K) {
        snprintf(err, errlen, "shape [%ld, %ld, %ld]: needs at least 1 layer and 1 to %d "
                 "experts per token", t, l, k, TRACE_MAX_K);
        return -1;
    }
    if (t > 0 && (size_t)t * (size_t)l * (size_t)k > ((size_t)1 << 31)) {
        snprintf(err, errlen, "shape [%ld, %ld, %ld]: too large", t, l, k);
        return -1;
    }
    return 0;
}

int routed_from_npy(const unsigned char *buf, size_t len, struct routed_experts *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        snprintf(err, errlen, "not a .npy file (no \\x93NUMPY magic)");
        return -1;
    }
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            snprintf(err, errlen, ".npy header cut short");
            return -1;
        }
        hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        snprintf(err, errlen, ".npy version %d is not known", major);
        return -1;
    }
    if (hlen > NPY_MAX_HEADER || hstart + hlen > len) {
        snprintf(err, errlen, ".npy header of %zu bytes does not fit in the %zu bytes given",
                 hlen, len);
        return -1;
    }
    char *h = malloc(hlen + 1);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(h, buf + hstart, hlen);
    h[hlen] = 0;
    struct npy_dtype t;
    long dims[3];
    const char *fo = npy_find(h, "fortran_order");
    bool fortran = fo && !strncmp(fo, "True", 4);
    int rc = -1;
    if (npy_parse_descr(npy_find(h, "descr"), &t) != 0)
        snprintf(err, errlen, ".npy dtype is not an integer type (i1..i8, u1..u8)");
    else if (!fo || (strncmp(fo, "True", 4) && strncmp(fo, "False", 5)))
        snprintf(err, errlen, ".npy header has no fortran_order");
    else if (npy_parse_shape(npy_find(h, "shape"), dims) != 0)
        snprintf(err, errlen, ".npy shape is not [tokens, layers, top_k]");
    else
        rc = routed_check_shape(dims[0], dims[1], dims[2], err, errlen);
    free(h);
    if (rc != 0)
        return -1;
    size_t n = (size_t)dims[0] * (size_t)dims[1] * (size_t)dims[2];
    const unsigned char *data = buf + hstart + hlen;
    size_t have = len - hstart - hlen;
    if (have / (size_t)t.size < n) {
        snprintf(err, errlen, ".npy data holds %zu bytes, the shape [%ld, %ld, %ld] needs %zu",
                 have, dims[0], dims[1], dims[2], n * (size_t)t.size);
        return -1;
    }
    out->ids = malloc((n ? n : 1) * sizeof *out->ids);
    if (!out->ids) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (long ti = 0; ti < dims[0]; ti++)
        for (long li = 0; li < dims[1]; li++)
            for (long ki = 0; ki < dims[2]; ki++) {
                size_t src = fortran ? (size_t)ti + (size_t)dims[0] * ((size_t)li +
                                                                       (size_t)dims[1] * (size_t)ki)
                                     : ((size_t)ti * (size_t)dims[1] + (size_t)li) *
                                           (size_t)dims[2] + (size_t)ki;
                int64_t v = npy_element(data + src * (size_t)t.size, &t);
                if (v < 0 || v > 65535) {
                    snprintf(err, errlen, "expert id %lld at [%ld, %ld, %ld] is out of range",
                             (long long)v, ti, li, ki);
                    routed_free(out);
                    return -1;
                }
                out->ids[((size_t)ti * (size_t)dims[1] + (size_t)li) * (size_t)dims[2] +
                         (size_t)ki] = (uint16_t)v;
            }
    out->n_tokens = (int)dims[0];
    out->n_layers = (int)dims[1];
    out->top_k = (int)dims[2];
    return 0;
}

/* Base64 into a malloc'd buffer. */
static unsigned char *routed_b64(const char *b64, size_t n, size_t *len, const char *what,
                                 char *err, size_t errlen)
{
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    long got = buf ? session_b64_decode(b64, n, buf) : -1;
    if (got < 0) {
        snprintf(err, errlen, "%s: %s", what, buf ? "not valid base64" : "out of memory");
        free(buf);
        return NULL;
    }
    *len = (size_t)got;
    return buf;
}

int routed_from_b64_npy(const char *b64, size_t n, struct routed_experts *out, const char *what,
                        char *err, size_t errlen)
{
    size_t len;
    memset(out, 0, sizeof *out);
    unsigned char *buf = routed_b64(b64, n, &len, what, err, errlen);
    if (!buf)
        return -1;
    char why[256];
    int rc = routed_from_npy(buf, len, out, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", what, why);
    free(buf);
    return rc;
}

int routed_from_b64_int32(const char *b64, size_t n, int n_layers, int top_k,
                          struct routed_experts *out, const char *what, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    char why[200];
    if (routed_check_shape(0, n_layers, top_k, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", what, why);
        return -1;
    }
    size_t len;
    unsigned char *buf = routed_b64(b64, n, &len, what, err, errlen);
    if (!buf)
        return -1;
    size_t per = (size_t)n_layers * (size_t)top_k * 4;
    if (len % per != 0) {
        snprintf(err, errlen, "%s: %zu bytes are not whole tokens of %d layers x %d experts "
                 "(int32)", what, len, n_layers, top_k);
        free(buf);
        return -1;
    }
    size_t count = len / 4;
    out->ids = malloc((count ? count : 1) * sizeof *out->ids);
    if (!out->ids) {
        snprintf(err, errlen, "%s: out of memory", what);
        free(buf);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = buf + 4 * i;
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        if (v < 0 || v > 65535) {
            snprintf(err, errlen, "%s: expert id %d at index %zu is out of range", what, v, i);
            free(buf);
            routed_free(out);
            return -1;
        }
        out->ids[i] = (uint16_t)v;
    }
    free(buf);
    out->n_tokens = (int)(len / per);
    out->n_layers = n_layers;
    out->top_k = top_k;
    return 0;
}

int routed_append(struct routed_experts *a, const struct routed_experts *b, char *err,
                  size_t errlen)
{
    if (a->n_tokens == 0 && !a->ids) {
        a->n_layers = b->n_layers;
        a->top_k = b->top_k;
    }
    if (a->n_layers != b->n_layers || a->top_k != b->top_k) {
        snprintf(err, errlen, "routed experts change shape mid-stream ([%d, %d] then [%d, %d])",
                 a->n_layers, a->top_k, b->n_layers, b->top_k);
        return -1;
    }
    size_t per = (size_t)b->n_layers * (size_t)b->top_k;
    size_t n = (size_t)(a->n_tokens + b->n_tokens) * per;
    uint16_t *ids = realloc(a->ids, (n ? n : 1) * sizeof *ids);
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(ids + (size_t)a->n_tokens * per, b->ids, (size_t)b->n_tokens * per * sizeof *ids);
    a->ids = ids;
    a->n_tokens += b->n_tokens;
    return 0;
}
