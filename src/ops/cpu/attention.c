// Single-head dot-product attention over the N = H*W positions of a feature map (the core of
// the initializer U-Net's attention block, method.md §5.5; official models/unet.py Attention
// with heads = 1): S = qᵀk / sqrt(C), A = softmax over keys, out = v Aᵀ.
// Leaves out: several heads, masks, dropout on A (the U-Net uses none of them).
// The products go through cdrl_sgemm, one batch element per task, so each call runs on one
// thread and results do not depend on the thread count.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/cpu/cpu.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_bf16.h"

// Forward needs no temporaries (the scores are written into probs); backward needs dA, one
// (N, N) block per batch element so that every element can run in parallel.
size_t cdrl_cpu_attention_scratch_size(int B, int C, int N) {
    (void)C;
    return cdrl_arena_floats_size((size_t)B * N * N);
}

// Row-wise softmax in place over an (N, N) block, through oneDNN's softmax primitive (its
// vectorised exp; the scalar expf loop it replaced took 90% of the forward pass). One
// primitive per row length for the process, made once and shared (oneDNN primitives may run
// on several threads at once); memory and stream objects per call, so that nothing is left
// behind in a worker thread's storage. Like cdrl_sgemm it runs on the calling thread alone,
// so each row's result never depends on the thread count.
#define SOFTMAX_KEPT 16 // row lengths: one per attention resolution of a network
typedef struct softmax_prim {
    int N;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md;
} softmax_prim;
static softmax_prim softmax_prims[SOFTMAX_KEPT];
static int softmax_n;

static const softmax_prim *softmax_for(int N) {
    const softmax_prim *found = NULL;
#ifdef _OPENMP
#pragma omp critical(cdrl_softmax)
#endif
    {
        for (int i = 0; i < softmax_n && !found; i++)
            if (softmax_prims[i].N == N) found = &softmax_prims[i];
        if (!found) {
            CDRL_ASSERT(softmax_n < SOFTMAX_KEPT); // more attention resolutions than any net has
            softmax_prim *e = &softmax_prims[softmax_n];
            e->N = N;
            dnnl_dims_t dims = {N, N};
            CDRL_ASSERT(dnnl_memory_desc_init_by_tag(&e->md, 2, dims, dnnl_f32, dnnl_ab) ==
                        dnnl_success);
            dnnl_softmax_desc_t sd;
            CDRL_ASSERT(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &e->md, 1) ==
                        dnnl_success);
            dnnl_primitive_desc_t pd;
            CDRL_ASSERT(dnnl_primitive_desc_create(&pd, &sd, NULL, cdrl_dnnl_engine(), NULL) ==
                        dnnl_success);
            CDRL_ASSERT(dnnl_primitive_create(&e->prim, pd) == dnnl_success);
            dnnl_primitive_desc_destroy(pd);
            softmax_n++;
            found = e;
        }
    }
    return found;
}

static void softmax_rows(float *s, int N) {
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    const softmax_prim *e = softmax_for(N);
    dnnl_engine_t eng = cdrl_dnnl_engine();
    dnnl_memory_t mem;
    dnnl_stream_t stream;
    CDRL_ASSERT(dnnl_memory_create(&mem, &e->md, eng, s) == dnnl_success);
    CDRL_ASSERT(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags) == dnnl_success);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, mem}, {DNNL_ARG_DST, mem}};
    CDRL_ASSERT(dnnl_primitive_execute(e->prim, stream, 2, args) == dnnl_success);
    CDRL_ASSERT(dnnl_stream_wait(stream) == dnnl_success);
    dnnl_stream_destroy(stream);
    dnnl_memory_destroy(mem);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
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

// sum_j a[j] d[j] in double, in 8 interleaved lanes added in a fixed tree: vector code (one
// long dependency chain of double adds took half the backward pass), and the same bytes on
// every call.
#pragma GCC push_options
#pragma GCC optimize("O3")
CDRL_VECTOR_CLONES static double dot_lanes(const float *a, const float *d, int n) {
    double lane[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int l = 0; l < 8; l++)
            lane[l] += (double)a[j + l] * (double)d[j + l];
    }
    for (; j < n; j++)
        lane[j % 8] += (double)a[j] * (double)d[j];
    for (int half = 4; half > 0; half /= 2) {
        for (int l = 0; l < half; l++)
            lane[l] += lane[l + half];
    }
    return lane[0];
}
#pragma GCC pop_options

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
            const float d = (float)dot_lanes(arow, drow, N);
            for (int j = 0; j < N; j++)
                drow[j] = arow[j] * (drow[j] - d);
        }
        // dq (C, N) += scale * k · dSᵀ ; dk (C, N) += scale * q · dS
        cdrl_sgemm(0, 1, C, N, N, scale, k, N, da, N, 1.0f, dq, N);
        cdrl_sgemm(0, 0, C, N, N, scale, q, N, da, N, 1.0f, dk, N);
    }
    cdrl_arena_release(scratch, mark);
}
