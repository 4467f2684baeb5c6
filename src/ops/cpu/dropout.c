// Dropout in training mode, forward and backward (the U-Net ResBlocks' Dropout(0.1),
// method.md §5.5). Leaves out eval mode (the caller skips the layer) and p = 1.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html
// The mask comes from the caller's counter-based rng, so it is the same for any thread count
// and on any device; torch's own masks cannot be reproduced (different generator).
#include "ops/cpu/cpu.h"

#define DROPOUT_PAR_MIN 65536

// Element i is kept when its uniform u_i in [0, 1) satisfies u_i >= p, which happens with
// probability 1 - p (up to the 2^-24 resolution of the draw). The uniforms are drawn into
// mask itself and replaced by the multiplier, so no scratch is needed. p = 0 copies inp, sets
// the mask to 1 and draws nothing: the rng is left untouched, as if the layer were absent.
void cdrl_cpu_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                              cdrl_rng *rng) {
    CDRL_ASSERT(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
        for (size_t i = 0; i < n; i++) {
            mask[i] = 1.0f;
            out[i] = inp[i];
        }
        return;
    }
    CDRL_ASSERT(rng);
    cdrl_rng_uniform(rng, mask, n);
    // 1 / (1 - p) in float, as torch's noise.div_(1 - p) on a float tensor rounds it.
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n >= DROPOUT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        mask[i] = mask[i] >= p ? scale : 0.0f;
        out[i] = inp[i] * mask[i];
    }
}

void cdrl_cpu_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
#pragma omp parallel for schedule(static) if (n >= DROPOUT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * mask[i];
}

void cdrl_cpu_dropout_backward_set(float *dinp, const float *dout, const float *mask, size_t n) {
#pragma omp parallel for schedule(static) if (n >= DROPOUT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] = 0.0f + dout[i] * mask[i];
}
