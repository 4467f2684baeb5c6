// The toy networks (energy MLP with spectral norm, initializer MLP with GroupNorm) against
// central finite differences: input gradients and every parameter tensor of both networks,
// through the per-level embedding path and the spectral-norm map back to weight_orig. The
// comparison with PyTorch's modules is the parity test (test_toy_parity.c).
#include "core/rng.h"
#include "models/toy_ebm.h"
#include "models/toy_init.h"
#include "test_util.h"

#define B 6
#define L 7

typedef struct {
    cdrl_net net;
    float *x;   // (B, 2)
    float *out; // (B) or (B, 2)
    const float *r;
    const float *tau;
    const int *level;
    const int *label; // (B, A) or NULL
    int n_out;
} ctx;

// sum r * out, with the network prepared in eval mode (u, v fixed, as the analytic gradient
// assumes).
static double loss(void *p) {
    ctx *c = p;
    c->net.prepare(c->net.impl, c->tau, L, 0);
    c->net.forward(c->net.impl, c->out, c->x, c->level, c->label, B);
    return test_dot(c->out, c->r, (size_t)B * (size_t)c->n_out);
}

static void check_net(const char *name, cdrl_net net, const int *labels, int n_out, int has_dx,
                      float eps) {
    float x[B * 2], out[B * 2], r[B * 2], dx[B * 2] = {0}, tau[L];
    int level[B] = {0, 3, 6, 1, 3, 5};
    test_fill(x, B * 2, 11, -3.0f, 3.0f);
    test_fill(r, B * 2, 12, -1.0f, 1.0f);
    for (int l = 0; l < L; l++)
        tau[l] = 4.7f + 158.0f * (float)l;
    ctx c = {net, x, out, r, tau, level, labels, n_out};
    net.zero_grad(net.impl);
    (void)loss(&c);
    net.backward(net.impl, has_dx ? dx : NULL, r, 1);
    net.finish_grads(net.impl);
    char label[128];
    // float32 forward: the central difference carries ~1e-7 |loss| / eps of rounding (< 1e-4
    // here); 2e-3 abs + 2e-2 rel covers it while any wrong term (an O(1) relative error) fails.
    // The EBM uses eps 1e-3: a bias moves every row, and a larger step crosses LeakyReLU kinks.
    if (has_dx) {
        snprintf(label, sizeof label, "%s dx", name);
        gradcheck(label, loss, &c, x, dx, B * 2, B * 2, eps, 2e-3, 2e-2);
    }
    for (int i = 0; i < net.params->count; i++) {
        const cdrl_param *p = &net.params->items[i];
        snprintf(label, sizeof label, "%s %s", name, p->name);
        gradcheck(label, loss, &c, net.p_own + p->offset, net.grad + p->offset, p->numel, 12, eps,
                  2e-3, 2e-2);
    }
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    cdrl_rng rng;
    cdrl_rng_init(&rng, 3, 0);
    cdrl_toy_ebm_config ec;
    cdrl_toy_ebm_config_default(&ec);
    ec.ch = 8;
    ec.temb_dim = 6;
    cdrl_toy_ebm *ebm = cdrl_toy_ebm_create(&ec, B, L, &rng);
    // Settle u, v by power iterations (training mode) as training does before any eval-mode
    // use: random u, v can make sigma = u'Wv tiny and the normalised weights huge.
    float tau0[L];
    for (int l = 0; l < L; l++)
        tau0[l] = 4.7f + 158.0f * (float)l;
    for (int i = 0; i < 30; i++)
        cdrl_toy_ebm_prepare(ebm, tau0, L, 1);
    // Non-trivial gains and final weights so that every path carries gradient.
    cdrl_net en = cdrl_toy_ebm_net(ebm);
    // 3 SN linears before the blocks, 4 blocks of 3 SN linears and a gain, one shortcut, the head.
    CHECK(en.params->count == 3 * 2 + 4 * 7 + 2 + 1 && en.buffers->count == 2 * (3 + 4 * 3 + 1),
          "EBM tensor count %d, buffers %d", en.params->count, en.buffers->count);
    check_net("ebm", en, NULL, 1, 1, 1e-3f);

    // Conditional on two attributes of 3 and 2 classes (labels 0..K, 0 null): every row of
    // (level, label combination) gets its own embedding, y_map's gradient included.
    const int labels[B * 2] = {1, 2, 0, 1, 3, 0, 2, 1, 0, 0, 3, 2};
    cdrl_toy_ebm_config cc = ec;
    cc.n_attrs = 2, cc.attr_classes[0] = 3, cc.attr_classes[1] = 2;
    cdrl_rng_init(&rng, 3, 0);
    cdrl_toy_ebm *cebm = cdrl_toy_ebm_create(&cc, B, L, &rng);
    for (int i = 0; i < 30; i++)
        cdrl_toy_ebm_prepare(cebm, tau0, L, 1);
    cdrl_net cn = cdrl_toy_ebm_net(cebm);
    CHECK(cn.params->count == en.params->count + 2, "conditional EBM: y_map weight and bias more");
    // eps 3e-4: each label combination is its own embedding row, so a step moves more distinct
    // pre-activations, and at 1e-3 one of them now and then crosses a LeakyReLU kink unseen
    check_net("ebm | labels", cn, labels, 1, 1, 3e-4f);
    {
        // y_map = 0: the labels change nothing, and the network is the unconditional one with the
        // same other weights; y_map != 0: they do.
        float x[B * 2], f0[B], f1[B], f2[B];
        int level[B] = {0, 3, 6, 1, 3, 5};
        test_fill(x, B * 2, 7, -3.0f, 3.0f);
        memcpy(cn.p_own, en.p_own, sizeof(float) * en.params->total);
        memcpy(cn.buf, en.buf, sizeof(float) * en.buffers->total);
        const size_t ny = cn.params->total - en.params->total;
        float *keep = test_floats(ny);
        memcpy(keep, cn.p_own + en.params->total, sizeof(float) * ny);
        memset(cn.p_own + en.params->total, 0, sizeof(float) * ny);
        cdrl_toy_ebm_prepare(ebm, tau0, L, 0);
        cdrl_toy_ebm_prepare(cebm, tau0, L, 0);
        cdrl_toy_ebm_forward(ebm, f0, x, level, NULL, B);
        cdrl_toy_ebm_forward(cebm, f1, x, level, labels, B);
        // (the per-row products run over more rows, so a GEMM may sum in another order)
        double worst = 0;
        for (int n = 0; n < B; n++)
            worst = fmax(worst, fabs((double)f0[n] - (double)f1[n]) / (1.0 + fabs((double)f0[n])));
        CHECK(worst < 1e-5, "y_map = 0: f with labels == unconditional f (rel err %.3g)", worst);
        memcpy(cn.p_own + en.params->total, keep, sizeof(float) * ny);
        cdrl_toy_ebm_prepare(cebm, tau0, L, 0);
        cdrl_toy_ebm_forward(cebm, f1, x, level, labels, B);
        cdrl_toy_ebm_forward(cebm, f2, x, level, NULL, B);
        CHECK(memcmp(f1, f2, sizeof f1) != 0, "y_map != 0: labels change f");
        cdrl_free(keep);
    }

    // 8 groups of 8: with the official 2 features per group, GroupNorm maps each pair to about
    // +-1 whatever its inputs, so everything before it has a near-zero gradient that finite
    // differences cannot resolve. The arithmetic is the same for any group count.
    cdrl_toy_init_config ic = {.in_dim = 2, .t_dim = 8, .h_dim = 64, .n_blocks = 1, .groups = 8};
    cdrl_toy_init *init = cdrl_toy_init_create(&ic, B, L, &rng);
    cdrl_net in = cdrl_toy_init_net(init);
    // Zero-initialised layers would hide the gradient of everything behind them.
    cdrl_rng_normal(&rng, in.p_own, in.params->total);
    for (size_t k = 0; k < in.params->total; k++)
        in.p_own[k] *= 0.3f;
    float x[B * 2], mu[B * 2], tau[L];
    int level[B] = {1, 2, 3, 4, 5, 6};
    for (int l = 0; l < L; l++)
        tau[l] = 100.0f * (float)l;
    test_fill(x, B * 2, 5, -1.0f, 1.0f);
    cdrl_toy_init *init0 = cdrl_toy_init_create(&ic, B, L, &rng);
    cdrl_toy_init_prepare(init0, tau, L);
    cdrl_toy_init_forward(init0, mu, x, level, NULL, B);
    CHECK(memcmp(mu, x, sizeof mu) == 0,
          "a fresh initializer returns its input exactly (zero output layer)");
    check_net("init", in, NULL, 2, 0, 1e-2f);
    cdrl_toy_init_config icc = ic;
    icc.n_attrs = 2, icc.attr_classes[0] = 3, icc.attr_classes[1] = 2;
    cdrl_toy_init *cinit = cdrl_toy_init_create(&icc, B, L, &rng);
    cdrl_net cin = cdrl_toy_init_net(cinit);
    cdrl_rng_normal(&rng, cin.p_own, cin.params->total);
    for (size_t k = 0; k < cin.params->total; k++)
        cin.p_own[k] *= 0.3f;
    check_net("init | labels", cin, labels, 2, 0, 1e-2f);
    cdrl_toy_init_free(cinit);
    cdrl_toy_ebm_free(cebm);

    cdrl_toy_init_free(init0);
    cdrl_toy_init_free(init);
    cdrl_toy_ebm_free(ebm);
    return test_report("test_toy_nets");
}
