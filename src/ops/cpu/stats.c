// The cpu backend's statistics (ops/ops.h): pairwise squared distances and RBF kernel sums for
// the MMD of 2-D models, the yardstick classifier's softmax cross-entropy. Every sum runs in
// double; the kernel sum is split into fixed blocks of rows whose partial sums are added in block
// order, so no value depends on the thread count.
#include <math.h>

#include "ops/cpu/cpu.h"

// Rows of the first set per partial sum.
#define ROW_BLOCK 32

static double dist2(const float *a, const float *b, int dim) {
    double s = 0.0;
    for (int d = 0; d < dim; d++) {
        const double t = (double)a[d] - (double)b[d];
        s += t * t;
    }
    return s;
}

void cdrl_cpu_pair_dist2(float *d2, const float *x, int n, int dim) {
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n - 1; i++) {
        // pairs (i', j) with i' < i come first: sum_{i' < i} (n - 1 - i')
        const size_t base = (size_t)i * (size_t)(n - 1) - (size_t)i * (size_t)(i - 1) / 2;
        for (int j = i + 1; j < n; j++)
            d2[base + (size_t)(j - i - 1)] =
                (float)dist2(x + (size_t)i * (size_t)dim, x + (size_t)j * (size_t)dim, dim);
    }
}

double cdrl_cpu_rbf_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                        int upper) {
    const int n_blk = (na + ROW_BLOCK - 1) / ROW_BLOCK;
    double *partial = cdrl_malloc(sizeof(double) * (size_t)(n_blk > 0 ? n_blk : 1));
    if (!partial) return (double)NAN;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < n_blk; blk++) {
        double s = 0.0;
        const int i1 = (blk + 1) * ROW_BLOCK < na ? (blk + 1) * ROW_BLOCK : na;
        for (int i = blk * ROW_BLOCK; i < i1; i++) {
            const float *ai = a + (size_t)i * (size_t)dim;
            for (int j = upper ? i + 1 : 0; j < nb; j++)
                s += exp(-dist2(ai, b + (size_t)j * (size_t)dim, dim) * inv_2h2);
        }
        partial[blk] = s;
    }
    double s = 0.0;
    for (int blk = 0; blk < n_blk; blk++)
        s += partial[blk];
    cdrl_free(partial);
    return s;
}

double cdrl_cpu_softmax_xent(float *dlogit, const float *logit, const int *label, int B, int K) {
    double loss = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logit + (size_t)b * K;
        double mx = (double)z[0], s = 0;
        for (int k = 1; k < K; k++)
            mx = (double)z[k] > mx ? (double)z[k] : mx;
        for (int k = 0; k < K; k++)
            s += exp((double)z[k] - mx);
        loss += log(s) + mx - (double)z[label[b]];
        for (int k = 0; k < K; k++)
            dlogit[(size_t)b * K + k] = (float)((exp((double)z[k] - mx) / s - (k == label[b])) / B);
    }
    return loss / B;
}
