/*
 * The checkpoint container's own parts, for lib/checkpoint/ alone (and white-box tests): the
 * format's limits, zlib, the CRC, atomic files and .npy parsing. Modules use checkpoint.h.
 */
#ifndef LCT_CHECKPOINT_INTERNAL_H
#define LCT_CHECKPOINT_INTERNAL_H

#include "checkpoint.h"

/* Hard limits (format spec): checked before any allocation. */
#define LCT__CKPT_MAX_STORED ((uint64_t)1 << 40)   /* compressed bytes of one section */
#define LCT__CKPT_MAX_RAW ((uint64_t)1 << 40)      /* uncompressed bytes of one section */
/* Deflate expands at most ~1032:1; a claimed raw size above this is impossible. */
#define LCT__CKPT_MAX_RATIO 1040u
#define LCT__CKPT_HEADER_SIZE 24u
#define LCT__CKPT_SECTION_HEADER_SIZE 32u

extern const unsigned char lct__ckpt_magic[8];

/* LCT_EINVAL naming the first NULL of args[0..n) (names[i] is the argument's name), else LCT_OK. */
int lct__ckpt_require(const void *const *args, const char *const *names, int n, const char *func);

/* ---- zlib, with every allocation through the runtime's hooks --------------- */

/* CRC-32 of n more bytes after crc (start from 0), in chunks zlib's uInt can take. */
uint32_t lct__ckpt_crc(uint32_t crc, const void *data, size_t n);

/* Deflate the concatenated pieces into a new lct__malloc block (*out, *out_size). */
int lct__ckpt_deflate(lct_runtime *rt, int level, const lct__ckpt_piece *pieces, size_t n_pieces,
                      unsigned char **out, size_t *out_size, uint64_t *raw_size, const char *func);
/* Inflate src into dst: exactly n bytes and the end of the stream when whole, else the first n. */
int lct__ckpt_inflate(lct_runtime *rt, const unsigned char *src, size_t src_size, void *dst, size_t n,
                      int whole, const char *func);

/* As lct_checkpoint_write_file, but each chunk first goes to inject (if not NULL); a nonzero
 * return fails the save as a failing disk would. For tests of interrupted saves. */
int lct__ckpt_write_file_ex(lct_checkpoint_writer *w, const char *path, lct_checkpoint_write_fn inject,
                            void *inject_user);

/* ---- atomic file writing (shared by checkpoints and .npy) ----------------- */
#define LCT__PATH_MAX 4096
typedef struct lct__atomic_file {
    int fd;
    const char *path;
    char tmp[LCT__PATH_MAX + 32];   /* "<path>.tmp-<pid>-<n>": same folder as path */
} lct__atomic_file;

int lct__atomic_open(lct__atomic_file *f, const char *path, const char *func);
int lct__atomic_write(lct__atomic_file *f, const void *data, size_t size, const char *func);
/* fsync, rename over path, fsync the folder; on failure removes the temporary file. */
int lct__atomic_commit(lct__atomic_file *f, const char *func);
/* Remove the temporary file. */
void lct__atomic_abort(lct__atomic_file *f);

/* ---- .npy parsing (for the path reader and the fuzz target) -------------- */
typedef struct lct__npy_header {
    size_t rows, cols;
    uint32_t ndim;
    size_t data_offset;   /* bytes before the array data */
} lct__npy_header;

/* Parse a .npy header from the first `size` bytes of a file of total size `file_size`. */
int lct__npy_parse_header(const unsigned char *buf, size_t size, uint64_t file_size, lct__npy_header *h,
                          const char *func);

#endif /* LCT_CHECKPOINT_INTERNAL_H */
