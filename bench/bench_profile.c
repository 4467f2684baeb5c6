// Where an image training iteration and the sampling chain spend their time: one profiled
// iteration (after one untimed warm-up) of the reduced configuration of bench_image.c and of
// the fmnist-cpu preset, then one sampling chain of the reduced configuration, each as a table
// of op, pass and shape rows (ops/profile.h) with milliseconds, GFLOP/s and the share of the
// time, beside the oneDNN sgemm peak measured in the same run. FLOPs are those of the direct
// algorithm (convolutions, Linear layers, attention), so the "all ops" line is the fraction of
// the machine's GEMM speed the whole iteration reaches.
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>

#include "cdrl.h"
#include "ops/ops.h"
#include "ops/profile.h"

static double now_s(void) { return cdrl_profile_now(); }

// oneDNN's sgemm threaded over all cores at 2048^3: the best of four after a warm-up.
static double sgemm_peak(void) {
    const int n = 2048;
    const size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(sizeof(float) * nn), *b = malloc(sizeof(float) * nn),
          *c = malloc(sizeof(float) * nn);
    if (!a || !b || !c) exit(1);
    for (size_t i = 0; i < nn; i++)
        a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t = now_s();
        dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (r > 0 && now_s() - t < best) best = now_s() - t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * (double)n * n / best * 1e-9;
}

static int bf16_here(void) { return cdrl_bf16_available(); }

static void log_fn(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= CDRL_LOG_WARN) fprintf(stderr, "bench_profile: %s\n", msg);
}

// One warm-up step, then one profiled step; prints its table. Returns the step's seconds.
static double profile_step(const char *name, const cdrl_config *c, cdrl_dataset *d, double peak) {
    cdrl_model *m = NULL;
    if (cdrl_model_create(&m, c) != CDRL_OK) exit(1);
    if (cdrl_model_train_step(m, d, NULL) != CDRL_OK) exit(1);
    cdrl_profile_reset();
    cdrl_profile_enable(1);
    const double t0 = now_s();
    if (cdrl_model_train_step(m, d, NULL) != CDRL_OK) exit(1);
    const double t = now_s() - t0;
    cdrl_profile_enable(0);
    const double flops = cdrl_profile_flops();
    printf("\n%s: one training iteration, %.3f s (%.3f s in ops), %.1f GFLOP of products: "
           "%.1f GFLOP/s = %.0f%% of the sgemm peak\n",
           name, t, cdrl_profile_seconds(), flops * 1e-9, flops / t * 1e-9,
           100 * flops / t * 1e-9 / peak);
    cdrl_profile_print(stdout, 1, peak, 0.005);

    if (c->res == 32) { // the reduced configuration: the sampling chain too
        const int n = c->batch;
        float *x = malloc(sizeof(float) * (size_t)n * (size_t)c->dim);
        if (!x) exit(1);
        cdrl_profile_reset();
        cdrl_profile_enable(1);
        const double s0 = now_s();
        if (cdrl_model_sample(m, x, NULL, n, c->n_langevin, 1, 7) != CDRL_OK) exit(1);
        const double ts = now_s() - s0;
        cdrl_profile_enable(0);
        printf("\n%s: sampling %d images through the chain (K %d), %.3f s = %.2f images/s, "
               "%.1f GFLOP/s = %.0f%% of the sgemm peak\n",
               name, n, c->n_langevin, ts, n / ts, cdrl_profile_flops() / ts * 1e-9,
               100 * cdrl_profile_flops() / ts * 1e-9 / peak);
        cdrl_profile_print(stdout, 1, peak, 0.01);
        free(x);
    }
    cdrl_model_free(m);
    return t;
}

int main(int argc, char **argv) {
    cdrl_set_threads(argc > 1 ? atoi(argv[1]) : 0);
    cdrl_set_log_callback(log_fn, NULL);
    const char *fm = "fashion-mnist:/usr/share/datasets/fashion-mnist:test";
    char spec32[128];
    snprintf(spec32, sizeof spec32, "%s:pad2", fm);
    cdrl_dataset *d32 = NULL, *d28 = NULL;
    if (cdrl_dataset_open(&d32, spec32) != CDRL_OK || cdrl_dataset_open(&d28, fm) != CDRL_OK) {
        fprintf(stderr, "bench_profile: needs Fashion-MNIST (sh scripts/deps.sh fashion-mnist)\n");
        return 0; // not a failure of the code
    }
    const double peak_start = sgemm_peak();
    printf("bench_profile: %d threads, backend %s; sgemm peak %.1f GFLOP/s (oneDNN 2048^3)\n",
           cdrl_threads(), cdrl_backend_name(), peak_start);

    cdrl_config c; // the reduced configuration of bench_image.c
    cdrl_config_preset(&c, "official-cifar10");
    c.in_ch = 1;
    c.dim = c.res * c.res;
    c.ebm_ch = 32;
    c.ebm_blocks = 2;
    c.unet_dim = 32;
    c.batch = 64;
    profile_step("reduced configuration (bench_image)", &c, d32, peak_start);
    if (bf16_here()) {
        c.langevin_bf16 = 1;
        profile_step("reduced configuration, langevin_bf16", &c, d32, peak_start);
    } else {
        printf("\n(no AVX512_BF16 on this CPU: the langevin_bf16 rows are left out)\n");
    }

    cdrl_config_preset(&c, "fmnist-cpu");
    profile_step("fmnist-cpu preset", &c, d28, peak_start);
    if (bf16_here()) {
        c.langevin_bf16 = 1;
        profile_step("fmnist-cpu preset, langevin_bf16", &c, d28, peak_start);
    }

    const double peak_end = sgemm_peak();
    printf("\nsgemm peak at the end %.1f GFLOP/s (%.1f at the start)%s\n", peak_end, peak_start,
           peak_end < 0.85 * peak_start || peak_start < 0.85 * peak_end
               ? ": it moved, other processes share the cores"
               : "");
    cdrl_dataset_free(d32);
    cdrl_dataset_free(d28);
    return 0;
}
