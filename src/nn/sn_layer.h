// The weight of a spectrally normalised layer (method.md §5.3): the trainable weight_orig
// lives in the network's parameters, u and v in its buffers, and the normalised weight W/sigma
// in a derived buffer computed once per weight update (cdrl_sn_prepare), not once per forward:
// Langevin runs 15 forwards with the same weights in eval mode. Gradients reach the derived
// weight first and are mapped back to weight_orig once (cdrl_sn_finish); the map is linear,
// so summing the gradients of several backward passes before it is exact.
#ifndef CDRL_NN_SN_LAYER_H
#define CDRL_NN_SN_LAYER_H

#include "core/rng.h"
#include "nn/param.h"

typedef struct cdrl_sn {
    int OC, IN;  // weight viewed as (OC, IN), IN = everything after dim 0
    size_t w;    // weight_orig, in the parameters
    size_t u, v; // weight_u (OC), weight_v (IN), in the buffers
    size_t w_sn; // W / sigma (OC, IN), in the derived weights
    float sigma;
} cdrl_sn;

// Registers "<prefix>.weight_orig" (shape wshape, ndim dims, wshape[0] = OC) in params,
// "<prefix>.weight_u" / "<prefix>.weight_v" in buffers and the normalised weight in derived.
void cdrl_sn_register(cdrl_sn *s, cdrl_param_table *params, cdrl_param_table *buffers,
                      cdrl_param_table *derived, const char *prefix, int ndim, const int *wshape);
// A spectrally normalised linear layer in -> out: cdrl_sn_register of "<prefix>.weight_orig"
// (out, in), then "<prefix>.bias" (out) in params.
void cdrl_sn_register_linear(cdrl_sn *s, size_t *bias, cdrl_param_table *params,
                             cdrl_param_table *buffers, cdrl_param_table *derived, int in, int out,
                             const char *prefix);
// u and v as torch initialises them: normalized standard normal draws.
void cdrl_sn_init_uv(const cdrl_sn *s, float *buffers, cdrl_rng *rng);
// PyTorch's default for nn.Linear and nn.Conv2d, weight then bias U(+-1/sqrt(fan_in)), then
// u and v (cdrl_sn_init_uv): the draws in the order of the official modules' construction.
void cdrl_sn_init_default(const cdrl_sn *s, size_t bias, float *params, float *buffers,
                          cdrl_rng *rng);
// derived[w_sn] = W / sigma, with one power iteration on u, v first when train is set.
void cdrl_sn_prepare(cdrl_sn *s, float *derived, float *buffers, const float *params, int train);
// dparams[w] += d(W/sigma)/dW applied to dderived[w_sn] (u, v constant).
void cdrl_sn_finish(const cdrl_sn *s, float *dparams, const float *dderived, const float *params,
                    const float *buffers);

#endif // CDRL_NN_SN_LAYER_H
