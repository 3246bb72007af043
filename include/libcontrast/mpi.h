/**
 * @file libcontrast/mpi.h
 * @brief The MPI communicator, in the separate library libcontrast-mpi (pkg-config libcontrast-mpi).
 *
 * The only libcontrast header that includes <mpi.h>; the core library has no MPI dependency.
 * Built when Meson finds MPI (`-Dmpi=auto|enabled|disabled`). Launch, tolerances and what is
 * exchanged when: docs/distributed.md.
 */
#ifndef LIBCONTRAST_MPI_H
#define LIBCONTRAST_MPI_H

#include <mpi.h>

#include "comm.h"

/* As LCT_API, for the functions of libcontrast-mpi, which is a DLL of its own on Windows. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(LCT_STATIC)
#    define LCT_MPI_API
#  elif defined(LCT_BUILDING_MPI_LIBRARY)
#    define LCT_MPI_API __declspec(dllexport)
#  else
#    define LCT_MPI_API __declspec(dllimport)
#  endif
#else
#  define LCT_MPI_API LCT_API
#endif

LCT_BEGIN_DECLS

/**
 * Create a communicator over the ranks of the host's @p comm. Collective over @p comm: every rank
 * calls it. The communicator works on its own duplicate of @p comm (MPI_Comm_dup, with
 * MPI_ERRORS_RETURN), so its traffic never mixes with the host's; lct_comm_free() frees the
 * duplicate (call it before MPI_Finalize). The handle borrows @p rt. Its small state (two arrays
 * of P ints) is allocated with malloc, not the runtime's hooks. Collectives move at most 2^31 − 1
 * bytes per rank and call (an all-reduce or broadcast is split into pieces of that size); larger
 * gathers fail with LCT_ECOMM. The callbacks need MPI_THREAD_SERIALIZED or better only if ranks
 * use libcontrast from several threads at once.
 *
 * @param out   receives the communicator; NULL on failure
 * @param rt    runtime, borrowed
 * @param comm  the host's communicator (e.g. MPI_COMM_WORLD)
 * @return LCT_OK; LCT_EINVAL (NULL @p out or @p rt, @p comm is MPI_COMM_NULL); LCT_ESTATE (MPI is not
 *         initialised, or already finalised); LCT_ECOMM (MPI_Comm_dup or a query failed); LCT_ENOMEM.
 */
LCT_MPI_API int lct_comm_new_mpi(lct_comm **out, lct_runtime *rt, MPI_Comm comm);

LCT_END_DECLS

#endif /* LIBCONTRAST_MPI_H */
