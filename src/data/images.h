// Image data sources: Fashion-MNIST / MNIST gzip IDX files, CIFAR-10 binary batches and a
// folder of PNG/JPEG images with the class taken from the sub-folder. A set is loaded whole
// into memory as float32 in [-1, 1] (x / 127.5 - 1, the official CDRL scaling), optionally
// zero-padded (28 -> 32), and batches are drawn from it with the caller's cdrl_rng, with an
// optional random horizontal flip. Every format and choice is written out in docs/data.md.
// Not here: the public cdrl_dataset wrapper (src/api/), colour management, alpha, 16-bit
// output, crops or any augmentation other than the flip, and streaming sets larger than memory.
#ifndef CDRL_DATA_IMAGES_H
#define CDRL_DATA_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "cdrl.h"
#include "core/rng.h"

// A loaded image set. Set up with cdrl_images_load, released with cdrl_images_deinit.
// Read-only after loading: any number of threads may draw batches at once, each with its own rng.
typedef struct cdrl_images {
    char *spec;    // the spec given to load (owned), e.g. "cifar10:data/cifar:test"
    size_t n;      // N images
    int c, h, w;   // C channels (1 grey, 3 RGB), H, W after padding
    float *x;      // (N, C, H, W) values in [-1, 1] (owned)
    int *labels;   // (N, n_attrs) class index 0..K-1, or -1 when unknown (owned)
    int n_classes; // K; 0 when no image has a class (a folder without sub-folders)
    int n_attrs;   // label attributes: 1, except for generated sets (shapes: 4)
    int attr_classes[CDRL_MAX_ATTRS];       // K of each attribute (attribute 0: n_classes)
    const char *attr_names[CDRL_MAX_ATTRS]; // static names ("class" for the loaded sets)
    char **class_names; // (K) names (owned): the 10 classes of the dataset, or the sub-folders
} cdrl_images;

typedef struct cdrl_images_params {
    int pad;     // pixels of -1 (black) added on each side: 2 turns 28x28 into 32x32. Default 0
    int test;    // 1: the test split (t10k-*, test_batch.bin); a ":test" spec suffix does the same
    int without; // a class 0..K-1 whose images are left out (the set keeps its K classes, so
                 // that a model trained on it meets that class only as out-of-distribution
                 // data); -1: none. Default -1
} cdrl_images_params;

// Defaults: no padding, the train split, every class.
void cdrl_images_params_init(cdrl_images_params *p);

// Loads the set named by spec into *s:
//   "fashion-mnist:DIR", "mnist:DIR"  DIR/train-images-idx3-ubyte.gz + train-labels-idx1-ubyte.gz
//                                     (t10k-* for the test split; the name without .gz is
//                                     tried when the .gz is absent)
//   "cifar10:DIR"                     DIR/data_batch_1.bin .. data_batch_5.bin (test_batch.bin)
//   "folder:DIR"                      every .png/.jpg/.jpeg in DIR's sub-folders (class = sorted
//                                     sub-folder index) and in DIR itself (label -1)
// with an optional ":test" or ":train" suffix for the split (it wins over p->test). p may be
// NULL (defaults). Returns CDRL_OK; CDRL_STATUS_INVALID for an unknown kind, an empty DIR or
// a negative pad; CDRL_STATUS_IO when a file or folder cannot be opened; CDRL_STATUS_FORMAT for
// a bad magic number, a truncated or oversized file, a label out of range, an unreadable image;
// CDRL_STATUS_MISMATCH when image and label counts differ or a folder's images differ in size
// or channels; CDRL_STATUS_NOMEM. Each failure logs one line naming the file and the fault.
// On failure *s owns nothing and cdrl_images_deinit(s) is harmless. s and spec must not be
// NULL; spec is copied.
cdrl_status cdrl_images_load(cdrl_images *s, const char *spec, const cdrl_images_params *p);

// Allocates s's x and labels (n_attrs per image, 1 when unset) for n images of c x h0 x w0
// plus pad pixels a side; labels start at -1. what names the set in the error.
cdrl_status cdrl_images_alloc(cdrl_images *s, size_t n, int c, int h0, int w0, int pad,
                              const char *what);

// The generated set "shapes[:test][:holdout=..]" (data/shapes.c, docs/data.md): 28x28 grey
// images of one shape each, labelled by four attributes (shape, size, position, brightness).
cdrl_status cdrl_shapes_load(cdrl_images *s, const char *spec, int pad);

// Frees what s owns and zeroes it. s may be NULL; deinit twice is harmless.
void cdrl_images_deinit(cdrl_images *s);

// Floats per image: C * H * W.
size_t cdrl_images_dim(const cdrl_images *s);

// Copies images idx[0..B-1] into out (B, C, H, W) and their labels into labels (B) (labels may
// be NULL); image b is mirrored left-right when flip is not NULL and flip[b] is non-zero.
// Every idx[b] < N (CDRL_ASSERT). Never allocates.
void cdrl_images_gather(const cdrl_images *s, float *out, int *labels, const uint32_t *idx,
                        const uint8_t *flip, int B);

// A training batch, drawn in chunks of 1024 images: for a chunk of m, m indices uniform with
// replacement (cdrl_rng_int, m = N), then, when flip is non-zero, m fair coins (cdrl_rng_int,
// 2) choosing which images are mirrored; then cdrl_images_gather. The bytes written are a
// function of the rng state and B alone (any thread count). labels may be NULL; B >= 0.
// Never allocates.
void cdrl_images_batch(const cdrl_images *s, float *out, int *labels, int B, cdrl_rng *rng,
                       int flip);

#endif // CDRL_DATA_IMAGES_H
