/*
 * cpc: Contrastive Predictive Coding (van den Oord et al. 2018) on Fashion-MNIST images read as
 * sequences, written against libcontrast's public API.
 *
 * Each 28x28 image is cut into a 3x3 grid of overlapping 14x14 patches, 7 pixels apart, read
 * top-left to bottom-right as a sequence of T = 9 steps (the CPC paper reads a grid of
 * overlapping image patches the same way; --patch and --stride choose another grid). A small
 * convolutional encoder g_enc maps every patch to a latent z_t (128 floats); a GRU g_ar (256
 * units, the encoder layer `gru`) reads z_1..z_t and gives the context c_t. InfoNCE trains both
 * (and one linear map W_k per step ahead) to pick the true future latent z_{t+k}, k = 1..3 (up to
 * one row of patches below), among the candidates named by --negatives.
 *
 * Embedding for kNN: by default every step's context side by side (--embed cgrid: T x 256
 * floats, each step's context L2-normalised, then the whole row), which keeps where in the image
 * each context was read; --embed zgrid does the same with the latents, mean averages the
 * contexts over the steps, last takes the context after the last step, z averages the latents
 * (the CPC paper's image feature). All are computed and reported. Labels are used only to
 * evaluate: weighted kNN on the test set.
 *
 *   cpc [--epochs N] [--batch N] [--threads N] [--seed N] [--out DIR] [--save F] [--resume F]
 *       [--data DIR] [--limit N] [--negatives batch|all|sequence] [--steps K] [--patch P] [--stride S]
 *       [--lr LR] [--embed cgrid|zgrid|mean|last|z] [--crop-min S] [--spec LAYERS]
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

#define SIDE 28
#define PIXELS (SIDE * SIDE)

/* The patch grid, set from --patch and --stride: GRID x GRID patches of PATCH x PATCH pixels,
 * STRIDE apart, read as a sequence of T = GRID^2 steps. */
static int PATCH = 14, STRIDE = 7, GRID, T, PATCH_PIXELS;

/* g_enc: one patch to a latent of 128; g_ar: the T latents of a sequence to its contexts. */
static const char *enc_layers_default =
    "conv2d 32 k3 p1; bn; relu; conv2d 64 k3 s2 p1; bn; relu; flatten; linear 128";
static const char *ar_spec_fmt = "in %dx128; gru 256";

/* The T patches of an image (floats), in reading order: out is T x 7 x 7. */
static void to_patches(const float *img, float *out)
{
    for (int gy = 0; gy < GRID; gy++)
        for (int gx = 0; gx < GRID; gx++)
            for (int y = 0; y < PATCH; y++)
                memcpy(out + ((gy * GRID + gx) * PATCH + y) * PATCH, img + (gy * STRIDE + y) * SIDE + gx * STRIDE,
                       PATCH * sizeof *out);
}

/* The embeddings evaluated by kNN, in the order of --embed's names. */
enum { EMB_LAST, EMB_MEAN, EMB_Z, EMB_ZGRID, EMB_CGRID, EMB_COUNT };
static const char *const emb_names[EMB_COUNT] = {"last", "mean", "z", "zgrid", "cgrid"};

/* The grid of --patch and --stride; exits with 2 unless it gives more than steps_ahead steps. */
static void set_grid(int steps_ahead)
{
    GRID = (SIDE - PATCH) / STRIDE + 1;
    T = GRID * GRID;
    PATCH_PIXELS = PATCH * PATCH;
    if (T < 2 || steps_ahead >= T) {
        fprintf(stderr, "cpc: --patch %d --stride %d give %d steps; --steps must be below that\n", PATCH, STRIDE, T);
        exit(2);
    }
}

/* Floats per row of embedding e. */
static size_t emb_width(int e, size_t d, size_t h)
{
    return e == EMB_Z ? d : e == EMB_ZGRID ? T * d : e == EMB_CGRID ? T * h : h;
}

/*
 * Embed n images (eval mode), 250 at a time, into emb[EMB_LAST] (n x h: context after the last
 * step), emb[EMB_MEAN] (n x h: context averaged over the steps) and emb[EMB_Z] (n x d: the
 * patch latents averaged over the grid, the CPC paper's image feature), all L2-normalised for
 * the cosine kNN.
 */
static void embed_sequences(lct_encoder *g_enc, lct_encoder *g_ar, const uint8_t *images, size_t n, size_t d,
                            size_t h, float *emb[EMB_COUNT])
{
    enum { CHUNK = 250 };
    float *img = malloc(PIXELS * sizeof *img), *x = malloc(CHUNK * T * PATCH_PIXELS * sizeof *x);
    float *z = malloc(CHUNK * T * d * sizeof *z), *c = malloc(CHUNK * T * h * sizeof *c);
    if (!img || !x || !z || !c) {
        fprintf(stderr, "cpc: out of memory\n");
        exit(1);
    }
    CHECK(lct_encoder_set_mode(g_enc, LCT_ENCODER_EVAL));
    CHECK(lct_encoder_set_mode(g_ar, LCT_ENCODER_EVAL));
    for (size_t first = 0; first < n; first += CHUNK) {
        size_t b = n - first < CHUNK ? n - first : CHUNK;
        for (size_t i = 0; i < b; i++) {
            images_to_float(images + (first + i) * PIXELS, PIXELS, img);
            to_patches(img, x + i * T * PATCH_PIXELS);
        }
        CHECK(lct_encoder_forward(g_enc, x, b * T, z));
        CHECK(lct_encoder_forward(g_ar, z, b, c));
        for (size_t i = 0; i < b; i++) {
            float *m = emb[EMB_MEAN] + (first + i) * h, *mz = emb[EMB_Z] + (first + i) * d;
            memcpy(emb[EMB_LAST] + (first + i) * h, c + (i * T + T - 1) * h, h * sizeof *c);
            memcpy(emb[EMB_ZGRID] + (first + i) * T * d, z + i * T * d, T * d * sizeof *z);
            memcpy(emb[EMB_CGRID] + (first + i) * T * h, c + i * T * h, T * h * sizeof *c);
            memset(m, 0, h * sizeof *m);
            memset(mz, 0, d * sizeof *mz);
            for (size_t t = 0; t < (size_t)T; t++) {
                for (size_t j = 0; j < h; j++) m[j] += c[(i * T + t) * h + j] * (1.0f / (float)T);
                for (size_t j = 0; j < d; j++) mz[j] += z[(i * T + t) * d + j] * (1.0f / (float)T);
            }
        }
    }
    CHECK(lct_encoder_set_mode(g_enc, LCT_ENCODER_TRAIN));
    CHECK(lct_encoder_set_mode(g_ar, LCT_ENCODER_TRAIN));
    for (int e = 0; e < EMB_ZGRID; e++) l2_normalise_rows(emb[e], n, emb_width(e, d, h));
    l2_normalise_rows(emb[EMB_ZGRID], n * T, d); /* every step's vector to norm 1, then the whole row */
    l2_normalise_rows(emb[EMB_ZGRID], n, T * d);
    l2_normalise_rows(emb[EMB_CGRID], n * T, h);
    l2_normalise_rows(emb[EMB_CGRID], n, T * h);
    free(c);
    free(z);
    free(x);
    free(img);
}

/* g_enc (one patch to a latent of *d floats, layers `enc_layers`) and g_ar (the T latents of a
 * sequence to T contexts of *h floats). */
static void new_encoders(lct_runtime *rt, const example_args *args, const char *enc_layers, lct_encoder **g_enc,
                         lct_encoder **g_ar, size_t *d, size_t *h)
{
    char enc_spec[1024], ar_spec[64];
    snprintf(enc_spec, sizeof enc_spec, "in 1x%dx%d; %s", PATCH, PATCH, enc_layers);
    snprintf(ar_spec, sizeof ar_spec, ar_spec_fmt, T);
    *g_enc = train_encoder(rt, enc_spec, args);
    *g_ar = train_encoder(rt, ar_spec, args);
    CHECK(lct_encoder_output_size(*g_enc, d));
    CHECK(lct_encoder_output_size(*g_ar, h));
    *h /= (size_t)T; /* the GRU returns T x H per sequence */
}

/* kNN accuracy of every embedding, acc[EMB_LAST .. EMB_CGRID]. */
static void evaluate(lct_runtime *rt, lct_encoder *g_enc, lct_encoder *g_ar, const knn_eval *ev, size_t d, size_t h,
                     float *train_emb[EMB_COUNT], float *test_emb[EMB_COUNT], double acc[EMB_COUNT])
{
    embed_sequences(g_enc, g_ar, ev->data->train.images, ev->n, d, h, train_emb);
    embed_sequences(g_enc, g_ar, ev->data->test.images, ev->q, d, h, test_emb);
    for (int e = 0; e < EMB_COUNT; e++) {
        acc[e] = knn_accuracy(rt, train_emb[e], ev->train_labels, ev->n, test_emb[e], ev->test_labels, ev->q,
                              emb_width(e, d, h));
        if (acc[e] < 0) train_fail("cpc");
    }
}

/* Every embedding's kNN accuracy after training, and before. */
static void print_results(const double trained[EMB_COUNT], const double untrained[EMB_COUNT])
{
    printf("cpc: kNN of the last context %.4f (untrained %.4f), mean context %.4f (untrained %.4f), mean latent "
           "%.4f (untrained %.4f), latent grid %.4f (untrained %.4f), context grid %.4f (untrained %.4f)\n",
           trained[EMB_LAST], untrained[EMB_LAST], trained[EMB_MEAN], untrained[EMB_MEAN], trained[EMB_Z],
           untrained[EMB_Z], trained[EMB_ZGRID], untrained[EMB_ZGRID], trained[EMB_CGRID], untrained[EMB_CGRID]);
}

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    args.epochs = 4;
    args.batch = 128;
    int limit = 0, steps_ahead = 3;
    float lr = 1e-3f, crop_min = 0.5f;
    const char *negatives = "sequence", *embed = "cgrid", *enc_layers = enc_layers_default;
    flag table[] = {
        FLAGS_COMMON(&args),
        {"negatives", FLAG_STRING, &negatives,
         "InfoNCE candidates: batch (other images, same step), all (every step of every image), sequence (same image)", 0, 0},
        {"steps", FLAG_INT, &steps_ahead, "prediction steps K (patches ahead), below the sequence length", 1, 1024},
        {"patch", FLAG_INT, &PATCH, "side of a square patch in pixels", 4, 28},
        {"stride", FLAG_INT, &STRIDE, "pixels between neighbouring patches", 1, 28},
        {"lr", FLAG_FLOAT, &lr, "Adam learning rate (cosine schedule)", 1e-7, 1},
        {"embed", FLAG_STRING, &embed, "kNN embedding: cgrid (every step's context, side by side), zgrid (every latent), mean (context averaged over steps), last (last context) or z (latents averaged)", 0, 0},
        FLAG_CROP_MIN(&crop_min),
        {"spec", FLAG_STRING, &enc_layers, "g_enc's layers after its input (`in 1xPxP;` is prepended)", 0, 0},
        FLAG_LIMIT(&limit),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "CPC on Fashion-MNIST images read as patch sequences");
    int neg_id = train_negatives(negatives);
    set_grid(steps_ahead);
    int use = flags_find(embed, emb_names, EMB_COUNT);
    if (neg_id < 0 || use < 0) {
        fprintf(stderr, "cpc: --negatives is batch, all or sequence; --embed last, mean or z (got '%s', '%s')\n",
                negatives, embed);
        return 2;
    }

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);
    train_need_pairs("cpc", batch, "");

    /* Handles: runtime, g_enc, g_ar, InfoNCE (owns the W_k), Adam over all three, augmenter. */
    lct_runtime *rt = train_runtime(&args);

    lct_encoder *g_enc, *g_ar;
    size_t d, h;
    new_encoders(rt, &args, enc_layers, &g_enc, &g_ar, &d, &h);
    lct_loss *loss = train_infonce(rt, (size_t)T, d, h, steps_ahead, neg_id);

    /* Adam as the CPC paper (which uses 2e-4 for hundreds of epochs; 1e-3 for a short run). */
    size_t steps = n / batch;
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_ADAM, lr, 0, 0, (uint64_t)args.epochs * steps, 0);
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(g_enc)));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(g_ar)));
    CHECK(lct_optimizer_attach(opt, lct_loss_params(loss)));

    /* Mild augmentation: crops of at least half the image, and flips. */
    lct_augmenter *aug = train_image_augmenter(rt);
    CHECK(lct_augmenter_add_random_resized_crop(aug, 1.0, crop_min, 1.0, 3.0 / 4.0, 4.0 / 3.0));
    CHECK(lct_augmenter_add_hflip(aug, 0.5));

    train_loop l;
    train_loop_init(&l, "cpc", &args, rt, n, steps, batch, data.train.images, PIXELS);
    l.st = (run_state){.method = "cpc", .optimizer = opt, .loss = loss, .augmenter = aug};
    l.st.encoder[l.st.encoders++] = g_enc;
    l.st.encoder[l.st.encoders++] = g_ar;
    float *train_emb[EMB_COUNT], *test_emb[EMB_COUNT];
    for (int e = 0; e < EMB_COUNT; e++) train_emb[e] = train_alloc("cpc", n * emb_width(e, d, h) * sizeof(float));
    for (int e = 0; e < EMB_COUNT; e++) test_emb[e] = train_alloc("cpc", q * emb_width(e, d, h) * sizeof(float));
    float *augmented = train_alloc("cpc", batch * PIXELS * sizeof(float));
    float *x = train_alloc("cpc", batch * T * PATCH_PIXELS * sizeof(float));
    size_t z_bytes = batch * T * d * sizeof(float), c_bytes = batch * T * h * sizeof(float);
    float *z = train_alloc("cpc", z_bytes), *dz = train_alloc("cpc", z_bytes), *dz_ar = train_alloc("cpc", z_bytes);
    float *c = train_alloc("cpc", c_bytes), *dc = train_alloc("cpc", c_bytes);

    /* Baselines: raw pixels and the encoders before training, same kNN protocol. */
    knn_eval ev;
    if (knn_eval_init(&ev, rt, &data, n, q, 0) != 0) train_fail("cpc");
    double untrained[EMB_COUNT], trained[EMB_COUNT];
    evaluate(rt, g_enc, g_ar, &ev, d, h, train_emb, test_emb, untrained);
    printf("cpc: %zu train / %zu test images as %d steps of %dx%d patches (stride %d); K = %d, negatives %s\n", n,
           q, T, PATCH, PATCH, STRIDE, steps_ahead, negatives);
    printf("cpc: g_enc %s\ncpc: g_ar %s\n", lct_encoder_spec(g_enc), lct_encoder_spec(g_ar));
    printf("cpc: kNN before training %.4f (%s); raw pixels %.4f; BLIS kernels %s, %d thread(s)\n", untrained[use],
           emb_names[use], ev.raw, lct_runtime_kernel(rt, NULL), lct_runtime_threads(rt));
    fflush(stdout);

    /* Training: patches -> g_enc -> z -> g_ar -> c; InfoNCE gives dz and dc (and the W_k
     * gradients); dc flows back through g_ar into z, where it joins InfoNCE's own dz. */
    for (train_loop_begin(&l); train_loop_next(&l);) {
        CHECK(lct_augmenter_apply(aug, l.images, batch, 1, augmented));
        for (size_t b = 0; b < batch; b++) to_patches(augmented + b * PIXELS, x + b * T * PATCH_PIXELS);
        CHECK(lct_encoder_forward(g_enc, x, batch * T, z)); /* batch x T x d */
        CHECK(lct_encoder_forward(g_ar, z, batch, c));      /* batch x T x h */
        CHECK(lct_optimizer_zero_grad(opt));
        float value;
        CHECK(lct_loss_infonce_compute(loss, z, c, batch, &value, dz, dc, NULL));
        CHECK(lct_encoder_backward(g_ar, dc, batch, dz_ar));
        for (size_t i = 0; i < batch * T * d; i++) dz[i] += dz_ar[i];
        CHECK(lct_encoder_backward(g_enc, dz, batch * T, NULL));
        CHECK(lct_optimizer_step(opt));
        train_loop_step_done(&l, value);
    }
    train_loop_save(&l);

    evaluate(rt, g_enc, g_ar, &ev, d, h, train_emb, test_emb, trained);
    print_results(trained, untrained);
    train_loop_figures(&l, write_figures(args.out, "CPC", l.curve, l.step, test_emb[use], ev.test_labels, q,
                                         emb_width(use, d, h)));
    printf("kNN top-1: %.4f (untrained: %.4f, raw pixels: %.4f)\n", trained[use], untrained[use], ev.raw);

    float *buffers[] = {dc, c, dz_ar, dz, z, x, augmented};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) free(buffers[i]);
    for (int e = 0; e < EMB_COUNT; e++) free(test_emb[e]), free(train_emb[e]);
    knn_eval_free(&ev);
    train_loop_free(&l);
    fmnist_free(&data);
    return 0;
}
