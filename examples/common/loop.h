/*
 * The loop every training program runs around its method's step: epochs of steps over shuffled
 * batches, the loss curve, the progress line, --resume before the first epoch and --save after
 * the last.
 *
 *     train_loop l;
 *     train_loop_init(&l, "instdisc", &args, rt, n, n / batch, batch, data.train.images, PIXELS);
 *     l.st = (run_state){.method = "instdisc", .optimizer = opt, .loss = loss, .augmenter = aug};
 *     l.st.encoder[l.st.encoders++] = enc;
 *     for (train_loop_begin(&l); train_loop_next(&l);) {   // --resume, then epoch by epoch, step by step
 *         ... the method's step on l.images (the samples l.idx), giving `value` ...
 *         train_loop_step_done(&l, value);
 *     }
 *     train_loop_save(&l);                         // --save
 *     ... evaluation, figures from l.curve[0 .. l.step) ...
 *     train_loop_free(&l);                         // also frees every handle of l.st and rt
 *
 * Failures (memory, a checkpoint that cannot be read or written) are reported as
 * "<name>: <message>" on stderr and end the program with exit code 1, the examples' policy.
 */
#ifndef LCT_EXAMPLES_LOOP_H
#define LCT_EXAMPLES_LOOP_H

#include <libcontrast/libcontrast.h>
#include <stddef.h>
#include <stdint.h>

#include "eval.h"
#include "flags.h"
#include "progress.h"
#include "run_state.h"

typedef struct train_loop {
    const char *name;            /* program name: the prefix of its messages */
    const example_args *args;    /* borrowed: epochs, seed, --save, --resume */
    lct_runtime *rt;             /* owned from train_loop_init on */
    run_state st;                /* the handles --save and --resume cover, owned; the program fills it */
    size_t n;                    /* samples shuffled per epoch (0: the program draws its own) */
    size_t steps, batch;         /* steps per epoch, samples per step */
    const uint8_t *source;       /* n samples of `pixels` bytes that train_loop_batch gathers from */
    size_t pixels;
    int64_t *order;              /* the epoch's shuffle of 0..n-1 */
    uint8_t *images;             /* batch x pixels: the samples of the current step */
    float *curve;                /* loss of every step of this run */
    size_t step;                 /* steps done in this run (entries of curve) */
    int first_epoch;             /* 1, or the epoch after the one a resumed checkpoint reached */
    int epoch;                   /* the current epoch (1-based; 0 before the first train_loop_next) */
    size_t s;                    /* the current step of the epoch (0-based) */
    const int64_t *idx;          /* the samples of the current step: batch entries of order (NULL when n is 0) */
    progress bar;
} train_loop;

/* Set up a loop over args->epochs epochs of `steps` steps of `batch` samples, shuffling n samples
 * (source: n x pixels bytes; n == 0 or pixels == 0: nothing is gathered). Takes rt. */
void train_loop_init(train_loop *l, const char *name, const example_args *args, lct_runtime *rt, size_t n,
                     size_t steps, size_t batch, const uint8_t *source, size_t pixels);

/* --resume: load l->st from args->resume and set first_epoch ("<name>: resumed from F at epoch E");
 * then start the progress line. */
void train_loop_begin(train_loop *l);

/* Move to the next step: 1 and l->epoch, l->s, l->idx and l->images set, or 0 after the last step
 * of args->epochs. A new epoch starts with the shuffle of (seed, epoch) and the progress clock. */
int train_loop_next(train_loop *l);

/* Record the current step's loss: the curve and the progress line. Returns 1 when the step ended
 * its epoch, else 0. */
int train_loop_step_done(train_loop *l, float value);

/* --save: write l->st with args->epochs to args->save ("<name>: saved F"). */
void train_loop_save(train_loop *l);

/* Report the outcome `rc` of writing the figures to args->out: "<name>: wrote DIR/loss.png and
 * DIR/embedding.png" on stdout, or "<name>: figures not written: <message>" on stderr. */
void train_loop_figures(const train_loop *l, int rc);

/* The end of a program with one image encoder: its kNN top-1 after training (e's buffers), the
 * figures (loss curve titled `title`, PCA of the test embeddings) and the final line
 * "kNN top-1: A (untrained: U, raw pixels: R)". Exits with 1 if the evaluation fails. */
void train_loop_knn_end(const train_loop *l, knn_eval *e, lct_encoder *enc, const char *title, double untrained);

/* Free the buffers, every handle of l->st and the runtime. */
void train_loop_free(train_loop *l);

#endif
