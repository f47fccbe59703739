/* remote/family.c: the server family table (see family.h). */
#include <string.h>
#include <strings.h>

#include "family.h"

const struct remote_family_info remote_families[REMOTE_FAMILY_COUNT] = {
    [REMOTE_OPENAI] = { .name = "openai" },
    [REMOTE_LLAMA_SERVER] = {
        .name = "llama-server", .owned_by = { "llamacpp", "llama.cpp" },
        .server_header = "llama.cpp",
        .top_k = "top_k", .min_p = "min_p", .repeat_penalty = "repeat_penalty",
        .timings = true,
    },
    [REMOTE_VLLM] = {
        .name = "vllm", .owned_by = { "vllm" },
        .top_k = "top_k", .min_p = "min_p", .repeat_penalty = "repetition_penalty",
        .experts_npy = true,
    },
    [REMOTE_SGLANG] = {
        .name = "sglang", .owned_by = { "sglang" },
        .top_k = "top_k", .min_p = "min_p", .repeat_penalty = "repetition_penalty",
        .experts_stream = true,
    },
    [REMOTE_OLLAMA] = {
        .name = "ollama", .owned_by = { "library", "ollama" }, .fingerprint = "fp_ollama",
    },
};

enum remote_family remote_family_detect(const char *owned_by, const char *server_header,
                                        const char *fingerprint)
{
    for (int f = 1; f < REMOTE_FAMILY_COUNT; f++)
        for (int k = 0; owned_by && k < 3 && remote_families[f].owned_by[k]; k++)
            if (!strcasecmp(owned_by, remote_families[f].owned_by[k]))
                return (enum remote_family)f;
    for (int f = 1; f < REMOTE_FAMILY_COUNT; f++) {
        const char *h = remote_families[f].server_header;
        if (h && server_header && !strncasecmp(server_header, h, strlen(h)))
            return (enum remote_family)f;
    }
    for (int f = 1; f < REMOTE_FAMILY_COUNT; f++) {
        const char *p = remote_families[f].fingerprint;
        if (p && fingerprint && !strncmp(fingerprint, p, strlen(p)))
            return (enum remote_family)f;
    }
    /* llama-server's fingerprint is its build ("b7100-80fb11ac"): a b and a digit. */
    if (fingerprint && fingerprint[0] == 'b' && fingerprint[1] >= '0' && fingerprint[1] <= '9')
        return REMOTE_LLAMA_SERVER;
    return REMOTE_OPENAI;
}
