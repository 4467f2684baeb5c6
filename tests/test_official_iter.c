// Parity with the official CDRL image code itself (not a twin): ref/official_image_iter.py
// runs three iterations of the official training loop body (main_uncond.py, main_cond.py) and
// its sampling function on small official networks (models/ebm*.py, models/unet*.py), and
// records every random draw. Here the C trainer and sampler replay those draws from the same
// weights and must compute the same thing:
//   per iteration: the noisy pair x_j, y+ = sqrt(kappa) x_{j-1}, f+ per sample, the initializer
//   output mu and proposal y0 (with the official dropout masks), every Langevin iterate, the
//   refined sqrt(kappa) x^, f- per sample, both losses, both gradient norms before clipping and
//   both clipped gradients (every tensor); conditional: the label drop;
//   after three iterations: both networks' weights (and the EBM's spectral-norm u, v), Adam
//   moments and EMA copies;
//   sampling (gen_samples; conditional gen_guided_samples2 at w = 0 and w = 1) from the weights
//   after training and from their EMA copies: every level's proposal and Langevin iterates,
//   each x_{j-1} and the output of the final Tweedie step.
// Fixture: tests/fixtures/official_iter_{uncond,cond}.safetensors, made by
// `make fixtures OFFICIAL=/path/to/CDRL` (ref/official_image_iter.py; docs/formats.md).
// Tensor names: ebm.* / init.* initial weights (official state_dict keys); it<i>.{pair, x,
// eps, xi_init, xi_langevin, dropout, class, label_u, label} the draws and inputs of
// iteration i; it<i>.{x_j, y_pos, f_pos, mu, y0, langevin, y_neg, f_neg, stats, grad.*} its
// results; final.*, adam_m.*, adam_v.*, ema.* the state after training; sample*.{x_top,
// label, xi_init, xi_langevin} and sample*.{langevin, levels, out}. U-Net tensors after the
// initial weights are probes (64 evenly spaced elements and norm.<name>, the L2 norm).
//
// Tolerances (float32 on both sides; PyTorch and cdrl sum in different orders, so results
// differ by rounding that grows through each computation). One difference is systematic: the
// official code computes the schedule (logSNR, then the embedding input tau) in float32, cdrl
// in double, and the two tau differ by one float32 ulp (up to 6e-5 at tau ~ 950), which moves
// the sinusoid embedding, and so f, by about 1e-5. Every Langevin step starts from the official
// previous iterate (see trace), so differences do not pile up along a chain.
//   TOL_X    inputs built by the same float formula (x_j, y+): 1e-6 abs + 1e-6 rel; measured
//            3.6e-7 (1-2 ulp at |x| ~ 1-3: the per-pair constants round differently).
//   TOL_NET  network outputs (f, mu, y0) and the samples derived from them (Langevin iterates,
//            sqrt(kappa) x^, the sampling levels): 2e-5 abs + 1e-4 rel; measured 1.7e-5 on f at
//            |f| ~ 1 (the tau ulp above), 1.3e-5 on the iterates at |y| ~ 1-4, 1e-6 on the
//            levels. Kink events are the one exception (cmp_iterates). The tether 1 % off or
//            the Langevin noise variance 0.1 % off already fails.
//   TOL_OUT  the output of the Tweedie step: 5e-4 abs + 1e-4 rel. The step adds the EBM's input
//            gradient times (1 - g_0) / D = 4.36 (corrections up to 0.6 here, samples up to 17);
//            measured 9e-5. The divisor h_1 in place of h_1 / 2 fails.
//   TOL_GRAD gradients and Adam moments: 1e-4 x the tensor's largest element + 2e-4 rel
//            (cmp_scaled); measured 1e-5 of the largest element.
//   TOL_W    weights and EMA copies after three Adam steps at rates up to 1e-3: 1e-6 abs +
//            1e-5 rel, plus the relative error of each step that Adam's normalisation carries
//            (cmp_weights).

#include "core/rng.h"
#include "diffusion/schedule.h"
#include "official_config.h"
#include "sampler/chain.h"
#include "test_util.h"
#include "train/trainer.h"

#define TOL_X_ABS      1e-6
#define TOL_X_REL      1e-6
#define TOL_NET_ABS    2e-5
#define TOL_NET_REL    1e-4
#define TOL_OUT_ABS    5e-4
#define TOL_GRAD_SCALE 1e-4
#define TOL_GRAD_REL   2e-4
#define TOL_W_ABS      1e-6
#define TOL_W_REL      1e-5
#define LABEL_DROP     0.1f // p_cond of main_cond.py

static cdrl_st_file *fx;

// The tensor `key` against got (numel values): whole, or as a probe (see the top) plus the
// L2 norm, which must agree to the relative tolerance.
static void cmp(const char *key, const float *got, size_t numel, double atol, double rtol) {
    const cdrl_st_tensor *t = cdrl_st_find(fx, key);
    if (!t || t->dtype != CDRL_ST_F32 || t->numel > numel ||
        (t->numel < numel && t->numel != (size_t)fixture_int(fx, "probe"))) {
        printf("fixture: tensor '%s' missing or of the wrong size (want %zu values)\n", key, numel);
        test_checks++, test_failures++;
        return;
    }
    if (t->numel == numel) {
        check_close(key, got, (const float *)t->data, numel, atol, rtol);
        return;
    }
    const size_t P = t->numel;
    float probe[256];
    CDRL_ASSERT(P <= 256);
    double norm = 0;
    for (size_t i = 0; i < numel; i++)
        norm += (double)got[i] * (double)got[i];
    for (size_t i = 0; i < P; i++)
        probe[i] = got[i * numel / P];
    check_close(key, probe, (const float *)t->data, P, atol, rtol);
    char nk[300];
    snprintf(nk, sizeof nk, "norm.%s", key);
    float n32 = (float)sqrt(norm);
    check_close(nk, &n32, fixture_f32(fx, nk, 1), 1, atol, rtol);
}

// Gradients and Adam moments: a clipped gradient spreads a norm of at most 1 over 3e4-4e5
// elements, so their scale differs by orders of magnitude between tensors and networks.
// Each tensor is compared with rtol and an absolute slack of `scale` times its own largest
// element, but no less than 1e-5 x the largest element of the whole network (the rounding
// noise of tensors whose exact gradient is zero, see cmp_weights).
static void cmp_scaled(const char *prefix, const cdrl_param_table *t, const float *got,
                       double scale, double rtol) {
    char key[300];
    double net_max = 0;
    for (int i = 0; i < t->count; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        const cdrl_st_tensor *w = cdrl_st_find(fx, key);
        CDRL_ASSERT(w && w->dtype == CDRL_ST_F32);
        for (size_t k = 0; k < w->numel; k++)
            net_max = fmax(net_max, fabs((double)((const float *)w->data)[k]));
    }
    for (int i = 0; i < t->count; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        const cdrl_st_tensor *w = cdrl_st_find(fx, key);
        double m = 0;
        for (size_t k = 0; k < w->numel; k++)
            m = fmax(m, fabs((double)((const float *)w->data)[k]));
        cmp(key, got + t->items[i].offset, t->items[i].numel, fmax(scale * m, 1e-5 * net_max),
            rtol);
    }
}

static void cmp_table(const char *prefix, const cdrl_param_table *t, const float *got, double atol,
                      double rtol) {
    char key[300];
    for (int i = 0; i < t->count; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        cmp(key, got + t->items[i].offset, t->items[i].numel, atol, rtol);
    }
}

// The absolute gradient slack cmp_scaled allows tensor i of a network, the largest over the
// training iterations.
static double grad_atol(const char *net, const cdrl_param_table *t, int i, int n_iters) {
    char key[300];
    double worst = 0;
    for (int it = 0; it < n_iters; it++) {
        double net_max = 0, m = 0;
        for (int q = 0; q < t->count; q++) {
            snprintf(key, sizeof key, "it%d.grad.%s.%s", it, net, t->items[q].name);
            const cdrl_st_tensor *w = cdrl_st_find(fx, key);
            CDRL_ASSERT(w && w->dtype == CDRL_ST_F32);
            for (size_t k = 0; k < w->numel; k++) {
                const double a = fabs((double)((const float *)w->data)[k]);
                net_max = fmax(net_max, a);
                if (q == i) m = fmax(m, a);
            }
        }
        worst = fmax(worst, fmax(TOL_GRAD_SCALE * m, 1e-5 * net_max));
    }
    return worst;
}

// Weights (or EMA copies) after the n training iterations at learning rate lr. Adam moves each
// weight by lr m^/(sqrt(v^) + eps) per step: the ratio cancels the gradient's scale, so an
// element carries its gradient's relative error, not its absolute one, into the step. That
// relative error is at most (gradient slack) / (its RMS gradient sqrt(v^)) + TOL_GRAD_REL, and
// twice that when m and v err in opposite directions; a step errs by at most 2 lr either way.
// So each weight may differ by TOL_W + n lr min(2, 2 (slack / sqrt(v^) + TOL_GRAD_REL)). The
// cap matters where the exact gradient is zero and both sides hold rounding noise: the conv1
// bias of each U-Net ResBlock feeds a GroupNorm of one channel per group, which removes any
// per-channel constant; so does the final GroupNorm for the last ResBlock's and attention's
// output biases; and softmax ignores the key bias of attention. Elements at the cap are
// counted and printed. The slack also covers cancellation: the initializer's gradient comes
// from the Langevin displacement y^K - y0, a difference of nearby values.
static void cmp_weights(const char *prefix, const cdrl_param_table *t, const float *got,
                        const char *net, int n, double lr) {
    char key[300], vkey[300], worst_key[300] = "";
    size_t n_cap = 0, n_all = 0, bad = 0;
    double worst = 0;
    const double bc2 = 1.0 - pow(0.999, n); // Adam's bias correction of v
    for (int i = 0; i < t->count; i++) {
        const size_t numel = t->items[i].numel;
        const double slack = grad_atol(net, t, i, n);
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        snprintf(vkey, sizeof vkey, "adam_v.%s.%s", net, t->items[i].name);
        const cdrl_st_tensor *w = cdrl_st_find(fx, key), *v = cdrl_st_find(fx, vkey);
        CDRL_ASSERT(w && v && w->numel == v->numel && w->numel <= numel);
        const float *want = w->data, *vw = v->data;
        for (size_t k = 0; k < w->numel; k++) {
            const size_t at = w->numel == numel ? k : k * numel / w->numel;
            const double rms = sqrt((double)vw[k] / bc2);
            const double step_rel = 2 * (slack / rms + TOL_GRAD_REL); // inf when rms = 0
            n_cap += !(step_rel < 2.0), n_all++;
            const double lim =
                TOL_W_ABS + TOL_W_REL * fabs((double)want[k]) + n * lr * fmin(2.0, step_rel);
            const double d = fabs((double)got[t->items[i].offset + at] - (double)want[k]);
            if (d / lim > worst) {
                worst = d / lim;
                snprintf(worst_key, sizeof worst_key, "%s[%zu]", t->items[i].name, at);
            }
            if (!(d <= lim) && bad++ < 5)
                printf("    %s[%zu]: got %.8g want %.8g (limit %.3g)\n", key, at,
                       (double)got[t->items[i].offset + at], (double)want[k], lim);
        }
    }
    test_checks++;
    if (bad) test_failures++;
    printf("  %s %-34s %zu values (%zu at the cap), worst %.2f of its limit (%s)\n",
           bad ? "FAIL" : "ok  ", prefix, n_all, n_cap, worst, worst_key);
}

// Collects the Langevin iterates the trainer and the sampler hand to their trace hook, then
// puts the official iterate in their place, so that every step is compared from the same
// starting point and everything downstream (x^, f-, losses, gradients, the next level) is
// computed from the official samples. Without this the differences of each step carry on, and
// the EBM, which is piecewise linear in y (convolutions, LeakyReLU, ReLU), has an input
// gradient that jumps where a pre-activation changes sign: when one lies within the
// accumulated difference (1e-5) of zero, the two implementations take different branches and
// that sample's gradient differs by a finite amount (1.4e-3 at one pixel, seen in the guided
// chain) from that step on. The official y^K (not recorded: the official Langevin divides it
// in place) is rebuilt as x^ (sqrt(kappa) + 1e-8), one float32 rounding away.
typedef struct trace {
    float *buf;        // the C iterates, one row of nd floats per call
    const float *want; // the official iterates in call order
    size_t nd, cap, calls;
} trace;

static void trace_fn(void *user, int k, float *y) {
    (void)k;
    trace *tr = user;
    CDRL_ASSERT(tr->calls < tr->cap);
    memcpy(tr->buf + tr->calls * tr->nd, y, sizeof(float) * tr->nd);
    memcpy(y, tr->want + tr->calls * tr->nd, sizeof(float) * tr->nd);
    tr->calls++;
}

// row (nd) = x (B, D) * (sqrt(kappa_j) + 1e-8) per sample, the Langevin result before the
// division by the official code's last statement.
static void rebuild_yK(float *row, const float *x, const int *pair, int B, size_t D,
                       const cdrl_schedule *s) {
    for (int n = 0; n < B; n++) {
        const float sk = (float)sqrt(s->kappa[pair[n]]);
        for (size_t d = 0; d < D; d++)
            row[(size_t)n * D + d] = x[(size_t)n * D + d] * (sk + 1e-8f);
    }
}

// Langevin iterates, rows of B samples of D values, each computed by one C step from the
// official previous iterate. Within TOL_NET, except for kink events (see trace): elements
// beyond it are allowed in one sample of a row, up to KINK_MAX each (one unit's LeakyReLU slope
// 0.2 <-> 1 in 0.5 grad f: measured up to 6e-4, and 3.8e-3 in the pixels around one unit once
// Winograd took the 4x4 and 8x8 maps and rounded differently). A wrong constant or noise row
// moves every sample, and a misplaced noise row by sqrt(h_j) >= 5e-3.
#define KINK_MAX 4.5e-3
static void cmp_iterates(const char *key, const float *got, const float *want, int rows, int B,
                         size_t D) {
    const size_t nd = (size_t)B * D;
    int events = 0, bad = 0;
    double worst = 0, worst_out = 0;
    for (int r = 0; r < rows; r++) {
        int off_samples = 0;
        for (int n = 0; n < B; n++) {
            int off = 0;
            double smax = 0; // this sample's largest difference
            for (size_t d = 0; d < D; d++) {
                const size_t i = (size_t)r * nd + (size_t)n * D + d;
                const double e = fabs((double)got[i] - (double)want[i]);
                smax = fmax(smax, e);
                if (e <= TOL_NET_ABS + TOL_NET_REL * fabs((double)want[i])) continue;
                off = 1;
                if (!(e <= KINK_MAX) && bad++ < 5)
                    printf("    %s row %d sample %d [%zu]: got %.8g want %.8g\n", key, r, n, d,
                           (double)got[i], (double)want[i]);
            }
            if (off)
                worst_out = fmax(worst_out, smax);
            else
                worst = fmax(worst, smax);
            off_samples += off;
        }
        events += off_samples;
        if (off_samples > 1 && bad++ < 5)
            printf("    %s row %d: %d samples off\n", key, r, off_samples);
    }
    test_checks++;
    if (bad) test_failures++;
    printf("  %s %-34s %d rows, max abs %.3g outside kink events; %d events (max %.3g)\n",
           bad ? "FAIL" : "ok  ", key, rows, worst, events, worst_out);
}

static void run_case(const char *name) {
    printf("-- %s\n", name);
    fx = fixture_load(name);
    cdrl_img_ebm_config ce;
    cdrl_unet_config cu;
    official_configs(fx, &ce, &cu);
    const int B = fixture_int(fx, "B"), K = fixture_int(fx, "K"), T = fixture_int(fx, "T");
    const int n_iters = fixture_int(fx, "n_iters"), cond = ce.n_classes > 0;
    const size_t D = (size_t)ce.in_ch * (size_t)ce.res * (size_t)ce.res, nd = (size_t)B * D;
    cdrl_schedule s;
    cdrl_schedule_init_image(&s);
    CDRL_ASSERT(s.T == T);

    cdrl_rng rng;
    cdrl_rng_init(&rng, 1, 0);
    cdrl_img_ebm *ebm = cdrl_img_ebm_create(&ce, B, T + 1, &rng);
    cdrl_unet *unet = cdrl_unet_create(&cu, B, T + 1, &rng);
    CDRL_ASSERT(ebm && unet);
    CHECK(load_ebm(ebm, fx, "ebm.") == CDRL_OK, "load ebm.*");
    CHECK(load_table(&unet->params, unet->p_own, fx, "init.") == CDRL_OK, "load init.*");

    // The official hyper-parameters, with the learning rates and warm-up of the fixture (both
    // warm-up ramps in use: ref/official_image_iter.py).
    const long W = fixture_int(fx, "warmup");
    cdrl_train_params tp = {.batch = B,
                            .n_langevin = K,
                            .step_mul = 1.0f,
                            .lr_ebm = (float)atof(cdrl_st_meta(fx, "lr_ebm")),
                            .lr_init = (float)atof(cdrl_st_meta(fx, "lr_init")),
                            .warmup_ebm = W,
                            .warmup_init = W,
                            .warmup_init_offset = 500,
                            .ema_ebm = 0.9999f,
                            .ema_init = 0.9999f,
                            .ema_ramp = 1,
                            .clip = 1.0f,
                            .beta1 = 0.9f,
                            .beta2 = 0.999f,
                            .eps = 1e-8f,
                            .wd_init = 0.0f,
                            .n_attrs = cond,
                            .label_drop = LABEL_DROP};
    cdrl_trainer tr;
    CHECK(cdrl_trainer_init(&tr, &tp, &s, cdrl_img_ebm_net(ebm), cdrl_unet_net(unet), 0) == CDRL_OK,
          "trainer");
    trace lt = {.buf = test_floats((size_t)T * (size_t)(K + 1) * nd),
                .nd = nd,
                .cap = (size_t)T * (size_t)(K + 1)};
    float *want = test_floats((size_t)T * (size_t)(K + 1) * nd); // official iterates, call order
    lt.want = want;
    tr.langevin_trace = trace_fn;
    tr.langevin_trace_user = &lt;
    int *pair = (int *)test_floats((size_t)B);
    double lr_ebm = 0, lr_init = 0; // the largest learning rates used
    char key[300];
#define KEY(...) (snprintf(key, sizeof key, __VA_ARGS__), key)

    for (int it = 0; it < n_iters; it++) {
        memcpy(pair, fixture_i32(fx, KEY("it%d.pair", it), (size_t)B), sizeof(int) * (size_t)B);
        // The official label drop on its recorded uniforms happens inside the step.
        const int *cls = cond ? fixture_i32(fx, KEY("it%d.class", it), (size_t)B) : NULL;
        cdrl_step_noise nz = {
            .pair = pair,
            .eps = (float *)(uintptr_t)fixture_f32(fx, KEY("it%d.eps", it), nd),
            .xi_init = (float *)(uintptr_t)fixture_f32(fx, KEY("it%d.xi_init", it), nd),
            .xi_langevin =
                (float *)(uintptr_t)fixture_f32(fx, KEY("it%d.xi_langevin", it), nd * (size_t)K),
            .label_u = cond
                           ? (float *)(uintptr_t)fixture_f32(fx, KEY("it%d.label_u", it), (size_t)B)
                           : NULL};
        const cdrl_st_tensor *masks = cdrl_st_find(fx, KEY("it%d.dropout", it));
        CDRL_ASSERT(masks && masks->dtype == CDRL_ST_F32);
        unet->replay_dropout = masks->data;
        lt.calls = 0;
        memcpy(want, fixture_f32(fx, KEY("it%d.langevin", it), (size_t)K * nd),
               sizeof(float) * (size_t)K * nd);
        rebuild_yK(want + (size_t)K * nd, fixture_f32(fx, KEY("it%d.x_hat", it), nd), pair, B, D,
                   &s);
        cdrl_step_stats st;
        CHECK(cdrl_trainer_step_with_noise(&tr, fixture_f32(fx, KEY("it%d.x", it), nd), cls, &nz,
                                           &st) == CDRL_OK,
              "iteration %d", it);
        if (cond) // class k -> k + 1 or the null label 0, as the official code dropped them
            CHECK(memcmp(tr.label, fixture_i32(fx, KEY("it%d.label", it), (size_t)B),
                         sizeof(int) * (size_t)B) == 0,
                  "it%d: labels after the drop", it);
        CHECK(unet->replay_dropout == (const float *)masks->data + masks->numel,
              "it%d: the U-Net used %td of the %zu official dropout multipliers", it,
              unet->replay_dropout - (const float *)masks->data, masks->numel);
        unet->replay_dropout = NULL;
        CHECK(lt.calls == (size_t)K + 1, "it%d: %zu Langevin trace calls", it, lt.calls);

        cmp(KEY("it%d.x_j", it), tr.x_j, nd, TOL_X_ABS, TOL_X_REL);
        cmp(KEY("it%d.y_pos", it), tr.y_pos, nd, TOL_X_ABS, TOL_X_REL);
        cmp(KEY("it%d.f_pos", it), tr.f_pos, (size_t)B, TOL_NET_ABS, TOL_NET_REL);
        cmp(KEY("it%d.mu", it), tr.mu, nd, TOL_NET_ABS, TOL_NET_REL);
        cmp(KEY("it%d.y0", it), tr.y0, nd, TOL_NET_ABS, TOL_NET_REL);
        cmp_iterates(KEY("it%d.langevin", it), lt.buf, want, K + 1, B, D);
        cmp(KEY("it%d.y_neg", it), tr.y_neg, nd, TOL_NET_ABS, TOL_NET_REL);
        cmp(KEY("it%d.f_neg", it), tr.f_neg, (size_t)B, TOL_NET_ABS, TOL_NET_REL);
        // losses, gradient norms before clipping, learning rates of the updates
        const float stats[6] = {st.loss_ebm,       st.loss_init, st.grad_norm_ebm,
                                st.grad_norm_init, st.lr_ebm,    st.lr_init};
        cmp(KEY("it%d.stats", it), stats, 6, TOL_NET_ABS, TOL_NET_REL);
        lr_ebm = fmax(lr_ebm, (double)st.lr_ebm);
        lr_init = fmax(lr_init, (double)st.lr_init);
        cmp_scaled(KEY("it%d.grad.ebm.", it), &ebm->base.params, ebm->base.grad, TOL_GRAD_SCALE,
                   TOL_GRAD_REL);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "it%d.grad.init.", it);
        cmp_scaled(prefix, &unet->params, unet->grad, TOL_GRAD_SCALE, TOL_GRAD_REL);
    }

    cmp_weights("final.ebm.", &ebm->base.params, ebm->base.p_own, "ebm", n_iters, lr_ebm);
    cmp_table("final.ebm.", &ebm->base.buffers, ebm->base.buf, TOL_W_ABS, TOL_W_REL); // SN u, v
    cmp_weights("ema.ebm.", &ebm->base.params, tr.ebm_ema, "ebm", n_iters, lr_ebm);
    cmp_scaled("adam_m.ebm.", &ebm->base.params, tr.ebm_m, TOL_GRAD_SCALE, TOL_GRAD_REL);
    cmp_scaled("adam_v.ebm.", &ebm->base.params, tr.ebm_v, 2 * TOL_GRAD_SCALE, 2 * TOL_GRAD_REL);
    cmp_weights("final.init.", &unet->params, unet->p_own, "init", n_iters, lr_init);
    cmp_weights("ema.init.", &unet->params, tr.init_ema, "init", n_iters, lr_init);
    cmp_scaled("adam_m.init.", &unet->params, tr.init_m, TOL_GRAD_SCALE, TOL_GRAD_REL);
    cmp_scaled("adam_v.init.", &unet->params, tr.init_v, 2 * TOL_GRAD_SCALE, 2 * TOL_GRAD_REL);

    // Sampling after training (eval mode), K steps per level, the Tweedie step at the end: with
    // the weights, and with the EMA copies swapped in (the SN u, v stay the live ones) as the
    // official FID sampler does; conditional at guidance w = 0 and 1.
    static const struct {
        const char *tag;
        int cond, ema;
        float w;
    } cases[] = {{"sample", 0, 0, 0.0f},
                 {"sample_ema", 0, 1, 0.0f},
                 {"sample_w0", 1, 0, 0.0f},
                 {"sample_w1", 1, 0, 1.0f},
                 {"sample_ema_w1", 1, 1, 1.0f}};
    cdrl_arena scratch;
    CHECK(cdrl_arena_init(&scratch, cdrl_chain_scratch_size(B, (int)D)) == CDRL_OK, "arena");
    float *x = test_floats(nd), *levels = test_floats((size_t)T * nd);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (cases[c].cond != cond) continue;
        const char *tag = cases[c].tag;
        ebm->base.p = cases[c].ema ? tr.ebm_ema : ebm->base.p_own;
        unet->p = cases[c].ema ? tr.init_ema : unet->p_own;
        memcpy(x, fixture_f32(fx, KEY("%s.x_top", tag), nd), sizeof(float) * nd);
        cdrl_chain_noise noise = {.xi_init =
                                      fixture_f32(fx, KEY("%s.xi_init", tag), (size_t)T * nd)};
        noise.xi_langevin = fixture_f32(fx, KEY("%s.xi_langevin", tag), (size_t)T * (size_t)K * nd);
        cdrl_chain_params cp = {
            .n_langevin = K,
            .n_langevin_ref = K,
            .tweedie = 1,
            .cond = {.n = cond,
                     .label = {cond ? fixture_i32(fx, KEY("%s.label", tag), (size_t)B) : NULL},
                     .w = {cases[c].w}},
            .trace = trace_fn,
            .trace_user = &lt};
        // Call i (K + 1) + k is iterate k of pair T - i; the fixture holds iterates 0..K-1 of
        // pair j at row j - 1, and x_{j-1} for j = T..1 in levels.
        const float *wl = fixture_f32(fx, KEY("%s.langevin", tag), (size_t)T * (size_t)K * nd);
        const float *wx = fixture_f32(fx, KEY("%s.levels", tag), (size_t)T * nd);
        for (int i = 0; i < T; i++) {
            float *row = want + (size_t)i * (size_t)(K + 1) * nd;
            memcpy(row, wl + (size_t)(T - 1 - i) * (size_t)K * nd, sizeof(float) * (size_t)K * nd);
            for (int n = 0; n < B; n++)
                pair[n] = T - i;
            rebuild_yK(row + (size_t)K * nd, wx + (size_t)i * nd, pair, B, D, &s);
        }
        lt.calls = 0;
        cdrl_net en = cdrl_img_ebm_net(ebm), un = cdrl_unet_net(unet);
        CHECK(cdrl_chain_run(&en, &un, x, levels, B, &s, &cp, &noise, &rng, &scratch) == CDRL_OK,
              "%s", tag);
        CHECK(lt.calls == (size_t)T * (size_t)(K + 1), "%s: %zu trace calls", tag, lt.calls);
        cmp_iterates(KEY("%s.langevin", tag), lt.buf, want, T * (K + 1), B, D);
        cmp(KEY("%s.levels", tag), levels, (size_t)T * nd, TOL_NET_ABS, TOL_NET_REL);
        cmp(KEY("%s.out", tag), x, nd, TOL_OUT_ABS, TOL_NET_REL);
    }
    ebm->base.p = ebm->base.p_own;
    unet->p = unet->p_own;
    cdrl_arena_deinit(&scratch);
    cdrl_free(x);
    cdrl_free(levels);
    cdrl_free(want);
    cdrl_free(lt.buf);
    cdrl_free(pair);
    cdrl_trainer_deinit(&tr);
    cdrl_unet_free(unet);
    cdrl_img_ebm_free(ebm);
    cdrl_st_free(fx);
#undef KEY
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    run_case("official_iter_uncond");
    run_case("official_iter_cond");
    return test_report("test_official_iter");
}
