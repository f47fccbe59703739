/* tests/remote_test_ollama.c: Ollama's NDJSON stream (remote/ollama.c) cut at every byte
 * gives the same records, durations and server times, or the same error at the same byte
 * offset; and the fuzz target tests/fuzz/fuzz_ollama.c runs on its seeds and kept crashes
 * (tests/fuzz/corpus/ and regressions/fuzz_ollama/), so `make test` replays them without
 * clang. The streams are written from Ollama's documented API (no Ollama runs here). */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ollama_api.h"
#include "test.h"
#include "turn_impl.h"

#define LLVMFuzzerTestOneInput rt_fuzz_ollama
#include "fuzz/fuzz_ollama.c"
#undef LLVMFuzzerTestOneInput

static const char ndjson[] =
    "{\"model\":\"m\",\"done\":false,\"response\":\" To\",\"logprobs\":[{\"token\":\" To\","
    "\"logprob\":-0.25,\"top_logprobs\":[{\"token\":\" To\",\"logprob\":-0.25},"
    "{\"token\":\" and\",\"logprob\":-3.5}]}]}\n"
    "{\"model\":\"m\",\"done\":false,\"response\":\" \xc3\xa9t\xc3\xa9\",\"logprobs\":[{\"token\":"
    "\" \xc3\xa9t\xc3\xa9\",\"bytes\":[32,195,169,116,195,169],\"logprob\":-0.5,\"top_logprobs\":[]}]}\r\n"
    "\n"
    "{\"model\":\"m\",\"done\":false,\"response\":\",\"}\n"
    "{\"model\":\"m\",\"done\":true,\"done_reason\":\"length\",\"response\":\"\","
    "\"prompt_eval_count\":4,\"prompt_eval_duration\":1500000,\"eval_count\":3,"
    "\"eval_duration\":80000000,\"load_duration\":20000000,\"total_duration\":250000000}";

struct ot {
    struct remote r;
    struct trace_log log;
    struct backend_request rq;
    struct backend_result res;
    struct turn t;
};

static void ot_init(struct ot *o)
{
    memset(o, 0, sizeof *o);
    pieces_init(&o->r.pieces);
    trace_log_init(&o->log, 0, 0, 0);
    trace_log_push(&o->log, 0, "", 0, true);
    o->res.server_prompt_ms = o->res.server_predicted_ms = -1;
    o->res.server_load_ms = o->res.server_total_ms = -1;
    o->t = (struct turn){ .r = &o->r, .rq = &o->rq, .log = &o->log, .res = &o->res,
                          .streamed = true, .native = true };
}

static void ot_free(struct ot *o)
{
    free(o->t.body);
    trace_log_free(&o->log);
    pieces_free(&o->r.pieces);
}

/* The stream in two reads cut at `cut`, then the end of the transfer. */
static int ot_feed(struct ot *o, const char *s, size_t n, size_t cut)
{
    int rc = ollama_on_body(&o->t, s, cut);
    if (rc == 0)
        rc = ollama_on_body(&o->t, s + cut, n - cut);
    if (rc == 0)
        rc = ollama_finish(&o->t);
    turn_server_times_spread(&o->t);
    return rc;
}

TEST(ollama_ndjson_whatever_the_split)
{
    size_t n = sizeof ndjson - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        struct ot o;
        ot_init(&o);
        int rc = ot_feed(&o, ndjson, n, cut);
        const struct trace_log *l = &o.log;
        /* 3 records after the prompt: the two with logprobs (the second's bytes exact), the
         * text-only one; the done line's counts and durations (ns) in ms; the prompt record
         * has the prompt's 1.5 ms, and the reply's 80 ms is spread over the fed records (the
         * first two: the last is never fed) */
        bool good = rc == 0 && l->n == 4 && !memcmp(trace_piece(l, 1), " To", 3) &&
                    l->tok[2].piece_len == 6 &&
                    !memcmp(trace_piece(l, 2), " \xc3\xa9t\xc3\xa9", 6) &&
                    l->tok[1].sampled && l->tok[1].logprob == -0.25f &&
                    l->tok[1].top_logprob[1] == -3.5f && !l->tok[3].sampled &&
                    o.t.finished && !strcmp(o.t.finish, "length") &&
                    o.res.server_prompt_ms == 1.5 && o.res.server_predicted_ms == 80 &&
                    o.res.server_total_ms == 250 && o.res.server_load_ms == 20 &&
                    l->tok[0].ns_server == 1500000 && l->tok[1].ns_server == 40000000 &&
                    l->tok[2].ns_server == 40000000 && l->tok[3].ns_server == 0;
        if (!good) {
            CHECK_MSG(good, "cut at %zu: rc %d, %zu records, err '%s'", cut, rc, l->n, o.t.err);
            ot_free(&o);
            break;
        }
        ot_free(&o);
    }
}

TEST(ollama_ndjson_cut_json_same_offset_whatever_the_split)
{
    static const char bad[] = "{\"response\":\" To\",\"done\":false}\n"
                              "{\"response\":\" be\",\"done\":false}\r\n"
                              "{\"model\": \"m\", \"message\": {\"content\": \n";
    size_t n = sizeof bad - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        struct ot o;
        ot_init(&o);
        int rc = ot_feed(&o, bad, n, cut);
        /* the third line starts at byte 65; cJSON stops at its last key's colon (101) */
        bool good = rc == -1 && o.log.n == 3 &&
                    strstr(o.t.err, "malformed JSON at byte 101 of the stream") != NULL;
        if (!good) {
            CHECK_MSG(good, "cut at %zu: rc %d, %zu records, err '%s'", cut, rc, o.log.n, o.t.err);
            ot_free(&o);
            break;
        }
        ot_free(&o);
    }
}

/* The folder of the repository's tests/fuzz/KIND/fuzz_ollama: from the working directory,
 * else from the binary's (build/test_remote). */
static DIR *rt_open_dir(const char *kind, char *dir, size_t len)
{
    snprintf(dir, len, "tests/fuzz/%s/fuzz_ollama", kind);
    DIR *d = opendir(dir);
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!d && k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(dir, len, "%s/../tests/fuzz/%s/fuzz_ollama", exe, kind);
            d = opendir(dir);
        }
    }
    return d;
}

TEST(ollama_fuzz_seeds_and_regressions_replay)
{
    int total = 0;
    static const char *const kinds[] = { "corpus", "regressions" };
    for (int k = 0; k < 2; k++) {
        char dir[4400];
        DIR *d = rt_open_dir(kinds[k], dir, sizeof dir);
        if (!d) {
            CHECK_MSG(k == 1, "no %s (run from the repository root)", dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[8600];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            FILE *f = fopen(path, "rb");
            uint8_t *buf = malloc((size_t)st.st_size + 1);
            size_t got = f && buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
            if (f)
                fclose(f);
            CHECK_MSG(got == (size_t)st.st_size, "%s: cannot read", path);
            rt_fuzz_ollama(buf, got); /* traps on a broken invariant */
            free(buf);
            total++;
        }
        closedir(d);
    }
    CHECK_MSG(total >= 7, "%d seeds replayed", total);
}
