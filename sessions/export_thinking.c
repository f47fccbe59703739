/* sessions/export_thinking.c: a reply's reasoning as the exports show it (Markdown, CSV,
 * HTML; ndjson carries trace_json_line's "thinking" already). */
#include "session.h"

#include <string.h>

bool export_thinking_of(const struct session *s, const struct session_message *msg,
                        struct export_thinking *out)
{
    memset(out, 0, sizeof *out);
    if (msg->role != SESSION_ASSISTANT)
        return false;
    enum chat_style st = CHAT_STYLE_NONE;
    char err[8];
    if (s->model.chat[0] && chat_style_from_name(s->model.chat, &st, err, sizeof err) != 0)
        st = CHAT_STYLE_NONE;
    reason_spans_of(st, msg->content, msg->content_len, &out->spans);
    if (msg->trace_end > msg->trace_begin &&
        trace_speed(&s->log, msg->trace_begin, msg->trace_end, &out->speed) != 0)
        memset(&out->speed, 0, sizeof out->speed);
    return out->spans.has_thinking || out->speed.n_thinking > 0;
}
