// The op-level profile (see profile.h).
#include "ops/profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define MAX_ROWS 1024

typedef struct row {
    char op[32], pass[24], shape[64];
    long calls;
    double seconds, flops;
} row;

int cdrl_profiling;
static row rows[MAX_ROWS];
static int n_rows;

double cdrl_profile_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cdrl_profile_enable(int on) { cdrl_profiling = on != 0; }

void cdrl_profile_reset(void) { n_rows = 0; }

void cdrl_profile_record(const char *op, const char *pass, const char *shape, double flops,
                         double seconds) {
    int i = 0;
    while (i < n_rows &&
           (strcmp(rows[i].op, op) || strcmp(rows[i].pass, pass) || strcmp(rows[i].shape, shape)))
        i++;
    if (i == n_rows) {
        if (n_rows == MAX_ROWS)
            i = MAX_ROWS - 1; // full: the last row takes the rest
        else {
            n_rows++;
            memset(&rows[i], 0, sizeof rows[i]);
            snprintf(rows[i].op, sizeof rows[i].op, "%s", op);
            snprintf(rows[i].pass, sizeof rows[i].pass, "%s", pass);
            snprintf(rows[i].shape, sizeof rows[i].shape, "%s", shape);
        }
    }
    rows[i].calls++;
    rows[i].seconds += seconds;
    rows[i].flops += flops;
}

double cdrl_profile_seconds(void) {
    double s = 0;
    for (int i = 0; i < n_rows; i++)
        s += rows[i].seconds;
    return s;
}

double cdrl_profile_flops(void) {
    double s = 0;
    for (int i = 0; i < n_rows; i++)
        s += rows[i].flops;
    return s;
}

static int by_time(const void *a, const void *b) {
    const double x = ((const row *)a)->seconds, y = ((const row *)b)->seconds;
    return (x < y) - (x > y);
}

void cdrl_profile_print(FILE *f, int n_units, double peak_gflops, double min_share) {
    if (n_rows == 0 || cdrl_profile_seconds() <= 0) {
        fprintf(f, "  (no ops recorded)\n");
        return;
    }
    qsort(rows, (size_t)n_rows, sizeof rows[0], by_time);
    const double total = cdrl_profile_seconds(), u = n_units > 0 ? n_units : 1;
    fprintf(f, "  %-22s %-15s %-28s %7s %9s %7s %5s %6s\n", "op", "pass", "shape", "calls", "ms",
            "GFLOP/s", "%pk", "share");
    double rest_s = 0, rest_f = 0;
    long rest_calls = 0;
    for (int i = 0; i < n_rows; i++) {
        const row *r = &rows[i];
        if (r->seconds < min_share * total) {
            rest_s += r->seconds;
            rest_f += r->flops;
            rest_calls += r->calls;
            continue;
        }
        const double gf = r->flops > 0 ? r->flops / r->seconds * 1e-9 : 0;
        fprintf(f, "  %-22s %-15s %-28s %7.0f %9.2f ", r->op, r->pass, r->shape,
                (double)r->calls / u, 1e3 * r->seconds / u);
        if (gf > 0)
            fprintf(f, "%7.1f %4.0f%% ", gf, peak_gflops > 0 ? 100 * gf / peak_gflops : 0);
        else
            fprintf(f, "%7s %5s ", "", "");
        fprintf(f, "%5.1f%%\n", 100 * r->seconds / total);
    }
    if (rest_calls)
        fprintf(f, "  %-22s %-15s %-28s %7.0f %9.2f %7.1f %5s %5.1f%%\n", "(the other rows)", "",
                "", (double)rest_calls / u, 1e3 * rest_s / u,
                rest_f > 0 ? rest_f / rest_s * 1e-9 : 0.0, "", 100 * rest_s / total);
    const double flops = cdrl_profile_flops();
    fprintf(f, "  %-22s %-15s %-28s %7s %9.2f %7.1f %4.0f%% %5.1f%%\n", "all ops", "", "", "",
            1e3 * total / u, flops / total * 1e-9,
            peak_gflops > 0 ? 100 * flops / total * 1e-9 / peak_gflops : 0.0, 100.0);
}
