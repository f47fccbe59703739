/* remote/family.h: the server families moescope tells apart, as one table: how each is
 * recognised, the names it gives the samplers the OpenAI API lacks, and what it reports.
 *
 * Detection, first match wins: /v1/models' data[].owned_by, then the Server header, then
 * the system_fingerprint of a reply. A server that matches none is "openai" (plain
 * OpenAI-compatible: text, and logprobs when it sends them). */
#ifndef MOESCOPE_FAMILY_H
#define MOESCOPE_FAMILY_H

#include <stdbool.h>

enum remote_family {
    REMOTE_OPENAI,
    REMOTE_LLAMA_SERVER,
    REMOTE_VLLM,
    REMOTE_SGLANG,
    REMOTE_OLLAMA,
    REMOTE_FAMILY_COUNT
};

struct remote_family_info {
    const char *name;              /* shown on the status bar and saved in sessions */
    const char *owned_by[3];       /* /v1/models owned_by values that name it */
    const char *server_header;     /* a Server header that starts with this, or NULL */
    const char *fingerprint;       /* a system_fingerprint that starts with this, or NULL */
    const char *top_k, *min_p, *repeat_penalty; /* its request fields (NULL: not sent) */
    bool timings;                  /* sends llama-server's timings object */
    bool experts_npy;              /* vLLM: routed_experts as base64 .npy in the final reply */
    bool experts_stream;           /* SGLang: sgl_ext.routed_experts (base64 int32) streamed */
};

extern const struct remote_family_info remote_families[REMOTE_FAMILY_COUNT];

/* The family for what a server showed (any may be NULL). */
enum remote_family remote_family_detect(const char *owned_by, const char *server_header,
                                        const char *fingerprint);

#endif
