// The cpu backend against the ref backend, op by op: every member of the two tables run on
// identical copies of seeded random inputs and outputs (accumulating ops start from the same
// non-zero gradients), the results compared. Shapes are small but reach each case the ops
// distinguish: conv K = 1 and 3 on small images and on bands of a larger one, odd and even
// pooling sizes, NULL optional gradients, accumulate and assign modes, clamped Langevin rows,
// NaN and Inf for the finiteness checks. Also: neither table has a NULL member.
// Tolerances: 0 where both backends evaluate the same float expression (copies, element-wise
// glue, the optimiser steps, dropout's draws); 1e-5 abs + 1e-4 rel where a long sum is
// reduced in another order (GEMMs, convolutions, norms, attention).
// Leaves out: speed (bench/), agreement with PyTorch (the layer tests, on either backend).
#include <stddef.h>

#include "ops/backend.h"
#include "ops/cpu/conv_small.h"
#include "ops/cpu/winograd.h"
#include "test_util.h"

static const cdrl_backend *CPU = &cdrl_backend_cpu, *REF = &cdrl_backend_ref;

#define SUM_ATOL 1e-5
#define SUM_RTOL 1e-4

static unsigned seed_next = 1;

// n uniform values in [lo, hi) from the next seed.
static float *rnd(size_t n, float lo, float hi) {
    float *p = test_floats(n ? n : 1);
    test_fill(p, n, seed_next++, lo, hi);
    return p;
}

static float *dup(const float *x, size_t n) {
    float *p = test_floats(n ? n : 1);
    memcpy(p, x, n * sizeof(float));
    return p;
}

// check_close of the ref result against the cpu one, named "op: what".
static void cmp(const char *op, const char *what, const float *ref, const float *cpu, size_t n,
                double atol, double rtol) {
    char name[96];
    snprintf(name, sizeof name, "%s: %s", op, what);
    check_close(name, ref, cpu, n, atol, rtol);
}

// An arena of the given size (64 bytes when 0), filled with NaN bytes so that a kernel that
// reads scratch before writing it shows in its results.
static cdrl_arena arena_of(size_t bytes) {
    cdrl_arena a;
    CHECK(cdrl_arena_init(&a, bytes ? bytes : 64) == CDRL_OK, "arena of %zu bytes", bytes);
    memset(a.base, 0xff, a.cap);
    return a;
}

static void free_all(float **p, int n) {
    for (int i = 0; i < n; i++)
        cdrl_free(p[i]);
}

// ---------------------------------------------------------------------------------------
// The tables: a name, allocation, and every op set. The ops follow free in the struct, all
// function pointers; each slot is read as bytes (a NULL pointer is all zero bits here).
static void test_tables(void) {
    printf("tables\n");
    const size_t first = offsetof(cdrl_backend, linear_scratch_size);
    const size_t slot = sizeof(cdrl_backend_cpu.linear_scratch_size);
    const size_t n_ops = (sizeof(cdrl_backend) - first) / slot;
    CHECK(n_ops == 74, "cdrl_backend holds %zu ops, this test knows 74", n_ops);
    const cdrl_backend *be[2] = {CPU, REF};
    for (int k = 0; k < 2; k++) {
        CHECK(be[k]->name && be[k]->alloc && be[k]->free, "backend %d: name or allocator NULL", k);
        const unsigned char *bytes = (const unsigned char *)be[k];
        size_t null_ops = 0;
        for (size_t i = 0; i < n_ops; i++) {
            int zero = 1;
            for (size_t j = 0; j < slot; j++)
                zero &= bytes[first + i * slot + j] == 0;
            if (zero) {
                null_ops++;
                printf("    %s: op %zu of the table is NULL\n", be[k]->name, i);
            }
        }
        CHECK(null_ops == 0, "%s: %zu NULL ops", be[k]->name, null_ops);
    }
    CHECK(!strcmp(CPU->name, "cpu") && !strcmp(REF->name, "ref"), "backend names");
    printf("  ok   both tables complete (%zu ops)\n", n_ops);
}

// ---------------------------------------------------------------------------------------
// Linear: with and without bias, every NULL pattern of the backward, one shape wide enough
// (IC, OC >= 256) for the cpu kernel's padded copies.
static void test_linear_case(int N, int IC, int OC, int has_bias) {
    printf("linear N %d IC %d OC %d%s\n", N, IC, OC, has_bias ? "" : " (no bias)");
    CHECK(REF->linear_scratch_size(N, IC, OC) == 0, "ref linear scratch not 0");
    const size_t nx = (size_t)N * IC, nw = (size_t)OC * IC, ny = (size_t)N * OC;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -1, 1), *b = rnd((size_t)OC, -1, 1);
    float *r = rnd(ny, -1, 1), *y0 = rnd(ny, -9, 9);
    float *dx0 = rnd(nx, -1, 1), *dw0 = rnd(nw, -1, 1), *db0 = rnd((size_t)OC, -1, 1);
    cdrl_arena a = arena_of(CPU->linear_scratch_size(N, IC, OC));
    float *yc = dup(y0, ny), *yr = dup(y0, ny);
    CPU->linear_forward(yc, x, w, has_bias ? b : NULL, N, IC, OC, &a);
    REF->linear_forward(yr, x, w, has_bias ? b : NULL, N, IC, OC, &a);
    cmp("linear", "out", yr, yc, ny, SUM_ATOL, SUM_RTOL);
    // Masks of (dinp, dw, db): all three, then each NULL pattern that leaves one.
    const int masks[4] = {7, 4, 2, 1};
    for (int m = 0; m < 4; m++) {
        float *dxc = dup(dx0, nx), *dxr = dup(dx0, nx), *dwc = dup(dw0, nw), *dwr = dup(dw0, nw);
        float *dbc = dup(db0, (size_t)OC), *dbr = dup(db0, (size_t)OC);
        const int gi = masks[m] & 4, gw = masks[m] & 2, gb = (masks[m] & 1) && has_bias;
        CPU->linear_backward(gi ? dxc : NULL, gw ? dwc : NULL, gb ? dbc : NULL, r, x, w, N, IC, OC,
                             &a);
        REF->linear_backward(gi ? dxr : NULL, gw ? dwr : NULL, gb ? dbr : NULL, r, x, w, N, IC, OC,
                             &a);
        char what[64];
        snprintf(what, sizeof what, "dinp (mask %d)", masks[m]);
        cmp("linear", what, dxr, dxc, nx, SUM_ATOL, SUM_RTOL);
        snprintf(what, sizeof what, "dw (mask %d)", masks[m]);
        cmp("linear", what, dwr, dwc, nw, SUM_ATOL, SUM_RTOL);
        snprintf(what, sizeof what, "db (mask %d)", masks[m]);
        cmp("linear", what, dbr, dbc, (size_t)OC, SUM_ATOL, SUM_RTOL);
        float *f[6] = {dxc, dxr, dwc, dwr, dbc, dbr};
        free_all(f, 6);
    }
    cdrl_arena_deinit(&a);
    float *f[10] = {x, w, b, r, y0, dx0, dw0, db0, yc, yr};
    free_all(f, 10);
}

// Winograd's error follows the size of the terms summed, not of the sum (a result near zero
// from large terms keeps their rounding): its absolute tolerance is taken from the root mean
// square of the reference result, where the cpu backend runs Winograd for the product.
#define WINO_ATOL_RMS 5e-5
static double rms_atol(const float *ref, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)ref[i] * (double)ref[i];
    return WINO_ATOL_RMS * sqrt(ss / (double)n);
}

static double conv_atol(const cdrl_conv2d_desc *d, int C, int OC, const float *ref, size_t n) {
    return cdrl_wino_applies(d, C, OC) ? rms_atol(ref, n) : SUM_ATOL;
}

// The kernel gradient sums over every pixel of the batch: from a few thousand terms (batch 32
// at 8x8) an entry near zero keeps the float rounding of its large terms, as under Winograd.
static double dw_atol(const cdrl_conv2d_desc *d, const float *ref, size_t n) {
    const int long_sum = (long)d->B * d->H * d->W >= 2048;
    return cdrl_wino_weight_grad_applies(d) || long_sum ? rms_atol(ref, n) : SUM_ATOL;
}

// ---------------------------------------------------------------------------------------
// Conv2d: small images (several per cpu chunk) and a larger one (bands of rows), K = 1 and 3.
static void test_conv_case(int B, int IC, int OC, int H, int W, int K) {
    printf("conv2d B %d IC %d OC %d H %d W %d K %d\n", B, IC, OC, H, W, K);
    const cdrl_conv2d_desc d = {B, IC, OC, H, W, K};
    CHECK(REF->conv2d_scratch_size(&d) == 0, "ref conv2d scratch not 0");
    const size_t HW = (size_t)H * W, nx = (size_t)B * IC * HW, ny = (size_t)B * OC * HW;
    const size_t nw = (size_t)OC * IC * K * K;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -1, 1), *b = rnd((size_t)OC, -1, 1);
    float *r = rnd(ny, -1, 1), *y0 = rnd(ny, -9, 9);
    float *dx0 = rnd(nx, -1, 1), *dw0 = rnd(nw, -1, 1), *db0 = rnd((size_t)OC, -1, 1);
    cdrl_arena a = arena_of(CPU->conv2d_scratch_size(&d));
    for (int bias = 0; bias < 2; bias++) {
        float *yc = dup(y0, ny), *yr = dup(y0, ny);
        CPU->conv2d_forward(yc, x, w, bias ? b : NULL, NULL, &d, &a);
        REF->conv2d_forward(yr, x, w, bias ? b : NULL, NULL, &d, &a);
        cmp("conv2d", bias ? "out" : "out (no bias)", yr, yc, ny, conv_atol(&d, IC, OC, yr, ny),
            SUM_RTOL);
        cdrl_free(yc), cdrl_free(yr);
    }
    { // the forward's epilogues: the same bytes as the separate passes, and against ref
        float *add = rnd((size_t)B * OC, -1, 1), *gain = rnd((size_t)OC, -2, 2);
        float *base = rnd(ny, -1, 1);
        const int kinds[5][3] = {{1, 0, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}};
        for (int e = 0; e < 5; e++) {
            const int with_add = kinds[e][0], with_gain = kinds[e][1], with_act = kinds[e][2];
            float *yc = rnd(ny, -9, 9), *yr = rnd(ny, -9, 9), *ys = rnd(ny, -9, 9);
            float *sc = dup(base, ny), *sr = dup(base, ny), *ss = dup(base, ny);
            float *ac = rnd(ny, -9, 9), *ar = rnd(ny, -9, 9), *as = rnd(ny, -9, 9);
            // sum in place of base (the shortcut block's dst += g conv2) in the last kind
            const int in_place = e == 4;
            cdrl_conv_epilogue ec = {with_add ? add : NULL,
                                     with_gain ? gain : NULL,
                                     with_gain ? (in_place ? sc : base) : NULL,
                                     with_gain ? sc : NULL,
                                     with_act ? ac : NULL,
                                     0.2f};
            cdrl_conv_epilogue er = ec;
            er.base = with_gain ? (in_place ? sr : base) : NULL;
            er.sum = with_gain ? sr : NULL;
            er.act = with_act ? ar : NULL;
            CPU->conv2d_forward(yc, x, w, b, &ec, &d, &a);
            REF->conv2d_forward(yr, x, w, b, &er, &d, &a);
            CPU->conv2d_forward(ys, x, w, b, NULL, &d, &a); // then the passes it stands for
            if (with_add) CPU->add_channel_forward(ys, ys, add, B, OC, (int)HW);
            const float *y = ys;
            if (with_gain) {
                CPU->channel_scale(ss, in_place ? ss : base, ys, gain, B, OC, (int)HW, 0);
                y = ss;
            }
            if (with_act) CPU->lrelu_forward(as, y, ny, 0.2f);
            char what[64];
            snprintf(what, sizeof what, "epilogue add %d gain %d act %d%s", with_add, with_gain,
                     with_act, in_place ? " (in place)" : "");
            const double atol = conv_atol(&d, IC, OC, yr, ny);
            cmp("conv2d", what, yr, yc, ny, atol, SUM_RTOL);
            cmp("conv2d", "... out = the separate passes", ys, yc, ny, 0.0, 0.0);
            if (with_gain) {
                cmp("conv2d", "... sum", sr, sc, ny, 2 * atol, SUM_RTOL);
                cmp("conv2d", "... sum = the separate passes", ss, sc, ny, 0.0, 0.0);
            }
            if (with_act) {
                cmp("conv2d", "... act", ar, ac, ny, 2 * atol, SUM_RTOL);
                cmp("conv2d", "... act = the separate passes", as, ac, ny, 0.0, 0.0);
            }
            float *f[9] = {yc, yr, ys, sc, sr, ss, ac, ar, as};
            free_all(f, 9);
        }
        float *f[3] = {add, gain, base};
        free_all(f, 3);
    }
    { // the written input gradient: garbage in dinp first, against ref and against += from 0
        float *gc = rnd(nx, -9, 9), *gr = rnd(nx, -9, 9), *gz = rnd(nx, 0, 0);
        for (size_t i = 0; i < nx; i += 7)
            gc[i] = NAN;
        CPU->conv2d_input_grad(gc, r, w, NULL, &d, &a);
        REF->conv2d_input_grad(gr, r, w, NULL, &d, &a);
        CPU->conv2d_backward(gz, NULL, NULL, r, x, w, &d, &a);
        cmp("conv2d", "dinp written", gr, gc, nx, conv_atol(&d, OC, IC, gr, nx), SUM_RTOL);
        cmp("conv2d", "dinp written = += from zero", gz, gc, nx, 0.0, 0.0);
        // LeakyReLU's backward folded in: the same bytes as the separate pass, with and
        // without the added branch, and against ref.
        float *at = rnd(nx, -1, 1), *add = rnd(nx, -1, 1);
        for (int with_add = 0; with_add < 2; with_add++) {
            const cdrl_lrelu_grad act = {at, with_add ? add : NULL, 0.2f};
            float *fc = rnd(nx, -9, 9), *fr = rnd(nx, -9, 9), *sep = dup(gc, nx);
            CPU->conv2d_input_grad(fc, r, w, &act, &d, &a);
            REF->conv2d_input_grad(fr, r, w, &act, &d, &a);
            CPU->lrelu_backward_set(sep, sep, at, act.add, nx, act.slope);
            cmp("conv2d", with_add ? "dinp with lrelu grad + add" : "dinp with lrelu grad", fr, fc,
                nx, conv_atol(&d, OC, IC, fr, nx), SUM_RTOL);
            cmp("conv2d", "... = the separate pass", sep, fc, nx, 0.0, 0.0);
            float *f[3] = {fc, fr, sep};
            free_all(f, 3);
        }
        float *f[5] = {gc, gr, gz, at, add};
        free_all(f, 5);
    }
    const int masks[4] = {7, 4, 2, 1};
    for (int m = 0; m < 4; m++) {
        float *dxc = dup(dx0, nx), *dxr = dup(dx0, nx), *dwc = dup(dw0, nw), *dwr = dup(dw0, nw);
        float *dbc = dup(db0, (size_t)OC), *dbr = dup(db0, (size_t)OC);
        const int gi = masks[m] & 4, gw = masks[m] & 2, gb = masks[m] & 1;
        CPU->conv2d_backward(gi ? dxc : NULL, gw ? dwc : NULL, gb ? dbc : NULL, r, x, w, &d, &a);
        REF->conv2d_backward(gi ? dxr : NULL, gw ? dwr : NULL, gb ? dbr : NULL, r, x, w, &d, &a);
        char what[64];
        snprintf(what, sizeof what, "dinp (mask %d)", masks[m]);
        cmp("conv2d", what, dxr, dxc, nx, conv_atol(&d, OC, IC, dxr, nx), SUM_RTOL);
        snprintf(what, sizeof what, "dw (mask %d)", masks[m]);
        cmp("conv2d", what, dwr, dwc, nw, dw_atol(&d, dwr, nw), SUM_RTOL);
        snprintf(what, sizeof what, "db (mask %d)", masks[m]);
        cmp("conv2d", what, dbr, dbc, (size_t)OC, SUM_ATOL, SUM_RTOL);
        float *f[6] = {dxc, dxr, dwc, dwr, dbc, dbr};
        free_all(f, 6);
    }
    cdrl_arena_deinit(&a);
    float *f[8] = {x, w, b, r, y0, dx0, dw0, db0};
    free_all(f, 8);
}

// ---------------------------------------------------------------------------------------
// Pooling and upsampling: the same sums in the same order, exact. Odd sizes drop the last
// row or column in pooling (floor mode): its gradient stays what it was.
static void test_resample_case(int BC, int H, int W) {
    printf("avgpool2 / upsample2 BC %d H %d W %d\n", BC, H, W);
    const size_t n = (size_t)BC * H * W, np = (size_t)BC * (H / 2) * (W / 2), nu = 4 * n;
    float *x = rnd(n, -2, 2), *rp = rnd(np, -1, 1), *ru = rnd(nu, -1, 1), *g0 = rnd(n, -1, 1);
    float *pc = rnd(np, -9, 9), *pr = dup(pc, np), *uc = rnd(nu, -9, 9), *ur = dup(uc, nu);
    float *dc = dup(g0, n), *dr = dup(g0, n);
    CPU->avgpool2_forward(pc, x, BC, H, W);
    REF->avgpool2_forward(pr, x, BC, H, W);
    cmp("avgpool2", "out", pr, pc, np, 0.0, 0.0);
    CPU->avgpool2_backward(dc, rp, BC, H, W);
    REF->avgpool2_backward(dr, rp, BC, H, W);
    cmp("avgpool2", "dinp +=", dr, dc, n, 0.0, 0.0);
    { // written: the bytes of += into zeros (-0 included), garbage in dinp first, odd sizes
        float *sc = rnd(n, -9, 9), *sr = rnd(n, -9, 9), *z = rnd(n, 0, 0);
        rp[0] = -0.0f;
        CPU->avgpool2_backward_set(sc, rp, BC, H, W);
        REF->avgpool2_backward_set(sr, rp, BC, H, W);
        CPU->avgpool2_backward(z, rp, BC, H, W);
        cmp("avgpool2", "dinp written", sr, sc, n, 0.0, 0.0);
        CHECK(memcmp(sc, z, n * sizeof(float)) == 0, "avgpool2: written != += into zeros");
        float *f[3] = {sc, sr, z};
        free_all(f, 3);
    }
    if (H % 2 || W % 2) {
        // The dropped row and column are left as they were.
        size_t moved = 0;
        for (int c = 0; c < BC; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    const size_t k = ((size_t)c * H + (size_t)i) * W + (size_t)j;
                    if ((i == H - 1 && H % 2) || (j == W - 1 && W % 2)) moved += dr[k] != g0[k];
                }
        CHECK(moved == 0, "avgpool2 ref: %zu dropped inputs got a gradient", moved);
    }
    CPU->upsample2_forward(uc, x, BC, H, W);
    REF->upsample2_forward(ur, x, BC, H, W);
    cmp("upsample2", "out", ur, uc, nu, 0.0, 0.0);
    memcpy(dc, g0, n * sizeof(float));
    memcpy(dr, g0, n * sizeof(float));
    CPU->upsample2_backward(dc, ru, BC, H, W);
    REF->upsample2_backward(dr, ru, BC, H, W);
    cmp("upsample2", "dinp +=", dr, dc, n, 0.0, 0.0);
    float *f[10] = {x, rp, ru, g0, pc, pr, uc, ur, dc, dr};
    free_all(f, 10);
}

// A written (_set) backward form against the accumulating one: garbage in dinp first, then
// the cpu's written bytes must be those of its += into zeros (-0 included), and the ref's
// written form must match the ref's += into zeros.
static void check_written(const char *op, const float *set_cpu, const float *add_cpu_zero,
                          const float *set_ref, size_t n, double atol, double rtol) {
    char what[64];
    snprintf(what, sizeof what, "dinp written");
    cmp(op, what, set_ref, set_cpu, n, atol, rtol);
    CHECK(memcmp(set_cpu, add_cpu_zero, n * sizeof(float)) == 0, "%s: written != += into zeros",
          op);
}

// ---------------------------------------------------------------------------------------
// Activations on values in [-6, 6] with exact zeros (the kinks) and far tails (+-100), both
// out of place and in place. LeakyReLU and ReLU are exact; the cpu SiLU uses its own
// polynomial exp (1-2 ulp), hence 1e-7 abs + 1e-6 rel there, and 5e-7 abs for the gradient,
// which is added to O(1) values: a few of their ulps, whatever is left after cancellation.
static void test_activations(size_t n) {
    printf("activations n %zu\n", n);
    float *x = rnd(n, -6, 6), *r = rnd(n, -1, 1), *g0 = rnd(n, -1, 1);
    for (size_t i = 0; i < n; i += 17)
        x[i] = 0.0f;
    x[1] = 100.0f, x[2] = -100.0f, x[3] = 40.0f, x[4] = -40.0f;
    const char *names[3] = {"lrelu", "relu", "silu"};
    for (int k = 0; k < 3; k++) {
        const double atol = k == 2 ? 1e-7 : 0.0, rtol = k == 2 ? 1e-6 : 0.0;
        float *yc = rnd(n, -9, 9), *yr = dup(yc, n), *ic = dup(x, n), *ir = dup(x, n);
        float *dc = dup(g0, n), *dr = dup(g0, n);
        if (k == 0) {
            CPU->lrelu_forward(yc, x, n, 0.2f), REF->lrelu_forward(yr, x, n, 0.2f);
            CPU->lrelu_forward(ic, ic, n, 0.2f), REF->lrelu_forward(ir, ir, n, 0.2f);
            CPU->lrelu_backward(dc, r, x, n, 0.2f), REF->lrelu_backward(dr, r, x, n, 0.2f);
        } else if (k == 1) {
            CPU->relu_forward(yc, x, n), REF->relu_forward(yr, x, n);
            CPU->relu_forward(ic, ic, n), REF->relu_forward(ir, ir, n);
            CPU->relu_backward(dc, r, x, n), REF->relu_backward(dr, r, x, n);
        } else {
            CPU->silu_forward(yc, x, n), REF->silu_forward(yr, x, n);
            CPU->silu_forward(ic, ic, n), REF->silu_forward(ir, ir, n);
            CPU->silu_backward(dc, r, x, n), REF->silu_backward(dr, r, x, n);
        }
        cmp(names[k], "out", yr, yc, n, atol, rtol);
        cmp(names[k], "out (in place)", ir, ic, n, atol, rtol);
        cmp(names[k], "dinp +=", dr, dc, n, k == 2 ? 5e-7 : 0.0, rtol);
        if (k == 2) { // the written form
            float *sc = rnd(n, -9, 9), *sr = rnd(n, -9, 9), *z = rnd(n, 0, 0);
            CPU->silu_backward_set(sc, r, x, n), REF->silu_backward_set(sr, r, x, n);
            CPU->silu_backward(z, r, x, n);
            check_written(names[k], sc, z, sr, n, 5e-7, rtol);
            float *f[3] = {sc, sr, z};
            free_all(f, 3);
        }
        if (k == 0) { // the written form, with and without the added gradient
            for (int with_add = 0; with_add < 2; with_add++) {
                float *sc = rnd(n, -9, 9), *sr = dup(sc, n);
                CPU->lrelu_backward_set(sc, r, x, with_add ? g0 : NULL, n, 0.2f);
                REF->lrelu_backward_set(sr, r, x, with_add ? g0 : NULL, n, 0.2f);
                cmp(names[k], with_add ? "dinp = (+ add)" : "dinp =", sr, sc, n, 0.0, 0.0);
                for (size_t i = 0; i < n; i++) { // against the accumulating form from zero
                    const float want = (x[i] > 0.0f ? r[i] : r[i] * 0.2f) + (with_add ? g0[i] : 0);
                    if (sc[i] != want) {
                        CHECK(0, "lrelu_backward_set[%zu] %g, want %g", i, (double)sc[i],
                              (double)want);
                        break;
                    }
                }
                cdrl_free(sc), cdrl_free(sr);
            }
        }
        float *f[6] = {yc, yr, ic, ir, dc, dr};
        free_all(f, 6);
    }
    float *f[3] = {x, r, g0};
    free_all(f, 3);
}

// ---------------------------------------------------------------------------------------
// Group norm; offset is added to the inputs (a mean far from 0), and the pair case (2 values
// per group, the toy initializer's) has dx ~ 0 after cancellation, hence its atol.
static void test_groupnorm_case(int B, int C, int HW, int G, float offset) {
    printf("groupnorm B %d C %d HW %d G %d offset %g\n", B, C, HW, G, (double)offset);
    const size_t n = (size_t)B * C * HW, nbg = (size_t)B * G;
    float *x = rnd(n, -2, 2), *gamma = rnd((size_t)C, 0.5f, 1.5f), *beta = rnd((size_t)C, -1, 1);
    float *r = rnd(n, -1, 1), *g0 = rnd(n, -1, 1), *dg0 = rnd((size_t)C, -1, 1);
    float *db0 = rnd((size_t)C, -1, 1);
    for (size_t i = 0; i < n; i++)
        x[i] += offset;
    float *yc = test_floats(n), *yr = test_floats(n), *mc = test_floats(nbg),
          *mr = test_floats(nbg);
    float *sc = test_floats(nbg), *sr = test_floats(nbg);
    CPU->groupnorm_forward(yc, mc, sc, x, gamma, beta, B, C, HW, G, 1e-6f);
    REF->groupnorm_forward(yr, mr, sr, x, gamma, beta, B, C, HW, G, 1e-6f);
    cmp("groupnorm", "out", yr, yc, n, 1e-6, 1e-6);
    cmp("groupnorm", "mean", mr, mc, nbg, 1e-7, 1e-6);
    cmp("groupnorm", "rstd", sr, sc, nbg, 1e-7, 1e-6);
    const int masks[4] = {7, 4, 3, 1};
    for (int m = 0; m < 4; m++) {
        float *dxc = dup(g0, n), *dxr = dup(g0, n), *dgc = dup(dg0, (size_t)C),
              *dgr = dup(dg0, (size_t)C);
        float *dbc = dup(db0, (size_t)C), *dbr = dup(db0, (size_t)C);
        const int gi = masks[m] & 4, gg = masks[m] & 2, gb = masks[m] & 1;
        // Both from the cpu's saved mean and rstd, so that only the backward differs.
        CPU->groupnorm_backward(gi ? dxc : NULL, gg ? dgc : NULL, gb ? dbc : NULL, r, x, mc, sc,
                                gamma, B, C, HW, G);
        REF->groupnorm_backward(gi ? dxr : NULL, gg ? dgr : NULL, gb ? dbr : NULL, r, x, mc, sc,
                                gamma, B, C, HW, G);
        char what[64];
        snprintf(what, sizeof what, "dinp (mask %d)", masks[m]);
        cmp("groupnorm", what, dxr, dxc, n, SUM_ATOL, SUM_RTOL);
        snprintf(what, sizeof what, "dgamma (mask %d)", masks[m]);
        cmp("groupnorm", what, dgr, dgc, (size_t)C, SUM_ATOL, SUM_RTOL);
        snprintf(what, sizeof what, "dbeta (mask %d)", masks[m]);
        cmp("groupnorm", what, dbr, dbc, (size_t)C, SUM_ATOL, SUM_RTOL);
        float *f[6] = {dxc, dxr, dgc, dgr, dbc, dbr};
        free_all(f, 6);
    }
    { // the written form: dinp set, dgamma and dbeta still added to
        float *wc = rnd(n, -9, 9), *wr = rnd(n, -9, 9), *wz = rnd(n, 0, 0);
        float *dgc = dup(dg0, (size_t)C), *dgr = dup(dg0, (size_t)C), *dgz = dup(dg0, (size_t)C);
        CPU->groupnorm_backward_set(wc, dgc, NULL, r, x, mc, sc, gamma, B, C, HW, G);
        REF->groupnorm_backward_set(wr, dgr, NULL, r, x, mc, sc, gamma, B, C, HW, G);
        CPU->groupnorm_backward(wz, dgz, NULL, r, x, mc, sc, gamma, B, C, HW, G);
        check_written("groupnorm", wc, wz, wr, n, SUM_ATOL, SUM_RTOL);
        cmp("groupnorm", "dgamma (written dinp)", dgr, dgc, (size_t)C, SUM_ATOL, SUM_RTOL);
        CHECK(memcmp(dgc, dgz, (size_t)C * sizeof(float)) == 0,
              "groupnorm: dgamma of the written form differs");
        float *f[6] = {wc, wr, wz, dgc, dgr, dgz};
        free_all(f, 6);
    }
    float *f[13] = {x, gamma, beta, r, g0, dg0, db0, yc, yr, mc, mr, sc, sr};
    free_all(f, 13);
}

// ---------------------------------------------------------------------------------------
// Dropout: the same rng state must give the same mask, the same outputs and leave the same
// state behind; p = 0 copies and draws nothing.
static void test_dropout(size_t n) {
    printf("dropout n %zu\n", n);
    float *x = rnd(n, -1, 1), *r = rnd(n, -1, 1), *g0 = rnd(n, -1, 1);
    const float ps[2] = {0.1f, 0.0f};
    for (int k = 0; k < 2; k++) {
        float *yc = test_floats(n), *yr = test_floats(n), *mc = test_floats(n),
              *mr = test_floats(n);
        cdrl_rng rc, rr;
        cdrl_rng_init(&rc, 42, 3);
        cdrl_rng_init(&rr, 42, 3);
        CPU->dropout_forward(yc, mc, x, n, ps[k], &rc);
        REF->dropout_forward(yr, mr, x, n, ps[k], &rr);
        const char *op = k ? "dropout p 0" : "dropout p 0.1";
        cmp(op, "mask", mr, mc, n, 0.0, 0.0);
        cmp(op, "out", yr, yc, n, 0.0, 0.0);
        CHECK(rc.key == rr.key && rc.stream == rr.stream && rc.counter == rr.counter,
              "%s: rng state after differs (counter cpu %llu ref %llu)", op,
              (unsigned long long)rc.counter, (unsigned long long)rr.counter);
        float *dc = dup(g0, n), *dr = dup(g0, n);
        CPU->dropout_backward(dc, r, mc, n);
        REF->dropout_backward(dr, r, mc, n);
        cmp(op, "dinp +=", dr, dc, n, 0.0, 0.0);
        { // the written form
            float *wc = rnd(n, -9, 9), *wr = rnd(n, -9, 9), *wz = rnd(n, 0, 0);
            CPU->dropout_backward_set(wc, r, mc, n);
            REF->dropout_backward_set(wr, r, mc, n);
            CPU->dropout_backward(wz, r, mc, n);
            check_written(op, wc, wz, wr, n, 0.0, 0.0);
            float *w[3] = {wc, wr, wz};
            free_all(w, 3);
        }
        float *f[6] = {yc, yr, mc, mr, dc, dr};
        free_all(f, 6);
    }
    float *f[3] = {x, r, g0};
    free_all(f, 3);
}

// ---------------------------------------------------------------------------------------
// Spectral norm: two train-mode forwards (power iterations), an eval-mode one, the backward.
static void test_spectral_norm(int OC, int IN) {
    printf("spectral norm OC %d IN %d\n", OC, IN);
    const size_t nw = (size_t)OC * IN;
    float *w = rnd(nw, -1, 1), *uc = rnd((size_t)OC, -1, 1), *vc = rnd((size_t)IN, -1, 1);
    float *ur = dup(uc, (size_t)OC), *vr = dup(vc, (size_t)IN);
    float *wc = test_floats(nw), *wr = test_floats(nw), sc = 0, sr = 0;
    for (int it = 0; it < 3; it++) {
        const int train = it < 2;
        CPU->spectral_norm_forward(wc, &sc, uc, vc, w, OC, IN, train);
        REF->spectral_norm_forward(wr, &sr, ur, vr, w, OC, IN, train);
        const char *op = it == 0 ? "sn train 1" : it == 1 ? "sn train 2" : "sn eval";
        cmp(op, "u", ur, uc, (size_t)OC, 1e-6, 1e-5);
        cmp(op, "v", vr, vc, (size_t)IN, 1e-6, 1e-5);
        cmp(op, "sigma", &sr, &sc, 1, 1e-6, 1e-5);
        cmp(op, "w_sn", wr, wc, nw, 1e-6, 1e-5);
    }
    float *dwsn = rnd(nw, -1, 1), *dc = rnd(nw, -1, 1), *dr = dup(dc, nw);
    CPU->spectral_norm_backward(dc, dwsn, w, uc, vc, sc, OC, IN);
    REF->spectral_norm_backward(dr, dwsn, w, uc, vc, sc, OC, IN);
    cmp("sn", "dw +=", dr, dc, nw, SUM_ATOL, SUM_RTOL);
    float *f[10] = {w, uc, vc, ur, vr, wc, wr, dwsn, dc, dr};
    free_all(f, 10);
}

// ---------------------------------------------------------------------------------------
// Noise-level embedding at tau up to 1000: both form the float32 angle; their exp of the
// frequencies may differ by an ulp, which moves an angle by tau ulp(w) <= 6e-5.
static void test_embedding(int B, int D) {
    printf("timestep embedding B %d D %d\n", B, D);
    const size_t n = (size_t)B * D;
    float *tau = rnd((size_t)B, 0, 1000), *r = rnd(n, -1, 1), *g0 = rnd((size_t)B, -1, 1);
    tau[0] = 0.0f, tau[1] = 3.5f;
    float *yc = test_floats(n), *yr = test_floats(n);
    CPU->timestep_embedding_forward(yc, tau, B, D);
    REF->timestep_embedding_forward(yr, tau, B, D);
    cmp("embedding", "out", yr, yc, n, 1e-4, 0.0);
    float *dc = dup(g0, (size_t)B), *dr = dup(g0, (size_t)B);
    CPU->timestep_embedding_backward(dc, r, tau, B, D);
    REF->timestep_embedding_backward(dr, r, tau, B, D);
    cmp("embedding", "dtau +=", dr, dc, (size_t)B, 4e-4, 1e-5);
    float *f[7] = {tau, r, g0, yc, yr, dc, dr};
    free_all(f, 7);
}

// ---------------------------------------------------------------------------------------
static void test_attention(int B, int C, int N) {
    printf("attention B %d C %d N %d\n", B, C, N);
    CHECK(REF->attention_scratch_size(B, C, N) == 0, "ref attention scratch not 0");
    const size_t nq = (size_t)B * 3 * C * N, no = (size_t)B * C * N, np = (size_t)B * N * N;
    float *qkv = rnd(nq, -2, 2), *r = rnd(no, -1, 1), *g0 = rnd(nq, -1, 1);
    float *oc = test_floats(no), *orf = test_floats(no), *pc = test_floats(np),
          *pr = test_floats(np);
    cdrl_arena a = arena_of(CPU->attention_scratch_size(B, C, N));
    CPU->attention_forward(oc, pc, qkv, B, C, N, &a);
    REF->attention_forward(orf, pr, qkv, B, C, N, &a);
    cmp("attention", "out", orf, oc, no, SUM_ATOL, SUM_RTOL);
    cmp("attention", "probs", pr, pc, np, 1e-6, 1e-5);
    float *dc = dup(g0, nq), *dr = dup(g0, nq);
    CPU->attention_backward(dc, r, pc, qkv, B, C, N, &a);
    REF->attention_backward(dr, r, pc, qkv, B, C, N, &a);
    cmp("attention", "dqkv +=", dr, dc, nq, SUM_ATOL, SUM_RTOL);
    cdrl_arena_deinit(&a);
    float *f[9] = {qkv, r, g0, oc, orf, pc, pr, dc, dr};
    free_all(f, 9);
}

// ---------------------------------------------------------------------------------------
// Concatenation, spatial sum, per-channel add.
static void test_tensor_ops(int B, int Ca, int Cb, int HW) {
    printf("concat / spatial_sum / add_channel B %d Ca %d Cb %d HW %d\n", B, Ca, Cb, HW);
    const size_t na = (size_t)B * Ca * HW, nb = (size_t)B * Cb * HW, no = na + nb;
    float *a = rnd(na, -1, 1), *b = rnd(nb, -1, 1), *r = rnd(no, -1, 1);
    float *ga = rnd(na, -1, 1), *gb = rnd(nb, -1, 1);
    float *yc = test_floats(no), *yr = test_floats(no);
    CPU->concat_forward(yc, a, b, B, Ca, Cb, HW);
    REF->concat_forward(yr, a, b, B, Ca, Cb, HW);
    cmp("concat", "out", yr, yc, no, 0.0, 0.0);
    for (int m = 0; m < 3; m++) { // both, da NULL, db NULL
        float *dac = dup(ga, na), *dar = dup(ga, na), *dbc = dup(gb, nb), *dbr = dup(gb, nb);
        CPU->concat_backward(m == 1 ? NULL : dac, m == 2 ? NULL : dbc, r, B, Ca, Cb, HW);
        REF->concat_backward(m == 1 ? NULL : dar, m == 2 ? NULL : dbr, r, B, Ca, Cb, HW);
        cmp("concat", m == 1 ? "da (untouched)" : "da +=", dar, dac, na, 0.0, 0.0);
        cmp("concat", m == 2 ? "db (untouched)" : "db +=", dbr, dbc, nb, 0.0, 0.0);
        float *f[4] = {dac, dar, dbc, dbr};
        free_all(f, 4);
    }
    // Spatial sum and the per-channel add over a's (B, Ca, HW).
    const size_t nc = (size_t)B * Ca;
    float *sc = test_floats(nc), *sr = test_floats(nc), *e = rnd(nc, -1, 1);
    CPU->spatial_sum_forward(sc, a, B, Ca, HW);
    REF->spatial_sum_forward(sr, a, B, Ca, HW);
    cmp("spatial_sum", "out", sr, sc, nc, 1e-6, 1e-6);
    float *dc = dup(ga, na), *dr = dup(ga, na);
    CPU->spatial_sum_backward(dc, e, B, Ca, HW);
    REF->spatial_sum_backward(dr, e, B, Ca, HW);
    cmp("spatial_sum", "dinp +=", dr, dc, na, 0.0, 0.0);
    float *ac = test_floats(na), *ar = test_floats(na), *ic = dup(a, na), *ir = dup(a, na);
    CPU->add_channel_forward(ac, a, e, B, Ca, HW);
    REF->add_channel_forward(ar, a, e, B, Ca, HW);
    cmp("add_channel", "out", ar, ac, na, 0.0, 0.0);
    CPU->add_channel_forward(ic, ic, e, B, Ca, HW);
    REF->add_channel_forward(ir, ir, e, B, Ca, HW);
    cmp("add_channel", "out (in place)", ir, ic, na, 0.0, 0.0);
    float *ec = dup(e, nc), *er = dup(e, nc);
    CPU->add_channel_backward(ec, ga, B, Ca, HW);
    REF->add_channel_backward(er, ga, B, Ca, HW);
    cmp("add_channel", "dadd +=", er, ec, nc, 1e-6, 1e-6);
    float *f[18] = {a, b, r, ga, gb, yc, yr, sc, sr, e, dc, dr, ac, ar, ic, ir, ec, er};
    free_all(f, 18);
}

// ---------------------------------------------------------------------------------------
// Buffers and element-wise glue: the same float expression on both, exact. The in-place
// forms (out = x) are run too where ops.h allows them.
static void test_elementwise(int B, int D) {
    printf("buffers / element-wise glue B %d D %d\n", B, D);
    const size_t n = (size_t)B * D;
    float *x = rnd(n, -3, 3), *z = rnd(n, -3, 3), *base = rnd(n, -3, 3);
    float *ca = rnd((size_t)B, -2, 2), *cb = rnd((size_t)B, -2, 2), *cd = rnd((size_t)B, 0.5f, 2);
    float *yc = rnd(n, -9, 9), *yr = dup(yc, n);

    CPU->zero(yc, n), REF->zero(yr, n);
    cmp("zero", "x", yr, yc, n, 0.0, 0.0);
    CPU->copy(yc, x, n), REF->copy(yr, x, n);
    cmp("copy", "dst", yr, yc, n, 0.0, 0.0);
    CPU->add_into(yc, z, n), REF->add_into(yr, z, n);
    cmp("add_into", "y", yr, yc, n, 0.0, 0.0);
    CPU->mul_into(yc, z, n), REF->mul_into(yr, z, n);
    cmp("mul_into", "y", yr, yc, n, 0.0, 0.0);
    CPU->scale(yc, x, 0.37f, n), REF->scale(yr, x, 0.37f, n);
    cmp("scale", "out", yr, yc, n, 0.0, 0.0);
    CPU->scale(yc, yc, -1.7f, n), REF->scale(yr, yr, -1.7f, n);
    cmp("scale", "out (in place)", yr, yc, n, 0.0, 0.0);
    CPU->rows_axpby(yc, ca, x, cb, z, B, D), REF->rows_axpby(yr, ca, x, cb, z, B, D);
    cmp("rows_axpby", "out", yr, yc, n, 0.0, 0.0);
    CPU->rows_scale(yc, ca, x, B, D), REF->rows_scale(yr, ca, x, B, D);
    cmp("rows_scale", "out", yr, yc, n, 0.0, 0.0);
    CPU->rows_scale(yc, cb, yc, B, D), REF->rows_scale(yr, cb, yr, B, D);
    cmp("rows_scale", "out (in place)", yr, yc, n, 0.0, 0.0);
    CPU->rows_add_scaled(yc, base, ca, x, B, D), REF->rows_add_scaled(yr, base, ca, x, B, D);
    cmp("rows_add_scaled", "out", yr, yc, n, 0.0, 0.0);
    CPU->rows_add_scaled(yc, yc, cb, z, B, D), REF->rows_add_scaled(yr, yr, cb, z, B, D);
    cmp("rows_add_scaled", "out (in place)", yr, yc, n, 0.0, 0.0);
    CPU->rows_divide(yc, x, cd, B, D), REF->rows_divide(yr, x, cd, B, D);
    cmp("rows_divide", "out", yr, yc, n, 0.0, 0.0);
    CPU->rows_divide(yc, yc, cd, B, D), REF->rows_divide(yr, yr, cd, B, D);
    cmp("rows_divide", "out (in place)", yr, yc, n, 0.0, 0.0);
    CPU->guidance_mix(yc, z, 1.5f, n), REF->guidance_mix(yr, z, 1.5f, n);
    cmp("guidance_mix", "y", yr, yc, n, 0.0, 0.0);
    CPU->tweedie_step(yc, z, 0.3f, 1.25f, n), REF->tweedie_step(yr, z, 0.3f, 1.25f, n);
    cmp("tweedie_step", "x", yr, yc, n, 0.0, 0.0);
    CPU->axpy(yc, -0.7f, x, n), REF->axpy(yr, -0.7f, x, n);
    cmp("axpy", "y", yr, yc, n, 0.0, 0.0);
    for (size_t i = 0; i < n; i++) // a mask of about one value in three, 0 elsewhere
        base[i] = (i * 7919u) % 3 == 0 ? 1.0f : 0.0f;
    float *before = dup(yc, n);
    CPU->masked_set(yc, z, base, n), REF->masked_set(yr, z, base, n);
    cmp("masked_set", "y", yr, yc, n, 0.0, 0.0);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += memcmp(&yc[i], base[i] != 0.0f ? &z[i] : &before[i], sizeof(float)) != 0;
    CHECK(wrong == 0, "masked_set: %zu values are not the known (masked) or old ones", wrong);
    cdrl_free(before);
    float *f[8] = {x, z, base, ca, cb, cd, yc, yr};
    free_all(f, 8);
}

// ---------------------------------------------------------------------------------------
// Langevin update: with and without clamped rows, the in-range flag true, false by size and
// false by NaN (whose row is or is not clamped).
static void test_langevin(int B, int D) {
    printf("langevin_update B %d D %d\n", B, D);
    const size_t n = (size_t)B * D;
    float *y0 = rnd(n, -1.2f, 1.2f), *grad = rnd(n, -0.1f, 0.1f), *anc = rnd(n, -1, 1);
    float *z = rnd(n, -2, 2), *tether = rnd((size_t)B, 0, 0.2f), *nstd = rnd((size_t)B, 0, 0.3f);
    int *clamp = cdrl_calloc((size_t)B * sizeof(int));
    for (int k = 0; k < B; k++)
        clamp[k] = k % 2;
    // case 0: no clamp; 1: clamped rows; 2: one value beyond chain_bound; 3: NaN in an
    // unclamped row; 4: NaN in a clamped row (found before the clamp turns it into -bound).
    for (int c = 0; c < 5; c++) {
        float *yc = dup(y0, n), *yr = dup(y0, n);
        if (c == 2) yc[3] = yr[3] = 50.0f;
        if (c == 3) yc[2] = yr[2] = NAN;                         // row 0: unclamped
        if (c == 4) yc[(size_t)D + 1] = yr[(size_t)D + 1] = NAN; // row 1: clamped
        const int *cl = c == 0 ? NULL : clamp;
        const int okc = CPU->langevin_update(yc, grad, anc, z, tether, nstd, cl, 1.0f, 3.0f, B, D);
        const int okr = REF->langevin_update(yr, grad, anc, z, tether, nstd, cl, 1.0f, 3.0f, B, D);
        const int want_ok = c < 2;
        char op[32];
        snprintf(op, sizeof op, "langevin_update %d", c);
        CHECK(okc == okr && okr == want_ok, "%s: in range cpu %d ref %d, want %d", op, okc, okr,
              want_ok);
        if (c == 3) { // NaN stays NaN in both: compare the rest, then the NaN itself
            CHECK(isnan(yc[2]) && isnan(yr[2]), "%s: NaN lost", op);
            yc[2] = yr[2] = 0.0f;
        }
        cmp(op, "y", yr, yc, n, 0.0, 0.0);
        cdrl_free(yc), cdrl_free(yr);
    }
    float *f[6] = {y0, grad, anc, z, tether, nstd};
    free_all(f, 6);
    cdrl_free(clamp);
}

// ---------------------------------------------------------------------------------------
// Initializer loss, finiteness and the largest value.
static void test_loss_checks(int B, int D) {
    printf("init_loss / all_finite / max_abs B %d D %d\n", B, D);
    const size_t n = (size_t)B * D;
    float *yn = rnd(n, -2, 2), *yp = rnd(n, -2, 2), *y0 = rnd(n, -2, 2);
    const float as[2] = {0.0f, 0.25f};
    for (int k = 0; k < 2; k++) {
        float *dc = rnd(n, -9, 9), *dr = dup(dc, n);
        const double lc = CPU->init_loss(dc, yn, yp, y0, as[k], B, n);
        const double lr = REF->init_loss(dr, yn, yp, y0, as[k], B, n);
        cmp("init_loss", k ? "dmu (a 0.25)" : "dmu (a 0)", dr, dc, n, 0.0, 0.0);
        CHECK(fabs(lc - lr) <= 1e-12 * fabs(lr), "init_loss: cpu %.17g ref %.17g", lc, lr);
        cdrl_free(dc), cdrl_free(dr);
    }
    // Finite, then an Inf, then a NaN (and a -Inf before it: max_abs must still say NaN).
    float *x = rnd(n, -5, 5);
    x[n / 2] = -7.5f;
    for (int c = 0; c < 3; c++) {
        if (c == 1) x[n - 3] = -INFINITY;
        if (c == 2) x[n - 2] = NAN;
        const int fc = CPU->all_finite(x, n), fr = REF->all_finite(x, n);
        CHECK(fc == fr && fr == (c == 0), "all_finite case %d: cpu %d ref %d", c, fc, fr);
        const float mc = CPU->max_abs(x, n), mr = REF->max_abs(x, n);
        const float want = c == 0 ? 7.5f : c == 1 ? INFINITY : NAN;
        CHECK(c == 2 ? isnan(mc) && isnan(mr) : mc == want && mr == want,
              "max_abs case %d: cpu %g ref %g, want %g", c, (double)mc, (double)mr, (double)want);
    }
    x[0] = NAN; // NaN first
    CHECK(isnan(CPU->max_abs(x, n)) && isnan(REF->max_abs(x, n)), "max_abs: leading NaN lost");
    float *f[4] = {yn, yp, y0, x};
    free_all(f, 4);
}

// ---------------------------------------------------------------------------------------
// Network glue.
static void test_network_glue(int B, int C, int HW) {
    printf("network glue B %d C %d HW %d\n", B, C, HW);
    const size_t n = (size_t)B * C * HW;
    float *x = rnd(n, -2, 2), *base = rnd(n, -2, 2), *g = rnd((size_t)C, -1, 1);
    float *o0 = rnd(n, -2, 2);
    const char *modes[3] = {"base", "accumulate", "assign"};
    for (int m = 0; m < 3; m++) {
        float *oc = dup(o0, n), *orf = dup(o0, n);
        const float *bs = m == 0 ? base : NULL;
        CPU->channel_scale(oc, bs, x, g, B, C, HW, m == 1);
        REF->channel_scale(orf, bs, x, g, B, C, HW, m == 1);
        cmp("channel_scale", modes[m], orf, oc, n, 0.0, 0.0);
        cdrl_free(oc), cdrl_free(orf);
    }
    float *dgc = rnd((size_t)C, -1, 1), *dgr = dup(dgc, (size_t)C);
    CPU->channel_dot(dgc, x, base, B, C, HW);
    REF->channel_dot(dgr, x, base, B, C, HW);
    cmp("channel_dot", "dg +=", dgr, dgc, (size_t)C, 1e-6, 1e-6);

    // Rows of a table (L, C), indices with repeats so that scatter adds several rows into one.
    const int L = 4;
    float *table = rnd((size_t)L * C, -1, 1), *rows = rnd((size_t)B * C, -1, 1);
    int *idx = cdrl_calloc((size_t)B * sizeof(int));
    for (int k = 0; k < B; k++)
        idx[k] = (k * 3) % L;
    for (int acc = 0; acc < 2; acc++) {
        float *oc = dup(rows, (size_t)B * C), *orf = dup(rows, (size_t)B * C);
        CPU->gather_rows(oc, table, idx, B, C, acc);
        REF->gather_rows(orf, table, idx, B, C, acc);
        cmp("gather_rows", acc ? "accumulate" : "assign", orf, oc, (size_t)B * C, 0.0, 0.0);
        cdrl_free(oc), cdrl_free(orf);
    }
    float *tc = dup(table, (size_t)L * C), *tr = dup(table, (size_t)L * C);
    CPU->scatter_rows(tc, rows, idx, B, C);
    REF->scatter_rows(tr, rows, idx, B, C);
    cmp("scatter_rows", "dtable +=", tr, tc, (size_t)L * C, 0.0, 0.0);

    // One-hot class columns: w (E, NC), labels with repeats; one attribute, then two (their
    // columns summed).
    const int E = C, NC = 5;
    float *w = rnd((size_t)E * NC, -1, 1), *b = rnd((size_t)E, -1, 1);
    float *d = rnd((size_t)B * E, -1, 1);
    int *label = cdrl_calloc((size_t)B * 2 * sizeof(int));
    float *cc = test_floats((size_t)B * E), *cr = test_floats((size_t)B * E);
    float *dwc = rnd((size_t)E * NC, -1, 1), *dwr = dup(dwc, (size_t)E * NC);
    float *dbc = rnd((size_t)E, -1, 1), *dbr = dup(dbc, (size_t)E);
    for (int A = 1; A <= 2; A++) {
        for (int k = 0; k < B * A; k++)
            label[k] = A == 1 ? (k * 2 + 1) % 3 : k % 2 ? 3 + (k / 2) % 2 : (k / 2) % 3;
        CPU->class_columns_forward(cc, w, b, label, 1.5f, B, A, E, NC);
        REF->class_columns_forward(cr, w, b, label, 1.5f, B, A, E, NC);
        cmp("class_columns", A == 1 ? "out" : "out, 2 attributes", cr, cc, (size_t)B * E, 0.0, 0.0);
        CPU->class_columns_backward(dwc, dbc, d, label, 1.5f, B, A, E, NC);
        REF->class_columns_backward(dwr, dbr, d, label, 1.5f, B, A, E, NC);
        cmp("class_columns", "dw +=", dwr, dwc, (size_t)E * NC, 0.0, 0.0);
        cmp("class_columns", "db +=", dbr, dbc, (size_t)E, 0.0, 0.0);
    }
    double worst = 0; // two attributes against the definition, in double
    for (int r = 0; r < B; r++)
        for (int e = 0; e < E; e++) {
            const double want = 1.5 * (double)w[e * NC + label[2 * r]] +
                                1.5 * (double)w[e * NC + label[2 * r + 1]] + (double)b[e];
            worst = fmax(worst, fabs(want - (double)cc[r * E + e]));
        }
    CHECK(worst < 1e-5, "class_columns, 2 attributes: off the definition by %.3g", worst);

    // Row dot over (B, C): a float sum in order, and the assigned backward.
    float *v = rnd((size_t)B * C, -1, 1), *q = rnd((size_t)B * C, -1, 1);
    float *df = rnd((size_t)B, -1, 1), *fc = test_floats((size_t)B), *fr = test_floats((size_t)B);
    CPU->row_dot_forward(fc, v, q, B, C);
    REF->row_dot_forward(fr, v, q, B, C);
    cmp("row_dot", "f", fr, fc, (size_t)B, 0.0, 0.0);
    float *dvc = rnd((size_t)B * C, -9, 9), *dvr = dup(dvc, (size_t)B * C);
    float *dqc = rnd((size_t)B * C, -9, 9), *dqr = dup(dqc, (size_t)B * C);
    CPU->row_dot_backward(dvc, dqc, df, v, q, B, C);
    REF->row_dot_backward(dvr, dqr, df, v, q, B, C);
    cmp("row_dot", "dv (assigned)", dvr, dvc, (size_t)B * C, 0.0, 0.0);
    cmp("row_dot", "dq (assigned)", dqr, dqc, (size_t)B * C, 0.0, 0.0);

    // FiLM: ss (B, 2C).
    float *ss = rnd((size_t)B * 2 * C, -1, 1), *yc = test_floats(n), *yr = test_floats(n);
    CPU->film_forward(yc, x, ss, B, C, HW);
    REF->film_forward(yr, x, ss, B, C, HW);
    cmp("film", "out", yr, yc, n, 0.0, 0.0);
    float *dc = dup(base, n), *dr = dup(base, n);
    float *sc = rnd((size_t)B * 2 * C, -9, 9), *sr = dup(sc, (size_t)B * 2 * C);
    CPU->film_backward(dc, sc, x, ss, B, C, HW);
    REF->film_backward(dr, sr, x, ss, B, C, HW);
    cmp("film", "d (in place)", dr, dc, n, 0.0, 0.0);
    cmp("film", "dss (assigned)", sr, sc, (size_t)B * 2 * C, 1e-6, 1e-6);

    float *f[34] = {x,   base, g,   o0,  dgc, dgr, table, rows, tc, tr, w,  b,
                    d,   cc,   cr,  dwc, dwr, dbc, dbr,   v,    q,  df, fc, fr,
                    dvc, dvr,  dqc, dqr, ss,  yc,  yr,    dc,   dr, sc};
    free_all(f, 34);
    cdrl_free(sr), cdrl_free(idx), cdrl_free(label);
}

// ---------------------------------------------------------------------------------------
// Optimiser kernels: the same float expressions (fmaf included), exact.
static void test_optim(size_t n) {
    printf("adam / clip_grad_norm / ema n %zu\n", n);
    float *w0 = rnd(n, -1, 1), *g = rnd(n, -0.1f, 0.1f);
    for (int kind = 0; kind < 3; kind++) { // Adam, Adam with L2, AdamW
        cdrl_adam_params p = {1e-3f, 0.9f, 0.999f, 1e-8f, kind ? 0.01f : 0.0f, kind == 2};
        float *pc = dup(w0, n), *pr = dup(w0, n), *mc = test_floats(n), *mr = test_floats(n);
        float *vc = test_floats(n), *vr = test_floats(n);
        for (long step = 1; step <= 3; step++) {
            CPU->adam_step(pc, mc, vc, g, n, step, &p);
            REF->adam_step(pr, mr, vr, g, n, step, &p);
        }
        const char *op = kind == 0 ? "adam" : kind == 1 ? "adam l2" : "adamw";
        cmp(op, "param (3 steps)", pr, pc, n, 0.0, 0.0);
        cmp(op, "m", mr, mc, n, 0.0, 0.0);
        cmp(op, "v", vr, vc, n, 0.0, 0.0);
        float *f[6] = {pc, pr, mc, mr, vc, vr};
        free_all(f, 6);
    }
    // Clipping: scaled (norm above max), untouched (below), NaN everywhere (a NaN gradient).
    const float max_norms[3] = {0.1f, 1e3f, 1.0f};
    for (int c = 0; c < 3; c++) {
        float *gc = dup(g, n), *gr = dup(g, n);
        if (c == 2) gc[n / 3] = gr[n / 3] = NAN;
        const float nc = CPU->clip_grad_norm(gc, n, max_norms[c]);
        const float nr = REF->clip_grad_norm(gr, n, max_norms[c]);
        const char *op = c == 0 ? "clip (scaled)" : c == 1 ? "clip (below)" : "clip (NaN)";
        if (c < 2) {
            cmp(op, "norm", &nr, &nc, 1, 0.0, 1e-6);
            cmp(op, "grad", gr, gc, n, 0.0, 1e-6);
            if (c == 1) cmp(op, "grad untouched", gr, g, n, 0.0, 0.0);
        } else {
            size_t not_nan = 0;
            for (size_t i = 0; i < n; i++)
                not_nan += !isnan(gc[i]) + !isnan(gr[i]);
            CHECK(isnan(nc) && isnan(nr) && not_nan == 0,
                  "%s: norms cpu %g ref %g, %zu gradients not NaN", op, (double)nc, (double)nr,
                  not_nan);
        }
        cdrl_free(gc), cdrl_free(gr);
    }
    float *sc = rnd(n, -1, 1), *sr = dup(sc, n);
    for (int k = 0; k < 3; k++) {
        const float dk = k == 0 ? 2.0f / 11.0f : k == 1 ? 0.9f : 0.9999f;
        CPU->ema_update(sc, w0, n, dk);
        REF->ema_update(sr, w0, n, dk);
    }
    cmp("ema_update", "shadow (3 updates)", sr, sc, n, 0.0, 0.0);
    float *f[4] = {w0, g, sc, sr};
    free_all(f, 4);
}

// ---------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------
// Sample statistics: pairwise squared distances (the same floats: each is one double sum
// rounded) and the RBF kernel sums (blocked on cpu, in order on ref: equal to 1e-12).
static void test_stats(int na, int nb, int dim) {
    printf("pair_dist2 / rbf_sum na %d nb %d dim %d\n", na, nb, dim);
    float *a = rnd((size_t)na * dim, -3, 3), *b = rnd((size_t)nb * dim, -3, 3);
    const size_t np = (size_t)na * (size_t)(na - 1) / 2;
    float *dc = rnd(np, 0, 1), *dr = rnd(np, 0, 1);
    CPU->pair_dist2(dc, a, na, dim);
    REF->pair_dist2(dr, a, na, dim);
    cmp("pair_dist2", "d2", dr, dc, np, 0.0, 0.0);
    for (int upper = 0; upper < 2; upper++) {
        const double sc = CPU->rbf_sum(a, na, upper ? a : b, upper ? na : nb, dim, 0.3, upper);
        const double sr = REF->rbf_sum(a, na, upper ? a : b, upper ? na : nb, dim, 0.3, upper);
        CHECK(fabs(sc - sr) <= 1e-12 * fabs(sr) && sr > 0, "rbf_sum upper %d: cpu %.17g ref %.17g",
              upper, sc, sr);
    }
    float *f[4] = {a, b, dc, dr};
    free_all(f, 4);
}

// Softmax cross-entropy: loss and gradient, with one large logit (the max is subtracted).
static void test_softmax_xent(int B, int K) {
    printf("softmax_xent B %d K %d\n", B, K);
    float *z = rnd((size_t)B * K, -4, 4), *gc = rnd((size_t)B * K, -1, 1),
          *gr = dup(gc, (size_t)B * K);
    z[1] = 80.0f;
    int *label = cdrl_calloc(sizeof(int) * (size_t)B);
    for (int b = 0; b < B; b++)
        label[b] = (3 * b + 1) % K;
    const double lc = CPU->softmax_xent(gc, z, label, B, K);
    const double lr = REF->softmax_xent(gr, z, label, B, K);
    CHECK(fabs(lc - lr) <= 1e-12 * fabs(lr) && lr > 0, "softmax_xent: cpu %.17g ref %.17g", lc, lr);
    cmp("softmax_xent", "dlogit", gr, gc, (size_t)B * K, 1e-7, 1e-6);
    float *f[3] = {z, gc, gr};
    free_all(f, 3);
    cdrl_free(label);
}

// Convolutions in bfloat16 precision (forward and input gradient; the weight gradient stays
// float): cpu's bf16 products against ref's exact products of the same rounded factors, and
// the difference from float, which proves the bf16 path ran. Skipped where the CPU has none.
static void test_conv_bf16(int B, int IC, int OC, int H, int W, int K) {
    printf("conv2d bf16 B %d IC %d OC %d H %d W %d K %d\n", B, IC, OC, H, W, K);
    if (!CPU->bf16_available()) {
        printf("  skip: this CPU has no AVX512_BF16 (the cpu backend keeps float)\n");
        return;
    }
    const cdrl_conv2d_desc d = {B, IC, OC, H, W, K};
    const size_t HW = (size_t)H * W, nx = (size_t)B * IC * HW, ny = (size_t)B * OC * HW;
    const size_t nw = (size_t)OC * IC * K * K;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -1, 1), *b = rnd((size_t)OC, -1, 1);
    float *r = rnd(ny, -1, 1), *dx0 = rnd(nx, -1, 1);
    cdrl_arena a = arena_of(CPU->conv2d_scratch_size(&d));
    float *yf = rnd(ny, 0, 1), *yc = rnd(ny, 0, 1), *yr = rnd(ny, 0, 1);
    float *dxf = dup(dx0, nx), *dxc = dup(dx0, nx), *dxr = dup(dx0, nx);
    CPU->conv2d_forward(yf, x, w, b, NULL, &d, &a);
    CPU->conv2d_backward(dxf, NULL, NULL, r, x, w, &d, &a);
    CHECK(CPU->set_precision(CDRL_PRECISION_BF16) == CDRL_PRECISION_F32, "cpu precision not f32");
    CHECK(REF->set_precision(CDRL_PRECISION_BF16) == CDRL_PRECISION_F32, "ref precision not f32");
    CPU->conv2d_forward(yc, x, w, b, NULL, &d, &a);
    REF->conv2d_forward(yr, x, w, b, NULL, &d, &a);
    CPU->conv2d_backward(dxc, NULL, NULL, r, x, w, &d, &a);
    REF->conv2d_backward(dxr, NULL, NULL, r, x, w, &d, &a);
    CHECK(CPU->set_precision(CDRL_PRECISION_F32) == CDRL_PRECISION_BF16, "cpu precision lost");
    CHECK(REF->set_precision(CDRL_PRECISION_F32) == CDRL_PRECISION_BF16, "ref precision lost");
    double diff = 0, norm = 0;
    for (size_t i = 0; i < ny; i++) {
        const double e = (double)yc[i] - (double)yf[i];
        diff += e * e;
        norm += (double)yf[i] * (double)yf[i];
    }
    const double rel = sqrt(diff / norm);
    // Both backends round the same products (cdrl_bf16_conv_applies): agreement to float
    // rounding of K IC exact bf16 products; where the rule says float, cpu is float exactly.
    const int fwd_bf = cdrl_bf16_conv_applies(&d, IC), bwd_bf = cdrl_bf16_conv_applies(&d, OC);
    // Where the rule says float the cpu side may take Winograd: the float sums' tolerance.
    cmp("conv2d bf16", "out", yr, yc, ny, fwd_bf ? 1e-5 : conv_atol(&d, IC, OC, yr, ny),
        fwd_bf ? 1e-5 : SUM_RTOL);
    cmp("conv2d bf16", "dinp", dxr, dxc, nx, bwd_bf ? 1e-5 : conv_atol(&d, OC, IC, dxr, nx),
        bwd_bf ? 1e-5 : SUM_RTOL);
    if (fwd_bf) {
        CHECK(rel > 1e-4 && rel < 2e-2, "bf16 forward differs from float by %.2g (want 1e-4..2e-2)",
              rel);
        printf("  ok   bf16 forward vs float: relative difference %.2g\n", rel);
    } else {
        cmp("conv2d bf16", "out = float (rule: float)", yf, yc, ny, 0.0, 0.0);
    }
    if (!bwd_bf) cmp("conv2d bf16", "dinp = float (rule: float)", dxf, dxc, nx, 0.0, 0.0);
    cdrl_arena_deinit(&a);
    float *f[11] = {x, w, b, r, dx0, yf, yc, yr, dxf, dxc, dxr};
    free_all(f, 11);
}

int main(void) {
    test_tables();
    test_linear_case(5, 7, 6, 1);
    test_linear_case(3, 4, 9, 0);
    test_linear_case(33, 300, 260, 1);
    test_conv_case(2, 3, 4, 5, 6, 3);
    test_conv_case(2, 3, 4, 5, 6, 1);
    test_conv_case(1, 2, 3, 20, 17, 3);
    test_conv_case(3, 5, 2, 1, 1, 3);
    test_conv_case(2, 8, 16, 28, 28, 3); // narrow layers on large maps: whole-image chunks
    test_conv_case(1, 6, 4, 40, 40, 3);  // ... and bands of 1024 columns
    // 1-4 channels on the input side: the direct loops (ops/cpu/conv_small.c), the first layer's
    // shape, rows wider than their 256-pixel segments, one-pixel maps
    const cdrl_conv2d_desc grey = {3, 1, 32, 32, 32, 3}, rgb = {3, 3, 32, 32, 32, 3};
    const cdrl_conv2d_desc five = {3, 5, 32, 32, 32, 3}, one_by_one = {3, 1, 32, 32, 32, 1};
    CHECK(cdrl_conv_small_applies(&grey, 1, 0) && cdrl_conv_small_applies(&grey, 1, 1) &&
              cdrl_conv_small_applies(&rgb, 3, 0) && !cdrl_conv_small_applies(&rgb, 3, 1) &&
              !cdrl_conv_small_applies(&five, 5, 0) && !cdrl_conv_small_applies(&one_by_one, 1, 0),
          "the direct loops' rule");
    test_conv_case(3, 1, 32, 32, 32, 3);
    test_conv_case(2, 3, 8, 3, 300, 3);
    test_conv_case(2, 1, 5, 4, 300, 3);
    test_conv_case(2, 4, 6, 1, 1, 3);
    // Winograd F(4x4, 3x3) on the cpu side: maps not a multiple of 4 (partial tiles), chunks
    // of several images, and bands of tile rows of one image with a short last band.
    const cdrl_conv2d_desc wd = {3, 16, 24, 30, 26, 3};
    CHECK(cdrl_wino_applies(&wd, 16, 24) && cdrl_wino_applies(&wd, 24, 16) &&
              cdrl_wino_weight_grad_applies(&wd),
          "Winograd does not take the test shapes");
    test_conv_case(3, 16, 24, 30, 26, 3);
    test_conv_case(4, 32, 16, 32, 32, 3);
    test_conv_case(1, 16, 16, 66, 37, 3);
    test_conv_case(1, 128, 128, 16, 17, 3); // Winograd forward, direct kernel gradient
    // Every 3x3 map of 3+ pixels a side from 16 channels takes Winograd: one tile per image
    // (3x3, 4x4), a partial last tile (7x7, 12x10, 14x14), chunks of several images; 2x2 maps,
    // 15 channels and 1x1 kernels take the direct path.
    CHECK(cdrl_wino_applies(&(cdrl_conv2d_desc){32, 64, 64, 8, 8, 3}, 64, 64) &&
              cdrl_wino_applies(&(cdrl_conv2d_desc){16, 64, 64, 4, 4, 3}, 64, 64) &&
              cdrl_wino_applies(&(cdrl_conv2d_desc){2, 16, 16, 3, 3, 3}, 16, 16) &&
              cdrl_wino_applies(&(cdrl_conv2d_desc){32, 64, 64, 12, 10, 3}, 64, 64) &&
              !cdrl_wino_applies(&(cdrl_conv2d_desc){8, 64, 64, 2, 2, 3}, 64, 64) &&
              !cdrl_wino_applies(&(cdrl_conv2d_desc){8, 15, 64, 8, 8, 3}, 15, 64) &&
              !cdrl_wino_applies(&(cdrl_conv2d_desc){8, 64, 64, 8, 8, 1}, 64, 64),
          "the Winograd rule for small maps");
    test_conv_case(64, 64, 64, 8, 8, 3);
    test_conv_case(32, 64, 64, 8, 8, 3);
    test_conv_case(32, 64, 64, 12, 10, 3);
    test_conv_case(2, 32, 32, 16, 16, 3);
    test_conv_case(2, 32, 64, 14, 14, 3);
    test_conv_case(64, 64, 64, 7, 7, 3);
    test_conv_case(16, 64, 64, 4, 4, 3);
    test_conv_case(5, 16, 32, 3, 3, 3);
    test_resample_case(3, 6, 8);
    test_resample_case(2, 7, 5);
    test_resample_case(2, 4, 3);
    test_activations(1000);
    test_activations(70000);
    test_groupnorm_case(2, 8, 10, 4, 0.0f);
    test_groupnorm_case(3, 4, 1, 2, 0.0f);
    test_groupnorm_case(2, 6, 9, 3, 20.0f);
    test_dropout(1001);
    test_spectral_norm(6, 10);
    test_spectral_norm(20, 36);
    test_embedding(6, 16);
    test_embedding(4, 8);
    test_attention(2, 4, 6);
    test_attention(1, 8, 16);
    test_tensor_ops(2, 3, 2, 12);
    test_elementwise(4, 37);
    test_langevin(4, 25);
    test_loss_checks(3, 40);
    test_network_glue(3, 4, 5);
    test_optim(1000);
    test_stats(70, 45, 2);
    test_stats(5, 3, 3);
    test_softmax_xent(6, 10);
    test_conv_bf16(2, 64, 64, 16, 16, 3);
    test_conv_bf16(3, 64, 64, 4, 4, 3);
    test_conv_bf16(2, 32, 32, 16, 16, 3); // below 64 channels the cpu backend keeps float
    test_conv_bf16(2, 64, 64, 8, 8, 1);   // and for 1x1 kernels
    test_conv_bf16(2, 32, 64, 8, 8, 3);   // forward float, input gradient bf16
    test_conv_bf16(2, 64, 32, 8, 8, 3);   // the other way round
    return test_report("backends");
}
