/* tui/conversation.h: the conversation (conversation.c): the messages the model sees, the
 * reply streamed into the transcript, and the one reset that /clear and /load share.
 * Commands and keys change the conversation through these, never through the fields. */
#ifndef MOESCOPE_CONVERSATION_H
#define MOESCOPE_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>

#include "chat.h"
#include "transcript.h"

struct app;
/* Sends the conversation to the model for a reply. Returns 0, or -1 with a message. */
int conversation_send(struct app *a);
/* The user's line (not a command) as a message, and a reply asked for. */
void conversation_say(struct app *a, const char *line);
/* /regen: the last reply dropped and asked for again. */
int conversation_regen(struct app *a);
/* Feeds a loaded conversation so the model's cache and the inspector hold it. */
void conversation_feed(struct app *a);
/* Empties the conversation: messages, records, the selection, the model's context (the
 * system prompt and the session file stay). Returns 0, or -1 with a message when the
 * model is busy. */
int conversation_reset(struct app *a);
/* A note or an error from the app, printf-style, scrolled into view. Returns its index. */
int conversation_note(struct app *a, enum msg_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A message of a loaded session, with its record range and whether it had been dropped out
 * of the context. Returns its index or -1. */
int conversation_add_loaded(struct app *a, enum msg_role role, const char *text, size_t len,
                            size_t rec_end, long rec_first, bool out_of_context);
/* The system prompt (NULL or "": none). Returns 0, or -1 with a message. */
int conversation_set_system(struct app *a, const char *text);
/* The style replies are written in: --chat-template, else the model's (CHAT_STYLE_NONE: a
 * base model's plain text). */
enum chat_style conversation_style(const struct app *a);
/* Marks the records of every reply that were thinking (trace_token.thinking), as its
 * style's markers split it (reasoning.h); records taken again from the worker lose it. */
void conversation_mark_thinking(struct app *a);
/* The worker's reply so far into the message being streamed. */
void conversation_stream_follow(struct app *a);
/* After a turn drop the worker fed the kept messages again after the system prompt, as one
 * prompt, so their records moved and their ranges were cleared. Each kept reply before
 * message upto gets its range again: it ends after the record that holds its text's last
 * byte, found in the records' bytes in message order (a message not found keeps none). */
void conversation_rebind_ranges(struct app *a, int upto);
/* The worker finished a job: the streamed message closed (kept, dropped or an error).
 * Returns true when a reply was kept (time to autosave). */
bool conversation_stream_end(struct app *a);
/* Whether replies go to a server's /v1/chat/completions in its own template (else raw text
 * to /v1/completions, or the local engine). */
bool conversation_server_chat(const struct app *a);

#endif
