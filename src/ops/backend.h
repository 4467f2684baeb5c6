// Compute backends: one table of functions per backend, holding every op of ops/ops.h and the
// allocation of the buffers the ops work on. The ops.h functions call the active backend's
// table, so networks, trainer and sampler never touch tensor memory themselves.
//
// Backends: "cpu" (oneDNN GEMMs, OpenMP, fixed-chunk reductions: the default) and "ref"
// (scalar loops written for obviousness, one thread: the yardstick the cpu kernels are tested
// against). Choose one before making models: buffers are allocated by the backend active then.
// The environment variable CDRL_BACKEND names the backend used when none was chosen.
// docs/backends.md says what a new backend (CUDA) has to provide.
#ifndef CDRL_OPS_BACKEND_H
#define CDRL_OPS_BACKEND_H

#include "ops/ops.h"

typedef struct cdrl_backend {
    const char *name;
    void *(*alloc)(size_t bytes); // NULL when out of memory
    void (*free)(void *p);
    cdrl_linear_scratch_size_fn *linear_scratch_size;
    cdrl_linear_forward_fn *linear_forward;
    cdrl_linear_backward_fn *linear_backward;
    cdrl_conv2d_scratch_size_fn *conv2d_scratch_size;
    cdrl_conv2d_forward_fn *conv2d_forward;
    cdrl_conv2d_backward_fn *conv2d_backward;
    cdrl_conv2d_input_grad_fn *conv2d_input_grad;
    cdrl_avgpool2_forward_fn *avgpool2_forward;
    cdrl_avgpool2_backward_fn *avgpool2_backward;
    cdrl_avgpool2_backward_fn *avgpool2_backward_set;
    cdrl_upsample2_forward_fn *upsample2_forward;
    cdrl_upsample2_backward_fn *upsample2_backward;
    cdrl_lrelu_forward_fn *lrelu_forward;
    cdrl_lrelu_backward_fn *lrelu_backward;
    cdrl_lrelu_backward_set_fn *lrelu_backward_set;
    cdrl_relu_forward_fn *relu_forward;
    cdrl_relu_backward_fn *relu_backward;
    cdrl_silu_forward_fn *silu_forward;
    cdrl_silu_backward_fn *silu_backward;
    cdrl_silu_backward_fn *silu_backward_set;
    cdrl_groupnorm_forward_fn *groupnorm_forward;
    cdrl_groupnorm_backward_fn *groupnorm_backward;
    cdrl_groupnorm_backward_fn *groupnorm_backward_set;
    cdrl_dropout_forward_fn *dropout_forward;
    cdrl_dropout_backward_fn *dropout_backward;
    cdrl_dropout_backward_fn *dropout_backward_set;
    cdrl_spectral_norm_forward_fn *spectral_norm_forward;
    cdrl_spectral_norm_backward_fn *spectral_norm_backward;
    cdrl_timestep_embedding_forward_fn *timestep_embedding_forward;
    cdrl_timestep_embedding_backward_fn *timestep_embedding_backward;
    cdrl_attention_scratch_size_fn *attention_scratch_size;
    cdrl_attention_forward_fn *attention_forward;
    cdrl_attention_backward_fn *attention_backward;
    cdrl_concat_forward_fn *concat_forward;
    cdrl_concat_backward_fn *concat_backward;
    cdrl_spatial_sum_forward_fn *spatial_sum_forward;
    cdrl_spatial_sum_backward_fn *spatial_sum_backward;
    cdrl_add_channel_forward_fn *add_channel_forward;
    cdrl_add_channel_backward_fn *add_channel_backward;
    cdrl_zero_fn *zero;
    cdrl_copy_fn *copy;
    cdrl_add_into_fn *add_into;
    cdrl_mul_into_fn *mul_into;
    cdrl_scale_fn *scale;
    cdrl_rows_axpby_fn *rows_axpby;
    cdrl_rows_scale_fn *rows_scale;
    cdrl_rows_add_scaled_fn *rows_add_scaled;
    cdrl_rows_divide_fn *rows_divide;
    cdrl_guidance_mix_fn *guidance_mix;
    cdrl_tweedie_step_fn *tweedie_step;
    cdrl_axpy_fn *axpy;
    cdrl_masked_set_fn *masked_set;
    cdrl_langevin_update_fn *langevin_update;
    cdrl_init_loss_fn *init_loss;
    cdrl_all_finite_fn *all_finite;
    cdrl_max_abs_fn *max_abs;
    cdrl_channel_scale_fn *channel_scale;
    cdrl_channel_dot_fn *channel_dot;
    cdrl_gather_rows_fn *gather_rows;
    cdrl_scatter_rows_fn *scatter_rows;
    cdrl_class_columns_forward_fn *class_columns_forward;
    cdrl_class_columns_backward_fn *class_columns_backward;
    cdrl_row_dot_forward_fn *row_dot_forward;
    cdrl_row_dot_backward_fn *row_dot_backward;
    cdrl_film_forward_fn *film_forward;
    cdrl_film_backward_fn *film_backward;
    cdrl_adam_step_fn *adam_step;
    cdrl_clip_grad_norm_fn *clip_grad_norm;
    cdrl_ema_update_fn *ema_update;
    cdrl_pair_dist2_fn *pair_dist2;
    cdrl_rbf_sum_fn *rbf_sum;
    cdrl_softmax_xent_fn *softmax_xent;
    cdrl_set_precision_fn *set_precision;
    cdrl_bf16_available_fn *bf16_available;
} cdrl_backend;

extern const cdrl_backend cdrl_backend_cpu;
extern const cdrl_backend cdrl_backend_ref;

// The backend that ops.h calls (cpu unless CDRL_BACKEND or cdrl_backend_select said otherwise).
const cdrl_backend *cdrl_backend_active(void);
// Makes the backend called name ("cpu", "ref") the active one; CDRL_STATUS_INVALID with a
// message for an unknown name.
cdrl_status cdrl_backend_select(const char *name);
// An arena whose memory comes from the active backend (cdrl_arena_deinit returns it there).
cdrl_status cdrl_device_arena_init(cdrl_arena *a, size_t bytes);

#endif // CDRL_OPS_BACKEND_H
