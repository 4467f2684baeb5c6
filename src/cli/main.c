// The cdrl program: one subcommand per job (train, sample, eval, info, energy). This first
// version only reports its version; the subcommands arrive with the 2-D and image issues.
#include <stdio.h>
#include <string.h>

#include "cdrl.h"

static void usage(FILE *out) {
    fprintf(out, "usage: cdrl <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  version   print the version\n"
                 "  help      this text\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("cdrl %d.%d.%d\n", CDRL_VERSION_MAJOR, CDRL_VERSION_MINOR, CDRL_VERSION_PATCH);
        return 0;
    }
    fprintf(stderr, "cdrl: unknown command '%s' (see `cdrl help`)\n", argv[1]);
    return 2;
}
