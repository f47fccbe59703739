/* tui/worker.c: the engine on its own thread, so the UI never waits on it.
 *
 * Ownership: the worker thread alone calls the engine and owns `log`, its trace log of the
 * whole context. Everything the UI may see goes through two locked places:
 *   - the rec_queue: "your records from index i on are now these" (tail replacement);
 *   - the status block under `mu`: state, errors, the reply text so far, finished replies.
 * After each post the worker writes a byte to a pipe the UI polls, so the UI sleeps until
 * there is news and never spins. Locks are held only for copies.
 *
 * A reply job carries the whole rendered conversation. The worker tokenizes it, keeps the
 * longest prefix the engine has already seen (the KV cache stays valid there), rewinds to
 * it, feeds the rest and samples until the model ends its turn, Esc, the token limit, or
 * a full context.
 *
 * A remote engine (an http(s):// model, backend.h) takes the same jobs: the whole rendered
 * conversation goes to the server as a raw completion (servers keep no state between
 * requests), the records whose text it still starts with are kept, and the turn's records
 * (remote/turn.c) are posted as they stream in. Esc closes the connection. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rec_queue.h"
#include "worker.h"
#include "worker_impl.h"

const char *const worker_state_names[WORKER_STATE_COUNT] = {
    [WORKER_LOADING] = "loading",
    [WORKER_IDLE] = "ready",
    [WORKER_PREFILL] = "reading prompt",
    [WORKER_GENERATING] = "generating",
    [WORKER_FAILED] = "no model",
};

bool worker_state_busy(enum worker_state s)
{
    return s == WORKER_LOADING || s == WORKER_PREFILL || s == WORKER_GENERATING;
}

/* ---- the worker ---- */


static void worker_wake(struct worker *w)
{
    char b = 1;
    /* The pipe is non-blocking: a full pipe already means "there is news". */
    if (write(w->wake[1], &b, 1) < 0 && errno != EAGAIN)
        return;
}

/* Sets fields of the status under the lock and wakes the UI. */
void worker_set_state(struct worker *w, enum worker_state s)
{
    pthread_mutex_lock(&w->mu);
    w->st.state = s;
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
    worker_wake(w);
}

void worker_post(struct worker *w, size_t from)
{
    rec_queue_post(&w->q, &w->log, from);
    worker_wake(w);
}

/* The texts of ids [0, n) into v, from the engine or the server's pieces. */
int vocab_build(struct worker *w, int n, struct vocab_table *v)
{
    size_t cap = (size_t)(n > 0 ? n : 1) * 8, len = 0;
    v->off = malloc(((size_t)n + 1) * sizeof *v->off);
    v->text = malloc(cap);
    if (!v->off || !v->text)
        return -1;
    char piece[256];
    for (int id = 0; id < n; id++) {
        size_t pl = w->be ? backend_token_piece(w->be, id, piece, sizeof piece)
                          : engine_token_piece(w->eng, id, piece, sizeof piece);
        if (pl > sizeof piece)
            pl = sizeof piece;
        if (len + pl > cap || len + pl > UINT32_MAX) {
            if (len + pl > UINT32_MAX)
                return -1;
            cap = cap * 2 + pl;
            char *t = realloc(v->text, cap);
            if (!t)
                return -1;
            v->text = t;
        }
        v->off[id] = (uint32_t)len;
        memcpy(v->text + len, piece, pl);
        len += pl;
    }
    v->off[n] = (uint32_t)len;
    v->n = n;
    return 0;
}

/* Appends a generated piece to the reply text (worker side). */
void worker_reply_append(struct worker *w, const char *p, size_t n)
{
    pthread_mutex_lock(&w->mu);
    if (w->reply_len + n + 1 > w->reply_cap) {
        size_t cap = (w->reply_len + n + 1) * 2;
        char *r = realloc(w->reply, cap);
        if (r) {
            w->reply = r;
            w->reply_cap = cap;
        }
    }
    if (w->reply_len + n + 1 <= w->reply_cap) {
        memcpy(w->reply + w->reply_len, p, n);
        w->reply_len += n;
        w->reply[w->reply_len] = 0;
    }
    w->reply_pub = utf8_complete_prefix(w->reply, w->reply_len);
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
}

void worker_finish(struct worker *w, enum reply_end why, const char *err)
{
    pthread_mutex_lock(&w->mu);
    w->st.done_why = why;
    w->st.done_seq++;
    if (err) /* a server's message may be longer: cut to what the status holds */
        snprintf(w->st.err, sizeof w->st.err, "%.*s", (int)sizeof w->st.err - 1, err);
    w->reply_pub = w->reply_len;   /* the end: show every byte, even a broken tail */
    w->st.n_past = w->eng ? engine_n_past(w->eng) : (int)w->log.n; /* a server: records */
    w->st.state = WORKER_IDLE;
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
    worker_wake(w);
}

/* Records of the log whose pieces spell a prefix of text, from the first one that is part
 * of the text (a BOS added by tokenization is not). *off gets the bytes they cover. */
size_t worker_text_prefix(const struct worker *w, const char *text, size_t len,
                          size_t *off)
{
    size_t k = w->log.n < w->n_bos ? w->log.n : w->n_bos, o = 0;
    while (k < w->log.n) {
        size_t pl = w->log.tok[k].piece_len;
        if (o + pl > len || memcmp(text + o, trace_piece(&w->log, k), pl) != 0)
            break;
        o += pl;
        k++;
    }
    *off = o;
    return k;
}

void worker_progress(struct worker *w, enum worker_state s, size_t done, size_t total)
{
    pthread_mutex_lock(&w->mu);
    w->st.state = s;
    w->st.prefill_done = done;
    w->st.prefill_total = total;
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
    worker_wake(w);
}

/* ---- a reply job: tokenize what is new, rewind, feed it, sample ---- */

/* What the app said about the next reply (worker_set_context). */
struct reply_fit {
    size_t keep_bytes;            /* the system prompt's bytes: a shift keeps them */
    bool can_drop;                /* an older turn can go: a tight fit is REPLY_TOO_LONG */
};

/* Records of the log that the first keep_bytes of the text cover (with a BOS before). */
static int worker_keep_records(const struct worker *w, size_t keep_bytes)
{
    size_t k = w->log.n < w->n_bos ? w->log.n : w->n_bos, o = 0;
    while (keep_bytes && k < w->log.n && o + w->log.tok[k].piece_len <= keep_bytes)
        o += w->log.tok[k++].piece_len;
    return (int)k;
}

/* Whether the model put a BOS first: the same text without it is one token shorter. */
static size_t worker_count_bos(struct worker *w, const char *text, size_t len, int m, int cap)
{
    char err[256];
    int32_t *t2 = malloc((size_t)cap * sizeof *t2);
    int m2 = t2 ? engine_tokenize(w->eng, text, len, false, true, t2, cap, err, sizeof err) : -1;
    free(t2);
    return m2 >= 0 && m2 + 1 == m ? 1 : 0;
}

/* The tokens of the conversation the engine has not seen, into toks[0..cap). Every record
 * whose text the new conversation still starts with is kept: the previous replies keep
 * the very tokens that were sampled (as llama.cpp's chat does), and only the text after
 * them is tokenized. Matching text rather than re-tokenized ids matters: a reply's text
 * need not tokenize back into the ids it was sampled as. Returns how many tokens (at
 * least one), *kept the records kept; or -1 with err. */
static int worker_new_tokens(struct worker *w, const char *text, size_t len, int32_t *toks,
                             int cap, size_t *kept, const struct reply_fit *fit, bool feed_only,
                             char *err, size_t errlen)
{
    size_t off = 0, k = worker_text_prefix(w, text, len, &off);
    int m;
    if (k == 0) {
        /* A fresh context: BOS by the model's rule (templates leave it out, as with
         * llama.cpp), and the template's special-token text parsed into its ids. */
        m = engine_tokenize(w->eng, text, len, true, true, toks, cap, err, errlen);
        w->n_bos = m > 0 ? worker_count_bos(w, text, len, m, cap) : 0;
    } else {
        m = engine_tokenize(w->eng, text + off, len - off, false, true, toks, cap, err, errlen);
    }
    int n_ctx = engine_n_ctx(w->eng);
    if (m < 0)
        return -1;
    /* Room for the reply: a quarter of the context while older turns can go (a reply
     * that runs longer shifts the context as it goes). -2: too long, say so. */
    size_t need = k + (size_t)m, room = fit->can_drop && !feed_only ? (size_t)n_ctx / 4 : 1;
    if (need + room > (size_t)n_ctx) {
        snprintf(err, errlen,
                 "the conversation needs %zu tokens and the context holds %d: /clear starts "
                 "a new one, -c makes the context larger", need, n_ctx);
        pthread_mutex_lock(&w->mu);
        w->st.need_tokens = need;
        pthread_mutex_unlock(&w->mu);
        return fit->can_drop && !feed_only ? -2 : -1;
    }
    if (m == 0) {
        /* Nothing new after the kept records (regenerate): feed the last one again so the
         * logits are its own. */
        if (k == 0) {
            snprintf(err, errlen, "nothing to send: the rendered prompt is empty");
            return -1;
        }
        k--;
        toks[m++] = w->log.tok[k].token;
    }
    *kept = k;
    return m;
}

/* The engine and the log back to the k records kept (the engine to those it has fed),
 * and the reply text empty. Returns the engine's position: records from there change. */
static size_t worker_rewind(struct worker *w, size_t k)
{
    size_t fed = 0;
    while (fed < w->log.n && w->log.tok[fed].fed)
        fed++;
    size_t keep = k < fed ? k : fed;
    engine_rewind(w->eng, (int)keep);
    trace_log_truncate(&w->log, k);
    pthread_mutex_lock(&w->mu);
    w->reply_len = w->reply_pub = 0;
    w->st.reply_first = -1;
    pthread_mutex_unlock(&w->mu);
    return keep;
}

/* Feeds toks[0..m) in chunks, so the UI shows the progress and Esc is heard between them.
 * Returns REPLY_FED when all are in, REPLY_STOPPED, or REPLY_ERROR with err. */
static enum reply_end worker_prefill(struct worker *w, const int32_t *toks, int m,
                                     size_t post_from, char *err, size_t errlen)
{
    char piece[256];
    int chunk = PREFILL_FIRST;
    for (int c0 = 0, c1; c0 < m; c0 = c1) {
        c1 = c0 + chunk < m ? c0 + chunk : m;
        for (int i = c0; i < c1; i++) {
            size_t pl = engine_token_piece(w->eng, toks[i], piece, sizeof piece);
            if (trace_log_push(&w->log, toks[i], piece, pl < sizeof piece ? pl : sizeof piece,
                               true) < 0) {
                snprintf(err, errlen, "out of memory for trace records");
                return REPLY_ERROR;
            }
        }
        worker_progress(w, WORKER_PREFILL, (size_t)c0, (size_t)m);
        worker_post(w, post_from);
        double t0 = clock_now_s();
        if (engine_eval(w->eng, &w->log, err, errlen) < 0)
            return REPLY_ERROR;
        double secs = clock_now_s() - t0;
        if (secs > 0) {
            double next = (double)(c1 - c0) / secs * PREFILL_SECONDS;
            chunk = next < PREFILL_MIN ? PREFILL_MIN : next > PREFILL_MAX ? PREFILL_MAX : (int)next;
        }
        worker_post(w, post_from);
        post_from = w->log.n;
        if (atomic_load(&w->stop) && c1 < m)
            return REPLY_STOPPED;
    }
    return REPLY_FED;
}

/* Samples the reply until the model ends its turn, Esc or n_predict tokens (<= 0: no
 * limit); a full context shifts. Returns why it ended (REPLY_ERROR with err). */
static enum reply_end worker_generate(struct worker *w, int n_predict, size_t keep_bytes,
                                      char *err, size_t errlen)
{
    /* A reply that reaches the end of the context shifts it (engine.h): the system prompt
     * stays, the oldest half of the rest goes. */
    engine_set_context_shift(w->eng, true, worker_keep_records(w, keep_bytes));
    pthread_mutex_lock(&w->mu);
    w->st.reply_first = (long)w->log.n;
    w->st.state = WORKER_GENERATING;
    w->status_changed = true;
    pthread_mutex_unlock(&w->mu);
    for (int count = 1;; count++) {
        if (atomic_load(&w->stop))
            return REPLY_STOPPED;
        long idx = engine_sample(w->eng, &w->log, err, errlen);
        if (idx < 0)
            return REPLY_ERROR;
        bool eog = engine_token_is_eog(w->eng, w->log.tok[idx].token);
        if (!eog)
            worker_reply_append(w, trace_piece(&w->log, (size_t)idx),
                                w->log.tok[idx].piece_len);
        worker_post(w, (size_t)idx);
        /* The last token of a reply is not fed (trace.h): nothing would use its output. */
        if (eog)
            return REPLY_EOG;
        if (n_predict > 0 && count >= n_predict)
            return REPLY_LIMIT;
        if (atomic_load(&w->stop))
            return REPLY_STOPPED;
        if (engine_eval(w->eng, &w->log, err, errlen) < 0)
            return REPLY_ERROR;
        worker_post(w, (size_t)idx);
    }
}

/* A reply (or, feed_only, a feed) to the rendered conversation: tokens in toks[0..cap).
 * Returns how it ended. */
static enum reply_end worker_reply_steps(struct worker *w, const char *text, size_t len,
                                         const struct sampler_params *sp, int n_predict,
                                         bool feed_only, const struct reply_fit *fit,
                                         int32_t *toks, int cap, char *err, size_t errlen)
{
    size_t kept = 0;
    int m = worker_new_tokens(w, text, len, toks, cap, &kept, fit, feed_only, err, errlen);
    if (m < 0)
        return m == -2 ? REPLY_TOO_LONG : REPLY_ERROR;
    size_t post_from = worker_rewind(w, kept);
    if (!feed_only)
        engine_set_sampler(w->eng, sp);
    enum reply_end why = worker_prefill(w, toks, m, post_from, err, errlen);
    if (why != REPLY_FED || feed_only)
        return why;
    const size_t reply_from = w->log.n;
    why = worker_generate(w, n_predict, fit->keep_bytes, err, errlen);
    size_t dropped = 0;
    for (size_t i = reply_from; i < w->log.n; i++)
        dropped += w->log.tok[i].shift_dropped;
    pthread_mutex_lock(&w->mu);
    w->st.shift_dropped = dropped;
    pthread_mutex_unlock(&w->mu);
    return why;
}

static void worker_do_reply(struct worker *w, const char *text, size_t len,
                            const struct sampler_params *sp, int n_predict, bool feed_only,
                            const struct reply_fit *fit)
{
    char err[512] = "";
    /* A new job: the last reply's text must not be taken for this one's, even when this
     * one fails before its first token (the app showed the old reply again). */
    pthread_mutex_lock(&w->mu);
    w->reply_len = w->reply_pub = 0;
    w->st.reply_first = -1;
    w->st.shift_dropped = 0;
    pthread_mutex_unlock(&w->mu);
    /* Room for every token the text can make (each covers a byte at least, plus BOS and
     * EOS), so a conversation too long for the context is counted and said so plainly. */
    size_t cap = len + 2 < (size_t)INT_MAX ? len + 2 : (size_t)INT_MAX;
    int32_t *toks = malloc(cap * sizeof *toks);
    enum reply_end why = REPLY_ERROR;
    if (toks)
        why = worker_reply_steps(w, text, len, sp, n_predict, feed_only, fit, toks, (int)cap,
                                 err, sizeof err);
    else
        snprintf(err, sizeof err, "out of memory");
    free(toks);
    worker_finish(w, why, why == REPLY_ERROR || why == REPLY_TOO_LONG ? err : NULL);
}

/* ---- a remote engine ---- */


static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char err[512] = "";
    if (backend_is_url(w->path))
        worker_open_remote(w, err, sizeof err);
    else
        w->eng = engine_open(&w->params, err, sizeof err);
    if (!w->eng && !w->be) {
        pthread_mutex_lock(&w->mu);
        w->st.state = WORKER_FAILED;
        snprintf(w->st.err, sizeof w->st.err, "%s", err[0] ? err : "cannot open the model");
        w->status_changed = true;
        pthread_mutex_unlock(&w->mu);
        worker_wake(w);
    } else {
        const struct model_desc *d = w->be ? &backend_info(w->be)->model : engine_desc(w->eng);
        /* A server's vocabulary is not known: the views show the pieces the records hold. */
        int ok = trace_log_init(&w->log, d->n_layers, d->n_experts, d->n_experts_used) == 0 &&
                 (w->be || vocab_build(w, d->n_vocab, &w->vt) == 0);
        pthread_mutex_lock(&w->q.mu);
        trace_log_free(&w->q.log);
        trace_log_init(&w->q.log, d->n_layers, d->n_experts, d->n_experts_used);
        pthread_mutex_unlock(&w->q.mu);
        pthread_mutex_lock(&w->mu);
        w->st.desc = *d;
        w->st.n_ctx = w->be ? backend_info(w->be)->n_ctx : engine_n_ctx(w->eng);
        w->st.opened = ok;
        w->st.state = ok ? WORKER_IDLE : WORKER_FAILED;
        if (!ok)
            snprintf(w->st.err, sizeof w->st.err, "out of memory after opening the model");
        else if (!w->be)
            w->vocab = &w->vt;
        w->status_changed = true;
        pthread_mutex_unlock(&w->mu);
        worker_wake(w);
    }

    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->job == JOB_NONE && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        enum job_kind job = w->job;
        char *text = w->job_text;
        size_t len = w->job_len;
        struct sampler_params sp = w->job_sp;
        int n_predict = w->job_n_predict;
        struct reply_fit fit = { w->job_keep_bytes, w->job_can_drop };
        w->job_keep_bytes = 0;
        w->job_can_drop = false;
        w->job = JOB_NONE;
        w->job_text = NULL;
        pthread_mutex_unlock(&w->mu);

        if (!w->eng && !w->be) {
            free(text);
            worker_finish(w, REPLY_ERROR, "no model is open");
            continue;
        }
        atomic_store(&w->stop, 0);
        if (w->be && job == JOB_REPLY) {
            worker_do_remote_reply(w, text, len, &sp, n_predict);
        } else if (w->be && job == JOB_FEED) {
            worker_finish(w, REPLY_FED, NULL); /* a server keeps nothing to feed */
        } else if (w->be) {
            trace_log_clear(&w->log);
            worker_post(w, 0);
            worker_set_state(w, WORKER_IDLE);
        } else if (job == JOB_REPLY || job == JOB_FEED) {
            worker_do_reply(w, text, len, &sp, n_predict, job == JOB_FEED, &fit);
        } else if (job == JOB_RESET) {
            engine_rewind(w->eng, 0);
            trace_log_clear(&w->log);
            worker_post(w, 0);
            worker_set_state(w, WORKER_IDLE);
        }
        free(text);
    }

    if (w->eng)
        engine_close(w->eng);
    w->eng = NULL;
    backend_close(w->be);
    w->be = NULL;
    pthread_mutex_lock(&w->mu);
    w->exited = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct worker *worker_start(const struct engine_params *params, char *err, size_t errlen)
{
    return worker_start_with(params, NULL, err, errlen);
}

struct worker *worker_start_with(const struct engine_params *params,
                                 const struct backend_args *remote, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->params = *params;
    if (remote)
        w->remote = *remote;
    snprintf(w->path, sizeof w->path, "%s", params->model_path ? params->model_path : "");
    w->params.model_path = w->path;
    w->st.state = WORKER_LOADING;
    w->st.reply_first = -1;
    w->st.n_threads = params->n_threads;
    atomic_init(&w->stop, 0);
    if (pipe(w->wake) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(w);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(w->wake[i], F_SETFL, fcntl(w->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(w->wake[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rec_queue_init(&w->q, 0, 0, 0);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "cannot start the engine thread");
        close(w->wake[0]);
        close(w->wake[1]);
        rec_queue_free(&w->q);
        free(w);
        return NULL;
    }
    return w;
}

void worker_quit(struct worker *w, int timeout_ms)
{
    if (!w)
        return;
    atomic_store(&w->stop, 1);
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!w->exited)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
            break;
    bool exited = w->exited;
    pthread_mutex_unlock(&w->mu);
    if (!exited) {
        /* Still inside a long engine call: leave it; the process is about to end. */
        pthread_detach(w->thread);
        return;
    }
    pthread_join(w->thread, NULL);
    close(w->wake[0]);
    close(w->wake[1]);
    rec_queue_free(&w->q);
    trace_log_free(&w->log);
    free(w->vt.off);
    free(w->vt.text);
    for (size_t i = 0; i < w->n_vt_seen; i++) {
        free(w->vt_seen[i]->off);
        free(w->vt_seen[i]->text);
        free(w->vt_seen[i]);
    }
    free(w->vt_seen);
    free(w->job_text);
    worker_free_messages(w->job_msgs, w->job_n_msgs);
    free(w->reply);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int worker_wake_fd(const struct worker *w)
{
    return w->wake[0];
}

static int worker_submit(struct worker *w, enum job_kind kind, const char *text, size_t len,
                         const struct sampler_params *sp, int n_predict)
{
    char *copy = NULL;
    if (text) {
        copy = malloc(len + 1);
        if (!copy)
            return -1;
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    pthread_mutex_lock(&w->mu);
    if (w->job != JOB_NONE || worker_state_busy(w->st.state) || w->st.state == WORKER_FAILED) {
        pthread_mutex_unlock(&w->mu);
        free(copy);
        return -1;
    }
    w->job = kind;
    w->job_text = copy;
    w->job_len = len;
    if (sp)
        w->job_sp = *sp;
    w->job_n_predict = n_predict;
    /* Busy from now on, so a second submit before the thread wakes is refused. */
    w->st.state = kind == JOB_RESET ? w->st.state : WORKER_PREFILL;
    w->st.err[0] = 0;
    w->status_changed = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int worker_submit_reply(struct worker *w, const char *text, size_t len,
                        const struct sampler_params *sp, int n_predict)
{
    return worker_submit(w, JOB_REPLY, text, len, sp, n_predict);
}

void worker_set_context(struct worker *w, size_t keep_bytes, bool can_drop)
{
    pthread_mutex_lock(&w->mu);
    w->job_keep_bytes = keep_bytes;
    w->job_can_drop = can_drop;
    pthread_mutex_unlock(&w->mu);
}

int worker_submit_feed(struct worker *w, const char *text, size_t len)
{
    return worker_submit(w, JOB_FEED, text, len, NULL, 0);
}

int worker_submit_reset(struct worker *w)
{
    return worker_submit(w, JOB_RESET, NULL, 0, NULL, 0);
}

void worker_request_stop(struct worker *w)
{
    atomic_store(&w->stop, 1);
}

bool worker_take(struct worker *w, struct trace_log *log, size_t *first_changed,
                 struct worker_status *st)
{
    char drain[64];
    while (read(w->wake[0], drain, sizeof drain) > 0) {
    }
    bool changed = false;
    pthread_mutex_lock(&w->mu);
    if (w->status_changed) {
        /* Everything but the reply buffer, which stays the UI's own. */
        char *reply = st->reply;
        size_t cap = st->reply_cap;
        *st = w->st;
        st->reply = reply;
        st->reply_cap = cap;
        if (w->reply_pub + 1 > st->reply_cap) {
            size_t ncap = (w->reply_pub + 1) * 2;
            char *r = realloc(st->reply, ncap);
            if (r) {
                st->reply = r;
                st->reply_cap = ncap;
            }
        }
        st->reply_len = 0;
        if (st->reply && w->reply_pub + 1 <= st->reply_cap) {
            memcpy(st->reply, w->reply ? w->reply : "", w->reply_pub);
            st->reply_len = w->reply_pub;
            st->reply[st->reply_len] = 0;
        }
        w->status_changed = false;
        changed = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (rec_queue_take(&w->q, log, first_changed))
        changed = true;
    return changed;
}

const struct vocab_table *worker_vocab(const struct worker *w)
{
    struct worker *mw = (struct worker *)w;
    pthread_mutex_lock(&mw->mu);
    const struct vocab_table *v = mw->vocab;
    pthread_mutex_unlock(&mw->mu);
    return v;
}
