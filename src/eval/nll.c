// Exact negative log-likelihood of 2-D densities known up to a constant: log Z by the
// midpoint rule on an R x R grid of cells over a box (log-sum-exp of logp at the cell centres
// plus log(cell area)), refined R, 2R, 4R, ... until two grids agree to a tolerance. The
// held-out points are evaluated by the density itself, never looked up on the grid. Left out:
// mass outside the box (reported indirectly by the share of mass in the grid's outer ring),
// adaptive or higher-order quadrature, dimensions other than 2.
#include <math.h>
#include <string.h>

#include "core/core.h"

// Cell centres per density call: bounds the grid buffers whatever R is.
#define GRID_CHUNK 65536

void cdrl_nll_params_init(cdrl_nll_params *p) {
    memset(p, 0, sizeof *p);
    p->box[0] = p->box[2] = -8.0f;
    p->box[1] = p->box[3] = 8.0f;
    cdrl_box_widen(p->box, 0.1f);
    p->res = 128;
    p->max_res = 1024;
    p->tol = 0.01;
}

void cdrl_box_widen(float box[4], float frac) {
    const float wx = (box[1] - box[0]) * frac, wy = (box[3] - box[2]) * frac;
    box[0] -= wx;
    box[1] += wx;
    box[2] -= wy;
    box[3] += wy;
}

// log of the midpoint-rule integral of exp(fn) over the box with R x R cells, by a running
// log-sum-exp in double that visits the cells in a fixed order (row by row, y upwards).
// xy (GRID_CHUNK, 2) and lp (GRID_CHUNK) are the caller's buffers.
static cdrl_status grid_log_z(cdrl_log_density_fn fn, void *user, const float box[4], int R,
                              float *xy, float *lp, double *log_z, double *edge_mass) {
    const double dx = ((double)box[1] - (double)box[0]) / R,
                 dy = ((double)box[3] - (double)box[2]) / R;
    const size_t n_cells = (size_t)R * (size_t)R;
    double m = -(double)INFINITY, sum = 0.0, edge = 0.0; // sums of exp(lp - m)
    for (size_t c0 = 0; c0 < n_cells; c0 += GRID_CHUNK) {
        const int b = (int)(n_cells - c0 < GRID_CHUNK ? n_cells - c0 : GRID_CHUNK);
        for (int k = 0; k < b; k++) {
            const size_t c = c0 + (size_t)k;
            const int iy = (int)(c / (size_t)R), ix = (int)(c % (size_t)R);
            xy[2 * k] = (float)((double)box[0] + (ix + 0.5) * dx);
            xy[2 * k + 1] = (float)((double)box[2] + (iy + 0.5) * dy);
        }
        cdrl_status st = fn(user, lp, xy, b);
        if (st != CDRL_OK) return st;
        double cm = -(double)INFINITY;
        for (int k = 0; k < b; k++) {
            const double v = (double)lp[k];
            if (isnan(v) || v == (double)INFINITY)
                return cdrl_fail(CDRL_STATUS_DIVERGED,
                                 "grid normaliser: log-density %g at (%g, %g)", v,
                                 (double)xy[2 * k], (double)xy[2 * k + 1]);
            if (v > cm) cm = v;
        }
        if (cm == -(double)INFINITY) continue; // a chunk with no mass
        if (cm > m) {
            const double s = exp(m - cm); // 0 while m is still -inf
            sum *= s;
            edge *= s;
            m = cm;
        }
        for (int k = 0; k < b; k++) {
            const double e = exp((double)lp[k] - m);
            const size_t c = c0 + (size_t)k;
            const size_t iy = c / (size_t)R, ix = c % (size_t)R;
            sum += e;
            if (ix == 0 || iy == 0 || ix == (size_t)R - 1 || iy == (size_t)R - 1) edge += e;
        }
    }
    if (m == -(double)INFINITY)
        return cdrl_fail(
            CDRL_STATUS_INVALID,
            "grid normaliser: the density is zero on the whole %dx%d grid over [%g, %g] x [%g, %g]",
            R, R, (double)box[0], (double)box[1], (double)box[2], (double)box[3]);
    *log_z = m + log(sum) + log(dx * dy);
    *edge_mass = edge / sum;
    return CDRL_OK;
}

cdrl_status cdrl_eval_nll(cdrl_log_density_fn fn, void *user, const float *pts, int n,
                          const cdrl_nll_params *p, cdrl_nll_result *r) {
    CDRL_ASSERT(fn && pts && p && r);
    memset(r, 0, sizeof *r);
    r->nll = r->log_z = r->change = (double)NAN;
    if (n < 1 || p->res < 2 || p->max_res < p->res || !(p->box[1] > p->box[0]) ||
        !(p->box[3] > p->box[2]) || !(p->tol > 0))
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "grid normaliser: need n >= 1 points (%d), 2 <= res (%d) <= max_res (%d), "
                         "a non-empty box, tol > 0",
                         n, p->res, p->max_res);
    float *lp_pts = cdrl_malloc(sizeof(float) * (size_t)n);
    float *xy = cdrl_malloc(sizeof(float) * 2 * GRID_CHUNK);
    float *lp = cdrl_malloc(sizeof(float) * GRID_CHUNK);
    cdrl_status st = lp_pts && xy && lp
                         ? CDRL_OK
                         : cdrl_fail(CDRL_STATUS_NOMEM, "grid normaliser: out of memory");
    if (st == CDRL_OK) st = fn(user, lp_pts, pts, n);
    double mean_lp = 0.0;
    for (int i = 0; i < n && st == CDRL_OK; i++) {
        const double v = (double)lp_pts[i];
        if (isnan(v) || v == (double)INFINITY)
            st = cdrl_fail(CDRL_STATUS_DIVERGED,
                           "grid normaliser: log-density %g at point %d (%g, %g)", v, i,
                           (double)pts[2 * i], (double)pts[2 * i + 1]);
        mean_lp += v;
    }
    mean_lp /= n;
    double prev = (double)NAN;
    for (int R = p->res; st == CDRL_OK && R <= p->max_res && r->n_grids < CDRL_NLL_MAX_GRIDS;
         R *= 2) {
        double log_z = 0.0, edge = 0.0;
        st = grid_log_z(fn, user, p->box, R, xy, lp, &log_z, &edge);
        if (st != CDRL_OK) break;
        const double nll = log_z - mean_lp;
        r->grid_res[r->n_grids] = R;
        r->grid_nll[r->n_grids] = nll;
        r->n_grids++;
        r->nll = nll;
        r->log_z = log_z;
        r->res = R;
        r->edge_mass = edge;
        if (r->n_grids > 1) {
            r->change = fabs(nll - prev);
            // An infinite NLL (a point off the support) cannot change: treat it as converged.
            if (r->change < p->tol || isinf(nll)) {
                r->converged = 1;
                break;
            }
        }
        prev = nll;
        if (R > p->max_res / 2) break; // the next grid would pass max_res
    }
    cdrl_free(lp);
    cdrl_free(xy);
    cdrl_free(lp_pts);
    return st;
}

// The model's data-level density with the EMA weights.
static cdrl_status model_log_density(void *user, float *logp, const float *x, int n) {
    return cdrl_model_log_density((cdrl_model *)user, logp, NULL, x, n, 1, 1);
}

cdrl_status cdrl_model_nll(cdrl_model *m, const float *pts, int n, const cdrl_nll_params *p,
                           cdrl_nll_result *r) {
    CDRL_ASSERT(cdrl_model_config(m)->dim == 2);
    return cdrl_eval_nll(model_log_density, m, pts, n, p, r);
}
