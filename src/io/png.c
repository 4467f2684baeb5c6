// PNG writer and reader on libpng (see png.h). libpng reports errors by calling an error
// function that must not return; ours records the message and longjmps back to the setjmp
// in the public function, which frees everything and returns a status. libpng's own
// allocations go through cdrl_malloc, so the tests' live-allocation count covers them too.
// Reference: libpng manual, sections III (reading) and IV (writing), "Setjmp/longjmp issues".
#include "cdrl.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "io/commit.h"

// One call in progress: the file to name in messages, the last libpng error, whether an
// allocation failed (so that OOM maps to its own status), and what the cleanup must free.
// It lives in the public function's frame while setjmp runs in a helper below it, so the
// fields that change between setjmp and longjmp are not locals of the setjmp caller (C11
// 7.13.2.1 would make those indeterminate unless volatile).
typedef struct png_ctx {
    const char *path;
    char msg[256];
    int oom;
    png_structp png;
    png_infop info;
    uint8_t *buf;      // reader: (h, w, channels), handed to the caller on success
    png_bytep *rows;   // reader: (h) pointers into buf
    size_t file_bytes; // reader: the file's size
    size_t alloc_max;  // reader: the largest block the file warrants (core.h); 0: no limit
    int too_big;       // a block above alloc_max was asked for
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

// Warnings (an odd ancillary chunk, a known-bad iCCP profile) do not change the pixels we
// return, so they go to the debug level: image folders are full of them.
static void on_warning(png_structp png, png_const_charp msg) {
    const png_ctx *c = png_get_error_ptr(png);
    cdrl_log(CDRL_LOG_DEBUG, "%s: libpng warning: %s", c->path, msg);
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t bytes) {
    png_ctx *c = png_get_mem_ptr(png);
    if (c->alloc_max && bytes > c->alloc_max) { // a chunk or image the file cannot hold
        c->too_big = 1;
        return NULL;
    }
    void *p = cdrl_malloc(bytes);
    if (!p) c->oom = 1;
    return p;
}

static void on_free(png_structp png, png_voidp p) {
    (void)png;
    cdrl_free(p);
}

// ---------------------------------------------------------------------------------------
// Writing

// The PNG keyword rule (spec 11.3.4.3): 1..79 Latin-1 printable characters (32..126,
// 161..255), no leading, trailing or consecutive spaces. libpng would png_error on a bad
// keyword half way through the file; checking first lets us refuse before creating it.
static int key_ok(const char *key) {
    size_t n = strlen(key);
    if (n == 0 || n > CDRL_PNG_KEY_MAX || key[0] == ' ' || key[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)key[i];
        if (!((ch >= 32 && ch <= 126) || ch >= 161)) return 0;
        if (ch == ' ' && key[i + 1] == ' ') return 0;
    }
    return 1;
}

// Copies the caller's const strings into one block laid out as [png_text x n][strings], as
// png_text wants mutable char pointers (libpng copies them again in png_set_text).
static png_text *text_new(const char *const *keys, const char *const *values, int n) {
    size_t bytes = (size_t)n * sizeof(png_text);
    for (int i = 0; i < n; i++)
        bytes += strlen(keys[i]) + strlen(values[i]) + 2;
    png_text *t = cdrl_calloc(bytes);
    if (!t) return NULL;
    char *s = (char *)(t + n);
    for (int i = 0; i < n; i++) {
        size_t nk = strlen(keys[i]) + 1, nv = strlen(values[i]) + 1;
        t[i].compression = PNG_TEXT_COMPRESSION_NONE; // tEXt, readable by any tool
        t[i].key = memcpy(s, keys[i], nk);
        s += nk;
        t[i].text = memcpy(s, values[i], nv);
        t[i].text_length = nv - 1;
        s += nv;
    }
    return t;
}

// Runs libpng's writer on an open file. Returns 0, or 1 after a libpng error (c->msg says
// why); the caller destroys c->png either way.
static int write_body(png_ctx *c, FILE *fp, const uint8_t *pixels, int width, int height,
                      int channels, png_text *texts, int n_text) {
    if (setjmp(png_jmpbuf(c->png))) return 1;
    png_init_io(c->png, fp);
    // libpng's default 1e6-pixel limit guards readers against hostile headers; a writer
    // has no such need, so allow what the format allows.
    png_set_user_limits(c->png, 0x7fffffff, 0x7fffffff);
    // Fixed settings (rather than whatever a future libpng defaults to) keep the bytes a
    // function of the pixels. No png_set_tIME: a timestamp would break that.
    png_set_compression_level(c->png, 6);
    png_set_IHDR(c->png, c->info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_text) png_set_text(c->png, c->info, texts, n_text);
    png_write_info(c->png, c->info);
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++)
        png_write_row(c->png, pixels + (size_t)y * row_bytes);
    png_write_end(c->png, NULL);
    return 0;
}

cdrl_status cdrl_png_write(const char *path, const uint8_t *pixels, int width, int height,
                           int channels, const char *const *text_keys,
                           const char *const *text_values, int n_text) {
    CDRL_ASSERT(path && pixels && width > 0 && height > 0 && (channels == 1 || channels == 3));
    CDRL_ASSERT(n_text >= 0 && (n_text == 0 || (text_keys && text_values)));
    for (int i = 0; i < n_text; i++) {
        CDRL_ASSERT(text_keys[i] && text_values[i]);
        if (!key_ok(text_keys[i]))
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "%s: tEXt key '%s' is not a PNG keyword (1..%d printable Latin-1 "
                             "characters, no leading, trailing or double spaces)",
                             path, text_keys[i], CDRL_PNG_KEY_MAX);
    }

    size_t n_path = strlen(path);
    char *tmp = cdrl_malloc(n_path + 5);
    png_text *texts = n_text ? text_new(text_keys, text_values, n_text) : NULL;
    if (!tmp || (n_text && !texts)) {
        cdrl_free(tmp);
        cdrl_free(texts);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, n_path);
    memcpy(tmp + n_path, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        cdrl_status s = cdrl_fail(CDRL_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
        cdrl_free(tmp);
        cdrl_free(texts);
        return s;
    }

    png_ctx c = {.path = path};
    c.png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning, &c,
                                      on_malloc, on_free);
    c.info = c.png ? png_create_info_struct(c.png) : NULL;
    cdrl_status s = CDRL_OK;
    if (!c.info) {
        s = cdrl_fail(CDRL_STATUS_NOMEM, "%s: cannot create a libpng writer", path);
    } else if (write_body(&c, fp, pixels, width, height, channels, texts, n_text) != 0) {
        // Arguments were validated above, so what remains is the disk or memory.
        s = cdrl_fail(c.oom ? CDRL_STATUS_NOMEM : CDRL_STATUS_IO, "%s: libpng: %s", path, c.msg);
    }
    png_destroy_write_struct(&c.png, &c.info);
    cdrl_free(texts);
    if (s == CDRL_OK) {
        s = cdrl_commit_file(fp, 1, tmp, path);
    } else {
        fclose(fp);
        remove(tmp);
    }
    cdrl_free(tmp);
    return s;
}

// ---------------------------------------------------------------------------------------
// Reading

// Runs libpng's reader on a file whose 8 signature bytes were already consumed; on success
// c->buf holds the pixels. Returns 0, or 1 after a libpng error (c->msg says why); the
// caller frees c->buf, c->rows and the libpng structs either way.
static int read_body(png_ctx *c, FILE *fp, int *w, int *h, int *channels) {
    if (setjmp(png_jmpbuf(c->png))) return 1;
    png_structp png = c->png;
    png_infop info = c->info;
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    // No chunk larger than the file, no image that does not fit it (core.h).
    png_set_chunk_malloc_max(png, c->file_bytes + 1);
    c->alloc_max = cdrl_max_decoded(c->file_bytes);
    png_read_info(png, info);
    if ((size_t)png_get_image_width(png, info) * png_get_image_height(png, info) * 4 >
        cdrl_max_decoded(c->file_bytes))
        png_error(png, "the image's size does not fit the file");
    // Every source layout funnels into 8-bit grey or RGB: palettes and low bit depths
    // expand (tRNS becomes an alpha channel, which is then dropped with the others), 16-bit
    // samples scale to 8 bits with rounding (v * 255 / 65535, not just the high byte).
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    int nc = png_get_channels(png, info);
    if (png_get_bit_depth(png, info) != 8 || (nc != 1 && nc != 3) ||
        png_get_rowbytes(png, info) != (size_t)pw * (size_t)nc)
        png_error(png, "unexpected pixel layout after conversion to 8-bit grey/RGB");
    // libpng's default user limits cap pw and ph at 1e6, so both fit int and the product
    // fits size_t.
    size_t row_bytes = (size_t)pw * (size_t)nc;
    c->buf = cdrl_malloc(row_bytes * ph);
    c->rows = cdrl_malloc(ph * sizeof(png_bytep));
    if (!c->buf || !c->rows) {
        c->oom = 1;
        png_error(png, "cannot allocate the image");
    }
    for (png_uint_32 y = 0; y < ph; y++)
        c->rows[y] = c->buf + y * row_bytes;
    png_read_image(png, c->rows);
    // Reading through IEND checks the trailing CRCs, so a file cut after its last IDAT is
    // reported rather than accepted.
    png_read_end(png, NULL);
    *w = (int)pw;
    *h = (int)ph;
    *channels = nc;
    return 0;
}

cdrl_status cdrl_png_read(const char *path, uint8_t **pixels, int *w, int *h, int *channels) {
    CDRL_ASSERT(path && pixels && w && h && channels);
    *pixels = NULL;
    *w = *h = *channels = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    // The signature is checked here rather than by libpng so that "not a PNG at all" (a
    // JPEG in an image folder, an empty file) gets a plain message.
    png_byte sig[8];
    size_t got = fread(sig, 1, sizeof sig, fp);
    if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        fclose(fp);
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: not a PNG file (%s)", path,
                         got == 0           ? "empty"
                         : got < sizeof sig ? "shorter than the signature"
                                            : "bad signature");
    }

    struct stat sb;
    png_ctx c = {.path = path, .file_bytes = fstat(fileno(fp), &sb) == 0 ? (size_t)sb.st_size : 0};
    c.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning, &c, on_malloc,
                                     on_free);
    c.info = c.png ? png_create_info_struct(c.png) : NULL;
    cdrl_status s = CDRL_OK;
    int rw = 0, rh = 0, rc = 0;
    if (!c.info)
        s = cdrl_fail(CDRL_STATUS_NOMEM, "%s: cannot create a libpng reader", path);
    else if (read_body(&c, fp, &rw, &rh, &rc) != 0)
        s = c.too_big ? cdrl_fail(CDRL_STATUS_FORMAT,
                                  "%s: corrupt PNG: a chunk or the image is larger than a file of "
                                  "%zu bytes can hold",
                                  path, c.file_bytes)
            : c.oom
                ? cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory (%s)", path, c.msg)
                : cdrl_fail(CDRL_STATUS_FORMAT, "%s: corrupt or truncated PNG: %s", path, c.msg);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    fclose(fp);
    cdrl_free(c.rows);
    if (s != CDRL_OK) {
        cdrl_free(c.buf);
        return s;
    }
    *pixels = c.buf;
    *w = rw;
    *h = rh;
    *channels = rc;
    return CDRL_OK;
}
