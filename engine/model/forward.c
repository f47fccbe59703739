/* engine/model/forward.c: the forward pass (see forward.h for the rounding contract). */
#include "forward.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "huge_pages.h"
#include "kernels.h"
#include "quant.h"
#include "quant_blocks.h"

/* KV_PAD: llama.cpp pads the attended length to 32 cells (no flash attention); the padded
 * cells get probability 0, and the sums keep llama.cpp's lane layout. */
enum { N_ACT_SLOTS = 6, MAX_JOBS = 4 * 1024, KV_PAD = 32, FWD_TILE_ROWS = 64,
       FWD_CHUNK_BYTES = 256 * 1024 };

/* One matrix job: rows of y = W . x for a list of input rows. */
struct mm_job {
    const uint8_t *w;          /* the (expert's) matrix: ne1 rows of nb1 bytes */
    size_t nb1;
    int64_t ne0, rows;
    enum kern_order order;     /* KERN_PLAIN, KERN_REPACK for repacked weights, KERN_GEMM
                                  where tinyBLAS takes the product */
    int n4;                    /* repacked: items [0, n4) take the gemm's KERN_REPACK4 */
    const uint8_t *x;          /* input rows, already in the weight's vec_dot_type */
    size_t x_stride;
    const int *xi;             /* x row of item j (NULL: j) */
    float *y;                  /* output rows */
    size_t y_stride;           /* in floats */
    const int *yi;             /* y row of item j (NULL: j) */
    int n;                     /* items */
    const float *bias;         /* (rows) added to every output, or NULL */
    uint32_t type;             /* the weight's type */
    int chunk_rows, chunk0, n_chunks; /* rows per chunk, first chunk's number, chunks */
};

/* One sequence's KV cache. */
struct fwd_kv {
    uint16_t *k;       /* (n_layers, n_pad, kw) K rows by position */
    uint16_t *v;       /* (n_layers, vw, n_pad) V transposed, as llama.cpp stores it (latent:
                        * the latent's transposed copy, as llama.cpp's ggml_cont makes it) */
};

/* A quantized copy of an activation matrix, reused within one stage. */
struct act_slot {
    const float *src;
    int n, d;
    uint32_t vt;               /* vec_dot type */
    uint8_t *buf;
    size_t stride;
};

/* An FFN the tokens of a batch go through: an expert, the shared expert, or the dense FFN. */
struct ffn_unit {
    const struct wt *gate, *up, *down;
    int64_t e;                 /* slice of 3-D expert tensors (0 for 2-D) */
    int n_ff;
    const float *gate_b, *up_b, *down_b; /* the expert's biases (gpt-oss), or NULL */
};

struct fwd {
    const struct model *m;
    struct thread_pool *pool;
    int n_ctx;
    int d, ffmax, n_experts, k, slots; /* slots: FFN outputs per token (k [+1]) */
    /* attention's shape: n_kvh key heads of dk (the Q.K length) and dv (the values); the
     * cache holds kw = n_kvh*dk key values and vw = n_kvh*dv values per token. For latent
     * attention absorbed: one key head of kv_lora_rank + n_rot, its first kv_lora_rank the
     * values too. qd = n_head*dk, od = n_head*dv. */
    int dk, dv, n_kvh, kw, vw, qd, od;

    /* activations, B = FWD_BATCH tokens */
    float *x;        /* (B, d) residual stream */
    float *xn;       /* (B, d) normed input of a block */
    float *q;        /* (B, qd) */
    float *kx;       /* (B, kw) */
    float *vx;       /* (B, vw) */
    float *att;      /* (B, od) attention output before wo (latent: before attn_v_b) */
    /* latent attention only: the query as projected (n_head*head_dim), its LoRA (q_lora),
     * the compressed KV and RoPE key (kv_lora + n_rot), the legacy up-projection
     * (n_head*(nope + head_dim_v)), and the heads' outputs after attn_v_b */
    float *qraw, *qa, *kva, *kvb, *ao;
    float *tmp;      /* (B, d) */
    float *acc;      /* (B, d) FFN sum */
    float *rlog;     /* (B, n_experts) router logits */
    float *rprob;    /* (B, n_experts) router probabilities */
    float *rsel;     /* (B, n_experts) selection scores (probs + bias) */
    int *sel;        /* (B, k) chosen experts, best first */
    float *selw;     /* (B, k) their weights as applied */
    float *sgate;    /* (B) shared expert gate logit */
    float *g, *u;    /* (B * slots, ffmax) gate and up outputs; g becomes h */
    float *eo;       /* (B * slots, d) unit outputs */
    int *pair_tok;   /* (B * slots) token of each pair (sorted by unit) */
    int *pair_row;   /* (B * slots) row in g/u/eo of each pair */
    int *unit_cnt;   /* (n_experts + 2) */
    int *unit_off;   /* (n_experts + 3) */
    float *logits;   /* (n_vocab) */
    float *rope;     /* (n_rot) cos/sin table */
    struct act_slot act[N_ACT_SLOTS];
    int n_act;
    struct mm_job *jobs; /* (MAX_JOBS) */
    int n_chunks;        /* chunks of rows in the queued jobs */
    _Atomic int next_chunk; /* the next chunk a thread takes */
    float *tile;     /* (nth, FWD_TILE_ROWS, KERN_MAX_Y) per-thread kernel outputs */
    int n_jobs;

    /* per-thread attention scratch */
    float *sc;       /* (nth, n_pad) scores, then probabilities */
    uint16_t *p16;   /* (nth, n_pad) probabilities in F16 */
    uint16_t *q16;   /* (nth, dk), at least vw */
    int nth;

    /* KV caches, F16: cache 0 is fwd_eval's, more for sequences decoded together */
    int n_pad;         /* n_ctx rounded up to KV_PAD */
    struct fwd_kv *kv; /* (n_kv) */
    int n_kv;
    int n_logits;      /* rows of logits (1, or the most rows of a fwd_eval_rows pass) */
    /* each row of the pass now running: its position and its cache; rows_alone: every row
     * is a sequence of its own, so every product takes one row's order (fwd_eval_rows) */
    int *row_pos;      /* (B) */
    int *row_kv;       /* (B) */
    bool rows_alone;
    uint8_t *touched;  /* (n_layers, n_experts) expert used before in this process */
};

/* ------------------------------------------------------------------ helpers */

/* ggml_compute_forward_rms_norm_f32 followed by ggml_mul with the weight. */
static void fwd_rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

/* The reference build (llama.cpp on x86 with AVX2) computes exp in softmax and SiLU 8
 * lanes at a time with ggml_v_expf, an arm-optimized-routines polynomial, and the leftover
 * lanes with the C library's expf. fwd_vexpf is one lane of its AVX2 form, step for step:
 * k = 2^n from the bits of z, then k + j * k; |n| > 126 scales in two factors. */
static uint32_t fwd_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float fwd_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float fwd_vexpf(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const uint32_t e = fwd_bits(z) << 23;
    const float k = fwd_float(e + 0x3f800000u);
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, 0x1.ffffecp-1f * b);
    if (!(fabsf(n) > 126.0f))
        return fmaf(j, k, k);
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = fwd_float(g + 0x7f000000u), s2 = fwd_float(e - g);
    if (fabsf(n) > 192.0f)
        return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

/* The AVX2 softmax's sum of 8 values: the halves added, then (t0 + t2) + (t1 + t3). */
static float fwd_reduce8(const float *a)
{
    float t[4];
    for (int i = 0; i < 4; i++)
        t[i] = a[i + 4] + a[i];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

/* ggml_silu_f32 (the scalar lanes) */
static float fwd_silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* ggml_vec_swiglu_f32: g = silu(g) * u over n values (ggml_v_silu on groups of 8) */
static void fwd_swiglu(float *g, const float *u, int n)
{
    const int nv = n & ~7;
    for (int i = kern_swiglu16(g, u, n); i < nv; i++)
        g[i] = (g[i] / (1.0f + fwd_vexpf(0.0f - g[i]))) * u[i];
    for (int i = nv; i < n; i++)
        g[i] = fwd_silu(g[i]) * u[i];
}

/* The largest of x[0..n): eight chains side by side (one chain waited on each compare: 80%
 * of a 512-token prefill's softmax time). The maximum is the same whatever the order. */
static float fwd_max(const float *x, int n)
{
    float m[8];
    for (int k = 0; k < 8; k++)
        m[k] = -INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
    for (; i < n; i++)
        m[0] = x[i] > m[0] ? x[i] : m[0];
    float max = m[0];
    for (int k = 1; k < 8; k++)
        max = m[k] > max ? m[k] : max;
    return max;
}

/* ggml_vec_soft_max_f32 then the 1/sum scale: p = softmax(x) over n values (p may be x;
 * x[i] = -inf is a masked cell). Groups of 8 through fwd_vexpf, each summed in the AVX2
 * order into a double; the rest with expf. sink (gpt-oss's attention, else NULL): one more
 * logit in the max and the denominator, with no output of its own (ggml_soft_max_ext). */
static void fwd_softmax_sink(float *p, const float *x, int n, const float *sink)
{
    float max = fwd_max(x, n);
    if (sink && *sink > max)
        max = *sink;
    double sum = 0.0;
    int i = 0;
    const int nv = kern_vexpf16(p, x, max, n);
    for (; i + 7 < n; i += 8) {
        if (i >= nv)
            for (int k = 0; k < 8; k++)
                p[i + k] = fwd_vexpf(x[i + k] - max);
        sum += (double)fwd_reduce8(p + i);
    }
    for (; i < n; i++) {
        p[i] = expf(x[i] - max);
        sum += (double)p[i];
    }
    if (sink)
        sum += (double)expf(*sink - max);
    const float inv = (float)(1.0 / sum);
    for (int k = 0; k < n; k++)
        p[k] *= inv;
}

static void fwd_softmax(float *p, const float *x, int n)
{
    fwd_softmax_sink(p, x, n, NULL);
}

/* ggml_swiglu_oai (gpt-oss's experts): g = min(g, limit) * sigmoid(alpha * min(g, limit)) *
 * (clamp(u, -limit, limit) + 1), with llama.cpp's alpha 1.702 and limit 7 and its float
 * steps (the C library's expf, one division). */
static void fwd_swiglu_oai(float *g, const float *u, int n)
{
    const float alpha = 1.702f, limit = 7.0f;
    for (int i = 0; i < n; i++) {
        const float x = g[i] < limit ? g[i] : limit;
        const float y = u[i] < -limit ? -limit : u[i] > limit ? limit : u[i];
        const float glu = x / (1.0f + expf(alpha * (-x)));
        g[i] = glu * (y + 1.0f);
    }
}

/* llama.cpp's CPU backend (the x86 build with AVX2 that recorded the fixtures) repacks q4_0
 * and q4_K weights whose row count is a multiple of 8 into 8-row interleaved blocks
 * (ggml-cpu/repack.cpp), 2-D matrices and expert tensors alike, and multiplies them with its
 * own kernels: a gemm for the activation rows four at a time and a gemv for the rest (and
 * for every expert product, mul_mat_id). The values are those of the plain kernel; only the
 * float order differs, and it is what the reference rounded: quant.h's vec_dot_repack and
 * vec_dot_repack4. */
static bool fwd_is_repacked(const struct wt *w)
{
    return w->ne[1] % 8 == 0 && quant_traits(w->type)->vec_dot_repack != NULL;
}

/* Whether llama.cpp's mul_mat hands an (m rows) x (n_cols) product to tinyBLAS
 * (llamafile_sgemm): only with two activation rows or more ("only enable sgemm for prompt
 * processing") and only when the weight's row count is a multiple of 4 (tinyBLAS::matmul's
 * tiles); the row-length condition is the gemm kernel's own (quant.h). */
static bool fwd_uses_tinyblas(int64_t m, int n_cols)
{
    return n_cols >= 2 && m % 4 == 0;
}

/* The kernels llama.cpp uses for a weight multiplied with n_cols activation rows, set on
 * job j: the repacked orders (gemm for the first n_cols - n_cols % 4 rows of a 2-D weight,
 * gemv otherwise); tinyBLAS's order for other 2-D weights when it takes them; the per-row
 * kernels otherwise and for the experts (mul_mat_id). */
static void fwd_pick_dot(struct mm_job *j, const struct wt *w, bool expert, int n_cols)
{
    const struct quant_traits *qt = quant_traits(w->type);
    j->order = KERN_PLAIN;
    j->n4 = 0;
    if (fwd_is_repacked(w)) {
        j->order = KERN_REPACK;
        if (!expert && n_cols >= 4)
            j->n4 = n_cols - n_cols % 4;
        return;
    }
    if (!expert && fwd_uses_tinyblas(w->ne[1], n_cols) && qt->vec_dot_gemm != qt->vec_dot)
        j->order = KERN_GEMM;
}

static void fwd_mm_run(struct fwd *f);

/* The activation rows llama.cpp would have multiplied together with a weight: n, or 1 when
 * every row is a sequence of its own (each would have been a one-row product). */
static int fwd_n_cols(const struct fwd *f, int n)
{
    return f->rows_alone ? 1 : n;
}

/* Returns n rows of x (d values each, rows xs floats apart) in the vec_dot type of weight
 * type wtype, quantizing once per stage per (source, type, width). */
static const uint8_t *fwd_act(struct fwd *f, const float *x, int n, int d, size_t xs,
                              uint32_t wtype, size_t *stride)
{
    const struct quant_traits *wt = quant_traits(wtype);
    uint32_t vt = wt->vec_dot_type;
    if (vt == GGML_TYPE_F32) {
        *stride = xs * sizeof(float);
        return (const uint8_t *)x;
    }
    for (int i = 0; i < f->n_act; i++) {
        struct act_slot *s = &f->act[i];
        if (s->src == x && s->n == n && s->d == d && s->vt == vt) {
            *stride = s->stride;
            return s->buf;
        }
    }
    if (f->n_act == N_ACT_SLOTS) {
        /* every slot may still be read by a queued job: run them before reusing any */
        fwd_mm_run(f);
        f->n_act = 0;
    }
    struct act_slot *s = &f->act[f->n_act++];
    const struct quant_traits *qt = quant_traits(vt);
    s->src = x, s->n = n, s->d = d, s->vt = vt;
    s->stride = quant_row_size(vt, d);
    for (int r = 0; r < n; r++)
        qt->from_float(x + (size_t)r * xs, s->buf + (size_t)r * s->stride, d);
    *stride = s->stride;
    return s->buf;
}

static void fwd_act_reset(struct fwd *f)
{
    f->n_act = 0;
}

static struct mm_job *fwd_job(struct fwd *f, const struct wt *w, int64_t e, const float *x,
                              int n, const int *xi, float *y, size_t y_stride, const int *yi,
                              const float *bias)
{
    size_t stride = 0;
    /* first the input (which may run the queued jobs to free a slot), then the job */
    const uint8_t *xq = x ? fwd_act(f, x, n, (int)w->ne[0], (size_t)w->ne[0], w->type, &stride)
                          : NULL;
    if (f->n_jobs == MAX_JOBS)
        fwd_mm_run(f);
    struct mm_job *j = &f->jobs[f->n_jobs++];
    j->x = xq;
    j->x_stride = stride;
    j->w = w->data + (size_t)e * w->nb2;
    j->nb1 = w->nb1;
    j->ne0 = w->ne[0];
    j->rows = w->ne[1];
    /* llama.cpp multiplies 2-D weights with tinyBLAS and expert slices (mul_mat_id) with
     * the per-row kernels; the two sum f32/f16/bf16 rows in different orders. */
    fwd_pick_dot(j, w, w->ne[2] > 1 || e > 0, fwd_n_cols(f, n));
    j->type = w->type;
    j->xi = xi;
    j->y = y;
    j->y_stride = y_stride;
    j->yi = yi;
    j->n = n;
    j->bias = bias;
    return j;
}

/* One product of a per-head slice (e) of a 3-D weight, or of a 2-D weight (e = 0), with n
 * input rows xs floats apart: llama.cpp's batched mul_mat, never repacked, tinyBLAS's order
 * when it takes the product. */
static void fwd_job_rows(struct fwd *f, const struct wt *w, int64_t e, const float *x,
                         size_t xs, int n, float *y, size_t y_stride)
{
    size_t stride = 0;
    const uint8_t *xq = fwd_act(f, x, n, (int)w->ne[0], xs, w->type, &stride);
    if (f->n_jobs == MAX_JOBS)
        fwd_mm_run(f);
    struct mm_job *j = &f->jobs[f->n_jobs++];
    const struct quant_traits *qt = quant_traits(w->type);
    *j = (struct mm_job){ .w = w->data + (size_t)e * w->nb2, .nb1 = w->nb1, .ne0 = w->ne[0],
                          .rows = w->ne[1], .x = xq, .x_stride = stride, .y = y,
                          .y_stride = y_stride, .n = n, .type = w->type,
                          .order = fwd_uses_tinyblas(w->ne[1], fwd_n_cols(f, n)) &&
                                           qt->vec_dot_gemm != qt->vec_dot
                                       ? KERN_GEMM
                                       : KERN_PLAIN };
}

/* Rows [r0, r1) of job j for items [ib, ie) through kernels.h in order o: every item's y
 * pointer, then the rows, straight into y when the outputs are evenly spaced, else through
 * tile and scattered. */
static void fwd_mm_rows(const struct mm_job *j, enum kern_order o, int ib, int ie, int64_t r0,
                        int64_t r1, float *tile)
{
    const void *yp[KERN_MAX_Y];
    for (int i0 = ib; i0 < ie; i0 += KERN_MAX_Y) {
        const int c = ie - i0 < KERN_MAX_Y ? ie - i0 : KERN_MAX_Y;
        for (int i = 0; i < c; i++)
            yp[i] = j->x + (size_t)(j->xi ? j->xi[i0 + i] : i0 + i) * j->x_stride;
        if (!j->yi || c == 1) {
            const size_t yrow = (size_t)(j->yi ? j->yi[i0] : i0);
            float *out = j->y + yrow * j->y_stride;
            kern_dot_rows_in(o, j->type, j->ne0, j->w + (size_t)r0 * j->nb1, j->nb1,
                             (int)(r1 - r0), yp, c, out + r0, 1, j->y_stride);
            if (j->bias)
                for (int i = 0; i < c; i++)
                    for (int64_t r = r0; r < r1; r++)
                        out[(size_t)i * j->y_stride + (size_t)r] += j->bias[r];
            continue;
        }
        for (int64_t s0 = r0; s0 < r1; s0 += FWD_TILE_ROWS) {
            const int m = (int)(r1 - s0 < FWD_TILE_ROWS ? r1 - s0 : FWD_TILE_ROWS);
            kern_dot_rows_in(o, j->type, j->ne0, j->w + (size_t)s0 * j->nb1, j->nb1, m, yp,
                             c, tile, (size_t)c, 1);
            for (int i = 0; i < c; i++) {
                float *out = j->y + (size_t)j->yi[i0 + i] * j->y_stride;
                for (int r = 0; r < m; r++)
                    out[(size_t)s0 + (size_t)r] =
                        tile[r * c + i] + (j->bias ? j->bias[s0 + r] : 0.0f);
            }
        }
    }
}

/* Threads take chunks of rows from the queued jobs in order, as they come (threads_run_any):
 * a thread the machine has descheduled leaves its share to the others. */
static void fwd_mm_worker(void *arg, int ith, int nth)
{
    struct fwd *f = arg;
    (void)nth;
    float *tile = f->tile + (size_t)ith * FWD_TILE_ROWS * KERN_MAX_Y;
    for (int k = 0;;) {
        const int c = atomic_fetch_add_explicit(&f->next_chunk, 1, memory_order_relaxed);
        if (c >= f->n_chunks)
            break;
        while (c >= f->jobs[k].chunk0 + f->jobs[k].n_chunks)
            k++;
        const struct mm_job *j = &f->jobs[k];
        const int64_t r0 = (int64_t)(c - j->chunk0) * j->chunk_rows;
        const int64_t r1 = r0 + j->chunk_rows < j->rows ? r0 + j->chunk_rows : j->rows;
        if (j->n4)
            fwd_mm_rows(j, KERN_REPACK4, 0, j->n4, r0, r1, tile);
        fwd_mm_rows(j, j->order, j->n4, j->n, r0, r1, tile);
    }
}

/* Rows per chunk of a job: the job split evenly into pieces of about FWD_CHUNK_BYTES of
 * weights times the items each row meets, in multiples of 4 rows (the decode kernel's four
 * streams). Chunks of 64 KB measured 20-25% slower in decode than 256 KB: the streams get
 * too short for the prefetchers. */
static int fwd_chunk_rows(const struct mm_job *j)
{
    const int64_t work = j->rows * (int64_t)j->nb1 * ((j->n + 3) / 4);
    const int64_t pieces =
        work > FWD_CHUNK_BYTES ? (work + FWD_CHUNK_BYTES - 1) / FWD_CHUNK_BYTES : 1;
    const int64_t per = (j->rows + pieces - 1) / pieces;
    return (int)((per + 3) & ~(int64_t)3);
}

static void fwd_mm_run(struct fwd *f)
{
    if (!f->n_jobs)
        return;
    int total = 0;
    for (int k = 0; k < f->n_jobs; k++) {
        struct mm_job *j = &f->jobs[k];
        j->chunk_rows = fwd_chunk_rows(j);
        j->chunk0 = total;
        j->n_chunks = (int)((j->rows + j->chunk_rows - 1) / j->chunk_rows);
        total += j->n_chunks;
    }
    f->n_chunks = total;
    atomic_store_explicit(&f->next_chunk, 0, memory_order_relaxed);
    threads_run_any(f->pool, fwd_mm_worker, f);
    f->n_jobs = 0;
}

/* ------------------------------------------------------------------ attention */

/* The sin/cos table of RoPE at position pos, as ggml_rope_cache_init: theta multiplied by
 * base^(-2/n_rot) pair after pair; with YaRN (ext_factor) each pair's angle mixes the
 * interpolated and the extrapolated one by the ramp between the correction dims, and
 * cos/sin are scaled by attn_factor * (1 + 0.1 ln(1/freq_scale)). */
static void fwd_rope_table(float *cache, const struct hparams *hp, float pos)
{
    const int n_rot = hp->n_rot;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_rot);
    const float fs = hp->rope_freq_scale, ext = hp->rope_ext_factor;
    float mscale = ext != 0.0f ? hp->rope_attn_factor * (1.0f + 0.1f * logf(1.0f / fs)) : 1.0f;
    if (ext == 0.0f)
        mscale = hp->rope_attn_factor;
    const float lo = hp->rope_corr_dims[0], hi = hp->rope_corr_dims[1];
    float theta = pos;
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float interp = fs * theta;
        float t = interp;
        if (ext != 0.0f) {
            const float y = (float)(i0 / 2 - lo) / (hi - lo > 0.001f ? hi - lo : 0.001f);
            const float ramp = (1 - (y < 0 ? 0 : y > 1 ? 1 : y)) * ext;
            t = fmaf(theta, ramp, interp * (1 - ramp));
        }
        cache[i0] = cosf(t) * mscale;
        cache[i0 + 1] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

static void fwd_rope_apply(float *v, const float *cache, int n_rot, bool neox)
{
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float c = cache[i0], s = cache[i0 + 1];
        int a = neox ? i0 / 2 : i0, b = neox ? i0 / 2 + n_rot / 2 : i0 + 1;
        const float x0 = v[a], x1 = v[b];
        /* ggml's rotate_pairs is C++ built with contraction: the first product is fused */
        v[a] = fmaf(x0, c, -(x1 * s));
        v[b] = fmaf(x0, s, x1 * c);
    }
}

/* Whether layer il attends through the sliding window (llama.cpp's set_swa_pattern). */
static bool fwd_layer_swa(const struct hparams *hp, int il)
{
    return hp->n_swa > 0 && hp->swa_period > 0 && il % hp->swa_period < hp->swa_period - 1;
}

struct attn_ctx {
    struct fwd *f;
    int il, n;
};

static void fwd_attn_worker(void *arg, int ith, int nth)
{
    const struct attn_ctx *a = arg;
    struct fwd *f = a->f;
    const struct hparams *hp = &f->m->hp;
    const int dk = f->dk, dv = f->dv, gq = hp->n_head / f->n_kvh;
    /* Q.K (K rows: the padded length) and P.V (V^T rows: dv) are mul_mats too */
    const struct quant_traits *t16 = quant_traits(GGML_TYPE_F16);
    const int n_cols = fwd_n_cols(f, a->n);
    const enum kern_order o_qk = fwd_uses_tinyblas(KV_PAD, n_cols) ? KERN_GEMM : KERN_PLAIN;
    const enum kern_order o_pv = fwd_uses_tinyblas(dv, n_cols) ? KERN_GEMM : KERN_PLAIN;
    const size_t np = (size_t)f->n_pad;
    float *sc = f->sc + (size_t)ith * np;
    uint16_t *p16 = f->p16 + (size_t)ith * np;
    uint16_t *q16 = f->q16 + (size_t)ith * (size_t)dk;
    (void)nth;
    const int n_items = a->n * hp->n_head;
    const float *sinks = (const float *)f->m->layers[a->il].t[AT_ATTN_SINKS].data;
    const int swa = fwd_layer_swa(hp, a->il) ? hp->n_swa : 0;
    for (;;) {
        const int it = atomic_fetch_add_explicit(&f->next_chunk, 1, memory_order_relaxed);
        if (it >= n_items)
            break;
        const int t = (int)(it / hp->n_head), h = (int)(it % hp->n_head);
        const int g = h / gq, npos = f->row_pos[t] + 1;
        const int nkv = (npos + KV_PAD - 1) / KV_PAD * KV_PAD;
        const struct fwd_kv *kv = &f->kv[f->row_kv[t]];
        const uint16_t *kc = kv->k + (size_t)a->il * np * (size_t)f->kw;
        const uint16_t *vc = kv->v + (size_t)a->il * (size_t)f->vw * np;
        const float *q = f->q + (size_t)t * (size_t)f->qd + (size_t)h * (size_t)dk;
        const uint16_t *kg = kc + (size_t)g * (size_t)dk, *vg = vc + (size_t)g * (size_t)dv * np;
        const void *yq = q16, *yp = p16;
        /* KQ: a mul_mat with F16 K, so Q is rounded to F16 first */
        t16->from_float(q, q16, dk);
        kern_dot_rows_in(o_qk, GGML_TYPE_F16, dk, kg, (size_t)f->kw * 2, npos, &yq, 1, sc, 1, 1);
        for (int j = 0; j < npos; j++)
            sc[j] *= hp->kq_scale;
        /* ggml_soft_max_ext over the padded row, the masked cells at -inf: those past the
         * query and, in a windowed layer, those n_swa or more before it */
        for (int j = npos; j < nkv; j++)
            sc[j] = -INFINITY;
        for (int j = 0; swa && j < npos - swa; j++)
            sc[j] = -INFINITY;
        fwd_softmax_sink(sc, sc, nkv, sinks ? sinks + h : NULL);
        t16->from_float(sc, p16, nkv);
        /* KQV: a mul_mat of transposed F16 V with the probabilities rounded to F16 */
        float *o = f->att + (size_t)t * (size_t)f->od + (size_t)h * (size_t)dv;
        kern_dot_rows_in(o_pv, GGML_TYPE_F16, nkv, vg, np * 2, dv, &yp, 1, o, 1, 1);
    }
}

/* The plain projections: Q, K, V (with their biases), QK-norm, RoPE. */
static void fwd_attn_project(struct fwd *f, const struct layer *L, int n)
{
    const struct model *m = f->m;
    const struct hparams *hp = &m->hp;
    const int hd = hp->head_dim;
    fwd_act_reset(f);
    fwd_job(f, &L->t[AT_ATTN_Q], 0, f->xn, n, NULL, f->q, (size_t)f->qd, NULL,
            (const float *)L->t[AT_ATTN_Q_B].data);
    fwd_job(f, &L->t[AT_ATTN_K], 0, f->xn, n, NULL, f->kx, (size_t)f->kw, NULL,
            (const float *)L->t[AT_ATTN_K_B].data);
    fwd_job(f, &L->t[AT_ATTN_V], 0, f->xn, n, NULL, f->vx, (size_t)f->vw, NULL,
            (const float *)L->t[AT_ATTN_V_B].data);
    fwd_mm_run(f);

    const bool neox = m->arch->rope == ARCH_ROPE_NEOX;
    for (int t = 0; t < n; t++) {
        float *q = f->q + (size_t)t * f->qd, *k = f->kx + (size_t)t * f->kw;
        if (m->arch->qk_norm == ARCH_QK_NORM_FULL) {
            fwd_rmsnorm(q, q, (const float *)L->t[AT_ATTN_Q_NORM].data, f->qd, hp->norm_eps);
            fwd_rmsnorm(k, k, (const float *)L->t[AT_ATTN_K_NORM].data, f->kw, hp->norm_eps);
        } else if (m->arch->qk_norm == ARCH_QK_NORM_HEAD && L->t[AT_ATTN_Q_NORM].data) {
            for (int h = 0; h < hp->n_head; h++)
                fwd_rmsnorm(q + h * hd, q + h * hd, (const float *)L->t[AT_ATTN_Q_NORM].data,
                            hd, hp->norm_eps);
            for (int h = 0; h < hp->n_kv_head; h++)
                fwd_rmsnorm(k + h * hd, k + h * hd, (const float *)L->t[AT_ATTN_K_NORM].data,
                            hd, hp->norm_eps);
        }
        fwd_rope_table(f->rope, hp, (float)f->row_pos[t]);
        for (int h = 0; h < hp->n_head; h++)
            fwd_rope_apply(q + h * hd, f->rope, hp->n_rot, neox);
        for (int h = 0; h < hp->n_kv_head; h++)
            fwd_rope_apply(k + h * hd, f->rope, hp->n_rot, neox);
    }
}

/* Latent attention's projections, as llama.cpp's deepseek2 graph: the query (straight, or
 * attn_q_a, its RMSNorm, attn_q_b); the compressed KV and the RoPE key in one product, the
 * latent RMS-normed and the key roped (NORM pairs on the last n_rot dims). Absorbed
 * (attn_k_b/attn_v_b): each head's no-RoPE query goes through its attn_k_b into latent
 * space, the query is [absorbed (kv_lora) | roped (n_rot)], the one key row [latent | k_pe]
 * and the values the latent. Legacy attn_kv_b: plain multi-head keys [k_nope | k_pe] and
 * values from the up-projection of the latent. */
static void fwd_attn_project_latent(struct fwd *f, const struct layer *L, int n)
{
    const struct hparams *hp = &f->m->hp;
    const int hd = hp->head_dim, nope = hd - hp->n_rot, rank = hp->n_lora_kv;
    const int kva_w = rank + hp->n_rot, qraw_w = hp->n_head * hd;
    fwd_act_reset(f);
    if (hp->n_lora_q > 0) {
        fwd_job(f, &L->t[AT_ATTN_Q_A], 0, f->xn, n, NULL, f->qa, (size_t)hp->n_lora_q, NULL,
                NULL);
        fwd_job(f, &L->t[AT_ATTN_KV_A_MQA], 0, f->xn, n, NULL, f->kva, (size_t)kva_w, NULL,
                NULL);
        fwd_mm_run(f);
        for (int t = 0; t < n; t++) {
            float *qa = f->qa + (size_t)t * hp->n_lora_q;
            fwd_rmsnorm(qa, qa, (const float *)L->t[AT_ATTN_Q_A_NORM].data, hp->n_lora_q,
                        hp->norm_eps);
        }
        fwd_act_reset(f);
        fwd_job(f, &L->t[AT_ATTN_Q_B_LORA], 0, f->qa, n, NULL, f->qraw, (size_t)qraw_w, NULL,
                NULL);
    } else {
        fwd_job(f, &L->t[AT_ATTN_Q], 0, f->xn, n, NULL, f->qraw, (size_t)qraw_w, NULL, NULL);
        fwd_job(f, &L->t[AT_ATTN_KV_A_MQA], 0, f->xn, n, NULL, f->kva, (size_t)kva_w, NULL,
                NULL);
    }
    fwd_mm_run(f);

    for (int t = 0; t < n; t++) {
        float *kva = f->kva + (size_t)t * kva_w, *q = f->qraw + (size_t)t * qraw_w;
        fwd_rmsnorm(kva, kva, (const float *)L->t[AT_ATTN_KV_A_NORM].data, rank, hp->norm_eps);
        fwd_rope_table(f->rope, hp, (float)f->row_pos[t]);
        fwd_rope_apply(kva + rank, f->rope, hp->n_rot, false);
        for (int h = 0; h < hp->n_head; h++)
            fwd_rope_apply(q + h * hd + nope, f->rope, hp->n_rot, false);
    }

    fwd_act_reset(f);
    if (hp->mla_absorbed) {
        for (int h = 0; h < hp->n_head; h++)
            fwd_job_rows(f, &L->t[AT_ATTN_K_B_MLA], h, f->qraw + (size_t)h * hd,
                         (size_t)qraw_w, n, f->q + (size_t)h * f->dk, (size_t)f->qd);
        fwd_mm_run(f);
        for (int t = 0; t < n; t++) {
            const float *kva = f->kva + (size_t)t * kva_w, *q = f->qraw + (size_t)t * qraw_w;
            float *qo = f->q + (size_t)t * f->qd;
            for (int h = 0; h < hp->n_head; h++)
                memcpy(qo + (size_t)h * f->dk + rank, q + h * hd + nope,
                       (size_t)hp->n_rot * sizeof(float));
            memcpy(f->kx + (size_t)t * f->kw, kva, (size_t)kva_w * sizeof(float));
            memcpy(f->vx + (size_t)t * f->vw, kva, (size_t)rank * sizeof(float));
        }
        return;
    }
    const int kvb_w = hp->n_head * (nope + hp->head_dim_v);
    fwd_job_rows(f, &L->t[AT_ATTN_KV_B], 0, f->kva, (size_t)kva_w, n, f->kvb, (size_t)kvb_w);
    fwd_mm_run(f);
    for (int t = 0; t < n; t++) {
        const float *kva = f->kva + (size_t)t * kva_w, *kvb = f->kvb + (size_t)t * kvb_w;
        memcpy(f->q + (size_t)t * f->qd, f->qraw + (size_t)t * qraw_w,
               (size_t)qraw_w * sizeof(float));
        for (int h = 0; h < hp->n_head; h++) {
            const float *src = kvb + (size_t)h * (nope + hp->head_dim_v);
            float *k = f->kx + (size_t)t * f->kw + (size_t)h * hd;
            memcpy(k, src, (size_t)nope * sizeof(float));
            memcpy(k + nope, kva + rank, (size_t)hp->n_rot * sizeof(float));
            memcpy(f->vx + (size_t)t * f->vw + (size_t)h * hp->head_dim_v, src + nope,
                   (size_t)hp->head_dim_v * sizeof(float));
        }
    }
}

/* K and V of the batch into each row's cache as F16 (V transposed, as llama.cpp stores it).
 * V goes in a tile of rows by a stretch of values at a time, converted into a small buffer
 * and stored column by column: a prompt's consecutive positions then fill each V^T row's
 * cells side by side, where one row at a time wrote one value to each of vw rows n_pad cells
 * apart (4% of an OLMoE-shape prefill of 64, all in those stores). */
enum { V_TILE_ROWS = 8, V_TILE_VALS = 256 };
static void fwd_attn_store(struct fwd *f, int il, int n)
{
    const struct quant_traits *t16 = quant_traits(GGML_TYPE_F16);
    const size_t np = (size_t)f->n_pad;
    for (int t = 0; t < n; t++) {
        const size_t p = (size_t)f->row_pos[t];
        const struct fwd_kv *kv = &f->kv[f->row_kv[t]];
        t16->from_float(f->kx + (size_t)t * f->kw, kv->k + ((size_t)il * np + p) * (size_t)f->kw,
                        f->kw);
    }
    uint16_t v16[V_TILE_ROWS][V_TILE_VALS];
    for (int t0 = 0; t0 < n; t0 += V_TILE_ROWS) {
        const int rows = n - t0 < V_TILE_ROWS ? n - t0 : V_TILE_ROWS;
        for (int i0 = 0; i0 < f->vw; i0 += V_TILE_VALS) {
            const int vals = f->vw - i0 < V_TILE_VALS ? f->vw - i0 : V_TILE_VALS;
            for (int r = 0; r < rows; r++)
                t16->from_float(f->vx + (size_t)(t0 + r) * f->vw + (size_t)i0, v16[r], vals);
            for (int i = 0; i < vals; i++) {
                const size_t cell = ((size_t)il * (size_t)f->vw + (size_t)(i0 + i)) * np;
                for (int r = 0; r < rows; r++)
                    f->kv[f->row_kv[t0 + r]].v[cell + (size_t)f->row_pos[t0 + r]] = v16[r][i];
            }
        }
    }
}

static void fwd_attention(struct fwd *f, int il, int n)
{
    const struct model *m = f->m;
    const struct hparams *hp = &m->hp;
    const struct layer *L = &m->layers[il];
    const int d = f->d;

    for (int t = 0; t < n; t++)
        fwd_rmsnorm(f->xn + (size_t)t * d, f->x + (size_t)t * d,
                    (const float *)L->t[AT_ATTN_NORM].data, d, hp->norm_eps);
    if (m->arch->latent_attn)
        fwd_attn_project_latent(f, L, n);
    else
        fwd_attn_project(f, L, n);
    fwd_attn_store(f, il, n);

    struct attn_ctx a = { .f = f, .il = il, .n = n };
    atomic_store_explicit(&f->next_chunk, 0, memory_order_relaxed);
    threads_run_any(f->pool, fwd_attn_worker, &a);

    const float *att = f->att;
    fwd_act_reset(f);
    if (m->arch->latent_attn && hp->mla_absorbed) {
        /* each head's latent output through its attn_v_b */
        const size_t ow = (size_t)hp->n_head * hp->head_dim_v;
        for (int h = 0; h < hp->n_head; h++)
            fwd_job_rows(f, &L->t[AT_ATTN_V_B_MLA], h, f->att + (size_t)h * f->dv, (size_t)f->od,
                         n, f->ao + (size_t)h * hp->head_dim_v, ow);
        fwd_mm_run(f);
        fwd_act_reset(f);
        att = f->ao;
    }
    fwd_job(f, &L->t[AT_ATTN_OUT], 0, att, n, NULL, f->tmp, (size_t)d, NULL,
            (const float *)L->t[AT_ATTN_OUT_B].data);
    fwd_mm_run(f);
    for (int t = 0; t < n; t++) {
        float *x = f->x + (size_t)t * d;
        const float *o = f->tmp + (size_t)t * d;
        if (hp->residual_scale != 0.0f)
            for (int i = 0; i < d; i++)
                x[i] = o[i] * hp->residual_scale + x[i];
        else
            for (int i = 0; i < d; i++)
                x[i] = o[i] + x[i];
    }
}

/* ------------------------------------------------------------------ router */

/* Group-limited routing (DeepSeek-V3, llama.cpp's build_moe_ffn): the experts form groups of
 * consecutive ids; a group scores the sum of its two best selection scores; all but the
 * n_used best groups are masked to -inf before the top-k. */
static void fwd_route_groups(float *s, int ne, int n_groups, int n_used)
{
    const int per = ne / n_groups;
    float score[256];
    bool keep[256];
    for (int g = 0; g < n_groups && g < 256; g++) {
        float a = -INFINITY, b = -INFINITY;
        for (int i = g * per; i < (g + 1) * per; i++) {
            if (s[i] > a) {
                b = a;
                a = s[i];
            } else if (s[i] > b) {
                b = s[i];
            }
        }
        score[g] = a + b;
        keep[g] = false;
    }
    for (int u = 0; u < n_used; u++) {
        int best = -1;
        for (int g = 0; g < n_groups && g < 256; g++)
            if (!keep[g] && (best < 0 || score[g] > score[best]))
                best = g;
        if (best >= 0)
            keep[best] = true;
    }
    for (int g = 0; g < n_groups && g < 256; g++)
        if (!keep[g])
            for (int i = g * per; i < (g + 1) * per; i++)
                s[i] = -INFINITY;
}

/* Routes token t of the batch: probabilities, top-k, weights; fills rec when not NULL. */
static void fwd_route(struct fwd *f, const struct layer *L, int il, int t,
                      struct trace_layer *rec)
{
    const struct hparams *hp = &f->m->hp;
    const int ne = f->n_experts, k = hp->n_experts_used;
    const float *lg = f->rlog + (size_t)t * ne;
    float *p = f->rprob + (size_t)t * ne, *s = f->rsel + (size_t)t * ne;
    const float *bias = (const float *)L->t[AT_FFN_EXP_PROBS_B].data;
    if (hp->router == ARCH_ROUTER_SOFTMAX_WEIGHT) {
        /* gpt-oss: the (biased) logits choose; p, the softmax over all of them, is only
         * what the trace reports as the router's distribution */
        memcpy(s, lg, (size_t)ne * sizeof(float));
        fwd_softmax(p, lg, ne);
    } else {
        if (hp->router == ARCH_ROUTER_SIGMOID)
            for (int i = 0; i < ne; i++)
                p[i] = 1.0f / (1.0f + expf(-lg[i]));
        else
            fwd_softmax(p, lg, ne);
        for (int i = 0; i < ne; i++)
            s[i] = bias ? p[i] + bias[i] : p[i];
    }

    int *sel = f->sel + (size_t)t * f->k;
    float *w = f->selw + (size_t)t * f->k;
    if (hp->n_expert_groups > 1)
        fwd_route_groups(s, ne, hp->n_expert_groups, hp->n_group_used);
    /* top-k by selection score, best first (lowest id on a tie) */
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < ne; i++) {
            bool used = false;
            for (int q = 0; q < j; q++)
                used = used || sel[q] == i;
            if (!used && (best < 0 || s[i] > s[best]))
                best = i;
        }
        sel[j] = best;
        w[j] = p[best];
    }
    if (hp->router == ARCH_ROUTER_SOFTMAX_WEIGHT) {
        float chosen[TRACE_MAX_K];
        for (int j = 0; j < k; j++)
            chosen[j] = s[sel[j]];
        fwd_softmax(w, chosen, k);
    }
    if (hp->router_renorm) {
        double sum = 0.0;
        for (int j = 0; j < k; j++)
            sum += (double)w[j];
        float fs = (float)sum;
        if (fs < 6.103515625e-5f)
            fs = 6.103515625e-5f;
        for (int j = 0; j < k; j++)
            w[j] = w[j] / fs;
    }
    if (hp->expert_weights_scale != 0.0f && hp->expert_weights_scale != 1.0f)
        for (int j = 0; j < k; j++)
            w[j] *= hp->expert_weights_scale;

    if (!rec)
        return;
    double tot = 0.0, h = 0.0;
    for (int i = 0; i < ne; i++)
        tot += (double)p[i];
    for (int i = 0; i < ne; i++) {
        double q = tot > 0.0 ? (double)p[i] / tot : 0.0;
        if (q > 0.0)
            h -= q * log(q);
    }
    rec->n = (uint8_t)k;
    rec->entropy = (float)h;
    rec->top1_prob = p[sel[0]];
    rec->cold = 0;
    uint8_t *touched = f->touched + (size_t)il * (size_t)ne;
    for (int j = 0; j < k; j++) {
        rec->experts[j] = (uint16_t)sel[j];
        rec->weights[j] = w[j];
        if (!touched[sel[j]]) {
            touched[sel[j]] = 1;
            rec->cold |= (uint16_t)(1u << j);
        }
    }
}

/* ------------------------------------------------------------------ FFN */

/* Runs every (token, unit) pair of the batch through its SwiGLU FFN: gate and up, then
 * silu(gate) * up, then down. units[u] are the FFNs; pairs come sorted by unit in
 * pair_tok / pair_row with unit_off bounds. */
static void fwd_ffn_units(struct fwd *f, const struct ffn_unit *units, int n_units, int n)
{
    fwd_act_reset(f);
    for (int u = 0; u < n_units; u++) {
        int c = f->unit_off[u + 1] - f->unit_off[u];
        if (!c)
            continue;
        const int *tok = f->pair_tok + f->unit_off[u], *row = f->pair_row + f->unit_off[u];
        const struct ffn_unit *U = &units[u];
        struct mm_job *j = fwd_job(f, U->gate, U->e, f->xn, n, NULL, f->g, (size_t)f->ffmax,
                                   row, U->gate_b);
        j->xi = tok, j->n = c;
        j = fwd_job(f, U->up, U->e, f->xn, n, NULL, f->u, (size_t)f->ffmax, row, U->up_b);
        j->xi = tok, j->n = c;
    }
    fwd_mm_run(f);
    int n_pairs = f->unit_off[n_units];
    for (int u = 0; u < n_units; u++)
        for (int q = f->unit_off[u]; q < f->unit_off[u + 1]; q++) {
            float *g = f->g + (size_t)f->pair_row[q] * f->ffmax;
            const float *up = f->u + (size_t)f->pair_row[q] * f->ffmax;
            if (f->m->arch->swiglu_oai)
                fwd_swiglu_oai(g, up, units[u].n_ff);
            else
                fwd_swiglu(g, up, units[u].n_ff);
        }
    fwd_act_reset(f);
    for (int u = 0; u < n_units; u++) {
        int c = f->unit_off[u + 1] - f->unit_off[u];
        if (!c)
            continue;
        const int *row = f->pair_row + f->unit_off[u];
        const struct ffn_unit *U = &units[u];
        /* h rows live at pair rows of g, ffmax apart; quantized once per width and type */
        size_t stride;
        const uint8_t *hx = fwd_act(f, f->g, n_pairs, U->n_ff, (size_t)f->ffmax,
                                    U->down->type, &stride);
        struct mm_job *j = fwd_job(f, U->down, U->e, NULL, 0, NULL, f->eo, (size_t)f->d, row,
                                   U->down_b);
        j->x = hx, j->x_stride = stride, j->xi = row, j->n = c;
        fwd_pick_dot(j, U->down, U->down->ne[2] > 1, fwd_n_cols(f, c));
    }
    fwd_mm_run(f);
}

/* Returns the nanoseconds spent routing (the rest of the call is the experts). */
static uint64_t fwd_ffn(struct fwd *f, int il, int n, struct trace_layer *recs, int rec_stride)
{
    const struct model *m = f->m;
    const struct hparams *hp = &m->hp;
    const struct layer *L = &m->layers[il];
    const int d = f->d;
    uint64_t t0 = clock_now_ns();

    /* the FFN's input norm: ffn_norm, or post_attention_norm where the family names it so */
    const struct wt *norm = L->t[AT_FFN_NORM].data ? &L->t[AT_FFN_NORM] : &L->t[AT_ATTN_POST_NORM];
    for (int t = 0; t < n; t++)
        fwd_rmsnorm(f->xn + (size_t)t * d, f->x + (size_t)t * d, (const float *)norm->data, d,
                    hp->norm_eps);

    /* units: experts 0..n_experts-1, then the shared expert; or the dense FFN alone */
    struct ffn_unit dense;
    const struct ffn_unit *U = &dense;
    int n_units, per_tok;
    const bool has_shared = L->moe && L->t[AT_FFN_GATE_SHEXP].data;
    uint64_t t_router = 0;
    if (L->moe) {
        fwd_act_reset(f);
        fwd_job(f, &L->t[AT_FFN_GATE_INP], 0, f->xn, n, NULL, f->rlog, (size_t)f->n_experts, NULL,
                (const float *)L->t[AT_FFN_GATE_INP_B].data);
        if (L->t[AT_FFN_GATE_INP_SHEXP].data) {
            /* a one-row matrix: the shared gate's logit per token */
            struct wt gw = L->t[AT_FFN_GATE_INP_SHEXP];
            gw.ne[1] = 1;
            fwd_job(f, &gw, 0, f->xn, n, NULL, f->sgate, 1, NULL, NULL);
        }
        fwd_mm_run(f);
        for (int t = 0; t < n; t++)
            fwd_route(f, L, il, t, recs ? recs + (size_t)t * rec_stride : NULL);
        t_router = clock_now_ns() - t0;

        n_units = f->n_experts + (has_shared ? 1 : 0);
        per_tok = hp->n_experts_used + (has_shared ? 1 : 0);
    } else {
        dense = (struct ffn_unit){ .gate = &L->t[AT_FFN_GATE], .up = &L->t[AT_FFN_UP],
                                   .down = &L->t[AT_FFN_DOWN], .n_ff = hp->n_ff };
        n_units = 1;
        per_tok = 1;
    }

    /* counting sort of (token, unit) pairs by unit; pair rows are t * per_tok + j */
    for (int u = 0; u <= n_units; u++)
        f->unit_cnt[u] = 0;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < per_tok; j++) {
            int u = !L->moe ? 0 : j < hp->n_experts_used ? f->sel[(size_t)t * f->k + j] : f->n_experts;
            f->unit_cnt[u]++;
        }
    f->unit_off[0] = 0;
    for (int u = 0; u < n_units; u++)
        f->unit_off[u + 1] = f->unit_off[u] + f->unit_cnt[u];
    for (int u = 0; u < n_units; u++)
        f->unit_cnt[u] = f->unit_off[u];
    for (int t = 0; t < n; t++)
        for (int j = 0; j < per_tok; j++) {
            int u = !L->moe ? 0 : j < hp->n_experts_used ? f->sel[(size_t)t * f->k + j] : f->n_experts;
            int q = f->unit_cnt[u]++;
            f->pair_tok[q] = t;
            f->pair_row[q] = t * per_tok + j;
        }

    if (L->moe) {
        /* Build the unit table in the scratch that follows the jobs (sized at create). */
        struct ffn_unit *tab = (struct ffn_unit *)(f->jobs + MAX_JOBS);
        for (int e = 0; e < f->n_experts; e++) {
            tab[e] = (struct ffn_unit){ .gate = &L->t[AT_FFN_GATE_EXPS],
                                        .up = &L->t[AT_FFN_UP_EXPS],
                                        .down = &L->t[AT_FFN_DOWN_EXPS], .e = e,
                                        .n_ff = hp->n_ff_exp };
            /* per-expert bias rows (gpt-oss): ggml_add_id after each product */
            if (L->t[AT_FFN_GATE_EXPS_B].data) {
                tab[e].gate_b = (const float *)L->t[AT_FFN_GATE_EXPS_B].data + e * hp->n_ff_exp;
                tab[e].up_b = (const float *)L->t[AT_FFN_UP_EXPS_B].data + e * hp->n_ff_exp;
                tab[e].down_b = (const float *)L->t[AT_FFN_DOWN_EXPS_B].data + e * hp->d_model;
            }
        }
        if (has_shared)
            tab[f->n_experts] = (struct ffn_unit){ .gate = &L->t[AT_FFN_GATE_SHEXP],
                                                   .up = &L->t[AT_FFN_UP_SHEXP],
                                                   .down = &L->t[AT_FFN_DOWN_SHEXP],
                                                   .n_ff = hp->n_ff_shexp };
        U = tab;
    }
    fwd_ffn_units(f, U, n_units, n);

    /* combine: routed experts in selection order, then the shared expert, then residual */
    for (int t = 0; t < n; t++) {
        float *acc = f->acc + (size_t)t * d;
        const float *e0 = f->eo + (size_t)(t * per_tok) * d;
        if (!L->moe) {
            memcpy(acc, e0, (size_t)d * sizeof(float));
        } else {
            const float *w = f->selw + (size_t)t * f->k;
            for (int i = 0; i < d; i++)
                acc[i] = e0[i] * w[0];
            for (int j = 1; j < hp->n_experts_used; j++) {
                const float *ej = f->eo + (size_t)(t * per_tok + j) * d;
                for (int i = 0; i < d; i++)
                    acc[i] = acc[i] + ej[i] * w[j];
            }
            if (has_shared) {
                const float *es = f->eo + (size_t)(t * per_tok + hp->n_experts_used) * d;
                if (L->t[AT_FFN_GATE_INP_SHEXP].data) {
                    /* llama.cpp's sigmoid: silu(x) / x */
                    const float gl = f->sgate[t];
                    const float gate = fwd_silu(gl) / gl;
                    for (int i = 0; i < d; i++)
                        acc[i] = acc[i] + es[i] * gate;
                } else {
                    for (int i = 0; i < d; i++)
                        acc[i] = acc[i] + es[i];
                }
            }
        }
        float *x = f->x + (size_t)t * d;
        if (hp->residual_scale != 0.0f)
            for (int i = 0; i < d; i++)
                x[i] = acc[i] * hp->residual_scale + x[i];
        else
            for (int i = 0; i < d; i++)
                x[i] = acc[i] + x[i];
    }
    return t_router;
}

/* ------------------------------------------------------------------ create / eval */

int fwd_n_ctx(const struct fwd *f)
{
    return f->n_ctx;
}

const float *fwd_logits(const struct fwd *f)
{
    return f->logits;
}

void fwd_mark_warm(struct fwd *f)
{
    memset(f->touched, 1, (size_t)f->m->hp.n_layers * (size_t)(f->n_experts > 0 ? f->n_experts : 1));
}

void fwd_free(struct fwd *f)
{
    if (!f)
        return;
    float **fl[] = { &f->x, &f->xn, &f->q, &f->kx, &f->vx, &f->att, &f->qraw, &f->qa, &f->kva,
                     &f->kvb, &f->ao, &f->tmp, &f->acc,
                     &f->rlog, &f->rprob, &f->rsel, &f->selw, &f->sgate, &f->g, &f->u,
                     &f->eo, &f->logits, &f->rope, &f->sc };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        free(*fl[i]);
    free(f->sel);
    free(f->pair_tok);
    free(f->pair_row);
    free(f->unit_cnt);
    free(f->unit_off);
    for (int i = 0; i < N_ACT_SLOTS; i++)
        free(f->act[i].buf);
    free(f->jobs);
    free(f->tile);
    free(f->p16);
    free(f->q16);
    for (int i = 0; f->kv && i < f->n_kv; i++) {
        free(f->kv[i].k);
        free(f->kv[i].v);
    }
    free(f->kv);
    free(f->row_pos);
    free(f->row_kv);
    free(f->touched);
    free(f);
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

/* Grows the caches to n (allocated zeroed, as a fresh cache is). Returns 0, -1 when memory
 * runs out (the caches already there stay). */
static int fwd_kv_reserve(struct fwd *f, int n)
{
    if (n <= f->n_kv)
        return 0;
    struct fwd_kv *kv = realloc(f->kv, (size_t)n * sizeof *kv);
    if (!kv)
        return -1;
    f->kv = kv;
    const size_t cells = (size_t)f->m->hp.n_layers * (size_t)f->n_pad;
    for (; f->n_kv < n; f->n_kv++) {
        struct fwd_kv *c = &f->kv[f->n_kv];
        c->k = calloc(cells * (size_t)f->kw, sizeof(uint16_t));
        c->v = calloc(cells * (size_t)f->vw, sizeof(uint16_t));
        if (!c->k || !c->v) {
            free(c->k);
            free(c->v);
            return -1;
        }
        /* V only: K is written a position's row at a time, V a value to each of vw rows */
        huge_pages_advise(c->v, cells * (size_t)f->vw * sizeof(uint16_t));
    }
    return 0;
}

int fwd_reserve(struct fwd *f, int n_kv, int n_rows)
{
    if (n_kv < 1 || n_rows < 1 || n_rows > FWD_BATCH)
        return -1;
    if (fwd_kv_reserve(f, n_kv) != 0)
        return -1;
    if (n_rows > f->n_logits) {
        float *l = realloc(f->logits, (size_t)n_rows * (size_t)f->m->hp.n_vocab * sizeof *l);
        if (!l)
            return -1;
        f->logits = l;
        f->n_logits = n_rows;
    }
    return 0;
}

int fwd_n_kv(const struct fwd *f)
{
    return f->n_kv;
}

struct fwd *fwd_create(const struct model *m, int n_ctx, struct thread_pool *pool, char *err,
                       size_t errlen)
{
    const struct hparams *hp = &m->hp;
    struct fwd *f = calloc(1, sizeof *f);
    if (!f)
        goto oom;
    f->m = m;
    f->pool = pool;
    f->n_ctx = n_ctx;
    f->nth = threads_count(pool);
    f->d = hp->d_model;
    f->dk = f->dv = hp->head_dim;
    f->n_kvh = hp->n_kv_head;
    if (m->arch->latent_attn && hp->mla_absorbed) {
        f->dk = hp->n_lora_kv + hp->n_rot;
        f->dv = hp->n_lora_kv;
        f->n_kvh = 1;
    } else if (m->arch->latent_attn) {
        f->dv = hp->head_dim_v;
        f->n_kvh = hp->n_head;
    }
    f->kw = f->n_kvh * f->dk;
    f->vw = f->n_kvh * f->dv;
    f->qd = hp->n_head * f->dk;
    f->od = hp->n_head * f->dv;
    f->ffmax = imax(imax(hp->n_ff, hp->n_ff_exp), hp->n_ff_shexp);
    f->n_experts = hp->n_experts;
    f->k = imax(1, hp->n_experts_used);
    f->slots = f->k + 1;
    const size_t B = FWD_BATCH, P = B * (size_t)f->slots;
    const size_t d = (size_t)f->d, qd = (size_t)f->qd;
    const size_t ne = (size_t)imax(1, f->n_experts);
    f->x = malloc(B * d * sizeof(float));
    f->xn = malloc(B * d * sizeof(float));
    f->q = malloc(B * qd * sizeof(float));
    f->kx = malloc(B * (size_t)f->kw * sizeof(float));
    f->vx = malloc(B * (size_t)f->vw * sizeof(float));
    f->att = malloc(B * (size_t)f->od * sizeof(float));
    if (m->arch->latent_attn) {
        const size_t raw = (size_t)hp->n_head * (size_t)hp->head_dim;
        f->qraw = malloc(B * raw * sizeof(float));
        f->qa = malloc(B * (size_t)imax(1, hp->n_lora_q) * sizeof(float));
        f->kva = malloc(B * (size_t)(hp->n_lora_kv + hp->n_rot) * sizeof(float));
        f->kvb = malloc(B * (size_t)hp->n_head *
                        (size_t)(hp->head_dim - hp->n_rot + hp->head_dim_v) * sizeof(float));
        f->ao = malloc(B * (size_t)hp->n_head * (size_t)hp->head_dim_v * sizeof(float));
        if (!f->qraw || !f->qa || !f->kva || !f->kvb || !f->ao)
            goto oom;
    }
    f->tmp = malloc(B * d * sizeof(float));
    f->acc = malloc(B * d * sizeof(float));
    f->rlog = malloc(B * ne * sizeof(float));
    f->rprob = malloc(B * ne * sizeof(float));
    f->rsel = malloc(B * ne * sizeof(float));
    f->sel = malloc(B * (size_t)f->k * sizeof(int));
    f->selw = malloc(B * (size_t)f->k * sizeof(float));
    f->sgate = malloc(B * sizeof(float));
    f->g = malloc(P * (size_t)f->ffmax * sizeof(float));
    f->u = malloc(P * (size_t)f->ffmax * sizeof(float));
    f->eo = malloc(P * d * sizeof(float));
    f->pair_tok = malloc(P * sizeof(int));
    f->pair_row = malloc(P * sizeof(int));
    f->unit_cnt = malloc((ne + 3) * sizeof(int));
    f->unit_off = malloc((ne + 3) * sizeof(int));
    f->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    f->rope = malloc((size_t)imax(2, hp->n_rot) * sizeof(float));
    /* jobs, then the unit table of a MoE layer */
    f->jobs = malloc(MAX_JOBS * sizeof(struct mm_job) + (ne + 2) * sizeof(struct ffn_unit));
    size_t maxdim = (size_t)imax(imax(imax(f->d, f->qd), imax(f->od, f->ffmax)),
                                 imax(hp->n_lora_q, hp->n_lora_kv + hp->n_rot));
    size_t act_bytes = P * (2 * maxdim + 64);
    for (int i = 0; i < N_ACT_SLOTS; i++)
        if (!(f->act[i].buf = malloc(act_bytes)))
            goto oom;
    f->n_pad = (n_ctx + KV_PAD - 1) / KV_PAD * KV_PAD;
    f->sc = malloc((size_t)f->nth * (size_t)f->n_pad * sizeof(float));
    f->tile = malloc((size_t)f->nth * FWD_TILE_ROWS * KERN_MAX_Y * sizeof(float));
    f->p16 = malloc((size_t)f->nth * (size_t)f->n_pad * sizeof(uint16_t));
    /* q16: a head's query per thread, and (thread 0's) a V row before it goes in a column */
    f->q16 = malloc((size_t)imax(f->nth * f->dk, f->vw) * sizeof(uint16_t));
    f->row_pos = malloc(B * sizeof(int));
    f->row_kv = malloc(B * sizeof(int));
    f->n_logits = 1;
    f->touched = calloc((size_t)hp->n_layers * ne, 1);
    if (!f->x || !f->xn || !f->q || !f->kx || !f->vx || !f->att || !f->tmp || !f->acc ||
        !f->rlog || !f->rprob || !f->rsel || !f->sel || !f->selw || !f->sgate || !f->g ||
        !f->u || !f->eo || !f->pair_tok || !f->pair_row || !f->unit_cnt ||
        !f->unit_off || !f->logits || !f->rope || !f->jobs || !f->tile || !f->sc || !f->p16 || !f->q16 ||
        !f->row_pos || !f->row_kv || !f->touched || fwd_kv_reserve(f, 1) != 0)
        goto oom;
    return f;
oom:
    if (err && errlen)
        snprintf(err, errlen, "%s: out of memory for the KV cache and buffers (context %d)",
                 m->f.path, n_ctx);
    fwd_free(f);
    return NULL;
}

static void fwd_embed(struct fwd *f, const int32_t *tokens, int n)
{
    const struct model *m = f->m;
    const struct quant_traits *qt = quant_traits(m->tok_embd.type);
    for (int t = 0; t < n; t++) {
        float *x = f->x + (size_t)t * f->d;
        qt->to_float(m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.nb1, x, f->d);
        if (m->hp.embedding_scale != 0.0f)
            for (int i = 0; i < f->d; i++)
                x[i] *= m->hp.embedding_scale;
    }
}

/* The logits of rows [t, t + n) of x into logits rows 0..n-1. */
static void fwd_output(struct fwd *f, int t, int n)
{
    const struct model *m = f->m;
    const size_t nv = (size_t)m->hp.n_vocab;
    for (int r = 0; r < n; r++)
        fwd_rmsnorm(f->xn + (size_t)r * f->d, f->x + (size_t)(t + r) * f->d,
                    (const float *)m->output_norm.data, f->d, m->hp.norm_eps);
    fwd_act_reset(f);
    fwd_job(f, &m->output, 0, f->xn, n, NULL, f->logits, nv, NULL, NULL);
    fwd_mm_run(f);
    if (m->hp.logit_scale != 0.0f) {
        const float s = 1.0f / m->hp.logit_scale;
        for (size_t i = 0; i < (size_t)n * nv; i++)
            f->logits[i] *= s;
    }
}

/* One pass of n rows (set in row_pos and row_kv) through every layer, the phases' times
 * added into out. last: the pass ends a prompt, so the last layer's FFN runs its last row
 * alone (as llama.cpp) and the logits are the last row's. */
static void fwd_pass(struct fwd *f, int n, struct trace_layer *recs, bool last,
                     struct fwd_out *out)
{
    const struct hparams *hp = &f->m->hp;
    uint64_t t_attn = 0, t_route = 0, t_exp = 0;
    for (int il = 0; il < hp->n_layers; il++) {
        uint64_t a0 = clock_now_ns();
        fwd_attention(f, il, n);
        uint64_t a1 = clock_now_ns();
        struct trace_layer *rl = NULL;
        if (recs) {
            rl = recs + il;
            for (int t = 0; t < n; t++)
                memset(rl + (size_t)t * hp->n_layers, 0, sizeof *rl);
        }
        uint64_t r;
        if (il == hp->n_layers - 1 && n >= 2 && last && !f->rows_alone &&
            !f->m->arch->last_layer_all_rows) {
            /* llama.cpp keeps only the rows whose logits it needs before the last
             * layer's FFN, so it multiplies that one row alone (no tinyBLAS): do the
             * others, then the last row by itself. */
            const size_t d = (size_t)f->d;
            r = fwd_ffn(f, il, n - 1, rl, hp->n_layers);
            memcpy(f->x, f->x + (size_t)(n - 1) * d, d * sizeof(float));
            r += fwd_ffn(f, il, 1, rl ? rl + (size_t)(n - 1) * hp->n_layers : NULL,
                         hp->n_layers);
            memcpy(f->x + (size_t)(n - 1) * d, f->x, d * sizeof(float));
        } else {
            r = fwd_ffn(f, il, n, rl, hp->n_layers);
        }
        uint64_t a2 = clock_now_ns();
        t_attn += a1 - a0;
        t_route += r;
        t_exp += a2 - a1 - r;
    }
    uint64_t t2 = clock_now_ns();
    if (f->rows_alone)
        fwd_output(f, 0, n);
    else if (last)
        fwd_output(f, n - 1, 1);
    uint64_t t3 = clock_now_ns();
    if (out) {
        out->ns[TRACE_ATTN] += t_attn;
        out->ns[TRACE_ROUTER] += t_route;
        out->ns[TRACE_EXPERTS] += t_exp;
        out->ns[TRACE_OTHER] += t3 - t2;
    }
}

int fwd_eval_kv(struct fwd *f, int kv, const int32_t *tokens, int n, int pos0,
                struct fwd_out *out)
{
    const struct hparams *hp = &f->m->hp;
    if (n < 0 || pos0 < 0 || pos0 + n > f->n_ctx || kv < 0 || kv >= f->n_kv)
        return -1;
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
            return -1;
    if (out)
        memset(out->ns, 0, sizeof out->ns);
    f->rows_alone = false;
    for (int b = 0, nb = 0; b < n; b += nb) {
        nb = n - b < FWD_BATCH ? n - b : FWD_BATCH;
        if (n - b - nb == 1)
            nb--; /* never leave one row alone: llama.cpp runs the prompt as one batch */
        uint64_t t0 = clock_now_ns();
        fwd_embed(f, tokens + b, nb);
        for (int t = 0; t < nb; t++) {
            f->row_pos[t] = pos0 + b + t;
            f->row_kv[t] = kv;
        }
        uint64_t t1 = clock_now_ns();
        fwd_pass(f, nb, out && out->layers ? out->layers + (size_t)b * hp->n_layers : NULL,
                 b + nb == n, out);
        if (out)
            out->ns[TRACE_OTHER] += t1 - t0;
    }
    return 0;
}

int fwd_eval(struct fwd *f, const int32_t *tokens, int n, int pos0, struct fwd_out *out)
{
    return fwd_eval_kv(f, 0, tokens, n, pos0, out);
}

int fwd_eval_rows(struct fwd *f, const int *kv, const int32_t *tokens, const int *pos, int n,
                  struct fwd_out *out)
{
    const struct hparams *hp = &f->m->hp;
    if (n < 1 || n > f->n_logits)
        return -1;
    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab || pos[t] < 0 || pos[t] >= f->n_ctx ||
            kv[t] < 0 || kv[t] >= f->n_kv)
            return -1;
        for (int u = 0; u < t; u++)
            if (kv[u] == kv[t])
                return -1; /* one row per cache: a row must not see another's new cell */
    }
    if (out)
        memset(out->ns, 0, sizeof out->ns);
    uint64_t t0 = clock_now_ns();
    fwd_embed(f, tokens, n);
    memcpy(f->row_pos, pos, (size_t)n * sizeof *pos);
    memcpy(f->row_kv, kv, (size_t)n * sizeof *kv);
    f->rows_alone = true;
    uint64_t t1 = clock_now_ns();
    fwd_pass(f, n, out ? out->layers : NULL, true, out);
    f->rows_alone = false;
    if (out)
        out->ns[TRACE_OTHER] += t1 - t0;
    return 0;
}

const float *fwd_logits_row(const struct fwd *f, int i)
{
    return f->logits + (size_t)i * (size_t)f->m->hp.n_vocab;
}
