/* tui/commands_slash.c: the slash commands as one table: name, arguments, help, whether
 * they may run while a reply streams, and the handler. /help, Tab completion, the `?`
 * screen and the man page all read from here (the man page by hand). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_session.h"
#include "commands_slash.h"
#include "conversation.h"
#include "model_store.h"
#include "picker.h"
#include "text_escape.h"

static int cmd_help(struct app *a, const char *args)
{
    (void)args;
    char buf[2048];
    size_t off = 0;
    off += (size_t)snprintf(buf + off, sizeof buf - off, "Commands (Tab completes them):");
    for (size_t i = 0; i < slash_command_count && off < sizeof buf; i++) {
        const struct slash_command *c = &slash_commands[i];
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
        off += (size_t)snprintf(buf + off, sizeof buf - off, "\n%-15s %s", head, c->help);
    }
    if (off < sizeof buf)
        snprintf(buf + off, sizeof buf - off, "\nF1 (or ? on an empty line) shows every key.");
    conversation_note(a, MSG_NOTE, "%s", buf);
    return 0;
}

static int cmd_clear(struct app *a, const char *args)
{
    (void)args;
    if (conversation_reset(a) < 0)
        return -1;
    app_session_forget(a);
    app_message(a, false, "conversation cleared%s", a->system ? " (the system prompt stays)" : "");
    return 0;
}

static int cmd_system(struct app *a, const char *args)
{
    if (conversation_set_system(a, args) < 0)
        return -1;
    if (a->system)
        conversation_note(a, MSG_NOTE, "system prompt: %s", a->system);
    else
        conversation_note(a, MSG_NOTE, "system prompt removed");
    return 0;
}

/* The /set keys: name, where the value goes, its range. */
struct set_key {
    const char *name;
    const char *what;
    double lo, hi;
    bool integer;
};
static const struct set_key set_keys[] = {
    { "temp", "temperature, 0 = greedy", 0, 100, false },
    { "top_k", "keep the k likeliest tokens, 0 = off", 0, 1e9, true },
    { "top_p", "nucleus mass, 1 = off", 0, 1, false },
    { "min_p", "drop tokens under min_p x the best, 0 = off", 0, 1, false },
    { "seed", "random seed, or 'random'", 0, 1.8e19, true },
};

static void sampler_describe(const struct app *a, char *buf, size_t len)
{
    const struct sampler_params *s = &a->sampler;
    char seed[32];
    if (s->seed == UINT64_MAX)
        snprintf(seed, sizeof seed, "random");
    else
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    snprintf(buf, len, "temp %.2f  top_k %d  top_p %.2f  min_p %.2f  seed %s", s->temp,
             s->top_k, s->top_p, s->min_p, seed);
}

static int cmd_set(struct app *a, const char *args)
{
    char key[32] = "", val[64] = "", extra[8] = "";
    int n = args ? sscanf(args, "%31s %63s %7s", key, val, extra) : 0;
    char cur[160];
    if (n <= 0) {
        sampler_describe(a, cur, sizeof cur);
        conversation_note(a, MSG_NOTE, "sampler: %s", cur);
        return 0;
    }
    const struct set_key *k = NULL;
    for (size_t i = 0; i < sizeof set_keys / sizeof set_keys[0]; i++)
        if (!strcmp(key, set_keys[i].name))
            k = &set_keys[i];
    if (!k) {
        app_message(a, true, "/set: no setting '%s'; try temp, top_k, top_p, min_p or seed", key);
        return -1;
    }
    if (n < 2) {
        app_message(a, true, "/set %s needs a value (%s)", k->name, k->what);
        return -1;
    }
    if (n > 2) {
        app_message(a, true, "/set %s takes one value", k->name);
        return -1;
    }
    if (!strcmp(k->name, "seed") && !strcmp(val, "random")) {
        a->sampler.seed = UINT64_MAX;
    } else {
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (end == val || *end || errno || v != v || v < k->lo || v > k->hi ||
            (k->integer && v != (double)(long long)v)) {
            app_message(a, true, "/set %s: '%s' is not %s in [%g, %g]", k->name, val,
                        k->integer ? "a whole number" : "a number", k->lo, k->hi);
            return -1;
        }
        if (!strcmp(k->name, "temp"))
            a->sampler.temp = (float)v;
        else if (!strcmp(k->name, "top_k"))
            a->sampler.top_k = (int)v;
        else if (!strcmp(k->name, "top_p"))
            a->sampler.top_p = (float)v;
        else if (!strcmp(k->name, "min_p"))
            a->sampler.min_p = (float)v;
        else
            a->sampler.seed = strtoull(val, NULL, 10);
    }
    sampler_describe(a, cur, sizeof cur);
    app_message(a, false, "sampler: %s (from the next reply)", cur);
    return 0;
}

static int cmd_regen(struct app *a, const char *args)
{
    (void)args;
    return conversation_regen(a);
}

/* A file argument as a shell would take it: ~ and ~/... are the home folder ($HOME). */
static const char *slash_path(const char *arg, char *buf, size_t buflen)
{
    const char *home = getenv("HOME");
    if (arg[0] != '~' || (arg[1] && arg[1] != '/') || !home || !home[0])
        return arg;
    if ((size_t)snprintf(buf, buflen, "%s%s", home, arg + 1) >= buflen)
        return arg;
    return buf;
}

static int cmd_save(struct app *a, const char *args)
{
    char buf[4096];
    return app_session_save(a, args && *args ? slash_path(args, buf, sizeof buf) : NULL, true);
}

static int cmd_export(struct app *a, const char *args)
{
    char format[16];
    int used = 0;
    if (!args || sscanf(args, "%15s %n", format, &used) != 1 || !args[used]) {
        app_message(a, true, "/export needs a format and a file: /export md|csv|ndjson|html FILE");
        return -1;
    }
    char buf[4096];
    return app_session_export(a, format, slash_path(args + used, buf, sizeof buf));
}

static int cmd_load(struct app *a, const char *args)
{
    if (!args || !*args) {
        app_message(a, true, "/load needs a file: /load FILE");
        return -1;
    }
    char buf[4096];
    return app_session_load(a, slash_path(args, buf, sizeof buf));
}

int slash_model_switch(struct app *a, const char *path)
{
    struct model_desc d;
    char why[512], err[4096 + 600];
    int rc = 0;
    if (model_check(path, &d, why, sizeof why) != 0) {
        snprintf(err, sizeof err, "%s: %s", path, why);
        rc = -1;
    }
    if (rc == 0 && app_switch_model(a, path, err, sizeof err) != 0)
        rc = -1;
    if (rc != 0) {
        conversation_note(a, MSG_ERROR, "/model: %s; %s stays open", err, a->model_label);
        return -1;
    }
    conversation_note(a, MSG_NOTE, "opening %s (%s); %s answers until it is open, and the "
                      "conversation stays and goes to it with the next message",
                      d.name[0] ? d.name : path, d.arch, a->model_label);
    return 0;
}

/* /model: the picker over the models on this machine (picker.h), or /model NAME|PART to
 * switch at once (the names of `moescope models`, cli/model_store.h). */
static int cmd_model(struct app *a, const char *args)
{
    char err[4096 + 600];
    if (!args || !*args) {
        if (picker_open(a, err, sizeof err) != 0) {
            app_message(a, true, "/model: %s", err);
            return -1;
        }
        a->dirty |= DIRTY_ALL;
        return 0;
    }
    char path[4096];
    if (model_resolve(args, path, sizeof path, err, sizeof err) != 0) {
        conversation_note(a, MSG_ERROR, "/model: %s; %s stays open", err, a->model_label);
        return -1;
    }
    return slash_model_switch(a, path);
}

static int cmd_theme(struct app *a, const char *args)
{
    if (!args || !*args) {
        app_message(a, false, "theme: %s (built in: dark, light, high-contrast, mono)",
                    a->theme.name);
        return 0;
    }
    char msg[1024] = "", buf[4096];
    struct theme th;
    if (theme_load(slash_path(args, buf, sizeof buf), &th, msg, sizeof msg) < 0) {
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        app_message(a, true, "/theme: %s", msg[0] ? msg : "no such theme");
        return -1;
    }
    frame_theme_set(a, &th);
    if (msg[0]) {
        /* Bad lines: the theme is used, the first complaint shown (file:line: what). */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        app_message(a, true, "%s", msg);
    } else {
        app_message(a, false, "theme: %s", a->theme.name);
    }
    return 0;
}

static int cmd_quit(struct app *a, const char *args)
{
    (void)args;
    a->quit = true;
    return 0;
}

const struct slash_command slash_commands[] = {
    { "/help", "", "list the commands", true, cmd_help },
    { "/clear", "", "start a new conversation", false, cmd_clear },
    { "/system", "TEXT", "set the system prompt (empty: none)", true, cmd_system },
    { "/set", "KEY VALUE", "temp, top_k, top_p, min_p or seed; alone: show", true,
      cmd_set },
    { "/regen", "", "write the last reply again", false, cmd_regen },
    { "/save", "[FILE]", "save the session (Ctrl-S); default: autosave", true,
      cmd_save },
    { "/load", "FILE", "open a saved session and continue it", false, cmd_load },
    { "/export", "FORMAT FILE", "md, csv, ndjson or html of the conversation", true,
      cmd_export },
    { "/model", "[NAME]", "pick a model on this machine (type to filter), or switch to NAME", false,
      cmd_model },
    { "/theme", "NAME", "dark, light, high-contrast, mono, or a file", true,
      cmd_theme },
    { "/quit", "", "leave (Ctrl-C twice does too)", true, cmd_quit },
};
const size_t slash_command_count = sizeof slash_commands / sizeof slash_commands[0];

const struct slash_command *slash_find(const char *word, size_t len)
{
    const struct slash_command *hit = NULL;
    int prefix_hits = 0;
    for (size_t i = 0; i < slash_command_count; i++) {
        const char *name = slash_commands[i].name;
        if (strlen(name) == len && !strncmp(name, word, len))
            return &slash_commands[i];
        if (len > 1 && strlen(name) > len && !strncmp(name, word, len)) {
            hit = &slash_commands[i];
            prefix_hits++;
        }
    }
    return prefix_hits == 1 ? hit : NULL;
}

int slash_run(struct app *a, const char *line)
{
    while (*line == ' ')
        line++;
    size_t wl = strcspn(line, " \t");
    const struct slash_command *c = slash_find(line, wl);
    if (!c) {
        app_message(a, true, "unknown command %.*s; /help lists them", (int)(wl < 40 ? wl : 40),
                    line);
        return -1;
    }
    if (!c->while_busy && app_busy(a)) {
        app_message(a, true, "%s waits until the reply ends (Esc stops it)", c->name);
        return -1;
    }
    const char *args = line + wl;
    while (*args == ' ' || *args == '\t')
        args++;
    /* Trailing blanks are not part of an argument (file names, the system prompt). */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", args);
    size_t n = strlen(buf);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = 0;
    return c->run(a, buf);
}

/* ---- completion ---- */

static const char *complete_theme(const char *word, size_t wl, int i, char *buf, size_t buflen)
{
    int k = 0;
    for (size_t b = 0; b < theme_builtin_count; b++)
        if (!strncmp(theme_builtin_names[b], word, wl) && k++ == i)
            return theme_builtin_names[b];
    /* The user's own themes. */
    char dir[PATH_MAX];
    const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (cfg && cfg[0] == '/')
        snprintf(dir, sizeof dir, "%s/moescope/themes", cfg);
    else if (home)
        snprintf(dir, sizeof dir, "%s/.config/moescope/themes", home);
    else
        return NULL;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    const char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl <= 6 || strcmp(e->d_name + nl - 6, ".theme") != 0)
            continue;
        if (strncmp(e->d_name, word, wl) != 0)
            continue;
        bool builtin = false;
        for (size_t b = 0; b < theme_builtin_count; b++)
            if (strlen(theme_builtin_names[b]) == nl - 6 &&
                !strncmp(theme_builtin_names[b], e->d_name, nl - 6))
                builtin = true;
        if (builtin || k++ != i)
            continue;
        snprintf(buf, buflen, "%.*s", (int)(nl - 6), e->d_name);
        found = buf;
        break;
    }
    closedir(d);
    return found;
}

const char *slash_complete(const char *line, size_t len, int i, char *buf, size_t buflen)
{
    if (len == 0 || line[0] != '/')
        return NULL;
    size_t w1 = strcspn(line, " ");
    if (w1 >= len) {
        /* The command name itself. */
        int k = 0;
        for (size_t c = 0; c < slash_command_count; c++)
            if (!strncmp(slash_commands[c].name, line, len) && k++ == i)
                return slash_commands[c].name;
        return NULL;
    }
    /* The word being completed: from after the last blank before the cursor. */
    size_t ws = len;
    while (ws > 0 && line[ws - 1] != ' ')
        ws--;
    const char *word = line + ws;
    size_t wl = len - ws;
    bool second = true;
    for (size_t j = w1; j < ws; j++)
        if (line[j] != ' ') {
            second = false;   /* a third word: nothing to offer */
            break;
        }
    if (!second)
        return NULL;
    if (w1 == 4 && !strncmp(line, "/set", 4)) {
        int k = 0;
        for (size_t s = 0; s < sizeof set_keys / sizeof set_keys[0]; s++)
            if (!strncmp(set_keys[s].name, word, wl) && k++ == i)
                return set_keys[s].name;
        return NULL;
    }
    if (w1 == 6 && !strncmp(line, "/theme", 6))
        return complete_theme(word, wl, i, buf, buflen);
    return NULL;
}
