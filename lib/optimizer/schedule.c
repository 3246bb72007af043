/* Learning-rate schedules: constant, step milestones, cosine; all with an optional linear warm-up. */
#include <math.h>

#include "optimizer_internal.h"

int lct__schedule_check(const lct_optimizer_options *o, const uint64_t *milestones, size_t n, const char *func)
{
    if (o->schedule < LCT_SCHEDULE_CONSTANT || o->schedule > LCT_SCHEDULE_COSINE)
        return lct__fail(LCT_EINVAL, func, "schedule is %d; it must be 0 (constant), 1 (step) or 2 (cosine)",
                         (int)o->schedule);
    if (o->schedule == LCT_SCHEDULE_COSINE && o->total_steps <= o->warmup_steps)
        return lct__fail(LCT_EINVAL, func, "cosine schedule: total_steps (%llu) must exceed warmup_steps (%llu)",
                         (unsigned long long)o->total_steps, (unsigned long long)o->warmup_steps);
    if (!(o->min_lr >= 0.0 && o->min_lr <= 1e6))
        return lct__fail(LCT_EINVAL, func, "min_lr is %g; it must be in [0, 1e6]", o->min_lr);
    if (!(o->gamma > 0.0 && o->gamma <= 1e6))
        return lct__fail(LCT_EINVAL, func, "gamma is %g; it must be in (0, 1e6]", o->gamma);
    if (n > LCT__MAX_MILESTONES)
        return lct__fail(LCT_EINVAL, func, "%zu milestones; at most %d", n, LCT__MAX_MILESTONES);
    if (n > 0 && milestones == NULL) return lct__fail(LCT_EINVAL, func, "milestones is NULL but n_milestones is %zu", n);
    for (size_t i = 1; i < n; i++)
        if (milestones[i] <= milestones[i - 1])
            return lct__fail(LCT_EINVAL, func, "milestones[%zu] (%llu) is not greater than milestones[%zu] (%llu)", i,
                             (unsigned long long)milestones[i], i - 1, (unsigned long long)milestones[i - 1]);
    return LCT_OK;
}

double lct__schedule_lr(const lct_optimizer *opt, uint64_t s)
{
    const lct_optimizer_options *o = &opt->o;
    double base = o->lr;
    if (o->warmup_steps > 0 && s < o->warmup_steps) return base * (double)(s + 1) / (double)o->warmup_steps;
    switch (o->schedule) {
    case LCT_SCHEDULE_STEP: {
        double lr = base;
        for (size_t i = 0; i < o->n_milestones; i++)
            if (opt->milestones[i] <= s) lr *= o->gamma;
        return lr;
    }
    case LCT_SCHEDULE_COSINE: {
        double span = (double)(o->total_steps - o->warmup_steps);
        double t = (double)(s - o->warmup_steps);
        if (t > span) t = span;
        return o->min_lr + (base - o->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * t / span));
    }
    default: return base;
    }
}
