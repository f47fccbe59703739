/* cli/cmd_analyze.c: `moescope analyze SESSION [--cache-experts N | --cache-mb M] [-m MODEL]
 * [--json]`: a saved session's routing replayed through an expert cache (LRU and optimal,
 * sessions/expert_cache.h) and its co-activation (sessions/coactivation.h). No model runs:
 * the sizes come from the session's model record, or from MODEL's header with -m. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coactivation.h"
#include "commands.h"
#include "engine.h"
#include "expert_cache.h"
#include "json_out.h"
#include "session.h"

enum { ANALYZE_TOP_PAIRS = 3, ANALYZE_MIN_COUNT = 5 };
static const double analyze_targets[2] = { 0.90, 0.99 };

struct analyze_opts {
    const char *session, *model;
    long long cache_experts; /* -1: not given */
    double cache_mb;         /* < 0: not given */
    bool json;
};

/* One policy's figures for one replay (a layer alone, or every layer in one cache). */
struct policy_figures {
    uint64_t hits, touches;  /* in the shared cache of the chosen size */
    size_t smallest[2];      /* for analyze_targets, in experts; 0 = not reached */
};

struct layer_figures {
    int layer;               /* -1: every layer */
    struct policy_figures pol[CACHE_POLICY_COUNT];
    struct coact co;         /* per layer only */
};

struct analysis {
    const struct session *s;
    uint64_t expert_bytes;   /* 0: unknown */
    const char *bytes_from;  /* "the session", MODEL's path, or NULL */
    size_t slots, n_items, n_steps;
    int n_routed;            /* layers with touches */
    struct layer_figures *layer; /* (n_routed + 1): the routed layers, then "all" */
};

static void analyze_usage(FILE *out)
{
    fprintf(out,
            "usage: moescope analyze SESSION [--cache-experts N | --cache-mb M] [-m MODEL] [--json]\n"
            "Replays a saved session's routing through an expert cache of N experts (or M MB),\n"
            "shared by every layer (default: half the experts), with LRU and the optimal policy:\n"
            "hit rate, bytes read from storage per token, and the smallest cache reaching 90%%\n"
            "and 99%% hits, per layer and overall; then which experts fire together in the same\n"
            "token and in consecutive tokens, against chance. -m MODEL reads the experts' size\n"
            "from MODEL's header when the session does not record it.\n");
}

static int analyze_args(int argc, char **argv, struct analyze_opts *o)
{
    *o = (struct analyze_opts){ .cache_experts = -1, .cache_mb = -1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            analyze_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            o->json = true;
            continue;
        }
        bool takes = !strcmp(a, "--cache-experts") || !strcmp(a, "--cache-mb") ||
                     !strcmp(a, "-m") || !strcmp(a, "--model");
        if (takes && i + 1 >= argc) {
            fprintf(stderr, "moescope analyze: %s wants a value\n", a);
            return 2;
        }
        char *end;
        if (!strcmp(a, "--cache-experts")) {
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 100000000) {
                fprintf(stderr, "moescope analyze: --cache-experts wants a count of 1 or more, not '%s'\n",
                        argv[i]);
                return 2;
            }
            o->cache_experts = v;
        } else if (!strcmp(a, "--cache-mb")) {
            double v = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(v > 0) || v > 1e9) {
                fprintf(stderr, "moescope analyze: --cache-mb wants a size in MB above 0, not '%s'\n",
                        argv[i]);
                return 2;
            }
            o->cache_mb = v;
        } else if (takes) {
            o->model = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "moescope analyze: unknown option '%s'\n", a);
            analyze_usage(stderr);
            return 2;
        } else if (o->session) {
            fprintf(stderr, "moescope analyze: one session at a time ('%s' and '%s')\n",
                    o->session, a);
            return 2;
        } else {
            o->session = a;
        }
    }
    if (!o->session) {
        analyze_usage(stderr);
        return 2;
    }
    if (o->cache_experts > 0 && o->cache_mb > 0) {
        fprintf(stderr, "moescope analyze: --cache-experts or --cache-mb, not both\n");
        return 2;
    }
    return -1; /* go on */
}

/* The experts' size: the session's record, else MODEL's header (checked against the
 * session's shape). 0 and nothing printed when neither has it; -1 after a message. */
static int analyze_sizes(struct analysis *a, const struct analyze_opts *o)
{
    const struct session_model *m = &a->s->model;
    if (!o->model) {
        a->expert_bytes = m->expert_bytes;
        a->bytes_from = m->expert_bytes ? "the session" : NULL;
        return 0;
    }
    struct model_desc d;
    char err[1024];
    if (model_describe(o->model, &d, err, sizeof err) != 0) {
        fprintf(stderr, "moescope analyze: %s\n", err);
        return -1;
    }
    if (d.n_layers != m->n_layers || d.n_experts != m->n_experts) {
        fprintf(stderr,
                "moescope analyze: %s has %d layers of %d experts, but the session's model has "
                "%d of %d\n", o->model, d.n_layers, d.n_experts, m->n_layers, m->n_experts);
        return -1;
    }
    if (!d.expert_bytes) {
        fprintf(stderr, "moescope analyze: %s has no routed experts\n", o->model);
        return -1;
    }
    a->expert_bytes = d.expert_bytes;
    a->bytes_from = o->model;
    return 0;
}

/* The smallest caches of one replay, for both policies and both targets. */
static int analyze_smallest(const struct cache_replay *r, struct layer_figures *f)
{
    for (int p = 0; p < CACHE_POLICY_COUNT; p++)
        for (int t = 0; t < 2; t++)
            if (cache_replay_smallest(r, (enum cache_policy)p, analyze_targets[t],
                                      &f->pol[p].smallest[t]) != 0)
                return -1;
    return 0;
}

/* Every figure: the shared cache once per policy (its per-layer hits give each layer's hit
 * rate, their sum the overall one), then each routed layer alone for its smallest cache and
 * co-activation. */
static int analyze_compute(struct analysis *a)
{
    const struct trace_log *log = &a->s->log;
    struct cache_replay all;
    if (cache_replay_init(&all, log, 0, log->n, -1) != 0)
        return -1;
    a->n_steps = all.n_steps;
    const size_t nl = (size_t)log->n_layers;
    uint64_t *hits = calloc(CACHE_POLICY_COUNT * nl + 1, sizeof *hits);
    uint64_t *touches = calloc(nl + 1, sizeof *touches);
    a->layer = calloc(nl + 1, sizeof *a->layer);
    int rc = hits && touches && a->layer ? 0 : -1;
    if (rc == 0)
        cache_replay_run(&all, CACHE_LRU, 0, hits, touches); /* only for touches[] */
    for (int l = 0; l < log->n_layers && rc == 0; l++)
        if (touches[l]) {
            a->layer[a->n_routed++].layer = l;
            a->n_items += (size_t)log->n_experts;
        }
    if (a->slots == 0)
        a->slots = a->n_items / 2 ? a->n_items / 2 : 1;
    struct layer_figures *overall = rc == 0 ? &a->layer[a->n_routed] : NULL;
    for (int p = 0; p < CACHE_POLICY_COUNT && rc == 0; p++)
        if (cache_replay_run(&all, (enum cache_policy)p, a->slots, hits + (size_t)p * nl,
                             touches) < 0)
            rc = -1;
    for (int i = 0; i < a->n_routed && rc == 0; i++) {
        struct layer_figures *f = &a->layer[i];
        for (int p = 0; p < CACHE_POLICY_COUNT; p++) {
            f->pol[p].hits = hits[(size_t)p * nl + (size_t)f->layer];
            f->pol[p].touches = touches[f->layer];
            overall->pol[p].hits += f->pol[p].hits;
            overall->pol[p].touches += f->pol[p].touches;
        }
        struct cache_replay one;
        if (cache_replay_init(&one, log, 0, log->n, f->layer) != 0)
            rc = -1;
        else if (analyze_smallest(&one, f) != 0 ||
                 coact_count(&f->co, log, 0, log->n, f->layer) != 0)
            rc = -1;
        cache_replay_free(&one);
    }
    if (rc == 0) {
        overall->layer = -1;
        rc = analyze_smallest(&all, overall);
    }
    cache_replay_free(&all);
    free(hits);
    free(touches);
    return rc;
}

static void analysis_free(struct analysis *a)
{
    if (a->layer)
        for (int i = 0; i <= a->n_routed; i++)
            coact_free(&a->layer[i].co);
    free(a->layer);
}

static double rate_of(const struct policy_figures *p)
{
    return p->touches ? (double)p->hits / (double)p->touches : 0;
}

/* Bytes read from storage per replayed token: the misses times one expert's size. */
static double bytes_per_token(const struct analysis *a, const struct policy_figures *p)
{
    return a->n_steps ? (double)(p->touches - p->hits) * (double)a->expert_bytes /
                            (double)a->n_steps
                      : 0;
}

/* ---- text ---- */

static void text_smallest(const struct policy_figures *p, char buf[64])
{
    char x[2][24];
    for (int t = 0; t < 2; t++)
        snprintf(x[t], sizeof x[t], p->smallest[t] ? "%zu" : "-", p->smallest[t]);
    snprintf(buf, 64, "%s | %s", x[0], x[1]);
}

static void text_row(const struct analysis *a, const struct layer_figures *f)
{
    char name[16], bytes[CACHE_POLICY_COUNT][24], small[CACHE_POLICY_COUNT][48];
    snprintf(name, sizeof name, f->layer < 0 ? "all" : "%d", f->layer);
    for (int p = 0; p < CACHE_POLICY_COUNT; p++) {
        if (a->expert_bytes)
            snprintf(bytes[p], sizeof bytes[p], "%.2f", bytes_per_token(a, &f->pol[p]) / 1e6);
        else
            snprintf(bytes[p], sizeof bytes[p], "?");
        text_smallest(&f->pol[p], small[p]);
    }
    printf("%5s  %6.1f%% %7.1f%%  %9s %9s  %13s %13s\n", name, 100 * rate_of(&f->pol[0]),
           100 * rate_of(&f->pol[1]), bytes[0], bytes[1], small[0], small[1]);
}

static void text_pairs(const struct coact *c, int next_token, int pad)
{
    struct coact_pair top[ANALYZE_TOP_PAIRS];
    size_t n = coact_top(c, next_token, ANALYZE_MIN_COUNT, top, ANALYZE_TOP_PAIRS);
    int w = 0;
    for (size_t i = 0; i < n; i++)
        w += printf("  %d%s%d x%.2f (%u)", top[i].a, next_token ? ">" : "+", top[i].b,
                    top[i].lift, top[i].count);
    if (n == 0)
        w += printf("  none seen %d times", ANALYZE_MIN_COUNT);
    printf("%*s", w < pad ? pad - w : 0, "");
}

static void analyze_text(const struct analysis *a, const char *path)
{
    const struct session_model *m = &a->s->model;
    printf("%s: %s%s%s%s, %d layers, %d experts, k = %d; %zu routed tokens replayed\n", path,
           m->name[0] ? m->name : m->file, m->arch[0] ? " (" : "", m->arch,
           m->arch[0] ? ")" : "", m->n_layers, m->n_experts, m->n_experts_used, a->n_steps);
    if (a->expert_bytes)
        printf("one expert: %.2f MB (from %s); cache: %zu of %zu experts = %.1f MB, shared by every layer\n",
               a->expert_bytes / 1e6, a->bytes_from, a->slots, a->n_items,
               (double)a->slots * (double)a->expert_bytes / 1e6);
    else
        printf("one expert: size unknown (the session does not record model.expert_bytes; -m MODEL "
               "reads it from the model's header); cache: %zu of %zu experts, shared by every layer\n",
               a->slots, a->n_items);
    printf("\n       hit rate           MB read per token    smallest cache, experts, for 90%% | 99%% hits\n"
           "layer     lru  optimal        lru  optimal            lru       optimal\n");
    for (int i = 0; i <= a->n_routed; i++)
        text_row(a, &a->layer[i]);
    printf("(a layer's smallest cache holds its own experts alone; '-': not reached, as the first\n"
           " touch of each expert always misses)\n");
    printf("\nco-activation: lift = how much more often than chance (each expert at its own rate);\n"
           "pairs seen at least %d times\n"
           "layer  repeat (chance)  same token: a+b lift (count)%26snext token: a>b lift (count)\n",
           ANALYZE_MIN_COUNT, "");
    for (int i = 0; i < a->n_routed; i++) {
        const struct coact *c = &a->layer[i].co;
        double rs = coact_repeat_share(c), rc = coact_repeat_chance(c);
        printf("%5d  ", c->layer);
        if (isnan(rs))
            printf("%-17s", "-");
        else
            printf("%5.1f%% (%5.1f%%)  ", 100 * rs, 100 * rc);
        text_pairs(c, 0, 54);
        text_pairs(c, 1, 0);
        printf("\n");
    }
}

/* ---- JSON ---- */

static void json_policy(struct json_out *o, const struct analysis *a,
                        const struct policy_figures *p)
{
    json_fmt(o, "{\"hit_rate\":%.6f,\"hits\":%llu,\"touches\":%llu,", rate_of(p),
             (unsigned long long)p->hits, (unsigned long long)p->touches);
    if (a->expert_bytes)
        json_fmt(o, "\"bytes_per_token\":%.0f,", bytes_per_token(a, p));
    else
        json_str(o, "\"bytes_per_token\":null,");
    for (int t = 0; t < 2; t++) {
        json_fmt(o, "%s\"smallest_%d\":", t ? "," : "", (int)lround(analyze_targets[t] * 100));
        if (p->smallest[t])
            json_fmt(o, "%zu", p->smallest[t]);
        else
            json_str(o, "null");
    }
    json_str(o, "}");
}

static void json_num_or_null(struct json_out *o, const char *key, double v)
{
    if (isnan(v))
        json_fmt(o, "\"%s\":null", key);
    else
        json_fmt(o, "\"%s\":%.6f", key, v);
}

static void json_pairs(struct json_out *o, const struct coact *c, int next_token)
{
    struct coact_pair top[ANALYZE_TOP_PAIRS];
    size_t n = coact_top(c, next_token, ANALYZE_MIN_COUNT, top, ANALYZE_TOP_PAIRS);
    json_fmt(o, "\"%s\":[", next_token ? "next_token" : "same_token");
    for (size_t i = 0; i < n; i++)
        json_fmt(o, "%s{\"a\":%d,\"b\":%d,\"count\":%u,\"lift\":%.6f}", i ? "," : "",
                 top[i].a, top[i].b, top[i].count, top[i].lift);
    json_str(o, "]");
}

static void json_layer(struct json_out *o, const struct analysis *a, const struct layer_figures *f)
{
    if (f->layer >= 0)
        json_fmt(o, "{\"layer\":%d,", f->layer);
    else
        json_str(o, "{");
    for (int p = 0; p < CACHE_POLICY_COUNT; p++) {
        json_fmt(o, "\"%s\":", cache_policy_names[p]);
        json_policy(o, a, &f->pol[p]);
        json_str(o, ",");
    }
    if (f->layer < 0) {
        o->len--; /* the last comma: "all" has no co-activation */
        json_str(o, "}");
        return;
    }
    const struct coact *c = &f->co;
    json_fmt(o, "\"coactivation\":{\"tokens\":%u,\"pairs\":%u,", c->n_tokens, c->n_pairs);
    json_num_or_null(o, "repeat_share", coact_repeat_share(c));
    json_str(o, ",");
    json_num_or_null(o, "repeat_chance", coact_repeat_chance(c));
    json_str(o, ",");
    json_pairs(o, c, 0);
    json_str(o, ",");
    json_pairs(o, c, 1);
    json_str(o, "}}");
}

static int analyze_json(const struct analysis *a, const char *path)
{
    const struct session_model *m = &a->s->model;
    struct json_out o = json_out_growing();
    json_str(&o, "{\"session\":");
    json_string(&o, path, strlen(path), JSON_BAD_AS_FFFD);
    json_str(&o, ",\"model\":");
    json_string(&o, m->name[0] ? m->name : m->file, strlen(m->name[0] ? m->name : m->file),
                JSON_BAD_AS_FFFD);
    json_fmt(&o, ",\"layers\":%d,\"experts\":%d,\"experts_used\":%d,\"tokens\":%zu,",
             m->n_layers, m->n_experts, m->n_experts_used, a->n_steps);
    if (a->expert_bytes) {
        json_fmt(&o, "\"expert_bytes\":%llu,\"expert_bytes_from\":",
                 (unsigned long long)a->expert_bytes);
        json_string(&o, a->bytes_from, strlen(a->bytes_from), JSON_BAD_AS_FFFD);
        json_fmt(&o, ",\"cache_bytes\":%llu,",
                 (unsigned long long)a->slots * (unsigned long long)a->expert_bytes);
    } else {
        json_str(&o, "\"expert_bytes\":null,\"expert_bytes_from\":null,\"cache_bytes\":null,");
    }
    json_fmt(&o, "\"cache_experts\":%zu,\"experts_total\":%zu,\"per_layer\":[", a->slots,
             a->n_items);
    for (int i = 0; i < a->n_routed; i++) {
        if (i)
            json_str(&o, ",");
        json_layer(&o, a, &a->layer[i]);
    }
    json_str(&o, "],\"all\":");
    json_layer(&o, a, &a->layer[a->n_routed]);
    json_str(&o, "}\n");
    int rc = 0;
    if (o.oom) {
        fprintf(stderr, "moescope analyze: out of memory\n");
        rc = 1;
    } else if (fwrite(o.buf, 1, o.len, stdout) != o.len) {
        cli_stdout_failed();
        rc = 1;
    }
    free(o.buf);
    return rc;
}

int cmd_analyze(int argc, char **argv)
{
    struct analyze_opts o;
    int rc = analyze_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct session s;
    char err[1024];
    if (session_load(&s, o.session, err, sizeof err) != 0) {
        fprintf(stderr, "moescope analyze: %s\n", err);
        return 1;
    }
    struct analysis a = { .s = &s };
    rc = 1;
    if (s.model.n_experts < 1) {
        fprintf(stderr, "moescope analyze: %s: the session's model has no experts\n", o.session);
        goto done;
    }
    if (analyze_sizes(&a, &o) != 0)
        goto done;
    if (o.cache_mb > 0) {
        if (!a.expert_bytes) {
            fprintf(stderr,
                    "moescope analyze: %s does not record its experts' size (model.expert_bytes): "
                    "give -m MODEL to read it from the model's header, or --cache-experts N\n",
                    o.session);
            goto done;
        }
        a.slots = (size_t)(o.cache_mb * 1e6 / (double)a.expert_bytes);
        if (a.slots == 0) {
            fprintf(stderr, "moescope analyze: --cache-mb %g holds no expert (one is %.2f MB)\n",
                    o.cache_mb, a.expert_bytes / 1e6);
            rc = 2;
            goto done;
        }
    } else if (o.cache_experts > 0) {
        a.slots = (size_t)o.cache_experts;
    }
    if (analyze_compute(&a) != 0) {
        fprintf(stderr, "moescope analyze: out of memory\n");
        goto done;
    }
    if (a.n_steps == 0) {
        fprintf(stderr, "moescope analyze: %s: no record was routed through an expert\n",
                o.session);
        goto done;
    }
    rc = o.json ? analyze_json(&a, o.session) : (analyze_text(&a, o.session), 0);
done:
    analysis_free(&a);
    session_free(&s);
    return rc;
}
