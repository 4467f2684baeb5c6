// Processes of a data-parallel job (Open MPI). Built with MPI when the Makefile finds mpicc
// (CDRL_MPI); MPI starts only when a launcher (mpirun, srun) started this process, so a program
// run on its own is one process and never touches MPI. Without MPI every call is the
// one-process case: rank 0 of 1, sums and gathers that copy nothing.
//
// Everything here is deterministic: sums run in a fixed order whatever the process count
// (cdrl_dist_chain_sum), so that results are the same bytes on 1, 2 or P processes.
#ifndef CDRL_CORE_DIST_H
#define CDRL_CORE_DIST_H

#include <stddef.h>

#include "core/core.h"

// Starts MPI when launched by mpirun/srun (and built with it). Returns CDRL_OK, or an error
// status when MPI should start and cannot.
cdrl_status cdrl_dist_init(int *argc, char ***argv);
void cdrl_dist_finalize(void);
int cdrl_dist_rank(void);
int cdrl_dist_size(void);
// Ends every process of the job at once (after a failure only one rank saw).
void cdrl_dist_abort(int code);

// Items [lo, hi) of n items dealt to the ranks in contiguous runs, rank r the r-th run.
static inline void cdrl_dist_share(int n, int rank, int size, int *lo, int *hi) {
    *lo = (int)((long)n * rank / size);
    *hi = (int)((long)n * (rank + 1) / size);
}

// The lowest rank whose flag is set, or -1 when no flag is set. With msg (size bytes), the
// message of that rank replaces msg on every rank.
int cdrl_dist_first_set(int flag, char *msg, size_t size);
// Logical OR of flag over the ranks.
int cdrl_dist_any(int flag);
// Rank root's bytes into every rank's buf.
void cdrl_dist_bcast(void *buf, size_t bytes, int root);
// n items of item_floats floats in batches of `batch`, batch b made by rank b % size: every
// batch to every rank (cdrl_mpi_gather_batches).
void cdrl_dist_gather_batches(float *x, int n, int batch, size_t item_floats);

// The sum g_0 + g_1 + ... + g_{C-1} of C vectors of n floats, added left to right in this
// order whatever the number of processes. Each rank holds a contiguous run of the terms, in
// rank order: rank 0 passes its left-folded sum in acc (n_own = 0, own = NULL), every other
// rank its own terms in own (n_own vectors of n floats, one after another). The sum arrives in
// acc on every rank. The partial sums travel from rank to rank in segments, so the chain
// overlaps across ranks and costs about two transfers of n floats at any process count.
void cdrl_dist_chain_sum(float *acc, const float *own, int n_own, size_t n);

#endif // CDRL_CORE_DIST_H
