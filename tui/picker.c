/* tui/picker.c: the model picker (picker.h). The filter keeps the models whose name, file,
 * architecture or main type hold every word typed (case ignored); the box shows as many as
 * fit, the chosen one highlighted, one that moescope does not run dimmed with its reason. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli_format.h"
#include "commands_slash.h"
#include "draw.h"
#include "keys.h"
#include "picker.h"

/* Whether needle (n bytes) is in hay, ASCII case ignored. */
static bool picker_has_word(const char *hay, const char *needle, size_t n)
{
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static bool picker_matches(const struct model_entry *e, const char *filter, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && filter[i] == ' ')
            i++;
        size_t j = i;
        while (j < len && filter[j] != ' ')
            j++;
        if (j > i && !picker_has_word(e->name, filter + i, j - i) &&
            !picker_has_word(e->path, filter + i, j - i) &&
            !(e->described && picker_has_word(e->desc.arch, filter + i, j - i)) &&
            !picker_has_word(e->main_type, filter + i, j - i))
            return false;
        i = j;
    }
    return true;
}

void picker_set_filter(struct picker_state *p, const char *text, size_t len)
{
    if (len >= sizeof p->filter)
        len = sizeof p->filter - 1;
    memcpy(p->filter, text, len);
    p->filter[len] = 0;
    p->filter_len = len;
    p->n_match = 0;
    for (size_t i = 0; i < p->list.n; i++)
        if (picker_matches(&p->list.v[i], p->filter, p->filter_len))
            p->match[p->n_match++] = i;
    p->sel = 0;
    p->top = 0;
}

int picker_open(struct app *a, char *err, size_t errlen)
{
    struct picker_state *p = &a->picker;
    picker_close(p);
    if (model_list_find(&p->list, err, errlen) != 0)
        return -1;
    model_list_describe(&p->list);
    p->match = malloc((p->list.n ? p->list.n : 1) * sizeof *p->match);
    if (!p->match) {
        model_list_free(&p->list);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    picker_set_filter(p, "", 0);
    p->open = true;
    return 0;
}

void picker_close(struct picker_state *p)
{
    if (p->match || p->list.v)
        model_list_free(&p->list);
    free(p->match);
    memset(p, 0, sizeof *p);
}

/* Removes the last UTF-8 character of the filter. */
static void picker_backspace(struct picker_state *p)
{
    size_t n = p->filter_len;
    while (n > 0 && ((unsigned char)p->filter[n - 1] & 0xc0) == 0x80)
        n--;
    if (n > 0)
        n--;
    char copy[sizeof p->filter];
    memcpy(copy, p->filter, n);
    picker_set_filter(p, copy, n);
}

/* Appends code point c (as UTF-8) to the filter. */
static void picker_type(struct picker_state *p, int c)
{
    char u[4];
    size_t n = 0;
    if (c < 0x80) {
        u[n++] = (char)c;
    } else if (c < 0x800) {
        u[n++] = (char)(0xc0 | (c >> 6));
        u[n++] = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        u[n++] = (char)(0xe0 | (c >> 12));
        u[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[n++] = (char)(0x80 | (c & 0x3f));
    } else {
        u[n++] = (char)(0xf0 | (c >> 18));
        u[n++] = (char)(0x80 | ((c >> 12) & 0x3f));
        u[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[n++] = (char)(0x80 | (c & 0x3f));
    }
    if (p->filter_len + n >= sizeof p->filter)
        return;
    char copy[sizeof p->filter];
    memcpy(copy, p->filter, p->filter_len);
    memcpy(copy + p->filter_len, u, n);
    picker_set_filter(p, copy, p->filter_len + n);
}

static void picker_move(struct picker_state *p, long by)
{
    if (p->n_match == 0)
        return;
    long s = (long)p->sel + by;
    if (s < 0)
        s = 0;
    if (s >= (long)p->n_match)
        s = (long)p->n_match - 1;
    p->sel = (size_t)s;
}

/* Enter: the picker closes and the chosen model is opened as /model NAME would. */
static void picker_choose(struct app *a)
{
    struct picker_state *p = &a->picker;
    if (p->n_match == 0)
        return; /* nothing matches: the filter stays for the user to mend */
    char path[sizeof p->list.v[0].path];
    snprintf(path, sizeof path, "%s", p->list.v[p->match[p->sel]].path);
    picker_close(p);
    slash_model_switch(a, path);
}

unsigned picker_key(struct app *a, int key)
{
    struct picker_state *p = &a->picker;
    switch (key) {
    case KEYS_CTRL('C'):
    case KEYS_CTRL('L'):
    case KEYS_CTRL('Z'):
    case KEYS_CODE | KEY_RESIZE:
        return KEYS_PASS;
    case KEYS_ESC: picker_close(p); break;
    case '\r':
    case '\n':
    case KEYS_CODE | KEY_ENTER: picker_choose(a); break;
    case KEYS_CODE | KEY_UP:
    case KEYS_CTRL('P'): picker_move(p, -1); break;
    case KEYS_CODE | KEY_DOWN:
    case KEYS_CTRL('N'): picker_move(p, 1); break;
    case KEYS_CODE | KEY_PPAGE: picker_move(p, -10); break;
    case KEYS_CODE | KEY_NPAGE: picker_move(p, 10); break;
    case KEYS_CODE | KEY_HOME: picker_move(p, -(long)p->n_match); break;
    case KEYS_CODE | KEY_END: picker_move(p, (long)p->n_match); break;
    case KEYS_CODE | KEY_BACKSPACE:
    case 127:
    case KEYS_CTRL('H'): picker_backspace(p); break;
    case KEYS_CTRL('U'): picker_set_filter(p, "", 0); break;
    default:
        if (key & KEYS_ALT)
            return KEYS_PASS;
        if (!(key & KEYS_CODE) && key >= 0x20 && key <= 0x10ffff)
            picker_type(p, key);
        break; /* other keys are swallowed */
    }
    return DIRTY_ALL;
}

/* One model on one line: name, then architecture, experts, size and main type, or why
 * moescope does not run it. */
static void picker_draw_entry(const struct app *a, WINDOW *w, int y, int wd,
                              const struct model_entry *e, bool chosen)
{
    const struct theme *th = &a->theme;
    bool runs = e->described && !e->why_not[0];
    attr_t base = chosen ? draw_attr(th, THEME_SELECTION)
                         : draw_attr(th, runs ? THEME_TEXT : THEME_DIM);
    wattrset(w, base);
    mvwhline(w, y, 1, ' ', wd - 2);
    int x = 1 + draw_printf(w, y, 1, wd - 2, base, "%s", chosen ? ">" : " ");
    x += draw_printf(w, y, x, wd - 1 - x, base, "%s", e->name);
    char sz[32], what[640];
    if (runs) {
        int n = snprintf(what, sizeof what, "  %s", e->desc.arch);
        if (e->desc.n_experts)
            n += snprintf(what + n, sizeof what - (size_t)n, " %d/%d", e->desc.n_experts_used,
                          e->desc.n_experts);
        snprintf(what + n, sizeof what - (size_t)n, " %s %s", cli_format_bytes(e->size, sz),
                 e->main_type);
    } else {
        snprintf(what, sizeof what, "  (no: %s)", e->why_not[0] ? e->why_not : "unreadable");
    }
    attr_t dim = chosen ? base : draw_attr(th, runs ? THEME_DIM : THEME_WARNING);
    if (x < wd - 1)
        draw_printf(w, y, x, wd - 1 - x, dim, "%s", what);
}

void picker_draw(struct app *a, WINDOW *w)
{
    struct picker_state *p = &a->picker;
    const struct theme *th = &a->theme;
    int h, wd;
    getmaxyx(w, h, wd);
    draw_dialog(w, th, " models ", " Enter switch  Esc close ");
    char count[48];
    snprintf(count, sizeof count, " %zu/%zu ", p->n_match, p->list.n);
    int cw = (int)strlen(count);
    if (wd > cw + 12)
        draw_printf(w, 0, wd - cw - 2, cw, draw_attr(th, THEME_DIM), "%s", count);
    if (h < 3)
        return;
    /* The filter line, or what to do when it is empty. */
    int x = 1 + draw_printf(w, 1, 1, wd - 2, draw_attr(th, THEME_KEY), "/ ");
    if (p->filter_len)
        draw_text(w, 1, x, wd - 1 - x, p->filter, p->filter_len, draw_attr(th, THEME_INPUT),
                  draw_attr(th, THEME_ESCAPE), true);
    else
        draw_printf(w, 1, x, wd - 1 - x, draw_attr(th, THEME_DIM), "type to filter");
    int rows = h - 3;
    if (p->list.n == 0 || p->n_match == 0) {
        if (rows > 0)
            draw_printf(w, 2, 2, wd - 3, draw_attr(th, THEME_DIM), "%s",
                        p->list.n ? "no model matches" : "no models found (see moescope models)");
        return;
    }
    /* Keep the chosen line in view (top moves only as far as it must). */
    if (rows > 0) {
        if (p->sel < p->top)
            p->top = p->sel;
        if (p->sel >= p->top + (size_t)rows)
            p->top = p->sel - (size_t)rows + 1;
    }
    for (int r = 0; r < rows && p->top + (size_t)r < p->n_match; r++) {
        size_t m = p->top + (size_t)r;
        picker_draw_entry(a, w, 2 + r, wd, &p->list.v[p->match[m]], m == p->sel);
    }
}
