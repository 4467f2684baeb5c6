// cdrl_model_energy (the raw f of pair j's EBM and df/dx, what `cdrl energy` reports) against
// cdrl_model_log_density x h_j on a toy model (a few training steps, so that the EMA differs)
// and a tiny-image model (untrained), both gradients against central finite differences, and
// pairs outside 1..T refused. Also the helper of tests/test_cli_energy.sh:
//   test_energy inputs DIR                         models, PNGs and tensors for the CLI test
//   test_energy compare MODEL X OUT LEVEL EMA      the CLI's f and dfdx (OUT) at the tensor x
//                                                  of X against log density x h_j
// Leaves out the values of the energies themselves (the network tests check f against PyTorch).
#include <sys/stat.h>
#include <unistd.h>

#include "cdrl.h"
#include "test_model_util.h"

// f = logp * h_j and dfdx = dlogp * h_j hold up to the rounding of the two float products
// (f * (1/h) then * h): a few ulps, so 1e-6 relative to each value. Gradients are seeded with
// 1/h_j instead of 1 and pass through the same linear backward, each product rounding again:
// 1e-5 of the gradient's largest magnitude (atol), as small entries lose relative precision.
#define RTOL_F 1e-6
#define RTOL_G 1e-5

static float max_abs(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

// f and dfdx of m at x (n, dim) against log density x h_j; 1 when both agree.
static int compare(cdrl_model *m, const float *x, int n, int pair, int ema, const float *f,
                   const float *dfdx, const char *what) {
    const int D = cdrl_model_config(m)->dim;
    float *lp = test_floats((size_t)n), *dlp = test_floats((size_t)n * (size_t)D);
    int ok = cdrl_model_log_density(m, lp, dlp, x, n, pair, ema) == CDRL_OK;
    CHECK(ok, "%s: log density failed", what);
    const double h = cdrl_model_langevin_h(m, pair);
    for (int i = 0; i < n; i++)
        lp[i] = (float)((double)lp[i] * h);
    for (size_t k = 0; k < (size_t)n * (size_t)D; k++)
        dlp[k] = (float)((double)dlp[k] * h);
    char name[96];
    snprintf(name, sizeof name, "%s f = logp*h", what);
    ok &= check_close(name, f, lp, (size_t)n, 0.0, RTOL_F);
    if (dfdx) {
        snprintf(name, sizeof name, "%s dfdx = dlogp*h", what);
        ok &= check_close(name, dfdx, dlp, (size_t)n * (size_t)D,
                          RTOL_G * (double)max_abs(dlp, (size_t)n * (size_t)D), RTOL_G);
    }
    cdrl_free(lp);
    cdrl_free(dlp);
    return ok;
}

typedef struct {
    cdrl_model *m;
    float *x, *f;
    int n, pair;
} fd_ctx;

static double sum_f(void *p) {
    fd_ctx *c = p;
    CDRL_ASSERT(cdrl_model_energy(c->m, c->f, NULL, c->x, c->n, c->pair, 1) == CDRL_OK);
    double s = 0;
    for (int i = 0; i < c->n; i++)
        s += (double)c->f[i];
    return s;
}

// Energies at every pair, against the log density, plus df/dx by finite differences at pair.
static void check_model(cdrl_model *m, int n, int fd_pair, float eps, double fd_atol,
                        const char *what) {
    const cdrl_config *c = cdrl_model_config(m);
    const size_t nd = (size_t)n * (size_t)c->dim;
    float *x = test_floats(nd), *f = test_floats((size_t)n), *g = test_floats(nd);
    test_fill(x, nd, 7, -1.0f, 1.0f);
    char name[64];
    for (int j = 1; j <= c->n_levels; j++)
        for (int ema = 0; ema < 2; ema++) {
            CHECK(cdrl_model_energy(m, f, g, x, n, j, ema) == CDRL_OK, "%s pair %d", what, j);
            snprintf(name, sizeof name, "%s pair %d %s", what, j, ema ? "ema" : "own");
            compare(m, x, n, j, ema, f, g, name);
            CHECK(cdrl_model_langevin_h(m, j) > 0, "%s: h_%d positive", what, j);
        }
    // every x-gradient of sum_i f_i is row i's df/dx (rows are independent)
    CDRL_ASSERT(cdrl_model_energy(m, f, g, x, n, fd_pair, 1) == CDRL_OK);
    fd_ctx ctx = {m, x, f, n, fd_pair};
    snprintf(name, sizeof name, "%s dfdx (pair %d)", what, fd_pair);
    if (c->kind == CDRL_MODEL_TOY) {
        gradcheck(name, sum_f, &ctx, x, g, nd, 24, eps, fd_atol, 2e-2);
    } else {
        // Image f is large (O(1e4) untrained) next to its per-pixel slopes, so single-pixel
        // differences drown in float32 rounding of f; a random direction v over all pixels
        // gathers the whole gradient: (F(x + eps v) - F(x - eps v)) / 2 eps against g . v.
        float *v = test_floats(nd), *x0 = test_floats(nd);
        test_fill(v, nd, 11, -1.0f, 1.0f);
        memcpy(x0, x, sizeof(float) * nd);
        double gv = 0, fp, fm;
        for (size_t k = 0; k < nd; k++)
            gv += (double)g[k] * (double)v[k];
        for (size_t k = 0; k < nd; k++)
            x[k] = x0[k] + eps * v[k];
        fp = sum_f(&ctx);
        for (size_t k = 0; k < nd; k++)
            x[k] = x0[k] - eps * v[k];
        fm = sum_f(&ctx);
        memcpy(x, x0, sizeof(float) * nd);
        const double fd = (fp - fm) / (2.0 * (double)eps), err = fabs(fd - gv);
        CHECK(err <= fd_atol * fabs(gv), "%s: g.v %.6g, finite difference %.6g", name, gv, fd);
        if (err <= fd_atol * fabs(gv))
            printf("  ok   %-34s g.v %.6g fd %.6g rel err %.3g\n", name, gv, fd, err / fabs(gv));
        cdrl_free(v);
        cdrl_free(x0);
    }
    cdrl_free(x);
    cdrl_free(f);
    cdrl_free(g);
}

static cdrl_model *toy_model(int steps) {
    cdrl_config c;
    cdrl_config_preset(&c, "demo");
    c.ebm_ch = 16;
    c.init_t_dim = 16;
    c.init_h_dim = 32;
    c.batch = 64;
    cdrl_model *m = NULL;
    cdrl_dataset *d = NULL;
    cdrl_train_stats st[8];
    CDRL_ASSERT(cdrl_model_create(&m, &c) == CDRL_OK);
    CDRL_ASSERT(cdrl_dataset_open(&d, "checkerboard") == CDRL_OK);
    CDRL_ASSERT(steps <= 8 && train_steps(m, d, steps, st));
    cdrl_dataset_free(d);
    return m;
}

// tiny-image, trained `steps` steps (so that the EMA differs) on three 8x8 PNGs in dir.
static cdrl_model *image_model(int steps, const char *dir) {
    cdrl_config c;
    cdrl_config_preset(&c, "tiny-image");
    cdrl_model *m = NULL;
    CDRL_ASSERT(cdrl_model_create(&m, &c) == CDRL_OK);
    if (steps > 0) {
        char p[600];
        uint8_t px[64];
        mkdir(dir, 0755);
        for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 64; k++)
                px[k] = (uint8_t)((37 * k + 91 * i) % 256);
            snprintf(p, sizeof p, "%s/%c.png", dir, 'a' + i);
            CDRL_ASSERT(cdrl_png_write(p, px, 8, 8, 1, NULL, NULL, 0) == CDRL_OK);
        }
        snprintf(p, sizeof p, "folder:%s", dir);
        cdrl_dataset *d = NULL;
        cdrl_train_stats st[8];
        CDRL_ASSERT(cdrl_dataset_open(&d, p) == CDRL_OK);
        CDRL_ASSERT(steps <= 8 && train_steps(m, d, steps, st));
        cdrl_dataset_free(d);
    }
    return m;
}

// The weights-only file tools/convert_official.py would write for m: its ebm., init.,
// ebm_ema., init_ema. tensors (the official names) and the converter's config of sizes;
// dim_mult2 writes dim_mults (1, 2) instead (a U-Net cdrl does not build).
static int save_weights(cdrl_model *m, const char *path, int dim_mult2) {
    const char *tmp = "build/test_energy_ckpt.safetensors";
    const cdrl_config *c = cdrl_model_config(m);
    cdrl_st_file *f = NULL;
    if (cdrl_model_save(m, tmp) != CDRL_OK || cdrl_st_load(&f, tmp) != CDRL_OK) return 0;
    cdrl_st_writer *w = cdrl_st_writer_create();
    int ok = w != NULL;
    const char *keep[] = {"ebm.", "init.", "ebm_ema.", "init_ema."};
    for (int i = 0; ok && i < cdrl_st_count(f); i++) {
        const cdrl_st_tensor *t = cdrl_st_at(f, i);
        for (int k = 0; k < 4; k++)
            if (strncmp(t->name, keep[k], strlen(keep[k])) == 0)
                ok = cdrl_st_writer_add_f32(w, t->name, t->ndim, t->shape, t->data) == CDRL_OK;
    }
    char cfg[600];
    CDRL_ASSERT(c->ebm_n_mult == 2 && c->unet_levels == 2 && c->unet_n_attn == 1);
    snprintf(cfg, sizeof cfg,
             "{\"ebm\": {\"in_ch\": %d, \"res\": %d, \"ch\": %d, \"ch_mult\": [%d, %d], "
             "\"n_blocks\": %d, \"temb_dim\": %d, \"n_classes\": 0}, \"unet\": {\"in_ch\": %d, "
             "\"resolution\": %d, \"dim\": %d, \"dim_mults\": [1, %d], \"num_res_blocks\": %d, "
             "\"attn_resolutions\": [%d], \"dropout\": %g, \"n_classes\": 0}}",
             c->in_ch, c->res, c->ebm_ch, c->ebm_ch_mult[0], c->ebm_ch_mult[1], c->ebm_blocks,
             c->ebm_ch, c->in_ch, c->res, c->unet_dim, dim_mult2 ? 2 : 1, c->unet_res_blocks,
             c->unet_attn[0], (double)c->unet_dropout);
    ok = ok && cdrl_st_writer_meta(w, "format", "cdrl-image-weights") == CDRL_OK &&
         cdrl_st_writer_meta(w, "version", "1") == CDRL_OK &&
         cdrl_st_writer_meta(w, "config", cfg) == CDRL_OK &&
         cdrl_st_writer_meta(w, "ebm_ema.num_updates", "2") == CDRL_OK &&
         cdrl_st_writer_save(w, path) == CDRL_OK;
    cdrl_st_writer_free(w);
    cdrl_st_free(f);
    remove(tmp);
    return ok;
}

// A weights-only file loads into a model with the same sizes whose energies are the same bits
// (trained and EMA weights, with gradients); official files cdrl cannot build are refused.
static void check_weights(void) {
    const char *path = "build/test_energy_weights.safetensors", *dir = "build/test_energy_data";
    cdrl_model *m = image_model(2, dir), *w = NULL;
    CHECK(save_weights(m, path, 0), "weights file written");
    CHECK(cdrl_model_load(&w, path) == CDRL_OK, "weights file loads");
    if (w) {
        const cdrl_config *a = cdrl_model_config(m), *b = cdrl_model_config(w);
        CHECK(b->kind == CDRL_MODEL_IMAGE && b->in_ch == a->in_ch && b->res == a->res &&
                  b->dim == a->dim && b->ebm_ch == a->ebm_ch && b->ebm_n_mult == a->ebm_n_mult &&
                  b->unet_dim == a->unet_dim && b->unet_levels == a->unet_levels &&
                  b->unet_attn[0] == a->unet_attn[0] && b->n_levels == a->n_levels,
              "weights file: the model's sizes");
        CHECK(cdrl_model_step(w) == 2, "weights file: step = EMA updates");
        enum { N = 4, D = 64 };
        float x[N * D], fa[N], fb[N], ga[N * D], gb[N * D];
        test_fill(x, N * D, 5, -1.0f, 1.0f);
        for (int ema = 0; ema < 2; ema++) {
            CHECK(cdrl_model_energy(m, fa, ga, x, N, 1, ema) == CDRL_OK &&
                      cdrl_model_energy(w, fb, gb, x, N, 1, ema) == CDRL_OK,
                  "energies");
            CHECK(memcmp(fa, fb, sizeof fa) == 0 && memcmp(ga, gb, sizeof ga) == 0,
                  "weights file: the checkpoint's f and dfdx bit for bit (%s)",
                  ema ? "EMA" : "own");
        }
        CHECK(cdrl_model_energy(m, fa, NULL, x, N, 1, 0) == CDRL_OK &&
                  cdrl_model_energy(m, fb, NULL, x, N, 1, 1) == CDRL_OK &&
                  memcmp(fa, fb, sizeof fa) != 0,
              "EMA and trained weights differ after 2 steps");
    }
    cdrl_model_free(w);
    w = NULL;
    CHECK(save_weights(m, path, 1) && cdrl_model_load(&w, path) == CDRL_STATUS_MISMATCH && !w,
          "dim_mults (1, 2) refused");
    // the official fixture is class-conditional and its U-Net takes 1 channel, its EBM 3
    CHECK(cdrl_model_load(&w, "tests/fixtures/official.safetensors") == CDRL_STATUS_MISMATCH && !w,
          "class-conditional official weights refused");
    cdrl_model_free(m);
    remove(path);
    for (int i = 0; i < 3; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%c.png", dir, 'a' + i);
        remove(p);
    }
    rmdir(dir);
}

// ---------------------------------------------------------------------------------------
// Helpers of the CLI test

static int save_x(const char *path, const float *x, int ndim, const int64_t *shape) {
    cdrl_st_writer *w = cdrl_st_writer_create();
    int ok = w && cdrl_st_writer_add_f32(w, "x", ndim, shape, x) == CDRL_OK &&
             cdrl_st_writer_save(w, path) == CDRL_OK;
    cdrl_st_writer_free(w);
    return ok;
}

// DIR/toy.safetensors (trained 3 steps), DIR/p.safetensors (x: 5 points), DIR/img.safetensors
// (tiny-image, untrained), a.png b.png c.png (8x8 grey) and DIR/abc.safetensors (x: the same
// three images as (3, 1, 8, 8) in [-1, 1]), big.png (10x10 grey) and rgb.png (8x8 colour).
static int make_inputs(const char *dir) {
    char p[512];
    mkdir(dir, 0755);
    cdrl_model *toy = toy_model(3), *img = image_model(0, NULL);
    snprintf(p, sizeof p, "%s/toy.safetensors", dir);
    int ok = cdrl_model_save(toy, p) == CDRL_OK;
    snprintf(p, sizeof p, "%s/img.safetensors", dir);
    ok &= cdrl_model_save(img, p) == CDRL_OK;
    snprintf(p, sizeof p, "%s/img_weights.safetensors", dir);
    ok &= save_weights(img, p, 0);
    cdrl_model_free(toy);
    cdrl_model_free(img);
    float pts[10];
    test_fill(pts, 10, 3, -4.0f, 4.0f);
    snprintf(p, sizeof p, "%s/p.safetensors", dir);
    ok &= save_x(p, pts, 2, (const int64_t[]){5, 2});
    float x[3 * 64];
    uint8_t px[3 * 100];
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 64; k++) {
            px[k] = (uint8_t)((37 * k + 91 * i) % 256);
            x[i * 64 + k] = (float)px[k] / 127.5f - 1.0f;
        }
        snprintf(p, sizeof p, "%s/%c.png", dir, 'a' + i);
        ok &= cdrl_png_write(p, px, 8, 8, 1, NULL, NULL, 0) == CDRL_OK;
    }
    snprintf(p, sizeof p, "%s/abc.safetensors", dir);
    ok &= save_x(p, x, 4, (const int64_t[]){3, 1, 8, 8});
    snprintf(p, sizeof p, "%s/big.png", dir);
    ok &= cdrl_png_write(p, px, 10, 10, 1, NULL, NULL, 0) == CDRL_OK;
    snprintf(p, sizeof p, "%s/rgb.png", dir);
    ok &= cdrl_png_write(p, px, 8, 8, 3, NULL, NULL, 0) == CDRL_OK;
    return ok ? 0 : 1;
}

static int compare_files(const char *model, const char *xfile, const char *out, int pair, int ema) {
    cdrl_model *m = NULL;
    cdrl_st_file *fx = NULL, *fo = NULL;
    if (cdrl_model_load(&m, model) != CDRL_OK || cdrl_st_load(&fx, xfile) != CDRL_OK ||
        cdrl_st_load(&fo, out) != CDRL_OK) {
        printf("  FAIL cannot load %s, %s or %s\n", model, xfile, out);
        return 1;
    }
    const cdrl_st_tensor *tx = cdrl_st_find(fx, "x"), *tf = cdrl_st_find(fo, "f");
    const cdrl_st_tensor *tg = cdrl_st_find(fo, "dfdx");
    const int D = cdrl_model_config(m)->dim;
    CHECK(tx && tf && tx->numel == tf->numel * (size_t)D, "x and f sizes");
    CHECK(!tg || tg->numel == tx->numel, "dfdx has x's size");
    if (test_failures == 0)
        compare(m, tx->data, (int)tf->numel, pair, ema, tf->data, tg ? tg->data : NULL, "cli");
    cdrl_model_free(m);
    cdrl_st_free(fx);
    cdrl_st_free(fo);
    return test_report("test_energy compare");
}

int main(int argc, char **argv) {
    cdrl_set_log_callback(test_log, NULL);
    cdrl_set_threads(1);
    if (argc == 3 && strcmp(argv[1], "inputs") == 0) return make_inputs(argv[2]);
    if (argc == 7 && strcmp(argv[1], "compare") == 0)
        return compare_files(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));

    cdrl_model *toy = toy_model(3);
    // toy f is O(1)..O(10) and smooth (SiLU MLP): eps 1e-2 in x keeps the float32 sum's
    // rounding (~1e-6 of f) under 1e-4 in the slope; atol 2e-3 covers that and the O(eps^2)
    // curvature term.
    check_model(toy, 6, 1, 1e-2f, 2e-3, "toy");
    float x[2] = {0.5f, -0.5f}, f;
    CHECK(cdrl_model_energy(toy, &f, NULL, x, 1, 0, 1) == CDRL_STATUS_INVALID, "pair 0 refused");
    CHECK(cdrl_model_energy(toy, &f, NULL, x, 1, 7, 1) == CDRL_STATUS_INVALID, "pair T+1 refused");
    CHECK(isnan(cdrl_model_langevin_h(toy, 0)) && isnan(cdrl_model_langevin_h(toy, 7)),
          "h outside 1..T is NaN");
    cdrl_model_free(toy);

    cdrl_model *img = image_model(0, NULL);
    // 10 images cross the model's chunk of 8 rows. The directional difference converges as eps
    // shrinks (rel err 10% at 1e-2: curvature, not a wrong gradient), while the float32
    // rounding of the O(1e5) sum of f grows as 1/eps: at 1e-4 it reached 2.9% on the cpu
    // backend (1.0% on ref) once Winograd's passes ran in another order; at 2e-4 both stay
    // near 0.4% (cpu 0.40%, ref 0.30%; 3e-4: 0.73%, 1.1%), hence 2e-4 and 2%.
    check_model(img, 10, 2, 2e-4f, 2e-2, "image");
    cdrl_model_free(img);
    check_weights();
    return test_report("test_energy");
}
