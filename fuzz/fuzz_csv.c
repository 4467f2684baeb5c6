// The CSV points reader (`points:FILE`, with a header naming label columns or without):
// any text as the file, opened as a data set; a set it accepts draws a few labelled points.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "points.csv");
    if (!path) return 0;
    char spec[300];
    snprintf(spec, sizeof spec, "points:%s", path);
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) != CDRL_OK) return 0;
    const int A = cdrl_dataset_attrs(d);
    const size_t n = cdrl_dataset_size(d) < 8 ? cdrl_dataset_size(d) : 8;
    float x[8 * 2];
    int cls[8 * 4];
    if (n && A <= 4) cdrl_dataset_draw_labelled(d, x, A ? cls : NULL, n, 1, 0);
    cdrl_dataset_free(d);
    return 0;
}
