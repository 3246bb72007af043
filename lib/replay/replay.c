/* The replay handle: options, footprint, creation, bank binding, insertion, batches, access. */
#include <math.h>

#include "replay_internal.h"
#include "../bank/bank.h"

/* Keys of the generators within the replay's stream: reservoir draws by sample number, batches by call. */
#define KEY_RESERVOIR 0x5265736572766f69ull
#define KEY_SAMPLE 0x53616d706c657321ull

int lct_replay_options_init(lct_replay_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_replay_options, opts, version, LCT__OPT_REPLAY,
                          .elem = LCT_REPLAY_U8, .policy = LCT_REPLAY_FIFO, .refresh = 64);
}

static size_t elem_bytes(int elem)
{
    return elem == LCT_REPLAY_F32 ? 4 : 1;
}

/* Checks shared by lct_replay_bytes and lct_replay_new; fills the sample's elements. */
static int check_args(const char *func, size_t capacity, const uint32_t *shape, size_t rank,
                      const lct_replay_options *o, size_t *elems)
{
    if (shape == NULL) return lct__fail(LCT_EINVAL, func, "argument 'shape' is NULL");
    if (capacity == 0 || capacity > LCT__REPLAY_MAX_CAPACITY)
        return lct__fail(LCT_EINVAL, func, "capacity is %zu; it must be in 1..2^30", capacity);
    if (rank == 0 || rank > LCT_REPLAY_MAX_RANK)
        return lct__fail(LCT_EINVAL, func, "rank is %zu; it must be in 1..%d", rank, LCT_REPLAY_MAX_RANK);
    size_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] == 0) return lct__fail(LCT_EINVAL, func, "shape[%zu] is 0; dimensions must be >= 1", i);
        if (lct__mul_size(n, shape[i], &n) != 0)
            return lct__fail(LCT_ESHAPE, func, "the sample size (product of the shape) overflows");
    }
    if (o->elem != LCT_REPLAY_U8 && o->elem != LCT_REPLAY_F32)
        return lct__fail(LCT_EINVAL, func, "opts->elem is %d; it must be LCT_REPLAY_U8 (0) or LCT_REPLAY_F32 (1)",
                         (int)o->elem);
    if (o->policy < LCT_REPLAY_FIFO || o->policy > LCT_REPLAY_MINRED)
        return lct__fail(LCT_EINVAL, func, "opts->policy is %d; it must be FIFO (0), RESERVOIR (1) or MINRED (2)",
                         (int)o->policy);
    if (o->refresh == 0 || o->refresh > LCT__REPLAY_MAX_REFRESH)
        return lct__fail(LCT_EINVAL, func, "opts->refresh is %u; it must be in 1..%u", (unsigned)o->refresh,
                         LCT__REPLAY_MAX_REFRESH);
    size_t bytes;
    if (lct__mul_size(n, elem_bytes(o->elem), &bytes) != 0 || lct__mul_size(bytes, capacity, &bytes) != 0)
        return lct__fail(LCT_ESHAPE, func, "capacity (%zu) x sample size (%zu) overflows", capacity, n);
    *elems = n;
    return LCT_OK;
}

/* Bytes of every block of a replay (at most 80 bytes of alignment and header each); 0 on overflow. */
static size_t footprint(size_t capacity, size_t sample_bytes, const lct_replay_options *o)
{
    size_t total = sizeof(struct lct_replay) + 3 * 80, t;
    size_t per_slot = 16 + (o->policy == LCT_REPLAY_MINRED ? 21 : 0);
    if (lct__mul_size(capacity, sample_bytes, &t) != 0 || t > SIZE_MAX - total) return 0;
    total += t;
    if (lct__mul_size(capacity, per_slot, &t) != 0 || t > SIZE_MAX - total) return 0;
    total += t;
    if (o->policy == LCT_REPLAY_MINRED) {
        if (lct__mul_size(capacity, (size_t)o->refresh + 1, &t) != 0 || lct__mul_size(t, 4, &t) != 0 ||
            t > SIZE_MAX - total - 5 * 80)
            return 0;
        total += t + 5 * 80;
    }
    return total;
}

int lct_replay_bytes(size_t capacity, const uint32_t *shape, size_t rank, const lct_replay_options *opts,
                     size_t *bytes)
{
    LCT__REQUIRE(bytes);
    lct_replay_options local;
    LCT__OPTIONS_COPY(LCT__OPT_REPLAY, lct_replay_options_init, local, opts);
    size_t elems = 0;
    int rc = check_args(__func__, capacity, shape, rank, opts, &elems);
    if (rc == LCT_ESHAPE) return LCT__FAIL(LCT_ESHAPE, "the size of %zu samples of this shape overflows", capacity);
    if (rc) return rc;
    size_t total = footprint(capacity, elems * elem_bytes(opts->elem), opts);
    if (total == 0) return LCT__FAIL(LCT_ESHAPE, "the size of %zu samples of %zu elements overflows", capacity, elems);
    *bytes = total;
    return LCT_OK;
}

int lct_replay_new(lct_replay **out, lct_runtime *rt, size_t capacity, const uint32_t *shape, size_t rank,
                   const lct_replay_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_replay_options local;
    LCT__OPTIONS_COPY(LCT__OPT_REPLAY, lct_replay_options_init, local, opts);
    size_t elems;
    int rc = check_args(__func__, capacity, shape, rank, opts, &elems);
    if (rc) return rc;
    if (footprint(capacity, elems * elem_bytes(opts->elem), opts) == 0)
        return LCT__FAIL(LCT_ESHAPE, "the replay's size overflows");
    lct_replay *rp = lct__calloc(rt, 1, sizeof *rp);
    if (rp == NULL) return LCT_ENOMEM;
    rp->rt = rt;
    rp->elem = opts->elem;
    rp->policy = opts->policy;
    rp->rank = (uint32_t)rank;
    memcpy(rp->shape, shape, rank * sizeof *shape);
    rp->sample_elems = elems;
    rp->sample_bytes = elems * elem_bytes(opts->elem);
    rp->capacity = capacity;
    rp->refresh = opts->refresh;
    rp->data = lct__malloc(rt, capacity * rp->sample_bytes);
    rp->age = lct__calloc(rt, capacity, sizeof *rp->age);
    rp->perm = lct__calloc(rt, capacity, sizeof *rp->perm);
    int ok = rp->data && rp->age && rp->perm;
    if (ok && rp->policy == LCT_REPLAY_MINRED) {
        rp->nn_sim = lct__calloc(rt, capacity, sizeof *rp->nn_sim);
        rp->nn_idx = lct__calloc(rt, capacity, sizeof *rp->nn_idx);
        rp->dirty = lct__calloc(rt, capacity, 1);
        rp->queue = lct__calloc(rt, capacity, sizeof *rp->queue);
        rp->sims = lct__calloc(rt, capacity * ((size_t)rp->refresh + 1), sizeof *rp->sims);
        ok = rp->nn_sim && rp->nn_idx && rp->dirty && rp->queue && rp->sims;
    }
    if (!ok) {
        lct_replay_free(rp);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate a replay of %zu samples of %zu bytes", capacity,
                         elems * elem_bytes(opts->elem));
    }
    rp->stream = lct__runtime_next_stream(rt);
    *out = rp;
    return LCT_OK;
}

static void unbind(lct_replay *rp)
{
    lct__free(rp->rt, rp->row);
    lct__free(rp->rt, rp->rows);
    rp->row = rp->rows = NULL;
    rp->bank = NULL;
    rp->d = 0;
}

void lct_replay_free(lct_replay *rp)
{
    if (rp == NULL) return;
    unbind(rp);
    void *const owned[] = {rp->data,  rp->age,   rp->perm, rp->nn_sim, rp->nn_idx,
                           rp->dirty, rp->queue, rp->sims, rp};
    lct__free_each(rp->rt, owned, sizeof owned / sizeof *owned);
}

int lct_replay_info(const lct_replay *rp, size_t *capacity, size_t *count, uint64_t *seen, size_t *sample_bytes)
{
    LCT__REQUIRE(rp);
    if (capacity) *capacity = rp->capacity;
    if (count) *count = rp->count;
    if (seen) *seen = rp->seen;
    if (sample_bytes) *sample_bytes = rp->sample_bytes;
    return LCT_OK;
}

int lct_replay_bind_bank(lct_replay *rp, lct_bank *bank)
{
    LCT__REQUIRE(rp);
    if (bank == NULL) {
        unbind(rp);
        return LCT_OK;
    }
    if (lct__bank_runtime(bank) != rp->rt)
        return LCT__FAIL(LCT_EMISMATCH, "bank was created from another runtime than the replay");
    if (lct__bank_sharded(bank))
        return LCT__FAIL(LCT_EUNSUPPORTED, "bank is sharded over several ranks; a replay follows an unsharded bank");
    if (lct__bank_n(bank) != rp->capacity)
        return LCT__FAIL(LCT_ESHAPE, "bank has %zu rows; the replay has %zu slots (one row per slot)",
                         lct__bank_n(bank), rp->capacity);
    if (rp->count != 0)
        return LCT__FAIL(LCT_ESTATE, "the replay holds %zu samples; bind its bank while it is empty", rp->count);
    size_t d = lct__bank_d(bank);
    float *row = lct__calloc(rp->rt, d, sizeof *row), *rows = NULL;
    if (row && rp->policy == LCT_REPLAY_MINRED) rows = lct__calloc(rp->rt, d * ((size_t)rp->refresh + 1), sizeof *rows);
    if (row == NULL || (rp->policy == LCT_REPLAY_MINRED && rows == NULL)) {
        lct__free(rp->rt, row);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate the rows of a bank of dimension %zu", d);
    }
    unbind(rp);
    rp->bank = bank;
    rp->d = d;
    rp->row = row;
    rp->rows = rows;
    return LCT_OK;
}

/* Store sample i of the call into `slot` and, with a bank, its row (e, or zeros). */
static void store(lct_replay *rp, size_t slot, const unsigned char *sample, const float *e)
{
    memcpy(rp->data + slot * rp->sample_bytes, sample, rp->sample_bytes);
    rp->age[slot] = rp->seen;
    if (rp->bank) lct_bank_set_rows(rp->bank, slot, 1, e ? e : rp->row);
}

/* One sample, known valid; returns its slot or -1. */
static int64_t insert_one(lct_replay *rp, const unsigned char *sample, const float *e)
{
    const int minred = rp->policy == LCT_REPLAY_MINRED && rp->bank != NULL;
    float *sim = minred ? rp->sims + (size_t)rp->refresh * rp->capacity : NULL; /* the last row of sims */
    size_t slot;
    if (rp->count < rp->capacity) {
        slot = rp->count;
        if (minred) lct__minred_measure(rp, e, rp->count, sim);
        store(rp, slot, sample, e);
        rp->count++;
        if (minred) lct__minred_enter(rp, slot, sim);
    } else if (rp->policy == LCT_REPLAY_FIFO) {
        slot = (size_t)(rp->seen % rp->capacity);
        store(rp, slot, sample, e);
    } else if (rp->policy == LCT_REPLAY_RESERVOIR) {
        lct__rng r;
        lct__rng_seed(&r, lct_runtime_seed(rp->rt), lct__hash64(lct__hash64(rp->stream, KEY_RESERVOIR), rp->seen));
        uint64_t j = lct__rng_below(&r, rp->seen + 1);
        if (j >= rp->capacity) {
            rp->seen++;
            return -1;
        }
        slot = (size_t)j;
        store(rp, slot, sample, e);
    } else {
        lct__minred_refresh(rp);
        lct__minred_measure(rp, e, rp->count, sim);
        slot = lct__minred_victim(rp, sim);
        store(rp, slot, sample, e);
        lct__minred_enter(rp, slot, sim);
    }
    rp->seen++;
    return (int64_t)slot;
}

int lct_replay_insert(lct_replay *rp, const void *samples, size_t count, const float *embeddings, int64_t *slots)
{
    LCT__REQUIRE(rp);
    LCT__REQUIRE(samples);
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    size_t total;
    if (lct__mul_size(count, rp->sample_elems, &total) != 0 || total > SIZE_MAX / elem_bytes(rp->elem))
        return LCT__FAIL(LCT_ESHAPE, "count (%zu) x sample size (%zu) overflows", count, rp->sample_elems);
    if (embeddings && rp->bank == NULL)
        return LCT__FAIL(LCT_ESTATE, "embeddings are given but no bank is bound (lct_replay_bind_bank)");
    if (rp->policy == LCT_REPLAY_MINRED && rp->bank == NULL && count > rp->capacity - rp->count)
        return LCT__FAIL(LCT_ESTATE, "the MinRed replay is full and has no bank to measure redundancy on "
                                     "(bind one with lct_replay_bind_bank while it is empty)");
    if (rp->elem == LCT_REPLAY_F32) {
        const float *x = samples;
        for (size_t i = 0; i < total; i++)
            if (!isfinite(x[i])) return LCT__FAIL(LCT_ENUMERIC, "samples[%zu] is %g; samples must be finite", i,
                                                  (double)x[i]);
    }
    if (embeddings) {
        size_t n;
        if (lct__mul_size(count, rp->d, &n) != 0 || n > SIZE_MAX / sizeof(float))
            return LCT__FAIL(LCT_ESHAPE, "count (%zu) x D (%zu) overflows", count, rp->d);
        const int half = lct__bank_storage(rp->bank) == LCT_BANK_FP16;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(embeddings[i]) || (half && fabsf(embeddings[i]) >= 65520.0f))
                return LCT__FAIL(LCT_ENUMERIC, "embeddings[%zu] is %g; it must be finite%s", i, (double)embeddings[i],
                                 half ? " and within fp16's range (the bank stores fp16)" : "");
    }
    const unsigned char *src = samples;
    for (size_t i = 0; i < count; i++) {
        int64_t s = insert_one(rp, src + i * rp->sample_bytes, embeddings ? embeddings + i * rp->d : NULL);
        if (slots) slots[i] = s;
    }
    return LCT_OK;
}

static int check_slots(const lct_replay *rp, const int64_t *slots, size_t count, const char *func)
{
    for (size_t i = 0; i < count; i++)
        if (slots[i] < 0 || (uint64_t)slots[i] >= rp->count)
            return lct__fail(LCT_ERANGE, func, "slots[%zu] is %lld; the replay holds slots 0..%lld", i,
                             (long long)slots[i], (long long)rp->count - 1);
    return LCT_OK;
}

int lct_replay_sample(lct_replay *rp, size_t batch, void *out, int64_t *slots)
{
    LCT__REQUIRE(rp);
    LCT__REQUIRE(slots);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (batch > rp->count)
        return LCT__FAIL(LCT_ERANGE, "batch is %zu; the replay holds %zu samples (a batch draws distinct ones)", batch,
                         rp->count);
    lct__rng r;
    lct__rng_seed(&r, lct_runtime_seed(rp->rt), lct__hash64(lct__hash64(rp->stream, KEY_SAMPLE), rp->sample_calls));
    /* a partial Fisher-Yates shuffle of the occupied slots: batch distinct ones, uniformly */
    int64_t *p = rp->perm;
    for (size_t i = 0; i < rp->count; i++) p[i] = (int64_t)i;
    for (size_t i = 0; i < batch; i++) {
        size_t j = i + (size_t)lct__rng_below(&r, rp->count - i);
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
        slots[i] = p[i];
    }
    unsigned char *dst = out;
    for (size_t i = 0; i < batch; i++) {
        if (dst) memcpy(dst + i * rp->sample_bytes, rp->data + (size_t)slots[i] * rp->sample_bytes, rp->sample_bytes);
        if (rp->nn_sim && rp->bank) lct__minred_mark(rp, (size_t)slots[i]);
    }
    rp->sample_calls++;
    return LCT_OK;
}

int lct_replay_get(const lct_replay *rp, const int64_t *slots, size_t count, void *out, uint64_t *ages)
{
    LCT__REQUIRE(rp);
    LCT__REQUIRE(slots);
    if (out == NULL && ages == NULL) return LCT__FAIL(LCT_EINVAL, "arguments 'out' and 'ages' are both NULL");
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    int rc = check_slots(rp, slots, count, __func__);
    if (rc) return rc;
    unsigned char *dst = out;
    for (size_t i = 0; i < count; i++) {
        if (dst) memcpy(dst + i * rp->sample_bytes, rp->data + (size_t)slots[i] * rp->sample_bytes, rp->sample_bytes);
        if (ages) ages[i] = rp->age[slots[i]];
    }
    return LCT_OK;
}

int lct_replay_touch(lct_replay *rp, const int64_t *slots, size_t count)
{
    LCT__REQUIRE(rp);
    LCT__REQUIRE(slots);
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    int rc = check_slots(rp, slots, count, __func__);
    if (rc) return rc;
    if (rp->nn_sim && rp->bank)
        for (size_t i = 0; i < count; i++) lct__minred_mark(rp, (size_t)slots[i]);
    return LCT_OK;
}
