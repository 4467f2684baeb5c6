// Replays inputs through a fuzz harness without libFuzzer: `replay_NAME FILE...` calls the
// harness's LLVMFuzzerTestOneInput once per file. `make test` builds one per harness (under the
// sanitizers in `make sanitize`) and tests/test_fuzz_replay.sh runs each over tests/corpus/NAME:
// the seeds and every input that once failed.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0, got;
        do {
            if (n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 4096))) return 1;
            got = fread(buf + n, 1, cap - n, f);
            n += got;
        } while (got > 0);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    return 0;
}
