/* tests/test_train_engine.c: what the trainer writes is what the engine runs. The trainer's
 * own forward logits must equal the engine's on the same weights (the engine keeps K and V
 * in F16 as llama.cpp does, so they agree to that rounding, not to the last bit), and a
 * briefly trained model loads and generates through the normal engine API. */
#include <stdlib.h>

#include "../tools/train/trainer.h"
#include "engine.h"
#include "test.h"
#include "trace.h"

static const struct train_config small = {
    .n_layers = 2, .d_model = 32, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
    .n_experts = 4, .n_experts_used = 2, .d_ff = 24, .n_ctx = 16,
    .rope_base = 10000, .norm_eps = 1e-5f, .aux_alpha = 0.01f,
};

static struct engine *open_saved(struct train_model *m, const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", test_tmp_dir(), name);
    if (train_save_gguf(m, path, "test", err, sizeof err) != 0) {
        test_fail(__FILE__, __LINE__, "save: %s", err);
        return NULL;
    }
    struct engine_params p;
    engine_params_default(&p);
    p.model_path = path;
    p.n_threads = 1;
    p.sampler.temp = 0;
    struct engine *e = engine_open(&p, err, sizeof err);
    if (!e)
        test_fail(__FILE__, __LINE__, "engine_open: %s", err);
    return e;
}

TEST(train_logits_equal_the_engines)
{
    struct train_model m;
    char err[256];
    CHECK_INT_EQ(train_model_init(&m, &small, 11, 1, err, sizeof err), 0);
    for (size_t i = 0; i < m.n_params; i++) /* beyond init scale: routing that matters */
        if (m.params[i] != 1.0f)
            m.params[i] *= 8;
    const char *text = "Shall I compare ";
    int32_t tok[16];
    for (int t = 0; t < 16; t++)
        tok[t] = (unsigned char)text[t];
    float *ref = malloc(sizeof(float) * 16 * TRAIN_VOCAB);
    train_forward(&m, tok, NULL, 1, NULL, ref);

    struct engine *e = open_saved(&m, "equiv.gguf");
    if (!e) {
        free(ref);
        train_model_free(&m);
        return;
    }
    const struct model_desc *d = engine_desc(e);
    CHECK_STR_EQ(d->arch, "llama");
    CHECK_INT_EQ(d->n_experts, 4);
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    double worst = 0;
    int argmax_same = 0;
    for (int t = 0; t < 16; t++) {
        trace_log_push(&log, tok[t], text + t, 1, true);
        CHECK_INT_EQ(engine_eval(e, &log, err, sizeof err), 0);
        const float *got = engine_logits(e);
        const float *want = ref + (size_t)t * TRAIN_VOCAB;
        float scale = 0;
        int ag = 0, aw = 0;
        for (int v = 0; v < TRAIN_VOCAB; v++) {
            scale = fmaxf(scale, fabsf(want[v]));
            if (got[v] > got[ag])
                ag = v;
            if (want[v] > want[aw])
                aw = v;
        }
        for (int v = 0; v < TRAIN_VOCAB; v++)
            worst = fmax(worst, fabs(got[v] - want[v]) / scale);
        argmax_same += ag == aw;
    }
    /* F16 rounding of K and V (2^-11 relative) through two layers: 2e-3 of the largest
     * logit is about four times that. */
    CHECK_MSG(worst < 2e-3, "largest logit difference %.2e of the largest logit", worst);
    printf("  trainer vs engine: largest logit difference %.2e of the largest logit\n", worst);
    CHECK_INT_EQ(argmax_same, 16);
    trace_log_free(&log);
    engine_close(e);
    free(ref);
    train_model_free(&m);
}

TEST(train_smoke_model_generates_through_the_engine)
{
    struct train_model m;
    char err[256];
    CHECK_INT_EQ(train_model_init(&m, &small, 5, 2, err, sizeof err), 0);
    const char *text = "abcdefghijklmnopqrstuvwxyz";
    int32_t tok[4 * 16], tgt[4 * 16];
    for (int step = 1; step <= 50; step++) {
        for (int s = 0; s < 4; s++)
            for (int t = 0; t < 16; t++) {
                int at = (step + s * 5 + t) % 26;
                tok[s * 16 + t] = (unsigned char)text[at];
                tgt[s * 16 + t] = (unsigned char)text[(at + 1) % 26];
            }
        train_forward(&m, tok, tgt, 4, NULL, NULL);
        train_backward(&m);
        train_adamw_step(&m, 1e-2f, 0.9f, 0.99f, 0.0f, 1.0f, step);
    }
    struct engine *e = open_saved(&m, "smoke.gguf");
    if (!e) {
        train_model_free(&m);
        return;
    }
    const struct model_desc *d = engine_desc(e);
    int32_t ids[16];
    int n = engine_tokenize(e, "abcdef", 6, true, false, ids, 16, err, sizeof err);
    CHECK_INT_EQ(n, 6); /* byte tokens, no BOS (add_bos_token is false) */
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    for (int i = 0; i < n; i++)
        trace_log_push(&log, ids[i], "", 0, true);
    char out[16] = { 0 };
    for (int i = 0; i < 6 && engine_eval(e, &log, err, sizeof err) == 0; i++) {
        long at = engine_sample(e, &log, err, sizeof err);
        CHECK(at >= 0);
        if (at < 0)
            break;
        out[i] = (char)log.tok[at].token;
        CHECK(log.layer[(size_t)(at - 1) * (size_t)d->n_layers].n == 2);
    }
    /* The alphabet continues after "abcdef". */
    CHECK_STR_EQ(out, "ghijkl");
    trace_log_free(&log);
    engine_close(e);
    train_model_free(&m);
}
