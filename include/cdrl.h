// cdrl: Cooperative Diffusion Recovery Likelihood in C11.
//
// This header is the whole public API. The library never prints and never exits: every
// failure the caller cannot prevent comes back as a cdrl_status (CDRL_OK = 0, errors < 0)
// and its detail (path, expected vs found, a hint) goes to the log callback.
//
//     cdrl_set_log_callback(my_log, my_data);   // optional: default is silence
//     cdrl_set_threads(2);                       // results are identical for any count
//
// Programming errors (a NULL where none is allowed, a wrong shape) are not statuses: they
// trip CDRL_ASSERT, which prints the expression with file:line and aborts.
//
// Later layers of the API (models, trainer, sampler) are added as the project grows; each
// comes with a params struct and a cdrl_*_params_init() that fills in the defaults.
#ifndef CDRL_H
#define CDRL_H

#ifdef __cplusplus
extern "C" {
#endif

#define CDRL_VERSION_MAJOR 0
#define CDRL_VERSION_MINOR 1
#define CDRL_VERSION_PATCH 0

typedef enum cdrl_status {
    CDRL_OK = 0,
    CDRL_STATUS_IO = -1,        // a file could not be opened, read, written or renamed
    CDRL_STATUS_FORMAT = -2,    // a file is corrupt, truncated or of the wrong kind
    CDRL_STATUS_MISMATCH = -3,  // a file or value does not fit what was expected (shape, config)
    CDRL_STATUS_NOMEM = -4,     // an allocation failed
    CDRL_STATUS_INVALID = -5,   // an invalid configuration or argument value
    CDRL_STATUS_DIVERGED = -6,  // a loss or a sample became NaN or Inf
    CDRL_STATUS_CANCELLED = -7, // the caller asked to stop
} cdrl_status;

// Name of a status ("CDRL_STATUS_IO"); never NULL.
const char *cdrl_status_str(cdrl_status s);

typedef enum cdrl_log_level {
    CDRL_LOG_DEBUG = 0,
    CDRL_LOG_INFO = 1,
    CDRL_LOG_WARN = 2,
    CDRL_LOG_ERROR = 3,
} cdrl_log_level;

// The log callback gets one message without a trailing newline. It is the library's only
// global state; set it before starting threads. NULL restores silence.
typedef void (*cdrl_log_fn)(cdrl_log_level level, const char *msg, void *user);
void cdrl_set_log_callback(cdrl_log_fn fn, void *user);

// Number of threads for the library's parallel loops (OpenMP). n <= 0 keeps the default.
// Results do not depend on it: work is split into fixed chunks, never by thread.
void cdrl_set_threads(int n);
int cdrl_threads(void);

#ifdef __cplusplus
}
#endif
#endif // CDRL_H
