/* engine/gguf/gguf_write.h: a small GGUF v3 writer.
 *
 * Collect key/value pairs and tensors, then write them in one go:
 *   struct gguf_writer *w = gguf_writer_new();
 *   gguf_writer_add_str(w, "general.architecture", "qwen2moe");
 *   gguf_writer_add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 2, ne, data);
 *   gguf_writer_write(w, "model.gguf", err, sizeof err);
 *   gguf_writer_free(w);
 *
 * Ownership: keys, names and values (strings and arrays too) are copied when added. Tensor
 * data is NOT copied: the pointer must stay valid until the write call returns.
 * Layout: keys in the order added, then tensor infos in the order added, then the data, each
 * tensor padded to the alignment (general.alignment when set, else 32), like ggml's writer.
 * The add functions return 0, or -1 when the writer is already in an error state (out of
 * memory, a repeated key or tensor name, an unknown tensor type, a row length that is not a
 * multiple of the block size); the first such error is reported by the write call, so a
 * caller may add everything and check once. gguf_writer_write writes atomically: a temp file
 * in the same folder, fsync, rename. */
#ifndef MOESCOPE_GGUF_WRITE_H
#define MOESCOPE_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v);
/* A string with an explicit length (may hold any bytes). */
int gguf_writer_add_strn(struct gguf_writer *w, const char *key, const char *v, uint64_t len);
/* A numeric or bool array: n elements of type elem, packed little-endian in data. */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem,
                        const void *data, uint64_t n);
/* A string array from n NUL-terminated strings. */
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                            uint64_t n);
/* Adds a copy of src's key/value kv (any type; general.alignment sets the alignment). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *src,
                        const struct gguf_kv *kv);
/* Writes src as a split model, as llama.cpp's gguf-split does: PREFIX-00001-of-0000N.gguf
 * ... with every key in the first part, the tensors in order cut into n_parts runs of
 * about equal count, and split.no, split.count and split.tensors.count in every part. */
int gguf_write_split(const struct gguf_file *src, const char *prefix, uint32_t n_parts,
                     char *err, size_t errlen);
/* Sets general.alignment (a power of two) and uses it for the layout. */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);

/* A tensor of ggml type `type` with n_dims dims ne[0..n_dims) (ne[0] is the row length).
 * data holds quant_row_size(type, ne[0]) * ne[1] * ne[2] * ne[3] bytes. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const int64_t *ne, const void *data);

/* A tensor whose bytes are made while the file is written, in the order the tensors were
 * added: fill writes the tensor's nbytes into buf (the writer's, freed after) and returns
 * 0, or writes a message into why and returns -1, which fails the write with it. A writer of
 * a large model so holds one tensor at a time instead of all of them. */
typedef int (*gguf_tensor_fill_fn)(void *ud, const char *name, void *buf, uint64_t nbytes,
                                   char *why, size_t whylen);
int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t type,
                                uint32_t n_dims, const int64_t *ne, gguf_tensor_fill_fn fill,
                                void *ud);

/* Writes the file atomically. Returns 0, or -1 with a one-line message naming the path. */
int gguf_writer_write(struct gguf_writer *w, const char *path, char *err, size_t errlen);
/* Writes into a malloc'd buffer (*out, *size), for tests and fuzz seeds; free() it. */
int gguf_writer_to_mem(struct gguf_writer *w, uint8_t **out, uint64_t *size, char *err,
                       size_t errlen);

#endif
