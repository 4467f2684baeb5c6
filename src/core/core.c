// Assertions, logging, statuses, the allocation shim, the scratch arena and thread settings.
#include "core/core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void cdrl_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "cdrl: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}

const char *cdrl_status_str(cdrl_status s) {
    switch (s) {
    case CDRL_OK:
        return "CDRL_OK";
    case CDRL_STATUS_IO:
        return "CDRL_STATUS_IO";
    case CDRL_STATUS_FORMAT:
        return "CDRL_STATUS_FORMAT";
    case CDRL_STATUS_MISMATCH:
        return "CDRL_STATUS_MISMATCH";
    case CDRL_STATUS_NOMEM:
        return "CDRL_STATUS_NOMEM";
    case CDRL_STATUS_INVALID:
        return "CDRL_STATUS_INVALID";
    case CDRL_STATUS_DIVERGED:
        return "CDRL_STATUS_DIVERGED";
    case CDRL_STATUS_CANCELLED:
        return "CDRL_STATUS_CANCELLED";
    }
    return "CDRL_STATUS_UNKNOWN";
}

// ---------------------------------------------------------------------------------------
// Logging: the only global state of the library (documented in cdrl.h).
static cdrl_log_fn log_fn;
static void *log_user;

void cdrl_set_log_callback(cdrl_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

static void log_v(cdrl_log_level level, const char *fmt, va_list ap) {
    if (!log_fn) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_fn(level, msg, log_user);
}

void cdrl_log(cdrl_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

cdrl_status cdrl_fail(cdrl_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(CDRL_LOG_ERROR, fmt, ap);
    va_end(ap);
    return s;
}

// ---------------------------------------------------------------------------------------
// Heap
static atomic_long alloc_live;

static _Thread_local size_t budget, budget_used;
static _Thread_local int budget_refused;

void cdrl_alloc_budget_set(size_t bytes) {
    budget = bytes;
    budget_used = 0;
    budget_refused = 0;
}

int cdrl_alloc_budget_refused(void) { return budget_refused; }

void *cdrl_malloc(size_t bytes) {
    size_t rounded = (bytes + CDRL_ALIGN - 1) / CDRL_ALIGN * CDRL_ALIGN;
    if (budget) {
        if (rounded > budget - budget_used) {
            budget_refused = 1;
            return NULL;
        }
        budget_used += rounded;
    }
    void *p = aligned_alloc(CDRL_ALIGN, rounded ? rounded : CDRL_ALIGN);
    if (p) atomic_fetch_add(&alloc_live, 1);
    return p;
}

void *cdrl_calloc(size_t bytes) {
    void *p = cdrl_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cdrl_free(void *p) {
    if (!p) return;
    atomic_fetch_sub(&alloc_live, 1);
    free(p);
}

long cdrl_alloc_live(void) { return atomic_load(&alloc_live); }

// ---------------------------------------------------------------------------------------
// Arena
cdrl_status cdrl_arena_init(cdrl_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->base = cdrl_malloc(bytes);
    if (!a->base) return cdrl_fail(CDRL_STATUS_NOMEM, "arena: cannot allocate %zu bytes", bytes);
    a->cap = bytes;
    return CDRL_OK;
}

void cdrl_arena_deinit(cdrl_arena *a) {
    if (a->release)
        a->release(a->base);
    else
        cdrl_free(a->base);
    memset(a, 0, sizeof *a);
}

size_t cdrl_arena_floats_size(size_t n) {
    return (n * sizeof(float) + CDRL_ALIGN - 1) / CDRL_ALIGN * CDRL_ALIGN;
}

float *cdrl_arena_floats(cdrl_arena *a, size_t n) {
    size_t bytes = cdrl_arena_floats_size(n);
    CDRL_ASSERT(a->used + bytes <= a->cap);
    float *p = (float *)(a->base + a->used);
    a->used += bytes;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

// ---------------------------------------------------------------------------------------
// Threads
void cdrl_set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int cdrl_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
