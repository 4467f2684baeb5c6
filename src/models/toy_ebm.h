// The 2-D energy network f(y, lambda) of the official toy example (method.md §5.6): a
// spectrally normalised residual MLP with a noise-level embedding. Tensor names are the
// official state_dict keys (temb_map1, temb_map2, module_list.K..., final_dense). Not in the
// official code: class labels of several attributes (nn/label_rows.h, tensor y_map).
//
// The embedding path depends only on the noise level, so cdrl_toy_ebm_prepare computes it once
// per level (and the normalised weights once per weight update); forward and backward then
// gather each sample's level. Parameter gradients reach the per-level embedding outputs and
// the normalised weights first and are carried back once per step by
// cdrl_toy_ebm_finish_grads.
#ifndef CDRL_MODELS_TOY_EBM_H
#define CDRL_MODELS_TOY_EBM_H

#include "core/core.h"
#include "core/rng.h"
#include "models/net.h"
#include "nn/ebm_base.h"
#include "nn/label_rows.h"
#include "nn/param.h"
#include "nn/sn_layer.h"

#define CDRL_TOY_EBM_MAX_BLOCKS 16

typedef struct cdrl_toy_ebm_config {
    int in_dim;     // 2
    int ch;         // base width: 128 (the official code ties it to temb_dim)
    int temb_dim;   // sinusoid width: 128; the embedding MLP is 4 * temb_dim wide
    int n_mult;     // number of entries of ch_mult: 4
    int ch_mult[8]; // (1, 2, 2, 2)
    int n_blocks;   // blocks per entry: 1
    int n_attrs;    // label attributes of a conditional model (nn/label_rows.h); 0: none
    int attr_classes[CDRL_MAX_ATTRS]; // classes of each attribute
} cdrl_toy_ebm_config;

void cdrl_toy_ebm_config_default(cdrl_toy_ebm_config *c);

typedef struct toy_ebm_block {
    int in, out;
    cdrl_sn conv1, conv2, temb, shortcut;
    size_t b1, b2, bt, bs, g; // biases and the per-channel gain (params)
    // per-row (level, or level and labels) embedding projection: lrelu(temb(lrelu(e))) and
    // its pre-activation
    float *lvl_z, *lvl_tp, *lvl_dtp; // (R, out)
    // activations of the last forward (B rows)
    float *h, *a1, *s, *a2, *c2; // h (B, in) block input; the rest (B, out)
} toy_ebm_block;

typedef struct cdrl_toy_ebm {
    cdrl_toy_ebm_config cfg;
    cdrl_ebm_base base; // tables, parameters, SN layers, level embedding, arenas
    cdrl_sn in;
    size_t in_b, final_w;
    int n_blk;
    toy_ebm_block blk[CDRL_TOY_EBM_MAX_BLOCKS];
    int width_out; // channels of the last block
    int max_batch;
    int n_levels;            // L of the last prepare
    int n_rows;              // R = L C of the last prepare (C = 1 without labels)
    float *lvl_le, *lvl_dle; // (R, 4 temb_dim): lrelu(e) per row, which the blocks read
    // Labels (conditional models): e of a row = e_level + y_map(one-hots of its labels), a
    // plain Linear (4 temb_dim, NC) registered after every official tensor.
    cdrl_label_rows lr;
    size_t y_w, y_b;
    float *lvl_e, *y_comb; // (R, 4 temb_dim) e per row; (C, 4 temb_dim) y_map per combination
    // last forward
    int batch;
    const int *row; // (B) each sample's row, borrowed until backward
    float *x, *r;   // input copy (B, in_dim); relu of the final features (B, width_out)
    float *h_final; // (B, width_out)
} cdrl_toy_ebm;

// Builds the network for batches of at most max_batch rows and up to n_levels noise levels,
// initialised as PyTorch initialises it (seeded by rng). Returns NULL on out-of-memory.
cdrl_toy_ebm *cdrl_toy_ebm_create(const cdrl_toy_ebm_config *cfg, int max_batch, int n_levels,
                                  cdrl_rng *rng);
void cdrl_toy_ebm_free(cdrl_toy_ebm *m);
// Normalised weights (one power iteration first if train) and the embedding of each level's
// tau (L values). Call after every weight update and whenever p changes.
void cdrl_toy_ebm_prepare(cdrl_toy_ebm *m, const float *tau, int n_levels, int train);
// f (B) = f(y, lambda_level) for y (B, in_dim), level (B) indices into the prepared levels.
// label (B, n_attrs) for a conditional network (NULL: the null labels), ignored otherwise.
void cdrl_toy_ebm_forward(cdrl_toy_ebm *m, float *f, const float *y, const int *level,
                          const int *label, int B);
// Backward of the last forward with df (B): dy (B, in_dim) += df/dy (NULL skips); with
// param_grads, accumulates into the derived and per-level gradients.
void cdrl_toy_ebm_backward(cdrl_toy_ebm *m, float *dy, const float *df, int param_grads);
// Zeroes every gradient buffer.
void cdrl_toy_ebm_zero_grad(cdrl_toy_ebm *m);
// Carries the accumulated per-level and normalised-weight gradients into grad.
void cdrl_toy_ebm_finish_grads(cdrl_toy_ebm *m);

// The cdrl_net view of m (borrowed: valid while m lives).
cdrl_net cdrl_toy_ebm_net(cdrl_toy_ebm *m);

#endif // CDRL_MODELS_TOY_EBM_H
