// Out-of-distribution detection figures from scores (higher = more in-distribution): the area
// under the ROC curve, by the rank-sum (Mann-Whitney U) form with ties counted one half, and
// the false-positive rate at 95% true-positive rate. Both sort a copy of the scores; the
// sums are in double and in a fixed order, so the figures do not depend on the thread count.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static int by_value(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Number of values of sorted (n, ascending) below v, and of those equal to v.
static void count_below(const float *sorted, int n, float v, long *below, long *equal) {
    int lo = 0, hi = n; // first index with sorted[i] >= v
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    int e = lo;
    while (e < n && sorted[e] == v)
        e++;
    *below = lo;
    *equal = e - lo;
}

cdrl_status cdrl_eval_ood(double *auroc, double *fpr95, const float *in, int n_in, const float *out,
                          int n_out) {
    CDRL_ASSERT(in && out);
    if (n_in < 1 || n_out < 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "ood: %d in-distribution and %d other scores (need "
                         "at least one of each)",
                         n_in, n_out);
    for (int i = 0; i < n_in + n_out; i++)
        if (isnan(i < n_in ? in[i] : out[i - n_in]))
            return cdrl_fail(CDRL_STATUS_INVALID, "ood: score %d of the %s set is NaN",
                             i < n_in ? i : i - n_in, i < n_in ? "in-distribution" : "other");
    float *so = cdrl_malloc(sizeof(float) * (size_t)n_out);
    float *si = cdrl_malloc(sizeof(float) * (size_t)n_in);
    if (!so || !si) {
        cdrl_free(so), cdrl_free(si);
        return cdrl_fail(CDRL_STATUS_NOMEM, "ood: out of memory for %d scores", n_in + n_out);
    }
    memcpy(so, out, sizeof(float) * (size_t)n_out);
    memcpy(si, in, sizeof(float) * (size_t)n_in);
    qsort(so, (size_t)n_out, sizeof(float), by_value);
    qsort(si, (size_t)n_in, sizeof(float), by_value);
    // AUROC = P(in > out) + P(in = out) / 2 over all pairs.
    double wins = 0;
    for (int i = 0; i < n_in; i++) {
        long below, equal;
        count_below(so, n_out, si[i], &below, &equal);
        wins += (double)below + 0.5 * (double)equal;
    }
    if (auroc) *auroc = wins / ((double)n_in * (double)n_out);
    // The threshold keeps at least 95% of the in-distribution scores (score >= t); FPR is the
    // share of the others that pass it too.
    if (fpr95) {
        const float t = si[(int)floor(0.05 * (double)n_in)];
        long below, equal;
        count_below(so, n_out, t, &below, &equal);
        *fpr95 = (double)(n_out - below) / (double)n_out;
    }
    cdrl_free(so), cdrl_free(si);
    return CDRL_OK;
}
