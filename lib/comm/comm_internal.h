/* The communicator's state: only lib/comm's own files see it (the other modules use comm.h). */
#ifndef LCT_COMM_INTERNAL_H
#define LCT_COMM_INTERNAL_H

#include "comm.h"

struct lct_comm {
    lct_runtime *rt;
    lct_comm_ops ops;
    void *user;
    int rank, size;
    double *scratch;       /* size * scratch_cap doubles, for lct__comm_sum_f64 */
    size_t scratch_cap;    /* doubles per rank in scratch */
};

#endif
