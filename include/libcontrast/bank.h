/**
 * @file libcontrast/bank.h
 * @brief Memory bank: N×D rows, negative sampling, similarities, momentum update.
 *
 * A memory bank holds one D-dimensional row per training sample (InstDisc:
 * N = data-set size, D = 128). Losses read it (the positive row of a sample
 * and K sampled negative rows), and after each step the rows of the batch
 * are moved towards the new embeddings. Rows are stored as fp32 or fp16
 * (chosen at creation); all arithmetic is fp32.
 *
 * Row indices are `int64_t` in [0, N). Embedding buffers are row-major
 * `float` arrays of `batch × D`. One thread at a time per bank; see
 * docs/bank.md for formulas, defaults and the fp16 tolerance.
 */
#ifndef LIBCONTRAST_BANK_H
#define LIBCONTRAST_BANK_H

#include "runtime.h"
#include "comm.h"

LCT_BEGIN_DECLS

typedef struct lct_bank lct_bank;

/** Storage type of the rows. Arithmetic is always fp32. */
typedef enum lct_bank_storage {
    LCT_BANK_FP32 = 0, /**< 4 bytes per element */
    LCT_BANK_FP16 = 1  /**< IEEE binary16, 2 bytes per element; round to nearest even on store */
} lct_bank_storage;

/** How the rows are initialised at creation. */
typedef enum lct_bank_init {
    LCT_BANK_INIT_UNIFORM = 0, /**< uniform in [-a, a), a = 1/sqrt(D/3) (InstDisc's initialisation) */
    LCT_BANK_INIT_ZERO = 1,    /**< all zeros */
    LCT_BANK_INIT_KEEP = 2     /**< keep the contents of the host buffer (only with @c buffer) */
} lct_bank_init;

#define LCT_BANK_OPTIONS_VERSION 1

/** Bank options. Initialise with lct_bank_options_init(); fields are only ever added at the end. */
typedef struct lct_bank_options {
    uint32_t version;    /**< LCT_BANK_OPTIONS_VERSION */
    int32_t storage;     /**< ::lct_bank_storage (default LCT_BANK_FP32) */
    int32_t init;        /**< ::lct_bank_init (default LCT_BANK_INIT_UNIFORM) */
    int32_t normalize;   /**< 1: L2-normalise every row after initialisation (default 0, as InstDisc) */
    void *buffer;        /**< host storage for the rows, borrowed (must outlive the bank), or NULL
                              for rows the bank allocates. Holds N·D elements of @c storage type,
                              row-major, aligned to the element size. */
    size_t buffer_bytes; /**< size of @c buffer in bytes; must be exactly N·D·element size */
} lct_bank_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION (unknown version).
 */
LCT_API int lct_bank_options_init(lct_bank_options *opts, uint32_t version);

/**
 * Bytes a bank of @p n rows of @p d elements of type @p storage needs, before
 * creating it: n·d·element size for the rows (the size a host buffer must have)
 * plus the handle and, for fp16, its bounded conversion workspace (1024·D floats).
 * Steps add workspaces sized on first use and reused afterwards: 16·B bytes for
 * an update or a SHARED_EXCLUDE draw at batch B, and 4·K·D bytes for shared-mode
 * similarities with K negatives (each block plus at most 80 bytes). With a
 * host-provided buffer, the rows' bytes are the host's: subtract them.
 * @return LCT_OK; LCT_EINVAL (NULL @p bytes, n or d zero or above lct_bank_new()'s limits, unknown storage);
 *         LCT_ESHAPE (size overflows).
 */
LCT_API int lct_bank_bytes(size_t n, size_t d, int storage, size_t *bytes);

/**
 * Create a bank of @p n rows of dimension @p d. The bank borrows @p rt (free
 * the bank first) and, if given, the host buffer in @p opts. The random
 * initialisation and every later sampling call draw from a stream of their
 * own (taken from @p rt at creation), so results depend only on the runtime
 * seed and the order of calls, never on the thread count.
 *
 * @param out  receives the bank; set to NULL on failure
 * @param rt   runtime
 * @param n    rows, 1..2^40
 * @param d    row dimension, 1..65536
 * @param opts options, or NULL for defaults
 * @return LCT_OK; LCT_EINVAL (NULL @p out / @p rt, zero or too large n or d, unknown storage or init,
 *         normalize not 0/1, KEEP without a buffer, misaligned buffer); LCT_ESHAPE (buffer_bytes is not
 *         n·d·element size); LCT_ENUMERIC (KEEP and the buffer holds NaN/Inf); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_bank_new(lct_bank **out, lct_runtime *rt, size_t n, size_t d, const lct_bank_options *opts);

/**
 * Create a bank of @p n rows *sharded* over the ranks of @p comm (borrowed): rank r stores only the
 * contiguous rows [offset, offset + count) of the whole bank (lct_bank_shard()); offsets split n
 * evenly, the first n mod P ranks holding one row more. Collective: every rank calls it with the
 * same n, d and options. Row indices stay global, in [0, n). Rows are initialised exactly as the
 * same rows of an unsharded bank created at the same point of the same runtime seed, and
 * lct_bank_sample() draws exactly the same indices, so P ranks reproduce one process.
 *
 * What a sharded bank does (docs/distributed.md): lct_bank_sample() is local (no communication,
 * the same result on every rank); lct_bank_get_rows(), lct_bank_set_rows() and lct_bank_gather()
 * reach this rank's rows only (LCT_ERANGE otherwise); lct_bank_update() and lct_bank_update_ex()
 * are collective: each rank passes its own batch, every rank's rows of the global batch are
 * updated by their owner in global batch order; NCE losses (lct_loss_new_nce(), CMC-NCE) compute
 * over the shards collectively; lct_knn_topk_bank() and lct_knn_classify_bank() are collective
 * (the same queries on every rank, the merged top-k on every rank). lct_bank_similarity(),
 * lct_bank_similarity_all() and lct_bank_proximal() return LCT_EUNSUPPORTED.
 *
 * @p opts as lct_bank_new(); a host buffer holds count·D elements (this rank's rows). Footprint per
 * rank: lct_bank_bytes() of its count rows, plus, for collective updates at a global batch B_g
 * (P × each rank's batch), 24·B_g + 4·B_g·D bytes of workspace sized on first use.
 * @return as lct_bank_new(), plus LCT_EINVAL (NULL @p comm, n smaller than the number of ranks);
 *         LCT_EMISMATCH (@p comm belongs to another runtime, or n, d or storage differ between
 *         ranks); LCT_ECOMM.
 */
LCT_API int lct_bank_new_sharded(lct_bank **out, lct_runtime *rt, size_t n, size_t d, lct_comm *comm,
                                 const lct_bank_options *opts);

/**
 * This rank's shard: its first row, its row count, its rank and the number of ranks (any pointer
 * may be NULL). An unsharded bank reports 0, N, 0, 1.
 * @return LCT_OK, LCT_EINVAL (NULL bank).
 */
LCT_API int lct_bank_shard(const lct_bank *bank, size_t *offset, size_t *count, int *rank, int *size);

/** Free a bank (a host buffer is left alone). Accepts NULL. */
LCT_API void lct_bank_free(lct_bank *bank);

/**
 * Shape and storage of a bank; any out pointer may be NULL.
 * @return LCT_OK, LCT_EINVAL (NULL bank).
 */
LCT_API int lct_bank_info(const lct_bank *bank, size_t *n, size_t *d, int *storage);

/**
 * Copy rows [@p first, @p first + @p count) into @p out (count × D floats; fp16 rows are converted).
 * @return LCT_OK; LCT_EINVAL (NULL argument, count 0); LCT_ERANGE (rows past N, or outside this
 *         rank's shard of a sharded bank).
 */
LCT_API int lct_bank_get_rows(const lct_bank *bank, size_t first, size_t count, float *out);

/**
 * Overwrite rows [@p first, @p first + @p count) from @p in (count × D floats, stored as is, not
 * normalised; fp16 storage rounds to nearest even, values beyond ±65504 become ±Inf and are refused).
 * Nothing is written if a value is NaN or Inf (or not representable in fp16).
 * @return LCT_OK; LCT_EINVAL; LCT_ERANGE; LCT_ENUMERIC.
 */
LCT_API int lct_bank_set_rows(lct_bank *bank, size_t first, size_t count, const float *in);

/**
 * Gather rows @p idx[0..count) into @p out (count × D floats). A count whose indices or rows could
 * not fit in any buffer is refused before any index is read.
 * @return LCT_OK; LCT_EINVAL (NULL argument, count 0); LCT_ESHAPE (count × D floats or count indices
 *         overflow); LCT_ERANGE (an index outside [0, N), or outside this rank's shard).
 */
LCT_API int lct_bank_gather(const lct_bank *bank, const int64_t *idx, size_t count, float *out);

/** Negative sampling modes of lct_bank_sample() and lct_bank_similarity(). */
typedef enum lct_bank_sample_mode {
    /** Per sample, K indices uniform over [0, N) with replacement; a sample's own index may be
     *  drawn (InstDisc's original sampling). Output batch × K. */
    LCT_BANK_SAMPLE_REPLACE = 0,
    /** Per sample, K indices uniform with replacement over the N−1 rows other than self_idx[b].
     *  Output batch × K. Needs N ≥ 2. */
    LCT_BANK_SAMPLE_EXCLUDE_SELF = 1,
    /** One set of K indices uniform over [0, N) with replacement, shared by the whole batch
     *  (similarities become one GEMM). Output K indices. */
    LCT_BANK_SAMPLE_SHARED = 2,
    /** As SHARED, but excluding every index of self_idx (the batch's positives). Output K
     *  indices. Needs N greater than the number of distinct indices in self_idx. */
    LCT_BANK_SAMPLE_SHARED_EXCLUDE = 3
} lct_bank_sample_mode;

/**
 * Draw negative indices. Deterministic for the runtime seed, the bank's
 * creation order in the runtime, and the number of earlier successful
 * sampling calls on this bank (in any mode; a failed call draws nothing and
 * does not count); independent of the thread count. Sample b of a per-sample
 * mode draws from its own generator keyed by (call count, b).
 *
 * @param self_idx  batch indices of the samples (their positive rows); required by the
 *                  EXCLUDE modes, may be NULL otherwise
 * @param batch     samples, ≥ 1
 * @param k         negatives per sample, ≥ 1
 * @param mode      ::lct_bank_sample_mode
 * @param out       batch × k indices (per-sample modes) or k indices (shared modes)
 * @return LCT_OK; LCT_EINVAL (NULL bank / out, NULL self_idx for an EXCLUDE mode, batch or k zero,
 *         unknown mode, an EXCLUDE mode with nothing left to draw from); LCT_ERANGE (a self_idx outside
 *         [0, N)); LCT_ESHAPE (batch·k overflows); LCT_ENOMEM (SHARED_EXCLUDE's workspace).
 */
LCT_API int lct_bank_sample(lct_bank *bank, const int64_t *self_idx, size_t batch, size_t k, int mode,
                            int64_t *out);

/**
 * Similarities (dot products) of embeddings with their positive row and their negatives:
 * out[b][0] = f[b]·row(pos_idx[b]) and out[b][1 + j] = f[b]·row(neg[b][j]), where neg[b][j]
 * is neg_idx[b·k + j] for per-sample modes and neg_idx[j] for shared modes (then computed as
 * one GEMM). No batch × K × D copy is made. No temperature is applied.
 *
 * @param f        batch × D embeddings
 * @param pos_idx  batch indices of the positive rows
 * @param neg_idx  batch × k (per-sample modes) or k (shared modes) indices, as from lct_bank_sample()
 * @param mode     ::lct_bank_sample_mode the negatives were drawn with (only per-sample vs shared matters)
 * @param out      batch × (k + 1) floats
 * @return LCT_OK; LCT_EINVAL (NULL argument, batch or k zero, unknown mode); LCT_ERANGE (an index outside
 *         [0, N)); LCT_ESHAPE (sizes overflow); LCT_ENUMERIC (f holds NaN/Inf); LCT_ENOMEM (shared
 *         workspace, first use at a larger k only); LCT_EUNSUPPORTED (a bank sharded over several ranks).
 */
LCT_API int lct_bank_similarity(lct_bank *bank, const float *f, size_t batch, const int64_t *pos_idx,
                                const int64_t *neg_idx, size_t k, int mode, float *out);

/**
 * Similarities of embeddings with a range of rows, for the full non-parametric softmax in
 * bounded memory: out[b·ldo + j] = f[b]·row(first + j) for j < count. Call it over chunks of
 * rows (e.g. 8192 at a time) to cover all N with a batch × chunk buffer. fp16 rows are
 * converted through a bounded workspace owned by the bank.
 *
 * @param ldo  row stride of @p out in floats, ≥ count (pass N with first = 0, count = N for the full matrix)
 * @return LCT_OK; LCT_EINVAL (NULL argument, batch or count zero); LCT_ERANGE (rows past N);
 *         LCT_ESHAPE (ldo < count, sizes overflow); LCT_ENUMERIC (f holds NaN/Inf); LCT_EUNSUPPORTED (a bank
 *         sharded over several ranks).
 */
LCT_API int lct_bank_similarity_all(lct_bank *bank, const float *f, size_t batch, size_t first, size_t count,
                                    float *out, size_t ldo);

/** Update rules of lct_bank_update_ex(). */
typedef enum lct_bank_update_rule {
    /** v ← m·v + (1 − m)·f, then L2-normalised (InstDisc's code). */
    LCT_BANK_UPDATE_MOMENTUM = 0,
    /** v ← (f + λ·v) / (1 + λ), then L2-normalised: the minimiser of ‖v' − f‖² + λ‖v' − v‖² (the
     *  paper's proximal term), identical to MOMENTUM with m = λ / (1 + λ). */
    LCT_BANK_UPDATE_PROXIMAL = 1
} lct_bank_update_rule;

#define LCT_BANK_UPDATE_OPTIONS_VERSION 1

/** Options of lct_bank_update_ex(). Initialise with lct_bank_update_options_init(). */
typedef struct lct_bank_update_options {
    uint32_t version;  /**< LCT_BANK_UPDATE_OPTIONS_VERSION */
    int32_t rule;      /**< ::lct_bank_update_rule (default LCT_BANK_UPDATE_MOMENTUM) */
    float momentum;    /**< m in [0, 1] for MOMENTUM (default 0.5) */
    float lambda;      /**< λ in [0, 1e6] for PROXIMAL (default 1, i.e. m = 0.5) */
    int32_t normalize; /**< 1: L2-normalise the updated rows (default 1); 0: store the blend as is */
} lct_bank_update_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL, LCT_EVERSION.
 */
LCT_API int lct_bank_update_options_init(lct_bank_update_options *opts, uint32_t version);

/**
 * Momentum update of the batch's rows: v ← normalise(m·v + (1 − m)·f) for each b, v = row(idx[b]).
 * Duplicate indices in one batch are applied one after the other in batch order (as if the
 * samples came in separate steps), so the outcome is deterministic. A row whose blend is the
 * zero vector is stored as zeros. Equivalent to lct_bank_update_ex() with the MOMENTUM rule.
 *
 * @param f         batch × D embeddings
 * @param idx       batch row indices
 * @param momentum  m in [0, 1] (InstDisc: 0.5)
 * @return LCT_OK; LCT_EINVAL (NULL argument, batch zero, m outside [0, 1] or NaN); LCT_ERANGE (an index
 *         outside [0, N)); LCT_ESHAPE (batch × D overflows); LCT_ENUMERIC (f holds NaN/Inf); LCT_ENOMEM
 *         (workspace on first use at a larger batch); for a sharded bank LCT_EMISMATCH (the ranks' batch
 *         sizes differ, or another rank failed) and LCT_ECOMM. Nothing is changed on failure.
 */
LCT_API int lct_bank_update(lct_bank *bank, const float *f, const int64_t *idx, size_t batch, float momentum);

/**
 * Update of the batch's rows with a chosen rule (see ::lct_bank_update_rule); @p opts NULL means
 * defaults (momentum 0.5, normalised). Duplicates as in lct_bank_update().
 * @return as lct_bank_update(), plus LCT_EINVAL (unknown rule, λ outside [0, 1e6], normalize not 0/1)
 *         and LCT_EVERSION.
 */
LCT_API int lct_bank_update_ex(lct_bank *bank, const float *f, const int64_t *idx, size_t batch,
                               const lct_bank_update_options *opts);

/**
 * The paper's proximal regularisation term and its gradient: penalty = λ · Σ_b ‖f[b] − row(idx[b])‖²
 * (into @p penalty if not NULL), and grad[b] += 2λ·(f[b] − row(idx[b])) if @p grad is not NULL.
 * Add it to the loss before lct_bank_update_ex() moves the rows.
 * @return LCT_OK; LCT_EINVAL (NULL bank / f / idx, batch zero, λ negative or not finite);
 *         LCT_ERANGE (an index); LCT_ESHAPE (batch·D overflows); LCT_ENUMERIC (f holds NaN/Inf);
 *         LCT_EUNSUPPORTED (a bank sharded over several ranks).
 */
LCT_API int lct_bank_proximal(const lct_bank *bank, const float *f, const int64_t *idx, size_t batch,
                              float lambda, float *grad, double *penalty);

LCT_END_DECLS

#endif /* LIBCONTRAST_BANK_H */
