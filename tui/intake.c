/* tui/intake.c: what the worker posted, taken in on the UI thread: records into the
 * inspector's log, the status into the bars, the reply's text into the conversation, and
 * the first news of an opened model turned into its welcome. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app_session.h"
#include "conversation.h"
#include "intake.h"

static void intake_model_ready(struct app *a)
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
    if (a->ws.backend[0]) /* a server: what it is, how it is asked, what it lacks */
        conversation_note(a, MSG_NOTE, "%s, served by %s. The conversation goes to it %s; "
                          "times are measured here, from the stream; %s.", a->model_label,
                          a->ws.backend,
                          conversation_server_chat(a)
                              ? "as messages (/v1/chat/completions), in the server's own chat "
                                "template (raw text to /v1/completions if it refuses them)"
                              : "as raw text (/v1/completions), in the template --chat-template "
                                "names",
                          a->ws.missing[0] ? a->ws.missing : "it reports all");
    else
        conversation_note(a, MSG_NOTE, "%s: %s, %d layers, %s, context %d%s%s",
                          a->model_label, d->arch, d->n_layers, experts, a->ws.n_ctx,
                          a->chat_template[0] ? "" : tmpl,
                          a->random_weights ? ".\nIts weights are random: the words are "
                                              "noise, but the routing and the timings are real."
                                            : ".");
    if (!a->welcomed) /* once: a switched-to model is introduced, not the app again */
        conversation_note(a, MSG_NOTE,
                          "Type a message and press Enter. Tab moves to the inspector, F1 "
                          "lists every key, /help the commands.");
    a->welcomed = true;
    a->dirty |= DIRTY_ALL;   /* the welcome, the status, the inspector's shape */
    if (a->feed_pending)
        conversation_feed(a);
}

/* A /model switch under way: the new model's news. Open, it takes over once the old one is
 * idle; failed, it goes and the old one stays, the reason in the transcript. */
static void intake_pump_switch(struct app *a)
{
    if (!a->next_worker)
        return;
    struct trace_log none; /* no job runs on it before it takes over: no records */
    size_t first = 0;
    if (trace_log_init(&none, 0, 0, 0) == 0) {
        worker_take(a->next_worker, &none, &first, &a->next_ws);
        trace_log_free(&none);
    }
    if (a->next_ws.state == WORKER_FAILED) {
        conversation_note(a, MSG_ERROR, "/model: %s did not open: %s; %s stays open",
                          a->next_path, a->next_ws.err, a->model_label);
        app_switch_abandon(a);
        a->dirty |= DIRTY_ALL;
    } else if (a->next_ws.opened && !app_busy(a)) {
        app_switch_take_over(a);
        intake_model_ready(a);
    }
}

/* Takes what the worker posted and turns it into transcript and inspector changes. */
void intake_pump(struct app *a)
{
    intake_pump_switch(a);
    if (!a->worker)
        return;
    size_t first = 0;
    enum worker_state before = a->ws.state;
    size_t n_before = a->log.n;
    int layers_before = a->log.n_layers;
    bool chat_before = a->ws.chat_api;
    first = n_before + 1;
    if (!worker_take(a->worker, &a->log, &first, &a->ws))
        return;
    if (a->log.n_layers != layers_before) { /* a server's first expert ids gave it a shape */
        a->vctx.layer = a->log.n_layers / 2;
        a->dirty |= DIRTY_ALL;
    }
    if (chat_before && !a->ws.chat_api && a->ws.api_said[0] && a->model_ready) {
        conversation_note(a, MSG_NOTE, "%s", a->ws.api_said); /* the server refused chat */
        a->dirty |= DIRTY_TRANSCRIPT;
    }
    if (a->ws.backend[0] && a->model_ready) /* a server's pieces grow with every turn */
        a->vocab = worker_vocab(a->worker);
    a->dirty |= DIRTY_STATUS;
    bool records_changed = first <= n_before || a->log.n != n_before;
    if (records_changed)
        a->dirty |= DIRTY_INSPECTOR;
    if (a->ws.state != before) {
        a->dirty |= DIRTY_HINTS | DIRTY_INPUT;   /* the keys on offer follow the state */
        a->state_since = clock_now_s();
    }
    if (a->ws.opened && !a->model_ready)
        intake_model_ready(a);
    if (a->ws.state == WORKER_FAILED && before != WORKER_FAILED) {
        conversation_note(a, MSG_ERROR, "%s", a->ws.err);
        conversation_note(a, MSG_NOTE, "moescope -m FILE opens another model; "
                                       "/load FILE a saved session; /quit leaves.");
        a->dirty |= DIRTY_TRANSCRIPT | DIRTY_INPUT;
    }
    conversation_stream_follow(a);
    bool done = a->ws.done_seq != a->done_seen;
    if (done)
        a->done_seen = a->ws.done_seq;
    bool kept = done && conversation_stream_end(a);
    if (records_changed || done)
        conversation_mark_thinking(a); /* before the autosave writes the records */
    if (kept)
        app_session_autosave(a);   /* after every reply; the first one says where */
    if (a->feed_pending && a->model_ready && !app_busy(a))
        conversation_feed(a);
}
