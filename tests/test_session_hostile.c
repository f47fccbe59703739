/* tests/test_session_hostile.c: broken session files get one clean line, never a crash.
 * The broken files are made in code from a good one: cut at every 1/200th of its length,
 * every node of its JSON tree replaced in turn by one of a wrong type, and the loader's
 * stated limits (size, nesting, version, layer count, expert and token ranges). `make
 * check` runs these under AddressSanitizer and UBSan. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "session_build.h"
#include "session_format.h"
#include "test.h"

static const struct build_spec hostile_spec = { 3, 6, 2, 500, 2, 3, 4, 11 };

/* A clean message: one line, names the file, says something after it. */
static bool clean_message(const char *err, const char *name)
{
    size_t n = strlen(name);
    return strncmp(err, name, n) == 0 && err[n] == ':' && strlen(err) > n + 4 &&
           !strchr(err, '\n') && !strchr(err, '\r');
}

static char *good_json(size_t *len)
{
    struct session s;
    if (build_session(&s, &hostile_spec) != 0)
        return NULL;
    char *j = NULL, err[256];
    if (session_to_json(&s, &j, len, err, sizeof err) != 0)
        j = NULL;
    session_free(&s);
    return j;
}

TEST(session_truncated_every_200th)
{
    size_t len;
    char *j = good_json(&len);
    CHECK(j != NULL);
    if (!j)
        return;
    int refused = 0, unclean = 0;
    for (int k = 0; k < 200; k++) {
        size_t cut = len * (size_t)k / 200;
        struct session s;
        char err[512] = "";
        if (session_load_buffer(&s, j, cut, "cut.json", err, sizeof err) == 0) {
            session_free(&s);
            continue;
        }
        refused++;
        if (!clean_message(err, "cut.json")) {
            unclean++;
            test_fail(__FILE__, __LINE__, "cut at %zu: unclean message \"%s\"", cut, err);
        }
    }
    /* every cut before the closing brace loses it: all 200 must be refused */
    CHECK_INT_EQ(refused, 200);
    CHECK_INT_EQ(unclean, 0);
    /* a cut file reports where it ends */
    struct session s;
    char err[512];
    CHECK(session_load_buffer(&s, j, len / 2, "cut.json", err, sizeof err) != 0);
    CHECK(strstr(err, "line ") && strstr(err, "column ") && strstr(err, "ends too early"));
    free(j);
}

/* Pre-order walk: the n-th node and its JSON path. */
struct walk {
    int target, seen;
    cJSON *found, *parent;
    char path[512];
};

static void walk_find(cJSON *node, cJSON *parent, const char *path, struct walk *w)
{
    if (w->found)
        return;
    if (w->seen++ == w->target) {
        w->found = node;
        w->parent = parent;
        snprintf(w->path, sizeof w->path, "%s", path);
        return;
    }
    size_t i = 0;
    for (cJSON *c = node->child; c; c = c->next, i++) {
        char p[512];
        int r = cJSON_IsObject(node) ? snprintf(p, sizeof p, "%s.%s", path, c->string)
                                     : snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (r < 0 || (size_t)r >= sizeof p)
            continue;
        walk_find(c, node, p, w);
    }
}

/* A node of another type: number -> string, string -> number, array -> object, object ->
 * array, true/false -> null, null -> true. */
static cJSON *wrong_type(const cJSON *n)
{
    if (cJSON_IsNumber(n))
        return cJSON_CreateString("x");
    if (cJSON_IsString(n))
        return cJSON_CreateNumber(7);
    if (cJSON_IsArray(n))
        return cJSON_CreateObject();
    if (cJSON_IsObject(n))
        return cJSON_CreateArray();
    if (cJSON_IsNull(n))
        return cJSON_CreateTrue();
    return cJSON_CreateNull();
}

TEST(session_every_node_wrong_type)
{
    size_t len;
    char *j = good_json(&len);
    CHECK(j != NULL);
    if (!j)
        return;
    int nodes = 0, refused = 0, accepted = 0, unclean = 0, unnamed = 0;
    for (int target = 0;; target++) {
        cJSON *root = cJSON_Parse(j);
        CHECK(root != NULL);
        if (!root)
            break;
        struct walk w = { target, 0, NULL, NULL, "" };
        walk_find(root, NULL, "$", &w);
        if (!w.found) {
            cJSON_Delete(root);
            break;
        }
        nodes++;
        cJSON *bad = wrong_type(w.found);
        if (w.found == root) {
            cJSON_Delete(root);
            root = bad;
        } else {
            /* the replacement keeps the member's key (ReplaceItemViaPointer does not copy it;
             * cJSON frees it with free, its default hook) */
            if (w.found->string)
                bad->string = strdup(w.found->string);
            cJSON_ReplaceItemViaPointer(w.parent, w.found, bad);
        }
        char *text = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        struct session s;
        char err[512] = "";
        if (session_load_buffer(&s, text, strlen(text), "typed.json", err, sizeof err) == 0) {
            /* a wrong type that is still valid: "-inf" as a number */
            accepted++;
            session_free(&s);
        } else {
            refused++;
            if (!clean_message(err, "typed.json")) {
                unclean++;
                test_fail(__FILE__, __LINE__, "%s: unclean message \"%s\"", w.path, err);
            } else if (!strstr(err, w.path)) {
                /* the message must name the node that was changed */
                unnamed++;
                if (unnamed <= 5)
                    test_fail(__FILE__, __LINE__, "%s changed, but the message says \"%s\"",
                              w.path, err);
            }
        }
        free(text);
    }
    printf("  wrong types: %d nodes, %d refused, %d accepted (a number where \"-inf\" was)\n",
           nodes, refused, accepted);
    CHECK(nodes > 100);
    CHECK_INT_EQ(unclean, 0);
    CHECK_INT_EQ(unnamed, 0);
    /* only the "-inf" top logprob strings may take a number */
    CHECK(accepted <= 8);
    free(j);
}

/* Loads text and returns the message (empty on success). */
static const char *load_msg(const char *text, char *err, size_t errlen)
{
    struct session s;
    if (session_load_buffer(&s, text, strlen(text), "h.json", err, errlen) == 0) {
        session_free(&s);
        err[0] = 0;
    }
    return err;
}

/* The good file with one change made through cJSON. */
static char *mutate(void (*fn)(cJSON *root))
{
    size_t len;
    char *j = good_json(&len);
    cJSON *root = j ? cJSON_Parse(j) : NULL;
    free(j);
    if (!root)
        return NULL;
    fn(root);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void set_version_2(cJSON *root)
{
    cJSON_ReplaceItemInObject(root, "version", cJSON_CreateNumber(2));
}
static void set_layers_4(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "model"), "layers",
                              cJSON_CreateNumber(4));
}
static void set_content_null(cJSON *root)
{
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "messages"), 3);
    cJSON_ReplaceItemInObject(m, "content", cJSON_CreateNull());
}
static void set_token_negative(cJSON *root)
{
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "traces"), 0);
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(t, "token"), 2, cJSON_CreateNumber(-3));
}
static void set_experts_5(cJSON *root)
{
    /* 6 experts: ids 0..5 valid. Make every id 6 (base64 of bytes 0x06). */
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "traces"), 0);
    const char *old = cJSON_GetStringValue(cJSON_GetObjectItem(t, "experts"));
    size_t n = strlen(old) / 4 * 3;
    unsigned char *raw = calloc(n, 1);
    char *enc = calloc(strlen(old) + 1, 1);
    for (size_t i = 0; i < n; i++)
        raw[i] = 6;
    session_b64_encode(raw, n, enc);
    cJSON_ReplaceItemInObject(t, "experts", cJSON_CreateString(enc));
    free(raw);
    free(enc);
}

TEST(session_refuses_what_it_should)
{
    char err[512];
    struct { void (*fn)(cJSON *); const char *want; } cases[] = {
        { set_version_2, "$.version: expected version 1 or below, found 2" },
        { set_layers_4, "$.traces[0].n_used: expected 28 bytes (one per token and layer)" },
        { set_content_null, "h.json: $.messages[3].content: expected a string, found null" },
        { set_token_negative, "$.traces[0].token[2]: expected an integer in [0, 499], found -3" },
        { set_experts_5, "$.traces[0].experts: expected expert ids below 6, found 6" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = mutate(cases[i].fn);
        CHECK(text != NULL);
        if (!text)
            continue;
        load_msg(text, err, sizeof err);
        CHECK_MSG(strstr(err, cases[i].want) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
        free(text);
    }

    /* nesting: 64 levels pass the depth check (and fail on type), 65 do not */
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = 0;
    load_msg(deep, err, sizeof err);
    CHECK_MSG(strstr(err, "line 1 column 65: nesting deeper than 64") != NULL, "%s", err);
    deep[129] = 0; /* 64 [ and 64 ] */
    load_msg(deep + 1, err, sizeof err);
    CHECK_MSG(strstr(err, "$: expected an object, found an array") != NULL, "%s", err);
    /* brackets inside strings do not count */
    char quoted[300];
    snprintf(quoted, sizeof quoted, "{\"format\":\"%.*s\"}", 100,
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
             "[[[[[[[[[[[[[[[[[[[[");
    load_msg(quoted, err, sizeof err);
    CHECK_MSG(strstr(err, "$.format: expected \"moescope-session\"") != NULL, "%s", err);

    /* a syntax error names its line and column */
    load_msg("{\"format\": \"moescope-session\",\n  \"version\": 1,,\n}", err, sizeof err);
    CHECK_MSG(strstr(err, "h.json: line 2 column 1") != NULL && strstr(err, "syntax error"),
              "%s", err);
    /* not JSON at all, and an empty file */
    load_msg("\x89PNG\r\n", err, sizeof err);
    CHECK_MSG(strstr(err, "line 1 column 1") != NULL && !strchr(err, '\n'), "%s", err);
    load_msg("", err, sizeof err);
    CHECK_MSG(strstr(err, "ends too early") != NULL, "%s", err);
}

TEST(session_refuses_over_1gib)
{
    /* A sparse file one byte over 1 GiB: refused from its size, before any read. */
    char path[4096];
    snprintf(path, sizeof path, "%s/huge.json", test_tmp_dir());
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    int rc = ftruncate(fd, (off_t)SESSION_MAX_FILE + 1);
    close(fd);
    if (rc != 0) {
        test_skip("cannot make a sparse file here");
        unlink(path);
        return;
    }
    struct session s;
    char err[512];
    CHECK(session_load(&s, path, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "more than the 1 GiB") != NULL, "%s", err);
    unlink(path);
}
