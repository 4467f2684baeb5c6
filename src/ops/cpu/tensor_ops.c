// Shape-glue layers, forward and backward: channel concatenation (the U-Net's skip
// connections), the spatial sum that ends the EBM (method.md §5.4: a SUM over 4x4, not a
// mean) and the per-channel broadcast add of the time-embedding projection.
// Leaves out concatenation along other dims and general broadcasting.
// Reference: https://pytorch.org/docs/stable/generated/torch.cat.html, torch.sum, and
// PyTorch broadcasting semantics (x + e[:, :, None, None]).
// Sums over HW run serially in double per (b, c) row, so no result depends on thread count.
#include <string.h>

#include "ops/cpu/cpu.h"

#define TOPS_PAR_MIN 65536

// ---------------------------------------------------------------------------------------
void cdrl_cpu_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                             int HW) {
    CDRL_ASSERT(B >= 0 && Ca >= 0 && Cb >= 0 && HW >= 0);
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW; // floats per sample of a, b
    for (int s = 0; s < B; s++) {
        float *o = out + (size_t)s * (na + nb); // (Ca + Cb, HW)
        memcpy(o, a + (size_t)s * na, na * sizeof(float));
        memcpy(o + na, b + (size_t)s * nb, nb * sizeof(float));
    }
}

void cdrl_cpu_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb,
                              int HW) {
    CDRL_ASSERT(B >= 0 && Ca >= 0 && Cb >= 0 && HW >= 0);
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * (na + nb) >= TOPS_PAR_MIN)
    for (int s = 0; s < B; s++) {
        const float *g = dout + (size_t)s * (na + nb); // (Ca + Cb, HW)
        if (da) {
            float *d = da + (size_t)s * na;
            for (size_t i = 0; i < na; i++)
                d[i] += g[i];
        }
        if (db) {
            float *d = db + (size_t)s * nb;
            for (size_t i = 0; i < nb; i++)
                d[i] += g[na + i];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sum of the HW values of each (b, c) row, in double.
static inline float row_sum(const float *x, int HW) {
    double s = 0.0;
    for (int i = 0; i < HW; i++)
        s += (double)x[i];
    return (float)s;
}

void cdrl_cpu_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW) {
    CDRL_ASSERT(B >= 0 && C >= 0 && HW >= 0);
    const int BC = B * C;
#pragma omp parallel for schedule(static) if ((size_t)BC * HW >= TOPS_PAR_MIN)
    for (int r = 0; r < BC; r++)
        out[r] = row_sum(inp + (size_t)r * HW, HW);
}

void cdrl_cpu_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW) {
    CDRL_ASSERT(B >= 0 && C >= 0 && HW >= 0);
    const int BC = B * C;
#pragma omp parallel for schedule(static) if ((size_t)BC * HW >= TOPS_PAR_MIN)
    for (int r = 0; r < BC; r++) {
        float *d = dinp + (size_t)r * HW;
        for (int i = 0; i < HW; i++)
            d[i] += dout[r];
    }
}

// ---------------------------------------------------------------------------------------
void cdrl_cpu_add_channel_forward(float *out, const float *inp, const float *add, int B, int C,
                                  int HW) {
    CDRL_ASSERT(B >= 0 && C >= 0 && HW >= 0);
    const int BC = B * C;
#pragma omp parallel for schedule(static) if ((size_t)BC * HW >= TOPS_PAR_MIN)
    for (int r = 0; r < BC; r++) {
        const float *x = inp + (size_t)r * HW;
        float *y = out + (size_t)r * HW;
        for (int i = 0; i < HW; i++)
            y[i] = x[i] + add[r];
    }
}

void cdrl_cpu_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW) {
    CDRL_ASSERT(B >= 0 && C >= 0 && HW >= 0);
    const int BC = B * C;
#pragma omp parallel for schedule(static) if ((size_t)BC * HW >= TOPS_PAR_MIN)
    for (int r = 0; r < BC; r++)
        dadd[r] += row_sum(dout + (size_t)r * HW, HW);
}
