/* tests/tui_test_bench_parallel.c: `moescope bench --parallel` on the in-process engine
 * (cli/bench_parallel.c) with the default model (tools/train/default.gguf: 4 MoE layers,
 * 2 of 8 experts), and its refusals. */
#include "test.h"

#include <cjson/cJSON.h>

#include "cmd_capture.h"
#include "commands.h"

static int bench_captured(char **argv, int argc, char **out, char **err)
{
    return cmd_captured_text(cmd_bench, argv, argc, "bench", out, err);
}

static double bp_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Batch 1 runs k experts per layer a step and reads the model's active bytes; at batch 4
 * the step's distinct experts lie between k and min(4 k, n), and its bytes between batch 1's
 * and the whole file's, read once for 4 tokens. */
TEST(bench_parallel_levels_json)
{
    char *out, *err;
    char *argv[] = { "bench", "-m", "tools/train/default.gguf", "--parallel", "1,4",
                     "--requests", "4", "-p", "8", "-n", "6", "-t", "1", "--json", NULL };
    CHECK_INT_EQ(bench_captured(argv, 14, &out, &err), 0);
    cJSON *root = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(root != NULL, "stdout: %s stderr: %s", out ? out : "", err ? err : "");
    const cJSON *rows = cJSON_GetObjectItem(root, "parallel");
    CHECK_INT_EQ(cJSON_GetArraySize(rows), 2);
    const double active = bp_num(root, "active_bytes"), dense = bp_num(root, "dense_bytes");
    CHECK(active > 0 && dense > active);
    for (int i = 0; i < 2 && cJSON_GetArraySize(rows) == 2; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        CHECK_INT_EQ((int)bp_num(r, "level"), i ? 4 : 1);
        CHECK_INT_EQ((int)bp_num(r, "requests"), 4);
        CHECK(bp_num(r, "tg_tps") > 0);
        CHECK(bp_num(r, "ttft_p50_ms") > 0 && bp_num(r, "ttft_p99_ms") >= bp_num(r, "ttft_p50_ms"));
        CHECK(bp_num(r, "itl_p50_ms") > 0 && bp_num(r, "itl_p95_ms") >= bp_num(r, "itl_p50_ms") &&
              bp_num(r, "itl_p99_ms") >= bp_num(r, "itl_p95_ms"));
        CHECK(cJSON_GetObjectItem(r, "errors") == NULL); /* a server's figure only */
        const double ex = bp_num(r, "experts_per_step"), by = bp_num(r, "bytes_per_step");
        if (i == 0) {
            CHECK_MSG(ex == 2.0, "batch 1: %.3f experts per layer per step", ex);
            CHECK_MSG(by == active, "batch 1: %.0f bytes per step, active %.0f", by, active);
        } else {
            CHECK_MSG(ex > 2.0 && ex <= 8.0, "batch 4: %.3f experts per layer per step", ex);
            CHECK_MSG(by > active && by <= dense, "batch 4: %.0f bytes per step", by);
        }
    }
    cJSON_Delete(root);
    free(out);
    free(err);
}

TEST(bench_parallel_poisson_table)
{
    char *out, *err;
    char *argv[] = { "bench", "-m", "tools/train/default.gguf", "--parallel", "2",
                     "--requests", "3", "--arrival", "poisson:40", "-p", "4", "-n", "4",
                     "-t", "1", NULL };
    CHECK_INT_EQ(bench_captured(argv, 15, &out, &err), 0);
    CHECK_MSG(out && strstr(out, "Poisson arrivals at 40.00/s") &&
                  strstr(out, "experts   MB/step   MB/tok") && strstr(out, "\n    2        3 "),
              "stdout: %s stderr: %s", out ? out : "", err ? err : "");
    free(out);
    free(err);
}

TEST(bench_parallel_refusals)
{
    static const struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        { { "--parallel", "2", "--arrival", "poisson:x" }, "'all' or 'poisson:RATE'" },
        { { "--parallel", "2", "--arrival", "poisson:0" }, "'all' or 'poisson:RATE'" },
        { { "--arrival", "poisson:5" }, "--arrival goes with --parallel" },
        { { "--parallel", "2", "-t", "1,2" }, "--parallel takes one thread count" },
        { { "--parallel", "0" }, "concurrency levels from 1" },
        { { "--parallel", "65" }, "1 to 64 sequences" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *argv[16] = { "bench", "-m", "tools/train/default.gguf" };
        int argc = 3;
        for (int i = 0; cases[c].args[i]; i++)
            argv[argc++] = (char *)cases[c].args[i];
        char *out, *err;
        const int rc = bench_captured(argv, argc, &out, &err);
        CHECK_MSG(rc != 0 && err && strstr(err, cases[c].says), "case %zu: rc %d, stderr: %s",
                  c, rc, err ? err : "");
        free(out);
        free(err);
    }
}
