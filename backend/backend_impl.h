/* backend/backend_impl.h: what an implementation of backend.h provides (local and remote). */
#ifndef MOESCOPE_BACKEND_IMPL_H
#define MOESCOPE_BACKEND_IMPL_H

#include "backend.h"

struct backend_ops {
    int (*generate)(struct backend *b, const struct backend_request *rq, struct trace_log *log,
                    struct backend_result *res);
    size_t (*token_piece)(const struct backend *b, int32_t id, char *buf, size_t buflen);
    void (*close)(struct backend *b);
};

/* The first member of every implementation's own struct. */
struct backend {
    const struct backend_ops *ops;
    struct backend_info info;
    struct engine *engine;     /* local only */
};

struct backend *backend_local_open(const struct backend_params *p, char *err, size_t errlen);
struct backend *backend_remote_open(const struct backend_params *p, char *err, size_t errlen);

#endif
