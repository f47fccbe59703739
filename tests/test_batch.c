/* tests/test_batch.c: several sequences decoded together (engine.h's engine_batch) give
 * each sequence exactly what it gets alone.
 *
 * For each model, four prompts of different lengths are run one after the other on one
 * engine (engine_eval / engine_sample, each with its own seeded sampler), then on a second
 * engine through a batch of three slots with continuous joins and leaves: two sequences
 * start together, the third joins two steps later, the fourth takes the first one's slot
 * when it leaves. Every record must be the same bit for bit: the token, the logprob and
 * top alternatives, every layer's experts, weights, entropy and top-1 probability; and the
 * logits each sample was drawn from must be equal as bytes (memcmp). The batched pass runs
 * the sequences' one-token rows through kernels.h with several activation rows at once,
 * where a lone sequence has one: this is the end-to-end check of kernels.h's claim that a
 * row's result does not depend on how many rows share the call (test_kernels checks the
 * kernels pair by pair). Models: every fixture of ../shared/fixtures/models-2026 (MoE
 * families, latent attention, sliding window and sinks, q4_0/q4_K repacked orders, a dense
 * llama) and the shipped default model tools/train/default.gguf. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum { TB_SEQS = 4, TB_SLOTS = 3, TB_GEN = 6, TB_PROMPT = 128 };

static const char *const tb_prompts[TB_SEQS] = {
    "Once upon a time there was a little",
    "The cat",
    "A",
    "In the beginning the committee met on a grey morning to weigh the plan",
};

struct tb_seq {
    int32_t prompt[TB_PROMPT];
    int n_prompt;
    struct sampler_params sp;
    struct trace_log log;
    float *logits;             /* (TB_GEN, n_vocab): what each sample was drawn from */
};

static struct engine *tb_open(const char *path, int n_threads, int n_ctx)
{
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = n_threads;
    ep.n_ctx = n_ctx;
    char err[512];
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    return e;
}

static void tb_log_init(struct trace_log *log, const struct engine *e)
{
    const struct model_desc *d = engine_desc(e);
    trace_log_init(log, d->n_layers, d->n_experts, d->n_experts_used);
}

static void tb_push_prompt(struct trace_log *log, const struct tb_seq *q)
{
    for (int i = 0; i < q->n_prompt; i++)
        trace_log_push(log, q->prompt[i], "", 0, true);
}

/* Sequence q alone on engine e: its prompt, then TB_GEN samples. */
static void tb_alone(struct engine *e, struct tb_seq *q, int n_vocab)
{
    char err[512];
    engine_rewind(e, 0);
    engine_set_sampler(e, &q->sp);
    tb_log_init(&q->log, e);
    tb_push_prompt(&q->log, q);
    for (int g = 0; g < TB_GEN; g++) {
        CHECK_MSG(engine_eval(e, &q->log, err, sizeof err) == 0, "%s", err);
        memcpy(q->logits + (size_t)g * (size_t)n_vocab, engine_logits(e),
               (size_t)n_vocab * sizeof(float));
        CHECK_MSG(engine_sample(e, &q->log, err, sizeof err) >= 0, "%s", err);
    }
}

/* Record by record; returns the differences found (each reported once per kind). */
static int tb_compare(const char *model, int s, const struct trace_log *a,
                      const struct trace_log *b)
{
    int bad = 0;
    if (a->n != b->n) {
        test_fail(__FILE__, __LINE__, "%s sequence %d: %zu records alone, %zu batched", model,
                  s, a->n, b->n);
        return 1;
    }
    for (size_t i = 0; i < a->n && !bad; i++) {
        const struct trace_token *x = &a->tok[i], *y = &b->tok[i];
        if (x->token != y->token || x->fed != y->fed || x->pos != y->pos ||
            x->sampled != y->sampled || memcmp(&x->logprob, &y->logprob, sizeof x->logprob) ||
            memcmp(x->top_id, y->top_id, sizeof x->top_id) ||
            memcmp(x->top_logprob, y->top_logprob, sizeof x->top_logprob)) {
            test_fail(__FILE__, __LINE__, "%s sequence %d record %zu: token %d/%d, logprob "
                      "%.9g/%.9g alone/batched", model, s, i, x->token, y->token,
                      (double)x->logprob, (double)y->logprob);
            bad++;
        }
        for (int il = 0; il < a->n_layers && !bad; il++) {
            const struct trace_layer *p = &trace_layers(a, i)[il], *q = &trace_layers(b, i)[il];
            if (p->n != q->n || memcmp(p->experts, q->experts, p->n * sizeof p->experts[0]) ||
                memcmp(p->weights, q->weights, p->n * sizeof p->weights[0]) ||
                memcmp(&p->entropy, &q->entropy, sizeof p->entropy) ||
                memcmp(&p->top1_prob, &q->top1_prob, sizeof p->top1_prob)) {
                test_fail(__FILE__, __LINE__, "%s sequence %d record %zu layer %d: expert %d "
                          "weight %.9g alone, expert %d weight %.9g batched", model, s, i, il,
                          p->experts[0], (double)p->weights[0], q->experts[0],
                          (double)q->weights[0]);
                bad++;
            }
        }
    }
    return bad;
}

static void tb_model(const char *path, const char *name)
{
    struct engine *alone = tb_open(path, 1, 256);
    struct engine *e = tb_open(path, 2, 256); /* two threads: rows split differently, same sums */
    if (!alone || !e) {
        engine_close(alone);
        engine_close(e);
        return;
    }
    const int n_vocab = engine_desc(e)->n_vocab;
    char err[512];
    struct tb_seq seq[TB_SEQS];
    memset(seq, 0, sizeof seq);
    for (int s = 0; s < TB_SEQS; s++) {
        struct tb_seq *q = &seq[s];
        const char *p = tb_prompts[s];
        q->n_prompt = engine_tokenize(e, p, strlen(p), true, false, q->prompt, TB_PROMPT, err,
                                      sizeof err);
        CHECK_MSG(q->n_prompt > 0, "%s: %s", name, err);
        if (q->n_prompt <= 0) {
            q->n_prompt = 1;
            q->prompt[0] = 1;
        }
        sampler_params_default(&q->sp);
        q->sp.temp = s == 1 ? 0.0f : 0.8f; /* greedy and seeded draws */
        q->sp.seed = 11 + (uint64_t)s;
        q->logits = malloc((size_t)TB_GEN * (size_t)n_vocab * sizeof(float));
        tb_alone(alone, q, n_vocab);
    }

    /* the same four, batched: 0 and 1 at step 0, 2 at step 2, 3 when a slot frees */
    struct engine_batch *b = engine_batch_create(e, TB_SLOTS, err, sizeof err);
    CHECK_MSG(b != NULL, "%s: %s", name, err);
    struct trace_log blog[TB_SEQS];
    int slot[TB_SEQS], done[TB_SEQS] = { 0 }, logits_bad = 0, max_rows = 0, time_bad = 0;
    for (int s = 0; s < TB_SEQS; s++) {
        tb_log_init(&blog[s], e);
        tb_push_prompt(&blog[s], &seq[s]);
        slot[s] = -1;
    }
    for (int step = 0; b && step < 64; step++) {
        for (int s = 0; s < TB_SEQS; s++) {
            bool due = s < 2 || (s == 2 && step >= 2) || (s == 3 && done[0] == TB_GEN);
            if (due && slot[s] < 0 && done[s] == 0) {
                slot[s] = engine_batch_join(b, &blog[s], &seq[s].sp, err, sizeof err);
                CHECK_MSG(slot[s] >= 0, "%s: %s", name, err);
                if (slot[s] < 0)
                    done[s] = TB_GEN;
            }
        }
        if (engine_batch_n_live(b) == 0)
            break;
        struct engine_batch_step st;
        if (engine_batch_step(b, &st, err, sizeof err) != 0) {
            test_fail(__FILE__, __LINE__, "%s step %d: %s", name, step, err);
            break;
        }
        max_rows = st.n_decoded > max_rows ? st.n_decoded : max_rows;
        /* the decode's time (bench's tg tok/s) holds the batched pass, and is 0 without one */
        if (st.n_decoded ? !(st.ns_batched > 0 && st.ns_decode >= st.ns_batched)
                         : st.ns_decode != 0)
            time_bad++;
        for (int s = 0; s < TB_SEQS; s++) {
            if (slot[s] < 0)
                continue;
            const float *l = engine_batch_logits(b, slot[s]);
            const float *want = seq[s].logits + (size_t)done[s] * (size_t)n_vocab;
            if (!l || memcmp(l, want, (size_t)n_vocab * sizeof(float)) != 0)
                logits_bad++;
            if (++done[s] == TB_GEN) {
                engine_batch_leave(b, slot[s]);
                slot[s] = -1;
            }
        }
    }
    CHECK_MSG(logits_bad == 0, "%s: %d of %d samples drawn from logits that differ from "
              "the sequence's alone", name, logits_bad, TB_SEQS * TB_GEN);
    CHECK_MSG(time_bad == 0, "%s: %d steps whose decode time does not hold their batched "
              "pass", name, time_bad);
    CHECK_MSG(max_rows == TB_SLOTS, "%s: the widest batched pass had %d rows, not %d", name,
              max_rows, TB_SLOTS);
    for (int s = 0; s < TB_SEQS; s++) {
        CHECK_MSG(done[s] == TB_GEN, "%s sequence %d: %d samples", name, s, done[s]);
        tb_compare(name, s, &seq[s].log, &blog[s]);
        trace_log_free(&blog[s]);
        trace_log_free(&seq[s].log);
        free(seq[s].logits);
    }
    engine_batch_free(b);
    engine_close(alone);
    engine_close(e);
}

TEST(batch_equals_alone_on_every_fixture)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    static const char *const files[] = {
        "qwen2moe-tiny-f32", "qwen2moe-small-q4_0", "qwen2moe-small-q6_k",
        "mixtral-small-q4_k_m", "mixtral-small-q8_0", "qwen3moe-small-q8_0",
        "olmoe-tiny-f16", "deepseek2-lite-small-q4_k_m", "deepseek2-lite-kvb-small-f16",
        "deepseek2-v3-small-q6_k", "gpt-oss-small-mxfp4", "glm4moe-small-q5_k_m",
        "ernie4_5-moe-small-bf16", "stories260K",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models-2026/%s.gguf", fx, files[i]);
        tb_model(path, files[i]);
    }
}

TEST(batch_equals_alone_on_the_default_model)
{
    tb_model("tools/train/default.gguf", "default");
}

/* What a batch refuses, each with its one line. */
TEST(batch_refusals)
{
    struct engine *e = tb_open("tools/train/default.gguf", 1, 128);
    if (!e)
        return;
    char err[512];
    CHECK(engine_batch_create(e, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "1 to 64 sequences") != NULL);
    struct engine_batch *b = engine_batch_create(e, 1, err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (!b) {
        engine_close(e);
        return;
    }
    CHECK(engine_batch_create(e, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "already has a batch") != NULL);
    struct sampler_params sp;
    sampler_params_default(&sp);
    sp.temp = 0;
    struct trace_log empty, a, c;
    tb_log_init(&empty, e);
    tb_log_init(&a, e);
    tb_log_init(&c, e);
    CHECK(engine_batch_join(b, &empty, &sp, err, sizeof err) < 0);
    CHECK(strstr(err, "prompt records") != NULL);
    trace_log_push(&a, 'a', "", 0, true);
    trace_log_push(&c, 'c', "", 0, true);
    CHECK_INT_EQ(engine_batch_join(b, &a, &sp, err, sizeof err), 0);
    CHECK(engine_batch_join(b, &c, &sp, err, sizeof err) < 0);
    CHECK(strstr(err, "all 1 sequences") != NULL);
    /* a context of 128 positions: the 129th token does not fit */
    int steps = 0;
    while (engine_batch_step(b, NULL, err, sizeof err) == 0 && steps < 200)
        steps++;
    CHECK_INT_EQ(steps, 128);
    CHECK(strstr(err, "sequence 0: the context is full (128 tokens)") != NULL);
    CHECK_INT_EQ(a.n, 129);
    engine_batch_leave(b, 0);
    CHECK_INT_EQ(engine_batch_n_live(b), 0);
    CHECK(engine_batch_logits(b, 0) == NULL);
    /* the engine's own sequence is untouched by the batch */
    CHECK_INT_EQ(engine_n_past(e), 0);
    trace_log_free(&empty);
    trace_log_free(&a);
    trace_log_free(&c);
    engine_batch_free(b);
    engine_close(e);
}
