/*
 * --save / --resume of the training programs: one checkpoint file holding every handle a run
 * trains or draws randomness from (encoders, the optimiser, memory banks, the loss, the
 * augmenter), the epoch reached and the method's name. Written through libcontrast's
 * checkpoint API only (include/libcontrast/checkpoint.h).
 *
 *     run_state st = {.method = "instdisc", .optimizer = opt, .loss = loss, .augmenter = aug};
 *     st.encoder[st.encoders++] = enc;
 *     st.bank[st.banks++] = bank;
 *     int first_epoch = 1;
 *     if (args.resume && run_state_load(&st, rt, args.resume, &first_epoch)) { error }
 *     ... train epochs first_epoch..epochs ...
 *     if (args.save && run_state_save(&st, rt, args.save, epochs)) { error }
 *
 * Sections: "encoder" (then "encoder.1", "encoder.2", ... for further encoders), "optimizer",
 * "bank" ("bank.1", ...), "loss", "augmenter"; counter "epoch"; meta "method". A resumed run
 * continues exactly where the saved one stopped: weights, batch-norm statistics, optimiser
 * momenta and step (which places the learning-rate schedule), bank rows, NCE's Z, CPC's W_k and
 * the augmenter's draw counter are restored, and the programs' own shuffles depend only on
 * (seed, epoch).
 */
#ifndef LCT_EXAMPLES_RUN_STATE_H
#define LCT_EXAMPLES_RUN_STATE_H

#include <libcontrast/libcontrast.h>

#define RUN_STATE_MAX 8

typedef struct run_state {
    const char *method;                   /* stored as meta "method"; a resume checks it */
    lct_encoder *encoder[RUN_STATE_MAX];  /* borrowed */
    size_t encoders;
    lct_bank *bank[RUN_STATE_MAX];        /* borrowed */
    size_t banks;
    lct_optimizer *optimizer;             /* borrowed, may be NULL */
    lct_loss *loss;                       /* borrowed, may be NULL */
    lct_augmenter *augmenter;             /* borrowed, may be NULL */
} run_state;

/* Write every handle of st and `epochs_done` to path (atomically). Returns 0 or a status
 * (message in ex_error()). */
int run_state_save(const run_state *st, lct_runtime *rt, const char *path, int epochs_done);

/* Load every handle of st from path, all or nothing, and set *next_epoch to the saved epoch + 1.
 * Fails (LCT_EMISMATCH) when the file was written by another method. Returns 0 or a status. */
int run_state_load(const run_state *st, lct_runtime *rt, const char *path, int *next_epoch);

#endif
