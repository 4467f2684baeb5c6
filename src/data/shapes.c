// The generated image set "shapes" (docs/data.md): 28x28 grey images on a black background,
// each one shape with four attributes, every one readable from the pixels without a classifier:
//   shape       0 circle, 1 square, 2 triangle   (the best-overlapping template)
//   size        0 small, 1 large                  (circumradius 4.5 or 6.5 pixels: the area)
//   position    0 upper left, 1 upper right, 2 lower left, 3 lower right (the centroid)
//   brightness  0 grey (value 0), 1 white (value 1) (the mean of the shape's pixels)
// Centres (8 or 20 pixels in) move by up to half a pixel, radii by up to 10%. 20000 training images
// (seed 1), 5000 test images (seed 2); ":holdout=shape=2+position=1,.." leaves every image of those
// attribute combinations out (a combination holds one or more NAME=CLASS joined by '+').
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/rng.h"
#include "data/images.h"

#define SIDE 28
static const char *const attr_name[CDRL_SHAPES_ATTRS] = {"shape", "size", "position", "brightness"};
static const int attr_k[CDRL_SHAPES_ATTRS] = {3, 2, 4, 2};
static const float radius[2] = {4.5f, 6.5f};

// Whether pixel centre (px, py) lies inside the shape of circumradius r at (cx, cy).
static int inside(int shape, float cx, float cy, float r, float px, float py) {
    const float dx = px - cx, dy = py - cy;
    if (shape == 0) return dx * dx + dy * dy <= r * r;
    if (shape == 1) return fabsf(dx) <= r * 0.7071f && fabsf(dy) <= r * 0.7071f;
    // an upright isosceles triangle: apex (0, -r), base y = r / 2, half-width r * sqrt(3) / 2
    if (dy < -r || dy > 0.5f * r) return 0;
    return fabsf(dx) <= (dy + r) / 1.5f * 0.8660f;
}

static void render(float *img, const int a[CDRL_SHAPES_ATTRS], const float jit[3]) {
    const float r = radius[a[1]] * (1.0f + 0.1f * jit[2]);
    const float cx = (a[2] % 2 ? 20.0f : 8.0f) + 0.5f * jit[0];
    const float cy = (a[2] / 2 ? 20.0f : 8.0f) + 0.5f * jit[1];
    const float v = a[3] ? 1.0f : 0.0f;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            img[y * SIDE + x] =
                inside(a[0], cx, cy, r, (float)x + 0.5f, (float)y + 0.5f) ? v : -1.0f;
}

// ":holdout=" list: combinations (each up to 4 NAME=CLASS) into combo (values, -1 free).
static cdrl_status parse_holdout(const char *list, int combo[][CDRL_SHAPES_ATTRS], int *n, int max,
                                 const char *spec) {
    *n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (*n >= max)
            return cdrl_fail(CDRL_STATUS_INVALID, "shapes \"%s\": at most %d held-out combinations",
                             spec, max);
        for (int a = 0; a < CDRL_SHAPES_ATTRS; a++)
            combo[*n][a] = -1;
        char *save2 = NULL;
        for (char *t = strtok_r(c, "+", &save2); t; t = strtok_r(NULL, "+", &save2)) {
            char *eq = strchr(t, '=');
            int a = -1;
            for (int k = 0; eq && k < CDRL_SHAPES_ATTRS; k++)
                if ((size_t)(eq - t) == strlen(attr_name[k]) &&
                    !strncmp(t, attr_name[k], (size_t)(eq - t)))
                    a = k;
            char *end = NULL;
            const long v = eq ? strtol(eq + 1, &end, 10) : -1;
            if (a < 0 || !end || *end || v < 0 || v >= attr_k[a])
                return cdrl_fail(CDRL_STATUS_INVALID,
                                 "shapes \"%s\": '%s' is not NAME=CLASS of shape (0..2), size "
                                 "(0..1), position (0..3), brightness (0..1)",
                                 spec, t);
            combo[*n][a] = (int)v;
        }
        (*n)++;
    }
    return CDRL_OK;
}

cdrl_status cdrl_shapes_load(cdrl_images *s, const char *spec, int pad) {
    int test = 0, n_hold = 0, hold[16][CDRL_SHAPES_ATTRS];
    for (const char *p = strchr(spec, ':'); p; p = strchr(p + 1, ':')) {
        cdrl_status st = CDRL_OK;
        if (!strncmp(p, ":test", 5) && (!p[5] || p[5] == ':'))
            test = 1;
        else if (!strncmp(p, ":train", 6) && (!p[6] || p[6] == ':'))
            test = 0;
        else if (!strncmp(p, ":holdout=", 9)) {
            char list[512];
            const char *e = strchr(p + 1, ':');
            snprintf(list, sizeof list, "%.*s", (int)(e ? e - p - 9 : (long)strlen(p + 9)), p + 9);
            st = parse_holdout(list, hold, &n_hold, 16, spec);
        } else
            st = cdrl_fail(CDRL_STATUS_INVALID,
                           "shapes \"%s\": unknown option (shapes[:test|:train][:holdout=..])",
                           spec);
        if (st != CDRL_OK) return st;
    }
    const size_t N = test ? 5000 : 20000;
    s->n_attrs = CDRL_SHAPES_ATTRS;
    for (int a = 0; a < CDRL_SHAPES_ATTRS; a++)
        s->attr_classes[a] = attr_k[a], s->attr_names[a] = attr_name[a];
    cdrl_status st = cdrl_images_alloc(s, N, 1, SIDE, SIDE, pad, spec);
    if (st != CDRL_OK) return st;
    s->n_classes = attr_k[0];
    cdrl_rng rng;
    cdrl_rng_init(&rng, test ? 2 : 1, 0);
    float img[SIDE * SIDE];
    size_t kept = 0;
    for (size_t i = 0; i < N; i++) {
        uint32_t pick[CDRL_SHAPES_ATTRS];
        float jit[3];
        for (int a = 0; a < CDRL_SHAPES_ATTRS; a++)
            cdrl_rng_int(&rng, &pick[a], 1, (uint32_t)attr_k[a]);
        cdrl_rng_uniform(&rng, jit, 3);
        int at[CDRL_SHAPES_ATTRS];
        for (int a = 0; a < CDRL_SHAPES_ATTRS; a++)
            at[a] = (int)pick[a];
        for (int k = 0; k < 3; k++)
            jit[k] = 2.0f * jit[k] - 1.0f;
        int out = 0;
        for (int h = 0; h < n_hold && !out; h++) {
            int all = 1;
            for (int a = 0; a < CDRL_SHAPES_ATTRS; a++)
                all &= hold[h][a] < 0 || hold[h][a] == at[a];
            out = all;
        }
        if (out) continue;
        render(img, at, jit);
        float *dst = s->x + kept * cdrl_images_dim(s);
        for (size_t k = 0; k < cdrl_images_dim(s); k++)
            dst[k] = -1.0f;
        for (int y = 0; y < SIDE; y++)
            memcpy(dst + (size_t)(y + pad) * (size_t)s->w + (size_t)pad, img + y * SIDE,
                   SIDE * sizeof(float));
        memcpy(s->labels + kept * CDRL_SHAPES_ATTRS, at, sizeof at);
        kept++;
    }
    s->n = kept;
    return CDRL_OK;
}

cdrl_status cdrl_shapes_read(int *attrs, const float *x, int n, int side) {
    if (side < SIDE || (side - SIDE) % 2)
        return cdrl_fail(CDRL_STATUS_MISMATCH, "shapes: images of %dx%d, not 28x28 (plus padding)",
                         side, side);
    const int pad = (side - SIDE) / 2;
    for (int i = 0; i < n; i++) {
        const float *im = x + (size_t)i * (size_t)side * (size_t)side;
        double area = 0, sx = 0, sy = 0, sv = 0;
        int x0 = SIDE, x1 = -1, y0 = SIDE, y1 = -1;
        for (int y = 0; y < SIDE; y++)
            for (int q = 0; q < SIDE; q++) {
                const float v = im[(size_t)(y + pad) * (size_t)side + (size_t)(q + pad)];
                if (!(v > -0.5f)) continue; // background -1; the shape 0 or 1
                area += 1, sx += q + 0.5, sy += y + 0.5, sv += (double)v;
                x0 = q < x0 ? q : x0, x1 = q > x1 ? q : x1;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
        int *a = attrs + (size_t)i * CDRL_SHAPES_ATTRS;
        if (area < 4) { // no shape
            a[0] = a[1] = a[2] = a[3] = -1;
            continue;
        }
        // shape: the template (drawn at the centroid, its radius from the area) that overlaps
        // the pixels best; size: that radius against the midpoint of the two
        static const double unit_area[3] = {3.14159, 2.0, 1.299}; // area / r^2
        const float cx = (float)(sx / area), cy = (float)(sy / area);
        double best = -1;
        float best_r = 0;
        for (int shape = 0; shape < 3; shape++) {
            const float r = (float)sqrt(area / unit_area[shape]);
            int both = 0, either = 0;
            for (int y = y0 - 2; y <= y1 + 2; y++)
                for (int q = x0 - 2; q <= x1 + 2; q++) {
                    const int in_t = inside(shape, cx, cy, r, (float)q + 0.5f, (float)y + 0.5f);
                    const int in_x =
                        y >= 0 && y < SIDE && q >= 0 && q < SIDE &&
                        im[(size_t)(y + pad) * (size_t)side + (size_t)(q + pad)] > -0.5f;
                    both += in_t && in_x, either += in_t || in_x;
                }
            const double iou = either ? (double)both / either : 0;
            if (iou > best) best = iou, a[0] = shape, best_r = r;
        }
        a[1] = best_r > 0.5f * (radius[0] + radius[1]) ? 1 : 0;
        a[2] = (sx / area > SIDE / 2.0 ? 1 : 0) + (sy / area > SIDE / 2.0 ? 2 : 0);
        a[3] = sv / area > 0.5 ? 1 : 0;
    }
    return CDRL_OK;
}
