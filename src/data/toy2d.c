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

// Splits the trimmed line [b, e) at its commas into at most max fields, each trimmed. Returns
// the count, or -1 for more than max fields or an empty one.
static int split_fields(const char *b, const char *e, const char *f[][2], int max) {
    int n = 0;
    for (const char *p = b;; n++) {
        const char *comma = memchr(p, ',', (size_t)(e - p));
        const char *q = comma ? comma : e;
        if (n >= max) return -1;
        f[n][0] = p, f[n][1] = q;
        while (f[n][0] < f[n][1] && is_space(*f[n][0]))
            f[n][0]++;
        while (f[n][1] > f[n][0] && is_space(f[n][1][-1]))
            f[n][1]--;
        if (f[n][0] == f[n][1]) return -1;
        if (!comma) return n + 1;
        p = comma + 1;
    }
}

// The line as quoted in messages: at most 60 characters, then "...".
#define QUOTE_MAX 60
#define QUOTE(b, e)                                                                                \
    (int)((e) - (b) > QUOTE_MAX ? QUOTE_MAX : (e) - (b)), (b), ((e) - (b) > QUOTE_MAX ? "..." : "")

// A whole integer 0..CDRL_TOY2D_MAX_LABEL in [b, e): 1, or 0 when it is no integer, -1 when it
// is out of that range.
static int parse_label(const char *b, const char *e, int *v) {
    long x = 0;
    const char *p = b + (*b == '-' || *b == '+');
    if (p == e) return 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') return 0;
        if (x <= CDRL_TOY2D_MAX_LABEL) x = 10 * x + (*p - '0');
    }
    if (*b == '-' && x != 0) return -1;
    if (x > CDRL_TOY2D_MAX_LABEL) return -1;
    *v = (int)x;
    return 1;
}

// Rows "x,y" or "x,y,l1,..,lA": a header first names the columns (any field not a number);
// the label columns hold integers 0..999 and every row has the header's (or else the first
// row's) number of fields.
static cdrl_status load_points(cdrl_toy2d *g, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    cdrl_status st = read_all(path, &buf, &len);
    if (st != CDRL_OK) return st;
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++)
        max_rows += buf[i] == '\n';
    float *pts = cdrl_malloc(max_rows * 2 * sizeof(float));
    int *lab = cdrl_malloc(max_rows * CDRL_MAX_ATTRS * sizeof(int));
    if (!pts || !lab) {
        cdrl_free(buf), cdrl_free(pts), cdrl_free(lab);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory for %zu rows", path, max_rows);
    }
    size_t n = 0, line_no = 0;
    int seen_line = 0, width = 0; // fields per row, once known
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
        const char *f[2 + CDRL_MAX_ATTRS][2];
        const int nf = split_fields(b, e, f, 2 + CDRL_MAX_ATTRS);
        double v[2] = {0, 0};
        const int numbers =
            nf >= 2 ? parse_number(f[0][0], f[0][1], &v[0]) + parse_number(f[1][0], f[1][1], &v[1])
                    : 0;
        const int first = !seen_line;
        seen_line = 1;
        if (first && nf >= 2 && numbers == 0) { // a header: x,y[,names of the label columns]
            width = nf;
            for (int a = 0; a + 2 < nf; a++)
                snprintf(g->attr_names[a], CDRL_TOY2D_NAME_MAX, "%.*s",
                         (int)(f[a + 2][1] - f[a + 2][0]), f[a + 2][0]);
            continue;
        }
        if (!width && nf == 2) width = 2; // no header: plain x,y rows
        if (nf < 2 || (!width && nf > 2)) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s:%zu: expected two numbers \"x,y\"%s, got \"%.*s%s\"", path, line_no,
                           nf > 2 ? " (label columns need a header naming them: x,y,name,..)" : "",
                           QUOTE(b, e));
        } else if (nf != width) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s:%zu: %d columns, the header has %d (a missing or extra column) in "
                           "\"%.*s%s\"",
                           path, line_no, nf, width, QUOTE(b, e));
        } else if (numbers != 2) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s:%zu: expected two numbers \"x,y\"%s, got \"%.*s%s\"", path, line_no,
                           width > 2 ? " then labels" : "", QUOTE(b, e));
        } else if (!isfinite(v[0]) || !isfinite(v[1])) {
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s:%zu: non-finite value in \"%.*s%s\"", path,
                           line_no, QUOTE(b, e));
        } else if (!isfinite((float)v[0]) || !isfinite((float)v[1])) {
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s:%zu: value out of float range in \"%.*s%s\"",
                           path, line_no, QUOTE(b, e));
        } else {
            for (int a = 0; a + 2 < nf && st == CDRL_OK; a++) {
                int lv = 0;
                const int ok = parse_label(f[a + 2][0], f[a + 2][1], &lv);
                if (ok == 0)
                    st = cdrl_fail(CDRL_STATUS_FORMAT,
                                   "%s:%zu: label column %d (%s) is not an integer: \"%.*s\"", path,
                                   line_no, a + 1, g->attr_names[a],
                                   (int)(f[a + 2][1] - f[a + 2][0]), f[a + 2][0]);
                else if (ok < 0)
                    st = cdrl_fail(CDRL_STATUS_FORMAT,
                                   "%s:%zu: label %.*s of column %d (%s) out of range 0..%d", path,
                                   line_no, (int)(f[a + 2][1] - f[a + 2][0]), f[a + 2][0], a + 1,
                                   g->attr_names[a], CDRL_TOY2D_MAX_LABEL);
                else
                    lab[n * CDRL_MAX_ATTRS + (size_t)a] = lv;
            }
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
        cdrl_free(pts), cdrl_free(lab);
        return st;
    }
    g->points = pts;
    g->n_points = n;
    g->n_attrs = width - 2;
    if (g->n_attrs) { // compact the labels to (n, A); each attribute's K = its largest label + 1
        const int A = g->n_attrs;
        for (size_t i = 0; i < n; i++)
            for (int a = 0; a < A; a++) {
                const int v = lab[i * CDRL_MAX_ATTRS + (size_t)a];
                lab[i * (size_t)A + (size_t)a] = v;
                if (v + 1 > g->attr_classes[a]) g->attr_classes[a] = v + 1;
            }
        g->labels = lab;
    } else {
        cdrl_free(lab);
    }
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

// The labels of a generator: its component (square, Gaussian, ring, moon, arm, spiral), and
// for rings also the quadrant of the angle each point was drawn at. swissroll has none.
static void set_generator_labels(cdrl_toy2d *g) {
    static const char *const comp_name[] = {"square", "component", "component", "ring",
                                            "moon",   "",          "arm",       "spiral"};
    static const int comp_k[] = {8, 8, 25, 4, 2, 0, PIN_ARMS, 2};
    if (!comp_k[g->kind]) return;
    g->n_attrs = 1;
    g->attr_classes[0] = comp_k[g->kind];
    snprintf(g->attr_names[0], CDRL_TOY2D_NAME_MAX, "%s", comp_name[g->kind]);
    if (g->kind == CDRL_TOY2D_RINGS) {
        g->n_attrs = 2;
        g->attr_classes[1] = 4;
        snprintf(g->attr_names[1], CDRL_TOY2D_NAME_MAX, "quadrant");
    }
}

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
    set_generator_labels(g);
    return CDRL_OK;
}

void cdrl_toy2d_deinit(cdrl_toy2d *g) {
    if (!g) return;
    cdrl_free(g->spec);
    cdrl_free(g->points);
    cdrl_free(g->labels);
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

static void sample_chunk(const cdrl_toy2d *g, float *out, int *labels, size_t m, cdrl_rng *rng) {
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
        if (!labels || !g->n_attrs) continue;
        const size_t A = (size_t)g->n_attrs;
        if (kind == CDRL_TOY2D_POINTS) {
            memcpy(labels + i * A, g->labels + (size_t)k[i] * A, A * sizeof(int));
        } else {
            labels[i * A] = (int)k[i];
            if (kind == CDRL_TOY2D_RINGS) // the quadrant of the angle 2 pi u
                labels[i * A + 1] = (int)(4.0f * ui[0]) < 4 ? (int)(4.0f * ui[0]) : 3;
        }
    }
}

void cdrl_toy2d_sample(const cdrl_toy2d *g, float *out, size_t n, cdrl_rng *rng) {
    cdrl_toy2d_sample_labelled(g, out, NULL, n, rng);
}

void cdrl_toy2d_sample_labelled(const cdrl_toy2d *g, float *out, int *labels, size_t n,
                                cdrl_rng *rng) {
    CDRL_ASSERT(g && rng && (out || n == 0));
    CDRL_ASSERT(g->kind != CDRL_TOY2D_POINTS || g->n_points > 0);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        sample_chunk(g, out + 2 * i, labels ? labels + i * (size_t)g->n_attrs : NULL, m, rng);
    }
}
