/* engine/sys/membw.c: read bandwidth over a buffer of random data, split across threads. */
#include "membw.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

enum { MEMBW_MAX_THREADS = 256 };

struct membw_job {
    const uint64_t *p;          /* this thread's slice */
    size_t n;                   /* words in the slice */
    pthread_barrier_t *start;   /* every reader begins together */
    uint64_t sum;
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Eight independent accumulators keep several loads in flight, so the loop is bound by
 * memory rather than by one add chain. */
static uint64_t membw_sum(const uint64_t *p, size_t n)
{
    uint64_t a[8] = { 0 };
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] += p[i + j];
    for (; i < n; i++)
        a[0] += p[i];
    return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

#if defined(__x86_64__)
#include <immintrin.h>
/* 256-bit loads: a scalar loop tops out below what one core can pull from memory. */
__attribute__((target("avx2"))) static uint64_t membw_sum_avx2(const uint64_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    __m256i s = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    return (lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3]) ^ membw_sum(p + i, n - i);
}
#endif

static void *membw_reader(void *arg)
{
    struct membw_job *job = arg;
    pthread_barrier_wait(job->start);
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && ((uintptr_t)job->p & 31) == 0) {
        job->sum = membw_sum_avx2(job->p, job->n);
        return NULL;
    }
#endif
    job->sum = membw_sum(job->p, job->n);
    return NULL;
}

int membw_measure(size_t bytes, int n_threads, int passes, struct membw_result *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n_threads < 1 || n_threads > MEMBW_MAX_THREADS || passes < 1) {
        snprintf(err, errlen, "bandwidth: bad thread count %d or passes %d", n_threads, passes);
        return -1;
    }
    bytes &= ~(size_t)4095;
    size_t words = bytes / sizeof(uint64_t);
    uint64_t *buf = NULL;
    if (words == 0 || posix_memalign((void **)&buf, 4096, bytes) != 0) {
        snprintf(err, errlen, "bandwidth: cannot allocate %zu MiB", bytes >> 20);
        return -1;
    }
    uint64_t seed = (uint64_t)time(NULL);
    for (size_t i = 0; i < words; i++)
        buf[i] = splitmix64(&seed);

    struct membw_job jobs[MEMBW_MAX_THREADS];
    pthread_t tid[MEMBW_MAX_THREADS];
    double best = 0, total = 0;
    uint64_t check = 0;
    int rc = 0;
    for (int pass = 0; pass < passes && rc == 0; pass++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1);
        size_t per = words / (size_t)n_threads;
        int started = 0;
        for (int t = 0; t < n_threads; t++) {
            jobs[t] = (struct membw_job){ .p = buf + (size_t)t * per,
                                          .n = t == n_threads - 1 ? words - (size_t)t * per : per,
                                          .start = &start };
            if (pthread_create(&tid[t], NULL, membw_reader, &jobs[t]) != 0) {
                snprintf(err, errlen, "bandwidth: cannot start a thread: %s", strerror(errno));
                rc = -1;
                break;
            }
            started++;
        }
        if (rc != 0) {
            /* The barrier can never fill: the started readers are stuck; detach is not
             * enough, so this is the one place a failure leaks threads. It only happens
             * when the system cannot create threads at all. */
            free(buf);
            return rc;
        }
        pthread_barrier_wait(&start);
        double t0 = clock_now_s();
        for (int t = 0; t < started; t++) {
            pthread_join(tid[t], NULL);
            check += jobs[t].sum;
        }
        double dt = clock_now_s() - t0;
        pthread_barrier_destroy(&start);
        double gbps = (double)bytes / dt / 1e9;
        total += gbps;
        if (gbps > best)
            best = gbps;
    }
    free(buf);
    *out = (struct membw_result){ .gbps = best, .gbps_mean = total / passes, .bytes = bytes,
                                  .threads = n_threads, .passes = passes, .checksum = check };
    return 0;
}
