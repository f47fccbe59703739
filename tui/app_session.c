/* tui/app_session.c: the conversation as a session file (sessions/): save, autosave,
 * export, and load (which also serves --replay: the records as they were, no model). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_session.h"
#include "conversation.h"

void app_session_forget(struct app *a)
{
    a->sess.id[0] = 0;
    a->sess.created[0] = 0;
    a->sess.path[0] = 0;
}

/* The session as it stands: messages with their records. */
static int app_session_build(struct app *a, struct session *s, char *err, size_t errlen)
{
    if (session_init(s, a->log.n_layers, a->log.n_experts, a->log.n_experts_used) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (a->sess.id[0]) {
        snprintf(s->id, sizeof s->id, "%s", a->sess.id);
        snprintf(s->created, sizeof s->created, "%s", a->sess.created);
    } else {
        snprintf(a->sess.id, sizeof a->sess.id, "%s", s->id);
        snprintf(a->sess.created, sizeof a->sess.created, "%s", s->created);
    }
    if (a->replay && a->sess.have_loaded_model) {
        s->model = a->sess.loaded_model;
    } else if (a->model_ready) {
        if (session_set_model(s, &a->ws.desc, err, errlen) < 0)
            return -1;
        if (a->ws.backend[0]) /* a server: its fingerprint too, as run --session records */
            snprintf(s->model.fingerprint, sizeof s->model.fingerprint, "%s",
                     a->ws.fingerprint);
    }
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
        s->msg[last].out_of_context = m->out_of_context;
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

int app_session_save(struct app *a, const char *path, bool loud)
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
    else if (a->sess.path[0])
        snprintf(where, sizeof where, "%s", a->sess.path);
    else if (session_autosave_path(&s, where, sizeof where, err, sizeof err) < 0) {
        session_free(&s);
        app_message(a, true, "save: %s", err);
        return -1;
    }
    int r = session_save(&s, where, false, err, sizeof err);
    if (r < 0 && !path) {
        /* An autosave never stops saving: when its file was taken (another copy of the app,
         * a different session put there) or cannot be written, a fresh name is tried. */
        char again[4096], err2[1024];
        if (session_autosave_path(&s, again, sizeof again, err2, sizeof err2) == 0 &&
            strcmp(again, where) != 0 && session_save(&s, again, false, err2, sizeof err2) == 0) {
            app_message(a, true, "autosaved to %s instead (%s)", again, err);
            snprintf(where, sizeof where, "%s", again);
            r = 0;
        }
    }
    session_free(&s);
    if (r < 0) {
        app_message(a, true, "%s", err);
        return -1;
    }
    snprintf(a->sess.path, sizeof a->sess.path, "%s", where);
    if (loud)
        app_message(a, false, "saved %s", where);
    return 0;
}

int app_session_export(struct app *a, const char *format, const char *path)
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
static void app_session_replay_vocab(struct app *a)
{
    struct vocab_table *v = &a->sess.replay_vocab;
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

int app_session_load(struct app *a, const char *path)
{
    char err[1024] = "";
    struct session s;
    if (session_load(&s, path, err, sizeof err) < 0) {
        app_message(a, true, "%s", err);
        return -1;
    }
    if (conversation_reset(a) < 0) {
        session_free(&s);
        return -1;
    }
    if (a->replay)
        conversation_note(a, MSG_NOTE,
                          "replay of %s: %zu messages, %zu records, read-only (no model is open)",
                          path, s.n_msg, s.log.n);
    conversation_set_system(a, s.system_prompt);
    for (size_t i = 0; i < s.n_msg; i++) {
        const struct session_message *m = &s.msg[i];
        if (m->role == SESSION_SYSTEM) {
            conversation_set_system(a, m->content);
            continue;
        }
        /* In replay the records are the saved ones: a reply's tokens are the sampled
         * records of its range, so the inspector's selection can be shown in its text. */
        long first = -1;
        if (a->replay && m->role == SESSION_ASSISTANT)
            for (size_t r = m->trace_begin; r < m->trace_end && r < s.log.n; r++)
                if (!s.log.tok[r].prompt) {
                    first = (long)r;
                    break;
                }
        conversation_add_loaded(a, m->role == SESSION_USER ? MSG_USER : MSG_ASSISTANT,
                                m->content, m->content_len, m->trace_end, first,
                                m->out_of_context);
    }
    a->sampler = s.sampler;
    a->sess.loaded_model = s.model;
    a->sess.have_loaded_model = true;
    snprintf(a->sess.id, sizeof a->sess.id, "%s", s.id);
    snprintf(a->sess.created, sizeof a->sess.created, "%s", s.created);
    snprintf(a->sess.path, sizeof a->sess.path, "%s", path);
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
        /* The template the replies were written in: it says where their thinking is. */
        enum chat_style st;
        char e2[256];
        if (s.model.chat[0] && chat_style_from_name(s.model.chat, &st, e2, sizeof e2) == 0) {
            snprintf(d->chat_style, sizeof d->chat_style, "%s", chat_style_name(st));
            snprintf(d->chat_family, sizeof d->chat_family, "%s",
                     chat_family_names[chat_style_family(st)]);
        }
        snprintf(a->model_label, sizeof a->model_label, "%.150s",
                 s.model.name[0] ? s.model.name : s.model.file);
        a->random_weights = strstr(s.model.name, "random") != NULL;
        a->model_ready = true;
        app_session_replay_vocab(a);
    } else {
        char why[512] = "";
        if (a->model_ready) {
            struct session_model cur;
            char e2[256];
            if (session_model_from_desc(&cur, &a->ws.desc, e2, sizeof e2) == 0 &&
                session_model_differs(&s.model, &cur, why, sizeof why))
                app_message(a, true, "this session was made with another model: %s", why);
        }
        conversation_note(a, MSG_NOTE, "loaded %s: %zu messages; feeding them to the model",
                          path, s.n_msg);
        a->feed_pending = true;
    }
    session_free(&s);
    a->dirty |= DIRTY_ALL;
    return 0;
}


void app_session_autosave(struct app *a)
{
    bool first_save = !a->sess.path[0];
    if (!a->replay && app_session_save(a, NULL, false) == 0 && first_save)
        app_message(a, false, "autosaved to %s", a->sess.path);
}

void app_session_free(struct app_session *s)
{
    free(s->replay_vocab.off);
    free(s->replay_vocab.text);
    memset(&s->replay_vocab, 0, sizeof s->replay_vocab);
}
