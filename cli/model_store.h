/* cli/model_store.h: the GGUF models already on this machine, found where the usual tools
 * keep them, and the names `-m` takes for them (shared by the subcommands and the app).
 *
 * Where, in this order (a file reached from two of them is listed under the first; two
 * names for one file inside one store, as Ollama's tags, are both listed):
 *   - Ollama: $OLLAMA_MODELS, ~/.ollama/models, /usr/share/ollama/.ollama/models. Each
 *     manifests/HOST/NAMESPACE/NAME/TAG is JSON whose layer of mediaType
 *     application/vnd.ollama.image.model names the blob blobs/sha256-HEX. Named NAME:TAG
 *     (registry.ollama.ai/library), NAMESPACE/NAME:TAG (registry.ollama.ai), else
 *     HOST/NAMESPACE/NAME:TAG;
 *   - the Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
 *     $XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub; in each
 *     models--ORG--NAME, the snapshot refs/main names (every snapshot when there is no
 *     refs/main), its .gguf files (symlinks into blobs/) down to two folders deep. Named
 *     ORG/NAME:FILE;
 *   - LM Studio: ~/.lmstudio/models and ~/.cache/lm-studio/models, PUBLISHER/MODEL/FILE.gguf,
 *     named PUBLISHER/MODEL:FILE;
 *   - each folder (or file) of $MOESCOPE_MODELS (colon-separated), named by the path inside
 *     it;
 *   - the current directory, named ./FILE.
 * A split set (NAME-00001-of-00003.gguf ...) is one entry: its first part, the parts' total
 * size. Describing reads headers only (model_describe), never the weights.
 *
 * Names `-m` takes (model_resolve): a file path; an exact name; NAME for NAME:latest; REPO:QUANT
 * for the one file of REPO whose name holds QUANT as a word (Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M);
 * REPO alone when it has one file; else a part of one name. More than one match is an error
 * that lists them; a URL (anything with "://") is passed through for the remote engine. */
#ifndef MOESCOPE_MODEL_STORE_H
#define MOESCOPE_MODEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

enum model_source {
    MODEL_SRC_OLLAMA,
    MODEL_SRC_HF,
    MODEL_SRC_LMSTUDIO,
    MODEL_SRC_DIRS,           /* $MOESCOPE_MODELS */
    MODEL_SRC_CWD,
    MODEL_SRC_COUNT
};
extern const char *const model_source_names[MODEL_SRC_COUNT];

struct model_entry {
    char name[512];           /* what -m takes */
    char path[4096];          /* the file to open (a split set's first part) */
    enum model_source source;
    int n_parts;              /* 1, or the parts of a split set found */
    int n_parts_named;        /* a split set's count in its file names (else 1) */
    uint64_t size;            /* bytes of every part */
    uint64_t dev, ino;        /* the file's identity, to list it once */
    /* model_list_describe: */
    bool described;           /* desc holds the header's description */
    struct model_desc desc;
    char main_type[16];       /* the type most weight tensors have ("q4_K") */
    char why_not[512];        /* "" when moescope runs it, else why not (one line) */
};

struct model_list {
    struct model_entry *v;    /* (n) in the order above, then by name */
    size_t n, cap;
};

/* Finds every model (names and files only, no header read). Returns 0, or -1 when memory
 * runs out (err set). A store that is missing or unreadable is skipped. */
int model_list_find(struct model_list *l, char *err, size_t errlen);
/* Reads each entry's header and fills desc, main_type and why_not. */
void model_list_describe(struct model_list *l);
void model_list_free(struct model_list *l);

/* Whether moescope runs the file at path, from its header alone: 0 with d filled, or -1 with
 * the reason in why (not GGUF, an architecture or a tensor type it does not run). */
int model_check(const char *path, struct model_desc *d, char *why, size_t whylen);

/* Resolves what -m was given into a file to open (or the URL as is). Returns 0, or -1 with
 * one line in err (no such model, or the candidates of an ambiguous name). */
int model_resolve(const char *arg, char *path, size_t pathlen, char *err, size_t errlen);

#endif
