// The scaffold shared by the energy networks (see ebm_base.h).
#include "nn/ebm_base.h"

#include "ops/backend.h"

void cdrl_ebm_base_init(cdrl_ebm_base *b, int temb_dim) {
    cdrl_param_table_init(&b->params);
    cdrl_param_table_init(&b->buffers);
    cdrl_param_table_init(&b->derived);
    b->n_sn = 0;
    cdrl_level_embed_register(&b->lemb, &b->params, &b->buffers, &b->derived, temb_dim);
}

void cdrl_ebm_base_deinit(cdrl_ebm_base *b) {
    cdrl_arena_deinit(&b->store);
    cdrl_arena_deinit(&b->scratch);
    cdrl_param_table_deinit(&b->params);
    cdrl_param_table_deinit(&b->buffers);
    cdrl_param_table_deinit(&b->derived);
}

static void record(cdrl_ebm_base *b, cdrl_sn *s, size_t bias) {
    CDRL_ASSERT(b->n_sn < CDRL_EBM_MAX_SN_LAYERS);
    b->sn[b->n_sn] = s;
    b->sn_bias[b->n_sn] = bias;
    b->n_sn++;
}

void cdrl_ebm_base_add_linear(cdrl_ebm_base *b, cdrl_sn *s, size_t *bias, int in, int out,
                              const char *prefix) {
    cdrl_sn_register_linear(s, bias, &b->params, &b->buffers, &b->derived, in, out, prefix);
    record(b, s, *bias);
}

void cdrl_ebm_base_add_conv3(cdrl_ebm_base *b, cdrl_sn *s, size_t *bias, int in, int out,
                             const char *prefix) {
    int wshape[4] = {out, in, 3, 3};
    cdrl_sn_register(s, &b->params, &b->buffers, &b->derived, prefix, 4, wshape);
    *bias = cdrl_param_add(&b->params, 1, &out, "%s.bias", prefix);
    record(b, s, *bias);
}

size_t cdrl_ebm_base_store_size(const cdrl_ebm_base *b, int max_levels) {
    return 2 * cdrl_arena_floats_size(b->params.total) + cdrl_arena_floats_size(b->buffers.total) +
           2 * cdrl_arena_floats_size(b->derived.total) +
           cdrl_level_embed_store_size(b->lemb.te, max_levels);
}

cdrl_status cdrl_ebm_base_alloc(cdrl_ebm_base *b, size_t store_bytes, size_t scratch_bytes,
                                int max_levels) {
    if (cdrl_device_arena_init(&b->store, store_bytes) != CDRL_OK ||
        cdrl_device_arena_init(&b->scratch, scratch_bytes) != CDRL_OK)
        return CDRL_STATUS_NOMEM;
    cdrl_zero((float *)b->store.base, store_bytes / sizeof(float));
    cdrl_arena *s = &b->store;
    b->p_own = cdrl_arena_floats(s, b->params.total);
    b->p = b->p_own;
    b->grad = cdrl_arena_floats(s, b->params.total);
    b->buf = cdrl_arena_floats(s, b->buffers.total);
    b->der = cdrl_arena_floats(s, b->derived.total);
    b->dder = cdrl_arena_floats(s, b->derived.total);
    cdrl_level_embed_carve(&b->lemb, s, max_levels);
    return CDRL_OK;
}

void cdrl_ebm_base_init_weights(cdrl_ebm_base *b, cdrl_rng *rng) {
    cdrl_level_embed_init(&b->lemb, b->p, b->buf, rng);
    for (int i = 0; i < b->n_sn; i++)
        cdrl_sn_init_default(b->sn[i], b->sn_bias[i], b->p, b->buf, rng);
}

void cdrl_ebm_base_prepare(cdrl_ebm_base *b, const float *tau, int L, int train) {
    cdrl_level_embed_prepare(&b->lemb, tau, L, b->der, b->buf, b->p, train, &b->scratch);
    for (int i = 0; i < b->n_sn; i++)
        cdrl_sn_prepare(b->sn[i], b->der, b->buf, b->p, train);
}

void cdrl_ebm_base_zero_grad(cdrl_ebm_base *b) {
    cdrl_zero(b->grad, b->params.total);
    cdrl_zero(b->dder, b->derived.total);
    cdrl_level_embed_zero_grad(&b->lemb);
}

void cdrl_ebm_base_finish(cdrl_ebm_base *b) {
    cdrl_level_embed_finish(&b->lemb, b->grad, b->dder, b->der, b->p, b->buf, &b->scratch);
    for (int i = 0; i < b->n_sn; i++)
        cdrl_sn_finish(b->sn[i], b->grad, b->dder, b->p, b->buf);
}
