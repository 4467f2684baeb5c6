// PNG I/O and figure helpers: grey and RGB round trips with tEXt chunks (read back through
// libpng directly), same input -> same bytes, every source layout the reader converts
// (palette+tRNS, 1/4/16-bit, alpha, interlaced), missing/empty/corrupt/truncated files as a
// status without crash or leak, and the pixels the figure helpers draw. All comparisons are
// on integer pixels and are exact. Not covered: colour management (the reader ignores it).
#include <png.h>
#include <setjmp.h>
#include <unistd.h>

#include "cdrl.h"
#include "test_util.h"

static char dir_prefix[64];
static char last_msg[1024];

static void capture_log(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= CDRL_LOG_ERROR) snprintf(last_msg, sizeof last_msg, "%s", msg);
}

// A per-process file name under build/, so that `make test` and `make sanitize` running at
// once never share a file.
static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s%s", dir_prefix, name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = cdrl_malloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) len = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        printf("cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

// The PNG chunk CRC (ISO 3309, reflected polynomial 0xedb88320), bit by bit: enough to forge
// a chunk with a valid CRC but bad content.
static uint32_t crc32_bytes(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

// ---------------------------------------------------------------------------------------
// Direct libpng helpers, independent of the code under test.

// Reads the tEXt chunks before IDAT; returns how many (up to max) and whether tIME is set.
static int libpng_text(const char *path, char keys[][80], char values[][256], int max,
                       int *has_time) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_read_info(png, info);
    png_textp text = NULL;
    int n = png_get_text(png, info, &text, NULL);
    for (int i = 0; i < n && i < max; i++) {
        snprintf(keys[i], 80, "%s", text[i].key);
        snprintf(values[i], 256, "%s", text[i].text);
    }
    *has_time = png_get_valid(png, info, PNG_INFO_tIME) != 0;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return n;
}

// Writes an arbitrary PNG layout; rows are the packed bytes libpng expects for that layout
// (16-bit samples big-endian). Palette/tRNS optional.
typedef struct raw_png {
    int w, h, depth, color_type, interlace;
    const unsigned char *data; // (h, rowbytes)
    size_t rowbytes;
    const png_color *palette;
    int n_palette;
    const unsigned char *trns;
    int n_trns;
} raw_png;

static int libpng_write_raw(const char *path, const raw_png *r) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)r->w, (png_uint_32)r->h, r->depth, r->color_type,
                 r->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (r->palette) png_set_PLTE(png, info, r->palette, r->n_palette);
    if (r->trns) png_set_tRNS(png, info, r->trns, r->n_trns, NULL);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < r->h; y++)
            png_write_row(png, r->data + (size_t)y * r->rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
    return 0;
}

// ---------------------------------------------------------------------------------------
// Writer

static void fill_bytes(uint8_t *p, size_t n, unsigned seed) {
    unsigned long s = seed * 2654435761ul + 7;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ul + 1442695040888963407ul;
        p[i] = (uint8_t)(s >> 56);
    }
}

static void test_round_trip(void) {
    static const char *keys[] = {"seed", "checkpoint", "levels", "langevin steps", "Comment"};
    static const char *vals[] = {"42", "runs/toy/ckpt_000200.safetensors", "6", "15",
                                 "step size 0.01; \xe9t\xe9 (Latin-1)"};
    const int n_text = 5;
    char path[128];
    for (int channels = 1; channels <= 3; channels += 2) {
        int w = 37, h = 23; // odd sizes: no row padding assumptions
        size_t n = (size_t)w * (size_t)h * (size_t)channels;
        uint8_t *px = cdrl_malloc(n); // (h, w, channels)
        fill_bytes(px, n, (unsigned)channels);
        px[0] = 0, px[1] = 255; // both extremes present
        tmp_path(path, sizeof path, channels == 1 ? "grey.png" : "rgb.png");
        CHECK(cdrl_png_write(path, px, w, h, channels, keys, vals, n_text) == CDRL_OK,
              "write %d channels", channels);
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        CHECK(!file_exists(tmp), "%s left behind", tmp);

        uint8_t *back = NULL;
        int bw, bh, bc;
        CHECK(cdrl_png_read(path, &back, &bw, &bh, &bc) == CDRL_OK, "read %s", path);
        CHECK(back && bw == w && bh == h && bc == channels, "read back %dx%dx%d", bw, bh, bc);
        if (back && bw == w && bh == h && bc == channels) {
            size_t diff = 0;
            for (size_t i = 0; i < n; i++)
                diff += back[i] != px[i];
            CHECK(diff == 0, "%zu of %zu bytes differ after the round trip", diff, n);
        }
        cdrl_free(back);

        char k[8][80], v[8][256];
        int has_time = 1;
        int nt = libpng_text(path, k, v, 8, &has_time);
        CHECK(nt == n_text, "%d tEXt chunks before IDAT, want %d", nt, n_text);
        for (int i = 0; i < nt && i < n_text; i++)
            CHECK(strcmp(k[i], keys[i]) == 0 && strcmp(v[i], vals[i]) == 0, "tEXt %d: '%s'='%s'", i,
                  k[i], v[i]);
        CHECK(!has_time, "a tIME chunk would make the bytes depend on the clock");

        // Overwriting an existing file goes through the same rename.
        CHECK(cdrl_png_write(path, px, w, h, channels, NULL, NULL, 0) == CDRL_OK, "overwrite");
        nt = libpng_text(path, k, v, 8, &has_time);
        CHECK(nt == 0, "overwritten file has %d tEXt chunks", nt);
        remove(path);
        cdrl_free(px);
    }
    printf("  ok   round trips (grey, RGB, tEXt)\n");
}

static void test_determinism(void) {
    static const char *keys[] = {"seed", "levels"};
    static const char *vals[] = {"7", "6"};
    static const char *vals2[] = {"8", "6"};
    int w = 64, h = 48;
    size_t n = (size_t)w * (size_t)h * 3;
    uint8_t *px = cdrl_malloc(n);
    fill_bytes(px, n, 99);
    char a[128], b[128], c[128];
    tmp_path(a, sizeof a, "det_a.png");
    tmp_path(b, sizeof b, "det_b.png");
    tmp_path(c, sizeof c, "det_c.png");
    CHECK(cdrl_png_write(a, px, w, h, 3, keys, vals, 2) == CDRL_OK, "write a");
    CHECK(cdrl_png_write(b, px, w, h, 3, keys, vals, 2) == CDRL_OK, "write b");
    CHECK(cdrl_png_write(c, px, w, h, 3, keys, vals2, 2) == CDRL_OK, "write c");
    size_t na, nb, nc;
    unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb), *bc = slurp(c, &nc);
    CHECK(na > 0 && na == nb && memcmp(ba, bb, na) == 0,
          "same input gave different bytes (%zu vs %zu)", na, nb);
    CHECK(!(na == nc && memcmp(ba, bc, na) == 0), "different tEXt gave the same bytes");
    cdrl_free(ba);
    cdrl_free(bb);
    cdrl_free(bc);
    remove(a);
    remove(b);
    remove(c);
    cdrl_free(px);
    printf("  ok   determinism (%zu bytes)\n", na);
}

static void test_write_errors(void) {
    uint8_t px[12] = {0};
    char path[128];
    tmp_path(path, sizeof path, "badkey.png");
    const char *bad_keys[][1] = {
        {""},
        {" lead"},
        {"trail "},
        {"dou  ble"},
        {"tab\there"},
        {"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"}};
    const char *val[] = {"x"};
    for (int i = 0; i < 6; i++) {
        CHECK(cdrl_png_write(path, px, 2, 2, 3, bad_keys[i], val, 1) == CDRL_STATUS_INVALID,
              "key '%s' accepted", bad_keys[i][0]);
        CHECK(!file_exists(path), "a refused write left %s", path);
    }
    const char *nowhere = "build/no/such/dir/x.png";
    last_msg[0] = 0;
    CHECK(cdrl_png_write(nowhere, px, 2, 2, 3, NULL, NULL, 0) == CDRL_STATUS_IO,
          "write into a missing dir");
    CHECK(strstr(last_msg, "build/no/such/dir/x.png") != NULL, "message names the file: '%s'",
          last_msg);
    printf("  ok   write errors (bad keys, missing dir)\n");
}

// ---------------------------------------------------------------------------------------
// Reader conversions

static int read_expect(const char *path, int want_w, int want_h, int want_c, const uint8_t *want,
                       const char *what) {
    uint8_t *px = NULL;
    int w, h, c;
    cdrl_status s = cdrl_png_read(path, &px, &w, &h, &c);
    CHECK(s == CDRL_OK, "%s: read status %s", what, cdrl_status_str(s));
    CHECK(w == want_w && h == want_h && c == want_c, "%s: %dx%dx%d, want %dx%dx%d", what, w, h, c,
          want_w, want_h, want_c);
    int ok = s == CDRL_OK && w == want_w && h == want_h && c == want_c;
    if (ok) {
        size_t n = (size_t)w * (size_t)h * (size_t)c, bad = 0;
        for (size_t i = 0; i < n; i++)
            if (px[i] != want[i] && bad++ < 3)
                printf("    %s[%zu]: got %d want %d\n", what, i, px[i], want[i]);
        CHECK(bad == 0, "%s: %zu bytes differ", what, bad);
        ok = bad == 0;
    }
    cdrl_free(px);
    if (ok) printf("  ok   read %s\n", what);
    return ok;
}

static void test_read_layouts(void) {
    char path[128];
    tmp_path(path, sizeof path, "layout.png");

    // 4-bit palette with tRNS: expands to RGB, the alpha that tRNS adds is dropped.
    {
        png_color pal[3] = {{10, 20, 30}, {200, 100, 0}, {1, 255, 128}};
        unsigned char trns[3] = {0, 128, 255};
        unsigned char data[2][2] = {{0x01, 0x20}, {0x21, 0x00}}; // 3x2 indices, 4 bits each
        int idx[2][3] = {{0, 1, 2}, {2, 1, 0}};
        raw_png r = {3, 2,    4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, &data[0][0], 2, pal,
                     3, trns, 3};
        uint8_t want[2 * 3 * 3];
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) {
                const png_color *p = &pal[idx[y][x]];
                uint8_t *q = want + (y * 3 + x) * 3;
                q[0] = p->red, q[1] = p->green, q[2] = p->blue;
            }
        CHECK(libpng_write_raw(path, &r) == 0, "write palette png");
        read_expect(path, 3, 2, 3, want, "palette 4-bit + tRNS");
    }
    // 16-bit grey: scaled with rounding, v16 -> round(v16 / 257).
    {
        unsigned v16[4] = {0, 0xffff, 0x12ff,
                           0x80ff}; // 0x12ff: rounding gives 19, the high byte 18
        unsigned char data[8];
        uint8_t want[4];
        for (int i = 0; i < 4; i++) {
            data[2 * i] = (unsigned char)(v16[i] >> 8),
                     data[2 * i + 1] = (unsigned char)(v16[i] & 255);
            want[i] = (uint8_t)floor((double)v16[i] / 257.0 + 0.5);
        }
        raw_png r = {4, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, data, 8, NULL, 0, NULL, 0};
        CHECK(libpng_write_raw(path, &r) == 0, "write 16-bit png");
        read_expect(path, 4, 1, 1, want, "grey 16-bit");
    }
    // 16-bit RGBA: alpha dropped, colour scaled.
    {
        unsigned v16[2][4] = {{0xffff, 0x0000, 0x7f7f, 0x1111}, {0x01ff, 0xfefe, 0x8080, 0xffff}};
        unsigned char data[16];
        uint8_t want[6];
        for (int p = 0; p < 2; p++)
            for (int k = 0; k < 4; k++) {
                data[8 * p + 2 * k] = (unsigned char)(v16[p][k] >> 8);
                data[8 * p + 2 * k + 1] = (unsigned char)(v16[p][k] & 255);
                if (k < 3) want[3 * p + k] = (uint8_t)floor((double)v16[p][k] / 257.0 + 0.5);
            }
        raw_png r = {2, 1,    16, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, data, 16, NULL,
                     0, NULL, 0};
        CHECK(libpng_write_raw(path, &r) == 0, "write rgba16 png");
        read_expect(path, 2, 1, 3, want, "RGBA 16-bit");
    }
    // 8-bit grey + alpha: one channel out.
    {
        unsigned char data[6] = {5, 255, 77, 0, 250, 9};
        uint8_t want[3] = {5, 77, 250};
        raw_png r = {3, 1,    8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, data, 6, NULL,
                     0, NULL, 0};
        CHECK(libpng_write_raw(path, &r) == 0, "write grey+alpha png");
        read_expect(path, 3, 1, 1, want, "grey+alpha 8-bit");
    }
    // 1-bit and 4-bit grey: expanded to the full 0..255 range (v * 255 / (2^depth - 1)).
    {
        unsigned char data[1] = {0xa5}; // 10100101
        uint8_t want[8] = {255, 0, 255, 0, 0, 255, 0, 255};
        raw_png r = {8, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, data, 1, NULL, 0, NULL, 0};
        CHECK(libpng_write_raw(path, &r) == 0, "write 1-bit png");
        read_expect(path, 8, 1, 1, want, "grey 1-bit");
        unsigned char d4[2] = {0x0f, 0x7a};
        uint8_t w4[4] = {0, 255, 7 * 17, 10 * 17};
        raw_png r4 = {4, 1, 4, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, d4, 2, NULL, 0, NULL, 0};
        CHECK(libpng_write_raw(path, &r4) == 0, "write 4-bit png");
        read_expect(path, 4, 1, 1, w4, "grey 4-bit");
    }
    // Interlaced (Adam7) RGB: the reader must run all seven passes.
    {
        int w = 13, h = 11;
        size_t n = (size_t)w * (size_t)h * 3;
        uint8_t *px = cdrl_malloc(n);
        fill_bytes(px, n, 5);
        raw_png r = {w, h,    8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, px, (size_t)w * 3, NULL,
                     0, NULL, 0};
        CHECK(libpng_write_raw(path, &r) == 0, "write interlaced png");
        read_expect(path, w, h, 3, px, "RGB interlaced");
        cdrl_free(px);
    }
    remove(path);
}

// ---------------------------------------------------------------------------------------
// Bad files: every one must come back as a status, name the file, and leak nothing
// (test_report checks the live-allocation count, which includes libpng's own blocks).

static int read_fails(const char *path, cdrl_status want, const char *what) {
    uint8_t *px = (uint8_t *)&last_msg; // non-NULL sentinel: must be reset to NULL
    int w = -1, h = -1, c = -1;
    last_msg[0] = 0;
    cdrl_status s = cdrl_png_read(path, &px, &w, &h, &c);
    int ok =
        s == want && px == NULL && w == 0 && h == 0 && c == 0 && strstr(last_msg, path) != NULL;
    CHECK(ok, "%s: status %s (want %s), msg '%s'", what, cdrl_status_str(s), cdrl_status_str(want),
          last_msg);
    if (s == CDRL_OK) cdrl_free(px);
    return ok;
}

static void test_bad_files(void) {
    char good[128], bad[128];
    tmp_path(good, sizeof good, "good.png");
    tmp_path(bad, sizeof bad, "bad.png");
    int w = 40, h = 30;
    size_t n = (size_t)w * (size_t)h * 3;
    uint8_t *px = cdrl_malloc(n);
    fill_bytes(px, n, 3); // noise: barely compressible, so the IDAT spans most of the file
    static const char *keys[] = {"seed"};
    static const char *vals[] = {"1"};
    CHECK(cdrl_png_write(good, px, w, h, 3, keys, vals, 1) == CDRL_OK, "write good");
    size_t len;
    unsigned char *bytes = slurp(good, &len);

    read_fails("build/no/such/file.png", CDRL_STATUS_IO, "missing");
    spit(bad, "", 0);
    read_fails(bad, CDRL_STATUS_FORMAT, "empty");
    spit(bad, "\x89PNG", 4);
    read_fails(bad, CDRL_STATUS_FORMAT, "shorter than the signature");
    spit(bad, "just some text, not an image\n", 29);
    read_fails(bad, CDRL_STATUS_FORMAT, "text file");

    // Every cut of the file short of its end: header, mid-chunk, mid-IDAT, before IEND.
    int cuts = 0, cut_ok = 0;
    for (size_t cut = 8; cut < len; cut += (cut < 64 ? 1 : 97)) {
        spit(bad, bytes, cut);
        cut_ok += read_fails(bad, CDRL_STATUS_FORMAT, "truncated");
        cuts++;
    }
    spit(bad, bytes, len - 1); // the last byte of IEND's CRC
    cut_ok += read_fails(bad, CDRL_STATUS_FORMAT, "truncated by one byte");
    cuts++;

    // Flipped bits: in IHDR (critical chunk, CRC mismatch is an error) and in the IDAT
    // payload (CRC mismatch again; libpng must not hand back altered pixels).
    unsigned char *copy = cdrl_malloc(len);
    memcpy(copy, bytes, len);
    copy[8 + 8 + 3] ^= 0x40; // IHDR width, third byte
    spit(bad, copy, len);
    read_fails(bad, CDRL_STATUS_FORMAT, "IHDR bit flip");
    memcpy(copy, bytes, len);
    copy[len / 2] ^= 0x01;
    spit(bad, copy, len);
    read_fails(bad, CDRL_STATUS_FORMAT, "IDAT bit flip");
    // An IHDR with a valid CRC but an impossible layout (bit depth 5).
    memcpy(copy, bytes, len);
    copy[8 + 8 + 8] = 5;
    uint32_t crc = crc32_bytes(copy + 12, 17);
    copy[29] = (unsigned char)(crc >> 24), copy[30] = (unsigned char)(crc >> 16);
    copy[31] = (unsigned char)(crc >> 8), copy[32] = (unsigned char)crc;
    spit(bad, copy, len);
    read_fails(bad, CDRL_STATUS_FORMAT, "IHDR bit depth 5");

    CHECK(cut_ok == cuts, "%d of %d truncations handled", cut_ok, cuts);
    printf("  ok   bad files: missing, empty, short, text, %d truncations, bit flips, bad IHDR\n",
           cuts);
    printf("       last message: %s\n", last_msg);
    cdrl_free(copy);
    cdrl_free(bytes);
    cdrl_free(px);
    remove(good);
    remove(bad);
}

// ---------------------------------------------------------------------------------------
// Figures

static int same_rgb(const uint8_t *a, const uint8_t *b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

static void test_colormap(void) {
    uint8_t c[3];
    cdrl_figure_colormap(c, 0.0f);
    CHECK(c[0] == 68 && c[1] == 1 && c[2] == 84, "colormap(0) = %d %d %d", c[0], c[1], c[2]);
    cdrl_figure_colormap(c, 1.0f);
    CHECK(c[0] == 253 && c[1] == 231 && c[2] == 37, "colormap(1) = %d %d %d", c[0], c[1], c[2]);
    cdrl_figure_colormap(c, 0.5f); // exactly the middle anchor
    CHECK(c[0] == 38 && c[1] == 130 && c[2] == 142, "colormap(0.5) = %d %d %d", c[0], c[1], c[2]);
    cdrl_figure_colormap(c, NAN);
    CHECK(c[0] == 68 && c[1] == 1 && c[2] == 84, "colormap(NaN) = %d %d %d", c[0], c[1], c[2]);
    cdrl_figure_colormap(c, 7.0f);
    CHECK(c[0] == 253, "colormap(7) clamps to the top");
    // Perceptual order: luma (Rec. 601 weights, integer) rises strictly along the map.
    int prev = -1, mono = 1;
    for (int i = 0; i <= 64; i++) {
        cdrl_figure_colormap(c, (float)i / 64.0f);
        int luma = 299 * c[0] + 587 * c[1] + 114 * c[2];
        if (luma <= prev) mono = 0;
        prev = luma;
    }
    CHECK(mono, "colormap luma not strictly increasing");
}

static void test_figure(void) {
    // 2 x 3 tiles of 16 x 12 with 2-pixel gaps: 3*18+2 = 56 by 2*14+2 = 30.
    cdrl_figure *fig = cdrl_figure_create(2, 3, 16, 12, 2);
    CHECK(fig && fig->width == 56 && fig->height == 30, "canvas %dx%d", fig->width, fig->height);
    uint8_t bottom[3], top[3];
    cdrl_figure_colormap(bottom, 0.0f);
    cdrl_figure_colormap(top, 1.0f);

    // Scatter, all points at one spot in the top-right corner (plus points to skip): only
    // the pixel of that bin leaves the empty colour, and it is the densest, so the top one.
    float pts[2 * 64];
    for (int i = 0; i < 60; i++)
        pts[2 * i] = 0.95f, pts[2 * i + 1] = 0.95f;
    float skip[4][2] = {{1.0f, 0.5f}, {0.5f, -0.01f}, {NAN, 0.5f}, {0.5f, INFINITY}};
    for (int i = 0; i < 4; i++)
        pts[2 * (60 + i)] = skip[i][0], pts[2 * (60 + i) + 1] = skip[i][1];
    CHECK(cdrl_figure_scatter(fig, 1, 2, pts, 64, 0.0f, 1.0f, 0.0f, 1.0f) == CDRL_OK, "scatter");
    int others = 0;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++)
            if (!(x == 15 && y == 0))
                others += !same_rgb(cdrl_figure_pixel(fig, 1, 2, x, y), bottom);
    CHECK(others == 0, "%d pixels away from the corner are coloured", others);
    CHECK(same_rgb(cdrl_figure_pixel(fig, 1, 2, 15, 0), top), "corner pixel is not the top colour");

    // A spread cloud inside the top-right quarter [0.75, 1)^2 colours only that quarter's
    // pixels (x >= 12, y < 3); y grows upwards, so a point near (0, 0) lands bottom-left.
    float cloud[2 * 200];
    test_fill(cloud, 400, 11, 0.75f, 0.999f);
    cloud[0] = 0.01f, cloud[1] = 0.01f;
    CHECK(cdrl_figure_scatter(fig, 0, 1, cloud, 200, 0.0f, 1.0f, 0.0f, 1.0f) == CDRL_OK,
          "scatter cloud");
    int outside = 0, inside = 0;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++) {
            int coloured = !same_rgb(cdrl_figure_pixel(fig, 0, 1, x, y), bottom);
            if (x == 0 && y == 11) continue;
            if (x >= 12 && y < 3)
                inside += coloured;
            else
                outside += coloured;
        }
    CHECK(outside == 0 && inside == 12,
          "cloud: %d pixels coloured outside the corner, %d of 12 inside", outside, inside);
    CHECK(!same_rgb(cdrl_figure_pixel(fig, 0, 1, 0, 11), bottom),
          "(0.01, 0.01) is not at the bottom-left pixel");

    // Heatmap 5 x 7 over a 16 x 12 tile (not a multiple, so each pixel is matched to its
    // nearest cell by pixel centre): the max cell is drawn in the top colour, zero and NaN
    // cells in the bottom one, and nothing else reaches the top (every other cell <= 1/3 of
    // the max).
    float grid[5 * 7];
    test_fill(grid, 35, 5, 0.1f, 1.0f);
    grid[1 * 7 + 4] = 3.0f;
    grid[3 * 7 + 0] = 0.0f;
    grid[4 * 7 + 6] = NAN; // a bad cell reads as 0 rather than poisoning the normalisation
    cdrl_figure_heatmap(fig, 0, 2, grid, 5, 7);
    int top_ok = 1, n_top = 0, zero_ok = 1;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++) {
            int gy = (2 * y + 1) * 5 / 24, gx = (2 * x + 1) * 7 / 32; // pixel-centre nearest cell
            const uint8_t *p = cdrl_figure_pixel(fig, 0, 2, x, y);
            int is_top = same_rgb(p, top);
            n_top += is_top;
            if ((gy == 1 && gx == 4) != is_top) top_ok = 0;
            if ((gy == 3 && gx == 0) || (gy == 4 && gx == 6)) zero_ok &= same_rgb(p, bottom);
        }
    CHECK(top_ok && n_top > 0, "heatmap: top colour exactly at the max cell (%d pixels)", n_top);
    CHECK(zero_ok, "heatmap: zero/NaN cells not in the bottom colour");

    // Image tile: -1, 0, 1 -> 0, 128, 255, clamping outside [-1, 1], NaN -> 0, grey -> RGB.
    float img[2 * 4] = {-1.0f, 0.0f, 1.0f, 0.5f, -7.0f, 7.0f, NAN, -0.5f}; // (1, 2, 4)
    uint8_t want[8] = {0, 128, 255, 191, 0, 255, 0, 64};
    cdrl_figure_image(fig, 1, 0, img, 1, 2, 4); // 16x12 tile: each source pixel 4 wide, 6 tall
    int img_ok = 1;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++) {
            const uint8_t *p = cdrl_figure_pixel(fig, 1, 0, x, y);
            uint8_t wv = want[(y / 6) * 4 + x / 4];
            if (p[0] != wv || p[1] != wv || p[2] != wv) img_ok = 0;
        }
    CHECK(img_ok, "grey image tile mapping");
    float rgb[3 * 1 * 2] = {-1.0f, 1.0f, 0.0f, 0.0f, 1.0f, -1.0f}; // (3, 1, 2)
    cdrl_figure_image(fig, 1, 1, rgb, 3, 1, 2);
    const uint8_t *l = cdrl_figure_pixel(fig, 1, 1, 0, 0),
                  *r = cdrl_figure_pixel(fig, 1, 1, 15, 11);
    CHECK(l[0] == 0 && l[1] == 128 && l[2] == 255 && r[0] == 255 && r[1] == 128 && r[2] == 0,
          "RGB image tile: left %d %d %d right %d %d %d", l[0], l[1], l[2], r[0], r[1], r[2]);

    // Undrawn tile (0, 0) and every gap pixel stay white.
    int white = 1;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++) {
            const uint8_t *p = cdrl_figure_pixel(fig, 0, 0, x, y);
            white &= p[0] == 255 && p[1] == 255 && p[2] == 255;
        }
    for (int x = 0; x < fig->width; x++) {
        const uint8_t *p = fig->rgb + ((size_t)14 * (size_t)fig->width + (size_t)x) *
                                          3; // gap row between tile rows
        white &= p[0] == 255 && p[1] == 255 && p[2] == 255;
    }
    CHECK(white, "undrawn tile or gap not white");

    // Saved and read back: the same canvas, same bytes on a second save.
    char a[128], b[128];
    tmp_path(a, sizeof a, "fig_a.png");
    tmp_path(b, sizeof b, "fig_b.png");
    static const char *keys[] = {"seed", "levels"};
    static const char *vals[] = {"3", "6"};
    CHECK(cdrl_figure_save(fig, a, keys, vals, 2) == CDRL_OK, "save figure");
    CHECK(cdrl_figure_save(fig, b, keys, vals, 2) == CDRL_OK, "save figure again");
    read_expect(a, fig->width, fig->height, 3, fig->rgb, "figure saved");
    size_t na, nb;
    unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb);
    CHECK(na == nb && na > 0 && memcmp(ba, bb, na) == 0, "figure bytes differ between saves");
    cdrl_free(ba);
    cdrl_free(bb);
    remove(a);
    remove(b);
    cdrl_figure_free(fig);
    cdrl_figure_free(NULL);
    printf("  ok   figure: scatter, heatmap, image tiles, gaps, save\n");
}

int main(void) {
    snprintf(dir_prefix, sizeof dir_prefix, "build/test_png_%ld_", (long)getpid());
    cdrl_set_log_callback(capture_log, NULL);
    test_round_trip();
    test_determinism();
    test_write_errors();
    test_read_layouts();
    test_bad_files();
    test_colormap();
    test_figure();
    cdrl_set_log_callback(NULL, NULL);
    return test_report("png");
}
