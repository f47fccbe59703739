/* tests/tui_test_analyze.c: `moescope analyze` on saved sessions made by hand, as the
 * binary's dispatcher calls it. The cyclic session's figures are worked out in
 * tests/test_expert_cache.c: 40 tokens touching experts 0 1 2 3 0 1 ... of one layer; 3
 * slots: LRU 0 hits, optimal 24; the 90% cache is 4 experts, 99% is never reached. */
#include "test.h"

#include <cjson/cJSON.h>

#include "cmd_capture.h"
#include "commands.h"
#include "session.h"

/* Saves the cyclic session at path, with expert_bytes (0: not recorded). */
static int save_cyclic(const char *path, uint64_t expert_bytes)
{
    struct session s;
    if (session_init(&s, 1, 4, 1) != 0)
        return -1;
    snprintf(s.model.file, sizeof s.model.file, "cyclic.gguf");
    s.model.expert_bytes = expert_bytes;
    s.model.active_bytes = expert_bytes ? 3 * expert_bytes : 0;
    session_add_message(&s, SESSION_USER, "go", 2);
    for (int t = 0; t < 40; t++) {
        long i = trace_log_push(&s.log, 1, "x", 1, t == 0);
        s.log.tok[i].fed = true;
        struct trace_layer *ly = trace_layers(&s.log, (size_t)i);
        ly->n = 1;
        ly->experts[0] = (uint16_t)(t % 4);
    }
    session_add_message(&s, SESSION_ASSISTANT, "x", 1);
    char err[512];
    int rc = session_save(&s, path, true, err, sizeof err);
    if (rc)
        printf("%s\n", err);
    session_free(&s);
    return rc;
}

static int analyze_captured(char **argv, int argc, char **out, char **err)
{
    return cmd_captured_text(cmd_analyze, argv, argc, "analyze", out, err);
}

static double json_num(const cJSON *root, const char *a, const char *b, const char *c)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, a);
    j = b ? cJSON_GetObjectItemCaseSensitive(j, b) : j;
    j = c ? cJSON_GetObjectItemCaseSensitive(j, c) : j;
    return cJSON_IsNumber(j) ? j->valuedouble : cJSON_IsNull(j) ? -1 : -2;
}

TEST(analyze_cyclic_session_text_and_json)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cyclic.json", test_tmp_dir());
    CHECK_INT_EQ(save_cyclic(path, 1000000), 0);
    char *out, *err;
    char *argv[] = { "analyze", path, "--cache-experts", "3", NULL };
    CHECK_INT_EQ(analyze_captured(argv, 4, &out, &err), 0);
    /* hit rates 0% and 60%; MB per token: 40 and 16 misses of 1 MB over 40 tokens */
    CHECK_MSG(out && strstr(out, "    0     0.0%    60.0%       1.00      0.40          4 | -         4 | -"),
              "stdout: %s", out ? out : "");
    CHECK_MSG(out && strstr(out, "  all     0.0%    60.0%       1.00      0.40"), "stdout: %s",
              out ? out : "");
    CHECK_MSG(out && strstr(out, "cache: 3 of 4 experts = 3.0 MB"), "stdout: %s", out ? out : "");
    CHECK_STR_EQ(err, "");
    free(out);
    free(err);

    char *jargv[] = { "analyze", "--json", path, "--cache-mb", "3.5", NULL };
    CHECK_INT_EQ(analyze_captured(jargv, 5, &out, &err), 0);
    cJSON *root = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(root != NULL, "not JSON: %s", out ? out : "");
    CHECK_INT_EQ(json_num(root, "cache_experts", NULL, NULL) == 3, 1); /* 3.5 MB holds 3 */
    CHECK_NEAR(json_num(root, "all", "lru", "hit_rate"), 0.0, 1e-9);
    CHECK_NEAR(json_num(root, "all", "optimal", "hit_rate"), 0.6, 1e-9);
    CHECK_NEAR(json_num(root, "all", "optimal", "bytes_per_token"), 400000, 0.5);
    CHECK_NEAR(json_num(root, "all", "lru", "smallest_90"), 4, 0);
    CHECK_NEAR(json_num(root, "all", "optimal", "smallest_99"), -1, 0); /* null */
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "per_layer");
    CHECK_INT_EQ(cJSON_GetArraySize(layers), 1);
    /* each record chose one expert, and its successor always another: repeat share 0 */
    CHECK_NEAR(json_num(cJSON_GetArrayItem(layers, 0), "coactivation", "repeat_share", NULL),
               0.0, 1e-9);
    cJSON_Delete(root);
    free(out);
    free(err);
}

TEST(analyze_without_expert_sizes_and_bad_usage)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cyclic-nosize.json", test_tmp_dir());
    CHECK_INT_EQ(save_cyclic(path, 0), 0);
    char *out, *err;

    /* the figures that need no size still come, the bytes say what is missing */
    char *a1[] = { "analyze", path, NULL };
    CHECK_INT_EQ(analyze_captured(a1, 2, &out, &err), 0);
    CHECK_MSG(out && strstr(out, "size unknown") && strstr(out, "-m MODEL") &&
                  strstr(out, "cache: 2 of 4 experts"),
              "stdout: %s", out ? out : "");
    free(out);
    free(err);

    char *a2[] = { "analyze", path, "--cache-mb", "100", NULL };
    CHECK_INT_EQ(analyze_captured(a2, 4, &out, &err), 1);
    CHECK_MSG(err && strstr(err, path) && strstr(err, "-m MODEL") && strchr(err, '\n') &&
                  strchr(err, '\n')[1] == 0,
              "stderr: %s", err ? err : "");
    free(out);
    free(err);

    char *a3[] = { "analyze", path, "--cache-mb", "1", "--cache-experts", "2", NULL };
    CHECK_INT_EQ(analyze_captured(a3, 6, &out, &err), 2);
    free(out);
    free(err);

    char *a4[] = { "analyze", path, "--cache-experts", "0", NULL };
    CHECK_INT_EQ(analyze_captured(a4, 4, &out, &err), 2);
    free(out);
    free(err);

    /* the default model has 4 layers of 8 experts: not the session's model */
    char *a5[] = { "analyze", path, "-m", "tools/train/default.gguf", NULL };
    CHECK_INT_EQ(analyze_captured(a5, 4, &out, &err), 1);
    CHECK_MSG(err && strstr(err, "4 layers of 8 experts"), "stderr: %s", err ? err : "");
    free(out);
    free(err);

    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no-such-session.json", test_tmp_dir());
    char *a6[] = { "analyze", missing, NULL };
    CHECK_INT_EQ(analyze_captured(a6, 2, &out, &err), 1);
    CHECK_MSG(err && strstr(err, "no-such-session.json"), "stderr: %s", err ? err : "");
    free(out);
    free(err);
}
