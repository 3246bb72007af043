/* Loss objects: values against double-precision reference code, finite-difference gradients,
 * robustness, determinism across thread counts, and bad input for every public function. */
#include "testutil.h"

#include "bank/bank.h"

/* ---- helpers ---------------------------------------------------------------------- */

static void fill_uniform(float *x, size_t n, uint64_t seed, float scale)
{
    lct__rng r;
    lct__rng_seed(&r, seed, 99);
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * lct__rng_uniform(&r) - 1.0f) * scale;
}

static void normalise_rows(float *x, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++) s += (double)x[r * d + j] * x[r * d + j];
        s = sqrt(s);
        for (size_t j = 0; j < d; j++) x[r * d + j] = (float)(x[r * d + j] / s);
    }
}

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* A reference loss as a function of a flat double vector. */
typedef double (*ref_fn)(const double *x, void *ctx);

/* Central differences of fn at x against the analytic gradient g; error relative to max |g|. */
static void fd_check(ref_fn fn, void *ctx, double *x, size_t n, const float *g, double tol, const char *what)
{
    double gmax = 1e-6;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs((double)g[i]));
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = 1e-5 * fmax(1.0, fabs(keep));
        x[i] = keep + h;
        double up = fn(x, ctx);
        x[i] = keep - h;
        double dn = fn(x, ctx);
        x[i] = keep;
        double fd = (up - dn) / (2.0 * h);
        double err = fabs(fd - (double)g[i]) / gmax;
        if (err > worst) {
            worst = err;
            at = i;
        }
    }
    ck_assert_msg(worst < tol, "%s: gradient error %g at element %zu (tolerance %g)", what, worst, at, tol);
}

static void assert_close(double got, double want, double tol, const char *what)
{
    double err = fabs(got - want) / fmax(1.0, fabs(want));
    ck_assert_msg(err < tol, "%s: got %.9g, reference %.9g (error %g)", what, got, want, err);
}

/* ---- options, constructors, parameters: bad input -------------------------------------- */

START_TEST(test_options_init)
{
    lct_loss_nce_options a;
    lct_loss_npsoftmax_options b;
    lct_loss_invaspread_options c;
    lct_loss_infonce_options d;
    lct_loss_cmc_options e;
    LCT_ASSERT_FAILS(lct_loss_nce_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_loss_nce_options_init(&a, 0), LCT_EVERSION, "version is 0");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_options_init(&b, 2), LCT_EVERSION, "version is 2");
    LCT_ASSERT_FAILS(lct_loss_invaspread_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_loss_invaspread_options_init(&c, 9), LCT_EVERSION, "version is 9");
    LCT_ASSERT_FAILS(lct_loss_infonce_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_loss_infonce_options_init(&d, 0), LCT_EVERSION, "version");
    LCT_ASSERT_FAILS(lct_loss_cmc_options_init(NULL, 1), LCT_EINVAL, "'opts'");
    LCT_ASSERT_FAILS(lct_loss_cmc_options_init(&e, 0), LCT_EVERSION, "version");
    ck_assert_int_eq(lct_loss_nce_options_init(&a, LCT_LOSS_NCE_OPTIONS_VERSION), LCT_OK);
    ck_assert_uint_eq(a.k, 4096);
    ck_assert_int_eq(a.z_policy, LCT_Z_FIRST_BATCH);
    ck_assert_int_eq(a.sample_mode, LCT_BANK_SAMPLE_REPLACE);
    ck_assert_int_eq(lct_loss_npsoftmax_options_init(&b, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION), LCT_OK);
    ck_assert_uint_eq(b.chunk, 16384);
    ck_assert_int_eq(lct_loss_invaspread_options_init(&c, LCT_LOSS_INVASPREAD_OPTIONS_VERSION), LCT_OK);
    ck_assert_int_eq(c.form, LCT_INVASPREAD_PAPER);
    ck_assert_int_eq(lct_loss_infonce_options_init(&d, LCT_LOSS_INFONCE_OPTIONS_VERSION), LCT_OK);
    ck_assert_uint_eq(d.steps, 12);
    ck_assert_int_eq(d.negatives, LCT_INFONCE_BATCH);
    ck_assert_int_eq(lct_loss_cmc_options_init(&e, LCT_LOSS_CMC_OPTIONS_VERSION), LCT_OK);
    ck_assert_uint_eq(e.k, 16384);
    ck_assert_int_eq(e.graph, LCT_CMC_CORE);
    ck_assert_int_eq(e.objective, LCT_CMC_NCE);
}
END_TEST

static lct_bank *make_bank(lct_runtime *rt, size_t n, size_t d, int normalize)
{
    lct_bank_options o;
    ck_assert_int_eq(lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION), LCT_OK);
    o.normalize = normalize;
    lct_bank *b = NULL;
    ck_assert_int_eq(lct_bank_new(&b, rt, n, d, &o), LCT_OK);
    return b;
}

START_TEST(test_constructors_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1), *rt2 = lct_test_runtime(1, 2);
    lct_bank *bank = make_bank(rt, 20, 4, 1), *other = make_bank(rt2, 20, 4, 1), *wrong_d = make_bank(rt, 20, 5, 1);
    lct_loss *l = (lct_loss *)&l;

    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, 1);
    LCT_ASSERT_FAILS(lct_loss_new_nce(NULL, rt, bank, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, NULL, bank, NULL), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(l);
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, NULL, NULL), LCT_EINVAL, "'bank'");
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, other, NULL), LCT_EMISMATCH, "another runtime");
    no.k = 0;
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, bank, &no), LCT_EINVAL, "opts->k is 0");
    no.k = 5;
    no.sample_mode = 7;
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, bank, &no), LCT_EINVAL, "sample_mode is 7");
    no.sample_mode = 0;
    no.z_policy = 3;
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, bank, &no), LCT_EINVAL, "z_policy is 3");
    no.z_policy = 0;
    no.version = 5;
    LCT_ASSERT_FAILS(lct_loss_new_nce(&l, rt, bank, &no), LCT_EVERSION, "version is 5");
    ck_assert_ptr_null(l);

    lct_loss_npsoftmax_options po;
    lct_loss_npsoftmax_options_init(&po, 1);
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(NULL, rt, bank, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(&l, NULL, bank, NULL), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(&l, rt, NULL, NULL), LCT_EINVAL, "'bank'");
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(&l, rt, other, NULL), LCT_EMISMATCH, "runtime");
    po.chunk = 0;
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(&l, rt, bank, &po), LCT_EINVAL, "chunk is 0");
    po.chunk = 8;
    po.version = 0;
    LCT_ASSERT_FAILS(lct_loss_new_npsoftmax(&l, rt, bank, &po), LCT_EVERSION, "version is 0");

    lct_loss_invaspread_options io;
    lct_loss_invaspread_options_init(&io, 1);
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(NULL, rt, 4, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(&l, NULL, 4, NULL), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(&l, rt, 0, NULL), LCT_EINVAL, "dim is 0");
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(&l, rt, 100000, NULL), LCT_EINVAL, "dim is 100000");
    io.form = 2;
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(&l, rt, 4, &io), LCT_EINVAL, "form is 2");
    io.form = 0;
    io.version = 3;
    LCT_ASSERT_FAILS(lct_loss_new_invaspread(&l, rt, 4, &io), LCT_EVERSION, "version is 3");

    lct_loss_infonce_options fo;
    lct_loss_infonce_options_init(&fo, 1);
    fo.steps = 2;
    LCT_ASSERT_FAILS(lct_loss_new_infonce(NULL, rt, 5, 4, 3, &fo), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, NULL, 5, 4, 3, &fo), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 1, 4, 3, &fo), LCT_EINVAL, "seq_len is 1");
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 0, 3, &fo), LCT_EINVAL, "latent_dim is 0");
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 4, 0, &fo), LCT_EINVAL, "context_dim is 0");
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 4, 3, NULL), LCT_EINVAL, "steps is 12");
    fo.steps = 5;
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 4, 3, &fo), LCT_EINVAL, "steps is 5");
    fo.steps = 2;
    fo.negatives = 3;
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 4, 3, &fo), LCT_EINVAL, "negatives is 3");
    fo.negatives = 0;
    fo.version = 2;
    LCT_ASSERT_FAILS(lct_loss_new_infonce(&l, rt, 5, 4, 3, &fo), LCT_EVERSION, "version is 2");

    lct_loss_cmc_options co;
    lct_loss_cmc_options_init(&co, 1);
    lct_bank *two[2] = {bank, bank}, *mixed[2] = {bank, other}, *dims[2] = {bank, wrong_d}, *holes[2] = {bank, NULL};
    LCT_ASSERT_FAILS(lct_loss_new_cmc(NULL, rt, 2, 4, two, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, NULL, 2, 4, two, NULL), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 1, 4, two, NULL), LCT_EINVAL, "views is 1");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 0, two, NULL), LCT_EINVAL, "dim is 0");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, NULL, NULL), LCT_EINVAL, "'banks'");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, holes, NULL), LCT_EINVAL, "banks[1]");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, mixed, NULL), LCT_EMISMATCH, "banks[1]");
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, dims, NULL), LCT_ESHAPE, "banks[1] has D = 5");
    co.graph = 2;
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, two, &co), LCT_EINVAL, "graph is 2");
    co.graph = 0;
    co.objective = 2;
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, two, &co), LCT_EINVAL, "objective is 2");
    co.objective = 0;
    co.k = 0;
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, two, &co), LCT_EINVAL, "k is 0");
    co.k = 3;
    co.version = 0;
    LCT_ASSERT_FAILS(lct_loss_new_cmc(&l, rt, 2, 4, two, &co), LCT_EVERSION, "version is 0");
    co.version = 1;
    co.objective = LCT_CMC_SOFTMAX;
    ck_assert_int_eq(lct_loss_new_cmc(&l, rt, 2, 4, NULL, &co), LCT_OK); /* softmax needs no bank */
    ck_assert_int_eq(lct_loss_get_kind(l), LCT_LOSS_CMC);
    lct_loss_free(l);
    lct_loss_free(NULL);
    LCT_ASSERT_FAILS(lct_loss_get_kind(NULL), LCT_EINVAL, "'loss'");
    ck_assert_ptr_null(lct_loss_params(NULL));

    lct_bank_free(bank);
    lct_bank_free(other);
    lct_bank_free(wrong_d);
    lct_runtime_free(rt);
    lct_runtime_free(rt2);
}
END_TEST

START_TEST(test_params_and_z_state)
{
    lct_runtime *rt = lct_test_runtime(1, 3);
    lct_bank *bank = make_bank(rt, 30, 4, 1);
    lct_loss *nce = NULL, *inv = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&nce, rt, bank, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&inv, rt, 4, NULL), LCT_OK);
    double v, lo, hi;
    ck_assert_int_eq(lct_loss_get_param(nce, LCT_LOSS_PARAM_TEMPERATURE, &v), LCT_OK);
    ck_assert(fabs(v - 0.07) < 1e-12);
    ck_assert_int_eq(lct_loss_get_param(inv, LCT_LOSS_PARAM_TEMPERATURE, &v), LCT_OK);
    ck_assert(fabs(v - 0.1) < 1e-12);
    ck_assert_int_eq(lct_loss_param_bounds(nce, LCT_LOSS_PARAM_TEMPERATURE, &lo, &hi), LCT_OK);
    ck_assert(lo > 0 && hi > 1);
    ck_assert_int_eq(lct_loss_set_param(nce, LCT_LOSS_PARAM_TEMPERATURE, 0.5), LCT_OK);
    ck_assert_int_eq(lct_loss_get_param(nce, LCT_LOSS_PARAM_TEMPERATURE, &v), LCT_OK);
    ck_assert(v == 0.5);
    LCT_ASSERT_FAILS(lct_loss_set_param(nce, LCT_LOSS_PARAM_TEMPERATURE, 0.0), LCT_ERANGE, "value 0");
    LCT_ASSERT_FAILS(lct_loss_set_param(nce, LCT_LOSS_PARAM_TEMPERATURE, NAN), LCT_ERANGE, "nan");
    LCT_ASSERT_FAILS(lct_loss_set_param(nce, LCT_LOSS_PARAM_Z_POLICY, 1.5), LCT_ERANGE, "Z policy");
    LCT_ASSERT_FAILS(lct_loss_set_param(nce, LCT_LOSS_PARAM_Z_MOMENTUM, 1.0), LCT_ERANGE, "value 1");
    LCT_ASSERT_FAILS(lct_loss_set_param(nce, 99, 1.0), LCT_EINVAL, "param 99");
    LCT_ASSERT_FAILS(lct_loss_set_param(NULL, 1, 1.0), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_set_param(inv, LCT_LOSS_PARAM_Z_POLICY, 1.0), LCT_EINVAL, "does not apply");
    LCT_ASSERT_FAILS(lct_loss_get_param(NULL, 1, &v), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_get_param(nce, 1, NULL), LCT_EINVAL, "'value'");
    LCT_ASSERT_FAILS(lct_loss_get_param(nce, 0, &v), LCT_EINVAL, "param 0");
    LCT_ASSERT_FAILS(lct_loss_param_bounds(NULL, 1, &lo, &hi), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_param_bounds(nce, 1, NULL, &hi), LCT_EINVAL, "'min'");
    LCT_ASSERT_FAILS(lct_loss_param_bounds(nce, 1, &lo, NULL), LCT_EINVAL, "'max'");
    LCT_ASSERT_FAILS(lct_loss_param_bounds(inv, LCT_LOSS_PARAM_Z_MOMENTUM, &lo, &hi), LCT_EINVAL, "Z");
    ck_assert_int_eq(lct_loss_set_param(nce, LCT_LOSS_PARAM_Z_POLICY, LCT_Z_RUNNING), LCT_OK);
    ck_assert_int_eq(lct_loss_get_param(nce, LCT_LOSS_PARAM_Z_POLICY, &v), LCT_OK);
    ck_assert(v == LCT_Z_RUNNING);
    ck_assert_int_eq(lct_loss_set_param(nce, LCT_LOSS_PARAM_Z_MOMENTUM, 0.5), LCT_OK);
    ck_assert_int_eq(lct_loss_get_param(nce, LCT_LOSS_PARAM_Z_MOMENTUM, &v), LCT_OK);
    ck_assert(v == 0.5);

    double z;
    int32_t known = 7;
    ck_assert_int_eq(lct_loss_get_log_z(nce, 0, &z, &known), LCT_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_int_eq(lct_loss_set_log_z(nce, 0, 12.5), LCT_OK);
    ck_assert_int_eq(lct_loss_get_log_z(nce, 0, &z, &known), LCT_OK);
    ck_assert_int_eq(known, 1);
    ck_assert(z == 12.5);
    ck_assert_int_eq(lct_loss_reset_z(nce), LCT_OK);
    ck_assert_int_eq(lct_loss_get_log_z(nce, 0, NULL, &known), LCT_OK);
    ck_assert_int_eq(known, 0);
    LCT_ASSERT_FAILS(lct_loss_get_log_z(NULL, 0, &z, &known), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_get_log_z(nce, 1, &z, &known), LCT_ERANGE, "view 1");
    LCT_ASSERT_FAILS(lct_loss_get_log_z(inv, 0, &z, &known), LCT_EINVAL, "no NCE");
    LCT_ASSERT_FAILS(lct_loss_set_log_z(nce, 0, INFINITY), LCT_ERANGE, "log_z is inf");
    LCT_ASSERT_FAILS(lct_loss_set_log_z(nce, 0, 2e6), LCT_ERANGE, "log_z");
    LCT_ASSERT_FAILS(lct_loss_set_log_z(nce, 3, 1.0), LCT_ERANGE, "view 3");
    LCT_ASSERT_FAILS(lct_loss_set_log_z(NULL, 0, 1.0), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_reset_z(NULL), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_reset_z(inv), LCT_EINVAL, "no NCE");

    size_t bytes = 0;
    ck_assert_int_eq(lct_loss_workspace_bytes(nce, 8, &bytes), LCT_OK);
    ck_assert(bytes >= 8 * 4097 * 4);
    LCT_ASSERT_FAILS(lct_loss_workspace_bytes(NULL, 8, &bytes), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_workspace_bytes(nce, 0, &bytes), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_workspace_bytes(nce, 8, NULL), LCT_EINVAL, "'bytes'");
    LCT_ASSERT_FAILS(lct_loss_workspace_bytes(nce, SIZE_MAX / 2, &bytes), LCT_ESHAPE, "batch");

    lct_params *p = lct_loss_params(inv);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(lct_params_count(p), 0);
    lct_loss_free(nce);
    lct_loss_free(inv);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* ---- InvaSpread ---------------------------------------------------------------------- */

typedef struct inv_ctx {
    size_t b, d;
    double tau;
    int self;
    const double *right; /* NULL: right operand = x (paper); else fixed (code form, detached) */
    double m;            /* negative weight (0 taken as 1) */
} inv_ctx;

static double ref_invaspread(const double *x, void *vctx)
{
    inv_ctx *c = vctx;
    size_t n = 2 * c->b, d = c->d;
    const double *y = c->right ? c->right : x;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = (i + c->b) % n;
        double s[64], den = 0.0, m = c->m > 0.0 ? c->m : 1.0;
        for (size_t k = 0; k < n; k++) {
            double dot = 0.0;
            for (size_t j = 0; j < d; j++) dot += x[i * d + j] * y[k * d + j];
            s[k] = exp(dot / c->tau);
            if (k != i || c->self) den += k == pos ? s[k] : m * s[k];
        }
        double l = -log(s[pos] / den);
        for (size_t k = 0; k < n; k++)
            if (k != i && k != pos) l -= m * log(1.0 - s[k] / den);
        total += l;
    }
    return total / (double)n;
}

static void run_invaspread_m(lct_runtime *rt, int form, size_t b, size_t d, double tau, int normalise, double tol,
                             double m)
{
    lct_loss_invaspread_options o;
    lct_loss_invaspread_options_init(&o, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
    o.form = form;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_invaspread(&loss, rt, d, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_get_kind(loss), LCT_LOSS_INVASPREAD);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
    if (m > 0.0) ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, m), LCT_OK);
    size_t n = 2 * b * d;
    float *x = malloc(n * sizeof *x), *dx = malloc(n * sizeof *dx), val;
    fill_uniform(x, n, 11 + b + d, 1.0f);
    if (normalise) normalise_rows(x, 2 * b, d);
    ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, b, &val, dx), LCT_OK);
    double *xd = to_double(x, n);
    inv_ctx c = {b, d, tau, form == LCT_INVASPREAD_PAPER, form == LCT_INVASPREAD_CODE ? to_double(x, n) : NULL, m};
    assert_close(val, ref_invaspread(xd, &c), 1e-5, "invaspread loss");
    fd_check(ref_invaspread, &c, xd, n, dx, tol, form ? "invaspread code form" : "invaspread paper form");
    free((void *)c.right);
    free(xd);
    free(x);
    free(dx);
    lct_loss_free(loss);
}

static void run_invaspread(lct_runtime *rt, int form, size_t b, size_t d, double tau, int normalise, double tol)
{
    run_invaspread_m(rt, form, b, d, tau, normalise, tol, 0.0);
}

START_TEST(test_invaspread_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    for (int form = 0; form < 2; form++) {
        run_invaspread(rt, form, 4, 5, 1.0, 0, 2e-3);
        run_invaspread(rt, form, 4, 5, 0.1, 1, 2e-3);
        run_invaspread(rt, form, 3, 8, 0.05, 1, 2e-3);
        run_invaspread(rt, form, 1, 3, 0.5, 1, 2e-3);
        /* the original code's negM: m = 1.5 (one negative may still pass p = 1/2), 4, and the bounds */
        run_invaspread_m(rt, form, 4, 5, 0.1, 1, 2e-3, 1.5);
        run_invaspread_m(rt, form, 3, 8, 0.05, 1, 2e-3, 4.0);
        run_invaspread_m(rt, form, 4, 5, 1.0, 0, 2e-3, 1.0);
        run_invaspread_m(rt, form, 1, 3, 0.5, 1, 2e-3, 1e4);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_invaspread_robust)
{
    lct_runtime *rt = lct_test_runtime(2, 5);
    for (int form = 0; form < 2; form++) {
        lct_loss_invaspread_options o;
        lct_loss_invaspread_options_init(&o, 1);
        o.form = form;
        lct_loss *loss = NULL;
        ck_assert_int_eq(lct_loss_new_invaspread(&loss, rt, 6, &o), LCT_OK);
        ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.01), LCT_OK);
        float x[2 * 5 * 6], dx[2 * 5 * 6], val = NAN;
        /* identical embeddings */
        for (size_t i = 0; i < 60; i++) x[i] = 0.4f;
        ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, 5, &val, dx), LCT_OK);
        ck_assert(isfinite(val) && all_finite(dx, 60));
        /* not normalised, large, tau 0.01: a negative dominating the softmax */
        fill_uniform(x, 60, 3, 30.0f);
        ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, 5, &val, dx), LCT_OK);
        ck_assert(isfinite(val) && all_finite(dx, 60));
        /* NaN input names the buffer and index */
        x[17] = NAN;
        LCT_ASSERT_FAILS(lct_loss_invaspread_compute(loss, x, 5, &val, dx), LCT_ENUMERIC, "x[17] is NaN");
        x[17] = 1e30f;
        LCT_ASSERT_FAILS(lct_loss_invaspread_compute(loss, x, 5, &val, dx), LCT_ENUMERIC, "overflow");
        lct_loss_free(loss);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_invaspread_peaked_softmax_gradient)
{
    /* One negative takes almost all the mass (p > 1/2): the log(1 - p) path through the second log-sum-exp. */
    lct_runtime *rt = lct_test_runtime(1, 5);
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_invaspread(&loss, rt, 2, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.5), LCT_OK);
    float x[12] = {1.0f, 0.0f, 0.2f, 0.9f, 0.95f, 0.1f, -0.3f, 1.0f, 0.5f, -0.5f, 0.0f, -1.0f};
    float dx[12], val;
    ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, 3, &val, dx), LCT_OK);
    double *xd = to_double(x, 12);
    inv_ctx c = {3, 2, 0.5, 1, NULL, 0.0};
    assert_close(val, ref_invaspread(xd, &c), 1e-5, "peaked loss");
    fd_check(ref_invaspread, &c, xd, 12, dx, 2e-3, "peaked");
    lct_loss_free(loss);
    /* negative weight 1.5, code form, tau 0.1: row 0's hardest negative has p ≈ 0.66 > 1/2 */
    lct_loss_invaspread_options o;
    lct_loss_invaspread_options_init(&o, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
    o.form = LCT_INVASPREAD_CODE;
    ck_assert_int_eq(lct_loss_new_invaspread(&loss, rt, 2, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.1), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, 1.5), LCT_OK);
    ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, 3, &val, dx), LCT_OK);
    inv_ctx cm = {3, 2, 0.1, 0, to_double(x, 12), 1.5};
    assert_close(val, ref_invaspread(xd, &cm), 1e-5, "peaked loss, m = 1.5");
    fd_check(ref_invaspread, &cm, xd, 12, dx, 2e-3, "peaked, m = 1.5");
    free((void *)cm.right);
    free(xd);
    lct_loss_free(loss);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_invaspread_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    lct_loss *loss = NULL, *other = NULL;
    ck_assert_int_eq(lct_loss_new_invaspread(&loss, rt, 2, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_new_infonce(&other, rt, 3, 2, 2, &(lct_loss_infonce_options){1, 1, 0}), LCT_OK);
    float x[8] = {0}, dx[8], v;
    LCT_ASSERT_FAILS(lct_loss_invaspread_compute(NULL, x, 2, &v, dx), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_invaspread_compute(loss, NULL, 2, &v, dx), LCT_EINVAL, "'x'");
    LCT_ASSERT_FAILS(lct_loss_invaspread_compute(loss, x, 2, NULL, dx), LCT_EINVAL, "'loss_out'");
    LCT_ASSERT_FAILS(lct_loss_invaspread_compute(loss, x, 0, &v, dx), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_invaspread_compute(other, x, 2, &v, dx), LCT_EINVAL, "kind");
    /* the negative weight: InvaSpread only, [1, 1e4], default 1 */
    double m = 0.0, lo = 0.0, hi = 0.0;
    ck_assert_int_eq(lct_loss_get_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, &m), LCT_OK);
    ck_assert(m == 1.0);
    ck_assert_int_eq(lct_loss_param_bounds(loss, LCT_LOSS_PARAM_NEG_WEIGHT, &lo, &hi), LCT_OK);
    ck_assert(lo == 1.0 && hi == 1e4);
    LCT_ASSERT_FAILS(lct_loss_set_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, 0.5), LCT_ERANGE, "outside [1, 10000]");
    LCT_ASSERT_FAILS(lct_loss_set_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, NAN), LCT_ERANGE, "outside");
    LCT_ASSERT_FAILS(lct_loss_set_param(other, LCT_LOSS_PARAM_NEG_WEIGHT, 2.0), LCT_EINVAL, "InvaSpread only");
    LCT_ASSERT_FAILS(lct_loss_get_param(other, LCT_LOSS_PARAM_NEG_WEIGHT, &m), LCT_EINVAL, "InvaSpread only");
    ck_assert_int_eq(lct_loss_get_param(loss, LCT_LOSS_PARAM_NEG_WEIGHT, &m), LCT_OK);
    ck_assert(m == 1.0);
    ck_assert_int_eq(lct_loss_invaspread_compute(loss, x, 2, &v, NULL), LCT_OK);
    lct_loss_free(loss);
    lct_loss_free(other);
    lct_runtime_free(rt);
}
END_TEST

/* ---- InfoNCE --------------------------------------------------------------------------- */

typedef struct cpc_ctx {
    size_t b, t, d, h, k;
    int mode;
    double tau;
    size_t part; /* 0: x is z, 1: x is c, 2: x is W */
    const double *z, *c, *w;
    double *acc; /* per-step accuracy out, or NULL */
} cpc_ctx;

static double ref_infonce(const double *x, void *vctx)
{
    cpc_ctx *q = vctx;
    const double *z = q->part == 0 ? x : q->z, *c = q->part == 1 ? x : q->c, *w = q->part == 2 ? x : q->w;
    size_t B = q->b, T = q->t, D = q->d, H = q->h;
    double total = 0.0;
    for (size_t k = 1; k <= q->k; k++) {
        const double *wk = w + (k - 1) * D * H;
        double lk = 0.0;
        size_t hits = 0, anchors = 0;
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t + k < T; t++) {
                double pred[16];
                for (size_t i = 0; i < D; i++) {
                    pred[i] = 0.0;
                    for (size_t j = 0; j < H; j++) pred[i] += wk[i * H + j] * c[(b * T + t) * H + j];
                }
                /* candidate rows of z, and which one is positive */
                size_t cand[256], nc = 0, pos = 0;
                for (size_t bb = 0; bb < B; bb++)
                    for (size_t tt = 0; tt < T; tt++) {
                        int use = q->mode == LCT_INFONCE_ALL || (q->mode == LCT_INFONCE_BATCH && tt == t + k) ||
                                  (q->mode == LCT_INFONCE_SEQUENCE && bb == b);
                        if (!use) continue;
                        if (bb == b && tt == t + k) pos = nc;
                        cand[nc++] = bb * T + tt;
                    }
                double sc[256] = {0}, den = 0.0;
                for (size_t j = 0; j < nc; j++) {
                    double dot = 0.0;
                    for (size_t i = 0; i < D; i++) dot += pred[i] * z[cand[j] * D + i];
                    sc[j] = dot / q->tau;
                    den += exp(sc[j]);
                }
                lk += log(den) - sc[pos];
                int best = 1;
                for (size_t j = 0; j < nc; j++)
                    if (j != pos && sc[j] >= sc[pos]) best = 0;
                hits += (size_t)best;
                anchors++;
            }
        total += lk / (double)anchors;
        if (q->acc) q->acc[k - 1] = (double)hits / (double)anchors;
    }
    return total / (double)q->k;
}

static void run_infonce(lct_runtime *rt, int mode, double tau)
{
    const size_t B = 3, T = 5, D = 4, H = 3, K = 2;
    lct_loss_infonce_options o;
    lct_loss_infonce_options_init(&o, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    o.steps = K;
    o.negatives = mode;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_infonce(&loss, rt, T, D, H, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
    lct_params *p = lct_loss_params(loss);
    ck_assert_int_eq(lct_params_count(p), (int)K);
    const char *name;
    size_t cnt;
    int tr;
    ck_assert_int_eq(lct_params_info(p, 1, &name, &cnt, &tr), LCT_OK);
    ck_assert_str_eq(name, "infonce.w2");
    ck_assert_uint_eq(cnt, D * H);
    ck_assert_int_eq(tr, 1);
    float z[3 * 5 * 4], c[3 * 5 * 3], w[2 * 4 * 3], dz[60], dc[45], dw[24], acc[2], val;
    fill_uniform(z, 60, 21, 1.0f);
    fill_uniform(c, 45, 22, 1.0f);
    fill_uniform(w, 24, 23, 1.0f);
    for (size_t k = 0; k < K; k++) ck_assert_int_eq(lct_params_set(p, k, w + k * D * H, D * H), LCT_OK);
    ck_assert_int_eq(lct_params_zero_grad(p), LCT_OK);
    ck_assert_int_eq(lct_loss_infonce_compute(loss, z, c, B, &val, dz, dc, acc), LCT_OK);
    for (size_t k = 0; k < K; k++) ck_assert_int_eq(lct_params_get_grad(p, k, dw + k * D * H, D * H), LCT_OK);

    double *zd = to_double(z, 60), *cd = to_double(c, 45), *wd = to_double(w, 24), racc[2];
    cpc_ctx q = {B, T, D, H, K, mode, tau, 0, zd, cd, wd, racc};
    assert_close(val, ref_infonce(zd, &q), 1e-5, "infonce loss");
    for (size_t k = 0; k < K; k++) ck_assert_msg(fabs(acc[k] - racc[k]) < 1e-6, "accuracy of step %zu", k + 1);
    q.acc = NULL;
    fd_check(ref_infonce, &q, zd, 60, dz, 2e-3, "infonce dz");
    q.part = 1;
    fd_check(ref_infonce, &q, cd, 45, dc, 2e-3, "infonce dc");
    q.part = 2;
    fd_check(ref_infonce, &q, wd, 24, dw, 2e-3, "infonce dW");
    /* W_k gradients accumulate over calls */
    ck_assert_int_eq(lct_loss_infonce_compute(loss, z, c, B, &val, dz, NULL, NULL), LCT_OK);
    float dw2[12];
    ck_assert_int_eq(lct_params_get_grad(p, 0, dw2, D * H), LCT_OK);
    for (size_t i = 0; i < 12; i++) ck_assert(fabs(dw2[i] - 2.0f * dw[i]) <= 1e-5f * (1.0f + fabsf(dw[i])));
    free(zd);
    free(cd);
    free(wd);
    lct_loss_free(loss);
}

START_TEST(test_infonce_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 7);
    for (int mode = 0; mode < 3; mode++) {
        run_infonce(rt, mode, 1.0);
        run_infonce(rt, mode, 0.1);
    }
    /* LCT_INFONCE_ALL in chunks of one and of two sequences (the last chunk shorter) */
    for (size_t g = 1; g <= 2; g++) {
        lct__test_control(LCT__TESTCTRL_INFONCE_BLOCK, (size_t)(g * 5 * 3 * 5));
        run_infonce(rt, LCT_INFONCE_ALL, 0.1);
    }
    lct__test_control(LCT__TESTCTRL_INFONCE_BLOCK, (size_t)0);
    lct_runtime_free(rt);
}
END_TEST

/* InfoNCE's parallel blocks: identical bits for 1 and 2 threads in every mode. */
static void infonce_run(unsigned threads, int mode, float *out)
{
    lct_runtime *rt = lct_test_runtime(threads, 3);
    const size_t B = 5, T = 9, D = 6, H = 4;
    lct_loss_infonce_options o;
    lct_loss_infonce_options_init(&o, 1);
    o.steps = 4;
    o.negatives = mode;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_infonce(&loss, rt, T, D, H, &o), LCT_OK);
    float z[5 * 9 * 6], c[5 * 9 * 4];
    fill_uniform(z, B * T * D, 7, 1.0f);
    fill_uniform(c, B * T * H, 8, 1.0f);
    ck_assert_int_eq(lct_loss_infonce_compute(loss, z, c, B, out, out + 1, out + 1 + B * T * D, out + 1 + B * T * (D + H)),
                     LCT_OK);
    ck_assert_int_eq(lct_params_get_grad(lct_loss_params(loss), 2, out + 5 + B * T * (D + H), D * H), LCT_OK);
    lct_loss_free(loss);
    lct_runtime_free(rt);
}

START_TEST(test_infonce_thread_count_independent)
{
    enum { n = 1 + 5 * 9 * 10 + 4 + 24 };
    for (int mode = 0; mode < 3; mode++) {
        float a[n], b[n];
        infonce_run(1, mode, a);
        infonce_run(2, mode, b);
        ck_assert_msg(memcmp(a, b, sizeof a) == 0, "InfoNCE mode %d differs between 1 and 2 threads", mode);
        ck_assert(all_finite(a, n));
    }
}
END_TEST

START_TEST(test_infonce_bad_input_and_robust)
{
    lct_runtime *rt = lct_test_runtime(1, 7);
    lct_loss *loss = NULL;
    lct_loss_infonce_options o;
    lct_loss_infonce_options_init(&o, 1);
    o.steps = 2;
    ck_assert_int_eq(lct_loss_new_infonce(&loss, rt, 4, 3, 2, &o), LCT_OK);
    float z[2 * 4 * 3] = {0}, c[2 * 4 * 2] = {0}, dz[24], dc[16], acc[2], v;
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(NULL, z, c, 2, &v, dz, dc, acc), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, NULL, c, 2, &v, dz, dc, acc), LCT_EINVAL, "'z'");
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, NULL, 2, &v, dz, dc, acc), LCT_EINVAL, "'c'");
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, c, 2, NULL, dz, dc, acc), LCT_EINVAL, "'loss_out'");
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, c, 0, &v, dz, dc, acc), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, c, 1, &v, dz, dc, acc), LCT_EINVAL, "batch is 1");
    /* identical latents: finite, accuracy 0 (no strict winner) */
    ck_assert_int_eq(lct_loss_infonce_compute(loss, z, c, 2, &v, dz, dc, acc), LCT_OK);
    ck_assert(isfinite(v) && fabs(v - log(2.0)) < 1e-6);
    ck_assert(acc[0] == 0.0f && all_finite(dz, 24) && all_finite(dc, 16));
    /* tau 0.01, large unnormalised inputs */
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.01), LCT_OK);
    fill_uniform(z, 24, 1, 50.0f);
    fill_uniform(c, 16, 2, 50.0f);
    ck_assert_int_eq(lct_loss_infonce_compute(loss, z, c, 2, &v, dz, dc, acc), LCT_OK);
    ck_assert(isfinite(v) && all_finite(dz, 24) && all_finite(dc, 16));
    c[5] = INFINITY;
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, c, 2, &v, dz, dc, acc), LCT_ENUMERIC, "c[5] is Inf");
    c[5] = 1e36f;
    LCT_ASSERT_FAILS(lct_loss_infonce_compute(loss, z, c, 2, &v, dz, dc, acc), LCT_ENUMERIC, "overflow");
    lct_loss_free(loss);
    lct_runtime_free(rt);
}
END_TEST

/* ---- CMC in-batch softmax ------------------------------------------------------------ */

typedef struct cmc_ctx {
    size_t v, b, d;
    int graph;
    double tau;
} cmc_ctx;

static double ref_cmc_softmax(const double *x, void *vctx)
{
    cmc_ctx *q = vctx;
    size_t B = q->b, D = q->d;
    double total = 0.0;
    for (size_t a = 0; a < q->v; a++)
        for (size_t b = a + 1; b < q->v; b++) {
            if (q->graph == LCT_CMC_CORE && a != 0) continue;
            for (int dir = 0; dir < 2; dir++) {
                const double *fa = x + (dir ? b : a) * B * D, *fb = x + (dir ? a : b) * B * D;
                for (size_t i = 0; i < B; i++) {
                    double den = 0.0, pos = 0.0;
                    for (size_t j = 0; j < B; j++) {
                        double dot = 0.0;
                        for (size_t e = 0; e < D; e++) dot += fa[i * D + e] * fb[j * D + e];
                        den += exp(dot / q->tau);
                        if (j == i) pos = dot / q->tau;
                    }
                    total += (log(den) - pos) / (double)B;
                }
            }
        }
    return total;
}

START_TEST(test_cmc_softmax_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 9);
    const size_t V = 3, B = 4, D = 5;
    for (int graph = 0; graph < 2; graph++)
        for (int ti = 0; ti < 2; ti++) {
            double tau = ti ? 0.07 : 1.0;
            lct_loss_cmc_options o;
            lct_loss_cmc_options_init(&o, 1);
            o.graph = graph;
            o.objective = LCT_CMC_SOFTMAX;
            lct_loss *loss = NULL;
            ck_assert_int_eq(lct_loss_new_cmc(&loss, rt, V, D, NULL, &o), LCT_OK);
            ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
            float x[3 * 4 * 5], g[3 * 4 * 5], val;
            fill_uniform(x, 60, 31, 1.0f);
            normalise_rows(x, V * B, D);
            const float *f[3] = {x, x + 20, x + 40};
            float *df[3] = {g, g + 20, g + 40};
            ck_assert_int_eq(lct_loss_cmc_compute(loss, f, NULL, B, &val, df), LCT_OK);
            double *xd = to_double(x, 60);
            cmc_ctx q = {V, B, D, graph, tau};
            assert_close(val, ref_cmc_softmax(xd, &q), 1e-5, "cmc softmax loss");
            fd_check(ref_cmc_softmax, &q, xd, 60, g, 2e-3, graph ? "cmc softmax full" : "cmc softmax core");
            free(xd);
            lct_loss_free(loss);
        }
    lct_runtime_free(rt);
}
END_TEST

/* ---- NCE over a bank ---------------------------------------------------------------------- */

typedef struct nce_ctx {
    size_t b, d, k, n;
    double tau, log_z;
    const double *rows; /* n x d bank rows */
    const int64_t *idx, *neg;
    int shared;
} nce_ctx;

/* Mean NCE loss in the original's ratio form: P = exp(s / tau) / Z, noise K/N. */
static double ref_nce(const double *f, void *vctx)
{
    nce_ctx *q = vctx;
    double z = exp(q->log_z), kpn = (double)q->k / (double)q->n, total = 0.0;
    for (size_t b = 0; b < q->b; b++) {
        for (size_t j = 0; j <= q->k; j++) {
            size_t r = j == 0 ? (size_t)q->idx[b] : (size_t)(q->shared ? q->neg[j - 1] : q->neg[b * q->k + j - 1]);
            double dot = 0.0;
            for (size_t e = 0; e < q->d; e++) dot += f[b * q->d + e] * q->rows[r * q->d + e];
            double p = exp(dot / q->tau) / z;
            total -= j == 0 ? log(p / (p + kpn)) : log(kpn / (p + kpn));
        }
    }
    return total / (double)q->b;
}

/* The reference's first-batch log Z: log(mean(exp(s / tau)) * N). */
static double ref_log_z(const double *f, nce_ctx *q)
{
    double sum = 0.0, m = -INFINITY, s[4096];
    size_t cnt = 0;
    for (size_t b = 0; b < q->b; b++)
        for (size_t j = 0; j <= q->k; j++) {
            size_t r = j == 0 ? (size_t)q->idx[b] : (size_t)(q->shared ? q->neg[j - 1] : q->neg[b * q->k + j - 1]);
            double dot = 0.0;
            for (size_t e = 0; e < q->d; e++) dot += f[b * q->d + e] * q->rows[r * q->d + e];
            s[cnt] = dot / q->tau;
            m = fmax(m, s[cnt++]);
        }
    for (size_t i = 0; i < cnt; i++) sum += exp(s[i] - m);
    return m + log(sum / (double)cnt) + log((double)q->n);
}

static double *bank_rows(lct_bank *bank, size_t n, size_t d)
{
    float *r = malloc(n * d * sizeof *r);
    ck_assert_int_eq(lct_bank_get_rows(bank, 0, n, r), LCT_OK);
    double *out = to_double(r, n * d);
    free(r);
    return out;
}

static void run_nce(lct_runtime *rt, int mode, double tau, int normalise_f)
{
    const size_t N = 40, D = 6, B = 5, K = 7;
    lct_bank *bank = make_bank(rt, N, D, 1);
    lct_loss_nce_options o;
    lct_loss_nce_options_init(&o, LCT_LOSS_NCE_OPTIONS_VERSION);
    o.k = K;
    o.sample_mode = mode;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_get_kind(loss), LCT_LOSS_NCE);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
    float f[5 * 6], df[5 * 6], val;
    fill_uniform(f, B * D, 41 + (uint64_t)mode, 1.0f);
    if (normalise_f) normalise_rows(f, B, D);
    int64_t idx[5] = {3, 17, 3, 39, 0}; /* with a duplicate */
    uint64_t stream, calls;
    lct__bank_rng_state(bank, &stream, &calls);
    double *before = bank_rows(bank, N, D);
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &val, df), LCT_OK);
    double *after = bank_rows(bank, N, D);
    ck_assert_msg(memcmp(before, after, N * D * sizeof(double)) == 0, "the loss must not change the bank");

    /* The same draws, for the reference. */
    int64_t neg[5 * 7];
    lct__bank_set_rng_state(bank, stream, calls);
    ck_assert_int_eq(lct_bank_sample(bank, idx, B, K, mode, neg), LCT_OK);
    double *fd = to_double(f, B * D);
    nce_ctx q = {B, D, K, N, tau, 0.0, before, idx, neg, mode >= LCT_BANK_SAMPLE_SHARED};
    q.log_z = ref_log_z(fd, &q);
    double log_z;
    int32_t known;
    ck_assert_int_eq(lct_loss_get_log_z(loss, 0, &log_z, &known), LCT_OK);
    ck_assert_int_eq(known, 1);
    assert_close(log_z, q.log_z, 1e-6, "first-batch log Z");
    assert_close(val, ref_nce(fd, &q), 1e-5, "nce loss");
    fd_check(ref_nce, &q, fd, B * D, df, 2e-3, "nce df");

    /* Z is now fixed (first batch): a second call uses it unchanged. */
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &val, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_get_log_z(loss, 0, &log_z, NULL), LCT_OK);
    assert_close(log_z, q.log_z, 1e-6, "log Z after the second batch");
    free(fd);
    free(before);
    free(after);
    lct_loss_free(loss);
    lct_bank_free(bank);
}

START_TEST(test_nce_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 13);
    for (int mode = 0; mode < 4; mode++) {
        run_nce(rt, mode, 1.0, 1);
        run_nce(rt, mode, 0.07, 1);
        run_nce(rt, mode, 0.5, 0);
    }
    lct_runtime_free(rt);
}
END_TEST

/* NCE with the positive from the host: x = [f; pos], positive score f[b]·pos[b]. */
static double ref_nce_pos(const double *x, void *vctx)
{
    nce_ctx *q = vctx;
    const double *f = x, *pos = x + q->b * q->d;
    double z = exp(q->log_z), kpn = (double)q->k / (double)q->n, total = 0.0;
    for (size_t b = 0; b < q->b; b++)
        for (size_t j = 0; j <= q->k; j++) {
            double dot = 0.0;
            for (size_t e = 0; e < q->d; e++)
                dot += f[b * q->d + e] * (j == 0 ? pos[b * q->d + e] : q->rows[(size_t)q->neg[b * q->k + j - 1] * q->d + e]);
            double p = exp(dot / q->tau) / z;
            total -= j == 0 ? log(p / (p + kpn)) : log(kpn / (p + kpn));
        }
    return total / (double)q->b;
}

START_TEST(test_nce_positive_from_input)
{
    lct_runtime *rt = lct_test_runtime(1, 14);
    const size_t N = 25, D = 4, B = 3, K = 5;
    for (int ti = 0; ti < 2; ti++) {
        const double tau = ti ? 0.05 : 1.0;
        lct_bank *bank = make_bank(rt, N, D, 1);
        lct_loss_nce_options o;
        lct_loss_nce_options_init(&o, 1);
        o.k = K;
        o.sample_mode = LCT_BANK_SAMPLE_EXCLUDE_SELF;
        lct_loss *loss = NULL;
        ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
        ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
        ck_assert_int_eq(lct_loss_set_log_z(loss, 0, 3.0), LCT_OK);
        float x[2 * 3 * 4], g[2 * 3 * 4], v;
        fill_uniform(x, 24, 71, 1.0f);
        normalise_rows(x, 2 * B, D);
        int64_t idx[3] = {4, 8, 24}, neg[15];
        uint64_t st, calls;
        lct__bank_rng_state(bank, &st, &calls);
        ck_assert_int_eq(lct_loss_nce_compute_pos(loss, x, x + B * D, idx, B, &v, g, g + B * D), LCT_OK);
        lct__bank_set_rng_state(bank, st, calls);
        ck_assert_int_eq(lct_bank_sample(bank, idx, B, K, o.sample_mode, neg), LCT_OK);
        double *rows = bank_rows(bank, N, D), *xd = to_double(x, 24);
        nce_ctx q = {B, D, K, N, tau, 3.0, rows, idx, neg, 0};
        assert_close(v, ref_nce_pos(xd, &q), 1e-5, "nce loss, positive from input");
        fd_check(ref_nce_pos, &q, xd, 24, g, 2e-3, "nce df and dpos");
        LCT_ASSERT_FAILS(lct_loss_nce_compute_pos(loss, x, NULL, idx, B, &v, g, NULL), LCT_EINVAL, "'pos'");
        x[13] = NAN;
        LCT_ASSERT_FAILS(lct_loss_nce_compute_pos(loss, x, x + B * D, idx, B, &v, g, NULL), LCT_ENUMERIC, "pos[1] is NaN");
        LCT_ASSERT_FAILS(lct_loss_nce_compute_pos(NULL, x, x, idx, B, &v, g, NULL), LCT_EINVAL, "'loss'");
        free(rows);
        free(xd);
        lct_loss_free(loss);
        lct_bank_free(bank);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_nce_z_policies)
{
    lct_runtime *rt = lct_test_runtime(1, 17);
    const size_t N = 30, D = 4, B = 3, K = 5;
    lct_bank *bank = make_bank(rt, N, D, 1);
    lct_loss_nce_options o;
    lct_loss_nce_options_init(&o, 1);
    o.k = K;
    o.z_policy = LCT_Z_FIXED;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
    float f[12], v;
    fill_uniform(f, 12, 5, 1.0f);
    int64_t idx[3] = {1, 2, 3}, neg[15];
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, B, &v, NULL), LCT_ESTATE, "LCT_Z_FIXED");
    ck_assert_int_eq(lct_loss_set_log_z(loss, 0, 4.0), LCT_OK);
    uint64_t stream, calls;
    lct__bank_rng_state(bank, &stream, &calls);
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &v, NULL), LCT_OK);
    lct__bank_set_rng_state(bank, stream, calls);
    ck_assert_int_eq(lct_bank_sample(bank, idx, B, K, 0, neg), LCT_OK);
    double *rows = bank_rows(bank, N, D), *fd = to_double(f, 12);
    nce_ctx q = {B, D, K, N, 0.07, 4.0, rows, idx, neg, 0};
    assert_close(v, ref_nce(fd, &q), 1e-5, "fixed-Z loss");

    /* Running: log Z <- log(m Z + (1 - m) Z_batch). */
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_POLICY, LCT_Z_RUNNING), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_MOMENTUM, 0.9), LCT_OK);
    lct__bank_rng_state(bank, &stream, &calls);
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &v, NULL), LCT_OK);
    lct__bank_set_rng_state(bank, stream, calls);
    ck_assert_int_eq(lct_bank_sample(bank, idx, B, K, 0, neg), LCT_OK);
    double est = ref_log_z(fd, &q), want = log(0.9 * exp(4.0) + 0.1 * exp(est)), got;
    ck_assert_int_eq(lct_loss_get_log_z(loss, 0, &got, NULL), LCT_OK);
    assert_close(got, want, 1e-6, "running log Z");
    q.log_z = want;
    assert_close(v, ref_nce(fd, &q), 1e-5, "running-Z loss");
    free(rows);
    free(fd);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* Warnings of the runtime's log hook, counted, with the last message. */
typedef struct {
    int calls;
    char last[512];
} warn_sink;

static void collect_warning(void *user, int level, const char *msg)
{
    warn_sink *w = user;
    if (level != LCT_LOG_WARN) return;
    w->calls++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

/* A batch of B <= 16 embeddings (c, sqrt(1 - c^2), 0, 0) against a bank whose rows all equal e1: every score
 * is c, so the batch's estimate of log Z is exactly c / tau + log N, 2.7 c decades above log N at tau 0.16. */
static void nce_batch_of(lct_loss *loss, double c, size_t batch)
{
    float f[16 * 4] = {0}, df[16 * 4], v;
    int64_t idx[16];
    for (size_t b = 0; b < batch; b++) {
        f[b * 4] = (float)c;
        f[b * 4 + 1] = (float)sqrt(1.0 - c * c);
        idx[b] = (int64_t)b;
    }
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, batch, &v, df), LCT_OK);
}

static void nce_batch_at(lct_loss *loss, double c)
{
    nce_batch_of(loss, c, 4);
}

static void assert_warned(const warn_sink *w, int calls, const char *has1, const char *has2)
{
    ck_assert_msg(w->calls == calls, "%d warnings, expected %d; last: %s", w->calls, calls, w->last);
    if (has1) ck_assert_msg(strstr(w->last, has1) != NULL, "warning lacks '%s': %s", has1, w->last);
    if (has2) ck_assert_msg(strstr(w->last, has2) != NULL, "warning lacks '%s': %s", has2, w->last);
}

START_TEST(test_nce_z_drift_warning)
{
    warn_sink w = {0};
    lct_runtime_options ro;
    lct_runtime_options_init(&ro, LCT_RUNTIME_OPTIONS_VERSION);
    ro.threads = 1;
    ro.seed = 43;
    ro.log = collect_warning;
    ro.log_user = &w;
    lct_runtime *rt = NULL;
    ck_assert_int_eq(lct_runtime_new(&rt, &ro), LCT_OK);
    const size_t N = 50, D = 4;
    lct_bank *bank = make_bank(rt, N, D, 0);
    float rows[50 * 4] = {0};
    for (size_t i = 0; i < N; i++) rows[i * D] = 1.0f;
    ck_assert_int_eq(lct_bank_set_rows(bank, 0, N, rows), LCT_OK);
    lct_loss_nce_options o;
    lct_loss_nce_options_init(&o, 1);
    o.k = 8;
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
    /* tau = 1 / (2.7 ln 10): a score of c puts the estimate 2.7 c decades above log N. */
    const double tau = 1.0 / (2.7 * log(10.0));
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);

    /* First-batch Z from scores 0; the same scores again and a drift of 0.8 decades: no warning. */
    nce_batch_at(loss, 0.0);
    nce_batch_at(loss, 0.0);
    nce_batch_at(loss, 0.3);
    assert_warned(&w, 0, NULL, NULL);
    /* 1.6 decades: one warning, naming the bank, the sizes and the policy. */
    nce_batch_at(loss, 0.6);
    assert_warned(&w, 1, "bank 0 is 10^+1.6 times", "LCT_Z_FIRST_BATCH");
    ck_assert_ptr_nonnull(strstr(w.last, "N = 50, K = 8"));
    /* Once per decade, not every step: 2.7 decades warn again, 2.7 and 2.4 then do not. */
    nce_batch_at(loss, 1.0);
    assert_warned(&w, 2, "10^+2.7 times", NULL);
    nce_batch_at(loss, 1.0);
    nce_batch_at(loss, 0.9);
    nce_batch_at(loss, 0.6);
    assert_warned(&w, 2, NULL, NULL);
    /* Below the Z in use counts too: Z re-estimated at scores 1, then scores -0.2 are 3.2 decades below. */
    ck_assert_int_eq(lct_loss_reset_z(loss), LCT_OK);
    nce_batch_at(loss, 1.0);
    assert_warned(&w, 2, NULL, NULL);
    nce_batch_at(loss, -0.2);
    assert_warned(&w, 3, "10^-3.2 times", "LCT_Z_FIRST_BATCH");

    /* A fixed Z that fits the scores, then one that does not. */
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_POLICY, LCT_Z_FIXED), LCT_OK);
    ck_assert_int_eq(lct_loss_set_log_z(loss, 0, log((double)N)), LCT_OK);
    nce_batch_at(loss, 0.0);
    nce_batch_at(loss, 0.3);
    assert_warned(&w, 3, NULL, NULL);
    nce_batch_at(loss, 0.9);
    assert_warned(&w, 4, "10^+2.4 times", "LCT_Z_FIXED");

    /* Running Z with momentum 0 follows every batch: no warning whatever the scores do. */
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_POLICY, LCT_Z_RUNNING), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_MOMENTUM, 0.0), LCT_OK);
    ck_assert_int_eq(lct_loss_reset_z(loss), LCT_OK);
    const double walk[5] = {0.0, 1.0, -1.0, 1.0, 0.0};
    for (int i = 0; i < 5; i++) nce_batch_at(loss, walk[i]);
    assert_warned(&w, 4, NULL, NULL);
    /* With momentum 0.999 a jump of 5.4 decades moves it by log10(0.999 + 0.001 * 10^5.4) = 2.4: 3.0 behind. */
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_MOMENTUM, 0.999), LCT_OK);
    ck_assert_int_eq(lct_loss_reset_z(loss), LCT_OK);
    nce_batch_at(loss, -1.0);
    nce_batch_at(loss, 1.0);
    assert_warned(&w, 5, "LCT_Z_RUNNING, momentum 0.999", "10^+3.0 times");
    lct_loss_free(loss);

    /* Above 65,536 scores a first-batch Z is checked on the first rows only (here 8 of 9 rows of 8192). */
    o.k = 8191;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
    nce_batch_of(loss, 0.0, 9);
    nce_batch_of(loss, 0.3, 9);
    assert_warned(&w, 5, NULL, NULL);
    nce_batch_of(loss, 0.6, 9);
    assert_warned(&w, 6, "10^+1.6 times", "K = 8191");

    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_nce_robust)
{
    /* The original overflowed here: tau 0.01 on small data sets, Z ~ e^100 * N. */
    lct_runtime *rt = lct_test_runtime(2, 19);
    size_t sizes[2] = {10, 700};
    for (int si = 0; si < 2; si++) {
        const size_t N = sizes[si], D = 8, B = 6;
        lct_bank *bank = make_bank(rt, N, D, 1);
        lct_loss *loss = NULL;
        ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, NULL), LCT_OK); /* K = 4096 > N: with replacement */
        ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.01), LCT_OK);
        float f[6 * 8], df[6 * 8], v = NAN;
        int64_t idx[6] = {1, 1, 1, 2, 2, 9}; /* duplicates */
        /* rows of the bank as embeddings: s = 1 for the positives, exp(100) */
        float rows[10 * 8];
        ck_assert_int_eq(lct_bank_get_rows(bank, 0, 10, rows), LCT_OK);
        for (size_t b = 0; b < B; b++) memcpy(f + b * D, rows + (size_t)idx[b] * D, D * sizeof(float));
        ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &v, df), LCT_OK);
        ck_assert(isfinite(v) && all_finite(df, B * D));
        double lz;
        ck_assert_int_eq(lct_loss_get_log_z(loss, 0, &lz, NULL), LCT_OK);
        ck_assert(isfinite(lz) && lz > 50.0);
        /* identical and unnormalised embeddings */
        for (size_t i = 0; i < B * D; i++) f[i] = 3.0f;
        ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, B, &v, df), LCT_OK);
        ck_assert(isfinite(v) && all_finite(df, B * D));
        f[7] = NAN;
        LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, B, &v, df), LCT_ENUMERIC, "f[7] is NaN");
        /* scores beyond float once divided by tau: refused, and the failed call drew nothing */
        for (size_t i = 0; i < B * D; i++) f[i] = 1e36f;
        uint64_t st, calls, st2, calls2;
        lct__bank_rng_state(bank, &st, &calls);
        LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, B, &v, df), LCT_ENUMERIC, "overflow");
        lct__bank_rng_state(bank, &st2, &calls2);
        ck_assert(st == st2 && calls == calls2);
        lct_loss_free(loss);
        lct_bank_free(bank);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_nce_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 23);
    lct_bank *bank = make_bank(rt, 10, 2, 1);
    lct_loss *loss = NULL, *inv = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&inv, rt, 2, NULL), LCT_OK);
    float f[4] = {1, 0, 0, 1}, df[4], v;
    int64_t idx[2] = {0, 1}, bad[2] = {0, 10};
    LCT_ASSERT_FAILS(lct_loss_nce_compute(NULL, f, idx, 2, &v, df), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(inv, f, idx, 2, &v, df), LCT_EINVAL, "kind");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, NULL, idx, 2, &v, df), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, NULL, 2, &v, df), LCT_EINVAL, "'idx'");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, 2, NULL, df), LCT_EINVAL, "'loss_out'");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, 0, &v, df), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, bad, 2, &v, df), LCT_ERANGE, "idx");
    int32_t known;
    ck_assert_int_eq(lct_loss_get_log_z(loss, 0, NULL, &known), LCT_OK);
    ck_assert_int_eq(known, 0); /* failed calls estimated nothing */
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, idx, 2, &v, df), LCT_EINVAL, "kind");
    lct_loss_free(loss);
    lct_loss_free(inv);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* ---- non-parametric softmax --------------------------------------------------------------- */

static double ref_npsoftmax(const double *f, void *vctx)
{
    nce_ctx *q = vctx;
    double total = 0.0;
    for (size_t b = 0; b < q->b; b++) {
        double den = 0.0, pos = 0.0;
        for (size_t r = 0; r < q->n; r++) {
            double dot = 0.0;
            for (size_t e = 0; e < q->d; e++) dot += f[b * q->d + e] * q->rows[r * q->d + e];
            den += exp(dot / q->tau);
            if ((int64_t)r == q->idx[b]) pos = dot / q->tau;
        }
        total += log(den) - pos;
    }
    return total / (double)q->b;
}

START_TEST(test_npsoftmax_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 29);
    const size_t N = 10, D = 5, B = 4;
    lct_bank *bank = make_bank(rt, N, D, 1);
    double *rows = bank_rows(bank, N, D);
    unsigned chunks[3] = {3, 10, 4096};
    for (int ci = 0; ci < 3; ci++)
        for (int ti = 0; ti < 2; ti++) {
            double tau = ti ? 0.07 : 1.0;
            lct_loss_npsoftmax_options o;
            lct_loss_npsoftmax_options_init(&o, 1);
            o.chunk = chunks[ci];
            lct_loss *loss = NULL;
            ck_assert_int_eq(lct_loss_new_npsoftmax(&loss, rt, bank, &o), LCT_OK);
            ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
            float f[4 * 5], df[4 * 5], v;
            fill_uniform(f, B * D, 51, 1.0f);
            normalise_rows(f, B, D);
            int64_t idx[4] = {9, 0, 9, 4};
            ck_assert_int_eq(lct_loss_npsoftmax_compute(loss, f, idx, B, &v, df), LCT_OK);
            double *fd = to_double(f, B * D);
            nce_ctx q = {B, D, 0, N, tau, 0.0, rows, idx, NULL, 0};
            assert_close(v, ref_npsoftmax(fd, &q), 1e-5, "npsoftmax loss");
            fd_check(ref_npsoftmax, &q, fd, B * D, df, 2e-3, "npsoftmax df");
            free(fd);
            lct_loss_free(loss);
        }
    free(rows);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_npsoftmax_bad_input_and_robust)
{
    lct_runtime *rt = lct_test_runtime(2, 31);
    lct_bank *bank = make_bank(rt, 10, 3, 0);
    lct_loss *loss = NULL;
    ck_assert_int_eq(lct_loss_new_npsoftmax(&loss, rt, bank, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_get_kind(loss), LCT_LOSS_NPSOFTMAX);
    float f[6] = {0}, df[6], v;
    int64_t idx[2] = {0, 0}, bad[2] = {-1, 0};
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(NULL, f, idx, 2, &v, df), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, NULL, idx, 2, &v, df), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, NULL, 2, &v, df), LCT_EINVAL, "'idx'");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, idx, 2, NULL, df), LCT_EINVAL, "'loss_out'");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, idx, 0, &v, df), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, bad, 2, &v, df), LCT_ERANGE, "idx");
    ck_assert_int_eq(lct_loss_npsoftmax_compute(loss, f, idx, 2, &v, df), LCT_OK);
    assert_close(v, log(10.0), 1e-6, "zero embeddings: uniform softmax");
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, 0.01), LCT_OK);
    fill_uniform(f, 6, 3, 40.0f);
    ck_assert_int_eq(lct_loss_npsoftmax_compute(loss, f, idx, 2, &v, df), LCT_OK);
    ck_assert(isfinite(v) && all_finite(df, 6));
    f[2] = -INFINITY;
    LCT_ASSERT_FAILS(lct_loss_npsoftmax_compute(loss, f, idx, 2, &v, df), LCT_ENUMERIC, "f[2] is Inf");
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_fp16_bank)
{
    /* Both bank objectives on fp16 storage: rows are converted to fp32 for every use. */
    lct_runtime *rt = lct_test_runtime(2, 43);
    const size_t N = 12, D = 6, B = 3, K = 5;
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.storage = LCT_BANK_FP16;
    bo.normalize = 1;
    lct_bank *bank = NULL;
    ck_assert_int_eq(lct_bank_new(&bank, rt, N, D, &bo), LCT_OK);
    double *rows = bank_rows(bank, N, D);
    float f[3 * 6], df[3 * 6], v;
    fill_uniform(f, B * D, 81, 1.0f);
    normalise_rows(f, B, D);
    int64_t idx[3] = {2, 11, 2}, neg[15];
    double *fd = to_double(f, B * D);

    lct_loss_nce_options o;
    lct_loss_nce_options_init(&o, 1);
    o.k = K;
    lct_loss *nce = NULL;
    ck_assert_int_eq(lct_loss_new_nce(&nce, rt, bank, &o), LCT_OK);
    ck_assert_int_eq(lct_loss_set_log_z(nce, 0, 2.0), LCT_OK);
    uint64_t st, calls;
    lct__bank_rng_state(bank, &st, &calls);
    ck_assert_int_eq(lct_loss_nce_compute(nce, f, idx, B, &v, df), LCT_OK);
    lct__bank_set_rng_state(bank, st, calls);
    ck_assert_int_eq(lct_bank_sample(bank, idx, B, K, 0, neg), LCT_OK);
    nce_ctx q = {B, D, K, N, 0.07, 2.0, rows, idx, neg, 0};
    assert_close(v, ref_nce(fd, &q), 1e-5, "nce loss on fp16 rows");
    fd_check(ref_nce, &q, fd, B * D, df, 2e-3, "nce df on fp16 rows");

    lct_loss_npsoftmax_options po;
    lct_loss_npsoftmax_options_init(&po, 1);
    po.chunk = 5;
    lct_loss *np = NULL;
    ck_assert_int_eq(lct_loss_new_npsoftmax(&np, rt, bank, &po), LCT_OK);
    ck_assert_int_eq(lct_loss_npsoftmax_compute(np, f, idx, B, &v, df), LCT_OK);
    q.k = 0;
    assert_close(v, ref_npsoftmax(fd, &q), 1e-5, "npsoftmax loss on fp16 rows");
    fd_check(ref_npsoftmax, &q, fd, B * D, df, 2e-3, "npsoftmax df on fp16 rows");
    free(rows);
    free(fd);
    lct_loss_free(nce);
    lct_loss_free(np);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* ---- CMC with banks ------------------------------------------------------------------------ */

typedef struct cmc_nce_ctx {
    size_t v, b, d, k, n;
    int graph;
    double tau;
    double *rows[3];
    const int64_t *idx;
    int64_t neg[8][64]; /* per direction, in call order */
    double log_z[3];
} cmc_nce_ctx;

static double ref_cmc_nce(const double *x, void *vctx)
{
    cmc_nce_ctx *q = vctx;
    double total = 0.0;
    size_t dir = 0;
    for (size_t a = 0; a < q->v; a++)
        for (size_t b = a + 1; b < q->v; b++) {
            if (q->graph == LCT_CMC_CORE && a != 0) continue;
            for (int back = 0; back < 2; back++, dir++) {
                size_t anchor = back ? b : a, target = back ? a : b;
                nce_ctx c = {q->b, q->d, q->k, q->n, q->tau, q->log_z[target], q->rows[target], q->idx, q->neg[dir], 0};
                total += ref_nce(x + anchor * q->b * q->d, &c);
            }
        }
    return total;
}

START_TEST(test_cmc_nce_reference_and_gradients)
{
    lct_runtime *rt = lct_test_runtime(1, 37);
    const size_t V = 3, N = 20, D = 5, B = 4, K = 6;
    for (int run = 0; run < 4; run++) {
        int graph = run & 1;
        double tau = run < 2 ? 1.0 : 0.07;
        lct_bank *banks[3];
        for (size_t v = 0; v < V; v++) banks[v] = make_bank(rt, N, D, 1);
        lct_loss_cmc_options o;
        lct_loss_cmc_options_init(&o, 1);
        o.graph = graph;
        o.k = K;
        lct_loss *loss = NULL;
        ck_assert_int_eq(lct_loss_new_cmc(&loss, rt, V, D, banks, &o), LCT_OK);
        ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_TEMPERATURE, tau), LCT_OK);
        float x[3 * 4 * 5], g[3 * 4 * 5], val;
        fill_uniform(x, 60, 61, 1.0f);
        normalise_rows(x, V * B, D);
        const float *f[3] = {x, x + 20, x + 40};
        float *df[3] = {g, g + 20, g + 40};
        int64_t idx[4] = {0, 5, 19, 5};
        uint64_t st[3], calls[3];
        for (size_t v = 0; v < V; v++) lct__bank_rng_state(banks[v], &st[v], &calls[v]);
        ck_assert_int_eq(lct_loss_cmc_compute(loss, f, idx, B, &val, df), LCT_OK);
        for (size_t v = 0; v < V; v++) lct__bank_set_rng_state(banks[v], st[v], calls[v]);

        cmc_nce_ctx q;
        memset(&q, 0, sizeof q);
        q.v = V, q.b = B, q.d = D, q.k = K, q.n = N, q.graph = graph, q.tau = tau, q.idx = idx;
        for (size_t v = 0; v < V; v++) q.rows[v] = bank_rows(banks[v], N, D);
        double *xd = to_double(x, 60);
        /* replay the draws and the first-batch Z of each bank in call order */
        int z_known[3] = {0, 0, 0};
        size_t dir = 0;
        for (size_t a = 0; a < V; a++)
            for (size_t b = a + 1; b < V; b++) {
                if (graph == LCT_CMC_CORE && a != 0) continue;
                for (int back = 0; back < 2; back++, dir++) {
                    size_t anchor = back ? b : a, target = back ? a : b;
                    ck_assert_int_eq(lct_bank_sample(banks[target], idx, B, K, 0, q.neg[dir]), LCT_OK);
                    if (!z_known[target]) {
                        nce_ctx c = {B, D, K, N, tau, 0.0, q.rows[target], idx, q.neg[dir], 0};
                        q.log_z[target] = ref_log_z(xd + anchor * B * D, &c);
                        z_known[target] = 1;
                    }
                }
            }
        for (size_t v = 0; v < V; v++) {
            double lz;
            ck_assert_int_eq(lct_loss_get_log_z(loss, v, &lz, NULL), LCT_OK);
            assert_close(lz, q.log_z[v], 1e-6, "CMC log Z of a bank");
        }
        assert_close(val, ref_cmc_nce(xd, &q), 1e-5, "cmc nce loss");
        fd_check(ref_cmc_nce, &q, xd, 60, g, 2e-3, graph ? "cmc nce full" : "cmc nce core");
        free(xd);
        for (size_t v = 0; v < V; v++) {
            free(q.rows[v]);
        }
        lct_loss_free(loss);
        for (size_t v = 0; v < V; v++) lct_bank_free(banks[v]);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_cmc_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 41);
    lct_bank *banks[2] = {make_bank(rt, 8, 2, 1), make_bank(rt, 8, 2, 1)};
    lct_loss *loss = NULL, *sm = NULL;
    lct_loss_cmc_options o;
    lct_loss_cmc_options_init(&o, 1);
    o.k = 3;
    ck_assert_int_eq(lct_loss_new_cmc(&loss, rt, 2, 2, banks, &o), LCT_OK);
    o.objective = LCT_CMC_SOFTMAX;
    ck_assert_int_eq(lct_loss_new_cmc(&sm, rt, 2, 2, NULL, &o), LCT_OK);
    float a[4] = {1, 0, 0, 1}, b[4] = {0, 1, 1, 0}, ga[4], gb[4], v, nan_buf[4] = {0, 0, NAN, 0};
    const float *f[2] = {a, b}, *fnull[2] = {a, NULL}, *fnan[2] = {a, nan_buf};
    float *df[2] = {ga, gb}, *dfnull[2] = {ga, NULL};
    int64_t idx[2] = {0, 7}, bad[2] = {0, 8};
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(NULL, f, idx, 2, &v, df), LCT_EINVAL, "'loss'");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, NULL, idx, 2, &v, df), LCT_EINVAL, "'f'");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, fnull, idx, 2, &v, df), LCT_EINVAL, "f[1]");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, idx, 2, &v, dfnull), LCT_EINVAL, "df[1]");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, fnan, idx, 2, &v, df), LCT_ENUMERIC, "f[1][2] is NaN");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, NULL, 2, &v, df), LCT_EINVAL, "'idx'");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, bad, 2, &v, df), LCT_ERANGE, "idx");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, idx, 2, NULL, df), LCT_EINVAL, "'loss_out'");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, idx, 0, &v, df), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(sm, f, NULL, 1, &v, df), LCT_EINVAL, "batch is 1");
    /* the second direction overflows: the first one's draws and Z estimate are rolled back */
    float huge[4] = {1e36f, 1e36f, 1e36f, 1e36f};
    const float *fhuge[2] = {a, huge};
    uint64_t st, calls, st2, calls2;
    lct__bank_rng_state(banks[1], &st, &calls);
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, fhuge, idx, 2, &v, df), LCT_ENUMERIC, "overflow");
    lct__bank_rng_state(banks[1], &st2, &calls2);
    ck_assert(st == st2 && calls == calls2);
    int32_t known = 1;
    ck_assert_int_eq(lct_loss_get_log_z(loss, 1, NULL, &known), LCT_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_int_eq(lct_loss_set_param(loss, LCT_LOSS_PARAM_Z_POLICY, LCT_Z_FIXED), LCT_OK);
    ck_assert_int_eq(lct_loss_set_log_z(loss, 0, 2.0), LCT_OK);
    LCT_ASSERT_FAILS(lct_loss_cmc_compute(loss, f, idx, 2, &v, df), LCT_ESTATE, "bank 1");
    ck_assert_int_eq(lct_loss_set_log_z(loss, 1, 2.0), LCT_OK);
    ck_assert_int_eq(lct_loss_cmc_compute(loss, f, idx, 2, &v, NULL), LCT_OK);
    ck_assert(isfinite(v));
    ck_assert_int_eq(lct_loss_cmc_compute(sm, f, NULL, 2, &v, df), LCT_OK);
    LCT_ASSERT_FAILS(lct_loss_get_log_z(sm, 0, NULL, NULL), LCT_EINVAL, "no NCE");
    lct_loss_free(loss);
    lct_loss_free(sm);
    lct_bank_free(banks[0]);
    lct_bank_free(banks[1]);
    lct_runtime_free(rt);
}
END_TEST

/* ---- determinism and steady-state memory ------------------------------------------------- */

/* Every objective on the same data with 1 and 2 threads: bit-identical values and gradients. */
static void all_losses(unsigned threads, float *out, size_t *n_out, size_t *grew)
{
    lct_runtime *rt = lct_test_runtime(threads, 77);
    const size_t N = 300, D = 16, B = 32;
    lct_bank *bank = make_bank(rt, N, D, 1), *bank2 = make_bank(rt, N, D, 1);
    float *f = malloc(2 * B * D * sizeof *f), *g = malloc(2 * B * D * sizeof *g);
    fill_uniform(f, 2 * B * D, 5, 1.0f);
    normalise_rows(f, 2 * B, D);
    int64_t idx[32];
    for (size_t b = 0; b < B; b++) idx[b] = (int64_t)((b * 37) % N);
    size_t m = 0;
    *grew = 0;
    lct_loss *l[5] = {NULL};
    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, 1);
    no.k = 200;
    ck_assert_int_eq(lct_loss_new_nce(&l[0], rt, bank, &no), LCT_OK);
    lct_loss_npsoftmax_options po;
    lct_loss_npsoftmax_options_init(&po, 1);
    po.chunk = 128;
    ck_assert_int_eq(lct_loss_new_npsoftmax(&l[1], rt, bank, &po), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&l[2], rt, D, NULL), LCT_OK);
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, 1);
    io.steps = 3;
    io.negatives = LCT_INFONCE_ALL;
    ck_assert_int_eq(lct_loss_new_infonce(&l[3], rt, 8, D, 8, &io), LCT_OK);
    lct_bank *pair[2] = {bank, bank2};
    lct_loss_cmc_options co;
    lct_loss_cmc_options_init(&co, 1);
    co.k = 100;
    ck_assert_int_eq(lct_loss_new_cmc(&l[4], rt, 2, D, pair, &co), LCT_OK);
    for (int rep = 0; rep < 2; rep++) {
        size_t before = 0, after = 0;
        lct_runtime_memory(rt, &before, NULL);
        float v;
        ck_assert_int_eq(lct_loss_nce_compute(l[0], f, idx, B, &v, g), LCT_OK);
        out[m++] = v;
        memcpy(out + m, g, B * D * sizeof *g);
        m += B * D;
        ck_assert_int_eq(lct_loss_npsoftmax_compute(l[1], f, idx, B, &v, g), LCT_OK);
        out[m++] = v;
        memcpy(out + m, g, B * D * sizeof *g);
        m += B * D;
        ck_assert_int_eq(lct_loss_invaspread_compute(l[2], f, B, &v, g), LCT_OK);
        out[m++] = v;
        memcpy(out + m, g, 2 * B * D * sizeof *g);
        m += 2 * B * D;
        /* InfoNCE: 8 sequences of 8 steps; z from f, c from the first 8 columns of f */
        float acc[3];
        ck_assert_int_eq(lct_loss_infonce_compute(l[3], f, f, 8, &v, g, NULL, acc), LCT_OK);
        out[m++] = v;
        memcpy(out + m, g, 8 * 8 * D * sizeof *g);
        m += 8 * 8 * D;
        const float *views[2] = {f, f + B * D};
        float *dv[2] = {g, g + B * D};
        ck_assert_int_eq(lct_loss_cmc_compute(l[4], views, idx, B, &v, dv), LCT_OK);
        out[m++] = v;
        memcpy(out + m, g, 2 * B * D * sizeof *g);
        m += 2 * B * D;
        lct_runtime_memory(rt, &after, NULL);
        if (rep == 1 && after != before) *grew = after - before;
    }
    *n_out = m;
    for (int i = 0; i < 5; i++) lct_loss_free(l[i]);
    free(f);
    free(g);
    lct_bank_free(bank);
    lct_bank_free(bank2);
    lct_runtime_free(rt);
}

START_TEST(test_thread_count_independent_and_no_steady_allocation)
{
    size_t cap = 2 * (1 + 2 * 32 * 16) * 5 + 4 * 8 * 8 * 16 + 64;
    float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
    size_t na, nb, grew_a, grew_b;
    all_losses(1, a, &na, &grew_a);
    all_losses(2, b, &nb, &grew_b);
    ck_assert_uint_eq(na, nb);
    ck_assert(na <= cap);
    ck_assert_msg(memcmp(a, b, na * sizeof *a) == 0, "results differ between 1 and 2 threads");
    ck_assert(all_finite(a, na));
    ck_assert_msg(grew_a == 0 && grew_b == 0, "a steady step allocated %zu / %zu bytes", grew_a, grew_b);
    free(a);
    free(b);
}
END_TEST

/* The workspace query tells exactly what the first compute at a batch size allocates. */
static void check_workspace(lct_runtime *rt, lct_loss *loss, size_t batch, int (*run)(lct_loss *, size_t, void *),
                            size_t expect)
{
    size_t before = 0, after = 0;
    lct_runtime_memory(rt, &before, NULL);
    ck_assert_int_eq(run(loss, batch, NULL), LCT_OK);
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_msg(after - before == expect, "kind %d batch %zu: grew by %zu, expected %zu", lct_loss_get_kind(loss),
                  batch, after - before, expect);
}

static float ws_f[2 * 16 * 8 * 8], ws_g[2 * 16 * 8 * 8], ws_c[16 * 8 * 4], ws_v;
static int64_t ws_idx[16];

static int ws_run_nce(lct_loss *l, size_t b, void *c) { (void)c; return lct_loss_nce_compute(l, ws_f, ws_idx, b, &ws_v, ws_g); }
static int ws_run_np(lct_loss *l, size_t b, void *c) { (void)c; return lct_loss_npsoftmax_compute(l, ws_f, ws_idx, b, &ws_v, ws_g); }
static int ws_run_inv(lct_loss *l, size_t b, void *c) { (void)c; return lct_loss_invaspread_compute(l, ws_f, b, &ws_v, ws_g); }
static int ws_run_cpc(lct_loss *l, size_t b, void *c)
{
    (void)c;
    return lct_loss_infonce_compute(l, ws_f, ws_c, b, &ws_v, ws_g, NULL, NULL);
}
static int ws_run_cmc(lct_loss *l, size_t b, void *c)
{
    (void)c;
    const float *f[2] = {ws_f, ws_f + 16 * 8};
    float *g[2] = {ws_g, ws_g + 16 * 8};
    return lct_loss_cmc_compute(l, f, ws_idx, b, &ws_v, g);
}

START_TEST(test_workspace_query_matches)
{
    lct_runtime *rt = lct_test_runtime(1, 53);
    lct_bank *bank = make_bank(rt, 40, 8, 1);
    fill_uniform(ws_f, sizeof ws_f / sizeof *ws_f, 3, 0.3f);
    fill_uniform(ws_c, sizeof ws_c / sizeof *ws_c, 4, 0.3f);
    for (size_t i = 0; i < 16; i++) ws_idx[i] = (int64_t)(i * 7 % 40);
    lct_loss *l[5] = {NULL};
    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, 1);
    no.k = 9;
    ck_assert_int_eq(lct_loss_new_nce(&l[0], rt, bank, &no), LCT_OK);
    lct_loss_npsoftmax_options po;
    lct_loss_npsoftmax_options_init(&po, 1);
    po.chunk = 16;
    ck_assert_int_eq(lct_loss_new_npsoftmax(&l[1], rt, bank, &po), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&l[2], rt, 8, NULL), LCT_OK);
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, 1);
    io.steps = 3;
    ck_assert_int_eq(lct_loss_new_infonce(&l[3], rt, 8, 8, 4, &io), LCT_OK);
    lct_loss_cmc_options co;
    lct_loss_cmc_options_init(&co, 1);
    co.objective = LCT_CMC_SOFTMAX;
    ck_assert_int_eq(lct_loss_new_cmc(&l[4], rt, 2, 8, NULL, &co), LCT_OK);
    int (*run[5])(lct_loss *, size_t, void *) = {ws_run_nce, ws_run_np, ws_run_inv, ws_run_cpc, ws_run_cmc};
    for (int i = 0; i < 5; i++) {
        size_t small, big;
        ck_assert_int_eq(lct_loss_workspace_bytes(l[i], 4, &small), LCT_OK);
        ck_assert_int_eq(lct_loss_workspace_bytes(l[i], 8, &big), LCT_OK);
        ck_assert(small > 0 && big > small);
        /* the bank-reading losses also reserve the bank's update workspace (16 bytes a sample), once per bank:
         * NCE grows it; the softmax, on the same bank, finds it sized */
        size_t upd4 = i == 0 ? 16 * 4 : 0, upd8 = i == 0 ? 16 * 4 : 0;
        check_workspace(rt, l[i], 4, run[i], small + upd4);       /* first use: what the query says, plus the bank's */
        check_workspace(rt, l[i], 3, run[i], 0);                  /* smaller: nothing more */
        check_workspace(rt, l[i], 4, run[i], 0);                  /* steady: nothing */
        check_workspace(rt, l[i], 8, run[i], big - small + upd8); /* larger: grows once, the old block freed */
        lct_loss_free(l[i]);
    }
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* ---- allocation failures -------------------------------------------------------------------- */

START_TEST(test_allocation_failures)
{
    lct_test_alloc a;
    lct_runtime *rt = lct_test_failing_runtime(&a, 2, 47);
    lct_bank *bank = make_bank(rt, 16, 4, 1);
    lct_bank *pair[2] = {bank, bank};
    long base = a.live;
    /* every allocation of every constructor may fail: ENOMEM, out NULL, nothing leaked */
    for (int kind = 0; kind < 5; kind++) {
        for (long n = 1;; n++) {
            lct_loss *loss = (lct_loss *)&a;
            lct_test_alloc_arm(&a, n);
            int rc;
            lct_loss_infonce_options io;
            lct_loss_infonce_options_init(&io, 1);
            io.steps = 2;
            switch (kind) {
            case 0: rc = lct_loss_new_nce(&loss, rt, bank, NULL); break;
            case 1: rc = lct_loss_new_npsoftmax(&loss, rt, bank, NULL); break;
            case 2: rc = lct_loss_new_invaspread(&loss, rt, 4, NULL); break;
            case 3: rc = lct_loss_new_infonce(&loss, rt, 4, 4, 3, &io); break;
            default: rc = lct_loss_new_cmc(&loss, rt, 2, 4, pair, NULL); break;
            }
            lct_test_alloc_arm(&a, 0);
            if (rc == LCT_OK) {
                lct_loss_free(loss);
                ck_assert_int_eq(a.live, base);
                break;
            }
            ck_assert_int_eq(rc, LCT_ENOMEM);
            ck_assert_ptr_null(loss);
            ck_assert_msg(a.live == base, "constructor %d leaked after failing allocation %ld", kind, n);
            ck_assert(n < 20);
        }
    }
    /* the first compute sizes the workspace: its failure changes nothing, not even the bank's draws or Z */
    lct_loss *loss = NULL;
    lct_loss_nce_options o;
    lct_loss_nce_options_init(&o, 1);
    o.k = 3;
    ck_assert_int_eq(lct_loss_new_nce(&loss, rt, bank, &o), LCT_OK);
    float f[8] = {1, 0, 0, 0, 0, 1, 0, 0}, df[8], v;
    int64_t idx[2] = {3, 5};
    uint64_t st, calls, st2, calls2;
    lct__bank_rng_state(bank, &st, &calls);
    lct_test_alloc_arm(&a, 1);
    LCT_ASSERT_FAILS(lct_loss_nce_compute(loss, f, idx, 2, &v, df), LCT_ENOMEM, "cannot allocate");
    lct_test_alloc_arm(&a, 0);
    lct__bank_rng_state(bank, &st2, &calls2);
    ck_assert(st == st2 && calls == calls2);
    int32_t known;
    ck_assert_int_eq(lct_loss_get_log_z(loss, 0, NULL, &known), LCT_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_int_eq(lct_loss_nce_compute(loss, f, idx, 2, &v, df), LCT_OK);
    ck_assert(isfinite(v));
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

/* ---- Suite ------------------------------------------------------------------------------ */

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_options_init);
    tcase_add_test(tc, test_constructors_bad_input);
    tcase_add_test(tc, test_params_and_z_state);
    tcase_add_test(tc, test_invaspread_reference_and_gradients);
    tcase_add_test(tc, test_invaspread_robust);
    tcase_add_test(tc, test_invaspread_peaked_softmax_gradient);
    tcase_add_test(tc, test_invaspread_bad_input);
    tcase_add_test(tc, test_infonce_reference_and_gradients);
    tcase_add_test(tc, test_infonce_thread_count_independent);
    tcase_add_test(tc, test_infonce_bad_input_and_robust);
    tcase_add_test(tc, test_cmc_softmax_reference_and_gradients);
    tcase_add_test(tc, test_nce_reference_and_gradients);
    tcase_add_test(tc, test_nce_positive_from_input);
    tcase_add_test(tc, test_nce_z_policies);
    tcase_add_test(tc, test_nce_z_drift_warning);
    tcase_add_test(tc, test_nce_robust);
    tcase_add_test(tc, test_nce_bad_input);
    tcase_add_test(tc, test_npsoftmax_reference_and_gradients);
    tcase_add_test(tc, test_npsoftmax_bad_input_and_robust);
    tcase_add_test(tc, test_fp16_bank);
    tcase_add_test(tc, test_cmc_nce_reference_and_gradients);
    tcase_add_test(tc, test_cmc_bad_input);
    tcase_add_test(tc, test_thread_count_independent_and_no_steady_allocation);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_workspace_query_matches);
}

int main(void)
{
    return lct_test_main("loss", "loss", 120, add_tests);
}
