// Public data sources (cdrl_dataset_*): 2-D generators and point files for now.
#include <string.h>

#include "api/internal.h"
#include "core/core.h"

cdrl_status cdrl_dataset_open(cdrl_dataset **out, const char *spec) {
    *out = NULL;
    cdrl_dataset *d = cdrl_calloc(sizeof *d);
    if (!d) return cdrl_fail(CDRL_STATUS_NOMEM, "dataset: out of memory");
    cdrl_status st = cdrl_toy2d_from_name(&d->toy, spec);
    if (st != CDRL_OK) {
        cdrl_free(d);
        return st;
    }
    *out = d;
    return CDRL_OK;
}

void cdrl_dataset_free(cdrl_dataset *d) {
    if (!d) return;
    cdrl_toy2d_deinit(&d->toy);
    cdrl_free(d);
}

int cdrl_dataset_dim(const cdrl_dataset *d) {
    (void)d;
    return 2;
}

double cdrl_dataset_entropy(const cdrl_dataset *d) { return cdrl_toy2d_entropy(&d->toy); }

void cdrl_dataset_bbox(const cdrl_dataset *d, float box[4]) { cdrl_toy2d_bbox(&d->toy, box); }

void cdrl_dataset_sample(const cdrl_dataset *d, float *out, size_t n, cdrl_rng *rng) {
    cdrl_toy2d_sample(&d->toy, out, n, rng);
}

void cdrl_dataset_draw(const cdrl_dataset *d, float *out, size_t n, uint64_t seed, uint64_t stream) {
    size_t n_points = 0;
    const float *pts = cdrl_toy2d_points(&d->toy, &n_points);
    if (pts) {
        CDRL_ASSERT(n <= n_points);
        memcpy(out, pts, sizeof(float) * 2 * n);
        return;
    }
    cdrl_rng rng;
    cdrl_rng_init(&rng, seed, stream);
    cdrl_toy2d_sample(&d->toy, out, n, &rng);
}

size_t cdrl_dataset_size(const cdrl_dataset *d) {
    size_t n = 0;
    cdrl_toy2d_points(&d->toy, &n);
    return n;
}

const float *cdrl_dataset_points(const cdrl_dataset *d) { return cdrl_toy2d_points(&d->toy, NULL); }
