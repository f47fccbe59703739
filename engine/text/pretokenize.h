/* engine/text/pretokenize.h: the pre-tokenizers of byte-level BPE vocabularies, as llama.cpp runs
 * them (llama-vocab.cpp's regex_exprs per pre type, unicode.cpp's splitter).
 *
 * llama.cpp applies a list of regexes in turn; each one splits every piece the previous ones
 * left into its matches and the gaps between them. Two regexes (GPT-2's and Llama-3's) run
 * through hand-written code in llama.cpp, the rest through std::regex over "collapsed" text
 * where every codepoint >= 128 stands for its category. Here each regex is a hand-coded C
 * matcher that keeps those exact semantics (ASCII classes as the collapsed text defines them,
 * ordered alternation, greedy quantifiers with the backtracking that matters). */
#ifndef MOESCOPE_PRETOKENIZE_H
#define MOESCOPE_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pretok_type {
    PRETOK_DEFAULT,
    PRETOK_GPT2,        /* also mpt, olmo, jais, phi-2, roberta-bpe, ... */
    PRETOK_LLAMA3,      /* also llama-bpe, dbrx, smaug-bpe */
    PRETOK_QWEN2,       /* also stablelm2, megrez */
    PRETOK_DEEPSEEK_LLM,
    PRETOK_DEEPSEEK_CODER,
    PRETOK_DEEPSEEK3,
    PRETOK_FALCON,
    PRETOK_STARCODER,   /* also refact, command-r, smollm, codeshell, exaone, minerva-7b */
    PRETOK_GLM4,        /* also chatglm-bpe */
    PRETOK_GPT4O,       /* also llama4 */
    PRETOK_COUNT
};

/* What llama.cpp's vocab loader sets per tokenizer.ggml.pre name. */
struct pretok_info {
    const char *name;
    enum pretok_type type;
    bool clean_spaces;  /* detokenizer cleanup (llama.cpp's clean_spaces) */
    bool ignore_merges; /* a whole word that is a token skips the merges */
    bool add_bos;       /* the default BOS rule before tokenizer.ggml.add_bos_token */
};

/* The entry for a tokenizer.ggml.pre value ("" and "default" give the default splitter),
 * or NULL when it is not one we implement. */
const struct pretok_info *pretok_find(const char *name);
/* "gpt-2, qwen2, ..." for messages. */
const char *pretok_names(void);

/* Splits cp[0..n) (cls[i] = unicode_class(cp[i])) into words. Writes the word lengths, in
 * codepoints, to lens and returns their count. lens and scratch hold n entries each. */
size_t pretok_split(enum pretok_type type, const uint32_t *cp, const uint8_t *cls, size_t n,
                    size_t *lens, size_t *scratch);

#endif
