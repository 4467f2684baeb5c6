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
// -std=c11 forbids contracting them into fused multiply-adds. No loop becomes a call to memset
// or memcpy: the loops here are a few elements long (the zeros at a segment's edges), where a
// call costs more than the stores.
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns")

// Tiles per chunk: the width of the 36 products. 256 tiles keep V and M of a 32-channel layer
// near 1.3 MB each. Smaller layers are cut into WINO_MIN_CHUNKS chunks, as wide as the batch
// allows, so that both cores of the machines this is tuned for work: wide products repay the
// transforms and oneDNN's per-call cost, and on Zen4, 2 cores, 2 chunks ran 1.2-2.8x faster than
// 8 at 4x4 and 8x8 maps, 1.2x at 16x16, batch 32 (a build for many cores may set 8).
#ifndef WINO_TILES
#define WINO_TILES 256
#endif
#ifndef WINO_MIN_CHUNKS
#define WINO_MIN_CHUNKS 2
#endif
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
    // Every map of 3+ pixels a side. Measured on Zen4, 2 cores, one layer against the direct
    // path (im2col + GEMM): faster at every shape tried, 16-64 channels, batch 8-64, maps of
    // 3x3 to 32x32: 1.05x (4x4, 32 channels, batch 32), 1.2-1.6x (4x4 and 8x8), 2-2.4x (16x16).
    const int side = d->H < d->W ? d->H : d->W;
    return side >= 3;
}

// Maps of 8+ pixels a side. Measured on Zen4, 2 cores, batch 64, the kernel gradient alone
// against the direct path (im2col + GEMM), ms: 16x16 64 -> 64 4.6-5.3 / 6.6-6.8, 32 -> 64 2.1 /
// 3.2, 32 -> 32 1.3-1.9 / 2.0-3.2; 8x8 64 -> 64 1.4 / 1.7-2.0, 32 -> 32 0.49 / 0.52; 7x7 64 -> 64
// 1.44 / 1.44; 4x4 64 -> 64 0.81 / 0.56 (one tile per image: the transforms outweigh the
// saving).
int cdrl_wino_weight_grad_applies(const cdrl_conv2d_desc *d) {
    return cdrl_wino_applies(d, d->IC, d->OC) && d->H >= 8 && d->W >= 8;
}

// ---------------------------------------------------------------------------------------
// Chunks of tiles. Column t of a chunk's matrices is (image i, tile row ry of the band, tile
// column tx) with t = (i nr + ry) tw + tx; its output pixels are rows 4 ty .. 4 ty + 3
// (ty = ty0 + ry) and columns 4 tx .. 4 tx + 3, its input pixels one more on every side. The
// // passes across the tiles run over lines that hold the chunk's tile rows end to end in
// segments of 4 tw floats, so that every tile element is one stride-4 access over the whole
// chunk (long loops that vectorise, instead of gathers of tw elements per row): for the input,
// elements 0-3 of every tile from lines of the pixels x = -1 .. 4 tw - 2 and elements 4 and 5
// from lines of x = 3 .. 4 tw + 2.
typedef struct wplan {
    int th, tw;       // tile rows and columns per image
    cdrl_chunks c;    // of tile rows
    int cols_max, ld; // widest chunk in columns, the row stride of V, M, work
} wplan;

typedef struct wchunk {
    int i0, ni, ty0, nr;
    int T; // columns: ni nr tw
} wchunk;

static wplan plan_of(const cdrl_conv2d_desc *d) {
    wplan p;
    p.th = (d->H + 3) / 4;
    p.tw = (d->W + 3) / 4;
    const long spread = (long)p.th * p.tw * d->B / WINO_MIN_CHUNKS;
    const int target = spread >= WINO_TILES ? WINO_TILES : spread > 0 ? (int)spread : 1;
    p.c = cdrl_chunks_of(d->B, p.th, p.tw, target);
    p.cols_max = p.c.n_img * p.c.n_rows * p.tw;
    p.ld = cdrl_sgemm_ld(p.cols_max);
    return p;
}

static wchunk chunk_at(const wplan *p, const cdrl_conv2d_desc *d, int c) {
    const cdrl_chunk_span sp = cdrl_chunk_span_at(&p->c, d->B, p->th, c);
    wchunk k;
    k.i0 = sp.i0, k.ni = sp.ni, k.ty0 = sp.r0, k.nr = sp.nr;
    k.T = k.ni * k.nr * p->tw;
    return k;
}

// Per-worker bytes: V and M (36 rows per channel of the wider side), the twelve lines of the
// separable passes (line_stride, LINE_PAD floats of slack before each set of six, where the
// input pass's shifted writes may land) and W zeros for the rows above and below the image.
#define LINE_PAD 16
static size_t line_stride(const wplan *p) { return 4 * (size_t)p->cols_max + LINE_PAD; }

static size_t worker_bytes(const cdrl_conv2d_desc *d, const wplan *p) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    return 2 * cdrl_arena_floats_size(36 * C * ld) +
           cdrl_arena_floats_size(12 * line_stride(p) + 2 * LINE_PAD) +
           cdrl_arena_floats_size((size_t)d->W);
}

typedef struct wworker {
    float *V, *M, *lines, *zeros;
} wworker;

static wworker worker_at(float *base, const cdrl_conv2d_desc *d, const wplan *p, int t) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    const size_t vm = cdrl_arena_floats_size(36 * C * ld) / sizeof(float);
    const size_t ln = cdrl_arena_floats_size(12 * line_stride(p) + 2 * LINE_PAD) / sizeof(float);
    float *b = base + (size_t)t * (worker_bytes(d, p) / sizeof(float));
    wworker ws = {b, b + vm, b + 2 * vm, b + 2 * vm + ln};
    memset(ws.zeros, 0, sizeof(float) * (size_t)d->W);
    return ws;
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
// The 1-D transforms of one vector. Each 2-D transform runs as two passes: one down the image
// columns, over the pixels of a tile row's image rows (contiguous, read and written in place
// in the maps), and one across the tiles, over the lines of the whole chunk (stride-4 reads or
// writes, see "Chunks of tiles" above).

// B^T (6x6) of a 6-vector: the input tile's transform.
static inline void bt_1(float o[6], const float d[6]) {
    const float t1 = d[4] - 4.0f * d[2], t2 = d[3] - 4.0f * d[1];
    const float t3 = d[4] - d[2], t4 = 2.0f * (d[3] - d[1]);
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = t1 + t2;
    o[2] = t1 - t2;
    o[3] = t3 + t4;
    o[4] = t3 - t4;
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// A^T (4x6) of a 6-vector: the output tile from the products.
static inline void at_1(float o[4], const float m[6]) {
    const float s1 = m[1] + m[2], s2 = m[1] - m[2], s3 = m[3] + m[4], s4 = m[3] - m[4];
    o[0] = m[0] + s1 + s3;
    o[1] = s2 + 2.0f * s4;
    o[2] = s1 + 4.0f * s3;
    o[3] = s2 + 8.0f * s4 + m[5];
}

// A (6x4) of a 4-vector: the output gradient's tile, for the kernel gradient.
static inline void a_1(float o[6], const float y[4]) {
    const float p = y[0] + y[2], q = y[1] + y[3], p2 = y[0] + 4.0f * y[2],
                q2 = 2.0f * y[1] + 8.0f * y[3];
    o[0] = y[0];
    o[1] = p + q;
    o[2] = p - q;
    o[3] = p2 + q2;
    o[4] = p2 - q2;
    o[5] = y[3];
}

// Across the tiles: B^T of elements 0-3 of each tile from L4 (L4[4 j + q]) and 4-5 from L2
// (L2[4 j + q - 4]), into 6 rows of n columns (stride so).
CDRL_VECTOR_CLONES static void bt6_lines(float *restrict o, size_t so, const float *restrict L4,
                                         const float *restrict L2, int n) {
#pragma GCC ivdep // the rows never overlap: rows of one matrix
    for (int j = 0; j < n; j++) {
        float x[6], y[6];
        for (int k = 0; k < 4; k++)
            x[k] = L4[4 * (size_t)j + (size_t)k];
        for (int k = 4; k < 6; k++)
            x[k] = L2[4 * (size_t)j + (size_t)(k - 4)];
        bt_1(y, x);
        for (int k = 0; k < 6; k++)
            o[(size_t)k * so + (size_t)j] = y[k];
    }
}

// Across the tiles: LL[4 j + k] = A^T of column j of 6 rows (stride sm).
CDRL_VECTOR_CLONES static void at6_line(float *restrict LL, const float *restrict m, size_t sm,
                                        int n) {
    for (int j = 0; j < n; j++) {
        float x[6], y[4];
        for (int k = 0; k < 6; k++)
            x[k] = m[(size_t)k * sm + (size_t)j];
        at_1(y, x);
        for (int k = 0; k < 4; k++)
            LL[4 * (size_t)j + (size_t)k] = y[k];
    }
}

// Across the tiles: A of the 4 elements of each tile (LL[4 j + k]) into 6 rows (stride so).
CDRL_VECTOR_CLONES static void a4_line(float *restrict o, size_t so, const float *restrict LL,
                                       int n) {
#pragma GCC ivdep
    for (int j = 0; j < n; j++) {
        float x[4], z[6];
        for (int k = 0; k < 4; k++)
            x[k] = LL[4 * (size_t)j + (size_t)k];
        a_1(z, x);
        for (int k = 0; k < 6; k++)
            o[(size_t)k * so + (size_t)j] = z[k];
    }
}

// Down the columns, one tile row of the input: y_r(x) = Σ_q B^T[r][q] d_q(x) for the W pixels
// of its six image rows d0 .. d5 (zeros above or below the image), each written twice, at
// L4[r sl + x] and L2[r sl + x]: the caller places L4 one pixel to the right of the segment
// (x - 1 at element e = x) and L2 three to the left (x + 3 at e = x), so that each vector loop
// runs over whole rows; input_tiles then zeroes what fell outside the image or into a
// neighbouring segment.
CDRL_VECTOR_CLONES static void bt_columns(float *restrict L4, float *restrict L2, size_t sl, int W,
                                          const float *restrict d0, const float *restrict d1,
                                          const float *restrict d2, const float *restrict d3,
                                          const float *restrict d4, const float *restrict d5) {
#pragma GCC ivdep // the lines never overlap
    for (int x = 0; x < W; x++) {
        const float v[6] = {d0[x], d1[x], d2[x], d3[x], d4[x], d5[x]};
        float y[6];
        bt_1(y, v);
        for (int r = 0; r < 6; r++) {
            L4[(size_t)r * sl + (size_t)x] = y[r];
            L2[(size_t)r * sl + (size_t)x] = y[r];
        }
    }
}

// Down the columns, one tile row of the output: row a of the tile row (o0 .. o3) = A^T over the
// 6 lines LL[r sl + x], + bias, written (or added, `accumulate`), x in [0, W).
CDRL_VECTOR_CLONES static void at_columns(float *restrict o0, float *restrict o1,
                                          float *restrict o2, float *restrict o3,
                                          const float *restrict LL, size_t sl, int W, float bias,
                                          int accumulate) {
    for (int x = 0; x < W; x++) {
        float m[6], y[4];
        for (int r = 0; r < 6; r++)
            m[r] = LL[(size_t)r * sl + (size_t)x];
        at_1(y, m);
        if (accumulate) {
            o0[x] += y[0] + bias, o1[x] += y[1] + bias;
            o2[x] += y[2] + bias, o3[x] += y[3] + bias;
        } else {
            o0[x] = y[0] + bias, o1[x] = y[1] + bias;
            o2[x] = y[2] + bias, o3[x] = y[3] + bias;
        }
    }
}

// Down the columns, one tile row of the output gradient: LL[r sl + e] = Σ_a A[r][a] y_a(e), e
// in [0, seg), zero from W on. y0 .. y3: the tile row's four rows (zeros below the image).
CDRL_VECTOR_CLONES static void a_columns(float *restrict LL, size_t sl, int W, int seg,
                                         const float *restrict y0, const float *restrict y1,
                                         const float *restrict y2, const float *restrict y3) {
    const int hi = W < seg ? W : seg;
#pragma GCC ivdep // the six lines never overlap
    for (int e = 0; e < hi; e++) {
        const float x[4] = {y0[e], y1[e], y2[e], y3[e]};
        float z[6];
        a_1(z, x);
        for (int r = 0; r < 6; r++)
            LL[(size_t)r * sl + (size_t)e] = z[r];
    }
    for (int r = 0; r < 6; r++) {
        for (int e = hi; e < seg; e++)
            LL[(size_t)r * sl + (size_t)e] = 0.0f;
    }
}

// Image row y of a plane, or the worker's zeros outside the image.
// Asks for image rows [y_lo, y_hi) of a plane ahead of their use: the passes go plane by plane,
// and a 32x32 plane is one 4 KB page, where the hardware prefetchers stop. Each tile row asks
// for its rows of the next plane (a few lines at a time, spread over the pass: a burst of a
// whole plane's lines stalls on the queue of misses). write: the rows are about to be written.
#define PREFETCH_LINE 16 // floats per 64-byte cache line
static void prefetch_rows(const float *plane, int y_lo, int y_hi, const cdrl_conv2d_desc *d,
                          int write) {
    y_lo = y_lo > 0 ? y_lo : 0;
    y_hi = y_hi < d->H ? y_hi : d->H;
    const float *a = plane + (size_t)y_lo * (size_t)d->W;
    for (size_t e = 0; y_hi > y_lo && e < (size_t)(y_hi - y_lo) * (size_t)d->W;
         e += PREFETCH_LINE) {
        if (write)
            __builtin_prefetch(a + e, 1);
        else
            __builtin_prefetch(a + e, 0);
    }
}

static const float *row_or_zeros(const float *plane, int y, const cdrl_conv2d_desc *d,
                                 const float *zeros) {
    return y >= 0 && y < d->H ? plane + (size_t)y * (size_t)d->W : zeros;
}

// ---------------------------------------------------------------------------------------
// V rows ((a 6 + b) C + c), columns the chunk's tiles, row stride ld: the transformed 6x6
// input tiles of channel c of inp (B, C, H, W). Down the columns into two sets of six lines
// (elements 0-3 of each tile at x = e - 1, 4-5 at x = e + 3), then across the tiles into V.
static void input_tiles(float *V, const float *inp, int C, int c, const cdrl_conv2d_desc *d,
                        const wplan *p, const wchunk *k, const wworker *ws) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W, sl = line_stride(p);
    const int seg = 4 * p->tw, W = d->W, n_seg = k->ni * k->nr;
    float *L4 = ws->lines + LINE_PAD, *L2 = L4 + 6 * sl + LINE_PAD;
    for (int i = 0; i < k->ni; i++) {
        const float *plane = inp + ((size_t)(k->i0 + i) * (size_t)C + (size_t)c) * HW;
        for (int ry = 0; ry < k->nr; ry++) {
            const int y0 = 4 * (k->ty0 + ry) - 1;
            if (c + 1 < C) prefetch_rows(plane + HW, y0 + (ry == 0 ? 0 : 2), y0 + 6, d, 0);
            const float *r[6];
            for (int q = 0; q < 6; q++)
                r[q] = row_or_zeros(plane, y0 + q, d, ws->zeros);
            const size_t at = (size_t)(i * k->nr + ry) * (size_t)seg;
            bt_columns(L4 + at + 1, L2 + at - 3, sl, W, r[0], r[1], r[2], r[3], r[4], r[5]);
        }
    }
    // Elements outside the image: x = -1 and x >= W in L4, x >= W in L2 (this also clears
    // what each segment's writes spilled into its neighbours).
    const int l2_lo = W - 3 > 0 ? W - 3 : 0;
    for (int a = 0; a < 6; a++) {
        for (int s = 0; s < n_seg; s++) {
            float *l4 = L4 + (size_t)a * sl + (size_t)s * (size_t)seg;
            float *l2 = L2 + (size_t)a * sl + (size_t)s * (size_t)seg;
            l4[0] = 0.0f;
            for (int e = W + 1; e < seg; e++)
                l4[e] = 0.0f;
            for (int e = l2_lo; e < seg; e++)
                l2[e] = 0.0f;
        }
        bt6_lines(V + ((size_t)(a * 6) * (size_t)C + (size_t)c) * ld, (size_t)C * ld,
                  L4 + (size_t)a * sl, L2 + (size_t)a * sl, k->T);
    }
}

// Output channel oc of the chunk from M rows (ξ OC + oc): out (B, OC, H, W) = (or +=) A^T M A
// + bias. Across the tiles into six lines, then down the columns into the output rows (rows
// past the image go to the worker's V, free by then).
static void output_tiles(float *out, const float *M, int OC, int oc, float bias, int accumulate,
                         const cdrl_conv2d_desc *d, const wplan *p, const wchunk *k,
                         const wworker *ws) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W, sl = line_stride(p);
    const int seg = 4 * p->tw;
    float *LL = ws->lines;
    for (int r = 0; r < 6; r++)
        at6_line(LL + (size_t)r * sl, M + ((size_t)(r * 6) * (size_t)OC + (size_t)oc) * ld,
                 (size_t)OC * ld, k->T);
    for (int i = 0; i < k->ni; i++) {
        float *plane = out + ((size_t)(k->i0 + i) * (size_t)OC + (size_t)oc) * HW;
        for (int ry = 0; ry < k->nr; ry++) {
            const int y0 = 4 * (k->ty0 + ry);
            if (oc + 1 < OC) prefetch_rows(plane + HW, y0, y0 + 4, d, !accumulate);
            float *o[4];
            for (int a = 0; a < 4; a++)
                o[a] = y0 + a < d->H ? plane + (size_t)(y0 + a) * (size_t)d->W
                                     : ws->V + (size_t)a * (size_t)d->W;
            at_columns(o[0], o[1], o[2], o[3], LL + (size_t)(i * k->nr + ry) * (size_t)seg, sl,
                       d->W, bias, accumulate);
        }
    }
}

// M rows ((r 6 + s) OC + oc): A dy A^T of channel oc of dout (B, OC, H, W), zero outside the
// image. Down the columns into six lines, then across the tiles into M.
static void grad_tiles(float *M, const float *dout, int OC, int oc, const cdrl_conv2d_desc *d,
                       const wplan *p, const wchunk *k, const wworker *ws) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W, sl = line_stride(p);
    const int seg = 4 * p->tw;
    float *LL = ws->lines;
    for (int i = 0; i < k->ni; i++) {
        const float *plane = dout + ((size_t)(k->i0 + i) * (size_t)OC + (size_t)oc) * HW;
        for (int ry = 0; ry < k->nr; ry++) {
            const int y0 = 4 * (k->ty0 + ry);
            if (oc + 1 < OC) prefetch_rows(plane + HW, y0, y0 + 4, d, 0);
            const float *y[4];
            for (int a = 0; a < 4; a++)
                y[a] = row_or_zeros(plane, y0 + a, d, ws->zeros);
            a_columns(LL + (size_t)(i * k->nr + ry) * (size_t)seg, sl, d->W, seg, y[0], y[1], y[2],
                      y[3]);
        }
    }
    for (int r = 0; r < 6; r++)
        a4_line(M + ((size_t)(r * 6) * (size_t)OC + (size_t)oc) * ld, (size_t)OC * ld,
                LL + (size_t)r * sl, k->T);
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
CDRL_VECTOR_CLONES static void kernel_strip(float *U, const float *w, int C, int OC, int flip,
                                            int o, int i0, int n) {
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
                    int flip, const cdrl_conv2d_desc *d, int accumulate,
                    const cdrl_cpu_conv_then *then, cdrl_arena *scratch) {
    CDRL_ASSERT(d->K == 3 && !(then && accumulate));
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
            input_tiles(ws.V, inp, C, ic, d, &p, &k, &ws);
        for (int x = 0; x < 36; x++)
            cdrl_sgemm(0, 0, OC, k.T, C, 1.0f, U + (size_t)x * (size_t)OC * (size_t)C, C,
                       ws.V + (size_t)x * (size_t)C * ld, (int)ld, 0.0f,
                       ws.M + (size_t)x * (size_t)OC * ld, (int)ld);
        for (int oc = 0; oc < OC; oc++)
            output_tiles(out, ws.M, OC, oc, b ? b[oc] : 0.0f, accumulate, d, &p, &k, &ws);
        if (then) {
            const int y1 = 4 * (k.ty0 + k.nr) < d->H ? 4 * (k.ty0 + k.nr) : d->H;
            cdrl_cpu_conv_then_rows(out, then, OC, d->H, d->W, k.i0, k.ni, 4 * k.ty0, y1);
        }
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
                input_tiles(ws.V, inp, IC, ic, d, &p, &k, &ws);
            for (int oc = 0; oc < OC; oc++)
                grad_tiles(ws.M, dout, OC, oc, d, &p, &k, &ws);
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
