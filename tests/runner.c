/* tests/runner.c: runs every registered test, or those whose name contains an argument. */
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_TESTS = 4096 };

static struct {
    const char *name, *file;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int cur_failures;
static bool cur_skipped;
static char tmp_dir[256];

void test_register(const char *name, const char *file, test_fn fn)
{
    if (n_tests < MAX_TESTS)
        {
        tests[n_tests].name = name;
        tests[n_tests].file = file;
        tests[n_tests++].fn = fn;
    }
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    /* Cap the noise of one broken loop, but count every failure. */
    if (cur_failures < 20) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "%s:%d: ", file, line);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    cur_failures++;
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("  skipped: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    cur_skipped = true;
}

const char *test_fixtures_dir(void)
{
    static char path[4096];
    const char *env = getenv("MOESCOPE_FIXTURES");
    snprintf(path, sizeof path, "%s", env && *env ? env : "../shared/fixtures");
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void tmp_cleanup(void)
{
    if (tmp_dir[0])
        rm_tree(tmp_dir);
}

const char *test_tmp_dir(void)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/moescope-test-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(tmp_cleanup);
    }
    return tmp_dir;
}

static bool selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return true;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < n_tests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        cur_failures = 0;
        cur_skipped = false;
        tests[i].fn();
        if (cur_failures) {
            printf("FAIL %s (%s): %d check%s failed\n", tests[i].name, tests[i].file,
                   cur_failures, cur_failures == 1 ? "" : "s");
            failed++;
        } else if (cur_skipped) {
            printf("skip %s\n", tests[i].name);
            skipped++;
        } else {
            printf("ok   %s\n", tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
