/*
 * Replay, bank rows that follow its slots, novelty and step costs: the policies (FIFO's order,
 * reservoir's uniform inclusion by chi-squared, MinRed's eviction of the most redundant sample),
 * batches, footprint, a stream run resumed from a checkpoint bit for bit, the steady state that
 * allocates nothing, novelty on shifted data, and every new function's refusals.
 */
#include <unistd.h>

#include "testutil.h"

#include "core/internal.h"
#include "checkpoint/checkpoint_internal.h"
#include "replay/replay_internal.h"

static const uint32_t shape2[1] = {2};

static lct_replay *new_replay(lct_runtime *rt, size_t capacity, int policy, int elem, const uint32_t *shape,
                              size_t rank)
{
    lct_replay_options o;
    ck_assert_int_eq(lct_replay_options_init(&o, LCT_REPLAY_OPTIONS_VERSION), LCT_OK);
    o.policy = policy;
    o.elem = elem;
    lct_replay *rp = NULL;
    ck_assert_int_eq(lct_replay_new(&rp, rt, capacity, shape, rank, &o), LCT_OK);
    return rp;
}

#define assert_no_memory lct_test_assert_no_memory

/* ---- FIFO --------------------------------------------------------------------------------- */

START_TEST(test_fifo_order)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_replay *rp = new_replay(rt, 4, LCT_REPLAY_FIFO, LCT_REPLAY_U8, shape2, 1);
    for (int i = 0; i < 11; i++) {
        uint8_t s[2] = {(uint8_t)i, (uint8_t)(100 + i)};
        int64_t slot;
        ck_assert_int_eq(lct_replay_insert(rp, s, 1, NULL, &slot), LCT_OK);
        ck_assert_int_eq(slot, i % 4); /* the oldest sample's slot */
    }
    size_t cap, count, sb;
    uint64_t seen;
    ck_assert_int_eq(lct_replay_info(rp, &cap, &count, &seen, &sb), LCT_OK);
    ck_assert(cap == 4 && count == 4 && seen == 11 && sb == 2);
    /* the last four samples, 7..10, each in slot i mod 4, with its number */
    int64_t slots[4] = {0, 1, 2, 3};
    uint8_t out[8];
    uint64_t ages[4];
    ck_assert_int_eq(lct_replay_get(rp, slots, 4, out, ages), LCT_OK);
    for (int s = 0; s < 4; s++) {
        int i = s == 3 ? 7 : 8 + s;
        ck_assert_uint_eq(ages[s], (uint64_t)i);
        ck_assert(out[2 * s] == i && out[2 * s + 1] == 100 + i);
    }
    /* several at once equal one at a time */
    lct_replay *rq = new_replay(rt, 4, LCT_REPLAY_FIFO, LCT_REPLAY_U8, shape2, 1);
    uint8_t many[22];
    for (int i = 0; i < 11; i++) many[2 * i] = (uint8_t)i, many[2 * i + 1] = (uint8_t)(100 + i);
    int64_t got[11];
    ck_assert_int_eq(lct_replay_insert(rq, many, 11, NULL, got), LCT_OK);
    uint8_t out2[8];
    ck_assert_int_eq(lct_replay_get(rq, slots, 4, out2, NULL), LCT_OK);
    ck_assert_mem_eq(out, out2, 8);
    lct_replay_free(rq);
    lct_replay_free(rp);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- reservoir ------------------------------------------------------------------------------ */

START_TEST(test_reservoir_uniform_inclusion)
{
    /* 100 samples into 10 slots, 3000 runs (seeds): each sample should be held in 10 % of them. */
    enum { C = 10, N = 100, RUNS = 3000 };
    static long held[N];
    memset(held, 0, sizeof held);
    uint32_t shape[1] = {1};
    for (int run = 0; run < RUNS; run++) {
        lct_runtime *rt = lct_test_runtime(1, (uint64_t)run + 1);
        lct_replay *rp = new_replay(rt, C, LCT_REPLAY_RESERVOIR, LCT_REPLAY_U8, shape, 1);
        for (int i = 0; i < N; i++) {
            uint8_t s = (uint8_t)i;
            int64_t slot;
            ck_assert_int_eq(lct_replay_insert(rp, &s, 1, NULL, &slot), LCT_OK);
            ck_assert(i < C ? slot == i : slot >= -1 && slot < C);
        }
        int64_t slots[C];
        uint8_t out[C];
        for (int s = 0; s < C; s++) slots[s] = s;
        ck_assert_int_eq(lct_replay_get(rp, slots, C, out, NULL), LCT_OK);
        for (int s = 0; s < C; s++) held[out[s]]++;
        lct_replay_free(rp);
        lct_runtime_free(rt);
    }
    double expected = (double)RUNS * C / N, chi2 = 0.0;
    for (int i = 0; i < N; i++) chi2 += (held[i] - expected) * (held[i] - expected) / expected;
    /* 99 degrees of freedom: P(chi2 > 148.2) = 0.001 */
    ck_assert_msg(chi2 < 148.2, "chi-squared %.1f over 99 degrees of freedom: inclusion is not uniform", chi2);
    ck_assert_msg(chi2 > 59.0, "chi-squared %.1f: suspiciously regular (P < 0.001)", chi2);
}
END_TEST

/* ---- MinRed --------------------------------------------------------------------------------- */

/* Unit vector of dimension 8 along axis a, tilted by t towards axis b. */
static void tilted(float *v, int a, int b, float t)
{
    memset(v, 0, 8 * sizeof *v);
    v[a] = 1.0f;
    v[b] += t;
    float n = sqrtf(1.0f + t * t);
    v[a] /= n;
    v[b] /= n;
}

/* Largest similarity of row a of r (c rows of d) to another row or to the new vector v. */
static float redundancy(const float *r, int c, int d, const float *v, int a)
{
    float m = -INFINITY;
    for (int b = -1; b < c; b++) {
        if (b == a) continue;
        const float *o = b < 0 ? v : r + b * d;
        float dot = 0;
        for (int j = 0; j < d; j++) dot += r[a * d + j] * o[j];
        if (dot > m) m = dot;
    }
    return m;
}

START_TEST(test_minred_evicts_the_most_redundant)
{
    lct_runtime *rt = lct_test_runtime(1, 2);
    lct_replay *rp = new_replay(rt, 6, LCT_REPLAY_MINRED, LCT_REPLAY_U8, shape2, 1);
    lct_bank *bank;
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.init = LCT_BANK_INIT_ZERO;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 6, 8, &bo), LCT_OK);
    uint8_t s[2] = {0, 0};
    lct_error_clear();
    /* MinRed cannot evict without rows to measure */
    for (int i = 0; i < 6; i++) ck_assert_int_eq(lct_replay_insert(rp, s, 1, NULL, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_replay_insert(rp, s, 1, NULL, NULL), LCT_ESTATE, "bank");
    lct_replay_free(rp);

    rp = new_replay(rt, 6, LCT_REPLAY_MINRED, LCT_REPLAY_U8, shape2, 1);
    ck_assert_int_eq(lct_replay_bind_bank(rp, bank), LCT_OK);
    /* six stored rows: axes 0..4, and a near copy of axis 2 (slot 5) */
    float e[8];
    for (int i = 0; i < 5; i++) {
        tilted(e, i, (i + 1) % 8, 0.0f);
        s[0] = (uint8_t)i;
        ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, NULL), LCT_OK);
    }
    tilted(e, 2, 7, 0.1f);
    s[0] = 5;
    ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, NULL), LCT_OK);
    /* the bank rows follow the slots */
    float rows[6 * 8];
    ck_assert_int_eq(lct_bank_get_rows(bank, 0, 6, rows), LCT_OK);
    ck_assert_float_eq(rows[5 * 8 + 2], e[2]);
    /* a new sample along axis 6: the pair (2, 5) is the most redundant; the older of the two goes */
    tilted(e, 6, 0, 0.0f);
    s[0] = 6;
    int64_t slot;
    ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, &slot), LCT_OK);
    ck_assert_int_eq(slot, 2);
    ck_assert_int_eq(lct_bank_get_rows(bank, 0, 6, rows), LCT_OK);
    ck_assert_float_eq(rows[2 * 8 + 6], 1.0f);
    /* a near copy of axis 3: now it and slot 3 are the closest pair; slot 3 is older */
    tilted(e, 3, 7, 0.05f);
    s[0] = 7;
    ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, &slot), LCT_OK);
    ck_assert_int_eq(slot, 3);
    /* an exact duplicate of slot 5's row replaces slot 5 (the older of the pair) */
    ck_assert_int_eq(lct_bank_get_rows(bank, 5, 1, e), LCT_OK);
    s[0] = 8;
    ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, &slot), LCT_OK);
    ck_assert_int_eq(slot, 5);
    uint64_t age;
    ck_assert_int_eq(lct_replay_get(rp, &slot, 1, NULL, &age), LCT_OK);
    ck_assert_uint_eq(age, 8);

    /* rows the host moves are re-measured: make slot 0 a copy of slot 1, tell the replay, and it goes */
    ck_assert_int_eq(lct_bank_get_rows(bank, 1, 1, e), LCT_OK);
    ck_assert_int_eq(lct_bank_set_rows(bank, 0, 1, e), LCT_OK);
    int64_t zero = 0;
    ck_assert_int_eq(lct_replay_touch(rp, &zero, 1), LCT_OK);
    tilted(e, 7, 4, 0.5f);
    ck_assert_int_eq(lct_replay_insert(rp, s, 1, e, &slot), LCT_OK);
    ck_assert_int_eq(slot, 0);

    /* against a brute-force search over a random stream: the evicted slot is always the most redundant */
    lct_replay_free(rp);
    lct_bank_free(bank);
    enum { C = 24, D = 6 };
    ck_assert_int_eq(lct_bank_new(&bank, rt, C, D, &bo), LCT_OK);
    rp = new_replay(rt, C, LCT_REPLAY_MINRED, LCT_REPLAY_U8, shape2, 1);
    ck_assert_int_eq(lct_replay_bind_bank(rp, bank), LCT_OK);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200; i++) {
        float v[D], r[C * D];
        double nn = 0;
        for (int j = 0; j < D; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[j] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
            nn += (double)v[j] * v[j];
        }
        for (int j = 0; j < D; j++) v[j] = (float)(v[j] / sqrt(nn));
        size_t count;
        lct_replay_info(rp, NULL, &count, NULL, NULL);
        int want = -1;
        if (count == C) {
            /* brute force: the stored row most similar to another stored row or to v */
            ck_assert_int_eq(lct_bank_get_rows(bank, 0, C, r), LCT_OK);
            float best = -INFINITY;
            for (int a = 0; a < C; a++)
                if (redundancy(r, C, D, v, a) > best + 1e-6f) best = redundancy(r, C, D, v, a), want = a;
        }
        int64_t got;
        s[0] = (uint8_t)i;
        ck_assert_int_eq(lct_replay_insert(rp, s, 1, v, &got), LCT_OK);
        if (want >= 0) {
            /* ties within rounding may go either way: the chosen slot must be as redundant as the best */
            float m = redundancy(r, C, D, v, (int)got), mw = redundancy(r, C, D, v, want);
            ck_assert_msg(m >= mw - 1e-5f, "insertion %d evicted slot %lld (%g), not slot %d (%g)", i, (long long)got,
                          (double)m, want, (double)mw);
        }
    }
    lct_replay_free(rp);
    lct_bank_free(bank);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- bank rows follow slots; batches ------------------------------------------------------- */

START_TEST(test_bank_rows_follow_slots)
{
    lct_runtime *rt = lct_test_runtime(1, 3);
    for (int policy = LCT_REPLAY_FIFO; policy <= LCT_REPLAY_RESERVOIR; policy++) {
        lct_replay *rp = new_replay(rt, 3, policy, LCT_REPLAY_U8, shape2, 1);
        lct_bank *bank;
        ck_assert_int_eq(lct_bank_new(&bank, rt, 3, 4, NULL), LCT_OK); /* random first rows */
        ck_assert_int_eq(lct_replay_bind_bank(rp, bank), LCT_OK);
        float e[4], rows[12];
        uint8_t s[2] = {1, 2};
        for (int i = 0; i < 40; i++) {
            for (int j = 0; j < 4; j++) e[j] = (float)(i * 4 + j);
            int64_t slot;
            /* every third sample comes without an embedding: its row is reset to zeros */
            ck_assert_int_eq(lct_replay_insert(rp, s, 1, i % 3 == 2 ? NULL : e, &slot), LCT_OK);
            if (slot < 0) continue;
            ck_assert_int_eq(lct_bank_get_rows(bank, (size_t)slot, 1, rows), LCT_OK);
            for (int j = 0; j < 4; j++) ck_assert_float_eq(rows[j], i % 3 == 2 ? 0.0f : e[j]);
        }
        /* every row belongs to its slot's sample: its first element is 4 x the sample's number (or 0) */
        int64_t slots[3] = {0, 1, 2};
        uint64_t ages[3];
        ck_assert_int_eq(lct_replay_get(rp, slots, 3, NULL, ages), LCT_OK);
        ck_assert_int_eq(lct_bank_get_rows(bank, 0, 3, rows), LCT_OK);
        for (int k = 0; k < 3; k++)
            ck_assert_float_eq(rows[4 * k], ages[k] % 3 == 2 ? 0.0f : (float)(4 * ages[k]));
        lct_replay_free(rp);
        lct_bank_free(bank);
    }
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_sample_batches)
{
    lct_runtime *rt = lct_test_runtime(1, 4), *rt2 = lct_test_runtime(2, 4);
    uint32_t shape[3] = {1, 2, 3};
    lct_replay *rp = new_replay(rt, 50, LCT_REPLAY_FIFO, LCT_REPLAY_F32, shape, 3);
    lct_replay *rq = new_replay(rt2, 50, LCT_REPLAY_FIFO, LCT_REPLAY_F32, shape, 3);
    float x[40 * 6];
    for (int i = 0; i < 40 * 6; i++) x[i] = (float)i;
    ck_assert_int_eq(lct_replay_insert(rp, x, 40, NULL, NULL), LCT_OK);
    ck_assert_int_eq(lct_replay_insert(rq, x, 40, NULL, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_replay_sample(rp, 41, NULL, (int64_t[41]){0}), LCT_ERANGE, "holds 40");
    static long drawn[40];
    memset(drawn, 0, sizeof drawn);
    for (int call = 0; call < 400; call++) {
        int64_t a[10], b[10];
        float out[10 * 6];
        ck_assert_int_eq(lct_replay_sample(rp, 10, out, a), LCT_OK);
        ck_assert_int_eq(lct_replay_sample(rq, 10, NULL, b), LCT_OK);
        ck_assert_mem_eq(a, b, sizeof a); /* the same draws for any thread count */
        for (int i = 0; i < 10; i++) {
            for (int j = 0; j < i; j++) ck_assert(a[i] != a[j]); /* distinct */
            ck_assert_mem_eq(out + 6 * i, x + 6 * a[i], 6 * sizeof(float));
            drawn[a[i]]++;
        }
    }
    for (int i = 0; i < 40; i++) ck_assert(drawn[i] > 50 && drawn[i] < 150); /* about 100 each */
    /* a batch of every sample is a permutation */
    int64_t all[40];
    ck_assert_int_eq(lct_replay_sample(rp, 40, NULL, all), LCT_OK);
    long sum = 0;
    for (int i = 0; i < 40; i++) sum += all[i];
    ck_assert_int_eq(sum, 40 * 39 / 2);
    lct_replay_free(rp);
    lct_replay_free(rq);
    lct_runtime_free(rt);
    lct_runtime_free(rt2);
}
END_TEST

START_TEST(test_footprint)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    uint32_t shape[3] = {1, 28, 28};
    for (int policy = 0; policy <= 2; policy++) {
        lct_replay_options o;
        lct_replay_options_init(&o, LCT_REPLAY_OPTIONS_VERSION);
        o.policy = policy;
        size_t need, before, after;
        ck_assert_int_eq(lct_replay_bytes(1000, shape, 3, &o, &need), LCT_OK);
        lct_runtime_memory(rt, &before, NULL);
        lct_replay *rp;
        ck_assert_int_eq(lct_replay_new(&rp, rt, 1000, shape, 3, &o), LCT_OK);
        lct_runtime_memory(rt, &after, NULL);
        ck_assert_msg(after - before <= need && after - before + 1000 >= need, "policy %d: %zu bytes held, %zu told",
                      policy, after - before, need);
        lct_replay_free(rp);
    }
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- a stream run: a small CNN, a replay, a bank per slot, novelty ----------------------------- */

enum { SR_CAP = 16, SR_B = 4, SR_D = 8, SR_PIX = 64 };

typedef struct stream_run {
    lct_runtime *rt;
    lct_test_alloc alloc;
    lct_encoder *enc;
    lct_bank *bank;
    lct_replay *rp;
    lct_novelty *nv;
    lct_loss *loss;
    lct_optimizer *opt;
    lct_augmenter *aug;
    uint8_t images[SR_B * SR_PIX];
    float x[SR_B * SR_PIX], f[SR_B * SR_D], df[SR_B * SR_D], e[SR_D];
    int64_t slots[SR_B];
    float losses[64], scores[64];
} stream_run;

static void stream_new(stream_run *r, int policy, int counting)
{
    memset(r, 0, sizeof *r);
    r->rt = counting ? lct_test_failing_runtime(&r->alloc, 1, 7) : lct_test_runtime(1, 7);
    ck_assert_int_eq(lct_encoder_new_from_spec(&r->enc, r->rt,
                                               "in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; flatten; linear 8; l2norm",
                                               NULL),
                     LCT_OK);
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.init = LCT_BANK_INIT_ZERO;
    ck_assert_int_eq(lct_bank_new(&r->bank, r->rt, SR_CAP, SR_D, &bo), LCT_OK);
    lct_replay_options ro;
    lct_replay_options_init(&ro, LCT_REPLAY_OPTIONS_VERSION);
    ro.policy = policy;
    ro.refresh = 4;
    uint32_t shape[3] = {1, 8, 8};
    ck_assert_int_eq(lct_replay_new(&r->rp, r->rt, SR_CAP, shape, 3, &ro), LCT_OK);
    ck_assert_int_eq(lct_replay_bind_bank(r->rp, r->bank), LCT_OK);
    lct_novelty_options no;
    lct_novelty_options_init(&no, LCT_NOVELTY_OPTIONS_VERSION);
    no.k = 3;
    ck_assert_int_eq(lct_novelty_new(&r->nv, r->rt, r->bank, &no), LCT_OK);
    ck_assert_int_eq(lct_loss_new_npsoftmax(&r->loss, r->rt, r->bank, NULL), LCT_OK);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.lr = 0.05;
    oo.momentum = 0.9;
    ck_assert_int_eq(lct_optimizer_new(&r->opt, r->rt, &oo), LCT_OK);
    ck_assert_int_eq(lct_optimizer_attach(r->opt, lct_encoder_params(r->enc)), LCT_OK);
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.channels = 1, ao.height = ao.width = 8;
    ck_assert_int_eq(lct_augmenter_new(&r->aug, r->rt, &ao), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_random_resized_crop(r->aug, 1.0, 0.5, 1.0, 0.75, 4.0 / 3.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_hflip(r->aug, 0.5), LCT_OK);
}

static lct_test_handles stream_handles(const stream_run *r)
{
    return (lct_test_handles){.enc = r->enc, .opt = r->opt, .bank = r->bank, .rp = r->rp, .nv = r->nv, .loss = r->loss,
                              .aug = r->aug};
}

static void stream_free(stream_run *r)
{
    lct_test_handles h = stream_handles(r);
    lct_test_handles_free(&h);
    assert_no_memory(r->rt);
    lct_runtime_free(r->rt);
}

/* Frame t of a synthetic camera: a bright square whose place drifts, plus a texture of t. */
static void frame_image(int t, uint8_t *img)
{
    for (int i = 0; i < SR_PIX; i++) img[i] = (uint8_t)((i * 37 + t * 11) % 61);
    int r0 = (t / 3) % 5, c0 = (t / 2) % 5;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) img[(r0 + i) * 8 + c0 + j] = 250;
}

/* Frames [from, from + count): embed the frame, score its novelty, insert it; then a training step on a batch. */
static void stream_frames(stream_run *r, int from, int count)
{
    for (int t = from; t < from + count; t++) {
        uint8_t img[SR_PIX];
        frame_image(t, img);
        float xf[SR_PIX];
        for (int i = 0; i < SR_PIX; i++) xf[i] = img[i] / 255.0f;
        ck_assert_int_eq(lct_encoder_set_mode(r->enc, LCT_ENCODER_EVAL), LCT_OK);
        ck_assert_int_eq(lct_encoder_forward(r->enc, xf, 1, r->e), LCT_OK);
        ck_assert_int_eq(lct_encoder_set_mode(r->enc, LCT_ENCODER_TRAIN), LCT_OK);
        size_t held;
        lct_replay_info(r->rp, NULL, &held, NULL, NULL);
        r->scores[t] = -1.0f;
        if (held > 0) ck_assert_int_eq(lct_novelty_score(r->nv, r->e, 1, held, &r->scores[t], NULL), LCT_OK);
        ck_assert_int_eq(lct_replay_insert(r->rp, img, 1, r->e, NULL), LCT_OK);
        lct_replay_info(r->rp, NULL, &held, NULL, NULL);
        r->losses[t] = -1.0f;
        if (held < SR_B) continue;
        ck_assert_int_eq(lct_replay_sample(r->rp, SR_B, r->images, r->slots), LCT_OK);
        ck_assert_int_eq(lct_augmenter_apply(r->aug, r->images, SR_B, 1, r->x), LCT_OK);
        ck_assert_int_eq(lct_encoder_forward(r->enc, r->x, SR_B, r->f), LCT_OK);
        ck_assert_int_eq(lct_loss_npsoftmax_compute(r->loss, r->f, r->slots, SR_B, &r->losses[t], r->df), LCT_OK);
        ck_assert_int_eq(lct_optimizer_zero_grad(r->opt), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(r->enc, r->df, SR_B, NULL), LCT_OK);
        ck_assert_int_eq(lct_optimizer_step(r->opt), LCT_OK);
        ck_assert_int_eq(lct_bank_update(r->bank, r->f, r->slots, SR_B, 0.5f), LCT_OK);
    }
}

static void stream_save(stream_run *r, const char *path)
{
    lct_test_handles h = stream_handles(r);
    lct_test_handles_save(r->rt, &h, path, NULL, 0);
}

static void stream_load(stream_run *r, const char *path)
{
    lct_test_handles h = stream_handles(r);
    lct_test_handles_restore(r->rt, &h, path, NULL);
}

/* Everything a stream run's future depends on, bit for bit. */
static void assert_same_run(stream_run *a, stream_run *b)
{
    const lct_params *pa = lct_encoder_params(a->enc), *pb = lct_encoder_params(b->enc);
    for (size_t i = 0; i < pa->n_tensors; i++)
        ck_assert_mem_eq(pa->tensors[i].value, pb->tensors[i].value, pa->tensors[i].count * sizeof(float));
    float ra[SR_CAP * SR_D], rb[SR_CAP * SR_D];
    ck_assert_int_eq(lct_bank_get_rows(a->bank, 0, SR_CAP, ra), LCT_OK);
    ck_assert_int_eq(lct_bank_get_rows(b->bank, 0, SR_CAP, rb), LCT_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    size_t ca, cb;
    uint64_t sa, sb;
    lct_replay_info(a->rp, NULL, &ca, &sa, NULL);
    lct_replay_info(b->rp, NULL, &cb, &sb, NULL);
    ck_assert(ca == cb && sa == sb);
    ck_assert_mem_eq(a->rp->data, b->rp->data, ca * SR_PIX);
    ck_assert_mem_eq(a->rp->age, b->rp->age, ca * sizeof(uint64_t));
    if (a->rp->nn_sim) {
        ck_assert_mem_eq(a->rp->nn_sim, b->rp->nn_sim, ca * sizeof(float));
        ck_assert_mem_eq(a->rp->nn_idx, b->rp->nn_idx, ca * sizeof(int64_t));
        ck_assert_mem_eq(a->rp->dirty, b->rp->dirty, ca);
    }
    double ma, mb, da, db;
    uint64_t na, nb;
    lct_novelty_stats(a->nv, &ma, &da, &na);
    lct_novelty_stats(b->nv, &mb, &db, &nb);
    ck_assert(ma == mb && da == db && na == nb);
}

START_TEST(test_stream_resume_bit_identical)
{
    enum { N = 23, M = 19 };
    int policy = (int)_i;
    static stream_run straight, first, resumed;
    char path[] = "/tmp/lct_replay_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    stream_new(&straight, policy, 0);
    stream_frames(&straight, 0, N + M);
    stream_new(&first, policy, 0);
    stream_frames(&first, 0, N);
    stream_save(&first, path);
    stream_free(&first);
    stream_new(&resumed, policy, 0);
    stream_load(&resumed, path);
    memcpy(resumed.losses, straight.losses, sizeof resumed.losses);
    stream_frames(&resumed, N, M);
    for (int t = N; t < N + M; t++) {
        ck_assert_msg(memcmp(&straight.losses[t], &resumed.losses[t], sizeof(float)) == 0,
                      "frame %d: loss %.9g straight, %.9g resumed", t, (double)straight.losses[t],
                      (double)resumed.losses[t]);
        ck_assert_msg(memcmp(&straight.scores[t], &resumed.scores[t], sizeof(float)) == 0, "frame %d: novelty differs",
                      t);
    }
    ck_assert(straight.losses[N + M - 1] != straight.losses[N]);
    assert_same_run(&straight, &resumed);
    stream_free(&straight);
    stream_free(&resumed);
    unlink(path);
}
END_TEST

START_TEST(test_steady_stream_step_allocates_nothing)
{
    static stream_run r;
    stream_new(&r, (int)_i, 1);
    stream_frames(&r, 0, SR_B + 1); /* the first training step sizes every workspace */
    long before = r.alloc.count;
    stream_frames(&r, SR_B + 1, 40); /* fills the replay and evicts under every policy */
    ck_assert_msg(r.alloc.count == before, "policy %d: %ld allocations in steady stream frames", (int)_i,
                  r.alloc.count - before);
    stream_free(&r);
}
END_TEST

/* ---- novelty ------------------------------------------------------------------------------ */

/* A unit vector near centre c of D dimensions (c: a D-vector), noise of scale s from the xorshift state x. */
static void near(float *v, const float *c, int d, float s, uint64_t *x)
{
    double n = 0;
    for (int j = 0; j < d; j++) {
        *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
        v[j] = c[j] + s * (float)((double)(*x >> 11) / 9007199254740992.0 - 0.5);
        n += (double)v[j] * v[j];
    }
    for (int j = 0; j < d; j++) v[j] = (float)(v[j] / sqrt(n));
}

START_TEST(test_novelty_rises_on_shifted_data)
{
    enum { N = 256, D = 16 };
    lct_runtime *rt = lct_test_runtime(1, 6);
    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, N, D, NULL), LCT_OK);
    float c1[D] = {0}, c2[D] = {0}, rows[N * D];
    for (int j = 0; j < D / 2; j++) c1[j] = 1.0f;
    for (int j = D / 2; j < D; j++) c2[j] = 1.0f;
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) near(rows + i * D, c1, D, 1.0f, &x);
    ck_assert_int_eq(lct_bank_set_rows(bank, 0, N, rows), LCT_OK);
    lct_novelty *nv;
    ck_assert_int_eq(lct_novelty_new(&nv, rt, bank, NULL), LCT_OK);
    /* 200 embeddings from the stored distribution: z stays small */
    float f[70 * D], score[70], z[70];
    double in_z = 0, in_s = 0;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 20; i++) near(f + i * D, c1, D, 1.0f, &x);
        ck_assert_int_eq(lct_novelty_score(nv, f, 20, N, score, z), LCT_OK);
        for (int i = 0; i < 20 && round > 0; i++) in_z += z[i] / 180.0, in_s += score[i] / 180.0;
    }
    double mean, dev;
    uint64_t n;
    ck_assert_int_eq(lct_novelty_stats(nv, &mean, &dev, &n), LCT_OK);
    ck_assert_uint_eq(n, 200);
    ck_assert(fabs(in_z) < 0.5 && dev > 0);
    /* shifted data (another half of the axes): scores and z jump; a batch of 70 takes the GEMM path */
    for (int i = 0; i < 70; i++) near(f + i * D, c2, D, 1.0f, &x);
    ck_assert_int_eq(lct_novelty_score(nv, f, 70, N, score, z), LCT_OK);
    double out_z = 0, out_s = 0;
    for (int i = 0; i < 70; i++) out_z += z[i] / 70.0, out_s += score[i] / 70.0;
    ck_assert_msg(out_s > in_s + 0.2 && out_z > 3.0, "scores %.3f -> %.3f, z %.2f -> %.2f", in_s, out_s, in_z, out_z);
    /* the score is the mean distance to the k nearest rows: check one against a brute force */
    float sims[N];
    for (int r = 0; r < N; r++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)f[j] * rows[r * D + j];
        sims[r] = (float)s;
    }
    double top = 0;
    for (int k = 0; k < 10; k++) {
        int bi = 0;
        for (int r = 1; r < N; r++)
            if (sims[r] > sims[bi]) bi = r;
        top += sims[bi];
        sims[bi] = -INFINITY;
    }
    ck_assert_msg(fabs((1.0 - top / 10) - score[0]) < 1e-5, "score %g, brute force %g", (double)score[0], 1.0 - top / 10);
    /* one and many queries agree */
    float one;
    ck_assert_int_eq(lct_novelty_score(nv, f, 1, N, &one, NULL), LCT_OK);
    ck_assert(fabs(one - score[0]) < 1e-5);
    /* fewer rows than k: k shrinks */
    ck_assert_int_eq(lct_novelty_score(nv, f, 1, 3, &one, NULL), LCT_OK);
    ck_assert_int_eq(lct_novelty_reset(nv), LCT_OK);
    ck_assert_int_eq(lct_novelty_stats(nv, &mean, &dev, &n), LCT_OK);
    ck_assert(n == 0 && mean == 0 && dev == 0);
    lct_novelty_free(nv);
    lct_bank_free(bank);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- step costs --------------------------------------------------------------------------- */

START_TEST(test_costs)
{
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt, "in 10; linear 20; relu; linear 5", NULL), LCT_OK);
    uint64_t fwd, bwd;
    size_t ws, ws2;
    ck_assert_int_eq(lct_encoder_cost(enc, 8, &fwd, &bwd, &ws), LCT_OK);
    /* forward: 2·10·20 + 20 (bias) + 20 (ReLU) + 2·20·5 + 5 per sample; backward: the first layer's weights only */
    ck_assert_uint_eq(fwd, 8u * (400 + 20 + 20 + 200 + 5));
    ck_assert_uint_eq(bwd, 8u * ((400 + 20) + 20 + (400 + 5)));
    ck_assert_int_eq(lct_encoder_workspace_bytes(enc, 8, &ws2), LCT_OK);
    ck_assert_uint_eq(ws, ws2);
    ck_assert_int_eq(lct_encoder_cost(enc, 8, NULL, NULL, NULL), LCT_OK);
    lct_encoder *cnn;
    ck_assert_int_eq(lct_encoder_new_from_spec(&cnn, rt, "in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; flatten; "
                                                         "linear 8; l2norm", NULL), LCT_OK);
    ck_assert_int_eq(lct_encoder_cost(cnn, 1, &fwd, &bwd, NULL), LCT_OK);
    /* conv: 2·9·4·64 + 256 bias; bn 4·256; relu 256; pool 4·64; linear 2·64·8 + 8; l2norm 3·8 */
    ck_assert_uint_eq(fwd, 4608 + 256 + 1024 + 256 + 256 + 1024 + 8 + 24);

    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 100, 8, NULL), LCT_OK);
    lct_loss *sm, *nce, *inv;
    ck_assert_int_eq(lct_loss_new_npsoftmax(&sm, rt, bank, NULL), LCT_OK);
    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, LCT_LOSS_NCE_OPTIONS_VERSION);
    no.k = 16;
    ck_assert_int_eq(lct_loss_new_nce(&nce, rt, bank, &no), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&inv, rt, 8, NULL), LCT_OK);
    uint64_t fl;
    ck_assert_int_eq(lct_loss_cost(sm, 4, &fl, &ws), LCT_OK);
    ck_assert_uint_eq(fl, 4u * 100 * (4 * 8 + 10));
    ck_assert_int_eq(lct_loss_workspace_bytes(sm, 4, &ws2), LCT_OK);
    ck_assert_uint_eq(ws, ws2);
    ck_assert_int_eq(lct_loss_cost(nce, 4, &fl, NULL), LCT_OK);
    ck_assert_uint_eq(fl, 4u * 17 * (4 * 8 + 10));
    ck_assert_int_eq(lct_loss_cost(inv, 4, &fl, NULL), LCT_OK);
    ck_assert_uint_eq(fl, 64u * (6 * 8 + 10));
    /* refusals */
    LCT_ASSERT_FAILS(lct_encoder_cost(NULL, 1, &fwd, &bwd, &ws), LCT_EINVAL, "enc");
    LCT_ASSERT_FAILS(lct_encoder_cost(enc, 0, &fwd, &bwd, &ws), LCT_EINVAL, "batch");
    LCT_ASSERT_FAILS(lct_encoder_cost(enc, SIZE_MAX / 2, &fwd, &bwd, &ws), LCT_ESHAPE, "overflow");
    LCT_ASSERT_FAILS(lct_loss_cost(NULL, 1, &fl, &ws), LCT_EINVAL, "loss");
    LCT_ASSERT_FAILS(lct_loss_cost(sm, 0, &fl, &ws), LCT_EINVAL, "batch");
    LCT_ASSERT_FAILS(lct_loss_cost(sm, SIZE_MAX, &fl, &ws), LCT_ESHAPE, "limit");
    lct_loss_free(sm);
    lct_loss_free(nce);
    lct_loss_free(inv);
    lct_bank_free(bank);
    lct_encoder_free(cnn);
    lct_encoder_free(enc);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- refusals: the documented code, a message naming the argument, nothing changed ------------ */

/* The replay's observable state, to compare before and after a refused call. */
typedef struct snapshot {
    size_t count;
    uint64_t seen, calls;
    unsigned char data[64];
} snapshot;

static void snap(const lct_replay *rp, snapshot *s)
{
    memset(s, 0, sizeof *s);
    lct_replay_info(rp, NULL, &s->count, &s->seen, NULL);
    s->calls = rp->sample_calls;
    size_t held = s->count * rp->sample_bytes; /* the samples held; the rest of the buffer was never written */
    memcpy(s->data, rp->data, held < 64 ? held : 64);
}

#define UNCHANGED(rp, before)                                     \
    do {                                                          \
        snapshot after_;                                          \
        snap((rp), &after_);                                      \
        ck_assert_mem_eq(&(before), &after_, sizeof after_);      \
    } while (0)

START_TEST(test_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 9), *other = lct_test_runtime(1, 9);
    lct_replay_options o;
    lct_replay_options_init(&o, LCT_REPLAY_OPTIONS_VERSION);
    size_t sz;
    uint32_t shape[3] = {2, 2, 2}, zero[1] = {0}, huge[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    lct_replay *rp = NULL;
    /* options, footprint, creation */
    LCT_ASSERT_FAILS(lct_replay_options_init(NULL, 1), LCT_EINVAL, "opts");
    LCT_ASSERT_FAILS(lct_replay_options_init(&o, 2), LCT_EVERSION, "version");
    lct_replay_options_init(&o, LCT_REPLAY_OPTIONS_VERSION);
    LCT_ASSERT_FAILS(lct_replay_bytes(4, shape, 3, &o, NULL), LCT_EINVAL, "bytes");
    LCT_ASSERT_FAILS(lct_replay_bytes(4, NULL, 3, &o, &sz), LCT_EINVAL, "shape");
    LCT_ASSERT_FAILS(lct_replay_bytes(0, shape, 3, &o, &sz), LCT_EINVAL, "capacity");
    LCT_ASSERT_FAILS(lct_replay_bytes(4, shape, 4, &o, &sz), LCT_EINVAL, "rank");
    LCT_ASSERT_FAILS(lct_replay_bytes(4, huge, 3, &o, &sz), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_replay_new(NULL, rt, 4, shape, 3, &o), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, NULL, 4, shape, 3, &o), LCT_EINVAL, "rt");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, NULL, 3, &o), LCT_EINVAL, "shape");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 0, shape, 3, &o), LCT_EINVAL, "capacity");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, ((size_t)1 << 30) + 1, shape, 3, &o), LCT_EINVAL, "capacity");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 0, &o), LCT_EINVAL, "rank");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, zero, 1, &o), LCT_EINVAL, "shape[0]");
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, huge, 3, &o), LCT_ESHAPE, "overflows");
    o.elem = 2;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EINVAL, "opts->elem");
    o.elem = 0, o.policy = 3;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EINVAL, "opts->policy");
    o.policy = -1;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EINVAL, "opts->policy");
    o.policy = 0, o.refresh = 0;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EINVAL, "opts->refresh");
    o.refresh = 4097;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EINVAL, "opts->refresh");
    o.refresh = 64, o.version = 9;
    LCT_ASSERT_FAILS(lct_replay_new(&rp, rt, 4, shape, 3, &o), LCT_EVERSION, "opts->version");
    ck_assert_ptr_null(rp);
    assert_no_memory(rt);

    rp = new_replay(rt, 4, LCT_REPLAY_FIFO, LCT_REPLAY_F32, shape, 3);
    float x[8 * 8] = {0}, e[16] = {0};
    int64_t slots[8], bad_slots[2] = {0, 5};
    lct_bank *b4, *b5, *bo;
    ck_assert_int_eq(lct_bank_new(&b4, rt, 4, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_bank_new(&b5, rt, 5, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_bank_new(&bo, other, 4, 4, NULL), LCT_OK);
    snapshot before;
    snap(rp, &before);
    /* info, bind */
    LCT_ASSERT_FAILS(lct_replay_info(NULL, &sz, NULL, NULL, NULL), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_bind_bank(NULL, b4), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_bind_bank(rp, b5), LCT_ESHAPE, "5 rows");
    LCT_ASSERT_FAILS(lct_replay_bind_bank(rp, bo), LCT_EMISMATCH, "another runtime");
    ck_assert_ptr_null(rp->bank);
    /* insert */
    LCT_ASSERT_FAILS(lct_replay_insert(NULL, x, 1, NULL, slots), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_insert(rp, NULL, 1, NULL, slots), LCT_EINVAL, "samples");
    LCT_ASSERT_FAILS(lct_replay_insert(rp, x, 0, NULL, slots), LCT_EINVAL, "count");
    LCT_ASSERT_FAILS(lct_replay_insert(rp, x, SIZE_MAX / 2, NULL, slots), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_replay_insert(rp, x, 1, e, slots), LCT_ESTATE, "no bank");
    x[9] = NAN;
    LCT_ASSERT_FAILS(lct_replay_insert(rp, x, 2, NULL, slots), LCT_ENUMERIC, "samples[9]");
    x[9] = 0;
    UNCHANGED(rp, before);
    ck_assert_int_eq(lct_replay_bind_bank(rp, b4), LCT_OK);
    e[5] = INFINITY;
    LCT_ASSERT_FAILS(lct_replay_insert(rp, x, 2, e, slots), LCT_ENUMERIC, "embeddings[5]");
    e[5] = 0;
    UNCHANGED(rp, before);
    /* sample, get, touch */
    LCT_ASSERT_FAILS(lct_replay_sample(NULL, 1, x, slots), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_sample(rp, 1, x, NULL), LCT_EINVAL, "slots");
    LCT_ASSERT_FAILS(lct_replay_sample(rp, 0, x, slots), LCT_EINVAL, "batch");
    LCT_ASSERT_FAILS(lct_replay_sample(rp, 1, x, slots), LCT_ERANGE, "holds 0");
    UNCHANGED(rp, before);
    ck_assert_int_eq(lct_replay_insert(rp, x, 3, e, slots), LCT_OK);
    LCT_ASSERT_FAILS(lct_replay_bind_bank(rp, b4), LCT_ESTATE, "holds 3");
    snap(rp, &before);
    LCT_ASSERT_FAILS(lct_replay_sample(rp, 4, x, slots), LCT_ERANGE, "holds 3");
    LCT_ASSERT_FAILS(lct_replay_sample(rp, SIZE_MAX, x, slots), LCT_ERANGE, "holds 3");
    LCT_ASSERT_FAILS(lct_replay_get(NULL, slots, 1, x, NULL), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_get(rp, NULL, 1, x, NULL), LCT_EINVAL, "slots");
    LCT_ASSERT_FAILS(lct_replay_get(rp, slots, 1, NULL, NULL), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_replay_get(rp, slots, 0, x, NULL), LCT_EINVAL, "count");
    LCT_ASSERT_FAILS(lct_replay_get(rp, bad_slots, 2, x, NULL), LCT_ERANGE, "slots[1] is 5");
    bad_slots[1] = 3; /* not held yet */
    LCT_ASSERT_FAILS(lct_replay_get(rp, bad_slots, 2, x, NULL), LCT_ERANGE, "slots[1] is 3");
    bad_slots[1] = -1;
    LCT_ASSERT_FAILS(lct_replay_touch(NULL, slots, 1), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_replay_touch(rp, NULL, 1), LCT_EINVAL, "slots");
    LCT_ASSERT_FAILS(lct_replay_touch(rp, slots, 0), LCT_EINVAL, "count");
    LCT_ASSERT_FAILS(lct_replay_touch(rp, bad_slots, 2), LCT_ERANGE, "slots[1] is -1");
    UNCHANGED(rp, before);
    ck_assert_int_eq(lct_replay_bind_bank(rp, NULL), LCT_OK); /* unbinding is always allowed */

    /* novelty */
    lct_novelty_options no;
    lct_novelty *nv = NULL;
    LCT_ASSERT_FAILS(lct_novelty_options_init(NULL, 1), LCT_EINVAL, "opts");
    LCT_ASSERT_FAILS(lct_novelty_options_init(&no, 0), LCT_EVERSION, "version");
    lct_novelty_options_init(&no, LCT_NOVELTY_OPTIONS_VERSION);
    LCT_ASSERT_FAILS(lct_novelty_new(NULL, rt, b4, &no), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, NULL, b4, &no), LCT_EINVAL, "rt");
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, NULL, &no), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, bo, &no), LCT_EMISMATCH, "another runtime");
    no.k = 0;
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, b4, &no), LCT_EINVAL, "opts->k");
    no.k = 1025;
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, b4, &no), LCT_EINVAL, "opts->k");
    no.k = 2, no.momentum = 1.0f;
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, b4, &no), LCT_EINVAL, "opts->momentum");
    no.momentum = NAN;
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, b4, &no), LCT_EINVAL, "opts->momentum");
    no.momentum = 0.5f, no.version = 3;
    LCT_ASSERT_FAILS(lct_novelty_new(&nv, rt, b4, &no), LCT_EVERSION, "opts->version");
    ck_assert_ptr_null(nv);
    ck_assert_int_eq(lct_novelty_new(&nv, rt, b4, NULL), LCT_OK);
    float sc[4], z[4];
    ck_assert_int_eq(lct_novelty_score(nv, e, 1, 4, sc, z), LCT_OK);
    double m0, d0, m1, d1;
    uint64_t n0, n1;
    lct_novelty_stats(nv, &m0, &d0, &n0);
    LCT_ASSERT_FAILS(lct_novelty_score(NULL, e, 1, 4, sc, z), LCT_EINVAL, "nv");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, NULL, 1, 4, sc, z), LCT_EINVAL, "f");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, 1, 4, NULL, z), LCT_EINVAL, "score");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, 0, 4, sc, z), LCT_EINVAL, "batch");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, 1, 0, sc, z), LCT_EINVAL, "rows");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, 1, 5, sc, z), LCT_ERANGE, "rows is 5");
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, SIZE_MAX / 2, 4, sc, z), LCT_ESHAPE, "overflows");
    e[2] = NAN;
    LCT_ASSERT_FAILS(lct_novelty_score(nv, e, 1, 4, sc, z), LCT_ENUMERIC, "f");
    e[2] = 0;
    lct_novelty_stats(nv, &m1, &d1, &n1);
    ck_assert(m0 == m1 && d0 == d1 && n0 == n1);
    LCT_ASSERT_FAILS(lct_novelty_stats(NULL, &m1, &d1, &n1), LCT_EINVAL, "nv");
    LCT_ASSERT_FAILS(lct_novelty_reset(NULL), LCT_EINVAL, "nv");

    /* checkpoints: another shape, another runtime, a damaged section */
    char path[] = "/tmp/lct_replay_bad_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_checkpoint_add_replay(NULL, "r", rp), LCT_EINVAL, "w");
    LCT_ASSERT_FAILS(lct_checkpoint_add_replay(w, NULL, rp), LCT_EINVAL, "name");
    LCT_ASSERT_FAILS(lct_checkpoint_add_replay(w, "r", NULL), LCT_EINVAL, "rp");
    LCT_ASSERT_FAILS(lct_checkpoint_add_novelty(w, "n", NULL), LCT_EINVAL, "nv");
    ck_assert_int_eq(lct_checkpoint_add_replay(w, "r", rp), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_novelty(w, "n", nv), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_blob(w, "x", LCT_CHECKPOINT_TYPE_USER, "abc", 3), LCT_OK);
    lct_replay *rp_other = new_replay(other, 4, LCT_REPLAY_FIFO, LCT_REPLAY_F32, shape, 3);
    LCT_ASSERT_FAILS(lct_checkpoint_add_replay(w, "r2", rp_other), LCT_EMISMATCH, "rp");
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *rd;
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&rd, rt, path), LCT_OK);
    lct_replay *small = new_replay(rt, 3, LCT_REPLAY_FIFO, LCT_REPLAY_F32, shape, 3);
    lct_replay *u8 = new_replay(rt, 4, LCT_REPLAY_FIFO, LCT_REPLAY_U8, shape, 3);
    lct_replay *minred = new_replay(rt, 4, LCT_REPLAY_MINRED, LCT_REPLAY_F32, shape, 3);
    snap(small, &before);
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "r", small), LCT_ESHAPE, "");
    UNCHANGED(small, before);
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "r", u8), LCT_ESHAPE, ""); /* more bytes than u8 samples take */
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "r", minred), LCT_ESHAPE, "policy");
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "r", rp_other), LCT_EMISMATCH, "rp");
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "nothing", rp), LCT_ENOTFOUND, "nothing");
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "x", rp), LCT_EFORMAT, "type");
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(rd, "n", rp), LCT_EFORMAT, "type");
    LCT_ASSERT_FAILS(lct_checkpoint_load_novelty(rd, "r", nv), LCT_EFORMAT, "type");
    LCT_ASSERT_FAILS(lct_checkpoint_load_replay(NULL, "r", rp), LCT_EINVAL, "r");
    LCT_ASSERT_FAILS(lct_checkpoint_load_novelty(rd, "n", NULL), LCT_EINVAL, "nv");
    ck_assert_int_eq(lct_checkpoint_load_replay(rd, "r", rp), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_load_novelty(rd, "n", nv), LCT_OK);
    lct_checkpoint_reader_free(rd);
    unlink(path);
    lct_replay_free(small);
    lct_replay_free(u8);
    lct_replay_free(minred);
    lct_replay_free(rp_other);
    lct_novelty_free(nv);
    lct_replay_free(rp);
    lct_bank_free(b4);
    lct_bank_free(b5);
    lct_bank_free(bo);
    assert_no_memory(rt);
    lct_runtime_free(rt);
    lct_runtime_free(other);
}
END_TEST

/* Every byte of a MinRed replay's section damaged in turn (behind valid CRCs): each load either succeeds
 * into a consistent replay or fails with the documented code and changes nothing; the replay keeps working. */
START_TEST(test_damaged_replay_sections)
{
    lct_runtime *rt = lct_test_runtime(1, 11);
    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 6, 3, NULL), LCT_OK);
    lct_replay *rp = new_replay(rt, 6, LCT_REPLAY_MINRED, LCT_REPLAY_F32, shape2, 1);
    ck_assert_int_eq(lct_replay_bind_bank(rp, bank), LCT_OK);
    for (int i = 0; i < 9; i++) {
        float x[2] = {(float)i, 1.0f}, e[3] = {(float)(i % 3), 1.0f, (float)(i % 2)};
        ck_assert_int_eq(lct_replay_insert(rp, x, 1, e, NULL), LCT_OK);
    }
    int64_t drawn[2];
    ck_assert_int_eq(lct_replay_sample(rp, 2, NULL, drawn), LCT_OK);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_replay(w, "r", rp), LCT_OK);
    lct_checkpoint_reader *r;
    void *image;
    size_t image_size;
    char path[] = "/tmp/lct_replay_dmg_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    lct_checkpoint_writer_free(w);
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
    uint64_t raw;
    ck_assert_int_eq(lct_checkpoint_section_info(r, 0, NULL, NULL, &raw), LCT_OK);
    image_size = (size_t)raw;
    image = malloc(image_size);
    ck_assert_int_eq(lct_checkpoint_read_blob(r, "r", LCT__CKPT_TYPE_REPLAY, image, image_size), LCT_OK);
    lct_checkpoint_reader_free(r);
    unlink(path);
    lct_replay *target = new_replay(rt, 6, LCT_REPLAY_MINRED, LCT_REPLAY_F32, shape2, 1);
    unsigned char *bad = malloc(image_size + 8);
    int refused = 0;
    for (size_t pos = 0; pos < image_size + 8; pos++) {
        for (int variant = 0; variant < 2; variant++) {
            size_t size = pos < image_size ? image_size : pos - image_size; /* past the end: truncations */
            memcpy(bad, image, image_size);
            if (pos < image_size) bad[pos] = variant ? 0xff : (unsigned char)(bad[pos] ^ 0x01);
            ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
            lct__ckpt_piece piece = {bad, size, 0};
            ck_assert_int_eq(lct__ckpt_add_pieces(w, "r", LCT__CKPT_TYPE_REPLAY, &piece, 1, 0, "t"), LCT_OK);
            ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
            lct_checkpoint_writer_free(w);
            ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
            snapshot before;
            snap(target, &before);
            int rc = lct_checkpoint_load_replay(r, "r", target);
            lct_checkpoint_reader_free(r);
            if (rc != LCT_OK) {
                refused++;
                ck_assert_msg(rc == LCT_EFORMAT || rc == LCT_ESHAPE || rc == LCT_ENUMERIC || rc == LCT_EVERSION,
                              "byte %zu: %d %s", pos, rc, lct_error_last());
                UNCHANGED(target, before);
            }
            /* loaded or not, the replay still takes samples, draws batches and evicts */
            size_t held;
            lct_replay_info(target, NULL, &held, NULL, NULL);
            int64_t all[6];
            if (held > 0) ck_assert_int_eq(lct_replay_sample(target, held, NULL, all), LCT_OK);
            float x[2] = {1.0f, 2.0f};
            ck_assert_int_eq(lct_replay_insert(target, x, 1, NULL, NULL), held == 6 ? LCT_ESTATE : LCT_OK);
            if (pos >= image_size) break;
        }
    }
    ck_assert_int_gt(refused, 50);
    unlink(path);
    free(bad);
    free(image);
    lct_replay_free(target);
    lct_replay_free(rp);
    lct_bank_free(bank);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_out_of_memory)
{
    /* every allocation of creation and binding failing in turn: LCT_ENOMEM, nothing kept */
    lct_test_alloc a;
    lct_runtime *rt = lct_test_failing_runtime(&a, 1, 10);
    uint32_t shape[1] = {3};
    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 8, 4, NULL), LCT_OK);
    for (long n = 1;; n++) {
        lct_replay_options o;
        lct_replay_options_init(&o, LCT_REPLAY_OPTIONS_VERSION);
        o.policy = LCT_REPLAY_MINRED;
        lct_replay *rp = NULL;
        lct_novelty *nv = NULL;
        lct_test_alloc_arm(&a, n);
        int rc = lct_replay_new(&rp, rt, 8, shape, 1, &o), bind = LCT_OK;
        if (rc == LCT_OK) rc = bind = lct_replay_bind_bank(rp, bank);
        if (rc == LCT_OK) rc = lct_novelty_new(&nv, rt, bank, NULL);
        a.fail_at = 0;
        if (rc == LCT_OK) {
            ck_assert_ptr_nonnull(nv);
            lct_novelty_free(nv);
            lct_replay_free(rp);
            break;
        }
        ck_assert_int_eq(rc, LCT_ENOMEM);
        ck_assert_ptr_null(nv);
        if (bind != LCT_OK) ck_assert_ptr_null(rp->bank); /* a failed binding keeps the replay unbound */
        lct_replay_free(rp);
        ck_assert_uint_le(n, 30);
    }
    lct_bank_free(bank);
    assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_fifo_order);
    tcase_add_test(tc, test_reservoir_uniform_inclusion);
    tcase_add_test(tc, test_minred_evicts_the_most_redundant);
    tcase_add_test(tc, test_bank_rows_follow_slots);
    tcase_add_test(tc, test_sample_batches);
    tcase_add_test(tc, test_footprint);
    tcase_add_loop_test(tc, test_stream_resume_bit_identical, LCT_REPLAY_FIFO, LCT_REPLAY_MINRED + 1);
    tcase_add_loop_test(tc, test_steady_stream_step_allocates_nothing, LCT_REPLAY_FIFO, LCT_REPLAY_MINRED + 1);
    tcase_add_test(tc, test_novelty_rises_on_shifted_data);
    tcase_add_test(tc, test_costs);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_damaged_replay_sections);
    tcase_add_test(tc, test_out_of_memory);
}

int main(void)
{
    return lct_test_main("replay", "replay", 300, add_tests);
}
