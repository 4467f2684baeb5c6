// Parameter tables to and from safetensors files (param_file.h): check everything, then copy.
#include "nn/param_file.h"

#include <stdio.h>
#include <string.h>

#include "core/core.h"

static void shape_str(char *s, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(s, n, "(");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(s + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(s + k, n - k, ")");
}

static void tensor_name(char *name, size_t n, const char *prefix, const cdrl_param *p) {
    snprintf(name, n, "%s%s", prefix, p->name);
}

// CDRL_OK when every tensor of the group is present, float32 and of its shape.
static cdrl_status check_group(const cdrl_param_group *g, const cdrl_st_file *f) {
    char name[CDRL_PARAM_NAME_MAX + 64], want[96], got[96];
    for (int i = 0; i < g->table->count; i++) {
        const cdrl_param *p = &g->table->items[i];
        tensor_name(name, sizeof name, g->prefix, p);
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

cdrl_status cdrl_param_groups_read(const cdrl_param_group *g, int n, const cdrl_st_file *f) {
    CDRL_ASSERT(g && f);
    for (int k = 0; k < n; k++) {
        cdrl_status st = check_group(&g[k], f);
        if (st != CDRL_OK) return st;
    }
    char name[CDRL_PARAM_NAME_MAX + 64];
    for (int k = 0; k < n; k++)
        for (int i = 0; i < g[k].table->count; i++) {
            const cdrl_param *p = &g[k].table->items[i];
            tensor_name(name, sizeof name, g[k].prefix, p);
            memcpy(g[k].data + p->offset, cdrl_st_find(f, name)->data, sizeof(float) * p->numel);
        }
    return CDRL_OK;
}

cdrl_status cdrl_param_groups_write(cdrl_st_writer *w, const cdrl_param_group *g, int n) {
    char name[CDRL_PARAM_NAME_MAX + 64];
    cdrl_status st = CDRL_OK;
    for (int k = 0; k < n && st == CDRL_OK; k++)
        for (int i = 0; i < g[k].table->count && st == CDRL_OK; i++) {
            const cdrl_param *p = &g[k].table->items[i];
            int64_t shape[4];
            for (int d = 0; d < p->ndim; d++)
                shape[d] = p->shape[d];
            tensor_name(name, sizeof name, g[k].prefix, p);
            st = cdrl_st_writer_add_f32(w, name, p->ndim, shape, g[k].data + p->offset);
        }
    return st;
}
