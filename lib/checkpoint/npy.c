/*
 * NumPy .npy files of float32 ('<f4', C order, 1-D or 2-D): export for Python users and
 * import of their matrices. Format: "\x93NUMPY", major, minor, header length (u16 for 1.0,
 * u32 for 2.0), then a Python dict literal padded with spaces and ending in '\n', so that
 * the data starts at a multiple of 64 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"

/* Our headers are ~70 bytes; numpy's for this dtype under 128. Longer ones are refused. */
#define NPY_MAX_HEADER 4096

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- a tiny parser for the header's dict literal ---------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "..." without escapes) into out (size cap). */
static int parse_string(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int parse_word(cursor *c, const char *word)
{
    skip_ws(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A non-negative decimal integer (optional trailing 'L' from old writers), no overflow. */
static int parse_uint(cursor *c, uint64_t *v)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    uint64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > (UINT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++;
    *v = x;
    return 1;
}

/* "(" [int ("," int)* [","]] ")" with at most 2 dims kept in dims; *ndim may exceed 2. */
static int parse_shape(cursor *c, uint64_t dims[2], uint32_t *ndim)
{
    if (!eat(c, '(')) return 0;
    *ndim = 0;
    if (eat(c, ')')) return 1;
    for (;;) {
        uint64_t v;
        if (!parse_uint(c, &v)) return 0;
        if (*ndim < 2) dims[*ndim] = v;
        if (*ndim < 64) (*ndim)++;
        if (eat(c, ')')) return 1;
        if (!eat(c, ',')) return 0;
        if (eat(c, ')')) return 1;
    }
}

int lct__npy_parse_header(const unsigned char *buf, size_t size, uint64_t file_size, lct__npy_header *h,
                          const char *func)
{
    if (size < 10 || memcmp(buf, npy_magic, 6) != 0)
        return lct__fail(LCT_EFORMAT, func, "not a .npy file (wrong magic or shorter than 10 bytes)");
    unsigned major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2) || minor != 0)
        return lct__fail(LCT_EFORMAT, func, ".npy format version %u.%u; only 1.0 and 2.0 are read", major, minor);
    size_t len, start;
    if (major == 1) {
        len = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else {
        if (size < 12) return lct__fail(LCT_EFORMAT, func, "truncated .npy 2.0 preamble");
        len = lct__le32_load(buf + 8);
        start = 12;
    }
    if (len > NPY_MAX_HEADER)
        return lct__fail(LCT_EFORMAT, func, ".npy header of %zu bytes; at most %d are read for float32 arrays", len,
                         NPY_MAX_HEADER);
    if (len > size - start) return lct__fail(LCT_EFORMAT, func, "the file ends inside its .npy header");
    const char *text = (const char *)buf + start;
    if (len == 0 || text[len - 1] != '\n')
        return lct__fail(LCT_EFORMAT, func, "the .npy header does not end with a newline");

    cursor c = {text, text + len};
    char descr[16] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    uint64_t dims[2] = {0, 0};
    uint32_t ndim = 0;
    if (!eat(&c, '{')) return lct__fail(LCT_EFORMAT, func, "the .npy header is not a dict");
    while (!eat(&c, '}')) {
        char key[32];
        if (!parse_string(&c, key, sizeof key) || !eat(&c, ':'))
            return lct__fail(LCT_EFORMAT, func, "malformed .npy header near offset %zu", (size_t)(c.p - text));
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_string(&c, descr, sizeof descr))
                return lct__fail(LCT_EFORMAT, func, "the .npy 'descr' is not a simple dtype string");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(&c, "False")) fortran = 0;
            else if (parse_word(&c, "True")) fortran = 1;
            else return lct__fail(LCT_EFORMAT, func, "the .npy 'fortran_order' is not True or False");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_shape(&c, dims, &ndim)) return lct__fail(LCT_EFORMAT, func, "the .npy 'shape' is malformed");
            have_shape = 1;
        } else {
            return lct__fail(LCT_EFORMAT, func, "unexpected or repeated key '%s' in the .npy header", key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}')) return lct__fail(LCT_EFORMAT, func, "malformed .npy header: expected ',' or '}'");
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end) return lct__fail(LCT_EFORMAT, func, "stray text after the .npy header's dict");
    if (!have_descr || !have_order || !have_shape)
        return lct__fail(LCT_EFORMAT, func, "the .npy header lacks %s", !have_descr ? "'descr'"
                                                                      : !have_order ? "'fortran_order'" : "'shape'");
    if (strcmp(descr, "<f4") != 0)
        return lct__fail(LCT_EFORMAT, func, "dtype '%s': only little-endian float32 ('<f4') is read", descr);
    if (fortran) return lct__fail(LCT_EFORMAT, func, "the array is in Fortran order; only C order is read");
    if (ndim != 1 && ndim != 2)
        return lct__fail(LCT_EFORMAT, func, "the array has %u dimensions; only 1-D and 2-D are read", (unsigned)ndim);
    uint64_t rows = dims[0], cols = ndim == 2 ? dims[1] : 1;
    if (rows == 0 || cols == 0) return lct__fail(LCT_EFORMAT, func, "the array is empty");
    if (rows > SIZE_MAX || cols > SIZE_MAX || rows > UINT64_MAX / 4 / cols)
        return lct__fail(LCT_EFORMAT, func, "the array's shape overflows");
    uint64_t data = rows * cols * 4, off = start + len;
    if (file_size < off || file_size - off != data)
        return lct__fail(LCT_EFORMAT, func, "the file holds %llu data bytes but shape (%llu, %llu) needs %llu",
                         (unsigned long long)(file_size < off ? 0 : file_size - off), (unsigned long long)rows,
                         (unsigned long long)cols, (unsigned long long)data);
    h->rows = (size_t)rows;
    h->cols = (size_t)cols;
    h->ndim = ndim;
    h->data_offset = (size_t)off;
    return LCT_OK;
}

/* ---- files ------------------------------------------------------------------ */

/* Open path and parse its header; on success *fd is positioned at the data. */
static int open_npy(const char *path, lct__npy_header *h, int *fd_out, const char *func)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lct__fail(LCT_EIO, func, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lct__fail(LCT_EIO, func, "'%s' is not a regular file", path);
    }
    unsigned char buf[12 + NPY_MAX_HEADER];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return lct__fail(LCT_EIO, func, "cannot read '%s': %s", path, strerror(err));
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    int rc = lct__npy_parse_header(buf, got, (uint64_t)st.st_size, h, func);
    if (rc == LCT_OK && lseek(fd, (off_t)h->data_offset, SEEK_SET) < 0)
        rc = lct__fail(LCT_EIO, func, "cannot seek in '%s': %s", path, strerror(errno));
    if (rc != LCT_OK) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return LCT_OK;
}

static int read_data(int fd, float *dst, size_t count, const char *path, const char *func)
{
    unsigned char *p = (unsigned char *)dst;
    size_t left = count * sizeof(float);
    while (left > 0) {
        ssize_t n = read(fd, p, left > (1u << 30) ? (1u << 30) : left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return lct__fail(LCT_EIO, func, "cannot read the data of '%s': %s", path,
                             n < 0 ? strerror(errno) : "the file shrank");
        p += n;
        left -= (size_t)n;
    }
    lct__swap32_if_be(dst, count);
    return LCT_OK;
}

int lct_npy_info(const char *path, size_t *rows, size_t *cols, uint32_t *ndim)
{
    LCT__REQUIRE(path);
    lct__npy_header h;
    int fd;
    int rc = open_npy(path, &h, &fd, __func__);
    if (rc) return rc;
    close(fd);
    if (rows) *rows = h.rows;
    if (cols) *cols = h.cols;
    if (ndim) *ndim = h.ndim;
    return LCT_OK;
}

/* Read the array of `path` into dst, which must be rows x cols, or, if dst is NULL, into a new block
 * of rt put in *out; *h describes the file. */
static int load_npy(const char *path, lct_runtime *rt, float *dst, size_t rows, size_t cols, float **out,
                    lct__npy_header *h, const char *func)
{
    int fd;
    int rc = open_npy(path, h, &fd, func);
    if (rc) return rc;
    float *data = dst;
    if (dst && (h->rows != rows || h->cols != cols))
        rc = lct__fail(LCT_ESHAPE, func, "'%s' holds a %zu x %zu array but rows x cols is %zu x %zu", path, h->rows,
                       h->cols, rows, cols);
    /* the header's size was checked against the real file size: no claim can inflate this */
    else if (dst == NULL && (data = lct__calloc(rt, h->rows * h->cols, sizeof(float))) == NULL)
        rc = LCT_ENOMEM;
    if (rc == LCT_OK) rc = read_data(fd, data, h->rows * h->cols, path, func);
    close(fd);
    if (dst == NULL && rc != LCT_OK) lct__free(rt, data);
    else if (dst == NULL) *out = data;
    return rc;
}

int lct_npy_read(const char *path, float *dst, size_t rows, size_t cols)
{
    LCT__REQUIRE(path);
    LCT__REQUIRE(dst);
    lct__npy_header h;
    return load_npy(path, NULL, dst, rows, cols, NULL, &h, __func__);
}

int lct_npy_read_alloc(lct_runtime *rt, const char *path, float **out, size_t *rows, size_t *cols)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(path);
    lct__npy_header h;
    int rc = load_npy(path, rt, NULL, 0, 0, out, &h, __func__);
    if (rc) return rc;
    if (rows) *rows = h.rows;
    if (cols) *cols = h.cols;
    return LCT_OK;
}

void lct_npy_free(lct_runtime *rt, float *data)
{
    if (rt == NULL || data == NULL) return;
    lct__free(rt, data);
}

static int write_npy(const char *path, const float *data, size_t rows, size_t cols, int ndim, const char *func)
{
    char dict[128];
    int n = ndim == 1 ? snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu,), }",
                                 rows)
                      : snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                                 rows, cols);
    /* pad with spaces and a final newline so that the data starts at a multiple of 64 */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    unsigned char head[256];
    memcpy(head, npy_magic, 6);
    head[6] = 1;
    head[7] = 0;
    size_t hlen = padded - 10;
    head[8] = (unsigned char)hlen;
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', padded - 10 - (size_t)n - 1);
    head[padded - 1] = '\n';

    lct__atomic_file f;
    int rc = lct__atomic_open(&f, path, func);
    if (rc) return rc;
    rc = lct__atomic_write(&f, head, padded, func);
    size_t count = rows * cols;
    if (lct__host_is_le()) {
        if (rc == LCT_OK) rc = lct__atomic_write(&f, data, count * sizeof(float), func);
    } else {
        float chunk[1024];
        for (size_t i = 0; rc == LCT_OK && i < count; i += 1024) {
            size_t k = count - i < 1024 ? count - i : 1024;
            memcpy(chunk, data + i, k * sizeof(float));
            lct__swap32_if_be(chunk, k);
            rc = lct__atomic_write(&f, chunk, k * sizeof(float), func);
        }
    }
    if (rc) {
        lct__atomic_abort(&f);
        return rc;
    }
    return lct__atomic_commit(&f, func);
}

int lct_npy_write(const char *path, const float *data, size_t rows, size_t cols)
{
    LCT__REQUIRE(path);
    LCT__REQUIRE(data);
    if (rows == 0) return LCT__FAIL(LCT_EINVAL, "rows is 0");
    if (cols == 0) return LCT__FAIL(LCT_EINVAL, "cols is 0");
    if (!lct__fits2(rows, cols, sizeof *data)) return LCT__FAIL(LCT_ESHAPE, "rows x cols (%zu x %zu) overflows", rows, cols);
    return write_npy(path, data, rows, cols, 2, __func__);
}

int lct_npy_write_vector(const char *path, const float *data, size_t n)
{
    LCT__REQUIRE(path);
    LCT__REQUIRE(data);
    if (n == 0) return LCT__FAIL(LCT_EINVAL, "n is 0");
    if (!lct__fits(n, sizeof *data)) return LCT__FAIL(LCT_ESHAPE, "n (%zu) overflows", n);
    return write_npy(path, data, n, 1, 1, __func__);
}
