/* tui/keys.c: the keys as one table (key, focus, handler, help words), as htop binds
 * them. keys_read() turns what curses gives into the table's spelling (Esc sequences into
 * Alt keys, Ctrl-Left's terminal-made code into KEYS_CTRL_LEFT); keys_dispatch() gives the
 * key to the keys screen when it is open (help_key), else to the first row that matches
 * the pane with focus, else to the input line. Handlers return the dirty bits they cause.
 * Keys are read through a 1x1 window that is never drawn, so reading a key never
 * refreshes anything by accident.
 *
 * Choices where the design is silent:
 * - Tab completes a line that starts with '/', and otherwise moves focus: a chat prompt
 *   rarely needs a literal tab, and both uses stay on the key people try first.
 * - `?` opens the keys only on an empty input line (or in the inspector), so a question
 *   mark can still begin a message. F1 always works.
 * - The mouse is not captured: the terminal's own selection keeps working for copying text. */
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "app.h"
#include "app_session.h"
#include "commands_slash.h"
#include "conversation.h"
#include "help.h"
#include "input.h"
#include "keys.h"

/* ---- what keys do ---- */

static unsigned key_focus_set(struct app *a, enum focus f)
{
    a->focus = f;
    /* In a cramped terminal the pane with focus is the one shown. */
    a->inspector_alone = f == FOCUS_INSPECTOR;
    if (f == FOCUS_INSPECTOR)
        a->inspector_on = true;
    return DIRTY_ALL;
}

static void keys_line(struct app *a, const char *line)
{
    if (!line)
        return;
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (!*p)
        return;
    if (p[0] == '/')
        slash_run(a, p);
    else
        conversation_say(a, line);
}

/* The result of feeding readline, turned into state changes. */
static unsigned keys_input_result(struct app *a, enum input_result r)
{
    if (r == INPUT_EOF) {
        a->quit = true;
        return 0;
    }
    if (r == INPUT_LINE)
        keys_line(a, input_take_line(a->in));
    const char *note = input_take_note(a->in);
    if (note[0])
        app_message(a, false, "%s", note);
    return DIRTY_INPUT;   /* (the frame notices when the input needs more rows) */
}

/* Bytes for readline, as a terminal would send them; the input line takes focus. */
static unsigned keys_feed(struct app *a, const char *b, size_t n)
{
    if (!a->in)
        return 0;
    unsigned d = a->focus != FOCUS_INPUT ? key_focus_set(a, FOCUS_INPUT) : 0;
    return d | keys_input_result(a, input_feed(a->in, b, n));
}

static bool keys_input_empty(const struct app *a)
{
    size_t n = 0;
    if (a->in)
        input_text(a->in, &n);
    return n == 0;
}

static unsigned key_help(struct app *a, int key)
{
    (void)key;
    a->help.open = true;
    a->help.scroll = 0;
    return DIRTY_ALL;
}

/* ? opens the keys in the inspector and on an empty line; else it is typed. */
static unsigned key_question(struct app *a, int key)
{
    if (a->focus == FOCUS_INSPECTOR || keys_input_empty(a))
        return key_help(a, key);
    return keys_feed(a, "?", 1);
}

/* A character typed: for readline (from the inspector, focus moves to the input). */
static unsigned key_type(struct app *a, int key)
{
    char mb[8];
    bool control = key < ' ' || key == 0x7f;
    if (key & (KEYS_CODE | KEYS_ALT) || (a->focus == FOCUS_INSPECTOR && control))
        return 0;
    if (key == 0x7f || key == 8)
        return keys_feed(a, "\177", 1);
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t k = wcrtomb(mb, (wchar_t)key, &ps);
    return k == (size_t)-1 ? 0 : keys_feed(a, mb, k);
}

/* Cursor keys in the input line: readline's own sequences. */
static unsigned key_input_seq(struct app *a, int key)
{
    const char *seq = key == (KEYS_CODE | KEY_LEFT)    ? "\033[D"
                      : key == (KEYS_CODE | KEY_RIGHT) ? "\033[C"
                      : key == (KEYS_CODE | KEY_UP)    ? "\033[A"
                      : key == (KEYS_CODE | KEY_DOWN)  ? "\033[B"
                                                       : "\177";
    return keys_feed(a, seq, strlen(seq));
}

static unsigned key_input_edit(struct app *a, int key)
{
    if (!a->in)
        return 0;
    enum input_edit op = key == (KEYS_CODE | KEY_HOME) ? INPUT_EDIT_HOME
                         : key == (KEYS_CODE | KEY_END) ? INPUT_EDIT_END
                         : key == (KEYS_CODE | KEY_DC)  ? INPUT_EDIT_DELETE
                         : key == KEYS_CTRL_LEFT        ? INPUT_EDIT_WORD_LEFT
                                                        : INPUT_EDIT_WORD_RIGHT;
    return keys_input_result(a, input_edit(a->in, op));
}

/* End on an empty line: back to the newest text; else the end of the line. */
static unsigned key_input_end(struct app *a, int key)
{
    if (!keys_input_empty(a))
        return key_input_edit(a, key);
    a->tr.scroll = 0;
    return DIRTY_TRANSCRIPT;
}

static unsigned key_newline(struct app *a, int key)
{
    (void)key;
    if (!a->in)
        return 0;
    unsigned d = a->focus != FOCUS_INPUT ? key_focus_set(a, FOCUS_INPUT) : 0;
    return d | keys_input_result(a, input_insert(a->in, "\n", 1));
}

/* Enter: a message that cannot be sent now stays in the input line. */
static unsigned key_send(struct app *a, int key)
{
    (void)key;
    if (!a->in)
        return 0;
    size_t n;
    const char *t = input_text(a->in, &n);
    size_t i = 0;
    while (i < n && (t[i] == ' ' || t[i] == '\n'))
        i++;
    bool command = i < n && t[i] == '/';
    if (!command && i < n) {
        if (a->replay) {
            app_message(a, true, "replay is read-only: there is no model to answer");
            return 0;
        }
        if (app_busy(a)) {
            app_message(a, true, "a reply is being written: Esc stops it, then send");
            return 0;
        }
        if (!a->model_ready) {
            app_message(a, true, a->ws.state == WORKER_FAILED ? "no model is open"
                                                              : "the model is still loading");
            return 0;
        }
    }
    return keys_feed(a, "\r", 1);
}

static unsigned key_tab(struct app *a, int key)
{
    (void)key;
    if (a->focus == FOCUS_INPUT && a->in) {
        size_t n;
        const char *t = input_text(a->in, &n);
        if (n > 0 && t[0] == '/')
            return keys_feed(a, "\t", 1);   /* complete the command */
    }
    return key_focus_set(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
}

static unsigned key_focus_input(struct app *a, int key)
{
    (void)key;
    return key_focus_set(a, FOCUS_INPUT);
}

static unsigned key_focus_swap(struct app *a, int key)
{
    (void)key;
    return key_focus_set(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
}

/* A lone Esc: stop the reply; else leave the inspector; else vi's command mode. */
static unsigned key_escape(struct app *a, int key)
{
    if (app_busy(a)) {
        worker_request_stop(a->worker);
        app_message(a, false, "stopping the reply");
        return 0;
    }
    if (a->focus == FOCUS_INSPECTOR)
        return key_focus_set(a, FOCUS_INPUT);
    if (a->in && input_vi_mode(a->in))
        return keys_feed(a, "\033", 1);
    (void)key;
    return 0;
}

static unsigned key_ctrl_c(struct app *a, int key)
{
    (void)key;
    if (++a->ctrl_c >= 2) {
        a->quit = true;
        return 0;
    }
    if (app_busy(a))
        worker_request_stop(a->worker);
    else if (a->in && !keys_input_empty(a))
        input_clear(a->in);
    app_message(a, false, "%sCtrl-C again quits", app_busy(a) ? "stopping the reply; " : "");
    return DIRTY_INPUT;
}

static unsigned key_redraw(struct app *a, int key)
{
    (void)a;
    if (key == KEYS_CTRL('L'))
        clearok(curscr, TRUE);
    return DIRTY_ALL;
}

static unsigned key_save(struct app *a, int key)
{
    (void)key;
    app_session_save(a, NULL, true);
    return 0;
}

static unsigned key_suspend(struct app *a, int key)
{
    (void)a;
    (void)key;
    app_suspend();
    return DIRTY_ALL;
}

static unsigned key_scroll(struct app *a, int key)
{
    int page = a->tr.last_h > 3 ? a->tr.last_h - 2 : 1;
    int delta = key == (KEYS_CODE | KEY_PPAGE)   ? page
                : key == (KEYS_CODE | KEY_NPAGE) ? -page
                : key == (KEYS_CODE | KEY_SR)    ? 1
                                                 : -1;
    transcript_scroll(&a->tr, delta);
    return DIRTY_TRANSCRIPT;
}

static unsigned key_inspector_toggle(struct app *a, int key)
{
    (void)key;
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (layout_cramped(rows, cols, 1)) {
        a->inspector_on = true;
        a->inspector_alone = !a->inspector_alone;
        a->focus = a->inspector_alone ? FOCUS_INSPECTOR : FOCUS_INPUT;
    } else {
        a->inspector_on = !a->inspector_on;
        if (!a->inspector_on)
            a->focus = FOCUS_INPUT;
    }
    return DIRTY_ALL;
}

/* Left / Right: the previous or next record; past the newest: follow it again. */
static unsigned key_select(struct app *a, int key)
{
    long n = (long)a->log.n;
    if (n == 0)
        return 0;
    long delta = key == (KEYS_CODE | KEY_LEFT) ? -1 : 1;
    long cur = a->sel < 0 || a->sel >= n ? n - 1 : a->sel;
    long next = cur + delta;
    if (next < 0)
        next = 0;
    if (next >= n - 1 && delta > 0)
        next = -1;
    a->sel = next;
    a->tr.reveal = true;
    return DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
}

/* Home: the first record; End: follow the newest (and the chat follows it too). */
static unsigned key_select_end(struct app *a, int key)
{
    if (key == (KEYS_CODE | KEY_HOME)) {
        a->sel = 0;
    } else {
        a->sel = -1;
        a->tr.scroll = 0;
    }
    return DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
}

static unsigned key_layer(struct app *a, int key)
{
    int nl = a->log.n_layers;
    if (nl <= 0)
        return 0;
    int delta = key == '[' || key == (KEYS_CODE | KEY_UP) ? -1 : 1;
    int l = a->vctx.layer + delta;
    a->vctx.layer = l < 0 ? 0 : l >= nl ? nl - 1 : l;
    return DIRTY_INSPECTOR;
}

/* The view a key shows (Alt or not), or -1. */
static int keys_view_of(int key)
{
    for (int v = 0; v < VIEW_COUNT; v++)
        if (view_table[v].key == (key & ~KEYS_ALT))
            return v;
    return -1;
}

/* 0..8 (Alt-0..8 from anywhere): a view. */
static unsigned key_view(struct app *a, int key)
{
    int v = keys_view_of(key);
    if (v < 0)
        return 0;
    a->view = (enum view_id)v;
    a->inspector_on = true;
    return DIRTY_INSPECTOR;
}

static unsigned key_heat(struct app *a, int key)
{
    (void)key;
    a->vctx.heat = (enum heat_mode)((a->vctx.heat + 1) % HEAT_MODE_COUNT);
    return DIRTY_INSPECTOR;
}

static unsigned key_entropy(struct app *a, int key)
{
    (void)key;
    a->vctx.entropy = (enum entropy_mode)((a->vctx.entropy + 1) % ENTROPY_MODE_COUNT);
    return DIRTY_INSPECTOR;
}

/* F3: a reasoning model's thinking, every reply's, folded to its head line or shown whole. */
static unsigned key_thinking(struct app *a, int key)
{
    (void)key;
    a->thinking_unfolded = !a->thinking_unfolded;
    return DIRTY_TRANSCRIPT;
}

/* ---- the table ---- */

#define C(k) (KEYS_CODE | (k))
#define IN KEYS_INPUT
#define INS KEYS_INSPECTOR
#define ANY KEYS_ANYWHERE
#define VIEW_KEY(d) { '0' + (d), INS, key_view, #d, NULL }
#define ALT_VIEW_KEY(d) { KEYS_ALT | ('0' + (d)), ANY, key_view, NULL, NULL }

/* In the order of the keys screen. */
const struct key_binding key_table[] = {
    { '\r', IN, key_send, "Enter", "send the message (or run a /command)" },
    { '\n', IN, key_send, NULL, NULL },
    { C(KEY_ENTER), IN, key_send, NULL, NULL },
    { KEYS_ALT | '\r', ANY, key_newline, "Alt-Enter", "new line in the message" },
    { KEYS_ALT | '\n', ANY, key_newline, NULL, NULL },
    { '\t', ANY, key_tab, "Tab", "complete a /command, else go to the inspector" },
    { C(KEY_UP), IN, key_input_seq, "Up", "history ($XDG_STATE_HOME/moescope/history)" },
    { C(KEY_DOWN), IN, key_input_seq, "Down", "history ($XDG_STATE_HOME/moescope/history)" },
    { KEYS_CTRL('R'), IN, key_type, "Ctrl-R", "search history; every ~/.inputrc key works" },
    { C(KEY_LEFT), IN, key_input_seq, "Left", "move in the line" },
    { C(KEY_RIGHT), IN, key_input_seq, "Right", "move in the line" },
    { KEYS_CTRL_LEFT, IN, key_input_edit, "Ctrl-Left", "a word left / right" },
    { KEYS_CTRL_RIGHT, IN, key_input_edit, "Ctrl-Right", "a word left / right" },
    { C(KEY_HOME), IN, key_input_edit, "Home", "start of the line" },
    { C(KEY_END), IN, key_input_end, "End", "end of the line; on an empty one, the newest text" },
    { C(KEY_DC), IN, key_input_edit, "Delete", "delete the character under the cursor" },
    { C(KEY_BACKSPACE), IN, key_input_seq, "Backspace", "delete the character before it" },
    { KEYS_ESC, ANY, key_escape, "Esc", "stop the reply (idle, vi mode: command mode)" },
    { KEYS_CTRL('C'), ANY, key_ctrl_c, "Ctrl-C", "stop the reply / clear the line; twice: quit" },
    { KEYS_CTRL('D'), IN, key_type, "Ctrl-D", "quit, on an empty line" },
    { KEYS_CTRL('L'), ANY, key_redraw, "Ctrl-L", "redraw the screen" },
    { KEYS_CTRL('S'), ANY, key_save, "Ctrl-S", "save the session (/save)" },
    { KEYS_CTRL('Z'), ANY, key_suspend, "Ctrl-Z", "suspend to the shell (fg comes back)" },
    { C(KEY_PPAGE), ANY, key_scroll, "PgUp", "scroll the conversation a page" },
    { C(KEY_NPAGE), ANY, key_scroll, "PgDn", "scroll the conversation a page" },
    { C(KEY_SR), ANY, key_scroll, "Shift-Up", "scroll the conversation a line" },
    { C(KEY_SF), ANY, key_scroll, "Shift-Down", "scroll the conversation a line" },
    { C(KEY_F(1)), ANY, key_help, "F1", "this screen" },
    { '?', ANY, key_question, "?", "this screen (in the input: on an empty line)" },
    { C(KEY_F(2)), ANY, key_inspector_toggle, "F2", "inspector on/off (small screens: swap panes)" },
    { C(KEY_F(3)), ANY, key_thinking, "F3", "a reasoning model's thinking: folded / shown whole" },
    { C(KEY_BTAB), ANY, key_focus_swap, "Shift-Tab", "focus to the other pane" },
    { C(KEY_RESIZE), ANY, key_redraw, NULL, NULL },
    { '\r', INS, key_focus_input, "Enter", "back to the input line" },
    { '\n', INS, key_focus_input, NULL, NULL },
    { C(KEY_ENTER), INS, key_focus_input, NULL, NULL },
    { 'q', INS, key_focus_input, "q", "back to the input line" },
    { C(KEY_LEFT), INS, key_select, "Left", "select the previous / next token" },
    { C(KEY_RIGHT), INS, key_select, "Right", "select the previous / next token" },
    { C(KEY_HOME), INS, key_select_end, "Home", "first token / follow the newest" },
    { C(KEY_END), INS, key_select_end, "End", "first token / follow the newest" },
    { C(KEY_UP), INS, key_layer, "Up", "choose the layer (strip, entropy)" },
    { C(KEY_DOWN), INS, key_layer, "Down", "choose the layer (strip, entropy)" },
    { '[', INS, key_layer, "[", "choose the layer (strip, entropy)" },
    { ']', INS, key_layer, "]", "choose the layer (strip, entropy)" },
    VIEW_KEY(0), VIEW_KEY(1), VIEW_KEY(2), VIEW_KEY(3),
    VIEW_KEY(4), VIEW_KEY(5), VIEW_KEY(6), VIEW_KEY(7), VIEW_KEY(8),
    { KEYS_ALT | '0', ANY, key_view, "Alt-0 .. Alt-8", "the same views from the input line" },
    ALT_VIEW_KEY(1), ALT_VIEW_KEY(2), ALT_VIEW_KEY(3),
    ALT_VIEW_KEY(4), ALT_VIEW_KEY(5), ALT_VIEW_KEY(6), ALT_VIEW_KEY(7), ALT_VIEW_KEY(8),
    { 'h', INS, key_heat, "h", "heatmap: selected token / session / last 64" },
    { 'e', INS, key_entropy, "e", "entropy: mean over layers / the chosen layer" },
};
const size_t key_table_count = sizeof key_table / sizeof key_table[0];
_Static_assert(VIEW_COUNT == 9, "a view without its key rows (VIEW_KEY, ALT_VIEW_KEY)");

const char *keys_what(const struct key_binding *k)
{
    if (k->what)
        return k->what;
    int v = k->run == key_view ? keys_view_of(k->key) : -1;
    return v >= 0 ? view_table[v].help : "";
}

unsigned keys_dispatch(struct app *a, int key)
{
    if (key != KEYS_CTRL('C'))
        a->ctrl_c = 0;
    if (a->picker.open) {
        unsigned d = picker_key(a, key);
        if (!(d & KEYS_PASS))
            return d;
    }
    if (a->help.open) {
        unsigned d = help_key(a, key);
        if (!(d & KEYS_PASS))
            return d;
    }
    unsigned where = a->focus == FOCUS_INSPECTOR ? KEYS_INSPECTOR : KEYS_INPUT;
    for (size_t i = 0; i < key_table_count; i++)
        if (key_table[i].key == key && (key_table[i].focus & where))
            return key_table[i].run(a, key);
    return key_type(a, key);
}

/* ---- reading keys ---- */

/* Reads the rest of an escape sequence that arrived with ESC (Alt-x, CSI ...). */
static size_t keys_escape_tail(struct app *a, char *seq, size_t cap)
{
    size_t n = 0;
    wint_t c;
    int r = input_read_key(a->win.keys, &c);
    if (r == ERR)
        return 0;
    if (r == KEY_CODE_YES) {
        ungetch((int)c);   /* Esc, then a key curses knew: take them one at a time */
        return 0;
    }
    if (c > 0x7f) {
        /* Alt and a non-ASCII character: readline's to interpret. */
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        char mb[8];
        size_t k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k == (size_t)-1 || k >= cap)
            return 0;
        memcpy(seq, mb, k);
        return k;
    }
    seq[n++] = (char)c;
    if (c != '[' && c != 'O')
        return n;
    /* CSI or SS3: parameters and intermediates, then one final byte 0x40..0x7e. */
    while (n + 1 < cap) {
        r = input_read_key(a->win.keys, &c);
        if (r != OK || c > 0x7f)
            break;
        seq[n++] = (char)c;
        if (c >= 0x40 && c <= 0x7e)
            break;
    }
    return n;
}

/* Whether the table binds Alt and this character. */
static bool keys_alt_bound(int c)
{
    for (size_t i = 0; i < key_table_count; i++)
        if (key_table[i].key == (KEYS_ALT | c))
            return true;
    return false;
}

/* Esc and what came with it: a lone Esc, a paste's start, an Alt key of the table, or a
 * sequence for readline (Alt-b, Alt-f, Alt-., sequences curses did not know). */
static unsigned keys_escape(struct app *a)
{
    char seq[32];
    size_t n = keys_escape_tail(a, seq, sizeof seq);
    if (n == 0)
        return keys_dispatch(a, KEYS_ESC);
    if (n == 5 && !memcmp(seq, "[200~", 5)) {
        if (a->in)
            input_paste_begin(a->in);
        return 0;
    }
    if (n == 1 && keys_alt_bound((unsigned char)seq[0]))
        return keys_dispatch(a, KEYS_ALT | (unsigned char)seq[0]);
    char buf[40];
    buf[0] = '\033';
    memcpy(buf + 1, seq, n);
    return keys_feed(a, buf, n + 1);
}

/* A key curses decoded, in the table's spelling. */
static int keys_code(wint_t k)
{
    const char *name = keyname((int)k);
    if (name && !strcmp(name, "kLFT5"))
        return KEYS_CTRL_LEFT;
    if (name && !strcmp(name, "kRIT5"))
        return KEYS_CTRL_RIGHT;
    return KEYS_CODE | (int)k;
}

void keys_read(struct app *a)
{
    wint_t c;
    int r;
    if (a->in && input_paste_expire(a->in) != INPUT_NONE)
        a->dirty |= DIRTY_INPUT;
    while ((r = input_read_key(a->win.keys, &c)) != ERR) {
        a->idle_wakeups = 0;
        if (a->in && input_in_paste(a->in)) {
            /* Inside a bracketed paste every key is text, until ESC [201~. */
            char mb[8];
            size_t k = 0;
            if (r == KEY_CODE_YES) {
                if (c == KEY_ENTER)
                    mb[k++] = '\n';
            } else {
                mbstate_t ps;
                memset(&ps, 0, sizeof ps);
                k = wcrtomb(mb, (wchar_t)c, &ps);
                if (k == (size_t)-1)
                    k = 0;
            }
            if (k > 0 && input_paste_bytes(a->in, mb, k) != INPUT_NONE)
                a->dirty |= DIRTY_INPUT |
                            (a->focus != FOCUS_INPUT ? key_focus_set(a, FOCUS_INPUT) : 0);
            continue;
        }
        if (a->msg[0] && a->msg_until == 0) {
            a->msg[0] = 0;
            a->dirty |= DIRTY_HINTS;
        }
        if (r == KEY_CODE_YES)
            a->dirty |= keys_dispatch(a, keys_code(c));
        else if (c == KEYS_ESC)
            a->dirty |= keys_escape(a);
        else
            a->dirty |= keys_dispatch(a, (int)c);
        if (a->quit)
            return;
    }
}
