// Test helpers (sds's testhelp.h and llm.c's check_tensor in one): CHECK counts failures,
// check_close compares arrays and prints the worst pairs, fixtures load from tests/fixtures.
// Each test program ends with `return test_report("name");`, non-zero when anything failed.
#ifndef CDRL_TESTS_TEST_UTIL_H
#define CDRL_TESTS_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "core/core.h"

static int test_failures, test_checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

// |got - want| <= atol + rtol * |want| for every element; prints max differences and NMSE.
static inline int check_close(const char *name, const float *got, const float *want, size_t n,
                              double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double max_abs = 0, err2 = 0, ref2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        err2 += d * d;
        ref2 += (double)want[i] * (double)want[i];
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            if (bad++ < 5)
                printf("    %s[%zu]: got %.8g want %.8g\n", name, i, (double)got[i],
                       (double)want[i]);
        }
        if (d > max_abs || d != d) max_abs = d, worst = i;
    }
    double nmse = ref2 > 0 ? err2 / ref2 : err2;
    test_checks++;
    if (bad) {
        test_failures++;
        printf("  FAIL %-34s %zu/%zu off, max abs %.3g at %zu, nmse %.3g (atol %.0e rtol %.0e)\n",
               name, bad, n, max_abs, worst, nmse, atol, rtol);
        return 0;
    }
    printf("  ok   %-34s n=%-8zu max abs %.3g nmse %.3g\n", name, n, max_abs, nmse);
    return 1;
}

static inline int test_report(const char *suite) {
    if (cdrl_alloc_live() != 0) {
        test_failures++;
        printf("  FAIL %ld allocations still live at exit\n", cdrl_alloc_live());
    }
    printf("%s: %d checks, %d failed\n", suite, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

static inline void test_log(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    printf("    [log %d] %s\n", (int)level, msg);
}

// Loads tests/fixtures/<name>.safetensors (run from the repository root); exits when missing,
// pointing at the command that regenerates it.
static inline cdrl_st_file *fixture_load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s.safetensors", name);
    cdrl_st_file *f = NULL;
    if (cdrl_st_load(&f, path) != CDRL_OK) {
        printf("cannot load fixture %s\n---> HINT: run the tests from the repository root, or "
               "regenerate it with `make fixtures`\n",
               path);
        exit(1);
    }
    return f;
}

// The float32 tensor `name` of a fixture with exactly n elements; exits when missing.
static inline const float *fixture_f32(const cdrl_st_file *f, const char *name, size_t n) {
    const float *p = cdrl_st_f32(f, name, n);
    if (!p) {
        printf("fixture %s: tensor '%s' missing or not of %zu floats\n---> HINT: `make fixtures`\n",
               cdrl_st_path(f), name, n);
        exit(1);
    }
    return p;
}

// The int32 tensor `name` of a fixture with exactly n elements; exits when missing.
static inline const int *fixture_i32(const cdrl_st_file *f, const char *name, size_t n) {
    const cdrl_st_tensor *t = cdrl_st_find(f, name);
    if (!t || t->dtype != CDRL_ST_I32 || t->numel != n) {
        printf("fixture %s: int32 tensor '%s' missing or not of %zu values\n---> HINT: `make "
               "fixtures` (OFFICIAL=... for the official-code fixtures)\n",
               cdrl_st_path(f), name, n);
        exit(1);
    }
    return (const int *)t->data;
}

// Integer metadata of a fixture (sizes written by the twin); exits when missing.
static inline int fixture_int(const cdrl_st_file *f, const char *key) {
    const char *s = cdrl_st_meta(f, key);
    if (!s) {
        printf("fixture %s: metadata '%s' missing\n", cdrl_st_path(f), key);
        exit(1);
    }
    return atoi(s);
}

// Central finite differences (ggml's grad mode): for up to max_checks elements of x (spread
// evenly), compares grad[i] with (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps). loss() is
// the caller's scalar, computed in double from the float32 forward; elements whose two
// one-sided slopes disagree by much more than float noise sit on a kink (ReLU at 0) and are
// skipped.
// Passes when |fd - grad| <= atol + rtol * |fd|.
typedef double (*gradcheck_loss_fn)(void *ctx);
static inline int gradcheck(const char *name, gradcheck_loss_fn loss, void *ctx, float *x,
                            const float *grad, size_t n, int max_checks, float eps, double atol,
                            double rtol) {
    size_t stride = n > (size_t)max_checks ? n / (size_t)max_checks : 1;
    int bad = 0, checked = 0, skipped = 0;
    double max_err = 0;
    double l0 = loss(ctx);
    for (size_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        x[i] = x0 + eps;
        double lp = loss(ctx);
        x[i] = x0 - eps;
        double lm = loss(ctx);
        x[i] = x0;
        double e = (double)eps, right = (lp - l0) / e, left = (l0 - lm) / e,
               fd = (lp - lm) / (2.0 * e);
        if (fabs(right - left) > 0.2 * (fabs(right) + fabs(left)) + 2 * atol) {
            skipped++;
            continue;
        }
        double err = fabs(fd - (double)grad[i]);
        if (err > max_err) max_err = err;
        checked++;
        if (err > atol + rtol * fabs(fd)) {
            if (bad++ < 5)
                printf("    %s[%zu]: analytic %.6g finite-diff %.6g\n", name, i, (double)grad[i],
                       fd);
        }
    }
    test_checks++;
    if (bad || checked == 0) {
        test_failures++;
        printf("  FAIL %-34s fd: %d/%d off (%d kinks skipped), max err %.3g\n", name, bad, checked,
               skipped, max_err);
        return 0;
    }
    printf("  ok   %-34s fd: %d checked, %d kinks skipped, max err %.3g\n", name, checked, skipped,
           max_err);
    return 1;
}

// Fills x with uniform values in [lo, hi) from a small LCG (tests need no Philox dependency).
static inline void test_fill(float *x, size_t n, unsigned seed, float lo, float hi) {
    unsigned long s = seed * 2654435761ul + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ul + 1442695040888963407ul;
        x[i] = lo + (hi - lo) * (float)((s >> 40) & 0xffffff) / 16777216.0f;
    }
}

// sum_i out[i] * r[i] in double: the scalar whose gradient wrt out is r.
static inline double test_dot(const float *out, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)r[i];
    return s;
}

static inline float *test_floats(size_t n) {
    float *p = cdrl_calloc(n * sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(1);
    }
    return p;
}

#endif // CDRL_TESTS_TEST_UTIL_H
