// cdrl: Cooperative Diffusion Recovery Likelihood in C11.
//
// This header is the whole public API. The library never prints and never exits (but for
// cdrl_mpi_abort, which ends a job of many processes when asked): every
// failure the caller cannot prevent comes back as a cdrl_status (CDRL_OK = 0, errors < 0)
// and its detail (path, expected vs found, a hint) goes to the log callback.
//
//     cdrl_set_log_callback(my_log, my_data);   // optional: default is silence
//     cdrl_set_threads(2);                       // results are identical for any count
//
// Programming errors (a NULL where none is allowed, a wrong shape) are not statuses: they
// trip CDRL_ASSERT, which prints the expression with file:line and aborts.
//
// What follows, in order: statuses and the log; threads; processes (MPI); the configuration
// (cdrl_config, presets, JSON); data sets; models (create, load and save checkpoints, train one
// iteration, sample, energies and log-densities); 2-D evaluation (exact NLL, MMD); the image
// yardstick (classifier, FD, KID, precision and recall). Structs with defaults come with an init
// function that fills them in (cdrl_*_params_init, cdrl_config_preset).
#ifndef CDRL_H
#define CDRL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CDRL_VERSION_MAJOR 0
#define CDRL_VERSION_MINOR 1
#define CDRL_VERSION_PATCH 0

typedef enum cdrl_status {
    CDRL_OK = 0,
    CDRL_STATUS_IO = -1,        // a file could not be opened, read, written or renamed
    CDRL_STATUS_FORMAT = -2,    // a file is corrupt, truncated or of the wrong kind
    CDRL_STATUS_MISMATCH = -3,  // a file or value does not fit what was expected (shape, config)
    CDRL_STATUS_NOMEM = -4,     // an allocation failed
    CDRL_STATUS_INVALID = -5,   // an invalid configuration or argument value
    CDRL_STATUS_DIVERGED = -6,  // a loss or a sample became NaN or Inf
    CDRL_STATUS_CANCELLED = -7, // the caller asked to stop
} cdrl_status;

// Name of a status ("CDRL_STATUS_IO"); never NULL.
const char *cdrl_status_str(cdrl_status s);

typedef enum cdrl_log_level {
    CDRL_LOG_DEBUG = 0,
    CDRL_LOG_INFO = 1,
    CDRL_LOG_WARN = 2,
    CDRL_LOG_ERROR = 3,
} cdrl_log_level;

// The log callback gets one message without a trailing newline. It is the library's only
// global state; set it before starting threads. NULL restores silence.
typedef void (*cdrl_log_fn)(cdrl_log_level level, const char *msg, void *user);
void cdrl_set_log_callback(cdrl_log_fn fn, void *user);

// Number of threads for the library's parallel loops (OpenMP). n <= 0 keeps the default.
// Results do not depend on it: work is split into fixed chunks, never by thread. How waiting
// threads wait is libgomp's, read from the environment when the program starts: the cdrl
// command runs with OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=1000 (docs/speed.md), and a program
// linking the library gets the same speed by starting with them set.
void cdrl_set_threads(int n);
int cdrl_threads(void);

// Processes of a data-parallel job (Open MPI; README "Many processes"). In a library built
// with MPI, cdrl_mpi_init joins the job when a launcher (mpirun, srun) started the program, and
// does nothing otherwise; without MPI the program is always rank 0 of 1. Training in a job
// shares each batch's chunks (cdrl_config.grad_chunks) among the processes and gives the bytes
// of one process. Call cdrl_mpi_init first, before making models; cdrl_mpi_finalize last.
cdrl_status cdrl_mpi_init(int *argc, char ***argv);
void cdrl_mpi_finalize(void);
int cdrl_mpi_rank(void);
int cdrl_mpi_size(void);
// 1 when flag is set on any process (a collective: every process calls it).
int cdrl_mpi_any(int flag);
// Ends the whole job at once with this exit code (a failure the other processes cannot see).
void cdrl_mpi_abort(int code);
// Samples made in batches: n items of item_floats floats in batches of `batch` items, batch b
// made by rank b % size (cdrl_mpi_mine). After the call every rank holds every batch in x.
// A collective.
int cdrl_mpi_mine(int b);
void cdrl_mpi_gather_batches(float *x, int n, int batch, size_t item_floats);

// Compute backend of every op: "cpu" (the default: oneDNN, OpenMP) or "ref" (plain scalar
// loops, one thread: slow, for checking results). The environment variable CDRL_BACKEND sets
// it too. Choose before making models: their buffers come from the backend active then.
// CDRL_STATUS_INVALID for an unknown name.
cdrl_status cdrl_set_backend(const char *name);
const char *cdrl_backend_name(void);

// ---------------------------------------------------------------------------------------
// Models: a CDRL model is the pair of networks (energy network and initializer) of every noise
// level, their EMA copies, the optimiser state and the random stream: everything a checkpoint
// holds, so that training resumes exactly.
//
//     cdrl_config cfg;
//     cdrl_config_toy_official(&cfg);            // or a preset; then edit fields
//     cdrl_dataset *data;  cdrl_dataset_open(&data, "checkerboard");
//     cdrl_model *m;       cdrl_model_create(&m, &cfg);
//     for (int i = 0; i < 1000; i++) cdrl_model_train_step(m, data, &stats);
//     cdrl_model_save(m, "run/model.safetensors");
//     cdrl_model_sample(m, samples, NULL, 5000, 15, 1, 42);
//     cdrl_model_free(m);  cdrl_dataset_free(data);

typedef enum cdrl_model_kind {
    CDRL_MODEL_TOY = 0, // 2-D data, MLP networks (method.md §5.6)
    CDRL_MODEL_IMAGE =
        1, // images (in_ch, res, res): SN ResNet EBM + U-Net initializer (§5.4, §5.5)
} cdrl_model_kind;

#define CDRL_CONFIG_MAX_MULT 8 // entries of ebm_ch_mult
#define CDRL_MAX_ATTRS       4 // label attributes of a conditional model
#define CDRL_CONFIG_MAX_ATTN 6 // entries of unet_attn

typedef struct cdrl_config {
    cdrl_model_kind kind;
    int dim; // values per sample: 2 for the toy, in_ch * res * res for images
    // toy networks (method.md §5.6); ebm_ch and ebm_blocks also size the image EBM
    int ebm_ch;      // EBM base width (embedding width; hidden 4x): 128 (toy and images)
    int ebm_blocks;  // blocks per width multiplier: 1 toy (1,2,2,2); 8 images (per ch_mult entry)
    int init_t_dim;  // initializer embedding width: 128
    int init_h_dim;  // initializer hidden width (multiple of 32): 64
    int init_blocks; // 1
    // schedule (method.md §1)
    int n_levels;                  // T: 6
    double logsnr_min, logsnr_max; // -5.1, 9.8
    double step_b;                 // Langevin constant b: 1e-3 toy
    // training (method.md §4)
    int batch;               // 2500
    int n_langevin;          // K: 15
    int langevin_ref_steps;  // K_ref that step_b is set for: Langevin runs with the step-size rule
                             // of method.md §2.3 (multiplier K_ref / K, in training and sampling);
                             // 0: K_ref = n_langevin (official: multiplier 1 in training)
    float lr_ebm, lr_init;   // 3e-6, 1e-5
    long warmup_ebm;         // 10000
    long warmup_init;        // 10000
    long warmup_init_offset; // 500
    long lr_decay_iters;     // 0: constant rates (official); else cosine decay to 0 at this step
    long iters;              // planned training length (the CLI's default --iters): 100001
    float ema_ebm, ema_init; // 0.9999
    int ema_ramp;   // 1 (official): decay min(d, (1+n)/(10+n)) at update n; 0: d throughout
    float clip;     // 1.0
    uint64_t seed;  // 1
    char data[512]; // data spec the model is trained on ("checkerboard", "points:F")
    // image networks (kind CDRL_MODEL_IMAGE; ignored by the toy)
    int in_ch;                             // image channels: 3 (1 grey)
    int res;                               // H = W: 32
    int ebm_n_mult;                        // entries of ebm_ch_mult: 4
    int ebm_ch_mult[CDRL_CONFIG_MAX_MULT]; // EBM width multipliers of ebm_ch: (1, 2, 2, 2)
    int unet_dim;                          // U-Net width (a multiple of 32): 64
    int unet_levels;                       // U-Net resolution levels (dim_mults all 1): 3
    int unet_res_blocks;                   // ResBlocks per level: 3
    int unet_n_attn;                       // entries of unet_attn: 2
    int unet_attn[CDRL_CONFIG_MAX_ATTN];   // resolutions whose ResBlocks get attention: {16, 8}
    float unet_dropout;                    // 0.1 (training only)
    int n_classes;    // 0: unconditional; K: labels 1..K of the data's classes 0..K-1, 0 null
                      // (with several attributes: the first attribute's K)
    int n_more_attrs; // label attributes after the first (data with several label
                      // columns, or several attributes per image): 0
    int more_classes[CDRL_MAX_ATTRS - 1]; // their K, each labelled 1..K like the first
    float ebm_class_gain;   // value of the EBM's class one-hot: 1 (official; 0 reads as 1)
    int flip;               // 1: random horizontal flips of the training batches (images)
    float label_drop;       // conditional models: share of training labels replaced by the null
                            // label 0 (p_cond, 0.1)
    float init_data_weight; // diagnostic, not CDRL: the initializer regresses on (1 - a) refined
                            // samples + a x_{j-1} of the data pair; 0 (CDRL); 1 gives the ideal
                            // initializer, E[x_{j-1} | x_j], to bound what its proposals can reach
    int langevin_clip;      // images, not in the official training: 1 clamps the Langevin iterates
                            // of the lowest pair (j = 1, whose target is the data) to the data's
                            // range [-1, 1] after every step, in training and sampling; 0: off
    int langevin_bf16;      // images, not in the official code: 1 runs the Langevin passes'
                            // convolution products with bfloat16 operands (float sums, float
                            // weights; CPUs with AVX512_BF16, about twice the speed), in training
                            // and sampling; 0: float. Energies, losses and gradients of the
                            // weights stay float.
    int grad_chunks;        // 1 (0 reads as 1): the batch runs as one pass; C > 1 cuts it into C
                            // fixed chunks of rows, each run through the iteration on its own,
                            // their gradients added in chunk order. A job of P <= C processes
                            // (mpirun) shares the chunks and gives the same bytes as one process
                            // with the same C; C changes the rounding, not the method
} cdrl_config;

// The official toy configuration (toy_example.py of the official code).
void cdrl_config_toy_official(cdrl_config *c);
// Presets by name: "official-toy", "demo", "quality" (2-D); "official-cifar10" (the official
// unconditional CIFAR-10 model, method.md §4.2, §4.3, §5.4, §5.5: batch 256, lr 1e-4 / 1e-5,
// warm-up 10000 with offset 500 for the initializer, EMA 0.9999, K 15, b 2e-4 with per-pair
// C_j, 500001 iterations, seed 5, flips), "fmnist-cpu" (class-conditional Fashion-MNIST at
// 28x28, 2700 iterations, about an hour on 2 cores: FD 44.7 and class accuracy 0.79 at
// N = 1000, docs/tuning.md) and "tiny-image" (8x8 grey images, tiny widths, batch 8, K 3: for
// tests). CDRL_STATUS_INVALID for others.
cdrl_status cdrl_config_preset(cdrl_config *c, const char *name);
#define CDRL_PRESET_NAMES                                                                          \
    "official-toy, demo, quality (2-D); fmnist-cpu, official-cifar10, "                            \
    "tiny-image (images)"
// CDRL_OK when every field is in range, else CDRL_STATUS_INVALID naming the field
// (cdrl_model_create checks the same).
cdrl_status cdrl_config_check(const cdrl_config *c);
// The configuration as one JSON object (what checkpoints store). Returns the length written
// (excluding the NUL), or -1 when n is too small.
int cdrl_config_to_json(const cdrl_config *c, char *buf, size_t n);
// Parses a configuration written by cdrl_config_to_json; missing keys keep c's values.
cdrl_status cdrl_config_from_json(cdrl_config *c, const char *json);
// Sets one field by its JSON key from text: a number ("32", "2e-4"), a comma-separated list
// for the arrays ("1,2,2" also sets ebm_n_mult; "16,8" unet_n_attn; "" empties), the data spec
// as it is. CDRL_STATUS_INVALID (logged, naming the key and the value) for an unknown key or a
// value that is not of the field's type; c is unchanged then.
cdrl_status cdrl_config_set(cdrl_config *c, const char *key, const char *value);

typedef struct cdrl_dataset cdrl_dataset;
// Opens a data source: a 2-D generator name ("checkerboard", "8gaussians", "25gaussians",
// "rings", "moons", "swissroll", "pinwheel", "2spirals") or "points:FILE" (CSV of x,y), or an
// image set loaded whole into memory as (N, C, H, W) floats in [-1, 1] (docs/data.md):
// "fashion-mnist:DIR", "mnist:DIR", "cifar10:DIR", "folder:DIR", each optionally followed by
// ":test" / ":train" (the split) and then by ":padN" (N pixels of -1 on every side; ":pad2"
// turns 28x28 into 32x32), e.g. "fashion-mnist:data/fmnist:pad2". The padding is part of the
// spec so that the spec stored in a checkpoint's config reopens the same data.
// For images: dim = C*H*W, entropy NaN, bbox {-1, 1, -1, 1}, size N, points the images.
cdrl_status cdrl_dataset_open(cdrl_dataset **out, const char *spec);
void cdrl_dataset_free(cdrl_dataset *d); // NULL is a no-op
int cdrl_dataset_dim(const cdrl_dataset *d);
// Entropy of the data density in nats, NaN when unknown.
double cdrl_dataset_entropy(const cdrl_dataset *d);
// Box around the data: {xmin, xmax, ymin, ymax} (2-D only).
void cdrl_dataset_bbox(const cdrl_dataset *d, float box[4]);
// Draws n samples (n, dim) with the given seed and stream (generators; images: uniform with
// replacement, no flips), or the points of a file in order (files; n at most their count, see
// cdrl_dataset_size).
void cdrl_dataset_draw(const cdrl_dataset *d, float *out, size_t n, uint64_t seed, uint64_t stream);
// The same samples with their labels (n, A) (cdrl_dataset_attrs; -1 where unknown).
void cdrl_dataset_draw_labelled(const cdrl_dataset *d, float *out, int *labels, size_t n,
                                uint64_t seed, uint64_t stream);
// log p(x, y) of a 2-D generator's density where it is known in closed form (checkerboard,
// 8gaussians, 25gaussians, rings; -INFINITY off checkerboard's support); NaN for the other
// sources and for images.
double cdrl_dataset_log_density(const cdrl_dataset *d, double x, double y);
// Labels. A data set's samples carry A label attributes (0: none): an image set with classes
// has one (its classes), a 2-D CSV its label columns (named by the header), a generator its
// components (docs/data.md; rings also the quadrant). Attribute a has classes 0..K_a - 1; a
// conditional model calls them 1..K_a (0 null).
int cdrl_dataset_attrs(const cdrl_dataset *d);
int cdrl_dataset_attr_classes(const cdrl_dataset *d, int a);      // K_a; 0 outside 0..A-1
const char *cdrl_dataset_attr_name(const cdrl_dataset *d, int a); // "class" for images; NULL
                                                                  // outside 0..A-1
// K of the first attribute (0 when there is none).
int cdrl_dataset_classes(const cdrl_dataset *d);
// The labels (N, A) of an image set (its classes, -1 unknown) or of a CSV's points; NULL for
// generators and unlabelled sets.
const int *cdrl_dataset_labels(const cdrl_dataset *d);
// The generated image set "shapes" (docs/data.md) has four attributes: shape (0 circle, 1
// square, 2 triangle), size (0 small, 1 large), position (0..3: upper left, upper right, lower
// left, lower right) and brightness (0 grey, 1 white). This reads them back from the pixels
// of images x (n, 1, side, side) in [-1, 1] (side 28, or 28 plus even padding) into attrs
// (n, CDRL_SHAPES_ATTRS): the fill of the shape's bounding box, its area, its centroid and
// its mean value; -1 for all four when no shape is there. CDRL_STATUS_MISMATCH for another side.
#define CDRL_SHAPES_ATTRS 4
cdrl_status cdrl_shapes_read(int *attrs, const float *x, int n, int side);
// Number of points of a file source; 0 for generators.
size_t cdrl_dataset_size(const cdrl_dataset *d);
// The file's points (n, dim) or NULL for generators.
const float *cdrl_dataset_points(const cdrl_dataset *d);

typedef struct cdrl_train_stats {
    long step;                 // iterations completed, this one included
    float loss_ebm, loss_init; // the two losses
    float f_pos, f_neg;        // mean energies of data and refined samples
    float grad_norm_ebm, grad_norm_init;
    float lr_ebm, lr_init;
} cdrl_train_stats;

typedef struct cdrl_model cdrl_model;
cdrl_status cdrl_model_create(cdrl_model **out, const cdrl_config *c);
// Loads a checkpoint written by cdrl_model_save (configuration, weights, EMA, optimiser, RNG).
// Also reads the weights-only files tools/convert_official.py makes of official checkpoints
// (docs/formats.md, format cdrl-image-weights): the official-cifar10 preset with the file's
// network sizes, its weights and EMA copies, fresh Adam moments, step = the EBM's EMA update
// count; CDRL_STATUS_MISMATCH for networks cdrl does not build (class labels, U-Net
// dim_mults other than 1, EBM and U-Net of different shapes, temb_dim != ch).
cdrl_status cdrl_model_load(cdrl_model **out, const char *path);
// Writes "<path>.tmp", then renames it to path: a crash never leaves a half-written file.
cdrl_status cdrl_model_save(const cdrl_model *m, const char *path);
void cdrl_model_free(cdrl_model *m); // NULL is a no-op
const cdrl_config *cdrl_model_config(const cdrl_model *m);
long cdrl_model_step(const cdrl_model *m);
// One training iteration on a batch drawn from data with the model's own random stream (images:
// with flips when the config's flip is set). CDRL_STATUS_MISMATCH when the data's dim is not
// the model's. CDRL_STATUS_DIVERGED on NaN/Inf, before any weight, moment or EMA update.
cdrl_status cdrl_model_train_step(cdrl_model *m, const cdrl_dataset *data, cdrl_train_stats *st);
// n samples (n, dim) through the whole chain with K Langevin steps per level (K < the
// training K uses the step-size rule of method.md §2.3). levels (T, n, dim), when not NULL,
// receives each level's samples, the noisiest first. use_ema picks the EMA weights. Images end
// with the Tweedie denoising step (method.md §6); levels then holds the chain's x_0 before it.
// The precision of the Langevin passes' convolution products from now on (the config's
// langevin_bf16: 1 bfloat16 operands, 0 float), for sampling a model trained either way.
// CDRL_STATUS_INVALID for a 2-D model and bf16.
cdrl_status cdrl_model_set_langevin_bf16(cdrl_model *m, int bf16);
cdrl_status cdrl_model_sample(cdrl_model *m, float *out, float *levels, int n, int n_langevin,
                              int use_ema, uint64_t seed);
// Unnormalised log-density of pair j's EBM at points x (n, dim): f(sqrt(kappa_j) x,
// lambda_{j-1}) / h_j (the official visualisation; j = 1 is the data level). dlogp (n, dim)
// receives its gradient wrt x unless NULL.
cdrl_status cdrl_model_log_density(cdrl_model *m, float *logp, float *dlogp, const float *x, int n,
                                   int pair, int use_ema);
// cdrl_model_sample for class-conditional models (config n_classes > 0): label (n, A) holds each
// sample's class as 1..n_classes (0 = unconditional, the null label; NULL: 0 for all; with
// A = 1 + n_more_attrs attributes, one label per attribute) and
// guidance the weight w of classifier-free guidance (method.md §7: both networks give
// (1 + w) out(c) - w out(0), twice the cost; 0 turns it off). Unconditional models ignore both.
// n_langevin = 0 gives the initializer's proposals alone: at every level y = mu(x_j) + the
// initializer's noise, no Langevin step and no final Tweedie step (what the initializer has
// learnt, for the yardstick's fd_init / acc_init).
cdrl_status cdrl_model_sample_cond(cdrl_model *m, float *out, float *levels, const int *label,
                                   float guidance, int n, int n_langevin, int use_ema,
                                   uint64_t seed);

// Everything sampling can take beyond the count, in one struct (cdrl_sample_params_init sets
// the defaults; then edit fields):
//
//     cdrl_sample_params sp;  cdrl_sample_params_init(&sp);
//     sp.n_terms = 2;                                      // compose two concepts
//     sp.label[0] = shirts; sp.weight[0] = 2;              // (n) labels each
//     sp.label[1] = bright; sp.weight[1] = 2;
//     cdrl_model_sample_with(m, out, n, &sp);
//
// Conditioning (models with n_classes > 0; method.md §7, §8): the energy of every Langevin
// step and of the final denoising step, and the initializer's mean, are combined from n_terms
// terms of labels c_i and weights w_i as
//   f(y | c_1..c_n) = f(y, null) + sum_i (1 + w_i) [f(y, c_i) - f(y, null)],
// so one term is classifier-free guidance with w = w_1 (cdrl_model_sample_cond), several
// terms the composition of their concepts (a product of experts); each term costs one more
// pass of both networks. n_terms = 0 samples the unconditional model f(y, null).
// Inpainting (images and 2-D): where mask (n, dim) is non-zero, the values known (n, dim) are
// observed. The chain starts from their forward-noised value at the top level, and at every
// level the observed values of the Langevin variable are set to their forward-noised value at
// that level (one noise draw per level) before the first step and after each step; the output
// holds known's values exactly where mask is non-zero.
#define CDRL_SAMPLE_MAX_TERMS 8
typedef struct cdrl_sample_params {
    int n_langevin; // K per level: the config's n_langevin (15); 0: the initializer's proposals
    int use_ema;    // 1: the EMA weights
    uint64_t seed;  // 1: the initial noise and every draw of the chain
    float *levels;  // (T, n, dim) receives each level's samples (cdrl_model_sample), or NULL
    int n_terms;    // 0..CDRL_SAMPLE_MAX_TERMS conditioning terms: 0
    const int *label[CDRL_SAMPLE_MAX_TERMS]; // (n, A) labels of term i, per attribute 0..K
                                             // (0 = null); A = 1 + n_more_attrs
    float weight[CDRL_SAMPLE_MAX_TERMS];     // w_i >= 0 of term i: 0
    const float *known; // (n, dim) observed values (data range), read where mask != 0; or NULL
    const float *mask;  // (n, dim) non-zero where a value is observed; NULL: no inpainting
    int resample;       // jumps back per level (RePaint, for inpainting): every level runs
                        // 1 + resample times, its output noised forward to the level again in
                        // between, so that the filled values can agree with the kept ones: 0
} cdrl_sample_params;
// Defaults for model m (n_langevin from its config); m may be NULL (n_langevin 15).
void cdrl_sample_params_init(cdrl_sample_params *p, const cdrl_model *m);
// n samples (n, dim) into out with the settings of p (NULL: the defaults).
// CDRL_STATUS_INVALID for n_terms out of range or terms on an unconditional model, a label out
// of range, a weight that is negative or not finite, known without mask or the reverse, or
// non-finite known values under the mask; DIVERGED as cdrl_model_sample.
cdrl_status cdrl_model_sample_with(cdrl_model *m, float *out, int n, const cdrl_sample_params *p);
// The raw network output of pair j's EBM, f (n) = f(sqrt(kappa_j) x, lambda_{j-1}) at points
// x (n, dim) (images: (n, in_ch, res, res) in [-1, 1]), and dfdx (n, dim), its gradient wrt x
// (the sqrt(kappa_j) included), unless NULL. log density = f / h_j (cdrl_model_langevin_h);
// higher f = more probable. CDRL_STATUS_INVALID for a pair outside 1..T, DIVERGED on NaN/Inf.
cdrl_status cdrl_model_energy(cdrl_model *m, float *f, float *dfdx, const float *x, int n, int pair,
                              int use_ema);
// cdrl_model_log_density under the conditioning of p (its terms, weights and use_ema; the
// other fields are not used): log p = f_c / h_j with f_c = f(null) + sum_i (1 + w_i) [f(c_i) -
// f(null)] at pair j, and its x-gradient unless dlogp is NULL. One term of weight 0 is the
// class-conditional density p(x | c) up to its normaliser. INVALID as cdrl_model_sample_with.
cdrl_status cdrl_model_log_density_with(cdrl_model *m, float *logp, float *dlogp, const float *x,
                                        int n, int pair, const cdrl_sample_params *p);
// h_j, pair j's Langevin noise variance (method.md §2: h_j = 2 b C_j sigma_j^2), which turns
// f into the log density; NaN for a pair outside 1..T.
double cdrl_model_langevin_h(const cdrl_model *m, int pair);
// Tensor table for `cdrl info`: writes the i-th tensor's name (truncated to name_size) and
// element count; returns 0 past the last tensor.
int cdrl_model_tensor(const cdrl_model *m, int i, char *name, size_t name_size, size_t *numel);
// Shape of the i-th tensor of that table: returns its number of dimensions (at most 4) and
// writes them to shape; 0 past the last tensor.
int cdrl_model_tensor_shape(const cdrl_model *m, int i, int64_t shape[4]);

// ---------------------------------------------------------------------------------------
// Evaluation of 2-D models (docs/cli.md, `cdrl eval`): the exact negative log-likelihood of
// held-out points, the density being normalised on a grid, and the MMD between point sets.
//
//     cdrl_nll_params np;  cdrl_nll_params_init(&np);  // box, grid size, tolerance
//     cdrl_dataset_bbox(data, np.box);  cdrl_box_widen(np.box, 0.1f);
//     cdrl_nll_result r;   cdrl_model_nll(m, points, n, &np, &r);    // r.nll in nats
//     double h = cdrl_eval_median_distance(data_pts, n, 2);
//     double mmd2 = cdrl_eval_mmd2(samples, n, data_pts, n, 2, h);

// An unnormalised log-density: logp (n) at the points x (n, 2). Returns CDRL_OK or a status
// that the caller passes on; -INFINITY marks a point off the support.
typedef cdrl_status (*cdrl_log_density_fn)(void *user, float *logp, const float *x, int n);

#define CDRL_NLL_MAX_GRIDS 8
typedef struct cdrl_nll_params {
    float box[4]; // xmin, xmax, ymin, ymax of the normalising grid
    int res;      // R: the first grid has R x R cells
    int max_res;  // the finest grid tried (R, 2R, 4R, ... up to this)
    double tol;   // converged once |NLL(2r) - NLL(r)| < tol nats
} cdrl_nll_params;

// Defaults: box [-9.6, 9.6]^2 (the generators' [-8,8]^2 widened by 10% on every side),
// res 128, max_res 1024, tol 0.01 (docs/cli.md "Evaluation" has the measurements behind them).
void cdrl_nll_params_init(cdrl_nll_params *p);
// Widens box {xmin, xmax, ymin, ymax} by frac of its extent on every side.
void cdrl_box_widen(float box[4], float frac);

typedef struct cdrl_nll_result {
    double nll;       // mean over the points of -log p = log Z - logp_unnorm, finest grid
    double log_z;     // log of the midpoint-rule integral of exp(logp) over the box, finest grid
    int res;          // the finest grid's R (cells per side)
    double change;    // |NLL(res) - NLL(res / 2)|; NaN when only one grid was evaluated
    int converged;    // change < tol
    double edge_mass; // share of the finest grid's mass in its outermost ring of cells
    int n_grids;      // grids evaluated, coarsest first
    int grid_res[CDRL_NLL_MAX_GRIDS];
    double grid_nll[CDRL_NLL_MAX_GRIDS];
} cdrl_nll_result;

// NLL of the points pts (n, 2) under p = exp(fn) / Z. fn is called once on the points and
// on every grid in chunks of at most 65536 cell centres; log Z is the log-sum-exp of fn at
// the R x R cell centres plus log(cell area) (the midpoint rule). Grids R, 2R, 4R, ... are
// evaluated until two successive NLLs differ by less than tol or the next would pass max_res.
// Returns CDRL_OK (nll is +INFINITY if fn is -INFINITY at some point), the status of fn,
// CDRL_STATUS_DIVERGED when fn gives NaN or +INFINITY, CDRL_STATUS_INVALID for bad params
// (res < 2, max_res < res, an empty box, n < 1) or a density that is zero on the whole grid,
// CDRL_STATUS_NOMEM. Deterministic: the sums run in a fixed order.
cdrl_status cdrl_eval_nll(cdrl_log_density_fn fn, void *user, const float *pts, int n,
                          const cdrl_nll_params *p, cdrl_nll_result *r);
// cdrl_eval_nll of the model's data-level density: cdrl_model_log_density with pair 1 and
// the EMA weights.
cdrl_status cdrl_model_nll(cdrl_model *m, const float *pts, int n, const cdrl_nll_params *p,
                           cdrl_nll_result *r);

// Lower median of the n (n - 1) / 2 Euclidean distances |x_i - x_j|, i < j, of x (n, dim):
// the element of rank floor((N - 1) / 2) of the sorted distances, N the pair count. NaN when
// n < 2. Allocates N floats (n = 5000: 50 MB); returns NaN if that fails (logged).
double cdrl_eval_median_distance(const float *x, int n, int dim);

// Biased (V-statistic) squared MMD between x (nx, dim) and y (ny, dim) with the RBF kernel
// k(a, b) = exp(-|a - b|^2 / (2 h^2)):
//   MMD^2 = mean_{i,i'} k(x_i, x_i') + mean_{j,j'} k(y_j, y_j') - 2 mean_{i,j} k(x_i, y_j),
// every mean over all pairs including i = i'. Double accumulation over fixed blocks of rows,
// so the value is the same for any thread count. h > 0, nx, ny >= 1.
double cdrl_eval_mmd2(const float *x, int nx, const float *y, int ny, int dim, double h);

// Out-of-distribution figures of scores that are higher for in-distribution inputs (the EBM's
// f at a level, `cdrl ood`): auroc = P(in > other) + P(in = other) / 2 over all pairs (ties
// count one half); fpr95 = the share of the other scores >= t, t the in-distribution score of
// rank floor(0.05 n_in) in ascending order (so at least 95% of them are >= t). Either output
// may be NULL. CDRL_STATUS_INVALID for an empty set or a NaN score; NOMEM.
cdrl_status cdrl_eval_ood(double *auroc, double *fpr95, const float *in, int n_in, const float *out,
                          int n_out);

// ---------------------------------------------------------------------------------------
// The image yardstick (docs/yardstick.md): a small CNN classifier trained on a labelled image
// set, whose 128-d penultimate activations are the features; the Fréchet distance (FD), the
// kernel inception distance (KID) and k-NN precision/recall of generated images against the
// reference statistics of a held-out split; the classifier's accuracy on the classes asked
// for and its class histogram.
//
//     cdrl_yardstick *ys;  cdrl_yardstick_load(&ys, "models/fmnist_classifier.safetensors");
//     cdrl_yardstick_result r;
//     cdrl_yardstick_score(ys, images, classes, n, 1, 28, NULL, &r);   // r.fd, r.kid, r.acc ...
//     cdrl_yardstick_free(ys);

#define CDRL_YARDSTICK_MAX_CLASSES 100

typedef struct cdrl_classifier cdrl_classifier;

typedef struct cdrl_classifier_params {
    int epochs;    // passes over the training set (batches drawn with replacement): 8
    int batch;     // 128
    float lr;      // Adam learning rate, cosine-decayed to 0 over the run: 2e-3
    int flip;      // random horizontal flips of the training batches: 1
    uint64_t seed; // weights and batches: 1
    // Called after every step with the running mean loss; non-zero cancels the training
    // (CDRL_STATUS_CANCELLED). May be NULL.
    int (*progress)(void *user, long step, long total, double loss);
    void *user;
} cdrl_classifier_params;
void cdrl_classifier_params_init(cdrl_classifier_params *p);

// Trains a classifier on the labelled image set data (every image must have a class). The
// same seed gives the same weights, byte for byte, with any thread count. CDRL_STATUS_INVALID
// for unlabelled, non-square or 2-D data; NOMEM; DIVERGED on a non-finite loss.
cdrl_status cdrl_classifier_train(cdrl_classifier **out, const cdrl_dataset *data,
                                  const cdrl_classifier_params *p);
// Writes the weights and the metadata pairs keys/vals (e.g. the command and test accuracy)
// as safetensors ("<path>.tmp", then renamed).
cdrl_status cdrl_classifier_save(const cdrl_classifier *c, const char *path,
                                 const char *const *keys, const char *const *vals, int n_meta);
// CDRL_STATUS_IO / FORMAT (not a classifier file, or another version) with the path logged.
cdrl_status cdrl_classifier_load(cdrl_classifier **out, const char *path);
void cdrl_classifier_free(cdrl_classifier *c); // NULL is a no-op
int cdrl_classifier_classes(const cdrl_classifier *c);
int cdrl_classifier_feature_dim(const cdrl_classifier *c); // F = 128
int cdrl_classifier_res(const cdrl_classifier *c);         // the image side it was trained at
int cdrl_classifier_channels(const cdrl_classifier *c);
// FNV-1a hash of the weight bytes: reference statistics record it.
uint64_t cdrl_classifier_fingerprint(const cdrl_classifier *c);
// The data spec it was trained on.
const char *cdrl_classifier_data(const cdrl_classifier *c);
// Runs the classifier on x (n, in_ch, side, side) in [-1, 1]; side may exceed the classifier's
// res by an even margin (padded data: the centre is cropped). Writes features (n, F), the
// predicted class 0..K-1 (n) and logits (n, K), each unless NULL. CDRL_STATUS_MISMATCH for
// images of another shape, DIVERGED for non-finite outputs, NOMEM.
cdrl_status cdrl_classifier_run(cdrl_classifier *c, float *features, int *pred, float *logits,
                                const float *x, int n, int in_ch, int side);

// Mean mu (d) and covariance cov (d, d) (divisor n - 1) of the rows of f (n, d), in double.
cdrl_status cdrl_eval_mean_cov(double *mu, double *cov, const float *f, int n, int d);
// Fréchet distance of two Gaussians: |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(sqrt(S1) S2
// sqrt(S1)), the square roots through LAPACK's symmetric eigen-decomposition (negative
// round-off eigenvalues count as 0). cov1, cov2 symmetric PSD (d, d).
cdrl_status cdrl_eval_fd(double *fd, const double *mu1, const double *cov1, const double *mu2,
                         const double *cov2, int d);
// KID: the unbiased MMD^2 with kernel k(a, b) = (a.b / d + 1)^3 between subsets of m rows of
// x (nx, d) and of y (ny, d), m = min(subset_size, nx, ny), each subset drawn without
// replacement (Philox stream 0 of seed), averaged over n_subsets; kid_std (may be NULL) is the
// standard deviation over the subsets (torch-fidelity's kid_subsets / kid_subset_size).
cdrl_status cdrl_eval_kid(double *kid, double *kid_std, const float *x, int nx, const float *y,
                          int ny, int d, int n_subsets, int subset_size, uint64_t seed);
// The same with the subsets given: mmd (n_subsets) receives each subset's MMD^2; idx_x and
// idx_y (n_subsets, m) are row indices of x and y (the twin's check).
cdrl_status cdrl_eval_kid_subsets(double *mmd, const float *x, const int *idx_x, const float *y,
                                  const int *idx_y, int d, int n_subsets, int m);
// Improved precision and recall (Kynkäänniemi et al. 2019): a set's manifold is the union of
// balls around its points reaching to each point's k-th nearest neighbour in the set.
// precision = share of fake rows inside the real manifold, recall = share of real rows inside
// the fake manifold. k in 1..15, both sets larger than k.
cdrl_status cdrl_eval_precision_recall(double *precision, double *recall, const float *real,
                                       int n_real, const float *fake, int n_fake, int d, int k);

typedef struct cdrl_yardstick cdrl_yardstick;
typedef struct cdrl_yardstick_params {
    int kid_subsets;     // 100
    int kid_subset_size; // 1000 (capped by both set sizes)
    int k;               // precision/recall neighbours: 3
    uint64_t seed;       // KID subsets: 1
} cdrl_yardstick_params;
void cdrl_yardstick_params_init(cdrl_yardstick_params *p);

typedef struct cdrl_yardstick_result {
    int n;        // images scored
    long n_ref;   // reference images behind the FD statistics
    int n_ref_pr; // reference features in precision/recall (min(n, kept))
    double fd, kid, kid_std, precision, recall;
    double acc;    // share of predicted == asked among images with a class; NaN if none
    int n_asked;   // images with a class asked for
    int n_classes; // K
    int hist[CDRL_YARDSTICK_MAX_CLASSES]; // predicted classes 0..K-1
} cdrl_yardstick_result;

// "<dir>/x.safetensors" -> "<dir>/x.stats.safetensors" (any other name gets the suffix
// appended). Returns 0, or -1 when n is too small.
int cdrl_yardstick_stats_path(char *out, size_t n, const char *classifier_path);
// Runs c on every image of ref and writes its reference statistics to path: feature mean and
// covariance over all images, the features of n_keep images drawn at random (fixed seed) in
// their random order, the classifier's fingerprint. accuracy (may be NULL) receives c's
// accuracy on ref's labels.
cdrl_status cdrl_yardstick_write_stats(cdrl_classifier *c, const cdrl_dataset *ref, int n_keep,
                                       const char *path, double *accuracy);
// Loads a classifier and its statistics (cdrl_yardstick_stats_path). CDRL_STATUS_MISMATCH
// when the statistics were made with other weights; IO / FORMAT as the files' loaders.
cdrl_status cdrl_yardstick_load(cdrl_yardstick **out, const char *classifier_path);
// A calibration set (docs/yardstick.md) into x (n, dim) and its true classes into cls (n): n
// images of data (a data-set spec; its test split unless what is "train") in an order drawn
// from seed, cycled when n exceeds the split, transformed by what: "test" or "train" (as
// they are), "noise:SIGMA" (Gaussian noise, clamped to [-1, 1]), "blur" (3x3 box blur),
// "missing:CLASS" (that class left out) or "means" (every image its class's mean image).
// channels and dim (channels x side x side) are the images' shape: CDRL_STATUS_MISMATCH when
// the data differ, CDRL_STATUS_INVALID for an unknown what.
cdrl_status cdrl_yardstick_calibration(float *x, int *cls, int n, int channels, int dim,
                                       const char *what, const char *data, uint64_t seed);
void cdrl_yardstick_free(cdrl_yardstick *y); // NULL is a no-op
cdrl_classifier *cdrl_yardstick_classifier(cdrl_yardstick *y);
const char *cdrl_yardstick_data(const cdrl_yardstick *y); // the reference set's spec
// The reference statistics: mean (F), covariance (F, F) and the n kept features (n, F).
const double *cdrl_yardstick_ref_mean(const cdrl_yardstick *y);
const double *cdrl_yardstick_ref_cov(const cdrl_yardstick *y);
const float *cdrl_yardstick_ref_features(const cdrl_yardstick *y, int *n);
// Scores images x (n, in_ch, side, side) in [-1, 1]: FD of their features against the
// reference mean/covariance; KID against the kept reference features; precision and recall
// against the first min(n, kept) of them; with cls (n) (class 0..K-1 asked for, -1 none; may
// be NULL) the accuracy; always the histogram. p NULL: defaults. n >= 2.
cdrl_status cdrl_yardstick_score(cdrl_yardstick *y, const float *x, const int *cls, int n,
                                 int in_ch, int side, const cdrl_yardstick_params *p,
                                 cdrl_yardstick_result *r);
// The same from features f (n, F) and predicted classes pred (n; may be NULL: no accuracy or
// histogram) computed with this yardstick's classifier.
cdrl_status cdrl_yardstick_score_features(cdrl_yardstick *y, const float *f, const int *pred,
                                          const int *cls, int n, const cdrl_yardstick_params *p,
                                          cdrl_yardstick_result *r);

// ---------------------------------------------------------------------------------------
// Files: safetensors (checkpoints, tensors in and out), PNG, figures. Buffers the library
// hands over (cdrl_png_read's pixels) are freed with cdrl_free (NULL is a no-op).
void cdrl_free(void *p);

// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}},
// then raw little-endian data. Used for checkpoints and test fixtures alike. The reader checks
// every offset and shape against the file size before any data is touched; the writer puts
// the data at a 64-byte boundary and saves to "<path>.tmp" before renaming it into place.

#define CDRL_ST_MAX_DIMS 8

typedef enum cdrl_st_dtype {
    CDRL_ST_F32,
    CDRL_ST_F64,
    CDRL_ST_I64,
    CDRL_ST_I32,
    CDRL_ST_U8,
} cdrl_st_dtype;

typedef struct cdrl_st_tensor {
    const char *name;
    cdrl_st_dtype dtype;
    int ndim;
    int64_t shape[CDRL_ST_MAX_DIMS];
    size_t numel;
    const void *data; // aligned to the element size; owned by the file
} cdrl_st_tensor;

typedef struct cdrl_st_file cdrl_st_file;

// Reads and validates a whole file. On failure *out is NULL and the log says what and where.
cdrl_status cdrl_st_load(cdrl_st_file **out, const char *path);
void cdrl_st_free(cdrl_st_file *f); // NULL is a no-op
int cdrl_st_count(const cdrl_st_file *f);
const cdrl_st_tensor *cdrl_st_at(const cdrl_st_file *f, int i);
// NULL when the name is absent.
const cdrl_st_tensor *cdrl_st_find(const cdrl_st_file *f, const char *name);
// A metadata string, or NULL when absent.
const char *cdrl_st_meta(const cdrl_st_file *f, const char *key);
const char *cdrl_st_path(const cdrl_st_file *f);
const char *cdrl_st_dtype_name(cdrl_st_dtype t);

// The float32 tensor `name` with exactly `numel` elements, or NULL after logging what is
// missing or different (file, tensor, expected vs found).
const float *cdrl_st_f32(const cdrl_st_file *f, const char *name, size_t numel);

// Writer. Tensors are borrowed: their data must stay valid until cdrl_st_writer_save.
typedef struct cdrl_st_writer cdrl_st_writer;
cdrl_st_writer *cdrl_st_writer_create(void); // NULL on out-of-memory
void cdrl_st_writer_free(cdrl_st_writer *w); // NULL is a no-op
cdrl_status cdrl_st_writer_add(cdrl_st_writer *w, const char *name, cdrl_st_dtype dtype, int ndim,
                               const int64_t *shape, const void *data);
cdrl_status cdrl_st_writer_add_f32(cdrl_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const float *data);
cdrl_status cdrl_st_writer_meta(cdrl_st_writer *w, const char *key, const char *value);
cdrl_status cdrl_st_writer_save(const cdrl_st_writer *w, const char *path);

// PNG files through libpng (http://www.libpng.org/pub/png/libpng-manual.txt): 8-bit grey or
// RGB images with tEXt chunks that record how an image was made (seed, checkpoint, levels,
// Langevin settings), so that it can be reproduced from the file alone. Writing goes to
// "<path>.tmp" and is renamed into place; the bytes are a function of the inputs alone (no
// tIME chunk, fixed zlib settings). Reading accepts any PNG colour type and bit depth and
// hands back 8-bit grey or RGB. Left out: colour management (gAMA, iCCP, sRGB are ignored),
// alpha compositing (alpha is dropped), 16-bit output, APNG.

// Longest tEXt keyword the PNG specification allows (bytes, without the terminator).
#define CDRL_PNG_KEY_MAX 79

// Writes pixels (height, width, channels) row-major, interleaved, row 0 at the top, with
// channels 1 (grey) or 3 (RGB), to `path` via "<path>.tmp" and rename(). Each of the n_text
// pairs text_keys[i] / text_values[i] becomes one tEXt chunk, in the order given (the arrays
// may be NULL when n_text is 0). Keys must be 1..79 printable Latin-1 characters without
// leading, trailing or double spaces (the PNG rule); values are free text.
// Returns CDRL_OK; CDRL_STATUS_INVALID for a bad key (nothing is written);
// CDRL_STATUS_IO when the file cannot be created, written or renamed (the .tmp is removed);
// CDRL_STATUS_NOMEM. libpng errors never abort the process: they come back as a status and
// a logged message naming the file. NULL pixels/path, channels other than 1 or 3, or
// non-positive sizes are programming errors (CDRL_ASSERT).
// Thread-safe for distinct paths.
cdrl_status cdrl_png_write(const char *path, const uint8_t *pixels, int width, int height,
                           int channels, const char *const *text_keys,
                           const char *const *text_values, int n_text);

// Reads any PNG (grey, grey+alpha, RGB, RGBA, palette; 1..16 bits; interlaced or not) into
// a new buffer of *h rows by *w columns by *channels bytes, row-major and interleaved, with
// *channels 1 for grey sources and 3 for colour ones (palettes expand to RGB, alpha is
// dropped, 16-bit samples are scaled to 8 bits with rounding, low bit depths are expanded to
// 0..255). The caller owns *pixels and frees it with cdrl_free.
// Returns CDRL_OK; CDRL_STATUS_IO when the file cannot be opened; CDRL_STATUS_FORMAT when
// it is not a PNG, is corrupt or truncated (the message names the path); CDRL_STATUS_NOMEM.
// On failure *pixels is NULL and the sizes are 0. Thread-safe.
cdrl_status cdrl_png_read(const char *path, uint8_t **pixels, int *w, int *h, int *channels);

// Raster figures for the CLI: an RGB canvas of equal tiles (a grid of panels) that each
// hold a 2-D point cloud drawn as a density histogram, a heatmap of a gridded density, or
// an image from the model, saved as PNG with tEXt settings (io/png.h). Panels are what the
// official CDRL toy figures show (samples per noise level, learned densities). Left out on
// purpose: text, axes, legends and anti-aliasing; one colormap (viridis-like, our own table).
//
// Layout: tiles are tile_w x tile_h pixels with `gap` white pixels between them and around
// the border, so tile (row, col) starts at x = gap + col * (tile_w + gap),
// y = gap + row * (tile_h + gap). Undrawn tiles stay white.

typedef struct cdrl_figure {
    int n_rows, n_cols;
    int tile_w, tile_h, gap; // pixels
    int width, height;       // pixels of the whole canvas
    uint8_t *rgb;            // (height, width, 3), row 0 at the top
} cdrl_figure;

// A white canvas for n_rows x n_cols tiles. Returns NULL (and logs) when out of memory.
// Sizes must be positive and gap >= 0 (CDRL_ASSERT). Free with cdrl_figure_free.
cdrl_figure *cdrl_figure_create(int n_rows, int n_cols, int tile_w, int tile_h, int gap);
void cdrl_figure_free(cdrl_figure *fig); // NULL is a no-op

// Pointer to the RGB triple of pixel (x, y) inside tile (row, col), for tests and overlays.
uint8_t *cdrl_figure_pixel(cdrl_figure *fig, int row, int col, int x, int y);

// The colormap: t in [0, 1] (clamped; NaN reads as 0) to RGB, by linear interpolation
// between anchor colours from dark purple (0) through teal to yellow (1).
void cdrl_figure_colormap(uint8_t rgb[3], float t);

// Draws pts (n, 2) = (x, y) pairs as a 2-D histogram over [xmin, xmax) x [ymin, ymax): one
// bin per pixel, y growing upwards, colour = colormap(log(1 + count) / log(1 + max count)),
// so that thin tails stay visible next to dense modes. Empty bins get colormap(0); points
// outside the range or not finite are skipped. Needs xmax > xmin, ymax > ymin. Returns
// CDRL_STATUS_NOMEM if the bin counts cannot be allocated (the tile is then unchanged).
cdrl_status cdrl_figure_scatter(cdrl_figure *fig, int row, int col, const float *pts, int n,
                                float xmin, float xmax, float ymin, float ymax);

// Draws values (gh, gw), row-major with row 0 at the top, stretched over the tile by nearest
// neighbour, as colormap(v / max v). Negative and non-finite values read as 0; an all-zero
// grid is drawn as colormap(0).
void cdrl_figure_heatmap(cdrl_figure *fig, int row, int col, const float *values, int gh, int gw);

// A model value in [-1, 1] as a byte: clamp (NaN reads as -1), then round((v + 1) * 127.5).
uint8_t cdrl_figure_to_byte(float v);

// Draws img (C, H, W) with C 1 or 3 and values in [-1, 1] (the model's data range), stretched
// over the tile by nearest neighbour: clamp to [-1, 1], then round((v + 1) * 127.5), so that
// -1, 0, 1 give 0, 128, 255; NaN gives 0. Grey is replicated to RGB.
void cdrl_figure_image(cdrl_figure *fig, int row, int col, const float *img, int C, int H, int W);

// Writes the canvas as an RGB PNG with the given tEXt pairs (see cdrl_png_write).
cdrl_status cdrl_figure_save(const cdrl_figure *fig, const char *path, const char *const *keys,
                             const char *const *values, int n);

#ifdef __cplusplus
}
#endif
#endif // CDRL_H
