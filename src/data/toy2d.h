// 2-D data sources for the toy experiments: the official CDRL checkerboard (method.md §5.6),
// the usual toy densities of the EBM / normalising-flow literature, and `points:FILE` (a CSV of
// x,y rows). Every definition, constant and entropy is written out in docs/data.md.
// Randomness comes only from the caller's cdrl_rng, drawn in bulk, so a seed gives the same
// points for any thread count. Labels: a CSV may carry integer label columns after x,y (its
// header names them: x,y,quadrant,colour), and the generators label each point by its
// component (docs/data.md). Not here: batching without replacement over a fixed set (the
// trainer's job), higher dimensions.
#ifndef CDRL_DATA_TOY2D_H
#define CDRL_DATA_TOY2D_H

#include <stddef.h>

#include "cdrl.h"
#include "core/rng.h"

#define CDRL_TOY2D_MAX_LABEL 999 // labels of a CSV: 0..999
#define CDRL_TOY2D_NAME_MAX  32  // bytes of an attribute's name, with its terminator

typedef enum cdrl_toy2d_kind {
    CDRL_TOY2D_CHECKERBOARD = 0, // "checkerboard": 8 squares of side 4 on [-8,8]^2 (CDRL)
    CDRL_TOY2D_8GAUSSIANS,       // "8gaussians": 8 Gaussians on a circle of radius 4 sqrt(2)
    CDRL_TOY2D_25GAUSSIANS,      // "25gaussians": 5 x 5 grid of Gaussians, spacing 3
    CDRL_TOY2D_RINGS,            // "rings": 4 noisy concentric circles, radii 1.5 .. 6
    CDRL_TOY2D_MOONS,            // "moons": two interleaved noisy half circles of radius 4
    CDRL_TOY2D_SWISSROLL,        // "swissroll": noisy spiral r = 0.4 t, t in [1.5 pi, 4.5 pi]
    CDRL_TOY2D_PINWHEEL,         // "pinwheel": 5 curved arms
    CDRL_TOY2D_2SPIRALS,         // "2spirals": two interleaved spirals of 1.5 turns
    CDRL_TOY2D_POINTS,           // "points:FILE": uniform over the rows of a CSV
} cdrl_toy2d_kind;

// A data source. Set up with cdrl_toy2d_from_name, released with cdrl_toy2d_deinit. Read-only
// after setup: any number of threads may sample from one source at once, each with its own rng.
typedef struct cdrl_toy2d {
    cdrl_toy2d_kind kind;
    char *spec;      // the name given to from_name (owned), e.g. "moons" or "points:a.csv"
    float *points;   // (n_points, 2) rows x, y of the CSV (owned); NULL for generators
    size_t n_points; // rows in points; 0 for generators
    float box[4];    // xmin, xmax, ymin, ymax: see cdrl_toy2d_bbox
    double entropy;  // differential entropy in nats; NaN when not known
    // Labels: A attributes, attribute a with classes 0..K_a - 1 and a name
    int n_attrs;
    int attr_classes[CDRL_MAX_ATTRS];
    char attr_names[CDRL_MAX_ATTRS][CDRL_TOY2D_NAME_MAX];
    int *labels; // (n_points, n_attrs) of a CSV (owned); NULL for generators
} cdrl_toy2d;

// Sets up *g from spec: a generator name above, or "points:FILE" which loads FILE now.
// Returns CDRL_OK, or CDRL_STATUS_INVALID for an unknown name (or an empty FILE name),
// CDRL_STATUS_IO when FILE cannot be read, CDRL_STATUS_FORMAT for a malformed CSV (the log
// callback names the file and the line: `data.csv:17: expected two numbers "x,y", got "..."`),
// CDRL_STATUS_NOMEM. On failure *g owns nothing and cdrl_toy2d_deinit(g) is harmless.
// g and spec must not be NULL; spec is copied.
cdrl_status cdrl_toy2d_from_name(cdrl_toy2d *g, const char *spec);

// Frees what g owns and zeroes it. g may be NULL; deinit twice is harmless.
void cdrl_toy2d_deinit(cdrl_toy2d *g);

// Draws n points into out (n, 2) (x then y per row), advancing rng. The same rng state gives the
// same bytes for any thread count. Never allocates. n may be 0.
void cdrl_toy2d_sample(const cdrl_toy2d *g, float *out, size_t n, cdrl_rng *rng);
// The same points (the same draws) with their labels (n, n_attrs) in labels.
void cdrl_toy2d_sample_labelled(const cdrl_toy2d *g, float *out, int *labels, size_t n,
                                cdrl_rng *rng);

// The spec the source was made from ("checkerboard", "points:data.csv"); owned by g.
const char *cdrl_toy2d_name(const cdrl_toy2d *g);

// Differential entropy of the data density in nats, NaN when it is not known (points, moons,
// swissroll, pinwheel, 2spirals). Exact for checkerboard (ln 128), for 25gaussians (no overlap
// at double precision) and by converged quadrature for 8gaussians and rings (docs/data.md).
double cdrl_toy2d_entropy(const cdrl_toy2d *g);

// log p(x, y) of the data density, for the generators whose density is known in closed form
// (those with a known entropy); -INFINITY off the support of checkerboard; NaN for the others.
double cdrl_toy2d_log_density(const cdrl_toy2d *g, double x, double y);

// The plotting / density-grid box: box = {xmin, xmax, ymin, ymax}. [-8,8]^2 for every
// generator (the CDRL visualisation grid, holding at least 99.9% of each density); for points
// the smallest box around the points widened by 5% of its extent (at least 0.1) on every side.
void cdrl_toy2d_bbox(const cdrl_toy2d *g, float box[4]);

// The loaded CSV rows (n, 2), with *n set to their count; NULL and *n = 0 for generators.
// Owned by g. n may be NULL.
const float *cdrl_toy2d_points(const cdrl_toy2d *g, size_t *n);

// Name of the i-th generator (i = 0, 1, ...), NULL past the last: for help texts.
const char *cdrl_toy2d_generator_name(size_t i);

#endif // CDRL_DATA_TOY2D_H
