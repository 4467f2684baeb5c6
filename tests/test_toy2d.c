// 2-D data sources: each generator's shape (components, radii, noise, offsets) measured on
// 100k points against the definitions of docs/data.md, entropies against a Monte Carlo
// estimate and densities against a grid integral, determinism (seed, thread count), and the
// points:FILE reader (header, blank lines, bad rows with their line number, missing, empty,
// non-finite). Statistical tolerances are 5 standard errors of the quantity unless a comment
// says otherwise: with fixed seeds the draws are fixed, and a wrong constant moves a statistic
// by far more than that. Not tested: the (unspecified) order of points within a sample.
#include <stdint.h>

#include "core/rng.h"
#include "data/toy2d.h"
#include "test_util.h"

#define N  100000
#define PI 3.14159265358979323846

static char last_log[1024];
static void capture_log(cdrl_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    snprintf(last_log, sizeof last_log, "%s", msg);
}

// n points of generator `name` from seed; the caller frees. Checks the set-up and finiteness.
static float *draw(const char *name, size_t n, uint64_t seed) {
    cdrl_toy2d g;
    float *x = test_floats(2 * n);
    cdrl_status st = cdrl_toy2d_from_name(&g, name);
    CHECK(st == CDRL_OK, "%s: from_name gave %s", name, cdrl_status_str(st));
    if (st != CDRL_OK) return x;
    cdrl_rng r;
    cdrl_rng_init(&r, seed, 0);
    cdrl_toy2d_sample(&g, x, n, &r);
    size_t bad = 0, outside = 0;
    float box[4];
    cdrl_toy2d_bbox(&g, box);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[2 * i]) || !isfinite(x[2 * i + 1])) bad++;
        if (x[2 * i] < box[0] || x[2 * i] > box[1] || x[2 * i + 1] < box[2] ||
            x[2 * i + 1] > box[3])
            outside++;
    }
    CHECK(bad == 0, "%s: %zu non-finite points", name, bad);
    // The box is documented to hold at least 99.9% of every density.
    CHECK(outside <= n / 1000, "%s: %zu of %zu points outside the bbox", name, outside, n);
    CHECK(strcmp(cdrl_toy2d_name(&g), name) == 0, "%s: name() is %s", name, cdrl_toy2d_name(&g));
    cdrl_toy2d_deinit(&g);
    return x;
}

// |got - want| <= 5 standard errors; prints the measured value either way.
static void check_stat(const char *what, double got, double want, double se) {
    int ok = fabs(got - want) <= 5 * se;
    CHECK(ok, "%s = %.5f, want %.5f (5 se = %.5f)", what, got, want, 5 * se);
    if (ok)
        printf("  ok   %-40s %.5f (want %.5f, |diff| %.2g se)\n", what, got, want,
               fabs(got - want) / se);
}

// Counts in `bins` categories are each n/bins within 5 binomial standard errors.
static void check_uniform_counts(const char *what, const size_t *count, int bins, size_t n) {
    double p = 1.0 / bins, se = sqrt((double)n * p * (1 - p)), worst = 0;
    int before = test_failures;
    for (int b = 0; b < bins; b++) {
        double d = fabs((double)count[b] - (double)n * p) / se;
        if (d > worst) worst = d;
        CHECK(d <= 5, "%s: bin %d has %zu of %zu (want %.0f +- %.0f)", what, b, count[b], n,
              (double)n * p, 5 * se);
    }
    if (test_failures == before)
        printf("  ok   %-40s %d equal bins, worst %.2f se\n", what, bins, worst);
}

// lo <= got <= hi, for statistics whose expected value is only approximate (reason at the call).
static void check_range(const char *what, double got, double lo, double hi) {
    int ok = got >= lo && got <= hi;
    CHECK(ok, "%s = %.5f, want within [%.5f, %.5f]", what, got, lo, hi);
    if (ok) printf("  ok   %-40s %.9g (in [%.9g, %.9g])\n", what, got, lo, hi);
}

static double wrap_angle(double a) { return a - 2 * PI * floor((a + PI) / (2 * PI)); }

// ---------------------------------------------------------------------------------------
// Shapes

static void test_checkerboard(void) {
    // The 8 squares of method.md §5.6, (xmin, xmax, ymin, ymax), before the factor 4.
    static const double sq[8][4] = {{1, 2, 0, 1},   {0, 1, 1, 2},    {0, 1, -1, 0},
                                    {1, 2, -2, -1}, {-1, 0, -2, -1}, {-2, -1, -1, 0},
                                    {-1, 0, 0, 1},  {-2, -1, 1, 2}};
    float *x = draw("checkerboard", N, 1);
    size_t count[8] = {0}, outside = 0;
    double fm[2] = {0, 0}, fv[2] = {0, 0};
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i] / 4, py = (double)x[2 * i + 1] / 4;
        int k = -1;
        for (int s = 0; s < 8 && k < 0; s++)
            if (px >= sq[s][0] && px <= sq[s][1] && py >= sq[s][2] && py <= sq[s][3]) k = s;
        if (k < 0) {
            outside++;
            continue;
        }
        count[k]++;
        double f[2] = {px - sq[k][0], py - sq[k][2]};
        for (int d = 0; d < 2; d++)
            fm[d] += f[d], fv[d] += (f[d] - 0.5) * (f[d] - 0.5);
    }
    CHECK(outside == 0, "checkerboard: %zu points outside the 8 squares", outside);
    check_uniform_counts("checkerboard squares", count, 8, N);
    // Within its square a point is uniform: mean 1/2 (sd 1/sqrt 12), variance 1/12 (sd of the
    // sample variance sqrt(1/80 - 1/144) / sqrt(N)).
    check_stat("checkerboard in-square mean x", fm[0] / N, 0.5, sqrt(1.0 / 12 / N));
    check_stat("checkerboard in-square mean y", fm[1] / N, 0.5, sqrt(1.0 / 12 / N));
    check_stat("checkerboard in-square var x", fv[0] / N, 1.0 / 12,
               sqrt((1.0 / 80 - 1.0 / 144) / N));
    check_stat("checkerboard in-square var y", fv[1] / N, 1.0 / 12,
               sqrt((1.0 / 80 - 1.0 / 144) / N));
    cdrl_free(x);
}

// An equal-weight mixture of K isotropic Gaussians of std s around `centre`: nearest-centre
// counts, the mean offset from the centre, and the mean squared distance 2 s^2.
static void check_mixture(const char *name, const double (*centre)[2], int K, double s) {
    float *x = draw(name, N, 2);
    size_t count[25] = {0};
    double m[2] = {0, 0}, d2 = 0;
    for (size_t i = 0; i < N; i++) {
        int best = 0;
        double bd = HUGE_VAL, off[2] = {0, 0};
        for (int k = 0; k < K; k++) {
            double dx = (double)x[2 * i] - centre[k][0], dy = (double)x[2 * i + 1] - centre[k][1];
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k, off[0] = dx, off[1] = dy;
        }
        count[best]++;
        m[0] += off[0], m[1] += off[1], d2 += bd;
    }
    char what[64];
    snprintf(what, sizeof what, "%s clusters", name);
    check_uniform_counts(what, count, K, N);
    snprintf(what, sizeof what, "%s mean offset x", name);
    check_stat(what, m[0] / N, 0, s / sqrt(N));
    snprintf(what, sizeof what, "%s mean offset y", name);
    check_stat(what, m[1] / N, 0, s / sqrt(N));
    // |offset|^2 = s^2 chi^2_2: mean 2 s^2, sd 2 s^2.
    snprintf(what, sizeof what, "%s mean squared distance", name);
    check_stat(what, d2 / N, 2 * s * s, 2 * s * s / sqrt(N));
    cdrl_free(x);
}

static void test_gaussians(void) {
    double c8[8][2], c25[25][2];
    for (int k = 0; k < 8; k++) {
        // FFJORD's 8 centres (4 cos, 4 sin of multiples of 45 degrees) / sqrt 2, then x2.
        c8[k][0] = 4 * sqrt(2.0) * cos(k * PI / 4);
        c8[k][1] = 4 * sqrt(2.0) * sin(k * PI / 4);
    }
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            c25[5 * i + j][0] = 3.0 * (i - 2), c25[5 * i + j][1] = 3.0 * (j - 2);
    check_mixture("8gaussians", (const double(*)[2])c8, 8, sqrt(0.5));
    check_mixture("25gaussians", (const double(*)[2])c25, 25, 0.075);
}

static void test_rings(void) {
    static const double radius[4] = {6.0, 4.5, 3.0, 1.5};
    const double s = 0.16;
    float *x = draw("rings", N, 3);
    size_t count[4] = {0}, sector[8] = {0};
    double res[4] = {0}, res2[4] = {0}, c = 0, sn = 0;
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i], py = (double)x[2 * i + 1], rho = sqrt(px * px + py * py);
        int k = 0;
        for (int j = 1; j < 4; j++)
            if (fabs(rho - radius[j]) < fabs(rho - radius[k])) k = j;
        count[k]++;
        res[k] += rho - radius[k];
        res2[k] += (rho - radius[k]) * (rho - radius[k]);
        double a = atan2(py, px) + PI;
        sector[(int)(a / (2 * PI) * 8) % 8]++;
        c += px / rho, sn += py / rho;
    }
    check_uniform_counts("rings: ring of each point", count, 4, N);
    check_uniform_counts("rings: 45-degree sectors", sector, 8, N);
    check_stat("rings mean cos(angle)", c / N, 0, sqrt(0.5 / N));
    check_stat("rings mean sin(angle)", sn / N, 0, sqrt(0.5 / N));
    for (int k = 0; k < 4; k++) {
        double nk = (double)count[k], mean = res[k] / nk, sd = sqrt(res2[k] / nk - mean * mean);
        char what[64];
        // The radial offset of a 2-D Gaussian around a circle of radius r >> s has mean
        // s^2 / 2r and sd s (to O(s^2/r^2), below 0.3% here); sd of the sample sd s/sqrt(2n).
        snprintf(what, sizeof what, "rings r=%.1f radial offset mean", radius[k]);
        check_stat(what, mean, s * s / (2 * radius[k]), s / sqrt(nk));
        snprintf(what, sizeof what, "rings r=%.1f radial offset sd", radius[k]);
        check_stat(what, sd, s, s / sqrt(2 * nk) + 0.003 * s);
    }
    cdrl_free(x);
}

static void test_moons(void) {
    // Upper arc: (-2, -0.4) + 4 (cos t, sin t); lower arc: (2, 1.6) - 4 (cos t, sin t), t in [0,
    // pi].
    static const double centre[2][2] = {{-2, -0.4}, {2, 1.6}};
    float *x = draw("moons", N, 4);
    size_t count[2] = {0};
    double m[2] = {0, 0}, rad[2] = {0, 0}, tsum[2] = {0, 0}, d2 = 0;
    size_t interior[2] = {0, 0};
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i], py = (double)x[2 * i + 1], best = HUGE_VAL, brho = 0, bt = 0;
        int arc = 0;
        for (int a = 0; a < 2; a++) {
            double vx = px - centre[a][0], vy = py - centre[a][1], rho = sqrt(vx * vx + vy * vy);
            double t = a == 0 ? atan2(vy, vx) : atan2(-vy, -vx); // arc parameter
            double d;
            if (t >= 0 && t <= PI)
                d = fabs(rho - 4);
            else {
                double e1x = vx - 4, e2x = vx + 4; // distances to the ends (+-4, 0) of the arc
                d = fmin(sqrt(e1x * e1x + vy * vy), sqrt(e2x * e2x + vy * vy));
            }
            if (d < best) best = d, arc = a, brho = rho, bt = t;
        }
        count[arc]++;
        m[0] += px, m[1] += py, d2 += best * best;
        if (bt > 0.2 && bt < PI - 0.2) interior[arc]++, rad[arc] += brho, tsum[arc] += bt;
    }
    check_uniform_counts("moons: arc of each point", count, 2, N);
    // Mean: the arcs average to (-2, 8/pi - 0.4) and (2, 1.6 - 8/pi). Variances: x is
    // +-(4 cos t - 2) + noise: 8 + 4 + 0.16; y: 16 (1/2 - 4/pi^2) within an arc, (8/pi - 1)^2
    // between the arcs, 0.16 noise.
    double sd_x = sqrt(12.16), sd_y = sqrt(16 * (0.5 - 4 / (PI * PI)) + pow(8 / PI - 1, 2) + 0.16);
    check_stat("moons mean x", m[0] / N, 0, sd_x / sqrt(N));
    check_stat("moons mean y", m[1] / N, 0.6, sd_y / sqrt(N));
    for (int a = 0; a < 2; a++) {
        char what[64];
        double nk = (double)interior[a];
        // Away from the ends, the distance to the arc centre is 4 + the normal noise (sd 0.4)
        // plus a curvature bias s^2/2r = 0.02.
        snprintf(what, sizeof what, "moons arc %d radius", a);
        check_stat(what, rad[a] / nk, 4.02, 0.4 / sqrt(nk));
        // t is uniform on [0, pi]: the points kept (t in [0.2, pi - 0.2]) average pi / 2.
        snprintf(what, sizeof what, "moons arc %d mean parameter t", a);
        check_stat(what, tsum[a] / nk, PI / 2, (PI - 0.4) / sqrt(12 * nk));
    }
    // Squared distance to the nearest arc: the normal component of N(0, 0.4^2 I), i.e. 0.16,
    // less a little near the ends, where the nearest point is an end. Loose: 10%.
    check_range("moons rms distance to the arcs", sqrt(d2 / N), 0.36, 0.44);
    cdrl_free(x);
}

static void test_swissroll(void) {
    // Curve (0.4 t cos t, 0.4 t sin t), t uniform on [1.5 pi, 4.5 pi], noise sd 0.4.
    float *x = draw("swissroll", N, 5);
    double res2 = 0, tsum = 0;
    size_t near = 0, low = 0, high = 0;
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i], py = (double)x[2 * i + 1], rho = sqrt(px * px + py * py);
        double psi = atan2(py, px), t = psi + 2 * PI * round((rho / 0.4 - psi) / (2 * PI));
        double r = rho - 0.4 * t;
        res2 += r * r;
        tsum += t;
        near += fabs(r) < 1.2;
        low += t < 2 * PI;
        high += t > 4 * PI;
    }
    // Unwinding by angle: the radial residual is the noise's component along the normal of a
    // curve that turns slowly (pitch 0.4 per radian at radius >= 1.9), sd ~0.4. Loose: 5%.
    check_range("swissroll rms radial residual", sqrt(res2 / N), 0.38, 0.42);
    check_range("swissroll fraction within 3 sd of the curve", (double)near / N, 0.99, 1);
    // t uniform on [1.5 pi, 4.5 pi]: mean 3 pi (sd 3 pi / sqrt 12), 1/6 below 2 pi and 1/6
    // above 4 pi. The noise (sd ~1 radian in t) blurs the ends, hence 2x the se.
    check_stat("swissroll mean t", tsum / N, 3 * PI, 2 * 3 * PI / sqrt(12.0 * N));
    check_stat("swissroll fraction t < 2 pi", (double)low / N, 1.0 / 6, 2 * sqrt(5.0 / 36 / N));
    check_stat("swissroll fraction t > 4 pi", (double)high / N, 1.0 / 6, 2 * sqrt(5.0 / 36 / N));
    cdrl_free(x);
}

static void test_pinwheel(void) {
    // f = (1 + 0.3 z0, 0.1 z1), a = 2 pi k / 5 + 0.25 exp(f0), x = 4 (f rotated by -a).
    float *x = draw("pinwheel", N, 6);
    size_t count[5] = {0}, near = 0;
    double rs = 0, rs2 = 0, d2 = 0;
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i], py = (double)x[2 * i + 1];
        double f = sqrt(px * px + py * py) / 4, psi = atan2(py, px);
        double a = -psi - 0.25 * exp(f);
        int k = (int)lround(a / (2 * PI / 5));
        double d = wrap_angle(a - k * 2 * PI / 5);
        count[((k % 5) + 5) % 5]++;
        rs += f, rs2 += f * f, d2 += d * d;
        near += fabs(d) < 0.4;
    }
    check_uniform_counts("pinwheel arms", count, 5, N);
    // |f| = sqrt(f0^2 + f1^2): mean 1.00568, sd 0.29765 (numpy, 2e7 draws of f0 and f1; the
    // Monte Carlo error there is 7e-5, far below these se).
    double mean = rs / N, sd = sqrt(rs2 / N - mean * mean);
    check_stat("pinwheel mean |f|", mean, 1.00568, 0.3 / sqrt(N));
    check_stat("pinwheel sd |f|", sd, 0.29765, 0.3 / sqrt(2.0 * N));
    // The angle left after removing the arm's curve is -atan(f1 / f0) ~ 0.1 z1 / f0: rms a bit
    // over 0.1 (f0 varies). Loose: 0.09 .. 0.13.
    check_range("pinwheel rms angle off the arm", sqrt(d2 / N), 0.09, 0.13);
    check_range("pinwheel fraction within 0.4 rad of an arm", (double)near / N, 0.99, 1);
    cdrl_free(x);
}

static void test_2spirals(void) {
    // Arm s = +-1: s (2/3) (-t cos t + 0.5 u1, t sin t + 0.5 u2) + 0.2 z, t = 3 pi sqrt(u0).
    float *x = draw("2spirals", N, 7);
    size_t count[2] = {0}, near = 0, below_median = 0;
    double m[2] = {0, 0}, m2[2] = {0, 0};
    for (size_t i = 0; i < N; i++) {
        double px = (double)x[2 * i], py = (double)x[2 * i + 1];
        double best = HUGE_VAL, bt = 0;
        int arm = 0;
        for (int s = 0; s < 2; s++) {
            // Undo the mean offset s (1/6, 1/6); arm +1 lies at angle pi - t, arm -1 at -t.
            double qx = px - (s ? -1.0 : 1.0) / 6, qy = py - (s ? -1.0 : 1.0) / 6;
            double rho = sqrt(qx * qx + qy * qy), psi = atan2(qy, qx);
            double t0 = s ? -psi : PI - psi, t = t0 + 2 * PI * round((1.5 * rho - t0) / (2 * PI));
            double r = fabs(rho - t / 1.5);
            if (r < best) best = r, arm = s, bt = t;
        }
        count[arm]++;
        m[0] += px, m[1] += py, m2[0] += px * px, m2[1] += py * py;
        near += best < 0.8;
        below_median += bt < 3 * PI / sqrt(2.0);
    }
    check_uniform_counts("2spirals arms", count, 2, N);
    // Point symmetric: mean 0 (se from the sample sd).
    check_stat("2spirals mean x", m[0] / N, 0, sqrt(m2[0] / N) / sqrt(N));
    check_stat("2spirals mean y", m[1] / N, 0, sqrt(m2[1] / N) / sqrt(N));
    // P(t < x) = (x / 3 pi)^2: half the points below t = 3 pi / sqrt 2 (blurred by the noise
    // where the spiral is tight, hence 2x the binomial se).
    check_stat("2spirals fraction below median t", (double)below_median / N, 0.5,
               2 * sqrt(0.25 / N));
    // Residual: noise sd 0.2 plus the uniform offset (sd 0.1 per axis), and the angle-based
    // unwinding error near the centre: 3 sd ~ 0.7.
    check_range("2spirals fraction within 0.8 of an arm", (double)near / N, 0.98, 1);
    cdrl_free(x);
}

// ---------------------------------------------------------------------------------------
// Densities and entropies

static void test_entropy(void) {
    static const char *names[] = {"checkerboard", "8gaussians", "25gaussians", "rings"};
    static const double box[] = {0, 12, 7, 8}; // half-widths for the normalisation grid
    static const double step[] = {0, 0.707 / 4, 0.075 / 4, 0.16 / 4};
    for (int g_i = 0; g_i < 4; g_i++) {
        cdrl_toy2d g;
        CHECK(cdrl_toy2d_from_name(&g, names[g_i]) == CDRL_OK, "from_name %s", names[g_i]);
        double H = cdrl_toy2d_entropy(&g);
        float *x = test_floats(2 * N);
        cdrl_rng r;
        cdrl_rng_init(&r, 100 + (uint64_t)g_i, 0);
        cdrl_toy2d_sample(&g, x, N, &r);
        double s = 0, s2 = 0;
        for (size_t i = 0; i < N; i++) {
            double lp = cdrl_toy2d_log_density(&g, (double)x[2 * i], (double)x[2 * i + 1]);
            s -= lp, s2 += lp * lp;
        }
        double mc = s / N, sd = sqrt(fmax(s2 / N - mc * mc, 0)), se = sd / sqrt(N);
        char what[64];
        snprintf(what, sizeof what, "%s entropy vs -mean log p", names[g_i]);
        // The checkerboard's log density is constant on the support: the estimate is exact
        // up to the float rounding of log 128.
        check_stat(what, mc, H, g_i == 0 ? 1e-10 : se);
        if (g_i > 0) {
            // Riemann sum of the density over a box holding all but ~1e-10 of the mass, step
            // std/4: converged far below the 1e-6 asked.
            double L = box[g_i], h = step[g_i], mass = 0;
            long n = (long)ceil(L / h);
            for (long i = -n; i <= n; i++)
                for (long j = -n; j <= n; j++)
                    mass += exp(cdrl_toy2d_log_density(&g, (double)i * h, (double)j * h));
            mass *= h * h;
            snprintf(what, sizeof what, "%s density integral", names[g_i]);
            check_range(what, mass, 1 - 1e-6, 1 + 1e-6);
        }
        cdrl_free(x);
        cdrl_toy2d_deinit(&g);
    }
    cdrl_toy2d g;
    cdrl_toy2d_from_name(&g, "checkerboard");
    CHECK(fabs(cdrl_toy2d_entropy(&g) - log(128.0)) < 1e-12, "checkerboard entropy %.9f != ln 128",
          cdrl_toy2d_entropy(&g));
    CHECK(cdrl_toy2d_log_density(&g, -6, -6) == -HUGE_VAL, "checkerboard density off the squares");
    CHECK(fabs(cdrl_toy2d_log_density(&g, 6, 2) + log(128.0)) < 1e-12,
          "checkerboard density on a square");
    cdrl_toy2d_deinit(&g);
    // 25 Gaussians 40 sd apart: ln 25 + ln(2 pi e s^2) to double precision.
    cdrl_toy2d_from_name(&g, "25gaussians");
    double want = log(25.0) + log(2 * PI * exp(1.0) * 0.075 * 0.075);
    CHECK(fabs(cdrl_toy2d_entropy(&g) - want) < 1e-12, "25gaussians entropy %.12f, want %.12f",
          cdrl_toy2d_entropy(&g), want);
    cdrl_toy2d_deinit(&g);
    // 8 Gaussians overlap a little: just below the no-overlap value ln 8 + ln(2 pi e / 2).
    cdrl_toy2d_from_name(&g, "8gaussians");
    double h8 = cdrl_toy2d_entropy(&g), sep = log(8.0) + log(PI * exp(1.0));
    check_range("8gaussians entropy below no-overlap value", h8, sep - 0.01, sep);
    cdrl_toy2d_deinit(&g);
    for (int i = 4; i < 8; i++) {
        const char *name = cdrl_toy2d_generator_name((size_t)i);
        cdrl_toy2d_from_name(&g, name);
        CHECK(isnan(cdrl_toy2d_entropy(&g)) && isnan(cdrl_toy2d_log_density(&g, 0, 0)),
              "%s: entropy should be unknown", name);
        cdrl_toy2d_deinit(&g);
    }
}

// ---------------------------------------------------------------------------------------
// Determinism and names

static void test_determinism(void) {
    const size_t n = 50001; // not a multiple of the sampler's chunk
    float *a = test_floats(2 * n), *b = test_floats(2 * n);
    int saved = cdrl_threads(), all_same = 1, all_thread_same = 1, all_differ = 1;
    for (size_t i = 0; cdrl_toy2d_generator_name(i); i++) {
        cdrl_toy2d g;
        cdrl_toy2d_from_name(&g, cdrl_toy2d_generator_name(i));
        cdrl_rng r1, r2;
        cdrl_set_threads(1);
        cdrl_rng_init(&r1, 9, 2);
        cdrl_toy2d_sample(&g, a, n, &r1);
        cdrl_set_threads(2);
        cdrl_rng_init(&r2, 9, 2);
        cdrl_toy2d_sample(&g, b, n, &r2);
        all_thread_same &= memcmp(a, b, 2 * n * sizeof(float)) == 0 && r1.counter == r2.counter;
        cdrl_rng_init(&r2, 9, 2);
        cdrl_toy2d_sample(&g, b, n, &r2);
        all_same &= memcmp(a, b, 2 * n * sizeof(float)) == 0;
        cdrl_rng_init(&r2, 10, 2);
        cdrl_toy2d_sample(&g, b, n, &r2);
        all_differ &= memcmp(a, b, 2 * n * sizeof(float)) != 0;
        cdrl_toy2d_deinit(&g);
    }
    cdrl_set_threads(saved);
    CHECK(all_same, "the same seed gave different points");
    CHECK(all_thread_same, "1 and 2 threads gave different points");
    CHECK(all_differ, "different seeds gave the same points");
    if (all_same && all_thread_same && all_differ)
        printf("  ok   %-40s same seed, 1 vs 2 threads: identical bytes\n", "determinism");

    size_t n_names = 0;
    while (cdrl_toy2d_generator_name(n_names))
        n_names++;
    CHECK(n_names == 8, "%zu generators listed", n_names);
    cdrl_toy2d g;
    last_log[0] = '\0';
    CHECK(cdrl_toy2d_from_name(&g, "checkers") == CDRL_STATUS_INVALID, "unknown name accepted");
    CHECK(strstr(last_log, "\"checkers\"") != NULL, "log does not name the unknown data: %s",
          last_log);
    CHECK(cdrl_toy2d_from_name(&g, "points:") == CDRL_STATUS_INVALID,
          "points: without a file accepted");
    CHECK(cdrl_toy2d_from_name(&g, "Moons") == CDRL_STATUS_INVALID, "names are case-sensitive");
    cdrl_toy2d_deinit(&g);
    cdrl_free(a);
    cdrl_free(b);
}

// ---------------------------------------------------------------------------------------
// points:FILE

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        printf("cannot write %s (run from the repository root after `make`)\n", path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

// Writes text to build/test_toy2d_<tag>.csv, loads it, and expects status `want`; for a
// format error, also that the logged message starts with "<path>:<line>:" and holds `needle`.
static void check_csv_error(const char *tag, const char *text, cdrl_status want, int line,
                            const char *needle) {
    char path[256], spec[300], prefix[300];
    snprintf(path, sizeof path, "build/test_toy2d_%s.csv", tag);
    snprintf(spec, sizeof spec, "points:%s", path);
    if (text)
        write_text(path, text);
    else
        remove(path);
    cdrl_toy2d g;
    last_log[0] = '\0';
    cdrl_status st = cdrl_toy2d_from_name(&g, spec);
    CHECK(st == want, "csv %s: got %s, want %s", tag, cdrl_status_str(st), cdrl_status_str(want));
    CHECK(g.points == NULL && g.spec == NULL, "csv %s: a failed load left memory behind", tag);
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s", path);
    CHECK(strncmp(last_log, prefix, strlen(prefix)) == 0,
          "csv %s: log \"%s\" does not start with \"%s\"", tag, last_log, prefix);
    CHECK(strstr(last_log, needle) != NULL, "csv %s: log \"%s\" lacks \"%s\"", tag, last_log,
          needle);
    if (st == want) printf("  ok   csv %-36s %s\n", tag, last_log);
    cdrl_toy2d_deinit(&g);
}

static void test_points(void) {
    // A header, blank lines, spaces, tabs, CRLF and no final newline.
    const char *path = "build/test_toy2d_good.csv";
    write_text(path, " x , y \r\n1,2\n\n  -3.5 , 4e-1 \r\n\t\n\t5,6");
    cdrl_toy2d g;
    CHECK(cdrl_toy2d_from_name(&g, "points:build/test_toy2d_good.csv") == CDRL_OK,
          "good csv rejected: %s", last_log);
    size_t n = 0;
    const float *p = cdrl_toy2d_points(&g, &n);
    const float want[6] = {1, 2, -3.5f, 0.4f, 5, 6};
    CHECK(n == 3 && p, "good csv: %zu points, want 3", n);
    if (n == 3 && p) check_close("csv points", p, want, 6, 0, 0);
    CHECK(strcmp(cdrl_toy2d_name(&g), "points:build/test_toy2d_good.csv") == 0, "name %s",
          cdrl_toy2d_name(&g));
    CHECK(isnan(cdrl_toy2d_entropy(&g)) && isnan(cdrl_toy2d_log_density(&g, 1, 2)),
          "points: entropy must be unknown");
    // Box: x in [-3.5, 5] (margin 0.425), y in [0.4, 6] (margin 0.28).
    float box[4];
    const float want_box[4] = {-3.925f, 5.425f, 0.12f, 6.28f};
    cdrl_toy2d_bbox(&g, box);
    check_close("csv bbox", box, want_box, 4, 1e-6, 1e-6); // float rounding of the margin
    // Uniform with replacement: every sample is one of the rows, each about a third.
    const size_t m = 30000;
    float *x = test_floats(2 * m);
    cdrl_rng r;
    cdrl_rng_init(&r, 11, 0);
    cdrl_toy2d_sample(&g, x, m, &r);
    size_t count[3] = {0}, stray = 0;
    for (size_t i = 0; i < m; i++) {
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (x[2 * i] == want[2 * j] && x[2 * i + 1] == want[2 * j + 1]) k = j;
        if (k < 0)
            stray++;
        else
            count[k]++;
    }
    CHECK(stray == 0, "%zu samples are not rows of the file", stray);
    check_uniform_counts("csv rows drawn", count, 3, m);
    cdrl_free(x);
    cdrl_toy2d_deinit(&g);
    cdrl_toy2d_deinit(&g); // twice is harmless

    // A single row, no header, no newline.
    write_text("build/test_toy2d_one.csv", "7,8");
    CHECK(cdrl_toy2d_from_name(&g, "points:build/test_toy2d_one.csv") == CDRL_OK,
          "one-row csv rejected");
    p = cdrl_toy2d_points(&g, &n);
    CHECK(n == 1 && p[0] == 7 && p[1] == 8, "one-row csv read as %zu points", n);
    cdrl_toy2d_bbox(&g, box);
    CHECK(box[0] < 7 && box[1] > 7 && box[2] < 8 && box[3] > 8, "one-point bbox is degenerate");
    cdrl_toy2d_deinit(&g);

    // label columns: a label out of range, a missing column, a non-integer
    check_csv_error("labelrange", "x,y,colour\n1,2,0\n3,4,1000\n", CDRL_STATUS_FORMAT, 3,
                    "label 1000 of column 1 (colour) out of range 0..999");
    check_csv_error("labelneg", "x,y,colour\n1,2,-1\n", CDRL_STATUS_FORMAT, 2, "out of range");
    check_csv_error("labelmissing", "x,y,quadrant,colour\n1,2,0,1\n3,4,1\n", CDRL_STATUS_FORMAT, 3,
                    "3 columns, the header has 4");
    check_csv_error("labelfloat", "x,y,colour\n1,2,1.5\n", CDRL_STATUS_FORMAT, 2,
                    "label column 1 (colour) is not an integer: \"1.5\"");
    check_csv_error("badrow", "x,y\n1,2\n3,4\n5;6\n7,8\n", CDRL_STATUS_FORMAT, 4,
                    "expected two numbers \"x,y\", got \"5;6\"");
    check_csv_error("threecols", "1,2,3\n", CDRL_STATUS_FORMAT, 1, "need a header naming them");
    check_csv_error("halfnumber", "x,y\n\n1,abc\n", CDRL_STATUS_FORMAT, 3, "got \"1,abc\"");
    check_csv_error("emptyfield", "1,\n", CDRL_STATUS_FORMAT, 1, "expected two numbers");
    check_csv_error("latehead", "1,2\nx,y\n", CDRL_STATUS_FORMAT, 2, "got \"x,y\"");
    check_csv_error("trailing", "1,2\n3,4x\n", CDRL_STATUS_FORMAT, 2, "got \"3,4x\"");
    check_csv_error("nan", "x,y\n1,2\nnan,3\n", CDRL_STATUS_FORMAT, 3,
                    "non-finite value in \"nan,3\"");
    check_csv_error("inf", "1,inf\n", CDRL_STATUS_FORMAT, 1, "non-finite");
    check_csv_error("overflow", "1,1e39\n", CDRL_STATUS_FORMAT, 1, "out of float range");
    check_csv_error("long",
                    "1,2\n1234567890123456789012345678901234567890123456789012345678901234567890\n",
                    CDRL_STATUS_FORMAT, 2, "12345678901234567890...\"");
    check_csv_error("empty", "", CDRL_STATUS_FORMAT, 0, "no points");
    check_csv_error("blank", " \n\n\t\r\n", CDRL_STATUS_FORMAT, 0, "no points");
    check_csv_error("headeronly", "x,y\n", CDRL_STATUS_FORMAT, 0, "no points");
    check_csv_error("missing", NULL, CDRL_STATUS_IO, 0, "cannot open");
}

// Labels: a CSV's label columns (names from the header, K = largest label + 1, drawn with their
// rows), and the generators' components (8gaussians: the nearest centre; rings: ring and the
// quadrant of the angle), drawn with the same points as without labels.
static void test_labels(void) {
    write_text("build/test_toy2d_labels.csv", "x,y,quadrant,colour\n1,1,0,2\n-1,1,1,0\n"
                                              "-1,-1,2,1\n1,-1,3,0\n");
    cdrl_toy2d g;
    CHECK(cdrl_toy2d_from_name(&g, "points:build/test_toy2d_labels.csv") == CDRL_OK,
          "labelled csv: %s", last_log);
    CHECK(g.n_attrs == 2 && g.attr_classes[0] == 4 && g.attr_classes[1] == 3 &&
              !strcmp(g.attr_names[0], "quadrant") && !strcmp(g.attr_names[1], "colour"),
          "labelled csv: attributes quadrant (4), colour (3)");
    enum { M = 2000 };
    float *x = test_floats(2 * M), *x2 = test_floats(2 * M);
    int *lab = cdrl_malloc(sizeof(int) * 2 * M);
    cdrl_rng r;
    cdrl_rng_init(&r, 3, 0);
    cdrl_toy2d_sample_labelled(&g, x, lab, M, &r);
    int bad = 0;
    for (int i = 0; i < M; i++) { // quadrant 0..3 counter-clockwise from (1, 1)
        const int q = x[2 * i] > 0 ? (x[2 * i + 1] > 0 ? 0 : 3) : (x[2 * i + 1] > 0 ? 1 : 2);
        const int colour = q == 0 ? 2 : q == 2 ? 1 : 0;
        bad += lab[2 * i] != q || lab[2 * i + 1] != colour;
    }
    CHECK(bad == 0, "labelled csv: %d rows drawn with other labels", bad);
    cdrl_toy2d_deinit(&g);

    CHECK(cdrl_toy2d_from_name(&g, "8gaussians") == CDRL_OK && g.n_attrs == 1 &&
              g.attr_classes[0] == 8,
          "8gaussians: one attribute of 8 classes");
    cdrl_rng_init(&r, 5, 0);
    cdrl_toy2d_sample_labelled(&g, x, lab, M, &r);
    cdrl_rng_init(&r, 5, 0);
    cdrl_toy2d_sample(&g, x2, M, &r);
    CHECK(memcmp(x, x2, sizeof(float) * 2 * M) == 0, "8gaussians: the same points with labels");
    bad = 0;
    for (int i = 0; i < M; i++) { // the centre at angle k pi / 4 is nearest (7 std apart)
        const double a = atan2((double)x[2 * i + 1], (double)x[2 * i]);
        const int k = ((int)lround(a / (CDRL_PI / 4)) + 8) % 8;
        bad += k != lab[i];
    }
    CHECK(bad < M / 100, "8gaussians: %d of %d labels are not the nearest centre", bad, M);
    cdrl_toy2d_deinit(&g);

    CHECK(cdrl_toy2d_from_name(&g, "rings") == CDRL_OK && g.n_attrs == 2 &&
              g.attr_classes[0] == 4 && g.attr_classes[1] == 4 &&
              !strcmp(g.attr_names[1], "quadrant"),
          "rings: attributes ring (4) and quadrant (4)");
    cdrl_toy2d_sample_labelled(&g, x, lab, M, &r);
    static const double radius[4] = {6.0, 4.5, 3.0, 1.5};
    bad = 0;
    for (int i = 0; i < M; i++) {
        const double px = x[2 * i], py = x[2 * i + 1], rho = sqrt(px * px + py * py);
        const double a = atan2(py, px) < 0 ? atan2(py, px) + 2 * CDRL_PI : atan2(py, px);
        bad += fabs(rho - radius[lab[2 * i]]) > 0.8 || (int)(a / (CDRL_PI / 2)) != lab[2 * i + 1];
    }
    CHECK(bad < M / 20, "rings: %d of %d points off their ring or quadrant label", bad, M);
    cdrl_toy2d_deinit(&g);
    cdrl_free(x), cdrl_free(x2), cdrl_free(lab);
    printf("  ok   labels of a csv and of the generators\n");
}

int main(void) {
    cdrl_set_log_callback(capture_log, NULL);
    test_labels();
    test_checkerboard();
    test_gaussians();
    test_rings();
    test_moons();
    test_swissroll();
    test_pinwheel();
    test_2spirals();
    test_entropy();
    test_determinism();
    test_points();
    return test_report("toy2d");
}
