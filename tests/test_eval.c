// Evaluation library (src/eval): the biased MMD^2 against a plain double-loop computation,
// its behaviour on identical and shifted sets, the median-distance bandwidth against a full
// sort, and the grid normaliser on densities whose NLL is known exactly (a Gaussian known
// up to a constant; the checkerboard with its exact log-density), including the refinement
// loop, the edge-mass diagnostic, error statuses and a small model. Not tested here: how good
// a trained model's NLL is (that is the toy-training tests' business).
#include <stdint.h>

#include "core/rng.h"
#include "data/toy2d.h"
#include "test_util.h"

// ---------------------------------------------------------------------------------------
// MMD

// The V-statistic written out over all pairs, in double.
static double mmd2_brute(const float *x, int nx, const float *y, int ny, double h) {
    double sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < nx; j++) {
            double dx = (double)x[2 * i] - (double)x[2 * j],
                   dy = (double)x[2 * i + 1] - (double)x[2 * j + 1];
            sxx += exp(-(dx * dx + dy * dy) / (2 * h * h));
        }
    for (int i = 0; i < ny; i++)
        for (int j = 0; j < ny; j++) {
            double dx = (double)y[2 * i] - (double)y[2 * j],
                   dy = (double)y[2 * i + 1] - (double)y[2 * j + 1];
            syy += exp(-(dx * dx + dy * dy) / (2 * h * h));
        }
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) {
            double dx = (double)x[2 * i] - (double)y[2 * j],
                   dy = (double)x[2 * i + 1] - (double)y[2 * j + 1];
            sxy += exp(-(dx * dx + dy * dy) / (2 * h * h));
        }
    return sxx / ((double)nx * nx) + syy / ((double)ny * ny) - 2 * sxy / ((double)nx * ny);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// n standard normal points (n, 2) shifted by (sx, 0).
static float *gaussian(int n, uint64_t seed, float sx) {
    float *x = test_floats(2 * (size_t)n);
    cdrl_rng r;
    cdrl_rng_init(&r, seed, 0);
    cdrl_rng_normal(&r, x, 2 * (size_t)n);
    for (int i = 0; i < n; i++)
        x[2 * i] += sx;
    return x;
}

static void test_mmd(void) {
    printf("mmd\n");
    // Small sets of different sizes against the double loops. Both sum the same doubles in a
    // different order, so they agree to rounding: 1e-12 relative to the kernel means (~0.3).
    float *x = gaussian(70, 1, 0.0f), *y = gaussian(53, 2, 0.7f);
    for (int k = 0; k < 3; k++) {
        const double h = 0.5 + k;
        double got = cdrl_eval_mmd2(x, 70, y, 53, 2, h), want = mmd2_brute(x, 70, y, 53, h);
        CHECK(fabs(got - want) <= 1e-12, "mmd2(h=%g) = %.17g, brute force %.17g", h, got, want);
        printf("  ok   mmd2 vs double loops h=%-4g %.6g (|diff| %.2g)\n", h, got, fabs(got - want));
    }
    cdrl_free(x);
    cdrl_free(y);

    // Identical sets: the three means cancel up to rounding (each is ~1e-1, double).
    x = gaussian(500, 3, 0.0f);
    double same = cdrl_eval_mmd2(x, 500, x, 500, 2, 1.0);
    CHECK(fabs(same) < 1e-12, "mmd2 of a set with itself is %.3g", same);
    printf("  ok   mmd2(x, x) = %.3g\n", same);

    // Shifted Gaussians: MMD^2 grows with the shift. Two independent draws of 500 give a
    // biased MMD^2 of about 2/n * (1 - E k) ~ 2e-3; a shift of 0.5 std gives ~0.04.
    double prev = cdrl_eval_mmd2(x, 500, (y = gaussian(500, 4, 0.0f)), 500, 2, 1.0);
    cdrl_free(y);
    printf("  ..   shift 0.0: %.5f\n", prev);
    const float shifts[] = {0.5f, 1.0f, 2.0f, 4.0f};
    for (int k = 0; k < 4; k++) {
        y = gaussian(500, 4, shifts[k]);
        double v = cdrl_eval_mmd2(x, 500, y, 500, 2, 1.0);
        CHECK(v > prev, "mmd2 at shift %g (%.5f) not above the previous (%.5f)", (double)shifts[k],
              v, prev);
        printf("  ok   shift %.1f: %.5f\n", (double)shifts[k], v);
        prev = v;
        cdrl_free(y);
    }
    CHECK(prev > 0.3, "mmd2 at shift 4 std is %.4f (two disjoint blobs: ~ 2 * (E k) ~ 0.5)", prev);

    // The value is the same bits for 1 and 2 threads (fixed row blocks).
    y = gaussian(777, 5, 0.3f);
    int saved = cdrl_threads();
    cdrl_set_threads(1);
    double t1 = cdrl_eval_mmd2(x, 500, y, 777, 2, 0.8), m1 = cdrl_eval_median_distance(y, 777, 2);
    cdrl_set_threads(2);
    double t2 = cdrl_eval_mmd2(x, 500, y, 777, 2, 0.8), m2 = cdrl_eval_median_distance(y, 777, 2);
    cdrl_set_threads(saved);
    CHECK(t1 == t2 && m1 == m2, "1 vs 2 threads: mmd2 %.17g vs %.17g, median %.17g vs %.17g", t1,
          t2, m1, m2);
    printf("  ok   same bits for 1 and 2 threads\n");
    cdrl_free(x);
    cdrl_free(y);
}

static void test_median(void) {
    printf("median distance\n");
    // Against a full sort of the pair distances in double. The library keeps the squared
    // distances as float, so the result is the double median up to float rounding of d^2:
    // relative 1e-7 (half an ulp of d^2 is 6e-8 relative, sqrt halves it).
    const int sizes[] = {2, 3, 10, 301};
    for (int k = 0; k < 4; k++) {
        const int n = sizes[k];
        float *x = gaussian(n, 10 + (uint64_t)k, 0.0f);
        size_t N = (size_t)n * (size_t)(n - 1) / 2, c = 0;
        double *d = cdrl_malloc(sizeof(double) * N);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                double dx = (double)x[2 * i] - (double)x[2 * j],
                       dy = (double)x[2 * i + 1] - (double)x[2 * j + 1];
                d[c++] = sqrt(dx * dx + dy * dy);
            }
        qsort(d, N, sizeof(double), cmp_double);
        double want = d[(N - 1) / 2], got = cdrl_eval_median_distance(x, n, 2);
        CHECK(fabs(got - want) <= 1e-7 * want, "n=%d: median %.9g, sorted %.9g", n, got, want);
        printf("  ok   n=%-4d median %.6f (rel diff %.2g)\n", n, got, fabs(got - want) / want);
        cdrl_free(d);
        cdrl_free(x);
    }
    // Many ties: 40 points on 4 spots; the pair distances take few values.
    float ties[80];
    for (int i = 0; i < 40; i++) {
        ties[2 * i] = (float)(i % 2);
        ties[2 * i + 1] = (float)((i / 2) % 2);
    }
    // Pairs: 180 at distance 0 (same spot), 400 at 1, 200 at sqrt 2, of 780; rank 389 is 1.
    double tm = cdrl_eval_median_distance(ties, 40, 2);
    CHECK(tm == 1.0, "median with ties %.9g, want 1", tm);
    CHECK(isnan(cdrl_eval_median_distance(ties, 1, 2)), "one point should give NaN");
}

// ---------------------------------------------------------------------------------------
// Grid NLL

typedef struct {
    double mx, my, s, c; // mean, std, constant added to the log-density
    int calls;
} gauss_ctx;

static cdrl_status gauss_logp(void *user, float *logp, const float *x, int n) {
    gauss_ctx *g = user;
    g->calls++;
    for (int i = 0; i < n; i++) {
        double dx = (double)x[2 * i] - g->mx, dy = (double)x[2 * i + 1] - g->my;
        logp[i] = (float)(g->c - (dx * dx + dy * dy) / (2 * g->s * g->s));
    }
    return CDRL_OK;
}

static cdrl_status toy_logp(void *user, float *logp, const float *x, int n) {
    const cdrl_toy2d *g = user;
    for (int i = 0; i < n; i++)
        logp[i] = (float)cdrl_toy2d_log_density(g, (double)x[2 * i], (double)x[2 * i + 1]);
    return CDRL_OK;
}

static cdrl_status nan_logp(void *user, float *logp, const float *x, int n) {
    (void)user;
    for (int i = 0; i < n; i++)
        logp[i] = x[2 * i] > 3.0f ? NAN : 0.0f;
    return CDRL_OK;
}

static cdrl_status zero_density(void *user, float *logp, const float *x, int n) {
    (void)user;
    (void)x;
    for (int i = 0; i < n; i++)
        logp[i] = -INFINITY;
    return CDRL_OK;
}

static void test_grid_gaussian(void) {
    printf("grid nll: gaussian\n");
    // N((0.7, -0.4), 1.3^2 I) known up to the constant +17: the exact NLL of points is
    // mean |x - mu|^2 / (2 s^2) + log(2 pi s^2). The midpoint rule converges faster than any
    // power of the cell size for a smooth, decaying integrand, and the box [-9.6, 9.6]^2
    // leaves out mass ~e^-25; what remains is float32 rounding of logp (~1e-6 at 17), so
    // the brief's 1e-3 holds with room; 1e-5 is asserted.
    gauss_ctx g = {0.7, -0.4, 1.3, 17.0, 0};
    const int n = 2000;
    float *x = gaussian(n, 21, 0.0f);
    double want = 0;
    for (int i = 0; i < n; i++) {
        x[2 * i] = (float)(0.7 + 1.3 * (double)x[2 * i]);
        x[2 * i + 1] = (float)(-0.4 + 1.3 * (double)x[2 * i + 1]);
        double dx = (double)x[2 * i] - 0.7, dy = (double)x[2 * i + 1] + 0.4;
        want += (dx * dx + dy * dy) / (2 * 1.3 * 1.3);
    }
    want = want / n + log(2 * CDRL_PI * 1.3 * 1.3);
    cdrl_nll_params p;
    cdrl_nll_params_init(&p);
    CHECK(p.box[0] == -9.6f && p.box[1] == 9.6f && p.res == 128 && p.max_res == 1024 &&
              p.tol == 0.01,
          "defaults: box [%g, %g], res %d, max_res %d, tol %g", (double)p.box[0], (double)p.box[1],
          p.res, p.max_res, p.tol);
    cdrl_nll_result r;
    cdrl_status st = cdrl_eval_nll(gauss_logp, &g, x, n, &p, &r);
    CHECK(st == CDRL_OK, "eval_nll: %s", cdrl_status_str(st));
    CHECK(fabs(r.nll - want) < 1e-5, "nll %.9f, exact %.9f", r.nll, want);
    // R and 2R, then stop: the two agree far below 0.01.
    CHECK(r.n_grids == 2 && r.grid_res[0] == 128 && r.grid_res[1] == 256 && r.res == 256 &&
              r.converged,
          "grids %d (%d, %d), res %d, converged %d", r.n_grids, r.grid_res[0], r.grid_res[1], r.res,
          r.converged);
    CHECK(r.change < 1e-5 && fabs(r.change - fabs(r.grid_nll[1] - r.grid_nll[0])) == 0,
          "change %.3g", r.change);
    CHECK(fabs(r.log_z - (17.0 + log(2 * CDRL_PI * 1.3 * 1.3))) < 1e-5, "log Z %.9f", r.log_z);
    // The outer ring sits > 6.8 std from the mean: its share is ~e^-23.
    CHECK(r.edge_mass < 1e-9, "edge mass %.3g", r.edge_mass);
    // 1 call for the points, then 128^2 and 256^2 cells fit in one chunk of 65536 each.
    CHECK(g.calls == 3, "density called %d times, want 3", g.calls);
    printf("  ok   nll %.7f exact %.7f (|diff| %.2g), change %.2g, edge %.2g\n", r.nll, want,
           fabs(r.nll - want), r.change, r.edge_mass);
    // Grids of several chunks (512^2 = 4 x 65536, 1024^2 = 16): the running log-sum-exp
    // rescales across chunks; same tolerance.
    cdrl_nll_params big = p;
    big.res = 512;
    g.calls = 0;
    st = cdrl_eval_nll(gauss_logp, &g, x, n, &big, &r);
    CHECK(st == CDRL_OK && fabs(r.nll - want) < 1e-5 && r.res == 1024 && g.calls == 1 + 4 + 16,
          "512/1024 grids: %s nll %.9f, res %d, %d calls", cdrl_status_str(st), r.nll, r.res,
          g.calls);

    // A Gaussian centred on the box's corner: a quarter of the mass is inside and much of it
    // in the outer ring, which the edge mass reports.
    gauss_ctx corner = {9.6, 9.6, 0.5, 0.0, 0};
    st = cdrl_eval_nll(gauss_logp, &corner, x, 4, &p, &r);
    CHECK(st == CDRL_OK && r.edge_mass > 0.05, "corner gaussian: edge mass %.3g", r.edge_mass);
    printf("  ok   corner gaussian: edge mass %.3f\n", r.edge_mass);

    // Error statuses.
    cdrl_set_log_callback(NULL, NULL);
    st = cdrl_eval_nll(nan_logp, NULL, x, n, &p, &r);
    CHECK(st == CDRL_STATUS_DIVERGED, "NaN density: %s", cdrl_status_str(st));
    st = cdrl_eval_nll(zero_density, NULL, x, n, &p, &r);
    CHECK(st == CDRL_STATUS_DIVERGED || st == CDRL_STATUS_INVALID, "zero density: %s",
          cdrl_status_str(st));
    float far[2] = {100.0f, 100.0f};
    gauss_ctx narrow = {100.0, 100.0, 0.1, 0.0, 0}; // all mass far outside the box
    st = cdrl_eval_nll(gauss_logp, &narrow, far, 1, &p, &r);
    CHECK(st == CDRL_OK && r.edge_mass > 0.99, "mass outside the box: %s, edge %.3g",
          cdrl_status_str(st), r.edge_mass);
    cdrl_nll_params bad = p;
    bad.max_res = 100;
    CHECK(cdrl_eval_nll(gauss_logp, &g, x, n, &bad, &r) == CDRL_STATUS_INVALID,
          "max_res < res accepted");
    bad = p;
    bad.box[1] = bad.box[0];
    CHECK(cdrl_eval_nll(gauss_logp, &g, x, n, &bad, &r) == CDRL_STATUS_INVALID,
          "empty box accepted");
    CHECK(cdrl_eval_nll(gauss_logp, &g, x, 0, &p, &r) == CDRL_STATUS_INVALID, "n = 0 accepted");
    cdrl_set_log_callback(test_log, NULL);
    cdrl_free(x);
}

static void test_grid_checkerboard(void) {
    printf("grid nll: checkerboard\n");
    cdrl_toy2d g;
    CHECK(cdrl_toy2d_from_name(&g, "checkerboard") == CDRL_OK, "checkerboard");
    const int n = 1000;
    float *x = test_floats(2 * n);
    cdrl_rng r;
    cdrl_rng_init(&r, 7, 0);
    cdrl_toy2d_sample(&g, x, n, &r);
    const double want = log(128.0);

    // Cells aligned with the squares ([-8, 8]^2, 64 cells of 1/4): the midpoint rule is exact;
    // what is left is log(1/128) rounded to float (4e-7 relative): 1e-6.
    cdrl_nll_params p;
    cdrl_nll_params_init(&p);
    p.box[0] = p.box[2] = -8.0f;
    p.box[1] = p.box[3] = 8.0f;
    p.res = 64;
    cdrl_nll_result res;
    cdrl_status st = cdrl_eval_nll(toy_logp, &g, x, n, &p, &res);
    CHECK(st == CDRL_OK && fabs(res.nll - want) < 1e-6 && res.converged && res.n_grids == 2,
          "aligned: %s nll %.9f want %.9f, %d grids", cdrl_status_str(st), res.nll, want,
          res.n_grids);
    printf("  ok   aligned grid: nll %.8f exact ln 128 = %.8f\n", res.nll, want);

    // Cells not aligned (the default box, R = 20 -> cells of 0.96): an indicator's midpoint
    // rule errs by O(cell / side), so the loop must refine past 2R before two grids agree.
    cdrl_nll_params_init(&p);
    p.res = 20;
    p.max_res = 2560;
    st = cdrl_eval_nll(toy_logp, &g, x, n, &p, &res);
    printf("  ..   unaligned:");
    for (int k = 0; k < res.n_grids; k++)
        printf(" R=%d %.5f", res.grid_res[k], res.grid_nll[k]);
    printf("\n");
    CHECK(st == CDRL_OK && res.converged && res.n_grids >= 3 && res.change < 0.01,
          "unaligned: %s converged %d after %d grids, change %.3g", cdrl_status_str(st),
          res.converged, res.n_grids, res.change);
    // Once two grids agree to 0.01 the finer one is within about that of the truth (the
    // error at least halves per doubling): 0.01.
    CHECK(fabs(res.nll - want) < 0.01, "unaligned: nll %.5f want %.5f", res.nll, want);
    // max_res caps the loop: R = 20 and 40 only, not converged.
    p.max_res = 79;
    st = cdrl_eval_nll(toy_logp, &g, x, n, &p, &res);
    CHECK(st == CDRL_OK && res.n_grids == 2 && res.res == 40 && !res.converged,
          "capped: %d grids, res %d, converged %d", res.n_grids, res.res, res.converged);
    // A point off the support: the NLL is +inf, not an error.
    x[0] = 2.0f;
    x[1] = 2.0f; // [0,4] x [0,4] is not one of the eight squares
    p.max_res = 40;
    st = cdrl_eval_nll(toy_logp, &g, x, 1, &p, &res);
    CHECK(st == CDRL_OK && isinf(res.nll) && res.nll > 0, "off-support point: %s nll %g",
          cdrl_status_str(st), res.nll);
    cdrl_free(x);
    cdrl_toy2d_deinit(&g);
}

// The model's NLL is cdrl_eval_nll of its pair-1 EMA log-density: recompute log Z directly.
static void test_model_nll(void) {
    printf("grid nll: model\n");
    cdrl_config c;
    cdrl_config_preset(&c, "demo");
    c.ebm_ch = 8;
    c.init_t_dim = 8;
    c.init_h_dim = 32;
    c.batch = 16;
    cdrl_model *m = NULL;
    CHECK(cdrl_model_create(&m, &c) == CDRL_OK, "model");
    if (!m) return;
    float pts[6] = {0.1f, 0.2f, -3.0f, 4.0f, 7.5f, -7.5f};
    cdrl_nll_params p;
    cdrl_nll_params_init(&p);
    p.res = 32;
    p.max_res = 32;
    cdrl_nll_result r;
    CHECK(cdrl_model_nll(m, pts, 3, &p, &r) == CDRL_OK && r.n_grids == 1 && isnan(r.change),
          "model nll");
    // Direct: logp at 32^2 cell centres, log-sum-exp in double, the same cell-centre formula.
    // Both sum the same doubles in the same order, so 1e-12.
    float xy[2 * 32 * 32], lp[32 * 32], lpp[3];
    const double x0 = (double)p.box[0], d = ((double)p.box[1] - x0) / 32;
    for (int iy = 0; iy < 32; iy++)
        for (int ix = 0; ix < 32; ix++) {
            xy[2 * (iy * 32 + ix)] = (float)(x0 + (ix + 0.5) * d);
            xy[2 * (iy * 32 + ix) + 1] = (float)(x0 + (iy + 0.5) * d);
        }
    cdrl_model_log_density(m, lp, NULL, xy, 32 * 32, 1, 1);
    cdrl_model_log_density(m, lpp, NULL, pts, 3, 1, 1);
    double mx = -(double)INFINITY, s = 0;
    for (int k = 0; k < 32 * 32; k++)
        mx = (double)lp[k] > mx ? (double)lp[k] : mx;
    for (int k = 0; k < 32 * 32; k++)
        s += exp((double)lp[k] - mx);
    double log_z = mx + log(s) + log(d * d);
    double want = log_z - ((double)lpp[0] + (double)lpp[1] + (double)lpp[2]) / 3;
    CHECK(fabs(r.nll - want) < 1e-12 * fabs(want) + 1e-12, "model nll %.12f, direct %.12f", r.nll,
          want);
    printf("  ok   model nll %.6f (direct %.6f)\n", r.nll, want);
    cdrl_model_free(m);
}

// AUROC and FPR at 95% TPR against their definitions by double loops: every pair counted
// (ties one half), and the threshold searched over every in-distribution score.
static void ood_brute(const float *in, int ni, const float *out, int no, double *auroc,
                      double *fpr) {
    double w = 0;
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < no; j++)
            w += in[i] > out[j] ? 1.0 : in[i] == out[j] ? 0.5 : 0.0;
    *auroc = w / ((double)ni * no);
    // the largest threshold t (an in score) with at least 95% of the in scores >= t
    float best = -INFINITY;
    for (int i = 0; i < ni; i++) {
        int pass = 0;
        for (int k = 0; k < ni; k++)
            pass += in[k] >= in[i];
        if (pass >= 0.95 * ni && in[i] > best) best = in[i];
    }
    int fp = 0;
    for (int j = 0; j < no; j++)
        fp += out[j] >= best;
    *fpr = (double)fp / no;
}

static void test_ood(void) {
    printf("ood\n");
    float *in = gaussian(300, 5, 1.0f), *out = gaussian(211, 6, 0.0f);
    for (int k = 0; k < 3; k++) {
        // k = 1: values rounded to a coarse grid, so that many ties appear within and across
        if (k == 1) {
            for (int i = 0; i < 300; i++)
                in[i] = roundf(in[i] * 2) / 2;
            for (int i = 0; i < 211; i++)
                out[i] = roundf(out[i] * 2) / 2;
        }
        const int ni = k == 2 ? 1 : 300, no = k == 2 ? 5 : 211; // tiny sets too
        double a, f, wa, wf;
        CHECK(cdrl_eval_ood(&a, &f, in, ni, out, no) == CDRL_OK, "ood figures");
        ood_brute(in, ni, out, no, &wa, &wf);
        CHECK(fabs(a - wa) <= 1e-12 && f == wf, "case %d: auroc %.6f fpr95 %.4f, direct %.6f %.4f",
              k, a, f, wa, wf);
        printf("  ok   case %d: auroc %.4f fpr95 %.4f as the double loops\n", k, a, f);
    }
    double a, f;
    CHECK(cdrl_eval_ood(&a, &f, in, 300, in, 300) == CDRL_OK && a == 0.5,
          "a set against itself: auroc 1/2 (%.6f)", a);
    float lo[3] = {0, 1, 2}, hi[3] = {3, 4, 5};
    CHECK(cdrl_eval_ood(&a, &f, hi, 3, lo, 3) == CDRL_OK && a == 1.0 && f == 0.0,
          "separated sets: auroc 1, fpr95 0");
    CHECK(cdrl_eval_ood(&a, &f, lo, 3, hi, 3) == CDRL_OK && a == 0.0 && f == 1.0,
          "reversed sets: auroc 0, fpr95 1");
    lo[1] = NAN;
    CHECK(cdrl_eval_ood(&a, &f, hi, 3, lo, 3) == CDRL_STATUS_INVALID, "a NaN score is refused");
    CHECK(cdrl_eval_ood(&a, &f, hi, 0, lo, 3) == CDRL_STATUS_INVALID, "an empty set is refused");
    cdrl_free(in);
    cdrl_free(out);
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    test_ood();
    test_mmd();
    test_median();
    test_grid_gaussian();
    test_grid_checkerboard();
    test_model_nll();
    return test_report("test_eval");
}
