// The sampling chain (see chain.h).
#include "sampler/chain.h"

#include <math.h>

size_t cdrl_chain_scratch_size(int B, int dim) {
    size_t nd = (size_t)B * (size_t)dim;
    return 10 * cdrl_arena_floats_size((size_t)B) + 4 * cdrl_arena_floats_size(nd) +
           cdrl_langevin_scratch_size(B, dim);
}

// obs (B, D) = a known + b eps with eps fresh standard normal draws (in eps) and every row's
// coefficients a, b (rows_a, rows_b: scratch).
static void observed(float *obs, float *rows_a, float *rows_b, float *eps, const float *known,
                     float a, float b, int B, int D, cdrl_rng *rng) {
    for (int n = 0; n < B; n++)
        rows_a[n] = a, rows_b[n] = b;
    cdrl_rng_normal(rng, eps, (size_t)B * (size_t)D);
    cdrl_rows_axpby(obs, rows_a, known, rows_b, eps, B, D);
}

// The initializer's mean under the conditioning c: y = sum_i (1 + w_i) mu(x, c_i) + a_null
// mu(x, null); tmp (B, D) is scratch. One term keeps the guidance form (1 + w) mu(c) - w mu(0).
static void init_mean(const cdrl_net *init, float *y, float *tmp, const float *x, const int *level,
                      const cdrl_cond *c, float a_null, int B) {
    const size_t nd = (size_t)B * (size_t)init->dim;
    init->forward(init->impl, y, x, level, c->n ? c->label[0] : NULL, B);
    if (c->n == 1) {
        if (c->w[0] != 0.0f) { // mu_w = (1 + w) mu(x, c) - w mu(x, 0)
            init->forward(init->impl, tmp, x, level, NULL, B);
            cdrl_guidance_mix(y, tmp, c->w[0], nd);
        }
        return;
    }
    if (c->n == 0) return;
    cdrl_scale(y, y, 1.0f + c->w[0], nd);
    for (int i = 1; i < c->n; i++) {
        init->forward(init->impl, tmp, x, level, c->label[i], B);
        cdrl_axpy(y, 1.0f + c->w[i], tmp, nd);
    }
    if (a_null != 0.0f) {
        init->forward(init->impl, tmp, x, level, NULL, B);
        cdrl_axpy(y, a_null, tmp, nd);
    }
}

cdrl_status cdrl_chain_run(const cdrl_net *ebm, const cdrl_net *init, float *x, float *levels,
                           int B, const cdrl_schedule *s, const cdrl_chain_params *cp,
                           const cdrl_chain_noise *noise, cdrl_rng *rng, cdrl_arena *scratch) {
    const int D = ebm->dim, T = s->T;
    const size_t nd = (size_t)B * (size_t)D;
    const size_t mark = cdrl_arena_mark(scratch);
    int *pair = (int *)cdrl_arena_floats(scratch, (size_t)B);
    int *level = (int *)cdrl_arena_floats(scratch, (size_t)B);
    float *f = cdrl_arena_floats(scratch, (size_t)B);
    float *df = cdrl_arena_floats(scratch, (size_t)B);
    float *row_a = cdrl_arena_floats(scratch, (size_t)B); // per-sample constants of the level
    float *row_b = cdrl_arena_floats(scratch, (size_t)B);
    float *y = cdrl_arena_floats(scratch, nd);
    float *xi = cdrl_arena_floats(scratch, nd);
    float *grad = cdrl_arena_floats(scratch, nd);
    // Inpainting: the observed values at each level, a_j known + b_j eps (forward noising).
    float *obs = cp->mask ? cdrl_arena_floats(scratch, nd) : NULL;
    float *obs_a = cp->mask ? cdrl_arena_floats(scratch, (size_t)B) : NULL;
    float *obs_b = cp->mask ? cdrl_arena_floats(scratch, (size_t)B) : NULL;
    float *jump_a = cp->resample ? cdrl_arena_floats(scratch, (size_t)B) : NULL;
    float *jump_b = cp->resample ? cdrl_arena_floats(scratch, (size_t)B) : NULL;
    float tau[CDRL_MAX_LEVELS + 1];
    for (int l = 0; l <= T; l++)
        tau[l] = (float)s->tau[l];
    ebm->prepare(ebm->impl, tau, T + 1, 0);
    init->prepare(init->impl, tau, T + 1, 0);
    cdrl_langevin_params lp = {
        .n_steps = cp->n_langevin,
        .step_mul = cp->n_langevin > 0 ? (float)cp->n_langevin_ref / (float)cp->n_langevin : 1.0f,
        .cond = cp->cond,
        .known = obs,
        .mask = cp->mask,
        .clip_data = cp->clip_data,
        .bf16 = cp->bf16,
        .trace = cp->trace,
        .trace_user = cp->trace_user};
    const cdrl_cond *c = &cp->cond;
    const float a_null = cdrl_cond_null_weight(c);
    if (cp->mask) { // x_T's observed values: sqrt(g_T) known + sqrt(1 - g_T) eps
        observed(obs, obs_a, obs_b, xi, cp->known, (float)s->sqrt_g[T], (float)s->sqrt_1mg[T], B, D,
                 rng);
        cdrl_masked_set(x, obs, cp->mask, nd);
    }
    cdrl_status st = CDRL_OK;
    for (int j = T; j >= 1 && st == CDRL_OK; j--) {
        const float sd = (float)s->init_std[j], sk = (float)sqrt(s->kappa[j]);
        for (int n = 0; n < B; n++) {
            pair[n] = level[n] = j;
            row_a[n] = sd;
            row_b[n] = sk + 1e-8f;
        }
        // RePaint's jumps back: after all but the last pass, x_{j-1} is noised forward to
        // level j again, x_j = sqrt(r_j) x_{j-1} + sqrt(1 - r_j) eps, and the level reruns.
        for (int u = 0; u <= cp->resample && st == CDRL_OK; u++) {
            if (u > 0) {
                for (int n = 0; n < B; n++)
                    jump_a[n] = (float)sqrt(s->r[j]), jump_b[n] = (float)s->sigma[j];
                cdrl_rng_normal(rng, xi, nd);
                cdrl_rows_axpby(x, jump_a, x, jump_b, xi, B, D);
            }
            init_mean(init, y, grad, x, level, c, a_null, B);
            const float *z = xi;
            if (noise && noise->xi_init)
                z = noise->xi_init + (size_t)(j - 1) * nd;
            else
                cdrl_rng_normal(rng, xi, nd);
            cdrl_rows_add_scaled(y, y, row_a, z, B, D); // y += sd z
            if (cp->mask) { // y = sqrt(kappa_j) x_{j-1}: observed sqrt(kappa_j) (sqrt(g_{j-1}) ..)
                observed(obs, obs_a, obs_b, xi, cp->known, sk * (float)s->sqrt_g[j - 1],
                         sk * (float)s->sqrt_1mg[j - 1], B, D, rng);
                cdrl_masked_set(y, obs, cp->mask, nd);
            }
            const float *zl =
                noise && noise->xi_langevin
                    ? noise->xi_langevin + (size_t)(j - 1) * (size_t)cp->n_langevin * nd
                    : NULL;
            if (cp->n_langevin > 0)
                st = cdrl_langevin_run(ebm, y, x, pair, B, s, &lp, zl, rng, scratch);
            cdrl_rows_divide(x, y, row_b, B, D); // x = y / (sk + 1e-8)
        }
        if (levels) cdrl_copy(levels + (size_t)(T - j) * nd, x, nd);
    }
    if (st == CDRL_OK && cp->tweedie) {
        // x0 = (x + (1 - g_0) grad_x f(sqrt(kappa_1) x, lambda_0) / D) / sqrt(g_0) with
        // D = h_1 / 2, kept at its unaccelerated value (method.md §2.3, §6).
        const float sk = (float)sqrt(s->kappa[1]);
        const double D_ = s->h[1] / 2;
        for (int n = 0; n < B; n++)
            level[n] = 0;
        cdrl_scale(y, x, sk, nd);
        cdrl_guided_grad(ebm, grad, f, df, y, level, c, (float)(1.0 / D_), B);
        const float noise0 = (float)(1.0 - s->g[0]), inv_sg = (float)(1.0 / s->sqrt_g[0]);
        cdrl_tweedie_step(x, grad, noise0 * sk, inv_sg, nd);
        if (!cdrl_all_finite(x, nd))
            st =
                cdrl_fail(CDRL_STATUS_DIVERGED, "sampling: the final denoising step is not finite");
    }
    if (st == CDRL_OK && cp->mask) cdrl_masked_set(x, cp->known, cp->mask, nd);
    cdrl_arena_release(scratch, mark);
    return st;
}
