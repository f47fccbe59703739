/* engine/text/tokenizer.h: llama.cpp's SentencePiece ("llama") and byte-level BPE ("gpt2")
 * tokenizers, read from a GGUF's tokenizer.ggml.* keys, and a streaming detokenizer.
 *
 * Matching llama.cpp (llama-vocab.cpp) is the contract: the same ids for the same text, the
 * same special-token split, the same BOS/EOS defaults per model type, the same pieces.
 * A tokenizer owns copies of everything it needs: the gguf_file may be closed after
 * tokenizer_load(). It is read-only after loading, so threads may share it. */
#ifndef MOESCOPE_TOKENIZER_H
#define MOESCOPE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detok.h"

#include "gguf.h"

struct tokenizer;

/* Builds the tokenizer from tokenizer.ggml.model ("llama" or "gpt2"), .tokens, .scores,
 * .token_type, .merges, .pre and the special-token keys. NULL with err set (naming the file
 * and the key) when a key is missing, malformed, or names something unsupported. */
struct tokenizer *tokenizer_load(const struct gguf_file *f, char *err, size_t errlen);
void tokenizer_free(struct tokenizer *t);

/* Tokenizes text[0..len) as llama_tokenize does. add_special adds BOS (and EOS) when the
 * model's rule says so; parse_special turns the text of control tokens into their ids
 * (user-defined tokens are always split out, as in llama.cpp).
 * Returns the token count n when n <= max (out[0..n) filled); when n > max, out holds the
 * first max tokens and the result is -n (as llama.cpp, which returns -needed); INT32_MIN
 * when memory runs out. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int max);

/* The bytes token id adds to the text, as llama_token_to_piece(..., special = true): SPM's
 * U+2581 becomes a space and <0xNN> its byte; BPE's byte-to-unicode mapping is reversed;
 * control, unknown and user-defined tokens render as their text. Copies at most buflen bytes
 * (no NUL added) and returns the full length, so a return > buflen means truncated. An id out
 * of range gives 0. */
size_t tokenizer_piece(const struct tokenizer *t, int32_t id, char *buf, size_t buflen);

int tokenizer_n_vocab(const struct tokenizer *t);
/* The most text bytes one token can stand for: the longest token text (no piece is longer
 * than its token's text), and at least 4 (an unknown token for one UTF-8 character). So a
 * text of len bytes needs at least len / tokenizer_longest_piece() tokens. */
size_t tokenizer_longest_piece(const struct tokenizer *t);
/* Special ids, or -1 when the model has none. */
int32_t tokenizer_bos(const struct tokenizer *t);
int32_t tokenizer_eos(const struct tokenizer *t);
int32_t tokenizer_eot(const struct tokenizer *t);
/* End of generation: EOS, EOT, EOM, and the tokens llama.cpp recognises by their text
 * (<|im_end|>, <|endoftext|>, <|eot_id|>, <end_of_turn>, ...). */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);
/* Control tokens (token_type 3, or promoted by llama.cpp's rules). */
bool tokenizer_is_control(const struct tokenizer *t, int32_t id);
/* tokenizer.ggml.add_bos_token, or llama.cpp's default for the model type: true for SPM and
 * for the llama3 pre-tokenizer, false for other BPE. */
bool tokenizer_add_bos(const struct tokenizer *t);
/* "spm" or "bpe". */
const char *tokenizer_kind(const struct tokenizer *t);
/* tokenizer.ggml.pre as found ("default" when absent; "" for SPM). */
const char *tokenizer_pre(const struct tokenizer *t);
/* The id of an exact token text, or -1. */
int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len);


#endif
