// The reference backend's layer ops: linear, conv2d, pooling and upsampling, activations,
// group norm, dropout, spectral norm, the noise-level embedding, attention, concatenation,
// spatial sum and the per-channel add (ops/ops.h has what each computes). Each is the
// definition as a plain loop nest, one thread, no libraries; long sums run in double. Every
// backward forms an element's whole gradient first and adds it once, so that accumulating
// twice gives exactly twice the gradient.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/ref/ref.h"

// ---------------------------------------------------------------------------------------
// Linear: out[n, o] = b[o] + sum_i inp[n, i] w[o, i].

size_t cdrl_ref_linear_scratch_size(int N, int IC, int OC) {
    (void)N, (void)IC, (void)OC;
    return 0;
}

void cdrl_ref_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                             int IC, int OC, cdrl_arena *scratch) {
    (void)scratch;
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double s = b ? (double)b[o] : 0.0;
            for (int i = 0; i < IC; i++)
                s += (double)inp[(size_t)n * IC + i] * (double)w[(size_t)o * IC + i];
            out[(size_t)n * OC + o] = (float)s;
        }
    }
}

// dinp[n, i] += sum_o dout[n, o] w[o, i]; dw[o, i] += sum_n dout[n, o] inp[n, i];
// db[o] += sum_n dout[n, o].
void cdrl_ref_linear_backward(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, int N, int IC, int OC,
                              cdrl_arena *scratch) {
    (void)scratch;
    if (dinp) {
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < IC; i++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++)
                    s += (double)dout[(size_t)n * OC + o] * (double)w[(size_t)o * IC + i];
                dinp[(size_t)n * IC + i] += (float)s;
            }
        }
    }
    if (dw) {
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double s = 0.0;
                for (int n = 0; n < N; n++)
                    s += (double)dout[(size_t)n * OC + o] * (double)inp[(size_t)n * IC + i];
                dw[(size_t)o * IC + i] += (float)s;
            }
        }
    }
    if (db) {
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int n = 0; n < N; n++)
                s += (double)dout[(size_t)n * OC + o];
            db[o] += (float)s;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Conv2d, stride 1, zero padding K/2:
// out[b, oc, y, x] = bias[oc] + sum_{ic, kh, kw} w[oc, ic, kh, kw] inp[b, ic, y + kh - p,
// x + kw - p], p = K/2, terms outside the image being zero.

size_t cdrl_ref_conv2d_scratch_size(const cdrl_conv2d_desc *d) {
    (void)d;
    return 0;
}

// Flat indices of (b, c, y, x) in a (B, C, H, W) tensor and of (oc, ic, kh, kw) in the kernel.
static size_t at4(int b, int c, int y, int x, int C, int H, int W) {
    return (((size_t)b * (size_t)C + (size_t)c) * (size_t)H + (size_t)y) * (size_t)W + (size_t)x;
}

static size_t wat(int oc, int ic, int kh, int kw, int IC, int K) {
    return (((size_t)oc * (size_t)IC + (size_t)ic) * (size_t)K + (size_t)kh) * (size_t)K +
           (size_t)kw;
}

static int inside(int y, int x, int H, int W) { return y >= 0 && y < H && x >= 0 && x < W; }

// Precision of the forward and input-gradient products (cdrl_set_precision): with
// CDRL_PRECISION_BF16, for the products cdrl_bf16_conv_applies names, both factors are rounded
// to bfloat16 first, which is what the cpu backend's bf16 products take; sums stay in double.
static int precision;

int cdrl_ref_set_precision(int p) {
    const int prev = precision;
    precision = p;
    return prev;
}

int cdrl_ref_bf16_available(void) { return 1; } // emulated: rounding, then exact products

// v, or v rounded to the nearest bfloat16 (ties to even) when round is set.
static double factor(float v, int round) {
    if (!round || !isfinite(v)) return (double)v;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float r;
    memcpy(&r, &u, sizeof r);
    return (double)r;
}

// The epilogue as the passes it stands for (ops.h), after the whole convolution.
static void conv_epilogue(float *out, const cdrl_conv_epilogue *ep, const cdrl_conv2d_desc *d) {
    const int HW = d->H * d->W;
    const size_t n = (size_t)d->B * (size_t)d->OC * (size_t)HW;
    if (ep->add) cdrl_ref_add_channel_forward(out, out, ep->add, d->B, d->OC, HW);
    const float *y = out;
    if (ep->gain) {
        cdrl_ref_channel_scale(ep->sum, ep->base, out, ep->gain, d->B, d->OC, HW, 0);
        y = ep->sum;
    }
    if (ep->act) cdrl_ref_lrelu_forward(ep->act, y, n, ep->slope);
}

void cdrl_ref_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                             const cdrl_conv_epilogue *ep, const cdrl_conv2d_desc *d,
                             cdrl_arena *scratch) {
    (void)scratch;
    const int B = d->B, IC = d->IC, OC = d->OC, H = d->H, W = d->W, K = d->K, p = K / 2;
    CDRL_ASSERT(K == 1 || K == 3);
    const int bf = precision == CDRL_PRECISION_BF16 && cdrl_bf16_conv_applies(d, IC);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double s = b ? (double)b[oc] : 0.0;
                    for (int ic = 0; ic < IC; ic++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                const int iy = y + kh - p, ix = x + kw - p;
                                if (!inside(iy, ix, H, W)) continue;
                                s += factor(w[wat(oc, ic, kh, kw, IC, K)], bf) *
                                     factor(inp[at4(n, ic, iy, ix, IC, H, W)], bf);
                            }
                    out[at4(n, oc, y, x, OC, H, W)] = (float)s;
                }
    if (ep) conv_epilogue(out, ep, d);
}

// dinp[b, ic, iy, ix] += sum over the outputs (oc, y, x) that read it, y = iy - kh + p,
// of dout[b, oc, y, x] w[oc, ic, kh, kw]; dw[oc, ic, kh, kw] += sum_{b, y, x} dout[b, oc, y, x]
// inp[b, ic, y + kh - p, x + kw - p]; db[oc] += sum_{b, y, x} dout[b, oc, y, x].
void cdrl_ref_conv2d_input_grad(float *dinp, const float *dout, const float *w,
                                const cdrl_lrelu_grad *act, const cdrl_conv2d_desc *d,
                                cdrl_arena *scratch) {
    const size_t n = (size_t)d->B * (size_t)d->IC * (size_t)d->H * (size_t)d->W;
    for (size_t i = 0; i < n; i++)
        dinp[i] = 0.0f;
    cdrl_ref_conv2d_backward(dinp, NULL, NULL, dout, NULL, w, d, scratch);
    if (act) cdrl_ref_lrelu_backward_set(dinp, dinp, act->at, act->add, n, act->slope);
}

void cdrl_ref_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, const cdrl_conv2d_desc *d,
                              cdrl_arena *scratch) {
    (void)scratch;
    const int B = d->B, IC = d->IC, OC = d->OC, H = d->H, W = d->W, K = d->K, p = K / 2;
    CDRL_ASSERT(K == 1 || K == 3);
    const int bf = precision == CDRL_PRECISION_BF16 && cdrl_bf16_conv_applies(d, OC);
    if (dinp) {
        for (int n = 0; n < B; n++)
            for (int ic = 0; ic < IC; ic++)
                for (int iy = 0; iy < H; iy++)
                    for (int ix = 0; ix < W; ix++) {
                        double s = 0.0;
                        for (int oc = 0; oc < OC; oc++)
                            for (int kh = 0; kh < K; kh++)
                                for (int kw = 0; kw < K; kw++) {
                                    const int y = iy - kh + p, x = ix - kw + p;
                                    if (!inside(y, x, H, W)) continue;
                                    s += factor(dout[at4(n, oc, y, x, OC, H, W)], bf) *
                                         factor(w[wat(oc, ic, kh, kw, IC, K)], bf);
                                }
                        dinp[at4(n, ic, iy, ix, IC, H, W)] += (float)s;
                    }
    }
    if (dw) {
        for (int oc = 0; oc < OC; oc++)
            for (int ic = 0; ic < IC; ic++)
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) {
                        double s = 0.0;
                        for (int n = 0; n < B; n++)
                            for (int y = 0; y < H; y++)
                                for (int x = 0; x < W; x++) {
                                    const int iy = y + kh - p, ix = x + kw - p;
                                    if (!inside(iy, ix, H, W)) continue;
                                    s += (double)dout[at4(n, oc, y, x, OC, H, W)] *
                                         (double)inp[at4(n, ic, iy, ix, IC, H, W)];
                                }
                        dw[wat(oc, ic, kh, kw, IC, K)] += (float)s;
                    }
    }
    if (db) {
        for (int oc = 0; oc < OC; oc++) {
            double s = 0.0;
            for (int n = 0; n < B; n++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        s += (double)dout[at4(n, oc, y, x, OC, H, W)];
            db[oc] += (float)s;
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2x2 average pooling, floor mode: output (i, j) is the mean of input rows 2i, 2i+1 and
// columns 2j, 2j+1; an odd last row or column belongs to no window. The window is summed row
// by row and then divided by 4, PyTorch's order, so that the fixtures match exactly.

void cdrl_ref_avgpool2_forward(float *out, const float *inp, int BC, int H, int W) {
    const int Ho = H / 2, Wo = W / 2;
    for (int c = 0; c < BC; c++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                float s = inp[at4(0, c, 2 * i, 2 * j, BC, H, W)];
                s += inp[at4(0, c, 2 * i, 2 * j + 1, BC, H, W)];
                s += inp[at4(0, c, 2 * i + 1, 2 * j, BC, H, W)];
                s += inp[at4(0, c, 2 * i + 1, 2 * j + 1, BC, H, W)];
                out[at4(0, c, i, j, BC, Ho, Wo)] = s / 4.0f;
            }
}

// Each input of a window gets a quarter of the window's gradient; dropped ones get nothing.
void cdrl_ref_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    const int Ho = H / 2, Wo = W / 2;
    for (int c = 0; c < BC; c++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                const float g = dout[at4(0, c, i, j, BC, Ho, Wo)] / 4.0f;
                for (int a = 0; a < 2; a++)
                    for (int e = 0; e < 2; e++)
                        dinp[at4(0, c, 2 * i + a, 2 * j + e, BC, H, W)] += g;
            }
}

void cdrl_ref_avgpool2_backward_set(float *dinp, const float *dout, int BC, int H, int W) {
    cdrl_ref_zero(dinp, (size_t)BC * (size_t)H * (size_t)W);
    cdrl_ref_avgpool2_backward(dinp, dout, BC, H, W);
}

// out[c, y, x] = inp[c, y / 2, x / 2].
void cdrl_ref_upsample2_forward(float *out, const float *inp, int BC, int H, int W) {
    for (int c = 0; c < BC; c++)
        for (int y = 0; y < 2 * H; y++)
            for (int x = 0; x < 2 * W; x++)
                out[at4(0, c, y, x, BC, 2 * H, 2 * W)] = inp[at4(0, c, y / 2, x / 2, BC, H, W)];
}

// dinp[c, i, j] += the four gradients of its copies, summed row by row (PyTorch's order).
void cdrl_ref_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    for (int c = 0; c < BC; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                float s = dout[at4(0, c, 2 * i, 2 * j, BC, 2 * H, 2 * W)];
                s += dout[at4(0, c, 2 * i, 2 * j + 1, BC, 2 * H, 2 * W)];
                s += dout[at4(0, c, 2 * i + 1, 2 * j, BC, 2 * H, 2 * W)];
                s += dout[at4(0, c, 2 * i + 1, 2 * j + 1, BC, 2 * H, 2 * W)];
                dinp[at4(0, c, i, j, BC, H, W)] += s;
            }
}

// ---------------------------------------------------------------------------------------
// Activations. At exactly 0 the gradient is the left one (0 for ReLU, slope for LeakyReLU),
// as PyTorch's backward gives.

void cdrl_ref_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : inp[i] * slope;
}

void cdrl_ref_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n,
                             float slope) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : dout[i] * slope;
}

void cdrl_ref_lrelu_backward_set(float *dinp, const float *dout, const float *inp, const float *add,
                                 size_t n, float slope) {
    for (size_t i = 0; i < n; i++) {
        const float g = inp[i] > 0.0f ? dout[i] : dout[i] * slope;
        dinp[i] = add ? g + add[i] : g;
    }
}

void cdrl_ref_relu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void cdrl_ref_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

// x sigmoid(x) written as x / (1 + e^-x): for x << 0 that is a tiny quotient (x / inf = -0
// at the far end) rather than 0 * inf.
void cdrl_ref_silu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

// d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x).
void cdrl_ref_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], s = 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

void cdrl_ref_silu_backward_set(float *dinp, const float *dout, const float *inp, size_t n) {
    cdrl_ref_zero(dinp, n);
    cdrl_ref_silu_backward(dinp, dout, inp, n);
}

// ---------------------------------------------------------------------------------------
// Group norm. Group (b, g) is the CG = C/G channels from g CG on, CG HW values that lie
// contiguously in (B, C, HW). Mean and biased variance in double, two passes.

static double group_mean(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i];
    return s / (double)n;
}

void cdrl_ref_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                const float *gamma, const float *beta, int B, int C, int HW, int G,
                                float eps) {
    CDRL_ASSERT(G > 0 && C % G == 0);
    const int CG = C / G;
    const size_t n = (size_t)CG * (size_t)HW;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            const size_t bg = (size_t)b * (size_t)G + (size_t)g;
            const float *x = inp + bg * n;
            float *y = out + bg * n;
            const double m = group_mean(x, n);
            double v = 0.0;
            for (size_t i = 0; i < n; i++)
                v += ((double)x[i] - m) * ((double)x[i] - m);
            const double rs = 1.0 / sqrt(v / (double)n + (double)eps);
            mean[bg] = (float)m;
            rstd[bg] = (float)rs;
            for (int c = 0; c < CG; c++)
                for (int i = 0; i < HW; i++) {
                    const size_t k = (size_t)c * (size_t)HW + (size_t)i;
                    const int ch = g * CG + c;
                    y[k] = (float)(((double)x[k] - m) * rs * (double)gamma[ch] + (double)beta[ch]);
                }
        }
}

// With xhat = (x - mean) rstd and gi = dout gamma over the n values of a group:
//   dx = rstd (gi - mean(gi) - xhat mean(gi xhat)),
//   dgamma[c] = sum_{b, hw} dout xhat, dbeta[c] = sum_{b, hw} dout.
// rstd is the saved one; the mean is recomputed in double from inp rather than taken from the
// saved float. For groups of two values (the toy initializer) xhat is +-1 and dx is what the
// cancellation leaves, where the saved mean's float rounding times rstd (up to 1/sqrt(eps))
// would cost ~1e-3 of dx.
void cdrl_ref_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                 const float *inp, const float *mean, const float *rstd,
                                 const float *gamma, int B, int C, int HW, int G) {
    CDRL_ASSERT(G > 0 && C % G == 0);
    (void)mean; // recomputed, see above
    const int CG = C / G;
    const size_t n = (size_t)CG * (size_t)HW;
    if (dinp) {
        for (int b = 0; b < B; b++)
            for (int g = 0; g < G; g++) {
                const size_t bg = (size_t)b * (size_t)G + (size_t)g;
                const float *x = inp + bg * n, *dy = dout + bg * n;
                float *dx = dinp + bg * n;
                const double m = group_mean(x, n), rs = (double)rstd[bg];
                double sum_g = 0.0, sum_gx = 0.0;
                for (int c = 0; c < CG; c++)
                    for (int i = 0; i < HW; i++) {
                        const size_t k = (size_t)c * (size_t)HW + (size_t)i;
                        const double gi = (double)dy[k] * (double)gamma[g * CG + c];
                        sum_g += gi;
                        sum_gx += gi * ((double)x[k] - m) * rs;
                    }
                const double mean_g = sum_g / (double)n, mean_gx = sum_gx / (double)n;
                for (int c = 0; c < CG; c++)
                    for (int i = 0; i < HW; i++) {
                        const size_t k = (size_t)c * (size_t)HW + (size_t)i;
                        const double gi = (double)dy[k] * (double)gamma[g * CG + c];
                        const double xhat = ((double)x[k] - m) * rs;
                        dx[k] += (float)(rs * (gi - mean_g - xhat * mean_gx));
                    }
            }
    }
    if (dgamma || dbeta) {
        for (int c = 0; c < C; c++) {
            const int g = c / CG;
            double sum_dy = 0.0, sum_dyx = 0.0;
            for (int b = 0; b < B; b++) {
                const size_t bg = (size_t)b * (size_t)G + (size_t)g;
                const double m = group_mean(inp + bg * n, n), rs = (double)rstd[bg];
                const size_t off = ((size_t)b * (size_t)C + (size_t)c) * (size_t)HW;
                for (int i = 0; i < HW; i++) {
                    const double dy = (double)dout[off + (size_t)i];
                    sum_dy += dy;
                    sum_dyx += dy * ((double)inp[off + (size_t)i] - m) * rs;
                }
            }
            if (dgamma) dgamma[c] += (float)sum_dyx;
            if (dbeta) dbeta[c] += (float)sum_dy;
        }
    }
}

void cdrl_ref_groupnorm_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                     const float *inp, const float *mean, const float *rstd,
                                     const float *gamma, int B, int C, int HW, int G) {
    if (dinp) cdrl_ref_zero(dinp, (size_t)B * (size_t)C * (size_t)HW);
    cdrl_ref_groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW, G);
}

// ---------------------------------------------------------------------------------------
// Dropout. The draws are those of the cpu backend, so that a seeded model drops the same
// values on either: n uniforms from rng in one call (none at all when p = 0), value i kept
// when its uniform is >= p; the multiplier 1/(1-p) is rounded to float once, as torch's
// noise.div_(1 - p) on a float tensor does.

void cdrl_ref_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
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
    cdrl_rng_uniform(rng, mask, n); // the uniforms, replaced by the multipliers below
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = mask[i] >= p ? scale : 0.0f;
        out[i] = inp[i] * mask[i];
    }
}

void cdrl_ref_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * mask[i];
}

void cdrl_ref_dropout_backward_set(float *dinp, const float *dout, const float *mask, size_t n) {
    cdrl_ref_zero(dinp, n);
    cdrl_ref_dropout_backward(dinp, dout, mask, n);
}

// ---------------------------------------------------------------------------------------
// Spectral norm (torch.nn.utils.spectral_norm: one power iteration, eps 1e-12). W is
// (OC, IN) row-major.

// x / max(||x||, 1e-12) in place (F.normalize), the norm in double and rounded to float.
static void normalize(float *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    float nrm = (float)sqrt(s);
    if (!(nrm > 1e-12f)) nrm = 1e-12f;
    for (int i = 0; i < n; i++)
        x[i] = x[i] / nrm;
}

// (W v)[o], in double.
static double row_times(const float *w, const float *v, int o, int IN) {
    double s = 0.0;
    for (int i = 0; i < IN; i++)
        s += (double)w[(size_t)o * (size_t)IN + (size_t)i] * (double)v[i];
    return s;
}

void cdrl_ref_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                    int OC, int IN, int power_iterate) {
    if (power_iterate) {
        // v = normalize(Wᵀ u)
        for (int i = 0; i < IN; i++) {
            double s = 0.0;
            for (int o = 0; o < OC; o++)
                s += (double)w[(size_t)o * (size_t)IN + (size_t)i] * (double)u[o];
            v[i] = (float)s;
        }
        normalize(v, IN);
        // u = normalize(W v)
        for (int o = 0; o < OC; o++)
            u[o] = (float)row_times(w, v, o, IN);
        normalize(u, OC);
    }
    // sigma = uᵀ W v
    double s = 0.0;
    for (int o = 0; o < OC; o++)
        s += (double)u[o] * row_times(w, v, o, IN);
    const float sg = (float)s;
    *sigma = sg;
    for (size_t i = 0; i < (size_t)OC * (size_t)IN; i++)
        w_sn[i] = w[i] / sg;
}

// dw += dw_sn / sigma - (sum(dw_sn * w) / sigma^2) u vᵀ
void cdrl_ref_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                     const float *v, float sigma, int OC, int IN) {
    const size_t nw = (size_t)OC * (size_t)IN;
    double dot = 0.0;
    for (size_t i = 0; i < nw; i++)
        dot += (double)dw_sn[i] * (double)w[i];
    const double sg = (double)sigma, coef = dot / (sg * sg);
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IN; i++) {
            const size_t k = (size_t)o * (size_t)IN + (size_t)i;
            dw[k] += (float)((double)dw_sn[k] / sg - coef * (double)u[o] * (double)v[i]);
        }
}

// ---------------------------------------------------------------------------------------
// Noise-level embedding: out[b] = [sin(tau w_0), .., sin(tau w_{D/2-1}), cos(tau w_0), ..],
// w_k = exp(-k ln(10000) / (D/2 - 1)). In float32 as the reference network forms it (the
// step ln(10000) / (D/2 - 1) rounded to float, k step, its exp and the angle each in float):
// at tau ~ 1000 an angle formed in double would differ from that reference by ~1e-4.

static float embed_freq(int k, int half) {
    const float step = (float)(-log(10000.0) / (double)(half - 1));
    return expf((float)k * step);
}

void cdrl_ref_timestep_embedding_forward(float *out, const float *tau, int B, int D) {
    CDRL_ASSERT(D >= 4 && D % 2 == 0);
    const int half = D / 2;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < half; k++) {
            const float angle = tau[b] * embed_freq(k, half);
            out[(size_t)b * (size_t)D + (size_t)k] = sinf(angle);
            out[(size_t)b * (size_t)D + (size_t)(half + k)] = cosf(angle);
        }
}

// dtau[b] += sum_k w_k (dout_sin[k] cos(tau w_k) - dout_cos[k] sin(tau w_k)).
void cdrl_ref_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                          int D) {
    CDRL_ASSERT(D >= 4 && D % 2 == 0);
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * (size_t)D;
        double s = 0.0;
        for (int k = 0; k < half; k++) {
            const float wk = embed_freq(k, half), angle = tau[b] * wk;
            s += (double)wk *
                 ((double)g[k] * cos((double)angle) - (double)g[half + k] * sin((double)angle));
        }
        dtau[b] += (float)s;
    }
}

// ---------------------------------------------------------------------------------------
// Attention of one batch element: q, k, v (C, N) at qkv + b 3CN + {0, CN, 2CN};
// S[i, j] = sum_c q[c, i] k[c, j] / sqrt(C), A = softmax over j, out[c, i] = sum_j A[i, j]
// v[c, j]. probs holds A as float, and out and backward use that float A.

size_t cdrl_ref_attention_scratch_size(int B, int C, int N) {
    (void)B, (void)C, (void)N;
    return 0;
}

void cdrl_ref_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                                cdrl_arena *scratch) {
    (void)scratch;
    const double scale = 1.0 / sqrt((double)C);
    const size_t CN = (size_t)C * (size_t)N, NN = (size_t)N * (size_t)N;
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * 3 * CN, *k = q + CN, *v = k + CN;
        float *a = probs + (size_t)b * NN, *o = out + (size_t)b * CN;
        for (int i = 0; i < N; i++) {
            float *row = a + (size_t)i * (size_t)N;
            // the scores, then softmax less the row maximum so that exp cannot overflow
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int c = 0; c < C; c++)
                    s += (double)q[(size_t)c * N + i] * (double)k[(size_t)c * N + j];
                row[j] = (float)(s * scale);
            }
            float mx = row[0];
            for (int j = 1; j < N; j++)
                if (row[j] > mx) mx = row[j];
            double sum = 0.0;
            for (int j = 0; j < N; j++)
                sum += exp((double)row[j] - (double)mx);
            for (int j = 0; j < N; j++)
                row[j] = (float)(exp((double)row[j] - (double)mx) / sum);
        }
        for (int c = 0; c < C; c++)
            for (int i = 0; i < N; i++) {
                double s = 0.0;
                for (int j = 0; j < N; j++)
                    s += (double)a[(size_t)i * N + j] * (double)v[(size_t)c * N + j];
                o[(size_t)c * N + i] = (float)s;
            }
    }
}

// With dA[i, j] = sum_c dout[c, i] v[c, j] and dS[i, j] = A[i, j] (dA[i, j] - sum_j' A[i, j']
// dA[i, j']) (the softmax's backward):
//   dv[c, j] += sum_i dout[c, i] A[i, j],
//   dq[c, i] += sum_j dS[i, j] k[c, j] / sqrt(C),  dk[c, j] += sum_i dS[i, j] q[c, i] / sqrt(C).
// dS (N, N) of one batch element is held in a heap block of doubles: the ref backend takes no
// scratch.
void cdrl_ref_attention_backward(float *dqkv, const float *dout, const float *probs,
                                 const float *qkv, int B, int C, int N, cdrl_arena *scratch) {
    (void)scratch;
    const double scale = 1.0 / sqrt((double)C);
    const size_t CN = (size_t)C * (size_t)N, NN = (size_t)N * (size_t)N;
    double *ds = cdrl_malloc(NN * sizeof(double));
    CDRL_ASSERT(ds);
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * 3 * CN, *k = q + CN, *v = k + CN;
        const float *a = probs + (size_t)b * NN, *go = dout + (size_t)b * CN;
        float *dq = dqkv + (size_t)b * 3 * CN, *dk = dq + CN, *dv = dk + CN;
        for (int i = 0; i < N; i++) {
            double *row = ds + (size_t)i * (size_t)N;
            double dot = 0.0; // sum_j A[i, j] dA[i, j]
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int c = 0; c < C; c++)
                    s += (double)go[(size_t)c * N + i] * (double)v[(size_t)c * N + j];
                row[j] = s;
                dot += (double)a[(size_t)i * N + j] * s;
            }
            for (int j = 0; j < N; j++)
                row[j] = (double)a[(size_t)i * N + j] * (row[j] - dot);
        }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int i = 0; i < N; i++)
                    s += (double)go[(size_t)c * N + i] * (double)a[(size_t)i * N + j];
                dv[(size_t)c * N + j] += (float)s;
            }
        for (int c = 0; c < C; c++)
            for (int i = 0; i < N; i++) {
                double s = 0.0;
                for (int j = 0; j < N; j++)
                    s += ds[(size_t)i * N + j] * (double)k[(size_t)c * N + j];
                dq[(size_t)c * N + i] += (float)(s * scale);
            }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int i = 0; i < N; i++)
                    s += ds[(size_t)i * N + j] * (double)q[(size_t)c * N + i];
                dk[(size_t)c * N + j] += (float)(s * scale);
            }
    }
    cdrl_free(ds);
}

// ---------------------------------------------------------------------------------------
// Channel concatenation: sample b of out is a's Ca channels, then b's Cb channels.

void cdrl_ref_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                             int HW) {
    const size_t na = (size_t)Ca * (size_t)HW, nb = (size_t)Cb * (size_t)HW;
    for (int s = 0; s < B; s++) {
        float *o = out + (size_t)s * (na + nb);
        for (size_t i = 0; i < na; i++)
            o[i] = a[(size_t)s * na + i];
        for (size_t i = 0; i < nb; i++)
            o[na + i] = b[(size_t)s * nb + i];
    }
}

void cdrl_ref_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb,
                              int HW) {
    const size_t na = (size_t)Ca * (size_t)HW, nb = (size_t)Cb * (size_t)HW;
    for (int s = 0; s < B; s++) {
        const float *g = dout + (size_t)s * (na + nb);
        if (da)
            for (size_t i = 0; i < na; i++)
                da[(size_t)s * na + i] += g[i];
        if (db)
            for (size_t i = 0; i < nb; i++)
                db[(size_t)s * nb + i] += g[na + i];
    }
}

// ---------------------------------------------------------------------------------------
// Spatial sum and per-channel add: row r = (b, c) of HW values.

void cdrl_ref_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW) {
    for (size_t r = 0; r < (size_t)B * (size_t)C; r++) {
        double s = 0.0;
        for (int i = 0; i < HW; i++)
            s += (double)inp[r * (size_t)HW + (size_t)i];
        out[r] = (float)s;
    }
}

void cdrl_ref_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW) {
    for (size_t r = 0; r < (size_t)B * (size_t)C; r++)
        for (int i = 0; i < HW; i++)
            dinp[r * (size_t)HW + (size_t)i] += dout[r];
}

void cdrl_ref_add_channel_forward(float *out, const float *inp, const float *add, int B, int C,
                                  int HW) {
    for (size_t r = 0; r < (size_t)B * (size_t)C; r++)
        for (int i = 0; i < HW; i++)
            out[r * (size_t)HW + (size_t)i] = inp[r * (size_t)HW + (size_t)i] + add[r];
}

void cdrl_ref_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW) {
    for (size_t r = 0; r < (size_t)B * (size_t)C; r++) {
        double s = 0.0;
        for (int i = 0; i < HW; i++)
            s += (double)dout[r * (size_t)HW + (size_t)i];
        dadd[r] += (float)s;
    }
}
