/* tests/test_default_model.c: the shipped default model (tools/train/default.gguf) is what
 * README.md and docs/train-loss.txt say: a context of at least 1024 (the log's windows), a
 * file of at most 20 MB, and the held-out loss the README gives is the log's last line. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* The number after key in the first line of path holding it, or -1. */
static double dm_number_after(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    double v = -1;
    while (f && v < 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, key);
        if (p)
            v = atof(p + strlen(key));
    }
    if (f)
        fclose(f);
    return v;
}

TEST(default_model_matches_readme_and_log)
{
    struct model_desc d;
    char err[512];
    CHECK_MSG(model_describe("tools/train/default.gguf", &d, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(d.n_ctx_train >= 1024, "context %d", d.n_ctx_train);
    CHECK_MSG(d.file_size <= 20u * 1000 * 1000, "%llu bytes", (unsigned long long)d.file_size);
    CHECK_INT_EQ(d.n_experts, 8);
    CHECK_INT_EQ(d.n_experts_used, 2);
    /* the log is this model's: its windows are the model's context */
    CHECK_INT_EQ((int)dm_number_after("docs/train-loss.txt", "# batch 4 x "), d.n_ctx_train);
    double logged = dm_number_after("docs/train-loss.txt", "held-out 10%: ");
    double readme = dm_number_after("README.md", "the whole held-out tenth: ");
    CHECK_MSG(logged > 0 && logged == readme, "log %.4f, README %.4f", logged, readme);
    CHECK_MSG(strstr(d.name, "shakespeare") != NULL, "name %s", d.name);
}
