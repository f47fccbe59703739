/* engine/model/ollama.h: Ollama's 'gptoss' files, bound as gpt-oss.
 *
 * Ollama writes gpt-oss with other names and layouts, never other arithmetic (its
 * model/models/gptoss and convert/convert_gptoss.go): keys under "gptoss.", attn_out,
 * attn_sinks without ".weight", ffn_norm for post_attention_norm; Q, K and V as one attn_qkv
 * (their rows one after the other); each expert's gate and up as one ffn_gate_up_exps whose
 * rows alternate (gate row i is row 2i, up row i is row 2i+1; its bias the same); the
 * MXFP4 experts as type id 4 with each block's nibbles in OpenAI's order (the parser marks
 * them, gguf.h); the experts' biases in bf16. Here the split tensors become views into the
 * fused ones (an offset and a row stride: the kernels read each row as before), and the two
 * byte layouts are rewritten once at load into memory the model owns, so every product is
 * the one llama.cpp computes on its own gpt-oss file. */
#ifndef MOESCOPE_OLLAMA_H
#define MOESCOPE_OLLAMA_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Ollama's name for role t where it differs from llama.cpp's, or NULL. */
const char *ollama_alt_name(enum arch_tensor t, int layer, char *buf, size_t len);

/* Binds role t from Ollama's fused tensors when the file has one for it. Returns 1 when
 * bound, 0 when the file has no fused tensor for t, -1 with err set (naming the file and
 * the tensor) when it has one that does not fit. compute: as model_bind's. */
int ollama_bind_fused(struct model *m, enum arch_tensor t, int layer, bool compute,
                      struct wt *w, char *err, size_t errlen);

/* The bytes of tensor g as the kernels read them and their type: g's own, or a copy made
 * once (MXFP4 in ggml's nibble order; a bf16 or f16 vector widened to f32 when to_f32).
 * Returns NULL with err set when out of memory. */
const unsigned char *ollama_tensor_data(struct model *m, const struct gguf_tensor *g,
                                        bool to_f32, unsigned *type, char *err, size_t errlen);

#endif
