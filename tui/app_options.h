/* tui/app_options.h: what the command line asks of the app (cmd_app.c parses it). */
#ifndef MOESCOPE_APP_OPTIONS_H
#define MOESCOPE_APP_OPTIONS_H

#include <stdbool.h>

#include "backend.h"
#include "engine.h"

/* The command-line options cmd_app parses. */
struct app_options {
    const char *model;         /* -m: NULL = the default model; a URL: a remote engine */
    struct backend_args backend; /* -m and its companions (--api-key-file, --timeout, ...) */
    int n_threads;             /* -t: 0 = cores */
    int n_ctx;                 /* -c: 0 = the model's, capped by the engine */
    const char *theme;         /* --theme: NULL = dark, or mono under NO_COLOR */
    const char *chat_template; /* --chat-template: NULL = recognised from the model */
    const char *system;        /* --system: the system prompt, NULL = none */
    struct sampler_params sampler;   /* --temp, --top-k, --top-p, --min-p, --seed */
    int n_predict;             /* -n: at most this many tokens a reply, <= 0 = no limit */
    const char *replay;        /* --replay FILE: a saved session, no model */
    const char *session;       /* --session FILE: continue a saved conversation */
    long frames;               /* --frames N: draw N frames then exit (0 = run) */
    bool prewarm;              /* --prewarm: read every expert before the first token */
    bool mlock;                /* --mlock: pin the model in memory */
};
void app_options_default(struct app_options *o);

#endif
