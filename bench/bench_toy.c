// Seconds per CDRL training iteration on 2-D data with the official toy configuration (EBM
// base width 128, initializer 64/128, K 15, official learning rates) at batch 256 and at the
// official 2500: median over timed iterations after two untimed ones, on all cores. The same
// measurement of the PyTorch twin is ref/bench_toy_twin.py; bench/toy_vs_twin.sh runs both
// side by side and prints the ratios.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cdrl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median seconds per iteration over n timed iterations.
static double bench_batch(int batch, int n) {
    cdrl_config c;
    cdrl_config_preset(&c, "official-toy");
    c.batch = batch;
    cdrl_dataset *d = NULL;
    cdrl_model *m = NULL;
    if (cdrl_dataset_open(&d, "checkerboard") != CDRL_OK || cdrl_model_create(&m, &c) != CDRL_OK) {
        fprintf(stderr, "bench_toy: cannot create the model\n");
        exit(1);
    }
    double t[16];
    for (int i = 0; i < n + 2; i++) {
        double t0 = now_s();
        if (cdrl_model_train_step(m, d, NULL) != CDRL_OK) {
            fprintf(stderr, "bench_toy: training step failed\n");
            exit(1);
        }
        if (i >= 2) t[i - 2] = now_s() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    cdrl_model_free(m);
    cdrl_dataset_free(d);
    return t[n / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    cdrl_set_threads(threads);
    double t256 = bench_batch(256, 9), t2500 = bench_batch(2500, 5);
    printf("{\"bench\": \"cdrl_toy_train_iter\", \"threads\": %d, \"K\": 15, \"ch\": 128, "
           "\"results\": [{\"batch\": 256, \"s_per_iter_median\": %.4f}, "
           "{\"batch\": 2500, \"s_per_iter_median\": %.4f}]}\n",
           cdrl_threads(), t256, t2500);
    return 0;
}
