/* tui/input.c: the input line is GNU readline, driven through its callback interface inside
 * curses, so the user's ~/.inputrc, history and editing keys all apply.
 *
 * Readline never touches the terminal here:
 *   - rl_prep_term_function / rl_deprep_term_function = NULL: curses owns the modes;
 *   - rl_catch_signals = rl_catch_sigwinch = 0 and rl_change_environment = 0 (otherwise it
 *     exports LINES/COLUMNS, and curses would then ignore every later resize);
 *   - rl_getc_function reads from a small byte queue that the app fills from curses keys
 *     (input_feed), and rl_input_available_hook tells readline whether more bytes of a key
 *     sequence are queued (so Alt-x and arrow sequences are never split);
 *   - rl_redisplay_function only marks the line changed: input_draw() draws rl_line_buffer
 *     into the input window, wrapped, with the cursor at rl_point;
 *   - completion lists go to the hint line through rl_completion_display_matches_hook;
 *   - rl_outstream is /dev/null, so nothing readline might print can reach the screen.
 *
 * Multi-line input: Alt-Enter inserts a newline (the app calls input_insert), Enter sends.
 * A bracketed paste (ESC [200~ ... ESC [201~) is collected whole and inserted as text, so a
 * pasted newline never sends the line.
 *
 * Keys are read byte by byte (input_read_key), not with wget_wch(): ncurses' wget_wch() keeps
 * reading after a byte that cannot start UTF-8 and drops what it gathered, which ate the
 * character after a bad byte and, in a paste, the end-of-paste marker (the app then took
 * every later key as pasted text). A byte that is not UTF-8 becomes the text \xHH.
 *
 * History lives in $XDG_STATE_HOME/moescope/history (~/.local/state when unset), written
 * with timestamps so entries with newlines come back whole. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <wchar.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "app.h"
#include "commands_slash.h"
#include "draw.h"
#include "input.h"

enum { INPUT_HISTORY_MAX = 2000 };

struct input {
    struct app *app;              /* for the theme and focus when drawing */
    unsigned char q[256];         /* bytes waiting for readline's getc (ring) */
    unsigned qh, qn;              /* head and count */
    char *line;                   /* the last entered line (owned), until taken */
    bool have_line, eof;          /* what the line handler saw */
    bool changed;                 /* readline redisplayed: draw again */
    char note[512];               /* completion candidates for the hint line */
    bool paste;                   /* inside a bracketed paste */
    char *pbuf;                   /* (pcap) the paste so far */
    double paste_last;            /* when the paste's last byte came (monotonic seconds) */
    size_t plen, pcap;
    char hist_path[PATH_MAX];     /* "" when there is no place for it */
    int hist_new;                 /* entries added this run (appended on close) */
    FILE *devnull;                /* rl_outstream */
};

/* Readline's hooks are plain functions with no user pointer: the one input there is. */
static struct input *g_in;

static int in_getc(FILE *f)
{
    (void)f;
    struct input *in = g_in;
    if (!in || in->qn == 0)
        return 0;   /* never asked for more than was queued; NUL is harmless (set-mark) */
    int c = in->q[in->qh];
    in->qh = (in->qh + 1) % sizeof in->q;
    in->qn--;
    return c;
}

static int in_avail(void)
{
    return g_in && g_in->qn > 0;
}

static void in_redisplay(void)
{
    if (g_in)
        g_in->changed = true;
}

static void in_on_line(char *line)
{
    struct input *in = g_in;
    if (!line) {
        in->eof = true;
        return;
    }
    if (line[strspn(line, " \t\n")]) {   /* blank lines are not history */
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1)
                                              : NULL;
        if (!last || strcmp(last->line, line) != 0) {
            add_history(line);
            in->hist_new++;
        }
    }
    free(in->line);
    in->line = line;
    in->have_line = true;
}

static char *in_complete_gen(const char *text, int state)
{
    static int i;
    (void)text;
    if (!state)
        i = 0;
    char buf[256];
    const char *c = slash_complete(rl_line_buffer, (size_t)rl_point, i++, buf, sizeof buf);
    return c ? strdup(c) : NULL;
}

static char **in_complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;   /* never readline's file names by default */
    if (rl_line_buffer[0] != '/')
        return NULL;
    /* /save and /load take a file: readline's own file-name completion. */
    bool file_arg = !strncmp(rl_line_buffer, "/save ", 6) || !strncmp(rl_line_buffer, "/load ", 6);
    if (start > 0 && file_arg)
        return rl_completion_matches(text, rl_filename_completion_function);
    return rl_completion_matches(text, in_complete_gen);
}

static void in_show_matches(char **matches, int n, int max_len)
{
    (void)max_len;
    struct input *in = g_in;
    size_t off = 0;
    in->note[0] = 0;
    for (int i = 1; i <= n && off + 2 < sizeof in->note; i++) {
        int k = snprintf(in->note + off, sizeof in->note - off, "%s%s", i > 1 ? "  " : "",
                         matches[i]);
        if (k < 0)
            break;
        off += (size_t)k;
    }
    if (off >= sizeof in->note)
        off = sizeof in->note - 1;
    in->changed = true;
}

const char *input_history_path(char *buf, size_t buflen)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (state && state[0] == '/')
        snprintf(buf, buflen, "%s/moescope/history", state);
    else if (home && home[0])
        snprintf(buf, buflen, "%s/.local/state/moescope/history", home);
    else
        buf[0] = 0;
    return buf;
}

/* mkdir -p of the folders above a file. */
static void mkdir_parents(const char *file)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", file);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return;
            *p = '/';
        }
}

struct input *input_open(struct app *a)
{
    struct input *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->app = a;
    g_in = in;

    rl_readline_name = "moescope";         /* `$if moescope` in ~/.inputrc */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_getc_function = in_getc;
    rl_input_available_hook = in_avail;
    rl_redisplay_function = in_redisplay;
    rl_attempted_completion_function = in_complete;
    rl_completion_display_matches_hook = in_show_matches;
    rl_basic_word_break_characters = " \t";
    in->devnull = fopen("/dev/null", "w");
    if (in->devnull)
        rl_outstream = in->devnull;

    using_history();
    stifle_history(INPUT_HISTORY_MAX);
    history_comment_char = '#';            /* timestamps are written as #SECONDS lines... */
    history_write_timestamps = 1;          /* ...so multi-line entries read back whole */
    input_history_path(in->hist_path, sizeof in->hist_path);
    if (in->hist_path[0])
        read_history(in->hist_path);

    rl_callback_handler_install("", in_on_line);
    return in;
}

void input_close(struct input *in)
{
    if (!in)
        return;
    rl_callback_handler_remove();
    if (in->hist_path[0] && in->hist_new > 0) {
        mkdir_parents(in->hist_path);
        struct stat st;
        /* Append what this run added, so two copies of the app both keep their lines. */
        int r = stat(in->hist_path, &st) == 0
                    ? append_history(in->hist_new < history_length ? in->hist_new : history_length,
                                     in->hist_path)
                    : write_history(in->hist_path);
        if (r == 0)
            history_truncate_file(in->hist_path, INPUT_HISTORY_MAX);
    }
    clear_history();
    free(in->line);
    free(in->pbuf);
    if (in->devnull) {
        rl_outstream = stdout;
        fclose(in->devnull);
    }
    g_in = NULL;
    free(in);
}

static enum input_result input_result_now(struct input *in)
{
    if (in->eof) {
        in->eof = false;
        return INPUT_EOF;
    }
    if (in->have_line)
        return INPUT_LINE;
    if (in->changed)
        return INPUT_CHANGED;
    return INPUT_NONE;
}

enum input_result input_feed(struct input *in, const char *bytes, size_t n)
{
    g_in = in;
    for (size_t i = 0; i < n; i++) {
        if (in->qn == sizeof in->q)
            break;
        in->q[(in->qh + in->qn) % sizeof in->q] = (unsigned char)bytes[i];
        in->qn++;
    }
    while (in->qn > 0) {
        rl_callback_read_char();
        if (in->have_line || in->eof)
            break;   /* bytes after Enter wait for the app to take the line */
    }
    if (in->have_line || in->eof)
        in->qn = 0;
    return input_result_now(in);
}

enum input_result input_insert(struct input *in, const char *text, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return INPUT_NONE;
    memcpy(copy, text, n);
    copy[n] = 0;
    rl_insert_text(copy);
    free(copy);
    in->changed = true;
    return INPUT_CHANGED;
}

enum input_result input_edit(struct input *in, enum input_edit op)
{
    switch (op) {
    case INPUT_EDIT_HOME: rl_beg_of_line(1, 0); break;
    case INPUT_EDIT_END: rl_end_of_line(1, 0); break;
    case INPUT_EDIT_DELETE:
        if (rl_point < rl_end)
            rl_delete(1, 0);
        break;
    case INPUT_EDIT_WORD_LEFT: rl_backward_word(1, 0); break;
    case INPUT_EDIT_WORD_RIGHT: rl_forward_word(1, 0); break;
    }
    in->changed = true;
    return INPUT_CHANGED;
}

const char *input_take_line(struct input *in)
{
    if (!in->have_line)
        return NULL;
    in->have_line = false;
    return in->line;
}

const char *input_text(const struct input *in, size_t *len)
{
    (void)in;
    if (len)
        *len = rl_line_buffer ? (size_t)rl_end : 0;
    return rl_line_buffer ? rl_line_buffer : "";
}

void input_clear(struct input *in)
{
    rl_replace_line("", 1);
    rl_point = rl_end = 0;
    in->changed = true;
}

const char *input_take_note(struct input *in)
{
    static char note[512];
    snprintf(note, sizeof note, "%s", in->note);
    in->note[0] = 0;
    return note;
}

bool input_vi_mode(const struct input *in)
{
    (void)in;
    return rl_editing_mode == 0;   /* readline: 0 vi, 1 emacs */
}

bool input_in_paste(const struct input *in)
{
    return in->paste;
}

/* A paste whose end marker never comes (a terminal that lost it) ends this long after its
 * last byte, so the keys after it are keys again. */
#define INPUT_PASTE_TIMEOUT_S 1.0

static double input_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void input_paste_begin(struct input *in)
{
    in->paste = true;
    in->plen = 0;
    in->paste_last = input_clock();
}

/* The paste so far into the line: CR (and CR LF) become newlines, as pasted line breaks. */
static enum input_result input_paste_finish(struct input *in)
{
    size_t o = 0;
    for (size_t i = 0; i < in->plen; i++) {
        char c = in->pbuf[i];
        if (c == '\r') {
            c = '\n';
            if (i + 1 < in->plen && in->pbuf[i + 1] == '\n')
                i++;
        }
        in->pbuf[o++] = c;
    }
    in->paste = false;
    return o > 0 ? input_insert(in, in->pbuf, o) : INPUT_CHANGED;
}

int input_paste_wait_ms(const struct input *in)
{
    if (!in->paste)
        return -1;
    double left = in->paste_last + INPUT_PASTE_TIMEOUT_S - input_clock();
    return left > 0 ? (int)(left * 1000.0) + 1 : 0;
}

enum input_result input_paste_expire(struct input *in)
{
    if (!in->paste || input_paste_wait_ms(in) > 0)
        return INPUT_NONE;
    return input_paste_finish(in);
}

enum input_result input_paste_bytes(struct input *in, const char *b, size_t n)
{
    static const char end_marker[] = "\033[201~";
    const size_t em = sizeof end_marker - 1;
    if (in->plen + n + 1 > in->pcap) {
        size_t cap = (in->plen + n + 1) * 2;
        char *p = realloc(in->pbuf, cap);
        if (!p)
            return INPUT_NONE;
        in->pbuf = p;
        in->pcap = cap;
    }
    memcpy(in->pbuf + in->plen, b, n);
    in->plen += n;
    in->paste_last = input_clock();
    if (in->plen < em || memcmp(in->pbuf + in->plen - em, end_marker, em) != 0)
        return INPUT_NONE;
    in->plen -= em;
    return input_paste_finish(in);
}

/* ---- keys ---- */

/* The next byte of a character already begun: normally queued with its lead byte, but a
 * terminal may split a write, so wait a moment for it. */
static int key_next_byte(WINDOW *w)
{
    int b = wgetch(w);
    if (b != ERR)
        return b;
    int delay = wgetdelay(w);
    wtimeout(w, 50);
    b = wgetch(w);
    wtimeout(w, delay);
    return b;
}

/* How many continuation bytes a UTF-8 lead byte needs; -1 when b cannot start a character. */
static int key_utf8_tail(int b)
{
    if (b < 0x80)
        return 0;
    if (b >= 0xc2 && b <= 0xdf)
        return 1;
    if (b >= 0xe0 && b <= 0xef)
        return 2;
    if (b >= 0xf0 && b <= 0xf4)
        return 3;
    return -1;
}

int input_read_key(WINDOW *w, wint_t *c)
{
    int b = wgetch(w);
    if (b == ERR)
        return ERR;
    if (b >= KEY_MIN) {
        *c = (wint_t)b;
        return KEY_CODE_YES;
    }
    int need = key_utf8_tail(b);
    if (need == 0 || MB_CUR_MAX == 1) {
        *c = (wint_t)b;   /* ASCII, or a single-byte locale's own byte */
        return OK;
    }
    char mb[4] = { (char)b };
    int n = 1;
    while (need > 0 && n <= need) {
        int next = key_next_byte(w);
        if (next == ERR)
            break;
        if (next >= KEY_MIN || (next & 0xc0) != 0x80) {
            ungetch(next);   /* not part of this character: it is the next key */
            break;
        }
        mb[n++] = (char)next;
    }
    wchar_t wc;
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    if (need > 0 && n == need + 1 && mbrtowc(&wc, mb, (size_t)n, &ps) == (size_t)n) {
        *c = (wint_t)wc;
        return OK;
    }
    /* Not UTF-8: the lead byte comes back as the four characters \xHH, and the bytes read
     * after it are read again as keys of their own (ungetch is last in, first out). */
    for (int i = n - 1; i >= 1; i--)
        ungetch((unsigned char)mb[i]);
    char esc[8];
    snprintf(esc, sizeof esc, "\\x%02x", (unsigned)b);
    for (int i = 3; i >= 1; i--)
        ungetch((unsigned char)esc[i]);
    *c = '\\';
    return OK;
}

/* ---- drawing: the buffer laid out in rows of w columns after the prompt ---- */

enum { PROMPT_W = 2 };

/* Walks the buffer as it will be drawn. For each unit calls back with its row and column;
 * returns the rows used and the cursor's row and column. */
static int layout_walk(const char *s, size_t n, size_t point, int w, bool utf8, int *cur_y,
                       int *cur_x, WINDOW *draw, int top, int h, attr_t attr, attr_t esc)
{
    int y = 0, x = PROMPT_W;
    *cur_y = 0;
    *cur_x = PROMPT_W;
    if (w <= PROMPT_W + 1)
        w = PROMPT_W + 2;
    size_t i = 0;
    while (i < n) {
        if (i == point) {
            *cur_y = y;
            *cur_x = x;
        }
        if (s[i] == '\n') {
            y++;
            x = PROMPT_W;
            i++;
            continue;
        }
        int cw;
        size_t len = text_unit(s + i, n - i, utf8, &cw);
        if (x + cw > w) {
            y++;
            x = PROMPT_W;
            if (i == point) {
                *cur_y = y;
                *cur_x = x;
            }
        }
        if (draw && y >= top && y < top + h)
            draw_text(draw, y - top, x, w - x, s + i, len, attr, esc, utf8);
        x += cw;
        i += len;
    }
    if (point >= n) {
        if (x >= w) {
            y++;
            x = PROMPT_W;
        }
        *cur_y = y;
        *cur_x = x;
    }
    return y + 1;
}

int input_rows(const struct input *in, int w)
{
    size_t n;
    const char *s = input_text(in, &n);
    int cy, cx;
    return layout_walk(s, n, (size_t)(rl_point > 0 ? rl_point : 0), w, in->app->utf8, &cy, &cx,
                       NULL, 0, 0, 0, 0);
}

void input_draw(const struct input *in, WINDOW *w, const struct app *a)
{
    int h, wd;
    getmaxyx(w, h, wd);
    const struct theme *th = &a->theme;
    bool focus = a->focus == FOCUS_INPUT && !a->help.open;
    attr_t text = draw_attr(th, focus ? THEME_INPUT : THEME_DIM);
    attr_t esc = draw_attr(th, THEME_ESCAPE);
    werase(w);
    wbkgdset(w, ' ' | draw_attr(th, THEME_INPUT));
    size_t n;
    const char *s = input_text(in, &n);
    size_t point = (size_t)(rl_point > 0 ? rl_point : 0);
    int cy, cx;
    int rows = layout_walk(s, n, point, wd, a->utf8, &cy, &cx, NULL, 0, 0, 0, 0);
    /* Scroll so the cursor's row is shown, preferring the last rows. */
    int top = rows > h ? rows - h : 0;
    if (cy < top)
        top = cy;
    if (cy >= top + h)
        top = cy - h + 1;
    layout_walk(s, n, point, wd, a->utf8, &cy, &cx, w, top, h, text, esc);
    attr_t pa = draw_attr(th, focus ? THEME_KEY : THEME_DIM);
    for (int r = 0; r < h; r++) {
        const char *mark = r == 0 && top == 0 ? DRAW_GLYPH(a->utf8, "\u203a ", "> ")
                           : DRAW_GLYPH(a->utf8, "\u2502 ", "| ");
        draw_printf(w, r, 0, PROMPT_W, pa, "%s", mark);
    }
    if (n == 0) {
        const char *ph = !a->model_ready
                             ? (a->ws.state == WORKER_FAILED ? "no model: /load a session, or /quit"
                                                             : "loading the model...")
                         : a->replay ? "replay: read-only, no model is open (/quit leaves)"
                         : focus ? "Message the model: Enter sends, Alt-Enter new line, F1 keys"
                                 : "Tab comes back here";
        draw_printf(w, 0, PROMPT_W, wd - PROMPT_W, draw_attr(th, THEME_DIM), "%s", ph);
    }
    if (cy - top >= 0 && cy - top < h)
        wmove(w, cy - top, cx < wd ? cx : wd - 1);
}
