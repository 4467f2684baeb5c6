// cdrl_sgemm: see gemm.h.
#include "ops/cpu/gemm.h"

#include <dnnl.h>

#include "core/core.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void cdrl_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
        // oneDNN threads a call made outside an active parallel region (a one-thread region
        // counts as outside), and how it splits the work depends on the thread count. All our
        // parallelism is in fixed chunks around these calls, so oneDNN always gets one thread.
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda,
                                 B, ldb, beta, C, ldc);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    CDRL_ASSERT(s == dnnl_success); // only invalid arguments fail, i.e. a caller bug
}
