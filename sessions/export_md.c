/* sessions/export_md.c: the transcript as Markdown: a header with the model and the sampler,
 * then one `## Role` section per message. Text goes through text_escape, so control bytes
 * and bytes that are not UTF-8 show as \xNN rather than reaching a viewer raw. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text_escape.h"

/* Writes src[0..n) in its visible form (text_escape.h). */
static int md_put_text(FILE *out, const char *src, size_t n)
{
    char small[4096];
    size_t need = text_escape(src, n, small, sizeof small);
    if (need < sizeof small)
        return fwrite(small, 1, need, out) == need ? 0 : -1;
    char *big = malloc(need + 1);
    if (!big)
        return -1;
    text_escape(src, n, big, need + 1);
    int rc = fwrite(big, 1, need, out) == need ? 0 : -1;
    free(big);
    return rc;
}

int session_export_md(const struct session *s, FILE *out, char *err, size_t errlen)
{
    static const char *const heading[SESSION_ROLE_COUNT] = { "System", "User", "Assistant" };
    const struct session_model *m = &s->model;
    fprintf(out, "# moescope session\n\n");
    fprintf(out, "- Model: ");
    md_put_text(out, m->name[0] ? m->name : m->file, strlen(m->name[0] ? m->name : m->file));
    fprintf(out, " (`");
    md_put_text(out, m->file, strlen(m->file));
    fprintf(out, "`, ");
    md_put_text(out, m->arch[0] ? m->arch : "?", strlen(m->arch[0] ? m->arch : "?"));
    fprintf(out, ", %d layers, %d experts, k = %d)\n", m->n_layers, m->n_experts,
            m->n_experts_used);
    fprintf(out, "- Created %s, updated %s\n", s->created, s->updated);
    fprintf(out,
            "- Sampler: temperature %g, top-k %d, top-p %g, min-p %g, repeat penalty %g over "
            "%d tokens, seed %llu\n",
            (double)s->sampler.temp, s->sampler.top_k, (double)s->sampler.top_p,
            (double)s->sampler.min_p, (double)s->sampler.repeat_penalty,
            s->sampler.repeat_last_n, (unsigned long long)s->sampler.seed);
    if (s->system_prompt) {
        fprintf(out, "\n## System prompt\n\n");
        md_put_text(out, s->system_prompt, strlen(s->system_prompt));
        fputc('\n', out);
    }
    for (size_t i = 0; i < s->n_msg; i++) {
        const struct session_message *msg = &s->msg[i];
        fprintf(out, "\n## %s%s\n\n", heading[msg->role],
                msg->out_of_context ? " (out of context)" : "");
        struct export_thinking th;
        bool thinking = export_thinking_of(s, msg, &th);
        if (thinking && th.spans.has_thinking) {
            /* the thinking as a quote, its markers left out, then the answer */
            fprintf(out, "> **Thinking**%s\n>\n> ", th.spans.closed ? "" : " (not closed)");
            const char *p = msg->content + th.spans.think_off;
            size_t n = th.spans.think_len;
            while (n && (p[0] == '\n' || p[0] == ' ')) /* the lines around it */
                p++, n--;
            while (n && (p[n - 1] == '\n' || p[n - 1] == ' '))
                n--;
            for (size_t k = 0; k < n; k++)
                if (p[k] == '\n')
                    fputs("\n> ", out);
                else
                    md_put_text(out, p + k, 1);
            fputs("\n\n", out);
            if (th.spans.answer_off < msg->content_len)
                md_put_text(out, msg->content + th.spans.answer_off,
                            msg->content_len - th.spans.answer_off);
        } else {
            md_put_text(out, msg->content, msg->content_len);
        }
        fputc('\n', out);
        if (msg->trace_end > msg->trace_begin) {
            size_t prompt = 0, gen = 0;
            uint64_t ns = 0;
            for (size_t r = msg->trace_begin; r < msg->trace_end; r++) {
                const struct trace_token *t = &s->log.tok[r];
                prompt += t->prompt;
                gen += !t->prompt;
                ns += t->fed ? t->ns_total : 0;
            }
            fprintf(out, "\n*%zu prompt and %zu generated tokens, %.1f ms of forward passes",
                    prompt, gen, (double)ns / 1e6);
            if (thinking)
                fprintf(out, "; thinking %zu of %zu tokens, first answer token after %.1f ms "
                        "(TTFT %.1f ms)", th.speed.n_thinking, gen, th.speed.ttfa_ms,
                        th.speed.ttft_ms);
            fputs("*\n", out);
        }
    }
    if (ferror(out)) {
        snprintf(err, errlen, "write: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
