// cdrl_sgemm: see gemm.h.
#include "ops/cpu/gemm.h"

#include <dnnl.h>

#include "core/core.h"

void cdrl_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                 lda, B, ldb, beta, C, ldc);
    CDRL_ASSERT(s == dnnl_success); // only invalid arguments fail, i.e. a caller bug
}
