/* tests/tui_test_theme.c: the theme parser, the built-ins and the loader (no terminal). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "theme.h"

static bool th_equal_styles(const struct theme *a, const struct theme *b, int *role)
{
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        if (memcmp(&a->style[r], &b->style[r], sizeof a->style[r]) != 0) {
            *role = r;
            return false;
        }
    return true;
}

static char *th_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[*len] = 0;
    return buf;
}

TEST(theme_builtins_parse_and_match_their_files)
{
    CHECK_INT_EQ(theme_builtin_count, 4);
    for (size_t i = 0; i < theme_builtin_count; i++) {
        const char *name = theme_builtin_names[i];
        struct theme b;
        CHECK_INT_EQ(theme_builtin(name, &b), 0);
        CHECK_STR_EQ(b.name, name);
        char path[256];
        snprintf(path, sizeof path, "themes/%s.theme", name);
        size_t len;
        char *text = th_read(path, &len);
        if (!text) {
            test_skip("themes/*.theme not found from %s (run from the source tree)", ".");
            return;
        }
        /* The file parses with no bad line and gives every role the built-in's value. */
        struct theme f;
        memset(&f, 0xff, sizeof f);
        char msg[1024] = "";
        CHECK_INT_EQ(theme_parse(&f, text, len, path, msg, sizeof msg), 0);
        CHECK_STR_EQ(msg, "");
        int role = -1;
        CHECK_MSG(th_equal_styles(&f, &b, &role), "%s: role %s differs from the built-in", path,
                  role >= 0 ? theme_role_names[role] : "?");
    }
    struct theme x;
    CHECK_INT_EQ(theme_builtin("nope", &x), -1);
}

TEST(theme_role_names_complete_and_unique)
{
    for (int r = 0; r < THEME_ROLE_COUNT; r++) {
        CHECK_MSG(theme_role_names[r] && theme_role_names[r][0], "role %d has no name", r);
        for (int s = 0; s < r; s++)
            if (theme_role_names[r] && theme_role_names[s])
                CHECK_MSG(strcmp(theme_role_names[r], theme_role_names[s]) != 0,
                          "roles %d and %d share a name", r, s);
    }
    CHECK_STR_EQ(theme_role_names[THEME_HEAT_8], "heat8");
    CHECK_STR_EQ(theme_role_names[THEME_EXPERT_1], "expert1");
}

TEST(theme_expert_palette_is_okabe_ito)
{
    /* Okabe & Ito's colour-blind-safe set (black swapped for grey): the dark theme's expert
     * backgrounds are exactly these, all different. */
    static const uint8_t want[8][3] = {
        { 0xe6, 0x9f, 0x00 }, { 0x56, 0xb4, 0xe9 }, { 0x00, 0x9e, 0x73 }, { 0xf0, 0xe4, 0x42 },
        { 0x00, 0x72, 0xb2 }, { 0xd5, 0x5e, 0x00 }, { 0xcc, 0x79, 0xa7 }, { 0x99, 0x99, 0x99 },
    };
    struct theme t;
    theme_builtin("dark", &t);
    for (int e = 0; e < 8; e++) {
        const struct theme_color *c = &t.style[THEME_EXPERT_1 + e].bg;
        CHECK_INT_EQ(c->kind, THEME_COLOR_RGB);
        CHECK_MSG(c->r == want[e][0] && c->g == want[e][1] && c->b == want[e][2],
                  "expert%d is #%02x%02x%02x", e + 1, c->r, c->g, c->b);
    }
    /* mono has no colour at all and tells the experts apart by attributes */
    theme_builtin("mono", &t);
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        CHECK(t.style[r].fg.kind == THEME_COLOR_DEFAULT && t.style[r].bg.kind == THEME_COLOR_DEFAULT);
    for (int e = 0; e < 8; e++)
        for (int f = 0; f < e; f++)
            CHECK(t.style[THEME_EXPERT_1 + e].attrs != t.style[THEME_EXPERT_1 + f].attrs);
}

TEST(theme_parse_colours)
{
    struct theme_color c;
    CHECK_INT_EQ(theme_parse_color("#FF8800", 7, &c), 0);
    CHECK(c.kind == THEME_COLOR_RGB && c.r == 255 && c.g == 0x88 && c.b == 0);
    CHECK_INT_EQ(theme_parse_color("bright-red", 10, &c), 0);
    CHECK(c.kind == THEME_COLOR_INDEX && c.index == 9);
    CHECK_INT_EQ(theme_parse_color("Blue", 4, &c), 0);
    CHECK(c.kind == THEME_COLOR_INDEX && c.index == 4);
    CHECK_INT_EQ(theme_parse_color("255", 3, &c), 0);
    CHECK(c.kind == THEME_COLOR_INDEX && c.index == 255);
    CHECK_INT_EQ(theme_parse_color("default", 7, &c), 0);
    CHECK_INT_EQ(c.kind, THEME_COLOR_DEFAULT);
    CHECK_INT_EQ(theme_parse_color("256", 3, &c), -1);
    CHECK_INT_EQ(theme_parse_color("#12345", 6, &c), -1);
    CHECK_INT_EQ(theme_parse_color("#12345g", 7, &c), -1);
    CHECK_INT_EQ(theme_parse_color("bright-", 7, &c), -1);
    CHECK_INT_EQ(theme_parse_color("", 0, &c), -1);
}

TEST(theme_bad_lines_name_file_and_line)
{
    struct theme t, dark;
    theme_builtin("dark", &t);
    theme_builtin("dark", &dark);
    const char text[] = "# my theme\n"
                        "text = #ff8800 default bold\n"      /* 2: good */
                        "sparkle = red blue\n"               /* 3: unknown role */
                        "title = red #zzzzzz\n"              /* 4: bad background */
                        "\n"
                        "dim = red blue blink\n"             /* 6: unknown attribute */
                        "border\n"                           /* 7: no '=' */
                        "heat2 =\n"                          /* 8: no colour */
                        "  expert3 = 208 default underline\r\n"; /* 9: good, CRLF */
    char msg[1024] = "";
    int bad = theme_parse(&t, text, sizeof text - 1, "mine.theme", msg, sizeof msg);
    CHECK_INT_EQ(bad, 5);
    CHECK(strstr(msg, "mine.theme:3: unknown role 'sparkle'") != NULL);
    CHECK(strstr(msg, "mine.theme:4: title: bad background colour '#zzzzzz'") != NULL);
    CHECK(strstr(msg, "mine.theme:6: dim: unknown attribute 'blink'") != NULL);
    CHECK(strstr(msg, "mine.theme:7: expected 'role = foreground background attributes'") != NULL);
    CHECK(strstr(msg, "mine.theme:8: heat2: missing foreground colour") != NULL);
    /* good lines apply; bad lines leave their role at the base value */
    CHECK(t.style[THEME_TEXT].fg.kind == THEME_COLOR_RGB && t.style[THEME_TEXT].fg.g == 0x88);
    CHECK_INT_EQ(t.style[THEME_TEXT].attrs, THEME_ATTR_BOLD);
    CHECK(t.style[THEME_EXPERT_1 + 2].fg.index == 208 &&
          t.style[THEME_EXPERT_1 + 2].attrs == THEME_ATTR_UNDERLINE);
    CHECK(memcmp(&t.style[THEME_TITLE], &dark.style[THEME_TITLE], sizeof t.style[0]) == 0);
    CHECK(memcmp(&t.style[THEME_DIM], &dark.style[THEME_DIM], sizeof t.style[0]) == 0);
    CHECK(memcmp(&t.style[THEME_HEAT_1 + 1], &dark.style[THEME_HEAT_1 + 1], sizeof t.style[0]) == 0);

    /* A byte-order mark at the start is not part of the first role's name. */
    msg[0] = 0;
    CHECK_INT_EQ(theme_parse(&t, "\xEF\xBB\xBFtitle = red", 14, "bom.theme", msg, sizeof msg), 0);
    CHECK_INT_EQ(t.style[THEME_TITLE].fg.index, 1);

    /* A tiny message buffer is truncated but terminated. */
    char small[16];
    small[0] = 0;
    CHECK_INT_EQ(theme_parse(&t, text, sizeof text - 1, "mine.theme", small, sizeof small), 5);
    CHECK(strlen(small) < sizeof small);
    /* Binary garbage never crashes and reports lines. */
    char junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 37 + 11);
    msg[0] = 0;
    CHECK(theme_parse(&t, junk, sizeof junk, "junk", msg, sizeof msg) > 0);
    CHECK(strncmp(msg, "junk:", 5) == 0);
}

TEST(theme_load_user_dir_builtin_and_no_color)
{
    const char *tmp = test_tmp_dir();
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/moescope", tmp);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/moescope/themes", tmp);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/ocean.theme", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("title = #0000ff default bold\nwat = 1 2\n", f);
    fclose(f);
    char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    char *old_nc = getenv("NO_COLOR") ? strdup(getenv("NO_COLOR")) : NULL;
    setenv("XDG_CONFIG_HOME", tmp, 1);

    struct theme t, dark;
    theme_builtin("dark", &dark);
    char msg[512];
    CHECK_INT_EQ(theme_load("ocean", &t, msg, sizeof msg), 0);
    CHECK_STR_EQ(t.name, "ocean");
    CHECK(t.style[THEME_TITLE].fg.kind == THEME_COLOR_RGB && t.style[THEME_TITLE].fg.b == 255);
    char want[700];
    snprintf(want, sizeof want, "%s:2: unknown role 'wat'", path);
    CHECK_MSG(strstr(msg, want) != NULL, "message: %s", msg);
    /* roles the file does not name are the dark theme's */
    CHECK(memcmp(&t.style[THEME_TEXT], &dark.style[THEME_TEXT], sizeof t.style[0]) == 0);

    CHECK_INT_EQ(theme_load("light", &t, msg, sizeof msg), 0);
    CHECK_STR_EQ(t.name, "light");
    CHECK_INT_EQ(theme_load("no-such-theme", &t, msg, sizeof msg), -1);
    CHECK_STR_EQ(t.name, "dark");
    CHECK(strstr(msg, "no-such-theme") != NULL);
    CHECK_INT_EQ(theme_load("../etc", &t, msg, sizeof msg), -1); /* a path: no such file */
    CHECK_INT_EQ(theme_load(path, &t, msg, sizeof msg), 0);      /* a path to a file */
    CHECK_STR_EQ(t.name, "ocean");

    /* the list for /theme completion: built-ins, then the user's */
    snprintf(path, sizeof path, "%s/dark.theme", dir); /* shadows a built-in: listed once */
    f = fopen(path, "w");
    if (f)
        fclose(f);
    char names[16][64];
    int nn = theme_list(names, 16);
    CHECK_INT_EQ(nn, 5);
    if (nn == 5) {
        CHECK_STR_EQ(names[0], "dark");
        CHECK_STR_EQ(names[3], "mono");
        CHECK_STR_EQ(names[4], "ocean");
    }
    CHECK_INT_EQ(theme_list(names, 2), 2);

    unsetenv("NO_COLOR");
    CHECK_INT_EQ(theme_load(NULL, &t, msg, sizeof msg), 0);
    CHECK_STR_EQ(t.name, "dark");
    setenv("NO_COLOR", "1", 1);
    CHECK_INT_EQ(theme_load(NULL, &t, msg, sizeof msg), 0);
    CHECK_STR_EQ(t.name, "mono");
    setenv("NO_COLOR", "", 1); /* empty: not set, per no-color.org */
    CHECK_INT_EQ(theme_load("", &t, msg, sizeof msg), 0);
    CHECK_STR_EQ(t.name, "dark");

    if (old_nc)
        setenv("NO_COLOR", old_nc, 1);
    else
        unsetenv("NO_COLOR");
    if (old_xdg)
        setenv("XDG_CONFIG_HOME", old_xdg, 1);
    else
        unsetenv("XDG_CONFIG_HOME");
    free(old_nc);
    free(old_xdg);
}
