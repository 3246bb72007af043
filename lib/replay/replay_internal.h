/*
 * Internal view of the stream module's handles (replay, novelty) for its own files and the
 * checkpoint module. Nothing here is exported.
 */
#ifndef LCT_REPLAY_INTERNAL_H
#define LCT_REPLAY_INTERNAL_H

#include "../core/internal.h"

#define LCT__REPLAY_MAX_CAPACITY ((size_t)1 << 30)
#define LCT__REPLAY_MAX_REFRESH 4096u
/* Eviction candidates MinRed re-measures before it settles on one whose measure is current. */
#define LCT__REPLAY_MAX_RECHECK 4

struct lct_replay {
    lct_runtime *rt;
    int elem, policy;
    uint32_t shape[LCT_REPLAY_MAX_RANK], rank;
    size_t sample_elems, sample_bytes;
    size_t capacity, count;     /* slots 0..count-1 hold samples */
    uint64_t seen;              /* samples offered so far */
    uint64_t stream;            /* the replay's random stream */
    uint64_t sample_calls;      /* successful lct_replay_sample calls: keys each call's draws */
    unsigned char *data;        /* capacity x sample_bytes */
    uint64_t *age;              /* capacity: insertion number of each slot's sample */
    int64_t *perm;              /* capacity: scratch of the batch draws */
    lct_bank *bank;             /* bound bank (borrowed) or NULL */
    size_t d;                   /* its row dimension */
    float *row;                 /* d floats of zeros (the reset row) */
    /* MinRed: each slot's most similar other slot, as last measured */
    uint32_t refresh;
    float *nn_sim;              /* capacity; -INFINITY while the slot has no other slot to compare with */
    int64_t *nn_idx;            /* capacity; -1 likewise */
    unsigned char *dirty;       /* capacity: 1 while the slot waits in the queue to be re-measured */
    int64_t *queue;             /* capacity: ring of dirty slots, oldest first */
    size_t q_head, q_len;
    float *sims;                /* (refresh + 1) x capacity similarities */
    float *rows;                /* (refresh + 1) x d: the rows being measured */
};

struct lct_novelty {
    lct_runtime *rt;
    lct_bank *bank;
    uint32_t k;
    float momentum;
    uint64_t n;                 /* scores in the statistics */
    double mean, var;
    float *sims;                /* LCT__NOVELTY_QB x LCT__NOVELTY_RB */
    float *best;                /* LCT__NOVELTY_QB x k, each query's best similarities, descending */
};

#define LCT__NOVELTY_QB 64      /* queries per block */
#define LCT__NOVELTY_RB 1024    /* bank rows per block */
#define LCT__NOVELTY_MAX_K 1024u

/* ---- MinRed (minred.c) ------------------------------------------------------------------------ */

/* Mark slot s to be re-measured (queued once). */
void lct__minred_mark(lct_replay *rp, size_t s);
/* Slot s (< count) just received a new row: measure it against every occupied slot (rows [0, count)),
 * given its similarities sim[0..count) with them (sim[s] ignored), and update every other slot's
 * nearest neighbour. */
void lct__minred_enter(lct_replay *rp, size_t s, const float *sim);
/* Re-measure up to `refresh` queued slots. */
void lct__minred_refresh(lct_replay *rp);
/* The slot a new sample with similarities sim[0..capacity) to the stored rows replaces. */
size_t lct__minred_victim(lct_replay *rp, const float *sim);
/* Similarities of the embedding e (d floats) with rows [0, count) into sim. */
void lct__minred_measure(lct_replay *rp, const float *e, size_t count, float *sim);

#endif /* LCT_REPLAY_INTERNAL_H */
