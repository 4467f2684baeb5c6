// Training image models through the public API with the "tiny-image" preset (8x8 grey images, tiny
// widths, batch 8, K 3, U-Net dropout on) on a synthetic folder of PNGs: N steps equal N/2 steps,
// a checkpoint, a reload and N/2 more, bit for bit (losses, every tensor, the dropout stream); the
// same bytes at 1 and 2 threads; sampling (with the Tweedie step; K = 0 the proposals alone,
// without it) finite and reproducible; the configuration's JSON round trip and the official
// CIFAR-10 preset; padded specs; corrupt checkpoints and mismatched data refused. Class-
// conditional models on a folder with two class sub-folders: resume exact, labels change samples,
// guidance equal to its definition (1 + w) grad f(c) - w grad f(0), bad labels and unlabelled data
// refused. langevin_clip keeps the data-level chain in [-1, 1]. Leaves out sample quality (a few
// steps of a tiny model learn nothing; docs/tuning.md has real runs).
#include <sys/stat.h>
#include <unistd.h>

#include "cdrl.h"
#include "test_model_util.h"

#define STEPS 4
#define N_IMG 12
#define DIR_  "build/test_image_train_data"

// Grey 8x8 images: a bar whose position and brightness follow the index, so flips matter.
static int write_folder(void) {
    mkdir(DIR_, 0755);
    for (int i = 0; i < N_IMG; i++) {
        uint8_t px[64];
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                px[y * 8 + x] = (uint8_t)(x == i % 8 ? 255 - 10 * i : 20 * (x + y) / 2);
        char path[256];
        snprintf(path, sizeof path, DIR_ "/img%02d.png", i);
        if (cdrl_png_write(path, px, 8, 8, 1, NULL, NULL, 0) != CDRL_OK) return 0;
    }
    return 1;
}

static void remove_folder(void) {
    for (int i = 0; i < N_IMG; i++) {
        char path[256];
        snprintf(path, sizeof path, DIR_ "/img%02d.png", i);
        remove(path);
    }
    rmdir(DIR_);
}

// The same images in two class sub-folders: even indices class 0 ("a"), odd class 1 ("b").
#define CLS_DIR "build/test_image_train_classes"
static int write_class_folder(void) {
    mkdir(CLS_DIR, 0755);
    mkdir(CLS_DIR "/a", 0755);
    mkdir(CLS_DIR "/b", 0755);
    for (int i = 0; i < N_IMG; i++) {
        uint8_t px[64];
        for (int k = 0; k < 64; k++)
            px[k] = (uint8_t)(i % 2 ? 40 + 3 * k : 250 - 2 * k);
        char path[256];
        snprintf(path, sizeof path, CLS_DIR "/%c/img%02d.png", i % 2 ? 'b' : 'a', i);
        if (cdrl_png_write(path, px, 8, 8, 1, NULL, NULL, 0) != CDRL_OK) return 0;
    }
    return 1;
}

static void remove_class_folder(void) {
    for (int i = 0; i < N_IMG; i++) {
        char path[256];
        snprintf(path, sizeof path, CLS_DIR "/%c/img%02d.png", i % 2 ? 'b' : 'a', i);
        remove(path);
    }
    rmdir(CLS_DIR "/a");
    rmdir(CLS_DIR "/b");
    rmdir(CLS_DIR);
}

// Class-conditional training and sampling (method.md §7) on the tiny-image preset with K = 2.
static void check_conditional(const cdrl_config *base, const cdrl_dataset *unlabelled) {
    CHECK(write_class_folder(), "write the class folder");
    cdrl_dataset *d = NULL;
    CHECK(cdrl_dataset_open(&d, "folder:" CLS_DIR) == CDRL_OK && cdrl_dataset_classes(d) == 2,
          "two classes from the sub-folders");
    if (!d) return;
    cdrl_config c = *base;
    c.n_classes = 2;
    cdrl_model *a = NULL, *b = NULL, *r = NULL;
    cdrl_train_stats full[STEPS], half[STEPS];
    CHECK(cdrl_model_create(&a, &c) == CDRL_OK && train_steps(a, d, STEPS, full),
          "conditional: %d steps", STEPS);
    CHECK(cdrl_model_create(&b, &c) == CDRL_OK && train_steps(b, d, STEPS / 2, half),
          "conditional: first half");
    const char *ckpt = "build/test_image_train_cond.safetensors";
    CHECK(b && cdrl_model_save(b, ckpt) == CDRL_OK && cdrl_model_load(&r, ckpt) == CDRL_OK,
          "save and load");
    if (a && r) {
        CHECK(cdrl_model_config(r)->n_classes == 2, "the checkpoint keeps n_classes");
        CHECK(train_steps(r, d, STEPS - STEPS / 2, half + STEPS / 2), "second half");
        CHECK(full[STEPS - 1].loss_ebm == half[STEPS - 1].loss_ebm && same_models(a, r),
              "conditional: N steps and N/2 + resume + N/2 identical (label draws and drops "
              "included)");
    }
    CHECK(a && cdrl_model_train_step(a, unlabelled, NULL) == CDRL_STATUS_MISMATCH,
          "data without classes is refused by a conditional model");

    // The class changes the samples; labels outside 0..K are refused.
    enum { NS = 4, D = 64 };
    float s1[NS * D], s2[NS * D], g0[NS * D];
    const int l1[NS] = {1, 1, 1, 1}, l2[NS] = {2, 2, 2, 2}, l3[NS] = {1, 3, 1, 1};
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l1, 0.0f, NS, 2, 1, 5) == CDRL_OK &&
              cdrl_model_sample_cond(a, s2, NULL, l2, 0.0f, NS, 2, 1, 5) == CDRL_OK &&
              memcmp(s1, s2, sizeof s1) != 0,
          "classes 1 and 2 give different samples from the same noise");
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l3, 0.0f, NS, 2, 1, 5) == CDRL_STATUS_INVALID,
          "label 3 of a 2-class model is refused");
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l1, -1.0f, NS, 2, 1, 5) == CDRL_STATUS_INVALID,
          "a negative guidance weight is refused");
    // w = 0 and NULL labels: the unguided null-label chain, exactly cdrl_model_sample.
    CHECK(cdrl_model_sample_cond(a, s1, NULL, NULL, 0.0f, NS, 2, 1, 5) == CDRL_OK &&
              cdrl_model_sample(a, g0, NULL, NS, 2, 1, 5) == CDRL_OK &&
              memcmp(s1, g0, sizeof s1) == 0,
          "NULL labels are cdrl_model_sample");
    // Guidance changes the samples of a class.
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l1, 0.0f, NS, 2, 1, 5) == CDRL_OK &&
              cdrl_model_sample_cond(a, s2, NULL, l1, 2.0f, NS, 2, 1, 5) == CDRL_OK &&
              memcmp(s1, s2, sizeof s1) != 0 && all_finite(s2, NS * D),
          "guidance w = 2 moves the samples and keeps them finite");
    // K = 0: the initializer's proposals alone (`cdrl eval --proposals`), without the Tweedie
    // step; K = 1 adds the step. (On a trained model: an untrained one samples in eval mode with
    // its random spectral-norm vectors, whose chains run away as the official code's would.)
    enum { T = 6 };
    float lv[T * NS * D];
    CHECK(c.n_levels == T, "tiny-image has %d levels", T);
    CHECK(cdrl_model_sample_cond(a, s1, lv, l1, 1.0f, NS, 0, 1, 7) == CDRL_OK &&
              all_finite(s1, NS * D),
          "K = 0 samples");
    CHECK(memcmp(s1, lv + (size_t)(T - 1) * NS * D, sizeof s1) == 0,
          "K = 0: output == last level (no denoising step)");
    CHECK(cdrl_model_sample_cond(a, s1, lv, l1, 1.0f, NS, 1, 1, 7) == CDRL_OK, "K = 1 samples");
    CHECK(memcmp(s1, lv + (size_t)(T - 1) * NS * D, sizeof s1) != 0,
          "K = 1: the Tweedie step changes the last level");
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l1, 1.0f, NS, -1, 1, 7) == CDRL_STATUS_INVALID,
          "K = -1 refused");

    // cdrl_model_sample_with: one term is cdrl_model_sample_cond; two terms compose.
    cdrl_sample_params sp;
    cdrl_sample_params_init(&sp, a);
    sp.n_langevin = 2, sp.seed = 5, sp.n_terms = 1, sp.label[0] = l1, sp.weight[0] = 2.0f;
    CHECK(cdrl_model_sample_cond(a, s1, NULL, l1, 2.0f, NS, 2, 1, 5) == CDRL_OK &&
              cdrl_model_sample_with(a, s2, NS, &sp) == CDRL_OK && memcmp(s1, s2, sizeof s1) == 0,
          "sample_with, one term: the same bytes as sample_cond");
    sp.n_terms = 2, sp.label[1] = l2, sp.weight[1] = 1.0f;
    CHECK(cdrl_model_sample_with(a, s2, NS, &sp) == CDRL_OK && all_finite(s2, NS * D) &&
              memcmp(s1, s2, sizeof s1) != 0,
          "two composed terms: finite samples, other than one term's");
    sp.label[1] = l3;
    CHECK(cdrl_model_sample_with(a, s2, NS, &sp) == CDRL_STATUS_INVALID,
          "a label out of range in the second term is refused");
    sp.label[1] = l2, sp.weight[1] = NAN;
    CHECK(cdrl_model_sample_with(a, s2, NS, &sp) == CDRL_STATUS_INVALID, "a NaN weight is refused");
    sp.n_terms = CDRL_SAMPLE_MAX_TERMS + 1;
    CHECK(cdrl_model_sample_with(a, s2, NS, &sp) == CDRL_STATUS_INVALID,
          "more terms than CDRL_SAMPLE_MAX_TERMS are refused");

    // Inpainting: the known values come out exactly where the mask is set, for K = 2 (with
    // the Tweedie step) and K = 0 (proposals alone), guided or not; the rest changes.
    float known[NS * D], mask[NS * D];
    for (int i = 0; i < NS * D; i++) {
        known[i] = (float)((i * 37) % 201) / 100.0f - 1.0f;
        mask[i] = (i % D) < D / 2 ? 1.0f : 0.0f; // the upper half of every 8x8 image
    }
    for (int k = 0; k <= 2; k += 2) {
        cdrl_sample_params_init(&sp, a);
        sp.n_langevin = k, sp.seed = 9, sp.known = known, sp.mask = mask;
        sp.n_terms = k ? 1 : 0, sp.label[0] = l1, sp.weight[0] = 1.0f;
        int exact = cdrl_model_sample_with(a, s1, NS, &sp) == CDRL_OK, moved = 0;
        for (int i = 0; i < NS * D; i++)
            if (mask[i] != 0.0f)
                exact &= memcmp(&s1[i], &known[i], sizeof(float)) == 0;
            else
                moved += s1[i] != known[i];
        CHECK(exact && moved > NS * D / 4 && all_finite(s1, NS * D),
              "inpainting, K = %d: known values bit-exact, the others sampled", k);
    }
    // jumps back (RePaint): the known values stay exact, the rest changes
    memcpy(s2, s1, sizeof s1);
    sp.resample = 2;
    int exact = cdrl_model_sample_with(a, s1, NS, &sp) == CDRL_OK;
    for (int i = 0; i < NS * D; i++)
        if (mask[i] != 0.0f) exact &= memcmp(&s1[i], &known[i], sizeof(float)) == 0;
    CHECK(exact && memcmp(s1, s2, sizeof s1) != 0 && all_finite(s1, NS * D),
          "inpainting with 2 jumps back per level: known values exact, other samples");
    sp.resample = -1;
    CHECK(cdrl_model_sample_with(a, s1, NS, &sp) == CDRL_STATUS_INVALID,
          "a negative resample count is refused");
    sp.resample = 0;
    sp.known = NULL;
    CHECK(cdrl_model_sample_with(a, s1, NS, &sp) == CDRL_STATUS_INVALID,
          "a mask without known values is refused");
    sp.known = known, known[3] = NAN;
    CHECK(cdrl_model_sample_with(a, s1, NS, &sp) == CDRL_STATUS_INVALID,
          "a NaN known value under the mask is refused");
    cdrl_model_free(a);
    cdrl_model_free(b);
    cdrl_model_free(r);
    cdrl_dataset_free(d);
    remove(ckpt);
    remove_class_folder();
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    cdrl_set_threads(2); // the thread comparison below needs two, whatever the machine's default

    // Presets and the JSON round trip of every image field (arrays included).
    cdrl_config o, back;
    CHECK(cdrl_config_preset(&o, "official-cifar10") == CDRL_OK, "official-cifar10 preset");
    CHECK(o.kind == CDRL_MODEL_IMAGE && o.dim == 3072 && o.batch == 256 && o.lr_ebm == 1e-4f &&
              o.lr_init == 1e-5f && o.warmup_ebm == 10000 && o.warmup_init_offset == 500 &&
              o.ema_ebm == 0.9999f && o.n_langevin == 15 && o.step_b == 2e-4 && o.ebm_ch == 128 &&
              o.ebm_blocks == 8 && o.ebm_n_mult == 4 && o.ebm_ch_mult[1] == 2 && o.unet_dim == 64 &&
              o.unet_res_blocks == 3 && o.unet_n_attn == 2 && o.unet_dropout == 0.1f && o.flip == 1,
          "official-cifar10 holds the official settings (method.md 4.2, 4.3, 5.4, 5.5)");
    char j1[4096], j2[4096];
    cdrl_config_toy_official(&back);
    CHECK(cdrl_config_to_json(&o, j1, sizeof j1) > 0 &&
              cdrl_config_from_json(&back, j1) == CDRL_OK &&
              cdrl_config_to_json(&back, j2, sizeof j2) > 0 && strcmp(j1, j2) == 0,
          "JSON round trip of official-cifar10");
    CHECK(memcmp(back.ebm_ch_mult, o.ebm_ch_mult, sizeof o.ebm_ch_mult) == 0 &&
              memcmp(back.unet_attn, o.unet_attn, sizeof o.unet_attn) == 0 &&
              back.unet_dropout == o.unet_dropout,
          "arrays and the dropout come back");
    CHECK(cdrl_config_from_json(&back, "{\"ebm_ch_mult\":[1,2,3,4,5,6,7,8,9]}") ==
              CDRL_STATUS_FORMAT,
          "an over-long array is refused");

    cdrl_config c;
    CHECK(cdrl_config_preset(&c, "tiny-image") == CDRL_OK && c.dim == 64 && c.batch == 8 &&
              c.n_langevin == 3,
          "tiny-image preset");
    cdrl_config bad = c;
    bad.unet_dim = 48;
    cdrl_model *z = NULL;
    CHECK(cdrl_model_create(&z, &bad) == CDRL_STATUS_INVALID && !z,
          "a U-Net width not a multiple of 32 is refused");
    bad = c;
    bad.dim = 63;
    CHECK(cdrl_model_create(&z, &bad) == CDRL_STATUS_INVALID && !z,
          "dim != in_ch res res is refused");

    // Data: the folder, its padded form and the dimension.
    CHECK(write_folder(), "write the synthetic folder");
    cdrl_dataset *d = NULL, *dp = NULL, *toy = NULL;
    CHECK(cdrl_dataset_open(&d, "folder:" DIR_) == CDRL_OK, "open the folder");
    if (!d) return test_report("test_image_train");
    CHECK(cdrl_dataset_dim(d) == 64 && cdrl_dataset_size(d) == N_IMG, "dim %d, size %zu",
          cdrl_dataset_dim(d), cdrl_dataset_size(d));
    CHECK(cdrl_dataset_open(&dp, "folder:" DIR_ ":pad2") == CDRL_OK && cdrl_dataset_dim(dp) == 144,
          "':pad2' turns 8x8 into 12x12");
    if (dp) {
        // Corner pixel of the padded image is -1 (black), its original content starts at (2, 2).
        const float *p = cdrl_dataset_points(dp), *q = cdrl_dataset_points(d);
        CHECK(p[0] == -1.0f && p[2 * 12 + 2] == q[0], "padding is -1 around the image");
    }

    // N steps in one go.
    cdrl_train_stats full[STEPS], half[STEPS];
    cdrl_model *a = NULL;
    CHECK(cdrl_model_create(&a, &c) == CDRL_OK, "create");
    if (!a) return test_report("test_image_train");
    CHECK(train_steps(a, d, STEPS, full), "train %d steps", STEPS);
    CHECK(full[0].lr_ebm == 0 && full[STEPS - 1].lr_ebm > 0 && isfinite(full[STEPS - 1].loss_ebm),
          "warm-up and finite losses");

    // N/2, checkpoint, reload, N/2: the dropout stream travels in the metadata.
    const char *ckpt = "build/test_image_train.safetensors";
    cdrl_model *b = NULL, *r = NULL;
    CHECK(cdrl_model_create(&b, &c) == CDRL_OK && train_steps(b, d, STEPS / 2, half), "first half");
    CHECK(b && cdrl_model_save(b, ckpt) == CDRL_OK, "save");
    CHECK(cdrl_model_load(&r, ckpt) == CDRL_OK, "load");
    if (r) {
        CHECK(cdrl_model_config(r)->kind == CDRL_MODEL_IMAGE && cdrl_model_step(r) == STEPS / 2,
              "resumed image model at step %ld", cdrl_model_step(r));
        CHECK(train_steps(r, d, STEPS - STEPS / 2, half + STEPS / 2), "second half");
        int same = 1;
        for (int i = 0; i < STEPS; i++)
            same &= full[i].loss_ebm == half[i].loss_ebm &&
                    full[i].loss_init == half[i].loss_init && full[i].f_pos == half[i].f_pos &&
                    full[i].f_neg == half[i].f_neg;
        CHECK(same, "losses of N steps and N/2 + resume + N/2 are identical");
        CHECK(same_models(a, r),
              "weights, EMA, Adam moments, SN vectors and streams identical after resume");
    }

    // A checkpoint tensor with the right number of values but another shape is refused: the
    // reader checks shapes, not only sizes (the first matrix or kernel is written flat).
    {
        const char *bad_ckpt = "build/test_image_train_shape.safetensors";
        cdrl_st_file *f = NULL;
        cdrl_st_writer *w = cdrl_st_writer_create();
        int ok = w && cdrl_st_load(&f, ckpt) == CDRL_OK, flattened = 0;
        for (int i = 0; ok && i < cdrl_st_count(f); i++) {
            const cdrl_st_tensor *x = cdrl_st_at(f, i);
            const int64_t flat = (int64_t)x->numel;
            const int now = !flattened && x->ndim > 1;
            ok = cdrl_st_writer_add(w, x->name, x->dtype, now ? 1 : x->ndim, now ? &flat : x->shape,
                                    x->data) == CDRL_OK;
            flattened |= now;
        }
        static const char *keys[] = {"format", "version", "config", "step", "rng", "drop_rng"};
        for (size_t k = 0; ok && k < sizeof keys / sizeof keys[0]; k++)
            ok = cdrl_st_writer_meta(w, keys[k], cdrl_st_meta(f, keys[k])) == CDRL_OK;
        ok = ok && flattened && cdrl_st_writer_save(w, bad_ckpt) == CDRL_OK;
        cdrl_model *z2 = NULL;
        CHECK(ok && cdrl_model_load(&z2, bad_ckpt) == CDRL_STATUS_MISMATCH && !z2,
              "a flattened tensor of the right size is refused");
        cdrl_st_writer_free(w);
        cdrl_st_free(f);
        remove(bad_ckpt);
    }

    // The same bytes at 1 thread.
    const int saved = cdrl_threads();
    cdrl_set_threads(1);
    cdrl_model *one = NULL;
    cdrl_train_stats st1[STEPS];
    CHECK(cdrl_model_create(&one, &c) == CDRL_OK && train_steps(one, d, STEPS, st1),
          "train at 1 thread");
    cdrl_set_threads(saved);
    CHECK(one && st1[STEPS - 1].loss_ebm == full[STEPS - 1].loss_ebm && same_models(a, one),
          "1 and %d threads give the same model", saved);

    // Sampling: 10 samples take two chunks of the batch size 8; the same seed, the same bytes.
    enum { NS = 10 };
    float s1[NS * 64], s2[NS * 64], lv[6 * NS * 64];
    CHECK(cdrl_model_sample(a, s1, lv, NS, 2, 1, 3) == CDRL_OK &&
              cdrl_model_sample(a, s2, NULL, NS, 2, 1, 3) == CDRL_OK,
          "sample");
    CHECK(all_finite(s1, NS * 64) && all_finite(lv, 6 * NS * 64), "samples and levels finite");
    CHECK(memcmp(s1, s2, sizeof s1) == 0, "same seed, same samples");
    // The Tweedie step (method.md §6): x0 = (x + (1 - g_0) s) / sqrt(g_0) with s the gradient of
    // f(sqrt(kappa_1) x, lambda_0) / (h_1 / 2), i.e. twice the gradient of the pair-1 log-density
    // that cdrl_model_log_density gives; lambda_0 = logsnr_max. Recomputed here from the chain's
    // last level; 1e-5 covers float rounding of values of size ~1 (the two paths round the
    // scale factors differently; a wrong factor of 2 or a missing step shows as > 1e-2 here).
    {
        float logp[NS], dlogp[NS * 64];
        const float *x = lv + 5 * NS * 64;
        const double g0 = 1.0 / (1.0 + exp(-c.logsnr_max));
        double worst = 0, moved = 0;
        CHECK(cdrl_model_log_density(a, logp, dlogp, x, NS, 1, 1) == CDRL_OK, "pair-1 log-density");
        for (int i = 0; i < NS * 64; i++) {
            double want = ((double)x[i] + (1.0 - g0) * 2.0 * (double)dlogp[i]) / sqrt(g0);
            worst = fmax(worst, fabs((double)s1[i] - want));
            moved = fmax(moved, fabs((double)s1[i] - (double)x[i]));
        }
        printf("    Tweedie step: max |sample - recomputed| %.3g, max step %.3g\n", worst, moved);
        CHECK(worst < 1e-5 && moved > 1e-3,
              "samples are the Tweedie step of x_0 (max err %.3g, step %.3g)", worst, moved);
    }
    cdrl_set_threads(1);
    CHECK(cdrl_model_sample(a, s2, NULL, NS, 2, 1, 3) == CDRL_OK && memcmp(s1, s2, sizeof s1) == 0,
          "sampling at 1 thread gives the same bytes");
    cdrl_set_threads(saved);

    // langevin_clip: the chain of pair 1 (target: the data, in [-1, 1]) stays in the data's
    // range at every step, so its level x_0 does, where the same model without the clip leaves
    // it; the levels above never see the clip. Toy models, whose data has no range, refuse it.
    {
        cdrl_config cc = c;
        cc.langevin_clip = 1;
        cdrl_model *clip = NULL;
        CHECK(cdrl_model_create(&clip, &cc) == CDRL_OK && train_steps(clip, d, STEPS, st1),
              "train with langevin_clip");
        float lc[6 * NS * 64];
        CHECK(clip && cdrl_model_sample(clip, s2, lc, NS, 2, 1, 3) == CDRL_OK, "sample");
        const float *x0c = lc + 5 * NS * 64, *x0 = lv + 5 * NS * 64;
        float top_clip = 0, top = 0;
        for (int i = 0; i < NS * 64; i++) {
            top_clip = fmaxf(top_clip, fabsf(x0c[i]));
            top = fmaxf(top, fabsf(x0[i]));
        }
        CHECK(top_clip <= 1.0f + 1e-6f && top > 1.0f,
              "x_0 within [-1, 1] with the clip (max %.4f), beyond without it (max %.4f)",
              (double)top_clip, (double)top);
        cdrl_model_free(clip);
        cdrl_config tc;
        cdrl_model *tm = NULL;
        CHECK(cdrl_config_preset(&tc, "demo") == CDRL_OK && (tc.langevin_clip = 1) &&
                  cdrl_model_create(&tm, &tc) == CDRL_STATUS_INVALID && !tm,
              "langevin_clip refused for a 2-D model");
    }

    // Data of the wrong dimension and corrupt checkpoints are refused with a status.
    CHECK(cdrl_dataset_open(&toy, "checkerboard") == CDRL_OK &&
              cdrl_model_train_step(a, toy, NULL) == CDRL_STATUS_MISMATCH,
          "2-D data for an image model is refused");
    check_truncated_refused(ckpt);
    remove(ckpt);
    check_conditional(&c, d);

    cdrl_model_free(a);
    cdrl_model_free(b);
    cdrl_model_free(r);
    cdrl_model_free(one);
    cdrl_dataset_free(d);
    cdrl_dataset_free(dp);
    cdrl_dataset_free(toy);
    remove_folder();
    return test_report("test_image_train");
}
