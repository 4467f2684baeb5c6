// `cdrl inpaint`: fills the unknown pixels of images by sampling the model with the known ones
// held at their forward-noised value at every level (method.md §8, cdrl_sample_params' mask);
// the known pixels come out exactly. Three forms:
//   --image x.png --mask m.png -o out.png       one image (mask: white = fill, black = keep)
//   --image DIR --mask m.png -o OUTDIR          every PNG of a folder, one mask for all
//   --data SET --mask-kind K -n N               measured: N images of a set (sets.c) with a
//                                               made mask (lower, centre, random: 50% of the
//                                               pixels), MSE on the filled pixels and the
//                                               yardstick classifier's accuracy against the
//                                               true classes, beside two baselines: the
//                                               initializer chain alone (K = 0) and mean fill
//                                               (the training set's mean image)
// 2-D models take --data with --mask-kind x or y (the known coordinate) and write CSV.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "cli/cli.h"

typedef struct inpaint_opts {
    const char *model, *image, *mask, *output, *data, *kind, *grid, *classifier, *backend;
    int n, k, cls, average, resample, threads, verbose;
    float guidance;
    uint64_t seed;
} inpaint_opts;

#define O(f) offsetof(inpaint_opts, f)
static const cli_opt inpaint_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint file, or a run folder holding model.safetensors", NULL, 0, 0},
    {"image", 'i', CLI_STR, O(image), "PNG|DIR", "the image to complete, or a folder of PNGs", NULL,
     0, 0},
    {"mask", 0, CLI_STR, O(mask), "PNG",
     "the mask, of the model's size: white (>= 128) = pixels to fill, black = known", NULL, 0, 0},
    {"output", 'o', CLI_STR, O(output), "PATH",
     "the completed PNG (a folder for --image DIR; CSV for 2-D models)", NULL, 0, 0},
    {"data", 'd', CLI_STR, O(data), "SET",
     "measure on N inputs of a set (cdrl ood's form: a data spec with @transforms)", NULL, 0, 0},
    {"mask-kind", 0, CLI_STR, O(kind), "KIND",
     "with --data: lower (the lower half), centre (a centred square of half the side), random "
     "(50% of the pixels); 2-D: x or y, the known coordinate",
     "lower", 0, 0},
    {"num", 'n', CLI_INT, O(n), "N", "inputs measured with --data", NULL, 1, 1000000},
    {"langevin-steps", 'k', CLI_INT, O(k), "K", "Langevin steps per level", "the model's K", 1,
     10000},
    {"class", 'c', CLI_INT, O(cls), "C",
     "conditional models: the class 1..K to complete towards; 0: none (the null label)", NULL, 0,
     100000},
    {"guidance", 'w', CLI_FLOAT, O(guidance), "W", "guidance weight with --class", NULL, 0, 1000},
    {"resample", 0, CLI_INT, O(resample), "U",
     "jumps back per level (RePaint): each level runs 1 + U times, its output noised forward "
     "again in between (U + 1 times the cost)",
     NULL, 0, 100},
    {"average", 0, CLI_INT, O(average), "S",
     "with --data: also the mean of S completions of each input, by cdrl and by the initializer "
     "alone (estimates of the posterior mean, which minimises the expected squared error)",
     NULL, 1, 1000},
    {"grid", 'g', CLI_STR, O(grid), "PNG",
     "with --data: a picture of the first 10 inputs: true, masked, cdrl, initializer alone, "
     "mean fill (one row each)",
     NULL, 0, 0},
    {"classifier", 0, CLI_STR, O(classifier), "FILE", "with --data: the yardstick classifier",
     "the data's", 0, 0},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the sampler noise and of random masks", NULL, 0,
     0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd inpaint_cmd = {
    "inpaint",
    "[options] --model M (--image PNG|DIR --mask PNG -o OUT | --data SET)",
    "Completes images: the pixels the mask marks (white) are sampled from the model, the others\n"
    "are kept exactly, held at their noised value at every level of the chain. With --data it\n"
    "measures the MSE on the filled pixels and the class accuracy of the completed images\n"
    "against the initializer alone and mean fill.",
    "cdrl inpaint --model runs/fmnist --image x.png --mask m.png -o out.png\n"
    "  cdrl inpaint --model runs/fmnist --data fashion-mnist:DIR:test --mask-kind centre -n 500",
    inpaint_table,
    (int)(sizeof inpaint_table / sizeof inpaint_table[0]),
    0,
    0,
};

// mask (dim) of one input: 1 = known, 0 = to fill. i picks the random mask's draw.
static int make_mask(const char *kind, const cdrl_config *c, float *mask, uint64_t seed, int i) {
    const int D = c->dim;
    if (c->kind != CDRL_MODEL_IMAGE) {
        if (strcmp(kind, "x") && strcmp(kind, "y"))
            return cli_die(CLI_USAGE, "--mask-kind %s: 2-D models take x or y", kind);
        mask[0] = kind[0] == 'x', mask[1] = kind[0] == 'y';
        return CLI_OK;
    }
    const int S = c->res, HW = S * S;
    for (int p = 0; p < D; p++) {
        const int y = (p % HW) / S, x = p % S;
        if (!strcmp(kind, "lower"))
            mask[p] = y < S / 2;
        else if (!strcmp(kind, "centre"))
            mask[p] = !(y >= S / 4 && y < S / 4 + S / 2 && x >= S / 4 && x < S / 4 + S / 2);
        else if (!strcmp(kind, "random")) { // one draw per pixel, shared by the channels
            const uint64_t z = cli_mix(seed * 0x9E3779B97F4A7C15ull + (uint64_t)i * (uint64_t)HW +
                                       (uint64_t)(p % HW) + 1);
            mask[p] = (z >> 63) != 0;
        } else
            return cli_die(CLI_USAGE, "--mask-kind %s: lower, centre or random", kind);
    }
    return CLI_OK;
}

// Samples the n inputs x with their masks; out (n, dim). k = 0: the initializer alone.
static int complete(cdrl_model *m, float *out, const float *x, const float *mask, int n, int k,
                    const inpaint_opts *o) {
    const cdrl_config *c = cdrl_model_config(m);
    const int A = cli_attrs(c) ? cli_attrs(c) : 1;
    int *label = calloc((size_t)(n > 0 ? n : 1) * (size_t)A, sizeof(int));
    if (!label) return cli_die(CLI_FAIL, "out of memory");
    for (int i = 0; i < n; i++)
        label[i * A] = o->cls;
    cdrl_sample_params sp;
    cdrl_sample_params_init(&sp, m);
    sp.n_langevin = k, sp.known = x, sp.mask = mask, sp.resample = o->resample;
    if (c->n_classes && o->cls > 0) sp.n_terms = 1, sp.label[0] = label, sp.weight[0] = o->guidance;
    int rc = CLI_OK;
    for (int s0 = 0, b = 0; s0 < n && rc == CLI_OK; s0 += c->batch, b++) {
        const int nb = n - s0 < c->batch ? n - s0 : c->batch;
        const size_t off = (size_t)s0 * (size_t)c->dim;
        sp.seed = cli_batch_seed(o->seed, b);
        sp.known = x + off, sp.mask = mask + off, sp.label[0] = label + (size_t)s0 * (size_t)A;
        if (cdrl_model_sample_with(m, out + off, nb, &sp) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "inpainting failed in batch %d", b + 1);
    }
    free(label);
    return rc;
}

// Mean squared error over the filled values, and the classifier's accuracy (NaN without one).
static void score(const float *y, const float *x, const float *mask, const int *cls, int n, int D,
                  cdrl_classifier *k, const cdrl_config *c, double *mse, double *acc) {
    double se = 0;
    long cnt = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)D; i++)
        if (mask[i] == 0.0f) {
            const double e = (double)y[i] - (double)x[i];
            se += e * e, cnt++;
        }
    *mse = cnt ? se / (double)cnt : (double)NAN;
    *acc = (double)NAN;
    int *pred = k ? malloc(sizeof(int) * (size_t)n) : NULL;
    if (!pred || cdrl_classifier_run(k, NULL, pred, NULL, y, n, c->in_ch, c->res) != CDRL_OK) {
        free(pred);
        return;
    }
    int right = 0, asked = 0;
    for (int i = 0; i < n; i++)
        if (cls[i] >= 0) asked++, right += pred[i] == cls[i];
    *acc = asked ? (double)right / asked : (double)NAN;
    free(pred);
}

// out = the mean of o->average completions with k Langevin steps, first the given one (its
// seed o->seed), then completions of other seeds; known values exactly x's.
static int average(cdrl_model *m, float *out, const float *first, const float *x, const float *mask,
                   int n, int D, int k, const inpaint_opts *o) {
    const size_t nd = (size_t)n * (size_t)D;
    double *sum = calloc(nd, sizeof(double));
    inpaint_opts other = *o;
    int rc = sum ? CLI_OK : cli_die(CLI_FAIL, "out of memory");
    for (size_t i = 0; rc == CLI_OK && i < nd; i++)
        sum[i] = (double)first[i];
    for (int s = 1; s < o->average && rc == CLI_OK; s++) {
        other.seed = o->seed + (uint64_t)s * 0xD1B54A32D192ED03ull;
        rc = complete(m, out, x, mask, n, k, &other);
        for (size_t i = 0; rc == CLI_OK && i < nd; i++)
            sum[i] += (double)out[i];
    }
    for (size_t i = 0; rc == CLI_OK && i < nd; i++)
        out[i] = mask[i] != 0.0f ? x[i] : (float)(sum[i] / o->average);
    free(sum);
    return rc;
}

static int measure(cdrl_model *m, const char *path, const inpaint_opts *o, int k) {
    const cdrl_config *c = cdrl_model_config(m);
    const int n = o->n, D = c->dim, image = c->kind == CDRL_MODEL_IMAGE;
    float *x = NULL, *mask = malloc(sizeof(float) * (size_t)n * (size_t)D);
    const size_t nd = (size_t)n * (size_t)D;
    const int avg = o->average > 1;
    float *y[5] = {malloc(sizeof(float) * nd), malloc(sizeof(float) * nd),
                   malloc(sizeof(float) * nd), avg ? malloc(sizeof(float) * nd) : NULL,
                   avg ? malloc(sizeof(float) * nd) : NULL};
    int *cls = NULL, rc = CLI_OK;
    if (!mask || !y[0] || !y[1] || !y[2] || (avg && (!y[3] || !y[4])))
        rc = cli_die(CLI_FAIL, "out of memory");
    if (rc == CLI_OK) rc = cli_load_set(o->data, c, n, o->seed, &x, &cls);
    for (int i = 0; i < n && rc == CLI_OK; i++)
        rc = make_mask(o->kind, c, mask + (size_t)i * (size_t)D, o->seed, i);
    cdrl_classifier *kl = NULL;
    char kpath[4096] = "";
    if (rc == CLI_OK && image) {
        if (o->classifier)
            snprintf(kpath, sizeof kpath, "%s", o->classifier);
        else if (cli_default_classifier(c->data, kpath, sizeof kpath) || !cli_exists(kpath))
            kpath[0] = '\0';
        if (kpath[0] && cdrl_classifier_load(&kl, kpath) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "%s: cannot load the classifier", kpath);
    }
    // mean fill: the training set's mean image (2-D: the mean point)
    if (rc == CLI_OK) {
        cdrl_dataset *d = NULL;
        if (cdrl_dataset_open(&d, c->data) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "%s: cannot open the model's data for mean fill", c->data);
        } else {
            const size_t N = cdrl_dataset_size(d) ? cdrl_dataset_size(d) : 10000;
            float *all = cdrl_dataset_points(d) ? NULL : malloc(sizeof(float) * N * (size_t)D);
            const float *src = cdrl_dataset_points(d) ? cdrl_dataset_points(d) : all;
            if (all) cdrl_dataset_draw(d, all, N, o->seed, 11);
            double *mean = calloc((size_t)D, sizeof(double));
            if (!src || !mean) rc = cli_die(CLI_FAIL, "out of memory");
            for (size_t i = 0; rc == CLI_OK && i < N; i++)
                for (int q = 0; q < D; q++)
                    mean[q] += (double)src[i * (size_t)D + (size_t)q] / (double)N;
            for (size_t i = 0; rc == CLI_OK && i < (size_t)n * (size_t)D; i++)
                y[2][i] = mask[i] != 0.0f ? x[i] : (float)mean[i % (size_t)D];
            free(all), free(mean);
            cdrl_dataset_free(d);
        }
    }
    const double t0 = cli_now();
    if (rc == CLI_OK) rc = complete(m, y[0], x, mask, n, k, o);
    const double t1 = cli_now();
    if (rc == CLI_OK) rc = complete(m, y[1], x, mask, n, 0, o);
    // the mean of S completions of cdrl (y[3]) and of the initializer alone (y[4]), the first
    // ones included
    for (int v = 0; rc == CLI_OK && avg && v < 2; v++)
        rc = average(m, y[3 + v], y[v], x, mask, n, D, v ? 0 : k, o);
    if (rc == CLI_OK) {
        size_t off = 0; // the known values must come out exactly
        for (size_t i = 0; i < (size_t)n * (size_t)D; i++)
            off += mask[i] != 0.0f && memcmp(&y[0][i], &x[i], sizeof(float)) != 0;
        printf("inpaint %s: %d inputs of %s, mask %s, K = %d, %.1f s\n", path, n, o->data, o->kind,
               k, t1 - t0);
        char an[2][64];
        snprintf(an[0], sizeof an[0], "cdrl, mean of %d completions", o->average);
        snprintf(an[1], sizeof an[1], "initializer alone, mean of %d", o->average);
        const char *names[5] = {"cdrl (initializer + Langevin)", "initializer chain alone",
                                "mean fill", an[0], an[1]};
        double filled = 0;
        for (size_t i = 0; i < (size_t)n * (size_t)D; i++)
            filled += mask[i] == 0.0f;
        printf("  filled share %.4f; known values changed: %zu\n", filled / ((double)n * D), off);
        printf("  %-30s %10s %9s\n", "method", "MSE", "accuracy");
        for (int v = 0; v < (avg ? 5 : 3); v++) {
            double mse, acc;
            score(y[v], x, mask, cls, n, D, kl, c, &mse, &acc);
            printf("  %-30s %10.5f %9.4f\n", names[v], mse, acc);
        }
        if (off) rc = cli_die(CLI_FAIL, "%zu known values were not kept exactly", off);
    }
    if (rc == CLI_OK && o->grid && image) {
        const int cols = n < 10 ? n : 10;
        float *g = malloc(sizeof(float) * (size_t)5 * (size_t)cols * (size_t)D);
        if (!g) rc = cli_die(CLI_FAIL, "out of memory");
        for (int r = 0; rc == CLI_OK && r < 5; r++)
            for (int i = 0; i < cols; i++)
                for (int q = 0; q < D; q++) {
                    const size_t s = (size_t)i * (size_t)D + (size_t)q;
                    const float v = r == 0   ? x[s]
                                    : r == 1 ? (mask[s] != 0.0f ? x[s] : 0.0f)
                                             : y[r - 2][s];
                    g[((size_t)r * (size_t)cols + (size_t)i) * (size_t)D + (size_t)q] = v;
                }
        const char *keys[] = {"Software", "rows"};
        const char *vals[] = {"cdrl inpaint",
                              "true, masked (grey = to fill), cdrl, initializer alone, mean fill"};
        if (rc == CLI_OK) rc = cli_save_grid(c, g, 5 * cols, cols, o->grid, keys, vals, 2);
        free(g);
    }
    cdrl_classifier_free(kl);
    free(x), free(mask), free(y[0]), free(y[1]), free(y[2]), free(y[3]), free(y[4]), free(cls);
    return rc;
}

static int has_png_suffix(const char *name) {
    const size_t n = strlen(name);
    return n > 4 && !strcmp(name + n - 4, ".png");
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// --image PNG|DIR with --mask PNG: completes each and writes it.
static int files(cdrl_model *m, const char *path, const inpaint_opts *o, int k) {
    const cdrl_config *c = cdrl_model_config(m);
    const int D = c->dim;
    float *mask = malloc(sizeof(float) * (size_t)D);
    if (!mask) return cli_die(CLI_FAIL, "out of memory");
    int rc = cli_read_image(c, o->mask, mask);
    for (int q = 0; q < D; q++) // white (v >= 128, i.e. > 0) = fill
        mask[q] = mask[q] > 0.0f ? 0.0f : 1.0f;
    char **names = NULL;
    int n = 0;
    const int dir = cli_is_dir(o->image);
    if (rc == CLI_OK && dir) {
        DIR *dp = opendir(o->image);
        struct dirent *e;
        if (!dp) rc = cli_die(CLI_FAIL, "%s: cannot open the folder", o->image);
        while (rc == CLI_OK && (e = readdir(dp)))
            if (has_png_suffix(e->d_name)) {
                char **nn = realloc(names, sizeof(char *) * (size_t)(n + 1));
                if (!nn || !(nn[n] = strdup(e->d_name))) rc = cli_die(CLI_FAIL, "out of memory");
                if (nn) names = nn, n += rc == CLI_OK;
            }
        if (dp) closedir(dp);
        if (rc == CLI_OK && n == 0) rc = cli_die(CLI_FAIL, "%s: no .png files", o->image);
        if (rc == CLI_OK) qsort(names, (size_t)n, sizeof(char *), by_name);
        if (rc == CLI_OK && !cli_is_dir(o->output))
            rc = cli_die(CLI_FAIL, "-o %s: not a folder (--image is a folder)", o->output);
    } else if (rc == CLI_OK) {
        n = 1;
    }
    float *x = rc == CLI_OK ? malloc(sizeof(float) * (size_t)n * (size_t)D) : NULL;
    float *ms = rc == CLI_OK ? malloc(sizeof(float) * (size_t)n * (size_t)D) : NULL;
    float *y = rc == CLI_OK ? malloc(sizeof(float) * (size_t)n * (size_t)D) : NULL;
    if (rc == CLI_OK && (!x || !ms || !y)) rc = cli_die(CLI_FAIL, "out of memory");
    char in[4096], out[4096];
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        snprintf(in, sizeof in, dir ? "%s/%s" : "%s", o->image, dir ? names[i] : "");
        rc = cli_read_image(c, in, x + (size_t)i * (size_t)D);
        memcpy(ms + (size_t)i * (size_t)D, mask, sizeof(float) * (size_t)D);
    }
    if (rc == CLI_OK) rc = complete(m, y, x, ms, n, k, o);
    char seed_s[32], ks[16];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
    snprintf(ks, sizeof ks, "%d", k);
    const char *keys[] = {"Software", "checkpoint", "mask", "seed", "langevin_steps"};
    const char *vals[] = {"cdrl inpaint", path, o->mask, seed_s, ks};
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        snprintf(out, sizeof out, dir ? "%s/%s" : "%s", o->output, dir ? names[i] : "");
        rc = cli_save_image(c, y + (size_t)i * (size_t)D, out, keys, vals, 5);
    }
    if (rc == CLI_OK) printf("%d image%s completed -> %s\n", n, n == 1 ? "" : "s", o->output);
    for (int i = 0; i < n && names; i++)
        free(names[i]);
    free(names), free(mask), free(x), free(ms), free(y);
    return rc;
}

int cmd_inpaint(int argc, char **argv) {
    inpaint_opts o = {.kind = "lower", .n = 100, .average = 1, .seed = 1, .guidance = 0.0f},
                 def = o;
    cli_args a;
    cli_begin("inpaint", 0, 0, NULL);
    int rc = cli_parse(&inpaint_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&inpaint_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("inpaint", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    if (!o.model) return cli_die(CLI_USAGE, "--model is required");
    if (!o.data && !(o.image && o.mask && o.output))
        return cli_die(CLI_USAGE, "give --image, --mask and -o, or --data (see --help)");
    char path[4096];
    cdrl_model *m = NULL;
    if ((rc = cli_load_model(o.model, &m, path, sizeof path)) != CLI_OK) return rc;
    const cdrl_config *c = cdrl_model_config(m);
    if (o.cls > c->n_classes) {
        cdrl_model_free(m);
        return cli_die(CLI_USAGE, "--class %d: the model has %d classes", o.cls, c->n_classes);
    }
    const int k = o.k > 0 ? o.k : c->n_langevin;
    if (o.data)
        rc = measure(m, path, &o, k);
    else if (c->kind != CDRL_MODEL_IMAGE)
        rc = cli_die(CLI_USAGE, "--image is for image models: 2-D models take --data");
    else
        rc = files(m, path, &o, k);
    cdrl_model_free(m);
    return rc;
}
