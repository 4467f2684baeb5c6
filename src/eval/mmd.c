// Sample-quality statistics for 2-D models: the biased (V-statistic) squared maximum mean
// discrepancy with an RBF kernel (Gretton et al. 2012, JMLR 13, eq. 5 with the diagonal
// kept) and the median pairwise distance used as its bandwidth (the "median heuristic").
// Every sum runs in double over fixed blocks of rows whose partial sums are added in block
// order, so values do not depend on the thread count. Left out: the unbiased U-statistic,
// permutation tests, other kernels.
#include <math.h>
#include <stddef.h>

#include "core/core.h"

// Rows of the first argument per partial sum.
#define ROW_BLOCK 32

static double dist2(const float *a, const float *b, int dim) {
    double s = 0.0;
    for (int d = 0; d < dim; d++) {
        const double t = (double)a[d] - (double)b[d];
        s += t * t;
    }
    return s;
}

// The element of rank k of a (n), by quickselect with a median-of-three pivot and a
// three-way partition (so runs of equal values cannot stall it); reorders a.
static float select_rank(float *a, size_t n, size_t k) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1;
    const ptrdiff_t kk = (ptrdiff_t)k;
    while (lo < hi) {
        const float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        const float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        ptrdiff_t lt = lo, i = lo,
                  gt = hi; // a[lo..lt) < pivot, a[lt..i) == pivot, a(gt..hi] > pivot
        while (i <= gt) {
            const float v = a[i];
            if (v < pivot) {
                a[i++] = a[lt];
                a[lt++] = v;
            } else if (v > pivot) {
                a[i] = a[gt];
                a[gt--] = v;
            } else {
                i++;
            }
        }
        if (kk < lt)
            hi = lt - 1;
        else if (kk > gt)
            lo = gt + 1;
        else
            return pivot;
    }
    return a[k];
}

double cdrl_eval_median_distance(const float *x, int n, int dim) {
    CDRL_ASSERT(x && dim >= 1);
    if (n < 2) return (double)NAN;
    const size_t N = (size_t)n * (size_t)(n - 1) / 2;
    float *d2 = cdrl_malloc(sizeof(float) * N); // (N) squared distances, pairs i < j
    if (!d2) {
        cdrl_log(CDRL_LOG_ERROR, "median distance: out of memory for %zu pair distances", N);
        return (double)NAN;
    }
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n - 1; i++) {
        // pairs (i', j) with i' < i come first: sum_{i' < i} (n - 1 - i')
        const size_t base = (size_t)i * (size_t)(n - 1) - (size_t)i * (size_t)(i - 1) / 2;
        for (int j = i + 1; j < n; j++)
            d2[base + (size_t)(j - i - 1)] =
                (float)dist2(x + (size_t)i * (size_t)dim, x + (size_t)j * (size_t)dim, dim);
    }
    // The median of the squared distances is the squared median distance (sqrt is monotone).
    const double med = sqrt((double)select_rank(d2, N, (N - 1) / 2));
    cdrl_free(d2);
    return med;
}

// Sum over i in [0, na), j in [0, nb) of k(a_i, b_j), or over the pairs i < j when
// upper (a == b, na == nb): fixed row blocks, partial sums added in block order.
static double kernel_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                         int upper, double *partial) {
    const int n_blk = (na + ROW_BLOCK - 1) / ROW_BLOCK;
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
    return s;
}

double cdrl_eval_mmd2(const float *x, int nx, const float *y, int ny, int dim, double h) {
    CDRL_ASSERT(x && y && nx >= 1 && ny >= 1 && dim >= 1 && h > 0);
    const int n_max = nx > ny ? nx : ny;
    double *partial = cdrl_malloc(sizeof(double) * (size_t)((n_max + ROW_BLOCK - 1) / ROW_BLOCK));
    if (!partial) {
        cdrl_log(CDRL_LOG_ERROR, "MMD: out of memory");
        return (double)NAN;
    }
    const double inv_2h2 = 1.0 / (2.0 * h * h);
    // k(a, a) = 1: the diagonal adds n to each within-set sum.
    const double kxx = (double)nx + 2.0 * kernel_sum(x, nx, x, nx, dim, inv_2h2, 1, partial);
    const double kyy = (double)ny + 2.0 * kernel_sum(y, ny, y, ny, dim, inv_2h2, 1, partial);
    const double kxy = kernel_sum(x, nx, y, ny, dim, inv_2h2, 0, partial);
    cdrl_free(partial);
    return kxx / ((double)nx * nx) + kyy / ((double)ny * ny) - 2.0 * kxy / ((double)nx * ny);
}
