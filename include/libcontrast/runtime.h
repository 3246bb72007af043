/**
 * @file libcontrast/runtime.h
 * @brief The runtime: threads, seed, allocator hooks, log callback, BLIS kernels.
 *
 * Every other handle is created from a runtime and borrows it: free the
 * runtime last. Handles created from one runtime may be used from different
 * threads at the same time (one thread per handle); see docs/threading.md.
 */
#ifndef LIBCONTRAST_RUNTIME_H
#define LIBCONTRAST_RUNTIME_H

#include "common.h"

LCT_BEGIN_DECLS

typedef struct lct_runtime lct_runtime;

/**
 * Allocation hook. Must return a block of at least @p size bytes (any
 * alignment; the library aligns inside it) or NULL on failure.
 */
typedef void *(*lct_alloc_fn)(void *user, size_t size);
/** Release a block returned by the matching ::lct_alloc_fn. Never called with NULL. */
typedef void (*lct_free_fn)(void *user, void *block);

/** Log levels, most severe first. */
typedef enum lct_log_level {
    LCT_LOG_ERROR = 0,
    LCT_LOG_WARN = 1,
    LCT_LOG_INFO = 2,
    LCT_LOG_DEBUG = 3
} lct_log_level;

/** Log hook: called with a NUL-terminated message. The library never prints by itself. */
typedef void (*lct_log_fn)(void *user, int level, const char *message);

/**
 * A task of a parallel region: run the library's work item @p index of the region @p task_ctx.
 * Tasks of one region may run on any threads, in any order, at the same time.
 */
typedef void (*lct_task_fn)(void *task_ctx, size_t index);

#define LCT_SCHEDULER_VERSION 1

/**
 * A host's scheduler: its job system, thread pool or executor, handed to the runtime so that the
 * library runs its parallel work on the host's workers and creates no thread of its own. Given in
 * ::lct_runtime_options (and copied there); initialise with lct_scheduler_init(). Fields are only
 * ever added at the end. See docs/threading.md.
 */
typedef struct lct_scheduler {
    uint32_t version;  /**< LCT_SCHEDULER_VERSION */
    /** How many tasks may run at once, the calling thread included when @c run lets it take part,
     *  1..256. Regions are cut into at most this many tasks (the runtime's thread count). */
    uint32_t workers;
    /**
     * Run fn(task_ctx, i) once for every i in 0..n-1 (n >= 2), on any of the host's threads and in
     * any order, and return only when every call has returned. The calling thread may run some or
     * all of them itself. Called from inside libcontrast calls only, by the thread that made the call;
     * never from inside a task (regions do not nest). Several threads may call it at once when they
     * drive different handles of the runtime. Tasks do not block on one another: running them one
     * after another on one thread is always correct.
     */
    void (*run)(void *user, size_t n, lct_task_fn fn, void *task_ctx);
    void *user;        /**< passed to @c run */
} lct_scheduler;

/**
 * Fill @p sched with version @p version, 1 worker and no callback.
 * @return LCT_OK, LCT_EINVAL (NULL @p sched), LCT_EVERSION.
 */
LCT_API int lct_scheduler_init(lct_scheduler *sched, uint32_t version);

#define LCT_RUNTIME_OPTIONS_VERSION 2

/** Runtime options. Initialise with lct_runtime_options_init(); fields are only ever added at the end. */
typedef struct lct_runtime_options {
    uint32_t version;      /**< LCT_RUNTIME_OPTIONS_VERSION */
    uint32_t threads;      /**< threads for GEMM and batch loops, the caller's included, 1..256 (default 1) */
    uint64_t seed;         /**< seed of every random stream drawn from this runtime (default 0) */
    lct_alloc_fn alloc;    /**< allocation hook, or NULL for malloc; set together with @c free */
    lct_free_fn free;      /**< release hook, or NULL for free */
    void *alloc_user;      /**< passed to @c alloc and @c free */
    lct_log_fn log;        /**< log hook, or NULL to drop messages */
    void *log_user;        /**< passed to @c log */
    int32_t log_level;     /**< most verbose ::lct_log_level passed to @c log (default LCT_LOG_WARN) */
    /** (version 2) The host's scheduler, or NULL (default) for the runtime's own pool. The table is
     *  copied; its @c user pointer is borrowed until lct_runtime_free(). With a scheduler the runtime
     *  creates no thread, and its thread count is @c workers (@c threads is not read). */
    const lct_scheduler *scheduler;
} lct_runtime_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL if @p opts is NULL, LCT_EVERSION for an unknown version.
 */
LCT_API int lct_runtime_options_init(lct_runtime_options *opts, uint32_t version);

/**
 * Create a runtime.
 *
 * The first runtime of a process selects the BLIS kernel set: unless the
 * environment already sets BLIS_ARCH_TYPE, libcontrast picks the fastest set
 * this CPU runs (e.g. "skx" on AVX-512 machines, which Debian's BLIS 0.9 does
 * not pick by itself on recent CPUs). A BLIS_ARCH_TYPE set by the user is
 * respected. The choice is process-wide and made once; lct_runtime_kernel()
 * reports it.
 *
 * @param out   receives the runtime; set to NULL on failure
 * @param opts  options, or NULL for defaults
 * Without a scheduler, the runtime starts up to threads - 1 worker threads the first time a call
 * has parallel work; they sleep when idle and are joined by lct_runtime_free().
 *
 * @return LCT_OK; LCT_EINVAL (NULL @p out, threads 0 or > 256, only one of alloc/free set, a
 *         scheduler with a NULL @c run or with 0 or more than 256 workers, BLIS_ARCH_TYPE naming a
 *         kernel set this BLIS or CPU lacks); LCT_EVERSION (of @p opts or of the scheduler);
 *         LCT_ENOMEM.
 */
LCT_API int lct_runtime_new(lct_runtime **out, const lct_runtime_options *opts);

/** Free a runtime and join its worker threads. Accepts NULL. Every handle created from it must be
 *  freed first. */
LCT_API void lct_runtime_free(lct_runtime *rt);

/** Threads the runtime uses (>= 1), or LCT_EINVAL for a NULL runtime. */
LCT_API int lct_runtime_threads(const lct_runtime *rt);

/**
 * Change the thread count of @p rt (1..256). Results of every libcontrast
 * computation are identical for any thread count.
 * @return LCT_OK, LCT_EINVAL.
 */
LCT_API int lct_runtime_set_threads(lct_runtime *rt, uint32_t threads);

/** The seed the runtime was created with, or 0 for a NULL runtime: 0 is also a valid seed, so
 *  a caller that cannot rule out NULL uses lct_runtime_get_seed(), which tells the two apart. */
LCT_API uint64_t lct_runtime_seed(const lct_runtime *rt);

/**
 * The seed the runtime was created with, into @p seed.
 * @return LCT_OK; LCT_EINVAL (NULL @p rt or @p seed; @p seed is untouched).
 */
LCT_API int lct_runtime_get_seed(const lct_runtime *rt, uint64_t *seed);

/** How the BLIS kernel set was chosen. */
typedef enum lct_kernel_source {
    LCT_KERNEL_AUTO = 0,   /**< chosen by libcontrast from the CPU's features */
    LCT_KERNEL_ENV = 1,    /**< BLIS_ARCH_TYPE was set in the environment */
    LCT_KERNEL_BLIS = 2    /**< BLIS's own choice (no better set known, or BLIS was initialised before libcontrast) */
} lct_kernel_source;

/**
 * Name of the BLIS kernel set in use ("skx", "haswell", "zen3", "generic", ...).
 * Never NULL; "" for a NULL runtime. If @p source is not NULL it receives an ::lct_kernel_source.
 */
LCT_API const char *lct_runtime_kernel(const lct_runtime *rt, int *source);

/**
 * Bytes the runtime's handles hold now and at most so far (either pointer may be NULL). The packing
 * buffers the runtime keeps for its matrix products (one per product running at once, grown on
 * first use through the allocator hooks, freed by lct_runtime_free) are not counted.
 * @return LCT_OK, LCT_EINVAL for a NULL runtime.
 */
LCT_API int lct_runtime_memory(const lct_runtime *rt, size_t *current, size_t *peak);

/**
 * C = alpha * op(A) * op(B) + beta * C on row-major float matrices, through the
 * runtime's BLIS kernels and threads. op(X) is X or its transpose (trans_x 0 or 1).
 * op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb, ldc are row strides in elements.
 * @return LCT_OK; LCT_EINVAL (NULL runtime or a NULL matrix that is read, trans not 0/1,
 *         non-finite alpha/beta); LCT_ESHAPE (a stride smaller than its row, sizes too large, a
 *         matrix of rows × stride floats larger than any buffer).
 */
LCT_API int lct_gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                     float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                     float beta, float *c, size_t ldc);

LCT_END_DECLS

#endif /* LIBCONTRAST_RUNTIME_H */
