// Optimisation over flat parameter buffers (one buffer per network, llm.c-style): Adam and
// AdamW exactly as torch.optim (PyTorch 1.12, non-fused), global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_, the EMA of torch_ema with its warm-up ramp, and the two
// learning-rate warm-ups of the official code (method.md §4.2).
#ifndef CDRL_TRAIN_OPTIM_H
#define CDRL_TRAIN_OPTIM_H

#include <stddef.h>

// The kernels (cdrl_adam_step, cdrl_clip_grad_norm, cdrl_ema_update) and cdrl_adam_params are
// backend ops: ops/ops.h.
#include "ops/ops.h"

// Defaults of torch.optim.Adam (decoupled = 0, weight_decay 0) for a given lr.
cdrl_adam_params cdrl_adam_params_default(float lr);

// EMA decay after n_updates earlier updates: min(decay, (1 + n) / (10 + n)) (torch_ema with
// use_num_updates, counting this update).
float cdrl_ema_decay(float decay, long n_updates);

// Learning-rate multipliers of the official LambdaLR warm-ups; k = scheduler steps taken so
// far (0 for the first update). EBM: min(1, k / warmup) (first update has lr 0); initializer:
// min(1, (k + offset) / warmup) with offset 500 in the official code. warmup 0: always 1.
float cdrl_warmup_linear(long k, long warmup);
float cdrl_warmup_offset(long k, long warmup, long offset);
// Cosine decay (not in the official code): 0.5 (1 + cos(pi min(k, n) / n)); n = 0 gives 1.
float cdrl_cosine_decay(long k, long n);

#endif // CDRL_TRAIN_OPTIM_H
