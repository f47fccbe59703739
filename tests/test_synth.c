/* tests/test_synth.c: tools/synth writes what llama.cpp expects.
 *
 * The expected tensor lists below are written from llama.cpp's create_tensor calls (names
 * from llama-arch.cpp, shapes in ggml order: ne[0] is the row length), independently of
 * synth's own tables. Where ../shared/fixtures is present, synth is also run with each
 * fixture's shape and its tensor table and keys are compared with the fixture's, which
 * llama.cpp's tools wrote. */
#include "test.h"

#include "cpu.h"
#include "engine.h"
#include "gguf.h"
#include "quant.h"

#include <stdint.h>
#include <stdlib.h>

#define SYNTH_NO_MAIN
#include "../tools/synth.c"

static int ts_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs synth with a NULL-terminated argument list into test_tmp_dir()/file. */
static int ts_run(const char *file, char *path, size_t pathlen, const char *const *args)
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

struct ts_expect {
    char name[64];
    int64_t ne[4];
    bool matrix; /* in the chosen type; else f32 */
};

struct ts_shape {
    const char *arch;            /* --arch */
    int layers, d, heads, kv, experts, used, ff, sff;
};

/* llama.cpp's tensor list for a family (see the header comment). Returns the count. */
static int ts_expected(const struct ts_shape *s, int vocab, struct ts_expect *out)
{
    int n = 0, hd = s->d / s->heads;
    int64_t q = (int64_t)s->heads * hd, kv = (int64_t)s->kv * hd;
    bool qwen2ish = !strcmp(s->arch, "qwen2moe") || !strcmp(s->arch, "qwen2");
#define ADD(m, nm, a, b, c)                                                              \
    do {                                                                                 \
        out[n] = (struct ts_expect){ .ne = { (a), (b), (c), 1 }, .matrix = (m) };        \
        snprintf(out[n].name, sizeof out[n].name, "%s", nm);                             \
        n++;                                                                             \
    } while (0)
    char nm[64];
    ADD(true, "token_embd.weight", s->d, vocab, 1);
    ADD(false, "output_norm.weight", s->d, 1, 1);
    ADD(true, "output.weight", s->d, vocab, 1);
    for (int l = 0; l < s->layers; l++) {
#define L(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), nm)
        ADD(false, L("attn_norm.weight"), s->d, 1, 1);
        ADD(true, L("attn_q.weight"), s->d, q, 1);
        ADD(true, L("attn_k.weight"), s->d, kv, 1);
        ADD(true, L("attn_v.weight"), s->d, kv, 1);
        ADD(true, L("attn_output.weight"), q, s->d, 1);
        ADD(false, L("ffn_norm.weight"), s->d, 1, 1);
        if (qwen2ish) {
            ADD(false, L("attn_q.bias"), q, 1, 1);
            ADD(false, L("attn_k.bias"), kv, 1, 1);
            ADD(false, L("attn_v.bias"), kv, 1, 1);
        }
        if (!strcmp(s->arch, "qwen3moe")) {
            ADD(false, L("attn_q_norm.weight"), hd, 1, 1);
            ADD(false, L("attn_k_norm.weight"), hd, 1, 1);
        }
        if (!strcmp(s->arch, "olmoe")) {
            ADD(false, L("attn_q_norm.weight"), s->d, 1, 1);
            ADD(false, L("attn_k_norm.weight"), s->d, 1, 1);
        }
        if (s->experts == 0) {
            ADD(true, L("ffn_gate.weight"), s->d, s->ff, 1);
            ADD(true, L("ffn_up.weight"), s->d, s->ff, 1);
            ADD(true, L("ffn_down.weight"), s->ff, s->d, 1);
            continue;
        }
        ADD(false, L("ffn_gate_inp.weight"), s->d, s->experts, 1);
        ADD(true, L("ffn_gate_exps.weight"), s->d, s->ff, s->experts);
        ADD(true, L("ffn_up_exps.weight"), s->d, s->ff, s->experts);
        ADD(true, L("ffn_down_exps.weight"), s->ff, s->d, s->experts);
        if (!strcmp(s->arch, "qwen2moe")) {
            ADD(false, L("ffn_gate_inp_shexp.weight"), s->d, 1, 1);
            ADD(true, L("ffn_gate_shexp.weight"), s->d, s->sff, 1);
            ADD(true, L("ffn_up_shexp.weight"), s->d, s->sff, 1);
            ADD(true, L("ffn_down_shexp.weight"), s->sff, s->d, 1);
        }
#undef L
    }
#undef ADD
    return n;
}

static void ts_check_u32(const struct gguf_file *f, const char *arch, const char *suffix,
                         uint32_t want)
{
    char key[128], err[512];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v = 0;
    int rc = gguf_get_u32(f, key, &v, err, sizeof err);
    CHECK_MSG(rc == 0 && v == want, "%s: expected %u, got %u (rc %d)", key, want, v, rc);
}

/* Every family, each in one of the three types: the tensors, shapes and keys. */
TEST(synth_writes_every_arch)
{
    static const struct {
        struct ts_shape s;
        const char *gguf_arch, *type;
        uint32_t ggml_type;
    } cases[] = {
        { { "qwen2moe", 2, 64, 4, 2, 8, 2, 32, 64 }, "qwen2moe", "f32", GGML_TYPE_F32 },
        { { "qwen3moe", 2, 64, 4, 2, 8, 2, 64, 0 }, "qwen3moe", "q8_0", GGML_TYPE_Q8_0 },
        { { "olmoe", 3, 64, 4, 4, 16, 4, 32, 0 }, "olmoe", "f16", GGML_TYPE_F16 },
        { { "mixtral", 2, 64, 8, 2, 4, 2, 64, 0 }, "llama", "f32", GGML_TYPE_F32 },
        { { "granitemoe", 2, 64, 4, 4, 4, 1, 32, 0 }, "granitemoe", "f16", GGML_TYPE_F16 },
        { { "llama", 2, 64, 4, 2, 0, 0, 96, 0 }, "llama", "q8_0", GGML_TYPE_Q8_0 },
        { { "qwen2", 2, 64, 4, 1, 0, 0, 96, 0 }, "qwen2", "f32", GGML_TYPE_F32 },
    };
    struct ts_expect *want = malloc(512 * sizeof *want);
    CHECK(want != NULL);
    if (!want)
        return;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct ts_shape *s = &cases[c].s;
        char a[8][16], path[4096], err[512], file[64];
        snprintf(a[0], 16, "%d", s->layers);
        snprintf(a[1], 16, "%d", s->d);
        snprintf(a[2], 16, "%d", s->heads);
        snprintf(a[3], 16, "%d", s->kv);
        snprintf(a[4], 16, "%d", s->experts);
        snprintf(a[5], 16, "%d", s->used ? s->used : 1);
        snprintf(a[6], 16, "%d", s->ff);
        snprintf(a[7], 16, "%d", s->sff);
        const char *args[] = { "--arch", s->arch, "--layers", a[0], "--d-model", a[1],
                               "--heads", a[2], "--kv-heads", a[3], "--experts", a[4],
                               "--experts-used", a[5], "--ff", a[6], "--type", cases[c].type,
                               "--merges", "10", "--seed", "3",
                               s->sff ? "--shared-ff" : NULL, a[7], NULL };
        snprintf(file, sizeof file, "synth-%s.gguf", s->arch);
        int rc = ts_run(file, path, sizeof path, args);
        CHECK_MSG(rc == 0, "synth --arch %s returned %d", s->arch, rc);
        struct gguf_file f;
        if (rc || gguf_open(&f, path, err, sizeof err) != 0) {
            CHECK_MSG(rc != 0, "%s", err);
            continue;
        }
        int vocab = 256 + 10 + 3;
        int n = ts_expected(s, vocab, want);
        CHECK_MSG((int)f.n_tensors == n, "%s: %d tensors, expected %d", s->arch,
                  (int)f.n_tensors, n);
        for (int i = 0; i < n; i++) {
            const struct gguf_tensor *t = gguf_find_tensor(&f, want[i].name);
            CHECK_MSG(t != NULL, "%s: no tensor %s", s->arch, want[i].name);
            if (!t)
                continue;
            bool same = true;
            for (int d = 0; d < 4; d++)
                same &= t->ne[d] == want[i].ne[d];
            CHECK_MSG(same, "%s: %s is [%lld %lld %lld], expected [%lld %lld %lld]", s->arch,
                      t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)want[i].ne[0], (long long)want[i].ne[1],
                      (long long)want[i].ne[2]);
            uint32_t wt = want[i].matrix ? cases[c].ggml_type : GGML_TYPE_F32;
            CHECK_MSG(t->type == wt, "%s: %s has type %u, expected %u", s->arch, t->name,
                      t->type, wt);
        }
        const char *ga = cases[c].gguf_arch;
        char buf[256];
        CHECK(gguf_get_strz(&f, "general.architecture", buf, sizeof buf, err, sizeof err) == 0);
        CHECK_STR_EQ(buf, ga);
        ts_check_u32(&f, ga, "block_count", (uint32_t)s->layers);
        ts_check_u32(&f, ga, "embedding_length", (uint32_t)s->d);
        ts_check_u32(&f, ga, "attention.head_count", (uint32_t)s->heads);
        ts_check_u32(&f, ga, "attention.head_count_kv", (uint32_t)s->kv);
        ts_check_u32(&f, ga, "context_length", 512);
        ts_check_u32(&f, ga, "feed_forward_length", (uint32_t)s->ff);
        if (s->experts) {
            ts_check_u32(&f, ga, "expert_count", (uint32_t)s->experts);
            ts_check_u32(&f, ga, "expert_used_count", (uint32_t)s->used);
        }
        if (!strncmp(ga, "qwen", 4) && s->experts)
            ts_check_u32(&f, ga, "expert_feed_forward_length", (uint32_t)s->ff);
        if (s->sff)
            ts_check_u32(&f, ga, "expert_shared_feed_forward_length", (uint32_t)s->sff);
        char key[128];
        float fv;
        const char *fkeys[] = { "rope.freq_base", "attention.layer_norm_rms_epsilon",
                                "embedding_scale", "residual_scale", "attention.scale",
                                "logit_scale" };
        for (int k = 0; k < 6; k++) {
            snprintf(key, sizeof key, "%s.%s", ga, fkeys[k]);
            int want_rc = k < 2 || !strcmp(ga, "granitemoe") ? 0 : 1;
            CHECK_MSG(gguf_get_f32(&f, key, &fv, err, sizeof err) == want_rc, "%s: %s", s->arch,
                      key);
        }
        CHECK(gguf_get_strz(&f, "tokenizer.ggml.model", buf, sizeof buf, err, sizeof err) == 0);
        CHECK_STR_EQ(buf, "gpt2");
        CHECK(gguf_get_strz(&f, "tokenizer.chat_template", buf, sizeof buf, err, sizeof err) == 0);
        CHECK(strstr(buf, "<|im_start|>") != NULL);
        const struct gguf_kv *tok = gguf_find(&f, "tokenizer.ggml.tokens");
        CHECK(tok && tok->arr_n == (uint64_t)vocab);
        gguf_close(&f);
    }
    free(want);
}

/* The Makefile's default model: those exact flags keep working. */
TEST(synth_default_model_flags)
{
    char path[4096], err[512];
    const char *args[] = { "--arch", "qwen2moe", "--layers", "4", "--d-model", "128",
                           "--heads", "4", "--kv-heads", "2", "--experts", "8",
                           "--experts-used", "2", "--ff", "256", "--shared-ff", "256",
                           "--vocab-bytes", "--seed", "1", "--name", "moescope random default",
                           NULL };
    CHECK_INT_EQ(ts_run("default.gguf", path, sizeof path, args), 0);
    struct gguf_file f;
    CHECK_MSG(gguf_open(&f, path, err, sizeof err) == 0, "%s", err);
    if (!f.base)
        return;
    char name[64];
    CHECK(gguf_get_strz(&f, "general.name", name, sizeof name, err, sizeof err) == 0);
    CHECK_STR_EQ(name, "moescope random default");
    CHECK_INT_EQ(f.n_tensors, 3 + 4 * 17);
    gguf_close(&f);
}

/* synth with each fixture's shape writes the same tensor table (names, types, shapes; the
 * vocabulary size aside) and at least the fixture's keys, with the same value types. */
TEST(synth_matches_fixture_layout)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    static const struct {
        const char *fixture;
        const char *args[32];
        bool recent;    /* in models-2026/ (llama.cpp's current converter), else models/ */
    } cases[] = {
        { "qwen2moe-tiny-f32", { "--arch", "qwen2moe", "--kv-heads", "2", "--ff", "64",
                                 "--shared-ff", "128", NULL }, false },
        { "olmoe-tiny-f16", { "--arch", "olmoe", "--experts", "16", "--experts-used", "4",
                              "--ff", "64", "--type", "f16", NULL }, false },
        { "mixtral-small-q8_0", { "--arch", "mixtral", "--d-model", "256", "--kv-heads", "2",
                                  "--ff", "256", "--type", "q8_0", NULL }, false },
        { "stories260K", { "--arch", "llama", "--layers", "5", "--d-model", "64", "--heads",
                           "8", "--kv-heads", "4", "--ff", "172", NULL }, false },
        /* the mix: MXFP4 experts, Q8_0 attention, F16 embeddings and output */
        { "gpt-oss-small-mxfp4", { "--arch", "gpt-oss", "--heads", "4", "--kv-heads", "1",
                                   "--head-dim", "64", "--ff", "128", "--type", "mxfp4",
                                   "--rope-base", "150000", "--ctx", "4096", NULL }, true },
        /* latent attention (attn_k_b/attn_v_b), a leading dense layer, Q4_K_M's fallbacks
         * for the rows of 32 and 64 */
        { "deepseek2-lite-small-q4_k_m", { "--arch", "deepseek2", "--d-model", "256",
                                           "--head-dim", "32", "--rope-dim", "16",
                                           "--kv-lora", "64", "--ff", "256", "--dense-lead",
                                           "1", "--dense-ff", "512", "--type", "q4_k",
                                           "--ctx", "4096", NULL }, true },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char fpath[4096], spath[4096], err[512], file[96];
        snprintf(fpath, sizeof fpath, "%s/%s/%s.gguf", fx,
                 cases[c].recent ? "models-2026" : "models", cases[c].fixture);
        snprintf(file, sizeof file, "like-%s.gguf", cases[c].fixture);
        CHECK_INT_EQ(ts_run(file, spath, sizeof spath, cases[c].args), 0);
        struct gguf_file fi, sy;
        if (gguf_open(&fi, fpath, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            continue;
        }
        if (gguf_open(&sy, spath, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            gguf_close(&fi);
            continue;
        }
        CHECK_INT_EQ(sy.n_tensors, fi.n_tensors);
        for (uint64_t i = 0; i < fi.n_tensors; i++) {
            const struct gguf_tensor *a = &fi.tensors[i];
            const struct gguf_tensor *b = gguf_find_tensor(&sy, a->name);
            CHECK_MSG(b != NULL, "%s: synth has no %s", cases[c].fixture, a->name);
            if (!b)
                continue;
            bool vocab_dim = !strcmp(a->name, "token_embd.weight") || !strcmp(a->name, "output.weight");
            CHECK_MSG(a->n_dims == b->n_dims && a->type == b->type && a->ne[0] == b->ne[0] &&
                      (vocab_dim || a->ne[1] == b->ne[1]) && a->ne[2] == b->ne[2],
                      "%s: %s differs: fixture %s [%lld %lld %lld], synth %s [%lld %lld %lld]",
                      cases[c].fixture, a->name, quant_traits(a->type)->name,
                      (long long)a->ne[0], (long long)a->ne[1], (long long)a->ne[2],
                      quant_traits(b->type)->name, (long long)b->ne[0], (long long)b->ne[1],
                      (long long)b->ne[2]);
        }
        bool dense_spm = !strcmp(cases[c].fixture, "stories260K");
        for (uint64_t i = 0; i < fi.n_kv; i++) {
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)fi.kv[i].key.len, fi.kv[i].key.ptr);
            /* stories260K has a SentencePiece vocabulary; synth writes byte-level BPE. The
             * current converter writes more tokenizer keys (padding, add_bos) and gpt-oss's
             * YaRN betas, which are llama.cpp's defaults. */
            if ((dense_spm || cases[c].recent) && !strncmp(key, "tokenizer.", 10))
                continue;
            if (cases[c].recent && strstr(key, ".rope.scaling.yarn_beta_"))
                continue;
            const struct gguf_kv *kv = gguf_find(&sy, key);
            CHECK_MSG(kv != NULL, "%s: synth lacks key %s", cases[c].fixture, key);
            if (kv)
                CHECK_MSG(kv->type == fi.kv[i].type && kv->arr_type == fi.kv[i].arr_type,
                          "%s: key %s is %s, fixture %s", cases[c].fixture, key,
                          gguf_vtype_name(kv->type), gguf_vtype_name(fi.kv[i].type));
        }
        /* The byte tokens are GPT-2's byte-to-unicode strings, in byte order. */
        const struct gguf_kv *ta = gguf_find(&fi, "tokenizer.ggml.tokens");
        const struct gguf_kv *tb = gguf_find(&sy, "tokenizer.ggml.tokens");
        if (!dense_spm && ta && tb && ta->arr_n >= 256 && tb->arr_n >= 256) {
            struct gguf_str *sa = malloc(ta->arr_n * sizeof *sa), *sb = malloc(tb->arr_n * sizeof *sb);
            if (sa && sb && gguf_arr_strings(ta, sa) == 0 && gguf_arr_strings(tb, sb) == 0) {
                int diff = 0;
                for (int i = 0; i < 256; i++)
                    diff += sa[i].len != sb[i].len || memcmp(sa[i].ptr, sb[i].ptr, sa[i].len);
                CHECK_MSG(diff == 0, "%s: %d byte tokens differ", cases[c].fixture, diff);
                /* The three specials end both lists, in the same order (gpt-oss's are
                 * harmony's). */
                for (int k = 1; k <= 3 && !cases[c].recent; k++) {
                    const struct gguf_str *x = &sa[ta->arr_n - (uint64_t)k];
                    const struct gguf_str *y = &sb[tb->arr_n - (uint64_t)k];
                    CHECK(x->len == y->len && memcmp(x->ptr, y->ptr, x->len) == 0);
                }
            }
            free(sa);
            free(sb);
        }
        gguf_close(&fi);
        gguf_close(&sy);
    }
}

/* The vocabulary hangs together the way llama.cpp's BPE needs it to. */
TEST(synth_vocab_is_consistent)
{
    char path[4096], err[512];
    const char *args[] = { "--arch", "qwen3moe", "--layers", "1", "--d-model", "32", "--ff",
                           "32", "--experts", "2", "--experts-used", "1", NULL };
    CHECK_INT_EQ(ts_run("vocab.gguf", path, sizeof path, args), 0);
    struct gguf_file f;
    CHECK_MSG(gguf_open(&f, path, err, sizeof err) == 0, "%s", err);
    if (!f.base)
        return;
    const struct gguf_kv *tok = gguf_find(&f, "tokenizer.ggml.tokens");
    const struct gguf_kv *types = gguf_find(&f, "tokenizer.ggml.token_type");
    const struct gguf_kv *merges = gguf_find(&f, "tokenizer.ggml.merges");
    CHECK(tok && types && merges && types->arr_n == tok->arr_n);
    if (!tok || !types || !merges || types->arr_n != tok->arr_n) {
        gguf_close(&f);
        return;
    }
    uint64_t n = tok->arr_n;
    CHECK_INT_EQ(n, 256 + merges->arr_n + 3);
    struct gguf_str *s = malloc(n * sizeof *s), *m = malloc((merges->arr_n + 1) * sizeof *m);
    CHECK(s && m && gguf_arr_strings(tok, s) == 0 && gguf_arr_strings(merges, m) == 0);
    /* Printable ASCII bytes are their own token; the rest are two-byte UTF-8 (U+0100..). */
    for (int b = 0; b < 256; b++) {
        if (b >= 33 && b <= 126)
            CHECK_MSG(s[b].len == 1 && s[b].ptr[0] == b, "byte %d", b);
        else
            CHECK_MSG(s[b].len == 2 && ((unsigned char)s[b].ptr[0] & 0xe0) == 0xc0, "byte %d", b);
    }
    CHECK(s[32].len == 2 && memcmp(s[32].ptr, "\xc4\xa0", 2) == 0); /* ' ' -> U+0120 */
    CHECK(s[10].len == 2 && memcmp(s[10].ptr, "\xc4\x8a", 2) == 0); /* '\n' -> U+010A */
    /* Every token is distinct. */
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = i + 1; j < n; j++)
            CHECK_MSG(s[i].len != s[j].len || memcmp(s[i].ptr, s[j].ptr, s[i].len) != 0,
                      "tokens %llu and %llu repeat", (unsigned long long)i, (unsigned long long)j);
    /* A merge "A B": A and B are earlier tokens, and AB is the token 256 + rank. */
    for (uint64_t r = 0; r < merges->arr_n; r++) {
        const char *sp = memchr(m[r].ptr, ' ', m[r].len);
        CHECK(sp != NULL);
        if (!sp)
            continue;
        uint64_t la = (uint64_t)(sp - m[r].ptr), lb = m[r].len - la - 1;
        bool found_a = false, found_b = false;
        for (uint64_t i = 0; i < 256 + r; i++) {
            found_a |= s[i].len == la && memcmp(s[i].ptr, m[r].ptr, la) == 0;
            found_b |= s[i].len == lb && memcmp(s[i].ptr, sp + 1, lb) == 0;
        }
        CHECK_MSG(found_a && found_b, "merge %llu '%.*s' has a part that is not a token",
                  (unsigned long long)r, (int)m[r].len, m[r].ptr);
        const struct gguf_str *t = &s[256 + r];
        CHECK(t->len == la + lb && memcmp(t->ptr, m[r].ptr, la) == 0 &&
              memcmp(t->ptr + la, sp + 1, lb) == 0);
    }
    static const char *const specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
    for (int k = 0; k < 3; k++) {
        const struct gguf_str *t = &s[n - 3 + (uint64_t)k];
        CHECK(t->len == strlen(specials[k]) && memcmp(t->ptr, specials[k], t->len) == 0);
        int32_t ty = 0;
        CHECK(gguf_arr_get_i32(types, n - 3 + (uint64_t)k, &ty) == 0 && ty == 3);
    }
    int32_t ty = 0;
    CHECK(gguf_arr_get_i32(types, 65, &ty) == 0 && ty == 1);
    uint32_t bos = 0, eos = 0;
    CHECK(gguf_get_u32(&f, "tokenizer.ggml.bos_token_id", &bos, err, sizeof err) == 0);
    CHECK(gguf_get_u32(&f, "tokenizer.ggml.eos_token_id", &eos, err, sizeof err) == 0);
    CHECK_INT_EQ(bos, n - 3);
    CHECK_INT_EQ(eos, n - 1);
    free(s);
    free(m);
    gguf_close(&f);
}

TEST(synth_is_deterministic)
{
    char p1[4096], p2[4096], p3[4096];
    const char *a1[] = { "--arch", "olmoe", "--layers", "1", "--d-model", "32", "--ff", "32",
                         "--seed", "5", NULL };
    const char *a2[] = { "--arch", "olmoe", "--layers", "1", "--d-model", "32", "--ff", "32",
                         "--seed", "6", NULL };
    CHECK_INT_EQ(ts_run("det1.gguf", p1, sizeof p1, a1), 0);
    CHECK_INT_EQ(ts_run("det2.gguf", p2, sizeof p2, a1), 0);
    CHECK_INT_EQ(ts_run("det3.gguf", p3, sizeof p3, a2), 0);
    struct gguf_file f1, f2, f3;
    char err[512];
    CHECK(gguf_open(&f1, p1, err, sizeof err) == 0);
    CHECK(gguf_open(&f2, p2, err, sizeof err) == 0);
    CHECK(gguf_open(&f3, p3, err, sizeof err) == 0);
    if (f1.base && f2.base && f3.base) {
        CHECK(f1.size == f2.size && memcmp(f1.base, f2.base, f1.size) == 0);
        CHECK(f1.size == f3.size && memcmp(f1.base, f3.base, f1.size) != 0);
    }
    gguf_close(&f1);
    gguf_close(&f2);
    gguf_close(&f3);
}

/* Weight statistics, and the f16 and q8_0 files hold the f32 file's values (same seed)
 * within each format's rounding. Q8_0 blocks are decoded here by hand: d (f16) times q. */
TEST(synth_weights_and_types)
{
    char pf[4096], ph[4096], pq[4096], err[512];
    const char *base[] = { "--arch", "mixtral", "--layers", "1", "--d-model", "64", "--ff",
                           "64", "--experts", "4", "--seed", "9", "--type", "f32", NULL };
    CHECK_INT_EQ(ts_run("w-f32.gguf", pf, sizeof pf, base), 0);
    base[13] = "f16";
    CHECK_INT_EQ(ts_run("w-f16.gguf", ph, sizeof ph, base), 0);
    base[13] = "q8_0";
    CHECK_INT_EQ(ts_run("w-q8.gguf", pq, sizeof pq, base), 0);
    struct gguf_file ff, fh, fq;
    CHECK(gguf_open(&ff, pf, err, sizeof err) == 0);
    CHECK(gguf_open(&fh, ph, err, sizeof err) == 0);
    CHECK(gguf_open(&fq, pq, err, sizeof err) == 0);
    if (!ff.base || !fh.base || !fq.base)
        goto out;

    const struct gguf_tensor *norm = gguf_find_tensor(&ff, "blk.0.ffn_norm.weight");
    CHECK(norm != NULL);
    for (int i = 0; norm && i < 64; i++)
        CHECK(((const float *)norm->data)[i] == 1.0f);
    /* Matrices ~N(0, 0.02); the router ~N(0, 1/sqrt(64)). */
    const struct gguf_tensor *up = gguf_find_tensor(&ff, "blk.0.ffn_up_exps.weight");
    const struct gguf_tensor *gi = gguf_find_tensor(&ff, "blk.0.ffn_gate_inp.weight");
    CHECK(up && gi);
    if (up && gi) {
        double s1 = 0, s2 = 0;
        int64_t n = up->ne[0] * up->ne[1] * up->ne[2];
        for (int64_t i = 0; i < n; i++) {
            double x = ((const float *)up->data)[i];
            s1 += x;
            s2 += x * x;
        }
        CHECK_NEAR(s1 / (double)n, 0.0, 0.001);
        CHECK_NEAR(sqrt(s2 / (double)n), 0.02, 0.001);
        s2 = 0;
        n = gi->ne[0] * gi->ne[1];
        for (int64_t i = 0; i < n; i++)
            s2 += ((const float *)gi->data)[i] * ((const float *)gi->data)[i];
        CHECK_NEAR(sqrt(s2 / (double)n), 0.125, 0.02);
    }
    for (uint64_t i = 0; i < ff.n_tensors; i++) {
        const struct gguf_tensor *t = &ff.tensors[i];
        const struct gguf_tensor *h = gguf_find_tensor(&fh, t->name);
        const struct gguf_tensor *q = gguf_find_tensor(&fq, t->name);
        CHECK(h && q);
        if (!h || !q)
            continue;
        int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        const float *x = t->data;
        int bad_h = 0, bad_q = 0;
        for (int64_t j = 0; j < n; j++) {
            float vh = h->type == GGML_TYPE_F16 ? quant_f16_to_f32(((const uint16_t *)h->data)[j])
                                                : ((const float *)h->data)[j];
            bad_h += !(fabsf(vh - x[j]) <= fabsf(x[j]) * (1.0f / 2048.0f) + 1e-7f);
            float vq;
            float dq = 0.0f;
            if (q->type == GGML_TYPE_Q8_0) {
                const uint8_t *blk = (const uint8_t *)q->data + (j / 32) * 34;
                uint16_t dh;
                memcpy(&dh, blk, 2);
                dq = quant_f16_to_f32(dh);
                vq = dq * (float)(int8_t)blk[2 + j % 32];
            } else {
                vq = ((const float *)q->data)[j];
            }
            /* Half a step, plus what the f16 scale's rounding adds across 127 steps. */
            bad_q += !(fabsf(vq - x[j]) <= 0.5f * dq + 127.0f * dq / 2048.0f + 1e-7f);
        }
        CHECK_MSG(bad_h == 0, "%s: %d f16 values off", t->name, bad_h);
        CHECK_MSG(bad_q == 0, "%s: %d q8_0 values off", t->name, bad_q);
    }
out:
    if (ff.base)
        gguf_close(&ff);
    if (fh.base)
        gguf_close(&fh);
    if (fq.base)
        gguf_close(&fq);
}

TEST(synth_refuses_bad_flags)
{
    char path[4096];
    const char *bad[][12] = {
        { "--arch", "gpt5", NULL },
        { "--type", "q2_k", NULL },
        { "--type", "q8_0", "--d-model", "48", "--heads", "4", NULL },
        { "--arch", "olmoe", "--kv-heads", "2", NULL },
        { "--arch", "qwen2", "--experts", "4", NULL },
        { "--arch", "qwen3moe", "--shared-ff", "64", NULL },
        { "--experts", "4", "--experts-used", "5", NULL },
        { "--d-model", "100", "--heads", "3", NULL },
        { "--heads", "4", "--kv-heads", "3", NULL },
        { "--layers", "0", NULL },
        { "--vocab", "300", NULL },                       /* fewer than the 315 needed */
        { "--hostile", "--vocab", "320", NULL },          /* fewer than 315 + the pieces */
        { "--type", "q4_k", "--pure", "--d-model", "64", "--heads", "4", NULL },
        { "--layers", NULL },
        { "--bogus", "1", NULL },
        { "--kv-lora", "64", NULL },                      /* deepseek2's flags elsewhere */
        { "--arch", "deepseek2", "--shared-ff", "64", NULL }, /* it counts --shared */
        { "--arch", "deepseek2", "--layers", "2", "--dense-lead", "2", NULL },
        { "--arch", "deepseek2", "--rope-dim", "15", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(ts_run("bad.gguf", path, sizeof path, bad[i]) == 2, "case %zu (%s %s) accepted",
                  i, bad[i][0], bad[i][1] ? bad[i][1] : "");
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL); /* nothing was written */
    if (fp)
        fclose(fp);
}

/* Reads a GGUF's token strings (the caller frees *out). Returns the count, or 0. */
static uint64_t ts_tokens(const struct gguf_file *f, struct gguf_str **out)
{
    const struct gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    *out = NULL;
    if (!tok || tok->arr_type != GGUF_VT_STRING)
        return 0;
    *out = malloc(tok->arr_n * sizeof **out);
    if (!*out || gguf_arr_strings(tok, *out) != 0)
        return 0;
    return tok->arr_n;
}

/* --vocab N: exactly N tokens, all distinct, the built-in ones first in their places, the
 * filler of printable ASCII (after GPT-2's visible space), and the engine loads it. */
TEST(synth_vocab_size)
{
    char path[4096], err[512];
    const char *args[] = { "--arch", "qwen2moe", "--layers", "1", "--d-model", "64",
                           "--ff", "32", "--vocab", "12000", NULL };
    CHECK_INT_EQ(ts_run("vocab12k.gguf", path, sizeof path, args), 0);
    struct gguf_file f;
    if (gguf_open(&f, path, err, sizeof err) != 0) {
        CHECK_MSG(false, "%s", err);
        return;
    }
    struct gguf_str *s;
    uint64_t n = ts_tokens(&f, &s);
    CHECK_INT_EQ(n, 12000);
    const struct gguf_tensor *emb = gguf_find_tensor(&f, "token_embd.weight");
    const struct gguf_tensor *out = gguf_find_tensor(&f, "output.weight");
    CHECK(emb && emb->ne[1] == 12000 && out && out->ne[1] == 12000);
    if (n == 12000) {
        int nm = (int)SYNTH_MAX_MERGES, bad = 0;
        CHECK(s[256 + nm].len == 13 && memcmp(s[256 + nm].ptr, "<|endoftext|>", 13) == 0);
        CHECK(s[258 + nm].len == 10 && memcmp(s[258 + nm].ptr, "<|im_end|>", 10) == 0);
        for (uint64_t i = 259 + (uint64_t)nm; i < n; i++) {
            size_t k = 0;
            if (s[i].len >= 2 && memcmp(s[i].ptr, "\xc4\xa0", 2) == 0)
                k = 2;
            bad += k == s[i].len;
            for (; k < s[i].len; k++)
                bad += !(s[i].ptr[k] >= 'a' && s[i].ptr[k] <= 'z');
        }
        CHECK_MSG(bad == 0, "%d filler bytes are not lower-case letters", bad);
        /* Distinct: sort the strings and compare neighbours. */
        char **v = malloc(n * sizeof *v);
        for (uint64_t i = 0; v && i < n; i++) {
            v[i] = malloc(s[i].len + 1);
            memcpy(v[i], s[i].ptr, s[i].len);
            v[i][s[i].len] = '\0';
        }
        if (v) {
            qsort(v, n, sizeof *v, ts_cmp_str);
            int dup = 0;
            for (uint64_t i = 1; i < n; i++)
                dup += strcmp(v[i - 1], v[i]) == 0;
            CHECK_MSG(dup == 0, "%d repeated tokens", dup);
            for (uint64_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
        }
    }
    free(s);
    gguf_close(&f);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (e) {
        CHECK_INT_EQ(engine_desc(e)->n_vocab, 12000);
        char piece[64];
        size_t pl = engine_token_piece(e, 11999, piece, sizeof piece);
        CHECK(pl > 0 && pl < sizeof piece);
        engine_close(e);
    }
}

/* ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 bytes. */
static void ts_k4_scale_min(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* One value of a tensor, decoded by hand from the reference block layouts (independent of
 * quant.c): Q4_K (f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles: 64
 * values per 32 bytes, low nibbles first), Q4_0 (f16 d, 16 bytes: values j and j + 16 in
 * the low and high nibble, d * (q - 8)), Q5_K, Q6_K and Q8_0, which the mixes use, and the
 * table-coded MXFP4, IQ4_NL and IQ4_XS (ggml-common.h's grids). */
static const int ts_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};

static float ts_decode(const struct gguf_tensor *t, int64_t i)
{
    const uint8_t *base = t->data;
    uint16_t h;
    switch (t->type) {
    case GGML_TYPE_F32:
        return ((const float *)t->data)[i];
    case GGML_TYPE_Q8_0: {
        const uint8_t *b = base + (i / 32) * 34;
        memcpy(&h, b, 2);
        return quant_f16_to_f32(h) * (float)(int8_t)b[2 + i % 32];
    }
    case GGML_TYPE_Q4_0: {
        const uint8_t *b = base + (i / 32) * 18;
        int j = (int)(i % 32);
        memcpy(&h, b, 2);
        int q = j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4;
        return quant_f16_to_f32(h) * (float)(q - 8);
    }
    case GGML_TYPE_Q4_K: {
        const uint8_t *b = base + (i / 256) * 144;
        int j = (int)(i % 256), sub = j / 32, sc, m;
        uint16_t hm;
        memcpy(&h, b, 2);
        memcpy(&hm, b + 2, 2);
        ts_k4_scale_min(sub, b + 4, &sc, &m);
        const uint8_t *qs = b + 16 + (j / 64) * 32;
        int q = (j % 64) < 32 ? qs[j % 32] & 15 : qs[j % 32] >> 4;
        return quant_f16_to_f32(h) * (float)sc * (float)q - quant_f16_to_f32(hm) * (float)m;
    }
    case GGML_TYPE_Q5_K: {
        /* d, dmin, 12 bytes of scales/mins, qh[32] (bit g: fifth bit of group g), qs[128] */
        const uint8_t *b = base + (i / 256) * 176;
        int j = (int)(i % 256), sub = j / 32, sc, m;
        uint16_t hm;
        memcpy(&h, b, 2);
        memcpy(&hm, b + 2, 2);
        ts_k4_scale_min(sub, b + 4, &sc, &m);
        const uint8_t *qs = b + 48 + (j / 64) * 32;
        int q = (j % 64) < 32 ? qs[j % 32] & 15 : qs[j % 32] >> 4;
        q |= ((b[16 + j % 32] >> sub) & 1) << 4;
        return quant_f16_to_f32(h) * (float)sc * (float)q - quant_f16_to_f32(hm) * (float)m;
    }
    case GGML_TYPE_Q6_K: {
        /* ql[128], qh[64], scales[16] (int8), d (f16); 128 values per half */
        const uint8_t *b = base + (i / 256) * 210;
        int j = (int)(i % 256), half = j / 128, l = j % 32, g = (j % 128) / 32;
        const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        const int8_t *scl = (const int8_t *)(b + 192) + 8 * half;
        memcpy(&h, b + 208, 2);
        int lo = g == 0 ? ql[l] & 15 : g == 1 ? ql[l + 32] & 15 : g == 2 ? ql[l] >> 4
                                                                          : ql[l + 32] >> 4;
        int hi = (qh[l] >> (2 * g)) & 3;
        int q = (lo | hi << 4) - 32;
        return quant_f16_to_f32(h) * (float)scl[l / 16 + 2 * g] * (float)q;
    }
    case GGML_TYPE_MXFP4: {
        /* e (E8M0), 16 bytes of E2M1 codes: value = e2m1 * 2^(e - 127) */
        static const float e2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, 0, -0.5f, -1, -1.5f, -2, -3, -4, -6};
        const uint8_t *b = base + (i / 32) * 17;
        const int j = (int)(i % 32), q = j < 16 ? b[1 + j] & 15 : b[1 + j - 16] >> 4;
        return e2m1[q] * ldexpf(1.0f, b[0] - 127);
    }
    case GGML_TYPE_IQ4_NL: {
        const uint8_t *b = base + (i / 32) * 18;
        const int j = (int)(i % 32), q = j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4;
        memcpy(&h, b, 2);
        return quant_f16_to_f32(h) * (float)ts_iq4nl[q];
    }
    case GGML_TYPE_IQ4_XS: {
        /* d (f16), scales_h (2 bits per group), scales_l[4] (a nibble per group), qs[128] */
        const uint8_t *b = base + (i / 256) * 136;
        const int j = (int)(i % 256), g = j / 32, l = j % 32;
        uint16_t sh;
        memcpy(&h, b, 2);
        memcpy(&sh, b + 2, 2);
        const int ls = ((b[4 + g / 2] >> (4 * (g % 2))) & 15) | (((sh >> (2 * g)) & 3) << 4);
        const uint8_t *qs = b + 8 + 16 * g;
        const int q = l < 16 ? qs[l] & 15 : qs[l - 16] >> 4;
        return quant_f16_to_f32(h) * (float)(ls - 32) * (float)ts_iq4nl[q];
    }
    default:
        return NAN;
    }
}

/* --type q4_k on the mixtral-small fixture's shape gives llama-quantize's Q4_K_M table
 * (the fixture mixtral-small-q4_k_m.gguf was written by llama-quantize), and every value
 * decodes (by hand, above) near the same seed's f32 value; --type q4_0 likewise. */
TEST(synth_q4_types)
{
    char pf[4096], pk[4096], p0[4096], err[512];
    const char *base[] = { "--arch", "mixtral", "--d-model", "256", "--kv-heads", "2", "--ff",
                           "256", "--seed", "4", "--type", "f32", NULL };
    CHECK_INT_EQ(ts_run("q-f32.gguf", pf, sizeof pf, base), 0);
    base[11] = "q4_k";
    CHECK_INT_EQ(ts_run("q-q4k.gguf", pk, sizeof pk, base), 0);
    base[11] = "q4_0";
    CHECK_INT_EQ(ts_run("q-q40.gguf", p0, sizeof p0, base), 0);
    struct gguf_file ff, fk, f0;
    memset(&ff, 0, sizeof ff);
    memset(&fk, 0, sizeof fk);
    memset(&f0, 0, sizeof f0);
    CHECK(gguf_open(&ff, pf, err, sizeof err) == 0);
    CHECK(gguf_open(&fk, pk, err, sizeof err) == 0);
    CHECK(gguf_open(&f0, p0, err, sizeof err) == 0);
    if (!ff.base || !fk.base || !f0.base)
        goto out;
    const char *fx = test_fixtures_dir();
    if (fx) {
        char path[4096];
        struct gguf_file fr;
        snprintf(path, sizeof path, "%s/models/mixtral-small-q4_k_m.gguf", fx);
        if (gguf_open(&fr, path, err, sizeof err) == 0) {
            CHECK_INT_EQ(fk.n_tensors, fr.n_tensors);
            for (uint64_t i = 0; i < fr.n_tensors; i++) {
                const struct gguf_tensor *a = &fr.tensors[i], *b = gguf_find_tensor(&fk, a->name);
                CHECK_MSG(b && b->type == a->type, "%s: llama-quantize chose %s, synth %s",
                          a->name, quant_traits(a->type)->name,
                          b ? quant_traits(b->type)->name : "nothing");
            }
            uint32_t ft = 0, fkt = 0;
            CHECK(gguf_get_u32(&fr, "general.file_type", &ft, err, sizeof err) == 0);
            CHECK(gguf_get_u32(&fk, "general.file_type", &fkt, err, sizeof err) == 0);
            CHECK_INT_EQ(fkt, ft);
            gguf_close(&fr);
        } else {
            CHECK_MSG(false, "%s", err);
        }
    }
    int n_q40 = 0, n_q6 = 0;
    for (uint64_t i = 0; i < ff.n_tensors; i++) {
        const struct gguf_tensor *x = &ff.tensors[i];
        const struct gguf_tensor *qs[2] = { gguf_find_tensor(&fk, x->name),
                                            gguf_find_tensor(&f0, x->name) };
        for (int w = 0; w < 2; w++) {
            const struct gguf_tensor *q = qs[w];
            CHECK(q != NULL);
            if (!q)
                continue;
            n_q40 += q->type == GGML_TYPE_Q4_0;
            n_q6 += q->type == GGML_TYPE_Q6_K;
            int64_t n = x->ne[0] * x->ne[1] * x->ne[2];
            double se = 0, sx = 0;
            int nan = 0;
            for (int64_t j = 0; j < n; j++) {
                float a = ((const float *)x->data)[j], b = ts_decode(q, j);
                nan += !isfinite(b);
                se += (double)(a - b) * (a - b);
                sx += (double)a * a;
            }
            /* 4 bits over a block of ~N(0, s): an rms error near 0.1 s (0 for f32) */
            double rel = sx > 0 ? sqrt(se / sx) : 0;
            double bound = q->type == GGML_TYPE_F32 ? 0 : q->type == GGML_TYPE_Q4_0 ||
                           q->type == GGML_TYPE_Q4_K ? 0.15 : q->type == GGML_TYPE_Q5_K ? 0.08
                           : 0.03;
            CHECK_MSG(nan == 0 && rel <= bound, "%s %s: rms error %.4f of rms (bound %.2f), %d "
                      "undecoded", x->name, quant_traits(q->type)->name, rel, bound, nan);
        }
    }
    CHECK(n_q40 > 0);
    CHECK(n_q6 > 0);
out:
    if (ff.base)
        gguf_close(&ff);
    if (fk.base)
        gguf_close(&fk);
    if (f0.base)
        gguf_close(&f0);
}

/* The use_more_bits layers of llama-quantize's Q4_K_M on 16 layers (the bench shape):
 * attn_v and ffn_down* Q6_K in layers 0, 1, 4, 7, 10, 13, 14, 15 and Q4_K elsewhere. */
TEST(synth_q4_k_m_layers)
{
    static const int more[16] = { 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1 };
    for (int il = 0; il < 16; il++)
        CHECK_MSG(synth_more_bits(il, 16) == (bool)more[il], "layer %d", il);
    struct synth_cfg c = { .arch = &synth_archs[0], .n_layers = 16, .n_experts = 32,
                           .type = GGML_TYPE_Q4_K };
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.4.ffn_down_exps.weight", 512), GGML_TYPE_Q6_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.4.ffn_down_shexp.weight", 1024), GGML_TYPE_Q6_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.5.ffn_down_exps.weight", 512), GGML_TYPE_Q4_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.15.attn_v.weight", 1024), GGML_TYPE_Q6_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.3.attn_v.weight", 1024), GGML_TYPE_Q4_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.3.ffn_up_exps.weight", 1024), GGML_TYPE_Q4_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_EMBED, "token_embd.weight", 1024), GGML_TYPE_Q4_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_HEAD, "output.weight", 1024), GGML_TYPE_Q6_K);
    CHECK_INT_EQ(synth_pick_type(&c, SK_ROUTER, "blk.0.ffn_gate_inp.weight", 1024), GGML_TYPE_F32);
    CHECK_INT_EQ(synth_pick_type(&c, SK_MATRIX, "blk.3.ffn_up_exps.weight", 96), GGML_TYPE_Q5_0);
    CHECK_INT_EQ(synth_pick_type(&c, SK_HEAD, "output.weight", 96), GGML_TYPE_Q8_0);
    c.pure = true;
    CHECK_INT_EQ(synth_pick_type(&c, SK_HEAD, "output.weight", 1024), GGML_TYPE_Q4_K);
}

/* Whether bytes are one of the hostile pieces (multi-byte or single). */
static bool ts_is_hostile(const char *p, size_t n)
{
    for (int i = 0; i < SYNTH_N_HOSTILE; i++)
        if (synth_hostile[i].n == n && memcmp(synth_hostile[i].s, p, n) == 0)
            return true;
    for (int i = 0; n == 1 && i < SYNTH_N_HOSTILE_BYTES; i++)
        if ((unsigned char)p[0] == synth_hostile_bytes[i])
            return true;
    return false;
}

/* --hostile: each piece is a token whose detokenized bytes are the raw piece, and the model
 * generates them often, both greedy and sampled, with many different ones when sampled. */
TEST(synth_hostile_model)
{
    char path[4096], err[512];
    const char *args[] = { "--hostile", "--seed", "1", NULL };
    CHECK_INT_EQ(ts_run("hostile.gguf", path, sizeof path, args), 0);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return;
    const struct model_desc *d = engine_desc(e);
    CHECK_INT_EQ(d->n_vocab, 256 + SYNTH_MAX_MERGES + 3 + SYNTH_N_HOSTILE);
    char piece[64];
    for (int i = 0; i < SYNTH_N_HOSTILE; i++) {
        size_t n = engine_token_piece(e, 256 + SYNTH_MAX_MERGES + 3 + i, piece, sizeof piece);
        CHECK_MSG(n == synth_hostile[i].n && memcmp(piece, synth_hostile[i].s, n) == 0,
                  "hostile piece %d detokenizes to %zu other bytes", i, n);
    }
    for (int mode = 0; mode < 2; mode++) {
        struct sampler_params sp;
        sampler_params_default(&sp);
        sp.temp = mode ? 0.8f : 0.0f;
        sp.seed = 7;
        engine_set_sampler(e, &sp);
        engine_rewind(e, 0);
        int32_t toks[32];
        int n = engine_tokenize(e, "Hello there", 11, true, false, toks, 32, err, sizeof err);
        CHECK(n > 0);
        struct trace_log log;
        trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
        for (int t = 0; t < n; t++)
            trace_log_push(&log, toks[t], "", 0, true);
        int hostile = 0, gen = 0;
        bool seen[SYNTH_N_HOSTILE + 256] = { false };
        for (int s = 0; s < 64; s++) {
            if (engine_eval(e, &log, err, sizeof err) != 0) {
                CHECK_MSG(false, "%s", err);
                break;
            }
            long at = engine_sample(e, &log, err, sizeof err);
            if (at < 0)
                break;
            int32_t id = log.tok[at].token;
            size_t pl = engine_token_piece(e, id, piece, sizeof piece);
            gen++;
            if (ts_is_hostile(piece, pl)) {
                hostile++;
                /* seen[]: the pieces first, then the single bytes at SYNTH_N_HOSTILE + byte */
                int k = id >= 256 ? id - 256 - SYNTH_MAX_MERGES - 3 : SYNTH_N_HOSTILE + id;
                if (k >= 0 && k < SYNTH_N_HOSTILE + 256)
                    seen[k] = true;
            }
        }
        int distinct = 0;
        for (int k = 0; k < SYNTH_N_HOSTILE + 256; k++)
            distinct += seen[k];
        CHECK_MSG(gen == 64 && hostile * 4 >= gen, "%s: %d of %d tokens hostile",
                  mode ? "sampled" : "greedy", hostile, gen);
        if (mode)
            CHECK_MSG(distinct >= 10 && hostile < gen, "sampled: %d distinct hostile pieces, "
                      "%d of %d", distinct, hostile, gen);
        trace_log_free(&log);
    }
    engine_close(e);
}

/* --type mxfp4, iq4_nl and iq4_xs: every matrix in the type (blocks from quant_iq.c's
 * quantizers, written by gguf_write.c), each value decoding by hand near the f32 file of
 * the same seed; and each model runs on every kernel path with the same greedy tokens and
 * first logits within 1e-3 of the scalar path's largest. */
TEST(synth_iq4_types_run_on_every_path)
{
    static const char *names[] = {"mxfp4", "iq4_nl", "iq4_xs"};
    static const uint32_t types[] = {GGML_TYPE_MXFP4, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
    char pf[4096], err[512];
    const char *args[] = {"--arch", "qwen2moe", "--layers", "2", "--d-model", "256", "--heads",
                          "4", "--kv-heads", "2", "--experts", "4", "--experts-used", "2",
                          "--ff", "256", "--shared-ff", "256", "--seed", "7", "--type", "f32",
                          NULL};
    CHECK_INT_EQ(ts_run("iq-f32.gguf", pf, sizeof pf, args), 0);
    struct gguf_file ff;
    memset(&ff, 0, sizeof ff);
    if (gguf_open(&ff, pf, err, sizeof err) != 0) {
        CHECK_MSG(false, "%s", err);
        return;
    }
    const int before = quant_simd();
    for (int i = 0; i < 3; i++) {
        char pq[4096], file[32];
        snprintf(file, sizeof file, "iq-%s.gguf", names[i]);
        args[21] = names[i];
        CHECK_INT_EQ(ts_run(file, pq, sizeof pq, args), 0);
        struct gguf_file fq;
        if (gguf_open(&fq, pq, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            continue;
        }
        int n_typed = 0;
        for (uint64_t ti = 0; ti < ff.n_tensors; ti++) {
            const struct gguf_tensor *a = &ff.tensors[ti], *q = gguf_find_tensor(&fq, a->name);
            CHECK(q != NULL);
            if (!q || a->n_dims < 2)
                continue;
            const bool router = strstr(a->name, "ffn_gate_inp") != NULL;
            CHECK_MSG(q->type == (router ? GGML_TYPE_F32 : types[i]), "%s %s is %s", names[i],
                      q->name, quant_traits(q->type)->name);
            n_typed += q->type == types[i];
            const int64_t n = a->ne[0] * a->ne[1] * a->ne[2];
            double se = 0, sx = 0;
            for (int64_t v = 0; v < n; v++) {
                const double got = ts_decode(q, v), want = ((const float *)a->data)[v];
                se += (got - want) * (got - want);
                sx += want * want;
            }
            CHECK_MSG(sqrt(se / sx) < 0.16, "%s %s: rms error %.3f of rms", names[i], q->name,
                      sqrt(se / sx));
        }
        CHECK(n_typed >= 10);
        gguf_close(&fq);
        int32_t ref_tokens[8];
        float ref_logits[64], ref_max = 0.0f;
        for (int s = 0; s < CPU_SIMD_COUNT; s++) {
            if (!quant_set_simd(s))
                continue;
            struct engine_params p;
            engine_params_default(&p);
            p.model_path = pq;
            p.n_threads = 1;
            p.n_ctx = 64;
            p.sampler.temp = 0.0f;
            struct engine *e = engine_open(&p, err, sizeof err);
            CHECK_MSG(e != NULL, "%s: %s", names[i], err);
            if (!e)
                continue;
            const struct model_desc *d = engine_desc(e);
            struct trace_log log;
            CHECK(trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used) == 0);
            int32_t toks[16];
            const int np = engine_tokenize(e, "the router", 10, false, false, toks, 16, err,
                                           sizeof err);
            CHECK(np > 0);
            for (int j = 0; j < np; j++)
                trace_log_push(&log, toks[j], "", 0, true);
            for (int step = 0; step < 8; step++) {
                CHECK(engine_eval(e, &log, err, sizeof err) == 0);
                const float *lg = engine_logits(e);
                for (int v = 0; v < 64 && step == 0; v++) {
                    if (s == CPU_SIMD_SCALAR) {
                        ref_logits[v] = lg[v];
                        ref_max = fmaxf(ref_max, fabsf(lg[v]));
                    } else {
                        CHECK_MSG(fabsf(lg[v] - ref_logits[v]) <= 1e-3f * ref_max,
                                  "%s %s logit %d: %g vs scalar %g", quant_simd_name(),
                                  names[i], v, lg[v], ref_logits[v]);
                    }
                }
                const long idx = engine_sample(e, &log, err, sizeof err);
                CHECK(idx >= 0);
                if (idx < 0)
                    break;
                const int32_t tok = log.tok[idx].token;
                if (s == CPU_SIMD_SCALAR)
                    ref_tokens[step] = tok;
                else
                    CHECK_MSG(tok == ref_tokens[step], "%s %s step %d: token %d, scalar %d",
                              quant_simd_name(), names[i], step, tok, ref_tokens[step]);
            }
            trace_log_free(&log);
            engine_close(e);
        }
    }
    quant_set_simd(before);
    gguf_close(&ff);
}

/* --dense-of: the dense counterpart of an MoE shape. qwen2moe, 2 layers, d_model 64, 8
 * experts of FFN 32 with 2 used, shared FFN 64: the dense FFN is 2 x 32 + 64 = 128 wide
 * (active) or 8 x 32 + 64 = 320 (total), in a qwen2 model. Its active parameters (all its
 * weights but the embedding rows a step does not read) equal the MoE's active ones, and
 * the total one's parameters the MoE's total, less what only MoE has: the router (64 x 8) and the shared
 * expert's gate (64) of each layer, 2 x 576 = 1152. */
TEST(synth_dense_of_active_and_total)
{
    static const char *const moe[] = { "--arch", "qwen2moe", "--layers", "2", "--d-model", "64",
                                       "--heads", "4", "--kv-heads", "2", "--experts", "8",
                                       "--experts-used", "2", "--ff", "32", "--shared-ff", "64",
                                       NULL, NULL, NULL };
    const char *args[21];
    memcpy(args, moe, sizeof moe);
    char path[3][4096], err[512];
    struct model_desc d[3];
    CHECK_INT_EQ(ts_run("moe.gguf", path[0], sizeof path[0], args), 0);
    args[18] = "--dense-of";
    args[19] = "active";
    CHECK_INT_EQ(ts_run("dense-active.gguf", path[1], sizeof path[1], args), 0);
    args[19] = "total";
    CHECK_INT_EQ(ts_run("dense-total.gguf", path[2], sizeof path[2], args), 0);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(model_describe(path[i], &d[i], err, sizeof err) == 0, "%s", err);
    CHECK_STR_EQ(d[1].arch, "qwen2");
    CHECK_INT_EQ(d[1].n_experts, 0);
    CHECK_INT_EQ(d[1].d_ff, 128);
    CHECK_INT_EQ(d[2].d_ff, 320);
    CHECK_INT_EQ(d[1].n_active_params, d[0].n_active_params - 1152);
    CHECK_INT_EQ(d[2].n_params, d[0].n_params - 1152);
    CHECK_INT_EQ(d[0].d_model, d[1].d_model);
    CHECK_INT_EQ(d[0].n_kv_heads, d[2].n_kv_heads);

    args[18] = "--dense-of";
    args[19] = "some";
    CHECK_INT_EQ(ts_run("bad.gguf", path[1], sizeof path[1], args), 2);
}
