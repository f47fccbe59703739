/* tests/test_context_shift.c: the engine's context shift (engine.h). A shifted context must
 * give what the model computes for the tokens it now holds, so each check compares the
 * shifted engine with a fresh one fed those tokens from scratch. Models: the qwen2moe and
 * mixtral fixtures of ../shared/fixtures/models (skipped without them). */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static struct engine *cs_open(const char *file, int n_ctx, bool shift, int n_keep)
{
    const char *fx = test_fixtures_dir();
    if (!fx)
        return NULL;
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/models/%s", fx, file);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.n_ctx = n_ctx;
    ep.context_shift = shift;
    ep.n_keep = n_keep;
    ep.sampler.temp = 0;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    return e;
}

static void cs_log_init(struct trace_log *log, const struct engine *e)
{
    const struct model_desc *d = engine_desc(e);
    trace_log_init(log, d->n_layers, d->n_experts, d->n_experts_used);
}

/* Largest difference between the two engines' last logits, relative to the largest logit. */
static double cs_logits_diff(const struct engine *a, const struct engine *b)
{
    const float *la = engine_logits(a), *lb = engine_logits(b);
    if (!la || !lb)
        return INFINITY;
    int n = engine_desc(a)->n_vocab;
    double diff = 0, scale = 1e-9;
    for (int i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)la[i] - lb[i]));
        scale = fmax(scale, fabs((double)la[i]));
    }
    return diff / scale;
}

/* A fresh engine fed toks[0..n) as one prompt: its last logits are the reference. */
static struct engine *cs_reference(const char *file, int n_ctx, const int32_t *toks, int n)
{
    struct engine *r = cs_open(file, n_ctx, false, 0);
    if (!r)
        return NULL;
    struct trace_log log;
    cs_log_init(&log, r);
    for (int i = 0; i < n; i++)
        trace_log_push(&log, toks[i], "", 0, true);
    char err[512];
    CHECK_MSG(engine_eval(r, &log, err, sizeof err) == 0, "%s", err);
    trace_log_free(&log);
    return r;
}

/* The tolerance: the same positions computed in other batch shapes round differently in
 * the last bits (one row takes the per-row dot product, several rows the tiled one, as in
 * llama.cpp); a cache left unshifted or rotated wrongly is off by whole units. */
#define CS_TOL 1e-3

TEST(context_shift_keeps_the_head_and_recomputes_the_tail)
{
    const char *model = "qwen2moe-tiny-f32.gguf";
    struct engine *e = cs_open(model, 16, true, 3);
    if (!e) {
        test_skip("no fixtures");
        return;
    }
    char err[512];
    struct trace_log log;
    cs_log_init(&log, e);
    int32_t toks[17];
    for (int i = 0; i < 16; i++) {
        toks[i] = 40 + 7 * i;
        trace_log_push(&log, toks[i], "", 0, true);
    }
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    CHECK_INT_EQ(engine_n_past(e), 16);
    long idx = engine_sample(e, &log, err, sizeof err);
    CHECK_INT_EQ(idx, 16);
    /* 16 + 1 > 16: keep 3, drop half of the other 13 (6), evaluate 7 again, then the new. */
    CHECK_MSG(engine_eval(e, &log, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(log.tok[16].shift_dropped, 6);
    CHECK(log.tok[16].ns_shift > 0);
    CHECK_INT_EQ(log.tok[16].pos, 10);
    CHECK_INT_EQ(log.tok[15].shift_dropped, 0);
    CHECK_INT_EQ(engine_n_past(e), 11);
    CHECK_INT_EQ(engine_n_fed(e), 17);
    /* The context now holds records 0-2 and 9-16. */
    toks[16] = log.tok[16].token;
    int32_t held[11];
    int n = 0;
    for (int i = 0; i < 3; i++)
        held[n++] = toks[i];
    for (int i = 9; i < 17; i++)
        held[n++] = toks[i];
    struct engine *r = cs_reference(model, 16, held, n);
    double d = cs_logits_diff(e, r);
    CHECK_MSG(d < CS_TOL, "shifted logits differ from a fresh context by %g", d);
    /* What not re-evaluating would give (the tail's cache rows left at their old positions)
     * is a different context, so the check above can fail: the full 17 tokens differ. */
    engine_close(r);
    r = cs_reference(model, 17, toks, 17);
    CHECK_MSG(cs_logits_diff(e, r) > 100 * CS_TOL, "the shift changed nothing");
    engine_close(r);
    trace_log_free(&log);
    engine_close(e);
}

/* Sampling far past the context never fails, every record is fed at a position inside it,
 * and the shifts account for every dropped position. */
TEST(context_shift_runs_far_past_the_context)
{
    const char *model = "mixtral-small-q8_0.gguf";
    struct engine *e = cs_open(model, 32, true, 4);
    if (!e) {
        test_skip("no fixtures");
        return;
    }
    char err[512];
    struct trace_log log;
    cs_log_init(&log, e);
    for (int i = 0; i < 8; i++)
        trace_log_push(&log, 100 + i, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    int failures = 0;
    for (int step = 0; step < 300; step++) {
        if (engine_sample(e, &log, err, sizeof err) < 0 ||
            engine_eval(e, &log, err, sizeof err) != 0) {
            failures++;
            break;
        }
    }
    CHECK_MSG(failures == 0, "%s", err);
    CHECK_INT_EQ(log.n, 308);
    size_t dropped = 0, shifts = 0, outside = 0;
    for (size_t i = 0; i < log.n; i++) {
        dropped += log.tok[i].shift_dropped;
        shifts += log.tok[i].shift_dropped > 0;
        outside += log.tok[i].pos < 0 || log.tok[i].pos >= 32 || !log.tok[i].fed;
    }
    CHECK_INT_EQ(outside, 0);
    CHECK(shifts >= 20);
    CHECK_INT_EQ(dropped + (size_t)engine_n_past(e), log.n);
    CHECK_INT_EQ(engine_n_fed(e), log.n);
    /* The head stays: the first 4 records keep positions 0-3 in the cache. */
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(log.tok[i].pos, i);
    trace_log_free(&log);
    engine_close(e);
}

/* Rewinding into the dropped records starts again after the kept ones and feeds the rest
 * once more; rewinding inside the kept tail keeps the shifted cache. */
TEST(context_shift_rewind_across_a_shift)
{
    const char *model = "qwen2moe-tiny-f32.gguf";
    struct engine *e = cs_open(model, 16, true, 2);
    if (!e) {
        test_skip("no fixtures");
        return;
    }
    char err[512];
    struct trace_log log;
    cs_log_init(&log, e);
    int32_t toks[24];
    for (int i = 0; i < 24; i++)
        toks[i] = 30 + 5 * i;
    for (int i = 0; i < 20; i++) {
        trace_log_push(&log, toks[i], "", 0, true);
        CHECK_MSG(engine_eval(e, &log, err, sizeof err) == 0, "%s", err);
    }
    /* One at a time into 16: the 17th shifted (keep 2, drop 7), so records 2-8 are gone. */
    CHECK_INT_EQ(log.tok[16].shift_dropped, 7);
    CHECK_INT_EQ(engine_n_past(e), 13);

    /* Inside the kept tail: record 12 sits at position 5; feeding a new one there is the
     * same as the shifted context plus that token. */
    engine_rewind(e, 12);
    trace_log_truncate(&log, 12);
    CHECK_INT_EQ(engine_n_past(e), 5);
    trace_log_push(&log, toks[21], "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    CHECK_INT_EQ(log.tok[12].pos, 5);
    int32_t held[8] = { toks[0], toks[1], toks[9], toks[10], toks[11], toks[21] };
    struct engine *r = cs_reference(model, 16, held, 6);
    double d = cs_logits_diff(e, r);
    CHECK_MSG(d < CS_TOL, "rewind in the tail: logits differ by %g", d);
    engine_close(r);

    /* Into the dropped records: records 2.. are fed again at their own positions. */
    engine_rewind(e, 5);
    trace_log_truncate(&log, 5);
    CHECK_INT_EQ(engine_n_past(e), 2);
    trace_log_push(&log, toks[22], "", 0, true);
    CHECK_MSG(engine_eval(e, &log, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(engine_n_fed(e), 6);
    CHECK_INT_EQ(log.tok[3].pos, 3);
    CHECK_INT_EQ(log.tok[5].pos, 5);
    int32_t again[6] = { toks[0], toks[1], toks[2], toks[3], toks[4], toks[22] };
    r = cs_reference(model, 16, again, 6);
    d = cs_logits_diff(e, r);
    CHECK_MSG(d < CS_TOL, "rewind into the dropped records: logits differ by %g", d);
    engine_close(r);
    trace_log_free(&log);
    engine_close(e);
}

/* With the shift off a full context is an error that names it; too many new records for
 * the room beside the kept ones is an error with the shift on. */
TEST(context_shift_off_and_too_much_at_once)
{
    struct engine *e = cs_open("qwen2moe-tiny-f32.gguf", 8, false, 0);
    if (!e) {
        test_skip("no fixtures");
        return;
    }
    char err[512];
    struct trace_log log;
    cs_log_init(&log, e);
    for (int i = 0; i < 9; i++)
        trace_log_push(&log, 50 + i, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "more than the context holds"), "message: %s", err);
    trace_log_truncate(&log, 8);
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    trace_log_push(&log, 60, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "context is full"), "message: %s", err);

    engine_set_context_shift(e, true, 6);
    for (int i = 0; i < 3; i++)
        trace_log_push(&log, 61 + i, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "do not fit beside the 6 kept"), "message: %s", err);
    trace_log_truncate(&log, 9);
    CHECK_MSG(engine_eval(e, &log, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(log.tok[8].shift_dropped, 1);
    CHECK_INT_EQ(log.tok[8].pos, 7);
    trace_log_free(&log);
    engine_close(e);
}
