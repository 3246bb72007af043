/* The parameter set shared by the fuzz targets and the corpus generator. */
#ifndef LCT_FUZZ_COMMON_H
#define LCT_FUZZ_COMMON_H

#include <libcontrast/libcontrast.h>

#include <zlib.h>

#include "checkpoint/checkpoint_internal.h"

/* A small encoder-like set: a linear layer (trainable) and batch-norm running statistics (state). */
typedef struct fuzz_params {
    float w[6], b[2], rm[2], rv[2];
    float gw[6], gb[2];
    lct__tensor t[4];
    lct_params p;
} fuzz_params;

static inline void fuzz_params_init(fuzz_params *f, lct_runtime *rt)
{
    for (int i = 0; i < 6; i++) f->w[i] = 0.25f * (float)(i + 1), f->gw[i] = 0.0f;
    for (int i = 0; i < 2; i++) f->b[i] = -0.5f * (float)i, f->rm[i] = 0.1f, f->rv[i] = 1.0f, f->gb[i] = 0.0f;
    f->t[0] = (lct__tensor){.name = "0.linear.weight", .value = f->w, .grad = f->gw, .count = 6};
    f->t[1] = (lct__tensor){.name = "0.linear.bias", .value = f->b, .grad = f->gb, .count = 2, .no_decay = 1};
    f->t[2] = (lct__tensor){.name = "1.batchnorm.running_mean", .value = f->rm, .count = 2, .no_decay = 1};
    f->t[3] = (lct__tensor){.name = "1.batchnorm.running_var", .value = f->rv, .count = 2, .no_decay = 1};
    f->p = (lct_params){rt, f->t, 4, 0};
}

/*
 * Recompute every CRC-32 of a (possibly damaged) checkpoint image that its structure lets us
 * find. Random mutations almost never keep the CRCs right, which would stop a fuzzer at the
 * checksums; tests use it to build damaged files that pass them.
 */
static inline void lct_fuzz_repair_crcs(uint8_t *d, size_t size)
{
    if (size < 24) return;
    uint32_t crc = (uint32_t)crc32(0, d, 20);
    lct__le32_store(d + 20, crc);
    size_t pos = 24;
    while (size - pos >= 32) {
        uint8_t *h = d + pos;
        size_t name_len = (size_t)h[4] | (size_t)h[5] << 8;
        uint64_t stored = 0;
        for (int i = 7; i >= 0; i--) stored = stored << 8 | h[8 + i];
        size_t left = size - pos - 32;
        if (name_len > left || stored > left - name_len) {
            crc = (uint32_t)crc32(0, h, 28);
            lct__le32_store(h + 28, crc);
            return;
        }
        crc = (uint32_t)crc32(0, h + 32, (uInt)(name_len + stored));
        lct__le32_store(h + 24, crc);
        crc = (uint32_t)crc32(0, h, 28);
        lct__le32_store(h + 28, crc);
        pos += 32 + name_len + (size_t)stored;
    }
}

/* The small handles the fuzz target loads into and the corpus saves: a 6 x 3 bank of either
 * storage, an encoder with batch-norm state, SGD with momentum, an NCE loss, an augmenter, and a
 * MinRed replay of 6 two-byte samples bound to a bank of its own, with a novelty scorer. */
typedef struct fuzz_handles {
    lct_bank *bank, *bank16, *rbank;
    lct_encoder *enc;
    lct_optimizer *opt;
    lct_loss *loss;
    lct_augmenter *aug;
    lct_replay *replay;
    lct_novelty *nv;
} fuzz_handles;

static inline int fuzz_handles_new(fuzz_handles *h, lct_runtime *rt)
{
    memset(h, 0, sizeof *h);
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    int rc = lct_bank_new(&h->bank, rt, 6, 3, &bo);
    bo.storage = LCT_BANK_FP16;
    if (rc == LCT_OK) rc = lct_bank_new(&h->bank16, rt, 6, 3, &bo);
    if (rc == LCT_OK) rc = lct_encoder_new_from_spec(&h->enc, rt, "in 4; linear 3; bn; relu", NULL);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.momentum = 0.9;
    if (rc == LCT_OK) rc = lct_optimizer_new(&h->opt, rt, &oo);
    if (rc == LCT_OK) rc = lct_optimizer_attach(h->opt, lct_encoder_params(h->enc));
    lct_loss_nce_options lo;
    lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION);
    lo.k = 4;
    if (rc == LCT_OK) rc = lct_loss_new_nce(&h->loss, rt, h->bank, &lo);
    if (rc == LCT_OK) rc = lct_augmenter_new(&h->aug, rt, NULL);
    lct_replay_options ro;
    lct_replay_options_init(&ro, LCT_REPLAY_OPTIONS_VERSION);
    ro.policy = LCT_REPLAY_MINRED;
    const uint32_t shape[1] = {2};
    if (rc == LCT_OK) rc = lct_bank_new(&h->rbank, rt, 6, 3, NULL);
    if (rc == LCT_OK) rc = lct_replay_new(&h->replay, rt, 6, shape, 1, &ro);
    if (rc == LCT_OK) rc = lct_replay_bind_bank(h->replay, h->rbank);
    if (rc == LCT_OK) rc = lct_novelty_new(&h->nv, rt, h->rbank, NULL);
    return rc;
}

/* The corpus files that hold fuzz handles: FUZZ_TRAINING (handles.ckpt) the encoder, optimizer, both
 * banks, loss and augmenter; FUZZ_STREAM (stream.ckpt) the replay, its bank and the novelty scorer. */
enum { FUZZ_TRAINING, FUZZ_STREAM };

/* Adds the handles of `part` to w under their corpus names; the first failure, or LCT_OK. */
static inline int fuzz_handles_add(lct_checkpoint_writer *w, const fuzz_handles *h, int part)
{
    int rc = LCT_OK;
    if (part == FUZZ_TRAINING) {
        if (rc == LCT_OK) rc = lct_checkpoint_add_encoder(w, "net", h->enc);
        if (rc == LCT_OK) rc = lct_checkpoint_add_optimizer(w, "opt", h->opt);
        if (rc == LCT_OK) rc = lct_checkpoint_add_bank(w, "bank", h->bank);
        if (rc == LCT_OK) rc = lct_checkpoint_add_bank(w, "bank16", h->bank16);
        if (rc == LCT_OK) rc = lct_checkpoint_add_loss(w, "loss", h->loss);
        if (rc == LCT_OK) rc = lct_checkpoint_add_augmenter(w, "aug", h->aug);
    } else {
        if (rc == LCT_OK) rc = lct_checkpoint_add_bank(w, "rbank", h->rbank);
        if (rc == LCT_OK) rc = lct_checkpoint_add_replay(w, "replay", h->replay);
        if (rc == LCT_OK) rc = lct_checkpoint_add_novelty(w, "novelty", h->nv);
    }
    return rc;
}

/* Loads the handles of `part` from r by their corpus names, every one even after a failure (a damaged
 * file reaches them all); the number of loads that failed. */
static inline int fuzz_handles_load(lct_checkpoint_reader *r, fuzz_handles *h, int part)
{
    int failed = 0;
    if (part == FUZZ_TRAINING) {
        failed += lct_checkpoint_load_encoder(r, "net", h->enc) != LCT_OK;
        failed += lct_checkpoint_load_optimizer(r, "opt", h->opt) != LCT_OK;
        failed += lct_checkpoint_load_bank(r, "bank", h->bank) != LCT_OK;
        failed += lct_checkpoint_load_bank(r, "bank16", h->bank16) != LCT_OK;
        failed += lct_checkpoint_load_loss(r, "loss", h->loss) != LCT_OK;
        failed += lct_checkpoint_load_augmenter(r, "aug", h->aug) != LCT_OK;
    } else {
        failed += lct_checkpoint_load_bank(r, "rbank", h->rbank) != LCT_OK;
        failed += lct_checkpoint_load_replay(r, "replay", h->replay) != LCT_OK;
        failed += lct_checkpoint_load_novelty(r, "novelty", h->nv) != LCT_OK;
    }
    return failed;
}

static inline void fuzz_handles_free(fuzz_handles *h)
{
    lct_novelty_free(h->nv);
    lct_replay_free(h->replay);
    lct_bank_free(h->rbank);
    lct_augmenter_free(h->aug);
    lct_loss_free(h->loss);
    lct_optimizer_free(h->opt);
    lct_encoder_free(h->enc);
    lct_bank_free(h->bank16);
    lct_bank_free(h->bank);
}

#endif
