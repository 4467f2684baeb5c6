// Processes of a data-parallel job: Open MPI behind the few collectives cdrl needs, or the
// one-process case without it (dist.h).
#include "core/dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef CDRL_MPI
#include <mpi.h>

static int dist_on; // MPI started by cdrl_dist_init
static int dist_rank_, dist_size_ = 1;

// Floats per message of the chain sum: small enough that the next rank starts adding while
// this one still receives, large enough that each message runs at the link's speed.
#define CHAIN_SEGMENT ((size_t)1 << 18)
// MPI counts are int: byte transfers go in pieces of at most this many.
#define MAX_BYTES ((size_t)1 << 30)

static int launched(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                 "SLURM_STEP_ID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

cdrl_status cdrl_dist_init(int *argc, char ***argv) {
    if (dist_on || !launched()) return CDRL_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return cdrl_fail(CDRL_STATUS_IO, "MPI: cannot start (MPI_Init failed)");
    dist_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size_);
    return CDRL_OK;
}

void cdrl_dist_finalize(void) {
    if (!dist_on) return;
    MPI_Finalize();
    dist_on = 0;
    dist_rank_ = 0;
    dist_size_ = 1;
}

int cdrl_dist_rank(void) { return dist_rank_; }
int cdrl_dist_size(void) { return dist_size_; }

void cdrl_dist_abort(int code) {
    if (dist_on) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int cdrl_dist_first_set(int flag, char *msg, size_t size) {
    if (!dist_on) return flag ? 0 : -1;
    int mine = flag ? dist_rank_ : dist_size_, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == dist_size_) return -1;
    if (msg && size) cdrl_dist_bcast(msg, size, first);
    if (msg && size) msg[size - 1] = 0;
    return first;
}

int cdrl_dist_any(int flag) {
    if (!dist_on) return flag != 0;
    int mine = flag != 0, any;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

void cdrl_dist_bcast(void *buf, size_t bytes, int root) {
    if (!dist_on) return;
    for (size_t o = 0; o < bytes; o += MAX_BYTES) {
        const size_t k = bytes - o < MAX_BYTES ? bytes - o : MAX_BYTES;
        MPI_Bcast((char *)buf + o, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

void cdrl_dist_gather_batches(float *x, int n, int batch, size_t item_floats) {
    if (!dist_on || dist_size_ == 1) return;
    for (int s0 = 0, b = 0; s0 < n; s0 += batch, b++) {
        const size_t items = (size_t)(n - s0 < batch ? n - s0 : batch);
        cdrl_dist_bcast(x + (size_t)s0 * item_floats, items * item_floats * sizeof(float),
                        b % dist_size_);
    }
}

void cdrl_dist_chain_sum(float *acc, const float *own, int n_own, size_t n) {
    if (!dist_on || dist_size_ == 1) {
        CDRL_ASSERT(n_own == 0);
        return;
    }
    const int r = dist_rank_, P = dist_size_;
    CDRL_ASSERT((r == 0) == (n_own == 0));
    for (size_t o = 0; o < n; o += CHAIN_SEGMENT) {
        const int k = (int)(n - o < CHAIN_SEGMENT ? n - o : CHAIN_SEGMENT);
        float *a = acc + o;
        if (r > 0) {
            MPI_Recv(a, k, MPI_FLOAT, r - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int t = 0; t < n_own; t++) {
                const float *g = own + (size_t)t * n + o;
                for (int i = 0; i < k; i++)
                    a[i] += g[i];
            }
        }
        if (r < P - 1) MPI_Send(a, k, MPI_FLOAT, r + 1, 0, MPI_COMM_WORLD);
    }
    cdrl_dist_bcast(acc, n * sizeof(float), P - 1);
}

#else // one process

cdrl_status cdrl_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return CDRL_OK;
}
void cdrl_dist_finalize(void) {}
int cdrl_dist_rank(void) { return 0; }
int cdrl_dist_size(void) { return 1; }
void cdrl_dist_abort(int code) { exit(code); }
int cdrl_dist_first_set(int flag, char *msg, size_t size) {
    (void)msg, (void)size;
    return flag ? 0 : -1;
}
int cdrl_dist_any(int flag) { return flag != 0; }
void cdrl_dist_bcast(void *buf, size_t bytes, int root) { (void)buf, (void)bytes, (void)root; }
void cdrl_dist_gather_batches(float *x, int n, int batch, size_t item_floats) {
    (void)x, (void)n, (void)batch, (void)item_floats;
}
void cdrl_dist_chain_sum(float *acc, const float *own, int n_own, size_t n) {
    (void)acc, (void)own, (void)n;
    CDRL_ASSERT(n_own == 0);
}

#endif
