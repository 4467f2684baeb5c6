// Public models, sampling (api/model.h): the chain from noise down to the data level with the
// EMA weights (or the trained ones), class labels and guidance; each pair's energy and
// log-density with their gradients.
#include <math.h>

#include "api/model.h"
#include "core/core.h"
#include "ops/ops.h"
#include "sampler/chain.h"

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
                            .n_langevin_ref = cdrl_model_ref_steps(&m->cfg),
                            .tweedie = m->cfg.kind == CDRL_MODEL_IMAGE && n_langevin > 0,
                            .guidance = guidance,
                            .clip_data = m->cfg.langevin_clip,
                            .bf16 = m->cfg.langevin_bf16};
    const int CH = m->chunk;
    cdrl_model_use_ema(m, use_ema);
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
                cdrl_copy(levels + ((size_t)t * (size_t)n + (size_t)s0) * (size_t)D,
                          lv + (size_t)t * (size_t)b * (size_t)D, (size_t)b * (size_t)D);
    }
    cdrl_arena_release(&m->scratch, mark);
    cdrl_model_use_ema(m, 0);
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
    cdrl_model_use_ema(m, use_ema);
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
        cdrl_scale(y, x + off, sk, nd);
        m->ebm_net.forward(m->ebm_net.impl, out + s0, y, level, NULL, b);
        cdrl_scale(out + s0, out + s0, scale, (size_t)b);
        if (dout) {
            cdrl_zero(dout + off, nd);
            m->ebm_net.backward(m->ebm_net.impl, dout + off, df, 0);
            cdrl_scale(dout + off, dout + off, sk, nd);
        }
    }
    cdrl_arena_release(&m->scratch, mark);
    cdrl_model_use_ema(m, 0);
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
