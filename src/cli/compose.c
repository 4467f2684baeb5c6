// --compose "ring=2,quadrant=3" and the weights -w 2 or -w 1,3 of `cdrl sample` and `cdrl
// eval`: each NAME=CLASS pair is one conditioning term of cdrl_sample_params (the concept
// "attribute NAME has the data's class CLASS", the other attributes null), with its weight.
// Attribute names and their classes come from the model's data (docs/data.md); CLASS is the
// data's class 0..K-1, which the model calls label CLASS + 1.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_parse_weights(const char *s, float *w, int max) {
    int n = 0;
    while (s && *s) {
        char *end;
        const double v = strtod(s, &end);
        if (end == s || !(v >= 0 && v <= 1000) || n >= max || (*end && *end != ',')) return -1;
        w[n++] = (float)v;
        s = *end ? end + 1 : end;
        if (*end == ',' && !*s) return -1;
    }
    return n;
}

int cli_compose(cli_compose_terms *t, const char *spec, const char *weights, const cdrl_config *c,
                int n) {
    memset(t, 0, sizeof *t);
    if (!c->n_classes)
        return cli_die(CLI_USAGE, "--compose: the model is unconditional (train it with --labels "
                                  "or --classes)");
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, c->data) != CDRL_OK)
        return cli_fail(CLI_FAIL,
                        "--compose: cannot open the model's data %s for its attribute "
                        "names",
                        c->data);
    const int A = cdrl_dataset_attrs(d);
    const int want_a = 1 + c->n_more_attrs;
    int rc = CLI_OK, attr[CDRL_SAMPLE_MAX_TERMS], cls[CDRL_SAMPLE_MAX_TERMS];
    if (A != want_a)
        rc = cli_die(CLI_FAIL, "--compose: the data %s has %d label attributes, the model %d",
                     c->data, A, want_a);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok && rc == CLI_OK; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            rc = cli_die(CLI_USAGE, "--compose %s: expected NAME=CLASS pairs, got '%s'", spec, tok);
            break;
        }
        *eq = '\0';
        int a = -1;
        for (int k = 0; k < A; k++)
            if (!strcmp(cdrl_dataset_attr_name(d, k), tok)) a = k;
        char *end;
        const long v = strtol(eq + 1, &end, 10);
        if (a < 0) {
            char names[256] = "";
            for (int k = 0; k < A; k++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                         cdrl_dataset_attr_name(d, k));
            rc = cli_die(CLI_USAGE, "--compose: no attribute '%s' (the data has: %s)", tok, names);
        } else if (*end || v < 0 || v >= cdrl_dataset_attr_classes(d, a)) {
            rc = cli_die(CLI_USAGE, "--compose: %s=%s: classes of %s are 0..%d", tok, eq + 1, tok,
                         cdrl_dataset_attr_classes(d, a) - 1);
        } else if (t->n >= CDRL_SAMPLE_MAX_TERMS) {
            rc = cli_die(CLI_USAGE, "--compose: at most %d terms", CDRL_SAMPLE_MAX_TERMS);
        } else {
            attr[t->n] = a, cls[t->n] = (int)v;
            snprintf(t->name[t->n], sizeof t->name[0], "%s=%ld", tok, v);
            t->n++;
        }
    }
    cdrl_dataset_free(d);
    if (rc == CLI_OK && t->n == 0) rc = cli_die(CLI_USAGE, "--compose: no terms");
    float w[CDRL_SAMPLE_MAX_TERMS] = {1.0f};
    const int nw = weights ? cli_parse_weights(weights, w, CDRL_SAMPLE_MAX_TERMS) : 1;
    if (rc == CLI_OK && (nw < 1 || (nw > 1 && nw != t->n)))
        rc = cli_die(CLI_USAGE, "-w %s: one weight in 0..1000, or one per --compose term (%d)",
                     weights ? weights : "", t->n);
    t->A = want_a;
    for (int a = 0; a < CDRL_MAX_ATTRS; a++)
        t->cls[a] = -1;
    for (int k = 0; rc == CLI_OK && k < t->n; k++)
        t->attr[k] = attr[k], t->cls[attr[k]] = cls[k];
    t->labels =
        rc == CLI_OK ? calloc((size_t)t->n * (size_t)n * (size_t)want_a, sizeof(int)) : NULL;
    if (rc == CLI_OK && !t->labels) rc = cli_die(CLI_FAIL, "out of memory");
    for (int k = 0; k < t->n && rc == CLI_OK; k++) {
        t->w[k] = nw == 1 ? w[0] : w[k];
        int *l = t->labels + (size_t)k * (size_t)n * (size_t)want_a;
        for (int i = 0; i < n; i++)
            l[(size_t)i * (size_t)want_a + (size_t)attr[k]] = cls[k] + 1;
    }
    if (rc != CLI_OK) cli_compose_free(t);
    return rc;
}

void cli_compose_apply(const cli_compose_terms *t, cdrl_sample_params *sp, int n, int s0) {
    sp->n_terms = t->n;
    for (int k = 0; k < t->n; k++) {
        sp->label[k] = t->labels + ((size_t)k * (size_t)n + (size_t)s0) * (size_t)t->A;
        sp->weight[k] = t->w[k];
    }
}

void cli_compose_free(cli_compose_terms *t) {
    free(t->labels);
    t->labels = NULL;
    t->n = 0;
}
