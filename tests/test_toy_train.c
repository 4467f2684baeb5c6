// Training on 2-D data through the public API: N steps equal N/2 steps, a checkpoint, a
// reload and N/2 more, bit for bit (losses, every tensor); the same bytes at 1 and 2 threads;
// divergence reported without touching the weights; checkpoints refused when corrupt.
#include "cdrl.h"
#include "test_model_util.h"

#define STEPS 6

static void small_config(cdrl_config *c) {
    cdrl_config_preset(c, "demo");
    c->ebm_ch = 16;
    c->init_t_dim = 16;
    c->batch = 48;
    c->n_langevin = 5;
    c->seed = 9;
}

static char last_log[1024]; // the messages logged since it was emptied, one after another
static void capture_log(cdrl_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    size_t used = strlen(last_log);
    snprintf(last_log + used, sizeof last_log - used, "%s; ", msg);
}

// A 2-D model conditional on the two attributes of rings (ring 4, quadrant 4): N steps equal
// N/2 + save + load + N/2 (the per-attribute label drops included); the composition of a ring
// and a quadrant samples finite points; data with other attributes is refused.
static void test_conditional(void) {
    cdrl_config c;
    small_config(&c);
    c.n_classes = 4, c.n_more_attrs = 1, c.more_classes[0] = 4;
    cdrl_dataset *d = NULL, *g8 = NULL;
    CHECK(cdrl_dataset_open(&d, "rings") == CDRL_OK &&
              cdrl_dataset_open(&g8, "8gaussians") == CDRL_OK,
          "open rings and 8gaussians");
    cdrl_train_stats full[STEPS], half[STEPS];
    cdrl_model *a = NULL, *b = NULL, *r = NULL;
    const char *ckpt = "build/test_toy_train_cond.safetensors";
    CHECK(cdrl_model_create(&a, &c) == CDRL_OK && train_steps(a, d, STEPS, full),
          "conditional on ring and quadrant: %d steps", STEPS);
    CHECK(cdrl_model_create(&b, &c) == CDRL_OK && train_steps(b, d, STEPS / 2, half) &&
              cdrl_model_save(b, ckpt) == CDRL_OK && cdrl_model_load(&r, ckpt) == CDRL_OK &&
              train_steps(r, d, STEPS - STEPS / 2, half + STEPS / 2),
          "conditional: half, save, load, half");
    CHECK(r && cdrl_model_config(r)->n_more_attrs == 1 &&
              cdrl_model_config(r)->more_classes[0] == 4,
          "the checkpoint keeps the second attribute");
    CHECK(a && r && full[STEPS - 1].loss_ebm == half[STEPS - 1].loss_ebm && same_models(a, r),
          "conditional: N steps == N/2 + resume + N/2");
    CHECK(a && cdrl_model_train_step(a, g8, NULL) == CDRL_STATUS_MISMATCH,
          "data with one attribute is refused by a two-attribute model");
    enum { N = 64 };
    int ring[N * 2], quad[N * 2];
    for (int i = 0; i < N; i++)
        ring[2 * i] = 2, ring[2 * i + 1] = 0, quad[2 * i] = 0, quad[2 * i + 1] = 3;
    float x[N * 2];
    cdrl_sample_params sp;
    cdrl_sample_params_init(&sp, a);
    sp.n_terms = 2, sp.label[0] = ring, sp.label[1] = quad, sp.weight[0] = sp.weight[1] = 1.0f;
    CHECK(a && cdrl_model_sample_with(a, x, N, &sp) == CDRL_OK && all_finite(x, N * 2),
          "composed sampling (ring 2 and quadrant 3) is finite");
    // The composed log density against its definition: sum_i (1 + w_i) lp(c_i) + a0 lp(null),
    // each lp(c_i) the one-term density of weight 0 and lp(null) the unconditional one.
    float lc[N], l1[N], l2[N], l0[N];
    sp.weight[0] = 1.5f, sp.weight[1] = 0.5f;
    cdrl_sample_params one;
    cdrl_sample_params_init(&one, a);
    one.n_terms = 1;
    int ok = a && cdrl_model_log_density_with(a, lc, NULL, x, N, 1, &sp) == CDRL_OK &&
             cdrl_model_log_density(a, l0, NULL, x, N, 1, 1) == CDRL_OK;
    one.label[0] = ring;
    ok = ok && cdrl_model_log_density_with(a, l1, NULL, x, N, 1, &one) == CDRL_OK;
    one.label[0] = quad;
    ok = ok && cdrl_model_log_density_with(a, l2, NULL, x, N, 1, &one) == CDRL_OK;
    double worst = 0, size = 0;
    for (int i = 0; ok && i < N; i++) {
        const double want =
            2.5 * (double)l1[i] + 1.5 * (double)l2[i] + (1.0 - 2.5 - 1.5) * (double)l0[i];
        worst = fmax(worst, fabs(want - (double)lc[i]));
        size = fmax(size, fabs(want));
    }
    CHECK(ok && worst <= 1e-5 * size + 1e-5,
          "composed log density: off its definition by %.3g (of %.3g)", worst, size);
    quad[1] = 5;
    CHECK(a && cdrl_model_sample_with(a, x, N, &sp) == CDRL_STATUS_INVALID,
          "a quadrant label past 4 is refused");
    cdrl_model_free(a), cdrl_model_free(b), cdrl_model_free(r);
    cdrl_dataset_free(d), cdrl_dataset_free(g8);
    remove(ckpt);
}

// Chunks of the batch (grad_chunks): the iteration cut into 3, 5 (rows 9 and 10) and 48 chunks
// (one row each) gives the losses and gradient norms of one pass up to rounding, which a chunk
// of wrong rows or a lost chunk would not; more chunks than rows are refused.
static void test_chunks(const cdrl_dataset *d) {
    cdrl_config c;
    small_config(&c);
    cdrl_train_stats one[2], cut[2];
    cdrl_model *a = NULL;
    CHECK(cdrl_model_create(&a, &c) == CDRL_OK && train_steps(a, d, 2, one), "one pass");
    const int chunks[] = {3, 5, 48};
    for (int i = 0; i < 3; i++) {
        cdrl_config e = c;
        e.grad_chunks = chunks[i];
        cdrl_model *b = NULL;
        CHECK(cdrl_model_create(&b, &e) == CDRL_OK && train_steps(b, d, 2, cut), "%d chunks",
              chunks[i]);
        double worst = 0;
        for (int k = 0; k < 2; k++) {
            const double pairs[4][2] = {{one[k].loss_ebm, cut[k].loss_ebm},
                                        {one[k].loss_init, cut[k].loss_init},
                                        {one[k].grad_norm_ebm, cut[k].grad_norm_ebm},
                                        {one[k].grad_norm_init, cut[k].grad_norm_init}};
            for (int q = 0; q < 4; q++)
                worst =
                    fmax(worst, fabs(pairs[q][0] - pairs[q][1]) / fmax(fabs(pairs[q][0]), 1e-3));
        }
        CHECK(worst < 1e-4, "%d chunks: losses and gradient norms of one pass (worst rel %.2g)",
              chunks[i], worst);
        cdrl_model_free(b);
    }
    cdrl_config bad = c;
    bad.grad_chunks = c.batch + 1;
    cdrl_model *z = NULL;
    CHECK(cdrl_model_create(&z, &bad) == CDRL_STATUS_INVALID && !z,
          "grad_chunks above the batch is refused");
    cdrl_model_free(a);
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    cdrl_config c;
    small_config(&c);
    cdrl_dataset *d = NULL;
    CHECK(cdrl_dataset_open(&d, "checkerboard") == CDRL_OK, "open checkerboard");
    cdrl_train_stats full[STEPS], half[STEPS];

    // N steps in one go.
    cdrl_model *a = NULL;
    CHECK(cdrl_model_create(&a, &c) == CDRL_OK, "create");
    CHECK(train_steps(a, d, STEPS, full), "train %d steps", STEPS);
    CHECK(cdrl_model_step(a) == STEPS, "step counter");
    CHECK(full[STEPS - 1].lr_ebm > 0 && full[0].lr_ebm == 0, "the EBM warm-up starts at lr 0");

    // N/2, checkpoint, reload, N/2.
    const char *ckpt = "build/test_toy_train.safetensors";
    cdrl_model *b = NULL, *r = NULL;
    CHECK(cdrl_model_create(&b, &c) == CDRL_OK, "create");
    CHECK(train_steps(b, d, STEPS / 2, half), "first half");
    CHECK(cdrl_model_save(b, ckpt) == CDRL_OK, "save");
    CHECK(cdrl_model_load(&r, ckpt) == CDRL_OK, "load");
    if (r) {
        CHECK(cdrl_model_step(r) == STEPS / 2, "resumed step %ld", cdrl_model_step(r));
        CHECK(train_steps(r, d, STEPS - STEPS / 2, half + STEPS / 2), "second half");
        int same_losses = 1;
        for (int i = 0; i < STEPS; i++)
            same_losses &= full[i].loss_ebm == half[i].loss_ebm &&
                           full[i].loss_init == half[i].loss_init &&
                           full[i].f_pos == half[i].f_pos && full[i].f_neg == half[i].f_neg;
        CHECK(same_losses, "losses of N steps and N/2 + resume + N/2 are identical");
        CHECK(same_models(a, r),
              "weights, EMA, Adam moments and SN vectors identical after resume");
    }

    // The same bytes at 1 thread.
    int saved = cdrl_threads();
    cdrl_set_threads(1);
    cdrl_model *one = NULL;
    cdrl_train_stats st1[STEPS];
    CHECK(cdrl_model_create(&one, &c) == CDRL_OK && train_steps(one, d, STEPS, st1),
          "train at 1 thread");
    cdrl_set_threads(saved);
    CHECK(st1[STEPS - 1].loss_ebm == full[STEPS - 1].loss_ebm && same_models(a, one),
          "1 and %d threads give the same model", saved);

    // Sampling is reproducible and finite.
    float s1[200 * 2], s2[200 * 2];
    CHECK(cdrl_model_sample(a, s1, NULL, 200, 5, 1, 3) == CDRL_OK &&
              cdrl_model_sample(a, s2, NULL, 200, 5, 1, 3) == CDRL_OK,
          "sample");
    CHECK(memcmp(s1, s2, sizeof s1) == 0, "same seed, same samples");

    // EMA without the warm-up ramp: after one update the copy is d p0 + (1 - d) p1 exactly as
    // configured (with the official ramp the first decay would be min(d, 2/11)).
    {
        cdrl_config e = c;
        e.ema_ramp = 0;
        e.ema_ebm = e.ema_init = 0.75f;
        e.warmup_ebm = 0; // so that the first update moves the weights
        cdrl_model *em = NULL;
        cdrl_st_file *f0 = NULL, *f1 = NULL;
        const char *p0 = "build/test_toy_train_ema0.safetensors",
                   *p1 = "build/test_toy_train_ema1.safetensors";
        CHECK(cdrl_model_create(&em, &e) == CDRL_OK && cdrl_model_save(em, p0) == CDRL_OK &&
                  train_steps(em, d, 1, full) && cdrl_model_save(em, p1) == CDRL_OK &&
                  cdrl_st_load(&f0, p0) == CDRL_OK && cdrl_st_load(&f1, p1) == CDRL_OK,
              "one step without the EMA ramp");
        if (f0 && f1) {
            const cdrl_st_tensor *w0 = cdrl_st_find(f0, "ebm.final_dense.weight");
            const cdrl_st_tensor *w1 = cdrl_st_find(f1, "ebm.final_dense.weight");
            const cdrl_st_tensor *ema1 = cdrl_st_find(f1, "ebm_ema.final_dense.weight");
            double worst = 0;
            for (size_t i = 0; w0 && w1 && ema1 && i < w0->numel; i++) {
                const float *a0 = w0->data, *a1 = w1->data, *sh = ema1->data;
                double want = 0.75 * (double)a0[i] + 0.25 * (double)a1[i];
                worst = fmax(worst, fabs((double)sh[i] - want));
            }
            CHECK(w0 && w1 && ema1 && worst < 1e-7 &&
                      memcmp(w0->data, w1->data, w0->numel * 4) != 0,
                  "EMA after one update is 0.75 p0 + 0.25 p1 (max diff %.3g)", worst);
        }
        cdrl_st_free(f0);
        cdrl_st_free(f1);
        cdrl_model_free(em);
        remove(p0);
        remove(p1);
    }

    // The diagnostic init_data_weight = 1: the initializer regresses on the data pair, so its
    // loss does not depend on the Langevin chain (here a 4x larger b); with 0 (CDRL) it does.
    {
        cdrl_train_stats ref[STEPS], other[STEPS];
        int same_data = 1, same_cdrl = 1;
        for (int a_data = 0; a_data <= 1; a_data++) {
            cdrl_config e = c, f = c;
            e.init_data_weight = f.init_data_weight = (float)a_data;
            f.step_b = 4 * c.step_b;
            cdrl_model *me = NULL, *mf = NULL;
            CHECK(cdrl_model_create(&me, &e) == CDRL_OK && cdrl_model_create(&mf, &f) == CDRL_OK &&
                      train_steps(me, d, STEPS, ref) && train_steps(mf, d, STEPS, other),
                  "train with init_data_weight %d", a_data);
            int same = 1;
            for (int i = 0; i < STEPS; i++)
                same &= ref[i].loss_init == other[i].loss_init;
            *(a_data ? &same_data : &same_cdrl) = same;
            cdrl_model_free(me);
            cdrl_model_free(mf);
        }
        CHECK(same_data && !same_cdrl,
              "init_data_weight 1 makes the initializer's loss independent of the chain (%d), 0 "
              "does not (%d)",
              same_data, same_cdrl);
    }

    // Divergence: an absurd learning rate makes NaN; the step reports it and changes nothing.
    cdrl_config bad = c;
    bad.lr_ebm = 1e30f;
    bad.warmup_ebm = 0;
    cdrl_model *x = NULL;
    cdrl_status st = CDRL_OK;
    CHECK(cdrl_model_create(&x, &bad) == CDRL_OK, "create");
    cdrl_train_stats sx;
    for (int i = 0; i < 20 && st == CDRL_OK; i++)
        st = cdrl_model_train_step(x, d, &sx);
    CHECK(st == CDRL_STATUS_DIVERGED, "lr 1e30 diverges (status %s)", cdrl_status_str(st));

    // A runaway chain (b 1e3: the tether step alone multiplies y by about 1e5) is reported as
    // soon as a value leaves +-CDRL_CHAIN_BOUND, while it is still finite.
    {
        cdrl_config steep = c;
        steep.step_b = 1e3;
        cdrl_model *sm = NULL;
        CHECK(cdrl_model_create(&sm, &steep) == CDRL_OK, "create");
        cdrl_set_log_callback(capture_log, NULL);
        last_log[0] = 0;
        cdrl_status ss = sm ? cdrl_model_train_step(sm, d, &sx) : CDRL_STATUS_INVALID;
        cdrl_set_log_callback(test_log, NULL);
        CHECK(ss == CDRL_STATUS_DIVERGED && strstr(last_log, "Langevin diverged at step 1 of") &&
                  strstr(last_log, "beyond"),
              "a runaway chain stops training at its first step (%s: %s)", cdrl_status_str(ss),
              last_log);
        cdrl_model_free(sm);
    }

    // Corrupt checkpoints are refused with a status.
    check_truncated_refused(ckpt);
    // A small file whose configuration asks for a huge model (ebm_ch 20000) or batch (10^6)
    // is refused before cdrl allocates more than the file warrants.
    const char *hostile[] = {"tests/corpus/checkpoint/regress-wide-config.safetensors",
                             "tests/corpus/checkpoint/regress-huge-batch.safetensors"};
    for (int i = 0; i < 2; i++) {
        cdrl_model *h = NULL;
        cdrl_set_log_callback(capture_log, NULL);
        last_log[0] = 0;
        const cdrl_status hs = cdrl_model_load(&h, hostile[i]);
        cdrl_set_log_callback(test_log, NULL);
        CHECK(hs == CDRL_STATUS_NOMEM && !h && strstr(last_log, "more memory than a checkpoint"),
              "%s refused (%s: %s)", hostile[i], cdrl_status_str(hs), last_log);
        cdrl_model_free(h);
    }
    cdrl_config wrong = c;
    wrong.ebm_ch = 0;
    cdrl_model *z = NULL;
    CHECK(cdrl_model_create(&z, &wrong) == CDRL_STATUS_INVALID && !z,
          "an invalid configuration is refused");
    remove(ckpt);

    cdrl_model_free(a);
    cdrl_model_free(b);
    cdrl_model_free(r);
    cdrl_model_free(one);
    cdrl_model_free(x);
    test_chunks(d);
    cdrl_dataset_free(d);
    test_conditional();
    return test_report("test_toy_train");
}
