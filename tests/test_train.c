/* tests/test_train.c: the trainer as a whole (tools/train/trainer.h): its composed
 * gradient against finite differences, and a short run that must lower the loss.
 * The per-layer float64 checks are in test_train_grad.c. */
#include <stdbool.h>
#include <stdlib.h>

#include "../tools/train/trainer.h"
#include "test.h"

static const struct train_config tiny = {
    .n_layers = 2, .d_model = 16, .n_heads = 4, .n_kv_heads = 2, .head_dim = 4,
    .n_experts = 4, .n_experts_used = 2, .d_ff = 12, .n_ctx = 8,
    .rope_base = 10000, .norm_eps = 1e-5f, .aux_alpha = 0.01f,
};

static void tiny_batch(int32_t *tok, int32_t *tgt, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((seed >> 33) % 64) + 32;
        tgt[i] = (int32_t)((seed >> 40) % 64) + 32;
    }
}

/* Central differences of the float forward at 200 random parameters against m->grads;
 * replay: the same dropout masks for every forward (dropout_rng reset to 41). Returns the
 * parameters that disagree; *zero counts the zero gradients among those checked. */
static int gradient_disagreements(struct train_model *m, const int32_t *tok, const int32_t *tgt,
                                  uint64_t s, bool replay, int *zero)
{
    float *grad = malloc(sizeof(float) * m->n_params);
    memcpy(grad, m->grads, sizeof(float) * m->n_params);
    int bad = 0;
    *zero = 0;
    for (int n = 0; n < 200; n++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t i = (size_t)(s >> 20) % m->n_params;
        float keep = m->params[i], h = 1e-2f;
        double ap, am;
        m->params[i] = keep + h;
        if (replay)
            m->dropout_rng = 41;
        double lp = train_forward(m, tok, tgt, 2, &ap, NULL) + ap;
        m->params[i] = keep - h;
        if (replay)
            m->dropout_rng = 41;
        double lm = train_forward(m, tok, tgt, 2, &am, NULL) + am;
        m->params[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        *zero += grad[i] == 0;
        if (fabs(num - grad[i]) > 2e-3 + 0.05 * fabs(num)) {
            if (bad++ < 5)
                test_fail(__FILE__, __LINE__, "parameter %zu: finite difference %.6f, backward %.6f",
                          i, num, (double)grad[i]);
        }
    }
    free(grad);
    return bad;
}

/* The composed backward (residuals, expert grouping, the balance term) against central
 * differences of the float forward. In float the difference quotient carries noise of
 * about eps * loss / h = 6e-7 * 6 / 1e-2 = 4e-4, so the bound is 2e-3 + 5% relative. */
TEST(train_model_gradient_matches_finite_differences)
{
    struct train_model m;
    char err[256];
    CHECK_INT_EQ(train_model_init(&m, &tiny, 3, 1, err, sizeof err), 0);
    /* Larger weights than the real initialisation, so every path carries gradient. */
    for (size_t i = 0; i < m.n_params; i++)
        if (m.params[i] != 1.0f)
            m.params[i] *= 10;
    int32_t tok[16], tgt[16];
    tiny_batch(tok, tgt, 16, 9);
    double aux;
    train_forward(&m, tok, tgt, 2, &aux, NULL);
    train_backward(&m);
    int zero;
    int bad = gradient_disagreements(&m, tok, tgt, 77, false, &zero);
    /* A top-k switch inside +-h can make one sample disagree; more than 2 is a bug. */
    CHECK_MSG(bad <= 2, "%d of 200 parameters disagree", bad);
    train_model_free(&m);
}

/* 50 steps on a repeated pattern: the loss must fall well below its start. */
TEST(train_smoke_50_steps_lower_the_loss)
{
    struct train_model m;
    char err[256];
    CHECK_INT_EQ(train_model_init(&m, &tiny, 5, 2, err, sizeof err), 0);
    const char *text = "to be or not to be, that is the question. ";
    size_t len = strlen(text);
    int32_t tok[4 * 8], tgt[4 * 8];
    double first = 0, last = 0;
    for (int step = 1; step <= 50; step++) {
        for (int sq = 0; sq < 4; sq++)
            for (int t = 0; t < 8; t++) {
                size_t at = (size_t)(step * 7 + sq * 11 + t) % len;
                tok[sq * 8 + t] = (unsigned char)text[at];
                tgt[sq * 8 + t] = (unsigned char)text[(at + 1) % len];
            }
        double loss = train_forward(&m, tok, tgt, 4, NULL, NULL);
        train_backward(&m);
        train_adamw_step(&m, 1e-2f, 0.9f, 0.99f, 0.0f, 1.0f, step);
        if (step == 1)
            first = loss;
        last = loss;
    }
    CHECK_MSG(first > 5.0, "initial loss %.3f should be near ln(257) = 5.55", first);
    CHECK_MSG(last < first - 2.0, "loss went from %.3f to %.3f in 50 steps", first, last);
    train_model_free(&m);
}

/* Residual dropout: with the same masks replayed (dropout_rng reset before each forward) the
 * backward still matches central differences; the masks change the loss; a forward without
 * targets (evaluation) never drops. */
TEST(train_dropout_gradient_matches_finite_differences)
{
    struct train_model m;
    char err[256];
    CHECK_INT_EQ(train_model_init(&m, &tiny, 3, 1, err, sizeof err), 0);
    for (size_t i = 0; i < m.n_params; i++)
        if (m.params[i] != 1.0f)
            m.params[i] *= 4;
    int32_t tok[16], tgt[16];
    tiny_batch(tok, tgt, 16, 9);
    double aux;
    double plain = train_forward(&m, tok, tgt, 2, &aux, NULL);
    m.dropout = 0.3f;
    m.dropout_rng = 41;
    double dropped = train_forward(&m, tok, tgt, 2, &aux, NULL);
    CHECK_MSG(fabs(dropped - plain) > 1e-3, "dropout 0.3 left the loss at %.6f", plain);
    m.dropout_rng = 41;
    double again = train_forward(&m, tok, tgt, 2, &aux, NULL);
    CHECK_MSG(again == dropped, "same masks, loss %.9f then %.9f", dropped, again);
    m.dropout_rng = 41;
    train_forward(&m, tok, tgt, 2, &aux, NULL);
    train_backward(&m);
    int zero;
    int bad = gradient_disagreements(&m, tok, tgt, 78, true, &zero);
    CHECK_MSG(bad <= 2, "%d of 200 parameters disagree", bad);
    CHECK_MSG(zero < 100, "%d of 200 gradients are zero", zero);
    /* Evaluation: no targets, no masks: the logits equal the undropped model's. */
    float *with = malloc(sizeof(float) * 16 * TRAIN_VOCAB), *without = malloc(sizeof(float) * 16 * TRAIN_VOCAB);
    train_forward(&m, tok, NULL, 2, NULL, with);
    m.dropout = 0;
    train_forward(&m, tok, NULL, 2, NULL, without);
    CHECK_MSG(memcmp(with, without, sizeof(float) * 16 * TRAIN_VOCAB) == 0,
              "a forward without targets dropped something");
    free(with);
    free(without);
    train_model_free(&m);
}
