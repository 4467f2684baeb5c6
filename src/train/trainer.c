// The CDRL training iteration (method.md §4.1), read top to bottom: noisy pairs, positive
// energies (train mode: the spectral-norm power iteration happens here), initializer
// proposals, Langevin refinement (eval mode), negative energies, the EBM update, then the
// initializer update on the refined samples, which the pre-update EBM produced.
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/dist.h"
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
    const int C = tp->grad_chunks ? tp->grad_chunks : 1, P = cdrl_dist_size();
    if (C < 1 || C > tp->batch)
        return cdrl_fail(CDRL_STATUS_INVALID, "grad_chunks %d: must be in 1..batch (%d)", C,
                         tp->batch);
    if (C < P)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "grad_chunks %d is below the %d processes: each process needs a chunk "
                         "(set grad_chunks to a multiple of the process count)",
                         C, P);
    t->tp = *tp;
    t->tp.grad_chunks = C;
    t->sched = *s;
    t->ebm = ebm;
    t->init = init;
    cdrl_rng_init(&t->rng, seed, 1);
    for (int l = 0; l <= s->T; l++)
        t->tau[l] = (float)s->tau[l];

    const size_t B = (size_t)tp->batch, nd = B * (size_t)ebm.dim;
    const size_t ne = ebm.params->total, ni = init.params->total;
    // Chunks: rows [c B / C, (c + 1) B / C) of chunk c; this process runs chunks [c_lo, c_hi).
    int c_lo, c_hi;
    cdrl_dist_share(C, cdrl_dist_rank(), P, &c_lo, &c_hi);
    const size_t chunk_nd = (size_t)((B + (size_t)C - 1) / (size_t)C) * (size_t)ebm.dim;
    const size_t n_own = cdrl_dist_rank() > 0 ? (size_t)(c_hi - c_lo) : 0;
    const int chunked = C > 1 || P > 1;
    size_t bytes =
        3 * cdrl_arena_floats_size(ne) + 3 * cdrl_arena_floats_size(ni) +
        12 * cdrl_arena_floats_size(B) + 2 * cdrl_arena_floats_size(B * CDRL_MAX_ATTRS) +
        (9 + (size_t)tp->n_langevin) * cdrl_arena_floats_size(nd) +
        cdrl_arena_floats_size(2 * (size_t)C) +
        (chunked ? cdrl_arena_floats_size((size_t)tp->n_langevin * chunk_nd) +
                       cdrl_arena_floats_size(ne + ni) + cdrl_arena_floats_size(n_own * (ne + ni))
                 : 0) +
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
    t->loss_init = (double *)(void *)cdrl_arena_floats(a, 2 * (size_t)C);
    if (chunked) {
        t->xi_chunk = cdrl_arena_floats(a, (size_t)tp->n_langevin * chunk_nd);
        t->grad_sum = cdrl_arena_floats(a, ne + ni);
        if (n_own) t->grad_own = cdrl_arena_floats(a, n_own * (ne + ni));
    }
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

// Rows [n0, n1) of the batch through the iteration up to both networks' finished gradients
// (ebm->grad, init->grad: this chunk's share of the batch mean), with the positive and negative
// energies in f_pos/f_neg and the initializer loss sum in *loss_init. Both networks are
// prepared (train mode) and their gradients zero.
static cdrl_status chunk_grads(cdrl_trainer *t, const float *x, const int *label,
                               const cdrl_step_noise *nz, int n0, int n1, double *loss_init) {
    const cdrl_schedule *s = &t->sched;
    const cdrl_net *ebm = &t->ebm, *init = &t->init;
    const int B = t->tp.batch, D = ebm->dim, T = s->T, nb = n1 - n0, K = t->tp.n_langevin;
    const size_t o = (size_t)n0 * (size_t)D, nd = (size_t)nb * (size_t)D;
    const int *lab = label ? label + (size_t)n0 * (size_t)t->tp.n_attrs : NULL;
    const int *pair = nz->pair + n0, *lvl_ebm = t->level_ebm + n0, *lvl_init = t->level_init + n0;
    float *f_pos = t->f_pos + n0, *f_neg = t->f_neg + n0, *df = t->df + n0;
    float *x_j = t->x_j + o, *y_pos = t->y_pos + o, *mu = t->mu + o, *y0 = t->y0 + o, *y = t->y + o,
          *y_neg = t->y_neg + o, *dmu = t->dmu + o;

    // (0) Noisy pairs from one shared draw: x_j and x_{j-1} from the same eps. Per sample:
    // x_j = a x + b eps, y+ = sqrt(kappa_j) (a' x + b' eps) with the constants of j and j - 1.
    float *a = t->row[0] + n0, *b = t->row[1] + n0, *a1 = t->row[2] + n0, *b1 = t->row[3] + n0,
          *sk = t->row[4] + n0, *sd = t->row[5] + n0;
    for (int n = 0; n < nb; n++) {
        const int j = pair[n];
        CDRL_ASSERT(j >= 1 && j <= T);
        t->level_ebm[n0 + n] = j - 1;
        t->level_init[n0 + n] = j;
        a[n] = (float)s->sqrt_g[j];
        b[n] = (float)s->sqrt_1mg[j];
        a1[n] = (float)s->sqrt_g[j - 1];
        b1[n] = (float)s->sqrt_1mg[j - 1];
        sk[n] = (float)sqrt(s->kappa[j]);
        sd[n] = (float)s->init_std[j];
    }
    cdrl_rows_axpby(x_j, a, x + o, b, nz->eps + o, nb, D);
    cdrl_rows_axpby(y_pos, a1, x + o, b1, nz->eps + o, nb, D);
    cdrl_rows_scale(y_pos, sk, y_pos, nb, D);

    // (1) Positive energies (the networks are prepared in train mode: the spectral-norm power
    // iteration has run once for the whole batch).
    ebm->forward(ebm->impl, f_pos, y_pos, lvl_ebm, lab, nb);
    for (int n = 0; n < nb; n++)
        df[n] = -(float)s->loss_w[pair[n]] / (float)B;
    ebm->backward(ebm->impl, NULL, df, 1);

    // (2) Initializer proposals y0 = mu(x_j, lambda_j) + sqrt(beta~ kappa) xi.
    init->forward(init->impl, mu, x_j, lvl_init, lab, nb);
    cdrl_rows_add_scaled(y0, mu, sd, nz->xi_init + o, nb, D);

    // (3) Langevin in eval mode: the weights and u, v are those of step (1), so the
    // normalised weights prepared there are already the eval-mode ones. The noise of a chunk
    // is its rows of each step's (B, dim) draw.
    const float *xi = nz->xi_langevin;
    if (nb < B) {
        for (int k = 0; k < K; k++)
            cdrl_copy(t->xi_chunk + (size_t)k * nd, nz->xi_langevin + (size_t)k * B * D + o, nd);
        xi = t->xi_chunk;
    }
    cdrl_copy(y, y0, nd);
    cdrl_langevin_params lp = {.n_steps = K,
                               .step_mul = t->tp.step_mul,
                               .clip_data = t->tp.langevin_clip,
                               .bf16 = t->tp.langevin_bf16,
                               .cond = cdrl_cond_labels(lab),
                               .trace = t->langevin_trace,
                               .trace_user = t->langevin_trace_user};
    cdrl_status st = cdrl_langevin_run(ebm, y, x_j, pair, nb, s, &lp, xi, NULL, &t->mem);
    if (st != CDRL_OK) return st;

    // (4) Negative energies at sqrt(kappa) x^, x^ = y / (sqrt(kappa) + 1e-8).
    float *sk_eps = a; // row[0] again: x_j's constants a[] are not needed any more
    for (int n = 0; n < nb; n++)
        sk_eps[n] = sk[n] + 1e-8f;
    cdrl_rows_divide(y_neg, y, sk_eps, nb, D);
    cdrl_rows_scale(y_neg, sk, y_neg, nb, D);
    ebm->forward(ebm->impl, f_neg, y_neg, lvl_ebm, lab, nb);
    for (int n = 0; n < nb; n++)
        df[n] = (float)s->loss_w[pair[n]] / (float)B;
    ebm->backward(ebm->impl, NULL, df, 1);
    ebm->finish_grads(ebm->impl);

    // (6, computed before any update) Initializer loss on the refined samples (with the
    // diagnostic init_data_weight a, on (1 - a) refined + a data: a = 0 is CDRL).
    *loss_init = cdrl_init_loss(dmu, y_neg, y_pos, y0, t->tp.init_data_weight, B, nd);
    init->backward(init->impl, NULL, dmu, 1);
    init->finish_grads(init->impl);
    return CDRL_OK;
}

// Every chunk of this process, then the gradients summed over all chunks in chunk order, in
// the networks' grad on every process; the energies and loss sums of every chunk gathered.
static cdrl_status batch_grads(cdrl_trainer *t, const float *x, const int *label,
                               const cdrl_step_noise *nz) {
    const cdrl_net *ebm = &t->ebm, *init = &t->init;
    const int B = t->tp.batch, C = t->tp.grad_chunks, P = cdrl_dist_size(), r = cdrl_dist_rank();
    const size_t ne = ebm->params->total, ni = init->params->total;
    int c_lo, c_hi;
    cdrl_dist_share(C, r, P, &c_lo, &c_hi);
    cdrl_status st = CDRL_OK;
    for (int c = c_lo; c < c_hi && st == CDRL_OK; c++) {
        ebm->zero_grad(ebm->impl);
        init->zero_grad(init->impl);
        st = chunk_grads(t, x, label, nz, c * B / C, (c + 1) * B / C, &t->loss_init[c]);
        if (st != CDRL_OK || (C == 1 && P == 1)) break; // one chunk: its gradients are the sum
        // The first process folds its chunks as they come; the others keep theirs for the
        // chain sum, which adds them after every earlier chunk.
        float *g = r == 0 ? t->grad_sum : t->grad_own + (size_t)(c - c_lo) * (ne + ni);
        if (r == 0 && c > c_lo) {
            cdrl_add_into(g, ebm->grad, ne);
            cdrl_add_into(g + ne, init->grad, ni);
        } else {
            cdrl_copy(g, ebm->grad, ne);
            cdrl_copy(g + ne, init->grad, ni);
        }
    }
    if (P > 1) {
        char msg[160] = "";
        if (st != CDRL_OK)
            snprintf(msg, sizeof msg, "rank %d: training step %ld: Langevin diverged", r,
                     t->step + 1);
        if (cdrl_dist_first_set(st != CDRL_OK, msg, sizeof msg) >= 0)
            return cdrl_fail(CDRL_STATUS_DIVERGED, "%s", msg);
        // The energies of every row and the loss sum of every chunk, to every process.
        for (int q = 0; q < P; q++) {
            int lo, hi;
            cdrl_dist_share(C, q, P, &lo, &hi);
            const int n0 = lo * B / C, nb = hi * B / C - n0;
            cdrl_dist_bcast(t->f_pos + n0, (size_t)nb * sizeof(float), q);
            cdrl_dist_bcast(t->f_neg + n0, (size_t)nb * sizeof(float), q);
            cdrl_dist_bcast(t->loss_init + lo, (size_t)(hi - lo) * sizeof(double), q);
        }
        cdrl_dist_chain_sum(t->grad_sum, r ? t->grad_own : NULL, r ? c_hi - c_lo : 0, ne + ni);
    } else if (st != CDRL_OK) {
        return cdrl_fail(st, "training step %ld: Langevin diverged", t->step + 1);
    }
    if (C > 1 || P > 1) {
        cdrl_copy(ebm->grad, t->grad_sum, ne);
        cdrl_copy(init->grad, t->grad_sum + ne, ni);
    }
    return CDRL_OK;
}

cdrl_status cdrl_trainer_step_with_noise(cdrl_trainer *t, const float *x, const int *cls,
                                         const cdrl_step_noise *nz, cdrl_step_stats *stats) {
    const cdrl_schedule *s = &t->sched;
    const cdrl_net *ebm = &t->ebm, *init = &t->init;
    const int B = t->tp.batch, T = s->T;
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

    // Train mode once per iteration: one spectral-norm power iteration, whatever the chunks.
    ebm->prepare(ebm->impl, t->tau, T + 1, 1);
    init->prepare(init->impl, t->tau, T + 1, 1);
    cdrl_status st = batch_grads(t, x, label, nz);
    if (st != CDRL_OK) return st;

    double loss_ebm = 0, f_pos = 0, f_neg = 0, loss_init_sum = 0;
    for (int n = 0; n < B; n++) {
        const double w = s->loss_w[nz->pair[n]];
        loss_ebm += w * ((double)t->f_neg[n] - (double)t->f_pos[n]);
        f_pos += (double)t->f_pos[n];
        f_neg += (double)t->f_neg[n];
    }
    for (int c = 0; c < t->tp.grad_chunks; c++)
        loss_init_sum += t->loss_init[c];
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
