/* Pieces every training program shares: failing loudly on a library error, and the epoch shuffle. */
#ifndef LCT_EXAMPLES_TRAIN_H
#define LCT_EXAMPLES_TRAIN_H

#include <libcontrast/libcontrast.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "idx.h"

/* Print "<program>: <call> failed: <library message> (<status>)" to stderr and exit with 1. */
void train_die(const char *call, int status) __attribute__((noreturn));

/* Run a libcontrast call; on a negative status, report it and exit (the examples' error policy). */
#define CHECK(call)                           \
    do {                                      \
        int rc_ = (call);                     \
        if (rc_ < 0) train_die(#call, rc_);   \
    } while (0)

/* Print "<name>: <message of the last failing helper, ex_error()>" to stderr and exit with 1. */
void train_fail(const char *name) __attribute__((noreturn));

/* malloc(bytes) (at least 1 byte); on failure print "<name>: out of memory" and exit with 1. */
void *train_alloc(const char *name, size_t bytes);

/* Copy the samples idx[0..count) of `source` (rows of `size` bytes) to dst, one after the other. */
void train_gather(uint8_t *dst, const uint8_t *source, const int64_t *idx, size_t count, size_t size);

/* An optimiser of `kind` (LCT_OPTIMIZER_SGD or _ADAM) with learning rate lr on a cosine schedule over
 * total_steps, after `warmup` steps of linear warm-up (ignored unless below total_steps), and SGD's
 * momentum and weight decay. Reports and exits with 1 if the library call fails. */
lct_optimizer *train_optimizer(lct_runtime *rt, int kind, double lr, double momentum, double weight_decay,
                               uint64_t total_steps, uint64_t warmup);

/* The InfoNCE candidates named by --negatives ("batch", "all", "sequence") as LCT_INFONCE_*; -1 for
 * any other name. */
int train_negatives(const char *name);

/* InfoNCE (CPC) over sequences of t latents of width d and contexts of width h, predicting `steps`
 * ahead among the `negatives` (LCT_INFONCE_*). Reports and exits with 1 if the library call fails. */
lct_loss *train_infonce(lct_runtime *rt, size_t t, size_t d, size_t h, int steps, int negatives);

/* A reproducible shuffle of 0..n-1 for (seed, epoch): the host's own randomness (xorshift64 + Fisher-Yates). */
void train_shuffle(int64_t *order, size_t n, uint64_t seed, int epoch);

/*
 * Load Fashion-MNIST from args->data, keep the first `limit` train and test images (0: all) in
 * *n and *q, and clamp args->batch to *n in *batch. Reports and exits with 1 if loading fails.
 */
void train_load_data(const example_args *args, int limit, fmnist *data, size_t *n, size_t *q, size_t *batch);

/* Exit with 2 and "<name>: the batch needs at least 2 images<why>" when batch < 2 (methods whose
 * negatives are the batch's other images). */
void train_need_pairs(const char *name, size_t batch, const char *why);

/*
 * The image augmentation of a training program, as flags: a random resized crop of area fraction
 * U[crop_min, crop_max] (aspect ratio 3/4..4/3), colour jitter of strength `jitter` (brightness,
 * contrast; saturation and hue are no-ops on grey images) applied with probability `jitter_p`,
 * and a horizontal flip with probability `flip`. 0 disables a transform.
 */
typedef struct train_aug {
    float crop_min, crop_max;
    float jitter, jitter_p;
    float flip;
} train_aug;

/* Table entries that several training programs share word for word. */
#define FLAG_LIMIT(p) {"limit", FLAG_INT, (p), "use only the first N train and test images (0: all)", 0, 1 << 30}
#define FLAG_SGD_LR(p) {"lr", FLAG_FLOAT, (p), "SGD learning rate (cosine schedule)", 1e-6, 10}
#define FLAG_TAU(p) {"tau", FLAG_FLOAT, (p), "temperature", 1e-3, 10}
#define FLAG_SPEC(p) {"spec", FLAG_STRING, (p), "encoder spec (docs/encoder.md)", 0, 0}
#define FLAG_CROP_MIN(p) \
    {"crop-min", FLAG_FLOAT, (p), "smallest area fraction of the random crop (largest: 1)", 0.01, 1}

/* Table entries for a train_aug's flags. */
#define FLAGS_AUG(a)                                                                                     \
    {"crop-min", FLAG_FLOAT, &(a)->crop_min, "smallest area fraction of the random crop", 0.01, 1},       \
    {"crop-max", FLAG_FLOAT, &(a)->crop_max, "largest area fraction of the random crop", 0.01, 1},        \
    {"jitter", FLAG_FLOAT, &(a)->jitter, "colour jitter strength (0: none)", 0, 1},                       \
    {"jitter-p", FLAG_FLOAT, &(a)->jitter_p, "probability of the colour jitter", 0, 1},                   \
    {"flip", FLAG_FLOAT, &(a)->flip, "probability of a horizontal flip", 0, 1}

/* An empty augmenter of uint8 grey 28 x 28 images (Fashion-MNIST), for a program to add its own
 * pipeline to; exits with 1 if the library call fails. */
lct_augmenter *train_image_augmenter(lct_runtime *rt);

/*
 * A uint8 grey 28 x 28 augmenter with the pipeline of `a` (crop first, then jitter, then flip).
 * Reports and exits with 2 if crop_min > crop_max, with 1 if a library call fails.
 */
lct_augmenter *train_augmenter(lct_runtime *rt, const train_aug *a);

/* The runtime of a training program, with args->threads and args->seed; reports and exits on failure. */
lct_runtime *train_runtime(const example_args *args);

/* An encoder from `spec`, in bf16 precision if args->bf16; reports and exits with 1 on failure (also
 * when the CPU has no AMX-BF16 tiles for --bf16). */
lct_encoder *train_encoder(lct_runtime *rt, const char *spec, const example_args *args);

#endif
