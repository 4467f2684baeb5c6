// PNG files through libpng (http://www.libpng.org/pub/png/libpng-manual.txt): 8-bit grey or
// RGB images with tEXt chunks that record how an image was made (seed, checkpoint, levels,
// Langevin settings), so that it can be reproduced from the file alone. Writing goes to
// "<path>.tmp" and is renamed into place; the bytes are a function of the inputs alone (no
// tIME chunk, fixed zlib settings). Reading accepts any PNG colour type and bit depth and
// hands back 8-bit grey or RGB. Left out: colour management (gAMA, iCCP, sRGB are ignored),
// alpha compositing (alpha is dropped), 16-bit output, APNG.
#ifndef CDRL_IO_PNG_H
#define CDRL_IO_PNG_H

#include <stdint.h>

#include "cdrl.h"

// Longest tEXt keyword the PNG specification allows (bytes, without the terminator).
#define CDRL_PNG_KEY_MAX 79

// Writes pixels (height, width, channels) row-major, interleaved, row 0 at the top, with
// channels 1 (grey) or 3 (RGB), to `path` via "<path>.tmp" and rename(). Each of the n_text
// pairs text_keys[i] / text_values[i] becomes one tEXt chunk, in the order given (the arrays
// may be NULL when n_text is 0). Keys must be 1..79 printable Latin-1 characters without
// leading, trailing or double spaces (the PNG rule); values are free text.
// Returns CDRL_OK; CDRL_STATUS_INVALID for a bad key (nothing is written);
// CDRL_STATUS_IO when the file cannot be created, written or renamed (the .tmp is removed);
// CDRL_STATUS_NOMEM. libpng errors never abort the process: they come back as a status and
// a logged message naming the file. NULL pixels/path, channels other than 1 or 3, or
// non-positive sizes are programming errors (CDRL_ASSERT).
// Thread-safe for distinct paths.
cdrl_status cdrl_png_write(const char *path, const uint8_t *pixels, int width, int height,
                           int channels, const char *const *text_keys,
                           const char *const *text_values, int n_text);

// Reads any PNG (grey, grey+alpha, RGB, RGBA, palette; 1..16 bits; interlaced or not) into
// a new buffer of *h rows by *w columns by *channels bytes, row-major and interleaved, with
// *channels 1 for grey sources and 3 for colour ones (palettes expand to RGB, alpha is
// dropped, 16-bit samples are scaled to 8 bits with rounding, low bit depths are expanded to
// 0..255). The caller owns *pixels and frees it with cdrl_free.
// Returns CDRL_OK; CDRL_STATUS_IO when the file cannot be opened; CDRL_STATUS_FORMAT when
// it is not a PNG, is corrupt or truncated (the message names the path); CDRL_STATUS_NOMEM.
// On failure *pixels is NULL and the sizes are 0. Thread-safe.
cdrl_status cdrl_png_read(const char *path, uint8_t **pixels, int *w, int *h, int *channels);

#endif // CDRL_IO_PNG_H
