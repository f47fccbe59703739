/* tests/test_gguf_split.c: models split into several GGUF files (engine/gguf/gguf_split.c),
 * made from a models-2026 fidelity fixture by our own split writer (gguf_write_split):
 * opened from any part, the same tensors and the same bytes; the same model output as the
 * single file; one line naming a missing part, a part of another set, a part under another
 * part's name. */
#include "test.h"

#include "engine.h"
#include "gguf.h"
#include "gguf_write.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fixture every test here splits: deepseek2 V2-Lite style, Q4_K_M (59 tensors). */
static const char ts_fixture[] = "deepseek2-lite-small-q4_k_m";

static bool ts_fixture_path(char *buf, size_t len)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return false;
    }
    snprintf(buf, len, "%s/models-2026/%s.gguf", dir, ts_fixture);
    return true;
}

/* Writes the fixture as N parts under test_tmp_dir()/NAME: 0, or -1. */
static int ts_split(const char *src_path, const char *name, uint32_t n, char *prefix,
                    size_t len)
{
    char err[1024];
    struct gguf_file src;
    if (gguf_open(&src, src_path, err, sizeof err)) {
        CHECK_MSG(false, "%s", err);
        return -1;
    }
    snprintf(prefix, len, "%s/%s", test_tmp_dir(), name);
    int rc = gguf_write_split(&src, prefix, n, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    gguf_close(&src);
    return rc;
}

static void ts_part(char *buf, size_t len, const char *prefix, uint32_t no, uint32_t n)
{
    snprintf(buf, len, "%s-%05u-of-%05u.gguf", prefix, no, n);
}

TEST(gguf_split_opens_from_any_part)
{
    char src_path[4096], prefix[4096], part[4200], err[1024];
    if (!ts_fixture_path(src_path, sizeof src_path) || ts_split(src_path, "any", 3, prefix,
                                                                 sizeof prefix))
        return;
    struct gguf_file src;
    CHECK_MSG(gguf_open(&src, src_path, err, sizeof err) == 0, "%s", err);
    if (!src.base)
        return;
    /* every part alone is a GGUF of its own, with part of the tensors */
    uint64_t sum = 0;
    for (uint32_t p = 1; p <= 3; p++) {
        struct gguf_file one;
        ts_part(part, sizeof part, prefix, p, 3);
        CHECK_MSG(gguf_open(&one, part, err, sizeof err) == 0, "%s", err);
        sum += one.n_tensors;
        CHECK(one.n_tensors > 0 && one.n_tensors < src.n_tensors);
        CHECK((gguf_find(&one, "general.architecture") != NULL) == (p == 1));
        gguf_close(&one);
    }
    CHECK(sum == src.n_tensors);
    for (uint32_t p = 1; p <= 3; p++)
        for (int header = 0; header < 2; header++) {
            struct gguf_file set;
            ts_part(part, sizeof part, prefix, p, 3);
            if (gguf_open_set(&set, part, header, err, sizeof err)) {
                CHECK_MSG(false, "part %u: %s", p, err);
                continue;
            }
            CHECK_INT_EQ(set.split_count, 3);
            CHECK(set.n_tensors == src.n_tensors);
            CHECK(strstr(set.path, "-00001-of-00003.gguf") != NULL); /* the keys' part */
            char arch[32];
            CHECK(gguf_get_strz(&set, "general.architecture", arch, sizeof arch, err,
                                sizeof err) == 0);
            CHECK_STR_EQ(arch, "deepseek2");
            uint64_t size = 0;
            for (uint32_t q = 1; q <= 3; q++) {
                char other[4200];
                ts_part(other, sizeof other, prefix, q, 3);
                FILE *f = fopen(other, "rb");
                if (f) {
                    fseek(f, 0, SEEK_END);
                    size += (uint64_t)ftell(f);
                    fclose(f);
                }
            }
            CHECK(gguf_set_size(&set) == size);
            int differ = 0;
            for (uint64_t i = 0; i < src.n_tensors; i++) {
                const struct gguf_tensor *a = &src.tensors[i];
                const struct gguf_tensor *b = gguf_find_tensor(&set, a->name);
                CHECK_MSG(b != NULL, "part %u: no tensor %s in the set", p, a->name);
                if (!b)
                    continue;
                differ += a->type != b->type || a->nbytes != b->nbytes ||
                          memcmp(a->ne, b->ne, sizeof a->ne) != 0 ||
                          (!header && memcmp(a->data, b->data, a->nbytes) != 0);
            }
            CHECK_MSG(differ == 0, "part %u (header %d): %d tensors differ", p, header, differ);
            CHECK(!gguf_changed(&set));
            gguf_close(&set);
        }
    gguf_close(&src);
}

/* Greedy tokens, the experts of every layer and every logit of every step. */
struct ts_run {
    int32_t tokens[24];
    int n;
    float *logits;   /* (n x n_vocab) */
    uint8_t experts[24][8][8];
};

static bool ts_generate(const char *path, struct ts_run *r)
{
    char err[1024];
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 2;
    ep.sampler.temp = 0.0f;
    ep.trace = true;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return false;
    const struct model_desc *d = engine_desc(e);
    const int nv = d->n_vocab;
    int32_t toks[64];
    const char *prompt = "The experts of a split model";
    int np = engine_tokenize(e, prompt, strlen(prompt), true, false, toks, 64, err, sizeof err);
    CHECK(np > 0);
    struct trace_log log;
    trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used);
    for (int i = 0; i < np; i++)
        trace_log_push(&log, toks[i], "", 0, true);
    r->n = 0;
    r->logits = malloc((size_t)16 * (size_t)nv * sizeof *r->logits);
    memset(r->experts, 0, sizeof r->experts);
    for (int s = 0; s < 16 && r->logits; s++) {
        if (engine_eval(e, &log, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            break;
        }
        memcpy(r->logits + (size_t)s * (size_t)nv, engine_logits(e), (size_t)nv * sizeof(float));
        long idx = engine_sample(e, &log, err, sizeof err);
        if (idx < 0)
            break;
        r->tokens[r->n++] = log.tok[idx].token;
    }
    /* the experts of the generated records (each fed at the next eval; the last is not) */
    for (int s = 0; s + 1 < r->n; s++) {
        const size_t rec = (size_t)np + (size_t)s;
        const struct trace_layer *L = trace_layers(&log, rec);
        for (int l = 0; l < d->n_layers && l < 8; l++)
            for (int k = 0; k < L[l].n && k < 8; k++)
                r->experts[s][l][k] = (uint8_t)(L[l].experts[k] + 1);
    }
    trace_log_free(&log);
    engine_close(e);
    return r->n == 16;
}

TEST(gguf_split_model_output_equals_single_file)
{
    char src_path[4096], prefix[4096], part[4200];
    if (!ts_fixture_path(src_path, sizeof src_path) ||
        ts_split(src_path, "same", 4, prefix, sizeof prefix))
        return;
    struct ts_run one = {0}, split = {0};
    ts_part(part, sizeof part, prefix, 3, 4); /* a middle part */
    if (ts_generate(src_path, &one) && ts_generate(part, &split)) {
        CHECK_INT_EQ(split.n, one.n);
        CHECK(memcmp(split.tokens, one.tokens, sizeof one.tokens) == 0);
        CHECK(memcmp(split.experts, one.experts, sizeof one.experts) == 0);
        int chosen = 0; /* the routing was traced: MoE layers chose experts */
        for (size_t i = 0; i < sizeof one.experts; i++)
            chosen += ((const uint8_t *)one.experts)[i] != 0;
        CHECK(chosen > 0);
        struct model_desc d;
        char err[1024];
        CHECK_MSG(model_describe(src_path, &d, err, sizeof err) == 0, "%s", err);
        CHECK(memcmp(split.logits, one.logits, (size_t)16 * (size_t)d.n_vocab * sizeof(float)) ==
              0);
        /* the description of the set: every part's bytes, and the same model */
        struct model_desc ds;
        CHECK_MSG(model_describe(part, &ds, err, sizeof err) == 0, "%s", err);
        CHECK_INT_EQ(ds.n_files, 4);
        CHECK_INT_EQ(d.n_files, 1);
        CHECK(ds.n_params == d.n_params && ds.active_bytes == d.active_bytes);
        CHECK(ds.file_size > d.file_size); /* four headers */
    }
    free(one.logits);
    free(split.logits);
}

/* One line that names the part and says what is wrong with it. */
static void ts_refused(const char *path, const char *part_named, const char *words)
{
    struct gguf_file f;
    char err[2048] = "";
    CHECK(gguf_open_set(&f, path, false, err, sizeof err) == -1);
    CHECK_MSG(strchr(err, '\n') == NULL && err[0], "not one line: %s", err);
    CHECK_MSG(strstr(err, part_named) != NULL, "does not name %s: %s", part_named, err);
    CHECK_MSG(strstr(err, words) != NULL, "does not say '%s': %s", words, err);
    CHECK(f.base == NULL && f.tensors == NULL && f.split_parts == NULL);
}

static int ts_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out))
        rc = -1;
    return rc;
}

TEST(gguf_split_missing_and_mismatched_parts)
{
    char src_path[4096], a[4096], b[4096], p1[4200], p2[4200], p3[4200], other[4200];
    if (!ts_fixture_path(src_path, sizeof src_path) ||
        ts_split(src_path, "bad", 3, a, sizeof a) || ts_split(src_path, "two", 2, b, sizeof b))
        return;
    ts_part(p1, sizeof p1, a, 1, 3);
    ts_part(p2, sizeof p2, a, 2, 3);
    ts_part(p3, sizeof p3, a, 3, 3);
    char keep[4300];
    snprintf(keep, sizeof keep, "%s.kept", p2);
    CHECK(rename(p2, keep) == 0);
    /* part 2 missing: from the first part and from the last, the message names part 2 */
    ts_refused(p1, "bad-00002-of-00003.gguf", "part 2 of the 3 files");
    ts_refused(p3, "bad-00002-of-00003.gguf", "is missing");
    /* part 2 of another set (a 2-part set's second file) under this set's name */
    ts_part(other, sizeof other, b, 2, 2);
    CHECK(ts_copy_file(other, p2) == 0);
    ts_refused(p1, "bad-00002-of-00003.gguf", "the parts do not belong together");
    /* the third part under the second's name: its split.no says 2 (part 3) */
    CHECK(ts_copy_file(p3, p2) == 0);
    ts_refused(p1, "bad-00002-of-00003.gguf", "its name says part 2 of 3");
    /* a part file renamed out of its set: the others cannot be found by its name */
    char renamed[4300];
    snprintf(renamed, sizeof renamed, "%s/renamed-part.gguf", test_tmp_dir());
    CHECK(rename(keep, renamed) == 0);
    ts_refused(renamed, "renamed-part.gguf", "does not end in '-00002-of-00003.gguf'");
    /* the set whole again opens */
    CHECK(rename(renamed, p2) == 0);
    struct gguf_file f;
    char err[1024];
    CHECK_MSG(gguf_open_set(&f, p2, false, err, sizeof err) == 0, "%s", err);
    gguf_close(&f);
    /* and a single file opens as itself */
    CHECK_MSG(gguf_open_set(&f, src_path, false, err, sizeof err) == 0, "%s", err);
    CHECK(f.split_count <= 1 && f.split_parts == NULL);
    gguf_close(&f);
}
