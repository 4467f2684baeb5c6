// Name-based weight loading (load.h): validate every tensor first, then copy.
#include "models/load.h"

#include <stdio.h>
#include <string.h>

#include "core/core.h"

static void shape_str(char *s, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(s, n, "(");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(s + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(s + k, n - k, ")");
}

// CDRL_OK when every tensor of t is present, float32 and of its shape.
static cdrl_status check_table(const cdrl_param_table *t, const cdrl_st_file *f,
                               const char *prefix) {
    char name[CDRL_PARAM_NAME_MAX + 64], want[96], got[96];
    for (int i = 0; i < t->count; i++) {
        const cdrl_param *p = &t->items[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const cdrl_st_tensor *x = cdrl_st_find(f, name);
        if (!x)
            return cdrl_fail(CDRL_STATUS_MISMATCH, "%s: tensor '%s' missing", cdrl_st_path(f),
                             name);
        if (x->dtype != CDRL_ST_F32)
            return cdrl_fail(CDRL_STATUS_MISMATCH, "%s: tensor '%s' is %s, not F32",
                             cdrl_st_path(f), name, cdrl_st_dtype_name(x->dtype));
        int same = x->ndim == p->ndim;
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++) {
            shape[d] = p->shape[d];
            same = same && x->shape[d] == shape[d];
        }
        if (!same) {
            shape_str(want, sizeof want, p->ndim, shape);
            shape_str(got, sizeof got, x->ndim, x->shape);
            return cdrl_fail(
                CDRL_STATUS_MISMATCH,
                "%s: tensor '%s' has shape %s, the network needs %s (another configuration?)",
                cdrl_st_path(f), name, got, want);
        }
    }
    return CDRL_OK;
}

static void copy_table(const cdrl_param_table *t, float *dst, const cdrl_st_file *f,
                       const char *prefix) {
    char name[CDRL_PARAM_NAME_MAX + 64];
    for (int i = 0; i < t->count; i++) {
        const cdrl_param *p = &t->items[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const cdrl_st_tensor *x = cdrl_st_find(f, name);
        memcpy(dst + p->offset, x->data, sizeof(float) * p->numel);
    }
}

cdrl_status cdrl_param_table_load(const cdrl_param_table *t, float *dst, const cdrl_st_file *f,
                                  const char *prefix) {
    CDRL_ASSERT(t && dst && f && prefix);
    cdrl_status st = check_table(t, f, prefix);
    if (st == CDRL_OK) copy_table(t, dst, f, prefix);
    return st;
}

cdrl_status cdrl_img_ebm_load_named(cdrl_img_ebm *m, const cdrl_st_file *f, const char *prefix) {
    CDRL_ASSERT(m && f && prefix);
    cdrl_status st = check_table(&m->params, f, prefix);
    if (st == CDRL_OK) st = check_table(&m->buffers, f, prefix);
    if (st != CDRL_OK) return st;
    copy_table(&m->params, m->p_own, f, prefix);
    copy_table(&m->buffers, m->buf, f, prefix);
    return CDRL_OK;
}

cdrl_status cdrl_unet_load_named(cdrl_unet *m, const cdrl_st_file *f, const char *prefix) {
    CDRL_ASSERT(m && f && prefix);
    return cdrl_param_table_load(&m->params, m->p_own, f, prefix);
}
