// The per-level embedding of the energy networks (see level_embed.h).
#include "nn/level_embed.h"

#include <string.h>

#include "ops/ops.h"

#define SLOPE 0.2f // LeakyReLU slope of the official EBMs

void cdrl_level_embed_register(cdrl_level_embed *le, cdrl_param_table *params,
                               cdrl_param_table *buffers, cdrl_param_table *derived, int temb_dim) {
    CDRL_ASSERT(temb_dim >= 4 && temb_dim % 2 == 0);
    memset(le, 0, sizeof *le);
    le->te = temb_dim;
    le->E = 4 * temb_dim;
    cdrl_sn_register_linear(&le->map1, &le->map1_b, params, buffers, derived, le->te, le->E,
                            "temb_map1");
    cdrl_sn_register_linear(&le->map2, &le->map2_b, params, buffers, derived, le->E, le->E,
                            "temb_map2");
}

size_t cdrl_level_embed_store_size(int temb_dim, int max_levels) {
    const size_t L = (size_t)max_levels, E = 4 * (size_t)temb_dim;
    return cdrl_arena_floats_size(L) + cdrl_arena_floats_size(L * (size_t)temb_dim) +
           4 * cdrl_arena_floats_size(L * E);
}

void cdrl_level_embed_carve(cdrl_level_embed *le, cdrl_arena *store, int max_levels) {
    const size_t L = (size_t)max_levels, E = (size_t)le->E;
    le->max_levels = max_levels;
    le->tau = cdrl_arena_floats(store, L);
    le->e0 = cdrl_arena_floats(store, L * (size_t)le->te);
    le->z1 = cdrl_arena_floats(store, L * E);
    le->a1 = cdrl_arena_floats(store, L * E);
    le->e = cdrl_arena_floats(store, L * E);
    le->de = cdrl_arena_floats(store, L * E);
}

size_t cdrl_level_embed_scratch_size(int temb_dim, int max_levels) {
    const int E = 4 * temb_dim;
    size_t lin = cdrl_linear_scratch_size(max_levels, temb_dim, E);
    size_t lin2 = cdrl_linear_scratch_size(max_levels, E, E);
    return 2 * cdrl_arena_floats_size((size_t)max_levels * (size_t)E) + (lin > lin2 ? lin : lin2);
}

void cdrl_level_embed_init(const cdrl_level_embed *le, float *params, float *buffers,
                           cdrl_rng *rng) {
    cdrl_sn_init_default(&le->map1, le->map1_b, params, buffers, rng);
    cdrl_sn_init_default(&le->map2, le->map2_b, params, buffers, rng);
}

void cdrl_level_embed_prepare(cdrl_level_embed *le, const float *tau, int L, float *derived,
                              float *buffers, const float *params, int train, cdrl_arena *scratch) {
    CDRL_ASSERT(L >= 1 && L <= le->max_levels); // the tables are sized at create
    cdrl_sn_prepare(&le->map1, derived, buffers, params, train);
    cdrl_sn_prepare(&le->map2, derived, buffers, params, train);
    le->n_levels = L;
    cdrl_copy(le->tau, tau, (size_t)L);
    cdrl_timestep_embedding_forward(le->e0, le->tau, L, le->te);
    cdrl_linear_forward(le->z1, le->e0, derived + le->map1.w_sn, params + le->map1_b, L, le->te,
                        le->E, scratch);
    cdrl_lrelu_forward(le->a1, le->z1, (size_t)L * (size_t)le->E, SLOPE);
    cdrl_linear_forward(le->e, le->a1, derived + le->map2.w_sn, params + le->map2_b, L, le->E,
                        le->E, scratch);
}

void cdrl_level_embed_zero_grad(cdrl_level_embed *le) {
    cdrl_zero(le->de, (size_t)le->max_levels * (size_t)le->E);
}

void cdrl_level_embed_finish(const cdrl_level_embed *le, float *dparams, float *dderived,
                             const float *derived, const float *params, const float *buffers,
                             cdrl_arena *scratch) {
    const int L = le->n_levels, E = le->E;
    const size_t nt = (size_t)L * (size_t)E;
    const size_t mark = cdrl_arena_mark(scratch);
    float *da = cdrl_arena_floats(scratch, nt);
    float *dz = cdrl_arena_floats(scratch, nt);
    cdrl_zero(da, nt);
    cdrl_linear_backward(da, dderived + le->map2.w_sn, dparams + le->map2_b, le->de, le->a1,
                         derived + le->map2.w_sn, L, E, E, scratch);
    cdrl_zero(dz, nt);
    cdrl_lrelu_backward(dz, da, le->z1, nt, SLOPE);
    cdrl_linear_backward(NULL, dderived + le->map1.w_sn, dparams + le->map1_b, dz, le->e0,
                         derived + le->map1.w_sn, L, le->te, E, scratch);
    cdrl_arena_release(scratch, mark);
    cdrl_sn_finish(&le->map1, dparams, dderived, params, buffers);
    cdrl_sn_finish(&le->map2, dparams, dderived, params, buffers);
}
