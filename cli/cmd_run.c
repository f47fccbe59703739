/* cli/cmd_run.c: `moescope run`: generate from a prompt, stream the text to stdout, close
 * with one line of speed figures on stderr, and optionally write the trace as JSON lines.
 *
 * Flow: open the engine -> tokenize the prompt (plain: the model's BOS rule, special-token
 * text not parsed; --chat: the chat template, specials parsed) -> one record per prompt
 * token -> engine_eval (the prompt in one batch) -> repeat { engine_sample, print the
 * piece, stop on end-of-generation / -n / Ctrl-C, engine_eval } -> the closing line from
 * trace_stats -> the trace file, written whole and renamed into place.
 *
 * A full context shifts, as llama-cli's does (engine.h, done by backend_local.c): the first
 * --keep tokens stay (default: the BOS and the --system prompt), the oldest half of the rest
 * goes and what is left is evaluated again; a second closing line counts the shifts.
 * --no-context-shift stops at a full context instead. A server keeps its own context: with a
 * URL both options are said to have no effect.
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
#include "backend.h"
#include "chat.h"
#include "commands.h"
#include "engine.h"
#include "file_open.h"
#include "reasoning.h"
#include "sampler.h"
#include "text_escape.h"
#include "detok.h"
#include "model_store.h"
#include "session.h"
#include "trace.h"
#include "trace_stats.h"

enum { RUN_DEFAULT_N = 256, RUN_MAX_PROMPT_FILE = 64 << 20 };

struct run_opts {
    struct backend_args args; /* -m MODEL|URL and its companions (backend.h) */
    const char *prompt;       /* -p */
    const char *prompt_file;  /* -f ("-" = stdin) */
    long n_predict;           /* -1 = until end of generation or a full context */
    int n_threads, n_ctx;
    struct sampler_params sp;
    bool chat, raw;
    bool prewarm, mlock;      /* --prewarm, --mlock (engine_params) */
    bool no_shift;            /* --no-context-shift: stop at a full context */
    long keep;                /* --keep: prompt tokens a shift keeps after the BOS; -1 all,
                                 BACKEND_KEEP_SYSTEM (the default) the --system prompt */
    const char *system;
    const char *chat_template;
    enum reason_mode reasoning; /* --reasoning: where a reasoning model's thinking goes */
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
            "usage: moescope run [-m MODEL|URL] (-p TEXT | -f FILE) [options]\n"
            "%s"
            "  -n N                 generate at most N tokens (default %d; -1: until the end)\n"
            "  --temp T             temperature, 0 = greedy (default 0.8)\n"
            "  --top-k K            keep the K most likely tokens, 0 = off (default 40)\n"
            "  --top-p P            nucleus threshold, 1 = off (default 0.95)\n"
            "  --min-p P            drop tokens under P x the best one, 0 = off (default 0.05)\n"
            "  --repeat-penalty R   penalty on the last 64 tokens, 1 = off (default 1)\n"
            "  --seed S             sampler seed (default: random)\n"
            "  -t THREADS           worker threads (default: the cores)\n"
            "  -c CTX               context length (default: the model's, at most 4096)\n"
            "  --keep N             prompt tokens a context shift keeps (default: the system\n"
            "                       prompt; -1: the whole prompt)\n"
            "  --no-context-shift   stop at a full context instead of dropping its older half\n"
            "  --chat               apply the chat template, parse special tokens\n"
            "  --system TEXT        system prompt (with --chat)\n"
            "  --chat-template NAME chatml, llama3, mistral, deepseek, tulu, granite, harmony,\n"
            "                       glm or ernie (moescope(1): the variants)\n"
            "  --reasoning MODE     a reasoning model's thinking (with --chat): show (on\n"
            "                       stderr, the default), hide, or raw (in place, as written)\n"
            "  --trace FILE         write every token's record as JSON lines\n"
            "  --session FILE       save the run as a moescope session (see moescope(1))\n"
            "  --raw                print model text unescaped even on a terminal\n"
            "  --prewarm            read every expert once before the first token\n"
            "  --mlock              pin the model in memory (needs ulimit -l)\n",
            backend_args_usage, RUN_DEFAULT_N);
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
    o->keep = BACKEND_KEEP_SYSTEM;
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
        if (!strcmp(a, "--no-context-shift")) {
            o->no_shift = true;
            continue;
        }
        char why[256];
        int took = backend_args_take(&o->args, argc, argv, &i, why, sizeof why);
        if (took < 0) {
            fprintf(stderr, "moescope run: %s\n", why);
            goto bad;
        }
        if (took)
            continue;
        static const char *const with_value[] = {
            "-p", "-f", "-n", "--temp", "--top-k", "--top-p", "--min-p",
            "--repeat-penalty", "--seed", "-t", "-c", "--system", "--chat-template", "--session",
            "--keep", "--reasoning", "--trace",
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
        if (!strcmp(a, "-p"))
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
        else if (!strcmp(a, "--keep"))
            ok = parse_long(v, -1, INT_MAX, &o->keep);
        else if (!strcmp(a, "--reasoning"))
            ok = reason_mode_from_name(v, &o->reasoning) == 0;
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
    if ((o->system || o->chat_template || o->reasoning != REASON_SHOW) && !o->chat) {
        fprintf(stderr, "moescope run: --system, --chat-template and --reasoning need --chat\n");
        goto bad;
    }
    if (o->args.model && backend_is_url(o->args.model) &&
        (o->keep != BACKEND_KEEP_SYSTEM || o->no_shift))
        fprintf(stderr, "moescope run: %s has no effect with a URL: the server keeps its own "
                        "context\n", o->no_shift ? "--no-context-shift" : "--keep");
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
    FILE *fp;                 /* stdout (the answer) or stderr (the thinking, --reasoning show) */
    bool escape;              /* fp is a terminal and not --raw */
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
        fwrite(big ? big : small, 1, big ? need : strlen(small), o->fp);
        free(big);
    } else {
        fwrite(s, 1, n, o->fp);
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
    if (fflush(o->fp) != 0 && o->fp == stdout)
        cli_stdout_failed();
    if (out != buf)
        free(out);
}

static void run_flush_hold(struct run_out *o)
{
    char buf[16];
    run_emit(o, buf, detok_flush(&o->detok, buf, sizeof buf));
    fflush(o->fp);
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

static void run_print_figures(const struct trace_log *log, const struct backend_result *res,
                              const struct backend_info *info, const char *stop, bool own_line)
{
    struct trace_speed s;
    if (trace_speed(log, res->first, log->n, &s) != 0)
        return;
    fprintf(stderr, "%s", own_line ? "\n" : "");
    char itl[160];
    if (info->remote && !res->streamed)
        snprintf(itl, sizeof itl, "inter-token: not measured (one whole reply)");
    else if (info->remote && s.n_itl == 0)
        snprintf(itl, sizeof itl, "inter-token: no sample (one token)");
    else
        snprintf(itl, sizeof itl, "inter-token p50 %.2f p95 %.2f p99 %.2f ms", s.itl_p50_ms,
                 s.itl_p95_ms, s.itl_p99_ms);
    fprintf(stderr,
            "moescope: prompt %zu tok, %.1f tok/s | decode %zu tok, %.1f tok/s | TTFT %.1f ms"
            " | %s%s%s\n",
            s.n_prompt, s.prompt_tps, s.n_gen, s.decode_tps, s.ttft_ms, itl, stop ? " | " : "",
            stop ? stop : "");
    if (!info->remote)
        return;
    /* The client's view against the server's own: the difference is network and queue. */
    fprintf(stderr, "moescope: %s %s at %s | %zu chunks, %.2f tokens/chunk", info->family,
            info->served_model, info->url, res->n_chunks,
            res->n_chunks ? (double)res->n_gen / (double)res->n_chunks : 0.0);
    if (res->server_prompt_ms >= 0 && res->server_predicted_ms >= 0)
        fprintf(stderr, " | server: prompt %ld tok %.1f ms, decode %ld tok %.1f ms%s",
                res->server_prompt_n, res->server_prompt_ms, res->server_predicted_n,
                res->server_predicted_ms, res->server_cache_n > 0 ? " (cache used)" : "");
    if (res->server_load_ms >= 0 && res->server_total_ms >= 0) /* Ollama's native API */
        fprintf(stderr, ", load %.1f ms, total %.1f ms", res->server_load_ms,
                res->server_total_ms);
    char server[160], pipe[160];
    if (backend_server_share(&s, server, sizeof server, pipe, sizeof pipe))
        fprintf(stderr, " | %s", pipe);
    char missing[256];
    unsigned reports = info->reports;
    if (res->server_prompt_ms < 0 || res->server_predicted_ms < 0)
        reports &= ~(unsigned)BACKEND_REPORTS_SERVER_TIMES;
    if (backend_missing_text(reports, missing, sizeof missing))
        fprintf(stderr, " | %s", missing);
    if (info->insecure)
        fprintf(stderr, " | INSECURE: TLS certificate not checked");
    fputc('\n', stderr);
}

/* The context shifts of the run, on their own line (the first line keeps its format). */
static void run_print_shifts(const struct trace_log *log, const struct backend_result *res,
                             int n_ctx)
{
    struct trace_speed s;
    if (trace_speed(log, res->first, log->n, &s) != 0 || s.n_shifts == 0)
        return;
    fprintf(stderr, "moescope: context of %d tokens shifted %zu time%s: %zu tokens dropped, "
                    "%.1f ms evaluating the kept ones again\n", n_ctx, s.n_shifts,
            s.n_shifts == 1 ? "" : "s", s.shift_dropped, s.shift_ms);
}

/* A reasoning model's share of the reply, on its own line: how much of the wait was thinking. */
static void run_print_thinking(const struct trace_log *log, const struct backend_result *res)
{
    struct trace_speed s;
    if (trace_speed(log, res->first, log->n, &s) != 0 || s.n_thinking == 0)
        return;
    char ttfa[64] = "no answer yet";
    if (s.ttfa_ms > 0)
        snprintf(ttfa, sizeof ttfa, "first answer token after %.1f ms", s.ttfa_ms);
    fprintf(stderr, "moescope: thinking %zu of %zu tokens | %s (TTFT %.1f ms)\n", s.n_thinking,
            s.n_gen, ttfa, s.ttft_ms);
}

struct run_stream {
    struct run_out out;
    struct run_out think;     /* --reasoning show: the thinking on stderr */
    bool dim;                 /* stderr is a terminal: the thinking is dimmed */
    enum reason_mode reasoning;
    struct reason_split rs;
    bool write_failed;        /* stdout cannot be written: main() says why, and exits 1 */
};

/* The reply's parts as the splitter tells them apart: the answer to stdout, the thinking to
 * stderr (show) or nowhere (hide). */
static void run_emit_part(void *ud, enum reason_part part, const char *s, size_t n)
{
    struct run_stream *st = ud;
    if (part == REASON_ANSWER) {
        if (st->think.wrote && !st->think.ends_newline) { /* the thinking ends its line */
            run_flush_hold(&st->think);
            fputs(st->dim ? "\033[0m\n" : "\n", stderr);
            st->think.ends_newline = true;
        }
        run_write_piece(&st->out, s, n);
    } else if (st->reasoning == REASON_SHOW) {
        if (st->dim)
            fputs("\033[2m", stderr);
        run_write_piece(&st->think, s, n);
        if (st->dim)
            fputs("\033[0m", stderr);
    }
}

static bool run_on_token(void *ud, const struct trace_log *log, size_t idx)
{
    struct run_stream *st = ud;
    if (st->reasoning == REASON_RAW)
        run_write_piece(&st->out, trace_piece(log, idx), log->tok[idx].piece_len);
    else
        reason_split_push(&st->rs, trace_piece(log, idx), log->tok[idx].piece_len,
                          run_emit_part, st);
    if (ferror(stdout)) {
        st->write_failed = true;
        return false;
    }
    return !run_interrupted;
}

static bool run_should_stop(void *ud)
{
    (void)ud;
    return run_interrupted;
}

/* The style the reply is written in: the one named, else the model's (none known for a
 * server: its thinking, if any, stays in the text). */
static enum chat_style run_reply_style(struct backend *b, enum chat_style named)
{
    enum chat_style s = named;
    char err[256];
    const char *own = backend_info(b)->model.chat_style;
    if (s == CHAT_STYLE_NONE && own[0] && chat_style_from_name(own, &s, err, sizeof err))
        s = CHAT_STYLE_NONE;
    return s;
}

/* One turn through the backend, the text streamed to stdout as it comes. */
static int run_generate(struct backend *b, const struct run_opts *o, struct trace_log *log,
                        const char *text, size_t len, enum chat_style style,
                        struct backend_result *res)
{
    struct run_stream st = {
        .out = { .fp = stdout, .escape = !o->raw && isatty(STDOUT_FILENO) },
        .think = { .fp = stderr, .escape = !o->raw && isatty(STDERR_FILENO) },
        .dim = isatty(STDERR_FILENO), .reasoning = o->reasoning,
    };
    enum chat_style reply_style = o->chat ? run_reply_style(b, style) : CHAT_STYLE_NONE;
    reason_split_init(&st.rs, reply_style);
    struct chat_msg user = { "user", text };
    struct backend_request rq = {
        .system = o->system, .msgs = o->chat ? &user : NULL, .n_msgs = o->chat ? 1 : 0,
        .text = text, .len = len, .text_name = o->prompt_file, .style = style, .sp = o->sp,
        .n_predict = o->n_predict, .context_shift = !o->no_shift, .n_keep = o->keep,
        .on_token = run_on_token, .should_stop = run_should_stop, .ud = &st,
    };
    int rc = backend_generate(b, &rq, log, res);
    if (reason_mark_records(reply_style, log, res->first, log->n)) /* --trace, --session */
        trace_log_touch(log);
    if (rc != 0) {
        fprintf(stderr, "moescope run: %s\n", res->msg);
        return 1;
    }
    reason_split_flush(&st.rs, run_emit_part, &st);
    run_flush_hold(&st.think);
    if (st.think.wrote && !st.think.ends_newline)
        fputc('\n', stderr);
    run_flush_hold(&st.out);
    if (st.out.escape && st.out.wrote && !st.out.ends_newline) {
        fputc('\n', stdout); /* give the shell prompt its own line */
        st.out.ends_newline = true;
    }
    fflush(stdout);
    int status = 0;
    const char *stop = NULL;
    switch (res->stop) {
    case BACKEND_STOP_EOG:
        stop = "end of generation";
        break;
    case BACKEND_STOP_USER:
        stop = st.write_failed ? "the output cannot be written" : "interrupted";
        status = st.write_failed ? 1 : 130;
        break;
    case BACKEND_STOP_CONTEXT:
        stop = res->msg;
        break;
    case BACKEND_STOP_INTERRUPTED:
    case BACKEND_STOP_ERROR:
        /* The partial reply stays on stdout; the cut gets its own line. */
        /* On a terminal the partial reply stays on its own line; piped, stderr has one. */
        bool own = st.out.wrote && !st.out.ends_newline && isatty(STDERR_FILENO);
        fprintf(stderr, "%smoescope run: %s\n", own ? "\n" : "", res->msg);
        st.out.ends_newline = own || st.out.ends_newline;
        stop = res->stop == BACKEND_STOP_INTERRUPTED ? "interrupted" : "stopped";
        status = 1;
        break;
    default:
        break;
    }
    if (res->stop == BACKEND_STOP_LENGTH && res->msg[0]) /* e.g. SGLang ids without a shape */
        fprintf(stderr, "moescope run: %s\n", res->msg);
    /* Text piped away but figures on a terminal: the figures start on a line of their own
     * (stdout's bytes stay exactly the model's). */
    run_print_figures(log, res, backend_info(b), stop,
                      st.out.wrote && !st.out.ends_newline && isatty(STDERR_FILENO));
    run_print_shifts(log, res, backend_info(b)->n_ctx);
    run_print_thinking(log, res);
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
static int run_write_session(const struct run_opts *o, const struct backend_info *in,
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
    const char *user = o->prompt ? o->prompt : prompt;
    size_t user_len = o->prompt ? strlen(o->prompt) : prompt_len;
    /* The template the reply was written in, when named: a replay finds its thinking by it. */
    struct model_desc md = in->model;
    enum chat_style st;
    if (o->chat && o->chat_template &&
        chat_style_from_name(o->chat_template, &st, err, sizeof err) == 0)
        snprintf(md.chat_style, sizeof md.chat_style, "%s", chat_style_name(st));
    int rc = in->remote ? session_save_run_remote(o->session_path, &md, in->fingerprint,
                                                  &o->sp, o->system, user, user_len, reply, len,
                                                  log, false, err, sizeof err)
                        : session_save_run(o->session_path, &md, &o->sp, o->system, user,
                                           user_len, reply, len, log, false, err, sizeof err);
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
    /* -m NAME: a name from `moescope models` becomes its file; a path or URL stays. */
    char model_path[4096], err[1024] = "";
    if (!o.args.model) {
        o.args.model = default_model_path();
    } else if (model_resolve(o.args.model, model_path, sizeof model_path, err, sizeof err) == 0) {
        o.args.model = model_path;
    } else {
        fprintf(stderr, "moescope run: %s\n", err);
        return 1;
    }

    size_t text_len = 0;
    char *file_text = NULL;
    if (o.prompt_file && !(file_text = run_read_file(o.prompt_file, &text_len)))
        return 1;
    const char *text = file_text ? file_text : o.prompt;
    if (!file_text)
        text_len = strlen(text);

    enum chat_style style = CHAT_STYLE_NONE; /* none named: the model's own */
    if (o.chat_template && chat_style_from_name(o.chat_template, &style, err, sizeof err)) {
        fprintf(stderr, "moescope run: --chat-template: %s\n", err);
        run_usage(stderr);
        free(file_text);
        return 2;
    }

    struct backend_params bp = {
        .args = o.args, .n_threads = o.n_threads, .n_ctx = o.n_ctx, .sampler = o.sp,
        .trace = true, /* the closing figures come from the records' times */
        .prewarm = o.prewarm, .mlock = o.mlock,
    };
    struct backend *b = backend_open(&bp, err, sizeof err);
    if (!b) {
        fprintf(stderr, "moescope run: %s\n", err[0] ? err : o.args.model);
        free(file_text);
        return 1;
    }

    struct trace_log log;
    rc = 1;
    if (backend_log_init(b, &log) == 0) {
        struct sigaction sa = { .sa_handler = run_on_sigint, .sa_flags = SA_RESETHAND };
        sigemptyset(&sa.sa_mask);
        struct sigaction old;
        sigaction(SIGINT, &sa, &old);
        struct backend_result res;
        rc = run_generate(b, &o, &log, text, text_len, style, &res);
        sigaction(SIGINT, &old, NULL);
        if (o.trace_path && log.n && run_write_trace(&log, o.trace_path) != 0)
            rc = 1;
        if (o.session_path && log.n &&
            run_write_session(&o, backend_info(b), text, text_len, &log) != 0)
            rc = 1;
        trace_log_free(&log);
    }
    free(file_text);
    backend_close(b);
    return rc;
}
