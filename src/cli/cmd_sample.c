// `cdrl sample`: draws points from a checkpoint through the whole chain (initializer, then
// Langevin at every level, EMA weights) and writes them as CSV rows `x,y` (the points:FILE
// format, so samples can be fed back to `cdrl eval --data points:...`), optionally with a
// scatter PNG whose tEXt chunks record how it was made. Left out: per-level dumps (the
// training figure shows those), image models.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/figure.h"

typedef struct sample_opts {
    const char *model, *output, *png;
    int n, k, threads, verbose;
    uint64_t seed;
} sample_opts;

#define O(f) offsetof(sample_opts, f)
static const cli_opt sample_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint file, or a run folder holding model.safetensors", NULL, 0, 0},
    {"num-samples", 'n', CLI_INT, O(n), "N", "number of samples", NULL, 1, 10000000},
    {"output", 'o', CLI_STR, O(output), "FILE", "CSV file of x,y rows (- for stdout)", NULL, 0, 0},
    {"langevin-steps", 'k', CLI_INT, O(k), "K",
     "Langevin steps per level (fewer than trained: larger steps, method.md 2.3)", "the model's K",
     1, 10000},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the sampler noise", NULL, 0, 0},
    {"png", 0, CLI_STR, O(png), "FILE", "also write a scatter (2-D histogram) PNG of the samples",
     NULL, 0, 0},
    {"threads", 't', CLI_INT, O(threads), "T", "threads (results do not depend on it)", "all cores",
     0, 4096},
    {"verbose", 'v', CLI_FLAG, O(verbose), NULL, "print the library's info messages", NULL, 0, 0},
};
#undef O

static const cli_cmd sample_cmd = {
    "sample",
    "[options]",
    "Draws samples from a 2-D model (EMA weights, every noise level from noise to data) and\n"
    "writes them as CSV (header x,y), optionally with a scatter PNG over the data's box.",
    "cdrl sample --model runs/demo -n 5000 -o samples.csv --png samples.png",
    sample_table,
    (int)(sizeof sample_table / sizeof sample_table[0]),
    0,
    0,
};

static int write_csv(const char *path, const float *x, int n) {
    const int to_stdout = strcmp(path, "-") == 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    if (!f) return cli_die(CLI_FAIL, "%s: cannot create: %s", tmp, strerror(errno));
    fprintf(f, "x,y\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%.9g,%.9g\n", (double)x[2 * i], (double)x[2 * i + 1]);
    if (to_stdout) return fflush(stdout) == 0 ? CLI_OK : cli_die(CLI_FAIL, "stdout: write failed");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        return cli_die(CLI_FAIL, "%s: write failed (disk full?)", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cli_die(CLI_FAIL, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return CLI_OK;
}

// The plotting box: the training data's box when its source can be opened, else the
// samples' own box widened by 5%.
static void plot_box(const char *spec, const float *x, int n, float box[4]) {
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) == CDRL_OK) {
        cdrl_dataset_bbox(d, box);
        cdrl_dataset_free(d);
        return;
    }
    (void)cli_take_errors(); // the file may be gone; the samples' box will do
    box[0] = box[2] = 1e30f;
    box[1] = box[3] = -1e30f;
    for (int i = 0; i < n; i++) {
        box[0] = x[2 * i] < box[0] ? x[2 * i] : box[0];
        box[1] = x[2 * i] > box[1] ? x[2 * i] : box[1];
        box[2] = x[2 * i + 1] < box[2] ? x[2 * i + 1] : box[2];
        box[3] = x[2 * i + 1] > box[3] ? x[2 * i + 1] : box[3];
    }
    if (!(box[1] > box[0])) box[0] -= 1.0f, box[1] += 1.0f;
    if (!(box[3] > box[2])) box[2] -= 1.0f, box[3] += 1.0f;
    cdrl_box_widen(box, 0.05f);
}

int cmd_sample(int argc, char **argv) {
    sample_opts o = {.model = "runs/demo", .output = "samples.csv", .n = 5000, .seed = 1}, def = o;
    cli_args a;
    cli_begin("sample", 0, 0);
    int rc = cli_parse(&sample_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&sample_cmd, &def, stdout);
        return CLI_OK;
    }
    cli_begin("sample", o.verbose, o.threads);
    char path[4096];
    if (cli_model_path(o.model, path, sizeof path) != 0)
        return cli_die(CLI_USAGE, "--model: path too long");
    cdrl_model *m = NULL;
    if (cdrl_model_load(&m, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot load the checkpoint", path);
    const cdrl_config *cfg = cdrl_model_config(m);
    const int k = o.k > 0 ? o.k : cfg->n_langevin;
    float *x = malloc(sizeof(float) * 2 * (size_t)o.n);
    if (!x) {
        cdrl_model_free(m);
        return cli_die(CLI_FAIL, "out of memory for %d samples", o.n);
    }
    const double t0 = cli_now();
    if (cdrl_model_sample(m, x, NULL, o.n, k, 1, o.seed) != CDRL_OK) {
        free(x);
        cdrl_model_free(m);
        return cli_fail(CLI_FAIL, "sampling failed");
    }
    const double t1 = cli_now();
    rc = write_csv(o.output, x, o.n);
    if (rc == CLI_OK && o.png) {
        float box[4];
        plot_box(cfg->data, x, o.n, box);
        cdrl_figure *fig = cdrl_figure_create(1, 1, 256, 256, 4);
        char seed[32], step[32], levels[16], ks[16], boxs[128], ns[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)o.seed);
        snprintf(step, sizeof step, "%ld", cdrl_model_step(m));
        snprintf(levels, sizeof levels, "%d", cfg->n_levels);
        snprintf(ks, sizeof ks, "%d", k);
        snprintf(ns, sizeof ns, "%d", o.n);
        snprintf(boxs, sizeof boxs, "%g,%g,%g,%g", (double)box[0], (double)box[1], (double)box[2],
                 (double)box[3]);
        const char *keys[] = {"Software", "command",        "checkpoint", "step", "seed",
                              "levels",   "langevin_steps", "samples",    "data", "box"};
        const char *vals[] = {
            "cdrl sample",
            "samples through the whole chain, EMA weights; 2-D histogram, log colour scale",
            path,
            step,
            seed,
            levels,
            ks,
            ns,
            cfg->data,
            boxs};
        if (!fig ||
            cdrl_figure_scatter(fig, 0, 0, x, o.n, box[0], box[1], box[2], box[3]) != CDRL_OK ||
            cdrl_figure_save(fig, o.png, keys, vals, (int)(sizeof keys / sizeof keys[0])) !=
                CDRL_OK)
            rc = cli_fail(CLI_FAIL, "%s: cannot write the PNG", o.png);
        cdrl_figure_free(fig);
    }
    if (rc == CLI_OK && strcmp(o.output, "-") != 0)
        printf("%d samples (K = %d, seed %llu) in %.1f s -> %s%s%s\n", o.n, k,
               (unsigned long long)o.seed, t1 - t0, o.output, o.png ? ", " : "",
               o.png ? o.png : "");
    free(x);
    cdrl_model_free(m);
    return rc;
}
