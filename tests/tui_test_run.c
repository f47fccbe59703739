/* tests/tui_test_run.c: `moescope run` end to end, called as the binary's dispatcher calls it,
 * with stdout and stderr sent to files. */
#include "test.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"

/* Runs cmd_run(argv) with stdout into out_path and stderr into err_path; its exit status. */
static int run_captured(char **argv, int argc, const char *out_path, const char *err_path)
{
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, STDOUT_FILENO);
    dup2(fe, STDERR_FILENO);
    close(fo);
    close(fe);
    int rc = cmd_run(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    return rc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
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
                     "-c", "12", "--trace", trace, NULL };
    CHECK_INT_EQ(run_captured(argv, 13, out, err), 0);
    char *e = slurp(err, NULL);
    CHECK(e && strstr(e, "context full"));
    free(e);
    int bad;
    CHECK_INT_EQ(count_json_lines(trace, &bad), 12); /* 5 prompt + 7 generated */
    CHECK_INT_EQ(bad, 0);
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
