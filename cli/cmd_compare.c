/* cli/cmd_compare.c: `moescope compare -m A -m B [-p TEXT | -f PROMPTS] [-n N] [-t T]
 * [--json]`: the same prompts through two models, one after the other, side by side: TTFT,
 * decode tokens/s, inter-token p50/p95/p99, the bytes one decode step reads (active) against
 * the whole file, the KV cache per token and the peak RSS. The seeds' "MoE against dense at
 * the same cost" is this table for a MoE model and a dense one (tools/synth --dense-of).
 *
 * Method, per model: open it, run the first prompt once as a warm-up (first touches of the
 * mapping are start-up, not speed), then each prompt: rewind, prefill it in one batch,
 * decode N tokens greedily (end-of-generation tokens do not stop it, so both models do the
 * same work). The figures come from the trace records (trace_stats.h): TTFT = the prompt's
 * forward time, the inter-token samples = the decode steps' forward times over every prompt.
 * Peak RSS is VmHWM from the model's opening on. --parallel LIST adds, per model, bench's
 * concurrency table (bench_parallel.c: many sequences batched in one engine) after the rest,
 * on an engine of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_parallel.h"
#include "cli_format.h"
#include "commands.h"
#include "engine.h"
#include "file_open.h"
#include "model_store.h"
#include "proc_mem.h"
#include "text_escape.h"
#include "trace_stats.h"

enum { COMPARE_MAX_PROMPTS = 256, COMPARE_MAX_LINE = 1 << 16 };

static const char compare_default_prompt[] =
    "The committee met on a grey morning to weigh the harbour plan once more. Some argued "
    "that the old sea wall would hold for another decade; others had seen the cracks.";

struct compare_opts {
    const char *model[2];
    int n_models;
    const char *prompt, *prompt_file;
    int n_gen, threads, ctx;
    int levels[BENCH_MAX_LEVELS];
    int n_levels;
    bool json;
};

struct compare_result {
    struct model_desc d;
    size_t prompt_tokens;      /* over every prompt */
    size_t n_itl;
    double ttft_ms;            /* mean over the prompts */
    double tg_tps, itl_p50, itl_p95, itl_p99;
    double rss_mib;            /* peak */
    struct bench_level par[BENCH_MAX_LEVELS]; /* --parallel's levels */
};

static void compare_usage(FILE *out)
{
    fprintf(out,
            "usage: moescope compare -m A -m B [-p TEXT | -f PROMPTS] [-n N] [-t T] [-c CTX]\n"
            "                        [--parallel N[,N...]] [--json]\n"
            "Runs the same prompts through models A and B and prints them side by side: TTFT,\n"
            "decode tokens/s, inter-token p50/p95/p99, bytes read per token against the whole\n"
            "file, KV cache bytes per token, peak RSS. PROMPTS is a file with one prompt a line.\n"
            "-n tokens to decode per prompt (64), -t threads (all cores), -c context (4096 at most).\n"
            "--parallel: each model's concurrency table too (moescope bench --parallel).\n");
}

static int compare_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "moescope compare: %s wants a whole number from %d to %d, not '%s'\n",
                flag, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int compare_args(int argc, char **argv, struct compare_opts *o)
{
    *o = (struct compare_opts){ .n_gen = 64 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            compare_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            o->json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "moescope compare: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (o->n_models == 2) {
                fprintf(stderr, "moescope compare: two models, not more ('%s')\n", v);
                return 2;
            }
            o->model[o->n_models++] = v;
        } else if (!strcmp(a, "-p")) {
            o->prompt = v;
        } else if (!strcmp(a, "-f")) {
            o->prompt_file = v;
        } else if (!strcmp(a, "-n")) {
            rc = compare_int(a, v, 1, 1 << 20, &o->n_gen);
        } else if (!strcmp(a, "-t")) {
            rc = compare_int(a, v, 1, 1024, &o->threads);
        } else if (!strcmp(a, "-c")) {
            rc = compare_int(a, v, 16, 1 << 20, &o->ctx);
        } else if (!strcmp(a, "--parallel")) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *t = strtok(buf, ","); t && rc == 0; t = strtok(NULL, ",")) {
                if (o->n_levels == BENCH_MAX_LEVELS) {
                    fprintf(stderr, "moescope compare: --parallel takes up to %d levels\n",
                            BENCH_MAX_LEVELS);
                    return 2;
                }
                rc = compare_int(a, t, 1, 64, &o->levels[o->n_levels++]);
            }
        } else {
            fprintf(stderr, "moescope compare: unknown option '%s'\n", a);
            compare_usage(stderr);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (o->n_models != 2) {
        fprintf(stderr, "moescope compare: give two models, -m A -m B\n");
        return 2;
    }
    if (o->prompt && o->prompt_file) {
        fprintf(stderr, "moescope compare: -p or -f, not both\n");
        return 2;
    }
    return -1;
}

/* The prompts: -p's text, each non-empty line of -f's file, or the built-in one. */
struct prompts {
    char *text[COMPARE_MAX_PROMPTS];
    int n;
};

static void prompts_free(struct prompts *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->text[i]);
    p->n = 0;
}

static int prompts_read(const struct compare_opts *o, struct prompts *p)
{
    p->n = 0;
    if (!o->prompt_file) {
        p->text[0] = strdup(o->prompt ? o->prompt : compare_default_prompt);
        p->n = p->text[0] ? 1 : 0;
        return p->n ? 0 : -1;
    }
    char why[128];
    int fd = file_open_regular(o->prompt_file, NULL, why, sizeof why);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        fprintf(stderr, "moescope compare: %s: %s\n", o->prompt_file, fd < 0 ? why : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        if (len > COMPARE_MAX_LINE || p->n == COMPARE_MAX_PROMPTS) {
            fprintf(stderr, "moescope compare: %s:%d: %s\n", o->prompt_file, lineno,
                    len > COMPARE_MAX_LINE ? "a prompt over 64 KiB" : "more than 256 prompts");
            rc = -1;
            break;
        }
        if (!(p->text[p->n] = strdup(line))) {
            rc = -1;
            break;
        }
        p->n++;
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "moescope compare: %s: read error\n", o->prompt_file);
        rc = -1;
    }
    if (rc == 0 && p->n == 0) {
        fprintf(stderr, "moescope compare: %s: no prompt in it (one a line)\n", o->prompt_file);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc)
        prompts_free(p);
    return rc;
}

/* One prompt: rewind, prefill, decode n_gen tokens. Adds its ITL samples (ms) to itl. */
static int compare_prompt(struct engine *e, struct trace_log *log, const char *text,
                          const struct compare_opts *o, double *ttft_ms, double *itl,
                          size_t *n_itl, size_t *n_prompt, char *err, size_t errlen)
{
    engine_rewind(e, 0);
    trace_log_clear(log);
    int n_ctx = engine_n_ctx(e);
    int32_t *toks = malloc(sizeof *toks * (size_t)n_ctx);
    if (!toks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = engine_tokenize(e, text, strlen(text), true, false, toks, n_ctx, err, errlen);
    if (n >= 0 && n + o->n_gen > n_ctx) {
        snprintf(err, errlen, "%d prompt + %d decoded tokens do not fit the context of %d", n,
                 o->n_gen, n_ctx);
        n = -1;
    }
    char piece[256];
    for (int i = 0; i < n; i++) {
        size_t len = engine_token_piece(e, toks[i], piece, sizeof piece);
        if (trace_log_push(log, toks[i], piece, len < sizeof piece ? len : 0, true) < 0) {
            snprintf(err, errlen, "out of memory");
            n = -1;
        }
    }
    free(toks);
    if (n < 0)
        return -1;
    if (engine_eval(e, log, err, errlen) != 0 || engine_sample(e, log, err, errlen) < 0)
        return -1;
    for (int i = 1; i < o->n_gen; i++)
        if (engine_eval(e, log, err, errlen) != 0 || engine_sample(e, log, err, errlen) < 0)
            return -1;
    struct trace_speed sp;
    if (trace_speed(log, 0, log->n, &sp) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *ttft_ms += sp.ttft_ms;
    *n_prompt += sp.n_prompt;
    for (size_t i = 0; i < log->n; i++)
        if (!log->tok[i].prompt && log->tok[i].fed)
            itl[(*n_itl)++] = (double)log->tok[i].ns_total / 1e6;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --parallel: the levels on an engine of their own, as bench runs them. */
static int compare_parallel(const char *path, const struct compare_opts *o,
                            struct compare_result *r, char *err, size_t errlen)
{
    const struct bench_parallel_opts po = { .model = path, .n_threads = o->threads,
                                            .n_prompt = 16, .n_gen = o->n_gen };
    struct engine *e = bench_parallel_open(&po, err, errlen);
    if (!e)
        return -1;
    int rc = 0;
    for (int i = 0; i < o->n_levels && rc == 0; i++)
        rc = bench_parallel_level(e, &po, o->levels[i], &r->par[i], err, errlen);
    engine_close(e);
    return rc;
}

static int compare_model(const char *path, const struct compare_opts *o, const struct prompts *p,
                         struct compare_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    proc_mem_reset_peak();
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = o->threads;
    ep.n_ctx = o->ctx;
    ep.sampler.temp = 0;
    struct engine *e = engine_open(&ep, err, errlen);
    if (!e)
        return -1;
    r->d = *engine_desc(e);
    struct trace_log log;
    double *itl = malloc(sizeof *itl * (size_t)p->n * (size_t)o->n_gen);
    int rc = -1;
    if (!itl || trace_log_init(&log, r->d.n_layers, r->d.n_experts, r->d.n_experts_used) != 0) {
        snprintf(err, errlen, "out of memory");
        free(itl);
        engine_close(e);
        return -1;
    }
    double ttft = 0;
    size_t n_itl = 0, n_prompt = 0;
    /* the warm-up: the first prompt once, its figures dropped */
    if (compare_prompt(e, &log, p->text[0], o, &ttft, itl, &n_itl, &n_prompt, err, errlen))
        goto out;
    ttft = 0;
    n_itl = n_prompt = 0;
    for (int i = 0; i < p->n; i++)
        if (compare_prompt(e, &log, p->text[i], o, &ttft, itl, &n_itl, &n_prompt, err, errlen))
            goto out;
    r->prompt_tokens = n_prompt;
    r->ttft_ms = ttft / p->n;
    r->n_itl = n_itl;
    double sum = 0;
    for (size_t i = 0; i < n_itl; i++)
        sum += itl[i];
    r->tg_tps = sum > 0 ? (double)n_itl / (sum / 1e3) : 0;
    qsort(itl, n_itl, sizeof *itl, cmp_double);
    r->itl_p50 = trace_percentile(itl, n_itl, 50);
    r->itl_p95 = trace_percentile(itl, n_itl, 95);
    r->itl_p99 = trace_percentile(itl, n_itl, 99);
    long rss, hwm;
    proc_mem_rss(&rss, &hwm);
    r->rss_mib = hwm / 1024.0;
    rc = 0;
out:
    free(itl);
    trace_log_free(&log);
    engine_close(e);
    return rc;
}

/* ---- output ---- */

static void compare_shape(const struct model_desc *d, char *buf, size_t n)
{
    if (d->n_experts)
        snprintf(buf, n, "%s, %d layers, %d of %d experts", d->arch, d->n_layers,
                 d->n_experts_used, d->n_experts);
    else
        snprintf(buf, n, "%s, %d layers, dense", d->arch, d->n_layers);
}

static void compare_row(const char *what, double a, double b, const char *fmt)
{
    char x[32], y[32];
    snprintf(x, sizeof x, fmt, a);
    snprintf(y, sizeof y, fmt, b);
    printf("%-22s %22s %22s", what, x, y);
    if (a > 0)
        printf(" %8.2fx", b / a);
    printf("\n");
}

static void compare_text(const struct compare_result *r, const struct compare_opts *o, int n_prompts)
{
    char name[2][4 * sizeof r->d.name + 8], shape[2][96];
    for (int m = 0; m < 2; m++) {
        text_escape_line(r[m].d.name, strlen(r[m].d.name), name[m], sizeof name[m]);
        compare_shape(&r[m].d, shape[m], sizeof shape[m]);
        printf("%s  %s (%s)\n", m ? "B" : "A", name[m], shape[m]);
    }
    printf("%d prompt%s, %d tokens decoded after each, greedy; B/A is B's figure over A's\n\n",
           n_prompts, n_prompts == 1 ? "" : "s", o->n_gen);
    printf("%-22s %22s %22s %9s\n", "", "A", "B", "B/A");
    compare_row("prompt tokens", (double)r[0].prompt_tokens, (double)r[1].prompt_tokens, "%.0f");
    compare_row("TTFT ms (mean)", r[0].ttft_ms, r[1].ttft_ms, "%.1f");
    compare_row("decode tok/s", r[0].tg_tps, r[1].tg_tps, "%.1f");
    compare_row("inter-token p50 ms", r[0].itl_p50, r[1].itl_p50, "%.2f");
    compare_row("inter-token p95 ms", r[0].itl_p95, r[1].itl_p95, "%.2f");
    compare_row("inter-token p99 ms", r[0].itl_p99, r[1].itl_p99, "%.2f");
    compare_row("active MB per token", r[0].d.active_bytes / 1e6, r[1].d.active_bytes / 1e6, "%.1f");
    compare_row("total MB (file)", r[0].d.file_size / 1e6, r[1].d.file_size / 1e6, "%.1f");
    compare_row("parameters, millions", r[0].d.n_params / 1e6, r[1].d.n_params / 1e6, "%.1f");
    compare_row("active params, millions", r[0].d.n_active_params / 1e6,
                r[1].d.n_active_params / 1e6, "%.1f");
    compare_row("KV kB per token", r[0].d.kv_bytes_per_token / 1e3,
                r[1].d.kv_bytes_per_token / 1e3, "%.1f");
    compare_row("peak RSS MiB", r[0].rss_mib, r[1].rss_mib, "%.1f");
    if (!o->n_levels)
        return;
    printf("\nconcurrency: 16 prompt + %d sampled tokens per request, all arriving at once "
           "(moescope bench --parallel)\n", o->n_gen);
    for (int m = 0; m < 2; m++) {
        printf("\n%s  %s\n", m ? "B" : "A", name[m]);
        bench_levels_head(false, true, false);
        for (int i = 0; i < o->n_levels; i++)
            bench_levels_row(&r[m].par[i], i, false, false);
    }
    printf("\n");
    for (int i = 0; i < o->n_levels; i++) {
        char what[48];
        snprintf(what, sizeof what, "tg tok/s at %d", o->levels[i]);
        compare_row(what, r[0].par[i].tg_tps, r[1].par[i].tg_tps, "%.1f");
    }
    bench_levels_foot(false, true);
}

static void compare_json(const struct compare_result *r, const struct compare_opts *o, int n_prompts)
{
    printf("{\"prompts\":%d,\"n_gen\":%d,\"models\":[", n_prompts, o->n_gen);
    for (int m = 0; m < 2; m++) {
        const struct model_desc *d = &r[m].d;
        char name[4 * sizeof d->name + 8];
        text_escape_line(d->name, strlen(d->name), name, sizeof name);
        printf("%s{\"arch\":\"%s\",\"layers\":%d,\"experts\":%d,\"experts_used\":%d,"
               "\"prompt_tokens\":%zu,\"ttft_ms\":%.3f,\"tg_tps\":%.2f,\"itl_p50_ms\":%.3f,"
               "\"itl_p95_ms\":%.3f,\"itl_p99_ms\":%.3f,\"active_bytes\":%llu,"
               "\"total_bytes\":%llu,\"n_params\":%llu,\"n_active_params\":%llu,"
               "\"kv_bytes_per_token\":%llu,\"rss_mib\":%.1f",
               m ? "," : "", d->arch, d->n_layers, d->n_experts, d->n_experts_used,
               r[m].prompt_tokens, r[m].ttft_ms, r[m].tg_tps, r[m].itl_p50, r[m].itl_p95,
               r[m].itl_p99, (unsigned long long)d->active_bytes,
               (unsigned long long)d->file_size, (unsigned long long)d->n_params,
               (unsigned long long)d->n_active_params,
               (unsigned long long)d->kv_bytes_per_token, r[m].rss_mib);
        if (o->n_levels) {
            printf(",");
            bench_levels_head(true, true, false);
            for (int i = 0; i < o->n_levels; i++)
                bench_levels_row(&r[m].par[i], i, true, false);
            printf("]");
        }
        printf("}");
    }
    printf("]}\n");
}

int cmd_compare(int argc, char **argv)
{
    struct compare_opts o;
    int rc = compare_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char err[1024], path[2][1024];
    for (int m = 0; m < 2; m++) {
        if (strstr(o.model[m], "://")) {
            fprintf(stderr, "moescope compare: %s: compare runs model files in this process, "
                            "not servers\n", o.model[m]);
            return 2;
        }
        if (model_resolve(o.model[m], path[m], sizeof path[m], err, sizeof err) != 0) {
            fprintf(stderr, "moescope compare: %s\n", err);
            return 1;
        }
    }
    struct prompts p;
    if (prompts_read(&o, &p) != 0)
        return 1;
    struct compare_result r[2];
    rc = 0;
    for (int m = 0; m < 2 && rc == 0; m++)
        if (compare_model(path[m], &o, &p, &r[m], err, sizeof err) != 0 ||
            compare_parallel(path[m], &o, &r[m], err, sizeof err) != 0) {
            fprintf(stderr, "moescope compare: %s: %s\n", path[m], err);
            rc = 1;
        }
    if (rc == 0) {
        if (o.json)
            compare_json(r, &o, p.n);
        else
            compare_text(r, &o, p.n);
    }
    prompts_free(&p);
    return rc;
}
