// Input sets of `cdrl ood` and `cdrl inpaint`: n inputs of a model's shape named by a spec.
//   uniform        values uniform over the data's range: [-1, 1] per pixel, the data's box in 2-D
//   off-support    2-D generators with a known density: uniform points of the data's box where
//                  the density is below 1% of the uniform density on the box
//   DATA[@T...]    a data spec (docs/data.md), each '@' adding one transform in order: vflip,
//                  hflip, invert (images: v -> -v), classK (only class K, 0-based), notclassK
// Images are taken at evenly spaced positions of the (filtered) set, so that a set is the same
// for every seed and has no repeats; 2-D generators are drawn with the seed.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

// Uniform values in [lo, hi) from a small counter hash (splitmix64): deterministic, and
// independent of the library's streams.
static float uniform(uint64_t *state, float lo, float hi) {
    const uint64_t z = cli_mix(*state += 0x9E3779B97F4A7C15ull);
    return lo + (hi - lo) * (float)((double)(z >> 40) / 16777216.0);
}

static int apply(const char *t, float *x, int n, const cdrl_config *c) {
    const int C = c->in_ch, S = c->res, D = c->dim;
    const int image = c->kind == CDRL_MODEL_IMAGE;
    if (!strcmp(t, "invert")) {
        for (size_t i = 0; i < (size_t)n * (size_t)D; i++)
            x[i] = -x[i];
        return 0;
    }
    const int v = !strcmp(t, "vflip"), h = !strcmp(t, "hflip");
    if (!(v || h) || !image) return -1;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < C; ch++) {
            float *p = x + (size_t)i * (size_t)D + (size_t)ch * (size_t)S * (size_t)S;
            for (int r = 0; r < (v ? S / 2 : S); r++)
                for (int q = 0; q < (v ? S : S / 2); q++) {
                    float *a = p + (size_t)r * (size_t)S + (size_t)q;
                    float *b = v ? p + (size_t)(S - 1 - r) * (size_t)S + (size_t)q
                                 : p + (size_t)r * (size_t)S + (size_t)(S - 1 - q);
                    const float tmp = *a;
                    *a = *b, *b = tmp;
                }
        }
    return 0;
}

int cli_load_set(const char *spec, const cdrl_config *c, int n, uint64_t seed, float **out,
                 int **cls) {
    const int D = c->dim, image = c->kind == CDRL_MODEL_IMAGE;
    *out = NULL;
    if (cls) *cls = NULL;
    char base[4096];
    if (snprintf(base, sizeof base, "%s", spec) >= (int)sizeof base)
        return cli_die(CLI_USAGE, "set %s: spec too long", spec);
    char *at = strchr(base, '@');
    const char *transforms = at ? spec + (at - base) : "";
    if (at) *at = '\0';
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)D);
    int *k = malloc(sizeof(int) * (size_t)n);
    if (!x || !k) {
        free(x), free(k);
        return cli_die(CLI_FAIL, "out of memory for %d inputs", n);
    }
    for (int i = 0; i < n; i++)
        k[i] = -1;
    uint64_t state = seed;
    int rc = CLI_OK;
    if (!strcmp(base, "uniform") || !strcmp(base, "off-support")) {
        cdrl_dataset *d = NULL;
        float box[4] = {-1, 1, -1, 1};
        const int off = !strcmp(base, "off-support");
        if (!image || off) {
            if (image || cdrl_dataset_open(&d, c->data) != CDRL_OK) {
                free(x), free(k);
                return image ? cli_die(CLI_USAGE, "set %s: for 2-D models", spec)
                             : cli_fail(CLI_FAIL, "set %s: cannot open the model's data %s", spec,
                                        c->data);
            }
            cdrl_dataset_bbox(d, box);
        }
        const double floor_lp = log(0.01 / ((double)(box[1] - box[0]) * (double)(box[3] - box[2])));
        if (off && isnan(cdrl_dataset_log_density(d, 0, 0))) {
            cdrl_dataset_free(d);
            free(x), free(k);
            return cli_die(CLI_USAGE,
                           "set %s: the density of %s is not known (checkerboard, "
                           "8gaussians, 25gaussians, rings)",
                           spec, c->data);
        }
        for (int i = 0; i < n; i++) {
            if (image) {
                for (int j = 0; j < D; j++)
                    x[(size_t)i * (size_t)D + (size_t)j] = uniform(&state, -1.0f, 1.0f);
                continue;
            }
            float *p = x + 2 * (size_t)i;
            do {
                p[0] = uniform(&state, box[0], box[1]);
                p[1] = uniform(&state, box[2], box[3]);
            } while (off && !(cdrl_dataset_log_density(d, p[0], p[1]) < floor_lp));
        }
        cdrl_dataset_free(d);
    } else {
        cdrl_dataset *d = NULL;
        if (cdrl_dataset_open(&d, base) != CDRL_OK) {
            free(x), free(k);
            return cli_fail(CLI_FAIL, "set %s: cannot open %s", spec, base);
        }
        if (cdrl_dataset_dim(d) != D) {
            cdrl_dataset_free(d);
            free(x), free(k);
            return cli_die(CLI_FAIL, "set %s: inputs of %d values, the model takes %d", spec,
                           cdrl_dataset_dim(d), D);
        }
        const size_t N = cdrl_dataset_size(d);
        const float *pts = cdrl_dataset_points(d);
        const int *lab = cdrl_dataset_labels(d);
        if (!pts) { // a generator
            cdrl_dataset_draw(d, x, (size_t)n, seed, 7);
        } else { // evenly spaced members of the class filter
            int only = -1, without = -1;
            for (const char *t = transforms; t && *t;) {
                t++; // past '@'
                if (!strncmp(t, "class", 5)) only = atoi(t + 5);
                if (!strncmp(t, "notclass", 8)) without = atoi(t + 8);
                t = strchr(t, '@');
            }
            size_t m = 0;
            for (size_t i = 0; i < N; i++)
                m += (only < 0 || (lab && lab[i] == only)) && (!lab || lab[i] != without);
            if (m < (size_t)n) {
                cdrl_dataset_free(d);
                free(x), free(k);
                return cli_die(CLI_USAGE, "set %s: %zu inputs, %d asked for", spec, m, n);
            }
            for (size_t i = 0, seen = 0, next = 0; i < N && next < (size_t)n; i++) {
                if (!((only < 0 || (lab && lab[i] == only)) && (!lab || lab[i] != without)))
                    continue;
                if (seen++ != next * m / (size_t)n) continue;
                memcpy(x + next * (size_t)D, pts + i * (size_t)D, sizeof(float) * (size_t)D);
                k[next++] = lab ? lab[i] : -1;
            }
        }
        cdrl_dataset_free(d);
    }
    for (const char *t = transforms; rc == CLI_OK && t && *t;) {
        char name[64];
        const char *e = strchr(t + 1, '@');
        snprintf(name, sizeof name, "%.*s", (int)(e ? e - t - 1 : (long)strlen(t + 1)), t + 1);
        if (strncmp(name, "class", 5) && strncmp(name, "notclass", 8) && apply(name, x, n, c))
            rc = cli_die(CLI_USAGE,
                         "set %s: unknown transform @%s (vflip, hflip, invert: images; "
                         "classK, notclassK)",
                         spec, name);
        t = e;
    }
    if (rc != CLI_OK) {
        free(x), free(k);
        return rc;
    }
    *out = x;
    if (cls)
        *cls = k;
    else
        free(k);
    return CLI_OK;
}
