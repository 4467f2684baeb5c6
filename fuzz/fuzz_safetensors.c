// The safetensors reader (checkpoints, official weights, fixtures): any bytes as a file; every
// tensor it accepts is read whole, and its name and metadata as strings.
#include <string.h>

#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "x.safetensors");
    cdrl_st_file *f = NULL;
    if (!path || cdrl_st_load(&f, path) != CDRL_OK) return 0;
    static const size_t elem[] = {4, 8, 8, 4, 1}; // F32, F64, I64, I32, U8
    for (int i = 0; i < cdrl_st_count(f); i++) {
        const cdrl_st_tensor *t = cdrl_st_at(f, i);
        fuzz_touch(t->name, strlen(t->name));
        fuzz_touch(t->data, t->numel * elem[t->dtype]);
    }
    const char *meta = cdrl_st_meta(f, "config");
    if (meta) fuzz_touch(meta, strlen(meta));
    cdrl_st_free(f);
    return 0;
}
