/* cli/model_store.c: finds the GGUF models on this machine (model_store.h). */
#include "model_store.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_open.h"
#include "text_escape.h"

const char *const model_source_names[MODEL_SRC_COUNT] = {
    [MODEL_SRC_OLLAMA] = "ollama",
    [MODEL_SRC_HF] = "huggingface",
    [MODEL_SRC_LMSTUDIO] = "lmstudio",
    [MODEL_SRC_DIRS] = "MOESCOPE_MODELS",
    [MODEL_SRC_CWD] = "current directory",
};

enum { MS_MANIFEST_MAX = 1 << 20, MS_DEPTH = 3 };

static const char ollama_model_type[] = "application/vnd.ollama.image.model";

/* snprintf into a path buffer; false when it does not fit (the entry is then skipped). */
static bool ms_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

/* ---- the list ---- */

struct ms_scan {
    struct model_list *l;
    bool oom;
};

static bool ms_ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcasecmp(s + n - t, tail) == 0;
}

/* "-00001-of-00003.gguf" at the end of name: *part and *count, and the length before it. */
static bool ms_split_part(const char *name, int *part, int *count, size_t *stem)
{
    size_t n = strlen(name);
    const size_t tail = strlen("-00001-of-00003.gguf");
    if (n < tail || !ms_ends_with(name, ".gguf"))
        return false;
    const char *t = name + n - tail;
    int p, c;
    char of[4];
    if (sscanf(t, "-%5d-%2[of]-%5d.gguf", &p, of, &c) != 3 || strcmp(of, "of") != 0 ||
        p < 1 || c < 1 || p > c)
        return false;
    for (int i = 1; i <= 5; i++)
        if (!isdigit((unsigned char)t[i]) || !isdigit((unsigned char)t[i + 9]))
            return false;
    *part = p;
    *count = c;
    *stem = n - tail;
    return true;
}

/* Adds path under name, or folds it into the split set it belongs to. */
static void ms_add(struct ms_scan *s, enum model_source src, const char *name, const char *path)
{
    struct stat st;
    if (s->oom || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    struct model_list *l = s->l;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].source != src && l->v[i].dev == (uint64_t)st.st_dev &&
            l->v[i].ino == (uint64_t)st.st_ino)
            return; /* the same file, reached from an earlier store (in one store two
                       names of one file are aliases, as Ollama's tags are: both stay) */
    int part = 1, count = 1;
    size_t stem = 0;
    bool split = ms_split_part(path, &part, &count, &stem);
    if (split) {
        /* Another part of a set already listed: count it there. */
        for (size_t i = 0; i < l->n; i++) {
            struct model_entry *e = &l->v[i];
            int p2, c2;
            size_t s2;
            if (e->n_parts_named == count && ms_split_part(e->path, &p2, &c2, &s2) &&
                s2 == stem && strncmp(e->path, path, stem) == 0) {
                if (e->source != src)
                    return; /* the set was listed from an earlier store */
                e->n_parts++;
                e->size += (uint64_t)st.st_size;
                if (part < p2) { /* the entry shows the first part */
                    snprintf(e->path, sizeof e->path, "%s", path);
                    snprintf(e->name, sizeof e->name, "%s", name);
                }
                return;
            }
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct model_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            s->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    struct model_entry *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->source = src;
    e->n_parts = 1;
    e->n_parts_named = split ? count : 1;
    e->size = (uint64_t)st.st_size;
    e->dev = (uint64_t)st.st_dev;
    e->ino = (uint64_t)st.st_ino;
}

/* Every *.gguf under dir (depth levels of folders), added as prefix + the path inside dir. */
static void ms_walk_gguf(struct ms_scan *s, enum model_source src, const char *dir,
                         const char *prefix, const char *rel, int depth)
{
    char here[4096];
    snprintf(here, sizeof here, "%s%s%s", dir, rel[0] ? "/" : "", rel);
    DIR *d = opendir(here);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && !s->oom) {
        if (de->d_name[0] == '.')
            continue;
        char full[4096], sub[1024];
        if (snprintf(full, sizeof full, "%s/%s", here, de->d_name) >= (int)sizeof full ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
                (int)sizeof sub)
            continue;
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                ms_walk_gguf(s, src, dir, prefix, sub, depth - 1);
        } else if (ms_ends_with(de->d_name, ".gguf")) {
            char name[1536];
            snprintf(name, sizeof name, "%s%s", prefix, sub);
            ms_add(s, src, name, full);
        }
    }
    closedir(d);
}

/* ---- Ollama ---- */

/* A small file's text (a manifest, a ref), or NULL: missing, not a regular file (a FIFO
 * would hang the listing), or larger than max. */
static char *ms_read_small(const char *path, size_t max)
{
    char why[128];
    struct stat st;
    int fd = file_open_regular(path, &st, why, sizeof why);
    if (fd < 0)
        return NULL;
    char *buf = (uint64_t)st.st_size <= max ? malloc((size_t)st.st_size + 1) : NULL;
    size_t n = 0;
    while (buf && n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (buf)
        buf[n] = 0;
    return buf;
}

/* The model blob a manifest names, as a path under root, or false. */
static bool ms_ollama_blob(const char *root, const char *manifest, char *blob, size_t bloblen)
{
    char *text = ms_read_small(manifest, MS_MANIFEST_MAX);
    if (!text)
        return false;
    cJSON *j = cJSON_Parse(text);
    free(text);
    bool ok = false;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers"), *layer;
    cJSON_ArrayForEach(layer, layers) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(layer, "mediaType");
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(layer, "digest");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, ollama_model_type) != 0 ||
            !cJSON_IsString(dg))
            continue;
        /* "sha256:HEX" is stored as blobs/sha256-HEX; nothing else may reach the path. */
        const char *d = dg->valuestring;
        const char *colon = strchr(d, ':');
        bool clean = colon && colon != d && strlen(d) < 200;
        for (const char *p = d; clean && *p; p++)
            clean = isalnum((unsigned char)*p) || (p == colon);
        if (clean) {
            snprintf(blob, bloblen, "%s/blobs/%.*s-%s", root, (int)(colon - d), d, colon + 1);
            ok = true;
        }
        break;
    }
    cJSON_Delete(j);
    return ok;
}

/* manifests/HOST/NAMESPACE/NAME/TAG: four levels, each a plain name. */
static void ms_ollama_root(struct ms_scan *s, const char *root)
{
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/manifests", root);
    DIR *hosts = opendir(mdir);
    if (!hosts)
        return;
    struct dirent *h;
    while ((h = readdir(hosts)) && !s->oom) {
        if (h->d_name[0] == '.')
            continue;
        char hdir[4096];
        if (!ms_fmt(hdir, sizeof hdir, "%s/%s", mdir, h->d_name))
            continue;
        DIR *nss = opendir(hdir);
        struct dirent *ns;
        while (nss && (ns = readdir(nss))) {
            if (ns->d_name[0] == '.')
                continue;
            char ndir[4096];
            if (!ms_fmt(ndir, sizeof ndir, "%s/%s", hdir, ns->d_name))
                continue;
            DIR *names = opendir(ndir);
            struct dirent *nm;
            while (names && (nm = readdir(names))) {
                if (nm->d_name[0] == '.')
                    continue;
                char tdir[4096];
                if (!ms_fmt(tdir, sizeof tdir, "%s/%s", ndir, nm->d_name))
                    continue;
                DIR *tags = opendir(tdir);
                struct dirent *tg;
                while (tags && (tg = readdir(tags))) {
                    if (tg->d_name[0] == '.')
                        continue;
                    char manifest[4096], blob[4096], name[1024];
                    if (snprintf(manifest, sizeof manifest, "%s/%s", tdir, tg->d_name) >=
                            (int)sizeof manifest ||
                        !ms_ollama_blob(root, manifest, blob, sizeof blob))
                        continue;
                    bool official = !strcmp(h->d_name, "registry.ollama.ai");
                    if (official && !strcmp(ns->d_name, "library"))
                        snprintf(name, sizeof name, "%s:%s", nm->d_name, tg->d_name);
                    else if (official)
                        snprintf(name, sizeof name, "%s/%s:%s", ns->d_name, nm->d_name,
                                 tg->d_name);
                    else
                        snprintf(name, sizeof name, "%s/%s/%s:%s", h->d_name, ns->d_name,
                                 nm->d_name, tg->d_name);
                    ms_add(s, MODEL_SRC_OLLAMA, name, blob);
                }
                if (tags)
                    closedir(tags);
            }
            if (names)
                closedir(names);
        }
        if (nss)
            closedir(nss);
    }
    closedir(hosts);
}

/* ---- the Hugging Face cache ---- */

static void ms_hf_repo(struct ms_scan *s, const char *hub, const char *dirname)
{
    /* models--ORG--NAME: the first "--" after the prefix parts the org from the name. */
    const char *rest = dirname + strlen("models--");
    const char *sep = strstr(rest, "--");
    char repo[512];
    if (sep)
        snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - rest), rest, sep + 2);
    else
        snprintf(repo, sizeof repo, "%s", rest);
    char prefix[600], refpath[4096], snaps[4096];
    snprintf(prefix, sizeof prefix, "%s:", repo);
    /* a path longer than PATH_MAX-ish buffers is no model of ours: skip it */
    if (snprintf(refpath, sizeof refpath, "%s/%s/refs/main", hub, dirname) >= (int)sizeof refpath ||
        snprintf(snaps, sizeof snaps, "%s/%s/snapshots", hub, dirname) >= (int)sizeof snaps)
        return;
    char *ref = ms_read_small(refpath, 256);
    if (ref) {
        ref[strcspn(ref, "\r\n")] = 0;
        bool clean = ref[0] != 0;
        for (const char *p = ref; clean && *p; p++)
            clean = isalnum((unsigned char)*p);
        if (clean) {
            char snap[4096];
            if (ms_fmt(snap, sizeof snap, "%s/%s", snaps, ref))
                ms_walk_gguf(s, MODEL_SRC_HF, snap, prefix, "", MS_DEPTH - 1);
        }
        free(ref);
        if (clean)
            return;
    }
    DIR *d = opendir(snaps);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char snap[4096];
        if (ms_fmt(snap, sizeof snap, "%s/%s", snaps, de->d_name))
            ms_walk_gguf(s, MODEL_SRC_HF, snap, prefix, "", MS_DEPTH - 1);
    }
    if (d)
        closedir(d);
}

static void ms_hf_hub(struct ms_scan *s, const char *hub)
{
    DIR *d = opendir(hub);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && !s->oom)
        if (strncmp(de->d_name, "models--", 8) == 0)
            ms_hf_repo(s, hub, de->d_name);
    closedir(d);
}

/* ---- the walk over every store ---- */

static int ms_by_name(const void *a, const void *b)
{
    const struct model_entry *x = a, *y = b;
    if (x->source != y->source)
        return (int)x->source - (int)y->source;
    return strcmp(x->name, y->name);
}

int model_list_find(struct model_list *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    struct ms_scan s = { .l = l };
    const char *home = getenv("HOME");
    char p[4096];

    const char *om = getenv("OLLAMA_MODELS");
    if (om && *om)
        ms_ollama_root(&s, om);
    if (home && *home) {
        snprintf(p, sizeof p, "%s/.ollama/models", home);
        ms_ollama_root(&s, p);
    }
    ms_ollama_root(&s, "/usr/share/ollama/.ollama/models");

    const char *hc = getenv("HF_HUB_CACHE"), *hh = getenv("HF_HOME");
    const char *xc = getenv("XDG_CACHE_HOME");
    if (hc && *hc)
        snprintf(p, sizeof p, "%s", hc);
    else if (hh && *hh)
        snprintf(p, sizeof p, "%s/hub", hh);
    else if (xc && *xc)
        snprintf(p, sizeof p, "%s/huggingface/hub", xc);
    else if (home && *home)
        snprintf(p, sizeof p, "%s/.cache/huggingface/hub", home);
    else
        p[0] = 0;
    if (p[0])
        ms_hf_hub(&s, p);

    static const char *const lms[] = { ".lmstudio/models", ".cache/lm-studio/models" };
    for (size_t i = 0; home && *home && i < sizeof lms / sizeof lms[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", home, lms[i]);
        size_t before = l->n;
        ms_walk_gguf(&s, MODEL_SRC_LMSTUDIO, p, "", "", 2);
        /* PUBLISHER/MODEL/FILE is shown PUBLISHER/MODEL:FILE. */
        for (size_t k = before; k < l->n; k++) {
            char *slash = strrchr(l->v[k].name, '/');
            if (slash && slash != strchr(l->v[k].name, '/'))
                *slash = ':';
        }
    }

    const char *mm = getenv("MOESCOPE_MODELS");
    if (mm && *mm) {
        char *dirs = strdup(mm), *save = NULL;
        for (char *tok = dirs ? strtok_r(dirs, ":", &save) : NULL; tok;
             tok = strtok_r(NULL, ":", &save)) {
            struct stat st;
            if (stat(tok, &st) == 0 && S_ISREG(st.st_mode)) {
                const char *base = strrchr(tok, '/');
                ms_add(&s, MODEL_SRC_DIRS, base ? base + 1 : tok, tok);
            } else {
                ms_walk_gguf(&s, MODEL_SRC_DIRS, tok, "", "", MS_DEPTH - 1);
            }
        }
        free(dirs);
    }
    ms_walk_gguf(&s, MODEL_SRC_CWD, ".", "./", "", 0);

    if (s.oom) {
        snprintf(err, errlen, "out of memory listing the models");
        model_list_free(l);
        return -1;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, ms_by_name);
    return 0;
}

void model_list_free(struct model_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- descriptions ---- */

int model_check(const char *path, struct model_desc *d, char *why, size_t whylen)
{
    char err[1024];
    if (model_describe(path, d, err, sizeof err) != 0) {
        /* The message names the file first: the caller already does. */
        size_t pl = strlen(path);
        const char *m = !strncmp(err, path, pl) && !strncmp(err + pl, ": ", 2) ? err + pl + 2
                                                                               : err;
        ms_fmt(why, whylen, "%s", m);
        return -1;
    }
    for (int t = 0; t < 64; t++)
        if (d->tensors_per_type[t] && !engine_type_computable((uint32_t)t)) {
            ms_fmt(why, whylen, "%u tensors are %s, which moescope cannot compute",
                   d->tensors_per_type[t], engine_type_name((uint32_t)t));
            return -1;
        }
    return 0;
}

static void ms_describe(struct model_entry *e)
{
    char why[sizeof e->why_not] = "";
    bool runs = model_check(e->path, &e->desc, why, sizeof why) == 0;
    e->described = runs || e->desc.arch[0];
    if (!runs) /* a split set with a missing or foreign part says which */
        snprintf(e->why_not, sizeof e->why_not, "%s", why);
    if (e->n_parts < e->n_parts_named && !e->why_not[0])
        snprintf(e->why_not, sizeof e->why_not, "%d of its %d parts are missing",
                 e->n_parts_named - e->n_parts, e->n_parts_named);
    if (!e->described)
        return;
    /* The main type: the one most tensors that are not f32 have (norms are f32). */
    int best = -1;
    for (int t = 1; t < 64; t++)
        if (e->desc.tensors_per_type[t] &&
            (best < 0 || e->desc.tensors_per_type[t] > e->desc.tensors_per_type[best]))
            best = t;
    snprintf(e->main_type, sizeof e->main_type, "%s",
             engine_type_name(best < 0 ? 0 : (uint32_t)best));
}

void model_list_describe(struct model_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ms_describe(&l->v[i]);
}

/* ---- -m NAME ---- */

/* Whether word occurs in s (case-insensitive) with no letter, digit or '_' around it. */
static bool ms_has_word(const char *s, const char *word)
{
    size_t w = strlen(word);
    if (w == 0)
        return false;
    for (const char *p = s; *p; p++) {
        if (strncasecmp(p, word, w) != 0)
            continue;
        bool before = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        bool after = !(isalnum((unsigned char)p[w]) || p[w] == '_');
        if (before && after)
            return true;
    }
    return false;
}

static bool ms_contains_nocase(const char *s, const char *part)
{
    size_t n = strlen(part);
    for (const char *p = s; *p; p++)
        if (strncasecmp(p, part, n) == 0)
            return true;
    return false;
}

enum ms_rule { MS_EXACT, MS_LATEST, MS_REPO_QUANT, MS_REPO, MS_PART, MS_RULE_COUNT };

static bool ms_matches(enum ms_rule r, const char *name, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    size_t al = strlen(arg);
    switch (r) {
    case MS_EXACT:
        return strcmp(name, arg) == 0;
    case MS_LATEST:
        return !colon && strncmp(name, arg, al) == 0 && strcmp(name + al, ":latest") == 0;
    case MS_REPO_QUANT: {
        if (!colon || !strchr(arg, '/'))
            return false;
        size_t rl = (size_t)(colon - arg);
        return strncasecmp(name, arg, rl) == 0 && name[rl] == ':' &&
               ms_has_word(name + rl + 1, colon + 1);
    }
    case MS_REPO:
        return !colon && strchr(arg, '/') && strncasecmp(name, arg, al) == 0 && name[al] == ':';
    case MS_PART:
        return ms_contains_nocase(name, arg);
    case MS_RULE_COUNT:
        break;
    }
    return false;
}

int model_resolve(const char *arg, char *path, size_t pathlen, char *err, size_t errlen)
{
    struct stat st;
    if (strstr(arg, "://") || stat(arg, &st) == 0) {
        snprintf(path, pathlen, "%s", arg); /* a URL, or a path (the engine says if bad) */
        return 0;
    }
    char shown[1024];
    text_escape_line(arg, strlen(arg), shown, sizeof shown);
    struct model_list l;
    if (model_list_find(&l, err, errlen) != 0)
        return -1;
    int rc = -1;
    bool ambiguous = false;
    for (int r = 0; r < MS_RULE_COUNT && rc < 0 && !ambiguous; r++) {
        size_t n = 0, first = 0;
        for (size_t i = 0; i < l.n; i++)
            if (ms_matches((enum ms_rule)r, l.v[i].name, arg) && n++ == 0)
                first = i;
        if (n == 1) {
            snprintf(path, pathlen, "%s", l.v[first].path);
            rc = 0;
        } else if (n > 1) {
            ambiguous = true;
            int o = snprintf(err, errlen, "'%s' could be any of %zu models:", shown, n);
            size_t listed = 0;
            for (size_t i = 0; i < l.n && o > 0 && (size_t)o < errlen; i++) {
                if (!ms_matches((enum ms_rule)r, l.v[i].name, arg))
                    continue;
                char nm[600];
                text_escape_line(l.v[i].name, strlen(l.v[i].name), nm, sizeof nm);
                int w = snprintf(err + o, errlen - (size_t)o, "%s %s (%s)", listed ? "," : "",
                                 nm, model_source_names[l.v[i].source]);
                if (w < 0 || (size_t)(o + w) >= errlen)
                    break;
                o += w;
                listed++;
            }
            if (listed < n && (size_t)o + 24 < errlen)
                snprintf(err + o, errlen - (size_t)o, " and %zu more", n - listed);
        }
    }
    if (rc < 0 && !ambiguous)
        snprintf(err, errlen, "%s: no such file, and no model of that name among the %zu that "
                 "`moescope models` lists", shown, l.n);
    model_list_free(&l);
    return rc;
}
