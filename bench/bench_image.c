// Image benchmark at a reduced configuration that 2 cores can time in about a minute: seconds
// per CDRL training iteration at batch 64 (grey 32x32; EBM base width 32, 2 blocks per level,
// multipliers (1, 2, 2, 2); U-Net width 32, 3 levels at 32/16/8, 3 ResBlocks, attention at 16
// and 8, dropout 0.1; K 15; image step constants b 2e-4 with per-pair C_j), median of the timed
// iterations after one untimed one; images per second through the whole sampling chain with
// the EMA weights; the process's peak resident memory (getrusage ru_maxrss) beside its resident
// size just before the model was made. ref/bench_image_twin.py measures the PyTorch twin the
// same way; bench/image_vs_twin.sh runs both. Left out: the official widths (ch 128, 8 blocks).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdrl.h"

#define N_WARMUP 1
#define N_TIMED  3
#define N_SAMPLE                                                                                   \
    32 // images through the chain: half a sampling chunk (the model samples
       // batch-sized chunks), to keep the run near a minute

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; // ru_maxrss is in KiB on Linux
}

// Resident size now (/proc/self/statm); 0 when it cannot be read.
static double rss_now_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f) return 0.0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void log_fn(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= CDRL_LOG_WARN) fprintf(stderr, "bench_image: %s\n", msg);
}

// Stand-in data when Fashion-MNIST is not installed: 64 random grey 32x32 PNGs in a fresh
// folder under /tmp (the content does not change the time of an iteration). Returns the spec.
static const char *synthetic_folder(char *dir, char *spec, size_t spec_size) {
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_image: cannot create %s\n", dir);
        exit(1);
    }
    unsigned char px[32 * 32];
    unsigned long s = 12345;
    for (int i = 0; i < 64; i++) {
        for (int k = 0; k < 32 * 32; k++) {
            s = s * 6364136223846793005ul + 1442695040888963407ul;
            px[k] = (unsigned char)(s >> 56);
        }
        char path[256];
        snprintf(path, sizeof path, "%s/%02d.png", dir, i);
        if (cdrl_png_write(path, px, 32, 32, 1, NULL, NULL, 0) != CDRL_OK) exit(1);
    }
    snprintf(spec, spec_size, "folder:%s", dir);
    return spec;
}

static void remove_folder(const char *dir) {
    for (int i = 0; i < 64; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%02d.png", dir, i);
        remove(path);
    }
    rmdir(dir);
}

// The reduced configuration: the official CIFAR-10 preset (algorithm, constants, U-Net levels
// and attention, K 15) with grey 32x32 images, narrower networks and batch 64.
static void reduced_config(cdrl_config *c) {
    cdrl_config_preset(c, "official-cifar10");
    c->in_ch = 1;
    c->dim = c->res * c->res;
    c->ebm_ch = 32;
    c->ebm_blocks = 2;
    c->unet_dim = 32;
    c->batch = 64;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    cdrl_set_threads(threads);
    cdrl_set_log_callback(log_fn, NULL);
    char dir[] = "/tmp/cdrl_bench_image_XXXXXX", spec_buf[64];
    const char *spec =
        argc > 2 ? argv[2] : "fashion-mnist:/usr/share/datasets/fashion-mnist:test:pad2";
    int synthetic = 0;
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) != CDRL_OK) {
        fprintf(stderr, "bench_image: %s not available, using random images\n", spec);
        spec = synthetic_folder(dir, spec_buf, sizeof spec_buf);
        synthetic = 1;
        if (cdrl_dataset_open(&d, spec) != CDRL_OK) return 1;
    }
    const double rss_base = rss_now_mib();

    cdrl_config c;
    reduced_config(&c);
    cdrl_model *m = NULL;
    if (cdrl_model_create(&m, &c) != CDRL_OK) {
        fprintf(stderr, "bench_image: cannot create the model\n");
        return 1;
    }
    double t[N_TIMED];
    for (int i = 0; i < N_WARMUP + N_TIMED; i++) {
        double t0 = now_s();
        if (cdrl_model_train_step(m, d, NULL) != CDRL_OK) {
            fprintf(stderr, "bench_image: training step failed\n");
            return 1;
        }
        if (i >= N_WARMUP) t[i - N_WARMUP] = now_s() - t0;
    }
    const double rss_train = peak_rss_mib();
    qsort(t, N_TIMED, sizeof t[0], cmp_double);

    float *x = malloc(sizeof(float) * (size_t)N_SAMPLE * (size_t)c.dim); // (N_SAMPLE, 1, 32, 32)
    if (!x) return 1;
    double t0 = now_s();
    if (cdrl_model_sample(m, x, NULL, N_SAMPLE, c.n_langevin, 1, 7) != CDRL_OK) {
        fprintf(stderr, "bench_image: sampling failed\n");
        return 1;
    }
    const double t_sample = now_s() - t0;
    const double rss_peak = peak_rss_mib();

    printf(
        "{\"bench\": \"cdrl_image_train_iter\", \"threads\": %d, \"batch\": 64, \"K\": 15, "
        "\"ebm_ch\": 32, \"ebm_blocks\": 2, \"unet_dim\": 32, \"res\": 32, \"in_ch\": 1, "
        "\"data\": \"%s\", \"s_per_iter_median\": %.4f, \"s_per_iter_min\": %.4f, \"n\": %d, "
        "\"sample_n\": %d, \"sample_s\": %.3f, \"images_per_s\": %.3f, "
        "\"rss_before_model_mib\": %.1f, \"peak_rss_train_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
        cdrl_threads(), synthetic ? "random" : spec, t[N_TIMED / 2], t[0], N_TIMED, N_SAMPLE,
        t_sample, (double)N_SAMPLE / t_sample, rss_base, rss_train, rss_peak);
    printf("cdrl image, %d threads: %.3f s/iter (batch 64, median of %d), sampling %.2f images/s "
           "(%d through the chain, EMA), peak RSS %.0f MiB (%.0f MiB before the model)\n",
           cdrl_threads(), t[N_TIMED / 2], N_TIMED, (double)N_SAMPLE / t_sample, N_SAMPLE, rss_peak,
           rss_base);
    free(x);
    cdrl_model_free(m);
    cdrl_dataset_free(d);
    if (synthetic) remove_folder(dir);
    return 0;
}
