// `cdrl eval`: the held-out negative log-likelihood of a 2-D model (exact up to the grid
// normaliser, whose convergence is reported) and the biased squared MMD between sampler
// outputs and data, per number of Langevin steps, next to the same statistic between two
// independent data draws (its noise floor). Also the evaluation that `cdrl train` prints at
// the end. Definitions: docs/cli.md "Evaluation". Image models and folders of PNGs get the
// yardstick instead (docs/yardstick.md): FD, KID, precision/recall against the classifier's
// reference statistics, the accuracy on the classes asked for and the class histogram; a
// hidden --calibrate scores transformed data for the calibration table.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "cli/cli.h"

// Streams of the held-out draws: far from the trainer's and the sampler's streams.
#define STREAM_HELD_OUT 101
#define STREAM_DATA_B   102

void cli_default_box(const cdrl_dataset *d, float box[4]) {
    cdrl_dataset_bbox(d, box);
    cdrl_box_widen(box, 0.1f);
}

cdrl_status cli_evaluate(cdrl_model *m, const cdrl_dataset *d, const cli_eval_opts *o,
                         cli_eval_result *r) {
    const int D = 2;
    const size_t n_file = cdrl_dataset_size(d);
    const int is_file = cdrl_dataset_points(d) != NULL;
    r->entropy = cdrl_dataset_entropy(d);
    r->bandwidth = r->mmd_data = (double)NAN;
    for (int k = 0; k < CLI_MAX_K; k++)
        r->mmd[k] = (double)NAN;
    // NLL points: every row of a file; n fresh points from a generator.
    const int n_nll = is_file ? (int)n_file : o->n;
    // MMD sets: a file's even and odd rows (at most n each); two generator draws of n.
    const int n_mmd = is_file ? (int)(n_file / 2 < (size_t)o->n ? n_file / 2 : (size_t)o->n) : o->n;
    float *pts = NULL, *a = NULL, *b = NULL, *s = NULL;
    cdrl_status st = CDRL_OK;
    if (!is_file) {
        pts = malloc(sizeof(float) * (size_t)n_nll * D);
        if (!pts) {
            snprintf(r->why, sizeof r->why, "out of memory for %d held-out points", n_nll);
            return CDRL_STATUS_NOMEM;
        }
        cdrl_dataset_draw(d, pts, (size_t)n_nll, o->seed, STREAM_HELD_OUT);
    }
    const float *nll_pts = is_file ? cdrl_dataset_points(d) : pts;
    r->n_nll = n_nll;
    st = cdrl_model_nll(m, nll_pts, n_nll, &o->nll, &r->nll);
    if (st == CDRL_OK && o->mmd && n_mmd >= 2) {
        r->n_mmd = n_mmd;
        a = malloc(sizeof(float) * (size_t)n_mmd * D);
        b = malloc(sizeof(float) * (size_t)n_mmd * D);
        s = malloc(sizeof(float) * (size_t)n_mmd * D);
        if (!a || !b || !s) {
            snprintf(r->why, sizeof r->why, "out of memory for MMD sets of %d points", n_mmd);
            st = CDRL_STATUS_NOMEM;
        }
    }
    if (st == CDRL_OK && a) {
        if (is_file) {
            const float *p = cdrl_dataset_points(d);
            for (int i = 0; i < n_mmd; i++) {
                memcpy(a + (size_t)i * D, p + (size_t)(2 * i) * D, sizeof(float) * D);
                memcpy(b + (size_t)i * D, p + (size_t)(2 * i + 1) * D, sizeof(float) * D);
            }
        } else {
            memcpy(a, pts, sizeof(float) * (size_t)n_mmd * D);
            cdrl_dataset_draw(d, b, (size_t)n_mmd, o->seed, STREAM_DATA_B);
        }
        r->bandwidth = cdrl_eval_median_distance(a, n_mmd, D);
        if (!(r->bandwidth > 0)) {
            // NaN is out of memory (logged); 0 means most data points coincide.
            if (r->bandwidth == 0.0)
                snprintf(r->why, sizeof r->why,
                         "the median distance of the data is 0: no MMD bandwidth");
            st = CDRL_STATUS_INVALID;
        }
    }
    if (st == CDRL_OK && a) {
        r->mmd_data = cdrl_eval_mmd2(b, n_mmd, a, n_mmd, D, r->bandwidth);
        for (int k = 0; k < o->n_k && st == CDRL_OK; k++) {
            st = cdrl_model_sample(m, s, NULL, n_mmd, o->k[k], 1, o->seed);
            if (st == CDRL_OK) r->mmd[k] = cdrl_eval_mmd2(s, n_mmd, a, n_mmd, D, r->bandwidth);
        }
    }
    free(pts);
    free(a);
    free(b);
    free(s);
    return st;
}

void cli_eval_print(const cli_eval_result *r, const cli_eval_opts *o, FILE *f) {
    const cdrl_nll_result *g = &r->nll;
    const float *box = o->nll.box;
    fprintf(f, "held-out   %s (%d points%s)\n", r->data, r->n_nll,
            r->held_out ? "" : "; the training points, not held out");
    fprintf(f, "grid       [%g, %g] x [%g, %g]:", (double)box[0], (double)box[1], (double)box[2],
            (double)box[3]);
    for (int k = 0; k < g->n_grids; k++)
        fprintf(f, "%s %dx%d nll %.5f", k ? "," : "", g->grid_res[k], g->grid_res[k],
                g->grid_nll[k]);
    fprintf(f, "\n");
    if (g->n_grids > 1)
        fprintf(f, "grid check |NLL(%d) - NLL(%d)| = %.2g nats: %s 0.01%s; edge mass %.2g\n",
                g->res, g->res / 2, g->change, g->converged ? "<" : ">=",
                g->converged ? " (converged)" : " (NOT converged: raise --grid-max)", g->edge_mass);
    else
        fprintf(f,
                "grid check one grid only (--grid-max = --grid-res): not checked; edge mass %.2g\n",
                g->edge_mass);
    fprintf(f, "nll        %.5f nats\n", g->nll);
    if (!isnan(r->entropy)) {
        fprintf(f, "entropy    %.5f nats (the data's)\n", r->entropy);
        fprintf(f, "nll - H    %.5f nats (KL(data || model) estimate)\n", g->nll - r->entropy);
    }
    if (r->n_mmd >= 2) {
        for (int k = 0; k < o->n_k; k++)
            fprintf(f,
                    "mmd        %.6g (K = %d; biased MMD^2, RBF h = %.4g, %d samples vs %d data "
                    "points)\n",
                    r->mmd[k], o->k[k], r->bandwidth, r->n_mmd, r->n_mmd);
        fprintf(f, "mmd_data   %.6g (two independent data sets of %d: the noise floor)\n",
                r->mmd_data, r->n_mmd);
    } else if (o->mmd) {
        fprintf(f, "mmd        not computed (fewer than 4 data points)\n");
    }
}

// A float as the shortest double that prints back to it (9.6f as 9.6, not 9.6000003814697266).
static double short_double(float v) {
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) return strtod(buf, NULL);
    }
    return (double)v;
}

// ---------------------------------------------------------------------------------------
// The subcommand

typedef struct eval_opts {
    const char *model, *data, *grid_range, *k_list;
    int json, grid_res, grid_max, n, no_mmd, threads, verbose;
    const char *backend;
    float grid_tol;
    uint64_t seed;
    // images
    const char *images, *classifier, *dump, *calibrate, *w_list, *plot, *compose;
    int proposals, folder_classes;
    float guidance; // the first of w_list
} eval_opts;

#define O(f) offsetof(eval_opts, f)
static const cli_opt eval_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint file, or a run folder holding model.safetensors", NULL, 0, 0},
    {"data", 'd', CLI_STR, O(data), "SPEC", "held-out data: a generator name or points:FILE.csv",
     "the model's training data, fresh points", 0, 0},
    {"json", 'j', CLI_FLAG, O(json), NULL, "print one JSON object instead of text", NULL, 0, 0},
    {"langevin-steps", 'k', CLI_STR, O(k_list), "K[,K..]",
     "Langevin steps per level for the MMD samples (a list measures each)", "the model's K", 0, 0},
    {"num-samples", 'n', CLI_INT, O(n), "N",
     "held-out points (generators) and the size of each MMD set; images: samples scored",
     "5000; image models 1000; --images all", 2, 1000000},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the held-out points and the sampler noise", NULL,
     0, 0},
    {"no-mmd", 0, CLI_FLAG, O(no_mmd), NULL, "skip the MMD (NLL only)", NULL, 0, 0},
    {"compose", 0, CLI_STR, O(compose), "NAME=CLASS,..",
     "2-D conditional models: N composed samples (weights -w) scored against the data's points "
     "with all those labels: the share whose nearest data point has them, and the MMD",
     NULL, 0, 0},
    {NULL, 0, CLI_SECTION, 0, NULL, "images (docs/yardstick.md)", NULL, 0, 0},
    {"images", 'i', CLI_STR, O(images), "DIR",
     "score the PNG/JPEG files of a folder (and its sub-folders) instead of sampling a model", NULL,
     0, 0},
    {"classifier", 0, CLI_STR, O(classifier), "FILE",
     "yardstick classifier (its statistics: FILE with .stats.safetensors)",
     "models/fmnist_classifier.safetensors for fashion-mnist data", 0, 0},
    {"guidance", 'w', CLI_STR, O(w_list), "W[,W..]",
     "conditional models: guidance weight w; a list sweeps it, one row per w (FD and accuracy)",
     "1", 0, 0},
    {"plot", 0, CLI_STR, O(plot), "FILE",
     "with a --guidance list: a PNG of FD (left) and accuracy (right) against w", NULL, 0, 0},
    {"proposals", 0, CLI_FLAG, O(proposals), NULL,
     "score the initializer's proposals alone (no Langevin, no Tweedie step)", NULL, 0, 0},
    {"folder-classes", 0, CLI_FLAG, O(folder_classes), NULL,
     "--images: sub-folder i (sorted names) holds class i: report the accuracy", NULL, 0, 0},
    {"dump-features", 0, CLI_STR, O(dump), "FILE",
     "also write the features and the figures (ref/yardstick_twin.py --check FILE)", NULL, 0, 0},
    {"calibrate", 0, CLI_STR, O(calibrate), "WHAT",
     "score transformed data instead of a model: test, train, noise:SIGMA, blur, missing:CLASS, "
     "means (scripts/calibrate_yardstick.sh)",
     NULL, 0, 0},
    {NULL, 0, CLI_SECTION, 0, NULL, "grid normaliser", NULL, 0, 0},
    {"grid-range", 0, CLI_STR, O(grid_range), "X0,X1,Y0,Y1", "box of the normalising grid",
     "the held-out and training data boxes joined, widened by 10% per side", 0, 0},
    {"grid-res", 0, CLI_INT, O(grid_res), "R", "first grid: R x R cells (then 2R, ...)", NULL, 2,
     8192},
    {"grid-max", 0, CLI_INT, O(grid_max), "R", "finest grid tried", NULL, 2, 8192},
    {"grid-tol", 0, CLI_FLOAT, O(grid_tol), "NATS",
     "converged once two successive grids agree to this", NULL, 1e-9, 10},
    {NULL, 0, CLI_SECTION, 0, NULL, "general", NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd eval_cmd = {
    "eval",
    "[options]",
    "Evaluates a 2-D model: the NLL of held-out points under the data-level EBM (EMA weights),\n"
    "normalised on a grid whose convergence is checked by doubling it, and the biased squared\n"
    "MMD (RBF kernel, bandwidth = median data distance) of sampler outputs vs data, with the\n"
    "same statistic between two independent data sets as its noise floor.\n"
    "Image models (N samples, default 1000, classes cycling 1..K) and folders of images\n"
    "(--images) get the yardstick: FD, KID, precision and recall of classifier features\n"
    "against the test split, the accuracy on the classes asked for, the class histogram.",
    "cdrl eval --model runs/demo --data points:test.csv --json -k 15,8,5,3\n"
    "  cdrl eval --model runs/fmnist -n 1000 -w 1\n"
    "  cdrl eval --model runs/fmnist -n 500 --guidance 0,0.5,1,2,4 --plot guidance.png\n"
    "  cdrl eval --images samples/ --classifier models/fmnist_classifier.safetensors --json",
    eval_table,
    (int)(sizeof eval_table / sizeof eval_table[0]),
    0,
    0,
};

static void eval_defaults(eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->model = "runs/demo";
    o->n = 5000;
    o->seed = 1234;
    o->grid_res = 128;
    o->grid_max = 1024;
    o->grid_tol = 0.01f;
    o->guidance = 1.0f;
}

// "15,8,5,3" into k[]; returns the count, or -1 (bad list).
static int parse_k_list(const char *s, int *k) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 10000 || n >= CLI_MAX_K || (*end && *end != ',')) return -1;
        k[n++] = (int)v;
        s = *end ? end + 1 : end;
        if (*end == ',' && !*s) return -1;
    }
    return n;
}

static int parse_box(const char *s, float box[4]) {
    double v[4];
    char tail;
    if (sscanf(s, "%lf,%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) return -1;
    for (int i = 0; i < 4; i++)
        if (!isfinite(v[i])) return -1;
    if (!(v[0] < v[1]) || !(v[2] < v[3])) return -1;
    for (int i = 0; i < 4; i++)
        box[i] = (float)v[i];
    return 0;
}

// ---------------------------------------------------------------------------------------
// Images: the yardstick

// The generated features and the reference statistics for ref/yardstick_twin.py --check.
static int dump_features(const char *path, cdrl_yardstick *ys, const float *f, int n,
                         const cdrl_yardstick_result *r) {
    const int F = cdrl_classifier_feature_dim(cdrl_yardstick_classifier(ys));
    int n_ref = 0;
    const float *ref = cdrl_yardstick_ref_features(ys, &n_ref);
    cJSON *rj = cJSON_CreateObject();
    cli_json_num(rj, "fd", r->fd);
    cli_json_num(rj, "kid", r->kid);
    cli_json_num(rj, "precision", r->precision);
    cli_json_num(rj, "recall", r->recall);
    char *res = cJSON_PrintUnformatted(rj);
    cJSON_Delete(rj);
    cdrl_st_writer *w = res ? cdrl_st_writer_create() : NULL;
    cdrl_status st = w ? CDRL_OK : CDRL_STATUS_NOMEM;
    if (st == CDRL_OK) st = cdrl_st_writer_add_f32(w, "fake", 2, (int64_t[]){n, F}, f);
    if (st == CDRL_OK) st = cdrl_st_writer_add_f32(w, "real", 2, (int64_t[]){n_ref, F}, ref);
    if (st == CDRL_OK)
        st = cdrl_st_writer_add(w, "mu_ref", CDRL_ST_F64, 1, (int64_t[]){F},
                                cdrl_yardstick_ref_mean(ys));
    if (st == CDRL_OK)
        st = cdrl_st_writer_add(w, "cov_ref", CDRL_ST_F64, 2, (int64_t[]){F, F},
                                cdrl_yardstick_ref_cov(ys));
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "result", res);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "k", "3");
    if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
    cdrl_st_writer_free(w);
    cJSON_free(res);
    return st == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write the features", path);
}

// Images to score: a folder's (--images), a calibration set (--calibrate) or the model's
// samples (m). Fills x (n, C, side, side), cls (n) and a description; CLI_OK or one line.
static int gather_images(eval_opts *o, cdrl_model *m, const char *path, cdrl_yardstick *ys,
                         float **x, int **cls, int *n, int *side, char *source, size_t ns) {
    cdrl_classifier *cl = cdrl_yardstick_classifier(ys);
    const int C = cdrl_classifier_channels(cl);
    int D = 0, rc = CLI_OK;
    if (m) {
        const cdrl_config *c = cdrl_model_config(m);
        int ks[CLI_MAX_K];
        const int k = o->proposals                                    ? 0
                      : o->k_list && parse_k_list(o->k_list, ks) >= 1 ? ks[0]
                                                                      : c->n_langevin;
        *n = o->n;
        D = c->dim;
        *x = malloc(sizeof(float) * (size_t)*n * (size_t)D);
        *cls = malloc(sizeof(int) * (size_t)*n);
        if (!*x || !*cls) return cli_die(CLI_FAIL, "out of memory for %d samples", *n);
        rc = cli_yardstick_sample(m, *x, *cls, *n, o->guidance, k, o->seed,
                                  k ? "sampling" : "proposals");
        if (k)
            snprintf(source, ns, "%s (step %ld): %d samples, K %d, w %g, seed %llu", path,
                     cdrl_model_step(m), *n, k, (double)o->guidance, (unsigned long long)o->seed);
        else
            snprintf(source, ns,
                     "%s (step %ld): %d initializer proposals (no Langevin, no Tweedie), "
                     "w %g, seed %llu",
                     path, cdrl_model_step(m), *n, (double)o->guidance,
                     (unsigned long long)o->seed);
    } else if (o->calibrate) {
        *n = o->n;
        const int R = cdrl_classifier_res(cl);
        D = C * R * R;
        *x = malloc(sizeof(float) * (size_t)*n * (size_t)D);
        *cls = malloc(sizeof(int) * (size_t)*n);
        cdrl_status st = !*x || !*cls
                             ? CDRL_STATUS_NOMEM
                             : cdrl_yardstick_calibration(*x, *cls, *n, C, D, o->calibrate,
                                                          cdrl_classifier_data(cl), o->seed);
        if (st == CDRL_STATUS_NOMEM)
            rc = cli_die(CLI_FAIL, "--calibrate: out of memory for %d images", *n);
        else if (st != CDRL_OK)
            rc = cli_fail(st == CDRL_STATUS_INVALID ? CLI_USAGE : CLI_FAIL, "--calibrate %s",
                          o->calibrate);
        snprintf(source, ns, "calibration '%s' of %s: %d images", o->calibrate,
                 cdrl_classifier_data(cl), *n);
    } else {
        char spec[4200];
        if (!cli_is_dir(o->images))
            return cli_die(CLI_FAIL, "--images %s: no such folder", o->images);
        snprintf(spec, sizeof spec, "folder:%s", o->images);
        cdrl_dataset *d = NULL;
        if (cdrl_dataset_open(&d, spec) != CDRL_OK)
            return cli_fail(CLI_FAIL, "--images %s: cannot read the images", o->images);
        *n = (int)cdrl_dataset_size(d);
        D = cdrl_dataset_dim(d);
        if (o->n < *n) *n = o->n;
        *x = malloc(sizeof(float) * (size_t)*n * (size_t)D);
        *cls = malloc(sizeof(int) * (size_t)*n);
        if (!*x || !*cls)
            rc = cli_die(CLI_FAIL, "out of memory for %d images", *n);
        else if (o->folder_classes && cdrl_dataset_classes(d) != cdrl_classifier_classes(cl))
            rc = cli_die(CLI_FAIL,
                         "--folder-classes: %s has %d class sub-folders, the classifier "
                         "%d classes",
                         o->images, cdrl_dataset_classes(d), cdrl_classifier_classes(cl));
        const int R = cdrl_classifier_res(cl);
        if (rc == CLI_OK && C == 1 && D == 3 * R * R) {
            // RGB files of grey images (torchvision's save_image writes grey as three equal
            // channels): their channel mean
            const float *src = cdrl_dataset_points(d);
            const size_t P = (size_t)R * R;
            for (size_t i = 0; i < (size_t)*n; i++)
                for (size_t q = 0; q < P; q++)
                    (*x)[i * P + q] =
                        (src[i * 3 * P + q] + src[i * 3 * P + P + q] + src[i * 3 * P + 2 * P + q]) /
                        3.0f;
            D = (int)P;
            const int *lab = cdrl_dataset_labels(d);
            for (int i = 0; i < *n; i++)
                (*cls)[i] = o->folder_classes ? lab[i] : -1;
        } else if (rc == CLI_OK) {
            memcpy(*x, cdrl_dataset_points(d), sizeof(float) * (size_t)*n * (size_t)D);
            const int *lab = cdrl_dataset_labels(d);
            for (int i = 0; i < *n; i++)
                (*cls)[i] = o->folder_classes ? lab[i] : -1;
        }
        snprintf(source, ns, "%s: %d images", o->images, *n);
        cdrl_dataset_free(d);
    }
    if (rc != CLI_OK) return rc;
    *side = (int)(sqrt((double)D / C) + 0.5);
    if (*side * *side * C != D)
        return cli_die(CLI_FAIL,
                       "%s: images of %d values are not square %d-channel images (the "
                       "classifier takes %dx%dx%d)",
                       source, D, C, C, cdrl_classifier_res(cl), cdrl_classifier_res(cl));
    if (!m && *side != cdrl_classifier_res(cl)) // a model's padding is known; a folder's is not
        return cli_die(CLI_FAIL, "%s: images of %dx%d, the classifier takes %dx%d", source, *side,
                       *side, cdrl_classifier_res(cl), cdrl_classifier_res(cl));
    if (*n < 2) return cli_die(CLI_FAIL, "%s: the yardstick needs at least 2 images", source);
    return CLI_OK;
}

// Gathers the images (gather_images), runs the classifier and scores them into r.
static int score_images(eval_opts *o, cdrl_model *m, const char *path, cdrl_yardstick *ys,
                        cdrl_yardstick_result *r, char *source, size_t ns) {
    float *x = NULL, *f = NULL;
    int *cls = NULL, *pred = NULL, n = 0, side = 0;
    int rc = gather_images(o, m, path, ys, &x, &cls, &n, &side, source, ns);
    cdrl_classifier *cl = cdrl_yardstick_classifier(ys);
    if (rc == CLI_OK) {
        f = malloc(sizeof(float) * (size_t)n * (size_t)cdrl_classifier_feature_dim(cl));
        pred = malloc(sizeof(int) * (size_t)n);
        if (!f || !pred) rc = cli_die(CLI_FAIL, "out of memory for %d features", n);
    }
    if (rc == CLI_OK &&
        cdrl_classifier_run(cl, f, pred, NULL, x, n, cdrl_classifier_channels(cl), side) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "%s: the classifier cannot take these images", source);
    cdrl_yardstick_params yp;
    cdrl_yardstick_params_init(&yp);
    if (rc == CLI_OK && cdrl_yardstick_score_features(ys, f, pred, cls, n, &yp, r) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "scoring failed");
    if (rc == CLI_OK && o->dump && cdrl_mpi_rank() == 0) rc = dump_features(o->dump, ys, f, n, r);
    free(x);
    free(cls);
    free(f);
    free(pred);
    return rc;
}

// A line from (x0, y0) to (x1, y1) in tile (0, col) of fig, in colour rgb.
static void plot_line(cdrl_figure *fig, int col, double x0, double y0, double x1, double y1,
                      const uint8_t rgb[3]) {
    const int steps = 1 + (int)fmax(fabs(x1 - x0), fabs(y1 - y0));
    for (int s = 0; s <= steps; s++) {
        const double t = (double)s / steps;
        const int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        if (x < 0 || y < 0 || x >= fig->tile_w || y >= fig->tile_h) continue;
        memcpy(cdrl_figure_pixel(fig, 0, col, x, y), rgb, 3);
    }
}

// Two panels: FD against w (left) and accuracy against w (right), w on a linear axis from 0
// to the largest w, each value range padded by 10%; the numbers go into the tEXt chunks.
static int plot_sweep(const char *file, const float *w, const double *fd, const double *acc, int n,
                      const char *model) {
    enum { S = 240, M = 20 };
    cdrl_figure *fig = cdrl_figure_create(1, 2, S, S, 8);
    if (!fig) return cli_die(CLI_FAIL, "%s: out of memory", file);
    const uint8_t axis[3] = {0, 0, 0}, line[3] = {31, 119, 180}, dot[3] = {214, 39, 40};
    const double wmax = w[n - 1] > w[0] ? (double)w[n - 1] : (double)w[0] + 1;
    for (int col = 0; col < 2; col++) {
        const double *v = col ? acc : fd;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(v[i])) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
        if (!(hi > lo)) lo -= 1, hi += 1;
        const double pad = 0.1 * (hi - lo);
        lo -= pad, hi += pad;
        plot_line(fig, col, M, S - M, S - M / 2, S - M, axis); // w axis
        plot_line(fig, col, M, M / 2, M, S - M, axis);         // value axis
        double px = 0, py = 0;
        for (int i = 0; i < n; i++) {
            if (!isfinite(v[i])) continue;
            const double x =
                M + ((double)w[i] - (double)w[0]) / (wmax - (double)w[0]) * (S - 2 * M);
            const double y = S - M - (v[i] - lo) / (hi - lo) * (S - 2 * M);
            if (i > 0) plot_line(fig, col, px, py, x, y, line);
            for (int d = -2; d <= 2; d++)
                plot_line(fig, col, x - 2, y + d, x + 2, y + d, dot);
            px = x, py = y;
        }
    }
    char ws[256] = "", fds[512] = "", accs[512] = "";
    for (int i = 0; i < n; i++) {
        snprintf(ws + strlen(ws), sizeof ws - strlen(ws), "%s%g", i ? "," : "", (double)w[i]);
        snprintf(fds + strlen(fds), sizeof fds - strlen(fds), "%s%.3f", i ? "," : "", fd[i]);
        snprintf(accs + strlen(accs), sizeof accs - strlen(accs), "%s%.4f", i ? "," : "", acc[i]);
    }
    const char *keys[] = {"Software", "model", "panels", "guidance", "fd", "accuracy"};
    const char *vals[] = {"cdrl eval --guidance",
                          model,
                          "left: FD against w; right: class accuracy against w (w from 0 to its "
                          "largest value; values padded by 10%)",
                          ws,
                          fds,
                          accs};
    const cdrl_status st = cdrl_figure_save(fig, file, keys, vals, 6);
    cdrl_figure_free(fig);
    return st == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write the plot", file);
}

static int eval_images(eval_opts *o, const cli_args *a, cdrl_model *m, const char *path) {
    cdrl_yardstick *ys = NULL;
    char source[4600];
    float w[CLI_MAX_K] = {1.0f};
    const int n_w = o->w_list ? cli_parse_weights(o->w_list, w, CLI_MAX_K) : 1;
    if (n_w < 1)
        return cli_die(CLI_USAGE,
                       "--guidance: expected up to %d numbers in 0..1000 separated by commas, got "
                       "'%s'",
                       CLI_MAX_K, o->w_list);
    if (n_w > 1 && (!m || !cdrl_model_config(m)->n_classes))
        return cli_die(CLI_USAGE, "--guidance with several values sweeps a conditional model's w");
    if (o->plot && n_w < 2) return cli_die(CLI_USAGE, "--plot goes with a --guidance list");
    o->guidance = w[0];
    if (!cli_given(&eval_cmd, a, "num-samples")) o->n = m || o->calibrate ? 1000 : 1000000;
    const char *data = m ? cdrl_model_config(m)->data : "fashion-mnist:";
    int rc = cli_yardstick_open(&ys, o->classifier, data);
    if (rc == CLI_OK && m) rc = cli_yardstick_check_model(cdrl_model_config(m), ys, path);
    cdrl_yardstick_result r;
    if (n_w > 1) { // the sweep: one row per w, the same seed for each
        double fd[CLI_MAX_K], acc[CLI_MAX_K];
        cJSON *rows = o->json ? cJSON_CreateArray() : NULL;
        if (rc == CLI_OK && !o->json)
            printf("guidance sweep of %s: %d samples per w, seed %llu\n%8s %9s %9s %9s %9s "
                   "%9s\n",
                   path, o->n, (unsigned long long)o->seed, "w", "FD", "KID", "precision", "recall",
                   "accuracy");
        for (int i = 0; i < n_w && rc == CLI_OK; i++) {
            o->guidance = w[i];
            rc = score_images(o, m, path, ys, &r, source, sizeof source);
            if (rc != CLI_OK) break;
            fd[i] = r.fd, acc[i] = r.acc;
            if (rows) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "guidance", (double)w[i]);
                cli_yardstick_json(j, &r);
                cJSON_AddItemToArray(rows, j);
            } else {
                printf("%8g %9.3f %9.4f %9.4f %9.4f %9.4f\n", (double)w[i], r.fd, r.kid,
                       r.precision, r.recall, r.acc);
                fflush(stdout);
            }
        }
        if (rows && rc == CLI_OK) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", path);
            cJSON_AddNumberToObject(j, "step", (double)cdrl_model_step(m));
            cJSON_AddNumberToObject(j, "seed", (double)o->seed);
            cJSON_AddItemToObject(j, "sweep", rows);
            rows = NULL;
            cli_json_line(stdout, j);
        }
        cJSON_Delete(rows);
        if (rc == CLI_OK && o->plot && cdrl_mpi_rank() == 0)
            rc = plot_sweep(o->plot, w, fd, acc, n_w, path);
        cdrl_yardstick_free(ys);
        return rc;
    }
    if (rc == CLI_OK) rc = score_images(o, m, path, ys, &r, source, sizeof source);
    if (rc == CLI_OK && o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "source", source);
        if (m) {
            cJSON_AddStringToObject(j, "model", path);
            cJSON_AddNumberToObject(j, "step", (double)cdrl_model_step(m));
            cJSON_AddBoolToObject(j, "proposals", o->proposals);
            cJSON_AddNumberToObject(j, "guidance", (double)o->guidance);
        }
        cJSON_AddStringToObject(j, "reference", cdrl_yardstick_data(ys));
        cli_yardstick_json(j, &r);
        cJSON_AddNumberToObject(j, "seed", (double)o->seed);
        char *txt = cJSON_PrintUnformatted(j);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else if (rc == CLI_OK) {
        printf("images     %s\n", source);
        printf("reference  %s (%ld images)\n", cdrl_yardstick_data(ys), r.n_ref);
        cli_yardstick_print(&r, "", stdout);
    }
    cdrl_yardstick_free(ys);
    return rc;
}

// --compose on a 2-D model: N composed samples against the data. The product region is where
// the data's points carry every composed label: a sample is inside when its nearest neighbour
// among 20000 labelled data points does; the MMD is taken against N data points with those
// labels, beside the MMD between two such sets (the noise floor).
// The index of the point of ref (n, 2) nearest to p (2), the first of equals.
static int nearest(const float *p, const float *ref, int n) {
    double best = INFINITY;
    int bi = 0;
    for (int r = 0; r < n; r++) {
        const double dx = (double)p[0] - (double)ref[2 * r],
                     dy = (double)p[1] - (double)ref[2 * r + 1];
        if (dx * dx + dy * dy < best) best = dx * dx + dy * dy, bi = r;
    }
    return bi;
}

static int has_classes(const int *lab, const int *want, int A) {
    for (int a = 0; a < A; a++)
        if (want[a] >= 0 && lab[a] != want[a]) return 0;
    return 1;
}

static int eval_compose(cdrl_model *m, const char *path, const eval_opts *o) {
    const cdrl_config *c = cdrl_model_config(m);
    const int n = o->n, M = 20000, A = 1 + c->n_more_attrs;
    cli_compose_terms t;
    int rc = cli_compose(&t, o->compose, o->w_list, c, n);
    if (rc != CLI_OK) return rc;
    cdrl_dataset *d = NULL;
    float *x = malloc(sizeof(float) * 2 * (size_t)n), *ref = NULL, *prod = NULL;
    int *lab = NULL;
    if (!x) rc = cli_die(CLI_FAIL, "out of memory");
    if (rc == CLI_OK && cdrl_dataset_open(&d, c->data) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "cannot open the data %s", c->data);
    const size_t have = d ? cdrl_dataset_size(d) : 0; // a file: all its rows
    const int nref = have ? (int)have : M;
    if (rc == CLI_OK) {
        ref = malloc(sizeof(float) * 2 * (size_t)nref);
        lab = malloc(sizeof(int) * (size_t)nref * (size_t)A);
        prod = malloc(sizeof(float) * 2 * (size_t)nref);
        if (!ref || !lab || !prod) rc = cli_die(CLI_FAIL, "out of memory");
    }
    cdrl_sample_params sp;
    cdrl_sample_params_init(&sp, m);
    sp.seed = o->seed;
    cli_compose_apply(&t, &sp, n, 0);
    if (rc == CLI_OK && cdrl_model_sample_with(m, x, n, &sp) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "composed sampling failed");
    if (rc == CLI_OK) cdrl_dataset_draw_labelled(d, ref, lab, (size_t)nref, o->seed + 1, 9);
    const int *want = t.cls; // the class asked of each attribute, -1 none
    int n_prod = 0;
    for (int i = 0; rc == CLI_OK && i < nref; i++)
        if (has_classes(lab + (size_t)i * (size_t)A, want, A))
            memcpy(prod + 2 * (size_t)n_prod++, ref + 2 * (size_t)i, 2 * sizeof(float));
    if (rc == CLI_OK && n_prod < 4)
        rc = cli_die(CLI_FAIL,
                     "--compose %s: %d of %d data points carry every label (the "
                     "combination is (nearly) absent from the data)",
                     o->compose, n_prod, nref);
    if (rc == CLI_OK) {
        int inside = 0;
        for (int i = 0; i < n; i++) {
            const int bi = nearest(x + 2 * (size_t)i, ref, nref);
            inside += has_classes(lab + (size_t)bi * (size_t)A, want, A);
        }
        const int half = n_prod / 2, nm = n < half ? n : half;
        const double h = cdrl_eval_median_distance(prod, nm, 2);
        const double mmd = cdrl_eval_mmd2(x, n, prod, nm, 2, h);
        const double floor_ = cdrl_eval_mmd2(prod, nm, prod + 2 * (size_t)half, nm, 2, h);
        printf("compose    %s (w", o->compose);
        for (int k = 0; k < t.n; k++)
            printf("%s%g", k ? "," : " ", (double)t.w[k]);
        printf("), %s, %d samples, seed %llu\n", path, n, (unsigned long long)o->seed);
        printf("inside     %.4f (nearest of %d labelled data points carries every label)\n",
               (double)inside / n, nref);
        printf("mmd        %.6g (biased MMD^2, RBF h = %.4g, against %d data points with these "
               "labels)\n",
               mmd, h, nm);
        printf("mmd_data   %.6g (two such data sets of %d: the noise floor)\n", floor_, nm);
    }
    cdrl_dataset_free(d);
    free(x), free(ref), free(lab), free(prod);
    cli_compose_free(&t);
    return rc;
}

// --compose on an image model of the shapes data: N composed images (batches of the model's
// size, guided by -w), each attribute read back from the pixels (cdrl_shapes_read); the share
// of images whose every composed attribute is right, and each attribute's share.
static int eval_compose_images(cdrl_model *m, const char *path, const eval_opts *o) {
    const cdrl_config *c = cdrl_model_config(m);
    if (strncmp(c->data, "shapes", 6) != 0)
        return cli_die(CLI_USAGE,
                       "--compose on images is measured on the shapes data (the model "
                       "was trained on %s)",
                       c->data);
    const int n = o->n, A = 1 + c->n_more_attrs, D = c->dim;
    cli_compose_terms t;
    int rc = cli_compose(&t, o->compose, o->w_list, c, n);
    if (rc != CLI_OK) return rc;
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)D);
    int *got = malloc(sizeof(int) * (size_t)n * CDRL_SHAPES_ATTRS);
    if (!x || !got) rc = cli_die(CLI_FAIL, "out of memory");
    const int *want = t.cls; // the class asked of each attribute, -1 none
    const double t0 = cli_now();
    for (int s0 = 0, b = 0; s0 < n && rc == CLI_OK; s0 += c->batch, b++) {
        const int nb = n - s0 < c->batch ? n - s0 : c->batch;
        cdrl_sample_params sp;
        cdrl_sample_params_init(&sp, m);
        sp.seed = cli_batch_seed(o->seed, b);
        cli_compose_apply(&t, &sp, n, s0);
        if (cdrl_model_sample_with(m, x + (size_t)s0 * (size_t)D, nb, &sp) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "composed sampling failed in batch %d", b + 1);
    }
    if (rc == CLI_OK && cdrl_shapes_read(got, x, n, c->res) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "cannot read the shapes");
    if (rc == CLI_OK) {
        int all = 0, right[CDRL_MAX_ATTRS] = {0};
        for (int i = 0; i < n; i++) {
            all += has_classes(got + (size_t)i * CDRL_SHAPES_ATTRS, want, A);
            for (int a = 0; a < A; a++)
                right[a] += got[(size_t)i * CDRL_SHAPES_ATTRS + (size_t)a] == want[a];
        }
        printf("compose    %s (w", o->compose);
        for (int k = 0; k < t.n; k++)
            printf("%s%g", k ? "," : " ", (double)t.w[k]);
        printf("), %s, %d images, seed %llu, %.1f s\n", path, n, (unsigned long long)o->seed,
               cli_now() - t0);
        printf("all_right  %.4f (every composed attribute read back from the pixels)\n",
               (double)all / n);
        for (int k = 0; k < t.n; k++) // each term's attribute
            printf("attr_right %.4f (%s)\n", (double)right[t.attr[k]] / n, t.name[k]);
        if (o->plot) {
            const char *keys[] = {"Software", "compose"};
            const char *vals[] = {"cdrl eval --compose", o->compose};
            rc = cli_save_grid(c, x, n < 50 ? n : 50, 10, o->plot, keys, vals, 2);
        }
    }
    free(x), free(got);
    cli_compose_free(&t);
    return rc;
}

// The class-conditional log density of a 2-D model at pair 1 under guidance w, for
// cdrl_eval_nll: every point asks for the class in `label` (first attribute), the others null.
typedef struct cond_density {
    cdrl_model *m;
    int *labels; // (max_n, A)
    int A, cls, max_n;
    float w;
} cond_density;

static cdrl_status cond_log_density(void *user, float *logp, const float *x, int n) {
    cond_density *c = user;
    for (int s0 = 0; s0 < n; s0 += c->max_n) {
        const int b = n - s0 < c->max_n ? n - s0 : c->max_n;
        for (int i = 0; i < b; i++)
            for (int a = 0; a < c->A; a++)
                c->labels[i * c->A + a] = a == 0 ? c->cls + 1 : 0;
        cdrl_sample_params sp;
        cdrl_sample_params_init(&sp, c->m);
        sp.n_terms = 1, sp.label[0] = c->labels, sp.weight[0] = c->w;
        cdrl_status st =
            cdrl_model_log_density_with(c->m, logp + s0, NULL, x + 2 * (size_t)s0, b, 1, &sp);
        if (st != CDRL_OK) return st;
    }
    return CDRL_OK;
}

// --guidance on a 2-D conditional model: for each w, the class-conditional NLL of held-out
// points (each class's points under p_w(x | class), normalised on the grid, averaged over the
// points) and the share of samples asked for a class whose nearest labelled data point has it.
static int eval_guidance_2d(cdrl_model *m, const char *path, const eval_opts *o,
                            const cdrl_nll_params *np) {
    const cdrl_config *c = cdrl_model_config(m);
    const int A = 1 + c->n_more_attrs, K = c->n_classes, n = o->n, M = 20000;
    float w[CLI_MAX_K] = {1.0f};
    const int n_w = o->w_list ? cli_parse_weights(o->w_list, w, CLI_MAX_K) : 1;
    if (n_w < 1)
        return cli_die(CLI_USAGE, "--guidance: expected numbers in 0..1000, got '%s'", o->w_list);
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, c->data) != CDRL_OK)
        return cli_fail(CLI_FAIL, "cannot open the data %s", c->data);
    const size_t have = cdrl_dataset_size(d);
    const int nref = have ? (int)have : M, nh = have ? (int)have : n;
    float *ref = malloc(sizeof(float) * 2 * (size_t)nref),
          *held = malloc(sizeof(float) * 2 * (size_t)nh);
    float *pts = malloc(sizeof(float) * 2 * (size_t)nh), *x = malloc(sizeof(float) * 2 * (size_t)n);
    int *rl = malloc(sizeof(int) * (size_t)nref * (size_t)A),
        *hl = malloc(sizeof(int) * (size_t)nh * (size_t)A);
    int *sl = calloc((size_t)n * (size_t)A, sizeof(int));
    cond_density cd = {.m = m, .A = A, .max_n = 65536};
    cd.labels = malloc(sizeof(int) * (size_t)cd.max_n * (size_t)A);
    int rc = ref && held && pts && x && rl && hl && sl && cd.labels
                 ? CLI_OK
                 : cli_die(CLI_FAIL, "out of memory");
    if (rc == CLI_OK) {
        cdrl_dataset_draw_labelled(d, ref, rl, (size_t)nref, o->seed + 1, 9);
        cdrl_dataset_draw_labelled(d, held, hl, (size_t)nh, o->seed, 10); // a file: its rows
        printf("guidance sweep of %s: first attribute (%s, %d classes), %d held-out points, %d "
               "samples per w\n%8s %12s %12s\n",
               path, cdrl_dataset_attr_name(d, 0), K, nh, n, "w", "cond. NLL", "right class");
    }
    for (int i = 0; i < n; i++)
        sl[(size_t)i * (size_t)A] = 1 + i % (K ? K : 1);
    for (int wi = 0; wi < n_w && rc == CLI_OK; wi++) {
        cd.w = w[wi];
        double nll = 0;
        int counted = 0;
        for (int k = 0; k < K && rc == CLI_OK; k++) {
            int nk = 0;
            for (int i = 0; i < nh; i++)
                if (hl[(size_t)i * (size_t)A] == k)
                    memcpy(pts + 2 * (size_t)nk++, held + 2 * (size_t)i, 2 * sizeof(float));
            if (!nk) continue;
            cd.cls = k;
            cdrl_nll_result r;
            if (cdrl_eval_nll(cond_log_density, &cd, pts, nk, np, &r) != CDRL_OK) {
                rc = cli_fail(CLI_FAIL, "conditional NLL of class %d", k);
                break;
            }
            nll += r.nll * nk, counted += nk;
        }
        cdrl_sample_params sp;
        cdrl_sample_params_init(&sp, m);
        sp.seed = o->seed, sp.n_terms = 1, sp.label[0] = sl, sp.weight[0] = w[wi];
        if (rc == CLI_OK && cdrl_model_sample_with(m, x, n, &sp) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "sampling at w %g", (double)w[wi]);
        int right = 0;
        for (int i = 0; rc == CLI_OK && i < n; i++) {
            const int bi = nearest(x + 2 * (size_t)i, ref, nref);
            right += rl[(size_t)bi * (size_t)A] == sl[(size_t)i * (size_t)A] - 1;
        }
        if (rc == CLI_OK)
            printf("%8g %12.5f %12.4f\n", (double)w[wi], counted ? nll / counted : (double)NAN,
                   (double)right / n);
        fflush(stdout);
    }
    free(ref), free(held), free(pts), free(x), free(rl), free(hl), free(sl), free(cd.labels);
    cdrl_dataset_free(d);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o, def;
    eval_defaults(&o);
    def = o;
    cli_args a;
    cli_begin("eval", 0, 0, NULL);
    int rc = cli_parse(&eval_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&eval_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("eval", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    cli_eval_opts eo;
    memset(&eo, 0, sizeof eo);
    cdrl_nll_params_init(&eo.nll);
    eo.n = o.n;
    eo.seed = o.seed;
    eo.mmd = !o.no_mmd;
    eo.nll.res = o.grid_res;
    eo.nll.max_res = o.grid_max;
    eo.nll.tol = (double)o.grid_tol;
    if (o.grid_max < o.grid_res)
        return cli_die(CLI_USAGE, "--grid-max %d is below --grid-res %d (see cdrl eval --help)",
                       o.grid_max, o.grid_res);
    if (o.k_list && (eo.n_k = parse_k_list(o.k_list, eo.k)) < 1)
        return cli_die(CLI_USAGE,
                       "--langevin-steps: expected up to %d integers in 1..10000 separated by "
                       "commas, got '%s' (see cdrl eval --help)",
                       CLI_MAX_K, o.k_list);
    if (o.grid_range && parse_box(o.grid_range, eo.nll.box) != 0)
        return cli_die(CLI_USAGE,
                       "--grid-range: expected xmin,xmax,ymin,ymax with xmin < xmax and ymin < "
                       "ymax, got '%s' (see cdrl eval --help)",
                       o.grid_range);

    if ((o.images || o.calibrate) && cli_given(&eval_cmd, &a, "model"))
        return cli_die(CLI_USAGE, "--images and --calibrate score images, not --model: give one");
    // A job of several processes shares the sampling of an image model's evaluation (every
    // rank then computes the same figures; rank 0 alone prints and writes); everything else
    // runs on rank 0 alone.
    if (cdrl_mpi_rank() > 0 && (o.images || o.calibrate)) return CLI_OK;
    if (o.images || o.calibrate) return eval_images(&o, &a, NULL, NULL);
    char path[4096];
    cdrl_model *m = NULL;
    if ((rc = cli_load_model(o.model, &m, path, sizeof path)) != CLI_OK) return rc;
    const cdrl_config *cfg = cdrl_model_config(m);
    if (cdrl_mpi_rank() > 0 && (cfg->kind != CDRL_MODEL_IMAGE || o.compose)) {
        cdrl_model_free(m);
        return CLI_OK;
    }
    if (cfg->kind == CDRL_MODEL_IMAGE && o.compose) {
        if (!cli_given(&eval_cmd, &a, "num-samples")) o.n = 100;
        rc = eval_compose_images(m, path, &o);
        cdrl_model_free(m);
        return rc;
    }
    if (cfg->kind == CDRL_MODEL_IMAGE) {
        rc = eval_images(&o, &a, m, path);
        cdrl_model_free(m);
        return rc;
    }
    if (o.compose) {
        if (!cli_given(&eval_cmd, &a, "num-samples")) o.n = 2000;
        rc = eval_compose(m, path, &o);
        cdrl_model_free(m);
        return rc;
    }
    const char *spec = o.data ? o.data : cfg->data;
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) != CDRL_OK) {
        if (o.data)
            rc = cli_fail(CLI_FAIL, "cannot open the data '%s'", spec);
        else
            rc = cli_die(CLI_FAIL,
                         "%s (the model's training data '%s'; give held-out data with --data)",
                         cli_take_errors(), spec);
        cdrl_model_free(m);
        return rc;
    }
    if (!o.grid_range) {
        // The grid must hold the model's mass, which lives where its training data did, as
        // well as the held-out points: the union of both boxes, widened.
        cdrl_dataset_bbox(d, eo.nll.box);
        cdrl_dataset *train = NULL;
        if (o.data && cdrl_dataset_open(&train, cfg->data) == CDRL_OK) {
            float tb[4];
            cdrl_dataset_bbox(train, tb);
            eo.nll.box[0] = tb[0] < eo.nll.box[0] ? tb[0] : eo.nll.box[0];
            eo.nll.box[1] = tb[1] > eo.nll.box[1] ? tb[1] : eo.nll.box[1];
            eo.nll.box[2] = tb[2] < eo.nll.box[2] ? tb[2] : eo.nll.box[2];
            eo.nll.box[3] = tb[3] > eo.nll.box[3] ? tb[3] : eo.nll.box[3];
        } else if (o.data) {
            cli_warn("the training data '%s' cannot be opened (%s): the grid covers the held-out "
                     "points only; check the edge mass or give --grid-range",
                     cfg->data, cli_take_errors());
        }
        cdrl_dataset_free(train);
        cdrl_box_widen(eo.nll.box, 0.1f);
    }
    if (o.w_list && cfg->n_classes) { // the 2-D guidance sweep
        if (!cli_given(&eval_cmd, &a, "num-samples")) o.n = 2000;
        rc = eval_guidance_2d(m, path, &o, &eo.nll);
        cdrl_dataset_free(d);
        cdrl_model_free(m);
        return rc;
    }
    if (eo.n_k == 0) {
        eo.n_k = 1;
        eo.k[0] = cfg->n_langevin;
    }
    cli_eval_result r;
    memset(&r, 0, sizeof r);
    const int is_file = cdrl_dataset_points(d) != NULL;
    r.held_out = !(is_file && strcmp(spec, cfg->data) == 0);
    if (is_file)
        snprintf(r.data, sizeof r.data, "%s", spec);
    else
        snprintf(r.data, sizeof r.data, "%s, seed %llu", spec, (unsigned long long)o.seed);
    cdrl_status st = cli_evaluate(m, d, &eo, &r);
    if (st != CDRL_OK) {
        cdrl_dataset_free(d);
        cdrl_model_free(m);
        return r.why[0] ? cli_die(CLI_FAIL, "evaluation failed: %s", r.why)
                        : cli_fail(CLI_FAIL, "evaluation failed: %s", cdrl_status_str(st));
    }
    if (o.json) {
        cJSON *j = cJSON_CreateObject(), *grid = cJSON_CreateObject(), *hist = cJSON_CreateArray(),
              *perk = cJSON_CreateArray();
        cJSON_AddStringToObject(j, "model", path);
        cJSON_AddNumberToObject(j, "step", (double)cdrl_model_step(m));
        cJSON_AddStringToObject(j, "data", spec);
        cJSON_AddBoolToObject(j, "held_out", r.held_out);
        cJSON_AddNumberToObject(j, "n_points", r.n_nll);
        cli_json_num(j, "nll", r.nll.nll);
        if (!isnan(r.entropy)) {
            cli_json_num(j, "entropy", r.entropy);
            cli_json_num(j, "nll_minus_entropy", r.nll.nll - r.entropy);
        }
        cli_json_num(j, "log_z", r.nll.log_z);
        cJSON *box = cJSON_CreateArray();
        for (int i = 0; i < 4; i++)
            cJSON_AddItemToArray(box, cJSON_CreateNumber(short_double(eo.nll.box[i])));
        cJSON_AddItemToObject(grid, "box", box);
        cJSON_AddNumberToObject(grid, "res", r.nll.res);
        cli_json_num(grid, "change", r.nll.change);
        cJSON_AddNumberToObject(grid, "tol", short_double(o.grid_tol));
        cJSON_AddBoolToObject(grid, "converged", r.nll.converged);
        cli_json_num(grid, "edge_mass", r.nll.edge_mass);
        for (int k = 0; k < r.nll.n_grids; k++) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddNumberToObject(h, "res", r.nll.grid_res[k]);
            cli_json_num(h, "nll", r.nll.grid_nll[k]);
            cJSON_AddItemToArray(hist, h);
        }
        cJSON_AddItemToObject(grid, "history", hist);
        cJSON_AddItemToObject(j, "grid", grid);
        if (r.n_mmd >= 2) {
            cli_json_num(j, "mmd", r.mmd[0]);
            cli_json_num(j, "mmd_data", r.mmd_data);
            cli_json_num(j, "mmd_bandwidth", r.bandwidth);
            cJSON_AddNumberToObject(j, "n_mmd", r.n_mmd);
            cJSON_AddNumberToObject(j, "langevin_steps", eo.k[0]);
            for (int k = 0; k < eo.n_k; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "langevin_steps", eo.k[k]);
                cli_json_num(e, "mmd", r.mmd[k]);
                cJSON_AddItemToArray(perk, e);
            }
            cJSON_AddItemToObject(j, "per_k", perk);
        } else {
            cJSON_AddNullToObject(j, "mmd");
            cJSON_AddNullToObject(j, "mmd_data");
            cJSON_Delete(perk);
        }
        cJSON_AddNumberToObject(j, "seed", (double)o.seed);
        char *txt = cJSON_PrintUnformatted(j);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else {
        printf("model      %s (step %ld, trained on %s)\n", path, cdrl_model_step(m), cfg->data);
        cli_eval_print(&r, &eo, stdout);
    }
    cdrl_dataset_free(d);
    cdrl_model_free(m);
    return CLI_OK;
}
