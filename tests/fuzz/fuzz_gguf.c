/* tests/fuzz/fuzz_gguf.c: libFuzzer entry for the GGUF reader and the model loader on it.
 *
 * gguf_parse must refuse any input it cannot vouch for with -1 and one line, and every
 * accessor must stay inside the buffer on anything it accepts. What it accepts then goes
 * through model_from_memory (architecture, hyper-parameters, every tensor's role, type and
 * shape): it too refuses with one line naming the file, or binds weights that lie inside
 * the buffer. Seeds: small synth outputs
 * and cut fixtures in tests/fuzz/corpus/fuzz_gguf/ (any GGUF file will do). */
#include "gguf.h"
#include "model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every key through every getter and every array element, and touches every tensor's
 * first and last data byte, so that a wrong bound shows up under AddressSanitizer. */
static void fuzz_walk(const struct gguf_file *f)
{
    char err[512], buf[64];
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        char key[128];
        size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, n);
        key[n] = '\0';
        uint32_t u32;
        uint64_t u64;
        int32_t i32;
        float fl;
        bool b;
        struct gguf_str s;
        sink += (uint64_t)gguf_get_u32(f, key, &u32, err, sizeof err);
        sink += (uint64_t)gguf_get_u64(f, key, &u64, err, sizeof err);
        sink += (uint64_t)gguf_get_i32(f, key, &i32, err, sizeof err);
        sink += (uint64_t)gguf_get_f32(f, key, &fl, err, sizeof err);
        sink += (uint64_t)gguf_get_bool(f, key, &b, err, sizeof err);
        if (gguf_get_str(f, key, &s, err, sizeof err) == 0 && s.len)
            sink += (uint8_t)s.ptr[s.len - 1];
        sink += (uint64_t)gguf_get_strz(f, key, buf, sizeof buf, err, sizeof err);
        if (kv->type != GGUF_VT_ARRAY)
            continue;
        if (kv->arr_type == GGUF_VT_STRING) {
            struct gguf_str *all = malloc((size_t)kv->arr_n * sizeof *all + 1);
            if (all && gguf_arr_strings(kv, all) == 0)
                for (uint64_t k = 0; k < kv->arr_n; k++)
                    if (all[k].len)
                        sink += (uint8_t)all[k].ptr[all[k].len - 1];
            free(all);
        } else {
            for (uint64_t k = 0; k < kv->arr_n && k < 4096; k++) {
                sink += (uint64_t)gguf_arr_get_f32(kv, k, &fl);
                sink += (uint64_t)gguf_arr_get_i32(kv, k, &i32);
            }
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (gguf_find_tensor(f, t->name) != t)
            __builtin_trap();
        if (t->nbytes) {
            const uint8_t *d = t->data;
            sink += d[0] + d[t->nbytes - 1];
        }
    }
    (void)sink;
}

/* The contract of a refusal: one line that names the file. */
static void fuzz_check_message(const char *err)
{
    if (!strstr(err, "fuzz.gguf") || strchr(err, '\n'))
        __builtin_trap();
}

/* Touches the first and last byte of a bound weight (every expert's slice together). */
static uint64_t fuzz_touch(const struct wt *w)
{
    if (!w->data)
        return 0;
    const uint64_t bytes = (uint64_t)w->nb2 * (uint64_t)(w->ne[2] > 0 ? w->ne[2] : 1);
    return bytes ? (uint64_t)w->data[0] + w->data[bytes - 1] : 0;
}

static void fuzz_model(const uint8_t *data, size_t size)
{
    struct model m;
    char err[512] = "";
    if (model_from_memory(&m, data, size, "fuzz.gguf", err, sizeof err) != 0) {
        fuzz_check_message(err);
        return;
    }
    volatile uint64_t sink = fuzz_touch(&m.tok_embd) + fuzz_touch(&m.output_norm) +
                             fuzz_touch(&m.output);
    for (int l = 0; l < m.hp.n_layers; l++)
        for (int r = 0; r < AT_COUNT; r++)
            sink += fuzz_touch(&m.layers[l].t[r]);
    struct model_desc d;
    model_fill_desc(&m, &d);
    sink += d.active_bytes;
    (void)sink;
    model_close(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file f;
    char err[512];
    err[0] = '\0';
    if (gguf_parse(&f, data, size, "fuzz.gguf", err, sizeof err) == 0) {
        fuzz_walk(&f);
        gguf_close(&f);
        fuzz_model(data, size);
        return 0;
    }
    fuzz_check_message(err);
    return 0;
}
