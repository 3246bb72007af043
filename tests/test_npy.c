/* .npy export and import: round trips, numpy in both directions, malformed files, bad input. */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "checkpoint/checkpoint_internal.h"

static char dir[256];

static void setup(void) { lct_test_tmpdir_make(dir, sizeof dir, "npy"); }
static void teardown(void) { lct_test_tmpdir_remove(dir); }

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

#define spit lct_test_write_file

/* Values that exercise every float bit pattern class: signs, tiny, huge, NaN-free. */
static float value_at(size_t i)
{
    return (float)((double)((i * 2654435761u) % 1000003u) / 777.0 - 600.0) * (i % 7 == 0 ? 1e-30f : 1.0f);
}

/* 1 if /usr/bin/python3 can import numpy. */
static int have_numpy(void)
{
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_python(const char *script)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"%s\"", script);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_round_trip_matrix_and_vector)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    size_t rows = 37, cols = 129; /* header padding and an odd size */
    float *m = malloc(rows * cols * sizeof *m);
    for (size_t i = 0; i < rows * cols; i++) m[i] = value_at(i);
    char p[512];
    path_of(p, sizeof p, "emb.npy");
    ck_assert_int_eq(lct_npy_write(p, m, rows, cols), LCT_OK);
    size_t r = 0, c = 0;
    uint32_t nd = 0;
    ck_assert_int_eq(lct_npy_info(p, &r, &c, &nd), LCT_OK);
    ck_assert_uint_eq(r, rows);
    ck_assert_uint_eq(c, cols);
    ck_assert_uint_eq(nd, 2);
    float *back = calloc(rows * cols, sizeof *back);
    ck_assert_int_eq(lct_npy_read(p, back, rows, cols), LCT_OK);
    ck_assert_mem_eq(back, m, rows * cols * sizeof *m);
    float *alloc = NULL;
    ck_assert_int_eq(lct_npy_read_alloc(rt, p, &alloc, &r, &c), LCT_OK);
    ck_assert_mem_eq(alloc, m, rows * cols * sizeof *m);
    lct_npy_free(rt, alloc);
    lct_npy_free(rt, NULL);
    /* the data starts at a multiple of 64 bytes, as numpy writes it */
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(((size_t)st.st_size - rows * cols * 4) % 64, 0);

    path_of(p, sizeof p, "vec.npy");
    ck_assert_int_eq(lct_npy_write_vector(p, m, 1000), LCT_OK);
    ck_assert_int_eq(lct_npy_info(p, &r, &c, &nd), LCT_OK);
    ck_assert_uint_eq(r, 1000);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(nd, 1);
    memset(back, 0, 1000 * sizeof *back);
    ck_assert_int_eq(lct_npy_read(p, back, 1000, 1), LCT_OK);
    ck_assert_mem_eq(back, m, 1000 * sizeof *m);
    /* overwriting is atomic and leaves no temporary behind */
    ck_assert_int_eq(lct_npy_write_vector(p, m + 1, 3), LCT_OK);
    ck_assert_int_eq(lct_npy_read(p, back, 3, 1), LCT_OK);
    ck_assert_mem_eq(back, m + 1, 3 * sizeof *m);
    ck_assert_int_eq(lct_test_count_files(dir), 2);
    free(m);
    free(back);
    size_t cur = 1;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_numpy_loads_our_files)
{
    if (!have_numpy()) {
        fprintf(stderr, "test_numpy_loads_our_files: skipped, /usr/bin/python3 has no numpy\n");
        return;
    }
    size_t rows = 5, cols = 7;
    float m[35];
    for (size_t i = 0; i < 35; i++) m[i] = value_at(i);
    char p[512], raw[512], v[512], script[3000];
    path_of(p, sizeof p, "m.npy");
    path_of(raw, sizeof raw, "m.raw");
    path_of(v, sizeof v, "v.npy");
    ck_assert_int_eq(lct_npy_write(p, m, rows, cols), LCT_OK);
    ck_assert_int_eq(lct_npy_write_vector(v, m, 35), LCT_OK);
    spit(raw, m, sizeof m); /* the reference bytes, compared by numpy */
    snprintf(script, sizeof script,
             "import numpy as np, sys\n"
             "a = np.load('%s'); b = np.load('%s')\n"
             "ref = np.fromfile('%s', dtype='<f4')\n"
             "ok = a.dtype == np.float32 and a.shape == (5, 7) and a.flags.c_contiguous\n"
             "ok = ok and a.tobytes() == ref.tobytes() and b.shape == (35,) and b.tobytes() == ref.tobytes()\n"
             "sys.exit(0 if ok else 3)",
             p, v, raw);
    ck_assert_int_eq(run_python(script), 0);
}
END_TEST

START_TEST(test_numpy_files_load)
{
    if (!have_numpy()) {
        fprintf(stderr, "test_numpy_files_load: skipped, /usr/bin/python3 has no numpy\n");
        return;
    }
    char script[3000];
    snprintf(script, sizeof script,
             "import numpy as np, numpy.lib.format as F\n"
             "d = '%s'\n"
             "a = (np.arange(24, dtype='<f4').reshape(4, 6) * 0.5 - 3)\n"
             "np.save(d + '/v1.npy', a)\n"
             "f = open(d + '/v2.npy', 'wb'); F.write_array(f, a, version=(2, 0)); f.close()\n"
             "np.save(d + '/vec.npy', a.ravel())\n"
             "np.save(d + '/fortran.npy', np.asfortranarray(a))\n"
             "np.save(d + '/big_endian.npy', a.astype('>f4'))\n"
             "np.save(d + '/f8.npy', a.astype('<f8'))\n"
             "np.save(d + '/i4.npy', a.astype('<i4'))\n"
             "np.save(d + '/three_d.npy', a.reshape(2, 3, 4))\n"
             "np.save(d + '/scalar.npy', np.float32(1))\n"
             "np.save(d + '/empty.npy', np.zeros((0, 6), '<f4'))\n",
             dir);
    ck_assert_int_eq(run_python(script), 0);
    float want[24];
    for (int i = 0; i < 24; i++) want[i] = (float)((double)i * 0.5 - 3.0);
    const char *good[3] = {"v1.npy", "v2.npy", "vec.npy"};
    for (int g = 0; g < 3; g++) {
        char p[512];
        path_of(p, sizeof p, good[g]);
        float got[24] = {0};
        size_t rows = g == 2 ? 24 : 4, cols = g == 2 ? 1 : 6;
        ck_assert_msg(lct_npy_read(p, got, rows, cols) == LCT_OK, "%s: %s", good[g], lct_error_last());
        ck_assert_mem_eq(got, want, sizeof want);
    }
    const char *bad[7][2] = {{"fortran.npy", "Fortran"}, {"big_endian.npy", "'>f4'"}, {"f8.npy", "'<f8'"},
                             {"i4.npy", "'<i4'"},       {"three_d.npy", "3 dimensions"}, {"scalar.npy", "0 dimensions"},
                             {"empty.npy", "empty"}};
    for (int b = 0; b < 7; b++) {
        char p[512];
        path_of(p, sizeof p, bad[b][0]);
        float got[24];
        LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, bad[b][1]);
        LCT_ASSERT_FAILS(lct_npy_read(p, got, 4, 6), LCT_EFORMAT, bad[b][1]);
    }
}
END_TEST

/* Build a .npy 1.0 file from a header dict and data bytes; pad as numpy does unless raw. */
static void write_npy_text(const char *path, const char *dict, size_t data_bytes, int pad, unsigned major)
{
    unsigned char buf[8192];
    size_t n = strlen(dict), pre = major == 1 ? 10 : 12;
    size_t hl = n + 1;
    if (pad) hl = (pre + n + 1 + 63) / 64 * 64 - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)hl;
        buf[9] = (unsigned char)(hl >> 8);
    } else {
        lct__le32_store(buf + 8, (uint32_t)hl);
    }
    memcpy(buf + pre, dict, n);
    memset(buf + pre + n, ' ', hl - n - 1);
    buf[pre + hl - 1] = '\n';
    memset(buf + pre + hl, 0, data_bytes);
    spit(path, buf, pre + hl + data_bytes);
}

START_TEST(test_malformed_headers)
{
    char p[512];
    path_of(p, sizeof p, "x.npy");
    float dst[12];
    size_t r;
    /* accepted variants: double quotes, any key order, no trailing comma, old 'L' suffixes, version 2.0 */
    write_npy_text(p, "{\"shape\": (3, 4), \"fortran_order\": False, \"descr\": \"<f4\"}", 48, 1, 1);
    ck_assert_int_eq(lct_npy_info(p, &r, NULL, NULL), LCT_OK);
    ck_assert_uint_eq(r, 3);
    write_npy_text(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", 48, 0, 1);
    ck_assert_int_eq(lct_npy_read(p, dst, 3, 4), LCT_OK);
    write_npy_text(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", 48, 1, 2);
    ck_assert_int_eq(lct_npy_read(p, dst, 12, 1), LCT_OK);

    struct {
        const char *dict;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 44, "needs 48"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 52, "needs 48"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4 }", 48, "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }", 48, "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 4), }", 48, "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 48, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False}", 48, "'shape'"},
        {"{'descr': '<f4', 'shape': (3, 4)}", 48, "'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4)}", 48, "True or False"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}", 48, "repeated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'extra': 1}", 48, "'extra'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3, 4)}", 48, "'descr'"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (3, 4)}", 48, "'|f4'"},
        {"['descr', '<f4']", 48, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} x", 48, "stray"},
        {"{'descr: '<f4'}", 48, "malformed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_npy_text(p, cases[i].dict, cases[i].data, 1, 1);
        LCT_ASSERT_FAILS(lct_npy_read(p, dst, 3, 4), LCT_EFORMAT, cases[i].needle);
    }
    /* preamble damage */
    unsigned char b[128];
    write_npy_text(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 48, 1, 1);
    FILE *f = fopen(p, "rb");
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    b[1] = 'X';
    spit(p, b, n);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "magic");
    b[1] = 'N';
    b[6] = 3;
    spit(p, b, n);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "3.0");
    b[6] = 1;
    b[8] = 200; /* header longer than the file */
    spit(p, b, 100);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "ends inside");
    b[8] = 0xff;
    b[9] = 0xff;
    spit(p, b, n);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "65535");
    b[8] = 63 - 10 + 1;
    b[9] = 0;
    b[63] = ' '; /* no final newline */
    spit(p, b, n);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "newline");
    spit(p, b, 0);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "magic");
    spit(p, b, 9);
    LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "shorter than 10");
    ck_assert_int_eq(lct__npy_parse_header((const unsigned char *)"\x93NUMPY\x02\x00\x00\x00", 10, 10,
                                           &(lct__npy_header){0}, "t"), LCT_EFORMAT);
}
END_TEST

START_TEST(test_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    float m[6] = {1, 2, 3, 4, 5, 6}, dst[6] = {9, 9, 9, 9, 9, 9};
    char p[512], missing[600];
    path_of(p, sizeof p, "m.npy");
    snprintf(missing, sizeof missing, "%s/none/m.npy", dir);
    LCT_ASSERT_FAILS(lct_npy_write(NULL, m, 2, 3), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_npy_write(p, NULL, 2, 3), LCT_EINVAL, "'data'");
    LCT_ASSERT_FAILS(lct_npy_write(p, m, 0, 3), LCT_EINVAL, "rows is 0");
    LCT_ASSERT_FAILS(lct_npy_write(p, m, 2, 0), LCT_EINVAL, "cols is 0");
    LCT_ASSERT_FAILS(lct_npy_write(p, m, SIZE_MAX / 2, 3), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_npy_write(missing, m, 2, 3), LCT_EIO, "none/m.npy");
    ck_assert_int_eq(lct_npy_write(p, m, 2, 3), LCT_OK);
    LCT_ASSERT_FAILS(lct_npy_write_vector(NULL, m, 6), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_npy_write_vector(p, NULL, 6), LCT_EINVAL, "'data'");
    LCT_ASSERT_FAILS(lct_npy_write_vector(p, m, 0), LCT_EINVAL, "n is 0");
    LCT_ASSERT_FAILS(lct_npy_write_vector(p, m, SIZE_MAX / 2), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_npy_write_vector("", m, 6), LCT_EINVAL, "empty");
    LCT_ASSERT_FAILS(lct_npy_info(NULL, NULL, NULL, NULL), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_npy_info(missing, NULL, NULL, NULL), LCT_EIO, "none/m.npy");
    LCT_ASSERT_FAILS(lct_npy_info(dir, NULL, NULL, NULL), LCT_EIO, "not a regular file");
    LCT_ASSERT_FAILS(lct_npy_read(NULL, dst, 2, 3), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_npy_read(p, NULL, 2, 3), LCT_EINVAL, "'dst'");
    LCT_ASSERT_FAILS(lct_npy_read(p, dst, 3, 2), LCT_ESHAPE, "2 x 3 array but rows x cols is 3 x 2");
    LCT_ASSERT_FAILS(lct_npy_read(p, dst, 6, 1), LCT_ESHAPE, "rows x cols is 6 x 1");
    ck_assert_float_eq(dst[0], 9.0f); /* untouched */
    LCT_ASSERT_FAILS(lct_npy_read(missing, dst, 2, 3), LCT_EIO, "none/m.npy");
    float *out = (float *)&out;
    LCT_ASSERT_FAILS(lct_npy_read_alloc(rt, p, NULL, NULL, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_npy_read_alloc(NULL, p, &out, NULL, NULL), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(out);
    LCT_ASSERT_FAILS(lct_npy_read_alloc(rt, NULL, &out, NULL, NULL), LCT_EINVAL, "'path'");
    LCT_ASSERT_FAILS(lct_npy_read_alloc(rt, missing, &out, NULL, NULL), LCT_EIO, "none/m.npy");
    ck_assert_int_eq(lct_npy_read(p, dst, 2, 3), LCT_OK);
    ck_assert_mem_eq(dst, m, sizeof m);
    lct_npy_free(NULL, NULL);
    lct_runtime_free(rt);
}
END_TEST

/* The fuzz corpus (written by the library and by numpy) parses as each file's name says. */
START_TEST(test_fuzz_corpus_files)
{
    const char *ok[] = {"matrix.npy", "vector.npy", "numpy_v1.npy", "numpy_v2.npy"};
    const char *bad[] = {"numpy_fortran.npy", "numpy_be.npy", "numpy_f8.npy", "numpy_3d.npy"};
    char p[1024];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/tests/fuzz/corpus/npy/%s", LCT_SOURCE_ROOT, ok[i]);
        ck_assert_msg(lct_npy_info(p, NULL, NULL, NULL) == LCT_OK, "%s: %s", ok[i], lct_error_last());
        snprintf(p, sizeof p, "%s/tests/fuzz/corpus/npy/%s", LCT_SOURCE_ROOT, bad[i]);
        LCT_ASSERT_FAILS(lct_npy_info(p, NULL, NULL, NULL), LCT_EFORMAT, "");
    }
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip_matrix_and_vector);
    tcase_add_test(tc, test_numpy_loads_our_files);
    tcase_add_test(tc, test_numpy_files_load);
    tcase_add_test(tc, test_malformed_headers);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_fuzz_corpus_files);
}

int main(void)
{
    return lct_test_main("npy", "npy", 0, add_tests);
}
