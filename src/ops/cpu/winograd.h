// Winograd F(4x4, 3x3) for the cpu backend's stride-1 3x3 convolutions (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016, https://arxiv.org/abs/1509.09308): each
// 4x4 output tile is A^T [ (G g G^T) ⊙ (B^T d B) ] A of a 6x6 input tile d and the 3x3 kernel
// g, 36 products per tile and channel pair instead of 144. The transforms are ours; the 36
// products per chunk of tiles, (OC, C) x (C, tiles), go through cdrl_sgemm. Chunks of tiles
// are fixed by the shape alone, so results never depend on the thread count. The error against
// the direct convolution is measured by test_backends (a few float roundings of the output's
// scale: the transforms multiply by at most 8 and divide by 24).
#ifndef CDRL_OPS_CPU_WINOGRAD_H
#define CDRL_OPS_CPU_WINOGRAD_H

#include "ops/cpu/cpu.h"
#include "ops/ops.h"

// Whether the 3x3 convolution d runs through Winograd: for C input and OC output channels of
// the product (forward: IC, OC; input gradient: OC, IC). Measured rule: see winograd.c.
int cdrl_wino_applies(const cdrl_conv2d_desc *d, int C, int OC);
// Whether its kernel gradient does too (the forward product's rule, on larger maps).
int cdrl_wino_weight_grad_applies(const cdrl_conv2d_desc *d);
// Scratch bytes for any of the calls below on d (threads as cdrl_threads() now reports).
size_t cdrl_wino_scratch_size(const cdrl_conv2d_desc *d);
// out (B, OC, H, W) = (or += when accumulate) conv(inp (B, C, H, W), kernel) + b (OC, or NULL).
// The kernel is w (OC, C, 3, 3), or with flip the input gradient's kernel taken from the forward
// kernel w (C, OC, 3, 3): channels swapped and rotated by 180 degrees. Without accumulate, then
// (or NULL) is applied to each chunk of out as soon as it is written (cdrl_cpu_conv_then_rows).
void cdrl_wino_conv(float *out, const float *inp, const float *w, const float *b, int C, int OC,
                    int flip, const cdrl_conv2d_desc *d, int accumulate,
                    const cdrl_cpu_conv_then *then, cdrl_arena *scratch);
// dw (OC, IC, 3, 3) += the kernel gradient of the forward convolution d, from dout (B, OC, H, W)
// and inp (B, IC, H, W).
void cdrl_wino_weight_grad(float *dw, const float *dout, const float *inp,
                           const cdrl_conv2d_desc *d, cdrl_arena *scratch);

#endif // CDRL_OPS_CPU_WINOGRAD_H
