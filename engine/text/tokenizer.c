/* engine/text/tokenizer.c: see tokenizer.h. Sections: the vocabulary (load, hash tables, llama.cpp's
 * rules for special tokens), the special-token split, SentencePiece, byte-level BPE, pieces,
 * and the streaming detokenizer. */
#include "tokenizer.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretokenize.h"
#include "text_escape.h"
#include "unicode.h"

/* ---- the vocabulary ---- */

/* llama.cpp's llama_token_attr bits, from tokenizer.ggml.token_type. */
enum {
    TOK_UNKNOWN = 1 << 0,
    TOK_UNUSED = 1 << 1,
    TOK_NORMAL = 1 << 2,
    TOK_CONTROL = 1 << 3,
    TOK_USER_DEFINED = 1 << 4,
    TOK_BYTE = 1 << 5,
    TOK_LSTRIP = 1 << 7,
    TOK_RSTRIP = 1 << 8,
    TOK_EOG = 1 << 15, /* ours: in llama.cpp's special_eog_ids */
};

enum tok_kind { TOK_SPM, TOK_BPE };

/* Open-addressing table from a byte string to an index (-1 = empty slot). */
struct tok_hash {
    int32_t *slots; /* (mask + 1) */
    uint32_t mask;
};

struct tokenizer {
    enum tok_kind kind;
    int32_t n_vocab;
    char *text;            /* every token's text, back to back */
    uint32_t *off, *len;   /* (n_vocab) each token's text in text[] */
    float *score;          /* (n_vocab) SPM merge priority */
    uint16_t *attr;        /* (n_vocab) TOK_* bits */
    struct tok_hash vocab; /* text -> id (the last id wins, as llama.cpp's map) */

    char *merges;          /* BPE: each merge "left right", back to back */
    uint32_t *m_off, *m_len; /* (n_merges) */
    int32_t n_merges;
    struct tok_hash ranks; /* merge text -> rank (the first one wins) */

    const struct pretok_info *pre;
    char pre_name[64];
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    int32_t bos, eos, eot, eom, unk;
    int32_t *special;      /* (n_special) control/user-defined/unknown ids, longest text first */
    int n_special;
    int32_t byte_token[256]; /* SPM: the <0xNN> token of each byte (or -1) */
    uint32_t byte_cp[256];   /* BPE: the codepoint standing for each byte */
};

static void tok_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tok_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t tok_fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int tok_hash_init(struct tok_hash *h, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    h->slots = malloc(cap * sizeof *h->slots);
    if (!h->slots)
        return -1;
    memset(h->slots, 0xff, cap * sizeof *h->slots);
    h->mask = (uint32_t)(cap - 1);
    return 0;
}

/* Finds the slot of key s[0..n) among strings given by (base, off, len). */
static uint32_t tok_hash_slot(const struct tok_hash *h, const char *base, const uint32_t *off,
                              const uint32_t *len, const char *s, size_t n)
{
    uint32_t i = tok_fnv(s, n) & h->mask;
    for (;;) {
        int32_t v = h->slots[i];
        if (v < 0 || (len[v] == n && memcmp(base + off[v], s, n) == 0))
            return i;
        i = (i + 1) & h->mask;
    }
}

int32_t tokenizer_find(const struct tokenizer *t, const char *s, size_t n)
{
    return t->vocab.slots[tok_hash_slot(&t->vocab, t->text, t->off, t->len, s, n)];
}

static int32_t tok_rank(const struct tokenizer *t, const char *s, size_t n)
{
    return t->ranks.slots[tok_hash_slot(&t->ranks, t->merges, t->m_off, t->m_len, s, n)];
}

static const char *tok_text(const struct tokenizer *t, int32_t id, size_t *n)
{
    *n = t->len[id];
    return t->text + t->off[id];
}

static bool tok_text_is(const struct tokenizer *t, int32_t id, const char *s)
{
    size_t n;
    const char *p = tok_text(t, id, &n);
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->attr);
    free(t->vocab.slots);
    free(t->merges);
    free(t->m_off);
    free(t->m_len);
    free(t->ranks.slots);
    free(t->special);
    free(t);
}

/* Copies an array of GGUF strings into one buffer with offsets. Empty entries become
 * empty_fmt with the index (llama.cpp's "[EMPTY_%u]") when empty_fmt is set. */
static int tok_copy_strings(const struct gguf_str *s, uint64_t n, const char *empty_fmt,
                            char **buf, uint32_t **off, uint32_t **len)
{
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += s[i].len ? s[i].len : 32;
    if (total > UINT32_MAX)
        return -1;
    *buf = malloc(total ? total : 1);
    *off = malloc(n * sizeof **off + 1);
    *len = malloc(n * sizeof **len + 1);
    if (!*buf || !*off || !*len)
        return -1;
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        (*off)[i] = (uint32_t)pos;
        if (s[i].len || !empty_fmt) {
            memcpy(*buf + pos, s[i].ptr, s[i].len);
            (*len)[i] = (uint32_t)s[i].len;
        } else {
            char tmp[32];
            int k = snprintf(tmp, sizeof tmp, empty_fmt, (unsigned)i);
            memcpy(*buf + pos, tmp, (size_t)k);
            (*len)[i] = (uint32_t)k;
        }
        pos += (*len)[i];
    }
    return 0;
}

/* The special-id keys llama.cpp reads (ids out of range keep the default, as it does). */
static int tok_read_id(const struct gguf_file *f, const char *key, int32_t n_vocab, int32_t *id,
                       char *err, size_t errlen)
{
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && v < (uint32_t)n_vocab)
        *id = (int32_t)v;
    return 0;
}

/* Longest text first; equal lengths by id (llama.cpp's std::sort leaves their order open). */
static int tok_cmp_special(const void *a, const void *b, void *ctx)
{
    const struct tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->len[x], ly = t->len[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

/* llama.cpp finds EOT, EOM and the FIM tokens by their text when no key names them, and
 * makes each one it finds a control token. It scans a hash map, so which of several
 * candidates wins is unspecified there; here it is the lowest id. */
static void tok_detect_by_text(struct tokenizer *t, int32_t *id, const char *const *texts)
{
    if (*id >= 0)
        return;
    for (int32_t i = 0; i < t->n_vocab && *id < 0; i++) {
        for (const char *const *s = texts; *s; s++) {
            if (tok_text_is(t, i, *s)) {
                *id = i;
                t->attr[i] = TOK_CONTROL;
                break;
            }
        }
    }
}

static int tok_load_specials(struct tokenizer *t, const struct gguf_file *f, char *err,
                             size_t errlen)
{
    const int32_t n = t->n_vocab;
    int32_t sep = -1, pad = -1, mask = -1;
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    if (t->kind == TOK_SPM) {
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
    } else {
        t->bos = 11;
        t->eos = 11;
        t->unk = -1;
    }
    if (t->bos >= n)
        t->bos = -1;
    if (t->eos >= n)
        t->eos = -1;
    t->eot = t->eom = -1;
    struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},
        {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},
        {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk},
        {"tokenizer.ggml.seperator_token_id", &sep},
        {"tokenizer.ggml.padding_token_id", &pad},
        {"tokenizer.ggml.mask_token_id", &mask},
        {"tokenizer.ggml.fim_pre_token_id", &fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
        {"tokenizer.ggml.prefix_token_id", &fim_pre},
        {"tokenizer.ggml.suffix_token_id", &fim_suf},
        {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (tok_read_id(f, keys[i].key, n, keys[i].id, err, errlen) < 0)
            return -1;

    bool v;
    int rc = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &v, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        t->add_bos = v;
    rc = gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &v, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        t->add_eos = v;

    static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
        "<end_of_turn>", "<|endoftext|>", "<EOT>",
        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", NULL};
    static const char *const eom_texts[] = {"<|eom_id|>", NULL};
    static const char *const pre_texts[] = {"<|fim_prefix|>", "<fim-prefix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", NULL};
    static const char *const suf_texts[] = {"<|fim_suffix|>", "<fim-suffix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>", NULL};
    static const char *const mid_texts[] = {"<|fim_middle|>", "<fim-middle>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL};
    static const char *const pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", NULL};
    static const char *const rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>", NULL};
    static const char *const sep_texts[] = {"<|file_sep|>", NULL};
    static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", NULL};
    tok_detect_by_text(t, &t->eot, eot_texts);
    tok_detect_by_text(t, &t->eom, eom_texts);
    tok_detect_by_text(t, &fim_pre, pre_texts);
    tok_detect_by_text(t, &fim_suf, suf_texts);
    tok_detect_by_text(t, &fim_mid, mid_texts);
    tok_detect_by_text(t, &fim_pad, pad_texts);
    tok_detect_by_text(t, &fim_rep, rep_texts);
    tok_detect_by_text(t, &fim_sep, sep_texts);

    /* End of generation: the FIM pad/repo/sep tokens, the tokens named like an end, and
     * EOS/EOT/EOM. */
    int32_t eog_ids[] = {fim_pad, fim_rep, fim_sep, t->eos, t->eot, t->eom};
    for (size_t i = 0; i < sizeof eog_ids / sizeof eog_ids[0]; i++)
        if (eog_ids[i] >= 0)
            t->attr[eog_ids[i]] |= TOK_EOG;
    for (int32_t i = 0; i < n; i++) {
        for (const char *const *s = eog_texts; *s; s++) {
            if (tok_text_is(t, i, *s)) {
                t->attr[i] = (uint16_t)((t->attr[i] & TOK_EOG) | TOK_CONTROL | TOK_EOG);
                break;
            }
        }
    }

    /* The special-token cache of the split, longest text first. */
    t->special = malloc((size_t)n * sizeof *t->special + 1);
    if (!t->special) {
        tok_err(err, errlen, "%s: out of memory for the special tokens", f->path);
        return -1;
    }
    for (int32_t i = 0; i < n; i++)
        if (t->attr[i] & (TOK_CONTROL | TOK_USER_DEFINED | TOK_UNKNOWN))
            t->special[t->n_special++] = i;
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, tok_cmp_special, t);

    /* Per-model strip rules llama.cpp applies by name. */
    char name[256] = "";
    if (gguf_get_strz(f, "general.name", name, sizeof name, err, errlen) < 0)
        name[0] = '\0';
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strstr(t->pre_name, "jina-v2-de") || strstr(t->pre_name, "jina-v2-es") ||
        strstr(t->pre_name, "jina-v2-code")) {
        int32_t id = tokenizer_find(t, "<mask>", 6);
        if (id >= 0)
            t->attr[id] |= TOK_LSTRIP;
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (int i = 0; i < t->n_special; i++)
            t->attr[t->special[i]] |= TOK_RSTRIP;
        int32_t id = tokenizer_find(t, "</s>", 4);
        if (id >= 0)
            t->attr[id] |= TOK_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++) {
            id = tokenizer_find(t, keep[i], strlen(keep[i]));
            if (id >= 0)
                t->attr[id] &= (uint16_t)~TOK_RSTRIP;
        }
    }
    return 0;
}

static int tok_load_merges(struct tokenizer *t, const struct gguf_file *f, char *err,
                           size_t errlen)
{
    const struct gguf_kv *kv = gguf_find(f, "tokenizer.ggml.merges");
    if (!kv) {
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs it)",
                f->path);
        return -1;
    }
    if (kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING || kv->arr_n > INT32_MAX) {
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.merges' at byte %llu is not an array of strings",
                f->path, (unsigned long long)kv->offset);
        return -1;
    }
    struct gguf_str *s = malloc(kv->arr_n * sizeof *s + 1);
    if (!s || gguf_arr_strings(kv, s) < 0 ||
        tok_copy_strings(s, kv->arr_n, NULL, &t->merges, &t->m_off, &t->m_len) < 0 ||
        tok_hash_init(&t->ranks, kv->arr_n) < 0) {
        free(s);
        tok_err(err, errlen, "%s: cannot read 'tokenizer.ggml.merges' (out of memory?)", f->path);
        return -1;
    }
    free(s);
    t->n_merges = (int32_t)kv->arr_n;
    for (int32_t i = 0; i < t->n_merges; i++) {
        uint32_t slot = tok_hash_slot(&t->ranks, t->merges, t->m_off, t->m_len,
                                      t->merges + t->m_off[i], t->m_len[i]);
        if (t->ranks.slots[slot] < 0)
            t->ranks.slots[slot] = i;
    }
    return 0;
}

struct tokenizer *tokenizer_load(const struct gguf_file *f, char *err, size_t errlen)
{
    struct tokenizer *t = calloc(1, sizeof *t);
    struct gguf_str *strs = NULL;
    if (!t) {
        tok_err(err, errlen, "%s: out of memory for the tokenizer", f->path);
        return NULL;
    }
    char model[32];
    int rc = gguf_get_strz(f, "tokenizer.ggml.model", model, sizeof model, err, errlen);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.model' is missing: no vocabulary", f->path);
        goto fail;
    }
    if (strcmp(model, "llama") == 0) {
        t->kind = TOK_SPM;
        t->add_space_prefix = true;
        t->add_bos = true;
    } else if (strcmp(model, "gpt2") == 0) {
        t->kind = TOK_BPE;
        rc = gguf_get_strz(f, "tokenizer.ggml.pre", t->pre_name, sizeof t->pre_name, err, errlen);
        if (rc < 0)
            goto fail;
        /* Ollama's gptoss splits with o200k's regex whatever the key says (its
         * model/models/gptoss): that is gpt-4o's */
        char arch[16] = "", ignored[8];
        gguf_get_strz(f, "general.architecture", arch, sizeof arch, ignored, sizeof ignored);
        if (!strcmp(arch, "gptoss")) {
            snprintf(t->pre_name, sizeof t->pre_name, "gpt-4o");
            rc = 0;
        }
        t->pre = pretok_find(rc == 1 ? "" : t->pre_name);
        if (!t->pre) {
            char shown[4 * sizeof t->pre_name + 8]; /* the file's words, never obeyed */
            text_escape_line(t->pre_name, strlen(t->pre_name), shown, sizeof shown);
            tok_err(err, errlen, "%s: key 'tokenizer.ggml.pre' names the unsupported pre-tokenizer "
                    "'%s' (supported: %s)", f->path, shown, pretok_names());
            goto fail;
        }
        if (rc == 1)
            snprintf(t->pre_name, sizeof t->pre_name, "default");
        t->add_bos = t->pre->add_bos;
        t->ignore_merges = t->pre->ignore_merges;
    } else {
        char shown[4 * sizeof model + 8]; /* the file's words, never obeyed */
        text_escape_line(model, strlen(model), shown, sizeof shown);
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.model' is '%s'; supported: llama (SentencePiece), "
                "gpt2 (byte-level BPE)", f->path, shown);
        goto fail;
    }
    bool prefix;
    rc = gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &prefix, err, errlen);
    if (rc < 0)
        goto fail;
    if (rc == 0)
        t->add_space_prefix = prefix;

    const struct gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
    if (!kv) {
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.tokens' is missing", f->path);
        goto fail;
    }
    if (kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING || kv->arr_n == 0 ||
        kv->arr_n > INT32_MAX / 2) {
        tok_err(err, errlen, "%s: key 'tokenizer.ggml.tokens' at byte %llu is not a non-empty array of strings",
                f->path, (unsigned long long)kv->offset);
        goto fail;
    }
    t->n_vocab = (int32_t)kv->arr_n;
    strs = malloc(kv->arr_n * sizeof *strs);
    if (!strs || gguf_arr_strings(kv, strs) < 0 ||
        tok_copy_strings(strs, kv->arr_n, "[EMPTY_%u]", &t->text, &t->off, &t->len) < 0) {
        tok_err(err, errlen, "%s: cannot read 'tokenizer.ggml.tokens' (out of memory?)", f->path);
        goto fail;
    }
    free(strs);
    strs = NULL;
    t->score = calloc((size_t)t->n_vocab, sizeof *t->score);
    t->attr = malloc((size_t)t->n_vocab * sizeof *t->attr);
    if (!t->score || !t->attr || tok_hash_init(&t->vocab, (size_t)t->n_vocab) < 0) {
        tok_err(err, errlen, "%s: out of memory for %d tokens", f->path, t->n_vocab);
        goto fail;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->attr[i] = TOK_NORMAL;
        uint32_t slot = tok_hash_slot(&t->vocab, t->text, t->off, t->len, t->text + t->off[i], t->len[i]);
        t->vocab.slots[slot] = i;
    }

    const struct gguf_kv *sc = gguf_find(f, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != GGUF_VT_ARRAY || sc->arr_n != kv->arr_n) {
            tok_err(err, errlen, "%s: key 'tokenizer.ggml.scores' at byte %llu is not an array of %d numbers",
                    f->path, (unsigned long long)sc->offset, t->n_vocab);
            goto fail;
        }
        for (int32_t i = 0; i < t->n_vocab; i++) {
            if (gguf_arr_get_f32(sc, (uint64_t)i, &t->score[i]) < 0) {
                tok_err(err, errlen, "%s: key 'tokenizer.ggml.scores' at byte %llu holds %s, not numbers",
                        f->path, (unsigned long long)sc->offset, gguf_vtype_name(sc->arr_type));
                goto fail;
            }
        }
    }
    const struct gguf_kv *ty = gguf_find(f, "tokenizer.ggml.token_type");
    if (ty) {
        if (ty->type != GGUF_VT_ARRAY || ty->arr_n != kv->arr_n) {
            tok_err(err, errlen, "%s: key 'tokenizer.ggml.token_type' at byte %llu is not an array of %d integers",
                    f->path, (unsigned long long)ty->offset, t->n_vocab);
            goto fail;
        }
        for (int32_t i = 0; i < t->n_vocab; i++) {
            int32_t v;
            if (gguf_arr_get_i32(ty, (uint64_t)i, &v) < 0) {
                tok_err(err, errlen, "%s: key 'tokenizer.ggml.token_type' at byte %llu holds %s, not integers",
                        f->path, (unsigned long long)ty->offset, gguf_vtype_name(ty->arr_type));
                goto fail;
            }
            /* llama_token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
            static const uint16_t attr_of_type[7] = {0, TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL,
                                                     TOK_USER_DEFINED, TOK_UNUSED, TOK_BYTE};
            t->attr[i] = (v >= 0 && v <= 6) ? attr_of_type[v] : 0;
        }
    }
    if (t->kind == TOK_BPE && tok_load_merges(t, f, err, errlen) < 0)
        goto fail;
    if (tok_load_specials(t, f, err, errlen) < 0)
        goto fail;

    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        char one = (char)b;
        t->byte_token[b] = tokenizer_find(t, buf, 6);
        if (t->byte_token[b] < 0)
            t->byte_token[b] = tokenizer_find(t, &one, 1);
        t->byte_cp[b] = unicode_byte_to_cp((uint8_t)b);
    }
    return t;
fail:
    free(strs);
    tokenizer_free(t);
    return NULL;
}

/* ---- the output buffer ---- */

struct tok_out {
    int32_t *ids;
    int max;
    int n;
};

static void tok_emit(struct tok_out *o, int32_t id)
{
    if (o->n < o->max)
        o->ids[o->n] = id;
    if (o->n < INT_MAX)
        o->n++;
}

/* ---- SentencePiece (llama.cpp's llm_tokenizer_spm) ---- */

struct tok_sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the text */
};

/* A pair of neighbours that could merge. key orders the queue (smallest first): SPM uses
 * -score, BPE the merge rank; ties go to the leftmost pair. */
struct tok_bigram {
    double key;
    int32_t left, right;
    uint32_t size;
};

struct tok_heap {
    struct tok_bigram *a;
    size_t n, cap;
};

static bool tok_bigram_before(const struct tok_bigram *x, const struct tok_bigram *y)
{
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

static int tok_heap_push(struct tok_heap *h, struct tok_bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct tok_bigram *a = realloc(h->a, cap * sizeof *a);
        if (!a)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tok_bigram_before(&b, &h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
    return 0;
}

static struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
    struct tok_bigram top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && tok_bigram_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!tok_bigram_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

struct tok_work {
    struct tok_sym *sym;
    size_t n_sym, cap_sym;
    struct tok_heap heap;
    char *buf; /* scratch text */
    size_t cap_buf;
    bool oom;
};

static void *tok_grow(void *p, size_t *cap, size_t need, size_t elem, bool *oom)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (!q) {
        *oom = true;
        return NULL;
    }
    *cap = c;
    return q;
}

/* Splits s[0..n) into one symbol per UTF-8 character (by the lead byte, as llama.cpp). */
static bool tok_split_chars(struct tok_work *w, const char *s, size_t n)
{
    w->n_sym = 0;
    struct tok_sym *sym = tok_grow(w->sym, &w->cap_sym, n + 1, sizeof *sym, &w->oom);
    if (!sym)
        return false;
    w->sym = sym;
    for (size_t off = 0; off < n;) {
        size_t k = unicode_len_utf8((unsigned char)s[off]);
        if (k > n - off)
            k = n - off;
        struct tok_sym *y = &w->sym[w->n_sym];
        y->off = (uint32_t)off;
        y->n = (uint32_t)k;
        y->prev = (int32_t)w->n_sym - 1;
        off += k;
        y->next = off == n ? -1 : (int32_t)w->n_sym + 1;
        w->n_sym++;
    }
    return true;
}

static void spm_try_bigram(const struct tokenizer *t, struct tok_work *w, const char *s,
                           int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    size_t n = w->sym[left].n + w->sym[right].n;
    int32_t id = tokenizer_find(t, s + w->sym[left].off, n);
    if (id < 0)
        return;
    struct tok_bigram b = {-(double)t->score[id], left, right, (uint32_t)n};
    if (tok_heap_push(&w->heap, b) < 0)
        w->oom = true;
}

/* s is the escaped text (spaces already U+2581). */
static void spm_tokenize(const struct tokenizer *t, struct tok_work *w, const char *s, size_t n,
                         struct tok_out *o)
{
    if (!tok_split_chars(w, s, n))
        return;
    w->heap.n = 0;
    for (size_t i = 1; i < w->n_sym; i++)
        spm_try_bigram(t, w, s, (int32_t)i - 1, (int32_t)i);
    while (w->heap.n) {
        struct tok_bigram b = tok_heap_pop(&w->heap);
        struct tok_sym *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* one side already merged elsewhere */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = b.left;
        spm_try_bigram(t, w, s, l->prev, b.left);
        spm_try_bigram(t, w, s, b.left, l->next);
    }
    /* Every merged symbol is a token; a single character that is not falls back to its
     * bytes (llama.cpp's resegment reaches no further in practice). */
    for (int32_t i = w->n_sym ? 0 : -1; i != -1; i = w->sym[i].next) {
        const struct tok_sym *y = &w->sym[i];
        int32_t id = tokenizer_find(t, s + y->off, y->n);
        if (id >= 0) {
            tok_emit(o, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t bt = t->byte_token[(unsigned char)s[y->off + j]];
            /* llama.cpp throws when a byte has no token; the unknown token is our answer. */
            tok_emit(o, bt >= 0 ? bt : t->unk);
        }
    }
}

/* A raw fragment of SPM text: optional leading space, spaces escaped as U+2581. */
static void spm_fragment(const struct tokenizer *t, struct tok_work *w, const char *s, size_t n,
                         bool space_prefix, struct tok_out *o)
{
    size_t spaces = space_prefix;
    for (size_t i = 0; i < n; i++)
        spaces += s[i] == ' ';
    size_t m = n + (space_prefix ? 1 : 0) + 2 * spaces;
    char *buf = tok_grow(w->buf, &w->cap_buf, m + 1, 1, &w->oom);
    if (!buf)
        return;
    w->buf = buf;
    size_t k = 0;
    static const char esc[3] = {'\xe2', '\x96', '\x81'};
    if (space_prefix) {
        memcpy(buf, esc, 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(buf + k, esc, 3);
            k += 3;
        } else {
            buf[k++] = s[i];
        }
    }
    spm_tokenize(t, w, buf, k, o);
}

/* ---- byte-level BPE (llama.cpp's llm_tokenizer_bpe) ---- */

static void bpe_try_bigram(const struct tokenizer *t, struct tok_work *w, const char *s,
                           char *key, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const struct tok_sym *l = &w->sym[left], *r = &w->sym[right];
    /* The merge list holds "left right". */
    memcpy(key, s + l->off, l->n);
    key[l->n] = ' ';
    memcpy(key + l->n + 1, s + r->off, r->n);
    int32_t rank = tok_rank(t, key, l->n + 1 + r->n);
    if (rank < 0)
        return;
    struct tok_bigram b = {(double)rank, left, right, l->n + r->n};
    if (tok_heap_push(&w->heap, b) < 0)
        w->oom = true;
}

/* One pre-tokenized word, already in the byte-to-unicode alphabet: s[0..n). key is scratch
 * of n + 1 bytes. */
static void bpe_word(const struct tokenizer *t, struct tok_work *w, const char *s, size_t n,
                     char *key, struct tok_out *o)
{
    if (t->ignore_merges) {
        int32_t id = tokenizer_find(t, s, n);
        if (id >= 0) {
            tok_emit(o, id);
            return;
        }
    }
    if (!tok_split_chars(w, s, n))
        return;
    w->heap.n = 0;
    for (size_t i = 1; i < w->n_sym; i++)
        bpe_try_bigram(t, w, s, key, (int32_t)i - 1, (int32_t)i);
    while (w->heap.n) {
        struct tok_bigram b = tok_heap_pop(&w->heap);
        struct tok_sym *l = &w->sym[b.left], *r = &w->sym[b.right];
        /* Stale when either side has changed since the pair was queued. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = b.left;
        bpe_try_bigram(t, w, s, key, l->prev, b.left);
        bpe_try_bigram(t, w, s, key, b.left, l->next);
    }
    for (size_t i = 0; i < w->n_sym; i++) {
        const struct tok_sym *y = &w->sym[i];
        if (y->n == 0)
            continue;
        int32_t id = tokenizer_find(t, s + y->off, y->n);
        if (id >= 0) {
            tok_emit(o, id);
            continue;
        }
        /* As llama.cpp: each byte of the symbol on its own, when that is a token. */
        for (uint32_t j = 0; j < y->n; j++) {
            id = tokenizer_find(t, s + y->off + j, 1);
            if (id >= 0)
                tok_emit(o, id);
        }
    }
}

static void bpe_fragment(const struct tokenizer *t, struct tok_work *w, const char *s, size_t n,
                         struct tok_out *o)
{
    /* Codepoints (invalid UTF-8 becomes U+FFFD), their classes, then the words. */
    uint32_t *cp = malloc((n + 1) * sizeof *cp);
    uint8_t *cls = malloc(n + 1);
    size_t *lens = malloc((n + 1) * sizeof *lens), *scratch = malloc((n + 1) * sizeof *scratch);
    char *enc = NULL, *key = NULL;
    if (!cp || !cls || !lens || !scratch) {
        w->oom = true;
        goto done;
    }
    size_t n_cp = 0;
    for (size_t i = 0; i < n;) {
        size_t adv;
        cp[n_cp] = unicode_decode((const unsigned char *)s + i, n - i, &adv);
        cls[n_cp] = unicode_class(cp[n_cp]);
        n_cp++;
        i += adv;
    }
    size_t n_words = pretok_split(t->pre->type, cp, cls, n_cp, lens, scratch);
    /* A word of k codepoints is at most 4k bytes, each byte at most 2 bytes encoded. */
    size_t max_word = 0;
    for (size_t i = 0; i < n_words; i++)
        if (lens[i] > max_word)
            max_word = lens[i];
    enc = malloc(8 * max_word + 1);
    key = malloc(8 * max_word + 2);
    if (!enc || !key) {
        w->oom = true;
        goto done;
    }
    size_t start = 0;
    for (size_t i = 0; i < n_words; i++) {
        size_t m = 0;
        for (size_t j = start; j < start + lens[i]; j++) {
            unsigned char u[4];
            size_t k = unicode_encode(cp[j], u);
            for (size_t b = 0; b < k; b++)
                m += unicode_encode(t->byte_cp[u[b]], (unsigned char *)enc + m);
        }
        bpe_word(t, w, enc, m, key, o);
        start += lens[i];
    }
done:
    free(cp);
    free(cls);
    free(lens);
    free(scratch);
    free(enc);
    free(key);
}

/* ---- the special-token split (llama.cpp's tokenizer_st_partition) ---- */

struct tok_frag {
    int32_t token; /* -1 for raw text */
    size_t off, len;
};

struct tok_frags {
    struct tok_frag *a;
    size_t n, cap;
};

static int tok_frag_add(struct tok_frags *f, int32_t token, size_t off, size_t len)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct tok_frag *a = realloc(f->a, cap * sizeof *a);
        if (!a)
            return -1;
        f->a = a;
        f->cap = cap;
    }
    f->a[f->n++] = (struct tok_frag){token, off, len};
    return 0;
}

static bool tok_isspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Every occurrence of every special token, longest first, cuts the raw fragments; control
 * and unknown tokens only when parse_special. */
static int tok_partition(const struct tokenizer *t, const char *text, size_t len,
                         bool parse_special, struct tok_frags *cur)
{
    struct tok_frags next = {0};
    cur->n = 0;
    if (len && tok_frag_add(cur, -1, 0, len) < 0)
        return -1;
    for (int si = 0; si < t->n_special; si++) {
        int32_t id = t->special[si];
        uint16_t attr = t->attr[id];
        if (!parse_special && (attr & (TOK_CONTROL | TOK_UNKNOWN)))
            continue;
        size_t tn;
        const char *tt = tok_text(t, id, &tn);
        next.n = 0;
        for (size_t k = 0; k < cur->n; k++) {
            struct tok_frag fr = cur->a[k];
            if (fr.token >= 0 || fr.len < tn) {
                if (tok_frag_add(&next, fr.token, fr.off, fr.len) < 0)
                    goto oom;
                continue;
            }
            size_t off = fr.off, n = fr.len;
            for (;;) {
                const char *m = n >= tn ? memmem(text + off, n, tt, tn) : NULL;
                if (!m) {
                    if (n && tok_frag_add(&next, -1, off, n) < 0)
                        goto oom;
                    break;
                }
                size_t at = (size_t)(m - text);
                size_t left = at - off;
                if (attr & TOK_LSTRIP)
                    while (left > 0 && tok_isspace(text[off + left - 1]))
                        left--;
                if (left && tok_frag_add(&next, -1, off, left) < 0)
                    goto oom;
                if (tok_frag_add(&next, id, 0, 0) < 0)
                    goto oom;
                size_t r_off = at + tn, r_n = off + n - r_off;
                if (attr & TOK_RSTRIP)
                    while (r_n > 0 && tok_isspace(text[r_off])) {
                        r_off++;
                        r_n--;
                    }
                off = r_off;
                n = r_n;
            }
        }
        struct tok_frags tmp = *cur;
        *cur = next;
        next = tmp;
    }
    free(next.a);
    return 0;
oom:
    free(next.a);
    return -1;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int max)
{
    struct tok_out o = {out, max < 0 ? 0 : max, 0};
    struct tok_frags fr = {0};
    struct tok_work w = {0};
    if (tok_partition(t, text, len, parse_special, &fr) < 0) {
        free(fr.a);
        return INT32_MIN;
    }
    if (add_special && t->add_bos && t->bos >= 0)
        tok_emit(&o, t->bos);
    bool prev_special = true; /* SPM: a space before the first text */
    for (size_t i = 0; i < fr.n && !w.oom; i++) {
        const struct tok_frag *f = &fr.a[i];
        if (f->token >= 0) {
            tok_emit(&o, f->token);
            prev_special = true;
            continue;
        }
        if (t->kind == TOK_SPM)
            spm_fragment(t, &w, text + f->off, f->len, t->add_space_prefix && prev_special, &o);
        else
            bpe_fragment(t, &w, text + f->off, f->len, &o);
        prev_special = false;
    }
    if (add_special && t->add_eos && t->eos >= 0)
        tok_emit(&o, t->eos);
    free(fr.a);
    free(w.sym);
    free(w.heap.a);
    free(w.buf);
    if (w.oom)
        return INT32_MIN;
    return o.n <= o.max ? o.n : -o.n;
}

/* ---- pieces ---- */

static size_t tok_put(char *buf, size_t buflen, size_t at, const void *s, size_t n)
{
    if (at < buflen)
        memcpy(buf + at, s, n < buflen - at ? n : buflen - at);
    return at + n;
}

size_t tokenizer_piece(const struct tokenizer *t, int32_t id, char *buf, size_t buflen)
{
    if (id < 0 || id >= t->n_vocab)
        return 0;
    size_t n;
    const char *s = tok_text(t, id, &n);
    uint16_t attr = t->attr[id];
    if (attr & (TOK_UNKNOWN | TOK_CONTROL | TOK_USER_DEFINED))
        return tok_put(buf, buflen, 0, s, n);
    size_t k = 0;
    if (t->kind == TOK_SPM) {
        if (attr & TOK_NORMAL) {
            for (size_t i = 0; i < n;) {
                if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                    k = tok_put(buf, buflen, k, " ", 1);
                    i += 3;
                } else {
                    k = tok_put(buf, buflen, k, s + i, 1);
                    i++;
                }
            }
            return k;
        }
        if ((attr & TOK_BYTE) && n >= 5) {
            char hex[3] = {s[3], s[4], 0};
            unsigned char b = (unsigned char)strtol(hex, NULL, 16);
            return tok_put(buf, buflen, 0, &b, 1);
        }
        return 0;
    }
    if (!(attr & TOK_NORMAL))
        return 0;
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = unicode_decode((const unsigned char *)s + i, n - i, &adv);
        int b = unicode_cp_to_byte(cp);
        if (b >= 0) {
            unsigned char c = (unsigned char)b;
            k = tok_put(buf, buflen, k, &c, 1);
        } else {
            /* llama.cpp's llama_decode_text writes this for a codepoint that is no byte. */
            unsigned char u[4];
            size_t m = unicode_encode(cp, u);
            char tmp[32];
            k = tok_put(buf, buflen, k, "[UNK_BYTE_0x", 12);
            for (size_t j = 0; j < m; j++) {
                snprintf(tmp, sizeof tmp, "%02x", u[j]);
                k = tok_put(buf, buflen, k, tmp, 2);
            }
            k = tok_put(buf, buflen, k, s, n);
            k = tok_put(buf, buflen, k, "]", 1);
        }
        i += adv;
    }
    return k;
}

size_t tokenizer_longest_piece(const struct tokenizer *t)
{
    size_t longest = 4;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->len[i] > longest)
            longest = t->len[i];
    return longest;
}

int tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const struct tokenizer *t) { return t->eot; }
bool tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos; }
const char *tokenizer_kind(const struct tokenizer *t) { return t->kind == TOK_SPM ? "spm" : "bpe"; }
const char *tokenizer_pre(const struct tokenizer *t) { return t->pre_name; }

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_EOG);
}

bool tokenizer_is_control(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_CONTROL);
}

/* ---- streaming detokenization ---- */

size_t utf8_complete_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = u[n - back];
        if ((c & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back for the lead */
        size_t need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3
                      : c >= 0xc2 && c <= 0xdf ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

static size_t detok_out(char *out, size_t outcap, size_t k, const unsigned char *s, size_t n)
{
    size_t room = outcap > k ? outcap - k : 0, m = n < room ? n : room;
    if (m)
        memcpy(out + k, s, m);
    return k + m;
}

size_t detok_push(struct detok *d, const char *bytes, size_t n, char *out, size_t outcap)
{
    size_t k = 0;
    const unsigned char *b = (const unsigned char *)bytes;
    /* Complete the held sequence first, byte by byte. */
    while (d->n_held > 0 && n > 0) {
        if ((b[0] & 0xc0) != 0x80) {
            k = detok_out(out, outcap, k, d->held, (size_t)d->n_held); /* never completes */
            d->n_held = 0;
            break;
        }
        d->held[d->n_held++] = *b++;
        n--;
        if (utf8_complete_prefix((const char *)d->held, (size_t)d->n_held) ==
            (size_t)d->n_held) {
            k = detok_out(out, outcap, k, d->held, (size_t)d->n_held);
            d->n_held = 0;
        }
    }
    if (n == 0)
        return k;
    size_t tail = n - utf8_complete_prefix((const char *)b, n);
    k = detok_out(out, outcap, k, b, n - tail);
    memcpy(d->held, b + n - tail, tail);
    d->n_held = (int)tail;
    return k;
}

size_t detok_flush(struct detok *d, char *out, size_t outcap)
{
    size_t k = detok_out(out, outcap, 0, d->held, (size_t)d->n_held);
    d->n_held = 0;
    return k;
}
