// Raster figures for the CLI: an RGB canvas of equal tiles (a grid of panels) that each
// hold a 2-D point cloud drawn as a density histogram, a heatmap of a gridded density, or
// an image from the model, saved as PNG with tEXt settings (io/png.h). Panels are what the
// official CDRL toy figures show (samples per noise level, learned densities). Left out on
// purpose: text, axes, legends and anti-aliasing; one colormap (viridis-like, our own table).
//
// Layout: tiles are tile_w x tile_h pixels with `gap` white pixels between them and around
// the border, so tile (row, col) starts at x = gap + col * (tile_w + gap),
// y = gap + row * (tile_h + gap). Undrawn tiles stay white.
#ifndef CDRL_IO_FIGURE_H
#define CDRL_IO_FIGURE_H

#include <stdint.h>

#include "cdrl.h"

typedef struct cdrl_figure {
    int n_rows, n_cols;
    int tile_w, tile_h, gap; // pixels
    int width, height;       // pixels of the whole canvas
    uint8_t *rgb;            // (height, width, 3), row 0 at the top
} cdrl_figure;

// A white canvas for n_rows x n_cols tiles. Returns NULL (and logs) when out of memory.
// Sizes must be positive and gap >= 0 (CDRL_ASSERT). Free with cdrl_figure_free.
cdrl_figure *cdrl_figure_create(int n_rows, int n_cols, int tile_w, int tile_h, int gap);
void cdrl_figure_free(cdrl_figure *fig); // NULL is a no-op

// Pointer to the RGB triple of pixel (x, y) inside tile (row, col), for tests and overlays.
uint8_t *cdrl_figure_pixel(cdrl_figure *fig, int row, int col, int x, int y);

// The colormap: t in [0, 1] (clamped; NaN reads as 0) to RGB, by linear interpolation
// between anchor colours from dark purple (0) through teal to yellow (1).
void cdrl_figure_colormap(uint8_t rgb[3], float t);

// Draws pts (n, 2) = (x, y) pairs as a 2-D histogram over [xmin, xmax) x [ymin, ymax): one
// bin per pixel, y growing upwards, colour = colormap(log(1 + count) / log(1 + max count)),
// so that thin tails stay visible next to dense modes. Empty bins get colormap(0); points
// outside the range or not finite are skipped. Needs xmax > xmin, ymax > ymin. Returns
// CDRL_STATUS_NOMEM if the bin counts cannot be allocated (the tile is then unchanged).
cdrl_status cdrl_figure_scatter(cdrl_figure *fig, int row, int col, const float *pts, int n,
                                float xmin, float xmax, float ymin, float ymax);

// Draws values (gh, gw), row-major with row 0 at the top, stretched over the tile by nearest
// neighbour, as colormap(v / max v). Negative and non-finite values read as 0; an all-zero
// grid is drawn as colormap(0).
void cdrl_figure_heatmap(cdrl_figure *fig, int row, int col, const float *values, int gh, int gw);

// A model value in [-1, 1] as a byte: clamp (NaN reads as -1), then round((v + 1) * 127.5).
uint8_t cdrl_figure_to_byte(float v);

// Draws img (C, H, W) with C 1 or 3 and values in [-1, 1] (the model's data range), stretched
// over the tile by nearest neighbour: clamp to [-1, 1], then round((v + 1) * 127.5), so that
// -1, 0, 1 give 0, 128, 255; NaN gives 0. Grey is replicated to RGB.
void cdrl_figure_image(cdrl_figure *fig, int row, int col, const float *img, int C, int H, int W);

// Writes the canvas as an RGB PNG with the given tEXt pairs (see cdrl_png_write).
cdrl_status cdrl_figure_save(const cdrl_figure *fig, const char *path, const char *const *keys,
                             const char *const *values, int n);

#endif // CDRL_IO_FIGURE_H
