// The processes of a data-parallel job (core/dist.h), run alone by `make test` (one process)
// and under `mpirun -np 2` and `-np 3` by tests/test_mpi.sh:
// - the chain sum adds C terms left to right in chunk order whatever the process count: the
//   same bits as a local left fold, and terms of mixed magnitudes whose sum depends on the
//   order (so that another order would fail the check);
// - batch gathers put every rank's batches on every rank;
// - a chain that goes NaN on the last rank alone stops every rank at the same step with the
//   DIVERGED status, a message naming that rank, and no weight changed.
#include "api/model.h"
#include "core/dist.h"
#include "test_util.h"

#define TERMS 6
#define N     1000

// Term t, element i: magnitudes from 1e-8 to 1e8, so that sums depend on their order.
static float term(int t, int i) {
    const float mag[TERMS] = {1e8f, 1.0f, -1e8f, 3e-8f, 7.0f, -1.0f};
    return mag[t] * (1.0f + 0.001f * (float)((i * 7 + t * 13) % 101));
}

static void test_chain_sum(void) {
    const int r = cdrl_dist_rank(), P = cdrl_dist_size();
    int lo, hi;
    cdrl_dist_share(TERMS, r, P, &lo, &hi);
    float *want = calloc(N, sizeof(float)), *acc = calloc(N, sizeof(float));
    float *own = calloc((size_t)TERMS * N, sizeof(float)), *back = calloc(N, sizeof(float));
    for (int i = 0; i < N; i++) {
        want[i] = term(0, i);
        for (int t = 1; t < TERMS; t++)
            want[i] += term(t, i);
        back[i] = term(TERMS - 1, i); // right to left: another order, other bits
        for (int t = TERMS - 2; t >= 0; t--)
            back[i] += term(t, i);
    }
    // Rank 0 folds its own terms; the others hand theirs over one after another.
    for (int i = 0; i < N; i++) {
        if (r == 0) {
            acc[i] = term(lo, i);
            for (int t = lo + 1; t < hi; t++)
                acc[i] += term(t, i);
        } else {
            for (int t = lo; t < hi; t++)
                own[(size_t)(t - lo) * N + (size_t)i] = term(t, i);
        }
    }
    cdrl_dist_chain_sum(acc, r ? own : NULL, r ? hi - lo : 0, N);
    CHECK(memcmp(acc, want, N * sizeof(float)) == 0,
          "chain sum over %d processes: the bits of the left fold", P);
    CHECK(memcmp(back, want, N * sizeof(float)) != 0,
          "the terms' sum depends on the order (the check above can fail)");
    free(want), free(acc), free(own), free(back);
}

static void test_gather(void) {
    const int n = 23, batch = 4, D = 3, P = cdrl_dist_size();
    float x[23 * 3];
    for (int i = 0; i < n * D; i++)
        x[i] = -1.0f;
    for (int s0 = 0, b = 0; s0 < n; s0 += batch, b++)
        for (int i = s0; i < n && i < s0 + batch; i++)
            for (int d = 0; d < D && cdrl_mpi_mine(b); d++)
                x[i * D + d] = (float)(i * 10 + d);
    cdrl_mpi_gather_batches(x, n, batch, D);
    int right = 1;
    for (int i = 0; i < n * D; i++)
        right &= x[i] == (float)((i / D) * 10 + i % D);
    CHECK(right, "every batch on every rank after the gather (%d processes)", P);
}

// The trainer's Langevin hook: NaN into the chain after step 1, on the last rank only.
static void poison(void *user, int k, float *y) {
    (void)user;
    if (k == 1 && cdrl_dist_rank() == cdrl_dist_size() - 1) y[0] = NAN;
}

static char logged[512];
static void keep_log(cdrl_log_level level, const char *msg, void *user) {
    (void)level, (void)user;
    snprintf(logged, sizeof logged, "%s", msg);
}

static void test_divergence(void) {
    cdrl_config c;
    cdrl_config_preset(&c, "demo");
    c.ebm_ch = 8, c.init_t_dim = 8, c.batch = 12, c.n_langevin = 3;
    c.grad_chunks = 3;
    cdrl_dataset *d = NULL;
    cdrl_model *m = NULL;
    CHECK(cdrl_dataset_open(&d, "checkerboard") == CDRL_OK && cdrl_model_create(&m, &c) == CDRL_OK,
          "model and data");
    if (!m || !d) return;
    cdrl_train_stats st;
    CHECK(cdrl_model_train_step(m, d, &st) == CDRL_OK, "a clean step");
    float *before = malloc(m->ebm_net.params->total * sizeof(float));
    memcpy(before, m->ebm_net.p_own, m->ebm_net.params->total * sizeof(float));
    m->tr.langevin_trace = poison;
    cdrl_set_log_callback(keep_log, NULL);
    const cdrl_status s = cdrl_model_train_step(m, d, &st);
    cdrl_set_log_callback(NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "rank %d: training step 2", cdrl_dist_size() - 1);
    CHECK(s == CDRL_STATUS_DIVERGED && (cdrl_dist_size() == 1 || strstr(logged, want)),
          "NaN on the last rank: every rank stops at step 2 (%s: %s)", cdrl_status_str(s), logged);
    CHECK(memcmp(before, m->ebm_net.p_own, m->ebm_net.params->total * sizeof(float)) == 0 &&
              cdrl_model_step(m) == 1,
          "no weight changed, the step count stays 1");
    free(before);
    cdrl_model_free(m);
    cdrl_dataset_free(d);
}

int main(int argc, char **argv) {
    if (cdrl_mpi_init(&argc, &argv) != CDRL_OK) return 1;
    test_chain_sum();
    test_gather();
    test_divergence();
    char name[64];
    snprintf(name, sizeof name, "test_dist (rank %d of %d)", cdrl_dist_rank(), cdrl_dist_size());
    const int rc = test_report(name);
    cdrl_mpi_finalize();
    return rc;
}
