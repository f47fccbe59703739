/* tests/test_train_grad.c: every layer of the trainer (tools/train/nn.h), backward against
 * central finite differences in float64 on tiny shapes. The reference here is the
 * definition of a derivative, not the trainer's own earlier output.
 *
 * For a layer y = f(x, w) and a fixed random r, L = sum(r * y); the analytic gradients of
 * L come from the layer's backward with dY = r, the numeric ones from
 * (L(x + h) - L(x - h)) / 2h with h = 1e-5. They must agree to 1e-6 relative (double
 * rounding of the difference quotient is about 1e-10 here; truncation about h^2). */
#include <stdlib.h>

#include "../tools/train/nn.h"
#include "test.h"

enum { MAXN = 4096 };

static uint64_t grad_rng = 12345;
static double grad_rand(void) /* uniform in [-1, 1) */
{
    grad_rng = grad_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(grad_rng >> 11) / (double)(1ull << 53) * 2 - 1;
}
static void fill(double *x, int n, double scale)
{
    for (int i = 0; i < n; i++)
        x[i] = grad_rand() * scale;
}

typedef double (*loss_fn)(void *ctx);

/* Compares analytic grad[0..n) of the parameter array x with finite differences. Returns the
 * worst relative error. */
static double grad_compare(double *x, const double *grad, int n, loss_fn loss, void *ctx)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double keep = x[i], h = 1e-5;
        x[i] = keep + h;
        double lp = loss(ctx);
        x[i] = keep - h;
        double lm = loss(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2 * h);
        double err = fabs(num - grad[i]) / fmax(1e-3, fabs(num) + fabs(grad[i]));
        if (err > worst)
            worst = err;
    }
    return worst;
}

static double dotr(const double *r, const double *y, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += r[i] * y[i];
    return s;
}

/* ---- linear ---- */
struct lin_ctx {
    double X[3 * 5], W[4 * 5], Y[3 * 4], r[3 * 4];
};
static double lin_loss(void *p)
{
    struct lin_ctx *c = p;
    nn_linear_fwd_d(c->Y, c->X, c->W, 3, 5, 4);
    return dotr(c->r, c->Y, 12);
}
TEST(train_grad_linear)
{
    struct lin_ctx c;
    fill(c.X, 15, 1);
    fill(c.W, 20, 1);
    fill(c.r, 12, 1);
    double dX[15] = { 0 }, dW[20] = { 0 };
    nn_linear_bwd_x_d(dX, c.r, c.W, 3, 5, 4);
    nn_linear_bwd_w_d(dW, c.r, c.X, 3, 5, 4, 0, 4);
    CHECK(grad_compare(c.X, dX, 15, lin_loss, &c) < 1e-6);
    CHECK(grad_compare(c.W, dW, 20, lin_loss, &c) < 1e-6);
}

/* ---- RMSNorm ---- */
struct rms_ctx {
    double X[3 * 6], g[6], Y[18], rstd[3], r[18];
};
static double rms_loss(void *p)
{
    struct rms_ctx *c = p;
    nn_rmsnorm_fwd_d(c->Y, c->rstd, c->X, c->g, 3, 6, 1e-5);
    return dotr(c->r, c->Y, 18);
}
TEST(train_grad_rmsnorm)
{
    struct rms_ctx c;
    fill(c.X, 18, 1);
    fill(c.g, 6, 1);
    fill(c.r, 18, 1);
    rms_loss(&c);
    double dX[18] = { 0 }, dg[6] = { 0 };
    nn_rmsnorm_bwd_d(dX, dg, c.r, c.X, c.g, c.rstd, 3, 6);
    CHECK(grad_compare(c.X, dX, 18, rms_loss, &c) < 1e-6);
    CHECK(grad_compare(c.g, dg, 6, rms_loss, &c) < 1e-6);
}

/* ---- RoPE ---- */
struct rope_ctx {
    double X[3 * 2 * 8], Y[48], r[48];
    int32_t pos[3];
};
static double rope_loss(void *p)
{
    struct rope_ctx *c = p;
    for (int i = 0; i < 48; i++)
        c->Y[i] = c->X[i];
    nn_rope_d(c->Y, c->pos, 3, 2, 8, 10000, 0);
    return dotr(c->r, c->Y, 48);
}
TEST(train_grad_rope)
{
    struct rope_ctx c = { .pos = { 0, 5, 17 } };
    fill(c.X, 48, 1);
    fill(c.r, 48, 1);
    double dX[48];
    for (int i = 0; i < 48; i++)
        dX[i] = c.r[i];
    nn_rope_d(dX, c.pos, 3, 2, 8, 10000, 1);
    CHECK(grad_compare(c.X, dX, 48, rope_loss, &c) < 1e-6);
    /* A rotation keeps lengths: rotating forward then back is the identity. */
    rope_loss(&c);
    nn_rope_d(c.Y, c.pos, 3, 2, 8, 10000, 1);
    for (int i = 0; i < 48; i++)
        CHECK_NEAR(c.Y[i], c.X[i], 1e-12);
}

/* ---- causal attention with GQA (4 query heads over 2 kv heads) ---- */
enum { AN = 5, AH = 4, AKV = 2, AD = 4 };
struct attn_ctx {
    double Q[AN * AH * AD], K[AN * AKV * AD], V[AN * AKV * AD];
    double O[AN * AH * AD], P[AH * AN * AN], r[AN * AH * AD];
};
static double attn_loss(void *p)
{
    struct attn_ctx *c = p;
    nn_attn_fwd_d(c->O, c->P, c->Q, c->K, c->V, AN, AH, AKV, AD);
    return dotr(c->r, c->O, AN * AH * AD);
}
TEST(train_grad_attention)
{
    struct attn_ctx c;
    fill(c.Q, AN * AH * AD, 1);
    fill(c.K, AN * AKV * AD, 1);
    fill(c.V, AN * AKV * AD, 1);
    fill(c.r, AN * AH * AD, 1);
    attn_loss(&c);
    double dQ[AN * AH * AD] = { 0 }, dK[AN * AKV * AD] = { 0 }, dV[AN * AKV * AD] = { 0 };
    nn_attn_bwd_d(dQ, dK, dV, c.r, c.P, c.Q, c.K, c.V, AN, AH, AKV, AD);
    CHECK(grad_compare(c.Q, dQ, AN * AH * AD, attn_loss, &c) < 1e-6);
    CHECK(grad_compare(c.K, dK, AN * AKV * AD, attn_loss, &c) < 1e-6);
    CHECK(grad_compare(c.V, dV, AN * AKV * AD, attn_loss, &c) < 1e-6);
    /* Causal: the first token's output is exactly its own value vector. */
    for (int h = 0; h < AH; h++)
        for (int e = 0; e < AD; e++)
            CHECK_NEAR(c.O[h * AD + e], c.V[(h / 2) * AD + e], 1e-12);
}

/* ---- SwiGLU expert: down(silu(gate x) * up x) ---- */
enum { EN = 3, ED = 4, EF = 6 };
struct exp_ctx {
    double X[EN * ED], Wg[EF * ED], Wu[EF * ED], Wd[ED * EF];
    double G[EN * EF], U[EN * EF], A[EN * EF], Y[EN * ED], r[EN * ED];
};
static double exp_loss(void *p)
{
    struct exp_ctx *c = p;
    nn_linear_fwd_d(c->G, c->X, c->Wg, EN, ED, EF);
    nn_linear_fwd_d(c->U, c->X, c->Wu, EN, ED, EF);
    nn_swiglu_fwd_d(c->A, c->G, c->U, EN * EF);
    nn_linear_fwd_d(c->Y, c->A, c->Wd, EN, EF, ED);
    return dotr(c->r, c->Y, EN * ED);
}
TEST(train_grad_expert_swiglu)
{
    struct exp_ctx c;
    fill(c.X, EN * ED, 1);
    fill(c.Wg, EF * ED, 1);
    fill(c.Wu, EF * ED, 1);
    fill(c.Wd, ED * EF, 1);
    fill(c.r, EN * ED, 1);
    exp_loss(&c);
    double dA[EN * EF] = { 0 }, dG[EN * EF] = { 0 }, dU[EN * EF] = { 0 }, dX[EN * ED] = { 0 };
    double dWg[EF * ED] = { 0 }, dWu[EF * ED] = { 0 }, dWd[ED * EF] = { 0 };
    nn_linear_bwd_x_d(dA, c.r, c.Wd, EN, EF, ED);
    nn_linear_bwd_w_d(dWd, c.r, c.A, EN, EF, ED, 0, ED);
    nn_swiglu_bwd_d(dG, dU, dA, c.G, c.U, EN * EF);
    nn_linear_bwd_x_d(dX, dG, c.Wg, EN, ED, EF);
    nn_linear_bwd_x_d(dX, dU, c.Wu, EN, ED, EF);
    nn_linear_bwd_w_d(dWg, dG, c.X, EN, ED, EF, 0, EF);
    nn_linear_bwd_w_d(dWu, dU, c.X, EN, ED, EF, 0, EF);
    CHECK(grad_compare(c.X, dX, EN * ED, exp_loss, &c) < 1e-6);
    CHECK(grad_compare(c.Wg, dWg, EF * ED, exp_loss, &c) < 1e-6);
    CHECK(grad_compare(c.Wu, dWu, EF * ED, exp_loss, &c) < 1e-6);
    CHECK(grad_compare(c.Wd, dWd, ED * EF, exp_loss, &c) < 1e-6);
}

/* ---- router: softmax, top-k, renormalised weights, plus a direct term on the probs (the
 * balance loss) ---- */
enum { RE = 8, RK = 3 };
struct router_ctx {
    double logits[RE], probs[RE], w[RK], rw[RK], rp[RE];
    int32_t idx[RK];
};
static double router_loss(void *p)
{
    struct router_ctx *c = p;
    nn_router_fwd_d(c->probs, c->idx, c->w, c->logits, RE, RK);
    return dotr(c->rw, c->w, RK) + dotr(c->rp, c->probs, RE);
}
TEST(train_grad_router_topk)
{
    struct router_ctx c;
    /* Scores far apart, so a step of h never changes which experts are chosen. */
    for (int e = 0; e < RE; e++)
        c.logits[e] = 0.5 * ((e * 5) % RE) + 0.1 * grad_rand();
    fill(c.rw, RK, 1);
    fill(c.rp, RE, 1);
    router_loss(&c);
    CHECK_INT_EQ(c.idx[0], 3); /* (3 * 5) % 8 = 7 is the largest score */
    double s = 0;
    for (int r = 0; r < RK; r++)
        s += c.w[r];
    CHECK_NEAR(s, 1, 1e-12);
    double dl[RE] = { 0 };
    nn_router_bwd_d(dl, c.rw, c.rp, c.probs, c.idx, c.w, RE, RK);
    CHECK(grad_compare(c.logits, dl, RE, router_loss, &c) < 1e-6);
}

/* ---- the loss: cross-entropy over the vocabulary ---- */
struct xent_ctx {
    double logits[3 * 7], d[21];
    int32_t tgt[3];
};
static double xent_loss(void *p)
{
    struct xent_ctx *c = p;
    return nn_xent_d(c->d, c->logits, c->tgt, 3, 7, 3) / 3;
}
TEST(train_grad_cross_entropy)
{
    struct xent_ctx c = { .tgt = { 0, 6, 3 } };
    fill(c.logits, 21, 2);
    xent_loss(&c);
    double g[21];
    for (int i = 0; i < 21; i++)
        g[i] = c.d[i];
    CHECK(grad_compare(c.logits, g, 21, xent_loss, &c) < 1e-6);
    /* Uniform logits cost ln(V) per row. */
    for (int i = 0; i < 21; i++)
        c.logits[i] = 0.25;
    CHECK_NEAR(xent_loss(&c), log(7.0), 1e-12);
}
