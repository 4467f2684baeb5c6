// The CLI's option parser (src/cli/args.c): the input is an argument vector (NUL-separated
// strings) parsed against a table with every kind of option the commands use: flags, int,
// long, float, seed, string, short aliases, sections and positional arguments.
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct opts {
    int flag, i;
    long l;
    float f;
    uint64_t seed;
    const char *s;
    int threads, verbose;
    const char *backend;
} opts;

#define O(f) offsetof(opts, f)
static const cli_opt table[] = {
    {"Settings", 0, CLI_SECTION, 0, NULL, "Settings", NULL, 0, 0},
    {"flag", 'F', CLI_FLAG, O(flag), NULL, "a flag", NULL, 0, 0},
    {"int", 'n', CLI_INT, O(i), "N", "an int", NULL, -5, 1000},
    {"long", 0, CLI_LONG, O(l), "N", "a long", NULL, 0, 1e12},
    {"float", 'w', CLI_FLOAT, O(f), "W", "a float", NULL, -1, 1e6},
    {"seed", 's', CLI_U64, O(seed), "S", "a seed", NULL, 0, 0},
    {"str", 'o', CLI_STR, O(s), "FILE", "a string", NULL, 0, 0},
    CLI_OPTS_GENERAL,
};
static const cli_cmd cmd = {"fuzz",
                            "[options] [A [B]]",
                            "The fuzzer's command.",
                            "cdrl fuzz",
                            table,
                            (int)(sizeof table / sizeof table[0]),
                            0,
                            2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 1), *argv[64];
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int argc = 0;
    for (size_t i = 0; i <= size && argc < 63;) { // NUL-separated strings
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    opts o = {.i = 1, .backend = "cpu"};
    cli_args a;
    // The parser's usage errors go to stderr: point that at /dev/null (a new FILE, so that
    // libFuzzer, which kept the old one, still reports).
    static FILE *null_out;
    if (!null_out && !(null_out = fopen("/dev/null", "w"))) abort();
    stderr = null_out;
    (void)cli_parse(&cmd, argc, argv, &o, &a);
    free(buf);
    return 0;
}
