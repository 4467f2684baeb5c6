// Row-major single-precision matrix product through oneDNN's sgemm (Debian's libdnnl):
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, op = transpose when trans != 0.
// oneDNN always runs it on the calling thread alone; that is how the kernels keep results
// independent of the thread count: they cut the work into fixed chunks, run one chunk per
// call inside their own parallel loops, and reduce partial sums in a fixed order.
#ifndef CDRL_OPS_CPU_GEMM_H
#define CDRL_OPS_CPU_GEMM_H

void cdrl_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif // CDRL_OPS_CPU_GEMM_H
