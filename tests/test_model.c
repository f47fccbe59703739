/* tests/test_model.c: the model loader, the architecture table and the forward pass on
 * models written here (tools/synth, and hand-built files for the error cases), and
 * model_describe on the fixtures.
 *
 * The forward pass is checked against an independent float64 forward written below from
 * llama.cpp's graph builders (src/models/<arch>.cpp, build_moe_ffn): family quirks are
 * spelled out by architecture name here, not read from engine/model/arch.c, so a wrong table row
 * shows up as a difference. That covers the distinctive step of each family without a
 * fixture: qwen3moe's per-head QK-norm, granitemoe's four scales, dense qwen2's QKV bias
 * (and the others' too). The engine rounds Q, K, V and the attention weights to F16 as
 * llama.cpp does; the float64 forward does not, so logits agree to about 1e-3 of their
 * scale, and routing may differ only where two router probabilities are within 1e-3. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "arch.h"
#include "engine.h"
#include "forward.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "quant.h"
#include "threads.h"

#define SYNTH_NO_MAIN
#include "../tools/synth.c"

/* ------------------------------------------------------------------ helpers */

static int tm_synth(const char *file, char *path, size_t pathlen, const char *const *args)
{
    snprintf(path, pathlen, "%s/%s", test_tmp_dir(), file);
    char *argv[64];
    int argc = 0;
    argv[argc++] = "synth";
    for (; args[argc - 1] && argc < 60; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc++] = "-o";
    argv[argc++] = path;
    argv[argc] = NULL;
    synth_quiet = true;
    return synth_main(argc, argv);
}

/* The small shapes the architecture tests use. */
static const char *const *tm_args(const char *arch)
{
    static const char *const moe[] = { "--layers", "2", "--d-model", "64", "--heads", "4",
                                       "--kv-heads", "2", "--experts", "8", "--experts-used",
                                       "2", "--ff", "32", "--merges", "50", "--seed", "7",
                                       NULL };
    static const char *const olmoe[] = { "--arch", "olmoe", "--layers", "2", "--d-model", "64",
                                         "--heads", "4", "--experts", "8", "--experts-used",
                                         "3", "--ff", "32", "--merges", "50", "--seed", "7",
                                         NULL };
    static const char *const dense[] = { "--layers", "2", "--d-model", "64", "--heads", "4",
                                         "--kv-heads", "2", "--experts", "0", "--ff", "48",
                                         "--merges", "50", "--seed", "7", NULL };
    static const char *buf[48];
    const char *const *base = !strcmp(arch, "olmoe") ? olmoe
                              : (!strcmp(arch, "llama") || !strcmp(arch, "qwen2")) ? dense
                                                                                   : moe;
    int n = 0;
    if (strcmp(arch, "olmoe")) {
        buf[n++] = "--arch";
        buf[n++] = arch;
    }
    for (int i = 0; base[i]; i++)
        buf[n++] = base[i];
    if (!strcmp(arch, "qwen2moe") || !strcmp(arch, "granitemoe")) {
        buf[n++] = "--shared-ff";
        buf[n++] = "48";
    }
    buf[n] = NULL;
    return buf;
}

/* ------------------------------------------------------------------ float64 forward */

struct ref_model {
    const struct gguf_file *f;
    const char *arch;
    int n_layers, d, n_head, n_kv, hd, n_exp, k, n_vocab;
    double eps, rope_base, kq_scale, emb_scale, res_scale, logit_scale;
    bool neox, qk_head, qk_full, renorm, shared_gated;
    double *kc, *vc; /* (n_layers, n_pos, n_kv * hd) */
};

/* A weight as doubles (F32 files only), or NULL when absent. */
static double *ref_w(const struct ref_model *r, const char *fmt, int il)
{
    char name[96];
    snprintf(name, sizeof name, fmt, il);
    const struct gguf_tensor *t = gguf_find_tensor(r->f, name);
    if (!t)
        return NULL;
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->n_dims; i++)
        n *= (uint64_t)t->ne[i];
    double *x = malloc(n * sizeof *x);
    const float *src = t->data;
    for (uint64_t i = 0; i < n; i++)
        x[i] = src[i];
    return x;
}

static void ref_matvec(double *y, const double *w, const double *x, int cols, int rows)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += w[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void ref_rmsnorm(double *y, const double *x, const double *w, int n, double eps)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    double sc = 1.0 / sqrt(s / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * sc * (w ? w[i] : 1.0);
}

static void ref_rope(double *v, int hd, int pos, double base, bool neox)
{
    for (int i = 0; i < hd / 2; i++) {
        double th = pos * pow(base, -2.0 * i / hd), c = cos(th), s = sin(th);
        int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

static double ref_silu(double x)
{
    return x / (1.0 + exp(-x));
}

/* y += scale * down(silu(gate x) * up x) */
static void ref_ffn(const struct ref_model *r, double *y, const double *x, const double *g,
                    const double *u, const double *dn, int ff, double scale)
{
    double *a = malloc((size_t)ff * sizeof *a), *b = malloc((size_t)ff * sizeof *b);
    double *o = malloc((size_t)r->d * sizeof *o);
    ref_matvec(a, g, x, r->d, ff);
    ref_matvec(b, u, x, r->d, ff);
    for (int i = 0; i < ff; i++)
        a[i] = ref_silu(a[i]) * b[i];
    ref_matvec(o, dn, a, ff, r->d);
    for (int i = 0; i < r->d; i++)
        y[i] += scale * o[i];
    free(a);
    free(b);
    free(o);
}

struct ref_route {
    int experts[TRACE_MAX_K];
    double probs[64];
};

/* One token through the float64 model; logits (n_vocab) and per-layer routing out. */
static void ref_token(struct ref_model *r, int tok, int pos, double *logits,
                      struct ref_route *route)
{
    const int d = r->d, qd = r->n_head * r->hd, kvd = r->n_kv * r->hd;
    double *x = calloc((size_t)d, sizeof *x), *h = calloc((size_t)d, sizeof *h);
    double *q = calloc((size_t)qd, sizeof *q), *att = calloc((size_t)qd, sizeof *att);
    double *y = calloc((size_t)d, sizeof *y), *sc = calloc(512, sizeof *sc);
    double *emb = ref_w(r, "token_embd.weight", 0);
    for (int i = 0; i < d; i++)
        x[i] = emb[(size_t)tok * d + i] * (r->emb_scale != 0 ? r->emb_scale : 1.0);
    free(emb);
    for (int il = 0; il < r->n_layers; il++) {
        double *an = ref_w(r, "blk.%d.attn_norm.weight", il);
        double *wq = ref_w(r, "blk.%d.attn_q.weight", il), *wk = ref_w(r, "blk.%d.attn_k.weight", il);
        double *wv = ref_w(r, "blk.%d.attn_v.weight", il);
        double *wo = ref_w(r, "blk.%d.attn_output.weight", il);
        double *bq = ref_w(r, "blk.%d.attn_q.bias", il), *bk = ref_w(r, "blk.%d.attn_k.bias", il);
        double *bv = ref_w(r, "blk.%d.attn_v.bias", il);
        double *qn = ref_w(r, "blk.%d.attn_q_norm.weight", il);
        double *kn = ref_w(r, "blk.%d.attn_k_norm.weight", il);
        double *k = r->kc + ((size_t)il * 512 + (size_t)pos) * kvd;
        double *v = r->vc + ((size_t)il * 512 + (size_t)pos) * kvd;
        ref_rmsnorm(h, x, an, d, r->eps);
        ref_matvec(q, wq, h, d, qd);
        ref_matvec(k, wk, h, d, kvd);
        ref_matvec(v, wv, h, d, kvd);
        for (int i = 0; bq && i < qd; i++)
            q[i] += bq[i];
        for (int i = 0; bk && i < kvd; i++)
            k[i] += bk[i];
        for (int i = 0; bv && i < kvd; i++)
            v[i] += bv[i];
        if (r->qk_full) { /* olmoe: one norm over all heads, before the reshape */
            ref_rmsnorm(q, q, qn, qd, r->eps);
            ref_rmsnorm(k, k, kn, kvd, r->eps);
        }
        if (r->qk_head) { /* qwen3moe: each head on its own */
            for (int hh = 0; hh < r->n_head; hh++)
                ref_rmsnorm(q + hh * r->hd, q + hh * r->hd, qn, r->hd, r->eps);
            for (int hh = 0; hh < r->n_kv; hh++)
                ref_rmsnorm(k + hh * r->hd, k + hh * r->hd, kn, r->hd, r->eps);
        }
        for (int hh = 0; hh < r->n_head; hh++)
            ref_rope(q + hh * r->hd, r->hd, pos, r->rope_base, r->neox);
        for (int hh = 0; hh < r->n_kv; hh++)
            ref_rope(k + hh * r->hd, r->hd, pos, r->rope_base, r->neox);
        for (int hh = 0; hh < r->n_head; hh++) {
            int g = hh / (r->n_head / r->n_kv);
            double mx = -1e300, sum = 0;
            for (int j = 0; j <= pos; j++) {
                const double *kj = r->kc + ((size_t)il * 512 + (size_t)j) * kvd + g * r->hd;
                double s = 0;
                for (int i = 0; i < r->hd; i++)
                    s += q[hh * r->hd + i] * kj[i];
                sc[j] = s * r->kq_scale;
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j <= pos; j++)
                sum += (sc[j] = exp(sc[j] - mx));
            for (int i = 0; i < r->hd; i++) {
                double o = 0;
                for (int j = 0; j <= pos; j++)
                    o += sc[j] / sum * r->vc[((size_t)il * 512 + (size_t)j) * kvd + g * r->hd + i];
                att[hh * r->hd + i] = o;
            }
        }
        ref_matvec(y, wo, att, qd, d);
        for (int i = 0; i < d; i++)
            x[i] += y[i] * (r->res_scale != 0 ? r->res_scale : 1.0);
        free(an), free(wq), free(wk), free(wv), free(wo), free(bq), free(bk), free(bv);
        free(qn), free(kn);

        double *fn = ref_w(r, "blk.%d.ffn_norm.weight", il);
        ref_rmsnorm(h, x, fn, d, r->eps);
        free(fn);
        memset(y, 0, (size_t)d * sizeof *y);
        if (r->n_exp == 0) {
            double *g = ref_w(r, "blk.%d.ffn_gate.weight", il), *u = ref_w(r, "blk.%d.ffn_up.weight", il);
            double *dn = ref_w(r, "blk.%d.ffn_down.weight", il);
            char key[64];
            snprintf(key, sizeof key, "blk.%d.ffn_gate.weight", il);
            ref_ffn(r, y, h, g, u, dn, (int)gguf_find_tensor(r->f, key)->ne[1], 1.0);
            free(g), free(u), free(dn);
        } else {
            double *wr = ref_w(r, "blk.%d.ffn_gate_inp.weight", il);
            double lg[64], p[64], mx = -1e300, sum = 0;
            ref_matvec(lg, wr, h, d, r->n_exp);
            free(wr);
            for (int e = 0; e < r->n_exp; e++)
                mx = lg[e] > mx ? lg[e] : mx;
            for (int e = 0; e < r->n_exp; e++)
                sum += (p[e] = exp(lg[e] - mx));
            for (int e = 0; e < r->n_exp; e++)
                p[e] /= sum;
            int sel[TRACE_MAX_K];
            double w[TRACE_MAX_K], wsum = 0;
            for (int j = 0; j < r->k; j++) {
                int best = -1;
                for (int e = 0; e < r->n_exp; e++) {
                    bool used = false;
                    for (int q2 = 0; q2 < j; q2++)
                        used = used || sel[q2] == e;
                    if (!used && (best < 0 || p[e] > p[best]))
                        best = e;
                }
                sel[j] = best;
                wsum += (w[j] = p[best]);
            }
            if (route) {
                memcpy(route[il].experts, sel, sizeof sel);
                memcpy(route[il].probs, p, sizeof p);
            }
            double *ge = ref_w(r, "blk.%d.ffn_gate_exps.weight", il);
            double *ue = ref_w(r, "blk.%d.ffn_up_exps.weight", il);
            double *de = ref_w(r, "blk.%d.ffn_down_exps.weight", il);
            char key[64];
            snprintf(key, sizeof key, "blk.%d.ffn_gate_exps.weight", il);
            const int ff = (int)gguf_find_tensor(r->f, key)->ne[1];
            for (int j = 0; j < r->k; j++) {
                size_t off = (size_t)sel[j] * (size_t)ff * d;
                ref_ffn(r, y, h, ge + off, ue + off, de + off, ff,
                        r->renorm ? w[j] / wsum : w[j]);
            }
            free(ge), free(ue), free(de);
            double *gs = ref_w(r, "blk.%d.ffn_gate_shexp.weight", il);
            if (gs) {
                double *us = ref_w(r, "blk.%d.ffn_up_shexp.weight", il);
                double *ds = ref_w(r, "blk.%d.ffn_down_shexp.weight", il);
                double gate = 1.0;
                if (r->shared_gated) { /* qwen2moe: sigmoid(ffn_gate_inp_shexp . x) */
                    double *wg = ref_w(r, "blk.%d.ffn_gate_inp_shexp.weight", il), gl;
                    ref_matvec(&gl, wg, h, d, 1);
                    gate = 1.0 / (1.0 + exp(-gl));
                    free(wg);
                }
                snprintf(key, sizeof key, "blk.%d.ffn_gate_shexp.weight", il);
                ref_ffn(r, y, h, gs, us, ds, (int)gguf_find_tensor(r->f, key)->ne[1], gate);
                free(gs), free(us), free(ds);
            }
        }
        for (int i = 0; i < d; i++)
            x[i] += y[i] * (r->res_scale != 0 ? r->res_scale : 1.0);
    }
    double *on = ref_w(r, "output_norm.weight", 0), *ow = ref_w(r, "output.weight", 0);
    ref_rmsnorm(h, x, on, d, r->eps);
    ref_matvec(logits, ow, h, d, r->n_vocab);
    for (int i = 0; r->logit_scale != 0 && i < r->n_vocab; i++)
        logits[i] /= r->logit_scale;
    free(on), free(ow), free(x), free(h), free(q), free(att), free(y), free(sc);
}

static double ref_key_f(const struct gguf_file *f, const char *arch, const char *k, double dflt)
{
    char key[128], err[64];
    float v;
    snprintf(key, sizeof key, "%s.%s", arch, k);
    return gguf_get_f32(f, key, &v, err, sizeof err) == 0 ? v : dflt;
}

static int ref_key_i(const struct gguf_file *f, const char *arch, const char *k, int dflt)
{
    char key[128], err[64];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, k);
    return gguf_get_u32(f, key, &v, err, sizeof err) == 0 ? (int)v : dflt;
}

/* Our engine against the float64 forward on one synth model, token by token. */
static void tm_compare_arch(const char *arch)
{
    char path[512], err[512];
    CHECK_MSG(tm_synth("a.gguf", path, sizeof path, tm_args(arch)) == 0, "synth --arch %s", arch);
    struct model m;
    CHECK_MSG(model_open(&m, path, err, sizeof err) == 0, "%s: %s", arch, err);
    struct ref_model r = { .f = &m.f };
    char gname[32];
    gguf_get_strz(&m.f, "general.architecture", gname, sizeof gname, err, sizeof err);
    r.arch = gname;
    r.n_layers = ref_key_i(&m.f, gname, "block_count", 0);
    r.d = ref_key_i(&m.f, gname, "embedding_length", 0);
    r.n_head = ref_key_i(&m.f, gname, "attention.head_count", 0);
    r.n_kv = ref_key_i(&m.f, gname, "attention.head_count_kv", r.n_head);
    r.hd = r.d / r.n_head;
    r.n_exp = ref_key_i(&m.f, gname, "expert_count", 0);
    r.k = ref_key_i(&m.f, gname, "expert_used_count", 0);
    r.n_vocab = (int)gguf_find_tensor(&m.f, "token_embd.weight")->ne[1];
    r.eps = ref_key_f(&m.f, gname, "attention.layer_norm_rms_epsilon", 1e-5);
    r.rope_base = ref_key_f(&m.f, gname, "rope.freq_base", 10000);
    r.kq_scale = ref_key_f(&m.f, gname, "attention.scale", 1.0 / sqrt((double)r.hd));
    r.emb_scale = ref_key_f(&m.f, gname, "embedding_scale", 0);
    r.res_scale = ref_key_f(&m.f, gname, "residual_scale", 0);
    r.logit_scale = ref_key_f(&m.f, gname, "logit_scale", 0);
    /* from llama.cpp: llama_model_rope_type and the build functions */
    r.neox = !strcmp(arch, "qwen2moe") || !strcmp(arch, "qwen3moe") || !strcmp(arch, "olmoe") ||
             !strcmp(arch, "qwen2");
    r.qk_head = !strcmp(arch, "qwen3moe");
    r.qk_full = !strcmp(arch, "olmoe");
    r.renorm = !strcmp(arch, "mixtral") || !strcmp(arch, "qwen3moe") ||
               !strcmp(arch, "granitemoe");
    r.shared_gated = !strcmp(arch, "qwen2moe");
    r.kc = calloc((size_t)r.n_layers * 512 * (size_t)(r.n_kv * r.hd), sizeof(double));
    r.vc = calloc((size_t)r.n_layers * 512 * (size_t)(r.n_kv * r.hd), sizeof(double));

    struct thread_pool *pool = threads_create(2);
    struct fwd *f = fwd_create(&m, 64, pool, err, sizeof err);
    CHECK(f != NULL);
    const int32_t toks[] = { 72, 101, 108, 108, 111, 44, 32, 119, 111, 114 };
    const int nt = (int)(sizeof toks / sizeof toks[0]);
    double *lg = malloc((size_t)r.n_vocab * sizeof *lg);
    struct trace_layer tl[16];
    struct ref_route rr[16];
    int ties = 0;
    double worst = 0;
    for (int t = 0; t < nt; t++) {
        struct fwd_out out = { .layers = tl };
        CHECK(fwd_eval(f, toks + t, 1, t, &out) == 0);
        ref_token(&r, toks[t], t, lg, rr);
        const float *ours = fwd_logits(f);
        double scale = 0;
        for (int i = 0; i < r.n_vocab; i++)
            scale = fabs(lg[i]) > scale ? fabs(lg[i]) : scale;
        for (int i = 0; i < r.n_vocab; i++) {
            double e = fabs((double)ours[i] - lg[i]) / scale;
            worst = e > worst ? e : worst;
        }
        for (int il = 0; il < r.n_layers && r.n_exp; il++) {
            CHECK_INT_EQ(tl[il].n, r.k);
            for (int j = 0; j < r.k; j++) {
                int a = tl[il].experts[j], b = rr[il].experts[j];
                if (a == b)
                    continue;
                double gap = fabs(rr[il].probs[a] - rr[il].probs[b]);
                CHECK_MSG(gap < 1e-3, "%s token %d layer %d slot %d: expert %d, float64 %d "
                          "(probabilities %.6f, %.6f)", arch, t, il, j, a, b, rr[il].probs[a],
                          rr[il].probs[b]);
                ties++;
            }
            CHECK_NEAR(tl[il].top1_prob, rr[il].probs[rr[il].experts[0]], 2e-3);
        }
    }
    CHECK_MSG(worst < 3e-3, "%s: logits differ from the float64 forward by %.3g of their scale",
              arch, worst);
    printf("  %-10s logits within %.2g of the float64 forward's scale, %d routing near-ties\n",
           arch, worst, ties);
    free(lg);
    free(r.kc);
    free(r.vc);
    fwd_free(f);
    threads_free(pool);
    model_close(&m);
}

TEST(model_forward_float64_qwen3moe) { tm_compare_arch("qwen3moe"); }
TEST(model_forward_float64_granitemoe) { tm_compare_arch("granitemoe"); }
TEST(model_forward_float64_qwen2) { tm_compare_arch("qwen2"); }
TEST(model_forward_float64_qwen2moe) { tm_compare_arch("qwen2moe"); }
TEST(model_forward_float64_olmoe) { tm_compare_arch("olmoe"); }
TEST(model_forward_float64_mixtral) { tm_compare_arch("mixtral"); }
TEST(model_forward_float64_llama) { tm_compare_arch("llama"); }

/* Every synth family opens through the engine, tokenizes, evaluates and samples, and the
 * description matches what the file was asked to be. */
TEST(model_synth_families_run_in_engine)
{
    static const struct {
        const char *flag, *arch;
        bool moe, qk_norm, bias, neox;
    } fams[] = {
        { "qwen2moe", "qwen2moe", true, false, true, true },
        { "qwen3moe", "qwen3moe", true, true, false, true },
        { "olmoe", "olmoe", true, true, false, true },
        { "mixtral", "llama", true, false, false, false },
        { "granitemoe", "granitemoe", true, false, false, false },
        { "llama", "llama", false, false, false, false },
        { "qwen2", "qwen2", false, false, true, true },
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char path[512], err[512];
        CHECK(tm_synth("e.gguf", path, sizeof path, tm_args(fams[i].flag)) == 0);
        struct engine_params ep;
        engine_params_default(&ep);
        ep.model_path = path;
        ep.n_threads = 2;
        ep.sampler.temp = 0;
        struct engine *e = engine_open(&ep, err, sizeof err);
        CHECK_MSG(e != NULL, "%s: %s", fams[i].flag, err);
        if (!e)
            continue;
        const struct model_desc *d = engine_desc(e);
        CHECK_STR_EQ(d->arch, fams[i].arch);
        CHECK(!!d->n_experts == fams[i].moe);
        CHECK(d->qk_norm == fams[i].qk_norm);
        CHECK(d->qkv_bias == fams[i].bias);
        CHECK(d->rope_neox == fams[i].neox);
        int32_t toks[32];
        int n = engine_tokenize(e, "hello world", 11, true, false, toks, 32, err, sizeof err);
        CHECK(n > 0);
        struct trace_log log;
        trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
        for (int t = 0; t < n; t++)
            trace_log_push(&log, toks[t], "", 0, true);
        for (int s = 0; s < 3; s++) {
            CHECK(engine_eval(e, &log, err, sizeof err) == 0);
            CHECK(engine_sample(e, &log, err, sizeof err) >= 0);
        }
        const float *lg = engine_logits(e);
        CHECK(lg != NULL);
        for (int v = 0; lg && v < d->n_vocab; v++)
            CHECK(isfinite(lg[v]));
        for (size_t t = 0; t < log.n - 1; t++) {
            CHECK(log.tok[t].fed);
            const struct trace_layer *L = trace_layers(&log, t);
            for (int il = 0; il < d->n_layers; il++) {
                CHECK_INT_EQ(L[il].n, fams[i].moe ? d->n_experts_used : 0);
                for (int j = 1; j < L[il].n; j++)
                    CHECK(L[il].experts[j] != L[il].experts[0]);
                if (L[il].n)
                    CHECK(L[il].entropy > 0 && L[il].entropy <= logf((float)d->n_experts) + 1e-4);
            }
        }
        trace_log_free(&log);
        engine_close(e);
    }
}

/* ------------------------------------------------------------------ loader errors */

/* A one-layer dense llama built by hand; drop names a tensor to leave out, bad one to give
 * the wrong shape. */
static int tm_write_llama(const char *path, const char *drop, const char *bad, char *err,
                          size_t errlen)
{
    enum { D = 32, FF = 64, V = 16 };
    static float buf[D * FF * 4];
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama");
    gguf_writer_add_u32(w, "llama.block_count", 1);
    gguf_writer_add_u32(w, "llama.embedding_length", D);
    gguf_writer_add_u32(w, "llama.feed_forward_length", FF);
    gguf_writer_add_u32(w, "llama.attention.head_count", 2);
    gguf_writer_add_u32(w, "llama.context_length", 64);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    static const struct {
        const char *name;
        int64_t ne0, ne1;
    } ts[] = {
        { "token_embd.weight", D, V }, { "output_norm.weight", D, 1 },
        { "output.weight", D, V }, { "blk.0.attn_norm.weight", D, 1 },
        { "blk.0.attn_q.weight", D, D }, { "blk.0.attn_k.weight", D, D },
        { "blk.0.attn_v.weight", D, D }, { "blk.0.attn_output.weight", D, D },
        { "blk.0.ffn_norm.weight", D, 1 }, { "blk.0.ffn_gate.weight", D, FF },
        { "blk.0.ffn_up.weight", D, FF }, { "blk.0.ffn_down.weight", FF, D },
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        if (drop && !strcmp(ts[i].name, drop))
            continue;
        int64_t ne[2] = { ts[i].ne0, ts[i].ne1 };
        if (bad && !strcmp(ts[i].name, bad))
            ne[1] += 1;
        gguf_writer_add_tensor(w, ts[i].name, GGML_TYPE_F32, ne[1] == 1 ? 1 : 2, ne, buf);
    }
    int rc = gguf_writer_write(w, path, err, errlen);
    gguf_writer_free(w);
    return rc;
}

TEST(model_missing_tensor_names_file_and_tensor)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/missing.gguf", test_tmp_dir());
    CHECK(tm_write_llama(path, NULL, NULL, err, sizeof err) == 0);
    struct model m;
    CHECK_MSG(model_open(&m, path, err, sizeof err) == 0, "the complete file: %s", err);
    model_close(&m);

    CHECK(tm_write_llama(path, "blk.0.ffn_up.weight", NULL, err, sizeof err) == 0);
    CHECK(model_open(&m, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "'blk.0.ffn_up.weight'") && strstr(err, "missing"),
              "message: %s", err);
    CHECK(!strchr(err, '\n'));
}

TEST(model_wrong_shape_names_tensor_and_shapes)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/shape.gguf", test_tmp_dir());
    CHECK(tm_write_llama(path, NULL, "blk.0.attn_k.weight", err, sizeof err) == 0);
    struct model m;
    CHECK(model_open(&m, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "'blk.0.attn_k.weight'") &&
              strstr(err, "[32, 33]") && strstr(err, "expected [32, 32]"),
              "message: %s", err);
    /* the output matrix may be tied to the embeddings (llama allows it) */
    CHECK(tm_write_llama(path, "output.weight", NULL, err, sizeof err) == 0);
    CHECK_MSG(model_open(&m, path, err, sizeof err) == 0, "tied output: %s", err);
    CHECK(m.output.data == m.tok_embd.data);
    model_close(&m);
}

TEST(model_unknown_architecture_lists_supported)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/arch.gguf", test_tmp_dir());
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "mamba");
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0);
    gguf_writer_free(w);
    struct model m;
    CHECK(model_open(&m, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "'mamba'") && strstr(err, "qwen2moe") && strstr(err, "granitemoe"),
              "message: %s", err);
}

/* ------------------------------------------------------------------ describe */

/* The shapes of ../shared/fixtures/README.md's table, typed from the README. */
TEST(model_describe_fixtures)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    static const struct {
        const char *file, *arch;
        int layers, d_model, k, n;
    } rows[] = {
        { "qwen2moe-tiny-f32.gguf", "qwen2moe", 4, 128, 2, 8 },
        { "olmoe-tiny-f16.gguf", "olmoe", 4, 128, 4, 16 },
        { "mixtral-small-q8_0.gguf", "llama", 4, 256, 2, 8 },
        { "mixtral-small-q4_k_m.gguf", "llama", 4, 256, 2, 8 },
        { "qwen2moe-small-q4_0.gguf", "qwen2moe", 3, 256, 4, 8 },
        { "qwen2moe-small-q6_k.gguf", "qwen2moe", 3, 256, 4, 8 },
        { "stories260K.gguf", "llama", 5, 64, 0, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/models/%s", dir, rows[i].file);
        struct model_desc d;
        CHECK_MSG(model_describe(path, &d, err, sizeof err) == 0, "%s", err);
        CHECK_STR_EQ(d.arch, rows[i].arch);
        CHECK_INT_EQ(d.n_layers, rows[i].layers);
        CHECK_INT_EQ(d.d_model, rows[i].d_model);
        CHECK_INT_EQ(d.n_experts_used, rows[i].k);
        CHECK_INT_EQ(d.n_experts, rows[i].n);
        CHECK_INT_EQ(d.n_vocab, !strcmp(rows[i].file, "stories260K.gguf") ? 512 : 659);

        /* parameters and the active share, recounted from the raw tensor table */
        struct gguf_file f;
        CHECK(gguf_open(&f, path, err, sizeof err) == 0);
        uint64_t total = 0, active = 0, bytes = 0;
        for (uint64_t t = 0; t < f.n_tensors; t++) {
            const struct gguf_tensor *g = &f.tensors[t];
            uint64_t ne = 1;
            for (uint32_t k = 0; k < g->n_dims; k++)
                ne *= (uint64_t)g->ne[k];
            total += ne;
            if (strstr(g->name, "_exps.")) {
                active += ne / (uint64_t)g->ne[2] * (uint64_t)rows[i].k;
                bytes += g->nbytes / (uint64_t)g->ne[2] * (uint64_t)rows[i].k;
            } else if (!strcmp(g->name, "token_embd.weight")) {
                active += (uint64_t)g->ne[0];
                bytes += g->nbytes / (uint64_t)g->ne[1];
            } else {
                active += ne;
                bytes += g->nbytes;
            }
        }
        gguf_close(&f);
        CHECK(d.n_params == total);
        CHECK(d.n_active_params == active);
        CHECK(d.active_bytes == bytes);
        CHECK(d.n_active_params < d.n_params);
    }
}

/* engine_eval refuses to go past the context with a message, and keeps working below it. */
TEST(model_context_full_is_an_error)
{
    char path[512], err[512];
    CHECK(tm_synth("c.gguf", path, sizeof path, tm_args("qwen3moe")) == 0);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.n_ctx = 8;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return;
    CHECK_INT_EQ(engine_n_ctx(e), 8);
    struct trace_log log;
    trace_log_init(&log, engine_desc(e)->n_layers, engine_desc(e)->n_experts,
                   engine_desc(e)->n_experts_used);
    for (int i = 0; i < 8; i++)
        trace_log_push(&log, 100 + i, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    CHECK(engine_sample(e, &log, err, sizeof err) == 8);
    CHECK(engine_eval(e, &log, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "context is full"), "message: %s", err);
    engine_rewind(e, 4);
    trace_log_truncate(&log, 4);
    trace_log_push(&log, 120, "", 0, true);
    CHECK(engine_eval(e, &log, err, sizeof err) == 0);
    trace_log_free(&log);
    engine_close(e);
}

/* ------------------------------------------------------------------ threads */

struct tm_sum {
    int64_t n;
    int64_t part[8];
    int seen[8];
};

static void tm_sum_worker(void *arg, int ith, int nth)
{
    struct tm_sum *s = arg;
    int64_t a, b;
    threads_split(s->n, ith, nth, &a, &b);
    for (int64_t i = a; i < b; i++)
        s->part[ith] += i;
    s->seen[ith]++;
}

TEST(threads_pool_splits_rows_exactly_once)
{
    for (int nt = 1; nt <= 4; nt++) {
        struct thread_pool *p = threads_create(nt);
        CHECK(p != NULL);
        CHECK_INT_EQ(threads_count(p), nt);
        for (int rep = 0; rep < 50; rep++) {
            struct tm_sum s = { .n = 1000 + rep };
            threads_run(p, tm_sum_worker, &s);
            int64_t tot = 0;
            for (int i = 0; i < nt; i++) {
                tot += s.part[i];
                CHECK_INT_EQ(s.seen[i], 1);
            }
            CHECK(tot == s.n * (s.n - 1) / 2);
        }
        threads_free(p);
    }
}

TEST(arch_table_rows)
{
    /* every family of issue 3, with llama.cpp's RoPE style and renormalisation */
    static const struct {
        const char *name;
        enum arch_rope rope;
        bool renorm;
    } want[] = {
        { "llama", ARCH_ROPE_NORM, true },     { "qwen2", ARCH_ROPE_NEOX, false },
        { "qwen2moe", ARCH_ROPE_NEOX, false }, { "qwen3moe", ARCH_ROPE_NEOX, true },
        { "olmoe", ARCH_ROPE_NEOX, false },    { "granitemoe", ARCH_ROPE_NORM, true },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct arch_info *a = arch_find(want[i].name);
        CHECK_MSG(a != NULL, "%s missing", want[i].name);
        if (!a)
            continue;
        CHECK(a->rope == want[i].rope);
        if (strcmp(want[i].name, "qwen2"))
            CHECK(a->router_renorm == want[i].renorm);
    }
    CHECK(arch_find("qwen2moe")->shared_gate);
    CHECK(arch_find("granitemoe")->granite_scales);
    CHECK(arch_find("qwen3moe")->qk_norm == ARCH_QK_NORM_HEAD);
    CHECK(arch_find("olmoe")->qk_norm == ARCH_QK_NORM_FULL);
    CHECK(arch_find("dots1")->router == ARCH_ROUTER_SIGMOID);
    CHECK(arch_find("mamba") == NULL);
    char name[64];
    CHECK_STR_EQ(arch_tensor_name(AT_FFN_UP_EXPS, 3, name, sizeof name),
                 "blk.3.ffn_up_exps.weight");
}

/* ------------------------------------------------------------------ sigmoid router */

/* dots1's router, from its table row and keys alone: sigmoid probabilities, the selection
 * bias exp_probs_b added for the choice only, weights renormalised and scaled by
 * expert_weights_scale. The attention output is zero (attn_output all 0), so the router's
 * input is rmsnorm(embedding) and the expected routing is computed here in float64. */
TEST(model_sigmoid_router_with_selection_bias)
{
    enum { D = 32, V = 16, E = 8, K = 2, FE = 16, HD = 16 };
    static float emb[V * D], wr[E * D], bias[E], ones[D], zeros[D * D], wq[D * D];
    static float ge[E * FE * D], ue[E * FE * D], de[E * D * FE], gs[FE * D], us[FE * D],
        ds[D * FE], out[V * D];
    uint64_t st = 12345;
    for (size_t i = 0; i < sizeof emb / sizeof emb[0]; i++)
        emb[i] = (float)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 40) /
                     (float)(1 << 24) - 0.5f;
    for (int i = 0; i < E * D; i++)
        wr[i] = (float)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 40) /
                    (float)(1 << 23) - 1.0f;
    for (int i = 0; i < D; i++)
        ones[i] = 1.0f;
    for (int i = 0; i < D * D; i++)
        wq[i] = (i % (D + 1)) == 0 ? 1.0f : 0.0f;
    for (int e = 0; e < E; e++)
        bias[e] = e == 7 ? 1.0f : (e == 3 ? -1.0f : 0.0f); /* 7 always in, 3 never */
    for (size_t i = 0; i < sizeof ge / sizeof ge[0]; i++)
        ge[i] = ue[i] = de[i] = 0.01f;
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++)
        gs[i] = us[i] = ds[i] = 0.01f;
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        out[i] = 0.01f * (float)(i % 7);

    char path[512], err[512];
    snprintf(path, sizeof path, "%s/dots1.gguf", test_tmp_dir());
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "dots1");
    gguf_writer_add_u32(w, "dots1.block_count", 1);
    gguf_writer_add_u32(w, "dots1.context_length", 64);
    gguf_writer_add_u32(w, "dots1.embedding_length", D);
    gguf_writer_add_u32(w, "dots1.feed_forward_length", 64);
    gguf_writer_add_u32(w, "dots1.attention.head_count", D / HD);
    gguf_writer_add_u32(w, "dots1.attention.head_count_kv", D / HD);
    gguf_writer_add_f32(w, "dots1.attention.layer_norm_rms_epsilon", 1e-6f);
    gguf_writer_add_u32(w, "dots1.expert_count", E);
    gguf_writer_add_u32(w, "dots1.expert_used_count", K);
    gguf_writer_add_u32(w, "dots1.expert_feed_forward_length", FE);
    gguf_writer_add_u32(w, "dots1.expert_shared_count", 1);
    gguf_writer_add_u32(w, "dots1.leading_dense_block_count", 0);
    gguf_writer_add_u32(w, "dots1.expert_gating_func", 2);
    gguf_writer_add_bool(w, "dots1.expert_weights_norm", true);
    gguf_writer_add_f32(w, "dots1.expert_weights_scale", 2.5f);
#define T2(name, a, b, data) gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, (const int64_t[]){ a, b }, data)
#define T1(name, a, data) gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 1, (const int64_t[]){ a }, data)
#define T3(name, a, b, c, data) gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 3, (const int64_t[]){ a, b, c }, data)
    T2("token_embd.weight", D, V, emb);
    T1("output_norm.weight", D, ones);
    T2("output.weight", D, V, out);
    T1("blk.0.attn_norm.weight", D, ones);
    T2("blk.0.attn_q.weight", D, D, wq);
    T2("blk.0.attn_k.weight", D, D, wq);
    T2("blk.0.attn_v.weight", D, D, wq);
    T2("blk.0.attn_output.weight", D, D, zeros);
    T1("blk.0.attn_q_norm.weight", HD, ones);
    T1("blk.0.attn_k_norm.weight", HD, ones);
    T1("blk.0.ffn_norm.weight", D, ones);
    T2("blk.0.ffn_gate_inp.weight", D, E, wr);
    T1("blk.0.exp_probs_b.bias", E, bias);
    T3("blk.0.ffn_gate_exps.weight", D, FE, E, ge);
    T3("blk.0.ffn_up_exps.weight", D, FE, E, ue);
    T3("blk.0.ffn_down_exps.weight", FE, D, E, de);
    T2("blk.0.ffn_gate_shexp.weight", D, FE, gs);
    T2("blk.0.ffn_up_shexp.weight", D, FE, us);
    T2("blk.0.ffn_down_shexp.weight", FE, D, ds);
#undef T1
#undef T2
#undef T3
    CHECK_MSG(gguf_writer_write(w, path, err, sizeof err) == 0, "%s", err);
    gguf_writer_free(w);

    struct model m;
    CHECK_MSG(model_open(&m, path, err, sizeof err) == 0, "%s", err);
    if (m.arch == NULL)
        return;
    CHECK(m.hp.router == ARCH_ROUTER_SIGMOID);
    CHECK(m.hp.router_renorm);
    CHECK_INT_EQ(m.hp.n_ff_shexp, FE);
    struct thread_pool *pool = threads_create(2);
    struct fwd *f = fwd_create(&m, 16, pool, err, sizeof err);
    CHECK(f != NULL);
    int seen7 = 0;
    for (int t = 0; t < V; t++) {
        int32_t tok = t;
        struct trace_layer tl;
        struct fwd_out o = { .layers = &tl };
        CHECK(fwd_eval(f, &tok, 1, t, &o) == 0);
        /* expected, in float64 */
        double x[D], ss = 0, p[E], s[E];
        for (int i = 0; i < D; i++)
            ss += (double)emb[t * D + i] * emb[t * D + i];
        for (int i = 0; i < D; i++)
            x[i] = emb[t * D + i] / sqrt(ss / D + 1e-6);
        for (int e = 0; e < E; e++) {
            double l = 0;
            for (int i = 0; i < D; i++)
                l += (double)wr[e * D + i] * x[i];
            p[e] = 1.0 / (1.0 + exp(-l));
            s[e] = p[e] + bias[e];
        }
        int sel[K];
        for (int j = 0; j < K; j++) {
            sel[j] = -1;
            for (int e = 0; e < E; e++)
                if ((j == 0 || e != sel[0]) && (sel[j] < 0 || s[e] > s[sel[j]]))
                    sel[j] = e;
        }
        double wsum = p[sel[0]] + p[sel[1]];
        CHECK_INT_EQ(tl.n, K);
        for (int j = 0; j < K; j++) {
            CHECK_INT_EQ(tl.experts[j], sel[j]);
            CHECK_NEAR(tl.weights[j], 2.5 * p[sel[j]] / wsum, 1e-5);
            CHECK(tl.experts[j] != 3);
            seen7 += tl.experts[j] == 7;
        }
        CHECK_NEAR(tl.top1_prob, p[sel[0]], 1e-5);
    }
    CHECK_INT_EQ(seen7, V); /* the bias put expert 7 in every choice */
    fwd_free(f);
    threads_free(pool);
    model_close(&m);
}
