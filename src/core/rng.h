// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, as in Random123/cuRAND).
// Each draw of n numbers consumes a fixed range of counters and element i depends only on
// (key, counter + i/4): the result is the same for any thread count and, later, on a GPU.
// The state is two integers, so checkpoints store it exactly and resume continues the stream.
#ifndef CDRL_CORE_RNG_H
#define CDRL_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdrl_rng {
    uint64_t key;     // the seed
    uint64_t stream;  // high half of the 128-bit counter: independent streams per seed
    uint64_t counter; // low half: blocks of 4 x 32 bits consumed so far
} cdrl_rng;

void cdrl_rng_init(cdrl_rng *r, uint64_t seed, uint64_t stream);
// One Philox block: 4 x 32 random bits for (key, stream, counter). Pure function.
void cdrl_philox4x32(uint32_t out[4], uint64_t key, uint64_t stream, uint64_t counter);
// out[i] ~ U[0, 1), 24-bit resolution. Consumes ceil(n/4) blocks.
void cdrl_rng_uniform(cdrl_rng *r, float *out, size_t n);
// out[i] ~ N(0, 1) by Box-Muller on pairs of uniforms. Consumes ceil(n/4) blocks.
void cdrl_rng_normal(cdrl_rng *r, float *out, size_t n);
// out[i] uniform on {0, .., m-1} (m >= 1), from 32 bits by multiply-shift (bias < m/2^32).
void cdrl_rng_int(cdrl_rng *r, uint32_t *out, size_t n, uint32_t m);
// idx (N) = 0..N-1, its first n entries then a uniform random draw without replacement, in
// random order (a partial Fisher-Yates shuffle, one cdrl_rng_int per entry). n <= N.
void cdrl_rng_shuffle_prefix(cdrl_rng *r, int *idx, int n, int N);

#endif // CDRL_CORE_RNG_H
