// Public models, sampling (api/model.h): the chain from noise down to the data level with the
// EMA weights (or the trained ones), class labels, guidance, composition and inpainting
// (cdrl_sample_params); each pair's energy and log-density with their gradients.
#include <math.h>
#include <string.h>

#include "api/model.h"
#include "core/core.h"
#include "ops/ops.h"
#include "sampler/chain.h"

void cdrl_sample_params_init(cdrl_sample_params *p, const cdrl_model *m) {
    memset(p, 0, sizeof *p);
    p->n_langevin = m ? m->cfg.n_langevin : 15;
    p->use_ema = 1;
    p->seed = 1;
}

cdrl_status cdrl_model_sample(cdrl_model *m, float *out, float *levels, int n, int n_langevin,
                              int use_ema, uint64_t seed) {
    return cdrl_model_sample_cond(m, out, levels, NULL, 0.0f, n, n_langevin, use_ema, seed);
}

cdrl_status cdrl_model_sample_cond(cdrl_model *m, float *out, float *levels, const int *label,
                                   float guidance, int n, int n_langevin, int use_ema,
                                   uint64_t seed) {
    cdrl_sample_params p;
    cdrl_sample_params_init(&p, m);
    p.n_langevin = n_langevin, p.use_ema = use_ema, p.seed = seed, p.levels = levels;
    if (m->cfg.n_classes && label) p.n_terms = 1, p.label[0] = label, p.weight[0] = guidance;
    if (!(guidance >= 0.0f && guidance <= 1000.0f))
        return cdrl_fail(CDRL_STATUS_INVALID, "sample: guidance weight %g out of range (0..1000)",
                         (double)guidance);
    return cdrl_model_sample_with(m, out, n, &p);
}

static cdrl_status check_params(const cdrl_model *m, const cdrl_sample_params *p, int n) {
    if (n < 0) return cdrl_fail(CDRL_STATUS_INVALID, "sample: %d samples asked for", n);
    if (p->n_langevin < 0)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "sample: Langevin steps must be >= 0 (0: the initializer's proposals alone)");
    if (p->n_terms < 0 || p->n_terms > CDRL_SAMPLE_MAX_TERMS)
        return cdrl_fail(CDRL_STATUS_INVALID, "sample: %d conditioning terms (0..%d)", p->n_terms,
                         CDRL_SAMPLE_MAX_TERMS);
    if (p->n_terms && !m->cfg.n_classes)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "sample: labels given to an unconditional model (trained without "
                         "classes)");
    int K[CDRL_MAX_ATTRS];
    const int A = cdrl_config_attrs(&m->cfg, K);
    for (int t = 0; t < p->n_terms; t++) {
        if (!p->label[t])
            return cdrl_fail(CDRL_STATUS_INVALID, "sample: term %d has no labels", t + 1);
        if (!(p->weight[t] >= 0.0f && p->weight[t] <= 1000.0f))
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "sample: weight %g of term %d out of range (0..1000)",
                             (double)p->weight[t], t + 1);
        for (int i = 0; i < n * A; i++)
            if (p->label[t][i] < 0 || p->label[t][i] > K[i % A])
                return A == 1 ? cdrl_fail(CDRL_STATUS_INVALID,
                                          "sample: label %d of sample %d outside 0..%d (0 = no "
                                          "class)",
                                          p->label[t][i], i, K[0])
                              : cdrl_fail(CDRL_STATUS_INVALID,
                                          "sample: label %d of sample %d, attribute %d, outside "
                                          "0..%d (0 = none)",
                                          p->label[t][i], i / A, i % A + 1, K[i % A]);
    }
    if (p->resample < 0 || p->resample > 100)
        return cdrl_fail(CDRL_STATUS_INVALID, "sample: resample %d out of 0..100", p->resample);
    if (!p->known != !p->mask)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "sample: inpainting needs both the known values and the mask");
    const size_t nd = (size_t)n * (size_t)m->cfg.dim;
    for (size_t i = 0; p->mask && i < nd; i++)
        if (p->mask[i] != 0.0f && !isfinite(p->known[i]))
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "sample: known value %zu of sample %zu is not finite",
                             i % (size_t)m->cfg.dim, i / (size_t)m->cfg.dim);
    return CDRL_OK;
}

cdrl_status cdrl_model_sample_with(cdrl_model *m, float *out, int n, const cdrl_sample_params *p) {
    cdrl_sample_params def;
    if (!p) cdrl_sample_params_init(&def, m), p = &def;
    cdrl_status st = check_params(m, p, n);
    if (st != CDRL_OK) return st;
    const int D = m->cfg.dim, T = m->cfg.n_levels;
    cdrl_rng rng;
    cdrl_rng_init(&rng, p->seed, 2);
    cdrl_chain_params cp = {.n_langevin = p->n_langevin,
                            .n_langevin_ref = cdrl_model_ref_steps(&m->cfg),
                            .tweedie = m->cfg.kind == CDRL_MODEL_IMAGE && p->n_langevin > 0,
                            .cond = {.n = p->n_terms},
                            .clip_data = m->cfg.langevin_clip,
                            .bf16 = m->cfg.langevin_bf16,
                            .resample = p->resample};
    for (int t = 0; t < p->n_terms; t++)
        cp.cond.w[t] = p->weight[t];
    const int CH = m->chunk;
    cdrl_model_use_ema(m, p->use_ema);
    const size_t mark = cdrl_arena_mark(&m->scratch);
    float *lv =
        p->levels ? cdrl_arena_floats(&m->scratch, (size_t)T * (size_t)CH * (size_t)D) : NULL;
    for (int s0 = 0; s0 < n && st == CDRL_OK; s0 += CH) {
        const int b = n - s0 < CH ? n - s0 : CH;
        const size_t off = (size_t)s0 * (size_t)D;
        float *x = out + off;
        cdrl_rng_normal(&rng, x, (size_t)b * (size_t)D);
        for (int t = 0; t < p->n_terms; t++)
            cp.cond.label[t] = p->label[t] + (size_t)s0 * (size_t)cdrl_config_attrs(&m->cfg, NULL);
        cp.known = p->known ? p->known + off : NULL;
        cp.mask = p->mask ? p->mask + off : NULL;
        st = cdrl_chain_run(&m->ebm_net, &m->init_net, x, lv, b, &m->sched, &cp, NULL, &rng,
                            &m->scratch);
        if (p->levels && st == CDRL_OK)
            for (int t = 0; t < T; t++)
                cdrl_copy(p->levels + ((size_t)t * (size_t)n + (size_t)s0) * (size_t)D,
                          lv + (size_t)t * (size_t)b * (size_t)D, (size_t)b * (size_t)D);
    }
    cdrl_arena_release(&m->scratch, mark);
    cdrl_model_use_ema(m, 0);
    return st;
}

// Pair j's EBM at the points x (n, dim), times scale: out (n) = scale * f(sqrt(kappa_j) x,
// lambda_{j-1}) and dout (n, dim) its x-gradient unless NULL. The log density (scale 1/h_j)
// and the raw energy (scale 1) share it, so the two differ by exactly that factor.
// With terms (p->n_terms > 0, labels (n, A) per term): out = scale * (sum_i (1 + w_i) f(c_i)
// + a_null f(null)), the energy of the conditioning (langevin.h), and its gradient likewise.
static cdrl_status ebm_eval(cdrl_model *m, float *out, float *dout, const float *x, int n, int pair,
                            int use_ema, float scale, const cdrl_sample_params *p,
                            const char *what) {
    if (pair < 1 || pair > m->cfg.n_levels)
        return cdrl_fail(CDRL_STATUS_INVALID, "%s: pair %d outside 1..%d", what, pair,
                         m->cfg.n_levels);
    const int D = m->cfg.dim, T = m->cfg.n_levels, A = cdrl_config_attrs(&m->cfg, NULL);
    const float sk = (float)sqrt(m->sched.kappa[pair]);
    const int CH = m->chunk;
    // the terms: labels and coefficients; the last one the null term
    cdrl_cond c = {.n = p ? p->n_terms : 0};
    for (int t = 0; t < c.n; t++)
        c.w[t] = p->weight[t];
    const float a_null = cdrl_cond_null_weight(&c);
    cdrl_model_use_ema(m, use_ema);
    m->ebm_net.prepare(m->ebm_net.impl, m->tr.tau, T + 1, 0);
    const size_t mark = cdrl_arena_mark(&m->scratch);
    int *level = (int *)cdrl_arena_floats(&m->scratch, (size_t)CH);
    float *df = cdrl_arena_floats(&m->scratch, (size_t)CH);
    float *ft = cdrl_arena_floats(&m->scratch, (size_t)CH);
    float *y = cdrl_arena_floats(&m->scratch, (size_t)CH * (size_t)D);
    for (int i = 0; i < CH; i++)
        level[i] = pair - 1;
    for (int s0 = 0; s0 < n; s0 += CH) {
        const int b = n - s0 < CH ? n - s0 : CH;
        const size_t off = (size_t)s0 * (size_t)D, nd = (size_t)b * (size_t)D;
        cdrl_scale(y, x + off, sk, nd);
        if (dout) cdrl_zero(dout + off, nd);
        cdrl_zero(out + s0, (size_t)b);
        for (int t = 0; t <= c.n; t++) { // the terms, then the null label
            const float a = t < c.n ? 1.0f + c.w[t] : a_null;
            if (a == 0.0f) continue;
            const int *lab = t < c.n ? p->label[t] + (size_t)s0 * (size_t)A : NULL;
            m->ebm_net.forward(m->ebm_net.impl, ft, y, level, lab, b);
            cdrl_axpy(out + s0, scale * a, ft, (size_t)b);
            if (!dout) continue;
            for (int i = 0; i < b; i++)
                df[i] = scale * a;
            m->ebm_net.backward(m->ebm_net.impl, dout + off, df, 0);
        }
        if (dout) cdrl_scale(dout + off, dout + off, sk, nd);
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
    return ebm_eval(m, logp, dlogp, x, n, pair, use_ema, inv_h, NULL, "log density");
}

cdrl_status cdrl_model_log_density_with(cdrl_model *m, float *logp, float *dlogp, const float *x,
                                        int n, int pair, const cdrl_sample_params *p) {
    cdrl_status st = check_params(m, p, n);
    if (st != CDRL_OK) return st;
    const float inv_h =
        pair >= 1 && pair <= m->cfg.n_levels ? (float)(1.0 / m->sched.h[pair]) : 1.0f;
    return ebm_eval(m, logp, dlogp, x, n, pair, p->use_ema, inv_h, p, "log density");
}

cdrl_status cdrl_model_energy(cdrl_model *m, float *f, float *dfdx, const float *x, int n, int pair,
                              int use_ema) {
    return ebm_eval(m, f, dfdx, x, n, pair, use_ema, 1.0f, NULL, "energy");
}

double cdrl_model_langevin_h(const cdrl_model *m, int pair) {
    return pair >= 1 && pair <= m->cfg.n_levels ? m->sched.h[pair] : (double)NAN;
}
