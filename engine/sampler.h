/* engine/sampler.h: picks the next token from a vector of logits, as llama.cpp's common
 * sampler chain does, and reports how likely the choice was.
 *
 * Chain order (llama.cpp common/sampling defaults, without the samplers we do not offer):
 *   repetition penalty -> top-k -> top-p -> min-p -> temperature -> seeded draw.
 * - repetition penalty: every token id that occurs in the last repeat_last_n entries of the
 *   caller's history (-1 = the whole history, 0 = off) has its logit divided by the penalty
 *   when positive and multiplied by it when not (llama.cpp's rule); each id once.
 * - top-k keeps the k highest logits (0 = off); top-p keeps the shortest run of the most
 *   likely tokens whose probability (softmax at temperature 1 of what is left) reaches p
 *   (1 = off); min-p keeps tokens whose probability is at least min_p times the most likely
 *   one's (0 = off); then logits are divided by temp and a token is drawn from their softmax.
 * - temp <= 0 is greedy: the highest penalised logit (the lowest id on a tie), no draw, and
 *   the random state does not move.
 *
 * The draw uses the sampler's own xoshiro256** generator, seeded through splitmix64, so a
 * seed gives the same tokens on every machine. SAMPLER_SEED_RANDOM picks a seed from the
 * clock at creation; sampler_seed() tells which one.
 *
 * Reported per choice, into a trace_token (trace.h): logprob = log-softmax of the RAW logits
 * (before penalty and temperature) at the chosen id, and the TRACE_TOP most likely ids of the
 * raw distribution with their log-probabilities, best first (lowest id first on a tie).
 *
 * Memory: the sampler owns scratch sized to the vocabulary, allocated on the first call (or
 * when the vocabulary grows), never per token afterwards. Not thread-safe; one per engine.
 *
 * sampler_params_default() (declared in engine.h) is defined in sampler.c. */
#ifndef MOESCOPE_SAMPLER_H
#define MOESCOPE_SAMPLER_H

#include <stdint.h>

#include "engine.h"
#include "trace.h"

#define SAMPLER_SEED_RANDOM UINT64_MAX

struct sampler;

/* Returns NULL only when memory runs out. */
struct sampler *sampler_create(const struct sampler_params *p);
void sampler_free(struct sampler *s);
/* New settings; also reseeds the generator from p->seed (between replies). */
void sampler_set_params(struct sampler *s, const struct sampler_params *p);
/* The seed in use (the one chosen when SAMPLER_SEED_RANDOM was asked for). */
uint64_t sampler_seed(const struct sampler *s);

/* Chooses a token from logits (n_vocab floats). history (n_history ids, oldest first, may be
 * NULL when n_history is 0) feeds the repetition penalty; ids outside [0, n_vocab) in it are
 * ignored. When rec is not NULL it gets logprob, top_id, top_logprob and sampled = true;
 * nothing else in it is touched. Returns the token id, or -1 when n_vocab <= 0 or memory
 * runs out. */
int32_t sampler_sample(struct sampler *s, const float *logits, int n_vocab,
                       const int32_t *history, int n_history, struct trace_token *rec);

/* Only the report: fills rec's logprob (for token), top_id, top_logprob and sampled = true
 * from raw logits. Needs no sampler and allocates nothing. */
void sampler_report(const float *logits, int n_vocab, int32_t token, struct trace_token *rec);

#endif
