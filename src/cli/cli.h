// What the cdrl program's files share: the option tables that drive both parsing and --help
// (args.c), one-line error reporting with the library's log routed through it (main.c), the
// progress bar and log lines of training (progress.c), and the subcommands. Internal to the
// program: nothing here is library API.
#ifndef CDRL_CLI_CLI_H
#define CDRL_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdrl.h"

// Exit codes (docs/cli.md): 0 ok, 1 runtime failure, 2 usage error, 130 interrupted (SIGINT).
#define CLI_OK          0
#define CLI_FAIL        1
#define CLI_USAGE       2
#define CLI_INTERRUPTED 130

// ---------------------------------------------------------------------------------------
// Option tables

typedef enum cli_opt_type {
    CLI_FLAG,    // int, set to 1 by the flag; takes no value
    CLI_INT,     // int
    CLI_LONG,    // long
    CLI_FLOAT,   // float
    CLI_U64,     // uint64_t (seeds)
    CLI_STR,     // const char * pointing into argv
    CLI_SECTION, // not an option: a heading in --help (help is the heading)
} cli_opt_type;

typedef struct cli_opt {
    const char *name; // long name without "--"
    char short_name;  // 'n' for -n, 0 for none
    cli_opt_type type;
    size_t offset;    // of the value in the command's options struct
    const char *meta; // value placeholder in --help ("N", "FILE")
    const char *help; // one line, without the default
    const char *def;  // default as shown in --help; NULL prints the struct's initial value
    double min, max;  // range of numeric values (inclusive)
} cli_opt;

// The last options of every command that computes, for an options struct with the fields
// threads, backend and verbose, inside a table whose O(f) is offsetof of that struct.
// clang-format off
#define CLI_OPTS_GENERAL                                                                           \
    {"threads", 't', CLI_INT, O(threads), "T", "threads (results do not depend on it)",            \
     "all cores", 0, 4096},                                                                        \
    {"backend", 0, CLI_STR, O(backend), "NAME",                                                    \
     "compute backend: cpu, or ref (plain reference loops, one thread: slow, for checking)",       \
     "cpu", 0, 0},                                                                                 \
    {"verbose", 'v', CLI_FLAG, O(verbose), NULL, "print the library's info messages", NULL, 0, 0}
// clang-format on

#define CLI_MAX_OPTS 48
#define CLI_MAX_POS  4

typedef struct cli_cmd {
    const char *name;    // "train"
    const char *args;    // usage after the name: "[options]", "[options] CHECKPOINT"
    const char *summary; // one paragraph for --help
    const char *example; // one example command line
    const cli_opt *opts;
    int n_opts;
    int n_pos_min, n_pos_max; // positional arguments accepted
} cli_cmd;

typedef struct cli_args {
    unsigned char set[CLI_MAX_OPTS]; // set[i]: option i was given on the command line
    const char *pos[CLI_MAX_POS];
    int n_pos;
    int help; // -h / --help was given
} cli_args;

// Parses argv[0..argc) (the words after the subcommand) into the options struct opts, which
// holds the defaults on entry. Returns CLI_OK, or CLI_USAGE after printing one line
// `cdrl <cmd>: <what> (see cdrl <cmd> --help)`. -h/--help sets a->help and stops parsing.
int cli_parse(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a);
// Prints the usage, summary and every option with "(default: ...)" from the defaults struct.
void cli_help(const cli_cmd *c, const void *defaults, FILE *f);
// Whether the option with this long name was given.
int cli_given(const cli_cmd *c, const cli_args *a, const char *name);

// ---------------------------------------------------------------------------------------
// Errors and log

// Starts a subcommand: error lines name it, the library's log goes through the program's
// callback (errors collected for one line, warnings printed, info and debug only when
// verbose), the thread count is applied when > 0 and the compute backend when named.
// Returns non-zero (the error printed) for an unknown backend.
int cli_begin(const char *cmd, int verbose, int threads, const char *backend);
// --precision: 0 for "fp32", 1 for "bf16" (the config's langevin_bf16), -1 for anything else.
int cli_precision(const char *name);
// Prints `cdrl <cmd>: ` and then the library's collected error messages (joined by "; ")
// when there are any, else the formatted text; returns code.
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Like cli_fail but always prints the formatted text (and drops collected messages).
int cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The collected library errors joined by "; " (empty when none), then forgets them.
const char *cli_take_errors(void);
// `cdrl <cmd>: warning: ...` on stderr.
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Set by a command of a job of several processes when every rank reaches its failure status
// together (divergence, interruption): the job then ends in order instead of by MPI_Abort.
extern int cli_job_agreed;

// Resolves --model: a folder means <folder>/model.safetensors. Returns 0, or -1 when too long.
int cli_model_path(const char *arg, char *path, size_t n);
// --model resolved into path (n bytes) and loaded into *m: CLI_OK, or the code after one line.
int cli_load_model(const char *arg, cdrl_model **m, char *path, size_t n);
// Whether a path exists / is a directory.
int cli_exists(const char *path);
// The whole file as a NUL-terminated string (free it), or NULL when it cannot be read or is
// longer than max bytes.
char *cli_read_text(const char *path, size_t max);
int cli_is_dir(const char *path);

// ---------------------------------------------------------------------------------------
// Training progress (progress.c): a bar on stderr when it is a terminal, otherwise (or when
// stdout is not that terminal) one greppable line on stdout every log_every steps.

typedef struct cli_progress {
    long start, total; // first step of this run (exclusive), last step
    long log_every;
    int bar;   // draw the bar
    int lines; // print log lines
    double t_start, t_last_draw, t_last_line;
    long step_last_line;
} cli_progress;

void cli_progress_init(cli_progress *p, long start, long total, long log_every);
void cli_progress_step(cli_progress *p, const cdrl_train_stats *st);
// Ends the bar's line (if one is drawn), so that later output starts on a new line.
void cli_progress_end(cli_progress *p);
double cli_now(void); // seconds, monotonic

// ---------------------------------------------------------------------------------------
// Evaluation shared by `cdrl eval` and the end of `cdrl train` (cmd_eval.c)

#define CLI_MAX_K 8

typedef struct cli_eval_opts {
    int n;         // held-out points from generators / MMD sample size: 5000
    uint64_t seed; // for held-out points and sampler noise
    int n_k;       // Langevin step counts to measure the MMD at
    int k[CLI_MAX_K];
    cdrl_nll_params nll; // box already resolved
    int mmd;             // compute the MMD (1) or only the NLL (0)
} cli_eval_opts;

typedef struct cli_eval_result {
    char data[600]; // where the held-out points came from
    int n_nll;      // points in the NLL
    int held_out;   // 0 when the points are the training file itself
    cdrl_nll_result nll;
    double entropy;        // NaN when unknown
    int n_mmd;             // sample size of each MMD set
    double bandwidth;      // h
    double mmd[CLI_MAX_K]; // per K
    double mmd_data;
    char why[256]; // a failure's detail when the library logged none
} cli_eval_result;

// The default grid box for a dataset: its bbox widened by 10% on every side.
void cli_default_box(const cdrl_dataset *d, float box[4]);
// NLL of held-out points of d under m, and MMDs (sampler vs data, data vs data).
cdrl_status cli_evaluate(cdrl_model *m, const cdrl_dataset *d, const cli_eval_opts *o,
                         cli_eval_result *r);
// Prints r as aligned text lines.
void cli_eval_print(const cli_eval_result *r, const cli_eval_opts *o, FILE *f);

// Images (images.c). Label attributes of a model (1 + n_more_attrs; 0 unconditional); label
// arrays hold A (at least 1) labels per sample.
int cli_attrs(const cdrl_config *c);
// Grid labels (n, A): conditional models get class 1 + (row % n_classes) of their first
// attribute on each row of cols images (the others null), unconditional ones the null label 0.
void cli_grid_labels(const cdrl_config *c, int *label, int n, int cols);
// x (n, in_ch, res, res) in [-1, 1] as one PNG grid of cols columns with the tEXt pairs.
int cli_save_grid(const cdrl_config *c, const float *x, int n, int cols, const char *path,
                  const char *const *keys, const char *const *vals, int n_text);
// One image x (in_ch, res, res) as a grey (1 channel) or RGB PNG.
int cli_save_image(const cdrl_config *c, const float *x, const char *path, const char *const *keys,
                   const char *const *vals, int n_text);

// A PNG of the model's channels and size into x (in_ch, res, res) as v / 127.5 - 1; CLI_OK or
// CLI_FAIL after one line naming the file.
int cli_read_image(const cdrl_config *c, const char *path, float *x);

// ---------------------------------------------------------------------------------------
// The image yardstick (yardstick.c), shared by `cdrl eval` and `cdrl train --eval-every`

// The committed classifier for a data spec (fashion-mnist:, mnist:, cifar10:): 0, or -1 when
// there is none.
int cli_default_classifier(const char *data, char *path, size_t n);
// Loads the yardstick of --classifier (or the data's default); CLI_OK, or CLI_FAIL after one
// line saying what is missing and how to make it.
int cli_yardstick_open(cdrl_yardstick **ys, const char *classifier, const char *data);
// CLI_OK when the model's images fit the classifier (channels, size, classes); else one line.
int cli_yardstick_check_model(const cdrl_config *c, cdrl_yardstick *ys, const char *path);
// n samples x (n, dim) with EMA weights, K Langevin steps (0: the initializer's proposals),
// guidance w, in batches of the model's batch size behind a progress bar (stderr, terminals
// only) labelled what; conditional models get classes cycling 1..K, written 0-based to cls
// (n) (-1 for unconditional models).
int cli_yardstick_sample(cdrl_model *m, float *x, int *cls, int n, float w, int k, uint64_t seed,
                         const char *what);
// `cdrl train`'s evaluation: the yardstick on n samples (EMA weights, the training K,
// guidance w, classes cycling 1..K) and on n of the initializer's proposals alone, both with
// seed (the same at every evaluation, so successive records differ by the model only); one
// metrics.jsonl record {"step", "time_s", "eval": {fd, acc, kid, precision, recall, fd_init,
// acc_init, n, guidance}} into mf, and one stdout line, or the full figures when final.
int cli_yardstick_train_eval(cdrl_model *m, cdrl_yardstick *ys, int n, float w, uint64_t seed,
                             FILE *mf, double time_s, int final);
// The figures as aligned text lines, each starting with prefix.
void cli_yardstick_print(const cdrl_yardstick_result *r, const char *prefix, FILE *f);
// The figures as members of a cJSON object (NaN as null).
struct cJSON;
void cli_yardstick_json(struct cJSON *o, const cdrl_yardstick_result *r);
// key: v as a JSON number, or null for NaN and infinities (which JSON lacks).
void cli_json_num(struct cJSON *o, const char *key, double v);
// o as one line of compact JSON on f, then freed (o may be NULL: out of memory); 0, or -1
// when it could not be written.
int cli_json_line(FILE *f, struct cJSON *o);

// n inputs of the model's shape from a set spec (sets.c: a data spec with @transforms,
// uniform, off-support) into *x (n, dim), with their classes (-1 unknown) into *cls unless
// cls is NULL; both malloc'd. CLI_OK, or the code after one line naming the set.
int cli_load_set(const char *spec, const cdrl_config *c, int n, uint64_t seed, float **x,
                 int **cls);

// splitmix64's finaliser: the counter hash of the CLI's own draws (uniform sets, random masks),
// deterministic and apart from the library's streams.
static inline uint64_t cli_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
// The noise key of batch b of a sampling run: a batch's samples do not depend on how many
// batches came before it.
static inline uint64_t cli_batch_seed(uint64_t seed, int b) {
    return seed + (uint64_t)b * 0x9E3779B97F4A7C15ull;
}

// --compose NAME=CLASS,.. with -w W[,W..] (compose.c): the conditioning terms of n samples.
typedef struct cli_compose_terms {
    int n, A;    // terms; label attributes of the model
    int *labels; // (n_terms, n, A): term k's labels, its attribute set to CLASS + 1
    int attr[CDRL_SAMPLE_MAX_TERMS]; // the attribute each term asks for
    int cls[CDRL_MAX_ATTRS];         // the class asked of each attribute, -1 none
    float w[CDRL_SAMPLE_MAX_TERMS];
    char name[CDRL_SAMPLE_MAX_TERMS][64]; // "ring=2"
} cli_compose_terms;
// CLI_OK, or the code after one line (unknown attribute, a class out of range, a bad weight
// list, an unconditional model).
int cli_compose(cli_compose_terms *t, const char *spec, const char *weights, const cdrl_config *c,
                int n);
// Points sp's terms at samples s0.. of t.
void cli_compose_apply(const cli_compose_terms *t, cdrl_sample_params *sp, int n, int s0);
void cli_compose_free(cli_compose_terms *t);
// "0,0.5,1" into w (each in 0..1000, at most max); the count, or -1 for a bad list.
int cli_parse_weights(const char *s, float *w, int max);

// Prints every cdrl_config field, one `  key  value` line each (from its JSON form).
void cli_print_config(const cdrl_config *c, FILE *f);

// Subcommands: argc/argv are the words after the subcommand's name.
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_energy(int argc, char **argv);
int cmd_classifier(int argc, char **argv);
int cmd_ood(int argc, char **argv);
int cmd_inpaint(int argc, char **argv);

#endif // CDRL_CLI_CLI_H
