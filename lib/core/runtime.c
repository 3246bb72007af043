/* The runtime handle: options, allocator hooks with accounting, logging. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "kernels.h"
#include "pool.h"

struct lct_runtime {
    _Atomic uint32_t threads;
    uint64_t seed;
    lct_alloc_fn alloc;
    lct_free_fn free;
    void *alloc_user;
    lct_log_fn log;
    void *log_user;
    int32_t log_level;
    _Atomic uint64_t next_stream;
    _Atomic size_t mem_current;
    _Atomic size_t mem_peak;
    int has_sched;
    lct_scheduler sched;
    lct__threadpool *pool;  /* in this block, after the struct; NULL if its locks could not be made */
    struct {
        atomic_int busy;
        size_t bytes;
        void *mem;
    } scratch[LCT__SCRATCH_SLOTS]; /* the GEMM's packing buffers, kept until lct_runtime_free */
};

/* Header stored just before every aligned block: where the raw block starts and its size. */
typedef struct lct__block {
    void *raw;
    size_t size;
} lct__block;

static void *default_alloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void default_free(void *user, void *block)
{
    (void)user;
    free(block);
}

int lct_runtime_options_init(lct_runtime_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_runtime_options, opts, version, LCT__OPT_RUNTIME,
                          .threads = 1, .log_level = LCT_LOG_WARN);
}

int lct_scheduler_init(lct_scheduler *sched, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_scheduler, sched, version, LCT__OPT_SCHEDULER, .workers = 1);
}

int lct_runtime_new(lct_runtime **out, const lct_runtime_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    lct_runtime_options local;
    LCT__OPTIONS_COPY(LCT__OPT_RUNTIME, lct_runtime_options_init, local, opts);
    lct_scheduler sched;
    uint32_t threads = opts->threads;
    if (opts->scheduler != NULL) {
        lct_scheduler_init(&sched, LCT_SCHEDULER_VERSION);
        int rc = lct__options_load(LCT__OPT_SCHEDULER, &sched, opts->scheduler, __func__);
        if (rc != LCT_OK) return rc;
        if (sched.run == NULL) return LCT__FAIL(LCT_EINVAL, "opts->scheduler->run is NULL");
        if (sched.workers == 0 || sched.workers > LCT__MAX_THREADS)
            return LCT__FAIL(LCT_EINVAL, "opts->scheduler->workers is %u; it must be 1..%d",
                             (unsigned)sched.workers, LCT__MAX_THREADS);
        threads = sched.workers;
    } else if (threads == 0 || threads > LCT__MAX_THREADS) {
        return LCT__FAIL(LCT_EINVAL, "opts->threads is %u; it must be 1..%d", (unsigned)threads, LCT__MAX_THREADS);
    }
    if ((opts->alloc == NULL) != (opts->free == NULL))
        return LCT__FAIL(LCT_EINVAL, "opts->alloc and opts->free must be set together (alloc %s, free %s)",
                         opts->alloc ? "set" : "NULL", opts->free ? "set" : "NULL");
    if (opts->log_level < LCT_LOG_ERROR || opts->log_level > LCT_LOG_DEBUG)
        return LCT__FAIL(LCT_EINVAL, "opts->log_level is %d; it must be %d..%d", (int)opts->log_level,
                         LCT_LOG_ERROR, LCT_LOG_DEBUG);

    int rc = lct__kernels_init();
    if (rc != LCT_OK) return rc;

    lct_alloc_fn alloc = opts->alloc ? opts->alloc : default_alloc;
    lct_free_fn release = opts->free ? opts->free : default_free;
    size_t bytes = sizeof(lct_runtime) + lct__threads_bytes();
    lct_runtime *rt = alloc(opts->alloc_user, bytes);
    if (rt == NULL) return LCT__FAIL(LCT_ENOMEM, "cannot allocate %zu bytes for the runtime", bytes);
    memset(rt, 0, sizeof *rt);
    rt->pool = lct__threads_init(rt + 1); /* without one, regions run on the caller */
    atomic_init(&rt->threads, threads);
    rt->has_sched = opts->scheduler != NULL;
    if (rt->has_sched) rt->sched = sched;
    rt->seed = opts->seed;
    rt->alloc = alloc;
    rt->free = release;
    rt->alloc_user = opts->alloc_user;
    rt->log = opts->log;
    rt->log_user = opts->log_user;
    rt->log_level = opts->log_level;
    atomic_init(&rt->next_stream, 1);
    atomic_init(&rt->mem_current, 0);
    atomic_init(&rt->mem_peak, 0);
    *out = rt;
    lct__log(rt, LCT_LOG_INFO, "libcontrast %s, BLIS kernels '%s', %u thread(s)%s", LCT_VERSION_STRING,
             lct__kernels_name(), (unsigned)threads, rt->has_sched ? " on the host's scheduler" : "");
    return LCT_OK;
}

void lct_runtime_free(lct_runtime *rt)
{
    if (rt == NULL) return;
    lct__threads_destroy(rt->pool);
    for (size_t i = 0; i < LCT__SCRATCH_SLOTS; i++)
        if (rt->scratch[i].mem) rt->free(rt->alloc_user, rt->scratch[i].mem);
    size_t left = atomic_load(&rt->mem_current);
    if (left != 0) lct__log(rt, LCT_LOG_WARN, "runtime freed while handles still hold %zu bytes", left);
    rt->free(rt->alloc_user, rt);
}

const lct_scheduler *lct__runtime_scheduler(const lct_runtime *rt)
{
    return rt->has_sched ? &rt->sched : NULL;
}

lct__threadpool *lct__runtime_pool(lct_runtime *rt)
{
    return rt->pool;
}

int lct_runtime_threads(const lct_runtime *rt)
{
    LCT__REQUIRE(rt);
    return (int)atomic_load(&((lct_runtime *)rt)->threads);
}

int lct__threads(const lct_runtime *rt)
{
    return (int)atomic_load(&((lct_runtime *)rt)->threads);
}

int lct_runtime_set_threads(lct_runtime *rt, uint32_t threads)
{
    LCT__REQUIRE(rt);
    if (threads == 0 || threads > LCT__MAX_THREADS)
        return LCT__FAIL(LCT_EINVAL, "threads is %u; it must be 1..%d", (unsigned)threads, LCT__MAX_THREADS);
    atomic_store(&rt->threads, threads);
    return LCT_OK;
}

uint64_t lct_runtime_seed(const lct_runtime *rt)
{
    return rt ? rt->seed : 0;
}

int lct_runtime_get_seed(const lct_runtime *rt, uint64_t *seed)
{
    LCT__REQUIRE(rt);
    LCT__REQUIRE(seed);
    *seed = rt->seed;
    return LCT_OK;
}

const char *lct_runtime_kernel(const lct_runtime *rt, int *source)
{
    if (rt == NULL) {
        if (source) *source = LCT_KERNEL_BLIS;
        return "";
    }
    if (source) *source = lct__kernels_source();
    return lct__kernels_name();
}

int lct_runtime_memory(const lct_runtime *rt, size_t *current, size_t *peak)
{
    LCT__REQUIRE(rt);
    lct_runtime *r = (lct_runtime *)rt;
    if (current) *current = atomic_load(&r->mem_current);
    if (peak) *peak = atomic_load(&r->mem_peak);
    return LCT_OK;
}

uint64_t lct__runtime_next_stream(lct_runtime *rt)
{
    return atomic_fetch_add(&rt->next_stream, 1);
}

uint64_t lct__runtime_stream_state(const lct_runtime *rt)
{
    return atomic_load(&((lct_runtime *)rt)->next_stream);
}

void lct__runtime_set_stream_state(lct_runtime *rt, uint64_t state)
{
    atomic_store(&rt->next_stream, state);
}

/* Claim scratch slot i if it is free. */
static int scratch_claim(lct_runtime *rt, int i)
{
    int idle = 0;
    return !atomic_load_explicit(&rt->scratch[i].busy, memory_order_relaxed) &&
           atomic_compare_exchange_strong(&rt->scratch[i].busy, &idle, 1);
}

/* Slot i, claimed, as a buffer of at least `want` bytes; 0 (and slot i free again) if it cannot grow. */
static int scratch_use(lct_runtime *rt, int i, size_t want, lct__scratch *out)
{
    if (rt->scratch[i].bytes < want) {
        if (rt->scratch[i].mem) rt->free(rt->alloc_user, rt->scratch[i].mem);
        rt->scratch[i].mem = rt->alloc(rt->alloc_user, want);
        rt->scratch[i].bytes = rt->scratch[i].mem ? want : 0;
        if (rt->scratch[i].mem == NULL) {
            atomic_store(&rt->scratch[i].busy, 0);
            return 0;
        }
    }
    *out = (lct__scratch){.mem = rt->scratch[i].mem, .slot = i};
    return 1;
}

int lct__scratch_take(lct_runtime *rt, size_t bytes, lct__scratch *out)
{
    size_t want = (size_t)1 << 16;
    while (want < bytes && want <= SIZE_MAX / 2) want <<= 1;
    if (want < bytes) return 0;
    size_t home = lct__in_region() ? 1 + lct__region_slot() : 0;
    if (home < LCT__SCRATCH_SLOTS && scratch_claim(rt, (int)home)) return scratch_use(rt, (int)home, want, out);
    /* Another product of this runtime holds it (the host multiplies on several threads at once). */
    for (int i = LCT__SCRATCH_SLOTS - 1; i >= 0; i--)
        if (scratch_claim(rt, i)) return scratch_use(rt, i, want, out);
    *out = (lct__scratch){.mem = rt->alloc(rt->alloc_user, bytes), .slot = -1};
    return out->mem != NULL;
}

size_t lct__scratch_blocks(const lct_runtime *rt)
{
    size_t n = 0;
    for (size_t i = 0; i < LCT__SCRATCH_SLOTS; i++) n += rt->scratch[i].mem != NULL;
    return n;
}

void lct__scratch_give(lct_runtime *rt, const lct__scratch *s)
{
    if (s->slot < 0) rt->free(rt->alloc_user, s->mem);
    else atomic_store(&rt->scratch[s->slot].busy, 0);
}

static void account(lct_runtime *rt, size_t add, size_t sub)
{
    size_t now = atomic_fetch_add(&rt->mem_current, add) + add;
    if (sub) atomic_fetch_sub(&rt->mem_current, sub);
    size_t peak = atomic_load(&rt->mem_peak);
    while (now > peak && !atomic_compare_exchange_weak(&rt->mem_peak, &peak, now)) {
    }
}

void *lct__hook_alloc(lct_runtime *rt, size_t size)
{
    /* Keep the size in front of the block so the free path can account for it. */
    if (size > SIZE_MAX - 16) return NULL;
    unsigned char *raw = rt->alloc(rt->alloc_user, size + 16);
    if (raw == NULL) return NULL;
    memcpy(raw, &size, sizeof size);
    account(rt, size, 0);
    return raw + 16;
}

void lct__hook_free(lct_runtime *rt, void *p)
{
    if (p == NULL) return;
    unsigned char *raw = (unsigned char *)p - 16;
    size_t size;
    memcpy(&size, raw, sizeof size);
    account(rt, 0, size);
    rt->free(rt->alloc_user, raw);
}

void *lct__malloc(lct_runtime *rt, size_t size)
{
    size_t total = size + LCT__ALIGN + sizeof(lct__block);
    if (size > SIZE_MAX - LCT__ALIGN - sizeof(lct__block)) {
        LCT__FAIL(LCT_ENOMEM, "request of %zu bytes overflows", size);
        return NULL;
    }
    unsigned char *raw = rt->alloc(rt->alloc_user, total);
    if (raw == NULL) {
        LCT__FAIL(LCT_ENOMEM, "cannot allocate %zu bytes", size);
        return NULL;
    }
    uintptr_t start = (uintptr_t)(raw + sizeof(lct__block));
    uintptr_t aligned = (start + LCT__ALIGN - 1) & ~(uintptr_t)(LCT__ALIGN - 1);
    lct__block hdr = {raw, size};
    memcpy((void *)(aligned - sizeof hdr), &hdr, sizeof hdr);
    account(rt, size, 0);
    return (void *)aligned;
}

void *lct__calloc(lct_runtime *rt, size_t count, size_t size)
{
    size_t bytes;
    if (lct__mul_size(count, size, &bytes) != 0) {
        LCT__FAIL(LCT_ENOMEM, "request of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = lct__malloc(rt, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void lct__free(lct_runtime *rt, void *p)
{
    if (p == NULL) return;
    lct__block hdr;
    memcpy(&hdr, (unsigned char *)p - sizeof hdr, sizeof hdr);
    account(rt, 0, hdr.size);
    rt->free(rt->alloc_user, hdr.raw);
}

void lct__free_each(lct_runtime *rt, void *const *blocks, size_t n)
{
    for (size_t i = 0; i < n; i++) lct__free(rt, blocks[i]);
}

int lct__log_enabled(const lct_runtime *rt, int level)
{
    return rt != NULL && rt->log != NULL && level <= rt->log_level;
}

void lct__log(lct_runtime *rt, int level, const char *fmt, ...)
{
    if (rt == NULL || rt->log == NULL || level > rt->log_level) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt->log(rt->log_user, level, msg);
}
