/* tests/test_fidelity.c: the engine against llama.cpp's recorded runs.
 *
 * Fixtures: ../shared/fixtures/models-2026/NAME.{plain,chat}.json (llama.cpp 80fb11ac, the
 * September 2026 build, on x86-64 with AVX2 and no AVX-512, CPU, 1 thread, greedy; see the
 * fixtures README) and the GGUF files they name. (The February 2025 runs in models/ were
 * dropped from the tests when the engine took the current build's arithmetic: repacked
 * q4_0/q4_K, q6_K's offset, the AVX2 float orders.) For every JSON in that folder whose
 * architecture moescope runs (the others are listed and skipped until they are supported):
 *  - the prompt tokenizes to the fixture's prompt_tokens (plain: add_special = true,
 *    parse_special = false; chat: parse_special = true);
 *  - the prompt goes through the engine as one batch, then every later `input` id one at a
 *    time (always the reference's ids, so one near-tie cannot derail what follows);
 *  - at every step and layer the reference computed, our experts equal its experts, in order;
 *  - where the reference has `top`, our logits at its five ids agree with its values, and our
 *    greedy choice equals its `next`.
 * A difference is accepted only at a near-tie: the reference's own two scores (the k-th and
 * (k+1)-th router probabilities, two adjacent ones for an order swap, or the top-2 logits)
 * are closer than the rounding bound below, and our choice is the reference's runner-up.
 * Near-ties are counted apart and printed; they never widen the other checks.
 *
 * Rounding bounds. The engine follows llama.cpp's float order step for step (forward.h) and,
 * on x86 with AVX2 or AVX-512, engine/quant's kernels sum in the order of llama.cpp's AVX2
 * build. There every bound is 1e-3 (logits relative, router probabilities absolute): the
 * issue's bound for F32/F16, and for the quantized runs just as well, because with the same
 * order nothing is left but the last bits of the C library (cosf, sinf, expf). Measured on
 * models-2026: every run of the first group and qwen3moe agrees to the digits the fixtures
 * print (worst 4.8e-6; stories260K 3.8e-5).
 * On arm64, quant_neon.c computes the same x86 order for the types it has kernels for
 * (quant_reference_order), so those models keep the exact bound there too.
 * On other paths (scalar; NEON for the types it has no kernels for) the kernels sum in another order. F32/F16 keep the 1e-3 bound
 * (measured 5.5e-4 on the scalar path). The quantized runs are then not compared, and the
 * test says so: activations are quantized to 8 bits before every product, so a last-bit
 * difference that moves a value across a rounding boundary changes it by a whole step (1/127
 * of its block's largest value), these random-weight models amplify that through the
 * layers (measured on the scalar path: top logits 2-5% off, one greedy token different), and
 * no honest bound would still tell a real mismatch from that.
 *
 * Relative error of a logit: |ours - ref| / max(|ref|, 1), so logits near zero are compared
 * in absolute terms. */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ollama_write.h"
#include "engine.h"
#include "model.h"
#include "quant.h"
#include "tokenizer.h"
#include "trace.h"

struct tol {
    const char *why;
    double logit_rel, prob;
};

static const struct tol tol_exact = { "llama.cpp's float order", 1e-3, 1e-3 };
static const struct tol tol_float = { "f32/f16, another float order", 1e-3, 1e-3 };

/* True when the kernels in use reproduce llama.cpp's x86 summation order for every type
 * the model's tensors use (quant_reference_order: AVX2 and AVX-512 for all, NEON for the
 * types it has kernels for); *odd names the first type that does not. */
static bool fix_reference_order(const struct model_desc *d, const char **odd)
{
    for (int t = 0; t < 64; t++)
        if (d->tensors_per_type[t] && !quant_reference_order((uint32_t)t)) {
            const struct quant_traits *q = quant_traits((uint32_t)t);
            *odd = q ? q->name : "?";
            return false;
        }
    return true;
}

struct fix_counts {
    int tok_total, tok_match, tok_ties;
    int exp_total, exp_match, exp_ties;
    int top_checked;
    double worst_rel;
};

static char *fix_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = 0;
    fclose(f);
    return buf;
}

static int fix_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* True when any tensor of the model is a quantized type, or bf16: its activations are
 * rounded to bf16 (8 significant bits) before every product, so the argument above holds for
 * it as for 8-bit quantization (ernie4_5-moe-small-bf16 on the scalar path: tokens and
 * experts all equal, top logits up to 0.43% off). */
static bool fix_is_quantized(const struct model_desc *d)
{
    for (int t = 0; t < 64; t++) {
        const struct quant_traits *q = quant_traits((uint32_t)t);
        if (d->tensors_per_type[t] && q && (q->is_quantized || t == GGML_TYPE_BF16))
            return true;
    }
    return false;
}

/* The reference's ranking of all experts by probability, best first. */
static void fix_rank(const double *p, int n, int *rank)
{
    for (int i = 0; i < n; i++)
        rank[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && p[rank[j]] > p[rank[j - 1]]; j--) {
            int t = rank[j];
            rank[j] = rank[j - 1];
            rank[j - 1] = t;
        }
}

/* Compares one layer's routing. Returns 0 equal, 1 near-tie, -1 mismatch (message in why). */
static int fix_cmp_experts(const struct trace_layer *ours, const cJSON *ref, double eps,
                           char *why, size_t whylen)
{
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(ref, "experts");
    /* the scores that chose: sel (probs plus the selection bias) where the entry has it */
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(ref, "sel");
    if (!cJSON_IsArray(pr))
        pr = cJSON_GetObjectItemCaseSensitive(ref, "probs");
    int k = cJSON_GetArraySize(ex), n = cJSON_GetArraySize(pr);
    if (k <= 0 || k > TRACE_MAX_K || n < k || n > 4096) {
        snprintf(why, whylen, "malformed reference layer");
        return -1;
    }
    int e[TRACE_MAX_K];
    double p[4096];
    int rank[4096];
    for (int i = 0; i < k; i++)
        e[i] = cJSON_GetArrayItem(ex, i)->valueint;
    for (int i = 0; i < n; i++)
        p[i] = cJSON_GetArrayItem(pr, i)->valuedouble;
    if (ours->n != k) {
        snprintf(why, whylen, "we chose %d experts, the reference %d", ours->n, k);
        return -1;
    }
    bool same = true;
    for (int i = 0; i < k; i++)
        same = same && ours->experts[i] == e[i];
    if (same)
        return 0;
    for (int i = 0; i < k; i++)
        if (ours->experts[i] >= n) {
            snprintf(why, whylen, "expert id %d out of range", ours->experts[i]);
            return -1;
        }
    fix_rank(p, n, rank);
    /* which of ours are not in the reference's set, and which of its are not in ours */
    int extra = -1, n_extra = 0, missing = -1, n_missing = 0;
    for (int i = 0; i < k; i++) {
        bool in = false;
        for (int j = 0; j < k; j++)
            in = in || ours->experts[i] == e[j];
        if (!in)
            extra = ours->experts[i], n_extra++;
        in = false;
        for (int j = 0; j < k; j++)
            in = in || e[i] == ours->experts[j];
        if (!in)
            missing = e[i], n_missing++;
    }
    size_t o = (size_t)snprintf(why, whylen, "ours [");
    for (int i = 0; i < k && o < whylen; i++)
        o += (size_t)snprintf(why + o, whylen - o, "%s%d", i ? " " : "", ours->experts[i]);
    o += o < whylen ? (size_t)snprintf(why + o, whylen - o, "], reference [") : 0;
    for (int i = 0; i < k && o < whylen; i++)
        o += (size_t)snprintf(why + o, whylen - o, "%s%d (%.6g)", i ? " " : "", e[i], p[e[i]]);
    if (o < whylen)
        snprintf(why + o, whylen - o, "]");
    if (n_extra > 1)
        return -1;
    if (n_extra == 1) {
        /* a swap at the boundary: ours took the reference's runner-up instead of its k-th */
        if (k >= n || extra != rank[k] || missing != rank[k - 1] || n_missing != 1 ||
            p[rank[k - 1]] - p[rank[k]] > eps)
            return -1;
    }
    /* the order: ours must be the reference's order up to swaps of near-equal probabilities */
    for (int i = 0; i + 1 < k; i++)
        for (int j = i + 1; j < k; j++)
            if (p[ours->experts[j]] - p[ours->experts[i]] > eps)
                return -1;
    return 1;
}

/* Checks the logits of one step against the reference's top-5 and greedy choice. */
static void fix_cmp_logits(const char *name, int step, const float *lg, int n_vocab,
                           const cJSON *top, int next, const struct tol *tol,
                           struct fix_counts *c)
{
    int am = 0;
    for (int i = 1; i < n_vocab; i++)
        if (lg[i] > lg[am])
            am = i;
    int nt = cJSON_GetArraySize(top);
    CHECK_MSG(nt >= 2, "%s step %d: the reference has %d top entries", name, step, nt);
    if (nt < 2)
        return;
    double l0 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble;
    double l1 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 1)->valuedouble;
    int id1 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 0)->valueint;
    c->tok_total++;
    if (am == next) {
        c->tok_match++;
    } else if (am == id1 && l0 - l1 <= tol->logit_rel * (fabs(l0) > 1 ? fabs(l0) : 1)) {
        c->tok_ties++;
        printf("    near-tie %s step %d: next %d (ref %.6g) vs runner-up %d (ref %.6g); we chose "
               "the runner-up\n", name, step, next, l0, id1, l1);
    } else {
        CHECK_MSG(false, "%s step %d: greedy token %d (logit %.6g), reference %d (ours %.6g)",
                  name, step, am, (double)lg[am], next,
                  next >= 0 && next < n_vocab ? (double)lg[next] : 0.0);
    }
    for (int q = 0; q < nt; q++) {
        const cJSON *it = cJSON_GetArrayItem(top, q);
        int id = cJSON_GetArrayItem(it, 0)->valueint;
        double want = cJSON_GetArrayItem(it, 1)->valuedouble;
        CHECK_MSG(id >= 0 && id < n_vocab, "%s step %d: top id %d out of range", name, step, id);
        if (id < 0 || id >= n_vocab)
            continue;
        double rel = fabs((double)lg[id] - want) / (fabs(want) > 1 ? fabs(want) : 1);
        if (rel > c->worst_rel)
            c->worst_rel = rel;
        c->top_checked++;
        CHECK_MSG(rel <= tol->logit_rel,
                  "%s step %d: logit of %d is %.6g, reference %.6g (relative %.3g > %.3g, %s)",
                  name, step, id, (double)lg[id], want, rel, tol->logit_rel, tol->why);
    }
}

/* One reference run; model_path: the GGUF to run instead of the one the JSON names (NULL:
 * that one). */
static void fix_run_one(const char *dir, const char *json_name, const char *model_path)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, json_name);
    char *text = fix_slurp(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    CHECK_MSG(root != NULL, "%s: not JSON", path);
    if (!root)
        return;
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const cJSON *jpt = cJSON_GetObjectItemCaseSensitive(root, "prompt_tokens");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    CHECK(cJSON_IsString(jm) && cJSON_IsString(jp) && cJSON_IsArray(jpt) &&
          cJSON_IsArray(steps));
    if (!cJSON_IsString(jm) || !cJSON_IsString(jp) || !cJSON_IsArray(jpt) ||
        !cJSON_IsArray(steps)) {
        cJSON_Delete(root);
        return;
    }
    const bool chat = strstr(json_name, ".chat.") != NULL;
    char mpath[8192], err[512];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, jm->valuestring);
    if (model_path)
        snprintf(mpath, sizeof mpath, "%s", model_path);

    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = mpath;
    ep.n_threads = 2;
    ep.n_ctx = 256;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s: %s", json_name, err);
    if (!e) {
        cJSON_Delete(root);
        return;
    }
    const struct model_desc *d = engine_desc(e);
    const char *odd = NULL;
    const bool ref_order = fix_reference_order(d, &odd);
    const struct tol *tol = ref_order ? &tol_exact : &tol_float;

    /* the prompt's tokens */
    const int np = cJSON_GetArraySize(jpt), ns = cJSON_GetArraySize(steps);
    int32_t toks[512];
    int n = engine_tokenize(e, jp->valuestring, strlen(jp->valuestring), !chat, chat, toks,
                            512, err, sizeof err);
    CHECK_MSG(n == np, "%s: the prompt is %d tokens, the reference's %d", json_name, n, np);
    bool same = n == np;
    for (int i = 0; i < np && i < n; i++)
        same = same && toks[i] == cJSON_GetArrayItem(jpt, i)->valueint;
    CHECK_MSG(same, "%s: the prompt's tokens differ from the reference's", json_name);
    if (!ref_order && fix_is_quantized(d)) {
        printf("  %-32s prompt tokens checked; the rest not compared: the %s kernels for %s "
               "do not sum in llama.cpp's x86 order\n", json_name, quant_simd_name(), odd);
        engine_close(e);
        cJSON_Delete(root);
        return;
    }

    struct trace_log log;
    CHECK(trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used) == 0);
    struct fix_counts c = { 0 };
    int pos = 0;
    while (pos < ns && pos < 256) {
        const int nb = pos == 0 ? np : 1;
        for (int i = pos; i < pos + nb; i++) {
            const cJSON *st = cJSON_GetArrayItem(steps, i);
            int in = fix_int(st, "input");
            CHECK_MSG(fix_int(st, "pos") == i, "%s: step %d has pos %d", json_name, i,
                      fix_int(st, "pos"));
            if (i < np)
                CHECK_MSG(in == cJSON_GetArrayItem(jpt, i)->valueint,
                          "%s: step %d's input is not the prompt's token", json_name, i);
            trace_log_push(&log, in, "", 0, i < np);
        }
        if (engine_eval(e, &log, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s: %s", json_name, err);
            break;
        }
        for (int i = pos; i < pos + nb; i++) {
            const cJSON *layers = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, i),
                                                                   "layers");
            if (cJSON_IsNull(layers)) { /* a dense model: no router anywhere */
                CHECK(d->n_experts == 0);
                continue;
            }
            CHECK(cJSON_GetArraySize(layers) == d->n_layers);
            for (int il = 0; il < d->n_layers && il < cJSON_GetArraySize(layers); il++) {
                const cJSON *rl = cJSON_GetArrayItem(layers, il);
                const struct trace_layer *ol = &trace_layers(&log, (size_t)i)[il];
                if (cJSON_IsNull(rl)) /* skipped by the reference, or a dense layer */
                    continue;
                char why[512];
                int r = fix_cmp_experts(ol, rl, tol->prob, why, sizeof why);
                c.exp_total++;
                if (r == 0) {
                    c.exp_match++;
                } else if (r == 1) {
                    c.exp_ties++;
                    printf("    near-tie %s step %d layer %d: %s\n", json_name, i, il, why);
                } else {
                    CHECK_MSG(false, "%s step %d layer %d: experts differ: %s", json_name, i,
                              il, why);
                }
            }
        }
        const cJSON *last = cJSON_GetArrayItem(steps, pos + nb - 1);
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(last, "top");
        if (top)
            fix_cmp_logits(json_name, pos + nb - 1, engine_logits(e), d->n_vocab, top,
                           fix_int(last, "next"), tol, &c);
        pos += nb;
    }
    printf("  %-32s tokens %d/%d, expert sets %d/%d, near-ties %d (experts %d, tokens %d), "
           "worst top-5 logit error %.2g (bound %.0e: %s)\n",
           json_name, c.tok_match + c.tok_ties, c.tok_total, c.exp_match + c.exp_ties,
           c.exp_total, c.exp_ties + c.tok_ties, c.exp_ties, c.tok_ties, c.worst_rel,
           tol->logit_rel, tol->why);
    CHECK(c.tok_total > 0);
    CHECK(c.top_checked >= 5);
    trace_log_free(&log);
    engine_close(e);
    cJSON_Delete(root);
}

static int fix_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when moescope runs the architecture of the GGUF the JSON names (NAME.*.json names
 * NAME.gguf); prints the skip otherwise. */
static bool fix_supported(const char *dir, const char *json_name)
{
    char path[8192], arch[64] = "", err[256];
    const char *dot = strchr(json_name, '.');
    snprintf(path, sizeof path, "%s/%.*s.gguf", dir, (int)(dot ? dot - json_name : 0), json_name);
    struct gguf_file f;
    if (gguf_open(&f, path, err, sizeof err))
        return true; /* let the run report it */
    gguf_get_strz(&f, "general.architecture", arch, sizeof arch, err, sizeof err);
    gguf_close(&f);
    if (arch_find(arch))
        return true;
    printf("  %-32s skipped: architecture '%s' is not supported yet\n", json_name, arch);
    return false;
}

/* Whether MOESCOPE_FIDELITY_MODELS (comma-separated parts of names; unset: all) takes the
 * run `name`: a quick look at a few models, e.g. under qemu while changing a NEON kernel. */
static bool fix_selected(const char *name)
{
    const char *list = getenv("MOESCOPE_FIDELITY_MODELS");
    if (!list || !*list)
        return true;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        for (const char *h = name; len && *h; h++)
            if (!strncmp(h, p, len))
                return true;
        p += len + (end != NULL);
    }
    return false;
}

/* Selects (and prints) the next kernel path after *s that this machine has; false past the
 * last. MOESCOPE_SIMD=NAME limits the runs to that path (make test-arm64: NEON only under
 * emulation; the scalar path is the same C as on x86, which make test runs). */
static bool fix_next_path(int *s)
{
    const char *only = getenv("MOESCOPE_SIMD");
    while (++*s < CPU_SIMD_COUNT) {
        if (only && *only && strcmp(only, cpu_simd_name((enum cpu_simd)*s)) != 0)
            continue;
        if (!quant_set_simd(*s))
            continue;
        printf("  -- kernel path %s\n", quant_simd_name());
        return true;
    }
    return false;
}

/* Every NAME.plain.json and NAME.chat.json in ../shared/fixtures/models-2026. */
TEST(fidelity_all_fixtures)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/models-2026", dir);
    DIR *dh = opendir(mdir);
    CHECK_MSG(dh != NULL, "cannot open %s", mdir);
    if (!dh)
        return;
    char *names[256];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && nn < 256) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json"))
            names[nn++] = strdup(de->d_name);
    }
    closedir(dh);
    qsort(names, (size_t)nn, sizeof names[0], fix_cmp_names);
    CHECK_MSG(nn >= 27, "expected the 27 reference runs, found %d", nn);
    /* Through every kernel path this machine has (issue 4: each can be forced, and each
     * must keep the engine llama.cpp's), then back to the one that was in use. */
    const int was = quant_simd();
    int paths = 0;
    for (int s = -1; fix_next_path(&s);) {
        paths++;
        for (int i = 0; i < nn; i++)
            if (fix_selected(names[i]) && fix_supported(mdir, names[i]))
                fix_run_one(mdir, names[i], NULL);
    }
    quant_set_simd(was);
    CHECK_MSG(paths >= 1, "no kernel path could be selected");
    for (int i = 0; i < nn; i++)
        free(names[i]);
}

/* models-2026/stories260K.plain.json: from "Once upon a time" our own greedy generation (tokenizer,
 * engine_eval, engine_sample at temperature 0, pieces) continues exactly as llama.cpp's. */
TEST(fidelity_stories_greedy_text)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/models-2026/stories260K.plain.json", dir);
    char *text = fix_slurp(path);
    CHECK(text != NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(root != NULL);
    if (!root)
        return;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    const cJSON *jpt = cJSON_GetObjectItemCaseSensitive(root, "prompt_tokens");
    const int np = cJSON_GetArraySize(jpt), ns = cJSON_GetArraySize(steps);

    snprintf(path, sizeof path, "%s/models-2026/stories260K.gguf", dir);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 2;
    ep.sampler.temp = 0.0f;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e) {
        cJSON_Delete(root);
        return;
    }
    int32_t toks[64];
    const char *prompt = "Once upon a time";
    int n = engine_tokenize(e, prompt, strlen(prompt), true, false, toks, 64, err, sizeof err);
    CHECK_INT_EQ(n, np);
    struct trace_log log;
    trace_log_init(&log, engine_desc(e)->n_layers, 0, 0);
    for (int i = 0; i < n; i++) {
        char piece[64];
        size_t pl = engine_token_piece(e, toks[i], piece, sizeof piece);
        trace_log_push(&log, toks[i], piece, pl < sizeof piece ? pl : sizeof piece, true);
    }
    char ours[1024] = "", want[1024] = "";
    size_t ol = 0, wl = 0;
    for (int s = np - 1; s < ns; s++) {
        const cJSON *st = cJSON_GetArrayItem(steps, s);
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(st, "piece_hex");
        if (cJSON_IsString(hex))
            for (const char *h = hex->valuestring; h[0] && h[1] && wl + 1 < sizeof want; h += 2) {
                unsigned v;
                sscanf(h, "%2x", &v);
                want[wl++] = (char)v;
            }
        CHECK(engine_eval(e, &log, err, sizeof err) == 0);
        long idx = engine_sample(e, &log, err, sizeof err);
        CHECK(idx >= 0);
        if (idx < 0)
            break;
        CHECK_MSG(log.tok[idx].token == fix_int(st, "next"), "step %d: we chose %d, llama.cpp %d",
                  s, log.tok[idx].token, fix_int(st, "next"));
        size_t pl = log.tok[idx].piece_len;
        if (ol + pl < sizeof ours) {
            memcpy(ours + ol, trace_piece(&log, (size_t)idx), pl);
            ol += pl;
        }
    }
    ours[ol] = 0;
    want[wl] = 0;
    CHECK_STR_EQ(ours, want);
    printf("  stories260K: \"Once upon a time%s\"\n", ours);
    trace_log_free(&log);
    engine_close(e);
    cJSON_Delete(root);
}

/* Ollama's gptoss layout of the gpt-oss fixture (tests/ollama_write.h: other key and tensor
 * names, Q/K/V and gate/up fused, MXFP4 in OpenAI's nibble order) through the same two
 * reference runs of ../shared/fixtures/models-2026/gpt-oss-small-mxfp4.{chat,plain}.json on
 * every kernel path: the same prompt tokens, greedy tokens and experts as llama.cpp's file. */
TEST(fidelity_ollama_gptoss)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char mdir[4096], src[8192], dst[4096], err[512];
    snprintf(mdir, sizeof mdir, "%s/models-2026", dir);
    snprintf(src, sizeof src, "%s/gpt-oss-small-mxfp4.gguf", mdir);
    snprintf(dst, sizeof dst, "%s/gptoss-ollama.gguf", test_tmp_dir());
    CHECK_MSG(ollama_write_gptoss(src, dst, err, sizeof err) == 0, "%s", err);
    struct model_desc d;
    CHECK_MSG(model_describe(dst, &d, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(!strcmp(d.arch, "gptoss"), "%s", d.arch);
    CHECK(d.n_experts == 8 && d.d_ff_expert == 128);
    /* its tokenizer.ggml.pre says "default": split as gpt-4o, as Ollama does, these texts
     * tokenize as in llama.cpp's file (the fixture prompts split the same either way) */
    static const char *const texts[] = { "12345678 and 3.14159", "DON'T stop, it's OK's",
                                         "tabs\t\tand  spaces\n\n\nnewlines" };
    struct engine_params ep;
    engine_params_default(&ep);
    ep.n_ctx = 64;
    ep.model_path = src;
    struct engine *a = engine_open(&ep, err, sizeof err);
    ep.model_path = dst;
    struct engine *b = engine_open(&ep, err, sizeof err);
    CHECK_MSG(a && b, "%s", err);
    for (size_t i = 0; a && b && i < sizeof texts / sizeof texts[0]; i++) {
        int32_t ta[64], tb[64];
        int na = engine_tokenize(a, texts[i], strlen(texts[i]), false, false, ta, 64, err,
                                 sizeof err);
        int nb = engine_tokenize(b, texts[i], strlen(texts[i]), false, false, tb, 64, err,
                                 sizeof err);
        CHECK_MSG(na > 0 && na == nb && !memcmp(ta, tb, (size_t)na * sizeof ta[0]),
                  "'%s': %d tokens in llama.cpp's file, %d in Ollama's layout", texts[i], na, nb);
    }
    engine_close(a);
    engine_close(b);
    const int was = quant_simd();
    for (int s = -1; fix_next_path(&s);) {
        fix_run_one(mdir, "gpt-oss-small-mxfp4.chat.json", dst);
        fix_run_one(mdir, "gpt-oss-small-mxfp4.plain.json", dst);
    }
    quant_set_simd(was);
}
