// Row-major single-precision matrix product through oneDNN's sgemm (Debian's libdnnl):
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, op = transpose when trans != 0.
// oneDNN always runs it on the calling thread alone; that is how the kernels keep results
// independent of the thread count: they cut the work into fixed chunks, run one chunk per
// call inside their own parallel loops, and reduce partial sums in a fixed order.
#ifndef CDRL_OPS_CPU_GEMM_H
#define CDRL_OPS_CPU_GEMM_H

void cdrl_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

// A row stride (in floats) for a scratch matrix of `cols` columns that sgemm reads at full
// speed. oneDNN's sgemm slows down when the rows of an operand lie a power-of-two multiple of
// 1 KB apart (the rows it packs together fall into the same cache sets); measured on Zen4, one
// core: a (128, 256) B panel with ld 1024 runs at 39 GFLOP/s, ld 512 at 62, ld 256 at 73 and
// ld 1040 at 84. Rounds up to 64 bytes and steps off multiples of 256 bytes.
static inline int cdrl_sgemm_ld(int cols) {
    int ld = (cols + 15) / 16 * 16;
    return ld % 64 == 0 ? ld + 16 : ld;
}
// Whether an operand with this row stride is slow enough to be worth copying to
// cdrl_sgemm_ld(cols) first.
static inline int cdrl_sgemm_ld_slow(int ld) { return ld >= 256 && ld % 128 == 0; }

#endif // CDRL_OPS_CPU_GEMM_H
