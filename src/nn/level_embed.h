// The per-level embedding both energy networks start from (method.md §5.4, §5.6): for each
// noise level l of the schedule,
//   e_l = temb_map2(lrelu(temb_map1(sinusoid(tau_l))))
// with spectrally normalised linear maps te -> 4 te -> 4 te. Every sample of a level shares
// e_l, so it is computed once per weight update for the L levels (prepare), not per sample;
// the network's batch backward accumulates de (L, 4 te), and finish maps it to the weights.
#ifndef CDRL_NN_LEVEL_EMBED_H
#define CDRL_NN_LEVEL_EMBED_H

#include "core/core.h"
#include "core/rng.h"
#include "nn/param.h"
#include "nn/sn_layer.h"

typedef struct cdrl_level_embed {
    int te, E;             // sinusoid width, embedding width 4 te
    int max_levels;        // rows of the tables below
    int n_levels;          // L of the last prepare
    cdrl_sn map1, map2;    // temb_map1 (te -> E), temb_map2 (E -> E)
    size_t map1_b, map2_b; // their biases, in the parameters
    float *tau;            // (L) the levels' logSNR inputs
    float *e0;             // (L, te) sinusoids
    float *z1, *a1, *e;    // (L, E): temb_map1's output, its lrelu, e
    float *de;             // (L, E) gradient of e, accumulated by the network's backward
} cdrl_level_embed;

// Registers "temb_map1" and "temb_map2" (weight_orig, bias; u, v; the normalised weight) in
// the network's tables, in the official order.
void cdrl_level_embed_register(cdrl_level_embed *le, cdrl_param_table *params,
                               cdrl_param_table *buffers, cdrl_param_table *derived, int temb_dim);
// Bytes of the per-level tables, to carve from the network's store with
// cdrl_level_embed_carve; bytes of scratch that forward and finish need.
size_t cdrl_level_embed_store_size(int temb_dim, int max_levels);
void cdrl_level_embed_carve(cdrl_level_embed *le, cdrl_arena *store, int max_levels);
size_t cdrl_level_embed_scratch_size(int temb_dim, int max_levels);
// PyTorch's default initialisation of both maps (cdrl_sn_init_default), map1 first.
void cdrl_level_embed_init(const cdrl_level_embed *le, float *params, float *buffers,
                           cdrl_rng *rng);
// The normalised weights of both maps (cdrl_sn_prepare), then e for the L levels tau.
void cdrl_level_embed_prepare(cdrl_level_embed *le, const float *tau, int L, float *derived,
                              float *buffers, const float *params, int train, cdrl_arena *scratch);
// de = 0 (for all max_levels rows).
void cdrl_level_embed_zero_grad(cdrl_level_embed *le);
// Back from de through both maps: bias gradients into dparams, normalised-weight gradients
// into dderived and from there to weight_orig (cdrl_sn_finish).
void cdrl_level_embed_finish(const cdrl_level_embed *le, float *dparams, float *dderived,
                             const float *derived, const float *params, const float *buffers,
                             cdrl_arena *scratch);

#endif // CDRL_NN_LEVEL_EMBED_H
