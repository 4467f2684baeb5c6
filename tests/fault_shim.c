// An LD_PRELOAD shim that injects I/O faults into the files cdrl writes under a temporary name
// (tests/test_io_faults.sh). CDRL_FAULT selects one:
//   write:N   writes to a "*.tmp" file fail with ENOSPC once N bytes went to it (a full disk)
//   fsync     fsync fails with EIO
//   rename    renaming a "*.tmp" file fails with EIO
// CDRL_FAULT_FILE, when set, limits the faults to temporary files whose name contains it.
// Everything else passes through to the C library.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *tmp_files[16];
static size_t written[16];

static int is_tmp(const char *path) {
    const size_t n = strlen(path);
    const char *only = getenv("CDRL_FAULT_FILE");
    return n > 4 && strcmp(path + n - 4, ".tmp") == 0 && (!only || strstr(path, only));
}

static const char *fault(void) {
    const char *f = getenv("CDRL_FAULT");
    return f ? f : "";
}

FILE *fopen(const char *path, const char *mode) {
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    FILE *f = real(path, mode);
    if (f && is_tmp(path))
        for (int i = 0; i < 16; i++)
            if (!tmp_files[i]) {
                tmp_files[i] = f;
                written[i] = 0;
                break;
            }
    return f;
}

int fclose(FILE *f) {
    int (*real)(FILE *) = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    for (int i = 0; i < 16; i++)
        if (tmp_files[i] == f) tmp_files[i] = NULL;
    return real(f);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f) {
    size_t (*real)(const void *, size_t, size_t, FILE *) =
        (size_t(*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
    if (strncmp(fault(), "write:", 6) == 0)
        for (int i = 0; i < 16; i++)
            if (tmp_files[i] == f) {
                const size_t budget = strtoull(fault() + 6, NULL, 10);
                if (written[i] + size * n > budget) {
                    errno = ENOSPC;
                    return 0;
                }
                written[i] += size * n;
            }
    return real(p, size, n, f);
}

int fsync(int fd) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (strcmp(fault(), "fsync") == 0) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int rename(const char *from, const char *to) {
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    if (strcmp(fault(), "rename") == 0 && is_tmp(from)) {
        errno = EIO;
        return -1;
    }
    return real(from, to);
}
