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
    int n_out;
} ctx;

// sum r * out, with the network prepared in eval mode (u, v fixed, as the analytic gradient
// assumes).
static double loss(void *p) {
    ctx *c = p;
    c->net.prepare(c->net.impl, c->tau, L, 0);
    c->net.forward(c->net.impl, c->out, c->x, c->level, NULL, B);
    return test_dot(c->out, c->r, (size_t)B * (size_t)c->n_out);
}

static void check_net(const char *name, cdrl_net net, int n_out, int has_dx, float eps) {
    float x[B * 2], out[B * 2], r[B * 2], dx[B * 2] = {0}, tau[L];
    int level[B] = {0, 3, 6, 1, 3, 5};
    test_fill(x, B * 2, 11, -3.0f, 3.0f);
    test_fill(r, B * 2, 12, -1.0f, 1.0f);
    for (int l = 0; l < L; l++)
        tau[l] = 4.7f + 158.0f * (float)l;
    ctx c = {net, x, out, r, tau, level, n_out};
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
    check_net("ebm", en, 1, 1, 1e-3f);

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
    check_net("init", in, 2, 0, 1e-2f);

    cdrl_toy_init_free(init0);
    cdrl_toy_init_free(init);
    cdrl_toy_ebm_free(ebm);
    return test_report("test_toy_nets");
}
