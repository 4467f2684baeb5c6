// Element-wise activations, forward and backward: LeakyReLU (the EBM's, slope 0.2), ReLU (the
// EBM's final one) and SiLU (the U-Net's). Leaves out every other activation and in-place
// backward. References: https://pytorch.org/docs/stable/generated/torch.nn.LeakyReLU.html,
// .../torch.nn.ReLU.html, .../torch.nn.SiLU.html
// At exactly 0 the gradient is the left one (0 for ReLU, slope for LeakyReLU), as PyTorch's
// backward kernels give. Elements are independent, so nothing depends on the thread count.
#include <math.h>

#include "ops/ops.h"

// Values per parallel loop only above this: below it the fork costs more than the loop.
#define ACT_PAR_MIN 65536

// ---------------------------------------------------------------------------------------
void cdrl_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    CDRL_ASSERT(slope >= 0.0f && slope <= 1.0f);
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        // max(x, slope x) for 0 <= slope <= 1, written so that the multiply is unconditional:
        // GCC turns `x > 0 ? x : x * slope` back into a branch, which does not vectorise.
        // NaN stays NaN (both operands are NaN).
        float x = inp[i], sx = x * slope;
        out[i] = x > sx ? x : sx;
    }
}

void cdrl_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float k = inp[i] > 0.0f ? 1.0f : slope; // as in forward
        dinp[i] += dout[i] * k;
    }
}

// ---------------------------------------------------------------------------------------
void cdrl_relu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void cdrl_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

// ---------------------------------------------------------------------------------------
// x / (1 + exp(-x)) rather than x * sigmoid(x): for x << 0, exp(-x) overflows to inf and the
// quotient is a clean -0 instead of 0 * inf. For x >> 0, exp(-x) underflows and out = x.
void cdrl_silu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

// d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x); s = 0 when exp(-x) is inf, which gives 0.
void cdrl_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float s = 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s)); // PyTorch's order of products
    }
}
