/* Optimisers and schedules against double-precision re-implementations of PyTorch's update rules. */
#include "enc_testutil.h"

/* A parameter set built by hand: two trainable tensors (one no_decay) and one state tensor. */
typedef struct fake {
    lct_params p;
    lct__tensor t[3];
    float w[7], gw[7], b[3], gb[3], s[2];
} fake;

static void fake_init(fake *f, lct_runtime *rt)
{
    memset(f, 0, sizeof *f);
    fill_uniform(f->w, 7, 1, -1, 1);
    fill_uniform(f->b, 3, 2, -1, 1);
    f->s[0] = 5.0f;
    f->s[1] = 6.0f;
    f->t[0] = (lct__tensor){.name = "w", .value = f->w, .grad = f->gw, .count = 7};
    f->t[1] = (lct__tensor){.name = "b", .value = f->b, .grad = f->gb, .count = 3, .no_decay = 1};
    f->t[2] = (lct__tensor){.name = "s", .value = f->s, .count = 2};
    f->p.rt = rt;
    f->p.tensors = f->t;
    f->p.n_tensors = 3;
}

static void fake_grads(fake *f, int step)
{
    fill_uniform(f->gw, 7, 10 + (uint64_t)step, -1, 1);
    fill_uniform(f->gb, 3, 20 + (uint64_t)step, -1, 1);
}

/* Reference state for 10 values (w then b). */
typedef struct ref {
    double p[10], m[10], v[10];
} ref;

static void check_against_reference(const lct_optimizer_options *o, int steps)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    fake f;
    fake_init(&f, rt);
    ref r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 7; i++) r.p[i] = f.w[i];
    for (int i = 0; i < 3; i++) r.p[7 + i] = f.b[i];
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, o), LCT_OK);
    ck_assert_int_eq(lct_optimizer_attach(opt, &f.p), LCT_OK);
    for (int s = 0; s < steps; s++) {
        fake_grads(&f, s);
        double lr;
        ck_assert_int_eq(lct_optimizer_lr(opt, &lr), LCT_OK);
        for (int i = 0; i < 10; i++) {
            double g = i < 7 ? f.gw[i] : f.gb[i - 7];
            double wd = (o->decay_all || i < 7) ? o->weight_decay : 0.0;
            if (o->kind == LCT_OPTIMIZER_SGD) {
                g += wd * r.p[i];
                if (o->momentum > 0) {
                    r.m[i] = s == 0 ? g : o->momentum * r.m[i] + (1 - o->dampening) * g;
                    g = o->nesterov ? g + o->momentum * r.m[i] : r.m[i];
                }
                r.p[i] -= lr * g;
            } else {
                if (o->kind == LCT_OPTIMIZER_ADAMW) r.p[i] *= 1 - lr * wd;
                else g += wd * r.p[i];
                r.m[i] = o->beta1 * r.m[i] + (1 - o->beta1) * g;
                r.v[i] = o->beta2 * r.v[i] + (1 - o->beta2) * g * g;
                double bc1 = 1 - pow(o->beta1, s + 1), bc2 = 1 - pow(o->beta2, s + 1);
                r.p[i] -= lr / bc1 * r.m[i] / (sqrt(r.v[i]) / sqrt(bc2) + o->eps);
            }
        }
        ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
        for (int i = 0; i < 10; i++) {
            float got = i < 7 ? f.w[i] : f.b[i - 7];
            ck_assert_msg(fabs(got - r.p[i]) <= 1e-5 * (1 + fabs(r.p[i])), "kind %d step %d value %d: %.8g vs %.8g",
                          (int)o->kind, s, i, (double)got, r.p[i]);
        }
    }
    /* the state tensor is never touched */
    ck_assert_float_eq(f.s[0], 5.0f);
    ck_assert_float_eq(f.s[1], 6.0f);
    uint64_t n;
    ck_assert_int_eq(lct_optimizer_step_count(opt, &n), LCT_OK);
    ck_assert_uint_eq(n, (uint64_t)steps);
    lct_optimizer_free(opt);
    lct_runtime_free(rt);
}

START_TEST(test_rules_match_reference)
{
    lct_optimizer_options o;
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.lr = 0.1;
    check_against_reference(&o, 4); /* plain SGD */
    o.momentum = 0.9;
    check_against_reference(&o, 4);
    o.weight_decay = 5e-4 * 100;
    check_against_reference(&o, 4);
    o.dampening = 0.3;
    check_against_reference(&o, 4);
    o.dampening = 0;
    o.nesterov = 1;
    check_against_reference(&o, 4);
    o.decay_all = 0;
    check_against_reference(&o, 4);
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.kind = LCT_OPTIMIZER_ADAM;
    o.lr = 0.01;
    check_against_reference(&o, 5);
    o.weight_decay = 0.1;
    o.beta1 = 0.8;
    o.beta2 = 0.99;
    o.eps = 1e-6;
    check_against_reference(&o, 5);
    o.kind = LCT_OPTIMIZER_ADAMW;
    check_against_reference(&o, 5);
    o.decay_all = 0;
    check_against_reference(&o, 5);
    /* with a schedule, the rule uses the scheduled rate */
    o.schedule = LCT_SCHEDULE_COSINE;
    o.warmup_steps = 2;
    o.total_steps = 6;
    check_against_reference(&o, 6);
}
END_TEST

static double expected_lr(const lct_optimizer_options *o, uint64_t s)
{
    if (s < o->warmup_steps) return o->lr * (double)(s + 1) / (double)o->warmup_steps;
    if (o->schedule == LCT_SCHEDULE_STEP) {
        double lr = o->lr;
        for (size_t i = 0; i < o->n_milestones; i++)
            if (s >= o->milestones[i]) lr *= o->gamma;
        return lr;
    }
    if (o->schedule == LCT_SCHEDULE_COSINE) {
        double T = (double)(o->total_steps - o->warmup_steps), t = fmin((double)(s - o->warmup_steps), T);
        return o->min_lr + (o->lr - o->min_lr) * (1 + cos(M_PI * t / T)) / 2;
    }
    return o->lr;
}

START_TEST(test_schedules)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    uint64_t ms[3] = {3, 5, 9};
    lct_optimizer_options o;
    for (int kind = 0; kind < 5; kind++) {
        lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
        o.lr = 0.5;
        if (kind == 1) {
            o.schedule = LCT_SCHEDULE_STEP;
            o.milestones = ms;
            o.n_milestones = 3;
            o.gamma = 0.5;
        } else if (kind == 2) {
            o.schedule = LCT_SCHEDULE_COSINE;
            o.total_steps = 10;
            o.min_lr = 0.01;
        } else if (kind == 3) {
            o.schedule = LCT_SCHEDULE_COSINE;
            o.total_steps = 12;
            o.warmup_steps = 4;
        } else if (kind == 4) {
            o.warmup_steps = 3;
        }
        lct_optimizer *opt;
        ck_assert_int_eq(lct_optimizer_new(&opt, rt, &o), LCT_OK);
        for (uint64_t s = 0; s < 15; s++) {
            ck_assert_int_eq(lct_optimizer_set_step_count(opt, s), LCT_OK);
            double lr;
            ck_assert_int_eq(lct_optimizer_lr(opt, &lr), LCT_OK);
            ck_assert_msg(fabs(lr - expected_lr(&o, s)) < 1e-12, "schedule case %d step %llu: %g vs %g", kind,
                          (unsigned long long)s, lr, expected_lr(&o, s));
        }
        lct_optimizer_free(opt);
    }
    /* spot values that do not depend on the formula above */
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.lr = 1.0;
    o.schedule = LCT_SCHEDULE_COSINE;
    o.total_steps = 10;
    lct_optimizer *opt;
    double lr;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, &o), LCT_OK);
    lct_optimizer_set_step_count(opt, 5);
    lct_optimizer_lr(opt, &lr);
    ck_assert_double_eq_tol(lr, 0.5, 1e-12);
    lct_optimizer_set_step_count(opt, 10);
    lct_optimizer_lr(opt, &lr);
    ck_assert_double_eq_tol(lr, 0.0, 1e-12);
    /* setters */
    ck_assert_int_eq(lct_optimizer_set_param(opt, LCT_OPTIMIZER_LR, 2.0), LCT_OK);
    lct_optimizer_set_step_count(opt, 0);
    lct_optimizer_lr(opt, &lr);
    ck_assert_double_eq(lr, 2.0);
    ck_assert_int_eq(lct_optimizer_set_param(opt, LCT_OPTIMIZER_SCHEDULE, LCT_SCHEDULE_STEP), LCT_OK);
    ck_assert_int_eq(lct_optimizer_set_milestones(opt, ms, 3), LCT_OK);
    lct_optimizer_set_step_count(opt, 6);
    lct_optimizer_lr(opt, &lr);
    ck_assert_double_eq_tol(lr, 2.0 * 0.01, 1e-12);
    double v;
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_SCHEDULE, &v), LCT_OK);
    ck_assert_double_eq(v, 1.0);
    lct_optimizer_free(opt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_params_setters_and_bounds)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, NULL), LCT_OK);
    for (int p = LCT_OPTIMIZER_LR; p <= LCT_OPTIMIZER_SCHEDULE; p++) {
        double lo, hi, v;
        ck_assert_int_eq(lct_optimizer_param_bounds(p, &lo, &hi), LCT_OK);
        ck_assert_double_lt(lo, hi);
        ck_assert_int_eq(lct_optimizer_get_param(opt, p, &v), LCT_OK);
        LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, p, hi * 2 + 1), LCT_ERANGE, "is outside");
        LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, p, NAN), LCT_ERANGE, "is outside");
        LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, p, -1.0), LCT_ERANGE, "is outside");
        double after;
        lct_optimizer_get_param(opt, p, &after);
        ck_assert_double_eq(v, after); /* unchanged by the failures */
    }
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, LCT_OPTIMIZER_LR, 0.0), LCT_ERANGE, "lr = 0");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, LCT_OPTIMIZER_MOMENTUM, 1.0), LCT_ERANGE, "momentum = 1");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, LCT_OPTIMIZER_MOMENTUM, 0.9), LCT_ERANGE, "without momentum");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, LCT_OPTIMIZER_SCHEDULE, 1.5), LCT_ERANGE, "not an integer");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, LCT_OPTIMIZER_SCHEDULE, LCT_SCHEDULE_COSINE), LCT_ERANGE,
                     "total_steps");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(opt, 99, 1.0), LCT_EINVAL, "param is 99");
    LCT_ASSERT_FAILS(lct_optimizer_set_param(NULL, 0, 1.0), LCT_EINVAL, "'opt'");
    double v;
    LCT_ASSERT_FAILS(lct_optimizer_get_param(opt, -1, &v), LCT_EINVAL, "param is -1");
    LCT_ASSERT_FAILS(lct_optimizer_get_param(NULL, 0, &v), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_optimizer_get_param(opt, 0, NULL), LCT_EINVAL, "'value'");
    LCT_ASSERT_FAILS(lct_optimizer_param_bounds(11, NULL, NULL), LCT_EINVAL, "param is 11");
    ck_assert_int_eq(lct_optimizer_set_param(opt, LCT_OPTIMIZER_WEIGHT_DECAY, 1e-4), LCT_OK);
    ck_assert_int_eq(lct_optimizer_get_param(opt, LCT_OPTIMIZER_WEIGHT_DECAY, &v), LCT_OK);
    ck_assert_double_eq(v, 1e-4);
    uint64_t bad[2] = {5, 5};
    LCT_ASSERT_FAILS(lct_optimizer_set_milestones(opt, bad, 2), LCT_EINVAL, "milestones[1] (5)");
    LCT_ASSERT_FAILS(lct_optimizer_set_milestones(opt, NULL, 2), LCT_EINVAL, "milestones is NULL");
    LCT_ASSERT_FAILS(lct_optimizer_set_milestones(opt, bad, 65), LCT_EINVAL, "65 milestones");
    LCT_ASSERT_FAILS(lct_optimizer_set_milestones(NULL, bad, 1), LCT_EINVAL, "'opt'");
    ck_assert_int_eq(lct_optimizer_set_milestones(opt, NULL, 0), LCT_OK);
    lct_optimizer_free(opt);
    lct_optimizer_free(NULL);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_new_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_optimizer *opt = (lct_optimizer *)&rt;
    lct_optimizer_options o;
    LCT_ASSERT_FAILS(lct_optimizer_options_init(NULL, 1), LCT_EINVAL, "opts");
    LCT_ASSERT_FAILS(lct_optimizer_options_init(&o, 0), LCT_EVERSION, "version is 0");
    LCT_ASSERT_FAILS(lct_optimizer_options_init(&o, 2), LCT_EVERSION, "version is 2");
    LCT_ASSERT_FAILS(lct_optimizer_new(NULL, rt, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_optimizer_new(&opt, NULL, NULL), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(opt);
    static const struct {
        int field;
        double value;
        const char *needle;
    } bad[] = {
        {0, 0.0, "opts->lr is 0"},         {1, 1.0, "opts->momentum is 1"}, {2, -1, "opts->weight_decay is -1"},
        {3, 1.0, "opts->beta1 is 1"},      {4, 1.5, "opts->beta2"},         {5, 0.0, "opts->eps is 0"},
        {6, 3, "opts->kind is 3"},         {7, 2, "opts->dampening is 2"},  {8, 1, "nesterov needs momentum"},
        {9, 2, "opts->decay_all is 2"},    {10, 7, "schedule is 7"},        {11, 0, "total_steps (0)"},
        {12, -0.1, "min_lr"},              {13, 0, "gamma is 0"},           {14, 0, "milestones is NULL"},
        {15, NAN, "opts->lr is nan"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
        switch (bad[i].field) {
        case 0: o.lr = bad[i].value; break;
        case 1: o.momentum = bad[i].value; break;
        case 2: o.weight_decay = bad[i].value; break;
        case 3: o.beta1 = bad[i].value; break;
        case 4: o.beta2 = bad[i].value; break;
        case 5: o.eps = bad[i].value; break;
        case 6: o.kind = (int32_t)bad[i].value; break;
        case 7: o.dampening = bad[i].value; break;
        case 8: o.nesterov = 1; break;
        case 9: o.decay_all = 2; break;
        case 10: o.schedule = 7; break;
        case 11: o.schedule = LCT_SCHEDULE_COSINE; break;
        case 12: o.min_lr = bad[i].value; break;
        case 13: o.gamma = 0; break;
        case 14: o.n_milestones = 2; break;
        case 15: o.lr = NAN; break;
        }
        LCT_ASSERT_FAILS(lct_optimizer_new(&opt, rt, &o), LCT_EINVAL, bad[i].needle);
        ck_assert_ptr_null(opt);
    }
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.version = 7;
    LCT_ASSERT_FAILS(lct_optimizer_new(&opt, rt, &o), LCT_EVERSION, "version is 7");
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_attach_step_bad_input_and_state)
{
    lct_runtime *rt = lct_test_runtime(1, 0), *other = lct_test_runtime(1, 0);
    lct_optimizer_options o;
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.kind = LCT_OPTIMIZER_ADAM;
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, &o), LCT_OK);
    fake f, g, h;
    fake_init(&f, rt);
    fake_init(&g, rt);
    fake_init(&h, other);
    LCT_ASSERT_FAILS(lct_optimizer_step(opt), LCT_ESTATE, "no parameter set");
    LCT_ASSERT_FAILS(lct_optimizer_attach(NULL, &f.p), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_optimizer_attach(opt, NULL), LCT_EINVAL, "'params'");
    LCT_ASSERT_FAILS(lct_optimizer_attach(opt, &h.p), LCT_EMISMATCH, "another runtime");
    ck_assert_int_eq(lct_optimizer_attach(opt, &f.p), LCT_OK);
    LCT_ASSERT_FAILS(lct_optimizer_attach(opt, &f.p), LCT_EINVAL, "already attached");
    /* an encoder's set next to the hand-made one */
    lct_encoder *enc = spec_encoder(rt, "in 3; linear 2; bn");
    ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
    lct_params *st = lct_optimizer_state(opt);
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_null(lct_optimizer_state(NULL));
    /* 2 trainable in f, 4 trainable in the encoder (linear w, b; bn w, b): 2 moments each */
    ck_assert_int_eq(lct_params_count(st), 12);
    const char *name;
    size_t count;
    int trainable;
    lct_params_info(st, 0, &name, &count, &trainable);
    ck_assert_str_eq(name, "0.w.exp_avg");
    ck_assert_uint_eq(count, 7);
    ck_assert_int_eq(trainable, 0);
    lct_params_info(st, 3, &name, &count, NULL);
    ck_assert_str_eq(name, "0.b.exp_avg_sq");
    lct_params_info(st, 4, &name, &count, NULL);
    ck_assert_str_eq(name, "1.0.linear.weight.exp_avg");
    ck_assert_uint_eq(count, 6);
    /* a NaN gradient stops the step before anything moves */
    fake_grads(&f, 0);
    float w0[7];
    memcpy(w0, f.w, sizeof w0);
    f.gb[1] = NAN;
    LCT_ASSERT_FAILS(lct_optimizer_step(opt), LCT_ENUMERIC, "'b'");
    ck_assert(memcmp(w0, f.w, sizeof w0) == 0);
    uint64_t n;
    lct_optimizer_step_count(opt, &n);
    ck_assert_uint_eq(n, 0);
    f.gb[1] = 0.5f;
    ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    ck_assert(memcmp(w0, f.w, sizeof w0) != 0);
    /* the moments are visible and restorable through the state set */
    float m[7];
    ck_assert_int_eq(lct_params_get(st, 0, m, 7), LCT_OK);
    for (int i = 0; i < 7; i++) ck_assert_float_eq_tol(m[i], 0.1f * f.gw[i], 1e-7);
    LCT_ASSERT_FAILS(lct_optimizer_attach(opt, &g.p), LCT_ESTATE, "before the first");
    ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
    for (int i = 0; i < 7; i++) ck_assert_float_eq(f.gw[i], 0.0f);
    LCT_ASSERT_FAILS(lct_optimizer_zero_grad(NULL), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_optimizer_step(NULL), LCT_EINVAL, "'opt'");
    double lr;
    LCT_ASSERT_FAILS(lct_optimizer_lr(NULL, &lr), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_optimizer_lr(opt, NULL), LCT_EINVAL, "'lr'");
    LCT_ASSERT_FAILS(lct_optimizer_step_count(NULL, &n), LCT_EINVAL, "'opt'");
    LCT_ASSERT_FAILS(lct_optimizer_step_count(opt, NULL), LCT_EINVAL, "'step'");
    LCT_ASSERT_FAILS(lct_optimizer_set_step_count(NULL, 3), LCT_EINVAL, "'opt'");
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    lct_runtime_free(other);
}
END_TEST

START_TEST(test_resume_from_state_is_bit_identical)
{
    /* Run 6 steps; separately run 3, copy params + state + counter into a fresh optimiser, run 3 more. */
    lct_runtime *rt = lct_test_runtime(2, 0);
    lct_optimizer_options o;
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.kind = LCT_OPTIMIZER_ADAMW;
    o.weight_decay = 0.05;
    o.schedule = LCT_SCHEDULE_COSINE;
    o.total_steps = 8;
    o.warmup_steps = 2;
    fake a, b;
    fake_init(&a, rt);
    fake_init(&b, rt);
    lct_optimizer *oa, *ob1, *ob2;
    lct_optimizer_new(&oa, rt, &o);
    lct_optimizer_new(&ob1, rt, &o);
    lct_optimizer_new(&ob2, rt, &o);
    lct_optimizer_attach(oa, &a.p);
    lct_optimizer_attach(ob1, &b.p);
    for (int s = 0; s < 6; s++) {
        fake_grads(&a, s);
        ck_assert_int_eq(lct_optimizer_step(oa), LCT_OK);
    }
    for (int s = 0; s < 3; s++) {
        fake_grads(&b, s);
        ck_assert_int_eq(lct_optimizer_step(ob1), LCT_OK);
    }
    lct_optimizer_attach(ob2, &b.p);
    lct_params *s1 = lct_optimizer_state(ob1), *s2 = lct_optimizer_state(ob2);
    for (int i = 0; i < lct_params_count(s1); i++) {
        size_t c;
        lct_params_info(s1, (size_t)i, NULL, &c, NULL);
        float buf[16];
        lct_params_get(s1, (size_t)i, buf, c);
        ck_assert_int_eq(lct_params_set(s2, (size_t)i, buf, c), LCT_OK);
    }
    uint64_t n;
    lct_optimizer_step_count(ob1, &n);
    ck_assert_int_eq(lct_optimizer_set_step_count(ob2, n), LCT_OK);
    for (int s = 3; s < 6; s++) {
        fake_grads(&b, s);
        ck_assert_int_eq(lct_optimizer_step(ob2), LCT_OK);
    }
    ck_assert(memcmp(a.w, b.w, sizeof a.w) == 0);
    ck_assert(memcmp(a.b, b.b, sizeof a.b) == 0);
    lct_optimizer_free(oa);
    lct_optimizer_free(ob1);
    lct_optimizer_free(ob2);
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_rules_match_reference);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_params_setters_and_bounds);
    tcase_add_test(tc, test_new_bad_input);
    tcase_add_test(tc, test_attach_step_bad_input_and_state);
    tcase_add_test(tc, test_resume_from_state_is_bit_identical);
}

int main(void)
{
    return lct_test_main("optimizer", "optimizer", 0, add_tests);
}
