/* tests/test_faults.c: the page-fault counters of the engine's threads (engine/sys/faults.h)
 * and their place in the trace records. */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "faults.h"
#include "session.h"
#include "clock.h"
#include "threads.h"

enum { FAULT_PAGES = 512 };

struct touch_job {
    unsigned char *mem;
    size_t page;
    int who;          /* the thread that touches the pages */
};

static void touch_pages(void *arg, int ith, int nth)
{
    (void)nth;
    struct touch_job *j = arg;
    if (ith != j->who)
        return;
    for (size_t i = 0; i < FAULT_PAGES; i++)
        j->mem[i * j->page] = 1;
}

/* Fresh anonymous pages fault once each on first write (a minor fault: no storage). The
 * pages are touched by a worker of the pool, not the caller: on Linux, where each thread
 * counts its own, only the sum over the pool's threads sees them. */
TEST(faults_counts_a_workers_page_faults)
{
    struct thread_pool *pool = threads_create(2);
    CHECK(pool != NULL);
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *mem = mmap(NULL, FAULT_PAGES * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    if (!pool || mem == MAP_FAILED) {
        threads_free(pool);
        return;
    }
    struct fault_sample a, b;
    faults_sample(pool, &a);
    struct touch_job j = { mem, page, threads_count(pool) - 1 };
    threads_run(pool, touch_pages, &j);
    faults_sample(pool, &b);
    CHECK_MSG(b.minor - a.minor >= FAULT_PAGES, "minor faults %llu -> %llu",
              (unsigned long long)a.minor, (unsigned long long)b.minor);
    CHECK(b.major >= a.major);
    /* ns_kernel is not checked: the kernel splits a thread's time into user and system by
     * tick samples, and 512 faults (~0.5 ms) may fall between two ticks */
    CHECK(b.ns_kernel >= a.ns_kernel);
    munmap(mem, FAULT_PAGES * page);
    threads_free(pool);
}

#if defined(__linux__)
/* Pins the calling thread to CPU 0 (Linux's per-thread affinity). */
static bool pin_to_cpu0(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0;
}

static _Atomic bool rival_stop;

/* Another runnable thread on CPU 0: the scheduler must share the core with it. */
static void *rival_spin(void *arg)
{
    (void)arg;
    pin_to_cpu0();
    while (!atomic_load(&rival_stop))
        ;
    return NULL;
}

struct spin_job {
    int who;
    bool pinned;
};

/* The worker `who` spins 200 ms of wall time on CPU 0 beside the rival. */
static void spin_beside_rival(void *arg, int ith, int nth)
{
    (void)nth;
    struct spin_job *j = arg;
    if (ith != j->who)
        return;
    j->pinned = pin_to_cpu0();
    const uint64_t end = clock_now_ns() + 200 * 1000 * 1000;
    while (clock_now_ns() < end)
        ;
}

/* A worker that shares its core with another busy thread is taken off it again and again
 * (each has its time slice, a few ms): the pool's sum of involuntary context switches
 * counts it, which is how the trace tells a slow step that waited for a preempted worker. */
TEST(faults_counts_a_preempted_worker)
{
    struct thread_pool *pool = threads_create(2);
    CHECK(pool != NULL);
    if (!pool)
        return;
    pthread_t rival;
    atomic_store(&rival_stop, false);
    CHECK(pthread_create(&rival, NULL, rival_spin, NULL) == 0);
    struct fault_sample a, b;
    faults_sample(pool, &a);
    struct spin_job j = { threads_count(pool) - 1, false };
    threads_run(pool, spin_beside_rival, &j);
    faults_sample(pool, &b);
    atomic_store(&rival_stop, true);
    pthread_join(rival, NULL);
    CHECK(j.pinned);
    CHECK_MSG(b.preempted - a.preempted >= 2, "involuntary switches %llu -> %llu",
              (unsigned long long)a.preempted, (unsigned long long)b.preempted);
    threads_free(pool);
}
#endif

/* A model opened fresh maps its weights without reading them, so the first pass faults on
 * them: the prompt records carry faults, and their shares add up to whole counts. A run
 * without the trace (bench's baseline) samples nothing. Model: tools/train/default.gguf. */
TEST(faults_in_trace_records_of_a_first_pass)
{
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = "tools/train/default.gguf";
    ep.n_threads = 2;
    char err[512];
    struct engine *e = engine_open(&ep, err, sizeof err);
    if (!e) {
        test_skip("%s", err);
        return;
    }
    const struct model_desc *d = engine_desc(e);
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    int32_t toks[32];
    int n = engine_tokenize(e, "ROMEO: and JULIET", 17, true, false, toks, 32, err, sizeof err);
    CHECK(n > 3);
    for (int i = 0; i < n; i++)
        trace_log_push(&log, toks[i], "x", 1, true);
    CHECK_INT_EQ(engine_eval(e, &log, err, sizeof err), 0);
    uint64_t minor = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < log.n; i++) {
        minor += log.tok[i].faults_minor;
        lo = log.tok[i].faults_minor < lo ? log.tok[i].faults_minor : lo;
        hi = log.tok[i].faults_minor > hi ? log.tok[i].faults_minor : hi;
    }
    CHECK_MSG(minor > 0, "no page fault in a first pass over a fresh mapping");
    CHECK(hi - lo <= 1); /* shares of one pass differ by the remainder's one */
    char line[8192];
    trace_json_line(&log, 0, line, sizeof line);
    CHECK_MSG(strstr(line, ",\"faults\":{\"minor\":") != NULL, "%s", line);

    engine_set_trace(e, false);
    CHECK(engine_sample(e, &log, err, sizeof err) >= 0);
    CHECK_INT_EQ(engine_eval(e, &log, err, sizeof err), 0);
    const struct trace_token *t = &log.tok[log.n - 1];
    CHECK(t->fed && t->faults_minor == 0 && t->faults_major == 0 && t->ns_kernel == 0);
    trace_log_free(&log);
    engine_close(e);
}

/* The three columns in a session file: saved and read back; a file from before them (the
 * columns cut out) reads zeros. */
TEST(faults_session_columns_round_trip_and_older_files)
{
    struct session s;
    CHECK_INT_EQ(session_init(&s, 1, 4, 1), 0);
    session_add_message(&s, SESSION_USER, "go", 2);
    for (int i = 0; i < 3; i++) {
        long r = trace_log_push(&s.log, 1, "x", 1, i == 0);
        s.log.tok[r].fed = true;
        s.log.tok[r].faults_minor = (uint32_t)(10 + i);
        s.log.tok[r].faults_major = (uint32_t)i;
        s.log.tok[r].ns_kernel = 1000u * (uint64_t)(i + 1);
        s.log.tok[r].preempted = (uint32_t)(2 * i);
    }
    session_add_message(&s, SESSION_ASSISTANT, "xx", 2);
    char *json, err[512];
    size_t len;
    CHECK_INT_EQ(session_to_json(&s, &json, &len, err, sizeof err), 0);
    CHECK(strstr(json, "\"faults_minor\":[10,11,12]") && strstr(json, "\"faults_major\":[0,1,2]") &&
          strstr(json, "\"ns_kernel\":[1000,2000,3000]") &&
          strstr(json, "\"preempted\":[0,2,4]"));
    struct session t;
    CHECK_INT_EQ(session_load_buffer(&t, json, len, "s.json", err, sizeof err), 0);
    CHECK_INT_EQ(t.log.tok[2].faults_minor, 12);
    CHECK_INT_EQ(t.log.tok[2].faults_major, 2);
    CHECK_INT_EQ(t.log.tok[2].ns_kernel, 3000);
    CHECK_INT_EQ(t.log.tok[2].preempted, 4);
    session_free(&t);
    static const char *const cut[] = { ",\n  \"faults_minor\":[10,11,12]",
                                       ",\n  \"faults_major\":[0,1,2]",
                                       ",\n  \"ns_kernel\":[1000,2000,3000]",
                                       ",\n  \"preempted\":[0,2,4]" };
    for (int c = 0; c < 4; c++) {
        char *at = strstr(json, cut[c]);
        if (at)
            memmove(at, at + strlen(cut[c]), strlen(at + strlen(cut[c])) + 1);
    }
    CHECK(strstr(json, "faults") == NULL);
    CHECK_INT_EQ(session_load_buffer(&t, json, strlen(json), "s.json", err, sizeof err), 0);
    CHECK_INT_EQ(t.log.tok[2].faults_minor, 0);
    CHECK_INT_EQ(t.log.tok[2].ns_kernel, 0);
    CHECK_INT_EQ(t.log.tok[2].preempted, 0);
    session_free(&t);
    free(json);
    session_free(&s);
}
