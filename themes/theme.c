/* themes/theme.c: the theme parser and the built-in themes.
 *
 * The built-ins are kept as theme text and parsed like a user's file, so the files in
 * themes/NAME.theme and the compiled-in copies can be compared by a test, and every built-in
 * exercises the parser. Limits: a theme file is at most THEME_FILE_MAX bytes. */
#include "theme.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_open.h"

enum { THEME_FILE_MAX = 1 << 20 };

const char *const theme_role_names[THEME_ROLE_COUNT] = {
    [THEME_TEXT] = "text",
    [THEME_DIM] = "dim",
    [THEME_TITLE] = "title",
    [THEME_BORDER] = "border",
    [THEME_BORDER_FOCUS] = "border_focus",
    [THEME_SELECTION] = "selection",
    [THEME_STATUS] = "status",
    [THEME_KEY] = "key",
    [THEME_WARNING] = "warning",
    [THEME_ERROR] = "error",
    [THEME_USER] = "user",
    [THEME_ASSISTANT] = "assistant",
    [THEME_INPUT] = "input",
    [THEME_ESCAPE] = "escape",
    [THEME_PROMPT] = "prompt",
    [THEME_SPARK_ENTROPY] = "spark_entropy",
    [THEME_SPARK_LATENCY] = "spark_latency",
    [THEME_PREFILL] = "prefill",
    [THEME_BAR] = "bar",
    [THEME_HEAT_1 + 0] = "heat1",
    [THEME_HEAT_1 + 1] = "heat2",
    [THEME_HEAT_1 + 2] = "heat3",
    [THEME_HEAT_1 + 3] = "heat4",
    [THEME_HEAT_1 + 4] = "heat5",
    [THEME_HEAT_1 + 5] = "heat6",
    [THEME_HEAT_1 + 6] = "heat7",
    [THEME_HEAT_1 + 7] = "heat8",
    [THEME_EXPERT_1 + 0] = "expert1",
    [THEME_EXPERT_1 + 1] = "expert2",
    [THEME_EXPERT_1 + 2] = "expert3",
    [THEME_EXPERT_1 + 3] = "expert4",
    [THEME_EXPERT_1 + 4] = "expert5",
    [THEME_EXPERT_1 + 5] = "expert6",
    [THEME_EXPERT_1 + 6] = "expert7",
    [THEME_EXPERT_1 + 7] = "expert8",
};

/* ---------------------------------------------------------------- built-in themes */

/* Expert palette: Okabe & Ito (2008), safe for the common colour-vision deficiencies, with
 * its black replaced by a grey so it shows on dark backgrounds. Heat scale: viridis
 * (perceptually uniform, colour-blind safe), sampled at 8 steps. */
static const char theme_dark_text[] =
    "# moescope theme: dark (the default)\n"
    "text          = default default\n"
    "dim           = 244 default\n"
    "title         = bright-white default bold\n"
    "border        = 240 default\n"
    "border_focus  = #56b4e9 default bold\n"
    "selection     = black #e69f00 bold\n"
    "status        = 252 236\n"
    "key           = #f0e442 236 bold\n"
    "warning       = #e69f00 default bold\n"
    "error         = #d55e00 default bold\n"
    "user          = #56b4e9 default bold\n"
    "assistant     = default default\n"
    "input         = default default\n"
    "escape        = #cc79a7 default\n"
    "prompt        = 246 default\n"
    "spark_entropy = #009e73 default\n"
    "spark_latency = #56b4e9 default\n"
    "prefill       = #e69f00 default\n"
    "bar           = #56b4e9 default\n"
    "heat1         = #440154 default\n"
    "heat2         = #46327e default\n"
    "heat3         = #365c8d default\n"
    "heat4         = #277f8e default\n"
    "heat5         = #1fa187 default\n"
    "heat6         = #4ac16d default\n"
    "heat7         = #a0da39 default\n"
    "heat8         = #fde725 default bold\n"
    "expert1       = black #e69f00\n"
    "expert2       = black #56b4e9\n"
    "expert3       = black #009e73\n"
    "expert4       = black #f0e442\n"
    "expert5       = bright-white #0072b2\n"
    "expert6       = black #d55e00\n"
    "expert7       = black #cc79a7\n"
    "expert8       = black #999999\n";

static const char theme_light_text[] =
    "# moescope theme: light\n"
    "text          = default default\n"
    "dim           = 244 default\n"
    "title         = black default bold\n"
    "border        = 248 default\n"
    "border_focus  = #0072b2 default bold\n"
    "selection     = black #f0e442 bold\n"
    "status        = 235 252\n"
    "key           = #0072b2 252 bold\n"
    "warning       = #d55e00 default bold\n"
    "error         = #d55e00 default bold underline\n"
    "user          = #0072b2 default bold\n"
    "assistant     = default default\n"
    "input         = default default\n"
    "escape        = #cc79a7 default bold\n"
    "prompt        = 243 default\n"
    "spark_entropy = #009e73 default\n"
    "spark_latency = #0072b2 default\n"
    "prefill       = #d55e00 default\n"
    "bar           = #0072b2 default\n"
    "heat1         = #fde725 default\n"
    "heat2         = #a0da39 default\n"
    "heat3         = #4ac16d default\n"
    "heat4         = #1fa187 default\n"
    "heat5         = #277f8e default\n"
    "heat6         = #365c8d default\n"
    "heat7         = #46327e default\n"
    "heat8         = #440154 default bold\n"
    "expert1       = black #e69f00\n"
    "expert2       = black #56b4e9\n"
    "expert3       = black #009e73\n"
    "expert4       = black #f0e442\n"
    "expert5       = bright-white #0072b2\n"
    "expert6       = black #d55e00\n"
    "expert7       = black #cc79a7\n"
    "expert8       = black #bbbbbb\n";

/* High contrast: white on black, bold everywhere it helps, only saturated colours. */
static const char theme_high_contrast_text[] =
    "# moescope theme: high-contrast\n"
    "text          = bright-white black\n"
    "dim           = white black\n"
    "title         = bright-yellow black bold underline\n"
    "border        = bright-white black\n"
    "border_focus  = bright-yellow black bold\n"
    "selection     = black bright-yellow bold\n"
    "status        = black bright-white bold\n"
    "key           = black bright-yellow bold\n"
    "warning       = bright-yellow black bold\n"
    "error         = bright-red black bold underline\n"
    "user          = bright-cyan black bold\n"
    "assistant     = bright-white black\n"
    "input         = bright-white black bold\n"
    "escape        = black bright-magenta bold\n"
    "prompt        = white black\n"
    "spark_entropy = bright-green black bold\n"
    "spark_latency = bright-cyan black bold\n"
    "prefill       = bright-yellow black bold\n"
    "bar           = bright-cyan black bold\n"
    "heat1         = blue black\n"
    "heat2         = bright-blue black\n"
    "heat3         = cyan black\n"
    "heat4         = bright-cyan black\n"
    "heat5         = green black bold\n"
    "heat6         = bright-green black bold\n"
    "heat7         = yellow black bold\n"
    "heat8         = bright-yellow black bold\n"
    "expert1       = black #e69f00 bold\n"
    "expert2       = black #56b4e9 bold\n"
    "expert3       = black #009e73 bold\n"
    "expert4       = black #f0e442 bold\n"
    "expert5       = bright-white #0072b2 bold\n"
    "expert6       = black #d55e00 bold\n"
    "expert7       = black #cc79a7 bold\n"
    "expert8       = black bright-white bold\n";

/* Mono: no colour at all (NO_COLOR); roles differ by attributes, the heat scale by its
 * shade characters. */
static const char theme_mono_text[] =
    "# moescope theme: mono (no colour; used when NO_COLOR is set)\n"
    "text          = default default\n"
    "dim           = default default dim\n"
    "title         = default default bold\n"
    "border        = default default\n"
    "border_focus  = default default bold\n"
    "selection     = default default reverse bold\n"
    "status        = default default reverse\n"
    "key           = default default reverse bold\n"
    "warning       = default default bold\n"
    "error         = default default bold underline\n"
    "user          = default default bold\n"
    "assistant     = default default\n"
    "input         = default default\n"
    "escape        = default default underline\n"
    "prompt        = default default dim\n"
    "spark_entropy = default default\n"
    "spark_latency = default default\n"
    "prefill       = default default dim\n"
    "bar           = default default\n"
    "heat1         = default default dim\n"
    "heat2         = default default dim\n"
    "heat3         = default default\n"
    "heat4         = default default\n"
    "heat5         = default default\n"
    "heat6         = default default bold\n"
    "heat7         = default default bold\n"
    "heat8         = default default bold\n"
    "expert1       = default default reverse\n"
    "expert2       = default default underline\n"
    "expert3       = default default bold\n"
    "expert4       = default default reverse bold\n"
    "expert5       = default default underline bold\n"
    "expert6       = default default dim\n"
    "expert7       = default default reverse underline\n"
    "expert8       = default default\n";

static const struct {
    const char *name;
    const char *text;
} theme_builtins[] = {
    { "dark", theme_dark_text },
    { "light", theme_light_text },
    { "high-contrast", theme_high_contrast_text },
    { "mono", theme_mono_text },
};

const char *const theme_builtin_names[] = { "dark", "light", "high-contrast", "mono" };
const size_t theme_builtin_count = sizeof theme_builtins / sizeof theme_builtins[0];

static void theme_set_name(struct theme *th, const char *name)
{
    snprintf(th->name, sizeof th->name, "%s", name);
}

int theme_builtin(const char *name, struct theme *out)
{
    for (size_t i = 0; i < theme_builtin_count; i++) {
        if (strcmp(name, theme_builtins[i].name) != 0)
            continue;
        memset(out, 0, sizeof *out);
        /* A built-in that does not parse cleanly is a programmer error caught by the tests;
         * whatever parsed is still used. */
        theme_parse(out, theme_builtins[i].text, strlen(theme_builtins[i].text),
                    theme_builtins[i].name, NULL, 0);
        theme_set_name(out, name);
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- the parser */

/* Appends one printf-style message line to msg (truncated, terminated). */
__attribute__((format(printf, 3, 4))) static void theme_msg(char *msg, size_t msglen,
                                                            const char *fmt, ...)
{
    if (!msg || msglen == 0)
        return;
    size_t used = strnlen(msg, msglen);
    if (used >= msglen - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, msglen - used, fmt, ap);
    va_end(ap);
    used = strnlen(msg, msglen);
    if (used < msglen - 1) {
        msg[used] = '\n';
        msg[used + 1] = 0;
    }
}

/* A word of the input, quoted safely for a message: at most 24 bytes, unprintable as '?'. */
static void theme_quote(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < dstlen; i++) {
        if (i == 24) {
            memcpy(dst + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = 0;
}

static bool theme_word_eq(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    if (wl != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = (char)tolower((unsigned char)s[i]), b = word[i];
        if (a == '-')
            a = '_';
        if (b == '-')
            b = '_';
        if (a != b)
            return false;
    }
    return true;
}

static const char *const theme_color_names[8] = {
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
};

static int theme_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int theme_parse_color(const char *w, size_t n, struct theme_color *out)
{
    struct theme_color c = { 0 };
    if (n == 0)
        return -1;
    if (theme_word_eq(w, n, "default")) {
        c.kind = THEME_COLOR_DEFAULT;
    } else if (w[0] == '#') {
        if (n != 7)
            return -1;
        int v[6];
        for (int i = 0; i < 6; i++)
            if ((v[i] = theme_hex(w[1 + i])) < 0)
                return -1;
        c.kind = THEME_COLOR_RGB;
        c.r = (uint8_t)(v[0] * 16 + v[1]);
        c.g = (uint8_t)(v[2] * 16 + v[3]);
        c.b = (uint8_t)(v[4] * 16 + v[5]);
    } else if (isdigit((unsigned char)w[0])) {
        if (n > 3)
            return -1;
        int v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)w[i]))
                return -1;
            v = v * 10 + (w[i] - '0');
        }
        if (v > 255)
            return -1;
        c.kind = THEME_COLOR_INDEX;
        c.index = (uint8_t)v;
    } else {
        int base = 0;
        const char *name = w;
        size_t nl = n;
        if (n > 7 && theme_word_eq(w, 7, "bright_")) {
            base = 8;
            name += 7;
            nl -= 7;
        }
        int found = -1;
        for (int i = 0; i < 8; i++)
            if (theme_word_eq(name, nl, theme_color_names[i]))
                found = i;
        if (found < 0 && base == 0 && (theme_word_eq(w, n, "grey") || theme_word_eq(w, n, "gray")))
            found = 8;
        if (found < 0)
            return -1;
        c.kind = THEME_COLOR_INDEX;
        c.index = (uint8_t)(base + found);
    }
    *out = c;
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} theme_attr_names[] = {
    { "bold", THEME_ATTR_BOLD },         { "dim", THEME_ATTR_DIM },
    { "underline", THEME_ATTR_UNDERLINE }, { "reverse", THEME_ATTR_REVERSE },
    { "italic", THEME_ATTR_ITALIC },     { "standout", THEME_ATTR_STANDOUT },
    { "none", 0 },
};

static bool theme_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Next whitespace-separated word in [*p, end): sets *w and *n, returns false at the end. */
static bool theme_next_word(const char **p, const char *end, const char **w, size_t *n)
{
    const char *s = *p;
    while (s < end && theme_is_space(*s))
        s++;
    if (s == end) {
        *p = s;
        return false;
    }
    const char *e = s;
    while (e < end && !theme_is_space(*e))
        e++;
    *w = s;
    *n = (size_t)(e - s);
    *p = e;
    return true;
}

/* Parses one line (without its newline). Returns 0, or -1 after writing a message. */
static int theme_parse_line(struct theme *th, const char *s, const char *end, const char *file,
                            unsigned long line, char *msg, size_t msglen)
{
    char q[32];
    while (s < end && theme_is_space(*s))
        s++;
    if (s == end || *s == '#')
        return 0;
    if (memchr(s, 0, (size_t)(end - s))) {
        theme_msg(msg, msglen, "%s:%lu: NUL byte in line", file, line);
        return -1;
    }
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (!eq) {
        theme_msg(msg, msglen, "%s:%lu: expected 'role = foreground background attributes'",
                  file, line);
        return -1;
    }
    const char *ke = eq;
    while (ke > s && theme_is_space(ke[-1]))
        ke--;
    size_t kn = (size_t)(ke - s);
    int role = -1;
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        if (theme_word_eq(s, kn, theme_role_names[r]))
            role = r;
    if (role < 0) {
        theme_quote(q, sizeof q, s, kn);
        theme_msg(msg, msglen, "%s:%lu: unknown role '%s'", file, line, q);
        return -1;
    }

    struct theme_style st = { 0 };
    const char *p = eq + 1, *w;
    size_t n;
    if (!theme_next_word(&p, end, &w, &n)) {
        theme_msg(msg, msglen, "%s:%lu: %s: missing foreground colour", file, line,
                  theme_role_names[role]);
        return -1;
    }
    if (theme_parse_color(w, n, &st.fg) < 0) {
        theme_quote(q, sizeof q, w, n);
        theme_msg(msg, msglen, "%s:%lu: %s: bad foreground colour '%s'", file, line,
                  theme_role_names[role], q);
        return -1;
    }
    if (theme_next_word(&p, end, &w, &n) && theme_parse_color(w, n, &st.bg) < 0) {
        theme_quote(q, sizeof q, w, n);
        theme_msg(msg, msglen, "%s:%lu: %s: bad background colour '%s'", file, line,
                  theme_role_names[role], q);
        return -1;
    }
    while (theme_next_word(&p, end, &w, &n)) {
        size_t a = 0, na = sizeof theme_attr_names / sizeof theme_attr_names[0];
        while (a < na && !theme_word_eq(w, n, theme_attr_names[a].name))
            a++;
        if (a == na) {
            theme_quote(q, sizeof q, w, n);
            theme_msg(msg, msglen, "%s:%lu: %s: unknown attribute '%s'", file, line,
                      theme_role_names[role], q);
            return -1;
        }
        st.attrs |= theme_attr_names[a].bit;
    }
    th->style[role] = st;
    return 0;
}

int theme_parse(struct theme *th, const char *text, size_t len, const char *file, char *msg,
                size_t msglen)
{
    int bad = 0;
    unsigned long line = 1;
    const char *p = text, *end = text + len;
    if (!file)
        file = "(theme)";
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte-order mark some editors write */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (theme_parse_line(th, p, le, file, line, msg, msglen) < 0)
            bad++;
        line++;
        p = nl ? nl + 1 : end;
    }
    return bad;
}

/* ---------------------------------------------------------------- loading */

static bool theme_name_is_plain(const char *name)
{
    if (!name[0] || name[0] == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return false;
    return true;
}

/* Reads a whole file of at most THEME_FILE_MAX bytes. Returns a malloc'd buffer or NULL
 * with msg set; ENOENT is reported through *missing so the caller can fall back. */
static char *theme_read_file(const char *path, size_t *len, bool *missing, char *msg,
                             size_t msglen)
{
    *missing = false;
    char why[128];
    int fd = file_open_regular(path, NULL, why, sizeof why);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd < 0 && errno == ENOENT)
            *missing = true;
        theme_msg(msg, msglen, "%s: %s", path, fd < 0 ? why : strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc(THEME_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        theme_msg(msg, msglen, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, THEME_FILE_MAX + 1, f);
    bool err = ferror(f);
    fclose(f);
    if (err || n > THEME_FILE_MAX) {
        theme_msg(msg, msglen, "%s: %s", path,
                  err ? "read error" : "larger than 1 MiB, not a theme file");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void theme_user_dir(char *dir, size_t dirlen)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(dir, dirlen, "%s/moescope/themes", xdg);
    else if (home && home[0])
        snprintf(dir, dirlen, "%s/.config/moescope/themes", home);
    else
        dir[0] = 0;
}

int theme_load(const char *name, struct theme *out, char *msg, size_t msglen)
{
    if (msg && msglen)
        msg[0] = 0;
    if (!name || !name[0]) {
        const char *nc = getenv("NO_COLOR");
        theme_builtin(nc && nc[0] ? "mono" : "dark", out);
        return 0;
    }
    char path[4096];
    bool is_path = strchr(name, '/') != NULL;
    if (is_path) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        if (!theme_name_is_plain(name)) {
            theme_builtin("dark", out);
            theme_msg(msg, msglen, "theme name '%s' is not a plain name", name);
            return -1;
        }
        char dir[3500];
        theme_user_dir(dir, sizeof dir);
        size_t nl = strlen(name);
        bool has_ext = nl > 6 && strcmp(name + nl - 6, ".theme") == 0;
        if (dir[0])
            snprintf(path, sizeof path, "%s/%s%s", dir, name, has_ext ? "" : ".theme");
        else
            path[0] = 0;
    }

    size_t len = 0;
    bool missing = true;
    char rmsg[512] = "";
    char *text = path[0] ? theme_read_file(path, &len, &missing, rmsg, sizeof rmsg) : NULL;
    if (!text) {
        if (!is_path && missing && theme_builtin(name, out) == 0)
            return 0;
        theme_builtin("dark", out);
        if (!is_path && missing)
            theme_msg(msg, msglen, "unknown theme '%s' (not built in, no %s)", name,
                      path[0] ? path : "user theme directory");
        else
            theme_msg(msg, msglen, "%.*s", (int)strcspn(rmsg, "\n"), rmsg);
        return -1;
    }
    if (is_path || theme_builtin(name, out) < 0)
        theme_builtin("dark", out);
    theme_parse(out, text, len, path, msg, msglen);
    free(text);
    /* The name shown is the file's base name without .theme. */
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t bl = strlen(base);
    if (bl > 6 && strcmp(base + bl - 6, ".theme") == 0)
        bl -= 6;
    snprintf(out->name, sizeof out->name, "%.*s", (int)(bl < 63 ? bl : 63), base);
    return 0;
}

static int theme_name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int theme_list(char (*names)[64], int max)
{
    int n = 0;
    for (size_t i = 0; i < theme_builtin_count && n < max; i++)
        snprintf(names[n++], 64, "%s", theme_builtins[i].name);
    int first_user = n;
    char dir[3500];
    theme_user_dir(dir, sizeof dir);
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d)
        return n;
    struct dirent *e;
    while (n < max && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l <= 6 || l - 6 >= 64 || strcmp(e->d_name + l - 6, ".theme") != 0)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(l - 6), e->d_name);
        if (!theme_name_is_plain(name))
            continue;
        bool dup = false;
        for (int i = 0; i < first_user && !dup; i++)
            dup = strcmp(names[i], name) == 0;
        if (!dup)
            memcpy(names[n++], name, sizeof name);
    }
    closedir(d);
    qsort(names + first_user, (size_t)(n - first_user), sizeof names[0], theme_name_cmp);
    return n;
}
