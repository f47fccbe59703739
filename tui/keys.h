/* tui/keys.h: the keys as one table (keys.c): key, where it works, its handler, and the
 * words the keys screen (help.c) and the man page's KEYS section show for it. A handler
 * returns the dirty bits it causes; the loop applies them. */
#ifndef MOESCOPE_KEYS_H
#define MOESCOPE_KEYS_H

#include <stddef.h>

struct app;

/* Keys as the table spells them: a character (Unicode code point, Ctrl-x = KEYS_CTRL(x)),
 * a curses key code | KEYS_CODE, or Alt and an ASCII character | KEYS_ALT. */
enum {
    KEYS_ALT = 1 << 22,
    KEYS_CODE = 1 << 23,
    KEYS_CTRL_LEFT = KEYS_CODE | 0xfff0,  /* terminfo kLFT5: its code differs per terminal */
    KEYS_CTRL_RIGHT = KEYS_CODE | 0xfff1, /* kRIT5 */
    KEYS_ESC = 27,                        /* a lone Esc (Alt sequences are apart) */
};
#define KEYS_CTRL(c) ((c) & 0x1f)

/* Where a key works: the input line, the inspector, or both (the pane with focus). */
enum key_focus { KEYS_INPUT = 1, KEYS_INSPECTOR = 2, KEYS_ANYWHERE = 3 };

/* Returned with the dirty bits when a state does not take a key (help.c lets Ctrl-C
 * through to the table). */
enum { KEYS_PASS = 1 << 16 };

typedef unsigned (*key_fn)(struct app *a, int key);

struct key_binding {
    int key;
    enum key_focus focus;
    key_fn run;
    const char *name;   /* the key as the keys screen and the man page name it; NULL: not
                         * listed (another row says it) */
    const char *what;   /* what it does; rows next to each other with the same focus and
                         * words share a line ("Up / Down"); NULL: the view's own words */
};
extern const struct key_binding key_table[];
extern const size_t key_table_count;

/* Reads every key waiting and runs what each one means. */
void keys_read(struct app *a);
/* Runs one key (as the table spells it) in the current state. Returns the dirty bits. */
unsigned keys_dispatch(struct app *a, int key);
/* The words of a row (a view key's come from the view table). */
const char *keys_what(const struct key_binding *k);

#endif
