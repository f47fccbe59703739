/* engine/gguf/gguf_split_write.c: a GGUF written as a split model, as llama.cpp's gguf-split
 * --split writes one (every key in the first part; the tensors cut into runs; split.no as
 * uint16, split.count as uint16, split.tensors.count as int32 in every part). Tests make
 * split files with it, and a user can read them with llama.cpp as well. */
#include "gguf_write.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int gguf_write_split(const struct gguf_file *src, const char *prefix, uint32_t n_parts,
                     char *err, size_t errlen)
{
    if (n_parts < 1 || n_parts > 65535 || n_parts > src->n_tensors || src->n_tensors > INT32_MAX)
        return gguf_fail(prefix, err, errlen, "cannot split %llu tensors into %u parts",
                         (unsigned long long)src->n_tensors, n_parts);
    uint64_t at = 0;
    for (uint32_t p = 0; p < n_parts; p++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s-%05u-of-%05u.gguf", prefix, p + 1,
                             n_parts) >= sizeof path)
            return gguf_fail(prefix, err, errlen, "the name is too long for its split parts");
        struct gguf_writer *w = gguf_writer_new();
        if (!w)
            return gguf_fail(path, err, errlen, "out of memory");
        for (uint64_t i = 0; i < src->n_kv; i++) {
            const struct gguf_kv *kv = &src->kv[i];
            bool split_key = kv->key.len > 6 && !memcmp(kv->key.ptr, "split.", 6);
            bool alignment = kv->key.len == 17 && !memcmp(kv->key.ptr, "general.alignment", 17);
            if (!split_key && (p == 0 || alignment))
                gguf_writer_copy_kv(w, src, kv);
        }
        gguf_writer_add_u16(w, "split.no", (uint16_t)p);
        gguf_writer_add_u16(w, "split.count", (uint16_t)n_parts);
        gguf_writer_add_i32(w, "split.tensors.count", (int32_t)src->n_tensors);
        uint64_t end = src->n_tensors * (p + 1) / n_parts;
        for (; at < end; at++) {
            const struct gguf_tensor *t = &src->tensors[at];
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
        }
        int rc = gguf_writer_write(w, path, err, errlen);
        gguf_writer_free(w);
        if (rc)
            return -1;
    }
    return 0;
}
