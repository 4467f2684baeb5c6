// Image sets (images.h): gzip IDX (Fashion-MNIST, MNIST) through zlib, CIFAR-10 binary batches,
// and folders of PNG (cdrl_png_read) or JPEG (libjpeg) files. Every loader turns bytes into
// floats through put_u8, which also pads. Formats: http://yann.lecun.com/exdb/mnist/ (IDX),
// https://www.cs.toronto.edu/~kriz/cifar.html (binary version). Not here: anything but 8-bit
// samples, IDX files of other types or ranks, CIFAR-100.
#include "data/images.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <zlib.h>

#include "cdrl.h"
#include "core/core.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

// Sizes beyond these are a corrupt header, not a data set (and keep N*C*H*W far from overflow).
#define MAX_SIDE   16384
#define MAX_IMAGES 100000000u

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = cdrl_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void cdrl_images_params_init(cdrl_images_params *p) {
    p->pad = 0;
    p->test = 0;
    p->without = -1;
}

// Leaves out the images of class k (the set keeps its K classes and their names).
static cdrl_status drop_class(cdrl_images *s, int k, const char *spec) {
    if (s->n_attrs != 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "images: \"%s\": :without takes sets of one class "
                         "attribute",
                         spec);
    if (k >= s->n_classes)
        return cdrl_fail(CDRL_STATUS_INVALID, "images: \"%s\": no class %d to leave out (0..%d)",
                         spec, k, s->n_classes - 1);
    const size_t D = cdrl_images_dim(s);
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->labels[i] == k) continue;
        if (kept != i) memmove(s->x + kept * D, s->x + i * D, D * sizeof(float));
        s->labels[kept++] = s->labels[i];
    }
    if (kept == 0)
        return cdrl_fail(CDRL_STATUS_INVALID, "images: \"%s\": no image left without class %d",
                         spec, k);
    s->n = kept;
    return CDRL_OK;
}

void cdrl_images_deinit(cdrl_images *s) {
    if (!s) return;
    for (int k = 0; k < s->n_classes; k++)
        cdrl_free(s->class_names ? s->class_names[k] : NULL);
    cdrl_free(s->class_names);
    cdrl_free(s->x);
    cdrl_free(s->labels);
    cdrl_free(s->spec);
    memset(s, 0, sizeof *s);
}

size_t cdrl_images_dim(const cdrl_images *s) { return (size_t)s->c * (size_t)s->h * (size_t)s->w; }

// ---------------------------------------------------------------------------------------
// Shared: allocation, conversion, class names.

// Allocates x and labels for n images of c x h0 x w0 before padding; labels start at -1.
cdrl_status cdrl_images_alloc(cdrl_images *s, size_t n, int c, int h0, int w0, int pad,
                              const char *what) {
    s->n = n;
    s->c = c;
    s->h = h0 + 2 * pad;
    s->w = w0 + 2 * pad;
    size_t floats = n * cdrl_images_dim(s);
    s->x = cdrl_malloc((floats ? floats : 1) * sizeof(float));
    if (!s->n_attrs) s->n_attrs = 1, s->attr_names[0] = "class";
    const size_t nl = n * (size_t)s->n_attrs;
    s->labels = cdrl_malloc((nl ? nl : 1) * sizeof(int));
    if (!s->x || !s->labels)
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory for %zu images of %dx%dx%d", what, n,
                         c, s->h, s->w);
    for (size_t i = 0; i < nl; i++)
        s->labels[i] = -1;
    return CDRL_OK;
}

// Image i from 8-bit samples src, planar (C, h0, w0) or interleaved (h0, w0, C), into
// x[i] (C, H, W) as v / 127.5 - 1, with pad pixels of -1 (black) on every side.
static void put_u8(cdrl_images *s, size_t i, const uint8_t *src, int planar, int pad) {
    int C = s->c, H = s->h, W = s->w, h0 = H - 2 * pad, w0 = W - 2 * pad;
    float *dst = s->x + i * cdrl_images_dim(s); // (C, H, W)
    if (pad > 0)
        for (size_t j = 0; j < cdrl_images_dim(s); j++)
            dst[j] = -1.0f;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h0; y++)
            for (int x = 0; x < w0; x++) {
                size_t k = planar ? ((size_t)c * (size_t)h0 + (size_t)y) * (size_t)w0 + (size_t)x
                                  : ((size_t)y * (size_t)w0 + (size_t)x) * (size_t)C + (size_t)c;
                dst[((size_t)c * (size_t)H + (size_t)(y + pad)) * (size_t)W + (size_t)(x + pad)] =
                    (float)src[k] / 127.5f - 1.0f;
            }
}

static cdrl_status set_names(cdrl_images *s, const char *const *names, int k) {
    s->class_names = cdrl_calloc((size_t)(k ? k : 1) * sizeof(char *));
    if (!s->class_names) return cdrl_fail(CDRL_STATUS_NOMEM, "images: out of memory");
    s->n_classes = k;
    for (int j = 0; j < k; j++)
        if (!(s->class_names[j] = str_dup(names[j])))
            return cdrl_fail(CDRL_STATUS_NOMEM, "images: out of memory");
    return CDRL_OK;
}

// ---------------------------------------------------------------------------------------
// IDX through zlib (gzread also reads files that are not gzip-compressed, unchanged).

static uint32_t be32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

// Opens DIR/base.gz, else DIR/base; path receives the name used.
static gzFile idx_open(char *path, size_t n, const char *dir, const char *base) {
    snprintf(path, n, "%s/%s.gz", dir, base);
    gzFile f = gzopen(path, "rb");
    if (f) return f;
    snprintf(path, n, "%s/%s", dir, base);
    f = gzopen(path, "rb");
    if (!f) snprintf(path, n, "%s/%s.gz", dir, base); // name the usual file in the error
    return f;
}

// Reads exactly n bytes, in pieces that fit gzread's unsigned count. Fails with the file
// name, what was being read and how many bytes came.
static cdrl_status gz_exact(gzFile f, const char *path, void *buf, size_t n, const char *what) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(f, (uint8_t *)buf + got, (unsigned)want);
        if (r <= 0) {
            int err = Z_OK;
            const char *msg = gzerror(f, &err);
            if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR))
                return cdrl_fail(CDRL_STATUS_FORMAT, "%s: corrupt gzip data reading %s: %s", path,
                                 what, msg);
            return cdrl_fail(CDRL_STATUS_FORMAT,
                             "%s: truncated: %s needs %zu bytes, the file holds %zu", path, what, n,
                             got);
        }
        got += (size_t)r;
    }
    return CDRL_OK;
}

// The file must end where its header says.
static cdrl_status gz_at_end(gzFile f, const char *path, size_t expected) {
    uint8_t extra[1];
    int r = gzread(f, extra, 1);
    if (r < 0) {
        int err = Z_OK;
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: corrupt gzip data: %s", path, gzerror(f, &err));
    }
    if (r > 0)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: size: more than the %zu bytes the header announces", path, expected);
    return CDRL_OK;
}

static cdrl_status load_idx(cdrl_images *s, const char *dir, int test, int pad, int digits) {
    const char *split = test ? "t10k" : "train";
    char ipath[4096], lpath[4096], base[64];
    uint8_t hdr[16], *pix = NULL, *lab = NULL;
    cdrl_status st = CDRL_OK;

    snprintf(base, sizeof base, "%s-images-idx3-ubyte", split);
    gzFile fi = idx_open(ipath, sizeof ipath, dir, base);
    if (!fi) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", ipath, strerror(errno));
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", split);
    gzFile fl = idx_open(lpath, sizeof lpath, dir, base);
    if (!fl) {
        st = cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", lpath, strerror(errno));
        gzclose(fi);
        return st;
    }

    // Images: magic 2051 (0x00000803: unsigned bytes, 3 dimensions), N, rows, cols, pixels.
    if ((st = gz_exact(fi, ipath, hdr, 16, "the 16-byte header")) != CDRL_OK) goto done;
    uint32_t magic = be32(hdr), n = be32(hdr + 4), rows = be32(hdr + 8), cols = be32(hdr + 12);
    if (magic != 2051) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: bad magic %u, expected 2051 (IDX images of bytes)",
                       ipath, magic);
        goto done;
    }
    if (n == 0 || n > MAX_IMAGES || rows == 0 || rows > MAX_SIDE || cols == 0 || cols > MAX_SIDE) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: implausible header: %u images of %ux%u", ipath, n,
                       rows, cols);
        goto done;
    }
    // Labels: magic 2049 (0x00000801: unsigned bytes, 1 dimension), N, labels.
    if ((st = gz_exact(fl, lpath, hdr, 8, "the 8-byte header")) != CDRL_OK) goto done;
    uint32_t lmagic = be32(hdr), ln = be32(hdr + 4);
    if (lmagic != 2049) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: bad magic %u, expected 2049 (IDX labels)", lpath,
                       lmagic);
        goto done;
    }
    if (ln != n) {
        st = cdrl_fail(CDRL_STATUS_MISMATCH, "%s: count: %u labels for the %u images of %s", lpath,
                       ln, n, ipath);
        goto done;
    }

    size_t per = (size_t)rows * cols, bytes = (size_t)n * per;
    // The header alone must not decide how much is allocated: the file has to be able to hold
    // the pixels it claims (raw: its size; gzip: deflate's largest ratio, 1032:1).
    struct stat sb;
    if (stat(ipath, &sb) == 0) {
        const double room = (double)sb.st_size * (gzdirect(fi) ? 1.0 : 1032.0);
        if ((double)bytes + 16.0 > room) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: the header claims %u images of %ux%u (%zu bytes), more than "
                           "the file's %lld bytes can hold",
                           ipath, n, rows, cols, bytes, (long long)sb.st_size);
            goto done;
        }
    }
    pix = cdrl_malloc(bytes);
    lab = cdrl_malloc(n);
    if (!pix || !lab) {
        st = cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory for %zu bytes", ipath, bytes);
        goto done;
    }
    if ((st = gz_exact(fi, ipath, pix, bytes, "the pixels")) != CDRL_OK) goto done;
    if ((st = gz_at_end(fi, ipath, 16 + bytes)) != CDRL_OK) goto done;
    if ((st = gz_exact(fl, lpath, lab, n, "the labels")) != CDRL_OK) goto done;
    if ((st = gz_at_end(fl, lpath, 8 + (size_t)n)) != CDRL_OK) goto done;
    for (uint32_t i = 0; i < n; i++)
        if (lab[i] > 9) {
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: label %u of item %u is not a class 0..9", lpath,
                           lab[i], i);
            goto done;
        }

    if ((st = cdrl_images_alloc(s, n, 1, (int)rows, (int)cols, pad, ipath)) != CDRL_OK) goto done;
    for (size_t i = 0; i < n; i++) {
        put_u8(s, i, pix + i * per, 1, pad);
        s->labels[i] = lab[i];
    }
    st = set_names(s, digits ? digit_names : fashion_names, 10);
done:
    cdrl_free(pix);
    cdrl_free(lab);
    gzclose(fi);
    gzclose(fl);
    return st;
}

// ---------------------------------------------------------------------------------------
// CIFAR-10 binary: records of 1 label byte + 3 planes (R, G, B) of 32 x 32 bytes.

#define CIFAR_REC 3073

// Reads a whole file; *n its size.
static cdrl_status slurp(const char *path, uint8_t **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return cdrl_fail(CDRL_STATUS_IO, "%s: cannot determine the size", path);
    }
    *buf = cdrl_malloc(len ? (size_t)len : 1);
    if (!*buf) {
        fclose(f);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory for %ld bytes", path, len);
    }
    if (fread(*buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        cdrl_free(*buf);
        *buf = NULL;
        return cdrl_fail(CDRL_STATUS_IO, "%s: read error", path);
    }
    fclose(f);
    *n = (size_t)len;
    return CDRL_OK;
}

static cdrl_status load_cifar(cdrl_images *s, const char *dir, int test, int pad) {
    int n_files = test ? 1 : 5;
    char path[5][4096];
    uint8_t *buf[5] = {0};
    size_t len[5] = {0}, total = 0;
    int n_found = 0;
    cdrl_status st = CDRL_OK;
    struct stat sb;

    // The train split is data_batch_1..5; a missing batch is reported (a warning) and skipped,
    // so a subset of the batches still loads, but never silently.
    for (int b = 0; b < n_files; b++) {
        if (test)
            snprintf(path[b], sizeof path[b], "%s/test_batch.bin", dir);
        else
            snprintf(path[b], sizeof path[b], "%s/data_batch_%d.bin", dir, b + 1);
        if (stat(path[b], &sb) != 0) {
            if (test || errno != ENOENT)
                return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", path[b], strerror(errno));
            cdrl_log(CDRL_LOG_WARN, "%s: missing, loading the other batches", path[b]);
            path[b][0] = 0;
            continue;
        }
        n_found++;
    }
    if (n_found == 0)
        return cdrl_fail(CDRL_STATUS_IO, "%s/data_batch_1.bin .. data_batch_5.bin: none found",
                         dir);
    for (int b = 0; b < n_files && st == CDRL_OK; b++) {
        if (!path[b][0]) continue;
        if ((st = slurp(path[b], &buf[b], &len[b])) != CDRL_OK) break;
        if (len[b] == 0 || len[b] % CIFAR_REC != 0) {
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: size: %zu bytes is not a positive multiple of the %d-byte record",
                           path[b], len[b], CIFAR_REC);
            break;
        }
        for (size_t r = 0; r < len[b] / CIFAR_REC; r++)
            if (buf[b][r * CIFAR_REC] > 9) {
                st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: label %u of record %zu is not a class 0..9",
                               path[b], buf[b][r * CIFAR_REC], r);
                break;
            }
        total += len[b] / CIFAR_REC;
    }
    if (st == CDRL_OK) st = cdrl_images_alloc(s, total, 3, 32, 32, pad, dir);
    size_t i = 0;
    for (int b = 0; b < n_files && st == CDRL_OK; b++)
        for (size_t r = 0; buf[b] && r < len[b] / CIFAR_REC; r++, i++) {
            s->labels[i] = buf[b][r * CIFAR_REC];
            put_u8(s, i, buf[b] + r * CIFAR_REC + 1, 1, pad);
        }
    if (st == CDRL_OK) st = set_names(s, cifar_names, 10);
    for (int b = 0; b < n_files; b++)
        cdrl_free(buf[b]);
    return st;
}

// ---------------------------------------------------------------------------------------
// JPEG through libjpeg: its errors longjmp back here instead of exiting, and its warnings
// (corrupt data, a premature end of file, which it would otherwise fill with grey) are
// treated as errors too, so a damaged file never enters a training set.

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_on_error(cinfo); // warnings; trace messages (level >= 0) are ignored
}

static size_t file_bytes(FILE *f) {
    struct stat sb;
    return fstat(fileno(f), &sb) == 0 && sb.st_size > 0 ? (size_t)sb.st_size : 0;
}

static cdrl_status jpeg_read(const char *path, uint8_t **pixels, int *w, int *h, int *channels) {
    *pixels = NULL;
    *w = *h = *channels = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    uint8_t *volatile buf = NULL;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        cdrl_free(buf);
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: unreadable JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    // A header may claim any size up to 65500 x 65500; the pixels (and libjpeg's whole-image
    // buffers of progressive files) may take at most CDRL_MAX_EXPANSION times the file's bytes.
    const size_t file = file_bytes(f),
                 claimed = (size_t)cinfo.image_width * cinfo.image_height * cinfo.num_components;
    if (claimed > cdrl_max_decoded(file)) {
        snprintf(err.msg, sizeof err.msg, "a %ux%u image does not fit a file of %zu bytes",
                 cinfo.image_width, cinfo.image_height, file);
        longjmp(err.jump, 1);
    }
    cinfo.mem->max_memory_to_use = (long)(2 * cdrl_max_decoded(file));
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int C = cinfo.output_components;
    size_t stride = (size_t)cinfo.output_width * (size_t)C;
    buf = cdrl_malloc(stride * cinfo.output_height);
    if (!buf) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buf + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *w = (int)cinfo.output_width;
    *h = (int)cinfo.output_height;
    *channels = C;
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    *pixels = buf;
    return CDRL_OK;
}

// ---------------------------------------------------------------------------------------
// Folder: DIR/<class>/<image> (class = index of the sub-folder among the sorted ones) and
// DIR/<image> (label -1). Names are sorted by strcmp (bytes), so the order is the same on
// every file system.

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int name_push(name_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = cdrl_malloc(cap * sizeof *v);
        if (!v) return 0;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        cdrl_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = str_dup(s))) return 0;
    l->n++;
    return 1;
}

static void name_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++)
        cdrl_free(l->v[i]);
    cdrl_free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

// Lists dir's sub-folders (want_dirs) or image files, skipping hidden entries, sorted.
static cdrl_status list_dir(name_list *out, const char *dir, int want_dirs) {
    DIR *d = opendir(dir);
    if (!d) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    struct stat sb;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0) continue;
        int keep =
            want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode) && is_image_name(e->d_name);
        if (keep && !name_push(out, e->d_name)) {
            closedir(d);
            return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory listing the folder", dir);
        }
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return CDRL_OK;
}

static cdrl_status read_image(const char *path, uint8_t **px, int *w, int *h, int *c) {
    const char *dot = strrchr(path, '.');
    if (dot && !strcasecmp(dot, ".png")) return cdrl_png_read(path, px, w, h, c);
    return jpeg_read(path, px, w, h, c);
}

static cdrl_status load_folder(cdrl_images *s, const char *dir, int pad) {
    name_list classes = {0}, files = {0}, sub = {0};
    int *file_class = NULL;
    cdrl_status st;
    char path[4096];

    // Pass 1: the file list, root images first (label -1), then each class folder in order.
    if ((st = list_dir(&classes, dir, 1)) != CDRL_OK) goto done;
    if ((st = list_dir(&files, dir, 0)) != CDRL_OK) goto done;
    size_t n_root = files.n;
    for (size_t i = 0; i < files.n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files.v[i]);
        char *full = str_dup(path);
        if (!full) {
            st = cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", dir);
            goto done;
        }
        cdrl_free(files.v[i]);
        files.v[i] = full;
    }
    for (size_t k = 0; k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        name_free(&sub);
        if ((st = list_dir(&sub, path, 0)) != CDRL_OK) goto done;
        for (size_t i = 0; i < sub.n; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[k], sub.v[i]);
            if (!name_push(&files, path)) {
                st = cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", dir);
                goto done;
            }
        }
    }
    if (files.n == 0) {
        st = cdrl_fail(CDRL_STATUS_FORMAT,
                       "%s: no .png, .jpg or .jpeg images in the folder or its sub-folders", dir);
        goto done;
    }
    if (files.n > MAX_IMAGES) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: %zu images, more than supported", dir, files.n);
        goto done;
    }
    file_class = cdrl_malloc(files.n * sizeof *file_class);
    if (!file_class) {
        st = cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    {
        size_t i = 0;
        for (; i < n_root; i++)
            file_class[i] = -1;
        for (size_t k = 0; k < classes.n; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
            size_t len = strlen(path);
            while (i < files.n && !strncmp(files.v[i], path, len) && files.v[i][len] == '/')
                file_class[i++] = (int)k;
        }
    }

    // Pass 2: decode; the first image fixes the size and channels of all.
    int w0 = 0, h0 = 0, c0 = 0;
    for (size_t i = 0; i < files.n; i++) {
        uint8_t *px = NULL;
        int w, h, c;
        if ((st = read_image(files.v[i], &px, &w, &h, &c)) != CDRL_OK) goto done;
        if (i == 0) {
            w0 = w, h0 = h, c0 = c;
            if (w > MAX_SIDE || h > MAX_SIDE) {
                cdrl_free(px);
                st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: %dx%d is larger than supported", files.v[i],
                               w, h);
                goto done;
            }
            if ((st = cdrl_images_alloc(s, files.n, c, h, w, pad, dir)) != CDRL_OK) {
                cdrl_free(px);
                goto done;
            }
        } else if (w != w0 || h != h0 || c != c0) {
            cdrl_free(px);
            st = cdrl_fail(CDRL_STATUS_MISMATCH,
                           "%s: size %dx%d with %d channel(s), but %s is %dx%d with %d", files.v[i],
                           w, h, c, files.v[0], w0, h0, c0);
            goto done;
        }
        put_u8(s, i, px, 0, pad);
        s->labels[i] = file_class[i];
        cdrl_free(px);
    }
    st = set_names(s, (const char *const *)classes.v, (int)classes.n);
done:
    name_free(&classes);
    name_free(&files);
    name_free(&sub);
    cdrl_free(file_class);
    return st;
}

// ---------------------------------------------------------------------------------------
// Spec parsing and batches.

cdrl_status cdrl_images_load(cdrl_images *s, const char *spec, const cdrl_images_params *p) {
    CDRL_ASSERT(s && spec);
    memset(s, 0, sizeof *s);
    cdrl_images_params def;
    cdrl_images_params_init(&def);
    if (!p) p = &def;
    if (p->pad < 0 || p->pad > 1024)
        return cdrl_fail(CDRL_STATUS_INVALID, "images: pad %d out of range 0..1024", p->pad);

    static const char *const kinds[] = {"fashion-mnist:", "mnist:", "cifar10:", "folder:"};
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (!strncmp(spec, kinds[k], strlen(kinds[k]))) kind = k;
    if (!strncmp(spec, "shapes", 6) && (!spec[6] || spec[6] == ':')) {
        cdrl_status st = cdrl_shapes_load(s, spec, p->pad);
        if (st == CDRL_OK && p->without >= 0) st = drop_class(s, p->without, spec);
        if (st == CDRL_OK && !(s->spec = str_dup(spec)))
            st = cdrl_fail(CDRL_STATUS_NOMEM, "images: out of memory");
        if (st != CDRL_OK) cdrl_images_deinit(s);
        return st;
    }
    if (kind < 0)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "images: unknown source \"%s\" (fashion-mnist:DIR, mnist:DIR, "
                         "cifar10:DIR, folder:DIR)",
                         spec);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", spec + strlen(kinds[kind]));
    int test = p->test;
    size_t len = strlen(dir);
    if (len >= 5 && !strcmp(dir + len - 5, ":test"))
        test = 1, dir[len - 5] = 0;
    else if (len >= 6 && !strcmp(dir + len - 6, ":train"))
        test = 0, dir[len - 6] = 0;
    if (!dir[0]) return cdrl_fail(CDRL_STATUS_INVALID, "images: \"%s\" names no folder", spec);
    if (kind == 3 && test)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "images: \"%s\": a folder has no test split (point at another folder)",
                         spec);

    cdrl_status st;
    if (kind <= 1)
        st = load_idx(s, dir, test, p->pad, kind == 1);
    else if (kind == 2)
        st = load_cifar(s, dir, test, p->pad);
    else
        st = load_folder(s, dir, p->pad);
    if (st == CDRL_OK && p->without >= 0) st = drop_class(s, p->without, spec);
    if (st == CDRL_OK && !(s->spec = str_dup(spec)))
        st = cdrl_fail(CDRL_STATUS_NOMEM, "images: out of memory");
    if (st != CDRL_OK) cdrl_images_deinit(s);
    return st;
}

void cdrl_images_gather(const cdrl_images *s, float *out, int *labels, const uint32_t *idx,
                        const uint8_t *flip, int B) {
    size_t D = cdrl_images_dim(s);
    int W = s->w;
    size_t rows = (size_t)s->c * (size_t)s->h;
    for (int b = 0; b < B; b++) {
        CDRL_ASSERT(idx[b] < s->n);
        const float *src = s->x + (size_t)idx[b] * D; // (C, H, W)
        float *dst = out + (size_t)b * D;             // (C, H, W)
        if (flip && flip[b]) {
            for (size_t r = 0; r < rows; r++)
                for (int x = 0; x < W; x++)
                    dst[r * (size_t)W + (size_t)x] = src[r * (size_t)W + (size_t)(W - 1 - x)];
        } else {
            memcpy(dst, src, D * sizeof(float));
        }
        for (int a = 0; labels && a < s->n_attrs; a++)
            labels[(size_t)b * (size_t)s->n_attrs + (size_t)a] =
                s->labels[(size_t)idx[b] * (size_t)s->n_attrs + (size_t)a];
    }
}

#define BATCH_CHUNK 1024

void cdrl_images_batch(const cdrl_images *s, float *out, int *labels, int B, cdrl_rng *rng,
                       int flip) {
    CDRL_ASSERT(s && s->n > 0 && s->n <= UINT32_MAX && out && rng && B >= 0);
    uint32_t idx[BATCH_CHUNK], coin[BATCH_CHUNK];
    uint8_t mirror[BATCH_CHUNK];
    size_t D = cdrl_images_dim(s);
    for (int b0 = 0; b0 < B; b0 += BATCH_CHUNK) {
        int m = B - b0 < BATCH_CHUNK ? B - b0 : BATCH_CHUNK;
        cdrl_rng_int(rng, idx, (size_t)m, (uint32_t)s->n);
        if (flip) {
            cdrl_rng_int(rng, coin, (size_t)m, 2);
            for (int j = 0; j < m; j++)
                mirror[j] = (uint8_t)coin[j];
        }
        cdrl_images_gather(s, out + (size_t)b0 * D, labels ? labels + b0 : NULL, idx,
                           flip ? mirror : NULL, m);
    }
}
