/* tui/app_session.h: the conversation as a session file (sessions/): saved on Ctrl-S and
 * /save, autosaved after each reply, loaded by /load, --session and --replay, exported. */
#ifndef MOESCOPE_APP_SESSION_H
#define MOESCOPE_APP_SESSION_H

#include <stdbool.h>

#include "session.h"
#include "worker.h"

struct app_session {
    char id[SESSION_ID_LEN + 1]; /* kept across saves: a save replaces only its own file */
    char created[24];          /* when this conversation began */
    char path[4096];           /* where it is saved, "" = not yet (autosave picks a name) */
    struct session_model loaded_model; /* the model a loaded session names */
    bool have_loaded_model;    /* loaded_model is set */
    struct vocab_table replay_vocab; /* replay: token texts gathered from the records */
};

struct app;
/* Saves to path (NULL: the session's file, else the autosave name). loud: say where in
 * the hint line. Returns 0, or -1 with a message. */
int app_session_save(struct app *a, const char *path, bool loud);
/* Autosave after a reply: the first one says where. */
void app_session_autosave(struct app *a);
/* /export FORMAT FILE: the conversation so far as md, csv, ndjson or html. */
int app_session_export(struct app *a, const char *format, const char *path);
/* Opens a saved session: its conversation replaces this one and is fed to the model (or,
 * in replay, its records are shown as they were). Returns 0, or -1 with a message. */
int app_session_load(struct app *a, const char *path);
/* A new conversation starts: the next save makes a new session file. */
void app_session_forget(struct app *a);
void app_session_free(struct app_session *s);

#endif
