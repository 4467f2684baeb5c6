// The optimiser's schedules: Adam's defaults, the EMA decay ramp of torch_ema and the two
// learning-rate warm-ups of the official code (the kernels are backend ops, ops/ops.h).
#include "train/optim.h"

#include <math.h>

#include "core/core.h"

cdrl_adam_params cdrl_adam_params_default(float lr) {
    cdrl_adam_params p = {lr, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
    return p;
}

// ---------------------------------------------------------------------------------------
// EMA (torch_ema 0.3, use_num_updates=True)

// n_updates is the number of EMA updates already applied before this one: 0 on the first
// call. torch_ema increments num_updates before it computes the decay, so the ramp's count
// includes this update: n = n_updates + 1, and the first update uses min(decay, 2/11) =
// 0.1818 (method.md §4.2's "0.18 at n=1"), the second 3/12, the hundredth 101/110 = 0.918.
float cdrl_ema_decay(float decay, long n_updates) {
    CDRL_ASSERT(n_updates >= 0);
    double n = (double)n_updates + 1.0;
    double ramp = (1.0 + n) / (10.0 + n);
    return (double)decay < ramp ? decay : (float)ramp;
}

// ---------------------------------------------------------------------------------------
// Learning-rate warm-ups (LambdaLR multipliers; the factor is formed in double as Python's
// min(1.0, k / warmup) and rounded once).

float cdrl_warmup_linear(long k, long warmup) {
    CDRL_ASSERT(k >= 0 && warmup >= 0);
    if (warmup == 0) return 1.0f; // no warm-up
    double f = (double)k / (double)warmup;
    return f < 1.0 ? (float)f : 1.0f;
}

float cdrl_warmup_offset(long k, long warmup, long offset) {
    CDRL_ASSERT(k >= 0 && warmup >= 0);
    if (warmup == 0) return 1.0f;
    double f = (double)(k + offset) / (double)warmup;
    return f < 1.0 ? (float)f : 1.0f;
}

float cdrl_cosine_decay(long k, long n) {
    CDRL_ASSERT(k >= 0 && n >= 0);
    if (n == 0) return 1.0f;
    double u = (double)(k < n ? k : n) / (double)n;
    return (float)(0.5 * (1.0 + cos(3.14159265358979323846 * u)));
}
