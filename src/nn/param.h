// Parameter tables: each network keeps all its trainable tensors in one flat float buffer,
// carved by a table of {name, shape, offset}. The same table sizes and lays out the gradient,
// the Adam moments and the EMA copy, names the tensors in checkpoints (the names are the
// PyTorch twin's state_dict keys) and lets Adam, clipping and EMA run as one flat loop (llm.c).
// Every tensor starts on a 64-byte boundary; the padding between tensors stays zero.
#ifndef CDRL_NN_PARAM_H
#define CDRL_NN_PARAM_H

#include <stddef.h>

#include "cdrl.h"
#include "core/rng.h"

#define CDRL_PARAM_NAME_MAX 96

typedef struct cdrl_param {
    char name[CDRL_PARAM_NAME_MAX];
    int ndim;
    int shape[4];
    size_t numel;
    size_t offset; // in floats, from the start of the buffer
} cdrl_param;

typedef struct cdrl_param_table {
    cdrl_param *items;
    int count, cap;
    size_t total; // floats, padding included
} cdrl_param_table;

void cdrl_param_table_init(cdrl_param_table *t);
void cdrl_param_table_deinit(cdrl_param_table *t);
// Appends a tensor (ndim 1..4) and returns its offset. The name is printf-formatted.
size_t cdrl_param_add(cdrl_param_table *t, int ndim, const int *shape, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
// The entry called name, or NULL.
const cdrl_param *cdrl_param_find(const cdrl_param_table *t, const char *name);
// x[i] ~ U(-bound, bound): PyTorch's nn.Linear / nn.Conv2d default for weights and biases
// with bound = 1/sqrt(fan_in).
void cdrl_param_init_uniform(float *x, size_t n, float bound, cdrl_rng *rng);

#endif // CDRL_NN_PARAM_H
