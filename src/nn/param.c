// Parameter tables (see param.h).
#include "nn/param.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

void cdrl_param_table_init(cdrl_param_table *t) { memset(t, 0, sizeof *t); }

void cdrl_param_table_deinit(cdrl_param_table *t) {
    cdrl_free(t->items);
    memset(t, 0, sizeof *t);
}

size_t cdrl_param_add(cdrl_param_table *t, int ndim, const int *shape, const char *fmt, ...) {
    CDRL_ASSERT(ndim >= 1 && ndim <= 4);
    if (t->count == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        cdrl_param *items = cdrl_malloc(sizeof(cdrl_param) * (size_t)cap);
        CDRL_ASSERT(items); // tables are a few kB: running out here is not recoverable
        if (t->count) memcpy(items, t->items, sizeof(cdrl_param) * (size_t)t->count);
        cdrl_free(t->items);
        t->items = items;
        t->cap = cap;
    }
    cdrl_param *p = &t->items[t->count++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    CDRL_ASSERT(n > 0 && n < CDRL_PARAM_NAME_MAX);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    const size_t align = CDRL_ALIGN / sizeof(float);
    p->offset = (t->total + align - 1) / align * align;
    t->total = p->offset + p->numel;
    return p->offset;
}

const cdrl_param *cdrl_param_find(const cdrl_param_table *t, const char *name) {
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->items[i].name, name) == 0) return &t->items[i];
    return NULL;
}

void cdrl_param_init_uniform(float *x, size_t n, float bound, cdrl_rng *rng) {
    cdrl_rng_uniform(rng, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (2.0f * x[i] - 1.0f) * bound;
}
