/* tui/help.c: the `?` screen: every key, where it works, what it does, and the slash
 * commands after them. The man page's KEYS section lists the same table. */
#include <string.h>

#include "app.h"
#include "commands_slash.h"
#include "draw.h"
#include "help.h"

const struct help_key help_keys[] = {
    { "Enter", "input", "send the message (or run a /command)" },
    { "Alt-Enter", "input", "new line in the message" },
    { "Tab", "input", "complete a /command, else go to the inspector" },
    { "Up / Down", "input", "history ($XDG_STATE_HOME/moescope/history)" },
    { "Ctrl-R", "input", "search history; every ~/.inputrc key works" },
    { "Esc", "anywhere", "stop the reply (idle, vi mode: command mode)" },
    { "Ctrl-C", "anywhere", "stop the reply / clear the line; twice: quit" },
    { "Ctrl-D", "input", "quit, on an empty line" },
    { "Ctrl-L", "anywhere", "redraw the screen" },
    { "Ctrl-S", "anywhere", "save the session (/save)" },
    { "Ctrl-Z", "anywhere", "suspend to the shell (fg comes back)" },
    { "PgUp / PgDn", "anywhere", "scroll the conversation" },
    { "End", "input", "on an empty line: back to the newest text" },
    { "F1  or  ?", "anywhere", "this screen (? on an empty input line)" },
    { "F2", "anywhere", "inspector on/off (small screens: swap panes)" },
    { "Tab  Shift-Tab", "inspector", "back to the input line" },
    { "Left / Right", "inspector", "select the previous / next token" },
    { "Home / End", "inspector", "first token / follow the newest" },
    { "Up / Down  [ ]", "inspector", "choose the layer (strip, entropy)" },
    { "0", "inspector", "overview: token, heatmap, entropy, latency" },
    { "1", "inspector", "token strip coloured by top-1 expert" },
    { "2", "inspector", "heatmap layers x experts" },
    { "3", "inspector", "routing entropy sparkline" },
    { "4", "inspector", "latency sparkline, TTFT, p50/p95/p99" },
    { "5", "inspector", "balance per layer: load, CV, MaxVio, locality" },
    { "6", "inspector", "time split: attention, router, experts" },
    { "7", "inspector", "the selected token in detail" },
    { "Alt-0 .. Alt-7", "anywhere", "the same views from the input line" },
    { "h", "inspector", "heatmap: selected token / session / last 64" },
    { "e", "inspector", "entropy: mean over layers / the chosen layer" },
};
const size_t help_key_count = sizeof help_keys / sizeof help_keys[0];

int help_lines(void)
{
    return (int)(help_key_count + slash_command_count) + 2;
}

void help_draw(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int h, wd;
    getmaxyx(w, h, wd);
    werase(w);
    wbkgdset(w, ' ' | draw_attr(th, THEME_TEXT));
    wattrset(w, draw_attr(th, THEME_BORDER_FOCUS));
    box(w, 0, 0);
    draw_printf(w, 0, 2, wd - 4, draw_attr(th, THEME_TITLE), " moescope keys ");
    const char *close = " Esc, q or F1 closes  PgUp/PgDn scroll ";
    int cw = (int)strlen(close);
    draw_printf(w, h - 1, wd - cw - 2 > 2 ? wd - cw - 2 : 2, wd - 4, draw_attr(th, THEME_DIM),
                "%s", close);
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
        if (k < (int)help_key_count) {
            const struct help_key *hk = &help_keys[k];
            draw_printf(w, y, 2, 15, ka, "%s", hk->keys);
            draw_printf(w, y, 18, 10, da, "%s", hk->where);
            draw_printf(w, y, 29, wd - 31, ta, "%s", hk->what);
            continue;
        }
        k -= (int)help_key_count;
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
            draw_printf(w, y, x + 1, 27 - x, da, "%s", c->args);
            draw_printf(w, y, 29, wd - 31, ta, "%s", c->help);
        }
    }
}
