// The yardstick's image classifier (docs/yardstick.md): a small CNN built from cdrl's own
// layers, trained with softmax cross-entropy and Adam, whose 128-d penultimate activations
// are the features that the FD, KID and precision/recall compare.
//   x (B, C, R, R) -> conv3x3 32 -> GN -> ReLU -> avgpool2 -> conv3x3 64 -> GN -> ReLU ->
//   avgpool2 -> conv3x3 128 -> GN -> ReLU -> spatial mean = features (B, 128) -> linear K
// (PyTorch: nn.Conv2d(bias=False), nn.GroupNorm(8, C), nn.ReLU, nn.AvgPool2d(2),
// x.mean((2, 3)), nn.Linear.) Global average pooling keeps the weights at 94k floats (370 KB);
// the GroupNorms let Adam train it in a few epochs. Every kernel is thread-count invariant
// and the loss, softmax and Adam run in fixed order, so the same seed gives the same bytes
// with any number of threads. Left out: dropout, weight decay, augmentation other than flips.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"
#include "core/core.h"
#include "data/dataset.h"
#include "eval/classifier.h"
#include "nn/param.h"
#include "ops/ops.h"
#include "train/optim.h"

#define CLS_FORMAT  "cdrl-classifier"
#define CLS_VERSION "1"
#define C1          32
#define C2          64
#define C3          16  // channels before the flatten
#define NF          128 // the feature dimension
#define GROUPS      8
#define GN_EPS      1e-5f
#define RUN_CHUNK   256 // images per forward pass when only running the network

struct cdrl_classifier {
    int in_ch, res, n_classes;
    cdrl_param_table tab;
    float *p;          // (tab.total) parameters
    uint64_t print;    // FNV-1a of the parameter bytes: ties reference statistics to weights
    char data[512];    // the data spec it was trained on
    char meta_acc[32]; // test accuracy recorded at save time ("" when unknown)
    // offsets into p
    size_t w1, g1, b1, w2, g2, b2, w3, g3, b3, wh, bh, wf, bf;
};

// Activations of one batch (B images); the same layout serves their gradients.
typedef struct acts {
    float *a1, *r1, *p1;                // (B, C1, R, R) conv out, GN+ReLU out; (B, C1, R/2, R/2)
    float *a2, *r2, *p2;                // (B, C2, R/2, R/2) x2; (B, C2, R/4, R/4)
    float *a3, *r3;                     // (B, C3, R/4, R/4)
    float *h;                           // (B, NF) hidden layer before its ReLU
    float *feat;                        // (B, NF) after it: the features
    float *logit;                       // (B, K)
    float *m1, *s1, *m2, *s2, *m3, *s3; // GN mean, rstd (B, GROUPS)
} acts;

static size_t acts_floats(const cdrl_classifier *c, int B, int with_stats) {
    const size_t R = (size_t)c->res, H2 = R / 2, H4 = R / 4;
    size_t n = (size_t)B * (2 * C1 * R * R + C1 * H2 * H2 + 2 * C2 * H2 * H2 + C2 * H4 * H4 +
                            2 * C3 * H4 * H4 + 2 * NF + (size_t)c->n_classes);
    if (with_stats) n += (size_t)B * 6 * GROUPS;
    return n;
}

static void acts_carve(acts *a, float *base, const cdrl_classifier *c, int B, int with_stats) {
    const size_t R = (size_t)c->res, H2 = R / 2, H4 = R / 4, b = (size_t)B;
    float *q = base;
#define TAKE(f, n) (a->f = q, q += (n))
    TAKE(a1, b * C1 * R * R);
    TAKE(r1, b * C1 * R * R);
    TAKE(p1, b * C1 * H2 * H2);
    TAKE(a2, b * C2 * H2 * H2);
    TAKE(r2, b * C2 * H2 * H2);
    TAKE(p2, b * C2 * H4 * H4);
    TAKE(a3, b * C3 * H4 * H4);
    TAKE(r3, b * C3 * H4 * H4);
    TAKE(h, b * NF);
    TAKE(feat, b * NF);
    TAKE(logit, b * (size_t)c->n_classes);
    if (with_stats) {
        TAKE(m1, b * GROUPS);
        TAKE(s1, b * GROUPS);
        TAKE(m2, b * GROUPS);
        TAKE(s2, b * GROUPS);
        TAKE(m3, b * GROUPS);
        TAKE(s3, b * GROUPS);
    }
#undef TAKE
}

static cdrl_conv2d_desc conv_desc(int B, int IC, int OC, int H) {
    return (cdrl_conv2d_desc){.B = B, .IC = IC, .OC = OC, .H = H, .W = H, .K = 3};
}

static size_t scratch_bytes(const cdrl_classifier *c, int B) {
    const int R = c->res;
    size_t s = cdrl_conv2d_scratch_size(&(cdrl_conv2d_desc){B, c->in_ch, C1, R, R, 3});
    size_t t = cdrl_conv2d_scratch_size(&(cdrl_conv2d_desc){B, C1, C2, R / 2, R / 2, 3});
    s = t > s ? t : s;
    t = cdrl_conv2d_scratch_size(&(cdrl_conv2d_desc){B, C2, C3, R / 4, R / 4, 3});
    s = t > s ? t : s;
    t = cdrl_linear_scratch_size(B, C3 * (R / 4) * (R / 4), NF);
    s = t > s ? t : s;
    t = cdrl_linear_scratch_size(B, NF, c->n_classes);
    return (t > s ? t : s) + 4096;
}

static uint64_t fnv1a(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

// ---------------------------------------------------------------------------------------
// Creation

static cdrl_status create(cdrl_classifier **out, int in_ch, int res, int n_classes) {
    *out = NULL;
    if (in_ch < 1 || in_ch > 4 || res < 4 || res % 4 || res > 256 || n_classes < 2 ||
        n_classes > CDRL_YARDSTICK_MAX_CLASSES)
        return cdrl_fail(CDRL_STATUS_INVALID,
                         "classifier: images of %d channels at %dx%d (a multiple of 4) with %d "
                         "classes (2..%d) are not supported",
                         in_ch, res, res, n_classes, CDRL_YARDSTICK_MAX_CLASSES);
    cdrl_classifier *c = cdrl_calloc(sizeof *c);
    if (!c) return cdrl_fail(CDRL_STATUS_NOMEM, "classifier: out of memory");
    c->in_ch = in_ch;
    c->res = res;
    c->n_classes = n_classes;
    cdrl_param_table *t = &c->tab;
    cdrl_param_table_init(t);
    c->w1 = cdrl_param_add(t, 4, (int[]){C1, in_ch, 3, 3}, "conv1.weight");
    c->g1 = cdrl_param_add(t, 1, (int[]){C1}, "norm1.weight");
    c->b1 = cdrl_param_add(t, 1, (int[]){C1}, "norm1.bias");
    c->w2 = cdrl_param_add(t, 4, (int[]){C2, C1, 3, 3}, "conv2.weight");
    c->g2 = cdrl_param_add(t, 1, (int[]){C2}, "norm2.weight");
    c->b2 = cdrl_param_add(t, 1, (int[]){C2}, "norm2.bias");
    c->w3 = cdrl_param_add(t, 4, (int[]){C3, C2, 3, 3}, "conv3.weight");
    c->g3 = cdrl_param_add(t, 1, (int[]){C3}, "norm3.weight");
    c->b3 = cdrl_param_add(t, 1, (int[]){C3}, "norm3.bias");
    c->wh = cdrl_param_add(t, 2, (int[]){NF, C3 * (res / 4) * (res / 4)}, "hidden.weight");
    c->bh = cdrl_param_add(t, 1, (int[]){NF}, "hidden.bias");
    c->wf = cdrl_param_add(t, 2, (int[]){n_classes, NF}, "fc.weight");
    c->bf = cdrl_param_add(t, 1, (int[]){n_classes}, "fc.bias");
    c->p = cdrl_calloc(sizeof(float) * t->total);
    if (!c->p) {
        cdrl_classifier_free(c);
        return cdrl_fail(CDRL_STATUS_NOMEM, "classifier: out of memory");
    }
    *out = c;
    return CDRL_OK;
}

void cdrl_classifier_free(cdrl_classifier *c) {
    if (!c) return;
    cdrl_free(c->p);
    cdrl_param_table_deinit(&c->tab);
    cdrl_free(c);
}

int cdrl_classifier_classes(const cdrl_classifier *c) { return c->n_classes; }
int cdrl_classifier_feature_dim(const cdrl_classifier *c) {
    (void)c;
    return NF;
}
int cdrl_classifier_res(const cdrl_classifier *c) { return c->res; }
int cdrl_classifier_channels(const cdrl_classifier *c) { return c->in_ch; }
uint64_t cdrl_classifier_fingerprint(const cdrl_classifier *c) { return c->print; }
const char *cdrl_classifier_data(const cdrl_classifier *c) { return c->data; }

// ---------------------------------------------------------------------------------------
// Forward and backward

static void forward(const cdrl_classifier *c, acts *a, const float *x, int B, cdrl_arena *ws) {
    const int R = c->res, H2 = R / 2, H4 = R / 4, K = c->n_classes;
    const float *p = c->p;
    cdrl_conv2d_desc d1 = conv_desc(B, c->in_ch, C1, R), d2 = conv_desc(B, C1, C2, H2),
                     d3 = conv_desc(B, C2, C3, H4);
    cdrl_conv2d_forward(a->a1, x, p + c->w1, NULL, &d1, ws);
    cdrl_groupnorm_forward(a->r1, a->m1, a->s1, a->a1, p + c->g1, p + c->b1, B, C1, R * R, GROUPS,
                           GN_EPS);
    cdrl_relu_forward(a->r1, a->r1, (size_t)B * C1 * R * R);
    cdrl_avgpool2_forward(a->p1, a->r1, B * C1, R, R);
    cdrl_conv2d_forward(a->a2, a->p1, p + c->w2, NULL, &d2, ws);
    cdrl_groupnorm_forward(a->r2, a->m2, a->s2, a->a2, p + c->g2, p + c->b2, B, C2, H2 * H2, GROUPS,
                           GN_EPS);
    cdrl_relu_forward(a->r2, a->r2, (size_t)B * C2 * H2 * H2);
    cdrl_avgpool2_forward(a->p2, a->r2, B * C2, H2, H2);
    cdrl_conv2d_forward(a->a3, a->p2, p + c->w3, NULL, &d3, ws);
    cdrl_groupnorm_forward(a->r3, a->m3, a->s3, a->a3, p + c->g3, p + c->b3, B, C3, H4 * H4, GROUPS,
                           GN_EPS);
    cdrl_relu_forward(a->r3, a->r3, (size_t)B * C3 * H4 * H4);
    cdrl_linear_forward(a->h, a->r3, p + c->wh, p + c->bh, B, C3 * H4 * H4, NF, ws);
    cdrl_relu_forward(a->feat, a->h, (size_t)B * NF);
    cdrl_linear_forward(a->logit, a->feat, p + c->wf, p + c->bf, B, NF, K, ws);
}

// Gradients of the parameters (g, zeroed by the caller) given dlogit in da->logit. da holds
// the activation gradients (zeroed by the caller). The ReLU masks come from the ReLU outputs
// (r > 0 exactly where the GN output is > 0), so the GN outputs need not be kept.
static void backward(const cdrl_classifier *c, float *g, acts *da, const acts *a, const float *x,
                     int B, cdrl_arena *ws) {
    const int R = c->res, H2 = R / 2, H4 = R / 4, K = c->n_classes;
    const float *p = c->p;
    cdrl_conv2d_desc d1 = conv_desc(B, c->in_ch, C1, R), d2 = conv_desc(B, C1, C2, H2),
                     d3 = conv_desc(B, C2, C3, H4);
    cdrl_linear_backward(da->feat, g + c->wf, g + c->bf, da->logit, a->feat, p + c->wf, B, NF, K,
                         ws);
    cdrl_relu_backward(da->h, da->feat, a->h, (size_t)B * NF);
    cdrl_linear_backward(da->r3, g + c->wh, g + c->bh, da->h, a->r3, p + c->wh, B, C3 * H4 * H4, NF,
                         ws);
    // da->a3 first receives d(GN out) through the ReLU, then dgn into da->p2's neighbour
    cdrl_relu_backward(da->a3, da->r3, a->r3, (size_t)B * C3 * H4 * H4);
    cdrl_zero(da->r3, (size_t)B * C3 * H4 * H4);
    cdrl_groupnorm_backward(da->r3, g + c->g3, g + c->b3, da->a3, a->a3, a->m3, a->s3, p + c->g3, B,
                            C3, H4 * H4, GROUPS);
    cdrl_conv2d_backward(da->p2, g + c->w3, NULL, da->r3, a->p2, p + c->w3, &d3, ws);
    cdrl_avgpool2_backward(da->r2, da->p2, B * C2, H2, H2);
    cdrl_relu_backward(da->a2, da->r2, a->r2, (size_t)B * C2 * H2 * H2);
    cdrl_zero(da->r2, (size_t)B * C2 * H2 * H2);
    cdrl_groupnorm_backward(da->r2, g + c->g2, g + c->b2, da->a2, a->a2, a->m2, a->s2, p + c->g2, B,
                            C2, H2 * H2, GROUPS);
    cdrl_conv2d_backward(da->p1, g + c->w2, NULL, da->r2, a->p1, p + c->w2, &d2, ws);
    cdrl_avgpool2_backward(da->r1, da->p1, B * C1, R, R);
    cdrl_relu_backward(da->a1, da->r1, a->r1, (size_t)B * C1 * R * R);
    cdrl_zero(da->r1, (size_t)B * C1 * R * R);
    cdrl_groupnorm_backward(da->r1, g + c->g1, g + c->b1, da->a1, a->a1, a->m1, a->s1, p + c->g1, B,
                            C1, R * R, GROUPS);
    cdrl_conv2d_backward(NULL, g + c->w1, NULL, da->r1, x, p + c->w1, &d1, ws);
}

// He-uniform convolutions (a ReLU follows each norm), PyTorch's default for the head, GN 1/0.
static void init_weights(cdrl_classifier *c, cdrl_rng *rng) {
    const int K = c->n_classes;
    cdrl_param_init_uniform(c->p + c->w1, (size_t)C1 * c->in_ch * 9,
                            sqrtf(6.0f / (float)(c->in_ch * 9)), rng);
    cdrl_param_init_uniform(c->p + c->w2, (size_t)C2 * C1 * 9, sqrtf(6.0f / (float)(C1 * 9)), rng);
    cdrl_param_init_uniform(c->p + c->w3, (size_t)C3 * C2 * 9, sqrtf(6.0f / (float)(C2 * 9)), rng);
    const int nin = C3 * (c->res / 4) * (c->res / 4);
    cdrl_param_init_uniform(c->p + c->wh, (size_t)NF * nin, sqrtf(6.0f / (float)nin), rng);
    cdrl_param_init_uniform(c->p + c->bh, (size_t)NF, 1.0f / sqrtf((float)nin), rng);
    cdrl_param_init_uniform(c->p + c->wf, (size_t)K * NF, 1.0f / sqrtf((float)NF), rng);
    cdrl_param_init_uniform(c->p + c->bf, (size_t)K, 1.0f / sqrtf((float)NF), rng);
    for (int i = 0; i < C1; i++)
        c->p[c->g1 + (size_t)i] = 1.0f;
    for (int i = 0; i < C2; i++)
        c->p[c->g2 + (size_t)i] = 1.0f;
    for (int i = 0; i < C3; i++)
        c->p[c->g3 + (size_t)i] = 1.0f;
}

cdrl_status cdrl_classifier_create(cdrl_classifier **out, int in_ch, int res, int n_classes,
                                   uint64_t seed) {
    cdrl_status st = create(out, in_ch, res, n_classes);
    if (st != CDRL_OK) return st;
    cdrl_rng rng;
    cdrl_rng_init(&rng, seed, 0);
    init_weights(*out, &rng);
    (*out)->print = fnv1a((*out)->p, sizeof(float) * (*out)->tab.total);
    return CDRL_OK;
}

size_t cdrl_classifier_n_params(const cdrl_classifier *c) { return c->tab.total; }
float *cdrl_classifier_params_ptr(cdrl_classifier *c) { return c->p; }

double cdrl_classifier_loss_grad(cdrl_classifier *c, float *grad, const float *x, const int *label,
                                 int B) {
    const size_t nact = acts_floats(c, B, 1);
    float *abuf = cdrl_malloc(sizeof(float) * nact), *dbuf = cdrl_calloc(sizeof(float) * nact);
    cdrl_arena ws = {0};
    CDRL_ASSERT(abuf && dbuf && cdrl_arena_init(&ws, scratch_bytes(c, B)) == CDRL_OK);
    acts a, da;
    acts_carve(&a, abuf, c, B, 1);
    acts_carve(&da, dbuf, c, B, 0);
    forward(c, &a, x, B, &ws);
    const double loss = cdrl_softmax_xent(da.logit, a.logit, label, B, c->n_classes);
    if (grad) backward(c, grad, &da, &a, x, B, &ws);
    cdrl_arena_deinit(&ws);
    cdrl_free(abuf);
    cdrl_free(dbuf);
    return loss;
}

// ---------------------------------------------------------------------------------------
// Training

void cdrl_classifier_params_init(cdrl_classifier_params *p) {
    memset(p, 0, sizeof *p);
    p->epochs = 8;
    p->batch = 128;
    p->lr = 2e-3f;
    p->flip = 1;
    p->seed = 1;
}

cdrl_status cdrl_classifier_train(cdrl_classifier **out, const cdrl_dataset *data,
                                  const cdrl_classifier_params *p) {
    *out = NULL;
    if (!data->is_image || data->img.n_classes < 2)
        return cdrl_fail(CDRL_STATUS_INVALID, "classifier: '%s' is not a labelled image set",
                         data->is_image ? data->img.spec : "2-D data");
    const cdrl_images *im = &data->img;
    if (im->h != im->w)
        return cdrl_fail(CDRL_STATUS_INVALID, "classifier: images of %dx%d are not square", im->h,
                         im->w);
    for (size_t i = 0; i < im->n; i++)
        if (im->labels[i] < 0)
            return cdrl_fail(CDRL_STATUS_INVALID, "classifier: image %zu of '%s' has no class", i,
                             im->spec);
    if (p->batch < 1 || p->epochs < 1 || !(p->lr > 0))
        return cdrl_fail(CDRL_STATUS_INVALID, "classifier: batch %d, epochs %d, lr %g", p->batch,
                         p->epochs, (double)p->lr);
    cdrl_classifier *c;
    cdrl_status st = create(&c, im->c, im->h, im->n_classes);
    if (st != CDRL_OK) return st;
    snprintf(c->data, sizeof c->data, "%s", im->spec);
    const int B = p->batch, K = c->n_classes;
    const size_t P = c->tab.total, D = cdrl_images_dim(im), nact = acts_floats(c, B, 1);
    cdrl_rng rng;
    cdrl_rng_init(&rng, p->seed, 0);
    init_weights(c, &rng);
    float *g = cdrl_calloc(sizeof(float) * P), *m = cdrl_calloc(sizeof(float) * P),
          *v = cdrl_calloc(sizeof(float) * P), *x = cdrl_malloc(sizeof(float) * (size_t)B * D),
          *abuf = cdrl_malloc(sizeof(float) * nact), *dbuf = cdrl_malloc(sizeof(float) * nact);
    int *label = cdrl_malloc(sizeof(int) * (size_t)B);
    cdrl_arena ws = {0};
    if (!g || !m || !v || !x || !abuf || !dbuf || !label)
        st = cdrl_fail(CDRL_STATUS_NOMEM, "classifier: out of memory for batch %d", B);
    if (st == CDRL_OK) st = cdrl_arena_init(&ws, scratch_bytes(c, B));
    const long steps_per_epoch = (long)((im->n + (size_t)B - 1) / (size_t)B);
    const long total = steps_per_epoch * p->epochs;
    acts a, da;
    if (st == CDRL_OK) {
        acts_carve(&a, abuf, c, B, 1);
        acts_carve(&da, dbuf, c, B, 0);
    }
    double loss_avg = 0;
    for (long step = 1; step <= total && st == CDRL_OK; step++) {
        cdrl_images_batch(im, x, label, B, &rng, p->flip);
        forward(c, &a, x, B, &ws);
        cdrl_zero(dbuf, acts_floats(c, B, 0));
        const double loss = cdrl_softmax_xent(da.logit, a.logit, label, B, K);
        if (!isfinite(loss)) {
            st =
                cdrl_fail(CDRL_STATUS_DIVERGED, "classifier: loss is not finite at step %ld", step);
            break;
        }
        cdrl_zero(g, P);
        backward(c, g, &da, &a, x, B, &ws);
        cdrl_adam_params ap = cdrl_adam_params_default(p->lr * cdrl_cosine_decay(step - 1, total));
        cdrl_adam_step(c->p, m, v, g, P, step, &ap);
        loss_avg = step == 1 ? loss : 0.98 * loss_avg + 0.02 * loss;
        if (p->progress && p->progress(p->user, step, total, loss_avg) != 0)
            st = cdrl_fail(CDRL_STATUS_CANCELLED, "classifier: cancelled at step %ld", step);
    }
    cdrl_arena_deinit(&ws);
    cdrl_free(g);
    cdrl_free(m);
    cdrl_free(v);
    cdrl_free(x);
    cdrl_free(abuf);
    cdrl_free(dbuf);
    cdrl_free(label);
    if (st != CDRL_OK) {
        cdrl_classifier_free(c);
        return st;
    }
    c->print = fnv1a(c->p, sizeof(float) * P);
    *out = c;
    return CDRL_OK;
}

// ---------------------------------------------------------------------------------------
// Running

cdrl_status cdrl_classifier_run(cdrl_classifier *c, float *features, int *pred, float *logits,
                                const float *x, int n, int in_ch, int side) {
    if (in_ch != c->in_ch || side < c->res || (side - c->res) % 2)
        return cdrl_fail(CDRL_STATUS_MISMATCH,
                         "classifier: it takes %dx%dx%d images (or larger by an even margin, "
                         "cropped), got %dx%dx%d",
                         c->in_ch, c->res, c->res, in_ch, side, side);
    const int R = c->res, K = c->n_classes, off = (side - R) / 2,
              CH = n < RUN_CHUNK ? (n > 0 ? n : 1) : RUN_CHUNK;
    const size_t D = (size_t)c->in_ch * R * R;
    float *buf = cdrl_malloc(sizeof(float) * acts_floats(c, CH, 1)),
          *xin = cdrl_malloc(sizeof(float) * (size_t)CH * D);
    cdrl_arena ws = {0};
    cdrl_status st =
        buf && xin ? CDRL_OK : cdrl_fail(CDRL_STATUS_NOMEM, "classifier: out of memory");
    if (st == CDRL_OK) st = cdrl_arena_init(&ws, scratch_bytes(c, CH));
    acts a;
    if (st == CDRL_OK) acts_carve(&a, buf, c, CH, 1);
    for (int s0 = 0; s0 < n && st == CDRL_OK; s0 += CH) {
        const int b = n - s0 < CH ? n - s0 : CH;
        for (int i = 0; i < b; i++) // crop the centre R x R of each channel
            for (int ch = 0; ch < c->in_ch; ch++)
                for (int y = 0; y < R; y++)
                    memcpy(
                        xin + (size_t)i * D + ((size_t)ch * R + y) * R,
                        x + ((((size_t)(s0 + i) * in_ch + ch) * side + (size_t)(y + off)) * side +
                             (size_t)off),
                        sizeof(float) * (size_t)R);
        forward(c, &a, xin, b, &ws);
        if (!cdrl_all_finite(a.logit, (size_t)b * K)) {
            st = cdrl_fail(CDRL_STATUS_DIVERGED,
                           "classifier: not finite on image %d..%d (NaN or Inf pixels?)", s0,
                           s0 + b - 1);
            break;
        }
        if (features) memcpy(features + (size_t)s0 * NF, a.feat, sizeof(float) * (size_t)b * NF);
        if (logits) memcpy(logits + (size_t)s0 * K, a.logit, sizeof(float) * (size_t)b * K);
        for (int i = 0; pred && i < b; i++) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (a.logit[(size_t)i * K + k] > a.logit[(size_t)i * K + best]) best = k;
            pred[s0 + i] = best;
        }
    }
    cdrl_arena_deinit(&ws);
    cdrl_free(buf);
    cdrl_free(xin);
    return st;
}

// ---------------------------------------------------------------------------------------
// Files

cdrl_status cdrl_classifier_save(const cdrl_classifier *c, const char *path,
                                 const char *const *keys, const char *const *vals, int n_meta) {
    cdrl_st_writer *w = cdrl_st_writer_create();
    if (!w) return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    cdrl_status st = CDRL_OK;
    for (int i = 0; i < c->tab.count && st == CDRL_OK; i++) {
        const cdrl_param *q = &c->tab.items[i];
        int64_t shape[4];
        for (int k = 0; k < q->ndim; k++)
            shape[k] = q->shape[k];
        st = cdrl_st_writer_add_f32(w, q->name, q->ndim, shape, c->p + q->offset);
    }
    char num[3][32];
    snprintf(num[0], sizeof num[0], "%d", c->in_ch);
    snprintf(num[1], sizeof num[1], "%d", c->res);
    snprintf(num[2], sizeof num[2], "%d", c->n_classes);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "format", CLS_FORMAT);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "version", CLS_VERSION);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "in_ch", num[0]);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "res", num[1]);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "n_classes", num[2]);
    if (st == CDRL_OK) st = cdrl_st_writer_meta(w, "data", c->data);
    for (int i = 0; i < n_meta && st == CDRL_OK; i++)
        st = cdrl_st_writer_meta(w, keys[i], vals[i]);
    if (st == CDRL_OK) st = cdrl_st_writer_save(w, path);
    cdrl_st_writer_free(w);
    return st;
}

static int meta_int(const cdrl_st_file *f, const char *key) {
    const char *s = cdrl_st_meta(f, key);
    return s ? atoi(s) : -1;
}

cdrl_status cdrl_classifier_load(cdrl_classifier **out, const char *path) {
    *out = NULL;
    cdrl_st_file *f;
    cdrl_status st = cdrl_st_load(&f, path);
    if (st != CDRL_OK) return st;
    const char *fmt = cdrl_st_meta(f, "format");
    if (!fmt || strcmp(fmt, CLS_FORMAT) != 0) {
        cdrl_st_free(f);
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: not a classifier file (format '%s', expected '%s'); make one with "
                         "`cdrl classifier`",
                         path, fmt ? fmt : "none", CLS_FORMAT);
    }
    const char *ver = cdrl_st_meta(f, "version");
    if (!ver || strcmp(ver, CLS_VERSION) != 0) {
        cdrl_st_free(f);
        return cdrl_fail(
            CDRL_STATUS_FORMAT,
            "%s: classifier version %s, this build reads %s; retrain with `cdrl classifier`", path,
            ver ? ver : "none", CLS_VERSION);
    }
    cdrl_classifier *c;
    st = create(&c, meta_int(f, "in_ch"), meta_int(f, "res"), meta_int(f, "n_classes"));
    for (int i = 0; st == CDRL_OK && i < c->tab.count; i++) {
        const cdrl_param *q = &c->tab.items[i];
        const float *src = cdrl_st_f32(f, q->name, q->numel);
        if (!src)
            st = CDRL_STATUS_FORMAT;
        else
            memcpy(c->p + q->offset, src, sizeof(float) * q->numel);
    }
    if (st == CDRL_OK) {
        const char *d = cdrl_st_meta(f, "data"), *acc = cdrl_st_meta(f, "test_accuracy");
        snprintf(c->data, sizeof c->data, "%s", d ? d : "");
        snprintf(c->meta_acc, sizeof c->meta_acc, "%s", acc ? acc : "");
        c->print = fnv1a(c->p, sizeof(float) * c->tab.total);
        *out = c;
    } else {
        cdrl_classifier_free(c);
    }
    cdrl_st_free(f);
    return st;
}
