// 3x3 convolutions with few input channels: see conv_small.h.
//
// With one to a few input channels the GEMM of the im2col path has an inner dimension of 9 to
// 36, and the input gradient a single row: oneDNN runs such shapes at 10-20% of its peak. Here
// each output row is summed in a local buffer from the rows it reads, tap by tap, in loops over
// the row's pixels that the compiler vectorises, from a copy of the image with a border of
// zeros; every image is one unit of work, so the result is the same whatever the thread count.
#include "ops/cpu/conv_small.h"

#include "ops/cpu/chunks.h"
#include "ops/cpu/cpu.h"

#pragma GCC optimize("O3")

// Measured on Zen4, 2 cores, batch 64, 32x32 maps into and out of 32 channels, against the
// im2col path (ms): forward 1 channel 0.52 against 1.54, 2: 0.88 / 2.19, 3: 1.37 / 3.40, 4: 1.66 /
// 3.11; input gradient 1 channel 0.68 against 1.08, 2: 1.24 / 1.26, 3: 1.84 / 1.45 (the sums over
// 32 planes wait on each other where the GEMM's rows do not).
int cdrl_conv_small_applies(const cdrl_conv2d_desc *d, int C, int input_grad) {
    return d->K == 3 && C <= (input_grad ? 1 : 4);
}

// A worker's copy of one image's C planes with a border of zeros: (C, H + 2, W + 2), so that
// every tap reads a whole row without tests at the image's edges.
static size_t padded_floats(const cdrl_conv2d_desc *d, int C) {
    return (size_t)C * (size_t)(d->H + 2) * (size_t)(d->W + 2);
}

static size_t worker_bytes(const cdrl_conv2d_desc *d) {
    const int C = d->IC > d->OC ? d->IC : d->OC;
    return cdrl_arena_floats_size(padded_floats(d, C));
}

size_t cdrl_conv_small_scratch_size(const cdrl_conv2d_desc *d) {
    const int n = cdrl_threads() < d->B ? cdrl_threads() : d->B;
    return (size_t)n * worker_bytes(d);
}

// The copy in plain loops, inlined into the cloned functions below: per row a call to memcpy
// cost more than the taps of the input gradient's 32 planes.
static inline __attribute__((always_inline)) void
pad_image(float *restrict pad, const float *restrict img, int C, int H, int W) {
    const size_t Wp = (size_t)W + 2;
    for (int c = 0; c < C; c++) {
        float *p = pad + (size_t)c * (size_t)(H + 2) * Wp;
        for (size_t x = 0; x < Wp; x++)
            p[x] = 0.0f;
        for (int y = 0; y < H; y++) {
            float *row = p + (size_t)(y + 1) * Wp;
            const float *src = img + ((size_t)c * (size_t)H + (size_t)y) * (size_t)W;
            row[0] = 0.0f;
            for (int x = 0; x < W; x++)
                row[x + 1] = src[x];
            row[W + 1] = 0.0f;
        }
        for (size_t x = 0; x < Wp; x++)
            p[(size_t)(H + 1) * Wp + x] = 0.0f;
    }
}

// acc[x] += wv · row[x] for x in [0, n): one tap over a row segment, inlined into the cloned
// loops below. Whole segments have the constant width VW, so that the compiler keeps acc in
// vector registers across all the taps of a segment; the rest of a row goes in segments of up
// to SEG_MAX pixels, acc in memory.
#define VW      32
#define SEG_MAX 256
static inline __attribute__((always_inline)) void tap(float *restrict acc,
                                                      const float *restrict row, float wv, int n) {
    for (int x = 0; x < n; x++)
        acc[x] += wv * row[x];
}

// out (the row segment of n pixels at x0 of output row y, channel oc) = b + the sum over ic, kh,
// kw (in that order) of w · the padded input pad (IC, H + 2, W + 2) at (y + kh, x + kw).
static inline __attribute__((always_inline)) void forward_segment(float *out, const float *pad,
                                                                  const float *w, float bias,
                                                                  int IC, int oc, int y, int x0,
                                                                  int n, size_t Wp, size_t plane) {
    float acc[SEG_MAX];
    for (int x = 0; x < n; x++)
        acc[x] = bias;
    for (int ic = 0; ic < IC; ic++) {
        for (int kh = 0; kh < 3; kh++) {
            const float *row = pad + (size_t)ic * plane + (size_t)(y + kh) * Wp + x0;
            const float *wk = w + (((size_t)oc * (size_t)IC + (size_t)ic) * 3 + kh) * 3;
            tap(acc, row, wk[0], n);
            tap(acc, row + 1, wk[1], n);
            tap(acc, row + 2, wk[2], n);
        }
    }
    for (int x = 0; x < n; x++)
        out[x] = acc[x];
}

// One image: out (OC, H, W) from inp (IC, H, W), through its padded copy in pad.
CDRL_VECTOR_CLONES static void forward_image(float *out, const float *inp, float *pad,
                                             const float *w, const float *b, int IC, int OC, int H,
                                             int W) {
    const size_t Wp = (size_t)W + 2, plane = (size_t)(H + 2) * Wp;
    pad_image(pad, inp, IC, H, W);
    for (int oc = 0; oc < OC; oc++) {
        const float bias = b ? b[oc] : 0.0f;
        for (int y = 0; y < H; y++) {
            float *o = out + ((size_t)oc * (size_t)H + (size_t)y) * (size_t)W;
            int x0 = 0;
            for (; x0 + VW <= W; x0 += VW)
                forward_segment(o + x0, pad, w, bias, IC, oc, y, x0, VW, Wp, plane);
            for (; x0 < W; x0 += SEG_MAX) {
                const int n = W - x0 < SEG_MAX ? W - x0 : SEG_MAX;
                forward_segment(o + x0, pad, w, bias, IC, oc, y, x0, n, Wp, plane);
            }
        }
    }
}

// dinp (the row segment of n pixels at x0 of input row iy, channel ic) = (or +=) the sum over
// oc, kh, kw (in that order) of w · the padded output gradient pad (OC, H + 2, W + 2) at
// (iy - kh + 2, ix - kw + 2).
static inline __attribute__((always_inline)) void
input_grad_segment(float *dinp, const float *pad, const float *w, int IC, int OC, int ic, int iy,
                   int x0, int n, size_t Wp, size_t plane, int accumulate) {
    float acc[SEG_MAX];
    for (int x = 0; x < n; x++)
        acc[x] = 0.0f;
    for (int oc = 0; oc < OC; oc++) {
        for (int kh = 0; kh < 3; kh++) {
            const float *row = pad + (size_t)oc * plane + (size_t)(iy - kh + 2) * Wp + x0;
            const float *wk = w + (((size_t)oc * (size_t)IC + (size_t)ic) * 3 + kh) * 3;
            tap(acc, row + 2, wk[0], n);
            tap(acc, row + 1, wk[1], n);
            tap(acc, row, wk[2], n);
        }
    }
    if (accumulate)
        for (int x = 0; x < n; x++)
            dinp[x] += acc[x];
    else
        for (int x = 0; x < n; x++)
            dinp[x] = acc[x];
}

// One image: dinp (IC, H, W) from dout (OC, H, W), through its padded copy in pad.
CDRL_VECTOR_CLONES static void input_grad_image(float *dinp, const float *dout, float *pad,
                                                const float *w, int IC, int OC, int H, int W,
                                                int accumulate) {
    const size_t Wp = (size_t)W + 2, plane = (size_t)(H + 2) * Wp;
    pad_image(pad, dout, OC, H, W);
    for (int ic = 0; ic < IC; ic++) {
        for (int iy = 0; iy < H; iy++) {
            float *o = dinp + ((size_t)ic * (size_t)H + (size_t)iy) * (size_t)W;
            int x0 = 0;
            for (; x0 + VW <= W; x0 += VW)
                input_grad_segment(o + x0, pad, w, IC, OC, ic, iy, x0, VW, Wp, plane, accumulate);
            for (; x0 < W; x0 += SEG_MAX) {
                const int n = W - x0 < SEG_MAX ? W - x0 : SEG_MAX;
                input_grad_segment(o + x0, pad, w, IC, OC, ic, iy, x0, n, Wp, plane, accumulate);
            }
        }
    }
}

// Each image on one worker, through its padded copy, then `then` on the image: y (B, OC, H, W)
// from x (B, IC, H, W) forward, or the input gradient y (B, IC, H, W) from x (B, OC, H, W).
static void by_image(float *y, const float *x, const float *w, const float *b,
                     const cdrl_conv2d_desc *d, int input_grad, int accumulate,
                     const cdrl_cpu_conv_then *then, cdrl_arena *scratch) {
    const size_t in_img = (size_t)d->IC * (size_t)d->H * (size_t)d->W;
    const size_t out_img = (size_t)d->OC * (size_t)d->H * (size_t)d->W;
    const size_t mark = cdrl_arena_mark(scratch), per = worker_bytes(d) / sizeof(float);
    const int nw = cdrl_workers_fitting(scratch, worker_bytes(d), d->B);
    float *pads = cdrl_arena_floats(scratch, (size_t)nw * per);
#pragma omp parallel for schedule(static) num_threads(nw)
    for (int i = 0; i < d->B; i++) {
        float *pad = pads + (size_t)cdrl_worker_id() * per;
        if (input_grad)
            input_grad_image(y + (size_t)i * in_img, x + (size_t)i * out_img, pad, w, d->IC, d->OC,
                             d->H, d->W, accumulate);
        else
            forward_image(y + (size_t)i * out_img, x + (size_t)i * in_img, pad, w, b, d->IC, d->OC,
                          d->H, d->W);
        cdrl_cpu_conv_then_rows(y, then, input_grad ? d->IC : d->OC, d->H, d->W, i, 1, 0, d->H);
    }
    cdrl_arena_release(scratch, mark);
}

void cdrl_conv_small_forward(float *out, const float *inp, const float *w, const float *b,
                             const cdrl_conv2d_desc *d, const cdrl_cpu_conv_then *then,
                             cdrl_arena *scratch) {
    by_image(out, inp, w, b, d, 0, 0, then, scratch);
}

void cdrl_conv_small_input_grad(float *dinp, const float *dout, const float *w,
                                const cdrl_conv2d_desc *d, int accumulate,
                                const cdrl_cpu_conv_then *then, cdrl_arena *scratch) {
    CDRL_ASSERT(!(then && accumulate));
    by_image(dinp, dout, w, NULL, d, 1, accumulate, then, scratch);
}
