// The CIFAR-10 binary reader: any bytes as data_batch_1.bin (the other four batches absent,
// which the reader reports and skips), opened as a data set.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_file(data, size, "data_batch_1.bin")) return 0;
    fuzz_open_set("cifar10", "");
    return 0;
}
