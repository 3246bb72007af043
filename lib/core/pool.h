/* The runtime's own thread pool (pool.c); parallel.c is its only user. */
#ifndef LCT_POOL_H
#define LCT_POOL_H

#include "internal.h"

typedef struct lct__pool lct__pool;

/* A pool with no thread yet (workers start with the first region that needs them), in memory from
 * the runtime's hooks that lct_runtime_memory does not count. NULL on failure. */
lct__pool *lct__pool_new(lct_runtime *rt);
/* Stop and join the workers, release the pool. Accepts NULL. */
void lct__pool_free(lct__pool *p);
/* fn(ctx, t) for every t < ntasks (>= 2) on the calling thread and up to ntasks - 1 workers; returns
 * when all are done. Returns 0 without running anything when the pool serves another region, has no
 * worker (none could be started) or was created before fork() in a parent process: the caller then
 * runs the tasks itself. */
int lct__pool_run(lct__pool *p, size_t ntasks, lct_task_fn fn, void *ctx);
/* Workers started so far. */
size_t lct__pool_workers(const lct__pool *p);

#endif
