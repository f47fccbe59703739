/* tests/test_session.c: sessions in memory and on disk: ranges, round trips to identical
 * bytes, the size of the trace columns, atomic saves under kill -9 and a full disk, and the
 * guard against replacing another session's file. The sessions are hand-built
 * (session_build.h); expected values come from that description, not from our output. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "engine.h"
#include "session.h"
#include "session_build.h"
#include "session_format.h"
#include "test.h"
#include "trace_stats.h"

static const struct build_spec small_spec = { 4, 8, 2, 1000, 3, 5, 7, 1 };

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static int write_all(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Compares two sessions field by field; weights within float16's half-ulp (2^-11 relative),
 * everything else exactly. */
static void check_same_session(const struct session *a, const struct session *b)
{
    CHECK_STR_EQ(b->id, a->id);
    CHECK_STR_EQ(b->created, a->created);
    CHECK_STR_EQ(b->updated, a->updated);
    CHECK_STR_EQ(b->model.file, a->model.file);
    CHECK_STR_EQ(b->model.name, a->model.name);
    CHECK_INT_EQ(b->model.n_layers, a->model.n_layers);
    CHECK_INT_EQ(b->model.n_vocab, a->model.n_vocab);
    CHECK(b->model.hash == a->model.hash);
    CHECK(b->sampler.seed == a->sampler.seed);
    CHECK(b->sampler.temp == a->sampler.temp);
    CHECK(b->sampler.top_p == a->sampler.top_p);
    if (a->system_prompt || b->system_prompt)
        CHECK_STR_EQ(b->system_prompt, a->system_prompt);
    CHECK_INT_EQ(b->n_msg, a->n_msg);
    for (size_t i = 0; i < a->n_msg && i < b->n_msg; i++) {
        CHECK_INT_EQ(b->msg[i].role, a->msg[i].role);
        CHECK_INT_EQ(b->msg[i].content_len, a->msg[i].content_len);
        CHECK(!memcmp(b->msg[i].content, a->msg[i].content, a->msg[i].content_len));
        CHECK_INT_EQ(b->msg[i].trace_begin, a->msg[i].trace_begin);
        CHECK_INT_EQ(b->msg[i].trace_end, a->msg[i].trace_end);
    }
    CHECK_INT_EQ(b->log.n, a->log.n);
    size_t bad = 0;
    for (size_t i = 0; i < a->log.n && i < b->log.n; i++) {
        const struct trace_token *x = &a->log.tok[i], *y = &b->log.tok[i];
        bad += x->pos != y->pos || x->token != y->token || x->piece_len != y->piece_len ||
               memcmp(trace_piece(&a->log, i), trace_piece(&b->log, i), x->piece_len) ||
               x->prompt != y->prompt || x->fed != y->fed || x->sampled != y->sampled ||
               memcmp(&x->logprob, &y->logprob, 4) || x->ns_total != y->ns_total ||
               memcmp(x->ns, y->ns, sizeof x->ns) || memcmp(x->top_id, y->top_id, sizeof x->top_id) ||
               memcmp(x->top_logprob, y->top_logprob, sizeof x->top_logprob);
        for (int l = 0; l < a->log.n_layers; l++) {
            const struct trace_layer *p = &trace_layers(&a->log, i)[l];
            const struct trace_layer *q = &trace_layers(&b->log, i)[l];
            bad += p->n != q->n;
            if (!p->n)
                continue;
            bad += memcmp(&p->entropy, &q->entropy, 4) != 0 ||
                   memcmp(&p->top1_prob, &q->top1_prob, 4) != 0 || p->cold != q->cold;
            for (int k = 0; k < p->n; k++)
                bad += p->experts[k] != q->experts[k] ||
                       !(fabsf(p->weights[k] - q->weights[k]) <=
                         fabsf(p->weights[k]) * (1.0f / 2048) + 1e-7f);
        }
    }
    CHECK_INT_EQ(bad, 0);
}

TEST(session_ranges_follow_messages)
{
    struct session s;
    CHECK(build_session(&s, &small_spec) == 0);
    char err[256];
    CHECK(session_check(&s, err, sizeof err) == 0);
    size_t turn = small_spec.prompt_len + small_spec.gen_len;
    /* messages: user, assistant per turn; each assistant owns its whole turn */
    CHECK_INT_EQ(s.n_msg, 2 * small_spec.n_turns);
    CHECK_INT_EQ(s.msg[1].trace_begin, 0);
    CHECK_INT_EQ(s.msg[1].trace_end, turn);
    CHECK_INT_EQ(s.msg[3].trace_begin, turn);
    CHECK_INT_EQ(s.msg[0].trace_end, 0);
    /* regenerate the last reply: its records go, the earlier turns stay */
    session_truncate(&s, 5);
    CHECK_INT_EQ(s.n_msg, 5);
    CHECK_INT_EQ(s.log.n, 2 * turn);
    CHECK(session_check(&s, err, sizeof err) == 0);
    /* a gap is reported */
    session_set_range(&s, 3, turn + 1, 2 * turn);
    CHECK(session_check(&s, err, sizeof err) != 0);
    CHECK(strstr(err, "message 3") != NULL);
    session_free(&s);
}

TEST(session_float16_conversion)
{
    /* Every float16 survives float16 -> float -> float16 (so re-saves are identical), and
     * rounding matches a float64 nearest-even computation on sample values. */
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = session_f16_to_f32((uint16_t)h);
        bool nan = ((h >> 10) & 31) == 31 && (h & 0x3ff);
        if (!nan && session_f32_to_f16(f) != h)
            bad++;
        if (nan && !isnan(f))
            bad++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_NEAR(session_f16_to_f32(session_f32_to_f16(0.1f)), 0.0999755859375, 0);
    CHECK_NEAR(session_f16_to_f32(session_f32_to_f16(65504.0f)), 65504.0, 0);
    CHECK(isinf(session_f16_to_f32(session_f32_to_f16(70000.0f))));
    CHECK_NEAR(session_f16_to_f32(session_f32_to_f16(1e-7f)), ldexp(2, -24), 0);
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1). */
    CHECK_NEAR(session_f16_to_f32(session_f32_to_f16(1.0f + 1.0f / 2048)), 1.0, 0);
}

TEST(session_base64_strict)
{
    unsigned char out[16];
    char enc[16];
    session_b64_encode((const unsigned char *)"moe", 3, enc);
    CHECK(!memcmp(enc, "bW9l", 4));
    session_b64_encode((const unsigned char *)"mo", 2, enc);
    CHECK(!memcmp(enc, "bW8=", 4));
    CHECK_INT_EQ(session_b64_decode("bW8=", 4, out), 2);
    CHECK(!memcmp(out, "mo", 2));
    CHECK_INT_EQ(session_b64_decode("bW9=", 4, out), -1); /* stray bits: not canonical */
    CHECK_INT_EQ(session_b64_decode("bW8", 3, out), -1);
    CHECK_INT_EQ(session_b64_decode("b=8=", 4, out), -1);
    CHECK_INT_EQ(session_b64_decode("", 0, out), 0);
}

TEST(session_roundtrip_identical_bytes)
{
    struct session a, b;
    CHECK(build_session(&a, &small_spec) == 0);
    char err[512];
    char *j1 = NULL, *j2 = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK(session_to_json(&a, &j1, &n1, err, sizeof err) == 0);
    int rc = session_load_buffer(&b, j1, n1, "mem.json", err, sizeof err);
    CHECK_MSG(rc == 0, "load: %s", err);
    if (rc == 0) {
        CHECK(session_to_json(&b, &j2, &n2, err, sizeof err) == 0);
        CHECK_INT_EQ(n2, n1);
        CHECK(j2 && n1 == n2 && !memcmp(j1, j2, n1));
        check_same_session(&a, &b);
        session_free(&b);
    }
    /* the binary pieces and content went to base64, the clean ones stayed text */
    CHECK(strstr(j1, "\"pieces_b64\"") != NULL);
    CHECK(strstr(j1, "\"content_b64\"") != NULL);
    CHECK(strstr(j1, "\"pieces\":\"") != NULL);
    CHECK(strstr(j1, "\"seed\":\"18446744073709551615\"") != NULL);
    free(j1);
    free(j2);
    session_free(&a);
}

TEST(session_save_load_file_and_guard)
{
    struct session a, b;
    CHECK(build_session(&a, &small_spec) == 0);
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/s1.json", test_tmp_dir());
    CHECK_MSG(session_save(&a, path, false, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(session_load(&b, path, err, sizeof err) == 0, "%s", err);
    check_same_session(&a, &b);
    /* the same session again: replaced */
    CHECK_MSG(session_save(&b, path, false, err, sizeof err) == 0, "%s", err);
    char id[SESSION_ID_LEN + 1];
    CHECK_INT_EQ(session_peek_id(path, id, err, sizeof err), 1);
    CHECK_STR_EQ(id, a.id);
    session_free(&b);

    /* a different session: refused, the file keeps the first one */
    struct session c;
    CHECK(session_init(&c, 4, 8, 2) == 0);
    size_t len0, len1;
    char *before = read_all(path, &len0);
    CHECK(session_save(&c, path, false, err, sizeof err) != 0);
    CHECK(strstr(err, "different session") != NULL);
    char *after = read_all(path, &len1);
    CHECK(before && after && len0 == len1 && !memcmp(before, after, len0));
    /* forced: replaced */
    CHECK(session_save(&c, path, true, err, sizeof err) == 0);
    CHECK_INT_EQ(session_peek_id(path, id, err, sizeof err), 1);
    CHECK_STR_EQ(id, c.id);
    /* a file that is not a session: refused unless forced */
    char other[4096];
    snprintf(other, sizeof other, "%s/notes.txt", test_tmp_dir());
    CHECK(write_all(other, "my notes\n", 9) == 0);
    CHECK(session_save(&c, other, false, err, sizeof err) != 0);
    CHECK(strstr(err, "not a moescope session") != NULL);
    free(before);
    free(after);
    session_free(&c);
    session_free(&a);
}

TEST(session_bytes_per_token_layer)
{
    /* 48 layers, 64 experts, k = 8 (the target shape); layer 0 is dense, so the
     * figure is per routed (token, layer) over the whole file, everything included. */
    struct build_spec sp = { 48, 64, 8, 150000, 2, 40, 200, 3 };
    struct session s;
    CHECK(build_session(&s, &sp) == 0);
    char *j = NULL, err[256];
    size_t n = 0;
    CHECK(session_to_json(&s, &j, &n, err, sizeof err) == 0);
    size_t routed = 0;
    for (size_t i = 0; i < s.log.n; i++)
        for (int l = 0; l < sp.n_layers; l++)
            routed += trace_layers(&s.log, i)[l].n > 0;
    double per = (double)n / (double)routed;
    printf("  session: %zu bytes for %zu records x %d layers (%zu routed pairs): %.1f bytes per "
           "routed (token, layer), %.1f per (token, layer)\n",
           n, s.log.n, sp.n_layers, routed, per, (double)n / (double)(s.log.n * 48));
    CHECK(per <= 64);
    free(j);
    session_free(&s);
}

TEST(session_autosave_name)
{
    struct session s;
    CHECK(build_session(&s, &small_spec) == 0);
    char old[4096] = "";
    const char *x = getenv("XDG_DATA_HOME");
    if (x)
        snprintf(old, sizeof old, "%s", x);
    setenv("XDG_DATA_HOME", test_tmp_dir(), 1);
    char path[4096], err[256];
    CHECK(session_autosave_path(&s, path, sizeof path, err, sizeof err) == 0);
    CHECK(strstr(path, "/moescope/sessions/") != NULL);
    CHECK(strstr(path, "-why-are-experts-fast-turn.json") != NULL);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/moescope/sessions", test_tmp_dir());
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    if (x)
        setenv("XDG_DATA_HOME", old, 1);
    else
        unsetenv("XDG_DATA_HOME");
    session_free(&s);
}

/* Two copies of the app that start the same conversation in the same second must not share
 * an autosave name (issue 17: the second one never saved): a taken name gets the session's
 * id, then a counter. */
TEST(session_autosave_name_never_clashes)
{
    struct session s;
    CHECK(build_session(&s, &small_spec) == 0);
    char old[4096] = "", data[4096];
    const char *x = getenv("XDG_DATA_HOME");
    if (x)
        snprintf(old, sizeof old, "%s", x);
    snprintf(data, sizeof data, "%s/autosave-clash", test_tmp_dir());
    setenv("XDG_DATA_HOME", data, 1);
    char first[4096], second[4096], third[4096], err[256], id8[9];
    snprintf(id8, sizeof id8, "%.8s", s.id);
    CHECK(session_autosave_path(&s, first, sizeof first, err, sizeof err) == 0);
    FILE *f = fopen(first, "w");   /* another instance's autosave took the name */
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(session_autosave_path(&s, second, sizeof second, err, sizeof err) == 0);
    CHECK_MSG(strcmp(first, second) != 0, "the taken name was given again: %s", second);
    CHECK(strstr(second, id8) != NULL);
    f = fopen(second, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(session_autosave_path(&s, third, sizeof third, err, sizeof err) == 0);
    CHECK(strcmp(third, first) != 0 && strcmp(third, second) != 0);
    CHECK(strstr(third, "-2.json") != NULL);
    if (x)
        setenv("XDG_DATA_HOME", old, 1);
    else
        unsetenv("XDG_DATA_HOME");
    session_free(&s);
}

/* Counts ".NAME.tmp-" files left in dir. */
static int count_temps(const char *dir, const char *name)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", name);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return n;
}

TEST(session_kill9_during_saves)
{
    /* A child saves two versions of one session (same id) in turn, in a loop; it is killed
     * at a random moment, 200 times. After each kill the file must load and be byte for
     * byte one of the two versions. */
    struct build_spec sp = { 16, 32, 4, 5000, 2, 40, 120, 5 };
    struct session v[2];
    CHECK(build_session(&v[0], &sp) == 0);
    char *json[2];
    size_t len[2];
    char err[512];
    CHECK(session_to_json(&v[0], &json[0], &len[0], err, sizeof err) == 0);
    CHECK(session_load_buffer(&v[1], json[0], len[0], "v0", err, sizeof err) == 0);
    session_add_message(&v[1], SESSION_USER, "one more", 8);
    CHECK(session_to_json(&v[1], &json[1], &len[1], err, sizeof err) == 0);

    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/kill", test_tmp_dir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/k.json", dir);
    CHECK(session_save(&v[0], path, false, err, sizeof err) == 0);

    /* Kill moments spread over about three saves, so they land in every phase of one
     * (write, fsync, rename, folder fsync) and after both versions. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 4; i++)
        CHECK(session_save(&v[i & 1], path, false, err, sizeof err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long save_ns = ((t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec) / 4;
    long span_ns = 3 * save_ns + 200000; /* + the fork */
    if (span_ns > 900000000L)
        span_ns = 900000000L;

    int seen[2] = { 0, 0 }, bad = 0, max_temps = 0;
    uint64_t rng = (uint64_t)time(NULL) | 1;
    for (int round = 0; round < 200; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            char e2[512];
            for (unsigned i = 0;; i++)
                if (session_save(&v[i & 1], path, false, e2, sizeof e2) != 0)
                    _exit(3);
        }
        struct timespec ts = { 0, (long)(build_next(&rng) % (uint64_t)span_ns) };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            bad++; /* the child failed to save on its own */
        size_t n;
        char *got = read_all(path, &n);
        int which = -1;
        for (int k = 0; k < 2; k++)
            if (got && n == len[k] && !memcmp(got, json[k], n))
                which = k;
        struct session t;
        if (got && session_load_buffer(&t, got, n, "k.json", err, sizeof err) == 0)
            session_free(&t);
        else
            which = -1;
        if (which < 0)
            bad++;
        else
            seen[which]++;
        free(got);
        int temps = count_temps(dir, "k.json");
        if (temps > max_temps)
            max_temps = temps;
    }
    /* The next save clears the temp files the killed writers left. */
    CHECK(session_save(&v[0], path, false, err, sizeof err) == 0);
    int left = count_temps(dir, "k.json");
    printf("  kill -9: one save of %zu bytes takes %.1f ms; 200 kills over [0, %.1f ms]: %d "
           "times the old version, %d the new, %d bad; at most %d stale temp files between "
           "kills, %d after the next save\n",
           len[0], save_ns / 1e6, span_ns / 1e6, seen[0], seen[1], bad, max_temps, left);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(left, 0);
    for (int k = 0; k < 2; k++) {
        free(json[k]);
        session_free(&v[k]);
    }
}

TEST(session_full_disk_keeps_old_file)
{
    /* A forked child saves under RLIMIT_FSIZE (the kernel's "file too large" stands in for a
     * full disk: write() fails part way); the old file must stay and the error say why. */
    struct build_spec sp = { 8, 16, 2, 1000, 3, 30, 100, 9 };
    struct session big, small;
    CHECK(build_session(&big, &sp) == 0);
    CHECK(session_init(&small, 8, 16, 2) == 0);
    memcpy(small.id, big.id, sizeof small.id); /* the same session, earlier */
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/full.json", test_tmp_dir());
    CHECK(session_save(&small, path, false, err, sizeof err) == 0);
    size_t len0;
    char *before = read_all(path, &len0);
    CHECK(before && len0 < 4096);

    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(60); /* never leave the parent waiting on a stuck child */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 4096, 4096 };
        setrlimit(RLIMIT_FSIZE, &rl);
        char e2[512] = "";
        int rc = session_save(&big, path, false, e2, sizeof e2);
        ssize_t w = write(fds[1], e2, strlen(e2));
        (void)w;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    char msg[512] = "";
    ssize_t r = read(fds[0], msg, sizeof msg - 1);
    msg[r > 0 ? r : 0] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    printf("  full disk: \"%s\"\n", msg);
    CHECK(strstr(msg, "File too large") != NULL);
    CHECK(strstr(msg, "old file is kept") != NULL);
    size_t len1;
    char *after = read_all(path, &len1);
    CHECK(after && len0 == len1 && !memcmp(before, after, len0));
    CHECK_INT_EQ(count_temps(test_tmp_dir(), "full.json"), 0);
    free(before);
    free(after);
    session_free(&big);
    session_free(&small);
}

TEST(session_unwritable_folder)
{
    if (geteuid() == 0) {
        test_skip("running as root: permissions do not stop writes");
        return;
    }
    struct session s;
    CHECK(session_init(&s, 2, 4, 1) == 0);
    char dir[2048], path[4096], err[512];
    snprintf(dir, sizeof dir, "%s/ro", test_tmp_dir());
    mkdir(dir, 0500);
    snprintf(path, sizeof path, "%s/s.json", dir);
    CHECK(session_save(&s, path, false, err, sizeof err) != 0);
    CHECK(strstr(err, "Permission denied") != NULL);
    chmod(dir, 0700);
    session_free(&s);
}

TEST(session_doc_example_loads)
{
    /* docs/session-format.md's example must stay a valid session, written as we write. */
    size_t len;
    char *doc = read_all("docs/session-format.md", &len);
    if (!doc) {
        test_skip("docs/session-format.md not found from this folder");
        return;
    }
    char *a = strstr(doc, "```json\n"), *b = a ? strstr(a + 8, "\n```") : NULL;
    CHECK(a && b);
    if (a && b) {
        a += 8;
        b[1] = 0; /* keep the final newline */
        struct session s;
        char err[512];
        int rc = session_load_buffer(&s, a, strlen(a), "docs/session-format.md", err, sizeof err);
        CHECK_MSG(rc == 0, "%s", err);
        if (rc == 0) {
            char *j;
            size_t n;
            CHECK(session_to_json(&s, &j, &n, err, sizeof err) == 0);
            CHECK(n == strlen(a) && !memcmp(j, a, n));
            CHECK_INT_EQ(s.log.n, 4);
            CHECK_INT_EQ(s.msg[1].trace_end, 4);
            free(j);
            session_free(&s);
        }
    }
    free(doc);
}

/* FNV-1a 64 of a file's first min(size, 1 MiB) bytes, computed here from the definition
 * (offset basis 14695981039346656037, prime 1099511628211) over one fread. */
static uint64_t fnv_reference(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    free(buf);
    return h;
}

TEST(session_live_engine_replay)
{
    /* A live run of a fixture model (olmoe-tiny-f16.gguf: 4 layers, 16 experts, k = 4) is
     * saved and loaded back: the replayed records route exactly as the live ones did, so
     * the layer x expert load (the inspector's heatmap) is the same cell for cell. */
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/olmoe-tiny-f16.gguf", dir);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 2;
    ep.sampler.temp = 0;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return;
    const struct model_desc *d = engine_desc(e);
    struct session live;
    CHECK(session_init(&live, d->n_layers, d->n_experts, d->n_experts_used) == 0);
    CHECK_MSG(session_set_model(&live, d, err, sizeof err) == 0, "%s", err);
    CHECK(live.model.hash == fnv_reference(path));
    live.sampler = ep.sampler;
    const char *q = "Why are experts fast?";
    int32_t toks[64];
    int n = engine_tokenize(e, q, strlen(q), true, false, toks, 64, err, sizeof err);
    CHECK(n > 0);
    session_add_message(&live, SESSION_USER, q, strlen(q));
    for (int t = 0; t < n; t++) {
        char piece[64];
        size_t pl = engine_token_piece(e, toks[t], piece, sizeof piece);
        trace_log_push(&live.log, toks[t], piece, pl < sizeof piece ? pl : 0, true);
    }
    for (int g = 0; g < 12; g++) {
        CHECK(engine_eval(e, &live.log, err, sizeof err) == 0);
        CHECK(engine_sample(e, &live.log, err, sizeof err) >= 0);
    }
    char reply[1024] = "";
    size_t rl = 0;
    for (size_t i = (size_t)n; i < live.log.n && rl + live.log.tok[i].piece_len < sizeof reply;
         i++) {
        memcpy(reply + rl, trace_piece(&live.log, i), live.log.tok[i].piece_len);
        rl += live.log.tok[i].piece_len;
    }
    session_add_message(&live, SESSION_ASSISTANT, reply, rl);

    char file[4096];
    snprintf(file, sizeof file, "%s/live.json", test_tmp_dir());
    CHECK_MSG(session_save(&live, file, false, err, sizeof err) == 0, "%s", err);
    struct session back;
    int rc = session_load(&back, file, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        check_same_session(&live, &back);
        size_t cells = (size_t)d->n_layers * (size_t)d->n_experts;
        uint32_t *a = calloc(cells, 4), *b = calloc(cells, 4);
        trace_expert_load(&live.log, 0, live.log.n, a);
        trace_expert_load(&back.log, 0, back.log.n, b);
        uint32_t total = 0;
        for (size_t c = 0; c < cells; c++)
            total += a[c];
        CHECK(total == (uint32_t)((live.log.n - 1) * (size_t)(d->n_layers * d->n_experts_used)));
        CHECK(!memcmp(a, b, cells * 4));
        char why[512];
        CHECK_INT_EQ(session_model_differs(&back.model, &live.model, why, sizeof why), 0);
        /* another model is told apart */
        struct session_model other;
        char p2[1024];
        snprintf(p2, sizeof p2, "%s/models/qwen2moe-tiny-f32.gguf", dir);
        struct model_desc d2;
        if (model_describe(p2, &d2, err, sizeof err) == 0 &&
            session_model_from_desc(&other, &d2, err, sizeof err) == 0)
            CHECK_INT_EQ(session_model_differs(&back.model, &other, why, sizeof why), 1);
        free(a);
        free(b);
        session_free(&back);
    }

    /* `run --session FILE` writes the same turn in one call; a second run is another
     * session, so it is refused unless forced. */
    char file2[4096];
    snprintf(file2, sizeof file2, "%s/run.json", test_tmp_dir());
    CHECK_MSG(session_save_run(file2, d, &ep.sampler, NULL, q, strlen(q), reply, rl, &live.log,
                               false, err, sizeof err) == 0, "%s", err);
    rc = session_load(&back, file2, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_INT_EQ(back.n_msg, 2);
        CHECK_INT_EQ(back.msg[1].trace_begin, 0);
        CHECK_INT_EQ(back.msg[1].trace_end, live.log.n);
        memcpy(back.id, live.id, sizeof back.id); /* ids and times differ by design */
        memcpy(back.created, live.created, sizeof back.created);
        memcpy(back.updated, live.updated, sizeof back.updated);
        check_same_session(&live, &back);
        session_free(&back);
    }
    CHECK(session_save_run(file2, d, &ep.sampler, NULL, q, strlen(q), reply, rl, &live.log,
                           false, err, sizeof err) != 0);
    CHECK(strstr(err, "different session") != NULL);
    CHECK(session_save_run(file2, d, &ep.sampler, NULL, q, strlen(q), reply, rl, &live.log,
                           true, err, sizeof err) == 0);
    session_free(&live);
    engine_close(e);
}

/* A message dropped out of the model's context (the app keeps it in the transcript) says so
 * in the file; a context shift's figures are columns. Both read back, re-save to the same
 * bytes, and files from before them read false and 0s. */
TEST(session_out_of_context_and_shift_round_trip)
{
    struct session s;
    CHECK_INT_EQ(session_init(&s, 1, 4, 1), 0);
    session_add_message(&s, SESSION_USER, "old", 3);
    session_add_message(&s, SESSION_ASSISTANT, "gone", 4);
    session_add_message(&s, SESSION_USER, "new", 3);
    s.msg[0].out_of_context = s.msg[1].out_of_context = true;
    for (int i = 0; i < 3; i++) {
        long r = trace_log_push(&s.log, 1, "x", 1, i == 0);
        s.log.tok[r].fed = true;
    }
    s.log.tok[2].shift_dropped = 61;
    s.log.tok[2].ns_shift = 4200000;
    session_add_message(&s, SESSION_ASSISTANT, "xx", 2);
    char *json, *again, err[512];
    size_t len, len2;
    CHECK_INT_EQ(session_to_json(&s, &json, &len, err, sizeof err), 0);
    CHECK(strstr(json, "{\"role\":\"user\",\"content\":\"old\",\"out_of_context\":true}") &&
          strstr(json, "{\"role\":\"assistant\",\"content\":\"gone\",\"out_of_context\":true}") &&
          strstr(json, "{\"role\":\"user\",\"content\":\"new\"}"));
    CHECK(strstr(json, "\"shift_dropped\":[0,0,61]") && strstr(json, "\"ns_shift\":[0,0,4200000]"));
    struct session t;
    CHECK_INT_EQ(session_load_buffer(&t, json, len, "s.json", err, sizeof err), 0);
    CHECK(t.n_msg == 4 && t.msg[0].out_of_context && t.msg[1].out_of_context &&
          !t.msg[2].out_of_context && !t.msg[3].out_of_context);
    CHECK_INT_EQ(t.log.tok[2].shift_dropped, 61);
    CHECK(t.log.tok[2].ns_shift == 4200000);
    CHECK_INT_EQ(session_to_json(&t, &again, &len2, err, sizeof err), 0);
    CHECK(len2 == len && memcmp(again, json, len) == 0);
    free(again);
    session_free(&t);
    /* The Markdown export says it too. */
    char *md = NULL;
    size_t md_len = 0;
    FILE *f = open_memstream(&md, &md_len);
    CHECK_INT_EQ(session_export_md(&s, f, err, sizeof err), 0);
    fclose(f);
    CHECK_MSG(md && strstr(md, "## Assistant (out of context)"), "%s", md ? md : "");
    free(md);
    /* Not a bool: refused with the path. */
    char *bad = strdup(json);
    char *at = strstr(bad, "\"out_of_context\":true");
    memcpy(at + strlen("\"out_of_context\":"), "1111", 4);
    CHECK_INT_EQ(session_load_buffer(&t, bad, strlen(bad), "s.json", err, sizeof err), -1);
    CHECK_MSG(strstr(err, "$.messages[0].out_of_context: expected true or false"), "%s", err);
    free(bad);
    /* An older file: no flags, no shift columns. */
    static const char *const cut[] = { ",\"out_of_context\":true", ",\"out_of_context\":true",
                                       ",\n  \"shift_dropped\":[0,0,61]",
                                       ",\n  \"ns_shift\":[0,0,4200000]" };
    for (int c = 0; c < 4; c++) {
        at = strstr(json, cut[c]);
        CHECK_MSG(at != NULL, "'%s' not in the file", cut[c]);
        if (at)
            memmove(at, at + strlen(cut[c]), strlen(at + strlen(cut[c])) + 1);
    }
    CHECK_INT_EQ(session_load_buffer(&t, json, strlen(json), "s.json", err, sizeof err), 0);
    CHECK(!t.msg[0].out_of_context && !t.msg[1].out_of_context);
    CHECK_INT_EQ(t.log.tok[2].shift_dropped, 0);
    session_free(&t);
    free(json);
    session_free(&s);
}
