// The image energy network (see img_ebm.h): parameter table, per-level embedding path,
// forward and backward over a batch of NCHW images.
#include "models/img_ebm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/backend.h"

#define SLOPE 0.2f // LeakyReLU slope of the official EBMs

// y_map's input columns (all attributes' one-hots) and, unless cols is NULL, the columns of the
// labels (B, A) (NULL: null labels). 1 column for an unconditional network (unused).
static int img_ebm_columns(const cdrl_img_ebm_config *cfg, int *cols, const int *label, int B) {
    int K[CDRL_MAX_ATTRS];
    const int A = cdrl_attr_classes(K, cfg->n_classes, cfg->n_more, cfg->more_classes);
    return A ? cdrl_label_columns(cols, label, B, A, K) : 1;
}

void cdrl_img_ebm_config_default(cdrl_img_ebm_config *c) {
    memset(c, 0, sizeof *c);
    c->in_ch = 3;
    c->res = 32;
    c->ch = 128;
    c->temb_dim = 128;
    c->n_mult = 4;
    c->ch_mult[0] = 1;
    c->ch_mult[1] = c->ch_mult[2] = c->ch_mult[3] = 2;
    c->n_blocks = 8;
    c->n_classes = 0;
    c->class_gain = 1.0f;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// ---------------------------------------------------------------------------------------
// Parameter table and initialisation

static cdrl_conv2d_desc conv_desc(int B, int IC, int OC, int H, int W) {
    return (cdrl_conv2d_desc){.B = B, .IC = IC, .OC = OC, .H = H, .W = W, .K = 3};
}

// A network with its tables and block geometry but no storage (NULL on out-of-memory).
static cdrl_img_ebm *new_with_tables(const cdrl_img_ebm_config *cfg) {
    CDRL_ASSERT(cfg->n_mult >= 1 && cfg->n_mult <= 8 && cfg->n_blocks >= 1);
    CDRL_ASSERT(cfg->n_mult * cfg->n_blocks <= CDRL_IMG_EBM_MAX_BLOCKS);
    CDRL_ASSERT(cfg->in_ch >= 1 && cfg->ch >= 1 && cfg->n_classes >= 0 && cfg->class_gain > 0.0f);
    CDRL_ASSERT(cfg->temb_dim >= 4 && cfg->temb_dim % 2 == 0);
    // Maps of at least 2x2 at the last level: the 3x3 conv kernel (src/ops/cpu/conv2d.c) does
    // not handle 1x1 maps.
    CDRL_ASSERT((cfg->res >> (cfg->n_mult - 1)) >= 2);
    cdrl_img_ebm *m = cdrl_calloc(sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    const int ch = cfg->ch, te = cfg->temb_dim, E = 4 * cfg->temb_dim;
    const int NC = img_ebm_columns(cfg, NULL, NULL, 0);
    // Parameter table, in the order of the official module.
    cdrl_ebm_base_init(&m->base, te);
    if (cfg->n_classes > 0)
        cdrl_ebm_base_add_linear(&m->base, &m->ymap, &m->ymap_b, NC, E, "y_map");
    cdrl_ebm_base_add_conv3(&m->base, &m->in, &m->in_b, cfg->in_ch, ch, "module_list.0");
    int in = ch, H = cfg->res, W = cfg->res, idx = 1;
    for (int l = 0; l < cfg->n_mult; l++) {
        for (int k = 0; k < cfg->n_blocks; k++) {
            img_ebm_block *b = &m->blk[m->n_blk++];
            int out = ch * cfg->ch_mult[l];
            char sub[96];
            b->in = in;
            b->out = out;
            b->H = H;
            b->W = W;
            b->pool = k == cfg->n_blocks - 1 && l < cfg->n_mult - 1;
            snprintf(sub, sizeof sub, "module_list.%d.conv1", idx);
            cdrl_ebm_base_add_conv3(&m->base, &b->conv1, &b->b1, in, out, sub);
            snprintf(sub, sizeof sub, "module_list.%d.conv2", idx);
            cdrl_ebm_base_add_conv3(&m->base, &b->conv2, &b->b2, out, out, sub);
            snprintf(sub, sizeof sub, "module_list.%d.temb_map", idx);
            cdrl_ebm_base_add_linear(&m->base, &b->temb, &b->bt, E, out, sub);
            int gshape[4] = {1, out, 1, 1};
            b->g = cdrl_param_add(&m->base.params, 4, gshape, "module_list.%d.g", idx);
            if (in != out) {
                snprintf(sub, sizeof sub, "module_list.%d.short_cut", idx);
                cdrl_ebm_base_add_conv3(&m->base, &b->shortcut, &b->bs, in, out, sub);
            }
            in = out;
            idx++;
        }
        if (l < cfg->n_mult - 1) { // nn.AvgPool2d: a module_list entry without parameters
            H /= 2;
            W /= 2;
            idx++;
        }
    }
    m->width_out = in;
    m->H_out = H;
    m->W_out = W;
    int fshape[2] = {in, E};
    m->final_w = cdrl_param_add(&m->base.params, 2, fshape, "temb_final.weight");

    // The widest feature map and projection (per image): sizes of the backward buffers.
    m->max_f = (size_t)ch * (size_t)cfg->res * (size_t)cfg->res;
    for (int i = 0; i < m->n_blk; i++) {
        const img_ebm_block *b = &m->blk[i];
        size_t hw = (size_t)b->H * (size_t)b->W;
        m->max_f = max_sz(m->max_f, (size_t)(b->in > b->out ? b->in : b->out) * hw);
        m->max_out = max_sz(m->max_out, (size_t)b->out);
    }
    return m;
}

size_t cdrl_img_ebm_param_count(const cdrl_img_ebm_config *cfg) {
    cdrl_img_ebm *m = new_with_tables(cfg);
    CDRL_ASSERT(m); // the tables of even the largest network are a few kB
    size_t n = 0;
    for (int i = 0; i < m->base.params.count; i++)
        n += m->base.params.items[i].numel;
    cdrl_img_ebm_free(m);
    return n;
}

cdrl_img_ebm *cdrl_img_ebm_create(const cdrl_img_ebm_config *cfg, int max_batch, int n_levels,
                                  cdrl_rng *rng) {
    CDRL_ASSERT(n_levels >= 1 && n_levels <= CDRL_MAX_LEVELS + 1 && max_batch >= 1);
    cdrl_img_ebm *m = new_with_tables(cfg);
    if (!m) return NULL;
    m->max_batch = max_batch;
    m->max_levels = n_levels;
    const int ch = cfg->ch, te = cfg->temb_dim, E = 4 * cfg->temb_dim, in = m->width_out;
    const int H = m->H_out, W = m->W_out;

    // Sizes of the per-image activations and of the widest feature map (backward buffers).
    const size_t B = (size_t)max_batch;
    const size_t HW0 = (size_t)cfg->res * (size_t)cfg->res, HWo = (size_t)H * (size_t)W;
    const size_t max_f = m->max_f, max_out = m->max_out;

    // Persistent storage: parameters, gradients, buffers, derived weights, per-level and
    // per-image activations.
    size_t n = cdrl_ebm_base_store_size(&m->base, n_levels);
    for (int i = 0; i < m->n_blk; i++) {
        const img_ebm_block *b = &m->blk[i];
        size_t hw = (size_t)b->H * (size_t)b->W;
        n += cdrl_arena_floats_size(B * (size_t)b->in * hw) +
             2 * cdrl_arena_floats_size(B * (size_t)b->out * hw) +
             cdrl_arena_floats_size(B * (size_t)b->out);
    }
    n += cdrl_arena_floats_size(B) + cdrl_arena_floats_size(B * CDRL_MAX_ATTRS); // level, label
    n += cdrl_arena_floats_size(B * (size_t)cfg->in_ch * HW0) +
         cdrl_arena_floats_size(B * (size_t)m->width_out * HWo) +
         2 * cdrl_arena_floats_size(B * (size_t)E) + 2 * cdrl_arena_floats_size(B * (size_t)in);

    // Scratch: five (B, max_f) maps and the small per-image temporaries of backward, plus the
    // largest kernel scratch (conv or linear; kernels run one at a time).
    size_t kern = 0;
    kern = max_sz(kern, cdrl_conv2d_scratch_size(
                            &(cdrl_conv2d_desc){max_batch, cfg->in_ch, ch, cfg->res, cfg->res, 3}));
    for (int i = 0; i < m->n_blk; i++) {
        const img_ebm_block *b = &m->blk[i];
        cdrl_conv2d_desc d1 = conv_desc(max_batch, b->in, b->out, b->H, b->W);
        cdrl_conv2d_desc d2 = conv_desc(max_batch, b->out, b->out, b->H, b->W);
        kern = max_sz(kern, cdrl_conv2d_scratch_size(&d1));
        kern = max_sz(kern, cdrl_conv2d_scratch_size(&d2));
        kern = max_sz(kern, cdrl_linear_scratch_size(max_batch, E, b->out));
    }
    kern = max_sz(kern, cdrl_linear_scratch_size(max_batch, E, in));
    size_t kernel_max = 0; // conv2's kernel scaled by the block gain (Langevin backward)
    for (int i = 0; i < m->n_blk; i++)
        kernel_max = max_sz(kernel_max, (size_t)m->blk[i].out * (size_t)m->blk[i].out * 9);
    size_t small = 2 * cdrl_arena_floats_size(B * (size_t)E) +
                   2 * cdrl_arena_floats_size(B * (size_t)in) +
                   2 * cdrl_arena_floats_size(B * max_out) + cdrl_arena_floats_size(kernel_max);
    // The level embedding uses the scratch alone (prepare, finish_grads).
    size_t scratch = max_sz(5 * cdrl_arena_floats_size(B * max_f) + small + kern,
                            cdrl_level_embed_scratch_size(te, n_levels)) +
                     CDRL_ALIGN;
    if (cdrl_ebm_base_alloc(&m->base, n, scratch, n_levels) != CDRL_OK) {
        cdrl_img_ebm_free(m);
        return NULL;
    }
    cdrl_arena *s = &m->base.store;
    for (int i = 0; i < m->n_blk; i++) {
        img_ebm_block *b = &m->blk[i];
        size_t hw = (size_t)b->H * (size_t)b->W;
        b->h = cdrl_arena_floats(s, B * (size_t)b->in * hw);
        b->s = cdrl_arena_floats(s, B * (size_t)b->out * hw);
        b->c2 = cdrl_arena_floats(s, B * (size_t)b->out * hw);
        b->z = cdrl_arena_floats(s, B * (size_t)b->out);
    }
    // int arrays carved as floats: same size and alignment, the block has no declared type
    m->level = (int *)(void *)cdrl_arena_floats(s, B);
    m->label = (int *)(void *)cdrl_arena_floats(s, B * CDRL_MAX_ATTRS);
    m->x = cdrl_arena_floats(s, B * (size_t)cfg->in_ch * HW0);
    m->h_final = cdrl_arena_floats(s, B * (size_t)m->width_out * HWo);
    m->e = cdrl_arena_floats(s, B * (size_t)E);
    m->le = cdrl_arena_floats(s, B * (size_t)E);
    m->q = cdrl_arena_floats(s, B * (size_t)in);
    m->v = cdrl_arena_floats(s, B * (size_t)in);
    CDRL_ASSERT(s->used <= s->cap);

    // Initialisation in registration order (PyTorch defaults; gains 1).
    cdrl_ebm_base_init_weights(&m->base, rng);
    for (int i = 0; i < m->n_blk; i++)
        for (int c = 0; c < m->blk[i].out; c++)
            m->base.p[m->blk[i].g + (size_t)c] = 1.0f;
    cdrl_param_init_uniform(m->base.p + m->final_w, (size_t)in * (size_t)E, 1.0f / sqrtf((float)E),
                            rng);
    return m;
}

void cdrl_img_ebm_free(cdrl_img_ebm *m) {
    if (!m) return;
    cdrl_ebm_base_deinit(&m->base);
    cdrl_free(m);
}

// ---------------------------------------------------------------------------------------
// Layer helpers: the SN layers read their normalised weight from der and, in backward,
// accumulate its gradient into dder (mapped to weight_orig by finish_grads).

static void lin_fwd(cdrl_img_ebm *m, float *out, const float *inp, const cdrl_sn *s, size_t bias,
                    int N) {
    cdrl_linear_forward(out, inp, m->base.der + s->w_sn, m->base.p + bias, N, s->IN, s->OC,
                        &m->base.scratch);
}

static void lin_bwd(cdrl_img_ebm *m, float *dinp, const float *dout, const float *inp,
                    const cdrl_sn *s, size_t bias, int N, int param_grads) {
    cdrl_linear_backward(dinp, param_grads ? m->base.dder + s->w_sn : NULL,
                         param_grads ? m->base.grad + bias : NULL, dout, inp, m->base.der + s->w_sn,
                         N, s->IN, s->OC, &m->base.scratch);
}

static void conv_fwd(cdrl_img_ebm *m, float *out, const float *inp, const cdrl_sn *s, size_t bias,
                     const cdrl_conv_epilogue *then, int B, int H, int W) {
    cdrl_conv2d_desc d = conv_desc(B, s->IN / 9, s->OC, H, W);
    cdrl_conv2d_forward_then(out, inp, m->base.der + s->w_sn, m->base.p + bias, then, &d,
                             &m->base.scratch);
}

static void conv_bwd(cdrl_img_ebm *m, float *dinp, const float *dout, const float *inp,
                     const cdrl_sn *s, size_t bias, int B, int H, int W, int param_grads) {
    cdrl_conv2d_desc d = conv_desc(B, s->IN / 9, s->OC, H, W);
    cdrl_conv2d_backward(dinp, param_grads ? m->base.dder + s->w_sn : NULL,
                         param_grads ? m->base.grad + bias : NULL, dout, inp, m->base.der + s->w_sn,
                         &d, &m->base.scratch);
}

// The kernel and bias gradients alone.
static void conv_param_grads(cdrl_img_ebm *m, const float *dout, const float *inp, const cdrl_sn *s,
                             size_t bias, int B, int H, int W) {
    cdrl_conv2d_desc d = conv_desc(B, s->IN / 9, s->OC, H, W);
    cdrl_conv2d_backward(NULL, m->base.dder + s->w_sn, m->base.grad + bias, dout, inp,
                         m->base.der + s->w_sn, &d, &m->base.scratch);
}

// As conv_bwd, but dinp is written (no zeroing pass first), through act (or NULL).
static void conv_bwd_set(cdrl_img_ebm *m, float *dinp, const float *dout, const float *inp,
                         const cdrl_sn *s, size_t bias, int B, int H, int W, int param_grads,
                         const cdrl_lrelu_grad *act) {
    cdrl_conv2d_desc d = conv_desc(B, s->IN / 9, s->OC, H, W);
    cdrl_conv2d_input_grad(dinp, dout, m->base.der + s->w_sn, act, &d, &m->base.scratch);
    if (param_grads) conv_param_grads(m, dout, inp, s, bias, B, H, W);
}

// dinp = convᵀ(g ⊙ dout) through act, g per output channel, as the input gradient of the
// convolution whose kernel o is scaled by g[o]: a pass over the small kernel instead of over
// dout (written, not added).
static void conv_input_grad_scaled(cdrl_img_ebm *m, float *dinp, const float *dout,
                                   const cdrl_sn *s, const float *g, const cdrl_lrelu_grad *act,
                                   int B, int H, int W) {
    cdrl_conv2d_desc d = conv_desc(B, s->IN / 9, s->OC, H, W);
    const size_t mark = cdrl_arena_mark(&m->base.scratch);
    float *w = cdrl_arena_floats(&m->base.scratch, (size_t)s->OC * (size_t)s->IN);
    cdrl_channel_scale(w, NULL, m->base.der + s->w_sn, g, 1, s->OC, s->IN, 0);
    cdrl_conv2d_input_grad(dinp, dout, w, act, &d, &m->base.scratch);
    cdrl_arena_release(&m->base.scratch, mark);
}

// ---------------------------------------------------------------------------------------
// Per-level embedding path

void cdrl_img_ebm_prepare(cdrl_img_ebm *m, const float *tau, int n_levels, int train) {
    cdrl_ebm_base_prepare(&m->base, tau, n_levels, train);
    m->n_levels = n_levels;
}

// ---------------------------------------------------------------------------------------
// Forward and backward over a batch

void cdrl_img_ebm_forward(cdrl_img_ebm *m, float *f, const float *y, const int *level,
                          const int *label, int B) {
    CDRL_ASSERT(B >= 1 && B <= m->max_batch && m->n_levels > 0);
    const cdrl_img_ebm_config *cfg = &m->cfg;
    const int E = 4 * cfg->temb_dim, Wd = m->width_out;
    const size_t HW0 = (size_t)cfg->res * (size_t)cfg->res;
    m->batch = B;
    for (int n = 0; n < B; n++) {
        CDRL_ASSERT(level[n] >= 0 && level[n] < m->n_levels);
        m->level[n] = level[n];
    }
    const int NC = img_ebm_columns(cfg, m->label, label, B),
              A = cfg->n_classes ? 1 + cfg->n_more : 0;
    cdrl_copy(m->x, y, (size_t)B * (size_t)cfg->in_ch * HW0);

    // Embedding of each image: its level's e, plus y_map(gain onehot(c)) = (gain W[:, c] + b),
    // the sum torch forms before adding it to e.
    if (cfg->n_classes > 0) {
        cdrl_class_columns_forward(m->e, m->base.der + m->ymap.w_sn, m->base.p + m->ymap_b,
                                   m->label, cfg->class_gain, B, A, E, NC);
        cdrl_gather_rows(m->e, m->base.lemb.e, m->level, B, E, 1);
    } else {
        cdrl_gather_rows(m->e, m->base.lemb.e, m->level, B, E, 0);
    }
    cdrl_lrelu_forward(m->le, m->e, (size_t)B * (size_t)E, SLOPE);
    for (int i = 0; i < m->n_blk; i++)
        lin_fwd(m, m->blk[i].z, m->le, &m->blk[i].temb, m->blk[i].bt, B);
    cdrl_linear_forward(m->q, m->le, m->base.p + m->final_w, NULL, B, E, Wd, &m->base.scratch);

    const size_t mark = cdrl_arena_mark(&m->base.scratch);
    const size_t max_f = m->max_f, max_out = m->max_out;
    // LeakyReLU outputs: of a block's input in a, of its conv2's input in a2
    float *a = cdrl_arena_floats(&m->base.scratch, (size_t)B * max_f);
    float *a2 = cdrl_arena_floats(&m->base.scratch, (size_t)B * max_f);
    float *pre =
        cdrl_arena_floats(&m->base.scratch, (size_t)B * max_f); // a block output before pooling
    float *tp = cdrl_arena_floats(&m->base.scratch, (size_t)B * max_out); // lrelu(z)

    // Each convolution's epilogue forms what the next one reads: conv1's s + lrelu(z) and its
    // LeakyReLU, conv2's residual sum and, unless a pool follows, the next block's LeakyReLU.
    const cdrl_conv_epilogue first = {.act = a, .slope = SLOPE};
    conv_fwd(m, m->blk[0].h, m->x, &m->in, m->in_b, &first, B, cfg->res, cfg->res);
    for (int i = 0; i < m->n_blk; i++) {
        img_ebm_block *b = &m->blk[i];
        const int HW = b->H * b->W;
        const size_t n_in = (size_t)B * (size_t)b->in * (size_t)HW;
        if (i > 0 && m->blk[i - 1].pool) cdrl_lrelu_forward(a, b->h, n_in, SLOPE);
        cdrl_lrelu_forward(tp, b->z, (size_t)B * (size_t)b->out, SLOPE);
        const cdrl_conv_epilogue s_of = {.add = tp, .act = a2, .slope = SLOPE};
        conv_fwd(m, b->s, a, &b->conv1, b->b1, &s_of, B, b->H, b->W);
        const int last = i + 1 == m->n_blk;
        float *dst = last ? m->h_final : b->pool ? pre : m->blk[i + 1].h;
        // out = S(h) + g c2: the shortcut convolution (into dst) or h itself
        if (b->in != b->out) conv_fwd(m, dst, b->h, &b->shortcut, b->bs, NULL, B, b->H, b->W);
        const cdrl_conv_epilogue out_of = {.gain = m->base.p + b->g,
                                           .base = b->in != b->out ? dst : b->h,
                                           .sum = dst,
                                           .act = last || b->pool ? NULL : a,
                                           .slope = SLOPE};
        conv_fwd(m, b->c2, a2, &b->conv2, b->b2, &out_of, B, b->H, b->W);
        if (b->pool) cdrl_avgpool2_forward(m->blk[i + 1].h, pre, B * b->out, b->H, b->W);
    }

    // f = sum_c (sum_HW relu(h)) * q
    const int HWo = m->H_out * m->W_out;
    cdrl_relu_forward(a, m->h_final, (size_t)B * (size_t)Wd * (size_t)HWo);
    cdrl_spatial_sum_forward(m->v, a, B, Wd, HWo);
    cdrl_row_dot_forward(f, m->v, m->q, B, Wd);
    cdrl_arena_release(&m->base.scratch, mark);
}

void cdrl_img_ebm_backward(cdrl_img_ebm *m, float *dy, const float *df, int param_grads) {
    const cdrl_img_ebm_config *cfg = &m->cfg;
    const int B = m->batch, E = 4 * cfg->temb_dim, Wd = m->width_out;
    const int NC = img_ebm_columns(cfg, NULL, NULL, 0), A = cfg->n_classes ? 1 + cfg->n_more : 0;
    const int HWo = m->H_out * m->W_out;
    CDRL_ASSERT(B >= 1);
    if (!dy && !param_grads) return;
    const size_t mark = cdrl_arena_mark(&m->base.scratch);
    const size_t max_f = m->max_f, max_out = m->max_out;
    const size_t nb = (size_t)B * max_f;
    float *cur = cdrl_arena_floats(&m->base.scratch, nb); // gradient at a block's output
    float *dhi = cdrl_arena_floats(&m->base.scratch, nb); // ... and at its input
    float *t1 = cdrl_arena_floats(&m->base.scratch, nb);
    float *t2 = cdrl_arena_floats(&m->base.scratch, nb);
    float *t3 = cdrl_arena_floats(&m->base.scratch, nb);
    float *dv = cdrl_arena_floats(&m->base.scratch, (size_t)B * (size_t)Wd);
    float *dq = cdrl_arena_floats(&m->base.scratch, (size_t)B * (size_t)Wd);
    float *dle = cdrl_arena_floats(&m->base.scratch, (size_t)B * (size_t)E); // d/d lrelu(e)
    float *de = cdrl_arena_floats(&m->base.scratch, (size_t)B * (size_t)E);
    float *dtp = cdrl_arena_floats(&m->base.scratch, (size_t)B * max_out);
    float *dz = cdrl_arena_floats(&m->base.scratch, (size_t)B * max_out);

    // f = v . q, v = sum_HW relu(h_final), q = temb_final(le)
    cdrl_row_dot_backward(dv, dq, df, m->v, m->q, B, Wd);
    if (param_grads) {
        cdrl_zero(dle, (size_t)B * (size_t)E);
        cdrl_linear_backward(dle, m->base.grad + m->final_w, NULL, dq, m->le,
                             m->base.p + m->final_w, B, E, Wd, &m->base.scratch);
    }
    const size_t n_fin = (size_t)B * (size_t)Wd * (size_t)HWo;
    cdrl_zero(t1, n_fin);
    cdrl_spatial_sum_backward(t1, dv, B, Wd, HWo);
    cdrl_zero(cur, n_fin);
    cdrl_relu_backward(cur, t1, m->h_final, n_fin);

    for (int i = m->n_blk - 1; i >= 0; i--) {
        img_ebm_block *b = &m->blk[i];
        const int HW = b->H * b->W;
        const size_t n_in = (size_t)B * (size_t)b->in * (size_t)HW;
        const size_t n_out = (size_t)B * (size_t)b->out * (size_t)HW;
        const float *g = m->base.p + b->g;
        // out = c2 * g + S(h), c2 = conv2(lrelu(s)): ds = lrelu'(s) conv2ᵀ(g cur), LeakyReLU's
        // backward folded into the convolution; conv2's input is needed for its weight
        // gradient only.
        const cdrl_lrelu_grad ds_of = {b->s, NULL, SLOPE};
        conv_input_grad_scaled(m, t1, cur, &b->conv2, g, &ds_of, B, b->H, b->W); // ds
        if (param_grads) {
            cdrl_channel_scale(t3, NULL, cur, g, B, b->out, HW, 0); // dc2
            cdrl_channel_dot(m->base.grad + b->g, cur, b->c2, B, b->out, HW);
            cdrl_lrelu_forward(t2, b->s, n_out, SLOPE);
            conv_param_grads(m, t3, t2, &b->conv2, b->b2, B, b->H, b->W);
        }
        // s = conv1(lrelu(h)) + lrelu(z), z = temb_map(le)
        if (param_grads) {
            const size_t nz = (size_t)B * (size_t)b->out;
            cdrl_zero(dtp, nz);
            cdrl_add_channel_backward(dtp, t1, B, b->out, HW);
            cdrl_zero(dz, nz);
            cdrl_lrelu_backward(dz, dtp, b->z, nz, SLOPE);
            lin_bwd(m, dle, dz, m->le, &b->temb, b->bt, B, 1);
        }
        if (param_grads) cdrl_lrelu_forward(t2, b->h, n_in, SLOPE); // conv1's input, as above
        // dhi = lrelu'(h) conv1ᵀ(ds) + the shortcut's gradient (cur itself when the shortcut is
        // S = 1)
        const cdrl_lrelu_grad dh_of = {b->h, b->in == b->out ? cur : NULL, SLOPE};
        conv_bwd_set(m, dhi, t1, t2, &b->conv1, b->b1, B, b->H, b->W, param_grads, &dh_of);
        if (b->in != b->out)
            conv_bwd(m, dhi, cur, b->h, &b->shortcut, b->bs, B, b->H, b->W, param_grads);
        if (i > 0 && m->blk[i - 1].pool) { // through the pool in front of this block
            const img_ebm_block *p = &m->blk[i - 1];
            cdrl_avgpool2_backward_set(cur, dhi, B * p->out, p->H, p->W);
        } else {
            float *t = cur;
            cur = dhi;
            dhi = t;
        }
    }
    if (dy || param_grads)
        conv_bwd(m, dy, cur, m->x, &m->in, m->in_b, B, cfg->res, cfg->res, param_grads);

    if (param_grads) {
        // le = lrelu(e); e = lemb.e[level] + W_y[:, c] + b_y. Per feature j, images in order.
        cdrl_zero(de, (size_t)B * (size_t)E);
        cdrl_lrelu_backward(de, dle, m->e, (size_t)B * (size_t)E, SLOPE);
        cdrl_scatter_rows(m->base.lemb.de, de, m->level, B, E);
        if (cfg->n_classes > 0)
            cdrl_class_columns_backward(m->base.dder + m->ymap.w_sn, m->base.grad + m->ymap_b, de,
                                        m->label, cfg->class_gain, B, A, E, NC);
    }
    cdrl_arena_release(&m->base.scratch, mark);
}

void cdrl_img_ebm_zero_grad(cdrl_img_ebm *m) { cdrl_ebm_base_zero_grad(&m->base); }

void cdrl_img_ebm_finish_grads(cdrl_img_ebm *m) { cdrl_ebm_base_finish(&m->base); }

// ---------------------------------------------------------------------------------------
// cdrl_net view

static void net_prepare(void *impl, const float *tau, int n_levels, int train) {
    cdrl_img_ebm_prepare(impl, tau, n_levels, train);
}
static void net_forward(void *impl, float *out, const float *x, const int *level, const int *label,
                        int B) {
    cdrl_img_ebm_forward(impl, out, x, level, label, B);
}
static void net_backward(void *impl, float *dx, const float *dout, int param_grads) {
    cdrl_img_ebm_backward(impl, dx, dout, param_grads);
}
static void net_zero_grad(void *impl) { cdrl_img_ebm_zero_grad(impl); }
static void net_finish_grads(void *impl) { cdrl_img_ebm_finish_grads(impl); }

cdrl_net cdrl_img_ebm_net(cdrl_img_ebm *m) {
    cdrl_net v = {.impl = m,
                  .dim = m->cfg.in_ch * m->cfg.res * m->cfg.res,
                  .prepare = net_prepare,
                  .forward = net_forward,
                  .backward = net_backward,
                  .zero_grad = net_zero_grad,
                  .finish_grads = net_finish_grads};
    cdrl_net_set_storage(&v, &m->base);
    return v;
}
