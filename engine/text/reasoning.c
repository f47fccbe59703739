/* engine/text/reasoning.c: see reasoning.h. The markers per chat style are one table; the
 * stream and the stored-reply split walk the same grammar (a test checks that they agree at
 * every cut of a reply into pieces). */
#include "reasoning.h"

#include <string.h>

/* DeepSeek-R1's template keeps only what follows "</think>" of earlier replies
 * (content.split('</think>')[-1]); Qwen3's (ChatML) drops the reasoning of turns before the
 * last user message. Both write <think> as the first thing of a reply. */
static const struct reason_markers reason_think = { "<think>", "</think>", NULL, true, false };

/* gpt-oss (harmony) thinks in the analysis channel, then writes "<|start|>assistant" and the
 * final channel; its template keeps only the final message of earlier turns. */
static const struct reason_markers reason_harmony = {
    "<|channel|>analysis<|message|>", "<|end|>", "<|channel|>final<|message|>", true, false
};

/* GLM-4.7's generation prompt ends "<think>": the reply is the thinking, "</think>", then the
 * answer. Its template, as llama.cpp runs it (reasoning preserved), keeps every reply's
 * thinking, so a later prompt carries the whole reply. */
static const struct reason_markers reason_think_opened = {
    "<think>", "</think>", NULL, false, true
};

static const struct reason_markers *const reason_rows[CHAT_STYLE_COUNT] = {
    [CHAT_STYLE_CHATML] = &reason_think,
    [CHAT_STYLE_DEEPSEEK3] = &reason_think,
    [CHAT_STYLE_GLM45] = &reason_think,
    [CHAT_STYLE_GLM47] = &reason_think_opened,
    [CHAT_STYLE_GPT_OSS] = &reason_harmony,
    [CHAT_STYLE_HARMONY] = &reason_harmony,
};

const struct reason_markers *reason_markers_of(enum chat_style s)
{
    return (s > CHAT_STYLE_NONE && s < CHAT_STYLE_COUNT) ? reason_rows[s] : NULL;
}

const char *const reason_mode_names[REASON_MODE_COUNT] = {
    [REASON_SHOW] = "show",
    [REASON_HIDE] = "hide",
    [REASON_RAW] = "raw",
};

int reason_mode_from_name(const char *name, enum reason_mode *out)
{
    for (int m = 0; m < REASON_MODE_COUNT; m++)
        if (!strcmp(name, reason_mode_names[m])) {
            *out = (enum reason_mode)m;
            return 0;
        }
    return -1;
}

static bool reason_isspace(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* s[0..n) is a prefix of marker m (n may equal its length). */
static bool reason_prefix_of(const char *s, size_t n, const char *m)
{
    size_t ml = strlen(m);
    return n <= ml && memcmp(s, m, n) == 0;
}

/* ---- the stream ---- */

enum { RS_START, RS_THINK, RS_SEP, RS_ANSWER };

/* Shown bytes gathered per part, so that emit sees runs rather than single bytes. */
struct reason_acc {
    reason_emit_fn emit;
    void *ud;
    enum reason_part part;
    size_t n;
    char buf[256];
    bool any_answer;
};

static void acc_flush(struct reason_acc *a)
{
    if (a->n && a->emit)
        a->emit(a->ud, a->part, a->buf, a->n);
    a->n = 0;
}

static void acc_put(struct reason_acc *a, enum reason_part part, const char *s, size_t n)
{
    if (n && part == REASON_ANSWER)
        a->any_answer = true;
    for (size_t i = 0; i < n; i++) {
        if (a->n && (a->part != part || a->n == sizeof a->buf))
            acc_flush(a);
        a->part = part;
        a->buf[a->n++] = s[i];
    }
}

void reason_split_init(struct reason_split *rs, enum chat_style s)
{
    memset(rs, 0, sizeof *rs);
    rs->mk = reason_markers_of(s);
    rs->state = !rs->mk ? RS_ANSWER : rs->mk->prompt_opens ? RS_THINK : RS_START;
    rs->thought = rs->state == RS_THINK;
}

/* Drops or shows (as part) the held bytes that can no longer begin marker m, keeping the
 * longest tail that still can. Returns true when the held bytes are m itself. */
static bool hold_toward(struct reason_split *rs, const char *m, struct reason_acc *a,
                        bool show, enum reason_part part)
{
    size_t k = 0;
    while (k < rs->n_held && !reason_prefix_of(rs->held + k, rs->n_held - k, m))
        k++;
    if (show)
        acc_put(a, part, rs->held, k);
    memmove(rs->held, rs->held + k, rs->n_held - k);
    rs->n_held -= k;
    if (rs->n_held == strlen(m)) {
        rs->n_held = 0;
        return true;
    }
    return false;
}

/* START: leading whitespace, then open (thinking), answer_open (the answer at once) or
 * anything else (all answer, the held bytes shown). */
static void step_start(struct reason_split *rs, struct reason_acc *a)
{
    const struct reason_markers *mk = rs->mk;
    size_t ws = 0;
    while (ws < rs->n_held && reason_isspace(rs->held[ws]))
        ws++;
    const char *rest = rs->held + ws;
    size_t nr = rs->n_held - ws;
    if (nr == 0 && rs->n_held < sizeof rs->held)
        return;
    bool to_open = nr && reason_prefix_of(rest, nr, mk->open);
    bool to_answer = nr && mk->answer_open && reason_prefix_of(rest, nr, mk->answer_open);
    if (to_open && nr == strlen(mk->open)) {
        rs->state = RS_THINK;
        rs->thought = true;
        rs->n_held = 0;
    } else if (to_answer && nr == strlen(mk->answer_open)) {
        rs->state = RS_ANSWER;
        rs->n_held = 0;
    } else if ((!to_open && !to_answer) || rs->n_held == sizeof rs->held) {
        /* Not a marker, or more leading space than the stream waits through. */
        rs->state = RS_ANSWER;
        acc_put(a, REASON_ANSWER, rs->held, rs->n_held);
        rs->n_held = 0;
    }
}

static void split_byte(struct reason_split *rs, char c, struct reason_acc *a)
{
    const struct reason_markers *mk = rs->mk;
    switch (rs->state) {
    case RS_START:
        rs->held[rs->n_held++] = c;
        step_start(rs, a);
        break;
    case RS_THINK:
        rs->held[rs->n_held++] = c;
        if (hold_toward(rs, mk->close, a, true, REASON_THINKING))
            rs->state = RS_SEP;
        break;
    case RS_SEP:
        if (mk->answer_open) {
            rs->held[rs->n_held++] = c;
            if (hold_toward(rs, mk->answer_open, a, false, REASON_THINKING))
                rs->state = RS_ANSWER;
        } else if (!reason_isspace(c)) {
            rs->state = RS_ANSWER;
            acc_put(a, REASON_ANSWER, &c, 1);
        }
        break;
    default:
        acc_put(a, REASON_ANSWER, &c, 1);
        break;
    }
}

enum reason_part reason_split_push(struct reason_split *rs, const char *piece, size_t n,
                                   reason_emit_fn emit, void *ud)
{
    struct reason_acc a = { .emit = emit, .ud = ud };
    bool thinking = rs->state == RS_THINK || rs->state == RS_SEP;
    for (size_t i = 0; i < n; i++) {
        split_byte(rs, piece[i], &a);
        thinking |= rs->state == RS_THINK || rs->state == RS_SEP;
    }
    acc_flush(&a);
    /* A token held at the start as the beginning of open is taken for thinking: reasoning
     * models open with it (a reply that only looked like it is rare and short). */
    if (rs->state == RS_START && rs->n_held && !reason_isspace(rs->held[rs->n_held - 1]))
        thinking = true;
    return thinking && !a.any_answer ? REASON_THINKING : REASON_ANSWER;
}

void reason_split_flush(struct reason_split *rs, reason_emit_fn emit, void *ud)
{
    struct reason_acc a = { .emit = emit, .ud = ud };
    if (rs->state == RS_START)
        acc_put(&a, REASON_ANSWER, rs->held, rs->n_held);
    else if (rs->state == RS_THINK)
        acc_put(&a, REASON_THINKING, rs->held, rs->n_held);
    rs->n_held = 0;
    acc_flush(&a);
}

bool reason_mark_records(enum chat_style s, struct trace_log *log, size_t from, size_t to)
{
    struct reason_split rs;
    reason_split_init(&rs, s);
    bool changed = false;
    for (size_t i = from; i < to && i < log->n; i++) {
        struct trace_token *t = &log->tok[i];
        if (t->prompt)
            continue;
        bool th = reason_split_push(&rs, trace_piece(log, i), t->piece_len, NULL, NULL) ==
                  REASON_THINKING;
        changed |= t->thinking != th;
        t->thinking = th;
    }
    return changed;
}

/* ---- a stored reply ---- */

/* The first m in text[from..n), or n. */
static size_t reason_find(const char *text, size_t n, size_t from, const char *m)
{
    size_t ml = strlen(m);
    for (size_t i = from; i + ml <= n; i++)
        if (memcmp(text + i, m, ml) == 0)
            return i;
    return n;
}

static bool reason_at(const char *text, size_t n, size_t i, const char *m)
{
    size_t ml = strlen(m);
    return i + ml <= n && memcmp(text + i, m, ml) == 0;
}

void reason_spans_of(enum chat_style s, const char *text, size_t n, struct reason_spans *out)
{
    memset(out, 0, sizeof *out);
    const struct reason_markers *mk = reason_markers_of(s);
    if (!mk)
        return;
    size_t i = 0;
    while (!mk->prompt_opens && i < n && reason_isspace(text[i]))
        i++;
    /* The stream waits through REASON_HOLD_MAX bytes of leading space and marker, no more. */
    if (!mk->prompt_opens && mk->answer_open && reason_at(text, n, i, mk->answer_open) &&
        i + strlen(mk->answer_open) <= REASON_HOLD_MAX) {
        out->answer_off = i + strlen(mk->answer_open);
        return;
    }
    if (!mk->prompt_opens && (!reason_at(text, n, i, mk->open) ||
                              i + strlen(mk->open) > REASON_HOLD_MAX))
        return;
    out->has_thinking = true;
    out->think_off = mk->prompt_opens ? 0 : i + strlen(mk->open);
    size_t c = reason_find(text, n, out->think_off, mk->close);
    out->think_len = c - out->think_off;
    out->answer_off = n;
    if (c == n)
        return;
    out->closed = true;
    size_t j = c + strlen(mk->close);
    if (mk->answer_open) {
        size_t a = reason_find(text, n, j, mk->answer_open);
        if (a < n)
            out->answer_off = a + strlen(mk->answer_open);
        return;
    }
    while (j < n && reason_isspace(text[j]))
        j++;
    out->answer_off = j;
}

void reason_history_text(enum chat_style s, const char *text, size_t n, size_t *off,
                         size_t *len)
{
    const struct reason_markers *mk = reason_markers_of(s);
    struct reason_spans sp;
    reason_spans_of(s, text, n, &sp);
    *off = 0;
    *len = n;
    if (mk && mk->history_drops && sp.has_thinking) {
        *off = sp.answer_off;
        *len = n - sp.answer_off;
    }
}
