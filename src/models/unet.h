// The image initializer mu(x_j, lambda_j) of CDRL (method.md §5.5, §7): the U-Net of the
// official models/unet.py (unconditional) and models/unet_cond.py (class input), residual
// output mu = x + net(x), zero-initialised ResBlock conv2 / attention to_out / final_conv
// weights (biases at the PyTorch default: a fresh network gives mu = x + final_conv.bias).
// Tensor names are the official state_dict keys in state_dict order (ref/unet_twin.py lists
// them). The noise-level MLP runs once per level in prepare(); the class vector is added per
// sample in forward(). Leaves out tanh_out, several heads and widths that change across
// levels (the official forward runs only with every dim_mult equal to 1).
#ifndef CDRL_MODELS_UNET_H
#define CDRL_MODELS_UNET_H

#include <stddef.h>

#include "core/core.h"
#include "core/rng.h"
#include "models/net.h"
#include "nn/attn_block.h"
#include "nn/label_rows.h"
#include "nn/param.h"
#include "nn/res_block.h"

#define CDRL_UNET_MAX_LEVELS 6
#define CDRL_UNET_MAX_ATTN   6
#define CDRL_UNET_GROUPS     32 // GroupNorm groups everywhere (official), eps 1e-6

typedef struct cdrl_unet_config {
    int in_ch;                                // 3: image channels, in and out
    int resolution;                           // 32: square images, divisible by 2^(levels-1)
    int dim;                                  // 64: width of every layer, a multiple of 32
    int n_levels;                             // 3: entries of dim_mults
    int dim_mults[CDRL_UNET_MAX_LEVELS];      // (1, 1, 1): every entry must be 1 (see above)
    int num_res_blocks;                       // 3 CIFAR-10, 2 ImageNet 32x32
    int n_attn;                               // entries of attn_resolutions
    int attn_resolutions[CDRL_UNET_MAX_ATTN]; // {8, 16}: sizes whose ResBlocks get attention
    float dropout;                            // 0.1 (train mode only), in [0, 1)
    int n_classes;                            // 0 unconditional; else labels 0..n_classes, 0 = null
    int n_more; // label attributes after the first (not official): one-hots after the first's
    int more_classes[CDRL_MAX_ATTRS - 1];
} cdrl_unet_config;

// The official CIFAR-10 initializer (3,769,795 parameters) and the conditional ImageNet
// 32x32 one (3,181,443 parameters, 1000 classes).
void cdrl_unet_config_cifar10(cdrl_unet_config *c);
void cdrl_unet_config_imagenet32(cdrl_unet_config *c);

// One ResBlock (nn/res_block.h): parameter offsets, sizes and what forward keeps for
// backward. Sizes per sample: input (cin, hi, wi), output (cout, ho, wo); HWi = hi wi.
typedef struct cdrl_unet_res {
    int cin, cout, hi, wi, ho, wo, resample; // resample: CDRL_RESAMPLE_*
    int has_sc; // a 1x1 res_conv on the skip path (cin != cout: the up path's 2C -> C)
    size_t n1_w, n1_b, n2_w, n2_b, c1_w, c1_b, c2_w, c2_b, mlp_w, mlp_b, sc_w, sc_b;
    float *cat; // (B, cin, HWi) concat(h, skip) on the up path, else NULL
    cdrl_res_block_acts acts;
} cdrl_unet_res;

typedef struct cdrl_unet_attn {
    int C, H, W;
    size_t norm_w, norm_b, qkv_w, qkv_b, out_w, out_b;
    cdrl_attn_block_acts acts;
} cdrl_unet_attn;

// The forward program: ResBlocks and attention blocks in execution order over tensors that
// hold one (B, c, h, w) activation each; skip tensors (the official `hs` stack) keep a
// gradient of their own during backward, the others pass theirs along.
typedef struct cdrl_unet_tensor {
    float *data; // (B, c, h, w)
    float *grad; // set during backward only
    int c, h, w, is_skip;
} cdrl_unet_tensor;

typedef struct cdrl_unet_op {
    int kind;    // 0 ResBlock, 1 attention
    int idx;     // into res[] or attn[]
    int in, out; // tensor ids
    int skip;    // ResBlock on concat(in, skip) when >= 0
} cdrl_unet_op;

typedef struct cdrl_unet {
    cdrl_unet_config cfg;
    cdrl_param_table params;
    float *p;     // parameters in use (own, or an EMA copy)
    float *p_own; // (params.total)
    float *grad;  // (params.total)
    int max_batch, max_levels, n_levels;
    int train; // set by prepare: dropout on
    // Dropout masks come from this Philox stream, seeded at create from the caller's rng. A
    // train-mode forward of B images draws, ResBlock by ResBlock in execution order,
    // ceil(B cout HWo / 4) counter blocks each; eval-mode forwards and dropout 0 draw nothing.
    // So the masks depend only on the seed and the sequence of train-mode batch sizes (not on
    // threads); saving and restoring drop_rng (3 integers) resumes the stream bit for bit.
    cdrl_rng drop_rng;
    // Test hook (NULL in normal use): when set, train-mode forwards take their dropout
    // multipliers (0 or 1/(1-p)) from here instead of drop_rng, ResBlock by ResBlock in
    // execution order, advancing the pointer; a parity test replays another implementation's
    // masks this way.
    const float *replay_dropout;
    size_t init_w, init_b, t1_w, t1_b, t3_w, t3_b, y_w, y_b, norm_w, norm_b, final_w, final_b;
    int n_res, n_attn, n_ops, n_tensors;
    cdrl_unet_res *res;
    cdrl_unet_attn *attn;
    cdrl_unet_op *ops;
    cdrl_unet_tensor *tensors;
    int t_first, t_last; // init_conv output (hs[0]); input of the final norm
    // per level (L rows): sinusoid (L, dim), time_mlp.1 out (L, E), its SiLU, time vector
    // (L, E) and its gradient; E = 4 dim
    float *lvl_e0, *lvl_z, *lvl_a, *lvl_t, *lvl_dt;
    // per forward
    int batch, fwd_dropout;
    int *level;                  // (max_batch) levels of the last forward
    int *fwd_labels;             // (max_batch, A) one-hot columns of the last forward's labels
    float *x;                    // (B, in_ch, HW) copy of the input
    float *t, *st;               // (B, E) time(+class) vector and its SiLU
    float *fn, *mean_f, *rstd_f; // (B, dim, HW) final norm output, (B, 32) its statistics
    cdrl_arena store, scratch;
} cdrl_unet;

// A U-Net for batches of up to max_batch images and up to max_levels noise levels, weights
// drawn from rng with PyTorch's defaults (conv/linear U(+-1/sqrt(fan_in)), GroupNorm 1 and 0,
// the three zero-initialised weights zero), then the dropout seed. NULL when out of memory;
// an invalid config trips an assertion. Every buffer used by forward and backward is
// allocated here.
cdrl_unet *cdrl_unet_create(const cdrl_unet_config *cfg, int max_batch, int max_levels,
                            cdrl_rng *rng);
void cdrl_unet_free(cdrl_unet *m); // NULL is a no-op
// Trainable values (padding excluded): 3,769,795 for cdrl_unet_config_cifar10.
size_t cdrl_unet_n_params(const cdrl_unet *m);
// Runs the time MLP on each level's tau (n_levels values, tau = 1000 (2/pi) atan(exp(-l/2)),
// see cdrl_logsnr_to_tau) and selects train (dropout on) or eval mode. Call after every
// weight update and whenever m->p changes.
void cdrl_unet_prepare(cdrl_unet *m, const float *tau, int n_levels, int train);
// mu (B, in_ch, res, res) = x + net(x, level, label); level (B) indexes prepare's taus, label
// (B) holds classes in 0..n_classes (0 = the null label) or is NULL for the null label
// everywhere; unconditional networks ignore it. Keeps what backward needs (overwritten by the
// next forward). Not thread-safe per model.
void cdrl_unet_forward(cdrl_unet *m, float *mu, const float *x, const int *level, const int *label,
                       int B);
// grad += d sum(dmu * mu) / d params for the last forward (same dropout masks); the level
// path is completed by cdrl_unet_finish_grads. No input gradient: the input is data.
void cdrl_unet_backward(cdrl_unet *m, const float *dmu);
void cdrl_unet_zero_grad(cdrl_unet *m);
void cdrl_unet_finish_grads(cdrl_unet *m);

// The cdrl_net view (borrowed: valid while m lives); prepare's train flag turns dropout on.
cdrl_net cdrl_unet_net(cdrl_unet *m);

#endif // CDRL_MODELS_UNET_H
