// `cdrl train`: trains a CDRL model (method.md §4) on 2-D points or images and keeps a run
// folder:
//   <out>/model.safetensors   checkpoint every --ckpt-every steps, at the end and on Ctrl-C
//   <out>/metrics.jsonl       one JSON object per --log-every steps, then the final evaluation;
//                             images: a yardstick record every --eval-every seconds
//   <out>/samples.png         2-D: the official toy figure (method.md §5.6): row 1 exp(logp) of
//                             each level's EBM (pair T..1, noisiest left), row 2 the chain's
//                             samples; images: a grid of samples with the EMA weights (one row
//                             per class for conditional models), also kept as
//                             <out>/grids/step_NNNNNNN.png every --fig-every steps
// --resume continues a run to --iters with the checkpoint's configuration; flags that
// contradict it are refused. A divergence stops the run without saving the diverged state.
// Ctrl-C (or SIGTERM) finishes the current step, saves and exits 130. Left out: multi-process
// training.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdrl.h"
#include "cli/cli.h"

#define FIG_GRID  200  // density grid per panel, as the official visualisation (method.md §5.6)
#define EVAL_SEED 1234 // held-out points of the final evaluation: `cdrl eval`'s default seed

typedef struct train_opts {
    const char *data, *out, *preset, *config, *set, *classifier;
    long iters, ckpt_every, fig_every, log_every;
    int batch, langevin, threads, resume, force, verbose, no_eval, eval_n, labels;
    const char *backend;
    int ebm_ch, init_t, init_h, levels, classes;
    float lr_ebm, lr_init, guidance, eval_every;
    const char *precision;
    uint64_t seed;
} train_opts;

#define O(f) offsetof(train_opts, f)
static const cli_opt train_table[] = {
    {"data", 'd', CLI_STR, O(data), "SPEC",
     "training data: checkerboard, 8gaussians, 25gaussians, rings, moons, swissroll, pinwheel, "
     "2spirals, points:FILE.csv; images: fashion-mnist:DIR, mnist:DIR, cifar10:DIR, folder:DIR "
     "(docs/data.md)",
     "the preset's", 0, 0},
    {"out", 'o', CLI_STR, O(out), "DIR",
     "run folder: model.safetensors, metrics.jsonl, samples.png", NULL, 0, 0},
    {"preset", 'p', CLI_STR, O(preset), "NAME", "configuration preset: " CDRL_PRESET_NAMES, NULL, 0,
     0},
    {"config", 'c', CLI_STR, O(config), "FILE.json",
     "configuration fields over the preset's: a JSON object of config keys (what `cdrl info` "
     "prints; a checkpoint's config), missing keys keep the preset's",
     NULL, 0, 0},
    {"set", 0, CLI_STR, O(set), "KEY=VALUE",
     "one configuration field over the preset and --config, by its JSON key (repeatable): "
     "ebm_blocks=2, ebm_ch_mult=1,2,2, unet_attn=14, step_b=2e-4, langevin_ref_steps=15, ...",
     NULL, 0, 0},
    {"iters", 'i', CLI_LONG, O(iters), "N", "train until this many iterations in total",
     "the preset's", 1, 1e12},
    {"batch", 'b', CLI_INT, O(batch), "B", "batch size", "the preset's", 1, 1000000},
    {"lr-ebm", 0, CLI_FLOAT, O(lr_ebm), "X", "EBM learning rate", "the preset's", 0, 1e38},
    {"lr-init", 0, CLI_FLOAT, O(lr_init), "X", "initializer learning rate", "the preset's", 0,
     1e38},
    {"precision", 0, CLI_STR, O(precision), "P",
     "images: fp32, or bf16 for the Langevin passes' convolution products (bfloat16 operands, "
     "float sums; CPUs with AVX512_BF16: 1.3-1.7x faster products at 128-256 channels, no gain at "
     "32-64); stored as langevin_bf16",
     "the preset's", 0, 0},
    {"langevin-steps", 'k', CLI_INT, O(langevin), "K", "Langevin steps per level in training",
     "the preset's", 1, 10000},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the weights and of every training draw",
     "the preset's", 0, 0},
    {"classes", 0, CLI_INT, O(classes), "K",
     "image models: class-conditional on the data's K classes (labels 1..K, 0 null, 10% of "
     "training labels dropped, method.md 7); 0: unconditional",
     "the preset's", 0, 100000},
    {"labels", 0, CLI_FLAG, O(labels), NULL,
     "conditional on every label attribute of the data (2-D: a CSV's label columns or the "
     "generator's components, docs/data.md; images: the classes), each label dropped to null "
     "for 10% of the training samples",
     NULL, 0, 0},
    {"resume", 'r', CLI_FLAG, O(resume), NULL,
     "continue <out>/model.safetensors to --iters (its configuration wins; contradicting flags are "
     "errors)",
     NULL, 0, 0},
    {"force", 'f', CLI_FLAG, O(force), NULL,
     "start afresh even if <out>/model.safetensors exists (it is overwritten)", NULL, 0, 0},
    {NULL, 0, CLI_SECTION, 0, NULL, "output", NULL, 0, 0},
    {"ckpt-every", 0, CLI_LONG, O(ckpt_every), "N",
     "save the checkpoint every N steps (0: only at the end)", NULL, 0, 1e12},
    {"fig-every", 0, CLI_LONG, O(fig_every), "N",
     "write samples.png every N steps (0: only at the end)", "0; images: 500", 0, 1e12},
    {"guidance", 'w', CLI_FLOAT, O(guidance), "W",
     "guidance weight of the sample grids of conditional image models (method.md 7)", NULL, 0,
     1000},
    {"log-every", 0, CLI_LONG, O(log_every), "N", "log line and metrics.jsonl record every N steps",
     NULL, 1, 1e12},
    {"eval-n", 0, CLI_INT, O(eval_n), "N",
     "held-out points, MMD set size and figure samples; images: yardstick samples",
     "5000; images: 500", 2, 1000000},
    {"no-eval", 0, CLI_FLAG, O(no_eval), NULL,
     "skip the final evaluation (NLL, MMD; images: the yardstick)", NULL, 0, 0},
    {"eval-every", 0, CLI_FLOAT, O(eval_every), "SECONDS",
     "images: score N samples and N initializer proposals with the yardstick every this many "
     "seconds of training into metrics.jsonl (0: off)",
     NULL, 0, 1e9},
    {"classifier", 0, CLI_STR, O(classifier), "FILE", "images: the yardstick's classifier",
     "models/fmnist_classifier.safetensors for fashion-mnist data", 0, 0},
    {NULL, 0, CLI_SECTION, 0, NULL, "network sizes (for tests and small runs)", NULL, 0, 0},
    {"ebm-ch", 0, CLI_INT, O(ebm_ch), "N", "EBM base width (hidden 2N, embedding 4N)",
     "the preset's", 4, 4096},
    {"init-t", 0, CLI_INT, O(init_t), "N", "initializer embedding width (even)", "the preset's", 4,
     4096},
    {"init-h", 0, CLI_INT, O(init_h), "N", "initializer hidden width (a multiple of 32)",
     "the preset's", 32, 4096},
    {"levels", 0, CLI_INT, O(levels), "T", "noise levels", "the preset's", 1, 32},
    {NULL, 0, CLI_SECTION, 0, NULL, "general", NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd train_cmd = {
    "train",
    "[options]",
    "Trains a CDRL model on 2-D data or images, keeping a run folder with the checkpoint,\n"
    "metrics.jsonl and samples.png (images: sample grids, also under grids/), and prints the\n"
    "held-out NLL and MMD of 2-D models at the end. Ctrl-C (or SIGTERM) stops after the current\n"
    "step, saves the checkpoint and exits with status 130; --resume continues.",
    "cdrl train --data checkerboard --out runs/demo --preset demo --iters 1000\n"
    "  cdrl train --preset fmnist-cpu --out runs/fmnist",
    train_table,
    (int)(sizeof train_table / sizeof train_table[0]),
    0,
    0,
};

// The flags that set a configuration field, for applying them and for resume conflicts.
static const struct {
    const char *flag, *field;
} config_flags[] = {
    {"data", "data"},
    {"batch", "batch"},
    {"lr-ebm", "lr_ebm"},
    {"lr-init", "lr_init"},
    {"langevin-steps", "n_langevin"},
    {"seed", "seed"},
    {"ebm-ch", "ebm_ch"},
    {"init-t", "init_t_dim"},
    {"init-h", "init_h_dim"},
    {"levels", "n_levels"},
    {"classes", "n_classes"},
    {"precision", "langevin_bf16"},
};

// Ctrl-C and SIGTERM (kill, a batch system's time limit) finish the step, save and exit 130.
// They are blocked in the threads that compute and taken between steps (stop_requested): a
// signal delivered in the middle of oneDNN's products corrupted its heap in 4 of 20 runs
// (scripts/kill_test.sh 20 TERM), so none is delivered there. The handler still catches one
// that a thread which does not block them receives (MPI's own threads). After the first, the
// default action is back and the signals unblocked, so that a second one kills at once.
static volatile sig_atomic_t interrupted;
static sigset_t stop_signals;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL); // threads started later inherit the mask
}

// The default action back and the signals unblocked (a pending one then acts at once).
static void release_stop_signals(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);
}

static int stop_requested(void) {
    const struct timespec now = {0, 0};
    if (!interrupted && sigtimedwait(&stop_signals, NULL, &now) > 0) interrupted = 1;
    if (interrupted) release_stop_signals();
    return interrupted;
}

// mkdir -p.
static int make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

// The configuration asked for: the preset's (already in c), then --config, every --set in
// command-line order, then the single-field flags. CLI_OK, or CLI_USAGE after one line.
static int apply_flags(cdrl_config *c, const train_opts *o, const cli_args *a, int argc,
                       char **argv) {
    if (cli_given(&train_cmd, a, "config")) {
        char *json = cli_read_text(o->config, 1 << 20);
        if (!json) return cli_die(CLI_USAGE, "--config %s: cannot read the file", o->config);
        cdrl_status st = cdrl_config_from_json(c, json);
        free(json);
        if (st != CDRL_OK)
            return cli_die(CLI_USAGE, "--config %s: not a configuration: %s", o->config,
                           cli_take_errors());
    }
    for (int i = 1; i < argc; i++) { // the option parser keeps only the last --set
        const char *kv = NULL;
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            kv = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0)
            kv = argv[i] + 6;
        else if (strcmp(argv[i], "--") == 0)
            break;
        if (!kv) continue;
        const char *eq = strchr(kv, '=');
        char key[64];
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
            return cli_die(CLI_USAGE, "--set %s: expected KEY=VALUE", kv);
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (cdrl_config_set(c, key, eq + 1) != CDRL_OK) return cli_fail(CLI_USAGE, "--set %s", kv);
    }
    if (cli_given(&train_cmd, a, "data")) snprintf(c->data, sizeof c->data, "%s", o->data);
    if (cli_given(&train_cmd, a, "batch")) c->batch = o->batch;
    if (cli_given(&train_cmd, a, "lr-ebm")) c->lr_ebm = o->lr_ebm;
    if (cli_given(&train_cmd, a, "lr-init")) c->lr_init = o->lr_init;
    if (cli_given(&train_cmd, a, "langevin-steps")) c->n_langevin = o->langevin;
    if (cli_given(&train_cmd, a, "seed")) c->seed = o->seed;
    if (cli_given(&train_cmd, a, "ebm-ch")) c->ebm_ch = o->ebm_ch;
    if (cli_given(&train_cmd, a, "init-t")) c->init_t_dim = o->init_t;
    if (cli_given(&train_cmd, a, "init-h")) c->init_h_dim = o->init_h;
    if (cli_given(&train_cmd, a, "levels")) c->n_levels = o->levels;
    if (cli_given(&train_cmd, a, "classes")) c->n_classes = o->classes;
    if (cli_given(&train_cmd, a, "precision")) {
        const int bf16 = cli_precision(o->precision);
        if (bf16 < 0) return cli_die(CLI_USAGE, "--precision %s: fp32 or bf16", o->precision);
        c->langevin_bf16 = bf16;
    }
    return CLI_OK;
}

// The checkpoint's configuration against what the flags ask for (a given --preset asks for
// all its fields but data and seed): CLI_OK, or CLI_FAIL after one line naming the first
// difference.
// --labels: the data's label attributes become the model's (n_classes, more_classes).
static int labels_from_data(cdrl_config *c) {
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, c->data) != CDRL_OK)
        return cli_fail(CLI_FAIL, "--labels: cannot open the data %s", c->data);
    const int A = cdrl_dataset_attrs(d);
    if (A == 0) {
        cdrl_dataset_free(d);
        return cli_die(CLI_FAIL, "--labels: the data %s has no labels", c->data);
    }
    c->n_classes = cdrl_dataset_attr_classes(d, 0);
    c->n_more_attrs = A - 1;
    for (int a = 1; a < A; a++)
        c->more_classes[a - 1] = cdrl_dataset_attr_classes(d, a);
    cdrl_dataset_free(d);
    return CLI_OK;
}

static int check_resume(const cdrl_config *ck, const train_opts *o, const cli_args *a, int argc,
                        char **argv, const char *path) {
    cdrl_config want = *ck;
    if (cli_given(&train_cmd, a, "preset")) {
        cdrl_config p;
        if (cdrl_config_preset(&p, o->preset) != CDRL_OK)
            return cli_fail(CLI_USAGE, "unknown preset '%s'", o->preset);
        snprintf(p.data, sizeof p.data, "%s", ck->data);
        p.seed = ck->seed;
        want = p;
    }
    int rc = apply_flags(&want, o, a, argc, argv);
    if (rc != CLI_OK) return rc;
    char jw[4096], jc[4096];
    if (cdrl_config_to_json(&want, jw, sizeof jw) < 0 || cdrl_config_to_json(ck, jc, sizeof jc) < 0)
        return cli_die(CLI_FAIL, "configuration too long");
    cJSON *w = cJSON_Parse(jw), *c = cJSON_Parse(jc);
    for (const cJSON *v = w ? w->child : NULL; v && rc == CLI_OK; v = v->next) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(c, v->string);
        char *sv = cJSON_PrintUnformatted(v), *su = u ? cJSON_PrintUnformatted(u) : NULL;
        if (sv && su && strcmp(sv, su) != 0) {
            const char *flag = NULL;
            for (size_t i = 0; i < sizeof config_flags / sizeof config_flags[0]; i++)
                if (strcmp(config_flags[i].field, v->string) == 0 &&
                    cli_given(&train_cmd, a, config_flags[i].flag))
                    flag = config_flags[i].flag;
            if (flag)
                rc = cli_die(CLI_FAIL,
                             "--%s %s conflicts with the checkpoint %s (%s %s); a resumed run "
                             "keeps its configuration: drop the flag or train into a new --out",
                             flag, sv, path, v->string, su);
            else if (cli_given(&train_cmd, a, "config") || cli_given(&train_cmd, a, "set"))
                rc = cli_die(CLI_FAIL,
                             "--config/--set: %s %s conflicts with the checkpoint %s (%s %s); a "
                             "resumed run keeps its configuration",
                             v->string, sv, path, v->string, su);
            else
                rc = cli_die(CLI_FAIL,
                             "--preset %s conflicts with the checkpoint %s (%s %s there, %s in the "
                             "preset); drop --preset to resume",
                             o->preset, path, v->string, su, sv);
        }
        free(sv);
        free(su);
    }
    cJSON_Delete(w);
    cJSON_Delete(c);
    return rc;
}

// Image models: rows x cols samples (EMA weights, the training K, guidance w for conditional
// models, one class per row) as a PNG grid at path and at <out>/grids/step_NNNNNNN.png.
#define GRID_ROWS 10
#define GRID_COLS 10
static int write_grid(cdrl_model *m, const char *out, const char *path, const char *ckpt, float w,
                      uint64_t seed) {
    const cdrl_config *c = cdrl_model_config(m);
    const int n = GRID_ROWS * GRID_COLS;
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)c->dim);
    int label[GRID_ROWS * GRID_COLS * CDRL_MAX_ATTRS];
    if (!x) return cli_die(CLI_FAIL, "out of memory for the sample grid");
    cli_grid_labels(c, label, n, GRID_COLS);
    int rc = CLI_OK;
    if (cdrl_model_sample_cond(m, x, NULL, label, w, n, c->n_langevin, 1, seed) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "sample grid: sampling failed");
    char hist[4096], step[32], seed_s[32], ks[16], ws[32];
    snprintf(step, sizeof step, "%ld", cdrl_model_step(m));
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    snprintf(ks, sizeof ks, "%d", c->n_langevin);
    snprintf(ws, sizeof ws, "%g", (double)w);
    const char *keys[] = {"Software", "layout",         "checkpoint", "step",
                          "seed",     "langevin_steps", "guidance",   "data"};
    const char *vals[] = {"cdrl train",
                          c->n_classes ? "10x10 samples, EMA weights, row r: class r+1 (1-based)"
                                       : "10x10 samples, EMA weights",
                          ckpt,
                          step,
                          seed_s,
                          ks,
                          c->n_classes ? ws : "none",
                          c->data};
    const int nt = (int)(sizeof keys / sizeof keys[0]);
    if (rc == CLI_OK) rc = cli_save_grid(c, x, n, GRID_COLS, path, keys, vals, nt);
    if (rc == CLI_OK) {
        if (snprintf(hist, sizeof hist, "%s/grids", out) >= (int)sizeof hist ||
            make_dirs(hist) != 0)
            rc = cli_die(CLI_FAIL, "%s/grids: cannot create the folder", out);
        else if (snprintf(hist, sizeof hist, "%s/grids/step_%07ld.png", out, cdrl_model_step(m)) >=
                 (int)sizeof hist)
            rc = cli_die(CLI_FAIL, "--out: path too long");
        else
            rc = cli_save_grid(c, x, n, GRID_COLS, hist, keys, vals, nt);
    }
    free(x);
    return rc;
}

// samples.png: row 1 the normalised density exp(logp - max) of each pair's EBM over the data
// box (pair T left), row 2 the chain's samples after each pair (x_{T-1} left, x_0 right).
static int write_figure(cdrl_model *m, const float box[4], const char *path, const char *ckpt,
                        int n, uint64_t seed) {
    const cdrl_config *c = cdrl_model_config(m);
    const int T = c->n_levels, G = FIG_GRID;
    float *xy = malloc(sizeof(float) * 2 * (size_t)G * G),
          *lp = malloc(sizeof(float) * (size_t)G * G);
    float *out = malloc(sizeof(float) * 2 * (size_t)n),
          *lv = malloc(sizeof(float) * 2 * (size_t)n * (size_t)T);
    cdrl_figure *fig = cdrl_figure_create(2, T, G, G, 4);
    int rc =
        xy && lp && out && lv && fig ? CLI_OK : cli_die(CLI_FAIL, "out of memory for the figure");
    const double dx = ((double)box[1] - (double)box[0]) / G,
                 dy = ((double)box[3] - (double)box[2]) / G;
    for (int r = 0; r < G && rc == CLI_OK; r++) // row 0 at the top: y decreasing
        for (int q = 0; q < G; q++) {
            xy[2 * ((size_t)r * G + q)] = (float)((double)box[0] + (q + 0.5) * dx);
            xy[2 * ((size_t)r * G + q) + 1] = (float)((double)box[3] - (r + 0.5) * dy);
        }
    for (int col = 0; col < T && rc == CLI_OK; col++) {
        if (cdrl_model_log_density(m, lp, NULL, xy, G * G, T - col, 1) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "figure: density of pair %d failed", T - col);
            break;
        }
        float mx = lp[0];
        for (int i = 1; i < G * G; i++)
            mx = lp[i] > mx ? lp[i] : mx;
        for (int i = 0; i < G * G; i++)
            lp[i] = expf(lp[i] - mx);
        cdrl_figure_heatmap(fig, 0, col, lp, G, G);
    }
    if (rc == CLI_OK && cdrl_model_sample(m, out, lv, n, c->n_langevin, 1, seed) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "figure: sampling failed");
    for (int col = 0; col < T && rc == CLI_OK; col++)
        if (cdrl_figure_scatter(fig, 1, col, lv + (size_t)col * (size_t)n * 2, n, box[0], box[1],
                                box[2], box[3]) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "figure: out of memory");
    if (rc == CLI_OK) {
        char seed_s[32], step[32], levels[16], ks[16], ns[32], boxs[128];
        snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
        snprintf(step, sizeof step, "%ld", cdrl_model_step(m));
        snprintf(levels, sizeof levels, "%d", T);
        snprintf(ks, sizeof ks, "%d", c->n_langevin);
        snprintf(ns, sizeof ns, "%d", n);
        snprintf(boxs, sizeof boxs, "%g,%g,%g,%g", (double)box[0], (double)box[1], (double)box[2],
                 (double)box[3]);
        const char *keys[] = {"Software", "layout",         "checkpoint", "step", "seed",
                              "levels",   "langevin_steps", "samples",    "data", "box"};
        const char *vals[] = {"cdrl train",
                              "row 1: exp(logp) of the EBM of pair j = T..1 (left to right, EMA "
                              "weights, 200x200 grid, scaled to its max); "
                              "row 2: chain samples x_{j-1} after pair j (EMA weights, 2-D "
                              "histogram, log colour scale)",
                              ckpt,
                              step,
                              seed_s,
                              levels,
                              ks,
                              ns,
                              c->data,
                              boxs};
        if (cdrl_figure_save(fig, path, keys, vals, (int)(sizeof keys / sizeof keys[0])) != CDRL_OK)
            rc = cli_fail(CLI_FAIL, "%s: cannot write the figure", path);
    }
    cdrl_figure_free(fig);
    free(xy);
    free(lp);
    free(out);
    free(lv);
    return rc;
}

// On resume, metrics.jsonl keeps the records of the steps the checkpoint holds (a run that
// stopped after its last checkpoint has written some beyond it), rewritten through a temporary
// file, and the training clock goes on from the last of them: *t_train is its time_s and
// *t_eval_last the time_s of its last --eval-every record, so that time_s and the evaluation
// schedule continue as if the run had not stopped. A missing file is an empty one.
static int trim_metrics(const char *path, long start, double *t_train, double *t_eval_last) {
    *t_train = *t_eval_last = 0;
    FILE *in = fopen(path, "r");
    if (!in)
        return errno == ENOENT ? CLI_OK
                               : cli_die(CLI_FAIL, "%s: cannot open: %s", path, strerror(errno));
    char tmp[4200], line[65536];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return cli_die(CLI_FAIL, "%s: cannot write: %s", tmp, strerror(errno));
    }
    int ok = 1;
    errno = 0; // what a failure below leaves here is its reason
    while (ok && fgets(line, sizeof line, in)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "time_s");
        if (cJSON_IsNumber(step) && step->valuedouble <= (double)start) {
            ok = fputs(line, out) >= 0;
            if (cJSON_IsNumber(t) && t->valuedouble > *t_train) *t_train = t->valuedouble;
            if (cJSON_IsNumber(t) && cJSON_GetObjectItemCaseSensitive(j, "eval"))
                *t_eval_last = t->valuedouble;
        }
        cJSON_Delete(j);
    }
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0 || !ok || rename(tmp, path) != 0) {
        const int err = errno;
        remove(tmp);
        return cli_die(CLI_FAIL, "%s: cannot rewrite for the resume: %s", path,
                       err ? strerror(err) : "read or write failed");
    }
    return CLI_OK;
}

int cmd_train(int argc, char **argv) {
    train_opts o = {.data = NULL,
                    .out = "runs/demo",
                    .preset = "demo",
                    .iters = 1000,
                    .ckpt_every = 500,
                    .fig_every = 0,
                    .log_every = 10,
                    .eval_n = 5000,
                    .guidance = 1.0f};
    const train_opts def = o;
    cli_args a;
    cli_begin("train", 0, 0, NULL);
    int rc = cli_parse(&train_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&train_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("train", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    catch_stop_signals();
    if (o.resume && o.force)
        return cli_die(CLI_USAGE,
                       "--resume and --force exclude each other (see cdrl train --help)");
    if (o.resume && o.labels)
        return cli_die(CLI_USAGE, "--labels sets up a new run; --resume keeps the checkpoint's");
    cdrl_config probe;
    if (o.data && strlen(o.data) >= sizeof probe.data)
        return cli_die(CLI_USAGE, "--data: longer than %zu characters", sizeof probe.data - 1);
    if (cdrl_config_preset(&probe, o.preset) != CDRL_OK)
        return cli_die(CLI_USAGE, "--preset: unknown preset '%s' (" CDRL_PRESET_NAMES ")",
                       o.preset);

    char ckpt[4096], metrics[4096], figpath[4096];
    if (snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", o.out) >= (int)sizeof ckpt ||
        snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", o.out) >= (int)sizeof metrics ||
        snprintf(figpath, sizeof figpath, "%s/samples.png", o.out) >= (int)sizeof figpath)
        return cli_die(CLI_USAGE, "--out: path too long");

    // The model: from the checkpoint (resume) or from the preset and flags.
    cdrl_model *m = NULL;
    if (o.resume) {
        if (!cli_exists(ckpt)) return cli_die(CLI_FAIL, "--resume: no checkpoint %s", ckpt);
        if (cdrl_model_load(&m, ckpt) != CDRL_OK)
            return cli_fail(CLI_FAIL, "%s: cannot load the checkpoint", ckpt);
        if ((rc = check_resume(cdrl_model_config(m), &o, &a, argc, argv, ckpt)) != CLI_OK) {
            cdrl_model_free(m);
            return rc;
        }
    } else {
        if (cli_exists(ckpt) && !o.force)
            return cli_die(CLI_FAIL,
                           "%s exists: --resume continues it, --force starts afresh over it", ckpt);
        cdrl_config cfg;
        cdrl_config_preset(&cfg, o.preset);
        if ((rc = apply_flags(&cfg, &o, &a, argc, argv)) != CLI_OK) return rc;
        if (o.labels && (rc = labels_from_data(&cfg)) != CLI_OK) return rc;
        // A job of P processes needs P chunks at least: unless --set chose them, one chunk per
        // process, recorded in the checkpoint (one process with --set grad_chunks=P gives the
        // same bytes).
        if (cdrl_mpi_size() > 1 && cfg.grad_chunks <= 1) cfg.grad_chunks = cdrl_mpi_size();
        if (cdrl_model_create(&m, &cfg) != CDRL_OK)
            return cli_fail(CLI_FAIL, "invalid configuration");
    }
    const cdrl_config *cfg = cdrl_model_config(m);
    const int image = cfg->kind == CDRL_MODEL_IMAGE;
    // In a job of several processes rank 0 (the lead) alone writes: checkpoints, metrics,
    // figures, evaluations; every rank trains.
    const int lead = cdrl_mpi_rank() == 0;
    if (!cli_given(&train_cmd, &a, "iters")) o.iters = cfg->iters;
    if (image && !cli_given(&train_cmd, &a, "fig-every")) o.fig_every = 500;
    if (image && !cli_given(&train_cmd, &a, "eval-n")) o.eval_n = 500;
    // The yardstick: asked for by --eval-every (then it must exist), else used at the end
    // when the data's classifier is there.
    cdrl_yardstick *ys = NULL;
    char cls_path[4096];
    if (o.eval_every > 0.0f && !image) {
        cdrl_model_free(m);
        return cli_die(CLI_USAGE, "--eval-every is for image models (2-D runs: cdrl eval)");
    }
    if (lead && image &&
        (o.eval_every > 0.0f ||
         (!o.no_eval &&
          (o.classifier || (cli_default_classifier(cfg->data, cls_path, sizeof cls_path) == 0 &&
                            cli_exists(cls_path)))))) {
        if ((rc = cli_yardstick_open(&ys, o.classifier, cfg->data)) != CLI_OK ||
            (rc = cli_yardstick_check_model(cfg, ys, ckpt)) != CLI_OK) {
            cdrl_yardstick_free(ys);
            cdrl_model_free(m);
            return rc;
        }
    }
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, cfg->data) != CDRL_OK) {
        rc = cli_fail(CLI_FAIL, "cannot open the data '%s'", cfg->data);
        cdrl_model_free(m);
        return rc;
    }
    if (cdrl_dataset_dim(d) != cfg->dim) {
        if (image)
            rc =
                cli_die(CLI_FAIL,
                        "--data %s: its samples have %d values, the model takes %dx%dx%d images "
                        "(%d channels): pick data of that shape (docs/data.md: :padN pads)",
                        cfg->data, cdrl_dataset_dim(d), cfg->in_ch, cfg->res, cfg->res, cfg->in_ch);
        else
            rc = cli_die(CLI_FAIL,
                         "--data %s: images need an image preset (fmnist-cpu, "
                         "official-cifar10, tiny-image)",
                         cfg->data);
        goto done;
    }
    if (cfg->n_classes && cdrl_dataset_classes(d) != cfg->n_classes) {
        rc = cli_die(CLI_FAIL, "--data %s: %d classes, the conditional model has %d (--classes)",
                     cfg->data, cdrl_dataset_classes(d), cfg->n_classes);
        goto done;
    }
    if (lead && make_dirs(o.out) != 0) {
        rc = cli_die(CLI_FAIL, "%s: cannot create the folder: %s", o.out, strerror(errno));
        goto done;
    }
    const long start = cdrl_model_step(m);
    if (o.resume)
        printf("cdrl train: resuming %s at step %ld, training to step %ld\n", ckpt, start, o.iters);
    else
        printf("cdrl train: new run from preset %s, training to step %ld; checkpoint %s\n",
               o.preset, o.iters, ckpt);
    printf("configuration:\n");
    cli_print_config(cfg, stdout);
    printf("run:\n  %-20s %s\n  %-20s %ld\n  %-20s %ld\n  %-20s %ld\n  %-20s %ld\n  %-20s %d\n",
           "out", o.out, "iters", o.iters, "ckpt_every", o.ckpt_every, "fig_every", o.fig_every,
           "log_every", o.log_every, "threads", cdrl_threads());
    if (cdrl_mpi_size() > 1) printf("  %-20s %d\n", "processes", cdrl_mpi_size());
    fflush(stdout);
    if (start >= o.iters) {
        printf("cdrl train: the checkpoint is at step %ld, --iters is %ld: nothing to train\n",
               start, o.iters);
        goto done;
    }
    double t_before = 0, t_eval_last = 0; // training time of the run's earlier legs
    if (lead && o.resume && (rc = trim_metrics(metrics, start, &t_before, &t_eval_last)) != CLI_OK)
        goto done;
    FILE *mf = lead ? fopen(metrics, o.resume ? "a" : "w") : fopen("/dev/null", "w");
    if (!mf) {
        rc = cli_die(CLI_FAIL, "%s: cannot open: %s", metrics, strerror(errno));
        goto done;
    }
    float box[4];
    cdrl_dataset_bbox(d, box);

    cli_progress pr;
    cli_progress_init(&pr, start, o.iters, o.log_every);
    if (!lead) pr.bar = pr.lines = 0;
    const double t0 = cli_now() - t_before; // training time, counted from the run's first step
    double t_log = cli_now(), t_eval = 0;   // seconds spent evaluating in this leg
    long saved_step = o.resume ? start : -1, step_log = start;
    for (long step = start + 1; step <= o.iters; step++) {
        cdrl_train_stats st;
        cdrl_status s = cdrl_model_train_step(m, d, &st);
        if (s == CDRL_STATUS_DIVERGED) {
            cli_progress_end(&pr);
            cli_job_agreed = 1; // every rank of a job returns the same status (trainer.h)
            if (!lead) {        // the lead reports it
                (void)cli_take_errors();
                rc = CLI_FAIL;
                fclose(mf);
                goto done;
            }
            char where[4200];
            if (saved_step >= 0)
                snprintf(where, sizeof where, "%s left at step %ld", ckpt, saved_step);
            else
                snprintf(where, sizeof where, "no checkpoint written");
            rc = cli_die(CLI_FAIL, "diverged at step %ld (%s); the diverged state is not saved, %s",
                         step, cli_take_errors(), where);
            fclose(mf);
            goto done;
        }
        if (s != CDRL_OK) {
            cli_progress_end(&pr);
            rc = cli_fail(CLI_FAIL, "step %ld failed: %s", step, cdrl_status_str(s));
            fclose(mf);
            goto done;
        }
        cli_progress_step(&pr, &st);
        if (step % o.log_every == 0 || step == o.iters) {
            const double t = cli_now();
            cJSON *rec = cJSON_CreateObject();
            cJSON_AddNumberToObject(rec, "step", (double)step);
            cli_json_num(rec, "loss_ebm", (double)st.loss_ebm);
            cli_json_num(rec, "loss_init", (double)st.loss_init);
            cli_json_num(rec, "f_pos", (double)st.f_pos);
            cli_json_num(rec, "f_neg", (double)st.f_neg);
            cli_json_num(rec, "grad_norm_ebm", (double)st.grad_norm_ebm);
            cli_json_num(rec, "grad_norm_init", (double)st.grad_norm_init);
            cli_json_num(rec, "lr_ebm", (double)st.lr_ebm);
            cli_json_num(rec, "lr_init", (double)st.lr_init);
            cli_json_num(rec, "ms_per_it", 1e3 * (t - t_log) / (double)(step - step_log));
            cli_json_num(rec, "time_s", t - t0 - t_eval);
            if (cli_json_line(mf, rec) != 0) cli_warn("%s: cannot write a record", metrics);
            fflush(mf);
            t_log = t;
            step_log = step;
        }
        const int last = step == o.iters;
        if (ys && o.eval_every > 0.0f && !last &&
            cli_now() - t0 - t_eval - t_eval_last >= (double)o.eval_every) {
            cli_progress_end(&pr);
            const double te = cli_now();
            t_eval_last = te - t0 - t_eval;
            rc = cli_yardstick_train_eval(m, ys, o.eval_n, o.guidance, EVAL_SEED, mf, t_eval_last,
                                          0);
            const double dt =
                cli_now() - te; // ms_per_it, the log lines and the ETA count training only
            t_eval += dt;
            t_log += dt;
            pr.t_last_line += dt;
            pr.t_start += dt;
            if (rc != CLI_OK) {
                fclose(mf);
                goto done;
            }
        }
        stop_requested();
        if (cdrl_mpi_size() > 1) interrupted = cdrl_mpi_any(interrupted);
        if (interrupted || last || (o.ckpt_every > 0 && step % o.ckpt_every == 0)) {
            if (lead && cdrl_model_save(m, ckpt) != CDRL_OK) {
                cli_progress_end(&pr);
                rc = cli_fail(CLI_FAIL, "%s: cannot save the checkpoint", ckpt);
                fclose(mf);
                goto done;
            }
            saved_step = step;
        }
        if (interrupted) {
            cli_progress_end(&pr);
            fclose(mf);
            cli_job_agreed = 1;
            if (!lead) {
                rc = CLI_INTERRUPTED;
                goto done;
            }
            rc = cli_die(CLI_INTERRUPTED,
                         "interrupted at step %ld; checkpoint %s saved (continue with --resume)",
                         step, ckpt);
            goto done;
        }
        if (lead && !last && o.fig_every > 0 && step % o.fig_every == 0) {
            cli_progress_end(&pr);
            rc = image ? write_grid(m, o.out, figpath, ckpt, o.guidance, cfg->seed)
                       : write_figure(m, box, figpath, ckpt, o.eval_n, cfg->seed);
            if (rc != CLI_OK) {
                fclose(mf);
                goto done;
            }
        }
    }
    cli_progress_end(&pr);
    const double t_train = cli_now() - t0 - t_eval; // the final record's time_s
    release_stop_signals(); // the run is saved: Ctrl-C may now end the figures and evaluation
    printf("cdrl train: done, step %ld in %.1f s; checkpoint %s\n", cdrl_model_step(m),
           cli_now() - t0, ckpt);
    fflush(stdout);
    if (!lead) { // the figure and the evaluation are the lead's
        fclose(mf);
        goto done;
    }
    rc = image ? write_grid(m, o.out, figpath, ckpt, o.guidance, cfg->seed)
               : write_figure(m, box, figpath, ckpt, o.eval_n, cfg->seed);
    if (rc != CLI_OK) {
        fclose(mf);
        goto done;
    }
    printf("figure     %s\n", figpath);
    if (ys && !o.no_eval &&
        (rc = cli_yardstick_train_eval(m, ys, o.eval_n, o.guidance, EVAL_SEED, mf, t_train, 1)) !=
            CLI_OK) {
        fclose(mf);
        goto done;
    }
    if (!o.no_eval && !image) {
        cli_eval_opts eo;
        memset(&eo, 0, sizeof eo);
        cdrl_nll_params_init(&eo.nll);
        cli_default_box(d, eo.nll.box);
        eo.n = o.eval_n;
        eo.seed = EVAL_SEED;
        eo.mmd = 1;
        eo.n_k = 1;
        eo.k[0] = cfg->n_langevin;
        cli_eval_result r;
        memset(&r, 0, sizeof r);
        const int is_file = cdrl_dataset_points(d) != NULL;
        r.held_out = !is_file;
        if (is_file)
            snprintf(r.data, sizeof r.data, "%s", cfg->data);
        else
            snprintf(r.data, sizeof r.data, "%s, seed %d", cfg->data, EVAL_SEED);
        cdrl_status s = cli_evaluate(m, d, &eo, &r);
        if (s != CDRL_OK) {
            rc = r.why[0] ? cli_die(CLI_FAIL, "evaluation failed: %s", r.why)
                          : cli_fail(CLI_FAIL, "evaluation failed: %s", cdrl_status_str(s));
            fclose(mf);
            goto done;
        }
        cli_eval_print(&r, &eo, stdout);
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddNumberToObject(rec, "step", (double)cdrl_model_step(m));
        cJSON *e = cJSON_AddObjectToObject(rec, "eval");
        cli_json_num(e, "nll", r.nll.nll);
        cli_json_num(e, "grid_res", (double)r.nll.res);
        cli_json_num(e, "grid_change", r.nll.change);
        cli_json_num(e, "entropy", r.entropy);
        cli_json_num(e, "mmd", r.mmd[0]);
        cli_json_num(e, "mmd_data", r.mmd_data);
        cli_json_num(e, "langevin_steps", (double)eo.k[0]);
        cli_json_num(e, "n", (double)r.n_mmd);
        if (cli_json_line(mf, rec) != 0) rc = cli_die(CLI_FAIL, "%s: cannot write", metrics);
    }
    if (fclose(mf) != 0) rc = cli_die(CLI_FAIL, "%s: write failed", metrics);
done:
    cdrl_yardstick_free(ys);
    cdrl_dataset_free(d);
    cdrl_model_free(m);
    return rc;
}
