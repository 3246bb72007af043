/**
 * @file libcontrast/replay.h
 * @brief Learning from a stream: a replay store of raw samples, bank rows that follow its slots,
 *        and a novelty score.
 *
 * On a robot or in a game, data come one observation per frame, not as a data set fixed in advance.
 * A replay (::lct_replay) keeps a fixed number of raw samples (uint8 images, float signals) in
 * *slots*; the host inserts what it observes and draws training batches from it. When it is full, a
 * policy chooses which slot a new sample takes: FIFO (the oldest), reservoir (a uniform sample of
 * everything seen) or MinRed (the most redundant sample: the one whose embedding is most similar to
 * another stored one). A memory bank of as many rows as slots can be *bound* to the replay: bank row
 * s then belongs to the sample in slot s, is set when a sample enters the slot and reset when it
 * leaves. A novelty handle (::lct_novelty) scores new embeddings by their distance to the nearest
 * bank rows and keeps a running mean and deviation of that score, so that a host can threshold
 * "this is new".
 *
 * Every buffer is sized at creation (lct_replay_bytes() tells the footprint first); after the first
 * call of each kind, insertions, batches and novelty scores allocate nothing. Everything random is
 * drawn from the handle's own stream of the runtime: results depend on the runtime seed, the order
 * of handle creation and the calls made, never on the thread count. One thread at a time per
 * handle. See docs/stream.md for the per-frame budget pattern.
 */
#ifndef LIBCONTRAST_REPLAY_H
#define LIBCONTRAST_REPLAY_H

#include "runtime.h"
#include "bank.h"

LCT_BEGIN_DECLS

typedef struct lct_replay lct_replay;
typedef struct lct_novelty lct_novelty;

/** Element type of the stored samples. */
typedef enum lct_replay_elem {
    LCT_REPLAY_U8 = 0, /**< uint8_t, e.g. grey levels of images (1 byte per element) */
    LCT_REPLAY_F32 = 1 /**< float, e.g. signals (4 bytes per element, checked finite on insertion) */
} lct_replay_elem;

/** Which slot a new sample takes once the replay is full. */
typedef enum lct_replay_policy {
    /** The oldest sample's: the replay holds the last capacity samples. */
    LCT_REPLAY_FIFO = 0,
    /** Reservoir sampling (Vitter's algorithm R): sample number i (0-based) replaces a uniformly drawn
     *  slot with probability capacity / (i + 1), else it is dropped; every sample seen is held with
     *  the same probability capacity / seen. */
    LCT_REPLAY_RESERVOIR = 1,
    /** Minimum redundancy (MinRed): the new sample always enters; it takes the slot of the stored sample
     *  whose bank row is most similar to another stored row or to the new sample's embedding (ties: the
     *  older sample). Needs a bound bank (lct_replay_bind_bank()). */
    LCT_REPLAY_MINRED = 2
} lct_replay_policy;

/** Largest rank of a sample's shape (C×H×W). */
#define LCT_REPLAY_MAX_RANK 3

#define LCT_REPLAY_OPTIONS_VERSION 1

/** Replay options. Initialise with lct_replay_options_init(); fields are only ever added at the end. */
typedef struct lct_replay_options {
    uint32_t version; /**< LCT_REPLAY_OPTIONS_VERSION */
    int32_t elem;     /**< ::lct_replay_elem (default LCT_REPLAY_U8) */
    int32_t policy;   /**< ::lct_replay_policy (default LCT_REPLAY_FIFO) */
    /** MinRed: slots whose bank rows changed (drawn by lct_replay_sample(), marked by lct_replay_touch(),
     *  or whose nearest neighbour left) re-measured per insertion, 1..4096 (default 64); the rest wait
     *  for the next insertion. Each costs 2·count·D FLOPs. */
    uint32_t refresh;
} lct_replay_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION.
 */
LCT_API int lct_replay_options_init(lct_replay_options *opts, uint32_t version);

/**
 * Bytes a replay of @p capacity samples of shape @p shape needs, before creating it: the samples
 * (capacity × sample size × element size), 16 bytes of bookkeeping per slot (21 more for MinRed,
 * plus its 4·capacity·(refresh + 1) bytes of similarities), and the handle; each block carries at
 * most 80 bytes of alignment and header. Binding a bank of dimension D adds 4·D bytes (4·(refresh + 2)·D
 * for MinRed). Nothing else is ever allocated.
 * @return LCT_OK; LCT_EINVAL (NULL @p shape or @p bytes, as lct_replay_new() for the other
 *         arguments); LCT_ESHAPE (the size overflows); LCT_EVERSION.
 */
LCT_API int lct_replay_bytes(size_t capacity, const uint32_t *shape, size_t rank, const lct_replay_options *opts,
                             size_t *bytes);

/**
 * Create an empty replay of @p capacity slots for samples of shape @p shape (@p rank 1..3
 * dimensions, each ≥ 1: D, C×L or C×H×W). It borrows @p rt and draws its own random stream.
 *
 * @param out       receives the replay; NULL on failure
 * @param capacity  slots, 1..2^30
 * @param opts      options, or NULL for defaults
 * @return LCT_OK; LCT_EINVAL (NULL @p out / @p rt / @p shape, capacity or rank out of range, a zero
 *         dimension, unknown element type or policy, refresh outside 1..4096); LCT_ESHAPE (the
 *         sample size or capacity × sample size overflows); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_replay_new(lct_replay **out, lct_runtime *rt, size_t capacity, const uint32_t *shape, size_t rank,
                           const lct_replay_options *opts);

/** Free a replay (a bound bank is left alone). Accepts NULL. */
LCT_API void lct_replay_free(lct_replay *rp);

/**
 * State of a replay; any out pointer may be NULL.
 * @param capacity  slots
 * @param count     samples held now (slots 0..count−1 are occupied; count only grows, up to capacity)
 * @param seen      samples offered to lct_replay_insert() so far (held or not)
 * @param sample_bytes  bytes of one sample (elements × element size)
 * @return LCT_OK, LCT_EINVAL (NULL @p rp).
 */
LCT_API int lct_replay_info(const lct_replay *rp, size_t *capacity, size_t *count, uint64_t *seen,
                            size_t *sample_bytes);

/**
 * Bind @p bank (borrowed; free the replay first, or unbind with NULL): row s of the bank then follows
 * slot s. An insertion sets the row of the slot it fills to the sample's embedding (as given; pass
 * L2-normalised embeddings where the bank's rows should be), or resets it to zeros without
 * embeddings: a sample's row lives and dies with its slot. MinRed measures redundancy on these rows.
 * Only while the replay is empty (so that every row follows its slot from the start).
 * @return LCT_OK; LCT_EINVAL (NULL @p rp); LCT_ESHAPE (the bank's N is not the capacity);
 *         LCT_EMISMATCH (the bank belongs to another runtime); LCT_EUNSUPPORTED (a sharded bank);
 *         LCT_ESTATE (the replay holds samples); LCT_ENOMEM.
 */
LCT_API int lct_replay_bind_bank(lct_replay *rp, lct_bank *bank);

/**
 * Offer @p count samples, in order, as if one at a time. Each takes a slot by the policy or, under
 * the reservoir policy, may be dropped. With a bound bank, the slot's row becomes the sample's
 * embedding, or zeros if @p embeddings is NULL.
 *
 * @param samples     count × sample size elements of the element type, row-major
 * @param embeddings  count × D floats (D of the bound bank), or NULL
 * @param slots       receives each sample's slot, or −1 if it was dropped; may be NULL
 * @return LCT_OK; LCT_EINVAL (NULL @p rp or @p samples, count 0); LCT_ESHAPE (count × sample size
 *         overflows); LCT_ENUMERIC (NaN or Inf in f32 samples or in @p embeddings); LCT_ESTATE
 *         (@p embeddings without a bound bank; MinRed on a full replay without a bound bank). Nothing
 *         is changed on failure.
 */
LCT_API int lct_replay_insert(lct_replay *rp, const void *samples, size_t count, const float *embeddings,
                              int64_t *slots);

/**
 * Draw a batch of @p batch distinct occupied slots, uniformly, and copy their samples out. Call c of
 * a replay draws from a generator keyed by (runtime seed, replay stream, c). Under MinRed the drawn
 * slots are taken as changed (the host usually moves their bank rows after a step) and re-measured
 * at the next insertions.
 *
 * @param out    batch × sample size elements (may be NULL to draw slots only)
 * @param slots  receives the batch's slots (the bank rows of its samples)
 * @return LCT_OK; LCT_EINVAL (NULL @p rp or @p slots, batch 0); LCT_ERANGE (batch above the samples
 *         held; the message says how many).
 */
LCT_API int lct_replay_sample(lct_replay *rp, size_t batch, void *out, int64_t *slots);

/**
 * Copy the samples of @p slots into @p out (count × sample size elements); @p ages, if not NULL,
 * receives each one's insertion number (its position in the stream of lct_replay_insert(), 0-based).
 * @return LCT_OK; LCT_EINVAL (NULL @p rp / @p slots, both outputs NULL, count 0); LCT_ERANGE (a slot
 *         outside [0, count)).
 */
LCT_API int lct_replay_get(const lct_replay *rp, const int64_t *slots, size_t count, void *out, uint64_t *ages);

/**
 * MinRed: tell the replay that the bank rows of @p slots changed outside lct_replay_sample()'s
 * batches, so that their redundancy is measured again. Does nothing under the other policies.
 * @return LCT_OK; LCT_EINVAL (NULL argument, count 0); LCT_ERANGE (a slot outside [0, count)).
 */
LCT_API int lct_replay_touch(lct_replay *rp, const int64_t *slots, size_t count);

/* ---- novelty ------------------------------------------------------------------------------- */

#define LCT_NOVELTY_OPTIONS_VERSION 1

/** Novelty options. Initialise with lct_novelty_options_init(); fields are only ever added at the end. */
typedef struct lct_novelty_options {
    uint32_t version; /**< LCT_NOVELTY_OPTIONS_VERSION */
    uint32_t k;       /**< nearest bank rows averaged, 1..1024 (default 10) */
    /** Weight of the past in the running mean and variance, in [0, 1) (default 0.99): the n-th score
     *  enters with weight max(1/n, 1 − momentum), so the first ones are a plain average. */
    float momentum;
} lct_novelty_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION.
 */
LCT_API int lct_novelty_options_init(lct_novelty_options *opts, uint32_t version);

/**
 * Create a novelty scorer over the rows of @p bank (borrowed: free the scorer first). Its workspace
 * (64 × 1024 similarities and 64 × k candidates, about 260 KiB + 256·k bytes) is allocated here.
 * @return LCT_OK; LCT_EINVAL (NULL @p out / @p rt / @p bank, k outside 1..1024, momentum outside
 *         [0, 1)); LCT_EMISMATCH (the bank belongs to another runtime); LCT_EUNSUPPORTED (a sharded
 *         bank); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_novelty_new(lct_novelty **out, lct_runtime *rt, lct_bank *bank, const lct_novelty_options *opts);

/** Free a novelty scorer. Accepts NULL. */
LCT_API void lct_novelty_free(lct_novelty *nv);

/**
 * Novelty of @p batch embeddings: score[b] = 1 − (mean of the k largest similarities f[b]·row over the
 * bank rows [0, @p rows)), the mean cosine distance to the k nearest rows when f and the rows are
 * L2-normalised (k is min(k, rows)). z[b] = (score[b] − mean) / deviation with the running statistics
 * of the scores before this call (0 while fewer than two scores were seen or the deviation is 0);
 * then the batch's scores enter the statistics, in order. Cost: 2·batch·rows·D FLOPs in GEMMs of
 * 64 × 1024 blocks, plus a selection pass; no allocation.
 *
 * @param rows   bank rows that hold memories, 1..N: e.g. the count of the replay the bank follows
 * @param score  batch floats
 * @param z      batch floats, or NULL
 * @return LCT_OK; LCT_EINVAL (NULL @p nv / @p f / @p score, batch 0, rows 0); LCT_ERANGE (rows > N);
 *         LCT_ESHAPE (batch × D overflows); LCT_ENUMERIC (NaN or Inf in @p f). Nothing changes on failure.
 */
LCT_API int lct_novelty_score(lct_novelty *nv, const float *f, size_t batch, size_t rows, float *score, float *z);

/**
 * Running statistics of the scores seen so far (any pointer may be NULL): mean, deviation (square root
 * of the running variance) and how many scores entered them.
 * @return LCT_OK, LCT_EINVAL (NULL @p nv).
 */
LCT_API int lct_novelty_stats(const lct_novelty *nv, double *mean, double *deviation, uint64_t *count);

/** Forget the running statistics. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_novelty_reset(lct_novelty *nv);

LCT_END_DECLS

#endif /* LIBCONTRAST_REPLAY_H */
