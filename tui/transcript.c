/* tui/transcript.c: the chat as wrapped, scrollable lines.
 *
 * The text of each message is kept as it came (raw bytes: model text may hold anything);
 * what is drawn is computed from it and cached per message: a list of display lines, each a
 * byte range, for one width. Model text is drawn through draw_text(), so control bytes, bidi
 * overrides and invalid UTF-8 show as visible escapes and are never sent to the terminal.
 * Widths are those of draw_text (wcwidth; escapes at their printed width), so wide
 * characters take their two columns and a line never overflows.
 *
 * A streaming reply only grows, so its wrap restarts from its last line, not from the top. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "app.h"
#include "conversation.h"
#include "draw.h"
#include "transcript.h"
#include "text_escape.h"

enum { GUTTER = 2, TAB_W = 4 };

void transcript_init(struct transcript *t)
{
    memset(t, 0, sizeof *t);
}

static void message_free(struct message *m)
{
    free(m->text);
    free(m->wl);
    free(m->row_line);
    memset(m, 0, sizeof *m);
}

void transcript_free(struct transcript *t)
{
    for (int i = 0; i < t->n; i++)
        message_free(&t->msg[i]);
    free(t->msg);
    memset(t, 0, sizeof *t);
}

int transcript_add(struct transcript *t, enum msg_role role, const char *text, size_t len)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        struct message *m = realloc(t->msg, (size_t)cap * sizeof *m);
        if (!m)
            return -1;
        t->msg = m;
        t->cap = cap;
    }
    struct message *m = &t->msg[t->n];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->in_chat = role == MSG_USER || role == MSG_ASSISTANT;
    m->rec_first = -1;
    m->text = malloc(len + 1);
    if (!m->text)
        return -1;
    memcpy(m->text, text, len);
    m->text[len] = 0;
    m->len = len;
    return t->n++;
}

int transcript_addf(struct transcript *t, enum msg_role role, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return transcript_add(t, role, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

int transcript_set_text(struct transcript *t, int i, const char *text, size_t len)
{
    if (i < 0 || i >= t->n)
        return -1;
    struct message *m = &t->msg[i];
    /* Keep the wrap cache when the old text is a prefix of the new (streaming). */
    bool grows = len >= m->len && memcmp(m->text, text, m->len) == 0;
    char *p = realloc(m->text, len + 1);
    if (!p)
        return -1;
    memcpy(p, text, len);
    p[len] = 0;
    m->text = p;
    m->len = len;
    if (!grows)
        m->wrap_w = 0;
    return 0;
}

void transcript_truncate(struct transcript *t, int i)
{
    if (i < 0)
        i = 0;
    while (t->n > i)
        message_free(&t->msg[--t->n]);
}

void transcript_clear(struct transcript *t)
{
    transcript_truncate(t, 0);
    t->scroll = 0;
}

void transcript_scroll(struct transcript *t, int delta)
{
    t->scroll += delta;
    if (t->scroll < 0)
        t->scroll = 0;
}

/* ---- wrapping ---- */

size_t text_unit(const char *s, size_t n, bool utf8, int *width)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;
    int l = utf8_decode(u, n, &cp);
    size_t len = l > 0 ? (size_t)l : 1;
    if (utf8 && l > 0 && cp >= 0x80) {
        /* Combining marks (and a ZWJ between pictographs) belong to the character before,
         * as draw_text draws them in one cell group. */
        while (len < n) {
            uint32_t c2;
            int l2 = utf8_decode(u + len, n - len, &c2);
            if (l2 == 0 || c2 < 0x300 || wcwidth((wchar_t)c2) != 0)
                break;
            if (text_cp_is_unsafe(c2) && c2 != 0x200D)
                break;
            len += (size_t)l2;
        }
    }
    *width = draw_text_width(s, len, utf8);
    return len;
}

static int wrap_push(struct message *m, size_t off, size_t end)
{
    if (m->n_wl == m->cap_wl) {
        int cap = m->cap_wl ? m->cap_wl * 2 : 8;
        struct wrap_line *l = realloc(m->wl, (size_t)cap * sizeof *l);
        if (!l)
            return -1;
        m->wl = l;
        m->cap_wl = cap;
    }
    m->wl[m->n_wl].off = (uint32_t)off;
    m->wl[m->n_wl].len = (uint32_t)(end - off);
    m->n_wl++;
    return 0;
}

int transcript_wrap(struct message *m, int w, bool utf8)
{
    if (w < 1)
        w = 1;
    size_t start = 0;
    /* a reply's thinking markers take no columns, and its answer starts a line (harmony's
     * channels have no newline between them) */
    const struct reason_spans *sp = &m->think;
    const size_t ans = sp->has_thinking && sp->answer_off > sp->think_off ? sp->answer_off : 0;
    if (ans != m->wrap_answer)
        m->wrap_w = 0;
    m->wrap_answer = ans;
    if (m->wrap_w == w && m->wrap_len == m->len)
        return 0;
    if (m->wrap_w == w && m->n_wl > 0 && m->len >= m->wrap_len) {
        /* Grown text: re-wrap from the start of the last line. */
        start = m->wl[m->n_wl - 1].off;
        m->n_wl--;
    } else {
        m->n_wl = 0;
    }
    const char *s = m->text;
    size_t n = m->len, line = start, i = start;
    size_t brk = 0;          /* just after the last space on this line, 0 = none */
    int x = 0, brk_x = 0;    /* columns used, and up to brk */
    while (i < n) {
        if (i == ans && i > line) {
            if (wrap_push(m, line, i) < 0)
                return -1;
            line = i;
            brk = 0;
            x = 0;
        }
        if (s[i] == '\n') {
            if (wrap_push(m, line, i) < 0)
                return -1;
            line = ++i;
            brk = 0;
            x = 0;
            continue;
        }
        int cw;
        size_t len;
        if (sp->has_thinking && (i < sp->think_off ||
                                 (i >= sp->think_off + sp->think_len && i < ans))) {
            len = 1;
            cw = 0;
        } else if (s[i] == '\t') {
            len = 1;
            cw = TAB_W - x % TAB_W;
        } else {
            len = text_unit(s + i, n - i, utf8, &cw);
        }
        while (x + cw > w && i > line && s[i] != ' ') {
            /* Break after the last space of the line when there is one (the word moves
             * down whole), else here. Spaces stay at the end of their line, where they are
             * invisible, so no byte is lost. */
            if (brk > line) {
                if (wrap_push(m, line, brk) < 0)
                    return -1;
                line = brk;
                x -= brk_x;
            } else {
                if (wrap_push(m, line, i) < 0)
                    return -1;
                line = i;
                x = 0;
            }
            brk = 0;
        }
        if (s[i] == ' ') {
            brk = i + 1;
            brk_x = x + cw;
        }
        x += cw;
        i += len;
    }
    if (wrap_push(m, line, n) < 0)
        return -1;
    m->wrap_w = w;
    m->wrap_len = m->len;
    return 0;
}

/* ---- drawing ---- */

/* One display line: text with tabs expanded, escapes in their colour, and the bytes
 * [hs, he) of the line (the selected token) in the selection colour. */
static void draw_wrapped(WINDOW *w, int y, int x, int maxw, const char *s, size_t len,
                         attr_t attr, attr_t esc, attr_t hl, size_t hs, size_t he, bool utf8)
{
    int col = 0;
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        bool tab = i < len && s[i] == '\t';
        if (i < len && !tab && i != hs && i != he)
            continue;
        if (i > seg) {
            bool in = seg >= hs && seg < he;
            col += draw_text(w, y, x + col, maxw - col, s + seg, i - seg, in ? hl : attr,
                             in ? hl : esc, utf8);
        }
        if (tab) {
            int t = TAB_W - col % TAB_W;
            bool in = i >= hs && i < he;
            draw_blank(w, y, x + col, t < maxw - col ? t : maxw - col, in ? hl : attr);
            col += t;
            seg = i + 1;
        } else {
            seg = i;
        }
    }
}

/* Where the selected record's bytes are in a reply's text: [*off, *off + *len), or false
 * when the selection is not one of its tokens. */
static bool message_token_range(const struct app *a, const struct message *m, size_t *off,
                                size_t *len)
{
    if (a->sel < 0 || m->role != MSG_ASSISTANT || m->rec_first < 0)
        return false;
    const struct trace_log *log = &a->log;
    size_t sel = (size_t)a->sel, first = (size_t)m->rec_first;
    size_t end = m->streaming ? log->n : m->rec_end;
    if (sel >= log->n || sel < first || sel >= end || !log->tok[sel].sampled)
        return false;
    size_t o = 0;
    for (size_t i = first; i < sel; i++)
        o += log->tok[i].piece_len;
    size_t l = log->tok[sel].piece_len;
    if (o + l > m->len || memcmp(m->text + o, trace_piece(log, sel), l) != 0)
        return false;   /* e.g. the end-of-turn token, which is not in the text */
    *off = o;
    *len = l;
    return true;
}

/* ---- a reply's thinking: its block of rows ---- */

/* Display line [o, o + len) shows bytes of [a, b) (an empty line: when it stands in it). */
static bool line_meets(const struct wrap_line *l, size_t a, size_t b)
{
    return l->len ? l->off < b && l->off + l->len > a : l->off >= a && l->off < b;
}

/* Works out m's thinking block for this draw (its spans worked out before the wrap): the
 * fold, and which wrap line each
 * row shows (the head first; lines of markers only, and of a folded thinking, left out).
 * Without thinking, rows are the wrap lines. Returns 0 or -1. */
static int message_think_rows(const struct app *a, struct message *m)
{
    m->n_rows = m->n_wl;
    if (!m->think.has_thinking)
        return 0;
    const struct reason_spans *sp = &m->think;
    m->think_folded = sp->closed && !a->thinking_unfolded;
    if (m->cap_rows < m->n_wl + 1) {
        int *r = realloc(m->row_line, (size_t)(m->n_wl + 1) * sizeof *r);
        if (!r)
            return -1;
        m->row_line = r;
        m->cap_rows = m->n_wl + 1;
    }
    m->n_rows = 0;
    m->row_line[m->n_rows++] = -1;
    for (int i = 0; i < m->n_wl; i++)
        if ((!m->think_folded &&
             line_meets(&m->wl[i], sp->think_off, sp->think_off + sp->think_len)) ||
            line_meets(&m->wl[i], sp->answer_off, m->len))
            m->row_line[m->n_rows++] = i;
    return 0;
}

static int message_row_line(const struct message *m, int row)
{
    return m->think.has_thinking ? m->row_line[row] : row;
}

/* The head of a thinking block: what it cost, and the key that folds it. */
static void message_draw_think_head(const struct app *a, const struct message *m, WINDOW *w,
                                    int y, int wd)
{
    size_t n = 0;
    uint64_t ns = 0;
    size_t end = m->streaming ? a->log.n : (m->rec_end < a->log.n ? m->rec_end : a->log.n);
    for (size_t i = m->rec_first >= 0 ? (size_t)m->rec_first : end; i < end; i++)
        if (a->log.tok[i].thinking) {
            n++;
            ns += a->log.tok[i].ns_total;
        }
    char cost[64] = "";
    if (n)
        snprintf(cost, sizeof cost, ", %zu tokens, %.1f s", n, (double)ns / 1e9);
    draw_printf(w, y, GUTTER, wd - GUTTER, draw_attr(&a->theme, THEME_DIM), "%s %s%s  (F3 %s)",
                m->think_folded ? DRAW_GLYPH(a->utf8, "\u25b8", ">")
                                : DRAW_GLYPH(a->utf8, "\u25be", "v"),
                m->think.closed ? "thought" : "thinking", cost,
                m->think_folded ? "shows it" : "folds it");
}

static int message_rows(const struct message *m)
{
    return m->n_rows + (m->meta[0] ? 1 : 0) + 1;   /* + the blank line after it */
}

/* One wrap line of m: with thinking, its thinking bytes dimmed and its answer bytes as
 * they are, the markers between left out. Returns the columns used. */
static int message_draw_line(const struct app *a, const struct message *m,
                             const struct wrap_line *l, WINDOW *w, int y, int wd, attr_t attr,
                             attr_t esc, size_t hs, size_t he)
{
    struct text_part { size_t a, b; attr_t attr; } part[2] = {
        { l->off, l->off + l->len, attr },
    };
    int n_parts = 1;
    if (m->think.has_thinking) {
        const struct reason_spans *sp = &m->think;
        n_parts = 0;
        if (!m->think_folded)
            part[n_parts++] = (struct text_part){ sp->think_off, sp->think_off + sp->think_len,
                                                  draw_attr(&a->theme, THEME_DIM) };
        part[n_parts++] = (struct text_part){ sp->answer_off, m->len, attr };
    }
    int col = 0;
    for (int k = 0; k < n_parts; k++) {
        size_t s = part[k].a > l->off ? part[k].a : l->off;
        size_t e = part[k].b < l->off + l->len ? part[k].b : l->off + l->len;
        if (s >= e)
            continue;
        /* The selection's bytes relative to this piece (none when it is elsewhere). */
        size_t ls = hs > s ? hs - s : 0, le = he > s ? he - s : 0;
        if (he <= s || hs >= e)
            ls = le = (size_t)-1;
        draw_wrapped(w, y, GUTTER + col, wd - GUTTER - col, m->text + s, e - s, part[k].attr,
                     esc, draw_attr(&a->theme, THEME_SELECTION), ls, le, a->utf8);
        col += draw_text_width(m->text + s, e - s, a->utf8);
    }
    return col;
}

static void message_draw_row(const struct app *a, const struct message *m, int row, WINDOW *w,
                             int y, int wd, size_t hs, size_t he)
{
    const struct theme *th = &a->theme;
    enum theme_role role = m->role == MSG_USER        ? THEME_USER
                           : m->role == MSG_ASSISTANT ? THEME_ASSISTANT
                           : m->role == MSG_ERROR     ? THEME_ERROR
                                                      : THEME_DIM;
    attr_t attr = draw_attr(th, role);
    attr_t esc = draw_attr(th, THEME_ESCAPE);
    if (row < m->n_rows) {
        if (row == 0) {
            const char *mark = m->role == MSG_USER        ? DRAW_GLYPH(a->utf8, "\u203a", ">")
                               : m->role == MSG_ASSISTANT ? DRAW_GLYPH(a->utf8, "\u25cf", "*")
                               : m->role == MSG_ERROR     ? "!"
                                                          : DRAW_GLYPH(a->utf8, "\u00b7", "-");
            attr_t ma = m->role == MSG_ASSISTANT ? draw_attr(th, THEME_TITLE) : attr;
            draw_printf(w, y, 0, GUTTER, ma, "%s", mark);
        }
        int li = message_row_line(m, row);
        if (li < 0) {
            message_draw_think_head(a, m, w, y, wd);
            return;
        }
        const struct wrap_line *l = &m->wl[li];
        int used = message_draw_line(a, m, l, w, y, wd, attr, esc, hs, he);
        if (m->streaming && row == m->n_rows - 1) {
            draw_printf(w, y, GUTTER + used, wd - GUTTER - used, draw_attr(th, THEME_KEY), "%s",
                        DRAW_GLYPH(a->utf8, "\u258d", "_"));
        }
    } else if (row == m->n_rows && m->meta[0]) {
        draw_printf(w, y, GUTTER, wd - GUTTER, draw_attr(th, THEME_DIM), "%s", m->meta);
    }
}

void transcript_draw(const struct app *a, struct transcript *t, WINDOW *w)
{
    int h, wd;
    getmaxyx(w, h, wd);
    werase(w);
    t->last_h = h;
    int total = 0;
    enum chat_style st = conversation_style(a);
    for (int i = 0; i < t->n; i++) {
        struct message *m = &t->msg[i];
        memset(&m->think, 0, sizeof m->think);
        if (m->role == MSG_ASSISTANT)
            reason_spans_of(st, m->text, m->len, &m->think);
        transcript_wrap(m, wd - GUTTER, a->utf8);
        if (message_think_rows(a, m) < 0) { /* out of memory: drawn whole */
            t->msg[i].think.has_thinking = false;
            t->msg[i].n_rows = t->msg[i].n_wl;
        }
        total += message_rows(&t->msg[i]);
    }
    if (total > 0)
        total--;   /* no blank line after the last message */
    /* The selected token: which message, which bytes, which line of the whole. */
    int hl_msg = -1, hl_line = -1;
    size_t hs = 0, hlen = 0;
    for (int i = 0, line = 0; i < t->n; line += message_rows(&t->msg[i]), i++) {
        const struct message *m = &t->msg[i];
        if (!message_token_range(a, m, &hs, &hlen))
            continue;
        hl_msg = i;
        for (int r = 0; r < m->n_rows; r++) {
            int li = message_row_line(m, r);
            if (li >= 0 && hs >= m->wl[li].off && hs < m->wl[li].off + m->wl[li].len) {
                hl_line = line + r;
                break;
            }
        }
        break;
    }
    int max_scroll = total > h ? total - h : 0;
    if (t->reveal && hl_line >= 0) {
        /* Bring it into view, a few lines from the edge, moving as little as possible. */
        int first_shown = total > h ? total - h - t->scroll : 0;
        if (hl_line < first_shown || hl_line >= first_shown + h) {
            int want_first = hl_line - h / 3;
            t->scroll = total - h - want_first;
        }
    }
    t->reveal = false;
    if (t->scroll > max_scroll)
        t->scroll = max_scroll;
    if (t->scroll < 0)
        t->scroll = 0;
    int first = total > h ? total - h - t->scroll : 0;   /* first line shown */
    int line = 0;
    for (int i = 0; i < t->n && line < first + h; i++) {
        const struct message *m = &t->msg[i];
        int rows = message_rows(m);
        if (line + rows <= first) {
            line += rows;
            continue;
        }
        size_t ms = i == hl_msg ? hs : (size_t)-1, me = i == hl_msg ? hs + hlen : (size_t)-1;
        for (int r = 0; r < rows && line < first + h; r++, line++)
            if (line >= first)
                message_draw_row(a, m, r, w, line - first, wd, ms, me);
    }
    if (t->scroll > 0) {
        /* Where the reader is, and how to get back down. */
        attr_t sa = draw_attr(&a->theme, THEME_STATUS);
        char buf[96];
        int n = snprintf(buf, sizeof buf, " %s %d more lines  End: back down ",
                         DRAW_GLYPH(a->utf8, "\u2193", "v"), t->scroll);
        int x = wd - (n > 0 ? draw_text_width(buf, (size_t)n, a->utf8) : 0);
        draw_printf(w, h - 1, x > 0 ? x : 0, wd, sa, "%s", buf);
    }
}
