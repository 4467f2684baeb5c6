// safetensors reader and writer (see safetensors.h). The JSON header goes through cJSON.
#include "cdrl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/commit.h"
#include "io/json.h"

// A header larger than this is not a file we wrote or can use (the format's own limit).
#define ST_MAX_HEADER (100u << 20)

struct cdrl_st_file {
    char *path;
    char *data; // the data section, 64-byte aligned copy
    size_t data_bytes;
    cdrl_st_tensor *tensors;
    char **names; // owned copies that tensors[i].name points to
    int n_tensors;
    char **meta_keys, **meta_values;
    int n_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [CDRL_ST_F32] = {"F32", 4}, [CDRL_ST_F64] = {"F64", 8}, [CDRL_ST_I64] = {"I64", 8},
    [CDRL_ST_I32] = {"I32", 4}, [CDRL_ST_U8] = {"U8", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *cdrl_st_dtype_name(cdrl_st_dtype t) { return dtypes[t].name; }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = cdrl_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void cdrl_st_free(cdrl_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++)
        cdrl_free(f->names[i]);
    cdrl_free(f->names);
    for (int i = 0; i < f->n_meta; i++) {
        cdrl_free(f->meta_keys[i]);
        cdrl_free(f->meta_values[i]);
    }
    cdrl_free(f->tensors);
    cdrl_free(f->meta_keys);
    cdrl_free(f->meta_values);
    cdrl_free(f->data);
    cdrl_free(f->path);
    cdrl_free(f);
}

// Parses one tensor entry; the caller has already allocated t->name.
static cdrl_status parse_tensor(cdrl_st_tensor *t, const cJSON *e, const cdrl_st_file *f) {
    const char *path = f->path;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: tensor '%s': header entry lacks dtype, shape or data_offsets", path,
                         t->name);
    int d = 0;
    while (d < N_DTYPES && strcmp(dtypes[d].name, dt->valuestring) != 0)
        d++;
    if (d == N_DTYPES)
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: tensor '%s': unsupported dtype %s", path, t->name,
                         dt->valuestring);
    t->dtype = (cdrl_st_dtype)d;
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > CDRL_ST_MAX_DIMS)
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", path,
                         t->name, t->ndim, CDRL_ST_MAX_DIMS);
    // Each dimension a whole number, the element count no larger than the data section could
    // hold (so that no product overflows and no size is believed beyond the file).
    const size_t elem = dtypes[d].size, max_numel = f->data_bytes / elem;
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *s = cJSON_GetArrayItem(shape, i);
        if (!cdrl_json_whole_in(s, 0, 1e15))
            return cdrl_fail(CDRL_STATUS_FORMAT, "%s: tensor '%s': bad shape", path, t->name);
        t->shape[i] = (int64_t)s->valuedouble;
        if (t->shape[i] && numel > max_numel / (size_t)t->shape[i])
            return cdrl_fail(CDRL_STATUS_FORMAT,
                             "%s: tensor '%s': its shape holds more elements than the file's %zu "
                             "data bytes",
                             path, t->name, f->data_bytes);
        numel *= (size_t)t->shape[i];
    }
    t->numel = numel;
    const cJSON *jb = cJSON_GetArrayItem(offs, 0), *je = cJSON_GetArrayItem(offs, 1);
    const double b = jb->valuedouble, e_ = je->valuedouble;
    if (!cdrl_json_whole_in(jb, 0, (double)f->data_bytes) ||
        !cdrl_json_whole_in(je, 0, (double)f->data_bytes) || e_ < b ||
        (size_t)(e_ - b) != numel * elem)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: tensor '%s': data_offsets [%.15g, %.15g] do not fit its shape or the "
                         "file (%zu data bytes)",
                         path, t->name, b, e_, f->data_bytes);
    if ((size_t)b % elem != 0)
        return cdrl_fail(CDRL_STATUS_FORMAT,
                         "%s: tensor '%s': data not aligned to its element size", path, t->name);
    t->data = f->data + (size_t)b;
    return CDRL_OK;
}

static int by_offset(const void *a, const void *b) {
    const cdrl_st_tensor *x = *(const cdrl_st_tensor *const *)a,
                         *y = *(const cdrl_st_tensor *const *)b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py ? 1 : strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const cdrl_st_tensor *const *)a)->name,
                  (*(const cdrl_st_tensor *const *)b)->name);
}

// Two tensors never share a name or a byte of data: a file that says otherwise was not written
// by a safetensors writer and is refused.
static cdrl_status check_layout(const cdrl_st_file *f) {
    const int n = f->n_tensors;
    if (n < 2) return CDRL_OK;
    const cdrl_st_tensor **order = cdrl_malloc(sizeof *order * (size_t)n);
    if (!order) return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < n; i++)
        order[i] = &f->tensors[i];
    qsort(order, (size_t)n, sizeof *order, by_offset);
    cdrl_status st = CDRL_OK;
    for (int i = 1; i < n && st == CDRL_OK; i++) {
        const cdrl_st_tensor *a = order[i - 1], *b = order[i];
        const char *a_end = (const char *)a->data + a->numel * dtypes[a->dtype].size;
        if (a_end > (const char *)b->data)
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: tensors '%s' and '%s' overlap", f->path,
                           a->name, b->name);
    }
    qsort(order, (size_t)n, sizeof *order, by_name);
    for (int i = 1; i < n && st == CDRL_OK; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: two tensors named '%s'", f->path,
                           order[i]->name);
    cdrl_free(order);
    return st;
}

static cdrl_status parse_header(cdrl_st_file *f, const char *json, size_t len) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cdrl_fail(CDRL_STATUS_FORMAT, "%s: header is not a JSON object", f->path);
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = cdrl_calloc(sizeof(cdrl_st_tensor) * (size_t)(n + 1));
    f->names = cdrl_calloc(sizeof(char *) * (size_t)(n + 1));
    cdrl_status st = f->tensors && f->names ? CDRL_OK : CDRL_STATUS_NOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (st != CDRL_OK) break;
        if (strcmp(e->string, "__metadata__") == 0) {
            if (f->meta_keys) {
                st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: two __metadata__ entries", f->path);
                break;
            }
            int m = cJSON_GetArraySize(e);
            f->meta_keys = cdrl_calloc(sizeof(char *) * (size_t)(m + 1));
            f->meta_values = cdrl_calloc(sizeof(char *) * (size_t)(m + 1));
            if (!f->meta_keys || !f->meta_values) {
                st = CDRL_STATUS_NOMEM;
                break;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, e) {
                if (!cJSON_IsString(kv)) {
                    st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: metadata '%s' is not a string", f->path,
                                   kv->string);
                    break;
                }
                f->meta_keys[f->n_meta] = dup_str(kv->string);
                f->meta_values[f->n_meta] = dup_str(kv->valuestring);
                f->n_meta++;
            }
            continue;
        }
        cdrl_st_tensor *t = &f->tensors[f->n_tensors];
        f->names[f->n_tensors] = dup_str(e->string);
        if (!f->names[f->n_tensors]) {
            st = CDRL_STATUS_NOMEM;
            break;
        }
        t->name = f->names[f->n_tensors++];
        st = parse_tensor(t, e, f);
    }
    cJSON_Delete(root);
    return st == CDRL_OK ? check_layout(f) : st;
}

static cdrl_status load_file(cdrl_st_file *f) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return cdrl_fail(CDRL_STATUS_IO, "%s: cannot open: %s", f->path, strerror(errno));
    cdrl_status st = CDRL_OK;
    char *json = NULL;
    unsigned char len8[8];
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 8 || fseek(fp, 0, SEEK_SET) != 0 || fread(len8, 1, 8, fp) != 8) {
        st = cdrl_fail(CDRL_STATUS_FORMAT, "%s: too short to be a safetensors file", f->path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen > ST_MAX_HEADER || hlen > (uint64_t)size - 8) {
        st = cdrl_fail(
            CDRL_STATUS_FORMAT,
            "%s: header length %llu does not fit a file of %ld bytes (not a safetensors file?)",
            f->path, (unsigned long long)hlen, size);
        goto done;
    }
    f->data_bytes = (size_t)size - 8 - (size_t)hlen;
    json = cdrl_malloc((size_t)hlen + 1);
    f->data = cdrl_malloc(f->data_bytes ? f->data_bytes : 1);
    if (!json || !f->data) {
        st = cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory reading %ld bytes", f->path, size);
        goto done;
    }
    if (fread(json, 1, (size_t)hlen, fp) != (size_t)hlen ||
        fread(f->data, 1, f->data_bytes, fp) != f->data_bytes) {
        st = cdrl_fail(CDRL_STATUS_IO, "%s: read failed", f->path);
        goto done;
    }
    json[hlen] = 0;
    st = parse_header(f, json, (size_t)hlen);
done:
    cdrl_free(json);
    fclose(fp);
    return st;
}

cdrl_status cdrl_st_load(cdrl_st_file **out, const char *path) {
    *out = NULL;
    cdrl_st_file *f = cdrl_calloc(sizeof *f);
    if (!f || !(f->path = dup_str(path))) {
        cdrl_free(f);
        return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory", path);
    }
    cdrl_status st = load_file(f);
    if (st != CDRL_OK) {
        cdrl_st_free(f);
        return st;
    }
    *out = f;
    return CDRL_OK;
}

int cdrl_st_count(const cdrl_st_file *f) { return f->n_tensors; }
const cdrl_st_tensor *cdrl_st_at(const cdrl_st_file *f, int i) { return &f->tensors[i]; }
const char *cdrl_st_path(const cdrl_st_file *f) { return f->path; }

const cdrl_st_tensor *cdrl_st_find(const cdrl_st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *cdrl_st_meta(const cdrl_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

const float *cdrl_st_f32(const cdrl_st_file *f, const char *name, size_t numel) {
    const cdrl_st_tensor *t = cdrl_st_find(f, name);
    if (!t) {
        cdrl_log(CDRL_LOG_ERROR, "%s: no tensor '%s'", f->path, name);
        return NULL;
    }
    if (t->dtype != CDRL_ST_F32 || t->numel != numel) {
        cdrl_log(CDRL_LOG_ERROR, "%s: tensor '%s' is %s with %zu elements, expected F32 with %zu",
                 f->path, name, dtypes[t->dtype].name, t->numel, numel);
        return NULL;
    }
    return t->data;
}

// ---------------------------------------------------------------------------------------
// Writer
typedef struct st_entry {
    char *name;
    cdrl_st_dtype dtype;
    int ndim;
    int64_t shape[CDRL_ST_MAX_DIMS];
    size_t bytes;
    const void *data;
} st_entry;

struct cdrl_st_writer {
    st_entry *entries;
    int n, cap;
    cJSON *meta;
};

cdrl_st_writer *cdrl_st_writer_create(void) {
    cdrl_st_writer *w = cdrl_calloc(sizeof *w);
    if (w && !(w->meta = cJSON_CreateObject())) {
        cdrl_free(w);
        return NULL;
    }
    return w;
}

void cdrl_st_writer_free(cdrl_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++)
        cdrl_free(w->entries[i].name);
    cdrl_free(w->entries);
    cJSON_Delete(w->meta);
    cdrl_free(w);
}

cdrl_status cdrl_st_writer_add(cdrl_st_writer *w, const char *name, cdrl_st_dtype dtype, int ndim,
                               const int64_t *shape, const void *data) {
    CDRL_ASSERT(ndim >= 0 && ndim <= CDRL_ST_MAX_DIMS);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_entry *e = cdrl_malloc(sizeof(st_entry) * (size_t)cap);
        if (!e) return cdrl_fail(CDRL_STATUS_NOMEM, "safetensors writer: out of memory");
        if (w->n) memcpy(e, w->entries, sizeof(st_entry) * (size_t)w->n);
        cdrl_free(w->entries);
        w->entries = e;
        w->cap = cap;
    }
    st_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = dup_str(name)))
        return cdrl_fail(CDRL_STATUS_NOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    e->bytes = numel * dtypes[dtype].size;
    e->data = data;
    w->n++;
    return CDRL_OK;
}

cdrl_status cdrl_st_writer_add_f32(cdrl_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const float *data) {
    return cdrl_st_writer_add(w, name, CDRL_ST_F32, ndim, shape, data);
}

cdrl_status cdrl_st_writer_meta(cdrl_st_writer *w, const char *key, const char *value) {
    cJSON_DeleteItemFromObjectCaseSensitive(w->meta, key);
    if (!cJSON_AddStringToObject(w->meta, key, value))
        return cdrl_fail(CDRL_STATUS_NOMEM, "safetensors writer: out of memory");
    return CDRL_OK;
}

// Builds the header JSON; offsets follow insertion order.
static char *header_json(const cdrl_st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (cJSON_GetArraySize(w->meta) > 0)
        cJSON_AddItemToObject(root, "__metadata__", cJSON_Duplicate(w->meta, 1));
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddStringToObject(t, "dtype", dtypes[e->dtype].name);
        for (int d = 0; d < e->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + e->bytes)));
        off += e->bytes;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

cdrl_status cdrl_st_writer_save(const cdrl_st_writer *w, const char *path) {
    char *json = header_json(w);
    if (!json) return cdrl_fail(CDRL_STATUS_NOMEM, "%s: out of memory building the header", path);
    // Pad the header with spaces so that the data starts at a 64-byte boundary.
    size_t jlen = strlen(json), hlen = (jlen + 8 + 63) / 64 * 64 - 8;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        cJSON_free(json);
        return cdrl_fail(CDRL_STATUS_INVALID, "%s: path too long", path);
    }
    errno = 0;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        cJSON_free(json);
        return cdrl_fail(CDRL_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen;
    for (size_t i = jlen; ok && i < hlen; i++)
        ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < w->n; i++)
        ok = fwrite(w->entries[i].data, 1, w->entries[i].bytes, fp) == w->entries[i].bytes;
    cJSON_free(json);
    return cdrl_commit_file(fp, ok, tmp, path);
}
