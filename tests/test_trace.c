/* tests/test_trace.c: the trace log's arrays and its JSON lines, parsed back with cJSON. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "trace.h"

TEST(trace_log_push_grows_and_keeps_pieces)
{
    struct trace_log log;
    CHECK_INT_EQ(trace_log_init(&log, 3, 8, 2), 0);
    char piece[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(piece, sizeof piece, "p%d", i);
        long j = trace_log_push(&log, i * 3, piece, (size_t)n, i < 10);
        CHECK_INT_EQ(j, i);
        trace_layers(&log, (size_t)j)[2].n = (uint8_t)(i % 3);
    }
    CHECK_INT_EQ(log.n, 1000);
    CHECK(log.cap >= 1000);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(piece, sizeof piece, "p%d", i);
        const struct trace_token *t = &log.tok[i];
        bad += t->pos != i || t->token != i * 3 || t->prompt != (i < 10) ||
               t->piece_len != (uint32_t)n || memcmp(trace_piece(&log, (size_t)i), piece, (size_t)n) ||
               t->fed || t->sampled || trace_layers(&log, (size_t)i)[2].n != i % 3 ||
               trace_layers(&log, (size_t)i)[0].n != 0;
    }
    CHECK_INT_EQ(bad, 0);

    trace_log_truncate(&log, 500);
    CHECK_INT_EQ(log.n, 500);
    CHECK_INT_EQ(log.text_len, log.tok[499].piece_off + log.tok[499].piece_len);
    long j = trace_log_push(&log, 7, "x", 1, false);
    CHECK_INT_EQ(j, 500);
    CHECK_INT_EQ(log.tok[500].piece_off, log.tok[499].piece_off + log.tok[499].piece_len);
    trace_log_truncate(&log, 2000); /* beyond the end: nothing changes */
    CHECK_INT_EQ(log.n, 501);

    size_t cap = log.cap;
    trace_log_clear(&log);
    CHECK_INT_EQ(log.n, 0);
    CHECK_INT_EQ(log.text_len, 0);
    CHECK_INT_EQ(log.cap, cap);
    CHECK_INT_EQ(trace_log_push(&log, 1, "", 0, true), 0);
    trace_log_free(&log);
    CHECK(log.tok == NULL && log.n == 0);

    CHECK_INT_EQ(trace_log_init(&log, 2, 4, TRACE_MAX_K + 1), -1);
}

TEST(trace_log_copy_from_is_full)
{
    struct trace_log a, b, c;
    trace_log_init(&a, 2, 8, 2);
    trace_log_init(&b, 2, 8, 2);
    trace_log_init(&c, 3, 8, 2);
    trace_log_push(&a, 11, "ab", 2, true);
    trace_log_push(&a, 12, "cde", 3, false);
    struct trace_token *t = &a.tok[1];
    t->fed = t->sampled = true;
    t->logprob = -0.25f;
    t->ns_total = 1000;
    t->ns[TRACE_ROUTER] = 40;
    struct trace_layer *l = trace_layers(&a, 1);
    l[1].n = 2;
    l[1].experts[0] = 5;
    l[1].experts[1] = 2;
    l[1].weights[0] = 0.7f;
    l[1].cold = 2;

    trace_log_push(&b, 99, "zz", 2, true); /* so offsets differ between the logs */
    CHECK_INT_EQ(trace_log_copy_from(&b, &a, 1), 1);
    const struct trace_token *u = &b.tok[1];
    CHECK_INT_EQ(u->token, 12);
    CHECK_INT_EQ(u->pos, 1);
    CHECK(u->fed && u->sampled && !u->prompt);
    CHECK_NEAR(u->logprob, -0.25, 0);
    CHECK_INT_EQ(u->ns_total, 1000);
    CHECK_INT_EQ(u->ns[TRACE_ROUTER], 40);
    CHECK_INT_EQ(u->piece_len, 3);
    CHECK(memcmp(trace_piece(&b, 1), "cde", 3) == 0);
    CHECK_INT_EQ(trace_layers(&b, 1)[1].experts[0], 5);
    CHECK_INT_EQ(trace_layers(&b, 1)[1].cold, 2);
    CHECK_INT_EQ(trace_log_copy_from(&c, &a, 0), -1); /* other shape */
    CHECK_INT_EQ(trace_log_copy_from(&b, &a, 5), -1); /* no such record */
    trace_log_free(&a);
    trace_log_free(&b);
    trace_log_free(&c);
}

/* One JSON line of record i, parsed. */
static cJSON *json_of(const struct trace_log *log, size_t i)
{
    size_t need = trace_json_line(log, i, NULL, 0);
    char *buf = malloc(need + 1);
    size_t got = trace_json_line(log, i, buf, need + 1);
    CHECK_INT_EQ(got, need);
    CHECK_INT_EQ(strlen(buf), need);
    CHECK(strchr(buf, '\n') == NULL); /* one line */
    cJSON *j = cJSON_Parse(buf);
    CHECK_MSG(j != NULL, "not JSON: %s", buf);
    free(buf);
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(cJSON_IsNumber(v), "%s is not a number", key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

TEST(trace_json_line_round_trip)
{
    struct trace_log log;
    trace_log_init(&log, 3, 8, 2);
    /* A prompt token fed through with layer 0 dense, a generated one fed, one not fed. */
    trace_log_push(&log, 1, "Hello", 5, true);
    trace_log_push(&log, 2, " w\"o\\r\n", 7, false);
    trace_log_push(&log, 3, "\xe4\xb8\xad\xff", 4, false); /* U+4E2D, then a stray byte */

    struct trace_token *t0 = &log.tok[0];
    t0->fed = true;
    t0->ns_total = 123456789012ULL;
    t0->ns[TRACE_ATTN] = 1;
    t0->ns[TRACE_ROUTER] = 2;
    t0->ns[TRACE_EXPERTS] = 3;
    t0->ns[TRACE_OTHER] = 4;
    struct trace_layer *l0 = trace_layers(&log, 0);
    for (int l = 1; l < 3; l++) {
        l0[l].n = 2;
        l0[l].experts[0] = (uint16_t)(l + 4);
        l0[l].experts[1] = 1;
        l0[l].weights[0] = 0.625f;
        l0[l].weights[1] = 0.375f;
        l0[l].entropy = 1.5f + (float)l;
    }
    l0[2].cold = 3; /* both experts of layer 2 cold */

    struct trace_token *t1 = &log.tok[1];
    t1->fed = t1->sampled = true;
    t1->logprob = -1.25f;
    for (int k = 0; k < TRACE_TOP; k++) {
        t1->top_id[k] = 10 + k;
        t1->top_logprob[k] = -0.5f * (float)(k + 1);
    }
    trace_layers(&log, 1)[0].n = 2; /* cold bit 1 only */
    trace_layers(&log, 1)[0].experts[0] = 7;
    trace_layers(&log, 1)[0].experts[1] = 3;
    trace_layers(&log, 1)[0].cold = 2;

    log.tok[2].sampled = true;
    log.tok[2].logprob = -3.0f;
    for (int k = 0; k < TRACE_TOP; k++) {
        log.tok[2].top_id[k] = k < 2 ? k : -1; /* a 2-token vocabulary */
        log.tok[2].top_logprob[k] = k < 2 ? -0.693147f : -INFINITY;
    }

    cJSON *j = json_of(&log, 0);
    if (j) {
        CHECK_INT_EQ(num(j, "pos"), 0);
        CHECK_INT_EQ(num(j, "token"), 1);
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "piece")), "Hello");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "prompt")));
        const cJSON *layers = cJSON_GetObjectItem(j, "layers");
        CHECK(cJSON_IsArray(layers) && cJSON_GetArraySize(layers) == 3);
        CHECK(cJSON_IsNull(cJSON_GetArrayItem(layers, 0)));
        const cJSON *l2 = cJSON_GetArrayItem(layers, 2);
        const cJSON *ex = cJSON_GetObjectItem(l2, "experts");
        CHECK(cJSON_GetArraySize(ex) == 2);
        CHECK_INT_EQ(cJSON_GetArrayItem(ex, 0)->valueint, 6);
        CHECK_INT_EQ(cJSON_GetArrayItem(ex, 1)->valueint, 1);
        const cJSON *w = cJSON_GetObjectItem(l2, "weights");
        CHECK_NEAR(cJSON_GetArrayItem(w, 0)->valuedouble, 0.625, 1e-6);
        CHECK_NEAR(cJSON_GetArrayItem(w, 1)->valuedouble, 0.375, 1e-6);
        CHECK_NEAR(num(l2, "entropy"), 3.5, 1e-6);
        const cJSON *cold = cJSON_GetObjectItem(l2, "cold");
        CHECK(cJSON_GetArraySize(cold) == 2);
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 1), "cold") == NULL);
        CHECK(cJSON_GetObjectItem(j, "logprob") == NULL);
        CHECK(cJSON_GetObjectItem(j, "top") == NULL);
        const cJSON *ns = cJSON_GetObjectItem(j, "ns");
        CHECK_NEAR(num(ns, "total"), 123456789012.0, 0);
        CHECK_INT_EQ(num(ns, "attn"), 1);
        CHECK_INT_EQ(num(ns, "router"), 2);
        CHECK_INT_EQ(num(ns, "experts"), 3);
        CHECK_INT_EQ(num(ns, "other"), 4);
        cJSON_Delete(j);
    }

    j = json_of(&log, 1);
    if (j) {
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "piece")), " w\"o\\r\n");
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "prompt")));
        CHECK_NEAR(num(j, "logprob"), -1.25, 1e-6);
        const cJSON *top = cJSON_GetObjectItem(j, "top");
        CHECK_INT_EQ(cJSON_GetArraySize(top), TRACE_TOP);
        for (int k = 0; k < TRACE_TOP && k < cJSON_GetArraySize(top); k++) {
            const cJSON *pair = cJSON_GetArrayItem(top, k);
            CHECK_INT_EQ(cJSON_GetArrayItem(pair, 0)->valueint, 10 + k);
            CHECK_NEAR(cJSON_GetArrayItem(pair, 1)->valuedouble, -0.5 * (k + 1), 1e-6);
        }
        const cJSON *l0j = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 0);
        const cJSON *cold = cJSON_GetObjectItem(l0j, "cold");
        CHECK(cJSON_GetArraySize(cold) == 1 && cJSON_GetArrayItem(cold, 0)->valueint == 3);
        cJSON_Delete(j);
    }

    j = json_of(&log, 2);
    if (j) {
        /* Valid UTF-8 kept as is, the stray byte as the four characters \xFF. */
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "piece")),
                     "\xe4\xb8\xad\\xFF");
        const cJSON *layers = cJSON_GetObjectItem(j, "layers");
        CHECK_INT_EQ(cJSON_GetArraySize(layers), 3);
        for (int l = 0; l < 3; l++) /* not fed: every layer null */
            CHECK(cJSON_IsNull(cJSON_GetArrayItem(layers, l)));
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "top")), 2);
        CHECK_INT_EQ(num(cJSON_GetObjectItem(j, "ns"), "total"), 0);
        cJSON_Delete(j);
    }
    trace_log_free(&log);
}

TEST(trace_json_line_truncates_like_snprintf)
{
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    trace_log_push(&log, 5, "abc", 3, true);
    char full[512], small[20];
    size_t n = trace_json_line(&log, 0, full, sizeof full);
    CHECK(n > 20 && n < sizeof full);
    size_t m = trace_json_line(&log, 0, small, sizeof small);
    CHECK_INT_EQ(m, n);
    CHECK_INT_EQ(strlen(small), sizeof small - 1);
    CHECK(memcmp(small, full, sizeof small - 1) == 0);
    CHECK_INT_EQ(trace_json_line(&log, 3, full, sizeof full), 0); /* no such record */
    trace_log_free(&log);
}

TEST(trace_json_piece_escapes_controls_and_bad_utf8)
{
    struct trace_log log;
    trace_log_init(&log, 0, 0, 0);
    /* ESC, BEL, an overlong '/', a surrogate, a truncated 3-byte sequence */
    const char piece[] = "\x1b[1m\x07\xc0\xaf\xed\xa0\x80\xe2\x82";
    trace_log_push(&log, 0, piece, sizeof piece - 1, false);
    cJSON *j = json_of(&log, 0);
    if (j) {
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "piece")),
                     "\x1b[1m\x07\\xC0\\xAF\\xED\\xA0\\x80\\xE2\\x82");
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "layers")), 0);
        cJSON_Delete(j);
    }
    trace_log_free(&log);
}

/* ---- a real run, written as JSON lines, against llama.cpp's recorded run ---- */

#include "engine.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = 0;
    fclose(f);
    return buf;
}

/* Compares with models/qwen2moe-tiny-f32.plain.json: the JSON lines of a greedy run carry the
 * reference's prompt tokens, its experts at every layer it computed, its greedy tokens, and
 * top-5 ids whose log-probability gaps equal the reference's logit gaps (log-softmax only
 * shifts logits by a constant). */
TEST(trace_json_of_a_real_run_matches_fixture)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.plain.json", fx);
    char *text = slurp(path);
    cJSON *ref = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!ref) {
        test_skip("cannot read %s", path);
        return;
    }
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.n_ctx = 128;
    ep.sampler.temp = 0;
    ep.trace = true;
    char err[512];
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e) {
        cJSON_Delete(ref);
        return;
    }
    const cJSON *prompt = cJSON_GetObjectItem(ref, "prompt");
    const cJSON *ptoks = cJSON_GetObjectItem(ref, "prompt_tokens");
    const cJSON *steps = cJSON_GetObjectItem(ref, "steps");
    const struct model_desc *d = engine_desc(e);
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    int32_t toks[128];
    const char *ptext = cJSON_GetStringValue(prompt);
    int n = engine_tokenize(e, ptext, strlen(ptext), true, false, toks, 128, err, sizeof err);
    CHECK_INT_EQ(n, cJSON_GetArraySize(ptoks));
    char piece[256];
    for (int i = 0; i < n; i++) {
        size_t len = engine_token_piece(e, toks[i], piece, sizeof piece);
        trace_log_push(&log, toks[i], piece, len < sizeof piece ? len : sizeof piece, true);
    }
    CHECK_INT_EQ(engine_eval(e, &log, err, sizeof err), 0);
    for (int g = 0; g < 6; g++) {
        CHECK(engine_sample(e, &log, err, sizeof err) >= 0);
        if (g < 5)
            CHECK_INT_EQ(engine_eval(e, &log, err, sizeof err), 0);
    }
    int experts_checked = 0, expert_diffs = 0, gens = 0;
    for (size_t i = 0; i < log.n; i++) {
        cJSON *j = json_of(&log, i);
        if (!j)
            continue;
        const cJSON *step = cJSON_GetArrayItem(steps, (int)i);
        CHECK_INT_EQ(num(j, "pos"), i);
        if (i < (size_t)n)
            CHECK_INT_EQ(num(j, "token"), cJSON_GetArrayItem(ptoks, (int)i)->valueint);
        /* layers of every fed record against the reference's computed ones */
        const cJSON *layers = cJSON_GetObjectItem(j, "layers");
        CHECK_INT_EQ(cJSON_GetArraySize(layers), d->n_layers);
        const cJSON *rl = step ? cJSON_GetObjectItem(step, "layers") : NULL;
        for (int l = 0; rl && l < d->n_layers; l++) {
            const cJSON *ours = cJSON_GetArrayItem(layers, l);
            const cJSON *theirs = cJSON_GetArrayItem(rl, l);
            if (cJSON_IsNull(theirs) || i + 1 == log.n)
                continue;
            const cJSON *a = cJSON_GetObjectItem(ours, "experts");
            const cJSON *b = cJSON_GetObjectItem(theirs, "experts");
            experts_checked++;
            bool same = cJSON_GetArraySize(a) == cJSON_GetArraySize(b);
            for (int k = 0; same && k < cJSON_GetArraySize(b); k++)
                same = cJSON_GetArrayItem(a, k)->valueint == cJSON_GetArrayItem(b, k)->valueint;
            expert_diffs += !same;
        }
        /* a generated record: its token was the reference's `next` one step earlier */
        if (i >= (size_t)n) {
            gens++;
            const cJSON *prev = cJSON_GetArrayItem(steps, (int)i - 1);
            CHECK_INT_EQ(num(j, "token"), num(prev, "next"));
            const cJSON *top = cJSON_GetObjectItem(j, "top");
            const cJSON *rtop = cJSON_GetObjectItem(prev, "top");
            CHECK_INT_EQ(cJSON_GetArraySize(top), 5);
            double lp0 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble;
            double rl0 = cJSON_GetArrayItem(cJSON_GetArrayItem(rtop, 0), 1)->valuedouble;
            CHECK_NEAR(num(j, "logprob"), lp0, 1e-6);
            for (int k = 0; k < 5 && k < cJSON_GetArraySize(top); k++) {
                const cJSON *o = cJSON_GetArrayItem(top, k), *r = cJSON_GetArrayItem(rtop, k);
                CHECK_INT_EQ(cJSON_GetArrayItem(o, 0)->valueint,
                             cJSON_GetArrayItem(r, 0)->valueint);
                /* The F32 bound, a relative error under 1e-3 on each logit, on
                 * the gap between two of them. */
                double rk = cJSON_GetArrayItem(r, 1)->valuedouble;
                CHECK_NEAR(cJSON_GetArrayItem(o, 1)->valuedouble - lp0, rk - rl0,
                           1e-3 * (fabs(rk) + fabs(rl0)));
            }
        }
        cJSON_Delete(j);
    }
    printf("  %d generated records, %d layer entries compared, %d expert differences\n", gens,
           experts_checked, expert_diffs);
    CHECK_INT_EQ(gens, 6);
    /* 24 prompt rows x 4 layers, less the 23 last-layer entries the reference skipped,
     * plus 5 fed generated rows x 4 = 93 */
    CHECK_INT_EQ(experts_checked, 93);
    CHECK_INT_EQ(expert_diffs, 0);
    trace_log_free(&log);
    engine_close(e);
    cJSON_Delete(ref);
}
