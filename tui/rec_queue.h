/* tui/rec_queue.h: the hand-over of trace records from the worker thread to the UI.
 * The worker posts "the UI's records from index `from` on are now these"; the UI takes
 * the lot at its own pace. Posts that arrive before the UI takes are merged, so the UI
 * always ends up with an exact copy of the worker's log, whatever it skipped, in the
 * worker's shape: a log that changes shape (a server's first expert ids) is posted whole
 * and the UI's log takes the new shape. */
#ifndef MOESCOPE_REC_QUEUE_H
#define MOESCOPE_REC_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "trace.h"

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
/* Called by the consumer: applies what is pending to dst (given the queue's shape when it
 * differs). Returns true when
 * dst changed. *first_changed gets the lowest index that changed. */
bool rec_queue_take(struct rec_queue *q, struct trace_log *dst, size_t *first_changed);

#endif
