// The cpu backend's buffer, element-wise and network-glue ops (ops/ops.h): the small passes
// between the layers (noising, Langevin updates, losses, per-channel scales, embedding
// gathers, FiLM). Each computes exactly the expression its comment in ops.h gives, in float;
// parallel loops split elements or rows, and sums run in a fixed order, so no result depends
// on the thread count.
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"

// Below this many values a parallel region costs more than the loop.
#define GLUE_PAR_MIN 32768
// Element-wise loops run in blocks of this many values (one block per iteration of the
// parallel loop, so each thread streams long runs).
#define GLUE_BLOCK 4096

// Row loops in vector code: GCC's -O2 cost model declines them, hence O3 for these helpers
// (no reassociation, no contraction: the values are those of the plain loops).
#pragma GCC push_options
#pragma GCC optimize("O3")

// y (n) = base (n) + x (n) * gc when base is given, else y op= x * gc: accumulate adds, else
// assigns. base + x gc is what y = base; y += x gc gives, in one pass instead of two.
static void scale_row(float *y, const float *base, const float *x, int n, float gc,
                      int accumulate) {
    if (base)
        for (int i = 0; i < n; i++)
            y[i] = base[i] + x[i] * gc;
    else if (accumulate)
        for (int i = 0; i < n; i++)
            y[i] += x[i] * gc;
    else
        for (int i = 0; i < n; i++)
            y[i] = x[i] * gc;
}

// y (C) = base (C) + x (C) * g (C) when base is given, else y op= x * g: a row of a per-channel
// scale over maps of one value (HW = 1, the 2-D networks), one channel per element.
static void scale_vec(float *y, const float *base, const float *x, const float *g, int n,
                      int accumulate) {
    if (base)
        for (int i = 0; i < n; i++)
            y[i] = base[i] + x[i] * g[i];
    else if (accumulate)
        for (int i = 0; i < n; i++)
            y[i] += x[i] * g[i];
    else
        for (int i = 0; i < n; i++)
            y[i] = x[i] * g[i];
}

static void add_row(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void mul_row(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] *= x[i];
}

static void scale_block(float *out, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = s * x[i];
}

#pragma GCC pop_options

static size_t n_blocks(size_t n) { return (n + GLUE_BLOCK - 1) / GLUE_BLOCK; }
static size_t block_len(size_t n, size_t b) {
    const size_t i0 = b * GLUE_BLOCK;
    return n - i0 < GLUE_BLOCK ? n - i0 : GLUE_BLOCK;
}

// ---------------------------------------------------------------------------------------
// Buffers

void cdrl_cpu_zero(float *x, size_t n) {
    if (n) memset(x, 0, sizeof(float) * n);
}

void cdrl_cpu_copy(float *dst, const float *src, size_t n) {
    if (n && dst != src) memmove(dst, src, sizeof(float) * n);
}

// ---------------------------------------------------------------------------------------
// Element-wise

void cdrl_cpu_add_into(float *y, const float *x, size_t n) {
    const size_t nb = n_blocks(n);
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (size_t b = 0; b < nb; b++)
        add_row(y + b * GLUE_BLOCK, x + b * GLUE_BLOCK, block_len(n, b));
}

void cdrl_cpu_mul_into(float *y, const float *x, size_t n) {
    const size_t nb = n_blocks(n);
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (size_t b = 0; b < nb; b++)
        mul_row(y + b * GLUE_BLOCK, x + b * GLUE_BLOCK, block_len(n, b));
}

void cdrl_cpu_scale(float *out, const float *x, float s, size_t n) {
    const size_t nb = n_blocks(n);
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (size_t b = 0; b < nb; b++)
        scale_block(out + b * GLUE_BLOCK, x + b * GLUE_BLOCK, s, block_len(n, b));
}

void cdrl_cpu_rows_axpby(float *out, const float *a, const float *x, const float *b, const float *z,
                         int B, int D) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)D >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const size_t o = (size_t)n * (size_t)D;
        for (int d = 0; d < D; d++)
            out[o + (size_t)d] = a[n] * x[o + (size_t)d] + b[n] * z[o + (size_t)d];
    }
}

void cdrl_cpu_rows_scale(float *out, const float *s, const float *x, int B, int D) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)D >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const size_t o = (size_t)n * (size_t)D;
        for (int d = 0; d < D; d++)
            out[o + (size_t)d] = s[n] * x[o + (size_t)d];
    }
}

void cdrl_cpu_rows_add_scaled(float *out, const float *base, const float *s, const float *x, int B,
                              int D) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)D >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const size_t o = (size_t)n * (size_t)D;
        for (int d = 0; d < D; d++)
            out[o + (size_t)d] = base[o + (size_t)d] + s[n] * x[o + (size_t)d];
    }
}

void cdrl_cpu_rows_divide(float *out, const float *x, const float *dv, int B, int D) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)D >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const size_t o = (size_t)n * (size_t)D;
        for (int d = 0; d < D; d++)
            out[o + (size_t)d] = x[o + (size_t)d] / dv[n];
    }
}

void cdrl_cpu_guidance_mix(float *y, const float *y_uncond, float w, size_t n) {
    const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (long long i = 0; i < nn; i++)
        y[i] = (1.0f + w) * y[i] - w * y_uncond[i];
}

void cdrl_cpu_tweedie_step(float *x, const float *grad, float c, float inv_sg, size_t n) {
    const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (long long i = 0; i < nn; i++)
        x[i] = (x[i] + c * grad[i]) * inv_sg;
}

void cdrl_cpu_axpy(float *y, float a, const float *x, size_t n) {
    const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (long long i = 0; i < nn; i++)
        y[i] += a * x[i];
}

void cdrl_cpu_masked_set(float *y, const float *v, const float *mask, size_t n) {
    const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= GLUE_PAR_MIN)
    for (long long i = 0; i < nn; i++)
        y[i] = mask[i] != 0.0f ? v[i] : y[i];
}

int cdrl_cpu_langevin_update(float *y, const float *grad, const float *anchor, const float *z,
                             const float *tether, const float *noise_std, const int *clamp,
                             float bound, float chain_bound, int B, int D) {
    int in_range = 1;
#pragma omp parallel for schedule(static) reduction(& : in_range)                                  \
    if ((size_t)B * (size_t)D >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const size_t o = (size_t)n * (size_t)D;
        float *yn = y + o;
        const float *gn = grad + o, *an = anchor + o, *zn = z + o;
        const float t = tether[n], s = noise_std[n];
        const int c = clamp && clamp[n];
        int ok = 1;
        for (int d = 0; d < D; d++) {
            yn[d] += gn[d] - t * (yn[d] - an[d]) + s * zn[d];
            ok &= fabsf(yn[d]) <= chain_bound; // before the clamp, which would hide a NaN
            if (c) yn[d] = fminf(fmaxf(yn[d], -bound), bound);
        }
        in_range &= ok;
    }
    return in_range;
}

double cdrl_cpu_init_loss(float *dmu, const float *y_neg, const float *y_pos, const float *y0,
                          float a, int B, size_t n) {
    double loss = 0; // in order: the loss is a logged figure, the same on any thread count
    for (size_t k = 0; k < n; k++) {
        const float r = (1.0f - a) * y_neg[k] + a * y_pos[k] - y0[k];
        loss += (double)r * (double)r;
        dmu[k] = -2.0f * r / (float)B;
    }
    return loss;
}

int cdrl_cpu_all_finite(const float *x, size_t n) {
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= isfinite(x[i]) != 0;
    return ok;
}

float cdrl_cpu_max_abs(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (!(a <= m)) m = a; // NaN wins and stays
        if (isnan(m)) break;
    }
    return m;
}

// ---------------------------------------------------------------------------------------
// Network glue

void cdrl_cpu_channel_scale(float *out, const float *base, const float *inp, const float *g, int B,
                            int C, int HW, int accumulate) {
    if (HW == 1) { // one value per channel: a whole row of channels at once
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C >= GLUE_PAR_MIN)
        for (int n = 0; n < B; n++) {
            const size_t o = (size_t)n * (size_t)C;
            scale_vec(out + o, base ? base + o : NULL, inp + o, g, C, accumulate);
        }
        return;
    }
    const int BC = B * C;
#pragma omp parallel for schedule(static) if ((size_t)BC * (size_t)HW >= GLUE_PAR_MIN)
    for (int r = 0; r < BC; r++) {
        const size_t o = (size_t)r * (size_t)HW;
        scale_row(out + o, base ? base + o : NULL, inp + o, HW, g[r % C], accumulate);
    }
}

void cdrl_cpu_channel_dot(float *dg, const float *a, const float *b, int B, int C, int HW) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C * (size_t)HW >= GLUE_PAR_MIN)
    for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int n = 0; n < B; n++) {
            const size_t o = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW;
            for (int k = 0; k < HW; k++)
                acc += (double)a[o + (size_t)k] * (double)b[o + (size_t)k];
        }
        dg[c] += (float)acc;
    }
}

void cdrl_cpu_gather_rows(float *out, const float *table, const int *idx, int B, int C,
                          int accumulate) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const float *src = table + (size_t)idx[n] * (size_t)C;
        float *dst = out + (size_t)n * (size_t)C;
        if (accumulate)
            for (int c = 0; c < C; c++)
                dst[c] += src[c];
        else
            memcpy(dst, src, sizeof(float) * (size_t)C);
    }
}

// By column: the rows of one index add into the same table row, in image order.
void cdrl_cpu_scatter_rows(float *dtable, const float *dout, const int *idx, int B, int C) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C >= GLUE_PAR_MIN)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < B; n++)
            dtable[(size_t)idx[n] * (size_t)C + (size_t)c] +=
                dout[(size_t)n * (size_t)C + (size_t)c];
}

void cdrl_cpu_class_columns_forward(float *out, const float *w, const float *b, const int *label,
                                    float gain, int B, int A, int E, int NC) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)E >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        float *o = out + (size_t)n * (size_t)E;
        const int *l = label + (size_t)n * (size_t)A;
        for (int j = 0; j < E; j++) {
            const float *wj = w + (size_t)j * (size_t)NC;
            float s = gain * wj[l[0]];
            for (int a = 1; a < A; a++)
                s += gain * wj[l[a]];
            o[j] = s + b[j];
        }
    }
}

void cdrl_cpu_class_columns_backward(float *dw, float *db, const float *dout, const int *label,
                                     float gain, int B, int A, int E, int NC) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)E >= GLUE_PAR_MIN)
    for (int j = 0; j < E; j++)
        for (int n = 0; n < B; n++) {
            const float d = dout[(size_t)n * (size_t)E + (size_t)j];
            for (int a = 0; a < A; a++)
                dw[(size_t)j * (size_t)NC + (size_t)label[(size_t)n * (size_t)A + (size_t)a]] +=
                    gain * d;
            db[j] += d;
        }
}

void cdrl_cpu_row_dot_forward(float *f, const float *v, const float *q, int B, int C) {
    for (int n = 0; n < B; n++) {
        const float *vn = v + (size_t)n * (size_t)C, *qn = q + (size_t)n * (size_t)C;
        float acc = 0.0f;
        for (int c = 0; c < C; c++)
            acc += vn[c] * qn[c];
        f[n] = acc;
    }
}

void cdrl_cpu_row_dot_backward(float *dv, float *dq, const float *df, const float *v,
                               const float *q, int B, int C) {
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)n * (size_t)C + (size_t)c;
            dv[k] = df[n] * q[k];
            dq[k] = df[n] * v[k];
        }
}

void cdrl_cpu_film_forward(float *out, const float *x, const float *ss, int B, int C, int HW) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C * (size_t)HW >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const float *scale = ss + (size_t)n * 2 * (size_t)C, *shift = scale + C;
        for (int c = 0; c < C; c++) {
            const float s = 1.0f + scale[c], sh = shift[c];
            const size_t o = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW;
            for (int i = 0; i < HW; i++)
                out[o + (size_t)i] = x[o + (size_t)i] * s + sh;
        }
    }
}

void cdrl_cpu_film_backward(float *d, float *dss, const float *x, const float *ss, int B, int C,
                            int HW) {
#pragma omp parallel for schedule(static) if ((size_t)B * (size_t)C * (size_t)HW >= GLUE_PAR_MIN)
    for (int n = 0; n < B; n++) {
        const float *scale = ss + (size_t)n * 2 * (size_t)C;
        float *dscale = dss + (size_t)n * 2 * (size_t)C, *dshift = dscale + C;
        for (int c = 0; c < C; c++) {
            const float sc = 1.0f + scale[c];
            const size_t o = ((size_t)n * (size_t)C + (size_t)c) * (size_t)HW;
            double s_scale = 0.0, s_shift = 0.0;
            for (int i = 0; i < HW; i++) {
                s_scale += (double)d[o + (size_t)i] * (double)x[o + (size_t)i];
                s_shift += (double)d[o + (size_t)i];
                d[o + (size_t)i] *= sc;
            }
            dscale[c] = (float)s_scale;
            dshift[c] = (float)s_shift;
        }
    }
}
