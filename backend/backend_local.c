/* backend/backend_local.c: the in-process engine behind backend.h.
 *
 * A turn: the chat template (the named style, or the family the model's template was
 * recognised as) or the raw text -> tokens (the model's BOS rule; special-token text parsed
 * only in chat) -> one prompt record per token -> engine_eval (the prompt in one batch) ->
 * repeat { engine_sample, on_token, stop on end-of-generation / n_predict / a full context /
 * the caller, engine_eval }. The last generated token is never fed: its logits would not be
 * used. With rq->context_shift a full context does not stop the turn: the engine keeps the
 * first positions (the BOS and n_keep prompt tokens, or the system prompt), drops the oldest
 * half of the rest and evaluates the kept tail again (engine.h). The log's records before the turn must be the ones the engine has seen (a fresh log
 * and engine for `run`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"

static size_t local_token_piece(const struct backend *b, int32_t id, char *buf, size_t buflen)
{
    return engine_token_piece(b->engine, id, buf, buflen);
}

static void local_close(struct backend *b)
{
    engine_close(b->engine);
    free(b);
}

/* The chat prompt of the request, or NULL with res->msg set; *style_out is the style used. */
static char *local_render_chat(struct backend *b, const struct backend_request *rq, size_t *len,
                               enum chat_style *style_out, struct backend_result *res)
{
    const struct model_desc *d = &b->info.model;
    enum chat_style style = rq->style;
    if (style == CHAT_STYLE_NONE) {
        char err[512];
        if (!d->chat_style[0] || chat_style_from_name(d->chat_style, &style, err, sizeof err)) {
            char names[128] = "";
            for (int i = 1; i < CHAT_FAMILY_COUNT; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i > 1 ? ", " : "", chat_family_names[i]);
            snprintf(res->msg, sizeof res->msg,
                     "%.400s: the model has no chat template of a known family (%s); name one "
                     "with --chat-template", d->path, names);
            return NULL;
        }
    }
    int n = rq->n_msgs + (rq->system ? 1 : 0);
    struct chat_msg *msgs = malloc((size_t)(n ? n : 1) * sizeof *msgs);
    char *r = NULL;
    if (msgs) {
        int k = 0;
        if (rq->system)
            msgs[k++] = (struct chat_msg){ "system", rq->system };
        for (int i = 0; i < rq->n_msgs; i++)
            msgs[k++] = rq->msgs[i];
        r = chat_render_style(style, msgs, n, true, len);
        free(msgs);
    }
    *style_out = style;
    if (!r)
        snprintf(res->msg, sizeof res->msg, "out of memory rendering the chat template");
    return r;
}

/* The prompt's tokens pushed as prompt records, or -1 with res->msg set. */
static int local_push_prompt(struct backend *b, const char *text, size_t len, bool chat,
                             const char *name, struct trace_log *log, struct backend_result *res)
{
    char err[512] = "", piece[512];
    int n_ctx = engine_n_ctx(b->engine);
    int32_t *toks = malloc((size_t)n_ctx * sizeof *toks);
    if (!toks) {
        snprintf(res->msg, sizeof res->msg, "out of memory");
        return -1;
    }
    int n = engine_tokenize(b->engine, text, len, true, chat, toks, n_ctx, err, sizeof err);
    if (n < 0)
        snprintf(res->msg, sizeof res->msg, "%.300s%sthe prompt: %.500s (the context is %d "
                 "tokens; see -c)", name ? name : "", name ? ": " : "",
                 err[0] ? err : "cannot be tokenized", n_ctx);
    else if (n == 0)
        snprintf(res->msg, sizeof res->msg, "the prompt is empty");
    else if (n >= n_ctx)
        snprintf(res->msg, sizeof res->msg, "the prompt is %d tokens, which leaves no room in "
                 "a context of %d (use -c, or a shorter prompt)", n, n_ctx);
    for (int i = 0; n > 0 && n < n_ctx && i < n; i++) {
        size_t pl = engine_token_piece(b->engine, toks[i], piece, sizeof piece);
        if (trace_log_push(log, toks[i], piece, pl < sizeof piece ? pl : sizeof piece, true) < 0) {
            snprintf(res->msg, sizeof res->msg, "out of memory");
            n = -1;
        }
    }
    free(toks);
    if (n <= 0 || n >= n_ctx)
        return -1;
    res->n_prompt = (size_t)n;
    return 0;
}

/* The positions a context shift keeps: the records before the turn, the BOS (when tokenizing
 * added one), then rq->n_keep prompt tokens (-1: the whole prompt), or by default the system
 * turn (its rendering alone, as far as its tokens match the prompt's). */
static int local_keep(struct backend *b, const struct backend_request *rq, enum chat_style style,
                      const char *text, size_t len, const struct trace_log *log, size_t first)
{
    char err[512];
    int n = (int)(log->n - first);
    int32_t *t2 = malloc((size_t)(n + 1) * sizeof *t2);
    if (!t2)
        return (int)first;
    bool chat = rq->msgs != NULL;
    int n_bos = engine_tokenize(b->engine, text, len, false, chat, t2, n + 1, err, sizeof err) ==
                n - 1 ? 1 : 0;
    int keep = n_bos;
    if (rq->n_keep == -1) {
        keep = n;
    } else if (rq->n_keep >= 0) {
        keep = n_bos + (rq->n_keep < n - n_bos ? (int)rq->n_keep : n - n_bos);
    } else if (chat && rq->system) {
        struct chat_msg sys = { "system", rq->system };
        size_t slen;
        char *r = chat_render_style(style, &sys, 1, false, &slen);
        int m = r ? engine_tokenize(b->engine, r, slen, true, true, t2, n + 1, err, sizeof err)
                  : -1;
        for (int i = 0; i < m && i < n && t2[i] == log->tok[first + (size_t)i].token; i++)
            keep = i + 1;
        free(r);
    }
    free(t2);
    return (int)first + keep;
}

static void local_sample_loop(struct backend *b, const struct backend_request *rq,
                              struct trace_log *log, struct backend_result *res)
{
    char err[512] = "";
    const int n_ctx = engine_n_ctx(b->engine);
    res->stop = BACKEND_STOP_LENGTH;
    for (long g = 0; rq->n_predict < 0 || g < rq->n_predict; g++) {
        if (rq->should_stop && rq->should_stop(rq->ud)) {
            res->stop = BACKEND_STOP_USER;
            return;
        }
        long idx = engine_sample(b->engine, log, err, sizeof err);
        if (idx < 0) {
            snprintf(res->msg, sizeof res->msg, "%s", err);
            res->stop = BACKEND_STOP_ERROR;
            return;
        }
        if (engine_token_is_eog(b->engine, log->tok[idx].token)) {
            res->stop = BACKEND_STOP_EOG;
            return;
        }
        res->n_gen++;
        if (rq->on_token && !rq->on_token(rq->ud, log, (size_t)idx)) {
            res->stop = BACKEND_STOP_USER;
            return;
        }
        if (rq->n_predict >= 0 && g + 1 >= rq->n_predict)
            return; /* the last token is never fed: its logits would not be used */
        if (!rq->context_shift && log->n >= (size_t)n_ctx) {
            snprintf(res->msg, sizeof res->msg, "context full (%d tokens)", n_ctx);
            res->stop = BACKEND_STOP_CONTEXT;
            return;
        }
        if (engine_eval(b->engine, log, err, sizeof err) != 0) {
            snprintf(res->msg, sizeof res->msg, "%s", err);
            res->stop = BACKEND_STOP_ERROR; /* not the full context, checked above */
            return;
        }
    }
}

static int local_generate(struct backend *b, const struct backend_request *rq,
                          struct trace_log *log, struct backend_result *res)
{
    size_t len = rq->len;
    const char *text = rq->text;
    char *rendered = NULL;
    enum chat_style style = rq->style;
    if (rq->msgs) {
        rendered = local_render_chat(b, rq, &len, &style, res);
        if (!rendered)
            return -1;
        text = rendered;
    }
    size_t first = log->n;
    int rc = local_push_prompt(b, text, len, rq->msgs != NULL, rq->text_name, log, res);
    if (rc == 0)
        engine_set_context_shift(b->engine, rq->context_shift,
                                 rq->context_shift ? local_keep(b, rq, style, text, len, log, first)
                                                   : 0);
    free(rendered);
    if (rc != 0)
        return -1;
    char err[512] = "";
    if (engine_eval(b->engine, log, err, sizeof err) != 0) {
        snprintf(res->msg, sizeof res->msg, "%s", err);
        return -1;
    }
    local_sample_loop(b, rq, log, res);
    return 0;
}

static const struct backend_ops local_ops = {
    .generate = local_generate,
    .token_piece = local_token_piece,
    .close = local_close,
};

struct backend *backend_local_open(const struct backend_params *p, char *err, size_t errlen)
{
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = p->args.model;
    ep.n_threads = p->n_threads;
    ep.n_ctx = p->n_ctx;
    ep.sampler = p->sampler;
    ep.trace = p->trace;
    ep.prewarm = p->prewarm;
    ep.mlock = p->mlock;
    struct backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->engine = engine_open(&ep, err, errlen);
    if (!b->engine) {
        free(b);
        return NULL;
    }
    b->ops = &local_ops;
    b->info.model = *engine_desc(b->engine);
    snprintf(b->info.family, sizeof b->info.family, "local");
    b->info.n_ctx = engine_n_ctx(b->engine);
    b->info.reports = BACKEND_REPORTS_LOGPROBS | BACKEND_REPORTS_TOKEN_IDS |
                      BACKEND_REPORTS_TOKEN_TIMES |
                      BACKEND_REPORTS_SERVER_TIMES | /* the engine is its own server */
                      (p->trace ? BACKEND_REPORTS_EXPERTS | BACKEND_REPORTS_GATES |
                                      BACKEND_REPORTS_ENTROPY | BACKEND_REPORTS_SPLIT : 0);
    return b;
}
