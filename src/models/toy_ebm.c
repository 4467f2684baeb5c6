// The toy energy network (see toy_ebm.h). Forward, backward and the per-level embedding path.
#include "models/toy_ebm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/backend.h"

#define SLOPE 0.2f // LeakyReLU slope of the official EBMs

void cdrl_toy_ebm_config_default(cdrl_toy_ebm_config *c) {
    memset(c, 0, sizeof *c);
    c->in_dim = 2;
    c->ch = 128;
    c->temb_dim = 128;
    c->n_mult = 4;
    c->ch_mult[0] = 1;
    c->ch_mult[1] = c->ch_mult[2] = c->ch_mult[3] = 2;
    c->n_blocks = 1;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

cdrl_toy_ebm *cdrl_toy_ebm_create(const cdrl_toy_ebm_config *cfg, int max_batch, int n_levels,
                                  cdrl_rng *rng) {
    CDRL_ASSERT(cfg->n_mult * cfg->n_blocks <= CDRL_TOY_EBM_MAX_BLOCKS);
    CDRL_ASSERT(n_levels >= 1 && n_levels <= (CDRL_MAX_LEVELS + 1) && max_batch >= 1);
    cdrl_toy_ebm *m = cdrl_calloc(sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->max_batch = max_batch;
    const int ch = cfg->ch, te = cfg->temb_dim, temb = 4 * cfg->temb_dim;
    CDRL_ASSERT(te >= 4 && te % 2 == 0);

    // Parameter table, in the order of the official module.
    cdrl_ebm_base_init(&m->base, te);
    cdrl_ebm_base_add_linear(&m->base, &m->in, &m->in_b, cfg->in_dim, ch, "module_list.0");
    int in = ch, max_w = ch;
    for (int l = 0; l < cfg->n_mult; l++) {
        for (int k = 0; k < cfg->n_blocks; k++) {
            toy_ebm_block *b = &m->blk[m->n_blk];
            int out = ch * cfg->ch_mult[l];
            char name[64];
            snprintf(name, sizeof name, "module_list.%d", m->n_blk + 1);
            char sub[96];
            b->in = in;
            b->out = out;
            snprintf(sub, sizeof sub, "%s.conv1", name);
            cdrl_ebm_base_add_linear(&m->base, &b->conv1, &b->b1, in, out, sub);
            snprintf(sub, sizeof sub, "%s.conv2", name);
            cdrl_ebm_base_add_linear(&m->base, &b->conv2, &b->b2, out, out, sub);
            snprintf(sub, sizeof sub, "%s.temb_map", name);
            cdrl_ebm_base_add_linear(&m->base, &b->temb, &b->bt, temb, out, sub);
            int gshape[2] = {1, out};
            b->g = cdrl_param_add(&m->base.params, 2, gshape, "%s.g", name);
            if (in != out) {
                snprintf(sub, sizeof sub, "%s.short_cut", name);
                cdrl_ebm_base_add_linear(&m->base, &b->shortcut, &b->bs, in, out, sub);
            }
            in = out;
            if (out > max_w) max_w = out;
            m->n_blk++;
        }
    }
    m->width_out = in;
    int fshape[2] = {1, in};
    m->final_w = cdrl_param_add(&m->base.params, 2, fshape, "final_dense.weight");
    if (cdrl_label_rows_init(&m->lr, cfg->n_attrs, cfg->attr_classes, max_batch, n_levels) !=
        CDRL_OK) {
        cdrl_toy_ebm_free(m);
        return NULL;
    }
    const int C = m->lr.C;
    if (cfg->n_attrs) {
        int yshape[2] = {temb, m->lr.NC}, bshape[1] = {temb};
        m->y_w = cdrl_param_add(&m->base.params, 2, yshape, "y_map.weight");
        m->y_b = cdrl_param_add(&m->base.params, 1, bshape, "y_map.bias");
    }

    // Persistent storage: parameters, gradients, buffers, derived weights, per-row (level and
    // labels) and per-sample activations.
    const size_t B = (size_t)max_batch, L = (size_t)n_levels * (size_t)C;
    size_t n = cdrl_ebm_base_store_size(&m->base, n_levels);
    n += 3 * cdrl_arena_floats_size(L * (size_t)temb) + cdrl_arena_floats_size((size_t)C * temb);
    for (int i = 0; i < m->n_blk; i++) {
        const toy_ebm_block *b = &m->blk[i];
        n += 3 * cdrl_arena_floats_size(L * (size_t)b->out);
        n += 2 * cdrl_arena_floats_size(B * (size_t)b->in) +
             3 * cdrl_arena_floats_size(B * (size_t)b->out);
    }
    n += cdrl_arena_floats_size(B * (size_t)cfg->in_dim) +
         2 * cdrl_arena_floats_size(B * (size_t)m->width_out);
    // Scratch: five (B, max_w) backward temporaries plus the largest linear-layer scratch.
    size_t lin = 0;
    lin = max_sz(lin, cdrl_linear_scratch_size(max_batch, max_w, max_w));
    lin = max_sz(lin, cdrl_linear_scratch_size(max_batch, cfg->in_dim, ch));
    lin = max_sz(lin, cdrl_linear_scratch_size(max_batch, m->width_out, 1));
    lin = max_sz(lin, cdrl_linear_scratch_size((int)L, temb, max_w));
    // finish_grads: one (R, max_w) and two label temporaries, then the level embedding's own
    // scratch.
    size_t fin =
        cdrl_arena_floats_size(L * (size_t)max_w) + cdrl_linear_scratch_size((int)L, temb, max_w) +
        cdrl_arena_floats_size(L * (size_t)temb) + cdrl_arena_floats_size((size_t)C * (size_t)temb);
    size_t scratch = max_sz(max_sz(5 * cdrl_arena_floats_size(B * (size_t)max_w) + lin, fin),
                            cdrl_level_embed_scratch_size(te, n_levels)) +
                     CDRL_ALIGN;
    if (cdrl_ebm_base_alloc(&m->base, n, scratch, n_levels) != CDRL_OK) {
        cdrl_toy_ebm_free(m);
        return NULL;
    }
    cdrl_arena *s = &m->base.store;
    m->lvl_le = cdrl_arena_floats(s, L * (size_t)temb);
    m->lvl_dle = cdrl_arena_floats(s, L * (size_t)temb);
    m->lvl_e = cdrl_arena_floats(s, L * (size_t)temb);
    m->y_comb = cdrl_arena_floats(s, (size_t)C * (size_t)temb);
    for (int i = 0; i < m->n_blk; i++) {
        toy_ebm_block *b = &m->blk[i];
        b->lvl_z = cdrl_arena_floats(s, L * (size_t)b->out);
        b->lvl_tp = cdrl_arena_floats(s, L * (size_t)b->out);
        b->lvl_dtp = cdrl_arena_floats(s, L * (size_t)b->out);
        b->h = cdrl_arena_floats(s, B * (size_t)b->in);
        b->a1 = cdrl_arena_floats(s, B * (size_t)b->in);
        b->s = cdrl_arena_floats(s, B * (size_t)b->out);
        b->a2 = cdrl_arena_floats(s, B * (size_t)b->out);
        b->c2 = cdrl_arena_floats(s, B * (size_t)b->out);
    }
    m->x = cdrl_arena_floats(s, B * (size_t)cfg->in_dim);
    m->h_final = cdrl_arena_floats(s, B * (size_t)m->width_out);
    m->r = cdrl_arena_floats(s, B * (size_t)m->width_out);

    // Initialisation in registration order (PyTorch defaults; gains 1).
    cdrl_ebm_base_init_weights(&m->base, rng);
    for (int i = 0; i < m->n_blk; i++)
        for (int c = 0; c < m->blk[i].out; c++)
            m->base.p[m->blk[i].g + (size_t)c] = 1.0f;
    cdrl_param_init_uniform(m->base.p + m->final_w, (size_t)m->width_out,
                            1.0f / sqrtf((float)m->width_out), rng);
    if (cfg->n_attrs) { // PyTorch's Linear default, after every unconditional draw
        const float bound = 1.0f / sqrtf((float)m->lr.NC);
        cdrl_param_init_uniform(m->base.p + m->y_w, (size_t)temb * (size_t)m->lr.NC, bound, rng);
        cdrl_param_init_uniform(m->base.p + m->y_b, (size_t)temb, bound, rng);
    }
    return m;
}

void cdrl_toy_ebm_free(cdrl_toy_ebm *m) {
    if (!m) return;
    cdrl_ebm_base_deinit(&m->base);
    cdrl_label_rows_deinit(&m->lr);
    cdrl_free(m);
}

// ---------------------------------------------------------------------------------------
// Per-level embedding path

static void sn_linear_fwd(cdrl_toy_ebm *m, float *out, const float *inp, const cdrl_sn *s,
                          size_t bias, int N) {
    cdrl_linear_forward(out, inp, m->base.der + s->w_sn, m->base.p + bias, N, s->IN, s->OC,
                        &m->base.scratch);
}

static void sn_linear_bwd(cdrl_toy_ebm *m, float *dinp, const float *dout, const float *inp,
                          const cdrl_sn *s, size_t bias, int N, int param_grads) {
    cdrl_linear_backward(dinp, param_grads ? m->base.dder + s->w_sn : NULL,
                         param_grads ? m->base.grad + bias : NULL, dout, inp, m->base.der + s->w_sn,
                         N, s->IN, s->OC, &m->base.scratch);
}

void cdrl_toy_ebm_prepare(cdrl_toy_ebm *m, const float *tau, int n_levels, int train) {
    CDRL_ASSERT(n_levels >= 1 && n_levels <= (CDRL_MAX_LEVELS + 1));
    const int temb = 4 * m->cfg.temb_dim, L = n_levels;
    cdrl_ebm_base_prepare(&m->base, tau, L, train);
    m->n_levels = L;
    const int R = m->n_rows = cdrl_label_rows_count(&m->lr, L);
    if (m->lr.A) { // e of row (l, c) = e_l + y_map(c)
        cdrl_class_columns_forward(m->y_comb, m->base.p + m->y_w, m->base.p + m->y_b, m->lr.cols,
                                   1.0f, m->lr.C, m->lr.A, temb, m->lr.NC);
        cdrl_gather_rows(m->lvl_e, m->y_comb, m->lr.row_comb, R, temb, 0);
        cdrl_gather_rows(m->lvl_e, m->base.lemb.e, m->lr.row_level, R, temb, 1);
    }
    cdrl_lrelu_forward(m->lvl_le, m->lr.A ? m->lvl_e : m->base.lemb.e, (size_t)R * (size_t)temb,
                       SLOPE);
    for (int i = 0; i < m->n_blk; i++) {
        toy_ebm_block *b = &m->blk[i];
        sn_linear_fwd(m, b->lvl_z, m->lvl_le, &b->temb, b->bt, R);
        cdrl_lrelu_forward(b->lvl_tp, b->lvl_z, (size_t)R * (size_t)b->out, SLOPE);
    }
}

// ---------------------------------------------------------------------------------------
// Forward and backward over a batch

void cdrl_toy_ebm_forward(cdrl_toy_ebm *m, float *f, const float *y, const int *level,
                          const int *label, int B) {
    CDRL_ASSERT(B >= 1 && B <= m->max_batch && m->n_levels > 0);
    const int D = m->cfg.in_dim;
    m->batch = B;
    m->row = m->lr.A ? cdrl_label_rows_index(&m->lr, level, label, B) : level;
    cdrl_copy(m->x, y, (size_t)B * (size_t)D);
    sn_linear_fwd(m, m->blk[0].h, m->x, &m->in, m->in_b, B);
    for (int i = 0; i < m->n_blk; i++) {
        toy_ebm_block *b = &m->blk[i];
        const size_t n_in = (size_t)B * (size_t)b->in, n_out = (size_t)B * (size_t)b->out;
        float *next = i + 1 < m->n_blk ? m->blk[i + 1].h : m->h_final;
        cdrl_lrelu_forward(b->a1, b->h, n_in, SLOPE);
        sn_linear_fwd(m, b->s, b->a1, &b->conv1, b->b1, B);
        cdrl_gather_rows(b->s, b->lvl_tp, m->row, B, b->out, 1); // + tp[row]
        cdrl_lrelu_forward(b->a2, b->s, n_out, SLOPE);
        sn_linear_fwd(m, b->c2, b->a2, &b->conv2, b->b2, B);
        if (b->in != b->out)
            sn_linear_fwd(m, next, b->h, &b->shortcut, b->bs, B);
        else
            cdrl_copy(next, b->h, n_in);
        cdrl_channel_scale(next, NULL, b->c2, m->base.p + b->g, B, b->out, 1, 1);
    }
    const int W = m->width_out;
    cdrl_relu_forward(m->r, m->h_final, (size_t)B * (size_t)W);
    cdrl_linear_forward(f, m->r, m->base.p + m->final_w, NULL, B, W, 1, &m->base.scratch);
}

void cdrl_toy_ebm_backward(cdrl_toy_ebm *m, float *dy, const float *df, int param_grads) {
    const int B = m->batch, W = m->width_out;
    const size_t mark = cdrl_arena_mark(&m->base.scratch);
    size_t max_rows = (size_t)B * (size_t)W;
    for (int i = 0; i < m->n_blk; i++)
        if ((size_t)B * (size_t)m->blk[i].out > max_rows)
            max_rows = (size_t)B * (size_t)m->blk[i].out;
    float *dh = cdrl_arena_floats(&m->base.scratch, max_rows);  // gradient at a block's output
    float *dhi = cdrl_arena_floats(&m->base.scratch, max_rows); // ... and at its input
    float *dc2 = cdrl_arena_floats(&m->base.scratch, max_rows);
    float *da = cdrl_arena_floats(&m->base.scratch, max_rows);
    float *ds = cdrl_arena_floats(&m->base.scratch, max_rows);

    // f = relu(h_final) . w_final
    cdrl_zero(da, (size_t)B * (size_t)W);
    cdrl_linear_backward(da, param_grads ? m->base.grad + m->final_w : NULL, NULL, df, m->r,
                         m->base.p + m->final_w, B, W, 1, &m->base.scratch);
    cdrl_zero(dh, (size_t)B * (size_t)W);
    cdrl_relu_backward(dh, da, m->h_final, (size_t)B * (size_t)W);

    for (int i = m->n_blk - 1; i >= 0; i--) {
        toy_ebm_block *b = &m->blk[i];
        const size_t n_in = (size_t)B * (size_t)b->in, n_out = (size_t)B * (size_t)b->out;
        const float *g = m->base.p + b->g;
        // out = c2 * g + shortcut(h)
        cdrl_zero(dhi, n_in);
        if (b->in != b->out)
            sn_linear_bwd(m, dhi, dh, b->h, &b->shortcut, b->bs, B, param_grads);
        else
            cdrl_copy(dhi, dh, n_in);
        cdrl_channel_scale(dc2, NULL, dh, g, B, b->out, 1, 0);
        if (param_grads) cdrl_channel_dot(m->base.grad + b->g, dh, b->c2, B, b->out, 1);
        // c2 = conv2(lrelu(s)), s = conv1(lrelu(h)) + tp[level]
        cdrl_zero(da, n_out);
        sn_linear_bwd(m, da, dc2, b->a2, &b->conv2, b->b2, B, param_grads);
        cdrl_zero(ds, n_out);
        cdrl_lrelu_backward(ds, da, b->s, n_out, SLOPE);
        if (param_grads) cdrl_scatter_rows(b->lvl_dtp, ds, m->row, B, b->out);
        cdrl_zero(da, n_in);
        sn_linear_bwd(m, da, ds, b->a1, &b->conv1, b->b1, B, param_grads);
        cdrl_lrelu_backward(dhi, da, b->h, n_in, SLOPE);
        float *t = dh;
        dh = dhi;
        dhi = t;
    }
    sn_linear_bwd(m, dy, dh, m->x, &m->in, m->in_b, B, param_grads);
    cdrl_arena_release(&m->base.scratch, mark);
}

void cdrl_toy_ebm_zero_grad(cdrl_toy_ebm *m) {
    cdrl_ebm_base_zero_grad(&m->base);
    cdrl_zero(m->lvl_dle, (size_t)m->n_rows * 4 * (size_t)m->cfg.temb_dim);
    for (int i = 0; i < m->n_blk; i++)
        cdrl_zero(m->blk[i].lvl_dtp, (size_t)m->n_rows * (size_t)m->blk[i].out);
}

void cdrl_toy_ebm_finish_grads(cdrl_toy_ebm *m) {
    const int L = m->n_rows, temb = 4 * m->cfg.temb_dim;
    const size_t mark = cdrl_arena_mark(&m->base.scratch);
    size_t max_out = 0;
    for (int i = 0; i < m->n_blk; i++)
        max_out = max_sz(max_out, (size_t)m->blk[i].out);
    float *dz = cdrl_arena_floats(&m->base.scratch, (size_t)L * max_out);
    // Per-block projections tp = lrelu(temb_map(le)) feed every sample of their level.
    for (int i = 0; i < m->n_blk; i++) {
        toy_ebm_block *b = &m->blk[i];
        size_t n = (size_t)L * (size_t)b->out;
        cdrl_zero(dz, n);
        cdrl_lrelu_backward(dz, b->lvl_dtp, b->lvl_z, n, SLOPE);
        sn_linear_bwd(m, m->lvl_dle, dz, m->lvl_le, &b->temb, b->bt, L, 1);
    }
    // le = lrelu(e)
    if (m->lr.A) { // e of row (l, c) = e_l + y_map(c): sums over the rows of each l and c
        float *de = cdrl_arena_floats(&m->base.scratch, (size_t)L * (size_t)temb);
        float *dy = cdrl_arena_floats(&m->base.scratch, (size_t)m->lr.C * (size_t)temb);
        cdrl_zero(de, (size_t)L * (size_t)temb);
        cdrl_lrelu_backward(de, m->lvl_dle, m->lvl_e, (size_t)L * (size_t)temb, SLOPE);
        cdrl_scatter_rows(m->base.lemb.de, de, m->lr.row_level, L, temb);
        cdrl_zero(dy, (size_t)m->lr.C * (size_t)temb);
        cdrl_scatter_rows(dy, de, m->lr.row_comb, L, temb);
        cdrl_class_columns_backward(m->base.grad + m->y_w, m->base.grad + m->y_b, dy, m->lr.cols,
                                    1.0f, m->lr.C, m->lr.A, temb, m->lr.NC);
    } else {
        cdrl_lrelu_backward(m->base.lemb.de, m->lvl_dle, m->base.lemb.e, (size_t)L * (size_t)temb,
                            SLOPE);
    }
    cdrl_arena_release(&m->base.scratch, mark);
    cdrl_ebm_base_finish(&m->base); // then the level embedding and every layer's weight_orig
}

// ---------------------------------------------------------------------------------------
// cdrl_net view

static void net_prepare(void *impl, const float *tau, int n_levels, int train) {
    cdrl_toy_ebm_prepare(impl, tau, n_levels, train);
}
static void net_forward(void *impl, float *out, const float *x, const int *level, const int *label,
                        int B) {
    cdrl_toy_ebm_forward(impl, out, x, level, label, B);
}
static void net_backward(void *impl, float *dx, const float *dout, int param_grads) {
    cdrl_toy_ebm_backward(impl, dx, dout, param_grads);
}
static void net_zero_grad(void *impl) { cdrl_toy_ebm_zero_grad(impl); }
static void net_finish_grads(void *impl) { cdrl_toy_ebm_finish_grads(impl); }

cdrl_net cdrl_toy_ebm_net(cdrl_toy_ebm *m) {
    cdrl_net v = {.impl = m,
                  .dim = m->cfg.in_dim,
                  .prepare = net_prepare,
                  .forward = net_forward,
                  .backward = net_backward,
                  .zero_grad = net_zero_grad,
                  .finish_grads = net_finish_grads};
    cdrl_net_set_storage(&v, &m->base);
    return v;
}
