/*
 * A communicator of P threads of one process sharing memory, behind the public callback table
 * (lct_comm_ops): lets the Check suites run every distributed code path without MPI.
 * Sums are taken in rank order, so every rank gets the same bits.
 *
 *   tcomm_group g; tcomm_group_init(&g, P);
 *   thread r: lct_comm *c; tcomm_new(&c, rt, &g, r); ... lct_comm_free(c);
 *   tcomm_group_destroy(&g);
 */
#ifndef LCT_THREAD_COMM_H
#define LCT_THREAD_COMM_H

#include <libcontrast/libcontrast.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TCOMM_MAX 8

typedef struct tcomm_group {
    int size;
    pthread_barrier_t bar;
    const void *ptr[TCOMM_MAX];
    size_t bytes[TCOMM_MAX];
    float *sum;       /* allreduce result, grown by rank 0 */
    size_t sum_cap;
    int fail_op;      /* tests: the callbacks fail while this is non-zero */
} tcomm_group;

typedef struct tcomm_rank {
    tcomm_group *g;
    int rank;
} tcomm_rank;

static inline void tcomm_group_init(tcomm_group *g, int size)
{
    memset(g, 0, sizeof *g);
    g->size = size;
    pthread_barrier_init(&g->bar, NULL, (unsigned)size);
}

static inline void tcomm_group_destroy(tcomm_group *g)
{
    pthread_barrier_destroy(&g->bar);
    free(g->sum);
}

static inline void tcomm_wait(tcomm_group *g) { pthread_barrier_wait(&g->bar); }

static int tcomm_rank_fn(void *u) { return ((tcomm_rank *)u)->rank; }
static int tcomm_size_fn(void *u) { return ((tcomm_rank *)u)->g->size; }

static int tcomm_allreduce(void *u, float *buf, size_t count)
{
    tcomm_rank *me = u;
    tcomm_group *g = me->g;
    if (g->fail_op) return 7;
    if (me->rank == 0 && g->sum_cap < count) {
        free(g->sum);
        g->sum = malloc(count * sizeof(float));
        g->sum_cap = count;
    }
    g->ptr[me->rank] = buf;
    tcomm_wait(g);
    size_t lo = count * (size_t)me->rank / (size_t)g->size, hi = count * (size_t)(me->rank + 1) / (size_t)g->size;
    for (size_t i = lo; i < hi; i++) {
        float s = 0.0f;
        for (int r = 0; r < g->size; r++) s += ((const float *)g->ptr[r])[i];
        g->sum[i] = s;
    }
    tcomm_wait(g);
    memcpy(buf, g->sum, count * sizeof(float));
    tcomm_wait(g);
    return 0;
}

static int tcomm_allgather(void *u, const void *send, void *recv, size_t bytes)
{
    tcomm_rank *me = u;
    tcomm_group *g = me->g;
    if (g->fail_op) return 7;
    g->ptr[me->rank] = send;
    tcomm_wait(g);
    for (int r = 0; r < g->size; r++) memcpy((char *)recv + (size_t)r * bytes, g->ptr[r], bytes);
    tcomm_wait(g);
    return 0;
}

static int tcomm_allgatherv(void *u, const void *send, size_t send_bytes, void *recv, const size_t *recv_bytes,
                            const size_t *displs)
{
    tcomm_rank *me = u;
    tcomm_group *g = me->g;
    if (g->fail_op) return 7;
    g->ptr[me->rank] = send;
    g->bytes[me->rank] = send_bytes;
    tcomm_wait(g);
    int bad = 0;
    for (int r = 0; r < g->size; r++) {
        if (g->bytes[r] != recv_bytes[r]) bad = 1;
        else memcpy((char *)recv + displs[r], g->ptr[r], recv_bytes[r]);
    }
    tcomm_wait(g);
    return bad ? 9 : 0;
}

static int tcomm_broadcast(void *u, void *buf, size_t bytes, int root)
{
    tcomm_rank *me = u;
    tcomm_group *g = me->g;
    if (g->fail_op) return 7;
    if (me->rank == root) g->ptr[root] = buf;
    tcomm_wait(g);
    if (me->rank != root) memcpy(buf, g->ptr[root], bytes);
    tcomm_wait(g);
    return 0;
}

static int tcomm_barrier(void *u)
{
    tcomm_rank *me = u;
    if (me->g->fail_op) return 7;
    tcomm_wait(me->g);
    return 0;
}

static void tcomm_release(void *u) { free(u); }

/* Rank `rank` of group g as an lct_comm on runtime rt. */
static inline int tcomm_new(lct_comm **out, lct_runtime *rt, tcomm_group *g, int rank)
{
    lct_comm_ops ops;
    lct_comm_ops_init(&ops, LCT_COMM_OPS_VERSION);
    /* the rank queries, the collectives, and the release of the user pointer */
    ops.rank = tcomm_rank_fn, ops.size = tcomm_size_fn;
    ops.allreduce_sum_f32 = tcomm_allreduce, ops.allgather = tcomm_allgather, ops.allgatherv = tcomm_allgatherv;
    ops.broadcast = tcomm_broadcast, ops.barrier = tcomm_barrier;
    ops.release = tcomm_release;
    tcomm_rank *me = malloc(sizeof *me);
    me->g = g;
    me->rank = rank;
    int rc = lct_comm_new(out, rt, &ops, me);
    if (rc) free(me);
    return rc;
}

/* Run fn(rank, arg) on P threads (rank 0 on a new thread too) and wait for all of them. */
typedef void (*tcomm_fn)(int rank, void *arg);
typedef struct {
    tcomm_fn fn;
    void *arg;
    int rank;
} tcomm_job;

static void *tcomm_trampoline(void *p)
{
    tcomm_job *j = p;
    j->fn(j->rank, j->arg);
    return NULL;
}

static inline void tcomm_run(int P, tcomm_fn fn, void *arg)
{
    pthread_t th[TCOMM_MAX];
    tcomm_job jobs[TCOMM_MAX];
    for (int r = 0; r < P; r++) {
        jobs[r] = (tcomm_job){fn, arg, r};
        pthread_create(&th[r], NULL, tcomm_trampoline, &jobs[r]);
    }
    for (int r = 0; r < P; r++) pthread_join(th[r], NULL);
}

/* fn(rank, arg) for the P ranks of group g: in this thread as a group of one when P is 1, else on P
 * threads of a new group that is destroyed afterwards. */
static inline void tcomm_run_group(tcomm_group *g, int P, tcomm_fn fn, void *arg)
{
    if (P == 1) {
        g->size = 1;
        fn(0, arg);
        return;
    }
    tcomm_group_init(g, P);
    tcomm_run(P, fn, arg);
    tcomm_group_destroy(g);
}

#endif
