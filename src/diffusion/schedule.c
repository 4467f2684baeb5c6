// The logSNR schedule and its per-level constants (method.md §1.2–§1.4), in double precision.
#include "diffusion/schedule.h"

#include <math.h>

#include "core/core.h"

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

double cdrl_schedule_logsnr(const cdrl_schedule *s, double u) {
    double B = atan(exp(-s->logsnr_max / 2));
    double A = atan(exp(-s->logsnr_min / 2)) - B;
    return -2.0 * log(tan(A * u + B));
}

void cdrl_schedule_init(cdrl_schedule *s, int T, double logsnr_min, double logsnr_max, double b,
                        cdrl_step_scale scale) {
    CDRL_ASSERT(T >= 1 && T <= CDRL_MAX_LEVELS && logsnr_min < logsnr_max && b > 0);
    *s = (cdrl_schedule){
        .T = T, .logsnr_min = logsnr_min, .logsnr_max = logsnr_max, .b = b, .scale = scale};
    for (int j = 0; j <= T; j++) {
        double lam = cdrl_schedule_logsnr(s, (double)j / T);
        double lam_c = fmin(20.0, fmax(-20.0, lam)); // the embedding clamps (inactive here)
        s->logsnr[j] = lam;
        s->g[j] = sigmoid(lam);
        s->sqrt_g[j] = sqrt(s->g[j]);
        s->sqrt_1mg[j] = sqrt(sigmoid(-lam)); // 1 - g without cancellation
        s->tau[j] = 1000.0 * (2.0 / CDRL_PI) * atan(exp(-lam_c / 2));
    }
    double noise0 = sigmoid(-s->logsnr[0]); // 1 - g_0
    for (int j = 1; j <= T; j++) {
        double noise_prev = sigmoid(-s->logsnr[j - 1]), noise = sigmoid(-s->logsnr[j]);
        s->r[j] = s->g[j] / s->g[j - 1];
        s->kappa[j] = j < T ? s->r[j] : 1.0;
        s->sigma[j] = sqrt(1.0 - s->r[j]);
        s->beta_tilde[j] = noise_prev / noise * (1.0 - s->r[j]);
        s->c[j] =
            scale == CDRL_STEP_SCALE_IMAGE ? sqrt(noise_prev) / sqrt(noise0) : 1.0 / sqrt(noise0);
        s->h[j] = 2.0 * b * s->c[j] * s->sigma[j] * s->sigma[j];
        s->tether[j] = j < T ? b * s->c[j] : 0.0;
        s->init_std[j] = sqrt(s->beta_tilde[j] * s->kappa[j]);
    }
    for (int j = 1; j <= T; j++)
        s->loss_w[j] = s->sigma[1] / s->sigma[j];
}

void cdrl_schedule_init_image(cdrl_schedule *s) {
    cdrl_schedule_init(s, 6, -5.1, 9.8, 2e-4, CDRL_STEP_SCALE_IMAGE);
}

void cdrl_schedule_init_toy(cdrl_schedule *s) {
    cdrl_schedule_init(s, 6, -5.1, 9.8, 1e-3, CDRL_STEP_SCALE_TOY);
}
