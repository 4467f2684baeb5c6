// The reference backend's buffer, element-wise, Langevin, loss and network-glue ops (ops/ops.h
// has what each computes): one plain loop each, one thread. Element-wise results are the same
// float expression as the definition, evaluated in the order it is written; sums run in double
// unless the definition says float.
#include <math.h>

#include "ops/ref/ref.h"

// ---------------------------------------------------------------------------------------
// Buffers

void cdrl_ref_zero(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = 0.0f;
}

void cdrl_ref_copy(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

// ---------------------------------------------------------------------------------------
// Element-wise glue; the "rows" ops see (B, D) with one coefficient per row n.

void cdrl_ref_add_into(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

void cdrl_ref_mul_into(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] *= x[i];
}

void cdrl_ref_scale(float *out, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = s * x[i];
}

void cdrl_ref_rows_axpby(float *out, const float *a, const float *x, const float *b, const float *z,
                         int B, int D) {
    for (int n = 0; n < B; n++)
        for (int d = 0; d < D; d++) {
            const size_t k = (size_t)n * (size_t)D + (size_t)d;
            out[k] = a[n] * x[k] + b[n] * z[k];
        }
}

void cdrl_ref_rows_scale(float *out, const float *s, const float *x, int B, int D) {
    for (int n = 0; n < B; n++)
        for (int d = 0; d < D; d++) {
            const size_t k = (size_t)n * (size_t)D + (size_t)d;
            out[k] = s[n] * x[k];
        }
}

void cdrl_ref_rows_add_scaled(float *out, const float *base, const float *s, const float *x, int B,
                              int D) {
    for (int n = 0; n < B; n++)
        for (int d = 0; d < D; d++) {
            const size_t k = (size_t)n * (size_t)D + (size_t)d;
            out[k] = base[k] + s[n] * x[k];
        }
}

void cdrl_ref_rows_divide(float *out, const float *x, const float *d, int B, int D) {
    for (int n = 0; n < B; n++)
        for (int e = 0; e < D; e++) {
            const size_t k = (size_t)n * (size_t)D + (size_t)e;
            out[k] = x[k] / d[n];
        }
}

void cdrl_ref_guidance_mix(float *y, const float *y_uncond, float w, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (1.0f + w) * y[i] - w * y_uncond[i];
}

void cdrl_ref_tweedie_step(float *x, const float *grad, float c, float inv_sg, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] + c * grad[i]) * inv_sg;
}

void cdrl_ref_axpy(float *y, float a, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void cdrl_ref_masked_set(float *y, const float *v, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (mask[i] != 0.0f) y[i] = v[i];
}

// y += grad - tether (y - anchor) + noise_std z, row by row; the range test (written so that
// NaN fails it) comes before the clamp of clamped rows, which would turn a NaN into -bound.
int cdrl_ref_langevin_update(float *y, const float *grad, const float *anchor, const float *z,
                             const float *tether, const float *noise_std, const int *clamp,
                             float bound, float chain_bound, int B, int D) {
    int in_range = 1;
    for (int n = 0; n < B; n++)
        for (int d = 0; d < D; d++) {
            const size_t k = (size_t)n * (size_t)D + (size_t)d;
            y[k] += grad[k] - tether[n] * (y[k] - anchor[k]) + noise_std[n] * z[k];
            if (!(fabsf(y[k]) <= chain_bound)) in_range = 0;
            if (clamp && clamp[n]) y[k] = fminf(fmaxf(y[k], -bound), bound);
        }
    return in_range;
}

// r = (1 - a) y_neg + a y_pos - y0, dmu = -2 r / B; returns sum r^2 in double, in order.
double cdrl_ref_init_loss(float *dmu, const float *y_neg, const float *y_pos, const float *y0,
                          float a, int B, size_t n) {
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float r = (1.0f - a) * y_neg[i] + a * y_pos[i] - y0[i];
        loss += (double)r * (double)r;
        dmu[i] = -2.0f * r / (float)B;
    }
    return loss;
}

int cdrl_ref_all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// The first NaN ends the search: NaN is the answer whatever follows.
float cdrl_ref_max_abs(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (isnan(a)) return a;
        if (a > m) m = a;
    }
    return m;
}

// ---------------------------------------------------------------------------------------
// Network glue; (B, C, HW) tensors, channel c of sample b at row b C + c.

void cdrl_ref_channel_scale(float *out, const float *base, const float *inp, const float *g, int B,
                            int C, int HW, int accumulate) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                const size_t k = ((size_t)b * (size_t)C + (size_t)c) * (size_t)HW + (size_t)i;
                if (base)
                    out[k] = base[k] + inp[k] * g[c];
                else if (accumulate)
                    out[k] += inp[k] * g[c];
                else
                    out[k] = inp[k] * g[c];
            }
}

void cdrl_ref_channel_dot(float *dg, const float *a, const float *b, int B, int C, int HW) {
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int n = 0; n < B; n++)
            for (int i = 0; i < HW; i++) {
                const size_t k = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW + (size_t)i;
                s += (double)a[k] * (double)b[k];
            }
        dg[c] += (float)s;
    }
}

void cdrl_ref_gather_rows(float *out, const float *table, const int *idx, int B, int C,
                          int accumulate) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const float t = table[(size_t)idx[n] * (size_t)C + (size_t)c];
            float *o = out + (size_t)n * (size_t)C + (size_t)c;
            *o = accumulate ? *o + t : t;
        }
}

// Rows sharing an index are added in the order of n.
void cdrl_ref_scatter_rows(float *dtable, const float *dout, const int *idx, int B, int C) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++)
            dtable[(size_t)idx[n] * (size_t)C + (size_t)c] +=
                dout[(size_t)n * (size_t)C + (size_t)c];
}

// out[n, e] = gain w[e, label[n]] + b[e]: a Linear of gain onehot(label) without the product.
void cdrl_ref_class_columns_forward(float *out, const float *w, const float *b, const int *label,
                                    float gain, int B, int A, int E, int NC) {
    for (int n = 0; n < B; n++)
        for (int e = 0; e < E; e++) {
            float s = 0.0f;
            for (int a = 0; a < A; a++) {
                const float t = gain * w[(size_t)e * (size_t)NC + (size_t)label[n * A + a]];
                s = a ? s + t : t;
            }
            out[(size_t)n * (size_t)E + (size_t)e] = s + b[e];
        }
}

// Samples added in the order of n, one at a time, as the definition reads.
void cdrl_ref_class_columns_backward(float *dw, float *db, const float *dout, const int *label,
                                     float gain, int B, int A, int E, int NC) {
    for (int n = 0; n < B; n++)
        for (int e = 0; e < E; e++) {
            const float d = dout[(size_t)n * (size_t)E + (size_t)e];
            for (int a = 0; a < A; a++)
                dw[(size_t)e * (size_t)NC + (size_t)label[n * A + a]] += gain * d;
            db[e] += d;
        }
}

// A float sum in the order of c, as the definition says.
void cdrl_ref_row_dot_forward(float *f, const float *v, const float *q, int B, int C) {
    for (int n = 0; n < B; n++) {
        float s = 0.0f;
        for (int c = 0; c < C; c++)
            s += v[(size_t)n * (size_t)C + (size_t)c] * q[(size_t)n * (size_t)C + (size_t)c];
        f[n] = s;
    }
}

void cdrl_ref_row_dot_backward(float *dv, float *dq, const float *df, const float *v,
                               const float *q, int B, int C) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)n * (size_t)C + (size_t)c;
            if (dv) dv[k] = df[n] * q[k];
            if (dq) dq[k] = df[n] * v[k];
        }
}

// out = x (1 + scale) + shift, (1 + scale) formed first as the official code does.
void cdrl_ref_film_forward(float *out, const float *x, const float *ss, int B, int C, int HW) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const float s = 1.0f + ss[(size_t)n * 2 * (size_t)C + (size_t)c];
            const float sh = ss[(size_t)n * 2 * (size_t)C + (size_t)(C + c)];
            for (int i = 0; i < HW; i++) {
                const size_t k = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW + (size_t)i;
                out[k] = x[k] * s + sh;
            }
        }
}

// dss[n, c] = sum_HW d x, dss[n, C + c] = sum_HW d (both assigned, in double), then d becomes
// d (1 + scale) in place: the sums read d before it is scaled.
void cdrl_ref_film_backward(float *d, float *dss, const float *x, const float *ss, int B, int C,
                            int HW) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const size_t row = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW;
            double s_scale = 0.0, s_shift = 0.0;
            for (int i = 0; i < HW; i++) {
                s_scale += (double)d[row + (size_t)i] * (double)x[row + (size_t)i];
                s_shift += (double)d[row + (size_t)i];
            }
            dss[(size_t)n * 2 * (size_t)C + (size_t)c] = (float)s_scale;
            dss[(size_t)n * 2 * (size_t)C + (size_t)(C + c)] = (float)s_shift;
            const float s = 1.0f + ss[(size_t)n * 2 * (size_t)C + (size_t)c];
            for (int i = 0; i < HW; i++)
                d[row + (size_t)i] *= s;
        }
}

// ---------------------------------------------------------------------------------------
// Sample statistics

void cdrl_ref_pair_dist2(float *d2, const float *x, int n, int dim) {
    size_t k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double s = 0.0;
            for (int d = 0; d < dim; d++) {
                const double t = (double)x[(size_t)i * dim + d] - (double)x[(size_t)j * dim + d];
                s += t * t;
            }
            d2[k++] = (float)s;
        }
}

double cdrl_ref_rbf_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                        int upper) {
    double sum = 0.0;
    for (int i = 0; i < na; i++)
        for (int j = upper ? i + 1 : 0; j < nb; j++) {
            double s = 0.0;
            for (int d = 0; d < dim; d++) {
                const double t = (double)a[(size_t)i * dim + d] - (double)b[(size_t)j * dim + d];
                s += t * t;
            }
            sum += exp(-s * inv_2h2);
        }
    return sum;
}

// log sum_k exp z_k - z_label per row, the max subtracted first; the gradient from the same
// exponentials.
double cdrl_ref_softmax_xent(float *dlogit, const float *logit, const int *label, int B, int K) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logit + (size_t)b * K;
        double mx = (double)z[0];
        for (int k = 1; k < K; k++)
            if ((double)z[k] > mx) mx = (double)z[k];
        double sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += exp((double)z[k] - mx);
        total += mx + log(sum) - (double)z[label[b]];
        for (int k = 0; k < K; k++) {
            const double prob = exp((double)z[k] - mx) / sum;
            dlogit[(size_t)b * K + k] = (float)((prob - (k == label[b] ? 1.0 : 0.0)) / B);
        }
    }
    return total / B;
}
