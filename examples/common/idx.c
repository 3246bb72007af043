/* IDX reader through zlib's gz* functions, and the Fashion-MNIST loader. */
#include "idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Reads up to n bytes; returns the count read, or a negative status after an error (message recorded). */
static long long read_some(gzFile f, const char *path, uint8_t *dst, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < (size_t)1 << 24 ? n - done : (size_t)1 << 24;
        int got = gzread(f, dst + done, (unsigned)chunk);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            int code = zerr == Z_ERRNO ? LCT_EIO : LCT_EFORMAT;
            return ex_fail(code, "%s: read failed: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (long long)done;
}

int idx_read(const char *path, idx_array *out, size_t max_bytes)
{
    if (!out) return ex_fail(LCT_EINVAL, "idx_read: 'out' is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return ex_fail(LCT_EINVAL, "idx_read: 'path' is NULL");
    if (max_bytes == 0) max_bytes = IDX_DEFAULT_MAX_BYTES;

    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return ex_fail(LCT_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1u << 17);

    int rc = 0;
    uint8_t *data = NULL;
    uint8_t head[4 + 4 * IDX_MAX_DIMS];
    long long got = read_some(f, path, head, 4);
    if (got < 0) { rc = (int)got; goto done; }
    if (got < 4) {
        rc = ex_fail(LCT_EFORMAT, "%s: truncated: %lld of the 4 magic bytes", path, got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        rc = ex_fail(LCT_EFORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x)", path, head[0], head[1],
                     head[2], head[3]);
        goto done;
    }
    if (head[2] != 0x08) {
        rc = ex_fail(LCT_EFORMAT, "%s: dtype 0x%02x is not supported (only 0x08, unsigned byte)", path, head[2]);
        goto done;
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > IDX_MAX_DIMS) {
        rc = ex_fail(LCT_EFORMAT, "%s: %d dimensions (1..%d supported)", path, ndim, IDX_MAX_DIMS);
        goto done;
    }
    got = read_some(f, path, head + 4, 4 * (size_t)ndim);
    if (got < 0) { rc = (int)got; goto done; }
    if (got < 4 * ndim) {
        rc = ex_fail(LCT_EFORMAT, "%s: truncated header: %lld of %d dimension bytes", path, got, 4 * ndim);
        goto done;
    }
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0) {
            rc = ex_fail(LCT_EFORMAT, "%s: dimension %d is 0", path, i);
            goto done;
        }
        if (count > SIZE_MAX / d || count * d > max_bytes) {
            rc = ex_fail(LCT_EFORMAT, "%s: dimension %d (%u) makes the data larger than the %zu-byte limit",
                         path, i, d, max_bytes);
            goto done;
        }
        count *= d;
        out->dims[i] = d;
    }

    /* Grow with the data actually present, so a lying header cannot force a huge allocation. */
    size_t cap = count < ((size_t)1 << 20) ? count : (size_t)1 << 20, have = 0;
    data = malloc(cap);
    if (!data) { rc = ex_fail(LCT_ENOMEM, "%s: cannot allocate %zu bytes", path, cap); goto done; }
    for (;;) {
        got = read_some(f, path, data + have, cap - have);
        if (got < 0) { rc = (int)got; goto done; }
        have += (size_t)got;
        if (have < cap) {
            rc = ex_fail(LCT_EFORMAT, "%s: truncated: the header claims %zu data bytes, the file holds %zu",
                         path, count, have);
            goto done;
        }
        if (have == count) break;
        size_t ncap = cap > count / 2 ? count : cap * 2;
        uint8_t *grown = realloc(data, ncap);
        if (!grown) { rc = ex_fail(LCT_ENOMEM, "%s: cannot allocate %zu bytes", path, ncap); goto done; }
        data = grown;
        cap = ncap;
    }
    /* One more byte: detects trailing data, and makes zlib check the gzip trailer (CRC, length). */
    uint8_t extra;
    got = read_some(f, path, &extra, 1);
    if (got < 0) { rc = (int)got; goto done; }
    if (got > 0) {
        rc = ex_fail(LCT_EFORMAT, "%s: trailing data after the %zu bytes the header claims", path, count);
        goto done;
    }
    out->data = data;
    out->count = count;
    out->ndim = ndim;
    data = NULL;
done:
    free(data);
    if (rc != 0) memset(out, 0, sizeof *out);
    gzclose(f);
    return rc;
}

void idx_free(idx_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- Fashion-MNIST ---------------------------------------------------------------------- */

const char *const fmnist_class_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

/* dir/name.gz if it exists, else dir/name. Returns 0 or LCT_EINVAL when the path is too long. */
static int data_path(char *buf, size_t size, const char *dir, const char *name)
{
    struct stat st;
    int n = snprintf(buf, size, "%s/%s.gz", dir, name);
    if (n < 0 || (size_t)n >= size) return ex_fail(LCT_EINVAL, "data folder path '%s' is too long", dir);
    if (stat(buf, &st) == 0) return 0;
    snprintf(buf, size, "%s/%s", dir, name);
    if (stat(buf, &st) == 0) return 0;
    snprintf(buf, size, "%s/%s.gz", dir, name); /* name the expected file in the open error */
    return 0;
}

int fmnist_load_split(const char *dir, int test, fmnist_split *out)
{
    if (!out) return ex_fail(LCT_EINVAL, "fmnist_load_split: 'out' is NULL");
    memset(out, 0, sizeof *out);
    if (!dir) dir = FMNIST_DEFAULT_DIR;
    const char *prefix = test ? "t10k" : "train";
    char ipath[4096], lpath[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    int rc = data_path(ipath, sizeof ipath, dir, name);
    if (rc) return rc;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if ((rc = data_path(lpath, sizeof lpath, dir, name))) return rc;

    idx_array img, lab;
    if ((rc = idx_read(ipath, &img, 0))) return rc;
    if ((rc = idx_read(lpath, &lab, 0))) {
        idx_free(&img);
        return rc;
    }
    if (img.ndim != 3 || img.dims[1] != FMNIST_SIDE || img.dims[2] != FMNIST_SIDE) {
        rc = ex_fail(LCT_EFORMAT, "%s: images are not N x 28 x 28 (%d dimensions: %u x %u x %u)", ipath, img.ndim,
                     img.dims[0], img.dims[1], img.dims[2]);
    } else if (lab.ndim != 1 || lab.dims[0] != img.dims[0]) {
        rc = ex_fail(LCT_EFORMAT, "%s: %u labels (%d dimensions) for %u images", lpath, lab.dims[0], lab.ndim,
                     img.dims[0]);
    } else {
        for (size_t i = 0; i < lab.count; i++)
            if (lab.data[i] >= FMNIST_CLASSES) {
                rc = ex_fail(LCT_EFORMAT, "%s: label %zu is %u (classes are 0..9)", lpath, i, lab.data[i]);
                break;
            }
    }
    if (rc) {
        idx_free(&img);
        idx_free(&lab);
        return rc;
    }
    out->images = img.data;
    out->labels = lab.data;
    out->n = img.dims[0];
    return 0;
}

int fmnist_load(const char *dir, fmnist *out)
{
    if (!out) return ex_fail(LCT_EINVAL, "fmnist_load: 'out' is NULL");
    memset(out, 0, sizeof *out);
    int rc = fmnist_load_split(dir, 0, &out->train);
    if (rc) return rc;
    if ((rc = fmnist_load_split(dir, 1, &out->test))) fmnist_split_free(&out->train);
    return rc;
}

int fmnist_available(const char *dir)
{
    static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    if (!dir) dir = FMNIST_DEFAULT_DIR;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096];
        struct stat st;
        if (data_path(path, sizeof path, dir, names[i]) || stat(path, &st) != 0) return 0;
    }
    return 1;
}

void fmnist_split_free(fmnist_split *s)
{
    if (!s) return;
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

void fmnist_free(fmnist *f)
{
    if (!f) return;
    fmnist_split_free(&f->train);
    fmnist_split_free(&f->test);
}
