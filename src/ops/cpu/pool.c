// 2x2 average pooling (stride 2) and nearest-neighbour x2 upsampling, forward and backward
// (the resampling of the EBM's levels and of the U-Net's down/up ResBlocks, method.md §5).
// Leaves out other window sizes, strides and padding: CDRL uses none of them.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.avg_pool2d.html,
// https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html
// Sums run in the order PyTorch's CPU kernels use (window row by row), so results match
// bit for bit; every plane is independent, hence no thread-count dependence.
#include "ops/cpu/cpu.h"

// Planes per parallel loop only above this many values: below it the fork costs more than
// the loop.
#define POOL_PAR_MIN 32768

// Row helpers in vector code (O3 and the AVX-512 / AVX2 clones; no reassociation, so the values
// are those of the plain loops).
#pragma GCC push_options
#pragma GCC optimize("O3")

// y[j] = (r0[2j] + r0[2j+1] + r1[2j] + r1[2j+1]) / 4, the sum in that order.
CDRL_VECTOR_CLONES static void pool_row(float *restrict y, const float *restrict r0,
                                        const float *restrict r1, int Wo) {
    for (int j = 0; j < Wo; j++) {
        float s = r0[2 * j] + r0[2 * j + 1];
        s += r1[2 * j];
        s += r1[2 * j + 1];
        y[j] = s / 4.0f;
    }
}

// The 2x2 window under each dy[j] gets dy[j] / 4: added, or (set) written as 0 + it.
CDRL_VECTOR_CLONES static void pool_grad_row(float *restrict r0, float *restrict r1,
                                             const float *restrict dy, int Wo, int set) {
    if (set) {
        for (int j = 0; j < Wo; j++) {
            const float g = 0.0f + dy[j] / 4.0f;
            r0[2 * j] = g, r0[2 * j + 1] = g, r1[2 * j] = g, r1[2 * j + 1] = g;
        }
    } else {
        for (int j = 0; j < Wo; j++) {
            const float g = dy[j] / 4.0f;
            r0[2 * j] += g, r0[2 * j + 1] += g, r1[2 * j] += g, r1[2 * j + 1] += g;
        }
    }
}

#pragma GCC pop_options

// ---------------------------------------------------------------------------------------
void cdrl_cpu_avgpool2_forward(float *out, const float *inp, int BC, int H, int W) {
    CDRL_ASSERT(H >= 2 && W >= 2 && BC >= 0); // floor mode: an odd last row or column is dropped
    const int Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static) if ((size_t)BC * H * W >= POOL_PAR_MIN)
    for (int p = 0; p < BC; p++) {
        const float *x = inp + (size_t)p * H * W; // (H, W)
        float *y = out + (size_t)p * Ho * Wo;     // (H/2, W/2)
        for (int i = 0; i < Ho; i++) {
            const float *r0 = x + (size_t)(2 * i) * W;
            pool_row(y + (size_t)i * Wo, r0, r0 + W, Wo);
        }
    }
}

// dinp += the gradient, or with set dinp = 0 + the gradient (the bytes of the first into
// zeros, -0 included) and the dropped row and column 0.
static void pool_backward(float *dinp, const float *dout, int BC, int H, int W, int set) {
    CDRL_ASSERT(H >= 2 && W >= 2 && BC >= 0); // floor mode: an odd last row or column is dropped
    const int Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static) if ((size_t)BC * H * W >= POOL_PAR_MIN)
    for (int p = 0; p < BC; p++) {
        float *dx = dinp + (size_t)p * H * W;         // (H, W)
        const float *dy = dout + (size_t)p * Ho * Wo; // (H/2, W/2)
        for (int i = 0; i < Ho; i++) {
            float *r0 = dx + (size_t)(2 * i) * W, *r1 = r0 + W;
            pool_grad_row(r0, r1, dy + (size_t)i * Wo, Wo, set);
            if (set && W % 2) r0[W - 1] = r1[W - 1] = 0.0f;
        }
        if (set && H % 2)
            for (int x = 0; x < W; x++)
                dx[(size_t)(H - 1) * W + x] = 0.0f;
    }
}

void cdrl_cpu_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    pool_backward(dinp, dout, BC, H, W, 0);
}

void cdrl_cpu_avgpool2_backward_set(float *dinp, const float *dout, int BC, int H, int W) {
    pool_backward(dinp, dout, BC, H, W, 1);
}

// ---------------------------------------------------------------------------------------
void cdrl_cpu_upsample2_forward(float *out, const float *inp, int BC, int H, int W) {
    CDRL_ASSERT(BC >= 0 && H >= 0 && W >= 0);
    const int Wo = 2 * W;
#pragma omp parallel for schedule(static) if ((size_t)BC * H * W >= POOL_PAR_MIN / 4)
    for (int p = 0; p < BC; p++) {
        const float *x = inp + (size_t)p * H * W; // (H, W)
        float *y = out + (size_t)p * 4 * H * W;   // (2H, 2W)
        for (int i = 0; i < H; i++) {
            float *r0 = y + (size_t)(2 * i) * Wo, *r1 = r0 + Wo;
            for (int j = 0; j < W; j++) {
                float v = x[(size_t)i * W + j];
                r0[2 * j] = r0[2 * j + 1] = v;
                r1[2 * j] = r1[2 * j + 1] = v;
            }
        }
    }
}

void cdrl_cpu_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    CDRL_ASSERT(BC >= 0 && H >= 0 && W >= 0);
    const int Wo = 2 * W;
#pragma omp parallel for schedule(static) if ((size_t)BC * H * W >= POOL_PAR_MIN / 4)
    for (int p = 0; p < BC; p++) {
        float *dx = dinp + (size_t)p * H * W;           // (H, W)
        const float *dy = dout + (size_t)p * 4 * H * W; // (2H, 2W)
        for (int i = 0; i < H; i++) {
            const float *r0 = dy + (size_t)(2 * i) * Wo, *r1 = r0 + Wo;
            for (int j = 0; j < W; j++) {
                float s = r0[2 * j] + r0[2 * j + 1];
                s += r1[2 * j];
                s += r1[2 * j + 1];
                dx[(size_t)i * W + j] += s;
            }
        }
    }
}
