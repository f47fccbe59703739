/* tui/app.h: the full-screen app's state, and its loop (app.c). The rooms that change it:
 *   keys.h          keys -> handlers -> the dirty bits they return
 *   conversation.h  the messages, the reply streamed into them, the one reset
 *   intake.h        what the worker posted, taken in (records, status, the stream)
 *   app_session.h   save, load, autosave and export of the conversation
 *   frame.h         the windows and one frame of them
 * Everything here runs on the UI thread; the worker (worker.h) runs the engine on its own
 * thread and hands records over through a queue (rec_queue.h). State changes only in
 * handlers (keys, worker news, commands); drawing takes a const app and only draws. */
#ifndef MOESCOPE_APP_H
#define MOESCOPE_APP_H

#include <signal.h>
#include <stdbool.h>

#include "app_options.h"
#include "app_session.h"
#include "clock.h" /* clock_now_s: the app's time */
#include "engine.h"
#include "frame.h"
#include "help.h"
#include "layout.h"
#include "picker.h"
#include "theme.h"
#include "trace.h"
#include "transcript.h"
#include "views.h"
#include "worker.h"

enum focus { FOCUS_INPUT, FOCUS_INSPECTOR };

/* What must be drawn again (bits). */
enum dirty {
    DIRTY_STATUS = 1 << 0,
    DIRTY_TRANSCRIPT = 1 << 1,
    DIRTY_INPUT = 1 << 2,
    DIRTY_INSPECTOR = 1 << 3,
    DIRTY_HINTS = 1 << 4,
    DIRTY_LAYOUT = 1 << 5,     /* sizes changed: windows are made again */
    DIRTY_ALL = 0x3f,
};

struct app {
    struct app_options opt;    /* as parsed; strings borrowed from argv */
    bool curses_on;            /* the terminal is in curses mode (false in tests) */
    bool quit;                 /* leave the loop after this iteration */
    int quit_signal;           /* a signal to re-raise after restoring the terminal, or 0 */
    bool utf8;                 /* the locale is UTF-8: block glyphs, else ASCII */
    bool replay;               /* --replay: records from a file, no model, read-only */

    /* the model (intake.c) */
    struct worker *worker;     /* NULL in tests and in replay */
    struct worker_status ws;   /* the last status taken from the worker */
    bool model_ready;          /* the model is open and the log has its shape */
    bool random_weights;       /* the model says its weights are random: shown in the bar */
    char model_label[160];     /* what the status bar calls the model */
    unsigned long done_seen;   /* ws.done_seq already turned into a message */
    double state_since;        /* when the worker entered its current state (seconds) */
    const struct vocab_table *vocab; /* token texts for the views, NULL until known */
    bool welcomed;             /* the "Type a message" welcome was shown (not again) */
    /* A /model switch in progress: the new model opens beside the old one, which answers
     * until the new one is open and idle takes over (intake.c); if it fails to open, the
     * old one stays. Both are in memory meanwhile. */
    struct worker *next_worker;
    struct worker_status next_ws;
    char next_path[4096];

    /* the conversation (conversation.c) */
    struct transcript tr;      /* every message shown */
    int stream_msg;            /* transcript index of the reply being streamed, or -1 */
    int ctx_dropped;           /* messages dropped out of context for the reply in flight */
    struct sampler_params sampler;   /* /set changes this; sent with each reply */
    int n_predict;             /* tokens a reply may have, <= 0 = until the context is full */
    char *system;              /* the system prompt (owned), NULL = none */
    char chat_template[32];    /* a family name for chat_render, "" = the model's own */
    bool feed_pending;         /* a loaded conversation waits for the model to be fed */
    struct app_session sess;   /* its file (app_session.c) */

    /* the inspector */
    struct trace_log log;      /* the UI's copy of every record of the context */
    struct view_ctx vctx;      /* layer, heat and entropy modes; the rest set per draw */
    struct view_cache *cache;  /* aggregates of log across frames (drawing reads const) */
    enum view_id view;         /* the view shown */
    long sel;                  /* selected record, -1 = follow the newest */
    bool thinking_unfolded;    /* F3: replies' thinking shown whole, not folded to a line */

    /* the screen (frame.c, keys.c) */
    struct layout lay;         /* the panes for the current size */
    bool inspector_on;         /* F2: the inspector shown (stacked or beside) */
    bool inspector_alone;      /* cramped terminal: the inspector in place of the chat */
    enum focus focus;          /* where keys go */
    struct help_state help;    /* the keys screen over everything */
    struct picker_state picker; /* /model's picker over everything */
    struct input *in;          /* the input line (NULL in tests) */
    struct theme theme;        /* colours by role */
    bool theme_dirty;          /* the theme changed: colour pairs are set again */
    unsigned dirty;            /* enum dirty bits */
    struct frame_windows win;
    struct frame_stats frame;
    char msg[256];             /* the hint line's message instead of the hints, "" = none */
    bool msg_error;            /* shown in the error colour */
    double msg_until;          /* seconds (monotonic) when it goes, 0 = on the next key */
    int ctrl_c;                /* Ctrl-C presses in a row (two quit) */
    int idle_wakeups;          /* the terminal was readable but gave no key, in a row */
};

/* State without a terminal (tests use it bare). Returns 0 or -1 (err set). */
int app_init(struct app *a, const struct app_options *o, char *err, size_t errlen);
void app_free(struct app *a);
/* The whole interactive run: terminal on, loop, terminal restored. Returns an exit code. */
int app_run(struct app *a);
/* Shows a message in the hint line for a few seconds. */
void app_message(struct app *a, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Opens the model at path beside the current one (its header checked by the caller); once
 * it is open the current one is closed and the new one takes over (intake.c), and a file
 * that fails to open (memory, a tensor that does not bind) leaves the current one running,
 * with the reason in the transcript. The conversation stays and is fed again on the next
 * send. Returns 0, or -1 with err set (busy, a switch already under way, or no thread). */
int app_switch_model(struct app *a, const char *path, char *err, size_t errlen);
/* A reply or a feed is in progress (or the model is loading). */
bool app_busy(const struct app *a);
/* The second half of a switch: the new model (open) takes over from the old one. */
void app_switch_take_over(struct app *a);
/* A switch that failed: the new worker goes, the old model stays. */
void app_switch_abandon(struct app *a);
/* Ctrl-Z: the terminal given back to the shell until fg. */
void app_suspend(void);

#endif
