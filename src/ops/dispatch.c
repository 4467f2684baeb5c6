// The ops of ops.h, each forwarded to the active backend's table (ops/backend.h) and timed
// when the profile is on (ops/profile.h), and the choice of that backend.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "ops/backend.h"
#include "ops/profile.h"

static const cdrl_backend *active_backend;

static const cdrl_backend *find(const char *name) {
    if (!strcmp(name, cdrl_backend_cpu.name)) return &cdrl_backend_cpu;
    if (!strcmp(name, cdrl_backend_ref.name)) return &cdrl_backend_ref;
    return NULL;
}

// The first call settles the default: CDRL_BACKEND when it names a backend, else cpu. An
// unknown name is reported once and ignored rather than ending the program mid-run.
static const cdrl_backend *active(void) {
    if (active_backend) return active_backend;
    const char *env = getenv("CDRL_BACKEND");
    const cdrl_backend *be = env && *env ? find(env) : NULL;
    if (env && *env && !be)
        cdrl_log(CDRL_LOG_WARN, "CDRL_BACKEND=%s is not a backend (cpu, ref): using cpu", env);
    active_backend = be ? be : &cdrl_backend_cpu;
    return active_backend;
}

const cdrl_backend *cdrl_backend_active(void) { return active(); }

cdrl_status cdrl_backend_select(const char *name) {
    const cdrl_backend *be = name ? find(name) : NULL;
    if (!be)
        return cdrl_fail(CDRL_STATUS_INVALID, "backend '%s' unknown (cpu, ref)", name ? name : "");
    active_backend = be;
    return CDRL_OK;
}

cdrl_status cdrl_set_backend(const char *name) { return cdrl_backend_select(name); }
const char *cdrl_backend_name(void) { return active()->name; }

cdrl_status cdrl_device_arena_init(cdrl_arena *a, size_t bytes) {
    const cdrl_backend *be = active();
    memset(a, 0, sizeof *a);
    a->base = be->alloc(bytes);
    if (!a->base) return cdrl_fail(CDRL_STATUS_NOMEM, "arena: cannot allocate %zu bytes", bytes);
    a->cap = bytes;
    a->release = be->free;
    return CDRL_OK;
}

// Forwards `call` (an op of the table with its arguments) to the active backend; while the
// profile is on, times it and records it under name, pass, shape and flops (ops/profile.h),
// which are evaluated only then.
#define FORWARD(call, name, pass, shape, flops)                                                    \
    do {                                                                                           \
        if (!cdrl_profiling) {                                                                     \
            active()->call;                                                                        \
            return;                                                                                \
        }                                                                                          \
        const double t0 = cdrl_profile_now();                                                      \
        active()->call;                                                                            \
        cdrl_profile_record(name, pass, shape, flops, cdrl_profile_now() - t0);                    \
    } while (0)

// The same for an op that returns a value of type `type` (a check or a sum, no FLOPs counted).
#define FORWARD_VALUE(type, call, name)                                                            \
    do {                                                                                           \
        if (!cdrl_profiling) return active()->call;                                                \
        const double t0 = cdrl_profile_now();                                                      \
        const type r = active()->call;                                                             \
        cdrl_profile_record(name, "", "", 0.0, cdrl_profile_now() - t0);                           \
        return r;                                                                                  \
    } while (0)

// ---------------------------------------------------------------------------------------
// Profile keys (ops/profile.h): the shape of a call as text, and its pass.
typedef struct shape_text {
    char s[64];
} shape_text;

static shape_text conv_shape(const cdrl_conv2d_desc *d) {
    shape_text t;
    snprintf(t.s, sizeof t.s, "%dx%d %dx%d %d->%d B%d", d->K, d->K, d->H, d->W, d->IC, d->OC, d->B);
    return t;
}
static double conv_flops(const cdrl_conv2d_desc *d) {
    return 2.0 * d->B * d->H * d->W * (double)d->OC * d->IC * d->K * d->K;
}
static shape_text linear_shape(int N, int IC, int OC) {
    shape_text t;
    snprintf(t.s, sizeof t.s, "N%d %d->%d", N, IC, OC);
    return t;
}
static shape_text attn_shape(int B, int C, int N) {
    shape_text t;
    snprintf(t.s, sizeof t.s, "B%d C%d N%d", B, C, N);
    return t;
}
static shape_text gn_shape(int B, int C, int HW) {
    shape_text t;
    snprintf(t.s, sizeof t.s, "B%d C%d HW%d", B, C, HW);
    return t;
}
static const char *grad_pass(int data, int weight) {
    return data && weight ? "bwd-data+weight" : data ? "bwd-data" : "bwd-weight";
}

// ---------------------------------------------------------------------------------------
size_t cdrl_linear_scratch_size(int N, int IC, int OC) {
    return active()->linear_scratch_size(N, IC, OC);
}
void cdrl_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                         int IC, int OC, cdrl_arena *scratch) {
    FORWARD(linear_forward(out, inp, w, b, N, IC, OC, scratch), "linear", "fwd",
            linear_shape(N, IC, OC).s, 2.0 * N * IC * OC);
}
void cdrl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, cdrl_arena *scratch) {
    FORWARD(linear_backward(dinp, dw, db, dout, inp, w, N, IC, OC, scratch), "linear",
            grad_pass(dinp != NULL, dw != NULL), linear_shape(N, IC, OC).s,
            2.0 * N * IC * OC * ((dinp != NULL) + (dw != NULL)));
}
size_t cdrl_conv2d_scratch_size(const cdrl_conv2d_desc *d) {
    return active()->conv2d_scratch_size(d);
}
void cdrl_conv2d_forward_then(float *out, const float *inp, const float *w, const float *b,
                              const cdrl_conv_epilogue *ep, const cdrl_conv2d_desc *d,
                              cdrl_arena *scratch) {
    FORWARD(conv2d_forward(out, inp, w, b, ep, d, scratch), "conv2d", "fwd", conv_shape(d).s,
            conv_flops(d));
}
void cdrl_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    cdrl_conv2d_forward_then(out, inp, w, b, NULL, d, scratch);
}
void cdrl_conv2d_input_grad(float *dinp, const float *dout, const float *w,
                            const cdrl_lrelu_grad *act, const cdrl_conv2d_desc *d,
                            cdrl_arena *scratch) {
    FORWARD(conv2d_input_grad(dinp, dout, w, act, d, scratch), "conv2d", grad_pass(1, 0),
            conv_shape(d).s, conv_flops(d));
}
void cdrl_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    FORWARD(conv2d_backward(dinp, dw, db, dout, inp, w, d, scratch), "conv2d",
            grad_pass(dinp != NULL, dw != NULL), conv_shape(d).s,
            conv_flops(d) * ((dinp != NULL) + (dw != NULL)));
}
void cdrl_avgpool2_forward(float *out, const float *inp, int BC, int H, int W) {
    FORWARD(avgpool2_forward(out, inp, BC, H, W), "avgpool2_forward", "", "", 0.0);
}
void cdrl_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    FORWARD(avgpool2_backward(dinp, dout, BC, H, W), "avgpool2_backward", "", "", 0.0);
}
void cdrl_avgpool2_backward_set(float *dinp, const float *dout, int BC, int H, int W) {
    FORWARD(avgpool2_backward_set(dinp, dout, BC, H, W), "avgpool2_backward", "set", "", 0.0);
}
void cdrl_upsample2_forward(float *out, const float *inp, int BC, int H, int W) {
    FORWARD(upsample2_forward(out, inp, BC, H, W), "upsample2_forward", "", "", 0.0);
}
void cdrl_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    FORWARD(upsample2_backward(dinp, dout, BC, H, W), "upsample2_backward", "", "", 0.0);
}
void cdrl_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    FORWARD(lrelu_forward(out, inp, n, slope), "lrelu_forward", "", "", 0.0);
}
void cdrl_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    FORWARD(lrelu_backward(dinp, dout, inp, n, slope), "lrelu_backward", "", "", 0.0);
}
void cdrl_lrelu_backward_set(float *dinp, const float *dout, const float *inp, const float *add,
                             size_t n, float slope) {
    FORWARD(lrelu_backward_set(dinp, dout, inp, add, n, slope), "lrelu_backward_set", "", "", 0.0);
}
void cdrl_relu_forward(float *out, const float *inp, size_t n) {
    FORWARD(relu_forward(out, inp, n), "relu_forward", "", "", 0.0);
}
void cdrl_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    FORWARD(relu_backward(dinp, dout, inp, n), "relu_backward", "", "", 0.0);
}
void cdrl_silu_forward(float *out, const float *inp, size_t n) {
    FORWARD(silu_forward(out, inp, n), "silu_forward", "", "", 0.0);
}
void cdrl_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    FORWARD(silu_backward(dinp, dout, inp, n), "silu_backward", "", "", 0.0);
}
void cdrl_silu_backward_set(float *dinp, const float *dout, const float *inp, size_t n) {
    FORWARD(silu_backward_set(dinp, dout, inp, n), "silu_backward", "set", "", 0.0);
}
void cdrl_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps) {
    FORWARD(groupnorm_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps), "groupnorm",
            "fwd", gn_shape(B, C, HW).s, 0.0);
}
void cdrl_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, int B, int C, int HW, int G) {
    FORWARD(groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW, G),
            "groupnorm", "bwd", gn_shape(B, C, HW).s, 0.0);
}
void cdrl_groupnorm_backward_set(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                 const float *inp, const float *mean, const float *rstd,
                                 const float *gamma, int B, int C, int HW, int G) {
    FORWARD(groupnorm_backward_set(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW, G),
            "groupnorm", "bwd set", gn_shape(B, C, HW).s, 0.0);
}
void cdrl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                          cdrl_rng *rng) {
    FORWARD(dropout_forward(out, mask, inp, n, p, rng), "dropout_forward", "", "", 0.0);
}
void cdrl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    FORWARD(dropout_backward(dinp, dout, mask, n), "dropout_backward", "", "", 0.0);
}
void cdrl_dropout_backward_set(float *dinp, const float *dout, const float *mask, size_t n) {
    FORWARD(dropout_backward_set(dinp, dout, mask, n), "dropout_backward", "set", "", 0.0);
}
void cdrl_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                int OC, int IN, int power_iterate) {
    FORWARD(spectral_norm_forward(w_sn, sigma, u, v, w, OC, IN, power_iterate),
            "spectral_norm_forward", "", "", 0.0);
}
void cdrl_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                 const float *v, float sigma, int OC, int IN) {
    FORWARD(spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, IN), "spectral_norm_backward", "",
            "", 0.0);
}
void cdrl_timestep_embedding_forward(float *out, const float *tau, int B, int D) {
    FORWARD(timestep_embedding_forward(out, tau, B, D), "timestep_embedding_forward", "", "", 0.0);
}
void cdrl_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                      int D) {
    FORWARD(timestep_embedding_backward(dtau, dout, tau, B, D), "timestep_embedding_backward", "",
            "", 0.0);
}
size_t cdrl_attention_scratch_size(int B, int C, int N) {
    return active()->attention_scratch_size(B, C, N);
}
void cdrl_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                            cdrl_arena *scratch) {
    FORWARD(attention_forward(out, probs, qkv, B, C, N, scratch), "attention", "fwd",
            attn_shape(B, C, N).s, 4.0 * B * (double)N * N * C);
}
void cdrl_attention_backward(float *dqkv, const float *dout, const float *probs, const float *qkv,
                             int B, int C, int N, cdrl_arena *scratch) {
    FORWARD(attention_backward(dqkv, dout, probs, qkv, B, C, N, scratch), "attention", "bwd",
            attn_shape(B, C, N).s, 8.0 * B * (double)N * N * C);
}
void cdrl_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                         int HW) {
    FORWARD(concat_forward(out, a, b, B, Ca, Cb, HW), "concat_forward", "", "", 0.0);
}
void cdrl_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW) {
    FORWARD(concat_backward(da, db, dout, B, Ca, Cb, HW), "concat_backward", "", "", 0.0);
}
void cdrl_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW) {
    FORWARD(spatial_sum_forward(out, inp, B, C, HW), "spatial_sum_forward", "", "", 0.0);
}
void cdrl_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW) {
    FORWARD(spatial_sum_backward(dinp, dout, B, C, HW), "spatial_sum_backward", "", "", 0.0);
}
void cdrl_add_channel_forward(float *out, const float *inp, const float *add, int B, int C,
                              int HW) {
    FORWARD(add_channel_forward(out, inp, add, B, C, HW), "add_channel_forward", "", "", 0.0);
}
void cdrl_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW) {
    FORWARD(add_channel_backward(dadd, dout, B, C, HW), "add_channel_backward", "", "", 0.0);
}
void cdrl_zero(float *x, size_t n) { FORWARD(zero(x, n), "zero", "", "", 0.0); }
void cdrl_copy(float *dst, const float *src, size_t n) {
    FORWARD(copy(dst, src, n), "copy", "", "", 0.0);
}
void cdrl_add_into(float *y, const float *x, size_t n) {
    FORWARD(add_into(y, x, n), "add_into", "", "", 0.0);
}
void cdrl_mul_into(float *y, const float *x, size_t n) {
    FORWARD(mul_into(y, x, n), "mul_into", "", "", 0.0);
}
void cdrl_scale(float *out, const float *x, float s, size_t n) {
    FORWARD(scale(out, x, s, n), "scale", "", "", 0.0);
}
void cdrl_rows_axpby(float *out, const float *a, const float *x, const float *b, const float *z,
                     int B, int D) {
    FORWARD(rows_axpby(out, a, x, b, z, B, D), "rows_axpby", "", "", 0.0);
}
void cdrl_rows_scale(float *out, const float *s, const float *x, int B, int D) {
    FORWARD(rows_scale(out, s, x, B, D), "rows_scale", "", "", 0.0);
}
void cdrl_rows_add_scaled(float *out, const float *base, const float *s, const float *x, int B,
                          int D) {
    FORWARD(rows_add_scaled(out, base, s, x, B, D), "rows_add_scaled", "", "", 0.0);
}
void cdrl_rows_divide(float *out, const float *x, const float *d, int B, int D) {
    FORWARD(rows_divide(out, x, d, B, D), "rows_divide", "", "", 0.0);
}
void cdrl_guidance_mix(float *y, const float *y_uncond, float w, size_t n) {
    FORWARD(guidance_mix(y, y_uncond, w, n), "guidance_mix", "", "", 0.0);
}
void cdrl_tweedie_step(float *x, const float *grad, float c, float inv_sg, size_t n) {
    FORWARD(tweedie_step(x, grad, c, inv_sg, n), "tweedie_step", "", "", 0.0);
}
void cdrl_axpy(float *y, float a, const float *x, size_t n) {
    FORWARD(axpy(y, a, x, n), "axpy", "", "", 0.0);
}
void cdrl_masked_set(float *y, const float *v, const float *mask, size_t n) {
    FORWARD(masked_set(y, v, mask, n), "masked_set", "", "", 0.0);
}
int cdrl_langevin_update(float *y, const float *grad, const float *anchor, const float *z,
                         const float *tether, const float *noise_std, const int *clamp, float bound,
                         float chain_bound, int B, int D) {
    FORWARD_VALUE(
        int,
        langevin_update(y, grad, anchor, z, tether, noise_std, clamp, bound, chain_bound, B, D),
        "langevin_update");
}
double cdrl_init_loss(float *dmu, const float *y_neg, const float *y_pos, const float *y0, float a,
                      int B, size_t n) {
    FORWARD_VALUE(double, init_loss(dmu, y_neg, y_pos, y0, a, B, n), "init_loss");
}
int cdrl_all_finite(const float *x, size_t n) {
    FORWARD_VALUE(int, all_finite(x, n), "all_finite");
}
float cdrl_max_abs(const float *x, size_t n) { FORWARD_VALUE(float, max_abs(x, n), "max_abs"); }
void cdrl_channel_scale(float *out, const float *base, const float *inp, const float *g, int B,
                        int C, int HW, int accumulate) {
    FORWARD(channel_scale(out, base, inp, g, B, C, HW, accumulate), "channel_scale", "", "", 0.0);
}
void cdrl_channel_dot(float *dg, const float *a, const float *b, int B, int C, int HW) {
    FORWARD(channel_dot(dg, a, b, B, C, HW), "channel_dot", "", "", 0.0);
}
void cdrl_gather_rows(float *out, const float *table, const int *idx, int B, int C,
                      int accumulate) {
    FORWARD(gather_rows(out, table, idx, B, C, accumulate), "gather_rows", "", "", 0.0);
}
void cdrl_scatter_rows(float *dtable, const float *dout, const int *idx, int B, int C) {
    FORWARD(scatter_rows(dtable, dout, idx, B, C), "scatter_rows", "", "", 0.0);
}
void cdrl_class_columns_forward(float *out, const float *w, const float *b, const int *label,
                                float gain, int B, int A, int E, int NC) {
    FORWARD(class_columns_forward(out, w, b, label, gain, B, A, E, NC), "class_columns_forward", "",
            "", 0.0);
}
void cdrl_class_columns_backward(float *dw, float *db, const float *dout, const int *label,
                                 float gain, int B, int A, int E, int NC) {
    FORWARD(class_columns_backward(dw, db, dout, label, gain, B, A, E, NC),
            "class_columns_backward", "", "", 0.0);
}
void cdrl_row_dot_forward(float *f, const float *v, const float *q, int B, int C) {
    FORWARD(row_dot_forward(f, v, q, B, C), "row_dot_forward", "", "", 0.0);
}
void cdrl_row_dot_backward(float *dv, float *dq, const float *df, const float *v, const float *q,
                           int B, int C) {
    FORWARD(row_dot_backward(dv, dq, df, v, q, B, C), "row_dot_backward", "", "", 0.0);
}
void cdrl_film_forward(float *out, const float *x, const float *ss, int B, int C, int HW) {
    FORWARD(film_forward(out, x, ss, B, C, HW), "film_forward", "", "", 0.0);
}
void cdrl_film_backward(float *d, float *dss, const float *x, const float *ss, int B, int C,
                        int HW) {
    FORWARD(film_backward(d, dss, x, ss, B, C, HW), "film_backward", "", "", 0.0);
}
void cdrl_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                    const cdrl_adam_params *p) {
    FORWARD(adam_step(param, m, v, grad, n, step, p), "adam_step", "", "", 0.0);
}
float cdrl_clip_grad_norm(float *grad, size_t n, float max_norm) {
    FORWARD_VALUE(float, clip_grad_norm(grad, n, max_norm), "clip_grad_norm");
}
void cdrl_ema_update(float *shadow, const float *param, size_t n, float d) {
    FORWARD(ema_update(shadow, param, n, d), "ema_update", "", "", 0.0);
}
void cdrl_pair_dist2(float *d2, const float *x, int n, int dim) {
    FORWARD(pair_dist2(d2, x, n, dim), "pair_dist2", "", "", 0.0);
}
double cdrl_rbf_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                    int upper) {
    FORWARD_VALUE(double, rbf_sum(a, na, b, nb, dim, inv_2h2, upper), "rbf_sum");
}
double cdrl_softmax_xent(float *dlogit, const float *logit, const int *label, int B, int K) {
    FORWARD_VALUE(double, softmax_xent(dlogit, logit, label, B, K), "softmax_xent");
}
int cdrl_set_precision(int precision) { return active()->set_precision(precision); }
int cdrl_bf16_available(void) { return active()->bf16_available(); }
