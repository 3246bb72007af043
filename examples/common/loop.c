#include "loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train.h"

void train_loop_init(train_loop *l, const char *name, const example_args *args, lct_runtime *rt, size_t n,
                     size_t steps, size_t batch, const uint8_t *source, size_t pixels)
{
    *l = (train_loop){.name = name, .args = args, .rt = rt, .n = n, .steps = steps, .batch = batch,
                      .source = source, .pixels = pixels, .first_epoch = 1};
    l->curve = train_alloc(name, ((size_t)args->epochs * steps + 1) * sizeof *l->curve);
    if (n > 0) l->order = train_alloc(name, n * sizeof *l->order);
    if (source && pixels > 0) l->images = train_alloc(name, batch * pixels);
}

void train_loop_begin(train_loop *l)
{
    if (l->args->resume) {
        if (run_state_load(&l->st, l->rt, l->args->resume, &l->first_epoch) != 0) train_fail(l->name);
        printf("%s: resumed from %s at epoch %d\n", l->name, l->args->resume, l->first_epoch);
    }
    progress_init(&l->bar, stdout, l->args->epochs, l->steps, l->batch);
}

int train_loop_next(train_loop *l)
{
    if (l->epoch == 0) {
        l->epoch = l->first_epoch;
        l->s = 0;
    } else if (++l->s == l->steps) {
        l->epoch++;
        l->s = 0;
    }
    if (l->epoch > l->args->epochs || l->steps == 0) return 0;
    if (l->s == 0) {
        if (l->order) train_shuffle(l->order, l->n, l->args->seed, l->epoch);
        progress_epoch_begin(&l->bar);
    }
    l->idx = l->order ? l->order + l->s * l->batch : NULL;
    if (l->images) train_gather(l->images, l->source, l->idx, l->batch, l->pixels);
    return 1;
}

int train_loop_step_done(train_loop *l, float value)
{
    l->curve[l->step++] = value;
    progress_update(&l->bar, l->epoch, l->s + 1, value);
    return l->s + 1 == l->steps;
}

void train_loop_save(train_loop *l)
{
    if (!l->args->save) return;
    if (run_state_save(&l->st, l->rt, l->args->save, l->args->epochs) != 0) train_fail(l->name);
    printf("%s: saved %s\n", l->name, l->args->save);
}

void train_loop_figures(const train_loop *l, int rc)
{
    if (rc != 0)
        fprintf(stderr, "%s: figures not written: %s\n", l->name, ex_error());
    else
        printf("%s: wrote %s/loss.png and %s/embedding.png\n", l->name, l->args->out, l->args->out);
}

void train_loop_knn_end(const train_loop *l, knn_eval *e, lct_encoder *enc, const char *title, double untrained)
{
    double trained = knn_eval_encoder(e, l->rt, enc);
    if (trained < 0) train_fail(l->name);
    int rc = write_figures(l->args->out, title, l->curve, l->step, e->test_emb, e->test_labels, e->q, e->dim);
    train_loop_figures(l, rc);
    printf("kNN top-1: %.4f (untrained: %.4f, raw pixels: %.4f)\n", trained, untrained, e->raw);
}

void train_loop_free(train_loop *l)
{
    free(l->curve);
    free(l->order);
    free(l->images);
    lct_augmenter_free(l->st.augmenter);
    lct_optimizer_free(l->st.optimizer);
    lct_loss_free(l->st.loss);
    for (size_t i = 0; i < l->st.banks; i++) lct_bank_free(l->st.bank[i]);
    for (size_t i = 0; i < l->st.encoders; i++) lct_encoder_free(l->st.encoder[i]);
    lct_runtime_free(l->rt);
    *l = (train_loop){0};
}
