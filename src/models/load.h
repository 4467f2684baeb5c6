// Loading network weights by name from a safetensors file: every tensor of a parameter table
// is looked up as "<prefix><name>" and must be float32 with exactly the table's shape. Used
// for weights converted from the official CDRL checkpoints (tools/convert_official.py,
// docs/formats.md "Official checkpoints"): ebm.*, init.*, ebm_ema.*, init_ema.*. Checks come
// before any copy, so a failed load leaves the destination untouched. Leaves out dtype
// conversion (the converter writes float32) and any renaming (names are the official keys).
#ifndef CDRL_MODELS_LOAD_H
#define CDRL_MODELS_LOAD_H

#include "cdrl.h"
#include "io/safetensors.h"
#include "models/img_ebm.h"
#include "models/unet.h"
#include "nn/param.h"

// dst[p->offset ...] = tensor "<prefix><p->name>" for every entry p of t (dst holds t->total
// floats; padding untouched). CDRL_STATUS_MISMATCH, logged with the file, the tensor and
// expected vs found, when one is missing, not float32 or of another shape; dst is then
// unchanged. prefix may be "" but not NULL.
cdrl_status cdrl_param_table_load(const cdrl_param_table *t, float *dst, const cdrl_st_file *f,
                                  const char *prefix);
// The EBM's parameters (into p_own) and spectral-norm buffers weight_u / weight_v (into buf)
// from "<prefix><key>"; nothing is copied unless both succeed. Call cdrl_img_ebm_prepare
// afterwards. EMA weights (parameters only) load with cdrl_param_table_load(&m->params, ...)
// into a buffer of m->params.total floats that m->p then points at.
cdrl_status cdrl_img_ebm_load_named(cdrl_img_ebm *m, const cdrl_st_file *f, const char *prefix);
// The U-Net's parameters (it has no buffers) into p_own; call cdrl_unet_prepare afterwards.
cdrl_status cdrl_unet_load_named(cdrl_unet *m, const cdrl_st_file *f, const char *prefix);

#endif // CDRL_MODELS_LOAD_H
