// Public models, files (api/model.h, docs/formats.md). A checkpoint is one safetensors file with
//   ebm.<name>, init.<name>             parameters (and the EBM's spectral-norm u, v)
//   ebm_ema.<name>, init_ema.<name>     EMA copies
//   ebm_adam_m.<name>, ebm_adam_v.<name>, init_adam_m.<name>, init_adam_v.<name>
// and metadata format, version, config (JSON), step and rng (key stream counter); image models
// add drop_rng, the U-Net's dropout stream (key stream counter), so that resume is exact.
// Weights-only files converted from official checkpoints (tools/convert_official.py) hold the
// first four groups. Both are read by one reader that checks every tensor's shape first
// (nn/param_file.h).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/model.h"
#include "cdrl.h"
#include "core/core.h"

#define CKPT_FORMAT  "cdrl-checkpoint"
#define CKPT_VERSION "1"

cdrl_status cdrl_model_save(const cdrl_model *m, const char *path) {
    cdrl_st_writer *w = cdrl_st_writer_create();
    cdrl_param_group g[10];
    const int n = cdrl_model_groups(m, g);
    cdrl_status st = w ? cdrl_param_groups_write(w, g, n)
                       : cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    char buf[4096];
    if (st == CDRL_OK && cdrl_config_to_json(&m->cfg, buf, sizeof buf) < 0)
        st = cdrl_fail(CDRL_STATUS_INVALID, "%s: configuration too long", path);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "format", CKPT_FORMAT);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "version", CKPT_VERSION);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "config", buf);
    if (st == CDRL_OK) {
        snprintf(buf, sizeof buf, "%ld", m->tr.step);
        st = cdrl_st_writer_meta(w, "step", buf);
    }
    if (st == CDRL_OK) {
        snprintf(buf, sizeof buf, "%llu %llu %llu", (unsigned long long)m->tr.rng.key,
                 (unsigned long long)m->tr.rng.stream, (unsigned long long)m->tr.rng.counter);
        st = cdrl_st_writer_meta(w, "rng", buf);
    }
    if (st == CDRL_OK && m->unet) {
        const cdrl_rng *r = &m->unet->drop_rng;
        snprintf(buf, sizeof buf, "%llu %llu %llu", (unsigned long long)r->key,
                 (unsigned long long)r->stream, (unsigned long long)r->counter);
        st = cdrl_st_writer_meta(w, "drop_rng", buf);
    }
    if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
    cdrl_st_writer_free(w);
    return st;
}

// ---------------------------------------------------------------------------------------
// Weights-only files of official checkpoints (tools/convert_official.py, docs/formats.md)

#define WEIGHTS_FORMAT "cdrl-image-weights"

// An int entry of a JSON object; 0 (with *ok cleared) when absent or not a number.
static int json_int(const cJSON *o, const char *key, int *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) *ok = 0;
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

// A JSON int array into out (at most max entries); its length, or -1 (with *ok cleared).
static int json_ints(const cJSON *o, const char *key, int *out, int max, int *ok) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max) {
        *ok = 0;
        return -1;
    }
    int n = 0;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e)) *ok = 0;
        out[n++] = e->valueint;
    }
    return n;
}

// The converter's {"ebm": {...}, "unet": {...}} sizes as an image cdrl_config: the
// official-cifar10 preset (schedule, training settings) with these networks.
static cdrl_status weights_config(cdrl_config *c, const char *json, const char *path) {
    cdrl_config_preset(c, "official-cifar10");
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "ebm");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "unet");
    int ok = cJSON_IsObject(e) && cJSON_IsObject(u), mults[CDRL_UNET_MAX_LEVELS];
    const int in_ch = json_int(e, "in_ch", &ok), temb = json_int(e, "temb_dim", &ok);
    const int u_in = json_int(u, "in_ch", &ok), u_res = json_int(u, "resolution", &ok);
    const int classes_e = json_int(e, "n_classes", &ok), classes_u = json_int(u, "n_classes", &ok);
    c->in_ch = in_ch;
    c->res = json_int(e, "res", &ok);
    c->dim = c->in_ch * c->res * c->res;
    c->ebm_ch = json_int(e, "ch", &ok);
    c->ebm_blocks = json_int(e, "n_blocks", &ok);
    c->ebm_n_mult = json_ints(e, "ch_mult", c->ebm_ch_mult, CDRL_CONFIG_MAX_MULT, &ok);
    c->unet_dim = json_int(u, "dim", &ok);
    c->unet_levels = json_ints(u, "dim_mults", mults, CDRL_UNET_MAX_LEVELS, &ok);
    c->unet_res_blocks = json_int(u, "num_res_blocks", &ok);
    c->unet_n_attn = json_ints(u, "attn_resolutions", c->unet_attn, CDRL_CONFIG_MAX_ATTN, &ok);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "dropout");
    ok = ok && cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 1;
    if (ok) c->unet_dropout = (float)d->valuedouble;
    c->data[0] = '\0'; // the training data is not recorded
    cJSON_Delete(root);
    if (!ok)
        return cdrl_fail(
            CDRL_STATUS_FORMAT,
            "%s: the config metadata lacks an entry of {\"ebm\": {in_ch, res, ch, "
            "ch_mult, n_blocks, temb_dim, n_classes}, \"unet\": {in_ch, resolution, "
            "dim, dim_mults, num_res_blocks, attn_resolutions, dropout in [0, 1], n_classes}}",
            path);
    for (int l = 0; l < c->unet_levels; l++)
        if (mults[l] != 1)
            return cdrl_fail(CDRL_STATUS_MISMATCH,
                             "%s: U-Net dim_mults entry %d is %d; cdrl's U-Net takes 1 everywhere "
                             "(the official models)",
                             path, l, mults[l]);
    if (classes_e != 0 || classes_u != 0)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "%s: a class-conditional model (n_classes %d, U-Net %d); cdrl loads "
                         "unconditional ones only",
                         path, classes_e, classes_u);
    if (u_in != in_ch || u_res != c->res || temb != c->ebm_ch)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "%s: EBM and U-Net sizes disagree (in_ch %d and %d, res %d and resolution "
                         "%d, temb_dim %d must equal ch %d)",
                         path, in_ch, u_in, c->res, u_res, temb, c->ebm_ch);
    return CDRL_OK;
}

// A model from a weights-only file: weights and EMA copies from the file, fresh optimiser
// state, step = the EBM's EMA update count when recorded.
static cdrl_status load_weights(cdrl_model **out, const cdrl_st_file *f, const char *path) {
    const char *version = cdrl_st_meta(f, "version"),
               *n_upd = cdrl_st_meta(f, "ebm_ema.num_updates");
    if (!version || strcmp(version, "1") != 0)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: weights file version %s, this cdrl reads version 1", path,
                         version ? version : "?");
    cdrl_config c;
    cdrl_status st = weights_config(&c, cdrl_st_meta(f, "config"), path);
    cdrl_model *m = NULL;
    if (st == CDRL_OK) st = cdrl_model_create(&m, &c);
    if (st == CDRL_OK) { // a checkpoint's groups without the four Adam moments, its last
        cdrl_param_group g[10];
        st = cdrl_param_groups_read(g, cdrl_model_groups(m, g) - 4, f);
    }
    if (st != CDRL_OK) {
        cdrl_model_free(m);
        return st;
    }
    if (n_upd) m->tr.step = strtol(n_upd, NULL, 10);
    *out = m;
    return CDRL_OK;
}

// A checkpoint's configuration decides the model's size before its tensors can be checked
// against it: the model it asks for may take at most this many times the file's bytes (or
// CKPT_MIN_BUDGET), so that a small hostile file cannot make cdrl allocate gigabytes. The
// checkpoints made here take 3 (official CIFAR-10 networks, batch 4) to 118 (a 90 KB toy
// model) times their size.
#define CKPT_BUDGET_FACTOR 256
#define CKPT_MIN_BUDGET    ((size_t)1 << 30)

static cdrl_status load_checkpoint(cdrl_model **out, const char *path);

cdrl_status cdrl_model_load(cdrl_model **out, const char *path) {
    struct stat sb;
    const size_t file = stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
    const size_t budget =
        file * CKPT_BUDGET_FACTOR > CKPT_MIN_BUDGET ? file * CKPT_BUDGET_FACTOR : CKPT_MIN_BUDGET;
    cdrl_alloc_budget_set(budget);
    cdrl_status st = load_checkpoint(out, path);
    const int refused = cdrl_alloc_budget_refused();
    cdrl_alloc_budget_set(0);
    if (st != CDRL_OK && refused)
        cdrl_log(CDRL_LOG_ERROR,
                 "%s: its configuration asks for more memory than a checkpoint of %zu bytes "
                 "warrants (at most %zu MB)",
                 path, file, budget >> 20);
    return st;
}

static cdrl_status load_checkpoint(cdrl_model **out, const char *path) {
    *out = NULL;
    cdrl_st_file *f = NULL;
    cdrl_status st = cdrl_st_load(&f, path);
    if (st != CDRL_OK) return st;
    if (cdrl_st_meta(f, "format") && strcmp(cdrl_st_meta(f, "format"), WEIGHTS_FORMAT) == 0) {
        st = load_weights(out, f, path);
        cdrl_st_free(f);
        return st;
    }
    const char *format = cdrl_st_meta(f, "format"), *version = cdrl_st_meta(f, "version");
    const char *cfg_json = cdrl_st_meta(f, "config"), *step = cdrl_st_meta(f, "step"),
               *rng = cdrl_st_meta(f, "rng");
    cdrl_config c;
    cdrl_config_toy_official(&c);
    unsigned long long key, stream, counter;
    if (!format || strcmp(format, CKPT_FORMAT) != 0 || !cfg_json || !step || !rng ||
        sscanf(rng, "%llu %llu %llu", &key, &stream, &counter) != 3) {
        st = cdrl_fail(CDRL_STATUS_FORMAT,
                       "%s: not a cdrl checkpoint (metadata format/config/step/rng missing)", path);
    } else if (!version || strcmp(version, CKPT_VERSION) != 0) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: checkpoint version %s, this cdrl reads version %s",
                       path, version ? version : "?", CKPT_VERSION);
    } else if ((st = cdrl_config_from_json(&c, cfg_json)) != CDRL_OK) {
        cdrl_log(CDRL_LOG_ERROR, "%s: bad configuration in the metadata", path);
    }
    unsigned long long dkey = 0, dstream = 0, dcounter = 0;
    if (st == CDRL_OK && c.kind == CDRL_MODEL_IMAGE) {
        const char *drop = cdrl_st_meta(f, "drop_rng");
        if (!drop || sscanf(drop, "%llu %llu %llu", &dkey, &dstream, &dcounter) != 3)
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: image checkpoint without its dropout stream (metadata drop_rng)",
                           path);
    }
    cdrl_model *m = NULL;
    if (st == CDRL_OK) st = cdrl_model_create(&m, &c);
    if (st == CDRL_OK) {
        cdrl_param_group g[10];
        st = cdrl_param_groups_read(g, cdrl_model_groups(m, g), f);
    }
    if (st == CDRL_OK) {
        m->tr.step = strtol(step, NULL, 10);
        m->tr.rng.key = key;
        m->tr.rng.stream = stream;
        m->tr.rng.counter = counter;
        if (m->unet) {
            m->unet->drop_rng.key = dkey;
            m->unet->drop_rng.stream = dstream;
            m->unet->drop_rng.counter = dcounter;
        }
        *out = m;
    } else {
        cdrl_model_free(m);
    }
    cdrl_st_free(f);
    return st;
}
