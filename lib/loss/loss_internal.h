/* State of a loss handle and helpers shared by the objectives. */
#ifndef LCT_LOSS_INTERNAL_H
#define LCT_LOSS_INTERNAL_H

#include "../core/internal.h"
#include "../comm/comm.h"

#define LCT__LOSS_MAX_DIM 65536
#define LCT__LOSS_MAX_VIEWS 64
#define LCT__LOSS_MAX_BATCH ((size_t)1 << 24)

struct lct_loss {
    lct_runtime *rt;
    int kind;
    double tau;

    /* NCE and CMC-NCE: one bank per view (NCE: one), one Z per bank. */
    lct_bank **banks;
    size_t n_banks;
    size_t n_rows;       /* N of the banks */
    size_t dim;          /* D of the embeddings */
    size_t k;            /* noise samples */
    int sample_mode;
    int z_policy;
    double z_momentum;
    double neg_weight; /* InvaSpread: m, the weight of the negatives (1: the paper) */
    double *log_z;       /* n_banks */
    int *z_known;        /* n_banks */
    int *z_warned;       /* n_banks: decades of mismatch between a batch's estimate and Z already logged */

    /* non-parametric softmax */
    size_t chunk;

    /* InvaSpread */
    int form;

    /* InfoNCE: W_k (steps x D x H) and its gradient, exposed as `params`. */
    size_t seq_len, ctx_dim, steps;
    int negatives;
    float *w, *gw;
    lct__tensor *tensors;
    char *names;
    struct lct_params params;

    /* CMC */
    size_t views;
    int graph;
    int objective;

    /* Global in-batch negatives (InvaSpread, InfoNCE, CMC-softmax): the ranks of the global batch. */
    lct_comm *comm;

    /* Workspace, grown on first use at a batch size and reused. */
    void *ws;
    size_t ws_bytes;
};

/* Make sure the workspace holds `bytes`; LCT_ENOMEM (state unchanged) on failure. */
int lct__loss_reserve(lct_loss *loss, size_t bytes);
/* As lct__loss_reserve, and in every bank of the loss the workspaces of this call (gather_rows
 * rows for the shared sampling modes) and of the lct_bank_update() at the same batch that
 * follows a step: all or nothing, so a failed call keeps nothing and a step whose loss succeeded
 * allocates no more. */
int lct__loss_reserve_banks(lct_loss *loss, size_t bytes, size_t batch, size_t gather_rows, const char *func);

/* LCT_EINVAL naming `what` unless lo <= v <= hi. */
int lct__loss_check_range(const char *func, const char *what, size_t v, size_t lo, size_t hi);
/* The first checks of a constructor: out non-NULL (then *out = NULL), rt non-NULL and, when `what` is
 * non-NULL, the bank argument of that name (lct__loss_check_bank). */
int lct__loss_new_args(const char *func, lct_loss **out, lct_runtime *rt, lct_bank *bank, const char *what);
/* End of a workspace layout's sizing pass: *bytes, or LCT_ESHAPE naming the batch on overflow. */
int lct__loss_ws_size(lct__wksp w, size_t batch, size_t *bytes, const char *func);

/* LCT_ENUMERIC naming `what` and the first non-finite index if x has NaN/Inf; else LCT_OK. */
int lct__loss_check_finite(const char *func, const char *what, const float *x, size_t n);

/* LCT_ENUMERIC unless every s[i] is finite and |s[i]| / tau stays below 1e37 (the float loops scale by 1/tau). */
int lct__loss_check_scores(const char *func, const char *what, const float *s, size_t n, double tau);

/* Common checks of a compute call: loss non-NULL and of `kind`, batch in range. */
int lct__loss_check_call(const char *func, const lct_loss *loss, int kind, size_t batch);

/* Bank-based objectives (nce.c). */
int lct__loss_check_bank(const char *func, lct_runtime *rt, lct_bank *bank, const char *what);
int lct__loss_setup_z(lct_loss *loss, size_t n_banks, int z_policy, const char *func);
int lct__loss_check_sampling(const char *func, uint32_t k, int mode);
/* One NCE direction: anchors f against bank `view` with Z of that bank; the positive is bank row idx[b],
 * or pos[b] when pos is non-NULL (then dpos, if non-NULL, is overwritten). The workspace must hold
 * lct__nce_workspace(batch). df overwritten (accumulate 0) or added to (1). */
int lct__nce_direction(lct_loss *loss, size_t view, const float *f, const float *pos, const int64_t *idx,
                       size_t batch, double *loss_out, float *df, float *dpos, int accumulate, const char *func);

/* NCE direction over a sharded bank (nce_sharded.c): collective; f, idx, batch are this rank's; loss_out
 * receives the global batch's mean; df (this rank's anchors, accumulate 0/1) as documented there. The
 * workspace must hold lct__nce_sharded_workspace(P * batch). pos is not supported. */
int lct__nce_direction_sharded(lct_loss *loss, size_t view, const float *f, const int64_t *idx, size_t batch,
                               double *loss_out, float *df, int accumulate, const char *func);
int lct__nce_sharded_workspace(const lct_loss *loss, size_t gb, size_t *bytes);

/* Ranks whose batches form the global batch (1 without a communicator). */
static inline size_t lct__loss_ranks(const lct_loss *loss) { return (size_t)lct__comm_size(loss->comm); }
/* Collective when distributed: every rank learns whether all are ready and their batch sizes agree. */
static inline int lct__loss_agree(const lct_loss *loss, int rc, size_t batch, const char *func)
{
    return lct__comm_active(loss->comm) ? lct__comm_agree(loss->comm, rc, batch, "batch", func) : rc;
}

/* Workspace bytes each objective needs at a batch size (0 and LCT_ESHAPE on overflow). */
int lct__nce_workspace(const lct_loss *loss, size_t batch, size_t *bytes);
int lct__npsoftmax_workspace(const lct_loss *loss, size_t batch, size_t *bytes);
int lct__invaspread_workspace(const lct_loss *loss, size_t batch, size_t *bytes);
int lct__infonce_workspace(const lct_loss *loss, size_t batch, size_t *bytes);
int lct__cmc_workspace(const lct_loss *loss, size_t batch, size_t *bytes);

/* Allocate an empty handle of `kind` with default scalars; NULL and LCT_ENOMEM on failure. */
lct_loss *lct__loss_alloc(lct_runtime *rt, int kind);

/*
 * NCE core on a similarity matrix, independent of any bank.
 * s: batch x (k+1) similarities, column 0 the positive. log_kpn = log(K / N), log_z = log Z.
 * row_loss is a batch-double scratch. Writes the mean loss and, if ds is non-NULL, dL/ds (batch x (k+1)), treating Z as a constant
 * as the original does. Rows are independent: parallel over rows, bit-identical for any thread count.
 */
void lct__nce_core(lct_runtime *rt, const float *s, size_t batch, size_t k, double tau, double log_kpn,
                   double log_z, double *row_loss, double *loss_out, float *ds);

/* log of the first-batch estimate of Z: log(mean(exp(s / tau)) * n_rows), computed with a max shift. */
double lct__nce_estimate_log_z(const float *s, size_t count, double tau, size_t n_rows);

/* Apply the Z policy for bank `view` to a fresh batch of similarities. LCT_ESTATE if FIXED and unset. */
int lct__nce_update_z(lct_loss *loss, size_t view, const float *s, size_t count, const char *func);

/* Softmax cross-entropy per row (label column `label[r]`), rows of length n with stride ld;
 * writes loss per row (double) and, if g is non-NULL, g = (softmax - onehot) * scale in place of s. */
double lct__softmax_xent_row(const float *s, size_t n, size_t label, double inv_tau, float *g, double scale,
                             int *argmax_ok);


/*
 * Gradient entries below 1e-30 in magnitude become 0. Softmax and sigmoid tails reach float's denormal
 * range (1e-40 and below), and GEMMs over denormal operands run orders of magnitude slower; such
 * entries change no sum they enter at float precision.
 */
static inline float lct__ftz(double x)
{
    return (x < 1e-30 && x > -1e-30) ? 0.0f : (float)x;
}

/*
 * exp(x) in float, within 2 ulp of expf for x in [-87, 88], 0 below; branch-free so loops over arrays
 * vectorise (glibc's expf is a scalar call). x = n ln2 + r with |r| <= ln2 / 2 (about), exp(r) by a degree-6
 * polynomial, 2^n put into the exponent bits.
 */
static inline float lct__expf(float x)
{
    if (x < -87.0f) x = -87.0f;
    if (x > 88.0f) x = 88.0f;
    /* round to nearest by the 1.5 * 2^23 trick: floorf has no SSE2 vector form */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
