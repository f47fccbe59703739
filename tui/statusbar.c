/* tui/statusbar.c: the top bar (what runs, how fast, how big) and the bottom hint line.
 *
 * The bar is a list of pieces, each with a priority. When the terminal is too narrow for
 * all of them, the least important go first, so at 80 columns the model, "random weights",
 * the speed and the context stay, and at 200 everything shows. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "conversation.h"
#include "draw.h"
#include "statusbar.h"
#include "trace_stats.h"

enum { PIECE_MAX = 14 };

struct piece {
    char text[96];
    int prio;                  /* higher stays longer */
    enum theme_role role;
};

__attribute__((format(printf, 5, 6)))
static int piece_add(struct piece *p, int n, int prio, enum theme_role role, const char *fmt,
                     ...)
{
    if (n >= PIECE_MAX)
        return n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p[n].text, sizeof p[n].text, fmt, ap);
    va_end(ap);
    p[n].prio = prio;
    p[n].role = role;
    return n + 1;
}

static void fmt_ms(char *buf, size_t len, double ms)
{
    if (ms >= 100)
        snprintf(buf, len, "%.0f ms", ms);
    else if (ms >= 10)
        snprintf(buf, len, "%.1f ms", ms);
    else
        snprintf(buf, len, "%.2f ms", ms);
}

/* The pieces in display order. */
static int statusbar_pieces(const struct app *a, struct piece *p)
{
    int n = 0;
    const struct worker_status *ws = &a->ws;
    const char *state = a->worker ? worker_state_names[ws->state] : "replay";
    bool busy = a->worker && worker_state_busy(ws->state);
    char progress[64] = "";
    size_t pl = 0;
    if (a->worker && ws->state == WORKER_PREFILL && ws->prefill_total > 0 &&
        ws->prefill_done > 0)
        pl = (size_t)snprintf(progress, sizeof progress, " %zu/%zu", ws->prefill_done,
                              ws->prefill_total);
    /* How long this has been going, once it is long enough to wonder. */
    double secs = busy && a->state_since > 0 ? clock_now_s() - a->state_since : 0;
    if (secs >= 1.0 && pl < sizeof progress)
        snprintf(progress + pl, sizeof progress - pl, " %.0fs", secs);
    n = piece_add(p, n, 100, busy ? THEME_KEY : THEME_STATUS, "%s %s%s",
                  busy ? DRAW_GLYPH(a->utf8, "\u25cf", "*") : DRAW_GLYPH(a->utf8, "\u25cb", "o"),
                  state, progress);
    if (a->model_label[0])
        n = piece_add(p, n, 90, THEME_TITLE, "%s", a->model_label);
    if (a->random_weights)
        n = piece_add(p, n, 95, THEME_WARNING, "random weights");
    if (a->model_ready) {
        const struct model_desc *d = &ws->desc;
        n = piece_add(p, n, 40, THEME_STATUS, "%s", d->arch);
        if (d->n_experts > 0)
            n = piece_add(p, n, 70, THEME_STATUS, "%d of %d experts", d->n_experts_used,
                          d->n_experts);
        else if (!ws->backend[0]) /* a server that sends no ids is not known to be dense */
            n = piece_add(p, n, 70, THEME_STATUS, "dense");
        if (a->worker && ws->backend[0]) { /* a remote engine: which, and what it lacks */
            n = piece_add(p, n, 85, THEME_STATUS, "%s", ws->backend);
            n = piece_add(p, n, 80, THEME_STATUS, "via %s", conversation_server_chat(a)
                                                                ? "/v1/chat/completions"
                                                                : "/v1/completions");
            if (ws->missing[0])
                n = piece_add(p, n, 45, THEME_WARNING, "%s", ws->missing);
        } else if (a->worker) {
            int thr = ws->n_threads > 0 ? ws->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
            n = piece_add(p, n, 20, THEME_STATUS, "%d thread%s", thr, thr == 1 ? "" : "s");
            /* Positions in use: a shifted context holds fewer than the records. */
            size_t used = a->log.n ? (size_t)a->log.tok[a->log.n - 1].pos + 1 : 0;
            if (used > (size_t)ws->n_ctx)
                used = (size_t)ws->n_ctx;
            n = piece_add(p, n, 75, THEME_STATUS, "ctx %zu/%d", used, ws->n_ctx);
            /* the KV cache as allocated for the context (latent attention's is small) */
            const double kv_mb = (double)d->kv_bytes_per_token * ws->n_ctx / (1024.0 * 1024.0);
            if (kv_mb > 0)
                n = piece_add(p, n, 35, THEME_STATUS, "KV %.*f MB", kv_mb < 10 ? 1 : 0, kv_mb);
        }
    }
    struct trace_speed sp;
    memset(&sp, 0, sizeof sp);
    if (a->log.n > 0 && trace_speed_cache_get(&a->cache->speed, &a->log) == 0)
        sp = a->cache->speed.turn;
    char ms[32];
    /* a server that sends each reply whole (vLLM with routed experts) times no token */
    if (ws->backend[0] && !(ws->reports & BACKEND_REPORTS_TOKEN_TIMES))
        sp.n_itl = 0;
    if (sp.n_itl > 0)
        n = piece_add(p, n, 80, THEME_STATUS, "%.1f tok/s", sp.decode_tps);
    if (sp.n_prompt_fed > 0) {
        fmt_ms(ms, sizeof ms, sp.ttft_ms);
        n = piece_add(p, n, 60, THEME_STATUS, "TTFT %s", ms);
    }
    if (sp.n_thinking > 0) { /* a reasoning model: how much of the wait was thinking */
        char ms2[32] = "-";
        if (sp.ttfa_ms > 0)
            fmt_ms(ms2, sizeof ms2, sp.ttfa_ms);
        n = piece_add(p, n, 58, THEME_STATUS, "think %zu tok, answer at %s", sp.n_thinking, ms2);
    }
    if (sp.n_itl > 0) {
        fmt_ms(ms, sizeof ms, sp.itl_p95_ms);
        n = piece_add(p, n, 50, THEME_STATUS, "p95 %s", ms);
    }
    if (a->frame.rss_mb > 0)
        n = piece_add(p, n, 30, THEME_STATUS, "RSS %.0f MB", a->frame.rss_mb);
    return n;
}

static int text_w(const char *s, bool utf8)
{
    return draw_text_width(s, strlen(s), utf8);
}

/* Marks which pieces fit in width (dropping the lowest priority first). */
static void statusbar_fit(struct piece *p, int n, bool *keep, int width, bool utf8, int sepw)
{
    for (int i = 0; i < n; i++)
        keep[i] = true;
    for (;;) {
        int w = 1, shown = 0;
        for (int i = 0; i < n; i++)
            if (keep[i]) {
                w += text_w(p[i].text, utf8) + (shown ? sepw : 0);
                shown++;
            }
        if (w <= width || shown <= 1)
            return;
        int low = -1;
        for (int i = 0; i < n; i++)
            if (keep[i] && (low < 0 || p[i].prio < p[low].prio))
                low = i;
        keep[low] = false;
    }
}

size_t statusbar_format(const struct app *a, int width, char *buf, size_t buflen)
{
    struct piece p[PIECE_MAX];
    bool keep[PIECE_MAX];
    int n = statusbar_pieces(a, p);
    statusbar_fit(p, n, keep, width, a->utf8, 3);
    size_t off = 0;
    if (buflen)
        buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        int k = snprintf(buf + off, off < buflen ? buflen - off : 0, "%s%s", off ? " | " : " ",
                         p[i].text);
        if (k > 0)
            off += (size_t)k;
    }
    return off;
}

void statusbar_draw(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int wd = getmaxx(w);
    attr_t base = draw_attr(th, THEME_STATUS);
    werase(w);
    wbkgdset(w, ' ' | base);
    draw_blank(w, 0, 0, wd, base);
    struct piece p[PIECE_MAX];
    bool keep[PIECE_MAX];
    int n = statusbar_pieces(a, p);
    const char *sep = DRAW_GLYPH(a->utf8, " \u2502 ", " | ");
    statusbar_fit(p, n, keep, wd, a->utf8, 3);
    int x = 1;
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        if (!first)
            x += draw_printf(w, 0, x, wd - x, base, "%s", sep);
        first = false;
        attr_t at = base;
        if (p[i].role != THEME_STATUS) {
            /* Keep the bar's background under coloured pieces: bold stands out on it. */
            at = p[i].role == THEME_WARNING || p[i].role == THEME_KEY
                     ? draw_attr(th, THEME_KEY)
                     : base | A_BOLD;
        }
        x += draw_printf(w, 0, x, wd - x, at, "%s", p[i].text);
    }
}

/* ---- the hint line ---- */

struct hint { const char *key, *what; };

/* Most useful first: a narrow terminal shows the first ones. */
static const struct hint hints_input[] = {
    { "Enter", "send" }, { "Alt-Enter", "newline" }, { "Tab", "inspector" }, { "F1", "keys" },
    { "^C^C", "quit" }, { "PgUp/PgDn", "scroll" }, { "F2", "inspector on/off" },
};
static const struct hint hints_busy[] = {
    { "Esc", "stop" }, { "Tab", "inspector" }, { "F1", "keys" }, { "^C^C", "quit" },
    { "PgUp/PgDn", "scroll" }, { "F2", "inspector on/off" },
};
static const struct hint hints_inspector[] = {
    { "\u2190\u2192", "token" }, { "\u2191\u2193 [ ]", "layer" }, { "0-8", "view" },
    { "Tab", "chat" }, { "F1", "keys" }, { "h", "heatmap mode" }, { "e", "entropy mode" },
    { "End", "follow" },
};

void hints_draw(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int wd = getmaxx(w);
    attr_t base = draw_attr(th, THEME_DIM);
    werase(w);
    draw_blank(w, 0, 0, wd, base);
    if (a->msg[0]) {
        draw_printf(w, 0, 1, wd - 1, draw_attr(th, a->msg_error ? THEME_ERROR : THEME_WARNING),
                    "%s", a->msg);
        return;
    }
    const struct hint *h = hints_input;
    size_t n = sizeof hints_input / sizeof hints_input[0];
    if (a->focus == FOCUS_INSPECTOR) {
        h = hints_inspector;
        n = sizeof hints_inspector / sizeof hints_inspector[0];
    } else if (a->worker && worker_state_busy(a->ws.state)) {
        h = hints_busy;
        n = sizeof hints_busy / sizeof hints_busy[0];
    }
    attr_t ka = draw_attr(th, THEME_KEY) & ~(attr_t)A_COLOR;
    ka |= COLOR_PAIR(draw_pair(THEME_TITLE));
    int x = 1;
    for (size_t i = 0; i < n; i++) {
        const char *key = h[i].key;
        if (!a->utf8 && !strcmp(key, "\u2190\u2192"))
            key = "<- ->";
        if (!a->utf8 && !strcmp(key, "\u2191\u2193 [ ]"))
            key = "up/down [ ]";
        int need = text_w(key, a->utf8) + 1 + (int)strlen(h[i].what) + 2;
        if (x + need > wd)
            break;
        x += draw_printf(w, 0, x, wd - x, ka | A_BOLD, "%s", key);
        x += draw_printf(w, 0, x, wd - x, base, " %s  ", h[i].what);
    }
}
