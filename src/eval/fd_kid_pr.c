// Distances between two sets of classifier features (docs/yardstick.md): the Fréchet distance
// of their Gaussian fits (Heusel et al. 2017, the "FID" formula), the kernel inception
// distance (Bińkowski et al. 2018: unbiased MMD^2 with the cubic polynomial kernel, averaged
// over random subsets, as torch-fidelity computes it) and k-NN precision and recall
// (Kynkäänniemi et al. 2019). Everything runs in double. Matrix products go to BLAS (dgemm),
// eigen-decompositions to LAPACK (dsyevd): the matrix square roots of the FD come from
// symmetric eigen-decompositions, which, unlike a general sqrtm, never turn complex.
// ref/yardstick_twin.py computes the same numbers with SciPy. Left out: FID's Inception
// features (the features are the caller's), and density/coverage.
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "core/core.h"
#include "core/rng.h"

// The reference BLAS routine (Fortran calling convention): Debian's libblas, which liblapack
// needs anyway; there is no CBLAS header in the build dependencies.
extern void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                   const double *alpha, const double *a, const int *lda, const double *b,
                   const int *ldb, const double *beta, double *c, const int *ldc);

// Row-major C (M, N) = A (M, K) · B (N, K)ᵀ: column-major, that is Cᵀ = B · Aᵀ.
static void gemm_abt(double *c, const double *a, const double *b, int M, int N, int K) {
    const double one = 1.0, zero = 0.0;
    dgemm_("T", "N", &N, &M, &K, &one, b, &K, a, &K, &zero, c, &N);
}

// Row-major C (n, n) = A (n, n) · B (n, n): column-major Cᵀ = Bᵀ · Aᵀ.
static void gemm_ab(double *c, const double *a, const double *b, int n) {
    const double one = 1.0, zero = 0.0;
    dgemm_("N", "N", &n, &n, &n, &one, b, &n, a, &n, &zero, c, &n);
}

static double *doubles(size_t n) { return cdrl_malloc((n ? n : 1) * sizeof(double)); }

// ---------------------------------------------------------------------------------------
// Mean and covariance

cdrl_status cdrl_eval_mean_cov(double *mu, double *cov, const float *f, int n, int d) {
    if (n < 2 || d < 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "mean/covariance: need at least 2 rows of at least 1 value, got %d x %d",
                         n, d);
    double *xc = doubles((size_t)n * (size_t)d);
    if (!xc)
        return cdrl_fail(CDRL_STATUS_NOMEM, "mean/covariance: out of memory for %d x %d", n, d);
    for (int j = 0; j < d; j++)
        mu[j] = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            mu[j] += (double)f[(size_t)i * (size_t)d + (size_t)j];
    for (int j = 0; j < d; j++)
        mu[j] /= n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            xc[(size_t)i * (size_t)d + (size_t)j] =
                (double)f[(size_t)i * (size_t)d + (size_t)j] - mu[j];
    // cov = Xcᵀ Xc / (n - 1): row-major Xcᵀ Xc is column-major Xc_col · Xc_colᵀ with
    // Xc_col = Xcᵀ (d, n).
    const double alpha = 1.0 / (n - 1), zero = 0.0;
    dgemm_("N", "T", &d, &d, &n, &alpha, xc, &d, xc, &d, &zero, cov, &d);
    cdrl_free(xc);
    return CDRL_OK;
}

// ---------------------------------------------------------------------------------------
// Fréchet distance

// out (d, d) = the symmetric square root V sqrt(max(w, 0)) Vᵀ of the symmetric s (d, d).
// a, b: (d, d) scratch; w: (d).
static cdrl_status sqrt_psd(double *out, const double *s, int d, double *a, double *b, double *w) {
    memcpy(a, s, sizeof(double) * (size_t)d * (size_t)d);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, a, d, w);
    if (info != 0)
        return cdrl_fail(CDRL_STATUS_INVALID, "Fréchet distance: dsyevd failed (info %d)",
                         (int)info);
    // a holds the eigenvectors as columns: b = V diag(sqrt w), out = b Vᵀ
    for (int i = 0; i < d; i++)
        for (int k = 0; k < d; k++)
            b[(size_t)i * (size_t)d + (size_t)k] =
                a[(size_t)i * (size_t)d + (size_t)k] * sqrt(w[k] > 0 ? w[k] : 0.0);
    gemm_abt(out, b, a, d, d, d);
    return CDRL_OK;
}

cdrl_status cdrl_eval_fd(double *fd, const double *mu1, const double *cov1, const double *mu2,
                         const double *cov2, int d) {
    *fd = (double)NAN;
    if (d < 1) return cdrl_fail(CDRL_STATUS_INVALID, "Fréchet distance: dimension %d", d);
    const size_t dd = (size_t)d * (size_t)d;
    double *r = doubles(dd), *a = doubles(dd), *b = doubles(dd), *m = doubles(dd),
           *w = doubles((size_t)d);
    cdrl_status st =
        r && a && b && m && w
            ? CDRL_OK
            : cdrl_fail(CDRL_STATUS_NOMEM, "Fréchet distance: out of memory (d = %d)", d);
    if (st == CDRL_OK) st = sqrt_psd(r, cov1, d, a, b, w);
    if (st == CDRL_OK) {
        // m = sqrt(S1) S2 sqrt(S1), symmetric PSD: tr sqrt(m) = sum of sqrt of its eigenvalues
        gemm_ab(a, r, cov2, d);
        gemm_ab(m, a, r, d);
        for (int i = 0; i < d; i++) // round-off makes m slightly asymmetric: use its symmetric part
            for (int j = i + 1; j < d; j++) {
                const double v = 0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
                m[(size_t)i * d + j] = m[(size_t)j * d + i] = v;
            }
        lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', d, m, d, w);
        if (info != 0)
            st = cdrl_fail(CDRL_STATUS_INVALID, "Fréchet distance: dsyevd failed (info %d)",
                           (int)info);
    }
    if (st == CDRL_OK) {
        double dm = 0, tr = 0, tr_sqrt = 0;
        for (int j = 0; j < d; j++) {
            dm += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]);
            tr += cov1[(size_t)j * d + j] + cov2[(size_t)j * d + j];
            tr_sqrt += sqrt(w[j] > 0 ? w[j] : 0.0);
        }
        *fd = dm + tr - 2.0 * tr_sqrt;
        if (!isfinite(*fd))
            st = cdrl_fail(CDRL_STATUS_DIVERGED,
                           "Fréchet distance: not finite (NaN or Inf in the statistics)");
    }
    cdrl_free(r);
    cdrl_free(a);
    cdrl_free(b);
    cdrl_free(m);
    cdrl_free(w);
    return st;
}

// ---------------------------------------------------------------------------------------
// KID

// Copies rows idx[0..m) of x (., d) to out (m, d) in double.
static void gather(double *out, const float *x, const int *idx, int m, int d) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < d; j++)
            out[(size_t)i * d + j] = (double)x[(size_t)idx[i] * (size_t)d + (size_t)j];
}

// Sum of (a_i · b_j / d + 1)^3 over all i, j, and over i = j when diag is not NULL.
static double poly_sum(double *g, const double *a, const double *b, int m, int d, double *diag) {
    gemm_abt(g, a, b, m, m, d);
    double s = 0, t = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            const double k = g[(size_t)i * m + j] / d + 1.0;
            s += k * k * k;
            if (diag && i == j) t += k * k * k;
        }
    if (diag) *diag = t;
    return s;
}

cdrl_status cdrl_eval_kid_subsets(double *mmd, const float *x, const int *idx_x, const float *y,
                                  const int *idx_y, int d, int n_subsets, int m) {
    if (m < 2 || d < 1 || n_subsets < 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "KID: subset size %d (>= 2), dimension %d, %d subsets", m, d, n_subsets);
    double *a = doubles((size_t)m * d), *b = doubles((size_t)m * d), *g = doubles((size_t)m * m);
    if (!a || !b || !g) {
        cdrl_free(a);
        cdrl_free(b);
        cdrl_free(g);
        return cdrl_fail(CDRL_STATUS_NOMEM, "KID: out of memory for subsets of %d", m);
    }
    for (int s = 0; s < n_subsets; s++) {
        gather(a, x, idx_x + (size_t)s * m, m, d);
        gather(b, y, idx_y + (size_t)s * m, m, d);
        double dxx, dyy;
        const double sxx = poly_sum(g, a, a, m, d, &dxx), syy = poly_sum(g, b, b, m, d, &dyy);
        const double sxy = poly_sum(g, a, b, m, d, NULL);
        mmd[s] = ((sxx - dxx) + (syy - dyy)) / ((double)m * (m - 1)) - 2.0 * sxy / ((double)m * m);
    }
    cdrl_free(a);
    cdrl_free(b);
    cdrl_free(g);
    return CDRL_OK;
}

// m distinct indices of 0..n-1 (a partial Fisher-Yates shuffle); perm (n) is scratch.
static void choose(int *out, int *perm, int n, int m, cdrl_rng *rng) {
    cdrl_rng_shuffle_prefix(rng, perm, m, n);
    memcpy(out, perm, sizeof(int) * (size_t)m);
}

cdrl_status cdrl_eval_kid(double *kid, double *kid_std, const float *x, int nx, const float *y,
                          int ny, int d, int n_subsets, int subset_size, uint64_t seed) {
    *kid = (double)NAN;
    if (kid_std) *kid_std = (double)NAN;
    int m = subset_size;
    if (m > nx) m = nx;
    if (m > ny) m = ny;
    if (m < 2 || n_subsets < 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "KID: sets of %d and %d features, %d subsets: need 2 or more of each", nx,
                         ny, n_subsets);
    int *ix = cdrl_malloc(sizeof(int) * (size_t)n_subsets * m),
        *iy = cdrl_malloc(sizeof(int) * (size_t)n_subsets * m);
    int *perm = cdrl_malloc(sizeof(int) * (size_t)(nx > ny ? nx : ny));
    double *v = doubles((size_t)n_subsets);
    cdrl_status st =
        ix && iy && perm && v ? CDRL_OK : cdrl_fail(CDRL_STATUS_NOMEM, "KID: out of memory");
    if (st == CDRL_OK) {
        cdrl_rng rng;
        cdrl_rng_init(&rng, seed, 0);
        for (int s = 0; s < n_subsets; s++) {
            choose(ix + (size_t)s * m, perm, nx, m, &rng);
            choose(iy + (size_t)s * m, perm, ny, m, &rng);
        }
        st = cdrl_eval_kid_subsets(v, x, ix, y, iy, d, n_subsets, m);
    }
    if (st == CDRL_OK) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n_subsets; i++)
            s += v[i];
        s /= n_subsets;
        for (int i = 0; i < n_subsets; i++)
            s2 += (v[i] - s) * (v[i] - s);
        *kid = s;
        if (kid_std) *kid_std = n_subsets > 1 ? sqrt(s2 / n_subsets) : 0.0;
    }
    cdrl_free(ix);
    cdrl_free(iy);
    cdrl_free(perm);
    cdrl_free(v);
    return st;
}

// ---------------------------------------------------------------------------------------
// Precision and recall

#define PR_ROWS 512 // rows of a distance block: bounds memory at 512 x n doubles

// Squared norms of the rows of a (n, d).
static void row_norms(double *out, const double *a, int n, int d) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += a[(size_t)i * d + j] * a[(size_t)i * d + j];
        out[i] = s;
    }
}

// Squared distances of rows a[i0, i0+r) to all of b: g (r, nb).
static void sq_dist_block(double *g, const double *a, const double *na, int i0, int r,
                          const double *b, const double *nb, int n_b, int d) {
    gemm_abt(g, a + (size_t)i0 * d, b, r, n_b, d);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < n_b; j++) {
            const double v = na[i0 + i] + nb[j] - 2.0 * g[(size_t)i * n_b + j];
            g[(size_t)i * n_b + j] = v > 0 ? v : 0.0;
        }
}

// radius2[i] = squared distance of a_i to its k-th nearest neighbour in a, itself not counted
// (the (k+1)-th smallest distance, the point's own 0 being the first).
static void knn_radii(double *radius2, const double *a, const double *na, int n, int d, int k,
                      double *g) {
    double best[16];
    for (int i0 = 0; i0 < n; i0 += PR_ROWS) {
        const int r = n - i0 < PR_ROWS ? n - i0 : PR_ROWS;
        sq_dist_block(g, a, na, i0, r, a, na, n, d);
        for (int i = 0; i < r; i++) {
            g[(size_t)i * n + (size_t)(i0 + i)] = 0.0; // the point itself, exactly
            // insertion into the k + 1 smallest, sorted ascending
            int cnt = 0;
            for (int j = 0; j < n; j++) {
                const double v = g[(size_t)i * n + j];
                if (cnt == k + 1 && v >= best[k]) continue;
                int p = cnt < k + 1 ? cnt++ : k;
                while (p > 0 && best[p - 1] > v) {
                    best[p] = best[p - 1];
                    p--;
                }
                best[p] = v;
            }
            radius2[i0 + i] = best[k];
        }
    }
}

// Share of the rows of q that lie within the k-NN ball (radius2) of some row of a.
static double coverage(const double *q, const double *nq, int n_q, const double *a,
                       const double *na, const double *radius2, int n_a, int d, double *g) {
    long inside = 0;
    for (int i0 = 0; i0 < n_q; i0 += PR_ROWS) {
        const int r = n_q - i0 < PR_ROWS ? n_q - i0 : PR_ROWS;
        sq_dist_block(g, q, nq, i0, r, a, na, n_a, d);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < n_a; j++)
                if (g[(size_t)i * n_a + j] <= radius2[j]) {
                    inside++;
                    break;
                }
    }
    return (double)inside / n_q;
}

cdrl_status cdrl_eval_precision_recall(double *precision, double *recall, const float *real,
                                       int n_real, const float *fake, int n_fake, int d, int k) {
    *precision = *recall = (double)NAN;
    if (k < 1 || k > 15 || n_real <= k || n_fake <= k || d < 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "precision/recall: k = %d (1..15) needs more than k real (%d) and "
                         "generated (%d) features",
                         k, n_real, n_fake);
    const int n_max = n_real > n_fake ? n_real : n_fake;
    double *r = doubles((size_t)n_real * d), *f = doubles((size_t)n_fake * d);
    double *nr = doubles((size_t)n_real), *nf = doubles((size_t)n_fake);
    double *rr = doubles((size_t)n_real), *rf = doubles((size_t)n_fake);
    double *g = doubles((size_t)PR_ROWS * n_max);
    cdrl_status st =
        r && f && nr && nf && rr && rf && g
            ? CDRL_OK
            : cdrl_fail(CDRL_STATUS_NOMEM, "precision/recall: out of memory for %d and %d features",
                        n_real, n_fake);
    if (st == CDRL_OK) {
        for (size_t i = 0; i < (size_t)n_real * d; i++)
            r[i] = (double)real[i];
        for (size_t i = 0; i < (size_t)n_fake * d; i++)
            f[i] = (double)fake[i];
        row_norms(nr, r, n_real, d);
        row_norms(nf, f, n_fake, d);
        knn_radii(rr, r, nr, n_real, d, k, g);
        knn_radii(rf, f, nf, n_fake, d, k, g);
        *precision = coverage(f, nf, n_fake, r, nr, rr, n_real, d, g);
        *recall = coverage(r, nr, n_real, f, nf, rf, n_fake, d, g);
    }
    cdrl_free(r);
    cdrl_free(f);
    cdrl_free(nr);
    cdrl_free(nf);
    cdrl_free(rr);
    cdrl_free(rf);
    cdrl_free(g);
    return st;
}
