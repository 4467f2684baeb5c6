// Every op on tensor memory: forward and backward of the layers the energy networks and the
// initializers are made of, the element-wise steps of the method, the optimiser and the sample
// statistics. Float32, NCHW, contiguous. Each op is declared by its function type (cdrl_X_fn,
// the signature every backend implements) and the function cdrl_X, which calls the active
// backend's table (ops/backend.h, docs/backends.md).
//
// Shape letters: B batch, C channels (IC in, OC out), H, W height and width, HW = H*W,
// N rows of a matrix (linear layers: any leading dims flattened), G groups.
//
// Conventions (llm.c):
// - Outputs first, then inputs, then sizes (or a const descriptor when there are many).
// - Backward ACCUMULATES (+=) into every gradient output, so skip connections and shared
//   inputs need no extra buffers; callers zero gradients once per step.
// - Backward always can give the input gradient; parameter gradients (dw, db, dgamma, ...)
//   may be NULL, which skips them: Langevin needs only df/dx, and that halves its cost.
//   An input gradient may be NULL too where the input is a constant (the first layer of the
//   time embedding).
// - Kernels that need temporaries take them from a cdrl_arena and release them before
//   returning; *_scratch_size() says how many bytes to reserve.
// - Results are bit-identical for any thread count: parallel loops cut the work into fixed
//   chunks, and partial sums (e.g. weight gradients) are reduced in a fixed order. Backends
//   agree with each other to float rounding, not bit for bit.
// PyTorch reference for each layer: the comment above it.
#ifndef CDRL_OPS_OPS_H
#define CDRL_OPS_OPS_H

#include <stddef.h>

#include "core/core.h"
#include "core/rng.h"

// ---------------------------------------------------------------------------------------
// Linear: out = inp · wᵀ + b   (torch.nn.Linear; w is (OC, IC) as in PyTorch).
// out (N, OC); inp (N, IC); w (OC, IC); b (OC) or NULL.
typedef size_t cdrl_linear_scratch_size_fn(int N, int IC, int OC);
cdrl_linear_scratch_size_fn cdrl_linear_scratch_size;
typedef void cdrl_linear_forward_fn(float *out, const float *inp, const float *w, const float *b,
                                    int N, int IC, int OC, cdrl_arena *scratch);
cdrl_linear_forward_fn cdrl_linear_forward;
// dinp (N, IC) or NULL; dw (OC, IC) or NULL; db (OC) or NULL; dout (N, OC).
typedef void cdrl_linear_backward_fn(float *dinp, float *dw, float *db, const float *dout,
                                     const float *inp, const float *w, int N, int IC, int OC,
                                     cdrl_arena *scratch);
cdrl_linear_backward_fn cdrl_linear_backward;

// ---------------------------------------------------------------------------------------
// 2-D convolution, stride 1, square kernel K in {1, 3}, zero padding K/2, with bias
// (torch.nn.Conv2d(IC, OC, K, padding=K//2)). w is (OC, IC, K, K) as in PyTorch.
typedef struct cdrl_conv2d_desc {
    int B, IC, OC, H, W, K;
} cdrl_conv2d_desc;
typedef size_t cdrl_conv2d_scratch_size_fn(const cdrl_conv2d_desc *d);
cdrl_conv2d_scratch_size_fn cdrl_conv2d_scratch_size;
// What the forward may do to its output before it returns, each chunk while the chunk is in
// cache instead of in passes of their own, with the float operations of those passes:
//   out += add[b, c]            (cdrl_add_channel_forward), when add (B, OC) is given;
//   sum = base + out · gain[c]  (cdrl_channel_scale with base), when gain (OC) is given, with
//                               base and sum (B, OC, H, W); sum may be base (then sum += ...);
//   act = LeakyReLU(sum, or out when there is no gain) (cdrl_lrelu_forward), when act is given.
// sum and act must not overlap out or inp. The energy network's blocks: conv1 + lrelu(z) and
// its LeakyReLU, then the residual x + g conv2(.) and the next block's LeakyReLU.
typedef struct cdrl_conv_epilogue {
    const float *add, *gain, *base;
    float *sum, *act;
    float slope;
} cdrl_conv_epilogue;
// out (B, OC, H, W); inp (B, IC, H, W); b (OC) or NULL; ep NULL or as above.
typedef void cdrl_conv2d_forward_fn(float *out, const float *inp, const float *w, const float *b,
                                    const cdrl_conv_epilogue *ep, const cdrl_conv2d_desc *d,
                                    cdrl_arena *scratch);
cdrl_conv2d_forward_fn cdrl_conv2d_forward_then;
void cdrl_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const cdrl_conv2d_desc *d, cdrl_arena *scratch);
typedef void cdrl_conv2d_backward_fn(float *dinp, float *dw, float *db, const float *dout,
                                     const float *inp, const float *w, const cdrl_conv2d_desc *d,
                                     cdrl_arena *scratch);
cdrl_conv2d_backward_fn cdrl_conv2d_backward;
// dinp (B, IC, H, W) = the input gradient alone, written rather than added (no zeroing pass
// first): the Langevin passes, which need no parameter gradients. With act given, the result
// then goes through LeakyReLU's backward as cdrl_lrelu_backward_set does, dinp = dinp ·
// lrelu'(act->at) + act->add (at, add (B, IC, H, W), add may be NULL), the same float
// operations, applied chunk by chunk while the chunk is in cache instead of in a pass of its own.
typedef struct cdrl_lrelu_grad {
    const float *at, *add;
    float slope;
} cdrl_lrelu_grad;
typedef void cdrl_conv2d_input_grad_fn(float *dinp, const float *dout, const float *w,
                                       const cdrl_lrelu_grad *act, const cdrl_conv2d_desc *d,
                                       cdrl_arena *scratch);
cdrl_conv2d_input_grad_fn cdrl_conv2d_input_grad;

// ---------------------------------------------------------------------------------------
// 2x2 average pooling, stride 2, floor mode (F.avg_pool2d(x, 2)): an odd last row or column
// is dropped (7 -> 3). out (BC, H/2, W/2); inp (BC, H, W), BC = B*C; H, W >= 2.
typedef void cdrl_avgpool2_forward_fn(float *out, const float *inp, int BC, int H, int W);
cdrl_avgpool2_forward_fn cdrl_avgpool2_forward;
// backward: dinp += the gradient; _set: dinp = the gradient, every element written (the dropped
// row and column 0), the bytes of the first into zeros, without the zeroing pass.
typedef void cdrl_avgpool2_backward_fn(float *dinp, const float *dout, int BC, int H, int W);
cdrl_avgpool2_backward_fn cdrl_avgpool2_backward;
cdrl_avgpool2_backward_fn cdrl_avgpool2_backward_set;

// Nearest-neighbour x2 upsampling (F.interpolate(x, scale_factor=2, mode="nearest")).
// out (BC, 2H, 2W); inp (BC, H, W).
typedef void cdrl_upsample2_forward_fn(float *out, const float *inp, int BC, int H, int W);
cdrl_upsample2_forward_fn cdrl_upsample2_forward;
typedef void cdrl_upsample2_backward_fn(float *dinp, const float *dout, int BC, int H, int W);
cdrl_upsample2_backward_fn cdrl_upsample2_backward;

// ---------------------------------------------------------------------------------------
// Element-wise activations over n values; out may alias inp in forward. Backward needs the
// forward input. LeakyReLU (F.leaky_relu, slope 0.2 in CDRL), ReLU, SiLU (x * sigmoid(x)).
typedef void cdrl_lrelu_forward_fn(float *out, const float *inp, size_t n, float slope);
cdrl_lrelu_forward_fn cdrl_lrelu_forward;
typedef void cdrl_lrelu_backward_fn(float *dinp, const float *dout, const float *inp, size_t n,
                                    float slope);
cdrl_lrelu_backward_fn cdrl_lrelu_backward;
// dinp = dout · lrelu'(inp) + add (add (n) or NULL): the backward written, not added, so that
// dinp needs no zeroing first, with the residual branch's gradient folded in.
typedef void cdrl_lrelu_backward_set_fn(float *dinp, const float *dout, const float *inp,
                                        const float *add, size_t n, float slope);
cdrl_lrelu_backward_set_fn cdrl_lrelu_backward_set;
typedef void cdrl_relu_forward_fn(float *out, const float *inp, size_t n);
cdrl_relu_forward_fn cdrl_relu_forward;
typedef void cdrl_relu_backward_fn(float *dinp, const float *dout, const float *inp, size_t n);
cdrl_relu_backward_fn cdrl_relu_backward;
typedef void cdrl_silu_forward_fn(float *out, const float *inp, size_t n);
cdrl_silu_forward_fn cdrl_silu_forward;
typedef void cdrl_silu_backward_fn(float *dinp, const float *dout, const float *inp, size_t n);
cdrl_silu_backward_fn cdrl_silu_backward;
// The backward passes below, like the pooling one, come in two forms: dinp += the gradient,
// and _set: dinp = the gradient (0 + it, so the bytes of the first into zeros), which saves
// the zeroing pass and the read of the zeros.
cdrl_silu_backward_fn cdrl_silu_backward_set;

// ---------------------------------------------------------------------------------------
// Group normalisation with affine parameters (torch.nn.GroupNorm(G, C, eps)); C % G == 0.
// out, inp (B, C, HW); gamma, beta (C); mean, rstd (B, G) saved (backward uses rstd and
// forms the mean again in double from inp, which keeps it within the fixtures' tolerance).
typedef void cdrl_groupnorm_forward_fn(float *out, float *mean, float *rstd, const float *inp,
                                       const float *gamma, const float *beta, int B, int C, int HW,
                                       int G, float eps);
cdrl_groupnorm_forward_fn cdrl_groupnorm_forward;
typedef void cdrl_groupnorm_backward_fn(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                        const float *inp, const float *mean, const float *rstd,
                                        const float *gamma, int B, int C, int HW, int G);
cdrl_groupnorm_backward_fn cdrl_groupnorm_backward;
cdrl_groupnorm_backward_fn cdrl_groupnorm_backward_set; // dinp set; dgamma, dbeta still +=

// ---------------------------------------------------------------------------------------
// Dropout (F.dropout, training mode): keep each value with probability 1-p and scale it by
// 1/(1-p). mask (n) receives the multiplier (0 or 1/(1-p)) drawn from rng; p = 0 copies.
typedef void cdrl_dropout_forward_fn(float *out, float *mask, const float *inp, size_t n, float p,
                                     cdrl_rng *rng);
cdrl_dropout_forward_fn cdrl_dropout_forward;
typedef void cdrl_dropout_backward_fn(float *dinp, const float *dout, const float *mask, size_t n);
cdrl_dropout_backward_fn cdrl_dropout_backward;
cdrl_dropout_backward_fn cdrl_dropout_backward_set;

// ---------------------------------------------------------------------------------------
// Spectral normalisation exactly as torch.nn.utils.spectral_norm (n_power_iterations 1,
// eps 1e-12, dim 0): the weight viewed as a matrix (OC, IN), IN = everything after dim 0.
// Forward: if power_iterate (training mode) first v = normalize(Wᵀu), u = normalize(W v)
// in place; then sigma = uᵀ W v and w_sn = W / sigma. Eval mode reuses u and v unchanged.
// w_sn (OC, IN); sigma (1); u (OC); v (IN); w (OC, IN) the trainable "weight_orig".
typedef void cdrl_spectral_norm_forward_fn(float *w_sn, float *sigma, float *u, float *v,
                                           const float *w, int OC, int IN, int power_iterate);
cdrl_spectral_norm_forward_fn cdrl_spectral_norm_forward;
// Gradient through sigma with u, v held constant:
// dw += dw_sn / sigma - (sum(dw_sn * w) / sigma^2) * u vᵀ.
typedef void cdrl_spectral_norm_backward_fn(float *dw, const float *dw_sn, const float *w,
                                            const float *u, const float *v, float sigma, int OC,
                                            int IN);
cdrl_spectral_norm_backward_fn cdrl_spectral_norm_backward;

// ---------------------------------------------------------------------------------------
// Noise-level embedding (method.md §5.4). tau(lambda) = 1000 (2/pi) atan(exp(-clamp(lambda,
// -20, 20) / 2)); the embedding of tau is [sin(tau w_0..w_{D/2-1}), cos(...)] with
// w_k = exp(-k ln(10000) / (D/2 - 1)). out (B, D); tau (B); D even, >= 4.
float cdrl_logsnr_to_tau(float logsnr);
typedef void cdrl_timestep_embedding_forward_fn(float *out, const float *tau, int B, int D);
cdrl_timestep_embedding_forward_fn cdrl_timestep_embedding_forward;
// dtau (B) += sum_k dout * d out / d tau (for gradient checks; training never needs it).
typedef void cdrl_timestep_embedding_backward_fn(float *dtau, const float *dout, const float *tau,
                                                 int B, int D);
cdrl_timestep_embedding_backward_fn cdrl_timestep_embedding_backward;

// ---------------------------------------------------------------------------------------
// Single-head dot-product attention over positions (the core of the U-Net's attention block,
// method.md §5.5). qkv (B, 3C, N) holds q, k, v in that order along channels, N = H*W
// positions; A[i, j] = softmax_j(sum_c q[c, i] k[c, j] / sqrt(C)); out[c, i] =
// sum_j A[i, j] v[c, j]. out (B, C, N); probs (B, N, N) saved for backward.
typedef size_t cdrl_attention_scratch_size_fn(int B, int C, int N);
cdrl_attention_scratch_size_fn cdrl_attention_scratch_size;
typedef void cdrl_attention_forward_fn(float *out, float *probs, const float *qkv, int B, int C,
                                       int N, cdrl_arena *scratch);
cdrl_attention_forward_fn cdrl_attention_forward;
// dqkv (B, 3C, N) += ...
typedef void cdrl_attention_backward_fn(float *dqkv, const float *dout, const float *probs,
                                        const float *qkv, int B, int C, int N, cdrl_arena *scratch);
cdrl_attention_backward_fn cdrl_attention_backward;

// ---------------------------------------------------------------------------------------
// Channel concatenation (torch.cat([a, b], dim=1)): out (B, Ca+Cb, HW); a (B, Ca, HW);
// b (B, Cb, HW). Backward splits dout into da, db (either may be NULL).
typedef void cdrl_concat_forward_fn(float *out, const float *a, const float *b, int B, int Ca,
                                    int Cb, int HW);
cdrl_concat_forward_fn cdrl_concat_forward;
typedef void cdrl_concat_backward_fn(float *da, float *db, const float *dout, int B, int Ca, int Cb,
                                     int HW);
cdrl_concat_backward_fn cdrl_concat_backward;

// Spatial sum (x.sum(dim=(2, 3))): out (B, C); inp (B, C, HW).
typedef void cdrl_spatial_sum_forward_fn(float *out, const float *inp, int B, int C, int HW);
cdrl_spatial_sum_forward_fn cdrl_spatial_sum_forward;
typedef void cdrl_spatial_sum_backward_fn(float *dinp, const float *dout, int B, int C, int HW);
cdrl_spatial_sum_backward_fn cdrl_spatial_sum_backward;

// Per-channel broadcast add (x + e[:, :, None, None]), used for the time-embedding
// projection in the energy blocks and the initializer's resblocks.
// out (B, C, HW) = inp + add (B, C); out may alias inp.
typedef void cdrl_add_channel_forward_fn(float *out, const float *inp, const float *add, int B,
                                         int C, int HW);
cdrl_add_channel_forward_fn cdrl_add_channel_forward;
// dadd (B, C) += sum over HW of dout (dinp is dout itself: the caller reuses it).
typedef void cdrl_add_channel_backward_fn(float *dadd, const float *dout, int B, int C, int HW);
cdrl_add_channel_backward_fn cdrl_add_channel_backward;

// ---------------------------------------------------------------------------------------
// Buffers of the backend. Every float buffer the networks, trainer and sampler compute on
// comes from cdrl_device_arena_init (ops/backend.h) and is filled by these.
typedef void cdrl_zero_fn(float *x, size_t n);
cdrl_zero_fn cdrl_zero;
typedef void cdrl_copy_fn(float *dst, const float *src, size_t n);
cdrl_copy_fn cdrl_copy;

// ---------------------------------------------------------------------------------------
// Element-wise glue. "rows" ops see x as (B, D) and take one coefficient per row (per
// sample: its noise level's constants); the callers fill those (B) arrays on the host, which
// with the cpu and ref backends is the same memory (docs/backends.md: a device backend).
// y (n) += x (n)
typedef void cdrl_add_into_fn(float *y, const float *x, size_t n);
cdrl_add_into_fn cdrl_add_into;
// y (n) *= x (n)
typedef void cdrl_mul_into_fn(float *y, const float *x, size_t n);
cdrl_mul_into_fn cdrl_mul_into;
// out (n) = s * x; out may alias x.
typedef void cdrl_scale_fn(float *out, const float *x, float s, size_t n);
cdrl_scale_fn cdrl_scale;
// out (B, D) = a[n] * x + b[n] * z (the forward noising of a pair of levels)
typedef void cdrl_rows_axpby_fn(float *out, const float *a, const float *x, const float *b,
                                const float *z, int B, int D);
cdrl_rows_axpby_fn cdrl_rows_axpby;
// out (B, D) = s[n] * x; out may alias x.
typedef void cdrl_rows_scale_fn(float *out, const float *s, const float *x, int B, int D);
cdrl_rows_scale_fn cdrl_rows_scale;
// out (B, D) = base + s[n] * x; out may alias base.
typedef void cdrl_rows_add_scaled_fn(float *out, const float *base, const float *s, const float *x,
                                     int B, int D);
cdrl_rows_add_scaled_fn cdrl_rows_add_scaled;
// out (B, D) = x / d[n]; out may alias x.
typedef void cdrl_rows_divide_fn(float *out, const float *x, const float *d, int B, int D);
cdrl_rows_divide_fn cdrl_rows_divide;
// Classifier-free guidance of the initializer's means: y = (1 + w) y - w y_uncond.
typedef void cdrl_guidance_mix_fn(float *y, const float *y_uncond, float w, size_t n);
cdrl_guidance_mix_fn cdrl_guidance_mix;
// The Tweedie denoising step: x = (x + c grad) * inv_sg.
typedef void cdrl_tweedie_step_fn(float *x, const float *grad, float c, float inv_sg, size_t n);
cdrl_tweedie_step_fn cdrl_tweedie_step;
// y (n) += a * x (the terms of a composed initializer mean, method.md §8)
typedef void cdrl_axpy_fn(float *y, float a, const float *x, size_t n);
cdrl_axpy_fn cdrl_axpy;
// Inpainting: y[i] = v[i] where mask[i] != 0, y[i] unchanged elsewhere (bit-exact copies).
typedef void cdrl_masked_set_fn(float *y, const float *v, const float *mask, size_t n);
cdrl_masked_set_fn cdrl_masked_set;
// One Langevin update of y (B, D) (method.md §2.1, drift already scaled into grad):
// y += grad - tether[n] (y - anchor) + noise_std[n] z, then rows with clamp[n] != 0 clamped
// to [-bound, bound]. clamp may be NULL. Returns 1 when every value is within
// [-chain_bound, chain_bound] after the update and before the clamp (0 for NaN, clamped or not).
typedef int cdrl_langevin_update_fn(float *y, const float *grad, const float *anchor,
                                    const float *z, const float *tether, const float *noise_std,
                                    const int *clamp, float bound, float chain_bound, int B, int D);
cdrl_langevin_update_fn cdrl_langevin_update;
// The initializer's loss on n values from a batch of B: r = (1 - a) y_neg + a y_pos - y0,
// dmu = -2 r / B; returns sum r^2, summed in order in double.
typedef double cdrl_init_loss_fn(float *dmu, const float *y_neg, const float *y_pos,
                                 const float *y0, float a, int B, size_t n);
cdrl_init_loss_fn cdrl_init_loss;
// 1 when no value is NaN or infinite.
typedef int cdrl_all_finite_fn(const float *x, size_t n);
cdrl_all_finite_fn cdrl_all_finite;
// The largest |x| (NaN when any value is NaN).
typedef float cdrl_max_abs_fn(const float *x, size_t n);
cdrl_max_abs_fn cdrl_max_abs;

// ---------------------------------------------------------------------------------------
// Network glue.
// Per-channel scale of a residual branch: out (B, C, HW) = base + inp * g[c] when base is
// given, else out op= inp * g[c] (accumulate adds, else assigns).
typedef void cdrl_channel_scale_fn(float *out, const float *base, const float *inp, const float *g,
                                   int B, int C, int HW, int accumulate);
cdrl_channel_scale_fn cdrl_channel_scale;
// dg (C) += sum over B and HW of a * b, in double (the gradient of that scale).
typedef void cdrl_channel_dot_fn(float *dg, const float *a, const float *b, int B, int C, int HW);
cdrl_channel_dot_fn cdrl_channel_dot;
// Row gather: out[n] (C) = table[idx[n]] (accumulate: +=); out (B, C); table (L, C).
typedef void cdrl_gather_rows_fn(float *out, const float *table, const int *idx, int B, int C,
                                 int accumulate);
cdrl_gather_rows_fn cdrl_gather_rows;
// Its backward: dtable[idx[n]] += dout[n], images in order for each element.
typedef void cdrl_scatter_rows_fn(float *dtable, const float *dout, const int *idx, int B, int C);
cdrl_scatter_rows_fn cdrl_scatter_rows;
// A Linear of A concatenated one-hots (one per attribute): label (B, A) holds each row's A
// columns of w (E, NC); out[n] (E) = (gain w[:, label[n, 0]] + ... + gain w[:, label[n, A-1]])
// + b, summed in that order; b (E). A = 1 is the one-hot class Linear.
typedef void cdrl_class_columns_forward_fn(float *out, const float *w, const float *b,
                                           const int *label, float gain, int B, int A, int E,
                                           int NC);
cdrl_class_columns_forward_fn cdrl_class_columns_forward;
// dw[:, label[n, a]] += gain * dout[n] for a in order; db += dout[n]; rows in order for each
// element. dw and db are both required.
typedef void cdrl_class_columns_backward_fn(float *dw, float *db, const float *dout,
                                            const int *label, float gain, int B, int A, int E,
                                            int NC);
cdrl_class_columns_backward_fn cdrl_class_columns_backward;
// f (B) = sum_c v[n, c] q[n, c] (float, in order); v, q (B, C).
typedef void cdrl_row_dot_forward_fn(float *f, const float *v, const float *q, int B, int C);
cdrl_row_dot_forward_fn cdrl_row_dot_forward;
// dv = df[n] q, dq = df[n] v (assigned, not accumulated; both required).
typedef void cdrl_row_dot_backward_fn(float *dv, float *dq, const float *df, const float *v,
                                      const float *q, int B, int C);
cdrl_row_dot_backward_fn cdrl_row_dot_backward;
// FiLM: out (B, C, HW) = x * (1 + scale) + shift, (scale | shift) = ss (B, 2C).
typedef void cdrl_film_forward_fn(float *out, const float *x, const float *ss, int B, int C,
                                  int HW);
cdrl_film_forward_fn cdrl_film_forward;
// d (B, C, HW) holds d out and becomes d x = d out (1 + scale) in place; dss (B, 2C) is
// assigned: d scale = sum_HW d out x, d shift = sum_HW d out (in double).
typedef void cdrl_film_backward_fn(float *d, float *dss, const float *x, const float *ss, int B,
                                   int C, int HW);
cdrl_film_backward_fn cdrl_film_backward;

// ---------------------------------------------------------------------------------------
// Optimiser kernels over flat parameter buffers (train/optim.h has the rules around them).
typedef struct cdrl_adam_params {
    float lr;           // learning rate of this step (after the warm-up schedule)
    float beta1, beta2; // 0.9, 0.999
    float eps;          // 1e-8
    float weight_decay; // Adam: added to the gradient (L2); AdamW: decoupled decay
    int decoupled;      // 0 = Adam, 1 = AdamW
} cdrl_adam_params;
// One Adam(W) update of n parameters exactly as torch.optim (PyTorch 1.12, non-fused). m, v
// (n) are the moment buffers (zero at step 1); step is the 1-based count of updates including
// this one. grad is not modified.
typedef void cdrl_adam_step_fn(float *param, float *m, float *v, const float *grad, size_t n,
                               long step, const cdrl_adam_params *p);
cdrl_adam_step_fn cdrl_adam_step;
// Global L2 norm of the gradient; when it exceeds max_norm, scales grad in place by
// max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Returns the norm before
// clipping (NaN/Inf propagate). The same for any thread count.
typedef float cdrl_clip_grad_norm_fn(float *grad, size_t n, float max_norm);
cdrl_clip_grad_norm_fn cdrl_clip_grad_norm;
// shadow -= (1 - d) (shadow - param), as torch_ema.
typedef void cdrl_ema_update_fn(float *shadow, const float *param, size_t n, float d);
cdrl_ema_update_fn cdrl_ema_update;

// ---------------------------------------------------------------------------------------
// Sample statistics (eval/mmd.c): squared distances and RBF kernel sums over point sets.
// d2 (n (n - 1) / 2) = |x_i - x_j|^2 (summed in double, rounded to float) for the pairs i < j
// in order (i, then j); x (n, dim).
typedef void cdrl_pair_dist2_fn(float *d2, const float *x, int n, int dim);
cdrl_pair_dist2_fn cdrl_pair_dist2;
// sum over i < na, j < nb of exp(-|a_i - b_j|^2 inv_2h2), or over the pairs i < j when upper
// (a == b): in double, in fixed blocks of rows whose partial sums are added in block order
// (the same for any thread count). NaN when out of memory.
typedef double cdrl_rbf_sum_fn(const float *a, int na, const float *b, int nb, int dim,
                               double inv_2h2, int upper);
cdrl_rbf_sum_fn cdrl_rbf_sum;

// Mean softmax cross-entropy of logit (B, K) against label (B) (F.cross_entropy), in double;
// dlogit (B, K) is assigned its gradient (softmax - onehot) / B. Returns the mean loss.
typedef double cdrl_softmax_xent_fn(float *dlogit, const float *logit, const int *label, int B,
                                    int K);
cdrl_softmax_xent_fn cdrl_softmax_xent;

// ---------------------------------------------------------------------------------------
// Precision of the convolution products of forward and input gradient (the Langevin passes):
// CDRL_PRECISION_F32, or CDRL_PRECISION_BF16: inputs and weights rounded to bfloat16 (to
// nearest even), products summed in float, for the products cdrl_bf16_conv_applies names (3x3
// kernels summing over 64 or more channels: smaller ones lose more to the rounding pass than
// they gain). Weight gradients always stay float. A CPU without bf16 products keeps float.
// Returns the previous setting.
enum { CDRL_PRECISION_F32 = 0, CDRL_PRECISION_BF16 = 1 };
// Whether a product of convolution d summing over C channels (IC in forward, OC in the input
// gradient) takes bfloat16 operands under CDRL_PRECISION_BF16; the same rule in every backend.
static inline int cdrl_bf16_conv_applies(const cdrl_conv2d_desc *d, int C) {
    return d->K == 3 && C >= 64;
}
typedef int cdrl_set_precision_fn(int precision);
cdrl_set_precision_fn cdrl_set_precision;
// 1 when the backend runs CDRL_PRECISION_BF16 products (the cpu backend: AVX512_BF16).
typedef int cdrl_bf16_available_fn(void);
cdrl_bf16_available_fn cdrl_bf16_available;

#endif // CDRL_OPS_OPS_H
