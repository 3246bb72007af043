/* mkdir -p and path joining. */
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int make_one(const char *path)
{
    struct stat st;
    if (mkdir(path, 0777) == 0) return 0;
    int e = errno;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    if (e == EEXIST) return ex_fail(LCT_EIO, "make_dirs: '%s' exists and is not a folder", path);
    return ex_fail(LCT_EIO, "make_dirs: cannot create '%s': %s", path, strerror(e));
}

int make_dirs(const char *path)
{
    if (!path || !path[0]) return ex_fail(LCT_EINVAL, "make_dirs: 'path' is %s", path ? "empty" : "NULL");
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf) return ex_fail(LCT_EINVAL, "make_dirs: path of %zu characters is too long", len);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i < len; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/') continue;
        buf[i] = '\0';
        int rc = make_one(buf);
        buf[i] = '/';
        if (rc) return rc;
    }
    return make_one(buf);
}

int join_path(char *buf, size_t size, const char *dir, const char *name)
{
    if (!buf || !dir || !name) return ex_fail(LCT_EINVAL, "join_path: an argument is NULL");
    size_t dl = strlen(dir);
    int n = snprintf(buf, size, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    if (n < 0 || (size_t)n >= size) return ex_fail(LCT_EINVAL, "join_path: '%s/%s' is too long", dir, name);
    return 0;
}
