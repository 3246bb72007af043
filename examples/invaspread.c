/*
 * invaspread: InvaSpread (Ye et al. 2019) on Fashion-MNIST, written against libcontrast's public API.
 *
 * Each step takes B images, augments every one twice and embeds the 2B views with one encoder.
 * The two views of an image are positives; the other 2(B - 1) views of the batch are its
 * negatives. The loss (softmax over the batch with log(1 - p) terms for the negatives,
 * temperature 0.1) pulls the views of an image together ("invariant") and pushes the images
 * apart ("spreading"). No memory bank: everything is in the batch, trained end to end.
 * Labels are used only to evaluate: weighted kNN on the test set.
 *
 *   invaspread [--epochs N] [--batch N] [--threads N] [--seed N] [--out DIR] [--save F] [--resume F]
 *              [--data DIR] [--limit N] [--lr LR] [--tau T] [--crop-min S] [--form paper|code] [--spec S]
 */
#include <libcontrast/libcontrast.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "flags.h"
#include "idx.h"
#include "loop.h"
#include "train.h"

#define PIXELS (28 * 28)

static const char *default_spec =
    "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; "
    "flatten; linear 512; bn; relu; linear 128; l2norm";

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    args.epochs = 10; /* 0.8529 in 7.5 minutes on 2 idle cores (docs/benchmarks.md) */
    args.batch = 128; /* images per step, as the original: 256 views */
    int limit = 0;
    float lr = 0.03f, tau = 0.1f, crop_min = 0.5f;
    const char *spec = default_spec, *form = "paper";
    flag table[] = {
        FLAGS_COMMON(&args),
        FLAG_SGD_LR(&lr),
        FLAG_TAU(&tau),
        FLAG_CROP_MIN(&crop_min),
        {"form", FLAG_STRING, &form, "loss form: paper (exact gradient) or code (the original code's)", 0, 0},
        FLAG_SPEC(&spec),
        FLAG_LIMIT(&limit),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "InvaSpread on Fashion-MNIST");
    int form_id = flags_pick2("invaspread", "form", form, "paper", "code") == 0 ? LCT_INVASPREAD_PAPER
                                                                                 : LCT_INVASPREAD_CODE;

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);
    train_need_pairs("invaspread", batch, " (other images are the negatives)");

    /* Handles: runtime, encoder, InvaSpread loss, optimiser, augmenter. */
    lct_runtime *rt = train_runtime(&args);
    lct_encoder *enc = train_encoder(rt, spec, &args);
    size_t dim;
    CHECK(lct_encoder_output_size(enc, &dim));
    lct_loss_invaspread_options lo;
    lct_loss_invaspread_options_init(&lo, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
    lo.form = form_id;
    lct_loss *loss;
    CHECK(lct_loss_new_invaspread(&loss, rt, dim, &lo));
    CHECK(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau));

    /* SGD as the original: momentum 0.9, weight decay 5e-4, lr 0.03 (cosine instead of steps). */
    size_t steps = n / batch;
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, lr, 0.9, 5e-4, (uint64_t)args.epochs * steps, 0);
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));

    lct_augmenter *aug = train_image_augmenter(rt);
    if (crop_min == 0.2f) {
        CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_INVASPREAD)); /* crop 0.2-1, jitter, grayscale, flip */
    } else { /* the preset's calls with another lower bound for the crop */
        CHECK(lct_augmenter_add_random_resized_crop(aug, 1.0, crop_min, 1.0, 3.0 / 4.0, 4.0 / 3.0));
        CHECK(lct_augmenter_add_color_jitter(aug, 1.0, 0.4, 0.4, 0.4, 0.4));
        CHECK(lct_augmenter_add_grayscale(aug, 0.2));
        CHECK(lct_augmenter_add_hflip(aug, 0.5));
    }

    train_loop l;
    train_loop_init(&l, "invaspread", &args, rt, n, steps, batch, data.train.images, PIXELS);
    l.st = (run_state){.method = "invaspread", .optimizer = opt, .loss = loss, .augmenter = aug};
    l.st.encoder[l.st.encoders++] = enc;
    /* The augmenter's output is sample-major; the encoder's input holds the first views, then the second. */
    float *views = train_alloc("invaspread", 2 * batch * PIXELS * sizeof *views);
    float *x = train_alloc("invaspread", 2 * batch * PIXELS * sizeof *x);
    float *f = train_alloc("invaspread", 2 * batch * dim * sizeof *f);
    float *df = train_alloc("invaspread", 2 * batch * dim * sizeof *df);

    /* Baselines: raw pixels and the encoder before training, same kNN protocol. */
    knn_eval ev;
    if (knn_eval_init(&ev, rt, &data, n, q, dim) != 0) train_fail("invaspread");
    double untrained = knn_eval_encoder(&ev, rt, enc);
    if (untrained < 0) train_fail("invaspread");
    knn_eval_print_start("invaspread", &ev, rt, enc, untrained);

    /* Training: two views per image, one forward over all 2B, loss, backward, SGD step. */
    for (train_loop_begin(&l); train_loop_next(&l);) {
        CHECK(lct_augmenter_apply(aug, l.images, batch, 2, views));
        /* The loss wants rows 0..B-1 = first views, B..2B-1 = second views. */
        for (size_t b = 0; b < batch; b++)
            for (size_t v = 0; v < 2; v++)
                memcpy(x + (v * batch + b) * PIXELS, views + (b * 2 + v) * PIXELS, PIXELS * sizeof *x);
        CHECK(lct_encoder_forward(enc, x, 2 * batch, f));
        float value;
        CHECK(lct_loss_invaspread_compute(loss, f, batch, &value, df));
        CHECK(lct_optimizer_zero_grad(opt));
        CHECK(lct_encoder_backward(enc, df, 2 * batch, NULL));
        CHECK(lct_optimizer_step(opt));
        train_loop_step_done(&l, value);
    }
    train_loop_save(&l);

    /* Evaluation: embeddings of the train and test images from the trained encoder. */
    train_loop_knn_end(&l, &ev, enc, "InvaSpread", untrained);

    free(df);
    free(f);
    free(x);
    free(views);
    knn_eval_free(&ev);
    train_loop_free(&l);
    fmnist_free(&data);
    return 0;
}
