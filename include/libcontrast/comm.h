/**
 * @file libcontrast/comm.h
 * @brief Communicators: the collective operations data-parallel training needs, from any engine.
 *
 * An ::lct_comm is a group of P processes (ranks 0..P-1) that run the same training loop on
 * different slices of the data. It is defined by a small versioned table of collective
 * callbacks (::lct_comm_ops) and a user pointer, so that a host can plug in the engine it
 * already has (MPI, Gloo, NCCL, a game server's transport). libcontrast ships two:
 * lct_comm_new_self() (one process; every collective is a copy or nothing) and, in the separate
 * library libcontrast-mpi, lct_comm_new_mpi() (<libcontrast/mpi.h>).
 *
 * Handles that take a communicator (the optimiser's gradient averaging, a sharded memory bank,
 * losses with global in-batch negatives) call its collectives inside their own calls: every
 * rank must make the same calls in the same order with matching arguments, as with any
 * collective API. See docs/distributed.md for what is exchanged when.
 *
 * A communicator borrows its runtime (free the communicator first) and the callbacks' user
 * pointer. One thread at a time per communicator.
 *
 * Errors: a callback that returns non-zero makes the libcontrast call fail with ::LCT_ECOMM,
 * the message naming the operation and the callback's code. After such a failure the ranks may
 * disagree about what happened: the host should treat it as fatal for the job.
 */
#ifndef LIBCONTRAST_COMM_H
#define LIBCONTRAST_COMM_H

#include "runtime.h"
#include "params.h"

LCT_BEGIN_DECLS

typedef struct lct_comm lct_comm;

#define LCT_COMM_OPS_VERSION 1

/**
 * The collective callbacks of a communicator. Every callback receives the @c user pointer given
 * to lct_comm_new() and returns 0 on success, anything else on failure. Buffers never overlap
 * unless said so. All ranks call the collectives in the same order with matching sizes.
 * Initialise with lct_comm_ops_init(); fields are only ever added at the end.
 */
typedef struct lct_comm_ops {
    uint32_t version; /**< LCT_COMM_OPS_VERSION */
    /** This process's rank in 0..size-1 (asked once, by lct_comm_new()). */
    int (*rank)(void *user);
    /** Number of ranks, >= 1 (asked once, by lct_comm_new()). */
    int (*size)(void *user);
    /** In place: buf[i] = sum over ranks of buf[i], @p count floats. Every rank must get the same
     *  result (sum in a fixed order of ranks). */
    int (*allreduce_sum_f32)(void *user, float *buf, size_t count);
    /** recv (size × @p bytes) = the @p bytes of every rank's @p send, in rank order. */
    int (*allgather)(void *user, const void *send, void *recv, size_t bytes);
    /** Optional (may be NULL; the library does not call it): rank r sends @p send_bytes
     *  (= recv_bytes[r]); recv receives rank r's bytes at offset displs[r]. @p recv_bytes and
     *  @p displs have size entries (bytes), the same on every rank. */
    int (*allgatherv)(void *user, const void *send, size_t send_bytes, void *recv, const size_t *recv_bytes,
                      const size_t *displs);
    /** Copy @p bytes of @p buf from rank @p root to every rank's @p buf. */
    int (*broadcast)(void *user, void *buf, size_t bytes, int root);
    /** Return once every rank has entered. */
    int (*barrier)(void *user);
    /** Called once by lct_comm_free() (may be NULL): release what @c user holds. */
    void (*release)(void *user);
} lct_comm_ops;

/**
 * Fill @p ops with NULL callbacks and version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p ops), LCT_EVERSION.
 */
LCT_API int lct_comm_ops_init(lct_comm_ops *ops, uint32_t version);

/**
 * Create a communicator from a callback table. The table is copied; @p user is borrowed (and
 * handed to @c release by lct_comm_free()). Calls @c rank and @c size once.
 * @param out  receives the communicator; NULL on failure
 * @param rt   runtime, borrowed
 * @return LCT_OK; LCT_EINVAL (NULL argument, a NULL callback other than @c allgatherv
 *         or @c release);
 *         LCT_EVERSION (ops->version); LCT_ERANGE (size < 1 or rank outside 0..size-1);
 *         LCT_ENOMEM. On failure @c release is not called.
 */
LCT_API int lct_comm_new(lct_comm **out, lct_runtime *rt, const lct_comm_ops *ops, void *user);

/**
 * The single-process communicator: size 1, rank 0, every collective a copy (or nothing). With it
 * every distributed code path runs unchanged in one process.
 * @return LCT_OK, LCT_EINVAL, LCT_ENOMEM.
 */
LCT_API int lct_comm_new_self(lct_comm **out, lct_runtime *rt);

/** Free a communicator (calls its @c release callback). Accepts NULL. */
LCT_API void lct_comm_free(lct_comm *comm);

/** This process's rank (>= 0), or LCT_EINVAL for NULL. */
LCT_API int lct_comm_rank(const lct_comm *comm);

/** Number of ranks (>= 1), or LCT_EINVAL for NULL. */
LCT_API int lct_comm_size(const lct_comm *comm);

/**
 * Collective: in place, buf[i] = sum over ranks of buf[i] (e.g. to average a host metric).
 * @return LCT_OK; LCT_EINVAL (NULL argument, count 0); LCT_ESHAPE (count floats overflow); LCT_ECOMM.
 */
LCT_API int lct_comm_allreduce_sum(lct_comm *comm, float *buf, size_t count);

/**
 * Collective: @p recv (size × @p bytes) receives every rank's @p bytes of @p send in rank order.
 * @return LCT_OK; LCT_EINVAL (NULL argument, bytes 0); LCT_ESHAPE (size × bytes overflows); LCT_ECOMM.
 */
LCT_API int lct_comm_allgather(lct_comm *comm, const void *send, void *recv, size_t bytes);

/**
 * Collective: copy @p bytes of @p buf from rank @p root to every rank.
 * @return LCT_OK; LCT_EINVAL (NULL argument, bytes 0); LCT_ESHAPE (bytes larger than any buffer);
 *         LCT_ERANGE (root outside 0..size-1); LCT_ECOMM.
 */
LCT_API int lct_comm_broadcast(lct_comm *comm, void *buf, size_t bytes, int root);

/** Collective: return once every rank has entered. @return LCT_OK, LCT_EINVAL, LCT_ECOMM. */
LCT_API int lct_comm_barrier(lct_comm *comm);

/**
 * Collective: copy every tensor of @p params (trainable and state) from rank @p root to every
 * rank, so that all start from the same weights. The sets must have the same tensors on every
 * rank (the same architecture); this is checked (count and sizes) before any value moves.
 * @return LCT_OK; LCT_EINVAL (NULL argument); LCT_ERANGE (root); LCT_EMISMATCH (@p params and
 *         @p comm belong to different runtimes, or the sets differ between ranks: nothing is
 *         changed); LCT_ECOMM; LCT_ENOMEM.
 */
LCT_API int lct_params_broadcast(lct_params *params, lct_comm *comm, int root);

LCT_END_DECLS

#endif /* LIBCONTRAST_COMM_H */
