/* tests/tui_test_bench_parallel.c: `moescope bench --parallel` on the in-process engine
 * (cli/bench_parallel.c) with the default model (tools/train/default.gguf: 4 MoE layers,
 * 2 of 8 experts), `bench --mem-limit` (cli/bench_memlimit.c) on a copy of the mixtral
 * q8_0 fixture (models-2026), and their refusals. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <unistd.h>

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
        CHECK(bp_num(r, "tg_tps") > 0 && bp_num(r, "wall_tps") > 0);
        CHECK(bp_num(r, "ttft_p50_ms") > 0 && bp_num(r, "ttft_p99_ms") >= bp_num(r, "ttft_p50_ms"));
        CHECK(bp_num(r, "itl_p50_ms") > 0 && bp_num(r, "itl_p95_ms") >= bp_num(r, "itl_p50_ms") &&
              bp_num(r, "itl_p99_ms") >= bp_num(r, "itl_p95_ms"));
        CHECK(cJSON_GetObjectItem(r, "errors") == NULL); /* a server's figure only */
        /* the mean decode step by phase: the pass's attention and experts take time, and
         * nothing is negative */
        const cJSON *split = cJSON_GetObjectItem(r, "decode_step_ms");
        CHECK_MSG(cJSON_IsObject(split), "level %d: no decode_step_ms", i ? 4 : 1);
        const char *const keys[] = { "attn", "router", "experts", "other", "samples" };
        for (size_t k = 0; split && k < sizeof keys / sizeof keys[0]; k++)
            CHECK_MSG(bp_num(split, keys[k]) >= 0, "decode_step_ms.%s %.3f", keys[k],
                      bp_num(split, keys[k]));
        CHECK(split && bp_num(split, "attn") > 0 && bp_num(split, "experts") > 0);
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

/* bench --mem-limit on a copy of the mixtral q8_0 fixture (its 6.7 MB of experts in a
 * limit of 3 MB, 1.3 MB of it the rest): without a limit nothing is read back; under it,
 * from a cold start or prewarmed, decoding reads experts back from storage every token. */
TEST(bench_mem_limit_rows)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char src[4096], path[4096];
    snprintf(src, sizeof src, "%s/models-2026/mixtral-small-q8_0.gguf", fx);
    snprintf(path, sizeof path, "%s/bench-ml.gguf", test_tmp_dir());
    FILE *in = fopen(src, "rb"), *out_f = fopen(path, "wb");
    char buf[65536];
    size_t n;
    while (in && out_f && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out_f);
    if (out_f) {
        fflush(out_f);
        fsync(fileno(out_f)); /* the kernel keeps dirty pages */
        fclose(out_f);
    }
    if (in)
        fclose(in);
    char *out, *err;
    char *argv[] = { "bench", "-m", path, "--mem-limit", "3", "-p", "8", "-n", "12", "-t", "1",
                     "--json", NULL };
    CHECK_INT_EQ(bench_captured(argv, 12, &out, &err), 0);
    cJSON *root = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(root != NULL, "stdout: %s stderr: %s", out ? out : "", err ? err : "");
    const cJSON *rows = cJSON_GetObjectItem(root, "rows");
    CHECK_INT_EQ(cJSON_GetArraySize(rows), 3);
    static const char *const names[3] = { "none", "cold", "prewarm" };
    for (int i = 0; i < 3 && cJSON_GetArraySize(rows) == 3; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        const cJSON *c = cJSON_GetObjectItem(r, "condition");
        CHECK(cJSON_IsString(c) && !strcmp(c->valuestring, names[i]));
        const double mb = bp_num(r, "storage_mb_per_token");
        CHECK_MSG(i ? mb > 0 : mb == 0, "%s: %.4f MB from storage per token", names[i], mb);
        CHECK(bp_num(r, "tg_tps") > 0 && bp_num(r, "itl_p99_ms") >= bp_num(r, "itl_p50_ms"));
    }
    CHECK(bp_num(root, "mem_limit_bytes") == 3e6);
    cJSON_Delete(root);
    free(out);
    free(err);

    char *a2[] = { "bench", "-m", path, "--mem-limit", "3", "--parallel", "2", NULL };
    CHECK_INT_EQ(bench_captured(a2, 7, &out, &err), 2);
    CHECK_MSG(err && strstr(err, "--mem-limit runs alone"), "stderr: %s", err ? err : "");
    free(out);
    free(err);
    snprintf(src, sizeof src, "%s/models-2026/stories260K.gguf", fx);
    char *a3[] = { "bench", "-m", src, "--mem-limit", "3", "-t", "1", NULL };
    CHECK_INT_EQ(bench_captured(a3, 7, &out, &err), 1);
    CHECK_MSG(err && strstr(err, "this model has none"), "stderr: %s", err ? err : "");
    free(out);
    free(err);
}
