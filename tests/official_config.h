// The network configurations stored in an official-code fixture's "config" metadata,
// {"ebm": {...}, "unet": {...}} (tools/convert_official.py and ref/official_image_iter.py
// write the same form), and loading the converted weights by name: shared by test_official.c and
// test_official_iter.c.
#ifndef CDRL_TESTS_OFFICIAL_CONFIG_H
#define CDRL_TESTS_OFFICIAL_CONFIG_H

#include <cjson/cJSON.h>
#include <string.h>

#include "models/img_ebm.h"
#include "models/unet.h"
#include "nn/param_file.h"
#include "test_util.h"

static inline int json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CDRL_ASSERT(cJSON_IsNumber(v));
    return v->valueint;
}

// Fills out[] from a JSON int array; returns its length.
static inline int json_ints(const cJSON *o, const char *key, int *out, int max) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;
    CDRL_ASSERT(cJSON_IsArray(a) && cJSON_GetArraySize(a) <= max);
    int n = 0;
    cJSON_ArrayForEach(e, a) out[n++] = e->valueint;
    return n;
}

static inline void official_configs(const cdrl_st_file *f, cdrl_img_ebm_config *e,
                                    cdrl_unet_config *u) {
    cJSON *root = cJSON_Parse(cdrl_st_meta(f, "config"));
    CDRL_ASSERT(root);
    const cJSON *je = cJSON_GetObjectItemCaseSensitive(root, "ebm");
    const cJSON *ju = cJSON_GetObjectItemCaseSensitive(root, "unet");
    CDRL_ASSERT(je && ju);
    cdrl_img_ebm_config_default(e);
    e->in_ch = json_int(je, "in_ch");
    e->res = json_int(je, "res");
    e->ch = json_int(je, "ch");
    e->temb_dim = json_int(je, "temb_dim");
    e->n_blocks = json_int(je, "n_blocks");
    e->n_classes = json_int(je, "n_classes");
    e->n_mult = json_ints(je, "ch_mult", e->ch_mult, 8);
    memset(u, 0, sizeof *u);
    u->in_ch = json_int(ju, "in_ch");
    u->resolution = json_int(ju, "resolution");
    u->dim = json_int(ju, "dim");
    u->n_levels = json_ints(ju, "dim_mults", u->dim_mults, CDRL_UNET_MAX_LEVELS);
    u->num_res_blocks = json_int(ju, "num_res_blocks");
    u->n_attn = json_ints(ju, "attn_resolutions", u->attn_resolutions, CDRL_UNET_MAX_ATTN);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ju, "dropout");
    CDRL_ASSERT(cJSON_IsNumber(d));
    u->dropout = (float)d->valuedouble;
    u->n_classes = json_int(ju, "n_classes");
    cJSON_Delete(root);
}

// Loading by name through the checkpoint reader (nn/param_file.h): a table into dst, and an
// EBM's parameters and spectral-norm buffers together.
static inline cdrl_status load_table(const cdrl_param_table *t, float *dst, const cdrl_st_file *f,
                                     const char *prefix) {
    const cdrl_param_group g = {prefix, t, dst};
    return cdrl_param_groups_read(&g, 1, f);
}
static inline cdrl_status load_ebm(cdrl_img_ebm *m, const cdrl_st_file *f, const char *prefix) {
    const cdrl_param_group g[2] = {{prefix, &m->base.params, m->base.p_own},
                                   {prefix, &m->base.buffers, m->base.buf}};
    return cdrl_param_groups_read(g, 2, f);
}

#endif // CDRL_TESTS_OFFICIAL_CONFIG_H
