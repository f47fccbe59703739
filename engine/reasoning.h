/* engine/reasoning.h: a reply's thinking told apart from its answer, in the token stream as
 * it comes and in a stored reply, by the markers its chat style writes.
 *
 * Reasoning models write their thinking first: DeepSeek-R1 and Qwen3 as "<think>...</think>"
 * then the answer. Which markers a style uses is data, one row per style in
 * engine/text/reasoning.c's reason_rows (a style without a row never thinks). A reply is:
 *
 *   [whitespace] open THINKING close SEPARATOR ANSWER
 *
 * where SEPARATOR is whitespace when the row has no answer_open, and everything up to and
 * including answer_open when it has one (harmony: "<|end|><|start|>assistant<|channel|>final
 * <|message|>" after the analysis channel). A reply that does not begin with open is all
 * answer; one that never closes is all thinking. Where the prompt itself opens the thinking
 * (prompt_opens) a reply is THINKING close SEPARATOR ANSWER. The markers and the separator are neither
 * thinking nor answer: they are not shown, and a reply's text keeps them (the raw bytes). */
#ifndef MOESCOPE_REASONING_H
#define MOESCOPE_REASONING_H

#include <stdbool.h>
#include <stddef.h>

#include "chat.h"
#include "trace.h"

enum reason_part { REASON_ANSWER, REASON_THINKING, REASON_PART_COUNT };

struct reason_markers {
    const char *open;        /* starts the thinking, e.g. "<think>" */
    const char *close;       /* ends it, e.g. "</think>" */
    const char *answer_open; /* NULL: the answer starts after close and whitespace; else it
                              * starts after this, and what lies between is hidden */
    bool history_drops;      /* the template leaves the thinking out of earlier turns */
    bool prompt_opens;       /* the generation prompt ends in open (GLM-4.7's "<think>"): a
                              * reply starts in its thinking, without open */
};

/* The markers of a style, or NULL when it has none. */
const struct reason_markers *reason_markers_of(enum chat_style s);

/* How `run --chat` writes the thinking: on stderr, dimmed on a terminal (show); not at all
 * (hide); or in place with the markers, as the model wrote it (raw). */
enum reason_mode { REASON_SHOW, REASON_HIDE, REASON_RAW, REASON_MODE_COUNT };
extern const char *const reason_mode_names[REASON_MODE_COUNT];
/* 0, or -1 for a name not in reason_mode_names. */
int reason_mode_from_name(const char *name, enum reason_mode *out);

/* ---- the stream: one token's piece at a time ---- */

enum { REASON_HOLD_MAX = 64 }; /* longest marker (bytes) the splitter can wait for */

/* Receives shown text: part, and bytes that stay valid only during the call. */
typedef void (*reason_emit_fn)(void *ud, enum reason_part part, const char *s, size_t n);

struct reason_split {
    const struct reason_markers *mk; /* NULL: every byte is answer */
    int state;                       /* engine/text/reasoning.c's enum */
    char held[REASON_HOLD_MAX];      /* bytes that may start a marker (or leading space) */
    size_t n_held;
    bool thought;                    /* a thinking block was opened */
};

/* Starts a reply in style s (CHAT_STYLE_NONE: no markers). */
void reason_split_init(struct reason_split *rs, enum chat_style s);
/* Feeds one token's piece: its shown bytes go to emit (a marker cut between tokens is held
 * until it is decided). Returns the part the token belongs to: REASON_THINKING for tokens
 * of the thinking, its markers and the separator; REASON_ANSWER for the rest (a token that
 * both ends the thinking and starts the answer is an answer token). */
enum reason_part reason_split_push(struct reason_split *rs, const char *piece, size_t n,
                                   reason_emit_fn emit, void *ud);
/* The end of the reply: held bytes go out as what they were waiting in. */
void reason_split_flush(struct reason_split *rs, reason_emit_fn emit, void *ud);

/* Sets trace_token.thinking of the generated records of one reply, log records [from, to),
 * as the stream would (prompt records are skipped). Returns true when a record changed
 * (the caller then touches the log, trace.h's trace_log_touch). */
bool reason_mark_records(enum chat_style s, struct trace_log *log, size_t from, size_t to);

/* ---- a stored reply ---- */

/* Where the parts of a whole reply lie, as byte ranges of its text (the same split the
 * stream makes): thinking [think_off, think_off + think_len), answer [answer_off, n).
 * think_len = 0 and has_thinking = false when it has none; closed = false while the
 * thinking has not ended (answer_off = n). */
struct reason_spans {
    bool has_thinking, closed;
    size_t think_off, think_len;
    size_t answer_off;
};
void reason_spans_of(enum chat_style s, const char *text, size_t n, struct reason_spans *out);

/* The text a later turn's prompt carries for a stored reply: the answer alone when the
 * style's template drops the thinking from history, else the whole text. *off and *len
 * receive the range of text. */
void reason_history_text(enum chat_style s, const char *text, size_t n, size_t *off,
                         size_t *len);

#endif
