// The public data set (cdrl_dataset_*, data/dataset.c) as the library's modules see it: a 2-D
// source or an image set, and drawing batches with the trainer's random stream.
#ifndef CDRL_DATA_DATASET_H
#define CDRL_DATA_DATASET_H

#include "cdrl.h"
#include "core/rng.h"
#include "data/images.h"
#include "data/toy2d.h"

struct cdrl_dataset {
    int is_image; // 1: img holds an image set; 0: toy holds a 2-D source
    cdrl_toy2d toy;
    cdrl_images img;
};

// Draws n samples with the caller's random stream (the trainer's, so that resume is exact);
// images are mirrored at random when flip is set (2-D sources ignore it). label (n, A), when
// not NULL, receives each sample's labels (images: the class 0..K-1, -1 unknown; 2-D sources
// without labels: -1).
void cdrl_dataset_sample(const cdrl_dataset *d, float *out, int *label, size_t n, int flip,
                         cdrl_rng *rng);

#endif // CDRL_DATA_DATASET_H
