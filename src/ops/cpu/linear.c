// Fully connected layer out = inp · wᵀ + b over N rows, forward and backward, on oneDNN sgemm
// (torch.nn.Linear, https://pytorch.org/docs/stable/generated/torch.nn.Linear.html).
// Every output (out, dinp, dw) is cut into fixed tiles, one single-threaded sgemm per tile
// with the whole reduction inside it, so no element is ever summed by two threads and the bytes
// do not depend on the thread count; dw tiles over (OC, IC) and reduces over all N rows in one
// call, which needs neither partial buffers nor a reduction pass. Scratch holds only padded
// copies of operands whose row stride sgemm handles badly (512 features and the like).
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/cpu/gemm.h"

// Tile sizes (rows x cols of the output). Measured on Zen4, one core per call: 128-256 rows by
// 256 cols keep sgemm near its peak for 128-512 features, and give 2500 rows 20+ tiles.
#define LIN_ROWS 128
#define LIN_COLS 256
// dw tiles: LIN_DW_ROWS output channels by LIN_COLS input features, all N rows in the call.
#define LIN_DW_ROWS 64
// Below this many multiply-adds a layer runs on the calling thread alone: starting the
// team costs more than it saves. Same tiles either way, hence the same bytes.
#define LIN_PAR_MIN (1 << 20)

static int tiles_of(int n, int t) { return (n + t - 1) / t; }
static int min_int(int a, int b) { return a < b ? a : b; }

// An operand whose row stride sgemm handles badly (cdrl_sgemm_ld_slow) is first copied to a
// padded stride: (rows, cols) with stride ld into (rows, cdrl_sgemm_ld(cols)).
static const float *padded_copy(cdrl_arena *scratch, const float *src, int rows, int cols, int ld,
                                int *ld_out) {
    if (!cdrl_sgemm_ld_slow(ld)) {
        *ld_out = ld;
        return src;
    }
    int pld = cdrl_sgemm_ld(cols);
    float *dst = cdrl_arena_floats(scratch, (size_t)rows * (size_t)pld);
#pragma omp parallel for schedule(static) if ((double)rows * cols >= LIN_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        memcpy(dst + (size_t)r * (size_t)pld, src + (size_t)r * (size_t)ld,
               (size_t)cols * sizeof(float));
    }
    *ld_out = pld;
    return dst;
}

// Counted for every cols >= 256 (a superset of the slow strides), so that the size never
// shrinks as a size grows: callers may size one arena for their largest N, IC and OC.
static size_t padded_size(int rows, int cols) {
    return cols >= 256 ? cdrl_arena_floats_size((size_t)rows * (size_t)cdrl_sgemm_ld(cols)) : 0;
}

size_t cdrl_cpu_linear_scratch_size(int N, int IC, int OC) {
    size_t data = padded_size(OC, IC);                       // w for dinp
    size_t weight = padded_size(N, OC) + padded_size(N, IC); // dout and inp for dw
    return data > weight ? data : weight;
}

void cdrl_cpu_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                             int IC, int OC, cdrl_arena *scratch) {
    (void)scratch; // w is read transposed, which sgemm handles well at any stride
    int n_rt = tiles_of(N, LIN_ROWS), n_ct = tiles_of(OC, LIN_COLS);
    int par = (double)N * IC * OC >= LIN_PAR_MIN;
    (void)par; // unused without OpenMP
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int t = 0; t < n_rt * n_ct; t++) {
        int r0 = (t / n_ct) * LIN_ROWS, c0 = (t % n_ct) * LIN_COLS;
        int rows = min_int(LIN_ROWS, N - r0), cols = min_int(LIN_COLS, OC - c0);
        float *o = out + (size_t)r0 * (size_t)OC + (size_t)c0; // (rows, cols), ld OC
        if (b) {
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < cols; j++)
                    o[(size_t)r * (size_t)OC + (size_t)j] = b[c0 + j];
            }
        }
        cdrl_sgemm(0, 1, rows, cols, IC, 1.0f, inp + (size_t)r0 * (size_t)IC, IC,
                   w + (size_t)c0 * (size_t)IC, IC, b ? 1.0f : 0.0f, o, OC);
    }
}

void cdrl_cpu_linear_backward(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, int N, int IC, int OC,
                              cdrl_arena *scratch) {
    int par = (double)N * IC * OC >= LIN_PAR_MIN;
    (void)par; // unused without OpenMP
    size_t mark = cdrl_arena_mark(scratch);
    if (dinp) {
        // dinp (N, IC) += dout (N, OC) · w (OC, IC)
        int ldw;
        const float *wp = padded_copy(scratch, w, OC, IC, IC, &ldw);
        int n_rt = tiles_of(N, LIN_ROWS), n_ct = tiles_of(IC, LIN_COLS);
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int t = 0; t < n_rt * n_ct; t++) {
            int r0 = (t / n_ct) * LIN_ROWS, c0 = (t % n_ct) * LIN_COLS;
            int rows = min_int(LIN_ROWS, N - r0), cols = min_int(LIN_COLS, IC - c0);
            cdrl_sgemm(0, 0, rows, cols, OC, 1.0f, dout + (size_t)r0 * (size_t)OC, OC, wp + c0, ldw,
                       1.0f, dinp + (size_t)r0 * (size_t)IC + (size_t)c0, IC);
        }
        cdrl_arena_release(scratch, mark);
    }
    if (dw) {
        // dw (OC, IC) += doutᵀ (OC, N) · inp (N, IC)
        int ldo, ldi;
        const float *dp = padded_copy(scratch, dout, N, OC, OC, &ldo);
        const float *ip = padded_copy(scratch, inp, N, IC, IC, &ldi);
        int n_rt = tiles_of(OC, LIN_DW_ROWS), n_ct = tiles_of(IC, LIN_COLS);
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int t = 0; t < n_rt * n_ct; t++) {
            int r0 = (t / n_ct) * LIN_DW_ROWS, c0 = (t % n_ct) * LIN_COLS;
            int rows = min_int(LIN_DW_ROWS, OC - r0), cols = min_int(LIN_COLS, IC - c0);
            cdrl_sgemm(1, 0, rows, cols, N, 1.0f, dp + r0, ldo, ip + c0, ldi, 1.0f,
                       dw + (size_t)r0 * (size_t)IC + (size_t)c0, IC);
        }
        cdrl_arena_release(scratch, mark);
    }
    if (db) {
        // db (OC) += column sums of dout, rows in order, per block of 64 channels.
        int n_ct = tiles_of(OC, 64);
#pragma omp parallel for schedule(static) if (par)
        for (int t = 0; t < n_ct; t++) {
            int c0 = t * 64, cols = min_int(64, OC - c0);
            double acc[64] = {0};
            for (int r = 0; r < N; r++) {
                const float *row = dout + (size_t)r * (size_t)OC + (size_t)c0;
                for (int j = 0; j < cols; j++)
                    acc[j] += (double)row[j];
            }
            for (int j = 0; j < cols; j++)
                db[c0 + j] += (float)acc[j];
        }
    }
}
