/* The checkpoint writer: sections compressed when added, serialised on write. */
#include "checkpoint_internal.h"

typedef struct wsec {
    char *name;
    size_t name_len;
    uint32_t type;
    unsigned char *stored;   /* zlib stream */
    size_t stored_size;
    uint64_t raw_size;
} wsec;

/* A meta string (value) or a counter (num). */
typedef struct wentry {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    uint64_t num;
} wentry;

typedef struct wlist {
    wentry *items;
    size_t n, cap;
} wlist;

struct lct_checkpoint_writer {
    lct_runtime *rt;
    int level;
    wsec *secs;
    size_t n_secs, cap_secs;
    wlist meta, counters;
};

int lct_checkpoint_options_init(lct_checkpoint_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_checkpoint_options, opts, version, LCT__OPT_CHECKPOINT, .level = 1);
}

int lct_checkpoint_writer_new(lct_checkpoint_writer **out, lct_runtime *rt, const lct_checkpoint_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_checkpoint_options local;
    LCT__OPTIONS_COPY(LCT__OPT_CHECKPOINT, lct_checkpoint_options_init, local, opts);
    if (opts->level < 0 || opts->level > 9)
        return LCT__FAIL(LCT_EINVAL, "opts->level is %d; it must be 0..9", (int)opts->level);
    lct_checkpoint_writer *w = lct__calloc(rt, 1, sizeof *w);
    if (w == NULL) return LCT_ENOMEM;
    w->rt = rt;
    w->level = opts->level;
    *out = w;
    return LCT_OK;
}

static void free_list(lct_runtime *rt, wlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        lct__free(rt, l->items[i].key);
        lct__free(rt, l->items[i].value);
    }
    lct__free(rt, l->items);
    memset(l, 0, sizeof *l);
}

static void free_sec(lct_runtime *rt, wsec *s)
{
    lct__free(rt, s->name);
    lct__free(rt, s->stored);
}

void lct_checkpoint_writer_free(lct_checkpoint_writer *w)
{
    if (w == NULL) return;
    for (size_t i = 0; i < w->n_secs; i++) free_sec(w->rt, &w->secs[i]);
    lct__free(w->rt, w->secs);
    free_list(w->rt, &w->meta);
    free_list(w->rt, &w->counters);
    lct__free(w->rt, w);
}

lct_runtime *lct__ckpt_writer_runtime(const lct_checkpoint_writer *w)
{
    return w->rt;
}

void lct__ckpt_writer_remove(lct_checkpoint_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_secs; i++) {
        if (strcmp(w->secs[i].name, name) != 0) continue;
        free_sec(w->rt, &w->secs[i]);
        memmove(&w->secs[i], &w->secs[i + 1], (w->n_secs - i - 1) * sizeof *w->secs);
        w->n_secs--;
        return;
    }
}

/* Grow an array of elem-sized items to hold one more; LCT_OK or LCT_ENOMEM. */
static int reserve(lct_runtime *rt, void **items, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return LCT_OK;
    size_t cap2 = *cap ? *cap * 2 : 8;
    void *grown = lct__calloc(rt, cap2, elem);
    if (grown == NULL) return LCT_ENOMEM;
    if (n) memcpy(grown, *items, n * elem);
    lct__free(rt, *items);
    *items = grown;
    *cap = cap2;
    return LCT_OK;
}

static char *dup_bytes(lct_runtime *rt, const char *s, size_t n)
{
    char *d = lct__malloc(rt, n + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Name rules shared by sections, meta keys and counters: 1..255 bytes. */
static int check_name(const char *name, const char *what, const char *func, size_t *len)
{
    size_t n = strnlen(name, LCT_CHECKPOINT_MAX_NAME + 1);
    if (n == 0) return lct__fail(LCT_EINVAL, func, "%s is empty", what);
    if (n > LCT_CHECKPOINT_MAX_NAME)
        return lct__fail(LCT_EINVAL, func, "%s '%.40s...' is longer than %u bytes", what, name,
                         LCT_CHECKPOINT_MAX_NAME);
    *len = n;
    return LCT_OK;
}

int lct__ckpt_add_pieces(lct_checkpoint_writer *w, const char *name, uint32_t type,
                         const lct__ckpt_piece *pieces, size_t n_pieces, int reserved_ok, const char *func)
{
    size_t len;
    int rc = check_name(name, "name", func, &len);
    if (rc) return rc;
    if (!reserved_ok && strncmp(name, "lct.", 4) == 0)
        return lct__fail(LCT_EINVAL, func, "name '%s' starts with 'lct.', which is reserved for the library", name);
    size_t index = w->n_secs;
    for (size_t i = 0; i < w->n_secs; i++) {
        if (strcmp(w->secs[i].name, name) != 0) continue;
        if (!reserved_ok) return lct__fail(LCT_EINVAL, func, "name '%s' is already used by another section", name);
        index = i; /* the library's own sections are replaced */
    }
    if (index == w->n_secs && w->n_secs + 2 >= LCT_CHECKPOINT_MAX_SECTIONS)
        return lct__fail(LCT_EINVAL, func, "the checkpoint already holds %zu sections, the most a file may hold",
                         w->n_secs);
    if ((rc = reserve(w->rt, (void **)&w->secs, &w->cap_secs, w->n_secs, sizeof *w->secs))) return rc;

    wsec s = {0};
    s.type = type;
    s.name_len = len;
    s.name = dup_bytes(w->rt, name, len);
    if (s.name == NULL) return LCT_ENOMEM;
    rc = lct__ckpt_deflate(w->rt, w->level, pieces, n_pieces, &s.stored, &s.stored_size, &s.raw_size, func);
    if (rc) {
        lct__free(w->rt, s.name);
        return rc;
    }
    if (index < w->n_secs) free_sec(w->rt, &w->secs[index]);
    else w->n_secs++;
    w->secs[index] = s;
    return LCT_OK;
}

int lct_checkpoint_add_blob(lct_checkpoint_writer *w, const char *name, uint32_t type, const void *data,
                            size_t size)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    if (data == NULL && size != 0) return LCT__FAIL(LCT_EINVAL, "argument 'data' is NULL but size is %zu", size);
    if (type < LCT_CHECKPOINT_TYPE_USER)
        return LCT__FAIL(LCT_EINVAL, "type is %u; types below %u are reserved for the library", (unsigned)type,
                         (unsigned)LCT_CHECKPOINT_TYPE_USER);
    /* refused before anything is read or allocated: no reader could take a larger section */
    if (size > LCT__CKPT_MAX_RAW)
        return LCT__FAIL(LCT_EINVAL, "size is %zu; a section holds at most %llu bytes", size,
                         (unsigned long long)LCT__CKPT_MAX_RAW);
    lct__ckpt_piece piece = {data, size, 0};
    return lct__ckpt_add_pieces(w, name, type, &piece, 1, 0, __func__);
}

static int list_set(lct_checkpoint_writer *w, wlist *l, const char *key, size_t key_len, const char *value,
                    size_t value_len, uint64_t num)
{
    char *v = NULL;
    if (value != NULL && (v = dup_bytes(w->rt, value, value_len)) == NULL) return LCT_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].key, key) != 0) continue;
        lct__free(w->rt, l->items[i].value);
        l->items[i].value = v;
        l->items[i].value_len = value_len;
        l->items[i].num = num;
        return LCT_OK;
    }
    char *k = dup_bytes(w->rt, key, key_len);
    if (k == NULL || reserve(w->rt, (void **)&l->items, &l->cap, l->n, sizeof *l->items) != LCT_OK) {
        lct__free(w->rt, k);
        lct__free(w->rt, v);
        return LCT__FAIL(LCT_ENOMEM, "cannot store entry '%s'", key);
    }
    l->items[l->n++] = (wentry){k, key_len, v, value_len, num};
    return LCT_OK;
}

int lct_checkpoint_add_meta(lct_checkpoint_writer *w, const char *key, const char *value)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(key);
    LCT__REQUIRE(value);
    size_t klen;
    int rc = check_name(key, "key", __func__, &klen);
    if (rc) return rc;
    size_t vlen = strnlen(value, LCT_CHECKPOINT_MAX_VALUE + 1);
    if (vlen > LCT_CHECKPOINT_MAX_VALUE)
        return LCT__FAIL(LCT_EINVAL, "value of key '%s' is longer than %u bytes", key, LCT_CHECKPOINT_MAX_VALUE);
    if (w->meta.n >= LCT_CHECKPOINT_MAX_SECTIONS)
        return LCT__FAIL(LCT_EINVAL, "the checkpoint already holds %zu meta entries, the most allowed", w->meta.n);
    return list_set(w, &w->meta, key, klen, value, vlen, 0);
}

int lct_checkpoint_add_counter(lct_checkpoint_writer *w, const char *name, uint64_t value)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    size_t len;
    int rc = check_name(name, "name", __func__, &len);
    if (rc) return rc;
    if (w->counters.n >= LCT_CHECKPOINT_MAX_SECTIONS)
        return LCT__FAIL(LCT_EINVAL, "the checkpoint already holds %zu counters, the most allowed", w->counters.n);
    return list_set(w, &w->counters, name, len, NULL, 0, value);
}

int lct_checkpoint_add_runtime(lct_checkpoint_writer *w)
{
    LCT__REQUIRE(w);
    unsigned char b[16];
    lct__le64_store(b, lct_runtime_seed(w->rt));
    lct__le64_store(b + 8, lct__runtime_stream_state(w->rt));
    lct__ckpt_piece piece = {b, sizeof b, 0};
    return lct__ckpt_add_pieces(w, "lct.runtime", LCT_CHECKPOINT_TYPE_RUNTIME, &piece, 1, 1, __func__);
}

/* ---- serialisation --------------------------------------------------------- */

/* Internal sink: returns LCT_OK or a negative code with the message recorded. */
typedef int (*sink_fn)(void *user, const void *data, size_t size);

/* Build the list payload of meta strings or counters as a section. */
static int list_section(lct_checkpoint_writer *w, const wlist *l, int is_meta, wsec *out, const char *func)
{
    memset(out, 0, sizeof *out);
    lct__ckpt_put p;
    lct__ckpt_put_init(&p, w->rt);
    lct__ckpt_put_u32(&p, (uint32_t)l->n);
    for (size_t i = 0; i < l->n; i++) {
        lct__ckpt_put_str(&p, l->items[i].key, l->items[i].key_len);
        if (is_meta) lct__ckpt_put_str(&p, l->items[i].value, l->items[i].value_len);
        else lct__ckpt_put_u64(&p, l->items[i].num);
    }
    int rc = lct__ckpt_put_status(&p);
    if (rc == LCT_OK) {
        lct__ckpt_piece piece = {p.data, p.size, 0};
        out->name = (char *)(is_meta ? "lct.meta" : "lct.counters");
        out->name_len = strlen(out->name);
        out->type = is_meta ? LCT_CHECKPOINT_TYPE_META : LCT_CHECKPOINT_TYPE_COUNTERS;
        rc = lct__ckpt_deflate(w->rt, w->level, &piece, 1, &out->stored, &out->stored_size, &out->raw_size, func);
    }
    lct__ckpt_put_free(&p);
    return rc;
}

static int write_section(const wsec *s, sink_fn sink, void *user)
{
    unsigned char h[LCT__CKPT_SECTION_HEADER_SIZE];
    lct__le32_store(h, s->type);
    h[4] = (unsigned char)s->name_len;
    h[5] = (unsigned char)(s->name_len >> 8);
    h[6] = 1; /* method: zlib deflate */
    h[7] = 0;
    lct__le64_store(h + 8, s->stored_size);
    lct__le64_store(h + 16, s->raw_size);
    uint32_t crc = lct__ckpt_crc(0, s->name, s->name_len);
    crc = lct__ckpt_crc(crc, s->stored, s->stored_size);
    lct__le32_store(h + 24, crc);
    lct__le32_store(h + 28, lct__ckpt_crc(0, h, 28));
    int rc = sink(user, h, sizeof h);
    if (rc == LCT_OK) rc = sink(user, s->name, s->name_len);
    if (rc == LCT_OK) rc = sink(user, s->stored, s->stored_size);
    return rc;
}

static int serialise(lct_checkpoint_writer *w, sink_fn sink, void *user, const char *func)
{
    wsec extra[2];
    size_t n_extra = 0;
    int rc = LCT_OK;
    if (w->meta.n > 0 && (rc = list_section(w, &w->meta, 1, &extra[n_extra], func)) == LCT_OK) n_extra++;
    if (rc == LCT_OK && w->counters.n > 0 && (rc = list_section(w, &w->counters, 0, &extra[n_extra], func)) == LCT_OK)
        n_extra++;
    if (rc == LCT_OK) {
        unsigned char h[LCT__CKPT_HEADER_SIZE];
        memcpy(h, lct__ckpt_magic, 8);
        lct__le32_store(h + 8, LCT_CHECKPOINT_FORMAT_VERSION);
        lct__le32_store(h + 12, 0);
        lct__le32_store(h + 16, (uint32_t)(w->n_secs + n_extra));
        lct__le32_store(h + 20, lct__ckpt_crc(0, h, 20));
        rc = sink(user, h, sizeof h);
    }
    for (size_t i = 0; rc == LCT_OK && i < n_extra; i++) rc = write_section(&extra[i], sink, user);
    for (size_t i = 0; rc == LCT_OK && i < w->n_secs; i++) rc = write_section(&w->secs[i], sink, user);
    for (size_t i = 0; i < n_extra; i++) lct__free(w->rt, extra[i].stored);
    return rc;
}

typedef struct user_sink {
    lct_checkpoint_write_fn fn;
    void *user;
    uint64_t written;
} user_sink;

static int to_user(void *u, const void *data, size_t size)
{
    user_sink *s = u;
    int r = s->fn(s->user, data, size);
    if (r != 0)
        return LCT__FAIL(LCT_EIO, "the write callback returned %d after %llu bytes; the save was abandoned", r,
                         (unsigned long long)s->written);
    s->written += size;
    return LCT_OK;
}

int lct_checkpoint_write_cb(lct_checkpoint_writer *w, lct_checkpoint_write_fn fn, void *user)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(fn);
    user_sink s = {fn, user, 0};
    return serialise(w, to_user, &s, __func__);
}

typedef struct file_sink {
    lct__atomic_file *f;
    lct_checkpoint_write_fn inject;
    void *inject_user;
} file_sink;

static int to_file(void *u, const void *data, size_t size)
{
    file_sink *s = u;
    if (s->inject && s->inject(s->inject_user, data, size) != 0)
        return LCT__FAIL(LCT_EIO, "cannot write '%s': injected failure", s->f->tmp);
    return lct__atomic_write(s->f, data, size, "lct_checkpoint_write_file");
}

int lct__ckpt_write_file_ex(lct_checkpoint_writer *w, const char *path, lct_checkpoint_write_fn inject,
                            void *inject_user)
{
    lct__atomic_file f;
    int rc = lct__atomic_open(&f, path, "lct_checkpoint_write_file");
    if (rc) return rc;
    file_sink s = {&f, inject, inject_user};
    rc = serialise(w, to_file, &s, "lct_checkpoint_write_file");
    if (rc != LCT_OK) {
        lct__atomic_abort(&f);
        return rc;
    }
    return lct__atomic_commit(&f, "lct_checkpoint_write_file");
}

int lct_checkpoint_write_file(lct_checkpoint_writer *w, const char *path)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(path);
    if (path[0] == '\0') return LCT__FAIL(LCT_EINVAL, "path is empty");
    return lct__ckpt_write_file_ex(w, path, NULL, NULL);
}
