/*
 * instdisc: InstDisc (Wu et al. 2018) on Fashion-MNIST, written against libcontrast's public API.
 *
 * Every training image is its own class. A memory bank keeps one L2-normalised 128-d embedding
 * per image; each step contrasts an augmented image's embedding with its own bank row (the
 * positive) and the other rows (the negatives) — through the non-parametric softmax over all N
 * rows (default) or NCE with K random rows — then moves the bank rows towards the new
 * embeddings. Labels are used only to evaluate: weighted kNN on the test set.
 *
 *   instdisc [--epochs N] [--batch N] [--threads N] [--seed N] [--out DIR] [--save F] [--resume F]
 *            [--data DIR] [--limit N] [--objective softmax|nce] [--k K] [--z first|running]
 *            [--lr LR] [--momentum M] [--wd W] [--tau T] [--bank-momentum M] [--bank-init]
 *            [--crop-min S] [--crop-max S] [--jitter J] [--jitter-p P] [--flip P] [--spec S]
 *            [--eval-every N]
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

/* The loss against the bank: NCE with k noise rows and the Z policy, or the softmax over all rows. */
static lct_loss *new_loss(lct_runtime *rt, lct_bank *bank, int use_nce, int k, int z_policy, float tau)
{
    lct_loss *loss;
    if (use_nce) {
        lct_loss_nce_options lo;
        lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION);
        lo.k = (uint32_t)k;
        lo.z_policy = z_policy;
        CHECK(lct_loss_new_nce(&loss, rt, bank, &lo));
    } else {
        CHECK(lct_loss_new_npsoftmax(&loss, rt, bank, NULL));
    }
    CHECK(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau));
    return loss;
}

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    args.epochs = 3;
    int k = 4096, limit = 0, bank_init = 1, eval_every = 0, warmup = 0;
    float lr = 0.03f, tau = 0.07f, momentum = 0.5f, sgd_momentum = 0.9f, wd = 5e-4f;
    train_aug ta = {.crop_min = 0.5f, .crop_max = 1.0f, .jitter = 0.4f, .jitter_p = 1.0f, .flip = 0.5f};
    const char *spec = default_spec, *objective = "softmax", *z = "first";
    flag table[] = {
        FLAGS_COMMON(&args),
        {"objective", FLAG_STRING, &objective, "softmax (non-parametric softmax over all bank rows) or nce", 0, 0},
        {"k", FLAG_INT, &k, "noise samples per image (NCE)", 1, 1 << 20},
        {"z", FLAG_STRING, &z, "NCE's Z: first (from the first batch, as the original) or running", 0, 0},
        FLAG_SGD_LR(&lr),
        {"momentum", FLAG_FLOAT, &sgd_momentum, "SGD momentum", 0, 0.999},
        {"wd", FLAG_FLOAT, &wd, "SGD weight decay", 0, 1},
        {"warmup", FLAG_INT, &warmup, "steps of linear learning-rate warm-up before the cosine schedule", 0, 1 << 30},
        FLAG_TAU(&tau),
        {"bank-momentum", FLAG_FLOAT, &momentum, "memory bank momentum", 0, 0.999},
        {"bank-init", FLAG_BOOL, &bank_init, "fill the bank with the untrained encoder's embeddings (else random rows)", 0, 0},
        FLAGS_AUG(&ta),
        FLAG_SPEC(&spec),
        {"eval-every", FLAG_INT, &eval_every, "also print the kNN accuracy every N epochs (0: at the end only)", 0, 1000000},
        FLAG_LIMIT(&limit),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "InstDisc on Fashion-MNIST");
    int use_nce = flags_pick2("instdisc", "objective", objective, "softmax", "nce");
    int z_policy = flags_pick2("instdisc", "z", z, "first", "running") == 0 ? LCT_Z_FIRST_BATCH : LCT_Z_RUNNING;

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);

    /* Handles: runtime, encoder, memory bank, loss (softmax or NCE), optimiser, augmenter. */
    lct_runtime *rt = train_runtime(&args);
    lct_encoder *enc = train_encoder(rt, spec, &args);
    size_t dim;
    CHECK(lct_encoder_output_size(enc, &dim));
    lct_bank *bank;
    CHECK(lct_bank_new(&bank, rt, n, dim, NULL));
    lct_loss *loss = new_loss(rt, bank, use_nce, k, z_policy, tau);
    size_t steps = n / batch;
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, lr, sgd_momentum, wd, (uint64_t)args.epochs * steps,
                                         (uint64_t)warmup);
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));
    lct_augmenter *aug = train_augmenter(rt, &ta);

    train_loop l;
    train_loop_init(&l, "instdisc", &args, rt, n, steps, batch, data.train.images, PIXELS);
    l.st = (run_state){.method = "instdisc", .optimizer = opt, .loss = loss, .augmenter = aug};
    l.st.encoder[l.st.encoders++] = enc;
    l.st.bank[l.st.banks++] = bank;
    float *x = train_alloc("instdisc", batch * PIXELS * sizeof *x);
    float *f = train_alloc("instdisc", batch * dim * sizeof *f);
    float *df = train_alloc("instdisc", batch * dim * sizeof *df);

    /* Baselines: raw pixels and the encoder before training, same kNN protocol. */
    knn_eval ev;
    if (knn_eval_init(&ev, rt, &data, n, q, dim) != 0) train_fail("instdisc");
    double untrained = knn_eval_encoder(&ev, rt, enc);
    if (untrained < 0) train_fail("instdisc");
    knn_eval_print_start("instdisc", &ev, rt, enc, untrained);

    /* --bank-init: start every bank row at the untrained encoder's embedding of its image (eval mode,
     * computed above for the baseline) instead of the bank's random unit vectors. */
    if (bank_init) CHECK(lct_bank_set_rows(bank, 0, n, ev.train_emb));

    /* Training: augment, embed, loss against the bank, backward, SGD step, bank update. */
    for (train_loop_begin(&l); train_loop_next(&l);) {
        CHECK(lct_augmenter_apply(aug, l.images, batch, 1, x));
        CHECK(lct_encoder_forward(enc, x, batch, f));
        float value;
        if (use_nce)
            CHECK(lct_loss_nce_compute(loss, f, l.idx, batch, &value, df));
        else
            CHECK(lct_loss_npsoftmax_compute(loss, f, l.idx, batch, &value, df));
        CHECK(lct_optimizer_zero_grad(opt));
        CHECK(lct_encoder_backward(enc, df, batch, NULL));
        CHECK(lct_optimizer_step(opt));
        CHECK(lct_bank_update(bank, f, l.idx, batch, momentum));
        if (train_loop_step_done(&l, value) && eval_every > 0 && l.epoch % eval_every == 0 && l.epoch < args.epochs) {
            double acc = knn_eval_encoder(&ev, rt, enc);
            if (acc < 0) train_fail("instdisc");
            printf("instdisc: epoch %d kNN top-1 %.4f\n", l.epoch, acc);
            fflush(stdout);
        }
    }
    train_loop_save(&l);

    /* Evaluation: embeddings of the train and test images from the trained encoder. */
    train_loop_knn_end(&l, &ev, enc, "InstDisc", untrained);

    free(df);
    free(f);
    free(x);
    knn_eval_free(&ev);
    train_loop_free(&l);
    fmnist_free(&data);
    return 0;
}
