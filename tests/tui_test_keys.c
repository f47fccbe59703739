/* tests/tui_test_keys.c: the key table (tui/keys.c) against the man page's KEYS section,
 * the view registry and itself, and what keys do in each state, without a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "commands_slash.h"
#include "help.h"
#include "keys.h"
#include "test.h"

/* The key names the man page's KEYS section sets in bold (".B Up\fR, \fBDown"), up to its
 * Commands subsection, one a line in names (roff escapes undone). Returns how many. */
static int man_key_names(char names[][32], int cap)
{
    FILE *f = fopen("man/moescope.1", "r");
    if (!f) {
        test_fail(__FILE__, __LINE__, "man/moescope.1: cannot open (run from the tree's top)");
        return 0;
    }
    char line[1024];
    bool in_keys = false;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, ".SH ", 4))
            in_keys = !strcmp(line, ".SH KEYS");
        else if (!strncmp(line, ".SS ", 4))
            in_keys = false;   /* KEYS' Commands subsection */
        if (!in_keys || strncmp(line, ".B ", 3) != 0)
            continue;
        /* Undo \- and the font changes, then split on ", ". */
        char plain[1024];
        size_t m = 0;
        for (const char *p = line + 3; *p && m + 1 < sizeof plain; p++) {
            if (p[0] == '\\' && p[1] == '-') {
                plain[m++] = '-';
                p++;
            } else if (p[0] == '\\' && p[1] == 'f' && p[2]) {
                p += 2;
            } else {
                plain[m++] = *p;
            }
        }
        plain[m] = 0;
        for (char *tok = plain; tok && *tok && n < cap;) {
            char *sep = strstr(tok, ", ");
            if (sep)
                *sep = 0;
            snprintf(names[n++], 32, "%.31s", tok);
            tok = sep ? sep + 2 : NULL;
        }
    }
    fclose(f);
    return n;
}

static bool table_names(const char *name)
{
    for (size_t i = 0; i < key_table_count; i++)
        if (key_table[i].name && !strcmp(key_table[i].name, name))
            return true;
    return false;
}

/* Every key the keys screen lists is in the man page's KEYS section, and every key the
 * man page lists there is one the table binds. */
TEST(keys_man_page_matches_table)
{
    char names[128][32];
    int n = man_key_names(names, 128);
    CHECK_MSG(n > 20, "man/moescope.1: only %d key names in KEYS", n);
    for (int i = 0; i < n; i++)
        CHECK_MSG(table_names(names[i]), "man page KEYS names '%s', which no key row has",
                  names[i]);
    for (size_t i = 0; i < key_table_count; i++) {
        const char *name = key_table[i].name;
        if (!name)
            continue;
        bool found = false;
        for (int j = 0; j < n && !found; j++)
            found = !strcmp(names[j], name);
        CHECK_MSG(found, "key '%s' (row %zu) is not in the man page's KEYS section", name, i);
    }
}

/* No row is dead (an earlier row with the same key and focus would always win), every row
 * has a handler, and every view of the registry has its key in the inspector and its Alt
 * key anywhere, with the view's own words on the keys screen. */
TEST(keys_table_is_whole)
{
    for (size_t i = 0; i < key_table_count; i++) {
        CHECK_MSG(key_table[i].run != NULL, "row %zu has no handler", i);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(key_table[j].key != key_table[i].key ||
                          !(key_table[j].focus & key_table[i].focus),
                      "rows %zu and %zu bind the same key in the same pane", j, i);
    }
    for (int v = 0; v < VIEW_COUNT; v++) {
        bool plain = false, alt = false;
        for (size_t i = 0; i < key_table_count; i++) {
            const struct key_binding *k = &key_table[i];
            if (k->key == view_table[v].key && (k->focus & KEYS_INSPECTOR)) {
                plain = true;
                CHECK_STR_EQ(keys_what(k), view_table[v].help);
            }
            alt |= k->key == (KEYS_ALT | view_table[v].key) && k->focus == KEYS_ANYWHERE;
        }
        CHECK_MSG(plain && alt, "view %s: key %c bound in the inspector %d, Alt %d",
                  view_table[v].name, view_table[v].key, plain, alt);
    }
}

static void app_bare(struct app *a)
{
    struct app_options o;
    app_options_default(&o);
    char err[256];
    CHECK(app_init(a, &o, err, sizeof err) == 0);
    trace_log_free(&a->log);
    trace_log_init(&a->log, 4, 8, 2);
    for (int i = 0; i < 5; i++)
        trace_log_push(&a->log, i, "x", 1, i == 0);
    a->model_ready = true;
}

/* What the inspector's keys do, and the dirty bits they hand back. */
TEST(keys_inspector)
{
    struct app a;
    app_bare(&a);
    a.focus = FOCUS_INSPECTOR;
    a.inspector_on = false;
    CHECK_INT_EQ(keys_dispatch(&a, '2'), DIRTY_INSPECTOR);
    CHECK_INT_EQ(a.view, VIEW_HEATMAP);
    CHECK(a.inspector_on);
    CHECK_INT_EQ(keys_dispatch(&a, KEYS_ALT | '7'), DIRTY_INSPECTOR);
    CHECK_INT_EQ(a.view, VIEW_TOKEN);
    a.vctx.layer = 0;
    keys_dispatch(&a, '[');
    CHECK_INT_EQ(a.vctx.layer, 0);   /* clamped */
    keys_dispatch(&a, ']');
    keys_dispatch(&a, KEYS_CODE | KEY_DOWN);
    CHECK_INT_EQ(a.vctx.layer, 2);
    for (int i = 0; i < 9; i++)
        keys_dispatch(&a, ']');
    CHECK_INT_EQ(a.vctx.layer, 3);
    CHECK_INT_EQ(keys_dispatch(&a, KEYS_CODE | KEY_LEFT), DIRTY_INSPECTOR | DIRTY_TRANSCRIPT);
    CHECK_INT_EQ(a.sel, 3);
    keys_dispatch(&a, KEYS_CODE | KEY_HOME);
    CHECK_INT_EQ(a.sel, 0);
    keys_dispatch(&a, KEYS_CODE | KEY_LEFT);
    CHECK_INT_EQ(a.sel, 0);
    keys_dispatch(&a, KEYS_CODE | KEY_END);
    CHECK_INT_EQ(a.sel, -1);
    enum heat_mode h = a.vctx.heat;
    keys_dispatch(&a, 'h');
    CHECK_INT_EQ(a.vctx.heat, (h + 1) % HEAT_MODE_COUNT);
    /* A key no row has does nothing there (no input line in a test). */
    CHECK_INT_EQ(keys_dispatch(&a, KEYS_CTRL('R')), 0);
    CHECK_INT_EQ(keys_dispatch(&a, 'q'), DIRTY_ALL);
    CHECK_INT_EQ(a.focus, FOCUS_INPUT);
    app_free(&a);
}

/* The model picker is a state: typing filters (every word, case ignored, on the name,
 * file, architecture or main type), Backspace and Ctrl-U undo it, Up/Down/Home/End move
 * within the matches, Ctrl-C passes through, Esc closes and frees the list. */
TEST(keys_picker_state)
{
    struct app a;
    app_bare(&a);
    struct picker_state *p = &a.picker;
    static const char *const names[][3] = {
        { "qwen3:30b-a3b", "qwen3moe", "q4_K" },
        { "Qwen/Qwen1.5-MoE-A2.7B-GGUF:model-q8_0.gguf", "qwen2moe", "q8_0" },
        { "mixtral:8x7b", "llama", "q4_0" },
        { "./broken.gguf", "", "" },
    };
    p->list.n = p->list.cap = 4;
    p->list.v = calloc(4, sizeof *p->list.v);
    p->match = calloc(4, sizeof *p->match);
    CHECK(p->list.v && p->match);
    if (!p->list.v || !p->match)
        return;
    for (int i = 0; i < 4; i++) {
        struct model_entry *e = &p->list.v[i];
        snprintf(e->name, sizeof e->name, "%s", names[i][0]);
        snprintf(e->path, sizeof e->path, "/models/%d.gguf", i);
        snprintf(e->desc.arch, sizeof e->desc.arch, "%s", names[i][1]);
        snprintf(e->main_type, sizeof e->main_type, "%s", names[i][2]);
        e->described = i < 3;
    }
    picker_set_filter(p, "", 0);
    p->open = true;
    CHECK_INT_EQ(p->n_match, 4);
    keys_dispatch(&a, 'Q');
    keys_dispatch(&a, 'W');
    CHECK_STR_EQ(p->filter, "QW");
    CHECK_INT_EQ(p->n_match, 2);            /* both qwens, case ignored */
    keys_dispatch(&a, ' ');
    keys_dispatch(&a, '8');
    CHECK_INT_EQ(p->n_match, 1);            /* every word: qwen and q8_0 */
    CHECK_INT_EQ(p->match[0], 1);
    keys_dispatch(&a, 127);
    keys_dispatch(&a, KEYS_CODE | KEY_BACKSPACE);
    CHECK_STR_EQ(p->filter, "QW");
    keys_dispatch(&a, KEYS_CODE | KEY_DOWN);
    CHECK_INT_EQ(p->sel, 1);
    keys_dispatch(&a, KEYS_CODE | KEY_DOWN);
    CHECK_INT_EQ(p->sel, 1);                /* the last match stays chosen */
    keys_dispatch(&a, KEYS_CTRL('U'));
    CHECK_INT_EQ(p->n_match, 4);
    CHECK_INT_EQ(p->sel, 0);
    keys_dispatch(&a, KEYS_CODE | KEY_END);
    CHECK_INT_EQ(p->sel, 3);
    keys_dispatch(&a, KEYS_CODE | KEY_UP);
    CHECK_INT_EQ(p->sel, 2);
    keys_dispatch(&a, 0x00e9);              /* a non-ASCII character is typed as UTF-8 */
    CHECK_STR_EQ(p->filter, "\xc3\xa9");
    CHECK_INT_EQ(p->n_match, 0);
    keys_dispatch(&a, KEYS_CODE | KEY_BACKSPACE); /* one character, both bytes */
    CHECK_INT_EQ(p->filter_len, 0);
    keys_dispatch(&a, 'l');
    keys_dispatch(&a, 'l');
    keys_dispatch(&a, 'a');
    CHECK_INT_EQ(p->n_match, 1);            /* the architecture matches too */
    CHECK_INT_EQ(a.view, VIEW_OVERVIEW);
    keys_dispatch(&a, KEYS_CTRL('C'));
    CHECK_INT_EQ(a.ctrl_c, 1);
    CHECK(p->open);
    keys_dispatch(&a, KEYS_ESC);
    CHECK(!p->open);
    CHECK(p->list.v == NULL && p->match == NULL);
    CHECK(!a.quit);
    app_free(&a);
}

/* The keys screen is a state: it opens from F1 (and ? in the inspector), scrolls within
 * its lines, swallows characters, lets Ctrl-C through, and closes on q, ? and Esc. */
TEST(keys_help_state)
{
    struct app a;
    app_bare(&a);
    CHECK_INT_EQ(keys_dispatch(&a, KEYS_CODE | KEY_F(1)), DIRTY_ALL);
    CHECK(a.help.open);
    keys_dispatch(&a, KEYS_CODE | KEY_UP);
    CHECK_INT_EQ(a.help.scroll, 0);
    keys_dispatch(&a, KEYS_CODE | KEY_NPAGE);
    CHECK_INT_EQ(a.help.scroll, 10);
    for (int i = 0; i < 20; i++)
        keys_dispatch(&a, KEYS_CODE | KEY_NPAGE);
    CHECK_INT_EQ(a.help.scroll, help_lines());
    keys_dispatch(&a, '2');   /* swallowed: no view change behind the screen */
    CHECK(a.help.open);
    CHECK_INT_EQ(a.view, VIEW_OVERVIEW);
    keys_dispatch(&a, KEYS_CTRL('C'));
    CHECK_INT_EQ(a.ctrl_c, 1);
    CHECK(a.help.open);
    keys_dispatch(&a, KEYS_ESC);
    CHECK(!a.help.open);
    CHECK(!a.quit);
    a.focus = FOCUS_INSPECTOR;
    keys_dispatch(&a, '?');
    CHECK(a.help.open);
    CHECK_INT_EQ(a.help.scroll, 0);
    keys_dispatch(&a, 'q');
    CHECK(!a.help.open);
    CHECK_INT_EQ(a.focus, FOCUS_INSPECTOR);   /* q closed the screen, nothing more */
    /* Ctrl-C twice quits; another key between the two starts the count again. */
    keys_dispatch(&a, KEYS_CTRL('C'));
    keys_dispatch(&a, 'h');
    keys_dispatch(&a, KEYS_CTRL('C'));
    CHECK(!a.quit);
    keys_dispatch(&a, KEYS_CTRL('C'));
    CHECK(a.quit);
    /* The screen's lines: one a joined row ("Up / Down"), then the commands. */
    int named = 0;
    for (size_t i = 0; i < key_table_count; i++)
        named += key_table[i].name != NULL;
    int key_lines = help_lines() - 2 - (int)slash_command_count;
    CHECK(key_lines > 20);
    CHECK(key_lines < named);
    app_free(&a);
}
