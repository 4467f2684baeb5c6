// Philox4x32-10 and the uniform, normal and integer draws built on it (see rng.h).
#include "core/rng.h"

#include "core/core.h"

#include <math.h>

void cdrl_rng_init(cdrl_rng *r, uint64_t seed, uint64_t stream) {
    r->key = seed;
    r->stream = stream;
    r->counter = 0;
}

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void cdrl_philox4x32(uint32_t out[4], uint64_t key, uint64_t stream, uint64_t counter) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// Blocks per parallel chunk: large enough to amortise the fork, fixed so that nothing depends
// on the thread count (each element is a pure function of its index anyway).
#define RNG_PAR_MIN_BLOCKS 4096

static inline float u24(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

// Uniform draws of RNG_LANES blocks at once: Philox's rounds run on arrays of lanes, which the
// compiler turns into vector code (O3; on x86-64 also compiled for AVX-512 and AVX2 machines,
// chosen at load time). The same integer operations as cdrl_philox4x32 on each lane, so the
// same bits: out[4 l + k] = u24(word k of block counter + l).
#define RNG_LANES 16
#pragma GCC push_options
#pragma GCC optimize("O3")
CDRL_VECTOR_CLONES static void uniform_lanes(float *out, uint64_t key, uint64_t stream,
                                             uint64_t counter) {
    uint32_t c0[RNG_LANES], c1[RNG_LANES], c2[RNG_LANES], c3[RNG_LANES];
    for (int l = 0; l < RNG_LANES; l++) {
        const uint64_t c = counter + (uint64_t)l;
        c0[l] = (uint32_t)c, c1[l] = (uint32_t)(c >> 32);
        c2[l] = (uint32_t)stream, c3[l] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
#pragma GCC unroll 1 // left as a loop for the vectoriser (fully unrolled, it stays scalar)
        for (int l = 0; l < RNG_LANES; l++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * c0[l], p1 = (uint64_t)0xCD9E8D57u * c2[l];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c0[l] = n0, c1[l] = (uint32_t)p1, c2[l] = n2, c3[l] = (uint32_t)p0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < RNG_LANES; l++) {
        out[4 * l] = u24(c0[l]);
        out[4 * l + 1] = u24(c1[l]);
        out[4 * l + 2] = u24(c2[l]);
        out[4 * l + 3] = u24(c3[l]);
    }
}
#pragma GCC pop_options

void cdrl_rng_uniform(cdrl_rng *r, float *out, size_t n) {
    const size_t n_blocks = (n + 3) / 4, n_groups = n / (4 * RNG_LANES);
    const uint64_t base = r->counter;
#pragma omp parallel for schedule(static) if (n_blocks >= RNG_PAR_MIN_BLOCKS)
    for (size_t g = 0; g < n_groups; g++)
        uniform_lanes(out + 4 * RNG_LANES * g, r->key, r->stream, base + RNG_LANES * g);
    for (size_t b = RNG_LANES * n_groups; b < n_blocks; b++) { // the last, partial group
        uint32_t x[4];
        cdrl_philox4x32(x, r->key, r->stream, base + b);
        for (size_t k = 0; k < 4 && 4 * b + k < n; k++)
            out[4 * b + k] = u24(x[k]);
    }
    r->counter += n_blocks;
}

void cdrl_rng_normal(cdrl_rng *r, float *out, size_t n) {
    size_t n_blocks = (n + 3) / 4;
    const uint64_t base = r->counter;
#pragma omp parallel for schedule(static) if (n_blocks >= RNG_PAR_MIN_BLOCKS)
    for (size_t b = 0; b < n_blocks; b++) {
        uint32_t x[4];
        cdrl_philox4x32(x, r->key, r->stream, base + b);
        float z[4];
        for (int p = 0; p < 2; p++) {
            // u1 in (0, 1] so the log is finite; double keeps the tails accurate.
            double u1 = ((double)(x[2 * p] >> 8) + 1.0) / 16777216.0;
            double u2 = (double)(x[2 * p + 1] >> 8) / 16777216.0;
            double rad = sqrt(-2.0 * log(u1));
            z[2 * p] = (float)(rad * cos(2.0 * CDRL_PI * u2));
            z[2 * p + 1] = (float)(rad * sin(2.0 * CDRL_PI * u2));
        }
        for (size_t k = 0; k < 4 && 4 * b + k < n; k++)
            out[4 * b + k] = z[k];
    }
    r->counter += n_blocks;
}

void cdrl_rng_int(cdrl_rng *r, uint32_t *out, size_t n, uint32_t m) {
    size_t n_blocks = (n + 3) / 4;
    for (size_t b = 0; b < n_blocks; b++) {
        uint32_t x[4];
        cdrl_philox4x32(x, r->key, r->stream, r->counter + b);
        for (size_t k = 0; k < 4 && 4 * b + k < n; k++)
            out[4 * b + k] = (uint32_t)(((uint64_t)x[k] * m) >> 32);
    }
    r->counter += n_blocks;
}

void cdrl_rng_shuffle_prefix(cdrl_rng *r, int *idx, int n, int N) {
    CDRL_ASSERT(n >= 0 && n <= N);
    for (int i = 0; i < N; i++)
        idx[i] = i;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        cdrl_rng_int(r, &u, 1, (uint32_t)(N - i));
        const int j = i + (int)u, t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
