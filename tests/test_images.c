// Image sets (src/data/images.h): small synthetic files written here (a gzip IDX pair through
// zlib, CIFAR batches, folders of PNGs written with cdrl_png_write and JPEGs through libjpeg),
// loaded back and compared pixel by pixel with v / 127.5 - 1; padding, flips, batch
// determinism; every error as a status with a log line naming the file. With Debian's
// dataset-fashion-mnist installed, the real test split too. Every comparison is exact except
// JPEG (lossy; see its tolerance). Not covered: real CIFAR-10 files (not packaged).
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h> // after stdio.h: it uses size_t and FILE without including them

#include "cdrl.h"
#include "data/images.h"
#include "test_util.h"

static char root[128];
static char last_msg[1024];

static void capture_log(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= CDRL_LOG_ERROR) snprintf(last_msg, sizeof last_msg, "%s", msg);
}

// Every file and folder made, removed in reverse order at the end.
static char made[128][256];
static int n_made;

static const char *P(const char *rel) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static void track(const char *path) {
    for (int i = 0; i < n_made; i++)
        if (!strcmp(made[i], path)) return;
    if (n_made < 128) snprintf(made[n_made++], sizeof made[0], "%s", path);
}

static void mk(const char *rel) {
    const char *p = P(rel);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        printf("cannot create %s\n", p);
        exit(1);
    }
    track(p);
}

static void spit(const char *rel, const void *data, size_t n) {
    const char *p = P(rel);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        printf("cannot write %s\n", p);
        exit(1);
    }
    fclose(f);
    track(p);
}

static void gz_spit(const char *rel, const void *data, size_t n) {
    const char *p = P(rel);
    gzFile f = gzopen(p, "wb");
    if (!f || gzwrite(f, data, (unsigned)n) != (int)n) {
        printf("cannot write %s\n", p);
        exit(1);
    }
    gzclose(f);
    track(p);
}

static void png_spit(const char *rel, const uint8_t *px, int w, int h, int c) {
    const char *p = P(rel);
    if (cdrl_png_write(p, px, w, h, c, NULL, NULL, 0) != CDRL_OK) {
        printf("cannot write %s\n", p);
        exit(1);
    }
    track(p);
}

static void jpeg_spit(const char *rel, const uint8_t *px, int w, int h, int c) {
    const char *p = P(rel);
    FILE *f = fopen(p, "wb");
    if (!f) exit(1);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(uintptr_t)(px + (size_t)ci.next_scanline * (size_t)(w * c));
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    track(p);
}

static void be32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8),
    b[3] = (uint8_t)v;
}

static float to_f(int v) { return (float)v / 127.5f - 1.0f; }

// Expects a failure with status want and a log line holding both needles.
static void check_fail(const char *spec, const cdrl_images_params *p, cdrl_status want,
                       const char *needle1, const char *needle2) {
    cdrl_images s;
    last_msg[0] = 0;
    cdrl_status st = cdrl_images_load(&s, spec, p);
    CHECK(st == want, "%s: status %s, want %s", spec, cdrl_status_str(st), cdrl_status_str(want));
    CHECK(strstr(last_msg, needle1) && strstr(last_msg, needle2),
          "%s: log \"%s\" lacks \"%s\" / \"%s\"", spec, last_msg, needle1, needle2);
    CHECK(s.x == NULL && s.labels == NULL && s.n == 0, "%s: failure left data", spec);
    printf("  ok   error %-28s %s\n", cdrl_status_str(st), last_msg);
    cdrl_images_deinit(&s);
}

// ---------------------------------------------------------------------------------------
// IDX (Fashion-MNIST layout): 3 images of 2 rows x 3 columns.

enum { IDX_N = 3, IDX_R = 2, IDX_C = 3 };
static const uint8_t idx_labels[IDX_N] = {7, 0, 9};
static int idx_pixel(int i, int y, int x) {
    return (i * 101 + y * 37 + x * 11) % 256 == 5 ? 255 : (i * 101 + y * 37 + x * 11) % 256;
}

static void write_idx(const char *dir, const char *split, uint32_t magic_i, uint32_t magic_l,
                      uint32_t n_hdr_i, uint32_t n_hdr_l, int n_pix, int n_lab, int gz) {
    uint8_t buf[16 + IDX_N * IDX_R * IDX_C + 8];
    char rel[256];
    be32(buf, magic_i), be32(buf + 4, n_hdr_i), be32(buf + 8, IDX_R), be32(buf + 12, IDX_C);
    size_t k = 16;
    for (int i = 0; i < n_pix; i++)
        for (int y = 0; y < IDX_R; y++)
            for (int x = 0; x < IDX_C; x++)
                buf[k++] = (uint8_t)idx_pixel(i, y, x);
    snprintf(rel, sizeof rel, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    if (gz)
        gz_spit(rel, buf, k);
    else
        spit(rel, buf, k);
    be32(buf, magic_l), be32(buf + 4, n_hdr_l);
    for (int i = 0; i < n_lab; i++)
        buf[8 + i] = idx_labels[i % IDX_N];
    snprintf(rel, sizeof rel, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
    if (gz)
        gz_spit(rel, buf, 8 + (size_t)n_lab);
    else
        spit(rel, buf, 8 + (size_t)n_lab);
}

static void test_idx(void) {
    printf("idx (fashion-mnist / mnist)\n");
    mk("idx");
    write_idx("idx", "train", 2051, 2049, IDX_N, IDX_N, IDX_N, IDX_N, 1);
    write_idx("idx", "t10k", 2051, 2049, 1, 1, 1, 1, 1);
    char spec[512];
    snprintf(spec, sizeof spec, "fashion-mnist:%s", P("idx"));
    cdrl_images s;
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK, "load %s: %s", spec, last_msg);
    CHECK(s.n == IDX_N && s.c == 1 && s.h == IDX_R && s.w == IDX_C, "shape %zu %d %d %d", s.n, s.c,
          s.h, s.w);
    float want[IDX_N * IDX_R * IDX_C];
    for (int i = 0; i < IDX_N; i++)
        for (int y = 0; y < IDX_R; y++)
            for (int x = 0; x < IDX_C; x++)
                want[(i * IDX_R + y) * IDX_C + x] = to_f(idx_pixel(i, y, x));
    if (s.x) check_close("idx pixels (exact)", s.x, want, IDX_N * IDX_R * IDX_C, 0, 0);
    int lab_ok = s.labels != NULL;
    for (int i = 0; lab_ok && i < IDX_N; i++)
        lab_ok = s.labels[i] == idx_labels[i];
    CHECK(lab_ok, "idx labels");
    CHECK(s.n_classes == 10 && !strcmp(s.class_names[0], "T-shirt/top") &&
              !strcmp(s.class_names[9], "Ankle boot"),
          "fashion class names");
    // The extreme values map exactly onto the ends of [-1, 1].
    CHECK(to_f(0) == -1.0f && to_f(255) == 1.0f, "0 -> -1 and 255 -> 1");
    cdrl_images_deinit(&s);

    // The t10k split through the suffix and through the option; mnist's names.
    snprintf(spec, sizeof spec, "mnist:%s:test", P("idx"));
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.n == 1 && s.labels[0] == 7 &&
              !strcmp(s.class_names[3], "3"),
          "mnist :test split");
    cdrl_images_deinit(&s);
    cdrl_images_params p;
    cdrl_images_params_init(&p);
    p.test = 1;
    snprintf(spec, sizeof spec, "fashion-mnist:%s", P("idx"));
    CHECK(cdrl_images_load(&s, spec, &p) == CDRL_OK && s.n == 1, "params.test split");
    cdrl_images_deinit(&s);

    // Padding 2: a border of -1 (black), the image in the middle.
    p.test = 0;
    p.pad = 2;
    CHECK(cdrl_images_load(&s, spec, &p) == CDRL_OK && s.h == IDX_R + 4 && s.w == IDX_C + 4,
          "padded shape");
    if (s.x) {
        int bad = 0;
        for (int i = 0; i < IDX_N; i++)
            for (int y = 0; y < s.h; y++)
                for (int x = 0; x < s.w; x++) {
                    int in = y >= 2 && y < 2 + IDX_R && x >= 2 && x < 2 + IDX_C;
                    float w = in ? to_f(idx_pixel(i, y - 2, x - 2)) : -1.0f;
                    bad += s.x[(i * s.h + y) * s.w + x] != w;
                }
        CHECK(bad == 0, "padding: %d pixels off", bad);
        printf("  ok   padding 2: %dx%d, border -1, inside exact\n", s.h, s.w);
    }
    cdrl_images_deinit(&s);

    // Uncompressed files are read when the .gz is absent.
    mk("idxraw");
    write_idx("idxraw", "train", 2051, 2049, IDX_N, IDX_N, IDX_N, IDX_N, 0);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", P("idxraw"));
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.n == IDX_N && s.x &&
              s.x[5] == to_f(idx_pixel(0, 1, 2)),
          "uncompressed IDX");
    cdrl_images_deinit(&s);

    // Errors.
    mk("idxbad");
    snprintf(spec, sizeof spec, "fashion-mnist:%s", P("idxbad"));
    write_idx("idxbad", "train", 2052, 2049, IDX_N, IDX_N, IDX_N, IDX_N, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-images-idx3-ubyte.gz", "magic");
    write_idx("idxbad", "train", 2051, 2051, IDX_N, IDX_N, IDX_N, IDX_N, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-labels-idx1-ubyte.gz", "magic");
    write_idx("idxbad", "train", 2051, 2049, IDX_N, IDX_N, IDX_N - 1, IDX_N, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-images-idx3-ubyte.gz", "truncated");
    write_idx("idxbad", "train", 2051, 2049, IDX_N - 1, IDX_N - 1, IDX_N, IDX_N - 1, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-images-idx3-ubyte.gz", "size");
    write_idx("idxbad", "train", 2051, 2049, IDX_N, IDX_N - 1, IDX_N, IDX_N - 1, 1);
    check_fail(spec, NULL, CDRL_STATUS_MISMATCH, "train-labels-idx1-ubyte.gz", "count");
    write_idx("idxbad", "train", 2051, 2049, IDX_N, IDX_N, IDX_N, IDX_N + 1, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-labels-idx1-ubyte.gz", "size");
    // A gzip stream cut short: the compressed file loses its last 12 bytes (CRC and length).
    write_idx("idxbad", "train", 2051, 2049, IDX_N, IDX_N, IDX_N, IDX_N, 1);
    {
        const char *ip = P("idxbad/train-images-idx3-ubyte.gz");
        struct stat sb;
        CHECK(stat(ip, &sb) == 0 && truncate(ip, sb.st_size - 12) == 0, "truncate %s", ip);
    }
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "train-images-idx3-ubyte.gz", "");
    unlink(P("idxbad/train-labels-idx1-ubyte.gz"));
    check_fail(spec, NULL, CDRL_STATUS_IO, "train-labels-idx1-ubyte.gz", "cannot open");
    snprintf(spec, sizeof spec, "fashion-mnist:%s", P("nowhere"));
    check_fail(spec, NULL, CDRL_STATUS_IO, "nowhere/train-images-idx3-ubyte.gz", "cannot open");
}

// ---------------------------------------------------------------------------------------
// CIFAR-10: batch 1 with 2 records, batch 2 with 1, test_batch with 1.

static int cifar_pixel(int rec, int c, int y, int x) {
    return (rec * 7 + c * 85 + y * 8 + x * 3) % 256;
}

static void write_cifar(const char *rel, int first_rec, int n_rec, const int *labels, size_t cut) {
    size_t n = (size_t)n_rec * 3073;
    uint8_t *b = cdrl_malloc(n);
    for (int r = 0; r < n_rec; r++) {
        uint8_t *q = b + (size_t)r * 3073;
        q[0] = (uint8_t)labels[r];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    q[1 + (c * 32 + y) * 32 + x] = (uint8_t)cifar_pixel(first_rec + r, c, y, x);
    }
    spit(rel, b, n - cut);
    cdrl_free(b);
}

static void test_cifar(void) {
    printf("cifar10\n");
    mk("cifar");
    const int lab[3] = {3, 9, 1};
    write_cifar("cifar/data_batch_1.bin", 0, 2, lab, 0);
    write_cifar("cifar/data_batch_2.bin", 2, 1, lab + 2, 0);
    write_cifar("cifar/test_batch.bin", 5, 1, lab + 1, 0);
    char spec[512];
    snprintf(spec, sizeof spec, "cifar10:%s", P("cifar"));
    cdrl_images s;
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK, "load %s", spec);
    CHECK(s.n == 3 && s.c == 3 && s.h == 32 && s.w == 32, "cifar shape %zu %d %d %d", s.n, s.c, s.h,
          s.w);
    if (s.n == 3) {
        float *want = test_floats(3 * 3072);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        want[((r * 3 + c) * 32 + y) * 32 + x] = to_f(cifar_pixel(r, c, y, x));
        check_close("cifar pixels, 2 batches (exact)", s.x, want, 3 * 3072, 0, 0);
        cdrl_free(want);
        CHECK(s.labels[0] == 3 && s.labels[1] == 9 && s.labels[2] == 1, "cifar labels");
        CHECK(s.n_classes == 10 && !strcmp(s.class_names[0], "airplane") &&
                  !strcmp(s.class_names[9], "truck"),
              "cifar class names");
    }
    cdrl_images_deinit(&s);
    snprintf(spec, sizeof spec, "cifar10:%s:test", P("cifar"));
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.n == 1 && s.labels[0] == 9 &&
              s.x[3072 - 1] == to_f(cifar_pixel(5, 2, 31, 31)),
          "cifar test split");
    cdrl_images_deinit(&s);

    mk("cifarbad");
    snprintf(spec, sizeof spec, "cifar10:%s", P("cifarbad"));
    check_fail(spec, NULL, CDRL_STATUS_IO, "data_batch_1.bin", "none found");
    write_cifar("cifarbad/data_batch_1.bin", 0, 2, lab, 1);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "data_batch_1.bin", "size");
    const int bad_lab[2] = {3, 10};
    write_cifar("cifarbad/data_batch_1.bin", 0, 2, bad_lab, 0);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "data_batch_1.bin", "label 10");
    write_cifar("cifarbad/data_batch_1.bin", 0, 2, lab, 0);
    snprintf(spec, sizeof spec, "cifar10:%s:test", P("cifarbad"));
    check_fail(spec, NULL, CDRL_STATUS_IO, "test_batch.bin", "cannot open");
}

// ---------------------------------------------------------------------------------------
// Folders: root/z.png (label -1), root/cat/{a,b}.png, root/dog/c.png, 3 wide x 2 high RGB.

static void folder_img(uint8_t *px, int id, int c) {
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int k = 0; k < c; k++)
                px[(y * 3 + x) * c + k] = (uint8_t)(id * 50 + y * 30 + x * 9 + k * 70);
}

static void test_folder(void) {
    printf("folder\n");
    uint8_t px[2 * 3 * 3];
    mk("fold");
    mk("fold/dog");
    mk("fold/cat");
    // Written out of order, so that only sorting gives the order checked below.
    folder_img(px, 3, 3), png_spit("fold/dog/c.png", px, 3, 2, 3);
    folder_img(px, 2, 3), png_spit("fold/cat/b.png", px, 3, 2, 3);
    folder_img(px, 1, 3), png_spit("fold/cat/a.png", px, 3, 2, 3);
    folder_img(px, 0, 3), png_spit("fold/z.png", px, 3, 2, 3);
    spit("fold/cat/notes.txt", "x", 1); // not an image: ignored
    char spec[512];
    snprintf(spec, sizeof spec, "folder:%s", P("fold"));
    cdrl_images s;
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK, "load %s: %s", spec, last_msg);
    CHECK(s.n == 4 && s.c == 3 && s.h == 2 && s.w == 3, "folder shape %zu %d %d %d", s.n, s.c, s.h,
          s.w);
    if (s.n == 4) {
        float want[4 * 18];
        for (int i = 0; i < 4; i++) {
            folder_img(px, i, 3);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 2; y++)
                    for (int x = 0; x < 3; x++)
                        want[((i * 3 + c) * 2 + y) * 3 + x] = to_f(px[(y * 3 + x) * 3 + c]);
        }
        check_close("folder pixels, sorted order (exact)", s.x, want, 4 * 18, 0, 0);
        CHECK(s.labels[0] == -1 && s.labels[1] == 0 && s.labels[2] == 0 && s.labels[3] == 1,
              "folder labels %d %d %d %d", s.labels[0], s.labels[1], s.labels[2], s.labels[3]);
        CHECK(s.n_classes == 2 && !strcmp(s.class_names[0], "cat") &&
                  !strcmp(s.class_names[1], "dog"),
              "class names = sorted sub-folders");
    }
    cdrl_images_deinit(&s);

    // Grey PNGs load as one channel; JPEG grey and RGB.
    mk("grey");
    mk("grey/k");
    folder_img(px, 1, 1), png_spit("grey/k/a.png", px, 3, 2, 1);
    snprintf(spec, sizeof spec, "folder:%s", P("grey"));
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.c == 1 && s.n == 1 &&
              s.x[4] == to_f(px[4]),
          "grey PNG as 1 channel");
    cdrl_images_deinit(&s);

    // JPEG is lossy: flat 8x8 blocks at quality 100 decode within 1 level of the input
    // (measured: grey 0, RGB 1 level from chroma rounding); the check allows 2 levels (2 / 127.5
    // in [-1, 1]) for other IDCT implementations.
    uint8_t jp[8 * 16 * 3];
    mk("jpg");
    mk("jpg/a");
    mk("jpg/b");
    for (int i = 0; i < 8 * 16; i++)
        jp[i] = i % 16 < 8 ? 40 : 200;
    jpeg_spit("jpg/a/g.jpg", jp, 16, 8, 1);
    for (int i = 0; i < 8 * 16; i++)
        jp[3 * i] = 30, jp[3 * i + 1] = 120, jp[3 * i + 2] = 220;
    jpeg_spit("jpg/b/rgb.JPEG", jp, 16, 8, 3);
    snprintf(spec, sizeof spec, "folder:%s", P("jpg/a"));
    // jpg/a holds the grey file directly: label -1, no classes.
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.c == 1 && s.h == 8 && s.w == 16 &&
              s.n_classes == 0 && s.labels[0] == -1,
          "grey JPEG");
    if (s.x) {
        float want[8 * 16];
        for (int i = 0; i < 8 * 16; i++)
            want[i] = to_f(i % 16 < 8 ? 40 : 200);
        check_close("grey JPEG pixels (2 levels)", s.x, want, 8 * 16, 2.0 / 127.5, 0);
    }
    cdrl_images_deinit(&s);
    snprintf(spec, sizeof spec, "folder:%s", P("jpg/b"));
    CHECK(cdrl_images_load(&s, spec, NULL) == CDRL_OK && s.c == 3 && s.h == 8 && s.w == 16,
          "RGB JPEG");
    if (s.x) {
        float want[3 * 8 * 16];
        for (int i = 0; i < 3 * 8 * 16; i++)
            want[i] = to_f(i < 128 ? 30 : i < 256 ? 120 : 220);
        check_close("RGB JPEG pixels (2 levels)", s.x, want, 3 * 8 * 16, 2.0 / 127.5, 0);
    }
    cdrl_images_deinit(&s);

    // Errors.
    snprintf(spec, sizeof spec, "folder:%s", P("missing"));
    check_fail(spec, NULL, CDRL_STATUS_IO, "missing", "cannot open folder");
    mk("empty");
    snprintf(spec, sizeof spec, "folder:%s", P("empty"));
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "empty", "no .png");
    mk("mixed");
    mk("mixed/a");
    folder_img(px, 0, 3), png_spit("mixed/a/1.png", px, 3, 2, 3);
    png_spit("mixed/a/2.png", px, 2, 3, 3);
    snprintf(spec, sizeof spec, "folder:%s", P("mixed"));
    check_fail(spec, NULL, CDRL_STATUS_MISMATCH, "mixed/a/2.png", "size 2x3");
    png_spit("mixed/a/2.png", px, 3, 2, 1);
    check_fail(spec, NULL, CDRL_STATUS_MISMATCH, "mixed/a/2.png", "1 channel");
    spit("mixed/a/2.png", "not a png at all", 16);
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "mixed/a/2.png", "");
    unlink(P("mixed/a/2.png"));
    // A JPEG cut in half: libjpeg would pad it with grey and warn; here it is an error.
    {
        const char *src = P("jpg/b/rgb.JPEG");
        FILE *f = fopen(src, "rb");
        uint8_t buf[4096];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        spit("mixed/a/3.jpg", buf, n / 2);
    }
    check_fail(spec, NULL, CDRL_STATUS_FORMAT, "mixed/a/3.jpg", "unreadable JPEG");
    check_fail("folder:", NULL, CDRL_STATUS_INVALID, "names no folder", "");
    check_fail("imagenet:/x", NULL, CDRL_STATUS_INVALID, "unknown source", "imagenet");
    snprintf(spec, sizeof spec, "folder:%s:test", P("fold"));
    check_fail(spec, NULL, CDRL_STATUS_INVALID, "no test split", "");
}

// ---------------------------------------------------------------------------------------
// Flips and batches on the CIFAR set (3 images of 3 x 32 x 32).

static void test_batches(void) {
    printf("batches\n");
    char spec[512];
    snprintf(spec, sizeof spec, "cifar10:%s", P("cifar"));
    cdrl_images s;
    if (cdrl_images_load(&s, spec, NULL) != CDRL_OK) {
        CHECK(0, "load %s", spec);
        return;
    }
    size_t D = cdrl_images_dim(&s);
    // A flipped image is the mirror: out[c][y][x] = img[c][y][W-1-x].
    float *one = test_floats(D), *mirror = test_floats(D);
    uint32_t idx = 1;
    uint8_t fl = 1;
    int lab = -5;
    cdrl_images_gather(&s, one, &lab, &idx, &fl, 1);
    for (int r = 0; r < 3 * 32; r++)
        for (int x = 0; x < 32; x++)
            mirror[r * 32 + x] = s.x[D + (size_t)r * 32 + (size_t)(31 - x)];
    check_close("flip = mirror (exact)", one, mirror, D, 0, 0);
    CHECK(lab == 9, "gather label");
    cdrl_free(one);
    cdrl_free(mirror);

    // Same seed -> same bytes; the batch equals gather of the documented draws; B spanning
    // chunks of 1024.
    enum { B = 2500 };
    float *a = test_floats((size_t)B * D), *b = test_floats((size_t)B * D);
    int *la = cdrl_malloc(B * sizeof(int)), *lb = cdrl_malloc(B * sizeof(int));
    cdrl_rng r1, r2;
    cdrl_rng_init(&r1, 42, 7);
    cdrl_rng_init(&r2, 42, 7);
    cdrl_images_batch(&s, a, la, B, &r1, 1);
    cdrl_images_batch(&s, b, lb, B, &r2, 1);
    CHECK(!memcmp(a, b, (size_t)B * D * sizeof(float)) && !memcmp(la, lb, B * sizeof(int)),
          "batch: same seed, same bytes");
    CHECK(r1.counter == r2.counter && r1.counter == 2 * (256 + 256 + 113),
          "rng advance %llu blocks", (unsigned long long)r1.counter);
    cdrl_rng r3;
    cdrl_rng_init(&r3, 42, 7);
    uint32_t ids[1024], coin[1024];
    uint8_t mir[1024];
    int n_flip = 0, count[3] = {0};
    for (int b0 = 0; b0 < B; b0 += 1024) {
        int m = B - b0 < 1024 ? B - b0 : 1024;
        cdrl_rng_int(&r3, ids, (size_t)m, 3);
        cdrl_rng_int(&r3, coin, (size_t)m, 2);
        for (int j = 0; j < m; j++)
            mir[j] = (uint8_t)coin[j], n_flip += (int)coin[j], count[ids[j]]++;
        cdrl_images_gather(&s, b + (size_t)b0 * D, lb + b0, ids, mir, m);
    }
    CHECK(!memcmp(a, b, (size_t)B * D * sizeof(float)) && !memcmp(la, lb, B * sizeof(int)),
          "batch = gather of the documented draws");
    // Loose sanity on the draws (binomial, 2500 trials: 6 sd is about 150 and 140).
    CHECK(abs(n_flip - B / 2) < 150, "flips %d of %d", n_flip, B);
    CHECK(abs(count[0] - B / 3) < 140 && abs(count[2] - B / 3) < 140, "index counts %d %d %d",
          count[0], count[1], count[2]);
    printf("  ok   batch of %d: deterministic, %d flips, index counts %d %d %d\n", B, n_flip,
           count[0], count[1], count[2]);
    // Without flip every image is an unmirrored copy with its label.
    cdrl_rng_init(&r1, 5, 0);
    cdrl_images_batch(&s, a, la, 16, &r1, 0);
    int bad = 0;
    for (int j = 0; j < 16; j++) {
        int k = la[j] == 3 ? 0 : la[j] == 9 ? 1 : 2;
        bad += memcmp(a + (size_t)j * D, s.x + (size_t)k * D, D * sizeof(float)) != 0;
    }
    CHECK(bad == 0 && r1.counter == 4, "no-flip batch: %d images off", bad);
    cdrl_free(a);
    cdrl_free(b);
    cdrl_free(la);
    cdrl_free(lb);
    cdrl_images_deinit(&s);
}

// ---------------------------------------------------------------------------------------
// The real Fashion-MNIST test split (Debian dataset-fashion-mnist), when installed.

static void test_real_fashion(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char path[256];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    if (access(path, R_OK) != 0) {
        printf("real fashion-mnist: SKIPPED (%s absent; apt install dataset-fashion-mnist)\n",
               path);
        return;
    }
    printf("real fashion-mnist (test split)\n");
    cdrl_images s;
    cdrl_images_params p;
    cdrl_images_params_init(&p);
    p.pad = 2;
    CHECK(cdrl_images_load(&s, "fashion-mnist:/usr/share/datasets/fashion-mnist:test", &p) ==
              CDRL_OK,
          "load: %s", last_msg);
    CHECK(s.n == 10000 && s.c == 1 && s.h == 32 && s.w == 32, "shape %zu %d %d %d", s.n, s.c, s.h,
          s.w);
    int count[10] = {0}, bad = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.labels[i] < 0 || s.labels[i] > 9)
            bad++;
        else
            count[s.labels[i]]++;
    }
    float lo = 2, hi = -2;
    for (size_t i = 0; i < s.n * cdrl_images_dim(&s); i++)
        lo = s.x[i] < lo ? s.x[i] : lo, hi = s.x[i] > hi ? s.x[i] : hi;
    CHECK(bad == 0, "%d labels outside 0..9", bad);
    // The published test split holds 1000 images of each class.
    int balanced = 1;
    for (int k = 0; k < 10; k++)
        balanced &= count[k] == 1000;
    CHECK(balanced, "classes not 1000 each");
    CHECK(lo == -1.0f && hi == 1.0f, "range [%g, %g]", (double)lo, (double)hi);
    printf("  ok   %zu images %dx%d (28 + 2*2 pad), labels 0..9 x 1000, range [%g, %g]\n", s.n, s.h,
           s.w, (double)lo, (double)hi);
    cdrl_images_deinit(&s);
}

// The generated shapes set: four attributes, every image's read back from its pixels by
// cdrl_shapes_read; held-out combinations absent; padding read through; bad specs refused.
static void test_shapes(void) {
    printf("shapes\n");
    cdrl_dataset *d = NULL;
    CHECK(cdrl_dataset_open(&d, "shapes:test") == CDRL_OK, "shapes:test opens");
    if (!d) return;
    CHECK(cdrl_dataset_attrs(d) == 4 && cdrl_dataset_attr_classes(d, 0) == 3 &&
              cdrl_dataset_attr_classes(d, 2) == 4 &&
              !strcmp(cdrl_dataset_attr_name(d, 3), "brightness") && cdrl_dataset_size(d) == 5000 &&
              cdrl_dataset_dim(d) == 28 * 28,
          "shapes: 5000 test images of 28x28, attributes shape, size, position, brightness");
    const int n = (int)cdrl_dataset_size(d);
    int *got = malloc(sizeof(int) * 4 * (size_t)n);
    CHECK(got && cdrl_shapes_read(got, cdrl_dataset_points(d), n, 28) == CDRL_OK, "read back");
    const int *lab = cdrl_dataset_labels(d);
    int wrong[4] = {0};
    for (int i = 0; got && i < n; i++)
        for (int a = 0; a < 4; a++)
            wrong[a] += got[4 * i + a] != lab[4 * i + a];
    CHECK(!wrong[0] && !wrong[1] && !wrong[2] && !wrong[3],
          "every attribute read back from the pixels (wrong: %d %d %d %d)", wrong[0], wrong[1],
          wrong[2], wrong[3]);
    free(got);
    cdrl_dataset_free(d);
    CHECK(cdrl_dataset_open(&d, "shapes:holdout=shape=2+position=1,size=0+brightness=1:pad2") ==
              CDRL_OK,
          "shapes with two held-out combinations and padding");
    if (d) {
        const int m = (int)cdrl_dataset_size(d);
        const int *l = cdrl_dataset_labels(d);
        int seen = 0;
        for (int i = 0; i < m; i++)
            seen +=
                (l[4 * i] == 2 && l[4 * i + 2] == 1) || (l[4 * i + 1] == 0 && l[4 * i + 3] == 1);
        int *g2 = malloc(sizeof(int) * 4);
        CHECK(seen == 0 && m > 20000 / 2 && m < 20000 && cdrl_dataset_dim(d) == 32 * 32 && g2 &&
                  cdrl_shapes_read(g2, cdrl_dataset_points(d), 1, 32) == CDRL_OK &&
                  !memcmp(g2, l, 4 * sizeof(int)),
              "held-out combinations absent (%d images left), padded images read", m);
        free(g2);
        cdrl_dataset_free(d);
    }
    d = NULL;
    CHECK(cdrl_dataset_open(&d, "shapes:holdout=colour=1") == CDRL_STATUS_INVALID && !d,
          "an unknown attribute in holdout is refused");
    CHECK(cdrl_dataset_open(&d, "shapes:holdout=shape=3") == CDRL_STATUS_INVALID && !d,
          "a class out of range in holdout is refused");
    CHECK(cdrl_dataset_open(&d, "shapes:big") == CDRL_STATUS_INVALID && !d,
          "an unknown shapes option is refused");
}

int main(void) {
    cdrl_set_log_callback(capture_log, NULL);
    test_shapes();
    snprintf(root, sizeof root, "build/test_images_%ld", (long)getpid());
    if (mkdir(root, 0755) != 0) {
        printf("cannot create %s\n", root);
        return 1;
    }
    test_idx();
    test_cifar();
    test_folder();
    test_batches();
    test_real_fashion();
    for (int i = n_made - 1; i >= 0; i--)
        if (unlink(made[i]) != 0) rmdir(made[i]);
    rmdir(root);
    return test_report("test_images");
}
