/*
 * Parallel regions. A region's range is cut into chunks that its tasks claim one by one, so that a
 * task that starts late (its worker was asleep, or the host's job system was busy) finds the work
 * already done instead of holding everyone up. Tasks go to the host's scheduler when the runtime has
 * one, else to the runtime's pool; regions never nest (a task's own loops run inline).
 */
#include <stdatomic.h>

#include "internal.h"
#include "pool.h"

/* Chunks per task: enough to even out a late or preempted task, few enough to keep runs long. */
#define CHUNKS_PER_TASK 4

static _Thread_local int in_region;
static _Thread_local size_t region_slot; /* the task being run: which region slot it is */

int lct__in_region(void)
{
    return in_region;
}

size_t lct__region_slot(void)
{
    return in_region ? region_slot : 0;
}

typedef struct region {
    lct__range_fn fn;
    void *ctx;
    size_t n, chunk, nchunks;
    int fixed; /* lct__parallel_tasks: task t runs [t, t + 1) */
    atomic_size_t next;
} region;

static void run_task(void *arg, size_t t)
{
    region *r = arg;
    int outer = in_region;
    in_region = 1;
    region_slot = t;
    if (r->fixed) {
        r->fn(r->ctx, t, t + 1, t);
    } else {
        for (;;) {
            size_t c = atomic_fetch_add(&r->next, 1);
            if (c >= r->nchunks) break;
            size_t b = c * r->chunk, e = r->n - b > r->chunk ? b + r->chunk : r->n;
            r->fn(r->ctx, b, e, t);
        }
    }
    in_region = outer;
}

static void dispatch(lct_runtime *rt, size_t ntasks, region *r)
{
    const lct_scheduler *s = lct__runtime_scheduler(rt);
    if (s != NULL) {
        s->run(s->user, ntasks, run_task, r);
        return;
    }
    lct__threadpool *p = lct__runtime_pool(rt);
    if (p != NULL && lct__threads_run(p, ntasks, run_task, r)) return;
    for (size_t t = 0; t < ntasks; t++) run_task(r, t);
}

void lct__parallel(lct_runtime *rt, int threads, size_t n, size_t grain, lct__range_fn fn, void *ctx)
{
    if (n == 0) return;
    if (grain == 0) grain = 1;
    if (threads <= 1 || n <= grain || in_region || rt == NULL) {
        fn(ctx, 0, n, 0);
        return;
    }
    size_t pieces = n / grain + (n % grain != 0);
    size_t want = (size_t)threads * CHUNKS_PER_TASK;
    size_t nchunks = pieces < want ? pieces : want;
    size_t chunk = n / nchunks + (n % nchunks != 0);
    chunk = (chunk + grain - 1) / grain * grain;
    nchunks = n / chunk + (n % chunk != 0);
    region r = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk, .nchunks = nchunks, .fixed = 0};
    atomic_init(&r.next, 0);
    dispatch(rt, nchunks < (size_t)threads ? nchunks : (size_t)threads, &r);
}

void lct__parallel_tasks(lct_runtime *rt, int threads, lct__range_fn fn, void *ctx)
{
    size_t nt = threads > 1 ? (size_t)threads : 1;
    region r = {.fn = fn, .ctx = ctx, .n = nt, .chunk = 1, .nchunks = nt, .fixed = 1};
    atomic_init(&r.next, 0);
    if (nt == 1 || in_region || rt == NULL) {
        for (size_t t = 0; t < nt; t++) fn(ctx, t, t + 1, t);
        return;
    }
    dispatch(rt, nt, &r);
}
