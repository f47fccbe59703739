/* tui/view_cost.c: view 8, what the session's tokens cost, over every fed generated record:
 *   bytes    what one decode step reads (the model's active bytes) against the whole file,
 *            which a dense model of the same size reads every token;
 *   routing  the router's ms per token and share of the time (trace_time_split), against
 *            the seeds' 50 ms question;
 *   faults   page faults per token (minor, major) and the kernel's share of the time
 *            (trace.h's ns_kernel: the faults' CPU time);
 *   cache    an LRU cache of experts as large as this machine's available memory, replayed
 *            over the session's routing (sessions/expert_cache.h, as `moescope analyze`):
 *            its hit rate and the bytes it would read per token.
 * Unknown figures (a server, an older session) say so instead of showing zeros. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "draw.h"
#include "expert_cache.h"
#include "trace_stats.h"
#include "views.h"

/* Brings the replay in c up to date with log for a cache of slots experts (see views.h);
 * false when memory ran out. */
static bool cost_replay(struct cost_replay_cache *c, const struct trace_log *log, size_t slots)
{
    size_t grow = c->n / 16 > 32 ? c->n / 16 : 32;
    if (c->log == log && c->slots == slots && log->n >= c->n && log->n < c->n + grow)
        return true;
    struct cache_replay r;
    if (cache_replay_init(&r, log, 0, log->n, -1) != 0)
        return false;
    uint64_t *h = calloc((size_t)log->n_layers + 1, sizeof *h);
    uint64_t *t = calloc((size_t)log->n_layers + 1, sizeof *t);
    long long got = h && t ? cache_replay_run(&r, CACHE_LRU, slots, h, t) : -1;
    free(h);
    free(t);
    if (got >= 0)
        *c = (struct cost_replay_cache){ log, log->n, slots, r.n_steps, r.n_touch, r.n_distinct,
                                         (uint64_t)got };
    cache_replay_free(&r);
    return got >= 0;
}

static void cost_line(WINDOW *w, const struct view_area *va, int *y, enum theme_role role,
                      const char *label, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void cost_line(WINDOW *w, const struct view_area *va, int *y, enum theme_role role,
                      const char *label, const char *fmt, ...)
{
    if (*y >= va->rows)
        return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int x = draw_printf(w, *y, 0, va->cols, draw_attr(va->th, THEME_DIM), "%-9s", label);
    draw_printf(w, *y, x, va->cols - x, draw_attr(va->th, role), "%s", buf);
    (*y)++;
}

void view_cost_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    char title[64];
    snprintf(title, sizeof title, "cost %s session", DRAW_GLYPH(ctx->utf8, "·", "-"));
    if (view_say_empty(&va, w, draw_label(w, 0, va.th, title, NULL), 0))
        return;
    const struct view_costs *vc = &ctx->costs;
    int y = 1;
    if (vc->active_bytes && vc->file_bytes)
        cost_line(w, &va, &y, THEME_TEXT, "bytes", "%.1f MB per token; dense of this size %.1f MB (%.2fx)",
                  vc->active_bytes / 1e6, vc->file_bytes / 1e6,
                  (double)vc->active_bytes / (double)vc->file_bytes);
    else
        cost_line(w, &va, &y, THEME_DIM, "bytes", "the model's sizes are not known here");

    struct trace_split sp;
    trace_time_split(va.log, 0, va.log->n, TRACE_SEL_GEN, &sp);
    if (va.not_reported & BACKEND_REPORTS_SPLIT)
        cost_line(w, &va, &y, THEME_DIM, "routing", "not reported by this server");
    else if (sp.n_tokens == 0)
        cost_line(w, &va, &y, THEME_DIM, "routing", "no decoded token yet");
    else
        cost_line(w, &va, &y, THEME_TEXT, "routing",
                  "%.3f ms per token, %.1f%% of time (< 50 ms: %s)",
                  sp.ms_per_token[TRACE_ROUTER], 100 * sp.share[TRACE_ROUTER],
                  sp.ms_per_token[TRACE_ROUTER] < 50 ? "yes" : "no");

    uint64_t minor = 0, major = 0, kernel = 0, total = 0;
    size_t n = 0;
    for (size_t i = 0; i < va.log->n; i++) {
        const struct trace_token *t = &va.log->tok[i];
        if (t->prompt || !t->fed)
            continue;
        minor += t->faults_minor;
        major += t->faults_major;
        kernel += t->ns_kernel;
        total += t->ns_total;
        n++;
    }
    if (n == 0 || (minor == 0 && major == 0 && kernel == 0))
        cost_line(w, &va, &y, THEME_DIM, "faults", n ? "none recorded" : "no decoded token yet");
    else
        cost_line(w, &va, &y, major ? THEME_WARNING : THEME_TEXT, "faults",
                  "%.1f minor, %.2f major per token; kernel %.1f%% of time",
                  (double)minor / (double)n, (double)major / (double)n,
                  total ? 100.0 * (double)kernel / (double)total : 0.0);

    if (va.log->n_experts < 2) {
        cost_line(w, &va, &y, THEME_DIM, "cache", "%s", view_no_routing(va.not_reported));
        return;
    }
    if (!vc->expert_bytes || !vc->free_ram) {
        cost_line(w, &va, &y, THEME_DIM, "cache", "%s",
                  vc->expert_bytes ? "the available memory is not known"
                                   : "the experts' size is not known here");
        return;
    }
    uint64_t slots = vc->free_ram / vc->expert_bytes;
    struct cost_replay_cache own = { 0 }, *c = ctx->cache ? &ctx->cache->cost : &own;
    if (!cost_replay(c, va.log, slots ? (size_t)slots : 1)) {
        cost_line(w, &va, &y, THEME_ERROR, "cache", "out of memory");
        return;
    }
    if (c->touches == 0) {
        cost_line(w, &va, &y, THEME_DIM, "cache", "no routed token yet");
        return;
    }
    cost_line(w, &va, &y, THEME_TEXT, "cache", "LRU hits %.1f%%, %.2f MB read per token",
              100.0 * (double)c->hits / (double)c->touches,
              (double)(c->touches - c->hits) * (double)vc->expert_bytes / 1e6 /
                  (double)(c->steps ? c->steps : 1));
    cost_line(w, &va, &y, THEME_DIM, "",
              "%.1f GB free: %llu experts; %zu touched in %zu records",
              vc->free_ram / 1e9, (unsigned long long)slots, c->distinct, c->n);
}
