// The initializer U-Net's residual block (method.md §5.5; official models/unet.py ResnetBlock
// with its time MLP): a = R(SiLU(GroupNorm(x))), h = GroupNorm(conv1(a)), h = SiLU(h (1 +
// scale) + shift) with (scale | shift) = Linear(SiLU(t)), dropout, out = conv2(h) + S(R(x)),
// where R is the block's resampling (none, 2x2 average pooling or x2 nearest upsampling) and
// S the 1x1 res_conv when the channel count changes, else the identity.
// Leaves out parameter storage: the block points at parameters in the network's flat buffer.
#ifndef CDRL_NN_RES_BLOCK_H
#define CDRL_NN_RES_BLOCK_H

#include <stddef.h>

#include "core/core.h"
#include "core/rng.h"

enum { CDRL_RESAMPLE_NONE = 0, CDRL_RESAMPLE_DOWN = 1, CDRL_RESAMPLE_UP = 2 };

// Sizes and borrowed pointers to the parameters (names as in the official state_dict).
typedef struct cdrl_res_block {
    int cin, cout;      // channels in and out
    int H, W;           // input size; the output is H/2 (down), 2H (up) or H
    int resample;       // CDRL_RESAMPLE_*
    int E;              // width of the time vector t
    int G;              // GroupNorm groups (32 in the U-Net)
    float eps;          // GroupNorm eps (1e-6 in the U-Net)
    float dropout;      // p of the dropout before conv2 (training mode only)
    const float *n1_w;  // (cin) norm1.weight, then .bias
    const float *n1_b;  // (cin)
    const float *n2_w;  // (cout) norm2.weight
    const float *n2_b;  // (cout)
    const float *c1_w;  // (cout, cin, 3, 3) conv1.weight
    const float *c1_b;  // (cout)
    const float *c2_w;  // (cout, cout, 3, 3) conv2.weight
    const float *c2_b;  // (cout)
    const float *mlp_w; // (2 cout, E) mlp.1.weight
    const float *mlp_b; // (2 cout)
    const float *sc_w;  // (cout, cin, 1, 1) res_conv.weight; NULL when cin == cout
    const float *sc_b;  // (cout)
} cdrl_res_block;

// Parameter gradients, same layout (all required; sc_* when the block has res_conv).
typedef struct cdrl_res_block_grads {
    float *n1_w, *n1_b, *n2_w, *n2_b, *c1_w, *c1_b, *c2_w, *c2_b, *mlp_w, *mlp_b, *sc_w, *sc_b;
} cdrl_res_block_grads;

// What forward saves for backward.
typedef struct cdrl_res_block_acts {
    float *n1;            // (B, cin, H W) norm1 output
    float *mean1, *rstd1; // (B, G)
    float *xr;            // (B, cin, Ho Wo) the resampled input; NULL without resampling
    float *c1;            // (B, cout, Ho Wo) conv1 output
    float *n2;            // (B, cout, Ho Wo) norm2 output
    float *mean2, *rstd2; // (B, G)
    float *mask;          // (B, cout, Ho Wo) dropout multipliers; NULL when dropout is 0
    float *ss;            // (B, 2 cout) scale | shift per sample
} cdrl_res_block_acts;

// Output height (width) of a block whose input is H high.
int cdrl_res_block_out_size(const cdrl_res_block *p, int H);
// Bytes of arena that cdrl_res_block_acts_alloc takes for B images.
size_t cdrl_res_block_acts_size(const cdrl_res_block *p, int B);
void cdrl_res_block_acts_alloc(cdrl_res_block_acts *acts, cdrl_arena *arena,
                               const cdrl_res_block *p, int B);
// Scratch bytes forward and backward need (both release it).
size_t cdrl_res_block_scratch_size(const cdrl_res_block *p, int B);

// out (B, cout, Ho, Wo) = block(inp (B, cin, H, W), st (B, E) = SiLU(t)); fills acts. train:
// dropout active (masks drawn from rng, or copied from replay (B, cout, Ho Wo) when given:
// a parity test's hook); otherwise no dropout.
void cdrl_res_block_forward(float *out, cdrl_res_block_acts *acts, const float *inp,
                            const float *st, const cdrl_res_block *p, int B, int train,
                            cdrl_rng *rng, const float *replay, cdrl_arena *scratch);
// dinp (B, cin, H, W) = d loss / d inp (accumulate: +=); dst (B, E) += d loss / d st; grads +=
// the parameter gradients. dout (B, cout, Ho, Wo); inp, st, acts and train as given to the
// forward.
void cdrl_res_block_backward(float *dinp, float *dst, const cdrl_res_block_grads *grads,
                             const float *dout, const cdrl_res_block_acts *acts, const float *inp,
                             const float *st, const cdrl_res_block *p, int B, int train,
                             int accumulate, cdrl_arena *scratch);

#endif // CDRL_NN_RES_BLOCK_H
