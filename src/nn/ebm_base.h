// What both energy networks (models/toy_ebm, models/img_ebm) are built on: the parameter,
// buffer and derived-weight tables with their flat buffers, the per-level embedding, the list
// of spectrally normalised layers (each with its bias) and the two arenas. A network
// registers its layers in the order of the official module, sizes its own activations, then
// lets the base allocate, initialise, prepare (normalised weights, once per weight update)
// and finish (gradients back to weight_orig) every layer in one place.
#ifndef CDRL_NN_EBM_BASE_H
#define CDRL_NN_EBM_BASE_H

#include "core/core.h"
#include "core/rng.h"
#include "nn/level_embed.h"
#include "nn/param.h"
#include "nn/sn_layer.h"

#define CDRL_EBM_MAX_SN_LAYERS                                                                     \
    260 // 64 image blocks of 4 (CDRL_IMG_EBM_MAX_BLOCKS), y_map, the input conv

typedef struct cdrl_ebm_base {
    cdrl_param_table params, buffers, derived;
    float *p;              // parameters (params.total); may be pointed at an EMA copy
    float *p_own;          // the network's own parameter buffer
    float *grad;           // (params.total)
    float *buf;            // SN u, v (buffers.total)
    float *der;            // normalised weights (derived.total)
    float *dder;           // their gradients
    cdrl_level_embed lemb; // temb_map1, temb_map2 and e per level (L levels, set by prepare)
    cdrl_sn *sn[CDRL_EBM_MAX_SN_LAYERS];    // the network's own SN layers, in registration order
    size_t sn_bias[CDRL_EBM_MAX_SN_LAYERS]; // their biases' offsets in the parameters
    int n_sn;
    cdrl_arena store;   // the buffers above, then the network's own per-level and per-row ones
    cdrl_arena scratch; // kernel and backward temporaries, released after each call
} cdrl_ebm_base;

// Empty tables, then the level embedding's "temb_map1", "temb_map2" (te = temb_dim).
void cdrl_ebm_base_init(cdrl_ebm_base *b, int temb_dim);
void cdrl_ebm_base_deinit(cdrl_ebm_base *b); // frees tables and arenas
// A spectrally normalised Linear in -> out ("<prefix>.weight_orig" (out, in), "<prefix>.bias")
// or 3x3 convolution ((out, in, 3, 3)), recorded for init, prepare and finish.
void cdrl_ebm_base_add_linear(cdrl_ebm_base *b, cdrl_sn *s, size_t *bias, int in, int out,
                              const char *prefix);
void cdrl_ebm_base_add_conv3(cdrl_ebm_base *b, cdrl_sn *s, size_t *bias, int in, int out,
                             const char *prefix);
// Store bytes of the base's own buffers (parameters, gradients, u v, derived weights and
// their gradients, the level embedding for max_levels levels).
size_t cdrl_ebm_base_store_size(const cdrl_ebm_base *b, int max_levels);
// Both arenas from the compute backend (store_bytes includes cdrl_ebm_base_store_size; all
// zero), then the base's buffers carved first: the network carves its own after them.
cdrl_status cdrl_ebm_base_alloc(cdrl_ebm_base *b, size_t store_bytes, size_t scratch_bytes,
                                int max_levels);
// PyTorch's default initialisation of the level embedding and of every recorded layer, in
// registration order (the order of the official modules' draws).
void cdrl_ebm_base_init_weights(cdrl_ebm_base *b, cdrl_rng *rng);
// Normalised weights of every layer (one power iteration first if train) and the level
// embedding e of the L levels tau.
void cdrl_ebm_base_prepare(cdrl_ebm_base *b, const float *tau, int L, int train);
// Gradients and the level embedding's de to zero.
void cdrl_ebm_base_zero_grad(cdrl_ebm_base *b);
// The level embedding's de into its weights, then every layer's derived-weight gradient back
// to weight_orig.
void cdrl_ebm_base_finish(cdrl_ebm_base *b);

#endif // CDRL_NN_EBM_BASE_H
