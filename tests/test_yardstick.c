// The image yardstick's distances and classifier (src/eval/fd_kid_pr.c, classifier.c):
// mean/covariance, FD, KID per subset and precision/recall against the SciPy twin's fixture
// (ref/yardstick_twin.py --fixture); FD, KID and precision/recall on cases with known answers
// (a set against itself, shifted and scaled Gaussians, far-apart sets); the classifier's
// gradient against central differences and its bytes at 1 and 2 threads. Not tested here: the
// accuracy of the trained Fashion-MNIST classifier (docs/yardstick.md has its measurement).
#include <stdint.h>

#include "core/rng.h"
#include "eval/classifier.h"
#include "test_util.h"

static double rel_diff(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

// ---------------------------------------------------------------------------------------
// Against the twin

static void test_twin(void) {
    printf("twin fixture (ref/yardstick_twin.py)\n");
    cdrl_st_file *f = fixture_load("yardstick");
    if (!f) {
        CHECK(0, "tests/fixtures/yardstick.safetensors missing");
        return;
    }
    const cdrl_st_tensor *tr = cdrl_st_find(f, "in.real"), *tf = cdrl_st_find(f, "in.fake");
    const cdrl_st_tensor *ir = cdrl_st_find(f, "in.idx_real"),
                         *iff = cdrl_st_find(f, "in.idx_fake");
    const int d = (int)tr->shape[1], nr = (int)tr->shape[0], nf = (int)tf->shape[0];
    const int ns = (int)ir->shape[0], m = (int)ir->shape[1];
    const float *real = tr->data, *fake = tf->data;
    double *mu_r = malloc(sizeof(double) * (size_t)d),
           *cov_r = malloc(sizeof(double) * (size_t)d * d);
    double *mu_f = malloc(sizeof(double) * (size_t)d),
           *cov_f = malloc(sizeof(double) * (size_t)d * d);
    double *kid = malloc(sizeof(double) * (size_t)ns);
    CHECK(cdrl_eval_mean_cov(mu_r, cov_r, real, nr, d) == CDRL_OK, "mean_cov real");
    CHECK(cdrl_eval_mean_cov(mu_f, cov_f, fake, nf, d) == CDRL_OK, "mean_cov fake");
    const cdrl_st_tensor *w_mu = cdrl_st_find(f, "out.mu_real"),
                         *w_cov = cdrl_st_find(f, "out.cov_fake");
    double err_mu = 0, err_cov = 0;
    for (int j = 0; j < d; j++)
        err_mu = fmax(err_mu, fabs(mu_r[j] - ((const double *)w_mu->data)[j]));
    for (int j = 0; j < d * d; j++)
        err_cov = fmax(err_cov, fabs(cov_f[j] - ((const double *)w_cov->data)[j]));
    // double sums of float inputs, in another order than NumPy's: round-off only
    CHECK(err_mu < 1e-12 && err_cov < 1e-12, "mean/cov vs NumPy: max abs %.3g / %.3g", err_mu,
          err_cov);
    printf("       mean, covariance        max abs diff %.3g, %.3g\n", err_mu, err_cov);

    double fd = 0, fd_self = 1;
    CHECK(cdrl_eval_fd(&fd, mu_f, cov_f, mu_r, cov_r, d) == CDRL_OK, "fd");
    const double want_fd = *(const double *)cdrl_st_find(f, "out.fd")->data;
    // the twin's sqrtm (Schur) and our eigen-decompositions differ by round-off only; the
    // project's bound is 1e-4 relative
    CHECK(rel_diff(fd, want_fd) < 1e-4, "FD %.10g vs SciPy %.10g (rel %.3g)", fd, want_fd,
          rel_diff(fd, want_fd));
    printf("       FD %.10g vs SciPy %.10g rel diff %.3g\n", fd, want_fd, rel_diff(fd, want_fd));
    CHECK(cdrl_eval_fd(&fd_self, mu_r, cov_r, mu_r, cov_r, d) == CDRL_OK && fabs(fd_self) < 1e-9,
          "FD of a set with itself %.3g (SciPy %.3g)", fd_self,
          *(const double *)cdrl_st_find(f, "out.fd_self")->data);

    int *ix = malloc(sizeof(int) * (size_t)ns * m), *iy = malloc(sizeof(int) * (size_t)ns * m);
    for (int i = 0; i < ns * m; i++) {
        ix[i] = ((const int32_t *)ir->data)[i];
        iy[i] = ((const int32_t *)iff->data)[i];
    }
    CHECK(cdrl_eval_kid_subsets(kid, real, ix, fake, iy, d, ns, m) == CDRL_OK, "kid subsets");
    const double *want_kid = cdrl_st_find(f, "out.kid")->data;
    double kerr = 0;
    for (int s = 0; s < ns; s++)
        kerr = fmax(kerr, rel_diff(kid[s], want_kid[s]));
    // sums of 10^4 kernel values in double: agreement to ~1e-12 relative
    CHECK(kerr < 1e-9, "KID per subset vs NumPy: max rel diff %.3g", kerr);
    printf("       KID per subset          max rel diff %.3g (first %.8g)\n", kerr, kid[0]);

    double p = 0, r = 0;
    CHECK(cdrl_eval_precision_recall(&p, &r, real, nr, fake, nf, d, 3) == CDRL_OK, "pr");
    const double wp = *(const double *)cdrl_st_find(f, "out.precision")->data,
                 wr = *(const double *)cdrl_st_find(f, "out.recall")->data;
    // counts of points inside balls: equal unless a distance ties a radius to round-off
    CHECK(fabs(p - wp) < 1e-12 && fabs(r - wr) < 1e-12,
          "precision %.6f recall %.6f vs twin %.6f %.6f", p, r, wp, wr);
    printf("       precision %.4f recall %.4f (twin %.4f %.4f)\n", p, r, wp, wr);
    free(mu_r);
    free(cov_r);
    free(mu_f);
    free(cov_f);
    free(kid);
    free(ix);
    free(iy);
    cdrl_st_free(f);
}

// ---------------------------------------------------------------------------------------
// Known answers

// n rows of d standard normals times scale plus shift (the same draws for the same seed).
static float *gauss(int n, int d, uint64_t seed, float scale, const float *shift) {
    float *x = malloc(sizeof(float) * (size_t)n * d);
    cdrl_rng r;
    cdrl_rng_init(&r, seed, 0);
    cdrl_rng_normal(&r, x, (size_t)n * d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = scale * x[(size_t)i * d + j] + (shift ? shift[j] : 0.0f);
    return x;
}

static double fd_of(const float *a, int na, const float *b, int nb, int d) {
    double *m1 = malloc(sizeof(double) * (size_t)d), *c1 = malloc(sizeof(double) * (size_t)d * d);
    double *m2 = malloc(sizeof(double) * (size_t)d), *c2 = malloc(sizeof(double) * (size_t)d * d);
    double fd = (double)NAN;
    if (cdrl_eval_mean_cov(m1, c1, a, na, d) != CDRL_OK ||
        cdrl_eval_mean_cov(m2, c2, b, nb, d) != CDRL_OK ||
        cdrl_eval_fd(&fd, m1, c1, m2, c2, d) != CDRL_OK)
        fd = (double)NAN;
    free(m1);
    free(c1);
    free(m2);
    free(c2);
    return fd;
}

static void test_known(void) {
    printf("known answers\n");
    const int d = 8, n = 2000;
    float shift[8] = {0.5f, -1.0f, 0.25f, 0, 0, 2.0f, 0, -0.5f};
    double s2 = 0;
    for (int j = 0; j < d; j++)
        s2 += (double)shift[j] * (double)shift[j];
    float *a = gauss(n, d, 1, 1.0f, NULL), *b = gauss(n, d, 1, 1.0f, shift);
    // b is a shifted copy of a: same covariance up to float rounding of the shift, so FD = |s|^2
    const double fd_shift = fd_of(b, n, a, n, d);
    CHECK(rel_diff(fd_shift, s2) < 1e-5, "FD of a shifted copy %.10g, want |shift|^2 = %.10g",
          fd_shift, s2);
    const double fd_self = fd_of(a, n, a, n, d);
    CHECK(fabs(fd_self) < 1e-9, "FD of a set with itself %.3g", fd_self);
    // a scaled copy: covariances S and c^2 S commute: FD = |0|^2 + (1 - c)^2 tr S
    float *c = gauss(n, d, 1, 2.0f, NULL);
    double *mu = malloc(sizeof(double) * d), *cov = malloc(sizeof(double) * d * d);
    cdrl_eval_mean_cov(mu, cov, a, n, d);
    double trs = 0, mu2 = 0;
    for (int j = 0; j < d; j++)
        trs += cov[j * d + j], mu2 += mu[j] * mu[j];
    const double fd_scale = fd_of(c, n, a, n, d);
    CHECK(rel_diff(fd_scale, trs + mu2) < 1e-6,
          "FD of a copy scaled by 2 %.10g, want tr S + |mu|^2 = %.10g", fd_scale, trs + mu2);
    // independent draws of one Gaussian: small, and far below a shift of 1 per axis
    float *a2 = gauss(n, d, 2, 1.0f, NULL);
    const double fd_same = fd_of(a2, n, a, n, d);
    CHECK(fd_same > 0 && fd_same < 0.1,
          "FD of two draws of N(0, I): %.4g (expected about d^2/n ~ 0.03)", fd_same);
    printf("       FD: shifted %.6g (want %.6g), self %.2g, scaled %.6g, two draws %.4g\n",
           fd_shift, s2, fd_self, fd_scale, fd_same);

    double kid_same, kid_shift, sd;
    CHECK(cdrl_eval_kid(&kid_same, &sd, a, n, a2, n, d, 20, 500, 1) == CDRL_OK, "kid");
    CHECK(cdrl_eval_kid(&kid_shift, &sd, a, n, b, n, d, 20, 500, 1) == CDRL_OK, "kid");
    CHECK(fabs(kid_same) < 0.01 && kid_shift > 0.1,
          "KID same distribution %.3g (about 0), shifted %.3g (large)", kid_same, kid_shift);
    double kid_again;
    cdrl_eval_kid(&kid_again, NULL, a, n, b, n, d, 20, 500, 1);
    CHECK(kid_again == kid_shift, "KID: same seed, same value");
    printf("       KID: same distribution %.3g, shifted %.4g\n", kid_same, kid_shift);

    double p, r;
    CHECK(cdrl_eval_precision_recall(&p, &r, a, 500, a, 500, d, 3) == CDRL_OK && p == 1.0 &&
              r == 1.0,
          "precision/recall of a set with itself: %g %g", p, r);
    float far[8] = {50, 50, 50, 50, 50, 50, 50, 50};
    float *z = gauss(500, d, 3, 1.0f, far);
    CHECK(cdrl_eval_precision_recall(&p, &r, a, 500, z, 500, d, 3) == CDRL_OK && p == 0.0 &&
              r == 0.0,
          "precision/recall of far-apart sets: %g %g", p, r);
    // a narrow generator inside the data: high precision, low recall
    float *narrow = gauss(500, d, 4, 0.3f, NULL);
    CHECK(cdrl_eval_precision_recall(&p, &r, a, 500, narrow, 500, d, 3) == CDRL_OK && p > 0.9 &&
              r < 0.3,
          "narrow generator: precision %.3f (> 0.9), recall %.3f (< 0.3)", p, r);
    printf("       precision/recall of a narrow generator %.3f %.3f\n", p, r);
    CHECK(cdrl_eval_precision_recall(&p, &r, a, 3, z, 500, d, 3) == CDRL_STATUS_INVALID,
          "k >= n refused");
    free(a);
    free(a2);
    free(b);
    free(c);
    free(z);
    free(narrow);
    free(mu);
    free(cov);
}

// ---------------------------------------------------------------------------------------
// Classifier

static void test_classifier(void) {
    printf("classifier\n");
    cdrl_classifier *c = NULL;
    CHECK(cdrl_classifier_create(&c, 1, 8, 3, 5) == CDRL_OK, "create");
    const size_t P = cdrl_classifier_n_params(c);
    float *p = cdrl_classifier_params_ptr(c), *g = cdrl_calloc(sizeof(float) * P);
    float x[4 * 64];
    int lab[4] = {0, 1, 2, 1};
    cdrl_rng r;
    cdrl_rng_init(&r, 3, 0);
    cdrl_rng_normal(&r, x, 256);
    cdrl_set_threads(1);
    const double loss = cdrl_classifier_loss_grad(c, g, x, lab, 4);
    CHECK(fabs(loss - log(3.0)) < 0.5, "initial loss %.4f near ln 3", loss);
    // central differences on every 37th parameter; ReLU kinks may spoil a few
    int bad = 0, n = 0;
    for (size_t i = 0; i < P; i += 37) {
        const float s = p[i], e = 2e-3f;
        p[i] = s + e;
        const double lp = cdrl_classifier_loss_grad(c, NULL, x, lab, 4);
        p[i] = s - e;
        const double lm = cdrl_classifier_loss_grad(c, NULL, x, lab, 4);
        p[i] = s;
        const double fdg = (lp - lm) / (2.0 * (double)e);
        n++;
        if (fabs(fdg - (double)g[i]) > 1e-3 + 0.05 * fabs(fdg)) bad++;
    }
    CHECK(bad * 50 < n, "gradient vs central differences: %d of %d off (at most 2%% at ReLU kinks)",
          bad, n);
    printf("       gradient: %d of %d parameters off\n", bad, n);
    float *g2 = cdrl_calloc(sizeof(float) * P);
    cdrl_set_threads(2);
    cdrl_classifier_loss_grad(c, g2, x, lab, 4);
    CHECK(memcmp(g, g2, sizeof(float) * P) == 0, "gradient bytes at 1 and 2 threads differ");
    float feat[4 * 128];
    int pred[4];
    CHECK(cdrl_classifier_run(c, feat, pred, NULL, x, 4, 1, 8) == CDRL_OK, "run");
    CHECK(cdrl_classifier_run(c, feat, pred, NULL, x, 4, 1, 7) == CDRL_STATUS_MISMATCH,
          "odd margin refused");
    CHECK(cdrl_classifier_run(c, feat, pred, NULL, x, 4, 3, 8) == CDRL_STATUS_MISMATCH,
          "channels refused");
    cdrl_free(g);
    cdrl_free(g2);
    cdrl_classifier_free(c);
}

// ---------------------------------------------------------------------------------------
// The initializer's proposals alone (cdrl_model_sample_cond with K = 0)

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    test_twin();
    test_known();
    test_classifier();
    return test_report("test_yardstick");
}
