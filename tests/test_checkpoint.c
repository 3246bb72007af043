/* Checkpoints: round trips, the on-disk layout, damaged files, interrupted saves, bad input. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

#include "checkpoint/checkpoint_internal.h"
#include "fuzz/fuzz_common.h"
#include "replay/replay_internal.h"

/* ---- helpers ------------------------------------------------------------ */

/* A parameter set with up to 8 tensors of given names and sizes, values from a formula. */
typedef struct tset {
    lct__tensor t[8];
    float *values[8];
    float *grads[8];
    lct_params p;
} tset;

static void tset_init(tset *s, lct_runtime *rt, size_t n, const char *const *names, const size_t *counts,
                      const int *trainable, float offset)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s->values[i] = malloc(counts[i] * sizeof(float));
        s->grads[i] = trainable[i] ? calloc(counts[i], sizeof(float)) : NULL;
        for (size_t k = 0; k < counts[i]; k++) s->values[i][k] = sinf((float)(k * 7 + i * 13) + offset) * 3.0f;
        s->t[i] = (lct__tensor){.name = names[i], .value = s->values[i], .grad = s->grads[i], .count = counts[i]};
    }
    s->p = (lct_params){rt, s->t, n, 0};
}

static void tset_free(tset *s)
{
    for (size_t i = 0; i < s->p.n_tensors; i++) {
        free(s->values[i]);
        free(s->grads[i]);
    }
}

static const char *const NAMES[3] = {"0.conv1d.weight", "0.conv1d.bias", "1.batchnorm.running_mean"};
static const size_t COUNTS[3] = {40, 5, 5};
static const int TRAINABLE[3] = {1, 1, 0};

/* Growable in-memory sink / source. */
typedef struct membuf {
    unsigned char *data;
    size_t size, cap, pos;
    int calls, fail_at; /* fail the fail_at-th call (1-based); 0: never */
} membuf;

static int mem_write(void *user, const void *data, size_t size)
{
    membuf *m = user;
    if (++m->calls == m->fail_at) return -5;
    if (m->size + size > m->cap) {
        m->cap = (m->size + size) * 2;
        m->data = realloc(m->data, m->cap);
    }
    memcpy(m->data + m->size, data, size);
    m->size += size;
    return 0;
}

static int64_t mem_read(void *user, void *buf, size_t size)
{
    membuf *m = user;
    if (++m->calls == m->fail_at) return -1;
    size_t n = m->size - m->pos < size ? m->size - m->pos : size;
    if (n > 7) n = 7; /* short reads on purpose */
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int64_t)n;
}

#define assert_no_memory lct_test_assert_no_memory

/* A checkpoint with every kind of section, serialised into m. */
static void build_full(lct_runtime *rt, tset *s, membuf *m, int level)
{
    lct_checkpoint_options o;
    ck_assert_int_eq(lct_checkpoint_options_init(&o, LCT_CHECKPOINT_OPTIONS_VERSION), LCT_OK);
    o.level = level;
    lct_checkpoint_writer *w = NULL;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, &o), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "encoder", &s->p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "method", "instdisc"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "dataset", "fashion-mnist"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_counter(w, "step", 123456789012ull), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_counter(w, "epoch", 3), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_runtime(w), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "host.state", LCT_CHECKPOINT_TYPE_USER + 7, "hello", 5), LCT_OK);
    memset(m, 0, sizeof *m);
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, m), LCT_OK);
    lct_checkpoint_writer_free(w);
}

static char tmpdir[256];

static void make_tmpdir(void) { lct_test_tmpdir_make(tmpdir, sizeof tmpdir, "ckpt"); }
static void remove_tmpdir(void) { lct_test_tmpdir_remove(tmpdir); }
#define count_files lct_test_count_files
#define slurp lct_test_read_file
#define spit lct_test_write_file

/* Offsets of every section start (and the end) of a valid image, by walking it independently. */
static size_t section_offsets(const unsigned char *d, size_t size, size_t *offs, size_t max)
{
    size_t n = 0, pos = 24;
    while (pos < size && n < max) {
        offs[n++] = pos;
        size_t name_len = (size_t)d[pos + 4] | (size_t)d[pos + 5] << 8;
        pos += 32 + name_len + (size_t)lct__le64_load(d + pos + 8);
    }
    ck_assert_uint_eq(pos, size);
    return n;
}

/* ---- round trips ---------------------------------------------------------- */

START_TEST(test_round_trip_every_section)
{
    lct_runtime *rt = lct_test_runtime(1, 77);
    tset a, b;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 9.0f);
    uint64_t stream_before = lct__runtime_stream_state(rt);
    membuf m;
    build_full(rt, &a, &m, _i == 0 ? 6 : (_i == 1 ? 0 : 9));

    lct__runtime_set_stream_state(rt, 999); /* moved on after the save */
    membuf src = m;
    src.calls = 0;
    lct_checkpoint_reader *r = NULL;
    ck_assert_int_eq(lct_checkpoint_reader_open_cb(&r, rt, mem_read, &src), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_format_version(r), 1);
    ck_assert_int_eq(lct_checkpoint_section_count(r), 5); /* meta, counters, params, runtime, blob */
    const char *name;
    uint32_t type;
    uint64_t size;
    int seen = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(lct_checkpoint_section_info(r, (size_t)i, &name, &type, &size), LCT_OK);
        ck_assert_int_eq(lct_checkpoint_find(r, name), i);
        if (strcmp(name, "encoder") == 0) {
            ck_assert_uint_eq(type, LCT_CHECKPOINT_TYPE_PARAMS);
            seen++;
        }
        if (strcmp(name, "host.state") == 0) {
            ck_assert_uint_eq(type, LCT_CHECKPOINT_TYPE_USER + 7);
            ck_assert_uint_eq(size, 5);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 2);

    uint64_t version_before = b.p.version;
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_OK);
    for (int t = 0; t < 3; t++)
        ck_assert_mem_eq(b.values[t], a.values[t], COUNTS[t] * sizeof(float)); /* bit for bit */
    ck_assert_uint_gt(b.p.version, version_before);
    ck_assert_int_eq(lct_checkpoint_load_runtime(r, rt), LCT_OK);
    ck_assert_uint_eq(lct__runtime_stream_state(rt), stream_before);

    const char *v;
    ck_assert_int_eq(lct_checkpoint_get_meta(r, "method", &v), LCT_OK);
    ck_assert_str_eq(v, "instdisc");
    ck_assert_int_eq(lct_checkpoint_meta_count(r), 2);
    const char *k;
    ck_assert_int_eq(lct_checkpoint_meta_at(r, 1, &k, &v), LCT_OK);
    ck_assert_str_eq(k, "dataset");
    ck_assert_str_eq(v, "fashion-mnist");
    uint64_t c;
    ck_assert_int_eq(lct_checkpoint_get_counter(r, "step", &c), LCT_OK);
    ck_assert_uint_eq(c, 123456789012ull);
    ck_assert_int_eq(lct_checkpoint_get_counter(r, "epoch", &c), LCT_OK);
    ck_assert_uint_eq(c, 3);
    char blob[5];
    ck_assert_int_eq(lct_checkpoint_read_blob(r, "host.state", LCT_CHECKPOINT_TYPE_USER + 7, blob, 5), LCT_OK);
    ck_assert_mem_eq(blob, "hello", 5);
    lct_checkpoint_reader_free(r);

    /* the same image through memory and through a file */
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_section_count(r), 5);
    lct_checkpoint_reader_free(r);
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/run.ckpt", tmpdir);
    spit(path, m.data, m.size);
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_OK);
    lct_checkpoint_reader_free(r);
    remove_tmpdir();

    free(m.data);
    tset_free(&a);
    tset_free(&b);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_round_trip_large_and_many_sections)
{
    /* 1.5 M floats of noise (incompressible: several deflate rounds) + 300 small blob sections */
    lct_runtime *rt = lct_test_runtime(1, 0);
    const char *names[2] = {"big", "small"};
    size_t counts[2] = {1500000, 3};
    int trainable[2] = {1, 0};
    tset a, b;
    tset_init(&a, rt, 2, names, counts, trainable, 0.0f);
    tset_init(&b, rt, 2, names, counts, trainable, 1.0f);
    lct__rng g;
    lct__rng_seed(&g, 5, 6);
    for (size_t i = 0; i < counts[0]; i++) a.values[0][i] = (float)lct__rng_normal(&g);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "net", &a.p), LCT_OK);
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "blob-%03d", (i * 37) % 300);
        ck_assert_int_eq(lct_checkpoint_add_blob(w, name, LCT_CHECKPOINT_TYPE_USER, &i, sizeof i), LCT_OK);
    }
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_section_count(r), 301);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "net", &b.p), LCT_OK);
    ck_assert_mem_eq(b.values[0], a.values[0], counts[0] * sizeof(float));
    ck_assert_mem_eq(b.values[1], a.values[1], counts[1] * sizeof(float));
    for (int i = 0; i < 300; i++) {
        int v = -1;
        snprintf(name, sizeof name, "blob-%03d", (i * 37) % 300);
        ck_assert_int_eq(lct_checkpoint_read_blob(r, name, LCT_CHECKPOINT_TYPE_USER, &v, sizeof v), LCT_OK);
        ck_assert_int_eq(v, i);
    }
    lct_checkpoint_reader_free(r);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_tensor_order_may_differ_and_replacements)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, b;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    const char *rev[3] = {NAMES[2], NAMES[0], NAMES[1]};
    size_t revc[3] = {COUNTS[2], COUNTS[0], COUNTS[1]};
    int revt[3] = {0, 1, 1};
    tset_init(&b, rt, 3, rev, revc, revt, 4.0f);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "enc", &a.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "k", "first"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "k", "second"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "empty", ""), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_counter(w, "step", 1), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_counter(w, "step", 2), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_runtime(w), LCT_OK);
    lct__runtime_next_stream(rt);
    ck_assert_int_eq(lct_checkpoint_add_runtime(w), LCT_OK); /* replaces: records the later state */
    uint64_t state = lct__runtime_stream_state(rt);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    /* the writer keeps its sections: a second save gives the same bytes */
    membuf m2 = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m2), LCT_OK);
    ck_assert_uint_eq(m.size, m2.size);
    ck_assert_mem_eq(m.data, m2.data, m.size);
    lct_checkpoint_writer_free(w);

    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "enc", &b.p), LCT_OK);
    ck_assert_mem_eq(b.values[0], a.values[2], COUNTS[2] * sizeof(float));
    ck_assert_mem_eq(b.values[1], a.values[0], COUNTS[0] * sizeof(float));
    ck_assert_mem_eq(b.values[2], a.values[1], COUNTS[1] * sizeof(float));
    const char *v;
    ck_assert_int_eq(lct_checkpoint_get_meta(r, "k", &v), LCT_OK);
    ck_assert_str_eq(v, "second");
    ck_assert_int_eq(lct_checkpoint_get_meta(r, "empty", &v), LCT_OK);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(lct_checkpoint_meta_count(r), 2);
    uint64_t c;
    ck_assert_int_eq(lct_checkpoint_get_counter(r, "step", &c), LCT_OK);
    ck_assert_uint_eq(c, 2);
    lct__runtime_set_stream_state(rt, 1);
    ck_assert_int_eq(lct_checkpoint_load_runtime(r, rt), LCT_OK);
    ck_assert_uint_eq(lct__runtime_stream_state(rt), state);
    lct_checkpoint_reader_free(r);
    free(m.data);
    free(m2.data);
    tset_free(&a);
    tset_free(&b);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* The file follows docs/checkpoint-format.md: an independent walk with zlib alone. */
START_TEST(test_layout_matches_the_format_document)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    const unsigned char *d = m.data;
    static const unsigned char magic[8] = {0x89, 'L', 'C', 'T', '\r', '\n', 0x1a, '\n'};
    ck_assert_mem_eq(d, magic, 8);
    ck_assert_uint_eq(d[8] | d[9] << 8 | d[10] << 16 | (uint32_t)d[11] << 24, 1);    /* version */
    ck_assert_uint_eq(d[16] | d[17] << 8, 5);                                        /* sections */
    ck_assert_uint_eq(lct__le32_load(d + 20), (uint32_t)crc32(0, d, 20));
    size_t offs[8];
    size_t n = section_offsets(d, m.size, offs, 8);
    ck_assert_uint_eq(n, 5);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *h = d + offs[i];
        size_t name_len = (size_t)h[4] | (size_t)h[5] << 8;
        ck_assert_uint_eq(h[6], 1);
        uint64_t stored = lct__le64_load(h + 8), raw = lct__le64_load(h + 16);
        ck_assert_uint_eq(lct__le32_load(h + 28), (uint32_t)crc32(0, h, 28));
        ck_assert_uint_eq(lct__le32_load(h + 24), (uint32_t)crc32(0, h + 32, (uInt)(name_len + stored)));
        if (name_len != 7 || memcmp(h + 32, "encoder", 7) != 0) continue;
        found = 1;
        unsigned char *out = malloc(raw);
        uLongf out_len = (uLongf)raw;
        ck_assert_int_eq(uncompress(out, &out_len, h + 32 + name_len, (uLong)stored), Z_OK);
        ck_assert_uint_eq(out_len, raw);
        /* u32 n; {u32 len, name, u64 count, u32 flags}; then float32 LE values */
        ck_assert_uint_eq(lct__le32_load(out), 3);
        size_t pos = 4;
        for (int t = 0; t < 3; t++) {
            size_t len = lct__le32_load(out + pos);
            ck_assert_uint_eq(len, strlen(NAMES[t]));
            ck_assert_mem_eq(out + pos + 4, NAMES[t], len);
            ck_assert_uint_eq(lct__le64_load(out + pos + 4 + len), COUNTS[t]);
            ck_assert_uint_eq(lct__le32_load(out + pos + 12 + len), (uint32_t)TRAINABLE[t]);
            pos += 16 + len;
        }
        for (int t = 0; t < 3; t++)
            for (size_t k = 0; k < COUNTS[t]; k++, pos += 4) {
                uint32_t bits = lct__le32_load(out + pos), want;
                memcpy(&want, &a.values[t][k], 4);
                ck_assert_uint_eq(bits, want);
            }
        ck_assert_uint_eq(pos, raw);
        free(out);
    }
    ck_assert(found);
    free(m.data);
    tset_free(&a);
    lct_runtime_free(rt);
}
END_TEST

/* An unknown section type (from a later version of a module or of the host) is listed and skipped. */
START_TEST(test_unknown_sections_are_skipped)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, b;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 2.0f);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    lct__ckpt_piece piece = {"future", 6, 0};
    ck_assert_int_eq(lct__ckpt_add_pieces(w, "lct.from-the-future", 999, &piece, 1, 1, "test"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "enc", &a.p), LCT_OK);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    uint32_t type;
    ck_assert_int_eq(lct_checkpoint_section_info(r, 0, NULL, &type, NULL), LCT_OK);
    ck_assert_uint_eq(type, 999);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "enc", &b.p), LCT_OK);
    ck_assert_mem_eq(b.values[0], a.values[0], COUNTS[0] * sizeof(float));
    lct_checkpoint_reader_free(r);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    lct_runtime_free(rt);
}
END_TEST

/* ---- loads refuse mismatches and change nothing ------------------------------- */

static void assert_unchanged(const tset *s, const tset *snapshot)
{
    for (size_t t = 0; t < s->p.n_tensors; t++)
        ck_assert_mem_eq(s->values[t], snapshot->values[t], s->t[t].count * sizeof(float));
}

START_TEST(test_load_params_mismatches)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);

    /* fewer tensors */
    tset t2, s2;
    tset_init(&t2, rt, 2, NAMES, COUNTS, TRAINABLE, 5.0f);
    tset_init(&s2, rt, 2, NAMES, COUNTS, TRAINABLE, 5.0f);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &t2.p), LCT_ESHAPE, "holds 3 tensors but params has 2");
    assert_unchanged(&t2, &s2);
    /* a renamed tensor */
    const char *other[3] = {NAMES[0], "0.conv1d.bias_renamed", NAMES[2]};
    tset t3, s3;
    tset_init(&t3, rt, 3, other, COUNTS, TRAINABLE, 5.0f);
    tset_init(&s3, rt, 3, other, COUNTS, TRAINABLE, 5.0f);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &t3.p), LCT_ESHAPE, "'0.conv1d.bias'");
    assert_unchanged(&t3, &s3);
    /* a tensor of another size: the total differs, only the table prefix is inflated */
    size_t bigger[3] = {40, 6, 5};
    tset t4, s4;
    tset_init(&t4, rt, 3, NAMES, bigger, TRAINABLE, 5.0f);
    tset_init(&s4, rt, 3, NAMES, bigger, TRAINABLE, 5.0f);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &t4.p), LCT_ESHAPE, "has 5 elements");
    assert_unchanged(&t4, &s4);
    /* same total size, sizes swapped between tensors */
    size_t swapped[3] = {40, 4, 6};
    tset t5, s5;
    tset_init(&t5, rt, 3, NAMES, swapped, TRAINABLE, 5.0f);
    tset_init(&s5, rt, 3, NAMES, swapped, TRAINABLE, 5.0f);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &t5.p), LCT_ESHAPE, "0.conv1d.bias");
    assert_unchanged(&t5, &s5);
    /* not a params section; missing section */
    tset t6, s6;
    tset_init(&t6, rt, 3, NAMES, COUNTS, TRAINABLE, 5.0f);
    tset_init(&s6, rt, 3, NAMES, COUNTS, TRAINABLE, 5.0f);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "host.state", &t6.p), LCT_EFORMAT, "not a parameter set");
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "decoder", &t6.p), LCT_ENOTFOUND, "'decoder'");
    assert_unchanged(&t6, &s6);

    lct_checkpoint_reader_free(r);
    tset *all[] = {&t2, &s2, &t3, &s3, &t4, &s4, &t5, &s5, &t6, &s6, &a};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tset_free(all[i]);
    free(m.data);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_load_runtime_and_groups)
{
    lct_runtime *rt = lct_test_runtime(1, 77);
    lct_runtime *other_seed = lct_test_runtime(1, 78);
    tset a, b, snap, c3;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 3.0f);
    tset_init(&snap, rt, 3, NAMES, COUNTS, TRAINABLE, 3.0f);
    tset_init(&c3, rt, 2, NAMES, COUNTS, TRAINABLE, 3.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    uint64_t before = lct__runtime_stream_state(other_seed);
    LCT_ASSERT_FAILS(lct_checkpoint_load_runtime(r, other_seed), LCT_EMISMATCH, "seed 77");
    ck_assert_uint_eq(lct__runtime_stream_state(other_seed), before);

    /* a group where the second load fails applies nothing */
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_begin(r), LCT_ESTATE, "already open");
    lct__runtime_set_stream_state(rt, 4242);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_runtime(r, rt), LCT_OK);
    assert_unchanged(&b, &snap); /* staged, not applied */
    ck_assert_uint_eq(lct__runtime_stream_state(rt), 4242);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &c3.p), LCT_ESHAPE, "params has 2");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_commit(r), LCT_ESHAPE, "nothing was applied");
    assert_unchanged(&b, &snap);
    ck_assert_uint_eq(lct__runtime_stream_state(rt), 4242);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_commit(r), LCT_ESTATE, "no group");

    /* a group that succeeds applies everything at commit */
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_runtime(r, rt), LCT_OK);
    assert_unchanged(&b, &snap);
    ck_assert_int_eq(lct_checkpoint_reader_commit(r), LCT_OK);
    assert_unchanged(&b, &a);
    ck_assert_uint_ne(lct__runtime_stream_state(rt), 4242);

    /* rollback discards */
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &snap.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_rollback(r), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_rollback(r), LCT_ESTATE, "no group");
    ck_assert_float_ne(snap.values[0][1], a.values[0][1]);
    /* a group left open is discarded by free */
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &snap.p), LCT_OK);
    lct_checkpoint_reader_free(r);
    ck_assert_float_ne(snap.values[0][1], a.values[0][1]);

    tset_free(&a);
    tset_free(&b);
    tset_free(&snap);
    tset_free(&c3);
    free(m.data);
    assert_no_memory(rt);
    lct_runtime_free(rt);
    lct_runtime_free(other_seed);
}
END_TEST

/* ---- damaged files ------------------------------------------------------------ */

/* Open (damaged) bytes; expect `code`; the target must be unchanged and no memory held. */
static void expect_open_fails(lct_runtime *rt, const unsigned char *d, size_t n, int code, const char *needle)
{
    lct_checkpoint_reader *r = (lct_checkpoint_reader *)&r;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_memory(&r, rt, d, n), code, needle);
    ck_assert_ptr_null(r);
    assert_no_memory(rt);
}

START_TEST(test_truncated_everywhere)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    size_t offs[8];
    size_t n = section_offsets(m.data, m.size, offs, 8);
    /* at every section boundary: a clear message */
    for (size_t i = 0; i < n; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "after %zu of its %zu sections", i, n);
        /* early cuts are caught by the bound on the section count, later ones by the walk */
        int bound = n > (offs[i] - 24) / 32;
        expect_open_fails(rt, m.data, offs[i], LCT_EFORMAT, bound ? "truncated: the header claims" : needle);
    }
    /* at every other length (covers random points) */
    for (size_t len = 0; len < m.size; len++)
        expect_open_fails(rt, m.data, len, LCT_EFORMAT, len == 0 ? "empty" : "");
    /* and through a file and a callback */
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/cut.ckpt", tmpdir);
    spit(path, m.data, offs[2] + 40);
    lct_checkpoint_reader *r;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, rt, path), LCT_EFORMAT, "cut.ckpt");
    spit(path, m.data, 0);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, rt, path), LCT_EFORMAT, "empty");
    membuf src = m;
    src.size = offs[3] - 1;
    src.pos = src.calls = 0;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(&r, rt, mem_read, &src), LCT_EFORMAT, "truncated");
    remove_tmpdir();
    /* trailing bytes */
    unsigned char *longer = malloc(m.size + 3);
    memcpy(longer, m.data, m.size);
    memset(longer + m.size, 0, 3);
    expect_open_fails(rt, longer, m.size + 3, LCT_EFORMAT, "3 bytes follow");
    free(longer);
    free(m.data);
    tset_free(&a);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_every_single_bit_flip)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    unsigned char *d = malloc(m.size);
    for (size_t byte = 0; byte < m.size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(d, m.data, m.size);
            d[byte] ^= (unsigned char)(1u << bit);
            /* magic → EFORMAT; anything else is covered by a CRC-32 */
            expect_open_fails(rt, d, m.size, byte < 8 ? LCT_EFORMAT : LCT_ECHECKSUM, byte < 8 ? "magic" : "CRC-32");
        }
    free(d);
    free(m.data);
    tset_free(&a);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_wrong_magic_versions_and_huge_claims)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, b, snap;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    tset_init(&snap, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    unsigned char *d = malloc(m.size);
    size_t offs[8];
    section_offsets(m.data, m.size, offs, 8);

    memcpy(d, m.data, m.size);
    memcpy(d, "PK\3\4", 4);
    expect_open_fails(rt, d, m.size, LCT_EFORMAT, "wrong magic");
    expect_open_fails(rt, (const unsigned char *)"hello", 5, LCT_EFORMAT, "wrong magic");

    memcpy(d, m.data, m.size);
    lct__le32_store(d + 8, 2);
    lct_fuzz_repair_crcs(d, m.size);
    expect_open_fails(rt, d, m.size, LCT_EVERSION, "newer");
    lct__le32_store(d + 8, 0);
    lct_fuzz_repair_crcs(d, m.size);
    expect_open_fails(rt, d, m.size, LCT_EFORMAT, "version 0");

    /* section count claims: more than allowed, more than the bytes could hold */
    memcpy(d, m.data, m.size);
    lct__le32_store(d + 16, 4000000000u);
    lct_fuzz_repair_crcs(d, m.size);
    expect_open_fails(rt, d, m.size, LCT_EFORMAT, "at most");
    lct__le32_store(d + 16, 60000);
    lct_fuzz_repair_crcs(d, m.size);
    size_t peak;
    expect_open_fails(rt, d, m.size, LCT_EFORMAT, "claims 60000 sections");

    /* a section claiming gigabytes (stored, or raw) with valid CRCs: refused, nothing big allocated */
    lct_runtime *fresh = lct_test_runtime(1, 0);
    memcpy(d, m.data, m.size);
    lct__le64_store(d + offs[2] + 8, (uint64_t)5 << 30);
    lct_fuzz_repair_crcs(d, m.size);
    lct__le32_store(d + offs[2] + 28, (uint32_t)crc32(0, d + offs[2], 28));
    expect_open_fails(fresh, d, m.size, LCT_EFORMAT, "only");
    membuf src = {d, m.size, m.size, 0, 0, 0};
    lct_checkpoint_reader *r;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(&r, fresh, mem_read, &src), LCT_EFORMAT, "only");
    memcpy(d, m.data, m.size);
    lct__le64_store(d + offs[2] + 16, (uint64_t)6 << 30);
    lct__le32_store(d + offs[2] + 28, (uint32_t)crc32(0, d + offs[2], 28));
    expect_open_fails(fresh, d, m.size, LCT_EFORMAT, "cannot expand");
    lct__le64_store(d + offs[2] + 16, (uint64_t)1 << 50);
    lct__le32_store(d + offs[2] + 28, (uint32_t)crc32(0, d + offs[2], 28));
    expect_open_fails(fresh, d, m.size, LCT_EFORMAT, "beyond the limit");
    ck_assert_int_eq(lct_runtime_memory(fresh, NULL, &peak), LCT_OK);
    ck_assert_msg(peak < (1u << 20), "peak %zu bytes while refusing huge claims", peak);

    /* a plausible raw claim (within deflate's ratio) that disagrees with the data: the params load
     * inflates only a bounded prefix and fails; the target is unchanged */
    size_t name_len = (size_t)d[offs[2] + 4] | (size_t)d[offs[2] + 5] << 8;
    ck_assert_mem_eq(m.data + offs[2] + 32, "encoder", name_len);
    memcpy(d, m.data, m.size);
    uint64_t stored = lct__le64_load(d + offs[2] + 8);
    lct__le64_store(d + offs[2] + 16, stored * 1000);
    lct__le32_store(d + offs[2] + 28, (uint32_t)crc32(0, d + offs[2], 28));
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, fresh, d, m.size), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_EMISMATCH, "another runtime");
    b.p.rt = fresh; /* the set is the test's own: let it count as fresh's, whose memory is measured */
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "encoder", &b.p), LCT_EFORMAT, "");
    b.p.rt = rt;
    assert_unchanged(&b, &snap);
    lct_checkpoint_reader_free(r);
    ck_assert_int_eq(lct_runtime_memory(fresh, NULL, &peak), LCT_OK);
    ck_assert_msg(peak < (1u << 20), "peak %zu bytes for a section claiming %llu", peak,
                  (unsigned long long)(stored * 1000));
    assert_no_memory(fresh);
    lct_runtime_free(fresh);

    free(d);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    tset_free(&snap);
    lct_runtime_free(rt);
}
END_TEST

/* Damage behind valid CRCs (a writer bug, or a CRC collision): loads fail and change nothing. */
START_TEST(test_damaged_payload_behind_valid_crcs)
{
    lct_runtime *rt = lct_test_runtime(1, 77);
    tset a, b, snap;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    tset_init(&snap, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    membuf m;
    build_full(rt, &a, &m, 6);
    size_t offs[8];
    size_t n = section_offsets(m.data, m.size, offs, 8);
    unsigned char *d = malloc(m.size);
    int opened = 0, refused = 0;
    for (size_t s = 0; s < n; s++) {
        size_t name_len = (size_t)m.data[offs[s] + 4] | (size_t)m.data[offs[s] + 5] << 8;
        size_t start = offs[s] + 32 + name_len, len = (size_t)lct__le64_load(m.data + offs[s] + 8);
        for (size_t k = 0; k < len; k++) {
            memcpy(d, m.data, m.size);
            d[start + k] ^= 0x10;
            lct_fuzz_repair_crcs(d, m.size);
            lct_checkpoint_reader *r = NULL;
            int rc = lct_checkpoint_reader_open_memory(&r, rt, d, m.size);
            if (rc != LCT_OK) {
                ck_assert_int_eq(rc, LCT_EFORMAT); /* meta and counters are parsed at open */
                refused++;
                continue;
            }
            opened++;
            uint64_t state = lct__runtime_stream_state(rt);
            ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
            int r1 = lct_checkpoint_load_params(r, "encoder", &b.p);
            int r2 = lct_checkpoint_load_runtime(r, rt);
            int rc2 = lct_checkpoint_reader_commit(r);
            if (rc2 != LCT_OK) {
                ck_assert(r1 != LCT_OK || r2 != LCT_OK);
                assert_unchanged(&b, &snap);
                ck_assert_uint_eq(lct__runtime_stream_state(rt), state);
                refused++;
            } else {
                /* a flip deflate cannot see (e.g. in a stored block's data) loads other values */
                for (size_t t = 0; t < 3; t++) memcpy(b.values[t], snap.values[t], COUNTS[t] * sizeof(float));
            }
            lct_checkpoint_reader_free(r);
            assert_no_memory(rt);
        }
    }
    ck_assert_int_gt(refused, 100);
    ck_assert_int_gt(opened, 0);
    free(d);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    tset_free(&snap);
    lct_runtime_free(rt);
}
END_TEST


/* Library sections that are well-formed containers but malformed inside: refused at open. */
static void expect_library_section_refused(lct_runtime *rt, const char *name, uint32_t type, const void *payload,
                                           size_t size, const char *needle)
{
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    lct__ckpt_piece piece = {payload, size, 0};
    ck_assert_int_eq(lct__ckpt_add_pieces(w, name, type, &piece, 1, 1, "test"), LCT_OK);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    expect_open_fails(rt, m.data, m.size, LCT_EFORMAT, needle);
    free(m.data);
}

/* Two sections of one name (the writer refuses them; a file may still hold them): refused at open, and
 * a counters section naming one counter twice likewise. */
START_TEST(test_duplicate_names_refused)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    const unsigned char payload[3] = {1, 2, 3};
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "ab", LCT_CHECKPOINT_TYPE_USER, payload, 3), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "ac", LCT_CHECKPOINT_TYPE_USER, payload, 3), LCT_OK);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_find(r, "ac"), 1);
    lct_checkpoint_reader_free(r);
    /* rename the second section "ab" and mend its CRCs: name + payload at +24, header at +28 */
    const unsigned char *first = m.data + LCT__CKPT_HEADER_SIZE;
    unsigned char *h = m.data + LCT__CKPT_HEADER_SIZE + LCT__CKPT_SECTION_HEADER_SIZE + 2 + lct__le64_load(first + 8);
    ck_assert_int_eq(h[LCT__CKPT_SECTION_HEADER_SIZE + 1], 'c');
    h[LCT__CKPT_SECTION_HEADER_SIZE + 1] = 'b';
    size_t stored = (size_t)lct__le64_load(h + 8);
    lct__le32_store(h + 24, lct__ckpt_crc(0, h + LCT__CKPT_SECTION_HEADER_SIZE, 2 + stored));
    lct__le32_store(h + 28, lct__ckpt_crc(0, h, 28));
    expect_open_fails(rt, m.data, m.size, LCT_EFORMAT, "two sections are both called 'ab'");
    free(m.data);

    lct_runtime *aux = lct_test_runtime(1, 0); /* holds the payload while rt's memory is checked */
    lct__ckpt_put p;
    lct__ckpt_put_init(&p, aux);
    lct__ckpt_put_u32(&p, 3);
    const char *keys[3] = {"step", "epoch", "step"};
    for (int i = 0; i < 3; i++) {
        lct__ckpt_put_str(&p, keys[i], strlen(keys[i]));
        lct__ckpt_put_u64(&p, (uint64_t)i);
    }
    expect_library_section_refused(rt, "lct.counters", LCT_CHECKPOINT_TYPE_COUNTERS, p.data, p.size,
                                   "holds key 'step' twice");
    lct__ckpt_put_free(&p);
    lct_runtime_free(aux);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_malformed_library_sections)
{
    lct_runtime *rt = lct_test_runtime(1, 0), *aux = lct_test_runtime(1, 0); /* aux holds the payloads */
    lct__ckpt_put p;
    lct__ckpt_put_init(&p, aux);
    lct__ckpt_put_u32(&p, 2);
    lct__ckpt_put_str(&p, "k", 1);
    lct__ckpt_put_str(&p, "v1", 2);
    lct__ckpt_put_str(&p, "k", 1);
    lct__ckpt_put_str(&p, "v2", 2);
    expect_library_section_refused(rt, "lct.meta", LCT_CHECKPOINT_TYPE_META, p.data, p.size, "key 'k' twice");
    expect_library_section_refused(rt, "lct.meta", LCT_CHECKPOINT_TYPE_META, p.data, p.size - 1, "entry 1");
    lct__ckpt_put_u32(&p, 7);
    expect_library_section_refused(rt, "lct.meta", LCT_CHECKPOINT_TYPE_META, p.data, p.size, "stray");
    unsigned char huge_count[4] = {0xff, 0xff, 0xff, 0x7f};
    expect_library_section_refused(rt, "lct.meta", LCT_CHECKPOINT_TYPE_META, huge_count, 4, "entry count");
    expect_library_section_refused(rt, "lct.counters", LCT_CHECKPOINT_TYPE_COUNTERS, huge_count, 4, "entry count");
    expect_library_section_refused(rt, "lct.meta", LCT_CHECKPOINT_TYPE_COUNTERS, huge_count, 4, "type 2");
    expect_library_section_refused(rt, "lct.runtime", LCT_CHECKPOINT_TYPE_RUNTIME, huge_count, 4, "not type 3 and 16");
    lct__ckpt_put_free(&p);
    lct_runtime_free(aux);
    /* a parameter set naming one tensor twice cannot be saved */
    const char *dup[2] = {"w", "w"};
    size_t counts[2] = {2, 2};
    int trainable[2] = {1, 1};
    tset a;
    tset_init(&a, rt, 2, dup, counts, trainable, 0.0f);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "p", &a.p), LCT_EINVAL, "two tensors 'w'");
    lct_checkpoint_writer_free(w);
    tset_free(&a);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- interrupted saves ---------------------------------------------------------- */

typedef struct inject {
    int calls, fail_at;
} inject;

static int inject_fail(void *user, const void *data, size_t size)
{
    (void)data;
    (void)size;
    inject *in = user;
    return ++in->calls == in->fail_at ? -1 : 0;
}

START_TEST(test_interrupted_saves_keep_the_old_file)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, b, c;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 5.0f);
    tset_init(&c, rt, 3, NAMES, COUNTS, TRAINABLE, 9.0f);
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/run.ckpt", tmpdir);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "enc", &a.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    lct_checkpoint_writer_free(w);
    size_t old_size;
    unsigned char *old = slurp(path, &old_size);

    /* a new save (other values) that fails at each write in turn, as a full disk would */
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_params(w, "enc", &b.p), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "try", "second"), LCT_OK);
    inject count = {0, 0};
    membuf scratch = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &scratch), LCT_OK);
    int calls = scratch.calls;
    ck_assert_int_ge(calls, 7);
    for (int k = 1; k <= calls; k++) {
        count = (inject){0, k};
        LCT_ASSERT_FAILS(lct__ckpt_write_file_ex(w, path, inject_fail, &count), LCT_EIO, "injected");
        size_t now_size;
        unsigned char *now = slurp(path, &now_size);
        ck_assert_uint_eq(now_size, old_size);
        ck_assert_mem_eq(now, old, old_size);
        free(now);
        ck_assert_int_eq(count_files(tmpdir), 1); /* the temporary file is gone */
        lct_checkpoint_reader *r;
        ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
        ck_assert_int_eq(lct_checkpoint_load_params(r, "enc", &c.p), LCT_OK);
        ck_assert_mem_eq(c.values[0], a.values[0], COUNTS[0] * sizeof(float));
        lct_checkpoint_reader_free(r);
    }
    /* the write callback failing at every call: EIO, and the host's previous blob is its own */
    for (int k = 1; k <= calls; k++) {
        membuf sink = {0};
        sink.fail_at = k;
        LCT_ASSERT_FAILS(lct_checkpoint_write_cb(w, mem_write, &sink), LCT_EIO, "returned -5");
        ck_assert_int_eq(sink.calls, k); /* stopped at the failure */
        free(sink.data);
    }

    /* folders that cannot take the file (tests run as root, so permission bits cannot stand in
     * for a read-only folder: a missing folder, a regular file in place of the folder, and a
     * folder in place of the file, where only the final rename fails) */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no-such-folder/run.ckpt", tmpdir);
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, bad), LCT_EIO, "No such file or directory");
    snprintf(bad, sizeof bad, "%s/run.ckpt/inner.ckpt", tmpdir);
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, bad), LCT_EIO, "Not a directory");
    snprintf(bad, sizeof bad, "%s/adir", tmpdir);
    ck_assert_int_eq(mkdir(bad, 0755), 0);
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, bad), LCT_EIO, "rename");
    ck_assert_int_eq(count_files(tmpdir), 2); /* run.ckpt and adir: no temporary left */
    rmdir(bad);
    /* a really read-only place, where the system has one (procfs refuses new files even to root) */
    struct stat st;
    if (stat("/proc/self", &st) == 0)
        LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, "/proc/lct-checkpoint-test.ckpt"), LCT_EIO, "temporary");
    size_t now_size;
    unsigned char *now = slurp(path, &now_size);
    ck_assert_mem_eq(now, old, old_size);
    free(now);

    /* and a save that works replaces the file */
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    ck_assert_int_eq(count_files(tmpdir), 1);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "enc", &c.p), LCT_OK);
    ck_assert_mem_eq(c.values[0], b.values[0], COUNTS[0] * sizeof(float));
    lct_checkpoint_reader_free(r);
    /* a relative path (folder ".") also works */
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(lct_checkpoint_write_file(w, "relative.ckpt"), LCT_OK);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(count_files(tmpdir), 2);

    lct_checkpoint_writer_free(w);
    free(old);
    free(scratch.data);
    remove_tmpdir();
    tset_free(&a);
    tset_free(&b);
    tset_free(&c);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- allocator hooks: zlib goes through them, and every failure is clean --------- */

typedef struct hooks {
    long allocs, fail_after; /* fail every allocation once allocs reaches fail_after (<0: never) */
    size_t biggest;
} hooks;

static void *hook_alloc(void *user, size_t size)
{
    hooks *h = user;
    if (h->fail_after >= 0 && h->allocs >= h->fail_after) return NULL;
    h->allocs++;
    if (size > h->biggest) h->biggest = size;
    return malloc(size);
}

static void hook_free(void *user, void *p)
{
    (void)user;
    free(p);
}

START_TEST(test_allocator_hooks_and_out_of_memory)
{
    hooks h = {0, -1, 0};
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.alloc = hook_alloc;
    o.free = hook_free;
    o.alloc_user = &h;
    lct_runtime *rt;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    tset a, b;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 4.0f);
    /* deflate's state (~256 KiB at level 6) dwarfs this tiny set: seeing it proves the routing */
    h.biggest = 0;
    membuf m;
    build_full(rt, &a, &m, 6);
    ck_assert_uint_gt(h.biggest, 60000);
    ck_assert_int_gt(h.allocs, 10);

    /* every allocation of a save and of a load, failing in turn */
    for (long k = 0;; k++) {
        h.allocs = 0;
        h.fail_after = k;
        lct_checkpoint_writer *w = NULL;
        membuf sink = {0};
        int rc = lct_checkpoint_writer_new(&w, rt, NULL);
        if (rc == LCT_OK) rc = lct_checkpoint_add_params(w, "encoder", &a.p);
        if (rc == LCT_OK) rc = lct_checkpoint_add_meta(w, "m", "v");
        if (rc == LCT_OK) rc = lct_checkpoint_add_counter(w, "step", 5);
        if (rc == LCT_OK) rc = lct_checkpoint_write_cb(w, mem_write, &sink);
        lct_checkpoint_writer_free(w);
        free(sink.data);
        h.fail_after = -1;
        assert_no_memory(rt);
        if (rc == LCT_OK) break;
        ck_assert_int_eq(rc, LCT_ENOMEM);
        ck_assert_int_lt(k, 200);
    }
    tset snap;
    tset_init(&snap, rt, 3, NAMES, COUNTS, TRAINABLE, 4.0f);
    for (long k = 0;; k++) {
        h.allocs = 0;
        h.fail_after = k;
        lct_checkpoint_reader *r = NULL;
        int rc = lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size);
        if (rc == LCT_OK) {
            rc = lct_checkpoint_load_params(r, "encoder", &b.p);
            if (rc != LCT_OK) assert_unchanged(&b, &snap);
        }
        lct_checkpoint_reader_free(r);
        h.fail_after = -1;
        assert_no_memory(rt);
        if (rc == LCT_OK) break;
        ck_assert_int_eq(rc, LCT_ENOMEM);
        ck_assert_int_lt(k, 200);
    }
    assert_unchanged(&b, &a);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    tset_free(&snap);
    lct_runtime_free(rt);
}
END_TEST

/* ---- bad input for every public function -------------------------------------- */

START_TEST(test_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, nan_set;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&nan_set, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    nan_set.values[1][2] = NAN;
    lct_checkpoint_options o;
    LCT_ASSERT_FAILS(lct_checkpoint_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_checkpoint_options_init(&o, 0), LCT_EVERSION, "version is 0");
    LCT_ASSERT_FAILS(lct_checkpoint_options_init(&o, 2), LCT_EVERSION, "version is 2");
    ck_assert_int_eq(lct_checkpoint_options_init(&o, 1), LCT_OK);
    ck_assert_int_eq(o.level, 1);

    lct_checkpoint_writer *w = (lct_checkpoint_writer *)&w;
    LCT_ASSERT_FAILS(lct_checkpoint_writer_new(NULL, rt, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_writer_new(&w, NULL, NULL), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(w);
    o.level = 10;
    LCT_ASSERT_FAILS(lct_checkpoint_writer_new(&w, rt, &o), LCT_EINVAL, "level is 10");
    o.level = -1;
    LCT_ASSERT_FAILS(lct_checkpoint_writer_new(&w, rt, &o), LCT_EINVAL, "level is -1");
    o.level = 6;
    o.version = 9;
    LCT_ASSERT_FAILS(lct_checkpoint_writer_new(&w, rt, &o), LCT_EVERSION, "version is 9");
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);

    LCT_ASSERT_FAILS(lct_checkpoint_add_params(NULL, "x", &a.p), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, NULL, &a.p), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "x", NULL), LCT_EINVAL, "'params'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "", &a.p), LCT_EINVAL, "empty");
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = '\0';
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, longname, &a.p), LCT_EINVAL, "longer than 255");
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "lct.mine", &a.p), LCT_EINVAL, "reserved");
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "x", &nan_set.p), LCT_ENUMERIC, "0.conv1d.bias");
    ck_assert_int_eq(lct_checkpoint_add_params(w, "x", &a.p), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_add_params(w, "x", &a.p), LCT_EINVAL, "already used");
    LCT_ASSERT_FAILS(lct_checkpoint_add_blob(w, "x", LCT_CHECKPOINT_TYPE_USER, "a", 1), LCT_EINVAL, "already used");

    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(NULL, "k", "v"), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(w, NULL, "v"), LCT_EINVAL, "'key'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(w, "k", NULL), LCT_EINVAL, "'value'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(w, "", "v"), LCT_EINVAL, "key is empty");
    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(w, longname, "v"), LCT_EINVAL, "longer than 255");
    char *huge = malloc(LCT_CHECKPOINT_MAX_VALUE + 2);
    memset(huge, 'v', LCT_CHECKPOINT_MAX_VALUE + 1);
    huge[LCT_CHECKPOINT_MAX_VALUE + 1] = '\0';
    LCT_ASSERT_FAILS(lct_checkpoint_add_meta(w, "k", huge), LCT_EINVAL, "longer than 65536");
    huge[LCT_CHECKPOINT_MAX_VALUE] = '\0';
    ck_assert_int_eq(lct_checkpoint_add_meta(w, "k", huge), LCT_OK); /* exactly the limit */
    LCT_ASSERT_FAILS(lct_checkpoint_add_counter(NULL, "s", 1), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_counter(w, NULL, 1), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_counter(w, "", 1), LCT_EINVAL, "empty");
    LCT_ASSERT_FAILS(lct_checkpoint_add_runtime(NULL), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_blob(NULL, "b", LCT_CHECKPOINT_TYPE_USER, "a", 1), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_blob(w, NULL, LCT_CHECKPOINT_TYPE_USER, "a", 1), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_blob(w, "b", LCT_CHECKPOINT_TYPE_USER, NULL, 1), LCT_EINVAL, "'data'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_blob(w, "b", LCT_CHECKPOINT_TYPE_PARAMS, "a", 1), LCT_EINVAL, "reserved");
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "b", LCT_CHECKPOINT_TYPE_USER, NULL, 0), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_write_cb(NULL, mem_write, NULL), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_write_cb(w, NULL, NULL), LCT_EINVAL, "'fn'");
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(NULL, "/tmp/x"), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, NULL), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, ""), LCT_EINVAL, "empty");
    LCT_ASSERT_FAILS(lct_checkpoint_write_file(w, "/tmp/"), LCT_EINVAL, "folder");
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_writer_free(NULL);

    lct_checkpoint_reader *r = (lct_checkpoint_reader *)&r;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_memory(NULL, rt, m.data, m.size), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_memory(&r, NULL, m.data, m.size), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(r);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_memory(&r, rt, NULL, 4), LCT_EINVAL, "'data'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_memory(&r, rt, NULL, 0), LCT_EFORMAT, "empty");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(NULL, rt, mem_read, &m), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(&r, NULL, mem_read, &m), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(&r, rt, NULL, &m), LCT_EINVAL, "'fn'");
    membuf failing = m;
    failing.fail_at = 3;
    failing.calls = 0;
    failing.pos = 0;
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_cb(&r, rt, mem_read, &failing), LCT_EIO, "returned -1");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(NULL, rt, "/tmp/x"), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, NULL, "/tmp/x"), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, rt, NULL), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, rt, "/nonexistent/x.ckpt"), LCT_EIO, "/nonexistent/x.ckpt");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_open_file(&r, rt, "/tmp"), LCT_EIO, "not a regular file");

    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_format_version(NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_section_count(NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_section_info(NULL, 0, NULL, NULL, NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_section_info(r, 99, NULL, NULL, NULL), LCT_ERANGE, "index 99");
    LCT_ASSERT_FAILS(lct_checkpoint_find(NULL, "x"), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_find(r, NULL), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_find(r, "nope"), LCT_ENOTFOUND, "'nope'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(NULL, "x", &a.p), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, NULL, &a.p), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "x", NULL), LCT_EINVAL, "'params'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_runtime(NULL, rt), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_runtime(r, NULL), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_runtime(r, rt), LCT_ENOTFOUND, "lct.runtime");
    const char *v;
    LCT_ASSERT_FAILS(lct_checkpoint_get_meta(NULL, "k", &v), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_meta(r, NULL, &v), LCT_EINVAL, "'key'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_meta(r, "k", NULL), LCT_EINVAL, "'value'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_meta(r, "absent", &v), LCT_ENOTFOUND, "'absent'");
    ck_assert_int_eq(lct_checkpoint_get_meta(r, "k", &v), LCT_OK);
    ck_assert_uint_eq(strlen(v), LCT_CHECKPOINT_MAX_VALUE);
    LCT_ASSERT_FAILS(lct_checkpoint_meta_count(NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_meta_at(NULL, 0, NULL, NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_meta_at(r, 1, NULL, NULL), LCT_ERANGE, "index 1");
    uint64_t c;
    LCT_ASSERT_FAILS(lct_checkpoint_get_counter(NULL, "s", &c), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_counter(r, NULL, &c), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_counter(r, "s", NULL), LCT_EINVAL, "'value'");
    LCT_ASSERT_FAILS(lct_checkpoint_get_counter(r, "step", &c), LCT_ENOTFOUND, "'step'");
    char buf[8] = "xxxxxxx";
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(NULL, "b", LCT_CHECKPOINT_TYPE_USER, buf, 0), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(r, NULL, LCT_CHECKPOINT_TYPE_USER, buf, 0), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(r, "b", LCT_CHECKPOINT_TYPE_USER, NULL, 3), LCT_EINVAL, "'dst'");
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(r, "b", LCT_CHECKPOINT_TYPE_USER, buf, 3), LCT_ESHAPE, "size is 3");
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(r, "b", LCT_CHECKPOINT_TYPE_USER + 1, buf, 0), LCT_EFORMAT, "type");
    LCT_ASSERT_FAILS(lct_checkpoint_read_blob(r, "zz", LCT_CHECKPOINT_TYPE_USER, buf, 0), LCT_ENOTFOUND, "'zz'");
    ck_assert_str_eq(buf, "xxxxxxx");
    ck_assert_int_eq(lct_checkpoint_read_blob(r, "b", LCT_CHECKPOINT_TYPE_USER, NULL, 0), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_reader_begin(NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_commit(NULL), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_rollback(NULL), LCT_EINVAL, "'r'");
    lct_checkpoint_reader_free(r);
    lct_checkpoint_reader_free(NULL);

    free(huge);
    free(m.data);
    tset_free(&a);
    tset_free(&nan_set);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* A NaN smuggled into a file behind valid CRCs is refused on load, naming the section. */
START_TEST(test_nonfinite_values_in_file_are_refused)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    tset a, b, snap;
    tset_init(&a, rt, 3, NAMES, COUNTS, TRAINABLE, 0.0f);
    tset_init(&b, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    tset_init(&snap, rt, 3, NAMES, COUNTS, TRAINABLE, 8.0f);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    a.values[2][4] = INFINITY;
    /* bypass the writer's own check to build the damaged file */
    lct__ckpt_put t;
    lct__ckpt_put_init(&t, rt);
    lct__ckpt_put_u32(&t, 3);
    for (int i = 0; i < 3; i++) {
        lct__ckpt_put_str(&t, NAMES[i], strlen(NAMES[i]));
        lct__ckpt_put_u64(&t, COUNTS[i]);
        lct__ckpt_put_u32(&t, (uint32_t)TRAINABLE[i]);
    }
    lct__ckpt_piece pieces[4] = {{t.data, t.size, 0},
                                 {a.values[0], COUNTS[0] * 4, 4},
                                 {a.values[1], COUNTS[1] * 4, 4},
                                 {a.values[2], COUNTS[2] * 4, 4}};
    ck_assert_int_eq(lct__ckpt_add_pieces(w, "enc", LCT_CHECKPOINT_TYPE_PARAMS, pieces, 4, 0, "test"), LCT_OK);
    lct__ckpt_put_free(&t);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_params(r, "enc", &b.p), LCT_ENUMERIC, "'enc'");
    assert_unchanged(&b, &snap);
    lct_checkpoint_reader_free(r);
    free(m.data);
    tset_free(&a);
    tset_free(&b);
    tset_free(&snap);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* The seed corpus of the fuzz target is made of real checkpoints that still load. */
START_TEST(test_fuzz_corpus_is_current)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    fuzz_params fp, ref;
    fuzz_params_init(&fp, rt);
    fuzz_params_init(&ref, rt);
    for (int i = 0; i < 6; i++) fp.w[i] = 0.0f;
    lct_checkpoint_reader *r;
    ck_assert_int_eq(
        lct_checkpoint_reader_open_file(&r, rt, LCT_SOURCE_ROOT "/tests/fuzz/corpus/checkpoint/full.ckpt"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_params(r, "encoder", &fp.p), LCT_OK);
    ck_assert_mem_eq(fp.w, ref.w, sizeof fp.w);
    ck_assert_int_eq(lct_checkpoint_load_runtime(r, rt), LCT_OK);
    lct_checkpoint_reader_free(r);
    fuzz_handles h;
    ck_assert_int_eq(fuzz_handles_new(&h, rt), LCT_OK);
    ck_assert_int_eq(
        lct_checkpoint_reader_open_file(&r, rt, LCT_SOURCE_ROOT "/tests/fuzz/corpus/checkpoint/handles.ckpt"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    ck_assert_int_eq(fuzz_handles_load(r, &h, FUZZ_TRAINING), 0);
    ck_assert_msg(lct_checkpoint_reader_commit(r) == LCT_OK, "%s", lct_error_last());
    lct_checkpoint_reader_free(r);
    ck_assert_int_eq(
        lct_checkpoint_reader_open_file(&r, rt, LCT_SOURCE_ROOT "/tests/fuzz/corpus/checkpoint/stream.ckpt"), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    ck_assert_int_eq(fuzz_handles_load(r, &h, FUZZ_STREAM), 0);
    ck_assert_msg(lct_checkpoint_reader_commit(r) == LCT_OK, "%s", lct_error_last());
    size_t held;
    uint64_t seen, scored;
    lct_replay_info(h.replay, NULL, &held, &seen, NULL);
    lct_novelty_stats(h.nv, NULL, NULL, &scored);
    ck_assert(held == 6 && seen == 9 && scored == 9 && h.replay->q_len > 0);
    lct_checkpoint_reader_free(r);
    fuzz_handles_free(&h);
    lct_runtime_free(rt);
}
END_TEST


/* ---- handles and bit-identical resume ---------------------------------------------- */

/*
 * A small training run of InstDisc (augmenter → CNN encoder with dropout and batch norm →
 * NCE against a memory bank → SGD with momentum → bank momentum update) or of CPC (signal
 * augmenter → strided conv1d g_enc → GRU g_ar → InfoNCE with W_k → Adam). Resuming from a
 * checkpoint written after N steps into freshly created handles (a new runtime, as a new
 * process would have) must reproduce the straight run of N + M steps bit for bit.
 */
enum { RUN_INSTDISC = 0, RUN_CPC = 1 };
#define RUN_N 48      /* samples */
#define RUN_B 8       /* batch */
#define CPC_L 64
#define CPC_T 14

typedef struct run {
    int method, fp16;
    lct_runtime *rt;
    lct_augmenter *aug;
    lct_encoder *enc, *ar;
    lct_optimizer *opt;
    lct_bank *bank;
    lct_loss *loss;
    uint8_t images[RUN_N * 64];
    float signals[RUN_N * CPC_L];
    float x[RUN_B * CPC_L], f[RUN_B * 16], df[RUN_B * 16];
    float z[RUN_B * CPC_T * 8], c[RUN_B * CPC_T * 6], dz[RUN_B * CPC_T * 8], dc[RUN_B * CPC_T * 6],
        dz2[RUN_B * CPC_T * 8];
} run;

static void run_new(run *r, int method, int fp16)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->fp16 = fp16;
    r->rt = lct_test_runtime(1, 2024);
    for (size_t i = 0; i < sizeof r->images; i++) r->images[i] = (uint8_t)(lct__hash64(i, 1) % 256);
    for (size_t i = 0; i < RUN_N * CPC_L; i++)
        r->signals[i] = sinf((float)(i % CPC_L) * 0.3f * (float)(1 + i / CPC_L % 5)) + (float)(i / CPC_L) * 0.01f;
    lct_augmenter_options ao;
    ck_assert_int_eq(lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION), LCT_OK);
    lct_optimizer_options oo;
    ck_assert_int_eq(lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION), LCT_OK);
    if (method == RUN_INSTDISC) {
        ao.input = LCT_AUG_IMAGE_U8;
        ao.channels = 1;
        ao.height = ao.width = 8;
        ck_assert_int_eq(lct_augmenter_new(&r->aug, r->rt, &ao), LCT_OK);
        ck_assert_int_eq(lct_augmenter_add_hflip(r->aug, 0.5), LCT_OK);
        ck_assert_int_eq(lct_augmenter_add_gaussian_noise(r->aug, 1.0, 0.05), LCT_OK);
        ck_assert_int_eq(lct_encoder_new_from_spec(&r->enc, r->rt,
                                                   "in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; flatten; "
                                                   "dropout 0.25; linear 16; l2norm", NULL), LCT_OK);
        lct_bank_options bo;
        ck_assert_int_eq(lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION), LCT_OK);
        bo.storage = fp16 ? LCT_BANK_FP16 : LCT_BANK_FP32;
        bo.normalize = 1;
        ck_assert_int_eq(lct_bank_new(&r->bank, r->rt, RUN_N, 16, &bo), LCT_OK);
        lct_loss_nce_options lo;
        ck_assert_int_eq(lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION), LCT_OK);
        lo.k = 20;
        ck_assert_int_eq(lct_loss_new_nce(&r->loss, r->rt, r->bank, &lo), LCT_OK);
        oo.kind = LCT_OPTIMIZER_SGD;
        oo.lr = 0.03;
        oo.momentum = 0.9;
        oo.weight_decay = 5e-4;
        ck_assert_int_eq(lct_optimizer_new(&r->opt, r->rt, &oo), LCT_OK);
        ck_assert_int_eq(lct_optimizer_attach(r->opt, lct_encoder_params(r->enc)), LCT_OK);
    } else {
        ao.input = LCT_AUG_SIGNAL_F32;
        ao.channels = 1;
        ao.height = 1;
        ao.width = CPC_L;
        ck_assert_int_eq(lct_augmenter_new(&r->aug, r->rt, &ao), LCT_OK);
        ck_assert_int_eq(lct_augmenter_add_gaussian_noise(r->aug, 1.0, 0.05), LCT_OK);
        ck_assert_int_eq(lct_encoder_new_from_spec(&r->enc, r->rt,
                                                   "in 1x64; conv1d 8 k4 s2; relu; conv1d 8 k4 s2; relu; transpose",
                                                   NULL), LCT_OK);
        ck_assert_int_eq(lct_encoder_new_from_spec(&r->ar, r->rt, "in 14x8; gru 6", NULL), LCT_OK);
        lct_loss_infonce_options lo;
        ck_assert_int_eq(lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION), LCT_OK);
        lo.steps = 3;
        ck_assert_int_eq(lct_loss_new_infonce(&r->loss, r->rt, CPC_T, 8, 6, &lo), LCT_OK);
        oo.kind = LCT_OPTIMIZER_ADAM;
        oo.lr = 2e-3;
        ck_assert_int_eq(lct_optimizer_new(&r->opt, r->rt, &oo), LCT_OK);
        ck_assert_int_eq(lct_optimizer_attach(r->opt, lct_encoder_params(r->enc)), LCT_OK);
        ck_assert_int_eq(lct_optimizer_attach(r->opt, lct_encoder_params(r->ar)), LCT_OK);
        ck_assert_int_eq(lct_optimizer_attach(r->opt, lct_loss_params(r->loss)), LCT_OK);
    }
}

static lct_test_handles run_handles(const run *r)
{
    return (lct_test_handles){.enc = r->enc, .ar = r->ar, .opt = r->opt, .bank = r->bank, .loss = r->loss,
                              .aug = r->aug};
}

static void run_free(run *r)
{
    lct_test_handles h = run_handles(r);
    lct_test_handles_free(&h);
    assert_no_memory(r->rt);
    lct_runtime_free(r->rt);
}

/* Steps [from, from + count); losses[s] receives step s's loss. */
static void run_steps(run *r, int from, int count, float *losses)
{
    for (int s = from; s < from + count; s++) {
        int64_t idx[RUN_B];
        for (int b = 0; b < RUN_B; b++) idx[b] = (int64_t)((s * RUN_B + b * 5) % RUN_N);
        if (r->method == RUN_INSTDISC) {
            uint8_t in[RUN_B * 64];
            for (int b = 0; b < RUN_B; b++) memcpy(in + b * 64, r->images + idx[b] * 64, 64);
            ck_assert_int_eq(lct_augmenter_apply(r->aug, in, RUN_B, 1, r->x), LCT_OK);
            ck_assert_int_eq(lct_encoder_forward(r->enc, r->x, RUN_B, r->f), LCT_OK);
            ck_assert_int_eq(lct_loss_nce_compute(r->loss, r->f, idx, RUN_B, &losses[s], r->df), LCT_OK);
            ck_assert_int_eq(lct_encoder_backward(r->enc, r->df, RUN_B, NULL), LCT_OK);
            ck_assert_int_eq(lct_optimizer_step(r->opt), LCT_OK);
            ck_assert_int_eq(lct_optimizer_zero_grad(r->opt), LCT_OK);
            ck_assert_int_eq(lct_bank_update(r->bank, r->f, idx, RUN_B, 0.5f), LCT_OK);
        } else {
            float in[RUN_B * CPC_L];
            for (int b = 0; b < RUN_B; b++) memcpy(in + b * CPC_L, r->signals + idx[b] * CPC_L, CPC_L * sizeof(float));
            ck_assert_int_eq(lct_augmenter_apply(r->aug, in, RUN_B, 1, r->x), LCT_OK);
            ck_assert_int_eq(lct_encoder_forward(r->enc, r->x, RUN_B, r->z), LCT_OK);
            ck_assert_int_eq(lct_encoder_forward(r->ar, r->z, RUN_B, r->c), LCT_OK);
            ck_assert_int_eq(lct_loss_infonce_compute(r->loss, r->z, r->c, RUN_B, &losses[s], r->dz, r->dc, NULL),
                             LCT_OK);
            ck_assert_int_eq(lct_encoder_backward(r->ar, r->dc, RUN_B, r->dz2), LCT_OK);
            for (size_t i = 0; i < sizeof r->dz / sizeof *r->dz; i++) r->dz[i] += r->dz2[i];
            ck_assert_int_eq(lct_encoder_backward(r->enc, r->dz, RUN_B, NULL), LCT_OK);
            ck_assert_int_eq(lct_optimizer_step(r->opt), LCT_OK);
            ck_assert_int_eq(lct_optimizer_zero_grad(r->opt), LCT_OK);
        }
    }
}

static void run_save(run *r, const char *path, uint64_t step)
{
    lct_test_handles h = run_handles(r);
    lct_test_handles_save(r->rt, &h, path, "step", step);
}

static uint64_t run_load(run *r, const char *path)
{
    lct_test_handles h = run_handles(r);
    return lct_test_handles_restore(r->rt, &h, path, "step");
}

/* Every tensor of a set, bit for bit. */
static void assert_params_equal(const lct_params *a, const lct_params *b, const char *what)
{
    ck_assert_uint_eq(a->n_tensors, b->n_tensors);
    for (size_t i = 0; i < a->n_tensors; i++) {
        ck_assert_str_eq(a->tensors[i].name, b->tensors[i].name);
        ck_assert_uint_eq(a->tensors[i].count, b->tensors[i].count);
        ck_assert_msg(memcmp(a->tensors[i].value, b->tensors[i].value, a->tensors[i].count * sizeof(float)) == 0,
                      "%s: tensor '%s' differs after resuming", what, a->tensors[i].name);
    }
}

/* The state a resumed run is compared on: losses of steps N..N+M, every parameter, the bank rows. */
static void run_dump(run *r, const float *losses, int from, int count, FILE *f)
{
    fwrite(losses + from, sizeof(float), (size_t)count, f);
    lct_params *sets[3] = {lct_encoder_params(r->enc), r->ar ? lct_encoder_params(r->ar) : NULL,
                           r->method == RUN_CPC ? lct_loss_params(r->loss) : NULL};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; sets[k] && i < sets[k]->n_tensors; i++)
            fwrite(sets[k]->tensors[i].value, sizeof(float), sets[k]->tensors[i].count, f);
    lct_params *st = lct_optimizer_state(r->opt);
    for (size_t i = 0; i < st->n_tensors; i++) fwrite(st->tensors[i].value, sizeof(float), st->tensors[i].count, f);
    if (r->bank) {
        float rows[RUN_N * 16];
        ck_assert_int_eq(lct_bank_get_rows(r->bank, 0, RUN_N, rows), LCT_OK);
        fwrite(rows, sizeof rows, 1, f);
    }
}

/* The child process: resume variant v from ckpt for steps [from, from + count) and dump to out
 * (a one-test suite, so that the helpers' assertions work there too). */
static struct {
    int v, from, count;
    const char *ckpt, *out;
} child_args;

START_TEST(test_resume_child)
{
    static run r;
    float losses[64];
    run_new(&r, child_args.v == 2 ? RUN_CPC : RUN_INSTDISC, child_args.v == 1);
    ck_assert_int_eq((int)run_load(&r, child_args.ckpt), child_args.from);
    run_steps(&r, child_args.from, child_args.count, losses);
    FILE *f = fopen(child_args.out, "wb");
    ck_assert_ptr_nonnull(f);
    run_dump(&r, losses, child_args.from, child_args.count, f);
    fclose(f);
    run_free(&r);
}
END_TEST

static int resume_child(int v, const char *ckpt, int from, int count, const char *out)
{
    child_args.v = v;
    child_args.ckpt = ckpt;
    child_args.from = from;
    child_args.count = count;
    child_args.out = out;
    Suite *s = suite_create("resume-child");
    tcase_add_test(lct_test_case(s, "resume-child", 0), test_resume_child);
    return lct_test_run(s);
}

START_TEST(test_bit_identical_resume)
{
    /* _i: 0 InstDisc fp32 bank, 1 InstDisc fp16 bank, 2 CPC */
    int method = _i == 2 ? RUN_CPC : RUN_INSTDISC, fp16 = _i == 1;
    enum { N = 3, M = 4 };
    static run straight, first, resumed;
    float loss_a[N + M], loss_b[N + M];
    run_new(&straight, method, fp16);
    run_steps(&straight, 0, N + M, loss_a);

    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/resume.ckpt", tmpdir);
    run_new(&first, method, fp16);
    run_steps(&first, 0, N, loss_b);
    run_save(&first, path, N);
    run_free(&first);

    run_new(&resumed, method, fp16);
    ck_assert_uint_eq(run_load(&resumed, path), N);
    run_steps(&resumed, N, M, loss_b);

    /* and in a fresh process: this program again, started by the shell */
    char out[512], cmd[1600], self[512];
    snprintf(out, sizeof out, "%s/child.bin", tmpdir);
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(len, 0);
    self[len] = '\0';
    /* a cross-built test runs its child under the same emulator (meson's exe_wrapper, e.g. qemu) */
    const char *wrapper = getenv("MESON_EXE_WRAPPER");
    snprintf(cmd, sizeof cmd, "%s '%s' resume-child %d '%s' %d %d '%s' >/dev/null", wrapper ? wrapper : "", self,
             (int)_i, path, N, M, out);
    ck_assert_int_eq(system(cmd), 0);
    size_t child_size;
    unsigned char *child = slurp(out, &child_size);
    char *mine = NULL;
    size_t mine_size = 0;
    FILE *mf = open_memstream(&mine, &mine_size);
    run_dump(&straight, loss_a, N, M, mf);
    fclose(mf);
    ck_assert_uint_eq(child_size, mine_size);
    ck_assert_msg(memcmp(child, mine, mine_size) == 0, "the run resumed in a new process differs");
    free(child);
    free(mine);
    remove_tmpdir();

    for (int s = 0; s < N + M; s++) {
        ck_assert_msg(isfinite(loss_a[s]), "step %d loss %g", s, (double)loss_a[s]);
        ck_assert_msg(memcmp(&loss_a[s], &loss_b[s], sizeof(float)) == 0, "step %d: loss %.9g straight, %.9g resumed",
                      s, (double)loss_a[s], (double)loss_b[s]);
    }
    ck_assert_msg(loss_a[N + M - 1] != loss_a[N], "the run did not train");
    assert_params_equal(lct_encoder_params(straight.enc), lct_encoder_params(resumed.enc), "encoder");
    assert_params_equal(lct_optimizer_state(straight.opt), lct_optimizer_state(resumed.opt), "optimizer");
    if (method == RUN_CPC) {
        assert_params_equal(lct_encoder_params(straight.ar), lct_encoder_params(resumed.ar), "context");
        assert_params_equal(lct_loss_params(straight.loss), lct_loss_params(resumed.loss), "W_k");
    } else {
        float *ra = malloc(RUN_N * 16 * sizeof(float)), *rb = malloc(RUN_N * 16 * sizeof(float));
        ck_assert_int_eq(lct_bank_get_rows(straight.bank, 0, RUN_N, ra), LCT_OK);
        ck_assert_int_eq(lct_bank_get_rows(resumed.bank, 0, RUN_N, rb), LCT_OK);
        ck_assert_mem_eq(ra, rb, RUN_N * 16 * sizeof(float));
        free(ra);
        free(rb);
        double za, zb;
        int32_t ka, kb;
        ck_assert_int_eq(lct_loss_get_log_z(straight.loss, 0, &za, &ka), LCT_OK);
        ck_assert_int_eq(lct_loss_get_log_z(resumed.loss, 0, &zb, &kb), LCT_OK);
        ck_assert(ka == 1 && kb == 1 && za == zb);
    }
    uint64_t ca, cb;
    lct_augmenter_get_counter(straight.aug, &ca);
    lct_augmenter_get_counter(resumed.aug, &cb);
    ck_assert_uint_eq(ca, cb);
    ck_assert_uint_eq(lct__runtime_stream_state(straight.rt), lct__runtime_stream_state(resumed.rt));
    run_free(&straight);
    run_free(&resumed);
}
END_TEST


START_TEST(test_handles_bad_input_and_mismatches)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    fuzz_handles h;
    ck_assert_int_eq(fuzz_handles_new(&h, rt), LCT_OK);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    char longname[260];
    memset(longname, 'a', 250);
    longname[250] = '\0';
    /* NULL arguments of every handle function */
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(NULL, "n", h.enc), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(w, NULL, h.enc), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(w, "n", NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(w, longname, h.enc), LCT_EINVAL, "longer than 248");
    LCT_ASSERT_FAILS(lct_checkpoint_add_optimizer(NULL, "o", h.opt), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_optimizer(w, NULL, h.opt), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_optimizer(w, "o", NULL), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_bank(NULL, "b", h.bank), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_bank(w, NULL, h.bank), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_bank(w, "b", NULL), LCT_EINVAL, "'bank'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_loss(NULL, "l", h.loss), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_loss(w, NULL, h.loss), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_loss(w, "l", NULL), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_augmenter(NULL, "a", h.aug), LCT_EINVAL, "'w'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_augmenter(w, NULL, h.aug), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_add_augmenter(w, "a", NULL), LCT_EINVAL, "'aug'");
    /* names: the record's name taken leaves no stray ".params" section behind */
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "taken", LCT_CHECKPOINT_TYPE_USER, "x", 1), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(w, "taken", h.enc), LCT_EINVAL, "already used");
    ck_assert_int_eq(lct_checkpoint_add_encoder(w, "taken2", h.enc), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_add_encoder(w, "taken2", h.enc), LCT_EINVAL, "already used");
    ck_assert_int_eq(lct_checkpoint_add_encoder(w, "net", h.enc), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_optimizer(w, "opt", h.opt), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_bank(w, "bank", h.bank), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_bank(w, "bank16", h.bank16), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_loss(w, "loss", h.loss), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_augmenter(w, "aug", h.aug), LCT_OK);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, rt, m.data, m.size), LCT_OK);
    /* 1 blob + 2 x (spec + params) + opt (record + state) + 2 banks + loss + augmenter */
    ck_assert_int_eq(lct_checkpoint_section_count(r), 11);
    ck_assert_int_eq(lct_checkpoint_find(r, "taken.params"), LCT_ENOTFOUND);

    LCT_ASSERT_FAILS(lct_checkpoint_load_encoder(NULL, "net", h.enc), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_encoder(r, NULL, h.enc), LCT_EINVAL, "'name'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_encoder(r, "net", NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_optimizer(NULL, "opt", h.opt), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_optimizer(r, "opt", NULL), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(NULL, "bank", h.bank), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(r, "bank", NULL), LCT_EINVAL, "'bank'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_loss(NULL, "loss", h.loss), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_loss(r, "loss", NULL), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_augmenter(NULL, "aug", h.aug), LCT_EINVAL, "'r'");
    LCT_ASSERT_FAILS(lct_checkpoint_load_augmenter(r, "aug", NULL), LCT_EINVAL, "'aug'");
    lct_encoder *enc = (lct_encoder *)&enc;
    lct_bank *bank = (lct_bank *)&bank;
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "net", rt, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(NULL, "net", rt, &enc), LCT_EINVAL, "'r'");
    ck_assert_ptr_null(enc);
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "net", NULL, &enc), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "bank", rt, &enc), LCT_EFORMAT, "type");
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(r, "bank", rt, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(NULL, "bank", rt, &bank), LCT_EINVAL, "'r'");
    ck_assert_ptr_null(bank);
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(r, "net", rt, &bank), LCT_EFORMAT, "not a bank");
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(r, "none", rt, &bank), LCT_ENOTFOUND, "'none'");

    /* mismatching targets: refused, unchanged */
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    lct_bank *other;
    ck_assert_int_eq(lct_bank_new(&other, rt, 7, 3, &bo), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(r, "bank", other), LCT_ESHAPE, "6 x 3 fp32");
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(r, "bank16", h.bank), LCT_ESHAPE, "fp16");
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(r, "net", h.bank), LCT_EFORMAT, "type");
    lct_encoder *wide;
    ck_assert_int_eq(lct_encoder_new_from_spec(&wide, rt, "in 4; linear 5; bn; relu", NULL), LCT_OK);
    float before[20], after[20];
    lct_params *wp = lct_encoder_params(wide);
    ck_assert_int_eq(lct_params_get(wp, 0, before, 20), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_encoder(r, "net", wide), LCT_ESHAPE, "architecture");
    ck_assert_int_eq(lct_params_get(wp, 0, after, 20), LCT_OK);
    ck_assert_mem_eq(before, after, sizeof before);
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    io.steps = 2;
    lct_loss *cpc;
    ck_assert_int_eq(lct_loss_new_infonce(&cpc, rt, 5, 3, 3, &io), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_loss(r, "loss", cpc), LCT_ESHAPE, "kind");
    /* inside a group a failed part poisons the commit; creation is refused there */
    ck_assert_int_eq(lct_checkpoint_reader_begin(r), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(r, "bank", rt, &bank), LCT_ESTATE, "group");
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "net", rt, &enc), LCT_ESTATE, "group");
    ck_assert_int_eq(lct_checkpoint_load_bank(r, "bank", h.bank), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_load_encoder(r, "net", wide), LCT_ESHAPE, "architecture");
    LCT_ASSERT_FAILS(lct_checkpoint_reader_commit(r), LCT_ESHAPE, "nothing was applied");

    /* handles created from the file equal the saved ones */
    ck_assert_int_eq(lct_checkpoint_new_encoder(r, "net", rt, &enc), LCT_OK);
    ck_assert_str_eq(lct_encoder_spec(enc), lct_encoder_spec(h.enc));
    assert_params_equal(lct_encoder_params(enc), lct_encoder_params(h.enc), "new encoder");
    ck_assert_int_eq(lct_checkpoint_new_bank(r, "bank16", rt, &bank), LCT_OK);
    size_t n, d;
    int storage;
    ck_assert_int_eq(lct_bank_info(bank, &n, &d, &storage), LCT_OK);
    ck_assert(n == 6 && d == 3 && storage == LCT_BANK_FP16);
    float ra[18], rb[18];
    ck_assert_int_eq(lct_bank_get_rows(bank, 0, 6, ra), LCT_OK);
    ck_assert_int_eq(lct_bank_get_rows(h.bank16, 0, 6, rb), LCT_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    lct_checkpoint_reader_free(r);

    lct_encoder_free(enc);
    lct_bank_free(bank);
    lct_loss_free(cpc);
    lct_encoder_free(wide);
    lct_bank_free(other);
    fuzz_handles_free(&h);
    free(m.data);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* An encoder record (type 16) holding `spec`, with `params` (if not NULL) as "<name>.params". */
static void add_spec_record(lct_checkpoint_writer *w, const char *name, const char *spec, const lct_params *params)
{
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u64(&rec, 0);
    lct__ckpt_put_u64(&rec, 0);
    lct__ckpt_put_str(&rec, spec, strlen(spec));
    ck_assert_int_eq(lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_ENCODER_SPEC, &rec, NULL, 0, 0, ".params", params,
                                          "test"),
                     LCT_OK);
}

/*
 * Issue 20, item 2: lct_checkpoint_new_encoder built the whole encoder from the file's spec before
 * comparing it with the parameter section, so a file of about a kilobyte whose spec claims
 * "linear 3000; linear 3000" took 75 MB before it was refused (and "linear 100000000" asked for
 * 29.6 GB). Now the spec's parameter count is compared with the section really present first: the
 * refusal costs no more than the file. The same for a bank record that claims a huge shape.
 */
START_TEST(test_new_handles_never_allocate_from_a_claimed_shape)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_encoder *small;
    ck_assert_int_eq(lct_encoder_new_from_spec(&small, rt, "in 4; linear 3; linear 3", NULL), LCT_OK);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    add_spec_record(w, "big", "in 4; linear 3000; linear 3000", lct_encoder_params(small));
    add_spec_record(w, "huge", "in 4; linear 30000; linear 30000", lct_encoder_params(small));
    add_spec_record(w, "giant", "in 4; linear 100000000", lct_encoder_params(small));
    add_spec_record(w, "wrapped", "in 4294967295; linear 2147483648", lct_encoder_params(small));
    add_spec_record(w, "alone", "in 4; linear 3; linear 3", NULL);
    add_spec_record(w, "same", "in 4; linear 3; linear 3", lct_encoder_params(small));
    /* a bank record claiming 2^30 x 1024 rows over 24 bytes of rows */
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, rt);
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u32(&rec, LCT_BANK_FP32);
    lct__ckpt_put_u64(&rec, (uint64_t)1 << 30);
    lct__ckpt_put_u64(&rec, 1024);
    lct__ckpt_put_u64(&rec, 0);
    lct__ckpt_put_u64(&rec, 0);
    float rows[6] = {0};
    ck_assert_int_eq(lct__ckpt_add_record(w, "bank", LCT__CKPT_TYPE_BANK, &rec, rows, sizeof rows, 4, NULL, NULL,
                                          "test"),
                     LCT_OK);
    membuf m = {0};
    ck_assert_int_eq(lct_checkpoint_write_cb(w, mem_write, &m), LCT_OK);
    lct_checkpoint_writer_free(w);
    ck_assert_uint_lt(m.size, 4096);

    /* a fresh runtime: its peak counts only what the reader and the refused calls took */
    lct_runtime *r_rt = lct_test_runtime(1, 0);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&r, r_rt, m.data, m.size), LCT_OK);
    const char *claims[] = {"big", "huge", "giant"};
    lct_encoder *enc = NULL;
    for (size_t i = 0; i < 3; i++) {
        LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, claims[i], r_rt, &enc), LCT_ESHAPE, "is not built");
        ck_assert_ptr_null(enc);
    }
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "wrapped", r_rt, &enc), LCT_EFORMAT, "overflow");
    LCT_ASSERT_FAILS(lct_checkpoint_new_encoder(r, "alone", r_rt, &enc), LCT_ENOTFOUND, "alone.params");
    lct_bank *bank = NULL;
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(r, "bank", r_rt, &bank), LCT_EFORMAT, "not a 1073741824 x 1024 bank");
    ck_assert_ptr_null(bank);
    size_t cur, peak;
    ck_assert_int_eq(lct_runtime_memory(r_rt, &cur, &peak), LCT_OK);
    /* the file image, the reader's tables and zlib's inflate state: well under a megabyte */
    ck_assert_msg(peak < m.size + ((size_t)1 << 20), "peak %zu bytes for a file of %zu", peak, m.size);
    /* the honest record still builds */
    ck_assert_int_eq(lct_checkpoint_new_encoder(r, "same", r_rt, &enc), LCT_OK);
    assert_params_equal(lct_encoder_params(enc), lct_encoder_params(small), "same");
    lct_encoder_free(enc);
    lct_checkpoint_reader_free(r);
    assert_no_memory(r_rt);
    lct_runtime_free(r_rt);
    lct_encoder_free(small);
    free(m.data);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = lct_test_case(s, "checkpoint", 120);
    tcase_add_loop_test(tc, test_round_trip_every_section, 0, 3);
    tcase_add_test(tc, test_round_trip_large_and_many_sections);
    tcase_add_test(tc, test_tensor_order_may_differ_and_replacements);
    tcase_add_test(tc, test_layout_matches_the_format_document);
    tcase_add_test(tc, test_unknown_sections_are_skipped);
    tcase_add_test(tc, test_load_params_mismatches);
    tcase_add_test(tc, test_load_runtime_and_groups);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_every_single_bit_flip);
    tcase_add_test(tc, test_wrong_magic_versions_and_huge_claims);
    tcase_add_test(tc, test_damaged_payload_behind_valid_crcs);
    tcase_add_test(tc, test_malformed_library_sections);
    tcase_add_test(tc, test_duplicate_names_refused);
    tcase_add_test(tc, test_interrupted_saves_keep_the_old_file);
    tcase_add_test(tc, test_allocator_hooks_and_out_of_memory);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_nonfinite_values_in_file_are_refused);
    tcase_add_test(tc, test_fuzz_corpus_is_current);
    TCase *th = lct_test_case(s, "handles", 120);
    tcase_add_loop_test(th, test_bit_identical_resume, 0, 3);
    tcase_add_test(th, test_handles_bad_input_and_mismatches);
    tcase_add_test(th, test_new_handles_never_allocate_from_a_claimed_shape);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "resume-child") == 0)
        return resume_child(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
    return lct_test_run(checkpoint_suite());
}
