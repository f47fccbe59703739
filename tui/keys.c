/* tui/keys.c: keys -> handlers. Keys are read through a 1x1 window that is never drawn,
 * so reading a key never refreshes anything by accident.
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
#include "input.h"
#include "keys.h"

static void app_focus(struct app *a, enum focus f)
{
    a->focus = f;
    /* In a cramped terminal the pane with focus is the one shown. */
    a->inspector_alone = f == FOCUS_INSPECTOR;
    if (f == FOCUS_INSPECTOR)
        a->inspector_on = true;
    a->dirty |= DIRTY_ALL;
}

static void app_select(struct app *a, long delta)
{
    long n = (long)a->log.n;
    if (n == 0)
        return;
    long cur = a->sel < 0 || a->sel >= n ? n - 1 : a->sel;
    long next = cur + delta;
    if (next < 0)
        next = 0;
    if (next >= n - 1 && delta > 0)
        next = -1;   /* past the newest: follow it again */
    a->sel = next;
    a->tr.reveal = true;
    a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
}

static void app_layer(struct app *a, int delta)
{
    int nl = a->log.n_layers;
    if (nl <= 0)
        return;
    int l = a->vctx.layer + delta;
    a->vctx.layer = l < 0 ? 0 : l >= nl ? nl - 1 : l;
    a->dirty |= DIRTY_INSPECTOR;
}

static void app_view(struct app *a, int v)
{
    if (v < 0 || v >= VIEW_COUNT)
        return;
    a->view = (enum view_id)v;
    if (!a->inspector_on)
        a->inspector_on = true;
    a->dirty |= DIRTY_INSPECTOR;
}

static void app_stop(struct app *a)
{
    if (app_busy(a)) {
        worker_request_stop(a->worker);
        app_message(a, false, "stopping the reply");
    }
}

static void app_toggle_inspector(struct app *a)
{
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
    a->dirty |= DIRTY_ALL;
}

static void app_line(struct app *a, const char *line)
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
static void app_input_result(struct app *a, enum input_result r)
{
    if (r == INPUT_EOF) {
        a->quit = true;
        return;
    }
    if (r == INPUT_LINE)
        app_line(a, input_take_line(a->in));
    const char *note = input_take_note(a->in);
    if (note[0])
        app_message(a, false, "%s", note);
    a->dirty |= DIRTY_INPUT;   /* (app_layout notices when the input needs more rows) */
}

static void app_feed_bytes(struct app *a, const char *b, size_t n)
{
    if (a->focus != FOCUS_INPUT)
        app_focus(a, FOCUS_INPUT);
    app_input_result(a, input_feed(a->in, b, n));
}

static bool input_empty(const struct app *a)
{
    size_t n = 0;
    input_text(a->in, &n);
    return n == 0;
}

/* Reads the rest of an escape sequence that arrived with ESC (Alt-x, CSI ...). */
static size_t read_escape_tail(struct app *a, char *seq, size_t cap)
{
    size_t n = 0;
    wint_t c;
    int r = wget_wch(a->win.keys, &c);
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
        r = wget_wch(a->win.keys, &c);
        if (r != OK || c > 0x7f)
            break;
        seq[n++] = (char)c;
        if (c >= 0x40 && c <= 0x7e)
            break;
    }
    return n;
}

static void app_key_escape(struct app *a)
{
    char seq[32];
    size_t n = read_escape_tail(a, seq, sizeof seq);
    if (n == 0) {
        /* A lone Esc. */
        if (a->help.open) {
            a->help.open = false;
            a->dirty |= DIRTY_ALL;
        } else if (app_busy(a)) {
            app_stop(a);
        } else if (a->focus == FOCUS_INSPECTOR) {
            app_focus(a, FOCUS_INPUT);
        } else if (a->in && input_vi_mode(a->in)) {
            app_feed_bytes(a, "\033", 1);   /* vi users: Esc is command mode */
        }
        return;
    }
    if (n == 5 && !memcmp(seq, "[200~", 5)) {
        input_paste_begin(a->in);
        return;
    }
    if (n == 1 && (seq[0] == '\r' || seq[0] == '\n')) {
        if (a->focus != FOCUS_INPUT)
            app_focus(a, FOCUS_INPUT);
        app_input_result(a, input_insert(a->in, "\n", 1));   /* Alt-Enter */
        return;
    }
    if (n == 1 && seq[0] >= '0' && seq[0] < '0' + VIEW_COUNT) {
        app_view(a, seq[0] - '0');   /* Alt-digit: a view from anywhere */
        return;
    }
    /* Anything else is readline's: Alt-b, Alt-f, Alt-., sequences curses did not know. */
    char buf[40];
    buf[0] = '\033';
    memcpy(buf + 1, seq, n);
    app_feed_bytes(a, buf, n + 1);
}

static void app_key_inspector(struct app *a, wint_t c)
{
    if (c >= '0' && c < '0' + VIEW_COUNT) {
        app_view(a, (int)(c - '0'));
    } else if (c == '[') {
        app_layer(a, -1);
    } else if (c == ']') {
        app_layer(a, +1);
    } else if (c == 'h') {
        a->vctx.heat = (enum heat_mode)((a->vctx.heat + 1) % HEAT_MODE_COUNT);
        a->dirty |= DIRTY_INSPECTOR;
    } else if (c == 'e') {
        a->vctx.entropy = (enum entropy_mode)((a->vctx.entropy + 1) % ENTROPY_MODE_COUNT);
        a->dirty |= DIRTY_INSPECTOR;
    } else if (c == '?') {
        a->help.open = true;
        a->help.scroll = 0;
        a->dirty |= DIRTY_ALL;
    } else if (c == '\r' || c == '\n' || c == 'q') {
        app_focus(a, FOCUS_INPUT);
    } else if (c >= ' ' && c != 0x7f) {
        /* Typing goes to the input line, as a user expects. */
        char mb[8];
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k != (size_t)-1)
            app_feed_bytes(a, mb, k);
    }
}

static void app_key_char(struct app *a, wint_t c)
{
    if (c != 3)
        a->ctrl_c = 0;
    switch (c) {
    case 27:
        app_key_escape(a);
        return;
    case 3: /* Ctrl-C */
        if (++a->ctrl_c >= 2) {
            a->quit = true;
            return;
        }
        if (app_busy(a))
            worker_request_stop(a->worker);
        else if (a->in && !input_empty(a))
            input_clear(a->in);
        app_message(a, false, "%sCtrl-C again quits",
                    app_busy(a) ? "stopping the reply; " : "");
        a->dirty |= DIRTY_INPUT;
        return;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        a->dirty |= DIRTY_ALL;
        return;
    case 19: /* Ctrl-S */
        app_session_save(a, NULL, true);
        return;
    case 26: /* Ctrl-Z */
        app_suspend(a);
        return;
    case '\t':
        if (a->focus == FOCUS_INPUT && a->in) {
            size_t n;
            const char *t = input_text(a->in, &n);
            if (n > 0 && t[0] == '/') {
                app_feed_bytes(a, "\t", 1);   /* complete the command */
                return;
            }
        }
        app_focus(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
        return;
    }
    if (a->help.open) {
        if (c == 'q' || c == '?')
            a->help.open = false;
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (a->focus == FOCUS_INSPECTOR) {
        app_key_inspector(a, c);
        return;
    }
    if (c == '?' && input_empty(a)) {
        a->help.open = true;
        a->help.scroll = 0;
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (c == '\r' || c == '\n') {
        size_t n;
        const char *t = input_text(a->in, &n);
        size_t i = 0;
        while (i < n && (t[i] == ' ' || t[i] == '\n'))
            i++;
        bool command = i < n && t[i] == '/';
        /* A message that cannot be sent now stays in the input line. */
        if (!command && i < n) {
            if (a->replay) {
                app_message(a, true, "replay is read-only: there is no model to answer");
                return;
            }
            if (app_busy(a)) {
                app_message(a, true, "a reply is being written: Esc stops it, then send");
                return;
            }
            if (!a->model_ready) {
                app_message(a, true, a->ws.state == WORKER_FAILED ? "no model is open"
                                                                  : "the model is still loading");
                return;
            }
        }
        app_feed_bytes(a, "\r", 1);
        return;
    }
    char mb[8];
    size_t k;
    if (c == 0x7f || c == 8) {
        mb[0] = 0x7f;
        k = 1;
    } else {
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        k = wcrtomb(mb, (wchar_t)c, &ps);
        if (k == (size_t)-1)
            return;
    }
    app_feed_bytes(a, mb, k);
}

static void app_key_code(struct app *a, wint_t k)
{
    a->ctrl_c = 0;
    int page = a->tr.last_h > 3 ? a->tr.last_h - 2 : 1;
    if (k == KEY_RESIZE) {
        a->dirty |= DIRTY_ALL;
        return;
    }
    if (a->help.open) {
        if (k == KEY_UP)
            a->help.scroll--;
        else if (k == KEY_DOWN)
            a->help.scroll++;
        else if (k == KEY_PPAGE)
            a->help.scroll -= 10;
        else if (k == KEY_NPAGE)
            a->help.scroll += 10;
        else
            a->help.open = false;
        if (a->help.scroll < 0)
            a->help.scroll = 0;
        if (a->help.scroll > help_lines())
            a->help.scroll = help_lines();
        a->dirty |= DIRTY_ALL;
        return;
    }
    switch (k) {
    case KEY_F(1):
        a->help.open = true;
        a->help.scroll = 0;
        a->dirty |= DIRTY_ALL;
        return;
    case KEY_F(2):
        app_toggle_inspector(a);
        return;
    case KEY_PPAGE:
        transcript_scroll(&a->tr, page);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_NPAGE:
        transcript_scroll(&a->tr, -page);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_SR:
        transcript_scroll(&a->tr, 1);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_SF:
        transcript_scroll(&a->tr, -1);
        a->dirty |= DIRTY_TRANSCRIPT;
        return;
    case KEY_BTAB:
        app_focus(a, a->focus == FOCUS_INPUT ? FOCUS_INSPECTOR : FOCUS_INPUT);
        return;
    case KEY_ENTER:
        app_key_char(a, '\r');
        return;
    }
    if (a->focus == FOCUS_INSPECTOR) {
        switch (k) {
        case KEY_LEFT: app_select(a, -1); break;
        case KEY_RIGHT: app_select(a, +1); break;
        case KEY_HOME:
            a->sel = 0;
            a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
            break;
        case KEY_END:
            a->sel = -1;
            a->tr.scroll = 0;
            a->dirty |= DIRTY_INSPECTOR | DIRTY_TRANSCRIPT;
            break;
        case KEY_UP: app_layer(a, -1); break;
        case KEY_DOWN: app_layer(a, +1); break;
        }
        return;
    }
    if (!a->in)
        return;
    const char *seq = NULL;
    switch (k) {
    case KEY_LEFT: seq = "\033[D"; break;
    case KEY_RIGHT: seq = "\033[C"; break;
    case KEY_UP: seq = "\033[A"; break;
    case KEY_DOWN: seq = "\033[B"; break;
    case KEY_BACKSPACE: seq = "\177"; break;
    case KEY_HOME: app_input_result(a, input_edit(a->in, INPUT_EDIT_HOME)); return;
    case KEY_END:
        if (input_empty(a)) {
            a->tr.scroll = 0;   /* End on an empty line: back to the newest text */
            a->dirty |= DIRTY_TRANSCRIPT;
            return;
        }
        app_input_result(a, input_edit(a->in, INPUT_EDIT_END));
        return;
    case KEY_DC: app_input_result(a, input_edit(a->in, INPUT_EDIT_DELETE)); return;
    default: {
        const char *name = keyname((int)k);
        if (name && !strcmp(name, "kLFT5"))
            app_input_result(a, input_edit(a->in, INPUT_EDIT_WORD_LEFT));
        else if (name && !strcmp(name, "kRIT5"))
            app_input_result(a, input_edit(a->in, INPUT_EDIT_WORD_RIGHT));
        return;
    }
    }
    app_feed_bytes(a, seq, strlen(seq));
}

void keys_read(struct app *a)
{
    wint_t c;
    int r;
    while ((r = wget_wch(a->win.keys, &c)) != ERR) {
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
            if (k > 0 && input_paste_bytes(a->in, mb, k) != INPUT_NONE) {
                if (a->focus != FOCUS_INPUT)
                    app_focus(a, FOCUS_INPUT);
                a->dirty |= DIRTY_INPUT;
            }
            continue;
        }
        if (a->msg[0] && a->msg_until == 0) {
            a->msg[0] = 0;
            a->dirty |= DIRTY_HINTS;
        }
        if (r == KEY_CODE_YES)
            app_key_code(a, c);
        else
            app_key_char(a, c);
        if (a->quit)
            return;
    }
}
