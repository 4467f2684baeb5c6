// Group normalisation with per-channel affine parameters, forward and backward (the U-Net's
// and the toy initializer's GN: 32 groups, eps 1e-6, method.md §5.5, §5.7).
// Leaves out GN without affine parameters and channels-last layouts.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html
// Moments are two-pass sums in double: a group's values are far from zero mean after a few
// layers, where float E[x^2] - E[x]^2 loses the variance. Each parallel task owns a whole
// group (or, for dgamma/dbeta, a whole channel) and sums it serially, so results are
// bit-identical for any thread count.
#include <math.h>

#include "ops/ops.h"

// Groups per parallel loop only above this many values: below it the fork costs more.
#define GN_PAR_MIN 16384

// Mean and 1/sqrt(biased variance + eps) of n values, in double. Biased, as torch and the
// GN paper normalise by n, not n - 1.
static void group_moments(const float *x, size_t n, float eps, double *mean, double *rstd) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i];
    const double m = s / (double)n;
    double v = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - m;
        v += d * d;
    }
    *mean = m;
    *rstd = 1.0 / sqrt(v / (double)n + (double)eps);
}

// ---------------------------------------------------------------------------------------
void cdrl_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps) {
    CDRL_ASSERT(G > 0 && C % G == 0 && B >= 0 && HW > 0 && gamma && beta);
    const int CG = C / G;                     // channels per group
    const size_t n = (size_t)CG * (size_t)HW; // values per group, contiguous in (B, C, HW)
    const int BG = B * G;
#pragma omp parallel for schedule(static) if ((size_t)BG * n >= GN_PAR_MIN)
    for (int bg = 0; bg < BG; bg++) {
        const float *x = inp + (size_t)bg * n; // (CG, HW)
        float *y = out + (size_t)bg * n;       // (CG, HW)
        double m, rs;
        group_moments(x, n, eps, &m, &rs);
        mean[bg] = (float)m;
        rstd[bg] = (float)rs;
        const int c0 = (bg % G) * CG;
        for (int c = 0; c < CG; c++) {
            const double scale = rs * (double)gamma[c0 + c], shift = (double)beta[c0 + c];
            const float *xc = x + (size_t)c * HW;
            float *yc = y + (size_t)c * HW;
            for (int i = 0; i < HW; i++)
                yc[i] = (float)(((double)xc[i] - m) * scale + shift);
        }
    }
}

// ---------------------------------------------------------------------------------------
// With xhat = (x - mean) rstd and g = dout * gamma over one group of n values:
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),
//   dgamma[c] = sum_{b, hw} dout xhat,  dbeta[c] = sum_{b, hw} dout.
// rstd is the saved one, but the mean is recomputed in double. When a group holds few values
// (2 in the toy initializer) xhat is ~ +-1 and dx is what is left of rstd (1 - xhat^2) after
// cancellation; the float rounding of the saved mean, ulp(mean) rstd in xhat with rstd up to
// 1/sqrt(eps) = 1000, then costs up to ~1e-3 of dx and breaks the exact antisymmetry of a
// pair's gradients (measured against a float64 twin: 4e-3 on dx ~ 7). The float rstd costs
// ~1000x less (4e-6) and cannot be rebuilt here (eps is not an argument). The extra passes,
// one per group for dx and one per channel for dgamma, are small next to the convolutions
// around every GN.
static double group_mean(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i];
    return s / (double)n;
}

void cdrl_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, int B, int C, int HW, int G) {
    CDRL_ASSERT(G > 0 && C % G == 0 && B >= 0 && HW > 0 && gamma);
    (void)mean; // recomputed, see above
    const int CG = C / G;
    const size_t n = (size_t)CG * (size_t)HW;
    const int BG = B * G;

    if (dinp) {
#pragma omp parallel for schedule(static) if ((size_t)BG * n >= GN_PAR_MIN)
        for (int bg = 0; bg < BG; bg++) {
            const float *x = inp + (size_t)bg * n;   // (CG, HW)
            const float *dy = dout + (size_t)bg * n; // (CG, HW)
            float *dx = dinp + (size_t)bg * n;       // (CG, HW)
            const double m = group_mean(x, n), rs = (double)rstd[bg];
            const int c0 = (bg % G) * CG;
            double sum_g = 0.0, sum_gd = 0.0; // sum g, sum g (x - mean)
            for (int c = 0; c < CG; c++) {
                const double gm = (double)gamma[c0 + c];
                for (int i = 0; i < HW; i++) {
                    size_t k = (size_t)c * HW + (size_t)i;
                    double g = (double)dy[k] * gm;
                    sum_g += g;
                    sum_gd += g * ((double)x[k] - m);
                }
            }
            const double mean_g = sum_g / (double)n, mean_gx = rs * sum_gd / (double)n;
            for (int c = 0; c < CG; c++) {
                const double gm = (double)gamma[c0 + c];
                for (int i = 0; i < HW; i++) {
                    size_t k = (size_t)c * HW + (size_t)i;
                    double xhat = ((double)x[k] - m) * rs;
                    dx[k] += (float)(rs * ((double)dy[k] * gm - mean_g - xhat * mean_gx));
                }
            }
        }
    }

    if (dgamma || dbeta) {
        // One task per channel, batch summed in order: no shared accumulators.
#pragma omp parallel for schedule(static) if ((size_t)BG * n >= GN_PAR_MIN)
        for (int c = 0; c < C; c++) {
            const int g = c / CG;
            double sum_dyx = 0.0, sum_dy = 0.0;
            for (int b = 0; b < B; b++) {
                const size_t bg = (size_t)b * G + (size_t)g;
                const size_t off = ((size_t)b * C + (size_t)c) * (size_t)HW;
                const double m = dgamma ? group_mean(inp + bg * n, n) : 0.0;
                const double rs = (double)rstd[bg];
                for (int i = 0; i < HW; i++) {
                    double dy = (double)dout[off + (size_t)i];
                    sum_dy += dy;
                    sum_dyx += dy * ((double)inp[off + (size_t)i] - m) * rs;
                }
            }
            if (dgamma) dgamma[c] += (float)sum_dyx;
            if (dbeta) dbeta[c] += (float)sum_dy;
        }
    }
}
