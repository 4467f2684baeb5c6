// The noise schedule of CDRL (method.md §1): the cosine-type logSNR schedule over T levels and
// every per-level and per-pair constant the trainer and sampler need, computed once in double.
// Levels j = 0..T (0 is the data); pair j = 1..T models level j-1 given level j.
#ifndef CDRL_DIFFUSION_SCHEDULE_H
#define CDRL_DIFFUSION_SCHEDULE_H

#include "core/core.h"

// How the Langevin step size scales across pairs: images use C_j = sqrt(1-g_{j-1})/sqrt(1-g_0)
// per pair, the official toy code the constant C = 1/sqrt(1-g_0).
typedef enum cdrl_step_scale {
    CDRL_STEP_SCALE_IMAGE = 0,
    CDRL_STEP_SCALE_TOY = 1,
} cdrl_step_scale;

typedef struct cdrl_schedule {
    int T;                 // number of noise intervals (pairs); 6 in every official setting
    double logsnr_min;     // -5.1
    double logsnr_max;     // 9.8
    double b;              // step-size constant: 2e-4 images, 1e-3 toy
    cdrl_step_scale scale; // how C_j is computed
    // per level j = 0..T
    double logsnr[CDRL_MAX_LEVELS + 1];   // lambda_j
    double g[CDRL_MAX_LEVELS + 1];        // signal variance sigmoid(lambda_j)
    double sqrt_g[CDRL_MAX_LEVELS + 1];   // sqrt(g_j)
    double sqrt_1mg[CDRL_MAX_LEVELS + 1]; // sqrt(1 - g_j)
    double tau[CDRL_MAX_LEVELS + 1];      // embedding input tau(lambda_j)
    // per pair j = 1..T (index 0 unused)
    double r[CDRL_MAX_LEVELS + 1];          // g_j / g_{j-1}
    double kappa[CDRL_MAX_LEVELS + 1];      // r_j, but 1 at the top pair j = T
    double sigma[CDRL_MAX_LEVELS + 1];      // sqrt(1 - r_j)
    double beta_tilde[CDRL_MAX_LEVELS + 1]; // (1-g_{j-1})/(1-g_j) * (1 - r_j)
    double c[CDRL_MAX_LEVELS + 1];          // step-size scale C_j
    double h[CDRL_MAX_LEVELS + 1];          // Langevin noise variance 2 b C_j sigma_j^2
    double tether[CDRL_MAX_LEVELS + 1];     // b C_j on ||y - x_j||^2, 0 at j = T
    double init_std[CDRL_MAX_LEVELS + 1];   // initializer noise sqrt(beta_tilde_j kappa_j)
    double loss_w[CDRL_MAX_LEVELS + 1];     // sigma_1 / sigma_j
} cdrl_schedule;

// Fills s for T levels (1 <= T <= CDRL_MAX_LEVELS) between logsnr_max and logsnr_min.
void cdrl_schedule_init(cdrl_schedule *s, int T, double logsnr_min, double logsnr_max, double b,
                        cdrl_step_scale scale);
// The official image (T 6, b 2e-4, per-pair C_j) and toy (T 6, b 1e-3, constant C) settings.
void cdrl_schedule_init_image(cdrl_schedule *s);
void cdrl_schedule_init_toy(cdrl_schedule *s);
// Lambda(u) = -2 ln tan(A u + B), u in [0, 1].
double cdrl_schedule_logsnr(const cdrl_schedule *s, double u);

#endif // CDRL_DIFFUSION_SCHEDULE_H
