/* The bank handle: options, footprint, creation and initialisation, row access. */
#include <math.h>
#if defined(__linux__)
#  include <sys/mman.h>
#endif

#include "bank_internal.h"

#define LCT__BANK_MAX_N ((size_t)1 << 40)
#define LCT__BANK_MAX_D ((size_t)65536)
/* Key of the initialisation streams; sampling calls use their call count instead. */
#define LCT__BANK_INIT_KEY UINT64_MAX

int lct_bank_options_init(lct_bank_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_bank_options, opts, version, LCT__OPT_BANK,
                          .storage = LCT_BANK_FP32, .init = LCT_BANK_INIT_UNIFORM);
}

static size_t chunk_floats(size_t d, int storage)
{
    return storage == LCT_BANK_FP16 ? (size_t)LCT__BANK_CHUNK * d : 0;
}

int lct_bank_bytes(size_t n, size_t d, int storage, size_t *bytes)
{
    LCT__REQUIRE(bytes);
    if (n == 0 || n > LCT__BANK_MAX_N) return LCT__FAIL(LCT_EINVAL, "n is %zu; it must be in 1..2^40", n);
    if (d == 0 || d > LCT__BANK_MAX_D) return LCT__FAIL(LCT_EINVAL, "d is %zu; it must be in 1..65536", d);
    if (storage != LCT_BANK_FP32 && storage != LCT_BANK_FP16)
        return LCT__FAIL(LCT_EINVAL, "storage is %d; it must be LCT_BANK_FP32 (0) or LCT_BANK_FP16 (1)", storage);
    size_t rows, total;
    if (lct__mul_size(n, d, &rows) != 0 || lct__mul_size(rows, lct__bank_elem(storage), &rows) != 0)
        return LCT__FAIL(LCT_ESHAPE, "n (%zu) x d (%zu) overflows", n, d);
    /* Each block carries up to 64 + 16 bytes of alignment and header. */
    size_t overhead = sizeof(struct lct_bank) + chunk_floats(d, storage) * sizeof(float) + 3 * 80;
    if (rows > SIZE_MAX - overhead) return LCT__FAIL(LCT_ESHAPE, "n (%zu) x d (%zu) overflows", n, d);
    total = rows + overhead;
    *bytes = total;
    return LCT_OK;
}

static float uniform_value(lct__rng *r, float a)
{
    return (2.0f * lct__rng_uniform(r) - 1.0f) * a;
}

/* Fill row i of a fresh bank (stored at i - first); every row has its own generator, so the result
 * depends neither on threads nor on sharding. */
static void init_row(lct_bank *b, uint64_t seed, size_t gi, int init, int normalize)
{
    size_t d = b->d, i = gi - b->first;
    float a = 1.0f / sqrtf((float)d / 3.0f);
    float scale = 1.0f;
    lct__rng r;
    if (init == LCT_BANK_INIT_UNIFORM && normalize) {
        lct__rng_seed(&r, seed, lct__hash64(lct__hash64(b->stream, LCT__BANK_INIT_KEY), gi));
        double ss = 0.0;
        for (size_t j = 0; j < d; j++) {
            double v = uniform_value(&r, a);
            ss += v * v;
        }
        scale = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    }
    if (init == LCT_BANK_INIT_UNIFORM) {
        lct__rng_seed(&r, seed, lct__hash64(lct__hash64(b->stream, LCT__BANK_INIT_KEY), gi));
        if (b->storage == LCT_BANK_FP32) {
            float *row = (float *)b->rows + i * d;
            for (size_t j = 0; j < d; j++) row[j] = uniform_value(&r, a) * scale;
        } else {
            uint16_t *row = (uint16_t *)b->rows + i * d;
            for (size_t j = 0; j < d; j++) row[j] = lct__f2h(uniform_value(&r, a) * scale);
        }
    } else if (init == LCT_BANK_INIT_ZERO) {
        memset((char *)b->rows + i * d * lct__bank_elem(b->storage), 0, d * lct__bank_elem(b->storage));
    } else if (normalize) { /* KEEP, normalised in place */
        double ss = 0.0;
        if (b->storage == LCT_BANK_FP32) {
            float *row = (float *)b->rows + i * d;
            for (size_t j = 0; j < d; j++) ss += (double)row[j] * row[j];
            float s = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (size_t j = 0; j < d; j++) row[j] *= s;
        } else {
            uint16_t *row = (uint16_t *)b->rows + i * d;
            for (size_t j = 0; j < d; j++) {
                double v = lct__h2f(row[j]);
                ss += v * v;
            }
            float s = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (size_t j = 0; j < d; j++) row[j] = lct__f2h(lct__h2f(row[j]) * s);
        }
    }
}

/* Ask for transparent huge pages on the rows: random row reads over a bank of hundreds of MB
 * otherwise miss the TLB on almost every row. A hint only: failure changes nothing. */
static void advise_huge_pages(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (bytes >= ((size_t)4 << 20) && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

static int half_finite(const uint16_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((h[i] & 0x7c00u) == 0x7c00u) return 0;
    return 1;
}

/* The rows of a fresh bank, filled in parallel (init_row). */
typedef struct {
    lct_bank *b;
    uint64_t seed;
    size_t first;
    int init, normalize;
} init_ctx;

static void init_rows(void *ctx, size_t i0, size_t i1, size_t slot)
{
    const init_ctx *c = ctx;
    (void)slot;
    for (size_t i = i0; i < i1; i++) init_row(c->b, c->seed, c->first + i, c->init, c->normalize);
}

/* The shape, options and host buffer of a new bank (opts already loaded); on success this rank's
 * rows [*first, *first + *count) and their bytes. Errors name `func`. */
static int check_create(const char *func, lct_runtime *rt, size_t n, size_t d, lct_comm *comm,
                        const lct_bank_options *opts, size_t *first, size_t *count, size_t *rows_bytes)
{
    if (n == 0 || n > LCT__BANK_MAX_N) return lct__fail(LCT_EINVAL, func, "n is %zu; it must be in 1..2^40", n);
    if (d == 0 || d > LCT__BANK_MAX_D) return lct__fail(LCT_EINVAL, func, "d is %zu; it must be in 1..65536", d);
    if (opts->storage != LCT_BANK_FP32 && opts->storage != LCT_BANK_FP16)
        return lct__fail(LCT_EINVAL, func, "opts->storage is %d; it must be LCT_BANK_FP32 (0) or LCT_BANK_FP16 (1)",
                         (int)opts->storage);
    if (opts->init != LCT_BANK_INIT_UNIFORM && opts->init != LCT_BANK_INIT_ZERO && opts->init != LCT_BANK_INIT_KEEP)
        return lct__fail(LCT_EINVAL, func, "opts->init is %d; it must be UNIFORM (0), ZERO (1) or KEEP (2)",
                         (int)opts->init);
    if (opts->normalize != 0 && opts->normalize != 1)
        return lct__fail(LCT_EINVAL, func, "opts->normalize is %d; it must be 0 or 1", (int)opts->normalize);
    *first = 0;
    *count = n;
    if (comm) {
        if (lct__comm_runtime(comm) != rt) return lct__fail(LCT_EMISMATCH, func, "comm belongs to another runtime than rt");
        int size = lct__comm_size(comm);
        if (n < (size_t)size)
            return lct__fail(LCT_EINVAL, func, "n is %zu; a bank sharded over %d ranks needs at least one row per rank",
                             n, size);
        lct__comm_split(n, size, lct__comm_rank(comm), first, count);
    }
    size_t elem = lct__bank_elem(opts->storage);
    if (lct__mul_size(*count, d, rows_bytes) != 0 || lct__mul_size(*rows_bytes, elem, rows_bytes) != 0)
        return lct__fail(LCT_ESHAPE, func, "n (%zu) x d (%zu) overflows", *count, d);
    if (opts->buffer == NULL) {
        if (opts->init == LCT_BANK_INIT_KEEP)
            return lct__fail(LCT_EINVAL, func, "opts->init is LCT_BANK_INIT_KEEP but opts->buffer is NULL");
        return LCT_OK;
    }
    if (opts->buffer_bytes != *rows_bytes)
        return lct__fail(LCT_ESHAPE, func, "opts->buffer_bytes is %zu; %s (%zu) x d (%zu) x %zu bytes is %zu",
                         opts->buffer_bytes, comm ? "the shard's rows" : "n", *count, d, elem, *rows_bytes);
    if ((uintptr_t)opts->buffer % elem != 0)
        return lct__fail(LCT_EINVAL, func, "opts->buffer (%p) is not aligned to %zu bytes", opts->buffer, elem);
    if (opts->init == LCT_BANK_INIT_KEEP) {
        int ok = opts->storage == LCT_BANK_FP32 ? lct__all_finite(opts->buffer, *count * d)
                                                : half_finite(opts->buffer, *count * d);
        if (!ok) return lct__fail(LCT_ENUMERIC, func, "opts->buffer holds NaN or Inf (init is LCT_BANK_INIT_KEEP)");
    }
    return LCT_OK;
}

/* Both constructors; comm NULL for an unsharded bank. Errors name `func`. */
static int bank_create(const char *func, lct_bank **out, lct_runtime *rt, size_t n, size_t d, lct_comm *comm,
                       const lct_bank_options *opts)
{
    if (out == NULL) return lct__fail(LCT_EINVAL, func, "argument 'out' is NULL");
    *out = NULL;
    if (rt == NULL) return lct__fail(LCT_EINVAL, func, "argument 'rt' is NULL");
    lct_bank_options local;
    lct_bank_options_init(&local, LCT_BANK_OPTIONS_VERSION);
    int rc = lct__options_load(LCT__OPT_BANK, &local, opts, func);
    if (rc) return rc;
    opts = &local;
    size_t first = 0, count = 0, rows_bytes = 0;
    if ((rc = check_create(func, rt, n, d, comm, opts, &first, &count, &rows_bytes))) return rc;
    if (comm) {
        /* every rank must describe the same bank */
        uint64_t h = lct__hash64(lct__hash64(n, d), ((uint64_t)opts->storage << 8) | (uint64_t)opts->init);
        if ((rc = lct__comm_check_same(comm, h, "the bank's n, d, storage or init", func))) return rc;
    }

    lct_bank *b = lct__calloc(rt, 1, sizeof *b);
    if (b == NULL) return LCT_ENOMEM;
    b->rt = rt;
    b->n = n;
    b->d = d;
    b->comm = comm;
    b->first = first;
    b->count = count;
    b->storage = opts->storage;
    if (opts->buffer) {
        b->rows = opts->buffer;
    } else {
        b->rows = lct__malloc(rt, rows_bytes ? rows_bytes : 1);
        b->owns_rows = 1;
        if (b->rows) advise_huge_pages(b->rows, rows_bytes);
    }
    size_t cf = chunk_floats(d, opts->storage);
    if (cf) b->chunk = lct__malloc(rt, cf * sizeof(float));
    if (b->rows == NULL || (cf && b->chunk == NULL)) {
        lct_bank_free(b);
        return LCT_ENOMEM;
    }
    b->stream = lct__runtime_next_stream(rt);
    if (opts->init != LCT_BANK_INIT_KEEP || opts->normalize) {
        init_ctx c = {b, lct_runtime_seed(rt), first, opts->init, opts->normalize};
        lct__parallel(rt, lct__threads(rt), count, 1, init_rows, &c);
    }
    *out = b;
    return LCT_OK;
}

int lct_bank_new(lct_bank **out, lct_runtime *rt, size_t n, size_t d, const lct_bank_options *opts)
{
    return bank_create(__func__, out, rt, n, d, NULL, opts);
}

int lct_bank_new_sharded(lct_bank **out, lct_runtime *rt, size_t n, size_t d, lct_comm *comm,
                         const lct_bank_options *opts)
{
    if (out) *out = NULL;
    if (out != NULL && rt != NULL && comm == NULL) return LCT__FAIL(LCT_EINVAL, "argument 'comm' is NULL");
    return bank_create(__func__, out, rt, n, d, comm, opts);
}

int lct_bank_shard(const lct_bank *bank, size_t *offset, size_t *count, int *rank, int *size)
{
    LCT__REQUIRE(bank);
    if (offset) *offset = bank->first;
    if (count) *count = bank->count;
    if (rank) *rank = lct__comm_rank(bank->comm);
    if (size) *size = lct__comm_size(bank->comm);
    return LCT_OK;
}

void lct_bank_free(lct_bank *b)
{
    if (b == NULL) return;
    lct_runtime *rt = b->rt;
    if (b->owns_rows) lct__free(rt, b->rows);
    lct__free(rt, b->chunk);
    lct__free(rt, b->gather);
    lct__free(rt, b->work);
    lct__free(rt, b->fg);
    lct__free(rt, b);
}

int lct_bank_info(const lct_bank *bank, size_t *n, size_t *d, int *storage)
{
    LCT__REQUIRE(bank);
    if (n) *n = bank->n;
    if (d) *d = bank->d;
    if (storage) *storage = bank->storage;
    return LCT_OK;
}

size_t lct__bank_n(const lct_bank *b) { return b->n; }
size_t lct__bank_d(const lct_bank *b) { return b->d; }
int lct__bank_storage(const lct_bank *b) { return b->storage; }
lct_runtime *lct__bank_runtime(const lct_bank *b) { return b->rt; }
lct_comm *lct__bank_comm(const lct_bank *b) { return b->comm; }
size_t lct__bank_world_size(const lct_bank *b) { return (size_t)lct__comm_size(b->comm); }
int lct__bank_sharded(const lct_bank *b) { return lct__comm_active(b->comm); }
void *lct__bank_data(lct_bank *b) { return b->rows; }
size_t lct__bank_data_bytes(const lct_bank *b) { return b->count * b->d * lct__bank_elem(b->storage); }

int lct__bank_unsharded(const lct_bank *b, const char *func, const char *why)
{
    if (!lct__bank_sharded(b)) return LCT_OK;
    return lct__fail(LCT_EUNSUPPORTED, func, "the bank is sharded over %d ranks%s", lct__comm_size(b->comm), why);
}

void lct__bank_rng_state(const lct_bank *b, uint64_t *stream, uint64_t *calls)
{
    *stream = b->stream;
    *calls = b->sample_calls;
}

void lct__bank_set_rng_state(lct_bank *b, uint64_t stream, uint64_t calls)
{
    b->stream = stream;
    b->sample_calls = calls;
}

const float *lct__bank_row(const lct_bank *b, size_t i, float *buf)
{
    if (b->storage == LCT_BANK_FP32) return (const float *)b->rows + i * b->d;
    lct__half_to_float((const uint16_t *)b->rows + i * b->d, buf, b->d);
    return buf;
}

void lct__bank_rows_f32(const lct_bank *b, size_t first, size_t count, float *out)
{
    if (b->storage == LCT_BANK_FP32) memcpy(out, (const float *)b->rows + first * b->d, count * b->d * sizeof *out);
    else lct__half_to_float((const uint16_t *)b->rows + first * b->d, out, count * b->d);
}

int lct__bank_check_idx(const lct_bank *b, const int64_t *idx, size_t count, const char *func, const char *what)
{
    for (size_t i = 0; i < count; i++)
        if (idx[i] < 0 || (uint64_t)idx[i] >= (uint64_t)b->n)
            return lct__fail(LCT_ERANGE, func, "%s[%zu] is %lld; rows are 0..%zu", what, i, (long long)idx[i],
                             b->n - 1);
    return LCT_OK;
}

static int check_range(const lct_bank *b, size_t first, size_t count, const char *func)
{
    if (count == 0) return lct__fail(LCT_EINVAL, func, "count is 0");
    if (first >= b->n || count > b->n - first)
        return lct__fail(LCT_ERANGE, func, "rows [%zu, %zu + %zu) exceed the bank's %zu rows", first, first, count,
                         b->n);
    if (first < b->first || first + count > b->first + b->count)
        return lct__fail(LCT_ERANGE, func, "rows [%zu, %zu + %zu) are not all in this rank's shard [%zu, %zu)", first,
                         first, count, b->first, b->first + b->count);
    return LCT_OK;
}

int lct_bank_get_rows(const lct_bank *bank, size_t first, size_t count, float *out)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(out);
    int rc = check_range(bank, first, count, __func__);
    if (rc) return rc;
    lct__bank_rows_f32(bank, first - bank->first, count, out);
    return LCT_OK;
}

int lct_bank_set_rows(lct_bank *bank, size_t first, size_t count, const float *in)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(in);
    int rc = check_range(bank, first, count, __func__);
    if (rc) return rc;
    size_t total = count * bank->d;
    for (size_t i = 0; i < total; i++) {
        if (!isfinite(in[i]))
            return LCT__FAIL(LCT_ENUMERIC, "in[%zu] is %g; rows must be finite", i, (double)in[i]);
        if (bank->storage == LCT_BANK_FP16 && fabsf(in[i]) >= 65520.0f)
            return LCT__FAIL(LCT_ENUMERIC, "in[%zu] is %g; fp16 storage holds at most 65504 in magnitude", i,
                             (double)in[i]);
    }
    first -= bank->first;
    if (bank->storage == LCT_BANK_FP32) memcpy((float *)bank->rows + first * bank->d, in, total * sizeof *in);
    else lct__float_to_half(in, (uint16_t *)bank->rows + first * bank->d, total);
    return LCT_OK;
}

int lct_bank_gather(const lct_bank *bank, const int64_t *idx, size_t count, float *out)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(idx);
    LCT__REQUIRE(out);
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    /* before idx is read: a count no buffer can hold would walk past the caller's indices */
    if (!lct__fits(count, sizeof *idx) || !lct__fits2(count, bank->d, sizeof *out))
        return LCT__FAIL(LCT_ESHAPE, "count (%zu) x d (%zu) overflows", count, bank->d);
    int rc = lct__bank_check_idx(bank, idx, count, __func__, "idx");
    if (rc) return rc;
    for (size_t i = 0; i < count; i++)
        if ((uint64_t)idx[i] < bank->first || (uint64_t)idx[i] >= bank->first + bank->count)
            return LCT__FAIL(LCT_ERANGE, "idx[%zu] is %lld, outside this rank's shard [%zu, %zu)", i, (long long)idx[i],
                             bank->first, bank->first + bank->count);
    size_t d = bank->d;
    for (size_t i = 0; i < count; i++) {
        float *dst = out + i * d;
        const float *src = lct__bank_row(bank, (size_t)idx[i] - bank->first, dst);
        if (src != dst) memcpy(dst, src, d * sizeof *dst);
    }
    return LCT_OK;
}

int lct__bank_prepare(const lct_bank *b, size_t work_entries, size_t gather_rows, lct__bank_grow *g)
{
    memset(g, 0, sizeof *g);
    if (work_entries > b->work_cap) {
        g->work = lct__calloc(b->rt, work_entries, sizeof *g->work);
        if (g->work == NULL) return LCT_ENOMEM;
        g->work_cap = work_entries;
    }
    if (gather_rows > b->gather_cap) {
        size_t floats;
        if (lct__mul_size(gather_rows, b->d, &floats) != 0) {
            lct__bank_abort(b, g);
            return LCT__FAIL(LCT_ENOMEM, "workspace of %zu rows overflows", gather_rows);
        }
        g->gather = lct__calloc(b->rt, floats, sizeof *g->gather);
        if (g->gather == NULL) {
            lct__bank_abort(b, g);
            return LCT_ENOMEM;
        }
        g->gather_cap = gather_rows;
    }
    return LCT_OK;
}

/* Keep the larger of the current block (cur, *cap entries) and a new one; free the other. */
static void *keep_larger(lct_runtime *rt, void *cur, size_t *cap, void *got, size_t got_cap)
{
    if (got && got_cap > *cap) {
        lct__free(rt, cur);
        *cap = got_cap;
        return got;
    }
    lct__free(rt, got);
    return cur;
}

void lct__bank_commit(lct_bank *b, lct__bank_grow *g)
{
    b->work = keep_larger(b->rt, b->work, &b->work_cap, g->work, g->work_cap);
    b->gather = keep_larger(b->rt, b->gather, &b->gather_cap, g->gather, g->gather_cap);
    memset(g, 0, sizeof *g);
}

void lct__bank_abort(const lct_bank *b, lct__bank_grow *g)
{
    lct__free(b->rt, g->work);
    lct__free(b->rt, g->gather);
    memset(g, 0, sizeof *g);
}

int lct__bank_reserve(lct_bank *b, size_t work_entries, size_t gather_rows)
{
    lct__bank_grow g;
    int rc = lct__bank_prepare(b, work_entries, gather_rows, &g);
    if (rc == LCT_OK) lct__bank_commit(b, &g);
    return rc;
}
