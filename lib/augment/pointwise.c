/* Shared by images and signals: additive Gaussian noise, per-channel normalisation, the draw of each op. */
#include "augment_internal.h"

void lct__aug_noise(lct__rng *r, float *x, size_t n, double std, int clamp)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i] + (float)(std * lct__rng_normal(r));
        x[i] = clamp ? lct__aug_clamp01(v) : v;
    }
}

void lct__aug_normalize(const lct_augmenter *aug, float *x, size_t n)
{
    for (size_t ch = 0; ch < aug->c; ch++) {
        const float m = aug->norm_mean[ch], sd = aug->norm_std[ch];
        float *p = x + ch * n;
LCT__SIMD
        for (size_t i = 0; i < n; i++) p[i] = (p[i] - m) / sd;
    }
}

const lct__aug_op *lct__aug_drawn(const lct_augmenter *aug, size_t i, lct__rng *r, float *x, size_t n)
{
    const lct__aug_op *op = &aug->ops[i];
    if (op->kind == LCT__AUG_NORMALIZE) {
        lct__aug_normalize(aug, x, n);
        return NULL;
    }
    return lct__rng_uniform_d(r) < op->p ? op : NULL;
}
