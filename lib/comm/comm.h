/*
 * The communicator as the other modules (optimizer, encoder, bank, loss, checkpoint) see it.
 * Every lct__comm_* call that exchanges data is collective; on a callback failure it records
 * LCT_ECOMM naming `func` and the operation. A NULL communicator stands for one rank.
 */
#ifndef LCT_COMM_COMM_H
#define LCT_COMM_COMM_H

#include "../core/internal.h"
#include "libcontrast/comm.h"

/* This rank and the number of ranks (0 and 1 for a NULL communicator). */
int lct__comm_rank(const lct_comm *c);
int lct__comm_size(const lct_comm *c);
/* 1 when collectives have something to do (a comm of more than one rank). */
int lct__comm_active(const lct_comm *c);
/* The runtime the communicator was created from. */
lct_runtime *lct__comm_runtime(const lct_comm *c);

int lct__comm_allreduce_f32(lct_comm *c, float *buf, size_t count, const char *func);
int lct__comm_allgather(lct_comm *c, const void *send, void *recv, size_t bytes, const char *func);
int lct__comm_bcast(lct_comm *c, void *buf, size_t bytes, int root, const char *func);
/* In place: vals[i] = sum over ranks, summed in rank order in double (the same on every rank);
 * n <= 128 (uses the comm's scratch, allocated at creation). */
int lct__comm_sum_f64(lct_comm *c, double *vals, size_t n, const char *func);
/* Collective check that `value` is the same on every rank: LCT_EMISMATCH (on every rank) naming
 * `what` and both values otherwise. */
int lct__comm_check_same(lct_comm *c, uint64_t value, const char *what, const char *func);

/* Collective agreement before a collective computation: every rank passes its local status rc
 * (LCT_OK, or the error it has recorded) and a value that must be the same everywhere (e.g. its
 * batch size). Returns LCT_OK on every rank if all are ready and agree; otherwise every rank fails:
 * a rank with its own error returns it unchanged, the others LCT_EMISMATCH naming the failed rank
 * or the disagreement. */
int lct__comm_agree(lct_comm *c, int rc, uint64_t value, const char *what, const char *func);

/* Rows [offset, offset + count) of n owned by rank r of p: a contiguous split, the first n % p ranks
 * one row more. */
static inline void lct__comm_split(size_t n, int p, int r, size_t *offset, size_t *count)
{
    size_t q = n / (size_t)p, m = n % (size_t)p, rr = (size_t)r;
    *offset = rr * q + (rr < m ? rr : m);
    *count = q + (rr < m ? 1 : 0);
}

#endif
