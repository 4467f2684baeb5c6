// The ops of ops.h, each forwarded to the active backend's table (ops/backend.h), and the
// choice of that backend.
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "ops/backend.h"

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
size_t cdrl_linear_scratch_size(int N, int IC, int OC) {
    return active()->linear_scratch_size(N, IC, OC);
}
void cdrl_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                         int IC, int OC, cdrl_arena *scratch) {
    active()->linear_forward(out, inp, w, b, N, IC, OC, scratch);
}
void cdrl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, cdrl_arena *scratch) {
    active()->linear_backward(dinp, dw, db, dout, inp, w, N, IC, OC, scratch);
}
size_t cdrl_conv2d_scratch_size(const cdrl_conv2d_desc *d) {
    return active()->conv2d_scratch_size(d);
}
void cdrl_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    active()->conv2d_forward(out, inp, w, b, d, scratch);
}
void cdrl_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, const cdrl_conv2d_desc *d, cdrl_arena *scratch) {
    active()->conv2d_backward(dinp, dw, db, dout, inp, w, d, scratch);
}
void cdrl_avgpool2_forward(float *out, const float *inp, int BC, int H, int W) {
    active()->avgpool2_forward(out, inp, BC, H, W);
}
void cdrl_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    active()->avgpool2_backward(dinp, dout, BC, H, W);
}
void cdrl_upsample2_forward(float *out, const float *inp, int BC, int H, int W) {
    active()->upsample2_forward(out, inp, BC, H, W);
}
void cdrl_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W) {
    active()->upsample2_backward(dinp, dout, BC, H, W);
}
void cdrl_lrelu_forward(float *out, const float *inp, size_t n, float slope) {
    active()->lrelu_forward(out, inp, n, slope);
}
void cdrl_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    active()->lrelu_backward(dinp, dout, inp, n, slope);
}
void cdrl_relu_forward(float *out, const float *inp, size_t n) {
    active()->relu_forward(out, inp, n);
}
void cdrl_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    active()->relu_backward(dinp, dout, inp, n);
}
void cdrl_silu_forward(float *out, const float *inp, size_t n) {
    active()->silu_forward(out, inp, n);
}
void cdrl_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    active()->silu_backward(dinp, dout, inp, n);
}
void cdrl_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps) {
    active()->groupnorm_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps);
}
void cdrl_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, int B, int C, int HW, int G) {
    active()->groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, C, HW, G);
}
void cdrl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                          cdrl_rng *rng) {
    active()->dropout_forward(out, mask, inp, n, p, rng);
}
void cdrl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    active()->dropout_backward(dinp, dout, mask, n);
}
void cdrl_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                int OC, int IN, int power_iterate) {
    active()->spectral_norm_forward(w_sn, sigma, u, v, w, OC, IN, power_iterate);
}
void cdrl_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                 const float *v, float sigma, int OC, int IN) {
    active()->spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, IN);
}
void cdrl_timestep_embedding_forward(float *out, const float *tau, int B, int D) {
    active()->timestep_embedding_forward(out, tau, B, D);
}
void cdrl_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                      int D) {
    active()->timestep_embedding_backward(dtau, dout, tau, B, D);
}
size_t cdrl_attention_scratch_size(int B, int C, int N) {
    return active()->attention_scratch_size(B, C, N);
}
void cdrl_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                            cdrl_arena *scratch) {
    active()->attention_forward(out, probs, qkv, B, C, N, scratch);
}
void cdrl_attention_backward(float *dqkv, const float *dout, const float *probs, const float *qkv,
                             int B, int C, int N, cdrl_arena *scratch) {
    active()->attention_backward(dqkv, dout, probs, qkv, B, C, N, scratch);
}
void cdrl_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                         int HW) {
    active()->concat_forward(out, a, b, B, Ca, Cb, HW);
}
void cdrl_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW) {
    active()->concat_backward(da, db, dout, B, Ca, Cb, HW);
}
void cdrl_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW) {
    active()->spatial_sum_forward(out, inp, B, C, HW);
}
void cdrl_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW) {
    active()->spatial_sum_backward(dinp, dout, B, C, HW);
}
void cdrl_add_channel_forward(float *out, const float *inp, const float *add, int B, int C,
                              int HW) {
    active()->add_channel_forward(out, inp, add, B, C, HW);
}
void cdrl_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW) {
    active()->add_channel_backward(dadd, dout, B, C, HW);
}
void cdrl_zero(float *x, size_t n) { active()->zero(x, n); }
void cdrl_copy(float *dst, const float *src, size_t n) { active()->copy(dst, src, n); }
void cdrl_add_into(float *y, const float *x, size_t n) { active()->add_into(y, x, n); }
void cdrl_mul_into(float *y, const float *x, size_t n) { active()->mul_into(y, x, n); }
void cdrl_scale(float *out, const float *x, float s, size_t n) { active()->scale(out, x, s, n); }
void cdrl_rows_axpby(float *out, const float *a, const float *x, const float *b, const float *z,
                     int B, int D) {
    active()->rows_axpby(out, a, x, b, z, B, D);
}
void cdrl_rows_scale(float *out, const float *s, const float *x, int B, int D) {
    active()->rows_scale(out, s, x, B, D);
}
void cdrl_rows_add_scaled(float *out, const float *base, const float *s, const float *x, int B,
                          int D) {
    active()->rows_add_scaled(out, base, s, x, B, D);
}
void cdrl_rows_divide(float *out, const float *x, const float *d, int B, int D) {
    active()->rows_divide(out, x, d, B, D);
}
void cdrl_guidance_mix(float *y, const float *y_uncond, float w, size_t n) {
    active()->guidance_mix(y, y_uncond, w, n);
}
void cdrl_tweedie_step(float *x, const float *grad, float c, float inv_sg, size_t n) {
    active()->tweedie_step(x, grad, c, inv_sg, n);
}
int cdrl_langevin_update(float *y, const float *grad, const float *anchor, const float *z,
                         const float *tether, const float *noise_std, const int *clamp, float bound,
                         float chain_bound, int B, int D) {
    return active()->langevin_update(y, grad, anchor, z, tether, noise_std, clamp, bound,
                                     chain_bound, B, D);
}
double cdrl_init_loss(float *dmu, const float *y_neg, const float *y_pos, const float *y0, float a,
                      int B, size_t n) {
    return active()->init_loss(dmu, y_neg, y_pos, y0, a, B, n);
}
int cdrl_all_finite(const float *x, size_t n) { return active()->all_finite(x, n); }
float cdrl_max_abs(const float *x, size_t n) { return active()->max_abs(x, n); }
void cdrl_channel_scale(float *out, const float *base, const float *inp, const float *g, int B,
                        int C, int HW, int accumulate) {
    active()->channel_scale(out, base, inp, g, B, C, HW, accumulate);
}
void cdrl_channel_dot(float *dg, const float *a, const float *b, int B, int C, int HW) {
    active()->channel_dot(dg, a, b, B, C, HW);
}
void cdrl_gather_rows(float *out, const float *table, const int *idx, int B, int C,
                      int accumulate) {
    active()->gather_rows(out, table, idx, B, C, accumulate);
}
void cdrl_scatter_rows(float *dtable, const float *dout, const int *idx, int B, int C) {
    active()->scatter_rows(dtable, dout, idx, B, C);
}
void cdrl_class_columns_forward(float *out, const float *w, const float *b, const int *label,
                                float gain, int B, int E, int NC) {
    active()->class_columns_forward(out, w, b, label, gain, B, E, NC);
}
void cdrl_class_columns_backward(float *dw, float *db, const float *dout, const int *label,
                                 float gain, int B, int E, int NC) {
    active()->class_columns_backward(dw, db, dout, label, gain, B, E, NC);
}
void cdrl_row_dot_forward(float *f, const float *v, const float *q, int B, int C) {
    active()->row_dot_forward(f, v, q, B, C);
}
void cdrl_row_dot_backward(float *dv, float *dq, const float *df, const float *v, const float *q,
                           int B, int C) {
    active()->row_dot_backward(dv, dq, df, v, q, B, C);
}
void cdrl_film_forward(float *out, const float *x, const float *ss, int B, int C, int HW) {
    active()->film_forward(out, x, ss, B, C, HW);
}
void cdrl_film_backward(float *d, float *dss, const float *x, const float *ss, int B, int C,
                        int HW) {
    active()->film_backward(d, dss, x, ss, B, C, HW);
}
void cdrl_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                    const cdrl_adam_params *p) {
    active()->adam_step(param, m, v, grad, n, step, p);
}
float cdrl_clip_grad_norm(float *grad, size_t n, float max_norm) {
    return active()->clip_grad_norm(grad, n, max_norm);
}
void cdrl_ema_update(float *shadow, const float *param, size_t n, float d) {
    active()->ema_update(shadow, param, n, d);
}
void cdrl_pair_dist2(float *d2, const float *x, int n, int dim) {
    active()->pair_dist2(d2, x, n, dim);
}
double cdrl_rbf_sum(const float *a, int na, const float *b, int nb, int dim, double inv_2h2,
                    int upper) {
    return active()->rbf_sum(a, na, b, nb, dim, inv_2h2, upper);
}
double cdrl_softmax_xent(float *dlogit, const float *logit, const int *label, int B, int K) {
    return active()->softmax_xent(dlogit, logit, label, B, K);
}
