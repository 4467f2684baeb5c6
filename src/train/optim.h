// Optimisation helpers over flat parameter buffers (one buffer per network, llm.c-style):
// Adam and AdamW exactly as torch.optim (PyTorch 1.12, non-fused), global-norm gradient
// clipping as torch.nn.utils.clip_grad_norm_, the EMA of torch_ema with its warm-up ramp,
// and the two learning-rate warm-ups of the official code (method.md §4.2).
#ifndef CDRL_TRAIN_OPTIM_H
#define CDRL_TRAIN_OPTIM_H

#include <stddef.h>

typedef struct cdrl_adam_params {
    float lr;           // learning rate of this step (after the warm-up schedule)
    float beta1, beta2; // 0.9, 0.999
    float eps;          // 1e-8
    float weight_decay; // Adam: added to the gradient (L2); AdamW: decoupled decay
    int decoupled;      // 0 = Adam, 1 = AdamW
} cdrl_adam_params;

// Defaults of torch.optim.Adam (decoupled = 0, weight_decay 0) for a given lr.
cdrl_adam_params cdrl_adam_params_default(float lr);

// One update of n parameters. m, v (n) are the moment buffers (zero at step 1); step is the
// 1-based count of updates including this one (bias correction). grad is not modified.
void cdrl_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                    const cdrl_adam_params *p);

// Global L2 norm of the gradient; when it exceeds max_norm, scales grad in place by
// max_norm / (norm + 1e-6). Returns the norm before clipping (NaN/Inf propagate).
float cdrl_clip_grad_norm(float *grad, size_t n, float max_norm);

// EMA decay after n_updates earlier updates: min(decay, (1 + n) / (10 + n)) (torch_ema with
// use_num_updates, counting this update).
float cdrl_ema_decay(float decay, long n_updates);
// shadow -= (1 - d) * (shadow - param)
void cdrl_ema_update(float *shadow, const float *param, size_t n, float d);

// Learning-rate multipliers of the official LambdaLR warm-ups; k = scheduler steps taken so
// far (0 for the first update). EBM: min(1, k / warmup) (first update has lr 0); initializer:
// min(1, (k + offset) / warmup) with offset 500 in the official code. warmup 0: always 1.
float cdrl_warmup_linear(long k, long warmup);
float cdrl_warmup_offset(long k, long warmup, long offset);
// Cosine decay (not in the official code): 0.5 (1 + cos(pi min(k, n) / n)); n = 0 gives 1.
float cdrl_cosine_decay(long k, long n);

#endif // CDRL_TRAIN_OPTIM_H
