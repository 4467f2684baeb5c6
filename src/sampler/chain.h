// Sampling from noise to data (method.md §6): for j = T..1 the initializer proposes
// y0 = mu(x_j, lambda_j) + sqrt(beta~_j kappa_j) xi, Langevin refines it, and
// x_{j-1} = y / (sqrt(kappa_j) + 1e-8); images finish with one Tweedie denoising step.
// The networks must hold the weights to sample with (the EMA copies, normally).
#ifndef CDRL_SAMPLER_CHAIN_H
#define CDRL_SAMPLER_CHAIN_H

#include "sampler/langevin.h"

typedef struct cdrl_chain_params {
    int n_langevin;     // K per level (15; fewer for accelerated sampling); 0: the initializer's
                        // proposals alone (no Langevin; set tweedie 0 for no denoising either)
    int n_langevin_ref; // K_ref the step size is set for (the training K, or the config's
                        // langevin_ref_steps): multiplier K_ref / K, method.md §2.3
    int tweedie;        // 1 for images: the final denoising step
    cdrl_cond cond;     // both networks' conditioning (langevin.h); {0}: unconditional
    // Inpainting (method.md §8): where mask (B, dim) is non-zero the data-level values known
    // (B, dim) are observed; every level keeps them at their forward-noised value (one draw per
    // level) and the output holds them exactly. NULL: none.
    const float *known, *mask;
    int resample;  // jumps back per level (RePaint): each level runs 1 + resample times, x_{j-1}
                   // noised forward to level j in between; 0: none
    int clip_data; // Langevin's clip_data (langevin.h): the config's langevin_clip
    int bf16;      // Langevin's bf16 (langevin.h): the config's langevin_bf16
    // Test hook (NULL in normal use), handed to every level's Langevin run (langevin.h): sees
    // each level's proposal and iterates, pair T first.
    void (*trace)(void *user, int k, float *y);
    void *trace_user;
} cdrl_chain_params;

size_t cdrl_chain_scratch_size(int B, int dim);
// Given noise for replaying another implementation's chain; NULL members come from rng.
typedef struct cdrl_chain_noise {
    const float *xi_init;     // (T, B, dim), row j-1 for pair j
    const float *xi_langevin; // (T, K, B, dim), likewise
} cdrl_chain_noise;

// x (B, dim): on entry x_T (standard normal noise, e.g. from rng; with inpainting the chain
// sets the observed values of it), on exit the samples.
// levels, when not NULL, receives x_{j-1} after each pair: (T, B, dim), pair T first.
// Prepares both networks (eval mode) on the schedule's tau table. Noise comes from noise
// (may be NULL) or rng.
cdrl_status cdrl_chain_run(const cdrl_net *ebm, const cdrl_net *init, float *x, float *levels,
                           int B, const cdrl_schedule *s, const cdrl_chain_params *cp,
                           const cdrl_chain_noise *noise, cdrl_rng *rng, cdrl_arena *scratch);

#endif // CDRL_SAMPLER_CHAIN_H
