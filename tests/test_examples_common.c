/*
 * The helpers shared by the example programs (examples/common): IDX reader and Fashion-MNIST
 * loader, PNG writer, plotting and its font, PCA, progress line, flags, and the pieces of the
 * training programs' loop (train.h, loop.h, eval.h's knn_eval, numeric.h).
 */
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "eval.h"
#include "files.h"
#include "flags.h"
#include "font.h"
#include "idx.h"
#include "loop.h"
#include "numeric.h"
#include "pca.h"
#include "plot.h"
#include "png.h"
#include "progress.h"
#include "train.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lct-examples-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX file: magic (0, 0, dtype, ndim), dims, then `data_bytes` bytes of a known pattern. */
static void write_idx(const char *path, int gz, uint8_t dtype, int ndim, const uint32_t *dims, size_t data_bytes)
{
    uint8_t head[4 + 4 * 16];
    head[0] = 0, head[1] = 0, head[2] = dtype, head[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) be32(head + 4 + 4 * i, dims[i]);
    uint8_t *data = malloc(data_bytes + 1);
    for (size_t i = 0; i < data_bytes; i++) data[i] = (uint8_t)(i * 7 + 3);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, head, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
        if (data_bytes) ck_assert_int_eq(gzwrite(f, data, (unsigned)data_bytes), (int)data_bytes);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(head, 1, 4 + 4 * (size_t)ndim, f), 4 + 4 * (size_t)ndim);
        ck_assert_uint_eq(fwrite(data, 1, data_bytes, f), data_bytes);
        ck_assert_int_eq(fclose(f), 0);
    }
    free(data);
}

#define read_file lct_test_read_file
#define write_file lct_test_write_file

/* The call must fail with `code` and a message containing `needle` (example helpers' ex_error()). */
#define EX_ASSERT_FAILS(call, code, needle)                                                        \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        ck_assert_msg(rc__ == (code), "%s returned %d, expected %d; message: %s", #call, rc__,     \
                      (int)(code), ex_error());                                                    \
        ck_assert_msg(strstr(ex_error(), (needle)) != NULL, "message '%s' lacks '%s'", ex_error(), \
                      (const char *)(needle));                                                     \
    } while (0)

/* ---- IDX ---------------------------------------------------------------------------------- */

START_TEST(test_idx_round_trip)
{
    make_tmpdir();
    const uint32_t dims[3] = {5, 4, 3};
    for (int gz = 0; gz <= 1; gz++) {
        char path[512];
        tmp_path(path, sizeof path, gz ? "a-idx3-ubyte.gz" : "a-idx3-ubyte");
        write_idx(path, gz, 0x08, 3, dims, 60);
        idx_array a;
        ck_assert_int_eq(idx_read(path, &a, 0), 0);
        ck_assert_int_eq(a.ndim, 3);
        ck_assert_uint_eq(a.dims[0], 5);
        ck_assert_uint_eq(a.dims[1], 4);
        ck_assert_uint_eq(a.dims[2], 3);
        ck_assert_uint_eq(a.dims[3], 0);
        ck_assert_uint_eq(a.count, 60);
        for (size_t i = 0; i < 60; i++) ck_assert_uint_eq(a.data[i], (uint8_t)(i * 7 + 3));
        idx_free(&a);
        ck_assert_ptr_null(a.data);
        idx_free(&a); /* twice is harmless */
    }
    /* A large 1-D file read through several growth steps of the buffer. */
    char path[512];
    tmp_path(path, sizeof path, "big-idx1-ubyte.gz");
    const uint32_t big[1] = {3000000};
    write_idx(path, 1, 0x08, 1, big, 3000000);
    idx_array a;
    ck_assert_int_eq(idx_read(path, &a, 0), 0);
    ck_assert_uint_eq(a.count, 3000000);
    for (size_t i = 0; i < a.count; i += 9973) ck_assert_uint_eq(a.data[i], (uint8_t)(i * 7 + 3));
    ck_assert_uint_eq(a.data[a.count - 1], (uint8_t)((a.count - 1) * 7 + 3));
    idx_free(&a);
    idx_free(NULL);
    remove_tmpdir();
}
END_TEST

START_TEST(test_idx_rejects_bad_files)
{
    make_tmpdir();
    char path[512];
    idx_array a;
    tmp_path(path, sizeof path, "t.gz");
    const uint32_t dims[3] = {5, 4, 3};

    write_idx(path, 1, 0x08, 3, dims, 59); /* one byte short */
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "truncated");
    ck_assert_ptr_null(a.data);
    ck_assert_int_eq(a.ndim, 0);
    write_idx(path, 0, 0x08, 3, dims, 0); /* header only */
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "claims 60 data bytes, the file holds 0");
    write_idx(path, 1, 0x08, 3, dims, 61); /* header claims less than the file holds */
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "trailing data");
    write_idx(path, 1, 0x08, 0, dims, 0);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "0 dimensions");
    const uint32_t many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    write_idx(path, 1, 0x08, 9, many, 1);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "9 dimensions");
    write_idx(path, 1, 0x0D, 3, dims, 60 * 4); /* float32 data */
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "dtype 0x0d");
    const uint32_t zero[2] = {3, 0};
    write_idx(path, 1, 0x08, 2, zero, 0);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "dimension 1 is 0");

    /* Headers whose sizes overflow size_t, or exceed the limit, are refused before any allocation. */
    const uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    write_idx(path, 1, 0x08, 3, huge, 16);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "limit");
    const uint32_t two[2] = {1000, 1000};
    write_idx(path, 1, 0x08, 2, two, 1000000);
    EX_ASSERT_FAILS(idx_read(path, &a, 999999), LCT_EFORMAT, "999999-byte limit");
    ck_assert_int_eq(idx_read(path, &a, 1000000), 0);
    idx_free(&a);
    /* A header that lies about 512 MiB of data (under the 1 GiB default limit) but holds 100 bytes. */
    const uint32_t liar[1] = {1u << 29};
    write_idx(path, 1, 0x08, 1, liar, 100);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "the file holds 100");

    /* Not IDX at all, too short for a header, missing, corrupt gzip. */
    const uint8_t junk[6] = {'h', 'e', 'l', 'l', 'o', '\n'};
    write_file(path, junk, 6);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "not an IDX file");
    write_file(path, junk + 4, 0);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "0 of the 4 magic bytes");
    const uint8_t short_head[6] = {0, 0, 8, 2, 0, 0};
    write_file(path, short_head, 6);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "truncated header");
    tmp_path(path, sizeof path, "missing.gz");
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EIO, "cannot open");
    tmp_path(path, sizeof path, "t.gz");
    write_idx(path, 1, 0x08, 3, dims, 60);
    size_t size;
    uint8_t *bytes = read_file(path, &size);
    bytes[size - 6] ^= 0x5a; /* inside the CRC-32 of the gzip trailer */
    write_file(path, bytes, size);
    EX_ASSERT_FAILS(idx_read(path, &a, 0), LCT_EFORMAT, "read failed");
    write_file(path, bytes, size / 2); /* gzip stream cut in the middle */
    ck_assert_int_eq(idx_read(path, &a, 0), LCT_EFORMAT);
    ck_assert_ptr_null(a.data);
    free(bytes);

    EX_ASSERT_FAILS(idx_read(NULL, &a, 0), LCT_EINVAL, "'path'");
    EX_ASSERT_FAILS(idx_read(path, NULL, 0), LCT_EINVAL, "'out'");
    remove_tmpdir();
}
END_TEST

/* Mutated and cut copies of a valid file: every outcome is success with sizes that match the file,
 * or LCT_EFORMAT; never a crash or an over-read (the suite also runs under AddressSanitizer). */
START_TEST(test_idx_mutations)
{
    make_tmpdir();
    char good[512], path[512];
    tmp_path(good, sizeof good, "good");
    tmp_path(path, sizeof path, "mutant");
    const uint32_t dims[3] = {2, 3, 4};
    write_idx(good, 0, 0x08, 3, dims, 24);
    size_t size;
    uint8_t *orig = read_file(good, &size);
    ck_assert_uint_eq(size, 16 + 24);
    uint8_t buf[64];
    uint64_t s = 7;
    int ok = 0, rejected = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(buf, orig, size);
        size_t len = size;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int edits = 1 + (int)(s >> 60) % 3;
        for (int e = 0; e < edits; e++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            buf[(s >> 33) % 16] = (uint8_t)(s >> 20); /* header bytes */
        }
        if (iter % 3 == 0) len = (size_t)((s >> 40) % (size + 1)); /* and cut */
        write_file(path, buf, len);
        idx_array a;
        int rc = idx_read(path, &a, 0);
        ck_assert_msg(rc == 0 || rc == LCT_EFORMAT, "iteration %d: %d (%s)", iter, rc, ex_error());
        if (rc == 0) {
            size_t prod = 1;
            for (int i = 0; i < a.ndim; i++) prod *= a.dims[i];
            ck_assert_uint_eq(prod, a.count);
            ck_assert_uint_eq(4 + 4 * (size_t)a.ndim + a.count, len); /* exactly the file's data */
            ck_assert_int_eq(memcmp(a.data, buf + 4 + 4 * a.ndim, a.count), 0);
            idx_free(&a);
            ok++;
        } else {
            ck_assert_ptr_null(a.data);
            rejected++;
        }
    }
    ck_assert_int_eq(ok + rejected, 400);
    ck_assert_int_gt(rejected, 300);
    free(orig);
    remove_tmpdir();
}
END_TEST

/* A small fake Fashion-MNIST folder: n images of 28 x 28 and n labels (i % 10 unless `bad_label`). */
static void write_fake_fmnist(const char *prefix, uint32_t n, uint32_t side, uint32_t n_labels, int bad_label)
{
    char path[512], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", prefix);
    tmp_path(path, sizeof path, name);
    const uint32_t idims[3] = {n, side, side};
    write_idx(path, 1, 0x08, 3, idims, (size_t)n * side * side);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix); /* plain file: the .gz-less fallback */
    tmp_path(path, sizeof path, name);
    uint8_t head[8] = {0, 0, 8, 1};
    be32(head + 4, n_labels);
    FILE *f = fopen(path, "wb");
    fwrite(head, 1, 8, f);
    for (uint32_t i = 0; i < n_labels; i++) fputc(bad_label && i == 1 ? 10 : (int)(i % 10), f);
    fclose(f);
}

START_TEST(test_fmnist_loader_on_fake_folder)
{
    make_tmpdir();
    ck_assert_int_eq(fmnist_available(tmpdir), 0);
    write_fake_fmnist("train", 12, 28, 12, 0);
    write_fake_fmnist("t10k", 3, 28, 3, 0);
    ck_assert_int_eq(fmnist_available(tmpdir), 1);
    fmnist f;
    ck_assert_int_eq(fmnist_load(tmpdir, &f), 0);
    ck_assert_uint_eq(f.train.n, 12);
    ck_assert_uint_eq(f.test.n, 3);
    for (size_t i = 0; i < 12; i++) ck_assert_uint_eq(f.train.labels[i], i % 10);
    for (size_t i = 0; i < 3 * FMNIST_PIXELS; i += 97) ck_assert_uint_eq(f.test.images[i], (uint8_t)(i * 7 + 3));
    fmnist_free(&f);
    ck_assert_ptr_null(f.train.images);
    fmnist_free(NULL);

    fmnist_split s;
    write_fake_fmnist("t10k", 3, 28, 4, 0);
    EX_ASSERT_FAILS(fmnist_load_split(tmpdir, 1, &s), LCT_EFORMAT, "4 labels (1 dimensions) for 3 images");
    ck_assert_ptr_null(s.images);
    write_fake_fmnist("t10k", 3, 28, 3, 1);
    EX_ASSERT_FAILS(fmnist_load_split(tmpdir, 1, &s), LCT_EFORMAT, "label 1 is 10");
    write_fake_fmnist("t10k", 3, 27, 3, 0);
    EX_ASSERT_FAILS(fmnist_load_split(tmpdir, 1, &s), LCT_EFORMAT, "not N x 28 x 28");
    fmnist f2;
    EX_ASSERT_FAILS(fmnist_load(tmpdir, &f2), LCT_EFORMAT, "not N x 28 x 28"); /* train loads, test fails */
    ck_assert_ptr_null(f2.train.images);
    char missing[512];
    tmp_path(missing, sizeof missing, "nowhere");
    EX_ASSERT_FAILS(fmnist_load_split(missing, 0, &s), LCT_EIO, "train-images-idx3-ubyte.gz");
    ck_assert_int_eq(fmnist_available(missing), 0);
    EX_ASSERT_FAILS(fmnist_load_split(tmpdir, 0, NULL), LCT_EINVAL, "'out'");
    EX_ASSERT_FAILS(fmnist_load(tmpdir, NULL), LCT_EINVAL, "'out'");
    ck_assert_str_eq(fmnist_class_names[0], "T-shirt/top");
    ck_assert_str_eq(fmnist_class_names[9], "Ankle boot");
    remove_tmpdir();
}
END_TEST

START_TEST(test_fmnist_real_test_split)
{
    if (!fmnist_available(NULL)) {
        printf("skipped: no Fashion-MNIST in %s (package dataset-fashion-mnist)\n", FMNIST_DEFAULT_DIR);
        return;
    }
    fmnist_split s;
    ck_assert_int_eq(fmnist_load_split(NULL, 1, &s), 0);
    ck_assert_uint_eq(s.n, 10000);
    size_t per_class[10] = {0};
    double mean = 0;
    for (size_t i = 0; i < s.n; i++) per_class[s.labels[i]]++;
    for (int k = 0; k < 10; k++) ck_assert_uint_eq(per_class[k], 1000); /* the test set is balanced */
    for (size_t i = 0; i < s.n * FMNIST_PIXELS; i++) mean += s.images[i];
    mean /= (double)(s.n * FMNIST_PIXELS);
    ck_assert_msg(mean > 60 && mean < 80, "mean grey level %.2f", mean); /* about 72.9 */
    fmnist_split_free(&s);
}
END_TEST

/* ---- PNG ---------------------------------------------------------------------------------- */

/* Reference CRC-32 (IEEE, reflected, polynomial 0xEDB88320), bit by bit. */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decode a PNG written by the helper: checks signature, chunk order and CRCs, IHDR, filter bytes.
 * Returns the pixels (w x h x 3, malloc'ed). */
static uint8_t *decode_png(const uint8_t *png, size_t size, uint32_t *w, uint32_t *h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_uint_ge(size, 8 + 25 + 12 + 12);
    ck_assert_int_eq(memcmp(png, sig, 8), 0);
    size_t at = 8, zsize = 0;
    uint8_t *z = malloc(size);
    int chunk = 0, seen_end = 0;
    while (at < size) {
        ck_assert_uint_le(at + 12, size);
        uint32_t len = get_be32(png + at);
        ck_assert_uint_le(at + 12 + len, size);
        const uint8_t *type = png + at + 4, *data = png + at + 8;
        ck_assert_uint_eq(get_be32(data + len), ref_crc32(type, 4 + (size_t)len));
        if (chunk == 0) {
            ck_assert_int_eq(memcmp(type, "IHDR", 4), 0);
            ck_assert_uint_eq(len, 13);
            *w = get_be32(data);
            *h = get_be32(data + 4);
            ck_assert_uint_eq(data[8], 8);  /* bit depth */
            ck_assert_uint_eq(data[9], 2);  /* RGB */
            ck_assert_uint_eq(data[10], 0); /* deflate */
            ck_assert_uint_eq(data[11], 0);
            ck_assert_uint_eq(data[12], 0); /* no interlace */
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(z + zsize, data, len);
            zsize += len;
        } else {
            ck_assert_int_eq(memcmp(type, "IEND", 4), 0);
            ck_assert_uint_eq(len, 0);
            seen_end = 1;
        }
        at += 12 + (size_t)len;
        chunk++;
        if (seen_end) break;
    }
    ck_assert_int_eq(seen_end, 1);
    ck_assert_uint_eq(at, size);
    size_t row = (size_t)*w * 3 + 1;
    uLongf raw_size = (uLongf)(row * *h);
    uint8_t *raw = malloc(raw_size + 1);
    uLongf got = raw_size + 1;
    ck_assert_int_eq(uncompress(raw, &got, z, (uLong)zsize), Z_OK);
    ck_assert_uint_eq(got, raw_size);
    uint8_t *pix = malloc(row * *h);
    for (uint32_t y = 0; y < *h; y++) {
        ck_assert_uint_eq(raw[y * row], 0); /* filter None */
        memcpy(pix + (size_t)y * (row - 1), raw + y * row + 1, row - 1);
    }
    free(raw);
    free(z);
    return pix;
}

static uint8_t *decode_png_file(const char *path, uint32_t *w, uint32_t *h)
{
    size_t size;
    uint8_t *png = read_file(path, &size);
    uint8_t *pix = decode_png(png, size, w, h);
    free(png);
    return pix;
}

START_TEST(test_png_encodes_and_decodes)
{
    const uint32_t w = 37, h = 11;
    uint8_t *rgb = malloc(w * h * 3);
    for (size_t i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 31 + (i >> 5));
    uint8_t *png;
    size_t size;
    ck_assert_int_eq(rgb_encode_png(rgb, w, h, &png, &size), 0);
    uint32_t dw, dh;
    uint8_t *pix = decode_png(png, size, &dw, &dh);
    ck_assert_uint_eq(dw, w);
    ck_assert_uint_eq(dh, h);
    ck_assert_int_eq(memcmp(pix, rgb, w * h * 3), 0);
    ck_assert_uint_eq(pix[(5 * w + 7) * 3 + 1], (uint8_t)(((5 * w + 7) * 3 + 1) * 31 + (((5 * w + 7) * 3 + 1) >> 5)));
    free(pix);

    /* The file holds the same bytes, and nothing but the file is left in the folder. */
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "x.png");
    ck_assert_int_eq(rgb_write_png(path, rgb, w, h), 0);
    ck_assert_int_eq(rgb_write_png(path, rgb, w, h), 0); /* replaces an existing file */
    size_t fsize;
    uint8_t *file = read_file(path, &fsize);
    ck_assert_uint_eq(fsize, size);
    ck_assert_int_eq(memcmp(file, png, size), 0);
    free(file);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s' | wc -l)\" -eq 1", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    remove_tmpdir();
    free(png);
    free(rgb);
}
END_TEST

START_TEST(test_png_bad_input)
{
    uint8_t rgb[12] = {0}, *png = (uint8_t *)rgb;
    size_t size = 5;
    EX_ASSERT_FAILS(rgb_encode_png(NULL, 2, 2, &png, &size), LCT_EINVAL, "'rgb'");
    ck_assert_ptr_null(png);
    ck_assert_uint_eq(size, 0);
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 0, 2, &png, &size), LCT_EINVAL, "width is 0");
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 2, 0, &png, &size), LCT_EINVAL, "height is 0");
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 0x80000000u, 2, &png, &size), LCT_EINVAL, "width is 2147483648");
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 100000, 100000, &png, &size), LCT_EINVAL, "4 GiB");
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 2, 2, NULL, &size), LCT_EINVAL, "'out'");
    EX_ASSERT_FAILS(rgb_encode_png(rgb, 2, 2, &png, NULL), LCT_EINVAL, "'out_size'");
    EX_ASSERT_FAILS(rgb_write_png(NULL, rgb, 2, 2), LCT_EINVAL, "'path'");
    EX_ASSERT_FAILS(rgb_write_png("/nonexistent-dir/x.png", rgb, 2, 2), LCT_EIO, "cannot create");
    ck_assert_int_ne(access("/nonexistent-dir/x.png", F_OK), 0);
}
END_TEST

/* ---- font, canvas, axes ------------------------------------------------------------------ */

START_TEST(test_font_glyphs)
{
    const char *needed = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-+/()[]<>%=_'\"!?#*&|";
    for (const char *c = needed; *c; c++) ck_assert_msg(font_has_glyph(*c), "no glyph for '%c'", *c);
    ck_assert(font_has_glyph('a'));
    ck_assert(!font_has_glyph('~'));
    ck_assert_ptr_eq(font_glyph('~'), font_glyph('?'));
    ck_assert_ptr_eq(font_glyph('q'), font_glyph('Q'));
    /* Every glyph is 7 rows of 5 cells, ink or paper; visible characters have ink. */
    for (int c = 0; c < 128; c++) {
        if (!font_has_glyph((char)c)) continue;
        const char *const *g = font_glyph((char)c);
        int ink = 0;
        for (int r = 0; r < FONT_H; r++) {
            ck_assert_uint_eq(strlen(g[r]), FONT_W);
            for (int k = 0; k < FONT_W; k++) {
                ck_assert(g[r][k] == '#' || g[r][k] == ' ');
                ink += g[r][k] == '#';
            }
        }
        ck_assert_msg(c == ' ' || ink > 0, "glyph '%c' is empty", c);
    }
    /* Distinct characters look distinct. */
    for (const char *a = needed; *a; a++)
        for (const char *b = a + 1; *b; b++) {
            int same = 1;
            for (int r = 0; r < FONT_H && same; r++) same = strcmp(font_glyph(*a)[r], font_glyph(*b)[r]) == 0;
            ck_assert_msg(!same, "'%c' and '%c' share a glyph", *a, *b);
        }
}
END_TEST

static int count_color(const canvas *c, rgb8 col)
{
    int n = 0;
    for (int i = 0; i < c->width * c->height; i++)
        n += c->pixels[3 * i] == col.r && c->pixels[3 * i + 1] == col.g && c->pixels[3 * i + 2] == col.b;
    return n;
}

static const uint8_t *px(const canvas *c, int x, int y)
{
    return c->pixels + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
}

START_TEST(test_canvas_text)
{
    const rgb8 white = {255, 255, 255}, ink = {10, 20, 30};
    canvas c;
    ck_assert_int_eq(canvas_init(&c, 120, 40, white), 0);
    ck_assert_int_eq(count_color(&c, white), 120 * 40);
    ck_assert_int_eq(text_width("AB", 2), 22);
    ck_assert_int_eq(text_width("", 2), 0);
    ck_assert_int_eq(text_height(3), 21);
    ck_assert_int_eq(canvas_text(&c, 3, 4, "W1", ink, 2), 22);
    int ink_cells = 0;
    for (const char *s = "W1"; *s; s++)
        for (int r = 0; r < FONT_H; r++)
            for (int k = 0; k < FONT_W; k++) ink_cells += font_glyph(*s)[r][k] == '#';
    ck_assert_int_eq(count_color(&c, ink), ink_cells * 4);
    /* Font cell (row r, column k) of the first glyph covers pixels (3 + 2k .. , 4 + 2r ..). */
    for (int r = 0; r < FONT_H; r++)
        for (int k = 0; k < FONT_W; k++)
            ck_assert_uint_eq(px(&c, 3 + 2 * k + 1, 4 + 2 * r + 1)[0], font_glyph('W')[r][k] == '#' ? 10 : 255);

    /* Lower case renders as upper case. */
    canvas d;
    ck_assert_int_eq(canvas_init(&d, 120, 40, white), 0);
    canvas_text(&d, 3, 4, "w1", ink, 2);
    ck_assert_int_eq(memcmp(c.pixels, d.pixels, 120 * 40 * 3), 0);

    /* Upward text is the same picture turned 90 degrees counter-clockwise. */
    canvas up;
    int w = text_width("L7", 1), hgt = text_height(1);
    ck_assert_int_eq(canvas_init(&up, hgt, w, white), 0);
    canvas_release(&d);
    ck_assert_int_eq(canvas_init(&d, w, hgt, white), 0);
    canvas_text(&d, 0, 0, "L7", ink, 1);
    canvas_text_up(&up, 0, 0, "L7", ink, 1);
    for (int y = 0; y < hgt; y++)
        for (int x = 0; x < w; x++) ck_assert_uint_eq(px(&d, x, y)[0], px(&up, y, w - 1 - x)[0]);
    canvas_release(&c);
    canvas_release(&d);
    canvas_release(&up);
    canvas_release(&up);
    canvas_release(NULL);
}
END_TEST

START_TEST(test_canvas_shapes)
{
    const rgb8 white = {255, 255, 255}, red = {200, 0, 0};
    canvas c;
    ck_assert_int_eq(canvas_init(&c, 60, 50, white), 0);
    canvas_fill_rect(&c, -5, -5, 10, 8, red); /* clipped to 5 x 3 */
    ck_assert_int_eq(count_color(&c, red), 15);
    canvas_fill_rect(&c, 58, 48, 10, 10, red);
    ck_assert_int_eq(count_color(&c, red), 19);
    canvas_release(&c);

    ck_assert_int_eq(canvas_init(&c, 60, 50, white), 0);
    canvas_line(&c, 10, 20, 40, 20, 1.0, red, 1.0f);
    for (int x = 10; x <= 40; x++) ck_assert_uint_eq(px(&c, x, 20)[0], 200);
    ck_assert_uint_eq(px(&c, 25, 23)[0], 255);
    ck_assert_uint_eq(px(&c, 25, 17)[0], 255);
    ck_assert_uint_eq(px(&c, 45, 20)[0], 255);
    /* A diagonal line passes through the pixels on its path. */
    canvas_line(&c, 5, 5, 25, 15, 2.0, red, 1.0f);
    ck_assert_uint_eq(px(&c, 15, 10)[1], 0);
    ck_assert_uint_eq(px(&c, 15, 3)[1], 255);
    canvas_line(&c, NAN, 0, 10, 10, 1.0, red, 1.0f); /* ignored */
    canvas_release(&c);

    /* A disc covers about pi r^2 pixels (coverage-weighted), centred where asked. */
    ck_assert_int_eq(canvas_init(&c, 60, 50, white), 0);
    canvas_disc(&c, 30, 25, 8.0, (rgb8){0, 0, 0}, 1.0f);
    double area = 0;
    for (int i = 0; i < 60 * 50; i++) area += (255 - c.pixels[3 * i]) / 255.0;
    ck_assert_msg(fabs(area - M_PI * 64) < 0.03 * M_PI * 64, "disc area %.1f", area);
    ck_assert_uint_eq(px(&c, 30, 25)[0], 0);
    ck_assert_uint_eq(px(&c, 30, 35)[0], 255);
    canvas_disc(&c, 100, 100, 5, red, 1.0f); /* outside: nothing drawn, no crash */
    canvas_blend(&c, -1, 3, red, 1.0f);
    /* Blending at half opacity lands half-way. */
    canvas_blend(&c, 1, 1, (rgb8){55, 55, 55}, 0.5f);
    ck_assert_uint_eq(px(&c, 1, 1)[0], 155);
    canvas_release(&c);

    EX_ASSERT_FAILS(canvas_init(&c, 0, 5, white), LCT_EINVAL, "width is 0");
    ck_assert_ptr_null(c.pixels);
    EX_ASSERT_FAILS(canvas_init(&c, 5, 20000, white), LCT_EINVAL, "height is 20000");
    EX_ASSERT_FAILS(canvas_init(NULL, 5, 5, white), LCT_EINVAL, "'c'");
    EX_ASSERT_FAILS(canvas_write_png(&c, "/tmp/never.png"), LCT_EINVAL, "empty");
}
END_TEST

/* Reference: the smallest 1/2/5 x 10^k step with at most max ticks in [lo, hi]. */
static double ref_step(double lo, double hi, int max)
{
    for (int e = -12; e <= 12; e++)
        for (int m = 0; m < 3; m++) {
            double s = (m == 0 ? 1 : m == 1 ? 2 : 5) * pow(10, e);
            double count = floor(hi / s + 1e-9) - ceil(lo / s - 1e-9) + 1;
            if (count <= max) return s;
        }
    return 0;
}

START_TEST(test_nice_ticks_and_labels)
{
    double first, step;
    ck_assert_int_eq(nice_ticks(0, 10, 6, &first, &step), 6);
    ck_assert_double_eq_tol(step, 2, 1e-12);
    ck_assert_double_eq_tol(first, 0, 1e-12);
    ck_assert_int_eq(nice_ticks(0.13, 0.97, 5, &first, &step), 4);
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    ck_assert_double_eq_tol(first, 0.2, 1e-12);
    ck_assert_int_eq(nice_ticks(1, 1, 5, &first, &step), 0);
    ck_assert_int_eq(nice_ticks(2, 1, 5, &first, &step), 0);
    ck_assert_int_eq(nice_ticks(0, INFINITY, 5, &first, &step), 0);
    uint64_t s = 12345;
    for (int t = 0; t < 2000; t++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double lo = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(s % 9) - 4);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double hi = lo + (double)(s >> 11) / 9007199254740992.0 * pow(10, (int)(s % 7) - 3) + 1e-6;
        int max = 3 + (int)(s % 6);
        int n = nice_ticks(lo, hi, max, &first, &step);
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, max);
        ck_assert_double_eq_tol(step, ref_step(lo, hi, max), step * 1e-9);
        ck_assert(first >= lo - step * 1e-6 && first - step < lo);
        ck_assert(first + (n - 1) * step <= hi + step * 1e-6);
    }
    plot_axes ax = {.left = 0, .top = 0, .width = 100, .height = 100, .x0 = 0.5, .x1 = 3.5, .y0 = 0, .y1 = 1};
    ck_assert_int_eq(axes_ticks(&ax, 0, &first, &step), 7); /* 0.5, 1.0, ... 3.5 */
    ck_assert_double_eq_tol(step, 0.5, 1e-12);
    ax.x_integer = 1;
    ck_assert_int_eq(axes_ticks(&ax, 0, &first, &step), 3); /* 1, 2, 3 */
    ck_assert_double_eq_tol(step, 1, 1e-12);
    ck_assert_double_eq_tol(first, 1, 1e-12);
    ax.x1 = 30000;
    ck_assert_int_eq(axes_ticks(&ax, 0, &first, &step), 6); /* 5000 ... 30000: unchanged */
    ck_assert_double_eq_tol(step, 5000, 1e-9);
    ck_assert_int_eq(axes_ticks(&ax, 1, &first, &step), 6); /* y: 0, 0.2, ... 1 */
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    ck_assert_double_eq_tol(axes_px(&ax, 0.5), 0, 1e-9);
    ck_assert_double_eq_tol(axes_py(&ax, 1), 0, 1e-9);
    ck_assert_double_eq_tol(axes_py(&ax, 0), 99, 1e-9);

    char buf[32];
    format_tick(0.25, 0.05, buf, sizeof buf);
    ck_assert_str_eq(buf, "0.25");
    format_tick(1500, 500, buf, sizeof buf);
    ck_assert_str_eq(buf, "1500");
    format_tick(-3, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "-3");
    format_tick(-1e-17, 0.1, buf, sizeof buf);
    ck_assert_str_eq(buf, "0.0");
    format_tick(3e-5, 1e-5, buf, sizeof buf);
    ck_assert_str_eq(buf, "0.00003");
    format_tick(2.00002, 1e-5, buf, sizeof buf);
    ck_assert_str_eq(buf, "2.00002");
    format_tick(2e7, 5e6, buf, sizeof buf);
    ck_assert_str_eq(buf, "20000000");
    format_tick(3e-7, 1e-7, buf, sizeof buf);
    ck_assert_str_eq(buf, "3.00E-07");
    format_tick(2.5e9, 5e8, buf, sizeof buf);
    ck_assert_str_eq(buf, "2.50E+09");
    format_tick(1.0000002, 1e-7, buf, sizeof buf); /* neighbours 1.0000001 and 1.0000003 stay apart */
    ck_assert_str_eq(buf, "1.0000002E+00");
    for (const char *p = buf; *p; p++) ck_assert(font_has_glyph(*p));
}
END_TEST

static int count_rgb(const uint8_t *pix, uint32_t w, uint32_t h, rgb8 col)
{
    int n = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        n += pix[3 * i] == col.r && pix[3 * i + 1] == col.g && pix[3 * i + 2] == col.b;
    return n;
}

START_TEST(test_plot_loss_curve)
{
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "loss.png");
    float loss[500];
    for (int i = 0; i < 500; i++) loss[i] = 3.0f * expf(-i / 100.0f) + 0.2f * (float)((i * 37) % 11) / 11.0f;
    loss[100] = NAN; /* skipped */
    ck_assert_int_eq(plot_loss_curve(path, loss, 500, "Loss"), 0);
    uint32_t w, h;
    uint8_t *pix = decode_png_file(path, &w, &h);
    ck_assert_uint_eq(w, 960);
    ck_assert_uint_eq(h, 600);
    ck_assert_int_gt(count_rgb(pix, w, h, plot_palette[0]), 500); /* the moving average, fully covered */
    ck_assert_int_gt(count_rgb(pix, w, h, (rgb8){0, 0, 0}), 100); /* title and axis labels */
    free(pix);
    /* Raw curve only: one colour; a single point; a constant curve. */
    ck_assert_int_eq(plot_loss_curve_smoothed(path, loss, 500, NULL, 1), 0);
    ck_assert_int_eq(plot_loss_curve(path, loss, 1, "one"), 0);
    float flat[3] = {2, 2, 2};
    ck_assert_int_eq(plot_loss_curve(path, flat, 3, "flat"), 0);
    pix = decode_png_file(path, &w, &h);
    ck_assert_int_gt(count_rgb(pix, w, h, plot_palette[0]), 100);
    free(pix);

    /* Extreme but finite values: a picture, no hang. */
    float extreme[4] = {3.0e38f, -3.0e38f, 1e-38f, 3};
    ck_assert_int_eq(plot_loss_curve(path, extreme, 4, "extreme"), 0);
    float tiny[3] = {1e-38f, 2e-38f, 1.5e-38f};
    ck_assert_int_eq(plot_loss_curve(path, tiny, 3, "tiny"), 0);

    float nans[2] = {NAN, INFINITY};
    EX_ASSERT_FAILS(plot_loss_curve(path, nans, 2, "x"), LCT_EINVAL, "none of the 2 values is finite");
    EX_ASSERT_FAILS(plot_loss_curve(path, loss, 0, "x"), LCT_EINVAL, "n is 0");
    EX_ASSERT_FAILS(plot_loss_curve(NULL, loss, 5, "x"), LCT_EINVAL, "'path'");
    EX_ASSERT_FAILS(plot_loss_curve(path, NULL, 5, "x"), LCT_EINVAL, "'loss'");
    EX_ASSERT_FAILS(plot_loss_curve("/nonexistent-dir/l.png", loss, 5, "x"), LCT_EIO, "cannot create");
    remove_tmpdir();
}
END_TEST

START_TEST(test_plot_embedding)
{
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "emb.png");
    enum { N = 300 };
    float xy[2 * N];
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 3;
        double a = i * 0.7;
        xy[2 * i] = (float)(labels[i] * 10 + cos(a));
        xy[2 * i + 1] = (float)(labels[i] * -4 + sin(a));
    }
    const char *names[3] = {"alpha", "beta", NULL};
    ck_assert_int_eq(plot_embedding_2d(path, xy, labels, N, 3, names, "Three clusters"), 0);
    uint32_t w, h;
    uint8_t *pix = decode_png_file(path, &w, &h);
    ck_assert_uint_eq(w, 1100);
    ck_assert_uint_eq(h, 800);
    for (int k = 0; k < 3; k++) ck_assert_int_gt(count_rgb(pix, w, h, plot_palette[k]), 20);
    for (int k = 3; k < 10; k++) ck_assert_int_eq(count_rgb(pix, w, h, plot_palette[k]), 0);
    free(pix);
    /* Unlabelled points, a single point, labels outside the classes. */
    ck_assert_int_eq(plot_embedding_2d(path, xy, NULL, N, 0, NULL, NULL), 0);
    ck_assert_int_eq(plot_embedding_2d(path, xy, labels, 1, 10, NULL, "one"), 0);
    labels[0] = -1;
    labels[1] = 99;
    ck_assert_int_eq(plot_embedding_2d_labeled(path, xy, labels, N, 3, names, "t", "X", "Y"), 0);

    EX_ASSERT_FAILS(plot_embedding_2d(path, xy, labels, N, 11, NULL, "t"), LCT_EINVAL, "n_classes is 11");
    EX_ASSERT_FAILS(plot_embedding_2d(path, xy, labels, N, 0, NULL, "t"), LCT_EINVAL, "n_classes is 0");
    EX_ASSERT_FAILS(plot_embedding_2d(path, NULL, labels, N, 3, NULL, "t"), LCT_EINVAL, "'xy'");
    EX_ASSERT_FAILS(plot_embedding_2d(NULL, xy, labels, N, 3, NULL, "t"), LCT_EINVAL, "'path'");
    EX_ASSERT_FAILS(plot_embedding_2d(path, xy, labels, 0, 3, NULL, "t"), LCT_EINVAL, "n is 0");
    float bad[2] = {NAN, 1};
    EX_ASSERT_FAILS(plot_embedding_2d(path, bad, NULL, 1, 1, NULL, "t"), LCT_EINVAL, "none of the 1 points");
    remove_tmpdir();
}
END_TEST

/* ---- PCA ---------------------------------------------------------------------------------- */

/* An orthonormal basis of R^d (Gram-Schmidt of fixed, generic vectors), rows of u. */
static void basis(double *u, int d)
{
    for (int k = 0; k < d; k++) {
        double *v = u + k * d;
        for (int j = 0; j < d; j++) v[j] = sin(1.3 * (k + 1) * (j + 1) + 0.7 * k) + (j == k ? 2.0 : 0.0);
        for (int p = 0; p < k; p++) {
            double dt = 0;
            for (int j = 0; j < d; j++) dt += v[j] * u[p * d + j];
            for (int j = 0; j < d; j++) v[j] -= dt * u[p * d + j];
        }
        double nrm = 0;
        for (int j = 0; j < d; j++) nrm += v[j] * v[j];
        for (int j = 0; j < d; j++) v[j] /= sqrt(nrm);
    }
}

START_TEST(test_pca_known_axes)
{
    /* Points c +- s_k u_k: the covariance is exactly sum_k (2 s_k^2 / (n - 1)) u_k u_k^T. */
    enum { D = 6 };
    double u[D * D], c[D] = {1, -2, 3, 0.5, 0, 4}, sd[3] = {5, 2, 0.5};
    basis(u, D);
    float x[6 * D];
    for (int k = 0; k < 3; k++)
        for (int sign = 0; sign < 2; sign++)
            for (int j = 0; j < D; j++) x[(2 * k + sign) * D + j] = (float)(c[j] + (sign ? -1 : 1) * sd[k] * u[k * D + j]);
    pca2 m;
    ck_assert_int_eq(pca2_fit(&m, x, 6, D), 0);
    ck_assert_uint_eq(m.d, D);
    double total = 0;
    for (int k = 0; k < 3; k++) total += 2 * sd[k] * sd[k] / 5;
    ck_assert_double_eq_tol(m.total_variance, total, total * 1e-6);
    for (int k = 0; k < 2; k++) {
        ck_assert_double_eq_tol(m.variance[k], 2 * sd[k] * sd[k] / 5, 1e-5 * total);
        double dt = 0, big = 0;
        for (int j = 0; j < D; j++) {
            dt += m.axis[k][j] * u[k * D + j];
            if (fabs(m.axis[k][j]) > fabs(big)) big = m.axis[k][j];
        }
        ck_assert_msg(fabs(fabs(dt) - 1) < 1e-6, "axis %d: |cos| = %.9f", k, fabs(dt));
        ck_assert(big > 0); /* sign convention */
        ck_assert_int_gt(m.iterations[k], 0);
    }
    for (int j = 0; j < D; j++) ck_assert_double_eq_tol(m.mean[j], c[j], 1e-5);
    float out[12];
    pca2_project(&m, x, 6, out);
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 2; k++) {
            double ref = 0;
            for (int j = 0; j < D; j++) ref += ((double)x[i * D + j] - m.mean[j]) * m.axis[k][j];
            ck_assert_double_eq_tol(out[2 * i + k], ref, 1e-5);
        }
    /* point 0 is c + s_1 u_1: coordinates (+-5, 0) */
    ck_assert_double_eq_tol(fabs(out[0]), 5, 1e-4);
    ck_assert_double_eq_tol(out[1], 0, 1e-4);
    pca2_free(&m);
    pca2_free(&m);
    pca2_free(NULL);

    double expl[2];
    ck_assert_int_eq(pca_2d(x, 6, D, out, expl), 0);
    ck_assert_double_eq_tol(expl[0], 2 * 25 / 5.0 / total, 1e-6);
    ck_assert_double_eq_tol(expl[1], 2 * 4 / 5.0 / total, 1e-6);
}
END_TEST

START_TEST(test_pca_random_data_matches_reference)
{
    /* Gaussian samples with standard deviations 4, 2, 1, 0.5, ... along a rotated basis. */
    enum { D = 40, N = 3000 };
    double *u = malloc(D * D * sizeof *u);
    basis(u, D);
    float *x = malloc((size_t)N * D * sizeof *x);
    uint64_t s = 99;
    for (int i = 0; i < N; i++) {
        double row[D] = {0};
        for (int k = 0; k < D; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u1 = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u2 = (double)(s >> 11) / 9007199254740992.0;
            double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) * 4.0 / pow(2.0, k < 6 ? k : 6);
            for (int j = 0; j < D; j++) row[j] += g * u[k * D + j];
        }
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(row[j] + 10.0 + j);
    }
    /* Reference covariance, straightforward double loops. */
    double mean[D] = {0}, *cov = calloc(D * D, sizeof *cov);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[i * D + j] / (double)N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) cov[a * D + b] += (x[i * D + a] - mean[a]) * (x[i * D + b] - mean[b]) / (N - 1.0);
    pca2 m;
    ck_assert_int_eq(pca2_fit(&m, x, N, D), 0);
    double trace = 0;
    for (int a = 0; a < D; a++) trace += cov[a * D + a];
    ck_assert_double_eq_tol(m.total_variance, trace, trace * 1e-9);
    for (int k = 0; k < 2; k++) {
        /* an eigenvector of the reference covariance with the reported eigenvalue */
        double res = 0, nrm = 0;
        for (int a = 0; a < D; a++) {
            double cv = 0;
            for (int b = 0; b < D; b++) cv += cov[a * D + b] * m.axis[k][b];
            res += (cv - m.variance[k] * m.axis[k][a]) * (cv - m.variance[k] * m.axis[k][a]);
            nrm += m.axis[k][a] * m.axis[k][a];
        }
        ck_assert_double_eq_tol(nrm, 1, 1e-12);
        ck_assert_msg(sqrt(res) < 1e-6 * m.variance[0], "axis %d residual %g", k, sqrt(res));
        /* close to the generating axis (sampling noise only) */
        double dt = 0;
        for (int j = 0; j < D; j++) dt += m.axis[k][j] * u[k * D + j];
        ck_assert_msg(fabs(dt) > 0.99, "axis %d: |cos| = %.4f", k, fabs(dt));
    }
    double dt01 = 0;
    for (int j = 0; j < D; j++) dt01 += m.axis[0][j] * m.axis[1][j];
    ck_assert_double_eq_tol(dt01, 0, 1e-9);
    ck_assert(m.variance[0] >= m.variance[1]);
    /* No unit vector has a larger Rayleigh quotient than the first axis (try the basis vectors). */
    for (int k = 0; k < D; k++) {
        double q = 0;
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) q += u[k * D + a] * cov[a * D + b] * u[k * D + b];
        ck_assert(q <= m.variance[0] * (1 + 1e-9));
    }
    pca2_free(&m);
    free(cov);
    free(x);
    free(u);
}
END_TEST

START_TEST(test_pca_degenerate_and_bad_input)
{
    float constant[8] = {3, 1, 3, 1, 3, 1, 3, 1}, out[8];
    double expl[2];
    ck_assert_int_eq(pca_2d(constant, 4, 2, out, expl), 0);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(out[i], 0);
    ck_assert_double_eq(expl[0], 0);
    pca2 m;
    float line[4] = {1, 2, 3, 5};
    ck_assert_int_eq(pca2_fit(&m, line, 4, 1), 0); /* d = 1: one axis, the second is zero */
    ck_assert_double_eq_tol(m.axis[0][0], 1, 1e-12);
    ck_assert_double_eq(m.axis[1][0], 0);
    ck_assert_double_eq(m.variance[1], 0);
    pca2_free(&m);
    ck_assert_int_eq(pca2_fit(&m, line, 1, 4), 0); /* one sample: no variance */
    ck_assert_double_eq(m.variance[0], 0);
    pca2_free(&m);

    EX_ASSERT_FAILS(pca2_fit(&m, NULL, 4, 2), LCT_EINVAL, "'x'");
    ck_assert_ptr_null(m.mean);
    EX_ASSERT_FAILS(pca2_fit(NULL, line, 4, 1), LCT_EINVAL, "'model'");
    EX_ASSERT_FAILS(pca2_fit(&m, line, 0, 1), LCT_EINVAL, "n is 0");
    EX_ASSERT_FAILS(pca2_fit(&m, line, 4, 0), LCT_EINVAL, "d is 0");
    EX_ASSERT_FAILS(pca2_fit(&m, line, 4, 9000), LCT_EINVAL, "d is 9000");
    EX_ASSERT_FAILS(pca2_fit(&m, line, SIZE_MAX / 2, 4), LCT_EINVAL, "overflows");
    float nan_data[6] = {1, 2, 3, 4, 5, NAN};
    EX_ASSERT_FAILS(pca2_fit(&m, nan_data, 2, 3), LCT_ENUMERIC, "x[1][2] is nan");
    EX_ASSERT_FAILS(pca_2d(line, 4, 1, NULL, NULL), LCT_EINVAL, "'out'");
}
END_TEST

/* ---- progress ----------------------------------------------------------------------------- */

START_TEST(test_progress_pure_functions)
{
    char buf[160];
    static const struct {
        double s;
        const char *text;
    } etas[] = {{0, "00:00"},     {59.4, "00:59"},        {59.6, "01:00"},        {754, "12:34"},
                {3599, "59:59"},  {3600, "1:00:00"},      {36061, "10:01:01"},    {-1, "--:--"},
                {NAN, "--:--"},   {INFINITY, "--:--"}};
    for (size_t i = 0; i < sizeof etas / sizeof etas[0]; i++) {
        progress_format_eta(etas[i].s, buf, sizeof buf);
        ck_assert_str_eq(buf, etas[i].text);
    }
    ck_assert_double_eq_tol(progress_rate(1000, 2), 500, 1e-12);
    ck_assert_double_eq(progress_rate(5, 0), 0);
    ck_assert_double_eq(progress_eta(0, 10, 5), -1);
    ck_assert_double_eq_tol(progress_eta(5, 10, 10), 10, 1e-12);
    ck_assert_double_eq_tol(progress_eta(1, 4, 2.5), 7.5, 1e-12);
    ck_assert_double_eq(progress_eta(10, 10, 3), 0);

    int n = progress_format_line(buf, sizeof buf, 2, 10, 5, 10, 1.23456, 1234.4, 75, 10);
    ck_assert_str_eq(buf, "epoch 2/10 step 5/10 [#####.....] loss 1.2346 samples/s 1234 ETA 01:15");
    ck_assert_int_eq(n, (int)strlen(buf));
    progress_format_line(buf, sizeof buf, 1, 3, 234, 234, 0.5, 99.5, -1, 0);
    ck_assert_str_eq(buf, "epoch 1/3 step 234/234 loss 0.5000 samples/s 100 ETA --:--");
    progress_format_line(buf, sizeof buf, 1, 1, 0, 7, 2, 0, 0, 4);
    ck_assert_str_eq(buf, "epoch 1/1 step 0/7 [....] loss 2.0000 samples/s 0 ETA 00:00");

    /* Non-terminal logging: one line per tenth of the epoch plus the last step, never more. */
    static const size_t steps_list[] = {1, 3, 7, 10, 95, 1000, 12345};
    for (size_t t = 0; t < sizeof steps_list / sizeof steps_list[0]; t++) {
        size_t steps = steps_list[t];
        int last = 0, lines = 0, expected = 0, prev_tenth = 0;
        for (size_t s = 1; s <= steps; s++) {
            int due = progress_log_due(s, steps, &last);
            lines += due;
            /* reference: due when floor(10 s / steps) grows, or at the last step */
            int tenth = (int)(10 * s / steps);
            int ref = s == steps || tenth > prev_tenth;
            if (tenth > prev_tenth) prev_tenth = tenth;
            expected += ref;
            ck_assert_int_eq(due, ref);
        }
        ck_assert_int_eq(lines, expected);
        ck_assert_int_le(lines, 10);
        ck_assert_int_eq(progress_log_due(steps, steps, &last), 1);
    }
}
END_TEST

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

START_TEST(test_progress_log_lines)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    progress p;
    progress_init(&p, f, 2, 20, 8);
    ck_assert_int_eq(p.tty, 0);
    p.clock = fake_clock;
    fake_now = 100;
    progress_epoch_begin(&p);
    for (int e = 1; e <= 2; e++)
        for (size_t s = 1; s <= 20; s++) {
            fake_now += 0.5;
            progress_update(&p, e, s, 1.0 / (double)s);
        }
    rewind(f);
    char line[256], last_of_first[256] = "", final[256] = "";
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (lines == 10) strcpy(last_of_first, line);
        strcpy(final, line);
    }
    fclose(f);
    ck_assert_int_eq(lines, 20);
    /* 8 samples per 0.5 s step = 16 samples/s; 20 steps of the second epoch left = 10 s. */
    ck_assert_str_eq(last_of_first, "epoch 1/2 step 20/20 loss 0.0500 samples/s 16 ETA 00:10\n");
    ck_assert_str_eq(final, "epoch 2/2 step 20/20 loss 0.0500 samples/s 16 ETA 00:00\n");

    /* Terminal mode: carriage return + clear-to-end-of-line redraws, a newline at the epoch's end. */
    f = tmpfile();
    progress_init(&p, f, 1, 4, 2);
    p.tty = 1;
    p.clock = fake_clock;
    progress_epoch_begin(&p);
    for (size_t s = 1; s <= 4; s++) {
        fake_now += 1.0;
        progress_update(&p, 1, s, 0.25);
    }
    rewind(f);
    char all[2048];
    size_t got = fread(all, 1, sizeof all - 1, f);
    all[got] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(all, "\repoch 1/1 step 1/4 [######..................] loss 0.2500 samples/s 2 ETA 00:03\033[K"));
    ck_assert_ptr_nonnull(strstr(all, "step 4/4 [########################] loss 0.2500 samples/s 2 ETA 00:00\033[K\n"));
    ck_assert_ptr_eq(strchr(all, '\n'), all + got - 1); /* the only newline ends the epoch */
}
END_TEST

/* ---- flags -------------------------------------------------------------------------------- */

typedef struct parsed {
    example_args a;
    float lr;
    int verbose;
    const char *name;
} parsed;

static int run_flags(parsed *p, const char *const *args, int n, char *errbuf, size_t errsize, char *outbuf,
                     size_t outsize)
{
    example_args_defaults(&p->a);
    p->a.epochs = 10;
    p->lr = 0.03f;
    p->verbose = 0;
    p->name = NULL;
    flag table[] = {
        FLAGS_COMMON(&p->a),
        {"lr", FLAG_FLOAT, &p->lr, "learning rate", 1e-6, 10},
        {"verbose", FLAG_BOOL, &p->verbose, "print more", 0, 0},
        {"name", FLAG_STRING, &p->name, "a name", 0, 0},
    };
    char *argv[32];
    argv[0] = (char *)"/usr/bin/lct-demo";
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    FILE *out = tmpfile(), *err = tmpfile();
    int rc = flags_parse(table, FLAGS_COUNT(table), n + 1, argv, "Demo program.", out, err);
    rewind(out);
    rewind(err);
    size_t k = fread(errbuf, 1, errsize - 1, err);
    errbuf[k] = '\0';
    k = fread(outbuf, 1, outsize - 1, out);
    outbuf[k] = '\0';
    fclose(out);
    fclose(err);
    return rc;
}

START_TEST(test_flags_good)
{
    parsed p;
    char err[1024], out[4096];
    const char *args[] = {"--epochs", "5",     "--batch=64", "--lr",    "0.5",       "--name",
                          "run one",  "--verbose", "--seed", "18446744073709551615", "--out=/tmp/o",
                          "--threads", "2", "--save", "a.ckpt", "--resume", "b.ckpt", "--data", "/d"};
    ck_assert_int_eq(run_flags(&p, args, 19, err, sizeof err, out, sizeof out), FLAGS_OK);
    ck_assert_int_eq(p.a.epochs, 5);
    ck_assert_int_eq(p.a.batch, 64);
    ck_assert_int_eq(p.a.threads, 2);
    ck_assert_float_eq(p.lr, 0.5f);
    ck_assert_str_eq(p.name, "run one");
    ck_assert_int_eq(p.verbose, 1);
    ck_assert(p.a.seed == UINT64_MAX);
    ck_assert_str_eq(p.a.out, "/tmp/o");
    ck_assert_str_eq(p.a.save, "a.ckpt");
    ck_assert_str_eq(p.a.resume, "b.ckpt");
    ck_assert_str_eq(p.a.data, "/d");
    ck_assert_str_eq(err, "");

    /* Defaults survive when nothing is given; --no-x and --x=off clear a flag; the last one wins. */
    ck_assert_int_eq(run_flags(&p, NULL, 0, err, sizeof err, out, sizeof out), FLAGS_OK);
    ck_assert_int_eq(p.a.epochs, 10);
    ck_assert_int_eq(p.a.batch, 256);
    ck_assert_int_ge(p.a.threads, 1);
    ck_assert(p.a.seed == 1);
    ck_assert_str_eq(p.a.out, "out");
    ck_assert_ptr_null(p.a.save);
    ck_assert_str_eq(p.a.data, FMNIST_DEFAULT_DIR);
    const char *neg[] = {"--verbose", "--no-verbose", "--epochs", "3", "--epochs", "4"};
    ck_assert_int_eq(run_flags(&p, neg, 6, err, sizeof err, out, sizeof out), FLAGS_OK);
    ck_assert_int_eq(p.verbose, 0);
    ck_assert_int_eq(p.a.epochs, 4);
    const char *eqoff[] = {"--verbose=on", "--verbose=off"};
    ck_assert_int_eq(run_flags(&p, eqoff, 2, err, sizeof err, out, sizeof out), FLAGS_OK);
    ck_assert_int_eq(p.verbose, 0);

    const char *help[] = {"--epochs", "7", "--help", "--bogus"};
    ck_assert_int_eq(run_flags(&p, help, 4, err, sizeof err, out, sizeof out), FLAGS_HELP);
    ck_assert_ptr_nonnull(strstr(out, "usage: lct-demo [flags]\nDemo program.\n"));
    ck_assert_ptr_nonnull(strstr(out, "--epochs N"));
    ck_assert_ptr_nonnull(strstr(out, "passes over the training images (default: 7)"));
    ck_assert_ptr_nonnull(strstr(out, "--lr X"));
    ck_assert_ptr_nonnull(strstr(out, "(default: 0.03)"));
    ck_assert_ptr_nonnull(strstr(out, "--save TEXT"));
    ck_assert_ptr_nonnull(strstr(out, "(default: none)"));
    ck_assert_ptr_nonnull(strstr(out, "--verbose "));
    ck_assert_ptr_nonnull(strstr(out, "--help"));
    const char *h[] = {"-h"};
    ck_assert_int_eq(run_flags(&p, h, 1, err, sizeof err, out, sizeof out), FLAGS_HELP);
}
END_TEST

START_TEST(test_flags_bad)
{
    parsed p;
    char err[1024], out[1024];
    static const struct {
        const char *args[3];
        int n;
        const char *message;
    } cases[] = {
        {{"--epoch", "3"}, 2, "unknown flag '--epoch' (did you mean --epochs?)"},
        {{"--thread=2"}, 1, "did you mean --threads?"},
        {{"--verb"}, 1, "did you mean --verbose?"},
        {{"--zzzzzzz"}, 1, "unknown flag '--zzzzzzz'"},
        {{"--epochs"}, 1, "--epochs needs a value"},
        {{"--epochs", "abc"}, 2, "--epochs: 'abc' is not an integer"},
        {{"--epochs", "3x"}, 2, "'3x' is not an integer"},
        {{"--epochs", "0"}, 2, "--epochs: 0 is outside 1..1000000"},
        {{"--threads", "99999999999"}, 2, "is not an integer in the int range"},
        {{"--seed", "-1"}, 2, "--seed: '-1' is not an unsigned integer"},
        {{"--seed", "18446744073709551616"}, 2, "not an unsigned integer below 2^64"},
        {{"--lr", "nan"}, 2, "--lr: 'nan' is not a finite number"},
        {{"--lr", "20"}, 2, "--lr: 20 is outside 1e-06..10"},
        {{"--lr="}, 1, "'' is not a finite number"},
        {{"--out", ""}, 2, "--out needs a non-empty value"},
        {{"--verbose=maybe"}, 1, "'maybe' is not a yes/no value"},
        {{"positional"}, 1, "unexpected argument 'positional'"},
        {{"-x"}, 1, "unexpected argument '-x'"},
        {{"--"}, 1, "unexpected argument '--'"},
        {{"--no-epochs"}, 1, "unknown flag '--no-epochs'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run_flags(&p, cases[i].args, cases[i].n, err, sizeof err, out, sizeof out);
        ck_assert_msg(rc == FLAGS_ERROR, "case %zu returned %d", i, rc);
        ck_assert_msg(strstr(ex_error(), cases[i].message), "case %zu: '%s' lacks '%s'", i, ex_error(),
                      cases[i].message);
        ck_assert_msg(strncmp(err, "lct-demo: ", 10) == 0 && strstr(err, cases[i].message) &&
                          strstr(err, "Try 'lct-demo --help'"),
                      "case %zu printed '%s'", i, err);
    }
    /* A malformed table is reported, not dereferenced. */
    int v;
    flag broken[] = {{"ok", FLAG_INT, &v, "", 0, 0}, {"bad", FLAG_INT, NULL, "", 0, 0}};
    char *argv[] = {(char *)"prog"};
    FILE *sink = tmpfile();
    ck_assert_int_eq(flags_parse(broken, 2, 1, argv, NULL, sink, sink), FLAGS_ERROR);
    ck_assert_ptr_nonnull(strstr(ex_error(), "entry 1 is malformed"));
    ck_assert_int_eq(flags_parse(NULL, 1, 1, argv, NULL, sink, sink), FLAGS_ERROR);
    fclose(sink);
}
END_TEST

/* ---- files -------------------------------------------------------------------------------- */

START_TEST(test_files)
{
    make_tmpdir();
    char path[512], joined[64];
    tmp_path(path, sizeof path, "a/b//c/");
    ck_assert_int_eq(make_dirs(path), 0);
    ck_assert_int_eq(make_dirs(path), 0); /* exists already */
    struct stat st;
    tmp_path(path, sizeof path, "a/b/c");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    tmp_path(path, sizeof path, "file");
    write_file(path, (const uint8_t *)"x", 1);
    EX_ASSERT_FAILS(make_dirs(path), LCT_EIO, "is not a folder");
    tmp_path(path, sizeof path, "file/sub");
    EX_ASSERT_FAILS(make_dirs(path), LCT_EIO, "file' exists and is not a folder"); /* a parent is a file */
    EX_ASSERT_FAILS(make_dirs(""), LCT_EINVAL, "empty");
    EX_ASSERT_FAILS(make_dirs(NULL), LCT_EINVAL, "NULL");
    ck_assert_int_eq(join_path(joined, sizeof joined, "out", "loss.png"), 0);
    ck_assert_str_eq(joined, "out/loss.png");
    ck_assert_int_eq(join_path(joined, sizeof joined, "out/", "loss.png"), 0);
    ck_assert_str_eq(joined, "out/loss.png");
    EX_ASSERT_FAILS(join_path(joined, 8, "out", "loss.png"), LCT_EINVAL, "too long");
    EX_ASSERT_FAILS(join_path(joined, sizeof joined, NULL, "x"), LCT_EINVAL, "NULL");
    remove_tmpdir();
}
END_TEST

/* ---- the training programs' shared pieces ------------------------------------------------- */

/* Run fn(arg) in a child with stderr sent to a file; return its exit status (-1 if it did not
 * exit) and the first line it printed in msg. */
static int child_exit(void (*fn)(const void *), const void *arg, char *msg, size_t size)
{
    char path[512];
    tmp_path(path, sizeof path, "child.err");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (freopen(path, "w", stderr) == NULL) _exit(100);
        fn(arg);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    msg[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(msg, (int)size, f) == NULL) msg[0] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void pick_bad(const void *arg)
{
    flags_pick2("prog", "form", (const char *)arg, "paper", "code");
}

static void need_pairs_one(const void *arg)
{
    train_need_pairs("prog", 1, (const char *)arg);
}

#ifndef __SANITIZE_ADDRESS__
static void alloc_huge(const void *arg)
{
    (void)arg;
    train_alloc("prog", SIZE_MAX / 2);
}
#endif

START_TEST(test_numeric_helpers)
{
    ck_assert_uint_eq(ex_gcd(12, 18), 6);
    ck_assert_uint_eq(ex_gcd(18, 12), 6);
    ck_assert_uint_eq(ex_gcd(7, 0), 7);
    ck_assert_uint_eq(ex_gcd(0, 5), 5);
    ck_assert_uint_eq(ex_gcd(17, 5), 1);
    ck_assert_uint_eq(ex_gcd(22050, 16000), 50);
    double v[] = {5, 1, 4, 2, 3};
    ck_assert_double_eq(ex_quantile(v, 5, 0.5), 3);
    for (int i = 0; i < 5; i++) ck_assert_double_eq(v[i], i + 1); /* sorted in place */
    ck_assert_double_eq(ex_quantile(v, 5, 0), 1);
    ck_assert_double_eq(ex_quantile(v, 5, 1), 5);
    ck_assert_double_eq(ex_quantile(v, 5, 0.99), 5);
    ck_assert_double_eq(ex_quantile(v, 5, 0.3), 2); /* nearest rank: 0.3 * 4 + 0.5 -> index 1 */
    double one = 7;
    ck_assert_double_eq(ex_quantile(&one, 1, 0.99), 7);
    double a = ex_clock_ms(0), b = ex_clock_ms(0);
    ck_assert(a > 0 && b >= a);
    ck_assert(ex_clock_ms(1) >= 0);
}
END_TEST

START_TEST(test_flag_choices)
{
    static const char *const names[] = {"last", "mean", "z"};
    ck_assert_int_eq(flags_find("mean", names, 3), 1);
    ck_assert_int_eq(flags_find("z", names, 3), 2);
    ck_assert_int_eq(flags_find("Z", names, 3), -1);
    ck_assert_int_eq(flags_find("", names, 3), -1);
    ck_assert_int_eq(flags_find(NULL, names, 3), -1);
    ck_assert_int_eq(flags_pick2("prog", "form", "paper", "paper", "code"), 0);
    ck_assert_int_eq(flags_pick2("prog", "form", "code", "paper", "code"), 1);
    make_tmpdir();
    char msg[256];
    ck_assert_int_eq(child_exit(pick_bad, "cod", msg, sizeof msg), FLAGS_ERROR);
    ck_assert_str_eq(msg, "prog: --form must be paper or code, not 'cod'\n");
    ck_assert_int_eq(train_negatives("batch"), LCT_INFONCE_BATCH);
    ck_assert_int_eq(train_negatives("all"), LCT_INFONCE_ALL);
    ck_assert_int_eq(train_negatives("sequence"), LCT_INFONCE_SEQUENCE);
    ck_assert_int_eq(train_negatives("seq"), -1);
    train_need_pairs("prog", 2, ""); /* returns */
    ck_assert_int_eq(child_exit(need_pairs_one, " (why)", msg, sizeof msg), FLAGS_ERROR);
    ck_assert_str_eq(msg, "prog: the batch needs at least 2 images (why)\n");
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer aborts on such an allocation instead of returning NULL */
    ck_assert_int_eq(child_exit(alloc_huge, NULL, msg, sizeof msg), 1);
    ck_assert_str_eq(msg, "prog: out of memory\n");
#endif
    remove_tmpdir();
}
END_TEST

START_TEST(test_train_helpers)
{
    uint8_t src[5 * 3], dst[3 * 3];
    for (int i = 0; i < 15; i++) src[i] = (uint8_t)(10 * (i / 3) + i % 3);
    const int64_t idx[3] = {4, 0, 2};
    train_gather(dst, src, idx, 3, 3);
    static const uint8_t want[9] = {40, 41, 42, 0, 1, 2, 20, 21, 22};
    ck_assert_mem_eq(dst, want, sizeof want);
    void *p = train_alloc("prog", 0);
    ck_assert_ptr_nonnull(p);
    free(p);

    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, 0.03, 0.9, 5e-4, 100, 10);
    double v;
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_LR, &v), LCT_OK);
    ck_assert_double_eq(v, 0.03);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_MOMENTUM, &v), LCT_OK);
    ck_assert_double_eq(v, 0.9);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_WEIGHT_DECAY, &v), LCT_OK);
    ck_assert_double_eq(v, 5e-4);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_TOTAL_STEPS, &v), LCT_OK);
    ck_assert_double_eq(v, 100);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_WARMUP_STEPS, &v), LCT_OK);
    ck_assert_double_eq(v, 10);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_SCHEDULE, &v), LCT_OK);
    ck_assert_double_eq(v, LCT_SCHEDULE_COSINE);
    lct_optimizer_free(opt);
    opt = train_optimizer(rt, LCT_OPTIMIZER_ADAM, 1e-3, 0, 0, 8, 8); /* warm-up as long as the run: none */
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_WARMUP_STEPS, &v), LCT_OK);
    ck_assert_double_eq(v, 0);
    lct_optimizer_free(opt);

    lct_loss *loss = train_infonce(rt, 9, 8, 16, 3, LCT_INFONCE_SEQUENCE);
    ck_assert_ptr_nonnull(loss);
    ck_assert_ptr_nonnull(lct_loss_params(loss)); /* the W_k */
    lct_loss_free(loss);
    lct_runtime_free(rt);
}
END_TEST

/* A fake Fashion-MNIST folder of 12 training and 3 test images. */
static void fake_set(fmnist *data)
{
    write_fake_fmnist("train", 12, 28, 12, 0);
    write_fake_fmnist("t10k", 3, 28, 3, 0);
    ck_assert_int_eq(fmnist_load(tmpdir, data), 0);
}

START_TEST(test_knn_eval)
{
    make_tmpdir();
    fmnist data;
    fake_set(&data);
    lct_runtime *rt = lct_test_runtime(1, 1);
    knn_eval e;
    EX_ASSERT_FAILS(knn_eval_init(&e, rt, &data, 13, 3, 0), LCT_EINVAL, "13 train / 3 test images of a set of 12 / 3");
    ck_assert_ptr_null(e.train_labels);
    EX_ASSERT_FAILS(knn_eval_init(&e, rt, &data, 12, 0, 0), LCT_EINVAL, "0 test images");
    ck_assert_int_eq(knn_eval_init(&e, rt, &data, 12, 3, 0), 0);
    for (size_t i = 0; i < 12; i++) ck_assert_int_eq(e.train_labels[i], (int32_t)(i % 10));
    for (size_t i = 0; i < 3; i++) ck_assert_int_eq(e.test_labels[i], (int32_t)i);
    double raw = raw_pixel_knn(rt, data.train.images, e.train_labels, 12, data.test.images, e.test_labels, 3,
                               FMNIST_PIXELS);
    ck_assert(raw >= 0 && raw <= 1);
    ck_assert_double_eq(e.raw, raw);
    ck_assert_ptr_null(e.train_emb);

    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt, "in 1x28x28; flatten; linear 4; l2norm", NULL), LCT_OK);
    EX_ASSERT_FAILS((int)knn_eval_encoder(&e, rt, enc), LCT_EINVAL, "gives 4 outputs, the buffers hold 0");
    knn_eval_free(&e);
    knn_eval_free(&e); /* twice is harmless */
    ck_assert_int_eq(knn_eval_init(&e, rt, &data, 12, 3, 4), 0);
    double acc = knn_eval_encoder(&e, rt, enc);
    float train[12 * 4], test[3 * 4];
    ck_assert_int_eq(embed_images(enc, data.train.images, 12, FMNIST_PIXELS, 500, train), 0);
    ck_assert_int_eq(embed_images(enc, data.test.images, 3, FMNIST_PIXELS, 500, test), 0);
    ck_assert_mem_eq(e.train_emb, train, sizeof train);
    ck_assert_mem_eq(e.test_emb, test, sizeof test);
    ck_assert_double_eq(acc, knn_accuracy(rt, train, e.train_labels, 12, test, e.test_labels, 3, 4));
    knn_eval_free(&e);
    ck_assert_int_eq(knn_eval_init(&e, rt, &data, 12, 3, 5), 0);
    EX_ASSERT_FAILS((int)knn_eval_encoder(&e, rt, enc), LCT_EINVAL, "gives 4 outputs, the buffers hold 5");
    knn_eval_free(&e);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    fmnist_free(&data);
    remove_tmpdir();
}
END_TEST

/* A loop over the fake set's 12 images, 5 per step (2 steps an epoch), with one encoder and its
 * optimiser as the checkpointed state. */
static lct_encoder *loop_setup(train_loop *l, const example_args *args, const fmnist *data)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt, "in 1x28x28; flatten; linear 4; l2norm", NULL), LCT_OK);
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, 0.1, 0.9, 0, 4, 0);
    ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
    train_loop_init(l, "looptest", args, rt, 12, 2, 5, data->train.images, FMNIST_PIXELS);
    l->st = (run_state){.method = "looptest", .optimizer = opt};
    l->st.encoder[l->st.encoders++] = enc;
    return enc;
}

START_TEST(test_train_loop)
{
    make_tmpdir();
    fmnist data;
    fake_set(&data);
    char ckpt[512], out[512], png[600];
    tmp_path(ckpt, sizeof ckpt, "loop.lct");
    tmp_path(out, sizeof out, "figures");
    example_args args;
    example_args_defaults(&args);
    args.epochs = 2;
    args.seed = 3;
    args.save = ckpt;
    args.out = out;

    train_loop l;
    lct_encoder *enc = loop_setup(&l, &args, &data);
    int64_t order[12];
    int calls = 0;
    for (train_loop_begin(&l); train_loop_next(&l);) {
        ck_assert_int_eq(l.epoch, 1 + calls / 2);
        ck_assert_uint_eq(l.s, (size_t)(calls % 2));
        train_shuffle(order, 12, 3, l.epoch);
        ck_assert_mem_eq(l.idx, order + l.s * 5, 5 * sizeof *order);
        for (size_t b = 0; b < 5; b++)
            ck_assert_mem_eq(l.images + b * FMNIST_PIXELS, data.train.images + l.idx[b] * FMNIST_PIXELS, FMNIST_PIXELS);
        ck_assert_int_eq(train_loop_step_done(&l, 0.5f * (float)calls), calls % 2 == 1);
        calls++;
    }
    ck_assert_int_eq(calls, 4);
    ck_assert_uint_eq(l.step, 4);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(l.curve[i], 0.5f * (float)i);
    ck_assert_int_eq(train_loop_next(&l), 0); /* stays finished */
    train_loop_save(&l);
    struct stat st;
    ck_assert_int_eq(stat(ckpt, &st), 0);

    knn_eval e;
    ck_assert_int_eq(knn_eval_init(&e, l.rt, &data, 12, 3, 4), 0);
    train_loop_knn_end(&l, &e, enc, "Loop test", 0.5);
    snprintf(png, sizeof png, "%s/loss.png", out);
    ck_assert_int_eq(stat(png, &st), 0);
    snprintf(png, sizeof png, "%s/embedding.png", out);
    ck_assert_int_eq(stat(png, &st), 0);
    knn_eval_free(&e);
    train_loop_free(&l);
    ck_assert_ptr_null(l.curve);

    /* --resume continues after the saved epoch: a 3-epoch run resumed from it trains epoch 3 only. */
    args.epochs = 3;
    args.save = NULL;
    args.resume = ckpt;
    loop_setup(&l, &args, &data);
    train_loop_begin(&l);
    ck_assert_int_eq(l.first_epoch, 3);
    calls = 0;
    while (train_loop_next(&l)) {
        ck_assert_int_eq(l.epoch, 3);
        train_loop_step_done(&l, 1.0f);
        calls++;
    }
    ck_assert_int_eq(calls, 2);
    train_loop_free(&l);

    /* A program that draws its own samples: no order, no gathered images. */
    args.resume = NULL;
    train_loop_init(&l, "looptest", &args, lct_test_runtime(1, 1), 0, 1, 2, NULL, 0);
    calls = 0;
    for (train_loop_begin(&l); train_loop_next(&l); calls++) {
        ck_assert_ptr_null(l.idx);
        ck_assert_ptr_null(l.images);
        train_loop_step_done(&l, 0);
    }
    ck_assert_int_eq(calls, 3);
    train_loop_free(&l);
    fmnist_free(&data);
    remove_tmpdir();
}
END_TEST

static void add_tests(Suite *s)
{
    TCase *idx = lct_test_case(s, "idx", 120), *png = lct_test_case(s, "png_plot", 120),
          *pca = lct_test_case(s, "pca", 120), *misc = lct_test_case(s, "progress_flags_files", 0);
    tcase_add_test(idx, test_idx_round_trip);
    tcase_add_test(idx, test_idx_rejects_bad_files);
    tcase_add_test(idx, test_idx_mutations);
    tcase_add_test(idx, test_fmnist_loader_on_fake_folder);
    tcase_add_test(idx, test_fmnist_real_test_split);
    tcase_add_test(png, test_png_encodes_and_decodes);
    tcase_add_test(png, test_png_bad_input);
    tcase_add_test(png, test_font_glyphs);
    tcase_add_test(png, test_canvas_text);
    tcase_add_test(png, test_canvas_shapes);
    tcase_add_test(png, test_nice_ticks_and_labels);
    tcase_add_test(png, test_plot_loss_curve);
    tcase_add_test(png, test_plot_embedding);
    tcase_add_test(pca, test_pca_known_axes);
    tcase_add_test(pca, test_pca_random_data_matches_reference);
    tcase_add_test(pca, test_pca_degenerate_and_bad_input);
    tcase_add_test(misc, test_progress_pure_functions);
    tcase_add_test(misc, test_progress_log_lines);
    tcase_add_test(misc, test_flags_good);
    tcase_add_test(misc, test_flags_bad);
    tcase_add_test(misc, test_files);
    TCase *loop = lct_test_case(s, "training_loop", 120);
    tcase_add_test(loop, test_numeric_helpers);
    tcase_add_test(loop, test_flag_choices);
    tcase_add_test(loop, test_train_helpers);
    tcase_add_test(loop, test_knn_eval);
    tcase_add_test(loop, test_train_loop);
}

int main(void)
{
    return lct_test_suite_main("examples_common", add_tests);
}
