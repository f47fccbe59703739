/* sessions/session_load.c: reads a session file back, naming the first wrong thing.
 *
 * Limits, checked before anything is built: files up to 1 GiB (SESSION_MAX_FILE), JSON
 * nesting up to 64 levels (scanned here before cJSON sees the text; cJSON's own limit is
 * 1000), version SESSION_VERSION or below. Then every field is checked for its type and
 * range in document order, and the first failure is reported as
 *   NAME: $.path.to[3].field: expected WHAT, found WHAT
 * with JSON syntax errors as `NAME: line L column C: ...`. Unknown keys are ignored (and
 * dropped by the next save). */
#include "session.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_open.h"
#include "session_format.h"
#include "text_escape.h"

/* ---- encodings (session_format.h) ---- */

/* Base64 digit value + 1 by character; 0 for every other byte. */
static const unsigned char b64_tab[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
    ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
    ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
    ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

long session_b64_decode(const char *src, size_t n, unsigned char *dst)
{
    if (n % 4 != 0 || n / 4 * 3 > LONG_MAX)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        const unsigned char *q = (const unsigned char *)src + i;
        int pad = 0;
        if (i + 4 == n) /* padding only in the last quantum */
            pad = (q[3] == '=') + (q[3] == '=' && q[2] == '=');
        int v[4] = { b64_tab[q[0]] - 1, b64_tab[q[1]] - 1, pad == 2 ? 0 : b64_tab[q[2]] - 1,
                     pad >= 1 ? 0 : b64_tab[q[3]] - 1 };
        if ((v[0] | v[1] | v[2] | v[3]) < 0)
            return -1;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        /* Canonical form only: the bits that padding leaves over must be zero. */
        if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
            return -1;
        dst[o++] = (unsigned char)(x >> 16);
        if (pad < 2)
            dst[o++] = (unsigned char)(x >> 8);
        if (pad < 1)
            dst[o++] = (unsigned char)x;
    }
    return (long)o;
}

float session_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 0x3ff;
    uint32_t x;
    if (exp == 31) {
        x = sign | 0x7f800000 | man << 13;
    } else if (exp == 0) {
        if (!man) {
            x = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            x = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else {
        x = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- error reporting ---- */

struct loader {
    const char *name;   /* the file as messages call it */
    char *err;
    size_t errlen;
    struct session *s;
};

__attribute__((format(printf, 3, 4))) static int lerr(struct loader *L, const char *path,
                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(L->err, L->errlen, "%s: %s: %s", L->name, path, msg);
    return -1;
}

static const char *json_kind(const cJSON *j)
{
    if (!j)
        return "nothing (the key is missing)";
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsBool(j))
        return cJSON_IsTrue(j) ? "true" : "false";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    return "something invalid";
}

/* What a number was, for messages: "-3", "3.5". */
static const char *json_num_text(const cJSON *j, char *buf, size_t n)
{
    snprintf(buf, n, "%.17g", j->valuedouble);
    return buf;
}

/* Child path "$.a" + ".b" or "[3]" into out (cut with "..." if it ever does not fit). */
static void path_cut(char *out, size_t n, int r)
{
    if (r < 0 || (size_t)r >= n)
        memcpy(out + n - 4, "...", 4);
}
static void path_key(char *out, size_t n, const char *base, const char *key)
{
    path_cut(out, n, snprintf(out, n, "%s.%s", base, key));
}
static void path_idx(char *out, size_t n, const char *base, size_t i)
{
    path_cut(out, n, snprintf(out, n, "%s[%zu]", base, i));
}

/* ---- typed getters: each reports the first wrong thing and returns -1 ---- */

static int get_item(struct loader *L, const cJSON *obj, const char *base, const char *key,
                    int type_ok, const char *want, const cJSON **out, char *path, size_t pn)
{
    path_key(path, pn, base, key);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!type_ok || !j)
        return lerr(L, path, "expected %s, found %s", want, json_kind(j));
    *out = j;
    return 0;
}

static int get_object(struct loader *L, const cJSON *obj, const char *base, const char *key,
                      const cJSON **out, char *path, size_t pn)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return get_item(L, obj, base, key, cJSON_IsObject(j), "an object", out, path, pn);
}

static int get_array(struct loader *L, const cJSON *obj, const char *base, const char *key,
                     const cJSON **out, char *path, size_t pn)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return get_item(L, obj, base, key, cJSON_IsArray(j), "an array", out, path, pn);
}

static int get_string(struct loader *L, const cJSON *obj, const char *base, const char *key,
                      const char **out)
{
    char path[256];
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (get_item(L, obj, base, key, cJSON_IsString(j), "a string", &j, path, sizeof path))
        return -1;
    *out = j->valuestring;
    return 0;
}

/* An integer item in [lo, hi] (doubles hold integers exactly up to 2^53). */
static int check_int(struct loader *L, const cJSON *j, const char *path, long long lo,
                     long long hi, long long *out)
{
    char num[64];
    if (!cJSON_IsNumber(j))
        return lerr(L, path, "expected an integer, found %s", json_kind(j));
    double v = j->valuedouble;
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return lerr(L, path, "expected an integer in [%lld, %lld], found %s", lo, hi,
                    json_num_text(j, num, sizeof num));
    *out = (long long)v;
    return 0;
}

static int get_int(struct loader *L, const cJSON *obj, const char *base, const char *key,
                   long long lo, long long hi, long long *out)
{
    char path[256];
    path_key(path, sizeof path, base, key);
    return check_int(L, cJSON_GetObjectItemCaseSensitive(obj, key), path, lo, hi, out);
}

/* An integer into an int, and a count up to 2^53 into a uint64_t. */
static int get_int_as(struct loader *L, const cJSON *obj, const char *base, const char *key,
                      int lo, int hi, int *out)
{
    long long v;
    if (get_int(L, obj, base, key, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int get_u64(struct loader *L, const cJSON *obj, const char *base, const char *key,
                   uint64_t *out)
{
    long long v;
    if (get_int(L, obj, base, key, 0, 1LL << 53, &v) != 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* A float: a number, or "inf", "-inf", "nan" (what JSON numbers cannot hold). */
static int check_float(struct loader *L, const cJSON *j, const char *path, float *out)
{
    if (cJSON_IsNumber(j)) {
        *out = (float)j->valuedouble;
        return 0;
    }
    if (cJSON_IsString(j)) {
        if (!strcmp(j->valuestring, "inf"))
            return *out = INFINITY, 0;
        if (!strcmp(j->valuestring, "-inf"))
            return *out = -INFINITY, 0;
        if (!strcmp(j->valuestring, "nan"))
            return *out = NAN, 0;
        return lerr(L, path, "expected a number (or \"inf\", \"-inf\", \"nan\"), found \"%.40s\"",
                    j->valuestring);
    }
    return lerr(L, path, "expected a number, found %s", json_kind(j));
}

static int get_float(struct loader *L, const cJSON *obj, const char *base, const char *key,
                     float *out)
{
    char path[256];
    path_key(path, sizeof path, base, key);
    return check_float(L, cJSON_GetObjectItemCaseSensitive(obj, key), path, out);
}

/* A text field: "key" (a string), or the exact bytes in "key_b64" when present. The result
 * is malloc'd with a NUL after len bytes. null is accepted when nullable (*out = NULL). */
static int get_text(struct loader *L, const cJSON *obj, const char *base, const char *key,
                    bool nullable, char **out, size_t *outlen)
{
    char path[256], key_b64[64];
    path_key(path, sizeof path, base, key);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (nullable && cJSON_IsNull(j)) {
        *out = NULL;
        *outlen = 0;
        return 0;
    }
    if (!cJSON_IsString(j))
        return lerr(L, path, "expected a string%s, found %s", nullable ? " or null" : "",
                    json_kind(j));
    snprintf(key_b64, sizeof key_b64, "%s_b64", key);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, key_b64);
    if (b) {
        path_key(path, sizeof path, base, key_b64);
        if (!cJSON_IsString(b))
            return lerr(L, path, "expected a base64 string, found %s", json_kind(b));
        size_t n = strlen(b->valuestring);
        char *buf = malloc(n / 4 * 3 + 1);
        if (!buf)
            return lerr(L, path, "out of memory");
        long got = session_b64_decode(b->valuestring, n, (unsigned char *)buf);
        if (got < 0) {
            free(buf);
            return lerr(L, path, "expected canonical base64, found \"%.20s...\"",
                        b->valuestring);
        }
        buf[got] = 0;
        *out = buf;
        *outlen = (size_t)got;
        return 0;
    }
    size_t n = strlen(j->valuestring);
    char *buf = malloc(n + 1);
    if (!buf)
        return lerr(L, path, "out of memory");
    memcpy(buf, j->valuestring, n + 1);
    *out = buf;
    *outlen = n;
    return 0;
}

/* Copies a string field into a fixed buffer, refusing what does not fit. */
static int get_fixed(struct loader *L, const cJSON *obj, const char *base, const char *key,
                     char *dst, size_t cap)
{
    char *t;
    size_t n;
    if (get_text(L, obj, base, key, false, &t, &n) != 0)
        return -1;
    if (n >= cap || memchr(t, 0, n)) {
        char path[256];
        path_key(path, sizeof path, base, key);
        free(t);
        return lerr(L, path, "expected a string of at most %zu bytes without NUL, found %zu "
                             "bytes", cap - 1, n);
    }
    memcpy(dst, t, n + 1);
    free(t);
    return 0;
}

/* An array of exactly n items. */
static int get_column(struct loader *L, const cJSON *obj, const char *base, const char *key,
                      size_t n, const char *what, const cJSON **out, char *path, size_t pn)
{
    if (get_array(L, obj, base, key, out, path, pn) != 0)
        return -1;
    size_t got = 0;
    for (const cJSON *c = (*out)->child; c; c = c->next)
        got++;
    if (got != n)
        return lerr(L, path, "expected %zu entries (%s), found %zu", n, what, got);
    return 0;
}

/* A base64 column of exactly n bytes, decoded into a malloc'd buffer. */
static int get_b64_column(struct loader *L, const cJSON *obj, const char *base,
                          const char *key, size_t n, const char *what, unsigned char **out)
{
    char path[256];
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (get_item(L, obj, base, key, cJSON_IsString(j), "a base64 string", &j, path,
                 sizeof path))
        return -1;
    size_t len = strlen(j->valuestring);
    if (len != session_b64_len(n))
        return lerr(L, path, "expected %zu bytes (%s) = %zu base64 characters, found %zu "
                             "characters",
                    n, what, session_b64_len(n), len);
    unsigned char *buf = malloc(n ? n + 2 : 1);
    if (!buf)
        return lerr(L, path, "out of memory");
    long got = session_b64_decode(j->valuestring, len, buf);
    if (got < 0 || (size_t)got != n) {
        free(buf);
        return lerr(L, path, "expected canonical base64 of %zu bytes, found bad characters or "
                             "padding", n);
    }
    *out = buf;
    return 0;
}

/* ---- the document ---- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == 0;
}

/* "2026-11-23T10:47:12Z" exactly. */
static bool is_iso_utc(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
            return false;
    }
    return s[sizeof pat - 1] == 0;
}

static int load_header(struct loader *L, const cJSON *root)
{
    struct session *s = L->s;
    const char *str;
    long long v;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "moescope-session") != 0)
        return lerr(L, "$.format", "expected \"moescope-session\", found %s",
                    cJSON_IsString(fmt) ? "another string" : json_kind(fmt));
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (check_int(L, ver, "$.version", 1, LLONG_MAX / 2, &v) != 0)
        return -1;
    if (v > SESSION_VERSION)
        return lerr(L, "$.version",
                    "expected version %d or below, found %lld: a future format (a newer "
                    "moescope wrote it)",
                    SESSION_VERSION, v);
    if (get_string(L, root, "$", "id", &str) != 0)
        return -1;
    if (strlen(str) != SESSION_ID_LEN || !is_hex(str, SESSION_ID_LEN))
        return lerr(L, "$.id", "expected %d lowercase hex digits, found \"%.40s\"",
                    SESSION_ID_LEN, str);
    memcpy(s->id, str, SESSION_ID_LEN + 1);
    static const char *const times[] = { "created", "updated" };
    for (int i = 0; i < 2; i++) {
        if (get_string(L, root, "$", times[i], &str) != 0)
            return -1;
        if (!is_iso_utc(str)) {
            char path[64];
            path_key(path, sizeof path, "$", times[i]);
            return lerr(L, path, "expected a UTC time like \"2026-11-23T10:47:12Z\", found "
                                 "\"%.40s\"",
                        str);
        }
        memcpy(i ? s->updated : s->created, str, 21);
    }
    return 0;
}

/* The object $.key, or NULL with the error reported. */
static const cJSON *get_section(struct loader *L, const cJSON *root, const char *key)
{
    const cJSON *o = NULL;
    char path[256];
    return get_object(L, root, "$", key, &o, path, sizeof path) == 0 ? o : NULL;
}

static int load_model(struct loader *L, const cJSON *root)
{
    struct session_model *m = &L->s->model;
    const cJSON *mo = get_section(L, root, "model");
    const char *b = "$.model";
    if (!mo)
        return -1;
    if (get_fixed(L, mo, b, "file", m->file, sizeof m->file) ||
        get_fixed(L, mo, b, "name", m->name, sizeof m->name) ||
        get_fixed(L, mo, b, "architecture", m->arch, sizeof m->arch) ||
        get_fixed(L, mo, b, "chat", m->chat, sizeof m->chat))
        return -1;
    if (get_u64(L, mo, b, "size", &m->size) ||
        get_int_as(L, mo, b, "layers", 0, 4096, &m->n_layers) ||
        get_int_as(L, mo, b, "experts", 0, 65536, &m->n_experts))
        return -1;
    int experts_used_max = m->n_experts < TRACE_MAX_K ? m->n_experts : TRACE_MAX_K;
    if (get_int_as(L, mo, b, "experts_used", 0, experts_used_max, &m->n_experts_used) ||
        get_int_as(L, mo, b, "d_model", 0, INT_MAX, &m->d_model) ||
        get_int_as(L, mo, b, "vocab", 0, INT32_MAX, &m->n_vocab))
        return -1;
    const char *h;
    if (get_string(L, mo, b, "header_hash", &h))
        return -1;
    if (strncmp(h, "fnv1a64:", 8) != 0 || strlen(h) != 24 || !is_hex(h + 8, 16))
        return lerr(L, "$.model.header_hash",
                    "expected \"fnv1a64:\" and 16 lowercase hex digits, found \"%.40s\"", h);
    m->hash = strtoull(h + 8, NULL, 16);
    if (get_u64(L, mo, b, "header_hash_bytes", &m->hash_bytes))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(mo, "active_bytes") &&
        (get_u64(L, mo, b, "active_bytes", &m->active_bytes) ||
         get_u64(L, mo, b, "expert_bytes", &m->expert_bytes)))
        return -1; /* both or neither: sessions saved before them have neither */
    if (!cJSON_GetObjectItemCaseSensitive(mo, "backend"))
        return 0; /* a local GGUF */
    const cJSON *be = NULL;
    char path[256];
    if (get_object(L, mo, b, "backend", &be, path, sizeof path) != 0)
        return -1;
    const char *bb = "$.model.backend";
    if (get_fixed(L, be, bb, "family", m->backend, sizeof m->backend) ||
        get_fixed(L, be, bb, "url", m->url, sizeof m->url) ||
        get_fixed(L, be, bb, "fingerprint", m->fingerprint, sizeof m->fingerprint))
        return -1;
    if (!m->backend[0])
        return lerr(L, "$.model.backend.family", "expected a server family, found \"\"");
    return 0;
}

static int load_sampler(struct loader *L, const cJSON *root)
{
    struct sampler_params *p = &L->s->sampler;
    const cJSON *so = get_section(L, root, "sampler");
    const char *b = "$.sampler";
    if (!so || get_float(L, so, b, "temp", &p->temp) ||
        get_int_as(L, so, b, "top_k", 0, INT_MAX, &p->top_k) ||
        get_float(L, so, b, "top_p", &p->top_p) || get_float(L, so, b, "min_p", &p->min_p) ||
        get_float(L, so, b, "repeat_penalty", &p->repeat_penalty) ||
        get_int_as(L, so, b, "repeat_last_n", -1, INT_MAX, &p->repeat_last_n))
        return -1;
    const char *seed;
    if (get_string(L, so, b, "seed", &seed))
        return -1;
    errno = 0;
    char *end;
    unsigned long long sv = strtoull(seed, &end, 10);
    if (!*seed || *end || errno == ERANGE || seed[0] == '-' || seed[0] == '+' ||
        seed[0] == ' ' || (seed[0] == '0' && seed[1]))
        return lerr(L, "$.sampler.seed", "expected a decimal integer below 2^64 as a string, "
                                         "found \"%.40s\"", seed);
    p->seed = sv;
    return 0;
}

static int load_messages(struct loader *L, const cJSON *root)
{
    struct session *s = L->s;
    size_t n;
    if (get_text(L, root, "$", "system_prompt", true, &s->system_prompt, &n) != 0)
        return -1;
    if (s->system_prompt && memchr(s->system_prompt, 0, n))
        return lerr(L, "$.system_prompt_b64", "expected text without NUL bytes");
    const cJSON *arr = NULL;
    char path[256];
    if (get_array(L, root, "$", "messages", &arr, path, sizeof path) != 0)
        return -1;
    size_t i = 0;
    for (const cJSON *m = arr->child; m; m = m->next, i++) {
        char mp[64];
        path_idx(mp, sizeof mp, "$.messages", i);
        if (!cJSON_IsObject(m))
            return lerr(L, mp, "expected an object with role and content, found %s",
                        json_kind(m));
        const char *role;
        if (get_string(L, m, mp, "role", &role) != 0)
            return -1;
        int r = 0;
        while (r < SESSION_ROLE_COUNT && strcmp(role, session_role_names[r]) != 0)
            r++;
        if (r == SESSION_ROLE_COUNT) {
            path_key(path, sizeof path, mp, "role");
            return lerr(L, path, "expected \"system\", \"user\" or \"assistant\", found "
                                 "\"%.40s\"", role);
        }
        char *content;
        size_t len;
        if (get_text(L, m, mp, "content", false, &content, &len) != 0)
            return -1;
        long k = session_add_message(s, (enum session_role)r, "", 0);
        if (k < 0) {
            free(content);
            return lerr(L, mp, "out of memory");
        }
        free(s->msg[k].content);
        s->msg[k].content = content;
        s->msg[k].content_len = len;
        const cJSON *ooc = cJSON_GetObjectItemCaseSensitive(m, "out_of_context");
        if (ooc && !cJSON_IsBool(ooc)) {
            path_key(path, sizeof path, mp, "out_of_context");
            return lerr(L, path, "expected true or false, found %s", json_kind(ooc));
        }
        s->msg[k].out_of_context = cJSON_IsTrue(ooc);
    }
    return 0;
}

/* One trace chunk while it is read: what its header says, where each column's JSON is, and
 * the buffers it owns (freed by chunk_free). */
struct chunk {
    const char *tp;                /* its path, "$.traces[2]" */
    long long m;                   /* the message */
    size_t nt, nl, ew;             /* records, layers, bytes per expert id */
    const cJSON *col[SESSION_COLUMN_MAX]; /* by session_columns[]; then the current entry */
    char col_path[SESSION_COLUMN_MAX][256];
    const char *text;              /* the pieces */
    size_t text_len;
    char *own_text;                /* text when it was decoded from base64 */
    unsigned char *n_used, *experts, *weights, *entropy, *top1;
    size_t slots, routed;          /* routed (record, layer) slots and layers */
    const cJSON *cold;
    char cold_path[256];
};

static void chunk_free(struct chunk *c)
{
    free(c->own_text);
    free(c->n_used);
    free(c->experts);
    free(c->weights);
    free(c->entropy);
    free(c->top1);
}

/* "message", "tokens" and "expert_bytes"; the message index must grow chunk by chunk. */
static int chunk_header(struct loader *L, const cJSON *tr, struct chunk *c, long long *last_msg)
{
    const struct session *s = L->s;
    char path[256];
    long long v;
    if (!cJSON_IsObject(tr))
        return lerr(L, c->tp, "expected an object (one message's records), found %s",
                    json_kind(tr));
    path_key(path, sizeof path, c->tp, "message");
    if (s->n_msg == 0)
        return lerr(L, path, "expected the index of a message, but $.messages is empty");
    if (get_int(L, tr, c->tp, "message", 0, (long long)s->n_msg - 1, &c->m) != 0)
        return -1;
    if (c->m <= *last_msg)
        return lerr(L, path, "expected a message index above %lld (traces in message order, "
                             "one per message), found %lld", *last_msg, c->m);
    *last_msg = c->m;
    if (get_int(L, tr, c->tp, "tokens", 0, INT32_MAX, &v) != 0)
        return -1;
    c->nt = (size_t)v;
    c->nl = (size_t)s->model.n_layers;
    if (get_int(L, tr, c->tp, "expert_bytes", s->model.n_experts > 256 ? 2 : 1, 2, &v) != 0)
        return -1;
    c->ew = (size_t)v;
    return 0;
}

/* The pieces: one string, or base64 when they are not clean UTF-8; their length must be the
 * sum of the piece_len column (read before them; piece_len is its first entry). */
static int chunk_pieces(struct loader *L, const cJSON *tr, struct chunk *c,
                        const cJSON *piece_len, const char *piece_len_path)
{
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(tr, "pieces_b64");
    char path[256];
    path_key(path, sizeof path, c->tp, pb ? "pieces_b64" : "pieces");
    if (pb) {
        if (!cJSON_IsString(pb))
            return lerr(L, path, "expected a base64 string, found %s", json_kind(pb));
        size_t n = strlen(pb->valuestring);
        c->own_text = malloc(n / 4 * 3 + 1);
        if (!c->own_text)
            return lerr(L, path, "out of memory");
        long got = session_b64_decode(pb->valuestring, n, (unsigned char *)c->own_text);
        if (got < 0)
            return lerr(L, path, "expected canonical base64, found \"%.20s...\"",
                        pb->valuestring);
        c->text = c->own_text;
        c->text_len = (size_t)got;
    } else {
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(tr, "pieces");
        if (!cJSON_IsString(pc))
            return lerr(L, path, "expected a string (or \"pieces_b64\"), found %s",
                        json_kind(pc));
        c->text = pc->valuestring;
        c->text_len = strlen(c->text);
    }
    size_t sum = 0, i = 0;
    long long v;
    char ipath[300];
    for (const cJSON *e = piece_len; e; e = e->next, i++) {
        path_idx(ipath, sizeof ipath, piece_len_path, i);
        if (check_int(L, e, ipath, 0, UINT32_MAX, &v) != 0)
            return -1;
        sum += (size_t)v;
    }
    if (sum != c->text_len)
        return lerr(L, path, "expected %zu bytes (the sum of piece_len), found %zu", sum,
                    c->text_len);
    return 0;
}

/* Every per-record column, with its number of entries, before any record is built. */
static int chunk_columns(struct loader *L, const cJSON *tr, struct chunk *c)
{
    int piece_len = -1;
    for (int k = 0; k < session_column_count; k++) {
        const struct session_column *sc = &session_columns[k];
        if (sc->kind == SESSION_COL_PIECES) {
            if (chunk_pieces(L, tr, c, c->col[piece_len], c->col_path[piece_len]) != 0)
                return -1;
            continue;
        }
        if (!strcmp(sc->key, "piece_len"))
            piece_len = k;
        c->col[k] = NULL;
        if (sc->optional && !cJSON_GetObjectItemCaseSensitive(tr, sc->key))
            continue; /* an older file: the records keep 0 */
        if (get_column(L, tr, c->tp, sc->key, c->nt * (size_t)sc->per_token, sc->what,
                       &c->col[k], c->col_path[k], sizeof c->col_path[k]) != 0)
            return -1;
        c->col[k] = c->col[k]->child; /* the cursor: the first entry */
    }
    return 0;
}

/* The per (record, layer) columns in base64: n_used first, which sizes the others. */
static int chunk_layer_columns(struct loader *L, const cJSON *tr, struct chunk *c)
{
    const struct session_model *mo = &L->s->model;
    size_t pairs = c->nt * c->nl;
    if (get_b64_column(L, tr, c->tp, "n_used", pairs, "one per token and layer", &c->n_used))
        return -1;
    for (size_t i = 0; i < pairs; i++) {
        if (c->n_used[i] > mo->n_experts_used) {
            char path[256];
            path_key(path, sizeof path, c->tp, "n_used");
            return lerr(L, path, "expected at most %d experts per layer (experts_used), found "
                                 "%u at token %zu layer %zu",
                        mo->n_experts_used, c->n_used[i], i / c->nl, i % c->nl);
        }
        c->slots += c->n_used[i];
        c->routed += c->n_used[i] > 0;
    }
    if (get_b64_column(L, tr, c->tp, "experts", c->slots * c->ew,
                       "expert ids of the routed layers", &c->experts) ||
        get_b64_column(L, tr, c->tp, "weights", c->slots * 2,
                       "float16 weights of the routed layers", &c->weights) ||
        get_b64_column(L, tr, c->tp, "entropy", c->routed * 4, "float32 per routed layer",
                       &c->entropy) ||
        get_b64_column(L, tr, c->tp, "top1", c->routed * 4, "float32 per routed layer",
                       &c->top1))
        return -1;
    return get_array(L, tr, c->tp, "cold", &c->cold, c->cold_path, sizeof c->cold_path);
}

/* Record i's entries of every per-record column into *t, each checked; the cursors move on. */
static int chunk_record_fields(struct loader *L, struct chunk *c, size_t i,
                               struct trace_token *t)
{
    int n_vocab = L->s->model.n_vocab;
    char path[300];
    long long v;
    for (int k = 0; k < session_column_count; k++) {
        const struct session_column *sc = &session_columns[k];
        long long hi = sc->hi == SESSION_COL_HI_VOCAB ? (n_vocab > 0 ? n_vocab - 1 : INT32_MAX)
                                                      : sc->hi;
        for (int j = 0; j < sc->per_token && sc->kind != SESSION_COL_PIECES && c->col[k]; j++) {
            path_idx(path, sizeof path, c->col_path[k], i * (size_t)sc->per_token + (size_t)j);
            if (sc->kind == SESSION_COL_FLOAT) {
                if (check_float(L, c->col[k], path, session_column_float(sc, t, j)) != 0)
                    return -1;
            } else {
                if (check_int(L, c->col[k], path, sc->lo, hi, &v) != 0)
                    return -1;
                session_column_set(sc, t, j, v);
            }
            c->col[k] = c->col[k]->next;
        }
    }
    return 0;
}

/* Record i's layers from the base64 columns; *si and *ri are the slot and routed cursors. */
static int chunk_record_layers(struct loader *L, struct chunk *c, size_t i,
                               struct trace_layer *ly, size_t *si, size_t *ri)
{
    int n_experts = L->s->model.n_experts;
    for (size_t l = 0; l < c->nl; l++) {
        struct trace_layer *Ly = &ly[l];
        Ly->n = c->n_used[i * c->nl + l];
        for (int j = 0; j < Ly->n; j++, (*si)++) {
            const unsigned char *x = c->experts + *si * c->ew, *w = c->weights + *si * 2;
            unsigned e = x[0] | (c->ew == 2 ? (unsigned)x[1] << 8 : 0);
            if (e >= (unsigned)n_experts) {
                char path[256];
                path_key(path, sizeof path, c->tp, "experts");
                return lerr(L, path, "expected expert ids below %d, found %u at token %zu "
                                     "layer %zu", n_experts, e, i, l);
            }
            Ly->experts[j] = (uint16_t)e;
            Ly->weights[j] = session_f16_to_f32((uint16_t)(w[0] | w[1] << 8));
        }
        if (Ly->n) {
            uint32_t a = 0, b = 0;
            for (int q = 0; q < 4; q++) {
                a |= (uint32_t)c->entropy[*ri * 4 + (size_t)q] << (8 * q);
                b |= (uint32_t)c->top1[*ri * 4 + (size_t)q] << (8 * q);
            }
            memcpy(&Ly->entropy, &a, 4);
            memcpy(&Ly->top1_prob, &b, 4);
            (*ri)++;
        }
    }
    return 0;
}

/* The records, appended to the log in order. */
static int chunk_records(struct loader *L, struct chunk *c)
{
    struct trace_log *log = &L->s->log;
    size_t off = 0, si = 0, ri = 0;
    for (size_t i = 0; i < c->nt; i++) {
        struct trace_token t = { 0 };
        if (chunk_record_fields(L, c, i, &t) != 0)
            return -1;
        long k = trace_log_push(log, t.token, c->text + off, t.piece_len, t.prompt);
        if (k < 0)
            return lerr(L, c->tp, "out of memory at token %zu", i);
        off += t.piece_len;
        t.piece_off = log->tok[k].piece_off;
        log->tok[k] = t;
        if (chunk_record_layers(L, c, i, trace_layers(log, (size_t)k), &si, &ri) != 0)
            return -1;
    }
    return 0;
}

/* Cold masks: (record, layer, mask) triples in increasing (record, layer) order, on the
 * records from first on. */
static int chunk_cold(struct loader *L, struct chunk *c, size_t first)
{
    size_t i = 0, prev = SIZE_MAX;
    long long trip[3];
    char path[300];
    for (const cJSON *e = c->cold->child; e; e = e->next, i++) {
        static const long long lo[3] = { 0, 0, 1 };
        long long hi[3] = { (long long)c->nt - 1, (long long)c->nl - 1, 0xffff };
        path_idx(path, sizeof path, c->cold_path, i);
        if (check_int(L, e, path, lo[i % 3], hi[i % 3], &trip[i % 3]))
            return -1;
        if (i % 3 != 2)
            continue;
        size_t key = (size_t)trip[0] * c->nl + (size_t)trip[1];
        struct trace_layer *Ly = &trace_layers(&L->s->log, first + (size_t)trip[0])[trip[1]];
        if ((prev != SIZE_MAX && key <= prev) || Ly->n == 0 || (trip[2] >> Ly->n) != 0)
            return lerr(L, path, "expected (token, layer, mask) triples in increasing order, "
                                 "the mask within the layer's %d routed experts", Ly->n);
        Ly->cold = (uint16_t)trip[2];
        prev = key;
    }
    if (i % 3 != 0)
        return lerr(L, c->cold_path, "expected (token, layer, mask) triples, found %zu numbers",
                    i);
    return 0;
}

/* One trace chunk: its records are appended to the log and become message m's range. */
static int load_trace(struct loader *L, const cJSON *tr, const char *tp, long long *last_msg)
{
    struct chunk c = { .tp = tp };
    size_t first = L->s->log.n;
    int rc = chunk_header(L, tr, &c, last_msg);
    if (rc == 0)
        rc = chunk_columns(L, tr, &c);
    if (rc == 0)
        rc = chunk_layer_columns(L, tr, &c);
    if (rc == 0)
        rc = chunk_records(L, &c);
    if (rc == 0)
        rc = chunk_cold(L, &c, first);
    if (rc == 0) {
        L->s->msg[c.m].trace_begin = first;
        L->s->msg[c.m].trace_end = L->s->log.n;
    }
    chunk_free(&c);
    return rc;
}

static int load_traces(struct loader *L, const cJSON *root)
{
    const cJSON *arr = NULL;
    char path[256];
    if (get_array(L, root, "$", "traces", &arr, path, sizeof path) != 0)
        return -1;
    size_t i = 0;
    long long last = -1;
    for (const cJSON *t = arr->child; t; t = t->next, i++) {
        char tp[64];
        path_idx(tp, sizeof tp, "$.traces", i);
        if (load_trace(L, t, tp, &last) != 0)
            return -1;
    }
    return 0;
}

/* ---- text level: size, nesting, syntax ---- */

/* Line and column (1-based, columns in bytes) of offset off. */
static void text_line_col(const char *data, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

/* Refuses nesting deeper than SESSION_MAX_DEPTH before cJSON recurses into it. */
static int text_check_depth(struct loader *L, const char *data, size_t len)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > SESSION_MAX_DEPTH) {
                size_t line, col;
                text_line_col(data, i, &line, &col);
                snprintf(L->err, L->errlen, "%s: line %zu column %zu: nesting deeper than %d "
                                            "levels",
                         L->name, line, col, SESSION_MAX_DEPTH);
                return -1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/* A message quotes the file (a role, an id, an excerpt): its escapes, controls and newlines
 * are shown, never obeyed, and the message stays one line. */
static void load_err_escape(char *err, size_t errlen)
{
    char shown[1024];
    text_escape_line(err, strlen(err), shown, sizeof shown);
    snprintf(err, errlen, "%s", shown);
}

int session_load_buffer(struct session *s, const char *data, size_t len, const char *name,
                        char *err, size_t errlen)
{
    struct loader L = { name, err, errlen, s };
    memset(s, 0, sizeof *s);
    if (!data)
        data = "", len = 0;
    if ((uint64_t)len > SESSION_MAX_FILE) {
        snprintf(err, errlen, "%s: %zu bytes, more than the 1 GiB a session may hold", name, len);
        return -1;
    }
    const char *nul = memchr(data, 0, len);
    if (nul) {
        size_t line, col;
        text_line_col(data, (size_t)(nul - data), &line, &col);
        snprintf(err, errlen, "%s: line %zu column %zu: a NUL byte, not JSON text", name, line,
                 col);
        return -1;
    }
    if (text_check_depth(&L, data, len) != 0)
        return -1;
    /* cJSON wants a NUL-terminated text to report the end of a truncated file. */
    char *text = malloc(len + 1);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", name, len);
        return -1;
    }
    memcpy(text, data, len);
    text[len] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : len;
        size_t line, col;
        text_line_col(text, off, &line, &col);
        if (off >= len)
            snprintf(err, errlen, "%s: line %zu column %zu: the JSON text ends too early (a "
                                  "cut file?)", name, line, col);
        else
            snprintf(err, errlen, "%s: line %zu column %zu: JSON syntax error near '%.12s'",
                     name, line, col, text + off);
        load_err_escape(err, errlen);
        free(text);
        return -1;
    }
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        lerr(&L, "$", "expected an object, found %s", json_kind(root));
        goto done;
    }
    if (load_header(&L, root) != 0)
        goto done;
    if (load_model(&L, root) != 0)
        goto done;
    if (trace_log_init(&s->log, s->model.n_layers, s->model.n_experts,
                       s->model.n_experts_used) != 0) {
        lerr(&L, "$.model", "a shape the trace log cannot hold");
        goto done;
    }
    if (load_sampler(&L, root) != 0 || load_messages(&L, root) != 0 ||
        load_traces(&L, root) != 0)
        goto done;
    /* session_add_message stamped `updated`: put the file's back. */
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "updated");
    memcpy(s->updated, up->valuestring, 21);
    trace_log_touch(&s->log); /* the records were filled in after their push */
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc != 0) {
        load_err_escape(err, errlen);
        session_free(s);
    }
    return rc;
}

static int session_read_file(const char *path, char **out, size_t *outlen, size_t max,
                             char *err, size_t errlen)
{
    struct stat st;
    char why[128];
    int fd = file_open_regular(path, &st, why, sizeof why);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    if ((uint64_t)st.st_size > SESSION_MAX_FILE) {
        snprintf(err, errlen, "%s: %lld bytes, more than the 1 GiB a session may hold", path,
                 (long long)st.st_size);
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size < max ? (size_t)st.st_size : max;
    char *buf = malloc(want + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, want);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read at offset %zu: %s", path, got, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *outlen = got;
    return 0;
}

int session_load(struct session *s, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    memset(s, 0, sizeof *s);
    if (session_read_file(path, &data, &len, (size_t)SESSION_MAX_FILE, err, errlen) != 0)
        return -1;
    int rc = session_load_buffer(s, data, len, path, err, errlen);
    free(data);
    return rc;
}

/* After `"key"` at p: skips blanks, ':' and blanks; returns where the value starts. */
static const char *peek_value(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    if (p >= end || *p != ':')
        return NULL;
    p++;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

int session_peek_id(const char *path, char id[SESSION_ID_LEN + 1], char *err, size_t errlen)
{
    char *data;
    size_t len;
    /* The writer puts format and id on the first line; 64 KiB covers reformatted files. */
    if (session_read_file(path, &data, &len, 65536, err, errlen) != 0)
        return -1;
    const char *end = data + len;
    const char *f = strstr(data, "\"format\"");
    const char *v = f ? peek_value(f + 8, end) : NULL;
    int rc = 0;
    if (v && (size_t)(end - v) >= 18 && !memcmp(v, "\"moescope-session\"", 18)) {
        const char *k = strstr(data, "\"id\"");
        const char *q = k ? peek_value(k + 4, end) : NULL;
        if (q && (size_t)(end - q) >= SESSION_ID_LEN + 2 && q[0] == '"' &&
            q[SESSION_ID_LEN + 1] == '"') {
            memcpy(id, q + 1, SESSION_ID_LEN);
            id[SESSION_ID_LEN] = 0;
            rc = is_hex(id, SESSION_ID_LEN) ? 1 : 0;
        }
    }
    if (rc == 0 && len == 65536) {
        /* Not in the first 64 KiB: ask the whole file. */
        free(data);
        struct session t;
        char e2[16];
        if (session_load(&t, path, e2, sizeof e2) == 0) {
            memcpy(id, t.id, SESSION_ID_LEN + 1);
            session_free(&t);
            return 1;
        }
        return 0;
    }
    free(data);
    return rc;
}
