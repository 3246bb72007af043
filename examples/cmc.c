/*
 * cmc: Contrastive Multiview Coding (Tian et al. 2019) on Fashion-MNIST, written against
 * libcontrast's public API.
 *
 * Three views of every image, each with its own encoder, are trained so that the views of one
 * image agree and the views of different images do not. The views are computed by the host from
 * one augmented copy of the image (random resized crop and flip, the CMC preset):
 *
 *   view 0  the image itself                         (1x28x28: grey levels, texture, print)
 *   view 1  its Sobel edge magnitude                 (1x28x28: outlines and seams, no shading)
 *   view 2  a blurred copy down-sampled to 14x14     (1x14x14: coarse silhouette, no detail)
 *
 * Why these: CMC learns what the views have in common. Intensity, edges and a low-resolution
 * silhouette are different signals, each with its own nuisances (brightness and texture; thin
 * edge noise; missing detail), but all three carry the garment's shape, which is what tells the
 * classes apart. Taking all three from the same crop keeps them about the same object region,
 * as the L and ab channels of one crop are in the original.
 *
 * Each encoder is half as wide as the single-view default network, as CMC splits AlexNet in two
 * halves for L and ab. The objective contrasts view pairs: the core graph (view 0 against the
 * others) or the full graph (every pair), with NCE against one memory bank per view (the
 * original) or a softmax over the batch. Labels are used only to evaluate: weighted kNN on the
 * test set with each view's features and with their concatenation (the final line).
 *
 *   cmc [--epochs N] [--batch N] [--threads N] [--seed N] [--out DIR] [--save F] [--resume F]
 *       [--data DIR] [--limit N] [--graph core|full] [--objective nce|softmax] [--k K] [--lr LR]
 *       [--tau T] [--bank-momentum M] [--crop-min S] [--no-same-crop]
 */
#include <libcontrast/libcontrast.h>

#include <math.h>
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
#define SMALL (SIDE / 2)
#define VIEWS 3

/* One encoder per view, half the width of the single-view default. */
static const char *view_spec[VIEWS] = {
    "in 1x28x28; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; maxpool 2; "
    "flatten; linear 256; bn; relu; linear 128; l2norm",
    "in 1x28x28; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; maxpool 2; "
    "flatten; linear 256; bn; relu; linear 128; l2norm",
    "in 1x14x14; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; "
    "flatten; linear 256; bn; relu; linear 128; l2norm",
};
static const char *view_name[VIEWS] = {"image", "Sobel edges", "blurred 14x14"};
static const size_t view_size[VIEWS] = {PIXELS, PIXELS, SMALL * SMALL};

static float px(const float *img, int y, int x)
{
    y = y < 0 ? 0 : y >= SIDE ? SIDE - 1 : y; /* replicate the border */
    x = x < 0 ? 0 : x >= SIDE ? SIDE - 1 : x;
    return img[y * SIDE + x];
}

/*
 * View v of one 28x28 image in [0, 1]: 0 a copy; 1 the Sobel gradient magnitude scaled by 1/4
 * and clipped to [0, 1]; 2 a [1 2 1]/4 x [1 2 1]/4 blur sampled at every second pixel.
 */
static void make_view(int v, const float *img, float *out)
{
    static const float w[3] = {0.25f, 0.5f, 0.25f};
    if (v == 0) {
        memcpy(out, img, PIXELS * sizeof *out);
    } else if (v == 1) {
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                float gx = px(img, y - 1, x + 1) + 2 * px(img, y, x + 1) + px(img, y + 1, x + 1) -
                           px(img, y - 1, x - 1) - 2 * px(img, y, x - 1) - px(img, y + 1, x - 1);
                float gy = px(img, y + 1, x - 1) + 2 * px(img, y + 1, x) + px(img, y + 1, x + 1) -
                           px(img, y - 1, x - 1) - 2 * px(img, y - 1, x) - px(img, y - 1, x + 1);
                float m = sqrtf(gx * gx + gy * gy) * 0.25f;
                out[y * SIDE + x] = m < 1 ? m : 1;
            }
    } else {
        for (int y = 0; y < SMALL; y++)
            for (int x = 0; x < SMALL; x++) {
                float s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) s += w[dy + 1] * w[dx + 1] * px(img, 2 * y + dy, 2 * x + dx);
                out[y * SMALL + x] = s;
            }
    }
}

/* Embed n images with every view's encoder (eval mode), 500 at a time: out[v] is n x dim. */
static void embed_views(lct_encoder *const *enc, const uint8_t *images, size_t n, size_t dim, float *const *out)
{
    enum { CHUNK = 500 };
    float *img = malloc(PIXELS * sizeof *img), *in[VIEWS];
    for (int v = 0; v < VIEWS; v++) in[v] = malloc(CHUNK * view_size[v] * sizeof *in[v]);
    if (!img || !in[0] || !in[1] || !in[2]) {
        fprintf(stderr, "cmc: out of memory\n");
        exit(1);
    }
    for (int v = 0; v < VIEWS; v++) CHECK(lct_encoder_set_mode(enc[v], LCT_ENCODER_EVAL));
    for (size_t first = 0; first < n; first += CHUNK) {
        size_t b = n - first < CHUNK ? n - first : CHUNK;
        for (size_t i = 0; i < b; i++) {
            images_to_float(images + (first + i) * PIXELS, PIXELS, img);
            for (int v = 0; v < VIEWS; v++) make_view(v, img, in[v] + i * view_size[v]);
        }
        for (int v = 0; v < VIEWS; v++) CHECK(lct_encoder_forward(enc[v], in[v], b, out[v] + first * dim));
    }
    for (int v = 0; v < VIEWS; v++) CHECK(lct_encoder_set_mode(enc[v], LCT_ENCODER_TRAIN));
    for (int v = 0; v < VIEWS; v++) free(in[v]);
    free(img);
}

/* kNN of each view and of the concatenation (L2-normalised again); acc[VIEWS] is the concatenation. */
static void evaluate(lct_runtime *rt, lct_encoder *const *enc, const knn_eval *ev, size_t dim, float *const *train,
                     float *const *test, float *train_cat, float *test_cat, double acc[VIEWS + 1])
{
    size_t n = ev->n, q = ev->q;
    embed_views(enc, ev->data->train.images, n, dim, train);
    embed_views(enc, ev->data->test.images, q, dim, test);
    for (int v = 0; v < VIEWS; v++)
        acc[v] = knn_accuracy(rt, train[v], ev->train_labels, n, test[v], ev->test_labels, q, dim);
    for (int v = 0; v < VIEWS; v++) {
        for (size_t i = 0; i < n; i++) memcpy(train_cat + (i * VIEWS + v) * dim, train[v] + i * dim, dim * sizeof(float));
        for (size_t i = 0; i < q; i++) memcpy(test_cat + (i * VIEWS + v) * dim, test[v] + i * dim, dim * sizeof(float));
    }
    l2_normalise_rows(train_cat, n, VIEWS * dim);
    l2_normalise_rows(test_cat, q, VIEWS * dim);
    acc[VIEWS] = knn_accuracy(rt, train_cat, ev->train_labels, n, test_cat, ev->test_labels, q, VIEWS * dim);
    for (int v = 0; v <= VIEWS; v++)
        if (acc[v] < 0) train_fail("cmc");
}

/* --graph and --objective as LCT_CMC_*; exits with 2 when either is unknown. */
static void parse_choices(const char *graph, const char *objective, int *graph_id, int *objective_id)
{
    *graph_id = strcmp(graph, "core") == 0 ? LCT_CMC_CORE : strcmp(graph, "full") == 0 ? LCT_CMC_FULL : -1;
    *objective_id = strcmp(objective, "nce") == 0       ? LCT_CMC_NCE
                    : strcmp(objective, "softmax") == 0 ? LCT_CMC_SOFTMAX
                                                        : -1;
    if (*graph_id < 0 || *objective_id < 0) {
        fprintf(stderr, "cmc: --graph is core or full, --objective nce or softmax (got '%s', '%s')\n", graph,
                objective);
        exit(2);
    }
}

/* One encoder per view (outputs: *dim), for NCE one bank of n rows per view (bank[v] stays NULL
 * otherwise), and the CMC loss over them. */
static lct_loss *new_model(lct_runtime *rt, const example_args *args, size_t n, int graph_id, int objective_id, int k,
                           float tau, lct_encoder **enc, lct_bank **bank, size_t *dim)
{
    for (int v = 0; v < VIEWS; v++) {
        enc[v] = train_encoder(rt, view_spec[v], args);
        CHECK(lct_encoder_output_size(enc[v], dim));
    }
    /* Banks after the encoders, so the encoders' initial weights do not depend on the objective. */
    for (int v = 0; v < VIEWS && objective_id == LCT_CMC_NCE; v++) CHECK(lct_bank_new(&bank[v], rt, n, *dim, NULL));
    lct_loss_cmc_options lo;
    lct_loss_cmc_options_init(&lo, LCT_LOSS_CMC_OPTIONS_VERSION);
    lo.graph = graph_id;
    lo.objective = objective_id;
    lo.k = (uint32_t)k;
    lct_loss *loss;
    CHECK(lct_loss_new_cmc(&loss, rt, VIEWS, *dim, objective_id == LCT_CMC_NCE ? bank : NULL, &lo));
    CHECK(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau));
    return loss;
}

/* The CMC preset's augmentation (crop 0.2-1, flip), with another lower bound for the crop. */
static lct_augmenter *new_augmenter(lct_runtime *rt, float crop_min)
{
    lct_augmenter *aug = train_image_augmenter(rt);
    if (crop_min == 0.2f) {
        CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_CMC));
    } else { /* the preset's calls with another lower bound for the crop */
        CHECK(lct_augmenter_add_random_resized_crop(aug, 1.0, crop_min, 1.0, 3.0 / 4.0, 4.0 / 3.0));
        CHECK(lct_augmenter_add_hflip(aug, 0.5));
    }
    return aug;
}

/* The opening lines: the set, the views' encoders, the kNN before training. */
static void print_start(const knn_eval *ev, lct_runtime *rt, const char *graph, const char *objective,
                        lct_encoder *const *enc, const double untrained[VIEWS + 1])
{
    printf("cmc: %zu train / %zu test images, %d views, %s graph, %s objective\n", ev->n, ev->q, VIEWS, graph,
           objective);
    for (int v = 0; v < VIEWS; v++)
        printf("cmc: view %d (%s): encoder %s\n", v, view_name[v], lct_encoder_spec(enc[v]));
    printf("cmc: kNN before training %.4f (views %.4f %.4f %.4f), raw pixels %.4f; BLIS kernels %s, %d thread(s)\n",
           untrained[VIEWS], untrained[0], untrained[1], untrained[2], ev->raw, lct_runtime_kernel(rt, NULL),
           lct_runtime_threads(rt));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    args.epochs = 14; /* with one crop per view at 0.5-1: kNN 0.8545 in 5 minutes on 2 idle cores */
    args.batch = 128;
    int k = 4096, limit = 0, same_crop = 0;
    float lr = 0.03f, tau = 0.07f, momentum = 0.5f, crop_min = 0.5f;
    const char *graph = "full", *objective = "softmax";
    flag table[] = {
        FLAGS_COMMON(&args),
        {"graph", FLAG_STRING, &graph, "view pairs: core (view 0 against the others) or full (every pair)", 0, 0},
        {"objective", FLAG_STRING, &objective, "nce (memory bank per view) or softmax (in-batch)", 0, 0},
        {"k", FLAG_INT, &k, "noise samples per embedding (nce)", 1, 1 << 20},
        FLAG_SGD_LR(&lr),
        FLAG_TAU(&tau),
        {"bank-momentum", FLAG_FLOAT, &momentum, "memory bank momentum (nce)", 0, 0.999},
        FLAG_CROP_MIN(&crop_min),
        {"same-crop", FLAG_BOOL, &same_crop, "derive all views from one augmented copy (--no-same-crop: one copy per view)", 0, 0},
        FLAG_LIMIT(&limit),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "CMC with three views on Fashion-MNIST");
    size_t n_crops = same_crop ? 1 : VIEWS; /* augmented copies per image */
    int graph_id, objective_id;
    parse_choices(graph, objective, &graph_id, &objective_id);

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);
    train_need_pairs("cmc", batch, "");

    /* Handles: runtime, one encoder (and, for NCE, one bank) per view, the CMC loss, one
     * optimiser over every encoder, the augmenter. */
    lct_runtime *rt = train_runtime(&args);

    lct_encoder *enc[VIEWS];
    lct_bank *bank[VIEWS] = {NULL};
    size_t dim = 0;
    lct_loss *loss = new_model(rt, &args, n, graph_id, objective_id, k, tau, enc, bank, &dim);

    /* SGD as the original: momentum 0.9, weight decay 1e-4, lr 0.03 (cosine instead of steps). */
    size_t steps = n / batch;
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, lr, 0.9, 1e-4, (uint64_t)args.epochs * steps, 0);
    for (int v = 0; v < VIEWS; v++) CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc[v])));

    lct_augmenter *aug = new_augmenter(rt, crop_min);

    train_loop l;
    train_loop_init(&l, "cmc", &args, rt, n, steps, batch, data.train.images, PIXELS);
    l.st = (run_state){.method = "cmc", .optimizer = opt, .loss = loss, .augmenter = aug};
    for (int v = 0; v < VIEWS; v++) {
        l.st.encoder[l.st.encoders++] = enc[v];
        if (bank[v]) l.st.bank[l.st.banks++] = bank[v];
    }
    float *train_emb[VIEWS], *test_emb[VIEWS], *x[VIEWS], *f[VIEWS], *df[VIEWS];
    for (int v = 0; v < VIEWS; v++) {
        train_emb[v] = train_alloc("cmc", n * dim * sizeof(float));
        test_emb[v] = train_alloc("cmc", q * dim * sizeof(float));
        x[v] = train_alloc("cmc", batch * view_size[v] * sizeof(float));
        f[v] = train_alloc("cmc", batch * dim * sizeof(float));
        df[v] = train_alloc("cmc", batch * dim * sizeof(float));
    }
    float *train_cat = train_alloc("cmc", n * VIEWS * dim * sizeof *train_cat);
    float *test_cat = train_alloc("cmc", q * VIEWS * dim * sizeof *test_cat);
    float *augmented = train_alloc("cmc", batch * VIEWS * PIXELS * sizeof *augmented);

    /* Baselines: raw pixels and the encoders before training, same kNN protocol. */
    knn_eval ev;
    if (knn_eval_init(&ev, rt, &data, n, q, 0) != 0) train_fail("cmc");
    double untrained[VIEWS + 1], trained[VIEWS + 1];
    evaluate(rt, enc, &ev, dim, train_emb, test_emb, train_cat, test_cat, untrained);
    print_start(&ev, rt, graph, objective, enc, untrained);

    /* Training: augment once, derive the three views, embed each with its encoder, CMC loss over
     * the view pairs, backward through every encoder, SGD step, bank updates (NCE). */
    for (train_loop_begin(&l); train_loop_next(&l);) {
        CHECK(lct_augmenter_apply(aug, l.images, batch, n_crops, augmented));
        for (size_t b = 0; b < batch; b++)
            for (int v = 0; v < VIEWS; v++)
                make_view(v, augmented + (b * n_crops + (size_t)v % n_crops) * PIXELS, x[v] + b * view_size[v]);
        for (int v = 0; v < VIEWS; v++) CHECK(lct_encoder_forward(enc[v], x[v], batch, f[v]));
        float value;
        CHECK(lct_loss_cmc_compute(loss, (const float *const *)f, l.idx, batch, &value, df));
        CHECK(lct_optimizer_zero_grad(opt));
        for (int v = 0; v < VIEWS; v++) CHECK(lct_encoder_backward(enc[v], df[v], batch, NULL));
        CHECK(lct_optimizer_step(opt));
        for (int v = 0; v < VIEWS; v++)
            if (bank[v]) CHECK(lct_bank_update(bank[v], f[v], l.idx, batch, momentum));
        train_loop_step_done(&l, value);
    }
    train_loop_save(&l);

    /* Evaluation: each view's features and their concatenation. */
    evaluate(rt, enc, &ev, dim, train_emb, test_emb, train_cat, test_cat, trained);
    for (int v = 0; v < VIEWS; v++)
        printf("cmc: view %d (%s): kNN %.4f (untrained %.4f)\n", v, view_name[v], trained[v], untrained[v]);
    train_loop_figures(&l, write_figures(args.out, "CMC", l.curve, l.step, test_cat, ev.test_labels, q, VIEWS * dim));
    printf("kNN top-1: %.4f (untrained: %.4f, raw pixels: %.4f)\n", trained[VIEWS], untrained[VIEWS], ev.raw);

    for (int v = 0; v < VIEWS; v++) free(df[v]), free(f[v]), free(x[v]), free(test_emb[v]), free(train_emb[v]);
    free(augmented);
    free(test_cat);
    free(train_cat);
    knn_eval_free(&ev);
    train_loop_free(&l);
    fmnist_free(&data);
    return 0;
}
