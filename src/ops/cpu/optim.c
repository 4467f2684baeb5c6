// The cpu backend's optimiser kernels over flat float buffers: Adam/AdamW, global-norm
// clipping and the EMA update (train/optim.h has the schedules around them).
// Each follows the float32 expression order of its PyTorch 1.13 counterpart (Adam/AdamW
// `_single_tensor_adam[w]`, clip_grad_norm_, torch_ema 0.3): Python-float scalars are formed
// in double and rounded to float where torch's kernels take them, and the multiply-adds that
// torch's AVX2 CPU kernels fuse are fmaf here: given the same float32 hyperparameters, an Adam
// step is bit-identical to torch's on an AVX2 CPU.
// Left out: amsgrad, maximize, the fused/foreach paths, non-L2 norms.
// https://pytorch.org/docs/1.13/generated/torch.optim.Adam.html
#include <math.h>

#include "ops/cpu/cpu.h"

// Below this many elements a parallel region costs more than the loop.
#define OPTIM_PAR_MIN 32768

// ---------------------------------------------------------------------------------------
// Adam / AdamW

void cdrl_cpu_adam_step(float *param, float *m, float *v, const float *grad, size_t n, long step,
                        const cdrl_adam_params *p) {
    CDRL_ASSERT(param && m && v && grad && p);
    CDRL_ASSERT(step >= 1);
    // Scalars as torch forms them: Python floats (double), rounded to float when a tensor
    // kernel takes them. The bias corrections stay in double until step_size and
    // sqrt(bias_correction2) are formed, as in `_single_tensor_adam`.
    double beta1 = (double)p->beta1, beta2 = (double)p->beta2, lr = (double)p->lr;
    float b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    float neg_step_size = (float)(-(lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    // Adam folds weight decay into the gradient (L2); AdamW first shrinks the parameter by
    // 1 - lr*wd (formed in double, like torch's `param.mul_(1 - lr * weight_decay)`).
    float l2 = p->decoupled ? 0.0f : p->weight_decay;
    float shrink = p->decoupled ? (float)(1.0 - lr * (double)p->weight_decay) : 1.0f;
    // torch's AVX2 kernels fuse three multiply-adds: add(x, alpha=a) is fmadd(x, a, self)
    // (the L2 term and the first moment) and addcmul's self + (value * g) * g is contracted.
    // fmaf reproduces them bit for bit (checked against the fixture), and unlike a * b + c it
    // rounds the same under any compiler and flags. The loop is memory-bound: 8M parameters take
    // 90 ms per step with fmaf and 92 ms without (-O2, one core).
    // addcdiv's self + (value * m) / denom has no multiply-add to fuse.
    long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (long long i = 0; i < nn; i++) {
        float g = grad[i];
        float w = param[i] * shrink; // AdamW's decay; exact no-op (x * 1) for Adam
        if (l2 != 0.0f) g = fmaf(w, l2, g);
        float mi = fmaf(g, one_minus_b1, m[i] * b1);
        float vi = fmaf(one_minus_b2 * g, g, v[i] * b2);
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = w + neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

// ---------------------------------------------------------------------------------------
// Global-norm clipping

// The sum of squares is split into a fixed number of blocks whose bounds depend on n alone,
// and the block sums are added in order, so the norm is the same for any thread count.
#define CLIP_BLOCKS 64

float cdrl_cpu_clip_grad_norm(float *grad, size_t n, float max_norm) {
    CDRL_ASSERT(grad || n == 0);
    double part[CLIP_BLOCKS]; // per-block sums of squares
    size_t block = (n + CLIP_BLOCKS - 1) / CLIP_BLOCKS;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (int b = 0; b < CLIP_BLOCKS; b++) {
        size_t lo = (size_t)b * block, hi = lo + block;
        if (lo > n) lo = n;
        if (hi > n) hi = n;
        // Four interleaved accumulators hide the add latency; their order is fixed too.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = lo;
        for (; i + 4 <= hi; i += 4) {
            s0 += (double)grad[i] * (double)grad[i];
            s1 += (double)grad[i + 1] * (double)grad[i + 1];
            s2 += (double)grad[i + 2] * (double)grad[i + 2];
            s3 += (double)grad[i + 3] * (double)grad[i + 3];
        }
        for (; i < hi; i++)
            s0 += (double)grad[i] * (double)grad[i];
        part[b] = (s0 + s1) + (s2 + s3);
    }
    double ss = 0;
    for (int b = 0; b < CLIP_BLOCKS; b++)
        ss += part[b];
    float norm = (float)sqrt(ss);
    // torch: clip_coef = max_norm / (total_norm + 1e-6) in float32, where Tensor.__rdiv__ is
    // reciprocal() * max_norm, then grads *= clamp(clip_coef, max=1). Multiplying by the
    // clamped 1 is a no-op, so only coef < 1 scales. Note this is a hair wider than
    // "norm > max_norm": a norm within ~1e-6 below max_norm is scaled by coef just under 1,
    // as in torch. A NaN norm gives a NaN coef, which torch's clamp keeps and spreads to
    // every gradient; `!(coef >= 1)` does the same.
    float coef = (1.0f / (norm + 1e-6f)) * max_norm;
    if (!(coef >= 1.0f)) {
        long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
        for (long long i = 0; i < nn; i++)
            grad[i] *= coef;
    }
    return norm;
}

// ---------------------------------------------------------------------------------------
// EMA (torch_ema 0.3)

void cdrl_cpu_ema_update(float *shadow, const float *param, size_t n, float d) {
    CDRL_ASSERT((shadow && param) || n == 0);
    // torch_ema forms 1.0 - decay as a Python float and mul_ rounds it to float. From a float
    // d this is exact for d >= 0.5; the float d itself is the only loss (0.9999f makes
    // 1 - d = 1.00017e-4 where torch_ema's double gives 1.0e-4).
    float one_minus_d = (float)(1.0 - (double)d);
    long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (long long i = 0; i < nn; i++) {
        float tmp = shadow[i] - param[i];
        tmp = tmp * one_minus_d;
        shadow[i] = shadow[i] - tmp;
    }
}
