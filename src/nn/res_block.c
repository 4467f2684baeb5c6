// The U-Net residual block, built from the GroupNorm, convolution, Linear, FiLM, SiLU,
// dropout and resampling ops of ops.h (see res_block.h). Forward saves both GroupNorm outputs
// and statistics, the resampled input, conv1's output, the dropout mask and the FiLM
// coefficients; backward recomputes the cheap element-wise steps (SiLU, FiLM, resampling)
// instead of storing them. Reference: method.md §5.5, official models/unet.py ResnetBlock.
#include "nn/res_block.h"

#include "ops/ops.h"

static cdrl_conv2d_desc conv_desc(int B, int IC, int OC, int H, int W, int K) {
    cdrl_conv2d_desc d = {B, IC, OC, H, W, K};
    return d;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int cdrl_res_block_out_size(const cdrl_res_block *p, int H) {
    return p->resample == CDRL_RESAMPLE_DOWN ? H / 2 : p->resample == CDRL_RESAMPLE_UP ? 2 * H : H;
}

size_t cdrl_res_block_acts_size(const cdrl_res_block *p, int B) {
    const size_t HWi = (size_t)p->H * (size_t)p->W;
    const size_t HWo = (size_t)cdrl_res_block_out_size(p, p->H) * cdrl_res_block_out_size(p, p->W);
    const size_t ni = (size_t)B * p->cin * HWi, no = (size_t)B * p->cout * HWo;
    const size_t BG = (size_t)B * p->G;
    return cdrl_arena_floats_size(ni) + 4 * cdrl_arena_floats_size(BG) +
           (p->resample ? cdrl_arena_floats_size((size_t)B * p->cin * HWo) : 0) +
           (p->dropout > 0.0f ? 3 : 2) * cdrl_arena_floats_size(no) +
           cdrl_arena_floats_size((size_t)B * 2 * p->cout);
}

void cdrl_res_block_acts_alloc(cdrl_res_block_acts *acts, cdrl_arena *arena,
                               const cdrl_res_block *p, int B) {
    const size_t HWi = (size_t)p->H * (size_t)p->W;
    const size_t HWo = (size_t)cdrl_res_block_out_size(p, p->H) * cdrl_res_block_out_size(p, p->W);
    const size_t ni = (size_t)B * p->cin * HWi, no = (size_t)B * p->cout * HWo;
    const size_t BG = (size_t)B * p->G;
    acts->n1 = cdrl_arena_floats(arena, ni);
    acts->mean1 = cdrl_arena_floats(arena, BG);
    acts->rstd1 = cdrl_arena_floats(arena, BG);
    acts->xr = p->resample ? cdrl_arena_floats(arena, (size_t)B * p->cin * HWo) : NULL;
    acts->c1 = cdrl_arena_floats(arena, no);
    acts->n2 = cdrl_arena_floats(arena, no);
    acts->mean2 = cdrl_arena_floats(arena, BG);
    acts->rstd2 = cdrl_arena_floats(arena, BG);
    acts->mask = p->dropout > 0.0f ? cdrl_arena_floats(arena, no) : NULL;
    acts->ss = cdrl_arena_floats(arena, (size_t)B * 2 * p->cout);
}

size_t cdrl_res_block_scratch_size(const cdrl_res_block *p, int B) {
    const int Ho = cdrl_res_block_out_size(p, p->H), Wo = cdrl_res_block_out_size(p, p->W);
    const size_t HWi = (size_t)p->H * (size_t)p->W, HWo = (size_t)Ho * (size_t)Wo;
    const size_t t = (size_t)B * max_sz((size_t)p->cin * max_sz(HWi, HWo), (size_t)p->cout * HWo);
    cdrl_conv2d_desc d1 = conv_desc(B, p->cin, p->cout, Ho, Wo, 3);
    cdrl_conv2d_desc d2 = conv_desc(B, p->cout, p->cout, Ho, Wo, 3);
    cdrl_conv2d_desc ds = conv_desc(B, p->cin, p->cout, Ho, Wo, 1);
    size_t kern = max_sz(cdrl_conv2d_scratch_size(&d1), cdrl_conv2d_scratch_size(&d2));
    if (p->sc_w || p->cin != p->cout) kern = max_sz(kern, cdrl_conv2d_scratch_size(&ds));
    kern = max_sz(kern, cdrl_linear_scratch_size(B, p->E, 2 * p->cout));
    // Backward holds at most ten temporaries of the block's largest activation at once.
    return 10 * cdrl_arena_floats_size(t) + kern;
}

static void resample_forward(float *out, const float *inp, int resample, int BC, int H, int W) {
    if (resample == CDRL_RESAMPLE_DOWN)
        cdrl_avgpool2_forward(out, inp, BC, H, W);
    else
        cdrl_upsample2_forward(out, inp, BC, H, W);
}

static void resample_backward(float *dinp, const float *dout, int resample, int BC, int H, int W) {
    if (resample == CDRL_RESAMPLE_DOWN)
        cdrl_avgpool2_backward(dinp, dout, BC, H, W);
    else
        cdrl_upsample2_backward(dinp, dout, BC, H, W);
}

// dinp = (accumulate: +=) the resampling's input gradient.
static void resample_backward_to(float *dinp, const float *dout, int accumulate, int resample,
                                 int BC, int H, int W) {
    if (accumulate) {
        resample_backward(dinp, dout, resample, BC, H, W);
    } else if (resample == CDRL_RESAMPLE_DOWN) {
        cdrl_avgpool2_backward_set(dinp, dout, BC, H, W);
    } else {
        cdrl_zero(dinp, (size_t)BC * (size_t)H * (size_t)W);
        cdrl_upsample2_backward(dinp, dout, BC, H, W);
    }
}

// dinp = (accumulate: +=) a convolution's input gradient; dw, db += theirs.
static void conv_backward_to(float *dinp, int accumulate, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const cdrl_conv2d_desc *d,
                             cdrl_arena *s) {
    if (accumulate) {
        cdrl_conv2d_backward(dinp, dw, db, dout, inp, w, d, s);
        return;
    }
    cdrl_conv2d_input_grad(dinp, dout, w, NULL, d, s);
    cdrl_conv2d_backward(NULL, dw, db, dout, inp, w, d, s);
}

void cdrl_res_block_forward(float *out, cdrl_res_block_acts *acts, const float *inp,
                            const float *st, const cdrl_res_block *p, int B, int train,
                            cdrl_rng *rng, const float *replay, cdrl_arena *s) {
    const int Ho = cdrl_res_block_out_size(p, p->H), Wo = cdrl_res_block_out_size(p, p->W);
    const int HWi = p->H * p->W, HWo = Ho * Wo, ci = p->cin, co = p->cout;
    const size_t ni = (size_t)B * ci * HWi, no = (size_t)B * co * HWo;
    const int drop = train && p->dropout > 0.0f;
    const size_t mark = cdrl_arena_mark(s);
    cdrl_conv2d_desc d1 = conv_desc(B, ci, co, Ho, Wo, 3);
    cdrl_conv2d_desc d2 = conv_desc(B, co, co, Ho, Wo, 3);
    cdrl_conv2d_desc ds = conv_desc(B, ci, co, Ho, Wo, 1);

    float *a1 = cdrl_arena_floats(s, ni); // (B, cin, HWi) silu(norm1(x))
    cdrl_groupnorm_forward(acts->n1, acts->mean1, acts->rstd1, inp, p->n1_w, p->n1_b, B, ci, HWi,
                           p->G, p->eps);
    cdrl_silu_forward(a1, acts->n1, ni);
    const float *a = a1, *xs = inp;
    if (p->resample) {
        float *ar = cdrl_arena_floats(s, (size_t)B * ci * HWo); // (B, cin, HWo)
        resample_forward(ar, a1, p->resample, B * ci, p->H, p->W);
        resample_forward(acts->xr, inp, p->resample, B * ci, p->H, p->W);
        a = ar;
        xs = acts->xr;
    }
    cdrl_conv2d_forward(acts->c1, a, p->c1_w, p->c1_b, &d1, s);
    cdrl_linear_forward(acts->ss, st, p->mlp_w, p->mlp_b, B, p->E, 2 * co, s);
    cdrl_groupnorm_forward(acts->n2, acts->mean2, acts->rstd2, acts->c1, p->n2_w, p->n2_b, B, co,
                           HWo, p->G, p->eps);
    float *h = cdrl_arena_floats(s, no); // (B, cout, HWo) conv2's input
    cdrl_film_forward(h, acts->n2, acts->ss, B, co, HWo);
    cdrl_silu_forward(h, h, no);
    if (drop && replay) {
        cdrl_copy(acts->mask, replay, no);
        cdrl_mul_into(h, acts->mask, no);
    } else if (drop) {
        cdrl_dropout_forward(h, acts->mask, h, no, p->dropout, rng);
    }
    cdrl_conv2d_forward(out, h, p->c2_w, p->c2_b, &d2, s);
    if (p->sc_w) {
        float *sc = cdrl_arena_floats(s, no);
        cdrl_conv2d_forward(sc, xs, p->sc_w, p->sc_b, &ds, s);
        xs = sc;
    }
    cdrl_add_into(out, xs, no);
    cdrl_arena_release(s, mark);
}

void cdrl_res_block_backward(float *dinp, float *dst, const cdrl_res_block_grads *g,
                             const float *dout, const cdrl_res_block_acts *acts, const float *inp,
                             const float *st, const cdrl_res_block *p, int B, int train,
                             int accumulate, cdrl_arena *s) {
    const int Ho = cdrl_res_block_out_size(p, p->H), Wo = cdrl_res_block_out_size(p, p->W);
    const int HWi = p->H * p->W, HWo = Ho * Wo, ci = p->cin, co = p->cout;
    const size_t ni = (size_t)B * ci * HWi, nio = (size_t)B * ci * HWo, no = (size_t)B * co * HWo;
    const int drop = train && p->dropout > 0.0f;
    const size_t mark = cdrl_arena_mark(s);
    cdrl_conv2d_desc d1 = conv_desc(B, ci, co, Ho, Wo, 3);
    cdrl_conv2d_desc d2 = conv_desc(B, co, co, Ho, Wo, 3);
    cdrl_conv2d_desc ds = conv_desc(B, ci, co, Ho, Wo, 1);

    // Skip path: out = conv2(...) + res_conv(R(x)) (or + R(x)): dinp's first term, written
    // unless accumulate. The other buffers below are written by the _set forms of the backward
    // ops (no zeroing passes).
    const float *xs = p->resample ? acts->xr : inp;
    if (p->resample) {
        const float *gxs = dout; // (B, cin, HWo)
        if (p->sc_w) {
            float *t = cdrl_arena_floats(s, nio);
            conv_backward_to(t, 0, g->sc_w, g->sc_b, dout, xs, p->sc_w, &ds, s);
            gxs = t;
        }
        resample_backward_to(dinp, gxs, accumulate, p->resample, B * ci, p->H, p->W);
    } else if (p->sc_w) {
        conv_backward_to(dinp, accumulate, g->sc_w, g->sc_b, dout, xs, p->sc_w, &ds, s);
    } else if (accumulate) {
        cdrl_add_into(dinp, dout, no);
    } else {
        cdrl_copy(dinp, dout, no);
    }

    // conv2's input, recomputed: dropout(silu(film(n2))).
    float *mm = cdrl_arena_floats(s, no); // (B, cout, HWo) film output
    float *h = cdrl_arena_floats(s, no);  // (B, cout, HWo)
    cdrl_film_forward(mm, acts->n2, acts->ss, B, co, HWo);
    cdrl_silu_forward(h, mm, no);
    if (drop) cdrl_mul_into(h, acts->mask, no);
    float *dh = cdrl_arena_floats(s, no);
    conv_backward_to(dh, 0, g->c2_w, g->c2_b, dout, h, p->c2_w, &d2, s);
    float *dm; // (B, cout, HWo) gradient wrt the film output
    if (drop) {
        cdrl_dropout_backward_set(h, dh, acts->mask, no);
        cdrl_silu_backward_set(dh, h, mm, no);
        dm = dh;
    } else {
        cdrl_silu_backward_set(h, dh, mm, no);
        dm = h;
    }

    // FiLM: d scale, d shift into dss; dm becomes d n2 in place.
    float *dss = cdrl_arena_floats(s, (size_t)B * 2 * co); // (B, 2 cout)
    cdrl_film_backward(dm, dss, acts->n2, acts->ss, B, co, HWo);
    cdrl_linear_backward(dst, g->mlp_w, g->mlp_b, dss, st, p->mlp_w, B, p->E, 2 * co, s);
    float *dc1 = mm;
    cdrl_groupnorm_backward_set(dc1, g->n2_w, g->n2_b, dm, acts->c1, acts->mean2, acts->rstd2,
                                p->n2_w, B, co, HWo, p->G);

    // conv1 on R(silu(n1)), recomputed.
    float *a1 = cdrl_arena_floats(s, ni); // (B, cin, HWi)
    cdrl_silu_forward(a1, acts->n1, ni);
    const float *a = a1;
    if (p->resample) {
        float *ar = cdrl_arena_floats(s, nio);
        resample_forward(ar, a1, p->resample, B * ci, p->H, p->W);
        a = ar;
    }
    float *da = cdrl_arena_floats(s, nio);
    conv_backward_to(da, 0, g->c1_w, g->c1_b, dc1, a, p->c1_w, &d1, s);
    float *da1 = da;
    if (p->resample) {
        da1 = cdrl_arena_floats(s, ni);
        resample_backward_to(da1, da, 0, p->resample, B * ci, p->H, p->W);
    }
    float *dn1 = a1; // conv1's input is spent
    cdrl_silu_backward_set(dn1, da1, acts->n1, ni);
    cdrl_groupnorm_backward(dinp, g->n1_w, g->n1_b, dn1, inp, acts->mean1, acts->rstd1, p->n1_w, B,
                            ci, HWi, p->G);
    cdrl_arena_release(s, mark);
}
