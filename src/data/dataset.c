// Public data sources (cdrl_dataset_*): 2-D generators and point files, and image sets
// (data/images.h) with optional ":padN" (zero padding) and ":withoutK" (a class left out)
// suffixes on the spec.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset.h"

static int is_image_spec(const char *spec) {
    static const char *kinds[] = {"fashion-mnist:", "mnist:", "cifar10:", "folder:"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strncmp(spec, kinds[i], strlen(kinds[i])) == 0) return 1;
    return strncmp(spec, "shapes", 6) == 0 && (!spec[6] || spec[6] == ':');
}

// Reads a trailing ":<key>N" (N decimal digits) off the first *n bytes of spec: shortens *n to
// drop it and returns N, or -1 when spec does not end that way.
static long take_suffix(const char *spec, size_t *n, const char *key) {
    const size_t kl = strlen(key);
    size_t i = *n;
    while (i > 0 && isdigit((unsigned char)spec[i - 1]))
        i--;
    if (i == *n || *n - i > 9 || i < kl + 1 || spec[i - kl - 1] != ':' ||
        strncmp(spec + i - kl, key, kl))
        return -1;
    *n = i - kl - 1;
    return strtol(spec + i, NULL, 10);
}

// Splits the trailing options ":padN" (N pixels of -1 around every image) and ":withoutK"
// (class K left out), in either order, off spec into base (a copy) and p.
static cdrl_status split_options(const char *spec, char **base, cdrl_images_params *p) {
    size_t n = strlen(spec);
    for (int again = 1; again;) {
        again = 0;
        long v;
        if ((v = take_suffix(spec, &n, "pad")) >= 0) {
            if (v > 1024)
                return cdrl_fail(CDRL_STATUS_INVALID, "dataset '%s': padding %ld out of range",
                                 spec, v);
            p->pad = (int)v, again = 1;
        }
        if ((v = take_suffix(spec, &n, "without")) >= 0) {
            if (v > 999)
                return cdrl_fail(CDRL_STATUS_INVALID, "dataset '%s': class %ld out of range", spec,
                                 v);
            p->without = (int)v, again = 1;
        }
    }
    *base = cdrl_malloc(n + 1);
    if (!*base) return cdrl_fail(CDRL_STATUS_NOMEM, "dataset: out of memory");
    memcpy(*base, spec, n);
    (*base)[n] = '\0';
    return CDRL_OK;
}

cdrl_status cdrl_dataset_open(cdrl_dataset **out, const char *spec) {
    *out = NULL;
    cdrl_dataset *d = cdrl_calloc(sizeof *d);
    if (!d) return cdrl_fail(CDRL_STATUS_NOMEM, "dataset: out of memory");
    cdrl_status st;
    if (is_image_spec(spec)) {
        d->is_image = 1;
        char *base = NULL;
        cdrl_images_params p;
        cdrl_images_params_init(&p);
        st = split_options(spec, &base, &p);
        if (st == CDRL_OK) st = cdrl_images_load(&d->img, base, &p);
        cdrl_free(base);
    } else {
        st = cdrl_toy2d_from_name(&d->toy, spec);
    }
    if (st != CDRL_OK) {
        cdrl_free(d);
        return st;
    }
    *out = d;
    return CDRL_OK;
}

void cdrl_dataset_free(cdrl_dataset *d) {
    if (!d) return;
    if (d->is_image)
        cdrl_images_deinit(&d->img);
    else
        cdrl_toy2d_deinit(&d->toy);
    cdrl_free(d);
}

int cdrl_dataset_dim(const cdrl_dataset *d) {
    return d->is_image ? (int)cdrl_images_dim(&d->img) : 2;
}

double cdrl_dataset_entropy(const cdrl_dataset *d) {
    return d->is_image ? (double)NAN : cdrl_toy2d_entropy(&d->toy);
}

double cdrl_dataset_log_density(const cdrl_dataset *d, double x, double y) {
    return d->is_image ? (double)NAN : cdrl_toy2d_log_density(&d->toy, x, y);
}

void cdrl_dataset_bbox(const cdrl_dataset *d, float box[4]) {
    if (d->is_image) {
        box[0] = box[2] = -1.0f;
        box[1] = box[3] = 1.0f;
        return;
    }
    cdrl_toy2d_bbox(&d->toy, box);
}

void cdrl_dataset_sample(const cdrl_dataset *d, float *out, int *label, size_t n, int flip,
                         cdrl_rng *rng) {
    if (d->is_image) {
        CDRL_ASSERT(n <= 0x7fffffff);
        cdrl_images_batch(&d->img, out, label, (int)n, rng, flip);
        return;
    }
    if (label && !d->toy.n_attrs)
        for (size_t i = 0; i < n; i++)
            label[i] = -1;
    cdrl_toy2d_sample_labelled(&d->toy, out, label, n, rng);
}

void cdrl_dataset_draw(const cdrl_dataset *d, float *out, size_t n, uint64_t seed,
                       uint64_t stream) {
    cdrl_dataset_draw_labelled(d, out, NULL, n, seed, stream);
}

void cdrl_dataset_draw_labelled(const cdrl_dataset *d, float *out, int *labels, size_t n,
                                uint64_t seed, uint64_t stream) {
    cdrl_rng rng;
    cdrl_rng_init(&rng, seed, stream);
    if (d->is_image) {
        cdrl_dataset_sample(d, out, labels, n, 0, &rng);
        return;
    }
    size_t n_points = 0;
    const float *pts = cdrl_toy2d_points(&d->toy, &n_points);
    if (pts) {
        CDRL_ASSERT(n <= n_points);
        memcpy(out, pts, sizeof(float) * 2 * n);
        const size_t A = (size_t)d->toy.n_attrs;
        if (labels && A) memcpy(labels, d->toy.labels, sizeof(int) * n * A);
        if (labels && !A)
            for (size_t i = 0; i < n; i++)
                labels[i] = -1;
        return;
    }
    cdrl_dataset_sample(d, out, labels, n, 0, &rng);
}

int cdrl_dataset_attrs(const cdrl_dataset *d) {
    if (!d->is_image) return d->toy.n_attrs;
    return d->img.n_attrs > 1 ? d->img.n_attrs : d->img.n_classes > 0;
}

int cdrl_dataset_attr_classes(const cdrl_dataset *d, int a) {
    if (a < 0 || a >= cdrl_dataset_attrs(d)) return 0;
    if (!d->is_image) return d->toy.attr_classes[a];
    return d->img.n_attrs > 1 ? d->img.attr_classes[a] : d->img.n_classes;
}

const char *cdrl_dataset_attr_name(const cdrl_dataset *d, int a) {
    if (a < 0 || a >= cdrl_dataset_attrs(d)) return NULL;
    return d->is_image ? d->img.attr_names[a] : d->toy.attr_names[a];
}

int cdrl_dataset_classes(const cdrl_dataset *d) { return cdrl_dataset_attr_classes(d, 0); }

const int *cdrl_dataset_labels(const cdrl_dataset *d) {
    return d->is_image ? d->img.labels : d->toy.labels;
}

size_t cdrl_dataset_size(const cdrl_dataset *d) {
    if (d->is_image) return d->img.n;
    size_t n = 0;
    cdrl_toy2d_points(&d->toy, &n);
    return n;
}

const float *cdrl_dataset_points(const cdrl_dataset *d) {
    return d->is_image ? d->img.x : cdrl_toy2d_points(&d->toy, NULL);
}
