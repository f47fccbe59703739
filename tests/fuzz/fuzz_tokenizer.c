/* tests/fuzz/fuzz_tokenizer.c: libFuzzer entry for the tokenizers.
 *
 * An input that starts with "GGUF" is a whole vocabulary file instead: it is parsed, loaded
 * (which must fail with a message or succeed), and a fixed text goes through it.
 *
 * The vocabularies are built in memory once (no files needed): a byte-level BPE vocabulary
 * (the 256 byte tokens, a few merges, control and user-defined tokens) under every
 * pre-tokenizer name, and a small SentencePiece vocabulary with byte fallback. The first
 * input byte picks the vocabulary and the flags; the rest is the text. Checked on every input:
 * ids in range, the -needed contract of a short output buffer, and for BPE without special
 * parsing on valid UTF-8 that the pieces give the text back byte for byte. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "tokenizer.h"
#include "unicode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_pres[] = {"default", "gpt-2", "llama3", "llama-bpe", "qwen2",
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "mpt", "olmo",
    "refact", "dbrx"};
enum { FZ_N_PRE = sizeof fz_pres / sizeof fz_pres[0], FZ_N_TOK = FZ_N_PRE + 1 };

static struct tokenizer *fz_tok[FZ_N_TOK];
static uint8_t *fz_mem[FZ_N_TOK];
static struct gguf_file fz_file[FZ_N_TOK];

static struct tokenizer *fz_build(struct gguf_writer *w, int slot)
{
    char err[512];
    uint64_t n;
    if (gguf_writer_to_mem(w, &fz_mem[slot], &n, err, sizeof err) < 0 ||
        gguf_parse(&fz_file[slot], fz_mem[slot], n, "fuzz-vocab", err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    struct tokenizer *t = tokenizer_load(&fz_file[slot], err, sizeof err);
    if (!t) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return t;
}

static void fz_init(void)
{
    /* BPE: byte tokens in the GPT-2 alphabet, merges over common letters, then specials. */
    static char bytes[256][4];
    static const char *merges[] = {"t h", "th e", "\xc4\xa0 t", "\xc4\xa0t he", "i n", "e r",
                                   "\xc4\xa0 a", "o n", "\xc4\xa0 \xc4\xa0", "1 2"};
    const char *tokens[256 + 16];
    int32_t types[256 + 16];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        unsigned char u[4] = {0};
        unicode_encode(unicode_byte_to_cp((uint8_t)b), u);
        memcpy(bytes[b], u, 4);
        tokens[n] = bytes[b];
        types[n++] = 1;
    }
    static const char *merged[] = {"th", "the", "\xc4\xa0t", "\xc4\xa0the", "in", "er",
                                   "\xc4\240a", "on", "\xc4\xa0\xc4\xa0", "12"};
    for (size_t i = 0; i < sizeof merged / sizeof merged[0]; i++) {
        tokens[n] = merged[i];
        types[n++] = 1;
    }
    tokens[n] = "<|endoftext|>";
    types[n++] = 3;
    tokens[n] = "<|im_start|>";
    types[n++] = 3;
    tokens[n] = "<|im_end|>";
    types[n++] = 3;
    tokens[n] = "  ";
    types[n++] = 4; /* user-defined, split out even without parse_special */
    for (int p = 0; p < FZ_N_PRE; p++) {
        struct gguf_writer *w = gguf_writer_new();
        gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_add_str(w, "tokenizer.ggml.pre", fz_pres[p]);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n);
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, (uint64_t)n);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, sizeof merges / sizeof merges[0]);
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(n - 4));
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(n - 2));
        fz_tok[p] = fz_build(w, p);
        gguf_writer_free(w);
    }
    /* SPM: <unk> <s> </s>, the byte tokens, a few pieces. */
    static char hex[256][8];
    const char *st[3 + 256 + 8];
    int32_t sty[3 + 256 + 8];
    float ssc[3 + 256 + 8];
    int m = 0;
    st[m] = "<unk>", sty[m] = 2, ssc[m++] = 0;
    st[m] = "<s>", sty[m] = 3, ssc[m++] = 0;
    st[m] = "</s>", sty[m] = 3, ssc[m++] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(hex[b], sizeof hex[b], "<0x%02X>", b);
        st[m] = hex[b], sty[m] = 6, ssc[m++] = 0;
    }
    static const char *pieces[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "\xe2\x96\x81the", "th", "he",
                                   "e", "t", "h"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        st[m] = pieces[i], sty[m] = 1, ssc[m++] = -(float)i;
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", st, (uint64_t)m);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, sty, (uint64_t)m);
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VT_FLOAT32, ssc, (uint64_t)m);
    fz_tok[FZ_N_PRE] = fz_build(w, FZ_N_PRE);
    gguf_writer_free(w);
}

static bool fz_valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = unicode_decode(s + i, n - i, &adv);
        if (cp == UNICODE_REPLACEMENT && !(adv == 3 && memcmp(s + i, "\xef\xbf\xbd", 3) == 0))
            return false;
        /* Overlong forms decode but re-encode differently. */
        unsigned char u[4];
        if (unicode_encode(cp, u) != adv)
            return false;
        i += adv;
    }
    return true;
}

/* A hostile vocabulary: loading checks every key; encoding and pieces stay in range. */
static void fz_vocab_file(const uint8_t *data, size_t size)
{
    struct gguf_file f;
    char err[512];
    if (gguf_parse(&f, data, size, "fuzz.gguf", err, sizeof err) < 0)
        return;
    err[0] = '\0';
    struct tokenizer *t = tokenizer_load(&f, err, sizeof err);
    if (!t) {
        if (!err[0] || strchr(err, '\n'))
            __builtin_trap();
        gguf_close(&f);
        return;
    }
    static const char text[] = "Hello <|im_start|>world 123 caf\xc3\xa9 \xe4\xb8\x80 \xff!";
    int32_t ids[256];
    char buf[64];
    for (int mode = 0; mode < 4; mode++) {
        int n = tokenizer_encode(t, text, sizeof text - 1, mode & 1, mode & 2, ids, 256);
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t))
                __builtin_trap();
            tokenizer_piece(t, ids[i], buf, sizeof buf);
        }
    }
    tokenizer_free(t);
    gguf_close(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        fz_vocab_file(data, size);
        return 0;
    }
    if (!ready) {
        fz_init();
        ready = true;
    }
    if (size < 1 || size > 4096)
        return 0;
    int which = data[0] % FZ_N_TOK;
    bool add_special = data[0] & 0x40, parse_special = data[0] & 0x80;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const struct tokenizer *t = fz_tok[which];

    static int32_t ids[3 * 4096 + 8];
    int n = tokenizer_encode(t, text, len, add_special, parse_special, ids, (int)(sizeof ids / sizeof ids[0]));
    if (n < 0)
        __builtin_trap(); /* the buffer always suffices: at most 2 tokens per byte + BOS/EOS */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t))
            __builtin_trap();
    if (n > 1) {
        int32_t few[1];
        if (tokenizer_encode(t, text, len, add_special, parse_special, few, 1) != -n || few[0] != ids[0])
            __builtin_trap();
    }
    if (which < FZ_N_PRE && !add_special && fz_valid_utf8(data + 1, len)) {
        static char back[3 * 4096 * 16];
        size_t k = 0;
        for (int i = 0; i < n; i++)
            k += tokenizer_piece(t, ids[i], back + k, sizeof back - k);
        if (k != len || memcmp(back, text, len) != 0)
            __builtin_trap();
    }
    return 0;
}
