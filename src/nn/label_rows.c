// Label combinations of the 2-D networks (see label_rows.h).
#include "nn/label_rows.h"

cdrl_status cdrl_label_rows_init(cdrl_label_rows *lr, int A, const int *K, int max_batch,
                                 int max_levels) {
    *lr = (cdrl_label_rows){.A = A, .C = 1};
    if (A < 0 || A > CDRL_MAX_ATTRS)
        return cdrl_fail(CDRL_STATUS_INVALID, "labels: %d attributes (0..%d)", A, CDRL_MAX_ATTRS);
    for (int a = 0; a < A; a++) {
        if (K[a] < 1 || lr->C * (1 + K[a]) > CDRL_MAX_LABEL_ROWS)
            return cdrl_fail(CDRL_STATUS_INVALID,
                             "labels: attribute %d has %d classes; a 2-D model takes at most %d "
                             "label combinations",
                             a + 1, K[a], CDRL_MAX_LABEL_ROWS);
        lr->K[a] = K[a];
        lr->off[a] = lr->NC;
        lr->NC += 1 + K[a];
        lr->C *= 1 + K[a];
    }
    const size_t rows = (size_t)lr->C * (size_t)max_levels;
    lr->cols = cdrl_malloc(sizeof(int) * (size_t)(lr->C * (A ? A : 1)));
    lr->row_level = cdrl_malloc(sizeof(int) * rows);
    lr->row_comb = cdrl_malloc(sizeof(int) * rows);
    lr->row = cdrl_malloc(sizeof(int) * (size_t)max_batch);
    if (!lr->cols || !lr->row_level || !lr->row_comb || !lr->row) {
        cdrl_label_rows_deinit(lr);
        return cdrl_fail(CDRL_STATUS_NOMEM, "labels: out of memory");
    }
    for (int c = 0; c < lr->C; c++) // mixed radix, attribute 0 the slowest digit
        for (int a = A - 1, rest = c; a >= 0; a--) {
            lr->cols[c * A + a] = lr->off[a] + rest % (1 + K[a]);
            rest /= 1 + K[a];
        }
    return CDRL_OK;
}

void cdrl_label_rows_deinit(cdrl_label_rows *lr) {
    cdrl_free(lr->cols);
    cdrl_free(lr->row_level);
    cdrl_free(lr->row_comb);
    cdrl_free(lr->row);
    *lr = (cdrl_label_rows){0};
}

int cdrl_label_rows_count(cdrl_label_rows *lr, int L) {
    for (int r = 0; r < L * lr->C; r++)
        lr->row_level[r] = r / lr->C, lr->row_comb[r] = r % lr->C;
    return L * lr->C;
}

const int *cdrl_label_rows_index(cdrl_label_rows *lr, const int *level, const int *label, int B) {
    for (int n = 0; n < B; n++) {
        int comb = 0;
        for (int a = 0; a < lr->A; a++) {
            const int v = label ? label[n * lr->A + a] : 0;
            CDRL_ASSERT(v >= 0 && v <= lr->K[a]);
            comb = comb * (1 + lr->K[a]) + v;
        }
        lr->row[n] = level[n] * lr->C + comb;
    }
    return lr->row;
}
