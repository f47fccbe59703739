/* sessions/session_save.c: a session as JSON (format in docs/session-format.md), written
 * atomically, never over a different session's file.
 *
 * The JSON is written here rather than by cJSON_Print so that every number has a fixed
 * form: integers as integers, floats as the shortest %.Ng that reads back to the same float
 * (so load -> save gives the same bytes), and the per-layer columns as
 * base64. The loader (session_load.c) reads it with cJSON. */
#include "session.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_write.h"
#include "json_out.h"
#include "session_format.h"
#include "text_escape.h"

/* ---- encodings (session_format.h) ---- */

void session_b64_encode(const unsigned char *src, size_t n, char *dst)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *dst++ = tab[v >> 18];
        *dst++ = tab[(v >> 12) & 63];
        *dst++ = tab[(v >> 6) & 63];
        *dst++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        *dst++ = tab[v >> 18];
        *dst++ = tab[(v >> 12) & 63];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        *dst++ = tab[v >> 18];
        *dst++ = tab[(v >> 12) & 63];
        *dst++ = tab[(v >> 6) & 63];
        *dst++ = '=';
    }
}

uint16_t session_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) /* inf, or NaN with its top payload bits (and at least one set) */
        return (uint16_t)(sign | 0x7c00 | (man ? ((man >> 13) | 0x200) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal half, or zero */
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e; /* 14..24 */
        uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)e << 10 | man >> 13, rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, up to inf: that is the right rounding */
    return (uint16_t)(sign | half);
}

/* A float as the shortest %.Ng (N = 6..9) that reads back to the same float the way the
 * loader reads it (strtod, then to float); 9 digits always do. So 0.7f is "0.7", and a
 * loaded value is written again as the same text. Non-finite values are strings. */
static void session_put_float(struct json_out *b, float f)
{
    if (isnan(f)) {
        json_str(b, "\"nan\"");
        return;
    }
    if (isinf(f)) {
        json_str(b, f > 0 ? "\"inf\"" : "\"-inf\"");
        return;
    }
    char tmp[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, (double)f);
        if ((float)strtod(tmp, NULL) == f || digits == 9)
            break;
    }
    json_str(b, tmp);
}

/* Whether s[0..n) is well-formed UTF-8 without NUL: then it can be a JSON string as is. */
static bool session_text_is_clean(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = utf8_decode(u + i, n - i, &cp);
        if (len == 0 || cp == 0)
            return false;
        i += (size_t)len;
    }
    return true;
}

/* n bytes as a base64 string, encoded a few thousand bytes at a time. */
static void session_put_b64(struct json_out *b, const unsigned char *src, size_t n)
{
    char chunk[4096];
    const size_t step = sizeof chunk / 4 * 3; /* a multiple of 3: padding only at the end */
    json_put(b, "\"", 1);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        session_b64_encode(src + i, k, chunk);
        json_put(b, chunk, session_b64_len(k));
    }
    json_put(b, "\"", 1);
}

/* "key":"text", plus "key_b64" with the exact bytes when the text is not clean UTF-8. */
static void session_put_text(struct json_out *b, const char *key, const char *s, size_t n)
{
    json_fmt(b, "\"%s\":", key);
    json_string(b, s, n, JSON_BAD_AS_FFFD);
    if (!session_text_is_clean(s, n)) {
        json_fmt(b, ",\"%s_b64\":", key);
        session_put_b64(b, (const unsigned char *)s, n);
    }
}

/* ---- the document ---- */

static void session_write_model(struct json_out *b, const struct session_model *m)
{
    json_str(b, "\"model\":{");
    session_put_text(b, "file", m->file, strlen(m->file));
    json_str(b, ",");
    session_put_text(b, "name", m->name, strlen(m->name));
    json_str(b, ",");
    session_put_text(b, "architecture", m->arch, strlen(m->arch));
    json_str(b, ",");
    session_put_text(b, "chat", m->chat, strlen(m->chat));
    json_fmt(b, ",\"size\":%llu,\"layers\":%d,\"experts\":%d,\"experts_used\":%d",
           (unsigned long long)m->size, m->n_layers, m->n_experts, m->n_experts_used);
    json_fmt(b, ",\"d_model\":%d,\"vocab\":%d", m->d_model, m->n_vocab);
    json_fmt(b, ",\"header_hash\":\"fnv1a64:%016llx\",\"header_hash_bytes\":%llu",
           (unsigned long long)m->hash, (unsigned long long)m->hash_bytes);
    if (m->active_bytes || m->expert_bytes)
        json_fmt(b, ",\"active_bytes\":%llu,\"expert_bytes\":%llu",
                 (unsigned long long)m->active_bytes, (unsigned long long)m->expert_bytes);
    if (m->backend[0]) { /* a remote engine */
        json_str(b, ",\"backend\":{");
        session_put_text(b, "family", m->backend, strlen(m->backend));
        json_str(b, ",");
        session_put_text(b, "url", m->url, strlen(m->url));
        json_str(b, ",");
        session_put_text(b, "fingerprint", m->fingerprint, strlen(m->fingerprint));
        json_str(b, "}");
    }
    json_str(b, "}");
}

static void session_write_sampler(struct json_out *b, const struct sampler_params *p)
{
    json_str(b, "\"sampler\":{\"temp\":");
    session_put_float(b, p->temp);
    json_fmt(b, ",\"top_k\":%d,\"top_p\":", p->top_k);
    session_put_float(b, p->top_p);
    json_str(b, ",\"min_p\":");
    session_put_float(b, p->min_p);
    json_str(b, ",\"repeat_penalty\":");
    session_put_float(b, p->repeat_penalty);
    /* The seed is a string: JSON numbers are doubles, exact only up to 2^53. */
    json_fmt(b, ",\"repeat_last_n\":%d,\"seed\":\"%llu\"}", p->repeat_last_n,
           (unsigned long long)p->seed);
}

/* The pieces of records [from, to) as one string, or in base64 when they are not clean
 * UTF-8. Pieces are appended in record order, so a range's text is normally contiguous. */
static int session_write_pieces(struct json_out *b, const struct trace_log *log, size_t from,
                                size_t to)
{
    size_t text_len = 0;
    bool contiguous = true;
    for (size_t i = from, off = from < to ? log->tok[from].piece_off : 0; i < to; i++) {
        contiguous = contiguous && log->tok[i].piece_off == off;
        off += log->tok[i].piece_len;
        text_len += log->tok[i].piece_len;
    }
    char *joined = NULL;
    const char *text = from < to ? trace_piece(log, from) : "";
    if (!contiguous) {
        joined = malloc(text_len + 1);
        if (!joined)
            return -1;
        for (size_t i = from, o = 0; i < to; o += log->tok[i].piece_len, i++)
            memcpy(joined + o, trace_piece(log, i), log->tok[i].piece_len);
        text = joined;
    }
    if (session_text_is_clean(text, text_len)) {
        json_str(b, ",\n  \"pieces\":");
        json_string(b, text, text_len, JSON_BAD_AS_FFFD);
    } else {
        json_str(b, ",\n  \"pieces_b64\":");
        session_put_b64(b, (const unsigned char *)text, text_len);
    }
    free(joined);
    return 0;
}

/* One per-record column (session_format.h) over the records [from, to). */
static int session_write_column(struct json_out *b, const struct session_column *c,
                                const struct trace_log *log, size_t from, size_t to)
{
    if (c->kind == SESSION_COL_PIECES)
        return session_write_pieces(b, log, from, to);
    json_fmt(b, ",\n  \"%s\":[", c->key);
    for (size_t i = from; i < to; i++)
        for (int j = 0; j < c->per_token; j++) {
            if (i > from || j > 0)
                json_str(b, ",");
            if (c->kind == SESSION_COL_FLOAT)
                session_put_float(b, *session_column_float(c, &log->tok[i], j));
            else
                json_fmt(b, "%lld", session_column_get(c, &log->tok[i], j));
        }
    json_str(b, "]");
    return 0;
}

/* Per (record, layer): n, then the routed slots only: expert ids (ew bytes each), float16
 * weights, and a float32 entropy and top-1 probability per routed layer. */
static int session_write_layers(struct json_out *b, const struct trace_log *log, size_t from,
                                size_t to, int ew)
{
    size_t nl = (size_t)(log->n_layers > 0 ? log->n_layers : 0);
    size_t n_pairs = (to - from) * nl, n_routed = 0, n_slots = 0;
    for (size_t i = from; i < to; i++)
        for (size_t l = 0; l < nl; l++) {
            uint8_t n = trace_layers(log, i)[l].n;
            n_routed += n > 0;
            n_slots += n;
        }
    size_t raw = n_pairs + n_slots * (size_t)(ew + 2) + n_routed * 8;
    unsigned char *col = malloc(raw ? raw : 1);
    if (!col)
        return -1;
    unsigned char *c_n = col, *c_ex = c_n + n_pairs, *c_w = c_ex + n_slots * (size_t)ew;
    unsigned char *c_ent = c_w + n_slots * 2, *c_top1 = c_ent + n_routed * 4;
    size_t si = 0, ri = 0;
    for (size_t i = from; i < to; i++)
        for (size_t l = 0; l < nl; l++) {
            const struct trace_layer *L = &trace_layers(log, i)[l];
            *c_n++ = L->n;
            if (!L->n)
                continue;
            for (int k = 0; k < L->n; k++, si++) {
                c_ex[si * (size_t)ew] = (unsigned char)L->experts[k];
                if (ew == 2)
                    c_ex[si * 2 + 1] = (unsigned char)(L->experts[k] >> 8);
                uint16_t h = session_f32_to_f16(L->weights[k]);
                c_w[si * 2] = (unsigned char)h;
                c_w[si * 2 + 1] = (unsigned char)(h >> 8);
            }
            uint32_t e, t1;
            memcpy(&e, &L->entropy, 4);
            memcpy(&t1, &L->top1_prob, 4);
            for (int k = 0; k < 4; k++) {
                c_ent[ri * 4 + (size_t)k] = (unsigned char)(e >> (8 * k));
                c_top1[ri * 4 + (size_t)k] = (unsigned char)(t1 >> (8 * k));
            }
            ri++;
        }
    json_str(b, ",\n  \"n_used\":");
    session_put_b64(b, col, n_pairs);
    json_str(b, ",\n  \"experts\":");
    session_put_b64(b, col + n_pairs, n_slots * (size_t)ew);
    json_str(b, ",\n  \"weights\":");
    session_put_b64(b, col + n_pairs + n_slots * (size_t)ew, n_slots * 2);
    json_str(b, ",\n  \"entropy\":");
    session_put_b64(b, c_ent, n_routed * 4);
    json_str(b, ",\n  \"top1\":");
    session_put_b64(b, c_top1, n_routed * 4);
    free(col);
    return 0;
}

/* Cold experts are rare (once per expert per process): (record, layer, mask) triples. */
static void session_write_cold(struct json_out *b, const struct trace_log *log, size_t from,
                               size_t to)
{
    size_t nl = (size_t)(log->n_layers > 0 ? log->n_layers : 0);
    json_str(b, ",\n  \"cold\":[");
    bool first = true;
    for (size_t i = from; i < to; i++)
        for (size_t l = 0; l < nl; l++) {
            const struct trace_layer *L = &trace_layers(log, i)[l];
            uint16_t mask = L->n ? (uint16_t)(L->cold & ((1u << L->n) - 1)) : 0;
            if (!mask)
                continue;
            json_fmt(b, first ? "%zu,%zu,%u" : ",%zu,%zu,%u", i - from, l, (unsigned)mask);
            first = false;
        }
    json_str(b, "]");
}

/* The records of message m as columns (the layout is in docs/session-format.md). */
static int session_write_trace(struct json_out *b, const struct session *s, size_t m)
{
    const struct trace_log *log = &s->log;
    size_t from = s->msg[m].trace_begin, to = s->msg[m].trace_end;
    int ew = log->n_experts > 256 ? 2 : 1; /* bytes per expert id */
    json_fmt(b, "{\"message\":%zu,\"tokens\":%zu,\"expert_bytes\":%d", m, to - from, ew);
    for (int c = 0; c < session_column_count; c++)
        if (session_write_column(b, &session_columns[c], log, from, to) != 0)
            return -1;
    if (session_write_layers(b, log, from, to, ew) != 0)
        return -1;
    session_write_cold(b, log, from, to);
    json_str(b, "}");
    return 0;
}

int session_to_json(const struct session *s, char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    if (session_check(s, err, errlen) != 0)
        return -1;
    if (s->log.n_layers != s->model.n_layers || s->log.n_experts != s->model.n_experts ||
        s->log.n_experts_used != s->model.n_experts_used) {
        snprintf(err, errlen,
                 "the records' shape (%d layers, %d experts, k = %d) is not the model's (%d, "
                 "%d, %d)",
                 s->log.n_layers, s->log.n_experts, s->log.n_experts_used, s->model.n_layers,
                 s->model.n_experts, s->model.n_experts_used);
        return -1;
    }
    struct json_out b = json_out_growing();
    json_fmt(&b, "{\"format\":\"moescope-session\",\"version\":%d,\"id\":\"%s\",", SESSION_VERSION,
           s->id);
    json_fmt(&b, "\n\"created\":\"%s\",\"updated\":\"%s\",\n", s->created, s->updated);
    session_write_model(&b, &s->model);
    json_str(&b, ",\n");
    session_write_sampler(&b, &s->sampler);
    json_str(&b, ",\n");
    if (s->system_prompt)
        session_put_text(&b, "system_prompt", s->system_prompt, strlen(s->system_prompt));
    else
        json_str(&b, "\"system_prompt\":null");
    json_str(&b, ",\n\"messages\":[");
    for (size_t m = 0; m < s->n_msg; m++) {
        const struct session_message *msg = &s->msg[m];
        json_fmt(&b, "%s\n {\"role\":\"%s\",", m ? "," : "", session_role_names[msg->role]);
        session_put_text(&b, "content", msg->content, msg->content_len);
        if (msg->out_of_context)
            json_str(&b, ",\"out_of_context\":true");
        json_str(&b, "}");
    }
    json_str(&b, "],\n\"traces\":[");
    bool first = true;
    for (size_t m = 0; m < s->n_msg; m++) {
        if (s->msg[m].trace_begin == s->msg[m].trace_end)
            continue;
        json_str(&b, first ? "\n " : ",\n ");
        first = false;
        if (session_write_trace(&b, s, m) != 0)
            b.oom = true;
    }
    json_str(&b, "]}\n");
    if (b.oom) {
        free(b.buf);
        snprintf(err, errlen, "out of memory writing the session");
        return -1;
    }
    *out = b.buf;
    *outlen = b.len;
    return 0;
}

/* ---- saving ---- */

struct session_guard {
    const char *id;
    bool force;
};

/* Lets a save replace only the same session's file (or anything, when forced). */
static int session_guard_check(const char *path, void *ctx, char *err, size_t errlen)
{
    const struct session_guard *g = ctx;
    if (g->force)
        return 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s (not replaced)", path, strerror(errno));
        return -1;
    }
    char id[SESSION_ID_LEN + 1];
    char perr[512];
    int rc = session_peek_id(path, id, perr, sizeof perr);
    if (rc < 0) {
        snprintf(err, errlen, "%s (not replaced)", perr);
        return -1;
    }
    if (rc == 0) {
        snprintf(err, errlen, "%s: not replaced: it is not a moescope session",
                 path);
        return -1;
    }
    if (strcmp(id, g->id) != 0) {
        snprintf(err, errlen,
                 "%s: not replaced: it holds a different session (id %.8s...)",
                 path, id);
        return -1;
    }
    return 0;
}

int session_save(const struct session *s, const char *path, bool force, char *err,
                 size_t errlen)
{
    char *json;
    size_t len;
    char why[512];
    if (session_to_json(s, &json, &len, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    struct session_guard g = { s->id, force };
    /* Check before writing too, so a refusal costs no disk; the guard checks again. */
    int rc = session_guard_check(path, &g, err, errlen);
    if (rc == 0)
        rc = atomic_write_file(path, json, len, session_guard_check, &g, err, errlen);
    free(json);
    return rc;
}

static int session_save_run_any(const char *path, const struct model_desc *d,
                                const char *fingerprint, const struct sampler_params *sp, const char *system, const char *user,
                     size_t user_len, const char *reply, size_t reply_len,
                     const struct trace_log *log, bool force, char *err, size_t errlen)
{
    struct session s;
    if (session_init(&s, log->n_layers, log->n_experts, log->n_experts_used) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    char why[512];
    int rc = -1;
    if (session_set_model(&s, d, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    if (fingerprint)
        snprintf(s.model.fingerprint, sizeof s.model.fingerprint, "%s", fingerprint);
    s.sampler = *sp;
    if ((system && session_set_system_prompt(&s, system) != 0) ||
        session_add_message(&s, SESSION_USER, user, user_len) < 0)
        goto oom;
    for (size_t i = 0; i < log->n; i++)
        if (trace_log_copy_from(&s.log, log, i) < 0)
            goto oom;
    if (session_add_message(&s, SESSION_ASSISTANT, reply, reply_len) < 0)
        goto oom;
    rc = session_save(&s, path, force, err, errlen);
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
out:
    session_free(&s);
    return rc;
}

int session_save_run(const char *path, const struct model_desc *d,
                     const struct sampler_params *sp, const char *system, const char *user,
                     size_t user_len, const char *reply, size_t reply_len,
                     const struct trace_log *log, bool force, char *err, size_t errlen)
{
    return session_save_run_any(path, d, NULL, sp, system, user, user_len, reply, reply_len,
                                log, force, err, errlen);
}

int session_save_run_remote(const char *path, const struct model_desc *d, const char *fingerprint,
                            const struct sampler_params *sp, const char *system,
                            const char *user, size_t user_len, const char *reply,
                            size_t reply_len, const struct trace_log *log, bool force, char *err,
                            size_t errlen)
{
    return session_save_run_any(path, d, fingerprint ? fingerprint : "", sp, system, user,
                                user_len, reply, reply_len, log, force, err, errlen);
}

/* ---- exports by name ---- */

const char *const session_export_names[EXPORT_COUNT] = {
    [EXPORT_MD] = "md",
    [EXPORT_CSV] = "csv",
    [EXPORT_NDJSON] = "ndjson",
    [EXPORT_HTML] = "html",
};

int session_export_file(const struct session *s, const char *format, const char *path,
                        char *err, size_t errlen)
{
    int f = 0;
    while (f < EXPORT_COUNT && strcmp(format, session_export_names[f]) != 0)
        f++;
    if (f == EXPORT_COUNT) {
        snprintf(err, errlen, "unknown export format '%s' (md, csv, ndjson or html)", format);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char why[512] = "";
    int rc;
    switch (f) {
    case EXPORT_MD: rc = session_export_md(s, mem, why, sizeof why); break;
    case EXPORT_CSV: rc = session_export_csv(s, mem, why, sizeof why); break;
    case EXPORT_NDJSON: rc = session_export_ndjson(s, mem, why, sizeof why); break;
    default: rc = session_export_html(s, mem, -1, why, sizeof why); break;
    }
    if (fclose(mem) != 0 && rc == 0) {
        rc = -1;
        snprintf(why, sizeof why, "out of memory");
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        free(buf);
        return -1;
    }
    rc = atomic_write_file(path, buf, len, NULL, NULL, err, errlen);
    free(buf);
    return rc;
}
