/*
 * The bank's state and what its own files share; only lib/bank includes this (the other
 * modules see bank.h).
 */
#ifndef LCT_BANK_INTERNAL_H
#define LCT_BANK_INTERNAL_H

#include "bank.h"

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

#endif /* LCT_BANK_INTERNAL_H */
