// Spectral normalisation, the attention kernel and the U-Net attention block against the
// PyTorch twin (ref/fixtures_sn.py, ref/fixtures_attn.py): forward values, power-iteration
// state, input and parameter gradients; finite-difference checks of every gradient; thread-
// count independence of attention and of the block.
// Leaves out: speed (bench/), the zero init of to_out (a network-level concern).
#include "nn/attn_block.h"
#include "ops/ops.h"
#include "test_util.h"

// ---------------------------------------------------------------------------------------
// Spectral normalisation

// One SN layer of the fixture: an SN-Linear (x (N, IN)) or an SN-Conv3x3 (x (B, C, H, W)).
typedef struct sn_layer {
    int is_conv;
    int N;                 // linear rows
    cdrl_conv2d_desc conv; // conv sizes
    int OC, IN;            // weight as a matrix
    size_t nx, ny;         // input and output element counts
    cdrl_arena *scratch;
} sn_layer;

static void layer_forward(const sn_layer *L, float *y, const float *x, const float *w_sn,
                          const float *b) {
    if (L->is_conv)
        cdrl_conv2d_forward(y, x, w_sn, b, &L->conv, L->scratch);
    else
        cdrl_linear_forward(y, x, w_sn, b, L->N, L->IN, L->OC, L->scratch);
}

static void layer_backward(const sn_layer *L, float *dx, float *dw_sn, float *db, const float *dy,
                           const float *x, const float *w_sn) {
    if (L->is_conv)
        cdrl_conv2d_backward(dx, dw_sn, db, dy, x, w_sn, &L->conv, L->scratch);
    else
        cdrl_linear_backward(dx, dw_sn, db, dy, x, w_sn, L->N, L->IN, L->OC, L->scratch);
}

// Eval-mode SN (u, v fixed) of w, then either sum(w_sn * R) (layer NULL) or sum(layer(x) * r).
typedef struct sn_loss_ctx {
    const sn_layer *L;
    float *w;                       // (OC, IN) perturbed by gradcheck
    const float *u, *v, *b, *x, *r; // r: (OC, IN) without a layer, (ny) with one
    float *w_sn, *y;
} sn_loss_ctx;

static double sn_loss(void *p) {
    sn_loss_ctx *c = p;
    float u[64], v[64], sigma;
    memcpy(u, c->u, (size_t)c->L->OC * sizeof(float));
    memcpy(v, c->v, (size_t)c->L->IN * sizeof(float));
    cdrl_spectral_norm_forward(c->w_sn, &sigma, u, v, c->w, c->L->OC, c->L->IN, 0);
    if (!c->y) return test_dot(c->w_sn, c->r, (size_t)c->L->OC * c->L->IN);
    layer_forward(c->L, c->y, c->x, c->w_sn, c->b);
    return test_dot(c->y, c->r, c->L->ny);
}

static const float *fx(const cdrl_st_file *f, const char *pre, const char *name, size_t n) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", pre, name);
    return fixture_f32(f, key, n);
}

static void test_sn_layer(const cdrl_st_file *f, const char *pre, int is_conv) {
    printf("spectral norm, %s\n", pre);
    sn_layer L = {0};
    L.is_conv = is_conv;
    if (is_conv) {
        L.conv.B = fixture_int(f, "conv_B");
        L.conv.IC = fixture_int(f, "conv_C");
        L.conv.OC = fixture_int(f, "conv_OC");
        L.conv.H = fixture_int(f, "conv_H");
        L.conv.W = fixture_int(f, "conv_W");
        L.conv.K = 3;
        L.OC = L.conv.OC;
        L.IN = L.conv.IC * 9;
        L.nx = (size_t)L.conv.B * L.conv.IC * L.conv.H * L.conv.W;
        L.ny = (size_t)L.conv.B * L.conv.OC * L.conv.H * L.conv.W;
    } else {
        L.N = fixture_int(f, "lin_N");
        L.IN = fixture_int(f, "lin_IN");
        L.OC = fixture_int(f, "lin_OC");
        L.nx = (size_t)L.N * L.IN;
        L.ny = (size_t)L.N * L.OC;
    }
    CDRL_ASSERT(L.OC <= 64 && L.IN <= 64); // sn_loss keeps u, v on the stack
    int OC = L.OC, IN = L.IN;
    size_t nw = (size_t)OC * IN;
    cdrl_arena arena;
    size_t ss = is_conv ? cdrl_conv2d_scratch_size(&L.conv) : cdrl_linear_scratch_size(L.N, IN, OC);
    CDRL_ASSERT(cdrl_arena_init(&arena, ss + 64) == CDRL_OK);
    L.scratch = &arena;

    const float *w = fx(f, pre, "param.w", nw), *b = fx(f, pre, "param.b", (size_t)OC);
    const float *x = fx(f, pre, "in.x", L.nx), *r = fx(f, pre, "in.r", L.ny);
    float *u = test_floats((size_t)OC), *v = test_floats((size_t)IN), sigma = 0;
    float *w_sn = test_floats(nw), *y = test_floats(L.ny), *dx = test_floats(L.nx);
    float *dw_sn = test_floats(nw), *db = test_floats((size_t)OC), *dw = test_floats(nw);
    memcpy(u, fx(f, pre, "param.u0", (size_t)OC), (size_t)OC * sizeof(float));
    memcpy(v, fx(f, pre, "param.v0", (size_t)IN), (size_t)IN * sizeof(float));

    // u, v, sigma, w_sn: float32 sums of at most 36 products, accumulated in double here and
    // in float by PyTorch; they agree to a few ulp of values of order 0.1-1, hence 1e-6 abs /
    // 1e-5 rel (w_sn = w / sigma carries sigma's relative error).
    cdrl_spectral_norm_forward(w_sn, &sigma, u, v, w, OC, IN, 1);
    check_close("power iteration 1: u", u, fx(f, pre, "out.u1", (size_t)OC), (size_t)OC, 1e-6,
                1e-5);
    check_close("power iteration 1: v", v, fx(f, pre, "out.v1", (size_t)IN), (size_t)IN, 1e-6,
                1e-5);
    check_close("sigma", &sigma, fx(f, pre, "out.sigma1", 1), 1, 1e-6, 1e-5);
    check_close("w_sn", w_sn, fx(f, pre, "out.w_sn1", nw), nw, 1e-6, 1e-5);

    // SN backward alone, fed the twin's gradient wrt w_sn: isolates it from the layer.
    // Gradients of order 1-35, sums of up to 50 terms (linear: 5): 1e-5 abs / 1e-4 rel.
    cdrl_spectral_norm_backward(dw, fx(f, pre, "grad.w_sn", nw), w, u, v, sigma, OC, IN);
    check_close("SN backward (twin's dw_sn): dw", dw, fx(f, pre, "grad.w", nw), nw, 1e-5, 1e-4);

    // The whole SN layer: our w_sn through the layer, backward with dout = r.
    layer_forward(&L, y, x, w_sn, b);
    check_close("layer out (train)", y, fx(f, pre, "out.y1", L.ny), L.ny, 1e-5, 1e-4);
    layer_backward(&L, dx, dw_sn, db, r, x, w_sn);
    memset(dw, 0, nw * sizeof(float));
    cdrl_spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, IN);
    check_close("layer dx", dx, fx(f, pre, "grad.x", L.nx), L.nx, 1e-5, 1e-4);
    check_close("layer dw_sn", dw_sn, fx(f, pre, "grad.w_sn", nw), nw, 1e-5, 1e-4);
    check_close("layer db", db, fx(f, pre, "grad.b", (size_t)OC), (size_t)OC, 1e-5, 1e-4);
    check_close("layer dw (weight_orig)", dw, fx(f, pre, "grad.w", nw), nw, 1e-5, 1e-4);

    // Finite differences through sigma (eval mode, u and v fixed as in autograd). The error is
    // float32 rounding of the loss divided by eps (it grows 3x at eps 3e-3): measured 2e-5
    // (SN alone) and 1.4e-4 / 3.5e-4 (through the layer) at eps 1e-2, on gradients of order
    // 1-30, so atol 5e-4 and rtol 2e-3 leave a margin and still catch a wrong term.
    float *u1 = test_floats((size_t)OC), *v1 = test_floats((size_t)IN);
    float *wp = test_floats(nw), *rw = test_floats(nw), *dwr = test_floats(nw);
    memcpy(u1, u, (size_t)OC * sizeof(float));
    memcpy(v1, v, (size_t)IN * sizeof(float));
    memcpy(wp, w, nw * sizeof(float));
    test_fill(rw, nw, 11, -1, 1);
    cdrl_spectral_norm_backward(dwr, rw, wp, u1, v1, sigma, OC, IN);
    sn_loss_ctx c = {&L, wp, u1, v1, b, x, rw, w_sn, NULL};
    gradcheck("fd SN alone: dw", sn_loss, &c, wp, dwr, nw, 60, 1e-2f, 5e-4, 2e-3);
    c.r = r;
    c.y = y;
    gradcheck("fd SN layer: dw", sn_loss, &c, wp, dw, nw, 60, 1e-2f, 5e-4, 2e-3);

    // Second train-mode forward: PyTorch's second power iteration.
    cdrl_spectral_norm_forward(w_sn, &sigma, u, v, w, OC, IN, 1);
    check_close("power iteration 2: u", u, fx(f, pre, "out.u2", (size_t)OC), (size_t)OC, 1e-6,
                1e-5);
    check_close("power iteration 2: v", v, fx(f, pre, "out.v2", (size_t)IN), (size_t)IN, 1e-6,
                1e-5);
    check_close("power iteration 2: w_sn", w_sn, fx(f, pre, "out.w_sn2", nw), nw, 1e-6, 1e-5);
    layer_forward(&L, y, x, w_sn, b);
    check_close("layer out (train, 2nd)", y, fx(f, pre, "out.y2", L.ny), L.ny, 1e-5, 1e-4);

    // Eval mode leaves u and v bit for bit.
    memcpy(u1, u, (size_t)OC * sizeof(float));
    memcpy(v1, v, (size_t)IN * sizeof(float));
    cdrl_spectral_norm_forward(w_sn, &sigma, u, v, w, OC, IN, 0);
    CHECK(memcmp(u, u1, (size_t)OC * sizeof(float)) == 0 &&
              memcmp(v, v1, (size_t)IN * sizeof(float)) == 0,
          "eval mode changed u or v");
    check_close("eval: w_sn", w_sn, fx(f, pre, "out.w_sn_eval", nw), nw, 1e-6, 1e-5);
    layer_forward(&L, y, x, w_sn, b);
    check_close("layer out (eval)", y, fx(f, pre, "out.y_eval", L.ny), L.ny, 1e-5, 1e-4);

    cdrl_free(u), cdrl_free(v), cdrl_free(w_sn), cdrl_free(y), cdrl_free(dx);
    cdrl_free(dw_sn), cdrl_free(db), cdrl_free(dw), cdrl_free(u1), cdrl_free(v1);
    cdrl_free(wp), cdrl_free(rw), cdrl_free(dwr);
    cdrl_arena_deinit(&arena);
}

// Spectral norm at 1 and 2 threads on a layer of the real size (SN-Conv3x3 256 -> 256): the
// same bytes for u, v, sigma, w_sn and dw.
static void test_sn_threads(void) {
    printf("spectral norm, thread counts\n");
    int OC = 256, IN = 256 * 9;
    size_t nw = (size_t)OC * IN;
    float *w = test_floats(nw), *dw_sn = test_floats(nw), *u0 = test_floats((size_t)OC);
    float *u[2], *v[2], *w_sn[2], *dw[2], sigma[2];
    test_fill(w, nw, 21, -0.02f, 0.02f);
    test_fill(dw_sn, nw, 22, -1, 1);
    test_fill(u0, (size_t)OC, 23, -1, 1);
    int saved = cdrl_threads();
    for (int t = 0; t < 2; t++) {
        u[t] = test_floats((size_t)OC), v[t] = test_floats((size_t)IN);
        w_sn[t] = test_floats(nw), dw[t] = test_floats(nw);
        memcpy(u[t], u0, (size_t)OC * sizeof(float));
        cdrl_set_threads(t + 1);
        cdrl_spectral_norm_forward(w_sn[t], &sigma[t], u[t], v[t], w, OC, IN, 1);
        cdrl_spectral_norm_backward(dw[t], dw_sn, w, u[t], v[t], sigma[t], OC, IN);
    }
    cdrl_set_threads(saved);
    CHECK(memcmp(u[0], u[1], (size_t)OC * sizeof(float)) == 0 &&
              memcmp(v[0], v[1], (size_t)IN * sizeof(float)) == 0 && sigma[0] == sigma[1],
          "power iteration differs between 1 and 2 threads");
    CHECK(memcmp(w_sn[0], w_sn[1], nw * sizeof(float)) == 0,
          "w_sn differs between 1 and 2 threads");
    CHECK(memcmp(dw[0], dw[1], nw * sizeof(float)) == 0, "SN dw differs between 1 and 2 threads");
    for (int t = 0; t < 2; t++)
        cdrl_free(u[t]), cdrl_free(v[t]), cdrl_free(w_sn[t]), cdrl_free(dw[t]);
    cdrl_free(w), cdrl_free(dw_sn), cdrl_free(u0);
}

// ---------------------------------------------------------------------------------------
// Attention kernel

typedef struct attn_loss_ctx {
    int B, C, N;
    float *qkv; // (B, 3C, N)
    const float *r;
    float *out, *probs;
} attn_loss_ctx;

static double attn_loss(void *p) {
    attn_loss_ctx *c = p;
    cdrl_attention_forward(c->out, c->probs, c->qkv, c->B, c->C, c->N, NULL);
    return test_dot(c->out, c->r, (size_t)c->B * c->C * c->N);
}

static void test_attention_op(const cdrl_st_file *f) {
    printf("attention kernel\n");
    int B = fixture_int(f, "op_B"), C = fixture_int(f, "op_C"), N = fixture_int(f, "op_N");
    size_t nqkv = (size_t)B * 3 * C * N, nout = (size_t)B * C * N, np = (size_t)B * N * N;
    float *qkv = test_floats(nqkv), *out = test_floats(nout), *probs = test_floats(np);
    float *dqkv = test_floats(nqkv);
    memcpy(qkv, fixture_f32(f, "op.in.qkv", nqkv), nqkv * sizeof(float));
    const float *r = fixture_f32(f, "op.in.r", nout);
    cdrl_arena arena;
    CDRL_ASSERT(cdrl_arena_init(&arena, cdrl_attention_scratch_size(B, C, N)) == CDRL_OK);

    // Scores are sums of C = 8 products of O(1) values, softmax and the output O(1): float
    // rounding in a different order than PyTorch's gives ~1e-7, so op tolerance 1e-5 / 1e-4.
    cdrl_attention_forward(out, probs, qkv, B, C, N, &arena);
    check_close("attention out", out, fixture_f32(f, "op.out.y", nout), nout, 1e-5, 1e-4);
    check_close("attention probs", probs, fixture_f32(f, "op.out.probs", np), np, 1e-5, 1e-4);
    cdrl_attention_backward(dqkv, r, probs, qkv, B, C, N, &arena);
    check_close("attention dqkv", dqkv, fixture_f32(f, "op.grad.qkv", nqkv), nqkv, 1e-5, 1e-4);
    CHECK(arena.used == 0, "attention backward did not release its scratch");

    // Finite differences: the loss is O(10) from float32 values, eps 1e-2 keeps the rounding
    // noise near 1e-4 and the softmax is smooth at this scale.
    attn_loss_ctx c = {B, C, N, qkv, r, out, probs};
    gradcheck("fd attention: dqkv", attn_loss, &c, qkv, dqkv, nqkv, 200, 1e-2f, 5e-4, 5e-3);
    cdrl_free(qkv), cdrl_free(out), cdrl_free(probs), cdrl_free(dqkv);
    cdrl_arena_deinit(&arena);
}

// Forward and backward at 1, 2 and 3 threads must give the same bytes.
static void test_attention_threads(void) {
    printf("attention kernel, thread counts\n");
    int B = 7, C = 16, N = 64;
    size_t nqkv = (size_t)B * 3 * C * N, nout = (size_t)B * C * N, np = (size_t)B * N * N;
    float *qkv = test_floats(nqkv), *dout = test_floats(nout);
    float *out[3], *probs[3], *dqkv[3];
    test_fill(qkv, nqkv, 5, -2, 2);
    test_fill(dout, nout, 6, -1, 1);
    cdrl_arena arena;
    CDRL_ASSERT(cdrl_arena_init(&arena, cdrl_attention_scratch_size(B, C, N)) == CDRL_OK);
    int saved = cdrl_threads();
    for (int t = 0; t < 3; t++) {
        out[t] = test_floats(nout), probs[t] = test_floats(np), dqkv[t] = test_floats(nqkv);
        cdrl_set_threads(t + 1);
        cdrl_attention_forward(out[t], probs[t], qkv, B, C, N, &arena);
        cdrl_attention_backward(dqkv[t], dout, probs[t], qkv, B, C, N, &arena);
    }
    cdrl_set_threads(saved);
    for (int t = 1; t < 3; t++) {
        CHECK(memcmp(out[0], out[t], nout * sizeof(float)) == 0, "out differs at %d threads",
              t + 1);
        CHECK(memcmp(probs[0], probs[t], np * sizeof(float)) == 0, "probs differ at %d threads",
              t + 1);
        CHECK(memcmp(dqkv[0], dqkv[t], nqkv * sizeof(float)) == 0, "dqkv differs at %d threads",
              t + 1);
    }
    for (int t = 0; t < 3; t++)
        cdrl_free(out[t]), cdrl_free(probs[t]), cdrl_free(dqkv[t]);
    cdrl_free(qkv), cdrl_free(dout);
    cdrl_arena_deinit(&arena);
}

// ---------------------------------------------------------------------------------------
// Attention block

// The block's parameters in one mutable buffer (so gradcheck can perturb them), with the
// fixture's names.
enum { P_NORM_W, P_NORM_B, P_QKV_W, P_QKV_B, P_OUT_W, P_OUT_B, P_COUNT };
static const char *const param_names[P_COUNT] = {"norm.weight", "norm.bias",     "to_qkv.weight",
                                                 "to_qkv.bias", "to_out.weight", "to_out.bias"};

typedef struct block_ctx {
    cdrl_attn_block p;
    int B, H, W;
    float *x; // (B, C, H, W)
    const float *r;
    float *y;
    cdrl_arena *arena; // acts then scratch
} block_ctx;

static void block_forward(block_ctx *c, cdrl_attn_block_acts *acts) {
    cdrl_attn_block_acts_alloc(acts, c->arena, &c->p, c->B, c->H * c->W);
    cdrl_attn_block_forward(c->y, acts, c->x, &c->p, c->B, c->H, c->W, c->arena);
}

static double block_loss(void *p) {
    block_ctx *c = p;
    cdrl_attn_block_acts acts;
    size_t mark = cdrl_arena_mark(c->arena);
    block_forward(c, &acts);
    cdrl_arena_release(c->arena, mark);
    return test_dot(c->y, c->r, (size_t)c->B * c->p.C * c->H * c->W);
}

static void test_attn_block(const cdrl_st_file *f) {
    printf("attention block\n");
    int B = fixture_int(f, "block_B"), C = fixture_int(f, "block_C");
    int H = fixture_int(f, "block_H"), W = fixture_int(f, "block_W");
    int G = fixture_int(f, "block_G");
    size_t n = (size_t)B * C * H * W;
    size_t sizes[P_COUNT] = {(size_t)C,     (size_t)C,     (size_t)3 * C * C,
                             (size_t)3 * C, (size_t)C * C, (size_t)C};
    float *param[P_COUNT], *grad[P_COUNT];
    char key[96];
    for (int i = 0; i < P_COUNT; i++) {
        param[i] = test_floats(sizes[i]);
        grad[i] = test_floats(sizes[i]);
        snprintf(key, sizeof key, "block.param.%s", param_names[i]);
        memcpy(param[i], fixture_f32(f, key, sizes[i]), sizes[i] * sizeof(float));
    }
    block_ctx c = {{C, G, 1e-6f, param[P_NORM_W], param[P_NORM_B], param[P_QKV_W], param[P_QKV_B],
                    param[P_OUT_W], param[P_OUT_B]},
                   B,
                   H,
                   W,
                   test_floats(n),
                   fixture_f32(f, "block.in.r", n),
                   test_floats(n),
                   NULL};
    memcpy(c.x, fixture_f32(f, "block.in.x", n), n * sizeof(float));
    cdrl_arena arena;
    size_t acts_size = cdrl_attn_block_acts_size(&c.p, B, H * W);
    CDRL_ASSERT(cdrl_arena_init(&arena, acts_size + cdrl_attn_block_scratch_size(&c.p, B, H, W)) ==
                CDRL_OK);
    c.arena = &arena;

    // The block chains GroupNorm, two matmuls over C = 64 and a softmax: each stage adds a few
    // ulp, so the network-level tolerance 1e-4 abs / 1e-3 rel applies (outputs are O(1-10)).
    cdrl_attn_block_acts acts;
    block_forward(&c, &acts);
    CHECK(arena.used == acts_size, "forward left scratch taken: %zu of %zu", arena.used, acts_size);
    check_close("block out", c.y, fixture_f32(f, "block.out.y", n), n, 1e-4, 1e-3);
    float *dx = test_floats(n), *dx_only = test_floats(n);
    cdrl_attn_block_grads g = {grad[P_NORM_W], grad[P_NORM_B], grad[P_QKV_W],
                               grad[P_QKV_B],  grad[P_OUT_W],  grad[P_OUT_B]};
    cdrl_attn_block_backward(dx, &g, c.r, &acts, c.x, &c.p, B, H, W, &arena);
    CHECK(arena.used == acts_size, "backward left scratch taken");
    check_close("block dx", dx, fixture_f32(f, "block.grad.x", n), n, 1e-4, 1e-3);
    for (int i = 0; i < P_COUNT; i++) {
        snprintf(key, sizeof key, "block.grad.%s", param_names[i]);
        check_close(key, grad[i], fixture_f32(f, key, sizes[i]), sizes[i], 1e-4, 1e-3);
    }
    // Without parameter gradients (Langevin's case) dx is the same.
    cdrl_attn_block_backward(dx_only, NULL, c.r, &acts, c.x, &c.p, B, H, W, &arena);
    check_close("block dx, no param grads", dx_only, dx, n, 1e-7, 0);

    // Without dx (a block whose input is constant), the parameter gradients are the same.
    float *grad2[P_COUNT];
    for (int i = 0; i < P_COUNT; i++)
        grad2[i] = test_floats(sizes[i]);
    cdrl_attn_block_grads g2 = {grad2[P_NORM_W], grad2[P_NORM_B], grad2[P_QKV_W],
                                grad2[P_QKV_B],  grad2[P_OUT_W],  grad2[P_OUT_B]};
    cdrl_attn_block_backward(NULL, &g2, c.r, &acts, c.x, &c.p, B, H, W, &arena);
    for (int i = 0; i < P_COUNT; i++) {
        snprintf(key, sizeof key, "%s, no dx", param_names[i]);
        check_close(key, grad2[i], grad[i], sizes[i], 0, 0);
        cdrl_free(grad2[i]);
    }
    // Finite differences: the loss sums 2048 float32 outputs of O(1-10), so its rounding
    // noise is ~1.5e-5 and the difference quotient's ~1e-3 at eps 1e-2 (measured max 3e-3;
    // it grows 3x at eps 3e-3, so noise, not truncation, dominates). Hence atol 5e-3 and
    // rtol 1e-2, on gradients of order 1-40. (The k bias gradient is exactly 0: a constant
    // added to every key shifts each softmax row by a constant.)
    cdrl_arena_release(&arena, 0);
    gradcheck("fd block: dx", block_loss, &c, c.x, dx, n, 40, 1e-2f, 5e-3, 1e-2);
    for (int i = 0; i < P_COUNT; i++) {
        snprintf(key, sizeof key, "fd block: d%s", param_names[i]);
        gradcheck(key, block_loss, &c, param[i], grad[i], sizes[i], 24, 1e-2f, 5e-3, 1e-2);
    }

    // Thread counts: 1 and 2 threads give the same bytes for out, dx and a parameter grad.
    int saved = cdrl_threads();
    float *y1 = test_floats(n), *dx1 = test_floats(n), *dw1 = test_floats(sizes[P_QKV_W]);
    float *dx2 = test_floats(n), *dw2 = test_floats(sizes[P_QKV_W]);
    cdrl_attn_block_grads t1 = {0}, t2 = {0};
    t1.qkv_w = dw1, t2.qkv_w = dw2;
    cdrl_set_threads(1);
    block_forward(&c, &acts);
    memcpy(y1, c.y, n * sizeof(float));
    cdrl_attn_block_backward(dx1, &t1, c.r, &acts, c.x, &c.p, B, H, W, &arena);
    cdrl_arena_release(&arena, 0);
    cdrl_set_threads(2);
    block_forward(&c, &acts);
    cdrl_attn_block_backward(dx2, &t2, c.r, &acts, c.x, &c.p, B, H, W, &arena);
    cdrl_arena_release(&arena, 0);
    cdrl_set_threads(saved);
    CHECK(memcmp(y1, c.y, n * sizeof(float)) == 0, "block out differs between 1 and 2 threads");
    CHECK(memcmp(dx1, dx2, n * sizeof(float)) == 0, "block dx differs between 1 and 2 threads");
    CHECK(memcmp(dw1, dw2, sizes[P_QKV_W] * sizeof(float)) == 0,
          "block d to_qkv.weight differs between 1 and 2 threads");

    for (int i = 0; i < P_COUNT; i++)
        cdrl_free(param[i]), cdrl_free(grad[i]);
    cdrl_free(c.x), cdrl_free(c.y), cdrl_free(dx), cdrl_free(dx_only);
    cdrl_free(y1), cdrl_free(dx1), cdrl_free(dw1), cdrl_free(dx2), cdrl_free(dw2);
    cdrl_arena_deinit(&arena);
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    cdrl_st_file *f = fixture_load("spectral_norm");
    test_sn_layer(f, "lin", 0);
    test_sn_layer(f, "conv", 1);
    cdrl_st_free(f);
    test_sn_threads();
    f = fixture_load("attention");
    test_attention_op(f);
    test_attention_threads();
    test_attn_block(f);
    cdrl_st_free(f);
    return test_report("test_sn_attn");
}
