/* engine/gguf/gguf.c: a strict GGUF v2/v3 reader (see gguf.h for the contract).
 *
 * Layout (little-endian), as in ggml's gguf spec:
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },  value: scalar, string (u64 len + bytes) or
 *                                            array (u32 elem type, u64 n, n elements),
 *   n_tensors x { string name, u32 n_dims, n_dims x u64 ne, u32 type, u64 offset },
 *   padding to general.alignment, then the tensor data (offsets relative to its start).
 *
 * The parser walks the buffer with a cursor whose every read is bounds-checked first; sizes
 * from the file are multiplied with __builtin_mul_overflow and compared with the bytes that
 * remain before anything is allocated from them. Arrays of arrays are rejected, as ggml
 * does. Limits: tensor names shorter than 64 bytes (ggml's GGML_MAX_NAME), 1..4 dims. */
#include "gguf.h"

#include "quant.h"
#include "file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { GGUF_MAX_NAME = 64 };

static const char gguf_magic[4] = { 'G', 'G', 'U', 'F' };

/* Bytes of one element of each scalar type; 0 for string and array. */
static const uint8_t vtype_size[GGUF_VT_COUNT] = {
    [GGUF_VT_UINT8] = 1, [GGUF_VT_INT8] = 1, [GGUF_VT_UINT16] = 2, [GGUF_VT_INT16] = 2,
    [GGUF_VT_UINT32] = 4, [GGUF_VT_INT32] = 4, [GGUF_VT_FLOAT32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_STRING] = 0, [GGUF_VT_ARRAY] = 0, [GGUF_VT_UINT64] = 8, [GGUF_VT_INT64] = 8,
    [GGUF_VT_FLOAT64] = 8,
};

static const char *const vtype_names[GGUF_VT_COUNT] = {
    [GGUF_VT_UINT8] = "uint8", [GGUF_VT_INT8] = "int8", [GGUF_VT_UINT16] = "uint16",
    [GGUF_VT_INT16] = "int16", [GGUF_VT_UINT32] = "uint32", [GGUF_VT_INT32] = "int32",
    [GGUF_VT_FLOAT32] = "float32", [GGUF_VT_BOOL] = "bool", [GGUF_VT_STRING] = "string",
    [GGUF_VT_ARRAY] = "array", [GGUF_VT_UINT64] = "uint64", [GGUF_VT_INT64] = "int64",
    [GGUF_VT_FLOAT64] = "float64",
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VT_COUNT ? vtype_names[t] : "unknown";
}

const char *gguf_fmt_u64(uint64_t n, char buf[32])
{
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    int o = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            buf[o++] = ' ';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- messages */

int gguf_fail(const char *path, char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "%s: ", path);
    if (n < 0)
        n = 0;
    if ((size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* A path given by the user, or words from the file, could hold a newline; the contract
     * is one line. */
    for (char *c = err; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return -1;
}

/* A name from the file, made printable and short for a message: bytes outside printable
 * ASCII become \xNN, and long names are cut with "...". */
static const char *gguf_fmt_name(const char *s, uint64_t len, char buf[96])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (uint64_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= 96) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- the cursor */

struct gguf_reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    char *err;
    size_t errlen;
    bool gptoss;  /* general.architecture is Ollama's 'gptoss': type id 4 is its MXFP4 */
};

static uint64_t reader_left(const struct gguf_reader *r)
{
    return r->size - r->pos;
}

/* Fails with "the file ends at byte N inside WHAT (at byte P, need K bytes)". */
static int reader_need(struct gguf_reader *r, uint64_t n, const char *what)
{
    if (n <= reader_left(r))
        return 0;
    char a[32], b[32], c[32];
    return gguf_fail(r->path, r->err, r->errlen,
                     "%s at byte %s needs %s bytes, but the file ends at byte %s", what,
                     gguf_fmt_u64(r->pos, a), gguf_fmt_u64(n, b), gguf_fmt_u64(r->size, c));
}

static int reader_u32(struct gguf_reader *r, uint32_t *out, const char *what)
{
    if (reader_need(r, 4, what))
        return -1;
    const uint8_t *p = r->base + r->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    return 0;
}

static uint64_t gguf_load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int reader_u64(struct gguf_reader *r, uint64_t *out, const char *what)
{
    if (reader_need(r, 8, what))
        return -1;
    *out = gguf_load_u64(r->base + r->pos);
    r->pos += 8;
    return 0;
}

/* A string: u64 length then the bytes. what names it ("key", "tensor name"). */
static int reader_str(struct gguf_reader *r, struct gguf_str *out, const char *what)
{
    uint64_t at = r->pos;
    uint64_t len = 0;
    if (reader_left(r) < 8) { /* the label is made only for the message */
        char lenwhat[64];
        snprintf(lenwhat, sizeof lenwhat, "the length of a %s", what);
        return reader_u64(r, &len, lenwhat);
    }
    (void)reader_u64(r, &len, what);
    if (len > reader_left(r)) {
        char a[32], b[32], c[32];
        return gguf_fail(r->path, r->err, r->errlen,
                         "%s at byte %s is %s bytes long, past the end of the file (%s)",
                         what, gguf_fmt_u64(at, a), gguf_fmt_u64(len, b),
                         gguf_fmt_u64(r->size, c));
    }
    out->ptr = (const char *)r->base + r->pos;
    out->len = len;
    r->pos += len;
    return 0;
}

/* ---------------------------------------------------------------- sorting and lookup */

static int gguf_str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen)
{
    uint64_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* qsort has no context argument in C11; the array being sorted is set before each sort.
 * Parsing is not meant to be re-entrant across threads on the same file anyway, but two
 * threads parsing two files must not collide, hence thread-local. */
static _Thread_local const struct gguf_file *sort_file;

static int kv_order_cmp(const void *a, const void *b)
{
    const struct gguf_kv *x = &sort_file->kv[*(const uint32_t *)a];
    const struct gguf_kv *y = &sort_file->kv[*(const uint32_t *)b];
    int c = gguf_str_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
    /* Ties in file order, so a duplicate is reported at its second appearance. */
    return c ? c : (x->offset > y->offset) - (x->offset < y->offset);
}

static int tensor_order_cmp(const void *a, const void *b)
{
    const struct gguf_tensor *x = &sort_file->tensors[*(const uint32_t *)a];
    const struct gguf_tensor *y = &sort_file->tensors[*(const uint32_t *)b];
    int c = strcmp(x->name, y->name);
    return c ? c : (x->info_offset > y->info_offset) - (x->info_offset < y->info_offset);
}

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key)
{
    if (!f || !key || !f->kv_sorted)
        return NULL;
    uint64_t klen = strlen(key);
    uint64_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const struct gguf_kv *kv = &f->kv[f->kv_sorted[mid]];
        int c = gguf_str_cmp(kv->key.ptr, kv->key.len, key, klen);
        if (c == 0)
            return kv;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint64_t gguf_sort_tensors(struct gguf_file *f)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        f->tensor_sorted[i] = (uint32_t)i;
    sort_file = f;
    qsort(f->tensor_sorted, f->n_tensors, sizeof *f->tensor_sorted, tensor_order_cmp);
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[f->tensor_sorted[i - 1]].name,
                   f->tensors[f->tensor_sorted[i]].name) == 0)
            return i;
    return f->n_tensors;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
    if (!f || !name || !f->tensor_sorted)
        return NULL;
    uint64_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const struct gguf_tensor *t = &f->tensors[f->tensor_sorted[mid]];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---------------------------------------------------------------- the parser */

/* Smallest possible encodings, to bound counts before allocating from them. */
enum {
    GGUF_MIN_KV_BYTES = 8 + 4 + 1,               /* empty key, type, a one-byte value */
    GGUF_MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8, /* 1-byte name, 1 dim, type, offset */
};

static int parse_value(struct gguf_reader *r, struct gguf_kv *kv, const char *key)
{
    char a[32], b[32], c[32];
    if (kv->type == GGUF_VT_STRING) {
        struct gguf_str s;
        kv->value = r->base + r->pos;
        char what[160];
        snprintf(what, sizeof what, "the string value of key '%s'", key);
        return reader_str(r, &s, what);
    }
    if (kv->type != GGUF_VT_ARRAY) {
        kv->value = r->base + r->pos;
        char what[160];
        snprintf(what, sizeof what, "the %s value of key '%s'", gguf_vtype_name(kv->type), key);
        if (reader_need(r, vtype_size[kv->type], what))
            return -1;
        r->pos += vtype_size[kv->type];
        return 0;
    }
    uint64_t at = r->pos;
    uint32_t et;
    char what[160];
    snprintf(what, sizeof what, "the element type of array '%s'", key);
    if (reader_u32(r, &et, what))
        return -1;
    if (et >= GGUF_VT_COUNT)
        return gguf_fail(r->path, r->err, r->errlen,
                         "key '%s' at byte %s is an array of unknown value type %u", key,
                         gguf_fmt_u64(at, a), et);
    if (et == GGUF_VT_ARRAY)
        return gguf_fail(r->path, r->err, r->errlen,
                         "key '%s' at byte %s is an array of arrays, which GGUF readers do "
                         "not support", key, gguf_fmt_u64(at, a));
    kv->arr_type = (enum gguf_vtype)et;
    uint64_t n_at = r->pos;
    snprintf(what, sizeof what, "the length of array '%s'", key);
    if (reader_u64(r, &kv->arr_n, what))
        return -1;
    kv->value = r->base + r->pos;
    /* Every element takes at least its size (strings: their 8-byte length). */
    uint64_t min_elem = et == GGUF_VT_STRING ? 8 : vtype_size[et];
    uint64_t need;
    if (__builtin_mul_overflow(kv->arr_n, min_elem, &need) || need > reader_left(r))
        return gguf_fail(r->path, r->err, r->errlen,
                         "array '%s' at byte %s claims %s elements of %s, more than the %s "
                         "bytes left in the file", key, gguf_fmt_u64(n_at, a),
                         gguf_fmt_u64(kv->arr_n, b), gguf_vtype_name(kv->arr_type),
                         gguf_fmt_u64(reader_left(r), c));
    if (et != GGUF_VT_STRING) {
        r->pos += need;
        return 0;
    }
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        /* A vocabulary is 100k strings or more: step over a whole one without making its
         * label, which only a failure needs (it was a fifth of reading a GGUF's header). */
        const uint64_t left = reader_left(r);
        if (left >= 8 && gguf_load_u64(r->base + r->pos) <= left - 8) {
            r->pos += 8 + gguf_load_u64(r->base + r->pos);
            continue;
        }
        struct gguf_str s;
        snprintf(what, sizeof what, "string %llu of array '%s'", (unsigned long long)i, key);
        if (reader_str(r, &s, what))
            return -1;
    }
    return 0;
}

/* Makes room for entry i of an array that will hold n entries in all. It grows by doubling,
 * so memory follows what has really been parsed, not the count the file claims; new
 * entries are zeroed (gguf_close frees what they point to). */
static int gguf_grow(void **arr, uint64_t *cap, uint64_t i, uint64_t n, size_t elem)
{
    if (i < *cap)
        return 0;
    uint64_t nc = *cap ? *cap * 2 : 64;
    if (nc > n)
        nc = n;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int parse_kvs(struct gguf_reader *r, struct gguf_file *f)
{
    char a[32], b[32], c[32];
    uint64_t need;
    if (__builtin_mul_overflow(f->n_kv, (uint64_t)GGUF_MIN_KV_BYTES, &need) ||
        need > reader_left(r) || f->n_kv > UINT32_MAX)
        return gguf_fail(r->path, r->err, r->errlen,
                         "n_kv at byte 16 is %s, more key/value pairs than the %s bytes left "
                         "in the file can hold", gguf_fmt_u64(f->n_kv, a),
                         gguf_fmt_u64(reader_left(r), b));
    uint64_t cap = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (gguf_grow((void **)&f->kv, &cap, i, f->n_kv, sizeof *f->kv))
            return gguf_fail(r->path, r->err, r->errlen, "out of memory for %s keys",
                             gguf_fmt_u64(f->n_kv, a));
        struct gguf_kv *kv = &f->kv[i];
        kv->offset = r->pos;
        char what[64];
        snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
        if (reader_str(r, &kv->key, what))
            return -1;
        char key[96];
        gguf_fmt_name(kv->key.ptr, kv->key.len, key);
        uint64_t t_at = r->pos;
        uint32_t t;
        char twhat[160];
        snprintf(twhat, sizeof twhat, "the value type of key '%s'", key);
        if (reader_u32(r, &t, twhat))
            return -1;
        if (t >= GGUF_VT_COUNT)
            return gguf_fail(r->path, r->err, r->errlen,
                             "key '%s' has unknown value type %u at byte %s", key, t,
                             gguf_fmt_u64(t_at, a));
        kv->type = (enum gguf_vtype)t;
        if (parse_value(r, kv, key))
            return -1;
    }
    if (f->n_kv) {
        f->kv_sorted = malloc(f->n_kv * sizeof *f->kv_sorted);
        if (!f->kv_sorted)
            return gguf_fail(r->path, r->err, r->errlen, "out of memory for %s keys",
                             gguf_fmt_u64(f->n_kv, a));
        for (uint64_t i = 0; i < f->n_kv; i++)
            f->kv_sorted[i] = (uint32_t)i;
        sort_file = f;
        qsort(f->kv_sorted, f->n_kv, sizeof *f->kv_sorted, kv_order_cmp);
        for (uint64_t i = 1; i < f->n_kv; i++) {
            const struct gguf_kv *x = &f->kv[f->kv_sorted[i - 1]], *y = &f->kv[f->kv_sorted[i]];
            if (gguf_str_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len) == 0) {
                char key[96];
                return gguf_fail(r->path, r->err, r->errlen,
                                 "key '%s' at byte %s repeats the key at byte %s",
                                 gguf_fmt_name(y->key.ptr, y->key.len, key),
                                 gguf_fmt_u64(y->offset, a), gguf_fmt_u64(x->offset, b));
            }
        }
    }
    /* general.alignment: a uint32 power of two, as ggml requires. */
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_VT_UINT32)
            return gguf_fail(r->path, r->err, r->errlen,
                             "key 'general.alignment' at byte %s is a %s, not a uint32",
                             gguf_fmt_u64(al->offset, a), gguf_vtype_name(al->type));
        uint32_t v;
        memcpy(&v, al->value, 4);
        if (v == 0 || (v & (v - 1)) != 0)
            return gguf_fail(r->path, r->err, r->errlen,
                             "key 'general.alignment' at byte %s is %s, not a power of two",
                             gguf_fmt_u64(al->offset, a), gguf_fmt_u64(v, c));
        f->alignment = v;
    }
    /* Ollama writes gpt-oss's experts as type id 4 (ggml's removed Q4_2): MXFP4 blocks of 17
     * bytes whose nibbles keep OpenAI's order. Only its 'gptoss' files mean that. */
    struct gguf_str arch;
    char ignored[8]; /* a wrong type is the model loader's to report */
    r->gptoss = gguf_get_str(f, "general.architecture", &arch, ignored, sizeof ignored) == 0 &&
                gguf_str_cmp(arch.ptr, arch.len, "gptoss", 6) == 0;
    return 0;
}

static int parse_tensor_info(struct gguf_reader *r, struct gguf_tensor *t, uint64_t i)
{
    char a[32], b[32], nm[96];
    t->info_offset = r->pos;
    struct gguf_str name;
    char what[160];
    snprintf(what, sizeof what, "the name of tensor %llu", (unsigned long long)i);
    if (reader_str(r, &name, what))
        return -1;
    gguf_fmt_name(name.ptr, name.len, nm);
    if (name.len == 0 || name.len >= GGUF_MAX_NAME || memchr(name.ptr, 0, name.len))
        return gguf_fail(r->path, r->err, r->errlen,
                         "tensor %llu at byte %s has a name of %s bytes ('%s'); names must be "
                         "1 to %d bytes with no NUL", (unsigned long long)i,
                         gguf_fmt_u64(t->info_offset, a), gguf_fmt_u64(name.len, b), nm,
                         GGUF_MAX_NAME - 1);
    t->name = malloc(name.len + 1);
    if (!t->name)
        return gguf_fail(r->path, r->err, r->errlen, "out of memory");
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = '\0';

    uint64_t at = r->pos;
    snprintf(what, sizeof what, "the dimension count of tensor '%s'", nm);
    if (reader_u32(r, &t->n_dims, what))
        return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return gguf_fail(r->path, r->err, r->errlen,
                         "tensor '%s' has %u dimensions at byte %s; 1 to %d are allowed", nm,
                         t->n_dims, gguf_fmt_u64(at, a), GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = r->pos;
        uint64_t v;
        snprintf(what, sizeof what, "dimension %u of tensor '%s'", d, nm);
        if (reader_u64(r, &v, what))
            return -1;
        if (v > (uint64_t)INT64_MAX)
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' dimension %u at byte %s is %s, which is negative as "
                             "int64", nm, d, gguf_fmt_u64(at, a), gguf_fmt_u64(v, b));
        t->ne[d] = (int64_t)v;
    }
    at = r->pos;
    snprintf(what, sizeof what, "the type of tensor '%s'", nm);
    if (reader_u32(r, &t->type, what))
        return -1;
    if (t->type == 4 && r->gptoss) {
        t->type = GGML_TYPE_MXFP4;
        t->ollama_mxfp4 = true;
    }
    const struct quant_traits *qt = quant_traits(t->type);
    if (!qt || qt->blck_size <= 0 || qt->type_size == 0)
        return gguf_fail(r->path, r->err, r->errlen,
                         "tensor '%s' has unknown type id %u at byte %s", nm, t->type,
                         gguf_fmt_u64(at, a));
    /* The element count must fit an int64 (ggml checks the same). */
    uint64_t n_el = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        if (__builtin_mul_overflow(n_el, (uint64_t)t->ne[d], &n_el) ||
            n_el > (uint64_t)INT64_MAX) {
            char d0[32], d1[32], d2[32], d3[32];
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' at byte %s has dimensions %s x %s x %s x %s whose "
                             "product overflows", nm, gguf_fmt_u64(t->info_offset, a),
                             gguf_fmt_u64((uint64_t)t->ne[0], d0),
                             gguf_fmt_u64((uint64_t)t->ne[1], d1),
                             gguf_fmt_u64((uint64_t)t->ne[2], d2),
                             gguf_fmt_u64((uint64_t)t->ne[3], d3));
        }
    }
    if (t->ne[0] % qt->blck_size != 0)
        return gguf_fail(r->path, r->err, r->errlen,
                         "tensor '%s' at byte %s has rows of %lld values, not a multiple of "
                         "%s's block of %lld", nm, gguf_fmt_u64(t->info_offset, a),
                         (long long)t->ne[0], qt->name, (long long)qt->blck_size);
    uint64_t row = (uint64_t)(t->ne[0] / qt->blck_size), nbytes;
    if (__builtin_mul_overflow(row, (uint64_t)qt->type_size, &nbytes) ||
        __builtin_mul_overflow(nbytes, (uint64_t)t->ne[1], &nbytes) ||
        __builtin_mul_overflow(nbytes, (uint64_t)t->ne[2], &nbytes) ||
        __builtin_mul_overflow(nbytes, (uint64_t)t->ne[3], &nbytes))
        return gguf_fail(r->path, r->err, r->errlen,
                         "tensor '%s' at byte %s: its size in bytes overflows", nm,
                         gguf_fmt_u64(t->info_offset, a));
    t->nbytes = nbytes;
    snprintf(what, sizeof what, "the data offset of tensor '%s'", nm);
    return reader_u64(r, &t->offset, what);
}

/* *cap: how many tensor entries are allocated (zeroed past the parsed ones), so that the
 * caller can free their names when parsing stops early. */
static int parse_tensors(struct gguf_reader *r, struct gguf_file *f, uint64_t *cap)
{
    char a[32], b[32], c[32], d[32];
    uint64_t need;
    if (__builtin_mul_overflow(f->n_tensors, (uint64_t)GGUF_MIN_TENSOR_BYTES, &need) ||
        need > reader_left(r) || f->n_tensors > UINT32_MAX)
        return gguf_fail(r->path, r->err, r->errlen,
                         "n_tensors at byte 8 is %s, more tensors than the %s bytes left after "
                         "the keys can describe", gguf_fmt_u64(f->n_tensors, a),
                         gguf_fmt_u64(reader_left(r), b));
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        if (gguf_grow((void **)&f->tensors, cap, i, f->n_tensors, sizeof *f->tensors))
            return gguf_fail(r->path, r->err, r->errlen, "out of memory for %s tensors",
                             gguf_fmt_u64(f->n_tensors, a));
        if (parse_tensor_info(r, &f->tensors[i], i))
            return -1;
    }
    if (f->n_tensors) {
        f->tensor_sorted = malloc(f->n_tensors * sizeof *f->tensor_sorted);
        if (!f->tensor_sorted)
            return gguf_fail(r->path, r->err, r->errlen, "out of memory for %s tensors",
                             gguf_fmt_u64(f->n_tensors, a));
        uint64_t i = gguf_sort_tensors(f);
        if (i < f->n_tensors) {
            const struct gguf_tensor *x = &f->tensors[f->tensor_sorted[i - 1]];
            const struct gguf_tensor *y = &f->tensors[f->tensor_sorted[i]];
            char nm[96];
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' at byte %s repeats the tensor at byte %s",
                             gguf_fmt_name(y->name, strlen(y->name), nm),
                             gguf_fmt_u64(y->info_offset, a), gguf_fmt_u64(x->info_offset, b));
        }
    }

    /* The data section starts at the next multiple of the alignment. A file without
     * tensors (a vocabulary) may end before that padding. */
    uint64_t al = f->alignment;
    uint64_t data = r->pos + (al - r->pos % al) % al;
    if (data < r->pos)
        return gguf_fail(r->path, r->err, r->errlen, "the data section offset overflows");
    f->data_offset = data;
    f->data_end = data;
    if (f->n_tensors == 0) {
        if (f->data_end > f->size)
            f->data_end = f->data_offset = f->size;
        return 0;
    }
    if (data > f->size)
        return gguf_fail(r->path, r->err, r->errlen,
                         "the tensor data section would start at byte %s, past the end of the "
                         "file (%s)", gguf_fmt_u64(data, a), gguf_fmt_u64(f->size, b));
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        char nm[96];
        gguf_fmt_name(t->name, strlen(t->name), nm);
        if (t->offset % al != 0)
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' (entry at byte %s) has data offset %s, not a "
                             "multiple of the alignment %s", nm,
                             gguf_fmt_u64(t->info_offset, a), gguf_fmt_u64(t->offset, b),
                             gguf_fmt_u64(al, c));
        uint64_t start, end;
        if (__builtin_add_overflow(data, t->offset, &start) || start > f->size)
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' (entry at byte %s) data starts at offset %s in the "
                             "data section, past the end of the file (%s)", nm,
                             gguf_fmt_u64(t->info_offset, a), gguf_fmt_u64(t->offset, b),
                             gguf_fmt_u64(f->size, c));
        bool over = __builtin_add_overflow(start, t->nbytes, &end);
        if (over || end > f->size)
            return gguf_fail(r->path, r->err, r->errlen,
                             "tensor '%s' data ends at byte %s, past the end of the file (%s)",
                             nm, over ? "(beyond 2^64)" : gguf_fmt_u64(end, d),
                             gguf_fmt_u64(f->size, c));
        t->data = f->header_only ? f->base : f->base + start;
        if (end > f->data_end)
            f->data_end = end;
    }
    return 0;
}

void gguf_close(struct gguf_file *f)
{
    if (!f)
        return;
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++)
            free(f->tensors[i].name);
    free(f->tensors);
    free(f->tensor_sorted);
    free(f->kv);
    free(f->kv_sorted);
    if (f->watch)
        gguf_map_unwatch(f->watch - 1);
    if (f->mapped && f->base)
        munmap((void *)f->base, f->size);
    if (f->header_only)
        free((void *)f->base);
    for (uint32_t i = 0; f->split_parts && i + 1 < f->split_count; i++)
        gguf_close(&f->split_parts[i]);
    free(f->split_parts);
    memset(f, 0, sizeof *f);
}

static int gguf_parse_into(struct gguf_file *f, char *err, size_t errlen)
{
    char a[32], b[32];
    struct gguf_reader r = { .base = f->base, .size = f->avail, .path = f->path,
                             .err = err, .errlen = errlen };
    if (f->size < 4)
        return gguf_fail(f->path, err, errlen,
                         "not a GGUF file: it is %u bytes long, too short for the magic at "
                         "byte 0", (unsigned)f->size);
    if (memcmp(f->base, gguf_magic, 4) != 0) {
        char got[96];
        gguf_fmt_name((const char *)f->base, 4, got);
        return gguf_fail(f->path, err, errlen,
                         "not a GGUF file: the magic at byte 0 is '%s', not 'GGUF'", got);
    }
    r.pos = 4;
    if (reader_u32(&r, &f->version, "the version"))
        return -1;
    if (f->version != 2 && f->version != 3) {
        uint32_t v = f->version;
        uint32_t swapped = v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
        if (swapped == 2 || swapped == 3)
            return gguf_fail(f->path, err, errlen,
                             "version at byte 4 reads as %s: a big-endian GGUF, which is not "
                             "supported", gguf_fmt_u64(v, a));
        return gguf_fail(f->path, err, errlen,
                         "GGUF version %s at byte 4 is not supported (only versions 2 and 3)",
                         gguf_fmt_u64(v, a));
    }
    if (reader_u64(&r, &f->n_tensors, "n_tensors") || reader_u64(&r, &f->n_kv, "n_kv"))
        return -1;
    (void)b;
    if (parse_kvs(&r, f))
        return -1;
    uint64_t cap = 0;
    if (parse_tensors(&r, f, &cap)) {
        /* Fewer entries than n_tensors may exist: free them here, not in gguf_close. */
        for (uint64_t i = 0; f->tensors && i < cap; i++)
            free(f->tensors[i].name);
        free(f->tensors);
        f->tensors = NULL;
        return -1;
    }
    return 0;
}

int gguf_parse(struct gguf_file *f, const void *data, uint64_t size, const char *name,
               char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", name ? name : "(buffer)");
    f->base = data;
    f->size = f->avail = data ? size : 0;
    if (!data && size)
        return gguf_fail(f->path, err, errlen, "no data");
    if (gguf_parse_into(f, err, errlen)) {
        gguf_close(f);
        return -1;
    }
    return 0;
}

/* Opens path for reading when it is a regular, non-empty file: the descriptor and size. */
static int gguf_open_regular(const char *path, int *fd, uint64_t *size, char *err,
                             size_t errlen)
{
    struct stat st;
    char why[128];
    *fd = file_open_regular(path, &st, why, sizeof why);
    if (*fd < 0)
        return gguf_fail(path, err, errlen, "%s%s", errno == EINVAL ? "" : "cannot open: ", why);
    if (st.st_size == 0) {
        close(*fd);
        return gguf_fail(path, err, errlen, "the file is empty (0 bytes), not a GGUF file");
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

int gguf_open(struct gguf_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd;
    uint64_t size;
    if (gguf_open_regular(path, &fd, &size, err, errlen))
        return -1;
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return gguf_fail(path, err, errlen, "cannot mmap %llu bytes: %s",
                         (unsigned long long)size, strerror(e));
    snprintf(f->path, sizeof f->path, "%s", path);
    f->base = map;
    f->size = f->avail = size;
    f->mapped = true;
    f->watch = gguf_map_watch(map, f->size) + 1;
    int rc = gguf_parse_into(f, err, errlen);
    if (gguf_changed(f))
        rc = gguf_fail(path, err, errlen, "the file changed under us while it was read");
    if (rc) {
        gguf_close(f);
        return -1;
    }
    return 0;
}

bool gguf_changed(const struct gguf_file *f)
{
    for (uint32_t i = 0; f->split_parts && i + 1 < f->split_count; i++)
        if (gguf_changed(&f->split_parts[i]))
            return true;
    return f->watch && gguf_map_changed(f->watch - 1);
}

/* The head of a file grows by this factor until the header parses, from GGUF_HEAD_FIRST up
 * to GGUF_HEAD_MAX (a 256k-token vocabulary with its merges is about 10 MB). */
enum { GGUF_HEAD_FIRST = 1 << 20, GGUF_HEAD_GROWTH = 4, GGUF_HEAD_MAX = 256 << 20 };

int gguf_open_header(struct gguf_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd;
    uint64_t size;
    if (gguf_open_regular(path, &fd, &size, err, errlen))
        return -1;
    uint64_t want = size < GGUF_HEAD_FIRST ? size : GGUF_HEAD_FIRST;
    uint8_t *buf = NULL;
    int rc = -1;
    for (;;) {
        uint8_t *nb = realloc(buf, want);
        if (!nb) {
            rc = gguf_fail(path, err, errlen, "out of memory reading the first %llu bytes",
                           (unsigned long long)want);
            break;
        }
        buf = nb;
        uint64_t got = 0;
        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
            if (n <= 0)
                break;
            got += (uint64_t)n;
        }
        if (got < want) {
            rc = gguf_fail(path, err, errlen, "read error at byte %llu",
                           (unsigned long long)got);
            break;
        }
        memset(f, 0, sizeof *f);
        snprintf(f->path, sizeof f->path, "%s", path);
        f->base = buf;
        f->size = size;
        f->avail = want;
        f->header_only = true;
        if (gguf_parse_into(f, err, errlen) == 0) {
            close(fd);
            return 0;
        }
        /* The header may go on past what was read: read more, up to the whole file. */
        f->base = NULL;
        gguf_close(f);
        if (want == size || want >= GGUF_HEAD_MAX)
            break;
        want = want * GGUF_HEAD_GROWTH < size ? want * GGUF_HEAD_GROWTH : size;
    }
    free(buf);
    close(fd);
    memset(f, 0, sizeof *f);
    return rc;
}

/* ---------------------------------------------------------------- typed getters */

/* Reads a scalar of an integer type as a signed/unsigned pair: *neg set when negative. */
static bool gguf_scalar_int(enum gguf_vtype t, const uint8_t *p, uint64_t *mag, bool *neg)
{
    *neg = false;
    switch (t) {
    case GGUF_VT_UINT8: *mag = p[0]; return true;
    case GGUF_VT_INT8: { int8_t v; memcpy(&v, p, 1); *neg = v < 0; *mag = (uint64_t)(v < 0 ? -(int64_t)v : v); return true; }
    case GGUF_VT_UINT16: { uint16_t v; memcpy(&v, p, 2); *mag = v; return true; }
    case GGUF_VT_INT16: { int16_t v; memcpy(&v, p, 2); *neg = v < 0; *mag = (uint64_t)(v < 0 ? -(int64_t)v : v); return true; }
    case GGUF_VT_UINT32: { uint32_t v; memcpy(&v, p, 4); *mag = v; return true; }
    case GGUF_VT_INT32: { int32_t v; memcpy(&v, p, 4); *neg = v < 0; *mag = (uint64_t)(v < 0 ? -(int64_t)v : v); return true; }
    case GGUF_VT_UINT64: { uint64_t v; memcpy(&v, p, 8); *mag = v; return true; }
    case GGUF_VT_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        *neg = v < 0;
        *mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        return true;
    }
    default: return false;
    }
}

static bool gguf_scalar_float(enum gguf_vtype t, const uint8_t *p, double *out)
{
    if (t == GGUF_VT_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    if (t == GGUF_VT_FLOAT64) {
        memcpy(out, p, 8);
        return true;
    }
    return false;
}

static const struct gguf_kv *gguf_get_kv(const struct gguf_file *f, const char *key)
{
    return gguf_find(f, key);
}

static int gguf_wrong(const struct gguf_file *f, const struct gguf_kv *kv, const char *key,
                      const char *want, char *err, size_t errlen)
{
    char a[32];
    return gguf_fail(f->path, err, errlen, "key '%s' at byte %s is a %s, expected %s", key,
                     gguf_fmt_u64(kv->offset, a), gguf_vtype_name(kv->type), want);
}

static int gguf_get_int(const struct gguf_file *f, const char *key, uint64_t max_pos,
                        uint64_t max_neg, uint64_t *mag, bool *neg, const char *want,
                        char *err, size_t errlen)
{
    const struct gguf_kv *kv = gguf_get_kv(f, key);
    if (!kv)
        return 1;
    if (!gguf_scalar_int(kv->type, kv->value, mag, neg))
        return gguf_wrong(f, kv, key, want, err, errlen);
    if ((*neg && *mag > max_neg) || (!*neg && *mag > max_pos)) {
        char a[32], b[32];
        return gguf_fail(f->path, err, errlen, "key '%s' at byte %s is %s%s, out of range for %s",
                         key, gguf_fmt_u64(kv->offset, a), *neg ? "-" : "",
                         gguf_fmt_u64(*mag, b), want);
    }
    return 0;
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen)
{
    uint64_t mag;
    bool neg;
    int rc = gguf_get_int(f, key, UINT32_MAX, 0, &mag, &neg, "a uint32", err, errlen);
    if (rc == 0)
        *out = (uint32_t)mag;
    return rc;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, char *err, size_t errlen)
{
    uint64_t mag;
    bool neg;
    int rc = gguf_get_int(f, key, UINT64_MAX, 0, &mag, &neg, "a uint64", err, errlen);
    if (rc == 0)
        *out = mag;
    return rc;
}

int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out, char *err, size_t errlen)
{
    uint64_t mag;
    bool neg;
    int rc = gguf_get_int(f, key, INT32_MAX, (uint64_t)INT32_MAX + 1, &mag, &neg, "an int32",
                          err, errlen);
    if (rc == 0)
        *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    return rc;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out, char *err, size_t errlen)
{
    const struct gguf_kv *kv = gguf_get_kv(f, key);
    if (!kv)
        return 1;
    double v;
    if (!gguf_scalar_float(kv->type, kv->value, &v))
        return gguf_wrong(f, kv, key, "a float32", err, errlen);
    *out = (float)v;
    return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out, char *err, size_t errlen)
{
    const struct gguf_kv *kv = gguf_get_kv(f, key);
    if (!kv)
        return 1;
    if (kv->type != GGUF_VT_BOOL)
        return gguf_wrong(f, kv, key, "a bool", err, errlen);
    *out = kv->value[0] != 0;
    return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out, char *err, size_t errlen)
{
    const struct gguf_kv *kv = gguf_get_kv(f, key);
    if (!kv)
        return 1;
    if (kv->type != GGUF_VT_STRING)
        return gguf_wrong(f, kv, key, "a string", err, errlen);
    out->len = gguf_load_u64(kv->value);
    out->ptr = (const char *)kv->value + 8;
    return 0;
}

int gguf_get_strz(const struct gguf_file *f, const char *key, char *buf, size_t buflen, char *err, size_t errlen)
{
    struct gguf_str s;
    int rc = gguf_get_str(f, key, &s, err, errlen);
    if (rc != 0 || buflen == 0)
        return rc;
    size_t n = s.len < buflen - 1 ? (size_t)s.len : buflen - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- arrays */

int gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out)
{
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING)
        return -1;
    const uint8_t *p = kv->value;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        out[i].len = gguf_load_u64(p);
        out[i].ptr = (const char *)p + 8;
        p += 8 + out[i].len;
    }
    return 0;
}

int gguf_arr_get_f32(const struct gguf_kv *kv, uint64_t i, float *out)
{
    if (!kv || kv->type != GGUF_VT_ARRAY || i >= kv->arr_n || kv->arr_type == GGUF_VT_STRING ||
        kv->arr_type == GGUF_VT_BOOL || kv->arr_type >= GGUF_VT_COUNT)
        return -1;
    const uint8_t *p = kv->value + i * vtype_size[kv->arr_type];
    double d;
    uint64_t mag;
    bool neg;
    if (gguf_scalar_float(kv->arr_type, p, &d))
        *out = (float)d;
    else if (gguf_scalar_int(kv->arr_type, p, &mag, &neg))
        *out = neg ? -(float)mag : (float)mag;
    else
        return -1;
    return 0;
}

int gguf_arr_get_i32(const struct gguf_kv *kv, uint64_t i, int32_t *out)
{
    if (!kv || kv->type != GGUF_VT_ARRAY || i >= kv->arr_n || kv->arr_type >= GGUF_VT_COUNT)
        return -1;
    const uint8_t *p = kv->value + i * vtype_size[kv->arr_type];
    uint64_t mag;
    bool neg;
    if (!gguf_scalar_int(kv->arr_type, p, &mag, &neg))
        return -1;
    if ((neg && mag > (uint64_t)INT32_MAX + 1) || (!neg && mag > INT32_MAX))
        return -1;
    *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    return 0;
}
