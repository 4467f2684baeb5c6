// The PNG reader (image folders, inpainting inputs and masks): any bytes; the pixels of an
// image it accepts are read whole.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "x.png");
    uint8_t *px = NULL;
    int w = 0, h = 0, c = 0;
    if (path && cdrl_png_read(path, &px, &w, &h, &c) == CDRL_OK)
        fuzz_touch(px, (size_t)w * (size_t)h * (size_t)c);
    cdrl_free(px);
    return 0;
}
