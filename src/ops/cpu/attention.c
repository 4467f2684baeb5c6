// Single-head dot-product attention over the N = H*W positions of a feature map (the core of
// the initializer U-Net's attention block, method.md §5.5; official models/unet.py Attention
// with heads = 1): S = qᵀk / sqrt(C), A = softmax over keys, out = v Aᵀ.
// Leaves out: several heads, masks, dropout on A (the U-Net uses none of them).
// The products go through cdrl_sgemm, one batch element per task, so each call runs on one
// thread and results do not depend on the thread count.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html
#include <math.h>

#include "ops/cpu/cpu.h"
#include "ops/cpu/gemm.h"

// Forward needs no temporaries (the scores are written into probs); backward needs dA, one
// (N, N) block per batch element so that every element can run in parallel.
size_t cdrl_cpu_attention_scratch_size(int B, int C, int N) {
    (void)C;
    return cdrl_arena_floats_size((size_t)B * N * N);
}

// Row-wise softmax in place, rows of length N; the row maximum is subtracted first so that
// exp never overflows.
static void softmax_rows(float *s, int N) {
    for (int i = 0; i < N; i++) {
        float *row = s + (size_t)i * N;
        float mx = row[0];
        for (int j = 1; j < N; j++)
            mx = row[j] > mx ? row[j] : mx;
        double sum = 0;
        for (int j = 0; j < N; j++) {
            row[j] = expf(row[j] - mx);
            sum += (double)row[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < N; j++)
            row[j] *= inv;
    }
}

void cdrl_cpu_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                                cdrl_arena *scratch) {
    (void)scratch;
    CDRL_ASSERT(out && probs && qkv && B > 0 && C > 0 && N > 0);
    float scale = 1.0f / sqrtf((float)C);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * 3 * C * N; // (C, N)
        const float *k = q + (size_t)C * N;           // (C, N)
        const float *v = k + (size_t)C * N;           // (C, N)
        float *a = probs + (size_t)b * N * N;         // (N, N)
        float *o = out + (size_t)b * C * N;           // (C, N)
        // S (N, N) = qᵀ k * scale
        cdrl_sgemm(1, 0, N, N, C, scale, q, N, k, N, 0.0f, a, N);
        softmax_rows(a, N);
        // out (C, N) = v (C, N) · Aᵀ
        cdrl_sgemm(0, 1, C, N, N, 1.0f, v, N, a, N, 0.0f, o, N);
    }
}

void cdrl_cpu_attention_backward(float *dqkv, const float *dout, const float *probs,
                                 const float *qkv, int B, int C, int N, cdrl_arena *scratch) {
    CDRL_ASSERT(dqkv && dout && probs && qkv && scratch && B > 0 && C > 0 && N > 0);
    float scale = 1.0f / sqrtf((float)C);
    size_t mark = cdrl_arena_mark(scratch);
    float *da_all = cdrl_arena_floats(scratch, (size_t)B * N * N); // (B, N, N)
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * 3 * C * N; // (C, N)
        const float *k = q + (size_t)C * N;           // (C, N)
        const float *v = k + (size_t)C * N;           // (C, N)
        const float *a = probs + (size_t)b * N * N;   // (N, N)
        const float *go = dout + (size_t)b * C * N;   // (C, N)
        float *dq = dqkv + (size_t)b * 3 * C * N;     // (C, N)
        float *dk = dq + (size_t)C * N;               // (C, N)
        float *dv = dk + (size_t)C * N;               // (C, N)
        float *da = da_all + (size_t)b * N * N;       // (N, N)
        // dv (C, N) += dout (C, N) · A
        cdrl_sgemm(0, 0, C, N, N, 1.0f, go, N, a, N, 1.0f, dv, N);
        // dA (N, N) = doutᵀ · v
        cdrl_sgemm(1, 0, N, N, C, 1.0f, go, N, v, N, 0.0f, da, N);
        // Softmax backward in place: dS[i, j] = A[i, j] (dA[i, j] - sum_j' A[i, j'] dA[i, j']).
        for (int i = 0; i < N; i++) {
            const float *arow = a + (size_t)i * N;
            float *drow = da + (size_t)i * N;
            double dot = 0;
            for (int j = 0; j < N; j++)
                dot += (double)arow[j] * (double)drow[j];
            float d = (float)dot;
            for (int j = 0; j < N; j++)
                drow[j] = arow[j] * (drow[j] - d);
        }
        // dq (C, N) += scale * k · dSᵀ ; dk (C, N) += scale * q · dS
        cdrl_sgemm(0, 1, C, N, N, scale, k, N, da, N, 1.0f, dq, N);
        cdrl_sgemm(0, 0, C, N, N, scale, q, N, da, N, 1.0f, dk, N);
    }
    cdrl_arena_release(scratch, mark);
}
