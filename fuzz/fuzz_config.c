// The configuration JSON (a checkpoint's "config" metadata): any text, then the validation of
// what it set.
#include <stdlib.h>
#include <string.h>

#include "cdrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    cdrl_config c;
    cdrl_config_preset(&c, "demo");
    if (cdrl_config_from_json(&c, json) == CDRL_OK) (void)cdrl_config_check(&c);
    free(json);
    return 0;
}
