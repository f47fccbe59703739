/* tests/fuzz/fuzz_ollama.c: libFuzzer entry for Ollama's NDJSON stream (remote/ollama.c, the
 * --native API), as a turn reads it: lines split as the bytes arrive, each line's JSON taken
 * as records (logprobs entries or the text), the done line's durations as the server's
 * figures, spread over the records at the end.
 *
 * The input is the stream; its first byte seeds the sizes of the reads it is handed in, as
 * libcurl would cut it anywhere. Whatever the bytes: no crash, a stop always says why, a byte
 * offset it names is inside the stream, every record's piece is inside the log's text, and
 * the server's time of the records is never more than it reported. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ollama_api.h"
#include "turn_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 20)
        return 0;
    struct remote r;
    memset(&r, 0, sizeof r);
    snprintf(r.base.info.url, sizeof r.base.info.url, "http://fuzz/v1");
    struct trace_log log;
    if (pieces_init(&r.pieces) != 0)
        return 0;
    if (trace_log_init(&log, 0, 0, 0) != 0 || trace_log_push(&log, 0, "", 0, true) < 0) {
        pieces_free(&r.pieces);
        return 0;
    }
    struct backend_request rq;
    memset(&rq, 0, sizeof rq);
    struct backend_result res;
    memset(&res, 0, sizeof res);
    res.server_prompt_ms = res.server_predicted_ms = res.server_load_ms = -1;
    res.server_total_ms = -1;
    res.server_prompt_n = res.server_predicted_n = res.server_cache_n = -1;
    struct turn t = { .r = &r, .rq = &rq, .log = &log, .res = &res, .streamed = true,
                      .native = true };
    t.t0 = turn_now();

    const char *s = (const char *)data + 1;
    size_t n = size - 1, at = 0;
    uint32_t seed = data[0] * 2654435761u + 1;
    int rc = 0;
    while (rc == 0 && at < n) {
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % 97;
        if (step > n - at)
            step = n - at;
        rc = ollama_on_body(&t, s + at, step);
        at += step;
    }
    if (rc == 0)
        rc = ollama_finish(&t);
    if (rc < 0 && !t.err[0])
        __builtin_trap(); /* a stop with no line saying why */
    /* (only moescope's own lines: a server's error message may say anything) */
    const char *b = !strncmp(t.err, "malformed JSON at byte ", 23) ? t.err + 23 : NULL;
    if (rc < 0 && b && strtoull(b, NULL, 10) > n)
        __builtin_trap(); /* an offset past the stream */
    turn_server_times_spread(&t);
    if (res.n_gen != log.n - 1)
        __builtin_trap();
    uint64_t server_ns = 0;
    for (size_t i = 0; i < log.n; i++) {
        if ((uint64_t)log.tok[i].piece_off + log.tok[i].piece_len > log.text_len)
            __builtin_trap();
        server_ns += log.tok[i].ns_server;
    }
    double reported = (res.server_prompt_ms > 0 ? res.server_prompt_ms : 0) +
                      (res.server_predicted_ms > 0 ? res.server_predicted_ms : 0);
    if ((double)server_ns > reported * 1e6 + (double)log.n)
        __builtin_trap(); /* (rounding: under 1 ns a record) */
    free(t.body);
    trace_log_free(&log);
    pieces_free(&r.pieces);
    return 0;
}
