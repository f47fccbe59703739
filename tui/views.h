/* tui/views.h: the inspector's views of the trace records.
 *
 * Each view is a pure function of a view_ctx: it draws into the whole of the window it is
 * given (erasing it first) and changes no state. It never writes outside the window, so any
 * size works down to 1x1 (it draws what fits). Views handle an empty log, a dense model
 * (n_experts == 0: "dense model: no routing"), many experts (columns compressed), and model
 * text with control bytes or wide characters (shown escaped / at their true width).
 * Row 0 of every view is its label, e.g. "heatmap · selected token  [h] mode". The labels
 * name these keys, for the app to bind while the inspector has focus: `[` and `]` the
 * layer, `h` the heatmap mode, `e` the entropy mode, left/right the selected record, and
 * view_table[].key ('0'..'8') the view.
 *
 * Colours come from the theme by role (themes/theme.h) through draw_attr() (tui/draw.h);
 * call draw_theme_apply() once after initscr() and again after /theme.
 *
 * The ctx borrows everything it points to for the duration of one draw call only. */
#ifndef MOESCOPE_VIEWS_H
#define MOESCOPE_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curses.h>

#include "theme.h"
#include "trace.h"
#include "trace_stats.h"

enum { VIEW_RECENT_TOKENS = 64 }; /* the heatmap's "last N tokens" window */

enum heat_mode {
    HEAT_SELECTED,  /* the selected token's gate weights, layer x expert */
    HEAT_SESSION,   /* how often each expert was chosen over every fed record */
    HEAT_RECENT,    /* the same over the last VIEW_RECENT_TOKENS fed records */
    HEAT_MODE_COUNT
};
extern const char *const heat_mode_names[HEAT_MODE_COUNT];

enum entropy_mode {
    ENTROPY_MEAN,   /* per token, mean over the MoE layers */
    ENTROPY_LAYER,  /* per token, ctx->layer only */
    ENTROPY_MODE_COUNT
};
extern const char *const entropy_mode_names[ENTROPY_MODE_COUNT];

/* Maps a token id to its text (raw bytes, maybe not UTF-8), for the top-5 alternatives.
 * Returns NULL when unknown; the view then shows the id only. */
typedef const char *(*view_piece_fn)(void *user, int32_t token, size_t *len);

/* What the views compute over the whole log, kept across frames while the log is the same
 * (trace.h's rev): without it the frame time grew with the session (balance view at 8 000
 * tokens: 8 ms a frame, 1.3 at 1 000). Owned by the app; zeroed to start. */
/* The token strip's scroll position for one (log, rev, selection, size). */
struct strip_scroll {
    struct trace_stamp at;        /* the log it was found for */
    long sel;
    int cols, body;
    bool utf8;
    size_t from;                  /* the first record of the first line shown */
    long first;                   /* that line's number */
};

/* The cost view's expert-cache replay: recomputed only when the log was replaced, shrank
 * or grew by a sixteenth (at least 32 records) since, as the replay is a whole-log pass. */
struct cost_replay_cache {
    const struct trace_log *log;  /* the log it was computed for (NULL: nothing yet) */
    size_t n;                     /* over its first n records */
    size_t slots;                 /* for a cache of this many experts */
    size_t steps, touches, distinct;
    uint64_t hits;                /* LRU hits */
};

struct view_cache {
    struct trace_speed_cache speed;
    struct trace_load_cache load;
    struct strip_scroll strip;
    struct cost_replay_cache cost;
};

void view_cache_free(struct view_cache *c);

struct view_ctx {
    const struct trace_log *log;  /* the session's records; may be empty or NULL */
    long sel;                     /* selected record index, or -1: follow the newest */
    int layer;                    /* the chosen layer (strip, entropy per layer), clamped */
    enum heat_mode heat;
    enum entropy_mode entropy;
    const struct theme *theme;    /* NULL = the built-in default */
    bool utf8;                    /* locale is UTF-8: block characters, else ASCII */
    bool focused;                 /* the inspector has focus: selection drawn stronger */
    view_piece_fn piece;          /* may be NULL */
    void *piece_user;
    struct view_cache *cache;     /* aggregates of the log kept across frames, or NULL */
    unsigned not_reported;        /* a remote engine: backend_report bits it lacks (0: local) */
    double tokens_per_chunk;      /* a remote engine's last reply, as streamed (0: local) */
    struct view_costs {           /* what the cost view compares with; 0 = unknown */
        uint64_t active_bytes;    /* weights one decode step reads (model_desc) */
        uint64_t file_bytes;      /* the model file: what a dense model of its size reads */
        uint64_t expert_bytes;    /* one routed expert of one layer */
        uint64_t free_ram;        /* memory available on this machine now */
    } costs;
};

/* The views, in the order of their number keys 1..8. VIEW_OVERVIEW is the default screen:
 * selected token, heatmap, entropy and latency sparklines stacked with their labels. */
enum view_id {
    VIEW_OVERVIEW,
    VIEW_STRIP,     /* 1: generated tokens coloured by top-1 expert at ctx->layer */
    VIEW_HEATMAP,   /* 2: layers x experts, ctx->heat */
    VIEW_ENTROPY,   /* 3: routing entropy sparkline / ln(n_experts), ctx->entropy */
    VIEW_LATENCY,   /* 4: per-token ms, prefill apart; TTFT, tok/s, p50/p95/p99, jitter */
    VIEW_BALANCE,   /* 5: per layer avg/max load, CV, MaxVio, locality */
    VIEW_SPLIT,     /* 6: attention / router / experts / other */
    VIEW_TOKEN,     /* 7: the selected token in detail */
    VIEW_COST,      /* 8: bytes per token against dense, routing and fault time, cache */
    VIEW_COUNT
};

typedef void (*view_draw_fn)(const struct view_ctx *ctx, WINDOW *w);

/* The one registry of views (views.c): the tab row, the keys screen and the man page's
 * KEYS section read their names and words from here. */
struct view_info {
    const char *name;   /* the tab's label: "overview", "strip", "heatmap", ... */
    const char *brief;  /* the tab's label when the row is narrow: "all", "strip", ... */
    int key;            /* its key: '0'..'8' (Alt-0..8 from anywhere) */
    const char *help;   /* one line for the keys screen */
    view_draw_fn draw;
};
extern const struct view_info view_table[VIEW_COUNT];

void view_overview_draw(const struct view_ctx *ctx, WINDOW *w);
void view_strip_draw(const struct view_ctx *ctx, WINDOW *w);
void view_heatmap_draw(const struct view_ctx *ctx, WINDOW *w);
void view_entropy_draw(const struct view_ctx *ctx, WINDOW *w);
void view_latency_draw(const struct view_ctx *ctx, WINDOW *w);
void view_balance_draw(const struct view_ctx *ctx, WINDOW *w);
void view_split_draw(const struct view_ctx *ctx, WINDOW *w);
void view_token_draw(const struct view_ctx *ctx, WINDOW *w);
void view_cost_draw(const struct view_ctx *ctx, WINDOW *w);

/* What every view's draw begins with: the window erased, and its size. A view with no
 * room (ok false) draws nothing more. */
struct view_area {
    bool ok;                      /* at least one row and one column */
    int rows, cols;
    const struct trace_log *log;  /* ctx->log */
    const struct theme *th;       /* ctx->theme */
    unsigned not_reported;        /* ctx->not_reported */
};
struct view_area view_begin(const struct view_ctx *ctx, WINDOW *w);
/* The line a view shows when there is nothing to draw: "no tokens yet", or, when
 * min_experts > 0 and the log has fewer experts (or no layers), view_no_routing's line.
 * On row 1, or beside the label (which ends at column x) in a one-row window. Returns true
 * when it said one. */
bool view_say_empty(const struct view_area *va, WINDOW *w, int x, int min_experts);

/* The record a view treats as selected: ctx->sel when it is in the log, else the newest
 * fed record (the newest record when none is fed); -1 when the log is empty. */
long view_selected(const struct view_ctx *ctx);
/* Why a view has no routing to draw: "expert ids: not reported by this server" for a
 * remote engine that sends none (not_reported: backend_report bits), else "dense model: no
 * routing". */
const char *view_no_routing(unsigned not_reported);
/* "<what>: not reported by this server" on row 1 when the server lacks bit (a
 * backend_report). Returns true when it said so. */
bool view_say_not_reported(const struct view_area *va, WINDOW *w, unsigned bit,
                           const char *what);

#endif
