// `cdrl info CHECKPOINT`: what a checkpoint holds, like llm.c's config block: the
// configuration it was trained with (every cdrl_config field), its step, and the tensor table
// (name, shape, element count) with totals. Also the config printer `cdrl train` uses at start.
// Left out: tensor statistics (min/max/norm) and diffs between checkpoints.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli/cli.h"

void cli_print_config(const cdrl_config *c, FILE *f) {
    char buf[4096];
    if (cdrl_config_to_json(c, buf, sizeof buf) < 0) {
        fprintf(f, "  (configuration too long to print)\n");
        return;
    }
    cJSON *o = cJSON_Parse(buf);
    for (const cJSON *v = o ? o->child : NULL; v; v = v->next) {
        if (cJSON_IsString(v))
            fprintf(f, "  %-20s %s\n", v->string, v->valuestring);
        else if (cJSON_IsNumber(v))
            fprintf(f, "  %-20s %.9g\n", v->string, v->valuedouble);
        else if (cJSON_IsArray(v)) { // the lists, as --set takes them: 1,2,2,2
            fprintf(f, "  %-20s ", v->string);
            for (const cJSON *e = v->child; e; e = e->next)
                fprintf(f, "%s%.9g", e == v->child ? "" : ",", e->valuedouble);
            fputc('\n', f);
        }
    }
    cJSON_Delete(o);
}

typedef struct info_opts {
    int verbose;
} info_opts;

static const cli_opt info_table[] = {
    {"verbose", 'v', CLI_FLAG, offsetof(info_opts, verbose), NULL,
     "print the library's info messages", NULL, 0, 0},
};

static const cli_cmd info_cmd = {
    "info",
    "[options] CHECKPOINT",
    "Prints a checkpoint's configuration, training step and tensor table. CHECKPOINT is a\n"
    "model.safetensors file or a run folder holding one.",
    "cdrl info runs/demo/model.safetensors",
    info_table,
    (int)(sizeof info_table / sizeof info_table[0]),
    1,
    1,
};

int cmd_info(int argc, char **argv) {
    info_opts o = {0}, def = {0};
    cli_args a;
    cli_begin("info", 0, 0, NULL);
    int rc = cli_parse(&info_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&info_cmd, &def, stdout);
        return CLI_OK;
    }
    cli_begin("info", o.verbose, 0, NULL);
    char path[4096];
    if (cli_model_path(a.pos[0], path, sizeof path) != 0)
        return cli_die(CLI_USAGE, "path too long");
    cdrl_model *m = NULL;
    if (cdrl_model_load(&m, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot load the checkpoint", path);
    printf("checkpoint  %s\n", path);
    printf("step        %ld\n", cdrl_model_step(m));
    printf("config:\n");
    cli_print_config(cdrl_model_config(m), stdout);
    printf("tensors:\n  %-44s %-16s %s\n", "name", "shape", "numel");
    char name[256];
    size_t numel = 0, total = 0;
    int n = 0;
    for (; cdrl_model_tensor(m, n, name, sizeof name, &numel); n++) {
        int64_t shape[4];
        char shp[64];
        int nd = cdrl_model_tensor_shape(m, n, shape), k = 0;
        shp[0] = '\0';
        for (int d = 0; d < nd && k >= 0 && (size_t)k < sizeof shp; d++)
            k += snprintf(shp + k, sizeof shp - (size_t)k, "%s%lld", d ? "x" : "",
                          (long long)shape[d]);
        printf("  %-44s %-16s %zu\n", name, shp, numel);
        total += numel;
    }
    printf("total       %d tensors, %zu floats (%.2f MB)\n", n, total, (double)total * 4.0 / 1e6);
    cdrl_model_free(m);
    return CLI_OK;
}
