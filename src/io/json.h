// Checks on numbers read from JSON (checkpoint headers, configurations).
#ifndef CDRL_IO_JSON_H
#define CDRL_IO_JSON_H

#include <cjson/cJSON.h>
#include <math.h>

// A JSON number that is a whole number within [lo, hi]: compared before any conversion, since
// converting a double outside an integer type's range is undefined behaviour.
static inline int cdrl_json_whole_in(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == floor(v->valuedouble);
}

#endif
