/**
 * @file libcontrast/loss.h
 * @brief Contrastive objectives: NCE and non-parametric softmax (InstDisc), InvaSpread,
 *        InfoNCE (CPC) and multi-view CMC.
 *
 * A loss takes embeddings from anywhere (a libcontrast encoder or the host's own network) as
 * plain row-major float buffers and returns the loss value and its gradient with respect to
 * those embeddings. It never needs an encoder. Objectives over a memory bank (NCE,
 * non-parametric softmax, CMC-NCE) borrow the bank(s) they were created with: free the loss
 * before the bank. Every loss borrows its runtime.
 *
 * Gradient buffers (df, dx, dz, dc, ...) are overwritten. The only trainable tensors, CPC's
 * W_k, live in the loss's parameter set (lct_loss_params()) and their gradients are
 * *accumulated* there, as encoders accumulate theirs; clear them with lct_params_zero_grad().
 *
 * Bank updates are separate calls the host makes after its step (lct_bank_update() on each
 * bank), as the original InstDisc and CMC code update the bank rows after computing the loss
 * with the old rows. See docs/methods.md for the formulas.
 *
 * All computations validate their inputs first; a NaN or Inf in an input buffer gives
 * LCT_ENUMERIC with a message naming the buffer and the element index, and nothing changes.
 */
#ifndef LIBCONTRAST_LOSS_H
#define LIBCONTRAST_LOSS_H

#include "runtime.h"
#include "params.h"
#include "bank.h"
#include "comm.h"

LCT_BEGIN_DECLS

typedef struct lct_loss lct_loss;

/** The objective of a loss handle (lct_loss_get_kind()). */
typedef enum lct_loss_kind {
    LCT_LOSS_NCE = 1,        /**< InstDisc NCE over a memory bank */
    LCT_LOSS_NPSOFTMAX = 2,  /**< InstDisc non-parametric softmax over every bank row */
    LCT_LOSS_INVASPREAD = 3, /**< InvaSpread in-batch instance loss */
    LCT_LOSS_INFONCE = 4,    /**< CPC InfoNCE with one W_k per prediction step */
    LCT_LOSS_CMC = 5         /**< CMC multi-view loss */
} lct_loss_kind;

/**
 * Policy for NCE's normalising constant Z (NCE and CMC with LCT_CMC_NCE). Whatever the policy, when the
 * runtime has a log hook taking LCT_LOG_WARN, a batch whose own estimate of Z differs from the Z in use by a
 * factor of 10 or more logs a warning, once per decade of difference: a Z that far off makes NCE collapse
 * (docs/methods.md, "NCE on small data sets"). Under LCT_Z_FIRST_BATCH and LCT_Z_FIXED that estimate is an
 * extra pass over the first whole rows of scores, at most 65,536 of them, made only while such a hook is set.
 */
typedef enum lct_z_policy {
    LCT_Z_FIRST_BATCH = 0, /**< Z = mean(exp(s/tau)) * N over the first batch, then fixed (original) */
    LCT_Z_RUNNING = 1,     /**< Z = exponential moving average of the per-batch estimate (in log space) */
    LCT_Z_FIXED = 2        /**< Z set by the host with lct_loss_set_log_z(); never estimated */
} lct_z_policy;

/** Negative-sampling mode of InfoNCE. */
typedef enum lct_infonce_negatives {
    LCT_INFONCE_BATCH = 0,    /**< other sequences of the batch at the same time offset (B candidates) */
    LCT_INFONCE_ALL = 1,      /**< every time step of every sequence of the batch (B*T candidates) */
    LCT_INFONCE_SEQUENCE = 2  /**< every time step of the same sequence only (T candidates) */
} lct_infonce_negatives;

/** Form of the InvaSpread loss. */
typedef enum lct_invaspread_form {
    LCT_INVASPREAD_PAPER = 0, /**< full gradient through both operands; self-similarity in the denominator */
    LCT_INVASPREAD_CODE = 1   /**< as the original code: right operand detached, self-similarity dropped */
} lct_invaspread_form;

/** Which pairs of views CMC contrasts. */
typedef enum lct_cmc_graph {
    LCT_CMC_CORE = 0, /**< view 0 against every other view (V-1 pairs) */
    LCT_CMC_FULL = 1  /**< every pair of views (V(V-1)/2 pairs) */
} lct_cmc_graph;

/** CMC's objective for one direction of a pair. */
typedef enum lct_cmc_objective {
    LCT_CMC_NCE = 0,    /**< NCE against the other view's memory bank (original) */
    LCT_CMC_SOFTMAX = 1 /**< softmax cross-entropy against the other view's embeddings of the batch */
} lct_cmc_objective;

/** Tunable scalars, set with lct_loss_set_param(). The numbers are part of the ABI. */
typedef enum lct_loss_param {
    LCT_LOSS_PARAM_TEMPERATURE = 1, /**< tau, all objectives; bounds [1e-4, 1e4]; defaults 0.07 (NCE, softmax,
                                         CMC), 0.1 (InvaSpread), 1 (InfoNCE) */
    LCT_LOSS_PARAM_Z_POLICY = 2,    /**< an ::lct_z_policy (NCE, CMC-NCE); bounds [0, 2] */
    LCT_LOSS_PARAM_Z_MOMENTUM = 3,  /**< weight of the old Z in LCT_Z_RUNNING; bounds [0, 1); default 0.99, which
                                         lags a bank that turns over in fewer than a few hundred steps: 0 to 0.5
                                         there (docs/methods.md) */
    LCT_LOSS_PARAM_NEG_WEIGHT = 4   /**< InvaSpread's m (the original code's `negM`): weight of the negatives in
                                         the softmax's denominator and of their log(1 - p) terms; bounds [1, 1e4]
                                         (below 1 a negative's p can exceed 1); default 1, the paper's loss */
} lct_loss_param;

/* ---- options ------------------------------------------------------------ */

#define LCT_LOSS_NCE_OPTIONS_VERSION 1
/** Options of lct_loss_new_nce(). Initialise with lct_loss_nce_options_init(). */
typedef struct lct_loss_nce_options {
    uint32_t version;     /**< LCT_LOSS_NCE_OPTIONS_VERSION */
    uint32_t k;           /**< noise samples per embedding, 1..2^24 (default 4096); drawn with replacement, so
                               K may exceed N */
    int32_t sample_mode;  /**< an ::lct_bank_sample_mode passed to lct_bank_sample() (default: the original's,
                               with replacement, the positive may be drawn) */
    int32_t z_policy;     /**< an ::lct_z_policy (default LCT_Z_FIRST_BATCH) */
} lct_loss_nce_options;

#define LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION 1
/** Options of lct_loss_new_npsoftmax(). */
typedef struct lct_loss_npsoftmax_options {
    uint32_t version;  /**< LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION */
    uint32_t chunk;    /**< bank rows per chunk of the similarity (default 16384): the workspace holds batch x chunk
                            floats (16 MiB at batch 256); fewer, larger GEMMs are faster */
} lct_loss_npsoftmax_options;

#define LCT_LOSS_INVASPREAD_OPTIONS_VERSION 1
/** Options of lct_loss_new_invaspread(). */
typedef struct lct_loss_invaspread_options {
    uint32_t version;  /**< LCT_LOSS_INVASPREAD_OPTIONS_VERSION */
    int32_t form;      /**< an ::lct_invaspread_form (default LCT_INVASPREAD_PAPER) */
} lct_loss_invaspread_options;

#define LCT_LOSS_INFONCE_OPTIONS_VERSION 1
/** Options of lct_loss_new_infonce(). */
typedef struct lct_loss_infonce_options {
    uint32_t version;   /**< LCT_LOSS_INFONCE_OPTIONS_VERSION */
    uint32_t steps;     /**< prediction steps K, each with its own W_k (default 12); must be < seq_len */
    int32_t negatives;  /**< an ::lct_infonce_negatives (default LCT_INFONCE_BATCH) */
} lct_loss_infonce_options;

#define LCT_LOSS_CMC_OPTIONS_VERSION 1
/** Options of lct_loss_new_cmc(). */
typedef struct lct_loss_cmc_options {
    uint32_t version;     /**< LCT_LOSS_CMC_OPTIONS_VERSION */
    int32_t graph;        /**< an ::lct_cmc_graph (default LCT_CMC_CORE) */
    int32_t objective;    /**< an ::lct_cmc_objective (default LCT_CMC_NCE) */
    uint32_t k;           /**< noise samples per embedding for LCT_CMC_NCE, 1..2^24 (default 16384) */
    int32_t sample_mode;  /**< an ::lct_bank_sample_mode for LCT_CMC_NCE (default: the bank's original mode) */
    int32_t z_policy;     /**< an ::lct_z_policy for LCT_CMC_NCE (default LCT_Z_FIRST_BATCH) */
} lct_loss_cmc_options;

/** Fill @p opts with defaults for struct version @p version. @return LCT_OK, LCT_EINVAL (NULL), LCT_EVERSION. */
LCT_API int lct_loss_nce_options_init(lct_loss_nce_options *opts, uint32_t version);
/** Fill @p opts with defaults. @return LCT_OK, LCT_EINVAL (NULL), LCT_EVERSION. */
LCT_API int lct_loss_npsoftmax_options_init(lct_loss_npsoftmax_options *opts, uint32_t version);
/** Fill @p opts with defaults. @return LCT_OK, LCT_EINVAL (NULL), LCT_EVERSION. */
LCT_API int lct_loss_invaspread_options_init(lct_loss_invaspread_options *opts, uint32_t version);
/** Fill @p opts with defaults. @return LCT_OK, LCT_EINVAL (NULL), LCT_EVERSION. */
LCT_API int lct_loss_infonce_options_init(lct_loss_infonce_options *opts, uint32_t version);
/** Fill @p opts with defaults. @return LCT_OK, LCT_EINVAL (NULL), LCT_EVERSION. */
LCT_API int lct_loss_cmc_options_init(lct_loss_cmc_options *opts, uint32_t version);

/* ---- constructors ---------------------------------------------------------- */

/**
 * InstDisc NCE over @p bank (borrowed; the embedding size is the bank's D, N its row count). Over a bank
 * sharded across ranks (lct_bank_new_sharded()) the compute calls are collective: each rank passes its
 * own slice of the global batch and receives the global batch's mean loss (docs/distributed.md).
 * @param out receives the loss; NULL on failure
 * @return LCT_OK; LCT_EINVAL (NULL argument, bad enum value, k of 0 or above 2^24);
 *         LCT_EMISMATCH (bank from another runtime); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_loss_new_nce(lct_loss **out, lct_runtime *rt, lct_bank *bank, const lct_loss_nce_options *opts);

/**
 * InstDisc non-parametric softmax over every row of @p bank (borrowed).
 * @return LCT_OK; LCT_EINVAL (NULL argument, chunk 0 or above 2^24); LCT_EMISMATCH; LCT_EVERSION; LCT_ENOMEM;
 *         LCT_EUNSUPPORTED (a bank sharded over several ranks).
 */
LCT_API int lct_loss_new_npsoftmax(lct_loss **out, lct_runtime *rt, lct_bank *bank,
                                   const lct_loss_npsoftmax_options *opts);

/**
 * InvaSpread over embeddings of size @p dim (1..65536).
 * @return LCT_OK; LCT_EINVAL (NULL, dim out of range, bad form); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_loss_new_invaspread(lct_loss **out, lct_runtime *rt, size_t dim,
                                    const lct_loss_invaspread_options *opts);

/**
 * CPC InfoNCE for sequences of @p seq_len steps with latents z of size @p latent_dim and
 * contexts c of size @p context_dim. Owns W_1..W_K (each latent_dim x context_dim, row-major,
 * initialised uniform in +-1/sqrt(context_dim) from the runtime's seed), exposed by lct_loss_params().
 * @return LCT_OK; LCT_EINVAL (NULL, seq_len below 2, a size of 0 or above 65536, steps 0 or >= seq_len, bad mode);
 *         LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_loss_new_infonce(lct_loss **out, lct_runtime *rt, size_t seq_len, size_t latent_dim,
                                 size_t context_dim, const lct_loss_infonce_options *opts);

/**
 * CMC over @p views (2..64) views of embedding size @p dim. For LCT_CMC_NCE, @p banks holds one
 * bank per view (borrowed; all with D = @p dim and the same N); for LCT_CMC_SOFTMAX @p banks may be NULL.
 * @return LCT_OK; LCT_EINVAL; LCT_ESHAPE (bank sizes differ from @p dim or from each other);
 *         LCT_EMISMATCH; LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_loss_new_cmc(lct_loss **out, lct_runtime *rt, size_t views, size_t dim, lct_bank *const *banks,
                             const lct_loss_cmc_options *opts);

/** Free a loss. Accepts NULL. Borrowed banks and the runtime are not freed. */
LCT_API void lct_loss_free(lct_loss *loss);

/**
 * Global in-batch negatives: with @p comm (borrowed; NULL to stop), the compute calls of InvaSpread,
 * InfoNCE and CMC-softmax become collective. Each rank passes its own slice of the global batch
 * (the same batch size on every rank); the embeddings are all-gathered, so the negatives of every
 * anchor are those of the *global* batch, ordered by rank (rank r's samples are global samples
 * r·B .. r·B + B − 1), exactly as one process given the whole batch. Each rank computes the loss
 * rows of its own anchors and receives the gradient of its own embeddings, summed over the anchors
 * of every rank, times P: the gradient of P × the global mean, so that the optimiser's average over
 * the ranks (lct_optimizer_set_comm()) is the global gradient. The loss value returned is the
 * global mean, the same on every rank. NCE objectives follow their bank instead (a sharded bank
 * makes them collective). See docs/distributed.md.
 * @return LCT_OK; LCT_EINVAL (NULL @p loss); LCT_EMISMATCH (another runtime); LCT_EUNSUPPORTED (NCE,
 *         non-parametric softmax, CMC-NCE).
 */
LCT_API int lct_loss_set_comm(lct_loss *loss, lct_comm *comm);

/** The ::lct_loss_kind of @p loss, or LCT_EINVAL for NULL. */
LCT_API int lct_loss_get_kind(const lct_loss *loss);

/* ---- parameters and state ------------------------------------------------------------ */

/**
 * Set tunable scalar @p param to @p value.
 * @return LCT_OK; LCT_EINVAL (NULL loss, parameter unknown or not used by this objective);
 *         LCT_ERANGE (value outside lct_loss_param_bounds(), NaN, or a non-integer policy).
 */
LCT_API int lct_loss_set_param(lct_loss *loss, int param, double value);

/** Current value of @p param into @p value. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_loss_get_param(const lct_loss *loss, int param, double *value);

/** Inclusive bounds of @p param for this loss. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_loss_param_bounds(const lct_loss *loss, int param, double *min, double *max);

/**
 * NCE's log Z for bank @p view (0 for NCE; the view index for CMC-NCE). @p known receives 1 once Z
 * is estimated or set, else 0 (then @p log_z receives 0). Either out pointer may be NULL.
 * Checkpoints save log Z, the policy and Z momentum to resume bit-identically.
 * @return LCT_OK; LCT_EINVAL (NULL loss, objective without Z); LCT_ERANGE (view).
 */
LCT_API int lct_loss_get_log_z(const lct_loss *loss, size_t view, double *log_z, int32_t *known);

/**
 * Set log Z of bank @p view; with LCT_Z_FIRST_BATCH it is then no longer estimated.
 * @return LCT_OK; LCT_EINVAL (NULL loss, objective without Z); LCT_ERANGE (view, non-finite value
 *         or |log_z| > 1e6).
 */
LCT_API int lct_loss_set_log_z(lct_loss *loss, size_t view, double log_z);

/** Forget the estimated Z of every bank, so the next batch estimates it again. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_loss_reset_z(lct_loss *loss);

/**
 * The trainable tensors of @p loss (CPC's W_k, named "infonce.w1" .. "infonce.wK"); an empty set for
 * objectives without parameters. Owned by the loss. NULL for a NULL loss.
 */
LCT_API lct_params *lct_loss_params(lct_loss *loss);

/**
 * Bytes of workspace the loss holds for batches of @p batch samples (it allocates them on the first
 * compute at that size and reuses them afterwards; a larger batch grows them once). Not counted:
 * InfoNCE's W_k and their gradients (2 K D H floats, held from creation) and the banks' own per-step
 * workspaces (see lct_bank_bytes()), which the first compute at a batch size also reserves in every
 * bank of the loss, all or nothing: the K x D gather of the shared sampling modes and the 16 B bytes of
 * the lct_bank_update() at the same batch, so the step's bank update allocates nothing.
 * @return LCT_OK; LCT_EINVAL (NULL, batch 0); LCT_ESHAPE (size overflow).
 */
LCT_API int lct_loss_workspace_bytes(const lct_loss *loss, size_t batch, size_t *bytes);

/**
 * What one compute call with gradients costs at batch size @p batch, before running one: its
 * floating-point operations (@p flops; 2 per multiply-add of the similarities and of the gradient
 * products, about 10 per score for exponentials, logarithms and the softmax) and the workspace of
 * lct_loss_workspace_bytes(). Per batch: NCE 4·B·(K+1)·D + 10·B·(K+1); non-parametric softmax
 * 4·B·N·D + 10·B·N; InvaSpread 6·(2B)²·D + 10·(2B)²; InfoNCE, per step k, 4·B·T·D·H for the
 * predictions and 4·D per score (B·T·B, B·T·B·T or B·T·T scores by the negatives mode); CMC the
 * NCE or softmax figure of each direction of each pair. The bank update that follows a step adds
 * 6·B·D. Any out pointer may be NULL.
 * @return LCT_OK; LCT_EINVAL (NULL @p loss, batch 0); LCT_ESHAPE (batch above 2^24, overflow).
 */
LCT_API int lct_loss_cost(const lct_loss *loss, size_t batch, uint64_t *flops, size_t *workspace_bytes);

/* ---- computations --------------------------------------------------------------------- */

/**
 * InstDisc NCE step: draw K noise rows per embedding from the bank, take the positive from bank row
 * idx[b], and compute the loss and df.
 * @param f        batch x D embeddings (typically L2-normalised; not required)
 * @param idx      batch data-set indices in [0, N); duplicates are allowed
 * @param loss_out receives the loss averaged over the batch
 * @param df       batch x D gradient, overwritten (may be NULL to compute the loss only)
 * Updates Z as its policy says. The bank is only read; update its rows after the step.
 * @return LCT_OK; LCT_EINVAL (NULL, batch 0 or above 2^24, wrong kind); LCT_ERANGE (an index outside [0, N));
 *         LCT_ENUMERIC (NaN/Inf in f, or similarities overflowing); LCT_ESTATE (LCT_Z_FIXED without Z set);
 *         LCT_ESHAPE (the workspace for this batch, over the ranks, overflows); LCT_ENOMEM; when collective
 *         (a sharded bank, or a communicator): LCT_EMISMATCH (another rank failed or passed another batch
 *         size) and LCT_ECOMM.
 */
LCT_API int lct_loss_nce_compute(lct_loss *loss, const float *f, const int64_t *idx, size_t batch,
                                 float *loss_out, float *df);

/**
 * NCE with the positive taken from the host's current embeddings instead of the bank: the positive
 * score of sample b is f[b]·pos[b] (e.g. @p pos holds a second augmented view), the K noise rows still
 * come from the bank (exclusion modes exclude idx[b]). Z, sampling and errors as lct_loss_nce_compute(),
 * plus LCT_EUNSUPPORTED over a bank sharded over several ranks (the positive must then be its row).
 * @param pos   batch x D positive embeddings
 * @param dpos  batch x D gradient with respect to @p pos, overwritten (may be NULL)
 */
LCT_API int lct_loss_nce_compute_pos(lct_loss *loss, const float *f, const float *pos, const int64_t *idx,
                                     size_t batch, float *loss_out, float *df, float *dpos);

/**
 * Non-parametric softmax: cross-entropy of softmax(V f / tau) over all N bank rows with label idx[b].
 * Arguments and errors as lct_loss_nce_compute().
 */
LCT_API int lct_loss_npsoftmax_compute(lct_loss *loss, const float *f, const int64_t *idx, size_t batch,
                                       float *loss_out, float *df);

/**
 * InvaSpread over 2*@p batch embeddings @p x (2B x D): rows 0..B-1 are the first view of samples
 * 0..B-1 and rows B..2B-1 their second views, so row i's positive is row (i + B) mod 2B. @p batch >= 1.
 * @param dx 2B x D gradient, overwritten (may be NULL)
 * @return LCT_OK; LCT_EINVAL; LCT_ENUMERIC; LCT_ESHAPE (the workspace overflows); LCT_ENOMEM; with a
 *         communicator (lct_loss_set_comm()) LCT_EMISMATCH (another rank failed or passed another batch size)
 *         and LCT_ECOMM.
 */
LCT_API int lct_loss_invaspread_compute(lct_loss *loss, const float *x, size_t batch, float *loss_out,
                                        float *dx);

/**
 * CPC InfoNCE.
 * @param z        batch x T x D latents
 * @param c        batch x T x H contexts (c[b][t] summarises steps 0..t)
 * @param loss_out mean over the K steps of the mean cross-entropy over all anchors (b, t), t + k < T
 * @param dz, dc   gradients, overwritten (either may be NULL); the W_k gradients are accumulated
 *                 into lct_loss_params() unless both are NULL
 * @param accuracy K floats: fraction of anchors of step k whose positive scores highest (may be NULL)
 * @return LCT_OK; LCT_EINVAL (NULL, batch 0, or batch 1 with LCT_INFONCE_BATCH); LCT_ENUMERIC (in z, c or
 *         the scores); LCT_ESHAPE (the workspace overflows); LCT_ENOMEM; with a communicator LCT_EMISMATCH and
 *         LCT_ECOMM.
 */
LCT_API int lct_loss_infonce_compute(lct_loss *loss, const float *z, const float *c, size_t batch,
                                     float *loss_out, float *dz, float *dc, float *accuracy);

/**
 * CMC. @p f holds V pointers to batch x D embeddings (one per view); @p df V pointers to their gradients
 * (overwritten; @p df itself may be NULL). @p idx (data-set indices for the banks) is required for
 * LCT_CMC_NCE and ignored (may be NULL) for LCT_CMC_SOFTMAX. The loss is the sum over the pairs of the
 * graph of both directions' losses, each averaged over the batch.
 * @return as lct_loss_nce_compute(); LCT_EINVAL also for batch 1 with LCT_CMC_SOFTMAX.
 */
LCT_API int lct_loss_cmc_compute(lct_loss *loss, const float *const *f, const int64_t *idx, size_t batch,
                                 float *loss_out, float *const *df);

LCT_END_DECLS

#endif /* LIBCONTRAST_LOSS_H */
