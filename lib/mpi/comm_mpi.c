/*
 * The MPI implementation of lct_comm_ops: each callback is one MPI collective on a duplicate
 * of the host's communicator. This library sees only libcontrast's public API.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "libcontrast/mpi.h"

typedef struct mpi_user {
    MPI_Comm comm;
    int rank, size;
} mpi_user;

static int mpi_rank(void *u) { return ((mpi_user *)u)->rank; }
static int mpi_size(void *u) { return ((mpi_user *)u)->size; }

/* MPI counts are int: large buffers go in pieces. */
#define PIECE ((size_t)INT_MAX)

static int mpi_allreduce(void *u, float *buf, size_t count)
{
    mpi_user *m = u;
    for (size_t off = 0; off < count; off += PIECE) {
        size_t n = count - off < PIECE ? count - off : PIECE;
        int e = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)n, MPI_FLOAT, MPI_SUM, m->comm);
        if (e != MPI_SUCCESS) return e;
    }
    return 0;
}

static int mpi_allgather(void *u, const void *send, void *recv, size_t bytes)
{
    mpi_user *m = u;
    if (bytes > PIECE) return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, m->comm);
}

static int mpi_broadcast(void *u, void *buf, size_t bytes, int root)
{
    mpi_user *m = u;
    for (size_t off = 0; off < bytes; off += PIECE) {
        size_t n = bytes - off < PIECE ? bytes - off : PIECE;
        int e = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, m->comm);
        if (e != MPI_SUCCESS) return e;
    }
    return 0;
}

static int mpi_barrier(void *u) { return MPI_Barrier(((mpi_user *)u)->comm); }

static void mpi_release(void *u)
{
    mpi_user *m = u;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&m->comm);
    free(m);
}

int lct_comm_new_mpi(lct_comm **out, lct_runtime *rt, MPI_Comm comm)
{
    if (out == NULL) return lct_error_set(LCT_EINVAL, "lct_comm_new_mpi: argument 'out' is NULL");
    *out = NULL;
    if (rt == NULL) return lct_error_set(LCT_EINVAL, "lct_comm_new_mpi: argument 'rt' is NULL");
    if (comm == MPI_COMM_NULL) return lct_error_set(LCT_EINVAL, "lct_comm_new_mpi: argument 'comm' is MPI_COMM_NULL");
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return lct_error_set(LCT_ESTATE, init ? "lct_comm_new_mpi: MPI is already finalised"
                                              : "lct_comm_new_mpi: MPI is not initialised (call MPI_Init first)");
    mpi_user *m = calloc(1, sizeof *m);
    if (m == NULL) return lct_error_set(LCT_ENOMEM, "lct_comm_new_mpi: cannot allocate the communicator state");
    int e = MPI_Comm_dup(comm, &m->comm);
    if (e != MPI_SUCCESS) {
        free(m);
        char msg[96];
        snprintf(msg, sizeof msg, "lct_comm_new_mpi: MPI_Comm_dup failed (error %d)", e);
        return lct_error_set(LCT_ECOMM, msg);
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    /* allgatherv is optional and the library does not call it */
    const lct_comm_ops ops = {.version = LCT_COMM_OPS_VERSION, .rank = mpi_rank, .size = mpi_size,
                              .allreduce_sum_f32 = mpi_allreduce, .allgather = mpi_allgather,
                              .broadcast = mpi_broadcast, .barrier = mpi_barrier, .release = mpi_release};
    int rc = lct_comm_new(out, rt, &ops, m);
    if (rc != LCT_OK) mpi_release(m);
    return rc;
}
