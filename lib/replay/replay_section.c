/*
 * Replays and novelty scorers in checkpoints: the stored samples and every counter and measure a
 * stream run needs to continue bit-identically. A bound bank is saved on its own.
 * Record layouts in docs/checkpoint-format.md; the container's record API in checkpoint/checkpoint.h.
 */
#include <math.h>

#include "replay_internal.h"
#include "../checkpoint/checkpoint.h"

#define REPLAY_HEADER 80u
#define NOVELTY_SIZE 32u

int lct_checkpoint_add_replay(lct_checkpoint_writer *w, const char *name, const lct_replay *rp)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, rp, rp ? rp->rt : NULL, "rp", __func__);
    if (rc) return rc;
    const int minred = rp->nn_sim != NULL;
    lct__ckpt_put_u32(&rec, (uint32_t)rp->elem);
    lct__ckpt_put_u32(&rec, (uint32_t)rp->policy);
    lct__ckpt_put_u32(&rec, rp->rank);
    for (int i = 0; i < LCT_REPLAY_MAX_RANK; i++) lct__ckpt_put_u32(&rec, i < (int)rp->rank ? rp->shape[i] : 0);
    lct__ckpt_put_u32(&rec, 0);
    lct__ckpt_put_u64(&rec, rp->capacity);
    lct__ckpt_put_u64(&rec, rp->count);
    lct__ckpt_put_u64(&rec, rp->seen);
    lct__ckpt_put_u64(&rec, rp->stream);
    lct__ckpt_put_u64(&rec, rp->sample_calls);
    lct__ckpt_put_u64(&rec, minred ? rp->q_len : 0);
    for (size_t i = 0; i < rp->count; i++) lct__ckpt_put_u64(&rec, rp->age[i]);
    if (minred) {
        for (size_t i = 0; i < rp->count; i++) {
            uint32_t bits;
            memcpy(&bits, &rp->nn_sim[i], 4);
            lct__ckpt_put_u32(&rec, bits);
        }
        for (size_t i = 0; i < rp->count; i++) lct__ckpt_put_u64(&rec, (uint64_t)rp->nn_idx[i]);
        for (size_t i = 0; i < rp->q_len; i++)
            lct__ckpt_put_u64(&rec, (uint64_t)rp->queue[(rp->q_head + i) % rp->capacity]);
    }
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_REPLAY, &rec, rp->data, rp->count * rp->sample_bytes,
                                rp->elem == LCT_REPLAY_F32 ? 4 : 0, NULL, NULL, __func__);
}

/* Offsets of the parts of a replay payload holding `count` samples and a queue of q slots. */
typedef struct replay_layout {
    size_t ages, nn_sim, nn_idx, queue, data, end;
} replay_layout;

static replay_layout layout(const lct_replay *rp, size_t count, size_t q)
{
    replay_layout l;
    const int minred = rp->nn_sim != NULL;
    l.ages = REPLAY_HEADER;
    l.nn_sim = l.ages + 8 * count;
    l.nn_idx = l.nn_sim + (minred ? 4 * count : 0);
    l.queue = l.nn_idx + (minred ? 8 * count : 0);
    l.data = l.queue + 8 * q;
    l.end = l.data + count * rp->sample_bytes;
    return l;
}

static void commit_replay(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_replay *rp = target;
    const unsigned char *p = payload;
    size_t count = (size_t)lct__le64_load(p + 40), q = (size_t)lct__le64_load(p + 72);
    replay_layout l = layout(rp, count, q);
    rp->count = count;
    rp->seen = lct__le64_load(p + 48);
    rp->stream = lct__le64_load(p + 56);
    rp->sample_calls = lct__le64_load(p + 64);
    for (size_t i = 0; i < count; i++) rp->age[i] = lct__le64_load(p + l.ages + 8 * i);
    if (rp->nn_sim) {
        for (size_t i = 0; i < count; i++) {
            uint32_t bits = lct__le32_load(p + l.nn_sim + 4 * i);
            memcpy(&rp->nn_sim[i], &bits, 4);
            rp->nn_idx[i] = (int64_t)lct__le64_load(p + l.nn_idx + 8 * i);
        }
        memset(rp->dirty, 0, rp->capacity);
        rp->q_head = 0;
        rp->q_len = q;
        for (size_t i = 0; i < q; i++) {
            rp->queue[i] = (int64_t)lct__le64_load(p + l.queue + 8 * i);
            rp->dirty[rp->queue[i]] = 1;
        }
    }
    memcpy(rp->data, p + l.data, count * rp->sample_bytes);
}

/* The payload (already inflated, f32 samples in host order) against the replay; must not change it. */
static int check_replay(const void *target, lct__ckpt_get *g, unsigned char *p, const char *name, const char *func)
{
    const lct_replay *rp = target;
    size_t size = g->size;
    if (size < REPLAY_HEADER) return lct__fail(LCT_EFORMAT, func, "section '%s' is too short", name);
    uint32_t elem = lct__le32_load(p + 4), policy = lct__le32_load(p + 8), rank = lct__le32_load(p + 12);
    int same = elem == (uint32_t)rp->elem && policy == (uint32_t)rp->policy && rank == rp->rank &&
               lct__le64_load(p + 32) == rp->capacity;
    for (uint32_t i = 0; same && i < rank && i < LCT_REPLAY_MAX_RANK; i++) same = lct__le32_load(p + 16 + 4 * i) == rp->shape[i];
    if (!same)
        return lct__fail(LCT_ESHAPE, func, "section '%s' holds a replay of %llu slots (element type %u, policy %u, "
                         "rank %u) unlike this one (%zu slots, element type %d, policy %d, rank %u, or another shape)",
                         name, (unsigned long long)lct__le64_load(p + 32), (unsigned)elem, (unsigned)policy,
                         (unsigned)rank, rp->capacity, rp->elem, rp->policy, rp->rank);
    uint64_t count = lct__le64_load(p + 40), seen = lct__le64_load(p + 48), q = lct__le64_load(p + 72);
    if (count > rp->capacity || seen < count || q > (rp->nn_sim ? count : 0))
        return lct__fail(LCT_EFORMAT, func, "section '%s' claims %llu samples of %llu seen and %llu queued, impossible "
                         "in %zu slots", name, (unsigned long long)count, (unsigned long long)seen,
                         (unsigned long long)q, rp->capacity);
    replay_layout l = layout(rp, (size_t)count, (size_t)q);
    if (size != l.end)
        return lct__fail(LCT_EFORMAT, func, "section '%s' holds %zu bytes; its header calls for %zu", name, size, l.end);
    for (size_t i = 0; i < count; i++)
        if (lct__le64_load(p + l.ages + 8 * i) >= seen)
            return lct__fail(LCT_EFORMAT, func, "section '%s': slot %zu's sample number is not below %llu", name, i,
                             (unsigned long long)seen);
    if (rp->nn_sim) {
        for (size_t i = 0; i < count; i++) {
            uint32_t bits = lct__le32_load(p + l.nn_sim + 4 * i);
            float s;
            memcpy(&s, &bits, 4);
            int64_t j = (int64_t)lct__le64_load(p + l.nn_idx + 8 * i);
            int ok = j == -1 ? s == -INFINITY : (j >= 0 && (uint64_t)j < count && (size_t)j != i && isfinite(s));
            if (!ok) return lct__fail(LCT_EFORMAT, func, "section '%s': slot %zu's nearest neighbour is malformed", name, i);
        }
        /* the queue holds distinct slots */
        unsigned char *queued = q ? lct__calloc(rp->rt, (size_t)count, 1) : NULL;
        if (q && queued == NULL) return lct__fail(LCT_ENOMEM, func, "cannot check the queue of section '%s'", name);
        int rc = LCT_OK;
        for (size_t i = 0; i < q && rc == LCT_OK; i++) {
            uint64_t s = lct__le64_load(p + l.queue + 8 * i);
            if (s >= count || queued[s])
                rc = lct__fail(LCT_EFORMAT, func, "section '%s': queued slot %llu is not held or queued twice", name,
                               (unsigned long long)s);
            else
                queued[s] = 1;
        }
        lct__free(rp->rt, queued);
        if (rc) return rc;
    }
    if (rp->elem == LCT_REPLAY_F32) {
        lct__swap32_if_be(p + l.data, (size_t)count * rp->sample_elems);
        if (!lct__all_finite((const float *)(const void *)(p + l.data), (size_t)count * rp->sample_elems))
            return lct__fail(LCT_ENUMERIC, func, "section '%s' holds NaN or Inf samples; the replay was not changed", name);
    }
    return LCT_OK;
}

static const lct__ckpt_record REPLAY_RECORD = {LCT__CKPT_TYPE_REPLAY, "rp", check_replay, commit_replay, NULL};

int lct_checkpoint_load_replay(lct_checkpoint_reader *r, const char *name, lct_replay *rp)
{
    size_t most = rp ? layout(rp, rp->capacity, rp->nn_sim ? rp->capacity : 0).end : 0;
    return lct__ckpt_load_record(r, name, rp, rp ? rp->rt : NULL, &REPLAY_RECORD, most, NULL, __func__);
}

int lct_checkpoint_add_novelty(lct_checkpoint_writer *w, const char *name, const lct_novelty *nv)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, nv, nv ? nv->rt : NULL, "nv", __func__);
    if (rc) return rc;
    uint64_t mean, var;
    memcpy(&mean, &nv->mean, 8);
    memcpy(&var, &nv->var, 8);
    lct__ckpt_put_u32(&rec, nv->k);
    lct__ckpt_put_u64(&rec, nv->n);
    lct__ckpt_put_u64(&rec, mean);
    lct__ckpt_put_u64(&rec, var);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_NOVELTY, &rec, NULL, 0, 0, NULL, NULL, __func__);
}

static double f64_at(const unsigned char *p)
{
    uint64_t bits = lct__le64_load(p);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

static void commit_novelty(void *target, const void *payload, size_t size)
{
    lct_novelty *nv = target;
    nv->n = lct__ckpt_u64_at(payload, 8);
    nv->mean = f64_at((const unsigned char *)payload + 16);
    nv->var = f64_at((const unsigned char *)payload + 24);
}

/* The record holds the statistics of a variance: finite, not negative. */
static int check_novelty(const void *target, lct__ckpt_get *g, unsigned char *p, const char *name, const char *func)
{
    (void)target;
    if (g->size != NOVELTY_SIZE)
        return lct__fail(LCT_EFORMAT, func, "section '%s' holds %zu bytes, not %u", name, g->size, NOVELTY_SIZE);
    double mean = f64_at(p + 16), var = f64_at(p + 24);
    if (!isfinite(mean) || !isfinite(var) || var < 0.0)
        return lct__fail(LCT_ENUMERIC, func, "section '%s' holds a mean of %g and a variance of %g", name, mean, var);
    return LCT_OK;
}

static const lct__ckpt_record NOVELTY_RECORD = {LCT__CKPT_TYPE_NOVELTY, "nv", check_novelty, commit_novelty, NULL};

int lct_checkpoint_load_novelty(lct_checkpoint_reader *r, const char *name, lct_novelty *nv)
{
    return lct__ckpt_load_record(r, name, nv, nv ? nv->rt : NULL, &NOVELTY_RECORD, NOVELTY_SIZE, NULL, __func__);
}
