// Optimisation helpers (src/train/optim.c) against PyTorch 1.13 (ref/fixtures_optim.py):
// three Adam/AdamW steps (moments and parameters), the LambdaLR warm-ups driving real steps,
// clip_grad_norm_ on a clipping and a non-clipping case, and torch_ema's ramped EMA. Plus:
// the first EBM update has lr 0 yet moves the moments, small gradients pass the clip
// bit-untouched, and the norm is bit-identical for any thread count.
// Left out: amsgrad/maximize (not implemented). No finite differences: nothing here is a
// derivative.
#include "test_util.h"
#include "train/optim.h"

static int N, STEPS;

// Largest |got - want| / |want| over n elements, for the printed summaries.
static double max_rel(const float *got, const float *want, size_t n) {
    double r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double w = fabs((double)want[i]);
        double e = w > 0 ? d / w : d;
        if (e > r || e != e) r = e;
    }
    return r;
}

// in.<name>.hyper = [lr, beta1, beta2, eps, weight_decay, decoupled] as float32.
static cdrl_adam_params hyper(const cdrl_st_file *f, const char *name) {
    char key[96];
    snprintf(key, sizeof key, "in.%s.hyper", name);
    const float *h = fixture_f32(f, key, 6);
    cdrl_adam_params p = {h[0], h[1], h[2], h[3], h[4], (int)h[5]};
    return p;
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW: STEPS updates from in.param with in.grad, compared after every step.
//
// Tolerances. "f32": torch ran with the float32 hyperparameters the C struct holds, so both
// sides evaluate the same float32 expressions in the same order, with fmaf where torch's
// AVX2 kernels fuse (fixture metadata cpu_capability = AVX2): bit-identical in practice, and
// held to one ulp (rtol 1.2e-7), which still fails for any change of expression order (an
// unfused m = b1*m + (1-b1)*g is off by 1-2 ulp of the summands, i.e. up to 1e-5 relative
// where they cancel).
// "dec": torch ran with the decimal 0.9 / 0.999 / 1e-3 of the official code, while the C
// struct holds 0.9f / 0.999f / 1e-3f. Then 1 - 0.9f exceeds float(1 - 0.9) by 2.4e-8, which
// m carries as 2.4e-8 * sum_t |g_t| <= 2.5e-7 absolute (|g| < 3.5 here); 1 - 0.999f is off by
// 1.3e-5 relative, which v inherits (rtol 2e-5). The step divides by the matching bias
// corrections, so these cancel to first order in the parameters: 2 ulp (rtol 2.5e-7), plus
// atol 1e-9 for the zero-initialised bias, whose whole value is three updates of ~1e-3
// carrying m's relative gap (measured 3e-10).
#define ULP 1.2e-7

static void test_adam(const cdrl_st_file *f, const char *name) {
    cdrl_adam_params hp = hyper(f, name);
    const float *p0 = fixture_f32(f, "in.param", (size_t)N);
    const float *g = fixture_f32(f, "in.grad", (size_t)(STEPS * N));
    float *p = test_floats((size_t)N), *m = test_floats((size_t)N), *v = test_floats((size_t)N);
    float *gcopy = test_floats((size_t)(STEPS * N));
    memcpy(p, p0, (size_t)N * sizeof(float));
    memcpy(gcopy, g, (size_t)(STEPS * N) * sizeof(float));
    char key[96], label[96];
    printf("%s (lr %g, wd %g, %s)\n", name, (double)hp.lr, (double)hp.weight_decay,
           hp.decoupled ? "AdamW" : "Adam");
    for (int s = 0; s < STEPS; s++) {
        cdrl_adam_step(p, m, v, gcopy + (size_t)s * (size_t)N, (size_t)N, s + 1, &hp);
        const char *what[3] = {"param", "m", "v"};
        const float *got[3] = {p, m, v};
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "out.%s.f32.%s", name, what[k]);
            const float *want = fixture_f32(f, key, (size_t)(STEPS * N)) + (size_t)s * (size_t)N;
            snprintf(label, sizeof label, "%s step %d %s (f32 hyper)", name, s + 1, what[k]);
            check_close(label, got[k], want, (size_t)N, 0.0, ULP);
            printf("         max rel %.3g\n", max_rel(got[k], want, (size_t)N));

            snprintf(key, sizeof key, "out.%s.dec.%s", name, what[k]);
            want = fixture_f32(f, key, (size_t)(STEPS * N)) + (size_t)s * (size_t)N;
            snprintf(label, sizeof label, "%s step %d %s (decimal hyper)", name, s + 1, what[k]);
            double atol[3] = {1e-9, 2.5e-7, 0.0}, rtol[3] = {2.5e-7, 0.0, 2e-5};
            check_close(label, got[k], want, (size_t)N, atol[k], rtol[k]);
            printf("         max rel %.3g\n", max_rel(got[k], want, (size_t)N));
        }
    }
    CHECK(memcmp(gcopy, g, (size_t)(STEPS * N) * sizeof(float)) == 0, "%s: grad was modified",
          name);
    cdrl_free(p);
    cdrl_free(m);
    cdrl_free(v);
    cdrl_free(gcopy);
}

// ---------------------------------------------------------------------------------------
// Warm-ups: the lr each LambdaLR step handed the optimizer, and the steps taken with it.

// The recorded lr is float32(1e-3 * lambda) formed in double; the C side multiplies the
// float base by the float multiplier: two extra roundings, rtol 3e-7.
static void check_lr_sequence(const cdrl_st_file *f, const char *key, long warmup, long offset,
                              int use_offset) {
    const float *want = fixture_f32(f, key, 6);
    float got[6];
    for (long k = 0; k < 6; k++) {
        float mult =
            use_offset ? cdrl_warmup_offset(k, warmup, offset) : cdrl_warmup_linear(k, warmup);
        got[k] = 1e-3f * mult;
    }
    check_close(key, got, want, 6, 0.0, 3e-7);
}

static void test_warmup(const cdrl_st_file *f) {
    printf("warm-ups\n");
    check_lr_sequence(f, "out.lr.linear_10000", 10000, 0, 0);
    check_lr_sequence(f, "out.lr.offset_10000_500", 10000, 500, 1);
    int warm = fixture_int(f, "warmup"), off = fixture_int(f, "offset");
    check_lr_sequence(f, "out.lr.linear_4", warm, 0, 0);
    check_lr_sequence(f, "out.lr.offset_4_1", warm, off, 1);
    CHECK(cdrl_warmup_linear(0, 10000) == 0.0f, "first EBM multiplier is not 0");
    CHECK(cdrl_warmup_linear(10000, 10000) == 1.0f && cdrl_warmup_linear(123456, 10000) == 1.0f,
          "linear warm-up does not clamp at 1");
    CHECK(cdrl_warmup_offset(0, 10000, 500) == 0.05f &&
              cdrl_warmup_offset(9500, 10000, 500) == 1.0f,
          "offset warm-up: %g at 0, %g at 9500", (double)cdrl_warmup_offset(0, 10000, 500),
          (double)cdrl_warmup_offset(9500, 10000, 500));

    // Real steps under the warm-up (f32 hyperparameters: one ulp, as in test_adam).
    const char *runs[2] = {"warm_linear", "warm_offset"};
    const float *p0 = fixture_f32(f, "in.param", (size_t)N);
    const float *g = fixture_f32(f, "in.grad", (size_t)(STEPS * N));
    float *p = test_floats((size_t)N), *m = test_floats((size_t)N), *v = test_floats((size_t)N);
    char key[96], label[96];
    for (int r = 0; r < 2; r++) {
        cdrl_adam_params hp = cdrl_adam_params_default(1e-3f);
        hp.decoupled = r; // the initializer's AdamW with weight decay 0
        float base = hp.lr;
        memcpy(p, p0, (size_t)N * sizeof(float));
        memset(m, 0, (size_t)N * sizeof(float));
        memset(v, 0, (size_t)N * sizeof(float));
        snprintf(key, sizeof key, "out.%s.lr", runs[r]);
        const float *lr_want = fixture_f32(f, key, (size_t)STEPS);
        for (int s = 0; s < STEPS; s++) {
            hp.lr =
                base * (r == 0 ? cdrl_warmup_linear(s, warm) : cdrl_warmup_offset(s, warm, off));
            CHECK(fabs((double)hp.lr - (double)lr_want[s]) <= 3e-7 * (double)lr_want[s],
                  "%s step %d: lr %.9g, torch used %.9g", runs[r], s + 1, (double)hp.lr,
                  (double)lr_want[s]);
            cdrl_adam_step(p, m, v, g + (size_t)s * (size_t)N, (size_t)N, s + 1, &hp);
            const char *what[3] = {"param", "m", "v"};
            const float *got[3] = {p, m, v};
            for (int k = 0; k < 3; k++) {
                snprintf(key, sizeof key, "out.%s.%s", runs[r], what[k]);
                const float *want =
                    fixture_f32(f, key, (size_t)(STEPS * N)) + (size_t)s * (size_t)N;
                snprintf(label, sizeof label, "%s step %d %s", runs[r], s + 1, what[k]);
                check_close(label, got[k], want, (size_t)N, 0.0, ULP);
            }
            if (r == 0 && s == 0) {
                // The EBM's first update runs at lr 0: parameters stay put bit for bit (torch's
                // too), but Adam's moments and step count advance.
                CHECK(memcmp(p, p0, (size_t)N * sizeof(float)) == 0,
                      "lr 0 step moved the parameters");
                int moved = 0;
                for (int i = 1; i < N; i++)
                    moved += m[i] != 0.0f && v[i] > 0.0f;
                CHECK(moved == N - 1, "lr 0 step: only %d of %d moments moved", moved, N - 1);
                CHECK(m[0] == 0.0f && v[0] == 0.0f, "zero gradient moved its moments");
            }
        }
    }
    cdrl_free(p);
    cdrl_free(m);
    cdrl_free(v);
}

// ---------------------------------------------------------------------------------------
// Clipping

// Norm: torch combines float32 per-tensor norms, C rounds one double sum once; 2 ulp apart at
// most (rtol 2.5e-7). The clipped gradients inherit that through the coefficient (formed as
// torch does, reciprocal times max_norm), plus the product's rounding: rtol 4e-7.
static void test_clip(const cdrl_st_file *f) {
    printf("clip_grad_norm_\n");
    const float *max_norm = fixture_f32(f, "in.clip.max_norm", 2);
    const char *tags[2] = {"big", "small"};
    float *g = test_floats((size_t)N);
    char key[96];
    for (int c = 0; c < 2; c++) {
        snprintf(key, sizeof key, "in.clip.%s.grad", tags[c]);
        const float *g0 = fixture_f32(f, key, (size_t)N);
        memcpy(g, g0, (size_t)N * sizeof(float));
        float norm = cdrl_clip_grad_norm(g, (size_t)N, max_norm[c]);
        snprintf(key, sizeof key, "out.clip.%s.norm", tags[c]);
        check_close(key, &norm, fixture_f32(f, key, 1), 1, 0.0, 2.5e-7);
        printf("         max rel %.3g\n", max_rel(&norm, fixture_f32(f, key, 1), 1));
        snprintf(key, sizeof key, "out.clip.%s.grad", tags[c]);
        check_close(key, g, fixture_f32(f, key, (size_t)N), (size_t)N, 0.0, 4e-7);
        printf("         max rel %.3g\n", max_rel(g, fixture_f32(f, key, (size_t)N), (size_t)N));
        if (c == 0) {
            double n2 = 0;
            for (int i = 0; i < N; i++)
                n2 += (double)g[i] * (double)g[i];
            CHECK(fabs(sqrt(n2) - (double)max_norm[c]) < 1e-5, "clipped norm %.8g", sqrt(n2));
        } else {
            CHECK(memcmp(g, g0, (size_t)N * sizeof(float)) == 0, "small gradients were touched");
        }
    }
    // Non-finite: NaN spreads to every gradient (torch's clamp keeps the NaN coefficient);
    // an infinite norm gives coefficient 0.
    for (int i = 0; i < N; i++)
        g[i] = 0.5f;
    g[3] = NAN;
    float norm = cdrl_clip_grad_norm(g, (size_t)N, 1.0f);
    int all_nan = 1;
    for (int i = 0; i < N; i++)
        all_nan &= g[i] != g[i];
    CHECK(norm != norm && all_nan, "NaN gradient: norm %g, all NaN %d", (double)norm, all_nan);
    for (int i = 0; i < N; i++)
        g[i] = 0.5f;
    g[3] = INFINITY;
    norm = cdrl_clip_grad_norm(g, (size_t)N, 1.0f);
    CHECK(isinf(norm) && g[0] == 0.0f && g[3] != g[3], "Inf gradient: norm %g g0 %g", (double)norm,
          (double)g[0]);
    cdrl_free(g);
}

// The norm (and so the clipped gradients) must not depend on the thread count; n is odd so
// that the blocks end mid-vector.
static void test_clip_threads(void) {
    size_t n = ((size_t)1 << 20) + 77;
    float *g0 = test_floats(n), *g = test_floats(n), *ref = test_floats(n);
    test_fill(g0, n, 11, -1.0f, 1.0f);
    long double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (long double)g0[i] * (long double)g0[i];
    float exact = (float)sqrtl(ss);
    int saved = cdrl_threads();
    float norm1 = 0;
    int threads[4] = {1, 2, 3, 7};
    for (int t = 0; t < 4; t++) {
        cdrl_set_threads(threads[t]);
        memcpy(g, g0, n * sizeof(float));
        float norm = cdrl_clip_grad_norm(g, n, 1.0f);
        if (t == 0) {
            norm1 = norm;
            memcpy(ref, g, n * sizeof(float));
            // float rounding of a double sum: within one ulp of the long-double value.
            CHECK(fabs((double)norm - (double)exact) <= 1.2e-7 * (double)exact,
                  "norm %.9g, exact %.9g", (double)norm, (double)exact);
        } else {
            CHECK(memcmp(&norm, &norm1, sizeof norm) == 0 && memcmp(g, ref, n * sizeof(float)) == 0,
                  "%d threads: norm %.9g vs %.9g at 1 thread", threads[t], (double)norm,
                  (double)norm1);
        }
    }
    printf("  norm of %zu values: %.9g at 1, 2, 3, 7 threads (long double %.9g)\n", n,
           (double)norm1, (double)exact);
    cdrl_set_threads(saved);
    cdrl_free(g0);
    cdrl_free(g);
    cdrl_free(ref);
}

// ---------------------------------------------------------------------------------------
// EMA

// Decays: both sides round the same double ratio to float, so they must be equal. Shadows:
// the same three float ops in the same order, none fused; only 1 - d may differ by an ulp
// (torch forms it from the double ratio, C from its float rounding), which moves a shadow
// by well under an ulp: one ulp allowed (rtol 1.2e-7), bit-identical measured.
static void test_ema(const cdrl_st_file *f) {
    printf("EMA\n");
    int n_up = fixture_int(f, "ema_updates");
    const float *base = fixture_f32(f, "in.ema.base_decay", 2);
    const float *walk = fixture_f32(f, "in.ema.params", (size_t)n_up * (size_t)N);
    const float *p0 = fixture_f32(f, "in.param", (size_t)N);
    const char *tags[2] = {"d9999", "d03"};
    float *s = test_floats((size_t)N);
    char key[96], label[96];
    for (int c = 0; c < 2; c++) {
        memcpy(s, p0, (size_t)N * sizeof(float));
        snprintf(key, sizeof key, "out.ema.%s.decay", tags[c]);
        const float *d_want = fixture_f32(f, key, (size_t)n_up);
        snprintf(key, sizeof key, "out.ema.%s.shadow", tags[c]);
        const float *s_want = fixture_f32(f, key, (size_t)n_up * (size_t)N);
        double worst = 0;
        for (int k = 0; k < n_up; k++) {
            float d = cdrl_ema_decay(base[c], k); // k earlier updates
            CHECK(d == d_want[k], "%s update %d: decay %.9g, torch_ema %.9g", tags[c], k + 1,
                  (double)d, (double)d_want[k]);
            cdrl_ema_update(s, walk + (size_t)k * (size_t)N, (size_t)N, d);
            snprintf(label, sizeof label, "ema %s update %d", tags[c], k + 1);
            check_close(label, s, s_want + (size_t)k * (size_t)N, (size_t)N, 0.0, ULP);
            double r = max_rel(s, s_want + (size_t)k * (size_t)N, (size_t)N);
            if (r > worst) worst = r;
        }
        printf("         %s: max rel %.3g over %d updates\n", tags[c], worst, n_up);
    }
    // method.md §4.2: 0.18 at the first update, 0.918 at the 100th, capped at the base.
    CHECK(cdrl_ema_decay(0.9999f, 0) == (float)(2.0 / 11.0), "first decay %.9g",
          (double)cdrl_ema_decay(0.9999f, 0));
    CHECK(cdrl_ema_decay(0.9999f, 99) == (float)(101.0 / 110.0), "100th decay %.9g",
          (double)cdrl_ema_decay(0.9999f, 99));
    CHECK(cdrl_ema_decay(0.9999f, 200000) == 0.9999f, "decay not capped");
    cdrl_free(s);
}

// The cosine decay of the tuned presets (not in the official code) and warm-up 0 = none.
static void test_decay(void) {
    CHECK(cdrl_cosine_decay(0, 1000) == 1.0f && cdrl_cosine_decay(1000, 1000) < 1e-7f &&
              cdrl_cosine_decay(5000, 1000) < 1e-7f,
          "cosine decay: 1 at the start, 0 at and after the end");
    CHECK(fabsf(cdrl_cosine_decay(500, 1000) - 0.5f) < 1e-6f &&
              fabsf(cdrl_cosine_decay(250, 1000) - 0.8535534f) < 1e-6f,
          "cosine decay: 0.5 half way, 0.8536 at a quarter");
    CHECK(cdrl_cosine_decay(123, 0) == 1.0f, "cosine decay over 0 steps: off");
    CHECK(cdrl_warmup_linear(0, 0) == 1.0f && cdrl_warmup_offset(0, 0, 500) == 1.0f,
          "warm-up 0: full rate from the first step");
}

int main(void) {
    test_decay();
    cdrl_adam_params d = cdrl_adam_params_default(3e-6f);
    CHECK(d.lr == 3e-6f && d.beta1 == 0.9f && d.beta2 == 0.999f && d.eps == 1e-8f &&
              d.weight_decay == 0.0f && d.decoupled == 0,
          "cdrl_adam_params_default");
    cdrl_st_file *f = fixture_load("optim");
    N = fixture_int(f, "n");
    STEPS = fixture_int(f, "steps");
    test_adam(f, "adam");
    test_adam(f, "adam_wd");
    test_adam(f, "adamw");
    test_warmup(f);
    test_clip(f);
    test_clip_threads();
    test_ema(f);
    cdrl_st_free(f);
    return test_report("test_optim");
}
