/* cli/cmd_models.c: `moescope models [--json]`: the GGUF models already on this machine
 * (cli/model_store.h says where it looks), each with its architecture, experts, size, main
 * tensor type and whether moescope runs it. Reads headers only. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_format.h"
#include "commands.h"
#include "model_store.h"
#include "text_escape.h"

static void models_usage(FILE *out)
{
    fprintf(out, "usage: moescope models [--json]\n"
                 "Lists the GGUF models in the Ollama store, the Hugging Face cache, LM Studio,\n"
                 "$MOESCOPE_MODELS and the current directory; -m takes each NAME shown.\n");
}

static void models_experts(const struct model_entry *e, char *buf, size_t len)
{
    if (!e->described)
        snprintf(buf, len, "?");
    else if (e->desc.n_experts)
        snprintf(buf, len, "%d of %d", e->desc.n_experts_used, e->desc.n_experts);
    else
        snprintf(buf, len, "dense");
}

static int models_print_json(const struct model_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < l->n; i++) {
        const struct model_entry *e = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            break;
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "path", e->path);
        cJSON_AddStringToObject(o, "source", model_source_names[e->source]);
        cJSON_AddNumberToObject(o, "parts", e->n_parts_named);
        cJSON_AddNumberToObject(o, "size", (double)e->size);
        cJSON_AddStringToObject(o, "arch", e->described ? e->desc.arch : "");
        cJSON_AddNumberToObject(o, "n_experts", e->described ? e->desc.n_experts : 0);
        cJSON_AddNumberToObject(o, "n_experts_used", e->described ? e->desc.n_experts_used : 0);
        cJSON_AddStringToObject(o, "type", e->main_type);
        cJSON_AddBoolToObject(o, "runs", !e->why_not[0]);
        if (e->why_not[0])
            cJSON_AddStringToObject(o, "why_not", e->why_not);
    }
    char *text = arr ? cJSON_Print(arr) : NULL;
    cJSON_Delete(arr);
    if (!text) {
        fprintf(stderr, "moescope models: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

/* A name or reason from the disk, made safe for a terminal and cut to width. */
static void models_cell(const char *s, char *buf, size_t len)
{
    text_escape_line(s, strlen(s), buf, len);
}

static void models_print_table(const struct model_list *l)
{
    int wn = 4, wa = 4;
    for (size_t i = 0; i < l->n; i++) {
        char nm[1024];
        models_cell(l->v[i].name, nm, sizeof nm);
        wn = (int)strlen(nm) > wn ? (int)strlen(nm) : wn;
        int al = (int)strlen(l->v[i].described ? l->v[i].desc.arch : "?");
        wa = al > wa ? al : wa;
    }
    if (wn > 60)
        wn = 60;
    printf("%-*s  %-*s  %-10s  %9s  %-7s  %s\n", wn, "NAME", wa, "ARCH", "EXPERTS", "SIZE",
           "TYPE", "RUNS");
    for (size_t i = 0; i < l->n; i++) {
        const struct model_entry *e = &l->v[i];
        char nm[1024], why[1024], ex[32], sz[32];
        models_cell(e->name, nm, sizeof nm);
        models_cell(e->why_not, why, sizeof why);
        models_experts(e, ex, sizeof ex);
        printf("%-*s  %-*s  %-10s  %9s  %-7s  %s%s\n", wn, nm, wa,
               e->described ? e->desc.arch : "?", ex, cli_format_bytes(e->size, sz),
               e->main_type[0] ? e->main_type : "?", e->why_not[0] ? "no: " : "yes", why);
    }
    size_t per[MODEL_SRC_COUNT] = { 0 };
    for (size_t i = 0; i < l->n; i++)
        per[l->v[i].source]++;
    printf("%zu model%s", l->n, l->n == 1 ? "" : "s");
    const char *sep = " (";
    for (int s = 0; s < MODEL_SRC_COUNT; s++)
        if (per[s]) {
            printf("%s%s %zu", sep, model_source_names[s], per[s]);
            sep = ", ";
        }
    if (l->n)
        printf("); moescope -m NAME opens one\n");
    else
        printf(" in the Ollama store, the Hugging Face cache, LM Studio, $MOESCOPE_MODELS or "
               "the current directory\n");
}

int cmd_models(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            models_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "moescope models: unknown argument '%s'\n", argv[i]);
            models_usage(stderr);
            return 2;
        }
    }
    struct model_list l;
    char err[256];
    if (model_list_find(&l, err, sizeof err) != 0) {
        fprintf(stderr, "moescope models: %s\n", err);
        return 1;
    }
    model_list_describe(&l);
    int rc = 0;
    if (json)
        rc = models_print_json(&l);
    else
        models_print_table(&l);
    model_list_free(&l);
    return rc;
}
