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
#include "progress.h"
#include "train.h"
#include "run_state.h"

#define PIXELS (28 * 28)

static const char *default_spec =
    "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; "
    "flatten; linear 512; bn; relu; linear 128; l2norm";

/* kNN of the test images against the training images, both embedded by enc now; -1 on failure. */
static double evaluate(lct_runtime *rt, lct_encoder *enc, const fmnist *data, size_t n, size_t q, size_t dim,
                       const int32_t *train_labels, const int32_t *test_labels, float *train_emb, float *test_emb)
{
    if (embed_images(enc, data->train.images, n, PIXELS, 500, train_emb) != 0) return -1;
    if (embed_images(enc, data->test.images, q, PIXELS, 500, test_emb) != 0) return -1;
    return knn_accuracy(rt, train_emb, train_labels, n, test_emb, test_labels, q, dim);
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
        {"lr", FLAG_FLOAT, &lr, "SGD learning rate (cosine schedule)", 1e-6, 10},
        {"momentum", FLAG_FLOAT, &sgd_momentum, "SGD momentum", 0, 0.999},
        {"wd", FLAG_FLOAT, &wd, "SGD weight decay", 0, 1},
        {"warmup", FLAG_INT, &warmup, "steps of linear learning-rate warm-up before the cosine schedule", 0, 1 << 30},
        {"tau", FLAG_FLOAT, &tau, "temperature", 1e-3, 10},
        {"bank-momentum", FLAG_FLOAT, &momentum, "memory bank momentum", 0, 0.999},
        {"bank-init", FLAG_BOOL, &bank_init, "fill the bank with the untrained encoder's embeddings (else random rows)", 0, 0},
        FLAGS_AUG(&ta),
        {"spec", FLAG_STRING, &spec, "encoder spec (docs/encoder.md)", 0, 0},
        {"eval-every", FLAG_INT, &eval_every, "also print the kNN accuracy every N epochs (0: at the end only)", 0, 1000000},
        {"limit", FLAG_INT, &limit, "use only the first N train and test images (0: all)", 0, 1 << 30},
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "InstDisc on Fashion-MNIST");
    int use_nce = strcmp(objective, "nce") == 0;
    if (!use_nce && strcmp(objective, "softmax") != 0) {
        fprintf(stderr, "instdisc: --objective must be softmax or nce, not '%s'\n", objective);
        return 2;
    }
    int z_policy = strcmp(z, "first") == 0 ? LCT_Z_FIRST_BATCH : strcmp(z, "running") == 0 ? LCT_Z_RUNNING : -1;
    if (z_policy < 0) {
        fprintf(stderr, "instdisc: --z must be first or running, not '%s'\n", z);
        return 2;
    }

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);

    /* Handles: runtime, encoder, memory bank, loss (softmax or NCE), optimiser, augmenter. */
    lct_runtime *rt = train_runtime(&args);

    lct_encoder *enc;
    enc = train_encoder(rt, spec, &args);
    size_t dim;
    CHECK(lct_encoder_output_size(enc, &dim));

    lct_bank *bank;
    CHECK(lct_bank_new(&bank, rt, n, dim, NULL));

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

    size_t steps_per_epoch = n / batch;
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = LCT_OPTIMIZER_SGD;
    oo.lr = lr;
    oo.momentum = sgd_momentum;
    oo.weight_decay = wd;
    oo.schedule = LCT_SCHEDULE_COSINE;
    oo.total_steps = (uint64_t)args.epochs * steps_per_epoch;
    oo.warmup_steps = (uint64_t)warmup < oo.total_steps ? (uint64_t)warmup : 0;
    lct_optimizer *opt;
    CHECK(lct_optimizer_new(&opt, rt, &oo));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));

    lct_augmenter *aug = train_augmenter(rt, &ta);

    int32_t *train_labels = labels_int32(data.train.labels, n), *test_labels = labels_int32(data.test.labels, q);
    float *train_emb = malloc(n * dim * sizeof *train_emb), *test_emb = malloc(q * dim * sizeof *test_emb);
    uint8_t *images = malloc(batch * PIXELS);
    float *x = malloc(batch * PIXELS * sizeof *x), *f = malloc(batch * dim * sizeof *f);
    float *df = malloc(batch * dim * sizeof *df);
    int64_t *order = malloc(n * sizeof *order);
    float *curve = malloc(((size_t)args.epochs * steps_per_epoch + 1) * sizeof *curve);
    if (!train_labels || !test_labels || !train_emb || !test_emb || !images || !x || !f || !df || !order || !curve) {
        fprintf(stderr, "instdisc: out of memory\n");
        return 1;
    }

    /* Baselines: raw pixels and the encoder before training, same kNN protocol. */
    double raw = raw_pixel_knn(rt, data.train.images, train_labels, n, data.test.images, test_labels, q, PIXELS);
    double untrained = evaluate(rt, enc, &data, n, q, dim, train_labels, test_labels, train_emb, test_emb);
    if (raw < 0 || untrained < 0) {
        fprintf(stderr, "instdisc: %s\n", ex_error());
        return 1;
    }
    printf("instdisc: %zu train / %zu test images, encoder %s\n", n, q, lct_encoder_spec(enc));
    printf("instdisc: kNN before training %.4f, raw pixels %.4f; BLIS kernels %s, %d thread(s)\n", untrained, raw,
           lct_runtime_kernel(rt, NULL), lct_runtime_threads(rt));
    fflush(stdout);

    /* --bank-init: start every bank row at the untrained encoder's embedding of its image (eval mode,
     * computed above for the baseline) instead of the bank's random unit vectors. */
    if (bank_init) CHECK(lct_bank_set_rows(bank, 0, n, train_emb));

    /* --resume: every handle's state from the checkpoint; training continues at the next epoch. */
    run_state st = {.method = "instdisc", .optimizer = opt, .loss = loss, .augmenter = aug};
    st.encoder[st.encoders++] = enc;
    st.bank[st.banks++] = bank;
    int first_epoch = 1;
    if (args.resume) {
        if (run_state_load(&st, rt, args.resume, &first_epoch) != 0) {
            fprintf(stderr, "instdisc: %s\n", ex_error());
            return 1;
        }
        printf("instdisc: resumed from %s at epoch %d\n", args.resume, first_epoch);
    }

    /* Training: augment, embed, loss against the bank, backward, SGD step, bank update. */
    progress bar;
    progress_init(&bar, stdout, args.epochs, steps_per_epoch, batch);
    size_t step = 0;
    for (int epoch = first_epoch; epoch <= args.epochs; epoch++) {
        train_shuffle(order, n, args.seed, epoch);
        progress_epoch_begin(&bar);
        for (size_t s = 0; s < steps_per_epoch; s++) {
            const int64_t *idx = order + s * batch;
            for (size_t b = 0; b < batch; b++) memcpy(images + b * PIXELS, data.train.images + idx[b] * PIXELS, PIXELS);
            CHECK(lct_augmenter_apply(aug, images, batch, 1, x));
            CHECK(lct_encoder_forward(enc, x, batch, f));
            float value;
            if (use_nce)
                CHECK(lct_loss_nce_compute(loss, f, idx, batch, &value, df));
            else
                CHECK(lct_loss_npsoftmax_compute(loss, f, idx, batch, &value, df));
            CHECK(lct_optimizer_zero_grad(opt));
            CHECK(lct_encoder_backward(enc, df, batch, NULL));
            CHECK(lct_optimizer_step(opt));
            CHECK(lct_bank_update(bank, f, idx, batch, momentum));
            curve[step++] = value;
            progress_update(&bar, epoch, s + 1, value);
        }
        if (eval_every > 0 && epoch % eval_every == 0 && epoch < args.epochs) {
            double acc = evaluate(rt, enc, &data, n, q, dim, train_labels, test_labels, train_emb, test_emb);
            if (acc < 0) {
                fprintf(stderr, "instdisc: %s\n", ex_error());
                return 1;
            }
            printf("instdisc: epoch %d kNN top-1 %.4f\n", epoch, acc);
            fflush(stdout);
        }
    }

    if (args.save) {
        if (run_state_save(&st, rt, args.save, args.epochs) != 0) {
            fprintf(stderr, "instdisc: %s\n", ex_error());
            return 1;
        }
        printf("instdisc: saved %s\n", args.save);
    }

    /* Evaluation: embeddings of the train and test images from the trained encoder. */
    double trained = evaluate(rt, enc, &data, n, q, dim, train_labels, test_labels, train_emb, test_emb);
    if (trained < 0) {
        fprintf(stderr, "instdisc: %s\n", ex_error());
        return 1;
    }
    if (write_figures(args.out, "InstDisc", curve, step, test_emb, test_labels, q, dim) != 0)
        fprintf(stderr, "instdisc: figures not written: %s\n", ex_error());
    else
        printf("instdisc: wrote %s/loss.png and %s/embedding.png\n", args.out, args.out);

    printf("kNN top-1: %.4f (untrained: %.4f, raw pixels: %.4f)\n", trained, untrained, raw);

    free(curve);
    free(order);
    free(df);
    free(f);
    free(x);
    free(images);
    free(test_emb);
    free(train_emb);
    free(test_labels);
    free(train_labels);
    lct_augmenter_free(aug);
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    fmnist_free(&data);
    return trained < 0 ? 1 : 0;
}
