/* tui/app.c: the main loop of the full-screen app.
 *
 *   wait (ppoll on the keyboard and the worker's pipe, signals unblocked only there)
 *     -> keys: handlers change state and set dirty bits
 *     -> worker: records and status taken, transcript and inspector marked dirty
 *     -> frame: only dirty windows are drawn, wnoutrefresh each, one doupdate;
 *        at most ~30 frames a second while tokens stream.
 *
 * The loop never blocks on the engine: the worker thread runs it, and the UI takes what
 * the worker has posted whenever it looks. Keys are read through a 1x1 window that is never
 * drawn, so reading a key never refreshes anything by accident.
 *
 * Choices where the design is silent:
 * - Tab completes a line that starts with '/', and otherwise moves focus: a chat prompt
 *   rarely needs a literal tab, and both uses stay on the key people try first.
 * - `?` opens the keys only on an empty input line (or in the inspector), so a question
 *   mark can still begin a message. F1 always works.
 * - The mouse is not captured: the terminal's own selection keeps working for copying text.
 * - Conversations are re-rendered whole through the chat template each turn; the worker
 *   keeps every record whose text still matches (so earlier replies keep their sampled
 *   tokens and their routing) and feeds only the rest, in chunks, so Esc works in prefill.
 * - A reply is autosaved when it ends (sessions/); the first autosave says where. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <term.h>

#include "app.h"
#include "chat.h"
#include "commands.h"
#include "draw.h"
#include "trace_stats.h"

enum {
    FRAME_MS = 33,             /* ~30 frames a second while streaming */
    MSG_SECONDS = 4,           /* how long a hint-line message stays */
    WORKER_QUIT_MS = 700,      /* how long quitting waits for the engine to let go */
};

double app_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void app_options_default(struct app_options *o)
{
    memset(o, 0, sizeof *o);
    sampler_params_default(&o->sampler);
    o->n_predict = 2048;
}

void app_message(struct app *a, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    /* Newlines would break the one-line bar: show them as spaces. */
    for (char *p = a->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    a->msg_error = error;
    a->msg_until = app_now() + (error ? 2 * MSG_SECONDS : MSG_SECONDS);
    a->dirty |= DIRTY_HINTS;
}

int app_init(struct app *a, const struct app_options *o, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->opt = *o;
    a->sampler = o->sampler;
    a->n_predict = o->n_predict;
    a->stream_msg = -1;
    a->sel = -1;
    a->view = VIEW_OVERVIEW;
    a->inspector_on = true;
    a->focus = FOCUS_INPUT;
    a->dirty = DIRTY_ALL;
    a->vctx.layer = 0;
    a->vctx.heat = HEAT_SELECTED;
    a->vctx.entropy = ENTROPY_MEAN;
    transcript_init(&a->tr);
    trace_log_init(&a->log, 0, 0, 0);
    a->cache = calloc(1, sizeof *a->cache);
    if (!a->cache) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->system && *o->system) {
        a->system = strdup(o->system);
        if (!a->system) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (o->chat_template)
        snprintf(a->chat_template, sizeof a->chat_template, "%s", o->chat_template);
    char msg[1024] = "";
    if (theme_load(o->theme, &a->theme, msg, sizeof msg) < 0) {
        /* A theme that cannot be found or read is an error before the app starts. */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        snprintf(err, errlen, "%s", msg[0] ? msg : "cannot load the theme");
        return -1;
    }
    if (msg[0]) {
        /* Bad lines: the theme is used with those roles at their defaults; say which. */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        app_message(a, true, "%s", msg);
    }
    return 0;
}

void app_free(struct app *a)
{
    transcript_free(&a->tr);
    trace_log_free(&a->log);
    free(a->ws.reply);
    free(a->system);
    if (a->cache)
        view_cache_free(a->cache);
    free(a->cache);
    free(a->replay_vocab.off);
    free(a->replay_vocab.text);
    a->ws.reply = NULL;
    a->system = NULL;
    a->cache = NULL;
}

static bool app_busy(const struct app *a)
{
    return a->worker && worker_state_busy(a->ws.state);
}

/* ---- the conversation ---- */

/* The style a chat is rendered in: --chat-template, else the model's. A file with no chat
 * template is a base model: like llama-cli, which turns chat mode on only when the model
 * has a template, the conversation is then plain text the model continues
 * (CHAT_STYLE_NONE). */
static enum chat_style app_chat_style(const struct app *a)
{
    enum chat_style st = CHAT_STYLE_NONE;
    char err[256];
    if (a->chat_template[0] && chat_style_from_name(a->chat_template, &st, err, sizeof err) == 0)
        return st;
    if (a->ws.desc.chat_family[0] &&
        chat_style_from_name(a->ws.desc.chat_family, &st, err, sizeof err) == 0)
        return st;
    return CHAT_STYLE_NONE;
}

/* Completion: the system prompt and every message, one after the other, as one text. */
static char *app_render_plain(const struct chat_msg *msgs, int n, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(msgs[i].content);
    char *text = malloc(total), *p = text;
    if (!text)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(msgs[i].content);
        memcpy(p, msgs[i].content, l);
        p += l;
    }
    *p = 0;
    *len = (size_t)(p - text);
    return text;
}

/* The whole conversation as the model's template renders it (malloc'd). */
static char *app_render(const struct app *a, bool generation_prompt, size_t *len)
{
    int n = 0;
    struct chat_msg *msgs = malloc(((size_t)a->tr.n + 1) * sizeof *msgs);
    if (!msgs)
        return NULL;
    if (a->system)
        msgs[n++] = (struct chat_msg){ "system", a->system };
    for (int i = 0; i < a->tr.n; i++) {
        const struct message *m = &a->tr.msg[i];
        if (!m->in_chat || m->streaming)
            continue;
        msgs[n++] = (struct chat_msg){ m->role == MSG_USER ? "user" : "assistant", m->text };
    }
    enum chat_style st = app_chat_style(a);
    char *text = st == CHAT_STYLE_NONE ? app_render_plain(msgs, n, len)
                                       : chat_render_style(st, msgs, n, generation_prompt, len);
    free(msgs);
    return text;
}

int app_send(struct app *a)
{
    if (a->replay) {
        app_message(a, true, "replay is read-only: there is no model to answer");
        return -1;
    }
    if (!a->worker || !a->model_ready) {
        app_message(a, true, a->ws.state == WORKER_FAILED ? "no model is open"
                                                          : "the model is still loading");
        return -1;
    }
    if (app_busy(a)) {
        app_message(a, true, "a reply is still being written (Esc stops it)");
        return -1;
    }
    size_t len = 0;
    char *text = app_render(a, true, &len);
    if (!text) {
        app_message(a, true, "cannot render the chat template");
        return -1;
    }
    int r = worker_submit_reply(a->worker, text, len, &a->sampler, a->n_predict);
    free(text);
    if (r < 0) {
        app_message(a, true, "the model is busy");
        return -1;
    }
    a->ws.state = WORKER_PREFILL;
    a->state_since = app_now();
    a->stream_msg = transcript_add(&a->tr, MSG_ASSISTANT, "", 0);
    if (a->stream_msg >= 0)
        a->tr.msg[a->stream_msg].streaming = true;
    a->tr.scroll = 0;
    a->sel = -1;
    a->dirty |= DIRTY_ALL & ~DIRTY_LAYOUT;
    return 0;
}

/* Feeds a loaded conversation so the cache and the inspector hold it. */
static void app_feed(struct app *a)
{
    a->feed_pending = false;
    bool any = false;
    for (int i = 0; i < a->tr.n; i++)
        any |= a->tr.msg[i].in_chat;
    if (!any || !a->worker || !a->model_ready)
        return;
    size_t len = 0;
    char *text = app_render(a, false, &len);
    if (text && worker_submit_feed(a->worker, text, len) == 0)
        a->ws.state = WORKER_PREFILL;
    free(text);
}

/* ---- sessions ---- */

void app_session_forget(struct app *a)
{
    a->session_id[0] = 0;
    a->session_created[0] = 0;
    a->session_path[0] = 0;
}

/* The session as it stands: messages with their records. */
static int app_session_build(struct app *a, struct session *s, char *err, size_t errlen)
{
    if (session_init(s, a->log.n_layers, a->log.n_experts, a->log.n_experts_used) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (a->session_id[0]) {
        snprintf(s->id, sizeof s->id, "%s", a->session_id);
        snprintf(s->created, sizeof s->created, "%s", a->session_created);
    } else {
        snprintf(a->session_id, sizeof a->session_id, "%s", s->id);
        snprintf(a->session_created, sizeof a->session_created, "%s", s->created);
    }
    if (a->replay && a->have_loaded_model)
        s->model = a->loaded_model;
    else if (a->model_ready && session_set_model(s, &a->ws.desc, err, errlen) < 0)
        return -1;
    s->sampler = a->sampler;
    if (a->system && session_set_system_prompt(s, a->system) < 0)
        goto oom;
    long last = -1;
    for (int i = 0; i < a->tr.n; i++) {
        const struct message *m = &a->tr.msg[i];
        if (!m->in_chat || m->streaming)
            continue;
        if (m->role == MSG_ASSISTANT) {
            size_t end = m->rec_end < a->log.n ? m->rec_end : a->log.n;
            while (s->log.n < end)
                if (trace_log_copy_from(&s->log, &a->log, s->log.n) < 0)
                    goto oom;
        }
        last = session_add_message(s, m->role == MSG_USER ? SESSION_USER : SESSION_ASSISTANT,
                                   m->text, m->len);
        if (last < 0)
            goto oom;
    }
    /* Records after the last reply's end belong to it when it is the last message (a
     * later turn's tokenization moved the boundary); else they are an unanswered prompt. */
    if (last >= 0 && s->msg[last].role == SESSION_ASSISTANT) {
        size_t begin = s->msg[last].trace_begin;
        while (s->log.n < a->log.n)
            if (trace_log_copy_from(&s->log, &a->log, s->log.n) < 0)
                goto oom;
        session_set_range(s, (size_t)last, begin, s->log.n);
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Whether the conversation holds a finished message to save or export. */
static bool app_has_finished_message(const struct app *a)
{
    for (int i = 0; i < a->tr.n; i++)
        if (a->tr.msg[i].in_chat && !a->tr.msg[i].streaming)
            return true;
    return false;
}

int app_save(struct app *a, const char *path, bool loud)
{
    char err[1024] = "";
    struct session s;
    if (!app_has_finished_message(a)) {
        if (loud)
            app_message(a, true, "nothing to save yet");
        return loud ? -1 : 0;
    }
    if (app_session_build(a, &s, err, sizeof err) < 0) {
        session_free(&s);
        app_message(a, true, "save: %s", err);
        return -1;
    }
    char where[4096];
    if (path)
        snprintf(where, sizeof where, "%s", path);
    else if (a->session_path[0])
        snprintf(where, sizeof where, "%s", a->session_path);
    else if (session_autosave_path(&s, where, sizeof where, err, sizeof err) < 0) {
        session_free(&s);
        app_message(a, true, "save: %s", err);
        return -1;
    }
    int r = session_save(&s, where, false, err, sizeof err);
    session_free(&s);
    if (r < 0) {
        app_message(a, true, "%s", err);
        return -1;
    }
    snprintf(a->session_path, sizeof a->session_path, "%s", where);
    if (loud)
        app_message(a, false, "saved %s", where);
    return 0;
}

int app_export(struct app *a, const char *format, const char *path)
{
    char err[1024] = "";
    struct session s;
    if (!app_has_finished_message(a)) {
        app_message(a, true, "nothing to export yet");
        return -1;
    }
    if (app_session_build(a, &s, err, sizeof err) < 0 ||
        session_export_file(&s, format, path, err, sizeof err) < 0) {
        session_free(&s);
        app_message(a, true, "export: %s", err);
        return -1;
    }
    session_free(&s);
    app_message(a, false, "exported %s to %s", format, path);
    return 0;
}

/* Replay has no model, so no vocabulary: the texts of the tokens the records hold stand in
 * for it (alternatives that never occur show as ids). */
static void app_replay_vocab(struct app *a)
{
    struct vocab_table *v = &a->replay_vocab;
    free(v->off);
    free(v->text);
    memset(v, 0, sizeof *v);
    int n = 0;
    for (size_t i = 0; i < a->log.n; i++)
        if (a->log.tok[i].token >= n)
            n = a->log.tok[i].token + 1;
    for (size_t i = 0; i < a->log.n; i++)
        for (int k = 0; k < TRACE_TOP; k++)
            if (a->log.tok[i].sampled && a->log.tok[i].top_id[k] >= n)
                n = a->log.tok[i].top_id[k] + 1;
    if (n <= 0 || n > (1 << 24))
        return;
    /* Pieces go in id order; an id seen twice keeps its first piece. */
    long *first = malloc((size_t)n * sizeof *first);
    v->off = calloc((size_t)n + 1, sizeof *v->off);
    if (!first || !v->off)
        goto fail;
    for (int t = 0; t < n; t++)
        first[t] = -1;
    size_t len = 0;
    for (size_t i = 0; i < a->log.n; i++) {
        int32_t t = a->log.tok[i].token;
        if (t >= 0 && first[t] < 0) {
            first[t] = (long)i;
            len += a->log.tok[i].piece_len;
        }
    }
    v->text = malloc(len + 1);
    if (!v->text || len > UINT32_MAX)
        goto fail;
    uint32_t off = 0;
    for (int t = 0; t < n; t++) {
        v->off[t] = off;
        if (first[t] >= 0) {
            const struct trace_token *r = &a->log.tok[first[t]];
            memcpy(v->text + off, trace_piece(&a->log, (size_t)first[t]), r->piece_len);
            off += r->piece_len;
        }
    }
    v->off[n] = off;
    v->n = n;
    free(first);
    a->vocab = v;
    return;
fail:
    free(first);
    free(v->off);
    free(v->text);
    memset(v, 0, sizeof *v);
}

int app_load(struct app *a, const char *path)
{
    char err[1024] = "";
    struct session s;
    if (session_load(&s, path, err, sizeof err) < 0) {
        app_message(a, true, "%s", err);
        return -1;
    }
    if (!a->replay && a->worker && a->model_ready) {
        /* (Before the model is open its context is empty: nothing to forget.) */
        if (app_busy(a) || worker_submit_reset(a->worker) < 0) {
            session_free(&s);
            app_message(a, true, "the model is busy (Esc stops the reply first)");
            return -1;
        }
    }
    transcript_clear(&a->tr);
    a->stream_msg = -1;
    a->sel = -1;
    if (a->replay)
        transcript_addf(&a->tr, MSG_NOTE,
                        "replay of %s: %zu messages, %zu records, read-only (no model is open)",
                        path, s.n_msg, s.log.n);
    free(a->system);
    a->system = s.system_prompt && s.system_prompt[0] ? strdup(s.system_prompt) : NULL;
    for (size_t i = 0; i < s.n_msg; i++) {
        const struct session_message *m = &s.msg[i];
        if (m->role == SESSION_SYSTEM) {
            free(a->system);
            a->system = strdup(m->content);
            continue;
        }
        int k = transcript_add(&a->tr, m->role == SESSION_USER ? MSG_USER : MSG_ASSISTANT,
                               m->content, m->content_len);
        if (k < 0)
            continue;
        a->tr.msg[k].rec_end = m->trace_end;
        /* In replay the records are the saved ones: a reply's tokens are the sampled
         * records of its range, so the inspector's selection can be shown in its text. */
        if (a->replay && m->role == SESSION_ASSISTANT)
            for (size_t r = m->trace_begin; r < m->trace_end && r < s.log.n; r++)
                if (!s.log.tok[r].prompt) {
                    a->tr.msg[k].rec_first = (long)r;
                    break;
                }
    }
    a->sampler = s.sampler;
    a->loaded_model = s.model;
    a->have_loaded_model = true;
    snprintf(a->session_id, sizeof a->session_id, "%s", s.id);
    snprintf(a->session_created, sizeof a->session_created, "%s", s.created);
    snprintf(a->session_path, sizeof a->session_path, "%s", path);
    if (a->replay) {
        /* The records are the inspector's: take them over as they were saved. */
        trace_log_free(&a->log);
        a->log = s.log;
        memset(&s.log, 0, sizeof s.log);
        struct model_desc *d = &a->ws.desc;
        snprintf(d->name, sizeof d->name, "%s", s.model.name);
        snprintf(d->arch, sizeof d->arch, "%s", s.model.arch);
        d->n_layers = s.model.n_layers;
        d->n_experts = s.model.n_experts;
        d->n_experts_used = s.model.n_experts_used;
        d->d_model = s.model.d_model;
        d->n_vocab = s.model.n_vocab;
        snprintf(a->model_label, sizeof a->model_label, "%.150s",
                 s.model.name[0] ? s.model.name : s.model.file);
        a->random_weights = strstr(s.model.name, "random") != NULL;
        a->model_ready = true;
        app_replay_vocab(a);
    } else {
        trace_log_clear(&a->log);
        char why[512] = "";
        if (a->model_ready) {
            struct session_model cur;
            char e2[256];
            if (session_model_from_desc(&cur, &a->ws.desc, e2, sizeof e2) == 0 &&
                session_model_differs(&s.model, &cur, why, sizeof why))
                app_message(a, true, "this session was made with another model: %s", why);
        }
        transcript_addf(&a->tr, MSG_NOTE, "loaded %s: %zu messages; feeding them to the model",
                        path, s.n_msg);
        a->feed_pending = true;
    }
    session_free(&s);
    a->tr.scroll = 0;
    a->dirty |= DIRTY_ALL;
    return 0;
}

/* ---- the worker's news ---- */

static void reply_meta(const struct app *a, struct message *m, enum reply_end why)
{
    struct trace_speed sp;
    memset(&sp, 0, sizeof sp);
    if (trace_speed_cache_get(&a->cache->speed, &a->log) == 0)
        sp = a->cache->speed.turn;
    const char *dot = a->utf8 ? " \u00b7 " : " - ";
    const char *end = why == REPLY_STOPPED    ? "stopped"
                      : why == REPLY_LIMIT    ? "token limit"
                      : why == REPLY_CTX_FULL ? "context full"
                                              : "";
    char ttft[48] = "";
    if (sp.n_prompt_fed > 0)
        snprintf(ttft, sizeof ttft, "%sTTFT %.0f ms", dot, sp.ttft_ms);
    snprintf(m->meta, sizeof m->meta, "%zu tokens%s%.1f tok/s%s%s%s", sp.n_gen, dot,
             sp.decode_tps, ttft, *end ? dot : "", end);
}

static void app_model_ready(struct app *a)
{
    const struct model_desc *d = &a->ws.desc;
    trace_log_free(&a->log);
    trace_log_init(&a->log, d->n_layers, d->n_experts, d->n_experts_used);
    a->model_ready = true;
    a->vocab = worker_vocab(a->worker);
    snprintf(a->model_label, sizeof a->model_label, "%.150s", d->name[0] ? d->name : d->path);
    char lower[sizeof d->name];
    for (size_t i = 0; i < sizeof lower; i++)
        lower[i] = (char)((d->name[i] >= 'A' && d->name[i] <= 'Z') ? d->name[i] + 32 : d->name[i]);
    a->random_weights = strstr(lower, "random") != NULL;
    /* The middle layer is the most telling one for the strip. */
    a->vctx.layer = d->n_layers / 2;
    char experts[64];
    if (d->n_experts > 0)
        snprintf(experts, sizeof experts, "%d of %d experts", d->n_experts_used, d->n_experts);
    else
        snprintf(experts, sizeof experts, "dense");
    const char *tmpl = d->chat_family[0] ? ""
                                         : ".\nThe file has no chat template: it is a base "
                                           "model, and continues your text as it is";
    transcript_addf(&a->tr, MSG_NOTE, "%s: %s, %d layers, %s, context %d%s%s", a->model_label,
                    d->arch, d->n_layers, experts, a->ws.n_ctx, a->chat_template[0] ? "" : tmpl,
                    a->random_weights ? ".\nIts weights are random: the words are noise, but the "
                                        "routing and the timings are real."
                                      : ".");
    transcript_addf(&a->tr, MSG_NOTE,
                    "Type a message and press Enter. Tab moves to the inspector, F1 lists every "
                    "key, /help the commands.");
    a->dirty |= DIRTY_ALL;   /* the welcome, the status, the inspector's shape */
    if (a->feed_pending)
        app_feed(a);
}

/* Takes what the worker posted and turns it into transcript and inspector changes. */
static void app_pump(struct app *a)
{
    if (!a->worker)
        return;
    size_t first = 0;
    enum worker_state before = a->ws.state;
    size_t n_before = a->log.n;
    first = n_before + 1;
    if (!worker_take(a->worker, &a->log, &first, &a->ws))
        return;
    a->dirty |= DIRTY_STATUS;
    if (first <= n_before || a->log.n != n_before)
        a->dirty |= DIRTY_INSPECTOR;   /* records changed */
    if (a->ws.state != before) {
        a->dirty |= DIRTY_HINTS | DIRTY_INPUT;   /* the keys on offer follow the state */
        a->state_since = app_now();
    }
    if (a->ws.opened && !a->model_ready)
        app_model_ready(a);
    if (a->ws.state == WORKER_FAILED && before != WORKER_FAILED) {
        transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);
        transcript_addf(&a->tr, MSG_NOTE, "moescope -m FILE opens another model; "
                                          "/load FILE a saved session; /quit leaves.");
        a->dirty |= DIRTY_TRANSCRIPT | DIRTY_INPUT;
    }
    if (a->stream_msg >= 0 && a->stream_msg < a->tr.n && a->tr.msg[a->stream_msg].streaming) {
        struct message *m = &a->tr.msg[a->stream_msg];
        if (m->rec_first < 0 && a->ws.reply_first >= 0)
            m->rec_first = a->ws.reply_first;
        if (m->len != a->ws.reply_len || memcmp(m->text, a->ws.reply, m->len) != 0) {
            transcript_set_text(&a->tr, a->stream_msg, a->ws.reply ? a->ws.reply : "",
                                a->ws.reply_len);
            a->dirty |= DIRTY_TRANSCRIPT;
        }
    }
    if (a->ws.done_seq != a->done_seen) {
        a->done_seen = a->ws.done_seq;
        int k = a->stream_msg;
        a->stream_msg = -1;
        if (a->ws.done_why == REPLY_FED) {
            app_message(a, false, "the conversation is in the model's context: %zu tokens",
                        a->log.n);
        } else if (k < 0 && a->ws.done_why == REPLY_ERROR) {
            transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);   /* a feed failed */
        } else if (k >= 0 && k < a->tr.n) {
            struct message *m = &a->tr.msg[k];
            m->streaming = false;
            transcript_set_text(&a->tr, k, a->ws.reply ? a->ws.reply : "", a->ws.reply_len);
            m->rec_end = a->log.n;
            if (a->ws.done_why == REPLY_ERROR) {
                if (m->len == 0)
                    transcript_truncate(&a->tr, k);
                transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);
            } else if (a->ws.done_why == REPLY_STOPPED && m->len == 0) {
                /* Stopped while reading the prompt: no reply to keep. */
                transcript_truncate(&a->tr, k);
                app_message(a, false, "stopped before the reply began (/regen asks again)");
            } else {
                reply_meta(a, m, a->ws.done_why);
                /* Autosave after every reply; the first one says where. */
                bool first_save = !a->session_path[0];
                if (!a->replay && app_save(a, NULL, false) == 0 && first_save)
                    app_message(a, false, "autosaved to %s", a->session_path);
            }
        }
        a->dirty |= DIRTY_TRANSCRIPT | DIRTY_INPUT;
    }
    if (a->feed_pending && a->model_ready && !app_busy(a))
        app_feed(a);
}

/* ---- keys ---- */

static void app_focus(struct app *a, enum focus f)
{
    a->focus = f;
    /* In a cramped terminal the pane with focus is the one shown. */
    a->inspector_alone = f == FOCUS_INSPECTOR;
    if (f == FOCUS_INSPECTOR)
        a->inspector_on = true;
    a->dirty |= DIRTY_ALL;
}

static void app_select(struct app *a, long delta)
{
    long n = (long)a->log.n;
    if (n == 0)
        return;
    long cur = a->sel < 0 || a->sel >= n ? n - 1 : a->sel;
    long next = cur + delta;
    if (next < 0)
        next = 0;
    if (next >= n - 1 && delta > 0)
        next = -1;   /* past the newest: follow it again */
    a->sel = next;
    a->tr.reveal = true;
    a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
}

static void app_layer(struct app *a, int delta)
{
    int nl = a->log.n_layers;
    if (nl <= 0)
        return;
    int l = a->vctx.layer + delta;
    a->vctx.layer = l < 0 ? 0 : l >= nl ? nl - 1 : l;
    a->dirty |= DIRTY_INSPECTOR;
}

static void app_view(struct app *a, int v)
{
    if (v < 0 || v >= VIEW_COUNT)
        return;
    a->view = (enum view_id)v;
    if (!a->inspector_on)
        a->inspector_on = true;
    a->dirty |= DIRTY_INSPECTOR;
}

static void app_stop(struct app *a)
{
    if (app_busy(a)) {
        worker_request_stop(a->worker);
        app_message(a, false, "stopping the reply");
    }
}

static void app_toggle_inspector(struct app *a)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (layout_cramped(rows, cols, 1)) {
        a->inspector_on = true;
        a->inspector_alone = !a->inspector_alone;
        a->focus = a->inspector_alone ? FOCUS_INSPECTOR : FOCUS_INPUT;
    } else {
        a->inspector_on = !a->inspector_on;
        if (!a->inspector_on)
            a->focus = FOCUS_INPUT;
    }
    a->dirty |= DIRTY_ALL;
}

/* Suspends to the shell (Ctrl-Z): the terminal is given back, then taken again. */
static void app_suspend(struct app *a)
{
    fputs("\033[?2004l", stdout);
    fflush(stdout);
    endwin();
    raise(SIGSTOP);
    /* Back from fg. */
    reset_prog_mode();
    fputs("\033[?2004h", stdout);
    fflush(stdout);
    clearok(curscr, TRUE);
    a->dirty |= DIRTY_ALL;
}

static void app_line(struct app *a, const char *line)
{
    if (!line)
        return;
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (!*p)
        return;
    if (p[0] == '/') {
        slash_run(a, p);
        return;
    }
    if (a->replay) {
        app_message(a, true, "replay is read-only: there is no model to answer");
        return;
    }
    transcript_add(&a->tr, MSG_USER, line, strlen(line));
    if (app_send(a) < 0)
        transcript_truncate(&a->tr, a->tr.n - 1);
    a->dirty |= DIRTY_TRANSCRIPT;
}

/* The result of feeding readline, turned into state changes. */
static void app_input_result(struct app *a, enum input_result r)
{
    if (r == INPUT_EOF) {
        a->quit = true;
        return;
    }
    if (r == INPUT_LINE)
        app_line(a, input_take_line(a->in));
    const char *note = input_take_note(a->in);
    if (note[0])
        app_message(a, false, "%s", note);
    a->dirty |= DIRTY_INPUT;   /* (app_layout notices when the input needs more rows) */
}

static void app_feed_bytes(struct app *a, const char *b, size_t n)
{
    if (a->focus != FOCUS_INPUT)
        app_focus(a, FOCUS_INPUT);
    app_input_result(a, input_feed(a->in, b, n));
}

static bool input_empty(const struct app *a)
{
    size_t n = 0;
    input_text(a->in, &n);
    return n == 0;
}

/* Reads the rest of an escape sequence that arrived with ESC (Alt-x, CSI ...). */
static size_t read_escape_tail(struct app *a, char *seq, size_t cap)
{
    size_t n = 0;
    wint_t c;
    int r = wget_wch(a->w_keys, &c);
    if (r == ERR)
        return 0;
    if (r == KEY_CODE_YES) {
        ungetch((int)c);   /* Esc, then a key curses knew: take them one at a time */
        return 0;
    }
    if (c > 0x7f) {
        /* Alt and a non-ASCII character: readline's to interpret. */
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        char mb[8];
        size_t k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k == (size_t)-1 || k >= cap)
            return 0;
        memcpy(seq, mb, k);
        return k;
    }
    seq[n++] = (char)c;
    if (c != '[' && c != 'O')
        return n;
    /* CSI or SS3: parameters and intermediates, then one final byte 0x40..0x7e. */
    while (n + 1 < cap) {
        r = wget_wch(a->w_keys, &c);
        if (r != OK || c > 0x7f)
            break;
        seq[n++] = (char)c;
        if (c >= 0x40 && c <= 0x7e)
            break;
    }
    return n;
}

static void app_key_escape(struct app *a)
{
    char seq[32];
    size_t n = read_escape_tail(a, seq, sizeof seq);
    if (n == 0) {
        /* A lone Esc. */
        if (a->help_open) {
            a->help_open = false;
            a->dirty |= DIRTY_ALL;
        } else if (app_busy(a)) {
            app_stop(a);
        } else if (a->focus == FOCUS_INSPECTOR) {
            app_focus(a, FOCUS_INPUT);
        } else if (a->in && input_vi_mode(a->in)) {
            app_feed_bytes(a, "\033", 1);   /* vi users: Esc is command mode */
        }
        return;
    }
    if (n == 5 && !memcmp(seq, "[200~", 5)) {
        input_paste_begin(a->in);
        return;
    }
    if (n == 1 && (seq[0] == '\r' || seq[0] == '\n')) {
        if (a->focus != FOCUS_INPUT)
            app_focus(a, FOCUS_INPUT);
        app_input_result(a, input_insert(a->in, "\n", 1));   /* Alt-Enter */
        return;
    }
    if (n == 1 && seq[0] >= '0' && seq[0] < '0' + VIEW_COUNT) {
        app_view(a, seq[0] - '0');   /* Alt-digit: a view from anywhere */
        return;
    }
    /* Anything else is readline's: Alt-b, Alt-f, Alt-., sequences curses did not know. */
    char buf[40];
    buf[0] = '\033';
    memcpy(buf + 1, seq, n);
    app_feed_bytes(a, buf, n + 1);
}

static void app_key_inspector(struct app *a, wint_t c)
{
    if (c >= '0' && c < '0' + VIEW_COUNT) {
        app_view(a, (int)(c - '0'));
    } else if (c == '[') {
        app_layer(a, -1);
    } else if (c == ']') {
        app_layer(a, +1);
    } else if (c == 'h') {
        a->vctx.heat = (enum heat_mode)((a->vctx.heat + 1) % HEAT_MODE_COUNT);
        a->dirty |= DIRTY_INSPECTOR;
    } else if (c == 'e') {
        a->vctx.entropy = (enum entropy_mode)((a->vctx.entropy + 1) % ENTROPY_MODE_COUNT);
        a->dirty |= DIRTY_INSPECTOR;
    } else if (c == '?') {
        a->help_open = true;
        a->help_scroll = 0;
        a->dirty |= DIRTY_ALL;
    } else if (c == '\r' || c == '\n' || c == 'q') {
        app_focus(a, FOCUS_INPUT);
    } else if (c >= ' ' && c != 0x7f) {
        /* Typing goes to the input line, as a user expects. */
        char mb[8];
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k != (size_t)-1)
            app_feed_bytes(a, mb, k);
    }
}

static void app_key_char(struct app *a, wint_t c)
{
    if (c != 3)
        a->ctrl_c = 0;
    switch (c) {
    case 27:
        app_key_escape(a);
        return;
    case 3: /* Ctrl-C */
        if (++a->ctrl_c >= 2) {
            a->quit = true;
            return;
        }
        if (app_busy(a))
            worker_request_stop(a->worker);
        else if (a->in && !input_empty(a))
            input_clear(a->in);
        app_message(a, false, "%sCtrl-C again quits",
                    app_busy(a) ? "stopping the reply; " : "");
        a->dirty |= DIRTY_INPUT;
        return;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        a->dirty |= DIRTY_ALL;
        return;
    case 19: /* Ctrl-S */
        app_save(a, NULL, true);
        return;
    case 26: /* Ctrl-Z */
        app_suspend(a);
        return;
    case '\t':
        if (a->focus == FOCUS_INPUT && a->in) {
            size_t n;
            const char *t = input_text(a->in, &n);
            if (n > 0 && t[0] == '/') {
                app_feed_bytes(a, "\t", 1);   /* complete the command */
                return;
            }
        }
        app_focus(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
        return;
    }
    if (a->help_open) {
        if (c == 'q' || c == '?')
            a->help_open = false;
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (a->focus == FOCUS_INSPECTOR) {
        app_key_inspector(a, c);
        return;
    }
    if (c == '?' && input_empty(a)) {
        a->help_open = true;
        a->help_scroll = 0;
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (c == '\r' || c == '\n') {
        size_t n;
        const char *t = input_text(a->in, &n);
        size_t i = 0;
        while (i < n && (t[i] == ' ' || t[i] == '\n'))
            i++;
        bool command = i < n && t[i] == '/';
        /* A message that cannot be sent now stays in the input line. */
        if (!command && i < n) {
            if (a->replay) {
                app_message(a, true, "replay is read-only: there is no model to answer");
                return;
            }
            if (app_busy(a)) {
                app_message(a, true, "a reply is being written: Esc stops it, then send");
                return;
            }
            if (!a->model_ready) {
                app_message(a, true, a->ws.state == WORKER_FAILED ? "no model is open"
                                                                  : "the model is still loading");
                return;
            }
        }
        app_feed_bytes(a, "\r", 1);
        return;
    }
    char mb[8];
    size_t k;
    if (c == 0x7f || c == 8) {
        mb[0] = 0x7f;
        k = 1;
    } else {
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k == (size_t)-1)
            return;
    }
    app_feed_bytes(a, mb, k);
}

static void app_key_code(struct app *a, wint_t k)
{
    a->ctrl_c = 0;
    int page = a->tr.last_h > 3 ? a->tr.last_h - 2 : 1;
    if (k == KEY_RESIZE) {
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (a->help_open) {
        if (k == KEY_UP)
            a->help_scroll--;
        else if (k == KEY_DOWN)
            a->help_scroll++;
        else if (k == KEY_PPAGE)
            a->help_scroll -= 10;
        else if (k == KEY_NPAGE)
            a->help_scroll += 10;
        else
            a->help_open = false;
        if (a->help_scroll < 0)
            a->help_scroll = 0;
        if (a->help_scroll > help_lines())
            a->help_scroll = help_lines();
        a->dirty |= DIRTY_ALL;
        return;
    }
    switch (k) {
    case KEY_F(1):
        a->help_open = true;
        a->help_scroll = 0;
        a->dirty |= DIRTY_ALL;
        return;
    case KEY_F(2):
        app_toggle_inspector(a);
        return;
    case KEY_PPAGE:
        transcript_scroll(&a->tr, page);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_NPAGE:
        transcript_scroll(&a->tr, -page);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_SR:
        transcript_scroll(&a->tr, 1);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_SF:
        transcript_scroll(&a->tr, -1);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_BTAB:
        app_focus(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
        return;
    case KEY_ENTER:
        app_key_char(a, '\r');
        return;
    }
    if (a->focus == FOCUS_INSPECTOR) {
        switch (k) {
        case KEY_LEFT: app_select(a, -1); break;
        case KEY_RIGHT: app_select(a, +1); break;
        case KEY_HOME:
            a->sel = 0;
            a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
            break;
        case KEY_END:
            a->sel = -1;
            a->tr.scroll = 0;
            a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
            break;
        case KEY_UP: app_layer(a, -1); break;
        case KEY_DOWN: app_layer(a, +1); break;
        }
        return;
    }
    if (!a->in)
        return;
    const char *seq = NULL;
    switch (k) {
    case KEY_LEFT: seq = "\033[D"; break;
    case KEY_RIGHT: seq = "\033[C"; break;
    case KEY_UP: seq = "\033[A"; break;
    case KEY_DOWN: seq = "\033[B"; break;
    case KEY_BACKSPACE: seq = "\177"; break;
    case KEY_HOME: app_input_result(a, input_edit(a->in, INPUT_EDIT_HOME)); return;
    case KEY_END:
        if (input_empty(a)) {
            a->tr.scroll = 0;   /* End on an empty line: back to the newest text */
            a->dirty |= DIRTY_TRANSCRIPT;
            return;
        }
        app_input_result(a, input_edit(a->in, INPUT_EDIT_END));
        return;
    case KEY_DC: app_input_result(a, input_edit(a->in, INPUT_EDIT_DELETE)); return;
    default: {
        const char *name = keyname((int)k);
        if (name && !strcmp(name, "kLFT5"))
            app_input_result(a, input_edit(a->in, INPUT_EDIT_WORD_LEFT));
        else if (name && !strcmp(name, "kRIT5"))
            app_input_result(a, input_edit(a->in, INPUT_EDIT_WORD_RIGHT));
        return;
    }
    }
    app_feed_bytes(a, seq, strlen(seq));
}

static void app_keys(struct app *a)
{
    wint_t c;
    int r;
    while ((r = wget_wch(a->w_keys, &c)) != ERR) {
        a->idle_wakeups = 0;
        if (a->in && input_in_paste(a->in)) {
            /* Inside a bracketed paste every key is text, until ESC [201~. */
            char mb[8];
            size_t k = 0;
            if (r == KEY_CODE_YES) {
                if (c == KEY_ENTER)
                    mb[k++] = '\n';
            } else {
                mbstate_t ps;
                memset(&ps, 0, sizeof ps);
                k = wcrtomb(mb, (wchar_t)c, &ps);
                if (k == (size_t)-1)
                    k = 0;
            }
            if (k > 0 && input_paste_bytes(a->in, mb, k) != INPUT_NONE) {
                if (a->focus != FOCUS_INPUT)
                    app_focus(a, FOCUS_INPUT);
                a->dirty |= DIRTY_INPUT;
            }
            continue;
        }
        if (a->msg[0] && a->msg_until == 0) {
            a->msg[0] = 0;
            a->dirty |= DIRTY_HINTS;
        }
        if (r == KEY_CODE_YES)
            app_key_code(a, c);
        else
            app_key_char(a, c);
        if (a->quit)
            return;
    }
}

/* ---- drawing ---- */

static void win_free(WINDOW **w)
{
    if (*w)
        delwin(*w);
    *w = NULL;
}

static WINDOW *win_make(struct rect r)
{
    if (r.h <= 0 || r.w <= 0)
        return NULL;
    WINDOW *w = newwin(r.h, r.w, r.y, r.x);
    if (w)
        leaveok(w, TRUE);
    return w;
}

static void app_windows(struct app *a)
{
    win_free(&a->w_status);
    win_free(&a->w_transcript);
    win_free(&a->w_input);
    win_free(&a->w_inspector);
    win_free(&a->w_tabs);
    win_free(&a->w_sep);
    win_free(&a->w_hints);
    const struct layout *l = &a->lay;
    if (l->mode == LAYOUT_TOO_SMALL)
        return;
    a->w_status = win_make(l->status);
    a->w_transcript = win_make(l->transcript);
    a->w_input = win_make(l->input);
    if (a->w_input)
        leaveok(a->w_input, FALSE);   /* the cursor is shown where the user types */
    a->w_sep = win_make(l->sep);
    a->w_hints = win_make(l->hints);
    if (l->inspector.h > 0) {
        struct rect tabs = { l->inspector.y, l->inspector.x, 1, l->inspector.w };
        struct rect body = { l->inspector.y + 1, l->inspector.x, l->inspector.h - 1,
                             l->inspector.w };
        a->w_tabs = win_make(tabs);
        a->w_inspector = win_make(body);
    }
}

static void app_layout(struct app *a)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    struct layout l;
    layout_compute(rows, cols, a->inspector_on, a->inspector_alone, 1, &l);
    int in_rows = a->in && l.input.w > 0 ? input_rows(a->in, l.input.w) : 1;
    if (in_rows > 1)
        layout_compute(rows, cols, a->inspector_on, a->inspector_alone, in_rows, &l);
    if (memcmp(&l, &a->lay, sizeof l) != 0 || !a->w_hints) {
        a->lay = l;
        app_windows(a);
        a->dirty |= DIRTY_ALL;
    }
    /* The pane with focus must be on screen. */
    if (a->focus == FOCUS_INSPECTOR && l.inspector.h == 0 && l.mode != LAYOUT_TOO_SMALL)
        a->focus = FOCUS_INPUT;
}

static const char *app_piece(void *user, int32_t token, size_t *len)
{
    const struct app *a = user;
    const struct vocab_table *v = a->vocab;
    if (!v || token < 0 || token >= v->n)
        return NULL;
    *len = v->off[token + 1] - v->off[token];
    return v->text + v->off[token];
}

static const char *const view_short[VIEW_COUNT] = {
    "all", "strip", "heat", "ent", "lat", "bal", "split", "tok",
};

static void app_draw_tabs(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int wd = getmaxx(w);
    bool focus = a->focus == FOCUS_INSPECTOR;
    attr_t base = draw_attr(th, focus ? THEME_BORDER_FOCUS : THEME_BORDER);
    werase(w);
    draw_blank(w, 0, 0, wd, base);
    /* The widest form that fits: a label and full names, full names, short names, or
     * numbers with the current view's name. */
    int full = 0, brief = 0;
    for (int v = 0; v < VIEW_COUNT; v++) {
        full += (int)strlen(view_table[v].name) + 3;
        brief += (int)strlen(view_short[v]) + 3;
    }
    const char *label = focus ? "INSPECTOR" : "inspector";
    int level = full + 10 <= wd ? 0 : full <= wd ? 1 : brief <= wd ? 2 : 3;
    int x = 0;
    if (level == 0)
        x += draw_printf(w, 0, x, wd - x, base | A_BOLD, "%s ", label);
    for (int v = 0; v < VIEW_COUNT && x < wd; v++) {
        bool cur = (int)a->view == v;
        attr_t at = cur ? draw_attr(th, THEME_SELECTION) : draw_attr(th, THEME_DIM);
        attr_t ka = cur ? at : draw_attr(th, THEME_KEY);
        const char *name = level <= 1 || (level == 3 && cur) ? view_table[v].name
                           : level == 2                      ? view_short[v]
                                                             : NULL;
        x += draw_printf(w, 0, x, wd - x, ka, " %d", v);
        if (name)
            x += draw_printf(w, 0, x, wd - x, at, " %s ", name);
        else
            x += draw_printf(w, 0, x, wd - x, at, " ");
    }
    if (!focus && x + 12 < wd)
        draw_printf(w, 0, wd - 11, 11, draw_attr(th, THEME_DIM), "Tab: focus");
}

static void app_draw_inspector(struct app *a)
{
    struct view_ctx ctx = a->vctx;
    ctx.log = &a->log;
    ctx.cache = a->cache;
    ctx.sel = a->sel;
    ctx.theme = &a->theme;
    ctx.utf8 = a->utf8;
    ctx.focused = a->focus == FOCUS_INSPECTOR;
    ctx.piece = app_piece;
    ctx.piece_user = a;
    if (a->w_tabs)
        app_draw_tabs(a, a->w_tabs);
    if (a->w_inspector) {
        if (!a->model_ready) {
            werase(a->w_inspector);
            draw_printf(a->w_inspector, 1, 2, getmaxx(a->w_inspector) - 4,
                        draw_attr(&a->theme, THEME_DIM), "%s",
                        a->ws.state == WORKER_FAILED ? "no model, no records"
                                                     : "loading the model...");
        } else {
            view_table[a->view].draw(&ctx, a->w_inspector);
        }
    }
}

static void app_draw_sep(const struct app *a, WINDOW *w)
{
    attr_t at = draw_attr(&a->theme, a->focus == FOCUS_INSPECTOR ? THEME_BORDER_FOCUS
                                                                 : THEME_BORDER);
    werase(w);
    wattrset(w, at);
    mvwvline(w, 0, 0, ACS_VLINE, getmaxy(w));
    wattrset(w, A_NORMAL);
}

static void app_draw_too_small(const struct app *a)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    werase(stdscr);
    char buf[128];
    snprintf(buf, sizeof buf, "terminal too small (%dx%d, needs %dx%d)", cols, rows,
             LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
    if ((int)strlen(buf) > cols)
        snprintf(buf, sizeof buf, "terminal too small: %dx%d", cols, rows);
    if ((int)strlen(buf) > cols)
        snprintf(buf, sizeof buf, "too small");
    int len = (int)strlen(buf);
    int x = cols > len ? (cols - len) / 2 : 0;
    mvwaddnstr(stdscr, rows / 2, x, buf, cols - x);
    (void)a;
    wnoutrefresh(stdscr);
}

static void app_read_rss(struct app *a, double now)
{
    if (now - a->rss_at < 1.0)
        return;
    a->rss_at = now;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return;
    unsigned long size, rss;
    if (fscanf(f, "%lu %lu", &size, &rss) == 2)
        a->rss_mb = (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    fclose(f);
}

static void app_draw(struct app *a)
{
    double now = app_now();
    if (a->theme_dirty) {
        draw_theme_apply(&a->theme);
        a->theme_dirty = false;
        a->dirty |= DIRTY_ALL;
        clearok(curscr, TRUE);
    }
    app_read_rss(a, now);
    app_layout(a);
    if (a->lay.mode == LAYOUT_TOO_SMALL) {
        curs_set(0);
        app_draw_too_small(a);
        doupdate();
        a->dirty = 0;
        return;
    }
    unsigned d = a->dirty;
    if ((d & DIRTY_STATUS) && a->w_status) {
        statusbar_draw(a, a->w_status);
        wnoutrefresh(a->w_status);
    }
    if ((d & DIRTY_TRANSCRIPT) && a->w_transcript) {
        transcript_draw(a, &a->tr, a->w_transcript);
        wnoutrefresh(a->w_transcript);
    }
    if ((d & DIRTY_INSPECTOR) && (a->w_inspector || a->w_tabs)) {
        app_draw_inspector(a);
        if (a->w_tabs)
            wnoutrefresh(a->w_tabs);
        if (a->w_inspector)
            wnoutrefresh(a->w_inspector);
    }
    if ((d & DIRTY_LAYOUT) && a->w_sep) {
        app_draw_sep(a, a->w_sep);
        wnoutrefresh(a->w_sep);
    }
    if ((d & DIRTY_HINTS) && a->w_hints) {
        hints_draw(a, a->w_hints);
        wnoutrefresh(a->w_hints);
    }
    if (a->help_open) {
        int rows, cols;
        getmaxyx(stdscr, rows, cols);
        int h = help_lines() + 2, w = 92;
        if (h > rows - 2)
            h = rows - 2;
        if (w > cols - 2)
            w = cols - 2;
        WINDOW *hw = newwin(h, w, (rows - h) / 2, (cols - w) / 2);
        if (hw) {
            help_draw(a, hw);
            wnoutrefresh(hw);
            delwin(hw);
        }
        curs_set(0);
    } else if (a->w_input) {
        if (d & DIRTY_INPUT)
            input_draw(a->in, a->w_input, a);
        /* Last, so the terminal's cursor ends where the user types. */
        wnoutrefresh(a->w_input);
        curs_set(a->focus == FOCUS_INPUT ? 1 : 0);
    }
    doupdate();
    a->dirty = 0;
    a->last_frame = now;
    a->frames_drawn++;
    double ms = (app_now() - now) * 1000.0;
    a->draw_ms_sum += ms;
    if (ms > a->draw_ms_max)
        a->draw_ms_max = ms;
}

/* ---- the loop ---- */

static int app_terminal_on(struct app *a)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "moescope: the app needs a terminal (for scripts: moescope run)\n");
        return -1;
    }
    signals_capture_modes(STDIN_FILENO);
    /* A terminal that cannot move its cursor (TERM=dumb, an editor's shell buffer) would
     * get garbage: say so before taking it over. */
    int terr = 0;
    if (setupterm(NULL, STDOUT_FILENO, &terr) == OK) {
        const char *cup = tigetstr("cup");
        bool usable = cup && cup != (const char *)-1;
        del_curterm(cur_term);
        if (!usable) {
            const char *t = getenv("TERM");
            fprintf(stderr, "moescope: terminal type '%s' cannot move the cursor; the app "
                            "needs a full-screen terminal (for plain output: moescope run)\n",
                    t ? t : "(unset)");
            return -1;
        }
    }
    if (!newterm(NULL, stdout, stdin)) {
        const char *t = getenv("TERM");
        fprintf(stderr, "moescope: cannot use terminal type '%s'\n", t ? t : "(unset)");
        return -1;
    }
    a->curses_on = true;
    raw();
    noecho();
    nonl();
    set_escdelay(25);
    a->theme_dirty = true;
    signals_capture_strings();
    fputs("\033[?2004h", stdout);   /* bracketed paste */
    fflush(stdout);
    a->w_keys = newwin(1, 1, 0, 0);
    keypad(a->w_keys, TRUE);
    nodelay(a->w_keys, TRUE);
    return 0;
}

static void app_terminal_off(struct app *a)
{
    if (!a->curses_on)
        return;
    win_free(&a->w_status);
    win_free(&a->w_transcript);
    win_free(&a->w_input);
    win_free(&a->w_inspector);
    win_free(&a->w_tabs);
    win_free(&a->w_sep);
    win_free(&a->w_hints);
    win_free(&a->w_keys);
    curs_set(1);
    endwin();
    fputs("\033[?2004l", stdout);
    fflush(stdout);
    a->curses_on = false;
}

int app_run(struct app *a)
{
    a->utf8 = draw_locale_utf8();
    signals_install();
    sigset_t block, waitmask;
    signals_block_mask(&block);
    pthread_sigmask(SIG_BLOCK, &block, &waitmask);   /* waitmask: what ppoll unblocks */

    if (a->opt.replay) {
        a->replay = true;
        if (app_load(a, a->opt.replay) < 0) {
            fprintf(stderr, "moescope: %s\n", a->msg);
            pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
            signals_uninstall();
            return 1;
        }
        a->msg[0] = 0;
    } else {
        struct engine_params ep;
        engine_params_default(&ep);
        ep.model_path = a->opt.model ? a->opt.model : default_model_path();
        ep.n_threads = a->opt.n_threads;
        ep.n_ctx = a->opt.n_ctx;
        ep.sampler = a->sampler;
        ep.trace = true;
        ep.prewarm = a->opt.prewarm;
        ep.mlock = a->opt.mlock;
        char err[512];
        /* Started with the signals blocked, so they all come to this thread. */
        a->worker = worker_start(&ep, err, sizeof err);
        a->state_since = app_now();   /* loading: the status bar counts the seconds */
        if (!a->worker) {
            fprintf(stderr, "moescope: %s\n", err);
            pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
            signals_uninstall();
            return 1;
        }
        if (a->opt.session && app_load(a, a->opt.session) < 0) {
            fprintf(stderr, "moescope: %s\n", a->msg);
            worker_quit(a->worker, WORKER_QUIT_MS);
            pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
            signals_uninstall();
            return 1;
        }
    }

    if (app_terminal_on(a) < 0) {
        if (a->worker)
            worker_quit(a->worker, WORKER_QUIT_MS);
        a->worker = NULL;
        pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
        signals_uninstall();
        return 1;
    }
    a->in = input_open(a);
    if (!a->in) {
        app_terminal_off(a);
        fprintf(stderr, "moescope: cannot set up the input line\n");
        if (a->worker)
            worker_quit(a->worker, WORKER_QUIT_MS);
        signals_uninstall();
        return 1;
    }

    while (!a->quit) {
        if (signal_quit) {
            a->quit_signal = signal_quit;
            break;
        }
        if (signal_cont) {
            signal_cont = 0;
            reset_prog_mode();
            fputs("\033[?2004h", stdout);
            fflush(stdout);
            clearok(curscr, TRUE);
            a->dirty |= DIRTY_ALL;
        }
        app_keys(a);
        if (a->quit)
            break;
        app_pump(a);
        double now = app_now();
        if (a->msg[0] && a->msg_until > 0 && now >= a->msg_until) {
            a->msg[0] = 0;
            a->dirty |= DIRTY_HINTS;
        }
        bool streaming = app_busy(a);
        if (a->opt.frames > 0)
            a->dirty |= DIRTY_ALL & ~DIRTY_LAYOUT;   /* --frames: a whole frame every tick */
        int timeout = -1;
        /* A long prompt or a slow model: the status bar's clock moves four times a second
         * even when no token arrives. */
        if (streaming && !a->dirty && now - a->last_frame >= 0.25)
            a->dirty |= DIRTY_STATUS;
        if (a->dirty) {
            double wait_ms = (a->last_frame + FRAME_MS / 1000.0 - now) * 1000.0;
            if (!streaming || wait_ms <= 0 || (a->dirty & (DIRTY_INPUT | DIRTY_LAYOUT)))
                app_draw(a);   /* keys are answered at once; streaming is paced */
            else
                timeout = (int)wait_ms + 1;
        }
        if (a->opt.frames > 0 && a->frames_drawn >= a->opt.frames)
            break;
        if (a->opt.frames > 0 && timeout < 0)
            timeout = FRAME_MS;
        if (streaming && timeout < 0)
            timeout = 250;
        if (a->msg[0] && a->msg_until > 0) {
            int until = (int)((a->msg_until - now) * 1000.0) + 1;
            if (timeout < 0 || until < timeout)
                timeout = until > 0 ? until : 0;
        }
        struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { -1, POLLIN, 0 } };
        /* While a paced frame is pending, the worker's news waits in its queue (merged)
         * until the frame is due: the UI wakes ~30 times a second, not once per token. */
        if (a->worker && !(a->dirty && streaming))
            fds[1].fd = worker_wake_fd(a->worker);
        struct timespec ts, *tsp = NULL;
        if (timeout >= 0) {
            ts.tv_sec = timeout / 1000;
            ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
            tsp = &ts;
        }
        int pr = ppoll(fds, a->worker ? 2 : 1, tsp, &waitmask);
        /* The terminal went away (its window closed, tmux killed the pane): no key will
         * ever come, so leave as a hangup would. A readable terminal that yields no key
         * again and again is the same thing seen differently (EOF). */
        if (pr > 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))) {
            a->quit_signal = SIGHUP;
            break;
        }
        a->idle_wakeups = pr > 0 && (fds[0].revents & POLLIN) ? a->idle_wakeups + 1 : 0;
        if (a->idle_wakeups > 1000) {
            a->quit_signal = SIGHUP;
            break;
        }
    }

    int rows = getmaxy(stdscr), cols = getmaxx(stdscr);
    input_close(a->in);
    a->in = NULL;
    app_terminal_off(a);
    if (a->opt.frames > 0 && a->frames_drawn > 0) {
        /* What a frame costs (drawing and writing it out), and the memory the session
         * took (peak RSS): the --frames benchmark. */
        struct rusage ru;
        const long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
        fprintf(stderr, "moescope: %ld frames at %dx%d, %zu records: %.3f ms a frame on "
                        "average, %.3f ms at most; peak RSS %.1f MiB\n",
                a->frames_drawn, cols, rows, a->log.n, a->draw_ms_sum / (double)a->frames_drawn,
                a->draw_ms_max, (double)peak_kib / 1024.0);
    }
    if (a->worker)
        worker_quit(a->worker, WORKER_QUIT_MS);
    a->worker = NULL;
    pthread_sigmask(SIG_SETMASK, &waitmask, NULL);
    if (a->quit_signal) {
        int sig = a->quit_signal;
        signals_uninstall();
        raise(sig);
        return 128 + sig;
    }
    signals_uninstall();
    return 0;
}
