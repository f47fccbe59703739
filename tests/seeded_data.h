/* tests/seeded_data.h: seeded test data for the tensor type tests (test_quant.c,
 * test_quant_iq.c): a splitmix64 stream, Gaussian values through Box-Muller, and blocks of
 * 32 with a scale that varies, so blocks differ in range. */
#ifndef MOESCOPE_SEEDED_DATA_H
#define MOESCOPE_SEEDED_DATA_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state;

static inline uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double rng_uniform(void)
{
    return (double)(rng_next() >> 11) * 0x1p-53;
}

static inline float rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* Gaussian values with a per-block scale that varies, so blocks differ in range. */
static inline void fill_data(float *x, int64_t n, uint64_t seed)
{
    rng_state = seed;
    for (int64_t i = 0; i < n; i += 32) {
        float s = (float)(0.01 + 2.0 * rng_uniform());
        for (int64_t j = i; j < i + 32 && j < n; j++)
            x[j] = s * rng_gauss();
    }
}

#endif
