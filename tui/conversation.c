/* tui/conversation.c: the conversation: the messages the model sees, rendered through its
 * chat template; a reply streamed into the transcript as the worker writes it; and the one
 * reset that /clear and /load share.
 *
 * Conversations are re-rendered whole through the chat template each turn; the worker
 * keeps every record whose text still matches (so earlier replies keep their sampled
 * tokens and their routing) and feeds only the rest, in chunks, so Esc works in prefill. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "chat.h"
#include "conversation.h"
#include "reasoning.h"
#include "trace_stats.h"


/* A server that takes the chat endpoint (the worker says), unless --chat-template asked for
 * the app's own template. */
bool conversation_server_chat(const struct app *a)
{
    return a->ws.backend[0] && a->ws.chat_api && !a->chat_template[0];
}

/* The style a chat is rendered in: --chat-template, else the model's (a server's chat
 * endpoint: none here, the server renders the messages). A file with no chat
 * template is a base model: like llama-cli, which turns chat mode on only when the model
 * has a template, the conversation is then plain text the model continues
 * (CHAT_STYLE_NONE). */
enum chat_style conversation_style(const struct app *a)
{
    enum chat_style st = CHAT_STYLE_NONE;
    char err[256];
    if (conversation_server_chat(a))
        return CHAT_STYLE_NONE;
    if (a->chat_template[0] && chat_style_from_name(a->chat_template, &st, err, sizeof err) == 0)
        return st;
    if (a->ws.desc.chat_style[0] &&
        chat_style_from_name(a->ws.desc.chat_style, &st, err, sizeof err) == 0)
        return st;
    return CHAT_STYLE_NONE;
}

/* Completion: the system prompt and every message, one after the other, as one text. */
static char *conversation_render_plain(const struct chat_msg *msgs, int n, size_t *len)
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

/* The messages the model sees, the system prompt first. A reply goes in as its template
 * keeps earlier replies: without its thinking where the template drops it (those contents
 * are copies, in cut). */
struct conv_msgs {
    struct chat_msg *msg;      /* (n) */
    char **cut;                /* (n_cut) the shortened replies */
    int n, n_cut;
};

static void conversation_messages_free(struct conv_msgs *cm)
{
    for (int i = 0; i < cm->n_cut; i++)
        free(cm->cut[i]);
    free(cm->cut);
    free(cm->msg);
    memset(cm, 0, sizeof *cm);
}

/* Returns 0, or -1 when memory runs out (cm then holds nothing). */
static int conversation_messages(const struct app *a, struct conv_msgs *cm)
{
    memset(cm, 0, sizeof *cm);
    cm->msg = malloc(((size_t)a->tr.n + 1) * sizeof *cm->msg);
    cm->cut = calloc((size_t)a->tr.n + 1, sizeof *cm->cut);
    if (!cm->msg || !cm->cut)
        goto oom;
    enum chat_style st = conversation_style(a);
    if (a->system)
        cm->msg[cm->n++] = (struct chat_msg){ "system", a->system };
    for (int i = 0; i < a->tr.n; i++) {
        const struct message *m = &a->tr.msg[i];
        if (!m->in_chat || m->streaming || m->out_of_context)
            continue;
        const char *content = m->text;
        size_t off = 0, keep = m->len;
        if (m->role == MSG_ASSISTANT)
            reason_history_text(st, m->text, m->len, &off, &keep);
        if (keep != m->len) {
            if (!(cm->cut[cm->n_cut] = strndup(m->text + off, keep)))
                goto oom;
            content = cm->cut[cm->n_cut++];
        }
        cm->msg[cm->n++] = (struct chat_msg){ m->role == MSG_USER ? "user" : "assistant",
                                              content };
    }
    return 0;
oom:
    conversation_messages_free(cm);
    return -1;
}

/* The whole conversation as the model's template renders it (malloc'd); for a server's
 * chat endpoint, the contents one after the other (what its records hold). */
static char *conversation_render(const struct app *a, bool generation_prompt, size_t *len)
{
    struct conv_msgs cm;
    if (conversation_messages(a, &cm) != 0)
        return NULL;
    enum chat_style st = conversation_style(a);
    char *text = st == CHAT_STYLE_NONE
                     ? conversation_render_plain(cm.msg, cm.n, len)
                     : chat_render_style(st, cm.msg, cm.n, generation_prompt, len);
    conversation_messages_free(&cm);
    return text;
}

/* Bytes at the start of text that are the system prompt as rendered (kept by a context
 * shift), or 0. */
static size_t conversation_system_bytes(const struct app *a, const char *text, size_t len)
{
    if (!a->system)
        return 0;
    struct chat_msg sys = { "system", a->system };
    size_t slen = 0;
    enum chat_style st = conversation_style(a);
    char *r = st == CHAT_STYLE_NONE ? conversation_render_plain(&sys, 1, &slen)
                                    : chat_render_style(st, &sys, 1, false, &slen);
    size_t keep = r && slen <= len && memcmp(r, text, slen) == 0 ? slen : 0;
    free(r);
    return keep;
}

/* Whether a turn older than the newest message is still sent (and so could be dropped). */
static bool conversation_can_drop(const struct app *a)
{
    int sent = 0;
    for (int i = 0; i < a->tr.n; i++) {
        const struct message *m = &a->tr.msg[i];
        sent += m->in_chat && !m->streaming && !m->out_of_context;
    }
    return sent > 1;
}

/* A message no longer sent to the model: flagged (sessions keep the flag) and said in its
 * meta line. */
static void conversation_mark_out_of_context(const struct app *a, struct message *m)
{
    m->out_of_context = true;
    const char *dot = a->utf8 ? " \u00b7 " : " - ";
    size_t ml = strlen(m->meta);
    snprintf(m->meta + ml, sizeof m->meta - ml, "%sout of context", ml ? dot : "");
}

/* Drops the oldest turn still sent (its user message and the replies after it) out of the
 * context; they stay in the transcript, marked. Returns the messages dropped. */
static int conversation_drop_oldest_turn(struct app *a)
{
    int dropped = 0;
    for (int i = 0; i < a->tr.n; i++) {
        struct message *m = &a->tr.msg[i];
        if (!m->in_chat || m->streaming || m->out_of_context)
            continue;
        if (dropped > 0 && m->role == MSG_USER)
            break;
        conversation_mark_out_of_context(a, m);
        dropped++;
    }
    /* The worker feeds what is kept again after the system prompt, so no message's record
     * range holds any more until the reply ends (conversation_rebind_ranges). */
    for (int i = 0; dropped && i < a->tr.n; i++) {
        a->tr.msg[i].rec_end = 0;
        a->tr.msg[i].rec_first = -1;
    }
    a->dirty |= DIRTY_TRANSCRIPT;
    return dropped;
}

void conversation_rebind_ranges(struct app *a, int upto)
{
    const struct trace_log *log = &a->log;
    size_t total = 0;
    for (size_t r = 0; r < log->n; r++)
        total += log->tok[r].piece_len;
    char *bytes = malloc(total + 1);
    size_t *end_of = malloc(sizeof *end_of * (log->n + 1)); /* byte offset after record r */
    if (!bytes || !end_of) {
        free(bytes);
        free(end_of);
        return; /* the ranges stay cleared: the next reply takes every record */
    }
    size_t off = 0;
    for (size_t r = 0; r < log->n; r++) {
        memcpy(bytes + off, trace_piece(log, r), log->tok[r].piece_len);
        off += log->tok[r].piece_len;
        end_of[r] = off;
    }
    size_t at = 0, rec = 0;
    for (int i = 0; i < upto && i < a->tr.n; i++) {
        struct message *m = &a->tr.msg[i];
        if (!m->in_chat || m->streaming || m->out_of_context || m->len == 0)
            continue;
        const char *hit = memmem(bytes + at, total - at, m->text, m->len);
        if (!hit)
            continue; /* rendered otherwise (a reply without its thinking): no range */
        size_t first_byte = (size_t)(hit - bytes), after = first_byte + m->len;
        at = after;
        if (m->role != MSG_ASSISTANT)
            continue;
        size_t first = rec;
        while (first < log->n && end_of[first] <= first_byte)
            first++;
        rec = first;
        while (rec < log->n && end_of[rec] < after)
            rec++;
        m->rec_first = (long)first;
        m->rec_end = rec < log->n ? rec + 1 : log->n;
        rec = m->rec_end;
    }
    free(bytes);
    free(end_of);
}

int conversation_send(struct app *a)
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
    char *text = conversation_render(a, true, &len);
    if (!text) {
        app_message(a, true, "cannot render the chat template");
        return -1;
    }
    worker_set_context(a->worker, conversation_system_bytes(a, text, len),
                       conversation_can_drop(a));
    struct conv_msgs cm;
    if (conversation_server_chat(a) && conversation_messages(a, &cm) == 0) {
        worker_set_messages(a->worker, cm.msg, cm.n); /* (out of memory: sent as raw text) */
        conversation_messages_free(&cm);
    }
    int r = worker_submit_reply(a->worker, text, len, &a->sampler, a->n_predict);
    free(text);
    if (r < 0) {
        app_message(a, true, "the model is busy");
        return -1;
    }
    a->ws.state = WORKER_PREFILL;
    a->state_since = clock_now_s();
    a->stream_msg = transcript_add(&a->tr, MSG_ASSISTANT, "", 0);
    if (a->stream_msg >= 0)
        a->tr.msg[a->stream_msg].streaming = true;
    a->tr.scroll = 0;
    a->sel = -1;
    a->dirty |= DIRTY_ALL & ~DIRTY_LAYOUT;
    return 0;
}

/* Feeds a loaded conversation so the cache and the inspector hold it. */
void conversation_feed(struct app *a)
{
    a->feed_pending = false;
    bool any = false;
    for (int i = 0; i < a->tr.n; i++)
        any |= a->tr.msg[i].in_chat;
    if (!any || !a->worker || !a->model_ready)
        return;
    size_t len = 0;
    char *text = conversation_render(a, false, &len);
    if (text && worker_submit_feed(a->worker, text, len) == 0)
        a->ws.state = WORKER_PREFILL;
    free(text);
}

int conversation_reset(struct app *a)
{
    /* (Before the model is open its context is empty: nothing to forget.) */
    if (a->worker && a->model_ready &&
        (app_busy(a) || worker_submit_reset(a->worker) < 0)) {
        app_message(a, true, "the model is busy (Esc stops the reply first)");
        return -1;
    }
    transcript_clear(&a->tr);
    trace_log_clear(&a->log);
    a->stream_msg = -1;
    a->sel = -1;
    a->feed_pending = false;
    a->tr.scroll = 0;
    a->dirty |= DIRTY_ALL;
    return 0;
}

int conversation_note(struct app *a, enum msg_role role, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int k = transcript_add(&a->tr, role, buf, strlen(buf));
    a->tr.scroll = 0;   /* what the user asked for is shown */
    a->dirty |= DIRTY_TRANSCRIPT;
    return k;
}

int conversation_add_loaded(struct app *a, enum msg_role role, const char *text, size_t len,
                            size_t rec_end, long rec_first, bool out_of_context)
{
    int k = transcript_add(&a->tr, role, text, len);
    if (k < 0)
        return -1;
    a->tr.msg[k].rec_end = rec_end;
    a->tr.msg[k].rec_first = rec_first;
    if (out_of_context)
        conversation_mark_out_of_context(a, &a->tr.msg[k]);
    a->dirty |= DIRTY_TRANSCRIPT;
    return k;
}

int conversation_set_system(struct app *a, const char *text)
{
    free(a->system);
    a->system = NULL;
    if (text && *text) {
        a->system = strdup(text);
        if (!a->system) {
            app_message(a, true, "out of memory");
            return -1;
        }
    }
    return 0;
}

int conversation_regen(struct app *a)
{
    int last = -1;
    for (int i = a->tr.n - 1; i >= 0; i--)
        if (a->tr.msg[i].in_chat) {
            last = i;
            break;
        }
    if (last < 0) {
        app_message(a, true, "/regen: nothing to regenerate yet");
        return -1;
    }
    if (a->tr.msg[last].role == MSG_ASSISTANT)
        transcript_truncate(&a->tr, last);
    return conversation_send(a);
}

void conversation_say(struct app *a, const char *line)
{
    if (a->replay) {
        app_message(a, true, "replay is read-only: there is no model to answer");
        return;
    }
    transcript_add(&a->tr, MSG_USER, line, strlen(line));
    if (conversation_send(a) < 0)
        transcript_truncate(&a->tr, a->tr.n - 1);
    a->dirty |= DIRTY_TRANSCRIPT;
}

/* ---- the reply streamed in ---- */

static void conversation_reply_meta(const struct app *a, struct message *m, enum reply_end why)
{
    struct trace_speed sp;
    memset(&sp, 0, sizeof sp);
    if (trace_speed_cache_get(&a->cache->speed, &a->log) == 0)
        sp = a->cache->speed.turn;
    const char *dot = a->utf8 ? " \u00b7 " : " - ";
    const char *end = why == REPLY_STOPPED    ? "stopped"
                      : why == REPLY_LIMIT    ? "token limit"
                      : why == REPLY_CTX_FULL ? "context full"
                      : why == REPLY_INTERRUPTED ? "interrupted"
                                              : "";
    char ttft[96] = "", tps[48] = "", server[40] = "";
    int tl = 0;
    if (sp.n_prompt_fed > 0)
        tl = snprintf(ttft, sizeof ttft, "%sTTFT %.0f ms", dot, sp.ttft_ms);
    if (sp.n_thinking > 0 && sp.ttfa_ms > 0 && tl >= 0 && (size_t)tl < sizeof ttft)
        snprintf(ttft + tl, sizeof ttft - (size_t)tl, "%sthinking %zu%sanswer at %.0f ms", dot,
                 sp.n_thinking, dot, sp.ttfa_ms);
    /* (a server that sends each reply whole times no token: no rate) */
    if (!a->ws.backend[0] || (a->ws.reports & BACKEND_REPORTS_TOKEN_TIMES))
        snprintf(tps, sizeof tps, "%s%.1f tok/s", dot, sp.decode_tps);
    /* A server that reports its own times: its figures last (a narrow pane cuts them, not
     * how the reply ended); the gap to the client's is the network and the queue, which
     * the latency view shows. */
    if (sp.server_decode_ms > 0)
        snprintf(server, sizeof server, "%sserver: TTFT %.0f ms, %.1f tok/s", dot,
                 sp.server_ttft_ms, (double)sp.n_itl * 1e3 / sp.server_decode_ms);
    else if (sp.server_ttft_ms > 0)
        snprintf(server, sizeof server, "%sserver: TTFT %.0f ms", dot, sp.server_ttft_ms);
    snprintf(m->meta, sizeof m->meta, "%zu tokens%.47s%.95s%s%s%.39s", sp.n_gen, tps, ttft,
             *end ? dot : "", end, server);
}

void conversation_mark_thinking(struct app *a)
{
    enum chat_style st = conversation_style(a);
    if (a->replay || !reason_markers_of(st))
        return; /* replay: the records say it as they were saved */
    bool changed = false;
    for (int i = 0; i < a->tr.n; i++) {
        const struct message *m = &a->tr.msg[i];
        if (m->role == MSG_ASSISTANT && m->rec_first >= 0)
            changed |= reason_mark_records(st, &a->log, (size_t)m->rec_first,
                                           m->streaming ? a->log.n : m->rec_end);
    }
    if (changed)
        trace_log_touch(&a->log);
}

void conversation_stream_follow(struct app *a)
{
    if (a->stream_msg < 0 || a->stream_msg >= a->tr.n || !a->tr.msg[a->stream_msg].streaming)
        return;
    struct message *m = &a->tr.msg[a->stream_msg];
    if (m->rec_first < 0 && a->ws.reply_first >= 0)
        m->rec_first = a->ws.reply_first;
    if (m->len != a->ws.reply_len || memcmp(m->text, a->ws.reply, m->len) != 0) {
        transcript_set_text(&a->tr, a->stream_msg, a->ws.reply ? a->ws.reply : "",
                            a->ws.reply_len);
        a->dirty |= DIRTY_TRANSCRIPT;
    }
}

bool conversation_stream_end(struct app *a)
{
    int k = a->stream_msg;
    bool kept = false;
    a->stream_msg = -1;
    a->dirty |= DIRTY_TRANSCRIPT | DIRTY_INPUT;
    if (a->ws.done_why == REPLY_TOO_LONG && k >= 0 && k < a->tr.n) {
        /* Make room: the oldest turn goes out of context, and the message is sent again
         * (the system prompt's cached tokens are kept by the worker's prefix match). */
        transcript_truncate(&a->tr, k);
        int d = conversation_drop_oldest_turn(a);
        a->ctx_dropped += d;
        if (d == 0 || conversation_send(a) < 0)
            transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);
        return false;
    }
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
        if (a->ctx_dropped > 0)
            conversation_rebind_ranges(a, k);
        if (a->ws.done_why == REPLY_ERROR ||
            (a->ws.done_why == REPLY_INTERRUPTED && m->len == 0)) {
            if (m->len == 0)
                transcript_truncate(&a->tr, k);
            transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);
        } else if (a->ws.done_why == REPLY_INTERRUPTED) {
            /* A cut stream: what arrived stays, marked, and the cut is said once. */
            conversation_reply_meta(a, m, a->ws.done_why);
            transcript_addf(&a->tr, MSG_ERROR, "%s", a->ws.err);
            kept = true;
        } else if (a->ws.done_why == REPLY_STOPPED && m->len == 0) {
            /* Stopped while reading the prompt: no reply to keep. */
            transcript_truncate(&a->tr, k);
            app_message(a, false, "stopped before the reply began (/regen asks again)");
        } else {
            conversation_reply_meta(a, m, a->ws.done_why);
            kept = true;
        }
    }
    if (kept && (a->ctx_dropped > 0 || a->ws.shift_dropped > 0)) {
        char dropped[96] = "", shifted[96] = "";
        if (a->ctx_dropped)
            snprintf(dropped, sizeof dropped, "; %d older message%s out of context (kept in "
                     "the transcript)", a->ctx_dropped, a->ctx_dropped == 1 ? "" : "s");
        if (a->ws.shift_dropped)
            snprintf(shifted, sizeof shifted, "; the reply shifted it, dropping %zu",
                     a->ws.shift_dropped);
        app_message(a, false, "%d tokens in context%s%s", a->ws.n_past, dropped, shifted);
    }
    if (a->ws.done_why != REPLY_TOO_LONG)
        a->ctx_dropped = 0;
    return kept;
}
