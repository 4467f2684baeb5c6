// 2-D data sources (see toy2d.h; definitions and constants in docs/data.md). Generators follow
// the shapes of the normalising-flow literature (FFJORD's toy_data.py, WGAN-GP's 25 Gaussians)
// scaled to the CDRL checkerboard's [-8,8]^2; the checkerboard is method.md §5.6 exactly.
// Sampling draws whole chunks of integers, uniforms and normals from Philox before using them,
// so the points depend on the rng state and n only. Not here: exact entropies of the shapes
// that have no closed-form density (moons, swissroll, pinwheel, 2spirals).
#include "data/toy2d.h"

#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------
// Constants of the generators (docs/data.md gives the formulas they enter)

static const char *const generator_names[] = {
    "checkerboard", "8gaussians", "25gaussians", "rings",
    "moons",        "swissroll",  "pinwheel",    "2spirals",
};
#define N_GENERATORS (sizeof generator_names / sizeof generator_names[0])

// Lower-left corners (xmin, ymin) of the 8 unit squares of method.md §5.6, before the x4.
static const double checker_corner[8][2] = {
    {1, 0}, {0, 1}, {0, -1}, {1, -2}, {-1, -2}, {-2, -1}, {-1, 0}, {-2, 1},
};
#define CHECKER_SCALE 4.0
#define CHECKER_AREA  128.0 // 8 squares of side 4

#define G8_RADIUS   (4.0 * 1.4142135623730951) // FFJORD: 4 / 1.414 (read as sqrt 2), then x2
#define G8_STD      0.70710678118654752        // FFJORD: 0.5 / 1.414, then x2
#define G25_SPACING 3.0
#define G25_STD     0.075 // WGAN-GP's std / spacing = 0.05 / 2 kept
static const double ring_radius[4] = {6.0, 4.5, 3.0, 1.5};
#define RING_STD           0.16
#define MOON_RADIUS        4.0
#define MOON_STD           0.4
#define SWISS_SCALE        0.4
#define SWISS_STD          0.4
#define PIN_ARMS           5
#define PIN_RADIAL_STD     0.3
#define PIN_TANGENTIAL_STD 0.1
#define PIN_RATE           0.25
#define PIN_SCALE          4.0
#define SPIRAL_TURN        (3.0 * CDRL_PI) // 540 degrees
#define SPIRAL_SCALE       (2.0 / 3.0)
#define SPIRAL_OFFSET      0.5
#define SPIRAL_STD         0.2

#define PLOT_HALF_WIDTH 8.0f

// ---------------------------------------------------------------------------------------
// Closed-form densities

static double logsumexp(const double *a, int n) {
    double m = -HUGE_VAL;
    for (int i = 0; i < n; i++)
        if (a[i] > m) m = a[i];
    if (m == -HUGE_VAL) return m;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp(a[i] - m);
    return m + log(s);
}

static void mixture_centre(cdrl_toy2d_kind kind, int k, double c[2]) {
    if (kind == CDRL_TOY2D_8GAUSSIANS) {
        c[0] = G8_RADIUS * cos(k * CDRL_PI / 4);
        c[1] = G8_RADIUS * sin(k * CDRL_PI / 4);
    } else {
        c[0] = G25_SPACING * (k / 5 - 2);
        c[1] = G25_SPACING * (k % 5 - 2);
    }
}

// Equal-weight mixture of K isotropic Gaussians: log sum_k exp(-|x-c_k|^2 / 2s^2) / (K 2 pi s^2).
static double mixture_log_density(cdrl_toy2d_kind kind, double x, double y) {
    int K = kind == CDRL_TOY2D_8GAUSSIANS ? 8 : 25;
    double s = kind == CDRL_TOY2D_8GAUSSIANS ? G8_STD : G25_STD;
    double a[25];
    for (int k = 0; k < K; k++) {
        double c[2];
        mixture_centre(kind, k, c);
        double dx = x - c[0], dy = y - c[1];
        a[k] = -(dx * dx + dy * dy) / (2 * s * s);
    }
    return logsumexp(a, K) - log((double)K * 2 * CDRL_PI * s * s);
}

// exp(-z) I0(z), z >= 0: the power series below 20, the asymptotic series above, where its
// smallest term (about e^{-2z}) is far below double precision.
static double bessel_i0e(double z) {
    if (z < 20) {
        double q = z * z / 4, term = 1, sum = 1;
        for (int k = 1; k < 200 && term > 1e-17 * sum; k++) {
            term *= q / ((double)k * k);
            sum += term;
        }
        return sum * exp(-z);
    }
    double term = 1, sum = 1;
    for (int k = 1; k < 30; k++) {
        term *= (2.0 * k - 1) * (2.0 * k - 1) / (8.0 * k * z);
        sum += term;
        if (term < 1e-17 * sum) break;
    }
    return sum / sqrt(2 * CDRL_PI * z);
}

// A circle of radius r with isotropic N(0, s^2) noise, averaged over the angle:
// p(rho) = exp(-(rho - r)^2 / 2s^2) i0e(rho r / s^2) / (2 pi s^2).
static double rings_log_density_rho(double rho) {
    double a[4];
    for (int k = 0; k < 4; k++) {
        double r = ring_radius[k], d = rho - r;
        a[k] =
            -d * d / (2 * RING_STD * RING_STD) + log(bessel_i0e(rho * r / (RING_STD * RING_STD)));
    }
    return logsumexp(a, 4) - log(4 * 2 * CDRL_PI * RING_STD * RING_STD);
}

static int checker_inside(double x, double y) {
    for (int k = 0; k < 8; k++) {
        double x0 = CHECKER_SCALE * checker_corner[k][0], y0 = CHECKER_SCALE * checker_corner[k][1];
        if (x >= x0 && x <= x0 + CHECKER_SCALE && y >= y0 && y <= y0 + CHECKER_SCALE) return 1;
    }
    return 0;
}

double cdrl_toy2d_log_density(const cdrl_toy2d *g, double x, double y) {
    CDRL_ASSERT(g);
    switch (g->kind) {
    case CDRL_TOY2D_CHECKERBOARD:
        return checker_inside(x, y) ? -log(CHECKER_AREA) : -HUGE_VAL;
    case CDRL_TOY2D_8GAUSSIANS:
    case CDRL_TOY2D_25GAUSSIANS:
        return mixture_log_density(g->kind, x, y);
    case CDRL_TOY2D_RINGS:
        return rings_log_density_rho(sqrt(x * x + y * y));
    default:
        return (double)NAN;
    }
}

// -sum p log p over a square grid of step h covering [-L, L]^2. The integrand is smooth and
// decays like a Gaussian, so the plain sum (trapezoid rule, zero at the edges) converges
// faster than any power of h: h = std/4 agrees with std/32 to 1e-14 (docs/data.md).
static double grid_entropy(const cdrl_toy2d *g, double L, double h) {
    long n = (long)ceil(L / h);
    double H = 0;
    for (long i = -n; i <= n; i++) {
        double row = 0;
        for (long j = -n; j <= n; j++) {
            double lp = cdrl_toy2d_log_density(g, (double)i * h, (double)j * h);
            if (lp > -700) row -= exp(lp) * lp;
        }
        H += row;
    }
    return H * h * h;
}

// -int 2 pi rho p log p d rho by Simpson's rule (the density is radial); step std/20 agrees
// with std/80 to 1e-14.
static double rings_entropy(void) {
    double rho_max = ring_radius[0] + 14 * RING_STD, h = RING_STD / 20;
    long n = 2 * (long)ceil(rho_max / (2 * h));
    double H = 0;
    for (long i = 0; i <= n; i++) {
        double rho = (double)i * h, lp = rings_log_density_rho(rho);
        double f = lp > -700 ? -2 * CDRL_PI * rho * exp(lp) * lp : 0;
        H += f * (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2));
    }
    return H * h / 3;
}

static double known_entropy(const cdrl_toy2d *g) {
    switch (g->kind) {
    case CDRL_TOY2D_CHECKERBOARD:
        return log(CHECKER_AREA);
    case CDRL_TOY2D_8GAUSSIANS:
        return grid_entropy(g, G8_RADIUS + 12 * G8_STD, G8_STD / 4);
    case CDRL_TOY2D_25GAUSSIANS:
        // Neighbours sit 40 std apart: the overlap changes the entropy by about e^{-200}.
        return log(25.0) + log(2 * CDRL_PI * exp(1.0) * G25_STD * G25_STD);
    case CDRL_TOY2D_RINGS:
        return rings_entropy();
    default:
        return (double)NAN;
    }
}

// ---------------------------------------------------------------------------------------
// points:FILE

// Reads the whole file into a NUL-terminated buffer from cdrl_malloc.
static cdrl_status read_all(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = cdrl_malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *bigger = cdrl_malloc(2 * cap);
        if (bigger) memcpy(bigger, buf, n);
        cdrl_free(buf);
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory reading the file", path);
    if (err) {
        cdrl_free(buf);
        return cdrl_fail(CDRL_STATUS_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CDRL_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Parses [b, e) (already trimmed) as one number in full; 0 when it is not one.
static int parse_number(const char *b, const char *e, double *v) {
    char tmp[64];
    size_t n = (size_t)(e - b);
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, b, n);
    tmp[n] = '\0';
    char *end;
    *v = strtod(tmp, &end);
    return end == tmp + n;
}

// Splits the trimmed line [b, e) at its single comma. Returns the count of fields that parse
// as numbers (0, 1 or 2), or -1 when the line does not have exactly two non-empty fields.
static int parse_row(const char *b, const char *e, double v[2]) {
    const char *comma = memchr(b, ',', (size_t)(e - b));
    if (!comma || memchr(comma + 1, ',', (size_t)(e - comma - 1))) return -1;
    const char *f[2][2] = {{b, comma}, {comma + 1, e}};
    int ok = 0;
    for (int i = 0; i < 2; i++) {
        while (f[i][0] < f[i][1] && is_space(*f[i][0]))
            f[i][0]++;
        while (f[i][1] > f[i][0] && is_space(f[i][1][-1]))
            f[i][1]--;
        if (f[i][0] == f[i][1]) return -1;
        ok += parse_number(f[i][0], f[i][1], &v[i]);
    }
    return ok;
}

// The line as quoted in messages: at most 60 characters, then "...".
#define QUOTE_MAX 60
#define QUOTE(b, e)                                                                                \
    (int)((e) - (b) > QUOTE_MAX ? QUOTE_MAX : (e) - (b)), (b), ((e) - (b) > QUOTE_MAX ? "..." : "")

static cdrl_status load_points(cdrl_toy2d *g, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    cdrl_status st = read_all(path, &buf, &len);
    if (st != CDRL_OK) return st;
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++)
        max_rows += buf[i] == '\n';
    float *pts = cdrl_malloc(max_rows * 2 * sizeof(float));
    if (!pts) {
        cdrl_free(buf);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory for %zu rows", path, max_rows);
    }
    size_t n = 0, line_no = 0;
    int seen_line = 0;
    const char *p = buf, *end = buf + len;
    st = CDRL_OK;
    while (p < end && st == CDRL_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *b = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line_no++;
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        if (b == e) continue;
        double v[2];
        int ok = parse_row(b, e, v);
        int first = !seen_line;
        seen_line = 1;
        if (ok == 0 && first) continue; // a header such as "x,y": two fields, neither a number
        if (ok != 2) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s:%zu: expected two numbers \"x,y\", got \"%.*s%s\"", path, line_no,
                           QUOTE(b, e));
        } else if (!isfinite(v[0]) || !isfinite(v[1])) {
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s:%zu: non-finite value in \"%.*s%s\"", path,
                           line_no, QUOTE(b, e));
        } else if (!isfinite((float)v[0]) || !isfinite((float)v[1])) {
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s:%zu: value out of float range in \"%.*s%s\"",
                           path, line_no, QUOTE(b, e));
        } else {
            pts[2 * n] = (float)v[0];
            pts[2 * n + 1] = (float)v[1];
            n++;
        }
    }
    cdrl_free(buf);
    if (st == CDRL_OK && n == 0)
        st = cdrl_fail(CDRL_STATUS_FORMAT,
                       "%s: no points (the file is empty or holds only a header)", path);
    if (st == CDRL_OK && n > UINT32_MAX)
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: %zu points, more than the 2^32-1 supported", path,
                       n);
    if (st != CDRL_OK) {
        cdrl_free(pts);
        return st;
    }
    g->points = pts;
    g->n_points = n;
    float lo[2] = {pts[0], pts[1]}, hi[2] = {pts[0], pts[1]};
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 2; d++) {
            lo[d] = fminf(lo[d], pts[2 * i + d]);
            hi[d] = fmaxf(hi[d], pts[2 * i + d]);
        }
    for (int d = 0; d < 2; d++) {
        float margin = fmaxf(0.05f * (hi[d] - lo[d]), 0.1f);
        g->box[2 * d] = lo[d] - margin;
        g->box[2 * d + 1] = hi[d] + margin;
    }
    return CDRL_OK;
}

// ---------------------------------------------------------------------------------------
// Setup

cdrl_status cdrl_toy2d_from_name(cdrl_toy2d *g, const char *spec) {
    CDRL_ASSERT(g && spec);
    memset(g, 0, sizeof *g);
    g->entropy = (double)NAN;
    size_t len = strlen(spec);
    int kind = -1;
    if (strncmp(spec, "points:", 7) == 0) {
        if (len == 7)
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "data \"points:\" needs a file name: points:FILE");
        kind = CDRL_TOY2D_POINTS;
    }
    for (size_t i = 0; i < N_GENERATORS && kind < 0; i++)
        if (strcmp(spec, generator_names[i]) == 0) kind = (int)i;
    if (kind < 0)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "unknown data \"%s\": expected one of checkerboard, 8gaussians, 25gaussians, "
            "rings, moons, swissroll, pinwheel, 2spirals, or points:FILE",
            spec);
    g->kind = (cdrl_toy2d_kind)kind;
    g->spec = cdrl_malloc(len + 1);
    if (!g->spec) return cdrl_fail(CDRL_STATUS_NOMEM, "out of memory");
    memcpy(g->spec, spec, len + 1);
    if (g->kind == CDRL_TOY2D_POINTS) {
        cdrl_status st = load_points(g, spec + 7);
        if (st != CDRL_OK) {
            cdrl_toy2d_deinit(g);
            g->entropy = (double)NAN;
            return st;
        }
        return CDRL_OK;
    }
    g->box[0] = g->box[2] = -PLOT_HALF_WIDTH;
    g->box[1] = g->box[3] = PLOT_HALF_WIDTH;
    g->entropy = known_entropy(g);
    return CDRL_OK;
}

void cdrl_toy2d_deinit(cdrl_toy2d *g) {
    if (!g) return;
    cdrl_free(g->spec);
    cdrl_free(g->points);
    memset(g, 0, sizeof *g);
}

const char *cdrl_toy2d_name(const cdrl_toy2d *g) {
    CDRL_ASSERT(g && g->spec);
    return g->spec;
}

double cdrl_toy2d_entropy(const cdrl_toy2d *g) {
    CDRL_ASSERT(g);
    return g->entropy;
}

void cdrl_toy2d_bbox(const cdrl_toy2d *g, float box[4]) {
    CDRL_ASSERT(g && box);
    memcpy(box, g->box, sizeof g->box);
}

const float *cdrl_toy2d_points(const cdrl_toy2d *g, size_t *n) {
    CDRL_ASSERT(g);
    if (n) *n = g->n_points;
    return g->points;
}

const char *cdrl_toy2d_generator_name(size_t i) {
    return i < N_GENERATORS ? generator_names[i] : NULL;
}

// ---------------------------------------------------------------------------------------
// Sampling. Each chunk of up to CHUNK points draws, in this order, m integers (the component),
// m * n_uniform uniforms and 2m normals: a fixed layout, so the output is a pure function of
// the rng state and n (the draws are themselves thread-count independent).

#define CHUNK 1024

static void sample_chunk(const cdrl_toy2d *g, float *out, size_t m, cdrl_rng *rng) {
    uint32_t k[CHUNK];  // (m,) component / arm / square / row index
    float u[3 * CHUNK]; // (m, n_uniform) uniforms in [0, 1)
    float z[2 * CHUNK]; // (m, 2) standard normals
    static const uint32_t n_comp[] = {8, 8, 25, 4, 2, 0, PIN_ARMS, 2, 0};
    static const size_t n_unif[] = {2, 0, 0, 1, 1, 1, 0, 3, 0};
    static const int uses_normal[] = {0, 1, 1, 1, 1, 1, 1, 1, 0};
    cdrl_toy2d_kind kind = g->kind;
    uint32_t K = kind == CDRL_TOY2D_POINTS ? (uint32_t)g->n_points : n_comp[kind];
    size_t nu = n_unif[kind];
    if (K) cdrl_rng_int(rng, k, m, K);
    if (nu) cdrl_rng_uniform(rng, u, m * nu);
    if (uses_normal[kind]) cdrl_rng_normal(rng, z, 2 * m);

    for (size_t i = 0; i < m; i++) {
        const float *ui = u + nu * i, *zi = z + 2 * i;
        double x = 0, y = 0;
        switch (kind) {
        case CDRL_TOY2D_CHECKERBOARD:
            x = CHECKER_SCALE * (checker_corner[k[i]][0] + (double)ui[0]);
            y = CHECKER_SCALE * (checker_corner[k[i]][1] + (double)ui[1]);
            break;
        case CDRL_TOY2D_8GAUSSIANS:
        case CDRL_TOY2D_25GAUSSIANS: {
            double c[2], s = kind == CDRL_TOY2D_8GAUSSIANS ? G8_STD : G25_STD;
            mixture_centre(kind, (int)k[i], c);
            x = c[0] + s * (double)zi[0];
            y = c[1] + s * (double)zi[1];
        } break;
        case CDRL_TOY2D_RINGS: {
            double r = ring_radius[k[i]], a = 2 * CDRL_PI * (double)ui[0];
            x = r * cos(a) + RING_STD * (double)zi[0];
            y = r * sin(a) + RING_STD * (double)zi[1];
        } break;
        case CDRL_TOY2D_MOONS: {
            // Upper arc centred at (-2, -0.4), lower arc (turned over) centred at (2, 1.6).
            double t = CDRL_PI * (double)ui[0], sign = k[i] ? -1.0 : 1.0;
            x = sign * (MOON_RADIUS * cos(t) - 2) + MOON_STD * (double)zi[0];
            y = sign * MOON_RADIUS * sin(t) + (k[i] ? 1.6 : -0.4) + MOON_STD * (double)zi[1];
        } break;
        case CDRL_TOY2D_SWISSROLL: {
            double t = 1.5 * CDRL_PI * (1 + 2 * (double)ui[0]);
            x = SWISS_SCALE * t * cos(t) + SWISS_STD * (double)zi[0];
            y = SWISS_SCALE * t * sin(t) + SWISS_STD * (double)zi[1];
        } break;
        case CDRL_TOY2D_PINWHEEL: {
            double f0 = 1 + PIN_RADIAL_STD * (double)zi[0], f1 = PIN_TANGENTIAL_STD * (double)zi[1];
            double a = 2 * CDRL_PI * k[i] / PIN_ARMS + PIN_RATE * exp(f0);
            x = PIN_SCALE * (f0 * cos(a) + f1 * sin(a));
            y = PIN_SCALE * (-f0 * sin(a) + f1 * cos(a));
        } break;
        case CDRL_TOY2D_2SPIRALS: {
            double t = SPIRAL_TURN * sqrt((double)ui[0]), sign = k[i] ? -1.0 : 1.0;
            x = sign * SPIRAL_SCALE * (-t * cos(t) + SPIRAL_OFFSET * (double)ui[1]) +
                SPIRAL_STD * (double)zi[0];
            y = sign * SPIRAL_SCALE * (t * sin(t) + SPIRAL_OFFSET * (double)ui[2]) +
                SPIRAL_STD * (double)zi[1];
        } break;
        case CDRL_TOY2D_POINTS:
            x = (double)g->points[2 * (size_t)k[i]];
            y = (double)g->points[2 * (size_t)k[i] + 1];
            break;
        }
        out[2 * i] = (float)x;
        out[2 * i + 1] = (float)y;
    }
}

void cdrl_toy2d_sample(const cdrl_toy2d *g, float *out, size_t n, cdrl_rng *rng) {
    CDRL_ASSERT(g && rng && (out || n == 0));
    CDRL_ASSERT(g->kind != CDRL_TOY2D_POINTS || g->n_points > 0);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        sample_chunk(g, out + 2 * i, m, rng);
    }
}
