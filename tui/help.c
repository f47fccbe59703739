/* tui/help.c: the keys screen (F1, or ? on an empty line): a state of its own, with its own
 * key function (as ncdu's help is). Its lines are made from the key table (keys.c) and the
 * slash-command table; the man page's KEYS section is checked against the same key table
 * by a test (tests/tui_test_keys.c). */
#include <string.h>

#include "app.h"
#include "commands_slash.h"
#include "draw.h"
#include "help.h"
#include "keys.h"

/* The columns: keys, where they work, what they do. */
enum { HELP_KEYS_W = 23, HELP_WHERE_X = 26, HELP_WHAT_X = 37 };

/* Rows i and j say the same thing in the same place: one line names both. */
static bool help_same_line(const struct key_binding *a, const struct key_binding *b)
{
    return a->focus == b->focus && a->what && b->what && !strcmp(a->what, b->what);
}

/* Counts the lines the key table makes; line `want` (when in range) gets its first row in
 * *first and how many rows it names in *n_rows. */
static int help_key_lines(int want, size_t *first, int *n_rows)
{
    int lines = 0;
    const struct key_binding *prev = NULL;
    for (size_t i = 0; i < key_table_count; i++) {
        const struct key_binding *k = &key_table[i];
        if (!k->name)
            continue;
        if (prev && help_same_line(prev, k)) {
            if (lines - 1 == want)
                (*n_rows)++;
        } else {
            if (lines == want) {
                *first = i;
                *n_rows = 1;
            }
            lines++;
        }
        prev = k;
    }
    return lines;
}

int help_lines(void)
{
    return help_key_lines(-1, NULL, NULL) + (int)slash_command_count + 2;
}

/* The names of n_rows named rows from `first`: "Up / Down". */
static void help_key_names(size_t first, int n_rows, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = first; n_rows > 0 && i < key_table_count; i++) {
        if (!key_table[i].name)
            continue;
        off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
                                off ? " / " : "", key_table[i].name);
        n_rows--;
    }
}

static const char *help_where(enum key_focus f)
{
    return f == KEYS_ANYWHERE ? "anywhere" : f == KEYS_INPUT ? "input" : "inspector";
}

unsigned help_key(struct app *a, int key)
{
    switch (key) {
    case KEYS_CTRL('C'):
    case KEYS_CTRL('L'):
    case KEYS_CTRL('S'):
    case KEYS_CTRL('Z'):
    case '\t':
    case KEYS_CODE | KEY_RESIZE:
        return KEYS_PASS;   /* these work over the keys screen too */
    case KEYS_CODE | KEY_UP: a->help.scroll--; break;
    case KEYS_CODE | KEY_DOWN: a->help.scroll++; break;
    case KEYS_CODE | KEY_PPAGE: a->help.scroll -= 10; break;
    case KEYS_CODE | KEY_NPAGE: a->help.scroll += 10; break;
    case 'q':
    case '?':
    case KEYS_ESC: a->help.open = false; break;
    default:
        if (key & KEYS_ALT)
            return KEYS_PASS;
        if (key & KEYS_CODE)
            a->help.open = false;   /* any other key curses knows closes it */
        break;                      /* a character is swallowed */
    }
    if (a->help.scroll > help_lines())
        a->help.scroll = help_lines();
    if (a->help.scroll < 0)
        a->help.scroll = 0;
    return DIRTY_ALL;
}

void help_draw(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int h, wd;
    getmaxyx(w, h, wd);
    draw_dialog(w, th, " moescope keys ", " Esc, q or F1 closes  PgUp/PgDn scroll ");
    int n_key_lines = help_key_lines(-1, NULL, NULL);
    int inner = h - 2, total = help_lines();
    int top = a->help.scroll;
    if (top > total - inner)
        top = total - inner;
    if (top < 0)
        top = 0;
    attr_t ka = draw_attr(th, THEME_KEY), da = draw_attr(th, THEME_DIM),
           ta = draw_attr(th, THEME_TEXT), ti = draw_attr(th, THEME_TITLE);
    for (int row = 0; row < inner; row++) {
        int line = top + row, y = row + 1;
        int k = line;
        if (k < n_key_lines) {
            size_t first = 0;
            int n_rows = 0;
            help_key_lines(k, &first, &n_rows);
            const struct key_binding *kb = &key_table[first];
            char names[64];
            help_key_names(first, n_rows, names, sizeof names);
            draw_printf(w, y, 2, HELP_KEYS_W, ka, "%s", names);
            draw_printf(w, y, HELP_WHERE_X, 10, da, "%s", help_where(kb->focus));
            draw_printf(w, y, HELP_WHAT_X, wd - HELP_WHAT_X - 2, ta, "%s", keys_what(kb));
            continue;
        }
        k -= n_key_lines;
        if (k == 0)
            continue;
        if (k == 1) {
            draw_printf(w, y, 2, wd - 4, ti, "Commands (type them on the input line)");
            continue;
        }
        k -= 2;
        if (k < (int)slash_command_count) {
            const struct slash_command *c = &slash_commands[k];
            int x = 2 + draw_printf(w, y, 2, wd - 4, ka, "%s", c->name);
            draw_printf(w, y, x + 1, HELP_WHAT_X - 2 - x, da, "%s", c->args);
            draw_printf(w, y, HELP_WHAT_X, wd - HELP_WHAT_X - 2, ta, "%s", c->help);
        }
    }
}
