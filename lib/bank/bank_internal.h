/*
 * Internal view of a memory bank for the other modules (losses, checkpoints).
 * Nothing here is exported. Indices passed to these functions are not
 * validated again: callers check them (lct__bank_check_idx) first.
 */
#ifndef LCT_BANK_INTERNAL_H
#define LCT_BANK_INTERNAL_H

#include "../core/internal.h"
#include "../comm/comm_internal.h"

/* Loops over fewer elements than this run on one thread: a parallel region costs more than they do. */
#define LCT__BANK_PAR_MIN ((size_t)1 << 17)

/* Rows of the bounded conversion workspace of fp16 banks (similarity_all, grad_all, kNN). */
#define LCT__BANK_CHUNK 1024

struct lct_bank {
    lct_runtime *rt;
    size_t n, d;             /* n: rows of the whole bank (over every shard) */
    lct_comm *comm;          /* sharded banks: the ranks that hold the shards (borrowed); NULL otherwise */
    size_t first, count;     /* this rank's rows [first, first + count); 0 and n when not sharded */
    float *fg;               /* sharded updates: the gathered batch embeddings, grown on first use */
    size_t fg_cap;           /* floats in fg */
    int storage;             /* lct_bank_storage */
    void *rows;              /* count*d floats or uint16_t halves (row i of the bank at i - first) */
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

/* Raw storage (count*d elements of the storage type: this rank's rows), e.g. for checkpoints. */
static inline void *lct__bank_data(lct_bank *b) { return b->rows; }
static inline size_t lct__bank_data_bytes(const lct_bank *b) { return b->count * b->d * lct__bank_elem(b->storage); }
/* 1 for a bank sharded over more than one rank (its collective code paths apply). */
static inline int lct__bank_sharded(const lct_bank *b) { return lct__comm_active(b->comm); }

/* Row i as fp32: a pointer into the storage for fp32 banks, or row i converted into buf
 * (d floats) for fp16 banks. i is a *local* row in [0, count) (the bank row first + i). */
const float *lct__bank_row(const lct_bank *b, size_t i, float *buf);
/* Local rows [first, first+count) converted to fp32 into out (count*d floats). */
void lct__bank_rows_f32(const lct_bank *b, size_t first, size_t count, float *out);

/* out[j] = f . row(first + j) for j < count (local rows), one dot product each: for a vector or two,
 * where a GEMM would spend more on packing the rows than on the products. */
void lct__bank_dots(const lct_bank *b, const float *f, size_t first, size_t count, float *out);
/* The same for nq vectors f[0..nq) (rows of d floats) in one pass over the rows, each row read once for
 * all of them: out[i·ldo + j] = f_i . row(first + j), bit for bit what lct__bank_dots gives. */
void lct__bank_dots_many(const lct_bank *b, const float *f, size_t nq, size_t first, size_t count, float *out,
                         size_t ldo);

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

/* Sharded banks, collective (every rank calls with its own batch); the shard's rows only are read
 * or written, nothing but B x D embeddings and B x (k+1) scores crosses the ranks.
 * The scores of the gathered global batch (gb = P * batch rows, fg gb x D, idx gb, neg from
 * lct_bank_sample over the global batch): each rank fills the entries whose rows it owns, zeros
 * elsewhere; the caller all-reduces. Then df_all (gb x D) = sum_j ds[b][j] row(j) over owned rows
 * (the caller all-reduces it too). */
void lct__bank_sim_owned(lct_bank *b, const float *fg, size_t gb, const int64_t *pos_idx, const int64_t *neg_idx,
                         size_t k, int mode, float *out);
void lct__bank_grad_owned(lct_bank *b, const float *ds, size_t gb, const int64_t *pos_idx, const int64_t *neg_idx,
                          size_t k, int mode, float *df_all);

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

/* ---- kNN on AMX tiles (knn_amx.c) ----------------------------------------- */
#if LCT__AMX
#define LCT__KNN_AMX 1
/* d rounded up to 32 coordinates; n rounded up to 32 rows. */
size_t lct__amx_dpad(size_t d);
size_t lct__amx_npad(size_t n);
/* Convert row groups [g0, g1) (16 rows each; rows >= n are zero) of an fp32 or fp16 N×d matrix to
 * bf16 in the tile layout; out holds npad × dpad halves for all groups. */
void lct__amx_pack_rows(const float *f32, const uint16_t *f16, size_t n, size_t d, size_t g0, size_t g1,
                        uint16_t *out);
/* m queries (m <= mpad, mpad a multiple of 32) to row-major bf16 mpad × dpad, zero padded. */
void lct__amx_pack_queries(const float *q, size_t m, size_t d, size_t mpad, uint16_t *out);
/* out[i * ldo + j] = bf16 similarity of query i and packed row j, i < mpad, j < npad (both multiples
 * of 32); rp points at the group of row 0. */
void lct__amx_sims(const uint16_t *qp, size_t mpad, const uint16_t *rp, size_t npad, size_t d, float *out,
                   size_t ldo);
/* fp32 dot product of a query with an fp32 (r32) or fp16 (r16) row, in a fixed order. */
float lct__amx_dot(const float *q, const float *r32, const uint16_t *r16, size_t d);
#else
#define LCT__KNN_AMX 0
#endif
/* Tests: -1 (default) uses AMX for kNN when lct__amx_ready(); 0 never; 1 whenever ready. */
void lct__knn_set_amx(int mode);
/* Query blocks the AMX path handed to the exact path since the process started (tests). */
size_t lct__knn_amx_redone(void);

#endif /* LCT_BANK_INTERNAL_H */
