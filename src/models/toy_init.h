// The 2-D initializer mu(x_j, lambda_j) of the official toy example (method.md §5.6): a
// residual MLP whose blocks are modulated by a noise-level embedding, with zero-initialised
// output layers so that mu(x) = x at the start. Tensor names are the official state_dict keys
// (h1, temb_map.0/2, module_list.K.{norm1,conv1,mlp.1,norm2,conv2}, final_dense).
// As in the energy network, the level embedding runs once per level, not once per sample.
#ifndef CDRL_MODELS_TOY_INIT_H
#define CDRL_MODELS_TOY_INIT_H

#include "core/core.h"
#include "core/rng.h"
#include "models/net.h"
#include "nn/label_rows.h"
#include "nn/param.h"

#define CDRL_TOY_INIT_MAX_BLOCKS 8

typedef struct cdrl_toy_init_config {
    int in_dim;   // 2
    int t_dim;    // 128: embedding width
    int h_dim;    // 64: hidden width (GroupNorm uses 32 groups)
    int n_blocks; // 1
    int groups;   // GroupNorm groups: 32 (2 features per group at h_dim 64)
    int n_attrs;  // label attributes of a conditional model (nn/label_rows.h); 0: none
    int attr_classes[CDRL_MAX_ATTRS]; // classes of each attribute
} cdrl_toy_init_config;

typedef struct toy_init_block {
    size_t n1_w, n1_b, c1_w, c1_b, mlp_w, mlp_b, n2_w, n2_b, c2_w, c2_b;
    float *lvl_st, *lvl_ss, *lvl_dss;      // silu(t) (R, t_dim); scale|shift (R, 2H) and its grad
    float *h, *n1, *a1, *c1, *n2, *m, *a2; // (B, H) each
    float *mean1, *rstd1, *mean2, *rstd2;  // (B, groups)
} toy_init_block;

typedef struct cdrl_toy_init {
    cdrl_toy_init_config cfg;
    cdrl_param_table params;
    float *p; // parameters; may be pointed at an EMA copy
    float *p_own;
    float *grad;
    size_t h1_w, h1_b, t0_w, t0_b, t2_w, t2_b, final_w;
    int n_blk;
    toy_init_block blk[CDRL_TOY_INIT_MAX_BLOCKS];
    int max_batch, n_levels, n_rows;
    float *lvl_e0, *lvl_z, *lvl_a, *lvl_t, *lvl_dt; // (L, t_dim)
    // Labels (conditional models): t of row (l, c) = t_l + y_mlp(one-hots of c), a Linear
    // (t_dim, NC) as the image U-Net's; R = L C rows (R = L without labels).
    cdrl_label_rows lr;
    size_t y_w, y_b;
    float *row_t, *row_dt, *y_comb; // (R, t_dim), (R, t_dim), (C, t_dim)
    int batch;
    const int *row;        // (B) each sample's row, borrowed until backward
    float *x, *h_last, *o; // (B, in), (B, H), silu(h_last) (B, H)
    cdrl_arena store, scratch;
} cdrl_toy_init;

cdrl_toy_init *cdrl_toy_init_create(const cdrl_toy_init_config *cfg, int max_batch, int n_levels,
                                    cdrl_rng *rng);
void cdrl_toy_init_free(cdrl_toy_init *m);
// Embeds each level's tau (L values); call after every weight update.
void cdrl_toy_init_prepare(cdrl_toy_init *m, const float *tau, int n_levels);
// mu (B, in_dim) for x (B, in_dim) at the given level indices.
// label (B, n_attrs) for a conditional network (NULL: the null labels), ignored otherwise.
void cdrl_toy_init_forward(cdrl_toy_init *m, float *mu, const float *x, const int *level,
                           const int *label, int B);
// Parameter gradients of sum(dmu * mu) for the last forward, accumulated into grad after
// cdrl_toy_init_finish_grads (the input x is data: no input gradient).
void cdrl_toy_init_backward(cdrl_toy_init *m, const float *dmu);
void cdrl_toy_init_zero_grad(cdrl_toy_init *m);
void cdrl_toy_init_finish_grads(cdrl_toy_init *m);

// The cdrl_net view of m (borrowed: valid while m lives). Its prepare ignores train (no
// spectral norm, no dropout) and its backward gives no input gradient.
cdrl_net cdrl_toy_init_net(cdrl_toy_init *m);

#endif // CDRL_MODELS_TOY_INIT_H
