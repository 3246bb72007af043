/*
 * instdisc_steps: the losses of a few InstDisc steps on synthetic images, one per line, for the
 * Python binding's test to compare with the same steps taken through ctypes (tests/python/test_training.py).
 * Same handles and calls in the same order as examples/instdisc.c, on a small encoder.
 *
 *   instdisc_steps [THREADS]
 */
#include <libcontrast/libcontrast.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define N 64
#define BATCH 16
#define EPOCHS 2
#define K 32
#define SEED 7

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0) {                                                                             \
            fprintf(stderr, "instdisc_steps: %s failed: %s\n", #call, lct_error_last());           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static const char *spec = "in 1x28x28; conv2d 8 k3 p1; bn; relu; maxpool 2; flatten; linear 32; l2norm";

static void shuffle(int64_t *order, size_t n, uint64_t seed, int epoch)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch * 0xBF58476D1CE4E5B9ull + 1;
    for (size_t i = 0; i < n; i++) order[i] = (int64_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t j = (size_t)(s % (i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int main(int argc, char **argv)
{
    static uint8_t data[N * PIXELS], images[BATCH * PIXELS];
    static float x[BATCH * PIXELS], f[BATCH * 32], df[BATCH * 32];
    int64_t order[N];
    for (size_t b = 0; b < N; b++)
        for (size_t p = 0; p < PIXELS; p++) data[b * PIXELS + p] = (uint8_t)((b * 131 + p * 7 + (b * p) % 13) % 256);

    lct_runtime_options ro;
    lct_runtime_options_init(&ro, LCT_RUNTIME_OPTIONS_VERSION);
    ro.threads = argc > 1 ? (uint32_t)atoi(argv[1]) : 1;
    ro.seed = SEED;
    lct_runtime *rt;
    CHECK(lct_runtime_new(&rt, &ro));
    lct_encoder *enc;
    CHECK(lct_encoder_new_from_spec(&enc, rt, spec, NULL));
    size_t dim;
    CHECK(lct_encoder_output_size(enc, &dim));
    lct_bank *bank;
    CHECK(lct_bank_new(&bank, rt, N, dim, NULL));
    lct_loss_nce_options lo;
    lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION);
    lo.k = K;
    lct_loss *loss;
    CHECK(lct_loss_new_nce(&loss, rt, bank, &lo));
    CHECK(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.07f));
    size_t steps = N / BATCH;
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = LCT_OPTIMIZER_SGD;
    oo.lr = 0.03f;
    oo.momentum = 0.9;
    oo.weight_decay = 5e-4;
    oo.schedule = LCT_SCHEDULE_COSINE;
    oo.total_steps = EPOCHS * steps;
    lct_optimizer *opt;
    CHECK(lct_optimizer_new(&opt, rt, &oo));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.input = LCT_AUG_IMAGE_U8;
    ao.channels = 1;
    ao.height = ao.width = SIDE;
    lct_augmenter *aug;
    CHECK(lct_augmenter_new(&aug, rt, &ao));
    CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC));

    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        shuffle(order, N, SEED, epoch);
        for (size_t s = 0; s < steps; s++) {
            const int64_t *idx = order + s * BATCH;
            for (size_t b = 0; b < BATCH; b++) memcpy(images + b * PIXELS, data + idx[b] * PIXELS, PIXELS);
            CHECK(lct_augmenter_apply(aug, images, BATCH, 1, x));
            CHECK(lct_encoder_forward(enc, x, BATCH, f));
            float value;
            CHECK(lct_loss_nce_compute(loss, f, idx, BATCH, &value, df));
            CHECK(lct_optimizer_zero_grad(opt));
            CHECK(lct_encoder_backward(enc, df, BATCH, NULL));
            CHECK(lct_optimizer_step(opt));
            CHECK(lct_bank_update(bank, f, idx, BATCH, 0.5f));
            printf("%.9g\n", value);
        }
    }
    lct_augmenter_free(aug);
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    return 0;
}
