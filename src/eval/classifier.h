// Internals of the yardstick classifier for tests: creation with fresh weights, the flat
// parameter buffer and one batch's loss with its gradient (the gradient check's access).
#ifndef CDRL_EVAL_CLASSIFIER_H
#define CDRL_EVAL_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "cdrl.h"

// A classifier with freshly initialised weights (the training's initialisation).
cdrl_status cdrl_classifier_create(cdrl_classifier **out, int in_ch, int res, int n_classes,
                                   uint64_t seed);
size_t cdrl_classifier_n_params(const cdrl_classifier *c);
float *cdrl_classifier_params_ptr(cdrl_classifier *c); // (n_params), padding included
// Mean softmax cross-entropy of the batch x (B, C, R, R) with labels (B); grad (n_params),
// when not NULL, += its gradient. Allocates its buffers (a test helper, not a hot path).
double cdrl_classifier_loss_grad(cdrl_classifier *c, float *grad, const float *x, const int *label,
                                 int B);

#endif // CDRL_EVAL_CLASSIFIER_H
