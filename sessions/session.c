/* sessions/session.c: the in-memory session (session.h): messages, ranges, model identity. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const session_role_names[SESSION_ROLE_COUNT] = {
    [SESSION_SYSTEM] = "system",
    [SESSION_USER] = "user",
    [SESSION_ASSISTANT] = "assistant",
};

static void session_now(char out[24])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A random 128-bit id in hex; falls back on time and pid if getrandom is missing. */
static void session_new_id(char id[SESSION_ID_LEN + 1])
{
    unsigned char b[SESSION_ID_LEN / 2];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                     ((uint64_t)getpid() << 17);
        for (size_t i = 0; i < sizeof b; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof b; i++) {
        id[2 * i] = hex[b[i] >> 4];
        id[2 * i + 1] = hex[b[i] & 15];
    }
    id[SESSION_ID_LEN] = 0;
}

int session_init(struct session *s, int n_layers, int n_experts, int n_experts_used)
{
    memset(s, 0, sizeof *s);
    if (trace_log_init(&s->log, n_layers, n_experts, n_experts_used) != 0)
        return -1;
    session_new_id(s->id);
    session_now(s->created);
    memcpy(s->updated, s->created, sizeof s->updated);
    sampler_params_default(&s->sampler);
    s->model.n_layers = n_layers;
    s->model.n_experts = n_experts;
    s->model.n_experts_used = n_experts_used;
    return 0;
}

void session_free(struct session *s)
{
    for (size_t i = 0; i < s->n_msg; i++)
        free(s->msg[i].content);
    free(s->msg);
    free(s->system_prompt);
    trace_log_free(&s->log);
    memset(s, 0, sizeof *s);
}

void session_touch(struct session *s)
{
    session_now(s->updated);
}

/* End of the last non-empty range among messages [0, m): where the next range starts. */
static size_t session_range_cursor(const struct session *s, size_t m)
{
    for (size_t i = m; i-- > 0;)
        if (s->msg[i].trace_end > s->msg[i].trace_begin)
            return s->msg[i].trace_end;
    return 0;
}

long session_add_message(struct session *s, enum session_role role, const char *content,
                         size_t len)
{
    if (s->n_msg == s->cap_msg) {
        size_t cap = s->cap_msg ? s->cap_msg * 2 : 8;
        struct session_message *m = realloc(s->msg, cap * sizeof *m);
        if (!m)
            return -1;
        s->msg = m;
        s->cap_msg = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, content, len);
    copy[len] = 0;
    struct session_message *m = &s->msg[s->n_msg];
    m->role = role;
    m->content = copy;
    m->content_len = len;
    m->trace_begin = m->trace_end = 0;
    m->out_of_context = false;
    if (role == SESSION_ASSISTANT) {
        size_t begin = session_range_cursor(s, s->n_msg);
        if (s->log.n > begin) {
            m->trace_begin = begin;
            m->trace_end = s->log.n;
        }
    }
    session_touch(s);
    return (long)s->n_msg++;
}

void session_set_range(struct session *s, size_t m, size_t begin, size_t end)
{
    if (m < s->n_msg) {
        s->msg[m].trace_begin = begin;
        s->msg[m].trace_end = end;
    }
}

void session_truncate(struct session *s, size_t m)
{
    if (m >= s->n_msg)
        return;
    size_t keep = session_range_cursor(s, m);
    for (size_t i = m; i < s->n_msg; i++)
        free(s->msg[i].content);
    s->n_msg = m;
    if (s->log.n > keep)
        trace_log_truncate(&s->log, keep);
    session_touch(s);
}

int session_set_system_prompt(struct session *s, const char *text)
{
    char *copy = NULL;
    if (text && !(copy = strdup(text)))
        return -1;
    free(s->system_prompt);
    s->system_prompt = copy;
    session_touch(s);
    return 0;
}

int session_check(const struct session *s, char *err, size_t errlen)
{
    size_t cursor = 0;
    for (size_t i = 0; i < s->n_msg; i++) {
        const struct session_message *m = &s->msg[i];
        if (m->trace_begin == m->trace_end)
            continue;
        if (m->trace_begin > m->trace_end || m->trace_begin != cursor ||
            m->trace_end > s->log.n) {
            snprintf(err, errlen,
                     "message %zu owns records [%zu, %zu), expected a range starting at %zu "
                     "within the %zu records",
                     i, m->trace_begin, m->trace_end, cursor, s->log.n);
            return -1;
        }
        cursor = m->trace_end;
    }
    if (cursor != s->log.n) {
        snprintf(err, errlen, "records [%zu, %zu) belong to no message", cursor, s->log.n);
        return -1;
    }
    return 0;
}

/* ---- model identity ---- */

int session_hash_file(const char *path, uint64_t *hash, uint64_t *hashed, char *err,
                      size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    uint64_t total = 0;
    unsigned char buf[16384];
    while (total < SESSION_HASH_BYTES) {
        size_t want = sizeof buf;
        if (SESSION_HASH_BYTES - total < want)
            want = (size_t)(SESSION_HASH_BYTES - total);
        ssize_t r = read(fd, buf, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: read at offset %llu: %s", path,
                     (unsigned long long)total, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            h = (h ^ buf[i]) * 0x100000001b3ull;
        total += (uint64_t)r;
    }
    close(fd);
    *hash = h;
    *hashed = total;
    return 0;
}

/* Copies a C string, cut to fit (names only: a cut name still identifies). */
static void session_copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

int session_model_from_desc(struct session_model *m, const struct model_desc *d, char *err,
                            size_t errlen)
{
    memset(m, 0, sizeof *m);
    const char *slash = strrchr(d->path, '/');
    session_copy_str(m->file, sizeof m->file, slash ? slash + 1 : d->path);
    session_copy_str(m->name, sizeof m->name, d->name);
    session_copy_str(m->arch, sizeof m->arch, d->arch);
    session_copy_str(m->chat, sizeof m->chat, d->chat_style[0] ? d->chat_style : d->chat_family);
    m->size = d->file_size;
    m->n_layers = d->n_layers;
    m->n_experts = d->n_experts;
    m->n_experts_used = d->n_experts_used;
    m->d_model = d->d_model;
    m->n_vocab = d->n_vocab;
    m->active_bytes = d->active_bytes;
    m->expert_bytes = d->expert_bytes;
    if (!strncasecmp(d->path, "http://", 7) || !strncasecmp(d->path, "https://", 8)) {
        m->file[0] = 0; /* a server: no file to hash */
        session_copy_str(m->backend, sizeof m->backend, d->arch);
        session_copy_str(m->url, sizeof m->url, d->path);
        return 0;
    }
    return session_hash_file(d->path, &m->hash, &m->hash_bytes, err, errlen);
}

int session_set_model(struct session *s, const struct model_desc *d, char *err, size_t errlen)
{
    struct session_model m;
    if (session_model_from_desc(&m, d, err, errlen) != 0)
        return -1;
    if (s->log.n_layers != m.n_layers || s->log.n_experts != m.n_experts ||
        s->log.n_experts_used != m.n_experts_used) {
        if (s->log.n > 0) {
            snprintf(err, errlen,
                     "%s: %d layers, %d experts, k = %d, but the session's records have %d, "
                     "%d, %d",
                     m.file, m.n_layers, m.n_experts, m.n_experts_used, s->log.n_layers,
                     s->log.n_experts, s->log.n_experts_used);
            return -1;
        }
        struct trace_log fresh;
        if (trace_log_init(&fresh, m.n_layers, m.n_experts, m.n_experts_used) != 0) {
            snprintf(err, errlen, "%s: out of memory", m.file);
            return -1;
        }
        trace_log_free(&s->log);
        s->log = fresh;
    }
    s->model = m;
    return 0;
}

int session_model_differs(const struct session_model *a, const struct session_model *b,
                          char *why, size_t whylen)
{
    if (a->n_layers != b->n_layers || a->n_experts != b->n_experts ||
        a->n_experts_used != b->n_experts_used || a->d_model != b->d_model ||
        a->n_vocab != b->n_vocab) {
        snprintf(why, whylen,
                 "the model's shape differs: %d layers, %d experts, k = %d, d_model %d, vocab "
                 "%d against the session's %d, %d, %d, %d, %d",
                 b->n_layers, b->n_experts, b->n_experts_used, b->d_model, b->n_vocab,
                 a->n_layers, a->n_experts, a->n_experts_used, a->d_model, a->n_vocab);
        return 1;
    }
    if (strcmp(a->url, b->url) != 0) {
        snprintf(why, whylen, "a different engine: %s against the session's %s",
                 b->url[0] ? b->url : b->file, a->url[0] ? a->url : a->file);
        return 1;
    }
    if (a->size != b->size || a->hash != b->hash || a->hash_bytes != b->hash_bytes ||
        strcmp(a->arch, b->arch) != 0) {
        snprintf(why, whylen,
                 "a different file: %s (%llu bytes, header hash %016llx) against the "
                 "session's %s (%llu bytes, %016llx)",
                 b->file, (unsigned long long)b->size, (unsigned long long)b->hash, a->file,
                 (unsigned long long)a->size, (unsigned long long)a->hash);
        return 1;
    }
    if (whylen)
        why[0] = 0;
    return 0;
}

/* ---- autosave names ---- */

static int session_mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int session_autosave_path(const struct session *s, char *buf, size_t buflen, char *err,
                          size_t errlen)
{
    char dir[4096];
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/moescope/sessions", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/share/moescope/sessions", home);
    else {
        snprintf(err, errlen, "autosave: neither XDG_DATA_HOME nor HOME is set");
        return -1;
    }
    if (session_mkdirs(dir) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }

    /* "2026-11-23T10-47-12" then up to five words of the first user message. */
    char stamp[24];
    snprintf(stamp, sizeof stamp, "%s", s->created);
    for (char *p = stamp; *p; p++)
        if (*p == ':')
            *p = '-';
    size_t zl = strlen(stamp);
    if (zl && stamp[zl - 1] == 'Z')
        stamp[zl - 1] = 0;
    char words[48] = "";
    size_t wl = 0;
    for (size_t i = 0; i < s->n_msg; i++) {
        if (s->msg[i].role != SESSION_USER)
            continue;
        int n_words = 0;
        bool in_word = false;
        for (size_t j = 0; j < s->msg[i].content_len && wl < sizeof words - 2; j++) {
            unsigned char c = (unsigned char)s->msg[i].content[j];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9');
            if (alnum) {
                if (!in_word) {
                    if (n_words == 5)
                        break;
                    n_words++;
                    words[wl++] = '-';
                }
                words[wl++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                in_word = true;
            } else {
                in_word = false;
            }
        }
        words[wl] = 0;
        break;
    }
    /* A name nothing has yet: two copies of the app can start the same conversation in the
     * same second, and a clash would leave the second one unable to save. So when the plain
     * name is taken, the session's id goes into it, then a counter. */
    for (int k = 0; k < 100; k++) {
        int n = k == 0 ? snprintf(buf, buflen, "%s/%s%s.json", dir, stamp, words)
                : k == 1 ? snprintf(buf, buflen, "%s/%s%s-%.8s.json", dir, stamp, words, s->id)
                         : snprintf(buf, buflen, "%s/%s%s-%.8s-%d.json", dir, stamp, words,
                                    s->id, k);
        if (n < 0 || (size_t)n >= buflen) {
            snprintf(err, errlen, "%s: autosave path too long", dir);
            return -1;
        }
        struct stat st;
        if (lstat(buf, &st) != 0 && errno == ENOENT)
            return 0;
    }
    snprintf(err, errlen, "%s: no free autosave name for %s%s", dir, stamp, words);
    return -1;
}
