// The toy initializer (see toy_init.h).
#include "models/toy_init.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/backend.h"

#define GN_EPS 1e-6f

// nn.Linear(in, out) registered as "<name>.weight" and "<name>.bias" (bias optional).
static void add_linear(cdrl_toy_init *m, size_t *w, size_t *b, int in, int out, const char *name) {
    int shape[2] = {out, in};
    *w = cdrl_param_add(&m->params, 2, shape, "%s.weight", name);
    if (b) *b = cdrl_param_add(&m->params, 1, &out, "%s.bias", name);
}

static void init_linear(cdrl_toy_init *m, size_t w, size_t b, int in, int out, cdrl_rng *rng) {
    float bound = 1.0f / sqrtf((float)in);
    cdrl_param_init_uniform(m->p + w, (size_t)in * (size_t)out, bound, rng);
    cdrl_param_init_uniform(m->p + b, (size_t)out, bound, rng);
}

cdrl_toy_init *cdrl_toy_init_create(const cdrl_toy_init_config *cfg, int max_batch, int n_levels,
                                    cdrl_rng *rng) {
    CDRL_ASSERT(cfg->n_blocks >= 1 && cfg->n_blocks <= CDRL_TOY_INIT_MAX_BLOCKS);
    CDRL_ASSERT(cfg->groups >= 1 && cfg->h_dim % cfg->groups == 0 && n_levels >= 1 &&
                max_batch >= 1);
    cdrl_toy_init *m = cdrl_calloc(sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->max_batch = max_batch;
    cdrl_param_table_init(&m->params);
    const int D = cfg->in_dim, T = cfg->t_dim, H = cfg->h_dim;
    add_linear(m, &m->h1_w, &m->h1_b, D, H, "h1");
    add_linear(m, &m->t0_w, &m->t0_b, T, T, "temb_map.0");
    add_linear(m, &m->t2_w, &m->t2_b, T, T, "temb_map.2");
    add_linear(m, &m->final_w, NULL, H, D, "final_dense");
    m->n_blk = cfg->n_blocks;
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        char name[64];
        b->n1_w = cdrl_param_add(&m->params, 1, &H, "module_list.%d.norm1.weight", i);
        b->n1_b = cdrl_param_add(&m->params, 1, &H, "module_list.%d.norm1.bias", i);
        b->n2_w = cdrl_param_add(&m->params, 1, &H, "module_list.%d.norm2.weight", i);
        b->n2_b = cdrl_param_add(&m->params, 1, &H, "module_list.%d.norm2.bias", i);
        snprintf(name, sizeof name, "module_list.%d.conv1", i);
        add_linear(m, &b->c1_w, &b->c1_b, H, H, name);
        snprintf(name, sizeof name, "module_list.%d.conv2", i);
        add_linear(m, &b->c2_w, &b->c2_b, H, H, name);
        snprintf(name, sizeof name, "module_list.%d.mlp.1", i);
        add_linear(m, &b->mlp_w, &b->mlp_b, T, 2 * H, name);
    }
    if (cdrl_label_rows_init(&m->lr, cfg->n_attrs, cfg->attr_classes, max_batch, n_levels) !=
        CDRL_OK) {
        cdrl_toy_init_free(m);
        return NULL;
    }
    if (cfg->n_attrs) add_linear(m, &m->y_w, &m->y_b, m->lr.NC, T, "y_mlp");

    const size_t B = (size_t)max_batch, LV = (size_t)n_levels, G = (size_t)cfg->groups;
    const size_t L = LV * (size_t)m->lr.C; // rows: levels times label combinations
    size_t n = 2 * cdrl_arena_floats_size(m->params.total) +
               5 * cdrl_arena_floats_size(LV * (size_t)T) +
               2 * cdrl_arena_floats_size(L * (size_t)T) +
               cdrl_arena_floats_size((size_t)m->lr.C * (size_t)T);
    n += m->n_blk *
         (cdrl_arena_floats_size(L * (size_t)T) + 2 * cdrl_arena_floats_size(L * 2 * (size_t)H) +
          7 * cdrl_arena_floats_size(B * (size_t)H) + 4 * cdrl_arena_floats_size(B * G));
    n += cdrl_arena_floats_size(B * (size_t)D) + 2 * cdrl_arena_floats_size(B * (size_t)H);
    size_t lin = cdrl_linear_scratch_size(max_batch, H, H);
    size_t lin2 = cdrl_linear_scratch_size((int)L, T, 2 * H);
    size_t lin3 = cdrl_linear_scratch_size(max_batch, H, D);
    size_t lin4 = cdrl_linear_scratch_size(max_batch, D, H);
    if (lin2 > lin) lin = lin2;
    if (lin3 > lin) lin = lin3;
    if (lin4 > lin) lin = lin4;
    const size_t rows = B > L ? B : L;
    size_t scratch =
        6 * cdrl_arena_floats_size(rows * (size_t)(H > T ? 2 * H : 2 * T)) + lin + CDRL_ALIGN;
    if (cdrl_device_arena_init(&m->store, n) != CDRL_OK ||
        cdrl_device_arena_init(&m->scratch, scratch) != CDRL_OK) {
        cdrl_toy_init_free(m);
        return NULL;
    }
    cdrl_zero((float *)m->store.base, n / sizeof(float));
    cdrl_arena *s = &m->store;
    m->p_own = m->p = cdrl_arena_floats(s, m->params.total);
    m->grad = cdrl_arena_floats(s, m->params.total);
    m->lvl_e0 = cdrl_arena_floats(s, LV * (size_t)T);
    m->lvl_z = cdrl_arena_floats(s, LV * (size_t)T);
    m->lvl_a = cdrl_arena_floats(s, LV * (size_t)T);
    m->lvl_t = cdrl_arena_floats(s, LV * (size_t)T);
    m->lvl_dt = cdrl_arena_floats(s, LV * (size_t)T);
    m->row_t = cdrl_arena_floats(s, L * (size_t)T);
    m->row_dt = cdrl_arena_floats(s, L * (size_t)T);
    m->y_comb = cdrl_arena_floats(s, (size_t)m->lr.C * (size_t)T);
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        b->lvl_st = cdrl_arena_floats(s, L * (size_t)T);
        b->lvl_ss = cdrl_arena_floats(s, L * 2 * (size_t)H);
        b->lvl_dss = cdrl_arena_floats(s, L * 2 * (size_t)H);
        float **acts[7] = {&b->h, &b->n1, &b->a1, &b->c1, &b->n2, &b->m, &b->a2};
        for (int k = 0; k < 7; k++)
            *acts[k] = cdrl_arena_floats(s, B * (size_t)H);
        b->mean1 = cdrl_arena_floats(s, B * G);
        b->rstd1 = cdrl_arena_floats(s, B * G);
        b->mean2 = cdrl_arena_floats(s, B * G);
        b->rstd2 = cdrl_arena_floats(s, B * G);
    }
    m->x = cdrl_arena_floats(s, B * (size_t)D);
    m->h_last = cdrl_arena_floats(s, B * (size_t)H);
    m->o = cdrl_arena_floats(s, B * (size_t)H);
    m->n_levels = n_levels;

    // PyTorch defaults; GroupNorm affine 1/0; conv2 and final_dense weights zero (biases not).
    init_linear(m, m->h1_w, m->h1_b, D, H, rng);
    init_linear(m, m->t0_w, m->t0_b, T, T, rng);
    init_linear(m, m->t2_w, m->t2_b, T, T, rng);
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        for (int c = 0; c < H; c++)
            m->p[b->n1_w + (size_t)c] = m->p[b->n2_w + (size_t)c] = 1.0f;
        init_linear(m, b->c1_w, b->c1_b, H, H, rng);
        init_linear(m, b->c2_w, b->c2_b, H, H, rng);
        cdrl_zero(m->p + b->c2_w, (size_t)H * (size_t)H);
        init_linear(m, b->mlp_w, b->mlp_b, T, 2 * H, rng);
    }
    if (cfg->n_attrs) init_linear(m, m->y_w, m->y_b, m->lr.NC, T, rng); // after the others
    return m;
}

void cdrl_toy_init_free(cdrl_toy_init *m) {
    if (!m) return;
    cdrl_arena_deinit(&m->store);
    cdrl_arena_deinit(&m->scratch);
    cdrl_param_table_deinit(&m->params);
    cdrl_label_rows_deinit(&m->lr);
    cdrl_free(m);
}

static void lin_fwd(cdrl_toy_init *m, float *out, const float *inp, size_t w, const size_t *b,
                    int N, int in, int outc) {
    cdrl_linear_forward(out, inp, m->p + w, b ? m->p + *b : NULL, N, in, outc, &m->scratch);
}

static void lin_bwd(cdrl_toy_init *m, float *dinp, const float *dout, const float *inp, size_t w,
                    const size_t *b, int N, int in, int outc) {
    cdrl_linear_backward(dinp, m->grad + w, b ? m->grad + *b : NULL, dout, inp, m->p + w, N, in,
                         outc, &m->scratch);
}

void cdrl_toy_init_prepare(cdrl_toy_init *m, const float *tau, int n_levels) {
    CDRL_ASSERT(n_levels >= 1);
    const int T = m->cfg.t_dim, H = m->cfg.h_dim, L = n_levels;
    const size_t nt = (size_t)L * (size_t)T;
    m->n_levels = L;
    cdrl_timestep_embedding_forward(m->lvl_e0, tau, L, T);
    lin_fwd(m, m->lvl_z, m->lvl_e0, m->t0_w, &m->t0_b, L, T, T);
    cdrl_silu_forward(m->lvl_a, m->lvl_z, nt);
    lin_fwd(m, m->lvl_t, m->lvl_a, m->t2_w, &m->t2_b, L, T, T);
    const int R = m->n_rows = cdrl_label_rows_count(&m->lr, L);
    const size_t nr = (size_t)R * (size_t)T;
    if (m->lr.A) { // t of row (l, c) = t_l + y_mlp(c)
        cdrl_class_columns_forward(m->y_comb, m->p + m->y_w, m->p + m->y_b, m->lr.cols, 1.0f,
                                   m->lr.C, m->lr.A, T, m->lr.NC);
        cdrl_gather_rows(m->row_t, m->y_comb, m->lr.row_comb, R, T, 0);
        cdrl_gather_rows(m->row_t, m->lvl_t, m->lr.row_level, R, T, 1);
    }
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        cdrl_silu_forward(b->lvl_st, m->lr.A ? m->row_t : m->lvl_t, nr);
        lin_fwd(m, b->lvl_ss, b->lvl_st, b->mlp_w, &b->mlp_b, R, T, 2 * H);
    }
}

void cdrl_toy_init_forward(cdrl_toy_init *m, float *mu, const float *x, const int *level,
                           const int *label, int B) {
    CDRL_ASSERT(B >= 1 && B <= m->max_batch);
    const int D = m->cfg.in_dim, H = m->cfg.h_dim;
    const size_t nh = (size_t)B * (size_t)H;
    m->batch = B;
    for (int n = 0; n < B; n++)
        CDRL_DASSERT(level[n] >= 0 && level[n] < m->n_levels);
    m->row = m->lr.A ? cdrl_label_rows_index(&m->lr, level, label, B) : level;
    cdrl_copy(m->x, x, (size_t)B * (size_t)D);
    const size_t mark = cdrl_arena_mark(&m->scratch);
    float *ss = cdrl_arena_floats(&m->scratch, 2 * nh); // (B, 2H) each row's level's FiLM
    lin_fwd(m, m->blk[0].h, m->x, m->h1_w, &m->h1_b, B, D, H);
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        float *next = i + 1 < m->n_blk ? m->blk[i + 1].h : m->h_last;
        // GroupNorm over the H features of each row (HW = 1).
        cdrl_groupnorm_forward(b->n1, b->mean1, b->rstd1, b->h, m->p + b->n1_w, m->p + b->n1_b, B,
                               H, 1, m->cfg.groups, GN_EPS);
        cdrl_silu_forward(b->a1, b->n1, nh);
        lin_fwd(m, b->c1, b->a1, b->c1_w, &b->c1_b, B, H, H);
        cdrl_groupnorm_forward(b->n2, b->mean2, b->rstd2, b->c1, m->p + b->n2_w, m->p + b->n2_b, B,
                               H, 1, m->cfg.groups, GN_EPS);
        // m = n2 * (1 + scale[row]) + shift[row]
        cdrl_gather_rows(ss, b->lvl_ss, m->row, B, 2 * H, 0);
        cdrl_film_forward(b->m, b->n2, ss, B, H, 1);
        cdrl_silu_forward(b->a2, b->m, nh);
        lin_fwd(m, next, b->a2, b->c2_w, &b->c2_b, B, H, H);
        cdrl_add_into(next, b->h, nh);
    }
    cdrl_silu_forward(m->o, m->h_last, nh);
    lin_fwd(m, mu, m->o, m->final_w, NULL, B, H, D);
    cdrl_add_into(mu, m->x, (size_t)B * (size_t)D);
    cdrl_arena_release(&m->scratch, mark);
}

void cdrl_toy_init_backward(cdrl_toy_init *m, const float *dmu) {
    const int B = m->batch, D = m->cfg.in_dim, H = m->cfg.h_dim;
    const size_t nh = (size_t)B * (size_t)H;
    const size_t mark = cdrl_arena_mark(&m->scratch);
    float *dh = cdrl_arena_floats(&m->scratch, nh);
    float *da = cdrl_arena_floats(&m->scratch, nh);
    float *dm = cdrl_arena_floats(&m->scratch, nh);
    float *dn = cdrl_arena_floats(&m->scratch, nh);
    float *ss = cdrl_arena_floats(&m->scratch, 2 * nh);  // (B, 2H) each row's level's FiLM
    float *dss = cdrl_arena_floats(&m->scratch, 2 * nh); // (B, 2H) its gradient
    // mu = final_dense(silu(h_last)) + x
    cdrl_zero(da, nh);
    lin_bwd(m, da, dmu, m->o, m->final_w, NULL, B, H, D);
    cdrl_zero(dh, nh);
    cdrl_silu_backward(dh, da, m->h_last, nh);
    for (int i = m->n_blk - 1; i >= 0; i--) {
        toy_init_block *b = &m->blk[i];
        // next = conv2(silu(m)) + h, so dh flows on unchanged and into conv2.
        cdrl_zero(da, nh);
        lin_bwd(m, da, dh, b->a2, b->c2_w, &b->c2_b, B, H, H);
        cdrl_zero(dm, nh);
        cdrl_silu_backward(dm, da, b->m, nh);
        // m = n2 * (1 + scale[row]) + shift[row]
        cdrl_gather_rows(ss, b->lvl_ss, m->row, B, 2 * H, 0);
        cdrl_film_backward(dm, dss, b->n2, ss, B, H, 1); // dm becomes d n2
        cdrl_scatter_rows(b->lvl_dss, dss, m->row, B, 2 * H);
        cdrl_zero(da, nh);
        cdrl_groupnorm_backward(da, m->grad + b->n2_w, m->grad + b->n2_b, dm, b->c1, b->mean2,
                                b->rstd2, m->p + b->n2_w, B, H, 1, m->cfg.groups);
        cdrl_zero(dm, nh);
        lin_bwd(m, dm, da, b->a1, b->c1_w, &b->c1_b, B, H, H);
        cdrl_zero(dn, nh);
        cdrl_silu_backward(dn, dm, b->n1, nh);
        cdrl_groupnorm_backward(dh, m->grad + b->n1_w, m->grad + b->n1_b, dn, b->h, b->mean1,
                                b->rstd1, m->p + b->n1_w, B, H, 1, m->cfg.groups);
    }
    lin_bwd(m, NULL, dh, m->x, m->h1_w, &m->h1_b, B, D, H);
    cdrl_arena_release(&m->scratch, mark);
}

void cdrl_toy_init_zero_grad(cdrl_toy_init *m) {
    cdrl_zero(m->grad, m->params.total);
    cdrl_zero(m->lvl_dt, (size_t)m->n_levels * (size_t)m->cfg.t_dim);
    cdrl_zero(m->row_dt, (size_t)m->n_rows * (size_t)m->cfg.t_dim);
    for (int i = 0; i < m->n_blk; i++)
        cdrl_zero(m->blk[i].lvl_dss, (size_t)m->n_rows * 2 * (size_t)m->cfg.h_dim);
}

void cdrl_toy_init_finish_grads(cdrl_toy_init *m) {
    const int T = m->cfg.t_dim, H = m->cfg.h_dim, L = m->n_levels, R = m->n_rows;
    const size_t nt = (size_t)L * (size_t)T, nr = (size_t)R * (size_t)T;
    const size_t mark = cdrl_arena_mark(&m->scratch);
    float *d1 = cdrl_arena_floats(&m->scratch, nr);
    float *d2 = cdrl_arena_floats(&m->scratch, nr);
    for (int i = 0; i < m->n_blk; i++) {
        toy_init_block *b = &m->blk[i];
        cdrl_zero(d1, nr);
        lin_bwd(m, d1, b->lvl_dss, b->lvl_st, b->mlp_w, &b->mlp_b, R, T, 2 * H);
        cdrl_silu_backward(m->lr.A ? m->row_dt : m->lvl_dt, d1, m->lr.A ? m->row_t : m->lvl_t, nr);
    }
    if (m->lr.A) { // t of row (l, c) = t_l + y_mlp(c): sums over the rows of each l and c
        cdrl_scatter_rows(m->lvl_dt, m->row_dt, m->lr.row_level, R, T);
        cdrl_zero(d2, (size_t)m->lr.C * (size_t)T);
        cdrl_scatter_rows(d2, m->row_dt, m->lr.row_comb, R, T);
        cdrl_class_columns_backward(m->grad + m->y_w, m->grad + m->y_b, d2, m->lr.cols, 1.0f,
                                    m->lr.C, m->lr.A, T, m->lr.NC);
    }
    cdrl_zero(d1, nt);
    lin_bwd(m, d1, m->lvl_dt, m->lvl_a, m->t2_w, &m->t2_b, L, T, T);
    cdrl_zero(d2, nt);
    cdrl_silu_backward(d2, d1, m->lvl_z, nt);
    lin_bwd(m, NULL, d2, m->lvl_e0, m->t0_w, &m->t0_b, L, T, T);
    cdrl_arena_release(&m->scratch, mark);
}

// ---------------------------------------------------------------------------------------
// cdrl_net view

static void net_prepare(void *impl, const float *tau, int n_levels, int train) {
    (void)train;
    cdrl_toy_init_prepare(impl, tau, n_levels);
}
static void net_forward(void *impl, float *out, const float *x, const int *level, const int *label,
                        int B) {
    cdrl_toy_init_forward(impl, out, x, level, label, B);
}
static void net_backward(void *impl, float *dx, const float *dout, int param_grads) {
    CDRL_ASSERT(dx == NULL && param_grads); // the initializer's input is data
    cdrl_toy_init_backward(impl, dout);
}
static void net_zero_grad(void *impl) { cdrl_toy_init_zero_grad(impl); }
static void net_finish_grads(void *impl) { cdrl_toy_init_finish_grads(impl); }

cdrl_net cdrl_toy_init_net(cdrl_toy_init *m) {
    return (cdrl_net){.impl = m,
                      .dim = m->cfg.in_dim,
                      .params = &m->params,
                      .buffers = NULL,
                      .p = &m->p,
                      .p_own = m->p_own,
                      .grad = m->grad,
                      .buf = NULL,
                      .prepare = net_prepare,
                      .forward = net_forward,
                      .backward = net_backward,
                      .zero_grad = net_zero_grad,
                      .finish_grads = net_finish_grads};
}
