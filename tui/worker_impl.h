/* tui/worker_impl.h: the worker's state and the helpers its two reply paths share
 * (worker.c: the local engine; worker_remote.c: a server). Private to those two files: the
 * rest of the app goes through worker.h. */
#ifndef MOESCOPE_WORKER_IMPL_H
#define MOESCOPE_WORKER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "engine.h"
#include "rec_queue.h"
#include "worker.h"

enum job_kind { JOB_NONE, JOB_REPLY, JOB_FEED, JOB_RESET };

/* Prompt tokens fed per engine call: the first chunk is PREFILL_FIRST, later ones are sized
 * to take about PREFILL_SECONDS each, so Esc is heard within about that long and a fast
 * model still gets large batches. The records are those of one whole-prompt eval except
 * at the last layer of a chunk's last row, computed there in a smaller batch, whose weights
 * may differ in the last float bits (as llama.cpp's own ubatch boundaries do). */
enum { PREFILL_FIRST = 64, PREFILL_MIN = 16, PREFILL_MAX = 512 };
#define PREFILL_SECONDS 0.4

struct worker {
    pthread_t thread;
    struct engine_params params;  /* a copy; model_path points at path */
    struct backend_args remote;   /* a copy (the strings are the caller's) */
    char path[4096];
    int wake[2];                  /* pipe: [0] the UI polls, [1] the worker writes */
    atomic_int stop;              /* Esc: end the reply after the token in flight */

    pthread_mutex_t mu;           /* guards the fields down to `vocab` */
    pthread_cond_t cv;            /* signalled on a new job, on quit, and on exit */
    enum job_kind job;            /* the job waiting to be picked up */
    char *job_text;               /* (job_len) the rendered conversation, owned */
    size_t job_len;
    struct sampler_params job_sp;
    int job_n_predict;
    struct chat_msg *job_msgs;    /* (job_n_msgs) worker_set_messages: owned copies */
    int job_n_msgs;
    size_t job_keep_bytes;        /* worker_set_context, for the next reply */
    bool job_can_drop;
    bool quit;                    /* the UI wants the thread to end */
    bool exited;                  /* the thread has ended */
    bool status_changed;          /* the UI has not taken the latest status */
    struct worker_status st;      /* published status; st.reply is unused here */
    char *reply;                  /* (reply_cap) the reply so far, all bytes */
    size_t reply_len, reply_cap;
    size_t reply_pub;             /* bytes of reply the UI may show (complete UTF-8) */
    const struct vocab_table *vocab; /* set once after the model opened */

    struct rec_queue q;           /* records for the UI (its own lock) */

    /* private to the worker thread */
    struct engine *eng;
    struct backend *be;           /* a remote engine (then eng is NULL) */
    size_t n_bos;                 /* leading records that are not in the text (a BOS) */
    struct trace_log log;         /* every record of the engine's context */
    struct vocab_table vt;        /* what vocab points to (the local engine) */
    struct vocab_table **vt_seen; /* (n_vt_seen) a server's: one per turn, as its pieces grow;
                                   * kept until the worker ends, since the UI may hold any */
    size_t n_vt_seen;
};

void worker_set_state(struct worker *w, enum worker_state s);
void worker_post(struct worker *w, size_t from);
int vocab_build(struct worker *w, int n, struct vocab_table *v);
void worker_reply_append(struct worker *w, const char *p, size_t n);
void worker_finish(struct worker *w, enum reply_end why, const char *err);
size_t worker_text_prefix(const struct worker *w, const char *text, size_t len, size_t *off);
void worker_progress(struct worker *w, enum worker_state s, size_t done, size_t total);

/* A reply from the server (worker_remote.c), and opening it: 0, or -1 with err. */
void worker_do_remote_reply(struct worker *w, const char *text, size_t len,
                            const struct sampler_params *sp, int n_predict);
int worker_open_remote(struct worker *w, char *err, size_t errlen);
void worker_free_messages(struct chat_msg *msgs, int n);

#endif
