// Kernel benchmark: GFLOP/s of conv2d (forward, backward-data, backward-weights) and linear
// (forward, backward) at the shapes the networks use, beside the sgemm peak measured in the
// same run (oneDNN's 2048^3 sgemm threaded over all cores, best of 4 at the start and 4 at the
// end, so that a load that comes and goes does not skew the ratios) and the ratio to it. All
// cores (default threads). Leaves out the element-wise layers (memory bound, nothing to
// compare with a GEMM peak). Times are the best of a few repetitions after one warm-up.
#include <dnnl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ops/cpu/gemm.h"
#include "ops/ops.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *floats(size_t n, unsigned seed) {
    float *p = cdrl_malloc(n * sizeof(float));
    CDRL_ASSERT(p);
    unsigned long s = seed * 2654435761ul + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ul + 1442695040888963407ul;
        p[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

// One timed operation: run(ctx) once to warm up, then best of repetitions until at least
// min_reps ran and min_s seconds passed (at most max_reps).
typedef void (*bench_fn)(void *ctx);
static double best_time(bench_fn run, void *ctx, int min_reps, int max_reps, double min_s) {
    run(ctx);
    double best = 1e30, start = now_s();
    for (int r = 0; r < max_reps; r++) {
        double t = now_s();
        run(ctx);
        t = now_s() - t;
        if (t < best) best = t;
        if (r + 1 >= min_reps && now_s() - start >= min_s) break;
    }
    return best;
}

// ---------------------------------------------------------------------------------------
typedef struct gemm_ctx {
    int n;
    float *a, *b, *c;
} gemm_ctx;

// oneDNN itself, called outside any parallel region: it threads the product over all cores.
// (cdrl_sgemm always runs single-threaded, hence dnnl_sgemm here.)
static void run_gemm(void *p) {
    gemm_ctx *g = p;
    dnnl_sgemm('N', 'N', g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f, g->c, g->n);
}

// One single-threaded cdrl_sgemm per thread inside a parallel region, as the kernels call it:
// near the threaded peak means each call has its own core.
static void run_gemm_in_region(void *p) {
    gemm_ctx *g = p;
    size_t nn = (size_t)g->n * (size_t)g->n;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < cdrl_threads(); j++) {
        cdrl_sgemm(0, 0, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f,
                   g->c + (size_t)j * nn, g->n);
    }
}

// ---------------------------------------------------------------------------------------
typedef struct conv_ctx {
    cdrl_conv2d_desc d;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
    cdrl_arena *arena;
} conv_ctx;

static void run_conv_fwd(void *p) {
    conv_ctx *c = p;
    cdrl_conv2d_forward(c->y, c->x, c->w, c->b, &c->d, c->arena);
}
static void run_conv_bwd_data(void *p) {
    conv_ctx *c = p;
    cdrl_conv2d_backward(c->dx, NULL, NULL, c->dy, c->x, c->w, &c->d, c->arena);
}
static void run_conv_bwd_weight(void *p) {
    conv_ctx *c = p;
    cdrl_conv2d_backward(NULL, c->dw, c->db, c->dy, c->x, c->w, &c->d, c->arena);
}

// One benchmarked shape: flop per pass and the best time of its three passes. Rows are
// printed at the end, once the closing peak measurement is in.
typedef struct row {
    char label[48];
    int is_conv3; // a 3x3 convolution (the acceptance shapes)
    int is_conv1;
    double flop;   // per pass
    double t[3];   // forward, backward-data, backward-weights (s)
    double mbytes; // scratch (MB)
    double t16[2]; // forward and backward-data with bfloat16 products (s), 0 when not run
} row;

static void bench_conv(row *r, int B, int IC, int OC, int HW1, int K) {
    conv_ctx c;
    c.d = (cdrl_conv2d_desc){B, IC, OC, HW1, HW1, K};
    size_t n_pix = (size_t)HW1 * (size_t)HW1;
    size_t nx = (size_t)B * (size_t)IC * n_pix, ny = (size_t)B * (size_t)OC * n_pix;
    size_t nw = (size_t)OC * (size_t)IC * (size_t)(K * K);
    c.x = floats(nx, 1), c.w = floats(nw, 2), c.b = floats((size_t)OC, 3), c.y = floats(ny, 4);
    c.dy = floats(ny, 5), c.dx = floats(nx, 6), c.dw = floats(nw, 7), c.db = floats((size_t)OC, 8);
    cdrl_arena arena;
    size_t scratch = cdrl_conv2d_scratch_size(&c.d);
    CDRL_ASSERT(cdrl_arena_init(&arena, scratch) == CDRL_OK);
    c.arena = &arena;
    snprintf(r->label, sizeof r->label, "%dx%d  %2dpx %3d->%3d ch", K, K, HW1, IC, OC);
    r->is_conv3 = K == 3, r->is_conv1 = K == 1;
    r->flop = 2.0 * (double)B * (double)OC * (double)IC * (double)(K * K) * (double)n_pix;
    r->t[0] = best_time(run_conv_fwd, &c, 2, 5, 0.3);
    r->t[1] = best_time(run_conv_bwd_data, &c, 2, 5, 0.3);
    r->t[2] = best_time(run_conv_bwd_weight, &c, 2, 5, 0.3);
    r->t16[0] = r->t16[1] = 0;
    if (cdrl_bf16_available()) { // the Langevin passes under --precision bf16
        cdrl_set_precision(CDRL_PRECISION_BF16);
        r->t16[0] = best_time(run_conv_fwd, &c, 2, 5, 0.3);
        r->t16[1] = best_time(run_conv_bwd_data, &c, 2, 5, 0.3);
        cdrl_set_precision(CDRL_PRECISION_F32);
    }
    r->mbytes = (double)scratch / 1048576.0;
    cdrl_arena_deinit(&arena);
    cdrl_free(c.x), cdrl_free(c.w), cdrl_free(c.b), cdrl_free(c.y);
    cdrl_free(c.dy), cdrl_free(c.dx), cdrl_free(c.dw), cdrl_free(c.db);
}

// ---------------------------------------------------------------------------------------
typedef struct lin_ctx {
    int N, IC, OC;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
    cdrl_arena *arena;
} lin_ctx;

static void run_lin_fwd(void *p) {
    lin_ctx *c = p;
    cdrl_linear_forward(c->y, c->x, c->w, c->b, c->N, c->IC, c->OC, c->arena);
}
static void run_lin_bwd_data(void *p) {
    lin_ctx *c = p;
    cdrl_linear_backward(c->dx, NULL, NULL, c->dy, c->x, c->w, c->N, c->IC, c->OC, c->arena);
}
static void run_lin_bwd_weight(void *p) {
    lin_ctx *c = p;
    cdrl_linear_backward(NULL, c->dw, c->db, c->dy, c->x, c->w, c->N, c->IC, c->OC, c->arena);
}

static void bench_linear(row *r, int N, int IC, int OC) {
    lin_ctx c = {N, IC, OC, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t nx = (size_t)N * (size_t)IC, ny = (size_t)N * (size_t)OC, nw = (size_t)OC * (size_t)IC;
    c.x = floats(nx, 1), c.w = floats(nw, 2), c.b = floats((size_t)OC, 3), c.y = floats(ny, 4);
    c.dy = floats(ny, 5), c.dx = floats(nx, 6), c.dw = floats(nw, 7), c.db = floats((size_t)OC, 8);
    cdrl_arena arena;
    size_t scratch = cdrl_linear_scratch_size(N, IC, OC);
    CDRL_ASSERT(cdrl_arena_init(&arena, scratch + 64) == CDRL_OK);
    c.arena = &arena;
    snprintf(r->label, sizeof r->label, "N=%4d %3d->%3d     ", N, IC, OC);
    r->is_conv3 = r->is_conv1 = 0;
    r->flop = 2.0 * (double)N * (double)IC * (double)OC;
    r->t[0] = best_time(run_lin_fwd, &c, 5, 200, 0.2);
    r->t[1] = best_time(run_lin_bwd_data, &c, 5, 200, 0.2);
    r->t[2] = best_time(run_lin_bwd_weight, &c, 5, 200, 0.2);
    r->t16[0] = r->t16[1] = 0;
    r->mbytes = (double)scratch / 1048576.0;
    cdrl_arena_deinit(&arena);
    cdrl_free(c.x), cdrl_free(c.w), cdrl_free(c.b), cdrl_free(c.y);
    cdrl_free(c.dy), cdrl_free(c.dx), cdrl_free(c.dw), cdrl_free(c.db);
}

static double peak; // GFLOP/s: the better of the opening and closing sgemm measurements

static void print_rate(double flop, double t) {
    double gf = flop / t * 1e-9;
    printf(" %7.1f %4.0f%%", gf, 100.0 * gf / peak);
}

static void print_row(const row *r) {
    printf("  %s", r->label);
    for (int k = 0; k < 3; k++)
        print_rate(r->flop, r->t[k]);
    double t = r->t[0] + r->t[1] + r->t[2];
    print_rate(3.0 * r->flop, t);
    printf("  %7.2f ms %5.1f MB\n", 1e3 * t, r->mbytes);
}

static double gemm_peak(gemm_ctx *g) {
    double t = best_time(run_gemm, g, 4, 4, 0.0);
    return 2.0 * (double)g->n * (double)g->n * (double)g->n / t * 1e-9;
}

int main(void) {
    double start = now_s();
    int threads = cdrl_threads();
    gemm_ctx g = {2048, NULL, NULL, NULL};
    size_t nn = (size_t)g.n * (size_t)g.n;
    g.a = floats(nn, 1), g.b = floats(nn, 2), g.c = floats(nn, 3);
    double peak_start = gemm_peak(&g);

    static const int convs[][4] = {{32, 32, 32, 3},   {28, 32, 32, 3},   {32, 64, 64, 3},
                                   {16, 64, 64, 3},   {32, 128, 128, 3}, {16, 128, 128, 3},
                                   {16, 256, 256, 3}, {8, 64, 64, 3},    {8, 256, 256, 3},
                                   {4, 256, 256, 3},  {32, 128, 64, 1},  {16, 64, 192, 1}};
    static const int lins[][3] = {{256, 128, 128},  {256, 256, 256},  {256, 512, 512},
                                  {2500, 128, 128}, {2500, 256, 256}, {2500, 512, 512}};
    enum { N_CONV = sizeof convs / sizeof convs[0], N_LIN = sizeof lins / sizeof lins[0] };
    row rows[N_CONV + N_LIN];
    for (int i = 0; i < N_CONV; i++) {
        bench_conv(&rows[i], 64, convs[i][1], convs[i][2], convs[i][0], convs[i][3]);
    }
    for (int i = 0; i < N_LIN; i++)
        bench_linear(&rows[N_CONV + i], lins[i][0], lins[i][1], lins[i][2]);

    double peak_end = gemm_peak(&g);
    peak = peak_start > peak_end ? peak_start : peak_end;
    gemm_ctx g1 = {1024, g.a, g.b, NULL};
    float *c1 = floats((size_t)g1.n * (size_t)g1.n * (size_t)threads, 4);
    g1.c = c1;
    double t_region = best_time(run_gemm_in_region, &g1, 4, 4, 0.0);
    double region =
        2.0 * (double)threads * (double)g1.n * (double)g1.n * (double)g1.n / t_region * 1e-9;
    cdrl_free(g.a), cdrl_free(g.b), cdrl_free(g.c), cdrl_free(c1);

    printf("bench_ops: %d threads; sgemm peak %.1f GFLOP/s (oneDNN 2048^3 threaded; %.1f at the "
           "start, %.1f at the end)\n",
           threads, peak, peak_start, peak_end);
    printf("  %d single-threaded 1024^3 cdrl_sgemm calls at once in a parallel region: %.1f "
           "GFLOP/s (%.0f%% of peak)\n",
           threads, region, 100.0 * region / peak);
    double lo = peak_start < peak_end ? peak_start : peak_end;
    if (lo < 0.85 * peak) {
        printf("  WARNING: the peak moved by %.0f%% during the run: other processes share the "
               "cores, the ratios below are unreliable\n",
               100.0 * (1.0 - lo / peak));
    }
    printf("\n");
    printf("conv2d, batch 64            GFLOP/s and %% of peak\n");
    printf("  shape                     forward      bwd-data     bwd-weight   fwd+bwd            "
           "time  scratch\n");
    double flop3 = 0, t3 = 0, flop1 = 0, t1 = 0;
    for (int i = 0; i < N_CONV; i++) {
        print_row(&rows[i]);
        double t = rows[i].t[0] + rows[i].t[1] + rows[i].t[2];
        if (rows[i].is_conv3) flop3 += 3.0 * rows[i].flop, t3 += t;
        if (rows[i].is_conv1) flop1 += 3.0 * rows[i].flop, t1 += t;
    }
    printf("  all 3x3 shapes together, fwd+bwd: %.1f GFLOP/s = %.0f%% of peak; the 1x1 shapes: "
           "%.0f%%\n\n",
           flop3 / t3 * 1e-9, 100.0 * flop3 / t3 * 1e-9 / peak, 100.0 * flop1 / t1 * 1e-9 / peak);
    if (rows[0].t16[0] > 0) {
        printf("conv2d with bfloat16 products (--precision bf16; float below 64 channels)\n");
        printf("  shape                     forward      bwd-data     speed-up over float\n");
        for (int i = 0; i < N_CONV; i++) {
            printf("  %s", rows[i].label);
            print_rate(rows[i].flop, rows[i].t16[0]);
            print_rate(rows[i].flop, rows[i].t16[1]);
            printf("   %.2fx %.2fx\n", rows[i].t[0] / rows[i].t16[0],
                   rows[i].t[1] / rows[i].t16[1]);
        }
        printf("\n");
    } else {
        printf("(no AVX512_BF16 on this CPU: the bfloat16 rows are left out)\n\n");
    }
    printf("linear\n  shape                     forward      bwd-data     bwd-weight   fwd+bwd\n");
    for (int i = 0; i < N_LIN; i++)
        print_row(&rows[N_CONV + i]);
    printf("\n(bwd-data: backward with dinp only; bwd-weight: with dw and db only)\n");
    printf("bench_ops: %.1f s\n", now_s() - start);
    return 0;
}
