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

void train_loop_epoch(train_loop *l, int epoch)
{
    if (l->order) train_shuffle(l->order, l->n, l->args->seed, epoch);
    progress_epoch_begin(&l->bar);
}

const int64_t *train_loop_batch(train_loop *l, size_t s)
{
    const int64_t *idx = l->order + s * l->batch;
    if (l->images) train_gather(l->images, l->source, idx, l->batch, l->pixels);
    return idx;
}

void train_loop_step_done(train_loop *l, int epoch, size_t s, float value)
{
    l->curve[l->step++] = value;
    progress_update(&l->bar, epoch, s + 1, value);
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
