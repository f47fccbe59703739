/* tests/test_expert_cache.c: the expert-cache replay (sessions/expert_cache.h) and the
 * co-activation counts (sessions/coactivation.h) on hand-made logs whose answers are worked
 * out in the comments, and both policies against plain simulations written here. */
#include "test.h"

#include <stdlib.h>

#include "coactivation.h"
#include "expert_cache.h"
#include "session.h"

/* Appends a fed record routed at every layer listed: experts[l][0..k) (k = log's k). */
static void push_routed(struct trace_log *tl, const int *experts_per_layer, int k)
{
    long i = trace_log_push(tl, 1, "x", 1, false);
    tl->tok[i].fed = true;
    struct trace_layer *ly = trace_layers(tl, (size_t)i);
    for (int l = 0; l < tl->n_layers; l++) {
        if (experts_per_layer[l * k] < 0)
            continue; /* dense here */
        ly[l].n = (uint8_t)k;
        for (int j = 0; j < k; j++)
            ly[l].experts[j] = (uint16_t)experts_per_layer[l * k + j];
    }
}

/* One layer, 4 experts, k = 1, touched 0 1 2 3 0 1 2 3 ... for 40 tokens. */
static void build_cyclic(struct trace_log *tl)
{
    trace_log_init(tl, 1, 4, 1);
    for (int t = 0; t < 40; t++) {
        int e = t % 4;
        push_routed(tl, &e, 1);
    }
}

static long long run_total(const struct cache_replay *r, enum cache_policy p, size_t slots)
{
    uint64_t hits[8], touches[8];
    return cache_replay_run(r, p, slots, hits, touches);
}

/* LRU on a cycle longer than the cache always evicts the item needed next: 0 hits with 3
 * slots. Optimal with 3 slots: the first 4 touches miss; t3 evicts 2 (next at 6, the
 * furthest), so t4, t5 hit and t6 misses; from then on every third touch misses (t6, t9,
 * ..., t39: 12 misses), so 40 - 16 = 24 hits. With 2 slots it hits at t4, t7, ..., t37:
 * 12. With 4 slots both hit everything but the 4 first touches: 36 = 90% exactly. */
TEST(expert_cache_cyclic_lru_zero_optimal_by_hand)
{
    struct trace_log tl;
    build_cyclic(&tl);
    struct cache_replay r;
    CHECK_INT_EQ(cache_replay_init(&r, &tl, 0, tl.n, -1), 0);
    CHECK_INT_EQ(r.n_steps, 40);
    CHECK_INT_EQ(r.n_touch, 40);
    CHECK_INT_EQ(r.n_distinct, 4);
    CHECK_INT_EQ(run_total(&r, CACHE_LRU, 3), 0);
    CHECK_INT_EQ(run_total(&r, CACHE_OPTIMAL, 3), 24);
    CHECK_INT_EQ(run_total(&r, CACHE_OPTIMAL, 2), 12);
    CHECK_INT_EQ(run_total(&r, CACHE_LRU, 4), 36);
    CHECK_INT_EQ(run_total(&r, CACHE_OPTIMAL, 4), 36);
    CHECK_INT_EQ(run_total(&r, CACHE_OPTIMAL, 100), 36);
    size_t s;
    CHECK_INT_EQ(cache_replay_smallest(&r, CACHE_LRU, 0.90, &s), 0);
    CHECK_INT_EQ(s, 4);
    CHECK_INT_EQ(cache_replay_smallest(&r, CACHE_OPTIMAL, 0.60, &s), 0);
    CHECK_INT_EQ(s, 3); /* 24 / 40 */
    CHECK_INT_EQ(cache_replay_smallest(&r, CACHE_OPTIMAL, 0.61, &s), 0);
    CHECK_INT_EQ(s, 4);
    CHECK_INT_EQ(cache_replay_smallest(&r, CACHE_OPTIMAL, 0.99, &s), 0);
    CHECK_INT_EQ(s, 0); /* 36 / 40 is the most any cache gets */
    cache_replay_free(&r);
    trace_log_free(&tl);
}

/* Two layers sharing one cache: layer 0 always routes expert 0, layer 1 cycles 0..3, so
 * the items are (0,0) and (1,0..3). LRU with 4 slots: (0,0) has seen 1 other item since
 * its last touch and hits 39 of 40; (1,e) has seen 4 ((0,0) and three of layer 1) and
 * always misses. With 5 slots layer 1 hits all but its 4 first touches. A record that was
 * routed but never fed is skipped. Layer 1 alone with 3 slots gives the cyclic answers. */
TEST(expert_cache_layers_share_one_cache)
{
    struct trace_log tl;
    trace_log_init(&tl, 2, 4, 1);
    long skipped = trace_log_push(&tl, 1, "x", 1, true);
    trace_layers(&tl, (size_t)skipped)[0].n = 1; /* routed but never fed */
    for (int t = 0; t < 40; t++) {
        int e[2] = { 0, t % 4 };
        push_routed(&tl, e, 1);
    }
    struct cache_replay r;
    CHECK_INT_EQ(cache_replay_init(&r, &tl, 0, tl.n, -1), 0);
    CHECK_INT_EQ(r.n_steps, 40);
    CHECK_INT_EQ(r.n_distinct, 5);
    uint64_t hits[2], touches[2];
    CHECK_INT_EQ(cache_replay_run(&r, CACHE_LRU, 4, hits, touches), 39);
    CHECK_INT_EQ(hits[0], 39);
    CHECK_INT_EQ(hits[1], 0);
    CHECK_INT_EQ(touches[0], 40);
    CHECK_INT_EQ(touches[1], 40);
    CHECK_INT_EQ(cache_replay_run(&r, CACHE_LRU, 5, hits, touches), 39 + 36);
    cache_replay_free(&r);

    CHECK_INT_EQ(cache_replay_init(&r, &tl, 0, tl.n, 1), 0);
    CHECK_INT_EQ(r.n_touch, 40);
    CHECK_INT_EQ(cache_replay_run(&r, CACHE_LRU, 3, hits, touches), 0);
    CHECK_INT_EQ(cache_replay_run(&r, CACHE_OPTIMAL, 3, hits, touches), 24);
    CHECK_INT_EQ(hits[0], 0);
    CHECK_INT_EQ(hits[1], 24);
    cache_replay_free(&r);
    trace_log_free(&tl);
}

/* Plain simulations over the touch list: an array ordered by recency for LRU, and a scan
 * for the furthest next use for the optimal policy. */
static long long plain_lru(const uint32_t *item, size_t n, size_t slots)
{
    uint32_t stack[64];
    size_t depth = 0;
    long long hits = 0;
    for (size_t t = 0; t < n; t++) {
        size_t at = depth;
        for (size_t j = 0; j < depth; j++)
            if (stack[j] == item[t])
                at = j;
        if (at < depth)
            hits++;
        else if (depth < slots)
            at = depth++;
        else
            at = depth - 1;
        for (size_t j = at; j > 0; j--)
            stack[j] = stack[j - 1];
        stack[0] = item[t];
    }
    return hits;
}

static long long plain_optimal(const uint32_t *item, size_t n, size_t slots)
{
    uint32_t held[64];
    size_t n_held = 0;
    long long hits = 0;
    for (size_t t = 0; t < n; t++) {
        bool hit = false;
        for (size_t j = 0; j < n_held; j++)
            hit |= held[j] == item[t];
        if (hit) {
            hits++;
            continue;
        }
        if (n_held < slots) {
            held[n_held++] = item[t];
            continue;
        }
        size_t victim = 0, furthest = 0;
        for (size_t j = 0; j < n_held; j++) {
            size_t u = t + 1;
            while (u < n && item[u] != held[j])
                u++;
            if (u > furthest) {
                furthest = u;
                victim = j;
            }
        }
        held[victim] = item[t];
    }
    return hits;
}

/* A skewed random routing over 3 layers of 6 experts, k = 2: every cache size of both
 * policies equals the plain simulations, optimal never has fewer hits than LRU, and the
 * smallest sizes are the first that reach the rate. */
TEST(expert_cache_matches_plain_simulation)
{
    struct trace_log tl;
    trace_log_init(&tl, 3, 6, 2);
    uint64_t x = 12345;
    for (int t = 0; t < 300; t++) {
        int e[6];
        for (int l = 0; l < 3; l++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int a = (int)((x >> 33) % 6), b = (int)((x >> 45) % 6);
            if ((x >> 60) < 10) /* mostly experts 0 and 1 */
                a = (int)((x >> 20) & 1);
            if (b == a)
                b = (a + 1) % 6;
            e[l * 2] = a;
            e[l * 2 + 1] = b;
        }
        push_routed(&tl, e, 2);
    }
    struct cache_replay r;
    CHECK_INT_EQ(cache_replay_init(&r, &tl, 0, tl.n, -1), 0);
    CHECK_INT_EQ(r.n_touch, 300 * 3 * 2);
    for (size_t slots = 1; slots <= 18; slots++) {
        long long lru = run_total(&r, CACHE_LRU, slots), opt = run_total(&r, CACHE_OPTIMAL, slots);
        CHECK_INT_EQ(lru, plain_lru(r.item, r.n_touch, slots));
        CHECK_INT_EQ(opt, plain_optimal(r.item, r.n_touch, slots));
        CHECK_MSG(opt >= lru, "slots %zu: optimal %lld < lru %lld", slots, opt, lru);
    }
    for (int p = 0; p < CACHE_POLICY_COUNT; p++) {
        size_t s;
        CHECK_INT_EQ(cache_replay_smallest(&r, (enum cache_policy)p, 0.8, &s), 0);
        CHECK(s > 1 && s <= 18);
        CHECK((double)run_total(&r, (enum cache_policy)p, s) >= 0.8 * (double)r.n_touch);
        CHECK((double)run_total(&r, (enum cache_policy)p, s - 1) < 0.8 * (double)r.n_touch);
    }
    cache_replay_free(&r);
    trace_log_free(&tl);
}

/* One layer, 4 experts, k = 2: records {0,1} {0,1} {2,3} {2,3}. Each expert is chosen by 2
 * of 4 records (p = 1/2). Same token: 0+1 twice, lift (2/4) / (1/4) = 2; 0+2 never, 0.
 * Next token over 3 pairs: 0>0 once (lift (1/3)/(1/4) = 4/3), 0>2 once, 0>3 once, 2>0
 * never. Repeat: 2 + 0 + 2 experts chosen again over 3 pairs of 2 = 2/3; chance
 * (4 * 1/4) / 2 = 1/2. */
TEST(coactivation_by_hand)
{
    struct trace_log tl;
    trace_log_init(&tl, 1, 4, 2);
    static const int rec[4][2] = { { 0, 1 }, { 1, 0 }, { 2, 3 }, { 2, 3 } };
    for (int t = 0; t < 4; t++)
        push_routed(&tl, rec[t], 2);
    struct coact c;
    CHECK_INT_EQ(coact_count(&c, &tl, 0, tl.n, 0), 0);
    CHECK_INT_EQ(c.n_tokens, 4);
    CHECK_INT_EQ(c.n_pairs, 3);
    CHECK_NEAR(coact_lift_same(&c, 0, 1), 2.0, 1e-12);
    CHECK_NEAR(coact_lift_same(&c, 1, 0), 2.0, 1e-12);
    CHECK_NEAR(coact_lift_same(&c, 0, 2), 0.0, 1e-12);
    CHECK(isnan(coact_lift_same(&c, 0, 0)));
    CHECK_NEAR(coact_lift_next(&c, 0, 0), 4.0 / 3, 1e-12);
    CHECK_NEAR(coact_lift_next(&c, 0, 2), 4.0 / 3, 1e-12);
    CHECK_NEAR(coact_lift_next(&c, 2, 0), 0.0, 1e-12);
    CHECK_NEAR(coact_repeat_share(&c), 2.0 / 3, 1e-12);
    CHECK_NEAR(coact_repeat_chance(&c), 0.5, 1e-12);
    struct coact_pair top[4];
    CHECK_INT_EQ(coact_top(&c, 0, 2, top, 4), 2); /* 0+1 and 2+3, the only pairs seen twice */
    CHECK_INT_EQ(top[0].a, 0);
    CHECK_INT_EQ(top[0].b, 1);
    CHECK_INT_EQ(top[1].a, 2);
    CHECK_INT_EQ(top[1].b, 3);
    CHECK_INT_EQ(coact_top(&c, 0, 3, top, 4), 0);
    /* next token, a != b, at least once: 0>2 0>3 1>2 1>3 (lift 4/3) and 0>1 1>0 2>3 3>2 (4/3
     * too); the order breaks ties by ids, so 0>1 first; max 3 keeps the best three */
    CHECK_INT_EQ(coact_top(&c, 1, 1, top, 3), 3);
    CHECK_INT_EQ(top[0].a, 0);
    CHECK_INT_EQ(top[0].b, 1);
    CHECK_INT_EQ(top[2].a, 0);
    CHECK_INT_EQ(top[2].b, 3);
    coact_free(&c);

    /* a record that was not fed between them breaks the pairs: {0,1} {0,1} | {2,3} {2,3} */
    tl.tok[2].fed = false;
    CHECK_INT_EQ(coact_count(&c, &tl, 0, tl.n, 0), 0);
    CHECK_INT_EQ(c.n_tokens, 3);
    CHECK_INT_EQ(c.n_pairs, 1);
    CHECK_NEAR(coact_repeat_share(&c), 1.0, 1e-12);
    coact_free(&c);
    CHECK_INT_EQ(coact_count(&c, &tl, 0, tl.n, 1), -1); /* no such layer */
    coact_free(&c);
    trace_log_free(&tl);
}

/* The experts' sizes in a session's model record: saved, loaded back, absent in an older
 * file (0), and refused when only one of the two is there. */
TEST(session_model_expert_bytes_round_trip)
{
    struct session s;
    CHECK_INT_EQ(session_init(&s, 1, 4, 1), 0);
    s.model.active_bytes = 123456789;
    s.model.expert_bytes = 4718592;
    char *json;
    size_t len;
    char err[512];
    CHECK_INT_EQ(session_to_json(&s, &json, &len, err, sizeof err), 0);
    struct session t;
    CHECK_INT_EQ(session_load_buffer(&t, json, len, "s.json", err, sizeof err), 0);
    CHECK_INT_EQ(t.model.active_bytes, 123456789);
    CHECK_INT_EQ(t.model.expert_bytes, 4718592);
    session_free(&t);

    char *cut = strstr(json, ",\"expert_bytes\"");
    CHECK(cut != NULL);
    if (cut) {
        char *end = strchr(cut + 1, ',');
        char *r = strchr(cut + 1, '}');
        if (r && (!end || r < end))
            end = r;
        memmove(cut, end, strlen(end) + 1);
        CHECK_INT_EQ(session_load_buffer(&t, json, strlen(json), "s.json", err, sizeof err), -1);
        CHECK_MSG(strstr(err, "$.model.expert_bytes") != NULL, "message: %s", err);
    }
    free(json);

    s.model.active_bytes = s.model.expert_bytes = 0;
    CHECK_INT_EQ(session_to_json(&s, &json, &len, err, sizeof err), 0);
    CHECK(strstr(json, "expert_bytes") == NULL);
    CHECK_INT_EQ(session_load_buffer(&t, json, len, "s.json", err, sizeof err), 0);
    CHECK_INT_EQ(t.model.expert_bytes, 0);
    session_free(&t);
    free(json);
    session_free(&s);
}
