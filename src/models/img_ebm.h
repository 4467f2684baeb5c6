// The image energy network f(y, lambda, c) of the official CDRL code (models/ebm.py and
// models/ebm_cond.py; method.md §5.3, §5.4, §7): a spectrally normalised ResNet on NCHW images
// with a noise-level embedding and an optional class embedding. Leaves out add_q, the swish
// variant and attention (the official EBM has none). Official sizes: ch = temb_dim = 128,
// ch_mult (1,2,2,2), 8 blocks per level, 3x32x32 input (34,833,152 parameters; 35,346,176 with
// 1000 classes).
//
//   tau -> [sin, cos](tau w_k) (temb_dim) -> temb_map1 -> lrelu -> temb_map2 = e (E = 4 temb_dim)
//   with classes: e += y_map(class_gain onehot(c, n_classes + 1)), c = 0 the null label;  le =
//   lrelu(e) h = module_list.0(y)                                  SN conv3x3, in_ch -> ch per
//   level l, width W_l = ch * ch_mult[l], n_blocks blocks, then a 2x2 average pool except after the
//   last level (floor mode as nn.AvgPool2d: 28 -> 14 -> 7 -> 3):
//     a = conv1(lrelu(h)) + lrelu(temb_map(le))[:, :, None, None]
//     h = conv2(lrelu(a)) * g + (short_cut(h) if the width changes, else h)
//   f = sum_c (sum_HW relu(h))_c * temb_final(le)_c       temb_final: no bias, no SN
// LeakyReLU slope 0.2; every conv and linear is spectrally normalised except temb_final.
//
// Tensor names are the official state_dict keys: temb_map1, temb_map2, y_map (conditional
// only), module_list.0, module_list.K.{conv1,conv2,temb_map,short_cut,g}, temb_final.weight,
// each SN layer as {weight_orig, bias} (parameters) and {weight_u, weight_v} (buffers).
// module_list also holds the pooling layers (no parameters), so block k of level l is
// module_list.(1 + l (n_blocks + 1) + k): with 8 blocks, module_list.10 is the first block of
// level 1 and module_list.9 does not exist.
//
// As in the toy network, cdrl_img_ebm_prepare computes the normalised weights once per weight
// update and the embedding MLP once per noise level; forward gathers each sample's embedding,
// adds its class column and runs the per-block projections per sample (with classes there are
// L (n_classes + 1) embeddings, and the projections cost under 0.2 % of the convolutions).
// Gradients reach the normalised weights and the per-level embeddings first and are carried
// back by cdrl_img_ebm_finish_grads. Activations kept for backward: each block's input,
// conv1 + projection and conv2 outputs; the LeakyReLU outputs are recomputed in backward.
#ifndef CDRL_MODELS_IMG_EBM_H
#define CDRL_MODELS_IMG_EBM_H

#include "core/core.h"
#include "core/rng.h"
#include "models/net.h"
#include "nn/ebm_base.h"
#include "nn/label_rows.h"
#include "nn/param.h"
#include "nn/sn_layer.h"

#define CDRL_IMG_EBM_MAX_BLOCKS 64

typedef struct cdrl_img_ebm_config {
    int in_ch;      // image channels: 1 or 3
    int res;        // H = W: 28, 32, 64 (any size >= 2^n_mult works: the last level >= 2x2)
    int ch;         // width of module_list.0 and unit of ch_mult: 128 (= temb_dim officially)
    int temb_dim;   // sinusoid width: 128; the embedding MLP is E = 4 * temb_dim wide
    int n_mult;     // entries of ch_mult (resolution levels): 4
    int ch_mult[8]; // (1, 2, 2, 2)
    int n_blocks;   // blocks per level: 8
    int n_classes;  // 0: unconditional; else y_map on one-hot of n_classes + 1 (0 = null)
    int n_more;     // label attributes after the first, not in the official code: their
                    // one-hots follow the first's in y_map's input (nn/label_rows.h)
    int more_classes[CDRL_MAX_ATTRS - 1];
    float class_gain; // the one-hot's value: 1 (official). Spectral norm keeps each class column
                      // of y_map at norm <= 1 while the time embedding reaches sqrt(temb_dim / 2):
                      // a gain of that size lets the class weigh as much as the noise level
} cdrl_img_ebm_config;

// The official CIFAR-10 network (unconditional, 3x32x32).
void cdrl_img_ebm_config_default(cdrl_img_ebm_config *c);

typedef struct img_ebm_block {
    int in, out; // channels
    int H, W;    // spatial size inside the block
    int pool;    // an average pool follows the block
    cdrl_sn conv1, conv2, temb, shortcut;
    size_t b1, b2, bt, bs, g; // biases and the gain g (1, out, 1, 1), in the parameters
    // activations of the last forward (B images)
    float *h;  // (B, in, H, W) block input
    float *s;  // (B, out, H, W) conv1(lrelu(h)) + lrelu(z)
    float *c2; // (B, out, H, W) conv2(lrelu(s)), before the gain
    float *z;  // (B, out) temb_map(le), before its activation
} img_ebm_block;

typedef struct cdrl_img_ebm {
    cdrl_img_ebm_config cfg;
    cdrl_ebm_base base; // tables, parameters, SN layers, level embedding, arenas
    cdrl_sn ymap, in;
    size_t ymap_b, in_b, final_w;
    int n_blk;
    img_ebm_block blk[CDRL_IMG_EBM_MAX_BLOCKS];
    int width_out, H_out, W_out; // shape of the last block's output
    size_t max_f, max_out;       // widest feature map (C*H*W) and projection (C) per image
    int max_batch, max_levels;
    int n_levels; // L of the last prepare
    // last forward
    int batch;
    int *level, *label; // (B) the last forward's levels; (B, A) its labels' one-hot columns
    float *x;           // (B, in_ch, res, res) input copy
    float *h_final;     // (B, width_out, H_out, W_out) last block output
    float *e, *le;      // (B, E) per-sample embedding and its lrelu
    float *q, *v;       // (B, width_out) temb_final(le) and sum_HW relu(h_final)
} cdrl_img_ebm;

// Builds the network for batches of at most max_batch images and up to n_levels noise levels,
// initialised as PyTorch initialises it (weights and biases U(+-1/sqrt(fan_in)), g = 1, u and v
// normalised Gaussians), seeded by rng. Needs res >= 2^n_mult. Returns NULL on
// out-of-memory. Scratch is sized for the thread count at the time of the call (more threads
// later only run fewer conv workers than they could).
cdrl_img_ebm *cdrl_img_ebm_create(const cdrl_img_ebm_config *cfg, int max_batch, int n_levels,
                                  cdrl_rng *rng);
void cdrl_img_ebm_free(cdrl_img_ebm *m); // NULL is a no-op
// Trainable parameters of the network cfg describes (SN buffers excluded), without building
// it: 34,833,152 for the official CIFAR-10 network.
size_t cdrl_img_ebm_param_count(const cdrl_img_ebm_config *cfg);
// Normalised weights (one power iteration first if train) and the embedding of each level's
// tau (L values). Call after every weight update and whenever p changes.
void cdrl_img_ebm_prepare(cdrl_img_ebm *m, const float *tau, int n_levels, int train);
// f (B) = f(y, lambda_level, label) for y (B, in_ch, res, res), level (B) indices into the
// prepared levels, label (B) classes in 0..n_classes (0 = null label) or NULL for the null
// label everywhere. Unconditional networks ignore label. Both arrays are copied.
void cdrl_img_ebm_forward(cdrl_img_ebm *m, float *f, const float *y, const int *level,
                          const int *label, int B);
// Backward of the last forward with df (B): dy (B, in_ch, res, res) += df/dy (NULL skips);
// with param_grads, accumulates into grad, the normalised-weight and the per-level gradients.
void cdrl_img_ebm_backward(cdrl_img_ebm *m, float *dy, const float *df, int param_grads);
// Zeroes every gradient buffer.
void cdrl_img_ebm_zero_grad(cdrl_img_ebm *m);
// Carries the accumulated per-level and normalised-weight gradients into grad.
void cdrl_img_ebm_finish_grads(cdrl_img_ebm *m);

// The cdrl_net view of m (borrowed: valid while m lives). dim = in_ch * res * res.
cdrl_net cdrl_img_ebm_net(cdrl_img_ebm *m);

#endif // CDRL_MODELS_IMG_EBM_H
