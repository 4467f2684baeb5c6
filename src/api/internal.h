// What the public API's implementation files share: the dataset's layout.
#ifndef CDRL_API_INTERNAL_H
#define CDRL_API_INTERNAL_H

#include "cdrl.h"
#include "core/rng.h"
#include "data/toy2d.h"

struct cdrl_dataset {
    cdrl_toy2d toy;
};

// Draws n samples with the caller's random stream (the trainer's, so that resume is exact).
void cdrl_dataset_sample(const cdrl_dataset *d, float *out, size_t n, cdrl_rng *rng);

#endif // CDRL_API_INTERNAL_H
