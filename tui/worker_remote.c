/* tui/worker_remote.c: the worker's replies from a server (a remote backend): the stream's
 * records posted to the UI as they come, Esc closing the connection, the server's pieces as
 * the views' vocabulary. The local engine's replies are in worker.c.
 *
 * Which endpoint: with messages (worker_set_messages) a reply goes to /v1/chat/completions,
 * rendered by the server's own template; a server that refuses that endpoint (a 4xx before
 * any token: vLLM without a chat template answers 400) gets the same turn again as raw text
 * on /v1/completions, and every later one too (worker_status.chat_api false, api_said why).
 * The app sends raw text itself when the user named --chat-template. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "worker_impl.h"

struct remote_turn {
    struct worker *w;
    size_t from;                  /* the turn's first record */
    bool started;                 /* the first token arrived */
};

static bool worker_remote_token(void *ud, const struct trace_log *log, size_t idx)
{
    struct remote_turn *rt = ud;
    struct worker *w = rt->w;
    if (!rt->started) {
        rt->started = true;
        pthread_mutex_lock(&w->mu);
        w->st.reply_first = (long)idx;
        w->st.state = WORKER_GENERATING;
        w->status_changed = true;
        pthread_mutex_unlock(&w->mu);
    }
    worker_reply_append(w, trace_piece(log, idx), log->tok[idx].piece_len);
    /* The record before this one just got its time: post the turn from its start. */
    worker_post(w, rt->from);
    return !atomic_load(&w->stop);
}

static bool worker_remote_should_stop(void *ud)
{
    const struct remote_turn *rt = ud;
    return atomic_load(&rt->w->stop) != 0;
}

/* Publishes the pieces the server has shown so far as the vocabulary the views read. */
static void worker_remote_vocab(struct worker *w)
{
    int n = backend_info(w->be)->model.n_vocab;
    struct vocab_table **seen = realloc(w->vt_seen, (w->n_vt_seen + 1) * sizeof *seen);
    if (!seen)
        return;
    w->vt_seen = seen;
    struct vocab_table *v = calloc(1, sizeof *v);
    if (!v || vocab_build(w, n, v) != 0) {
        if (v) {
            free(v->off);
            free(v->text);
        }
        free(v);
        return;
    }
    seen[w->n_vt_seen++] = v;
    pthread_mutex_lock(&w->mu);
    w->vocab = v;
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
}

void worker_free_messages(struct chat_msg *msgs, int n)
{
    for (int i = 0; msgs && i < n; i++) {
        free((char *)msgs[i].role);
        free((char *)msgs[i].content);
    }
    free(msgs);
}

int worker_set_messages(struct worker *w, const struct chat_msg *msgs, int n)
{
    struct chat_msg *copy = calloc(n > 0 ? (size_t)n : 1, sizeof *copy);
    int ok = copy != NULL;
    for (int i = 0; ok && i < n; i++) {
        copy[i].role = strdup(msgs[i].role);
        copy[i].content = strdup(msgs[i].content);
        ok = copy[i].role && copy[i].content;
    }
    if (!ok) {
        worker_free_messages(copy, n);
        copy = NULL;
    }
    pthread_mutex_lock(&w->mu);
    worker_free_messages(w->job_msgs, w->job_n_msgs);
    w->job_msgs = copy;
    w->job_n_msgs = copy ? n : 0;
    pthread_mutex_unlock(&w->mu);
    return ok ? 0 : -1;
}

/* Whether a failed chat request means "this server has no chat endpoint or template":
 * refused with a client error before any token. A 404 may also be the model itself: then
 * the raw request fails the same way and says so. Keys (401/403) and load (429) are not. */
static bool worker_chat_refused(const struct backend_result *res, int rc)
{
    static const int refusals[] = { 400, 404, 405, 422, 501 };
    if (rc == 0 || res->n_gen > 0)
        return false;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (res->http_status == refusals[i])
            return true;
    return false;
}

void worker_do_remote_reply(struct worker *w, const char *text, size_t len,
                            const struct sampler_params *sp, int n_predict)
{
    pthread_mutex_lock(&w->mu);
    struct chat_msg *msgs = w->job_msgs; /* this turn's, freed at its end */
    int n_msgs = w->job_n_msgs;
    bool chat = msgs && w->st.chat_api;
    w->job_msgs = NULL;
    w->job_n_msgs = 0;
    pthread_mutex_unlock(&w->mu);
    size_t off = 0, k = worker_text_prefix(w, text, len, &off);
    trace_log_truncate(&w->log, k);
    pthread_mutex_lock(&w->mu);
    w->reply_len = w->reply_pub = 0;
    w->st.reply_first = -1;
    pthread_mutex_unlock(&w->mu);
    worker_progress(w, WORKER_PREFILL, 0, 1);
    worker_post(w, k);
    struct remote_turn rt = { .w = w, .from = k };
    struct backend_request rq = {
        .msgs = chat ? msgs : NULL, .n_msgs = chat ? n_msgs : 0, .text = text, .len = len, .text_new = off, .sp = *sp,
        .n_predict = n_predict > 0 ? n_predict : -1, .on_token = worker_remote_token,
        .should_stop = worker_remote_should_stop, .ud = &rt,
    };
    struct backend_result res;
    int rc = backend_generate(w->be, &rq, &w->log, &res);
    if (chat && worker_chat_refused(&res, rc)) {
        pthread_mutex_lock(&w->mu);
        w->st.chat_api = false;
        snprintf(w->st.api_said, sizeof w->st.api_said, "%.300s\nThe conversation goes as raw "
                 "text to /v1/completions from now on.", res.msg);
        w->status_changed = true;
        pthread_mutex_unlock(&w->mu);
        rq.msgs = NULL;
        rq.n_msgs = 0;
        rc = backend_generate(w->be, &rq, &w->log, &res);
    }
    worker_free_messages(msgs, n_msgs);
    /* The prompt records were counted at the end (usage): the reply starts after them. */
    pthread_mutex_lock(&w->mu);
    w->st.reply_first = res.n_gen ? (long)(res.first + res.n_prompt) : -1;
    w->st.desc = backend_info(w->be)->model; /* the shape grows when expert ids arrive */
    w->st.reports = backend_info(w->be)->reports;
    w->st.chunks = res.n_chunks;
    w->st.chunk_tokens = res.n_gen;
    /* (replies carry system_fingerprint: the latest one is what a session records) */
    snprintf(w->st.fingerprint, sizeof w->st.fingerprint, "%s",
             backend_info(w->be)->fingerprint);
    pthread_mutex_unlock(&w->mu);
    worker_post(w, k);
    static const enum reply_end why[BACKEND_STOP_COUNT] = {
        [BACKEND_STOP_EOG] = REPLY_EOG, [BACKEND_STOP_LENGTH] = REPLY_LIMIT,
        [BACKEND_STOP_CONTEXT] = REPLY_CTX_FULL, [BACKEND_STOP_USER] = REPLY_STOPPED,
        [BACKEND_STOP_INTERRUPTED] = REPLY_INTERRUPTED, [BACKEND_STOP_ERROR] = REPLY_ERROR,
    };
    enum reply_end end = rc != 0 ? REPLY_ERROR : why[res.stop];
    worker_remote_vocab(w);
    worker_finish(w, end, end == REPLY_ERROR || end == REPLY_INTERRUPTED ? res.msg : NULL);
}

/* Opens the server (status: what it is and what it does not report). 0, or -1 with err. */
int worker_open_remote(struct worker *w, char *err, size_t errlen)
{
    struct backend_params bp = { .args = w->remote, .sampler = w->params.sampler };
    bp.args.model = w->path;
    w->be = backend_open(&bp, err, errlen);
    if (!w->be)
        return -1;
    const struct backend_info *in = backend_info(w->be);
    pthread_mutex_lock(&w->mu);
    snprintf(w->st.backend, sizeof w->st.backend, "%s at %s%s", in->family, in->url,
             in->insecure ? " (INSECURE: TLS not checked)" : "");
    backend_missing_text(in->reports, w->st.missing, sizeof w->st.missing);
    w->st.reports = in->reports;
    w->st.chat_api = true;
    snprintf(w->st.fingerprint, sizeof w->st.fingerprint, "%s", in->fingerprint);
    pthread_mutex_unlock(&w->mu);
    return 0;
}
