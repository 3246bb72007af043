/* The optimiser handle: options, attaching parameter sets, state as a parameter set, step. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>

#include "optimizer_internal.h"
#include "../comm/comm.h"

#define NAME_SLOT 96

int lct_optimizer_options_init(lct_optimizer_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_optimizer_options, opts, version, LCT__OPT_OPTIMIZER,
                          .kind = LCT_OPTIMIZER_SGD, .lr = 0.01, .decay_all = 1,
                          .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                          .schedule = LCT_SCHEDULE_CONSTANT, .gamma = 0.1);
}

static const struct {
    const char *name;
    double lo, hi;
    int lo_open, hi_open;
} bounds[] = {
    [LCT_OPTIMIZER_LR] = {"lr", 0.0, 1e6, 1, 0},
    [LCT_OPTIMIZER_MOMENTUM] = {"momentum", 0.0, 1.0, 0, 1},
    [LCT_OPTIMIZER_WEIGHT_DECAY] = {"weight_decay", 0.0, 1e6, 0, 0},
    [LCT_OPTIMIZER_BETA1] = {"beta1", 0.0, 1.0, 0, 1},
    [LCT_OPTIMIZER_BETA2] = {"beta2", 0.0, 1.0, 0, 1},
    [LCT_OPTIMIZER_EPS] = {"eps", 0.0, 1.0, 1, 0},
    [LCT_OPTIMIZER_MIN_LR] = {"min_lr", 0.0, 1e6, 0, 0},
    [LCT_OPTIMIZER_GAMMA] = {"gamma", 0.0, 1e6, 1, 0},
    [LCT_OPTIMIZER_WARMUP_STEPS] = {"warmup_steps", 0.0, 9007199254740992.0, 0, 0},
    [LCT_OPTIMIZER_TOTAL_STEPS] = {"total_steps", 0.0, 9007199254740992.0, 0, 0},
    [LCT_OPTIMIZER_SCHEDULE] = {"schedule", 0.0, 2.0, 0, 0},
};
#define N_PARAMS ((int)(sizeof bounds / sizeof *bounds))

static int in_bounds(int param, double v)
{
    if (!isfinite(v)) return 0;
    if (bounds[param].lo_open ? !(v > bounds[param].lo) : !(v >= bounds[param].lo)) return 0;
    if (bounds[param].hi_open ? !(v < bounds[param].hi) : !(v <= bounds[param].hi)) return 0;
    return 1;
}

int lct_optimizer_param_bounds(int param, double *lower, double *upper)
{
    if (param < 0 || param >= N_PARAMS) return LCT__FAIL(LCT_EINVAL, "param is %d; it must be 0..%d", param, N_PARAMS - 1);
    if (lower) *lower = bounds[param].lo;
    if (upper) *upper = bounds[param].hi;
    return LCT_OK;
}

/* Validate every option; returns an error naming the field. */
static int check_options(const lct_optimizer_options *o, const char *func)
{
    if (o->kind < LCT_OPTIMIZER_SGD || o->kind > LCT_OPTIMIZER_ADAMW)
        return lct__fail(LCT_EINVAL, func, "opts->kind is %d; it must be 0 (SGD), 1 (Adam) or 2 (AdamW)", (int)o->kind);
    const struct {
        int param;
        double v;
    } checks[] = {{LCT_OPTIMIZER_LR, o->lr},       {LCT_OPTIMIZER_MOMENTUM, o->momentum},
                  {LCT_OPTIMIZER_WEIGHT_DECAY, o->weight_decay}, {LCT_OPTIMIZER_BETA1, o->beta1},
                  {LCT_OPTIMIZER_BETA2, o->beta2}, {LCT_OPTIMIZER_EPS, o->eps}};
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (!in_bounds(checks[i].param, checks[i].v))
            return lct__fail(LCT_EINVAL, func, "opts->%s is %g; it must be in %c%g, %g%c", bounds[checks[i].param].name,
                             checks[i].v, bounds[checks[i].param].lo_open ? '(' : '[', bounds[checks[i].param].lo,
                             bounds[checks[i].param].hi, bounds[checks[i].param].hi_open ? ')' : ']');
    if (!(o->dampening >= 0.0 && o->dampening <= 1.0))
        return lct__fail(LCT_EINVAL, func, "opts->dampening is %g; it must be in [0, 1]", o->dampening);
    if (o->nesterov != 0 && o->nesterov != 1)
        return lct__fail(LCT_EINVAL, func, "opts->nesterov is %d; it must be 0 or 1", (int)o->nesterov);
    if (o->nesterov && (o->momentum <= 0.0 || o->dampening != 0.0))
        return lct__fail(LCT_EINVAL, func, "opts->nesterov needs momentum > 0 (got %g) and dampening 0 (got %g)",
                         o->momentum, o->dampening);
    if (o->decay_all != 0 && o->decay_all != 1)
        return lct__fail(LCT_EINVAL, func, "opts->decay_all is %d; it must be 0 or 1", (int)o->decay_all);
    return lct__schedule_check(o, o->milestones, o->n_milestones, func);
}

int lct_optimizer_new(lct_optimizer **out, lct_runtime *rt, const lct_optimizer_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_optimizer_options local;
    LCT__OPTIONS_COPY(LCT__OPT_OPTIMIZER, lct_optimizer_options_init, local, opts);
    int rc = check_options(opts, __func__);
    if (rc) return rc;
    lct_optimizer *opt = lct__calloc(rt, 1, sizeof *opt);
    if (opt == NULL) return LCT__FAIL(LCT_ENOMEM, "cannot allocate the optimiser");
    opt->rt = rt;
    opt->o = *opts;
    opt->o.version = LCT_OPTIMIZER_OPTIONS_VERSION;
    if (opts->n_milestones) memcpy(opt->milestones, opts->milestones, opts->n_milestones * sizeof(uint64_t));
    opt->o.milestones = NULL; /* the copy lives in opt->milestones */
    opt->state.rt = rt;
    opt->buffers = opts->kind == LCT_OPTIMIZER_SGD ? (opts->momentum > 0.0 ? 1 : 0) : 2;
    *out = opt;
    return LCT_OK;
}

void lct_optimizer_free(lct_optimizer *opt)
{
    if (opt == NULL) return;
    for (size_t i = 0; i < opt->n_sets; i++) {
        lct__free(opt->rt, opt->sets[i].store);
        lct__free(opt->rt, opt->sets[i].names);
    }
    lct__free(opt->rt, opt->sets);
    lct__free(opt->rt, opt->state.tensors);
    lct__free(opt->rt, opt->bucket);
    lct__free(opt->rt, opt);
}

int lct_optimizer_attach(lct_optimizer *opt, lct_params *params)
{
    LCT__REQUIRE(opt);
    LCT__REQUIRE(params);
    if (params->rt != opt->rt)
        return LCT__FAIL(LCT_EMISMATCH, "params belong to another runtime than the optimiser");
    if (opt->step > 0)
        return LCT__FAIL(LCT_ESTATE, "the optimiser has taken %llu step(s); attach every set before the first",
                         (unsigned long long)opt->step);
    for (size_t i = 0; i < opt->n_sets; i++)
        if (opt->sets[i].p == params) return LCT__FAIL(LCT_EINVAL, "params is already attached (as set %zu)", i);
    lct_runtime *rt = opt->rt;
    size_t nb = opt->buffers, ntrain = 0, floats = 0;
    for (size_t i = 0; i < params->n_tensors; i++)
        if (params->tensors[i].grad) {
            ntrain++;
            floats += ((params->tensors[i].count + 15) & ~(size_t)15) * nb;
        }
    size_t nstate = ntrain * nb;
    lct__opt_set *sets = lct__malloc(rt, (opt->n_sets + 1) * sizeof *sets);
    lct__tensor *tensors = lct__malloc(rt, (opt->state.n_tensors + nstate + 1) * sizeof *tensors);
    float *store = floats ? lct__calloc(rt, floats, sizeof(float)) : NULL;
    char *names = nstate ? lct__calloc(rt, nstate, NAME_SLOT) : NULL;
    if (!sets || !tensors || (floats && !store) || (nstate && !names)) {
        lct__free(rt, sets);
        lct__free(rt, tensors);
        lct__free(rt, store);
        lct__free(rt, names);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate %zu floats of optimiser state", floats);
    }
    static const char *const suffix[2][2] = {{"momentum", ""}, {"exp_avg", "exp_avg_sq"}};
    size_t base = opt->state.n_tensors, k = 0;
    if (base) memcpy(tensors, opt->state.tensors, base * sizeof *tensors);
    float *q = store;
    for (size_t i = 0; i < params->n_tensors; i++) {
        const lct__tensor *t = &params->tensors[i];
        if (!t->grad) continue;
        for (size_t b = 0; b < nb; b++, k++) {
            char *name = names + k * NAME_SLOT;
            snprintf(name, NAME_SLOT, "%zu.%s.%s", opt->n_sets, t->name, suffix[nb == 2][b]);
            tensors[base + k] = (lct__tensor){.name = name, .value = q, .count = t->count};
            q += (t->count + 15) & ~(size_t)15;
        }
    }
    if (opt->n_sets) memcpy(sets, opt->sets, opt->n_sets * sizeof *sets);
    sets[opt->n_sets] = (lct__opt_set){params, base, store, names};
    lct__free(rt, opt->sets);
    opt->sets = sets;
    opt->n_sets++;
    lct__free(rt, opt->state.tensors);
    opt->state.tensors = tensors;
    opt->state.n_tensors = base + nstate;
    return LCT_OK;
}

/* ---- update kernels (PyTorch's formulas, in float) --------------------------- */

LCT__VEC static void sgd_plain(size_t n, float *p, const float *g, float lr, float wd)
{
    for (size_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
}

LCT__VEC static void sgd_momentum(size_t n, float *p, const float *g, float *buf, float lr, float wd, float mu,
                                      float damp, int first, int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        float b = first ? d : mu * buf[i] + (1.0f - damp) * d;
        buf[i] = b;
        p[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

LCT__VEC static void adam(size_t n, float *p, const float *g, float *m, float *v, float lr_bc1, float inv_sqrt_bc2,
                              float b1, float b2, float eps, float wd, float decoupled)
{
    for (size_t i = 0; i < n; i++) {
        float pv = p[i] * decoupled;
        float d = g[i] + wd * pv;
        float mi = m[i] * b1 + d * (1.0f - b1);
        float vi = v[i] * b2 + d * d * (1.0f - b2);
        m[i] = mi;
        v[i] = vi;
        p[i] = pv - lr_bc1 * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

#define BLK 32768

typedef struct {
    const float *x;
    size_t n;
    atomic_int ok;
} finite_ctx;

static void finite_blocks(void *ctx, size_t b0, size_t b1, size_t slot)
{
    finite_ctx *c = ctx;
    const float *x = c->x;
    const size_t n = c->n;
    int ok = 1;
    (void)slot;
    for (size_t b = b0; b < b1; b++) {
        size_t i0 = b * BLK, len = i0 + BLK < n ? BLK : n - i0;
        ok = ok && lct__all_finite(x + i0, len);
    }
    if (!ok) atomic_store_explicit(&c->ok, 0, memory_order_relaxed);
}

/* lct__all_finite over blocks in parallel; a logical AND does not depend on the order. */
static int finite_par(lct_runtime *rt, int threads, const float *x, size_t n)
{
    size_t nblk = (n + BLK - 1) / BLK;
    finite_ctx c = {x, n, 1};
    atomic_init(&c.ok, 1);
    lct__parallel(rt, nblk > 1 ? threads : 1, nblk, 1, finite_blocks, &c);
    return atomic_load(&c.ok);
}

/* One tensor's update, block by block (blocks of BLK floats, each updated on its own). */
typedef struct {
    const lct_optimizer_options *o;
    lct__tensor *tn;
    float *b0, *b1;
    size_t n;
    double lr;
    float wd, lr_bc1, inv_sqrt_bc2;
    int first;
} step_ctx;

static void step_blocks(void *ctx, size_t bk0, size_t bk1, size_t slot)
{
    const step_ctx *c = ctx;
    const lct_optimizer_options *o = c->o;
    const lct__tensor *tn = c->tn;
    float *b0 = c->b0, *b1 = c->b1;
    const size_t n = c->n;
    const double lr = c->lr;
    const float wd = c->wd, lr_bc1 = c->lr_bc1, inv_sqrt_bc2 = c->inv_sqrt_bc2;
    const int first = c->first;
    (void)slot;
    for (size_t bk = bk0; bk < bk1; bk++) {
        size_t i0 = bk * BLK, len = i0 + BLK < n ? BLK : n - i0;
        float *pv = tn->value + i0;
        const float *g = tn->grad + i0;
        if (o->kind == LCT_OPTIMIZER_SGD) {
            if (b0)
                sgd_momentum(len, pv, g, b0 + i0, (float)lr, wd, (float)o->momentum, (float)o->dampening, first,
                             o->nesterov);
            else
                sgd_plain(len, pv, g, (float)lr, wd);
        } else if (o->kind == LCT_OPTIMIZER_ADAM) {
            adam(len, pv, g, b0 + i0, b1 + i0, lr_bc1, inv_sqrt_bc2, (float)o->beta1, (float)o->beta2,
                 (float)o->eps, wd, 1.0f);
        } else {
            adam(len, pv, g, b0 + i0, b1 + i0, lr_bc1, inv_sqrt_bc2, (float)o->beta1, (float)o->beta2,
                 (float)o->eps, 0.0f, 1.0f - (float)(lr * wd));
        }
    }
}

int lct_optimizer_step(lct_optimizer *opt)
{
    LCT__REQUIRE(opt);
    if (opt->n_sets == 0) return LCT__FAIL(LCT_ESTATE, "no parameter set is attached");
    int threads = lct__threads(opt->rt);
    for (size_t s = 0; s < opt->n_sets; s++)
        for (size_t i = 0; i < opt->sets[s].p->n_tensors; i++) lct__grad_settle(&opt->sets[s].p->tensors[i]);
    int rc = lct__optimizer_allreduce(opt, __func__);
    if (rc) return rc;
    /* a gradient its owner checked as it wrote it is not scanned again, unless the ranks' sum changed it */
    int trust = !lct__comm_active(opt->comm);
    for (size_t s = 0; s < opt->n_sets; s++) {
        const lct_params *p = opt->sets[s].p;
        for (size_t i = 0; i < p->n_tensors; i++)
            if (p->tensors[i].grad && !(trust && p->tensors[i].grad_finite && *p->tensors[i].grad_finite) &&
                !finite_par(opt->rt, threads, p->tensors[i].grad, p->tensors[i].count))
                return LCT__FAIL(LCT_ENUMERIC, "the gradient of '%s' (set %zu) holds NaN or Inf; nothing was updated",
                                 p->tensors[i].name, s);
    }
    const lct_optimizer_options *o = &opt->o;
    double lr = lct__schedule_lr(opt, opt->step);
    double t = (double)(opt->step + 1);
    float lr_bc1 = (float)(lr / (1.0 - pow(o->beta1, t)));
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(o->beta2, t)));
    int first = opt->step == 0;
    for (size_t s = 0; s < opt->n_sets; s++) {
        lct_params *p = opt->sets[s].p;
        size_t k = opt->sets[s].first_state;
        for (size_t i = 0; i < p->n_tensors; i++) {
            lct__tensor *tn = &p->tensors[i];
            if (!tn->grad) continue;
            float wd = (o->decay_all || !tn->no_decay) ? (float)o->weight_decay : 0.0f;
            float *b0 = opt->buffers ? opt->state.tensors[k].value : NULL;
            float *b1 = opt->buffers == 2 ? opt->state.tensors[k + 1].value : NULL;
            k += opt->buffers;
            size_t n = tn->count, nblk = (n + BLK - 1) / BLK;
            step_ctx c = {o, tn, b0, b1, n, lr, wd, lr_bc1, inv_sqrt_bc2, first};
            lct__parallel(opt->rt, nblk > 1 ? threads : 1, nblk, 1, step_blocks, &c);
        }
        p->version++;
    }
    opt->step++;
    return LCT_OK;
}

int lct_optimizer_zero_grad(lct_optimizer *opt)
{
    LCT__REQUIRE(opt);
    for (size_t s = 0; s < opt->n_sets; s++) lct__params_zero_grads(opt->sets[s].p, lct__threads(opt->rt));
    return LCT_OK;
}

int lct_optimizer_lr(const lct_optimizer *opt, double *lr)
{
    LCT__REQUIRE(opt);
    LCT__REQUIRE(lr);
    *lr = lct__schedule_lr(opt, opt->step);
    return LCT_OK;
}

int lct_optimizer_step_count(const lct_optimizer *opt, uint64_t *step)
{
    LCT__GET(opt, step, opt->step);
}

int lct_optimizer_set_step_count(lct_optimizer *opt, uint64_t step)
{
    LCT__SET(opt, step, step);
}

int lct_optimizer_set_param(lct_optimizer *opt, int param, double value)
{
    LCT__REQUIRE(opt);
    if (param < 0 || param >= N_PARAMS) return LCT__FAIL(LCT_EINVAL, "param is %d; it must be 0..%d", param, N_PARAMS - 1);
    if (!in_bounds(param, value))
        return LCT__FAIL(LCT_ERANGE, "%s = %g is outside %c%g, %g%c", bounds[param].name, value,
                         bounds[param].lo_open ? '(' : '[', bounds[param].lo, bounds[param].hi,
                         bounds[param].hi_open ? ')' : ']');
    lct_optimizer_options o = opt->o;
    switch (param) {
    case LCT_OPTIMIZER_LR: o.lr = value; break;
    case LCT_OPTIMIZER_MOMENTUM:
        if (o.kind == LCT_OPTIMIZER_SGD && (value > 0.0) != (opt->buffers == 1))
            return LCT__FAIL(LCT_ERANGE, "momentum = %g: an SGD optimiser created %s momentum cannot switch it %s", value,
                             opt->buffers ? "with" : "without", opt->buffers ? "off" : "on");
        o.momentum = value;
        break;
    case LCT_OPTIMIZER_WEIGHT_DECAY: o.weight_decay = value; break;
    case LCT_OPTIMIZER_BETA1: o.beta1 = value; break;
    case LCT_OPTIMIZER_BETA2: o.beta2 = value; break;
    case LCT_OPTIMIZER_EPS: o.eps = value; break;
    case LCT_OPTIMIZER_MIN_LR: o.min_lr = value; break;
    case LCT_OPTIMIZER_GAMMA: o.gamma = value; break;
    case LCT_OPTIMIZER_WARMUP_STEPS: o.warmup_steps = (uint64_t)value; break;
    case LCT_OPTIMIZER_TOTAL_STEPS: o.total_steps = (uint64_t)value; break;
    case LCT_OPTIMIZER_SCHEDULE:
        if (value != floor(value)) return LCT__FAIL(LCT_ERANGE, "schedule = %g is not an integer", value);
        o.schedule = (int32_t)value;
        break;
    }
    if ((param == LCT_OPTIMIZER_WARMUP_STEPS || param == LCT_OPTIMIZER_TOTAL_STEPS) && value != floor(value))
        return LCT__FAIL(LCT_ERANGE, "%s = %g is not an integer", bounds[param].name, value);
    if (o.nesterov && o.momentum <= 0.0)
        return LCT__FAIL(LCT_ERANGE, "momentum = %g: Nesterov momentum needs momentum > 0", o.momentum);
    if (lct__schedule_check(&o, opt->milestones, o.n_milestones, __func__) != LCT_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", lct_error_last());
        return LCT__FAIL(LCT_ERANGE, "%s = %g rejected: %s", bounds[param].name, value, msg);
    }
    opt->o = o;
    return LCT_OK;
}

int lct_optimizer_get_param(const lct_optimizer *opt, int param, double *value)
{
    LCT__REQUIRE(opt);
    LCT__REQUIRE(value);
    const lct_optimizer_options *o = &opt->o;
    switch (param) {
    case LCT_OPTIMIZER_LR: *value = o->lr; break;
    case LCT_OPTIMIZER_MOMENTUM: *value = o->momentum; break;
    case LCT_OPTIMIZER_WEIGHT_DECAY: *value = o->weight_decay; break;
    case LCT_OPTIMIZER_BETA1: *value = o->beta1; break;
    case LCT_OPTIMIZER_BETA2: *value = o->beta2; break;
    case LCT_OPTIMIZER_EPS: *value = o->eps; break;
    case LCT_OPTIMIZER_MIN_LR: *value = o->min_lr; break;
    case LCT_OPTIMIZER_GAMMA: *value = o->gamma; break;
    case LCT_OPTIMIZER_WARMUP_STEPS: *value = (double)o->warmup_steps; break;
    case LCT_OPTIMIZER_TOTAL_STEPS: *value = (double)o->total_steps; break;
    case LCT_OPTIMIZER_SCHEDULE: *value = o->schedule; break;
    default: return LCT__FAIL(LCT_EINVAL, "param is %d; it must be 0..%d", param, N_PARAMS - 1);
    }
    return LCT_OK;
}

int lct_optimizer_set_milestones(lct_optimizer *opt, const uint64_t *milestones, size_t n)
{
    LCT__REQUIRE(opt);
    lct_optimizer_options o = opt->o;
    o.n_milestones = n;
    int rc = lct__schedule_check(&o, milestones, n, __func__);
    if (rc) return rc;
    if (n) memcpy(opt->milestones, milestones, n * sizeof *milestones);
    opt->o.n_milestones = n;
    return LCT_OK;
}

lct_params *lct_optimizer_state(lct_optimizer *opt)
{
    return opt ? &opt->state : NULL;
}
