// Public models (cdrl_model_*): the networks, the trainer that owns their optimiser state and
// EMA copies, and the checkpoint format (docs/formats.md): one safetensors file with
//   ebm.<name>, init.<name>             parameters (and the EBM's spectral-norm u, v)
//   ebm_ema.<name>, init_ema.<name>     EMA copies
//   ebm_adam_m.<name>, ebm_adam_v.<name>, init_adam_m.<name>, init_adam_v.<name>
// and metadata format, version, config (JSON), step and rng (key stream counter); image models
// add drop_rng, the U-Net's dropout stream (key stream counter), so that resume is exact.
// The toy kind runs the MLPs of §5.6; the image kind the SN ResNet EBM and the U-Net
// (models/img_ebm.h, models/unet.h), unconditional or class-conditional (label dropout in
// training, classifier-free guidance in sampling), with the image schedule and the final
// Tweedie step when sampling. Weights-only files converted from official checkpoints load here
// too (their tensors through models/load.c).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset.h"
#include "io/safetensors.h"
#include "models/img_ebm.h"
#include "models/load.h"
#include "models/toy_ebm.h"
#include "models/toy_init.h"
#include "models/unet.h"
#include "sampler/chain.h"
#include "train/trainer.h"

#define CKPT_FORMAT  "cdrl-checkpoint"
#define CKPT_VERSION "1"
// Rows per network call when sampling or evaluating densities (toy; images use the batch).
#define CHUNK 2500
// Share of training labels replaced by the null label (method.md §7, p_cond of the official code).
#define LABEL_DROP 0.1f

struct cdrl_model {
    cdrl_config cfg;
    cdrl_schedule sched;
    cdrl_toy_ebm *ebm; // toy kind
    cdrl_toy_init *init;
    cdrl_img_ebm *iebm; // image kind
    cdrl_unet *unet;
    cdrl_net ebm_net, init_net;
    cdrl_trainer tr;
    int max_rows;
    int chunk;          // rows per sampling / density call
    float *batch;       // (B, dim) the current training batch
    int *label;         // (B) its labels, conditional models: class + 1, or 0 when dropped
    float *drop;        // (B) uniform draws deciding the drops
    cdrl_arena scratch; // sampling and density temporaries
};

// K_ref of the step-size rule (method.md §2.3): Langevin with K steps moves by K_ref / K.
static int langevin_ref_steps(const cdrl_config *c) {
    return c->langevin_ref_steps > 0 ? c->langevin_ref_steps : c->n_langevin;
}

static cdrl_status check_image_config(const cdrl_config *c) {
    if (c->in_ch < 1 || c->in_ch > 4 || c->res < 2 || c->res > 1024 ||
        c->dim != c->in_ch * c->res * c->res)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: image shape out of range (in_ch %d in 1..4, res %d, dim %d must "
                         "be in_ch*res*res)",
                         c->in_ch, c->res, c->dim);
    if (c->n_classes < 0 || c->n_classes > 100000)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: n_classes %d out of range (0 unconditional, else 1..100000)",
                         c->n_classes);
    int ok = c->ebm_ch >= 2 && c->ebm_ch % 2 == 0 && c->ebm_blocks >= 1 && c->ebm_n_mult >= 1 &&
             c->ebm_n_mult <= CDRL_CONFIG_MAX_MULT && (c->res >> c->ebm_n_mult) >= 1 &&
             c->ebm_n_mult * c->ebm_blocks <= CDRL_IMG_EBM_MAX_BLOCKS;
    for (int l = 0; ok && l < c->ebm_n_mult; l++)
        ok = c->ebm_ch_mult[l] >= 1 && c->ebm_ch_mult[l] <= 64;
    if (!ok)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: image EBM out of range (ebm_ch %d even, ebm_blocks %d, ebm_n_mult %d with res "
            ">= 2^ebm_n_mult and at most %d blocks, ebm_ch_mult entries in 1..64)",
            c->ebm_ch, c->ebm_blocks, c->ebm_n_mult, CDRL_IMG_EBM_MAX_BLOCKS);
    ok = c->unet_dim >= 32 && c->unet_dim % 32 == 0 && c->unet_levels >= 1 &&
         c->unet_levels <= CDRL_UNET_MAX_LEVELS && c->unet_res_blocks >= 1 && c->unet_n_attn >= 0 &&
         c->unet_n_attn <= CDRL_CONFIG_MAX_ATTN && c->unet_n_attn <= CDRL_UNET_MAX_ATTN &&
         c->unet_dropout >= 0.0f && c->unet_dropout < 1.0f &&
         c->res % (1 << (c->unet_levels - 1)) == 0;
    for (int a = 0; ok && a < c->unet_n_attn; a++)
        ok = c->unet_attn[a] >= 1;
    if (!ok)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: U-Net out of range (unet_dim %d a multiple of 32, unet_levels %d "
                         "in 1..%d with res divisible by 2^(levels-1), unet_res_blocks %d >= 1, "
                         "unet_n_attn %d in 0..%d, unet_dropout in [0,1))",
                         c->unet_dim, c->unet_levels, CDRL_UNET_MAX_LEVELS, c->unet_res_blocks,
                         c->unet_n_attn, CDRL_UNET_MAX_ATTN);
    return CDRL_OK;
}

static cdrl_status check_config(const cdrl_config *c) {
    if (c->kind == CDRL_MODEL_IMAGE) {
        cdrl_status st = check_image_config(c);
        if (st != CDRL_OK) return st;
    } else if (c->kind != CDRL_MODEL_TOY || c->dim != 2) {
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: kind %d with dim %d (toy: kind 0, dim 2; images: kind 1)",
                         (int)c->kind, c->dim);
    } else if (c->ebm_ch < 4 || c->ebm_blocks < 1 || c->ebm_blocks > 4 || c->init_t_dim < 4 ||
               c->init_t_dim % 2 || c->init_h_dim < 32 || c->init_h_dim % 32 ||
               c->init_blocks < 1 || c->init_blocks > 8) {
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: network sizes out of range (ebm_ch %d, ebm_blocks %d, init_t_dim "
                         "%d, init_h_dim %d (a multiple of 32), init_blocks %d)",
                         c->ebm_ch, c->ebm_blocks, c->init_t_dim, c->init_h_dim, c->init_blocks);
    }
    if (c->n_levels < 1 || c->n_levels > CDRL_MAX_LEVELS || !(c->logsnr_min < c->logsnr_max) ||
        !(c->step_b > 0))
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "config: schedule out of range (n_levels %d in 1..%d, logsnr_min < "
                         "logsnr_max, step_b > 0)",
                         c->n_levels, CDRL_MAX_LEVELS);
    if (c->batch < 1 || c->batch > 1000000 || c->n_langevin < 1 || c->n_langevin > 10000 ||
        c->langevin_ref_steps < 0 || c->langevin_ref_steps > 10000)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: batch %d, Langevin steps %d or langevin_ref_steps %d out of range", c->batch,
            c->n_langevin, c->langevin_ref_steps);
    if (!(c->lr_ebm >= 0) || !(c->lr_init >= 0) || c->warmup_ebm < 0 || c->warmup_init < 0 ||
        c->lr_decay_iters < 0 || !(c->ema_ebm >= 0 && c->ema_ebm < 1) ||
        !(c->ema_init >= 0 && c->ema_init < 1) || !(c->clip > 0))
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "config: learning rates, warm-ups, EMA decays (in [0,1)) or clip (> 0) out of range");
    if (!(c->init_data_weight >= 0 && c->init_data_weight <= 1))
        return cdrl_fail(CDRL_STATUS_INVALID, "config: init_data_weight %g out of [0, 1]",
                         (double)c->init_data_weight);
    return CDRL_OK;
}

cdrl_status cdrl_model_create(cdrl_model **out, const cdrl_config *c) {
    *out = NULL;
    cdrl_status st = check_config(c);
    if (st != CDRL_OK) return st;
    cdrl_model *m = cdrl_calloc(sizeof *m);
    if (!m) return cdrl_fail(CDRL_STATUS_NOMEM, "model: out of memory");
    m->cfg = *c;
    const int image = c->kind == CDRL_MODEL_IMAGE;
    cdrl_schedule_init(&m->sched, c->n_levels, c->logsnr_min, c->logsnr_max, c->step_b,
                       image ? CDRL_STEP_SCALE_IMAGE : CDRL_STEP_SCALE_TOY);
    // Image activations cost C*H*W floats per row and layer: sample in batches of the training
    // size.
    m->chunk = image ? c->batch : CHUNK;
    m->max_rows = c->batch > m->chunk ? c->batch : m->chunk;
    const int chunk = m->chunk;
    cdrl_rng init_rng;
    cdrl_rng_init(&init_rng, c->seed, 0);
    int nets_ok;
    if (image) {
        cdrl_img_ebm_config ec = {.in_ch = c->in_ch,
                                  .res = c->res,
                                  .ch = c->ebm_ch,
                                  .temb_dim = c->ebm_ch,
                                  .n_mult = c->ebm_n_mult,
                                  .n_blocks = c->ebm_blocks,
                                  .n_classes = c->n_classes,
                                  .class_gain = c->ebm_class_gain > 0 ? c->ebm_class_gain : 1.0f};
        for (int l = 0; l < c->ebm_n_mult; l++)
            ec.ch_mult[l] = c->ebm_ch_mult[l];
        cdrl_unet_config uc = {.in_ch = c->in_ch,
                               .resolution = c->res,
                               .dim = c->unet_dim,
                               .n_levels = c->unet_levels,
                               .num_res_blocks = c->unet_res_blocks,
                               .n_attn = c->unet_n_attn,
                               .dropout = c->unet_dropout,
                               .n_classes = c->n_classes};
        for (int l = 0; l < c->unet_levels; l++)
            uc.dim_mults[l] = 1;
        for (int a = 0; a < c->unet_n_attn; a++)
            uc.attn_resolutions[a] = c->unet_attn[a];
        m->iebm = cdrl_img_ebm_create(&ec, m->max_rows, c->n_levels + 1, &init_rng);
        m->unet = cdrl_unet_create(&uc, m->max_rows, c->n_levels + 1, &init_rng);
        nets_ok = m->iebm && m->unet;
    } else {
        cdrl_toy_ebm_config ec;
        cdrl_toy_ebm_config_default(&ec);
        ec.ch = c->ebm_ch;
        ec.temb_dim = c->ebm_ch;
        ec.n_blocks = c->ebm_blocks;
        cdrl_toy_init_config ic = {.in_dim = 2,
                                   .t_dim = c->init_t_dim,
                                   .h_dim = c->init_h_dim,
                                   .n_blocks = c->init_blocks,
                                   .groups = 32};
        m->ebm = cdrl_toy_ebm_create(&ec, m->max_rows, c->n_levels + 1, &init_rng);
        m->init = cdrl_toy_init_create(&ic, m->max_rows, c->n_levels + 1, &init_rng);
        nets_ok = m->ebm && m->init;
    }
    m->batch = cdrl_malloc(sizeof(float) * (size_t)c->batch * (size_t)c->dim);
    m->label = cdrl_malloc(sizeof(int) * (size_t)c->batch);
    m->drop = cdrl_malloc(sizeof(float) * (size_t)c->batch);
    if (!nets_ok || !m->batch || !m->label || !m->drop ||
        // chain scratch, beside it the per-level samples of one chunk (sampling with levels),
        // and the density temporaries
        cdrl_arena_init(
            &m->scratch,
            cdrl_chain_scratch_size(chunk, c->dim) +
                cdrl_arena_floats_size((size_t)c->n_levels * (size_t)chunk * (size_t)c->dim) +
                4 * cdrl_arena_floats_size((size_t)chunk * (size_t)c->dim)) != CDRL_OK) {
        cdrl_model_free(m);
        return cdrl_fail(CDRL_STATUS_NOMEM, "model: out of memory");
    }
    m->ebm_net = image ? cdrl_img_ebm_net(m->iebm) : cdrl_toy_ebm_net(m->ebm);
    m->init_net = image ? cdrl_unet_net(m->unet) : cdrl_toy_init_net(m->init);
    cdrl_train_params tp = {.batch = c->batch,
                            .n_langevin = c->n_langevin,
                            .step_mul = (float)langevin_ref_steps(c) / (float)c->n_langevin,
                            .lr_ebm = c->lr_ebm,
                            .lr_init = c->lr_init,
                            .warmup_ebm = c->warmup_ebm,
                            .warmup_init = c->warmup_init,
                            .warmup_init_offset = c->warmup_init_offset,
                            .decay_iters = c->lr_decay_iters,
                            .ema_ebm = c->ema_ebm,
                            .ema_init = c->ema_init,
                            .ema_ramp = c->ema_ramp,
                            .clip = c->clip,
                            .beta1 = 0.9f,
                            .beta2 = 0.999f,
                            .eps = 1e-8f,
                            .wd_init = 0.0f,
                            .init_data_weight = c->init_data_weight};
    st = cdrl_trainer_init(&m->tr, &tp, &m->sched, m->ebm_net, m->init_net, c->seed);
    if (st != CDRL_OK) {
        cdrl_model_free(m);
        return st;
    }
    *out = m;
    return CDRL_OK;
}

void cdrl_model_free(cdrl_model *m) {
    if (!m) return;
    cdrl_trainer_deinit(&m->tr);
    cdrl_toy_ebm_free(m->ebm);
    cdrl_toy_init_free(m->init);
    cdrl_img_ebm_free(m->iebm);
    cdrl_unet_free(m->unet);
    cdrl_free(m->batch);
    cdrl_free(m->label);
    cdrl_free(m->drop);
    cdrl_arena_deinit(&m->scratch);
    cdrl_free(m);
}

const cdrl_config *cdrl_model_config(const cdrl_model *m) { return &m->cfg; }
long cdrl_model_step(const cdrl_model *m) { return m->tr.step; }

cdrl_status cdrl_model_train_step(cdrl_model *m, const cdrl_dataset *data, cdrl_train_stats *st) {
    if (cdrl_dataset_dim(data) != m->cfg.dim)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "train: the data has %d values per sample, the model %d",
                         cdrl_dataset_dim(data), m->cfg.dim);
    const int B = m->cfg.batch, K = m->cfg.n_classes;
    if (K && cdrl_dataset_classes(data) != K)
        return cdrl_fail(CDRL_STATUS_MISMATCH, "train: the model has %d classes, the data %d", K,
                         cdrl_dataset_classes(data));
    cdrl_dataset_sample(data, m->batch, K ? m->label : NULL, (size_t)B, m->cfg.flip, &m->tr.rng);
    if (K) { // class k is label k + 1; a share LABEL_DROP of them becomes the null label 0
        cdrl_rng_uniform(&m->tr.rng, m->drop, (size_t)B);
        for (int n = 0; n < B; n++)
            if (m->label[n] < 0)
                return cdrl_fail(CDRL_STATUS_MISMATCH,
                                 "train: the data has images without a class; a conditional model "
                                 "needs every class");
        cdrl_label_drop(m->label, m->drop, B, LABEL_DROP);
    }
    cdrl_step_stats s;
    cdrl_status rc = cdrl_trainer_step(&m->tr, m->batch, K ? m->label : NULL, &s);
    if (rc != CDRL_OK) return rc;
    if (st)
        *st = (cdrl_train_stats){.step = m->tr.step,
                                 .loss_ebm = s.loss_ebm,
                                 .loss_init = s.loss_init,
                                 .f_pos = s.f_pos,
                                 .f_neg = s.f_neg,
                                 .grad_norm_ebm = s.grad_norm_ebm,
                                 .grad_norm_init = s.grad_norm_init,
                                 .lr_ebm = s.lr_ebm,
                                 .lr_init = s.lr_init};
    return CDRL_OK;
}

// Points both networks at their EMA copies (or back at their own weights).
static void use_weights(cdrl_model *m, int ema) {
    *m->ebm_net.p = ema ? m->tr.ebm_ema : m->ebm_net.p_own;
    *m->init_net.p = ema ? m->tr.init_ema : m->init_net.p_own;
}

cdrl_status cdrl_model_sample(cdrl_model *m, float *out, float *levels, int n, int n_langevin,
                              int use_ema, uint64_t seed) {
    return cdrl_model_sample_cond(m, out, levels, NULL, 0.0f, n, n_langevin, use_ema, seed);
}

cdrl_status cdrl_model_sample_cond(cdrl_model *m, float *out, float *levels, const int *label,
                                   float guidance, int n, int n_langevin, int use_ema,
                                   uint64_t seed) {
    if (n_langevin < 0)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "sample: Langevin steps must be >= 0 (0: the initializer's proposals alone)");
    if (!m->cfg.n_classes) label = NULL;
    if (!(guidance >= 0.0f && guidance <= 1000.0f))
        return cdrl_fail(CDRL_STATUS_INVALID, "sample: guidance weight %g out of range (0..1000)",
                         (double)guidance);
    for (int i = 0; label && i < n; i++)
        if (label[i] < 0 || label[i] > m->cfg.n_classes)
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "sample: label %d of sample %d outside 0..%d (0 = no class)", label[i],
                             i, m->cfg.n_classes);
    const int D = m->cfg.dim, T = m->cfg.n_levels;
    cdrl_rng rng;
    cdrl_rng_init(&rng, seed, 2);
    cdrl_chain_params cp = {.n_langevin = n_langevin,
                            .n_langevin_ref = langevin_ref_steps(&m->cfg),
                            .tweedie = m->cfg.kind == CDRL_MODEL_IMAGE && n_langevin > 0,
                            .guidance = guidance};
    const int CH = m->chunk;
    use_weights(m, use_ema);
    cdrl_status st = CDRL_OK;
    const size_t mark = cdrl_arena_mark(&m->scratch);
    float *lv = levels ? cdrl_arena_floats(&m->scratch, (size_t)T * (size_t)CH * (size_t)D) : NULL;
    for (int s0 = 0; s0 < n && st == CDRL_OK; s0 += CH) {
        const int b = n - s0 < CH ? n - s0 : CH;
        float *x = out + (size_t)s0 * (size_t)D;
        cdrl_rng_normal(&rng, x, (size_t)b * (size_t)D);
        cp.label = label ? label + s0 : NULL;
        st = cdrl_chain_run(&m->ebm_net, &m->init_net, x, lv, b, &m->sched, &cp, NULL, &rng,
                            &m->scratch);
        if (levels && st == CDRL_OK)
            for (int t = 0; t < T; t++)
                memcpy(levels + ((size_t)t * (size_t)n + (size_t)s0) * (size_t)D,
                       lv + (size_t)t * (size_t)b * (size_t)D,
                       sizeof(float) * (size_t)b * (size_t)D);
    }
    cdrl_arena_release(&m->scratch, mark);
    use_weights(m, 0);
    return st;
}

// Pair j's EBM at the points x (n, dim), times scale: out (n) = scale * f(sqrt(kappa_j) x,
// lambda_{j-1}) and dout (n, dim) its x-gradient unless NULL. The log density (scale 1/h_j)
// and the raw energy (scale 1) share it, so the two differ by exactly that factor.
static cdrl_status ebm_eval(cdrl_model *m, float *out, float *dout, const float *x, int n, int pair,
                            int use_ema, float scale, const char *what) {
    if (pair < 1 || pair > m->cfg.n_levels)
        return cdrl_fail(CDRL_STATUS_INVALID, "%s: pair %d outside 1..%d", what, pair,
                         m->cfg.n_levels);
    const int D = m->cfg.dim, T = m->cfg.n_levels;
    const float sk = (float)sqrt(m->sched.kappa[pair]);
    const int CH = m->chunk;
    use_weights(m, use_ema);
    m->ebm_net.prepare(m->ebm_net.impl, m->tr.tau, T + 1, 0);
    const size_t mark = cdrl_arena_mark(&m->scratch);
    int *level = (int *)cdrl_arena_floats(&m->scratch, (size_t)CH);
    float *df = cdrl_arena_floats(&m->scratch, (size_t)CH);
    float *y = cdrl_arena_floats(&m->scratch, (size_t)CH * (size_t)D);
    for (int i = 0; i < CH; i++) {
        level[i] = pair - 1;
        df[i] = scale;
    }
    for (int s0 = 0; s0 < n; s0 += CH) {
        const int b = n - s0 < CH ? n - s0 : CH;
        const size_t off = (size_t)s0 * (size_t)D, nd = (size_t)b * (size_t)D;
        for (size_t k = 0; k < nd; k++)
            y[k] = sk * x[off + k];
        m->ebm_net.forward(m->ebm_net.impl, out + s0, y, level, NULL, b);
        for (int i = 0; i < b; i++)
            out[s0 + i] *= scale;
        if (dout) {
            memset(dout + off, 0, sizeof(float) * nd);
            m->ebm_net.backward(m->ebm_net.impl, dout + off, df, 0);
            for (size_t k = 0; k < nd; k++)
                dout[off + k] *= sk;
        }
    }
    cdrl_arena_release(&m->scratch, mark);
    use_weights(m, 0);
    return cdrl_all_finite(out, (size_t)n)
               ? CDRL_OK
               : cdrl_fail(CDRL_STATUS_DIVERGED, "%s: NaN/Inf in the energies", what);
}

cdrl_status cdrl_model_log_density(cdrl_model *m, float *logp, float *dlogp, const float *x, int n,
                                   int pair, int use_ema) {
    const float inv_h =
        pair >= 1 && pair <= m->cfg.n_levels ? (float)(1.0 / m->sched.h[pair]) : 1.0f;
    return ebm_eval(m, logp, dlogp, x, n, pair, use_ema, inv_h, "log density");
}

cdrl_status cdrl_model_energy(cdrl_model *m, float *f, float *dfdx, const float *x, int n, int pair,
                              int use_ema) {
    return ebm_eval(m, f, dfdx, x, n, pair, use_ema, 1.0f, "energy");
}

double cdrl_model_langevin_h(const cdrl_model *m, int pair) {
    return pair >= 1 && pair <= m->cfg.n_levels ? m->sched.h[pair] : (double)NAN;
}

// ---------------------------------------------------------------------------------------
// Checkpoints

// The checkpoint's tensors, in order: each is a (prefix, table, buffer) triple.
typedef struct {
    const char *prefix;
    const cdrl_param_table *table;
    float *data;
} ckpt_group;

static int ckpt_groups(const cdrl_model *m, ckpt_group g[10]) {
    const cdrl_trainer *t = &m->tr;
    int n = 0;
    const cdrl_net *e = &m->ebm_net, *i = &m->init_net;
    g[n++] = (ckpt_group){"ebm.", e->params, e->p_own};
    if (e->buffers) g[n++] = (ckpt_group){"ebm.", e->buffers, e->buf};
    g[n++] = (ckpt_group){"init.", i->params, i->p_own};
    if (i->buffers) g[n++] = (ckpt_group){"init.", i->buffers, i->buf};
    g[n++] = (ckpt_group){"ebm_ema.", e->params, t->ebm_ema};
    g[n++] = (ckpt_group){"init_ema.", i->params, t->init_ema};
    g[n++] = (ckpt_group){"ebm_adam_m.", e->params, t->ebm_m};
    g[n++] = (ckpt_group){"ebm_adam_v.", e->params, t->ebm_v};
    g[n++] = (ckpt_group){"init_adam_m.", i->params, t->init_m};
    g[n++] = (ckpt_group){"init_adam_v.", i->params, t->init_v};
    return n;
}

int cdrl_model_tensor(const cdrl_model *m, int i, char *name, size_t name_size, size_t *numel) {
    ckpt_group g[10];
    int n = ckpt_groups(m, g);
    for (int k = 0; k < n && i >= 0; k++) {
        if (i < g[k].table->count) {
            snprintf(name, name_size, "%s%s", g[k].prefix, g[k].table->items[i].name);
            if (numel) *numel = g[k].table->items[i].numel;
            return 1;
        }
        i -= g[k].table->count;
    }
    return 0;
}

int cdrl_model_tensor_shape(const cdrl_model *m, int i, int64_t shape[4]) {
    ckpt_group g[10];
    int n = ckpt_groups(m, g);
    for (int k = 0; k < n && i >= 0; k++) {
        if (i < g[k].table->count) {
            const cdrl_param *p = &g[k].table->items[i];
            for (int d = 0; d < p->ndim; d++)
                shape[d] = p->shape[d];
            return p->ndim;
        }
        i -= g[k].table->count;
    }
    return 0;
}

cdrl_status cdrl_model_save(const cdrl_model *m, const char *path) {
    cdrl_st_writer *w = cdrl_st_writer_create();
    char(*names)[CDRL_PARAM_NAME_MAX + 32] = NULL;
    ckpt_group g[10];
    int n = ckpt_groups(m, g), total = 0;
    for (int k = 0; k < n; k++)
        total += g[k].table->count;
    names = cdrl_malloc(sizeof *names * (size_t)total);
    cdrl_status st = w && names ? CDRL_OK : cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    int idx = 0;
    for (int k = 0; k < n && st == CDRL_OK; k++)
        for (int i = 0; i < g[k].table->count && st == CDRL_OK; i++, idx++) {
            const cdrl_param *p = &g[k].table->items[i];
            int64_t shape[4];
            for (int d = 0; d < p->ndim; d++)
                shape[d] = p->shape[d];
            snprintf(names[idx], sizeof names[idx], "%s%s", g[k].prefix, p->name);
            st = cdrl_st_writer_add_f32(w, names[idx], p->ndim, shape, g[k].data + p->offset);
        }
    char buf[4096];
    if (st == CDRL_OK && cdrl_config_to_json(&m->cfg, buf, sizeof buf) < 0)
        st = cdrl_fail(CDRL_STATUS_INVALID, "%s: configuration too long", path);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "format", CKPT_FORMAT);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "version", CKPT_VERSION);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "config", buf);
    if (st == CDRL_OK) {
        snprintf(buf, sizeof buf, "%ld", m->tr.step);
        st = cdrl_st_writer_meta(w, "step", buf);
    }
    if (st == CDRL_OK) {
        snprintf(buf, sizeof buf, "%llu %llu %llu", (unsigned long long)m->tr.rng.key,
                 (unsigned long long)m->tr.rng.stream, (unsigned long long)m->tr.rng.counter);
        st = cdrl_st_writer_meta(w, "rng", buf);
    }
    if (st == CDRL_OK && m->unet) {
        const cdrl_rng *r = &m->unet->drop_rng;
        snprintf(buf, sizeof buf, "%llu %llu %llu", (unsigned long long)r->key,
                 (unsigned long long)r->stream, (unsigned long long)r->counter);
        st = cdrl_st_writer_meta(w, "drop_rng", buf);
    }
    if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
    cdrl_free(names);
    cdrl_st_writer_free(w);
    return st;
}

// ---------------------------------------------------------------------------------------
// Weights-only files of official checkpoints (tools/convert_official.py, docs/formats.md)

#define WEIGHTS_FORMAT "cdrl-image-weights"

// An int entry of a JSON object; 0 (with *ok cleared) when absent or not a number.
static int json_int(const cJSON *o, const char *key, int *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) *ok = 0;
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

// A JSON int array into out (at most max entries); its length, or -1 (with *ok cleared).
static int json_ints(const cJSON *o, const char *key, int *out, int max, int *ok) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max) {
        *ok = 0;
        return -1;
    }
    int n = 0;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e)) *ok = 0;
        out[n++] = e->valueint;
    }
    return n;
}

// The converter's {"ebm": {...}, "unet": {...}} sizes as an image cdrl_config: the
// official-cifar10 preset (schedule, training settings) with these networks.
static cdrl_status weights_config(cdrl_config *c, const char *json, const char *path) {
    cdrl_config_preset(c, "official-cifar10");
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "ebm");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "unet");
    int ok = cJSON_IsObject(e) && cJSON_IsObject(u), mults[CDRL_UNET_MAX_LEVELS];
    const int in_ch = json_int(e, "in_ch", &ok), temb = json_int(e, "temb_dim", &ok);
    const int u_in = json_int(u, "in_ch", &ok), u_res = json_int(u, "resolution", &ok);
    const int classes_e = json_int(e, "n_classes", &ok), classes_u = json_int(u, "n_classes", &ok);
    c->in_ch = in_ch;
    c->res = json_int(e, "res", &ok);
    c->dim = c->in_ch * c->res * c->res;
    c->ebm_ch = json_int(e, "ch", &ok);
    c->ebm_blocks = json_int(e, "n_blocks", &ok);
    c->ebm_n_mult = json_ints(e, "ch_mult", c->ebm_ch_mult, CDRL_CONFIG_MAX_MULT, &ok);
    c->unet_dim = json_int(u, "dim", &ok);
    c->unet_levels = json_ints(u, "dim_mults", mults, CDRL_UNET_MAX_LEVELS, &ok);
    c->unet_res_blocks = json_int(u, "num_res_blocks", &ok);
    c->unet_n_attn = json_ints(u, "attn_resolutions", c->unet_attn, CDRL_CONFIG_MAX_ATTN, &ok);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "dropout");
    ok = ok && cJSON_IsNumber(d);
    if (ok) c->unet_dropout = (float)d->valuedouble;
    c->data[0] = '\0'; // the training data is not recorded
    cJSON_Delete(root);
    if (!ok)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: the config metadata lacks an entry of {\"ebm\": {in_ch, res, ch, "
                         "ch_mult, n_blocks, temb_dim, n_classes}, \"unet\": {in_ch, resolution, "
                         "dim, dim_mults, num_res_blocks, attn_resolutions, dropout, n_classes}}",
                         path);
    for (int l = 0; l < c->unet_levels; l++)
        if (mults[l] != 1)
            return cdrl_fail(CDRL_STATUS_MISMATCH,
                             "%s: U-Net dim_mults entry %d is %d; cdrl's U-Net takes 1 everywhere "
                             "(the official models)",
                             path, l, mults[l]);
    if (classes_e != 0 || classes_u != 0)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "%s: a class-conditional model (n_classes %d, U-Net %d); cdrl loads "
                         "unconditional ones only",
                         path, classes_e, classes_u);
    if (u_in != in_ch || u_res != c->res || temb != c->ebm_ch)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "%s: EBM and U-Net sizes disagree (in_ch %d and %d, res %d and resolution "
                         "%d, temb_dim %d must equal ch %d)",
                         path, in_ch, u_in, c->res, u_res, temb, c->ebm_ch);
    return CDRL_OK;
}

// A model from a weights-only file: weights and EMA copies from the file, fresh optimiser
// state, step = the EBM's EMA update count when recorded.
static cdrl_status load_weights(cdrl_model **out, const cdrl_st_file *f, const char *path) {
    const char *version = cdrl_st_meta(f, "version"),
               *n_upd = cdrl_st_meta(f, "ebm_ema.num_updates");
    if (!version || strcmp(version, "1") != 0)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: weights file version %s, this cdrl reads version 1", path,
                         version ? version : "?");
    cdrl_config c;
    cdrl_status st = weights_config(&c, cdrl_st_meta(f, "config"), path);
    cdrl_model *m = NULL;
    if (st == CDRL_OK) st = cdrl_model_create(&m, &c);
    if (st == CDRL_OK) st = cdrl_img_ebm_load_named(m->iebm, f, "ebm.");
    if (st == CDRL_OK) st = cdrl_unet_load_named(m->unet, f, "init.");
    if (st == CDRL_OK) st = cdrl_param_table_load(m->ebm_net.params, m->tr.ebm_ema, f, "ebm_ema.");
    if (st == CDRL_OK)
        st = cdrl_param_table_load(m->init_net.params, m->tr.init_ema, f, "init_ema.");
    if (st != CDRL_OK) {
        cdrl_model_free(m);
        return st;
    }
    if (n_upd) m->tr.step = strtol(n_upd, NULL, 10);
    *out = m;
    return CDRL_OK;
}

cdrl_status cdrl_model_load(cdrl_model **out, const char *path) {
    *out = NULL;
    cdrl_st_file *f = NULL;
    cdrl_status st = cdrl_st_load(&f, path);
    if (st != CDRL_OK) return st;
    if (cdrl_st_meta(f, "format") && strcmp(cdrl_st_meta(f, "format"), WEIGHTS_FORMAT) == 0) {
        st = load_weights(out, f, path);
        cdrl_st_free(f);
        return st;
    }
    const char *format = cdrl_st_meta(f, "format"), *version = cdrl_st_meta(f, "version");
    const char *cfg_json = cdrl_st_meta(f, "config"), *step = cdrl_st_meta(f, "step"),
               *rng = cdrl_st_meta(f, "rng");
    cdrl_config c;
    cdrl_config_toy_official(&c);
    unsigned long long key, stream, counter;
    if (!format || strcmp(format, CKPT_FORMAT) != 0 || !cfg_json || !step || !rng ||
        sscanf(rng, "%llu %llu %llu", &key, &stream, &counter) != 3) {
        st = cdrl_fail(CDRL_STATUS_FORMAT,
                       "%s: not a cdrl checkpoint (metadata format/config/step/rng missing)", path);
    } else if (!version || strcmp(version, CKPT_VERSION) != 0) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: checkpoint version %s, this cdrl reads version %s",
                       path, version ? version : "?", CKPT_VERSION);
    } else if ((st = cdrl_config_from_json(&c, cfg_json)) != CDRL_OK) {
        cdrl_log(CDRL_LOG_ERROR, "%s: bad configuration in the metadata", path);
    }
    unsigned long long dkey = 0, dstream = 0, dcounter = 0;
    if (st == CDRL_OK && c.kind == CDRL_MODEL_IMAGE) {
        const char *drop = cdrl_st_meta(f, "drop_rng");
        if (!drop || sscanf(drop, "%llu %llu %llu", &dkey, &dstream, &dcounter) != 3)
            st = cdrl_fail(CDRL_STATUS_FORMAT,
                           "%s: image checkpoint without its dropout stream (metadata drop_rng)",
                           path);
    }
    cdrl_model *m = NULL;
    if (st == CDRL_OK) st = cdrl_model_create(&m, &c);
    if (st == CDRL_OK) {
        ckpt_group g[10];
        int n = ckpt_groups(m, g);
        char name[CDRL_PARAM_NAME_MAX + 32];
        for (int k = 0; k < n && st == CDRL_OK; k++)
            for (int i = 0; i < g[k].table->count && st == CDRL_OK; i++) {
                const cdrl_param *p = &g[k].table->items[i];
                snprintf(name, sizeof name, "%s%s", g[k].prefix, p->name);
                const float *src = cdrl_st_f32(f, name, p->numel);
                if (!src)
                    st = cdrl_fail(
                        CDRL_STATUS_MISMATCH,
                        "%s: tensor '%s' missing or of the wrong size for its configuration", path,
                        name);
                else
                    memcpy(g[k].data + p->offset, src, sizeof(float) * p->numel);
            }
    }
    if (st == CDRL_OK) {
        m->tr.step = strtol(step, NULL, 10);
        m->tr.rng.key = key;
        m->tr.rng.stream = stream;
        m->tr.rng.counter = counter;
        if (m->unet) {
            m->unet->drop_rng.key = dkey;
            m->unet->drop_rng.stream = dstream;
            m->unet->drop_rng.counter = dcounter;
        }
        *out = m;
    } else {
        cdrl_model_free(m);
    }
    cdrl_st_free(f);
    return st;
}
