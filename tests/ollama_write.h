/* tests/ollama_write.h: a gpt-oss GGUF rewritten the way Ollama's convert_gptoss.go lays
 * gpt-oss out (its 'gptoss' architecture), with our own writer, for the tests that check
 * engine/model/ollama.c gives the same tokens and experts as llama.cpp's file:
 *  - every key under "gptoss." instead of "gpt-oss."; no rope.scaling.type (Ollama writes
 *    the factor and original context only) nor the YaRN betas (their defaults);
 *    feed_forward_length is the expert's, and there is no expert_feed_forward_length;
 *    tokenizer.ggml.pre "default" (Ollama's gptoss ignores it and splits as gpt-4o);
 *  - attn_q/k/v (weights and biases) fused into attn_qkv, their rows one after the other;
 *  - ffn_gate_exps and ffn_up_exps (and their biases) fused into ffn_gate_up_exps, the gate
 *    row i at row 2i and the up row at 2i+1;
 *  - the MXFP4 experts as type id 4 with each block's nibbles in OpenAI's order (value 2k
 *    in the low nibble of byte k, 2k+1 in its high one);
 *  - attn_output -> attn_out, attn_sinks.weight -> attn_sinks, post_attention_norm ->
 *    ffn_norm.
 * Single-header: include it in one test file. */
#ifndef MOESCOPE_TESTS_OLLAMA_WRITE_H
#define MOESCOPE_TESTS_OLLAMA_WRITE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"

/* Copies key/value kv of f into w under the name key. Returns 0 or -1. */
static int ow_copy_kv(struct gguf_writer *w, const struct gguf_file *f, const struct gguf_kv *kv,
                      const char *key)
{
    char src[256], err[256];
    snprintf(src, sizeof src, "%.*s", (int)kv->key.len, kv->key.ptr);
    const void *v = kv->value;
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    float f32; bool b; uint64_t u64; int64_t i64; double f64;
    switch (kv->type) {
    case GGUF_VT_UINT8: memcpy(&u8, v, 1); return gguf_writer_add_u8(w, key, u8);
    case GGUF_VT_INT8: memcpy(&i8, v, 1); return gguf_writer_add_i8(w, key, i8);
    case GGUF_VT_UINT16: memcpy(&u16, v, 2); return gguf_writer_add_u16(w, key, u16);
    case GGUF_VT_INT16: memcpy(&i16, v, 2); return gguf_writer_add_i16(w, key, i16);
    case GGUF_VT_UINT32: memcpy(&u32, v, 4); return gguf_writer_add_u32(w, key, u32);
    case GGUF_VT_INT32: memcpy(&i32, v, 4); return gguf_writer_add_i32(w, key, i32);
    case GGUF_VT_FLOAT32: memcpy(&f32, v, 4); return gguf_writer_add_f32(w, key, f32);
    case GGUF_VT_BOOL: memcpy(&b, v, 1); return gguf_writer_add_bool(w, key, b);
    case GGUF_VT_UINT64: memcpy(&u64, v, 8); return gguf_writer_add_u64(w, key, u64);
    case GGUF_VT_INT64: memcpy(&i64, v, 8); return gguf_writer_add_i64(w, key, i64);
    case GGUF_VT_FLOAT64: memcpy(&f64, v, 8); return gguf_writer_add_f64(w, key, f64);
    case GGUF_VT_STRING: {
        struct gguf_str s;
        if (gguf_get_str(f, src, &s, err, sizeof err))
            return -1;
        return gguf_writer_add_strn(w, key, s.ptr, s.len);
    }
    case GGUF_VT_ARRAY:
        if (kv->arr_type != GGUF_VT_STRING)
            return gguf_writer_add_arr(w, key, kv->arr_type, kv->value, kv->arr_n);
        {
            struct gguf_str *s = calloc(kv->arr_n + 1, sizeof *s);
            char **z = calloc(kv->arr_n + 1, sizeof *z);
            int rc = s && z && gguf_arr_strings(kv, s) == 0 ? 0 : -1;
            for (uint64_t i = 0; rc == 0 && i < kv->arr_n; i++)
                if ((z[i] = malloc(s[i].len + 1))) {
                    memcpy(z[i], s[i].ptr, s[i].len);
                    z[i][s[i].len] = 0;
                } else {
                    rc = -1;
                }
            if (rc == 0)
                rc = gguf_writer_add_arr_str(w, key, (const char *const *)z, kv->arr_n);
            for (uint64_t i = 0; z && i < kv->arr_n; i++)
                free(z[i]);
            free(z);
            free(s);
            return rc;
        }
    default:
        return -1;
    }
}

/* ggml's MXFP4 block (value j low, j+16 high in byte j) in OpenAI's nibble order. */
static void ow_mxfp4_to_openai(uint8_t *dst, const uint8_t *src, size_t n_blocks)
{
    for (size_t b = 0; b < n_blocks; b++, dst += 17, src += 17) {
        uint8_t v[32];
        for (int j = 0; j < 16; j++) {
            v[j] = src[1 + j] & 15;
            v[j + 16] = src[1 + j] >> 4;
        }
        dst[0] = src[0];
        for (int k = 0; k < 16; k++)
            dst[1 + k] = (uint8_t)(v[2 * k] | v[2 * k + 1] << 4);
    }
}

/* Rows of a and b (each `rows` rows of `row` bytes, in `slices` slices), alternating:
 * a's row i at 2i, b's at 2i+1. */
static uint8_t *ow_interleave(const struct gguf_tensor *a, const struct gguf_tensor *b,
                              size_t row, int64_t rows, int64_t slices)
{
    uint8_t *out = malloc((size_t)(2 * rows * slices) * row);
    for (int64_t s = 0; out && s < slices; s++)
        for (int64_t r = 0; r < rows; r++) {
            memcpy(out + (size_t)((s * rows + r) * 2) * row,
                   (const uint8_t *)a->data + (size_t)(s * rows + r) * row, row);
            memcpy(out + (size_t)((s * rows + r) * 2 + 1) * row,
                   (const uint8_t *)b->data + (size_t)(s * rows + r) * row, row);
        }
    return out;
}

/* q, k, v one after the other (all of their bytes). */
static uint8_t *ow_concat3(const struct gguf_tensor *q, const struct gguf_tensor *k,
                           const struct gguf_tensor *v)
{
    uint8_t *out = malloc(q->nbytes + k->nbytes + v->nbytes);
    if (out) {
        memcpy(out, q->data, q->nbytes);
        memcpy(out + q->nbytes, k->data, k->nbytes);
        memcpy(out + q->nbytes + k->nbytes, v->data, v->nbytes);
    }
    return out;
}

/* Writes src (a llama.cpp gpt-oss GGUF) as Ollama's gptoss into dst. Returns 0, or -1 with
 * a line in err. */
static int ollama_write_gptoss(const char *src, const char *dst, char *err, size_t errlen)
{
    struct gguf_file f;
    if (gguf_open(&f, src, err, errlen))
        return -1;
    struct gguf_writer *w = gguf_writer_new();
    uint8_t *owned[1024];
    static char oai[1024][128]; /* the tensors whose type id becomes 4 */
    int n_owned = 0, n_oai = 0, rc = 0;
    uint32_t ff_exp = 0;
    gguf_get_u32(&f, "gpt-oss.expert_feed_forward_length", &ff_exp, err, errlen);
    for (uint64_t i = 0; i < f.n_kv && rc == 0; i++) {
        const struct gguf_kv *kv = &f.kv[i];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (!strcmp(key, "general.architecture"))
            rc = gguf_writer_add_str(w, key, "gptoss");
        else if (!strcmp(key, "tokenizer.ggml.pre"))
            rc = gguf_writer_add_str(w, key, "default");
        else if (!strcmp(key, "general.alignment"))
            rc = gguf_writer_set_alignment(w, f.alignment);
        else if (!strcmp(key, "gpt-oss.feed_forward_length"))
            rc = gguf_writer_add_u32(w, "gptoss.feed_forward_length", ff_exp);
        else if (!strcmp(key, "gpt-oss.expert_feed_forward_length") ||
                 !strcmp(key, "gpt-oss.rope.scaling.type") ||
                 !strncmp(key, "gpt-oss.rope.scaling.yarn_beta", 30))
            continue;
        else if (!strncmp(key, "gpt-oss.", 8)) {
            char k2[256];
            snprintf(k2, sizeof k2, "gptoss.%s", key + 8);
            rc = ow_copy_kv(w, &f, kv, k2);
        } else {
            rc = ow_copy_kv(w, &f, kv, key);
        }
    }
    for (uint64_t i = 0; i < f.n_tensors && rc == 0 && n_owned < 1000; i++) {
        const struct gguf_tensor *t = &f.tensors[i];
        int il;
        char part[96], name[128];
        if (sscanf(t->name, "blk.%d.%95s", &il, part) != 2) {
            rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            continue;
        }
        /* the fused tensors are written where their first part was */
        char pre[32], other[128];
        snprintf(pre, sizeof pre, "blk.%d.", il);
        const char *suffix = strchr(part, '.'); /* ".weight" or ".bias" */
        if (!strncmp(part, "attn_k.", 7) || !strncmp(part, "attn_v.", 7) ||
            !strncmp(part, "ffn_up_exps.", 12))
            continue;
        if (!strncmp(part, "attn_q.", 7)) {
            snprintf(other, sizeof other, "%sattn_k%s", pre, suffix);
            const struct gguf_tensor *k = gguf_find_tensor(&f, other);
            snprintf(other, sizeof other, "%sattn_v%s", pre, suffix);
            const struct gguf_tensor *v = gguf_find_tensor(&f, other);
            if (!k || !v || k->type != t->type || v->type != t->type) {
                rc = -1;
                break;
            }
            int64_t ne[2] = { t->ne[0], t->ne[1] + k->ne[1] + v->ne[1] };
            if (t->n_dims == 1)
                ne[0] = t->ne[0] + k->ne[0] + v->ne[0];
            uint8_t *d = owned[n_owned++] = ow_concat3(t, k, v);
            snprintf(name, sizeof name, "%sattn_qkv%s", pre, suffix);
            rc = d ? gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne, d) : -1;
        } else if (!strncmp(part, "ffn_gate_exps.", 14)) {
            snprintf(other, sizeof other, "%sffn_up_exps%s", pre, suffix);
            const struct gguf_tensor *u = gguf_find_tensor(&f, other);
            if (!u || u->type != t->type) {
                rc = -1;
                break;
            }
            const bool bias = t->n_dims == 2;
            const size_t row = quant_row_size(t->type, t->ne[0]);
            const int64_t rows = bias ? 1 : t->ne[1], slices = bias ? t->ne[1] : t->ne[2];
            /* a bias is one row per expert of ne[0] values: alternate them value by value */
            uint8_t *d = owned[n_owned++] =
                bias ? ow_interleave(t, u, sizeof(float), t->ne[0] * t->ne[1], 1)
                     : ow_interleave(t, u, row, rows, slices);
            int64_t ne[3] = { t->ne[0], t->ne[1], t->ne[2] };
            if (bias)
                ne[0] *= 2;
            else
                ne[1] *= 2;
            snprintf(name, sizeof name, "%sffn_gate_up_exps%s", pre, suffix);
            if (d && t->type == GGML_TYPE_MXFP4) {
                ow_mxfp4_to_openai(d, d, 2 * t->nbytes / 17);
                snprintf(oai[n_oai++], sizeof oai[0], "%s", name);
            }
            rc = d ? gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne, d) : -1;
        } else {
            const char *to = !strcmp(part, "attn_output.weight")          ? "attn_out.weight"
                             : !strcmp(part, "attn_output.bias")          ? "attn_out.bias"
                             : !strcmp(part, "attn_sinks.weight")         ? "attn_sinks"
                             : !strcmp(part, "post_attention_norm.weight") ? "ffn_norm.weight"
                                                                           : part;
            snprintf(name, sizeof name, "%s%s", pre, to);
            const void *d = t->data;
            if (t->type == GGML_TYPE_MXFP4) {
                uint8_t *c = owned[n_owned++] = malloc(t->nbytes);
                if (c)
                    ow_mxfp4_to_openai(c, t->data, t->nbytes / 17);
                d = c;
                snprintf(oai[n_oai++], sizeof oai[0], "%s", name);
            }
            rc = d ? gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, d) : -1;
        }
    }
    /* our writer writes known types only: MXFP4's id is patched to 4 in the bytes */
    uint8_t *buf = NULL;
    uint64_t size = 0;
    struct gguf_file out;
    if (rc == 0 && gguf_writer_to_mem(w, &buf, &size, err, errlen) == 0 &&
        gguf_parse(&out, buf, size, dst, err, errlen) == 0) {
        for (int i = 0; i < n_oai; i++) {
            const struct gguf_tensor *t = gguf_find_tensor(&out, oai[i]);
            const uint32_t four = 4;
            /* the entry: name (u64 length + bytes), n_dims, n_dims x u64, type */
            memcpy(buf + t->info_offset + 8 + strlen(t->name) + 4 + 8 * t->n_dims, &four, 4);
        }
        gguf_close(&out);
        FILE *o = fopen(dst, "wb");
        rc = o && fwrite(buf, 1, size, o) == size ? 0 : -1;
        if (o && fclose(o))
            rc = -1;
        if (rc)
            snprintf(err, errlen, "%.300s: cannot write", dst);
    } else if (rc == 0) {
        rc = -1;
    } else {
        snprintf(err, errlen, "%.300s: cannot be rewritten as Ollama's gptoss", src);
    }
    free(buf);
    gguf_writer_free(w);
    for (int i = 0; i < n_owned; i++)
        free(owned[i]);
    gguf_close(&f);
    return rc;
}

#endif
