/* tests/tui_test_compare.c: `moescope compare` end to end on the default model
 * (tools/train/default.gguf) against itself, and its refusals. */
#include "test.h"

#include <cjson/cJSON.h>

#include "cmd_capture.h"
#include "commands.h"

static int compare_captured(char **argv, int argc, char **out, char **err)
{
    return cmd_captured_text(cmd_compare, argv, argc, "compare", out, err);
}

/* Two prompts of 6 and 7 bytes (the default model's tokens are bytes), 5 tokens decoded
 * after each: 13 prompt tokens, 2 x 4 inter-token samples; the model's own shape and
 * sizes on both sides, and B/A of them 1. */
TEST(compare_default_model_with_itself)
{
    char prompts[4096];
    snprintf(prompts, sizeof prompts, "%s/prompts.txt", test_tmp_dir());
    FILE *f = fopen(prompts, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("ROMEO:\n\nJULIET:\n", f);
    fclose(f);
    char *out, *err;
    char *argv[] = { "compare", "-m", "tools/train/default.gguf", "-m", "tools/train/default.gguf",
                     "-f", prompts, "-n", "5", "-t", "1", "--json", NULL };
    CHECK_INT_EQ(compare_captured(argv, 12, &out, &err), 0);
    cJSON *root = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(root != NULL, "stdout: %s stderr: %s", out ? out : "", err ? err : "");
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "prompts") ? cJSON_GetObjectItem(root, "prompts")->valueint : -1, 2);
    const cJSON *models = cJSON_GetObjectItem(root, "models");
    CHECK_INT_EQ(cJSON_GetArraySize(models), 2);
    for (int m = 0; m < 2 && cJSON_GetArraySize(models) == 2; m++) {
        const cJSON *x = cJSON_GetArrayItem(models, m);
        CHECK_INT_EQ(cJSON_GetObjectItem(x, "prompt_tokens")->valueint, 13);
        CHECK_INT_EQ(cJSON_GetObjectItem(x, "experts")->valueint, 8);
        CHECK(cJSON_GetObjectItem(x, "tg_tps")->valuedouble > 0);
        CHECK(cJSON_GetObjectItem(x, "itl_p99_ms")->valuedouble >=
              cJSON_GetObjectItem(x, "itl_p50_ms")->valuedouble);
        CHECK(cJSON_GetObjectItem(x, "active_bytes")->valuedouble <
              cJSON_GetObjectItem(x, "total_bytes")->valuedouble);
        CHECK(cJSON_GetObjectItem(x, "rss_mib")->valuedouble > 0);
    }
    cJSON_Delete(root);
    free(out);
    free(err);

    char *targv[] = { "compare", "-m", "tools/train/default.gguf", "-m", "tools/train/default.gguf",
                      "-p", "ROMEO:", "-n", "3", "-t", "1", NULL };
    CHECK_INT_EQ(compare_captured(targv, 11, &out, &err), 0);
    CHECK_MSG(out && strstr(out, "decode tok/s") && strstr(out, "KV kB per token") &&
                  strstr(out, "1.00x") && strstr(out, "8 experts"),
              "stdout: %s", out ? out : "");
    free(out);
    free(err);
}

TEST(compare_refuses_bad_usage_and_files)
{
    char *out, *err;
    char *a1[] = { "compare", "-m", "tools/train/default.gguf", NULL };
    CHECK_INT_EQ(compare_captured(a1, 3, &out, &err), 2);
    free(out);
    free(err);
    char *a2[] = { "compare", "-m", "http://127.0.0.1:1", "-m", "tools/train/default.gguf", NULL };
    CHECK_INT_EQ(compare_captured(a2, 5, &out, &err), 2);
    CHECK_MSG(err && strstr(err, "not servers"), "stderr: %s", err ? err : "");
    free(out);
    free(err);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no-prompts.txt", test_tmp_dir());
    char *a3[] = { "compare", "-m", "tools/train/default.gguf", "-m", "tools/train/default.gguf",
                   "-f", missing, NULL };
    CHECK_INT_EQ(compare_captured(a3, 7, &out, &err), 1);
    CHECK_MSG(err && strstr(err, "no-prompts.txt"), "stderr: %s", err ? err : "");
    free(out);
    free(err);
    /* the built-in prompt (165 bytes) and 500 decoded tokens do not fit a context of 256 */
    char *a4[] = { "compare", "-m", "tools/train/default.gguf", "-m", "tools/train/default.gguf",
                   "-n", "500", "-c", "256", NULL };
    CHECK_INT_EQ(compare_captured(a4, 9, &out, &err), 1);
    CHECK_MSG(err && strstr(err, "do not fit the context of 256") && strchr(err, '\n')[1] == 0,
              "stderr: %s", err ? err : "");
    free(out);
    free(err);
}

/* --parallel: each model's object gains bench's "parallel" rows (one sequence a step reads
 * k = 2 experts per layer, so level 1 says 2.000), the text both tables and a B/A row per
 * level; a level out of 1..64 is refused. */
TEST(compare_parallel_levels)
{
    char *out, *err;
    char *argv[] = { "compare", "-m", "tools/train/default.gguf", "-m", "tools/train/default.gguf",
                     "-p", "ROMEO:", "-n", "4", "-t", "1", "--parallel", "1,3", "--json", NULL };
    CHECK_INT_EQ(compare_captured(argv, 14, &out, &err), 0);
    cJSON *root = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(root != NULL, "stdout: %s stderr: %s", out ? out : "", err ? err : "");
    const cJSON *models = cJSON_GetObjectItem(root, "models");
    for (int m = 0; m < cJSON_GetArraySize(models); m++) {
        const cJSON *rows = cJSON_GetObjectItem(cJSON_GetArrayItem(models, m), "parallel");
        CHECK_INT_EQ(cJSON_GetArraySize(rows), 2);
        const cJSON *r0 = cJSON_GetArrayItem(rows, 0), *r1 = cJSON_GetArrayItem(rows, 1);
        CHECK(r0 && cJSON_GetObjectItem(r0, "level")->valueint == 1 &&
              cJSON_GetObjectItem(r0, "experts_per_step")->valuedouble == 2.0);
        CHECK(r1 && cJSON_GetObjectItem(r1, "level")->valueint == 3 &&
              cJSON_GetObjectItem(r1, "experts_per_step")->valuedouble > 2.0 &&
              cJSON_GetObjectItem(r1, "tg_tps")->valuedouble > 0);
    }
    CHECK_INT_EQ(cJSON_GetArraySize(models), 2);
    cJSON_Delete(root);
    free(out);
    free(err);

    argv[13] = NULL;
    CHECK_INT_EQ(compare_captured(argv, 13, &out, &err), 0);
    CHECK_MSG(out && strstr(out, "concurrency: 16 prompt + 4 sampled tokens") &&
                  strstr(out, "tg tok/s at 3") && strstr(out, "experts   MB/step"),
              "stdout: %s", out ? out : "");
    free(out);
    free(err);

    argv[12] = "1,65";
    CHECK_INT_EQ(compare_captured(argv, 13, &out, &err), 2);
    CHECK_MSG(err && strstr(err, "--parallel wants a whole number from 1 to 64, not '65'"),
              "stderr: %s", err ? err : "");
    free(out);
    free(err);
}
