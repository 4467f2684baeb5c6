// Noise-level embedding (method.md §5.4): the logSNR -> tau map and the sinusoidal embedding
// of tau, forward, plus the backward wrt tau that only the gradient check uses.
// Leaves out learned embeddings and the class embedding (a Linear on a one-hot, elsewhere).
// Reference: the official CDRL/DDPM timestep embedding in float32 (ref/fixtures_layers.py
// has it verbatim); tau(lambda) from method.md §5.4.
#include <math.h>

#include "ops/cpu/cpu.h"

// Double, then one rounding: tau is an input the networks see, so it gets the best value.
float cdrl_logsnr_to_tau(float logsnr) {
    double l = (double)logsnr;
    if (l < -20.0) l = -20.0;
    if (l > 20.0) l = 20.0;
    return (float)(1000.0 * (2.0 / CDRL_PI) * atan(exp(-l / 2.0)));
}

// ---------------------------------------------------------------------------------------
// Why the float/double mix below. tau reaches ~1000 and w_0 = 1, so the angle tau w_k is up to
// 1000, where one float32 ulp is 6.1e-5; sin passes an error of the angle straight through.
// The reference forms the angle in float32 (`tau[:, None] * emb[None, :]`), so its rounding
// (up to 3e-5) IS part of the reference result. Computing the angle in double would be closer
// to the real-valued formula but off the float32 reference by up to ~7e-5. So we reproduce
// each float32 rounding of the reference: the exponent k * fl32(-ln(10000)/(half-1)) in float,
// w_k = exp of it rounded to float, the angle rounded to float, and then sin and cos in
// double of that float angle (correctly rounded where the reference is within 1 ulp).
// What stays: PyTorch's SIMD exp is only 1-ulp accurate and misses the correctly rounded w_k
// for a few k (6 of 64, 3 of 32 on x86 AVX2), which moves those angles by tau * ulp(w_k):
// up to ~6e-5 at tau ~ 1000 and below 1e-6 for tau < 10 (rms over tau in [0, 1000]: ~5e-6).
// Matching that bit for bit would mean copying one CPU's exp; CUDA's expf differs again.
static inline float freq(int k, int half) {
    const float step = (float)(-log(10000.0) / (double)(half - 1));
    return (float)exp((double)((float)k * step));
}

void cdrl_cpu_timestep_embedding_forward(float *out, const float *tau, int B, int D) {
    CDRL_ASSERT(D >= 4 && D % 2 == 0 && B >= 0);
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * D; // (D): sin block, then cos block
        for (int k = 0; k < half; k++) {
            const float angle = tau[b] * freq(k, half);
            o[k] = (float)sin((double)angle);
            o[half + k] = (float)cos((double)angle);
        }
    }
}

// d/dtau sin(tau w) = w cos(tau w), d/dtau cos(tau w) = -w sin(tau w); summed in double.
void cdrl_cpu_timestep_embedding_backward(float *dtau, const float *dout, const float *tau, int B,
                                          int D) {
    CDRL_ASSERT(D >= 4 && D % 2 == 0 && B >= 0);
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * D; // (D)
        double s = 0.0;
        for (int k = 0; k < half; k++) {
            const float w = freq(k, half), angle = tau[b] * w;
            s += (double)w *
                 ((double)g[k] * cos((double)angle) - (double)g[half + k] * sin((double)angle));
        }
        dtau[b] += (float)s;
    }
}
