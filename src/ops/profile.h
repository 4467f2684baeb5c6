// Op-level profile: while enabled, every op called through the backend table (ops/ops.h) is
// timed, and the products (convolutions, Linear layers, attention) count their FLOPs as the
// direct algorithm needs them. Rows are keyed by op, pass and shape, so each distinct layer
// shape of a network is one row. For benchmarks (make bench) and for finding what to speed
// up; off by default, when it costs one branch per op. Single-threaded: ops are called from
// outside parallel regions (the backends parallelise inside them), so the table needs no lock.
#ifndef CDRL_OPS_PROFILE_H
#define CDRL_OPS_PROFILE_H

#include <stdio.h>

extern int cdrl_profiling; // read by the dispatch of every op

void cdrl_profile_enable(int on);
void cdrl_profile_reset(void);
// Adds one call: op name, pass ("fwd", "bwd-data", "bwd-weight", ... or ""), shape text.
void cdrl_profile_record(const char *op, const char *pass, const char *shape, double flops,
                         double seconds);
// Totals since the last reset: seconds in ops and FLOPs of the products.
double cdrl_profile_seconds(void);
double cdrl_profile_flops(void);
// The table, heaviest rows first: calls, milliseconds per unit (divide by n_units, e.g. the
// iterations profiled), GFLOP/s and % of peak_gflops (where FLOPs are counted), share of the
// op time. Rows under min_share of the time are summed into one line.
void cdrl_profile_print(FILE *f, int n_units, double peak_gflops, double min_share);

double cdrl_profile_now(void); // monotonic seconds

#endif // CDRL_OPS_PROFILE_H
