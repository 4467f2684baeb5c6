// The initializer U-Net's self-attention block (method.md §5.5; official models/unet.py
// Attention with one head): a = GroupNorm(G, C, eps)(x); qkv = Conv1x1(C -> 3C)(a);
// o = attention(qkv) over the H*W positions; out = x + Conv1x1(C -> C)(o).
// Leaves out: several heads (CDRL uses one) and parameter storage: the block only points at
// parameters that live in the network's flat buffer.
#ifndef CDRL_NN_ATTN_BLOCK_H
#define CDRL_NN_ATTN_BLOCK_H

#include <stddef.h>

#include "core/core.h"

// Borrowed pointers to the parameters (names as in the official state_dict) and the sizes.
typedef struct cdrl_attn_block {
    int C;               // channels; C % G == 0
    int G;               // GroupNorm groups (32 in the U-Net)
    float eps;           // GroupNorm eps (1e-6 in the U-Net)
    const float *norm_w; // (C) norm.weight
    const float *norm_b; // (C) norm.bias
    const float *qkv_w;  // (3C, C, 1, 1) to_qkv.weight
    const float *qkv_b;  // (3C) to_qkv.bias
    const float *out_w;  // (C, C, 1, 1) to_out.weight
    const float *out_b;  // (C) to_out.bias
} cdrl_attn_block;

// Parameter gradients, same layout; any pointer may be NULL to skip that gradient, and the
// whole struct pointer may be NULL to skip all of them (Langevin needs only dx).
typedef struct cdrl_attn_block_grads {
    float *norm_w, *norm_b; // (C)
    float *qkv_w;           // (3C, C)
    float *qkv_b;           // (3C)
    float *out_w;           // (C, C)
    float *out_b;           // (C)
} cdrl_attn_block_grads;

// What forward saves for backward. Filled by cdrl_attn_block_acts_alloc from an arena (or
// pointed at caller memory of the shapes below).
typedef struct cdrl_attn_block_acts {
    float *norm;  // (B, C, N)  GroupNorm output
    float *mean;  // (B, G)
    float *rstd;  // (B, G)
    float *qkv;   // (B, 3C, N)
    float *probs; // (B, N, N)  attention probabilities
    float *o;     // (B, C, N)  attention output, input of to_out
} cdrl_attn_block_acts;

// Bytes of arena that cdrl_attn_block_acts_alloc takes for B images of N = H*W positions.
size_t cdrl_attn_block_acts_size(const cdrl_attn_block *p, int B, int N);
// Carves acts from arena (which must have cdrl_attn_block_acts_size bytes free); the memory
// stays taken until the caller releases the arena past it.
void cdrl_attn_block_acts_alloc(cdrl_attn_block_acts *acts, cdrl_arena *arena,
                                const cdrl_attn_block *p, int B, int N);
// Scratch bytes that forward and backward need on top of the acts (both release it).
size_t cdrl_attn_block_scratch_size(const cdrl_attn_block *p, int B, int H, int W);

// out (B, C, H, W) = block(inp); out must not alias inp. Fills acts. Thread-safe for distinct
// out/acts/scratch; results are identical for any thread count.
void cdrl_attn_block_forward(float *out, cdrl_attn_block_acts *acts, const float *inp,
                             const cdrl_attn_block *p, int B, int H, int W, cdrl_arena *scratch);
// dinp (B, C, H, W) += d loss / d inp (NULL skips it); grads (or any of its fields) += the
// parameter gradients, NULL skips them. dout (B, C, H, W); inp and acts as given to / filled
// by the matching forward.
void cdrl_attn_block_backward(float *dinp, const cdrl_attn_block_grads *grads, const float *dout,
                              const cdrl_attn_block_acts *acts, const float *inp,
                              const cdrl_attn_block *p, int B, int H, int W, cdrl_arena *scratch);

#endif // CDRL_NN_ATTN_BLOCK_H
