// The sampling chain (see chain.h).
#include "sampler/chain.h"

#include <math.h>

size_t cdrl_chain_scratch_size(int B, int dim) {
    size_t nd = (size_t)B * (size_t)dim;
    return 6 * cdrl_arena_floats_size((size_t)B) + 3 * cdrl_arena_floats_size(nd) +
           cdrl_langevin_scratch_size(B, dim);
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
    float tau[CDRL_MAX_LEVELS + 1];
    for (int l = 0; l <= T; l++)
        tau[l] = (float)s->tau[l];
    ebm->prepare(ebm->impl, tau, T + 1, 0);
    init->prepare(init->impl, tau, T + 1, 0);
    cdrl_langevin_params lp = {
        .n_steps = cp->n_langevin,
        .step_mul = cp->n_langevin > 0 ? (float)cp->n_langevin_ref / (float)cp->n_langevin : 1.0f,
        .label = cp->label,
        .guidance = cp->guidance,
        .clip_data = cp->clip_data,
        .bf16 = cp->bf16,
        .trace = cp->trace,
        .trace_user = cp->trace_user};
    const int guided = cp->label && cp->guidance != 0.0f;
    const float w = cp->guidance;
    cdrl_status st = CDRL_OK;
    for (int j = T; j >= 1 && st == CDRL_OK; j--) {
        const float sd = (float)s->init_std[j], sk = (float)sqrt(s->kappa[j]);
        for (int n = 0; n < B; n++) {
            pair[n] = level[n] = j;
            row_a[n] = sd;
            row_b[n] = sk + 1e-8f;
        }
        init->forward(init->impl, y, x, level, cp->label, B);
        if (guided) { // mu_w = (1 + w) mu(x, c) - w mu(x, 0)
            init->forward(init->impl, grad, x, level, NULL, B);
            cdrl_guidance_mix(y, grad, w, nd);
        }
        const float *z = xi;
        if (noise && noise->xi_init)
            z = noise->xi_init + (size_t)(j - 1) * nd;
        else
            cdrl_rng_normal(rng, xi, nd);
        cdrl_rows_add_scaled(y, y, row_a, z, B, D); // y += sd z
        const float *zl = noise && noise->xi_langevin
                              ? noise->xi_langevin + (size_t)(j - 1) * (size_t)cp->n_langevin * nd
                              : NULL;
        if (cp->n_langevin > 0)
            st = cdrl_langevin_run(ebm, y, x, pair, B, s, &lp, zl, rng, scratch);
        cdrl_rows_divide(x, y, row_b, B, D); // x = y / (sk + 1e-8)
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
        cdrl_guided_grad(ebm, grad, f, df, y, level, cp->label, w, (float)(1.0 / D_), B);
        const float noise0 = (float)(1.0 - s->g[0]), inv_sg = (float)(1.0 / s->sqrt_g[0]);
        cdrl_tweedie_step(x, grad, noise0 * sk, inv_sg, nd);
        if (!cdrl_all_finite(x, nd))
            st =
                cdrl_fail(CDRL_STATUS_DIVERGED, "sampling: the final denoising step is not finite");
    }
    cdrl_arena_release(scratch, mark);
    return st;
}
