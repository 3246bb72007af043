/*
 * IDX files (the format of MNIST and Fashion-MNIST) and the Fashion-MNIST folder.
 *
 * An IDX file is a 4-byte magic (0, 0, dtype, number of dimensions), one big-endian uint32
 * per dimension, then the values in row-major order. Only dtype 0x08 (unsigned byte) is read
 * here. Files may be gzip-compressed (`*-idx3-ubyte.gz`) or plain: zlib's gz* functions read both.
 */
#ifndef LCT_EXAMPLES_IDX_H
#define LCT_EXAMPLES_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define IDX_MAX_DIMS 8
/* Default ceiling on the data size a header may claim (1 GiB); a larger claim is refused. */
#define IDX_DEFAULT_MAX_BYTES ((size_t)1 << 30)

typedef struct idx_array {
    uint8_t *data;                /* owned: count bytes, row-major; release with idx_free() */
    size_t count;                 /* number of values = product of dims */
    int ndim;                     /* 1..IDX_MAX_DIMS */
    uint32_t dims[IDX_MAX_DIMS];  /* sizes, outermost first; unused entries are 0 */
} idx_array;

/*
 * Read an unsigned-byte IDX file into *out (zeroed first). max_bytes bounds the data size a
 * header may claim (0 = IDX_DEFAULT_MAX_BYTES). The buffer grows with the data actually read,
 * so a header that lies about its sizes never causes a large allocation by itself.
 * Returns 0, or LCT_EINVAL (NULL argument), LCT_EIO (cannot open or read), LCT_EFORMAT (bad
 * magic, dtype other than 0x08, 0 or more than IDX_MAX_DIMS dimensions, a zero dimension, a
 * size overflow or above max_bytes, a truncated file, trailing data, a corrupt gzip stream),
 * LCT_ENOMEM. On failure *out holds no memory; ex_error() says what was wrong.
 */
int idx_read(const char *path, idx_array *out, size_t max_bytes);

/* Release the buffer of an array read by idx_read() and zero it; NULL and zeroed arrays are fine. */
void idx_free(idx_array *a);

/* ---- Fashion-MNIST ---------------------------------------------------------------------- */

/* Where the Debian package dataset-fashion-mnist installs the four files. */
#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_CLASSES 10
#define FMNIST_SIDE 28
#define FMNIST_PIXELS (FMNIST_SIDE * FMNIST_SIDE)

/* Class names in label order: "T-shirt/top", "Trouser", ... "Ankle boot". */
extern const char *const fmnist_class_names[FMNIST_CLASSES];

typedef struct fmnist_split {
    uint8_t *images;  /* owned: n x 28 x 28 grey levels 0..255, row-major */
    uint8_t *labels;  /* owned: n class indices 0..9 */
    size_t n;
} fmnist_split;

typedef struct fmnist {
    fmnist_split train;  /* 60,000 images */
    fmnist_split test;   /* 10,000 images */
} fmnist;

/*
 * Load one split from dir (NULL = FMNIST_DEFAULT_DIR): test = 0 reads train-*, test = 1 reads
 * t10k-*. Each file is looked up as NAME.gz, then as NAME. Checks that the images are N x 28 x 28,
 * the labels N and every label below 10. Returns 0 or an idx_read() code; LCT_EFORMAT for
 * mismatched files. On failure *out holds no memory.
 */
int fmnist_load_split(const char *dir, int test, fmnist_split *out);

/* Both splits; on failure nothing is kept. */
int fmnist_load(const char *dir, fmnist *out);

/* 1 if the four files of the data set are present in dir (NULL = default), else 0. */
int fmnist_available(const char *dir);

void fmnist_split_free(fmnist_split *s);
void fmnist_free(fmnist *f);

#endif
