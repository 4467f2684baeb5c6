// The IDX reader (MNIST, Fashion-MNIST; gzip or plain): the input is cut in two at the place its
// first two bytes name, the labels file then the images file, and opened as a data set.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    data += 2, size -= 2;
    if (cut > size) cut = size;
    if (!fuzz_file(data, cut, "train-labels-idx1-ubyte.gz") ||
        !fuzz_file(data + cut, size - cut, "train-images-idx3-ubyte.gz"))
        return 0;
    fuzz_open_set("fashion-mnist", "");
    return 0;
}
