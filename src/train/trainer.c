// The CDRL training iteration (method.md §4.1), read top to bottom: noisy pairs, positive
// energies (train mode: the spectral-norm power iteration happens here), initializer
// proposals, Langevin refinement (eval mode), negative energies, the EBM update, then the
// initializer update on the refined samples, which the pre-update EBM produced.
#include "train/trainer.h"

#include <math.h>
#include <string.h>

#include "ops/backend.h"
#include "sampler/langevin.h"
#include "train/optim.h"

cdrl_status cdrl_trainer_init(cdrl_trainer *t, const cdrl_train_params *tp, const cdrl_schedule *s,
                              cdrl_net ebm, cdrl_net init, uint64_t seed) {
    memset(t, 0, sizeof *t);
    // step_mul 0 would silently turn Langevin off (no drift, no noise): callers that fill the
    // struct by hand must set it (1 for the official step size).
    CDRL_ASSERT(ebm.dim == init.dim && tp->batch >= 1 && tp->n_langevin >= 1 &&
                tp->step_mul > 0.0f);
    t->tp = *tp;
    t->sched = *s;
    t->ebm = ebm;
    t->init = init;
    cdrl_rng_init(&t->rng, seed, 1);
    for (int l = 0; l <= s->T; l++)
        t->tau[l] = (float)s->tau[l];

    const size_t B = (size_t)tp->batch, nd = B * (size_t)ebm.dim;
    const size_t ne = ebm.params->total, ni = init.params->total;
    size_t bytes = 3 * cdrl_arena_floats_size(ne) + 3 * cdrl_arena_floats_size(ni) +
                   12 * cdrl_arena_floats_size(B) + 2 * cdrl_arena_floats_size(B * CDRL_MAX_ATTRS) +
                   (9 + (size_t)tp->n_langevin) * cdrl_arena_floats_size(nd) +
                   cdrl_langevin_scratch_size(tp->batch, ebm.dim);
    if (cdrl_device_arena_init(&t->mem, bytes) != CDRL_OK) return CDRL_STATUS_NOMEM;
    cdrl_zero((float *)t->mem.base, bytes / sizeof(float));
    cdrl_arena *a = &t->mem;
    t->ebm_m = cdrl_arena_floats(a, ne);
    t->ebm_v = cdrl_arena_floats(a, ne);
    t->ebm_ema = cdrl_arena_floats(a, ne);
    t->init_m = cdrl_arena_floats(a, ni);
    t->init_v = cdrl_arena_floats(a, ni);
    t->init_ema = cdrl_arena_floats(a, ni);
    cdrl_copy(t->ebm_ema, ebm.p_own, ne);
    cdrl_copy(t->init_ema, init.p_own, ni);
    t->noise.pair = (int *)cdrl_arena_floats(a, B);
    t->noise.label_u = cdrl_arena_floats(a, B * CDRL_MAX_ATTRS);
    t->label = (int *)cdrl_arena_floats(a, B * CDRL_MAX_ATTRS);
    t->level_ebm = (int *)cdrl_arena_floats(a, B);
    t->level_init = (int *)cdrl_arena_floats(a, B);
    t->f_pos = cdrl_arena_floats(a, B);
    t->f_neg = cdrl_arena_floats(a, B);
    t->df = cdrl_arena_floats(a, B);
    for (int k = 0; k < 6; k++)
        t->row[k] = cdrl_arena_floats(a, B);
    t->noise.eps = cdrl_arena_floats(a, nd);
    t->noise.xi_init = cdrl_arena_floats(a, nd);
    t->noise.xi_langevin = cdrl_arena_floats(a, nd * (size_t)tp->n_langevin);
    t->x_j = cdrl_arena_floats(a, nd);
    t->y_pos = cdrl_arena_floats(a, nd);
    t->mu = cdrl_arena_floats(a, nd);
    t->y0 = cdrl_arena_floats(a, nd);
    t->y = cdrl_arena_floats(a, nd);
    t->y_neg = cdrl_arena_floats(a, nd);
    t->dmu = cdrl_arena_floats(a, nd);
    return CDRL_OK;
}

void cdrl_trainer_deinit(cdrl_trainer *t) {
    cdrl_arena_deinit(&t->mem);
    memset(t, 0, sizeof *t);
}

void cdrl_trainer_draw_noise(cdrl_trainer *t) {
    const int B = t->tp.batch, T = t->sched.T;
    const size_t nd = (size_t)B * (size_t)t->ebm.dim;
    // The label drops first: the order of the draws is part of what resume reproduces.
    if (t->tp.n_attrs)
        cdrl_rng_uniform(&t->rng, t->noise.label_u, (size_t)B * (size_t)t->tp.n_attrs);
    uint32_t *j = (uint32_t *)t->noise.pair;
    cdrl_rng_int(&t->rng, j, (size_t)B, (uint32_t)T);
    for (int n = 0; n < B; n++)
        t->noise.pair[n] = (int)j[n] + 1;
    cdrl_rng_normal(&t->rng, t->noise.eps, nd);
    cdrl_rng_normal(&t->rng, t->noise.xi_init, nd);
    cdrl_rng_normal(&t->rng, t->noise.xi_langevin, nd * (size_t)t->tp.n_langevin);
}

// Adam(W) with the warmed-up learning rate, then EMA: the update of one clipped network.
static void update(const cdrl_trainer *t, const cdrl_net *net, float *m, float *v, float *ema,
                   float lr, float ema_decay, int decoupled, float wd) {
    const size_t n = net->params->total;
    cdrl_adam_params ap = {.lr = lr,
                           .beta1 = t->tp.beta1,
                           .beta2 = t->tp.beta2,
                           .eps = t->tp.eps,
                           .weight_decay = wd,
                           .decoupled = decoupled};
    cdrl_adam_step(net->p_own, m, v, net->grad, n, t->step + 1, &ap);
    cdrl_ema_update(ema, net->p_own, n,
                    t->tp.ema_ramp ? cdrl_ema_decay(ema_decay, t->step) : ema_decay);
}

cdrl_status cdrl_trainer_step_with_noise(cdrl_trainer *t, const float *x, const int *cls,
                                         const cdrl_step_noise *nz, cdrl_step_stats *stats) {
    const cdrl_schedule *s = &t->sched;
    const cdrl_net *ebm = &t->ebm, *init = &t->init;
    const int B = t->tp.batch, D = ebm->dim, T = s->T;
    const size_t nd = (size_t)B * (size_t)D;
    CDRL_ASSERT(*ebm->p == ebm->p_own && *init->p == init->p_own); // not while EMA is swapped in
    CDRL_ASSERT(!cls == !t->tp.n_attrs);

    // Labels of a conditional model (method.md §7): class k is label k + 1, a share label_drop
    // of them becomes the null label 0 (each attribute on its own), the same for both networks.
    const int *label = NULL;
    if (cls) {
        for (int n = 0; n < B * t->tp.n_attrs; n++)
            t->label[n] = nz->label_u[n] < t->tp.label_drop ? 0 : cls[n] + 1;
        label = t->label;
    }

    // (0) Noisy pairs from one shared draw: x_j and x_{j-1} from the same eps. Per sample:
    // x_j = a x + b eps, y+ = sqrt(kappa_j) (a' x + b' eps) with the constants of j and j - 1.
    float *a = t->row[0], *b = t->row[1], *a1 = t->row[2], *b1 = t->row[3], *sk = t->row[4],
          *sd = t->row[5];
    for (int n = 0; n < B; n++) {
        const int j = nz->pair[n];
        CDRL_ASSERT(j >= 1 && j <= T);
        t->level_ebm[n] = j - 1;
        t->level_init[n] = j;
        a[n] = (float)s->sqrt_g[j];
        b[n] = (float)s->sqrt_1mg[j];
        a1[n] = (float)s->sqrt_g[j - 1];
        b1[n] = (float)s->sqrt_1mg[j - 1];
        sk[n] = (float)sqrt(s->kappa[j]);
        sd[n] = (float)s->init_std[j];
    }
    cdrl_rows_axpby(t->x_j, a, x, b, nz->eps, B, D);
    cdrl_rows_axpby(t->y_pos, a1, x, b1, nz->eps, B, D);
    cdrl_rows_scale(t->y_pos, sk, t->y_pos, B, D);
    ebm->zero_grad(ebm->impl);
    init->zero_grad(init->impl);

    // (1) Positive energies in train mode: one spectral-norm power iteration.
    ebm->prepare(ebm->impl, t->tau, T + 1, 1);
    ebm->forward(ebm->impl, t->f_pos, t->y_pos, t->level_ebm, label, B);
    for (int n = 0; n < B; n++)
        t->df[n] = -(float)s->loss_w[nz->pair[n]] / (float)B;
    ebm->backward(ebm->impl, NULL, t->df, 1);

    // (2) Initializer proposals y0 = mu(x_j, lambda_j) + sqrt(beta~ kappa) xi.
    init->prepare(init->impl, t->tau, T + 1, 1);
    init->forward(init->impl, t->mu, t->x_j, t->level_init, label, B);
    cdrl_rows_add_scaled(t->y0, t->mu, sd, nz->xi_init, B, D);

    // (3) Langevin in eval mode: the weights and u, v are those of step (1), so the
    // normalised weights prepared there are already the eval-mode ones.
    cdrl_copy(t->y, t->y0, nd);
    cdrl_langevin_params lp = {.n_steps = t->tp.n_langevin,
                               .step_mul = t->tp.step_mul,
                               .clip_data = t->tp.langevin_clip,
                               .bf16 = t->tp.langevin_bf16,
                               .cond = cdrl_cond_labels(label),
                               .trace = t->langevin_trace,
                               .trace_user = t->langevin_trace_user};
    cdrl_status st =
        cdrl_langevin_run(ebm, t->y, t->x_j, nz->pair, B, s, &lp, nz->xi_langevin, NULL, &t->mem);
    if (st != CDRL_OK) return cdrl_fail(st, "training step %ld: Langevin diverged", t->step + 1);

    // (4) Negative energies at sqrt(kappa) x^, x^ = y / (sqrt(kappa) + 1e-8).
    float *sk_eps = a; // row[0] again: x_j's constants a[] are not needed any more
    for (int n = 0; n < B; n++)
        sk_eps[n] = sk[n] + 1e-8f;
    cdrl_rows_divide(t->y_neg, t->y, sk_eps, B, D);
    cdrl_rows_scale(t->y_neg, sk, t->y_neg, B, D);
    ebm->forward(ebm->impl, t->f_neg, t->y_neg, t->level_ebm, label, B);
    double loss_ebm = 0, f_pos = 0, f_neg = 0;
    for (int n = 0; n < B; n++) {
        const double w = s->loss_w[nz->pair[n]];
        loss_ebm += w * ((double)t->f_neg[n] - (double)t->f_pos[n]);
        f_pos += (double)t->f_pos[n];
        f_neg += (double)t->f_neg[n];
        t->df[n] = (float)w / (float)B;
    }
    ebm->backward(ebm->impl, NULL, t->df, 1);
    ebm->finish_grads(ebm->impl);

    // (6, computed before any update) Initializer loss on the refined samples (with the
    // diagnostic init_data_weight a, on (1 - a) refined + a data: a = 0 is CDRL).
    const double loss_init_sum =
        cdrl_init_loss(t->dmu, t->y_neg, t->y_pos, t->y0, t->tp.init_data_weight, B, nd);
    init->backward(init->impl, NULL, t->dmu, 1);
    init->finish_grads(init->impl);
    loss_ebm /= B;
    const double loss_init = loss_init_sum / B;
    if (!isfinite(loss_ebm) || !isfinite(loss_init))
        return cdrl_fail(CDRL_STATUS_DIVERGED,
                         "training step %ld: loss is not finite (EBM %g, initializer %g)",
                         t->step + 1, loss_ebm, loss_init);

    // (5) EBM update, then (6) initializer update; both warm-ups count completed steps.
    cdrl_step_stats st_ = {.loss_ebm = (float)loss_ebm,
                           .loss_init = (float)loss_init,
                           .f_pos = (float)(f_pos / B),
                           .f_neg = (float)(f_neg / B)};
    const float decay = cdrl_cosine_decay(t->step, t->tp.decay_iters);
    st_.lr_ebm = t->tp.lr_ebm * cdrl_warmup_linear(t->step, t->tp.warmup_ebm) * decay;
    st_.lr_init = t->tp.lr_init *
                  cdrl_warmup_offset(t->step, t->tp.warmup_init, t->tp.warmup_init_offset) * decay;
    st_.grad_norm_ebm = cdrl_clip_grad_norm(ebm->grad, ebm->params->total, t->tp.clip);
    st_.grad_norm_init = cdrl_clip_grad_norm(init->grad, init->params->total, t->tp.clip);
    if (!isfinite(st_.grad_norm_ebm) || !isfinite(st_.grad_norm_init))
        return cdrl_fail(CDRL_STATUS_DIVERGED,
                         "training step %ld: gradient is not finite (EBM norm %g, initializer %g)",
                         t->step + 1, (double)st_.grad_norm_ebm, (double)st_.grad_norm_init);
    update(t, ebm, t->ebm_m, t->ebm_v, t->ebm_ema, st_.lr_ebm, t->tp.ema_ebm, 0, 0.0f);
    update(t, init, t->init_m, t->init_v, t->init_ema, st_.lr_init, t->tp.ema_init, 1,
           t->tp.wd_init);
    t->step++;
    if (stats) *stats = st_;
    return CDRL_OK;
}

cdrl_status cdrl_trainer_step(cdrl_trainer *t, const float *x, const int *cls,
                              cdrl_step_stats *stats) {
    cdrl_trainer_draw_noise(t);
    return cdrl_trainer_step_with_noise(t, x, cls, &t->noise, stats);
}
