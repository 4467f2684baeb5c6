// bfloat16 products through oneDNN's matmul primitive (see gemm_bf16.h).
#include "ops/cpu/gemm_bf16.h"

#include <dnnl.h>
#include <string.h>

#include "core/core.h"
#include "ops/cpu/cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int cdrl_bf16_supported(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    static int known = -1;
    if (known < 0) known = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
    return known;
#else
    return 0;
#endif
}

static int conv_precision; // CDRL_PRECISION_*

int cdrl_cpu_set_precision(int precision) {
    const int prev = conv_precision;
    conv_precision = precision;
    return prev;
}

int cdrl_cpu_bf16_available(void) { return cdrl_bf16_supported(); }

int cdrl_cpu_bf16_active(void) {
    return conv_precision == CDRL_PRECISION_BF16 && cdrl_bf16_supported();
}

// Branch-free so that it runs in vector code (GCC vectorises it at O3, hence the pragma; no
// reassociation is involved: integer arithmetic). Inf and NaN keep their top half, a NaN
// with a quiet bit set so that it stays a NaN; everything else rounds to nearest, ties to even.
#pragma GCC push_options
#pragma GCC optimize("O3")
void cdrl_to_bf16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        const uint32_t special = (u >> 16) | ((u & 0xffffu) ? 0x40u : 0u);
        dst[i] = (uint16_t)((u & 0x7f800000u) == 0x7f800000u ? special : rounded);
    }
}
#pragma GCC pop_options

// One primitive with its memory objects, for one shape, stride set and mode.
typedef struct entry {
    int M, N, K, lda, ldb, ldc, accumulate;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} entry;

#define MAX_ENTRIES 96 // distinct product shapes of one thread; the networks use a few dozen

static dnnl_engine_t engine; // made once, by the first thread that asks (cdrl_dnnl_engine)
static _Thread_local dnnl_stream_t stream;

dnnl_stream_t cdrl_dnnl_stream(void) {
    if (!stream)
        CDRL_ASSERT(dnnl_stream_create(&stream, cdrl_dnnl_engine(), dnnl_stream_default_flags) ==
                    dnnl_success);
    return stream;
}
static _Thread_local entry cache[MAX_ENTRIES];
static _Thread_local int n_cache;

dnnl_engine_t cdrl_dnnl_engine(void) {
    dnnl_engine_t e;
#ifdef _OPENMP
#pragma omp critical(cdrl_bf16_engine)
#endif
    {
        if (!engine) CDRL_ASSERT(dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success);
        e = engine;
    }
    return e;
}

static void desc_2d(dnnl_memory_desc_t *md, int rows, int cols, int ld, dnnl_data_type_t t) {
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    CDRL_ASSERT(dnnl_memory_desc_init_by_strides(md, 2, dims, t, strides) == dnnl_success);
}

static entry *entry_for(int M, int N, int K, int lda, int ldb, int ldc, int accumulate) {
    for (int i = 0; i < n_cache; i++) {
        entry *e = &cache[i];
        if (e->M == M && e->N == N && e->K == K && e->lda == lda && e->ldb == ldb &&
            e->ldc == ldc && e->accumulate == accumulate)
            return e;
    }
    dnnl_engine_t eng = cdrl_dnnl_engine();
    // A full cache starts over: the primitives of the first shapes are dropped.
    if (n_cache == MAX_ENTRIES) {
        for (int i = 0; i < n_cache; i++) {
            dnnl_primitive_destroy(cache[i].prim);
            dnnl_memory_destroy(cache[i].a);
            dnnl_memory_destroy(cache[i].b);
            dnnl_memory_destroy(cache[i].c);
        }
        n_cache = 0;
    }
    entry *e = &cache[n_cache++];
    *e = (entry){M, N, K, lda, ldb, ldc, accumulate, NULL, NULL, NULL, NULL};
    dnnl_memory_desc_t a, b, c;
    desc_2d(&a, M, K, lda, dnnl_bf16);
    desc_2d(&b, K, N, ldb, dnnl_bf16);
    desc_2d(&c, M, N, ldc, dnnl_f32);
    dnnl_matmul_desc_t md;
    CDRL_ASSERT(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success);
    dnnl_primitive_attr_t attr = NULL;
    if (accumulate) { // C += A B: the sum post-op adds the old C
        dnnl_post_ops_t po;
        CDRL_ASSERT(dnnl_post_ops_create(&po) == dnnl_success);
        CDRL_ASSERT(dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success);
        CDRL_ASSERT(dnnl_primitive_attr_create(&attr) == dnnl_success);
        CDRL_ASSERT(dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    CDRL_ASSERT(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL) == dnnl_success);
    CDRL_ASSERT(dnnl_primitive_create(&e->prim, pd) == dnnl_success);
    dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    CDRL_ASSERT(dnnl_memory_create(&e->a, &a, eng, DNNL_MEMORY_NONE) == dnnl_success);
    CDRL_ASSERT(dnnl_memory_create(&e->b, &b, eng, DNNL_MEMORY_NONE) == dnnl_success);
    CDRL_ASSERT(dnnl_memory_create(&e->c, &c, eng, DNNL_MEMORY_NONE) == dnnl_success);
    return e;
}

void cdrl_gemm_bf16(int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                    int accumulate, float *C, int ldc) {
    if (M == 0 || N == 0) return;
#ifdef _OPENMP
    // As cdrl_sgemm: oneDNN gets one thread, the callers' chunks are the parallelism.
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    entry *e = entry_for(M, N, K, lda, ldb, ldc, accumulate != 0);
    dnnl_memory_set_data_handle(e->a, (void *)(uintptr_t)A);
    dnnl_memory_set_data_handle(e->b, (void *)(uintptr_t)B);
    dnnl_memory_set_data_handle(e->c, C);
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    CDRL_ASSERT(dnnl_primitive_execute(e->prim, cdrl_dnnl_stream(), 3, args) == dnnl_success);
    CDRL_ASSERT(dnnl_stream_wait(cdrl_dnnl_stream()) == dnnl_success);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
}
