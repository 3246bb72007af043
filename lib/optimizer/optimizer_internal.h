/* Internal view of the optimiser handle. */
#ifndef LCT_OPTIMIZER_INTERNAL_H
#define LCT_OPTIMIZER_INTERNAL_H

#include "../core/internal.h"

#define LCT__MAX_MILESTONES 64


typedef struct lct__opt_set {
    lct_params *p;
    size_t first_state;   /* index of its first state tensor in the optimiser's state set */
    float *store;         /* state floats of this set */
    char *names;          /* state tensor names, fixed-width slots */
} lct__opt_set;

struct lct_optimizer {
    lct_runtime *rt;
    lct_optimizer_options o;
    uint64_t milestones[LCT__MAX_MILESTONES];
    lct__opt_set *sets;
    size_t n_sets;
    lct_params state;
    size_t buffers;       /* state buffers per trainable tensor: 0, 1 (momentum) or 2 (Adam moments) */
    uint64_t step;
    lct_comm *comm;       /* borrowed; gradients are averaged over its ranks before each step (NULL: none) */
    float *bucket;        /* concatenation buffer of the gradient all-reduce, grown on first use */
    size_t bucket_cap;    /* floats in bucket */
};

/* Gradients are all-reduced in buckets of this many floats (4 MiB); a tensor at least this large
 * goes alone, in place. */
#define LCT__OPT_BUCKET_FLOATS ((size_t)1 << 20)

/* Average the gradients of every attached set over the ranks of opt->comm (no-op without one). */
int lct__optimizer_allreduce(lct_optimizer *opt, const char *func);

/* Learning rate at step s. */
double lct__schedule_lr(const lct_optimizer *opt, uint64_t s);
/* Check the schedule fields of o (milestones given separately). Records an error naming the field. */
int lct__schedule_check(const lct_optimizer_options *o, const uint64_t *milestones, size_t n, const char *func);

#endif
