// Public models, the lifecycle (api/model.h): the configuration's networks, schedule and
// trainer; one training iteration on a data set's batch; the tensors a checkpoint holds.
#include "api/model.h"

#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset.h"
#include "ops/ops.h"
#include "sampler/chain.h"

// Rows per network call when sampling or evaluating densities (toy; images use the batch).
#define CHUNK 2500

// Asking for bf16 Langevin passes where the backend has no bf16 products is not an error: they
// run in float, and the log says so.
static void warn_without_bf16(int bf16) {
    if (bf16 && !cdrl_bf16_available())
        cdrl_log(CDRL_LOG_WARN,
                 "langevin_bf16: this CPU has no AVX512_BF16 (or the %s backend no bf16 "
                 "products): the Langevin passes run in float",
                 cdrl_backend_name());
}

cdrl_status cdrl_model_create(cdrl_model **out, const cdrl_config *c) {
    *out = NULL;
    cdrl_status st = cdrl_config_check(c);
    if (st != CDRL_OK) return st;
    cdrl_model *m = cdrl_calloc(sizeof *m);
    if (!m) return cdrl_fail(CDRL_STATUS_NOMEM, "model: out of memory");
    m->cfg = *c;
    warn_without_bf16(c->langevin_bf16);
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
        ec.n_more = c->n_more_attrs;
        for (int a = 0; a < c->n_more_attrs; a++)
            ec.more_classes[a] = c->more_classes[a];
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
        uc.n_more = c->n_more_attrs;
        for (int a = 0; a < c->n_more_attrs; a++)
            uc.more_classes[a] = c->more_classes[a];
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
                                   .groups = 32,
                                   .n_attrs = cdrl_config_attrs(c, ic.attr_classes)};
        ec.n_attrs = cdrl_config_attrs(c, ec.attr_classes);
        m->ebm = cdrl_toy_ebm_create(&ec, m->max_rows, c->n_levels + 1, &init_rng);
        m->init = cdrl_toy_init_create(&ic, m->max_rows, c->n_levels + 1, &init_rng);
        nets_ok = m->ebm && m->init;
    }
    m->batch = cdrl_malloc(sizeof(float) * (size_t)c->batch * (size_t)c->dim);
    m->cls = cdrl_malloc(sizeof(int) * (size_t)c->batch * CDRL_MAX_ATTRS);
    if (!nets_ok || !m->batch || !m->cls ||
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
                            .step_mul = (float)cdrl_model_ref_steps(c) / (float)c->n_langevin,
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
                            .init_data_weight = c->init_data_weight,
                            .n_attrs = cdrl_config_attrs(c, NULL),
                            .label_drop = c->label_drop,
                            .langevin_clip = c->langevin_clip,
                            .langevin_bf16 = c->langevin_bf16,
                            .grad_chunks = c->grad_chunks};
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
    cdrl_free(m->cls);
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
    int classes[CDRL_MAX_ATTRS];
    const int A = cdrl_config_attrs(&m->cfg, classes);
    if (A && cdrl_dataset_attrs(data) != A)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "train: the model has %d label attribute%s, the data %d", A,
                         A == 1 ? "" : "s", cdrl_dataset_attrs(data));
    for (int a = 0; a < A; a++)
        if (cdrl_dataset_attr_classes(data, a) != classes[a])
            return cdrl_fail(CDRL_STATUS_MISMATCH,
                             "train: the model has %d classes, the data %d (attribute %d, %s)",
                             classes[a], cdrl_dataset_attr_classes(data, a), a + 1,
                             cdrl_dataset_attr_name(data, a));
    cdrl_dataset_sample(data, m->batch, K ? m->cls : NULL, (size_t)B, m->cfg.flip, &m->tr.rng);
    for (int n = 0; K && n < B * A; n++)
        if (m->cls[n] < 0)
            return cdrl_fail(CDRL_STATUS_MISMATCH, "train: the data has images without a class; a "
                                                   "conditional model needs every class");
    cdrl_step_stats s;
    cdrl_status rc = cdrl_trainer_step(&m->tr, m->batch, K ? m->cls : NULL, &s);
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

void cdrl_model_use_ema(cdrl_model *m, int ema) {
    *m->ebm_net.p = ema ? m->tr.ebm_ema : m->ebm_net.p_own;
    *m->init_net.p = ema ? m->tr.init_ema : m->init_net.p_own;
}

int cdrl_model_groups(const cdrl_model *m, cdrl_param_group g[10]) {
    const cdrl_trainer *t = &m->tr;
    int n = 0;
    const cdrl_net *e = &m->ebm_net, *i = &m->init_net;
    g[n++] = (cdrl_param_group){"ebm.", e->params, e->p_own};
    if (e->buffers) g[n++] = (cdrl_param_group){"ebm.", e->buffers, e->buf};
    g[n++] = (cdrl_param_group){"init.", i->params, i->p_own};
    if (i->buffers) g[n++] = (cdrl_param_group){"init.", i->buffers, i->buf};
    g[n++] = (cdrl_param_group){"ebm_ema.", e->params, t->ebm_ema};
    g[n++] = (cdrl_param_group){"init_ema.", i->params, t->init_ema};
    g[n++] = (cdrl_param_group){"ebm_adam_m.", e->params, t->ebm_m};
    g[n++] = (cdrl_param_group){"ebm_adam_v.", e->params, t->ebm_v};
    g[n++] = (cdrl_param_group){"init_adam_m.", i->params, t->init_m};
    g[n++] = (cdrl_param_group){"init_adam_v.", i->params, t->init_v};
    return n;
}

int cdrl_model_tensor(const cdrl_model *m, int i, char *name, size_t name_size, size_t *numel) {
    cdrl_param_group g[10];
    int n = cdrl_model_groups(m, g);
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
    cdrl_param_group g[10];
    int n = cdrl_model_groups(m, g);
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

cdrl_status cdrl_model_set_langevin_bf16(cdrl_model *m, int bf16) {
    if (bf16 && m->cfg.kind != CDRL_MODEL_IMAGE)
        return cdrl_fail(CDRL_STATUS_INVALID, "langevin_bf16: for image models only");
    warn_without_bf16(bf16);
    m->cfg.langevin_bf16 = bf16 != 0;
    m->tr.tp.langevin_bf16 = bf16 != 0;
    return CDRL_OK;
}
