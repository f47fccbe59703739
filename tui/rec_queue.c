/* tui/rec_queue.c: the records' hand-over queue (rec_queue.h). Locks are held only for
 * copies; the producer never waits for the consumer. */
#include <string.h>

#include "rec_queue.h"

int rec_queue_init(struct rec_queue *q, int n_layers, int n_experts, int n_experts_used)
{
    memset(q, 0, sizeof *q);
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return -1;
    return trace_log_init(&q->log, n_layers, n_experts, n_experts_used);
}

void rec_queue_free(struct rec_queue *q)
{
    trace_log_free(&q->log);
    pthread_mutex_destroy(&q->mu);
}

static bool rec_queue_same_shape(const struct trace_log *a, const struct trace_log *b)
{
    return a->n_layers == b->n_layers && a->n_experts == b->n_experts &&
           a->n_experts_used == b->n_experts_used;
}

void rec_queue_post(struct rec_queue *q, const struct trace_log *src, size_t from)
{
    if (from > src->n)
        from = src->n;
    pthread_mutex_lock(&q->mu);
    /* Pending records the UI has not taken are copied again from src, which is the truth:
     * start at the lower of the two starting points. */
    if (q->pending && q->from < from)
        from = q->from;
    if (from > src->n)
        from = src->n;
    if (!rec_queue_same_shape(&q->log, src)) {
        /* The producer's log grew a shape (a server's first expert ids): the consumer's
         * records are all resent in it, from the start. */
        trace_log_free(&q->log);
        if (trace_log_init(&q->log, src->n_layers, src->n_experts, src->n_experts_used) != 0)
            q->failed = true;
        from = 0;
    }
    trace_log_clear(&q->log);
    q->from = from;
    q->pending = true;
    for (size_t i = from; i < src->n; i++)
        if (trace_log_copy_from(&q->log, src, i) < 0) {
            q->failed = true;
            break;
        }
    pthread_mutex_unlock(&q->mu);
}

bool rec_queue_take(struct rec_queue *q, struct trace_log *dst, size_t *first_changed)
{
    bool changed = false;
    pthread_mutex_lock(&q->mu);
    if (q->pending) {
        size_t from = q->from < dst->n ? q->from : dst->n;
        /* A gap (from beyond dst->n) cannot happen with one producer posting contiguous
         * tails; if it did, the records before `from` would be missing, so say so. */
        if (q->from > dst->n)
            q->failed = true;
        if (!rec_queue_same_shape(dst, &q->log)) {
            /* A new shape is always posted from record 0 (rec_queue_post). */
            struct trace_log fresh;
            if (q->from == 0 && trace_log_init(&fresh, q->log.n_layers, q->log.n_experts,
                                               q->log.n_experts_used) == 0) {
                trace_log_free(dst);
                *dst = fresh;
            } else {
                q->failed = true;
            }
            from = 0;
        }
        trace_log_truncate(dst, from);
        for (size_t i = 0; i < q->log.n; i++)
            if (trace_log_copy_from(dst, &q->log, i) < 0) {
                q->failed = true;
                break;
            }
        if (first_changed)
            *first_changed = from;
        trace_log_clear(&q->log);
        q->pending = false;
        changed = true;
    }
    pthread_mutex_unlock(&q->mu);
    return changed;
}
