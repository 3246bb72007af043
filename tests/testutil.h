/* Shared helpers of the Check suites. */
#ifndef LCT_TESTUTIL_H
#define LCT_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <libcontrast/libcontrast.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "doc_codes.h"

/*
 * Tests run without fork (faster, and valgrind and the sanitizers see one process). A crash
 * therefore stops the whole runner, which the summary then reports as a failure.
 */
static inline int lct_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The bytes that the handles made from rt hold now. */
static inline size_t lct_test_bytes(lct_runtime *rt)
{
    size_t cur = 1;
    ck_assert_int_eq(lct_runtime_memory(rt, &cur, NULL), LCT_OK);
    return cur;
}

/* Every handle made from rt was freed: the runtime holds no memory. */
static inline void lct_test_assert_no_memory(lct_runtime *rt)
{
    size_t cur = lct_test_bytes(rt);
    ck_assert_msg(cur == 0, "%zu bytes still held by the runtime", cur);
}

/* A test case called `name` in the suite `s`, with a timeout in seconds (0: Check's default). */
static inline TCase *lct_test_case(Suite *s, const char *name, double timeout)
{
    TCase *tc = tcase_create(name);
    if (timeout > 0) tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

/* The main function of a test program: `add` puts the test cases into the suite. */
static inline int lct_test_suite_main(const char *suite, void (*add)(Suite *s))
{
    Suite *s = suite_create(suite);
    add(s);
    return lct_test_run(s);
}

/* The main function of a test program whose suite has one test case: `add` puts the tests into it. */
static inline int lct_test_main(const char *suite, const char *tcase, double timeout, void (*add)(TCase *tc))
{
    Suite *s = suite_create(suite);
    add(lct_test_case(s, tcase, timeout));
    return lct_test_run(s);
}

/* A runtime with the given threads and seed whose memory comes from the hooks alloc and release with
 * `user` (NULL hooks: malloc and free); the test fails if it cannot be made. */
static inline lct_runtime *lct_test_runtime_hooked(unsigned threads, uint64_t seed, lct_alloc_fn alloc,
                                                   lct_free_fn release, void *user)
{
    lct_runtime_options o;
    ck_assert_int_eq(lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION), LCT_OK);
    o.threads = threads;
    o.seed = seed;
    if (alloc) o.alloc = alloc, o.free = release, o.alloc_user = user;
    lct_runtime *rt = NULL;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    return rt;
}

/* A runtime with the given threads and seed; the test fails if it cannot be made. */
static inline lct_runtime *lct_test_runtime(unsigned threads, uint64_t seed)
{
    return lct_test_runtime_hooked(threads, seed, NULL, NULL, NULL);
}

/*
 * Allocation-failure injection through the runtime's allocator hooks: the
 * allocation numbered `fail_at` (1-based, counted from the last reset) and every
 * later one fail while `fail_at` is non-zero.
 */
typedef struct lct_test_alloc {
    long count;    /* allocations attempted since the last reset */
    long fail_at;  /* 0: never fail */
    long live;     /* blocks handed out and not yet freed */
} lct_test_alloc;

static inline void *lct_test_alloc_fn(void *user, size_t size)
{
    lct_test_alloc *a = user;
    a->count++;
    if (a->fail_at != 0 && a->count >= a->fail_at) return NULL;
    void *p = malloc(size);
    if (p) a->live++;
    return p;
}

static inline void lct_test_free_fn(void *user, void *p)
{
    ((lct_test_alloc *)user)->live--;
    free(p);
}

/* A runtime whose allocations go through `a` (the runtime's own block is allocated before arming). */
static inline lct_runtime *lct_test_failing_runtime(lct_test_alloc *a, unsigned threads, uint64_t seed)
{
    a->count = a->fail_at = 0;
    a->live = 0;
    return lct_test_runtime_hooked(threads, seed, lct_test_alloc_fn, lct_test_free_fn, a);
}

/* Arm the injector to fail allocation n (1-based) from now on. */
static inline void lct_test_alloc_arm(lct_test_alloc *a, long n)
{
    a->count = 0;
    a->fail_at = n;
}

/* A new directory /tmp/lct-<tag>-XXXXXX, its name in `dir` (`size` bytes); the test fails if it cannot be made. */
static inline void lct_test_tmpdir_make(char *dir, size_t size, const char *tag)
{
    snprintf(dir, size, "/tmp/lct-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes the files (and empty directories) in `dir`, then `dir` itself. */
static inline void lct_test_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The number of entries in `dir` whose names do not start with a dot. */
static inline int lct_test_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The whole file, in a block one byte longer than its `size` that the caller frees; the test fails if it
 * cannot be read. */
static inline unsigned char *lct_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* Writes `size` bytes to a new file at `path`; the test fails if it cannot. */
static inline void lct_test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

/*
 * The handles of a training run, as a checkpoint holds them under the section names "encoder",
 * "context" (ar), "optimizer", "bank", "replay", "novelty", "loss" and "augmenter". Members that
 * are NULL, other than enc, opt, loss and aug, are left out.
 */
typedef struct lct_test_handles {
    lct_encoder *enc, *ar;
    lct_optimizer *opt;
    lct_bank *bank;
    lct_replay *rp;
    lct_novelty *nv;
    lct_loss *loss;
    lct_augmenter *aug;
} lct_test_handles;

/* Adds (w) or loads (rd, when w is NULL) the section `name` of a handle of type `kind`. */
#define LCT_TEST_SECTION(w, rd, kind, name, handle)                                                \
    ck_assert_int_eq((w) ? lct_checkpoint_add_##kind((w), (name), (handle))                        \
                         : lct_checkpoint_load_##kind((rd), (name), (handle)),                     \
                     LCT_OK)

/* Adds the handles to w, or loads them from rd when w is NULL; the test fails if one cannot be. */
static inline void lct_test_handles_sections(lct_checkpoint_writer *w, lct_checkpoint_reader *rd,
                                             const lct_test_handles *h)
{
    LCT_TEST_SECTION(w, rd, encoder, "encoder", h->enc);
    if (h->ar) LCT_TEST_SECTION(w, rd, encoder, "context", h->ar);
    LCT_TEST_SECTION(w, rd, optimizer, "optimizer", h->opt);
    if (h->bank) LCT_TEST_SECTION(w, rd, bank, "bank", h->bank);
    if (h->rp) LCT_TEST_SECTION(w, rd, replay, "replay", h->rp);
    if (h->nv) LCT_TEST_SECTION(w, rd, novelty, "novelty", h->nv);
    LCT_TEST_SECTION(w, rd, loss, "loss", h->loss);
    LCT_TEST_SECTION(w, rd, augmenter, "augmenter", h->aug);
}

/* Saves the handles, the runtime rt and (unless `counter` is NULL) the counter `counter` = `value` to
 * the file at `path`; the test fails if it cannot. */
static inline void lct_test_handles_save(lct_runtime *rt, const lct_test_handles *h, const char *path,
                                         const char *counter, uint64_t value)
{
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    lct_test_handles_sections(w, NULL, h);
    ck_assert_int_eq(lct_checkpoint_add_runtime(w), LCT_OK);
    if (counter) ck_assert_int_eq(lct_checkpoint_add_counter(w, counter, value), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    lct_checkpoint_writer_free(w);
}

/* Loads the handles and the runtime rt from the file at `path` in one transaction; returns the
 * counter `counter` (0 if it is NULL). The test fails if anything cannot be loaded. */
static inline uint64_t lct_test_handles_restore(lct_runtime *rt, const lct_test_handles *h, const char *path,
                                                const char *counter)
{
    lct_checkpoint_reader *rd;
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&rd, rt, path), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_begin(rd), LCT_OK);
    lct_test_handles_sections(NULL, rd, h);
    ck_assert_int_eq(lct_checkpoint_load_runtime(rd, rt), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_reader_commit(rd), LCT_OK);
    uint64_t value = 0;
    if (counter) ck_assert_int_eq(lct_checkpoint_get_counter(rd, counter, &value), LCT_OK);
    lct_checkpoint_reader_free(rd);
    return value;
}

/* Frees the handles, each before those it borrows. */
static inline void lct_test_handles_free(const lct_test_handles *h)
{
    lct_loss_free(h->loss);
    lct_novelty_free(h->nv);
    lct_replay_free(h->rp);
    lct_bank_free(h->bank);
    lct_optimizer_free(h->opt);
    lct_augmenter_free(h->aug);
    lct_encoder_free(h->ar);
    lct_encoder_free(h->enc);
}

/* The public headers' error lists (doc_codes.h), read once per test program. */
static lct_doc lct_test_doc;

/* The code a call of a public function returned must be one its header lists (internal calls pass). */
static inline void lct_test_doc_check(const char *call, int code)
{
#ifdef LCT_SOURCE_ROOT
    if (lct_test_doc.loaded == 0) lct_doc_load(&lct_test_doc, LCT_SOURCE_ROOT "/include/libcontrast");
    ck_assert_msg(lct_test_doc.loaded == 1, "cannot read the public headers under %s", LCT_SOURCE_ROOT);
    char name[64];
    lct_doc_call_name(call, name, sizeof name);
    if (lct_doc_find(&lct_test_doc, name) == NULL) return;
    unsigned bits = lct_doc_codes(&lct_test_doc, name, 0);
    ck_assert_msg(code <= 0 && code > -32 && ((bits >> -code) & 1u),
                  "%s returned %s (%d), which is not in its header's error list", name, lct_status_string(code),
                  code);
#else
    (void)call;
    (void)code;
#endif
}

/* The call must fail with `code` and leave a non-empty message that contains `needle` (may be NULL);
 * `code` must be listed in the header of the public function called. */
#define LCT_ASSERT_FAILS(call, code, needle)                                                       \
    do {                                                                                           \
        lct_error_clear();                                                                         \
        int rc__ = (call);                                                                         \
        ck_assert_msg(rc__ == (code), "%s returned %d (%s), expected %d; message: %s", #call, rc__, \
                      lct_status_string(rc__), (int)(code), lct_error_last());                     \
        ck_assert_msg(lct_error_last()[0] != '\0', "%s left no error message", #call);              \
        if ((needle) != NULL)                                                                      \
            ck_assert_msg(strstr(lct_error_last(), (needle)) != NULL, "message '%s' lacks '%s'",     \
                          lct_error_last(), (const char *)(needle));                                \
        lct_test_doc_check(#call, rc__);                                                           \
    } while (0)

/* An options initialiser `init` refuses a NULL struct (the message names `null_name`), version 0 and
 * `version` + 1, then fills `o` for `version`. */
#define LCT_ASSERT_OPTIONS_INIT(init, o, version, null_name)                                       \
    do {                                                                                           \
        LCT_ASSERT_FAILS(init(NULL, version), LCT_EINVAL, null_name);                              \
        LCT_ASSERT_FAILS(init(&(o), 0), LCT_EVERSION, "version is 0");                             \
        LCT_ASSERT_FAILS(init(&(o), (version) + 1), LCT_EVERSION, "version");                      \
        ck_assert_int_eq(init(&(o), version), LCT_OK);                                             \
    } while (0)

/* A block of `size` bytes ending exactly where an inaccessible page begins: reading or writing one
 * byte past it faults, with or without a sanitizer. */
typedef struct lct_test_guard {
    unsigned char *map;
    size_t bytes;
} lct_test_guard;

static inline void *lct_test_guarded(lct_test_guard *g, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (size + page - 1) / page * page;
    g->bytes = data + page;
    g->map = mmap(NULL, g->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(g->map != MAP_FAILED);
    ck_assert_int_eq(mprotect(g->map + data, page, PROT_NONE), 0);
    return g->map + data - size;
}

static inline void lct_test_unguard(lct_test_guard *g)
{
    munmap(g->map, g->bytes);
}

/* Maximum relative error between two float arrays, relative to max(|a|,|b|,floor). */
static inline double lct_test_max_rel(const float *a, const float *b, size_t n, double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fmax(fmax(fabs((double)a[i]), fabs((double)b[i])), floor);
        if (d / s > worst) worst = d / s;
    }
    return worst;
}

#endif
