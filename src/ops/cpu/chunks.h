// Chunks and workers of the cpu backend's convolution kernels.
//
// Fixed chunks of a batch of images seen as rows of equal width (pixel rows for the direct
// convolutions, rows of 4x4 tiles for Winograd): a band of rows of one image when an image
// holds at least `target` columns, else several whole images, about `target` columns each.
// They depend on the shape alone, never on the thread count: what the cpu backend's kernels
// parallelise over, so that their results never depend on it either.
#ifndef CDRL_OPS_CPU_CHUNKS_H
#define CDRL_OPS_CPU_CHUNKS_H

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/core.h"

typedef struct cdrl_chunks {
    int n_img, n_rows; // per chunk (the last band or image group may be shorter)
    int bands;         // row bands per image (1 when chunks hold whole images)
    int n_chunks;
} cdrl_chunks;

// Chunk c: images [i0, i0 + ni) and, in each, rows [r0, r0 + nr).
typedef struct cdrl_chunk_span {
    int i0, ni, r0, nr;
} cdrl_chunk_span;

// B images of `rows` rows of `width` columns, chunks of about `target` columns (>= 1).
static inline cdrl_chunks cdrl_chunks_of(int B, int rows, int width, int target) {
    cdrl_chunks g;
    const int per_img = rows * width;
    if (per_img >= target) {
        g.n_img = 1;
        g.n_rows = target / width > 0 ? target / width : 1;
        if (g.n_rows > rows) g.n_rows = rows;
        g.bands = (rows + g.n_rows - 1) / g.n_rows;
        g.n_chunks = B * g.bands;
    } else {
        g.n_img = target / per_img < B ? target / per_img : B;
        g.n_rows = rows;
        g.bands = 1;
        g.n_chunks = (B + g.n_img - 1) / g.n_img;
    }
    return g;
}

static inline cdrl_chunk_span cdrl_chunk_span_at(const cdrl_chunks *g, int B, int rows, int c) {
    cdrl_chunk_span k;
    if (g->n_img == 1) {
        k.i0 = c / g->bands;
        k.ni = 1;
        k.r0 = (c % g->bands) * g->n_rows;
        k.nr = rows - k.r0 < g->n_rows ? rows - k.r0 : g->n_rows;
    } else {
        k.i0 = c * g->n_img;
        k.ni = B - k.i0 < g->n_img ? B - k.i0 : g->n_img;
        k.r0 = 0;
        k.nr = rows;
    }
    return k;
}

// Workers: each thread of a parallel loop over chunks owns one scratch slot, found by its
// thread number. Which worker runs a chunk never changes the chunk's result.
static inline int cdrl_worker_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// As many workers as the thread count and the task count allow, and as fit in what is left of
// the arena at `per` bytes each: an arena sized for fewer threads than now run costs speed,
// never correctness.
static inline int cdrl_workers_fitting(const cdrl_arena *a, size_t per, int n_tasks) {
    const size_t left = a->cap - a->used;
    int n = cdrl_threads();
    if (n > n_tasks) n = n_tasks;
    if (per > 0 && (size_t)n > left / per) n = (int)(left / per);
    CDRL_ASSERT(n >= 1); // arena smaller than the kernel's scratch size
    return n;
}

#endif // CDRL_OPS_CPU_CHUNKS_H
