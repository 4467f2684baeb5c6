// 2-D convolution, stride 1, K in {1, 3}, zero padding K/2, NCHW: forward and backward as
// im2col + oneDNN sgemm (torch.nn.Conv2d,
// https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html).
// The batch is cut into fixed chunks of about CONV_COLS output pixels (CONV_COLS_NARROW for
// layers under 64 channels on large maps): a band of rows of one image when images are large,
// several whole images when they are small, so every GEMM has a useful width even at 4x4. The
// chunks depend on the shape alone, never on the thread count. Backward-data is the forward
// convolution of dout with the flipped, transposed kernel (no col2im). For 3x3 bands of one
// image, forward and backward-data copy one panel per kernel column instead of the 9-tap
// im2col (band_panel). Under CDRL_PRECISION_BF16 the forward and backward-data products of
// the layers cdrl_bf16_conv_applies names take bfloat16 operands (gemm_bf16.h): the panel is
// rounded as it is built. Otherwise 3x3 layers of 16+ channels on maps of 24x24 and up
// (16x16 at 128+ channels) take Winograd F(4x4, 3x3) (winograd.h; its kernel gradient from
// 24x24 up).
// Leaves out strides, dilation, groups and even K.
#include <string.h>

#include "ops/cpu/chunks.h"
#include "ops/cpu/conv_small.h"
#include "ops/cpu/cpu.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_bf16.h"
#include "ops/cpu/winograd.h"

// Output pixels per chunk: the GEMM width. Measured on Zen4 (one core per call, panel stride
// padded by cdrl_sgemm_ld): 256 and 512 run alike, 128 and 768+ lose 5-20 %; 256 keeps the
// col panel of a 256-channel 3x3 layer at 2.4 MB and still gives 4 chunks at 4x4, batch 64.
#ifndef CONV_COLS
#define CONV_COLS 256
#endif
// Partial weight-gradient buffers: chunks are dealt round-robin to this many slots, each slot
// sums its chunks in order, and the slots are added in order. A constant, not the thread
// count, so the bytes of dw never depend on how many threads ran; it also caps the
// parallelism of the weight gradient.
#define CONV_DW_SLOTS 8

// ---------------------------------------------------------------------------------------
// Chunks: chunk c covers images [i0, i0 + n_img) and, in each, rows [y0, y0 + n_rows).
// Either n_img == 1 (a band of rows of one image) or the rows are all of H (whole images).
typedef struct chunking {
    cdrl_chunks c; // of pixel rows
    int cols_max;  // widest chunk: n_img * n_rows * W
} chunking;

typedef struct chunk {
    int i0, ni, y0, nr, cols;
    int ld; // row stride of the chunk's col panel and staging tile (cdrl_sgemm_ld)
} chunk;

// Narrow layers (fewer than 64 channels on a side) on maps of 512+ pixels take bands of up
// to CONV_COLS_NARROW columns: their products are shallow (depth 3C per kernel row), so a wider
// product repays its fixed costs better. Measured on Zen4, 2 threads, 32 channels at 32x32:
// 282 GFLOP/s forward with 256 columns, 311 with 512, 323 with 1024; 64 channels at 16x16 keep
// 256 (352 against 278 with 512, where chunks would span images).
#define CONV_COLS_NARROW 1024

static chunking chunking_of(const cdrl_conv2d_desc *d) {
    const int HW = d->H * d->W;
    const int narrow = (d->IC < d->OC ? d->IC : d->OC) < 64 && HW >= CONV_COLS_NARROW / 2;
    const cdrl_chunks c = cdrl_chunks_of(d->B, d->H, d->W, narrow ? CONV_COLS_NARROW : CONV_COLS);
    chunking g = {c, c.n_img * c.n_rows * d->W};
    return g;
}

static chunk chunk_at(const chunking *g, const cdrl_conv2d_desc *d, int c) {
    const cdrl_chunk_span sp = cdrl_chunk_span_at(&g->c, d->B, d->H, c);
    chunk k;
    k.i0 = sp.i0, k.ni = sp.ni, k.y0 = sp.r0, k.nr = sp.nr;
    k.cols = k.ni * k.nr * d->W;
    k.ld = cdrl_sgemm_ld(k.cols);
    return k;
}

// ---------------------------------------------------------------------------------------
// Per-worker scratch in floats: the col panel (C*K*K, cols) for the wider of the two
// convolutions (forward has IC input channels, backward-data OC), and a staging tile
// (max(IC, OC), cols) for chunks of several images, whose GEMM result is not contiguous in NCHW.
static size_t worker_floats_col(const cdrl_conv2d_desc *d, const chunking *g) {
    size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC);
    return C * (size_t)(d->K * d->K) * (size_t)cdrl_sgemm_ld(g->cols_max);
}
static size_t worker_floats_tile(const cdrl_conv2d_desc *d, const chunking *g) {
    size_t C = (size_t)(d->IC > d->OC ? d->IC : d->OC);
    return g->c.n_img > 1 ? C * (size_t)cdrl_sgemm_ld(g->cols_max) : 0;
}
// Whether the convolution may take bfloat16 products (CPU with them, a product that the rule
// of cdrl_bf16_conv_applies names): only then is room kept for the bfloat16 copies.
static int bf16_possible(const cdrl_conv2d_desc *d) {
    return cdrl_bf16_supported() && cdrl_bf16_conv_applies(d, d->IC > d->OC ? d->IC : d->OC);
}

// The col panel again in bfloat16 (two per float), for products in that precision.
static size_t worker_floats_col16(const cdrl_conv2d_desc *d, const chunking *g) {
    return bf16_possible(d) ? worker_floats_col(d, g) / 2 + 1 : 0;
}
static size_t worker_bytes(const cdrl_conv2d_desc *d, const chunking *g) {
    return cdrl_arena_floats_size(worker_floats_col(d, g)) +
           cdrl_arena_floats_size(worker_floats_tile(d, g)) +
           cdrl_arena_floats_size(worker_floats_col16(d, g));
}

static int dw_slots(const chunking *g) {
    return g->c.n_chunks < CONV_DW_SLOTS ? g->c.n_chunks : CONV_DW_SLOTS;
}

// Bytes the kernels take besides the worker slots: the partial weight gradients (which also
// cover the flipped kernel of backward-data, never live at the same time) and the per-chunk
// bias sums.
static size_t fixed_bytes(const cdrl_conv2d_desc *d, const chunking *g) {
    size_t wn = (size_t)d->OC * (size_t)d->IC * (size_t)(d->K * d->K);
    return (size_t)dw_slots(g) * cdrl_arena_floats_size(wn) +
           (bf16_possible(d) ? cdrl_arena_floats_size(wn / 2 + 1) : 0) +
           cdrl_arena_floats_size((size_t)g->c.n_chunks * (size_t)d->OC);
}

static int workers_fitting(const cdrl_arena *a, const cdrl_conv2d_desc *d, const chunking *g,
                           int n_tasks) {
    return cdrl_workers_fitting(a, worker_bytes(d, g), n_tasks);
}

typedef struct workers {
    float *col;      // (n, worker_floats_col)
    float *tile;     // (n, worker_floats_tile) or NULL
    uint16_t *col16; // (n, 2 worker_floats_col16)
    size_t col_n, tile_n, col16_n;
} workers;

static workers workers_alloc(cdrl_arena *a, const cdrl_conv2d_desc *d, const chunking *g, int n) {
    workers w;
    w.col_n = cdrl_arena_floats_size(worker_floats_col(d, g)) / sizeof(float);
    w.tile_n = cdrl_arena_floats_size(worker_floats_tile(d, g)) / sizeof(float);
    w.col16_n = 2 * (cdrl_arena_floats_size(worker_floats_col16(d, g)) / sizeof(float));
    w.col = cdrl_arena_floats(a, w.col_n * (size_t)n);
    w.tile = w.tile_n ? cdrl_arena_floats(a, w.tile_n * (size_t)n) : NULL;
    w.col16 =
        w.col16_n ? (uint16_t *)(void *)cdrl_arena_floats(a, w.col16_n / 2 * (size_t)n) : NULL;
    return w;
}

// Worker t's bfloat16 panel, or NULL when the convolution keeps none.
static uint16_t *col16_of(const workers *w, int t) {
    return w->col16 ? w->col16 + (size_t)t * w->col16_n : NULL;
}

size_t cdrl_cpu_conv2d_scratch_size(const cdrl_conv2d_desc *d) {
    CDRL_ASSERT((d->K == 1 || d->K == 3) && d->H > 0 && d->W > 0 && d->B >= 0);
    if (d->B == 0) return 0;
    chunking g = chunking_of(d);
    int n = cdrl_threads();
    if (n > g.c.n_chunks) n = g.c.n_chunks;
    const size_t direct = fixed_bytes(d, &g) + (size_t)n * worker_bytes(d, &g);
    const size_t wino = cdrl_wino_applies(d, d->IC, d->OC) || cdrl_wino_applies(d, d->OC, d->IC)
                            ? cdrl_wino_scratch_size(d)
                            : 0;
    const size_t small = cdrl_conv_small_applies(d, d->IC, 0) ? cdrl_conv_small_scratch_size(d) : 0;
    const size_t most = direct > wino ? direct : wino;
    return most > small ? most : small;
}

// ---------------------------------------------------------------------------------------
// col (C*K*K, k.cols), row stride k.ld: row (c, kh, kw), column (image, y, x) of the chunk
// holds inp[image, c, y + kh - K/2, x + kw - K/2], zero outside the image. inp (B, C, H, W).
// For K = 1 this is a plain copy, kept because the image planes themselves are often 4 KB
// multiples apart (32x32), the stride sgemm handles badly.
static void im2col(float *col, const float *inp, int C, const cdrl_conv2d_desc *d, const chunk *k) {
    int H = d->H, W = d->W, K = d->K, p = K / 2;
    ptrdiff_t HW = (ptrdiff_t)H * W, n = (ptrdiff_t)k->nr * W; // n: pixels per image here
    for (int c = 0; c < C; c++) {
        for (int kh = 0; kh < K; kh++) {
            for (int kw = 0; kw < K; kw++) {
                float *dst =
                    col + ((size_t)c * (size_t)(K * K) + (size_t)(kh * K + kw)) * (size_t)k->ld;
                // In flat pixel indices the tap is one shift of the whole band: pixel j of
                // the band reads plane[y0 W + j + off]. Out-of-plane reads (rows above or
                // below) are zero, and a horizontal tap that wraps into the neighbouring row
                // is zeroed afterwards in its column (x = 0 for dx < 0, W - 1 for dx > 0).
                int dx = kw - p;
                ptrdiff_t off = (ptrdiff_t)(kh - p) * W + dx, base = (ptrdiff_t)k->y0 * W + off;
                ptrdiff_t lo = base < 0 ? -base : 0, hi = HW - base < n ? HW - base : n;
                if (lo > n) lo = n; // planes smaller than the tap offset (1x1 maps)
                if (hi < lo) hi = lo;
                for (int i = 0; i < k->ni; i++) {
                    const float *plane =
                        inp + ((size_t)(k->i0 + i) * (size_t)C + (size_t)c) * (size_t)HW;
                    float *drow = dst + (size_t)i * (size_t)n;
                    memset(drow, 0, (size_t)lo * sizeof(float));
                    memcpy(drow + lo, plane + (base + lo), (size_t)(hi - lo) * sizeof(float));
                    memset(drow + hi, 0, (size_t)(n - hi) * sizeof(float));
                    if (dx != 0) {
                        for (ptrdiff_t j = dx < 0 ? 0 : W - 1; j < n; j += W)
                            drow[j] = 0.0f;
                    }
                }
            }
        }
    }
}

// Band panel for K = 3 (chunks of one image): P (3C, (nr + 2) W), row stride ld, row
// (kw, c) holding channel c over the rows y0 - 1 .. y0 + nr of the image, shifted by
// dx = kw - 1 (column x holds inp[c, y, x + dx]), zero outside the image. Tap (kh, kw) of
// im2col is then P's rows (kw, *) from column kh W on: the three kh taps share one copy, so
// the panel is 3 (nr + 2) / (9 nr) of im2col's bytes, and the product is three GEMMs of depth
// 3C (one per kh) accumulating into the band.
// With P16 the panel is written in bfloat16 instead (rounded as it is copied: one pass, half
// the bytes) and P is not touched.
static void band_panel(float *P, uint16_t *P16, int ld, const float *inp, int C,
                       const cdrl_conv2d_desc *d, const chunk *k) {
    int H = d->H, W = d->W;
    ptrdiff_t HW = (ptrdiff_t)H * W, n = (ptrdiff_t)(k->nr + 2) * W;
    for (int kw = 0; kw < 3; kw++) {
        int dx = kw - 1;
        ptrdiff_t base = (ptrdiff_t)(k->y0 - 1) * W + dx;
        ptrdiff_t lo = base < 0 ? -base : 0, hi = HW - base < n ? HW - base : n;
        if (lo > n) lo = n;
        if (hi < lo) hi = lo;
        for (int c = 0; c < C; c++) {
            const float *plane = inp + ((size_t)k->i0 * (size_t)C + (size_t)c) * (size_t)HW;
            const size_t row = (size_t)(kw * C + c) * (size_t)ld;
            if (P16) {
                uint16_t *drow = P16 + row;
                memset(drow, 0, (size_t)lo * sizeof(uint16_t));
                cdrl_to_bf16(drow + lo, plane + (base + lo), (size_t)(hi - lo));
                memset(drow + hi, 0, (size_t)(n - hi) * sizeof(uint16_t));
                for (ptrdiff_t j = dx < 0 ? 0 : W - 1; dx != 0 && j < n; j += W)
                    drow[j] = 0;
            } else {
                float *drow = P + row;
                memset(drow, 0, (size_t)lo * sizeof(float));
                memcpy(drow + lo, plane + (base + lo), (size_t)(hi - lo) * sizeof(float));
                memset(drow + hi, 0, (size_t)(n - hi) * sizeof(float));
                for (ptrdiff_t j = dx < 0 ? 0 : W - 1; dx != 0 && j < n; j += W)
                    drow[j] = 0.0f;
            }
        }
    }
}

// Floats of a band panel, and whether it fits the worker's col slot (it does for every
// band height of at least one row, up to the row-stride rounding).
static int band_ld(const chunking *g, const cdrl_conv2d_desc *d) {
    return cdrl_sgemm_ld((g->c.n_rows + 2) * d->W);
}
static int band_fits(const chunking *g, const cdrl_conv2d_desc *d, int C) {
    return d->K == 3 && g->c.n_img == 1 &&
           (size_t)3 * (size_t)C * (size_t)band_ld(g, d) <= worker_floats_col(d, g);
}

// wr (3, OC, 3C): wr[kh][oc][kw C + c] = w[oc][c][kh][kw], the A operand of each kh GEMM. With
// flip, w is the forward kernel (C, OC, 3, 3) of which backward-data convolves with the
// rotated transpose: wr[kh][oc][kw C + c] = w[c][oc][2 - kh][2 - kw].
static void band_weights(float *wr, const float *w, int C, int OC, int flip) {
#pragma omp parallel for schedule(static) if ((size_t)OC * (size_t)C >= 4096)
    for (int oc = 0; oc < OC; oc++) {
        for (int c = 0; c < C; c++) {
            for (int kh = 0; kh < 3; kh++) {
                for (int kw = 0; kw < 3; kw++) {
                    float v =
                        flip ? w[((size_t)c * (size_t)OC + (size_t)oc) * 9 +
                                 (size_t)((2 - kh) * 3 + (2 - kw))]
                             : w[((size_t)oc * (size_t)C + (size_t)c) * 9 + (size_t)(kh * 3 + kw)];
                    wr[((size_t)kh * (size_t)OC + (size_t)oc) * (size_t)(3 * C) +
                       (size_t)(kw * C + c)] = v;
                }
            }
        }
    }
}

// One band chunk of out (=, or += when accumulate) through the panel: see band_panel. With
// wr16 (wr in bfloat16) the products take bfloat16 operands: the panel is rounded into P16.
static void conv_band(float *out, const float *inp, const float *wr, const uint16_t *wr16,
                      const float *b, int C, int OC, const cdrl_conv2d_desc *d, const chunk *k,
                      int ld, int accumulate, float *P, uint16_t *P16) {
    size_t HW = (size_t)d->H * (size_t)d->W;
    band_panel(P, wr16 ? P16 : NULL, ld, inp, C, d, k);
    float *o = out + (size_t)k->i0 * (size_t)OC * HW + (size_t)k->y0 * (size_t)d->W;
    for (int kh = 0; kh < 3; kh++) {
        const size_t a_off = (size_t)kh * (size_t)OC * (size_t)(3 * C),
                     b_off = (size_t)kh * (size_t)d->W;
        if (wr16)
            cdrl_gemm_bf16(OC, k->cols, 3 * C, wr16 + a_off, 3 * C, P16 + b_off, ld,
                           kh > 0 || accumulate, o, (int)HW);
        else
            cdrl_sgemm(0, 0, OC, k->cols, 3 * C, 1.0f, wr + a_off, 3 * C, P + b_off, ld,
                       kh > 0 || accumulate ? 1.0f : 0.0f, o, (int)HW);
    }
    if (b) {
        for (int oc = 0; oc < OC; oc++) {
            float *row = o + (size_t)oc * HW;
            for (int j = 0; j < k->cols; j++)
                row[j] += b[oc];
        }
    }
}

// One chunk of out (B, OC, H, W) (=, or += when accumulate) conv(inp (B, C, H, W), w (OC, C, K,
// K)) + b (OC, or NULL). Used by forward, and by backward-data with the flipped kernel.
// With w16 (w in bfloat16) the product takes bfloat16 operands: col is rounded into col16.
static void conv_chunk(float *out, const float *inp, const float *w, const uint16_t *w16,
                       const float *b, int C, int OC, const cdrl_conv2d_desc *d, const chunk *k,
                       int accumulate, float *col, float *tile, uint16_t *col16) {
    size_t HW = (size_t)d->H * (size_t)d->W;
    int CK = C * d->K * d->K;
    im2col(col, inp, C, d, k);
    if (w16) // the k->cols written columns of each row (the stride's padding is never read)
        for (int r = 0; r < CK; r++)
            cdrl_to_bf16(col16 + (size_t)r * (size_t)k->ld, col + (size_t)r * (size_t)k->ld,
                         (size_t)k->cols);
    if (k->ni == 1) {
        // The band is a strided block of the image's (OC, HW) plane: the GEMM writes in place.
        float *o = out + (size_t)k->i0 * (size_t)OC * HW + (size_t)k->y0 * (size_t)d->W;
        if (w16)
            cdrl_gemm_bf16(OC, k->cols, CK, w16, CK, col16, k->ld, accumulate, o, (int)HW);
        else
            cdrl_sgemm(0, 0, OC, k->cols, CK, 1.0f, w, CK, col, k->ld, accumulate ? 1.0f : 0.0f, o,
                       (int)HW);
        if (b) {
            for (int oc = 0; oc < OC; oc++) {
                float *row = o + (size_t)oc * HW;
                for (int j = 0; j < k->cols; j++)
                    row[j] += b[oc];
            }
        }
        return;
    }
    // Several images: tile (OC, ni * HW), then each image's (OC, HW) plane is scattered out.
    if (w16)
        cdrl_gemm_bf16(OC, k->cols, CK, w16, CK, col16, k->ld, 0, tile, k->ld);
    else
        cdrl_sgemm(0, 0, OC, k->cols, CK, 1.0f, w, CK, col, k->ld, 0.0f, tile, k->ld);
    for (int i = 0; i < k->ni; i++) {
        for (int oc = 0; oc < OC; oc++) {
            const float *src = tile + (size_t)oc * (size_t)k->ld + (size_t)i * HW;
            float *dst = out + ((size_t)(k->i0 + i) * (size_t)OC + (size_t)oc) * HW;
            float bias = b ? b[oc] : 0.0f;
            if (accumulate) {
                for (size_t j = 0; j < HW; j++)
                    dst[j] += src[j] + bias;
            } else {
                for (size_t j = 0; j < HW; j++)
                    dst[j] = src[j] + bias;
            }
        }
    }
}

// Whether a product over C input channels runs in bfloat16 (under CDRL_PRECISION_BF16): 3x3
// kernels of 64 channels or more. Smaller products do not repay the rounding pass and oneDNN's
// per-call cost, nor do 1x1 kernels (their panel is a plain copy): measured by bench_ops on
// Zen4 (AVX512_BF16, 2 threads, batch 64), bf16 over float: 32 ch at 32x32 0.93x, 64 ch 1.06x,
// 128 ch 1.3-1.4x, 256 ch at 16x16 1.7x; 1x1 128 -> 64 0.92x.
static int bf16_pays(const cdrl_conv2d_desc *d, int C) {
    return cdrl_bf16_conv_applies(d, C) && cdrl_cpu_bf16_active();
}

// ---------------------------------------------------------------------------------------
void cdrl_cpu_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                             const cdrl_conv_epilogue *ep, const cdrl_conv2d_desc *d,
                             cdrl_arena *scratch) {
    CDRL_ASSERT((d->K == 1 || d->K == 3) && d->H > 0 && d->W > 0 && d->B >= 0);
    if (d->B == 0) return;
    const cdrl_cpu_conv_then then = {NULL, ep};
    if (cdrl_conv_small_applies(d, d->IC, 0)) {
        cdrl_conv_small_forward(out, inp, w, b, d, ep ? &then : NULL, scratch);
        return;
    }
    if (!bf16_pays(d, d->IC) && cdrl_wino_applies(d, d->IC, d->OC)) {
        cdrl_wino_conv(out, inp, w, b, d->IC, d->OC, 0, d, 0, ep ? &then : NULL, scratch);
        return;
    }
    chunking g = chunking_of(d);
    size_t mark = cdrl_arena_mark(scratch);
    const int band = band_fits(&g, d, d->IC), ld = band ? band_ld(&g, d) : 0;
    const size_t wn = (size_t)d->OC * (size_t)d->IC * (size_t)(d->K * d->K);
    float *wr = NULL; // (3, OC, 3 IC)
    if (band) {
        wr = cdrl_arena_floats(scratch, wn);
        band_weights(wr, w, d->IC, d->OC, 0);
    }
    uint16_t *w16 = NULL; // the A operand in bfloat16
    if (bf16_pays(d, d->IC)) {
        w16 = (uint16_t *)(void *)cdrl_arena_floats(scratch, wn / 2 + 1);
        cdrl_to_bf16(w16, band ? wr : w, wn);
    }
    int nw = workers_fitting(scratch, d, &g, g.c.n_chunks);
    workers ws = workers_alloc(scratch, d, &g, nw);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
    for (int c = 0; c < g.c.n_chunks; c++) {
        int t = cdrl_worker_id();
        chunk k = chunk_at(&g, d, c);
        float *col = ws.col + (size_t)t * ws.col_n;
        uint16_t *col16 = col16_of(&ws, t);
        if (band)
            conv_band(out, inp, wr, w16, b, d->IC, d->OC, d, &k, ld, 0, col, col16);
        else
            conv_chunk(out, inp, w, w16, b, d->IC, d->OC, d, &k, 0, col,
                       ws.tile ? ws.tile + (size_t)t * ws.tile_n : NULL, col16);
        if (ep)
            cdrl_cpu_conv_then_rows(out, &then, d->OC, d->H, d->W, k.i0, k.ni, k.y0, k.y0 + k.nr);
    }
    cdrl_arena_release(scratch, mark);
}

// dinp += conv(dout, w_flip): w_flip (IC, OC, K, K) = w (OC, IC, K, K) with the first two axes
// swapped and the kernel rotated by 180 degrees; padding K/2 stays K/2 because K is odd.
// With accumulate 0, dinp = conv(dout, w_flip) instead, then through act if given (each chunk
// as soon as it is written).
static void backward_data(float *dinp, const float *dout, const float *w, const cdrl_conv2d_desc *d,
                          const chunking *g, int accumulate, const cdrl_lrelu_grad *act,
                          cdrl_arena *scratch) {
    CDRL_ASSERT(!(act && accumulate));
    const cdrl_cpu_conv_then then = {act, NULL};
    if (cdrl_conv_small_applies(d, d->IC, 1)) {
        cdrl_conv_small_input_grad(dinp, dout, w, d, accumulate, act ? &then : NULL, scratch);
        return;
    }
    if (!bf16_pays(d, d->OC) && cdrl_wino_applies(d, d->OC, d->IC)) {
        cdrl_wino_conv(dinp, dout, w, NULL, d->OC, d->IC, 1, d, accumulate, act ? &then : NULL,
                       scratch);
        return;
    }
    int KK = d->K * d->K;
    size_t wn = (size_t)d->OC * (size_t)d->IC * (size_t)KK;
    float *w_flip = cdrl_arena_floats(scratch, wn); // (IC, OC, K, K), or the band path's wr
    uint16_t *w16 = bf16_pays(d, d->OC) ? (uint16_t *)(void *)cdrl_arena_floats(scratch, wn / 2 + 1)
                                        : NULL; // w_flip in bfloat16
    if (band_fits(g, d, d->OC)) {
        // The band path convolves dout (OC channels) into dinp (IC) with wr (3, IC, 3 OC).
        const int ld = band_ld(g, d);
        band_weights(w_flip, w, d->OC, d->IC, 1);
        if (w16) cdrl_to_bf16(w16, w_flip, wn);
        int nw = workers_fitting(scratch, d, g, g->c.n_chunks);
        workers ws = workers_alloc(scratch, d, g, nw);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
        for (int c = 0; c < g->c.n_chunks; c++) {
            int t = cdrl_worker_id();
            chunk k = chunk_at(g, d, c);
            conv_band(dinp, dout, w_flip, w16, NULL, d->OC, d->IC, d, &k, ld, accumulate,
                      ws.col + (size_t)t * ws.col_n, col16_of(&ws, t));
            if (act)
                cdrl_cpu_conv_then_rows(dinp, &then, d->IC, d->H, d->W, k.i0, k.ni, k.y0,
                                        k.y0 + k.nr);
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int ic = 0; ic < d->IC; ic++) {
        for (int oc = 0; oc < d->OC; oc++) {
            const float *src = w + ((size_t)oc * (size_t)d->IC + (size_t)ic) * (size_t)KK;
            float *dst = w_flip + ((size_t)ic * (size_t)d->OC + (size_t)oc) * (size_t)KK;
            for (int j = 0; j < KK; j++)
                dst[j] = src[KK - 1 - j];
        }
    }
    if (w16) cdrl_to_bf16(w16, w_flip, wn);
    int nw = workers_fitting(scratch, d, g, g->c.n_chunks);
    workers ws = workers_alloc(scratch, d, g, nw);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
    for (int c = 0; c < g->c.n_chunks; c++) {
        int t = cdrl_worker_id();
        chunk k = chunk_at(g, d, c);
        conv_chunk(dinp, dout, w_flip, w16, NULL, d->OC, d->IC, d, &k, accumulate,
                   ws.col + (size_t)t * ws.col_n, ws.tile ? ws.tile + (size_t)t * ws.tile_n : NULL,
                   col16_of(&ws, t));
        if (act)
            cdrl_cpu_conv_then_rows(dinp, &then, d->IC, d->H, d->W, k.i0, k.ni, k.y0, k.y0 + k.nr);
    }
}

// Sum of n floats in 16 interleaved lanes (vectorisable, 16 short dependency chains instead of
// one long one), the lanes then added in a fixed tree: the same bytes on every call.
static float lane_sum(const float *p, size_t n) {
    float lane[16] = {0};
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int l = 0; l < 16; l++)
            lane[l] += p[j + l];
    }
    for (; j < n; j++)
        lane[j % 16] += p[j];
    for (int half = 8; half > 0; half /= 2) {
        for (int l = 0; l < half; l++)
            lane[l] += lane[l + half];
    }
    return lane[0];
}

// Parameter gradients, chunk by chunk: chunks are dealt round-robin to n_slots slots, each
// slot runs its chunks in order, and the slots are added in slot order.
// dw (OC, IC*K*K) += sum over chunks of dout_chunk (OC, cols) · col_chunkᵀ (cols, IC*K*K);
// db (OC) += sum over chunks of the chunk's per-channel sums of dout, taken while the chunk is
// in cache. Either may be NULL.
static void backward_params(float *dw, float *db, const float *dout, const float *inp,
                            const cdrl_conv2d_desc *d, const chunking *g, cdrl_arena *scratch) {
    size_t HW = (size_t)d->H * (size_t)d->W;
    int CK = d->IC * d->K * d->K;
    size_t wn = (size_t)d->OC * (size_t)CK;
    size_t pn = cdrl_arena_floats_size(wn) / sizeof(float);
    int n_slots = dw_slots(g);
    float *partial =
        dw ? cdrl_arena_floats(scratch, pn * (size_t)n_slots) : NULL; // (n_slots, OC, CK)
    float *bsum = db ? cdrl_arena_floats(scratch, (size_t)g->c.n_chunks * (size_t)d->OC)
                     : NULL; // (n_chunks, OC)
    int nw = workers_fitting(scratch, d, g, n_slots);
    workers ws = workers_alloc(scratch, d, g, nw);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
    for (int s = 0; s < n_slots; s++) {
        int t = cdrl_worker_id();
        float *col = ws.col + (size_t)t * ws.col_n;
        float *tile = ws.tile ? ws.tile + (size_t)t * ws.tile_n : NULL;
        for (int c = s; c < g->c.n_chunks; c += n_slots) {
            chunk k = chunk_at(g, d, c);
            size_t seg = (size_t)k.nr * (size_t)d->W; // pixels of one image in the chunk
            if (dw) {
                // A operand (OC, cols): dout's band in place, or several images gathered.
                const float *am =
                    dout + (size_t)k.i0 * (size_t)d->OC * HW + (size_t)k.y0 * (size_t)d->W;
                int lda = (int)HW;
                if (k.ni > 1) {
                    for (int oc = 0; oc < d->OC; oc++) {
                        for (int i = 0; i < k.ni; i++) {
                            memcpy(tile + (size_t)oc * (size_t)k.ld + (size_t)i * HW,
                                   dout + ((size_t)(k.i0 + i) * (size_t)d->OC + (size_t)oc) * HW,
                                   HW * sizeof(float));
                        }
                    }
                    am = tile;
                    lda = k.ld;
                }
                // B operand: col (CK, cols), used transposed.
                im2col(col, inp, d->IC, d, &k);
                cdrl_sgemm(0, 1, d->OC, CK, k.cols, 1.0f, am, lda, col, k.ld, c == s ? 0.0f : 1.0f,
                           partial + (size_t)s * pn, CK);
            }
            if (db) {
                for (int oc = 0; oc < d->OC; oc++) {
                    double acc = 0.0;
                    for (int i = 0; i < k.ni; i++) {
                        const float *p = dout +
                                         ((size_t)(k.i0 + i) * (size_t)d->OC + (size_t)oc) * HW +
                                         (size_t)k.y0 * (size_t)d->W;
                        acc += (double)lane_sum(p, seg);
                    }
                    bsum[(size_t)c * (size_t)d->OC + (size_t)oc] = (float)acc;
                }
            }
        }
    }
    // Reductions in fixed order, whatever thread produced the parts.
    if (dw) {
#pragma omp parallel for schedule(static)
        for (size_t j0 = 0; j0 < wn; j0 += 4096) {
            size_t j1 = j0 + 4096 < wn ? j0 + 4096 : wn;
            for (size_t j = j0; j < j1; j++) {
                float acc = partial[j];
                for (int s = 1; s < n_slots; s++)
                    acc += partial[(size_t)s * pn + j];
                dw[j] += acc;
            }
        }
    }
    if (db) {
        for (int oc = 0; oc < d->OC; oc++) {
            double acc = 0.0;
            for (int c = 0; c < g->c.n_chunks; c++)
                acc += (double)bsum[(size_t)c * (size_t)d->OC + (size_t)oc];
            db[oc] += (float)acc;
        }
    }
}

void cdrl_cpu_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, const cdrl_conv2d_desc *d,
                              cdrl_arena *scratch) {
    CDRL_ASSERT((d->K == 1 || d->K == 3) && d->H > 0 && d->W > 0 && d->B >= 0);
    if (d->B == 0) return;
    chunking g = chunking_of(d);
    size_t mark = cdrl_arena_mark(scratch);
    if (dinp) {
        backward_data(dinp, dout, w, d, &g, 1, NULL, scratch);
        cdrl_arena_release(scratch, mark);
    }
    if (dw && cdrl_wino_weight_grad_applies(d)) {
        cdrl_wino_weight_grad(dw, dout, inp, d, scratch);
        dw = NULL; // the bias gradient below, if asked for, takes the direct chunks
    }
    if (dw || db) {
        backward_params(dw, db, dout, inp, d, &g, scratch);
        cdrl_arena_release(scratch, mark);
    }
}

void cdrl_cpu_conv2d_input_grad(float *dinp, const float *dout, const float *w,
                                const cdrl_lrelu_grad *act, const cdrl_conv2d_desc *d,
                                cdrl_arena *scratch) {
    CDRL_ASSERT((d->K == 1 || d->K == 3) && d->H > 0 && d->W > 0 && d->B >= 0);
    if (d->B == 0) return;
    chunking g = chunking_of(d);
    size_t mark = cdrl_arena_mark(scratch);
    backward_data(dinp, dout, w, d, &g, 0, act, scratch);
    cdrl_arena_release(scratch, mark);
}
