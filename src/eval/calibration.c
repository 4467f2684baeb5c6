// The calibration sets of the yardstick (docs/yardstick.md): real images of the classifier's data
// set, drawn in a seeded order and transformed (noise, blur, a class left out, class means), so
// that a figure of a generator has a scale.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/rng.h"

// The first n of a seeded permutation of 0..N-1 into idx (n <= N).
static void pick(int *idx, int n, int N, uint64_t seed) {
    cdrl_rng r;
    cdrl_rng_init(&r, seed, 7);
    cdrl_rng_shuffle_prefix(&r, idx, n, N);
}

// 3x3 box blur of one (C, S, S) image with replicated edges (the background of Fashion-MNIST
// is -1: zero padding would brighten the border).
static void box_blur(float *im, float *t, int C, int S) {
    for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
            for (int q = 0; q < S; q++) {
                float s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dq = -1; dq <= 1; dq++) {
                        const int yy = y + dy < 0 ? 0 : y + dy >= S ? S - 1 : y + dy;
                        const int qq = q + dq < 0 ? 0 : q + dq >= S ? S - 1 : q + dq;
                        s += im[((size_t)c * S + yy) * S + qq];
                    }
                t[((size_t)c * S + y) * S + q] = s / 9.0f;
            }
    memcpy(im, t, sizeof(float) * (size_t)C * S * S);
}

cdrl_status cdrl_yardstick_calibration(float *x, int *cls, int n, int channels, int dim,
                                       const char *what, const char *data, uint64_t seed) {
    CDRL_ASSERT(x && cls && n >= 1 && channels >= 1 && what && data);
    const int C = channels;
    char spec[700];
    const int train = strcmp(what, "train") == 0, blur = strcmp(what, "blur") == 0,
              means = strcmp(what, "means") == 0;
    double sigma = 0;
    int missing = -1;
    char tail;
    if (!train && !blur && !means && strcmp(what, "test") != 0 &&
        sscanf(what, "noise:%lf%c", &sigma, &tail) != 1 &&
        sscanf(what, "missing:%d%c", &missing, &tail) != 1)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "calibration set '%s': expected test, train, noise:SIGMA, blur, "
                         "missing:CLASS or means",
                         what);
    if (train || strstr(data, ":test"))
        snprintf(spec, sizeof spec, "%s", data);
    else
        snprintf(spec, sizeof spec, "%s:test", data);
    cdrl_dataset *d = NULL;
    cdrl_status st = cdrl_dataset_open(&d, spec);
    if (st != CDRL_OK) return st;
    const int N = (int)cdrl_dataset_size(d), D = cdrl_dataset_dim(d), K = cdrl_dataset_classes(d);
    const float *src = cdrl_dataset_points(d);
    const int *lab = cdrl_dataset_labels(d);
    float *t = cdrl_malloc(sizeof(float) * (size_t)D);
    int *idx = cdrl_malloc(sizeof(int) * (size_t)N);
    double *mu = means ? cdrl_calloc(sizeof(double) * (size_t)K * (size_t)D) : NULL;
    long *cnt = means ? cdrl_calloc(sizeof(long) * (size_t)K) : NULL;
    if (D != dim)
        st = cdrl_fail(CDRL_STATUS_MISMATCH,
                       "calibration set: '%s' has %d values per image, not %d", spec, D, dim);
    else if (!t || !idx || (means && (!mu || !cnt)))
        st = cdrl_fail(CDRL_STATUS_NOMEM, "calibration set: out of memory for '%s'", spec);
    else if (K < 1 || missing >= K || (missing >= 0 && K < 2) || N < 1)
        st = cdrl_fail(CDRL_STATUS_INVALID, "calibration set '%s': '%s' has %d classes", what, spec,
                       K);
    if (st == CDRL_OK) {
        pick(idx, N, N, seed); // the whole split in a seeded order, cycled when n > N
        for (int i = 0, m = 0; m < n; i++) {
            const int j = idx[i % N];
            if (lab[j] == missing) continue;
            memcpy(x + (size_t)m * D, src + (size_t)j * D, sizeof(float) * (size_t)D);
            cls[m++] = lab[j];
        }
        cdrl_rng r;
        cdrl_rng_init(&r, seed, 8);
        for (int i = 0; i < n && sigma > 0; i++) { // Gaussian noise, clamped to [-1, 1]
            cdrl_rng_normal(&r, t, (size_t)D);
            for (int k = 0; k < D; k++) {
                const float v = x[(size_t)i * D + k] + (float)sigma * t[k];
                x[(size_t)i * D + k] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
            }
        }
        const int S = (int)(sqrt((double)D / C) + 0.5);
        for (int i = 0; i < n && blur; i++)
            box_blur(x + (size_t)i * D, t, C, S);
        for (int j = 0; j < N && means; j++) {
            cnt[lab[j]]++;
            for (int k = 0; k < D; k++)
                mu[(size_t)lab[j] * D + k] += (double)src[(size_t)j * D + k];
        }
        for (int i = 0; i < n && means; i++) // every image its class's mean image
            for (int k = 0; k < D; k++)
                x[(size_t)i * D + k] = (float)(mu[(size_t)cls[i] * D + k] / (double)cnt[cls[i]]);
    }
    cdrl_free(t);
    cdrl_free(idx);
    cdrl_free(mu);
    cdrl_free(cnt);
    cdrl_dataset_free(d);
    return st;
}
