// Langevin dynamics for one pair of levels (see langevin.h).
#include "sampler/langevin.h"

#include <math.h>
#include <string.h>

float cdrl_cond_null_weight(const cdrl_cond *c) {
    if (c->n == 0) return 1.0f;
    if (c->n == 1) return -c->w[0]; // exactly 0 for plain labels
    float a = 1.0f;
    for (int i = 0; i < c->n; i++)
        a -= 1.0f + c->w[i];
    return a;
}

// grad += a * scale * d/dy f(y, level, label)
static void add_term(const cdrl_net *ebm, float *grad, float *f, float *df, const float *y,
                     const int *level, const int *label, float a, int B) {
    for (int n = 0; n < B; n++) // per-sample scalars: host memory
        df[n] = a;
    ebm->forward(ebm->impl, f, y, level, label, B);
    ebm->backward(ebm->impl, grad, df, 0);
}

void cdrl_guided_grad(const cdrl_net *ebm, float *grad, float *f, float *df, const float *y,
                      const int *level, const cdrl_cond *c, float scale, int B) {
    CDRL_ASSERT(c->n >= 0 && c->n <= CDRL_SAMPLE_MAX_TERMS);
    cdrl_zero(grad, (size_t)B * (size_t)ebm->dim);
    for (int i = 0; i < c->n; i++)
        add_term(ebm, grad, f, df, y, level, c->label[i], scale * (1.0f + c->w[i]), B);
    const float a0 = cdrl_cond_null_weight(c);
    if (a0 != 0.0f) add_term(ebm, grad, f, df, y, level, NULL, scale * a0, B);
}

size_t cdrl_langevin_scratch_size(int B, int dim) {
    size_t nb = (size_t)B, nd = nb * (size_t)dim;
    return 6 * cdrl_arena_floats_size(nb) + 2 * cdrl_arena_floats_size(nd);
}

cdrl_status cdrl_langevin_run(const cdrl_net *ebm, float *y, const float *anchor, const int *pair,
                              int B, const cdrl_schedule *s, const cdrl_langevin_params *lp,
                              const float *noise, cdrl_rng *rng, cdrl_arena *scratch) {
    const int D = ebm->dim;
    const size_t nd = (size_t)B * (size_t)D;
    const size_t mark = cdrl_arena_mark(scratch);
    int *level = (int *)cdrl_arena_floats(scratch, (size_t)B); // the EBM sees lambda_{j-1}
    int *clamp = (int *)cdrl_arena_floats(scratch, (size_t)B);
    float *tether = cdrl_arena_floats(scratch, (size_t)B);
    float *noise_std = cdrl_arena_floats(scratch, (size_t)B);
    float *f = cdrl_arena_floats(scratch, (size_t)B);
    float *df = cdrl_arena_floats(scratch, (size_t)B);
    float *grad = cdrl_arena_floats(scratch, nd);
    float *xi = cdrl_arena_floats(scratch, nd);
    const float m = lp->step_mul;
    for (int n = 0; n < B; n++) {
        const int j = pair[n];
        CDRL_ASSERT(j >= 1 && j <= s->T);
        level[n] = j - 1;
        tether[n] = (float)(s->tether[j] * (double)m);
        noise_std[n] = (float)sqrt(s->h[j] * (double)m);
        clamp[n] = lp->clip_data && j == 1;
    }
    cdrl_status st = CDRL_OK;
    if (lp->trace) lp->trace(lp->trace_user, 0, y);
    const float data_bound = (float)sqrt(s->kappa[1]);
    const int precision = cdrl_set_precision(lp->bf16 ? CDRL_PRECISION_BF16 : CDRL_PRECISION_F32);
    for (int k = 0; k < lp->n_steps; k++) {
        // drift 0.5 m grad f: the step size cancels (method.md §2.1)
        cdrl_guided_grad(ebm, grad, f, df, y, level, &lp->cond, 0.5f * m, B);
        const float *z = noise ? noise + (size_t)k * nd : xi;
        if (!noise) cdrl_rng_normal(rng, xi, nd);
        const int in_range = cdrl_langevin_update(y, grad, anchor, z, tether, noise_std, clamp,
                                                  data_bound, CDRL_CHAIN_BOUND, B, D);
        if (!in_range) {
            // The clamp of the lowest pair's rows may have hidden the runaway value itself.
            const float big = cdrl_max_abs(y, nd);
            if (!isfinite(big))
                st = cdrl_fail(CDRL_STATUS_DIVERGED,
                               "Langevin diverged at step %d of %d (NaN/Inf in the samples)", k + 1,
                               lp->n_steps);
            else if (big > CDRL_CHAIN_BOUND)
                st = cdrl_fail(CDRL_STATUS_DIVERGED,
                               "Langevin diverged at step %d of %d (a sample value reached %.3g, "
                               "beyond %g: the EBM is too steep for the step size)",
                               k + 1, lp->n_steps, (double)big, (double)CDRL_CHAIN_BOUND);
            else
                st = cdrl_fail(
                    CDRL_STATUS_DIVERGED,
                    "Langevin diverged at step %d of %d (a sample of the lowest pair went "
                    "beyond %g or NaN before its clamp)",
                    k + 1, lp->n_steps, (double)CDRL_CHAIN_BOUND);
            break;
        }
        if (lp->mask) cdrl_masked_set(y, lp->known, lp->mask, nd);
        if (lp->trace) lp->trace(lp->trace_user, k + 1, y);
    }
    cdrl_set_precision(precision);
    cdrl_arena_release(scratch, mark);
    return st;
}
