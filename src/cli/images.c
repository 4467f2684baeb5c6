// Image output shared by `cdrl train` and `cdrl sample`: the class layout of sample grids,
// grids as one PNG, and single images as PNG files in the model's own colour (grey or RGB),
// each with tEXt chunks saying how it was made.
#include <stdlib.h>

#include "cdrl.h"
#include "cli/cli.h"

#define GRID_GAP 2 // white pixels between grid tiles

int cli_attrs(const cdrl_config *c) { return c->n_classes ? 1 + c->n_more_attrs : 0; }

void cli_grid_labels(const cdrl_config *c, int *label, int n, int cols) {
    const int A = cli_attrs(c) ? cli_attrs(c) : 1;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < A; a++)
            label[i * A + a] = c->n_classes && a == 0 ? 1 + (i / cols) % c->n_classes : 0;
}

int cli_save_grid(const cdrl_config *c, const float *x, int n, int cols, const char *path,
                  const char *const *keys, const char *const *vals, int n_text) {
    if (c->in_ch != 1 && c->in_ch != 3)
        return cli_die(CLI_FAIL, "%s: PNG output takes 1 or 3 channels, the model has %d", path,
                       c->in_ch);
    const int rows = (n + cols - 1) / cols;
    cdrl_figure *fig = cdrl_figure_create(rows, cols, c->res, c->res, GRID_GAP);
    if (!fig) return cli_fail(CLI_FAIL, "%s: out of memory for the grid", path);
    for (int i = 0; i < n; i++)
        cdrl_figure_image(fig, i / cols, i % cols, x + (size_t)i * (size_t)c->dim, c->in_ch, c->res,
                          c->res);
    cdrl_status s = cdrl_figure_save(fig, path, keys, vals, n_text);
    cdrl_figure_free(fig);
    return s == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write the grid", path);
}

int cli_save_image(const cdrl_config *c, const float *x, const char *path, const char *const *keys,
                   const char *const *vals, int n_text) {
    if (c->in_ch != 1 && c->in_ch != 3)
        return cli_die(CLI_FAIL, "%s: PNG output takes 1 or 3 channels, the model has %d", path,
                       c->in_ch);
    const int S = c->res, ch = c->in_ch == 1 ? 1 : 3; // PNG has grey or RGB
    uint8_t *px = malloc((size_t)S * (size_t)S * (size_t)ch);
    if (!px) return cli_die(CLI_FAIL, "%s: out of memory", path);
    // (C, H, W) in [-1, 1] to interleaved bytes as cdrl_figure_image draws them
    for (int y = 0; y < S; y++)
        for (int q = 0; q < S; q++)
            for (int k = 0; k < ch; k++) {
                const float v = x[((size_t)k * (size_t)S + (size_t)y) * (size_t)S + (size_t)q];
                px[((size_t)y * (size_t)S + (size_t)q) * (size_t)ch + (size_t)k] =
                    cdrl_figure_to_byte(v);
            }
    cdrl_status s = cdrl_png_write(path, px, S, S, ch, keys, vals, n_text);
    free(px);
    return s == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write the image", path);
}

int cli_read_image(const cdrl_config *c, const char *path, float *x) {
    const size_t HW = (size_t)c->res * (size_t)c->res;
    uint8_t *px = NULL;
    int w = 0, h = 0, ch = 0;
    if (cdrl_png_read(path, &px, &w, &h, &ch) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot read the PNG", path);
    if (w != c->res || h != c->res || ch != c->in_ch) {
        cdrl_free(px);
        return cli_die(CLI_FAIL, "%s: %dx%d %s image, the model takes %dx%d %s (%d channel%s)",
                       path, w, h, ch == 1 ? "grey" : "colour", c->res, c->res,
                       c->in_ch == 1 ? "grey" : "colour", c->in_ch, c->in_ch == 1 ? "" : "s");
    }
    for (int k = 0; k < ch; k++) // (C, H, W) from (H, W, C) bytes
        for (size_t p = 0; p < HW; p++)
            x[(size_t)k * HW + p] = (float)px[p * (size_t)ch + (size_t)k] / 127.5f - 1.0f;
    cdrl_free(px);
    return CLI_OK;
}
