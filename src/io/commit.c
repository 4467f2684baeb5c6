// Flush, fsync, rename, fsync the folder: the order that makes a rename durable (a crash after
// rename() but before the data reached the disk could otherwise leave an empty file).
#include "io/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

// fsync of the folder holding path, so that the rename itself survives a crash.
static int sync_folder(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    const int fd = open(dir, O_RDONLY);
    if (fd < 0) return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

cdrl_status cdrl_commit_file(FILE *fp, int ok, const char *tmp, const char *path) {
    int err = 0;
    if (!ok || ferror(fp)) err = errno ? errno : EIO;
    if (!err && fflush(fp) != 0) err = errno;
    if (!err && fsync(fileno(fp)) != 0) err = errno;
    if (fclose(fp) != 0 && !err) err = errno;
    if (err) {
        remove(tmp);
        return cdrl_fail(CDRL_STATUS_IO, "%s: write failed: %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        remove(tmp);
        return cdrl_fail(CDRL_STATUS_IO, "%s: cannot rename into place: %s", path, strerror(err));
    }
    if (sync_folder(path) != 0)
        return cdrl_fail(CDRL_STATUS_IO, "%s: cannot flush its folder: %s", path, strerror(errno));
    return CDRL_OK;
}
