/* engine/gguf/gguf.h: a strict GGUF v2/v3 reader over an mmap, and the key/value accessors.
 *
 * Contract: gguf_parse() checks every count, string length, array length, dimension, tensor
 * type, offset and the alignment against the buffer size, with overflow-safe arithmetic,
 * before anything is used. On failure it returns -1 and writes one line into err that names
 * the file, the field and the byte offset, e.g.
 *   model.gguf: tensor 'blk.3.ffn_up_exps.weight' data ends at byte 9 437 184, past the end
 *   of the file (8 388 608)
 * It never prints and never exits. All pointers in a parsed file (names, strings, tensor
 * data) point into the caller's buffer or the mmap and stay valid until gguf_close(). */
#ifndef MOESCOPE_GGUF_H
#define MOESCOPE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_VT_UINT8 = 0,
    GGUF_VT_INT8 = 1,
    GGUF_VT_UINT16 = 2,
    GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4,
    GGUF_VT_INT32 = 5,
    GGUF_VT_FLOAT32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_UINT64 = 10,
    GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_COUNT
};

enum { GGUF_MAX_DIMS = 4, GGUF_DEFAULT_ALIGNMENT = 32 };

struct gguf_str {
    const char *ptr; /* into the file; not NUL-terminated */
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_vtype type;
    enum gguf_vtype arr_type; /* for GGUF_VT_ARRAY: the element type */
    uint64_t arr_n;           /* for GGUF_VT_ARRAY: the element count */
    const uint8_t *value;     /* the raw value bytes (for arrays: the first element) */
    uint64_t offset;          /* byte offset of the key in the file, for messages */
};

struct gguf_tensor {
    char *name;               /* NUL-terminated copy (owned by the gguf_file) */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    uint32_t type;            /* a ggml type id (quant.h), checked to be known */
    uint64_t offset;          /* relative to the data section, checked aligned */
    uint64_t nbytes;          /* checked to fit in the file */
    const void *data;         /* into the map */
    uint64_t info_offset;     /* byte offset of the tensor's entry, for messages */
    bool ollama_mxfp4;        /* type id 4 in a file of Ollama's 'gptoss': MXFP4 blocks
                               * (type is GGML_TYPE_MXFP4) with their nibbles in OpenAI's
                               * order, two neighbours a byte; engine/model reorders them */
};

struct gguf_file {
    char path[1024];          /* the name used in messages */
    const uint8_t *base;      /* the whole file */
    uint64_t size;
    bool mapped;              /* base came from gguf_open's mmap */
    int watch;                /* its slot in the SIGBUS guard + 1 (0: none; map_guard.c) */
    uint64_t avail;           /* bytes of the file at base: size, less for a header read */
    bool header_only;         /* gguf_open_header: tensors' data is not there */
    uint32_t version;
    uint64_t n_kv;
    struct gguf_kv *kv;       /* (n_kv) */
    uint64_t n_tensors;
    struct gguf_tensor *tensors; /* (n_tensors) */
    uint32_t alignment;
    uint64_t data_offset;     /* start of the tensor data section */
    uint64_t data_end;        /* end of the last tensor's data (<= size) */
    uint32_t *kv_sorted;      /* (n_kv) kv indices sorted by key, for gguf_find */
    uint32_t *tensor_sorted;  /* (n_tensors) tensor indices sorted by name */
    uint32_t split_count;     /* gguf_open_set of a split model: its parts (0 or 1: one file) */
    struct gguf_file *split_parts; /* (split_count - 1) parts 2..N: their keys and maps; the
                                    * tensors above point into them, gguf_close closes them */
};

/* mmaps path read-only and parses it. On error returns -1 with err set and *f cleared. */
int gguf_open(struct gguf_file *f, const char *path, char *err, size_t errlen);
/* Reads only the head of path (metadata and tensor table, with read(), no map) and parses
 * it, checking the tensors against the file's real size: what a description needs, at the
 * cost of a few megabytes even for a file of hundreds of gigabytes. The tensors' data
 * pointers are placeholders (the header's start) and must not be read. */
int gguf_open_header(struct gguf_file *f, const char *path, char *err, size_t errlen);
/* Parses a buffer the caller keeps alive (the fuzz entry point). name is for messages. */
int gguf_parse(struct gguf_file *f, const void *data, uint64_t size, const char *name,
               char *err, size_t errlen);
void gguf_close(struct gguf_file *f);

/* A model that may be split into files NAME-00001-of-0000N.gguf ... (llama.cpp's gguf-split:
 * split.no, split.count, split.tensors.count): given any part, opens every part (mapped, or
 * header_only as gguf_open_header) and joins their tensors into f, whose keys and path are
 * the first part's. One file that is not split opens as gguf_open does. A missing part, a
 * part of another set, a wrong split.no or tensor count, or a tensor in two parts is one
 * line naming the part (f cleared). gguf_set_size: the bytes of every part. */
int gguf_open_set(struct gguf_file *f, const char *path, bool header_only, char *err,
                  size_t errlen);
uint64_t gguf_set_size(const struct gguf_file *f);
/* Fills f->tensor_sorted (allocated, n_tensors long) with the tensors in name order; returns
 * n_tensors, or the first i whose name equals that of i - 1 (a repeated name). */
uint64_t gguf_sort_tensors(struct gguf_file *f);

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Typed getters. Each returns 0 and sets *out when the key exists and its value fits the
 * type (any integer type is accepted for an integer when it is in range), 1 when the key is
 * absent (out untouched), and -1 with err set (naming file, key and offset) when the key
 * exists with the wrong type or out of range. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, char *err, size_t errlen);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out, char *err, size_t errlen);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out, char *err, size_t errlen);
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out, char *err, size_t errlen);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out, char *err, size_t errlen);
/* Copies a string value into buf (NUL-terminated, truncated to fit). Same returns. */
int gguf_get_strz(const struct gguf_file *f, const char *key, char *buf, size_t buflen, char *err, size_t errlen);

/* Arrays. gguf_arr_strings fills out[0..kv->arr_n) (caller allocates arr_n entries);
 * gguf_arr_get_f32 / _i32 read element i of a numeric array, converting from its stored
 * type. They return -1 when the kv is not an array of a fitting type. */
int gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out);
int gguf_arr_get_f32(const struct gguf_kv *kv, uint64_t i, float *out);
int gguf_arr_get_i32(const struct gguf_kv *kv, uint64_t i, int32_t *out);

/* Names: "uint32", "array", ... */
const char *gguf_vtype_name(enum gguf_vtype t);

/* Formats n with thin groups of three, as the messages do: 9437184 -> "9 437 184". */
const char *gguf_fmt_u64(uint64_t n, char buf[32]);

/* Whether the mapped file changed under us since gguf_open: it was truncated or rewritten in
 * place, and a read of its pages raised SIGBUS, which map_guard.c answered by mapping zero
 * pages over it. Every weight now reads 0: the model must not be used any more. */
bool gguf_changed(const struct gguf_file *f);

/* The SIGBUS guard of mapped files (map_guard.c): watch returns a slot (or -1 when all are
 * taken); changed says whether a fault inside the mapping was answered. */
int gguf_map_watch(const void *base, size_t size);
void gguf_map_unwatch(int slot);
bool gguf_map_changed(int slot);

/* Writes "path: message" into err (when err is not NULL), always one line: a newline or CR
 * the path or the words carry becomes a space. Returns -1, so `return gguf_fail(...)`. The
 * one way the reader and the model binding say what is wrong with a file. */
int gguf_fail(const char *path, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
