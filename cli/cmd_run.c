/* cli/cmd_run.c: `moescope run`: generate from a prompt, stream the text to stdout, close
 * with one line of speed figures on stderr, and optionally write the trace as JSON lines.
 *
 * Flow: open the engine -> tokenize the prompt (plain: the model's BOS rule, special-token
 * text not parsed; --chat: the chat template, specials parsed) -> one record per prompt
 * token -> engine_eval (the prompt in one batch) -> repeat { engine_sample, print the
 * piece, stop on end-of-generation / -n / a full context / Ctrl-C, engine_eval } -> the
 * closing line from trace_stats -> the trace file, written whole and renamed into place.
 *
 * Output: the generated text only (not the prompt), byte for byte when stdout is a pipe or
 * a file. On a terminal, unless --raw, it goes through text_escape so that the model's
 * text is shown and never obeyed; an incomplete UTF-8 sequence is held back until the
 * token that completes it.
 *
 * Exit status: 0 when generation ran (also when it stopped at a full context), 1 for a bad
 * model, prompt file or trace file, 2 for bad usage, 130 after Ctrl-C (which still writes
 * the trace and the closing line; a second Ctrl-C ends the process at once). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_write.h"
#include "chat.h"
#include "commands.h"
#include "engine.h"
#include "file_open.h"
#include "sampler.h"
#include "text_escape.h"
#include "detok.h"
#include "session.h"
#include "trace.h"
#include "trace_stats.h"

enum { RUN_DEFAULT_N = 256, RUN_MAX_PROMPT_FILE = 64 << 20 };

struct run_opts {
    const char *model;
    const char *prompt;       /* -p */
    const char *prompt_file;  /* -f ("-" = stdin) */
    long n_predict;           /* -1 = until end of generation or a full context */
    int n_threads, n_ctx;
    struct sampler_params sp;
    bool chat, raw;
    bool prewarm, mlock;      /* --prewarm, --mlock (engine_params) */
    const char *system;
    const char *chat_template;
    const char *trace_path;
    const char *session_path; /* --session: the run saved as a moescope session */
};

static volatile sig_atomic_t run_interrupted;

static void run_on_sigint(int sig)
{
    (void)sig;
    run_interrupted = 1; /* the handler was reset: a second Ctrl-C ends the process */
}

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: moescope run [-m MODEL] (-p TEXT | -f FILE) [options]\n"
            "  -n N                 generate at most N tokens (default %d; -1: until the end)\n"
            "  --temp T             temperature, 0 = greedy (default 0.8)\n"
            "  --top-k K            keep the K most likely tokens, 0 = off (default 40)\n"
            "  --top-p P            nucleus threshold, 1 = off (default 0.95)\n"
            "  --min-p P            drop tokens under P x the best one, 0 = off (default 0.05)\n"
            "  --repeat-penalty R   penalty on the last 64 tokens, 1 = off (default 1)\n"
            "  --seed S             sampler seed (default: random)\n"
            "  -t THREADS           worker threads (default: the cores)\n"
            "  -c CTX               context length (default: the model's, at most 4096)\n"
            "  --chat               apply the chat template, parse special tokens\n"
            "  --system TEXT        system prompt (with --chat)\n"
            "  --chat-template NAME chatml, llama3, mistral, deepseek, tulu or granite\n"
            "  --trace FILE         write every token's record as JSON lines\n"
            "  --session FILE       save the run as a moescope session (see moescope(1))\n"
            "  --raw                print model text unescaped even on a terminal\n"
            "  --prewarm            read every expert once before the first token\n"
            "  --mlock              pin the model in memory (needs ulimit -l)\n",
            RUN_DEFAULT_N);
}

/* ---- argument parsing ---- */

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = (float)v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* Returns 0, or 2 (usage printed) on a bad argument; -1 for --help. */
static int run_parse(int argc, char **argv, struct run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = RUN_DEFAULT_N;
    sampler_params_default(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return -1;
        if (!strcmp(a, "--chat")) {
            o->chat = true;
            continue;
        }
        if (!strcmp(a, "--raw")) {
            o->raw = true;
            continue;
        }
        if (!strcmp(a, "--prewarm")) {
            o->prewarm = true;
            continue;
        }
        if (!strcmp(a, "--mlock")) {
            o->mlock = true;
            continue;
        }
        static const char *const with_value[] = {
            "-m", "-p", "-f", "-n", "--temp", "--top-k", "--top-p", "--min-p",
            "--repeat-penalty", "--seed", "-t", "-c", "--system", "--chat-template", "--session",
            "--trace",
        };
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known = known || !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "moescope run: unknown option %s\n", a);
            goto bad;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "moescope run: %s needs a value\n", a);
            goto bad;
        }
        const char *v = argv[++i];
        long n;
        bool ok = true;
        if (!strcmp(a, "-m"))
            o->model = v;
        else if (!strcmp(a, "-p"))
            o->prompt = v;
        else if (!strcmp(a, "-f"))
            o->prompt_file = v;
        else if (!strcmp(a, "-n"))
            ok = parse_long(v, -1, INT_MAX, &o->n_predict);
        else if (!strcmp(a, "--temp"))
            ok = parse_float(v, 0, 1e6, &o->sp.temp);
        else if (!strcmp(a, "--top-k"))
            ok = parse_long(v, 0, INT_MAX, &n) && ((o->sp.top_k = (int)n), true);
        else if (!strcmp(a, "--top-p"))
            ok = parse_float(v, 0, 1, &o->sp.top_p);
        else if (!strcmp(a, "--min-p"))
            ok = parse_float(v, 0, 1, &o->sp.min_p);
        else if (!strcmp(a, "--repeat-penalty"))
            ok = parse_float(v, 1e-6, 1e6, &o->sp.repeat_penalty);
        else if (!strcmp(a, "--seed"))
            ok = parse_u64(v, &o->sp.seed);
        else if (!strcmp(a, "-t"))
            ok = parse_long(v, 1, 1024, &n) && ((o->n_threads = (int)n), true);
        else if (!strcmp(a, "-c"))
            ok = parse_long(v, 1, INT_MAX, &n) && ((o->n_ctx = (int)n), true);
        else if (!strcmp(a, "--system"))
            o->system = v;
        else if (!strcmp(a, "--chat-template"))
            o->chat_template = v;
        else if (!strcmp(a, "--session"))
            o->session_path = v;
        else /* --trace, the last one of with_value */
            o->trace_path = v;
        if (!ok) {
            fprintf(stderr, "moescope run: bad value for %s: '%s'\n", a, v);
            goto bad;
        }
    }
    if (!o->prompt == !o->prompt_file) {
        fprintf(stderr, "moescope run: give exactly one of -p TEXT and -f FILE\n");
        goto bad;
    }
    if ((o->system || o->chat_template) && !o->chat) {
        fprintf(stderr, "moescope run: --system and --chat-template need --chat\n");
        goto bad;
    }
    if (!o->model)
        o->model = default_model_path();
    return 0;
bad:
    run_usage(stderr);
    return 2;
}

/* The whole of a prompt file ("-" = stdin) in a malloc'd buffer, or NULL with a message. */
static char *run_read_file(const char *path, size_t *len)
{
    FILE *f = stdin;
    if (strcmp(path, "-")) {
        char why[128];
        int fd = file_open_regular(path, NULL, why, sizeof why);
        if (fd < 0 || !(f = fdopen(fd, "rb"))) {
            fprintf(stderr, "moescope run: %s: %s\n", path, fd < 0 ? why : strerror(errno));
            if (fd >= 0)
                close(fd);
            return NULL;
        }
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *nb = cap < RUN_MAX_PROMPT_FILE ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                fprintf(stderr, "moescope run: %s: larger than %d MiB\n", path,
                        RUN_MAX_PROMPT_FILE >> 20);
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "moescope run: %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = n;
    }
    return buf;
}

/* ---- output ---- */

struct run_out {
    bool escape;              /* stdout is a terminal and not --raw */
    struct detok detok;       /* holds back a UTF-8 sequence cut between two pieces */
    bool wrote, ends_newline;
};

static void run_emit(struct run_out *o, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (o->escape) {
        char small[1024];
        size_t need = text_escape(s, n, small, sizeof small);
        char *big = need < sizeof small ? NULL : malloc(need + 1);
        if (big)
            text_escape(s, n, big, need + 1);
        fwrite(big ? big : small, 1, big ? need : strlen(small), stdout);
        free(big);
    } else {
        fwrite(s, 1, n, stdout);
    }
    o->wrote = true;
    o->ends_newline = s[n - 1] == '\n';
}

/* Writes a piece through the streaming detokenizer, flushed: text appears token by token. */
static void run_write_piece(struct run_out *o, const char *piece, size_t n)
{
    char buf[512 + 8];
    char *out = n + 8 <= sizeof buf ? buf : malloc(n + 8);
    if (!out) {
        run_emit(o, piece, n);
        return;
    }
    run_emit(o, out, detok_push(&o->detok, piece, n, out, n + 8));
    if (fflush(stdout) != 0)
        cli_stdout_failed();
    if (out != buf)
        free(out);
}

static void run_flush_hold(struct run_out *o)
{
    char buf[16];
    run_emit(o, buf, detok_flush(&o->detok, buf, sizeof buf));
    fflush(stdout);
}

/* Every record of log as JSON lines into path, by the one rule for files moescope writes
 * (sessions/atomic_write.h). Returns 0, or -1 with a message printed. */
static int run_write_trace(const struct trace_log *log, const char *path)
{
    char *buf = NULL, *line = NULL;
    size_t len = 0, cap = 4096;
    FILE *mem = open_memstream(&buf, &len);
    bool ok = mem && (line = malloc(cap));
    for (size_t i = 0; ok && i < log->n; i++) {
        size_t need = trace_json_line(log, i, line, cap);
        if (need >= cap) {
            char *nl = realloc(line, need + 1);
            if (!nl) {
                ok = false;
                break;
            }
            line = nl;
            cap = need + 1;
            trace_json_line(log, i, line, cap);
        }
        line[need] = '\n';
        ok = fwrite(line, 1, need + 1, mem) == need + 1;
    }
    free(line);
    if (mem && fclose(mem) != 0)
        ok = false;
    char err[512];
    int rc = -1;
    if (!ok)
        fprintf(stderr, "moescope run: --trace %s: out of memory\n", path);
    else if ((rc = atomic_write_file(path, buf, len, NULL, NULL, err, sizeof err)) != 0)
        fprintf(stderr, "moescope run: --trace %s\n", err);
    free(buf);
    return rc;
}

/* ---- the command ---- */

/* The chat prompt for the user's text (and --system) in the named style, or the family the
 * model's template was recognised as. NULL with a message printed. */
static char *run_render_chat(const struct run_opts *o, const struct model_desc *d,
                             enum chat_style style, const char *text, size_t *len)
{
    if (style == CHAT_STYLE_NONE) {
        char err[512];
        enum chat_family f = d->chat_family[0] ? chat_family_from_name(d->chat_family)
                                                : CHAT_NONE;
        if (f == CHAT_NONE || chat_style_from_name(d->chat_family, &style, err, sizeof err)) {
            char names[128] = "";
            for (int i = 1; i < CHAT_FAMILY_COUNT; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i > 1 ? ", " : "", chat_family_names[i]);
            fprintf(stderr,
                    "moescope run: %s: the model has no chat template of a known family "
                    "(%s); name one with --chat-template\n", o->model, names);
            return NULL;
        }
    }
    struct chat_msg msgs[2];
    int n = 0;
    if (o->system)
        msgs[n++] = (struct chat_msg){ "system", o->system };
    msgs[n++] = (struct chat_msg){ "user", text };
    char *r = chat_render_style(style, msgs, n, true, len);
    if (!r)
        fprintf(stderr, "moescope run: out of memory rendering the chat template\n");
    return r;
}

/* The prompt's tokens into *toks (malloc'd), or -1 with a message printed. */
static int run_tokenize(struct engine *e, const struct run_opts *o, const char *text,
                        size_t len, int32_t **toks)
{
    char err[512] = "";
    bool parse_special = o->chat;
    int n_ctx = engine_n_ctx(e);
    *toks = malloc((size_t)n_ctx * sizeof **toks);
    if (!*toks)
        return -1;
    int n = engine_tokenize(e, text, len, true, parse_special, *toks, n_ctx, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "moescope run: %s%sthe prompt: %s (the context is %d tokens; see -c)\n",
                o->prompt_file ? o->prompt_file : "", o->prompt_file ? ": " : "",
                err[0] ? err : "cannot be tokenized", n_ctx);
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "moescope run: the prompt is empty\n");
        return -1;
    }
    if (n >= n_ctx) {
        fprintf(stderr,
                "moescope run: the prompt is %d tokens, which leaves no room in a context of "
                "%d (use -c, or a shorter prompt)\n", n, n_ctx);
        return -1;
    }
    return n;
}

static void run_print_figures(const struct trace_log *log, const char *stop, bool own_line)
{
    struct trace_speed s;
    if (trace_speed(log, 0, log->n, &s) != 0)
        return;
    fprintf(stderr, "%s", own_line ? "\n" : "");
    fprintf(stderr,
            "moescope: prompt %zu tok, %.1f tok/s | decode %zu tok, %.1f tok/s | TTFT %.1f ms"
            " | inter-token p50 %.2f p95 %.2f p99 %.2f ms%s%s\n",
            s.n_prompt, s.prompt_tps, s.n_gen, s.decode_tps, s.ttft_ms, s.itl_p50_ms,
            s.itl_p95_ms, s.itl_p99_ms, stop ? " | " : "", stop ? stop : "");
}

static int run_generate(struct engine *e, const struct run_opts *o, struct trace_log *log,
                        const int32_t *toks, int n_toks)
{
    char err[512] = "";
    char piece[512];
    for (int i = 0; i < n_toks; i++) {
        size_t n = engine_token_piece(e, toks[i], piece, sizeof piece);
        if (trace_log_push(log, toks[i], piece, n < sizeof piece ? n : sizeof piece, true) < 0) {
            fprintf(stderr, "moescope run: out of memory\n");
            return 1;
        }
    }
    if (engine_eval(e, log, err, sizeof err) != 0) {
        fprintf(stderr, "moescope run: %s\n", err);
        return 1;
    }
    struct run_out out = { .escape = !o->raw && isatty(STDOUT_FILENO) };
    const int n_ctx = engine_n_ctx(e);
    const char *stop = NULL;
    char stop_msg[128];
    int status = 0;
    for (long g = 0; o->n_predict < 0 || g < o->n_predict; g++) {
        if (run_interrupted) {
            stop = "interrupted";
            status = 130;
            break;
        }
        long idx = engine_sample(e, log, err, sizeof err);
        if (idx < 0) {
            fprintf(stderr, "moescope run: %s\n", err);
            status = 1;
            break;
        }
        int32_t tok = log->tok[idx].token;
        if (engine_token_is_eog(e, tok)) {
            stop = "end of generation";
            break;
        }
        run_write_piece(&out, trace_piece(log, (size_t)idx), log->tok[idx].piece_len);
        if (ferror(stdout)) {
            stop = "the output cannot be written";   /* main() says why, and exits 1 */
            status = 1;
            break;
        }
        if (o->n_predict >= 0 && g + 1 >= o->n_predict)
            break; /* the last token is never fed: its logits would not be used */
        if (log->n >= (size_t)n_ctx) {
            snprintf(stop_msg, sizeof stop_msg, "context full (%d tokens)", n_ctx);
            stop = stop_msg;
            break;
        }
        if (engine_eval(e, log, err, sizeof err) != 0) {
            fprintf(stderr, "moescope run: %s\n", err);
            stop = "stopped";
            status = 1; /* not the full context, checked above: a real failure */
            break;
        }
    }
    run_flush_hold(&out);
    if (out.escape && out.wrote && !out.ends_newline) {
        fputc('\n', stdout); /* give the shell prompt its own line */
        out.ends_newline = true;
    }
    fflush(stdout);
    /* Text piped away but figures on a terminal: the figures start on a line of their own
     * (stdout's bytes stay exactly the model's). */
    run_print_figures(log, stop, out.wrote && !out.ends_newline && isatty(STDERR_FILENO));
    return status;
}

/* --trace and --session are checked before any work: a path that cannot be written is
 * reported at once, not after the whole generation. */
static int run_check_outputs(const struct run_opts *o)
{
    char err[512];
    if (o->trace_path && !strcmp(o->trace_path, "-")) {
        fprintf(stderr, "moescope run: --trace -: standard output carries the generated "
                        "text; name a file (or /dev/stderr)\n");
        return -1;
    }
    if (o->trace_path && atomic_write_check(o->trace_path, err, sizeof err) != 0) {
        fprintf(stderr, "moescope run: --trace %s\n", err);
        return -1;
    }
    if (o->session_path && atomic_write_check(o->session_path, err, sizeof err) != 0) {
        fprintf(stderr, "moescope run: --session %s\n", err);
        return -1;
    }
    return 0;
}

/* --session: the prompt as the user message, the generated text as the reply, and every
 * record, as one moescope session file (sessions/session.h). */
static int run_write_session(const struct run_opts *o, const struct model_desc *d,
                             const char *prompt, size_t prompt_len, const struct trace_log *log)
{
    size_t len = 0;
    for (size_t i = 0; i < log->n; i++)
        if (!log->tok[i].prompt)
            len += log->tok[i].piece_len;
    char *reply = malloc(len + 1), err[512];
    if (!reply) {
        fprintf(stderr, "moescope run: --session %s: out of memory\n", o->session_path);
        return -1;
    }
    len = 0;
    for (size_t i = 0; i < log->n; i++)
        if (!log->tok[i].prompt) {
            memcpy(reply + len, trace_piece(log, i), log->tok[i].piece_len);
            len += log->tok[i].piece_len;
        }
    reply[len] = 0;
    int rc = session_save_run(o->session_path, d, &o->sp, o->system, o->prompt ? o->prompt : prompt,
                              o->prompt ? strlen(o->prompt) : prompt_len, reply, len, log, false,
                              err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "moescope run: --session %s\n", err);
    free(reply);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    int rc = run_parse(argc, argv, &o);
    if (rc < 0) {
        run_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    if (run_check_outputs(&o) != 0)
        return o.trace_path && !strcmp(o.trace_path, "-") ? 2 : 1;

    size_t text_len = 0;
    char *file_text = NULL;
    if (o.prompt_file && !(file_text = run_read_file(o.prompt_file, &text_len)))
        return 1;
    const char *text = file_text ? file_text : o.prompt;
    if (!file_text)
        text_len = strlen(text);

    enum chat_style style = CHAT_STYLE_NONE; /* none named: the model's own */
    char err[512] = "";
    if (o.chat_template && chat_style_from_name(o.chat_template, &style, err, sizeof err)) {
        fprintf(stderr, "moescope run: --chat-template: %s\n", err);
        run_usage(stderr);
        free(file_text);
        return 2;
    }

    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = o.model;
    ep.n_threads = o.n_threads;
    ep.n_ctx = o.n_ctx;
    ep.sampler = o.sp;
    ep.trace = true; /* the closing figures come from the records' times */
    ep.prewarm = o.prewarm;
    ep.mlock = o.mlock;
    struct engine *e = engine_open(&ep, err, sizeof err);
    if (!e) {
        fprintf(stderr, "moescope run: %s\n", err[0] ? err : o.model);
        free(file_text);
        return 1;
    }

    char *rendered = NULL;
    if (o.chat) {
        rendered = run_render_chat(&o, engine_desc(e), style, text, &text_len);
        if (!rendered) {
            engine_close(e);
            free(file_text);
            return 1;
        }
        text = rendered;
    }

    int32_t *toks = NULL;
    int n_toks = run_tokenize(e, &o, text, text_len, &toks);
    const struct model_desc *d = engine_desc(e);
    struct trace_log log;
    rc = 1;
    if (n_toks > 0 && trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used) == 0) {
        struct sigaction sa = { .sa_handler = run_on_sigint, .sa_flags = SA_RESETHAND };
        sigemptyset(&sa.sa_mask);
        struct sigaction old;
        sigaction(SIGINT, &sa, &old);
        rc = run_generate(e, &o, &log, toks, n_toks);
        sigaction(SIGINT, &old, NULL);
        if (o.trace_path && log.n && run_write_trace(&log, o.trace_path) != 0)
            rc = 1;
        if (o.session_path && log.n && run_write_session(&o, d, text, text_len, &log) != 0)
            rc = 1;
        trace_log_free(&log);
    }
    free(toks);
    free(rendered);
    free(file_text);
    engine_close(e);
    return rc;
}
