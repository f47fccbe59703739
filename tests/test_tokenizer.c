/* tests/test_tokenizer.c: the tokenizers against llama.cpp's own expectations.
 *
 * Fixtures (../shared/fixtures, README.md there):
 * - tokenizer/ggml-vocab-NAME.gguf with .inp/.out: llama.cpp's tokenizer test cases, texts
 *   separated by "\n__ggml_vocab_test__\n", tokenized with add_special = false and
 *   parse_special = false; every line must match.
 * - models/NAME.plain.json (add_special = true, parse_special = false) and NAME.chat.json
 *   (parse_special = true): llama.cpp's prompt_tokens for each prompt, with the model's own
 *   vocabulary. stories260K.plain.json covers SentencePiece with BOS. */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>

#include "gguf.h"
#include "pretokenize.h"
#include "tokenizer.h"
#include "unicode.h"

static char *tt_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* ggml-vocab-dbrx.gguf repeats the key general.file_type. Our reader refuses that, as
 * current ggml does; the reference outputs come from the older reader that accepted it. The
 * vocabulary is what is under test, so the copy in memory gets the second key renamed. */
static char *tt_repair_duplicate_key(const char *path, const char *err, size_t *len)
{
    const char *at = strstr(err, "' at byte ");
    if (!strstr(err, "repeats the key") || !at)
        return NULL;
    uint64_t off = 0;
    for (const char *p = at + 10; *p && (*p == ' ' || (*p >= '0' && *p <= '9') || (*p & 0x80)); p++)
        if (*p >= '0' && *p <= '9')
            off = off * 10 + (uint64_t)(*p - '0');
    char *buf = tt_read_file(path, len);
    if (!buf || off + 8 > *len)
        return buf;
    uint64_t klen = 0;
    for (int i = 7; i >= 0; i--)
        klen = klen << 8 | (unsigned char)buf[off + (uint64_t)i];
    if (klen > 0 && off + 8 + klen <= *len)
        buf[off + 8 + klen - 1] ^= 1;
    printf("  %s: renamed a repeated key at byte %llu\n", path, (unsigned long long)off);
    return buf;
}

/* Opens path (keeping a repaired copy alive in *mem when needed) and loads its tokenizer. */
static struct tokenizer *tt_load(const char *path, struct gguf_file *f, char **mem)
{
    char err[512];
    *mem = NULL;
    if (gguf_open(f, path, err, sizeof err) < 0) {
        size_t len;
        *mem = tt_repair_duplicate_key(path, err, &len);
        if (!*mem || gguf_parse(f, *mem, len, path, err, sizeof err) < 0) {
            test_fail(__FILE__, __LINE__, "gguf_open: %s", err);
            free(*mem);
            *mem = NULL;
            return NULL;
        }
    }
    struct tokenizer *t = tokenizer_load(f, err, sizeof err);
    if (!t) {
        test_fail(__FILE__, __LINE__, "tokenizer_load: %s", err);
        gguf_close(f);
        free(*mem);
        *mem = NULL;
    }
    return t;
}

static void tt_unload(struct tokenizer *t, struct gguf_file *f, char *mem)
{
    tokenizer_free(t);
    gguf_close(f);
    free(mem);
}

/* Parses one .out line ("  123 456") into ids; returns the count. */
static int tt_parse_ids(const char *s, const char *end, int32_t *ids, int max)
{
    int n = 0;
    while (s < end) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s)
            break;
        if (n < max)
            ids[n] = (int32_t)v;
        n++;
        s = e;
    }
    return n;
}

enum { TT_MAX = 4096 };

/* Compares every text of one vocabulary's .inp with its .out; prints "name: k/n". */
static void tt_check_vocab(const char *name)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096], inp_path[4200], out_path[4200];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", dir, name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len, out_len;
    char *inp = tt_read_file(inp_path, &inp_len), *outs = tt_read_file(out_path, &out_len);
    struct gguf_file f;
    char *mem = NULL;
    struct tokenizer *t = (inp && outs) ? tt_load(path, &f, &mem) : NULL;
    CHECK_MSG(inp && outs, "cannot read %s or its .out", inp_path);
    if (!t)
        goto done;

    static const char sep[] = "\n__ggml_vocab_test__\n";
    static int32_t got[TT_MAX], want[TT_MAX];
    int n_texts = 0, n_ok = 0;
    const char *p = inp, *line = outs;
    for (;;) {
        const char *s = strstr(p, sep);
        if (!s)
            break; /* what follows the last separator is empty */
        const char *eol = strchr(line, '\n');
        if (!eol)
            eol = outs + out_len;
        int nw = tt_parse_ids(line, eol, want, TT_MAX);
        int ng = tokenizer_encode(t, p, (size_t)(s - p), false, false, got, TT_MAX);
        bool ok = ng == nw && memcmp(got, want, (size_t)nw * sizeof *got) == 0;
        n_texts++;
        n_ok += ok;
        if (!ok) {
            char msg[1024];
            int k = snprintf(msg, sizeof msg, "%s text %d \"%.*s\": got", name, n_texts,
                             (int)(s - p > 60 ? 60 : s - p), p);
            for (int i = 0; i < ng && i < 24 && k < 900; i++)
                k += snprintf(msg + k, sizeof msg - (size_t)k, " %d", got[i]);
            k += snprintf(msg + k, sizeof msg - (size_t)k, " want");
            for (int i = 0; i < nw && i < 24 && k < 1000; i++)
                k += snprintf(msg + k, sizeof msg - (size_t)k, " %d", want[i]);
            test_fail(__FILE__, __LINE__, "%s", msg);
        }
        p = s + strlen(sep);
        line = eol < outs + out_len ? eol + 1 : eol;
    }
    printf("  %s: %d/%d\n", name, n_ok, n_texts);
    CHECK(n_texts > 0);
    CHECK_INT_EQ(n_ok, n_texts);
    tt_unload(t, &f, mem);
done:
    free(inp);
    free(outs);
}

TEST(tokenizer_vocab_llama_spm) { tt_check_vocab("llama-spm"); }
TEST(tokenizer_vocab_phi_3) { tt_check_vocab("phi-3"); }
TEST(tokenizer_vocab_gpt_2) { tt_check_vocab("gpt-2"); }
TEST(tokenizer_vocab_deepseek_llm) { tt_check_vocab("deepseek-llm"); }
TEST(tokenizer_vocab_deepseek_coder) { tt_check_vocab("deepseek-coder"); }
TEST(tokenizer_vocab_falcon) { tt_check_vocab("falcon"); }
TEST(tokenizer_vocab_starcoder) { tt_check_vocab("starcoder"); }
TEST(tokenizer_vocab_mpt) { tt_check_vocab("mpt"); }
TEST(tokenizer_vocab_refact) { tt_check_vocab("refact"); }
TEST(tokenizer_vocab_dbrx) { tt_check_vocab("dbrx"); }

/* bert-bge is a WordPiece vocabulary, which moescope does not implement: loading it must
 * fail with a message that names the model type. */
TEST(tokenizer_vocab_bert_bge_rejected)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-bert-bge.gguf", dir);
    struct gguf_file f;
    if (gguf_open(&f, path, err, sizeof err) < 0) {
        test_fail(__FILE__, __LINE__, "gguf_open: %s", err);
        return;
    }
    printf("  bert-bge: skipped (WordPiece, not in scope)\n");
    struct tokenizer *t = tokenizer_load(&f, err, sizeof err);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err, "bert") != NULL, "message should name 'bert': %s", err);
    tokenizer_free(t);
    gguf_close(&f);
}

/* Whether fixture mdir/nm (NAME.plain.json or NAME.chat.json) gives llama.cpp's prompt
 * tokens with its own vocabulary: 1 yes, 0 no (a failure is recorded), -1 not a prompt file. */
static int tt_prompt_matches(const char *mdir, const char *nm)
{
    size_t len = strlen(nm);
    bool chat = len > 10 && strcmp(nm + len - 10, ".chat.json") == 0;
    bool plain = len > 11 && strcmp(nm + len - 11, ".plain.json") == 0;
    if (!chat && !plain)
        return -1;
    char jpath[8300], gpath[8300];
    snprintf(jpath, sizeof jpath, "%s/%s", mdir, nm);
    snprintf(gpath, sizeof gpath, "%s/%.*s.gguf", mdir, (int)(len - (chat ? 10 : 11)), nm);
    size_t jlen;
    char *js = tt_read_file(jpath, &jlen);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    free(js);
    cJSON *prompt = cJSON_GetObjectItem(root, "prompt");
    cJSON *toks = cJSON_GetObjectItem(root, "prompt_tokens");
    CHECK_MSG(cJSON_IsString(prompt) && cJSON_IsArray(toks), "%s: no prompt/prompt_tokens", jpath);
    struct gguf_file f;
    char *mem = NULL;
    struct tokenizer *t =
        (cJSON_IsString(prompt) && cJSON_IsArray(toks)) ? tt_load(gpath, &f, &mem) : NULL;
    bool ok = false;
    if (t) {
        static int32_t got[TT_MAX];
        const char *text = prompt->valuestring;
        int ng = tokenizer_encode(t, text, strlen(text), plain, chat, got, TT_MAX);
        int nw = cJSON_GetArraySize(toks);
        ok = ng == nw;
        for (int i = 0; ok && i < nw; i++)
            ok = got[i] == cJSON_GetArrayItem(toks, i)->valueint;
        CHECK_MSG(ok, "%s: prompt tokens differ (got %d tokens, want %d)", nm, ng, nw);
        tt_unload(t, &f, mem);
    }
    cJSON_Delete(root);
    return ok;
}

/* Every fixture model's prompt tokens (both prompts), with its own vocabulary. */
TEST(tokenizer_model_prompts)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/models", dir);
    DIR *d = opendir(mdir);
    CHECK_MSG(d != NULL, "cannot open %s", mdir);
    if (!d)
        return;
    struct dirent *de;
    int n_files = 0, n_ok = 0;
    while ((de = readdir(d))) {
        const int r = tt_prompt_matches(mdir, de->d_name);
        n_files += r >= 0;
        n_ok += r > 0;
    }
    closedir(d);
    printf("  model prompts: %d/%d\n", n_ok, n_files);
    CHECK(n_files >= 13);
}

/* The prompts of gpt-oss (gpt-4o pre-tokenizer, harmony specials), glm4moe (glm4, [gMASK]
 * <sop>) and ernie4_5-moe (SentencePiece without the space prefix) in models-2026/. */
TEST(tokenizer_model_prompts_gpt_oss_glm4_ernie)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    static const char *const files[] = {
        "gpt-oss-small-mxfp4.plain.json", "gpt-oss-small-mxfp4.chat.json",
        "glm4moe-small-q5_k_m.plain.json", "glm4moe-small-q5_k_m.chat.json",
        "ernie4_5-moe-small-bf16.plain.json", "ernie4_5-moe-small-bf16.chat.json",
    };
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/models-2026", dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        CHECK_MSG(tt_prompt_matches(mdir, files[i]) == 1, "%s", files[i]);
}

/* The loader's facts about the fixture models: kind, pre-tokenizer, BOS rule, EOG set. */
TEST(tokenizer_model_specials)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096], *mem;
    struct gguf_file f;
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", dir);
    struct tokenizer *t = tt_load(path, &f, &mem);
    if (t) {
        CHECK_STR_EQ(tokenizer_kind(t), "bpe");
        CHECK_STR_EQ(tokenizer_pre(t), "qwen2");
        CHECK_INT_EQ(tokenizer_n_vocab(t), 659);
        CHECK(!tokenizer_add_bos(t)); /* tokenizer.ggml.add_bos_token = false */
        CHECK_INT_EQ(tokenizer_bos(t), 656);
        CHECK_INT_EQ(tokenizer_eos(t), 658);
        CHECK(tokenizer_is_eog(t, 658)); /* <|im_end|> */
        CHECK(tokenizer_is_eog(t, 656)); /* <|endoftext|> */
        CHECK(!tokenizer_is_eog(t, 657)); /* <|im_start|> */
        CHECK(!tokenizer_is_eog(t, 84));
        char buf[64];
        size_t n = tokenizer_piece(t, 657, buf, sizeof buf);
        CHECK(n == 12 && memcmp(buf, "<|im_start|>", 12) == 0);
        n = tokenizer_piece(t, 10, buf, sizeof buf); /* the byte token of '\n' */
        CHECK(n == 1 && buf[0] == '\n');
        /* Without parse_special the special text is ordinary text. */
        int32_t ids[64];
        int k = tokenizer_encode(t, "<|im_end|>", 10, false, false, ids, 64);
        CHECK(k > 1);
        k = tokenizer_encode(t, "<|im_end|>", 10, false, true, ids, 64);
        CHECK(k == 1 && ids[0] == 658);
        /* Too small an output: -needed. */
        k = tokenizer_encode(t, "hello world", 11, false, false, ids, 1);
        CHECK(k < -1);
        tt_unload(t, &f, mem);
    }
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir);
    t = tt_load(path, &f, &mem);
    if (t) {
        CHECK_STR_EQ(tokenizer_kind(t), "spm");
        CHECK(tokenizer_add_bos(t)); /* llama.cpp's SPM default */
        CHECK_INT_EQ(tokenizer_bos(t), 1);
        CHECK(tokenizer_is_eog(t, 2));
        char buf[64];
        /* 403 is "▁Once" (see stories260K.plain.json's prompt_tokens). */
        size_t n = tokenizer_piece(t, 403, buf, sizeof buf);
        CHECK(n == 5 && memcmp(buf, " Once", 5) == 0);
        n = tokenizer_piece(t, 3 + 'A', buf, sizeof buf); /* <0x41> */
        CHECK(n == 1 && buf[0] == 'A');
        tt_unload(t, &f, mem);
    }
}

/* Pieces put back together give the text again, for a BPE vocabulary (the fixture texts). */
TEST(tokenizer_roundtrip_gpt2)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096], *mem;
    struct gguf_file f;
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gpt-2.gguf", dir);
    struct tokenizer *t = tt_load(path, &f, &mem);
    if (!t)
        return;
    static const char *texts[] = {"Hello world", " \t\n  x  ", "3333 dollars, isn't it?",
                                  "\xe2\x96\x81\xf0\x9f\xa6\x99 caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t ids[256];
        int n = tokenizer_encode(t, texts[i], strlen(texts[i]), false, false, ids, 256);
        char buf[1024];
        size_t k = 0;
        for (int j = 0; j < n; j++)
            k += tokenizer_piece(t, ids[j], buf + k, sizeof buf - k);
        CHECK_MSG(k == strlen(texts[i]) && memcmp(buf, texts[i], k) == 0, "round trip of \"%s\"",
                  texts[i]);
    }
    tt_unload(t, &f, mem);
}

/* The streaming detokenizer holds back a cut UTF-8 sequence and passes invalid bytes. */
TEST(tokenizer_detok_stream)
{
    struct detok d = {0};
    char out[64];
    /* "é" (C3 A9) cut in two, then "🦙" (F0 9F A6 99) cut in three. */
    size_t n = detok_push(&d, "a\xc3", 2, out, sizeof out);
    CHECK(n == 1 && out[0] == 'a');
    n = detok_push(&d, "\xa9z", 2, out, sizeof out);
    CHECK(n == 3 && memcmp(out, "\xc3\xa9z", 3) == 0);
    n = detok_push(&d, "\xf0", 1, out, sizeof out);
    CHECK(n == 0);
    n = detok_push(&d, "\x9f\xa6", 2, out, sizeof out);
    CHECK(n == 0);
    n = detok_push(&d, "\x99", 1, out, sizeof out);
    CHECK(n == 4 && memcmp(out, "\xf0\x9f\xa6\x99", 4) == 0);
    /* A lead byte followed by a non-continuation never completes: both pass through. */
    n = detok_push(&d, "\xe2", 1, out, sizeof out);
    CHECK(n == 0);
    n = detok_push(&d, "b", 1, out, sizeof out);
    CHECK(n == 2 && memcmp(out, "\xe2" "b", 2) == 0);
    /* Stray continuation bytes are not held. */
    n = detok_push(&d, "\x80\x80", 2, out, sizeof out);
    CHECK(n == 2);
    /* Flush emits what is held. */
    n = detok_push(&d, "\xe2\x96", 2, out, sizeof out);
    CHECK(n == 0);
    n = detok_flush(&d, out, sizeof out);
    CHECK(n == 2 && memcmp(out, "\xe2\x96", 2) == 0);
    CHECK(d.n_held == 0);
}

/* The unicode table against facts from the Unicode standard. */
TEST(tokenizer_unicode_classes)
{
    CHECK_INT_EQ(unicode_class('a') & UCAT_MASK, UCAT_L);
    CHECK_INT_EQ(unicode_class('7') & UCAT_MASK, UCAT_N);
    CHECK_INT_EQ(unicode_class(0xBD) & UCAT_MASK, UCAT_N);    /* ½ is No */
    CHECK_INT_EQ(unicode_class(0x4E00) & UCAT_MASK, UCAT_L);  /* 一 is Lo */
    CHECK_INT_EQ(unicode_class(0x0301) & UCAT_MASK, UCAT_M);  /* combining acute */
    CHECK_INT_EQ(unicode_class('~') & UCAT_MASK, UCAT_S);
    CHECK_INT_EQ(unicode_class('!') & UCAT_MASK, UCAT_P);
    CHECK(unicode_class(0x3000) & UCAT_WHITESPACE);
    CHECK(unicode_class(0x85) & UCAT_WHITESPACE);
    CHECK(!(unicode_class(0x1C) & UCAT_WHITESPACE));
    CHECK(!(unicode_class(0x200B) & UCAT_WHITESPACE));
    CHECK_INT_EQ(unicode_class(0x110000), UCAT_UNDEF);
    /* GPT-2's byte mapping: space is U+0120, '!' itself, and it inverts. */
    CHECK_INT_EQ(unicode_byte_to_cp(' '), 0x120);
    CHECK_INT_EQ(unicode_byte_to_cp('!'), '!');
    for (int b = 0; b < 256; b++)
        CHECK_INT_EQ(unicode_cp_to_byte(unicode_byte_to_cp((uint8_t)b)), b);
    size_t adv;
    CHECK_INT_EQ(unicode_decode((const unsigned char *)"\xff", 1, &adv), 0xFFFD);
    CHECK_INT_EQ(adv, 1);
    CHECK_INT_EQ(unicode_decode((const unsigned char *)"\xe2\x96\x81", 3, &adv), 0x2581);
    CHECK_INT_EQ(adv, 3);
}

/* Pre-tokenizer splits against an independent implementation: the expected words were
 * computed with Python's regex module (mrab-regex 2026.5.9) from the original tokenizer.json
 * patterns that llama-vocab.cpp quotes (gpt-2, llama3, qwen2, deepseek-v3), words joined by
 * \001. llama3, qwen2 and deepseek-v3 have no fixture vocabulary, so this is their check. */
static const char *const pt_texts[] = {
    "Hello World's  it's I'M 'LL  \012\012  x",
    "3333333 12 \302\275 \331\243\331\244\331\245 x\302\262",
    " \011\012 \302\240\343\200\200 end",
    "caf\303\251 na\303\257ve e\314\201 \357\254\201",
    "\344\270\200\344\272\214\344\270\211 \343\202\242\343\202\244\343\202\246 \343\201\262\343\202\211\343\201\214\343\201\252 \352\260\200\353\202\230\353\213\244",
    "print('~hi') -> x += 1;\015\012\015\012",
    "emoji \360\237\230\200\360\237\230\200 \342\206\222 \342\200\234quoted\342\200\235 \342\200\224 dash",
    "   leading and trailing   ",
    "'s's'S 'Re'rE'vE'll'D",
    "a\302\205b\342\200\250c  \012",
};

static const struct {
    const char *pre;
    const char *words[sizeof pt_texts / sizeof pt_texts[0]];
} pt_expect[] = {
    {"gpt-2", {
        "Hello\001 World\001's\001 \001 it\001's\001 I\001'\001M\001 '\001LL\001  \012\012 \001 x",
        "3333333\001 12\001 \302\275\001 \331\243\331\244\331\245\001 x\001\302\262",
        " \011\012 \302\240\343\200\200\001 end",
        "caf\303\251\001 na\303\257ve\001 e\001\314\201\001 \357\254\201",
        "\344\270\200\344\272\214\344\270\211\001 \343\202\242\343\202\244\343\202\246\001 \343\201\262\343\202\211\343\201\214\343\201\252\001 \352\260\200\353\202\230\353\213\244",
        "print\001('~\001hi\001')\001 ->\001 x\001 +=\001 1\001;\001\015\012\015\012",
        "emoji\001 \360\237\230\200\360\237\230\200\001 \342\206\222\001 \342\200\234\001quoted\001\342\200\235\001 \342\200\224\001 dash",
        "  \001 leading\001 and\001 trailing\001   ",
        "'s\001's\001'\001S\001 '\001Re\001'\001rE\001'\001vE\001'll\001'\001D",
        "a\001\302\205\001b\001\342\200\250\001c\001  \012",
    }},
    {"llama3", {
        "Hello\001 World\001's\001 \001 it\001's\001 I\001'M\001 '\001LL\001  \012\012\001 \001 x",
        "333\001333\0013\001 \00112\001 \001\302\275\001 \001\331\243\331\244\331\245\001 x\001\302\262",
        " \011\012\001 \302\240\343\200\200\001 end",
        "caf\303\251\001 na\303\257ve\001 e\001\314\201\001 \357\254\201",
        "\344\270\200\344\272\214\344\270\211\001 \343\202\242\343\202\244\343\202\246\001 \343\201\262\343\202\211\343\201\214\343\201\252\001 \352\260\200\353\202\230\353\213\244",
        "print\001('~\001hi\001')\001 ->\001 x\001 +=\001 \0011\001;\015\012\015\012",
        "emoji\001 \360\237\230\200\360\237\230\200\001 \342\206\222\001 \342\200\234\001quoted\001\342\200\235\001 \342\200\224\001 dash",
        "  \001 leading\001 and\001 trailing\001   ",
        "'s\001's\001'S\001 '\001Re\001'rE\001'vE\001'll\001'D",
        "a\001\302\205b\001\342\200\250c\001  \012",
    }},
    {"qwen2", {
        "Hello\001 World\001's\001 \001 it\001's\001 I\001'M\001 '\001LL\001  \012\012\001 \001 x",
        "3\0013\0013\0013\0013\0013\0013\001 \0011\0012\001 \001\302\275\001 \001\331\243\001\331\244\001\331\245\001 x\001\302\262",
        " \011\012\001 \302\240\343\200\200\001 end",
        "caf\303\251\001 na\303\257ve\001 e\001\314\201\001 \357\254\201",
        "\344\270\200\344\272\214\344\270\211\001 \343\202\242\343\202\244\343\202\246\001 \343\201\262\343\202\211\343\201\214\343\201\252\001 \352\260\200\353\202\230\353\213\244",
        "print\001('~\001hi\001')\001 ->\001 x\001 +=\001 \0011\001;\015\012\015\012",
        "emoji\001 \360\237\230\200\360\237\230\200\001 \342\206\222\001 \342\200\234\001quoted\001\342\200\235\001 \342\200\224\001 dash",
        "  \001 leading\001 and\001 trailing\001   ",
        "'s\001's\001'S\001 '\001Re\001'rE\001'vE\001'll\001'D",
        "a\001\302\205b\001\342\200\250c\001  \012",
    }},
    {"deepseek-v3", {
        "Hello\001 World\001's\001 \001 it\001's\001 I\001'M\001 '\001LL\001  \012\012\001 \001 x",
        "333\001333\0013\001 \00112\001 \001\302\275\001 \001\331\243\331\244\331\245\001 x\001\302\262",
        " \011\012\001 \302\240\343\200\200\001 end",
        "caf\303\251\001 na\303\257ve\001 e\314\201\001 \357\254\201",
        "\344\270\200\344\272\214\344\270\211\001 \001\343\202\242\343\202\244\343\202\246\001 \001\343\201\262\343\202\211\343\201\214\343\201\252\001 \352\260\200\353\202\230\353\213\244",
        /* Here llama.cpp and the regex module differ: llama.cpp's collapsed \\p{S} for ASCII is
         * "$+<=>^`|" (unicode.cpp's k_ucat_map) without '~', so "('" ends before '~', and '~'
         * then starts "~hi" through [!"#...~][A-Za-z]+. The regex module gives "('~" "hi". */
        "print\001('\001~hi\001')\001 ->\001 x\001 +=\001 \0011\001;\015\012\015\012",
        "emoji\001 \360\237\230\200\360\237\230\200\001 \342\206\222\001 \342\200\234\001quoted\001\342\200\235\001 \342\200\224\001 dash",
        "  \001 leading\001 and\001 trailing\001   ",
        "'s\001's\001'S\001 '\001Re\001'rE\001'vE\001'll\001'D",
        "a\001\302\205b\001\342\200\250c\001  \012",
    }},
};

TEST(tokenizer_pretok_regex)
{
    enum { N_TEXTS = sizeof pt_texts / sizeof pt_texts[0] };
    for (size_t k = 0; k < sizeof pt_expect / sizeof pt_expect[0]; k++) {
        const struct pretok_info *pi = pretok_find(pt_expect[k].pre);
        CHECK(pi != NULL);
        if (!pi)
            continue;
        for (size_t i = 0; i < N_TEXTS; i++) {
            const char *s = pt_texts[i];
            size_t len = strlen(s), n = 0;
            uint32_t cp[256];
            uint8_t cls[256];
            size_t lens[256], scratch[256];
            for (size_t off = 0; off < len && n < 256;) {
                size_t adv;
                cp[n] = unicode_decode((const unsigned char *)s + off, len - off, &adv);
                cls[n] = unicode_class(cp[n]);
                n++;
                off += adv;
            }
            size_t nw = pretok_split(pi->type, cp, cls, n, lens, scratch);
            char got[1024];
            size_t g = 0, at = 0;
            for (size_t w = 0; w < nw && g < sizeof got - 8; w++) {
                if (w)
                    got[g++] = '\001';
                for (size_t j = at; j < at + lens[w] && g < sizeof got - 8; j++)
                    g += unicode_encode(cp[j], (unsigned char *)got + g);
                at += lens[w];
            }
            got[g] = '\0';
            CHECK_MSG(strcmp(got, pt_expect[k].words[i]) == 0, "%s text %zu: got \"%s\" want \"%s\"",
                      pt_expect[k].pre, i, got, pt_expect[k].words[i]);
        }
    }
}

/* SentencePiece with special tokens: llama.cpp splits the text at them, and the text after a
 * special token gets the leading-space rule again (is_prev_special), so the ids are those of
 * the parts tokenized alone. A character missing from the vocabulary falls back to its
 * <0xNN> byte tokens, whose pieces the streaming detokenizer joins back into the character.
 * Vocabulary: fixtures/models/stories260K.gguf. */
TEST(tokenizer_spm_special_and_bytes)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096], *mem;
    struct gguf_file f;
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir);
    struct tokenizer *t = tt_load(path, &f, &mem);
    if (!t)
        return;
    int32_t all[64], a[32], b[32];
    int n = tokenizer_encode(t, "Once upon</s>a time", 19, true, true, all, 64);
    int na = tokenizer_encode(t, "Once upon", 9, false, false, a, 32);
    int nb = tokenizer_encode(t, "a time", 6, false, false, b, 32);
    CHECK(n == 1 + na + 1 + nb);
    if (n == 1 + na + 1 + nb) {
        CHECK_INT_EQ(all[0], 1);
        CHECK(memcmp(all + 1, a, (size_t)na * sizeof *a) == 0);
        CHECK_INT_EQ(all[1 + na], 2);
        CHECK(memcmp(all + 2 + na, b, (size_t)nb * sizeof *b) == 0);
    }
    /* Without parse_special "</s>" is text and no id 2 appears. */
    n = tokenizer_encode(t, "Once upon</s>a time", 19, false, false, all, 64);
    for (int i = 0; i < n; i++)
        CHECK(all[i] != 2);

    /* "\xe2\x9c\x93" (a check mark) is not in this 512-token vocabulary: "\xe2\x96\x81" and
     * three byte tokens. */
    n = tokenizer_encode(t, "\xe2\x9c\x93", 3, false, false, all, 64);
    CHECK_INT_EQ(n, 4);
    struct detok d = {0};
    char out[64], text[64];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        char piece[16];
        size_t m = tokenizer_piece(t, all[i], piece, sizeof piece);
        size_t o = detok_push(&d, piece, m, out, sizeof out);
        CHECK(i == n - 1 || o <= 1); /* nothing of the cut character comes out early */
        memcpy(text + k, out, o);
        k += o;
    }
    k += detok_flush(&d, text + k, sizeof text - k);
    CHECK(k == 4 && memcmp(text, " \xe2\x9c\x93", 4) == 0); /* the prefix space, then the mark */
    tt_unload(t, &f, mem);
}

/* The pre-tokenizers of the newer fixtures, which have no llama.cpp .inp/.out files of their
 * own (gpt-4o: gpt-oss; glm4; deepseek-llm: DeepSeek-V2; deepseek-v3: V3 and R1), against the
 * regexes llama-vocab.cpp names for them, applied in turn by Python's regex module
 * (tests/pretok_regex.py) to the texts of every llama.cpp tokenizer test file: the same words
 * for every text. */
TEST(tokenizer_pretok_against_python_regex)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    if (system("python3 -c 'import regex' 2>/dev/null") != 0) {
        test_skip("needs python3 with the regex module (python3-regex; tools/deps.sh test)");
        return;
    }
    static const char *const pres[] = {"gpt-4o", "glm4", "deepseek-llm", "deepseek-v3"};
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    if (!d)
        return;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    enum { MAXCP = 1 << 14 };
    static uint32_t cp[MAXCP];
    static uint8_t cls[MAXCP];
    static size_t lens[MAXCP], scratch[MAXCP];
    static char line[1 << 20];
    int n_texts = 0, n_words = 0;
    const struct dirent *de;
    while ((de = readdir(d))) {
        const size_t nl = strlen(de->d_name);
        if (nl < 4 || strcmp(de->d_name + nl - 4, ".inp") != 0)
            continue;
        char file[8192];
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        size_t len;
        char *inp = tt_read_file(file, &len);
        CHECK(inp != NULL);
        if (!inp)
            continue;
        for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) {
            const struct pretok_info *pi = pretok_find(pres[k]);
            CHECK(pi != NULL);
            char cmd[9000];
            snprintf(cmd, sizeof cmd, "python3 tests/pretok_regex.py %s '%s'", pres[k], file);
            FILE *py = popen(cmd, "r");
            CHECK(py != NULL);
            if (!py || !pi)
                continue;
            const char *p = inp;
            for (int ti = 0;; ti++) {
                const char *s = strstr(p, sep);
                if (!s)
                    break;
                if (!fgets(line, sizeof line, py)) {
                    CHECK_MSG(false, "%s %s: python gave no line for text %d", pres[k],
                              de->d_name, ti);
                    break;
                }
                size_t n = 0;
                for (size_t off = 0; off < (size_t)(s - p) && n < MAXCP;) {
                    size_t adv;
                    cp[n] = unicode_decode((const unsigned char *)p + off, (size_t)(s - p) - off,
                                           &adv);
                    cls[n] = unicode_class(cp[n]);
                    n++;
                    off += adv;
                }
                const size_t nw = pretok_split(pi->type, cp, cls, n, lens, scratch);
                cJSON *want = cJSON_Parse(line);
                CHECK(cJSON_IsArray(want));
                bool same = want && (size_t)cJSON_GetArraySize(want) == nw;
                size_t at = 0, w = 0;
                for (const cJSON *word = want ? want->child : NULL; same && word;
                     word = word->next, w++) {
                    same = (size_t)cJSON_GetArraySize(word) == lens[w];
                    size_t j = at;
                    for (const cJSON *c = word->child; same && c; c = c->next, j++)
                        same = (uint32_t)c->valuedouble == cp[j];
                    at += lens[w];
                }
                CHECK_MSG(same, "%s %s text %d: %zu words, python's regex %d", pres[k],
                          de->d_name, ti, nw, want ? cJSON_GetArraySize(want) : -1);
                n_words += (int)nw;
                n_texts++;
                cJSON_Delete(want);
                p = s + strlen(sep);
            }
            while (fgets(line, sizeof line, py)) /* the empty text after the last separator */
                ;
            pclose(py);
        }
        free(inp);
    }
    closedir(d);
    printf("  %d texts, %d words compared\n", n_texts, n_words);
    CHECK(n_texts > 100);
}
