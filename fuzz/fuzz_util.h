// Shared by the libFuzzer harnesses (fuzz/fuzz_*.c, `make fuzz`): cdrl's readers take paths,
// so each input is written to a file of this process, named as the reader expects. The folder is
// on /dev/shm where the machine has it: a memory file system, so that millions of small files
// cost no disk writeback (on /tmp a file-reading harness spent half its time in the kernel).
#ifndef CDRL_FUZZ_FUZZ_UTIL_H
#define CDRL_FUZZ_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdrl.h"

// The folder of this process, /dev/shm/cdrl_fuzz_<pid> (or /tmp/...), and what was made in it
// (removed at exit).
static char fuzz_dir_path[64], fuzz_made[8][256];
static int fuzz_n_made;

static inline void fuzz_cleanup(void) {
    for (int i = fuzz_n_made - 1; i >= 0; i--) // files, then their sub-folders
        remove(fuzz_made[i]);
    rmdir(fuzz_dir_path);
}

// Remembers a path to remove at exit (once).
static inline void fuzz_made_path(const char *path) {
    for (int i = 0; i < fuzz_n_made; i++)
        if (strcmp(fuzz_made[i], path) == 0) return;
    if (fuzz_n_made < 8) snprintf(fuzz_made[fuzz_n_made++], sizeof fuzz_made[0], "%s", path);
}

static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        struct stat shm;
        const char *root =
            stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/cdrl_fuzz_%d", root, (int)getpid());
        mkdir(fuzz_dir_path, 0700);
        atexit(fuzz_cleanup);
    }
    return fuzz_dir_path;
}

// Writes data to <fuzz_dir>/<name> (name may hold one sub-folder, made once) and returns that
// path (valid until the next call).
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *name) {
    static char path[256];
    mkdir(fuzz_dir(), 0700); // again: the folder may have been cleaned while a long run went on
    const char *slash = strchr(name, '/');
    if (slash) {
        snprintf(path, sizeof path, "%s/%.*s", fuzz_dir(), (int)(slash - name), name);
        mkdir(path, 0700);
        fuzz_made_path(path);
    }
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    fuzz_made_path(path);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    return fclose(f) == 0 ? path : NULL;
}

// Sums every byte of a buffer the reader handed over, so that a length it got wrong is read
// out of bounds under ASan.
static inline unsigned fuzz_touch(const void *p, size_t n) {
    const volatile uint8_t *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

// Opens "<kind>:<fuzz_dir><sub>" as a data set (the files written there) and frees it again.
static inline void fuzz_open_set(const char *kind, const char *sub) {
    char spec[160];
    snprintf(spec, sizeof spec, "%s:%s%s", kind, fuzz_dir(), sub);
    cdrl_dataset *d = NULL;
    if (cdrl_dataset_open(&d, spec) == CDRL_OK) cdrl_dataset_free(d);
}

#endif // CDRL_FUZZ_FUZZ_UTIL_H
