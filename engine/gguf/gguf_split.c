/* engine/gguf/gguf_split.c: a model split into several GGUF files, opened as one.
 *
 * llama.cpp's gguf-split writes NAME-00001-of-00003.gguf, NAME-00002-of-00003.gguf, ...:
 * every part carries split.no (0-based), split.count and split.tensors.count (the tensors of
 * the whole set); the first part alone carries the model's other keys. Given any part,
 * gguf_open_set finds the others by that naming, opens each (each is parsed and checked on
 * its own, as gguf_open does), checks that they agree, and joins their tensor tables into
 * the first part's gguf_file. The tensors keep pointing into their own part's map. */
#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Names of the split keys, as llama.cpp's LLM_KV_SPLIT_* */
static const char key_no[] = "split.no", key_count[] = "split.count",
                  key_tensors[] = "split.tensors.count";

enum { SPLIT_MAX_PARTS = 99999 }; /* what the five-digit names can count */

/* The split keys of f: 1 when it is not part of a set (no split.count, or 1), 0 with the
 * keys set, -1 on a wrong key. */
static int split_keys(const struct gguf_file *f, uint32_t *no, uint32_t *count,
                      uint64_t *n_tensors, char *err, size_t errlen)
{
    int rc = gguf_get_u32(f, key_count, count, err, errlen);
    if (rc)
        return rc;
    if (*count <= 1)
        return 1;
    if (*count > SPLIT_MAX_PARTS)
        return gguf_fail(f->path, err, errlen, "%s is %u, more parts than a split name can "
                         "number (%d)", key_count, *count, SPLIT_MAX_PARTS);
    rc = gguf_get_u32(f, key_no, no, err, errlen);
    if (rc == 0)
        rc = gguf_get_u64(f, key_tensors, n_tensors, err, errlen);
    if (rc == 1)
        return gguf_fail(f->path, err, errlen, "%s is %u but the key '%s' is missing: not a "
                         "whole split part", key_count, *count,
                         gguf_find(f, key_no) ? key_tensors : key_no);
    if (rc)
        return -1;
    if (*no >= *count)
        return gguf_fail(f->path, err, errlen, "%s is %u, but the set has %u parts (%s "
                         "counts from 0)", key_no, *no, *count, key_no);
    return 0;
}

static int split_open_one(struct gguf_file *f, const char *path, bool header_only, char *err,
                          size_t errlen)
{
    return header_only ? gguf_open_header(f, path, err, errlen)
                       : gguf_open(f, path, err, errlen);
}

/* The tensors of parts[0..n) moved into parts[0], in part order; a name in two parts is
 * refused. The other parts are left with their keys and maps only. */
static int split_join_tensors(struct gguf_file *parts, uint32_t n, uint64_t total, char *err,
                              size_t errlen)
{
    struct gguf_tensor *all = calloc(total ? total : 1, sizeof *all);
    uint32_t *sorted = malloc((total ? total : 1) * sizeof *sorted);
    uint32_t *part_idx = malloc((total ? total : 1) * sizeof *part_idx); /* for a message */
    if (!all || !sorted || !part_idx) {
        free(all);
        free(sorted);
        free(part_idx);
        return gguf_fail(parts[0].path, err, errlen, "out of memory joining the split parts");
    }
    uint64_t k = 0;
    for (uint32_t p = 0; p < n; p++)
        for (uint64_t i = 0; i < parts[p].n_tensors; i++, k++) {
            all[k] = parts[p].tensors[i];
            part_idx[k] = p;
        }
    struct gguf_file joined = parts[0];
    joined.tensors = all;
    joined.n_tensors = total;
    joined.tensor_sorted = sorted;
    uint64_t dup = gguf_sort_tensors(&joined);
    if (dup < total) { /* sorted[dup - 1] and sorted[dup] have one name */
        uint32_t pa = part_idx[sorted[dup - 1]], pb = part_idx[sorted[dup]];
        if (pa > pb) {
            uint32_t x = pa;
            pa = pb;
            pb = x;
        }
        gguf_fail(parts[pb].path, err, errlen, "tensor '%.64s' is in part %u and again in "
                  "part %u of the split model", all[sorted[dup]].name, pa + 1, pb + 1);
        free(all);
        free(sorted);
        free(part_idx);
        return -1;
    }
    free(part_idx);
    /* the names now belong to the joined table */
    for (uint32_t p = 0; p < n; p++) {
        free(parts[p].tensors);
        free(parts[p].tensor_sorted);
        parts[p].tensors = NULL;
        parts[p].tensor_sorted = NULL;
        parts[p].n_tensors = 0;
    }
    parts[0].tensors = all;
    parts[0].tensor_sorted = sorted;
    parts[0].n_tensors = total;
    return 0;
}

int gguf_open_set(struct gguf_file *f, const char *path, bool header_only, char *err,
                  size_t errlen)
{
    memset(f, 0, sizeof *f);
    struct gguf_file given;
    if (split_open_one(&given, path, header_only, err, errlen))
        return -1;
    uint32_t no = 0, count = 1;
    uint64_t n_total = 0;
    int rc = split_keys(&given, &no, &count, &n_total, err, errlen);
    if (rc) {
        if (rc < 0) {
            gguf_close(&given);
            return -1;
        }
        *f = given;
        return 0;
    }
    /* NAME-0000K-of-0000N.gguf: the other parts' names from this one's */
    char tail[48];
    snprintf(tail, sizeof tail, "-%05u-of-%05u.gguf", no + 1, count);
    const size_t n = strlen(path), t = strlen(tail);
    if (n <= t || strcmp(path + n - t, tail) != 0) {
        gguf_fail(path, err, errlen, "part %u of a model split into %u files, but the name "
                  "does not end in '%s', so the other parts cannot be found", no + 1, count,
                  tail);
        gguf_close(&given);
        return -1;
    }
    struct gguf_file *parts = calloc(count, sizeof *parts);
    if (!parts) {
        gguf_close(&given);
        return gguf_fail(path, err, errlen, "out of memory for %u split parts", count);
    }
    parts[no] = given;
    uint64_t sum = 0;
    rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        char part[sizeof parts[0].path + 64];
        snprintf(part, sizeof part, "%.*s-%05u-of-%05u.gguf", (int)(n - t), path, i + 1, count);
        struct stat st;
        if (i != no && stat(part, &st) != 0 && errno == ENOENT) {
            rc = gguf_fail(part, err, errlen, "part %u of the %u files of the split model "
                           "'%s' is missing", i + 1, count, path);
            break;
        }
        if (i != no && split_open_one(&parts[i], part, header_only, err, errlen)) {
            rc = -1;
            break;
        }
        uint32_t pno = 0, pcount = 1;
        uint64_t ptotal = 0;
        int k = split_keys(&parts[i], &pno, &pcount, &ptotal, err, errlen);
        if (k < 0) {
            rc = -1;
        } else if (k == 1 || pcount != count) {
            rc = gguf_fail(parts[i].path, err, errlen, "%s is %u, but '%s' says the model is "
                           "split into %u files: the parts do not belong together",
                           key_count, k == 1 ? 1 : pcount, path, count);
        } else if (pno != i) {
            rc = gguf_fail(parts[i].path, err, errlen, "%s is %u (part %u), but its name says "
                           "part %u of %u", key_no, pno, pno + 1, i + 1, count);
        } else if (ptotal != n_total) {
            char a[32], b[32];
            rc = gguf_fail(parts[i].path, err, errlen, "%s is %s, but '%s' says %s: the parts "
                           "do not belong together", key_tensors, gguf_fmt_u64(ptotal, a),
                           path, gguf_fmt_u64(n_total, b));
        }
        sum += parts[i].n_tensors;
    }
    if (rc == 0 && sum != n_total) {
        char a[32], b[32];
        rc = gguf_fail(parts[0].path, err, errlen, "the %u parts hold %s tensors, but %s says "
                       "%s", count, gguf_fmt_u64(sum, a), key_tensors, gguf_fmt_u64(n_total, b));
    }
    if (rc == 0)
        rc = split_join_tensors(parts, count, n_total, err, errlen);
    if (rc) {
        for (uint32_t i = 0; i < count; i++)
            gguf_close(&parts[i]);
        free(parts);
        return -1;
    }
    *f = parts[0];
    f->split_count = count;
    if (count > 1) {
        f->split_parts = malloc((count - 1) * sizeof *f->split_parts);
        if (!f->split_parts) {
            for (uint32_t i = 0; i < count; i++)
                gguf_close(&parts[i]);
            free(parts);
            memset(f, 0, sizeof *f);
            return gguf_fail(path, err, errlen, "out of memory for %u split parts", count);
        }
        memcpy(f->split_parts, parts + 1, (count - 1) * sizeof *parts);
    }
    free(parts);
    return 0;
}

uint64_t gguf_set_size(const struct gguf_file *f)
{
    uint64_t size = f->size;
    for (uint32_t i = 0; i + 1 < f->split_count; i++)
        size += f->split_parts[i].size;
    return size;
}
