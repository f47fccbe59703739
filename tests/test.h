/* tests/test.h: the project's own small test harness.
 *
 * A test is a function declared with TEST(name). CHECK and CHECK_NEAR record a failure
 * as `file:line: expected ..., got ...` and go on, so one run shows every broken thing.
 * Each test binary (tests/runner.c) prints `N passed, N failed` as its last line;
 * tests/run.sh adds the binaries' counts up. Tests register themselves at start-up, so a
 * new test file needs no list to be edited. */
#ifndef MOESCOPE_TEST_H
#define MOESCOPE_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);

void test_register(const char *name, const char *file, test_fn fn);
/* Records a failure of the running test; the message is printf-style. */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Marks the running test as skipped, with a reason printed once. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ../shared/fixtures (or $MOESCOPE_FIXTURES), or NULL when absent. */
const char *test_fixtures_dir(void);
/* A fresh temporary directory for this test run (removed at exit). */
const char *test_tmp_dir(void);

#define TEST(name)                                                                  \
    static void name(void);                                                         \
    __attribute__((constructor)) static void test_reg_##name(void)                  \
    {                                                                               \
        test_register(#name, __FILE__, name);                                       \
    }                                                                               \
    static void name(void)

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond))                                                                \
            test_fail(__FILE__, __LINE__, "expected %s, it was false", #cond);     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (!(cond))                                                                \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                             \
    } while (0)

#define CHECK_INT_EQ(got, want)                                                     \
    do {                                                                            \
        long long g_ = (long long)(got), w_ = (long long)(want);                    \
        if (g_ != w_)                                                               \
            test_fail(__FILE__, __LINE__, "expected %s == %lld, got %lld", #got,    \
                      w_, g_);                                                      \
    } while (0)

#define CHECK_STR_EQ(got, want)                                                     \
    do {                                                                            \
        const char *g_ = (got), *w_ = (want);                                       \
        if (!g_ || !w_ || strcmp(g_, w_) != 0)                                      \
            test_fail(__FILE__, __LINE__, "expected %s == \"%s\", got \"%s\"", #got,\
                      w_ ? w_ : "(null)", g_ ? g_ : "(null)");                      \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                  \
    do {                                                                            \
        double g_ = (double)(got), w_ = (double)(want), t_ = (double)(tol);         \
        if (!(fabs(g_ - w_) <= t_))                                                 \
            test_fail(__FILE__, __LINE__, "expected %s == %.9g (+-%.3g), got %.9g", \
                      #got, w_, t_, g_);                                            \
    } while (0)

#endif
