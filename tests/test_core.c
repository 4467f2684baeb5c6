// Core services: Philox known answers, the normal and uniform draws (moments and thread-count
// independence), the arena, and safetensors round trips and rejection of corrupt files.
#include <omp.h>
#include <stdint.h>

#include "core/rng.h"
#include "test_util.h"

static void test_philox(void) {
    // Known-answer vectors of Random123 (kat_vectors, philox4x32_10).
    uint32_t x[4];
    cdrl_philox4x32(x, 0, 0, 0);
    CHECK(x[0] == 0x6627e8d5u && x[1] == 0xe169c58du && x[2] == 0xbc57ac4cu && x[3] == 0x9b00dbd8u,
          "philox(0) = %08x %08x %08x %08x", x[0], x[1], x[2], x[3]);
    cdrl_philox4x32(x, 0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull);
    CHECK(x[0] == 0x408f276du && x[1] == 0x41c83b0eu && x[2] == 0xa20bc7c6u && x[3] == 0x6d5451fdu,
          "philox(ff) = %08x %08x %08x %08x", x[0], x[1], x[2], x[3]);
    cdrl_philox4x32(x, 0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
    CHECK(x[0] == 0xd16cfe09u && x[1] == 0x94fdccebu && x[2] == 0x5001e420u && x[3] == 0x24126ea1u,
          "philox(pi) = %08x %08x %08x %08x", x[0], x[1], x[2], x[3]);
}

// Uniform draws (computed RNG_LANES blocks at a time) against cdrl_philox4x32 block by block:
// lengths around the lane groups, and counters across the carry into the high word.
static void test_uniform_bits(void) {
    const size_t lens[] = {1, 63, 64, 65, 1000, 4099};
    const uint64_t starts[] = {0, 0xfffffff0ull};
    float *u = test_floats(4099);
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        for (int li = 0; li < 6; li++) {
            cdrl_rng r;
            cdrl_rng_init(&r, 0x1234567887654321ull, 5);
            r.counter = starts[s];
            cdrl_rng_uniform(&r, u, lens[li]);
            for (size_t i = 0; i < lens[li]; i++) {
                uint32_t x[4];
                cdrl_philox4x32(x, r.key, r.stream, starts[s] + i / 4);
                bad += u[i] != (float)(x[i % 4] >> 8) * (1.0f / 16777216.0f);
            }
            bad += r.counter != starts[s] + (lens[li] + 3) / 4;
        }
    }
    CHECK(bad == 0, "uniform draws differ from the Philox blocks in %d places", bad);
    cdrl_free(u);
}

static void test_draws(void) {
    size_t n = 1 << 20;
    float *a = test_floats(n), *b = test_floats(n);
    cdrl_rng r;
    cdrl_rng_init(&r, 42, 0);
    cdrl_rng_normal(&r, a, n);
    double m = 0, v = 0, k4 = 0;
    for (size_t i = 0; i < n; i++)
        m += (double)a[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - m;
        v += d * d;
        k4 += d * d * d * d;
    }
    v /= (double)n;
    k4 /= (double)n * v * v;
    // Standard errors at n = 2^20: mean 0.001, variance 0.0014, kurtosis 0.005.
    CHECK(fabs(m) < 0.005 && fabs(v - 1) < 0.007 && fabs(k4 - 3) < 0.03,
          "normal moments: mean %g var %g kurtosis %g", m, v, k4);
    CHECK(r.counter == n / 4, "counter advanced by %llu blocks", (unsigned long long)r.counter);

    cdrl_rng_init(&r, 42, 0);
    cdrl_rng_uniform(&r, b, n);
    double um = 0;
    float lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        um += (double)b[i];
        if (b[i] < lo) lo = b[i];
        if (b[i] > hi) hi = b[i];
    }
    um /= (double)n;
    CHECK(fabs(um - 0.5) < 0.002 && lo >= 0 && hi < 1, "uniform: mean %g range [%g, %g]", um,
          (double)lo, (double)hi);

    // The same bytes for 1 and 2 threads, and an odd length matches the prefix of a long draw.
    int saved = cdrl_threads();
    float *c = test_floats(n);
    cdrl_set_threads(1);
    cdrl_rng_init(&r, 7, 3);
    cdrl_rng_normal(&r, a, n);
    cdrl_set_threads(2);
    cdrl_rng_init(&r, 7, 3);
    cdrl_rng_normal(&r, b, n);
    cdrl_rng_init(&r, 7, 3);
    cdrl_rng_normal(&r, c, 1001);
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, "normal draws differ between 1 and 2 threads");
    CHECK(memcmp(a, c, 1001 * sizeof(float)) == 0, "a short draw is not a prefix of a long one");
    cdrl_set_threads(saved);

    uint32_t k[1000];
    int hist[6] = {0};
    cdrl_rng_init(&r, 1, 0);
    cdrl_rng_int(&r, k, 1000, 6);
    int in_range = 1;
    for (int i = 0; i < 1000; i++) {
        if (k[i] >= 6)
            in_range = 0;
        else
            hist[k[i]]++;
    }
    CHECK(in_range, "integer draw out of range");
    for (int i = 0; i < 6; i++)
        CHECK(hist[i] > 120 && hist[i] < 215, "integer draw: %d of 1000 are %d", hist[i], i);
    cdrl_free(a);
    cdrl_free(b);
    cdrl_free(c);
}

static void test_arena(void) {
    cdrl_arena a;
    CHECK(cdrl_arena_init(&a, 1 << 16) == CDRL_OK, "arena init");
    float *p = cdrl_arena_floats(&a, 3);
    size_t mark = cdrl_arena_mark(&a);
    float *q = cdrl_arena_floats(&a, 100);
    CHECK(((uintptr_t)p % 64) == 0 && ((uintptr_t)q % 64) == 0, "arena blocks are 64-byte aligned");
    CHECK(q == p + 16, "a 3-float block takes one 64-byte line");
    cdrl_arena_release(&a, mark);
    CHECK(cdrl_arena_floats(&a, 1) == q, "release returns to the mark");
    CHECK(a.peak == 64 + cdrl_arena_floats_size(100), "peak is the high-water mark");
    cdrl_arena_deinit(&a);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_safetensors(void) {
    const char *path = "build/test_core.safetensors";
    float w[6] = {1, 2, 3, 4, 5, -6};
    float s[1] = {0.5f};
    int64_t shape[2] = {2, 3}, one = 1;
    cdrl_st_writer *wr = cdrl_st_writer_create();
    CHECK(cdrl_st_writer_add_f32(wr, "layer.weight", 2, shape, w) == CDRL_OK, "add");
    CHECK(cdrl_st_writer_add_f32(wr, "scale", 1, &one, s) == CDRL_OK, "add");
    CHECK(cdrl_st_writer_meta(wr, "step", "12") == CDRL_OK, "meta");
    CHECK(cdrl_st_writer_save(wr, path) == CDRL_OK, "save");
    cdrl_st_writer_free(wr);

    cdrl_st_file *f = NULL;
    CHECK(cdrl_st_load(&f, path) == CDRL_OK, "load");
    if (f) {
        const float *rw = cdrl_st_f32(f, "layer.weight", 6);
        CHECK(rw && memcmp(rw, w, sizeof w) == 0, "weights round-trip");
        CHECK(((uintptr_t)rw % 64) == 0, "data starts 64-byte aligned");
        CHECK(cdrl_st_f32(f, "layer.weight", 5) == NULL, "wrong size rejected");
        CHECK(cdrl_st_find(f, "missing") == NULL, "absent name");
        CHECK(cdrl_st_meta(f, "step") && strcmp(cdrl_st_meta(f, "step"), "12") == 0,
              "metadata round-trip");
        CHECK(cdrl_st_count(f) == 2 && cdrl_st_at(f, 1)->shape[0] == 1, "tensor table");
    }
    cdrl_st_free(f);

    // Corrupt files: each is refused with a status, never a crash.
    FILE *fp = fopen(path, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const char *bad = "build/test_core_bad.safetensors";
    write_bytes(bad, buf, 5);
    CHECK(cdrl_st_load(&f, bad) == CDRL_STATUS_FORMAT && f == NULL, "truncated header refused");
    write_bytes(bad, buf, n - 4);
    CHECK(cdrl_st_load(&f, bad) == CDRL_STATUS_FORMAT, "truncated data refused");
    unsigned char junk[64];
    memset(junk, ' ', 64);
    memset(junk, 0, 8);
    junk[0] = 56; // a header that fills the file but is not a JSON object
    junk[8] = '[';
    write_bytes(bad, junk, 64);
    CHECK(cdrl_st_load(&f, bad) == CDRL_STATUS_FORMAT, "bad JSON refused");
    memset(junk, 0xff, 8);
    write_bytes(bad, junk, 64);
    CHECK(cdrl_st_load(&f, bad) == CDRL_STATUS_FORMAT, "huge header length refused");
    CHECK(cdrl_st_load(&f, "build/no-such-file.safetensors") == CDRL_STATUS_IO,
          "missing file refused");

    // Hostile headers (a header, then 16 data bytes): each refused with FORMAT.
    static const char *const hostile[][2] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "overlapping tensors"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "two tensors of one name"},
        {"{\"__metadata__\":{\"k\":\"v\"},\"__metadata__\":{\"k\":\"v\",\"l\":\"w\"}}",
         "two metadata entries"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[65536,65536,65536,65536],"
         "\"data_offsets\":[0,0]}}",
         "a shape whose element count overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000],\"data_offsets\":[0,4000000]}}",
         "a shape larger than the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
         "a fractional dimension"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}",
         "an offset that is not a number"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
         "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
         "a tensor inside another"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[3e70,4e70]}}",
         "offsets beyond any integer type"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1e300,4]}}",
         "a hugely negative offset"},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        unsigned char file[1024] = {0};
        const size_t hl = strlen(hostile[i][0]);
        for (int k = 0; k < 8; k++)
            file[k] = (unsigned char)(hl >> (8 * k));
        memcpy(file + 8, hostile[i][0], hl);
        write_bytes(bad, file, 8 + hl + 16);
        f = NULL;
        CHECK(cdrl_st_load(&f, bad) == CDRL_STATUS_FORMAT && !f, "%s refused", hostile[i][1]);
        cdrl_st_free(f);
    }
    remove(bad);
    remove(path);
}

int main(void) {
    cdrl_set_log_callback(test_log, NULL);
    test_philox();
    test_uniform_bits();
    test_draws();
    test_arena();
    test_safetensors();
    return test_report("test_core");
}
