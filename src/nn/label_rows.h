// Labels of several attributes as network inputs: the one-hot columns every conditional
// network uses, and the label combinations of the 2-D networks. A conditional 2-D model has A
// attributes, attribute a with K_a classes and labels 0..K_a (0 null); a sample's labels
// (A values) form one of C = prod (1 + K_a) combinations. Both 2-D networks compute their
// embedding path once per noise level; with labels they compute it once per (level,
// combination) row instead: R = L C rows, row r = level * C + combination. The label
// embedding is a Linear of the A concatenated one-hots (columns off_a + label_a of NC =
// sum (1 + K_a)), so each combination's embedding is the sum of its attributes' columns.
#ifndef CDRL_NN_LABEL_ROWS_H
#define CDRL_NN_LABEL_ROWS_H

#include "core/core.h"

// The classes K (A, unless NULL) of a model's attributes, the first n_classes and then more
// (n_more): returns A, 0 for an unconditional model.
static inline int cdrl_attr_classes(int *K, int n_classes, int n_more, const int *more) {
    if (!n_classes) return 0;
    for (int a = 0; K && a <= n_more; a++)
        K[a] = a ? more[a - 1] : n_classes;
    return 1 + n_more;
}

// The one-hot columns of labels (B, A) for a Linear of A concatenated one-hots, attribute a
// with K[a] classes (labels 0..K[a], 0 null) at columns off_a = sum_{b < a} (1 + K[b]):
// cols[n, a] = off_a + label[n, a]; label NULL: the null labels. Returns the column count NC.
static inline int cdrl_label_columns(int *cols, const int *label, int B, int A, const int *K) {
    int NC = 0;
    for (int a = 0; a < A; a++) {
        for (int n = 0; n < B && cols; n++) {
            const int v = label ? label[n * A + a] : 0;
            CDRL_ASSERT(v >= 0 && v <= K[a]);
            cols[n * A + a] = NC + v;
        }
        NC += 1 + K[a];
    }
    return NC;
}

#define CDRL_MAX_LABEL_ROWS 1024 // combinations C a 2-D network takes

typedef struct cdrl_label_rows {
    int A;                     // attributes; 0: unconditional (C = 1, row = level)
    int K[CDRL_MAX_ATTRS];     // classes per attribute
    int off[CDRL_MAX_ATTRS];   // first one-hot column of each attribute
    int NC;                    // sum (1 + K_a): columns of the label Linear
    int C;                     // combinations
    int *cols;                 // (C, A): the one-hot columns of every combination
    int *row_level, *row_comb; // (max_rows): level and combination of every row
    int *row;                  // (max_batch): each sample's row in the last index call
} cdrl_label_rows;

// CDRL_STATUS_INVALID for A outside 0..CDRL_MAX_ATTRS, a K < 1 or C > CDRL_MAX_LABEL_ROWS;
// NOMEM. max_levels bounds the L of later calls.
cdrl_status cdrl_label_rows_init(cdrl_label_rows *lr, int A, const int *K, int max_batch,
                                 int max_levels);
void cdrl_label_rows_deinit(cdrl_label_rows *lr);
// Rows of L levels: R = L * C, filling row_level and row_comb.
int cdrl_label_rows_count(cdrl_label_rows *lr, int L);
// row[n] = level[n] * C + the combination of label (B, A) (NULL: the null labels).
const int *cdrl_label_rows_index(cdrl_label_rows *lr, const int *level, const int *label, int B);

#endif // CDRL_NN_LABEL_ROWS_H
