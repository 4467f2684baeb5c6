// Command-line options: one static table per subcommand drives both parsing and --help, so
// the two cannot drift apart. GNU long options (`--name value`, `--name=value`), short
// aliases (`-n 5000`, `-n5000`), `--` ends the options. Every failure is one line and exit
// code 2. Left out: bundled short flags (`-vj`), abbreviations of long names, env variables.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int usage_error(const cli_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const cli_cmd *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cdrl %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see cdrl %s --help)\n", c->name);
    return CLI_USAGE;
}

static const cli_opt *find_long(const cli_cmd *c, const char *name, size_t len, int *idx) {
    for (int i = 0; i < c->n_opts; i++)
        if (c->opts[i].type != CLI_SECTION && strlen(c->opts[i].name) == len &&
            strncmp(c->opts[i].name, name, len) == 0) {
            *idx = i;
            return &c->opts[i];
        }
    return NULL;
}

static const cli_opt *find_short(const cli_cmd *c, char ch, int *idx) {
    for (int i = 0; i < c->n_opts; i++)
        if (c->opts[i].type != CLI_SECTION && c->opts[i].short_name == ch) {
            *idx = i;
            return &c->opts[i];
        }
    return NULL;
}

// Stores text into the field of o; CLI_USAGE (printed) when it is not a valid value.
static int store(const cli_cmd *c, const cli_opt *o, const char *shown, const char *text,
                 void *opts) {
    void *field = (char *)opts + o->offset;
    char *end = NULL;
    char range[96];
    if (o->max >= 1e12)
        snprintf(range, sizeof range, "at least %.15g", o->min);
    else
        snprintf(range, sizeof range, "%.15g..%.15g", o->min, o->max);
    errno = 0;
    switch (o->type) {
    case CLI_INT:
    case CLI_LONG: {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return usage_error(c, "%s expects an integer, got '%s'", shown, text);
        if ((double)v < o->min || (double)v > o->max)
            return usage_error(c, "%s: %s is out of range (%s)", shown, text, range);
        if (o->type == CLI_INT)
            *(int *)field = (int)v;
        else
            *(long *)field = (long)v;
        return CLI_OK;
    }
    case CLI_FLOAT: {
        double v = strtod(text, &end);
        if (end == text || *end || !isfinite(v))
            return usage_error(c, "%s expects a number, got '%s'", shown, text);
        if (v < o->min || v > o->max)
            return usage_error(c, "%s: %s is out of range (%s)", shown, text, range);
        *(float *)field = (float)v;
        return CLI_OK;
    }
    case CLI_U64: {
        if (text[0] == '-')
            return usage_error(c, "%s expects a non-negative integer, got '%s'", shown, text);
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end || errno)
            return usage_error(c, "%s expects a non-negative integer, got '%s'", shown, text);
        *(uint64_t *)field = (uint64_t)v;
        return CLI_OK;
    }
    case CLI_STR:
        if (!text[0]) return usage_error(c, "%s expects a value, got '%s'", shown, text);
        *(const char **)field = text;
        return CLI_OK;
    case CLI_FLAG:
    case CLI_SECTION:
        break;
    }
    return CLI_OK;
}

int cli_parse(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a) {
    memset(a, 0, sizeof *a);
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (only_pos || w[0] != '-' || w[1] == '\0') { // "-" alone is a value (stdout)
            if (a->n_pos >= c->n_pos_max || a->n_pos >= CLI_MAX_POS)
                return usage_error(c, "unexpected argument '%s'", w);
            a->pos[a->n_pos++] = w;
            continue;
        }
        if (strcmp(w, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
            a->help = 1;
            return CLI_OK;
        }
        const cli_opt *o;
        const char *value = NULL;
        char shown[80];
        int idx = -1;
        if (w[1] == '-') {
            const char *name = w + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(c, name, len, &idx);
            if (!o) {
                snprintf(shown, sizeof shown, "--%.*s", (int)(len < 60 ? len : 60), name);
                return usage_error(c, "unknown option '%s'", shown);
            }
            snprintf(shown, sizeof shown, "--%s", o->name);
            if (eq) value = eq + 1;
        } else {
            o = find_short(c, w[1], &idx);
            if (!o) {
                snprintf(shown, sizeof shown, "-%c", w[1]);
                return usage_error(c, "unknown option '%s'", shown);
            }
            snprintf(shown, sizeof shown, "-%c", w[1]);
            if (w[2]) value = w + 2;
        }
        if (o->type == CLI_FLAG) {
            if (value) return usage_error(c, "option '%s' takes no value", shown);
            *(int *)(void *)((char *)opts + o->offset) = 1;
        } else {
            if (!value) {
                if (i + 1 >= argc)
                    return usage_error(c, "option '%s' needs a value (%s)", shown,
                                       o->meta ? o->meta : "VALUE");
                value = argv[++i];
            }
            int rc = store(c, o, shown, value, opts);
            if (rc != CLI_OK) return rc;
        }
        a->set[idx] = 1;
    }
    if (a->n_pos < c->n_pos_min)
        return usage_error(c, "missing argument: usage is cdrl %s %s", c->name, c->args);
    return CLI_OK;
}

int cli_given(const cli_cmd *c, const cli_args *a, const char *name) {
    int idx = -1;
    return find_long(c, name, strlen(name), &idx) ? a->set[idx] : 0;
}

static void default_text(const cli_opt *o, const void *defaults, char *buf, size_t n) {
    const void *field = (const char *)defaults + o->offset;
    if (o->def) {
        snprintf(buf, n, "%s", o->def);
        return;
    }
    switch (o->type) {
    case CLI_FLAG:
        snprintf(buf, n, "%s", *(const int *)field ? "on" : "off");
        break;
    case CLI_INT:
        snprintf(buf, n, "%d", *(const int *)field);
        break;
    case CLI_LONG:
        snprintf(buf, n, "%ld", *(const long *)field);
        break;
    case CLI_FLOAT:
        snprintf(buf, n, "%g", (double)*(const float *)field);
        break;
    case CLI_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case CLI_STR: {
        const char *s = *(const char *const *)field;
        snprintf(buf, n, "%s", s ? s : "none");
        break;
    }
    case CLI_SECTION:
        buf[0] = '\0';
        break;
    }
}

void cli_help(const cli_cmd *c, const void *defaults, FILE *f) {
    fprintf(f, "usage: cdrl %s %s\n\n%s\n", c->name, c->args, c->summary);
    if (c->example) fprintf(f, "\nexample:\n  %s\n", c->example);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < c->n_opts; i++) {
        const cli_opt *o = &c->opts[i];
        if (o->type == CLI_SECTION) {
            fprintf(f, "\n%s:\n", o->help);
            continue;
        }
        char left[64], def[128];
        int k = o->short_name ? snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name)
                              : snprintf(left, sizeof left, "      --%s", o->name);
        if (o->type != CLI_FLAG && k > 0 && (size_t)k < sizeof left)
            snprintf(left + k, sizeof left - (size_t)k, " %s", o->meta ? o->meta : "VALUE");
        default_text(o, defaults, def, sizeof def);
        fprintf(f, "%-30s %s (default: %s)\n", left, o->help, def);
    }
    fprintf(f, "  -h, --help                   this text (default: off)\n");
}
