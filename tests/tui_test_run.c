/* tests/tui_test_run.c: `moescope run` end to end, called as the binary's dispatcher calls it,
 * with stdout and stderr sent to files. */
#include "test.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd_capture.h"
#include "commands.h"

static int run_captured(char **argv, int argc, const char *out_path, const char *err_path)
{
    return cmd_captured(cmd_run, argv, argc, out_path, err_path);
}

static int count_json_lines(const char *path, int *bad)
{
    char *text = slurp(path, NULL);
    int n = 0;
    *bad = 0;
    for (char *line = text, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        *bad += j == NULL;
        cJSON_Delete(j);
        n++;
    }
    free(text);
    return n;
}

/* Compares with models/stories260K.plain.json: the text of its first 40 greedy steps
 * (piece_hex) must be what run prints, byte for byte. */
TEST(run_stories_prints_the_reference_story)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char model[4096], ref_path[4096], out[4096], err[4096], trace[4096];
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", fx);
    snprintf(ref_path, sizeof ref_path, "%s/models/stories260K.plain.json", fx);
    snprintf(out, sizeof out, "%s/run.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/run.err", test_tmp_dir());
    snprintf(trace, sizeof trace, "%s/run.jsonl", test_tmp_dir());
    char *ref_text = slurp(ref_path, NULL);
    cJSON *ref = ref_text ? cJSON_Parse(ref_text) : NULL;
    free(ref_text);
    if (!ref) {
        test_skip("cannot read %s", ref_path);
        return;
    }
    char want[4096];
    size_t want_len = 0;
    int pieces = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, cJSON_GetObjectItem(ref, "steps"))
    {
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(step, "piece_hex"));
        for (size_t k = 0; hex && pieces < 40 && hex[k] && hex[k + 1]; k += 2) {
            unsigned v;
            sscanf(hex + k, "%2x", &v);
            want[want_len++] = (char)v;
        }
        pieces += hex != NULL;
    }
    cJSON_Delete(ref);
    CHECK(pieces >= 40);

    char *argv[] = { "run", "-m", model, "-p", "Once upon a time", "-n", "40", "--temp", "0",
                     "-t", "1", "--trace", trace, NULL };
    CHECK_INT_EQ(run_captured(argv, 13, out, err), 0);
    size_t got_len = 0;
    char *got = slurp(out, &got_len);
    CHECK_INT_EQ(got_len, want_len);
    CHECK(got && got_len == want_len && memcmp(got, want, want_len) == 0);
    if (got && (got_len != want_len || memcmp(got, want, want_len)))
        printf("  got:  %s\n  want: %.*s\n", got, (int)want_len, want);
    free(got);
    /* the closing line */
    char *e = slurp(err, NULL);
    CHECK(e && strstr(e, "tok/s") && strstr(e, "TTFT") && strstr(e, "p99"));
    CHECK(e && strchr(e, '\n') == e + strlen(e) - 1); /* one line */
    free(e);
    /* the trace: 5 prompt records and 40 generated, every line JSON */
    int bad;
    CHECK_INT_EQ(count_json_lines(trace, &bad), 45);
    CHECK_INT_EQ(bad, 0);
}

TEST(run_stops_at_a_full_context)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char model[4096], out[4096], err[4096], trace[4096];
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", fx);
    snprintf(out, sizeof out, "%s/ctx.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/ctx.err", test_tmp_dir());
    snprintf(trace, sizeof trace, "%s/ctx.jsonl", test_tmp_dir());
    char *argv[] = { "run", "-m", model, "-p", "Once upon a time", "-n", "100", "--temp", "0",
                     "-c", "12", "--trace", trace, "--no-context-shift", NULL };
    CHECK_INT_EQ(run_captured(argv, 14, out, err), 0);
    char *e = slurp(err, NULL);
    CHECK(e && strstr(e, "context full"));
    free(e);
    int bad;
    CHECK_INT_EQ(count_json_lines(trace, &bad), 12); /* 5 prompt + 7 generated */
    CHECK_INT_EQ(bad, 0);
}

/* The default model (tools/train/default.gguf, bytes for tokens, so 2000 tokens are 2000
 * bytes on stdout) on a 128-token context goes on for 2000 tokens: the context shifts, each
 * shift is in the trace and counted on the closing lines, and no record sits outside the
 * context. */
TEST(run_goes_on_past_the_context)
{
    char out[4096], err[4096], trace[4096];
    snprintf(out, sizeof out, "%s/shift.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/shift.err", test_tmp_dir());
    snprintf(trace, sizeof trace, "%s/shift.jsonl", test_tmp_dir());
    char *argv[] = { "run", "-m", "tools/train/default.gguf", "-p", "ROMEO:", "-n", "2000",
                     "-c", "128", "--temp", "0.7", "--seed", "7", "-t", "1", "--trace", trace,
                     NULL };
    CHECK_INT_EQ(run_captured(argv, 17, out, err), 0);
    size_t n_out = 0;
    char *o = slurp(out, &n_out);
    CHECK_INT_EQ(n_out, 2000);
    free(o);
    char *e = slurp(err, NULL);
    CHECK_MSG(e && strstr(e, "decode 2000 tok") && strstr(e, "context of 128 tokens shifted"),
              "stderr: %s", e ? e : "");
    free(e);
    /* 6 prompt records ("ROMEO:" is 6 bytes) and 2000 generated; every one fed stays inside
     * the context (the last one is never fed, trace.h). */
    FILE *f = fopen(trace, "r");
    char line[8192];
    int n = 0, shifts = 0, outside = 0;
    while (f && fgets(line, sizeof line, f)) {
        n++;
        shifts += strstr(line, "\"shift\":{\"dropped\":") != NULL;
        outside += atoi(line + strlen("{\"pos\":")) >= 128 && n < 2006;
    }
    if (f)
        fclose(f);
    CHECK_INT_EQ(n, 2006);
    CHECK(shifts >= 15);
    CHECK_INT_EQ(outside, 0);
}

TEST(run_bad_usage_and_bad_model)
{
    char out[4096], err[4096], notgguf[4096];
    snprintf(out, sizeof out, "%s/bad.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/bad.err", test_tmp_dir());
    snprintf(notgguf, sizeof notgguf, "%s/not.gguf", test_tmp_dir());
    FILE *f = fopen(notgguf, "w");
    if (f) {
        fputs("this is not a model\n", f);
        fclose(f);
    }
    char *no_prompt[] = { "run", "-m", notgguf, NULL };
    CHECK_INT_EQ(run_captured(no_prompt, 3, out, err), 2);
    char *e = slurp(err, NULL);
    CHECK(e && strstr(e, "usage: moescope run"));
    free(e);
    char *both[] = { "run", "-p", "a", "-f", "b", NULL };
    CHECK_INT_EQ(run_captured(both, 5, out, err), 2);
    char *bad_num[] = { "run", "-p", "a", "--temp", "warm", NULL };
    CHECK_INT_EQ(run_captured(bad_num, 5, out, err), 2);
    char *unknown[] = { "run", "-p", "a", "--frobnicate", NULL };
    CHECK_INT_EQ(run_captured(unknown, 4, out, err), 2);

    char *bad_model[] = { "run", "-m", notgguf, "-p", "hello", NULL };
    CHECK_INT_EQ(run_captured(bad_model, 5, out, err), 1);
    e = slurp(err, NULL);
    CHECK(e && strchr(e, '\n') == e + strlen(e) - 1); /* one line */
    CHECK(e && strstr(e, "not.gguf"));
    free(e);
    char *missing_file[] = { "run", "-m", notgguf, "-f", "/nonexistent/prompt.txt", NULL };
    CHECK_INT_EQ(run_captured(missing_file, 5, out, err), 1);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

/* `moescope bench --json` on models/qwen2moe-tiny-f32.gguf at 2 threads: one object with
 * every key issue 4 names, measured (positive), and the derived ones consistent with the
 * measured ones: floor = bandwidth / active bytes, ratio = decode / floor, the split sums
 * to 1, the percentiles in order. */
TEST(bench_json_has_every_key_and_consistent_figures)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char model[1024];
    snprintf(model, sizeof model, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    char *argv[] = { "bench", "-m", model, "-t", "2", "-p", "8", "-n", "8", "-r", "2",
                     "--json", NULL };
    struct stat st;
    CHECK(stat(model, &st) == 0);
    const char *out = "build/test-bench.out", *err = "build/test-bench.err";
    CHECK_INT_EQ(cmd_captured(cmd_bench, argv, 12, out, err), 0);
    char *text = slurp(out, NULL);
    CHECK(text != NULL);
    int objects = 0;
    for (char *line = text, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        cJSON *j = cJSON_Parse(line);
        CHECK_MSG(j != NULL, "bench --json printed a line that is not JSON: %.80s", line);
        if (!j)
            break;
        objects++;
        static const char *const keys[] = { "pp_tps", "tg_tps", "ttft_ms", "itl_p50_ms",
                                            "itl_p95_ms", "itl_p99_ms", "bandwidth_gbps",
                                            "active_bytes", "floor_tps", "floor_ratio" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            CHECK_MSG(json_num(j, keys[k]) > 0, "%s: %g", keys[k], json_num(j, keys[k]));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "trace_overhead")));
        CHECK(json_num(j, "itl_p50_ms") <= json_num(j, "itl_p95_ms"));
        CHECK(json_num(j, "itl_p95_ms") <= json_num(j, "itl_p99_ms"));
        const double floor = json_num(j, "bandwidth_gbps") * 1e9 / json_num(j, "active_bytes");
        CHECK_NEAR(json_num(j, "floor_tps") / floor, 1.0, 0.01);
        CHECK_NEAR(json_num(j, "floor_ratio"), json_num(j, "tg_tps") / json_num(j, "floor_tps"),
                   0.001);
        /* the file holds every expert; a token reads 2 of 8 (and the rest of the layer) */
        CHECK(json_num(j, "active_bytes") < 0.75 * (double)st.st_size);
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(j, "split");
        double sum = 0;
        static const char *const parts[] = { "attn", "router", "experts", "other" };
        for (size_t k = 0; k < 4; k++) {
            const double v = json_num(split, parts[k]);
            CHECK_MSG(v >= 0 && v <= 1, "split.%s: %g", parts[k], v);
            sum += v;
        }
        CHECK_NEAR(sum, 1.0, 0.01);
        /* the slow steps: 2 repeats of 7 decode steps, each slow one counted at most once
         * per cause */
        const cJSON *slow = cJSON_GetObjectItemCaseSensitive(j, "slow_steps");
        CHECK_NEAR(json_num(slow, "over_p50"), 1.3, 1e-9);
        CHECK_INT_EQ((int)json_num(slow, "steps"), 14);
        CHECK(json_num(slow, "slow") >= 0 && json_num(slow, "slow") < 14);
        CHECK(json_num(slow, "preempted") >= 0 &&
              json_num(slow, "preempted") <= json_num(slow, "slow"));
        CHECK(json_num(slow, "faulted") >= 0 &&
              json_num(slow, "faulted") <= json_num(slow, "slow"));
        cJSON_Delete(j);
        if (!nl)
            break;
    }
    CHECK_INT_EQ(objects, 1);
    free(text);
    unlink(out);
    unlink(err);
}
