// Spectrally normalised weights (see sn_layer.h); the arithmetic is in ops/cpu/spectral_norm.c.
#include "nn/sn_layer.h"

#include <math.h>

#include "ops/ops.h"

void cdrl_sn_register(cdrl_sn *s, cdrl_param_table *params, cdrl_param_table *buffers,
                      cdrl_param_table *derived, const char *prefix, int ndim, const int *wshape) {
    s->OC = wshape[0];
    s->IN = 1;
    for (int i = 1; i < ndim; i++)
        s->IN *= wshape[i];
    s->w = cdrl_param_add(params, ndim, wshape, "%s.weight_orig", prefix);
    s->u = cdrl_param_add(buffers, 1, &s->OC, "%s.weight_u", prefix);
    s->v = cdrl_param_add(buffers, 1, &s->IN, "%s.weight_v", prefix);
    s->w_sn = cdrl_param_add(derived, ndim, wshape, "%s.weight", prefix);
    s->sigma = 1.0f;
}

void cdrl_sn_register_linear(cdrl_sn *s, size_t *bias, cdrl_param_table *params,
                             cdrl_param_table *buffers, cdrl_param_table *derived, int in, int out,
                             const char *prefix) {
    int wshape[2] = {out, in};
    cdrl_sn_register(s, params, buffers, derived, prefix, 2, wshape);
    *bias = cdrl_param_add(params, 1, &out, "%s.bias", prefix);
}

static void normalize(float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void cdrl_sn_init_uv(const cdrl_sn *s, float *buffers, cdrl_rng *rng) {
    cdrl_rng_normal(rng, buffers + s->u, (size_t)s->OC);
    cdrl_rng_normal(rng, buffers + s->v, (size_t)s->IN);
    normalize(buffers + s->u, s->OC);
    normalize(buffers + s->v, s->IN);
}

void cdrl_sn_init_default(const cdrl_sn *s, size_t bias, float *params, float *buffers,
                          cdrl_rng *rng) {
    const float bound = 1.0f / sqrtf((float)s->IN);
    cdrl_param_init_uniform(params + s->w, (size_t)s->OC * (size_t)s->IN, bound, rng);
    cdrl_param_init_uniform(params + bias, (size_t)s->OC, bound, rng);
    cdrl_sn_init_uv(s, buffers, rng);
}

void cdrl_sn_prepare(cdrl_sn *s, float *derived, float *buffers, const float *params, int train) {
    cdrl_spectral_norm_forward(derived + s->w_sn, &s->sigma, buffers + s->u, buffers + s->v,
                               params + s->w, s->OC, s->IN, train);
}

void cdrl_sn_finish(const cdrl_sn *s, float *dparams, const float *dderived, const float *params,
                    const float *buffers) {
    cdrl_spectral_norm_backward(dparams + s->w, dderived + s->w_sn, params + s->w, buffers + s->u,
                                buffers + s->v, s->sigma, s->OC, s->IN);
}
