// Element-wise activations, forward and backward: LeakyReLU (the EBM's, slope 0.2), ReLU (the
// EBM's final one) and SiLU (the U-Net's). Leaves out every other activation and in-place
// backward. References: https://pytorch.org/docs/stable/generated/torch.nn.LeakyReLU.html,
// .../torch.nn.ReLU.html, .../torch.nn.SiLU.html
// At exactly 0 the gradient is the left one (0 for ReLU, slope for LeakyReLU), as PyTorch's
// backward kernels give. Elements are independent, so nothing depends on the thread count.
#include <stdint.h>

#include "ops/cpu/cpu.h"

// Values per parallel loop only above this: below it the fork costs more than the loop.
#define ACT_PAR_MIN 65536

// ---------------------------------------------------------------------------------------
// The per-value loops run on blocks of ACT_BLOCK values (the parallel tasks) in the helpers
// below, compiled to vector code: GCC's -O2 cost model declines these loops, and compares that
// may trap on NaN keep the selects from being if-converted unless traps are not modelled: O3
// and no-trapping-math (no-thread-jumps: see SiLU below). Neither changes a computed
// value (no reassociation, no contraction: -ffp-contract stays off under -std=c11). Each
// helper is compiled for AVX-512, AVX2 and the baseline (CDRL_VECTOR_CLONES, picked at load
// time): the same operations on wider vectors, so the same bytes on any. On Zen4 the AVX-512
// copy runs SiLU forward and backward 2x faster than the AVX2 one (2M values: 0.47 against
// 1.0 ms, 0.60 against 1.25 ms).
#pragma GCC push_options
#pragma GCC optimize("O3", "no-trapping-math", "no-thread-jumps")
#define ACT_BLOCK 4096

// max(x, slope x) for 0 <= slope <= 1, written so that the multiply is unconditional: GCC
// turns `x > 0 ? x : x * slope` back into a branch, which does not vectorise. NaN stays NaN
// (both operands are NaN). ivdep: out may be inp, element i reads inp[i] only.
CDRL_VECTOR_CLONES static void lrelu_forward_block(float *out, const float *inp, size_t n,
                                                   float slope) {
#pragma GCC ivdep
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], sx = x * slope;
        out[i] = x > sx ? x : sx;
    }
}

CDRL_VECTOR_CLONES static void lrelu_backward_block(float *dinp, const float *dout,
                                                    const float *inp, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) {
        float k = inp[i] > 0.0f ? 1.0f : slope; // as in forward
        dinp[i] += dout[i] * k;
    }
}

// add == NULL adds nothing: the loop is unswitched on it at O3, so neither form pays a test.
// ivdep: dinp may be dout (in place, the convolution's epilogue); element i reads index i only.
CDRL_VECTOR_CLONES static void lrelu_backward_set_block(float *dinp, const float *dout,
                                                        const float *inp, const float *add,
                                                        size_t n, float slope) {
#pragma GCC ivdep
    for (size_t i = 0; i < n; i++) {
        float k = inp[i] > 0.0f ? 1.0f : slope;
        dinp[i] = add ? dout[i] * k + add[i] : dout[i] * k;
    }
}

// One plane of the forward convolution's epilogue (ops.h), in the float operations of
// cdrl_add_channel_forward, cdrl_channel_scale and lrelu_forward_block. Each combination the energy
// network uses gets its own loop (always inlined with constant flags). ivdep: sum may be base;
// element i reads and writes index i only.
static inline __attribute__((always_inline)) void
epilogue_loop(float *out, float a, const float *base, float g, float *sum, float *act, size_t n,
              float slope, const int add, const int scale, const int lrelu) {
#pragma GCC ivdep
    for (size_t i = 0; i < n; i++) {
        float x = out[i];
        if (add) {
            x = x + a;
            out[i] = x;
        }
        if (scale) {
            x = base[i] + x * g;
            sum[i] = x;
        }
        if (lrelu) {
            float sx = x * slope;
            act[i] = x > sx ? x : sx;
        }
    }
}

CDRL_VECTOR_CLONES static void conv_epilogue_block(float *out, float a, float g, const float *base,
                                                   float *sum, float *act, size_t n, float slope,
                                                   int add, int scale) {
    if (add && act && !scale)
        epilogue_loop(out, a, NULL, 0.0f, NULL, act, n, slope, 1, 0, 1);
    else if (scale && act && !add)
        epilogue_loop(out, 0.0f, base, g, sum, act, n, slope, 0, 1, 1);
    else if (scale && !act && !add)
        epilogue_loop(out, 0.0f, base, g, sum, NULL, n, slope, 0, 1, 0);
    else if (act && !add && !scale)
        epilogue_loop(out, 0.0f, NULL, 0.0f, NULL, act, n, slope, 0, 0, 1);
    else // any other combination: one general loop
        for (size_t i = 0; i < n; i++) {
            float x = out[i];
            if (add) out[i] = x = x + a;
            if (scale) sum[i] = x = base[i] + x * g;
            if (act) {
                float sx = x * slope;
                act[i] = x > sx ? x : sx;
            }
        }
}

#pragma GCC pop_options

void cdrl_cpu_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    CDRL_ASSERT(slope >= 0.0f && slope <= 1.0f);
    const size_t nb = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        lrelu_forward_block(out + i0, inp + i0, len, slope);
    }
}

void cdrl_cpu_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n,
                             float slope) {
    const size_t nb = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        lrelu_backward_block(dinp + i0, dout + i0, inp + i0, len, slope);
    }
}

void cdrl_cpu_lrelu_backward_set(float *dinp, const float *dout, const float *inp, const float *add,
                                 size_t n, float slope) {
    const size_t nb = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        lrelu_backward_set_block(dinp + i0, dout + i0, inp + i0, add ? add + i0 : NULL, len, slope);
    }
}

static void lrelu_grad_rows(float *x, const cdrl_lrelu_grad *act, int C, int H, int W, int i0,
                            int ni, int y0, int y1) {
    // Whole images are one block (a long loop over consecutive pages), bands one per channel.
    const int whole = y0 == 0 && y1 == H;
    const size_t len =
        whole ? (size_t)ni * (size_t)C * (size_t)H * (size_t)W : (size_t)(y1 - y0) * (size_t)W;
    const int n_img = whole ? 1 : ni, n_ch = whole ? 1 : C;
    for (int i = i0; i < i0 + n_img; i++) {
        for (int c = 0; c < n_ch; c++) {
            const size_t o =
                (((size_t)i * (size_t)C + (size_t)c) * (size_t)H + (size_t)y0) * (size_t)W;
            lrelu_backward_set_block(x + o, x + o, act->at + o, act->add ? act->add + o : NULL, len,
                                     act->slope);
        }
    }
}

// The forward epilogue on rows [y0, y1) of each plane: add is per image and channel, gain per
// channel.
static void epilogue_rows(float *x, const cdrl_conv_epilogue *ep, int C, int H, int W, int i0,
                          int ni, int y0, int y1) {
    const size_t len = (size_t)(y1 - y0) * (size_t)W;
    for (int i = i0; i < i0 + ni; i++) {
        for (int c = 0; c < C; c++) {
            const size_t r = (size_t)i * (size_t)C + (size_t)c;
            const size_t o = (r * (size_t)H + (size_t)y0) * (size_t)W;
            conv_epilogue_block(x + o, ep->add ? ep->add[r] : 0.0f, ep->gain ? ep->gain[c] : 0.0f,
                                ep->base ? ep->base + o : NULL, ep->sum ? ep->sum + o : NULL,
                                ep->act ? ep->act + o : NULL, len, ep->slope, ep->add != NULL,
                                ep->gain != NULL);
        }
    }
}

void cdrl_cpu_conv_then_rows(float *x, const cdrl_cpu_conv_then *then, int C, int H, int W, int i0,
                             int ni, int y0, int y1) {
    if (!then) return;
    if (then->grad) lrelu_grad_rows(x, then->grad, C, H, W, i0, ni, y0, y1);
    if (then->fwd) epilogue_rows(x, then->fwd, C, H, W, i0, ni, y0, y1);
}

// ---------------------------------------------------------------------------------------
void cdrl_cpu_relu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void cdrl_cpu_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

// ---------------------------------------------------------------------------------------
// As for LeakyReLU above: vector code for the helpers, O3 and no-trapping-math. And no jump
// threading: it gives the clamped path (x < -88) its own copy of the division, x / (1 +
// e^88), which the vector loop then computes for every lane, and whose denormal quotients
// (x ~ 1 over 1.6e38) cost a microcode assist each: SiLU forward ran 6.5x slower than backward.
#pragma GCC push_options
#pragma GCC optimize("O3", "no-trapping-math", "no-thread-jumps")

// exp(t) for t in [-87, 88] in plain float arithmetic that vectorises, where libm's expf is
// one call per element (SiLU was a fifth of the U-Net's time). Cody-Waite reduction
// t = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two so that n ln2 is exact, then the
// degree-6 polynomial of Cephes' expf (1-2 ulp) times 2^n built in the exponent bits. The
// caller clamps t: 2^n stays a normal float and no overflow occurs.
static inline float exp_clamped(float t) {
    // round(t / ln2): adding 1.5 * 2^23 pushes the fraction bits out (round to nearest even)
    const float magic = 12582912.0f;
    float fn = (t * 1.44269504088896341f + magic) - magic;
    float r = t - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union {
        int32_t i;
        float f;
    } e;
    e.i = ((int32_t)fn + 127) << 23;
    return p * e.f;
}

// exp(-x) clamped to [exp(-87), exp(88)]: beyond, SiLU and its derivative are below any
// tolerance of interest (x e^-88 < 1e-36 for x < -88; for x > 87, 1 + e^-87 rounds to 1, as
// the exact value does). A NaN x still gives NaN through x itself.
static inline float exp_neg(float x) {
    float t = -x;
    t = t <= 88.0f ? t : 88.0f; // NaN becomes 88 here: no NaN reaches the int conversion
    t = t >= -87.0f ? t : -87.0f;
    return exp_clamped(t);
}

// x / (1 + exp(-x)) rather than x * sigmoid(x): for x << 0 the quotient is a clean tiny
// value instead of 0 * inf. For x >> 0, exp(-x) is tiny and out = x.
// ivdep: out may be inp (the U-Net applies SiLU in place), which would otherwise send the loop
// to its scalar version; element i reads inp[i] only, so the vector loop is right either way.
CDRL_VECTOR_CLONES static void silu_forward_block(float *out, const float *inp, size_t n) {
#pragma GCC ivdep
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] / (1.0f + exp_neg(inp[i]));
}

// d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x), in PyTorch's order of products; added to
// dinp, or (set) written as 0 + it. Two loops: one loop with `(set ? 0 : dinp[i]) +` is
// unswitched by GCC 12, but only one of its copies gets the full-width AVX-512 vectors.
CDRL_VECTOR_CLONES static void silu_backward_block(float *dinp, const float *dout, const float *inp,
                                                   size_t n, int set) {
    if (set) {
        for (size_t i = 0; i < n; i++) {
            const float x = inp[i], s = 1.0f / (1.0f + exp_neg(x));
            dinp[i] = 0.0f + dout[i] * s * (1.0f + x * (1.0f - s));
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const float x = inp[i], s = 1.0f / (1.0f + exp_neg(x));
            dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
        }
    }
}

#pragma GCC pop_options

void cdrl_cpu_silu_forward(float *out, const float *inp, size_t n) {
    const size_t nb = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        silu_forward_block(out + i0, inp + i0, len);
    }
}

static void silu_backward(float *dinp, const float *dout, const float *inp, size_t n, int set) {
    const size_t nb = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        silu_backward_block(dinp + i0, dout + i0, inp + i0, len, set);
    }
}

void cdrl_cpu_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    silu_backward(dinp, dout, inp, n, 0);
}

void cdrl_cpu_silu_backward_set(float *dinp, const float *dout, const float *inp, size_t n) {
    silu_backward(dinp, dout, inp, n, 1);
}
