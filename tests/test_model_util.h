// Helpers shared by the tests that train models through the public API: a few training steps,
// the bit-for-bit comparison of two models through their checkpoints, a finiteness check.
#ifndef CDRL_TESTS_TEST_MODEL_UTIL_H
#define CDRL_TESTS_TEST_MODEL_UTIL_H

#include <unistd.h>

#include "cdrl.h"
#include "test_util.h"

// 1 when no value of x (n) is NaN or infinite.
static inline int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// n training steps, their statistics in st (n); 0 when a step fails.
static inline int train_steps(cdrl_model *m, const cdrl_dataset *d, int n, cdrl_train_stats *st) {
    for (int i = 0; i < n; i++)
        if (cdrl_model_train_step(m, d, &st[i]) != CDRL_OK) return 0;
    return 1;
}

// Every tensor and the step and random-stream metadata (rng; drop_rng where present) of two
// models, compared bit for bit through their checkpoints (written under build/).
static inline int same_models(cdrl_model *a, cdrl_model *b) {
    const char *pa = "build/test_same_models_a.safetensors",
               *pb = "build/test_same_models_b.safetensors";
    if (cdrl_model_save(a, pa) != CDRL_OK || cdrl_model_save(b, pb) != CDRL_OK) return 0;
    cdrl_st_file *fa = NULL, *fb = NULL;
    int same = cdrl_st_load(&fa, pa) == CDRL_OK && cdrl_st_load(&fb, pb) == CDRL_OK &&
               cdrl_st_count(fa) == cdrl_st_count(fb);
    for (int i = 0; same && i < cdrl_st_count(fa); i++) {
        const cdrl_st_tensor *ta = cdrl_st_at(fa, i), *tb = cdrl_st_find(fb, ta->name);
        same = tb && ta->numel == tb->numel && memcmp(ta->data, tb->data, ta->numel * 4) == 0;
        if (!same) printf("    tensor %s differs\n", ta->name);
    }
    const char *keys[] = {"rng", "drop_rng", "step"};
    for (int k = 0; same && k < 3; k++) {
        const char *va = cdrl_st_meta(fa, keys[k]), *vb = cdrl_st_meta(fb, keys[k]);
        same = (!va && !vb) || (va && vb && strcmp(va, vb) == 0);
        if (!same) printf("    metadata %s differs\n", keys[k]);
    }
    cdrl_st_free(fa);
    cdrl_st_free(fb);
    remove(pa);
    remove(pb);
    return same;
}

// Cuts the checkpoint at path to half its size and checks that loading it is refused with
// CDRL_STATUS_FORMAT and no model.
static inline void check_truncated_refused(const char *path) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(path, size / 2) == 0, "truncate");
    cdrl_model *y = NULL;
    CHECK(cdrl_model_load(&y, path) == CDRL_STATUS_FORMAT && !y,
          "a truncated checkpoint is refused");
}

#endif // CDRL_TESTS_TEST_MODEL_UTIL_H
