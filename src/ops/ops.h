// Layer kernels: forward and backward of every layer that the energy networks and the
// initializers are made of. Float32, NCHW, contiguous.
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
//   chunks, and partial sums (e.g. weight gradients) are reduced in a fixed order.
// PyTorch reference for each layer: the comment above it.
#ifndef CDRL_OPS_OPS_H
#define CDRL_OPS_OPS_H

#include <stddef.h>

#include "core/core.h"
#include "core/rng.h"

// ---------------------------------------------------------------------------------------
// Linear: out = inp · wᵀ + b   (torch.nn.Linear; w is (OC, IC) as in PyTorch).
// out (N, OC); inp (N, IC); w (OC, IC); b (OC) or NULL.
size_t cdrl_linear_scratch_size(int N, int IC, int OC);
void cdrl_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                         int IC, int OC, cdrl_arena *scratch);
// dinp (N, IC) or NULL; dw (OC, IC) or NULL; db (OC) or NULL; dout (N, OC).
void cdrl_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, cdrl_arena *scratch);

// ---------------------------------------------------------------------------------------
// 2-D convolution, stride 1, square kernel K in {1, 3}, zero padding K/2, with bias
// (torch.nn.Conv2d(IC, OC, K, padding=K//2)). w is (OC, IC, K, K) as in PyTorch.
typedef struct cdrl_conv2d_desc {
    int B, IC, OC, H, W, K;
} cdrl_conv2d_desc;
size_t cdrl_conv2d_scratch_size(const cdrl_conv2d_desc *d);
// out (B, OC, H, W); inp (B, IC, H, W); b (OC) or NULL.
void cdrl_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const cdrl_conv2d_desc *d, cdrl_arena *scratch);
void cdrl_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, const cdrl_conv2d_desc *d, cdrl_arena *scratch);

// ---------------------------------------------------------------------------------------
// 2x2 average pooling, stride 2 (F.avg_pool2d(x, 2)); H and W even.
// out (BC, H/2, W/2); inp (BC, H, W), BC = B*C.
void cdrl_avgpool2_forward(float *out, const float *inp, int BC, int H, int W);
void cdrl_avgpool2_backward(float *dinp, const float *dout, int BC, int H, int W);

// Nearest-neighbour x2 upsampling (F.interpolate(x, scale_factor=2, mode="nearest")).
// out (BC, 2H, 2W); inp (BC, H, W).
void cdrl_upsample2_forward(float *out, const float *inp, int BC, int H, int W);
void cdrl_upsample2_backward(float *dinp, const float *dout, int BC, int H, int W);

// ---------------------------------------------------------------------------------------
// Element-wise activations over n values; out may alias inp in forward. Backward needs the
// forward input. LeakyReLU (F.leaky_relu, slope 0.2 in CDRL), ReLU, SiLU (x * sigmoid(x)).
void cdrl_lrelu_forward(float *out, const float *inp, size_t n, float slope);
void cdrl_lrelu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope);
void cdrl_relu_forward(float *out, const float *inp, size_t n);
void cdrl_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void cdrl_silu_forward(float *out, const float *inp, size_t n);
void cdrl_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

// ---------------------------------------------------------------------------------------
// Group normalisation with affine parameters (torch.nn.GroupNorm(G, C, eps)); C % G == 0.
// out, inp (B, C, HW); gamma, beta (C); mean, rstd (B, G) saved for backward.
void cdrl_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps);
void cdrl_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *mean, const float *rstd,
                             const float *gamma, int B, int C, int HW, int G);

// ---------------------------------------------------------------------------------------
// Dropout (F.dropout, training mode): keep each value with probability 1-p and scale it by
// 1/(1-p). mask (n) receives the multiplier (0 or 1/(1-p)) drawn from rng; p = 0 copies.
void cdrl_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                          cdrl_rng *rng);
void cdrl_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

// ---------------------------------------------------------------------------------------
// Spectral normalisation exactly as torch.nn.utils.spectral_norm (n_power_iterations 1,
// eps 1e-12, dim 0): the weight viewed as a matrix (OC, IN), IN = everything after dim 0.
// Forward: if power_iterate (training mode) first v = normalize(Wᵀu), u = normalize(W v)
// in place; then sigma = uᵀ W v and w_sn = W / sigma. Eval mode reuses u and v unchanged.
// w_sn (OC, IN); sigma (1); u (OC); v (IN); w (OC, IN) the trainable "weight_orig".
void cdrl_spectral_norm_forward(float *w_sn, float *sigma, float *u, float *v, const float *w,
                                int OC, int IN, int power_iterate);
// Gradient through sigma with u, v held constant:
// dw += dw_sn / sigma - (sum(dw_sn * w) / sigma^2) * u vᵀ.
void cdrl_spectral_norm_backward(float *dw, const float *dw_sn, const float *w, const float *u,
                                 const float *v, float sigma, int OC, int IN);

// ---------------------------------------------------------------------------------------
// Noise-level embedding (method.md §5.4). tau(lambda) = 1000 (2/pi) atan(exp(-clamp(lambda,
// -20, 20) / 2)); the embedding of tau is [sin(tau w_0..w_{D/2-1}), cos(...)] with
// w_k = exp(-k ln(10000) / (D/2 - 1)). out (B, D); tau (B); D even, >= 4.
float cdrl_logsnr_to_tau(float logsnr);
void cdrl_timestep_embedding_forward(float *out, const float *tau, int B, int D);
// dtau (B) += sum_k dout * d out / d tau (for gradient checks; training never needs it).
void cdrl_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                      int D);

// ---------------------------------------------------------------------------------------
// Single-head dot-product attention over positions (the core of the U-Net's attention block,
// method.md §5.5). qkv (B, 3C, N) holds q, k, v in that order along channels, N = H*W
// positions; A[i, j] = softmax_j(sum_c q[c, i] k[c, j] / sqrt(C)); out[c, i] =
// sum_j A[i, j] v[c, j]. out (B, C, N); probs (B, N, N) saved for backward.
size_t cdrl_attention_scratch_size(int B, int C, int N);
void cdrl_attention_forward(float *out, float *probs, const float *qkv, int B, int C, int N,
                            cdrl_arena *scratch);
// dqkv (B, 3C, N) += ...
void cdrl_attention_backward(float *dqkv, const float *dout, const float *probs, const float *qkv,
                             int B, int C, int N, cdrl_arena *scratch);

// ---------------------------------------------------------------------------------------
// Channel concatenation (torch.cat([a, b], dim=1)): out (B, Ca+Cb, HW); a (B, Ca, HW);
// b (B, Cb, HW). Backward splits dout into da, db (either may be NULL).
void cdrl_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW);
void cdrl_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW);

// Spatial sum (x.sum(dim=(2, 3))): out (B, C); inp (B, C, HW).
void cdrl_spatial_sum_forward(float *out, const float *inp, int B, int C, int HW);
void cdrl_spatial_sum_backward(float *dinp, const float *dout, int B, int C, int HW);

// Per-channel broadcast add (x + e[:, :, None, None]), used for the time-embedding
// projection in the energy blocks and the initializer's resblocks.
// out (B, C, HW) = inp + add (B, C); out may alias inp.
void cdrl_add_channel_forward(float *out, const float *inp, const float *add, int B, int C, int HW);
// dadd (B, C) += sum over HW of dout (dinp is dout itself: the caller reuses it).
void cdrl_add_channel_backward(float *dadd, const float *dout, int B, int C, int HW);

#endif // CDRL_OPS_OPS_H
