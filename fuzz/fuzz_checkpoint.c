// A checkpoint as cdrl_model_load reads it: the safetensors file, the configuration JSON in
// its metadata, the model that configuration asks for, every tensor's name and shape against
// that model. A model it accepts is freed again.
#include "cdrl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "model.safetensors");
    cdrl_model *m = NULL;
    if (path && cdrl_model_load(&m, path) == CDRL_OK) cdrl_model_free(m);
    return 0;
}
