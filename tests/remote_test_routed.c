/* tests/remote_test_routed.c: routed expert ids as vLLM and SGLang send them (remote/routed.c):
 * .npy blobs of every integer dtype, both byte orders, C and Fortran order, made here from
 * the NumPy format's documented layout; SGLang's flattened int32; and what is refused. No
 * GPU server was available to record real replies: these are written from the formats. */
#include <stdlib.h>

#include "routed.h"
#include "test.h"

enum { T = 3, L = 4, K = 2 };

static int want_id(int t, int l, int k)
{
    return (11 * t + 5 * l + 3 * k) % 200;
}

/* A .npy v1 file of shape [T, L, K] with dtype descr (e.g. "<i4"). */
static size_t make_npy(unsigned char *buf, const char *descr, bool fortran)
{
    char header[128];
    int hl = snprintf(header, sizeof header,
                      "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d, %d), }", descr,
                      fortran ? "True" : "False", T, L, K);
    while ((10 + hl + 1) % 64)
        header[hl++] = ' ';
    header[hl++] = '\n';
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hl;
    buf[9] = 0;
    memcpy(buf + 10, header, (size_t)hl);
    size_t at = 10 + (size_t)hl;
    int size = descr[2] - '0';
    bool big = descr[0] == '>';
    for (int i = 0; i < T * L * K; i++) {
        /* element i in storage order -> its (t, l, k) */
        int t, l, k;
        if (fortran) {
            t = i % T;
            l = i / T % L;
            k = i / (T * L);
        } else {
            t = i / (L * K);
            l = i / K % L;
            k = i % K;
        }
        unsigned long long v = (unsigned long long)want_id(t, l, k);
        for (int b = 0; b < size; b++)
            buf[at + (size_t)(big ? size - 1 - b : b)] = (unsigned char)(v >> (8 * b));
        at += (size_t)size;
    }
    return at;
}

static void check_ids(const struct routed_experts *r, const char *what)
{
    CHECK_MSG(r->n_tokens == T && r->n_layers == L && r->top_k == K, "%s: shape [%d, %d, %d]",
              what, r->n_tokens, r->n_layers, r->top_k);
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++)
            for (int k = 0; k < K; k++)
                CHECK_MSG(r->ids[(t * L + l) * K + k] == want_id(t, l, k),
                          "%s: [%d, %d, %d] = %d, want %d", what, t, l, k,
                          r->ids[(t * L + l) * K + k], want_id(t, l, k));
}

TEST(routed_npy_every_integer_dtype_and_order)
{
    static const char *const descrs[] = { "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8",
                                          "<i8", ">u2", ">i4", ">i8", "=i4" };
    unsigned char buf[512];
    for (size_t d = 0; d < sizeof descrs / sizeof descrs[0]; d++)
        for (int f = 0; f < 2; f++) {
            if (descrs[d][2] == '1' && want_id(2, 3, 1) > 127 && descrs[d][1] == 'i')
                continue; /* ids over 127 do not fit an int8 */
            size_t n = make_npy(buf, descrs[d], f);
            struct routed_experts r;
            char err[256] = "";
            char what[64];
            snprintf(what, sizeof what, "%s %s", descrs[d], f ? "fortran" : "C");
            CHECK_MSG(routed_from_npy(buf, n, &r, err, sizeof err) == 0, "%s: %s", what, err);
            check_ids(&r, what);
            routed_free(&r);
        }
}

static char *b64(const unsigned char *src, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)src[i] << 16 | (i + 1 < n ? (unsigned)src[i + 1] << 8 : 0) |
                     (i + 2 < n ? src[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

TEST(routed_vllm_base64_npy_and_sglang_int32)
{
    unsigned char buf[512];
    size_t n = make_npy(buf, "<i4", false);
    char *s = b64(buf, n);
    struct routed_experts r;
    char err[256] = "";
    CHECK_MSG(routed_from_b64_npy(s, strlen(s), &r, "routed_experts", err, sizeof err) == 0, "%s",
              err);
    check_ids(&r, "vllm base64");
    routed_free(&r);
    free(s);

    /* SGLang: the raw int32 of the same ids, flattened [T, L, K], shape given by the caller. */
    unsigned char raw[T * L * K * 4];
    for (int i = 0; i < T * L * K; i++) {
        int v = want_id(i / (L * K), i / K % L, i % K);
        for (int b = 0; b < 4; b++)
            raw[4 * i + b] = (unsigned char)(v >> (8 * b));
    }
    s = b64(raw, sizeof raw);
    CHECK_MSG(routed_from_b64_int32(s, strlen(s), L, K, &r, "sgl_ext.routed_experts", err,
                                    sizeof err) == 0, "%s", err);
    check_ids(&r, "sglang int32");
    routed_free(&r);
    /* The wrong shape is named, not guessed. */
    CHECK(routed_from_b64_int32(s, strlen(s), 5, K, &r, "sgl_ext.routed_experts", err,
                                sizeof err) == -1);
    CHECK_MSG(strstr(err, "not whole tokens of 5 layers x 2 experts") != NULL, "%s", err);
    free(s);
}

TEST(routed_refuses_bad_blobs_with_one_line)
{
    unsigned char buf[512];
    size_t n = make_npy(buf, "<i4", false);
    struct routed_experts r;
    char err[256];
    /* Cut data: the shape needs more bytes than there are. */
    CHECK(routed_from_npy(buf, n - 3, &r, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "needs 96") != NULL, "%s", err);
    /* Not a .npy at all. */
    CHECK(routed_from_npy((const unsigned char *)"hello world", 11, &r, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "magic") != NULL, "%s", err);
    /* A float dtype. */
    unsigned char f[512];
    memcpy(f, buf, n);
    char *d = memmem(f, n, "<i4", 3);
    CHECK(d != NULL);
    if (d) {
        d[1] = 'f';
        CHECK(routed_from_npy(f, n, &r, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "not an integer type") != NULL, "%s", err);
    }
    /* A header length past the end. */
    memcpy(f, buf, n);
    f[8] = 0xff;
    f[9] = 0x7f;
    CHECK(routed_from_npy(f, n, &r, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "does not fit") != NULL, "%s", err);
    /* A negative id. */
    n = make_npy(buf, "<i2", false);
    buf[n - 1] = 0xff;
    buf[n - 2] = 0xff;
    CHECK(routed_from_npy(buf, n, &r, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "expert id -1 at [2, 3, 1]") != NULL, "%s", err);
    /* Bad base64. */
    CHECK(routed_from_b64_npy("abc", 3, &r, "routed_experts", err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "routed_experts: not valid base64") != NULL, "%s", err);
}

TEST(routed_append_joins_chunks_of_one_shape)
{
    unsigned char buf[512];
    size_t n = make_npy(buf, "<i4", false);
    struct routed_experts a = { 0 }, b;
    char err[256];
    CHECK(routed_from_npy(buf, n, &b, err, sizeof err) == 0);
    CHECK(routed_append(&a, &b, err, sizeof err) == 0);
    CHECK(routed_append(&a, &b, err, sizeof err) == 0);
    CHECK_INT_EQ(a.n_tokens, 2 * T);
    CHECK_INT_EQ(a.ids[(T * L + 1) * K + 1], want_id(0, 1, 1));
    struct routed_experts other = { .n_tokens = 1, .n_layers = L + 1, .top_k = K,
                                    .ids = b.ids };
    CHECK(routed_append(&a, &other, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "change shape") != NULL, "%s", err);
    routed_free(&a);
    routed_free(&b);
}
