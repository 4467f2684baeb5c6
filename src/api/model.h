// The public model (cdrl_model_*) as its three files share it: model.c (the configuration's
// networks and trainer, one training iteration), sample.c (sampling, energies, densities) and
// checkpoint.c (checkpoints and the weights of official checkpoints). The toy kind runs the MLPs
// of method.md §5.6; the image kind the SN ResNet EBM and the U-Net (models/img_ebm.h,
// models/unet.h), unconditional or class-conditional, with the image schedule and the final
// Tweedie step when sampling.
#ifndef CDRL_API_MODEL_H
#define CDRL_API_MODEL_H

#include "cdrl.h"
#include "models/img_ebm.h"
#include "models/toy_ebm.h"
#include "models/toy_init.h"
#include "models/unet.h"
#include "nn/param_file.h"
#include "train/trainer.h"

struct cdrl_model {
    cdrl_config cfg;
    cdrl_schedule sched;
    cdrl_toy_ebm *ebm; // toy kind
    cdrl_toy_init *init;
    cdrl_img_ebm *iebm; // image kind
    cdrl_unet *unet;
    cdrl_net ebm_net, init_net;
    cdrl_trainer tr;
    int max_rows;
    int chunk;          // rows per sampling / density call
    float *batch;       // (B, dim) the current training batch
    int *cls;           // (B) its classes 0..K-1 (conditional models)
    cdrl_arena scratch; // sampling and density temporaries
};

// K_ref of the step-size rule (method.md §2.3): Langevin with K steps moves by K_ref / K.
// The label attributes of a conditional model (0 for an unconditional one) and, unless K is
// NULL, their classes: the first n_classes, then more_classes.
static inline int cdrl_config_attrs(const cdrl_config *c, int *K) {
    return cdrl_attr_classes(K, c->n_classes, c->n_more_attrs, c->more_classes);
}

static inline int cdrl_model_ref_steps(const cdrl_config *c) {
    return c->langevin_ref_steps > 0 ? c->langevin_ref_steps : c->n_langevin;
}

// Points both networks at their EMA copies (or back at their own weights).
void cdrl_model_use_ema(cdrl_model *m, int ema);

// The checkpoint's tensor groups, in the order they are written: parameters (and buffers) of
// both networks, their EMA copies, then the Adam moments. Returns the count (at most 10).
int cdrl_model_groups(const cdrl_model *m, cdrl_param_group g[10]);

#endif // CDRL_API_MODEL_H
