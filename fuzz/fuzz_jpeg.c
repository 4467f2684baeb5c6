// The JPEG reader of image folders (libjpeg): any bytes as the one image of a folder, opened
// as a data set.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_file(data, size, "jpeg/a.jpg")) return 0;
    char spec[128];
    snprintf(spec, sizeof spec, "folder:%s/jpeg", fuzz_dir());
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) == CDRL_OK) cdrl_dataset_free(d);
    return 0;
}
