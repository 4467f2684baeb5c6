// The GEMM-based layers, linear and conv2d: forward and backward against PyTorch fixtures
// (ref/fixtures_gemm.py), finite-difference checks of the input, weight and bias gradients,
// NULL parameter gradients, += accumulation, the scratch-size contract, and bit-identical
// results for 1 and 2 threads at shapes cut into many chunks. Speed is bench/bench_ops.c's job.
#include <math.h>

#include "ops/cpu/winograd.h"
#include "ops/ops.h"
#include "test_util.h"

// Against PyTorch: each output sums at most IC*K*K = 45 (forward) or B*H*W = 680 (weight
// gradient) float32 products of O(1) values in a different order than PyTorch's kernels, so
// the two differ by a few ulps of the partial sums: ~1e-6 absolute for values of order 1 and
// ~1e-5 for weight gradients of order 20. 1e-5 abs + 1e-4 rel covers that with a margin and
// still catches any wrong index, missing term or missing bias.
#define FIX_ATOL 1e-5
#define FIX_RTOL 1e-4
// Finite differences: both layers are linear in each argument, so central differences carry
// no truncation error, only the float32 rounding of the loss (~1e-6 of |loss|, itself O(10))
// divided by 2 eps = 2e-2: ~1e-3 at worst. The gradients are O(1).
#define FD_EPS  1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 1e-3

// Sizes and tensors of the fixture case `name` (needs f, name and a char key[64] in scope).
#define META(k)      (snprintf(key, sizeof key, "%s.%s", name, k), fixture_int(f, key))
#define TENSOR(k, n) (snprintf(key, sizeof key, "%s.%s", name, k), fixture_f32(f, key, n))

static float *copy_of(const float *src, size_t n) {
    float *p = test_floats(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

static int same_bytes(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

// Scratch filled with NaN bytes, so that any use of scratch (or output) before it is written
// shows in the results.
static cdrl_arena arena_of(size_t bytes) {
    cdrl_arena a;
    CHECK(cdrl_arena_init(&a, bytes ? bytes : 64) == CDRL_OK, "arena of %zu bytes", bytes);
    memset(a.base, 0xff, a.cap);
    return a;
}

static void fill_nan(float *p, size_t n) { memset(p, 0xff, n * sizeof(float)); }

// ---------------------------------------------------------------------------------------
// Linear
typedef struct lin_ctx {
    int N, IC, OC;
    float *x, *w, *b, *out; // (N, IC), (OC, IC), (OC) or NULL, (N, OC)
    const float *r;         // (N, OC)
    cdrl_arena *arena;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    cdrl_linear_forward(c->out, c->x, c->w, c->b, c->N, c->IC, c->OC, c->arena);
    return test_dot(c->out, c->r, (size_t)c->N * (size_t)c->OC);
}

static void test_linear_fixture(const cdrl_st_file *f, const char *name, int has_bias) {
    char key[64];
    int N = META("N"), IC = META("IC"), OC = META("OC");
    size_t nx = (size_t)N * (size_t)IC, nw = (size_t)OC * (size_t)IC, ny = (size_t)N * (size_t)OC;
    float *x = copy_of(TENSOR("in.x", nx), nx), *w = copy_of(TENSOR("param.w", nw), nw);
    const float *r = TENSOR("in.r", ny);
    float *b = has_bias ? copy_of(TENSOR("param.b", (size_t)OC), (size_t)OC) : NULL;
    float *y = test_floats(ny), *dx = test_floats(nx), *dw = test_floats(nw);
    float *db = test_floats((size_t)OC);
    cdrl_arena a = arena_of(cdrl_linear_scratch_size(N, IC, OC));
    printf(" linear %s (N=%d IC=%d OC=%d)\n", name, N, IC, OC);

    fill_nan(y, ny); // forward overwrites
    cdrl_linear_forward(y, x, w, b, N, IC, OC, &a);
    check_close("linear out", y, TENSOR("out.y", ny), ny, FIX_ATOL, FIX_RTOL);
    cdrl_linear_backward(dx, dw, has_bias ? db : NULL, r, x, w, N, IC, OC, &a);
    check_close("linear dinp", dx, TENSOR("grad.x", nx), nx, FIX_ATOL, FIX_RTOL);
    check_close("linear dw", dw, TENSOR("grad.w", nw), nw, FIX_ATOL, FIX_RTOL);
    if (has_bias)
        check_close("linear db", db, TENSOR("grad.b", (size_t)OC), (size_t)OC, FIX_ATOL, FIX_RTOL);

    // Finite differences of sum(out * r).
    lin_ctx c = {N, IC, OC, x, w, b, y, r, &a};
    gradcheck("linear fd dinp", lin_loss, &c, x, dx, nx, 64, FD_EPS, FD_ATOL, FD_RTOL);
    gradcheck("linear fd dw", lin_loss, &c, w, dw, nw, 64, FD_EPS, FD_ATOL, FD_RTOL);
    if (has_bias)
        gradcheck("linear fd db", lin_loss, &c, b, db, (size_t)OC, 64, FD_EPS, FD_ATOL, FD_RTOL);

    // NULL parameter gradients leave dinp's bytes unchanged; dinp NULL leaves dw's.
    float *dx2 = test_floats(nx), *dw2 = test_floats(nw);
    cdrl_linear_backward(dx2, NULL, NULL, r, x, w, N, IC, OC, &a);
    CHECK(same_bytes(dx, dx2, nx), "linear %s: dinp with dw = db = NULL differs", name);
    cdrl_linear_backward(NULL, dw2, NULL, r, x, w, N, IC, OC, &a);
    CHECK(same_bytes(dw, dw2, nw), "linear %s: dw with dinp = NULL differs", name);

    // += : from a non-zero start g0 the result is g0 + gradient. One rounding of the sum,
    // hence 1e-6 relative to |g0| + |gradient|.
    float *g0 = test_floats(nx), *want = test_floats(nx);
    test_fill(g0, nx, 5, -1.0f, 1.0f);
    for (size_t i = 0; i < nx; i++)
        want[i] = g0[i] + dx[i];
    cdrl_linear_backward(g0, NULL, NULL, r, x, w, N, IC, OC, &a);
    check_close("linear dinp accumulates", g0, want, nx, 1e-6, 1e-6);
    float *gw = test_floats(nw), *want_w = test_floats(nw), *gb = test_floats((size_t)OC);
    test_fill(gw, nw, 6, -1.0f, 1.0f);
    test_fill(gb, (size_t)OC, 7, -1.0f, 1.0f);
    for (size_t i = 0; i < nw; i++)
        want_w[i] = gw[i] + dw[i];
    float gb0 = gb[0];
    cdrl_linear_backward(NULL, gw, has_bias ? gb : NULL, r, x, w, N, IC, OC, &a);
    check_close("linear dw accumulates", gw, want_w, nw, 1e-5, 1e-6);
    if (has_bias)
        CHECK(fabs((double)gb[0] - (double)(gb0 + db[0])) < 1e-5, "linear db accumulates: %g vs %g",
              (double)gb[0], (double)(gb0 + db[0]));
    CHECK(a.used == 0, "linear left %zu bytes of scratch in use", a.used);

    cdrl_arena_deinit(&a);
    cdrl_free(x), cdrl_free(w), cdrl_free(b), cdrl_free(y), cdrl_free(dx), cdrl_free(dw);
    cdrl_free(db), cdrl_free(dx2), cdrl_free(dw2), cdrl_free(g0), cdrl_free(want);
    cdrl_free(gw), cdrl_free(want_w), cdrl_free(gb);
}

// ---------------------------------------------------------------------------------------
// Conv2d
typedef struct conv_ctx {
    cdrl_conv2d_desc d;
    float *x, *w, *b, *out; // (B, IC, H, W), (OC, IC, K, K), (OC), (B, OC, H, W)
    const float *r;         // (B, OC, H, W)
    cdrl_arena *arena;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    cdrl_conv2d_forward(c->out, c->x, c->w, c->b, &c->d, c->arena);
    const cdrl_conv2d_desc *d = &c->d;
    return test_dot(c->out, c->r, (size_t)d->B * (size_t)d->OC * (size_t)(d->H * d->W));
}

static void test_conv_fixture(const cdrl_st_file *f, const char *name) {
    char key[64];
    cdrl_conv2d_desc d = {META("B"), META("IC"), META("OC"), META("H"), META("W"), META("K")};
    size_t HW = (size_t)(d.H * d.W);
    size_t nx = (size_t)d.B * (size_t)d.IC * HW, ny = (size_t)d.B * (size_t)d.OC * HW;
    size_t nw = (size_t)d.OC * (size_t)d.IC * (size_t)(d.K * d.K), nb = (size_t)d.OC;
    float *x = copy_of(TENSOR("in.x", nx), nx), *w = copy_of(TENSOR("param.w", nw), nw);
    float *b = copy_of(TENSOR("param.b", nb), nb);
    const float *r = TENSOR("in.r", ny);
    float *y = test_floats(ny), *dx = test_floats(nx), *dw = test_floats(nw), *db = test_floats(nb);
    size_t need = cdrl_conv2d_scratch_size(&d);
    cdrl_arena a = arena_of(need);
    printf(" conv2d %s (B=%d IC=%d OC=%d H=%d W=%d K=%d)\n", name, d.B, d.IC, d.OC, d.H, d.W, d.K);

    fill_nan(y, ny); // forward overwrites
    cdrl_conv2d_forward(y, x, w, b, &d, &a);
    check_close("conv2d out", y, TENSOR("out.y", ny), ny, FIX_ATOL, FIX_RTOL);
    cdrl_conv2d_backward(dx, dw, db, r, x, w, &d, &a);
    check_close("conv2d dinp", dx, TENSOR("grad.x", nx), nx, FIX_ATOL, FIX_RTOL);
    check_close("conv2d dw", dw, TENSOR("grad.w", nw), nw, FIX_ATOL, FIX_RTOL);
    check_close("conv2d db", db, TENSOR("grad.b", nb), nb, FIX_ATOL, FIX_RTOL);
    CHECK(a.used == 0 && a.peak <= need, "conv2d scratch: %zu in use, peak %zu of %zu", a.used,
          a.peak, need);

    conv_ctx c = {d, x, w, b, y, r, &a};
    gradcheck("conv2d fd dinp", conv_loss, &c, x, dx, nx, 64, FD_EPS, FD_ATOL, FD_RTOL);
    gradcheck("conv2d fd dw", conv_loss, &c, w, dw, nw, 64, FD_EPS, FD_ATOL, FD_RTOL);
    gradcheck("conv2d fd db", conv_loss, &c, b, db, nb, 64, FD_EPS, FD_ATOL, FD_RTOL);

    // Bias NULL: the same output less the bias (one rounding of the addition).
    // (y is recomputed: the finite differences left the last perturbed output in it.)
    float *y0 = test_floats(ny), *want = test_floats(ny > nx ? ny : nx);
    cdrl_conv2d_forward(y, x, w, b, &d, &a);
    fill_nan(y0, ny);
    cdrl_conv2d_forward(y0, x, w, NULL, &d, &a);
    for (size_t i = 0; i < ny; i++)
        want[i] = y[i] - b[i / HW % nb];
    check_close("conv2d out, no bias", y0, want, ny, 1e-6, 1e-6);

    float *dx2 = test_floats(nx), *dw2 = test_floats(nw);
    cdrl_conv2d_backward(dx2, NULL, NULL, r, x, w, &d, &a);
    CHECK(same_bytes(dx, dx2, nx), "conv2d %s: dinp with dw = db = NULL differs", name);
    cdrl_conv2d_backward(NULL, dw2, NULL, r, x, w, &d, &a);
    CHECK(same_bytes(dw, dw2, nw), "conv2d %s: dw with dinp = NULL differs", name);
    float *db2 = test_floats(nb);
    cdrl_conv2d_backward(NULL, NULL, db2, r, x, w, &d, &a);
    CHECK(same_bytes(db, db2, nb), "conv2d %s: db alone differs", name);
    cdrl_free(db2);

    // += from a non-zero start (tolerances as for linear).
    float *g0 = test_floats(nx), *gw = test_floats(nw), *gb = test_floats(nb);
    float *want_w = test_floats(nw), *want_b = test_floats(nb);
    test_fill(g0, nx, 8, -1.0f, 1.0f);
    test_fill(gw, nw, 9, -1.0f, 1.0f);
    test_fill(gb, nb, 10, -1.0f, 1.0f);
    for (size_t i = 0; i < nx; i++)
        want[i] = g0[i] + dx[i];
    for (size_t i = 0; i < nw; i++)
        want_w[i] = gw[i] + dw[i];
    for (size_t i = 0; i < nb; i++)
        want_b[i] = gb[i] + db[i];
    cdrl_conv2d_backward(g0, gw, gb, r, x, w, &d, &a);
    check_close("conv2d dinp accumulates", g0, want, nx, 1e-6, 1e-6);
    check_close("conv2d dw accumulates", gw, want_w, nw, 1e-5, 1e-6);
    check_close("conv2d db accumulates", gb, want_b, nb, 1e-5, 1e-6);

    cdrl_arena_deinit(&a);
    cdrl_free(x), cdrl_free(w), cdrl_free(b), cdrl_free(y), cdrl_free(dx), cdrl_free(dw);
    cdrl_free(db), cdrl_free(y0), cdrl_free(want), cdrl_free(dx2), cdrl_free(dw2);
    cdrl_free(g0), cdrl_free(gw), cdrl_free(gb), cdrl_free(want_w), cdrl_free(want_b);
}

// ---------------------------------------------------------------------------------------
// Shapes cut into many chunks and tiles: a plain double-precision loop checks the chunking
// (bands of rows, groups of images, tiles, padded copies), then 1 and 2 threads must give the
// same bytes, also with an arena sized for 1 thread while 2 run (fewer workers then).
// Against the double loop: sums of up to 9*IC = 72 (conv) or 512 (linear) float32 products
// of values in [-1, 1] and weights in [-0.3, 0.3]: rounding ~1e-6 of the result; 1e-4
// abs + 1e-4 rel is loose for that and tight for any indexing error.
#define BIG_ATOL 1e-4
#define BIG_RTOL 1e-4

// y (B, OC, H, W) = conv(x, w) + b, and the gradients of sum(y * r), in double.
static void conv_naive(double *y, double *dx, double *dw, double *db, const float *x,
                       const float *w, const float *b, const float *r, const cdrl_conv2d_desc *d) {
    int H = d->H, W = d->W, K = d->K, p = K / 2;
    size_t HW = (size_t)(H * W);
    memset(dx, 0, (size_t)d->B * (size_t)d->IC * HW * sizeof(double));
    memset(dw, 0, (size_t)d->OC * (size_t)d->IC * (size_t)(K * K) * sizeof(double));
    memset(db, 0, (size_t)d->OC * sizeof(double));
    for (int i = 0; i < d->B; i++) {
        for (int o = 0; o < d->OC; o++) {
            for (int yy = 0; yy < H; yy++) {
                for (int xx = 0; xx < W; xx++) {
                    size_t oi =
                        ((size_t)i * (size_t)d->OC + (size_t)o) * HW + (size_t)(yy * W + xx);
                    double acc = (double)b[o];
                    for (int c = 0; c < d->IC; c++) {
                        for (int kh = 0; kh < K; kh++) {
                            for (int kw = 0; kw < K; kw++) {
                                int sy = yy + kh - p, sx = xx + kw - p;
                                if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
                                size_t xi = ((size_t)i * (size_t)d->IC + (size_t)c) * HW +
                                            (size_t)(sy * W + sx);
                                size_t wi = (((size_t)o * (size_t)d->IC + (size_t)c) * (size_t)K +
                                             (size_t)kh) *
                                                (size_t)K +
                                            (size_t)kw;
                                acc += (double)w[wi] * (double)x[xi];
                                dx[xi] += (double)w[wi] * (double)r[oi];
                                dw[wi] += (double)x[xi] * (double)r[oi];
                            }
                        }
                    }
                    y[oi] = acc;
                    db[o] += (double)r[oi];
                }
            }
        }
    }
}

static void check_close_d_atol(const char *name, const float *got, const double *want, size_t n,
                               double atol) {
    float *wf = test_floats(n);
    for (size_t i = 0; i < n; i++)
        wf[i] = (float)want[i];
    check_close(name, got, wf, n, atol, BIG_RTOL);
    cdrl_free(wf);
}

static void check_close_d(const char *name, const float *got, const double *want, size_t n) {
    check_close_d_atol(name, got, want, n, BIG_ATOL);
}

// The kernel gradient sums over every pixel of the batch (thousands of terms of either sign):
// under Winograd an entry near zero keeps the rounding of its transformed terms, so its
// absolute tolerance follows the root mean square of the result (as in test_backends).
static double dw_atol(const cdrl_conv2d_desc *d, const double *want, size_t n) {
    if (!cdrl_wino_weight_grad_applies(d)) return BIG_ATOL;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += want[i] * want[i];
    const double rms_atol = 5e-5 * sqrt(ss / (double)n);
    return rms_atol > BIG_ATOL ? rms_atol : BIG_ATOL;
}

static void conv_run(float *y, float *dx, float *dw, float *db, const float *x, const float *w,
                     const float *b, const float *r, const cdrl_conv2d_desc *d,
                     size_t arena_bytes) {
    cdrl_arena a = arena_of(arena_bytes);
    cdrl_conv2d_forward(y, x, w, b, d, &a);
    cdrl_conv2d_backward(dx, dw, db, r, x, w, d, &a);
    CHECK(a.peak <= arena_bytes, "conv2d scratch peak %zu > %zu", a.peak, arena_bytes);
    cdrl_arena_deinit(&a);
}

static void test_conv_big(const cdrl_conv2d_desc *d) {
    size_t HW = (size_t)(d->H * d->W);
    size_t nx = (size_t)d->B * (size_t)d->IC * HW, ny = (size_t)d->B * (size_t)d->OC * HW;
    size_t nw = (size_t)d->OC * (size_t)d->IC * (size_t)(d->K * d->K), nb = (size_t)d->OC;
    float *x = test_floats(nx), *w = test_floats(nw), *b = test_floats(nb), *r = test_floats(ny);
    test_fill(x, nx, 1, -1.0f, 1.0f);
    test_fill(w, nw, 2, -0.3f, 0.3f);
    test_fill(b, nb, 3, -0.3f, 0.3f);
    test_fill(r, ny, 4, -1.0f, 1.0f);
    printf(" conv2d K=%d B=%d C=%d->%d %dx%d\n", d->K, d->B, d->IC, d->OC, d->H, d->W);
    float *out[3][4];
    int saved = cdrl_threads();
    cdrl_set_threads(1);
    size_t size1 = cdrl_conv2d_scratch_size(d);
    for (int run = 0; run < 3; run++) {
        cdrl_set_threads(run == 0 ? 1 : 2);
        out[run][0] = test_floats(ny), out[run][1] = test_floats(nx);
        out[run][2] = test_floats(nw), out[run][3] = test_floats(nb);
        fill_nan(out[run][0], ny);
        conv_run(out[run][0], out[run][1], out[run][2], out[run][3], x, w, b, r, d,
                 run == 2 ? size1 : cdrl_conv2d_scratch_size(d));
    }
    cdrl_set_threads(saved);

    double *ry = cdrl_malloc(ny * sizeof(double)), *rx = cdrl_malloc(nx * sizeof(double));
    double *rw = cdrl_malloc(nw * sizeof(double)), *rb = cdrl_malloc(nb * sizeof(double));
    conv_naive(ry, rx, rw, rb, x, w, b, r, d);
    check_close_d("conv2d out vs double loop", out[0][0], ry, ny);
    check_close_d("conv2d dinp vs double loop", out[0][1], rx, nx);
    check_close_d_atol("conv2d dw vs double loop", out[0][2], rw, nw, dw_atol(d, rw, nw));
    check_close_d("conv2d db vs double loop", out[0][3], rb, nb);

    size_t n[4] = {ny, nx, nw, nb};
    const char *what[4] = {"out", "dinp", "dw", "db"};
    for (int run = 1; run < 3; run++) {
        for (int k = 0; k < 4; k++) {
            CHECK(same_bytes(out[0][k], out[run][k], n[k]),
                  "conv2d: %s differs for 1 and 2 threads%s", what[k],
                  run == 2 ? " (1-thread arena)" : "");
        }
    }
    printf("  ok   1 and 2 threads (and a 1-thread arena): out, dinp, dw, db byte for byte\n");
    for (int run = 0; run < 3; run++) {
        for (int k = 0; k < 4; k++)
            cdrl_free(out[run][k]);
    }
    cdrl_free(ry), cdrl_free(rx), cdrl_free(rw), cdrl_free(rb);
    cdrl_free(x), cdrl_free(w), cdrl_free(b), cdrl_free(r);
}

static void test_linear_big(int N, int IC, int OC) {
    size_t nx = (size_t)N * (size_t)IC, ny = (size_t)N * (size_t)OC, nw = (size_t)OC * (size_t)IC;
    float *x = test_floats(nx), *w = test_floats(nw), *b = test_floats((size_t)OC),
          *r = test_floats(ny);
    test_fill(x, nx, 11, -1.0f, 1.0f);
    test_fill(w, nw, 12, -0.1f, 0.1f);
    test_fill(b, (size_t)OC, 13, -0.1f, 0.1f);
    test_fill(r, ny, 14, -1.0f, 1.0f);
    printf(" linear N=%d IC=%d OC=%d\n", N, IC, OC);
    float *out[2][4];
    int saved = cdrl_threads();
    for (int run = 0; run < 2; run++) {
        cdrl_set_threads(run + 1);
        size_t need = cdrl_linear_scratch_size(N, IC, OC);
        cdrl_arena a = arena_of(need);
        out[run][0] = test_floats(ny), out[run][1] = test_floats(nx);
        out[run][2] = test_floats(nw), out[run][3] = test_floats((size_t)OC);
        fill_nan(out[run][0], ny);
        cdrl_linear_forward(out[run][0], x, w, b, N, IC, OC, &a);
        cdrl_linear_backward(out[run][1], out[run][2], out[run][3], r, x, w, N, IC, OC, &a);
        CHECK(a.peak <= need && a.used == 0, "linear scratch peak %zu of %zu, %zu in use", a.peak,
              need, a.used);
        cdrl_arena_deinit(&a);
    }
    cdrl_set_threads(saved);

    double *ry = cdrl_calloc(ny * sizeof(double)), *rx = cdrl_calloc(nx * sizeof(double));
    double *rw = cdrl_calloc(nw * sizeof(double)), *rb = cdrl_calloc((size_t)OC * sizeof(double));
    for (int i = 0; i < N; i++) {
        for (int o = 0; o < OC; o++) {
            size_t oi = (size_t)i * (size_t)OC + (size_t)o;
            double acc = (double)b[o];
            for (int c = 0; c < IC; c++) {
                size_t xi = (size_t)i * (size_t)IC + (size_t)c,
                       wi = (size_t)o * (size_t)IC + (size_t)c;
                acc += (double)w[wi] * (double)x[xi];
                rx[xi] += (double)w[wi] * (double)r[oi];
                rw[wi] += (double)x[xi] * (double)r[oi];
            }
            ry[oi] = acc;
            rb[o] += (double)r[oi];
        }
    }
    check_close_d("linear out vs double loop", out[0][0], ry, ny);
    check_close_d("linear dinp vs double loop", out[0][1], rx, nx);
    check_close_d("linear dw vs double loop", out[0][2], rw, nw);
    check_close_d("linear db vs double loop", out[0][3], rb, (size_t)OC);

    size_t n[4] = {ny, nx, nw, (size_t)OC};
    const char *what[4] = {"out", "dinp", "dw", "db"};
    for (int k = 0; k < 4; k++) {
        CHECK(same_bytes(out[0][k], out[1][k], n[k]), "linear: %s differs for 1 and 2 threads",
              what[k]);
    }
    printf("  ok   1 and 2 threads: out, dinp, dw, db byte for byte\n");
    for (int run = 0; run < 2; run++) {
        for (int k = 0; k < 4; k++)
            cdrl_free(out[run][k]);
    }
    cdrl_free(ry), cdrl_free(rx), cdrl_free(rw), cdrl_free(rb);
    cdrl_free(x), cdrl_free(w), cdrl_free(b), cdrl_free(r);
}

// Callers size one arena for their largest layer, so the linear scratch must never shrink as
// a size grows (the padded copies exist only for some feature counts).
static void test_linear_scratch_monotone(void) {
    int bad = 0;
    for (int f = 1; f <= 1100 && !bad; f++) {
        bad += cdrl_linear_scratch_size(100, f, f) > cdrl_linear_scratch_size(100, f + 1, f + 1);
        bad += cdrl_linear_scratch_size(f, 512, 512) > cdrl_linear_scratch_size(f + 1, 512, 512);
    }
    CHECK(!bad, "cdrl_linear_scratch_size shrinks as a size grows");
    printf("  ok   linear scratch size grows with every size\n");
}

int main(void) {
    cdrl_st_file *f = fixture_load("linear");
    test_linear_fixture(f, "fc", 1);
    test_linear_fixture(f, "nobias", 0);
    cdrl_st_free(f);
    f = fixture_load("conv2d");
    test_conv_fixture(f, "k3");
    test_conv_fixture(f, "k1");
    test_conv_fixture(f, "band");
    cdrl_st_free(f);

    printf(" many chunks: against a double loop, and 1 vs 2 threads\n");
    // Bands of rows (32x32: 8 rows per chunk, 12 chunks), several images per chunk (4x4:
    // 16 images per chunk, 3 chunks, the last one short) and a 1x1 kernel.
    test_conv_big(&(cdrl_conv2d_desc){3, 8, 6, 32, 32, 3});
    test_conv_big(&(cdrl_conv2d_desc){40, 6, 5, 4, 4, 3});
    test_conv_big(&(cdrl_conv2d_desc){5, 7, 9, 16, 16, 1});
    // Winograd tiles (cpu backend): groups of whole images, and bands of tile rows.
    test_conv_big(&(cdrl_conv2d_desc){3, 16, 20, 30, 26, 3});
    test_conv_big(&(cdrl_conv2d_desc){2, 16, 16, 70, 33, 3});
    test_conv_big(&(cdrl_conv2d_desc){64, 64, 64, 8, 8, 3}); // small maps, 8 images per chunk
    // Planes smaller than a 3x3 tap's offset (the EBM's last level after floor pooling).
    test_conv_big(&(cdrl_conv2d_desc){4, 5, 3, 1, 1, 3});
    test_conv_big(&(cdrl_conv2d_desc){3, 4, 6, 2, 1, 3});
    // Row tiles (140 / 128) and column tiles (256 / 256, 384 / 256 and / 64); 256 and 384
    // features take the padded copies.
    test_linear_big(140, 256, 384);
    test_linear_big(150, 130, 70);
    test_linear_scratch_monotone();
    return test_report("test_gemm_layers");
}
