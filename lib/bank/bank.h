/*
 * The memory bank as the other modules (losses, replay, checkpoints) see it. Nothing here is
 * exported, and nothing here validates: callers check indices (lct__bank_check_idx) and
 * embeddings first, as the public entries do before they call their unchecked twins.
 */
#ifndef LCT_BANK_BANK_H
#define LCT_BANK_BANK_H

#include "../core/internal.h"
#include "../comm/comm.h"

/* ---- shape, storage, ranks ----------------------------------------------------- */
size_t lct__bank_n(const lct_bank *b);
size_t lct__bank_d(const lct_bank *b);
int lct__bank_storage(const lct_bank *b);
lct_runtime *lct__bank_runtime(const lct_bank *b);
/* The ranks a sharded bank is spread over (borrowed; NULL for an unsharded bank). */
lct_comm *lct__bank_comm(const lct_bank *b);
/* Ranks that hold the bank's shards (1 unless sharded). */
size_t lct__bank_world_size(const lct_bank *b);
/* 1 for a bank sharded over more than one rank (its collective code paths apply). */
int lct__bank_sharded(const lct_bank *b);
/* LCT_OK for a bank in one piece; for a sharded one LCT_EUNSUPPORTED naming `func`: "the bank is
 * sharded over P ranks" followed by `why`. */
int lct__bank_unsharded(const lct_bank *b, const char *func, const char *why);
/* Bytes of one element of the storage type. */
static inline size_t lct__bank_elem(int storage) { return storage == LCT_BANK_FP16 ? 2 : 4; }

/* Raw storage (count*d elements of the storage type: this rank's rows), e.g. for checkpoints. */
void *lct__bank_data(lct_bank *b);
size_t lct__bank_data_bytes(const lct_bank *b);

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

/* ---- per-step workspaces ------------------------------------------------------------ */
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

/* ---- unchecked twins of the public entries ------------------------------------------
 * lct_bank_sample and lct_bank_similarity without their argument checks, for callers that have
 * made them already (an unsharded bank, a valid mode, batch and k > 0, indices in range, finite f).
 * Errors they can still meet (nothing left to draw, LCT_ENOMEM growing a workspace) name `func`. */
int lct__bank_sample_unchecked(lct_bank *bank, const int64_t *self_idx, size_t batch, size_t k, int mode,
                               int64_t *out, const char *func);
int lct__bank_similarity_unchecked(lct_bank *bank, const float *f, size_t batch, const int64_t *pos_idx,
                                   const int64_t *neg_idx, size_t k, int mode, float *out);
/* lct_bank_similarity_all without its checks (an unsharded bank, rows [first, first + count) in range). */
int lct__bank_similarity_all_unchecked(lct_bank *bank, const float *f, size_t batch, size_t first, size_t count,
                                       float *out, size_t ldo);

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

/* ---- random stream: saved before a step that may fail, restored after a failure, checkpointed ---- */
void lct__bank_rng_state(const lct_bank *b, uint64_t *stream, uint64_t *calls);
void lct__bank_set_rng_state(lct_bank *b, uint64_t stream, uint64_t calls);

/* Query blocks the AMX path of the kNN search handed to the exact path since the process started. */
size_t lct__knn_amx_redone(void);

#endif /* LCT_BANK_BANK_H */
