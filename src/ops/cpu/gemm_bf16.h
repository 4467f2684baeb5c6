// Products with bfloat16 operands and float sums (the Langevin passes under --precision bf16),
// through oneDNN's matmul primitive, which runs them with the AVX512_BF16 dot-product
// instructions at about twice the float rate. Row-major with leading dimensions, like
// cdrl_sgemm, and like it on the calling thread alone.
#ifndef CDRL_OPS_CPU_GEMM_BF16_H
#define CDRL_OPS_CPU_GEMM_BF16_H

#include <dnnl.h>
#include <stddef.h>
#include <stdint.h>

// oneDNN's CPU engine (one for the process) and the calling thread's stream, for the
// primitives the cpu backend keeps (bfloat16 products, softmax).
dnnl_engine_t cdrl_dnnl_engine(void);
dnnl_stream_t cdrl_dnnl_stream(void);

// 1 when the CPU has AVX512_BF16 (checked once).
int cdrl_bf16_supported(void);
// 1 while the precision is CDRL_PRECISION_BF16 (cdrl_set_precision) on a CPU that has it: the
// convolutions' forward and input-gradient products then take bfloat16 operands.
int cdrl_cpu_bf16_active(void);
// dst (n) = src rounded to bfloat16 (to nearest, ties to even; NaN and Inf kept).
void cdrl_to_bf16(uint16_t *dst, const float *src, size_t n);
// C (M, N) = A (M, K) · B (K, N), or C += A · B when accumulate. Primitives are made once per
// shape, stride and mode on each thread, and kept.
void cdrl_gemm_bf16(int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                    int accumulate, float *C, int ldc);

#endif // CDRL_OPS_CPU_GEMM_BF16_H
