/*
 * Internal view of a memory bank for the other modules (losses, checkpoints).
 * Nothing here is exported. Indices passed to these functions are not
 * validated again: callers check them (lct__bank_check_idx) first.
 */
#ifndef LCT_BANK_INTERNAL_H
#define LCT_BANK_INTERNAL_H

#include "../core/internal.h"

/* Loops over fewer elements than this run on one thread: a parallel region costs more than they do. */
#define LCT__BANK_PAR_MIN ((size_t)1 << 17)

/* Rows of the bounded conversion workspace of fp16 banks (similarity_all, grad_all, kNN). */
#define LCT__BANK_CHUNK 1024

struct lct_bank {
    lct_runtime *rt;
    size_t n, d;
    int storage;             /* lct_bank_storage */
    void *rows;              /* n*d floats or uint16_t halves */
    int owns_rows;           /* 0: host buffer, borrowed */
    uint64_t stream;         /* the bank's random stream (from the runtime at creation) */
    uint64_t sample_calls;   /* lct_bank_sample calls so far: keys each call's draws */
    float *chunk;            /* LCT__BANK_CHUNK * d floats, fp16 banks only */
    float *gather;           /* k * d floats: the shared negatives, grown on first use at a larger k */
    size_t gather_cap;       /* rows of gather */
    int64_t *work;           /* 2 * batch int64: update order, shared exclusion set */
    size_t work_cap;         /* int64 entries of work */
};

/* ---- shape and storage ---------------------------------------------------- */
static inline size_t lct__bank_n(const lct_bank *b) { return b->n; }
static inline size_t lct__bank_d(const lct_bank *b) { return b->d; }
static inline int lct__bank_storage(const lct_bank *b) { return b->storage; }
static inline lct_runtime *lct__bank_runtime(const lct_bank *b) { return b->rt; }
/* Bytes of one element of the storage type. */
static inline size_t lct__bank_elem(int storage) { return storage == LCT_BANK_FP16 ? 2 : 4; }

/* Raw storage (n*d elements of the storage type), e.g. for checkpoints. */
static inline void *lct__bank_data(lct_bank *b) { return b->rows; }
static inline size_t lct__bank_data_bytes(const lct_bank *b) { return b->n * b->d * lct__bank_elem(b->storage); }

/* Row i as fp32: a pointer into the storage for fp32 banks, or row i converted into buf
 * (d floats) for fp16 banks. i must be in [0, n). */
const float *lct__bank_row(const lct_bank *b, size_t i, float *buf);
/* Rows [first, first+count) converted to fp32 into out (count*d floats). */
void lct__bank_rows_f32(const lct_bank *b, size_t first, size_t count, float *out);

/* LCT_OK if every idx[0..count) is in [0, n), else LCT_ERANGE naming `what` and the position. */
int lct__bank_check_idx(const lct_bank *b, const int64_t *idx, size_t count, const char *func, const char *what);

/* Grow the per-step workspaces to at least work_entries int64 and gather_rows rows (never shrinks;
 * no allocation once sized). LCT_ENOMEM leaves the old workspaces in place. */
int lct__bank_reserve(lct_bank *b, size_t work_entries, size_t gather_rows);

/* The same in two phases, so that a caller growing several workspaces gets all or none:
 * prepare allocates what is missing without touching the bank; commit swaps it in (freeing the
 * old blocks), abort frees it. */
typedef struct lct__bank_grow {
    int64_t *work;
    size_t work_cap;
    float *gather;
    size_t gather_cap;
} lct__bank_grow;
int lct__bank_prepare(const lct_bank *b, size_t work_entries, size_t gather_rows, lct__bank_grow *g);
void lct__bank_commit(lct_bank *b, lct__bank_grow *g);
void lct__bank_abort(const lct_bank *b, lct__bank_grow *g);

/* Work entries of lct_bank_update() at batch B (the loss reserves them for the update that follows). */
#define LCT__BANK_UPDATE_ENTRIES(batch) (2 * (batch))

/* ---- gradients with respect to the embeddings -----------------------------
 * Given dS = dL/dS of lct_bank_similarity's output (batch x (k+1), same pos/neg
 * layout and mode), df[b] (+)= sum_j dS[b][j] * row(idx[b][j]) without a
 * batch x k x d copy (shared modes: one GEMM over the gathered negatives).
 * accumulate 0 overwrites df, 1 adds to it. Indices must already be valid.
 * LCT_ENOMEM only on first use at a larger k in shared modes. */
int lct__bank_grad(lct_bank *b, const float *ds, size_t batch, const int64_t *pos_idx, const int64_t *neg_idx,
                   size_t k, int mode, int accumulate, float *df);
/* Same for lct_bank_similarity_all: df[b] (+)= sum_{j<count} ds[b*ldd + j] * row(first + j). */
int lct__bank_grad_all(lct_bank *b, const float *ds, size_t batch, size_t first, size_t count, size_t ldd,
                       int accumulate, float *df);

/* ---- random stream, for checkpoints ---------------------------------------- */
static inline void lct__bank_rng_state(const lct_bank *b, uint64_t *stream, uint64_t *calls)
{
    *stream = b->stream;
    *calls = b->sample_calls;
}
static inline void lct__bank_set_rng_state(lct_bank *b, uint64_t stream, uint64_t calls)
{
    b->stream = stream;
    b->sample_calls = calls;
}

/* ---- vector kernels (vec.c): AVX2/FMA/F16C when the CPU has them ------------ */
float lct__dot_f32(const float *a, const float *b, size_t n);
float lct__dot_f16(const float *a, const uint16_t *h, size_t n);
/* y += a * x, x fp32 or fp16 */
void lct__axpy_f32(float a, const float *x, float *y, size_t n);
void lct__axpy_f16(float a, const uint16_t *x, float *y, size_t n);
void lct__half_to_float(const uint16_t *h, float *f, size_t n);
void lct__float_to_half(const float *f, uint16_t *h, size_t n);
/* Positions (ascending) of the elements of s[0..n) greater than thr into pos; returns their count. */
size_t lct__scan_greater(const float *s, size_t n, float thr, uint32_t *pos);
/* Nonzero: the kernels take their portable paths (tests use it on AVX2 machines). */
extern int lct__bank_force_generic;
/* Scalar conversions (round to nearest even), identical to the F16C instructions. */
float lct__h2f(uint16_t h);
uint16_t lct__f2h(float f);

#endif /* LCT_BANK_INTERNAL_H */
