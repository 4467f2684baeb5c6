// Model configurations: the official toy settings, the presets, the range checks, and their
// JSON form (stored in every checkpoint's metadata so that `cdrl info` and resume know what was
// trained).
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/json.h"
#include "models/img_ebm.h"
#include "models/unet.h"

void cdrl_config_toy_official(cdrl_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = CDRL_MODEL_TOY;
    c->dim = 2;
    c->ebm_ch = 128;
    c->ebm_blocks = 1;
    c->init_t_dim = 128;
    c->init_h_dim = 64;
    c->init_blocks = 1;
    c->n_levels = 6;
    c->logsnr_min = -5.1;
    c->logsnr_max = 9.8;
    c->step_b = 1e-3;
    c->batch = 2500;
    c->n_langevin = 15;
    c->lr_ebm = 3e-6f;
    c->lr_init = 1e-5f;
    c->warmup_ebm = 10000;
    c->warmup_init = 10000;
    c->warmup_init_offset = 500;
    c->ema_ebm = c->ema_init = 0.9999f;
    c->ema_ramp = 1;
    c->ebm_class_gain = 1.0f;
    c->label_drop = 0.1f;
    c->clip = 1.0f;
    c->seed = 1;
    c->iters = 100001;
    snprintf(c->data, sizeof c->data, "checkerboard");
}

// The official unconditional CIFAR-10 model (main_uncond.py; method.md §4.2, §4.3, §5.4, §5.5).
// The toy network fields keep their toy values: the image kind does not read them.
static void config_cifar10_official(cdrl_config *c) {
    cdrl_config_toy_official(c);
    c->kind = CDRL_MODEL_IMAGE;
    c->in_ch = 3;
    c->res = 32;
    c->dim = 3 * 32 * 32;
    c->ebm_ch = 128;
    c->ebm_blocks = 8;
    c->ebm_n_mult = 4;
    const int mult[4] = {1, 2, 2, 2};
    memcpy(c->ebm_ch_mult, mult, sizeof mult);
    c->unet_dim = 64;
    c->unet_levels = 3;
    c->unet_res_blocks = 3;
    c->unet_n_attn = 2;
    c->unet_attn[0] = 16;
    c->unet_attn[1] = 8;
    c->unet_dropout = 0.1f;
    c->n_classes = 0;
    c->flip = 1;      // RandomHorizontalFlip
    c->step_b = 2e-4; // with per-pair C_j (CDRL_STEP_SCALE_IMAGE)
    c->batch = 256;   // 32 per GPU x 8 GPUs, gradients averaged
    c->lr_ebm = 1e-4f;
    c->lr_init = 1e-5f;
    c->iters = 500001;
    c->seed = 5; // 5 + rank, rank 0
    snprintf(c->data, sizeof c->data, "cifar10:data/cifar-10-batches-bin");
}

cdrl_status cdrl_config_preset(cdrl_config *c, const char *name) {
    if (strcmp(name, "official-cifar10") == 0) {
        config_cifar10_official(c);
        return CDRL_OK;
    }
    // Fashion-MNIST sized for an hour on 2 cores: the best of the recipes measured with the
    // yardstick (docs/tuning.md). The initializer learns only from how far the chain moves its
    // proposals, so the chain's reach (langevin_ref_steps) is what makes it learn in this time.
    if (strcmp(name, "fmnist-cpu") == 0) {
        config_cifar10_official(c);
        c->in_ch = 1;
        c->res = 28; // no padding: 23% fewer pixels than 32x32
        c->dim = 28 * 28;
        c->n_classes = 10;
        c->ebm_class_gain = 4.0f; // = sqrt(temb_dim / 2): the class weighs as much as the level
        c->flip = 0;
        c->ebm_ch = 32;
        c->ebm_blocks = 2;
        c->ebm_n_mult = 4; // 28, 14, 7, 3
        c->ebm_ch_mult[0] = 1;
        c->ebm_ch_mult[1] = c->ebm_ch_mult[2] = c->ebm_ch_mult[3] = 2;
        c->unet_dim = 32;
        c->unet_levels = 3;
        c->unet_res_blocks = 1;
        c->unet_n_attn = 0;
        c->unet_attn[0] = c->unet_attn[1] = 0;
        c->unet_dropout = 0.0f;
        c->batch = 64;
        c->n_langevin = 5;
        c->langevin_ref_steps = 30; // 5 steps covering 30 official ones (§2.3): 6 times as far
        // A drift of 6 x 0.5 grad f is stable only while f's curvature stays below 2/3: the
        // sharpening energy of the clean level crosses that late in training, and the chain of
        // pair 1 then runs away. Clamping it to the data's range keeps it (docs/tuning.md).
        c->langevin_clip = 1;
        c->lr_ebm = 5e-4f; // half the initializer's: the EBM learns fast, the initializer is slow
        c->lr_init = 1e-3f;
        c->warmup_ebm = c->warmup_init = 100;
        c->warmup_init_offset = 0;
        c->ema_ebm = c->ema_init = 0.999f;
        c->iters = c->lr_decay_iters = 2700; // 52 minutes at 1.15 s per iteration
        c->seed = 1;
        snprintf(c->data, sizeof c->data, "fashion-mnist:/usr/share/datasets/fashion-mnist");
        return CDRL_OK;
    }
    if (strcmp(name, "tiny-image") == 0) { // 8x8 grey images, widths small enough for tests
        config_cifar10_official(c);
        c->in_ch = 1;
        c->res = 8;
        c->dim = 64;
        c->ebm_ch = 8;
        c->ebm_blocks = 1;
        c->ebm_n_mult = 2;
        c->ebm_ch_mult[0] = 1;
        c->ebm_ch_mult[1] = 2;
        c->unet_dim = 32;
        c->unet_levels = 2;
        c->unet_res_blocks = 1;
        c->unet_n_attn = 1;
        c->unet_attn[0] = 4;
        c->unet_attn[1] = 0;
        c->batch = 8;
        c->n_langevin = 3;
        c->lr_ebm = c->lr_init = 1e-3f;
        c->warmup_ebm = c->warmup_init = 2;
        c->warmup_init_offset = 0;
        c->ema_ebm = c->ema_init = 0.99f;
        c->iters = 100;
        c->seed = 1;
        snprintf(c->data, sizeof c->data, "folder:data/tiny");
        return CDRL_OK;
    }
    cdrl_config_toy_official(c);
    if (strcmp(name, "official-toy") == 0) return CDRL_OK;
    // Tuned on 2 cores (docs/tuning.md): the official networks at half width, a learning rate
    // 300x the official one with a short warm-up, and a cosine decay to zero, which takes out
    // the step noise that f / h_1 turns into nats of log-density at the data level.
    c->ebm_ch = 64;
    c->batch = 256;
    c->lr_ebm = 1e-3f;
    c->lr_init = 1e-3f;
    c->warmup_ebm = 100;
    c->warmup_init = 100;
    c->warmup_init_offset = 0;
    c->ema_ebm = c->ema_init = 0.999f;
    if (strcmp(name, "demo") == 0) { // about 3 minutes
        c->iters = c->lr_decay_iters = 3000;
        return CDRL_OK;
    }
    if (strcmp(name, "quality") == 0) { // about 20 minutes
        c->iters = c->lr_decay_iters = 30000;
        c->ema_ebm = c->ema_init = 0.9995f;
        return CDRL_OK;
    }
    return cdrl_fail(CDRL_STATUS_INVALID, "unknown preset '%s' (%s)", name, CDRL_PRESET_NAMES);
}

static cdrl_status check_image_config(const cdrl_config *c) {
    if (c->in_ch < 1 || c->in_ch > 4 || c->res < 2 || c->res > 1024 ||
        c->dim != c->in_ch * c->res * c->res)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: image shape out of range (in_ch %d in 1..4, res %d, dim %d must "
                         "be in_ch*res*res)",
                         c->in_ch, c->res, c->dim);
    if (c->n_classes < 0 || c->n_classes > 100000)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: n_classes %d out of range (0 unconditional, else 1..100000)",
                         c->n_classes);
    int ok = c->ebm_ch >= 2 && c->ebm_ch % 2 == 0 && c->ebm_blocks >= 1 && c->ebm_n_mult >= 1 &&
             c->ebm_n_mult <= CDRL_CONFIG_MAX_MULT && (c->res >> c->ebm_n_mult) >= 1 &&
             c->ebm_n_mult * c->ebm_blocks <= CDRL_IMG_EBM_MAX_BLOCKS;
    for (int l = 0; ok && l < c->ebm_n_mult; l++)
        ok = c->ebm_ch_mult[l] >= 1 && c->ebm_ch_mult[l] <= 64;
    if (!ok)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: image EBM out of range (ebm_ch %d even, ebm_blocks %d, ebm_n_mult %d with res "
            ">= 2^ebm_n_mult and at most %d blocks, ebm_ch_mult entries in 1..64)",
            c->ebm_ch, c->ebm_blocks, c->ebm_n_mult, CDRL_IMG_EBM_MAX_BLOCKS);
    ok = c->unet_dim >= 32 && c->unet_dim % 32 == 0 && c->unet_levels >= 1 &&
         c->unet_levels <= CDRL_UNET_MAX_LEVELS && c->unet_res_blocks >= 1 && c->unet_n_attn >= 0 &&
         c->unet_n_attn <= CDRL_CONFIG_MAX_ATTN && c->unet_n_attn <= CDRL_UNET_MAX_ATTN &&
         c->unet_dropout >= 0.0f && c->unet_dropout < 1.0f &&
         c->res % (1 << (c->unet_levels - 1)) == 0;
    for (int a = 0; ok && a < c->unet_n_attn; a++)
        ok = c->unet_attn[a] >= 1;
    if (!ok)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: U-Net out of range (unet_dim %d a multiple of 32, unet_levels %d "
                         "in 1..%d with res divisible by 2^(levels-1), unet_res_blocks %d >= 1, "
                         "unet_n_attn %d in 0..%d, unet_dropout in [0,1))",
                         c->unet_dim, c->unet_levels, CDRL_UNET_MAX_LEVELS, c->unet_res_blocks,
                         c->unet_n_attn, CDRL_UNET_MAX_ATTN);
    return CDRL_OK;
}

cdrl_status cdrl_config_check(const cdrl_config *c) {
    if (c->kind == CDRL_MODEL_IMAGE) {
        cdrl_status st = check_image_config(c);
        if (st != CDRL_OK) return st;
    } else if (c->kind != CDRL_MODEL_TOY || c->dim != 2) {
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: kind %d with dim %d (toy: kind 0, dim 2; images: kind 1)",
                         (int)c->kind, c->dim);
    } else if (c->ebm_ch < 4 || c->ebm_blocks < 1 || c->ebm_blocks > 4 || c->init_t_dim < 4 ||
               c->init_t_dim % 2 || c->init_h_dim < 32 || c->init_h_dim % 32 ||
               c->init_blocks < 1 || c->init_blocks > 8) {
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: network sizes out of range (ebm_ch %d, ebm_blocks %d, init_t_dim "
                         "%d, init_h_dim %d (a multiple of 32), init_blocks %d)",
                         c->ebm_ch, c->ebm_blocks, c->init_t_dim, c->init_h_dim, c->init_blocks);
    }
    if (c->n_levels < 1 || c->n_levels > CDRL_MAX_LEVELS || !(c->logsnr_min < c->logsnr_max) ||
        !(c->step_b > 0))
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: schedule out of range (n_levels %d in 1..%d, logsnr_min < "
                         "logsnr_max, step_b > 0)",
                         c->n_levels, CDRL_MAX_LEVELS);
    if (c->batch < 1 || c->batch > 1000000 || c->n_langevin < 1 || c->n_langevin > 10000 ||
        c->langevin_ref_steps < 0 || c->langevin_ref_steps > 10000)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: batch %d, Langevin steps %d or langevin_ref_steps %d out of range", c->batch,
            c->n_langevin, c->langevin_ref_steps);
    if (!(c->lr_ebm >= 0) || !(c->lr_init >= 0) || c->warmup_ebm < 0 || c->warmup_init < 0 ||
        c->lr_decay_iters < 0 || !(c->ema_ebm >= 0 && c->ema_ebm < 1) ||
        !(c->ema_init >= 0 && c->ema_init < 1) || !(c->clip > 0))
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: learning rates, warm-ups, EMA decays (in [0,1)) or clip (> 0) out of range");
    if (!(c->label_drop >= 0 && c->label_drop <= 1))
        return cdrl_fail(CDRL_STATUS_INVALID, "config: label_drop %g out of [0, 1]",
                         (double)c->label_drop);
    if (!(c->init_data_weight >= 0 && c->init_data_weight <= 1))
        return cdrl_fail(CDRL_STATUS_INVALID, "config: init_data_weight %g out of [0, 1]",
                         (double)c->init_data_weight);
    if (c->n_more_attrs < 0 || c->n_more_attrs > CDRL_MAX_ATTRS - 1 ||
        (c->n_more_attrs && !c->n_classes))
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: n_more_attrs %d: 0..%d, and only for conditional models "
                         "(n_classes > 0)",
                         c->n_more_attrs, CDRL_MAX_ATTRS - 1);
    for (int a = 0; a < c->n_more_attrs; a++)
        if (c->more_classes[a] < 1 || c->more_classes[a] > 999)
            return cdrl_fail(CDRL_STATUS_INVALID, "config: more_classes[%d] = %d out of 1..999", a,
                             c->more_classes[a]);
    if (c->kind == CDRL_MODEL_TOY && c->n_classes > 999)
        return cdrl_fail(CDRL_STATUS_INVALID, "config: n_classes %d out of 0..999 for 2-D models",
                         c->n_classes);
    if (c->langevin_clip != 0 && (c->langevin_clip != 1 || c->kind != CDRL_MODEL_IMAGE))
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: langevin_clip %d: 0, or 1 for image models only (data in [-1, 1])",
            c->langevin_clip);
    if (c->langevin_bf16 != 0 && (c->langevin_bf16 != 1 || c->kind != CDRL_MODEL_IMAGE))
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: langevin_bf16 %d: 0, or 1 for image models only",
                         c->langevin_bf16);
    if (c->grad_chunks < 0 || c->grad_chunks > c->batch)
        return cdrl_fail(CDRL_STATUS_INVALID, "config: grad_chunks %d out of 0..batch (%d)",
                         c->grad_chunks, c->batch);
    return CDRL_OK;
}

// One table drives both directions of the JSON form.
// F_IARR is an int array whose length is the int field at count (at most cap entries).
typedef enum { F_INT, F_LONG, F_FLOAT, F_DOUBLE, F_U64, F_STR, F_IARR } field_type;
typedef struct {
    const char *key;
    field_type type;
    size_t offset;
    size_t count;
    int cap;
} field;
#define FIELD(k, t)                                                                                \
    { #k, t, offsetof(cdrl_config, k), 0, 0 }
#define FIELD_ARR(k, n, cap)                                                                       \
    { #k, F_IARR, offsetof(cdrl_config, k), offsetof(cdrl_config, n), cap }
static const field fields[] = {
    FIELD(kind, F_INT),
    FIELD(dim, F_INT),
    FIELD(ebm_ch, F_INT),
    FIELD(ebm_blocks, F_INT),
    FIELD(init_t_dim, F_INT),
    FIELD(init_h_dim, F_INT),
    FIELD(init_blocks, F_INT),
    FIELD(n_levels, F_INT),
    FIELD(logsnr_min, F_DOUBLE),
    FIELD(logsnr_max, F_DOUBLE),
    FIELD(step_b, F_DOUBLE),
    FIELD(batch, F_INT),
    FIELD(n_langevin, F_INT),
    FIELD(langevin_ref_steps, F_INT),
    FIELD(lr_ebm, F_FLOAT),
    FIELD(lr_init, F_FLOAT),
    FIELD(warmup_ebm, F_LONG),
    FIELD(warmup_init, F_LONG),
    FIELD(warmup_init_offset, F_LONG),
    FIELD(lr_decay_iters, F_LONG),
    FIELD(iters, F_LONG),
    FIELD(ema_ebm, F_FLOAT),
    FIELD(ema_ramp, F_INT),
    FIELD(ema_init, F_FLOAT),
    FIELD(clip, F_FLOAT),
    FIELD(seed, F_U64),
    FIELD(data, F_STR),
    FIELD(in_ch, F_INT),
    FIELD(res, F_INT),
    FIELD(ebm_n_mult, F_INT),
    FIELD_ARR(ebm_ch_mult, ebm_n_mult, CDRL_CONFIG_MAX_MULT),
    FIELD(unet_dim, F_INT),
    FIELD(unet_levels, F_INT),
    FIELD(unet_res_blocks, F_INT),
    FIELD(unet_n_attn, F_INT),
    FIELD_ARR(unet_attn, unet_n_attn, CDRL_CONFIG_MAX_ATTN),
    FIELD(unet_dropout, F_FLOAT),
    FIELD(n_classes, F_INT),
    FIELD(n_more_attrs, F_INT),
    FIELD_ARR(more_classes, n_more_attrs, CDRL_MAX_ATTRS - 1),
    FIELD(ebm_class_gain, F_FLOAT),
    FIELD(flip, F_INT),
    FIELD(label_drop, F_FLOAT),
    FIELD(init_data_weight, F_FLOAT),
    FIELD(langevin_clip, F_INT),
    FIELD(langevin_bf16, F_INT),
    FIELD(grad_chunks, F_INT),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

int cdrl_config_to_json(const cdrl_config *c, char *buf, size_t n) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *p = (const char *)c + fields[i].offset;
        char num[64];
        switch (fields[i].type) {
        case F_INT:
            cJSON_AddNumberToObject(o, fields[i].key, *(const int *)(const void *)p);
            break;
        case F_LONG:
            cJSON_AddNumberToObject(o, fields[i].key, (double)*(const long *)(const void *)p);
            break;
        case F_FLOAT:
            // %.9g round-trips a float exactly.
            snprintf(num, sizeof num, "%.9g", (double)*(const float *)(const void *)p);
            cJSON_AddRawToObject(o, fields[i].key, num);
            break;
        case F_DOUBLE:
            snprintf(num, sizeof num, "%.17g", *(const double *)(const void *)p);
            cJSON_AddRawToObject(o, fields[i].key, num);
            break;
        case F_U64:
            snprintf(num, sizeof num, "%llu",
                     (unsigned long long)*(const uint64_t *)(const void *)p);
            cJSON_AddStringToObject(o, fields[i].key, num); // exact beyond 2^53
            break;
        case F_STR:
            cJSON_AddStringToObject(o, fields[i].key, p);
            break;
        case F_IARR: {
            int cnt = *(const int *)(const void *)((const char *)c + fields[i].count);
            if (cnt < 0) cnt = 0;
            if (cnt > fields[i].cap) cnt = fields[i].cap;
            cJSON *a = cJSON_CreateIntArray((const int *)(const void *)p, cnt);
            if (a) cJSON_AddItemToObject(o, fields[i].key, a);
            break;
        }
        }
    }
    int ok = cJSON_PrintPreallocated(o, buf, (int)n, 0);
    cJSON_Delete(o);
    return ok ? (int)strlen(buf) : -1;
}

// Whole-string number parses: 1 on success.
static int parse_long(const char *s, long *v) {
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return *s && !*end && errno == 0;
}
static int parse_double(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && errno == 0 && isfinite(*v);
}

cdrl_status cdrl_config_set(cdrl_config *c, const char *key, const char *value) {
    const field *f = NULL;
    for (size_t i = 0; i < N_FIELDS && !f; i++)
        if (strcmp(fields[i].key, key) == 0) f = &fields[i];
    if (!f) {
        char keys[1024];
        size_t n = 0;
        for (size_t i = 0; i < N_FIELDS && n < sizeof keys; i++)
            n += (size_t)snprintf(keys + n, sizeof keys - n, "%s%s", i ? ", " : "", fields[i].key);
        return cdrl_fail(CDRL_STATUS_INVALID, "configuration: no field '%s' (fields: %s)", key,
                         keys);
    }
    char *p = (char *)c + f->offset;
    long l = 0;
    double d = 0;
    int ok = 1;
    switch (f->type) {
    case F_INT:
        ok = parse_long(value, &l) && l >= INT_MIN && l <= INT_MAX;
        if (ok) *(int *)(void *)p = (int)l;
        break;
    case F_LONG:
        ok = parse_long(value, &l);
        if (ok) *(long *)(void *)p = l;
        break;
    case F_FLOAT:
        ok = parse_double(value, &d) && fabs(d) <= (double)FLT_MAX;
        if (ok) *(float *)(void *)p = (float)d;
        break;
    case F_DOUBLE:
        ok = parse_double(value, &d);
        if (ok) *(double *)(void *)p = d;
        break;
    case F_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 10);
        ok = *value && *value != '-' && !*end && errno == 0;
        if (ok) *(uint64_t *)(void *)p = (uint64_t)u;
        break;
    }
    case F_STR:
        ok = strlen(value) < sizeof c->data;
        if (ok) strcpy(p, value);
        break;
    case F_IARR: {
        int a[CDRL_CONFIG_MAX_MULT > CDRL_CONFIG_MAX_ATTN ? CDRL_CONFIG_MAX_MULT
                                                          : CDRL_CONFIG_MAX_ATTN] = {0};
        int n = 0;
        char buf[256];
        ok = strlen(value) < sizeof buf;
        if (ok) strcpy(buf, value);
        for (char *tok = ok && *buf ? strtok(buf, ",") : NULL; tok && ok; tok = strtok(NULL, ",")) {
            ok = n < f->cap && parse_long(tok, &l) && l >= INT_MIN && l <= INT_MAX;
            if (ok) a[n++] = (int)l;
        }
        if (ok) {
            memcpy(p, a, sizeof(int) * (size_t)f->cap);
            *(int *)(void *)((char *)c + f->count) = n;
        }
        break;
    }
    }
    if (ok && c->kind == CDRL_MODEL_IMAGE)
        c->dim = c->in_ch * c->res * c->res; // follows res, in_ch
    if (!ok)
        return cdrl_fail(CDRL_STATUS_INVALID, "configuration: '%s' cannot be '%s' (%s)", key, value,
                         f->type == F_IARR  ? "a comma-separated list of integers"
                         : f->type == F_STR ? "a string"
                         : f->type == F_FLOAT || f->type == F_DOUBLE ? "a number"
                                                                     : "an integer");
    return CDRL_OK;
}

cdrl_status cdrl_config_from_json(cdrl_config *c, const char *json) {
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return cdrl_fail(CDRL_STATUS_FORMAT, "configuration is not a JSON object");
    }
    cdrl_status st = CDRL_OK;
    for (size_t i = 0; i < N_FIELDS && st == CDRL_OK; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, fields[i].key);
        if (!v) continue;
        char *p = (char *)c + fields[i].offset;
        int is_num = cJSON_IsNumber(v);
        switch (fields[i].type) {
        case F_INT:
            if (cdrl_json_whole_in(v, INT_MIN, INT_MAX))
                *(int *)(void *)p = v->valueint;
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_LONG: // 2^63 itself is not a long: the bound is the largest double below it
            if (cdrl_json_whole_in(v, -9223372036854775808.0, 9223372036854774784.0))
                *(long *)(void *)p = (long)v->valuedouble;
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_FLOAT:
            if (is_num && fabs(v->valuedouble) <= (double)FLT_MAX)
                *(float *)(void *)p = (float)v->valuedouble;
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_DOUBLE:
            if (is_num)
                *(double *)(void *)p = v->valuedouble;
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_U64:
            if (cJSON_IsString(v))
                *(uint64_t *)(void *)p = strtoull(v->valuestring, NULL, 10);
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_STR:
            if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof c->data)
                strcpy(p, v->valuestring);
            else
                st = CDRL_STATUS_FORMAT;
            break;
        case F_IARR: {
            // Entries past the array's length read as 0; the count field is its own key.
            int *a = (int *)(void *)p, k = 0;
            const int na = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
            if (na < 0 || na > fields[i].cap) {
                st = CDRL_STATUS_FORMAT;
                break;
            }
            memset(a, 0, sizeof(int) * (size_t)fields[i].cap);
            for (const cJSON *e = v->child; e && st == CDRL_OK; e = e->next, k++) {
                if (cdrl_json_whole_in(e, INT_MIN, INT_MAX))
                    a[k] = e->valueint;
                else
                    st = CDRL_STATUS_FORMAT;
            }
            break;
        }
        }
        if (st != CDRL_OK)
            cdrl_log(CDRL_LOG_ERROR, "configuration: '%s' has the wrong type", fields[i].key);
    }
    cJSON_Delete(o);
    return st;
}
