/* tui/worker_remote.c: the worker's replies from a server (a remote backend): the stream's
 * records posted to the UI as they come, Esc closing the connection, the server's pieces as
 * the views' vocabulary. The local engine's replies are in worker.c. */
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

void worker_do_remote_reply(struct worker *w, const char *text, size_t len,
                            const struct sampler_params *sp, int n_predict)
{
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
        .text = text, .len = len, .text_new = off, .sp = *sp,
        .n_predict = n_predict > 0 ? n_predict : -1, .on_token = worker_remote_token,
        .should_stop = worker_remote_should_stop, .ud = &rt,
    };
    struct backend_result res;
    int rc = backend_generate(w->be, &rq, &w->log, &res);
    /* The prompt records were counted at the end (usage): the reply starts after them. */
    pthread_mutex_lock(&w->mu);
    w->st.reply_first = res.n_gen ? (long)(res.first + res.n_prompt) : -1;
    w->st.desc = backend_info(w->be)->model; /* the shape grows when expert ids arrive */
    w->st.reports = backend_info(w->be)->reports;
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
    pthread_mutex_unlock(&w->mu);
    return 0;
}
