#define _GNU_SOURCE
#include "train.h"

#include <errno.h>
#include <libcontrast/libcontrast.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void train_die(const char *call, int status)
{
    fprintf(stderr, "%s: %s failed: %s (%s)\n", program_invocation_short_name, call, lct_error_last(),
            lct_status_string(status));
    exit(1);
}

void train_fail(const char *name)
{
    fprintf(stderr, "%s: %s\n", name, ex_error());
    exit(1);
}

void *train_alloc(const char *name, size_t bytes)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    if (p == NULL) {
        fprintf(stderr, "%s: out of memory\n", name);
        exit(1);
    }
    return p;
}

void train_gather(uint8_t *dst, const uint8_t *source, const int64_t *idx, size_t count, size_t size)
{
    for (size_t i = 0; i < count; i++) memcpy(dst + i * size, source + (size_t)idx[i] * size, size);
}

lct_optimizer *train_optimizer(lct_runtime *rt, int kind, double lr, double momentum, double weight_decay,
                               uint64_t total_steps, uint64_t warmup)
{
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = kind;
    oo.lr = lr;
    oo.momentum = momentum;
    oo.weight_decay = weight_decay;
    oo.schedule = LCT_SCHEDULE_COSINE;
    oo.total_steps = total_steps;
    oo.warmup_steps = warmup < total_steps ? warmup : 0;
    lct_optimizer *opt;
    CHECK(lct_optimizer_new(&opt, rt, &oo));
    return opt;
}

int train_negatives(const char *name)
{
    return strcmp(name, "batch") == 0      ? LCT_INFONCE_BATCH
           : strcmp(name, "all") == 0      ? LCT_INFONCE_ALL
           : strcmp(name, "sequence") == 0 ? LCT_INFONCE_SEQUENCE
                                           : -1;
}

lct_loss *train_infonce(lct_runtime *rt, size_t t, size_t d, size_t h, int steps, int negatives)
{
    lct_loss_infonce_options lo;
    lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    lo.steps = (uint32_t)steps;
    lo.negatives = negatives;
    lct_loss *loss;
    CHECK(lct_loss_new_infonce(&loss, rt, t, d, h, &lo));
    return loss;
}

void train_shuffle(int64_t *order, size_t n, uint64_t seed, int epoch)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch * 0xBF58476D1CE4E5B9ull + 1;
    for (size_t i = 0; i < n; i++) order[i] = (int64_t)i;
    for (size_t i = n - 1; i > 0 && n > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t j = (size_t)(s % (i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

void train_load_data(const example_args *args, int limit, fmnist *data, size_t *n, size_t *q, size_t *batch)
{
    if (fmnist_load(args->data, data) != 0) {
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, ex_error());
        exit(1);
    }
    *n = data->train.n;
    *q = data->test.n;
    if (limit > 0) {
        *n = (size_t)limit < *n ? (size_t)limit : *n;
        *q = (size_t)limit < *q ? (size_t)limit : *q;
    }
    *batch = (size_t)args->batch < *n ? (size_t)args->batch : *n;
}

void train_need_pairs(const char *name, size_t batch, const char *why)
{
    if (batch >= 2) return;
    fprintf(stderr, "%s: the batch needs at least 2 images%s\n", name, why);
    exit(FLAGS_ERROR);
}

lct_runtime *train_runtime(const example_args *args)
{
    lct_runtime_options ro;
    lct_runtime_options_init(&ro, LCT_RUNTIME_OPTIONS_VERSION);
    ro.threads = (uint32_t)args->threads;
    ro.seed = args->seed;
    lct_runtime *rt;
    CHECK(lct_runtime_new(&rt, &ro));
    return rt;
}

lct_encoder *train_encoder(lct_runtime *rt, const char *spec, const example_args *args)
{
    lct_encoder *enc;
    CHECK(lct_encoder_new_from_spec(&enc, rt, spec, NULL));
    if (args->bf16) CHECK(lct_encoder_set_precision(enc, LCT_PRECISION_BF16));
    return enc;
}

lct_augmenter *train_image_augmenter(lct_runtime *rt)
{
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.input = LCT_AUG_IMAGE_U8;
    ao.channels = 1;
    ao.height = ao.width = 28;
    lct_augmenter *aug;
    CHECK(lct_augmenter_new(&aug, rt, &ao));
    return aug;
}

lct_augmenter *train_augmenter(lct_runtime *rt, const train_aug *a)
{
    if (a->crop_min > a->crop_max) {
        fprintf(stderr, "%s: --crop-min %g is above --crop-max %g\n", program_invocation_short_name,
                (double)a->crop_min, (double)a->crop_max);
        exit(FLAGS_ERROR);
    }
    lct_augmenter *aug = train_image_augmenter(rt);
    if (a->crop_min < 1.0f)
        CHECK(lct_augmenter_add_random_resized_crop(aug, 1.0, a->crop_min, a->crop_max, 3.0 / 4.0, 4.0 / 3.0));
    if (a->jitter > 0 && a->jitter_p > 0)
        CHECK(lct_augmenter_add_color_jitter(aug, a->jitter_p, a->jitter, a->jitter, 0, 0));
    if (a->flip > 0) CHECK(lct_augmenter_add_hflip(aug, a->flip));
    return aug;
}
