/* tests/session_build.h: a hand-built session for the session and export tests and the
 * session load benchmark (tools/session_bench.c). Everything in it comes from a small
 * deterministic generator, so a test can recompute what an export must hold from the
 * same description instead of from our own output.
 *
 * Shape of a built session: a system prompt, then n_turns of (user, assistant); each turn
 * owns prompt_len prompt records and gen_len generated ones. Layer 0 is dense (n = 0), the
 * others route k experts. Every record is fed but the last generated one of each turn
 * (as the engine leaves it). Pieces are words, plus in turn 1 (if any) a byte that is not
 * UTF-8 and a NUL byte, which push that turn's pieces into base64. */
#ifndef MOESCOPE_SESSION_BUILD_H
#define MOESCOPE_SESSION_BUILD_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

struct build_spec {
    int n_layers, n_experts, k, n_vocab;
    size_t n_turns, prompt_len, gen_len;
    uint64_t seed;
};

static inline uint64_t build_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Uniform in [0, 1). */
static inline float build_unit(uint64_t *x)
{
    return (float)((build_next(x) >> 40) * (1.0 / 16777216.0));
}

/* Whether record r (0-based within its turn) of a turn is fed; the same rule as the
 * builder, for tests that count. */
static inline bool build_is_fed(const struct build_spec *sp, size_t r)
{
    return r + 1 < sp->prompt_len + sp->gen_len;
}

static inline int build_session(struct session *s, const struct build_spec *sp)
{
    static const char *const words[] = { "The", " expert", " router", " picks", " two",
                                         " of", " eight", ",", " then", " mixes", "\n",
                                         " \"quoted\"", " caf\xc3\xa9", " \xe2\x9c\x93" };
    const size_t n_words = sizeof words / sizeof words[0];
    if (session_init(s, sp->n_layers, sp->n_experts, sp->k) != 0)
        return -1;
    uint64_t x = sp->seed * 0x9E3779B97F4A7C15ull + 1;
    struct session_model *m = &s->model;
    snprintf(m->file, sizeof m->file, "tiny-moe-%dx%d.gguf", sp->n_layers, sp->n_experts);
    snprintf(m->name, sizeof m->name, "hand-built \"test\" model");
    snprintf(m->arch, sizeof m->arch, "qwen2moe");
    snprintf(m->chat, sizeof m->chat, "chatml");
    m->size = 123456789;
    m->d_model = 128;
    m->n_vocab = sp->n_vocab;
    m->hash = 0x0123456789abcdefull;
    m->hash_bytes = 1 << 20;
    s->sampler.temp = 0.7f;
    s->sampler.top_p = 0.9f;
    s->sampler.seed = 18446744073709551615ull; /* 2^64 - 1: beyond a double's integers */
    if (session_set_system_prompt(s, "You are terse.\tReally.") != 0)
        return -1;
    uint32_t ever[64][4] = { { 0 } }; /* experts touched per layer (first 64 layers, 128 e) */
    for (size_t turn = 0; turn < sp->n_turns; turn++) {
        char user[64];
        snprintf(user, sizeof user, "Why are experts fast? (turn %zu)", turn);
        if (session_add_message(s, SESSION_USER, user, strlen(user)) < 0)
            return -1;
        size_t n_rec = sp->prompt_len + sp->gen_len;
        for (size_t r = 0; r < n_rec; r++) {
            char piece[32];
            size_t plen;
            if (turn == 1 && r == 1) {
                memcpy(piece, "\xff", 1), plen = 1; /* not UTF-8 */
            } else if (turn == 1 && r == 2) {
                memcpy(piece, "a\0b", 3), plen = 3; /* a NUL byte */
            } else {
                const char *w = words[build_next(&x) % n_words];
                plen = strlen(w);
                memcpy(piece, w, plen);
            }
            bool prompt = r < sp->prompt_len;
            int32_t tok = (int32_t)(build_next(&x) % (uint64_t)sp->n_vocab);
            long i = trace_log_push(&s->log, tok, piece, plen, prompt);
            if (i < 0)
                return -1;
            struct trace_token *t = &s->log.tok[i];
            t->fed = build_is_fed(sp, r);
            if (!prompt) {
                t->sampled = true;
                t->logprob = -3.0f * build_unit(&x);
                for (int j = 0; j < TRACE_TOP; j++) {
                    bool none = j == TRACE_TOP - 1 && (r % 3 == 0);
                    t->top_id[j] = none ? -1 : (int32_t)(build_next(&x) % (uint64_t)sp->n_vocab);
                    t->top_logprob[j] = none ? -INFINITY : -(float)j - build_unit(&x);
                }
            }
            if (t->fed) {
                t->ns_total = 1000000 + build_next(&x) % 5000000;
                uint64_t left = t->ns_total;
                for (int p = 0; p < TRACE_PHASE_COUNT - 1; p++) {
                    t->ns[p] = left / 3;
                    left -= t->ns[p];
                }
                t->ns[TRACE_PHASE_COUNT - 1] = left;
                struct trace_layer *ly = trace_layers(&s->log, (size_t)i);
                for (int l = 1; l < sp->n_layers; l++) {
                    struct trace_layer *L = &ly[l];
                    L->n = (uint8_t)sp->k;
                    float sum = 0;
                    for (int j = 0; j < sp->k; j++) {
                        uint16_t e;
                        bool dup;
                        do { /* distinct experts, as a router's top-k */
                            e = (uint16_t)(build_next(&x) % (uint64_t)sp->n_experts);
                            dup = false;
                            for (int q = 0; q < j; q++)
                                dup |= L->experts[q] == e;
                        } while (dup);
                        L->experts[j] = e;
                        L->weights[j] = 0.05f + build_unit(&x);
                        sum += L->weights[j];
                        if (l < 64 && e < 128 && !(ever[l][e / 32] & (1u << (e % 32)))) {
                            ever[l][e / 32] |= 1u << (e % 32);
                            L->cold |= (uint16_t)(1u << j);
                        }
                    }
                    for (int j = 0; j < sp->k; j++)
                        L->weights[j] /= sum;
                    L->entropy = logf((float)sp->n_experts) * (0.3f + 0.7f * build_unit(&x));
                    L->top1_prob = 0.1f + 0.8f * build_unit(&x);
                }
            }
        }
        char reply[96];
        snprintf(reply, sizeof reply, "Turn %zu: only k of n experts run, so it reads less.",
                 turn);
        if (turn == 1)
            memcpy(reply, "T\xffrn", 4); /* content that is not UTF-8 */
        if (session_add_message(s, SESSION_ASSISTANT, reply, strlen(reply)) < 0)
            return -1;
    }
    return 0;
}

#endif
