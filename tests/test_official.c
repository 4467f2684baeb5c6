// Weights converted from an official CDRL checkpoint (tools/convert_official.py, fixture by
// ref/fixtures_official.py) load by name into the C networks (nn/param_file.c), which then
// compute what the official PyTorch modules compute from the original dict: EBM energies f
// and df/dx at two levels with class labels, U-Net outputs mu, and both again with the EMA
// weights. Also: the metadata (format, version, config JSON) builds the networks, and a
// missing tensor or a wrong shape is a status, with the destination left untouched.
// Leaves out real official files (none are committed) and training state.

#include "core/rng.h"
#include "official_config.h"
#include "test_util.h"

static cdrl_st_file *fx;

// Every tensor under prefix is a tensor of the table (no stray names), counted.
static int count_prefix(const char *prefix) {
    int n = 0;
    for (int i = 0; i < cdrl_st_count(fx); i++)
        n += strncmp(cdrl_st_at(fx, i)->name, prefix, strlen(prefix)) == 0;
    return n;
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    fx = fixture_load("official");
    const char *format = cdrl_st_meta(fx, "format"), *version = cdrl_st_meta(fx, "version");
    CHECK(format && strcmp(format, "cdrl-image-weights") == 0, "format metadata");
    CHECK(version && strcmp(version, "1") == 0, "version metadata");
    cdrl_img_ebm_config ce;
    cdrl_unet_config cu;
    official_configs(fx, &ce, &cu);
    const int B = fixture_int(fx, "B"), L = fixture_int(fx, "L");
    printf("EBM %dx%dx%d ch %d, %d levels x %d blocks, %d classes; U-Net %dx%d dim %d, %d "
           "classes; B %d, L %d\n",
           ce.in_ch, ce.res, ce.res, ce.ch, ce.n_mult, ce.n_blocks, ce.n_classes, cu.resolution,
           cu.resolution, cu.dim, cu.n_classes, B, L);

    cdrl_rng rng;
    cdrl_rng_init(&rng, 5, 0);
    cdrl_img_ebm *ebm = cdrl_img_ebm_create(&ce, B, L, &rng);
    cdrl_unet *unet = cdrl_unet_create(&cu, B, L, &rng);
    CDRL_ASSERT(ebm && unet);
    float *ebm_ema = test_floats(ebm->base.params.total); // (params.total)
    float *unet_ema = test_floats(unet->params.total);    // (params.total)

    // Every converted tensor is one the C tables name, and all of them load.
    CHECK(count_prefix("ebm.") == ebm->base.params.count + ebm->base.buffers.count,
          "ebm.*: %d tensors, the C EBM has %d", count_prefix("ebm."),
          ebm->base.params.count + ebm->base.buffers.count);
    CHECK(count_prefix("ebm_ema.") == ebm->base.params.count, "ebm_ema.*: %d tensors, want %d",
          count_prefix("ebm_ema."), ebm->base.params.count);
    CHECK(count_prefix("init.") == unet->params.count, "init.*: %d tensors, want %d",
          count_prefix("init."), unet->params.count);
    CHECK(count_prefix("init_ema.") == unet->params.count, "init_ema.*: %d tensors, want %d",
          count_prefix("init_ema."), unet->params.count);
    CHECK(load_ebm(ebm, fx, "ebm.") == CDRL_OK, "load ebm.*");
    CHECK(load_table(&ebm->base.params, ebm_ema, fx, "ebm_ema.") == CDRL_OK, "load ebm_ema.*");
    CHECK(load_table(&unet->params, unet->p_own, fx, "init.") == CDRL_OK, "load init.*");
    CHECK(load_table(&unet->params, unet_ema, fx, "init_ema.") == CDRL_OK, "load init_ema.*");

    const size_t De = (size_t)ce.in_ch * (size_t)ce.res * (size_t)ce.res;
    const size_t Du = (size_t)cu.in_ch * (size_t)cu.resolution * (size_t)cu.resolution;
    const float *xe = fixture_f32(fx, "in.x_ebm", (size_t)B * De);  // (B, in_ch, res, res)
    const float *xu = fixture_f32(fx, "in.x_unet", (size_t)B * Du); // (B, in_ch, res, res)
    const float *tau = fixture_f32(fx, "in.tau", (size_t)L);
    const int *level = fixture_i32(fx, "in.level", (size_t)B);
    const int *label = fixture_i32(fx, "in.label", (size_t)B);
    float *f = test_floats((size_t)B), *ones = test_floats((size_t)B);
    float *dx = test_floats((size_t)B * De), *mu = test_floats((size_t)B * Du);
    for (int b = 0; b < B; b++)
        ones[b] = 1.0f;

    // Tolerances: float32 networks against float32 PyTorch that sums in other orders; about
    // 10x the measured differences (f 1e-6 at |f| ~ 4, df/dx 6e-8 at ~1e-2, mu 1.4e-6 at
    // ~1), leaving room for other CPUs' sgemm kernels: f 1e-5 abs + 1e-5 rel, df/dx 1e-6 +
    // 1e-4 rel, mu 1e-5 + 1e-4 rel. A misplaced or wrong tensor moves these by 1e-2 or more
    // (the EMA weights move f by ~0.1 and mu by ~0.2).
    for (int use_ema = 0; use_ema < 2; use_ema++) {
        const char *sfx = use_ema ? "_ema" : "";
        char name[64];
        ebm->base.p = use_ema ? ebm_ema : ebm->base.p_own;
        unet->p = use_ema ? unet_ema : unet->p_own;
        cdrl_img_ebm_prepare(ebm, tau, L, 0); // eval: the stored u, v, no power iteration
        cdrl_img_ebm_forward(ebm, f, xe, level, label, B);
        memset(dx, 0, sizeof(float) * (size_t)B * De);
        cdrl_img_ebm_backward(ebm, dx, ones, 0);
        snprintf(name, sizeof name, "ref.f%s", sfx);
        check_close(name, f, fixture_f32(fx, name, (size_t)B), (size_t)B, 1e-5, 1e-5);
        snprintf(name, sizeof name, "ref.dx%s", sfx);
        check_close(name, dx, fixture_f32(fx, name, (size_t)B * De), (size_t)B * De, 1e-6, 1e-4);

        cdrl_unet_prepare(unet, tau, L, 0); // eval: no dropout, as the reference
        cdrl_unet_forward(unet, mu, xu, level, label, B);
        snprintf(name, sizeof name, "ref.mu%s", sfx);
        check_close(name, mu, fixture_f32(fx, name, (size_t)B * Du), (size_t)B * Du, 1e-5, 1e-4);
    }
    ebm->base.p = ebm->base.p_own;
    unet->p = unet->p_own;

    // Failures: a status and an untouched destination, never a crash.
    {
        float *before = test_floats(ebm->base.params.total);
        memcpy(before, ebm->base.p_own, sizeof(float) * ebm->base.params.total);
        CHECK(load_ebm(ebm, fx, "absent.") == CDRL_STATUS_MISMATCH,
              "missing tensors give CDRL_STATUS_MISMATCH");
        CHECK(load_table(&unet->params, unet->p_own, fx, "absent.") == CDRL_STATUS_MISMATCH,
              "missing U-Net tensors give CDRL_STATUS_MISMATCH");
        // EMA copies hold no SN buffers: loading them as a whole EBM fails on weight_u.
        CHECK(load_ebm(ebm, fx, "ebm_ema.") == CDRL_STATUS_MISMATCH,
              "ebm_ema.* lacks the SN buffers");
        CHECK(memcmp(before, ebm->base.p_own, sizeof(float) * ebm->base.params.total) == 0,
              "a failed load changed the parameters");
        cdrl_free(before);

        // Another configuration: wider EBM, 3-channel U-Net -> wrong shapes.
        cdrl_img_ebm_config ce2 = ce;
        ce2.ch = 2 * ce.ch;
        cdrl_img_ebm *e2 = cdrl_img_ebm_create(&ce2, B, L, &rng);
        cdrl_unet_config cu2 = cu;
        cu2.in_ch = cu.in_ch + 2;
        cdrl_unet *u2 = cdrl_unet_create(&cu2, B, L, &rng);
        CDRL_ASSERT(e2 && u2);
        CHECK(load_ebm(e2, fx, "ebm.") == CDRL_STATUS_MISMATCH,
              "wrong EBM shapes give CDRL_STATUS_MISMATCH");
        CHECK(load_table(&u2->params, u2->p_own, fx, "init.") == CDRL_STATUS_MISMATCH,
              "wrong U-Net shapes give CDRL_STATUS_MISMATCH");
        // An int32 tensor where a float one is wanted; one element too many; right.
        cdrl_param_table t;
        cdrl_param_table_init(&t);
        int shape[1] = {B};
        cdrl_param_add(&t, 1, shape, "level");
        float *dst = test_floats(t.total);
        CHECK(load_table(&t, dst, fx, "in.") == CDRL_STATUS_MISMATCH, "an int32 tensor is refused");
        cdrl_param_table_deinit(&t);
        cdrl_param_table_init(&t);
        shape[0] = B + 1;
        cdrl_param_add(&t, 1, shape, "f");
        CHECK(load_table(&t, dst, fx, "ref.") == CDRL_STATUS_MISMATCH,
              "a (B + 1) table entry against a (B) tensor is refused");
        cdrl_param_table_deinit(&t);
        cdrl_param_table_init(&t);
        shape[0] = B;
        cdrl_param_add(&t, 1, shape, "f");
        CHECK(load_table(&t, dst, fx, "ref.") == CDRL_OK &&
                  memcmp(dst, fixture_f32(fx, "ref.f", (size_t)B), sizeof(float) * (size_t)B) == 0,
              "a matching table loads the tensor bit for bit");
        cdrl_free(dst);
        cdrl_param_table_deinit(&t);
        cdrl_img_ebm_free(e2);
        cdrl_unet_free(u2);
    }

    cdrl_free(f);
    cdrl_free(ones);
    cdrl_free(dx);
    cdrl_free(mu);
    cdrl_free(ebm_ema);
    cdrl_free(unet_ema);
    cdrl_img_ebm_free(ebm);
    cdrl_unet_free(unet);
    cdrl_st_free(fx);
    return test_report("test_official");
}
