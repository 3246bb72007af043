/* Internal layout of the augmenter and the per-view transform kernels. */
#ifndef LCT_AUGMENT_INTERNAL_H
#define LCT_AUGMENT_INTERNAL_H

#include "../core/internal.h"

#define LCT__AUG_MAX_OPS 32
#define LCT__AUG_MAX_DIM 65536u
#define LCT__AUG_MAX_SIGMA 64.0

typedef enum lct__aug_op_kind {
    LCT__AUG_RRC = 1,
    LCT__AUG_HFLIP,
    LCT__AUG_JITTER,
    LCT__AUG_GRAY,
    LCT__AUG_BLUR,
    LCT__AUG_NOISE,
    LCT__AUG_NORMALIZE,
    LCT__AUG_WINDOW,
    LCT__AUG_GAIN,
    LCT__AUG_MASK,
    LCT__AUG_SHIFT
} lct__aug_op_kind;

typedef struct lct__aug_op {
    int kind;
    double p;
    double a[5]; /* parameters in the order of the builder call */
} lct__aug_op;

struct lct_augmenter {
    lct_runtime *rt;
    int input;              /* lct_aug_input */
    size_t c, h, w;         /* input shape (h = 1 for signals) */
    size_t oh, ow;          /* output shape */
    size_t in_count, out_count;
    uint64_t stream;
    uint64_t counter;
    lct__aug_op ops[LCT__AUG_MAX_OPS];
    size_t n_ops;
    float *norm_mean;       /* c floats each, used by the normalise op */
    float *norm_std;
    /* Per-thread scratch, sized on first use and grown only when needed. */
    unsigned char *ws;
    size_t ws_stride;       /* bytes per thread */
    size_t ws_threads;
};

/* Scratch of one thread while it augments one view. */
typedef struct lct__aug_scratch {
    float *tmp;     /* out_count floats */
    float *rows;    /* h x ow floats: source rows resampled along x */
    float *kernel;  /* blur kernel taps */
    int32_t *xi;    /* ow source columns, then oh source rows */
    float *xw;      /* ow column weights, then oh row weights */
} lct__aug_scratch;

/* Bytes of scratch one thread needs for the current pipeline. */
size_t lct__aug_scratch_bytes(const lct_augmenter *aug);
void lct__aug_scratch_bind(const lct_augmenter *aug, unsigned char *block, lct__aug_scratch *s);

/* Produce one view of one sample into out (out_count floats). */
void lct__aug_image_view(const lct_augmenter *aug, lct__rng *r, const void *in, float *out,
                         lct__aug_scratch *s);
void lct__aug_signal_view(const lct_augmenter *aug, lct__rng *r, const float *in, float *out,
                          lct__aug_scratch *s);

/* x <- x + std * N(0,1) per element, clamped to [0,1] when clamp is set. */
void lct__aug_noise(lct__rng *r, float *x, size_t n, double std, int clamp);
/* x <- (x - mean[c]) / std[c] for every channel plane of n values. */
void lct__aug_normalize(const lct_augmenter *aug, float *x, size_t n);
/* Op i of the pipeline for a view x of n values per channel plane: the normalisation is applied here
 * (NULL); any other op is returned if its draw against its probability says so, else NULL. */
const lct__aug_op *lct__aug_drawn(const lct_augmenter *aug, size_t i, lct__rng *r, float *x, size_t n);

/* Written so that compilers emit maxss/minss and vectorise loops around it. */
static inline float lct__aug_clamp01(float x)
{
    x = x > 0.0f ? x : 0.0f;
    return x < 1.0f ? x : 1.0f;
}

/* Uniform double in [lo, hi]. */
static inline double lct__aug_uniform(lct__rng *r, double lo, double hi)
{
    return lo + (hi - lo) * lct__rng_uniform_d(r);
}

#endif
