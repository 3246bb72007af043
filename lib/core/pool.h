/* The runtime's own thread pool (pool.c); parallel.c is its only user. */
#ifndef LCT_POOL_H
#define LCT_POOL_H

#include "internal.h"

typedef struct lct__threadpool lct__threadpool;

/* Bytes lct__threads_init needs; the runtime keeps its pool inside its own block, so the pool
 * allocates nothing, ever. */
size_t lct__threads_bytes(void);
/* A pool with no thread yet (workers start with the first region that needs them) in `mem`
 * (lct__threads_bytes(), any alignment). NULL if its locks cannot be created. */
lct__threadpool *lct__threads_init(void *mem);
/* Stop and join the workers. Accepts NULL. */
void lct__threads_destroy(lct__threadpool *p);
/* fn(ctx, t) for every t < ntasks (>= 2) on the calling thread and up to ntasks - 1 workers; returns
 * when all are done. Returns 0 without running anything when the pool serves another region, has no
 * worker (none could be started) or was created before fork() in a parent process: the caller then
 * runs the tasks itself. */
int lct__threads_run(lct__threadpool *p, size_t ntasks, lct_task_fn fn, void *ctx);
/* How many times the pool found the cores taken by others and ran regions on the caller alone for a
 * while (read by the region owner or after the regions). */
uint64_t lct__threads_pauses(const lct__threadpool *p);
/* Workers started so far. */
size_t lct__threads_workers(const lct__threadpool *p);

#endif
