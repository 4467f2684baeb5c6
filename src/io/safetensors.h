// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}},
// then raw little-endian data. Used for checkpoints and test fixtures alike. The reader checks
// every offset and shape against the file size before any data is touched; the writer puts
// the data at a 64-byte boundary and saves to "<path>.tmp" before renaming it into place.
#ifndef CDRL_IO_SAFETENSORS_H
#define CDRL_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cdrl.h"

#define CDRL_ST_MAX_DIMS 8

typedef enum cdrl_st_dtype {
    CDRL_ST_F32,
    CDRL_ST_F64,
    CDRL_ST_I64,
    CDRL_ST_I32,
    CDRL_ST_U8,
} cdrl_st_dtype;

typedef struct cdrl_st_tensor {
    const char *name;
    cdrl_st_dtype dtype;
    int ndim;
    int64_t shape[CDRL_ST_MAX_DIMS];
    size_t numel;
    const void *data; // aligned to the element size; owned by the file
} cdrl_st_tensor;

typedef struct cdrl_st_file cdrl_st_file;

// Reads and validates a whole file. On failure *out is NULL and the log says what and where.
cdrl_status cdrl_st_load(cdrl_st_file **out, const char *path);
void cdrl_st_free(cdrl_st_file *f); // NULL is a no-op
int cdrl_st_count(const cdrl_st_file *f);
const cdrl_st_tensor *cdrl_st_at(const cdrl_st_file *f, int i);
// NULL when the name is absent.
const cdrl_st_tensor *cdrl_st_find(const cdrl_st_file *f, const char *name);
// A metadata string, or NULL when absent.
const char *cdrl_st_meta(const cdrl_st_file *f, const char *key);
const char *cdrl_st_path(const cdrl_st_file *f);
const char *cdrl_st_dtype_name(cdrl_st_dtype t);

// The float32 tensor `name` with exactly `numel` elements, or NULL after logging what is
// missing or different (file, tensor, expected vs found).
const float *cdrl_st_f32(const cdrl_st_file *f, const char *name, size_t numel);

// Writer. Tensors are borrowed: their data must stay valid until cdrl_st_writer_save.
typedef struct cdrl_st_writer cdrl_st_writer;
cdrl_st_writer *cdrl_st_writer_create(void); // NULL on out-of-memory
void cdrl_st_writer_free(cdrl_st_writer *w); // NULL is a no-op
cdrl_status cdrl_st_writer_add(cdrl_st_writer *w, const char *name, cdrl_st_dtype dtype, int ndim,
                               const int64_t *shape, const void *data);
cdrl_status cdrl_st_writer_add_f32(cdrl_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const float *data);
cdrl_status cdrl_st_writer_meta(cdrl_st_writer *w, const char *key, const char *value);
cdrl_status cdrl_st_writer_save(const cdrl_st_writer *w, const char *path);

#endif // CDRL_IO_SAFETENSORS_H
