/* tests/fuzz/fuzz_tokenizer.c: libFuzzer entry for the tokenizers.
 *
 * An input that starts with "GGUF" is a whole vocabulary file instead: it is parsed, loaded
 * (which must fail with a message or succeed), and a fixed text goes through it.
 *
 * Otherwise byte 0 picks the vocabulary, byte 1 the flags, and the rest is the text.
 * - Byte 0 below 128: a vocabulary built in memory (no files needed): a byte-level BPE one
 *   (the 256 byte tokens, a few merges, control and user-defined tokens) under every
 *   pre-tokenizer name, or a small SentencePiece one with byte fallback.
 * - Byte 0 from 128: a GGUF of the fixtures' models/ and tokenizer/ folders (in name order),
 *   loaded the first time an input picks it. The folder is $MOESCOPE_FIXTURES, else the one
 *   the Makefile compiled in, else ../shared/fixtures. Without it, or for a file the engine
 *   refuses (the WordPiece bert-bge, dbrx's repeated key), an in-memory one stands in; each
 *   is said once on stderr.
 * - Flags: bit 0 add_special, bit 1 parse_special, bit 2 the short-buffer check below (a
 *   second full encode, so only on the inputs that ask for it).
 * Checked: ids in range; with a 1-token buffer, -needed and the first id; and the round trip
 * where the tokenizer guarantees it (fz_round_trip). */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "tokenizer.h"
#include "unicode.h"

#ifndef MOESCOPE_FIXTURES
#define MOESCOPE_FIXTURES "../shared/fixtures"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_pres[] = {"default", "gpt-2", "llama3", "llama-bpe", "qwen2",
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "mpt", "olmo",
    "refact", "dbrx"};
enum {
    FZ_N_PRE = sizeof fz_pres / sizeof fz_pres[0],
    FZ_N_MEM = FZ_N_PRE + 1, /* and the SentencePiece one */
    FZ_MAX_FIX = 128,
    FZ_MAX_TEXT = 4094,
};

/* What the round trip may assume of a token: its piece is its own text decoded (FZ_PLAIN),
 * or it is a SentencePiece <0xNN> byte token (FZ_BYTE). */
enum { FZ_OTHER, FZ_PLAIN, FZ_BYTE };

struct fz_vocab {
    struct tokenizer *t;
    uint8_t *kind; /* (n_vocab) FZ_* */
    bool spm, space_prefix;
    bool round_trip;    /* the vocabulary can give text back at all (see fz_classify) */
    bool has_byte[256]; /* the byte has a token that renders as that byte */
};

static struct fz_vocab fz_mem[FZ_N_MEM];
static struct fz_vocab fz_fix[FZ_MAX_FIX];
static char *fz_fix_path[FZ_MAX_FIX];
static bool fz_fix_tried[FZ_MAX_FIX];
static int fz_n_fix;

/* BPE: a token's text mapped back through GPT-2's byte table into out (at most n bytes);
 * false when a codepoint stands for no byte (the text of a special token). */
static bool fz_bpe_decode(const char *s, size_t n, char *out, size_t *m)
{
    *m = 0;
    for (size_t i = 0; i < n;) {
        size_t adv;
        int b = unicode_cp_to_byte(unicode_decode((const unsigned char *)s + i, n - i, &adv));
        if (b < 0)
            return false;
        out[(*m)++] = (char)b;
        i += adv;
    }
    return true;
}

/* SentencePiece: U+2581 renders as a space. */
static size_t fz_spm_decode(const char *s, size_t n, char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            out[m++] = ' ';
            i += 2;
        } else {
            out[m++] = s[i];
        }
    }
    return m;
}

static bool fz_piece_is(const struct tokenizer *t, int32_t id, const char *s, size_t n)
{
    char buf[8];
    return id >= 0 && n <= sizeof buf && tokenizer_piece(t, id, buf, sizeof buf) == n &&
           memcmp(buf, s, n) == 0;
}

/* Sorts every token into FZ_*, from the file's own texts and types, and decides which texts
 * the vocabulary can give back: a byte needs a token whose piece is that byte (else
 * llama.cpp drops or replaces it; real vocabularies lack some, e.g. falcon's control
 * bytes), SPM's space needs U+2581 as a token, and for BPE every merge must make a token
 * (else its symbol falls apart into single bytes, which need not be tokens). */
static void fz_classify(struct fz_vocab *v, const struct gguf_file *f)
{
    const struct tokenizer *t = v->t;
    int n = tokenizer_n_vocab(t);
    const struct gguf_kv *tk = gguf_find(f, "tokenizer.ggml.tokens");
    const struct gguf_kv *ty = gguf_find(f, "tokenizer.ggml.token_type");
    struct gguf_str *text = malloc((size_t)n * sizeof *text);
    v->kind = calloc((size_t)n, 1);
    if (!text || !v->kind || gguf_arr_strings(tk, text) < 0)
        abort();
    v->spm = strcmp(tokenizer_kind(t), "spm") == 0;
    /* As tokenizer_load: SPM's default is on, the key may turn it off. */
    bool prefix = true;
    gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &prefix, NULL, 0);
    v->space_prefix = v->spm && prefix;
    static char piece[4096], dec[4096];
    for (int32_t id = 0; id < n; id++) {
        const char *s = text[id].ptr;
        size_t sn = text[id].len, pn = tokenizer_piece(t, id, piece, sizeof piece), m;
        int32_t type = 1;
        if (ty && gguf_arr_get_i32(ty, (uint64_t)id, &type) < 0)
            type = 0;
        /* An empty text is renamed by the loader: never plain. */
        if (sn == 0 || sn > sizeof dec || pn > sizeof piece)
            continue;
        if (v->spm) {
            /* A special token is split out of the raw text, and SPM then puts another space
             * prefix after it: no round trip through one. */
            bool special = type == 2 || type == 3 || type == 4 || tokenizer_is_control(t, id);
            if (type == 6 && sn == 6 && memcmp(s, "<0x", 3) == 0 && pn == 1)
                v->kind[id] = FZ_BYTE;
            else if (!special && (m = fz_spm_decode(s, sn, dec)) == pn && !memcmp(dec, piece, m))
                v->kind[id] = FZ_PLAIN;
        } else if (fz_bpe_decode(s, sn, dec, &m) ? m == pn && !memcmp(dec, piece, m)
                                                 : sn == pn && !memcmp(s, piece, sn)) {
            /* The second case: a special text outside the byte alphabet, which only the
             * raw-text split can match, renders as itself. */
            v->kind[id] = FZ_PLAIN;
        }
    }
    free(text);

    for (int b = 0; b < 256; b++) {
        char c = (char)b, name[8];
        unsigned char u[4];
        int32_t id;
        if (v->spm) {
            /* The fallback's own lookup: <0xNN>, else the byte as a token. */
            snprintf(name, sizeof name, "<0x%02X>", b);
            id = tokenizer_find(t, name, 6);
            if (id < 0)
                id = tokenizer_find(t, &c, 1);
        } else {
            id = tokenizer_find(t, (const char *)u, unicode_encode(unicode_byte_to_cp((uint8_t)b), u));
            if (id >= 0 && v->kind[id] != FZ_PLAIN)
                id = -1;
        }
        v->has_byte[b] = fz_piece_is(t, id, &c, 1);
    }
    v->round_trip = true;
    if (v->spm) {
        v->round_trip = fz_piece_is(t, tokenizer_find(t, "\xe2\x96\x81", 3), " ", 1);
        return;
    }
    const struct gguf_kv *mk = gguf_find(f, "tokenizer.ggml.merges");
    struct gguf_str *merge = malloc((size_t)mk->arr_n * sizeof *merge + 1);
    if (!merge || gguf_arr_strings(mk, merge) < 0)
        abort();
    for (uint64_t i = 0; i < mk->arr_n && v->round_trip; i++) {
        const char *s = merge[i].ptr, *sp = memchr(s, ' ', merge[i].len);
        if (!sp || merge[i].len > sizeof dec)
            continue; /* never a key the tokenizer looks up */
        size_t left = (size_t)(sp - s), right = merge[i].len - left - 1;
        memcpy(dec, s, left);
        memcpy(dec + left, sp + 1, right);
        v->round_trip = tokenizer_find(t, dec, left + right) >= 0;
    }
    free(merge);
}

static bool fz_adopt(struct fz_vocab *v, const struct gguf_file *f, char *err, size_t errlen)
{
    v->t = tokenizer_load(f, err, errlen);
    if (v->t)
        fz_classify(v, f);
    return v->t != NULL;
}

static void fz_build(struct gguf_writer *w, int slot)
{
    char err[512];
    uint8_t *mem;
    uint64_t n;
    struct gguf_file f;
    if (gguf_writer_to_mem(w, &mem, &n, err, sizeof err) < 0 ||
        gguf_parse(&f, mem, n, "fuzz-vocab", err, sizeof err) < 0 ||
        !fz_adopt(&fz_mem[slot], &f, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    gguf_close(&f);
    free(mem);
}

static void fz_init_mem(void)
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
        fz_build(w, p);
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
    fz_build(w, FZ_N_PRE);
    gguf_writer_free(w);
}

static int fz_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fixture GGUFs, by path; loading waits until an input picks one. */
static void fz_list_fixtures(void)
{
    const char *env = getenv("MOESCOPE_FIXTURES");
    const char *root = env && *env ? env : MOESCOPE_FIXTURES;
    static const char *const sub[] = {"models", "tokenizer"};
    for (int k = 0; k < 2; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, sub[k]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        int first = fz_n_fix;
        struct dirent *e;
        while ((e = readdir(d)) && fz_n_fix < FZ_MAX_FIX) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
                continue;
            char *p = malloc(strlen(dir) + len + 2);
            if (!p)
                abort();
            sprintf(p, "%s/%s", dir, e->d_name);
            fz_fix_path[fz_n_fix++] = p;
        }
        closedir(d);
        qsort(fz_fix_path + first, (size_t)(fz_n_fix - first), sizeof *fz_fix_path, fz_name_cmp);
    }
    if (fz_n_fix == 0)
        fprintf(stderr, "fuzz_tokenizer: no fixture vocabularies under %s (set MOESCOPE_FIXTURES); "
                        "the in-memory ones only\n", root);
}

static const struct fz_vocab *fz_pick(uint8_t b)
{
    static bool ready;
    if (!ready) {
        fz_init_mem();
        fz_list_fixtures();
        ready = true;
    }
    if (b < 128 || fz_n_fix == 0)
        return &fz_mem[b % FZ_N_MEM];
    int i = (b - 128) % fz_n_fix;
    if (!fz_fix_tried[i]) {
        fz_fix_tried[i] = true;
        struct gguf_file f;
        char err[512];
        bool ok = gguf_open(&f, fz_fix_path[i], err, sizeof err) == 0;
        if (ok) {
            ok = fz_adopt(&fz_fix[i], &f, err, sizeof err);
            gguf_close(&f);
        }
        if (!ok)
            fprintf(stderr, "fuzz_tokenizer: %s (an in-memory vocabulary stands in)\n", err);
    }
    return fz_fix[i].t ? &fz_fix[i] : &fz_mem[b % FZ_N_MEM];
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

/* The pieces give the text back, byte for byte, when the tokenizer promises it: valid UTF-8
 * (invalid bytes become U+FFFD in BPE; in SPM a stray lead byte swallows what follows),
 * no BOS/EOS, a vocabulary and bytes that passed fz_classify, and only tokens that render
 * as their text. SPM adds its space prefix, so its text must hold no U+2581 (which renders as a
 * space) and no "<0x" (so a byte token can only come from byte fallback). */
static void fz_round_trip(const struct fz_vocab *v, const char *text, size_t len,
                          const int32_t *ids, int n)
{
    if (!v->round_trip || !fz_valid_utf8((const uint8_t *)text, len))
        return;
    for (size_t i = 0; i < len; i++)
        if (!v->has_byte[(uint8_t)text[i]])
            return;
    if (v->spm && (memmem(text, len, "\xe2\x96\x81", 3) || memmem(text, len, "<0x", 3)))
        return;
    for (int i = 0; i < n; i++)
        if (v->kind[ids[i]] != FZ_PLAIN && !(v->spm && v->kind[ids[i]] == FZ_BYTE))
            return;
    static char want[FZ_MAX_TEXT + 1], back[2 * (FZ_MAX_TEXT + 1)];
    size_t w = 0, k = 0;
    if (v->space_prefix && len)
        want[w++] = ' ';
    memcpy(want + w, text, len);
    w += len;
    for (int i = 0; i < n && k <= w; i++)
        k += tokenizer_piece(v->t, ids[i], back + k, sizeof back - k);
    if (k != w || memcmp(back, want, w) != 0)
        __builtin_trap();
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
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        fz_vocab_file(data, size);
        return 0;
    }
    if (size < 2 || size - 2 > FZ_MAX_TEXT)
        return 0;
    const struct fz_vocab *v = fz_pick(data[0]);
    bool add_special = data[1] & 1, parse_special = data[1] & 2, check_short = data[1] & 4;
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    const struct tokenizer *t = v->t;

    /* At most 3 tokens per byte (an invalid byte is U+FFFD, three byte tokens), the SPM
     * space prefix and BOS/EOS. */
    static int32_t ids[3 * (FZ_MAX_TEXT + 1) + 2];
    int n = tokenizer_encode(t, text, len, add_special, parse_special, ids, (int)(sizeof ids / sizeof ids[0]));
    if (n < 0)
        __builtin_trap();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t))
            __builtin_trap();
    if (check_short && n > 1) {
        int32_t few[1];
        if (tokenizer_encode(t, text, len, add_special, parse_special, few, 1) != -n || few[0] != ids[0])
            __builtin_trap();
    }
    if (!add_special)
        fz_round_trip(v, text, len, ids, n);
    return 0;
}
