/*
 * Fuzz target for the checkpoint loader: open any bytes, then use every read path
 * (sections, meta, counters, params, runtime, blobs, groups). Must never crash or leak.
 */
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_one(const uint8_t *data, size_t size)
{
    lct_runtime *rt = NULL;
    if (lct_runtime_new(&rt, NULL) != LCT_OK) abort();
    fuzz_params fp;
    fuzz_params_init(&fp, rt);
    lct_checkpoint_reader *r = NULL;
    if (lct_checkpoint_reader_open_memory(&r, rt, data, size) == LCT_OK) {
        int n = lct_checkpoint_section_count(r);
        for (int i = 0; i < n; i++) {
            const char *name;
            uint32_t type;
            uint64_t bytes;
            if (lct_checkpoint_section_info(r, (size_t)i, &name, &type, &bytes) != LCT_OK) abort();
            if (lct_checkpoint_find(r, name) != i) abort();
            if (type == LCT_CHECKPOINT_TYPE_PARAMS) {
                lct_checkpoint_load_params(r, name, &fp.p);
            } else if (bytes <= (1u << 20)) {
                void *buf = malloc(bytes ? bytes : 1);
                if (buf) lct_checkpoint_read_blob(r, name, type, buf, bytes);
                free(buf);
            }
        }
        for (int i = 0; i < lct_checkpoint_meta_count(r); i++) {
            const char *k, *v, *v2;
            if (lct_checkpoint_meta_at(r, (size_t)i, &k, &v) != LCT_OK) abort();
            if (lct_checkpoint_get_meta(r, k, &v2) != LCT_OK || strlen(v2) > LCT_CHECKPOINT_MAX_VALUE) abort();
        }
        uint64_t step;
        lct_checkpoint_get_counter(r, "step", &step);
        lct_checkpoint_reader_begin(r);
        lct_checkpoint_load_params(r, "encoder", &fp.p);
        lct_checkpoint_load_runtime(r, rt);
        lct_checkpoint_reader_commit(r);
        fuzz_handles h;
        if (fuzz_handles_new(&h, rt) != LCT_OK) abort();
        lct_checkpoint_reader_begin(r);
        fuzz_handles_load(r, &h, FUZZ_TRAINING);
        fuzz_handles_load(r, &h, FUZZ_STREAM);
        lct_checkpoint_reader_commit(r);
        /* whatever a replay took in, it keeps working: a batch of its samples and one more insertion */
        size_t held;
        int64_t slots[6];
        uint8_t two[2] = {1, 2};
        float e[3] = {0.6f, 0.0f, 0.8f}, score;
        if (lct_replay_info(h.replay, NULL, &held, NULL, NULL) != LCT_OK || held > 6) abort();
        if (held > 0 && lct_replay_sample(h.replay, held, NULL, slots) != LCT_OK) abort();
        if (lct_replay_insert(h.replay, two, 1, e, slots) != LCT_OK) abort();
        if (lct_novelty_score(h.nv, e, 1, 6, &score, NULL) != LCT_OK) abort();
        lct_encoder *enc = NULL;
        lct_bank *bank = NULL;
        if (lct_checkpoint_new_encoder(r, "net", rt, &enc) == LCT_OK && enc == NULL) abort();
        if (lct_checkpoint_new_bank(r, "bank16", rt, &bank) == LCT_OK && bank == NULL) abort();
        lct_encoder_free(enc);
        lct_bank_free(bank);
        fuzz_handles_free(&h);
        for (int i = 0; i < 6; i++)
            if (fp.w[i] != fp.w[i]) abort(); /* loads never let NaN in */
        lct_checkpoint_reader_free(r);
    }
    size_t current = 1;
    lct_runtime_memory(rt, &current, NULL);
    if (current != 0) abort(); /* every block of the reader was released */
    lct_runtime_free(rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_one(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    lct_fuzz_repair_crcs(copy, size);
    run_one(copy, size);
    free(copy);
    return 0;
}
