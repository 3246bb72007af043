#include "run_state.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

/* "encoder", "encoder.1", ...: the first handle of a kind keeps the plain name. */
static void section_name(char *buf, size_t size, const char *kind, size_t i)
{
    if (i == 0)
        snprintf(buf, size, "%s", kind);
    else
        snprintf(buf, size, "%s.%zu", kind, i);
}

static int add_all(const run_state *st, lct_checkpoint_writer *w, int epochs_done)
{
    char name[64];
    int rc = lct_checkpoint_add_meta(w, "method", st->method);
    if (rc == LCT_OK) rc = lct_checkpoint_add_counter(w, "epoch", (uint64_t)epochs_done);
    for (size_t i = 0; i < st->encoders && rc == LCT_OK; i++) {
        section_name(name, sizeof name, "encoder", i);
        rc = lct_checkpoint_add_encoder(w, name, st->encoder[i]);
    }
    for (size_t i = 0; i < st->banks && rc == LCT_OK; i++) {
        section_name(name, sizeof name, "bank", i);
        rc = lct_checkpoint_add_bank(w, name, st->bank[i]);
    }
    if (rc == LCT_OK && st->optimizer) rc = lct_checkpoint_add_optimizer(w, "optimizer", st->optimizer);
    if (rc == LCT_OK && st->loss) rc = lct_checkpoint_add_loss(w, "loss", st->loss);
    if (rc == LCT_OK && st->augmenter) rc = lct_checkpoint_add_augmenter(w, "augmenter", st->augmenter);
    return rc;
}

int run_state_save(const run_state *st, lct_runtime *rt, const char *path, int epochs_done)
{
    lct_checkpoint_writer *w;
    int rc = lct_checkpoint_writer_new(&w, rt, NULL);
    if (rc != LCT_OK) return ex_fail(rc, "checkpoint: %s", lct_error_last());
    rc = add_all(st, w, epochs_done);
    if (rc == LCT_OK) rc = lct_checkpoint_write_file(w, path);
    if (rc != LCT_OK) ex_fail(rc, "saving %s: %s", path, lct_error_last());
    lct_checkpoint_writer_free(w);
    return rc;
}

/* Stage every load; the commit applies them all or none. */
static int load_all(const run_state *st, lct_checkpoint_reader *r)
{
    char name[64];
    int rc = lct_checkpoint_reader_begin(r);
    if (rc != LCT_OK) return rc;
    for (size_t i = 0; i < st->encoders; i++) {
        section_name(name, sizeof name, "encoder", i);
        lct_checkpoint_load_encoder(r, name, st->encoder[i]);
    }
    for (size_t i = 0; i < st->banks; i++) {
        section_name(name, sizeof name, "bank", i);
        lct_checkpoint_load_bank(r, name, st->bank[i]);
    }
    if (st->optimizer) lct_checkpoint_load_optimizer(r, "optimizer", st->optimizer);
    if (st->loss) lct_checkpoint_load_loss(r, "loss", st->loss);
    if (st->augmenter) lct_checkpoint_load_augmenter(r, "augmenter", st->augmenter);
    return lct_checkpoint_reader_commit(r);
}

int run_state_load(const run_state *st, lct_runtime *rt, const char *path, int *next_epoch)
{
    lct_checkpoint_reader *r;
    int rc = lct_checkpoint_reader_open_file(&r, rt, path);
    if (rc != LCT_OK) return ex_fail(rc, "%s: %s", path, lct_error_last());
    const char *method = NULL;
    uint64_t epoch = 0;
    if (lct_checkpoint_get_meta(r, "method", &method) != LCT_OK || strcmp(method, st->method) != 0) {
        rc = ex_fail(LCT_EMISMATCH, "%s: not a %s checkpoint (method \"%s\")", path, st->method,
                     method ? method : "none");
    } else if ((rc = lct_checkpoint_get_counter(r, "epoch", &epoch)) != LCT_OK) {
        ex_fail(rc, "%s: %s", path, lct_error_last());
    } else if ((rc = load_all(st, r)) != LCT_OK) {
        ex_fail(rc, "%s: %s", path, lct_error_last());
    } else {
        *next_epoch = (int)epoch + 1;
    }
    lct_checkpoint_reader_free(r);
    return rc;
}
