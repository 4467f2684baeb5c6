// `cdrl ood`: out-of-distribution scores of a model (method.md §8). Each input's score at
// level j is pair j's EBM output f(sqrt(kappa_j) x, lambda_{j-1}) (EMA weights; higher = more
// in-distribution; the paper uses j = 1); the command prints AUROC and the false-positive rate
// at 95% true-positive rate of an in-distribution set against another set, for every level,
// and for image models beside the yardstick classifier's maximum softmax probability, the
// usual baseline. --scores writes every input's scores (CSV, or JSON for a .json name).
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "cli/cli.h"

typedef struct ood_opts {
    const char *model, *in, *out, *scores, *classifier, *backend, *plot;
    int n, pair, threads, verbose;
    uint64_t seed;
} ood_opts;

#define O(f) offsetof(ood_opts, f)
static const cli_opt ood_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint file, or a run folder holding model.safetensors", NULL, 0, 0},
    {"in", 0, CLI_STR, O(in), "SET",
     "in-distribution inputs: a data spec with optional @transforms (docs/cli.md: @vflip, "
     "@hflip, @invert, @classK, @notclassK), uniform, or off-support (2-D)",
     "required", 0, 0},
    {"out", 0, CLI_STR, O(out), "SET", "the other inputs, in the same form", "required", 0, 0},
    {"num", 'n', CLI_INT, O(n), "N", "inputs of each set", NULL, 2, 10000000},
    {"pair", 'j', CLI_INT, O(pair), "J",
     "the level whose scores --scores writes first and the summary line names (1: the lowest "
     "noise level, as in the paper); the table has every level",
     NULL, 1, 32},
    {"scores", 'o', CLI_STR, O(scores), "FILE",
     "every input's scores at every level (and the baseline's): CSV, or JSON for *.json", NULL, 0,
     0},
    {"plot", 0, CLI_STR, O(plot), "PNG",
     "histograms of the two sets' scores, one panel per level (and the baseline's): in-"
     "distribution blue, the other set red",
     NULL, 0, 0},
    {"classifier", 0, CLI_STR, O(classifier), "FILE",
     "images: the classifier of the maximum-softmax baseline",
     "the data's yardstick classifier; none: no baseline", 0, 0},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of drawn and uniform inputs", NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd ood_cmd = {
    "ood",
    "[options] --model M --in SET --out SET",
    "Out-of-distribution scores: every input's EBM output f at each level (higher = more\n"
    "in-distribution), AUROC and FPR at 95% TPR of --in against --out for every level, and for\n"
    "image models the classifier's maximum softmax probability as the baseline.",
    "cdrl ood --model runs/fmnist --in fashion-mnist:DIR:test@notclass8 --out "
    "fashion-mnist:DIR:test@class8",
    ood_table,
    (int)(sizeof ood_table / sizeof ood_table[0]),
    0,
    0,
};

// The maximum softmax probability of each image under the classifier (NaN when none).
static int msp_scores(const char *path, const cdrl_config *c, const float *x, int n, float *msp) {
    cdrl_classifier *k = NULL;
    if (cdrl_classifier_load(&k, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot load the classifier", path);
    const int K = cdrl_classifier_classes(k), B = 256;
    float *logits = malloc(sizeof(float) * (size_t)B * (size_t)K);
    int rc = logits ? CLI_OK : cli_die(CLI_FAIL, "out of memory");
    for (int s0 = 0; s0 < n && rc == CLI_OK; s0 += B) {
        const int b = n - s0 < B ? n - s0 : B;
        if (cdrl_classifier_run(k, NULL, NULL, logits, x + (size_t)s0 * (size_t)c->dim, b, c->in_ch,
                                c->res) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "%s: cannot run the classifier", path);
            break;
        }
        for (int i = 0; i < b; i++) {
            const float *l = logits + (size_t)i * (size_t)K;
            double mx = l[0], sum = 0;
            for (int q = 1; q < K; q++)
                mx = fmax(mx, (double)l[q]);
            for (int q = 0; q < K; q++)
                sum += exp((double)l[q] - mx);
            msp[s0 + i] = (float)(1.0 / sum);
        }
    }
    free(logits);
    cdrl_classifier_free(k);
    return rc;
}

static int by_value(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The 1st and 99th percentiles of s (n): far outliers would squeeze every other bin into one.
static void quantile_range(const float *s, int n, float *lo, float *hi) {
    float *c = malloc(sizeof(float) * (size_t)n);
    if (!c) {
        *lo = s[0], *hi = s[0] + 1;
        return;
    }
    memcpy(c, s, sizeof(float) * (size_t)n);
    qsort(c, (size_t)n, sizeof(float), by_value);
    *lo = c[n / 100], *hi = c[n - 1 - n / 100];
    if (!(*hi > *lo)) *hi = *lo + 1;
    free(c);
}

// One panel per score row: 40 bins between the 1st and 99th percentiles of both sets together
// (scores beyond them in the end bins), the in-distribution
// counts as blue bars from the bottom, the other set's as red bars over them (purple where
// both reach), heights scaled to the panel's largest count.
static int plot_hist(const char *path, const float *f, const float *msp, int n_in, int n, int T,
                     const char *in, const char *out) {
    enum { S = 160, BINS = 40 };
    const int rows = T + (msp != NULL);
    cdrl_figure *fig = cdrl_figure_create(1, rows, S, S, 6);
    if (!fig) return cli_die(CLI_FAIL, "%s: out of memory", path);
    for (int j = 0; j < rows; j++) {
        const float *s = j < T ? f + (size_t)j * (size_t)n : msp;
        float lo, hi;
        quantile_range(s, n, &lo, &hi);
        int cnt[2][BINS] = {{0}}, top = 1;
        for (int i = 0; i < n; i++) {
            int b = (int)((s[i] - lo) / (hi - lo) * BINS);
            b = b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
            const int set = i >= n_in;
            if (++cnt[set][b] > top) top = cnt[set][b];
        }
        for (int b = 0; b < BINS; b++)
            for (int x = b * S / BINS; x < (b + 1) * S / BINS; x++)
                for (int y = 0; y < S; y++) {
                    const int h = S - 1 - y; // height above the bottom
                    const int inb = h < cnt[0][b] * (S - 4) / top,
                              outb = h < cnt[1][b] * (S - 4) / top;
                    if (!inb && !outb) continue;
                    uint8_t *px = cdrl_figure_pixel(fig, 0, j, x, y);
                    px[0] = outb ? 214 : 31, px[1] = inb && outb ? 60 : inb ? 119 : 39;
                    px[2] = inb ? 180 : 40;
                }
    }
    const char *keys[] = {"Software", "in", "out", "panels"};
    const char *vals[] = {"cdrl ood", in, out,
                          "score histograms, level 1..T left to right (then the classifier's max "
                          "softmax): in-distribution blue, other red, both purple; 40 bins "
                          "between each panel's 1st and 99th percentiles"};
    const cdrl_status st = cdrl_figure_save(fig, path, keys, vals, 4);
    cdrl_figure_free(fig);
    return st == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write the plot", path);
}

static int write_scores(const char *path, const float *f, const float *msp, int n_in, int n, int T,
                        int pair) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) return cli_die(CLI_FAIL, "%s: cannot create: %s", tmp, strerror(errno));
    const size_t len = strlen(path);
    if (len > 5 && !strcmp(path + len - 5, ".json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "pair", pair);
        for (int s = 0; s < 2; s++) {
            cJSON *set = cJSON_AddArrayToObject(o, s ? "out" : "in");
            for (int i = s ? n_in : 0; i < (s ? n : n_in); i++) {
                cJSON *r = cJSON_CreateObject(), *lv = cJSON_AddArrayToObject(r, "f");
                cli_json_num(r, "score", f[(size_t)(pair - 1) * (size_t)n + (size_t)i]);
                for (int j = 0; j < T; j++)
                    cJSON_AddItemToArray(lv,
                                         cJSON_CreateNumber(f[(size_t)j * (size_t)n + (size_t)i]));
                if (msp) cli_json_num(r, "msp", msp[i]);
                cJSON_AddItemToArray(set, r);
            }
        }
        cli_json_line(fp, o);
    } else {
        fprintf(fp, "set,index,score");
        for (int j = 1; j <= T; j++)
            fprintf(fp, ",f%d", j);
        fprintf(fp, "%s\n", msp ? ",msp" : "");
        for (int i = 0; i < n; i++) {
            fprintf(fp, "%s,%d,%.9g", i < n_in ? "in" : "out", i < n_in ? i : i - n_in,
                    (double)f[(size_t)(pair - 1) * (size_t)n + (size_t)i]);
            for (int j = 0; j < T; j++)
                fprintf(fp, ",%.9g", (double)f[(size_t)j * (size_t)n + (size_t)i]);
            if (msp) fprintf(fp, ",%.9g", (double)msp[i]);
            fputc('\n', fp);
        }
    }
    const int bad = ferror(fp) | (fclose(fp) != 0);
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return cli_die(CLI_FAIL, "%s: cannot write (disk full?)", path);
    }
    return CLI_OK;
}

int cmd_ood(int argc, char **argv) {
    ood_opts o = {.n = 1000, .pair = 1, .seed = 1}, def = o;
    cli_args a;
    cli_begin("ood", 0, 0, NULL);
    int rc = cli_parse(&ood_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&ood_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("ood", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    if (!o.model || !o.in || !o.out)
        return cli_die(CLI_USAGE, "--model, --in and --out are required (see cdrl ood --help)");
    char path[4096];
    cdrl_model *m = NULL;
    if ((rc = cli_load_model(o.model, &m, path, sizeof path)) != CLI_OK) return rc;
    const cdrl_config *c = cdrl_model_config(m);
    const int T = c->n_levels, n = 2 * o.n, D = c->dim;
    if (o.pair > T) {
        cdrl_model_free(m);
        return cli_die(CLI_USAGE, "--pair %d: the model has levels 1..%d", o.pair, T);
    }
    float *xin = NULL, *xout = NULL, *x = malloc(sizeof(float) * (size_t)n * (size_t)D);
    float *f = malloc(sizeof(float) * (size_t)n * (size_t)T), *msp = NULL;
    if (!x || !f) rc = cli_die(CLI_FAIL, "out of memory for %d inputs", n);
    if (rc == CLI_OK) rc = cli_load_set(o.in, c, o.n, o.seed, &xin, NULL);
    if (rc == CLI_OK) rc = cli_load_set(o.out, c, o.n, o.seed + 1, &xout, NULL);
    if (rc == CLI_OK) {
        memcpy(x, xin, sizeof(float) * (size_t)o.n * (size_t)D);
        memcpy(x + (size_t)o.n * (size_t)D, xout, sizeof(float) * (size_t)o.n * (size_t)D);
    }
    const double t0 = cli_now();
    for (int j = 1; j <= T && rc == CLI_OK; j++)
        if (cdrl_model_energy(m, f + (size_t)(j - 1) * (size_t)n, NULL, x, n, j, 1) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "energies at level %d", j);
    char cls_path[4096] = "";
    if (rc == CLI_OK && c->kind == CDRL_MODEL_IMAGE &&
        !(o.classifier && !strcmp(o.classifier, "none"))) {
        if (o.classifier)
            snprintf(cls_path, sizeof cls_path, "%s", o.classifier);
        else if (cli_default_classifier(c->data, cls_path, sizeof cls_path) != 0 ||
                 !cli_exists(cls_path))
            cls_path[0] = '\0'; // no baseline for this data
        if (cls_path[0] && !(msp = malloc(sizeof(float) * (size_t)n)))
            rc = cli_die(CLI_FAIL, "out of memory");
        if (cls_path[0] && rc == CLI_OK) rc = msp_scores(cls_path, c, x, n, msp);
    }
    if (rc == CLI_OK) {
        printf("in  %s (%d)\nout %s (%d)\n%-30s %8s %8s\n", o.in, o.n, o.out, o.n, "score", "AUROC",
               "FPR@95");
        for (int j = 1; j <= T + (msp != NULL) && rc == CLI_OK; j++) {
            const float *s = j <= T ? f + (size_t)(j - 1) * (size_t)n : msp;
            double au, fpr;
            if (cdrl_eval_ood(&au, &fpr, s, o.n, s + o.n, o.n) != CDRL_OK) {
                rc = cli_fail(CLI_FAIL, "scores of level %d", j);
                break;
            }
            char name[64];
            if (j <= T)
                snprintf(name, sizeof name, "EBM f, level %d%s", j, j == o.pair ? " *" : "");
            else
                snprintf(name, sizeof name, "classifier max softmax");
            printf("%-30s %8.4f %8.4f\n", name, au, fpr);
        }
        printf("(%d inputs in %.1f s; * the level of --pair)\n", n, cli_now() - t0);
    }
    if (rc == CLI_OK && o.scores) rc = write_scores(o.scores, f, msp, o.n, n, T, o.pair);
    if (rc == CLI_OK && o.plot) rc = plot_hist(o.plot, f, msp, o.n, n, T, o.in, o.out);
    free(x), free(xin), free(xout), free(f), free(msp);
    cdrl_model_free(m);
    return rc;
}
