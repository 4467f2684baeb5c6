// The image initializer U-Net (src/models/unet.c) against its PyTorch twin (ref/unet_twin.py,
// the official models/unet*.py): the forward and every parameter gradient of a small
// conditional network (tests/fixtures/unet.safetensors), the official tensor names and sizes,
// a fresh network's output (x + final_conv.bias), central finite differences on a tiny
// network in train mode (dropout masks held fixed), dropout statistics and stream
// bookkeeping, and thread-count independence. torch's dropout masks cannot be reproduced,
// so dropout is checked here alone.
#include <stdint.h>

#include "core/rng.h"
#include "models/unet.h"
#include "ops/ops.h"
#include "test_util.h"

// Tensor k of the table: test_fill with seed k + 1 over [range[2k], range[2k+1]) (what
// ref/fixtures_unet.py does in numpy).
static void fill_params(cdrl_unet *m, const float *range) {
    for (int k = 0; k < m->params.count; k++) {
        const cdrl_param *p = &m->params.items[k];
        test_fill(m->p_own + p->offset, p->numel, (unsigned)(k + 1), range[2 * k],
                  range[2 * k + 1]);
    }
}

// Names in table order against a comma-separated list; returns the number of mismatches.
static int check_names(const cdrl_unet *m, const char *list, const char *what) {
    int bad = 0, k = 0;
    const char *s = list;
    while (*s && k < m->params.count) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *name = m->params.items[k].name;
        if (strlen(name) != len || strncmp(name, s, len) != 0) {
            if (bad++ < 3)
                printf("    %s tensor %d: C '%s', twin '%.*s'\n", what, k, name, (int)len, s);
        }
        k++;
        s = e ? e + 1 : s + len;
    }
    if (*s || k != m->params.count) bad++;
    CHECK(bad == 0, "%s: C tensor names differ from the twin's state_dict keys (%d)", what, bad);
    return bad;
}

static void config_from_fixture(cdrl_unet_config *c, const cdrl_st_file *f) {
    memset(c, 0, sizeof *c);
    c->in_ch = fixture_int(f, "in_ch");
    c->resolution = fixture_int(f, "resolution");
    c->dim = fixture_int(f, "dim");
    c->n_levels = fixture_int(f, "n_levels");
    for (int l = 0; l < c->n_levels; l++)
        c->dim_mults[l] = 1;
    c->num_res_blocks = fixture_int(f, "num_res_blocks");
    c->n_attn = 1;
    c->attn_resolutions[0] = fixture_int(f, "attn");
    c->dropout = 0.0f;
    c->n_classes = fixture_int(f, "n_classes");
}

// ---------------------------------------------------------------------------------------
// 1. Parity with the twin

static void test_parity(void) {
    printf("parity with ref/unet_twin.py\n");
    cdrl_st_file *f = fixture_load("unet");
    cdrl_unet_config c;
    config_from_fixture(&c, f);
    const int B = fixture_int(f, "B"), L = fixture_int(f, "L");
    const size_t D = (size_t)c.in_ch * (size_t)(c.resolution * c.resolution);
    cdrl_rng rng;
    cdrl_rng_init(&rng, 1, 0);
    cdrl_unet *m = cdrl_unet_create(&c, B, L, &rng);
    CHECK(m != NULL, "create");
    const int np = m->params.count;
    CHECK(cdrl_unet_n_params(m) == (size_t)fixture_int(f, "n_params"),
          "parameter count %zu, twin %d", cdrl_unet_n_params(m), fixture_int(f, "n_params"));
    check_names(m, cdrl_st_meta(f, "names"), "small");

    fill_params(m, fixture_f32(f, "init.range", 2 * (size_t)np));
    const float *sums = fixture_f32(f, "init.sum", (size_t)np);
    int bad_sum = 0;
    for (int k = 0; k < np; k++) {
        const cdrl_param *p = &m->params.items[k];
        double s = 0;
        for (size_t i = 0; i < p->numel; i++)
            s += (double)m->p_own[p->offset + i];
        // The twin's sum is a float32 rounding of a double sum: 1e-6 relative (+ abs for ~0).
        if (fabs(s - (double)sums[k]) > 1e-6 * fabs(s) + 1e-6) bad_sum++;
    }
    CHECK(bad_sum == 0, "%d parameter tensors differ from the twin's (LCG fill)", bad_sum);

    const float *x = fixture_f32(f, "in.x", (size_t)B * D),
                *r = fixture_f32(f, "in.r", (size_t)B * D);
    const float *tau = fixture_f32(f, "in.tau", (size_t)L);
    const float *lv = fixture_f32(f, "in.level", (size_t)B),
                *lb = fixture_f32(f, "in.label", (size_t)B);
    int level[16], label[16];
    CHECK(B <= 16, "batch");
    for (int n = 0; n < B; n++)
        level[n] = (int)lv[n], label[n] = (int)lb[n];
    float *mu = test_floats((size_t)B * D), *mu_eval = test_floats((size_t)B * D);

    // Train mode with dropout 0 must equal eval mode bit for bit.
    cdrl_unet_prepare(m, tau, L, 0);
    cdrl_unet_forward(m, mu_eval, x, level, label, B);
    cdrl_unet_prepare(m, tau, L, 1);
    cdrl_unet_forward(m, mu, x, level, label, B);
    CHECK(memcmp(mu, mu_eval, sizeof(float) * (size_t)B * D) == 0,
          "dropout 0: train and eval forwards differ");
    // About 30 float32 layers whose sums run in another order than torch's (oneDNN im2col
    // GEMMs, GroupNorm moments in double), and time embeddings whose frequencies torch's SIMD
    // exp rounds 1 ulp away for a few k (up to 6e-5 in the angle at tau ~ 950): errors of a
    // few 1e-6 of |mu| ~ 1; 1e-4 abs + 1e-3 rel (the house network tolerance) still fails
    // any wrong term.
    check_close("out.mu", mu, fixture_f32(f, "out.mu", (size_t)B * D), (size_t)B * D, 1e-4, 1e-3);

    cdrl_unet_zero_grad(m);
    cdrl_unet_backward(m, r);
    cdrl_unet_finish_grads(m);
    double worst = 0, zero_max = 0;
    int worst_k = 0, bad = 0, n_zero = 0;
    for (int k = 0; k < np; k++) {
        const cdrl_param *p = &m->params.items[k];
        char name[128];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const float *want = fixture_f32(f, name, p->numel);
        double scale = 0, err = 0;
        for (size_t i = 0; i < p->numel; i++) {
            scale = fmax(scale, fabs((double)want[i]));
            err = fmax(err, fabs((double)m->grad[p->offset + i] - (double)want[i]));
        }
        // A gradient sums B x H x W products of activations that are themselves ~1e-6 off:
        // errors scale with the tensor's largest entry (entries near zero are sums that
        // cancel), so the bound is 1e-4 of that plus 1e-3 of each entry. The 2e-5 floor is for
        // the tensors whose exact gradient is 0, the biases in front of a GroupNorm with one
        // channel per group (which removes any per-channel constant): both sides are then
        // float32 rounding of 1024 cancelling terms, |g| < 1e-5, against >= 0.28 for the rest.
        const double atol = 1e-4 * scale + 2e-5;
        if (scale < 1e-4) {
            n_zero++;
            for (size_t i = 0; i < p->numel; i++)
                zero_max = fmax(zero_max, fabs((double)m->grad[p->offset + i]));
        } else if (err / scale > worst) {
            worst = err / scale, worst_k = k;
        }
        int quiet = 1;
        for (size_t i = 0; i < p->numel && quiet; i++)
            if (fabs((double)m->grad[p->offset + i] - (double)want[i]) >
                atol + 1e-3 * fabs((double)want[i]))
                quiet = 0;
        if (!quiet) {
            bad++;
            check_close(name, m->grad + p->offset, want, p->numel, atol, 1e-3);
        }
    }
    test_checks++;
    if (bad) test_failures++;
    printf("  %s %d gradient tensors: worst max|err|/max|grad| %.3g (%s); %d exactly-zero ones, C "
           "max |g| %.3g\n",
           bad ? "FAIL" : "ok  ", np, worst, m->params.items[worst_k].name, n_zero, zero_max);

    cdrl_free(mu);
    cdrl_free(mu_eval);
    cdrl_unet_free(m);
    cdrl_st_free(f);
}

// ---------------------------------------------------------------------------------------
// 2. Official sizes and names, fresh networks

static void test_official(void) {
    printf("official configurations\n");
    cdrl_st_file *f = fixture_load("unet");
    cdrl_rng rng;
    cdrl_rng_init(&rng, 2, 0);
    cdrl_unet_config c;
    cdrl_unet_config_cifar10(&c);
    cdrl_unet *m = cdrl_unet_create(&c, 1, 7, &rng);
    CHECK(m != NULL, "create CIFAR-10");
    // method.md §5.5: 3,769,795 (CIFAR-10), 3,181,443 (ImageNet 32x32, conditional).
    CHECK(cdrl_unet_n_params(m) == 3769795,
          "CIFAR-10 initializer: %zu parameters, official 3769795", cdrl_unet_n_params(m));
    CHECK(cdrl_unet_n_params(m) == (size_t)fixture_int(f, "cifar_n_params"),
          "CIFAR-10 count differs from the twin's");
    check_names(m, cdrl_st_meta(f, "cifar_names"), "CIFAR-10");

    // Fresh: every path ends in the zero-weight final_conv, so mu = x + final_conv.bias
    // exactly (the official init leaves that bias at its default, not zero); also in train
    // mode, as dropout sits before zero-weight convs only.
    const int S = c.resolution, HW = S * S;
    float x[3 * 32 * 32], mu[3 * 32 * 32], tau[7];
    test_fill(x, (size_t)3 * HW, 21, -1.0f, 1.0f);
    for (int l = 0; l < 7; l++)
        tau[l] = 4.7f + 157.0f * (float)l;
    int level[1] = {5};
    cdrl_unet_prepare(m, tau, 7, 1);
    cdrl_unet_forward(m, mu, x, level, NULL, 1);
    const float *bias = m->p + m->final_b;
    int exact = 1;
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < HW; i++)
            exact &= mu[ch * HW + i] == x[ch * HW + i] + bias[ch];
    CHECK(exact, "fresh CIFAR-10 U-Net: mu != x + final_conv.bias");
    CHECK(bias[0] != 0.0f && bias[1] != 0.0f, "final_conv.bias keeps its default init");
    // One full-size backward (the arena sizing of the official layout; an overrun asserts):
    // final_conv.bias's gradient is the per-channel sum of dmu whatever the weights.
    float dmu[3 * 32 * 32];
    test_fill(dmu, (size_t)3 * HW, 22, -1.0f, 1.0f);
    cdrl_unet_zero_grad(m);
    cdrl_unet_backward(m, dmu);
    cdrl_unet_finish_grads(m);
    float want_b[3];
    for (int ch = 0; ch < 3; ch++) {
        double sum = 0;
        for (int i = 0; i < HW; i++)
            sum += (double)dmu[ch * HW + i];
        want_b[ch] = (float)sum;
    }
    // A float32 sum of 1024 values of size <= 1: ~1e-5 of rounding.
    check_close("CIFAR-10 grad final_conv.bias", m->grad + m->final_b, want_b, 3, 1e-4, 0);
    printf("  ok   CIFAR-10 scratch peak %.1f of %.1f MB, activations %.1f MB (batch 1)\n",
           (double)m->scratch.peak / 1e6, (double)m->scratch.cap / 1e6, (double)m->store.cap / 1e6);
    cdrl_unet_free(m);

    cdrl_unet_config_imagenet32(&c);
    m = cdrl_unet_create(&c, 1, 7, &rng);
    CHECK(m && cdrl_unet_n_params(m) == 3181443,
          "ImageNet 32x32 initializer: %zu parameters, official 3181443", cdrl_unet_n_params(m));
    const cdrl_param *y = cdrl_param_find(&m->params, "y_mlp.0.weight");
    CHECK(y && y->shape[0] == 256 && y->shape[1] == 1001, "y_mlp.0.weight is (256, 1001)");
    cdrl_unet_free(m);
    cdrl_st_free(f);
}

// ---------------------------------------------------------------------------------------
// 3. Finite differences on a tiny network, train mode (dropout on, masks held fixed)

#define FB   2
#define FL   3
#define FCH  2
#define FS   8
#define FD_N (FB * FCH * FS * FS)

typedef struct fd_ctx {
    cdrl_unet *m;
    cdrl_rng rng0; // dropout stream at the start: every forward draws the same masks
    float x[FD_N], r[FD_N], mu[FD_N], tau[FL];
    int level[FB], label[FB];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    c->m->drop_rng = c->rng0;
    cdrl_unet_prepare(c->m, c->tau, FL, 1);
    cdrl_unet_forward(c->m, c->mu, c->x, c->level, c->label, FB);
    return test_dot(c->mu, c->r, FD_N);
}

static cdrl_unet_config tiny_config(float dropout) {
    cdrl_unet_config c = {.in_ch = FCH,
                          .resolution = FS,
                          .dim = 32,
                          .n_levels = 2,
                          .dim_mults = {1, 1},
                          .num_res_blocks = 1,
                          .n_attn = 1,
                          .attn_resolutions = {4},
                          .dropout = dropout,
                          .n_classes = 3};
    return c;
}

// Non-zero, moderate weights everywhere (the zero-initialised ones included): GroupNorm
// gammas near 1, everything else U(+-0.8/sqrt(fan_in)).
static void randomize(cdrl_unet *m, unsigned seed) {
    for (int k = 0; k < m->params.count; k++) {
        const cdrl_param *p = &m->params.items[k];
        float *x = m->p_own + p->offset;
        size_t fan = p->ndim > 1 ? p->numel / (size_t)p->shape[0] : 0;
        if (p->ndim == 1 && k > 0 && m->params.items[k - 1].ndim > 1)
            fan = m->params.items[k - 1].numel / (size_t)m->params.items[k - 1].shape[0];
        if (fan) {
            float b = 0.8f / sqrtf((float)fan);
            test_fill(x, p->numel, seed + (unsigned)k, -b, b);
        } else if (strstr(p->name, "weight")) {
            test_fill(x, p->numel, seed + (unsigned)k, 0.7f, 1.3f);
        } else {
            test_fill(x, p->numel, seed + (unsigned)k, -0.3f, 0.3f);
        }
    }
}

static void test_finite_differences(void) {
    printf("finite differences (tiny network, train mode, dropout 0.1)\n");
    cdrl_unet_config c = tiny_config(0.1f);
    cdrl_rng rng;
    cdrl_rng_init(&rng, 3, 0);
    static fd_ctx ctx;
    ctx.m = cdrl_unet_create(&c, FB, FL, &rng);
    cdrl_unet *m = ctx.m;
    randomize(m, 100);
    ctx.rng0 = m->drop_rng;
    test_fill(ctx.x, FD_N, 31, -1.0f, 1.0f);
    test_fill(ctx.r, FD_N, 32, -1.0f, 1.0f);
    ctx.tau[0] = 4.7f, ctx.tau[1] = 380.0f, ctx.tau[2] = 951.0f;
    ctx.level[0] = 2, ctx.level[1] = 0;
    ctx.label[0] = 0, ctx.label[1] = 3;

    cdrl_unet_zero_grad(m);
    (void)fd_loss(&ctx);
    cdrl_unet_backward(m, ctx.r);
    cdrl_unet_finish_grads(m);
    // Float32 forward through ~20 layers: the loss carries ~1e-6 of rounding, i.e. ~1e-4
    // after dividing by eps = 1e-2, and the step's truncation error is ~eps^2 of the third
    // derivative. 2e-3 abs + 2e-2 rel covers both; a wrong term is O(1) relative.
    for (int k = 0; k < m->params.count; k++) {
        const cdrl_param *p = &m->params.items[k];
        gradcheck(p->name, fd_loss, &ctx, m->p_own + p->offset, m->grad + p->offset, p->numel, 2,
                  1e-2f, 2e-3, 2e-2);
    }
    cdrl_unet_free(m);
}

// ---------------------------------------------------------------------------------------
// 4. Dropout: statistics of the masks and the bookkeeping of the stream

static void test_dropout(void) {
    printf("dropout\n");
    cdrl_st_file *f = fixture_load("unet");
    cdrl_unet_config c;
    config_from_fixture(&c, f);
    cdrl_st_free(f);
    c.dropout = 0.1f;
    const int B = 4, S = c.resolution;
    const size_t D = (size_t)c.in_ch * (size_t)(S * S);
    cdrl_rng rng;
    cdrl_rng_init(&rng, 4, 0);
    cdrl_unet *m = cdrl_unet_create(&c, B, 2, &rng);
    randomize(m, 200);
    float tau[2] = {10.0f, 600.0f}, *x = test_floats((size_t)B * D);
    float *mu1 = test_floats((size_t)B * D), *mu2 = test_floats((size_t)B * D),
          *mu3 = test_floats((size_t)B * D);
    test_fill(x, (size_t)B * D, 41, -1.0f, 1.0f);
    int level[4] = {0, 1, 1, 0}, labels[4] = {1, 0, 10, 5};

    // Eval mode draws nothing.
    cdrl_rng r0 = m->drop_rng;
    cdrl_unet_prepare(m, tau, 2, 0);
    cdrl_unet_forward(m, mu3, x, level, labels, B);
    CHECK(m->drop_rng.counter == r0.counter, "an eval-mode forward advanced the dropout stream");

    // Train mode: each ResBlock draws ceil(B cout HWo / 4) Philox blocks, in order.
    cdrl_unet_prepare(m, tau, 2, 1);
    cdrl_unet_forward(m, mu1, x, level, labels, B);
    uint64_t want = 0;
    size_t n_all = 0, n_zero = 0, n_other = 0;
    const float keep = 1.0f / (1.0f - 0.1f);
    for (int i = 0; i < m->n_res; i++) {
        const cdrl_unet_res *r = &m->res[i];
        size_t n = (size_t)B * (size_t)r->cout * (size_t)(r->ho * r->wo);
        want += (n + 3) / 4;
        for (size_t k = 0; k < n; k++) {
            n_zero += r->acts.mask[k] == 0.0f;
            n_other += r->acts.mask[k] != 0.0f && r->acts.mask[k] != keep;
        }
        n_all += n;
    }
    CHECK(m->drop_rng.counter - r0.counter == want, "train forward drew %llu blocks, expected %llu",
          (unsigned long long)(m->drop_rng.counter - r0.counter), (unsigned long long)want);
    // Each value is dropped with probability 0.1 independently: over n_all values the
    // fraction has sd sqrt(0.09 / n_all) (~6e-4 here); 5 sd never fails by chance.
    double frac = (double)n_zero / (double)n_all, sd = sqrt(0.09 / (double)n_all);
    CHECK(fabs(frac - 0.1) < 5 * sd, "dropped fraction %.5f over %zu values, expected 0.1 +- %.5f",
          frac, n_all, 5 * sd);
    CHECK(n_other == 0, "%zu kept values not scaled by exactly 1/(1-p)", n_other);
    printf("  ok   dropped fraction %.5f of %zu (5 sd = %.5f)\n", frac, n_all, 5 * sd);

    // The next train forward uses new masks; restoring the stream replays the first.
    cdrl_rng after = m->drop_rng;
    cdrl_unet_forward(m, mu2, x, level, labels, B);
    CHECK(memcmp(mu1, mu2, sizeof(float) * (size_t)B * D) != 0,
          "two train forwards gave the same masks");
    m->drop_rng = r0;
    cdrl_unet_forward(m, mu2, x, level, labels, B);
    CHECK(memcmp(mu1, mu2, sizeof(float) * (size_t)B * D) == 0,
          "restored dropout stream did not replay");
    CHECK(m->drop_rng.counter == after.counter, "replay drew a different amount");
    CHECK(memcmp(mu1, mu3, sizeof(float) * (size_t)B * D) != 0,
          "train and eval outputs are equal with dropout 0.1");

    // The cdrl_net view selects the mode by prepare's flag and computes the same thing.
    cdrl_net net = cdrl_unet_net(m);
    CHECK(net.dim == (int)D && net.params == &m->params && *net.p == m->p_own, "cdrl_net view");
    net.prepare(net.impl, tau, 2, 0);
    net.forward(net.impl, mu2, x, level, labels, B);
    CHECK(memcmp(mu2, mu3, sizeof(float) * (size_t)B * D) == 0, "cdrl_net eval forward differs");

    cdrl_free(x);
    cdrl_free(mu1);
    cdrl_free(mu2);
    cdrl_free(mu3);
    cdrl_unet_free(m);
}

// ---------------------------------------------------------------------------------------
// 5. Thread-count independence (forward and all gradients, train mode)

static void test_threads(void) {
    printf("threads\n");
    cdrl_st_file *f = fixture_load("unet");
    cdrl_unet_config c;
    config_from_fixture(&c, f);
    cdrl_st_free(f);
    c.dropout = 0.1f;
    const int B = 4, S = c.resolution;
    const size_t D = (size_t)c.in_ch * (size_t)(S * S);
    int saved = cdrl_threads();
    cdrl_set_threads(2); // scratch sized for two workers
    cdrl_rng rng;
    cdrl_rng_init(&rng, 5, 0);
    cdrl_unet *m = cdrl_unet_create(&c, B, 2, &rng);
    randomize(m, 300);
    const size_t P = m->params.total;
    float tau[2] = {50.0f, 900.0f}, *x = test_floats((size_t)B * D),
          *r = test_floats((size_t)B * D);
    float *mu[2] = {test_floats((size_t)B * D), test_floats((size_t)B * D)};
    float *grad1 = test_floats(P);
    test_fill(x, (size_t)B * D, 51, -1.0f, 1.0f);
    test_fill(r, (size_t)B * D, 52, -1.0f, 1.0f);
    int level[4] = {1, 0, 1, 1}, labels[4] = {2, 9, 0, 4};
    cdrl_rng r0 = m->drop_rng;
    for (int run = 0; run < 2; run++) {
        cdrl_set_threads(run + 1);
        m->drop_rng = r0;
        cdrl_unet_prepare(m, tau, 2, 1);
        cdrl_unet_forward(m, mu[run], x, level, labels, B);
        cdrl_unet_zero_grad(m);
        cdrl_unet_backward(m, r);
        cdrl_unet_finish_grads(m);
        if (run == 0) memcpy(grad1, m->grad, P * sizeof(float));
    }
    cdrl_set_threads(saved);
    CHECK(memcmp(mu[0], mu[1], sizeof(float) * (size_t)B * D) == 0,
          "forward differs between 1 and 2 threads");
    CHECK(memcmp(grad1, m->grad, P * sizeof(float)) == 0,
          "gradients differ between 1 and 2 threads");
    printf("  ok   forward and %zu gradient values identical at 1 and 2 threads\n",
           cdrl_unet_n_params(m));
    cdrl_free(x);
    cdrl_free(r);
    cdrl_free(mu[0]);
    cdrl_free(mu[1]);
    cdrl_free(grad1);
    cdrl_unet_free(m);
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    // One thread except in test_threads, which shows that two give the same bytes: these
    // layers take microseconds, and on a shared machine a team of threads waiting for a busy
    // core costs 10-20x the work (measured: parity 0.16 s at 1 thread, 3.3 s at 2).
    cdrl_set_threads(1);
    test_parity();
    test_official();
    test_finite_differences();
    test_dropout();
    test_threads();
    return test_report("test_unet");
}
