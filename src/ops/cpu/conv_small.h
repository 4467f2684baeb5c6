// 3x3 convolutions on few channels, by direct loops: the forward of a product that reads 1-4
// channels (the image going into a network) and the input gradient that writes one channel (the
// gradient with respect to a grey image, every Langevin step). Stride 1, zero padding 1, as
// cdrl_conv2d_forward.
#ifndef CDRL_OPS_CPU_CONV_SMALL_H
#define CDRL_OPS_CPU_CONV_SMALL_H

#include "ops/cpu/cpu.h"
#include "ops/ops.h"

// Whether a 3x3 product with C channels on its input side (forward: IC; input gradient, when
// input_grad: the IC it writes) takes the direct loops.
int cdrl_conv_small_applies(const cdrl_conv2d_desc *d, int C, int input_grad);
// Scratch bytes for either call on d (threads as cdrl_threads() now reports).
size_t cdrl_conv_small_scratch_size(const cdrl_conv2d_desc *d);
// out (B, OC, H, W) = conv(inp (B, IC, H, W), w (OC, IC, 3, 3)) + b (OC, or NULL), then then (or
// NULL) on each image.
void cdrl_conv_small_forward(float *out, const float *inp, const float *w, const float *b,
                             const cdrl_conv2d_desc *d, const cdrl_cpu_conv_then *then,
                             cdrl_arena *scratch);
// dinp (B, IC, H, W) = (or += when accumulate) the input gradient of that forward from dout
// (B, OC, H, W); without accumulate, then (or NULL) on each image.
void cdrl_conv_small_input_grad(float *dinp, const float *dout, const float *w,
                                const cdrl_conv2d_desc *d, int accumulate,
                                const cdrl_cpu_conv_then *then, cdrl_arena *scratch);

#endif // CDRL_OPS_CPU_CONV_SMALL_H
