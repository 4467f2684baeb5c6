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
// chunk's image rows laid end to end in segments of 4 tw floats give every tile element by one
// stride-4 read over the whole chunk (tile_rows, bt6_lines), long loops that vectorise,
// instead of gathers of tw elements per row: elements 0-3 of every tile from the rows placed
// one pixel to the right (x = -1 .. 4 tw - 2), elements 4 and 5 from the rows placed three
// pixels to the left (x = 3 .. 4 tw + 2).
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

// Per-worker bytes: V and M (36 rows per channel of the wider side), a work block of 36 rows
// (half-transformed tiles) and two copies of the chunk's image rows end to end.
static size_t worker_bytes(const cdrl_conv2d_desc *d, const wplan *p) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    return 2 * cdrl_arena_floats_size(36 * C * ld) + cdrl_arena_floats_size(36 * ld) +
           cdrl_arena_floats_size(8 * (size_t)p->cols_max);
}

typedef struct wworker {
    float *V, *M, *work, *line;
} wworker;

static wworker worker_at(float *base, const cdrl_conv2d_desc *d, const wplan *p, int t) {
    const size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC), ld = (size_t)p->ld;
    const size_t vm = cdrl_arena_floats_size(36 * C * ld) / sizeof(float);
    const size_t wk = cdrl_arena_floats_size(36 * ld) / sizeof(float);
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
// The 1-D transforms of one vector, and loops that run them over n columns at once: rows of a
// matrix (row k of the input d[k sd + j], of the output o[k so + j]), or the tiles of the
// chunk's image rows laid end to end (element q of column j at LL[4 j + q]), so that the
// horizontal pass reads the image rows and the last pass writes them without a separate
// (de)interleaving pass.

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

// B^T of 6 values over n columns into 6 rows (stride so): values 0-3 of column j at
// lo[k vk + j vj], values 4-5 at hi[(k - 4) vk + j vj]. Inlined with constant strides, as below.
static inline __attribute__((always_inline)) void bt6_from(float *restrict o, size_t so,
                                                           const float *restrict lo,
                                                           const float *restrict hi, size_t vk,
                                                           size_t vj, int n) {
#pragma GCC ivdep // the rows never overlap: rows of one matrix
    for (int j = 0; j < n; j++) {
        float x[6], y[6];
        for (int k = 0; k < 4; k++)
            x[k] = lo[(size_t)k * vk + (size_t)j * vj];
        for (int k = 4; k < 6; k++)
            x[k] = hi[(size_t)(k - 4) * vk + (size_t)j * vj];
        bt_1(y, x);
        for (int k = 0; k < 6; k++)
            o[(size_t)k * so + (size_t)j] = y[k];
    }
}

// Rows to rows: B^T of 6 rows.
CDRL_VECTOR_CLONES static void bt6(float *restrict o, size_t so, const float *restrict d, size_t sd,
                                   int n) {
    bt6_from(o, so, d, d + 4 * sd, sd, 1, n);
}

// Image rows to rows: B^T of elements 0-3 of each tile from L4 (L4[4 j + q]) and 4-5 from L2
// (L2[4 j + q - 4]).
CDRL_VECTOR_CLONES static void bt6_lines(float *restrict o, size_t so, const float *restrict L4,
                                         const float *restrict L2, int n) {
    bt6_from(o, so, L4, L2, 1, 4, n);
}

// A^T of 6 rows (stride sm) over n columns: output k of column j at o[k ok + j oj]. Inlined with
// constant strides into each caller below, so that each is vectorised for its own layout.
static inline __attribute__((always_inline)) void
at6_to(float *restrict o, size_t ok, size_t oj, const float *restrict m, size_t sm, int n) {
#pragma GCC ivdep
    for (int j = 0; j < n; j++) {
        float x[6], y[4];
        for (int k = 0; k < 6; k++)
            x[k] = m[(size_t)k * sm + (size_t)j];
        at_1(y, x);
        for (int k = 0; k < 4; k++)
            o[(size_t)k * ok + (size_t)j * oj] = y[k];
    }
}

// A of 4 values (value k of column j at y[k yk + j yj]) over n columns, into 6 rows (stride so).
static inline __attribute__((always_inline)) void
a4_from(float *restrict o, size_t so, const float *restrict y, size_t yk, size_t yj, int n) {
#pragma GCC ivdep
    for (int j = 0; j < n; j++) {
        float x[4], z[6];
        for (int k = 0; k < 4; k++)
            x[k] = y[(size_t)k * yk + (size_t)j * yj];
        a_1(z, x);
        for (int k = 0; k < 6; k++)
            o[(size_t)k * so + (size_t)j] = z[k];
    }
}

// Rows to rows: A^T of 6 rows.
CDRL_VECTOR_CLONES static void at6(float *restrict o, size_t so, const float *restrict m, size_t sm,
                                   int n) {
    at6_to(o, so, 1, m, sm, n);
}

// Rows to image rows: LL[4 j + k] = A^T of 6 rows (stride sm).
CDRL_VECTOR_CLONES static void at6_line(float *restrict LL, const float *restrict m, size_t sm,
                                        int n) {
    at6_to(LL, 1, 4, m, sm, n);
}

// Rows to rows: A of 4 rows.
CDRL_VECTOR_CLONES static void a4(float *restrict o, size_t so, const float *restrict y, size_t sy,
                                  int n) {
    a4_from(o, so, y, sy, 1, n);
}

// Image rows to rows: A of the 4 elements of each tile, LL[4 j + k].
CDRL_VECTOR_CLONES static void a4_line(float *restrict o, size_t so, const float *restrict LL,
                                       int n) {
    a4_from(o, so, LL, 1, 4, n);
}

// LL: image row 4 ty + y_off of every tile row of the chunk, in segments of 4 tw floats:
// segment element e is pixel x = e - x0 of the row, zero outside the image. The chunk's channel
// planes lie ps floats apart from inp.
CDRL_VECTOR_CLONES static void tile_rows(float *restrict LL, const float *restrict inp, size_t ps,
                                         int y_off, int x0, const cdrl_conv2d_desc *d,
                                         const wplan *p, const wchunk *k) {
    const int H = d->H, W = d->W, seg = 4 * p->tw;
    const int x_lo = x0 < 0 ? -x0 : 0, x_hi = seg - x0 < W ? seg - x0 : W;
    for (int i = 0; i < k->ni; i++) {
        for (int ry = 0; ry < k->nr; ry++) {
            float *dst = LL + (size_t)(i * k->nr + ry) * (size_t)seg;
            const int y = 4 * (k->ty0 + ry) + y_off;
            for (int e = 0; e < seg; e++)
                dst[e] = 0.0f;
            if (y >= 0 && y < H) {
                const float *src = inp + (size_t)i * ps + (size_t)y * (size_t)W;
                for (int x = x_lo; x < x_hi; x++)
                    dst[x0 + x] = src[x];
            }
        }
    }
}

// Output row 4 ty + a of every tile row of the chunk from LL (segments of 4 tw floats):
// out = LL + bias, or out += LL + bias; rows past the image dropped. Planes ps floats apart.
CDRL_VECTOR_CLONES static void output_rows(float *restrict out, size_t ps, const float *restrict LL,
                                           int a, float bias, int accumulate,
                                           const cdrl_conv2d_desc *d, const wplan *p,
                                           const wchunk *k) {
    const int H = d->H, W = d->W, seg = 4 * p->tw;
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
// input tiles of channel c of inp (B, C, H, W). work: 36 rows of stride ld; lines: two of 4 tw
// floats per tile row.
static void input_tiles(float *V, const float *inp, int C, int c, const cdrl_conv2d_desc *d,
                        const wplan *p, const wchunk *k, float *work, float *lines) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W, ps = (size_t)C * HW;
    const float *plane = inp + ((size_t)k->i0 * (size_t)C + (size_t)c) * HW;
    float *tmp = work, *L4 = lines, *L2 = lines + 4 * (size_t)p->cols_max;
    for (int r = 0; r < 6; r++) { // rows: tmp row (r 6 + b) = Σ_q B^T[b][q] d(r, q)
        tile_rows(L4, plane, ps, r - 1, 1, d, p, k);
        tile_rows(L2, plane, ps, r - 1, -3, d, p, k);
        bt6_lines(tmp + (size_t)(r * 6) * ld, ld, L4, L2, k->T);
    }
    for (int b = 0; b < 6; b++) // columns: V[(a 6 + b) C + c] = Σ_r B^T[a][r] tmp[r 6 + b]
        bt6(V + ((size_t)b * (size_t)C + (size_t)c) * ld, 6 * (size_t)C * ld, tmp + (size_t)b * ld,
            6 * ld, k->T);
}

// Output channel oc of the chunk from M rows (ξ OC + oc): out (B, OC, H, W) = (or +=) A^T M A
// + bias.
static void output_tiles(float *out, const float *M, int OC, int oc, float bias, int accumulate,
                         const cdrl_conv2d_desc *d, const wplan *p, const wchunk *k, float *work,
                         float *line) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W;
    float *tmp = work;
    for (int s = 0; s < 6; s++) // columns: tmp row (a 6 + s) = Σ_r A^T[a][r] M[r 6 + s]
        at6(tmp + (size_t)s * ld, 6 * ld, M + ((size_t)s * (size_t)OC + (size_t)oc) * ld,
            6 * (size_t)OC * ld, k->T);
    for (int a = 0; a < 4; a++) { // rows: output row a of each tile = Σ_s A^T[b][s] tmp[a 6 + s]
        at6_line(line, tmp + (size_t)(a * 6) * ld, ld, k->T);
        output_rows(out + ((size_t)k->i0 * (size_t)OC + (size_t)oc) * HW, (size_t)OC * HW, line, a,
                    bias, accumulate, d, p, k);
    }
}

// M rows ((r 6 + s) OC + oc): A dy A^T of channel oc of dout (B, OC, H, W), zero outside the
// image.
static void grad_tiles(float *M, const float *dout, int OC, int oc, const cdrl_conv2d_desc *d,
                       const wplan *p, const wchunk *k, float *work, float *line) {
    const size_t ld = (size_t)p->ld, HW = (size_t)d->H * (size_t)d->W;
    float *tmp = work;
    const float *plane = dout + ((size_t)k->i0 * (size_t)OC + (size_t)oc) * HW;
    for (int a = 0; a < 4; a++) { // rows: tmp row (a 6 + s) = Σ_b A[s][b] dy(a, b)
        tile_rows(line, plane, (size_t)OC * HW, a, 0, d, p, k);
        a4_line(tmp + (size_t)(a * 6) * ld, ld, line, k->T);
    }
    for (int s = 0; s < 6; s++) // columns: M[(r 6 + s) OC + oc] = Σ_a A[r][a] tmp[a 6 + s]
        a4(M + ((size_t)s * (size_t)OC + (size_t)oc) * ld, 6 * (size_t)OC * ld,
           tmp + (size_t)s * ld, 6 * ld, k->T);
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
            input_tiles(ws.V, inp, C, ic, d, &p, &k, ws.work, ws.line);
        for (int x = 0; x < 36; x++)
            cdrl_sgemm(0, 0, OC, k.T, C, 1.0f, U + (size_t)x * (size_t)OC * (size_t)C, C,
                       ws.V + (size_t)x * (size_t)C * ld, (int)ld, 0.0f,
                       ws.M + (size_t)x * (size_t)OC * ld, (int)ld);
        for (int oc = 0; oc < OC; oc++)
            output_tiles(out, ws.M, OC, oc, b ? b[oc] : 0.0f, accumulate, d, &p, &k, ws.work,
                         ws.line);
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
