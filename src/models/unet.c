// The image initializer U-Net (see unet.h). create registers the parameters in state_dict
// order, then lays out the forward program (ops over tensors) in execution order and carves
// every activation from one arena; backward walks the program in reverse. A ResBlock keeps
// only its norm outputs, conv1 output and dropout mask: the SiLU outputs, the FiLM result and
// conv2's input are recomputed in backward from them (element-wise, small next to the
// convolutions), which keeps a training batch's activations about half as large.
// Reference: official models/unet.py, models/unet_cond.py; twin ref/unet_twin.py.
#include "models/unet.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops/backend.h"

#define GN_EPS 1e-6f
#define GN_G   CDRL_UNET_GROUPS

enum { OP_RES = 0, OP_ATTN = 1 };

void cdrl_unet_config_cifar10(cdrl_unet_config *c) {
    memset(c, 0, sizeof *c);
    c->in_ch = 3;
    c->resolution = 32;
    c->dim = 64;
    c->n_levels = 3;
    for (int i = 0; i < 3; i++)
        c->dim_mults[i] = 1;
    c->num_res_blocks = 3;
    c->n_attn = 2;
    c->attn_resolutions[0] = 8;
    c->attn_resolutions[1] = 16;
    c->dropout = 0.1f;
    c->n_classes = 0;
}

void cdrl_unet_config_imagenet32(cdrl_unet_config *c) {
    cdrl_unet_config_cifar10(c);
    c->num_res_blocks = 2;
    c->n_classes = 1000;
}

static int has_attn(const cdrl_unet_config *c, int size) {
    for (int i = 0; i < c->n_attn; i++)
        if (c->attn_resolutions[i] == size) return 1;
    return 0;
}

static cdrl_conv2d_desc cd(int B, int IC, int OC, int H, int W, int K) {
    cdrl_conv2d_desc d = {B, IC, OC, H, W, K};
    return d;
}

// ---------------------------------------------------------------------------------------
// Parameter registration (state_dict order)

static size_t reg(cdrl_unet *m, int ndim, int a, int b, int c, int d, const char *prefix,
                  const char *name) {
    int shape[4] = {a, b, c, d};
    return cdrl_param_add(&m->params, ndim, shape, "%s%s", prefix, name);
}

// Module entry of a level's list: kind and index into res[] or attn[].
typedef struct mod_ref {
    int kind, idx;
} mod_ref;

static mod_ref add_res(cdrl_unet *m, const char *prefix, int cin, int cout, int size,
                       int resample) {
    const int E = 4 * m->cfg.dim;
    cdrl_unet_res *r = &m->res[m->n_res];
    memset(r, 0, sizeof *r);
    r->cin = cin;
    r->cout = cout;
    r->hi = r->wi = size;
    r->ho = r->wo = resample == CDRL_RESAMPLE_DOWN ? size / 2
                    : resample == CDRL_RESAMPLE_UP ? 2 * size
                                                   : size;
    r->resample = resample;
    r->has_sc = cin != cout;
    // nn.Module registration order of the official ResnetBlock: norm1, norm2, conv1, conv2,
    // mlp (SiLU, Linear), res_conv.
    r->n1_w = reg(m, 1, cin, 0, 0, 0, prefix, ".norm1.weight");
    r->n1_b = reg(m, 1, cin, 0, 0, 0, prefix, ".norm1.bias");
    r->n2_w = reg(m, 1, cout, 0, 0, 0, prefix, ".norm2.weight");
    r->n2_b = reg(m, 1, cout, 0, 0, 0, prefix, ".norm2.bias");
    r->c1_w = reg(m, 4, cout, cin, 3, 3, prefix, ".conv1.weight");
    r->c1_b = reg(m, 1, cout, 0, 0, 0, prefix, ".conv1.bias");
    r->c2_w = reg(m, 4, cout, cout, 3, 3, prefix, ".conv2.weight");
    r->c2_b = reg(m, 1, cout, 0, 0, 0, prefix, ".conv2.bias");
    r->mlp_w = reg(m, 2, 2 * cout, E, 0, 0, prefix, ".mlp.1.weight");
    r->mlp_b = reg(m, 1, 2 * cout, 0, 0, 0, prefix, ".mlp.1.bias");
    if (r->has_sc) {
        r->sc_w = reg(m, 4, cout, cin, 1, 1, prefix, ".res_conv.weight");
        r->sc_b = reg(m, 1, cout, 0, 0, 0, prefix, ".res_conv.bias");
    }
    return (mod_ref){OP_RES, m->n_res++};
}

static mod_ref add_attn(cdrl_unet *m, const char *prefix, int C, int size) {
    cdrl_unet_attn *a = &m->attn[m->n_attn];
    memset(a, 0, sizeof *a);
    a->C = C;
    a->H = a->W = size;
    a->norm_w = reg(m, 1, C, 0, 0, 0, prefix, ".norm.weight");
    a->norm_b = reg(m, 1, C, 0, 0, 0, prefix, ".norm.bias");
    a->qkv_w = reg(m, 4, 3 * C, C, 1, 1, prefix, ".to_qkv.weight");
    a->qkv_b = reg(m, 1, 3 * C, 0, 0, 0, prefix, ".to_qkv.bias");
    a->out_w = reg(m, 4, C, C, 1, 1, prefix, ".to_out.weight");
    a->out_b = reg(m, 1, C, 0, 0, 0, prefix, ".to_out.bias");
    return (mod_ref){OP_ATTN, m->n_attn++};
}

// ---------------------------------------------------------------------------------------
// The forward program

static int new_tensor(cdrl_unet *m, int c, int size, int is_skip) {
    cdrl_unet_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->c = c;
    t->h = t->w = size;
    t->is_skip = is_skip;
    return m->n_tensors++;
}

static void add_op(cdrl_unet *m, mod_ref mod, int in, int skip, int out) {
    m->ops[m->n_ops++] =
        (cdrl_unet_op){.kind = mod.kind, .idx = mod.idx, .in = in, .out = out, .skip = skip};
}

// Registers every module (state_dict order: downs, ups, then the middle), then wires them in
// execution order (downs, middle, ups) as the official forward does. mods and stack (the
// official `hs`) have room for every module and tensor.
static void build(cdrl_unet *m, mod_ref *mods, int *stack) {
    const cdrl_unet_config *c = &m->cfg;
    const int C = c->dim, R = c->num_res_blocks, n = c->n_levels;
    char prefix[64];
    int n_down = 0, n_up, n_all;
    int size = c->resolution;
    for (int l = 0; l < n; l++) {
        int k = 0;
        for (int r = 0; r < R; r++) {
            snprintf(prefix, sizeof prefix, "downs.%d.%d", l, k++);
            mods[n_down++] = add_res(m, prefix, C, C, size, CDRL_RESAMPLE_NONE);
            if (has_attn(c, size)) {
                snprintf(prefix, sizeof prefix, "downs.%d.%d", l, k++);
                mods[n_down++] = add_attn(m, prefix, C, size);
            }
        }
        if (l < n - 1) {
            snprintf(prefix, sizeof prefix, "downs.%d.%d", l, k++);
            mods[n_down++] = add_res(m, prefix, C, C, size, CDRL_RESAMPLE_DOWN);
            size /= 2;
        }
    }
    n_up = n_down;
    for (int l = 0; l < n; l++) {
        int k = 0;
        for (int r = 0; r < R + 1; r++) {
            snprintf(prefix, sizeof prefix, "ups.%d.%d", l, k++);
            mods[n_up++] = add_res(m, prefix, 2 * C, C, size, CDRL_RESAMPLE_NONE);
            if (has_attn(c, size)) {
                snprintf(prefix, sizeof prefix, "ups.%d.%d", l, k++);
                mods[n_up++] = add_attn(m, prefix, C, size);
            }
        }
        if (l < n - 1) {
            snprintf(prefix, sizeof prefix, "ups.%d.%d", l, k++);
            mods[n_up++] = add_res(m, prefix, C, C, size, CDRL_RESAMPLE_UP);
            size *= 2;
        }
    }
    const int low = c->resolution >> (n - 1); // the middle's resolution
    n_all = n_up;
    mods[n_all++] = add_res(m, "mid_block1", C, C, low, CDRL_RESAMPLE_NONE);
    mods[n_all++] = add_attn(m, "mid_attn", C, low); // whatever attn_resolutions says
    mods[n_all++] = add_res(m, "mid_block2", C, C, low, CDRL_RESAMPLE_NONE);

    // Wiring: every tensor pushed on the stack is a skip tensor.
    int sp = 0, i = 0;
    size = c->resolution;
    stack[sp++] = m->t_first = new_tensor(m, C, size, 1);
    for (int l = 0; l < n; l++) {
        for (int r = 0; r < R; r++) {
            int out = new_tensor(m, C, size, 0);
            add_op(m, mods[i++], stack[sp - 1], -1, out);
            if (has_attn(c, size)) {
                int o2 = new_tensor(m, C, size, 0);
                add_op(m, mods[i++], out, -1, o2);
                out = o2;
            }
            m->tensors[out].is_skip = 1;
            stack[sp++] = out;
        }
        if (l < n - 1) {
            int out = new_tensor(m, C, size / 2, 1);
            add_op(m, mods[i++], stack[sp - 1], -1, out);
            stack[sp++] = out;
            size /= 2;
        }
    }
    CDRL_ASSERT(i == n_down);
    int h = stack[sp - 1];
    for (int k = n_up; k < n_all; k++) {
        int out = new_tensor(m, C, size, 0);
        add_op(m, mods[k], h, -1, out);
        h = out;
    }
    for (int l = 0; l < n; l++) {
        for (int r = 0; r < R + 1; r++) {
            CDRL_ASSERT(sp > 0);
            int out = new_tensor(m, C, size, 0);
            add_op(m, mods[i++], h, stack[--sp], out);
            h = out;
            if (has_attn(c, size)) {
                out = new_tensor(m, C, size, 0);
                add_op(m, mods[i++], h, -1, out);
                h = out;
            }
        }
        if (l < n - 1) {
            int out = new_tensor(m, C, 2 * size, 0);
            add_op(m, mods[i++], h, -1, out);
            h = out;
            size *= 2;
        }
    }
    CDRL_ASSERT(sp == 0 && i == n_up && size == c->resolution);
    m->t_last = h;
}

// ---------------------------------------------------------------------------------------
// Memory: one pass sizes (arena NULL), the next carves, so the two can never disagree.

typedef struct carver {
    cdrl_arena *a;
    size_t need;
} carver;

static float *take(carver *cv, size_t n) {
    if (!cv->a) {
        cv->need += cdrl_arena_floats_size(n);
        return NULL;
    }
    return cdrl_arena_floats(cv->a, n);
}

static cdrl_attn_block attn_params(const cdrl_unet *m, const cdrl_unet_attn *a) {
    const float *p = m->p;
    return (cdrl_attn_block){.C = a->C,
                             .G = GN_G,
                             .eps = GN_EPS,
                             .norm_w = p + a->norm_w,
                             .norm_b = p + a->norm_b,
                             .qkv_w = p + a->qkv_w,
                             .qkv_b = p + a->qkv_b,
                             .out_w = p + a->out_w,
                             .out_b = p + a->out_b};
}

// The sizes alone (no parameter pointers): what the acts and scratch size functions read.
static cdrl_attn_block attn_shape(const cdrl_unet_attn *a) {
    return (cdrl_attn_block){.C = a->C, .G = GN_G, .eps = GN_EPS};
}

// Likewise for a ResBlock.
static cdrl_res_block res_shape(const cdrl_unet *m, const cdrl_unet_res *r) {
    return (cdrl_res_block){.cin = r->cin,
                            .cout = r->cout,
                            .H = r->hi,
                            .W = r->wi,
                            .resample = r->resample,
                            .E = 4 * m->cfg.dim,
                            .G = GN_G,
                            .eps = GN_EPS,
                            .dropout = m->cfg.dropout};
}

static cdrl_res_block res_params(const cdrl_unet *m, const cdrl_unet_res *r) {
    const float *p = m->p;
    cdrl_res_block b = res_shape(m, r);
    b.n1_w = p + r->n1_w;
    b.n1_b = p + r->n1_b;
    b.n2_w = p + r->n2_w;
    b.n2_b = p + r->n2_b;
    b.c1_w = p + r->c1_w;
    b.c1_b = p + r->c1_b;
    b.c2_w = p + r->c2_w;
    b.c2_b = p + r->c2_b;
    b.mlp_w = p + r->mlp_w;
    b.mlp_b = p + r->mlp_b;
    b.sc_w = r->has_sc ? p + r->sc_w : NULL;
    b.sc_b = r->has_sc ? p + r->sc_b : NULL;
    return b;
}

static cdrl_res_block_grads res_grads(const cdrl_unet *m, const cdrl_unet_res *r) {
    float *g = m->grad;
    return (cdrl_res_block_grads){.n1_w = g + r->n1_w,
                                  .n1_b = g + r->n1_b,
                                  .n2_w = g + r->n2_w,
                                  .n2_b = g + r->n2_b,
                                  .c1_w = g + r->c1_w,
                                  .c1_b = g + r->c1_b,
                                  .c2_w = g + r->c2_w,
                                  .c2_b = g + r->c2_b,
                                  .mlp_w = g + r->mlp_w,
                                  .mlp_b = g + r->mlp_b,
                                  .sc_w = r->has_sc ? g + r->sc_w : NULL,
                                  .sc_b = r->has_sc ? g + r->sc_b : NULL};
}

static void carve(cdrl_unet *m, carver *cv) {
    const cdrl_unet_config *c = &m->cfg;
    const size_t B = (size_t)m->max_batch, L = (size_t)m->max_levels, C = (size_t)c->dim;
    const size_t E = 4 * C, HW = (size_t)c->resolution * (size_t)c->resolution;
    m->p_own = m->p = take(cv, m->params.total);
    m->grad = take(cv, m->params.total);
    m->lvl_e0 = take(cv, L * C);
    m->lvl_z = take(cv, L * E);
    m->lvl_a = take(cv, L * E);
    m->lvl_t = take(cv, L * E);
    m->lvl_dt = take(cv, L * E);
    m->x = take(cv, B * (size_t)c->in_ch * HW);
    m->t = take(cv, B * E);
    m->st = take(cv, B * E);
    m->fn = take(cv, B * C * HW);
    m->mean_f = take(cv, B * GN_G);
    m->rstd_f = take(cv, B * GN_G);
    for (int i = 0; i < m->n_tensors; i++) {
        cdrl_unet_tensor *t = &m->tensors[i];
        t->data = take(cv, B * (size_t)t->c * (size_t)t->h * (size_t)t->w);
    }
    for (int i = 0; i < m->n_res; i++) {
        cdrl_unet_res *r = &m->res[i];
        const size_t ni = B * (size_t)r->cin * (size_t)(r->hi * r->wi);
        r->cat = r->cin != r->cout ? take(cv, ni) : NULL; // only the up path concatenates
        const cdrl_res_block p = res_shape(m, r);
        if (cv->a)
            cdrl_res_block_acts_alloc(&r->acts, cv->a, &p, m->max_batch);
        else
            cv->need += cdrl_res_block_acts_size(&p, m->max_batch);
    }
    for (int i = 0; i < m->n_attn; i++) {
        cdrl_unet_attn *a = &m->attn[i];
        cdrl_attn_block p = attn_shape(a);
        if (cv->a)
            cdrl_attn_block_acts_alloc(&a->acts, cv->a, &p, m->max_batch, a->H * a->W);
        else
            cv->need += cdrl_attn_block_acts_size(&p, m->max_batch, a->H * a->W);
    }
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

// Scratch bytes: backward's skip gradients and pass-along buffers, a ResBlock's ten
// temporaries, and the largest kernel scratch (forward needs a subset of this).
static size_t scratch_bytes(const cdrl_unet *m) {
    const cdrl_unet_config *c = &m->cfg;
    const int B = m->max_batch, L = m->max_levels, C = c->dim, E = 4 * C, S = c->resolution;
    const size_t HW = (size_t)S * (size_t)S;
    size_t ts = (size_t)B * C * HW, kern = 0, skips = 0;
    cdrl_conv2d_desc d0 = cd(B, c->in_ch, C, S, S, 3), d1 = cd(B, C, c->in_ch, S, S, 3);
    kern = max_size(cdrl_conv2d_scratch_size(&d0), cdrl_conv2d_scratch_size(&d1));
    kern = max_size(kern, cdrl_linear_scratch_size(L, C, E));
    kern = max_size(kern, cdrl_linear_scratch_size(L, E, E));
    for (int i = 0; i < m->n_res; i++) {
        const cdrl_res_block p = res_shape(m, &m->res[i]);
        kern = max_size(kern, cdrl_res_block_scratch_size(&p, B));
    }
    for (int i = 0; i < m->n_attn; i++) {
        const cdrl_unet_attn *a = &m->attn[i];
        cdrl_attn_block p = attn_shape(a);
        kern = max_size(kern, cdrl_attn_block_scratch_size(&p, B, a->H, a->W));
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const cdrl_unet_tensor *t = &m->tensors[i];
        if (t->is_skip) skips += cdrl_arena_floats_size((size_t)B * t->c * (size_t)(t->h * t->w));
    }
    const size_t pass = 2 * cdrl_arena_floats_size((size_t)B * C * HW) +
                        cdrl_arena_floats_size((size_t)B * 2 * C * HW);
    const size_t small = 3 * cdrl_arena_floats_size((size_t)B * E) +
                         cdrl_arena_floats_size((size_t)B * 2 * C) +
                         2 * cdrl_arena_floats_size((size_t)L * E);
    return skips + pass + small + 10 * cdrl_arena_floats_size(ts) + kern + CDRL_ALIGN;
}

// ---------------------------------------------------------------------------------------
// Creation

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

// PyTorch defaults: Conv2d and Linear weights and biases U(+-1/sqrt(fan_in)) (kaiming_uniform
// with a = sqrt(5) reduces to that), GroupNorm weight 1 and bias 0; conv2 of each ResBlock,
// to_out of each attention and final_conv have zero weights (official __init__), their
// biases keep the default. Drawn tensor by tensor in state_dict order.
static void init_params(cdrl_unet *m, cdrl_rng *rng) {
    size_t fan_in = 1;
    for (int i = 0; i < m->params.count; i++) {
        const cdrl_param *p = &m->params.items[i];
        float *x = m->p_own + p->offset;
        if (p->ndim == 1 && (i == 0 || m->params.items[i - 1].ndim == 1)) {
            // GroupNorm affine pair (a bias always follows its own weight)
            const float v = ends_with(p->name, ".weight") ? 1.0f : 0.0f;
            for (size_t k = 0; k < p->numel; k++)
                x[k] = v;
            continue;
        }
        if (p->ndim > 1) {
            fan_in = p->numel / (size_t)p->shape[0];
            if (ends_with(p->name, "conv2.weight") || ends_with(p->name, "to_out.weight") ||
                ends_with(p->name, "final_conv.weight")) {
                cdrl_zero(x, p->numel);
                continue;
            }
        }
        cdrl_param_init_uniform(x, p->numel, 1.0f / sqrtf((float)fan_in), rng);
    }
}

// y_mlp's input columns (all attributes' one-hots) and, unless cols is NULL, the columns of
// the labels (B, A) (NULL: null labels).
static int unet_columns(const cdrl_unet_config *c, int *cols, const int *label, int B) {
    int K[CDRL_MAX_ATTRS];
    const int A = cdrl_attr_classes(K, c->n_classes, c->n_more, c->more_classes);
    return cdrl_label_columns(cols, label, B, A, K);
}

cdrl_unet *cdrl_unet_create(const cdrl_unet_config *cfg, int max_batch, int max_levels,
                            cdrl_rng *rng) {
    const cdrl_unet_config *c = cfg;
    CDRL_ASSERT(c->in_ch >= 1 && c->dim >= GN_G && c->dim % GN_G == 0 && c->num_res_blocks >= 1);
    CDRL_ASSERT(c->n_levels >= 1 && c->n_levels <= CDRL_UNET_MAX_LEVELS);
    CDRL_ASSERT(c->n_attn >= 0 && c->n_attn <= CDRL_UNET_MAX_ATTN && c->n_classes >= 0);
    CDRL_ASSERT(c->dropout >= 0.0f && c->dropout < 1.0f && max_batch >= 1 && max_levels >= 1);
    // The official up path only runs with every width equal to dim (see unet.h).
    for (int l = 0; l < c->n_levels; l++)
        CDRL_ASSERT(c->dim_mults[l] == 1);
    const int low = c->resolution >> (c->n_levels - 1);
    CDRL_ASSERT(low >= 1 && low << (c->n_levels - 1) == c->resolution);

    cdrl_unet *m = cdrl_calloc(sizeof *m);
    if (!m) return NULL;
    m->cfg = *c;
    m->max_batch = max_batch;
    m->max_levels = m->n_levels = max_levels;
    cdrl_param_table_init(&m->params);
    const int n = c->n_levels, R = c->num_res_blocks;
    const int max_res = n * (R + 1) + n * (R + 2) + 2, max_attn = n * R + n * (R + 1) + 1;
    const int max_mods = max_res + max_attn;
    m->res = cdrl_calloc(sizeof(cdrl_unet_res) * (size_t)max_res);
    m->attn = cdrl_calloc(sizeof(cdrl_unet_attn) * (size_t)max_attn);
    m->ops = cdrl_calloc(sizeof(cdrl_unet_op) * (size_t)max_mods);
    m->tensors = cdrl_calloc(sizeof(cdrl_unet_tensor) * (size_t)(max_mods + 1));
    mod_ref *mods = cdrl_calloc(sizeof(mod_ref) * (size_t)max_mods);
    int *stack = cdrl_calloc(sizeof(int) * (size_t)(max_mods + 1)); // hs: at most every tensor
    m->level = cdrl_calloc(sizeof(int) * (size_t)max_batch);
    m->fwd_labels = cdrl_calloc(sizeof(int) * (size_t)max_batch * CDRL_MAX_ATTRS);
    if (!m->res || !m->attn || !m->ops || !m->tensors || !mods || !stack || !m->level ||
        !m->fwd_labels) {
        cdrl_free(mods);
        cdrl_free(stack);
        cdrl_unet_free(m);
        return NULL;
    }

    const int C = c->dim, E = 4 * C;
    m->init_w = reg(m, 4, C, c->in_ch, 3, 3, "init_conv", ".weight");
    m->init_b = reg(m, 1, C, 0, 0, 0, "init_conv", ".bias");
    m->t1_w = reg(m, 2, E, C, 0, 0, "time_mlp.1", ".weight");
    m->t1_b = reg(m, 1, E, 0, 0, 0, "time_mlp.1", ".bias");
    m->t3_w = reg(m, 2, E, E, 0, 0, "time_mlp.3", ".weight");
    m->t3_b = reg(m, 1, E, 0, 0, 0, "time_mlp.3", ".bias");
    if (c->n_classes > 0) {
        m->y_w = reg(m, 2, E, unet_columns(c, NULL, NULL, 0), 0, 0, "y_mlp.0", ".weight");
        m->y_b = reg(m, 1, E, 0, 0, 0, "y_mlp.0", ".bias");
    }
    build(m, mods, stack);
    cdrl_free(mods);
    cdrl_free(stack);
    m->norm_w = reg(m, 1, C, 0, 0, 0, "norm", ".weight");
    m->norm_b = reg(m, 1, C, 0, 0, 0, "norm", ".bias");
    m->final_w = reg(m, 4, c->in_ch, C, 3, 3, "final_conv", ".weight");
    m->final_b = reg(m, 1, c->in_ch, 0, 0, 0, "final_conv", ".bias");

    carver cv = {NULL, 0};
    carve(m, &cv);
    if (cdrl_device_arena_init(&m->store, cv.need) != CDRL_OK ||
        cdrl_device_arena_init(&m->scratch, scratch_bytes(m)) != CDRL_OK) {
        cdrl_unet_free(m);
        return NULL;
    }
    cdrl_zero((float *)m->store.base, cv.need / sizeof(float));
    cv.a = &m->store;
    carve(m, &cv);
    CDRL_ASSERT(m->store.used == cv.need);

    init_params(m, rng);
    // The dropout stream's key comes from the caller's rng, after the weights.
    uint32_t key[2];
    cdrl_rng_int(rng, key, 2, UINT32_MAX);
    cdrl_rng_init(&m->drop_rng, ((uint64_t)key[0] << 32) | key[1], 0);
    return m;
}

void cdrl_unet_free(cdrl_unet *m) {
    if (!m) return;
    cdrl_arena_deinit(&m->store);
    cdrl_arena_deinit(&m->scratch);
    cdrl_param_table_deinit(&m->params);
    cdrl_free(m->res);
    cdrl_free(m->attn);
    cdrl_free(m->ops);
    cdrl_free(m->tensors);
    cdrl_free(m->level);
    cdrl_free(m->fwd_labels);
    cdrl_free(m);
}

size_t cdrl_unet_n_params(const cdrl_unet *m) {
    size_t n = 0;
    for (int i = 0; i < m->params.count; i++)
        n += m->params.items[i].numel;
    return n;
}

// ---------------------------------------------------------------------------------------
// Level embedding, labels

void cdrl_unet_prepare(cdrl_unet *m, const float *tau, int n_levels, int train) {
    CDRL_ASSERT(n_levels >= 1 && n_levels <= m->max_levels);
    const int C = m->cfg.dim, E = 4 * C, L = n_levels;
    m->n_levels = L;
    m->train = train != 0;
    cdrl_timestep_embedding_forward(m->lvl_e0, tau, L, C);
    cdrl_linear_forward(m->lvl_z, m->lvl_e0, m->p + m->t1_w, m->p + m->t1_b, L, C, E, &m->scratch);
    cdrl_silu_forward(m->lvl_a, m->lvl_z, (size_t)L * E);
    cdrl_linear_forward(m->lvl_t, m->lvl_a, m->p + m->t3_w, m->p + m->t3_b, L, E, E, &m->scratch);
}

static float *zeros(cdrl_arena *s, size_t n) {
    float *x = cdrl_arena_floats(s, n);
    cdrl_zero(x, n);
    return x;
}

// ---------------------------------------------------------------------------------------
// Forward and backward

void cdrl_unet_forward(cdrl_unet *m, float *mu, const float *x, const int *level, const int *label,
                       int B) {
    const cdrl_unet_config *c = &m->cfg;
    CDRL_ASSERT(B >= 1 && B <= m->max_batch);
    const int C = c->dim, E = 4 * C, S = c->resolution, A = c->n_classes ? 1 + c->n_more : 0;
    const size_t HW = (size_t)S * (size_t)S, nx = (size_t)B * c->in_ch * HW;
    const float *p = m->p;
    m->batch = B;
    m->fwd_dropout = m->train && c->dropout > 0.0f;
    cdrl_copy(m->x, x, nx);

    // Time vector per sample: the level's time_mlp output plus, conditional, y_mlp(onehot(c))
    // = column c of its weight + its bias (summed first, as the Linear's output is).
    for (int n = 0; n < B; n++) {
        CDRL_ASSERT(level[n] >= 0 && level[n] < m->n_levels);
        m->level[n] = level[n];
    }
    if (c->n_classes) {
        const int K1 = unet_columns(c, m->fwd_labels, label, B);
        cdrl_class_columns_forward(m->t, p + m->y_w, p + m->y_b, m->fwd_labels, 1.0f, B, A, E, K1);
        cdrl_gather_rows(m->t, m->lvl_t, m->level, B, E, 1);
    } else {
        cdrl_gather_rows(m->t, m->lvl_t, m->level, B, E, 0);
    }
    cdrl_silu_forward(m->st, m->t, (size_t)B * E);

    cdrl_conv2d_desc d0 = cd(B, c->in_ch, C, S, S, 3);
    cdrl_conv2d_forward(m->tensors[m->t_first].data, m->x, p + m->init_w, p + m->init_b, &d0,
                        &m->scratch);
    for (int i = 0; i < m->n_ops; i++) {
        const cdrl_unet_op *op = &m->ops[i];
        const cdrl_unet_tensor *in = &m->tensors[op->in];
        float *out = m->tensors[op->out].data;
        if (op->kind == OP_ATTN) {
            cdrl_unet_attn *a = &m->attn[op->idx];
            cdrl_attn_block bp = attn_params(m, a);
            cdrl_attn_block_forward(out, &a->acts, in->data, &bp, B, a->H, a->W, &m->scratch);
            continue;
        }
        cdrl_unet_res *r = &m->res[op->idx];
        const float *inp = in->data;
        if (op->skip >= 0) {
            const cdrl_unet_tensor *sk = &m->tensors[op->skip];
            cdrl_concat_forward(r->cat, in->data, sk->data, B, in->c, sk->c, in->h * in->w);
            inp = r->cat;
        }
        const cdrl_res_block rb = res_params(m, r);
        const float *replay = m->fwd_dropout ? m->replay_dropout : NULL;
        cdrl_res_block_forward(out, &r->acts, inp, m->st, &rb, B, m->train, &m->drop_rng, replay,
                               &m->scratch);
        if (replay) m->replay_dropout += (size_t)B * r->cout * (size_t)(r->ho * r->wo);
    }

    // mu = x + final_conv(silu(norm(h)))
    const size_t mark = cdrl_arena_mark(&m->scratch);
    const size_t nh = (size_t)B * C * HW;
    float *a = cdrl_arena_floats(&m->scratch, nh);
    cdrl_groupnorm_forward(m->fn, m->mean_f, m->rstd_f, m->tensors[m->t_last].data, p + m->norm_w,
                           p + m->norm_b, B, C, (int)HW, GN_G, GN_EPS);
    cdrl_silu_forward(a, m->fn, nh);
    cdrl_conv2d_desc df = cd(B, C, c->in_ch, S, S, 3);
    cdrl_conv2d_forward(mu, a, p + m->final_w, p + m->final_b, &df, &m->scratch);
    cdrl_add_into(mu, m->x, nx);
    cdrl_arena_release(&m->scratch, mark);
}

void cdrl_unet_backward(cdrl_unet *m, const float *dmu) {
    const cdrl_unet_config *c = &m->cfg;
    const int B = m->batch, C = c->dim, E = 4 * C, S = c->resolution;
    const int K1 = unet_columns(c, NULL, NULL, 0), A = c->n_classes ? 1 + c->n_more : 0;
    const size_t HW = (size_t)S * (size_t)S, nh = (size_t)B * C * HW;
    const float *p = m->p;
    float *g = m->grad;
    cdrl_arena *s = &m->scratch;
    const size_t mark = cdrl_arena_mark(s);

    float *dst = zeros(s, (size_t)B * E); // (B, E) d loss / d silu(t), summed over ResBlocks
    for (int i = 0; i < m->n_tensors; i++) {
        cdrl_unet_tensor *t = &m->tensors[i];
        t->grad = t->is_skip ? zeros(s, (size_t)B * t->c * (size_t)(t->h * t->w)) : NULL;
    }
    // Pass-along gradients of non-skip tensors: each is read by the op that produced the
    // tensor right after being written by its one consumer, so two buffers alternate.
    float *pass[2] = {cdrl_arena_floats(s, nh), cdrl_arena_floats(s, nh)};
    float *gcat = cdrl_arena_floats(s, 2 * nh); // (B, 2C, HW) concat gradient

    { // final: mu = x + final_conv(silu(norm(h)))
        const size_t m2 = cdrl_arena_mark(s);
        float *a = cdrl_arena_floats(s, nh);
        cdrl_silu_forward(a, m->fn, nh);
        float *da = cdrl_arena_floats(s, nh);
        cdrl_conv2d_desc df = cd(B, C, c->in_ch, S, S, 3);
        cdrl_conv2d_input_grad(da, dmu, p + m->final_w, NULL, &df, s);
        cdrl_conv2d_backward(NULL, g + m->final_w, g + m->final_b, dmu, a, p + m->final_w, &df, s);
        float *dfn = a; // the conv's input is spent
        cdrl_silu_backward_set(dfn, da, m->fn, nh);
        cdrl_groupnorm_backward_set(pass[0], g + m->norm_w, g + m->norm_b, dfn,
                                    m->tensors[m->t_last].data, m->mean_f, m->rstd_f, p + m->norm_w,
                                    B, C, (int)HW, GN_G);
        m->tensors[m->t_last].grad = pass[0];
        cdrl_arena_release(s, m2);
    }

    for (int i = m->n_ops - 1; i >= 0; i--) {
        const cdrl_unet_op *op = &m->ops[i];
        cdrl_unet_tensor *in = &m->tensors[op->in];
        const float *gout = m->tensors[op->out].grad;
        CDRL_ASSERT(gout);
        const size_t n_in = (size_t)B * in->c * (size_t)(in->h * in->w);
        float *gin = in->grad;
        // A skip tensor's gradient sums those of its consumers; a pass-along one has one
        // consumer, which writes it (a ResBlock) or adds to zeros (attention, concat).
        const int fresh = !in->is_skip, written = fresh && op->kind != OP_ATTN && op->skip < 0;
        if (fresh) {
            gin = gout == pass[0] ? pass[1] : pass[0];
            if (!written) cdrl_zero(gin, n_in);
            in->grad = gin;
        }
        if (op->kind == OP_ATTN) {
            const cdrl_unet_attn *a = &m->attn[op->idx];
            cdrl_attn_block bp = attn_params(m, a);
            cdrl_attn_block_grads bg = {.norm_w = g + a->norm_w,
                                        .norm_b = g + a->norm_b,
                                        .qkv_w = g + a->qkv_w,
                                        .qkv_b = g + a->qkv_b,
                                        .out_w = g + a->out_w,
                                        .out_b = g + a->out_b};
            cdrl_attn_block_backward(gin, &bg, gout, &a->acts, in->data, &bp, B, a->H, a->W, s);
        } else {
            const cdrl_unet_res *r = &m->res[op->idx];
            const cdrl_res_block rb = res_params(m, r);
            const cdrl_res_block_grads rg = res_grads(m, r);
            if (op->skip < 0) {
                cdrl_res_block_backward(gin, dst, &rg, gout, &r->acts, in->data, m->st, &rb, B,
                                        m->train, !written, s);
            } else {
                cdrl_unet_tensor *sk = &m->tensors[op->skip];
                cdrl_res_block_backward(gcat, dst, &rg, gout, &r->acts, r->cat, m->st, &rb, B,
                                        m->train, 0, s);
                cdrl_concat_backward(gin, sk->grad, gcat, B, in->c, sk->c, in->h * in->w);
            }
        }
    }
    cdrl_conv2d_desc d0 = cd(B, c->in_ch, C, S, S, 3);
    cdrl_conv2d_backward(NULL, g + m->init_w, g + m->init_b, m->tensors[m->t_first].grad, m->x,
                         p + m->init_w, &d0, s);

    // Time vector: the level part waits in lvl_dt for finish_grads; the class part is the
    // one-hot Linear, whose weight gradient is the column of each sample's label.
    float *dt = cdrl_arena_floats(s, (size_t)B * E);
    cdrl_silu_backward_set(dt, dst, m->t, (size_t)B * E);
    cdrl_scatter_rows(m->lvl_dt, dt, m->level, B, E);
    if (c->n_classes)
        cdrl_class_columns_backward(g + m->y_w, g + m->y_b, dt, m->fwd_labels, 1.0f, B, A, E, K1);
    for (int i = 0; i < m->n_tensors; i++)
        m->tensors[i].grad = NULL;
    cdrl_arena_release(s, mark);
}

void cdrl_unet_zero_grad(cdrl_unet *m) {
    cdrl_zero(m->grad, m->params.total);
    cdrl_zero(m->lvl_dt, (size_t)m->max_levels * 4 * (size_t)m->cfg.dim);
}

void cdrl_unet_finish_grads(cdrl_unet *m) {
    const int C = m->cfg.dim, E = 4 * C, L = m->n_levels;
    const size_t nt = (size_t)L * E;
    cdrl_arena *s = &m->scratch;
    const size_t mark = cdrl_arena_mark(s);
    float *d1 = zeros(s, nt), *d2 = zeros(s, nt);
    cdrl_linear_backward(d1, m->grad + m->t3_w, m->grad + m->t3_b, m->lvl_dt, m->lvl_a,
                         m->p + m->t3_w, L, E, E, s);
    cdrl_silu_backward(d2, d1, m->lvl_z, nt);
    cdrl_linear_backward(NULL, m->grad + m->t1_w, m->grad + m->t1_b, d2, m->lvl_e0, m->p + m->t1_w,
                         L, C, E, s);
    cdrl_arena_release(s, mark);
}

// ---------------------------------------------------------------------------------------
// cdrl_net view

static void net_prepare(void *impl, const float *tau, int n_levels, int train) {
    cdrl_unet_prepare(impl, tau, n_levels, train);
}
static void net_forward(void *impl, float *out, const float *x, const int *level, const int *label,
                        int B) {
    cdrl_unet_forward(impl, out, x, level, label, B);
}
static void net_backward(void *impl, float *dx, const float *dout, int param_grads) {
    CDRL_ASSERT(dx == NULL && param_grads); // the initializer's input is data
    cdrl_unet_backward(impl, dout);
}
static void net_zero_grad(void *impl) { cdrl_unet_zero_grad(impl); }
static void net_finish_grads(void *impl) { cdrl_unet_finish_grads(impl); }

cdrl_net cdrl_unet_net(cdrl_unet *m) {
    const int S = m->cfg.resolution;
    return (cdrl_net){.impl = m,
                      .dim = m->cfg.in_ch * S * S,
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
