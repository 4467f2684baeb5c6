// Putting a written file into place so that a crash, a kill or a full disk never leaves a
// half-written file under the final name: the caller writes "<path>.tmp", then
// cdrl_commit_file flushes it to the disk, renames it over path and flushes the folder's entry.
#ifndef CDRL_IO_COMMIT_H
#define CDRL_IO_COMMIT_H

#include <stdio.h>

#include "core/core.h"

// fp: the open "<path>.tmp" (closed here, whatever happens); ok: 0 when writing it already
// failed. CDRL_OK, or CDRL_STATUS_IO with one message naming the file and the system's reason
// (e.g. "No space left on device"); on failure tmp is removed and path is left as it was.
cdrl_status cdrl_commit_file(FILE *fp, int ok, const char *tmp, const char *path);

#endif // CDRL_IO_COMMIT_H
