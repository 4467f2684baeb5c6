// The reference backend's optimiser ops (ops/ops.h; train/optim.h has the rules around them):
// Adam(W), global-norm clipping and the EMA update as plain loops, one thread. Each keeps the
// float32 expression order of its PyTorch counterpart (torch.optim.Adam[W] single-tensor,
// clip_grad_norm_, torch_ema), fmaf where torch's CPU kernels fuse a multiply-add, so that the
// results match the cpu backend's and torch's.
#include <math.h>

#include "ops/ref/ref.h"

// Python-float scalars are formed in double and rounded to float where torch hands them to a
// float kernel; the bias corrections stay in double until step size and sqrt(bias
// correction 2) are formed. Per value, with g the gradient:
//   Adam: g += wd w; AdamW: w *= 1 - lr wd (formed in double);
//   m = b1 m + (1 - b1) g  (fmaf: torch's add(alpha) is a fused multiply-add),
//   v = b2 v + ((1 - b2) g) g  (fmaf: addcmul's product is contracted),
//   w += -lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
void cdrl_ref_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                        const cdrl_adam_params *p) {
    CDRL_ASSERT(step >= 1);
    const double beta1 = (double)p->beta1, beta2 = (double)p->beta2, lr = (double)p->lr;
    const double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    const float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    const float neg_step_size = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    const float l2 = p->decoupled ? 0.0f : p->weight_decay;
    const float shrink = p->decoupled ? (float)(1.0 - lr * (double)p->weight_decay) : 1.0f;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        const float w = param[i] * shrink; // x * 1 is exact: a no-op for Adam
        if (l2 != 0.0f) g = fmaf(w, l2, g);
        const float mi = fmaf(g, one_minus_b1, m[i] * p->beta1);
        const float vi = fmaf(one_minus_b2 * g, g, v[i] * p->beta2);
        const float denom = sqrtf(vi) / bc2_sqrt + p->eps;
        param[i] = w + neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

// norm = sqrt(sum g^2) (in double, rounded to float); torch's coefficient is
// max_norm / (norm + 1e-6) formed as reciprocal times max_norm in float, applied when it is
// below 1 or NaN (torch's clamp(max=1) keeps a NaN and spreads it to every gradient).
float cdrl_ref_clip_grad_norm(float *grad, size_t n, float max_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)grad[i] * (double)grad[i];
    const float norm = (float)sqrt(ss);
    const float coef = (1.0f / (norm + 1e-6f)) * max_norm;
    if (!(coef >= 1.0f))
        for (size_t i = 0; i < n; i++)
            grad[i] *= coef;
    return norm;
}

// shadow -= (1 - d) (shadow - param): torch_ema forms 1 - decay as a Python float that mul_
// rounds to float; the difference is formed and scaled first, then subtracted.
void cdrl_ref_ema_update(float *shadow, const float *param, size_t n, float d) {
    const float one_minus_d = (float)(1.0 - (double)d);
    for (size_t i = 0; i < n; i++) {
        const float t = (shadow[i] - param[i]) * one_minus_d;
        shadow[i] = shadow[i] - t;
    }
}
