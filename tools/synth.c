/* tools/synth.c: writes a random-weight GGUF of any shape that llama.cpp would load.
 *
 *   synth --arch qwen2moe --layers 4 --d-model 128 --heads 4 --kv-heads 2 --experts 8 \
 *         --experts-used 2 --ff 256 --shared-ff 256 --vocab-bytes --seed 1 -o model.gguf
 *
 * Tensor names, shapes and metadata keys follow llama.cpp (llama-arch.cpp, the per-arch
 * create_tensor calls in llama-model.cpp) and were compared with the fixtures in
 * ../shared/fixtures/models. Families:
 *   qwen2moe    QKV bias, routed experts (expert_feed_forward_length) and a shared expert
 *               with its one-row sigmoid gate ffn_gate_inp_shexp
 *   qwen3moe    attn_q_norm/attn_k_norm over one head (head_dim), no bias, no shared expert
 *   olmoe       attn_q_norm/attn_k_norm over all heads (n_embd), experts of feed_forward_length
 *   mixtral     GGUF arch "llama" with ffn_*_exps (also: --arch llama --experts N)
 *   granitemoe  llama layout plus embedding, residual, attention and logit scales
 *   llama       dense (ffn_gate/ffn_up/ffn_down), --experts 0
 *   qwen2       dense with QKV bias
 *   gpt-oss     QKV and output biases, attention sinks, a sliding window of 128 on every
 *               other layer, YaRN (factor 32 over 4096), post_attention_norm, a router
 *               bias and per-expert biases; with --type mxfp4 the experts are MXFP4, the
 *               other matrices Q8_0 and the embeddings and output F16 (llama.cpp's
 *               converter's mix, as in the gpt-oss reference file) unless --pure
 *   deepseek2   multi-head latent attention as llama.cpp's current converter writes it
 *               (attn_kv_a_mqa + attn_kv_a_norm, attn_k_b/attn_v_b per head, the query
 *               straight as attn_q or through --q-lora), one KV head of kv_lora + rope dims,
 *               YaRN (factor 40 over 4096, DeepSeek-V2-Lite's), softmax routing, --shared
 *               ungated shared experts of --ff each, --dense-lead dense layers of --dense-ff
 * The vocabulary is byte-level BPE ("gpt2" model): 256 byte tokens in GPT-2's byte-to-unicode
 * order, a few built-in merges (--merges N), then <|endoftext|>, <|im_start|>, <|im_end|> as
 * control tokens, then (--hostile) the hostile pieces below, then (--vocab N) filler tokens
 * up to N: distinct made-up words of printable ASCII, most with a leading space. A ChatML
 * chat template.
 *
 * Types (--type): f32, f16, q8_0, iq4_nl, iq4_xs, mxfp4 for every matrix; q4_0 and q4_k follow llama-quantize's
 * mixes (Q4_0 and Q4_K_M, llama-quant.cpp llama_tensor_get_type): output.weight Q6_K;
 * for q4_k also attn_v and ffn_down* Q6_K in the layers use_more_bits picks (the first and
 * last eighth and every third between), and for 8-expert models attn_k/attn_v Q8_0 and
 * attn_output Q5_K; a row that is not a multiple of 256 falls back as llama.cpp does (Q4_K
 * to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0). --pure puts every matrix in the one type. Norms,
 * biases and routers stay f32, token_embd takes the base type. The blocks come from the
 * engine's quant_traits()->from_float, the reference block layouts.
 *
 * --hostile: a model that says what a terminal would obey. Its vocabulary holds ESC
 * sequences (colours, cursor moves, screen clears, OSC 52 clipboard writes, title changes,
 * terminal queries), BEL, CR, backspace, C1 controls, zero-width and bidi-override
 * characters, invalid UTF-8 and overlong encodings (the single bytes among them are byte
 * tokens already). Every embedding carries a constant in dimension 0, which survives into
 * the last hidden state, and the output rows of the hostile tokens weigh that dimension
 * heavily: so generation picks them often, while routing still varies with the text.
 *
 * Weights come from a seeded splitmix64 stream through Box-Muller: matrices ~N(0, 0.02),
 * the router and the output head ~N(0, 1/sqrt(d_model)) so that routing and sampling are not
 * flat, norms 1, biases ~N(0, 0.02). The same flags and seed give the same bytes.
 *
 * tests/test_synth.c includes this file with SYNTH_NO_MAIN defined and calls synth_main. */
#include "gguf_write.h"
#include "quant.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- architectures */

struct synth_arch {
    const char *flag;      /* --arch value */
    const char *gguf;      /* general.architecture */
    bool moe;              /* experts required (false: dense, or llama with --experts N) */
    bool qkv_bias;
    bool qk_norm_head;     /* norm weight of one head: (head_dim) */
    bool qk_norm_full;     /* norm weight of all heads: (n_head * head_dim) */
    bool shexp;            /* shared expert (default on) */
    bool shexp_gate;       /* ffn_gate_inp_shexp */
    bool expert_ff_key;    /* expert_feed_forward_length holds the expert size */
    bool granite;          /* the four scales */
    bool gpt_oss;          /* sinks, window, biases, post_attention_norm (gpt-oss) */
    bool latent;           /* multi-head latent attention, leading dense layers (deepseek2) */
    const char *pre;       /* tokenizer.ggml.pre */
};

static const struct synth_arch synth_archs[] = {
    { .flag = "qwen2moe", .gguf = "qwen2moe", .moe = true, .qkv_bias = true, .shexp = true,
      .shexp_gate = true, .expert_ff_key = true, .pre = "qwen2" },
    { .flag = "qwen3moe", .gguf = "qwen3moe", .moe = true, .qk_norm_head = true,
      .expert_ff_key = true, .pre = "qwen2" },
    { .flag = "olmoe", .gguf = "olmoe", .moe = true, .qk_norm_full = true, .pre = "default" },
    { .flag = "mixtral", .gguf = "llama", .moe = true, .pre = "default" },
    { .flag = "granitemoe", .gguf = "granitemoe", .moe = true, .granite = true,
      .pre = "default" },
    { .flag = "llama", .gguf = "llama", .pre = "default" },
    { .flag = "qwen2", .gguf = "qwen2", .qkv_bias = true, .pre = "qwen2" },
    { .flag = "gpt-oss", .gguf = "gpt-oss", .moe = true, .qkv_bias = true,
      .expert_ff_key = true, .gpt_oss = true, .pre = "gpt-4o" },
    { .flag = "deepseek2", .gguf = "deepseek2", .moe = true, .shexp = true,
      .expert_ff_key = true, .latent = true, .pre = "deepseek-llm" },
};
enum { SYNTH_N_ARCHS = sizeof synth_archs / sizeof synth_archs[0] };

struct synth_cfg {
    const struct synth_arch *arch;
    int n_layers, d_model, n_heads, n_kv_heads, head_dim;
    int n_experts, n_experts_used;
    int d_ff, d_ff_shared;
    int n_shared;          /* deepseek2: shared experts, each of d_ff (d_ff_shared = n x d_ff) */
    int n_dense_lead, d_ff_dense; /* deepseek2: leading dense layers and their FFN width */
    int kv_lora, q_lora, rope_dim; /* deepseek2: latent width, query LoRA (0: none), RoPE dims */
    int n_ctx;
    int n_merges;
    uint32_t type;         /* matrices: GGML_TYPE_F32, F16, Q8_0, Q4_0 or Q4_K (see the top) */
    bool pure;             /* every matrix in type, no llama-quantize mix */
    bool hostile;          /* the hostile vocabulary and the bias towards it */
    int n_vocab_req;       /* --vocab, 0: just what the vocabulary needs */
    int n_vocab;           /* the vocabulary size written (synth_check sets it) */
    uint64_t seed;
    float rope_base, norm_eps;
    const char *name;
    const char *out;
};

/* ---------------------------------------------------------------- random numbers */

struct synth_rng {
    uint64_t s;
    bool have_spare;
    double spare;
};

static uint64_t synth_next(struct synth_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double synth_uniform(struct synth_rng *r)
{
    return ((double)(synth_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

static double synth_normal(struct synth_rng *r)
{
    if (r->have_spare) {
        r->have_spare = false;
        return r->spare;
    }
    double u = synth_uniform(r), v = synth_uniform(r);
    double m = sqrt(-2.0 * log(u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->have_spare = true;
    return m * cos(2.0 * M_PI * v);
}

/* ---------------------------------------------------------------- tensors */

enum synth_kind {
    SK_NORM,    /* all ones, f32 */
    SK_BIAS,    /* small random, f32 */
    SK_ROUTER,  /* random with std 1/sqrt(d), f32 (llama-quantize keeps routers f32 too) */
    SK_MATRIX,  /* random std 0.02, in cfg->type */
    SK_EMBED,   /* token_embd: as SK_MATRIX (and the hostile carrier in dimension 0) */
    SK_HEAD,    /* the output head: std 1/sqrt(d), in cfg->type */
};

/* ---------------------------------------------------------------- hostile pieces */

/* Multi-byte pieces, as raw bytes (the vocabulary stores them through GPT-2's byte map). */
static const struct { const char *s; size_t n; } synth_hostile[] = {
#define HP(lit) { lit, sizeof lit - 1 }
    HP("\x1b[31m"),                   /* colour: red foreground */
    HP("\x1b[0m"),                    /* attributes off */
    HP("\x1b[1;5;7m"),                /* bold, blink, reverse */
    HP("\x1b[38;2;255;0;0m"),         /* truecolour */
    HP("\x1b[2J"),                    /* clear the screen */
    HP("\x1b[H"),                     /* cursor home */
    HP("\x1b[10;5H"),                 /* cursor to row 10, column 5 */
    HP("\x1b[5A"),                    /* cursor up 5 */
    HP("\x1b[2K"),                    /* erase the line */
    HP("\x1b[?1049l"),                /* leave the alternate screen */
    HP("\x1b[?25l"),                  /* hide the cursor */
    HP("\x1b]52;c;cHduZWQ=\x07"),     /* OSC 52: write "pwned" to the clipboard (BEL) */
    HP("\x1b]52;c;ZXZpbA==\x1b\\"),  /* OSC 52 ended by ST */
    HP("\x1b]0;pwned\x07"),           /* window and icon title */
    HP("\x1b]2;title\x1b\\"),         /* window title, ST */
    HP("\x1b]8;;http://x/\x1b\\"),    /* hyperlink */
    HP("\x1b[6n"),                    /* cursor position query: the answer comes as input */
    HP("\x1b[21t"),                   /* title query */
    HP("\x1bP$q\"p\x1b\\"),           /* DCS request */
    HP("\x1b" "c"),                   /* RIS: full terminal reset */
    HP("\r\x1b[K"),                   /* CR and erase: rewrites the line */
    HP("\xc2\x9b" "31m"),              /* C1 CSI as UTF-8 (U+009B) */
    HP("\xc2\x85"),                   /* C1 NEL */
    HP("\xe2\x80\x8b"),               /* ZERO WIDTH SPACE */
    HP("\xe2\x80\x8d"),               /* ZERO WIDTH JOINER */
    HP("\xef\xbb\xbf"),               /* ZERO WIDTH NO-BREAK SPACE (BOM) */
    HP("\xe2\x80\xae"),               /* RIGHT-TO-LEFT OVERRIDE */
    HP("\xe2\x80\xad"),               /* LEFT-TO-RIGHT OVERRIDE */
    HP("\xe2\x81\xa6"),               /* LEFT-TO-RIGHT ISOLATE */
    HP("\xe2\x81\xa9"),               /* POP DIRECTIONAL ISOLATE */
    HP("\xe2\x80\x8f"),               /* RIGHT-TO-LEFT MARK */
    HP("\xc0\xaf"),                   /* overlong '/' */
    HP("\xe0\x80\xaf"),               /* overlong '/' in three bytes */
    HP("\xf0\x80\x80\xaf"),           /* overlong '/' in four bytes */
    HP("\xc1\xbf"),                   /* overlong DEL */
    HP("\xed\xa0\x80"),               /* a UTF-16 surrogate */
    HP("\xf4\x90\x80\x80"),           /* above U+10FFFF */
    HP("\xff\xfe"),                   /* never UTF-8 */
    HP("\xe2\x82"),                   /* truncated */
    HP("\x80\x80"),                   /* continuation bytes alone */
#undef HP
};
enum { SYNTH_N_HOSTILE = sizeof synth_hostile / sizeof synth_hostile[0] };

/* Single hostile bytes: they are byte tokens (id = byte), and get the same pull. */
static const unsigned char synth_hostile_bytes[] = { 0x07, 0x08, 0x0d, 0x1b, 0x7f, 0x80,
                                                     0x9b, 0xc0, 0xff };
enum { SYNTH_N_HOSTILE_BYTES = sizeof synth_hostile_bytes };

/* The hostile bias: every embedding's dimension 0 is SYNTH_CARRIER (the other values are
 * ~N(0, 0.02)), so the final RMSNorm leaves a large positive value there; a hostile token's
 * output row has SYNTH_PULL in dimension 0, so its logit rises by about
 * SYNTH_PULL * SYNTH_CARRIER / rms. */
#define SYNTH_CARRIER 0.2f
#define SYNTH_PULL 0.3f

struct synth_state {
    const struct synth_cfg *cfg;
    struct synth_rng rng;
    struct gguf_writer *w;
    void **bufs;            /* (n_bufs) the tensors' jobs, alive until the write */
    size_t n_bufs, cap_bufs;
    uint64_t n_params;
    char err[512];
};

/* ggml's reference Q8_0 packing, used when quant.c has no from_float for Q8_0 yet:
 * blocks of 32 values, an f16 scale d = amax/127 and 32 int8 q = round(x/d). */
static void synth_q8_0_pack(const float *x, uint8_t *y, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = quant_f32_to_f16(d);
        uint8_t *yb = y + b * 34;
        memcpy(yb, &dh, 2);
        for (int i = 0; i < 32; i++) {
            int8_t q = (int8_t)roundf(xb[i] * id);
            memcpy(yb + 2 + i, &q, 1);
        }
    }
}

static int synth_keep(struct synth_state *st, void *buf)
{
    if (st->n_bufs == st->cap_bufs) {
        size_t cap = st->cap_bufs ? st->cap_bufs * 2 : 128;
        void **nb = realloc(st->bufs, cap * sizeof *nb);
        if (!nb)
            return -1;
        st->bufs = nb;
        st->cap_bufs = cap;
    }
    st->bufs[st->n_bufs++] = buf;
    return 0;
}

/* llama-quantize's use_more_bits: the first and last eighth of the layers, and every third
 * layer between. */
static bool synth_more_bits(int il, int n)
{
    return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2;
}

/* The --type names, their ggml types and llama_ftype values. The iq4 and mxfp4 types put
 * every matrix in the one type, as --pure does. */
struct synth_type {
    const char *name;
    uint32_t type;
    uint32_t ftype;
};

static const struct synth_type synth_types[] = {
    {"f32", GGML_TYPE_F32, 0},       {"f16", GGML_TYPE_F16, 1},
    {"q8_0", GGML_TYPE_Q8_0, 7},     {"q4_0", GGML_TYPE_Q4_0, 2},
    {"q4_k", GGML_TYPE_Q4_K, 15},    {"q4_k_m", GGML_TYPE_Q4_K, 15},
    {"iq4_nl", GGML_TYPE_IQ4_NL, 25}, {"iq4_xs", GGML_TYPE_IQ4_XS, 30},
    {"mxfp4", GGML_TYPE_MXFP4, 38},
};

static const struct synth_type *synth_type_named(const char *name)
{
    for (size_t i = 0; i < sizeof synth_types / sizeof synth_types[0]; i++)
        if (!strcmp(synth_types[i].name, name))
            return &synth_types[i];
    return NULL;
}

static const struct synth_type *synth_type_of(uint32_t type)
{
    for (size_t i = 0; i < sizeof synth_types / sizeof synth_types[0]; i++)
        if (synth_types[i].type == type)
            return &synth_types[i];
    return &synth_types[0];
}

/* The type of a tensor (see the top): its kind, the --type mix, and the row length. */
static uint32_t synth_pick_type(const struct synth_cfg *c, enum synth_kind kind,
                                const char *name, int64_t row)
{
    if (kind != SK_MATRIX && kind != SK_EMBED && kind != SK_HEAD)
        return GGML_TYPE_F32;
    uint32_t t = c->type;
    if (c->arch->gpt_oss && t == GGML_TYPE_MXFP4 && !c->pure && !strstr(name, "_exps."))
        return kind == SK_MATRIX ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
    if (c->pure || (t != GGML_TYPE_Q4_0 && t != GGML_TYPE_Q4_K))
        return t;
    int il = -1;
    sscanf(name, "blk.%d.", &il);
    if (kind == SK_HEAD) {
        t = GGML_TYPE_Q6_K;
    } else if (t == GGML_TYPE_Q4_K) {
        bool v = strstr(name, "attn_v.weight") != NULL, k = strstr(name, "attn_k.weight") != NULL;
        if ((v || k) && c->n_experts == 8)
            t = GGML_TYPE_Q8_0;
        else if (v && synth_more_bits(il, c->n_layers))
            t = GGML_TYPE_Q6_K;
        else if (strstr(name, "ffn_down") && synth_more_bits(il, c->n_layers))
            t = GGML_TYPE_Q6_K;
        else if (strstr(name, "attn_output.weight") && c->n_experts == 8)
            t = GGML_TYPE_Q5_K;
    }
    if (row % 256 != 0) /* llama.cpp's fallbacks for rows the K-quants cannot hold */
        t = t == GGML_TYPE_Q4_K ? GGML_TYPE_Q5_0 : t == GGML_TYPE_Q5_K ? GGML_TYPE_Q5_1
            : t == GGML_TYPE_Q6_K ? GGML_TYPE_Q8_0 : t;
    return t;
}

/* One tensor, made when the writer asks for its bytes (gguf_writer_add_tensor_fill): the
 * tensors are made one at a time, in the order they were added, so the random stream gives
 * the same values as making them at once would, and a large model never sits in memory. */
struct synth_job {
    struct synth_state *st;
    enum synth_kind kind;
    uint32_t type;
    int64_t n, row, rows;   /* values, ne[0], ne[1] */
};

static int synth_fill(void *ud, const char *name, void *buf, uint64_t nbytes, char *why,
                      size_t whylen)
{
    const struct synth_job *j = ud;
    struct synth_state *st = j->st;
    const struct synth_cfg *c = st->cfg;
    const int64_t n = j->n;
    float *x = malloc((size_t)n * sizeof *x); /* (n) the values before conversion */
    if (!x) {
        snprintf(why, whylen, "out of memory for tensor '%s'", name);
        return -1;
    }
    double std = j->kind == SK_ROUTER || j->kind == SK_HEAD ? 1.0 / sqrt((double)c->d_model)
                                                            : 0.02;
    for (int64_t i = 0; i < n; i++)
        x[i] = j->kind == SK_NORM ? 1.0f : (float)(std * synth_normal(&st->rng));
    if (c->hostile && j->kind == SK_EMBED) {
        for (int64_t r = 0; r < j->rows; r++)
            x[r * j->row] = SYNTH_CARRIER;
    }
    if (c->hostile && j->kind == SK_HEAD) {
        int first = 256 + c->n_merges + 3;
        for (int i = 0; i < SYNTH_N_HOSTILE; i++)
            x[(int64_t)(first + i) * j->row] = SYNTH_PULL;
        for (int i = 0; i < SYNTH_N_HOSTILE_BYTES; i++)
            x[(int64_t)synth_hostile_bytes[i] * j->row] = SYNTH_PULL;
    }
    const struct quant_traits *qt = quant_traits(j->type);
    if (j->type == GGML_TYPE_F32) {
        memcpy(buf, x, (size_t)nbytes);
    } else if (j->type == GGML_TYPE_F16) {
        uint16_t *h = buf;
        for (int64_t i = 0; i < n; i++)
            h[i] = quant_f32_to_f16(x[i]);
    } else if (j->type == GGML_TYPE_Q8_0 && !(qt && qt->from_float)) {
        synth_q8_0_pack(x, buf, n);
    } else {
        qt->from_float(x, buf, n); /* synth_tensor checked it has one */
    }
    free(x);
    return 0;
}

/* Adds one tensor of shape ne[0..n_dims) to the writer, made at the write (synth_fill). */
static int synth_tensor(struct synth_state *st, enum synth_kind kind, int n_dims,
                        const int64_t *ne, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int synth_tensor(struct synth_state *st, enum synth_kind kind, int n_dims,
                        const int64_t *ne, const char *fmt, ...)
{
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);

    int64_t n = 1;
    for (int d = 0; d < n_dims; d++)
        n *= ne[d];
    st->n_params += (uint64_t)n;
    const struct synth_cfg *c = st->cfg;
    uint32_t type = synth_pick_type(c, kind, name, ne[0]);
    const struct quant_traits *qt = quant_traits(type);
    if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_Q8_0 &&
        (!qt || !qt->from_float || n % qt->blck_size != 0)) {
        /* synth_check made rows whole blocks */
        snprintf(st->err, sizeof st->err, "no %s writer for tensor '%s'",
                 qt ? qt->name : "such", name);
        return -1;
    }
    struct synth_job *j = malloc(sizeof *j);
    if (!j || synth_keep(st, j)) {
        free(j);
        snprintf(st->err, sizeof st->err, "out of memory");
        return -1;
    }
    *j = (struct synth_job){ .st = st, .kind = kind, .type = type, .n = n, .row = ne[0],
                             .rows = n_dims > 1 ? ne[1] : 1 };
    if (gguf_writer_add_tensor_fill(st->w, name, type, (uint32_t)n_dims, ne, synth_fill, j)) {
        snprintf(st->err, sizeof st->err, "cannot add tensor '%s'", name);
        return -1;
    }
    return 0;
}

#define NE(...) ((const int64_t[]){ __VA_ARGS__ })

/* A deepseek2 block: latent attention (head_dim is a head's no-RoPE key and value width),
 * then a dense FFN in the leading layers, else the router, the experts and the shared
 * experts (ungated, n_shared x ff wide). */
static int synth_layer_latent(struct synth_state *st, int il)
{
    const struct synth_cfg *c = st->cfg;
    int64_t d = c->d_model, h = c->n_heads, nope = c->head_dim, rope = c->rope_dim;
    int64_t kvl = c->kv_lora, ql = c->q_lora, qk = h * (nope + rope);
    int64_t ne = c->n_experts, ff = c->d_ff, sff = c->d_ff_shared, dff = c->d_ff_dense;
    int rc = synth_tensor(st, SK_NORM, 1, NE(d), "blk.%d.attn_norm.weight", il);
    if (ql > 0) {
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, ql), "blk.%d.attn_q_a.weight", il);
        rc |= synth_tensor(st, SK_NORM, 1, NE(ql), "blk.%d.attn_q_a_norm.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(ql, qk), "blk.%d.attn_q_b.weight", il);
    } else {
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, qk), "blk.%d.attn_q.weight", il);
    }
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, kvl + rope), "blk.%d.attn_kv_a_mqa.weight", il);
    rc |= synth_tensor(st, SK_NORM, 1, NE(kvl), "blk.%d.attn_kv_a_norm.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(nope, kvl, h), "blk.%d.attn_k_b.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(kvl, nope, h), "blk.%d.attn_v_b.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(h * nope, d), "blk.%d.attn_output.weight", il);
    rc |= synth_tensor(st, SK_NORM, 1, NE(d), "blk.%d.ffn_norm.weight", il);
    if (rc)
        return -1;
    if (il < c->n_dense_lead) {
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, dff), "blk.%d.ffn_gate.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, dff), "blk.%d.ffn_up.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(dff, d), "blk.%d.ffn_down.weight", il);
        return rc ? -1 : 0;
    }
    rc |= synth_tensor(st, SK_ROUTER, 2, NE(d, ne), "blk.%d.ffn_gate_inp.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(d, ff, ne), "blk.%d.ffn_gate_exps.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(d, ff, ne), "blk.%d.ffn_up_exps.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(ff, d, ne), "blk.%d.ffn_down_exps.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, sff), "blk.%d.ffn_gate_shexp.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, sff), "blk.%d.ffn_up_shexp.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(sff, d), "blk.%d.ffn_down_shexp.weight", il);
    return rc ? -1 : 0;
}

static int synth_layer(struct synth_state *st, int il)
{
    const struct synth_cfg *c = st->cfg;
    const struct synth_arch *a = c->arch;
    int64_t d = c->d_model, q = (int64_t)c->n_heads * c->head_dim;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t ne = c->n_experts, ff = c->d_ff, sff = c->d_ff_shared;
    int rc = 0;
    if (a->latent)
        return synth_layer_latent(st, il);
    rc |= synth_tensor(st, SK_NORM, 1, NE(d), "blk.%d.attn_norm.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, q), "blk.%d.attn_q.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, kv), "blk.%d.attn_k.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, kv), "blk.%d.attn_v.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 2, NE(q, d), "blk.%d.attn_output.weight", il);
    if (rc)
        return -1;
    if (a->qkv_bias) {
        rc |= synth_tensor(st, SK_BIAS, 1, NE(q), "blk.%d.attn_q.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 1, NE(kv), "blk.%d.attn_k.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 1, NE(kv), "blk.%d.attn_v.bias", il);
    }
    if (a->qk_norm_head || a->qk_norm_full) {
        int64_t qn = a->qk_norm_head ? c->head_dim : q, kn = a->qk_norm_head ? c->head_dim : kv;
        rc |= synth_tensor(st, SK_NORM, 1, NE(qn), "blk.%d.attn_q_norm.weight", il);
        rc |= synth_tensor(st, SK_NORM, 1, NE(kn), "blk.%d.attn_k_norm.weight", il);
    }
    if (a->gpt_oss) {
        rc |= synth_tensor(st, SK_BIAS, 1, NE(d), "blk.%d.attn_output.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 1, NE(c->n_heads), "blk.%d.attn_sinks.weight", il);
        rc |= synth_tensor(st, SK_NORM, 1, NE(d), "blk.%d.post_attention_norm.weight", il);
        rc |= synth_tensor(st, SK_BIAS, 1, NE(ne), "blk.%d.ffn_gate_inp.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 2, NE(ff, ne), "blk.%d.ffn_gate_exps.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 2, NE(ff, ne), "blk.%d.ffn_up_exps.bias", il);
        rc |= synth_tensor(st, SK_BIAS, 2, NE(d, ne), "blk.%d.ffn_down_exps.bias", il);
    } else {
        rc |= synth_tensor(st, SK_NORM, 1, NE(d), "blk.%d.ffn_norm.weight", il);
    }
    if (rc)
        return -1;
    if (c->n_experts == 0) {
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, ff), "blk.%d.ffn_gate.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, ff), "blk.%d.ffn_up.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(ff, d), "blk.%d.ffn_down.weight", il);
        return rc ? -1 : 0;
    }
    rc |= synth_tensor(st, SK_ROUTER, 2, NE(d, ne), "blk.%d.ffn_gate_inp.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(d, ff, ne), "blk.%d.ffn_gate_exps.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(d, ff, ne), "blk.%d.ffn_up_exps.weight", il);
    rc |= synth_tensor(st, SK_MATRIX, 3, NE(ff, d, ne), "blk.%d.ffn_down_exps.weight", il);
    if (rc)
        return -1;
    if (sff > 0) {
        if (a->shexp_gate)
            rc |= synth_tensor(st, SK_ROUTER, 1, NE(d), "blk.%d.ffn_gate_inp_shexp.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, sff), "blk.%d.ffn_gate_shexp.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(d, sff), "blk.%d.ffn_up_shexp.weight", il);
        rc |= synth_tensor(st, SK_MATRIX, 2, NE(sff, d), "blk.%d.ffn_down_shexp.weight", il);
    }
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- vocabulary */

/* A few merges of common English pairs, in rank order; each part is a byte token or the
 * result of an earlier merge. "\xc4\xa0" is U+0120, GPT-2's visible space. */
#define SP "\xc4\xa0"
static const char *const synth_merges[][2] = {
    { SP, "t" }, { SP, "a" }, { "h", "e" }, { "i", "n" }, { "r", "e" }, { "o", "n" },
    { SP "t", "he" }, { "e", "r" }, { SP, "s" }, { "a", "t" }, { "e", "n" }, { "o", "r" },
    { SP, "o" }, { SP, "w" }, { "n", "d" }, { "i", "t" }, { SP, "b" }, { "e", "s" },
    { SP, "c" }, { SP, "f" }, { "i", "s" }, { SP, "m" }, { "a", "n" }, { SP, "p" },
    { "o", "u" }, { SP, "d" }, { "e", "d" }, { SP, "h" }, { SP, "i" }, { SP, "l" },
    { "in", "g" }, { SP, "e" }, { SP "a", "nd" }, { SP "o", "f" }, { SP "t", "o" },
    { SP, "n" }, { "a", "r" }, { "l", "e" }, { SP, "r" }, { SP, "g" }, { SP, "y" },
    { SP, "T" }, { SP, "I" }, { SP, "A" }, { "l", "l" }, { "o", "m" }, { "a", "l" },
    { SP "i", "s" }, { SP "i", "n" }, { "e", "x" }, { SP "e", "x" }, { "er", "t" },
    { SP "ex", "p" }, { SP "exp", "ert" }, { SP "expert", "s" }, { "o", "k" },
};
#undef SP
enum { SYNTH_MAX_MERGES = sizeof synth_merges / sizeof synth_merges[0] };

static const char *const synth_specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };

static const char synth_chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the other 68
 * bytes take code points 256, 257, ... in byte order. Writes UTF-8 into out (3 bytes max). */
static void synth_byte_token(int b, char out[4])
{
    int cp = b;
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    if (!printable) {
        int k = 0;
        for (int i = 0; i < b; i++)
            if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255)))
                k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = '\0';
    }
}

/* The GPT-2 byte-map form of raw bytes: what the vocabulary stores for a piece whose
 * detokenized bytes are raw[0..n). out holds 2 * n + 1 bytes. */
static void synth_map_bytes(const char *raw, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char t[4];
        synth_byte_token((unsigned char)raw[i], t);
        for (int k = 0; t[k]; k++)
            out[o++] = t[k];
    }
    out[o] = '\0';
}

/* Filler word k: k + 1 in bijective base 90 over consonant-vowel syllables ("ka", "zu"),
 * so distinct k give distinct words; two of three take GPT-2's visible space in front. */
static void synth_filler(int k, char out[32])
{
    static const char cons[] = "bcdfghjklmnprstvwz", vow[] = "aeiou";
    char w[24];
    int n = 0;
    for (long v = (long)k + 1; v > 0 && n < 20; v = (v - 1) / 90) {
        int d = (int)((v - 1) % 90);
        w[n++] = vow[d % 5];
        w[n++] = cons[d / 5];
    }
    int o = 0;
    if (k % 3 != 0) {
        out[o++] = '\xc4';
        out[o++] = '\xa0';
    }
    while (n > 0)
        out[o++] = w[--n];
    out[o] = '\0';
}

static int synth_vocab(struct synth_state *st)
{
    const struct synth_cfg *c = st->cfg;
    int n_vocab = c->n_vocab, n_base = 256 + c->n_merges + 3;
    int n_host = c->hostile ? SYNTH_N_HOSTILE : 0;
    char(*bytes)[4] = malloc(256 * sizeof *bytes);
    char(*merged)[64] = malloc((size_t)(c->n_merges + 1) * sizeof *merged);
    char(*merge_txt)[64] = malloc((size_t)(c->n_merges + 1) * sizeof *merge_txt);
    char(*host)[64] = malloc((size_t)(n_host + 1) * sizeof *host);
    char(*fill)[32] = malloc((size_t)(n_vocab - n_base - n_host + 1) * sizeof *fill);
    const char **tokens = malloc((size_t)n_vocab * sizeof *tokens);
    const char **merges = malloc((size_t)(c->n_merges + 1) * sizeof *merges);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    int rc = -1;
    if (!bytes || !merged || !merge_txt || !host || !fill || !tokens || !merges || !types) {
        snprintf(st->err, sizeof st->err, "out of memory for the vocabulary");
        goto out;
    }
    for (int b = 0; b < 256; b++) {
        synth_byte_token(b, bytes[b]);
        tokens[b] = bytes[b];
        types[b] = 1; /* LLAMA_TOKEN_TYPE_NORMAL */
    }
    for (int i = 0; i < c->n_merges; i++) {
        snprintf(merged[i], sizeof merged[i], "%s%s", synth_merges[i][0], synth_merges[i][1]);
        snprintf(merge_txt[i], sizeof merge_txt[i], "%s %s", synth_merges[i][0],
                 synth_merges[i][1]);
        tokens[256 + i] = merged[i];
        types[256 + i] = 1;
        merges[i] = merge_txt[i];
    }
    for (int i = 0; i < 3; i++) {
        tokens[256 + c->n_merges + i] = synth_specials[i];
        types[256 + c->n_merges + i] = 3; /* LLAMA_TOKEN_TYPE_CONTROL */
    }
    for (int i = 0; i < n_host; i++) {
        synth_map_bytes(synth_hostile[i].s, synth_hostile[i].n, host[i]);
        tokens[n_base + i] = host[i];
        types[n_base + i] = 1; /* normal: the model may say it like any other text */
    }
    /* Filler words, skipping any that equals an earlier token (a merge such as "Ġre"). */
    int n_known = n_base + n_host, t = n_known;
    for (int k = 0; t < n_vocab; k++) {
        char *f = fill[t - n_known];
        synth_filler(k, f);
        bool dup = false;
        for (int j = 256; j < n_known && !dup; j++)
            dup = strcmp(tokens[j], f) == 0;
        if (dup)
            continue;
        tokens[t] = f;
        types[t++] = 1;
    }
    uint32_t eot = (uint32_t)(256 + c->n_merges), im_end = eot + 2;
    struct gguf_writer *w = st->w;
    gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_add_str(w, "tokenizer.ggml.pre", c->arch->pre);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n_vocab);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, (uint64_t)n_vocab);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)c->n_merges);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", eot);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", im_end);
    gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", eot);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);
    gguf_writer_add_str(w, "tokenizer.chat_template", synth_chatml);
    rc = 0;
out:
    free(bytes);
    free(merged);
    free(merge_txt);
    free(host);
    free(fill);
    free(tokens);
    free(merges);
    free(types);
    return rc;
}

/* ---------------------------------------------------------------- the model */

static void synth_keys(struct synth_state *st)
{
    const struct synth_cfg *c = st->cfg;
    const struct synth_arch *a = c->arch;
    struct gguf_writer *w = st->w;
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, a->gguf), k)
    gguf_writer_add_str(w, "general.architecture", a->gguf);
    gguf_writer_add_str(w, "general.name", c->name);
    gguf_writer_set_alignment(w, GGUF_DEFAULT_ALIGNMENT);
    /* llama_ftype (Q4_K_S 14 when pure) */
    uint32_t ftype = c->type == GGML_TYPE_Q4_K && c->pure ? 14 : synth_type_of(c->type)->ftype;
    gguf_writer_add_u32(w, "general.file_type", ftype);
    gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)c->n_ctx);
    gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)c->d_model);
    gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)c->n_layers);
    gguf_writer_add_u32(w, KEY("feed_forward_length"),
                        (uint32_t)(a->latent ? c->d_ff_dense : c->d_ff));
    gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads);
    gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    if (a->latent) {
        /* the absorbed layout: one KV head whose key is the latent and the RoPE part and
         * whose value is the latent; the per-head sizes in the _mla keys */
        gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)(c->kv_lora + c->rope_dim));
        gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)c->kv_lora);
        gguf_writer_add_u32(w, KEY("attention.key_length_mla"),
                            (uint32_t)(c->head_dim + c->rope_dim));
        gguf_writer_add_u32(w, KEY("attention.value_length_mla"), (uint32_t)c->head_dim);
        gguf_writer_add_u32(w, KEY("attention.q_lora_rank"), (uint32_t)c->q_lora);
        gguf_writer_add_u32(w, KEY("attention.kv_lora_rank"), (uint32_t)c->kv_lora);
        gguf_writer_add_u32(w, KEY("rope.dimension_count"), (uint32_t)c->rope_dim);
        gguf_writer_add_u32(w, KEY("vocab_size"), (uint32_t)c->n_vocab);
        gguf_writer_add_u32(w, KEY("leading_dense_block_count"), (uint32_t)c->n_dense_lead);
        gguf_writer_add_u32(w, KEY("expert_shared_count"), (uint32_t)c->n_shared);
        gguf_writer_add_u32(w, KEY("expert_gating_func"), 1); /* softmax, as V2 */
        gguf_writer_add_f32(w, KEY("expert_weights_scale"), 1.0f);
        /* DeepSeek-V2-Lite's YaRN: factor 40 over 4096, mscale_all_dim 0.707 */
        gguf_writer_add_str(w, KEY("rope.scaling.type"), "yarn");
        gguf_writer_add_f32(w, KEY("rope.scaling.factor"), 40.0f);
        gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"), 4096);
        gguf_writer_add_f32(w, KEY("rope.scaling.yarn_log_multiplier"), 0.0707f);
        gguf_writer_add_f32(w, KEY("rope.scaling.yarn_beta_fast"), 32.0f);
        gguf_writer_add_f32(w, KEY("rope.scaling.yarn_beta_slow"), 1.0f);
    } else if (c->head_dim * c->n_heads != c->d_model) {
        gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim);
        gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim);
    }
    gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    gguf_writer_add_f32(w, KEY("rope.freq_base"), c->rope_base);
    if (strcmp(a->gguf, "llama") == 0 || a->granite) {
        gguf_writer_add_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim);
        gguf_writer_add_u32(w, KEY("vocab_size"), (uint32_t)c->n_vocab);
    }
    if (c->n_experts > 0) {
        gguf_writer_add_u32(w, KEY("expert_count"), (uint32_t)c->n_experts);
        gguf_writer_add_u32(w, KEY("expert_used_count"), (uint32_t)c->n_experts_used);
        if (a->expert_ff_key)
            gguf_writer_add_u32(w, KEY("expert_feed_forward_length"), (uint32_t)c->d_ff);
        if (c->d_ff_shared > 0 && !a->latent)
            gguf_writer_add_u32(w, KEY("expert_shared_feed_forward_length"),
                                (uint32_t)c->d_ff_shared);
    }
    if (a->gpt_oss) {
        /* gpt-oss-20b's window and RoPE scaling */
        gguf_writer_add_u32(w, KEY("attention.sliding_window"), 128);
        gguf_writer_add_str(w, KEY("rope.scaling.type"), "yarn");
        gguf_writer_add_f32(w, KEY("rope.scaling.factor"), 32.0f);
        gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"), 4096);
    }
    if (a->granite) {
        /* The values of granite-3.0-1b-a400m, with the attention scale 1/head_dim. */
        gguf_writer_add_f32(w, KEY("embedding_scale"), 12.0f);
        gguf_writer_add_f32(w, KEY("residual_scale"), 0.22f);
        gguf_writer_add_f32(w, KEY("attention.scale"), 1.0f / (float)c->head_dim);
        gguf_writer_add_f32(w, KEY("logit_scale"), 6.0f);
    }
#undef KEY
}

static int synth_write(const struct synth_cfg *c, uint64_t *n_params, char *err, size_t errlen)
{
    struct synth_state st = { .cfg = c, .rng = { .s = c->seed } };
    int rc = -1;
    st.w = gguf_writer_new();
    if (!st.w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    synth_keys(&st);
    if (synth_vocab(&st))
        goto out;
    if (c->type != GGML_TYPE_F32)
        gguf_writer_add_u32(st.w, "general.quantization_version", 2);
    int64_t d = c->d_model, nv = c->n_vocab;
    if (synth_tensor(&st, SK_EMBED, 2, NE(d, nv), "token_embd.weight") ||
        synth_tensor(&st, SK_NORM, 1, NE(d), "output_norm.weight") ||
        synth_tensor(&st, SK_HEAD, 2, NE(d, nv), "output.weight"))
        goto out;
    for (int il = 0; il < c->n_layers; il++)
        if (synth_layer(&st, il))
            goto out;
    if (gguf_writer_write(st.w, c->out, err, errlen) == 0) {
        rc = 0;
        *n_params = st.n_params;
    }
out:
    if (rc && st.err[0])
        snprintf(err, errlen, "%s: %s", c->out, st.err);
    gguf_writer_free(st.w);
    for (size_t i = 0; i < st.n_bufs; i++)
        free(st.bufs[i]);
    free(st.bufs);
    return rc;
}

/* ---------------------------------------------------------------- command line */

static bool synth_quiet; /* tests set it: no messages at all */

static void synth_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void synth_say(const char *fmt, ...)
{
    if (synth_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void synth_usage(FILE *fp)
{
    fprintf(fp, "usage: synth [options] -o FILE\n"
          "Writes a random-weight GGUF model that llama.cpp can load.\n"
          "  --arch A          qwen2moe (default), qwen3moe, olmoe, mixtral, granitemoe,\n"
          "                    llama (dense, or mixtral with --experts N), qwen2 (dense),\n"
          "                    gpt-oss, deepseek2\n"
          "  --layers N        blocks (4)\n"
          "  --d-model N       embedding width (128)\n"
          "  --heads N         attention heads (4)\n"
          "  --kv-heads N      key/value heads (= heads)\n"
          "  --head-dim N      per-head width (d-model / heads)\n"
          "  --experts N       routed experts (8 for MoE families, 0 for dense)\n"
          "  --experts-used K  experts per token (2)\n"
          "  --ff N            expert FFN width, or the dense FFN width (256)\n"
          "  --shared-ff N     shared expert width (qwen2moe: = ff; granitemoe: 0 = none)\n"
          "  --shared N        deepseek2: shared experts, each --ff wide (1)\n"
          "  --dense-lead N    deepseek2: leading dense layers (0), of --dense-ff (2 x ff)\n"
          "  --kv-lora N       deepseek2: the KV latent's width (4 x head size); --q-lora N\n"
          "                    the query LoRA (0: attn_q); --rope-dim N (head size / 2)\n"
          "                    (--head-dim is a head's no-RoPE key and value width)\n"
          "  --vocab-bytes     byte-level BPE vocabulary (the only kind; the default)\n"
          "  --merges N        built-in merges to include (0 to %d; default all)\n"
          "  --vocab N         vocabulary size: filler words after the built-in tokens\n"
          "  --hostile         add terminal escapes, controls, bidi, zero-width and invalid\n"
          "                    UTF-8 pieces to the vocabulary, and make them likely\n"
          "  --ctx N           context length (512)\n"
          "  --type T          f32 (default), f16, q8_0, q4_0, q4_k (llama-quantize's\n"
          "                    Q4_0 and Q4_K_M mixes), iq4_nl, iq4_xs or mxfp4 (every matrix);\n"
          "                    norms, biases and routers stay f32\n"
          "  --pure            every matrix in --type, no mix\n"
          "  --rope-base F     RoPE frequency base (10000)\n"
          "  --dense-of WHAT   instead of the MoE model described, a dense one with as many\n"
          "                    active (k x ff + shared-ff) or total (n x ff + shared-ff) FFN\n"
          "                    parameters per layer (qwen2moe -> qwen2, others -> llama);\n"
          "                    attention, embeddings and norms as described, no router\n"
          "  --seed N          random seed (1)\n"
          "  --name S          general.name\n"
          "  -o FILE           output path\n",
            (int)SYNTH_MAX_MERGES);
}

static int synth_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        synth_say("synth: %s wants a whole number from %d to %d, not '%s'\n", flag, lo,
                hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int synth_check(struct synth_cfg *c, bool experts_given, bool shared_given)
{
    const struct synth_arch *a = c->arch;
    if (!c->out) {
        synth_say("synth: no output file: give -o FILE\n");
        return -1;
    }
    if (!experts_given)
        c->n_experts = a->moe ? 8 : 0;
    if (a->moe && c->n_experts == 0) {
        synth_say("synth: --arch %s needs --experts of 1 or more\n", a->flag);
        return -1;
    }
    if (!a->moe && c->n_experts > 0 && strcmp(a->gguf, "llama") != 0) {
        synth_say("synth: --arch %s is dense; use --experts 0\n", a->flag);
        return -1;
    }
    if (c->n_experts > 0 && (c->n_experts_used < 1 || c->n_experts_used > c->n_experts)) {
        synth_say("synth: --experts-used %d must be 1 to --experts (%d)\n",
                c->n_experts_used, c->n_experts);
        return -1;
    }
    if (a->latent)
        c->n_kv_heads = 1; /* the latent is one head shared by all */
    if (c->n_kv_heads == 0)
        c->n_kv_heads = c->n_heads;
    if (c->n_heads % c->n_kv_heads != 0) {
        synth_say("synth: --heads %d must be a multiple of --kv-heads %d\n", c->n_heads,
                c->n_kv_heads);
        return -1;
    }
    if (c->head_dim == 0) {
        if (c->d_model % c->n_heads != 0) {
            synth_say("synth: --d-model %d is not a multiple of --heads %d (or give "
                            "--head-dim)\n", c->d_model, c->n_heads);
            return -1;
        }
        c->head_dim = c->d_model / c->n_heads;
    }
    if (c->head_dim % 2 != 0) {
        synth_say("synth: the head size %d must be even for RoPE\n", c->head_dim);
        return -1;
    }
    if (a->qk_norm_full && (c->n_kv_heads != c->n_heads || c->head_dim * c->n_heads != c->d_model)) {
        synth_say("synth: olmoe's QK-norm spans d_model: it needs --kv-heads = --heads and "
                        "head size x heads = --d-model\n");
        return -1;
    }
    if (!a->latent && (c->n_dense_lead || c->d_ff_dense || c->kv_lora || c->q_lora ||
                       c->rope_dim || c->n_shared)) {
        synth_say("synth: --dense-lead, --dense-ff, --kv-lora, --q-lora, --rope-dim and "
                  "--shared are for --arch deepseek2\n");
        return -1;
    }
    if (a->latent) {
        if (shared_given) {
            synth_say("synth: --arch deepseek2 counts its shared experts: --shared N\n");
            return -1;
        }
        if (c->n_shared == 0)
            c->n_shared = 1;
        c->d_ff_shared = c->n_shared * c->d_ff;
        shared_given = true;
        if (c->kv_lora == 0)
            c->kv_lora = 4 * c->head_dim;
        if (c->rope_dim == 0)
            c->rope_dim = c->head_dim / 2;
        if (c->d_ff_dense == 0)
            c->d_ff_dense = 2 * c->d_ff;
        if (c->rope_dim % 2 || c->n_dense_lead >= c->n_layers) {
            synth_say("synth: --rope-dim must be even and --dense-lead below --layers\n");
            return -1;
        }
    }
    if (!shared_given)
        c->d_ff_shared = a->shexp && c->n_experts > 0 ? c->d_ff : 0;
    if (c->d_ff_shared > 0 && !a->shexp && !a->granite) {
        synth_say("synth: --arch %s has no shared expert; drop --shared-ff\n", a->flag);
        return -1;
    }
    if (a->shexp && c->d_ff_shared == 0) {
        synth_say("synth: --arch %s needs a shared expert: --shared-ff of 1 or more\n",
                a->flag);
        return -1;
    }
    if (c->type != GGML_TYPE_F32 && c->type != GGML_TYPE_F16) {
        int q = c->n_heads * c->head_dim;
        int widths[] = { c->d_model, c->d_ff, c->d_ff_shared, q, c->d_ff_dense, c->kv_lora,
                         c->q_lora };
        const char *names[] = { "--d-model", "--ff", "--shared-ff", "heads x head size",
                                "--dense-ff", "--kv-lora", "--q-lora" };
        for (int i = 0; i < 7; i++)
            if (widths[i] % 32 != 0) {
                synth_say("synth: --type %s needs rows that are multiples of 32, and "
                                "%s is %d\n", quant_traits(c->type)->name, names[i], widths[i]);
                return -1;
            }
        if ((c->pure && c->type == GGML_TYPE_Q4_K) || c->type == GGML_TYPE_IQ4_XS)
            for (int i = 0; i < 4; i++)
                if (widths[i] % 256 != 0 && (i != 2 || widths[i] > 0)) {
                    synth_say("synth: --type %s%s needs rows that are multiples of 256, "
                              "and %s is %d\n", quant_traits(c->type)->name,
                              c->pure ? " --pure" : "", names[i], widths[i]);
                    return -1;
                }
    }
    int need = 256 + c->n_merges + 3 + (c->hostile ? SYNTH_N_HOSTILE : 0);
    if (c->n_vocab_req && c->n_vocab_req < need) {
        synth_say("synth: --vocab %d is smaller than the %d tokens the vocabulary needs\n",
                  c->n_vocab_req, need);
        return -1;
    }
    c->n_vocab = c->n_vocab_req ? c->n_vocab_req : need;
    return 0;
}

/* The dense counterpart of a checked MoE shape (--dense-of): one FFN per layer as wide as
 * the k used (active) or all n (total) experts, plus the shared expert. */
static int synth_dense_of(struct synth_cfg *c, const char *what)
{
    if (c->n_experts == 0) {
        synth_say("synth: --dense-of needs an MoE shape to match (--experts N)\n");
        return -1;
    }
    const int n = !strcmp(what, "active") ? c->n_experts_used : c->n_experts;
    const bool qwen2 = !strcmp(c->arch->gguf, "qwen2moe");
    for (int k = 0; k < SYNTH_N_ARCHS; k++)
        if (!strcmp(synth_archs[k].flag, qwen2 ? "qwen2" : "llama"))
            c->arch = &synth_archs[k];
    c->d_ff = n * c->d_ff + c->d_ff_shared;
    c->d_ff_shared = 0;
    c->n_experts = 0;
    return synth_check(c, true, true);
}

static int synth_main(int argc, char **argv)
{
    struct synth_cfg c = {
        .arch = &synth_archs[0], .n_layers = 4, .d_model = 128, .n_heads = 4,
        .n_experts_used = 2, .d_ff = 256, .n_ctx = 512, .n_merges = SYNTH_MAX_MERGES,
        .type = GGML_TYPE_F32, .seed = 1, .rope_base = 10000.0f, .norm_eps = 1e-6f,
    };
    bool experts_given = false, shared_given = false;
    const char *dense_of = NULL;
    char default_name[64];
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            synth_usage(stdout);
            return 0;
        }
        if (!strcmp(f, "--vocab-bytes"))
            continue;
        if (!strcmp(f, "--hostile")) {
            c.hostile = true;
            continue;
        }
        if (!strcmp(f, "--pure")) {
            c.pure = true;
            continue;
        }
        if (i + 1 >= argc) {
            synth_say("synth: %s needs a value (see synth --help)\n", f);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(f, "--arch")) {
            c.arch = NULL;
            for (int k = 0; k < SYNTH_N_ARCHS; k++)
                if (!strcmp(v, synth_archs[k].flag))
                    c.arch = &synth_archs[k];
            if (!c.arch) {
                synth_say("synth: unknown --arch '%s' (qwen2moe, qwen3moe, olmoe, mixtral, "
                                "granitemoe, llama, qwen2, gpt-oss, deepseek2)\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--layers")) {
            rc = synth_int(f, v, 1, 1024, &c.n_layers);
        } else if (!strcmp(f, "--d-model")) {
            rc = synth_int(f, v, 2, 1 << 16, &c.d_model);
        } else if (!strcmp(f, "--heads")) {
            rc = synth_int(f, v, 1, 1024, &c.n_heads);
        } else if (!strcmp(f, "--kv-heads")) {
            rc = synth_int(f, v, 1, 1024, &c.n_kv_heads);
        } else if (!strcmp(f, "--head-dim")) {
            rc = synth_int(f, v, 2, 4096, &c.head_dim);
        } else if (!strcmp(f, "--experts")) {
            rc = synth_int(f, v, 0, 1024, &c.n_experts);
            experts_given = true;
        } else if (!strcmp(f, "--experts-used")) {
            rc = synth_int(f, v, 1, 1024, &c.n_experts_used);
        } else if (!strcmp(f, "--ff")) {
            rc = synth_int(f, v, 1, 1 << 18, &c.d_ff);
        } else if (!strcmp(f, "--shared-ff")) {
            rc = synth_int(f, v, 0, 1 << 18, &c.d_ff_shared);
            shared_given = true;
        } else if (!strcmp(f, "--shared")) {
            rc = synth_int(f, v, 1, 64, &c.n_shared);
        } else if (!strcmp(f, "--dense-lead")) {
            rc = synth_int(f, v, 0, 1024, &c.n_dense_lead);
        } else if (!strcmp(f, "--dense-ff")) {
            rc = synth_int(f, v, 1, 1 << 18, &c.d_ff_dense);
        } else if (!strcmp(f, "--kv-lora")) {
            rc = synth_int(f, v, 1, 65536, &c.kv_lora);
        } else if (!strcmp(f, "--q-lora")) {
            rc = synth_int(f, v, 0, 65536, &c.q_lora);
        } else if (!strcmp(f, "--rope-dim")) {
            rc = synth_int(f, v, 2, 4096, &c.rope_dim);
        } else if (!strcmp(f, "--merges")) {
            rc = synth_int(f, v, 0, SYNTH_MAX_MERGES, &c.n_merges);
        } else if (!strcmp(f, "--vocab")) {
            rc = synth_int(f, v, 1, 1 << 22, &c.n_vocab_req);
        } else if (!strcmp(f, "--ctx")) {
            rc = synth_int(f, v, 1, 1 << 24, &c.n_ctx);
        } else if (!strcmp(f, "--type")) {
            const struct synth_type *st = synth_type_named(v);
            if (!st) {
                synth_say("synth: --type is f32, f16, q8_0, q4_0, q4_k, iq4_nl, iq4_xs or "
                          "mxfp4, not '%s'\n", v);
                return 2;
            }
            c.type = st->type;
        } else if (!strcmp(f, "--rope-base")) {
            char *end;
            c.rope_base = strtof(v, &end);
            if (end == v || *end || !(c.rope_base > 0.0f)) {
                synth_say("synth: --rope-base wants a positive number, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--seed")) {
            char *end;
            errno = 0;
            c.seed = strtoull(v, &end, 10);
            if (errno || end == v || *end) {
                synth_say("synth: --seed wants a whole number, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--dense-of")) {
            if (strcmp(v, "active") && strcmp(v, "total")) {
                synth_say("synth: --dense-of is active or total, not '%s'\n", v);
                return 2;
            }
            dense_of = v;
        } else if (!strcmp(f, "--name")) {
            c.name = v;
        } else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            c.out = v;
        } else {
            synth_say("synth: unknown option '%s' (see synth --help)\n", f);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (synth_check(&c, experts_given, shared_given))
        return 2;
    if (dense_of && synth_dense_of(&c, dense_of))
        return 2;
    if (!c.name) {
        snprintf(default_name, sizeof default_name, "moescope synthetic %s", c.arch->flag);
        c.name = default_name;
    }
    char err[1024];
    uint64_t n_params = 0;
    if (synth_write(&c, &n_params, err, sizeof err)) {
        synth_say("synth: %s\n", err);
        return 1;
    }
    synth_say("synth: wrote %s (%s, %d layers, d_model %d, %d of %d experts, %llu "
                    "parameters)\n", c.out, c.arch->gguf, c.n_layers, c.d_model,
            c.n_experts ? c.n_experts_used : 0, c.n_experts, (unsigned long long)n_params);
    return 0;
}

#ifndef SYNTH_NO_MAIN
int main(int argc, char **argv)
{
    return synth_main(argc, argv);
}
#endif
