// The image energy network (src/models/img_ebm.c) against its PyTorch twin (ref/img_twin.py,
// itself checked equal to the official models/ebm.py and ebm_cond.py): one train-mode forward
// (one SN power iteration) of a conditional and an unconditional network, f, df/dy and every
// parameter gradient; then central finite differences on tiny networks (eval-mode SN), the
// null label, the cdrl_net view with its label setter, thread-count independence and the
// official parameter counts. Fixture: `make fixtures` (ref/fixtures_img_ebm.py).
#include "models/img_ebm.h"
#include "sampler/langevin.h"
#include "test_util.h"

static cdrl_st_file *fx;

static const char *meta(const char *key) {
    const char *s = cdrl_st_meta(fx, key);
    if (!s) {
        printf("fixture: metadata '%s' missing\n", key);
        exit(1);
    }
    return s;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
    return m;
}

// Twin comparison. floor.<name> is max |float32 - float64| of the twin for that tensor: the
// rounding noise of one float32 evaluation. The C network sums in other orders (oneDNN GEMM
// tiles, double accumulators), so it sits about one floor away from the twin's float32; the
// limit is 8 floors plus 1e-6 of the tensor's largest value (for tensors whose floor happens to
// be tiny), while a wrong term, index or scale would be off by far more than that.
static double worst_ratio;
static void check_vs_twin(const char *cs, const char *key, const float *got, size_t n) {
    char name[256], fname[256];
    snprintf(name, sizeof name, "%s.%s", cs, key);
    snprintf(fname, sizeof fname, "%s.floor.%s", cs, key);
    const float *want = fixture_f32(fx, name, n);
    double fl = (double)fixture_f32(fx, fname, 1)[0];
    double lim = 8.0 * fl + 1e-6 * max_abs(want, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > worst || d != d) worst = d;
    }
    if (worst / lim > worst_ratio) worst_ratio = worst / lim;
    check_close(name, got, want, n, lim, 0);
}

static void parse_mult(const char *s, cdrl_img_ebm_config *c) {
    c->n_mult = 0;
    for (const char *q = s; *q && c->n_mult < 8; q = strchr(q, ',') ? strchr(q, ',') + 1 : "")
        c->ch_mult[c->n_mult++] = atoi(q);
}

static int count_prefix(const char *prefix) {
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < cdrl_st_count(fx); i++)
        if (strncmp(cdrl_st_at(fx, i)->name, prefix, len) == 0) n++;
    return n;
}

// ---------------------------------------------------------------------------------------
// One fixture case: load, one train-mode prepare, forward and backward, compare.
static void twin_case(const char *cs) {
    char key[256];
#define META_INT(k) (snprintf(key, sizeof key, "%s." k, cs), atoi(meta(key)))
    cdrl_img_ebm_config cfg;
    cdrl_img_ebm_config_default(&cfg);
    cfg.in_ch = META_INT("in_ch");
    cfg.res = META_INT("res");
    cfg.ch = META_INT("ch");
    cfg.temb_dim = META_INT("temb_dim");
    cfg.n_blocks = META_INT("n_blocks");
    cfg.n_classes = META_INT("n_classes");
    const int B = META_INT("B"), L = META_INT("L");
    snprintf(key, sizeof key, "%s.ch_mult", cs);
    parse_mult(meta(key), &cfg);
#undef META_INT
    printf("%s: %dx%dx%d, ch %d, temb %d, %d levels x %d blocks, %d classes, B %d\n", cs, cfg.in_ch,
           cfg.res, cfg.res, cfg.ch, cfg.temb_dim, cfg.n_mult, cfg.n_blocks, cfg.n_classes, B);
    cdrl_rng rng;
    cdrl_rng_init(&rng, 1, 0);
    cdrl_img_ebm *m = cdrl_img_ebm_create(&cfg, B, L, &rng);
    CHECK(m != NULL, "create %s", cs);
    if (!m) return;

    // Every fixture tensor loads by its official name, and there are no others.
    snprintf(key, sizeof key, "%s.param.", cs);
    CHECK(count_prefix(key) == m->base.params.count, "%s: %d fixture parameters, the table has %d",
          cs, count_prefix(key), m->base.params.count);
    snprintf(key, sizeof key, "%s.buf.", cs);
    CHECK(count_prefix(key) == m->base.buffers.count, "%s: %d fixture buffers, the table has %d",
          cs, count_prefix(key), m->base.buffers.count);
    for (int i = 0; i < m->base.params.count; i++) {
        const cdrl_param *p = &m->base.params.items[i];
        snprintf(key, sizeof key, "%s.param.%s", cs, p->name);
        memcpy(m->base.p_own + p->offset, fixture_f32(fx, key, p->numel), sizeof(float) * p->numel);
    }
    for (int i = 0; i < m->base.buffers.count; i++) {
        const cdrl_param *p = &m->base.buffers.items[i];
        snprintf(key, sizeof key, "%s.buf.%s", cs, p->name);
        memcpy(m->base.buf + p->offset, fixture_f32(fx, key, p->numel), sizeof(float) * p->numel);
    }
    const size_t D = (size_t)cfg.in_ch * (size_t)cfg.res * (size_t)cfg.res;
    snprintf(key, sizeof key, "%s.in.x", cs);
    const float *x = fixture_f32(fx, key, (size_t)B * D);
    snprintf(key, sizeof key, "%s.in.r", cs);
    const float *r = fixture_f32(fx, key, (size_t)B);
    snprintf(key, sizeof key, "%s.in.tau", cs);
    const float *tau = fixture_f32(fx, key, (size_t)L);
    snprintf(key, sizeof key, "%s.in.level", cs);
    const int *level = fixture_i32(fx, key, (size_t)B);
    const int *label = NULL;
    if (cfg.n_classes > 0) {
        snprintf(key, sizeof key, "%s.in.label", cs);
        label = fixture_i32(fx, key, (size_t)B);
    }

    // The positive pass of training: one power iteration, then forward and backward.
    cdrl_img_ebm_prepare(m, tau, L, 1);
    // u, v: unit vectors from one normalised mat-vec each, summed in double here and in
    // float32 by torch: 1e-6 is ~20 float32 ulps of a unit vector's entries.
    double uv_worst = 0;
    for (int i = 0; i < m->base.buffers.count; i++) {
        const cdrl_param *p = &m->base.buffers.items[i];
        snprintf(key, sizeof key, "%s.out.%s", cs, p->name);
        const float *want = fixture_f32(fx, key, p->numel);
        for (size_t k = 0; k < p->numel; k++) {
            double d = fabs((double)m->base.buf[p->offset + k] - (double)want[k]);
            if (d > uv_worst) uv_worst = d;
        }
    }
    CHECK(uv_worst <= 1e-6, "%s: u, v after one power iteration off by %.3g", cs, uv_worst);
    printf("  ok   %s u, v after one power iteration: max abs %.3g\n", cs, uv_worst);

    float *f = test_floats((size_t)B), *dx = test_floats((size_t)B * D);
    cdrl_img_ebm_zero_grad(m);
    cdrl_img_ebm_forward(m, f, x, level, label, B);
    cdrl_img_ebm_backward(m, dx, r, 1);
    cdrl_img_ebm_finish_grads(m);
    worst_ratio = 0;
    check_vs_twin(cs, "out.f", f, (size_t)B);
    check_vs_twin(cs, "grad.x", dx, (size_t)B * D);
    for (int i = 0; i < m->base.params.count; i++) {
        const cdrl_param *p = &m->base.params.items[i];
        snprintf(key, sizeof key, "grad.%s", p->name);
        check_vs_twin(cs, key, m->base.grad + p->offset, p->numel);
    }
    printf("  %s: worst error %.2f of its limit\n", cs, worst_ratio);

    // Backward without parameter gradients leaves them alone and gives the same dx.
    float *dx2 = test_floats((size_t)B * D);
    cdrl_img_ebm_zero_grad(m);
    cdrl_img_ebm_forward(m, f, x, level, label, B);
    cdrl_img_ebm_backward(m, dx2, r, 0);
    CHECK(memcmp(dx, dx2, sizeof(float) * (size_t)B * D) == 0,
          "%s: dx without parameter gradients differs", cs);
    int clean = 1;
    for (size_t k = 0; k < m->base.params.total; k++)
        clean &= m->base.grad[k] == 0.0f;
    CHECK(clean, "%s: backward without parameter gradients touched them", cs);

    cdrl_free(dx2);
    cdrl_free(dx);
    cdrl_free(f);
    cdrl_img_ebm_free(m);
}

// ---------------------------------------------------------------------------------------
// Finite differences on tiny networks.

typedef struct {
    cdrl_img_ebm *m;
    float *x, *f;
    const float *r, *tau;
    const int *level, *label;
    int B, L;
} ctx;

// sum r * f with SN in eval mode (u, v fixed, as the analytic gradient assumes).
static double loss(void *p) {
    ctx *c = p;
    cdrl_img_ebm_prepare(c->m, c->tau, c->L, 0);
    cdrl_img_ebm_forward(c->m, c->f, c->x, c->level, c->label, c->B);
    return test_dot(c->f, c->r, (size_t)c->B);
}

// The levels (SMALL_L taus) and weights (seed 7) of the small finite-difference networks.
#define SMALL_L 7
static cdrl_img_ebm *small_net(const cdrl_img_ebm_config *cfg, int B, float tau[SMALL_L]) {
    for (int l = 0; l < SMALL_L; l++)
        tau[l] = 4.7f + 158.0f * (float)l;
    cdrl_rng rng;
    cdrl_rng_init(&rng, 7, 0);
    return cdrl_img_ebm_create(cfg, B, SMALL_L, &rng);
}

static void fd_case(const char *name, const cdrl_img_ebm_config *cfg, const int *level,
                    const int *label, int B) {
    enum { L = SMALL_L };
    float tau[L];
    // Under the ref backend, whose sums run in double: the float32 loss of the cpu kernels
    // carries rounding that changes with their summation order, up to 4.7e-3 of a central
    // difference here (measured when the first convolutions moved to direct loops), near the
    // bound below. The cpu backend's gradients are checked against the twin above and layer by
    // layer against ref (test_backends).
    const char *was = cdrl_backend_name();
    CHECK(cdrl_set_backend("ref") == CDRL_OK, "select the ref backend");
    cdrl_img_ebm *m = small_net(cfg, B, tau);
    // Settle u, v (training does the same before any eval-mode use); gains away from 1.
    for (int i = 0; i < 30; i++)
        cdrl_img_ebm_prepare(m, tau, L, 1);
    for (int i = 0; i < m->n_blk; i++)
        test_fill(m->base.p_own + m->blk[i].g, (size_t)m->blk[i].out, 40u + (unsigned)i, 0.5f,
                  1.5f);
    const size_t D = (size_t)cfg->in_ch * (size_t)cfg->res * (size_t)cfg->res;
    float *x = test_floats((size_t)B * D), *f = test_floats((size_t)B),
          *dx = test_floats((size_t)B * D);
    float r[16];
    test_fill(x, (size_t)B * D, 11, -1.5f, 1.5f);
    test_fill(r, (size_t)B, 12, -1.0f, 1.0f);
    ctx c = {m, x, f, r, tau, level, label, B, L};
    cdrl_img_ebm_zero_grad(m);
    (void)loss(&c);
    cdrl_img_ebm_backward(m, dx, r, 1);
    cdrl_img_ebm_finish_grads(m);
    char lab[160];
    // eps 1e-4: a bias moves every pixel of a channel, and at eps 1e-3 a few of the tiny
    // network's pre-activations lie within the step of a LeakyReLU/ReLU kink, which bends the
    // central difference by 5-10 % while the one-sided slopes still look alike (measured; the
    // twin comparison above is the exact check). The float32 loss (|loss| ~ 1) then carries
    // ~2e-7 / eps = 2e-3 of rounding: 3e-3 abs + 3e-2 rel covers it, and a wrong term (an O(1)
    // relative error) fails. Clear kinks are skipped by gradcheck.
    const float eps = 1e-4f;
    snprintf(lab, sizeof lab, "%s dy", name);
    gradcheck(lab, loss, &c, x, dx, (size_t)B * D, 24, eps, 3e-3, 3e-2);
    for (int i = 0; i < m->base.params.count; i++) {
        const cdrl_param *p = &m->base.params.items[i];
        snprintf(lab, sizeof lab, "%s %s", name, p->name);
        gradcheck(lab, loss, &c, m->base.p_own + p->offset, m->base.grad + p->offset, p->numel, 5,
                  eps, 3e-3, 3e-2);
    }
    cdrl_free(dx);
    cdrl_free(f);
    cdrl_free(x);
    cdrl_img_ebm_free(m);
    CHECK(cdrl_set_backend(was) == CDRL_OK, "select the %s backend again", was);
}

// Three attributes (3, 2 and 4 classes), their one-hots concatenated in y_map's input. For one
// image with labels (l0, l1, l2), e = gain (W[:, l0] + W[:, 4 + l1] + W[:, 7 + l2]) + b, so
// the gradient of y_map's normalised weight is gain * (the bias's gradient) in exactly those
// three columns and zero elsewhere, and the null labels use columns 0, 4 and 7. (Finite
// differences of this tiny network sit at their noise floor; this is exact.)
static void attribute_columns(const cdrl_img_ebm_config *base) {
    cdrl_img_ebm_config c = *base;
    c.class_gain = 1.5f, c.n_more = 2, c.more_classes[0] = 2, c.more_classes[1] = 4;
    enum { L = SMALL_L };
    float tau[L];
    cdrl_img_ebm *m = small_net(&c, 1, tau);
    const int E = 4 * c.temb_dim, NC = 4 + 3 + 5, D = c.in_ch * c.res * c.res;
    CHECK(m->ymap.IN == NC && m->ymap.OC == E, "y_map takes %d columns (%d), out %d", NC,
          m->ymap.IN, m->ymap.OC);
    float *x = test_floats((size_t)D), *dx = test_floats((size_t)D), f, r = 1.0f;
    test_fill(x, (size_t)D, 3, -1.0f, 1.0f);
    const int level = 2;
    const int labels[2][3] = {{3, 1, 4}, {0, 0, 0}};
    for (int k = 0; k < 2; k++) {
        cdrl_img_ebm_prepare(m, tau, L, 0);
        cdrl_img_ebm_zero_grad(m);
        cdrl_img_ebm_forward(m, &f, x, &level, k ? NULL : labels[0], 1);
        cdrl_img_ebm_backward(m, dx, &r, 1);
        const float *dw = m->base.dder + m->ymap.w_sn, *db = m->base.grad + m->ymap_b;
        const int cols[3] = {labels[k][0], 4 + labels[k][1], 7 + labels[k][2]};
        double worst = 0, norm = 0;
        for (int e = 0; e < E; e++) {
            norm = fmax(norm, fabs((double)db[e]));
            for (int col = 0; col < NC; col++) {
                const int used = col == cols[0] || col == cols[1] || col == cols[2];
                const double want = used ? 1.5 * (double)db[e] : 0.0;
                worst = fmax(worst, fabs((double)dw[e * NC + col] - want));
            }
        }
        CHECK(norm > 0 && worst <= 1e-6 * norm,
              "%s: y_map's gradient in columns %d, %d, %d only (err %.3g of %.3g)",
              k ? "null labels" : "labels (3, 1, 4)", cols[0], cols[1], cols[2], worst, norm);
    }
    cdrl_free(x);
    cdrl_free(dx);
    cdrl_img_ebm_free(m);
}

// ---------------------------------------------------------------------------------------
// Labels, the cdrl_net view and thread-count independence on one small conditional network.
static void misc_checks(void) {
    enum { B = 8, L = 7 };
    cdrl_img_ebm_config cfg;
    cdrl_img_ebm_config_default(&cfg);
    cfg.res = 16;
    cfg.ch = cfg.temb_dim = 16;
    cfg.n_mult = 3;
    cfg.n_blocks = 2;
    cfg.n_classes = 5;
    float tau[L];
    for (int l = 0; l < L; l++)
        tau[l] = 900.0f - 140.0f * (float)l;
    cdrl_set_threads(2); // scratch sized for two conv workers
    cdrl_rng rng;
    cdrl_rng_init(&rng, 9, 0);
    cdrl_img_ebm *m = cdrl_img_ebm_create(&cfg, B, L, &rng);
    cdrl_img_ebm_prepare(m, tau, L, 1);
    const size_t D = 3 * 16 * 16;
    float *x = test_floats(B * D), *dx[2] = {test_floats(B * D), test_floats(B * D)};
    float *grad[2] = {test_floats(m->base.params.total), test_floats(m->base.params.total)};
    float f[2][B], r[B], fn[B], fz[B];
    int level[B] = {0, 1, 2, 3, 4, 5, 6, 3}, label[B] = {1, 2, 3, 4, 5, 0, 2, 1}, zeros[B] = {0};
    test_fill(x, B * D, 3, -1.0f, 1.0f);
    test_fill(r, B, 4, -1.0f, 1.0f);

    // Thread count: forward, dy and every parameter gradient byte for byte.
    for (int t = 0; t < 2; t++) {
        cdrl_set_threads(t + 1);
        cdrl_img_ebm_zero_grad(m);
        cdrl_img_ebm_forward(m, f[t], x, level, label, B);
        cdrl_img_ebm_backward(m, dx[t], r, 1);
        cdrl_img_ebm_finish_grads(m);
        memcpy(grad[t], m->base.grad, sizeof(float) * m->base.params.total);
    }
    CHECK(memcmp(f[0], f[1], sizeof f[0]) == 0, "f depends on the thread count");
    CHECK(memcmp(dx[0], dx[1], sizeof(float) * B * D) == 0, "dy depends on the thread count");
    CHECK(memcmp(grad[0], grad[1], sizeof(float) * m->base.params.total) == 0,
          "parameter gradients depend on the thread count");
    printf("  ok   1 and 2 threads: f, dy and %zu gradient values compared byte for byte\n",
           m->base.params.total);

    // Null label: NULL and all-zero labels are the same network; a real label changes f.
    cdrl_img_ebm_forward(m, fn, x, level, NULL, B);
    cdrl_img_ebm_forward(m, fz, x, level, zeros, B);
    CHECK(memcmp(fn, fz, sizeof fn) == 0, "NULL labels differ from label 0");
    CHECK(fn[0] != f[0][0], "label 1 gives the same f as the null label");

    // The cdrl_net view passes the labels on.
    cdrl_net net = cdrl_img_ebm_net(m);
    CHECK(net.dim == (int)D && net.params == &m->base.params && net.buffers == &m->base.buffers,
          "cdrl_net view fields");
    float fv[B];
    net.forward(net.impl, fv, x, level, label, B);
    CHECK(memcmp(fv, f[1], sizeof fv) == 0, "cdrl_net forward with labels");
    net.forward(net.impl, fv, x, level, NULL, B);
    CHECK(memcmp(fv, fn, sizeof fv) == 0, "cdrl_net forward with NULL labels");

    // Guidance (method.md §7): cdrl_guided_grad gives scale * ((1 + w) grad f(c) - w grad f(0)).
    // The weights enter at the top of the backward pass here and after it in the reference, so
    // every layer rounds differently: 1e-5 of the largest value covers that (measured 1.2e-6);
    // a wrong sign or weight is off by the size of the gradients.
    {
        const float w = 0.7f, scale = 0.5f;
        float *gg = test_floats(B * D), *gc = test_floats(B * D), *g0 = test_floats(B * D);
        float ft[B], dt[B], ones[B];
        for (int n = 0; n < B; n++)
            ones[n] = 1.0f;
        cdrl_img_ebm_prepare(m, tau, L, 0);
        const cdrl_cond guided = {.n = 1, .label = {label}, .w = {w}};
        cdrl_guided_grad(&net, gg, ft, dt, x, level, &guided, scale, B);
        net.forward(net.impl, fv, x, level, label, B);
        net.backward(net.impl, gc, ones, 0);
        net.forward(net.impl, fv, x, level, NULL, B);
        net.backward(net.impl, g0, ones, 0);
        double worst = 0, size = 0;
        for (size_t k = 0; k < B * D; k++) {
            const double want =
                (double)scale * ((1.0 + (double)w) * (double)gc[k] - (double)w * (double)g0[k]);
            worst = fmax(worst, fabs((double)gg[k] - want));
            size = fmax(size, fabs(want));
        }
        CHECK(worst <= 1e-5 * size && size > 0, "guided gradient: max err %.3g of max %.3g", worst,
              size);
        const cdrl_cond plain = cdrl_cond_labels(label);
        cdrl_guided_grad(&net, gg, ft, dt, x, level, &plain, 1.0f, B);
        CHECK(memcmp(gg, gc, sizeof(float) * B * D) == 0, "w = 0: the plain gradient of f(c)");

        // Composition (method.md §8): two terms c1 = label, c2 = other labels, weights w1, w2:
        // grad = scale ((1 + w1) g(c1) + (1 + w2) g(c2) + (1 - (1 + w1) - (1 + w2)) g(0)).
        int other[B];
        for (int n = 0; n < B; n++)
            other[n] = 1 + (label[n] % 3);
        float *g2 = test_floats(B * D);
        net.forward(net.impl, fv, x, level, other, B);
        net.backward(net.impl, g2, ones, 0);
        const float w2 = 1.5f;
        const cdrl_cond composed = {.n = 2, .label = {label, other}, .w = {w, w2}};
        cdrl_guided_grad(&net, gg, ft, dt, x, level, &composed, scale, B);
        worst = 0, size = 0;
        for (size_t k = 0; k < B * D; k++) {
            const double a0 = 1.0 - (1.0 + (double)w) - (1.0 + (double)w2);
            const double want =
                (double)scale * ((1.0 + (double)w) * (double)gc[k] +
                                 (1.0 + (double)w2) * (double)g2[k] + a0 * (double)g0[k]);
            worst = fmax(worst, fabs((double)gg[k] - want));
            size = fmax(size, fabs(want));
        }
        CHECK(worst <= 1e-5 * size && size > 0, "composed gradient: max err %.3g of max %.3g",
              worst, size);
        CHECK(cdrl_cond_null_weight(&composed) == 1.0f - (1.0f + w) - (1.0f + w2) &&
                  cdrl_cond_null_weight(&guided) == -w && cdrl_cond_null_weight(&plain) == 0.0f,
              "the weight of f(null): 1 - sum (1 + w_i), -w for guidance, 0 for plain labels");
        cdrl_free(g2);
        cdrl_free(gg);
        cdrl_free(gc);
        cdrl_free(g0);
    }

    cdrl_free(grad[0]);
    cdrl_free(grad[1]);
    cdrl_free(dx[0]);
    cdrl_free(dx[1]);
    cdrl_free(x);
    cdrl_img_ebm_free(m);
}

// ---------------------------------------------------------------------------------------
// Official sizes (method.md §5.4): the parameter counts of the CIFAR-10 and ImageNet 32x32
// networks from their tables, and the official names on a network of the same layout with
// narrow widths (a real 35M-parameter network costs ~1.5 s of page faults to create).
static void official_sizes(void) {
    cdrl_img_ebm_config cfg;
    cdrl_img_ebm_config_default(&cfg);
    size_t n0 = cdrl_img_ebm_param_count(&cfg);
    cfg.n_classes = 1000;
    size_t n1 = cdrl_img_ebm_param_count(&cfg);
    CHECK(n0 == 34833152u, "official EBM: %zu parameters, want 34833152", n0);
    CHECK(n1 == 35346176u, "official conditional EBM: %zu parameters, want 35346176", n1);
    printf("  ok   official EBM parameters: %zu unconditional, %zu with 1000 classes\n", n0, n1);

    cfg.ch = cfg.temb_dim = 4;
    cdrl_rng rng;
    cdrl_rng_init(&rng, 0, 0);
    for (int cond = 0; cond < 2; cond++) {
        cfg.n_classes = cond ? 1000 : 0;
        cdrl_img_ebm *m = cdrl_img_ebm_create(&cfg, 1, 7, &rng);
        // 3 SN layers before the blocks (4 with y_map), 32 blocks of 3 SN layers and a gain,
        // one shortcut, temb_final: 2 tensors per SN layer in the parameters and the buffers.
        int n_sn = 3 + cond + 32 * 3 + 1;
        CHECK(m->base.params.count == 2 * n_sn + 32 + 1 && m->base.buffers.count == 2 * n_sn,
              "official layout: %d tensors, %d buffers", m->base.params.count,
              m->base.buffers.count);
        // Pools hold module_list.9, .18 and .27, so level 1 starts at module_list.10.
        CHECK(cdrl_param_find(&m->base.params, "module_list.10.short_cut.weight_orig") != NULL,
              "module_list.10 is the first block of level 1");
        CHECK(cdrl_param_find(&m->base.params, "module_list.9.conv1.weight_orig") == NULL,
              "module_list.9 is a pool");
        CHECK(cdrl_param_find(&m->base.params, "module_list.35.g") != NULL &&
                  cdrl_param_find(&m->base.params, "module_list.36.g") == NULL,
              "last block is module_list.35");
        const cdrl_param *g = cdrl_param_find(&m->base.params, "module_list.35.g");
        CHECK(g && g->ndim == 4 && g->shape[1] == 8, "g is (1, C, 1, 1)");
        const cdrl_param *v = cdrl_param_find(&m->base.buffers, "module_list.0.weight_v");
        CHECK(v && v->numel == 27, "module_list.0.weight_v has in_ch*3*3 entries");
        const cdrl_param *y = cdrl_param_find(&m->base.params, "y_map.weight_orig");
        CHECK(cond ? y && y->shape[0] == 16 && y->shape[1] == 1001 : y == NULL,
              "y_map (4 temb_dim, n_classes + 1) only in the conditional network");
        const cdrl_param *t = cdrl_param_find(&m->base.params, "temb_final.weight");
        CHECK(t && t->shape[0] == 8 && t->shape[1] == 16 &&
                  !cdrl_param_find(&m->base.params, "temb_final.bias"),
              "temb_final (C_last, 4 temb_dim), no bias");
        CHECK(m->H_out == 4 && m->W_out == 4, "last level 4x4");
        cdrl_img_ebm_free(m);
    }
    printf("  ok   official layout: module_list indices, shapes and SN buffers\n");
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    fx = fixture_load("img_ebm");
    twin_case("cond");
    twin_case("uncond");
    cdrl_st_free(fx);

    // Tiny networks: identity and SN shortcuts, a class embedding; an odd map 5x5 -> 2x2
    // through the floor-mode pool.
    cdrl_img_ebm_config c;
    cdrl_img_ebm_config_default(&c);
    c.res = 8;
    c.ch = 4;
    c.temb_dim = 4;
    c.n_mult = 2;
    c.n_blocks = 2;
    c.n_classes = 3;
    int lv[3] = {0, 3, 6}, lb[3] = {2, 0, 3};
    fd_case("fd cond", &c, lv, lb, 3);
    c.class_gain = 2.5f; // the class one-hot scaled: its gradients carry the gain
    fd_case("fd cond gain 2.5", &c, lv, lb, 3);
    attribute_columns(&c);
    cdrl_img_ebm_config_default(&c);
    c.in_ch = 1;
    c.res = 10;
    c.ch = 4;
    c.temb_dim = 4;
    c.n_mult = 3;
    c.ch_mult[0] = 1;
    c.ch_mult[1] = 2;
    c.ch_mult[2] = 1;
    c.n_blocks = 1;
    int lv2[2] = {5, 1};
    fd_case("fd uncond", &c, lv2, NULL, 2);

    misc_checks();
    official_sizes();
    return test_report("test_img_ebm");
}
