// Core services shared by every module: assertions, logging, the cdrl_malloc shim, the
// scratch arena and thread helpers. Nothing here knows about networks.
#ifndef CDRL_CORE_CORE_H
#define CDRL_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "cdrl.h"

// ---------------------------------------------------------------------------------------
// Assertions: programming errors, on in every build (GGML_ASSERT). CDRL_DASSERT is for hot
// loops and compiled out unless DEBUG is defined.
void cdrl_assert_fail(const char *expr, const char *file, int line);
#define CDRL_ASSERT(x)                                                                             \
    do {                                                                                           \
        if (!(x)) cdrl_assert_fail(#x, __FILE__, __LINE__);                                        \
    } while (0)
#ifdef DEBUG
#define CDRL_DASSERT(x) CDRL_ASSERT(x)
#else
#define CDRL_DASSERT(x) ((void)0)
#endif

// ---------------------------------------------------------------------------------------
// Logging through the callback set with cdrl_set_log_callback (printf-style).
#if defined(__GNUC__)
#define CDRL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CDRL_PRINTF(a, b)
#endif
void cdrl_log(cdrl_log_level level, const char *fmt, ...) CDRL_PRINTF(2, 3);
// Logs an error and returns the status, so that failures read `return cdrl_fail(...)`.
cdrl_status cdrl_fail(cdrl_status s, const char *fmt, ...) CDRL_PRINTF(2, 3);

// Diffusion levels T at most (levels 0..T, pairs 1..T): sizes the per-level tables of the
// schedule and of both networks.
#define CDRL_MAX_LEVELS 32

// ---------------------------------------------------------------------------------------
// Heap: every allocation goes through here. Blocks are 64-byte aligned; cdrl_free(NULL) is a
// no-op. cdrl_alloc_live() counts blocks not yet freed, so tests can assert there are none.
#define CDRL_ALIGN 64
#define CDRL_PI    3.14159265358979323846
void *cdrl_malloc(size_t bytes);
void *cdrl_calloc(size_t bytes);
long cdrl_alloc_live(void);
// A budget of the calling thread: while one is set (bytes > 0), cdrl_malloc refuses (NULL) a
// block that would take the blocks given since cdrl_alloc_budget_set past `bytes`; 0 lifts
// it. cdrl_model_load sets one from the checkpoint's size, so that a configuration in a file
// cannot make cdrl allocate more than the file warrants. cdrl_alloc_budget_refused: 1 when a
// block was refused since the budget was set.
void cdrl_alloc_budget_set(size_t bytes);
int cdrl_alloc_budget_refused(void);

// Decoded images (PNG, JPEG) may take at most this many bytes per byte of their file, plus
// 64 KiB: above deflate's 1032:1 and what JPEG reaches on real images, far below what a hostile
// header can claim (a 1e6 x 1e6 PNG in 83 bytes), so that such a header is refused before any
// allocation.
#define CDRL_MAX_EXPANSION 1100
static inline size_t cdrl_max_decoded(size_t file_bytes) {
    return CDRL_MAX_EXPANSION * file_bytes + 65536;
}

// ---------------------------------------------------------------------------------------
// Vector loops compiled three times, for AVX-512 and AVX2 machines and a baseline, the copy
// chosen when the program loads (GCC's target_clones); each runs the same operations in the
// same order, so the same bytes on any of them.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CDRL_VECTOR_CLONES                                                                         \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CDRL_VECTOR_CLONES
#endif

// Scratch arena: one block sized up front, bump-allocated, released to a mark. Training and
// sampling loops take all their temporaries from an arena so that they never call malloc.
// Running out is a sizing bug, hence an assertion, not a status.
typedef struct cdrl_arena {
    char *base;
    size_t cap;                  // bytes
    size_t used;                 // bytes
    size_t peak;                 // high-water mark of used
    void (*release)(void *base); // what frees base: cdrl_free when NULL (a backend's free)
} cdrl_arena;

cdrl_status cdrl_arena_init(cdrl_arena *a, size_t bytes);
void cdrl_arena_deinit(cdrl_arena *a);
// n floats, 64-byte aligned, uninitialised.
float *cdrl_arena_floats(cdrl_arena *a, size_t n);
// Bytes that cdrl_arena_floats(a, n) consumes, for sizing arenas before use.
size_t cdrl_arena_floats_size(size_t n);
static inline size_t cdrl_arena_mark(const cdrl_arena *a) { return a->used; }
static inline void cdrl_arena_release(cdrl_arena *a, size_t mark) { a->used = mark; }

#endif // CDRL_CORE_CORE_H
