/* cli/bench_parallel.c: `moescope bench [-m MODEL] --parallel 1,2,4,8,16`: the in-process
 * engine serving several requests at once (engine_batch: one step = one token for every
 * live sequence, the experts of all of them grouped, each weight read once per step).
 *
 * Per level L: N requests (default max(8, 2 L), as the server bench) arrive all at once or
 * as a Poisson process (--arrival poisson:RATE, seeded); at most L are live, the others
 * wait in arrival order and join between steps as slots free (continuous batching). Each
 * request is P prompt tokens (a different English text per request) and G sampled tokens
 * (temperature 0.8, its own seed, so that the sequences route apart as users' would;
 * end-of-generation does not stop it). Per level, with the trace on (as the app runs):
 *  - tg tok/s: the aggregate decode rate, tokens sampled in batched decode steps / the time
 *    of those steps (engine_batch_step's ns_decode: the batched pass and the samples). A
 *    joining sequence's prompt runs alone after the step's batched pass and its first
 *    token comes from that prefill, so both are left out, as llama-batched-bench's S_TG
 *    leaves out its prompts; the single-sequence bench's tg tok/s is decode only too;
 *  - e2e tok/s: generated tokens of all requests / the level's wall time (prompts and the
 *    queue included);
 *  - TTFT p50/p99: arrival -> first token (the queue's wait included);
 *  - ITL p50/p95/p99: the time between a sequence's consecutive tokens, pooled;
 *  - where a batched decode step's time goes: its pass by phase (attention, router, experts,
 *    other: logits and norms) and the samples and records after it (one per sequence);
 *  - experts: distinct experts per MoE layer per batched step (mean), MB/step: the weight
 *    bytes such a step reads (every non-expert weight once, each distinct expert once),
 *    MB/tok: that over the step's tokens. At batch 1 a step reads k experts per layer; a
 *    dense model of the same total size reads all its weights every step whatever the
 *    batch, so MoE's advantage per step shrinks as the distinct experts grow with L. */
#include "bench_parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "text_escape.h"
#include "trace.h"

/* Different openings, so that requests do not route alike; repeated to P tokens. */
static const char *const bp_texts[] = {
    "The committee met on a grey morning to weigh the harbour plan once more. ",
    "Once upon a time a fox and a crow argued over a piece of cheese in the forest. ",
    "To bake bread, mix flour, water, salt and yeast, then knead the dough until smooth. ",
    "The theorem states that every continuous function on a closed interval is bounded. ",
    "In 1869 the railway reached the western coast, and the journey shrank to a week. ",
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append(a.pop(0))\n",
    "Dear Maria, thank you for the letter; the garden is full of roses this summer. ",
    "Rain is expected across the north tonight, with strong winds along the coast. ",
};
enum { BP_TEXTS = sizeof bp_texts / sizeof bp_texts[0] };

int bench_parse_arrival(const char *s, double *rate)
{
    if (!strcmp(s, "all")) {
        *rate = 0;
        return 0;
    }
    if (strncmp(s, "poisson:", 8) != 0)
        return -1;
    char *end;
    double r = strtod(s + 8, &end);
    if (end == s + 8 || *end || !(r > 0) || r > 1e6)
        return -1;
    *rate = r;
    return 0;
}

int bench_prompt_records(struct engine *e, int i, int n, struct trace_log *log, char *err,
                         size_t errlen)
{
    const char *text = bp_texts[i % BP_TEXTS];
    int32_t tok[512];
    int k = engine_tokenize(e, text, strlen(text), true, false, tok, 512, err, errlen);
    if (k <= 0) {
        if (k == 0)
            snprintf(err, errlen, "the model's tokenizer gave no tokens for a prompt");
        return -1;
    }
    /* the text again without BOS for the rest */
    int32_t more[512];
    int km = engine_tokenize(e, text, strlen(text), false, false, more, 512, err, errlen);
    if (km <= 0) {
        snprintf(err, errlen, "the model's tokenizer gave no tokens for a prompt");
        return -1;
    }
    char piece[256];
    for (int got = 0; got < n; got++) {
        int32_t t = got < k ? tok[got] : more[(got - k) % km];
        size_t len = engine_token_piece(e, t, piece, sizeof piece);
        if (trace_log_push(log, t, piece, len < sizeof piece ? len : 0, true) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The arrival times (seconds from the level's start): all 0, or a seeded Poisson process. */
static void bp_arrivals(double *at, int n, double rate)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    double t = 0;
    for (int i = 0; i < n; i++) {
        if (rate > 0) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            const double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
            t += -log(u) / rate;
        }
        at[i] = t;
    }
}

static void bp_sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9) };
    nanosleep(&ts, NULL);
}

struct bp_level_run {
    int n_req;
    struct trace_log *logs;    /* (n_req) */
    double *arrival, *last;    /* (n_req) seconds from the start */
    int *gen, *slot_req;       /* tokens per request; (level) the request in each slot */
    double *ttft, *itl;        /* samples, ms */
    size_t n_ttft, n_itl;
};

static void bp_run_free(struct bp_level_run *lr)
{
    for (int i = 0; lr->logs && i < lr->n_req; i++)
        trace_log_free(&lr->logs[i]);
    free(lr->logs);
    free(lr->arrival);
    free(lr->last);
    free(lr->gen);
    free(lr->slot_req);
    free(lr->ttft);
    free(lr->itl);
}

/* The step's tokens: TTFT or ITL samples, and the leaves of finished requests. */
static int bp_after_step(struct engine_batch *b, struct bp_level_run *lr, int level, double t,
                         int n_gen)
{
    int finished = 0;
    for (int s = 0; s < level; s++) {
        const int q = lr->slot_req[s];
        if (q < 0)
            continue;
        if (lr->gen[q]++ == 0)
            lr->ttft[lr->n_ttft++] = (t - lr->arrival[q]) * 1e3;
        else
            lr->itl[lr->n_itl++] = (t - lr->last[q]) * 1e3;
        lr->last[q] = t;
        if (lr->gen[q] == n_gen) {
            engine_batch_leave(b, s);
            lr->slot_req[s] = -1;
            finished++;
        }
    }
    return finished;
}

int bench_parallel_level(struct engine *e, const struct bench_parallel_opts *o, int level,
                         struct bench_level *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    struct bp_level_run lr = { 0 };
    lr.n_req = o->n_requests ? o->n_requests : 2 * level > 8 ? 2 * level : 8;
    const size_t nr = (size_t)lr.n_req;
    lr.logs = calloc(nr, sizeof *lr.logs);
    lr.arrival = calloc(nr, sizeof *lr.arrival);
    lr.last = calloc(nr, sizeof *lr.last);
    lr.gen = calloc(nr, sizeof *lr.gen);
    lr.slot_req = malloc((size_t)level * sizeof *lr.slot_req);
    lr.ttft = calloc(nr, sizeof *lr.ttft);
    lr.itl = calloc(nr * (size_t)o->n_gen, sizeof *lr.itl);
    struct engine_batch *b = NULL;
    int rc = -1;
    if (!lr.logs || !lr.arrival || !lr.last || !lr.gen || !lr.slot_req || !lr.ttft || !lr.itl) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const struct model_desc *d = engine_desc(e);
    for (int i = 0; i < lr.n_req; i++)
        if (trace_log_init(&lr.logs[i], d->n_layers, d->n_experts, d->n_experts_used) != 0 ||
            bench_prompt_records(e, i, o->n_prompt, &lr.logs[i], err, errlen) != 0)
            goto out;
    for (int s = 0; s < level; s++)
        lr.slot_req[s] = -1;
    bp_arrivals(lr.arrival, lr.n_req, o->rate);
    if (!(b = engine_batch_create(e, level, err, errlen)))
        goto out;
    double sum_experts = 0, sum_bytes = 0, sum_rows = 0, decode_s = 0, decoded = 0;
    double step_ns[TRACE_PHASE_COUNT + 1] = { 0 };
    int n_decode_steps = 0;
    int n_steps = 0, next = 0, done = 0;
    const double t0 = clock_now_s();
    while (done < lr.n_req) {
        double now = clock_now_s() - t0;
        while (next < lr.n_req && lr.arrival[next] <= now &&
               engine_batch_n_live(b) < level) {
            struct sampler_params sp;
            sampler_params_default(&sp);
            sp.temp = 0.8f;
            sp.seed = 1 + (uint64_t)next;
            const int s = engine_batch_join(b, &lr.logs[next], &sp, err, errlen);
            if (s < 0)
                goto out;
            lr.slot_req[s] = next++;
        }
        if (engine_batch_n_live(b) == 0) {
            bp_sleep_s(lr.arrival[next] - now);
            continue;
        }
        struct engine_batch_step st;
        if (engine_batch_step(b, &st, err, errlen) != 0)
            goto out;
        decode_s += (double)st.ns_decode * 1e-9;
        decoded += st.n_decoded;
        if (st.n_decoded > 0) {
            for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
                step_ns[ph] += (double)st.ns_phase[ph];
            step_ns[TRACE_PHASE_COUNT] += (double)(st.ns_decode - st.ns_batched);
            n_decode_steps++;
        }
        if (st.n_decoded > 0 && st.n_moe_layers > 0) {
            sum_experts += (double)st.experts_distinct / st.n_moe_layers;
            sum_bytes += (double)st.bytes_read;
            sum_rows += st.n_decoded;
            n_steps++;
        }
        done += bp_after_step(b, &lr, level, clock_now_s() - t0, o->n_gen);
    }
    r->wall_s = clock_now_s() - t0;
    r->level = level;
    r->requests = lr.n_req;
    r->tokens = nr * (size_t)o->n_gen;
    r->wall_tps = r->wall_s > 0 ? (double)r->tokens / r->wall_s : 0;
    r->tg_tps = decode_s > 0 ? decoded / decode_s : 0;
    r->has_experts = d->n_experts > 0 && n_steps > 0;
    if (r->has_experts) {
        r->experts_per_step = sum_experts / n_steps;
        r->bytes_per_step = sum_bytes / n_steps;
        r->bytes_per_token = sum_bytes / sum_rows;
    }
    r->has_split = n_decode_steps > 0;
    for (int k = 0; r->has_split && k <= TRACE_PHASE_COUNT; k++)
        r->step_ms[k] = step_ns[k] / n_decode_steps / 1e6;
    bench_level_percentiles(r, lr.ttft, lr.n_ttft, lr.itl, lr.n_itl);
    rc = 0;
out:
    engine_batch_free(b);
    bp_run_free(&lr);
    return rc;
}

void bench_engine_params(struct engine_params *p, const char *model, int n_threads, int ctx,
                         int need)
{
    engine_params_default(p);
    p->model_path = model;
    p->n_threads = n_threads;
    p->n_ctx = ctx ? ctx : need + 1;
    p->trace = true;
}

struct engine *bench_parallel_open(const struct bench_parallel_opts *o, char *err,
                                   size_t errlen)
{
    struct engine_params p;
    bench_engine_params(&p, o->model, o->n_threads, o->ctx, o->n_prompt + o->n_gen);
    p.prewarm = o->prewarm;
    p.mlock = o->mlock;
    struct engine *e = engine_open(&p, err, errlen);
    if (e && o->n_prompt + o->n_gen > engine_n_ctx(e)) {
        snprintf(err, errlen, "%s: a request needs %d positions, the context has %d",
                 o->model, o->n_prompt + o->n_gen, engine_n_ctx(e));
        engine_close(e);
        return NULL;
    }
    return e;
}

static void bp_print_head(const struct bench_parallel_opts *o, const struct model_desc *d)
{
    if (o->json) {
        printf("{\"threads\":%d,\"n_prompt\":%d,\"n_gen\":%d,\"arrival_rate\":%.3f,"
               "\"active_bytes\":%llu,\"dense_bytes\":%llu,", o->n_threads, o->n_prompt,
               o->n_gen, o->rate, (unsigned long long)d->active_bytes,
               (unsigned long long)d->file_size);
    } else {
        char name[4 * sizeof d->name + 8]; /* the file's words: shown, never obeyed */
        text_escape_line(d->name, strlen(d->name), name, sizeof name);
        printf("model   %s (%s, %s), %d threads\n", name, d->arch, o->model, o->n_threads);
        printf("shape   %d layers, %d of %d experts: a step of one sequence reads %.1f MB of "
               "weights; a dense model of the same total size reads %.1f MB a step at any "
               "batch\n", d->n_layers, d->n_experts_used, d->n_experts, d->active_bytes / 1e6,
               d->file_size / 1e6);
        if (o->rate > 0)
            printf("run     %d prompt + %d sampled tokens per request, Poisson arrivals at "
                   "%.2f/s\n\n", o->n_prompt, o->n_gen, o->rate);
        else
            printf("run     %d prompt + %d sampled tokens per request, all arriving at "
                   "once\n\n", o->n_prompt, o->n_gen);
    }
    bench_levels_head(o->json, true, false);
}

/* Where each level's batched decode step goes, under the table. */
static void bp_print_split(const struct bench_level *r, int n)
{
    printf("\n    decode step, ms (mean): pass by phase + samples and records after it\n");
    for (int i = 0; i < n; i++) {
        if (!r[i].has_split)
            continue;
        double sum = 0;
        for (int k = 0; k <= TRACE_PHASE_COUNT; k++)
            sum += r[i].step_ms[k];
        printf("    %5d %8.2f =", r[i].level, sum);
        for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
            printf(" %s %.2f +", trace_phase_names[ph], r[i].step_ms[ph]);
        printf(" samples %.2f\n", r[i].step_ms[TRACE_PHASE_COUNT]);
    }
}

int bench_parallel(const struct bench_parallel_opts *o)
{
    char err[1024];
    struct engine *e = bench_parallel_open(o, err, sizeof err);
    if (!e) {
        fprintf(stderr, "moescope bench: %s\n", err);
        return 1;
    }
    bp_print_head(o, engine_desc(e));
    struct bench_level r[BENCH_MAX_LEVELS];
    for (int i = 0; i < o->n_levels; i++) {
        if (bench_parallel_level(e, o, o->levels[i], &r[i], err, sizeof err) != 0) {
            fprintf(stderr, "moescope bench: %s\n", err);
            engine_close(e);
            return 1;
        }
        bench_levels_row(&r[i], i, o->json, false);
        fflush(stdout);
    }
    engine_close(e);
    if (!o->json)
        bp_print_split(r, o->n_levels);
    bench_levels_foot(o->json, true);
    return 0;
}
