// Sample-quality statistics for 2-D models: the biased (V-statistic) squared maximum mean
// discrepancy with an RBF kernel (Gretton et al. 2012, JMLR 13, eq. 5 with the diagonal
// kept) and the median pairwise distance used as its bandwidth (the "median heuristic").
// The sums are backend ops (ops/ops.h: in double, the same for any thread count). Left out:
// the unbiased U-statistic, permutation tests, other kernels.
#include <math.h>
#include <stddef.h>

#include "core/core.h"
#include "ops/ops.h"

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
    cdrl_pair_dist2(d2, x, n, dim);
    // The median of the squared distances is the squared median distance (sqrt is monotone).
    const double med = sqrt((double)select_rank(d2, N, (N - 1) / 2));
    cdrl_free(d2);
    return med;
}

double cdrl_eval_mmd2(const float *x, int nx, const float *y, int ny, int dim, double h) {
    CDRL_ASSERT(x && y && nx >= 1 && ny >= 1 && dim >= 1 && h > 0);
    const double inv_2h2 = 1.0 / (2.0 * h * h);
    // k(a, a) = 1: the diagonal adds n to each within-set sum.
    const double kxx = (double)nx + 2.0 * cdrl_rbf_sum(x, nx, x, nx, dim, inv_2h2, 1);
    const double kyy = (double)ny + 2.0 * cdrl_rbf_sum(y, ny, y, ny, dim, inv_2h2, 1);
    const double kxy = cdrl_rbf_sum(x, nx, y, ny, dim, inv_2h2, 0);
    if (!isfinite(kxx) || !isfinite(kyy) || !isfinite(kxy))
        cdrl_log(CDRL_LOG_ERROR, "MMD: out of memory or non-finite samples");
    return kxx / ((double)nx * nx) + kyy / ((double)ny * ny) - 2.0 * kxy / ((double)nx * ny);
}
