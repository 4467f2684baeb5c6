// The CIFAR-10 binary reader: any bytes as data_batch_1.bin (the other four batches absent,
// which the reader reports and skips), opened as a data set.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_file(data, size, "data_batch_1.bin")) return 0;
    char spec[128];
    snprintf(spec, sizeof spec, "cifar10:%s", fuzz_dir());
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) == CDRL_OK) cdrl_dataset_free(d);
    return 0;
}
