/* tests/tui_test_info.c: `moescope info` on the files as they come: a split model (written
 * by our split writer from a models-2026 fixture), a GGUF of an architecture moescope cannot
 * run (described, exit 0); and `run` and the app refusing that file in one line. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_capture.h"
#include "commands.h"
#include "gguf.h"
#include "gguf_write.h"

static const char ti_fixture[] = "deepseek2-lite-small-q4_k_m.gguf";

static bool ti_fixture_path(char *buf, size_t len)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return false;
    }
    snprintf(buf, len, "%s/models-2026/%s", dir, ti_fixture);
    return true;
}

static int ti_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

TEST(info_describes_a_split_model)
{
    char src_path[4096], prefix[4096], part[4200], err[1024];
    if (!ti_fixture_path(src_path, sizeof src_path))
        return;
    struct gguf_file src;
    CHECK_MSG(gguf_open(&src, src_path, err, sizeof err) == 0, "%s", err);
    if (!src.base)
        return;
    snprintf(prefix, sizeof prefix, "%s/ds-split", test_tmp_dir());
    CHECK_MSG(gguf_write_split(&src, prefix, 3, err, sizeof err) == 0, "%s", err);
    gguf_close(&src);
    snprintf(part, sizeof part, "%s-00002-of-00003.gguf", prefix);
    char *out = NULL, *errs = NULL;
    char *argv[] = { "info", part, NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_info, argv, 2, "info-split", &out, &errs), 0);
    CHECK_MSG(out && strstr(out, "ds-split-00001-of-00003.gguf\n"), "%s", out ? out : "");
    CHECK_MSG(out && strstr(out, ", split into 3 files"), "%s", out ? out : "");
    CHECK_MSG(out && strstr(out, "architecture   deepseek2\n"), "%s", out ? out : "");
    CHECK_MSG(out && strstr(out, "KV cache       640 bytes per token"), "%s", out ? out : "");
    free(out);
    free(errs);
    char *jargv[] = { "info", part, "--json", NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_info, jargv, 3, "info-split-json", &out, &errs), 0);
    CHECK_MSG(out && strstr(out, "\"n_files\": 3"), "%s", out ? out : "");
    free(out);
    free(errs);
    /* a missing part: one line naming it, exit 1 */
    char p3[4200];
    snprintf(p3, sizeof p3, "%s-00003-of-00003.gguf", prefix);
    CHECK(remove(p3) == 0);
    CHECK_INT_EQ(cmd_captured_text(cmd_info, argv, 2, "info-split-missing", &out, &errs), 1);
    CHECK_MSG(errs && ti_lines(errs) == 1 && strstr(errs, "ds-split-00003-of-00003.gguf: part 3 "
                                                          "of the 3 files"),
              "%s", errs ? errs : "");
    free(out);
    free(errs);
}

/* The fixture with every "deepseek2" in its header (the architecture and its keys' prefix)
 * made "deepseek9": a well-formed GGUF of an architecture nobody runs. */
static bool ti_unknown_arch(char *path, size_t len)
{
    char src_path[4096], err[1024];
    if (!ti_fixture_path(src_path, sizeof src_path))
        return false;
    struct gguf_file src;
    CHECK_MSG(gguf_open(&src, src_path, err, sizeof err) == 0, "%s", err);
    if (!src.base)
        return false;
    uint8_t *copy = malloc(src.size);
    if (copy) {
        memcpy(copy, src.base, src.size);
        for (uint64_t i = 0; i + 9 <= src.data_offset; i++)
            if (!memcmp(copy + i, "deepseek2", 9))
                copy[i + 8] = '9';
        snprintf(path, len, "%s/deepseek9.gguf", test_tmp_dir());
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(copy, 1, src.size, f) == src.size);
        if (f)
            fclose(f);
    }
    free(copy);
    gguf_close(&src);
    return copy != NULL;
}

TEST(info_describes_an_unsupported_architecture)
{
    char path[4096];
    if (!ti_unknown_arch(path, sizeof path))
        return;
    char *out = NULL, *errs = NULL;
    char *argv[] = { "info", path, NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_info, argv, 2, "info-unknown", &out, &errs), 0);
    static const char *const want[] = {
        "deepseek9.gguf\n", "architecture   deepseek9\n",
        "runs           no: architecture 'deepseek9' is not supported (moescope runs: ",
        "layers         4\n", "d_model        256\n", "heads          4, kv heads 1\n",
        "experts        2 of 8, expert FFN 256\n", "tokenizer      bpe (deepseek-llm), 660 tokens",
        "tensors        f32 ", "parameters     ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(out && strstr(out, want[i]), "no \"%s\" in:\n%s", want[i], out ? out : "");
    CHECK_MSG(errs && !errs[0], "stderr: %s", errs ? errs : "");
    free(out);
    free(errs);
    char *jargv[] = { "info", "--json", path, NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_info, jargv, 3, "info-unknown-json", &out, &errs), 0);
    CHECK_MSG(out && strstr(out, "\"runs\": false") && strstr(out, "\"arch\": \"deepseek9\"") &&
                  strstr(out, "\"n_layers\": 4"),
              "%s", out ? out : "");
    free(out);
    free(errs);

    /* run and the app refuse it: one line naming the architecture, exit 1 */
    char *rargv[] = { "run", "-m", path, "-p", "hello", NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_run, rargv, 5, "run-unknown", &out, &errs), 1);
    CHECK_MSG(errs && ti_lines(errs) == 1 && strstr(errs, "architecture 'deepseek9' is not "
                                                          "supported"),
              "%s", errs ? errs : "");
    CHECK(out && !out[0]);
    free(out);
    free(errs);
    char *aargv[] = { "moescope", "-m", path, NULL };
    CHECK_INT_EQ(cmd_captured_text(cmd_app, aargv, 3, "app-unknown", &out, &errs), 1);
    CHECK_MSG(errs && ti_lines(errs) == 1 && strstr(errs, "architecture 'deepseek9' is not "
                                                          "supported"),
              "%s", errs ? errs : "");
    free(out);
    free(errs);
}
