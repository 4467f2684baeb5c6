// Raster figure helpers (see figure.h): a tiled RGB canvas, density histograms of point
// clouds, heatmaps and image tiles, saved through io/png. No text rendering, no anti-aliasing.
// Colormap anchors: the viridis map (van der Walt and Smith, matplotlib 1.5) sampled at nine
// evenly spaced points, interpolated linearly in RGB.
#include "cdrl.h"

#include <math.h>
#include <string.h>

#include "core/core.h"

cdrl_figure *cdrl_figure_create(int n_rows, int n_cols, int tile_w, int tile_h, int gap) {
    CDRL_ASSERT(n_rows > 0 && n_cols > 0 && tile_w > 0 && tile_h > 0 && gap >= 0);
    cdrl_figure *fig = cdrl_calloc(sizeof *fig);
    if (!fig) {
        cdrl_fail(CDRL_STATUS_NOMEM, "figure: out of memory");
        return NULL;
    }
    fig->n_rows = n_rows;
    fig->n_cols = n_cols;
    fig->tile_w = tile_w;
    fig->tile_h = tile_h;
    fig->gap = gap;
    // int: a PNG canvas wider than 2^31 pixels is not a figure anyone can open.
    long long cw = (long long)n_cols * (tile_w + gap) + gap;
    long long ch = (long long)n_rows * (tile_h + gap) + gap;
    CDRL_ASSERT(cw <= 0x7fffffff && ch <= 0x7fffffff);
    fig->width = (int)cw;
    fig->height = (int)ch;
    size_t bytes = (size_t)fig->width * (size_t)fig->height * 3;
    fig->rgb = cdrl_malloc(bytes);
    if (!fig->rgb) {
        cdrl_free(fig);
        cdrl_fail(CDRL_STATUS_NOMEM, "figure: cannot allocate a %dx%d canvas", (int)cw, (int)ch);
        return NULL;
    }
    memset(fig->rgb, 255, bytes);
    return fig;
}

void cdrl_figure_free(cdrl_figure *fig) {
    if (!fig) return;
    cdrl_free(fig->rgb);
    cdrl_free(fig);
}

uint8_t *cdrl_figure_pixel(cdrl_figure *fig, int row, int col, int x, int y) {
    CDRL_ASSERT(row >= 0 && row < fig->n_rows && col >= 0 && col < fig->n_cols);
    CDRL_ASSERT(x >= 0 && x < fig->tile_w && y >= 0 && y < fig->tile_h);
    size_t px = (size_t)fig->gap + (size_t)col * (size_t)(fig->tile_w + fig->gap) + (size_t)x;
    size_t py = (size_t)fig->gap + (size_t)row * (size_t)(fig->tile_h + fig->gap) + (size_t)y;
    return fig->rgb + (py * (size_t)fig->width + px) * 3;
}

// ---------------------------------------------------------------------------------------
// Colormap

#define N_ANCHORS 9
static const uint8_t anchors[N_ANCHORS][3] = {
    {68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
    {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {253, 231, 37},
};

void cdrl_figure_colormap(uint8_t rgb[3], float t) {
    if (!(t > 0.0f)) t = 0.0f; // also catches NaN
    if (t > 1.0f) t = 1.0f;
    float pos = t * (float)(N_ANCHORS - 1);
    int i = (int)pos;
    if (i >= N_ANCHORS - 1) {
        memcpy(rgb, anchors[N_ANCHORS - 1], 3);
        return;
    }
    float f = pos - (float)i;
    for (int k = 0; k < 3; k++) {
        float a = anchors[i][k], b = anchors[i + 1][k];
        rgb[k] = (uint8_t)(a + (b - a) * f + 0.5f);
    }
}

// ---------------------------------------------------------------------------------------
// Panels

// Source index for destination pixel d of n_dst when stretching n_src over it by nearest
// neighbour, sampling at pixel centres so that up- and down-scaling stay centred.
static int nearest(int d, int n_dst, int n_src) {
    return (int)(((2 * (long long)d + 1) * n_src) / (2 * (long long)n_dst));
}

// Bin of v in [lo, hi) split into n equal bins; -1 outside (and for NaN).
static int bin_of(float v, float lo, float hi, int n) {
    if (!(v >= lo && v < hi)) return -1;
    int b = (int)floor(((double)v - (double)lo) / ((double)hi - (double)lo) * (double)n);
    return b < n ? b : n - 1; // rounding can land v just below hi on n
}

cdrl_status cdrl_figure_scatter(cdrl_figure *fig, int row, int col, const float *pts, int n,
                                float xmin, float xmax, float ymin, float ymax) {
    CDRL_ASSERT(fig && n >= 0 && (n == 0 || pts) && xmax > xmin && ymax > ymin);
    int tw = fig->tile_w, th = fig->tile_h;
    int *count = cdrl_calloc((size_t)tw * (size_t)th * sizeof(int)); // (th, tw), row 0 top
    if (!count) return cdrl_fail(CDRL_STATUS_NOMEM, "figure: cannot allocate %dx%d bins", tw, th);
    int max = 0;
    for (int i = 0; i < n; i++) {
        int bx = bin_of(pts[2 * i], xmin, xmax, tw);
        int by = bin_of(pts[2 * i + 1], ymin, ymax, th);
        if (bx < 0 || by < 0) continue;
        int *c = &count[(size_t)(th - 1 - by) * (size_t)tw + (size_t)bx];
        if (++*c > max) max = *c;
    }
    double norm = max > 0 ? log1p((double)max) : 1.0;
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++)
            cdrl_figure_colormap(
                cdrl_figure_pixel(fig, row, col, x, y),
                (float)(log1p((double)count[(size_t)y * (size_t)tw + (size_t)x]) / norm));
    cdrl_free(count);
    return CDRL_OK;
}

void cdrl_figure_heatmap(cdrl_figure *fig, int row, int col, const float *values, int gh, int gw) {
    CDRL_ASSERT(fig && values && gh > 0 && gw > 0);
    float max = 0.0f;
    size_t n = (size_t)gh * (size_t)gw;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i]) && values[i] > max) max = values[i];
    for (int y = 0; y < fig->tile_h; y++) {
        const float *src = values + (size_t)nearest(y, fig->tile_h, gh) * (size_t)gw;
        for (int x = 0; x < fig->tile_w; x++) {
            float v = src[nearest(x, fig->tile_w, gw)];
            // v == max gives exactly 1 (IEEE division), hence the top colour at the peak.
            float t = max > 0.0f && isfinite(v) ? v / max : 0.0f;
            cdrl_figure_colormap(cdrl_figure_pixel(fig, row, col, x, y), t);
        }
    }
}

uint8_t cdrl_figure_to_byte(float v) {
    if (!(v > -1.0f)) v = -1.0f; // also catches NaN
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)floorf((v + 1.0f) * 127.5f + 0.5f);
}

void cdrl_figure_image(cdrl_figure *fig, int row, int col, const float *img, int C, int H, int W) {
    CDRL_ASSERT(fig && img && (C == 1 || C == 3) && H > 0 && W > 0);
    size_t plane = (size_t)H * (size_t)W;
    for (int y = 0; y < fig->tile_h; y++) {
        size_t sy = (size_t)nearest(y, fig->tile_h, H);
        for (int x = 0; x < fig->tile_w; x++) {
            size_t s = sy * (size_t)W + (size_t)nearest(x, fig->tile_w, W);
            uint8_t *p = cdrl_figure_pixel(fig, row, col, x, y);
            for (int k = 0; k < 3; k++)
                p[k] = cdrl_figure_to_byte(img[(C == 3 ? (size_t)k * plane : 0) + s]);
        }
    }
}

cdrl_status cdrl_figure_save(const cdrl_figure *fig, const char *path, const char *const *keys,
                             const char *const *values, int n) {
    CDRL_ASSERT(fig);
    return cdrl_png_write(path, fig->rgb, fig->width, fig->height, 3, keys, values, n);
}
