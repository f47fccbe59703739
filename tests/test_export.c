/* tests/test_export.c: the md, csv, ndjson and html exports of a hand-built session
 * (session_build.h). Expected counts come from the build's description: every record of a
 * turn but its last is fed, layer 0 is dense, the other layers route k experts. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "session_build.h"
#include "test.h"

static const struct build_spec export_spec = { 4, 8, 2, 1000, 3, 5, 7, 21 };

/* Runs one export into memory. */
static char *export_to_mem(const struct session *s, int fmt, size_t *len)
{
    char *buf = NULL, err[256];
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    int rc = fmt == EXPORT_MD       ? session_export_md(s, f, err, sizeof err)
             : fmt == EXPORT_CSV    ? session_export_csv(s, f, err, sizeof err)
             : fmt == EXPORT_NDJSON ? session_export_ndjson(s, f, err, sizeof err)
                                    : session_export_html(s, f, -1, err, sizeof err);
    fclose(f);
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += k)
        n++;
    return n;
}

static size_t fed_records(void)
{
    size_t n = 0;
    for (size_t r = 0; r < export_spec.prompt_len + export_spec.gen_len; r++)
        n += build_is_fed(&export_spec, r);
    return n * export_spec.n_turns;
}

TEST(export_csv_rows)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    size_t len;
    char *csv = export_to_mem(&s, EXPORT_CSV, &len);
    CHECK(csv != NULL);
    if (!csv)
        return;
    CHECK(!strncmp(csv, "position,token,piece,layer,rank,expert,weight,thinking\n", 55));
    /* RFC 4180 rows: newlines inside quotes do not end a row. */
    size_t rows = 0, fields = 1, bad_rows = 0, layer0 = 0;
    bool quoted = false;
    const char *row = csv;
    for (size_t i = 0; i < len; i++) {
        char c = csv[i];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && c == ',')
            fields++;
        else if (!quoted && c == '\n') {
            if (rows > 0) {
                bad_rows += fields != 8;
                /* the layer is the 4th field: find it from the end (thinking, weight, expert,
                 * rank) */
                const char *e = csv + i;
                int commas = 0;
                while (e > row && commas < 5)
                    commas += *--e == ',';
                layer0 += e[1] == '0' && e[2] == ',';
            }
            rows++;
            fields = 1;
            row = csv + i + 1;
        }
    }
    size_t want = fed_records() * (size_t)(export_spec.n_layers - 1) * (size_t)export_spec.k;
    CHECK_INT_EQ(rows - 1, want);
    CHECK_INT_EQ(bad_rows, 0);
    CHECK_INT_EQ(layer0, 0); /* the dense layer has no rows */
    free(csv);
    session_free(&s);
}

TEST(export_md_roles)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    size_t len;
    char *md = export_to_mem(&s, EXPORT_MD, &len);
    CHECK(md != NULL);
    if (!md)
        return;
    CHECK_INT_EQ(count_str(md, "\n## User\n"), export_spec.n_turns);
    CHECK_INT_EQ(count_str(md, "\n## Assistant\n"), export_spec.n_turns);
    CHECK_INT_EQ(count_str(md, "\n## System prompt\n"), 1);
    CHECK(strstr(md, "Why are experts fast? (turn 2)") != NULL);
    CHECK(strstr(md, "T\\xFFrn") != NULL); /* the byte that is not UTF-8, made visible */
    CHECK(memchr(md, 0xff, len) == NULL);
    free(md);
    session_free(&s);
}

TEST(export_ndjson_is_run_trace)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    size_t len;
    char *nd = export_to_mem(&s, EXPORT_NDJSON, &len);
    CHECK(nd != NULL);
    if (!nd)
        return;
    size_t lines = 0, bad = 0;
    for (char *line = nd, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *pos = cJSON_GetObjectItem(j, "pos"), *tok = cJSON_GetObjectItem(j, "token");
        const cJSON *layers = cJSON_GetObjectItem(j, "layers");
        if (!j || !cJSON_IsNumber(pos) || !cJSON_IsNumber(tok) || lines >= s.log.n ||
            pos->valueint != s.log.tok[lines].pos || tok->valueint != s.log.tok[lines].token ||
            cJSON_GetArraySize(layers) != export_spec.n_layers)
            bad++;
        cJSON_Delete(j);
    }
    CHECK_INT_EQ(lines, s.log.n);
    CHECK_INT_EQ(bad, 0);
    free(nd);
    session_free(&s);
}

TEST(export_html_self_contained)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    /* a URL in the text must not become one in the page, nor markup in names a tag */
    session_add_message(&s, SESSION_USER, "see https://example.org", 23);
    snprintf(s.model.arch, sizeof s.model.arch, "<script>x</script>");
    snprintf(s.model.name, sizeof s.model.name, "<b>name</b>");
    size_t len;
    char *html = export_to_mem(&s, EXPORT_HTML, &len);
    CHECK(html != NULL);
    if (!html)
        return;
    CHECK(!strncmp(html, "<!DOCTYPE html>", 15));
    CHECK(strstr(html, "http://") == NULL);
    CHECK(strstr(html, "https://") == NULL);
    CHECK(strstr(html, "//example.org") != NULL);
    CHECK(strstr(html, "Content-Security-Policy") != NULL);
    CHECK(strstr(html, " src=") == NULL && strstr(html, " href=") == NULL);
    CHECK(strstr(html, "<svg id=\"heatmap\"") != NULL);
    int L = export_spec.n_layers, E = export_spec.n_experts;
    CHECK_INT_EQ(count_str(html, "<title>layer "), (size_t)(L * E));
    /* one span per record; at the default layer (the middle routed one) every fed record is
     * coloured by an expert */
    CHECK_INT_EQ(count_str(html, "<span class=\"t"), s.log.n);
    size_t coloured = count_str(html, "<span class=\"t e") + count_str(html, "<span class=\"t p e");
    CHECK_INT_EQ(coloured, fed_records());
    CHECK_INT_EQ(count_str(html, "<option value="), (size_t)(L - 1));
    CHECK(strstr(html, "<polyline") != NULL);
    CHECK(strstr(html, "</html>\n") != NULL);
    CHECK_INT_EQ(count_str(html, "<script>"), 1); /* ours only */
    CHECK(strstr(html, "<b>") == NULL);
    CHECK(strstr(html, "&lt;script&gt;x&lt;/script&gt;") != NULL);
    free(html);
    session_free(&s);
}

TEST(export_file_by_name)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/out.md", test_tmp_dir());
    CHECK_MSG(session_export_file(&s, "md", path, err, sizeof err) == 0, "%s", err);
    FILE *f = fopen(path, "r");
    char head[32] = "";
    CHECK(f && fgets(head, sizeof head, f));
    if (f)
        fclose(f);
    CHECK_STR_EQ(head, "# moescope session\n");
    CHECK(session_export_file(&s, "pdf", path, err, sizeof err) != 0);
    CHECK(strstr(err, "unknown export format 'pdf'") != NULL);
    session_free(&s);
}

/* A reasoning model's reply (R1's style): the thinking shown apart in md and html, the
 * thinking tokens flagged in csv, and the figures (thinking tokens, time to the first answer
 * beside TTFT) in md and html, as trace_speed computes them over the reply's records. */
TEST(export_thinking_and_time_to_answer)
{
    struct session s;
    CHECK(build_session(&s, &export_spec) == 0);
    snprintf(s.model.chat, sizeof s.model.chat, "deepseek3");
    struct session_message *msg = &s.msg[s.n_msg - 1];
    static const char reply[] = "<think>\nplan two experts\n</think>\n\nYes, k of n.";
    char *c = malloc(sizeof reply);
    CHECK(c != NULL);
    if (!c) {
        session_free(&s);
        return;
    }
    memcpy(c, reply, sizeof reply);
    free(msg->content);
    msg->content = c;
    msg->content_len = sizeof reply - 1;
    /* the reply's first three generated records were thinking */
    size_t first_gen = msg->trace_begin + export_spec.prompt_len;
    for (size_t i = first_gen; i < first_gen + 3; i++)
        s.log.tok[i].thinking = true;
    struct trace_speed sp;
    CHECK(trace_speed(&s.log, msg->trace_begin, msg->trace_end, &sp) == 0);
    CHECK_INT_EQ(sp.n_thinking, 3);
    CHECK(sp.ttfa_ms > sp.ttft_ms && sp.ttft_ms > 0);
    char figures[160];
    snprintf(figures, sizeof figures, "thinking 3 of %zu tokens, first answer token after %.1f "
             "ms (TTFT %.1f ms)", export_spec.gen_len, sp.ttfa_ms, sp.ttft_ms);

    size_t len;
    char *md = export_to_mem(&s, EXPORT_MD, &len);
    CHECK_MSG(md && strstr(md, "> **Thinking**\n>\n> plan two experts\n\nYes, k of n."),
              "%s", md ? md : "");
    CHECK_MSG(md && strstr(md, figures), "no \"%s\" in the Markdown", figures);
    CHECK(md && !strstr(md, "<think>"));
    free(md);

    char *csv = export_to_mem(&s, EXPORT_CSV, &len);
    size_t rows_thinking = 0;
    for (const char *p = csv; p && (p = strstr(p, ",1\n")); p += 3)
        rows_thinking++;
    /* three fed records, each routed at every layer but the dense one */
    CHECK_INT_EQ(rows_thinking, 3 * (size_t)(export_spec.n_layers - 1) * (size_t)export_spec.k);
    free(csv);

    char *html = export_to_mem(&s, EXPORT_HTML, &len);
    CHECK(html && strstr(html, "<details class=\"think\"><summary>thinking</summary>\nplan two "
                               "experts\n</details>Yes, k of n."));
    CHECK_MSG(html && strstr(html, figures), "no \"%s\" in the page", figures);
    CHECK(html && count_str(html, "class=\"t k") == 3);
    free(html);
    session_free(&s);
}
