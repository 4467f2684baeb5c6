// Langevin dynamics for the recovery EBM of one pair of levels (method.md §2.2): starting from
// the initializer's proposal y (the scaled variable sqrt(kappa_j) x_{j-1}), K steps of
//   y <- y + m * (0.5 grad f(y, lambda_{j-1}) - b C_j (y - x_j) [j < T]) + sqrt(m h_j) xi,
// with m = 1 normally and m = K_train / K when sampling with fewer steps (§2.3: step size
// proportional to 1/sqrt(steps)). No Metropolis correction, no clipping (unless clip_data),
// noise on every step.
// Each sample of the batch may belong to a different pair j.
#ifndef CDRL_SAMPLER_LANGEVIN_H
#define CDRL_SAMPLER_LANGEVIN_H

#include "core/core.h"
#include "core/rng.h"
#include "diffusion/schedule.h"
#include "models/net.h"
#include "ops/ops.h"

// The conditioning of a conditional model's networks (method.md §7, §8): n terms, term i
// the labels c_i (B) and the weight w_i, combine the energies as
//   f = f(null) + sum_i (1 + w_i) [f(c_i) - f(null)]
// and the initializer's means alike. n = 0: f(null), i.e. the unconditional energy; one term
// with w = 0: f(c); one term with w > 0: classifier-free guidance (1 + w) f(c) - w f(null);
// several terms: the composition of their concepts.
typedef struct cdrl_cond {
    int n;
    const int *label[CDRL_SAMPLE_MAX_TERMS]; // (B) labels 1..K, 0 = null
    float w[CDRL_SAMPLE_MAX_TERMS];
} cdrl_cond;

// The conditioning of a plain labelled pass: one term of weight 0, or none without labels.
static inline cdrl_cond cdrl_cond_labels(const int *label) {
    cdrl_cond c = {.n = label != NULL, .label = {label}};
    return c;
}

// The coefficient of f(null) in the combination: 1 - sum_i (1 + w_i) (0 with one term of w = 0).
float cdrl_cond_null_weight(const cdrl_cond *c);

typedef struct cdrl_langevin_params {
    int n_steps;    // K
    float step_mul; // m = sz_mul^2 of the official code: 1, or K_train / K
    cdrl_cond cond; // the EBM's conditioning; {0}: unconditional
    // Inpainting (method.md §8): after every step y takes the values of known (B, dim) where
    // mask (B, dim) is non-zero; NULL: none.
    const float *known, *mask;
    int clip_data; // 1: the iterates of pair j = 1, whose cleaner level is the data (images,
                   // in [-1, 1]), are clamped to +-sqrt(kappa_1) after every step; 0: off
    int bf16;      // 1: the EBM's passes here run their convolution products with bfloat16
                   // operands (cdrl_set_precision), restored afterwards; 0: float
    // Test hook (NULL in normal use): called with k = 0 and the proposal y (B, dim) before the
    // first step, then after each step k = 1..K, so that a parity test can compare every
    // iterate with another implementation's. It may overwrite y: the parity test puts the
    // reference's iterate there, so that each step starts from the same point.
    void (*trace)(void *user, int k, float *y);
    void *trace_user;
} cdrl_langevin_params;

// grad (B, dim) = scale * d/dy f_c(y), f_c the combination of the conditioning c (cdrl_cond).
// f and df (B) are scratch.
void cdrl_guided_grad(const cdrl_net *ebm, float *grad, float *f, float *df, const float *y,
                      const int *level, const cdrl_cond *c, float scale, int B);

// The ebm must be prepared (cdrl_net.prepare, eval mode) on the schedule's tau table, so that
// level l is lambda_l. y (B, dim) is updated in place; anchor (B, dim) is x_j; pair (B) holds
// j in 1..T. noise (K, B, dim) gives the standard normal draws; NULL draws them from rng.
// scratch must hold cdrl_langevin_scratch_size(B, dim) bytes. Returns CDRL_STATUS_DIVERGED
// (and logs the step) when y stops being finite or leaves +-CDRL_CHAIN_BOUND.
size_t cdrl_langevin_scratch_size(int B, int dim);
cdrl_status cdrl_langevin_run(const cdrl_net *ebm, float *y, const float *anchor, const int *pair,
                              int B, const cdrl_schedule *s, const cdrl_langevin_params *lp,
                              const float *noise, cdrl_rng *rng, cdrl_arena *scratch);

// A chain is a runaway once a value leaves [-CDRL_CHAIN_BOUND, CDRL_CHAIN_BOUND]: far outside
// every data the models see (images in [-1, 1], 2-D data within +-8, noise of unit scale).
// An EBM that has become too steep for its step size sends its chains there long before they
// overflow to Inf, and training on such negatives only makes it steeper.
#define CDRL_CHAIN_BOUND 1e4f

#endif // CDRL_SAMPLER_LANGEVIN_H
