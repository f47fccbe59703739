/* sessions/session.h: a conversation plus everything the inspector knows about it, in memory
 * and as a JSON file ("moescope-session" version 1, described in docs/session-format.md).
 *
 * Ownership: a struct session owns every string and its trace_log. The app may use s->log
 * directly as the engine's working log (the engine appends to it), so nothing is copied.
 * Records and messages are tied together by ranges: message m owns the records
 * s->log[m.trace_begin .. m.trace_end). Ranges are in message order, never overlap, and
 * together cover [0, s->log.n): the usual owner is the assistant message of a turn, holding
 * that turn's prompt records (template + user text, flagged prompt) and its reply.
 * session_add_message() keeps this by giving an assistant message the records from the end
 * of the previous range to s->log.n. Messages of other roles get empty ranges.
 *
 * Times: `created` is set by session_init, `updated` by session_touch (which
 * session_add_message calls). session_save writes both as they are, so save -> load -> save
 * gives identical bytes.
 *
 * Errors: -1 with one line in err, e.g.
 *   `session.json: $.messages[3].content: expected a string, found null`
 *   `session.json: line 12 column 7: JSON syntax error near '}'`
 *   `session.json: not replaced: it holds a different session (id 3f2a...)`
 * The in-memory session is untouched by a failed save. */
#ifndef MOESCOPE_SESSION_H
#define MOESCOPE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "reasoning.h"
#include "trace.h"
#include "trace_stats.h"

enum {
    SESSION_VERSION = 1,
    SESSION_ID_LEN = 32,                   /* hex digits of a random 128-bit id */
    SESSION_HASH_BYTES = 1 << 20,          /* the model file's first MiB is hashed */
    SESSION_MAX_DEPTH = 64,                /* JSON nesting the loader accepts */
};
#define SESSION_MAX_FILE ((uint64_t)1 << 30) /* files over 1 GiB are refused */

/* Which model made the records: enough to recognise it again, not to run it. */
struct session_model {
    char file[256];                        /* the GGUF's file name, without its folder */
    char name[128];                        /* general.name */
    char arch[32];                         /* general.architecture */
    char chat[24];                         /* chat template: its style's name (a family name,
                                              or llama.cpp's name of a variant: deepseek3),
                                              "" when none */
    uint64_t size;                         /* file size in bytes */
    int n_layers, n_experts, n_experts_used, d_model, n_vocab;
    uint64_t hash;                         /* FNV-1a 64 of the file's first hash_bytes */
    uint64_t hash_bytes;                   /* min(size, SESSION_HASH_BYTES) */
    /* What its weights cost to read (0: not recorded, as in sessions saved before these
     * were): model_desc's active_bytes and expert_bytes. */
    uint64_t active_bytes, expert_bytes;
    /* A remote engine (model.backend in the file; all "" for a local GGUF, which is then
     * recognised by file, size and hash, all empty or 0 for a server). */
    char backend[16];                      /* the server family: "llama-server", "vllm", ... */
    char url[512];                         /* its base URL, never with credentials */
    char fingerprint[128];                 /* its system_fingerprint or Server header */
};

enum session_role { SESSION_SYSTEM, SESSION_USER, SESSION_ASSISTANT, SESSION_ROLE_COUNT };
extern const char *const session_role_names[SESSION_ROLE_COUNT]; /* "system", "user", ... */

struct session_message {
    enum session_role role;
    char *content;                         /* (content_len + 1), NUL-terminated; may hold */
    size_t content_len;                    /* NULs or bytes that are not UTF-8 */
    size_t trace_begin, trace_end;         /* records of s->log it owns; empty when equal */
    bool out_of_context;                   /* dropped from the model's context to make room
                                              (the app keeps it in the transcript); written
                                              only when true, so older files read false */
};

struct session {
    char id[SESSION_ID_LEN + 1];           /* kept across saves: guards against overwrites */
    char created[24], updated[24];         /* ISO 8601 UTC, "2026-11-23T10:47:12Z" */
    struct session_model model;
    struct sampler_params sampler;
    char *system_prompt;                   /* NULL when there is none */
    struct session_message *msg;           /* (cap_msg) */
    size_t n_msg, cap_msg;
    struct trace_log log;                  /* every record, in context order */
};

/* ---- in memory (session.c) ---- */

/* An empty session for a model of this shape (0, 0, 0 when there is no model yet), with a
 * fresh id, created = updated = now and default sampler settings. */
int session_init(struct session *s, int n_layers, int n_experts, int n_experts_used);
void session_free(struct session *s);
/* updated = now. */
void session_touch(struct session *s);
/* Copies content; an assistant message takes the records [end of the previous range,
 * s->log.n). Returns the message's index, or -1 when memory runs out. */
long session_add_message(struct session *s, enum session_role role, const char *content,
                         size_t len);
/* Sets a message's range by hand (regenerate, import); checked by session_check. */
void session_set_range(struct session *s, size_t m, size_t begin, size_t end);
/* Drops messages from index m on and the records they own (regenerate). */
void session_truncate(struct session *s, size_t m);
int session_set_system_prompt(struct session *s, const char *text);
/* Whether the ranges keep the rule above; err names the first message that breaks it. */
int session_check(const struct session *s, char *err, size_t errlen);

/* Fills the model identity from the engine's description, hashing the file's first MiB
 * (read here, not parsed). A description whose path is an http(s):// URL is a remote
 * engine's (backend.h): nothing is read, backend = its arch (the family), url = the path. */
int session_model_from_desc(struct session_model *m, const struct model_desc *d, char *err,
                            size_t errlen);
/* The same into s->model, and gives s->log the model's shape when it holds no records yet
 * (else the shapes must agree). */
int session_set_model(struct session *s, const struct model_desc *d, char *err, size_t errlen);
/* FNV-1a 64 over the first min(size, SESSION_HASH_BYTES) bytes of a file. */
int session_hash_file(const char *path, uint64_t *hash, uint64_t *hashed, char *err,
                      size_t errlen);
/* 0 when a and b are the same model (hash, size, shape); else 1 with what differs in why
 * (for the "different model" warning; never a refusal). */
int session_model_differs(const struct session_model *a, const struct session_model *b,
                          char *why, size_t whylen);

/* $XDG_DATA_HOME/moescope/sessions/DATE-first-words.json (~/.local/share when unset),
 * creating the folders. The name comes from `created` and the first user message; it is
 * one that nothing has yet (when taken: DATE-first-words-ID8.json, then ...-ID8-2.json). */
int session_autosave_path(const struct session *s, char *buf, size_t buflen, char *err,
                          size_t errlen);

/* ---- files (session_save.c, session_load.c) ---- */

/* Writes the session as JSON into a malloc'd buffer (*out, *outlen; NUL-terminated). */
int session_to_json(const struct session *s, char **out, size_t *outlen, char *err,
                    size_t errlen);
/* Atomic save (atomic_write.h). A file already at path is replaced only when it is a
 * moescope session with the same id, or when force is set; otherwise -1 and it is kept. */
int session_save(const struct session *s, const char *path, bool force, char *err,
                 size_t errlen);

/* Reads a session file into s (initialised here; freed by the caller only on success).
 * Refuses files over 1 GiB, nesting deeper than 64, versions above SESSION_VERSION, trace
 * columns whose lengths disagree with the model's layer count, expert ids out of range and
 * negative token ids. The message names the file, the JSON path and what was expected. */
int session_load(struct session *s, const char *path, char *err, size_t errlen);
/* The same from memory; name is what messages call the file. data need not end in NUL. */
int session_load_buffer(struct session *s, const char *data, size_t len, const char *name,
                        char *err, size_t errlen);
/* The id stored in a session file, read from its start without loading it all: 1 and the
 * id when found, 0 when the file is not a moescope session, -1 when it cannot be read. */
int session_peek_id(const char *path, char id[SESSION_ID_LEN + 1], char *err, size_t errlen);

/* What `moescope run --session FILE` writes: one turn (system prompt or NULL, the user's
 * text, the reply) with every record of log (prompt and reply, in order), for the model d
 * and sampler sp. force as in session_save: a second run to the same FILE is refused
 * without it, since each run is a new session. */
int session_save_run(const char *path, const struct model_desc *d,
                     const struct sampler_params *sp, const char *system, const char *user,
                     size_t user_len, const char *reply, size_t reply_len,
                     const struct trace_log *log, bool force, char *err, size_t errlen);

/* session_save_run for a remote engine: also records its fingerprint (d->path is its URL
 * without credentials, d->arch its family). */
int session_save_run_remote(const char *path, const struct model_desc *d, const char *fingerprint,
                            const struct sampler_params *sp, const char *system,
                            const char *user, size_t user_len, const char *reply,
                            size_t reply_len, const struct trace_log *log, bool force, char *err,
                            size_t errlen);

/* ---- exports (export_*.c) ---- */

enum session_export_format { EXPORT_MD, EXPORT_CSV, EXPORT_NDJSON, EXPORT_HTML, EXPORT_COUNT };
extern const char *const session_export_names[EXPORT_COUNT]; /* "md", "csv", "ndjson", "html" */

/* Each writes to a stream and returns 0, or -1 with err set (a write error). */
int session_export_md(const struct session *s, FILE *out, char *err, size_t errlen);
/* Header `position,token,piece,layer,rank,expert,weight,thinking`; one row per (record,
 * layer, rank) of every routed layer; thinking is 1 for a reasoning model's thinking token. */
int session_export_csv(const struct session *s, FILE *out, char *err, size_t errlen);
/* One trace_json_line per record: the `run --trace` format. */
int session_export_ndjson(const struct session *s, FILE *out, char *err, size_t errlen);
/* One self-contained page (no network); layer is the one first shown in the expert-coloured
 * text (-1: the middle MoE layer). */
int session_export_html(const struct session *s, FILE *out, int layer, char *err,
                        size_t errlen);
/* A reply's reasoning for the exports (export_thinking.c): its thinking and answer spans in
 * the session's chat style, and its records' figures (TTFT, thinking tokens, time to the first
 * answer token). false when msg is not a reply with thinking. */
struct export_thinking {
    struct reason_spans spans;
    struct trace_speed speed;
};
bool export_thinking_of(const struct session *s, const struct session_message *msg,
                        struct export_thinking *out);
/* By name ("md", "csv", "ndjson", "html"), written atomically to path (no id check: exports
 * are not sessions). Returns -1 with err for an unknown format too. */
int session_export_file(const struct session *s, const char *format, const char *path,
                        char *err, size_t errlen);

#endif
