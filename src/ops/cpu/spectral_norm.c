// Spectral normalisation (torch.nn.utils.spectral_norm, PyTorch defaults: one power
// iteration, eps 1e-12, dim 0; method.md §5.3): the weight viewed as (OC, IN) is divided by
// sigma = uᵀ W v, its largest singular value estimated by power iteration. u and v are
// state the caller keeps between calls (the "weight_u"/"weight_v" buffers).
// Leaves out: n_power_iterations > 1 and dim != 0 (CDRL never uses them).
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.utils.spectral_norm.html
#include <math.h>

#include "ops/cpu/cpu.h"

#define SN_EPS 1e-12f
// Fixed chunk count for the parallel sum in backward: partial sums are per chunk, never per
// thread, and added in chunk order, so the result does not depend on the thread count.
#define SN_CHUNKS 64
// Columns of Wᵀu handled per task; the double accumulators for them live on the stack.
#define SN_COLS 256

// F.normalize's denominator: max(||x||, eps), the norm summed in double.
static float norm_clamped(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    float nrm = (float)sqrt(s);
    return nrm > SN_EPS ? nrm : SN_EPS;
}

// out (OC) = W v, each row summed in double.
static void matvec(float *out, const float *w, const float *v, int OC, int IN) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        const float *row = w + (size_t)o * IN;
        double s = 0;
        for (int i = 0; i < IN; i++)
            s += (double)row[i] * (double)v[i];
        out[o] = (float)s;
    }
}

// out (IN) = Wᵀ u, walking W row by row (cache friendly) for each block of columns.
static void matvec_t(float *out, const float *w, const float *u, int OC, int IN) {
    int n_blocks = (IN + SN_COLS - 1) / SN_COLS;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < n_blocks; blk++) {
        int i0 = blk * SN_COLS, i1 = i0 + SN_COLS < IN ? i0 + SN_COLS : IN;
        double acc[SN_COLS];
        for (int i = i0; i < i1; i++)
            acc[i - i0] = 0;
        for (int o = 0; o < OC; o++) {
            const float *row = w + (size_t)o * IN;
            double uo = (double)u[o];
            for (int i = i0; i < i1; i++)
                acc[i - i0] += (double)row[i] * uo;
        }
        for (int i = i0; i < i1; i++)
            out[i] = (float)acc[i - i0];
    }
}

void cdrl_cpu_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                    int OC, int IN, int power_iterate) {
    CDRL_ASSERT(w_sn && sigma && u && v && w && OC > 0 && IN > 0);
    double s = 0;
    if (power_iterate) {
        // v = normalize(Wᵀu), then u = normalize(W v). sigma = uᵀ (W v) reuses W v, which
        // sits in u until it is normalised, so no scratch is needed.
        matvec_t(v, w, u, OC, IN);
        float nv = norm_clamped(v, IN);
        for (int i = 0; i < IN; i++)
            v[i] = v[i] / nv;
        matvec(u, w, v, OC, IN);
        float nu = norm_clamped(u, OC);
        for (int o = 0; o < OC; o++) {
            float wv = u[o];
            u[o] = wv / nu;
            s += (double)u[o] * (double)wv;
        }
    } else {
        // Eval mode: sigma from the stored u, v; one row of W v at a time.
        for (int o = 0; o < OC; o++) {
            const float *row = w + (size_t)o * IN;
            double r = 0;
            for (int i = 0; i < IN; i++)
                r += (double)row[i] * (double)v[i];
            s += (double)u[o] * (double)(float)r;
        }
    }
    float sg = (float)s;
    *sigma = sg;
    size_t n = (size_t)OC * IN;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        w_sn[i] = w[i] / sg;
}

void cdrl_cpu_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                     const float *v, float sigma, int OC, int IN) {
    CDRL_ASSERT(dw && dw_sn && w && u && v && OC > 0 && IN > 0);
    size_t n = (size_t)OC * IN;
    // d sigma-term: sum(dw_sn * w), in fixed chunks reduced in order.
    double part[SN_CHUNKS];
    size_t chunk = (n + SN_CHUNKS - 1) / SN_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < SN_CHUNKS; c++) {
        size_t i0 = (size_t)c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        double s = 0;
        for (size_t i = i0; i < i1; i++)
            s += (double)dw_sn[i] * (double)w[i];
        part[c] = s;
    }
    double dot = 0;
    for (int c = 0; c < SN_CHUNKS; c++)
        dot += part[c];
    // dL/dsigma = -sum(dw_sn * w) / sigma^2, and dsigma/dW = u vᵀ.
    float coef = (float)(dot / ((double)sigma * (double)sigma));
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        float *drow = dw + (size_t)o * IN;
        const float *grow = dw_sn + (size_t)o * IN;
        float cu = coef * u[o];
        for (int i = 0; i < IN; i++)
            drow[i] += grow[i] / sigma - cu * v[i];
    }
}
