/* An allocator with a byte budget for the fuzz targets: a spec or option value may ask for
 * gigabytes, which must come back as LCT_ENOMEM, not exhaust the fuzzer's memory. */
#ifndef LCT_FUZZ_BUDGET_H
#define LCT_FUZZ_BUDGET_H

#include <libcontrast/libcontrast.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_budget {
    size_t used, limit;
} fuzz_budget;

static void *fuzz_budget_alloc(void *user, size_t size)
{
    fuzz_budget *b = user;
    if (size > b->limit - b->used) return NULL;
    size_t *p = malloc(size + sizeof(size_t) * 2);
    if (p == NULL) return NULL;
    p[0] = size;
    b->used += size;
    return p + 2;
}

static void fuzz_budget_free(void *user, void *block)
{
    fuzz_budget *b = user;
    size_t *p = (size_t *)block - 2;
    b->used -= p[0];
    free(p);
}

/* A runtime drawing from budget @p b (@p limit bytes); aborts if it cannot be made. */
static inline lct_runtime *fuzz_budget_runtime(fuzz_budget *b, size_t limit, uint32_t threads)
{
    b->used = 0;
    b->limit = limit;
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = threads;
    o.alloc = fuzz_budget_alloc, o.free = fuzz_budget_free, o.alloc_user = b; /* the hooks, set together */
    lct_runtime *rt = NULL;
    if (lct_runtime_new(&rt, &o) != LCT_OK) abort();
    return rt;
}

/* Every block of the runtime's handles was released (the runtime's own block excepted). */
static inline void fuzz_budget_check_empty(lct_runtime *rt)
{
    size_t current = 1;
    lct_runtime_memory(rt, &current, NULL);
    if (current != 0) abort();
}

#endif
