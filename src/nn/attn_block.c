// The U-Net self-attention block, built from the GroupNorm, 1x1-conv and attention kernels
// of ops.h (see attn_block.h). Forward saves the GroupNorm output, its statistics, qkv, the
// attention probabilities and the attention output; backward runs the chain in reverse.
// Leaves out: multi-head attention and the zero init of to_out (the network's initializer
// does that). Reference: method.md §5.5, official models/unet.py Attention.
#include "nn/attn_block.h"

#include <string.h>

#include "ops/ops.h"

static cdrl_conv2d_desc conv1x1(int B, int IC, int OC, int H, int W) {
    cdrl_conv2d_desc d = {B, IC, OC, H, W, 1};
    return d;
}

size_t cdrl_attn_block_acts_size(const cdrl_attn_block *p, int B, int N) {
    size_t CN = (size_t)B * p->C * N, BG = (size_t)B * p->G;
    return 2 * cdrl_arena_floats_size(CN) + 2 * cdrl_arena_floats_size(BG) +
           cdrl_arena_floats_size(3 * CN) + cdrl_arena_floats_size((size_t)B * N * N);
}

void cdrl_attn_block_acts_alloc(cdrl_attn_block_acts *acts, cdrl_arena *arena,
                                const cdrl_attn_block *p, int B, int N) {
    size_t CN = (size_t)B * p->C * N, BG = (size_t)B * p->G;
    acts->norm = cdrl_arena_floats(arena, CN);
    acts->mean = cdrl_arena_floats(arena, BG);
    acts->rstd = cdrl_arena_floats(arena, BG);
    acts->qkv = cdrl_arena_floats(arena, 3 * CN);
    acts->probs = cdrl_arena_floats(arena, (size_t)B * N * N);
    acts->o = cdrl_arena_floats(arena, CN);
}

// The largest scratch any one kernel of the block asks for; the kernels run one after the
// other, each releasing its scratch before the next.
static size_t kernels_scratch(const cdrl_attn_block *p, int B, int H, int W) {
    cdrl_conv2d_desc dq = conv1x1(B, p->C, 3 * p->C, H, W), dout = conv1x1(B, p->C, p->C, H, W);
    size_t s = cdrl_conv2d_scratch_size(&dq), t = cdrl_conv2d_scratch_size(&dout);
    size_t a = cdrl_attention_scratch_size(B, p->C, H * W);
    if (t > s) s = t;
    return a > s ? a : s;
}

size_t cdrl_attn_block_scratch_size(const cdrl_attn_block *p, int B, int H, int W) {
    size_t CN = (size_t)B * p->C * H * W;
    // Backward holds d o, d qkv and d norm while the kernels run; forward holds nothing.
    return 2 * cdrl_arena_floats_size(CN) + cdrl_arena_floats_size(3 * CN) +
           kernels_scratch(p, B, H, W);
}

void cdrl_attn_block_forward(float *out, cdrl_attn_block_acts *acts, const float *inp,
                             const cdrl_attn_block *p, int B, int H, int W, cdrl_arena *scratch) {
    CDRL_ASSERT(out && acts && inp && p && out != inp && p->G > 0 && p->C % p->G == 0);
    int C = p->C, N = H * W;
    size_t n = (size_t)B * C * N;
    cdrl_conv2d_desc dq = conv1x1(B, C, 3 * C, H, W), dout = conv1x1(B, C, C, H, W);
    cdrl_groupnorm_forward(acts->norm, acts->mean, acts->rstd, inp, p->norm_w, p->norm_b, B, C, N,
                           p->G, p->eps);
    cdrl_conv2d_forward(acts->qkv, acts->norm, p->qkv_w, p->qkv_b, &dq, scratch);
    cdrl_attention_forward(acts->o, acts->probs, acts->qkv, B, C, N, scratch);
    cdrl_conv2d_forward(out, acts->o, p->out_w, p->out_b, &dout, scratch);
    cdrl_add_into(out, inp, n);
}

void cdrl_attn_block_backward(float *dinp, const cdrl_attn_block_grads *grads, const float *dout,
                              const cdrl_attn_block_acts *acts, const float *inp,
                              const cdrl_attn_block *p, int B, int H, int W, cdrl_arena *scratch) {
    CDRL_ASSERT(dout && acts && inp && p && scratch);
    static const cdrl_attn_block_grads none = {0};
    const cdrl_attn_block_grads *g = grads ? grads : &none;
    int want_params = g->norm_w || g->norm_b || g->qkv_w || g->qkv_b || g->out_w || g->out_b;
    if (!dinp && !want_params) return;
    int C = p->C, N = H * W;
    size_t n = (size_t)B * C * N;
    cdrl_conv2d_desc dq = conv1x1(B, C, 3 * C, H, W), dproj = conv1x1(B, C, C, H, W);

    // The residual path: d x gets dout unchanged.
    if (dinp) cdrl_add_into(dinp, dout, n);

    size_t mark = cdrl_arena_mark(scratch);
    float *d_o = cdrl_arena_floats(scratch, n);       // (B, C, N)
    float *d_qkv = cdrl_arena_floats(scratch, 3 * n); // (B, 3C, N)
    float *d_norm = cdrl_arena_floats(scratch, n);    // (B, C, N)
    // The attention's backward adds to d_qkv, so it starts at zero; the convolutions' input
    // gradients are written.
    cdrl_zero(d_qkv, 3 * n);

    // d norm is needed for d x and for GroupNorm's own parameters only.
    int want_norm = dinp || g->norm_w || g->norm_b;
    cdrl_conv2d_input_grad(d_o, dout, p->out_w, NULL, &dproj, scratch);
    cdrl_conv2d_backward(NULL, g->out_w, g->out_b, dout, acts->o, p->out_w, &dproj, scratch);
    cdrl_attention_backward(d_qkv, d_o, acts->probs, acts->qkv, B, C, N, scratch);
    if (want_norm) cdrl_conv2d_input_grad(d_norm, d_qkv, p->qkv_w, NULL, &dq, scratch);
    cdrl_conv2d_backward(NULL, g->qkv_w, g->qkv_b, d_qkv, acts->norm, p->qkv_w, &dq, scratch);
    if (want_norm) {
        cdrl_groupnorm_backward(dinp, g->norm_w, g->norm_b, d_norm, inp, acts->mean, acts->rstd,
                                p->norm_w, B, C, N, p->G);
    }
    cdrl_arena_release(scratch, mark);
}
