/* tests/test_synth.c: tools/synth writes what llama.cpp expects.
 *
 * The expected tensor lists below are written from llama.cpp's create_tensor calls (names
 * from llama-arch.cpp, shapes in ggml order: ne[0] is the row length), independently of
 * synth's own tables. Where ../shared/fixtures is present, synth is also run with each
 * fixture's shape and its tensor table and keys are compared with the fixture's, which
 * llama.cpp's tools wrote. */
#include "test.h"

#include "gguf.h"
#include "quant.h"

#include <stdint.h>
#include <stdlib.h>

#define SYNTH_NO_MAIN
#include "../tools/synth.c"

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
        const char *args[24];
    } cases[] = {
        { "qwen2moe-tiny-f32", { "--arch", "qwen2moe", "--kv-heads", "2", "--ff", "64",
                                 "--shared-ff", "128", NULL } },
        { "olmoe-tiny-f16", { "--arch", "olmoe", "--experts", "16", "--experts-used", "4",
                              "--ff", "64", "--type", "f16", NULL } },
        { "mixtral-small-q8_0", { "--arch", "mixtral", "--d-model", "256", "--kv-heads", "2",
                                  "--ff", "256", "--type", "q8_0", NULL } },
        { "stories260K", { "--arch", "llama", "--layers", "5", "--d-model", "64", "--heads",
                           "8", "--kv-heads", "4", "--ff", "172", NULL } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char fpath[4096], spath[4096], err[512], file[96];
        snprintf(fpath, sizeof fpath, "%s/models/%s.gguf", fx, cases[c].fixture);
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
            /* stories260K has a SentencePiece vocabulary; synth writes byte-level BPE. */
            if (dense_spm && !strncmp(key, "tokenizer.", 10))
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
                /* The three specials end both lists, in the same order. */
                for (int k = 1; k <= 3; k++) {
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
        { "--type", "q4_0", NULL },
        { "--type", "q8_0", "--d-model", "48", "--heads", "4", NULL },
        { "--arch", "olmoe", "--kv-heads", "2", NULL },
        { "--arch", "qwen2", "--experts", "4", NULL },
        { "--arch", "qwen3moe", "--shared-ff", "64", NULL },
        { "--experts", "4", "--experts-used", "5", NULL },
        { "--d-model", "100", "--heads", "3", NULL },
        { "--heads", "4", "--kv-heads", "3", NULL },
        { "--layers", "0", NULL },
        { "--layers", NULL },
        { "--bogus", "1", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(ts_run("bad.gguf", path, sizeof path, bad[i]) == 2, "case %zu (%s %s) accepted",
                  i, bad[i][0], bad[i][1] ? bad[i][1] : "");
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL); /* nothing was written */
    if (fp)
        fclose(fp);
}
