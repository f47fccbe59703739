/* tests/test_mem_limit.c: the emulated memory limit (engine_params.mem_limit,
 * engine/mem_limit.h) on a private copy of the mixtral q8_0 fixture (models-2026: 4 MoE
 * layers, 2 of 8 experts of 0.21 MB): what it counts, and that the experts' pages really
 * leave the page cache (mincore on a map of our own). */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"

/* A synced copy (the kernel does not drop dirty pages) of the fixture, or NULL. */
static const char *ml_copy(void)
{
    static char path[4096];
    const char *fx = test_fixtures_dir();
    if (!fx)
        return NULL;
    char src[4096];
    snprintf(src, sizeof src, "%s/models-2026/mixtral-small-q8_0.gguf", fx);
    snprintf(path, sizeof path, "%s/ml-mixtral.gguf", test_tmp_dir());
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    bool ok = in && out;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out) {
        ok = ok && fflush(out) == 0 && fsync(fileno(out)) == 0;
        fclose(out);
    }
    return ok ? path : NULL;
}

static struct engine *ml_open(const char *path, uint64_t limit, bool prewarm)
{
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.n_ctx = 64;
    ep.prewarm = prewarm;
    ep.mem_limit = limit;
    ep.sampler.temp = 0;
    char err[512];
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    return e;
}

/* Runs 8 prompt tokens (one pass) and 8 decode steps; returns the sum over the passes of
 * the distinct (layer, expert) pairs each used. */
static size_t ml_run(struct engine *e, struct trace_log *log)
{
    const struct model_desc *d = engine_desc(e);
    trace_log_init(log, d->n_layers, d->n_experts, d->n_experts_used);
    for (int i = 0; i < 8; i++)
        trace_log_push(log, 1 + i * 7, "", 0, true);
    char err[512];
    for (int s = 0; s < 9; s++) {
        CHECK_MSG(engine_eval(e, log, err, sizeof err) == 0, "%s", err);
        CHECK_MSG(engine_sample(e, log, err, sizeof err) >= 0, "%s", err);
    }
    size_t distinct = 0;
    for (size_t p0 = 0, p1 = 8; p1 < log->n; p0 = p1, p1++) {
        bool seen[64][64] = { { false } };
        for (size_t i = p0; i < p1; i++)
            for (int il = 0; il < log->n_layers && il < 64; il++) {
                const struct trace_layer *t = &trace_layers(log, i)[il];
                for (int j = 0; j < t->n; j++)
                    if (t->experts[j] < 64 && !seen[il][t->experts[j]]) {
                        seen[il][t->experts[j]] = true;
                        distinct++;
                    }
            }
    }
    return distinct;
}

/* Pages of the file resident in the page cache now. */
static size_t ml_resident_pages(const char *path, size_t *total)
{
    int fd = open(path, O_RDONLY);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
    void *p = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = ((size_t)size + pg - 1) / pg, in = 0;
    unsigned char *vec = malloc(n ? n : 1);
    if (p != MAP_FAILED && vec && mincore(p, (size_t)size, vec) == 0)
        for (size_t i = 0; i < n; i++)
            in += vec[i] & 1;
    free(vec);
    if (p != MAP_FAILED)
        munmap(p, (size_t)size);
    if (fd >= 0)
        close(fd);
    *total = n;
    return in;
}

TEST(mem_limit_counts_and_drops_pages)
{
    const char *path = ml_copy();
    if (!path) {
        test_skip("no fixtures");
        return;
    }
    /* no limit: nothing counted */
    struct engine *e = ml_open(path, 0, false);
    if (!e)
        return;
    const struct model_desc desc = *engine_desc(e), *d = &desc;
    const uint64_t eb = d->expert_bytes, file = d->file_size;
    CHECK(eb > 0);
    struct trace_log log;
    ml_run(e, &log);
    uint64_t re, ev;
    engine_mem_limit_counts(e, &re, &ev);
    CHECK(re == 0 && ev == 0);
    trace_log_free(&log);
    engine_close(e);

    /* a limit above the file, prewarmed: every expert stays, nothing is read back */
    e = ml_open(path, 2 * file, true);
    ml_run(e, &log);
    engine_mem_limit_counts(e, &re, &ev);
    CHECK_MSG(re == 0 && ev == 0, "reloaded %llu evicted %llu", (unsigned long long)re,
              (unsigned long long)ev);
    trace_log_free(&log);
    engine_close(e);

    /* the same limit from a cold start: the experts are out of the page cache at open, and
     * each distinct expert the run uses is read back once */
    e = ml_open(path, 2 * file, false);
    size_t total, resident = ml_resident_pages(path, &total);
    const uint64_t experts = (uint64_t)d->n_experts * eb * (uint64_t)d->n_layers;
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    CHECK_MSG(resident * pg <= file - experts + 3 * (size_t)d->n_layers * d->n_experts * pg,
              "%zu of %zu pages still in the page cache after a cold start", resident, total);
    ml_run(e, &log);
    engine_mem_limit_counts(e, &re, &ev);
    CHECK_MSG(re > 0 && re % eb == 0 && re <= experts && ev == 0, "reloaded %llu evicted %llu",
              (unsigned long long)re, (unsigned long long)ev);
    trace_log_free(&log);
    engine_close(e);

    /* a limit below the non-expert weights: no expert stays past its pass, so each pass
     * reads back every distinct expert it uses */
    e = ml_open(path, 1000, false);
    const size_t uses = ml_run(e, &log);
    engine_mem_limit_counts(e, &re, &ev);
    CHECK_MSG(re == (uint64_t)uses * eb && ev == re, "pass uses %zu, reloaded %llu evicted %llu",
              uses, (unsigned long long)re, (unsigned long long)ev);
    trace_log_free(&log);
    engine_close(e);
}

TEST(mem_limit_needs_the_trace)
{
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = "tools/train/default.gguf";
    ep.trace = false;
    ep.mem_limit = 1000000;
    char err[512] = "";
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK(e == NULL);
    CHECK_MSG(strstr(err, "needs the trace on") != NULL, "%s", err);
    engine_close(e);
}
