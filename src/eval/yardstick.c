// The sample-quality yardstick (docs/yardstick.md): a classifier plus the reference statistics
// of a held-out image set under it (<classifier>.stats.safetensors: feature mean and
// covariance of every reference image, and the features of a fixed random subset for KID and
// precision/recall), and the scoring of a batch of images against them: FD, KID, precision,
// recall, the classifier's accuracy on the classes asked for, and the predicted-class
// histogram. The statistics file records the fingerprint of the classifier's weights, so
// statistics of another classifier are refused rather than silently compared.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "core/core.h"
#include "core/rng.h"
#include "data/dataset.h"

#define STATS_FORMAT  "cdrl-yardstick-stats"
#define STATS_VERSION "1"

struct cdrl_yardstick {
    cdrl_classifier *cls;
    int d;          // feature dimension
    long n_ref;     // reference images behind mu and cov
    int n_feat;     // reference features kept (rows of feat)
    double *mu;     // (d)
    double *cov;    // (d, d)
    float *feat;    // (n_feat, d), a random subset in random order
    char data[512]; // the reference set's spec
};

void cdrl_yardstick_params_init(cdrl_yardstick_params *p) {
    memset(p, 0, sizeof *p);
    p->kid_subsets = 100;
    p->kid_subset_size = 1000;
    p->k = 3;
    p->seed = 1;
}

int cdrl_yardstick_stats_path(char *out, size_t n, const char *classifier_path) {
    const char *suffix = ".safetensors";
    size_t len = strlen(classifier_path), ls = strlen(suffix);
    if (len > ls && strcmp(classifier_path + len - ls, suffix) == 0) len -= ls;
    int k = snprintf(out, n, "%.*s.stats.safetensors", (int)len, classifier_path);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

// ---------------------------------------------------------------------------------------
// Reference statistics

cdrl_status cdrl_yardstick_write_stats(cdrl_classifier *c, const cdrl_dataset *ref, int n_keep,
                                       const char *path, double *accuracy) {
    if (accuracy) *accuracy = (double)NAN;
    if (!ref->is_image || ref->img.n < 2)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "yardstick: the reference must be an image set of 2 or more images");
    const cdrl_images *im = &ref->img;
    if (im->h != im->w)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "yardstick: reference images of %dx%d are not square", im->h, im->w);
    if (im->n > 0x7fffffff)
        return cdrl_fail(CDRL_STATUS_INVALID, "yardstick: too many reference images");
    const int n = (int)im->n, d = cdrl_classifier_feature_dim(c);
    if (n_keep > n) n_keep = n;
    float *f = cdrl_malloc(sizeof(float) * (size_t)n * d),
          *kept = cdrl_malloc(sizeof(float) * (size_t)(n_keep > 0 ? n_keep : 1) * d);
    int *pred = cdrl_malloc(sizeof(int) * (size_t)n), *perm = cdrl_malloc(sizeof(int) * (size_t)n);
    double *mu = cdrl_malloc(sizeof(double) * (size_t)d),
           *cov = cdrl_malloc(sizeof(double) * (size_t)d * d);
    cdrl_status st =
        f && kept && pred && perm && mu && cov
            ? CDRL_OK
            : cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory for %d features", n);
    if (st == CDRL_OK) st = cdrl_classifier_run(c, f, pred, NULL, im->x, n, im->c, im->h);
    if (st == CDRL_OK) st = cdrl_eval_mean_cov(mu, cov, f, n, d);
    if (st == CDRL_OK) {
        long right = 0, known = 0;
        for (int i = 0; i < n; i++)
            if (im->labels[i] >= 0) known++, right += pred[i] == im->labels[i];
        if (accuracy && known) *accuracy = (double)right / (double)known;
        // a fixed random subset, kept in its random order so that any prefix is random too
        cdrl_rng rng;
        cdrl_rng_init(&rng, 20240601, 0);
        cdrl_rng_shuffle_prefix(&rng, perm, n_keep, n);
        for (int i = 0; i < n_keep; i++)
            memcpy(kept + (size_t)i * d, f + (size_t)perm[i] * d, sizeof(float) * (size_t)d);
        cdrl_st_writer *w = cdrl_st_writer_create();
        char num[3][32];
        snprintf(num[0], sizeof num[0], "%d", n);
        snprintf(num[1], sizeof num[1], "%016llx",
                 (unsigned long long)cdrl_classifier_fingerprint(c));
        snprintf(num[2], sizeof num[2], "%d", d);
        st = w ? CDRL_OK : cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory");
        if (st == CDRL_OK) st = cdrl_st_writer_add(w, "mu", CDRL_ST_F64, 1, (int64_t[]){d}, mu);
        if (st == CDRL_OK)
            st = cdrl_st_writer_add(w, "cov", CDRL_ST_F64, 2, (int64_t[]){d, d}, cov);
        if (st == CDRL_OK)
            st = cdrl_st_writer_add_f32(w, "features", 2, (int64_t[]){n_keep, d}, kept);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "format", STATS_FORMAT);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "version", STATS_VERSION);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "data", im->spec);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "n", num[0]);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "classifier", num[1]);
        if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "dim", num[2]);
        if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
        cdrl_st_writer_free(w);
    }
    cdrl_free(f);
    cdrl_free(kept);
    cdrl_free(pred);
    cdrl_free(perm);
    cdrl_free(mu);
    cdrl_free(cov);
    return st;
}

void cdrl_yardstick_free(cdrl_yardstick *y) {
    if (!y) return;
    cdrl_classifier_free(y->cls);
    cdrl_free(y->mu);
    cdrl_free(y->cov);
    cdrl_free(y->feat);
    cdrl_free(y);
}

cdrl_status cdrl_yardstick_load(cdrl_yardstick **out, const char *classifier_path) {
    *out = NULL;
    char spath[4200];
    if (cdrl_yardstick_stats_path(spath, sizeof spath, classifier_path) != 0)
        return cdrl_fail(CDRL_STATUS_INVALID, "yardstick: path too long");
    cdrl_yardstick *y = cdrl_calloc(sizeof *y);
    if (!y) return cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory");
    cdrl_status st = cdrl_classifier_load(&y->cls, classifier_path);
    cdrl_st_file *f = NULL;
    if (st == CDRL_OK) st = cdrl_st_load(&f, spath);
    if (st == CDRL_OK) {
        const char *fmt = cdrl_st_meta(f, "format"), *ver = cdrl_st_meta(f, "version"),
                   *print = cdrl_st_meta(f, "classifier"), *n = cdrl_st_meta(f, "n"),
                   *data = cdrl_st_meta(f, "data");
        char want[32];
        snprintf(want, sizeof want, "%016llx",
                 (unsigned long long)cdrl_classifier_fingerprint(y->cls));
        y->d = cdrl_classifier_feature_dim(y->cls);
        const cdrl_st_tensor *ft = cdrl_st_find(f, "features");
        if (!fmt || strcmp(fmt, STATS_FORMAT) != 0 || !ver || strcmp(ver, STATS_VERSION) != 0)
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: not yardstick statistics of version %s (format '%s')", spath,
                           STATS_VERSION, fmt ? fmt : "none");
        else if (!print || strcmp(print, want) != 0)
            st = cdrl_fail(CDRL_STATUS_MISMATCH,
                           "%s: made with another classifier (%s, %s has %s); regenerate with "
                           "`cdrl classifier --stats-only`",
                           spath, print ? print : "none", classifier_path, want);
        else if (!ft || ft->dtype != CDRL_ST_F32 || ft->ndim != 2 || ft->shape[1] != y->d ||
                 ft->shape[0] < 4)
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: 'features' is not a float32 (N >= 4, %d) tensor", spath, y->d);
        else {
            const cdrl_st_tensor *mt = cdrl_st_find(f, "mu"), *ct = cdrl_st_find(f, "cov");
            if (!mt || mt->dtype != CDRL_ST_F64 || mt->numel != (size_t)y->d || !ct ||
                ct->dtype != CDRL_ST_F64 || ct->numel != (size_t)y->d * y->d)
                st = cdrl_fail(
                    CDRL_STATUS_FORMAT,
                    "%s: 'mu' (%d) or 'cov' (%d, %d) float64 tensors missing or of the wrong size",
                    spath, y->d, y->d, y->d);
            else {
                y->n_feat = (int)ft->shape[0];
                y->n_ref = n ? atol(n) : 0;
                snprintf(y->data, sizeof y->data, "%s", data ? data : "");
                y->mu = cdrl_malloc(sizeof(double) * (size_t)y->d);
                y->cov = cdrl_malloc(sizeof(double) * (size_t)y->d * y->d);
                y->feat = cdrl_malloc(sizeof(float) * ft->numel);
                if (!y->mu || !y->cov || !y->feat)
                    st = cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory");
                else {
                    memcpy(y->mu, mt->data, sizeof(double) * (size_t)y->d);
                    memcpy(y->cov, ct->data, sizeof(double) * (size_t)y->d * y->d);
                    memcpy(y->feat, ft->data, sizeof(float) * ft->numel);
                }
            }
        }
    }
    cdrl_st_free(f);
    if (st != CDRL_OK) {
        cdrl_yardstick_free(y);
        return st;
    }
    *out = y;
    return CDRL_OK;
}

cdrl_classifier *cdrl_yardstick_classifier(cdrl_yardstick *y) { return y->cls; }
const char *cdrl_yardstick_data(const cdrl_yardstick *y) { return y->data; }
const double *cdrl_yardstick_ref_mean(const cdrl_yardstick *y) { return y->mu; }
const double *cdrl_yardstick_ref_cov(const cdrl_yardstick *y) { return y->cov; }
const float *cdrl_yardstick_ref_features(const cdrl_yardstick *y, int *n) {
    if (n) *n = y->n_feat;
    return y->feat;
}

// ---------------------------------------------------------------------------------------
// Scoring

cdrl_status cdrl_yardstick_score_features(cdrl_yardstick *y, const float *f, const int *pred,
                                          const int *cls, int n, const cdrl_yardstick_params *p,
                                          cdrl_yardstick_result *r) {
    cdrl_yardstick_params def;
    if (!p) {
        cdrl_yardstick_params_init(&def);
        p = &def;
    }
    memset(r, 0, sizeof *r);
    r->fd = r->kid = r->kid_std = r->precision = r->recall = r->acc = (double)NAN;
    r->n = n;
    r->n_ref = y->n_ref;
    r->n_classes = cdrl_classifier_classes(y->cls);
    if (n < 2) return cdrl_fail(CDRL_STATUS_INVALID, "yardstick: %d images, need at least 2", n);
    const int d = y->d;
    double *mu = cdrl_malloc(sizeof(double) * (size_t)d),
           *cov = cdrl_malloc(sizeof(double) * (size_t)d * d);
    cdrl_status st = mu && cov ? CDRL_OK : cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory");
    if (st == CDRL_OK) st = cdrl_eval_mean_cov(mu, cov, f, n, d);
    if (st == CDRL_OK) st = cdrl_eval_fd(&r->fd, mu, cov, y->mu, y->cov, d);
    if (st == CDRL_OK)
        st = cdrl_eval_kid(&r->kid, &r->kid_std, y->feat, y->n_feat, f, n, d, p->kid_subsets,
                           p->kid_subset_size, p->seed);
    // precision and recall compare sets of equal size (Kynkäänniemi et al.): the first n of the
    // kept reference features, a random subset
    r->n_ref_pr = n < y->n_feat ? n : y->n_feat;
    if (st == CDRL_OK && n > p->k && r->n_ref_pr > p->k)
        st = cdrl_eval_precision_recall(&r->precision, &r->recall, y->feat, r->n_ref_pr, f, n, d,
                                        p->k);
    long right = 0, asked = 0;
    for (int i = 0; i < n && pred; i++) {
        if (pred[i] >= 0 && pred[i] < r->n_classes) r->hist[pred[i]]++;
        if (cls && cls[i] >= 0) asked++, right += pred[i] == cls[i];
    }
    if (asked) r->acc = (double)right / (double)asked;
    r->n_asked = (int)asked;
    cdrl_free(mu);
    cdrl_free(cov);
    return st;
}

cdrl_status cdrl_yardstick_score(cdrl_yardstick *y, const float *x, const int *cls, int n,
                                 int in_ch, int side, const cdrl_yardstick_params *p,
                                 cdrl_yardstick_result *r) {
    float *f = cdrl_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * (size_t)y->d);
    int *pred = cdrl_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    cdrl_status st =
        f && pred ? CDRL_OK
                  : cdrl_fail(CDRL_STATUS_NOMEM, "yardstick: out of memory for %d images", n);
    if (st == CDRL_OK) st = cdrl_classifier_run(y->cls, f, pred, NULL, x, n, in_ch, side);
    if (st == CDRL_OK) st = cdrl_yardstick_score_features(y, f, pred, cls, n, p, r);
    cdrl_free(f);
    cdrl_free(pred);
    return st;
}
