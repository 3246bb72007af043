/* The checkpoint reader: read the whole file, verify every header, length and CRC, then serve loads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"

typedef struct rsec {
    const char *name;          /* NUL-terminated, in names */
    uint32_t type;
    const unsigned char *stored;
    size_t stored_size;
    uint64_t raw_size;
} rsec;

typedef struct staged {
    void *target;
    lct__ckpt_commit_fn commit;
    void *payload;
    size_t size;
} staged;

struct lct_checkpoint_reader {
    lct_runtime *rt;
    lct_runtime *creating;     /* runtime of the handle a lct_checkpoint_new_*() call is loading, or NULL */
    unsigned char *file;
    size_t file_size;
    uint32_t version;
    rsec *secs;
    size_t n_secs;
    size_t *by_name;           /* section indices sorted by name, for lookups */
    char *names;
    /* meta strings and counters, parsed at open */
    const char **meta_keys, **meta_values;
    size_t n_meta;
    const char **counter_names;
    uint64_t *counter_values;
    size_t n_counters;
    char *strings;             /* storage of the meta and counter strings */
    /* group of loads (begin/commit) */
    int group_open;
    int group_rc;
    staged *staged;
    size_t n_staged, cap_staged;
};

lct_runtime *lct__ckpt_reader_runtime(const lct_checkpoint_reader *r)
{
    return r->rt;
}

int lct__ckpt_reader_accepts(const lct_checkpoint_reader *r, const lct_runtime *rt)
{
    return rt == r->rt || (r->creating != NULL && rt == r->creating);
}

void lct__ckpt_reader_set_creating(lct_checkpoint_reader *r, lct_runtime *rt)
{
    r->creating = rt;
}

static void drop_staged(lct_checkpoint_reader *r)
{
    for (size_t i = 0; i < r->n_staged; i++) lct__free(r->rt, r->staged[i].payload);
    r->n_staged = 0;
}

void lct_checkpoint_reader_free(lct_checkpoint_reader *r)
{
    if (r == NULL) return;
    drop_staged(r);
    lct__free(r->rt, r->staged);
    lct__free(r->rt, r->file);
    lct__free(r->rt, r->secs);
    lct__free(r->rt, r->by_name);
    lct__free(r->rt, r->names);
    lct__free(r->rt, r->meta_keys);
    lct__free(r->rt, r->meta_values);
    lct__free(r->rt, r->counter_names);
    lct__free(r->rt, r->counter_values);
    lct__free(r->rt, r->strings);
    lct__free(r->rt, r);
}

/* Sort indices by their strings keys[idx]: a merge sort, since qsort has no user pointer. */
static void sort_indices(const char *const *keys, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) return;
    size_t h = n / 2;
    sort_indices(keys, idx, tmp, h);
    sort_indices(keys, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = strcmp(keys[idx[i]], keys[idx[j]]) <= 0 ? idx[i++] : idx[j++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static long find_index(const lct_checkpoint_reader *r, const char *name)
{
    size_t lo = 0, hi = r->n_secs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->secs[r->by_name[mid]].name, name);
        if (c == 0) return (long)r->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Index of section `name`, or LCT_ENOTFOUND (recorded) if the file has none. */
static long find_or_fail(const lct_checkpoint_reader *r, const char *name, const char *func)
{
    long i = find_index(r, name);
    if (i < 0) return lct__fail(LCT_ENOTFOUND, func, "the checkpoint has no section named '%s'", name);
    return i;
}

/* Index of `key` among keys[0..n), -1 if absent. */
static long find_key(const char *const *keys, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0) return (long)i;
    return -1;
}

/* Sort order[0..n) (indices into keys) by key; then the index of a key held twice, -1 if none, or
 * LCT_ENOMEM. */
static long find_twin(lct_runtime *rt, const char *const *keys, size_t *order, size_t n)
{
    if (n < 2) return -1;
    size_t *tmp = lct__calloc(rt, n, sizeof *tmp);
    if (tmp == NULL) return LCT_ENOMEM;
    sort_indices(keys, order, tmp, n);
    lct__free(rt, tmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[order[i - 1]], keys[order[i]]) == 0) return (long)order[i];
    return -1;
}

/* The file header: magic, CRC, format version and the section count (bounded by the bytes present). */
static int parse_header(lct_checkpoint_reader *r, uint32_t *count, const char *func)
{
    const unsigned char *f = r->file;
    size_t size = r->file_size;
    if (size == 0) return lct__fail(LCT_EFORMAT, func, "the file is empty: not a checkpoint");
    size_t m = size < 8 ? size : 8;
    if (memcmp(f, lct__ckpt_magic, m) != 0)
        return lct__fail(LCT_EFORMAT, func, "wrong magic: not a libcontrast checkpoint");
    if (size < LCT__CKPT_HEADER_SIZE)
        return lct__fail(LCT_EFORMAT, func, "truncated: %zu bytes, the header alone needs %u", size,
                         LCT__CKPT_HEADER_SIZE);
    if (lct__ckpt_crc(0, f, 20) != lct__le32_load(f + 20))
        return lct__fail(LCT_ECHECKSUM, func, "the file header fails its CRC-32");
    uint32_t version = lct__le32_load(f + 8);
    if (version == 0) return lct__fail(LCT_EFORMAT, func, "format version 0 does not exist");
    if (version > LCT_CHECKPOINT_FORMAT_VERSION)
        return lct__fail(LCT_EVERSION, func,
                         "the file has format version %u, newer than the %u this library reads; "
                         "open it with a newer libcontrast", (unsigned)version, LCT_CHECKPOINT_FORMAT_VERSION);
    r->version = version;
    *count = lct__le32_load(f + 16);
    if (*count > LCT_CHECKPOINT_MAX_SECTIONS)
        return lct__fail(LCT_EFORMAT, func, "the header claims %u sections; at most %u are allowed", (unsigned)*count,
                         LCT_CHECKPOINT_MAX_SECTIONS);
    size_t body = size - LCT__CKPT_HEADER_SIZE;
    /* every section needs at least its 32-byte header: bound the tables by the bytes present */
    if (*count > body / LCT__CKPT_SECTION_HEADER_SIZE)
        return lct__fail(LCT_EFORMAT, func, "truncated: the header claims %u sections but only %zu bytes follow",
                         (unsigned)*count, body);
    if (*count == 0) return LCT_OK;
    r->secs = lct__calloc(r->rt, *count, sizeof *r->secs);
    r->by_name = lct__calloc(r->rt, *count, sizeof *r->by_name);
    /* names: at most 255 bytes + NUL each, and never more than the file holds */
    size_t names_cap = (size_t)*count * (LCT_CHECKPOINT_MAX_NAME + 1);
    r->names = lct__malloc(r->rt, names_cap < body + *count ? names_cap : body + *count);
    if (r->secs == NULL || r->by_name == NULL || r->names == NULL) return LCT_ENOMEM;
    return LCT_OK;
}

/* The sizes of section i's header h against the limits and the `left` bytes after it. */
static int check_section_sizes(const unsigned char *h, uint32_t i, size_t left, const char *func)
{
    size_t name_len = (size_t)h[4] | (size_t)h[5] << 8;
    unsigned method = h[6];
    uint64_t stored = lct__le64_load(h + 8);
    uint64_t raw = lct__le64_load(h + 16);
    if (name_len == 0 || name_len > LCT_CHECKPOINT_MAX_NAME)
        return lct__fail(LCT_EFORMAT, func, "section %u has a name of %zu bytes; names have 1..%u", (unsigned)i,
                         name_len, LCT_CHECKPOINT_MAX_NAME);
    if (method != 1)
        return lct__fail(LCT_EFORMAT, func, "section %u uses compression method %u; only 1 (deflate) exists",
                         (unsigned)i, method);
    if (stored > LCT__CKPT_MAX_STORED || raw > LCT__CKPT_MAX_RAW)
        return lct__fail(LCT_EFORMAT, func, "section %u claims %llu stored / %llu raw bytes, beyond the limit %llu",
                         (unsigned)i, (unsigned long long)stored, (unsigned long long)raw,
                         (unsigned long long)LCT__CKPT_MAX_RAW);
    if (raw > stored * LCT__CKPT_MAX_RATIO + 64)
        return lct__fail(LCT_EFORMAT, func,
                         "section %u claims %llu raw bytes from %llu compressed: deflate cannot expand that much",
                         (unsigned)i, (unsigned long long)raw, (unsigned long long)stored);
    if (name_len > left || stored > left - name_len)
        return lct__fail(LCT_EFORMAT, func,
                         "truncated: section %u claims %zu + %llu bytes but only %zu remain in the file",
                         (unsigned)i, name_len, (unsigned long long)stored, left);
    return LCT_OK;
}

/* Section i of count, whose header starts at *pos: check it, enter it in r, move *pos past it. */
static int parse_section(lct_checkpoint_reader *r, uint32_t i, uint32_t count, size_t *pos, size_t *names_used,
                         const char *func)
{
    size_t left = r->file_size - *pos;
    if (left == 0)
        return lct__fail(LCT_EFORMAT, func, "truncated: the file ends after %u of its %u sections", (unsigned)i,
                         (unsigned)count);
    if (left < LCT__CKPT_SECTION_HEADER_SIZE)
        return lct__fail(LCT_EFORMAT, func, "truncated: the file ends inside the header of section %u", (unsigned)i);
    const unsigned char *h = r->file + *pos;
    if (lct__ckpt_crc(0, h, 28) != lct__le32_load(h + 28))
        return lct__fail(LCT_ECHECKSUM, func, "the header of section %u fails its CRC-32", (unsigned)i);
    int rc = check_section_sizes(h, i, left - LCT__CKPT_SECTION_HEADER_SIZE, func);
    if (rc) return rc;
    size_t name_len = (size_t)h[4] | (size_t)h[5] << 8;
    size_t stored = (size_t)lct__le64_load(h + 8);
    const unsigned char *name = h + LCT__CKPT_SECTION_HEADER_SIZE;
    const unsigned char *payload = name + name_len;
    if (lct__ckpt_crc(lct__ckpt_crc(0, name, name_len), payload, stored) != lct__le32_load(h + 24))
        return lct__fail(LCT_ECHECKSUM, func, "the name or payload of section %u fails its CRC-32", (unsigned)i);
    if (memchr(name, '\0', name_len) != NULL)
        return lct__fail(LCT_EFORMAT, func, "the name of section %u contains a NUL byte", (unsigned)i);
    char *copy = r->names + *names_used;
    memcpy(copy, name, name_len);
    copy[name_len] = '\0';
    *names_used += name_len + 1;
    r->secs[i] = (rsec){copy, lct__le32_load(h), payload, stored, lct__le64_load(h + 16)};
    r->by_name[i] = i;
    r->n_secs = i + 1;
    *pos += LCT__CKPT_SECTION_HEADER_SIZE + name_len + stored;
    return LCT_OK;
}

/* Walk the section table of r->file; on success r->secs, r->names and r->by_name are set. */
static int parse_container(lct_checkpoint_reader *r, const char *func)
{
    uint32_t count = 0;
    int rc = parse_header(r, &count, func);
    size_t pos = LCT__CKPT_HEADER_SIZE, names_used = 0;
    for (uint32_t i = 0; rc == LCT_OK && i < count; i++) rc = parse_section(r, i, count, &pos, &names_used, func);
    if (rc) return rc;
    if (pos != r->file_size)
        return lct__fail(LCT_EFORMAT, func, "%zu bytes follow the last section: the file is damaged",
                         r->file_size - pos);
    if (count < 2) return LCT_OK;
    const char **keys = lct__calloc(r->rt, count, sizeof *keys);
    if (keys == NULL) return LCT_ENOMEM;
    for (uint32_t i = 0; i < count; i++) keys[i] = r->secs[i].name;
    long twin = find_twin(r->rt, keys, r->by_name, count);
    lct__free(r->rt, keys);
    if (twin == LCT_ENOMEM) return LCT_ENOMEM;
    if (twin >= 0) return lct__fail(LCT_EFORMAT, func, "two sections are both called '%s'", r->secs[twin].name);
    return LCT_OK;
}

/* Inflate section index whole into a new block; raw size already bounded by the caller. */
static int inflate_section(lct_checkpoint_reader *r, size_t index, void **data, const char *func)
{
    const rsec *s = &r->secs[index];
    *data = NULL;
    if (s->raw_size > SIZE_MAX - 64) return lct__fail(LCT_ENOMEM, func, "section '%s' is too large", s->name);
    void *buf = NULL;
    if (s->raw_size > 0 && (buf = lct__malloc(r->rt, (size_t)s->raw_size)) == NULL) return LCT_ENOMEM;
    int rc = lct__ckpt_inflate(r->rt, s->stored, s->stored_size, buf, (size_t)s->raw_size, 1, func);
    if (rc) {
        lct__free(r->rt, buf);
        return rc;
    }
    *data = buf;
    return LCT_OK;
}

/* The types (and the runtime section's size) of the library's list sections that the file holds. */
static int check_list_types(const lct_checkpoint_reader *r, long mi, long ci, long ri, const char *func)
{
    if (mi >= 0 && r->secs[mi].type != LCT_CHECKPOINT_TYPE_META)
        return lct__fail(LCT_EFORMAT, func, "section 'lct.meta' has type %u, not %u", (unsigned)r->secs[mi].type,
                         LCT_CHECKPOINT_TYPE_META);
    if (ci >= 0 && r->secs[ci].type != LCT_CHECKPOINT_TYPE_COUNTERS)
        return lct__fail(LCT_EFORMAT, func, "section 'lct.counters' has type %u, not %u",
                         (unsigned)r->secs[ci].type, LCT_CHECKPOINT_TYPE_COUNTERS);
    if (ri >= 0 && (r->secs[ri].type != LCT_CHECKPOINT_TYPE_RUNTIME || r->secs[ri].raw_size != 16))
        return lct__fail(LCT_EFORMAT, func, "section 'lct.runtime' has type %u and %llu bytes, not type %u and 16",
                         (unsigned)r->secs[ri].type, (unsigned long long)r->secs[ri].raw_size,
                         LCT_CHECKPOINT_TYPE_RUNTIME);
    return LCT_OK;
}

/* Copy n bytes of s to *out as a C string and move *out past it. */
static const char *keep_string(char **out, const char *s, size_t n)
{
    char *at = *out;
    memcpy(at, s, n);
    at[n] = '\0';
    *out += n + 1;
    return at;
}

/* The tables of one list section: meta (key and value strings) or counters (key and u64). */
static int list_tables(lct_checkpoint_reader *r, int is_meta, uint32_t n, const char ***keys)
{
    if (n == 0) return LCT_OK;
    const void *values;
    *keys = lct__calloc(r->rt, n, sizeof **keys);
    if (is_meta) {
        r->meta_keys = *keys;
        values = r->meta_values = lct__calloc(r->rt, n, sizeof *r->meta_values);
    } else {
        r->counter_names = *keys;
        values = r->counter_values = lct__calloc(r->rt, n, sizeof *r->counter_values);
    }
    return *keys == NULL || values == NULL ? LCT_ENOMEM : LCT_OK;
}

/* Parse list section idx (inflated in data) into r's tables; its strings go to *out. Each entry
 * needs at least 8 (meta) or 12 (counters) bytes: the count is bounded by the raw size. */
static int parse_list(lct_checkpoint_reader *r, int is_meta, long idx, const void *data, char **out,
                      const char *func)
{
    const char *sname = r->secs[idx].name;
    lct__ckpt_get g;
    lct__ckpt_get_init(&g, data, (size_t)r->secs[idx].raw_size);
    uint32_t n = lct__ckpt_get_u32(&g);
    if (g.failed || n > LCT_CHECKPOINT_MAX_SECTIONS || n > lct__ckpt_get_left(&g) / (is_meta ? 8 : 12))
        return lct__fail(LCT_EFORMAT, func, "section '%s' is malformed (entry count)", sname);
    const char **keys = NULL;
    if (list_tables(r, is_meta, n, &keys)) return LCT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        size_t klen = 0, vlen = 0;
        const char *k = lct__ckpt_get_str(&g, LCT_CHECKPOINT_MAX_NAME, &klen);
        const char *v = NULL;
        uint64_t num = 0;
        if (is_meta) v = lct__ckpt_get_str(&g, LCT_CHECKPOINT_MAX_VALUE, &vlen);
        else num = lct__ckpt_get_u64(&g);
        if (g.failed || klen == 0)
            return lct__fail(LCT_EFORMAT, func, "section '%s' is malformed (entry %u)", sname, (unsigned)i);
        /* key and value each gain a NUL but lose their 4-byte length: storage suffices */
        keys[i] = keep_string(out, k, klen);
        if (is_meta) {
            r->meta_values[i] = keep_string(out, v, vlen);
            r->n_meta = i + 1;
        } else {
            r->counter_values[i] = num;
            r->n_counters = i + 1;
        }
    }
    if (lct__ckpt_get_left(&g) != 0)
        return lct__fail(LCT_EFORMAT, func, "section '%s' has %zu stray bytes", sname, lct__ckpt_get_left(&g));
    if (n < 2) return LCT_OK;
    /* keys must be unique: sort a copy of the order (O(n log n) even for 65536 keys) */
    size_t *order = lct__calloc(r->rt, n, sizeof *order);
    if (order == NULL) return LCT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    long twin = find_twin(r->rt, keys, order, n);
    lct__free(r->rt, order);
    if (twin == LCT_ENOMEM) return LCT_ENOMEM;
    if (twin >= 0) return lct__fail(LCT_EFORMAT, func, "section '%s' holds key '%s' twice", sname, keys[twin]);
    return LCT_OK;
}

/* Parse "lct.meta" and "lct.counters" now, so that lookups never fail later. */
static int parse_lists(lct_checkpoint_reader *r, const char *func)
{
    long idx[2] = {find_index(r, "lct.meta"), find_index(r, "lct.counters")};
    int rc = check_list_types(r, idx[0], idx[1], find_index(r, "lct.runtime"), func);
    if (rc) return rc;
    void *data[2] = {NULL, NULL};
    size_t strings_size = 0;
    for (int k = 0; k < 2 && rc == LCT_OK; k++) {
        if (idx[k] < 0) continue;
        rc = inflate_section(r, (size_t)idx[k], &data[k], func);
        strings_size += (size_t)r->secs[idx[k]].raw_size;
    }
    if (rc == LCT_OK && strings_size > 0 && (r->strings = lct__malloc(r->rt, strings_size)) == NULL) rc = LCT_ENOMEM;
    char *out = r->strings;
    for (int k = 0; k < 2 && rc == LCT_OK; k++)
        if (idx[k] >= 0) rc = parse_list(r, k == 0, idx[k], data[k], &out, func);
    lct__free(r->rt, data[0]);
    lct__free(r->rt, data[1]);
    return rc;
}

/* Take ownership of the file image, parse it; on failure free everything. */
static int open_image(lct_checkpoint_reader **out, lct_runtime *rt, unsigned char *file, size_t size,
                      const char *func)
{
    lct_checkpoint_reader *r = lct__calloc(rt, 1, sizeof *r);
    if (r == NULL) {
        lct__free(rt, file);
        return LCT_ENOMEM;
    }
    r->rt = rt;
    r->file = file;
    r->file_size = size;
    int rc = parse_container(r, func);
    if (rc == LCT_OK) rc = parse_lists(r, func);
    if (rc != LCT_OK) {
        lct_checkpoint_reader_free(r);
        return rc;
    }
    *out = r;
    return LCT_OK;
}

int lct_checkpoint_reader_open_memory(lct_checkpoint_reader **out, lct_runtime *rt, const void *data, size_t size)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    if (data == NULL && size != 0) return LCT__FAIL(LCT_EINVAL, "argument 'data' is NULL but size is %zu", size);
    if (!lct__fits(size, 1)) return LCT__FAIL(LCT_EINVAL, "size is %zu, larger than any buffer", size);
    unsigned char *copy = NULL;
    if (size > 0) {
        if ((copy = lct__malloc(rt, size)) == NULL) return LCT_ENOMEM;
        memcpy(copy, data, size);
    }
    return open_image(out, rt, copy, size, __func__);
}

int lct_checkpoint_reader_open_cb(lct_checkpoint_reader **out, lct_runtime *rt, lct_checkpoint_read_fn fn,
                                  void *user)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(fn);
    /* Grow only as bytes really arrive: a header claiming gigabytes costs nothing. */
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            size_t cap2 = cap ? cap * 2 : 65536;
            if (cap2 < cap || cap2 > LCT__CKPT_MAX_STORED * 2) {
                lct__free(rt, buf);
                return LCT__FAIL(LCT_EFORMAT, "the data exceeds %zu bytes", cap);
            }
            unsigned char *b = lct__malloc(rt, cap2);
            if (b == NULL) {
                lct__free(rt, buf);
                return LCT_ENOMEM;
            }
            if (size) memcpy(b, buf, size);
            lct__free(rt, buf);
            buf = b;
            cap = cap2;
        }
        int64_t got = fn(user, buf + size, cap - size);
        if (got == 0) break;
        if (got < 0 || (uint64_t)got > cap - size) {
            lct__free(rt, buf);
            return LCT__FAIL(LCT_EIO, "the read callback returned %lld after %zu bytes", (long long)got, size);
        }
        size += (size_t)got;
    }
    return open_image(out, rt, buf, size, __func__);
}

int lct_checkpoint_reader_open_file(lct_checkpoint_reader **out, lct_runtime *rt, const char *path)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return LCT__FAIL(LCT_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return LCT__FAIL(LCT_EIO, "'%s' is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = NULL;
    if (size > 0 && (buf = lct__malloc(rt, size)) == NULL) {
        close(fd);
        return LCT_ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got > (1u << 30) ? (1u << 30) : size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            close(fd);
            lct__free(rt, buf);
            return LCT__FAIL(LCT_EIO, "cannot read '%s': %s", path, n < 0 ? strerror(err) : "it shrank while read");
        }
        got += (size_t)n;
    }
    close(fd);
    int rc = open_image(out, rt, buf, size, __func__);
    if (rc != LCT_OK && rc != LCT_ENOMEM) {
        /* Prefix the path so the host knows which file is damaged. */
        char msg[400];
        snprintf(msg, sizeof msg, "%s", lct_error_last());
        const char *colon = strstr(msg, ": ");
        LCT__FAIL(rc, "'%s': %s", path, colon ? colon + 2 : msg);
    }
    return rc;
}

int lct_checkpoint_reader_format_version(const lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    return (int)r->version;
}

int lct_checkpoint_section_count(const lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    return (int)r->n_secs;
}

int lct_checkpoint_section_info(const lct_checkpoint_reader *r, size_t index, const char **name, uint32_t *type,
                                uint64_t *size)
{
    LCT__REQUIRE(r);
    if (index >= r->n_secs)
        return LCT__FAIL(LCT_ERANGE, "index %zu is past the last section (the file has %zu)", index, r->n_secs);
    if (name) *name = r->secs[index].name;
    if (type) *type = r->secs[index].type;
    if (size) *size = r->secs[index].raw_size;
    return LCT_OK;
}

int lct_checkpoint_find(const lct_checkpoint_reader *r, const char *name)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    return (int)find_or_fail(r, name, __func__);
}

int lct__ckpt_read(lct_checkpoint_reader *r, const char *name, uint32_t type, size_t max_size, void **data,
                   size_t *size, const char *func)
{
    *data = NULL;
    *size = 0;
    long i = find_or_fail(r, name, func);
    if (i < 0) return (int)i;
    const rsec *s = &r->secs[i];
    if (s->type != type)
        return lct__fail(LCT_EFORMAT, func, "section '%s' has type %u, expected %u", name, (unsigned)s->type,
                         (unsigned)type);
    if (s->raw_size > max_size)
        return lct__fail(LCT_ESHAPE, func, "section '%s' holds %llu bytes, more than the %zu its target can take", name,
                         (unsigned long long)s->raw_size, max_size);
    int rc = inflate_section(r, (size_t)i, data, func);
    if (rc == LCT_OK) *size = (size_t)s->raw_size;
    return rc;
}

int lct__ckpt_read_prefix(lct_checkpoint_reader *r, size_t index, void *dst, size_t n, const char *func)
{
    const rsec *s = &r->secs[index];
    if (n > s->raw_size) return lct__fail(LCT_EFORMAT, func, "section '%s' is shorter than %zu bytes", s->name, n);
    return lct__ckpt_inflate(r->rt, s->stored, s->stored_size, dst, n, 0, func);
}

/* ---- loads, all-or-nothing ------------------------------------------------ */

int lct__ckpt_finish(lct_checkpoint_reader *r, int rc, void *target, lct__ckpt_commit_fn commit, void *payload,
                     size_t size)
{
    if (rc == LCT_OK && r->group_open && r->n_staged == r->cap_staged) {
        size_t cap2 = r->cap_staged ? r->cap_staged * 2 : 8;
        staged *grown = lct__calloc(r->rt, cap2, sizeof *grown);
        if (grown == NULL) {
            rc = LCT_ENOMEM;
        } else {
            if (r->n_staged) memcpy(grown, r->staged, r->n_staged * sizeof *grown);
            lct__free(r->rt, r->staged);
            r->staged = grown;
            r->cap_staged = cap2;
        }
    }
    if (rc != LCT_OK) {
        lct__free(r->rt, payload);
        if (r->group_open && r->group_rc == LCT_OK) r->group_rc = rc;
        return rc;
    }
    if (r->group_open) {
        r->staged[r->n_staged++] = (staged){target, commit, payload, size};
        return LCT_OK;
    }
    commit(target, payload, size);
    lct__free(r->rt, payload);
    return LCT_OK;
}

int lct_checkpoint_reader_begin(lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    if (r->group_open) return LCT__FAIL(LCT_ESTATE, "a group of loads is already open; commit or roll it back first");
    r->group_open = 1;
    r->group_rc = LCT_OK;
    return LCT_OK;
}

int lct_checkpoint_reader_commit(lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    if (!r->group_open) return LCT__FAIL(LCT_ESTATE, "no group of loads is open (call lct_checkpoint_reader_begin)");
    r->group_open = 0;
    int rc = r->group_rc;
    if (rc == LCT_OK)
        for (size_t i = 0; i < r->n_staged; i++)
            r->staged[i].commit(r->staged[i].target, r->staged[i].payload, r->staged[i].size);
    drop_staged(r);
    if (rc != LCT_OK)
        return LCT__FAIL(rc, "a load of the group failed (%s); nothing was applied", lct_status_string(rc));
    return LCT_OK;
}

int lct__ckpt_implicit_begin(lct_checkpoint_reader *r)
{
    if (r->group_open) return 0;
    r->group_open = 1;
    r->group_rc = LCT_OK;
    return 1;
}

int lct__ckpt_implicit_end(lct_checkpoint_reader *r, int opened, int rc)
{
    if (!opened) return rc;
    r->group_open = 0;
    if (rc == LCT_OK) rc = r->group_rc;
    if (rc == LCT_OK)
        for (size_t i = 0; i < r->n_staged; i++)
            r->staged[i].commit(r->staged[i].target, r->staged[i].payload, r->staged[i].size);
    drop_staged(r);
    return rc;
}

int lct__ckpt_in_group(const lct_checkpoint_reader *r)
{
    return r->group_open;
}

int lct_checkpoint_reader_rollback(lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    if (!r->group_open) return LCT__FAIL(LCT_ESTATE, "no group of loads is open");
    r->group_open = 0;
    drop_staged(r);
    return LCT_OK;
}

/* ---- library sections: runtime, meta, counters, blobs --------------------- */

static void commit_runtime(void *target, const void *payload, size_t size)
{
    (void)size;
    lct__runtime_set_stream_state(target, lct__le64_load((const unsigned char *)payload + 8));
}

int lct_checkpoint_load_runtime(lct_checkpoint_reader *r, lct_runtime *rt)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(rt);
    void *data;
    size_t size;
    int rc = lct__ckpt_read(r, "lct.runtime", LCT_CHECKPOINT_TYPE_RUNTIME, 16, &data, &size, __func__);
    if (rc == LCT_OK && size != 16) rc = LCT__FAIL(LCT_EFORMAT, "section 'lct.runtime' holds %zu bytes, not 16", size);
    if (rc == LCT_OK) {
        uint64_t seed = lct__le64_load(data);
        if (seed != lct_runtime_seed(rt))
            rc = LCT__FAIL(LCT_EMISMATCH,
                           "the checkpoint was saved from a runtime with seed %llu, rt has seed %llu: "
                           "its random streams could not be resumed", (unsigned long long)seed,
                           (unsigned long long)lct_runtime_seed(rt));
    }
    return lct__ckpt_finish(r, rc, rt, commit_runtime, data, 16);
}

/* lct_checkpoint_get_meta (is_meta) and lct_checkpoint_get_counter: the value of `key` into *value
 * (a const char * or a uint64_t). */
static int get_entry(const lct_checkpoint_reader *r, int is_meta, const char *key, void *value, const char *func)
{
    const char *names[3] = {"r", is_meta ? "key" : "name", "value"};
    int rc = lct__ckpt_require((const void *[]){r, key, value}, names, 3, func);
    if (rc) return rc;
    long i = is_meta ? find_key(r->meta_keys, r->n_meta, key) : find_key(r->counter_names, r->n_counters, key);
    if (i < 0)
        return lct__fail(LCT_ENOTFOUND, func, "the checkpoint has no %s '%s'", is_meta ? "meta key" : "counter", key);
    if (is_meta) *(const char **)value = r->meta_values[i];
    else *(uint64_t *)value = r->counter_values[i];
    return LCT_OK;
}

int lct_checkpoint_get_meta(const lct_checkpoint_reader *r, const char *key, const char **value)
{
    return get_entry(r, 1, key, value, __func__);
}

int lct_checkpoint_meta_count(const lct_checkpoint_reader *r)
{
    LCT__REQUIRE(r);
    return (int)r->n_meta;
}

int lct_checkpoint_meta_at(const lct_checkpoint_reader *r, size_t index, const char **key, const char **value)
{
    LCT__REQUIRE(r);
    if (index >= r->n_meta)
        return LCT__FAIL(LCT_ERANGE, "index %zu is past the last meta entry (there are %zu)", index, r->n_meta);
    if (key) *key = r->meta_keys[index];
    if (value) *value = r->meta_values[index];
    return LCT_OK;
}

int lct_checkpoint_get_counter(const lct_checkpoint_reader *r, const char *name, uint64_t *value)
{
    return get_entry(r, 0, name, value, __func__);
}

int lct_checkpoint_read_blob(lct_checkpoint_reader *r, const char *name, uint32_t type, void *dst, size_t size)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    if (dst == NULL && size != 0) return LCT__FAIL(LCT_EINVAL, "argument 'dst' is NULL but size is %zu", size);
    long i = find_or_fail(r, name, __func__);
    if (i < 0) return (int)i;
    const rsec *s = &r->secs[i];
    if (s->type != type)
        return LCT__FAIL(LCT_EFORMAT, "section '%s' has type %u, not %u", name, (unsigned)s->type, (unsigned)type);
    if (s->raw_size != size)
        return LCT__FAIL(LCT_ESHAPE, "section '%s' holds %llu bytes but size is %zu", name,
                         (unsigned long long)s->raw_size, size);
    /* Inflate into a scratch block first: dst stays untouched if the stream is bad. */
    void *data;
    int rc = inflate_section(r, (size_t)i, &data, __func__);
    if (rc) return rc;
    if (size) memcpy(dst, data, size);
    lct__free(r->rt, data);
    return LCT_OK;
}
