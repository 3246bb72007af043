/* Atomic replacement of a file: temporary in the same folder, fsync, rename, fsync the folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"

static _Atomic uint64_t tmp_counter;

int lct__atomic_open(lct__atomic_file *f, const char *path, const char *func)
{
    f->fd = -1;
    f->path = path;
    f->tmp[0] = '\0';
    size_t len = strnlen(path, LCT__PATH_MAX + 1);
    if (len == 0) return lct__fail(LCT_EINVAL, func, "path is empty");
    if (len > LCT__PATH_MAX) return lct__fail(LCT_EINVAL, func, "path is longer than %d bytes", LCT__PATH_MAX);
    if (path[len - 1] == '/') return lct__fail(LCT_EINVAL, func, "path '%s' names a folder", path);
    /* O_EXCL with a fresh name per attempt; the mode 0666 is narrowed by the umask as for any new file. */
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t n = atomic_fetch_add(&tmp_counter, 1);
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp-%ld-%llu", path, (long)getpid(), (unsigned long long)n);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) return LCT_OK;
        if (errno != EEXIST) break;
    }
    int err = errno;
    f->tmp[0] = '\0';
    return lct__fail(LCT_EIO, func, "cannot create a temporary file next to '%s': %s", path, strerror(err));
}

int lct__atomic_write(lct__atomic_file *f, const void *data, size_t size, const char *func)
{
    const unsigned char *p = data;
    while (size > 0) {
        size_t chunk = size > ((size_t)1 << 30) ? ((size_t)1 << 30) : size;
        ssize_t n = write(f->fd, p, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return lct__fail(LCT_EIO, func, "cannot write '%s': %s", f->tmp, n < 0 ? strerror(errno) : "no progress");
        p += n;
        size -= (size_t)n;
    }
    return LCT_OK;
}

void lct__atomic_abort(lct__atomic_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = '\0';
}

/* fsync the folder holding path so that the rename itself is durable. */
static int sync_folder(const char *path, const char *func)
{
    char dir[LCT__PATH_MAX + 1];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return lct__fail(LCT_EIO, func, "cannot open folder '%s' to sync it: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    /* Some file systems cannot fsync a folder (EINVAL): the rename has happened, nothing to undo. */
    if (rc != 0 && err != EINVAL)
        return lct__fail(LCT_EIO, func, "cannot sync folder '%s': %s", dir, strerror(err));
    return LCT_OK;
}

int lct__atomic_commit(lct__atomic_file *f, const char *func)
{
    if (fsync(f->fd) != 0) {
        int err = errno;
        lct__atomic_abort(f);
        return lct__fail(LCT_EIO, func, "cannot sync '%s': %s", f->path, strerror(err));
    }
    if (close(f->fd) != 0) {
        int err = errno;
        f->fd = -1;
        lct__atomic_abort(f);
        return lct__fail(LCT_EIO, func, "cannot close the temporary file of '%s': %s", f->path, strerror(err));
    }
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        int err = errno;
        lct__atomic_abort(f);
        return lct__fail(LCT_EIO, func, "cannot rename the temporary file over '%s': %s", f->path, strerror(err));
    }
    f->tmp[0] = '\0';
    return sync_folder(f->path, func);
}
