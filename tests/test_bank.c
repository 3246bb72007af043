/* Memory bank: creation, rows, sampling, similarities, updates, fp16 storage. */
#include "testutil.h"

#include "bank/bank.h"

static lct_bank *make_bank(lct_runtime *rt, size_t n, size_t d, int storage, int normalize)
{
    lct_bank_options o;
    ck_assert_int_eq(lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION), LCT_OK);
    o.storage = storage;
    o.normalize = normalize;
    lct_bank *b = NULL;
    ck_assert_int_eq(lct_bank_new(&b, rt, n, d, &o), LCT_OK);
    return b;
}

static void fill_random(float *x, size_t n, uint64_t seed)
{
    lct__rng r;
    lct__rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * lct__rng_uniform(&r) - 1.0f;
}

/* Rows of a bank as doubles (the reference reads them back through the public API). */
static double *rows_double(lct_bank *b, size_t n, size_t d)
{
    float *tmp = malloc(n * d * sizeof *tmp);
    double *out = malloc(n * d * sizeof *out);
    ck_assert_int_eq(lct_bank_get_rows(b, 0, n, tmp), LCT_OK);
    for (size_t i = 0; i < n * d; i++) out[i] = tmp[i];
    free(tmp);
    return out;
}

START_TEST(test_options_and_bytes)
{
    lct_bank_options o;
    LCT_ASSERT_OPTIONS_INIT(lct_bank_options_init, o, LCT_BANK_OPTIONS_VERSION, "opts");
    ck_assert_int_eq(o.storage, LCT_BANK_FP32);
    ck_assert_int_eq(o.init, LCT_BANK_INIT_UNIFORM);
    ck_assert_int_eq(o.normalize, 0);
    ck_assert_ptr_null(o.buffer);

    size_t b32 = 0, b16 = 0;
    ck_assert_int_eq(lct_bank_bytes(1000, 128, LCT_BANK_FP32, &b32), LCT_OK);
    ck_assert_int_eq(lct_bank_bytes(1000, 128, LCT_BANK_FP16, &b16), LCT_OK);
    ck_assert_uint_ge(b32, 1000 * 128 * 4);
    ck_assert_uint_lt(b32, 1000 * 128 * 4 + 4096);
    ck_assert_uint_ge(b16, 1000 * 128 * 2);
    size_t bytes;
    LCT_ASSERT_FAILS(lct_bank_bytes(10, 4, LCT_BANK_FP32, NULL), LCT_EINVAL, "bytes");
    LCT_ASSERT_FAILS(lct_bank_bytes(0, 4, LCT_BANK_FP32, &bytes), LCT_EINVAL, "n is 0");
    LCT_ASSERT_FAILS(lct_bank_bytes(10, 0, LCT_BANK_FP32, &bytes), LCT_EINVAL, "d is 0");
    LCT_ASSERT_FAILS(lct_bank_bytes(10, 70000, LCT_BANK_FP32, &bytes), LCT_EINVAL, "d is 70000");
    LCT_ASSERT_FAILS(lct_bank_bytes(10, 4, 7, &bytes), LCT_EINVAL, "storage is 7");

    /* The footprint query agrees with what the runtime counts. */
    lct_runtime *rt = lct_test_runtime(1, 1);
    for (int s = 0; s < 2; s++) {
        size_t before, after, want;
        lct_runtime_memory(rt, &before, NULL);
        lct_bank *b = make_bank(rt, 3000, 64, s, 0);
        lct_runtime_memory(rt, &after, NULL);
        ck_assert_int_eq(lct_bank_bytes(3000, 64, s, &want), LCT_OK);
        ck_assert_uint_le(after - before, want);
        ck_assert_uint_ge(after - before + 512, want);
        lct_bank_free(b);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_new_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_bank *b = (lct_bank *)&b;
    lct_bank_options o;
    lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
    LCT_ASSERT_FAILS(lct_bank_new(NULL, rt, 10, 4, &o), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_bank_new(&b, NULL, 10, 4, &o), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(b);
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 0, 4, &o), LCT_EINVAL, "n is 0");
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 0, &o), LCT_EINVAL, "d is 0");
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, (size_t)1 << 41, 4, &o), LCT_EINVAL, "n is");
    o.version = 9;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EVERSION, "version is 9");
    o.version = LCT_BANK_OPTIONS_VERSION;
    o.storage = 5;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EINVAL, "storage is 5");
    o.storage = LCT_BANK_FP32;
    o.init = 9;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EINVAL, "init is 9");
    o.init = LCT_BANK_INIT_KEEP;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EINVAL, "buffer is NULL");
    o.init = LCT_BANK_INIT_UNIFORM;
    o.normalize = 2;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EINVAL, "normalize is 2");
    o.normalize = 0;
    float buf[41];
    o.buffer = buf;
    o.buffer_bytes = 39 * sizeof(float);
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_ESHAPE, "buffer_bytes is 156");
    o.buffer = (char *)buf + 1;
    o.buffer_bytes = 40 * sizeof(float);
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_EINVAL, "aligned");
    o.buffer = buf;
    o.init = LCT_BANK_INIT_KEEP;
    for (int i = 0; i < 40; i++) buf[i] = 1.0f;
    buf[17] = NAN;
    LCT_ASSERT_FAILS(lct_bank_new(&b, rt, 10, 4, &o), LCT_ENUMERIC, "NaN");
    ck_assert_ptr_null(b);
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0);
    lct_bank_free(NULL);
    LCT_ASSERT_FAILS(lct_bank_info(NULL, NULL, NULL, NULL), LCT_EINVAL, "bank");
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_init_uniform_normalised_deterministic)
{
    const size_t n = 2000, d = 48;
    lct_runtime *rt1 = lct_test_runtime(1, 42), *rt2 = lct_test_runtime(2, 42), *rt3 = lct_test_runtime(1, 43);
    lct_bank *a = make_bank(rt1, n, d, LCT_BANK_FP32, 0), *b = make_bank(rt2, n, d, LCT_BANK_FP32, 0),
             *c = make_bank(rt3, n, d, LCT_BANK_FP32, 0);
    float *ra = malloc(n * d * 4), *rb = malloc(n * d * 4), *rc = malloc(n * d * 4);
    lct_bank_get_rows(a, 0, n, ra);
    lct_bank_get_rows(b, 0, n, rb);
    lct_bank_get_rows(c, 0, n, rc);
    ck_assert_mem_eq(ra, rb, n * d * 4); /* threads do not matter */
    ck_assert(memcmp(ra, rc, n * d * 4) != 0); /* the seed does */
    double lim = 1.0 / sqrt(d / 3.0), mean = 0, var = 0;
    for (size_t i = 0; i < n * d; i++) {
        ck_assert(fabs(ra[i]) <= lim);
        mean += ra[i];
        var += (double)ra[i] * ra[i];
    }
    mean /= (double)(n * d);
    var /= (double)(n * d);
    ck_assert(fabs(mean) < 0.01 * lim);
    ck_assert(fabs(var - lim * lim / 3.0) < 0.02 * lim * lim); /* uniform(-a, a) has variance a^2/3 */
    size_t nn, dd;
    int st;
    ck_assert_int_eq(lct_bank_info(a, &nn, &dd, &st), LCT_OK);
    ck_assert_uint_eq(nn, n);
    ck_assert_uint_eq(dd, d);
    ck_assert_int_eq(st, LCT_BANK_FP32);
    lct_bank_free(a);
    lct_bank_free(b);
    lct_bank_free(c);

    for (int s = 0; s < 2; s++) {
        lct_bank *u = make_bank(rt1, n, d, s, 1);
        lct_bank_get_rows(u, 0, n, ra);
        for (size_t i = 0; i < n; i++) {
            double ss = 0;
            for (size_t j = 0; j < d; j++) ss += (double)ra[i * d + j] * ra[i * d + j];
            ck_assert_msg(fabs(sqrt(ss) - 1.0) < (s ? 2e-3 : 1e-6), "row %zu has norm %g", i, sqrt(ss));
        }
        lct_bank_free(u);
    }
    free(ra);
    free(rb);
    free(rc);
    lct_runtime_free(rt1);
    lct_runtime_free(rt2);
    lct_runtime_free(rt3);
}
END_TEST

START_TEST(test_host_buffer_borrowed_and_zero_init)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    const size_t n = 20, d = 8;
    float host[160];
    for (size_t i = 0; i < n * d; i++) host[i] = (float)i * 0.01f;
    lct_bank_options o;
    lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
    o.buffer = host;
    o.buffer_bytes = sizeof host;
    o.init = LCT_BANK_INIT_KEEP;
    lct_bank *b;
    size_t before, after;
    lct_runtime_memory(rt, &before, NULL);
    ck_assert_int_eq(lct_bank_new(&b, rt, n, d, &o), LCT_OK);
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_uint_lt(after - before, 1024); /* the rows are the host's */
    ck_assert_float_eq(host[37], 0.37f);
    float row[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_int_eq(lct_bank_set_rows(b, 3, 1, row), LCT_OK);
    ck_assert_mem_eq(host + 24, row, sizeof row); /* writes land in the host buffer */
    lct_bank_free(b);
    ck_assert_float_eq(host[24], 1.0f); /* and survive the bank */

    uint16_t h16[160];
    o.storage = LCT_BANK_FP16;
    o.buffer = h16;
    o.buffer_bytes = sizeof h16;
    o.init = LCT_BANK_INIT_ZERO;
    memset(h16, 0xff, sizeof h16);
    ck_assert_int_eq(lct_bank_new(&b, rt, n, d, &o), LCT_OK);
    for (size_t i = 0; i < n * d; i++) ck_assert_uint_eq(h16[i], 0);
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_rows_get_set_gather)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    const size_t n = 50, d = 20;
    for (int s = 0; s < 2; s++) {
        lct_bank *b = make_bank(rt, n, d, s, 0);
        float in[3 * 20], out[3 * 20];
        fill_random(in, 3 * d, 9);
        in[5] = 1000.0f;
        ck_assert_int_eq(lct_bank_set_rows(b, 10, 3, in), LCT_OK);
        ck_assert_int_eq(lct_bank_get_rows(b, 10, 3, out), LCT_OK);
        /* fp16: round to nearest, relative error at most 2^-11 (normal range) */
        for (size_t i = 0; i < 3 * d; i++)
            ck_assert_msg(fabs(out[i] - in[i]) <= (s ? fabs(in[i]) * 0x1p-11 + 0x1p-25 : 0.0), "%zu: %g vs %g", i,
                          out[i], in[i]);
        int64_t idx[4] = {11, 10, 12, 11};
        float g[4 * 20];
        ck_assert_int_eq(lct_bank_gather(b, idx, 4, g), LCT_OK);
        ck_assert_mem_eq(g, out + d, d * 4);
        ck_assert_mem_eq(g + d, out, d * 4);
        ck_assert_mem_eq(g + 2 * d, out + 2 * d, d * 4);
        ck_assert_mem_eq(g + 3 * d, out + d, d * 4);

        float before[20 * 50];
        lct_bank_get_rows(b, 0, n, before);
        LCT_ASSERT_FAILS(lct_bank_get_rows(NULL, 0, 1, out), LCT_EINVAL, "bank");
        LCT_ASSERT_FAILS(lct_bank_get_rows(b, 0, 1, NULL), LCT_EINVAL, "out");
        LCT_ASSERT_FAILS(lct_bank_get_rows(b, 0, 0, out), LCT_EINVAL, "count is 0");
        LCT_ASSERT_FAILS(lct_bank_get_rows(b, 48, 3, out), LCT_ERANGE, "48");
        LCT_ASSERT_FAILS(lct_bank_get_rows(b, SIZE_MAX, 3, out), LCT_ERANGE, "exceed");
        LCT_ASSERT_FAILS(lct_bank_set_rows(NULL, 0, 1, in), LCT_EINVAL, "bank");
        LCT_ASSERT_FAILS(lct_bank_set_rows(b, 0, 1, NULL), LCT_EINVAL, "in");
        LCT_ASSERT_FAILS(lct_bank_set_rows(b, 49, 2, in), LCT_ERANGE, "49");
        in[7] = INFINITY;
        LCT_ASSERT_FAILS(lct_bank_set_rows(b, 0, 2, in), LCT_ENUMERIC, "in[7]");
        in[7] = 0.5f;
        in[30] = 70000.0f;
        if (s) LCT_ASSERT_FAILS(lct_bank_set_rows(b, 0, 2, in), LCT_ENUMERIC, "in[30]");
        float after[20 * 50];
        lct_bank_get_rows(b, 0, n, after);
        ck_assert_mem_eq(before, after, sizeof before); /* nothing written on failure */
        LCT_ASSERT_FAILS(lct_bank_gather(NULL, idx, 4, g), LCT_EINVAL, "bank");
        LCT_ASSERT_FAILS(lct_bank_gather(b, NULL, 4, g), LCT_EINVAL, "idx");
        LCT_ASSERT_FAILS(lct_bank_gather(b, idx, 4, NULL), LCT_EINVAL, "out");
        LCT_ASSERT_FAILS(lct_bank_gather(b, idx, 0, g), LCT_EINVAL, "count is 0");
        idx[2] = 50;
        LCT_ASSERT_FAILS(lct_bank_gather(b, idx, 4, g), LCT_ERANGE, "idx[2] is 50");
        idx[2] = -1;
        LCT_ASSERT_FAILS(lct_bank_gather(b, idx, 4, g), LCT_ERANGE, "idx[2] is -1");
        lct_bank_free(b);
    }
    lct_runtime_free(rt);
}
END_TEST

/*
 * Issue 20, item 1: a count that no index buffer can hold (2^62 rows of 4 floats overflow) made
 * lct_bank_gather read the caller's indices until it faulted. Such counts are refused with
 * LCT_ESHAPE, like the other bank calls, before a single index is read. The caller's buffers end
 * at an inaccessible page, so any read past them crashes the test with or without ASan.
 */
START_TEST(test_gather_absurd_count_refused_before_reading)
{
    lct_runtime *rt = lct_test_runtime(1, 20);
    lct_bank *bank = NULL, *thin = NULL;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 50, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_bank_new(&thin, rt, 50, 1, NULL), LCT_OK);
    lct_test_guard gi, go;
    int64_t *idx = lct_test_guarded(&gi, 64 * sizeof *idx);
    memset(idx, 0, 64 * sizeof *idx);
    float *out = lct_test_guarded(&go, 64 * 4 * sizeof *out);
    size_t before, after;
    lct_runtime_memory(rt, &before, NULL);
    /* the repro */
    LCT_ASSERT_FAILS(lct_bank_gather(bank, idx, (size_t)1 << 62, out), LCT_ESHAPE, "count (4611686018427387904)");
    const size_t counts[] = {(size_t)1 << 62, SIZE_MAX / 2 + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        LCT_ASSERT_FAILS(lct_bank_gather(bank, idx, counts[i], out), LCT_ESHAPE, "overflows");
        LCT_ASSERT_FAILS(lct_bank_gather(thin, idx, counts[i], out), LCT_ESHAPE, "overflows");
    }
    /* d = 1: 2^61 rows of one float fit a buffer, 2^61 indices (2^64 bytes) do not */
    LCT_ASSERT_FAILS(lct_bank_gather(thin, idx, (size_t)1 << 61, out), LCT_ESHAPE, "overflows");
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_uint_eq(before, after);
    /* counts that fit still gather */
    ck_assert_int_eq(lct_bank_gather(bank, idx, 64, out), LCT_OK);
    ck_assert_int_eq(lct_bank_gather(thin, idx, 64, out), LCT_OK);
    lct_test_unguard(&gi);
    lct_test_unguard(&go);
    lct_bank_free(thin);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* Pearson chi-square of counts against a uniform expectation. */
static double chi2(const long *count, size_t cells, double expected)
{
    double x = 0;
    for (size_t i = 0; i < cells; i++) x += (count[i] - expected) * (count[i] - expected) / expected;
    return x;
}

START_TEST(test_sample_uniform_exclusion_shared)
{
    lct_runtime *rt = lct_test_runtime(2, 2024);
    const size_t n = 64, batch = 100, k = 2000;
    lct_bank *b = make_bank(rt, n, 4, LCT_BANK_FP32, 0);
    int64_t *out = malloc(batch * k * sizeof *out), self[100];
    for (size_t i = 0; i < batch; i++) self[i] = (int64_t)(i % n);
    long count[64] = {0};
    ck_assert_int_eq(lct_bank_sample(b, NULL, batch, k, LCT_BANK_SAMPLE_REPLACE, out), LCT_OK);
    for (size_t i = 0; i < batch * k; i++) {
        ck_assert(out[i] >= 0 && out[i] < (int64_t)n);
        count[out[i]]++;
    }
    /* 63 degrees of freedom: P(chi2 > 103.4) = 0.001 */
    double x = chi2(count, n, (double)(batch * k) / n);
    ck_assert_msg(x < 103.4, "chi2 %g", x);
    ck_assert_msg(x > 35.0, "chi2 %g is suspiciously small", x); /* P(chi2 < 35) ~ 0.002 */

    /* Excluding self: never the own row; the others uniform. */
    ck_assert_int_eq(lct_bank_sample(b, self, batch, k, LCT_BANK_SAMPLE_EXCLUDE_SELF, out), LCT_OK);
    long c0[64] = {0};
    for (size_t s = 0; s < batch; s++)
        for (size_t j = 0; j < k; j++) {
            ck_assert_int_ne(out[s * k + j], self[s]);
            if (self[s] == 0) c0[out[s * k + j]]++;
        }
    /* samples with self 0 (s = 0 and 64): 4000 draws over rows 1..63 */
    x = chi2(c0 + 1, n - 1, 4000.0 / 63.0);
    ck_assert_msg(x < 102.2, "chi2 %g", x); /* 62 dof */

    /* Shared: K indices, one set for the batch. */
    int64_t sh[2000];
    ck_assert_int_eq(lct_bank_sample(b, NULL, batch, k, LCT_BANK_SAMPLE_SHARED, sh), LCT_OK);
    memset(count, 0, sizeof count);
    for (size_t j = 0; j < k; j++) count[sh[j]]++;
    x = chi2(count, n, (double)k / n);
    ck_assert_msg(x < 103.4, "chi2 %g", x);
    /* Shared excluding the batch: rows 0..9 excluded (duplicates allowed in self). */
    int64_t few[12] = {3, 0, 9, 1, 2, 4, 5, 6, 7, 8, 3, 0};
    ck_assert_int_eq(lct_bank_sample(b, few, 12, k, LCT_BANK_SAMPLE_SHARED_EXCLUDE, sh), LCT_OK);
    memset(count, 0, sizeof count);
    for (size_t j = 0; j < k; j++) {
        ck_assert_int_ge(sh[j], 10);
        count[sh[j]]++;
    }
    x = chi2(count + 10, n - 10, (double)k / (n - 10));
    ck_assert_msg(x < 87.0, "chi2 %g", x); /* 53 dof */
    /* Scattered exclusions (first, middle, last row): the remaining rows stay uniform. */
    int64_t holes[5] = {63, 0, 31, 32, 0};
    long c2[64] = {0};
    for (int rep = 0; rep < 10; rep++) {
        ck_assert_int_eq(lct_bank_sample(b, holes, 5, k, LCT_BANK_SAMPLE_SHARED_EXCLUDE, sh), LCT_OK);
        for (size_t j = 0; j < k; j++) c2[sh[j]]++;
    }
    ck_assert(c2[0] == 0 && c2[31] == 0 && c2[32] == 0 && c2[63] == 0);
    long rest[60];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (i != 0 && i != 31 && i != 32 && i != 63) rest[m++] = c2[i];
    x = chi2(rest, m, 10.0 * k / (double)m);
    ck_assert_msg(x < 98.3, "chi2 %g", x); /* 59 dof: P(chi2 > 98.3) = 0.001 */
    free(out);
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_sample_deterministic_any_threads)
{
    const size_t batch = 37, k = 300;
    int64_t *o[4];
    for (int t = 0; t < 4; t++) o[t] = malloc(batch * k * sizeof(int64_t));
    int64_t self[37];
    for (size_t i = 0; i < batch; i++) self[i] = (int64_t)(i * 7 % 1000);
    for (int mode = 0; mode < 4; mode++) {
        for (unsigned th = 1; th <= 2; th++) {
            lct_runtime *rt = lct_test_runtime(th, 99);
            lct_bank *b = make_bank(rt, 1000, 4, LCT_BANK_FP32, 0);
            ck_assert_int_eq(lct_bank_sample(b, self, batch, k, mode, o[2 * (th - 1)]), LCT_OK);
            ck_assert_int_eq(lct_bank_sample(b, self, batch, k, mode, o[2 * (th - 1) + 1]), LCT_OK);
            lct_bank_free(b);
            lct_runtime_free(rt);
        }
        size_t len = (mode >= LCT_BANK_SAMPLE_SHARED ? k : batch * k) * sizeof(int64_t);
        ck_assert_mem_eq(o[0], o[2], len);              /* first call, 1 vs 2 threads */
        ck_assert_mem_eq(o[1], o[3], len);              /* second call */
        ck_assert(memcmp(o[0], o[1], len) != 0);         /* calls differ */
    }
    /* Checkpoint state: restoring the call count replays the same draws. */
    lct_runtime *rt = lct_test_runtime(1, 3);
    lct_bank *b = make_bank(rt, 1000, 4, LCT_BANK_FP32, 0);
    uint64_t st, calls;
    lct__bank_rng_state(b, &st, &calls);
    ck_assert_int_eq(lct_bank_sample(b, NULL, batch, k, 0, o[0]), LCT_OK);
    lct__bank_set_rng_state(b, st, calls);
    ck_assert_int_eq(lct_bank_sample(b, NULL, batch, k, 0, o[1]), LCT_OK);
    ck_assert_mem_eq(o[0], o[1], batch * k * sizeof(int64_t));
    lct_bank_free(b);
    lct_runtime_free(rt);
    for (int t = 0; t < 4; t++) free(o[t]);
}
END_TEST

/* The unchecked twins the losses call draw and score exactly what the public entries do. */
START_TEST(test_unchecked_twins_match_public)
{
    const size_t n = 300, d = 20, batch = 6, k = 25;
    float f[6 * 20], a[6 * 26], c[6 * 26], all_a[6 * 300], all_c[6 * 300];
    int64_t self[6], na[6 * 25], nc[6 * 25];
    fill_random(f, batch * d, 5);
    for (size_t i = 0; i < batch; i++) self[i] = (int64_t)(i * 41 % n);
    for (int s = 0; s < 2; s++)
        for (int mode = 0; mode < 4; mode++) {
            lct_runtime *rt = lct_test_runtime(1, 21);
            lct_bank *b = make_bank(rt, n, d, s, 1);
            uint64_t st, calls;
            lct__bank_rng_state(b, &st, &calls);
            ck_assert_int_eq(lct_bank_sample(b, self, batch, k, mode, na), LCT_OK);
            ck_assert_int_eq(lct_bank_similarity(b, f, batch, self, na, k, mode, a), LCT_OK);
            lct__bank_set_rng_state(b, st, calls);
            ck_assert_int_eq(lct__bank_sample_unchecked(b, self, batch, k, mode, nc, "test"), LCT_OK);
            ck_assert_int_eq(lct__bank_similarity_unchecked(b, f, batch, self, nc, k, mode, c), LCT_OK);
            size_t drawn = mode >= LCT_BANK_SAMPLE_SHARED ? k : batch * k;
            ck_assert_mem_eq(na, nc, drawn * sizeof *na);
            ck_assert_mem_eq(a, c, batch * (k + 1) * sizeof *a);
            ck_assert_int_eq(lct_bank_similarity_all(b, f, batch, 0, n, all_a, n), LCT_OK);
            ck_assert_int_eq(lct__bank_similarity_all_unchecked(b, f, batch, 0, n, all_c, n), LCT_OK);
            ck_assert_mem_eq(all_a, all_c, sizeof all_a);
            lct_bank_free(b);
            lct_runtime_free(rt);
        }
}
END_TEST

START_TEST(test_sample_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_bank *b = make_bank(rt, 10, 4, LCT_BANK_FP32, 0), *one = make_bank(rt, 1, 4, LCT_BANK_FP32, 0);
    int64_t out[40], self[4] = {1, 2, 3, 4};
    LCT_ASSERT_FAILS(lct_bank_sample(NULL, self, 4, 10, 0, out), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 4, 10, 0, NULL), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 4, 10, 4, out), LCT_EINVAL, "mode is 4");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 4, 10, -1, out), LCT_EINVAL, "mode is -1");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 0, 10, 0, out), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 4, 0, 0, out), LCT_EINVAL, "k is 0");
    LCT_ASSERT_FAILS(lct_bank_sample(b, NULL, 4, 10, LCT_BANK_SAMPLE_EXCLUDE_SELF, out), LCT_EINVAL, "self_idx");
    LCT_ASSERT_FAILS(lct_bank_sample(b, NULL, 4, 10, LCT_BANK_SAMPLE_SHARED_EXCLUDE, out), LCT_EINVAL, "self_idx");
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, SIZE_MAX / 2, 10, 0, out), LCT_ESHAPE, "overflows");
    self[3] = 10;
    LCT_ASSERT_FAILS(lct_bank_sample(b, self, 4, 10, 1, out), LCT_ERANGE, "self_idx[3] is 10");
    int64_t zero = 0;
    LCT_ASSERT_FAILS(lct_bank_sample(one, &zero, 1, 10, 1, out), LCT_EINVAL, "nothing");
    LCT_ASSERT_FAILS(lct_bank_sample(one, &zero, 1, 10, LCT_BANK_SAMPLE_SHARED_EXCLUDE, out), LCT_EINVAL, "nothing");
    /* Failed calls do not advance the call counter. */
    uint64_t st, calls;
    lct__bank_rng_state(b, &st, &calls);
    ck_assert_uint_eq(calls, 0);
    lct_bank_free(b);
    lct_bank_free(one);
    lct_runtime_free(rt);
}
END_TEST

/* Reference similarities in double from rows read back through the API. */
static void ref_similarity(const double *rows, size_t d, const float *f, size_t batch, const int64_t *pos,
                           const int64_t *neg, size_t k, int shared, double *out)
{
    for (size_t b = 0; b < batch; b++)
        for (size_t j = 0; j <= k; j++) {
            int64_t r = j == 0 ? pos[b] : (shared ? neg[j - 1] : neg[b * k + j - 1]);
            double s = 0;
            for (size_t t = 0; t < d; t++) s += (double)f[b * d + t] * rows[(size_t)r * d + t];
            out[b * (k + 1) + j] = s;
        }
}

START_TEST(test_similarity_matches_reference)
{
    const size_t n = 500, d = 70, batch = 9, k = 40; /* d not a multiple of the vector width */
    for (int gen = 0; gen < 2; gen++) {
        lct__test_control(LCT__TESTCTRL_SIMD_GENERIC, gen);
        for (int s = 0; s < 2; s++)
            for (int mode = 0; mode < 4; mode++) {
                lct_runtime *rt = lct_test_runtime(1 + (mode & 1), 11);
                lct_bank *b = make_bank(rt, n, d, s, 1);
                double *rows = rows_double(b, n, d);
                float f[9 * 70];
                fill_random(f, batch * d, 3);
                int64_t pos[9], neg[9 * 40];
                for (size_t i = 0; i < batch; i++) pos[i] = (int64_t)(i * 31 % n);
                ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
                float out[9 * 41];
                double ref[9 * 41];
                ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, mode, out), LCT_OK);
                ref_similarity(rows, d, f, batch, pos, neg, k, mode >= 2, ref);
                for (size_t i = 0; i < batch * (k + 1); i++)
                    ck_assert_msg(fabs(out[i] - ref[i]) < 1e-5, "gen %d storage %d mode %d [%zu]: %g vs %g", gen, s,
                                  mode, i, out[i], ref[i]);
                free(rows);
                lct_bank_free(b);
                lct_runtime_free(rt);
            }
    }
    lct__test_control(LCT__TESTCTRL_SIMD_GENERIC, 0);
}
END_TEST

START_TEST(test_similarity_threads_identical_and_no_steady_alloc)
{
    const size_t n = 3000, d = 128, batch = 64, k = 256;
    float *o1 = malloc(batch * (k + 1) * 4), *o2 = malloc(batch * (k + 1) * 4), *f = malloc(batch * d * 4);
    fill_random(f, batch * d, 8);
    int64_t pos[64], *neg = malloc(batch * k * sizeof *neg);
    for (size_t i = 0; i < batch; i++) pos[i] = (int64_t)i;
    for (int mode = 0; mode < 3; mode += 2) {
        lct_runtime *rt = lct_test_runtime(1, 4);
        lct_bank *b = make_bank(rt, n, d, LCT_BANK_FP32, 1);
        ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
        ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, mode, o1), LCT_OK);
        ck_assert_int_eq(lct_bank_update(b, f, pos, batch, 0.5f), LCT_OK);
        size_t cur1, peak1, cur2, peak2;
        lct_runtime_memory(rt, &cur1, &peak1);
        lct_runtime_set_threads(rt, 2);
        ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
        ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, mode, o2), LCT_OK);
        ck_assert_int_eq(lct_bank_update(b, f, pos, batch, 0.5f), LCT_OK);
        lct_runtime_memory(rt, &cur2, &peak2);
        ck_assert_uint_eq(cur1, cur2); /* steady steps allocate nothing */
        ck_assert_uint_eq(peak1, peak2);
        lct_bank_free(b);
        lct_runtime_free(rt);
        /* Same again with one thread throughout: the second step must match o2 bit for bit. */
        rt = lct_test_runtime(1, 4);
        b = make_bank(rt, n, d, LCT_BANK_FP32, 1);
        ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
        ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, mode, o1), LCT_OK);
        ck_assert_int_eq(lct_bank_update(b, f, pos, batch, 0.5f), LCT_OK);
        ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
        ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, mode, o1), LCT_OK);
        ck_assert_mem_eq(o1, o2, batch * (k + 1) * 4);
        lct_bank_free(b);
        lct_runtime_free(rt);
    }
    free(o1);
    free(o2);
    free(f);
    free(neg);
}
END_TEST

START_TEST(test_similarity_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_bank *b = make_bank(rt, 10, 4, LCT_BANK_FP32, 0);
    float f[8] = {0}, out[2 * 4];
    int64_t pos[2] = {0, 1}, neg[6] = {1, 2, 3, 4, 5, 6};
    LCT_ASSERT_FAILS(lct_bank_similarity(NULL, f, 2, pos, neg, 3, 0, out), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, NULL, 2, pos, neg, 3, 0, out), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, NULL, neg, 3, 0, out), LCT_EINVAL, "pos_idx");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, NULL, 3, 0, out), LCT_EINVAL, "neg_idx");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 3, 0, NULL), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 0, pos, neg, 3, 0, out), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 0, 0, out), LCT_EINVAL, "k is 0");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 3, 9, out), LCT_EINVAL, "mode is 9");
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, SIZE_MAX / 4, pos, neg, 3, 0, out), LCT_ESHAPE, "overflows");
    pos[1] = 10;
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 3, 0, out), LCT_ERANGE, "pos_idx[1] is 10");
    pos[1] = 1;
    neg[5] = -3;
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 3, 0, out), LCT_ERANGE, "neg_idx[5] is -3");
    ck_assert_int_eq(lct_bank_similarity(b, f, 2, pos, neg, 3, LCT_BANK_SAMPLE_SHARED, out), LCT_OK); /* only 3 read */
    neg[5] = 6;
    f[6] = NAN;
    LCT_ASSERT_FAILS(lct_bank_similarity(b, f, 2, pos, neg, 3, 0, out), LCT_ENUMERIC, "NaN");
    f[6] = 0;
    LCT_ASSERT_FAILS(lct_bank_similarity_all(NULL, f, 2, 0, 10, out, 10), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, NULL, 2, 0, 10, out, 10), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 2, 0, 10, NULL, 10), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 0, 0, 10, out, 10), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 2, 0, 0, out, 10), LCT_EINVAL, "count is 0");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 2, 5, 6, out, 10), LCT_ERANGE, "exceed");
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 2, 0, 4, out, 3), LCT_ESHAPE, "ldo (3)");
    f[1] = INFINITY;
    LCT_ASSERT_FAILS(lct_bank_similarity_all(b, f, 2, 0, 4, out, 4), LCT_ENUMERIC, "NaN or Inf");
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_similarity_all_chunks)
{
    const size_t n = 2500, d = 33, batch = 5; /* more rows than one fp16 chunk */
    for (int s = 0; s < 2; s++) {
        lct_runtime *rt = lct_test_runtime(2, 6);
        lct_bank *b = make_bank(rt, n, d, s, 1);
        double *rows = rows_double(b, n, d);
        float f[5 * 33];
        fill_random(f, batch * d, 12);
        float *full = malloc(batch * n * 4), *part = malloc(batch * n * 4);
        ck_assert_int_eq(lct_bank_similarity_all(b, f, batch, 0, n, full, n), LCT_OK);
        for (size_t i = 0; i < batch; i++)
            for (size_t r = 0; r < n; r++) {
                double ref = 0;
                for (size_t t = 0; t < d; t++) ref += (double)f[i * d + t] * rows[r * d + t];
                ck_assert_msg(fabs(full[i * n + r] - ref) < 1e-5, "%zu %zu: %g vs %g", i, r, full[i * n + r], ref);
            }
        /* In pieces of 700 rows into the same full-width matrix. */
        for (size_t c = 0; c < n; c += 700)
            ck_assert_int_eq(lct_bank_similarity_all(b, f, batch, c, c + 700 <= n ? 700 : n - c, part + c, n), LCT_OK);
        ck_assert(lct_test_max_rel(full, part, batch * n, 1e-3) < 1e-5);
        free(full);
        free(part);
        free(rows);
        lct_bank_free(b);
        lct_runtime_free(rt);
    }
}
END_TEST

START_TEST(test_grad_matches_reference_and_finite_differences)
{
    const size_t n = 300, d = 24, batch = 6, k = 20;
    for (int s = 0; s < 2; s++)
        for (int mode = 0; mode < 4; mode += 2) {
            lct_runtime *rt = lct_test_runtime(2, 21);
            lct_bank *b = make_bank(rt, n, d, s, 1);
            double *rows = rows_double(b, n, d);
            float f[6 * 24], ds[6 * 21], df[6 * 24], df2[6 * 24];
            fill_random(f, batch * d, 1);
            fill_random(ds, batch * (k + 1), 2);
            int64_t pos[6] = {0, 5, 9, 5, 299, 100}, neg[6 * 20];
            ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, mode, neg), LCT_OK);
            ck_assert_int_eq(lct__bank_grad(b, ds, batch, pos, neg, k, mode, 0, df), LCT_OK);
            for (size_t i = 0; i < batch; i++)
                for (size_t t = 0; t < d; t++) {
                    double ref = 0;
                    for (size_t j = 0; j <= k; j++) {
                        int64_t r = j == 0 ? pos[i] : (mode >= 2 ? neg[j - 1] : neg[i * k + j - 1]);
                        ref += ds[i * (k + 1) + j] * rows[(size_t)r * d + t];
                    }
                    ck_assert_msg(fabs(df[i * d + t] - ref) < 1e-5, "%g vs %g", df[i * d + t], ref);
                }
            /* accumulate adds */
            for (size_t i = 0; i < batch * d; i++) df2[i] = 1.0f;
            ck_assert_int_eq(lct__bank_grad(b, ds, batch, pos, neg, k, mode, 1, df2), LCT_OK);
            for (size_t i = 0; i < batch * d; i++) ck_assert(fabs(df2[i] - 1.0f - df[i]) < 1e-5);
            /* central differences of L(f) = sum ds * S(f) through the public similarity */
            float out_p[6 * 21], out_m[6 * 21];
            for (size_t e = 0; e < batch * d; e += 7) {
                float save = f[e], h = 1e-2f;
                f[e] = save + h;
                lct_bank_similarity(b, f, batch, pos, neg, k, mode, out_p);
                float fp = f[e];
                f[e] = save - h;
                lct_bank_similarity(b, f, batch, pos, neg, k, mode, out_m);
                float fm = f[e];
                f[e] = save;
                double lp = 0, lm = 0;
                for (size_t i = 0; i < batch * (k + 1); i++) {
                    lp += (double)ds[i] * out_p[i];
                    lm += (double)ds[i] * out_m[i];
                }
                double fd = (lp - lm) / ((double)fp - (double)fm);
                ck_assert_msg(fabs(fd - df[e]) < 1e-3 * fmax(1.0, fabs(fd)), "fd %g vs %g", fd, df[e]);
            }
            /* grad_all against the reference over all rows */
            float *dsa = malloc(batch * n * 4);
            fill_random(dsa, batch * n, 5);
            ck_assert_int_eq(lct__bank_grad_all(b, dsa, batch, 0, n, n, 0, df), LCT_OK);
            for (size_t i = 0; i < batch; i++)
                for (size_t t = 0; t < d; t++) {
                    double ref = 0;
                    for (size_t r = 0; r < n; r++) ref += dsa[i * n + r] * rows[r * d + t];
                    ck_assert_msg(fabs(df[i * d + t] - ref) < 1e-4, "%g vs %g", df[i * d + t], ref);
                }
            /* and central differences of L(f) = sum dsa * S_all(f) through the public chunked call */
            float *sp = malloc(batch * n * 4), *sm = malloc(batch * n * 4);
            for (size_t e = 3; e < batch * d; e += 17) {
                float save = f[e], h = 1e-2f;
                f[e] = save + h;
                float fp = f[e];
                lct_bank_similarity_all(b, f, batch, 0, n, sp, n);
                f[e] = save - h;
                float fm = f[e];
                lct_bank_similarity_all(b, f, batch, 0, n, sm, n);
                f[e] = save;
                double lp = 0, lm = 0;
                for (size_t i = 0; i < batch * n; i++) {
                    lp += (double)dsa[i] * sp[i];
                    lm += (double)dsa[i] * sm[i];
                }
                double fd = (lp - lm) / ((double)fp - (double)fm);
                ck_assert_msg(fabs(fd - df[e]) < 2e-3 * fmax(1.0, fabs(fd)), "all: fd %g vs %g", fd, df[e]);
            }
            free(sp);
            free(sm);
            free(dsa);
            free(rows);
            lct_bank_free(b);
            lct_runtime_free(rt);
        }
}
END_TEST

/* Reference update applied sample by sample in batch order. */
static void ref_update(double *rows, size_t d, const float *f, const int64_t *idx, size_t batch, double m,
                       int normalize)
{
    for (size_t b = 0; b < batch; b++) {
        double *v = rows + (size_t)idx[b] * d, ss = 0;
        for (size_t t = 0; t < d; t++) {
            v[t] = m * v[t] + (1 - m) * f[b * d + t];
            ss += v[t] * v[t];
        }
        if (normalize)
            for (size_t t = 0; t < d; t++) v[t] /= sqrt(ss);
    }
}

START_TEST(test_update_matches_reference_with_duplicates)
{
    const size_t n = 40, d = 19, batch = 12;
    for (int s = 0; s < 2; s++)
        for (unsigned th = 1; th <= 2; th++) {
            lct_runtime *rt = lct_test_runtime(th, 8);
            lct_bank *b = make_bank(rt, n, d, s, 1);
            double *rows = rows_double(b, n, d);
            float f[12 * 19], got[40 * 19];
            fill_random(f, batch * d, 4);
            int64_t idx[12] = {3, 7, 3, 39, 0, 7, 3, 12, 13, 14, 15, 0};
            ck_assert_int_eq(lct_bank_update(b, f, idx, batch, 0.5f), LCT_OK);
            ref_update(rows, d, f, idx, batch, 0.5, 1);
            lct_bank_get_rows(b, 0, n, got);
            double tol = s ? 3e-3 : 2e-6;
            for (size_t i = 0; i < n * d; i++)
                ck_assert_msg(fabs(got[i] - rows[i]) < tol, "storage %d [%zu]: %g vs %g", s, i, got[i], rows[i]);
            /* Proximal with lambda = 3 is momentum 0.75; without normalisation. */
            lct_bank_update_options o;
            ck_assert_int_eq(lct_bank_update_options_init(&o, LCT_BANK_UPDATE_OPTIONS_VERSION), LCT_OK);
            ck_assert_int_eq(o.rule, LCT_BANK_UPDATE_MOMENTUM);
            ck_assert_float_eq(o.momentum, 0.5f);
            ck_assert_int_eq(o.normalize, 1);
            o.rule = LCT_BANK_UPDATE_PROXIMAL;
            o.lambda = 3.0f;
            o.normalize = 0;
            for (size_t i = 0; i < n * d; i++) rows[i] = got[i];
            ck_assert_int_eq(lct_bank_update_ex(b, f, idx, batch, &o), LCT_OK);
            ref_update(rows, d, f, idx, batch, 0.75, 0);
            lct_bank_get_rows(b, 0, n, got);
            for (size_t i = 0; i < n * d; i++)
                ck_assert_msg(fabs(got[i] - rows[i]) < tol, "storage %d [%zu]: %g vs %g", s, i, got[i], rows[i]);
            free(rows);
            lct_bank_free(b);
            lct_runtime_free(rt);
        }
}
END_TEST

START_TEST(test_update_bad_input_changes_nothing)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_bank *b = make_bank(rt, 10, 4, LCT_BANK_FP32, 1);
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8}, before[40], after[40];
    int64_t idx[2] = {1, 2};
    lct_bank_get_rows(b, 0, 10, before);
    LCT_ASSERT_FAILS(lct_bank_update(NULL, f, idx, 2, 0.5f), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_bank_update(b, NULL, idx, 2, 0.5f), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_bank_update(b, f, NULL, 2, 0.5f), LCT_EINVAL, "idx");
    LCT_ASSERT_FAILS(lct_bank_update(b, f, idx, 0, 0.5f), LCT_EINVAL, "lct_bank_update: batch is 0");
    LCT_ASSERT_FAILS(lct_bank_update(b, f, idx, 2, 1.5f), LCT_EINVAL, "momentum is 1.5");
    LCT_ASSERT_FAILS(lct_bank_update(b, f, idx, 2, NAN), LCT_EINVAL, "momentum is nan");
    idx[1] = 10;
    LCT_ASSERT_FAILS(lct_bank_update(b, f, idx, 2, 0.5f), LCT_ERANGE, "idx[1] is 10");
    idx[1] = 2;
    f[5] = NAN;
    LCT_ASSERT_FAILS(lct_bank_update(b, f, idx, 2, 0.5f), LCT_ENUMERIC, "NaN");
    f[5] = 6;
    lct_bank_update_options o;
    LCT_ASSERT_FAILS(lct_bank_update_options_init(NULL, 1), LCT_EINVAL, "opts");
    LCT_ASSERT_FAILS(lct_bank_update_options_init(&o, 2), LCT_EVERSION, "version is 2");
    lct_bank_update_options_init(&o, LCT_BANK_UPDATE_OPTIONS_VERSION);
    o.version = 0;
    LCT_ASSERT_FAILS(lct_bank_update_ex(b, f, idx, 2, &o), LCT_EVERSION, "version is 0");
    o.version = LCT_BANK_UPDATE_OPTIONS_VERSION;
    o.rule = 4;
    LCT_ASSERT_FAILS(lct_bank_update_ex(b, f, idx, 2, &o), LCT_EINVAL, "rule is 4");
    o.rule = LCT_BANK_UPDATE_PROXIMAL;
    o.lambda = -1;
    LCT_ASSERT_FAILS(lct_bank_update_ex(b, f, idx, 2, &o), LCT_EINVAL, "lambda is -1");
    o.lambda = 1;
    o.normalize = 3;
    LCT_ASSERT_FAILS(lct_bank_update_ex(b, f, idx, 2, &o), LCT_EINVAL, "normalize is 3");
    LCT_ASSERT_FAILS(lct_bank_update_ex(NULL, f, idx, 2, &o), LCT_EINVAL, "bank");
    lct_bank_get_rows(b, 0, 10, after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_int_eq(lct_bank_update_ex(b, f, idx, 2, NULL), LCT_OK); /* defaults: m = 0.5, normalised */
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_proximal_penalty_and_gradient)
{
    lct_runtime *rt = lct_test_runtime(1, 31);
    const size_t n = 30, d = 10, batch = 4;
    lct_bank *b = make_bank(rt, n, d, LCT_BANK_FP32, 1);
    double *rows = rows_double(b, n, d);
    float f[40], g[40];
    fill_random(f, batch * d, 7);
    int64_t idx[4] = {2, 29, 2, 0};
    const float lambda = 0.7f;
    memset(g, 0, sizeof g);
    double pen;
    ck_assert_int_eq(lct_bank_proximal(b, f, idx, batch, lambda, g, &pen), LCT_OK);
    double ref = 0;
    for (size_t i = 0; i < batch; i++)
        for (size_t t = 0; t < d; t++) {
            double diff = f[i * d + t] - rows[(size_t)idx[i] * d + t];
            ref += diff * diff;
        }
    ref *= lambda;
    ck_assert(fabs(pen - ref) < 1e-9 * fmax(1, ref));
    for (size_t e = 0; e < batch * d; e++) {
        float save = f[e];
        double pp, pm;
        f[e] = save + 1e-3f;
        float fp = f[e];
        lct_bank_proximal(b, f, idx, batch, lambda, NULL, &pp);
        f[e] = save - 1e-3f;
        float fm = f[e];
        lct_bank_proximal(b, f, idx, batch, lambda, NULL, &pm);
        f[e] = save;
        double fd = (pp - pm) / ((double)fp - (double)fm);
        ck_assert_msg(fabs(fd - g[e]) < 1e-4, "fd %g vs %g", fd, g[e]);
    }
    LCT_ASSERT_FAILS(lct_bank_proximal(NULL, f, idx, batch, lambda, g, &pen), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_bank_proximal(b, NULL, idx, batch, lambda, g, &pen), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, NULL, batch, lambda, g, &pen), LCT_EINVAL, "idx");
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, idx, 0, lambda, g, &pen), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, idx, batch, -1.0f, g, &pen), LCT_EINVAL, "lambda is -1");
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, idx, batch, INFINITY, g, &pen), LCT_EINVAL, "lambda is inf");
    idx[0] = 30;
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, idx, batch, lambda, g, &pen), LCT_ERANGE, "idx[0] is 30");
    idx[0] = 2;
    f[0] = NAN;
    LCT_ASSERT_FAILS(lct_bank_proximal(b, f, idx, batch, lambda, g, &pen), LCT_ENUMERIC, "NaN");
    free(rows);
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_fp16_conversion_matches_f16c)
{
    /* Every half converts to the same float on both paths, and back to itself. */
    uint16_t h[65536], back[65536];
    float a[65536], c[65536];
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    lct__half_to_float(h, a, 65536);
    lct__test_control(LCT__TESTCTRL_SIMD_GENERIC, 1);
    lct__half_to_float(h, c, 65536);
    lct__test_control(LCT__TESTCTRL_SIMD_GENERIC, 0);
    for (uint32_t i = 0; i < 65536; i++) {
        if ((i & 0x7c00u) == 0x7c00u && (i & 0x3ffu)) { /* NaN */
            ck_assert(isnan(a[i]) && isnan(c[i]));
            continue;
        }
        ck_assert_msg(memcmp(&a[i], &c[i], 4) == 0, "half %04x: %a vs %a", i, a[i], c[i]);
    }
    for (uint32_t i = 0; i < 65536; i++)
        if ((i & 0x7c00u) != 0x7c00u || !(i & 0x3ffu)) ck_assert_uint_eq(lct__f2h(a[i]), i);
    /* Random floats over the whole half range, ties and edges: scalar rounding = F16C rounding. */
    lct__rng r;
    lct__rng_seed(&r, 5, 5);
    static float x[65536];
    for (size_t i = 0; i < 65536; i++) {
        uint32_t bits = (uint32_t)lct__rng_next(&r);
        bits = (bits & 0x80000000u) | (0x30000000u + bits % 0x17800000u); /* |x| in about [2^-31, 2^16] */
        if (i % 4 == 0) bits = (bits & ~0x1fffu) | 0x1000u;                 /* exact ties */
        memcpy(&x[i], &bits, 4);
    }
    float edges[] = {65504.0f, 65519.99f, 65520.0f, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f, 0x1p-14f,
                     0x1.ffcp-15f, -0.0f, 1e30f, -1e30f};
    memcpy(x, edges, sizeof edges);
    lct__float_to_half(x, h, 65536);
    for (size_t i = 0; i < 65536; i++) back[i] = lct__f2h(x[i]);
    ck_assert_mem_eq(h, back, sizeof h);
}
END_TEST

START_TEST(test_step_workspace_matches_documented_size)
{
    const size_t n = 1000, d = 32, batch = 50, k = 300;
    lct_runtime *rt = lct_test_runtime(1, 2);
    lct_bank *b = make_bank(rt, n, d, LCT_BANK_FP32, 1);
    float *f = malloc(batch * d * 4), *out = malloc(batch * (k + 1) * 4);
    fill_random(f, batch * d, 1);
    int64_t pos[50], *neg = malloc(batch * k * 8);
    for (size_t i = 0; i < batch; i++) pos[i] = (int64_t)(i * 3);
    size_t c0, c1, c2;
    lct_runtime_memory(rt, &c0, NULL);
    ck_assert_int_eq(lct_bank_sample(b, pos, batch, k, LCT_BANK_SAMPLE_SHARED_EXCLUDE, neg), LCT_OK);
    ck_assert_int_eq(lct_bank_update(b, f, pos, batch, 0.5f), LCT_OK);
    lct_runtime_memory(rt, &c1, NULL);
    ck_assert_uint_eq(c1 - c0, 16 * batch); /* update order / exclusion set */
    ck_assert_int_eq(lct_bank_similarity(b, f, batch, pos, neg, k, LCT_BANK_SAMPLE_SHARED_EXCLUDE, out), LCT_OK);
    lct_runtime_memory(rt, &c2, NULL);
    ck_assert_uint_eq(c2 - c1, 4 * k * d); /* gathered shared negatives */
    /* smaller steps reuse what is there */
    ck_assert_int_eq(lct_bank_similarity(b, f, batch / 2, pos, neg, k / 2, LCT_BANK_SAMPLE_SHARED, out), LCT_OK);
    ck_assert_int_eq(lct_bank_update(b, f, pos, batch / 2, 0.5f), LCT_OK);
    lct_runtime_memory(rt, &c1, NULL);
    ck_assert_uint_eq(c1, c2);
    free(f);
    free(out);
    free(neg);
    lct_bank_free(b);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_fp16_within_documented_tolerance)
{
    /* Same rows in an fp32 and an fp16 bank: similarities differ by at most 2^-11 |f| |v| per
     * element pair summed, i.e. |s16 - s32| <= 2^-11 * sum_j |f_j v_j| (docs/bank.md). */
    const size_t n = 400, d = 128, batch = 16, k = 64;
    lct_runtime *rt = lct_test_runtime(1, 3);
    lct_bank *b32 = make_bank(rt, n, d, LCT_BANK_FP32, 1), *b16 = make_bank(rt, n, d, LCT_BANK_FP16, 0);
    float *rows = malloc(n * d * 4), *f = malloc(batch * d * 4);
    lct_bank_get_rows(b32, 0, n, rows);
    ck_assert_int_eq(lct_bank_set_rows(b16, 0, n, rows), LCT_OK);
    fill_random(f, batch * d, 5);
    int64_t pos[16], neg[16 * 64];
    for (size_t i = 0; i < batch; i++) pos[i] = (int64_t)(i * 7);
    ck_assert_int_eq(lct_bank_sample(b32, pos, batch, k, 0, neg), LCT_OK);
    float o32[16 * 65], o16[16 * 65];
    ck_assert_int_eq(lct_bank_similarity(b32, f, batch, pos, neg, k, 0, o32), LCT_OK);
    ck_assert_int_eq(lct_bank_similarity(b16, f, batch, pos, neg, k, 0, o16), LCT_OK);
    for (size_t i = 0; i < batch; i++)
        for (size_t j = 0; j <= k; j++) {
            int64_t r = j == 0 ? pos[i] : neg[i * k + j - 1];
            double bound = 0;
            for (size_t t = 0; t < d; t++) bound += fabs((double)f[i * d + t] * rows[(size_t)r * d + t]);
            bound = bound * 0x1p-11 + 1e-6;
            ck_assert_msg(fabs(o16[i * (k + 1) + j] - o32[i * (k + 1) + j]) <= bound, "%g vs %g (bound %g)",
                          o16[i * (k + 1) + j], o32[i * (k + 1) + j], bound);
        }
    /* An updated row: ||v16 - v32|| <= 2^-11 (1 + 2 m ||v_old|| / ||m v_old + (1 - m) f||) (docs/bank.md):
     * the final rounding, plus the rounding of the stored old row amplified by the normalisation. */
    const double m = 0.5;
    ck_assert_int_eq(lct_bank_update(b32, f, pos, batch, (float)m), LCT_OK);
    ck_assert_int_eq(lct_bank_update(b16, f, pos, batch, (float)m), LCT_OK);
    float *r32 = malloc(n * d * 4), *r16 = malloc(n * d * 4);
    lct_bank_get_rows(b32, 0, n, r32);
    lct_bank_get_rows(b16, 0, n, r16);
    for (size_t i = 0; i < batch; i++) {
        size_t r = (size_t)pos[i];
        double old2 = 0, blend2 = 0, diff2 = 0;
        for (size_t t = 0; t < d; t++) {
            double v = rows[r * d + t], bl = m * v + (1 - m) * f[i * d + t];
            old2 += v * v;
            blend2 += bl * bl;
            diff2 += ((double)r16[r * d + t] - r32[r * d + t]) * ((double)r16[r * d + t] - r32[r * d + t]);
        }
        double bound = 0x1p-11 * (1 + 2 * m * sqrt(old2) / sqrt(blend2)) * 1.05;
        ck_assert_msg(sqrt(diff2) <= bound, "row %zu: %g > %g", r, sqrt(diff2), bound);
    }
    free(rows);
    free(f);
    free(r32);
    free(r16);
    lct_bank_free(b32);
    lct_bank_free(b16);
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_options_and_bytes);
    tcase_add_test(tc, test_new_bad_input);
    tcase_add_test(tc, test_init_uniform_normalised_deterministic);
    tcase_add_test(tc, test_host_buffer_borrowed_and_zero_init);
    tcase_add_test(tc, test_rows_get_set_gather);
    tcase_add_test(tc, test_gather_absurd_count_refused_before_reading);
    tcase_add_test(tc, test_sample_uniform_exclusion_shared);
    tcase_add_test(tc, test_sample_deterministic_any_threads);
    tcase_add_test(tc, test_sample_bad_input);
    tcase_add_test(tc, test_similarity_matches_reference);
    tcase_add_test(tc, test_similarity_threads_identical_and_no_steady_alloc);
    tcase_add_test(tc, test_similarity_bad_input);
    tcase_add_test(tc, test_similarity_all_chunks);
    tcase_add_test(tc, test_grad_matches_reference_and_finite_differences);
    tcase_add_test(tc, test_update_matches_reference_with_duplicates);
    tcase_add_test(tc, test_update_bad_input_changes_nothing);
    tcase_add_test(tc, test_proximal_penalty_and_gradient);
    tcase_add_test(tc, test_fp16_conversion_matches_f16c);
    tcase_add_test(tc, test_unchecked_twins_match_public);
    tcase_add_test(tc, test_step_workspace_matches_documented_size);
    tcase_add_test(tc, test_fp16_within_documented_tolerance);
}

int main(void)
{
    return lct_test_main("bank", "bank", 120, add_tests);
}
