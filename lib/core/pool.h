/* The runtime's own thread pool (pool.c); parallel.c is its only user. */
#ifndef LCT_POOL_H
#define LCT_POOL_H

#include "internal.h"

typedef struct lct__pool lct__pool;

/* Bytes lct__pool_init needs; the runtime keeps its pool inside its own block, so the pool
 * allocates nothing, ever. */
size_t lct__pool_bytes(void);
/* A pool with no thread yet (workers start with the first region that needs them) in `mem`
 * (lct__pool_bytes(), any alignment). NULL if its locks cannot be created. */
lct__pool *lct__pool_init(void *mem);
/* Stop and join the workers. Accepts NULL. */
void lct__pool_destroy(lct__pool *p);
/* fn(ctx, t) for every t < ntasks (>= 2) on the calling thread and up to ntasks - 1 workers; returns
 * when all are done. Returns 0 without running anything when the pool serves another region, has no
 * worker (none could be started) or was created before fork() in a parent process: the caller then
 * runs the tasks itself. */
int lct__pool_run(lct__pool *p, size_t ntasks, lct_task_fn fn, void *ctx);
/* Workers started so far. */
size_t lct__pool_workers(const lct__pool *p);

#endif
