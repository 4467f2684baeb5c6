// Parameter tables to and from safetensors files. A group is one table's tensors under a name
// prefix ("ebm.", "init_ema.", ...) and the buffer that holds them (the parameters, an EMA copy,
// an Adam moment). Reading checks every tensor of every group first (present, float32, exactly
// the table's shape), so a failed read names the tensor and leaves every buffer untouched.
// Checkpoints (api/checkpoint.c) and the weights converted from official checkpoints
// (tools/convert_official.py) are both read here.
#ifndef CDRL_NN_PARAM_FILE_H
#define CDRL_NN_PARAM_FILE_H

#include "cdrl.h"
#include "nn/param.h"

typedef struct cdrl_param_group {
    const char *prefix;
    const cdrl_param_table *table;
    float *data; // table->total floats
} cdrl_param_group;

// Copies tensor "<prefix><name>" of f into data + offset for every entry of every group, or
// returns CDRL_STATUS_MISMATCH (logged with the file, the tensor and expected vs found) when
// one is missing, not float32 or of another shape; nothing is copied then.
cdrl_status cdrl_param_groups_read(const cdrl_param_group *g, int n, const cdrl_st_file *f);
// Adds every tensor of every group to w as "<prefix><name>" (borrowed until cdrl_st_writer_save).
cdrl_status cdrl_param_groups_write(cdrl_st_writer *w, const cdrl_param_group *g, int n);

#endif // CDRL_NN_PARAM_FILE_H
