/* Signal transforms of one view: window crop, gain, noise, time mask, time shift, normalise. */
#include <math.h>

#include "augment_internal.h"

void lct__aug_signal_view(const lct_augmenter *aug, lct__rng *r, const float *in, float *out, lct__aug_scratch *s)
{
    (void)s;
    const size_t C = aug->c, T = aug->w, OT = aug->ow;
    size_t first = 0, start = (T - OT) / 2;
    if (aug->n_ops > 0 && aug->ops[0].kind == LCT__AUG_WINDOW) {
        first = 1;
        if (lct__rng_uniform_d(r) < aug->ops[0].p) start = (size_t)lct__rng_below(r, T - OT + 1);
    }
    for (size_t ch = 0; ch < C; ch++) memcpy(out + ch * OT, in + ch * T + start, OT * sizeof(float));
    for (size_t i = first; i < aug->n_ops; i++) {
        const lct__aug_op *op = lct__aug_drawn(aug, i, r, out, OT);
        if (op == NULL) continue;
        switch (op->kind) {
        case LCT__AUG_GAIN: {
            float f = (float)pow(10.0, lct__aug_uniform(r, op->a[0], op->a[1]) / 20.0);
LCT__SIMD
            for (size_t k = 0; k < C * OT; k++) out[k] *= f;
            break;
        }
        case LCT__AUG_NOISE: lct__aug_noise(r, out, C * OT, op->a[0], 0); break;
        case LCT__AUG_MASK: {
            size_t w = (size_t)lct__rng_below(r, (uint64_t)op->a[0] + 1);
            size_t t0 = (size_t)lct__rng_below(r, OT - w + 1);
            for (size_t ch = 0; ch < C; ch++) memset(out + ch * OT + t0, 0, w * sizeof(float));
            break;
        }
        case LCT__AUG_SHIFT: {
            size_t m = (size_t)op->a[0];
            ptrdiff_t sh = (ptrdiff_t)lct__rng_below(r, 2 * (uint64_t)m + 1) - (ptrdiff_t)m;
            size_t a = (size_t)(sh < 0 ? -sh : sh), keep = OT - a;
            for (size_t ch = 0; ch < C; ch++) {
                float *p = out + ch * OT;
                if (sh > 0) {
                    memmove(p + a, p, keep * sizeof(float));
                    memset(p, 0, a * sizeof(float));
                } else if (sh < 0) {
                    memmove(p, p + a, keep * sizeof(float));
                    memset(p + keep, 0, a * sizeof(float));
                }
            }
            break;
        }
        default: break;
        }
    }
}
