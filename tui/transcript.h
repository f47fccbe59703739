/* tui/transcript.h: the chat as messages (transcript.c): wrapped, scrollable, model text
 * escaped when drawn. The conversation's rules (what is sent, the stream into a reply,
 * the reset) are conversation.h's; this is the list and its drawing. */
#ifndef MOESCOPE_TRANSCRIPT_H
#define MOESCOPE_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curses.h>

#include "reasoning.h"

enum msg_role {
    MSG_USER,
    MSG_ASSISTANT,
    MSG_NOTE,                  /* the app speaking: help, settings, results */
    MSG_ERROR,                 /* the app reporting a failure */
};

struct wrap_line { uint32_t off, len; };   /* one display line: bytes of the text */

struct message {
    enum msg_role role;
    char *text;                /* raw bytes (model text may hold anything) */
    size_t len;
    bool streaming;            /* the reply being written now (text follows the worker) */
    bool in_chat;              /* part of the conversation sent to the model */
    bool out_of_context;       /* dropped from the model's context to make room (kept in the
                                  transcript and the session, no longer sent) */
    char meta[224];            /* a dim line under a reply: "42 tokens · 31.0 tok/s" */
    size_t rec_end;            /* replies: the log's length when it ended (session ranges) */
    long rec_first;            /* replies: the log index of its first sampled token, -1 =
                                  unknown (a loaded reply fed back as prompt) */
    /* wrap cache: valid while wrap_w and wrap_len match the window width and text, and
     * wrap_answer the answer's start in `think` */
    int wrap_w;
    size_t wrap_len, wrap_answer;
    struct wrap_line *wl;      /* (n_wl) display lines */
    int n_wl, cap_wl;
    /* a reply's thinking (reasoning.h), worked out on each draw before the wrap (which
     * gives its markers no width and starts the answer on a line of its own): its own
     * block, dimmed, folded to its head line once the answer starts (unless unfolded) */
    struct reason_spans think;
    bool think_folded;
    int *row_line;             /* (n_rows) the wrap line each row shows, -1: the block's head;
                                  used only when think.has_thinking */
    int n_rows, cap_rows;      /* rows of text drawn (n_wl without thinking) */
};

struct transcript {
    struct message *msg;       /* (n) in order */
    int n, cap;
    int scroll;                /* lines scrolled up from the bottom; 0 follows new text */
    int last_h;                /* the pane height of the last draw (page size for PgUp) */
    bool reveal;               /* scroll the selected token into view on the next draw */
};

void transcript_init(struct transcript *t);
void transcript_free(struct transcript *t);
/* Appends a message (text copied). Returns its index, or -1 when memory runs out. */
int transcript_add(struct transcript *t, enum msg_role role, const char *text, size_t len);
/* printf-style note or error. */
int transcript_addf(struct transcript *t, enum msg_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replaces the text of message i (streaming). Returns 0 or -1. */
int transcript_set_text(struct transcript *t, int i, const char *text, size_t len);
void transcript_clear(struct transcript *t);
/* Drops messages from index i on. */
void transcript_truncate(struct transcript *t, int i);
/* Scrolls by delta lines (positive: back in time), clamped when drawn. */
void transcript_scroll(struct transcript *t, int delta);
/* The character unit at s[0..n) as drawn: one UTF-8 character with the combining marks
 * that join it, or one byte (escaped); its width in columns goes to *width. */
size_t text_unit(const char *s, size_t n, bool utf8, int *width);
/* Wraps message m for a width of w columns (cached). Returns 0 or -1. */
int transcript_wrap(struct message *m, int w, bool utf8);

struct app;
/* Draws the chat into w; the selected record's text (a->sel) is highlighted in its reply. */
void transcript_draw(const struct app *a, struct transcript *t, WINDOW *w);

#endif
