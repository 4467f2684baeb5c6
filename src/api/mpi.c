// The public face of the processes of a data-parallel job (cdrl.h, core/dist.h).
#include "core/dist.h"

cdrl_status cdrl_mpi_init(int *argc, char ***argv) { return cdrl_dist_init(argc, argv); }
void cdrl_mpi_finalize(void) { cdrl_dist_finalize(); }
int cdrl_mpi_rank(void) { return cdrl_dist_rank(); }
int cdrl_mpi_size(void) { return cdrl_dist_size(); }
int cdrl_mpi_any(int flag) { return cdrl_dist_any(flag); }
void cdrl_mpi_abort(int code) { cdrl_dist_abort(code); }
int cdrl_mpi_mine(int b) { return b % cdrl_dist_size() == cdrl_dist_rank(); }
void cdrl_mpi_gather_batches(float *x, int n, int batch, size_t item_floats) {
    cdrl_dist_gather_batches(x, n, batch, item_floats);
}
