/* tools/train/trainer.c: the model of trainer.h: parameters, forward, backward, AdamW, and
 * the GGUF it writes. Threads split the rows of every matrix product; attention is split
 * by sequence. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "nn.h"
#include "quant.h"
#include "threads.h"

/* Activations of one forward, kept for backward. N = n_seq * n_ctx tokens. */
struct train_acts {
    int cap_tokens;                  /* N they were allocated for */
    int n_seq, N;
    int32_t *tokens, *targets;       /* (N) */
    struct train_layer_acts {
        float *x_in;                 /* (N, d) residual stream entering the layer */
        float *xn1, *rstd1;          /* (N, d), (N) */
        float *q, *k, *v;            /* (N, d), (N, kvd), (N, kvd): q and k after RoPE */
        float *P;                    /* (n_seq, n_heads, T, T) attention probabilities */
        float *att;                  /* (N, d) attention output before wo */
        float *x_mid;                /* (N, d) after the attention residual */
        float *xn2, *rstd2;          /* (N, d), (N) */
        float *rlogits, *probs;      /* (N, E) */
        int32_t *idx;                /* (N, k) chosen experts, best first */
        float *w;                    /* (N, k) renormalised gate weights */
        int32_t *slot_of;            /* (N, k) row of (token, rank) in the grouped arrays */
        int32_t *slot_tok;           /* (N * k) token of each grouped row */
        int32_t *e_off;              /* (E + 1) first grouped row of each expert */
        float *Xe, *G, *U, *A, *Ye;  /* (N*k, d) (N*k, ff) x3 (N*k, d), grouped by expert */
        float *keep_attn, *keep_moe; /* (N, d) dropout masks: 0 or 1 / (1 - p) */
    } *L;
    int dropped;                     /* the last forward applied the masks */
    float *x_out;                    /* (N, d) after the last layer */
    float *xnf, *rstdf;              /* (N, d), (N) */
    float *logits;                   /* (N, V) */
    /* backward scratch */
    float *dx, *dx2, *dxn, *dq, *dk, *dv, *datt, *dlogits, *drl, *dXe, *dG, *dU, *dA, *dYe;
    float *dkept;                    /* (N, d) dx times a dropout mask */
    int32_t *pos;                    /* (N) position of each token in its sequence */
    double f_e[256];                 /* routed share per expert, scratch for balance_loss */
};

static uint64_t rng_state;
static double rng_uniform(void)
{
    rng_state += 0x9E3779B97F4A7C15ull;
    uint64_t z = rng_state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / (double)(1ull << 53);
}
static double rng_normal(void)
{
    return sqrt(-2 * log(rng_uniform())) * cos(2 * M_PI * rng_uniform());
}

/* ---- the tensor table ---- */

static float *add_tensor(struct train_model *m, size_t *off, const char *name, int n_dims,
                         int64_t ne0, int64_t ne1, int64_t ne2, int decay)
{
    struct train_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->size = (size_t)(ne0 * ne1 * ne2);
    t->offset = *off;
    t->decay = decay;
    *off += t->size;
    return m->params ? m->params + t->offset : NULL;
}

/* Lays out every tensor; with m->params NULL it only counts. */
static void layout(struct train_model *m)
{
    const struct train_config *c = &m->c;
    int64_t d = c->d_model, kvd = (int64_t)c->n_kv_heads * c->head_dim, E = c->n_experts,
            ff = c->d_ff, V = TRAIN_VOCAB;
    size_t off = 0;
    char name[48];
    m->n_tensors = 0;
    m->tok_embd = add_tensor(m, &off, "token_embd.weight", 2, d, V, 1, 1);
    for (int l = 0; l < c->n_layers; l++) {
        struct train_layer *L = &m->layer[l];
#define T(field, suffix, nd, a, b, e, dec)                                                 \
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);                                   \
    L->field = add_tensor(m, &off, name, nd, a, b, e, dec)
        T(attn_norm, "attn_norm.weight", 1, d, 1, 1, 0);
        T(wq, "attn_q.weight", 2, d, d, 1, 1);
        T(wk, "attn_k.weight", 2, d, kvd, 1, 1);
        T(wv, "attn_v.weight", 2, d, kvd, 1, 1);
        T(wo, "attn_output.weight", 2, d, d, 1, 1);
        T(ffn_norm, "ffn_norm.weight", 1, d, 1, 1, 0);
        T(router, "ffn_gate_inp.weight", 2, d, E, 1, 1);
        T(gate, "ffn_gate_exps.weight", 3, d, ff, E, 1);
        T(down, "ffn_down_exps.weight", 3, ff, d, E, 1);
        T(up, "ffn_up_exps.weight", 3, d, ff, E, 1);
#undef T
    }
    m->out_norm = add_tensor(m, &off, "output_norm.weight", 1, d, 1, 1, 0);
    m->output = add_tensor(m, &off, "output.weight", 2, d, V, 1, 1);
    m->n_params = off;
}

static void acts_free(struct train_acts *a, int n_layers)
{
    if (!a)
        return;
    if (a->L)
        for (int l = 0; l < n_layers; l++) {
            struct train_layer_acts *L = &a->L[l];
            free(L->x_in), free(L->xn1), free(L->rstd1), free(L->q), free(L->k), free(L->v);
            free(L->P), free(L->att), free(L->x_mid), free(L->xn2), free(L->rstd2);
            free(L->rlogits), free(L->probs), free(L->idx), free(L->w), free(L->slot_of);
            free(L->slot_tok), free(L->e_off), free(L->Xe), free(L->G), free(L->U), free(L->A);
            free(L->Ye), free(L->keep_attn), free(L->keep_moe);
        }
    free(a->L);
    free(a->tokens), free(a->targets), free(a->x_out), free(a->xnf), free(a->rstdf);
    free(a->logits), free(a->dx), free(a->dx2), free(a->dxn), free(a->dq), free(a->dk);
    free(a->dv), free(a->datt), free(a->dlogits), free(a->drl), free(a->dXe), free(a->dG);
    free(a->dU), free(a->dA), free(a->dYe), free(a->pos), free(a->dkept);
    free(a);
}

#define ALLOC(p, n) ((p) = calloc((size_t)(n), sizeof *(p)), ok &= (p) != NULL)

static struct train_acts *acts_alloc(const struct train_config *c, int n_seq)
{
    struct train_acts *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    int ok = 1;
    int64_t N = (int64_t)n_seq * c->n_ctx, d = c->d_model,
            kvd = (int64_t)c->n_kv_heads * c->head_dim, E = c->n_experts,
            k = c->n_experts_used, ff = c->d_ff, T = c->n_ctx, V = TRAIN_VOCAB;
    a->cap_tokens = (int)N;
    ALLOC(a->L, c->n_layers);
    if (!ok) {
        free(a);
        return NULL;
    }
    for (int l = 0; l < c->n_layers; l++) {
        struct train_layer_acts *L = &a->L[l];
        ALLOC(L->x_in, N * d), ALLOC(L->xn1, N * d), ALLOC(L->rstd1, N);
        ALLOC(L->q, N * d), ALLOC(L->k, N * kvd), ALLOC(L->v, N * kvd);
        ALLOC(L->P, (int64_t)n_seq * c->n_heads * T * T), ALLOC(L->att, N * d);
        ALLOC(L->x_mid, N * d), ALLOC(L->xn2, N * d), ALLOC(L->rstd2, N);
        ALLOC(L->rlogits, N * E), ALLOC(L->probs, N * E), ALLOC(L->idx, N * k);
        ALLOC(L->w, N * k), ALLOC(L->slot_of, N * k), ALLOC(L->slot_tok, N * k);
        ALLOC(L->e_off, E + 1), ALLOC(L->Xe, N * k * d), ALLOC(L->G, N * k * ff);
        ALLOC(L->U, N * k * ff), ALLOC(L->A, N * k * ff), ALLOC(L->Ye, N * k * d);
        ALLOC(L->keep_attn, N * d), ALLOC(L->keep_moe, N * d);
    }
    ALLOC(a->tokens, N), ALLOC(a->targets, N), ALLOC(a->x_out, N * d), ALLOC(a->xnf, N * d);
    ALLOC(a->rstdf, N), ALLOC(a->logits, N * V), ALLOC(a->dx, N * d), ALLOC(a->dx2, N * d);
    ALLOC(a->dxn, N * d), ALLOC(a->dq, N * d), ALLOC(a->dk, N * kvd), ALLOC(a->dv, N * kvd);
    ALLOC(a->datt, N * d), ALLOC(a->dlogits, N * V), ALLOC(a->drl, N * E);
    ALLOC(a->dXe, N * k * d), ALLOC(a->dG, N * k * ff), ALLOC(a->dU, N * k * ff);
    ALLOC(a->dA, N * k * ff), ALLOC(a->dYe, N * k * d), ALLOC(a->pos, N), ALLOC(a->dkept, N * d);
    if (!ok) {
        acts_free(a, c->n_layers);
        return NULL;
    }
    return a;
}

int train_model_init(struct train_model *m, const struct train_config *c, uint64_t seed,
                     int n_threads, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->c = *c;
    if (c->n_layers < 1 || c->n_layers > TRAIN_MAX_LAYERS || c->n_heads < 1 ||
        c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads || c->head_dim % 2 ||
        c->d_model != c->n_heads * c->head_dim || c->n_experts < 1 || c->n_experts > 256 ||
        c->n_experts_used < 1 || c->n_experts_used > c->n_experts || c->d_ff < 1 ||
        c->n_ctx < 2) {
        snprintf(err, errlen, "train: inconsistent model shape");
        return -1;
    }
    layout(m); /* count */
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->adam_m = calloc(m->n_params, sizeof(float));
    m->adam_v = calloc(m->n_params, sizeof(float));
    m->pool = threads_create(n_threads);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->pool) {
        snprintf(err, errlen, "train: out of memory for %zu parameters", m->n_params);
        train_model_free(m);
        return -1;
    }
    layout(m); /* bind the views */
    rng_state = seed;
    /* GPT-2's initialisation: N(0, 0.02), the projections back into the residual stream
     * scaled by 1/sqrt(2 * layers); norms start at 1. */
    for (int i = 0; i < m->n_tensors; i++) {
        struct train_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->n_dims == 1) {
            for (size_t j = 0; j < t->size; j++)
                p[j] = 1;
            continue;
        }
        double sd = 0.02;
        if (strstr(t->name, "attn_output") || strstr(t->name, "ffn_down"))
            sd /= sqrt(2.0 * c->n_layers);
        for (size_t j = 0; j < t->size; j++)
            p[j] = (float)(rng_normal() * sd);
    }
    return 0;
}

void train_model_free(struct train_model *m)
{
    acts_free(m->acts, m->c.n_layers);
    threads_free(m->pool);
    free(m->params), free(m->grads), free(m->adam_m), free(m->adam_v);
    memset(m, 0, sizeof *m);
}

/* ---- threaded building blocks ---- */

struct lin_job {
    float *Y, *dX, *dW;
    const float *X, *W, *dY;
    int n, in, out;
};

static void lin_fwd_job(void *arg, int ith, int nth)
{
    struct lin_job *j = arg;
    int64_t r0, r1;
    threads_split(j->n, ith, nth, &r0, &r1);
    nn_linear_fwd_f(j->Y + r0 * j->out, j->X + r0 * j->in, j->W, (int)(r1 - r0), j->in, j->out);
}

static void lin_bwd_job(void *arg, int ith, int nth)
{
    struct lin_job *j = arg;
    int64_t r0, r1;
    if (j->dX) {
        threads_split(j->n, ith, nth, &r0, &r1);
        nn_linear_bwd_x_f(j->dX + r0 * j->in, j->dY + r0 * j->out, j->W, (int)(r1 - r0),
                          j->in, j->out);
    }
    threads_split(j->out, ith, nth, &r0, &r1);
    nn_linear_bwd_w_f(j->dW, j->dY, j->X, j->n, j->in, j->out, (int)r0, (int)r1);
}

static void lin_fwd(struct train_model *m, float *Y, const float *X, const float *W, int n,
                    int in, int out)
{
    if (n <= 0)
        return;
    struct lin_job j = { .Y = Y, .X = X, .W = W, .n = n, .in = in, .out = out };
    threads_run(m->pool, lin_fwd_job, &j);
}

/* dX += dY W (dX may be NULL); dW += dY^T X */
static void lin_bwd(struct train_model *m, float *dX, float *dW, const float *dY,
                    const float *X, const float *W, int n, int in, int out)
{
    if (n <= 0)
        return;
    struct lin_job j = { .dX = dX, .dW = dW, .dY = dY, .X = X, .W = W, .n = n, .in = in,
                         .out = out };
    threads_run(m->pool, lin_bwd_job, &j);
}

struct attn_job {
    const struct train_config *c;
    struct train_layer_acts *L;
    struct train_acts *a;
    int backward;
};

static void attn_job_fn(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    const struct train_config *c = j->c;
    int T = c->n_ctx, d = c->d_model, kvd = c->n_kv_heads * c->head_dim;
    int64_t s0, s1;
    threads_split(j->a->n_seq, ith, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++) {
        int64_t t0 = s * T;
        float *P = j->L->P + s * (int64_t)c->n_heads * T * T;
        if (!j->backward)
            nn_attn_fwd_f(j->L->att + t0 * d, P, j->L->q + t0 * d, j->L->k + t0 * kvd,
                          j->L->v + t0 * kvd, T, c->n_heads, c->n_kv_heads, c->head_dim);
        else
            nn_attn_bwd_f(j->a->dq + t0 * d, j->a->dk + t0 * kvd, j->a->dv + t0 * kvd,
                          j->a->datt + t0 * d, P, j->L->q + t0 * d, j->L->k + t0 * kvd,
                          j->L->v + t0 * kvd, T, c->n_heads, c->n_kv_heads, c->head_dim);
    }
}

/* ---- forward ---- */

static void moe_forward(struct train_model *m, int l, float *out_add, const float *keep)
{
    const struct train_config *c = &m->c;
    struct train_acts *a = m->acts;
    struct train_layer_acts *L = &a->L[l];
    const struct train_layer *W = &m->layer[l];
    int N = a->N, d = c->d_model, E = c->n_experts, k = c->n_experts_used, ff = c->d_ff;

    lin_fwd(m, L->rlogits, L->xn2, W->router, N, d, E);
    for (int t = 0; t < N; t++)
        nn_router_fwd_f(L->probs + (int64_t)t * E, L->idx + (int64_t)t * k,
                        L->w + (int64_t)t * k, L->rlogits + (int64_t)t * E, E, k);
    /* Group the token slots by expert. */
    for (int e = 0; e <= E; e++)
        L->e_off[e] = 0;
    for (int i = 0; i < N * k; i++)
        L->e_off[L->idx[i] + 1]++;
    for (int e = 0; e < E; e++)
        L->e_off[e + 1] += L->e_off[e];
    int32_t fill[257];
    memcpy(fill, L->e_off, sizeof(int32_t) * (size_t)(E + 1));
    for (int t = 0; t < N; t++)
        for (int r = 0; r < k; r++) {
            int slot = fill[L->idx[t * k + r]]++;
            L->slot_of[t * k + r] = slot;
            L->slot_tok[slot] = t;
            memcpy(L->Xe + (int64_t)slot * d, L->xn2 + (int64_t)t * d, sizeof(float) * (size_t)d);
        }
    for (int e = 0; e < E; e++) {
        int r0 = L->e_off[e], n = L->e_off[e + 1] - r0;
        const float *xe = L->Xe + (int64_t)r0 * d;
        lin_fwd(m, L->G + (int64_t)r0 * ff, xe, W->gate + (int64_t)e * ff * d, n, d, ff);
        lin_fwd(m, L->U + (int64_t)r0 * ff, xe, W->up + (int64_t)e * ff * d, n, d, ff);
        nn_swiglu_fwd_f(L->A + (int64_t)r0 * ff, L->G + (int64_t)r0 * ff, L->U + (int64_t)r0 * ff,
                        (int64_t)n * ff);
        lin_fwd(m, L->Ye + (int64_t)r0 * d, L->A + (int64_t)r0 * ff,
                W->down + (int64_t)e * d * ff, n, ff, d);
    }
    for (int t = 0; t < N; t++)
        for (int r = 0; r < k; r++) {
            const float *y = L->Ye + (int64_t)L->slot_of[t * k + r] * d;
            float w = L->w[t * k + r];
            if (keep)
                for (int i = 0; i < d; i++)
                    out_add[(int64_t)t * d + i] += keep[(int64_t)t * d + i] * (w * y[i]);
            else
                for (int i = 0; i < d; i++)
                    out_add[(int64_t)t * d + i] += w * y[i];
        }
}

/* The Switch balance loss of one layer: alpha * E * sum_e f_e P_e. */
static double balance_loss(const struct train_config *c, const struct train_layer_acts *L,
                           int N, double *f_e)
{
    int E = c->n_experts, k = c->n_experts_used;
    double loss = 0;
    for (int e = 0; e < E; e++) {
        double P = 0;
        for (int t = 0; t < N; t++)
            P += L->probs[(int64_t)t * E + e];
        P /= N;
        f_e[e] = (double)(L->e_off[e + 1] - L->e_off[e]) / ((double)N * k);
        loss += f_e[e] * P;
    }
    return c->aux_alpha * E * loss;
}

/* A dropout mask: each element kept with probability 1 - p and then scaled by 1 / (1 - p),
 * so the expected output is the undropped one. Its own generator (m->dropout_rng), so a
 * caller can replay the same masks. */
static void dropout_mask(struct train_model *m, float *keep, int64_t n)
{
    float p = m->dropout, scale = 1.0f / (1.0f - p);
    uint64_t threshold = (uint64_t)((double)p * 18446744073709551616.0);
    for (int64_t i = 0; i < n; i++) {
        m->dropout_rng += 0x9E3779B97F4A7C15ull;
        uint64_t z = m->dropout_rng;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        keep[i] = z < threshold ? 0.0f : scale;
    }
}

static void mul_into(float *dst, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = a[i] * b[i];
}

double train_forward(struct train_model *m, const int32_t *tokens, const int32_t *targets,
                     int n_seq, double *aux, float *logits_out)
{
    const struct train_config *c = &m->c;
    int T = c->n_ctx, N = n_seq * T, d = c->d_model, V = TRAIN_VOCAB;
    int kvd = c->n_kv_heads * c->head_dim;
    if (!m->acts || m->acts->cap_tokens < N) {
        acts_free(m->acts, c->n_layers);
        m->acts = acts_alloc(c, n_seq);
        if (!m->acts)
            return -1;
    }
    struct train_acts *a = m->acts;
    a->n_seq = n_seq;
    a->N = N;
    a->dropped = m->dropout > 0 && targets;
    memcpy(a->tokens, tokens, sizeof(int32_t) * (size_t)N);
    for (int t = 0; t < N; t++)
        a->pos[t] = t % T;
    if (targets)
        memcpy(a->targets, targets, sizeof(int32_t) * (size_t)N);

    float *x = a->L[0].x_in;
    for (int t = 0; t < N; t++)
        memcpy(x + (int64_t)t * d, m->tok_embd + (int64_t)tokens[t] * d, sizeof(float) * (size_t)d);
    double aux_sum = 0;
    for (int l = 0; l < c->n_layers; l++) {
        struct train_layer_acts *L = &a->L[l];
        const struct train_layer *W = &m->layer[l];
        float *x_next = l + 1 < c->n_layers ? a->L[l + 1].x_in : a->x_out;
        nn_rmsnorm_fwd_f(L->xn1, L->rstd1, L->x_in, W->attn_norm, N, d, c->norm_eps);
        lin_fwd(m, L->q, L->xn1, W->wq, N, d, d);
        lin_fwd(m, L->k, L->xn1, W->wk, N, d, kvd);
        lin_fwd(m, L->v, L->xn1, W->wv, N, d, kvd);
        nn_rope_f(L->q, a->pos, N, c->n_heads, c->head_dim, c->rope_base, 0);
        nn_rope_f(L->k, a->pos, N, c->n_kv_heads, c->head_dim, c->rope_base, 0);
        struct attn_job aj = { .c = c, .L = L, .a = a, .backward = 0 };
        threads_run(m->pool, attn_job_fn, &aj);
        lin_fwd(m, L->x_mid, L->att, W->wo, N, d, d);
        if (a->dropped) {
            dropout_mask(m, L->keep_attn, (int64_t)N * d);
            dropout_mask(m, L->keep_moe, (int64_t)N * d);
            for (int64_t i = 0; i < (int64_t)N * d; i++)
                L->x_mid[i] *= L->keep_attn[i];
        }
        for (int64_t i = 0; i < (int64_t)N * d; i++)
            L->x_mid[i] += L->x_in[i];
        nn_rmsnorm_fwd_f(L->xn2, L->rstd2, L->x_mid, W->ffn_norm, N, d, c->norm_eps);
        memcpy(x_next, L->x_mid, sizeof(float) * (size_t)N * (size_t)d);
        moe_forward(m, l, x_next, a->dropped ? L->keep_moe : NULL);
        aux_sum += balance_loss(c, L, N, a->f_e);
    }
    nn_rmsnorm_fwd_f(a->xnf, a->rstdf, a->x_out, m->out_norm, N, d, c->norm_eps);
    lin_fwd(m, a->logits, a->xnf, m->output, N, d, V);
    if (logits_out)
        memcpy(logits_out, a->logits, sizeof(float) * (size_t)N * V);
    if (aux)
        *aux = aux_sum;
    if (!targets)
        return 0;
    double loss = nn_xent_f(a->dlogits, a->logits, targets, N, V, N);
    return loss / N;
}

/* ---- backward ---- */

static void moe_backward(struct train_model *m, int l, const float *dout, float *dxn2)
{
    const struct train_config *c = &m->c;
    struct train_acts *a = m->acts;
    struct train_layer_acts *L = &a->L[l];
    const struct train_layer *W = &m->layer[l];
    int N = a->N, d = c->d_model, E = c->n_experts, k = c->n_experts_used, ff = c->d_ff;
    float *gW = m->grads; /* gradient views: same offsets as the parameters */
#define GRAD(p) (gW + ((p) - m->params))
    /* out[t] += sum_r w[t][r] * Ye[slot]: dYe[slot] = w * dout[t], dw = dout[t] . Ye */
    float dw[256];
    double f_e[256];
    balance_loss(c, L, N, f_e);
    float dprobs[256];
    memset(a->drl, 0, sizeof(float) * (size_t)N * E);
    for (int t = 0; t < N; t++) {
        const float *g = dout + (int64_t)t * d;
        for (int r = 0; r < k; r++) {
            int slot = L->slot_of[t * k + r];
            float *dy = a->dYe + (int64_t)slot * d;
            const float *y = L->Ye + (int64_t)slot * d;
            float w = L->w[t * k + r], s = 0;
            for (int i = 0; i < d; i++) {
                dy[i] = w * g[i];
                s += g[i] * y[i];
            }
            dw[r] = s;
        }
        /* d(aux)/d(probs[t][e]) = alpha * E * f_e / N */
        for (int e = 0; e < E; e++)
            dprobs[e] = (float)(c->aux_alpha * E * f_e[e] / N);
        nn_router_bwd_f(a->drl + (int64_t)t * E, dw, dprobs, L->probs + (int64_t)t * E,
                        L->idx + (int64_t)t * k, L->w + (int64_t)t * k, E, k);
    }
    lin_bwd(m, dxn2, GRAD(W->router), a->drl, L->xn2, W->router, N, d, E);
    memset(a->dA, 0, sizeof(float) * (size_t)N * k * ff);
    memset(a->dG, 0, sizeof(float) * (size_t)N * k * ff);
    memset(a->dU, 0, sizeof(float) * (size_t)N * k * ff);
    memset(a->dXe, 0, sizeof(float) * (size_t)N * k * d);
    for (int e = 0; e < E; e++) {
        int r0 = L->e_off[e], n = L->e_off[e + 1] - r0;
        int64_t offf = (int64_t)r0 * ff, offd = (int64_t)r0 * d;
        lin_bwd(m, a->dA + offf, GRAD(W->down) + (int64_t)e * d * ff, a->dYe + offd, L->A + offf,
                W->down + (int64_t)e * d * ff, n, ff, d);
        nn_swiglu_bwd_f(a->dG + offf, a->dU + offf, a->dA + offf, L->G + offf, L->U + offf,
                        (int64_t)n * ff);
        lin_bwd(m, a->dXe + offd, GRAD(W->gate) + (int64_t)e * ff * d, a->dG + offf,
                L->Xe + offd, W->gate + (int64_t)e * ff * d, n, d, ff);
        lin_bwd(m, a->dXe + offd, GRAD(W->up) + (int64_t)e * ff * d, a->dU + offf,
                L->Xe + offd, W->up + (int64_t)e * ff * d, n, d, ff);
    }
    for (int slot = 0; slot < N * k; slot++) {
        float *dst = dxn2 + (int64_t)L->slot_tok[slot] * d;
        const float *src = a->dXe + (int64_t)slot * d;
        for (int i = 0; i < d; i++)
            dst[i] += src[i];
    }
#undef GRAD
}

void train_backward(struct train_model *m)
{
    const struct train_config *c = &m->c;
    struct train_acts *a = m->acts;
    int N = a->N, d = c->d_model, V = TRAIN_VOCAB, kvd = c->n_kv_heads * c->head_dim;
    float *gW = m->grads;
#define GRAD(p) (gW + ((p) - m->params))
    memset(m->grads, 0, sizeof(float) * m->n_params);
    /* a->dlogits holds d(mean xent)/d(logits) from the forward. */
    float *dx = a->dx, *dxn = a->dxn;
    memset(dxn, 0, sizeof(float) * (size_t)N * d);
    lin_bwd(m, dxn, GRAD(m->output), a->dlogits, a->xnf, m->output, N, d, V);
    memset(dx, 0, sizeof(float) * (size_t)N * d);
    nn_rmsnorm_bwd_f(dx, GRAD(m->out_norm), dxn, a->x_out, m->out_norm, a->rstdf, N, d);
    /* dx is now d/d(x_out), the residual stream leaving the last layer. */
    for (int l = c->n_layers - 1; l >= 0; l--) {
        struct train_layer_acts *L = &a->L[l];
        const struct train_layer *W = &m->layer[l];
        /* x_out = x_mid + moe(norm2(x_mid)) */
        memset(dxn, 0, sizeof(float) * (size_t)N * d);
        if (a->dropped)
            mul_into(a->dkept, dx, L->keep_moe, (int64_t)N * d);
        moe_backward(m, l, a->dropped ? a->dkept : dx, dxn);
        nn_rmsnorm_bwd_f(dx, GRAD(W->ffn_norm), dxn, L->x_mid, W->ffn_norm, L->rstd2, N, d);
        /* x_mid = x_in + wo(attn(norm1(x_in))) */
        memset(a->datt, 0, sizeof(float) * (size_t)N * d);
        if (a->dropped)
            mul_into(a->dkept, dx, L->keep_attn, (int64_t)N * d);
        lin_bwd(m, a->datt, GRAD(W->wo), a->dropped ? a->dkept : dx, L->att, W->wo, N, d, d);
        memset(a->dq, 0, sizeof(float) * (size_t)N * d);
        memset(a->dk, 0, sizeof(float) * (size_t)N * kvd);
        memset(a->dv, 0, sizeof(float) * (size_t)N * kvd);
        struct attn_job aj = { .c = c, .L = L, .a = a, .backward = 1 };
        threads_run(m->pool, attn_job_fn, &aj);
        nn_rope_f(a->dq, a->pos, N, c->n_heads, c->head_dim, c->rope_base, 1);
        nn_rope_f(a->dk, a->pos, N, c->n_kv_heads, c->head_dim, c->rope_base, 1);
        memset(dxn, 0, sizeof(float) * (size_t)N * d);
        lin_bwd(m, dxn, GRAD(W->wq), a->dq, L->xn1, W->wq, N, d, d);
        lin_bwd(m, dxn, GRAD(W->wk), a->dk, L->xn1, W->wk, N, d, kvd);
        lin_bwd(m, dxn, GRAD(W->wv), a->dv, L->xn1, W->wv, N, d, kvd);
        nn_rmsnorm_bwd_f(dx, GRAD(W->attn_norm), dxn, L->x_in, W->attn_norm, L->rstd1, N, d);
    }
    for (int t = 0; t < N; t++) {
        float *g = GRAD(m->tok_embd) + (int64_t)a->tokens[t] * d;
        for (int i = 0; i < d; i++)
            g[i] += dx[(int64_t)t * d + i];
    }
#undef GRAD
}

double train_adamw_step(struct train_model *m, float lr, float beta1, float beta2, float wd,
                        float clip, int step)
{
    double norm2 = 0;
    for (size_t i = 0; i < m->n_params; i++)
        norm2 += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(norm2);
    float scale = norm > clip ? (float)(clip / norm) : 1.0f;
    float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const struct train_tensor *t = &m->tensors[ti];
        float decay = t->decay ? wd : 0;
        for (size_t i = t->offset; i < t->offset + t->size; i++) {
            float g = m->grads[i] * scale;
            m->adam_m[i] = beta1 * m->adam_m[i] + (1 - beta1) * g;
            m->adam_v[i] = beta2 * m->adam_v[i] + (1 - beta2) * g * g;
            float mh = m->adam_m[i] / bc1, vh = m->adam_v[i] / bc2;
            m->params[i] -= lr * (mh / (sqrtf(vh) + 1e-8f) + decay * m->params[i]);
        }
    }
    return norm;
}

const int32_t *train_last_routing(const struct train_model *m, int layer, int *n_tokens)
{
    if (!m->acts || layer < 0 || layer >= m->c.n_layers) {
        *n_tokens = 0;
        return NULL;
    }
    *n_tokens = m->acts->N;
    return m->acts->L[layer].idx;
}

/* ---- GGUF ---- */

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the others are moved
 * to U+0100 and up, so every byte is a visible, distinct token text. Writes UTF-8. */
static void byte_token_text(int b, char out[4])
{
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        cp = b;
    } else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

int train_save_gguf(const struct train_model *m, const char *path, const char *name,
                    char *err, size_t errlen)
{
    const struct train_config *c = &m->c;
    struct gguf_writer *w = gguf_writer_new();
    if (!w) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    gguf_writer_add_str(w, "general.architecture", "llama");
    gguf_writer_add_str(w, "general.name", name);
    gguf_writer_add_u32(w, "general.alignment", 32);
    gguf_writer_add_u32(w, "llama.context_length", (uint32_t)c->n_ctx);
    gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)c->d_model);
    gguf_writer_add_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)c->d_ff);
    gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim);
    gguf_writer_add_f32(w, "llama.rope.freq_base", c->rope_base);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    gguf_writer_add_u32(w, "llama.expert_count", (uint32_t)c->n_experts);
    gguf_writer_add_u32(w, "llama.expert_used_count", (uint32_t)c->n_experts_used);
    gguf_writer_add_u32(w, "llama.vocab_size", TRAIN_VOCAB);

    char texts[TRAIN_VOCAB][16];
    const char *tokens[TRAIN_VOCAB];
    int32_t types[TRAIN_VOCAB];
    for (int b = 0; b < 256; b++) {
        byte_token_text(b, texts[b]);
        tokens[b] = texts[b];
        types[b] = 1; /* normal */
    }
    snprintf(texts[TRAIN_EOS], sizeof texts[TRAIN_EOS], "<|endoftext|>");
    tokens[TRAIN_EOS] = texts[TRAIN_EOS];
    types[TRAIN_EOS] = 3; /* control */
    gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, TRAIN_VOCAB);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, TRAIN_VOCAB);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", NULL, 0);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", TRAIN_EOS);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", TRAIN_EOS);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);

    for (int i = 0; i < m->n_tensors; i++) {
        const struct train_tensor *t = &m->tensors[i];
        gguf_writer_add_tensor(w, t->name, GGML_TYPE_F32, (uint32_t)t->n_dims, t->ne,
                               m->params + t->offset);
    }
    int rc = gguf_writer_write(w, path, err, errlen);
    gguf_writer_free(w);
    return rc;
}

int train_load_gguf(struct train_model *m, const char *path, char *err, size_t errlen)
{
    struct gguf_file f;
    if (gguf_open(&f, path, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const struct train_tensor *t = &m->tensors[i];
        const struct gguf_tensor *g = gguf_find_tensor(&f, t->name);
        bool same = g && g->type == GGML_TYPE_F32 && g->nbytes == t->size * sizeof(float);
        for (int d = 0; same && d < t->n_dims; d++)
            same = g->ne[d] == t->ne[d];
        if (!same) {
            snprintf(err, errlen, "%s: tensor '%s' is %s, not f32 of this model's shape", path,
                     t->name, g ? "another type or shape" : "missing");
            rc = -1;
        } else {
            memcpy(m->params + t->offset, g->data, t->size * sizeof(float));
        }
    }
    gguf_close(&f);
    return rc;
}
