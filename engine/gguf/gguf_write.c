/* engine/gguf/gguf_write.c: the GGUF v3 writer (see gguf_write.h).
 *
 * Key/value pairs are serialised into one growing byte buffer as they are added (key string,
 * u32 type, value), so writing the header is one copy. Tensors are kept as a list and laid
 * out at write time. Little-endian hosts only, like the reader's data path. */
#include "gguf_write.h"

#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct gguf_wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    const void *data; /* borrowed until the write */
    gguf_tensor_fill_fn fill; /* or made at the write by fill(ud, ...) */
    void *ud;
};

struct gguf_writer {
    uint8_t *kvbuf;   /* (kvlen) the serialised key/value section */
    size_t kvlen, kvcap;
    char **keys;      /* (n_kv) copies, for the repeat check */
    uint64_t n_kv;
    size_t keys_cap;
    struct gguf_wtensor *tensors; /* (n_tensors) */
    uint64_t n_tensors;
    size_t tensors_cap;
    uint32_t alignment;
    char error[256];  /* the first error, reported by the write call */
};

static const uint8_t wvtype_size[GGUF_VT_COUNT] = {
    [GGUF_VT_UINT8] = 1, [GGUF_VT_INT8] = 1, [GGUF_VT_UINT16] = 2, [GGUF_VT_INT16] = 2,
    [GGUF_VT_UINT32] = 4, [GGUF_VT_INT32] = 4, [GGUF_VT_FLOAT32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_UINT64] = 8, [GGUF_VT_INT64] = 8, [GGUF_VT_FLOAT64] = 8,
};

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    free(w->kvbuf);
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

static int writer_error(struct gguf_writer *w, const char *fmt, const char *arg)
{
    if (!w->error[0])
        snprintf(w->error, sizeof w->error, fmt, arg);
    return -1;
}

static int writer_put(struct gguf_writer *w, const void *p, size_t n)
{
    if (w->kvlen + n > w->kvcap) {
        size_t cap = w->kvcap ? w->kvcap : 4096;
        while (cap < w->kvlen + n)
            cap *= 2;
        uint8_t *nb = realloc(w->kvbuf, cap);
        if (!nb)
            return writer_error(w, "out of memory%s", "");
        w->kvbuf = nb;
        w->kvcap = cap;
    }
    if (n)
        memcpy(w->kvbuf + w->kvlen, p, n);
    w->kvlen += n;
    return 0;
}

static int writer_put_u32(struct gguf_writer *w, uint32_t v)
{
    return writer_put(w, &v, 4);
}

static int writer_put_u64(struct gguf_writer *w, uint64_t v)
{
    return writer_put(w, &v, 8);
}

static int writer_put_str(struct gguf_writer *w, const char *s, uint64_t len)
{
    if (writer_put_u64(w, len))
        return -1;
    return writer_put(w, s, (size_t)len);
}

/* Starts a pair: checks the key is new, records it, writes the key and the type. */
static int writer_begin(struct gguf_writer *w, const char *key, enum gguf_vtype type)
{
    if (!w)
        return -1;
    if (w->error[0])
        return -1;
    if (!key || !*key)
        return writer_error(w, "an empty key%s", "");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return writer_error(w, "key '%s' added twice", key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
        char **nk = realloc(w->keys, cap * sizeof *nk);
        if (!nk)
            return writer_error(w, "out of memory%s", "");
        w->keys = nk;
        w->keys_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy)
        return writer_error(w, "out of memory%s", "");
    w->keys[w->n_kv++] = copy;
    if (writer_put_str(w, key, strlen(key)) || writer_put_u32(w, (uint32_t)type))
        return -1;
    return 0;
}

static int writer_scalar(struct gguf_writer *w, const char *key, enum gguf_vtype t, const void *v)
{
    if (writer_begin(w, key, t))
        return -1;
    return writer_put(w, v, wvtype_size[t]);
}

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v) { return writer_scalar(w, key, GGUF_VT_UINT8, &v); }
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v) { return writer_scalar(w, key, GGUF_VT_INT8, &v); }
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v) { return writer_scalar(w, key, GGUF_VT_UINT16, &v); }
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v) { return writer_scalar(w, key, GGUF_VT_INT16, &v); }
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v) { return writer_scalar(w, key, GGUF_VT_UINT32, &v); }
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v) { return writer_scalar(w, key, GGUF_VT_INT32, &v); }
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v) { return writer_scalar(w, key, GGUF_VT_UINT64, &v); }
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v) { return writer_scalar(w, key, GGUF_VT_INT64, &v); }
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v) { return writer_scalar(w, key, GGUF_VT_FLOAT32, &v); }
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v) { return writer_scalar(w, key, GGUF_VT_FLOAT64, &v); }

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return writer_scalar(w, key, GGUF_VT_BOOL, &b);
}

int gguf_writer_add_strn(struct gguf_writer *w, const char *key, const char *v, uint64_t len)
{
    if (writer_begin(w, key, GGUF_VT_STRING))
        return -1;
    return writer_put_str(w, v, len);
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v)
{
    return gguf_writer_add_strn(w, key, v ? v : "", v ? strlen(v) : 0);
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem,
                        const void *data, uint64_t n)
{
    if (!w)
        return -1;
    if ((unsigned)elem >= GGUF_VT_COUNT || wvtype_size[elem] == 0)
        return writer_error(w, "array '%s' needs a numeric or bool element type", key);
    uint64_t bytes;
    if (__builtin_mul_overflow(n, (uint64_t)wvtype_size[elem], &bytes) || bytes > SIZE_MAX)
        return writer_error(w, "array '%s' is too large", key);
    if (writer_begin(w, key, GGUF_VT_ARRAY) || writer_put_u32(w, (uint32_t)elem) ||
        writer_put_u64(w, n))
        return -1;
    return writer_put(w, data, (size_t)bytes);
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                            uint64_t n)
{
    if (writer_begin(w, key, GGUF_VT_ARRAY) || writer_put_u32(w, GGUF_VT_STRING) ||
        writer_put_u64(w, n))
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (writer_put_str(w, v[i], strlen(v[i])))
            return -1;
    return 0;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *src,
                        const struct gguf_kv *kv)
{
    char key[256];
    if (kv->key.len >= sizeof key)
        return writer_error(w, "%s", "a key longer than 255 bytes cannot be copied");
    snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
    const uint8_t *v = kv->value;
    uint64_t u64;
    uint32_t u32;
    uint16_t u16;
    double f64;
    float f32;
    switch (kv->type) {
    case GGUF_VT_UINT8: gguf_writer_add_u8(w, key, v[0]); break;
    case GGUF_VT_INT8: gguf_writer_add_i8(w, key, (int8_t)v[0]); break;
    case GGUF_VT_BOOL: gguf_writer_add_bool(w, key, v[0] != 0); break;
    case GGUF_VT_UINT16: memcpy(&u16, v, 2); gguf_writer_add_u16(w, key, u16); break;
    case GGUF_VT_INT16: memcpy(&u16, v, 2); gguf_writer_add_i16(w, key, (int16_t)u16); break;
    case GGUF_VT_UINT32:
        memcpy(&u32, v, 4);
        if (!strcmp(key, "general.alignment"))
            gguf_writer_set_alignment(w, u32);
        else
            gguf_writer_add_u32(w, key, u32);
        break;
    case GGUF_VT_INT32: memcpy(&u32, v, 4); gguf_writer_add_i32(w, key, (int32_t)u32); break;
    case GGUF_VT_FLOAT32: memcpy(&f32, v, 4); gguf_writer_add_f32(w, key, f32); break;
    case GGUF_VT_UINT64: memcpy(&u64, v, 8); gguf_writer_add_u64(w, key, u64); break;
    case GGUF_VT_INT64: memcpy(&u64, v, 8); gguf_writer_add_i64(w, key, (int64_t)u64); break;
    case GGUF_VT_FLOAT64: memcpy(&f64, v, 8); gguf_writer_add_f64(w, key, f64); break;
    case GGUF_VT_STRING: {
        struct gguf_str s;
        if (gguf_get_str(src, key, &s, NULL, 0))
            return -1;
        gguf_writer_add_strn(w, key, s.ptr, s.len);
        break;
    }
    case GGUF_VT_ARRAY:
        if (kv->arr_type == GGUF_VT_STRING) {
            struct gguf_str *s = malloc(kv->arr_n * sizeof *s + 1);
            char **z = calloc(kv->arr_n + 1, sizeof *z);
            bool ok = s && z && gguf_arr_strings(kv, s) == 0;
            for (uint64_t k = 0; ok && k < kv->arr_n; k++) {
                z[k] = malloc(s[k].len + 1);
                ok = z[k] != NULL;
                if (ok) {
                    memcpy(z[k], s[k].ptr, s[k].len);
                    z[k][s[k].len] = '\0';
                }
            }
            if (ok)
                gguf_writer_add_arr_str(w, key, (const char *const *)z, kv->arr_n);
            for (uint64_t k = 0; z && k < kv->arr_n; k++)
                free(z[k]);
            free(z);
            free(s);
            if (!ok)
                return -1;
        } else {
            gguf_writer_add_arr(w, key, kv->arr_type, kv->value, kv->arr_n);
        }
        break;
    default:
        return -1;
    }
    return 0;
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment)
{
    if (!w)
        return -1;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return writer_error(w, "alignment %s is not a power of two", "");
    if (gguf_writer_add_u32(w, "general.alignment", alignment))
        return -1;
    w->alignment = alignment;
    return 0;
}

static int writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, const void *data,
                             gguf_tensor_fill_fn fill, void *ud)
{
    if (!w || w->error[0])
        return -1;
    if (!name || !*name || strlen(name) >= 64)
        return writer_error(w, "tensor name '%s' must be 1 to 63 bytes", name ? name : "");
    const struct quant_traits *qt = quant_traits(type);
    if (!qt)
        return writer_error(w, "tensor '%s' has an unknown type", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return writer_error(w, "tensor '%s' needs 1 to 4 dimensions", name);
    struct gguf_wtensor t = { .type = type, .n_dims = n_dims, .data = data, .fill = fill,
                              .ud = ud };
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
    uint64_t nbytes = 0;
    bool bad = false;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        bad |= t.ne[d] < 0;
    if (!bad && t.ne[0] % qt->blck_size != 0)
        return writer_error(w, "tensor '%s' has a row length that is not a multiple of its "
                               "type's block size", name);
    if (!bad) {
        nbytes = (uint64_t)(t.ne[0] / qt->blck_size);
        bad = __builtin_mul_overflow(nbytes, (uint64_t)qt->type_size, &nbytes);
        for (int d = 1; d < GGUF_MAX_DIMS && !bad; d++)
            bad = __builtin_mul_overflow(nbytes, (uint64_t)t.ne[d], &nbytes);
    }
    if (bad)
        return writer_error(w, "tensor '%s' has a bad shape", name);
    if (nbytes && !data && !fill)
        return writer_error(w, "tensor '%s' has no data", name);
    t.nbytes = nbytes;
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return writer_error(w, "tensor '%s' added twice", name);
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 64;
        struct gguf_wtensor *nt = realloc(w->tensors, cap * sizeof *nt);
        if (!nt)
            return writer_error(w, "out of memory%s", "");
        w->tensors = nt;
        w->tensors_cap = cap;
    }
    t.name = strdup(name);
    if (!t.name)
        return writer_error(w, "out of memory%s", "");
    w->tensors[w->n_tensors++] = t;
    return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const int64_t *ne, const void *data)
{
    return writer_add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t type,
                                uint32_t n_dims, const int64_t *ne, gguf_tensor_fill_fn fill,
                                void *ud)
{
    if (!fill)
        return writer_error(w, "tensor '%s' has no data", name ? name : "");
    return writer_add_tensor(w, name, type, n_dims, ne, NULL, fill, ud);
}

/* ---------------------------------------------------------------- output */

/* Where bytes go: a FILE or a growing memory buffer. */
struct gguf_sink {
    FILE *fp;
    uint8_t *buf;
    uint64_t len, cap;
    bool failed;
    char why[256];  /* a fill callback's message, or empty (then errno says) */
};

static void sink_write(struct gguf_sink *s, const void *p, uint64_t n)
{
    if (s->failed || n == 0)
        return;
    if (s->fp) {
        if (fwrite(p, 1, (size_t)n, s->fp) != n)
            s->failed = true;
        return;
    }
    if (s->len + n > s->cap) {
        uint64_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + n)
            cap *= 2;
        uint8_t *nb = cap <= SIZE_MAX ? realloc(s->buf, (size_t)cap) : NULL;
        if (!nb) {
            s->failed = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, (size_t)n);
    s->len += n;
}

static void sink_zeros(struct gguf_sink *s, uint64_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        sink_write(s, zeros, k);
        n -= k;
    }
}

static uint64_t writer_pad(uint64_t x, uint64_t al)
{
    return (al - x % al) % al;
}

static void writer_emit(const struct gguf_writer *w, struct gguf_sink *s)
{
    uint32_t version = 3;
    sink_write(s, "GGUF", 4);
    sink_write(s, &version, 4);
    sink_write(s, &w->n_tensors, 8);
    sink_write(s, &w->n_kv, 8);
    sink_write(s, w->kvbuf, w->kvlen);
    uint64_t pos = 24 + w->kvlen, off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const struct gguf_wtensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        sink_write(s, &len, 8);
        sink_write(s, t->name, len);
        sink_write(s, &t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            sink_write(s, &t->ne[d], 8);
        sink_write(s, &t->type, 4);
        sink_write(s, &off, 8);
        pos += 8 + len + 4 + 8ull * t->n_dims + 4 + 8;
        off += t->nbytes + writer_pad(t->nbytes, w->alignment);
    }
    sink_zeros(s, writer_pad(pos, w->alignment));
    for (uint64_t i = 0; i < w->n_tensors && !s->failed; i++) {
        const struct gguf_wtensor *t = &w->tensors[i];
        if (t->fill && t->nbytes) {
            void *buf = t->nbytes <= SIZE_MAX ? malloc((size_t)t->nbytes) : NULL;
            if (!buf)
                snprintf(s->why, sizeof s->why, "out of memory for tensor '%s'", t->name);
            else if (t->fill(t->ud, t->name, buf, t->nbytes, s->why, sizeof s->why) != 0 &&
                     !s->why[0])
                snprintf(s->why, sizeof s->why, "tensor '%s' could not be made", t->name);
            if (s->why[0])
                s->failed = true;
            else
                sink_write(s, buf, t->nbytes);
            free(buf);
        } else {
            sink_write(s, t->data, t->nbytes);
        }
        sink_zeros(s, writer_pad(t->nbytes, w->alignment));
    }
}

int gguf_writer_to_mem(struct gguf_writer *w, uint8_t **out, uint64_t *size, char *err,
                       size_t errlen)
{
    *out = NULL;
    *size = 0;
    if (!w) {
        snprintf(err, errlen, "(memory): no writer");
        return -1;
    }
    if (w->error[0]) {
        snprintf(err, errlen, "(memory): %s", w->error);
        return -1;
    }
    struct gguf_sink s = { 0 };
    writer_emit(w, &s);
    if (s.failed) {
        free(s.buf);
        snprintf(err, errlen, "(memory): %s", s.why[0] ? s.why : "out of memory");
        return -1;
    }
    *out = s.buf;
    *size = s.len;
    return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path, char *err, size_t errlen)
{
    if (!w) {
        snprintf(err, errlen, "%s: no writer", path);
        return -1;
    }
    if (w->error[0]) {
        snprintf(err, errlen, "%s: %s", path, w->error);
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path,
                 strerror(errno));
        free(tmp);
        return -1;
    }
    /* mkstemp makes 0600; a model file is ordinary data. */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um); /* not fatal: the file is written either way */
    struct gguf_sink s = { .fp = fdopen(fd, "wb") };
    if (!s.fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    writer_emit(w, &s);
    int e = 0;
    if (s.failed || fflush(s.fp) != 0)
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(s.fp)) != 0)
        e = errno;
    if (fclose(s.fp) != 0 && !e)
        e = errno ? errno : EIO;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e || s.why[0]) {
        if (s.why[0])
            snprintf(err, errlen, "%s: %s", path, s.why);
        else
            snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    /* Make the rename itself durable. */
    char *dir = dirname(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(tmp);
    return 0;
}
