// `cdrl sample`: draws samples from a checkpoint through the whole chain (initializer, then
// Langevin at every level, EMA weights; images end with the Tweedie step). 2-D models: CSV rows
// `x,y` (the points:FILE format, so samples can be fed back to `cdrl eval --data points:...`),
// optionally with a scatter PNG. Image models: batch by batch with a progress line, single PNGs
// (`-o img_%04d.png`) and/or one grid PNG, for conditional models with a class per row (or one
// class) and classifier-free guidance. Every PNG's tEXt chunks record how it was made. Left
// out: per-level dumps (the training figure shows those).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdrl.h"
#include "cli/cli.h"

typedef struct sample_opts {
    const char *model, *output, *png, *grid;
    int n, k, threads, verbose, cols, cls;
    const char *precision;
    const char *backend;
    const char *weights, *compose;
    float guidance; // the one weight of --class sampling
    uint64_t seed;
} sample_opts;

#define O(f) offsetof(sample_opts, f)
static const cli_opt sample_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint file, or a run folder holding model.safetensors", NULL, 0, 0},
    {"num-samples", 'n', CLI_INT, O(n), "N", "number of samples", "5000; images: 100", 1, 10000000},
    {"output", 'o', CLI_STR, O(output), "FILE",
     "2-D: CSV file of x,y rows (- for stdout); images: one PNG per sample named by a pattern "
     "with one %d (img_%04d.png: img_0000.png, ...)",
     "samples.csv; images: none", 0, 0},
    {"langevin-steps", 'k', CLI_INT, O(k), "K",
     "Langevin steps per level (fewer than trained: larger steps, method.md 2.3)", "the model's K",
     1, 10000},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the sampler noise", NULL, 0, 0},
    {"png", 0, CLI_STR, O(png), "FILE",
     "2-D: also write a scatter (2-D histogram) PNG of the samples", NULL, 0, 0},
    {NULL, 0, CLI_SECTION, 0, NULL, "images", NULL, 0, 0},
    {"grid", 'g', CLI_STR, O(grid), "FILE", "one PNG grid of all the samples",
     "samples.png when -o is not given", 0, 0},
    {"cols", 0, CLI_INT, O(cols), "N", "grid columns", NULL, 1, 100000},
    {"class", 'c', CLI_INT, O(cls), "C",
     "conditional models: class 1..K of every sample, 0 the null label; -1: class 1 + (row % K) "
     "on each grid row",
     NULL, -1, 100000},
    {"precision", 0, CLI_STR, O(precision), "P",
     "images: fp32, or bf16 Langevin products (bfloat16 operands, float sums; AVX512_BF16)",
     "the model's", 0, 0},
    {"guidance", 'w', CLI_STR, O(weights), "W[,W..]",
     "conditional models: classifier-free guidance weight w (method.md 7), 0 for none; with "
     "--compose one weight for every term or one per term",
     "1", 0, 0},
    {"compose", 0, CLI_STR, O(compose), "NAME=CLASS,..",
     "conditional models (2-D and images): the composition of concepts, each an attribute of "
     "the data at one of its classes 0..K-1 (method.md 8): ring=2,quadrant=3",
     NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd sample_cmd = {
    "sample",
    "[options]",
    "Draws samples from a model (EMA weights, every noise level from noise to data). 2-D\n"
    "models: CSV (header x,y), optionally with a scatter PNG over the data's box. Image models:\n"
    "single PNGs (-o with a %d pattern) and/or a grid PNG, sampled batch by batch.",
    "cdrl sample --model runs/demo -n 5000 -o samples.csv --png samples.png\n"
    "  cdrl sample --model runs/fmnist -n 100 --grid grid.png -o img/%04d.png -w 1\n"
    "  cdrl sample --model runs/rings --compose ring=2,quadrant=3 -w 2 -o composed.csv",
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

// 1 when pattern holds exactly one conversion %d or %0Nd / %Nd and no other '%'.
static int valid_pattern(const char *pattern) {
    int n = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p != '%') continue;
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p != 'd') return 0;
        n++;
    }
    return n == 1;
}

// Image models: o->n samples in batches of the model's batch size, with a progress line on
// stderr, written as single PNGs (o->output, a pattern) and/or one grid (o->grid).
static int sample_images(cdrl_model *m, const char *path, const sample_opts *o, int k) {
    const cdrl_config *c = cdrl_model_config(m);
    const int n = o->n, B = c->batch, K = c->n_classes;
    if (o->output && !valid_pattern(o->output))
        return cli_die(CLI_USAGE,
                       "-o %s: image models write one PNG per sample: give a name with "
                       "one %%d (e.g. img_%%04d.png)",
                       o->output);
    if (o->cls > K)
        return cli_die(CLI_USAGE, "--class %d: the model has %s%d classes (1..%d, 0 null)", o->cls,
                       K ? "" : "no classes: ", K, K);
    const char *grid = o->grid ? o->grid : o->output ? NULL : "samples.png";
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)c->dim);
    const int A = cli_attrs(c) ? cli_attrs(c) : 1;
    int *label = calloc((size_t)n * (size_t)A, sizeof(int));
    if (!x || !label) {
        free(x);
        free(label);
        return cli_die(CLI_FAIL, "out of memory for %d samples", n);
    }
    if (o->cls >= 0)
        for (int i = 0; i < n; i++)
            label[i * A] = o->cls;
    else
        cli_grid_labels(c, label, n, o->cols);
    cli_compose_terms terms = {0};
    if (o->compose && cli_compose(&terms, o->compose, o->weights, c, n) != CLI_OK) {
        free(x), free(label);
        return CLI_USAGE;
    }
    const int tty = isatty(STDERR_FILENO);
    const double t0 = cli_now();
    int rc = CLI_OK;
    for (int s0 = 0, b = 0; s0 < n && rc == CLI_OK; s0 += B, b++) {
        const int nb = n - s0 < B ? n - s0 : B;
        if (!cdrl_mpi_mine(b)) continue; // a job of P processes: batch b is rank b % P's
        // each batch its own key: batch b's samples do not depend on how many came before
        cdrl_sample_params sp;
        cdrl_sample_params_init(&sp, m);
        sp.n_langevin = k;
        sp.seed = cli_batch_seed(o->seed, b);
        if (terms.n)
            cli_compose_apply(&terms, &sp, n, s0);
        else if (K)
            sp.n_terms = 1, sp.label[0] = label + (size_t)s0 * (size_t)A,
            sp.weight[0] = o->guidance;
        if (cdrl_model_sample_with(m, x + (size_t)s0 * (size_t)c->dim, nb, &sp) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "sampling failed in batch %d", b + 1);
            break;
        }
        if (cdrl_mpi_rank() > 0) continue;
        const double t = cli_now() - t0;
        fprintf(stderr, "%ssampled %d/%d images | %.2f images/s | %.1f s%s", tty ? "\r" : "",
                s0 + nb, n, (double)(s0 + nb) / t, t, tty ? "\033[K" : "\n");
        fflush(stderr);
    }
    if (tty && cdrl_mpi_rank() == 0) fputc('\n', stderr);
    if (cdrl_mpi_any(rc != CLI_OK)) {
        free(x), free(label);
        cli_job_agreed = 1;
        return rc == CLI_OK ? CLI_FAIL : rc;
    }
    cdrl_mpi_gather_batches(x, n, B, (size_t)c->dim);
    if (cdrl_mpi_rank() > 0) { // the samples are written by rank 0
        free(x), free(label);
        return CLI_OK;
    }
    char seed_s[32], step[32], ks[16], ws[32], cls[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
    snprintf(step, sizeof step, "%ld", cdrl_model_step(m));
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ws, sizeof ws, "%s", o->weights ? o->weights : "1");
    if (!K)
        snprintf(cls, sizeof cls, "none (unconditional)");
    else if (terms.n)
        snprintf(cls, sizeof cls, "composed: %s", o->compose);
    else if (o->cls >= 0)
        snprintf(cls, sizeof cls, "%d", o->cls);
    else
        snprintf(cls, sizeof cls, "1 + (row %% %d), %d per row", K, o->cols);
    const char *keys[] = {"Software",       "checkpoint", "step",  "seed",
                          "langevin_steps", "guidance",   "class", "data"};
    const char *vals[] = {"cdrl sample", path, step, seed_s, ks, K ? ws : "none", cls, c->data};
    const int nt = (int)(sizeof keys / sizeof keys[0]);
    char name[4096];
    for (int i = 0; i < n && rc == CLI_OK && o->output; i++) {
        if (snprintf(name, sizeof name, o->output, i) >= (int)sizeof name)
            rc = cli_die(CLI_USAGE, "-o: path too long");
        else
            rc = cli_save_image(c, x + (size_t)i * (size_t)c->dim, name, keys, vals, nt);
    }
    if (rc == CLI_OK && grid) rc = cli_save_grid(c, x, n, o->cols, grid, keys, vals, nt);
    if (rc == CLI_OK)
        printf("%d images (K = %d, seed %llu) in %.1f s%s%s%s%s\n", n, k,
               (unsigned long long)o->seed, cli_now() - t0, o->output ? " -> " : "",
               o->output ? o->output : "", grid ? ", grid " : "", grid ? grid : "");
    free(x);
    free(label);
    cli_compose_free(&terms);
    return rc;
}

int cmd_sample(int argc, char **argv) {
    sample_opts o = {.model = "runs/demo",
                     .n = 5000,
                     .seed = 1,
                     .cols = 10,
                     .cls = -1,
                     .guidance = 1.0f},
                def = o;
    cli_args a;
    cli_begin("sample", 0, 0, NULL);
    int rc = cli_parse(&sample_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&sample_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("sample", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    float w1[CDRL_SAMPLE_MAX_TERMS];
    const int n_w = o.weights ? cli_parse_weights(o.weights, w1, CDRL_SAMPLE_MAX_TERMS) : 1;
    if (n_w < 1 || (n_w > 1 && !o.compose))
        return cli_die(CLI_USAGE, "-w %s: one weight in 0..1000 (a list goes with --compose)",
                       o.weights);
    if (o.weights) o.guidance = w1[0];
    char path[4096];
    cdrl_model *m = NULL;
    if ((rc = cli_load_model(o.model, &m, path, sizeof path)) != CLI_OK) return rc;
    if (o.precision) {
        const int bf16 = cli_precision(o.precision);
        if (bf16 < 0) {
            cdrl_model_free(m);
            return cli_die(CLI_USAGE, "--precision %s: fp32 or bf16", o.precision);
        }
        if (cdrl_model_set_langevin_bf16(m, bf16) != CDRL_OK) {
            cdrl_model_free(m);
            return cli_fail(CLI_USAGE, "--precision %s", o.precision);
        }
    }
    const cdrl_config *cfg = cdrl_model_config(m);
    const int k = o.k > 0 ? o.k : cfg->n_langevin;
    if (cfg->kind == CDRL_MODEL_IMAGE) {
        if (!cli_given(&sample_cmd, &a, "num-samples")) o.n = 100;
        if (o.png) cli_warn("--png is for 2-D models: ignored (--grid writes the image grid)");
        rc = sample_images(m, path, &o, k);
        cdrl_model_free(m);
        return rc;
    }
    if (cli_given(&sample_cmd, &a, "grid") || cli_given(&sample_cmd, &a, "class") ||
        (cli_given(&sample_cmd, &a, "guidance") && !o.compose) ||
        cli_given(&sample_cmd, &a, "cols"))
        cli_warn("--grid, --cols, --class and --guidance without --compose are for image "
                 "models: ignored");
    // 2-D samples come from one draw of seconds: rank 0 of a job makes and writes them alone.
    if (cdrl_mpi_rank() > 0) {
        cdrl_model_free(m);
        return CLI_OK;
    }
    if (!o.output) o.output = "samples.csv";
    float *x = malloc(sizeof(float) * 2 * (size_t)o.n);
    if (!x) {
        cdrl_model_free(m);
        return cli_die(CLI_FAIL, "out of memory for %d samples", o.n);
    }
    const double t0 = cli_now();
    cli_compose_terms terms = {0};
    if (o.compose && (rc = cli_compose(&terms, o.compose, o.weights, cfg, o.n)) != CLI_OK) {
        free(x);
        cdrl_model_free(m);
        return rc;
    }
    cdrl_sample_params sp;
    cdrl_sample_params_init(&sp, m);
    sp.n_langevin = k, sp.seed = o.seed;
    cli_compose_apply(&terms, &sp, o.n, 0);
    const cdrl_status sst = cdrl_model_sample_with(m, x, o.n, &sp);
    cli_compose_free(&terms);
    if (sst != CDRL_OK) {
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
