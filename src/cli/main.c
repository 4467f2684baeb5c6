// The cdrl program: one subcommand per job (train, sample, eval, info, energy), dispatched
// here, and the plumbing they share: the library's log routed to stderr (errors collected so
// that every failure is reported as exactly one line `cdrl <cmd>: <what and where>`), exit
// codes (0 ok, 1 runtime failure, 2 usage, 130 interrupted) and path helpers. docs/cli.md is
// the manual.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *cmd_name = "cdrl";
static int verbose_log;
static char errors[2048]; // library errors since the last report, joined by "; "

static void log_cb(cdrl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == CDRL_LOG_ERROR) {
        size_t n = strlen(errors);
        if (n + 3 < sizeof errors)
            snprintf(errors + n, sizeof errors - n, "%s%s", n ? "; " : "", msg);
        return;
    }
    if (level == CDRL_LOG_WARN)
        fprintf(stderr, "cdrl %s: warning: %s\n", cmd_name, msg);
    else if (verbose_log)
        fprintf(stderr, "cdrl %s: %s\n", cmd_name, msg);
}

int cli_begin(const char *cmd, int verbose, int threads, const char *backend) {
    cmd_name = cmd;
    verbose_log = verbose;
    errors[0] = '\0';
    cdrl_set_log_callback(log_cb, NULL);
    if (threads > 0) cdrl_set_threads(threads);
    if (backend && cdrl_set_backend(backend) != CDRL_OK)
        return cli_fail(CLI_USAGE, "--backend %s: unknown (cpu, ref)", backend);
    return 0;
}

void cli_json_num(cJSON *o, const char *key, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

int cli_json_line(FILE *f, cJSON *o) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    const int ok = text && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    cJSON_free(text);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

int cli_precision(const char *name) {
    return !strcmp(name, "fp32") ? 0 : !strcmp(name, "bf16") ? 1 : -1;
}

const char *cli_take_errors(void) {
    static char taken[sizeof errors];
    memcpy(taken, errors, sizeof errors);
    errors[0] = '\0';
    return taken;
}

// "cdrl train: ", or "cdrl train (rank 2): " from the other processes of a job.
static void prefix(void) {
    fflush(stdout);
    if (cdrl_mpi_rank() > 0)
        fprintf(stderr, "cdrl %s (rank %d): ", cmd_name, cdrl_mpi_rank());
    else
        fprintf(stderr, "cdrl %s: ", cmd_name);
}

int cli_fail(int code, const char *fmt, ...) {
    prefix();
    if (errors[0]) {
        fprintf(stderr, "%s\n", cli_take_errors());
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_die(int code, const char *fmt, ...) {
    errors[0] = '\0';
    prefix();
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

void cli_warn(const char *fmt, ...) {
    prefix();
    fputs("warning: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

char *cli_read_text(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    const int bad = !buf || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int cli_is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

int cli_model_path(const char *arg, char *path, size_t n) {
    int k = cli_is_dir(arg) ? snprintf(path, n, "%s/model.safetensors", arg)
                            : snprintf(path, n, "%s", arg);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int cli_load_model(const char *arg, cdrl_model **m, char *path, size_t n) {
    *m = NULL;
    if (cli_model_path(arg, path, n) != 0) return cli_die(CLI_USAGE, "--model: path too long");
    if (cdrl_model_load(m, path) != CDRL_OK)
        return cli_fail(CLI_FAIL, "%s: cannot load the checkpoint", path);
    return CLI_OK;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: cdrl <command> [options]\n"
            "\n"
            "Cooperative Diffusion Recovery Likelihood (energy-based models) on 2-D data.\n"
            "\n"
            "commands:\n"
            "  train     train a model on a 2-D data set, with figures and a final evaluation\n"
            "  sample    draw samples from a checkpoint (CSV, optional PNG)\n"
            "  eval      2-D: held-out NLL and MMD; images: FD, KID, precision/recall, accuracy\n"
            "  classifier  train the image yardstick's classifier and its reference statistics\n"
            "  info      a checkpoint's configuration, step and tensor table\n"
            "  energy    energies f(x) (and df/dx) of points or images at one level\n"
            "  ood       out-of-distribution scores, AUROC and FPR@95 of one set against another\n"
            "  inpaint   fills the masked pixels of images (or coordinates of points) by sampling\n"
            "  version   print the version (also --version)\n"
            "  help      this text\n"
            "\n"
            "`cdrl <command> --help` lists a command's options; docs/cli.md is the manual.\n");
}

// libgomp reads OMP_WAIT_POLICY once, when it loads, and by default its threads spin while
// they wait: with other jobs on the cores a spinning thread holds the core its partner needs,
// and image training ran 3x slower (27-35 s per iteration against 10-12 s passive, bench/).
// A short spin before sleeping (GOMP_SPINCOUNT 1000) keeps most of the passive policy's
// safety and saves the wake-up of a sleeping partner at the thousands of barriers of an
// iteration: on Zen4, 2 cores, reduced configuration, 2.48 s against 2.6-2.9 s per iteration
// quiet, and within 2% of passive beside one busy process (docs/speed.md). So the program
// restarts itself once with both unless the caller chose a wait policy or spin count.
static void prefer_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0) != 0 || setenv("GOMP_SPINCOUNT", "1000", 0) != 0)
        return;
    execv("/proc/self/exe", argv); // returns only on failure: then run with the default
}

int cli_job_agreed;

// A job of several processes (mpirun, srun): train, sample and eval run on every rank and share
// the work; other commands run on rank 0 alone. Rank 0 alone prints to stdout. An outcome all
// ranks reached together (success, divergence, interruption: cli_job_agreed) ends MPI in
// order; any other failure of one rank ends the whole job at once, so that no rank waits for
// it forever.
static int run(int argc, char **argv) {
    const char *c = argv[1];
    if (cdrl_mpi_size() > 1 && strcmp(c, "train") != 0 && strcmp(c, "sample") != 0 &&
        strcmp(c, "eval") != 0 && cdrl_mpi_rank() > 0)
        return CLI_OK;
    if (strcmp(c, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(c, "sample") == 0) return cmd_sample(argc - 2, argv + 2);
    if (strcmp(c, "eval") == 0) return cmd_eval(argc - 2, argv + 2);
    if (strcmp(c, "info") == 0) return cmd_info(argc - 2, argv + 2);
    if (strcmp(c, "energy") == 0) return cmd_energy(argc - 2, argv + 2);
    if (strcmp(c, "classifier") == 0) return cmd_classifier(argc - 2, argv + 2);
    if (strcmp(c, "ood") == 0) return cmd_ood(argc - 2, argv + 2);
    if (strcmp(c, "inpaint") == 0) return cmd_inpaint(argc - 2, argv + 2);
    fprintf(stderr, "cdrl: unknown command '%s' (see cdrl help)\n", c);
    return CLI_USAGE;
}

int main(int argc, char **argv) {
    prefer_passive_wait(argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "help") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(c, "version") == 0 || strcmp(c, "--version") == 0) {
        printf("cdrl %d.%d.%d\n", CDRL_VERSION_MAJOR, CDRL_VERSION_MINOR, CDRL_VERSION_PATCH);
        return CLI_OK;
    }
    if (cdrl_mpi_init(&argc, &argv) != CDRL_OK) {
        fprintf(stderr, "cdrl: cannot join the MPI job (MPI_Init failed)\n");
        return CLI_FAIL;
    }
    if (cdrl_mpi_rank() > 0 && !freopen("/dev/null", "w", stdout)) return CLI_FAIL;
    const int rc = run(argc, argv);
    // Errors the library logged on the way to a success still deserve to be seen.
    if (errors[0]) cli_warn("%s", cli_take_errors());
    if (rc != CLI_OK && cdrl_mpi_size() > 1 && !cli_job_agreed) {
        fflush(NULL);
        cdrl_mpi_abort(rc);
    }
    cdrl_mpi_finalize();
    return rc;
}
