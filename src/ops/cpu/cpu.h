// The cpu backend's ops (ops/ops.h has what each does): oneDNN for the matrix products, OpenMP
// over fixed chunks, so that every result is the same for any thread count.
#ifndef CDRL_OPS_CPU_CPU_H
#define CDRL_OPS_CPU_CPU_H

#include "ops/ops.h"

cdrl_linear_scratch_size_fn cdrl_cpu_linear_scratch_size;
cdrl_linear_forward_fn cdrl_cpu_linear_forward;
cdrl_linear_backward_fn cdrl_cpu_linear_backward;
cdrl_conv2d_scratch_size_fn cdrl_cpu_conv2d_scratch_size;
cdrl_conv2d_forward_fn cdrl_cpu_conv2d_forward;
cdrl_conv2d_backward_fn cdrl_cpu_conv2d_backward;
cdrl_conv2d_input_grad_fn cdrl_cpu_conv2d_input_grad;
// What a convolution applies to each chunk of its output as soon as the chunk is written: the
// input gradient's LeakyReLU backward (as cdrl_cpu_lrelu_backward_set would) or the forward's
// epilogue (ops.h), or neither (both NULL).
typedef struct cdrl_cpu_conv_then {
    const cdrl_lrelu_grad *grad;
    const cdrl_conv_epilogue *fwd;
} cdrl_cpu_conv_then;
// x (B, C, H, W): rows [y0, y1) of every channel of images [i0, i0 + ni) through then, in place
// (and into the epilogue's sum and act).
void cdrl_cpu_conv_then_rows(float *x, const cdrl_cpu_conv_then *then, int C, int H, int W, int i0,
                             int ni, int y0, int y1);
cdrl_avgpool2_forward_fn cdrl_cpu_avgpool2_forward;
cdrl_avgpool2_backward_fn cdrl_cpu_avgpool2_backward;
cdrl_avgpool2_backward_fn cdrl_cpu_avgpool2_backward_set;
cdrl_upsample2_forward_fn cdrl_cpu_upsample2_forward;
cdrl_upsample2_backward_fn cdrl_cpu_upsample2_backward;
cdrl_lrelu_forward_fn cdrl_cpu_lrelu_forward;
cdrl_lrelu_backward_fn cdrl_cpu_lrelu_backward;
cdrl_lrelu_backward_set_fn cdrl_cpu_lrelu_backward_set;
cdrl_relu_forward_fn cdrl_cpu_relu_forward;
cdrl_relu_backward_fn cdrl_cpu_relu_backward;
cdrl_silu_forward_fn cdrl_cpu_silu_forward;
cdrl_silu_backward_fn cdrl_cpu_silu_backward;
cdrl_silu_backward_fn cdrl_cpu_silu_backward_set;
cdrl_groupnorm_forward_fn cdrl_cpu_groupnorm_forward;
cdrl_groupnorm_backward_fn cdrl_cpu_groupnorm_backward;
cdrl_groupnorm_backward_fn cdrl_cpu_groupnorm_backward_set;
cdrl_dropout_forward_fn cdrl_cpu_dropout_forward;
cdrl_dropout_backward_fn cdrl_cpu_dropout_backward;
cdrl_dropout_backward_fn cdrl_cpu_dropout_backward_set;
cdrl_spectral_norm_forward_fn cdrl_cpu_spectral_norm_forward;
cdrl_spectral_norm_backward_fn cdrl_cpu_spectral_norm_backward;
cdrl_timestep_embedding_forward_fn cdrl_cpu_timestep_embedding_forward;
cdrl_timestep_embedding_backward_fn cdrl_cpu_timestep_embedding_backward;
cdrl_attention_scratch_size_fn cdrl_cpu_attention_scratch_size;
cdrl_attention_forward_fn cdrl_cpu_attention_forward;
cdrl_attention_backward_fn cdrl_cpu_attention_backward;
cdrl_concat_forward_fn cdrl_cpu_concat_forward;
cdrl_concat_backward_fn cdrl_cpu_concat_backward;
cdrl_spatial_sum_forward_fn cdrl_cpu_spatial_sum_forward;
cdrl_spatial_sum_backward_fn cdrl_cpu_spatial_sum_backward;
cdrl_add_channel_forward_fn cdrl_cpu_add_channel_forward;
cdrl_add_channel_backward_fn cdrl_cpu_add_channel_backward;
cdrl_zero_fn cdrl_cpu_zero;
cdrl_copy_fn cdrl_cpu_copy;
cdrl_add_into_fn cdrl_cpu_add_into;
cdrl_mul_into_fn cdrl_cpu_mul_into;
cdrl_scale_fn cdrl_cpu_scale;
cdrl_rows_axpby_fn cdrl_cpu_rows_axpby;
cdrl_rows_scale_fn cdrl_cpu_rows_scale;
cdrl_rows_add_scaled_fn cdrl_cpu_rows_add_scaled;
cdrl_rows_divide_fn cdrl_cpu_rows_divide;
cdrl_guidance_mix_fn cdrl_cpu_guidance_mix;
cdrl_tweedie_step_fn cdrl_cpu_tweedie_step;
cdrl_axpy_fn cdrl_cpu_axpy;
cdrl_masked_set_fn cdrl_cpu_masked_set;
cdrl_langevin_update_fn cdrl_cpu_langevin_update;
cdrl_init_loss_fn cdrl_cpu_init_loss;
cdrl_all_finite_fn cdrl_cpu_all_finite;
cdrl_max_abs_fn cdrl_cpu_max_abs;
cdrl_channel_scale_fn cdrl_cpu_channel_scale;
cdrl_channel_dot_fn cdrl_cpu_channel_dot;
cdrl_gather_rows_fn cdrl_cpu_gather_rows;
cdrl_scatter_rows_fn cdrl_cpu_scatter_rows;
cdrl_class_columns_forward_fn cdrl_cpu_class_columns_forward;
cdrl_class_columns_backward_fn cdrl_cpu_class_columns_backward;
cdrl_row_dot_forward_fn cdrl_cpu_row_dot_forward;
cdrl_row_dot_backward_fn cdrl_cpu_row_dot_backward;
cdrl_film_forward_fn cdrl_cpu_film_forward;
cdrl_film_backward_fn cdrl_cpu_film_backward;
cdrl_adam_step_fn cdrl_cpu_adam_step;
cdrl_clip_grad_norm_fn cdrl_cpu_clip_grad_norm;
cdrl_ema_update_fn cdrl_cpu_ema_update;
cdrl_pair_dist2_fn cdrl_cpu_pair_dist2;
cdrl_rbf_sum_fn cdrl_cpu_rbf_sum;
cdrl_softmax_xent_fn cdrl_cpu_softmax_xent;
cdrl_set_precision_fn cdrl_cpu_set_precision;
cdrl_bf16_available_fn cdrl_cpu_bf16_available;

#endif // CDRL_OPS_CPU_CPU_H
