/* cli/cmd_info.c: `moescope info [MODEL] [--json]`: a model's architecture, shape, tokenizer,
 * tensor types, size, and the parameters and bytes one decode step reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli_format.h"
#include "commands.h"
#include "model_store.h"
#include "engine.h"
#include "text_escape.h"

static void info_usage(FILE *out)
{
    fprintf(out, "usage: moescope info [MODEL|URL] [--json]\n"
                 "Prints a GGUF model's architecture, shape, tokenizer and size, or what an\n"
                 "OpenAI-compatible server at URL serves and reports.\n"
                 "MODEL defaults to the built-in default model.\n%s", backend_args_usage);
}

/* "1 234 567", as the engine's messages group digits. */
static const char *info_num(uint64_t n, char buf[32])
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    int o = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ' ';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

/* A JSON string of bytes from a file or a file name, which need not be UTF-8. ASCII is
 * written as itself (quote, backslash and controls escaped), a well-formed UTF-8 character
 * as \uXXXX (a surrogate pair above U+FFFF), and a byte that is not UTF-8 as the text \xHH,
 * with a backslash of the original doubled so the two never mix (moescope(1), info). */
static void info_json_str(const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t n = strlen(str);
    putchar('"');
    while (n > 0) {
        uint32_t cp;
        int len = *p < 0x80 ? 1 : utf8_decode(p, n, &cp);
        if (*p == '"')
            fputs("\\\"", stdout);
        else if (*p == '\\')
            fputs("\\\\\\\\", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else if (*p < 0x80)
            putchar(*p);
        else if (len == 0)
            printf("\\\\x%02x", *p);
        else if (cp < 0x10000)
            printf("\\u%04x", (unsigned)cp);
        else
            printf("\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
                   0xdc00 + ((cp - 0x10000) & 0x3ff));
        len = len > 0 ? len : 1;
        p += len;
        n -= (size_t)len;
    }
    putchar('"');
}

static const char *info_type_name(int t)
{
    return engine_type_name((uint32_t)t);
}

/* {"path": ..., "name": ..., "arch": ... (the object is left open) */
static void info_json_head(const struct model_desc *d)
{
    printf("{\"path\": ");
    info_json_str(d->path);
    printf(", \"name\": ");
    info_json_str(d->name);
    printf(", \"arch\": ");
    info_json_str(d->arch);
}

/* "tensors": {"f32": 16, ...} */
static void info_json_tensors(const struct model_desc *d)
{
    printf("\"tensors\": {");
    bool first = true;
    for (int t = 0; t < 64; t++)
        if (d->tensors_per_type[t]) {
            printf("%s\"%s\": %u", first ? "" : ", ", info_type_name(t), d->tensors_per_type[t]);
            first = false;
        }
    printf("}");
}

/* The file's name, then its general.name (the file's words: shown, never obeyed). */
static void info_print_names(const struct model_desc *d)
{
    const char *base = strrchr(d->path, '/');
    base = base ? base + 1 : d->path;
    char shown[4 * sizeof d->path + 8];
    text_escape_line(base, strlen(base), shown, sizeof shown);
    printf("%s\n", shown);
    char name[4 * sizeof d->name + 8];
    text_escape_line(d->name, strlen(d->name), name, sizeof name);
    printf("  name           %s\n", name);
}

/* The file's size and version (and its parts), and its tensors by type. */
static void info_print_file(const struct model_desc *d)
{
    char a[32], b[32];
    printf("  file           %s bytes (%s), GGUF v%u", info_num(d->file_size, a),
           cli_format_bytes(d->file_size, b), d->gguf_version);
    if (d->n_files > 1)
        printf(", split into %d files", d->n_files);
    putchar('\n');
}

static void info_print_tensors(const struct model_desc *d)
{
    printf("  tensors       ");
    for (int t = 0; t < 64; t++)
        if (d->tensors_per_type[t])
            printf(" %s %u", info_type_name(t), d->tensors_per_type[t]);
    printf("\n");
}

static void info_print_json(const struct model_desc *d)
{
    info_json_head(d);
    printf(", \"gguf_version\": %u, \"file_size\": %llu, \"n_files\": %d", d->gguf_version,
           (unsigned long long)d->file_size, d->n_files);
    printf(", \"n_layers\": %d, \"d_model\": %d, \"n_heads\": %d, \"n_kv_heads\": %d"
           ", \"head_dim\": %d, \"n_ctx_train\": %d",
           d->n_layers, d->d_model, d->n_heads, d->n_kv_heads, d->head_dim, d->n_ctx_train);
    printf(", \"n_experts\": %d, \"n_experts_used\": %d, \"d_ff\": %d, \"d_ff_expert\": %d"
           ", \"n_shared_experts\": %d, \"d_ff_shared\": %d, \"n_dense_lead\": %d",
           d->n_experts, d->n_experts_used, d->d_ff, d->d_ff_expert, d->n_shared_experts,
           d->d_ff_shared, d->n_dense_lead);
    printf(", \"rope\": {\"style\": \"%s\", \"base\": %g, \"freq_scale\": %g}",
           d->rope_neox ? "neox" : "normal", (double)d->rope_base, (double)d->rope_scale);
    printf(", \"norm\": {\"kind\": \"rms\", \"eps\": %g, \"qk_norm\": %s}", (double)d->norm_eps,
           d->qk_norm ? "true" : "false");
    printf(", \"qkv_bias\": %s", d->qkv_bias ? "true" : "false");
    printf(", \"router\": {\"gating\": ");
    info_json_str(d->router);
    printf(", \"renormalize\": %s}", d->router_renorm ? "true" : "false");
    printf(", \"tokenizer\": {\"kind\": ");
    info_json_str(d->tokenizer);
    printf(", \"pre\": ");
    info_json_str(d->pretokenizer);
    printf(", \"n_vocab\": %d}, \"chat_template\": ", d->n_vocab);
    if (d->chat_family[0])
        info_json_str(d->chat_family);
    else
        printf("null");
    printf(", \"chat_style\": ");
    if (d->chat_style[0])
        info_json_str(d->chat_style);
    else
        printf("null");
    printf(", ");
    info_json_tensors(d);
    printf(", \"n_params\": %llu, \"n_active_params\": %llu, \"active_bytes\": %llu",
           (unsigned long long)d->n_params, (unsigned long long)d->n_active_params,
           (unsigned long long)d->active_bytes);
    printf(", \"kv_cache\": {\"bytes_per_token\": %llu, \"plain_bytes_per_token\": %llu"
           ", \"kv_lora_rank\": %d, \"q_lora_rank\": %d}}\n",
           (unsigned long long)d->kv_bytes_per_token,
           (unsigned long long)d->kv_bytes_per_token_plain, d->kv_lora_rank, d->q_lora_rank);
}

static void info_print_text(const struct model_desc *d)
{
    char a[32], b[32], c[32];
    info_print_names(d);
    printf("  architecture   %s%s\n", d->arch,
           !strcmp(d->arch, "llama") && d->n_experts ? " (mixtral-style experts)" : "");
    info_print_file(d);
    printf("  layers         %d\n", d->n_layers);
    printf("  d_model        %d\n", d->d_model);
    printf("  heads          %d, kv heads %d, head size %d\n", d->n_heads, d->n_kv_heads,
           d->head_dim);
    printf("  context        %d (trained)\n", d->n_ctx_train);
    if (d->n_experts) {
        printf("  experts        %d of %d, expert FFN %d\n", d->n_experts_used, d->n_experts,
               d->d_ff_expert);
        printf("  router         %s, top-k weights %srenormalised\n", d->router,
               d->router_renorm ? "" : "not ");
        if (d->n_shared_experts)
            printf("  shared experts %d, FFN %d\n", d->n_shared_experts, d->d_ff_shared);
        else
            printf("  shared experts none\n");
        if (d->n_dense_lead)
            printf("  dense layers   the first %d, FFN %d\n", d->n_dense_lead, d->d_ff);
    } else {
        printf("  experts        none (dense), FFN %d\n", d->d_ff);
    }
    printf("  RoPE           %s, base %g, frequency scale %g\n",
           d->rope_neox ? "neox (halves)" : "normal (pairs)", (double)d->rope_base,
           (double)d->rope_scale);
    printf("  norms          RMSNorm, eps %g%s%s\n", (double)d->norm_eps,
           d->qk_norm ? ", QK-norm" : "", d->qkv_bias ? ", QKV bias" : "");
    printf("  tokenizer      %s%s%s%s, %d tokens\n", d->tokenizer, d->pretokenizer[0] ? " (" : "",
           d->pretokenizer, d->pretokenizer[0] ? ")" : "", d->n_vocab);
    if (d->chat_family[0] && strcmp(d->chat_family, d->chat_style))
        printf("  chat template  %s (llama.cpp's %s)\n", d->chat_family, d->chat_style);
    else
        printf("  chat template  %s\n", d->chat_family[0] ? d->chat_family : "none recognised");
    info_print_tensors(d);
    printf("  parameters     %s\n", info_num(d->n_params, a));
    printf("  active/token   %s parameters, %s (%s bytes) read per decode step\n",
           info_num(d->n_active_params, b), cli_format_bytes(d->active_bytes, c),
           info_num(d->active_bytes, a));
    if (d->kv_lora_rank && d->kv_bytes_per_token != d->kv_bytes_per_token_plain)
        printf("  KV cache       %s bytes per token (F16 latent: kv_lora_rank %d + RoPE), "
               "a plain cache %s\n",
               info_num(d->kv_bytes_per_token, a), d->kv_lora_rank,
               info_num(d->kv_bytes_per_token_plain, b));
    else
        printf("  KV cache       %s bytes per token (F16)\n", info_num(d->kv_bytes_per_token, a));
    if (d->kv_lora_rank)
        printf("  attention      latent (MLA), kv_lora_rank %d, q_lora_rank %d%s\n",
               d->kv_lora_rank, d->q_lora_rank,
               d->kv_bytes_per_token == d->kv_bytes_per_token_plain
                   ? "; legacy attn_kv_b: run and cached as plain multi-head"
                   : "; absorbed (attn_k_b, attn_v_b): the cache holds the latent");
}

/* The types of tensors the engine cannot compute, as " iq2_xxs (120 tensors)" pieces. */
static void info_uncomputable(const struct model_desc *d, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int t = 0; t < 64 && o < len; t++)
        if (d->tensors_per_type[t] && !engine_type_computable((uint32_t)t))
            o += (size_t)snprintf(buf + o, len - o, "%s%s (%u tensors)", o ? ", " : "",
                                  info_type_name(t), d->tensors_per_type[t]);
}

/* A GGUF moescope cannot run: what the file says of itself, and why it cannot run. why is
 * model_describe's line without the path. */
static void info_print_unsupported(const struct model_desc *d, const char *why, bool json)
{
    char a[32], cannot[512];
    info_uncomputable(d, cannot, sizeof cannot);
    if (json) {
        info_json_head(d);
        printf(", \"runs\": false, \"unsupported\": ");
        info_json_str(why);
        printf(", \"uncomputable_types\": ");
        info_json_str(cannot);
        printf(", \"gguf_version\": %u, \"file_size\": %llu, \"n_files\": %d, "
               "\"n_layers\": %d, \"d_model\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, "
               "\"n_ctx_train\": %d, \"n_experts\": %d, \"n_experts_used\": %d, \"d_ff\": %d, "
               "\"d_ff_expert\": %d, \"n_vocab\": %d, \"n_params\": %llu, ",
               d->gguf_version, (unsigned long long)d->file_size, d->n_files, d->n_layers,
               d->d_model, d->n_heads, d->n_kv_heads, d->n_ctx_train, d->n_experts,
               d->n_experts_used, d->d_ff, d->d_ff_expert, d->n_vocab,
               (unsigned long long)d->n_params);
        info_json_tensors(d);
        printf("}\n");
        return;
    }
    char arch[4 * sizeof d->arch + 8], reason[4 * 1024 + 8];
    text_escape_line(d->arch, strlen(d->arch), arch, sizeof arch);
    text_escape_line(why, strlen(why), reason, sizeof reason);
    info_print_names(d);
    printf("  architecture   %s\n", d->arch[0] ? arch : "(general.architecture is missing)");
    printf("  runs           no: %s\n", reason);
    info_print_file(d);
    /* the shape as the keys give it (a 0 is a key the file does not have) */
    printf("  layers         %d\n", d->n_layers);
    printf("  d_model        %d\n", d->d_model);
    printf("  heads          %d, kv heads %d\n", d->n_heads, d->n_kv_heads);
    printf("  context        %d (trained)\n", d->n_ctx_train);
    if (d->n_experts)
        printf("  experts        %d of %d, expert FFN %d\n", d->n_experts_used, d->n_experts,
               d->d_ff_expert);
    else
        printf("  experts        none given, FFN %d\n", d->d_ff);
    printf("  tokenizer      %s%s%s%s, %d tokens\n", d->tokenizer[0] ? d->tokenizer : "none",
           d->pretokenizer[0] ? " (" : "", d->pretokenizer, d->pretokenizer[0] ? ")" : "",
           d->n_vocab);
    info_print_tensors(d);
    if (cannot[0])
        printf("  cannot compute %s\n", cannot);
    printf("  parameters     %s\n", info_num(d->n_params, a));
}

/* A server: what it serves, which family it is, and what it reports. */
static int info_remote(const struct backend_args *args, bool json)
{
    struct backend_params bp = { .args = *args };
    char err[1024];
    struct backend *b = backend_open(&bp, err, sizeof err);
    if (!b) {
        fprintf(stderr, "moescope info: %s\n", err);
        return 1;
    }
    const struct backend_info *in = backend_info(b);
    char missing[256];
    backend_missing_text(in->reports, missing, sizeof missing);
    if (json) {
        printf("{\"url\":");
        info_json_str(in->url);
        printf(",\"family\":");
        info_json_str(in->family);
        printf(",\"model\":");
        info_json_str(in->served_model);
        printf(",\"served\":");
        info_json_str(in->served_list);
        printf(",\"fingerprint\":");
        info_json_str(in->fingerprint);
        printf(",\"vocab\":%d,\"n_ctx_train\":%d,\"d_model\":%d,\"params\":%llu,"
               "\"insecure\":%s,\"missing\":", in->model.n_vocab, in->model.n_ctx_train,
               in->model.d_model, (unsigned long long)in->model.n_params,
               in->insecure ? "true" : "false");
        info_json_str(missing);
        printf("}\n");
    } else {
        char a[32];
        printf("%s (%s)\n", in->url, in->family);
        printf("  served model   %s\n", in->served_model);
        printf("  served         %s\n", in->served_list);
        if (in->fingerprint[0])
            printf("  fingerprint    %s\n", in->fingerprint);
        if (in->model.n_vocab)
            printf("  vocabulary     %s tokens\n", info_num((uint64_t)in->model.n_vocab, a));
        if (in->model.n_ctx_train)
            printf("  context        %s tokens (trained)\n",
                   info_num((uint64_t)in->model.n_ctx_train, a));
        if (in->model.n_params)
            printf("  parameters     %s\n", info_num(in->model.n_params, a));
        printf("  API key        %s\n", in->key_source[0] ? in->key_source : "none");
        if (in->insecure)
            printf("  TLS            INSECURE: the certificate is not checked (--insecure)\n");
        if (missing[0])
            printf("  %s\n", missing);
    }
    backend_close(b);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    struct backend_args args = { 0 };
    for (int i = 1; i < argc; i++) {
        char why[256];
        int took = backend_args_take(&args, argc, argv, &i, why, sizeof why);
        if (took < 0) {
            fprintf(stderr, "moescope info: %s\n", why);
            return 2;
        }
        if (took)
            continue;
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            info_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "moescope info: unknown option '%s'\n", argv[i]);
            info_usage(stderr);
            return 2;
        } else if (!path && !args.model) {
            path = argv[i];
        } else {
            fprintf(stderr, "moescope info: more than one model given ('%s', '%s')\n",
                    path ? path : args.model, argv[i]);
            return 2;
        }
    }
    if (path && args.model) {
        fprintf(stderr, "moescope info: more than one model given ('%s', '%s')\n", args.model,
                path);
        return 2;
    }
    if (!path)
        path = args.model;
    if (backend_is_url(path)) {
        args.model = path;
        return info_remote(&args, json);
    }
    char resolved[4096], err[1024];
    if (!path) {
        path = default_model_path();
    } else if (model_resolve(path, resolved, sizeof resolved, err, sizeof err) == 0) {
        path = resolved;
    } else {
        fprintf(stderr, "moescope info: %s\n", err);
        return 1;
    }
    struct model_desc *d = calloc(1, sizeof *d);
    if (!d) {
        fprintf(stderr, "moescope info: out of memory\n");
        return 1;
    }
    if (model_describe(path, d, err, sizeof err)) {
        /* Not runnable: describe what the file is, when it is a readable GGUF at all. */
        char err2[1024];
        if (model_describe_file(path, d, err2, sizeof err2)) {
            fprintf(stderr, "moescope: %s\n", err);
            free(d);
            return 1;
        }
        const size_t pl = strlen(d->path);
        const char *why = !strncmp(err, d->path, pl) && !strncmp(err + pl, ": ", 2)
                              ? err + pl + 2 : err;
        info_print_unsupported(d, why, json);
        free(d);
        return 0;
    }
    if (json)
        info_print_json(d);
    else
        info_print_text(d);
    free(d);
    return 0;
}
