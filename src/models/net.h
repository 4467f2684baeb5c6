// The interface the trainer and the sampler see of a network: the energy network f(y, level)
// (out: B values) and the initializer mu(x, level) (out: B x dim values) alike. Each network
// (toy MLPs, image ResNet and U-Net) fills one of these; nothing above this layer knows which.
#ifndef CDRL_MODELS_NET_H
#define CDRL_MODELS_NET_H

#include <stddef.h>

#include "nn/ebm_base.h"
#include "nn/param.h"

typedef struct cdrl_net {
    void *impl;
    int dim; // values per sample of the data (2, or C*H*W)
    const cdrl_param_table *params;
    const cdrl_param_table *buffers; // NULL when the network has none (spectral-norm u, v)
    float **p;                       // points at the parameters in use (own or an EMA copy)
    float *p_own;                    // the trainable parameters (params->total)
    float *grad;                     // their gradient (params->total)
    float *buf;                      // the buffers, or NULL
    // Derived state after a weight change: normalised weights, per-level embeddings of the
    // n_levels values tau (one power iteration first when train is set, EBM only).
    void (*prepare)(void *impl, const float *tau, int n_levels, int train);
    // label (B) classes 1..n_classes, 0 the null label; NULL is the null label everywhere
    // (unconditional networks ignore it).
    void (*forward)(void *impl, float *out, const float *x, const int *level, const int *label,
                    int B);
    // dx (B, dim) += d(sum dout * out)/dx unless NULL; param_grads accumulates grad.
    void (*backward)(void *impl, float *dx, const float *dout, int param_grads);
    void (*zero_grad)(void *impl);
    void (*finish_grads)(void *impl);
} cdrl_net;

// The storage fields of an energy network's view, from its scaffold.
static inline void cdrl_net_set_storage(cdrl_net *v, cdrl_ebm_base *b) {
    v->params = &b->params;
    v->buffers = &b->buffers;
    v->p = &b->p;
    v->p_own = b->p_own;
    v->grad = b->grad;
    v->buf = b->buf;
}

#endif // CDRL_MODELS_NET_H
