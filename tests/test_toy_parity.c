// Parity with the PyTorch twin (ref/toy_twin.py, itself checked against the official
// toy_example.py): from the same initial weights and with the same noise, 10 CDRL training
// iterations give the same positive and negative energies, initializer proposals, refined
// samples, losses and gradient norms, and end with the same weights, EMA copies and Adam
// moments of both networks; then the sampling chain (15 and 5 Langevin steps) from the final
// EMA weights gives the same samples. This is the proof that the trainer is the official
// algorithm. Fixture: `make fixtures` (ref/fixtures_toy_train.py).
//
// Tolerances. The twin also ran each computation in float64; floor.<name> holds
// |float32 - float64| per sample (per tensor for weights). Two float32 implementations that
// sum in different orders differ by about the same amount, so each check allows
// 20 x floor + a small absolute slack; an algorithmic difference (a wrong constant, order or
// noise index) is orders of magnitude above that.
#include "diffusion/schedule.h"
#include "models/toy_ebm.h"
#include "models/toy_init.h"
#include "sampler/chain.h"
#include "test_util.h"
#include "train/trainer.h"

static cdrl_st_file *fx;

static double floor_of(const char *name, size_t i) {
    char key[256];
    snprintf(key, sizeof key, "floor.%s", name);
    const cdrl_st_tensor *t = cdrl_st_find(fx, key);
    if (!t) return 0;
    const float *f = t->data;
    return (double)(t->numel == 1 ? f[0] : f[i]);
}

// |got - want| <= 20 floor + atol, per element (floor per sample row of `row` values).
static void check_floor(const char *name, const float *got, size_t n, size_t row, double atol) {
    const float *want = fixture_f32(fx, name, n);
    size_t bad = 0;
    double worst = 0, worst_ratio = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]),
               lim = 20 * floor_of(name, i / row) + atol;
        if (d > worst) worst = d;
        if (d / lim > worst_ratio) worst_ratio = d / lim;
        if (!(d <= lim) && bad++ < 3)
            printf("    %s[%zu]: got %.8g want %.8g (limit %.3g)\n", name, i, (double)got[i],
                   (double)want[i], lim);
    }
    test_checks++;
    if (bad) test_failures++;
    printf("  %s %-40s max abs %.3g, %.2f of its limit\n", bad ? "FAIL" : "ok  ", name, worst,
           worst_ratio);
}

static void load_params(const char *prefix, const cdrl_param_table *t, float *dst) {
    char key[256];
    for (int i = 0; i < t->count; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        memcpy(dst + t->items[i].offset, fixture_f32(fx, key, t->items[i].numel),
               sizeof(float) * t->items[i].numel);
    }
}

static void check_params(const char *prefix, const cdrl_param_table *t, const float *got,
                         double atol) {
    char key[256];
    for (int i = 0; i < t->count; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, t->items[i].name);
        check_floor(key, got + t->items[i].offset, t->items[i].numel, t->items[i].numel, atol);
    }
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    fx = fixture_load("toy_train");
    const int B = fixture_int(fx, "B"), K = fixture_int(fx, "K"), T = fixture_int(fx, "T");
    const int n_iters = fixture_int(fx, "n_iters");
    CHECK(fixture_int(fx, "accumulate_grads") == 0 && fixture_int(fx, "ebm_blocks") == 1 &&
              fixture_int(fx, "gen_blocks") == 1,
          "fixture configuration");

    cdrl_schedule s;
    cdrl_schedule_init(&s, T, atof(cdrl_st_meta(fx, "logsnr_min")),
                       atof(cdrl_st_meta(fx, "logsnr_max")), atof(cdrl_st_meta(fx, "b")),
                       CDRL_STEP_SCALE_TOY);
    float tau[CDRL_MAX_LEVELS + 1];
    for (int l = 0; l <= T; l++)
        tau[l] = (float)s.tau[l];
    check_close("schedule tau (float32)", tau, fixture_f32(fx, "sched.tau", (size_t)T + 1),
                (size_t)T + 1, 0, 0);

    cdrl_rng rng;
    cdrl_rng_init(&rng, 0, 0);
    cdrl_toy_ebm_config ec;
    cdrl_toy_ebm_config_default(&ec);
    ec.ch = fixture_int(fx, "ch");
    ec.temb_dim = fixture_int(fx, "temb_dim");
    cdrl_toy_init_config ic = {.in_dim = 2,
                               .t_dim = fixture_int(fx, "t_dim"),
                               .h_dim = fixture_int(fx, "h_dim"),
                               .n_blocks = 1,
                               .groups = 32};
    cdrl_toy_ebm *ebm = cdrl_toy_ebm_create(&ec, B, T + 1, &rng);
    cdrl_toy_init *gen = cdrl_toy_init_create(&ic, B, T + 1, &rng);
    load_params("init.ebm.", &ebm->base.params, ebm->base.p_own);
    load_params("init.ebm.", &ebm->base.buffers, ebm->base.buf);
    load_params("init.gen.", &gen->params, gen->p_own);

    // The EBM at the initial weights after one power iteration (probe.*): values and input
    // gradients at every level.
    {
        const int n = fixture_int(fx, "n_probe");
        cdrl_toy_ebm *pe = cdrl_toy_ebm_create(&ec, n, T + 1, &rng);
        load_params("init.ebm.", &pe->base.params, pe->base.p_own);
        load_params("init.ebm.", &pe->base.buffers, pe->base.buf);
        cdrl_toy_ebm_prepare(pe, tau, T + 1, 1);
        check_params("probe.sn.", &pe->base.buffers, pe->base.buf, 1e-6);
        const float *y = fixture_f32(fx, "probe.y", (size_t)n * 2);
        float *f = test_floats((size_t)T * (size_t)n), *g = test_floats((size_t)T * (size_t)n * 2);
        int level[64];
        float ones[64];
        for (int j = 0; j < T; j++) {
            for (int i = 0; i < n; i++)
                level[i] = j, ones[i] = 1.0f;
            cdrl_toy_ebm_forward(pe, f + (size_t)j * (size_t)n, y, level, NULL, n);
            cdrl_toy_ebm_backward(pe, g + (size_t)j * (size_t)n * 2, ones, 0);
        }
        // One float32 ulp of the sinusoid's frequencies (PyTorch's vector exp vs libm) moves
        // the embedding by up to 6e-5 at tau ~ 1000: hence 2e-5 slack on f.
        check_floor("probe.f", f, (size_t)T * (size_t)n, 1, 2e-5);
        check_floor("probe.grad", g, (size_t)T * (size_t)n * 2, 1, 2e-5);
        cdrl_free(f);
        cdrl_free(g);
        cdrl_toy_ebm_free(pe);
    }

    cdrl_train_params tp = {.batch = B,
                            .n_langevin = K,
                            .step_mul = 1.0f,
                            .lr_ebm = (float)atof(cdrl_st_meta(fx, "lr_ebm")),
                            .lr_init = (float)atof(cdrl_st_meta(fx, "lr_gen")),
                            .warmup_ebm = fixture_int(fx, "warmup_ebm"),
                            .warmup_init = fixture_int(fx, "warmup_gen"),
                            .warmup_init_offset = fixture_int(fx, "warmup_gen_offset"),
                            .ema_ebm = (float)atof(cdrl_st_meta(fx, "ema_ebm")),
                            .ema_init = (float)atof(cdrl_st_meta(fx, "ema_gen")),
                            .clip = (float)atof(cdrl_st_meta(fx, "clip")),
                            .ema_ramp = 1,
                            .beta1 = 0.9f,
                            .beta2 = 0.999f,
                            .eps = 1e-8f};
    cdrl_trainer tr;
    CHECK(cdrl_trainer_init(&tr, &tp, &s, cdrl_toy_ebm_net(ebm), cdrl_toy_init_net(gen), 0) ==
              CDRL_OK,
          "trainer");
    const size_t nd = (size_t)B * 2;
    float *x_neg = test_floats(nd);
    int *pair = (int *)test_floats((size_t)B);
    char name[64];
    for (int k = 0; k < n_iters; k++) {
#define IT(s) (snprintf(name, sizeof name, "it%d." s, k), name)
        const cdrl_st_tensor *j = cdrl_st_find(fx, IT("j"));
        CDRL_ASSERT(j && j->dtype == CDRL_ST_I32 && j->numel == (size_t)B);
        memcpy(pair, j->data, sizeof(int) * (size_t)B);
        cdrl_step_noise nz = {
            .pair = pair,
            .eps = (float *)(uintptr_t)fixture_f32(fx, IT("eps"), nd),
            .xi_init = (float *)(uintptr_t)fixture_f32(fx, IT("xi_init"), nd),
            .xi_langevin = (float *)(uintptr_t)fixture_f32(fx, IT("xi_langevin"), nd * (size_t)K)};
        cdrl_step_stats st;
        CHECK(cdrl_trainer_step_with_noise(&tr, fixture_f32(fx, IT("x"), nd), NULL, &nz, &st) ==
                  CDRL_OK,
              "iteration %d", k);
        for (int n = 0; n < B; n++) {
            float sk = (float)sqrt(s.kappa[pair[n]]);
            for (int d = 0; d < 2; d++)
                x_neg[2 * n + d] = tr.y[2 * n + d] / (sk + 1e-8f);
        }
        check_floor(IT("f_pos"), tr.f_pos, (size_t)B, 1, 1e-6);
        check_floor(IT("y0"), tr.y0, nd, 2, 1e-6);
        check_floor(IT("x_neg"), x_neg, nd, 2, 1e-5);
        check_floor(IT("f_neg"), tr.f_neg, (size_t)B, 1, 1e-6);
        check_floor(IT("loss_ebm"), &st.loss_ebm, 1, 1, 1e-7);
        check_floor(IT("loss_init"), &st.loss_init, 1, 1, 1e-6);
        check_floor(IT("gnorm_ebm"), &st.grad_norm_ebm, 1, 1, 1e-6);
        check_floor(IT("gnorm_gen"), &st.grad_norm_init, 1, 1, 1e-5);
        check_floor(IT("lr_ebm"), &st.lr_ebm, 1, 1, 1e-12);
        check_floor(IT("lr_gen"), &st.lr_init, 1, 1, 1e-12);
    }
    // Weights after 10 updates: parameters move by lr ~ 1e-3 per step, so 1e-6 of slack is
    // 0.1 % of one step.
    check_params("final.ebm.", &ebm->base.params, ebm->base.p_own, 1e-6);
    check_params("final.ebm.", &ebm->base.buffers, ebm->base.buf, 1e-6);
    check_params("final.ebm_ema.", &ebm->base.params, tr.ebm_ema, 1e-6);
    check_params("final.ebm_adam_m.", &ebm->base.params, tr.ebm_m, 1e-7);
    check_params("final.ebm_adam_v.", &ebm->base.params, tr.ebm_v, 1e-9);
    check_params("final.gen.", &gen->params, gen->p_own, 1e-6);
    check_params("final.gen_ema.", &gen->params, tr.init_ema, 1e-6);
    check_params("final.gen_adam_m.", &gen->params, tr.init_m, 1e-6);
    check_params("final.gen_adam_v.", &gen->params, tr.init_v, 1e-8);

    // The sampling chain from the final EMA weights with the live u, v, at 15 steps and at 5
    // (step-size multiplier 15/5 = 3, method.md §2.3).
    const int n_chain = fixture_int(fx, "n_chain"), k_fast = fixture_int(fx, "K_fast");
    cdrl_arena scratch;
    CHECK(cdrl_arena_init(&scratch, cdrl_chain_scratch_size(n_chain, 2)) == CDRL_OK, "arena");
    ebm->base.p = tr.ebm_ema;
    gen->p = tr.init_ema;
    const char *chains[2] = {"chain", "chain_fast"};
    for (int c = 0; c < 2; c++) {
        const int kc = c ? k_fast : K;
        const size_t nc = (size_t)n_chain * 2;
        float *x = test_floats(nc), *levels = test_floats((size_t)T * nc);
        char key[64];
        snprintf(key, sizeof key, "%s.x_top", chains[c]);
        memcpy(x, fixture_f32(fx, key, nc), sizeof(float) * nc);
        snprintf(key, sizeof key, "%s.xi_init", chains[c]);
        cdrl_chain_noise noise = {.xi_init = fixture_f32(fx, key, (size_t)T * nc)};
        snprintf(key, sizeof key, "%s.xi_langevin", chains[c]);
        noise.xi_langevin = fixture_f32(fx, key, (size_t)T * (size_t)kc * nc);
        cdrl_chain_params cp = {.n_langevin = kc, .n_langevin_ref = K, .tweedie = 0};
        cdrl_net en = cdrl_toy_ebm_net(ebm), gn = cdrl_toy_init_net(gen);
        CHECK(cdrl_chain_run(&en, &gn, x, levels, n_chain, &s, &cp, &noise, &rng, &scratch) ==
                  CDRL_OK,
              "chain");
        snprintf(key, sizeof key, "%s.levels", chains[c]);
        check_floor(key, levels, (size_t)T * nc, nc, 1e-5);
        snprintf(key, sizeof key, "%s.x0", chains[c]);
        check_floor(key, x, nc, nc, 1e-5);
        cdrl_free(x);
        cdrl_free(levels);
    }
    cdrl_arena_deinit(&scratch);
    cdrl_trainer_deinit(&tr);
    cdrl_free(x_neg);
    cdrl_free(pair);
    cdrl_toy_init_free(gen);
    cdrl_toy_ebm_free(ebm);
    cdrl_st_free(fx);
    return test_report("test_toy_parity");
}
