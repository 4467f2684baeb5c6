// The JPEG reader of image folders (libjpeg): any bytes as the one image of a folder, opened
// as a data set.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_file(data, size, "jpeg/a.jpg")) return 0;
    fuzz_open_set("folder", "/jpeg");
    return 0;
}
