// `cdrl energy`: the energies f of a batch of points or images under one EBM of a checkpoint,
// and optionally their gradients df/dx, as JSON on stdout or a safetensors file. Level j
// means pair j's EBM (j = 1..T, j = 1 the data level), which sees y = sqrt(kappa_j) x at the
// noise level lambda_{j-1}; f is the raw network output f(sqrt(kappa_j) x, lambda_{j-1}) and
// the log density is f / h_j (cdrl_model_energy, cdrl_model_langevin_h; method.md §2). Inputs:
// PNG files (mapped to [-1, 1] as v / 127.5 - 1) or a float32 safetensors tensor. --model
// also takes the weights-only files of official checkpoints (tools/convert_official.py).
// Left out: class labels (unconditional models only).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "cli/cli.h"

typedef struct energy_opts {
    const char *model, *png, *tensor, *output;
    int level, grad, ema, no_ema, json, threads, verbose;
    const char *backend;
} energy_opts;

#define O(f) offsetof(energy_opts, f)
static const cli_opt energy_table[] = {
    {"model", 'm', CLI_STR, O(model), "PATH",
     "checkpoint, run folder, or weights file of tools/convert_official.py", NULL, 0, 0},
    {"png", 0, CLI_STR, O(png), "FILE...",
     "images: one or more PNG files (the model's channels and size), mapped to [-1, 1]", NULL, 0,
     0},
    {"tensor", 0, CLI_STR, O(tensor), "FILE[:NAME]",
     "a float32 tensor (n, dim) or (n, C, H, W); NAME: its only tensor, or x", NULL, 0, 0},
    {"level", 'l', CLI_INT, O(level), "J",
     "pair J's EBM, 1..T (1: the data level; it sees lambda_{J-1})", NULL, 1, 32},
    {"grad", 'g', CLI_FLAG, O(grad), NULL, "also df/dx, shaped as the input", NULL, 0, 0},
    {"ema", 0, CLI_FLAG, O(ema), NULL, "the EMA weights", "on", 0, 0},
    {"no-ema", 0, CLI_FLAG, O(no_ema), NULL, "the trained weights instead of their EMA", NULL, 0,
     0},
    {"output", 'o', CLI_STR, O(output), "FILE",
     "write f (and dfdx) to a safetensors file instead of printing JSON", NULL, 0, 0},
    {"json", 0, CLI_FLAG, O(json), NULL, "print JSON on stdout (also with -o)", "on without -o", 0,
     0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd energy_cmd = {
    "energy",
    "[options] (--png FILE... | --tensor FILE[:NAME])",
    "Prints or saves the energies f(x) of pair J's EBM at a batch of inputs: f is the raw\n"
    "network output f(sqrt(kappa_J) x, lambda_{J-1}) (higher: more probable); the log density\n"
    "is f / h_J, and h_J is reported alongside. --grad adds df/dx.",
    "cdrl energy --model runs/fmnist --png a.png b.png --level 1 --grad -o energies.safetensors",
    energy_table,
    (int)(sizeof energy_table / sizeof energy_table[0]),
    0,
    0,
};

// ---------------------------------------------------------------------------------------
// Inputs

typedef struct energy_input {
    float *x; // (n, dim)
    int n;
    int ndim;                        // of one sample's shape, plus the batch dimension
    int64_t shape[CDRL_ST_MAX_DIMS]; // (n, ...): the shape df/dx is written with
} energy_input;

// PNG files, each (res, res) with the model's channel count, as (n, C, H, W) in [-1, 1].
static int read_pngs(energy_input *in, const cdrl_config *c, const char **files, int n) {
    const size_t D = (size_t)c->dim;
    in->x = malloc(sizeof(float) * D * (size_t)n);
    if (!in->x) return cli_die(CLI_FAIL, "out of memory for %d images", n);
    in->n = n;
    in->ndim = 4;
    in->shape[0] = n;
    in->shape[1] = c->in_ch;
    in->shape[2] = in->shape[3] = c->res;
    for (int i = 0; i < n; i++)
        if (cli_read_image(c, files[i], in->x + (size_t)i * D) != CLI_OK) return CLI_FAIL;
    return CLI_OK;
}

// FILE[:NAME]: the whole argument when it names a file, else split at the last ':'.
static int read_tensor(energy_input *in, const cdrl_config *c, const char *spec) {
    char path[4096];
    const char *name = NULL, *colon = strrchr(spec, ':');
    if (snprintf(path, sizeof path, "%s", spec) >= (int)sizeof path)
        return cli_die(CLI_USAGE, "--tensor: path too long");
    if (!cli_exists(spec) && colon) {
        path[colon - spec] = '\0';
        name = colon + 1;
    }
    cdrl_st_file *f = NULL;
    if (cdrl_st_load(&f, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot read the tensor file", path);
    const cdrl_st_tensor *t = NULL;
    if (name && *name)
        t = cdrl_st_find(f, name);
    else if (cdrl_st_count(f) == 1)
        t = cdrl_st_at(f, 0);
    else
        t = cdrl_st_find(f, name = "x");
    int rc = CLI_OK;
    if (!t) {
        rc = name ? cli_die(CLI_FAIL, "%s: no tensor '%s'", path, name)
                  : cli_die(CLI_FAIL, "%s: holds %d tensors and none named x: name one as %s:NAME",
                            path, cdrl_st_count(f), path);
    } else if (t->dtype != CDRL_ST_F32) {
        rc = cli_die(CLI_FAIL, "%s: tensor '%s' is %s, not F32", path, t->name,
                     cdrl_st_dtype_name(t->dtype));
    } else {
        // (n, dim), or (n, C, H, W) with the model's image shape
        int fits = t->ndim == 2 && t->shape[1] == c->dim;
        if (c->kind == CDRL_MODEL_IMAGE && t->ndim == 4)
            fits = t->shape[1] == c->in_ch && t->shape[2] == c->res && t->shape[3] == c->res;
        char shp[160];
        int k = 0;
        shp[0] = '\0';
        for (int d = 0; d < t->ndim && k >= 0 && (size_t)k < sizeof shp; d++)
            k += snprintf(shp + k, sizeof shp - (size_t)k, "%s%lld", d ? ", " : "",
                          (long long)t->shape[d]);
        if (!fits || t->shape[0] < 1 || t->shape[0] > 100000000) {
            if (c->kind == CDRL_MODEL_IMAGE)
                rc = cli_die(CLI_FAIL,
                             "%s: tensor '%s' has shape (%s), the model takes (n, %d) or "
                             "(n, %d, %d, %d) with n >= 1",
                             path, t->name, shp, c->dim, c->in_ch, c->res, c->res);
            else
                rc = cli_die(CLI_FAIL,
                             "%s: tensor '%s' has shape (%s), the model takes (n, %d) "
                             "with n >= 1",
                             path, t->name, shp, c->dim);
        } else {
            in->n = (int)t->shape[0];
            in->ndim = t->ndim;
            memcpy(in->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
            in->x = malloc(sizeof(float) * t->numel);
            if (!in->x)
                rc = cli_die(CLI_FAIL, "out of memory for %d inputs", in->n);
            else
                memcpy(in->x, t->data, sizeof(float) * t->numel);
        }
    }
    cdrl_st_free(f);
    return rc;
}

// ---------------------------------------------------------------------------------------
// Outputs

// One JSON object on stdout: model, level, ema, h, n, shape, inputs, f, log_density and, with
// --grad, dfdx (n rows of dim).
static int print_json(const char *model, const energy_opts *o, double h, const energy_input *in,
                      const char **files, int n_files, const float *fx, const float *g, int dim) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddNumberToObject(j, "level", o->level);
    cJSON_AddBoolToObject(j, "ema", !o->no_ema);
    cli_json_num(j, "h", h);
    cJSON_AddNumberToObject(j, "n", in->n);
    cJSON *shape = cJSON_AddArrayToObject(j, "shape"),
          *inputs = cJSON_AddArrayToObject(j, "inputs");
    for (int d = 0; d < in->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)in->shape[d]));
    for (int i = 0; files && i < n_files; i++)
        cJSON_AddItemToArray(inputs, cJSON_CreateString(files[i]));
    if (!files) cJSON_AddItemToArray(inputs, cJSON_CreateString(o->tensor));
    cJSON *f = cJSON_AddArrayToObject(j, "f"), *lp = cJSON_AddArrayToObject(j, "log_density");
    for (int i = 0; i < in->n; i++) {
        cJSON_AddItemToArray(f, cJSON_CreateNumber((double)fx[i]));
        cJSON_AddItemToArray(lp, cJSON_CreateNumber((double)fx[i] / h));
    }
    if (g) {
        cJSON *dx = cJSON_AddArrayToObject(j, "dfdx");
        for (int i = 0; i < in->n; i++) {
            cJSON *row = cJSON_CreateArray();
            for (int k = 0; k < dim; k++)
                cJSON_AddItemToArray(
                    row, cJSON_CreateNumber((double)g[(size_t)i * (size_t)dim + (size_t)k]));
            cJSON_AddItemToArray(dx, row);
        }
    }
    return cli_json_line(stdout, j);
}

static int write_st(const char *path, const char *model, const energy_opts *o, double h,
                    const energy_input *in, const float *fx, const float *g) {
    cdrl_st_writer *w = cdrl_st_writer_create();
    if (!w) return cli_die(CLI_FAIL, "out of memory");
    char level[16], hs[32];
    snprintf(level, sizeof level, "%d", o->level);
    snprintf(hs, sizeof hs, "%.9g", h);
    const int64_t n = in->n;
    cdrl_status st = cdrl_st_writer_add_f32(w, "f", 1, &n, fx);
    if (st == CDRL_OK && g) st = cdrl_st_writer_add_f32(w, "dfdx", in->ndim, in->shape, g);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "format", "cdrl-energy");
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "model", model);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "level", level);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "ema", o->no_ema ? "0" : "1");
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "h", hs);
    if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
    cdrl_st_writer_free(w);
    return st == CDRL_OK ? CLI_OK : cli_fail(CLI_FAIL, "%s: cannot write", path);
}

// ---------------------------------------------------------------------------------------

// Takes `--png A B ...` and `--png=A` out of argv (the option parser takes one value per
// option): the files are the words after --png up to the next one starting with '-'.
static int take_pngs(int *argc, char **argv, const char **files) {
    int n = 0, k = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) { // the rest is not ours to look at
            while (i < *argc)
                argv[k++] = argv[i++];
            break;
        }
        if (strncmp(argv[i], "--png=", 6) == 0 && argv[i][6]) {
            files[n++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--png") == 0) {
            int got = 0;
            while (i + 1 < *argc && argv[i + 1][0] != '-')
                files[n++] = argv[++i], got++;
            if (!got) return -1;
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    return n;
}

int cmd_energy(int argc, char **argv) {
    energy_opts o = {.level = 1}, def = o;
    cli_args a;
    cli_begin("energy", 0, 0, NULL);
    const char **files = malloc(sizeof(char *) * ((size_t)argc + 1));
    char **args = malloc(sizeof(char *) * ((size_t)argc + 1));
    if (!files || !args) {
        free(files);
        free(args);
        return cli_die(CLI_FAIL, "out of memory");
    }
    memcpy(args, argv, sizeof(char *) * (size_t)argc);
    int n_args = argc;
    const int n_files = take_pngs(&n_args, args, files);
    int rc = n_files < 0 ? cli_die(CLI_USAGE, "option '--png' needs a value (FILE...) (see cdrl "
                                              "energy --help)")
                         : cli_parse(&energy_cmd, n_args, args, &o, &a);
    free(args);
    if (rc == CLI_OK && a.help) {
        cli_help(&energy_cmd, &def, stdout);
        free(files);
        return CLI_OK;
    }
    if (rc == CLI_OK && !o.model)
        rc = cli_die(CLI_USAGE, "--model is required (see cdrl energy --help)");
    else if (rc == CLI_OK && (n_files > 0) == (o.tensor != NULL))
        rc = cli_die(CLI_USAGE, "give either --png FILE... or --tensor FILE[:NAME] (see cdrl "
                                "energy --help)");
    else if (rc == CLI_OK && o.ema && o.no_ema)
        rc = cli_die(CLI_USAGE, "--ema and --no-ema contradict each other");
    if (rc != CLI_OK) {
        free(files);
        return rc;
    }
    if (cli_begin("energy", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    char path[4096];
    if (cli_model_path(o.model, path, sizeof path) != 0) {
        free(files);
        return cli_die(CLI_USAGE, "--model: path too long");
    }
    cdrl_model *m = NULL;
    if (cdrl_model_load(&m, path) != CDRL_OK) {
        free(files);
        return cli_fail(CLI_FAIL, "%s: cannot load the checkpoint", path);
    }
    const cdrl_config *c = cdrl_model_config(m);
    energy_input in = {0};
    float *fx = NULL, *g = NULL;
    if (o.level > c->n_levels)
        rc = cli_die(CLI_USAGE, "--level %d: the model has levels 1..%d", o.level, c->n_levels);
    else if (n_files > 0 && c->kind != CDRL_MODEL_IMAGE)
        rc = cli_die(CLI_FAIL, "%s: a 2-D model: give its points with --tensor, not --png", path);
    else
        rc = n_files > 0 ? read_pngs(&in, c, files, n_files) : read_tensor(&in, c, o.tensor);
    if (rc == CLI_OK) {
        fx = malloc(sizeof(float) * (size_t)in.n);
        g = o.grad ? malloc(sizeof(float) * (size_t)in.n * (size_t)c->dim) : NULL;
        if (!fx || (o.grad && !g)) rc = cli_die(CLI_FAIL, "out of memory for %d inputs", in.n);
    }
    if (rc == CLI_OK && cdrl_model_energy(m, fx, g, in.x, in.n, o.level, !o.no_ema) != CDRL_OK)
        rc = cli_fail(CLI_FAIL, "%s: energies failed", path);
    const double h = cdrl_model_langevin_h(m, o.level);
    if (rc == CLI_OK && o.output) rc = write_st(o.output, path, &o, h, &in, fx, g);
    if (rc == CLI_OK && (o.json || !o.output)) {
        if (print_json(path, &o, h, &in, n_files > 0 ? files : NULL, n_files, fx, g, c->dim) != 0)
            rc = cli_die(CLI_FAIL, "cannot write the JSON output");
    } else if (rc == CLI_OK)
        printf("%d energies (level %d, %s weights%s) -> %s\n", in.n, o.level,
               o.no_ema ? "trained" : "EMA", g ? ", with df/dx" : "", o.output);
    free(fx);
    free(g);
    free(in.x);
    free(files);
    cdrl_model_free(m);
    return rc;
}
