/* tui/commands_slash.h: /help, /set, ... as one data table (commands_slash.c). */
#ifndef MOESCOPE_COMMANDS_SLASH_H
#define MOESCOPE_COMMANDS_SLASH_H

#include <stdbool.h>
#include <stddef.h>

struct app;

struct slash_command {
    const char *name;          /* "/set" */
    const char *args;          /* "KEY VALUE", "[FILE]" or "" */
    const char *help;          /* one line */
    bool while_busy;           /* allowed while a reply is being generated */
    int (*run)(struct app *a, const char *args);   /* 0, or -1 after saying why */
};
extern const struct slash_command slash_commands[];
extern const size_t slash_command_count;
/* The command a word names (exact, or a unique prefix: "/q"), or NULL. */
const struct slash_command *slash_find(const char *word, size_t len);
/* Runs a line that starts with '/'. Returns 0, or -1 after a message. */
int slash_run(struct app *a, const char *line);
/* Opens the model at path in place of the running one, after checking its header: a file
 * that moescope cannot run leaves the running model, with the reason in the transcript.
 * /model NAME and the picker's Enter. Returns 0, or -1 after a note. */
int slash_model_switch(struct app *a, const char *path);
/* The i-th completion (0, 1, ...) of the text before the cursor, or NULL when no more. */
const char *slash_complete(const char *line, size_t len, int i, char *buf, size_t buflen);

#endif
