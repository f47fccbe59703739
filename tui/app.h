/* tui/app.h: the full-screen app: its state, and the modules that make it up.
 *
 *   app.c            the main loop: keys -> handlers -> dirty flags -> one frame
 *   layout.c         where each pane goes for a terminal size (pure, tested)
 *   input.c          the input line: readline's callback interface inside curses
 *   worker.c         the engine on its own thread; records handed over through a queue
 *   transcript.c     the chat: wrapped, scrollable, model text escaped
 *   statusbar.c      the top bar (model, speed, memory) and the bottom hint line
 *   commands_slash.c /help, /set, ... as a data table
 *   help.c           the `?` screen: every key
 *   signals.c        the terminal restored on every way out
 *
 * Threads: everything here runs on the main (UI) thread except the worker's own thread,
 * which touches only the engine, its private trace log and the worker's locked hand-over
 * area. The UI never waits on the worker: it takes what is there and draws.
 *
 * State changes only in handlers (keys, worker updates, commands); drawing functions take
 * a const app and only draw. */
#ifndef MOESCOPE_APP_H
#define MOESCOPE_APP_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curses.h>

#include "engine.h"
#include "session.h"
#include "theme.h"
#include "trace.h"
#include "views.h"

/* ---- layout (layout.c) ---- */

enum {
    LAYOUT_MIN_COLS = 40,      /* below this, or LAYOUT_MIN_ROWS, the too-small screen */
    LAYOUT_MIN_ROWS = 10,
    LAYOUT_SIDE_COLS = 120,    /* from this width the inspector stands beside the chat */
    LAYOUT_STACK_ROWS = 14,    /* rows needed (between the bars) to stack chat and inspector */
};

struct rect { int y, x, h, w; };   /* h == 0 or w == 0: not shown */

enum layout_mode {
    LAYOUT_TOO_SMALL,          /* one line saying so */
    LAYOUT_SIDE,               /* chat | inspector */
    LAYOUT_STACKED,            /* inspector above the chat */
    LAYOUT_CHAT_ONLY,          /* inspector hidden (F2), or no room to stack */
    LAYOUT_INSPECTOR_ONLY,     /* narrow and short: F2 or Tab swapped the chat out */
};

struct layout {
    enum layout_mode mode;
    int rows, cols;            /* the terminal size it was made for */
    struct rect status;        /* the top bar: model, speed, memory */
    struct rect transcript;    /* the chat */
    struct rect input;         /* the input line(s) */
    struct rect inspector;     /* tab row + the current view */
    struct rect sep;           /* the vertical rule between chat and inspector (side) */
    struct rect hints;         /* the bottom line: key hints or a message */
};

/* Decides the panes for a terminal of rows x cols. inspector_on is the user's F2 choice;
 * inspector_alone (the inspector has focus) asks for it in place of the chat when there is
 * no room to stack them, and for a larger share when stacked; input_rows the lines the
 * input wants (clamped to a third of the screen). */
void layout_compute(int rows, int cols, bool inspector_on, bool inspector_alone, int input_rows,
                    struct layout *out);
/* True when the size cannot hold chat and inspector together (F2 swaps them). */
bool layout_cramped(int rows, int cols, int input_rows);

/* ---- the hand-over queue (worker.c) ----
 * The worker posts "the UI's records from index `from` on are now these"; the UI takes
 * the lot at its own pace. Posts that arrive before the UI takes are merged, so the UI
 * always ends up with an exact copy of the worker's log, whatever it skipped. */
struct rec_queue {
    pthread_mutex_t mu;
    struct trace_log log;      /* records [from, from + log.n) the UI has not taken yet */
    size_t from;               /* where they go in the UI's log */
    bool pending;              /* a post is waiting */
    bool failed;               /* memory ran out while copying: the UI should resync */
};
int rec_queue_init(struct rec_queue *q, int n_layers, int n_experts, int n_experts_used);
void rec_queue_free(struct rec_queue *q);
/* Called by the producer: src[from .. src->n) replaces the consumer's records from `from`
 * on. Copies under the lock; never blocks for longer than that copy. */
void rec_queue_post(struct rec_queue *q, const struct trace_log *src, size_t from);
/* Called by the consumer: applies what is pending to dst (same shape). Returns true when
 * dst changed. *first_changed gets the lowest index that changed. */
bool rec_queue_take(struct rec_queue *q, struct trace_log *dst, size_t *first_changed);

/* ---- the worker (worker.c) ---- */

enum worker_state {
    WORKER_LOADING,            /* opening the model */
    WORKER_IDLE,               /* ready for a job */
    WORKER_PREFILL,            /* feeding the prompt */
    WORKER_GENERATING,         /* sampling a reply */
    WORKER_FAILED,             /* the model could not be opened: err says why */
    WORKER_STATE_COUNT
};

enum reply_end {
    REPLY_EOG,                 /* the model ended its turn */
    REPLY_STOPPED,             /* Esc */
    REPLY_LIMIT,               /* n_predict tokens */
    REPLY_CTX_FULL,            /* the context is full */
    REPLY_ERROR,               /* err says what */
    REPLY_FED,                 /* a feed-only job (a loaded conversation) is in the cache */
};

/* What the UI copies out of the worker on each take. */
struct worker_status {
    enum worker_state state;
    bool opened;               /* desc, n_ctx and the vocabulary are valid */
    struct model_desc desc;    /* the model's shape (when opened) */
    int n_ctx;                 /* the context size in use */
    int n_threads;             /* threads the engine was asked for (0 = cores) */
    char err[512];             /* the last error: open failure or a failed reply */
    unsigned long done_seq;    /* counts finished replies: a change means one ended */
    enum reply_end done_why;   /* how the last reply ended */
    char *reply;               /* the reply so far (complete UTF-8 only), UI-owned copy */
    size_t reply_len;
    size_t reply_cap;
    long reply_first;          /* the log index of the reply's first token, -1 = none */
    size_t prefill_done;       /* prompt tokens fed so far, of prefill_total (PREFILL) */
    size_t prefill_total;
};

/* The vocabulary as plain data, built once by the worker after opening the model so the
 * UI can show a token id's text without touching the engine (which is not thread-safe). */
struct vocab_table {
    int n;                     /* tokens */
    uint32_t *off;             /* (n + 1) offsets into text */
    char *text;                /* every piece, back to back */
};

struct worker;
/* Starts the thread, which opens the model (the status says when it is ready). The
 * worker keeps its own copy of params and the path. Returns NULL on failure (err set). */
struct worker *worker_start(const struct engine_params *params, char *err, size_t errlen);
/* Asks the thread to end and waits at most timeout_ms for it; a worker still inside the
 * engine after that is left behind (the process is exiting). */
void worker_quit(struct worker *w, int timeout_ms);
/* A file descriptor that becomes readable when the worker has something new (poll it). */
int worker_wake_fd(const struct worker *w);
/* Starts a reply to the rendered conversation text (the whole conversation: the worker
 * reuses the common prefix with what the engine has seen). Returns -1 when busy. */
int worker_submit_reply(struct worker *w, const char *text, size_t len,
                        const struct sampler_params *sp, int n_predict);
/* Feeds the rendered conversation without sampling (a loaded session, so the inspector
 * shows its records and the next reply starts at once). Returns -1 when busy. */
int worker_submit_feed(struct worker *w, const char *text, size_t len);
/* Forgets the context (/clear). Returns -1 when busy. */
int worker_submit_reset(struct worker *w);
/* Esc: the current reply ends after the token in flight. */
void worker_request_stop(struct worker *w);
/* Takes what the worker has posted: records into log, the rest into *st. Returns true when
 * anything changed. Never blocks longer than a copy. */
bool worker_take(struct worker *w, struct trace_log *log, size_t *first_changed,
                 struct worker_status *st);
/* The vocabulary, or NULL before the model is open. Immutable once returned. */
const struct vocab_table *worker_vocab(const struct worker *w);
bool worker_state_busy(enum worker_state s);
extern const char *const worker_state_names[WORKER_STATE_COUNT];

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence that
 * could still be completed (what a stream may show now). */
size_t utf8_complete_prefix(const char *s, size_t n);

/* ---- the transcript (transcript.c) ---- */

enum msg_role {
    MSG_USER,
    MSG_ASSISTANT,
    MSG_NOTE,                  /* the app speaking: help, settings, results */
    MSG_ERROR,                 /* the app reporting a failure */
};

struct wrap_line { uint32_t off, len; };   /* one display line: bytes of the text */

struct message {
    enum msg_role role;
    char *text;                /* raw bytes (model text may hold anything) */
    size_t len;
    bool streaming;            /* the reply being written now (text follows the worker) */
    bool in_chat;              /* part of the conversation sent to the model */
    char meta[96];             /* a dim line under a reply: "42 tokens · 31.0 tok/s" */
    size_t rec_end;            /* replies: the log's length when it ended (session ranges) */
    long rec_first;            /* replies: the log index of its first sampled token, -1 =
                                  unknown (a loaded reply fed back as prompt) */
    /* wrap cache: valid while wrap_w and wrap_len match the window width and text */
    int wrap_w;
    size_t wrap_len;
    struct wrap_line *wl;      /* (n_wl) display lines */
    int n_wl, cap_wl;
};

struct transcript {
    struct message *msg;       /* (n) in order */
    int n, cap;
    int scroll;                /* lines scrolled up from the bottom; 0 follows new text */
    int last_h;                /* the pane height of the last draw (page size for PgUp) */
    bool reveal;               /* scroll the selected token into view on the next draw */
};

void transcript_init(struct transcript *t);
void transcript_free(struct transcript *t);
/* Appends a message (text copied). Returns its index, or -1 when memory runs out. */
int transcript_add(struct transcript *t, enum msg_role role, const char *text, size_t len);
/* printf-style note or error. */
int transcript_addf(struct transcript *t, enum msg_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replaces the text of message i (streaming). Returns 0 or -1. */
int transcript_set_text(struct transcript *t, int i, const char *text, size_t len);
void transcript_clear(struct transcript *t);
/* Drops messages from index i on. */
void transcript_truncate(struct transcript *t, int i);
/* Scrolls by delta lines (positive: back in time), clamped when drawn. */
void transcript_scroll(struct transcript *t, int delta);
/* The character unit at s[0..n) as drawn: one UTF-8 character with the combining marks
 * that join it, or one byte (escaped); its width in columns goes to *width. */
size_t text_unit(const char *s, size_t n, bool utf8, int *width);
/* Wraps message m for a width of w columns (cached). Returns 0 or -1. */
int transcript_wrap(struct message *m, int w, bool utf8);

/* ---- the app's state ---- */

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

/* The command-line options cmd_app parses. */
struct app_options {
    const char *model;         /* -m: NULL = the default model */
    int n_threads;             /* -t: 0 = cores */
    int n_ctx;                 /* -c: 0 = the model's, capped by the engine */
    const char *theme;         /* --theme: NULL = dark, or mono under NO_COLOR */
    const char *chat_template; /* --chat-template: NULL = recognised from the model */
    const char *system;        /* --system: the system prompt, NULL = none */
    struct sampler_params sampler;   /* --temp, --top-k, --top-p, --min-p, --seed */
    int n_predict;             /* -n: at most this many tokens a reply, <= 0 = no limit */
    const char *replay;        /* --replay FILE: a saved session, no model */
    const char *session;       /* --session FILE: continue a saved conversation */
    long frames;               /* --frames N: draw N frames then exit (0 = run) */
    bool prewarm;              /* --prewarm: read every expert before the first token */
    bool mlock;                /* --mlock: pin the model in memory */
};
void app_options_default(struct app_options *o);

struct input;                  /* input.c */

struct app {
    struct app_options opt;    /* as parsed; strings borrowed from argv */
    bool curses_on;            /* the terminal is in curses mode (false in tests) */
    bool quit;                 /* leave the loop after this iteration */
    int quit_signal;           /* a signal to re-raise after restoring the terminal, or 0 */
    bool utf8;                 /* the locale is UTF-8: block glyphs, else ASCII */

    /* the model and the worker */
    struct worker *worker;     /* NULL in tests and in replay */
    struct worker_status ws;   /* the last status taken from the worker */
    bool model_ready;          /* the worker opened the model and the log has its shape */
    bool random_weights;       /* the model says its weights are random: shown in the bar */
    char model_label[160];     /* what the status bar calls the model */
    unsigned long done_seen;   /* ws.done_seq already turned into a message */
    double state_since;        /* when the worker entered its current state (seconds) */
    int stream_msg;            /* transcript index of the reply being streamed, or -1 */
    struct sampler_params sampler;   /* /set changes this; sent with each reply */
    int n_predict;             /* tokens a reply may have, <= 0 = until the context is full */
    char *system;              /* the system prompt (owned), NULL = none */
    char chat_template[32];    /* a family name for chat_render, "" = the model's own */
    bool feed_pending;         /* a loaded conversation waits for the model to be fed */

    /* the session file (sessions/) */
    char session_id[SESSION_ID_LEN + 1]; /* kept across saves: a save replaces only its own
                                          * file */
    char session_created[24];  /* when this conversation began */
    char session_path[4096];   /* where it is saved, "" = not yet (autosave picks a name) */
    bool replay;               /* --replay: records from a file, no model, read-only */
    struct session_model loaded_model; /* the model a loaded session names */
    bool have_loaded_model;    /* loaded_model is set */
    const struct vocab_table *vocab; /* token texts for the views, NULL until the model opens */
    struct vocab_table replay_vocab; /* replay: token texts gathered from the records */

    /* what the inspector shows */
    struct trace_log log;      /* the UI's copy of every record of the context */
    struct view_ctx vctx;      /* layer, heat and entropy modes; log/sel/theme set per draw */
    /* aggregates of a->log kept across frames (a pointer: the status bar and the reply's
     * closing line read the app as const) */
    struct view_cache *cache;
    enum view_id view;         /* the view in the inspector */
    long sel;                  /* selected record, -1 = follow the newest */

    /* the screen */
    struct layout lay;         /* the panes for the current size */
    bool inspector_on;         /* F2: the inspector shown (stacked or beside) */
    bool inspector_alone;      /* cramped terminal: the inspector in place of the chat */
    enum focus focus;          /* where keys go */
    bool help_open;            /* the `?` screen is over everything */
    int help_scroll;           /* first line of the help screen shown */
    struct transcript tr;      /* the chat */
    struct input *in;          /* the input line (NULL in tests) */
    struct theme theme;        /* colours by role */
    bool theme_dirty;          /* the theme changed: colour pairs are set again */
    unsigned dirty;            /* enum dirty bits */
    WINDOW *w_status, *w_transcript, *w_input, *w_inspector, *w_tabs, *w_sep, *w_hints;
    WINDOW *w_keys;            /* a 1x1 window never drawn: keys are read through it */

    /* the hint line */
    char msg[256];             /* a message shown instead of the hints, "" = hints */
    bool msg_error;            /* shown in the error colour */
    double msg_until;          /* seconds (monotonic) when it goes, 0 = on the next key */
    int ctrl_c;                /* Ctrl-C presses in a row (two quit) */
    int idle_wakeups;          /* the terminal was readable but gave no key, in a row */

    /* timing */
    double last_frame;         /* seconds (monotonic) of the last frame drawn */
    long frames_drawn;         /* for --frames */
    double draw_ms_sum, draw_ms_max; /* time spent drawing frames (the --frames report) */
    double rss_at;             /* when rss_mb was read */
    double rss_mb;             /* resident memory of the process */
};

/* State without a terminal (tests use it bare). Returns 0 or -1 (err set). */
int app_init(struct app *a, const struct app_options *o, char *err, size_t errlen);
void app_free(struct app *a);
/* The whole interactive run: terminal on, loop, terminal restored. Returns an exit code. */
int app_run(struct app *a);
/* Shows a message in the hint line for a few seconds. */
void app_message(struct app *a, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends the conversation to the model for a reply. Returns 0, or -1 with a message. */
int app_send(struct app *a);
/* Saves the session to path (NULL: the session's file, else the autosave name). loud: say
 * where in the hint line. Returns 0, or -1 with a message. */
int app_save(struct app *a, const char *path, bool loud);
/* /export FORMAT FILE: the conversation so far as md, csv, ndjson or html. */
int app_export(struct app *a, const char *format, const char *path);
/* Opens a saved session: its conversation replaces this one and is fed to the model (or,
 * in replay, its records are shown as they were). Returns 0, or -1 with a message. */
int app_load(struct app *a, const char *path);
/* A new conversation starts: the next save makes a new session file. */
void app_session_forget(struct app *a);
double app_now(void);

/* ---- the status bar and hint line (statusbar.c) ---- */
/* The status bar's text pieces, most important first, for a width (pure: tested). */
size_t statusbar_format(const struct app *a, int width, char *buf, size_t buflen);
void statusbar_draw(const struct app *a, WINDOW *w);
void hints_draw(const struct app *a, WINDOW *w);
void transcript_draw(const struct app *a, struct transcript *t, WINDOW *w);

/* ---- slash commands (commands_slash.c) ---- */
struct slash_command {
    const char *name;          /* "/set" */
    const char *args;          /* "KEY VALUE", "[FILE]" or "" */
    const char *help;          /* one line */
    bool while_busy;           /* allowed while a reply is being generated */
    int (*run)(struct app *a, const char *args);   /* 0, or -1 after saying why */
};
extern const struct slash_command slash_commands[];
extern const size_t slash_command_count;
/* The command a word names (exact, or a unique prefix: "/q"), or NULL. */
const struct slash_command *slash_find(const char *word, size_t len);
/* Runs a line that starts with '/'. Returns 0, or -1 after a message. */
int slash_run(struct app *a, const char *line);
/* The i-th completion (0, 1, ...) of the text before the cursor, or NULL when no more. */
const char *slash_complete(const char *line, size_t len, int i, char *buf, size_t buflen);

/* ---- help (help.c) ---- */
struct help_key { const char *keys, *where, *what; };
extern const struct help_key help_keys[];
extern const size_t help_key_count;
void help_draw(const struct app *a, WINDOW *w);
int help_lines(void);

/* ---- input (input.c) ---- */
enum input_result {
    INPUT_NONE,                /* key consumed, nothing else happened */
    INPUT_CHANGED,             /* the line changed: draw it */
    INPUT_LINE,                /* a line was entered: input_take_line() */
    INPUT_EOF,                 /* Ctrl-D on an empty line */
};
/* Sets readline up for life inside curses and loads the history. NULL on failure. */
struct input *input_open(struct app *a);
void input_close(struct input *in);       /* saves the history */
/* Feeds bytes (a key as readline would get it from a terminal). */
enum input_result input_feed(struct input *in, const char *bytes, size_t n);
/* Editing keys curses decoded, done with readline's own commands. */
enum input_edit { INPUT_EDIT_HOME, INPUT_EDIT_END, INPUT_EDIT_DELETE, INPUT_EDIT_WORD_LEFT,
                  INPUT_EDIT_WORD_RIGHT };
enum input_result input_edit(struct input *in, enum input_edit op);
/* Inserts text as typed literally (paste, Alt-Enter's newline). */
enum input_result input_insert(struct input *in, const char *text, size_t n);
/* The entered line (owned by the input until the next call), or NULL. */
const char *input_take_line(struct input *in);
/* The current text. */
const char *input_text(const struct input *in, size_t *len);
void input_clear(struct input *in);
/* Rows the text needs at width w (prompt included). */
int input_rows(const struct input *in, int w);
/* Draws the line into w and leaves the cursor at the editing point. */
void input_draw(const struct input *in, WINDOW *w, const struct app *a);
/* A message readline produced (completion list), "" when none; cleared by reading. */
const char *input_take_note(struct input *in);
/* The history file path ($XDG_STATE_HOME/moescope/history), made in buf. */
const char *input_history_path(char *buf, size_t buflen);
/* `set editing-mode vi` in ~/.inputrc: a lone Esc belongs to readline then. */
bool input_vi_mode(const struct input *in);
/* In a bracketed paste: keys are text until the end marker. */
bool input_in_paste(const struct input *in);
void input_paste_begin(struct input *in);
/* Adds one key's bytes to a paste; returns INPUT_CHANGED when the paste ended. */
enum input_result input_paste_bytes(struct input *in, const char *b, size_t n);

/* ---- signals (signals.c) ---- */
extern volatile sig_atomic_t signal_quit;  /* SIGTERM, SIGHUP, SIGINT: the signal number */
extern volatile sig_atomic_t signal_cont;  /* SIGCONT: the terminal needs setting up again */
/* Installs the handlers. Fatal signals restore the terminal (with what the two captures
 * below remembered) and re-raise; the others set flags. */
void signals_install(void);
/* Before initscr(): remembers the shell's terminal modes on fd. */
void signals_capture_modes(int fd);
/* After initscr(): remembers the escape strings that undo the screen modes, and arms the
 * fatal handlers' restoration. */
void signals_capture_strings(void);
/* Async-signal-safe restoration (also used on a normal exit before endwin). */
void signals_restore_terminal(void);
/* The signals the loop blocks except while waiting in ppoll. */
void signals_block_mask(sigset_t *set);
void signals_uninstall(void);

#endif
