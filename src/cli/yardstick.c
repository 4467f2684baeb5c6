// The image yardstick as `cdrl eval` and `cdrl train --eval-every` use it: which classifier
// goes with which data, sampling a model with one class per sample (cycling 1..K) behind a
// progress bar, and the figures as text lines or JSON. docs/yardstick.md defines the figures.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_default_classifier(const char *data, char *path, size_t n) {
    static const struct {
        const char *prefix, *file;
    } known[] = {
        {"fashion-mnist:", "models/fmnist_classifier.safetensors"},
        {"mnist:", "models/mnist_classifier.safetensors"},
        {"cifar10:", "models/cifar10_classifier.safetensors"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strncmp(data, known[i].prefix, strlen(known[i].prefix)) == 0) {
            snprintf(path, n, "%s", known[i].file);
            return 0;
        }
    return -1;
}

int cli_yardstick_open(cdrl_yardstick **ys, const char *classifier, const char *data) {
    char path[4096];
    *ys = NULL;
    if (classifier)
        snprintf(path, sizeof path, "%s", classifier);
    else if (cli_default_classifier(data, path, sizeof path) != 0)
        return cli_die(CLI_FAIL,
                       "no classifier for the data '%s': the yardstick knows fashion-mnist, "
                       "mnist and cifar10; train one with `cdrl classifier` and give --classifier",
                       data);
    if (!cli_exists(path))
        return cli_die(CLI_FAIL,
                       "%s: no such classifier (run from the repository root, or make one "
                       "with `cdrl classifier --data ... --out %s`, docs/yardstick.md)",
                       path, path);
    if (cdrl_yardstick_load(ys, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot load the yardstick", path);
    return CLI_OK;
}

// "[=====     ] 300/1000 | 2.1 img/s | ETA 5m" on stderr, only when it is a terminal.
static void bar(const char *what, int done, int total, double t0) {
    if (!isatty(STDERR_FILENO) || cdrl_mpi_rank() > 0) return;
    char b[25];
    const int fill = total > 0 ? (int)(24.0 * done / total) : 24;
    for (int i = 0; i < 24; i++)
        b[i] = i < fill ? '=' : ' ';
    b[24] = '\0';
    const double t = cli_now() - t0, rate = t > 0 ? done / t : 0;
    fprintf(stderr, "\r%s [%s] %d/%d | %.2f img/s | ETA %.0f s\033[K", what, b, done, total, rate,
            rate > 0 ? (total - done) / rate : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

int cli_yardstick_sample(cdrl_model *m, float *x, int *cls, int n, float w, int k, uint64_t seed,
                         const char *what) {
    const cdrl_config *c = cdrl_model_config(m);
    const int K = c->n_classes, B = c->batch, A = cli_attrs(c) ? cli_attrs(c) : 1;
    int *label = calloc((size_t)n * (size_t)A, sizeof(int));
    if (!label) return cli_die(CLI_FAIL, "out of memory for %d labels", n);
    for (int i = 0; i < n; i++) { // the first attribute's classes, each equally often
        label[i * A] = K ? 1 + i % K : 0;
        cls[i] = K ? label[i * A] - 1 : -1;
    }
    const double t0 = cli_now();
    int rc = CLI_OK;
    bar(what, 0, n, t0);
    for (int s0 = 0, b = 0; s0 < n; s0 += B, b++) {
        const int nb = n - s0 < B ? n - s0 : B;
        if (!cdrl_mpi_mine(b)) continue; // a job of P processes: batch b is rank b % P's
        // batch b's noise does not depend on how many batches came before (cdrl sample's keys)
        const uint64_t key = cli_batch_seed(seed, b);
        if (cdrl_model_sample_cond(m, x + (size_t)s0 * (size_t)c->dim, NULL, label + s0 * A, w, nb,
                                   k, 1, key) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "sampling failed in batch %d", b + 1);
            break;
        }
        bar(what, s0 + nb, n, t0);
    }
    free(label);
    // Every rank gets every batch: the metrics are computed alike on all of them.
    if (cdrl_mpi_any(rc != CLI_OK)) {
        cli_job_agreed = 1;
        return rc == CLI_OK ? CLI_FAIL : rc;
    }
    cdrl_mpi_gather_batches(x, n, B, (size_t)c->dim);
    return rc;
}

int cli_yardstick_check_model(const cdrl_config *c, cdrl_yardstick *ys, const char *path) {
    cdrl_classifier *cl = cdrl_yardstick_classifier(ys);
    const int R = cdrl_classifier_res(cl), C = cdrl_classifier_channels(cl);
    if (c->kind != CDRL_MODEL_IMAGE)
        return cli_die(CLI_FAIL, "%s: a 2-D model has no images for the yardstick", path);
    if (c->in_ch != C || c->res < R || (c->res - R) % 2)
        return cli_die(CLI_FAIL,
                       "%s: the model makes %dx%dx%d images, the classifier takes %dx%dx%d", path,
                       c->in_ch, c->res, c->res, C, R, R);
    if (c->n_classes && c->n_classes != cdrl_classifier_classes(cl))
        return cli_die(CLI_FAIL, "%s: the model has %d classes, the classifier %d", path,
                       c->n_classes, cdrl_classifier_classes(cl));
    return CLI_OK;
}

void cli_yardstick_print(const cdrl_yardstick_result *r, const char *prefix, FILE *f) {
    fprintf(f,
            "%sfd         %.4f  (Fréchet distance of classifier features, %d images vs %ld "
            "reference)\n",
            prefix, r->fd, r->n, r->n_ref);
    fprintf(f, "%skid        %.5f +- %.5f  (unbiased MMD^2, cubic kernel, subsets)\n", prefix,
            r->kid, r->kid_std);
    fprintf(f, "%sprecision  %.4f  (k = 3, against %d reference images)\n", prefix, r->precision,
            r->n_ref_pr);
    fprintf(f, "%srecall     %.4f\n", prefix, r->recall);
    if (r->n_asked)
        fprintf(f, "%saccuracy   %.4f  (classifier agrees with the class asked for, %d images)\n",
                prefix, r->acc, r->n_asked);
    fprintf(f, "%sclasses   ", prefix);
    for (int k = 0; k < r->n_classes; k++)
        fprintf(f, " %d", r->hist[k]);
    fprintf(f, "  (predicted class histogram, classes 0..%d)\n", r->n_classes - 1);
}

void cli_yardstick_json(cJSON *o, const cdrl_yardstick_result *r) {
    cli_json_num(o, "fd", r->fd);
    cli_json_num(o, "kid", r->kid);
    cli_json_num(o, "kid_std", r->kid_std);
    cli_json_num(o, "precision", r->precision);
    cli_json_num(o, "recall", r->recall);
    cli_json_num(o, "acc", r->acc);
    cJSON_AddNumberToObject(o, "n", r->n);
    cJSON_AddNumberToObject(o, "n_ref", (double)r->n_ref);
    cJSON *h = cJSON_CreateArray();
    for (int k = 0; k < r->n_classes; k++)
        cJSON_AddItemToArray(h, cJSON_CreateNumber(r->hist[k]));
    cJSON_AddItemToObject(o, "class_hist", h);
}

// Images: the yardstick on n samples (EMA weights, the training K, guidance w, classes
// cycling 1..K) and on n of the initializer's proposals alone, one metrics.jsonl record
// (time_s: training time, evaluation excluded) and one stdout line, or the full figures
// (final).
int cli_yardstick_train_eval(cdrl_model *m, cdrl_yardstick *ys, int n, float w, uint64_t seed,
                             FILE *mf, double time_s, int final) {
    const cdrl_config *c = cdrl_model_config(m);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)c->dim);
    int *cls = malloc(sizeof(int) * (size_t)n);
    cdrl_yardstick_result r, ri;
    int rc = x && cls ? CLI_OK : cli_die(CLI_FAIL, "out of memory for %d evaluation samples", n);
    if (rc == CLI_OK)
        rc = cli_yardstick_sample(m, x, cls, n, w, c->n_langevin, seed, "eval samples");
    if (rc == CLI_OK && cdrl_yardstick_score(ys, x, cls, n, c->in_ch, c->res, NULL, &r) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "yardstick: scoring the samples failed");
    if (rc == CLI_OK) rc = cli_yardstick_sample(m, x, cls, n, w, 0, seed, "eval proposals");
    if (rc == CLI_OK && cdrl_yardstick_score(ys, x, cls, n, c->in_ch, c->res, NULL, &ri) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "yardstick: scoring the proposals failed");
    if (rc == CLI_OK) {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddNumberToObject(rec, "step", (double)cdrl_model_step(m));
        cli_json_num(rec, "time_s", time_s);
        cJSON *e = cJSON_AddObjectToObject(rec, "eval");
        cli_json_num(e, "fd", r.fd);
        cli_json_num(e, "acc", r.acc);
        cli_json_num(e, "kid", r.kid);
        cli_json_num(e, "precision", r.precision);
        cli_json_num(e, "recall", r.recall);
        cli_json_num(e, "fd_init", ri.fd);
        cli_json_num(e, "acc_init", ri.acc);
        cli_json_num(e, "n", (double)n);
        cli_json_num(e, "guidance", (double)w);
        if (cli_json_line(mf, rec) != 0) rc = cli_die(CLI_FAIL, "metrics.jsonl: cannot write");
        fflush(mf);
        if (final) {
            printf("yardstick  %d samples (K %d, w %g) against %s:\n", n, c->n_langevin, (double)w,
                   cdrl_yardstick_data(ys));
            cli_yardstick_print(&r, "  ", stdout);
            printf("  proposals (initializer alone): fd %.4f, accuracy %.4f\n", ri.fd, ri.acc);
        } else {
            printf("eval step %ld | fd %.4g acc %.4g | fd_init %.4g acc_init %.4g | kid %.4g | "
                   "precision %.3g recall %.3g\n",
                   cdrl_model_step(m), r.fd, r.acc, ri.fd, ri.acc, r.kid, r.precision, r.recall);
        }
        fflush(stdout);
    }
    free(x);
    free(cls);
    return rc;
}
