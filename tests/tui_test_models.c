/* tests/tui_test_models.c: `moescope models` and -m NAME (cli/model_store.h) over fake stores
 * built here in a temporary HOME with the real layouts: an Ollama store (manifests as
 * Ollama writes them, blobs named by digest), a Hugging Face cache (blobs, refs/main, and
 * snapshots whose files are symlinks into blobs, as the hub writes them, with an older
 * snapshot that must not be listed and a split set), an LM Studio folder,
 * $MOESCOPE_MODELS and the current directory. The blobs are the fixture GGUFs of
 * ../shared/fixtures/models-2026 (skipped without them). */
#include "test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model_store.h"

static char tm_root[4096], tm_fx[4096];

/* snprintf for the paths here (their lengths are checked by the tools that read them). */
static void tm_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

static void tm_mkdirs(const char *path)
{
    char p[4096];
    tm_fmt(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void tm_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Copies fixture NAME to path (a real file, as the stores keep them). */
static void tm_copy(const char *name, const char *path)
{
    char src[4096];
    if (name[0] == '/') /* a file made here, not a fixture */
        tm_fmt(src, sizeof src, "%s", name);
    else
        tm_fmt(src, sizeof src, "%s/%s", tm_fx, name);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A copy of fixture name whose general.architecture (the first "gpt-oss" string of the
 * header, the gpt-oss fixture's) reads "unknown": a file of an architecture moescope does
 * not run. */
static void tm_copy_unknown_arch(const char *name, const char *path)
{
    tm_copy(name, path);
    FILE *f = fopen(path, "r+b");
    char head[4096];
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    static const char val[] = "\x07\0\0\0\0\0\0\0gpt-oss";
    for (size_t i = 0; i + sizeof val - 1 <= n; i++)
        if (!memcmp(head + i, val, sizeof val - 1)) {
            fseek(f, (long)(i + 8), SEEK_SET);
            fwrite("unknown", 1, 7, f);
            break;
        }
    if (f)
        fclose(f);
}

/* An Ollama manifest for a model blob, with the other layers Ollama writes beside it. */
static void tm_ollama(const char *models, const char *host_ns_name, const char *tag,
                      const char *hex, const char *fixture)
{
    char dir[4096], path[4096], blob[4096], text[2048];
    tm_fmt(dir, sizeof dir, "%s/manifests/%s", models, host_ns_name);
    tm_mkdirs(dir);
    tm_fmt(blob, sizeof blob, "%s/blobs/sha256-%s", models, hex);
    if (access(blob, F_OK) != 0)
        tm_copy(fixture, blob);
    tm_fmt(text, sizeof text,
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution."
             "manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container."
             "image.v1+json\",\"digest\":\"sha256:%064d\",\"size\":487},\"layers\":["
             "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\","
             "\"size\":1000},"
             "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":"
             "\"sha256:%064d\",\"size\":1507},"
             "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":"
             "\"sha256:%064d\",\"size\":59}]}",
             1, hex, 2, 3);
    tm_fmt(path, sizeof path, "%s/%s", dir, tag);
    tm_write(path, text);
}

/* A hub repo: blobs/, refs/main -> rev, snapshots/rev/FILE -> ../../blobs/SHA. */
static void tm_hf(const char *hub, const char *repo_dir, const char *rev, const char *file,
                  const char *sha, const char *fixture)
{
    char d[4096], p[4096], link[4096];
    tm_fmt(d, sizeof d, "%s/%s/blobs", hub, repo_dir);
    tm_mkdirs(d);
    tm_fmt(p, sizeof p, "%s/%s", d, sha);
    if (access(p, F_OK) != 0)
        tm_copy(fixture, p);
    tm_fmt(d, sizeof d, "%s/%s/snapshots/%s/%s", hub, repo_dir, rev, file);
    char *slash = strrchr(d, '/');
    *slash = 0;
    tm_mkdirs(d);
    *slash = '/';
    /* ../../blobs from snapshots/REV, one more ../ per folder inside the snapshot */
    int depth = 0;
    for (const char *c = file; *c; c++)
        depth += *c == '/';
    char up[64] = "../../";
    for (int i = 0; i < depth; i++)
        strcat(up, "../");
    tm_fmt(link, sizeof link, "%sblobs/%s", up, sha);
    unlink(d);
    CHECK_MSG(symlink(link, d) == 0, "symlink %s: %s", d, strerror(errno));
}

/* The environment a test changes, restored after. */
static const char *const tm_vars[] = { "HOME", "OLLAMA_MODELS", "HF_HUB_CACHE", "HF_HOME",
                                       "XDG_CACHE_HOME", "MOESCOPE_MODELS" };
static char *tm_saved[6];
static char tm_cwd[4096];

static bool tm_build(void)
{
    const char *fx = test_fixtures_dir();
    if (!fx)
        return false;
    char rel[4096];
    tm_fmt(rel, sizeof rel, "%s/models-2026", fx);
    if (!realpath(rel, tm_fx)) /* absolute: the test changes directory */
        return false;
    tm_fmt(tm_root, sizeof tm_root, "%s/stores", test_tmp_dir());
    char home[4096], p[4096], hub[4096];
    tm_fmt(home, sizeof home, "%s/home", tm_root);
    tm_mkdirs(home);
    for (size_t i = 0; i < 6; i++) {
        const char *v = getenv(tm_vars[i]);
        tm_saved[i] = v ? strdup(v) : NULL;
        unsetenv(tm_vars[i]);
    }
    setenv("HOME", home, 1);
    if (!getcwd(tm_cwd, sizeof tm_cwd))
        tm_cwd[0] = 0;

    tm_fmt(p, sizeof p, "%s/.ollama/models/blobs", home);
    tm_mkdirs(p);
    tm_fmt(p, sizeof p, "%s/.ollama/models", home);
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *h3 = "3333333333333333333333333333333333333333333333333333333333333333";
    tm_ollama(p, "registry.ollama.ai/library/qwen3", "30b-a3b", h1, "qwen3moe-small-q8_0.gguf");
    tm_ollama(p, "registry.ollama.ai/library/qwen3", "latest", h1, "qwen3moe-small-q8_0.gguf");
    tm_ollama(p, "registry.ollama.ai/someone/mixtral-small", "q8", h2,
              "mixtral-small-q8_0.gguf");
    tm_ollama(p, "hf.co/bartowski/OLMoE-GGUF", "Q4_0", h3, "qwen2moe-small-q4_0.gguf");

    tm_fmt(hub, sizeof hub, "%s/.cache/huggingface/hub", home);
    const char *repo = "models--Qwen--Qwen3-30B-A3B-GGUF";
    tm_hf(hub, repo, "aaa111", "Qwen3-30B-A3B-Q4_K_M.gguf", "b1", "mixtral-small-q4_k_m.gguf");
    tm_hf(hub, repo, "aaa111", "Qwen3-30B-A3B-Q8_0.gguf", "b2", "qwen2moe-small-q6_k.gguf");
    tm_hf(hub, repo, "old000", "Qwen3-30B-A3B-Q2_K.gguf", "b3", "olmoe-tiny-f16.gguf");
    tm_fmt(p, sizeof p, "%s/%s/refs", hub, repo);
    tm_mkdirs(p);
    strcat(p, "/main");
    tm_write(p, "aaa111");
    /* no refs/main: every snapshot; a split set in a folder is one entry (a fixture split
     * in two by our split writer) */
    char split[4096], part[4200], err[512];
    struct gguf_file src;
    tm_fmt(p, sizeof p, "%s/qwen2moe-tiny-f32.gguf", tm_fx);
    tm_fmt(split, sizeof split, "%s/split", tm_root);
    if (gguf_open(&src, p, err, sizeof err) == 0) {
        CHECK_MSG(gguf_write_split(&src, split, 2, err, sizeof err) == 0, "%s", err);
        gguf_close(&src);
    }
    tm_fmt(part, sizeof part, "%s-00002-of-00002.gguf", split);
    tm_hf(hub, "models--org--Big-GGUF", "r1", "Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf", "s2",
          part);
    tm_fmt(part, sizeof part, "%s-00001-of-00002.gguf", split);
    tm_hf(hub, "models--org--Big-GGUF", "r1", "Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf", "s1",
          part);


    tm_fmt(p, sizeof p, "%s/.lmstudio/models/lmstudio-community/OLMoE-GGUF", home);
    tm_mkdirs(p);
    strcat(p, "/olmoe-tiny-f16.gguf");
    tm_copy("olmoe-tiny-f16.gguf", p);

    tm_fmt(p, sizeof p, "%s/extra", tm_root);
    tm_mkdirs(p);
    setenv("MOESCOPE_MODELS", p, 1);
    strcat(p, "/stories260K.gguf");
    tm_copy("stories260K.gguf", p);

    tm_fmt(p, sizeof p, "%s/cwd", tm_root);
    tm_mkdirs(p);
    if (chdir(p) != 0)
        return false;
    tm_copy_unknown_arch("gpt-oss-small-mxfp4.gguf", "other.gguf");
    tm_write("notes.gguf", "not a model\n");
    return true;
}

static void tm_restore(void)
{
    for (size_t i = 0; i < 6; i++) {
        if (tm_saved[i])
            setenv(tm_vars[i], tm_saved[i], 1);
        else
            unsetenv(tm_vars[i]);
        free(tm_saved[i]);
        tm_saved[i] = NULL;
    }
    if (tm_cwd[0] && chdir(tm_cwd) != 0)
        test_skip("cannot return to the starting directory");
}

static const struct model_entry *tm_find(const struct model_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return &l->v[i];
    return NULL;
}

TEST(models_lists_every_store)
{
    if (!tm_build()) {
        test_skip("no fixtures");
        tm_restore();
        return;
    }
    struct model_list l;
    char err[512];
    CHECK(model_list_find(&l, err, sizeof err) == 0);
    model_list_describe(&l);
    static const struct {
        const char *name, *arch;
        enum model_source src;
        int parts;
        bool runs;
    } want[] = {
        { "qwen3:30b-a3b", "qwen3moe", MODEL_SRC_OLLAMA, 1, true },
        { "qwen3:latest", "qwen3moe", MODEL_SRC_OLLAMA, 1, true },
        { "someone/mixtral-small:q8", "llama", MODEL_SRC_OLLAMA, 1, true },
        { "hf.co/bartowski/OLMoE-GGUF:Q4_0", "qwen2moe", MODEL_SRC_OLLAMA, 1, true },
        { "Qwen/Qwen3-30B-A3B-GGUF:Qwen3-30B-A3B-Q4_K_M.gguf", "llama", MODEL_SRC_HF, 1, true },
        { "Qwen/Qwen3-30B-A3B-GGUF:Qwen3-30B-A3B-Q8_0.gguf", "qwen2moe", MODEL_SRC_HF, 1, true },
        { "org/Big-GGUF:Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf", "qwen2moe", MODEL_SRC_HF,
          2, true },
        { "lmstudio-community/OLMoE-GGUF:olmoe-tiny-f16.gguf", "olmoe", MODEL_SRC_LMSTUDIO,
          1, true },
        { "stories260K.gguf", "llama", MODEL_SRC_DIRS, 1, true },
        { "./other.gguf", "", MODEL_SRC_CWD, 1, false },
        { "./notes.gguf", "", MODEL_SRC_CWD, 1, false },
    };
    const size_t n_want = sizeof want / sizeof want[0];
    CHECK_INT_EQ(l.n, n_want);
    for (size_t i = 0; i < n_want; i++) {
        const struct model_entry *e = tm_find(&l, want[i].name);
        CHECK_MSG(e != NULL, "%s is not listed", want[i].name);
        if (!e)
            continue;
        CHECK_INT_EQ(e->source, want[i].src);
        CHECK_INT_EQ(e->n_parts, want[i].parts);
        CHECK_MSG(!e->why_not[0] == want[i].runs, "%s: runs %d, why not '%s'", e->name,
                  want[i].runs, e->why_not);
        if (want[i].arch[0]) {
            CHECK_STR_EQ(e->desc.arch, want[i].arch);
            /* the header alone says what the engine says once it has mapped the file */
            struct engine_params ep;
            engine_params_default(&ep);
            ep.model_path = e->path;
            ep.n_threads = 1;
            struct engine *eng = engine_open(&ep, err, sizeof err);
            CHECK_MSG(eng != NULL, "%s", err);
            if (eng) {
                const struct model_desc *full = engine_desc(eng);
                CHECK_INT_EQ(e->desc.n_experts, full->n_experts);
                CHECK_INT_EQ(e->desc.n_layers, full->n_layers);
                CHECK(e->desc.n_params == full->n_params);
                CHECK(e->desc.active_bytes == full->active_bytes);
                CHECK(memcmp(e->desc.tensors_per_type, full->tensors_per_type,
                             sizeof full->tensors_per_type) == 0);
                engine_close(eng);
            }
        }
    }
    const struct model_entry *e = tm_find(&l, "./other.gguf");
    CHECK_MSG(e && strstr(e->why_not, "architecture 'unknown' is not supported"), "%s",
              e ? e->why_not : "");
    e = tm_find(&l, "./notes.gguf");
    CHECK_MSG(e && strstr(e->why_not, "not a GGUF file"), "%s", e ? e->why_not : "");
    e = tm_find(&l, "org/Big-GGUF:Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf");
    /* a split set opens: listed as runnable, described whole, both parts' bytes */
    CHECK_MSG(e && !e->why_not[0] && e->desc.n_files == 2, "%s", e ? e->why_not : "");
    struct stat s1, s2;
    char p[4096], q[4096];
    tm_fmt(p, sizeof p, "%s/split-00001-of-00002.gguf", tm_root);
    tm_fmt(q, sizeof q, "%s/split-00002-of-00002.gguf", tm_root);
    CHECK(stat(p, &s1) == 0 && stat(q, &s2) == 0);
    CHECK(e && e->size == (uint64_t)s1.st_size + (uint64_t)s2.st_size && e->n_parts == 2);
    CHECK(e && e->desc.file_size == e->size);
    /* its second part gone: the set is listed with the part it misses */
    char snap[4096], moved[4200];
    tm_fmt(snap, sizeof snap, "%s/home/.cache/huggingface/hub/models--org--Big-GGUF/snapshots/"
           "r1/Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf", tm_root);
    tm_fmt(moved, sizeof moved, "%s.away", snap);
    CHECK(rename(snap, moved) == 0);
    struct model_list l2;
    CHECK(model_list_find(&l2, err, sizeof err) == 0);
    model_list_describe(&l2);
    e = tm_find(&l2, "org/Big-GGUF:Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf");
    CHECK_MSG(e && strstr(e->why_not, "part 2 of the 2 files of the split model") &&
                  strstr(e->why_not, "is missing"),
              "%s", e ? e->why_not : "");
    model_list_free(&l2);
    CHECK(rename(moved, snap) == 0);
    CHECK(tm_find(&l, "Qwen/Qwen3-30B-A3B-GGUF:Qwen3-30B-A3B-Q2_K.gguf") == NULL);
    model_list_free(&l);
    tm_restore();
}

TEST(models_names_resolve_and_ambiguity_lists_candidates)
{
    if (!tm_build()) {
        test_skip("no fixtures");
        tm_restore();
        return;
    }
    char path[4096], err[1024];
    CHECK(model_resolve("qwen3:30b-a3b", path, sizeof path, err, sizeof err) == 0);
    CHECK_MSG(strstr(path, "/.ollama/models/blobs/sha256-1111"), "%s", path);
    CHECK(model_resolve("qwen3", path, sizeof path, err, sizeof err) == 0); /* :latest */
    CHECK_MSG(strstr(path, "/blobs/sha256-1111"), "%s", path);
    CHECK(model_resolve("Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M", path, sizeof path, err,
                        sizeof err) == 0);
    CHECK_MSG(strstr(path, "snapshots/aaa111/Qwen3-30B-A3B-Q4_K_M.gguf"), "%s", path);
    CHECK(model_resolve("Qwen/Qwen3-30B-A3B-GGUF:q8_0", path, sizeof path, err,
                        sizeof err) == 0);
    CHECK_MSG(strstr(path, "Qwen3-30B-A3B-Q8_0.gguf"), "%s", path);
    CHECK(model_resolve("stories", path, sizeof path, err, sizeof err) == 0);
    CHECK_MSG(strstr(path, "extra/stories260K.gguf"), "%s", path);
    /* two files in the repo: both named in the message */
    CHECK(model_resolve("Qwen/Qwen3-30B-A3B-GGUF", path, sizeof path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "could be any of 2") && strstr(err, "Q4_K_M.gguf") &&
              strstr(err, "Q8_0.gguf"), "%s", err);
    /* Q4_K is not Q4_K_M */
    CHECK(model_resolve("Qwen/Qwen3-30B-A3B-GGUF:Q4_K", path, sizeof path, err,
                        sizeof err) == -1);
    CHECK(model_resolve("mixtral", path, sizeof path, err, sizeof err) == 0);
    CHECK(model_resolve("qwen", path, sizeof path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "qwen3:30b-a3b (ollama)") && strstr(err, "(huggingface)"), "%s",
              err);
    CHECK(model_resolve("no-such-model", path, sizeof path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "no-such-model: no such file") && strstr(err, "among the 11"), "%s",
              err);
    CHECK(model_resolve("./notes.gguf", path, sizeof path, err, sizeof err) == 0);
    CHECK_STR_EQ(path, "./notes.gguf");
    CHECK(model_resolve("https://example.org/v1", path, sizeof path, err, sizeof err) == 0);
    CHECK_STR_EQ(path, "https://example.org/v1");
    tm_restore();
}

/* `moescope models` prints every entry, and --json the same as JSON; 100 more Ollama tags
 * are listed and described in under a second of CPU (the headers only). */
TEST(models_command_table_json_and_speed)
{
    if (!tm_build()) {
        test_skip("no fixtures");
        tm_restore();
        return;
    }
    char out[4096], errp[4096];
    tm_fmt(out, sizeof out, "%s/models.out", tm_root);
    tm_fmt(errp, sizeof errp, "%s/models.err", tm_root);
    char *argv[] = { "models", NULL };
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, STDOUT_FILENO);
    close(fo);
    int rc = cmd_models(1, argv);
    char *jargv[] = { "models", "--json", NULL };
    char jout[4096];
    tm_fmt(jout, sizeof jout, "%s/models.json", tm_root);
    fflush(stdout);
    fo = open(jout, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, STDOUT_FILENO);
    close(fo);
    int jrc = cmd_models(2, jargv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(jrc, 0);
    FILE *f = fopen(out, "r");
    char text[16384] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    CHECK(strstr(text, "qwen3:30b-a3b "));
    CHECK(strstr(text, "Qwen/Qwen3-30B-A3B-GGUF:Qwen3-30B-A3B-Q4_K_M.gguf"));
    CHECK(strstr(text, "lmstudio-community/OLMoE-GGUF:olmoe-tiny-f16.gguf"));
    CHECK(strstr(text, "no: architecture 'unknown' is not supported"));
    CHECK(strstr(text, "11 models (ollama 4, huggingface 3, lmstudio 1, MOESCOPE_MODELS 1, "
                       "current directory 2)"));
    f = fopen(jout, "r");
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    cJSON *j = cJSON_Parse(text);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 11);
    const cJSON *first = cJSON_GetArrayItem(j, 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(first, "name")) &&
          cJSON_IsBool(cJSON_GetObjectItem(first, "runs")));
    cJSON_Delete(j);

    /* 100 tags more, each its own blob (hard links of one file: each is read on its own) */
    char models[4096], blob0[4096], blob[4096];
    tm_fmt(models, sizeof models, "%s/.ollama/models", getenv("HOME"));
    tm_fmt(blob0, sizeof blob0, "%s/blobs/sha256-%s", models,
             "1111111111111111111111111111111111111111111111111111111111111111");
    for (int i = 0; i < 100; i++) {
        char hex[80], tag[16];
        tm_fmt(hex, sizeof hex, "%064d", 1000 + i);
        tm_fmt(blob, sizeof blob, "%s/blobs/sha256-%s", models, hex);
        if (link(blob0, blob) != 0 && errno != EEXIST)
            tm_copy("qwen3moe-small-q8_0.gguf", blob);
        tm_fmt(tag, sizeof tag, "t%d", i);
        tm_ollama(models, "registry.ollama.ai/library/many", tag, hex,
                  "qwen3moe-small-q8_0.gguf");
    }
    struct model_list l;
    char err[256];
    model_list_find(&l, err, sizeof err); /* warm */
    model_list_describe(&l);
    model_list_free(&l);
    clock_t c0 = clock();
    CHECK(model_list_find(&l, err, sizeof err) == 0);
    model_list_describe(&l);
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    CHECK_INT_EQ(l.n, 111);
    CHECK_MSG(cpu < 1.0, "listing 111 models took %.2f s of CPU", cpu);
    printf("  listing and describing 111 models: %.3f s of CPU\n", cpu);
    model_list_free(&l);
    tm_restore();
}
