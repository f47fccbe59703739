/* tests/test_hostile.c: hostile input is refused or shown, never obeyed (issue 7).
 *
 * - Every input kept in tests/fuzz/regressions/NAME/ (a crash libFuzzer once found) and every
 *   seed in tests/fuzz/corpus/NAME/ goes through the fuzz target NAME's own entry point, in a
 *   child process, so `make test` and `make check` replay them without clang. The entry
 *   points are included here under other names; each one aborts on a broken contract.
 * - `moescope run` on the --hostile synth model: a pipe gets the model's raw bytes, exactly
 *   the pieces the engine generates; a terminal (a pty) gets no byte a terminal would act on
 *   and no bidi or zero-width character, only visible escapes; --raw turns that off.
 * - A context far larger than memory is refused with a clear message before any token.
 *
 * The moescope binary is the one beside the test binary's build folder: build-san/moescope
 * for build-san/test_engine (`make check`), ./moescope for build/test_engine. */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "gguf_write.h"
#include "text_escape.h"
#include "tokenizer.h"

/* The fuzz entry points, each under its own name. */
#define LLVMFuzzerTestOneInput th_fuzz_gguf
#include "fuzz/fuzz_gguf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput th_fuzz_tokenizer
#include "fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput th_fuzz_chat
#include "fuzz/fuzz_chat.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput th_fuzz_session
#include "fuzz/fuzz_session.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput th_fuzz_theme
#include "fuzz/fuzz_theme.c"
#undef LLVMFuzzerTestOneInput
/* The theme parser needs no curses; test_engine does not link themes/ otherwise. */
#include "../themes/theme.c"

#define SYNTH_NO_MAIN
#include "../tools/synth.c"

typedef int (*th_entry)(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    th_entry fn;
} th_targets[] = {
    { "fuzz_gguf", th_fuzz_gguf },       { "fuzz_tokenizer", th_fuzz_tokenizer },
    { "fuzz_chat", th_fuzz_chat },       { "fuzz_session", th_fuzz_session },
    { "fuzz_theme", th_fuzz_theme },
};
enum { TH_N_TARGETS = sizeof th_targets / sizeof th_targets[0] };

/* The repository root: the working directory when it has tests/fuzz, else two folders up
 * from the test binary (build/test_engine). */
static const char *th_root(void)
{
    static char root[PATH_MAX + 8];
    struct stat st;
    if (root[0])
        return root;
    if (stat("tests/fuzz", &st) == 0) {
        snprintf(root, sizeof root, ".");
        return root;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(root, sizeof root, "%s/..", exe);
    }
    return root;
}

/* The moescope binary to run (see the top), or NULL when it is not built. */
static const char *th_moescope(void)
{
    static char path[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    const char *dir = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    if (!strcmp(dir, "build-san"))
        snprintf(path, sizeof path, "%s/moescope", exe);
    else
        snprintf(path, sizeof path, "%s/../moescope", exe);
    return access(path, X_OK) == 0 ? path : NULL;
}

static uint8_t *th_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Runs fn on the file's bytes in a child. Returns 0, or the signal / exit status. */
static int th_replay_one(th_entry fn, const char *path)
{
    size_t n = 0;
    uint8_t *data = th_read_file(path, &n);
    if (!data)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* A copy of exactly n bytes, so a read past the end shows under ASan. */
        uint8_t *copy = malloc(n ? n : 1);
        if (copy) {
            memcpy(copy, data, n);
            fn(copy, n);
        }
        _exit(0); /* not exit(): the runner's atexit handler owns the temp folder */
    }
    free(data);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Every file in root/tests/fuzz/KIND/NAME/ through NAME's entry point. */
static int th_replay_dir(const char *kind)
{
    int total = 0;
    for (int t = 0; t < TH_N_TARGETS; t++) {
        char dir[PATH_MAX + 128];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", th_root(), kind, th_targets[t].name);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[PATH_MAX + 400];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            int rc = th_replay_one(th_targets[t].fn, path);
            CHECK_MSG(rc == 0, "%s on %s: %s %d", th_targets[t].name, path,
                      rc > 128 ? "killed by signal" : "exit status", rc > 128 ? rc - 128 : rc);
            total++;
        }
        closedir(d);
    }
    return total;
}

/* The inputs that once crashed a fuzz target stay fixed. */
TEST(hostile_fuzz_regressions_replay)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions", th_root());
    struct stat st;
    if (stat(dir, &st) != 0) {
        test_skip("no %s", dir);
        return;
    }
    int n = th_replay_dir("regressions");
    printf("  %d regression inputs replayed\n", n);
}

/* The seed corpora go through their targets too (under `make check` that is ASan and UBSan
 * over every seed, without clang). */
TEST(hostile_fuzz_corpus_replay)
{
    int n = th_replay_dir("corpus");
    CHECK_MSG(n >= TH_N_TARGETS, "only %d seed inputs found under %s/tests/fuzz/corpus", n,
              th_root());
}

/* ------------------------------------------------------------------ moescope run */

static const char th_prompt[] = "Hello there";
enum { TH_TOKENS = 48 };

/* Writes the hostile model into the temp folder once; its path, or NULL. */
static const char *th_hostile_model(void)
{
    static char path[4096];
    if (path[0])
        return path;
    char p[4096];
    snprintf(p, sizeof p, "%s/hostile.gguf", test_tmp_dir());
    char *argv[] = { "synth", "--hostile", "--seed", "1", "-o", p, NULL };
    synth_quiet = true;
    if (synth_main(6, argv) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s", p);
    return path;
}

/* The bytes `moescope run -p th_prompt -n TH_TOKENS --temp 0 -t 1` must print raw: the same
 * greedy generation through the engine API, its pieces concatenated. Caller frees. */
static char *th_expected_raw(const char *model, size_t *len)
{
    char err[512];
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = model;
    ep.n_threads = 1;
    ep.sampler.temp = 0;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return NULL;
    const struct model_desc *d = engine_desc(e);
    int32_t toks[64];
    int n = engine_tokenize(e, th_prompt, strlen(th_prompt), true, false, toks, 64, err,
                            sizeof err);
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    for (int t = 0; t < n; t++)
        trace_log_push(&log, toks[t], "", 0, true);
    char *out = malloc(TH_TOKENS * 64 + 1);
    size_t o = 0;
    for (int s = 0; out && s < TH_TOKENS; s++) {
        if (engine_eval(e, &log, err, sizeof err) != 0)
            break;
        long at = engine_sample(e, &log, err, sizeof err);
        if (at < 0 || engine_token_is_eog(e, log.tok[at].token))
            break;
        o += engine_token_piece(e, log.tok[at].token, out + o, 64);
    }
    trace_log_free(&log);
    engine_close(e);
    *len = o;
    return out;
}

/* Reads fd to the end (or EIO, which a pty master gives once the child is gone), for at most
 * 60 s. Caller frees. */
static char *th_slurp(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    time_t until = time(NULL) + 60;
    while (buf && time(NULL) < until) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (n == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Runs moescope run on the model with extra args; stdout goes to a pipe (pty false) or to a
 * raw-mode pty (pty true), stderr to err_path. Returns stdout's bytes; *status the exit. */
static char *th_run(const char *model, bool pty, const char *extra, const char *err_path,
                    const char *env, size_t *len, int *status)
{
    const char *bin = th_moescope();
    char *out = NULL;
    int fd = -1;
    pid_t pid;
    *len = 0;
    *status = -1;
    fflush(stdout);
    fflush(stderr);
    if (pty) {
        struct termios tio;
        memset(&tio, 0, sizeof tio);
        cfmakeraw(&tio); /* no \n -> \r\n: the bytes the program wrote, as they are */
        struct winsize ws = { .ws_row = 24, .ws_col = 80 };
        pid = forkpty(&fd, NULL, &tio, &ws);
    } else {
        int p[2];
        if (pipe(p) != 0)
            return NULL;
        pid = fork();
        if (pid == 0) {
            dup2(p[1], STDOUT_FILENO);
            close(p[0]);
            close(p[1]);
        } else {
            close(p[1]);
            fd = p[0];
        }
    }
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (e >= 0)
            dup2(e, STDERR_FILENO);
        if (env)
            putenv((char *)env);
        const char *argv[16] = { bin, "run", "-m", model, "-p", th_prompt, "-n", "48",
                                 "--temp", "0", "-t", "1" };
        int argc = 12;
        char extra_copy[256];
        snprintf(extra_copy, sizeof extra_copy, "%s", extra ? extra : "");
        for (char *tok = strtok(extra_copy, " "); tok && argc < 15; tok = strtok(NULL, " "))
            argv[argc++] = tok;
        argv[argc] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return NULL;
    out = th_slurp(fd, len);
    close(fd);
    waitpid(pid, status, 0);
    return out;
}

/* Counts what a terminal would act on or that reorders/hides text in s[0..n): C0 controls
 * other than \n and \t, DEL, invalid UTF-8, C1 controls, bidi controls, zero-width
 * characters. An independent list, not text_escape's table. */
static int th_count_unsafe(const char *s, size_t n, char *first, size_t firstlen)
{
    int bad = 0;
    first[0] = '\0';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = 0;
        size_t len = 0;
        if (c < 0x80) {
            cp = c;
            len = 1;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < n && ((unsigned char)s[i + 1] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x1f) << 6 | ((unsigned char)s[i + 1] & 0x3f);
            len = cp >= 0x80 ? 2 : 0;
        } else if ((c & 0xf0) == 0xe0 && i + 2 < n && ((unsigned char)s[i + 1] & 0xc0) == 0x80 &&
                   ((unsigned char)s[i + 2] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)((unsigned char)s[i + 1] & 0x3f) << 6 |
                 ((unsigned char)s[i + 2] & 0x3f);
            len = cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff) ? 3 : 0;
        } else if ((c & 0xf8) == 0xf0 && i + 3 < n && ((unsigned char)s[i + 1] & 0xc0) == 0x80 &&
                   ((unsigned char)s[i + 2] & 0xc0) == 0x80 &&
                   ((unsigned char)s[i + 3] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)((unsigned char)s[i + 1] & 0x3f) << 12 |
                 (uint32_t)((unsigned char)s[i + 2] & 0x3f) << 6 | ((unsigned char)s[i + 3] & 0x3f);
            len = cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
        }
        bool unsafe = len == 0 || (cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7f ||
                      (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x180e ||
                      (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
                      (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
        if (unsafe) {
            if (!bad)
                snprintf(first, firstlen, "byte %zu (0x%02x, U+%04X)", i, c, (unsigned)cp);
            bad++;
        }
        i += len ? len : 1;
    }
    return bad;
}

static bool th_contains(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

/* Not a terminal: stdout is exactly the raw generated bytes. */
TEST(hostile_run_pipe_is_raw)
{
    const char *model = th_hostile_model();
    CHECK(model != NULL);
    if (!model)
        return;
    if (!th_moescope()) {
        test_skip("moescope is not built beside the test binary");
        return;
    }
    size_t want_n = 0, got_n = 0;
    char *want = th_expected_raw(model, &want_n);
    char errp[4200];
    snprintf(errp, sizeof errp, "%s/run-pipe.err", test_tmp_dir());
    int st;
    char *got = th_run(model, false, NULL, errp, NULL, &got_n, &st);
    CHECK(got != NULL && want != NULL);
    if (got && want) {
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "moescope run: status %d", st);
        char first[64];
        int unsafe = th_count_unsafe(want, want_n, first, sizeof first);
        CHECK_MSG(unsafe >= 10, "the hostile model generated only %d unsafe pieces", unsafe);
        CHECK_MSG(got_n == want_n && memcmp(got, want, got_n) == 0,
                  "stdout (%zu bytes) is not the %zu raw bytes the engine generated", got_n,
                  want_n);
    }
    free(got);
    free(want);
}

/* A terminal: nothing a terminal would act on gets through, the pieces show as visible
 * escapes (ESC as \e), and --raw passes them through as they are. */
TEST(hostile_run_terminal_is_escaped)
{
    const char *model = th_hostile_model();
    CHECK(model != NULL);
    if (!model)
        return;
    if (!th_moescope()) {
        test_skip("moescope is not built beside the test binary");
        return;
    }
    size_t want_n = 0, got_n = 0, raw_n = 0;
    char *want = th_expected_raw(model, &want_n);
    char errp[4200];
    snprintf(errp, sizeof errp, "%s/run-pty.err", test_tmp_dir());
    int st, st_raw;
    char *got = th_run(model, true, NULL, errp, NULL, &got_n, &st);
    char *raw = th_run(model, true, "--raw", errp, NULL, &raw_n, &st_raw);
    CHECK(got && want && raw);
    if (got && want && raw) {
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "moescope run: status %d", st);
        char first[64];
        int bad = th_count_unsafe(got, got_n, first, sizeof first);
        CHECK_MSG(bad == 0, "%d unsafe sequences reached the terminal, the first at %s", bad,
                  first);
        CHECK_MSG(memchr(got, 0x1b, got_n) == NULL, "an ESC byte reached the terminal");
        CHECK_MSG(th_contains(got, got_n, "\\e"), "no visible \\e in %zu bytes", got_n);
        /* The visible form of exactly what the engine generated (a newline may end it). */
        size_t need = text_escape(want, want_n, NULL, 0);
        char *vis = malloc(need + 1);
        if (vis) {
            text_escape(want, want_n, vis, need + 1);
            CHECK_MSG(got_n >= need && memcmp(got, vis, need) == 0 &&
                      (got_n == need || (got_n == need + 1 && got[need] == '\n')),
                      "the terminal got %zu bytes, not the %zu of the escaped text", got_n, need);
            free(vis);
        }
        CHECK_MSG(WIFEXITED(st_raw) && WEXITSTATUS(st_raw) == 0, "run --raw: status %d", st_raw);
        CHECK_MSG(raw_n == want_n && memcmp(raw, want, raw_n) == 0,
                  "--raw on a terminal: %zu bytes, not the %zu raw ones", raw_n, want_n);
    }
    free(got);
    free(raw);
    free(want);
}

/* A context that cannot fit in memory (16M positions x 16 KB of KV each, 256 GB) is a clear
 * one-line message and exit 1 before the first token, never a crash. ASan's allocator is
 * told to return NULL as libc's does. */
TEST(hostile_run_context_larger_than_memory)
{
    if (!th_moescope()) {
        test_skip("moescope is not built beside the test binary");
        return;
    }
    char model[4096];
    snprintf(model, sizeof model, "%s/bigctx.gguf", test_tmp_dir());
    char *argv[] = { "synth", "--layers", "16", "--d-model", "256", "--heads", "4",
                     "--experts", "2", "--experts-used", "1", "--ff", "32", "--shared-ff", "32",
                     "--merges", "0", "--ctx", "16777216", "-o", model, NULL };
    synth_quiet = true;
    CHECK_INT_EQ(synth_main((int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
    char errp[4200];
    snprintf(errp, sizeof errp, "%s/bigctx.err", test_tmp_dir());
    size_t n = 0, en = 0;
    int st;
    char *out = th_run(model, false, "-c 16777216", errp,
                       "ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0", &n, &st);
    char *msg = (char *)th_read_file(errp, &en);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d (want exit 1)", st);
    CHECK_MSG(n == 0, "%zu bytes of output before the refusal", n);
    CHECK_MSG(msg && en > 0 && memmem(msg, en, "moescope", 8) && memmem(msg, en, "memory", 6) &&
              memchr(msg, '\n', en) == msg + en - 1,
              "stderr is not one line naming the memory: '%.*s'", (int)en, msg ? msg : "");
    free(out);
    free(msg);
}

/* ------------------------------------------------------------------ metadata */

static const char th_evil[] = "\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae";

/* A message made safe for the test's own output (a failure must not obey what it reports). */
static const char *th_vis(const char *s)
{
    static char buf[2048];
    text_escape(s, strlen(s), buf, sizeof buf);
    return buf;
}

/* A file's strings quoted in an error message reach a terminal (moescope prints the
 * message): they must come out as visible escapes, as gguf.c already does for key and tensor
 * names. Checked for an unknown architecture (model_describe), an unknown tokenizer model and
 * an unknown pre-tokenizer (tokenizer_load). */
TEST(hostile_metadata_in_error_messages)
{
    char path[4096], err[1024], first[64];
    snprintf(path, sizeof path, "%s/evil-arch.gguf", test_tmp_dir());
    struct gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    if (!w)
        return;
    gguf_writer_add_str(w, "general.architecture", th_evil);
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0);
    gguf_writer_free(w);
    struct model_desc d;
    err[0] = '\0';
    CHECK(model_describe(path, &d, err, sizeof err) != 0);
    CHECK_MSG(th_count_unsafe(err, strlen(err), first, sizeof first) == 0,
              "unknown architecture: the message carries the file's raw bytes (%s): %s", first,
              th_vis(err));

    static const char *const tok_names[] = { "bpe-model", "bpe-pre" };
    for (int k = 0; k < 2; k++) {
        w = gguf_writer_new();
        if (!w)
            return;
        const char *tokens[] = { "a", "b" };
        int32_t types[] = { 1, 1 };
        gguf_writer_add_str(w, "tokenizer.ggml.model", k == 0 ? th_evil : "gpt2");
        if (k == 1)
            gguf_writer_add_str(w, "tokenizer.ggml.pre", th_evil);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, 2);
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, 2);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", tokens, 0);
        uint8_t *mem = NULL;
        uint64_t n = 0;
        struct gguf_file f;
        if (gguf_writer_to_mem(w, &mem, &n, err, sizeof err) == 0 &&
            gguf_parse(&f, mem, n, "evil-vocab.gguf", err, sizeof err) == 0) {
            err[0] = '\0';
            struct tokenizer *t = tokenizer_load(&f, err, sizeof err);
            CHECK_MSG(t == NULL, "%s: a hostile name was accepted", tok_names[k]);
            if (t)
                tokenizer_free(t);
            CHECK_MSG(th_count_unsafe(err, strlen(err), first, sizeof first) == 0,
                      "%s: the message carries the file's raw bytes (%s): %s", tok_names[k],
                      first, th_vis(err));
            gguf_close(&f);
        } else {
            CHECK_MSG(false, "%s", th_vis(err));
        }
        free(mem);
        gguf_writer_free(w);
    }
}

/* `moescope info` on a terminal: a model's name from a stranger shows as visible escapes,
 * as the app's status bar already shows it. */
TEST(hostile_info_on_terminal)
{
    const char *bin = th_moescope();
    if (!bin) {
        test_skip("moescope is not built beside the test binary");
        return;
    }
    char model[4096];
    snprintf(model, sizeof model, "%s/evil-name.gguf", test_tmp_dir());
    char name[64];
    snprintf(name, sizeof name, "evil%s", th_evil);
    char *argv[] = { "synth", "--layers", "1", "--d-model", "16", "--heads", "2", "--experts",
                     "2", "--experts-used", "1", "--ff", "8", "--shared-ff", "8", "--merges",
                     "0", "--name", name, "-o", model, NULL };
    synth_quiet = true;
    CHECK_INT_EQ(synth_main((int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
    struct termios tio;
    memset(&tio, 0, sizeof tio);
    cfmakeraw(&tio);
    struct winsize ws = { .ws_row = 24, .ws_col = 80 };
    int fd = -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = forkpty(&fd, NULL, &tio, &ws);
    if (pid == 0) {
        execl(bin, bin, "info", model, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    if (pid < 0)
        return;
    size_t n = 0;
    char *out = th_slurp(fd, &n);
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    char first[64];
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "moescope info: status %d", st);
    CHECK_MSG(out && memmem(out, n, "evil", 4), "the name is not shown");
    int bad = out ? th_count_unsafe(out, n, first, sizeof first) : 0;
    CHECK_MSG(bad == 0, "moescope info wrote %d unsafe sequences to the terminal, the first at %s",
              bad, first);
    free(out);
}

/* ------------------------------------------------------------------ hostile hyper-parameters */

/* In a child: describe, open, and run two tokens through path. The child exits 0 when
 * everything either worked or was refused with one line naming the file, 3 when a message
 * broke that contract; a crash or a hang (alarm) shows as a signal. */
static int th_try_model(const char *path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        char err[1024];
        struct model_desc d;
        err[0] = '\0';
        if (model_describe(path, &d, err, sizeof err) != 0 &&
            (!strstr(err, "patched.gguf") || strchr(err, '\n')))
            _exit(3);
        struct engine_params ep;
        engine_params_default(&ep);
        ep.model_path = path;
        ep.n_threads = 1;
        err[0] = '\0';
        struct engine *e = engine_open(&ep, err, sizeof err);
        if (!e)
            _exit(strstr(err, "patched.gguf") && !strchr(err, '\n') ? 0 : 3);
        const struct model_desc *md = engine_desc(e);
        int32_t toks[8];
        int n = engine_tokenize(e, "Hi", 2, true, false, toks, 8, err, sizeof err);
        struct trace_log log;
        if (n > 0 && trace_log_init(&log, md->n_layers, md->n_experts, md->n_experts_used) == 0) {
            for (int t = 0; t < n; t++)
                trace_log_push(&log, toks[t], "", 0, true);
            if (engine_eval(e, &log, err, sizeof err) == 0)
                engine_sample(e, &log, err, sizeof err);
            trace_log_free(&log);
        }
        engine_close(e);
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* A small synth model (2 layers, 4 experts) written to the temp folder as name, its bytes
 * (malloc'd, *n of them) parsed into f; NULL after a failed check. */
static uint8_t *th_small_model(const char *name, size_t *n, struct gguf_file *f)
{
    char base[4096], err[512];
    snprintf(base, sizeof base, "%s/%s", test_tmp_dir(), name);
    char *argv[] = { "synth", "--layers", "2", "--d-model", "32", "--heads", "4", "--kv-heads",
                     "2", "--experts", "4", "--experts-used", "2", "--ff", "32", "--shared-ff",
                     "32", "--merges", "8", "--ctx", "64", "-o", base, NULL };
    synth_quiet = true;
    CHECK_INT_EQ(synth_main((int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
    uint8_t *orig = th_read_file(base, n);
    if (!orig || gguf_parse(f, orig, *n, name, err, sizeof err) != 0) {
        CHECK_MSG(false, "%s", err);
        free(orig);
        return NULL;
    }
    return orig;
}

/* Every number in a small model's metadata set, one at a time, to values a hostile file could
 * hold (0, 1, -1, the type's extremes, NaN, infinities): the loader and the engine refuse
 * with one line or work, and never crash or hang. The numbers are patched in place, so the
 * rest of the file stays valid. */
TEST(hostile_model_metadata_extremes)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/patched.gguf", test_tmp_dir());
    size_t n = 0;
    struct gguf_file f;
    uint8_t *orig = th_small_model("extremes.gguf", &n, &f);
    if (!orig)
        return;
    static const uint32_t u32v[] = { 0, 1, 2, 3, 0x7fffffffu, 0x80000000u, 0xffffffffu, 65 };
    static const float f32v[] = { 0.0f, -1.0f, 1e30f, -1e30f, 1e-30f, INFINITY, -INFINITY, NAN };
    int cases = 0, bad = 0;
    uint8_t *copy = malloc(n);
    for (uint64_t k = 0; copy && k < f.n_kv; k++) {
        const struct gguf_kv *kv = &f.kv[k];
        size_t at = (size_t)(kv->value - orig);
        int width = kv->type == GGUF_VT_UINT32 || kv->type == GGUF_VT_INT32 ||
                    kv->type == GGUF_VT_FLOAT32 ? 4 : kv->type == GGUF_VT_BOOL ? 1 : 0;
        if (!width)
            continue;
        for (int v = 0; v < 8; v++) {
            memcpy(copy, orig, n);
            if (kv->type == GGUF_VT_FLOAT32)
                memcpy(copy + at, &f32v[v], 4);
            else if (kv->type == GGUF_VT_BOOL)
                copy[at] = (uint8_t)(v * 37);
            else
                memcpy(copy + at, &u32v[v], 4);
            FILE *fp = fopen(path, "wb");
            if (!fp || fwrite(copy, 1, n, fp) != n) {
                CHECK_MSG(false, "cannot write %s", path);
                if (fp)
                    fclose(fp);
                break;
            }
            fclose(fp);
            int rc = th_try_model(path);
            cases++;
            if (rc != 0) {
                bad++;
                CHECK_MSG(false, "%.*s = case %d: %s %d", (int)kv->key.len, kv->key.ptr, v,
                          rc > 128 ? "killed by signal" : rc == 3 ? "bad message, exit" : "exit",
                          rc > 128 ? rc - 128 : rc);
            }
            if (kv->type == GGUF_VT_BOOL && v == 2)
                break;
        }
    }
    printf("  %d patched models, %d crashed or broke the message contract\n", cases, bad);
    free(copy);
    gguf_close(&f);
    free(orig);
}

/* Hyper-parameters that load but compute garbage are refused with one line naming the key
 * (issue 17): a RoPE base or a norm epsilon of 0 or below, and a block_count below the blocks
 * whose tensors the file holds. Each is patched into a small synth model. */
TEST(hostile_model_bad_hyperparameters_refused)
{
    char path[4200], err[1024];
    snprintf(path, sizeof path, "%s/hp-patched.gguf", test_tmp_dir());
    size_t n = 0;
    struct gguf_file f;
    uint8_t *orig = th_small_model("hp.gguf", &n, &f);
    if (!orig)
        return;
    static const struct {
        const char *key_end;   /* the key, after "qwen2moe." */
        bool is_float;
        float f;
        uint32_t u;
    } cases[] = {
        { "rope.freq_base", true, 0.0f, 0 },
        { "rope.freq_base", true, -10000.0f, 0 },
        { "attention.layer_norm_rms_epsilon", true, 0.0f, 0 },
        { "attention.layer_norm_rms_epsilon", true, -1e-6f, 0 },
        { "block_count", false, 0.0f, 1 },
    };
    uint8_t *copy = malloc(n);
    for (size_t c = 0; copy && c < sizeof cases / sizeof cases[0]; c++) {
        char key[128];
        snprintf(key, sizeof key, "qwen2moe.%s", cases[c].key_end);
        const struct gguf_kv *kv = NULL;
        for (uint64_t k = 0; k < f.n_kv && !kv; k++)
            if (f.kv[k].key.len == strlen(key) && !memcmp(f.kv[k].key.ptr, key, strlen(key)))
                kv = &f.kv[k];
        if (!kv) {
            CHECK_MSG(false, "synth wrote no %s", key);
            continue;
        }
        memcpy(copy, orig, n);
        if (cases[c].is_float)
            memcpy(copy + (kv->value - orig), &cases[c].f, 4);
        else
            memcpy(copy + (kv->value - orig), &cases[c].u, 4);
        FILE *fp = fopen(path, "wb");
        CHECK(fp && fwrite(copy, 1, n, fp) == n);
        if (fp)
            fclose(fp);
        struct engine_params ep;
        engine_params_default(&ep);
        ep.model_path = path;
        ep.n_threads = 1;
        err[0] = 0;
        struct engine *e = engine_open(&ep, err, sizeof err);
        CHECK_MSG(!e, "%s = %g/%u was accepted", key, (double)cases[c].f, cases[c].u);
        CHECK_MSG(!e && strstr(err, "hp-patched.gguf") && strstr(err, key) && !strchr(err, '\n'),
                  "%s: the refusal should name the file and the key in one line: %s", key, err);
        engine_close(e);
    }
    free(copy);
    gguf_close(&f);
    free(orig);
}

/* ------------------------------------------------------------------ fixture vocabularies */

/* A random text of up to 200 bytes: raw bytes, valid UTF-8 of every length, runs of
 * whitespace and digits, and special-token texts of the vocabulary, mixed. */
static size_t th_random_text(uint64_t *s, char *out, const char *const *specials, int n_spec,
                             bool raw_bytes)
{
    size_t n = 0, want = (size_t)(*s % 200);
    while (n + 16 < want + 16 && n < 200) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(*s >> 33);
        switch (r % 6) {
        case 0: /* a raw byte (or, for valid UTF-8 only, a letter) */
            out[n++] = raw_bytes ? (char)(r >> 8) : (char)('a' + (r >> 8) % 26);
            break;
        case 1: /* ASCII */
            out[n++] = (char)(32 + (r >> 8) % 95);
            break;
        case 2: { /* a valid code point of 2 to 4 bytes (no surrogates) */
            uint32_t cp = 0x80 + (r >> 8) % 0x10ff7f;
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0x4e2d;
            if (cp < 0x800) {
                out[n++] = (char)(0xc0 | cp >> 6);
            } else if (cp < 0x10000) {
                out[n++] = (char)(0xe0 | cp >> 12);
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            } else {
                out[n++] = (char)(0xf0 | cp >> 18);
                out[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            }
            out[n++] = (char)(0x80 | (cp & 0x3f));
            break;
        }
        case 3: /* whitespace */
            out[n++] = " \t\n\r  "[(r >> 8) % 6];
            break;
        case 4: /* digits */
            out[n++] = (char)('0' + (r >> 8) % 10);
            break;
        default: /* a special token's text */
            if (n_spec > 0) {
                const char *sp = specials[(r >> 8) % (uint32_t)n_spec];
                size_t l = strlen(sp);
                if (n + l < 230) {
                    memcpy(out + n, sp, l);
                    n += l;
                }
            }
            break;
        }
    }
    return n;
}

static bool th_valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (l <= 0)
            return false;
        i += (size_t)l;
    }
    return true;
}

/* Random bytes against each fixture vocabulary (issue 7's tokenizer fuzzing, replayed
 * deterministically so `make check` runs it under ASan): ids stay in range, a short output
 * buffer gets -needed and the same first tokens, and byte-level BPE gives a valid UTF-8
 * text back byte for byte. */
TEST(hostile_tokenizer_random_bytes_fixture_vocabs)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tokenizer", fx);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    static const char *const specials[] = { "<s>", "</s>", "<|endoftext|>", "<unk>",
                                            "<|im_start|>", "<|eot_id|>", "<pad>", "[CLS]" };
    struct dirent *e;
    int n_vocabs = 0, n_trips = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf") != 0)
            continue;
        char path[8192], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct gguf_file f;
        if (gguf_open(&f, path, err, sizeof err) != 0) {
            /* refused as ggml refuses it (dbrx's file repeats a key): one line, fine */
            CHECK_MSG(strchr(err, '\n') == NULL && strstr(err, e->d_name), "%s", th_vis(err));
            continue;
        }
        struct tokenizer *t = tokenizer_load(&f, err, sizeof err);
        gguf_close(&f);
        if (!t)
            continue; /* a kind moescope does not run (e.g. WordPiece): refused, fine */
        n_vocabs++;
        int nv = tokenizer_n_vocab(t), bad_id = 0, bad_short = 0, bad_trip = 0, trips = 0;
        bool bpe = !strcmp(tokenizer_kind(t), "bpe");
        /* Some vocabularies lack byte tokens (falcon, starcoder and refact have no 0xF1 or
         * 0xF2); llama.cpp then drops that byte, so the round trip needs every byte present. */
        bool has_byte[256];
        for (int b = 0; b < 256; b++) {
            char bt[4];
            synth_byte_token(b, bt);
            has_byte[b] = tokenizer_find(t, bt, strlen(bt)) >= 0;
        }
        uint64_t seed = 0x9e3779b97f4a7c15ull ^ l;
        char text[256], back[8192];
        int32_t ids[1024], few[3];
        for (int it = 0; it < 150; it++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = th_random_text(&seed, text, specials, 8, it % 2 == 0);
            for (int mode = 0; mode < 4; mode++) {
                bool add = mode & 1, special = mode & 2;
                int k = tokenizer_encode(t, text, n, add, special, ids, 1024);
                if (k < 0 || k > 1024) {
                    bad_id++;
                    continue;
                }
                for (int i = 0; i < k; i++)
                    bad_id += ids[i] < 0 || ids[i] >= nv;
                int s = tokenizer_encode(t, text, n, add, special, few, 3);
                bad_short += k > 3 ? s != -k : s != k;
                for (int i = 0; i < (k < 3 ? k : 3); i++)
                    bad_short += few[i] != ids[i];
                bool covered = true;
                for (size_t i = 0; i < n; i++)
                    covered &= has_byte[(unsigned char)text[i]];
                if (bpe && mode == 0 && covered && th_valid_utf8(text, n)) {
                    trips++;
                    size_t o = 0;
                    for (int i = 0; i < k && o < sizeof back; i++)
                        o += tokenizer_piece(t, ids[i], back + o, sizeof back - o);
                    if (o != n || memcmp(back, text, n) != 0) {
                        if (!bad_trip) {
                            char v1[2048], v2[2048];
                            text_escape(text, n, v1, sizeof v1);
                            text_escape(back, o < sizeof back ? o : sizeof back, v2, sizeof v2);
                            printf("  %s: '%s' came back as '%s'\n", e->d_name, v1, v2);
                        }
                        bad_trip++;
                    }
                }
            }
        }
        CHECK_MSG(bad_id == 0 && bad_short == 0 && bad_trip == 0,
                  "%s: %d ids out of range, %d short-buffer results wrong, %d texts not given "
                  "back", e->d_name, bad_id, bad_short, bad_trip);
        CHECK_MSG(!bpe || trips >= 20, "%s: only %d texts checked for the round trip",
                  e->d_name, trips);
        n_trips += trips;
        tokenizer_free(t);
    }
    closedir(d);
    CHECK(n_vocabs > 0);
    printf("  %d fixture vocabularies, 150 random texts x 4 modes each, %d BPE round trips\n",
           n_vocabs, n_trips);
}
