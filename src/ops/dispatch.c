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
    if (!cdrl_profiling) {
        active()->linear_forward(out, inp, w, b, N, IC, OC, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->linear_forward(out, inp, w, b, N, IC, OC, scratch);
    cdrl_profile_record("linear", "fwd", linear_shape(N, IC, OC).s, 2.0 * N * IC * OC,
                        cdrl_profile_now() - t0);
}
void cdrl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->linear_backward(dinp, dw, db, dout, inp, w, N, IC, OC, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->linear_backward(dinp, dw, db, dout, inp, w, N, IC, OC, scratch);
    cdrl_profile_record("linear", grad_pass(dinp != NULL, dw != NULL), linear_shape(N, IC, OC).s,
                        2.0 * N * IC * OC * ((dinp != NULL) + (dw != NULL)),
                        cdrl_profile_now() - t0);
}
size_t cdrl_conv2d_scratch_size(const cdrl_conv2d_desc *d) {
    return active()->conv2d_scratch_size(d);
}
void cdrl_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->conv2d_forward(out, inp, w, b, d, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->conv2d_forward(out, inp, w, b, d, scratch);
    cdrl_profile_record("conv2d", "fwd", conv_shape(d).s, conv_flops(d), cdrl_profile_now() - t0);
}
void cdrl_conv2d_input_grad(float *dinp, const float *dout, const float *w,
                            const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->conv2d_input_grad(dinp, dout, w, d, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->conv2d_input_grad(dinp, dout, w, d, scratch);
    cdrl_profile_record("conv2d", grad_pass(1, 0), conv_shape(d).s, conv_flops(d),
                        cdrl_profile_now() - t0);
}
void cdrl_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->conv2d_backward(dinp, dw, db, dout, inp, w, d, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->conv2d_backward(dinp, dw, db, dout, inp, w, d, scratch);
    cdrl_profile_record("conv2d", grad_pass(dinp != NULL, dw != NULL), conv_shape(d).s,
                        conv_flops(d) * ((dinp != NULL) + (dw != NULL)), cdrl_profile_now() - t0);
}
void cdrl_avgpool2_forward(float *out, const float *inp, int BC, int H, int W) {
    if (!cdrl_profiling) {
        active()->avgpool2_forward(out, inp, BC, H, W);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->avgpool2_forward(out, inp, BC, H, W);
    cdrl_profile_record("avgpool2_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    if (!cdrl_profiling) {
        active()->avgpool2_backward(dinp, dout, BC, H, W);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->avgpool2_backward(dinp, dout, BC, H, W);
    cdrl_profile_record("avgpool2_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_upsample2_forward(float *out, const float *inp, int BC, int H, int W) {
    if (!cdrl_profiling) {
        active()->upsample2_forward(out, inp, BC, H, W);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->upsample2_forward(out, inp, BC, H, W);
    cdrl_profile_record("upsample2_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    if (!cdrl_profiling) {
        active()->upsample2_backward(dinp, dout, BC, H, W);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->upsample2_backward(dinp, dout, BC, H, W);
    cdrl_profile_record("upsample2_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    if (!cdrl_profiling) {
        active()->lrelu_forward(out, inp, n, slope);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->lrelu_forward(out, inp, n, slope);
    cdrl_profile_record("lrelu_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    if (!cdrl_profiling) {
        active()->lrelu_backward(dinp, dout, inp, n, slope);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->lrelu_backward(dinp, dout, inp, n, slope);
    cdrl_profile_record("lrelu_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_lrelu_backward_set(float *dinp, const float *dout, const float *inp, const float *add,
                             size_t n, float slope) {
    if (!cdrl_profiling) {
        active()->lrelu_backward_set(dinp, dout, inp, add, n, slope);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->lrelu_backward_set(dinp, dout, inp, add, n, slope);
    cdrl_profile_record("lrelu_backward_set", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_relu_forward(float *out, const float *inp, size_t n) {
    if (!cdrl_profiling) {
        active()->relu_forward(out, inp, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->relu_forward(out, inp, n);
    cdrl_profile_record("relu_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!cdrl_profiling) {
        active()->relu_backward(dinp, dout, inp, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->relu_backward(dinp, dout, inp, n);
    cdrl_profile_record("relu_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_silu_forward(float *out, const float *inp, size_t n) {
    if (!cdrl_profiling) {
        active()->silu_forward(out, inp, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->silu_forward(out, inp, n);
    cdrl_profile_record("silu_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!cdrl_profiling) {
        active()->silu_backward(dinp, dout, inp, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->silu_backward(dinp, dout, inp, n);
    cdrl_profile_record("silu_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps) {
    if (!cdrl_profiling) {
        active()->groupnorm_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->groupnorm_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps);
    cdrl_profile_record("groupnorm", "fwd", gn_shape(B, C, HW).s, 0.0, cdrl_profile_now() - t0);
}
void cdrl_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, int B, int C, int HW, int G) {
    if (!cdrl_profiling) {
        active()->groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW,
                                     G);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW, G);
    cdrl_profile_record("groupnorm", "bwd", gn_shape(B, C, HW).s, 0.0, cdrl_profile_now() - t0);
}
void cdrl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                          cdrl_rng *rng) {
    if (!cdrl_profiling) {
        active()->dropout_forward(out, mask, inp, n, p, rng);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->dropout_forward(out, mask, inp, n, p, rng);
    cdrl_profile_record("dropout_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    if (!cdrl_profiling) {
        active()->dropout_backward(dinp, dout, mask, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->dropout_backward(dinp, dout, mask, n);
    cdrl_profile_record("dropout_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                int OC, int IN, int power_iterate) {
    if (!cdrl_profiling) {
        active()->spectral_norm_forward(w_sn, sigma, u, v, w, OC, IN, power_iterate);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->spectral_norm_forward(w_sn, sigma, u, v, w, OC, IN, power_iterate);
    cdrl_profile_record("spectral_norm_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                 const float *v, float sigma, int OC, int IN) {
    if (!cdrl_profiling) {
        active()->spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, IN);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, IN);
    cdrl_profile_record("spectral_norm_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_timestep_embedding_forward(float *out, const float *tau, int B, int D) {
    if (!cdrl_profiling) {
        active()->timestep_embedding_forward(out, tau, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->timestep_embedding_forward(out, tau, B, D);
    cdrl_profile_record("timestep_embedding_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                      int D) {
    if (!cdrl_profiling) {
        active()->timestep_embedding_backward(dtau, dout, tau, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->timestep_embedding_backward(dtau, dout, tau, B, D);
    cdrl_profile_record("timestep_embedding_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
size_t cdrl_attention_scratch_size(int B, int C, int N) {
    return active()->attention_scratch_size(B, C, N);
}
void cdrl_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                            cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->attention_forward(out, probs, qkv, B, C, N, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->attention_forward(out, probs, qkv, B, C, N, scratch);
    cdrl_profile_record("attention", "fwd", attn_shape(B, C, N).s, 4.0 * B * (double)N * N * C,
                        cdrl_profile_now() - t0);
}
void cdrl_attention_backward(float *dqkv, const float *dout, const float *probs, const float *qkv,
                             int B, int C, int N, cdrl_arena *scratch) {
    if (!cdrl_profiling) {
        active()->attention_backward(dqkv, dout, probs, qkv, B, C, N, scratch);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->attention_backward(dqkv, dout, probs, qkv, B, C, N, scratch);
    cdrl_profile_record("attention", "bwd", attn_shape(B, C, N).s, 8.0 * B * (double)N * N * C,
                        cdrl_profile_now() - t0);
}
void cdrl_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                         int HW) {
    if (!cdrl_profiling) {
        active()->concat_forward(out, a, b, B, Ca, Cb, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->concat_forward(out, a, b, B, Ca, Cb, HW);
    cdrl_profile_record("concat_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW) {
    if (!cdrl_profiling) {
        active()->concat_backward(da, db, dout, B, Ca, Cb, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->concat_backward(da, db, dout, B, Ca, Cb, HW);
    cdrl_profile_record("concat_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW) {
    if (!cdrl_profiling) {
        active()->spatial_sum_forward(out, inp, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->spatial_sum_forward(out, inp, B, C, HW);
    cdrl_profile_record("spatial_sum_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW) {
    if (!cdrl_profiling) {
        active()->spatial_sum_backward(dinp, dout, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->spatial_sum_backward(dinp, dout, B, C, HW);
    cdrl_profile_record("spatial_sum_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_add_channel_lrelu(float *out, float *act, const float *inp, const float *add, int B,
                            int C, int HW, float slope) {
    if (!cdrl_profiling) {
        active()->add_channel_lrelu(out, act, inp, add, B, C, HW, slope);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->add_channel_lrelu(out, act, inp, add, B, C, HW, slope);
    cdrl_profile_record("add_channel_lrelu", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_add_channel_forward(float *out, const float *inp, const float *add, int B, int C,
                              int HW) {
    if (!cdrl_profiling) {
        active()->add_channel_forward(out, inp, add, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->add_channel_forward(out, inp, add, B, C, HW);
    cdrl_profile_record("add_channel_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW) {
    if (!cdrl_profiling) {
        active()->add_channel_backward(dadd, dout, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->add_channel_backward(dadd, dout, B, C, HW);
    cdrl_profile_record("add_channel_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_zero(float *x, size_t n) {
    if (!cdrl_profiling) {
        active()->zero(x, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->zero(x, n);
    cdrl_profile_record("zero", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_copy(float *dst, const float *src, size_t n) {
    if (!cdrl_profiling) {
        active()->copy(dst, src, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->copy(dst, src, n);
    cdrl_profile_record("copy", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_add_into(float *y, const float *x, size_t n) {
    if (!cdrl_profiling) {
        active()->add_into(y, x, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->add_into(y, x, n);
    cdrl_profile_record("add_into", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_mul_into(float *y, const float *x, size_t n) {
    if (!cdrl_profiling) {
        active()->mul_into(y, x, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->mul_into(y, x, n);
    cdrl_profile_record("mul_into", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_scale(float *out, const float *x, float s, size_t n) {
    if (!cdrl_profiling) {
        active()->scale(out, x, s, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->scale(out, x, s, n);
    cdrl_profile_record("scale", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_rows_axpby(float *out, const float *a, const float *x, const float *b, const float *z,
                     int B, int D) {
    if (!cdrl_profiling) {
        active()->rows_axpby(out, a, x, b, z, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->rows_axpby(out, a, x, b, z, B, D);
    cdrl_profile_record("rows_axpby", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_rows_scale(float *out, const float *s, const float *x, int B, int D) {
    if (!cdrl_profiling) {
        active()->rows_scale(out, s, x, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->rows_scale(out, s, x, B, D);
    cdrl_profile_record("rows_scale", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_rows_add_scaled(float *out, const float *base, const float *s, const float *x, int B,
                          int D) {
    if (!cdrl_profiling) {
        active()->rows_add_scaled(out, base, s, x, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->rows_add_scaled(out, base, s, x, B, D);
    cdrl_profile_record("rows_add_scaled", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_rows_divide(float *out, const float *x, const float *d, int B, int D) {
    if (!cdrl_profiling) {
        active()->rows_divide(out, x, d, B, D);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->rows_divide(out, x, d, B, D);
    cdrl_profile_record("rows_divide", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_guidance_mix(float *y, const float *y_uncond, float w, size_t n) {
    if (!cdrl_profiling) {
        active()->guidance_mix(y, y_uncond, w, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->guidance_mix(y, y_uncond, w, n);
    cdrl_profile_record("guidance_mix", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_tweedie_step(float *x, const float *grad, float c, float inv_sg, size_t n) {
    if (!cdrl_profiling) {
        active()->tweedie_step(x, grad, c, inv_sg, n);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->tweedie_step(x, grad, c, inv_sg, n);
    cdrl_profile_record("tweedie_step", "", "", 0.0, cdrl_profile_now() - t0);
}
int cdrl_langevin_update(float *y, const float *grad, const float *anchor, const float *z,
                         const float *tether, const float *noise_std, const int *clamp, float bound,
                         float chain_bound, int B, int D) {
    if (!cdrl_profiling)
        return active()->langevin_update(y, grad, anchor, z, tether, noise_std, clamp, bound,
                                         chain_bound, B, D);
    const double t0 = cdrl_profile_now();
    const int r = active()->langevin_update(y, grad, anchor, z, tether, noise_std, clamp, bound,
                                            chain_bound, B, D);
    cdrl_profile_record("langevin_update", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
double cdrl_init_loss(float *dmu, const float *y_neg, const float *y_pos, const float *y0, float a,
                      int B, size_t n) {
    if (!cdrl_profiling) return active()->init_loss(dmu, y_neg, y_pos, y0, a, B, n);
    const double t0 = cdrl_profile_now();
    const double r = active()->init_loss(dmu, y_neg, y_pos, y0, a, B, n);
    cdrl_profile_record("init_loss", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
int cdrl_all_finite(const float *x, size_t n) {
    if (!cdrl_profiling) return active()->all_finite(x, n);
    const double t0 = cdrl_profile_now();
    const int r = active()->all_finite(x, n);
    cdrl_profile_record("all_finite", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
float cdrl_max_abs(const float *x, size_t n) {
    if (!cdrl_profiling) return active()->max_abs(x, n);
    const double t0 = cdrl_profile_now();
    const float r = active()->max_abs(x, n);
    cdrl_profile_record("max_abs", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
void cdrl_channel_scale(float *out, const float *base, const float *inp, const float *g, int B,
                        int C, int HW, int accumulate) {
    if (!cdrl_profiling) {
        active()->channel_scale(out, base, inp, g, B, C, HW, accumulate);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->channel_scale(out, base, inp, g, B, C, HW, accumulate);
    cdrl_profile_record("channel_scale", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_channel_dot(float *dg, const float *a, const float *b, int B, int C, int HW) {
    if (!cdrl_profiling) {
        active()->channel_dot(dg, a, b, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->channel_dot(dg, a, b, B, C, HW);
    cdrl_profile_record("channel_dot", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_gather_rows(float *out, const float *table, const int *idx, int B, int C,
                      int accumulate) {
    if (!cdrl_profiling) {
        active()->gather_rows(out, table, idx, B, C, accumulate);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->gather_rows(out, table, idx, B, C, accumulate);
    cdrl_profile_record("gather_rows", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_scatter_rows(float *dtable, const float *dout, const int *idx, int B, int C) {
    if (!cdrl_profiling) {
        active()->scatter_rows(dtable, dout, idx, B, C);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->scatter_rows(dtable, dout, idx, B, C);
    cdrl_profile_record("scatter_rows", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_class_columns_forward(float *out, const float *w, const float *b, const int *label,
                                float gain, int B, int E, int NC) {
    if (!cdrl_profiling) {
        active()->class_columns_forward(out, w, b, label, gain, B, E, NC);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->class_columns_forward(out, w, b, label, gain, B, E, NC);
    cdrl_profile_record("class_columns_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_class_columns_backward(float *dw, float *db, const float *dout, const int *label,
                                 float gain, int B, int E, int NC) {
    if (!cdrl_profiling) {
        active()->class_columns_backward(dw, db, dout, label, gain, B, E, NC);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->class_columns_backward(dw, db, dout, label, gain, B, E, NC);
    cdrl_profile_record("class_columns_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_row_dot_forward(float *f, const float *v, const float *q, int B, int C) {
    if (!cdrl_profiling) {
        active()->row_dot_forward(f, v, q, B, C);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->row_dot_forward(f, v, q, B, C);
    cdrl_profile_record("row_dot_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_row_dot_backward(float *dv, float *dq, const float *df, const float *v, const float *q,
                           int B, int C) {
    if (!cdrl_profiling) {
        active()->row_dot_backward(dv, dq, df, v, q, B, C);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->row_dot_backward(dv, dq, df, v, q, B, C);
    cdrl_profile_record("row_dot_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_film_forward(float *out, const float *x, const float *ss, int B, int C, int HW) {
    if (!cdrl_profiling) {
        active()->film_forward(out, x, ss, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->film_forward(out, x, ss, B, C, HW);
    cdrl_profile_record("film_forward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_film_backward(float *d, float *dss, const float *x, const float *ss, int B, int C,
                        int HW) {
    if (!cdrl_profiling) {
        active()->film_backward(d, dss, x, ss, B, C, HW);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->film_backward(d, dss, x, ss, B, C, HW);
    cdrl_profile_record("film_backward", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                    const cdrl_adam_params *p) {
    if (!cdrl_profiling) {
        active()->adam_step(param, m, v, grad, n, step, p);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->adam_step(param, m, v, grad, n, step, p);
    cdrl_profile_record("adam_step", "", "", 0.0, cdrl_profile_now() - t0);
}
float cdrl_clip_grad_norm(float *grad, size_t n, float max_norm) {
    if (!cdrl_profiling) return active()->clip_grad_norm(grad, n, max_norm);
    const double t0 = cdrl_profile_now();
    const float r = active()->clip_grad_norm(grad, n, max_norm);
    cdrl_profile_record("clip_grad_norm", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
void cdrl_ema_update(float *shadow, const float *param, size_t n, float d) {
    if (!cdrl_profiling) {
        active()->ema_update(shadow, param, n, d);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->ema_update(shadow, param, n, d);
    cdrl_profile_record("ema_update", "", "", 0.0, cdrl_profile_now() - t0);
}
void cdrl_pair_dist2(float *d2, const float *x, int n, int dim) {
    if (!cdrl_profiling) {
        active()->pair_dist2(d2, x, n, dim);
        return;
    }
    const double t0 = cdrl_profile_now();
    active()->pair_dist2(d2, x, n, dim);
    cdrl_profile_record("pair_dist2", "", "", 0.0, cdrl_profile_now() - t0);
}
double cdrl_rbf_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                    int upper) {
    if (!cdrl_profiling) return active()->rbf_sum(a, na, b, nb, dim, inv_2h2, upper);
    const double t0 = cdrl_profile_now();
    const double r = active()->rbf_sum(a, na, b, nb, dim, inv_2h2, upper);
    cdrl_profile_record("rbf_sum", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
double cdrl_softmax_xent(float *dlogit, const float *logit, const int *label, int B, int K) {
    if (!cdrl_profiling) return active()->softmax_xent(dlogit, logit, label, B, K);
    const double t0 = cdrl_profile_now();
    const double r = active()->softmax_xent(dlogit, logit, label, B, K);
    cdrl_profile_record("softmax_xent", "", "", 0.0, cdrl_profile_now() - t0);
    return r;
}
int cdrl_set_precision(int precision) { return active()->set_precision(precision); }
int cdrl_bf16_available(void) { return active()->bf16_available(); }
