/* tests/test_gguf.c: the GGUF reader and writer, and the broken-file corpus.
 *
 * The good files are the fixtures (../shared/fixtures/models and tokenizer, written by
 * llama.cpp's tools; their shapes are checked against the table in fixtures/README.md) and
 * synth output. The broken files are made here, in code, by cutting or patching good ones;
 * every one must be refused with -1 and a one-line message that names the file and the
 * field. Set MOESCOPE_TEST_VERBOSE=1 to print the table of case -> message. */
#include "test.h"

#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "quant.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* synth's generator, to make the synthetic half of the corpus (its main() is left out). */
#define SYNTH_NO_MAIN
#include "../tools/synth.c"

/* ---------------------------------------------------------------- helpers */

static uint8_t *tg_read_file(const char *path, uint64_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (uint64_t)n;
    return buf;
}

static int tg_write_file(const char *path, const uint8_t *data, uint64_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = size ? fwrite(data, 1, (size_t)size, fp) : 0;
    return fclose(fp) == 0 && w == size ? 0 : -1;
}

/* Parses a copy of data[0..size) in a heap block of exactly that size, so that AddressSanitizer
 * sees any read past the end (an mmap would hide it up to the page boundary). */
static int tg_parse_exact(const uint8_t *data, uint64_t size, const char *name, char *err,
                          size_t errlen)
{
    uint8_t *copy = malloc(size ? (size_t)size : 1);
    if (!copy)
        return -2;
    if (size)
        memcpy(copy, data, (size_t)size);
    struct gguf_file f;
    int rc = gguf_parse(&f, size ? copy : NULL, size, name, err, errlen);
    if (rc == 0)
        gguf_close(&f);
    free(copy);
    return rc;
}

static bool tg_verbose(void)
{
    const char *v = getenv("MOESCOPE_TEST_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

static void tg_put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void tg_put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Checks a refused file: -1, a message naming the file, one line, with the field `want`. */
static void tg_expect_refused(const char *label, int rc, const char *err, const char *name,
                              const char *want)
{
    CHECK_MSG(rc == -1, "%s: expected -1, got %d (%s)", label, rc, rc ? err : "accepted");
    if (rc != -1)
        return;
    CHECK_MSG(strstr(err, name) != NULL, "%s: message does not name the file '%s': %s", label,
              name, err);
    CHECK_MSG(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL,
              "%s: message is not one line: %s", label, err);
    CHECK_MSG(want == NULL || strstr(err, want) != NULL, "%s: expected '%s' in: %s", label,
              want, err);
}

/* ---------------------------------------------------------------- basics */

TEST(gguf_fmt_groups_digits)
{
    char b[32];
    CHECK_STR_EQ(gguf_fmt_u64(0, b), "0");
    CHECK_STR_EQ(gguf_fmt_u64(999, b), "999");
    CHECK_STR_EQ(gguf_fmt_u64(1000, b), "1 000");
    CHECK_STR_EQ(gguf_fmt_u64(9437184, b), "9 437 184");
    CHECK_STR_EQ(gguf_fmt_u64(UINT64_MAX, b), "18 446 744 073 709 551 615");
    CHECK_STR_EQ(gguf_vtype_name(GGUF_VT_ARRAY), "array");
    CHECK_STR_EQ(gguf_vtype_name((enum gguf_vtype)77), "unknown");
}

/* Fixture shapes, from the table in ../shared/fixtures/README.md. */
static const struct {
    const char *file, *arch;
    uint32_t layers, d_model, experts, used, vocab;
} tg_fixture_shapes[] = {
    { "qwen2moe-tiny-f32.gguf", "qwen2moe", 4, 128, 8, 2, 659 },
    { "olmoe-tiny-f16.gguf", "olmoe", 4, 128, 16, 4, 659 },
    { "mixtral-small-q8_0.gguf", "llama", 4, 256, 8, 2, 659 },
    { "mixtral-small-q4_k_m.gguf", "llama", 4, 256, 8, 2, 659 },
    { "qwen2moe-small-q4_0.gguf", "qwen2moe", 3, 256, 8, 4, 659 },
    { "qwen2moe-small-q6_k.gguf", "qwen2moe", 3, 256, 8, 4, 659 },
    { "stories260K.gguf", "llama", 5, 64, 0, 0, 512 },
};

static void tg_check_consistent(const struct gguf_file *f, const char *label)
{
    for (uint64_t i = 0; i < f->n_kv; i++) {
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)f->kv[i].key.len, f->kv[i].key.ptr);
        CHECK_MSG(gguf_find(f, key) == &f->kv[i], "%s: gguf_find('%s') misses", label, key);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        CHECK_MSG(gguf_find_tensor(f, t->name) == t, "%s: gguf_find_tensor('%s') misses",
                  label, t->name);
        const uint8_t *d = t->data;
        CHECK_MSG(d >= f->base + f->data_offset && d + t->nbytes <= f->base + f->size,
                  "%s: tensor '%s' data outside the file", label, t->name);
        CHECK_MSG((uint64_t)(d - f->base) % f->alignment == 0, "%s: '%s' misaligned", label,
                  t->name);
        uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        CHECK_MSG(t->nbytes == rows * quant_row_size(t->type, t->ne[0]),
                  "%s: '%s' size does not match its shape", label, t->name);
    }
    CHECK(gguf_find(f, "no.such.key") == NULL);
    CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL);
}

/* Reads every model fixture and checks it against the README's table. */
TEST(gguf_reads_fixture_models)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    for (size_t i = 0; i < sizeof tg_fixture_shapes / sizeof tg_fixture_shapes[0]; i++) {
        char path[4096], err[512], buf[64];
        snprintf(path, sizeof path, "%s/models/%s", fx, tg_fixture_shapes[i].file);
        struct gguf_file f;
        int rc = gguf_open(&f, path, err, sizeof err);
        CHECK_MSG(rc == 0, "%s: %s", tg_fixture_shapes[i].file, err);
        if (rc)
            continue;
        CHECK_INT_EQ(f.version, 3);
        CHECK_INT_EQ(f.data_end, f.size);
        CHECK(gguf_get_strz(&f, "general.architecture", buf, sizeof buf, err, sizeof err) == 0);
        CHECK_STR_EQ(buf, tg_fixture_shapes[i].arch);
        char key[128];
        uint32_t v = 0;
        snprintf(key, sizeof key, "%s.block_count", buf);
        CHECK(gguf_get_u32(&f, key, &v, err, sizeof err) == 0);
        CHECK_INT_EQ(v, tg_fixture_shapes[i].layers);
        snprintf(key, sizeof key, "%s.embedding_length", buf);
        CHECK(gguf_get_u32(&f, key, &v, err, sizeof err) == 0);
        CHECK_INT_EQ(v, tg_fixture_shapes[i].d_model);
        snprintf(key, sizeof key, "%s.expert_count", buf);
        v = 0;
        CHECK(gguf_get_u32(&f, key, &v, err, sizeof err) == (tg_fixture_shapes[i].experts ? 0 : 1));
        CHECK_INT_EQ(v, tg_fixture_shapes[i].experts);
        snprintf(key, sizeof key, "%s.expert_used_count", buf);
        v = 0;
        gguf_get_u32(&f, key, &v, err, sizeof err);
        CHECK_INT_EQ(v, tg_fixture_shapes[i].used);
        const struct gguf_kv *tok = gguf_find(&f, "tokenizer.ggml.tokens");
        CHECK(tok && tok->type == GGUF_VT_ARRAY && tok->arr_type == GGUF_VT_STRING);
        if (tok)
            CHECK_INT_EQ(tok->arr_n, tg_fixture_shapes[i].vocab);
        const struct gguf_tensor *emb = gguf_find_tensor(&f, "token_embd.weight");
        CHECK(emb != NULL);
        if (emb) {
            CHECK_INT_EQ(emb->ne[0], tg_fixture_shapes[i].d_model);
            CHECK_INT_EQ(emb->ne[1], tg_fixture_shapes[i].vocab);
        }
        tg_check_consistent(&f, tg_fixture_shapes[i].file);
        gguf_close(&f);
    }
}

/* Every vocabulary fixture reads, except ggml-vocab-dbrx.gguf, which holds the key
 * general.file_type twice; llama.cpp's gguf reader refuses it for the same reason
 * ("duplicate key"), so we must too. */
TEST(gguf_reads_fixture_vocabs)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tokenizer", fx);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    int n_read = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
            continue;
        char path[8192], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct gguf_file f;
        int rc = gguf_open(&f, path, err, sizeof err);
        if (strcmp(e->d_name, "ggml-vocab-dbrx.gguf") == 0) {
            tg_expect_refused("ggml-vocab-dbrx", rc, err, "ggml-vocab-dbrx.gguf",
                              "key 'general.file_type' at byte 561 repeats the key at byte 408");
            if (rc == 0)
                gguf_close(&f);
            continue;
        }
        CHECK_MSG(rc == 0, "%s", err);
        if (rc)
            continue;
        n_read++;
        CHECK_INT_EQ(f.n_tensors, 0);
        const struct gguf_kv *tok = gguf_find(&f, "tokenizer.ggml.tokens");
        CHECK_MSG(tok && tok->arr_type == GGUF_VT_STRING && tok->arr_n > 0,
                  "%s: no token list", e->d_name);
        if (tok) {
            struct gguf_str *s = malloc(tok->arr_n * sizeof *s);
            CHECK(s && gguf_arr_strings(tok, s) == 0);
            /* The strings lie one after the other inside the file. */
            if (s)
                CHECK((const uint8_t *)s[tok->arr_n - 1].ptr + s[tok->arr_n - 1].len <=
                      f.base + f.size);
            free(s);
        }
        char model[32];
        CHECK(gguf_get_strz(&f, "tokenizer.ggml.model", model, sizeof model, err, sizeof err) == 0);
        tg_check_consistent(&f, e->d_name);
        gguf_close(&f);
    }
    closedir(d);
    CHECK_MSG(n_read >= 7, "read only %d vocabulary files", n_read);
}

/* ---------------------------------------------------------------- writer */

TEST(gguf_writer_roundtrip)
{
    struct gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    if (!w)
        return;
    float f32[3 * 5];    /* (5 rows, 3 cols) */
    uint16_t f16[64 * 2];
    uint8_t q8[2 * 34];  /* (1 row of 64 values = 2 blocks) */
    for (int i = 0; i < 15; i++)
        f32[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 128; i++)
        f16[i] = (uint16_t)(i * 257);
    for (int i = 0; i < 68; i++)
        q8[i] = (uint8_t)(i * 7);
    const char *strs[] = { "alpha", "", "g\xc3\xa9nial", "with space" };
    int32_t ints[] = { -5, 0, 7, INT32_MAX };
    float floats[] = { 1.5f, -2.25f };
    CHECK(gguf_writer_set_alignment(w, 64) == 0);
    gguf_writer_add_str(w, "general.architecture", "test");
    gguf_writer_add_u8(w, "k.u8", 200);
    gguf_writer_add_i8(w, "k.i8", -100);
    gguf_writer_add_u16(w, "k.u16", 60000);
    gguf_writer_add_i16(w, "k.i16", -30000);
    gguf_writer_add_u32(w, "k.u32", 4000000000u);
    gguf_writer_add_i32(w, "k.i32", -7);
    gguf_writer_add_u64(w, "k.u64", 1ull << 40);
    gguf_writer_add_i64(w, "k.i64", -(1ll << 40));
    gguf_writer_add_f32(w, "k.f32", 0.125f);
    gguf_writer_add_f64(w, "k.f64", 2.5);
    gguf_writer_add_bool(w, "k.bool", true);
    gguf_writer_add_arr_str(w, "k.strs", strs, 4);
    gguf_writer_add_arr(w, "k.ints", GGUF_VT_INT32, ints, 4);
    gguf_writer_add_arr(w, "k.floats", GGUF_VT_FLOAT32, floats, 2);
    gguf_writer_add_arr(w, "k.empty", GGUF_VT_UINT8, NULL, 0);
    CHECK(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 2, (const int64_t[]){ 3, 5 }, f32) == 0);
    CHECK(gguf_writer_add_tensor(w, "b.f16", GGML_TYPE_F16, 3, (const int64_t[]){ 64, 1, 2 }, f16) == 0);
    CHECK(gguf_writer_add_tensor(w, "c.q8", GGML_TYPE_Q8_0, 1, (const int64_t[]){ 64 }, q8) == 0);

    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/roundtrip.gguf", test_tmp_dir());
    CHECK_MSG(gguf_writer_write(w, path, err, sizeof err) == 0, "%s", err);
    uint8_t *mem = NULL;
    uint64_t memsize = 0;
    CHECK(gguf_writer_to_mem(w, &mem, &memsize, err, sizeof err) == 0);
    gguf_writer_free(w);

    /* No temporary file is left beside it. */
    DIR *d = opendir(test_tmp_dir());
    struct dirent *e;
    while (d && (e = readdir(d)))
        CHECK_MSG(strstr(e->d_name, ".tmp.") == NULL, "left over: %s", e->d_name);
    if (d)
        closedir(d);

    uint64_t size = 0;
    uint8_t *disk = tg_read_file(path, &size);
    CHECK(disk && size == memsize && memcmp(disk, mem, (size_t)size) == 0);
    free(disk);
    /* Version 2 has the same layout as 3 (3 only added big-endian files): it reads too. */
    if (mem) {
        tg_put_u32(mem + 4, 2);
        CHECK_MSG(tg_parse_exact(mem, memsize, "v2.gguf", err, sizeof err) == 0, "%s", err);
    }
    free(mem);

    struct gguf_file f;
    CHECK_MSG(gguf_open(&f, path, err, sizeof err) == 0, "%s", err);
    if (f.base == NULL)
        return;
    CHECK_INT_EQ(f.version, 3);
    CHECK_INT_EQ(f.alignment, 64);
    CHECK_INT_EQ(f.n_kv, 17);
    CHECK_INT_EQ(f.n_tensors, 3);
    CHECK_INT_EQ(f.data_offset % 64, 0);
    CHECK_INT_EQ(f.size % 64, 0);
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float fl;
    bool b;
    char s[64];
    CHECK(gguf_get_u32(&f, "k.u8", &u32, err, sizeof err) == 0 && u32 == 200);
    CHECK(gguf_get_i32(&f, "k.i8", &i32, err, sizeof err) == 0 && i32 == -100);
    CHECK(gguf_get_u32(&f, "k.u16", &u32, err, sizeof err) == 0 && u32 == 60000);
    CHECK(gguf_get_i32(&f, "k.i16", &i32, err, sizeof err) == 0 && i32 == -30000);
    CHECK(gguf_get_u32(&f, "k.u32", &u32, err, sizeof err) == 0 && u32 == 4000000000u);
    CHECK(gguf_get_i32(&f, "k.i32", &i32, err, sizeof err) == 0 && i32 == -7);
    CHECK(gguf_get_u64(&f, "k.u64", &u64, err, sizeof err) == 0 && u64 == 1ull << 40);
    CHECK(gguf_get_f32(&f, "k.f32", &fl, err, sizeof err) == 0 && fl == 0.125f);
    CHECK(gguf_get_f32(&f, "k.f64", &fl, err, sizeof err) == 0 && fl == 2.5f);
    CHECK(gguf_get_bool(&f, "k.bool", &b, err, sizeof err) == 0 && b);
    CHECK(gguf_get_strz(&f, "general.architecture", s, sizeof s, err, sizeof err) == 0);
    CHECK_STR_EQ(s, "test");
    /* Truncation to the buffer. */
    CHECK(gguf_get_strz(&f, "general.architecture", s, 3, err, sizeof err) == 0);
    CHECK_STR_EQ(s, "te");
    /* Out of range and wrong types are errors naming the key; absent keys return 1. */
    CHECK(gguf_get_i32(&f, "k.u32", &i32, err, sizeof err) == -1);
    CHECK(strstr(err, "k.u32") && strstr(err, "out of range"));
    CHECK(gguf_get_u32(&f, "k.i32", &u32, err, sizeof err) == -1);
    CHECK(gguf_get_u32(&f, "k.u64", &u32, err, sizeof err) == -1);
    CHECK(gguf_get_u64(&f, "k.i64", &u64, err, sizeof err) == -1);
    CHECK(gguf_get_u32(&f, "k.f32", &u32, err, sizeof err) == -1);
    CHECK(strstr(err, "float32") != NULL);
    CHECK(gguf_get_str(&f, "k.u8", &(struct gguf_str){ 0 }, err, sizeof err) == -1);
    CHECK(gguf_get_bool(&f, "k.u8", &b, err, sizeof err) == -1);
    u32 = 12345;
    CHECK(gguf_get_u32(&f, "k.absent", &u32, err, sizeof err) == 1 && u32 == 12345);
    const struct gguf_kv *kv = gguf_find(&f, "k.strs");
    CHECK(kv && kv->arr_n == 4);
    if (kv) {
        struct gguf_str out[4];
        CHECK(gguf_arr_strings(kv, out) == 0);
        for (int i = 0; i < 4; i++)
            CHECK(out[i].len == strlen(strs[i]) && memcmp(out[i].ptr, strs[i], out[i].len) == 0);
        CHECK(gguf_arr_get_i32(kv, 0, &i32) == -1);
    }
    kv = gguf_find(&f, "k.ints");
    for (int i = 0; kv && i < 4; i++) {
        CHECK(gguf_arr_get_i32(kv, (uint64_t)i, &i32) == 0 && i32 == ints[i]);
        CHECK(gguf_arr_get_f32(kv, (uint64_t)i, &fl) == 0 && fl == (float)ints[i]);
    }
    CHECK(kv && gguf_arr_get_i32(kv, 4, &i32) == -1);
    kv = gguf_find(&f, "k.floats");
    CHECK(kv && gguf_arr_get_f32(kv, 1, &fl) == 0 && fl == -2.25f);
    CHECK(kv && gguf_arr_strings(kv, NULL) == -1);
    kv = gguf_find(&f, "k.empty");
    CHECK(kv && kv->arr_n == 0 && kv->arr_type == GGUF_VT_UINT8);

    const struct gguf_tensor *t = gguf_find_tensor(&f, "a");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 5 && t->ne[2] == 1 && t->nbytes == 60);
    CHECK(t && memcmp(t->data, f32, sizeof f32) == 0);
    t = gguf_find_tensor(&f, "b.f16");
    CHECK(t && t->n_dims == 3 && t->ne[2] == 2 && t->nbytes == sizeof f16 && t->offset % 64 == 0);
    CHECK(t && memcmp(t->data, f16, sizeof f16) == 0);
    t = gguf_find_tensor(&f, "c.q8");
    CHECK(t && t->type == GGML_TYPE_Q8_0 && t->nbytes == 68 && memcmp(t->data, q8, 68) == 0);
    gguf_close(&f);
}

TEST(gguf_writer_refuses_bad_input)
{
    char err[512];
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_u32(w, "a", 1);
    CHECK(gguf_writer_add_u32(w, "a", 2) == -1);
    uint8_t *mem;
    uint64_t n;
    CHECK(gguf_writer_to_mem(w, &mem, &n, err, sizeof err) == -1);
    CHECK(strstr(err, "'a' added twice") != NULL);
    gguf_writer_free(w);

    float x[32] = { 0 };
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q8_0, 1, (const int64_t[]){ 31 }, x) == -1);
    gguf_writer_free(w);
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "t", 4, 1, (const int64_t[]){ 32 }, x) == -1);
    gguf_writer_free(w);
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, (const int64_t[]){ 8 }, x) == 0);
    CHECK(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, (const int64_t[]){ 8 }, x) == -1);
    char path[4096];
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", test_tmp_dir());
    gguf_writer_free(w);
    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, path, err, sizeof err) == -1);
    CHECK(strstr(err, path) != NULL);
    gguf_writer_free(w);
}

/* ---------------------------------------------------------------- the broken-file corpus */

struct tg_case_log {
    char label[192];
    char msg[512];
};
static struct tg_case_log tg_log[96];
static int tg_n_log;

static void tg_log_case(const char *label, const char *msg)
{
    if (tg_n_log < (int)(sizeof tg_log / sizeof tg_log[0])) {
        snprintf(tg_log[tg_n_log].label, sizeof tg_log[0].label, "%s", label);
        snprintf(tg_log[tg_n_log].msg, sizeof tg_log[0].msg, "%s", msg);
        tg_n_log++;
    }
}

static void tg_print_log(const char *title)
{
    if (!tg_verbose())
        return;
    printf("  %s:\n", title);
    for (int i = 0; i < tg_n_log; i++)
        printf("    %-34s %s\n", tg_log[i].label, tg_log[i].msg);
    tg_n_log = 0;
}

/* A good source file for the corpus: its bytes and its parsed layout. */
struct tg_source {
    char name[64];      /* e.g. "qwen2moe-tiny-f32" or "synth-qwen2moe" */
    uint8_t *data;
    uint64_t size;
    struct gguf_file f; /* parsed from data */
};

static int tg_source_load(struct tg_source *s, const char *name, const char *path)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->data = tg_read_file(path, &s->size);
    char err[512];
    if (!s->data || gguf_parse(&s->f, s->data, s->size, name, err, sizeof err) != 0) {
        free(s->data);
        s->data = NULL;
        return -1;
    }
    return 0;
}

static void tg_source_free(struct tg_source *s)
{
    if (s->data)
        gguf_close(&s->f);
    free(s->data);
    s->data = NULL;
}

/* Truncation at every byte of the header (up to the data section), and at 64 points spread
 * through the tensor data. A few cuts, one per region of the header, go into the table. */
static void tg_truncations(const struct tg_source *s)
{
    char name[128], err[512], label[192];
    snprintf(name, sizeof name, "%s-cut.gguf", s->name);
    const struct gguf_file *f = &s->f;
    const struct gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    uint64_t show[] = {
        0, 2, 6, 12, 20,                        /* magic, version, n_tensors, n_kv */
        f->kv[0].offset + 3,                    /* the first key's length */
        tok ? (uint64_t)(tok->value - f->base) + 100 : 0, /* inside the token strings */
        f->tensors[0].info_offset + 10,         /* the first tensor's name */
        f->tensors[f->n_tensors - 1].info_offset + 8 + strlen(f->tensors[f->n_tensors - 1].name) + 6,
        f->data_offset - 1,                     /* the padding before the data */
    };
    int bad = 0;
    for (uint64_t cut = 0; cut < f->data_offset; cut++) {
        int rc = tg_parse_exact(s->data, cut, name, err, sizeof err);
        bool ok = rc == -1 && strstr(err, name) && !strchr(err, '\n');
        if (!ok && bad++ < 5)
            tg_expect_refused("truncated header", rc, err, name, NULL);
        for (size_t i = 0; ok && i < sizeof show / sizeof show[0]; i++)
            if (show[i] == cut && (i == 0 || show[i] != show[i - 1])) {
                snprintf(label, sizeof label, "%s cut at byte %llu", s->name,
                         (unsigned long long)cut);
                tg_log_case(label, err);
            }
    }
    CHECK_MSG(bad == 0, "%s: %d of %llu header truncations were not refused properly", s->name,
              bad, (unsigned long long)f->data_offset);
    uint64_t span = f->data_end - f->data_offset;
    for (int k = 0; k < 64 && span > 0; k++) {
        uint64_t cut = f->data_offset + span * (uint64_t)k / 64;
        int rc = tg_parse_exact(s->data, cut, name, err, sizeof err);
        snprintf(label, sizeof label, "%s cut in the data at byte %llu", s->name,
                 (unsigned long long)cut);
        tg_expect_refused(label, rc, err, name, "past the end of the file");
        if (k == 32)
            tg_log_case(label, err);
    }
}

/* One patched copy: parsed from memory (exact size) and opened from a file; both refused. */
static void tg_patched(const struct tg_source *s, const char *label, const uint8_t *data,
                       uint64_t size, const char *want)
{
    char name[160], err[512], err2[512], path[4096];
    snprintf(name, sizeof name, "%s-%s.gguf", s->name, label);
    int rc = tg_parse_exact(data, size, name, err, sizeof err);
    tg_expect_refused(label, rc, err, name, want);
    snprintf(path, sizeof path, "%s/%s", test_tmp_dir(), name);
    if (tg_write_file(path, data, size) == 0) {
        struct gguf_file f;
        int rc2 = gguf_open(&f, path, err2, sizeof err2);
        tg_expect_refused(label, rc2, err2, name, want);
        if (rc2 == 0)
            gguf_close(&f);
        unlink(path);
    }
    char l[192];
    snprintf(l, sizeof l, "%s %s", s->name, label);
    tg_log_case(l, rc == -1 ? err : "(accepted)");
}

static const struct gguf_tensor *tg_tensor_named_like(const struct gguf_file *f,
                                                      const char *suffix, int layer)
{
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    return gguf_find_tensor(f, name);
}

/* Byte position of a tensor entry's fields. */
static uint64_t tg_tensor_ne_at(const struct gguf_tensor *t, int d)
{
    return t->info_offset + 8 + strlen(t->name) + 4 + 8 * (uint64_t)d;
}

static uint64_t tg_tensor_type_at(const struct gguf_tensor *t)
{
    return tg_tensor_ne_at(t, (int)t->n_dims);
}

static void tg_corpus(const struct tg_source *s)
{
    const struct gguf_file *f = &s->f;
    uint8_t *b = malloc((size_t)s->size);
    CHECK(b != NULL);
    if (!b)
        return;
#define FRESH() memcpy(b, s->data, (size_t)s->size)

    FRESH();
    b[0] = 'X';
    tg_patched(s, "bad-magic", b, s->size, "not a GGUF file");
    FRESH();
    tg_put_u32(b + 4, 1);
    tg_patched(s, "version-1", b, s->size, "GGUF version 1 at byte 4 is not supported");
    FRESH();
    tg_put_u32(b + 4, 99);
    tg_patched(s, "version-99", b, s->size, "GGUF version 99 at byte 4 is not supported");
    FRESH();
    tg_put_u32(b + 4, 3u << 24);
    tg_patched(s, "big-endian", b, s->size, "big-endian");

    FRESH();
    tg_put_u64(b + 8, 1ull << 63);
    tg_patched(s, "n_tensors-2^63", b, s->size, "n_tensors at byte 8 is 9 223 372 036 854 775 808");
    FRESH();
    tg_put_u64(b + 16, 1ull << 63);
    tg_patched(s, "n_kv-2^63", b, s->size, "n_kv at byte 16 is 9 223 372 036 854 775 808");
    const struct gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    CHECK(tok != NULL);
    if (tok) {
        FRESH();
        /* key length, key, u32 type, u32 element type, then the u64 count */
        uint64_t at = tok->offset + 8 + tok->key.len + 4 + 4;
        tg_put_u64(b + at, 1ull << 63);
        tg_patched(s, "array-length-2^63", b, s->size,
                   "array 'tokenizer.ggml.tokens' at byte");
        FRESH();
        tg_put_u32(b + at - 4, GGUF_VT_ARRAY);
        tg_patched(s, "array-of-arrays", b, s->size, "array of arrays");
        FRESH();
        tg_put_u32(b + at - 4, 13);
        tg_patched(s, "array-unknown-type", b, s->size, "unknown value type 13");
    }
    const struct gguf_kv *arch = gguf_find(f, "general.architecture");
    CHECK(arch != NULL);
    if (arch) {
        FRESH();
        tg_put_u64(b + (arch->value - f->base), s->size * 4);
        tg_patched(s, "string-longer-than-file", b, s->size,
                   "the string value of key 'general.architecture' at byte");
        FRESH();
        tg_put_u64(b + arch->offset, 1ull << 62);
        tg_patched(s, "key-longer-than-file", b, s->size, "key 0 at byte 24 is");
        FRESH();
        tg_put_u32(b + arch->offset + 8 + arch->key.len, 13);
        tg_patched(s, "unknown-value-type", b, s->size,
                   "key 'general.architecture' has unknown value type 13");
    }
    const struct gguf_kv *bos = gguf_find(f, "tokenizer.ggml.bos_token_id");
    if (bos && gguf_find(f, "tokenizer.ggml.eos_token_id")) {
        FRESH();
        b[bos->offset + 8 + strlen("tokenizer.ggml.")] = 'e'; /* bos_token_id -> eos_token_id */
        tg_patched(s, "duplicate-key", b, s->size, "key 'tokenizer.ggml.eos_token_id' at byte");
    }
    const struct gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        FRESH();
        tg_put_u32(b + (al->value - f->base), 48);
        tg_patched(s, "alignment-48", b, s->size, "is 48, not a power of two");
        FRESH();
        tg_put_u32(b + al->offset + 8 + al->key.len, GGUF_VT_INT32);
        tg_patched(s, "alignment-wrong-type", b, s->size, "is a int32, not a uint32");
    }

    const struct gguf_tensor *t0 = &f->tensors[0];
    const struct gguf_tensor *last = &f->tensors[f->n_tensors - 1];
    FRESH();
    tg_put_u64(b + tg_tensor_ne_at(t0, 0), 1ull << 40);
    tg_put_u64(b + tg_tensor_ne_at(t0, 1), 1ull << 40);
    tg_patched(s, "dimension-product-overflow", b, s->size, "whose product overflows");
    FRESH();
    tg_put_u64(b + tg_tensor_ne_at(t0, 0), UINT64_MAX);
    tg_patched(s, "negative-dimension", b, s->size, "negative");
    FRESH();
    tg_put_u32(b + t0->info_offset + 8 + strlen(t0->name), 5);
    tg_patched(s, "five-dimensions", b, s->size, "has 5 dimensions");
    FRESH();
    tg_put_u32(b + tg_tensor_type_at(t0), 99);
    {
        char want[128];
        snprintf(want, sizeof want, "tensor '%s' has unknown type id 99", t0->name);
        tg_patched(s, "unknown-tensor-type", b, s->size, want);
    }
    FRESH();
    tg_put_u32(b + tg_tensor_type_at(t0), 4); /* Q4_2, removed from ggml */
    tg_patched(s, "removed-tensor-type-4", b, s->size, "unknown type id 4");
    FRESH();
    tg_put_u32(b + tg_tensor_type_at(t0), GGML_TYPE_Q4_K);
    if (t0->ne[0] % 256 != 0)
        tg_patched(s, "row-not-whole-blocks", b, s->size, "not a multiple of q4_K's block of 256");
    FRESH();
    uint64_t end_off = s->size - f->data_offset;
    end_off += (f->alignment - end_off % f->alignment) % f->alignment;
    tg_put_u64(b + tg_tensor_type_at(last) + 4, end_off + f->alignment);
    tg_patched(s, "offset-past-end", b, s->size, "past the end of the file");
    FRESH();
    /* The last tensor starts inside the file but ends past it, by one alignment step. */
    tg_put_u64(b + tg_tensor_type_at(last) + 4, last->offset + f->alignment);
    {
        char want[160], x[32], y[32];
        snprintf(want, sizeof want, "data ends at byte %s, past the end of the file (%s)",
                 gguf_fmt_u64(f->data_offset + last->offset + f->alignment + last->nbytes, x),
                 gguf_fmt_u64(s->size, y));
        tg_patched(s, "data-past-end", b, s->size, want);
    }
    FRESH();
    tg_put_u64(b + tg_tensor_type_at(t0) + 4, t0->offset + 1);
    tg_patched(s, "misaligned-offset", b, s->size, "not a multiple of the alignment");
    const struct gguf_tensor *q1 = tg_tensor_named_like(f, "attn_q.weight", 1);
    if (q1) {
        FRESH();
        b[q1->info_offset + 8 + 4] = '0'; /* blk.1.attn_q.weight -> blk.0.attn_q.weight */
        tg_patched(s, "duplicate-tensor-name", b, s->size,
                   "tensor 'blk.0.attn_q.weight' at byte");
    }
    FRESH();
    tg_put_u64(b + t0->info_offset, 0);
    tg_patched(s, "empty-tensor-name", b, s->size, "has a name of 0 bytes");
    /* One more tensor than the file describes: the data section is read as an entry. */
    FRESH();
    tg_put_u64(b + 8, f->n_tensors + 1);
    tg_patched(s, "n_tensors-plus-one", b, s->size, NULL);
    FRESH();
    tg_put_u64(b + 16, f->n_kv + 1);
    tg_patched(s, "n_kv-plus-one", b, s->size, NULL);
#undef FRESH
    free(b);
}

/* The corpus from a fixture written by llama.cpp's tools. */
TEST(gguf_corpus_from_fixture)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    struct tg_source s;
    CHECK(tg_source_load(&s, "qwen2moe-tiny-f32", path) == 0);
    if (!s.data)
        return;
    tg_truncations(&s);
    tg_corpus(&s);
    tg_source_free(&s);
    tg_print_log("broken files made from the fixture qwen2moe-tiny-f32.gguf");

    /* A quantized fixture too: its tensor data is in blocks. */
    snprintf(path, sizeof path, "%s/models/mixtral-small-q4_k_m.gguf", fx);
    CHECK(tg_source_load(&s, "mixtral-small-q4_k_m", path) == 0);
    if (!s.data)
        return;
    tg_corpus(&s);
    tg_source_free(&s);
    tg_n_log = 0;
}

/* The corpus from synth output (a q8_0 model, so block-quantized data is cut too). */
TEST(gguf_corpus_from_synth)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus-synth.gguf", test_tmp_dir());
    char *argv[] = { "synth", "--arch", "qwen2moe", "--layers", "2", "--d-model", "64",
                     "--heads", "4", "--kv-heads", "2", "--experts", "4", "--experts-used",
                     "2", "--ff", "64", "--shared-ff", "64", "--type", "q8_0", "--merges", "8",
                     "--seed", "7", "-o", path, NULL };
    synth_quiet = true;
    CHECK_INT_EQ(synth_main((int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
    struct tg_source s;
    CHECK(tg_source_load(&s, "synth-qwen2moe-q8_0", path) == 0);
    if (!s.data)
        return;
    tg_truncations(&s);
    tg_corpus(&s);
    tg_source_free(&s);
    tg_print_log("broken files made from synth output");
}

/* gguf_open's own failures: a missing file, a folder, an empty file. */
TEST(gguf_open_refuses_non_files)
{
    char path[4096], err[512];
    struct gguf_file f;
    snprintf(path, sizeof path, "%s/absent.gguf", test_tmp_dir());
    tg_expect_refused("missing", gguf_open(&f, path, err, sizeof err), err, "absent.gguf",
                      "cannot open");
    tg_expect_refused("folder", gguf_open(&f, test_tmp_dir(), err, sizeof err), err,
                      test_tmp_dir(), "not a regular file");
    snprintf(path, sizeof path, "%s/empty.gguf", test_tmp_dir());
    CHECK(tg_write_file(path, NULL, 0) == 0);
    tg_expect_refused("empty", gguf_open(&f, path, err, sizeof err), err, "empty.gguf", "empty");
    /* A newline in a file name does not break the one-line rule. */
    tg_expect_refused("buffer", gguf_parse(&f, "GGUF", 4, "two\nlines.gguf", err, sizeof err),
                      err, "two lines.gguf", "the version");
}

/* ---------------------------------------------------------------- copies and the loader */

/* Writes src again through gguf_writer, leaving out one key and/or one tensor (NULL: none).
 * Keys and tensors keep their order, so a full copy of a file laid out like ggml's writer
 * does is the same bytes. */
static int tg_copy_without(const struct gguf_file *src, const char *skip_key,
                           const char *skip_tensor, const char *path, char *err, size_t errlen)
{
    struct gguf_writer *w = gguf_writer_new();
    if (!w)
        return -1;
    int rc = -1;
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const struct gguf_kv *kv = &src->kv[i];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (skip_key && !strcmp(key, skip_key))
            continue;
        if (gguf_writer_copy_kv(w, src, kv))
            goto out;
    }
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const struct gguf_tensor *t = &src->tensors[i];
        if (skip_tensor && !strcmp(t->name, skip_tensor))
            continue;
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    rc = gguf_writer_write(w, path, err, errlen);
out:
    gguf_writer_free(w);
    return rc;
}

/* A copy of each fixture model through our writer is byte for byte the file llama.cpp's
 * tools wrote: same header encoding, same padding, same tensor offsets. */
TEST(gguf_writer_copies_fixtures_exactly)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    for (size_t i = 0; i < sizeof tg_fixture_shapes / sizeof tg_fixture_shapes[0]; i++) {
        char src[4096], dst[4096], err[512];
        snprintf(src, sizeof src, "%s/models/%s", fx, tg_fixture_shapes[i].file);
        snprintf(dst, sizeof dst, "%s/copy-%s", test_tmp_dir(), tg_fixture_shapes[i].file);
        struct gguf_file a, b;
        if (gguf_open(&a, src, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            continue;
        }
        CHECK_MSG(tg_copy_without(&a, NULL, NULL, dst, err, sizeof err) == 0, "%s", err);
        if (gguf_open(&b, dst, err, sizeof err) == 0) {
            uint64_t first = 0;
            while (first < a.size && first < b.size && a.base[first] == b.base[first])
                first++;
            CHECK_MSG(a.size == b.size && first == a.size,
                      "%s: the copy differs from byte %llu (sizes %llu and %llu)",
                      tg_fixture_shapes[i].file, (unsigned long long)first,
                      (unsigned long long)a.size, (unsigned long long)b.size);
            gguf_close(&b);
        } else {
            CHECK_MSG(false, "%s", err);
        }
        unlink(dst);
        gguf_close(&a);
    }
}

/* The last corpus cases are the loader's: a synth model with one required tensor or key
 * left out must be refused by model_open with one line naming the file and what is
 * missing (the reader alone cannot know what an architecture requires). */
TEST(gguf_corpus_missing_tensor_or_key)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/whole.gguf", test_tmp_dir());
    char *argv[] = { "synth", "--arch", "qwen2moe", "--layers", "2", "--d-model", "64",
                     "--heads", "4", "--kv-heads", "2", "--experts", "4", "--experts-used",
                     "2", "--ff", "64", "--shared-ff", "64", "--merges", "4", "-o", path, NULL };
    synth_quiet = true;
    CHECK_INT_EQ(synth_main((int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
    struct gguf_file src;
    if (gguf_open(&src, path, err, sizeof err) != 0) {
        CHECK_MSG(false, "%s", err);
        return;
    }
    struct model m;
    CHECK_MSG(model_open(&m, path, err, sizeof err) == 0, "the whole model: %s", err);
    if (m.f.base)
        model_close(&m);
    static const struct {
        const char *label, *key, *tensor, *want;
    } cases[] = {
        { "missing-tensor-ffn_up_exps", NULL, "blk.1.ffn_up_exps.weight", "blk.1.ffn_up_exps.weight" },
        { "missing-tensor-token_embd", NULL, "token_embd.weight", "token_embd.weight" },
        { "missing-tensor-attn_q", NULL, "blk.0.attn_q.weight", "blk.0.attn_q.weight" },
        { "missing-tensor-shexp-gate", NULL, "blk.0.ffn_gate_inp_shexp.weight", "ffn_gate_inp_shexp" },
        { "missing-key-architecture", "general.architecture", NULL, "general.architecture" },
        { "missing-key-block_count", "qwen2moe.block_count", NULL, "block_count" },
        { "missing-key-embedding_length", "qwen2moe.embedding_length", NULL, "embedding_length" },
        { "missing-key-head_count", "qwen2moe.attention.head_count", NULL, "head_count" },
        { "missing-key-expert_count", "qwen2moe.expert_count", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[128], out[4096];
        snprintf(name, sizeof name, "synth-qwen2moe-%s.gguf", cases[i].label);
        snprintf(out, sizeof out, "%s/%s", test_tmp_dir(), name);
        CHECK_MSG(tg_copy_without(&src, cases[i].key, cases[i].tensor, out, err, sizeof err) == 0,
                  "%s", err);
        int rc = model_open(&m, out, err, sizeof err);
        tg_expect_refused(cases[i].label, rc, err, name, cases[i].want);
        if (rc == 0)
            model_close(&m);
        char l[192];
        snprintf(l, sizeof l, "synth-qwen2moe %s", cases[i].label);
        tg_log_case(l, rc == -1 ? err : "(accepted)");
        unlink(out);
    }
    gguf_close(&src);
    tg_print_log("synth files with a required tensor or key left out (model_open)");
}
