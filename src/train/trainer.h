// One CDRL training iteration (method.md §4.1) for any pair of networks behind cdrl_net: the
// energy network f (Adam) and the initializer mu (AdamW), with warm-ups, global-norm clipping
// and EMA copies of both. Conditional models get class labels, of which a share becomes the null
// label (method.md §7). The randomness of an iteration (label drops, pairs, diffusion noise,
// initializer noise, Langevin noise) can be supplied from outside, which is how the parity
// tests replay the draws of the official code and of the PyTorch twin.
#ifndef CDRL_TRAIN_TRAINER_H
#define CDRL_TRAIN_TRAINER_H

#include "core/core.h"
#include "core/rng.h"
#include "diffusion/schedule.h"
#include "models/net.h"

typedef struct cdrl_train_params {
    int batch;               // B
    int n_langevin;          // K = 15
    float step_mul;          // Langevin step multiplier m (langevin.h): 1, or K_ref / K
    float lr_ebm;            // 3e-6 toy, 1e-4 images
    float lr_init;           // 1e-5
    long warmup_ebm;         // 10000: lr_ebm * min(1, k / warmup_ebm)
    long warmup_init;        // 10000: lr_init * min(1, (k + offset) / warmup_init)
    long warmup_init_offset; // 500
    long decay_iters; // 0 (official: constant); else both rates follow a cosine to 0 at this step
    float ema_ebm, ema_init; // 0.9999
    int ema_ramp;            // 1 (official): decay min(d, (1+n)/(10+n)); 0: d from the start
    float clip;              // 1.0: global-norm clipping of each network's gradient
    float beta1, beta2, eps; // Adam(W): 0.9, 0.999, 1e-8
    float wd_init;           // AdamW weight decay of the initializer: 0
    float init_data_weight;  // diagnostic: weight of the data pair's x_{j-1} in the initializer's
                             // target (0)
    int n_attrs;       // label attributes: batches come with A labels per sample, each dropped
                       // to the null label at label_drop on its own; 0: unconditional
    float label_drop;  // share of class labels replaced by the null label: 0.1 (p_cond)
    int langevin_clip; // Langevin's clip_data (langevin.h): 0 (official)
    int langevin_bf16; // Langevin's bf16 (langevin.h): 0 (official)
    int grad_chunks;   // C >= 1: the batch is cut into C fixed chunks of rows, each run through
                       // the whole iteration on its own, their gradients added in chunk order;
                       // the processes of a data-parallel job (core/dist.h) share the chunks,
                       // so that any process count up to C gives the same bytes. 1 (or 0): one pass
} cdrl_train_params;

// All random draws of one iteration.
typedef struct cdrl_step_noise {
    int *pair;          // (B) j in 1..T
    float *eps;         // (B, dim) shared by x_j and x_{j-1}
    float *xi_init;     // (B, dim) initializer noise
    float *xi_langevin; // (K, B, dim)
    float *label_u;     // (B, A) uniforms deciding the label drops (conditional models)
} cdrl_step_noise;

typedef struct cdrl_step_stats {
    float loss_ebm;      // mean_n w_j (f- - f+)
    float loss_init;     // mean_n sum_d (sqrt(kappa) x^ - y0)^2
    float f_pos, f_neg;  // batch means of f+ and f-
    float grad_norm_ebm; // before clipping
    float grad_norm_init;
    float lr_ebm, lr_init; // learning rates used by this iteration's updates
} cdrl_step_stats;

typedef struct cdrl_trainer {
    cdrl_train_params tp;
    cdrl_schedule sched;
    cdrl_net ebm, init;
    long step; // iterations completed
    cdrl_rng rng;
    float *ebm_m, *ebm_v, *ebm_ema, *init_m, *init_v, *init_ema;
    float tau[CDRL_MAX_LEVELS + 1];
    // per-iteration buffers (B rows)
    cdrl_step_noise noise;
    int *level_ebm, *level_init;
    int *label; // (B, A) the labels fed to both networks: class + 1, or 0 where dropped
    float *x_j, *y_pos, *f_pos, *f_neg, *df, *mu, *y0, *y, *y_neg, *dmu;
    float *row[6];     // (B) each: per-sample constants of the noise levels, filled each step
    float *xi_chunk;   // (K, rows of a chunk, dim) a chunk's Langevin noise (C > 1)
    double *loss_init; // (C) each chunk's initializer loss sum
    float *grad_sum;   // (ebm + init parameters) the gradients summed over the chunks (C > 1)
    float *grad_own;   // (chunks of this process, ebm + init parameters): on processes after
                       // the first, each own chunk's gradients until the sum passes by
    cdrl_arena mem;    // every buffer above, then the Langevin temporaries of each step
    // Test hook (NULL in normal use): handed to the Langevin run of each step (langevin.h).
    void (*langevin_trace)(void *user, int k, float *y);
    void *langevin_trace_user;
} cdrl_trainer;

// Takes the networks (borrowed; they must outlive the trainer). The EMA copies start equal to
// the parameters and the moments at zero, as in PyTorch. The rng is seeded with seed.
// CDRL_STATUS_INVALID when grad_chunks is not in 1..batch or below the process count.
cdrl_status cdrl_trainer_init(cdrl_trainer *t, const cdrl_train_params *tp, const cdrl_schedule *s,
                              cdrl_net ebm, cdrl_net init, uint64_t seed);
void cdrl_trainer_deinit(cdrl_trainer *t);
// Draws this iteration's noise from the trainer's rng into t->noise.
void cdrl_trainer_draw_noise(cdrl_trainer *t);
// One iteration on the batch x (B, dim) with the noise in nz; cls (B, A) holds the classes
// 0..K-1 of a conditional model's batch (NULL otherwise): class k becomes label k + 1, or the
// null label 0 where nz->label_u < label_drop.
// CDRL_STATUS_DIVERGED when a loss, a gradient or a sample is not finite: then no weight, moment or
// EMA copy has changed (the spectral-norm vectors have taken their power iteration). In a job
// of several processes every process draws the whole batch's noise, runs its own chunks and
// returns the same status; a divergence names the lowest rank that saw it.
cdrl_status cdrl_trainer_step_with_noise(cdrl_trainer *t, const float *x, const int *cls,
                                         const cdrl_step_noise *nz, cdrl_step_stats *stats);
// Draws the noise, then cdrl_trainer_step_with_noise.
cdrl_status cdrl_trainer_step(cdrl_trainer *t, const float *x, const int *cls,
                              cdrl_step_stats *stats);

#endif // CDRL_TRAIN_TRAINER_H
