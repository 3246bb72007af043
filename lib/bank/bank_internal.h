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

#endif /* LCT_BANK_INTERNAL_H */
