// Fixed chunks of a batch of images seen as rows of equal width (pixel rows for the direct
// convolutions, rows of 4x4 tiles for Winograd): a band of rows of one image when an image
// holds at least `target` columns, else several whole images, about `target` columns each.
// They depend on the shape alone, never on the thread count: what the cpu backend's kernels
// parallelise over, so that their results never depend on it either.
#ifndef CDRL_OPS_CPU_CHUNKS_H
#define CDRL_OPS_CPU_CHUNKS_H

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

#endif // CDRL_OPS_CPU_CHUNKS_H
