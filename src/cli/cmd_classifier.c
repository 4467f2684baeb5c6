// `cdrl classifier`: trains the yardstick's classifier (src/eval/classifier.c) on a labelled
// image set, reports its accuracy on the test split and writes, next to the weights, the
// test split's reference statistics that `cdrl eval` and `cdrl train --eval-every` score
// against (docs/yardstick.md). --stats-only remakes the statistics of an existing classifier.
// Left out: resuming a classifier's training, validation splits, early stopping.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct classifier_opts {
    const char *data, *test, *out;
    int epochs, batch, threads, verbose, stats_only, keep;
    const char *backend;
    float lr;
    uint64_t seed;
} classifier_opts;

#define O(f) offsetof(classifier_opts, f)
static const cli_opt classifier_table[] = {
    {"data", 'd', CLI_STR, O(data), "SPEC",
     "labelled training images: fashion-mnist:DIR, mnist:DIR, cifar10:DIR, folder:DIR", NULL, 0, 0},
    {"test", 0, CLI_STR, O(test), "SPEC", "held-out images: accuracy and reference statistics",
     "--data with :test", 0, 0},
    {"out", 'o', CLI_STR, O(out), "FILE",
     "classifier weights; the statistics go to FILE with .stats.safetensors", NULL, 0, 0},
    {"epochs", 'e', CLI_INT, O(epochs), "N", "passes over the training set", NULL, 1, 1000},
    {"batch", 'b', CLI_INT, O(batch), "B", "batch size", NULL, 1, 65536},
    {"lr", 0, CLI_FLOAT, O(lr), "X", "Adam learning rate (cosine-decayed to 0)", NULL, 1e-8, 1},
    {"seed", 's', CLI_U64, O(seed), "S", "seed of the weights and the batches", NULL, 0, 0},
    {"keep", 0, CLI_INT, O(keep), "N",
     "reference features kept for KID and precision/recall (a random subset)", NULL, 4, 1000000},
    {"stats-only", 0, CLI_FLAG, O(stats_only), NULL,
     "do not train: remake the statistics of the classifier at --out", NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
#undef O

static const cli_cmd classifier_cmd = {
    "classifier",
    "[options]",
    "Trains the yardstick's classifier (a small CNN: 3 conv + GroupNorm + ReLU blocks, global\n"
    "average pooling to 128 features, a linear head) with softmax cross-entropy and Adam,\n"
    "prints its test accuracy and writes the test split's reference statistics (feature mean,\n"
    "covariance and a subset of features) next to the weights, for `cdrl eval`.",
    "cdrl classifier --data fashion-mnist:/usr/share/datasets/fashion-mnist "
    "--out models/fmnist_classifier.safetensors",
    classifier_table,
    (int)(sizeof classifier_table / sizeof classifier_table[0]),
    0,
    0,
};

typedef struct bar_state {
    double t0, t_line;
    long step_line;
    int tty;
} bar_state;

static int on_step(void *user, long step, long total, double loss) {
    bar_state *b = user;
    const double t = cli_now();
    if (b->tty && (step == total || step % 10 == 0)) {
        const double rate = (t - b->t0) / (double)step;
        fprintf(stderr, "\r[classifier] %ld/%ld | %.0f ms/step | ETA %.0f s | loss %.4f\033[K",
                step, total, 1e3 * rate, rate * (double)(total - step), loss);
        if (step == total) fputc('\n', stderr);
        fflush(stderr);
    }
    if (step % 100 == 0 || step == total) {
        printf("step %ld/%ld | loss %.5f | %.0f ms/step | %.1f s\n", step, total, loss,
               1e3 * (t - b->t_line) / (double)(step - b->step_line), t - b->t0);
        fflush(stdout);
        b->t_line = t;
        b->step_line = step;
    }
    return 0;
}

// The test split of a spec: ":train" becomes ":test", a spec without a split gets ":test".
static void test_spec(char *out, size_t n, const char *spec) {
    const size_t len = strlen(spec);
    if (strstr(spec, ":test"))
        snprintf(out, n, "%s", spec);
    else if (len > 6 && strcmp(spec + len - 6, ":train") == 0)
        snprintf(out, n, "%.*s:test", (int)(len - 6), spec);
    else
        snprintf(out, n, "%s:test", spec);
}

int cmd_classifier(int argc, char **argv) {
    classifier_opts o = {.out = "models/fmnist_classifier.safetensors", .keep = 5000}, def;
    cdrl_classifier_params cp;
    cdrl_classifier_params_init(&cp);
    o.epochs = cp.epochs;
    o.batch = cp.batch;
    o.lr = cp.lr;
    o.seed = cp.seed;
    def = o;
    cli_args a;
    cli_begin("classifier", 0, 0, NULL);
    int rc = cli_parse(&classifier_cmd, argc, argv, &o, &a);
    if (rc != CLI_OK) return rc;
    if (a.help) {
        cli_help(&classifier_cmd, &def, stdout);
        return CLI_OK;
    }
    if (cli_begin("classifier", o.verbose, o.threads, o.backend)) return CLI_USAGE;
    if (!o.data && !o.test)
        return cli_die(CLI_USAGE, "--data is required (see cdrl classifier --help)");
    char tspec[600], spath[4200];
    if (o.test)
        snprintf(tspec, sizeof tspec, "%s", o.test);
    else
        test_spec(tspec, sizeof tspec, o.data);
    if (cdrl_yardstick_stats_path(spath, sizeof spath, o.out) != 0)
        return cli_die(CLI_USAGE, "--out: path too long");
    cdrl_classifier *c = NULL;
    cdrl_dataset *train = NULL, *test = NULL;
    double train_s = 0;
    if (o.stats_only) {
        if (cdrl_classifier_load(&c, o.out) != CDRL_OK)
            return cli_fail(CLI_FAIL, "%s: cannot load the classifier", o.out);
    } else {
        if (!o.data) return cli_die(CLI_USAGE, "--data is required to train");
        if (cdrl_dataset_open(&train, o.data) != CDRL_OK)
            return cli_fail(CLI_FAIL, "cannot open the data '%s'", o.data);
        if (cdrl_dataset_classes(train) < 2) {
            cdrl_dataset_free(train);
            return cli_die(CLI_FAIL,
                           "--data %s: not a labelled image set (classes from the format "
                           "or from folder:DIR sub-folders)",
                           o.data);
        }
        cp.epochs = o.epochs;
        cp.batch = o.batch;
        cp.lr = o.lr;
        cp.seed = o.seed;
        bar_state b = {.t0 = cli_now(), .tty = isatty(STDERR_FILENO)};
        b.t_line = b.t0;
        cp.progress = on_step;
        cp.user = &b;
        printf("cdrl classifier: %s, %zu images, %d classes; %d epochs of batch %d, lr %g, seed "
               "%llu, %d threads\n",
               o.data, cdrl_dataset_size(train), cdrl_dataset_classes(train), o.epochs, o.batch,
               (double)o.lr, (unsigned long long)o.seed, cdrl_threads());
        fflush(stdout);
        cdrl_status st = cdrl_classifier_train(&c, train, &cp);
        train_s = cli_now() - b.t0;
        cdrl_dataset_free(train);
        if (st != CDRL_OK) return cli_fail(CLI_FAIL, "training failed: %s", cdrl_status_str(st));
    }
    if (cdrl_dataset_open(&test, tspec) != CDRL_OK) {
        rc = cli_fail(CLI_FAIL, "cannot open the test data '%s' (give it with --test)", tspec);
        cdrl_classifier_free(c);
        return rc;
    }
    double acc = 0;
    const double t1 = cli_now();
    if (cdrl_yardstick_write_stats(c, test, o.keep, spath, &acc) != CDRL_OK) {
        rc = cli_fail(CLI_FAIL, "%s: cannot write the statistics", spath);
        goto done;
    }
    printf("test accuracy %.4f on %s (%zu images); statistics %s in %.1f s\n", acc, tspec,
           cdrl_dataset_size(test), spath, cli_now() - t1);
    if (!o.stats_only) {
        char cmd[2048], accs[32], secs[32];
        int k = snprintf(cmd, sizeof cmd, "cdrl classifier");
        for (int i = 0; i < argc && k > 0 && (size_t)k < sizeof cmd; i++)
            k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", argv[i]);
        snprintf(accs, sizeof accs, "%.4f", acc);
        snprintf(secs, sizeof secs, "%.0f", train_s);
        const char *keys[] = {"command", "test_data", "test_accuracy", "train_seconds"};
        const char *vals[] = {cmd, tspec, accs, secs};
        if (cdrl_classifier_save(c, o.out, keys, vals, 4) != CDRL_OK) {
            rc = cli_fail(CLI_FAIL, "%s: cannot write the classifier", o.out);
            goto done;
        }
        printf("classifier %s (trained in %.1f s, weights fingerprint %016llx)\n", o.out, train_s,
               (unsigned long long)cdrl_classifier_fingerprint(c));
    }
done:
    cdrl_dataset_free(test);
    cdrl_classifier_free(c);
    return rc;
}
