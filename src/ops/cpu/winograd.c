// Winograd F(4x4, 3x3) convolutions: see winograd.h.
//
// A chunk is a fixed set of tiles (several whole images, or a band of tile rows of one image).
// For each chunk a worker builds V (36, C, tiles): the 6x6 input tile of every tile and channel
// through B^T d B; runs the 36 products M[ξ] (OC, tiles) = U[ξ] (OC, C) · V[ξ], with U (36, OC,
// C) = G g G^T of the kernel; and writes each 4x4 output tile A^T M A. The kernel gradient runs
// the same transforms backwards: dU[ξ] (OC, C) = Σ over tiles of (A dy A^T)[ξ] V[ξ]ᵀ, summed in
// fixed slots as the direct kernels do, then dg = G^T dU G.
#include "ops/cpu/winograd.h"

#include <stdlib.h>
#include <string.h>

#include "ops/cpu/chunks.h"
#include "ops/cpu/cpu.h"
#include "ops/cpu/gemm.h"

// The transforms are loops over the tiles of a chunk, vectorised by GCC at O3 and, on x86-64,
// compiled again for AVX-512 and AVX2 machines (the clone is chosen when the program loads).
// Neither changes a result: every lane runs the same float operations in the same order, and
// -std=c11 forbids contracting them into fused multiply-adds.
#pragma GCC optimize("O3")
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define WINO_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WINO_CLONES
#endif

// Tiles per chunk: the width of the 36 products. 256 tiles keep V and M of a 32-channel layer
// near 1.3 MB each. At least WINO_MIN_CHUNKS chunks where the batch has the tiles, so that
// small maps still spread over the threads.
#ifndef WINO_TILES
#define WINO_TILES 256
#endif
#define WINO_MIN_CHUNKS 8
// Partial kernel-gradient buffers: as CONV_DW_SLOTS in conv2d.c, a constant, not the thread
// count, so the bytes of dw never depend on how many threads ran.
#define WINO_DW_SLOTS 8

int cdrl_wino_applies(const cdrl_conv2d_desc *d, int C, int OC) {
    static int enabled = -1; // CDRL_WINOGRAD=0 turns it off (for A/B measurements)
    if (enabled < 0) {
        const char *e = getenv("CDRL_WINOGRAD");
        enabled = !(e && strcmp(e, "0") == 0);
    }
    if (!enabled || d->K != 3 || C < 16 || OC < 16) return 0;
    // Maps of 24+ pixels a side; 12..23 from 32 channels; 7..11 from 64 channels when the
    // batch gives every one of the WINO_MIN_CHUNKS chunks 32+ tiles (an 8x8 map has 4 tiles and
    // a spare column of 2 per row: narrower chunks make products too small to pay for it).
    // Measured on Zen4, 2 cores: in the reduced configuration 16x16 at 32 and 64 channels made
    // the whole iteration 1.15x faster than the direct path, 8x8 at 64 channels and batch 64
    // another 1.035x, while 8x8 at batch 32 (chunks of 16 tiles) lost 20% of the sampling
    // speed; in the fmnist-cpu preset 14x14 and 7x7 gave 1.05x.
    const int side = d->H < d->W ? d->H : d->W, narrow = C < OC ? C : OC;
    const long tiles = (long)((d->H + 3) / 4) * ((d->W + 3) / 4) * d->B;
    return side >= 24 || (side >= 12 && narrow >= 32) ||
           (side >= 7 && narrow >= 64 && tiles >= 32L * WINO_MIN_CHUNKS);
}

int cdrl_wino_weight_grad_applies(const cdrl_conv2d_desc *d) {
    return cdrl_wino_applies(d, d->IC, d->OC) && d->H >= 24 && d->W >= 24;
}

// ---------------------------------------------------------------------------------------
// Chunks of tiles. Column t of a chunk's matrices is (image i, tile row ry of the band, tile
// column tx) with t = (i nr + ry)(tw + 1) + tx; its output pixels are rows 4 ty .. 4 ty + 3
// (ty = ty0 + ry) and columns 4 tx .. 4 tx + 3, its input pixels one more on every side. Each
// tile row has one spare column (tx = tw), never written out: with it, the chunk's image rows
// laid end to end in segments of 4 (tw + 1) floats give every tile element by one stride-4
// read over the whole chunk (tile_rows, deinterleave4), long loops that vectorise, instead of
// gathers of tw elements per row. The spare columns cost 1 / tw more product columns.
typedef struct wplan {
    int th, tw;       // tile rows and columns per image
    cdrl_chunks c;    // of tile rows
    int cols_max, ld; // widest chunk in columns (spares included), the row stride of V, M, work
} wplan;

typedef struct wchunk {
    int i0, ni, ty0, nr;
    int T; // columns: ni nr (tw + 1)
} wchunk;

static wplan plan_of(const cdrl_conv2d_desc *d) {
    wplan p;
    p.th = (d->H + 3) / 4;
    p.tw = (d->W + 3) / 4;
    const long spread = (long)p.th * p.tw * d->B / WINO_MIN_CHUNKS;
    const int target = spread >= WINO_TILES ? WINO_TILES : spread > 0 ? (int)spread : 1;
    p.c = cdrl_chunks_of(d->B, p.th, p.tw, target);
    p.cols_max = p.c.n_img * p.c.n_rows * (p.tw + 1);
    p.ld = cdrl_sgemm_ld(p.cols_max + 1); // + 1: the shifted reads of deinterleave4's rows
    return p;
}

static wchunk chunk_at(const wplan *p, const cdrl_conv2d_desc *d, int c) {
    const cdrl_chunk_span sp = cdrl_chunk_span_at(&p->c, d->B, p->th, c);
    wchunk k;
    k.i0 = sp.i0, k.ni = sp.ni, k.ty0 = sp.r0, k.nr = sp.nr;
    k.T = k.ni * k.nr * (p->tw + 1);
    return k;
}

// Per-worker bytes: V and M (36 rows per channel of the wider side), two work blocks of 36
// rows (gathered tiles, half-transformed tiles) and the chunk's image rows end to end.
static size_t worker_bytes(const cdrl_conv2d_desc *d, const wplan *p) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    return 2 * cdrl_arena_floats_size(36 * C * ld) + cdrl_arena_floats_size(72 * ld) +
           cdrl_arena_floats_size(4 * (size_t)p->cols_max + 8);
}

typedef struct wworker {
    float *V, *M, *work, *line;
} wworker;

static wworker worker_at(float *base, const cdrl_conv2d_desc *d, const wplan *p, int t) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    const size_t vm = cdrl_arena_floats_size(36 * C * ld) / sizeof(float);
    const size_t wk = cdrl_arena_floats_size(72 * ld) / sizeof(float);
    float *b = base + (size_t)t * (worker_bytes(d, p) / sizeof(float));
    return (wworker){b, b + vm, b + 2 * vm, b + 2 * vm + wk};
}

static int dw_slots(const wplan *p) {
    return p->c.n_chunks < WINO_DW_SLOTS ? p->c.n_chunks : WINO_DW_SLOTS;
}

static size_t fixed_bytes(const cdrl_conv2d_desc *d, const wplan *p) {
    const size_t un = 36 * (size_t)d->IC * (size_t)d->OC;
    return cdrl_arena_floats_size(un) + (size_t)dw_slots(p) * cdrl_arena_floats_size(un);
}

size_t cdrl_wino_scratch_size(const cdrl_conv2d_desc *d) {
    if (d->B == 0) return 0;
    wplan p = plan_of(d);
    int n = cdrl_threads();
    if (n > p.c.n_chunks) n = p.c.n_chunks;
    return fixed_bytes(d, &p) + (size_t)n * worker_bytes(d, &p);
}

static int workers_fitting(const cdrl_arena *a, const cdrl_conv2d_desc *d, const wplan *p,
                           int n_tasks) {
    return cdrl_workers_fitting(a, worker_bytes(d, p), n_tasks);
}

// ---------------------------------------------------------------------------------------
// The 1-D transforms, each over n columns at once: row k of the input is d[k sd + j], row k of
// the output o[k so + j].

// B^T (6x6) of a 6-vector: the input tile's transform.
WINO_CLONES static void bt6(float *restrict o, size_t so, const float *restrict d, size_t sd,
                            int n) {
#pragma GCC ivdep // the rows never overlap: 6 or 4 rows of one matrix
    for (int j = 0; j < n; j++) {
        const float d0 = d[j], d1 = d[sd + j], d2 = d[2 * sd + j], d3 = d[3 * sd + j],
                    d4 = d[4 * sd + j], d5 = d[5 * sd + j];
        const float t1 = d4 - 4.0f * d2, t2 = d3 - 4.0f * d1;
        const float t3 = d4 - d2, t4 = 2.0f * (d3 - d1);
        o[j] = 4.0f * d0 - 5.0f * d2 + d4;
        o[so + j] = t1 + t2;
        o[2 * so + j] = t1 - t2;
        o[3 * so + j] = t3 + t4;
        o[4 * so + j] = t3 - t4;
        o[5 * so + j] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

// A^T (4x6) of a 6-vector: the output tile from the products.
WINO_CLONES static void at6(float *restrict o, size_t so, const float *restrict m, size_t sm,
                            int n) {
#pragma GCC ivdep // the rows never overlap: 6 or 4 rows of one matrix
    for (int j = 0; j < n; j++) {
        const float m0 = m[j], m1 = m[sm + j], m2 = m[2 * sm + j], m3 = m[3 * sm + j],
                    m4 = m[4 * sm + j], m5 = m[5 * sm + j];
        const float s1 = m1 + m2, s2 = m1 - m2, s3 = m3 + m4, s4 = m3 - m4;
        o[j] = m0 + s1 + s3;
        o[so + j] = s2 + 2.0f * s4;
        o[2 * so + j] = s1 + 4.0f * s3;
        o[3 * so + j] = s2 + 8.0f * s4 + m5;
    }
}

// A (6x4) of a 4-vector: the output gradient's tile, for the kernel gradient.
WINO_CLONES static void a4(float *restrict o, size_t so, const float *restrict y, size_t sy,
                           int n) {
#pragma GCC ivdep // the rows never overlap: 6 or 4 rows of one matrix
    for (int j = 0; j < n; j++) {
        const float y0 = y[j], y1 = y[sy + j], y2 = y[2 * sy + j], y3 = y[3 * sy + j];
        const float p = y0 + y2, q = y1 + y3, p2 = y0 + 4.0f * y2, q2 = 2.0f * y1 + 8.0f * y3;
        o[j] = y0;
        o[so + j] = p + q;
        o[2 * so + j] = p - q;
        o[3 * so + j] = p2 + q2;
        o[4 * so + j] = p2 - q2;
        o[5 * so + j] = y3;
    }
}

// LL: image row 4 ty + y_off of every tile row of the chunk, in segments of 4 (tw + 1) floats
// (the row at x0, zeros around it and for rows outside the image), then 4 zeros. The chunk's
// channel planes lie ps floats apart from inp.
WINO_CLONES static void tile_rows(float *restrict LL, const float *restrict inp, size_t ps,
                                  int y_off, int x0, const cdrl_conv2d_desc *d, const wplan *p,
                                  const wchunk *k) {
    const int H = d->H, W = d->W, seg = 4 * (p->tw + 1);
    for (int i = 0; i < k->ni; i++) {
        for (int ry = 0; ry < k->nr; ry++) {
            float *dst = LL + (size_t)(i * k->nr + ry) * (size_t)seg;
            const int y = 4 * (k->ty0 + ry) + y_off;
            for (int x = 0; x < seg; x++)
                dst[x] = 0.0f;
            if (y >= 0 && y < H) {
                const float *src = inp + (size_t)i * ps + (size_t)y * (size_t)W;
                for (int x = 0; x < W; x++)
                    dst[x0 + x] = src[x];
            }
        }
    }
    for (int x = 0; x < 4; x++)
        LL[(size_t)(k->ni * k->nr) * (size_t)seg + (size_t)x] = 0.0f;
}

// q row b (stride ld) = LL[4 j + b] for j < n, b < 4.
WINO_CLONES static void deinterleave4(float *restrict q, size_t ld, const float *restrict LL,
                                      int n) {
#pragma GCC ivdep
    for (int j = 0; j < n; j++) {
        q[j] = LL[4 * j];
        q[ld + j] = LL[4 * j + 1];
        q[2 * ld + j] = LL[4 * j + 2];
        q[3 * ld + j] = LL[4 * j + 3];
    }
}

// LL[4 j + b] = q row b (stride ld) for j < n, b < 4.
WINO_CLONES static void interleave4(float *restrict LL, const float *restrict q, size_t ld, int n) {
#pragma GCC ivdep
    for (int j = 0; j < n; j++) {
        LL[4 * j] = q[j];
        LL[4 * j + 1] = q[ld + j];
        LL[4 * j + 2] = q[2 * ld + j];
        LL[4 * j + 3] = q[3 * ld + j];
    }
}

// Output row 4 ty + a of every tile row of the chunk from LL (segments of 4 (tw + 1) floats):
// out = LL + bias, or out += LL + bias; rows past the image dropped. Planes ps floats apart.
WINO_CLONES static void output_rows(float *restrict out, size_t ps, const float *restrict LL, int a,
                                    float bias, int accumulate, const cdrl_conv2d_desc *d,
                                    const wplan *p, const wchunk *k) {
    const int H = d->H, W = d->W, seg = 4 * (p->tw + 1);
    for (int i = 0; i < k->ni; i++) {
        for (int ry = 0; ry < k->nr; ry++) {
            const int y = 4 * (k->ty0 + ry) + a;
            if (y >= H) continue;
            const float *src = LL + (size_t)(i * k->nr + ry) * (size_t)seg;
            float *row = out + (size_t)i * ps + (size_t)y * (size_t)W;
            if (accumulate) {
                for (int x = 0; x < W; x++)
                    row[x] += src[x] + bias;
            } else {
                for (int x = 0; x < W; x++)
                    row[x] = src[x] + bias;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// V rows ((a 6 + b) C + c), columns the chunk's tiles, row stride ld: the transformed 6x6
// input tiles of channel c of inp (B, C, H, W). work: 72 rows of stride ld; line: 4 tw + 2.
static void input_tiles(float *V, const float *inp, int C, int c, const cdrl_conv2d_desc *d,
                        const wplan *p, const wchunk *k, float *work, float *line) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W;
    const float *plane = inp + ((size_t)k->i0 * (size_t)C + (size_t)c) * HW;
    // D row (r 4 + q) = element (r, q) of every tile; elements (r, 4) and (r, 5) are elements
    // (r, 0) and (r, 1) of the next column.
    float *D = work, *tmp = work + 36 * ld;
    for (int r = 0; r < 6; r++) {
        tile_rows(line, plane, (size_t)C * HW, r - 1, 1, d, p, k);
        deinterleave4(D + (size_t)(r * 4) * ld, ld, line, k->T + 1);
    }
    for (int s = 0; s < 6; s++) // columns: tmp row (a 6 + s) = Σ_r B^T[a][r] D(r, s)
        bt6(tmp + (size_t)s * ld, 6 * ld, D + (size_t)(s % 4) * ld + (size_t)(s / 4), 4 * ld, k->T);
    for (int a = 0; a < 6; a++) // rows: V[(a 6 + b) C + c] = Σ_s B^T[b][s] tmp[a 6 + s]
        bt6(V + ((size_t)(a * 6) * (size_t)C + (size_t)c) * ld, (size_t)C * ld,
            tmp + (size_t)(a * 6) * ld, ld, k->T);
}

// Output channel oc of the chunk from M rows (ξ OC + oc): out (B, OC, H, W) = (or +=) A^T M A
// + bias.
static void output_tiles(float *out, const float *M, int OC, int oc, float bias, int accumulate,
                         const cdrl_conv2d_desc *d, const wplan *p, const wchunk *k, float *work,
                         float *line) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W;
    float *tmp = work, *Y = work + 36 * ld;
    for (int s = 0; s < 6; s++) // columns: tmp row (a 6 + s) = Σ_r A^T[a][r] M[r 6 + s]
        at6(tmp + (size_t)s * ld, 6 * ld, M + ((size_t)s * (size_t)OC + (size_t)oc) * ld,
            6 * (size_t)OC * ld, k->T);
    for (int a = 0; a < 4; a++) // rows: Y row (a 4 + b) = Σ_s A^T[b][s] tmp[a 6 + s]
        at6(Y + (size_t)(a * 4) * ld, ld, tmp + (size_t)(a * 6) * ld, ld, k->T);
    for (int a = 0; a < 4; a++) {
        interleave4(line, Y + (size_t)(a * 4) * ld, ld, k->T);
        output_rows(out + ((size_t)k->i0 * (size_t)OC + (size_t)oc) * HW, (size_t)OC * HW, line, a,
                    bias, accumulate, d, p, k);
    }
}

// M rows ((r 6 + s) OC + oc): A dy A^T of channel oc of dout (B, OC, H, W), zero outside the
// image.
static void grad_tiles(float *M, const float *dout, int OC, int oc, const cdrl_conv2d_desc *d,
                       const wplan *p, const wchunk *k, float *work, float *line) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W;
    float *Dy = work, *tmp = work + 36 * ld;
    const float *plane = dout + ((size_t)k->i0 * (size_t)OC + (size_t)oc) * HW;
    for (int a = 0; a < 4; a++) { // the spare columns read zeros
        tile_rows(line, plane, (size_t)OC * HW, a, 0, d, p, k);
        deinterleave4(Dy + (size_t)(a * 4) * ld, ld, line, k->T);
    }
    for (int b = 0; b < 4; b++) // columns: tmp row (r 4 + b) = Σ_a A[r][a] Dy[a 4 + b]
        a4(tmp + (size_t)b * ld, 4 * ld, Dy + (size_t)b * ld, 4 * ld, k->T);
    for (int r = 0; r < 6; r++) // rows: M[(r 6 + s) OC + oc] = Σ_b A[s][b] tmp[r 4 + b]
        a4(M + ((size_t)(r * 6) * (size_t)OC + (size_t)oc) * ld, (size_t)OC * ld,
           tmp + (size_t)(r * 4) * ld, ld, k->T);
}

// U (36, OC, C) = G g G^T of every kernel (in double, then rounded once).
static const double G[6][3] = {{1.0 / 4, 0, 0},
                               {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                               {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                               {1.0 / 24, 1.0 / 12, 1.0 / 6},
                               {1.0 / 24, -1.0 / 12, 1.0 / 6},
                               {0, 0, 1}};

// Kernels (o, i0 .. i0 + n - 1), n <= KERNEL_STRIP, with the input channel innermost so that
// the loops vectorise and U's rows are written contiguously: the same double operations in the
// same order as one kernel at a time, so the same bytes.
#define KERNEL_STRIP 64
WINO_CLONES static void kernel_strip(float *U, const float *w, int C, int OC, int flip, int o,
                                     int i0, int n) {
    double g[9][KERNEL_STRIP], gg[6][3][KERNEL_STRIP];
    for (int t = 0; t < 9; t++) {
        const int kh = t / 3, kw = t % 3;
        for (int j = 0; j < n; j++) {
            const size_t i = (size_t)(i0 + j);
            g[t][j] =
                flip ? (double)
                           w[(i * (size_t)OC + (size_t)o) * 9 + (size_t)((2 - kh) * 3 + (2 - kw))]
                     : (double)w[((size_t)o * (size_t)C + i) * 9 + (size_t)t];
        }
    }
    for (int r = 0; r < 6; r++) {
        for (int kw = 0; kw < 3; kw++) {
            for (int j = 0; j < n; j++)
                gg[r][kw][j] = G[r][0] * g[kw][j] + G[r][1] * g[3 + kw][j] + G[r][2] * g[6 + kw][j];
        }
    }
    for (int r = 0; r < 6; r++) {
        for (int s = 0; s < 6; s++) {
            float *u = U + ((size_t)(r * 6 + s) * (size_t)OC + (size_t)o) * (size_t)C + (size_t)i0;
            for (int j = 0; j < n; j++)
                u[j] =
                    (float)(gg[r][0][j] * G[s][0] + gg[r][1][j] * G[s][1] + gg[r][2][j] * G[s][2]);
        }
    }
}

static void kernel_tiles(float *U, const float *w, int C, int OC, int flip) {
#pragma omp parallel for schedule(static) if ((size_t)OC * (size_t)C >= 1024)
    for (int o = 0; o < OC; o++) {
        for (int i0 = 0; i0 < C; i0 += KERNEL_STRIP)
            kernel_strip(U, w, C, OC, flip, o, i0, C - i0 < KERNEL_STRIP ? C - i0 : KERNEL_STRIP);
    }
}

// ---------------------------------------------------------------------------------------
void cdrl_wino_conv(float *out, const float *inp, const float *w, const float *b, int C, int OC,
                    int flip, const cdrl_conv2d_desc *d, int accumulate, cdrl_arena *scratch) {
    CDRL_ASSERT(d->K == 3);
    if (d->B == 0) return;
    const wplan p = plan_of(d);
    const size_t mark = cdrl_arena_mark(scratch);
    float *U = cdrl_arena_floats(scratch, 36 * (size_t)C * (size_t)OC);
    kernel_tiles(U, w, C, OC, flip);
    const int nw = workers_fitting(scratch, d, &p, p.c.n_chunks);
    float *base = cdrl_arena_floats(scratch, (size_t)nw * (worker_bytes(d, &p) / sizeof(float)));
    const size_t ld = (size_t)p.ld;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
    for (int c = 0; c < p.c.n_chunks; c++) {
        const wworker ws = worker_at(base, d, &p, cdrl_worker_id());
        const wchunk k = chunk_at(&p, d, c);
        for (int ic = 0; ic < C; ic++)
            input_tiles(ws.V, inp, C, ic, d, &p, &k, ws.work, ws.line);
        for (int x = 0; x < 36; x++)
            cdrl_sgemm(0, 0, OC, k.T, C, 1.0f, U + (size_t)x * (size_t)OC * (size_t)C, C,
                       ws.V + (size_t)x * (size_t)C * ld, (int)ld, 0.0f,
                       ws.M + (size_t)x * (size_t)OC * ld, (int)ld);
        for (int oc = 0; oc < OC; oc++)
            output_tiles(out, ws.M, OC, oc, b ? b[oc] : 0.0f, accumulate, d, &p, &k, ws.work,
                         ws.line);
    }
    cdrl_arena_release(scratch, mark);
}

void cdrl_wino_weight_grad(float *dw, const float *dout, const float *inp,
                           const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    CDRL_ASSERT(d->K == 3);
    if (d->B == 0) return;
    const wplan p = plan_of(d);
    const int IC = d->IC, OC = d->OC, n_slots = dw_slots(&p);
    const size_t un = 36 * (size_t)IC * (size_t)OC, ld = (size_t)p.ld;
    const size_t pn = cdrl_arena_floats_size(un) / sizeof(float);
    const size_t mark = cdrl_arena_mark(scratch);
    float *partial = cdrl_arena_floats(scratch, pn * (size_t)n_slots); // (slots, 36, OC, IC)
    const int nw = workers_fitting(scratch, d, &p, n_slots);
    float *base = cdrl_arena_floats(scratch, (size_t)nw * (worker_bytes(d, &p) / sizeof(float)));
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
    for (int s = 0; s < n_slots; s++) {
        const wworker ws = worker_at(base, d, &p, cdrl_worker_id());
        for (int c = s; c < p.c.n_chunks; c += n_slots) {
            const wchunk k = chunk_at(&p, d, c);
            for (int ic = 0; ic < IC; ic++)
                input_tiles(ws.V, inp, IC, ic, d, &p, &k, ws.work, ws.line);
            for (int oc = 0; oc < OC; oc++)
                grad_tiles(ws.M, dout, OC, oc, d, &p, &k, ws.work, ws.line);
            for (int x = 0; x < 36; x++)
                cdrl_sgemm(0, 1, OC, IC, k.T, 1.0f, ws.M + (size_t)x * (size_t)OC * ld, (int)ld,
                           ws.V + (size_t)x * (size_t)IC * ld, (int)ld, c == s ? 0.0f : 1.0f,
                           partial + (size_t)s * pn + (size_t)x * (size_t)OC * (size_t)IC, IC);
        }
    }
    // Slots added in slot order, then dg = G^T dU G per kernel (in double).
#pragma omp parallel for schedule(static) if ((size_t)OC * (size_t)IC >= 1024)
    for (int o = 0; o < OC; o++) {
        for (int i = 0; i < IC; i++) {
            double u[6][6], gu[3][6];
            for (int x = 0; x < 36; x++) {
                const size_t j = ((size_t)x * (size_t)OC + (size_t)o) * (size_t)IC + (size_t)i;
                float acc = partial[j];
                for (int sl = 1; sl < n_slots; sl++)
                    acc += partial[(size_t)sl * pn + j];
                u[x / 6][x % 6] = (double)acc;
            }
            for (int kh = 0; kh < 3; kh++) {
                for (int s = 0; s < 6; s++) {
                    double acc = 0.0;
                    for (int r = 0; r < 6; r++)
                        acc += G[r][kh] * u[r][s];
                    gu[kh][s] = acc;
                }
            }
            float *dst = dw + ((size_t)o * (size_t)IC + (size_t)i) * 9;
            for (int kh = 0; kh < 3; kh++) {
                for (int kw = 0; kw < 3; kw++) {
                    double acc = 0.0;
                    for (int s = 0; s < 6; s++)
                        acc += gu[kh][s] * G[s][kw];
                    dst[kh * 3 + kw] += (float)acc;
                }
            }
        }
    }
    cdrl_arena_release(scratch, mark);
}
