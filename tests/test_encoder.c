/* The encoder handle: builder and spec, queries, bad input, determinism, steady-state allocation. */
#include "enc_testutil.h"

static const char *const MLP = "in 784; linear 64; bn; relu; linear 32; bn; relu; linear 16; l2norm";
static const char *const CNN = "in 1x12x12; conv2d 4 k3 p1; bn; relu; maxpool 2; conv2d 8 k3 p1; bn; relu; maxpool 2; "
                               "flatten; linear 16; relu; dropout 0.2; linear 8; l2norm";

START_TEST(test_options_init)
{
    lct_encoder_options o;
    LCT_ASSERT_OPTIONS_INIT(lct_encoder_options_init, o, LCT_ENCODER_OPTIONS_VERSION, "opts");
    ck_assert_uint_eq(o.check_finite, 1);
}
END_TEST

START_TEST(test_new_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_encoder *enc = (lct_encoder *)&rt;
    uint32_t shape[3] = {1, 28, 28}, zero[2] = {3, 0};
    LCT_ASSERT_FAILS(lct_encoder_new(NULL, rt, shape, 3, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, NULL, shape, 3, NULL), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(enc);
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, NULL, 3, NULL), LCT_EINVAL, "'shape'");
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, shape, 0, NULL), LCT_EINVAL, "rank is 0");
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, shape, 4, NULL), LCT_EINVAL, "rank is 4");
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, zero, 2, NULL), LCT_EINVAL, "shape[1] is 0");
    uint32_t huge[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, huge, 3, NULL), LCT_ESHAPE, "sample size");
    lct_encoder_options o;
    lct_encoder_options_init(&o, LCT_ENCODER_OPTIONS_VERSION);
    o.version = 42;
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, shape, 3, &o), LCT_EVERSION, "version is 42");
    o.version = LCT_ENCODER_OPTIONS_VERSION;
    o.check_finite = 2;
    LCT_ASSERT_FAILS(lct_encoder_new(&enc, rt, shape, 3, &o), LCT_EINVAL, "check_finite");
    ck_assert_ptr_null(enc);
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0); /* nothing half-built */
    lct_encoder_free(NULL);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_builder_bad_input_leaves_encoder_unchanged)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    uint32_t shape[3] = {3, 8, 8};
    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new(&enc, rt, shape, 3, NULL), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_conv2d(enc, 4, 3, 1, 1, 1), LCT_OK);
    char before[256];
    snprintf(before, sizeof before, "%s", lct_encoder_spec(enc));
    size_t mem0;
    lct_runtime_memory(rt, &mem0, NULL);
    LCT_ASSERT_FAILS(lct_encoder_add_linear(NULL, 3, 1), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_add_linear(enc, 3, 1), LCT_ESHAPE, "flatten");
    LCT_ASSERT_FAILS(lct_encoder_add_linear(enc, 0, 1), LCT_EINVAL, "out_features is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_conv2d(enc, 0, 3, 1, 1, 1), LCT_EINVAL, "out_channels is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_conv2d(enc, 4, 0, 1, 1, 1), LCT_EINVAL, "kernel is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_conv2d(enc, 4, 3, 0, 1, 1), LCT_EINVAL, "stride is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_conv2d(enc, 4, 11, 1, 1, 1), LCT_ESHAPE, "larger than the padded input");
    LCT_ASSERT_FAILS(lct_encoder_add_conv1d(enc, 4, 3, 1, 0, 1), LCT_ESHAPE, "rank-2");
    LCT_ASSERT_FAILS(lct_encoder_add_batchnorm(enc, 0.1f, 0.0f), LCT_EINVAL, "eps");
    LCT_ASSERT_FAILS(lct_encoder_add_batchnorm(enc, 1.5f, 1e-5f), LCT_EINVAL, "momentum");
    LCT_ASSERT_FAILS(lct_encoder_add_batchnorm(enc, NAN, 1e-5f), LCT_EINVAL, "momentum");
    LCT_ASSERT_FAILS(lct_encoder_add_maxpool(enc, 9, 1), LCT_ESHAPE, "larger than the input");
    LCT_ASSERT_FAILS(lct_encoder_add_maxpool(enc, 0, 1), LCT_EINVAL, "kernel is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_avgpool(enc, 2, 0), LCT_EINVAL, "stride is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_transpose(enc), LCT_ESHAPE, "rank-2");
    LCT_ASSERT_FAILS(lct_encoder_add_dropout(enc, 1.0f), LCT_EINVAL, "dropout p is 1");
    LCT_ASSERT_FAILS(lct_encoder_add_dropout(enc, -0.1f), LCT_EINVAL, "dropout p");
    LCT_ASSERT_FAILS(lct_encoder_add_l2norm(enc, 1e-12f), LCT_ESHAPE, "flatten");
    LCT_ASSERT_FAILS(lct_encoder_add_l2norm(enc, 0.0f), LCT_EINVAL, "eps");
    LCT_ASSERT_FAILS(lct_encoder_add_gru(enc, 8), LCT_ESHAPE, "T x D");
    LCT_ASSERT_FAILS(lct_encoder_add_gru(enc, 0), LCT_EINVAL, "hidden is 0");
    LCT_ASSERT_FAILS(lct_encoder_add_relu(NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_add_flatten(NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_add_global_avgpool(NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_add_batchnorm(NULL, 0.1f, 1e-5f), LCT_EINVAL, "'enc'");
    /* pooling and GRU layers on a vector input */
    lct_encoder *vec;
    uint32_t d = 10;
    ck_assert_int_eq(lct_encoder_new(&vec, rt, &d, 1, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_add_global_avgpool(vec), LCT_ESHAPE, "gap needs a C x L or C x H x W input");
    LCT_ASSERT_FAILS(lct_encoder_add_maxpool(vec, 2, 2), LCT_ESHAPE, "maxpool needs");
    LCT_ASSERT_FAILS(lct_encoder_add_avgpool(vec, 2, 2), LCT_ESHAPE, "avgpool needs");
    LCT_ASSERT_FAILS(lct_encoder_add_conv2d(vec, 2, 1, 1, 0, 1), LCT_ESHAPE, "rank-3");
    lct_encoder_free(vec);
    size_t mem1, layers;
    lct_runtime_memory(rt, &mem1, NULL);
    ck_assert_uint_eq(mem0, mem1);
    ck_assert_str_eq(lct_encoder_spec(enc), before);
    ck_assert_int_eq(lct_encoder_layer_count(enc, &layers), LCT_OK);
    ck_assert_uint_eq(layers, 1);
    /* sealed by params() */
    ck_assert_ptr_nonnull(lct_encoder_params(enc));
    LCT_ASSERT_FAILS(lct_encoder_add_relu(enc), LCT_ESTATE, "sealed");
    ck_assert_ptr_null(lct_encoder_params(NULL));
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* Only lct_encoder_seal() and the calls documented to seal do: getters and setters leave it open. */
START_TEST(test_seal_explicit_and_getters_leave_it_open)
{
    lct_runtime *rt = lct_test_runtime(1, 7);
    lct_encoder *enc = spec_encoder(rt, "in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2");
    size_t sz, t, s;
    uint64_t u, flops, bytes;
    uint32_t shape[3];
    ck_assert_int_eq(lct_encoder_output_size(enc, &sz), LCT_OK);
    ck_assert_int_eq(lct_encoder_output_shape(enc, shape, 3, &sz), LCT_OK);
    ck_assert_int_eq(lct_encoder_layer_count(enc, &sz), LCT_OK);
    ck_assert_int_eq(lct_encoder_param_count(enc, &t, &s), LCT_OK);
    ck_assert_int_eq(lct_encoder_workspace_bytes(enc, 4, &sz), LCT_OK);
    ck_assert_int_eq(lct_encoder_cost(enc, 4, &flops, &bytes, &sz), LCT_OK);
    ck_assert_int_eq(lct_encoder_step(enc, &u), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_mode(enc, LCT_ENCODER_EVAL), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_mode(enc, LCT_ENCODER_TRAIN), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_precision(enc, LCT_PRECISION_FP32), LCT_OK);
    ck_assert_ptr_nonnull(lct_encoder_spec(enc));
    ck_assert_int_eq(lct_encoder_add_flatten(enc), LCT_OK); /* still open */
    ck_assert_int_eq(lct_encoder_seal(enc), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_add_relu(enc), LCT_ESTATE, "sealed");
    ck_assert_int_eq(lct_encoder_seal(enc), LCT_OK); /* again: nothing changes */
    ck_assert_int_eq(lct_encoder_layer_count(enc, &sz), LCT_OK);
    ck_assert_uint_eq(sz, 5);
    float x[4 * 64], y[4 * 64];
    fill_uniform(x, 4 * 64, 3, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_seal(NULL), LCT_EINVAL, "'enc'");
    lct_encoder_free(enc);
    /* a forward pass seals, as before */
    enc = spec_encoder(rt, "in 6; linear 3");
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_add_relu(enc), LCT_ESTATE, "sealed");
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* The plan follows the mode: a train-mode pass after an eval-mode one is the one a fresh train-mode
 * encoder makes (the convolution gathers the batch norm's statistics only in train mode). */
START_TEST(test_plan_follows_mode)
{
    lct_runtime *rt = lct_test_runtime(1, 11), *rt2 = lct_test_runtime(1, 11);
    lct_encoder *a = spec_encoder(rt, CNN), *b = spec_encoder(rt2, CNN); /* the same initial values */
    float x[6 * 144], ya[6 * 8], yb[6 * 8], dy[6 * 8], dxa[6 * 144], dxb[6 * 144];
    fill_uniform(x, 6 * 144, 4, -1, 1);
    fill_uniform(dy, 6 * 8, 5, -1, 1);
    ck_assert_int_eq(lct_encoder_set_mode(a, LCT_ENCODER_EVAL), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(a, x, 6, ya), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_mode(a, LCT_ENCODER_TRAIN), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(a, x, 6, ya), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(a, dy, 6, dxa), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(b, x, 6, yb), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(b, dy, 6, dxb), LCT_OK);
    ck_assert(memcmp(ya, yb, sizeof ya) == 0);
    ck_assert(memcmp(dxa, dxb, sizeof dxa) == 0);
    lct_encoder_free(a);
    lct_encoder_free(b);
    lct_runtime_free(rt);
    lct_runtime_free(rt2);
}
END_TEST

START_TEST(test_spec_errors_point_at_token)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_encoder *enc = (lct_encoder *)&rt;
    static const struct {
        const char *spec;
        int code;
        const char *needle;
    } bad[] = {
        {"", LCT_EFORMAT, "must start with 'in"},
        {"linear 3", LCT_EFORMAT, "'linear' at column 1"},
        {"in", LCT_EFORMAT, "missing shape"},
        {"in 1x28x", LCT_EFORMAT, "'1x28x' at column 4"},
        {"in 1x0", LCT_EFORMAT, "malformed shape"},
        {"in 1x2x3x4", LCT_EFORMAT, "more than 3"},
        {"in 10 20", LCT_EFORMAT, "'20' at column 7"},
        {"in 10; foo 3", LCT_EFORMAT, "unknown layer: 'foo' at column 8"},
        {"in 10; linear", LCT_EFORMAT, "missing argument after: 'linear' at column 8"},
        {"in 10; linear 3x", LCT_EFORMAT, "'3x' at column 15"},
        {"in 10; linear -3", LCT_EFORMAT, "'-3'"},
        {"in 10; linear 99999999999", LCT_EFORMAT, "'99999999999'"},
        {"in 10; linear 3 bias", LCT_EFORMAT, "unknown option for this layer: 'bias' at column 17"},
        {"in 1x8x8; conv2d 4 s2", LCT_EFORMAT, "kernel size (k<N>) missing"},
        {"in 1x8x8; conv2d 4 k3 k3", LCT_EFORMAT, "repeated option: 'k3' at column 23"},
        {"in 1x8x8; conv2d 4 kx", LCT_EFORMAT, "malformed integer in option: 'kx'"},
        {"in 10; bn momentum=abc", LCT_EFORMAT, "'momentum=abc'"},
        {"in 10; bn eps=1e999", LCT_EFORMAT, "'eps=1e999'"},
        {"in 10; dropout", LCT_EFORMAT, "missing argument"},
        {"in 10; dropout x", LCT_EFORMAT, "'x'"},
        {"in 10; ; relu", LCT_EFORMAT, "empty layer"},
        {"in 10; relu extra", LCT_EFORMAT, "'extra' at column 13"},
        {"in 10; linear 0", LCT_EINVAL, "layer 1 'linear 0' at column 8"},
        {"in 10; relu; conv2d 3 k3", LCT_ESHAPE, "layer 2 'conv2d 3 k3' at column 14"},
        {"in 10; dropout 1.5", LCT_EINVAL, "dropout p is 1.5"},
        {"in 1x4x4; maxpool 5", LCT_ESHAPE, "larger than the input"},
    };
    size_t cur;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lct_error_clear();
        int rc = lct_encoder_new_from_spec(&enc, rt, bad[i].spec, NULL);
        ck_assert_msg(rc == bad[i].code, "spec '%s': %d (%s)", bad[i].spec, rc, lct_error_last());
        ck_assert_msg(strstr(lct_error_last(), bad[i].needle) != NULL, "spec '%s': message '%s' lacks '%s'",
                      bad[i].spec, lct_error_last(), bad[i].needle);
        ck_assert_ptr_null(enc);
        lct_runtime_memory(rt, &cur, NULL);
        ck_assert_uint_eq(cur, 0);
    }
    LCT_ASSERT_FAILS(lct_encoder_new_from_spec(NULL, rt, "in 3", NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_encoder_new_from_spec(&enc, NULL, "in 3", NULL), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_encoder_new_from_spec(&enc, rt, NULL, NULL), LCT_EINVAL, "'spec'");
    lct_encoder_options o;
    lct_encoder_options_init(&o, LCT_ENCODER_OPTIONS_VERSION);
    o.version = 9;
    LCT_ASSERT_FAILS(lct_encoder_new_from_spec(&enc, rt, "in 3", &o), LCT_EVERSION, "version is 9");
    /* a failed spec consumes no random stream: the next encoder draws what it would have anyway */
    lct_runtime *rt2 = lct_test_runtime(1, 0);
    lct_encoder *a = spec_encoder(rt, "in 5; linear 3"), *b = spec_encoder(rt2, "in 5; linear 3");
    float wa[15], wb[15];
    lct_params_get(lct_encoder_params(a), 0, wa, 15);
    lct_params_get(lct_encoder_params(b), 0, wb, 15);
    ck_assert(memcmp(wa, wb, sizeof wa) == 0);
    lct_encoder_free(a);
    lct_encoder_free(b);
    lct_runtime_free(rt2);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_spec_and_builder_identical)
{
    lct_runtime *r1 = lct_test_runtime(1, 42), *r2 = lct_test_runtime(2, 42);
    lct_encoder *a = spec_encoder(r1, "in 1x16x16 ; conv2d 8 k3 p1;bn;relu; maxpool 2 ;conv2d 8 k3 s2 p1 nobias; "
                                      "bn momentum=0.05 eps=1e-3; relu; avgpool 2 s1; gap; dropout 0.1; linear 10; "
                                      "l2norm;");
    uint32_t shape[3] = {1, 16, 16};
    lct_encoder *b;
    ck_assert_int_eq(lct_encoder_new(&b, r2, shape, 3, NULL), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_conv2d(b, 8, 3, 1, 1, 1), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_batchnorm(b, 0.1f, 1e-5f), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_relu(b), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_maxpool(b, 2, 2), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_conv2d(b, 8, 3, 2, 1, 0), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_batchnorm(b, 0.05f, 1e-3f), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_relu(b), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_avgpool(b, 2, 1), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_global_avgpool(b), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_dropout(b, 0.1f), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_linear(b, 10, 1), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_l2norm(b, 1e-12f), LCT_OK);
    ck_assert_str_eq(lct_encoder_spec(a), lct_encoder_spec(b));
    ck_assert_str_eq(lct_encoder_spec(a), "in 1x16x16; conv2d 8 k3 s1 p1; batchnorm momentum=0.100000001 eps=9.99999975e-06; "
                                          "relu; maxpool 2 s2; conv2d 8 k3 s2 p1 nobias; batchnorm momentum=0.0500000007 "
                                          "eps=0.00100000005; relu; avgpool 2 s1; gap; dropout 0.100000001; linear 10; "
                                          "l2norm eps=9.99999996e-13");
    /* the canonical text rebuilds the same architecture */
    lct_encoder *c = spec_encoder(r1, lct_encoder_spec(a));
    ck_assert_str_eq(lct_encoder_spec(c), lct_encoder_spec(a));
    lct_params *pa = lct_encoder_params(a), *pb = lct_encoder_params(b);
    ck_assert_int_eq(lct_params_count(pa), lct_params_count(pb));
    ck_assert_int_eq(lct_params_count(pa), 2 + 4 + 1 + 4 + 2);
    for (int i = 0; i < lct_params_count(pa); i++) {
        const char *na, *nb;
        size_t ca, cb;
        int ta, tb;
        lct_params_info(pa, (size_t)i, &na, &ca, &ta);
        lct_params_info(pb, (size_t)i, &nb, &cb, &tb);
        ck_assert_str_eq(na, nb);
        ck_assert_uint_eq(ca, cb);
        ck_assert_int_eq(ta, tb);
        float *va = malloc(ca * sizeof *va), *vb = malloc(cb * sizeof *vb);
        lct_params_get(pa, (size_t)i, va, ca);
        lct_params_get(pb, (size_t)i, vb, cb);
        ck_assert_msg(memcmp(va, vb, ca * sizeof *va) == 0, "tensor %s differs", na);
        free(va);
        free(vb);
    }
    const char *name;
    lct_params_info(pa, 0, &name, NULL, NULL);
    ck_assert_str_eq(name, "0.conv2d.weight");
    lct_params_info(pa, 5, &name, NULL, NULL);
    ck_assert_str_eq(name, "1.batchnorm.running_var");
    lct_params_info(pa, 6, &name, NULL, NULL);
    ck_assert_str_eq(name, "4.conv2d.weight");
    lct_encoder_free(a);
    lct_encoder_free(b);
    lct_encoder_free(c);
    lct_runtime_free(r1);
    lct_runtime_free(r2);
}
END_TEST

START_TEST(test_init_follows_pytorch_defaults)
{
    lct_runtime *rt = lct_test_runtime(1, 7);
    lct_encoder *enc = spec_encoder(rt, "in 3x10x10; conv2d 64 k3; bn; flatten; linear 50");
    lct_encoder_free(enc);
    enc = spec_encoder(rt, "in 3x10x10; conv2d 64 k3; bn; flatten; linear 50");
    lct_params *p = lct_encoder_params(enc);
    size_t fan_conv = 27, fan_lin = 64 * 8 * 8;
    struct {
        size_t idx, count;
        double bound;
    } t[] = {{0, 64 * 27, 1 / sqrt((double)fan_conv)}, {1, 64, 1 / sqrt((double)fan_conv)},
             {6, 50 * fan_lin, 1 / sqrt((double)fan_lin)}, {7, 50, 1 / sqrt((double)fan_lin)}};
    for (size_t k = 0; k < 4; k++) {
        float *v = malloc(t[k].count * sizeof *v);
        lct_params_get(p, t[k].idx, v, t[k].count);
        double mean = 0, var = 0, mx = 0;
        for (size_t i = 0; i < t[k].count; i++) {
            mean += v[i];
            var += (double)v[i] * v[i];
            mx = fmax(mx, fabs(v[i]));
        }
        mean /= t[k].count;
        var /= t[k].count;
        ck_assert_double_le(mx, t[k].bound);
        ck_assert_double_ge(mx, 0.9 * t[k].bound);
        if (t[k].count >= 1000) {
            /* U(-b, b): variance b²/3 */
            ck_assert_double_lt(fabs(mean), 0.05 * t[k].bound);
            ck_assert_double_lt(fabs(var / (t[k].bound * t[k].bound / 3) - 1), 0.1);
        }
        free(v);
    }
    float bn[64];
    lct_params_get(p, 2, bn, 64);
    for (int i = 0; i < 64; i++) ck_assert_float_eq(bn[i], 1.0f);
    lct_params_get(p, 3, bn, 64);
    for (int i = 0; i < 64; i++) ck_assert_float_eq(bn[i], 0.0f);
    lct_params_get(p, 5, bn, 64);
    for (int i = 0; i < 64; i++) ck_assert_float_eq(bn[i], 1.0f);
    /* a different seed gives other values; the same seed the same ones */
    lct_runtime *r2 = lct_test_runtime(2, 7), *r3 = lct_test_runtime(1, 8);
    lct_encoder *same = spec_encoder(r2, "in 3x10x10; conv2d 64 k3; bn; flatten; linear 50");
    lct_encoder *other = spec_encoder(r3, "in 3x10x10; conv2d 64 k3; bn; flatten; linear 50");
    float a[64 * 27], b[64 * 27], c[64 * 27];
    lct_params_get(p, 0, a, 64 * 27);
    lct_params_get(lct_encoder_params(same), 0, b, 64 * 27);
    lct_params_get(lct_encoder_params(other), 0, c, 64 * 27);
    /* `enc` is the runtime's second handle; `same` is r2's first: different streams, different values */
    ck_assert(memcmp(a, b, sizeof a) != 0);
    ck_assert(memcmp(b, c, sizeof a) != 0);
    lct_encoder_free(same);
    lct_encoder_free(other);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    lct_runtime_free(r2);
    lct_runtime_free(r3);
}
END_TEST

START_TEST(test_queries)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_encoder *enc = spec_encoder(rt, "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; flatten; linear 128; l2norm");
    uint32_t shape[3] = {0};
    size_t rank, n, trainable, state, layers;
    ck_assert_int_eq(lct_encoder_input_shape(enc, shape, 3, &rank), LCT_OK);
    ck_assert_uint_eq(rank, 3);
    ck_assert_uint_eq(shape[1], 28);
    ck_assert_int_eq(lct_encoder_output_shape(enc, shape, 3, &rank), LCT_OK);
    ck_assert_uint_eq(rank, 1);
    ck_assert_uint_eq(shape[0], 128);
    ck_assert_int_eq(lct_encoder_output_shape(enc, NULL, 0, &rank), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_output_shape(enc, NULL, 2, &rank), LCT_EINVAL, "'shape'");
    LCT_ASSERT_FAILS(lct_encoder_input_shape(NULL, shape, 3, &rank), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_output_shape(NULL, shape, 3, &rank), LCT_EINVAL, "'enc'");
    ck_assert_int_eq(lct_encoder_input_size(enc, &n), LCT_OK);
    ck_assert_uint_eq(n, 784);
    ck_assert_int_eq(lct_encoder_output_size(enc, &n), LCT_OK);
    ck_assert_uint_eq(n, 128);
    LCT_ASSERT_FAILS(lct_encoder_input_size(NULL, &n), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_input_size(enc, NULL), LCT_EINVAL, "'size'");
    LCT_ASSERT_FAILS(lct_encoder_output_size(NULL, &n), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_output_size(enc, NULL), LCT_EINVAL, "'size'");
    ck_assert_int_eq(lct_encoder_param_count(enc, &trainable, &state), LCT_OK);
    ck_assert_uint_eq(trainable, 32 * 9 + 32 + 2 * 32 + 128 * 32 * 14 * 14 + 128);
    ck_assert_uint_eq(state, 64);
    LCT_ASSERT_FAILS(lct_encoder_param_count(NULL, &trainable, &state), LCT_EINVAL, "'enc'");
    ck_assert_int_eq(lct_encoder_layer_count(enc, &layers), LCT_OK);
    ck_assert_uint_eq(layers, 7);
    LCT_ASSERT_FAILS(lct_encoder_layer_count(NULL, &layers), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_layer_count(enc, NULL), LCT_EINVAL, "'count'");
    size_t b1, b64;
    ck_assert_int_eq(lct_encoder_workspace_bytes(enc, 1, &b1), LCT_OK);
    ck_assert_int_eq(lct_encoder_workspace_bytes(enc, 64, &b64), LCT_OK);
    /* at least the activations: input, conv, pool, flatten, linear, l2norm per sample */
    ck_assert_uint_ge(b64, 64 * 4 * (784 + 2 * 32 * 784 + 3 * 32 * 196 + 2 * 128));
    ck_assert_uint_gt(b64, 32 * b1);
    LCT_ASSERT_FAILS(lct_encoder_workspace_bytes(enc, 0, &b1), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_encoder_workspace_bytes(enc, SIZE_MAX / 2, &b1), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_encoder_workspace_bytes(NULL, 1, &b1), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_workspace_bytes(enc, 1, NULL), LCT_EINVAL, "'bytes'");
    ck_assert_ptr_null(lct_encoder_spec(NULL));
    /* the workspace query matches what forward allocates */
    size_t before, after;
    lct_runtime_memory(rt, &before, NULL);
    float *x = calloc(64 * 784, sizeof *x), *y = malloc(64 * 128 * sizeof *y);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 64, y), LCT_OK);
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_uint_eq(after - before, b64);
    ck_assert_int_eq(lct_encoder_get_mode(enc), LCT_ENCODER_TRAIN);
    LCT_ASSERT_FAILS(lct_encoder_get_mode(NULL), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_set_mode(enc, 2), LCT_EINVAL, "mode is 2");
    LCT_ASSERT_FAILS(lct_encoder_set_mode(NULL, 0), LCT_EINVAL, "'enc'");
    uint64_t step;
    ck_assert_int_eq(lct_encoder_step(enc, &step), LCT_OK);
    ck_assert_uint_eq(step, 1);
    LCT_ASSERT_FAILS(lct_encoder_step(NULL, &step), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_step(enc, NULL), LCT_EINVAL, "'step'");
    LCT_ASSERT_FAILS(lct_encoder_set_step(NULL, 1), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_zero_grad(NULL), LCT_EINVAL, "'enc'");
    free(x);
    free(y);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_forward_backward_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    lct_encoder *enc = spec_encoder(rt, "in 6; linear 4; bn; relu");
    float x[6 * 8], y[4 * 8], dy[4 * 8], dx[6 * 8];
    fill_uniform(x, 48, 1, -1, 1);
    fill_uniform(dy, 32, 2, -1, 1);
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, dy, 8, dx), LCT_ESTATE, "no forward");
    LCT_ASSERT_FAILS(lct_encoder_forward(NULL, x, 8, y), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, NULL, 8, y), LCT_EINVAL, "'x'");
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 8, NULL), LCT_EINVAL, "'y'");
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 0, y), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, SIZE_MAX / 4, y), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 1, y), LCT_EINVAL, "batchnorm");
    float keep = x[7];
    x[7] = NAN;
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 8, y), LCT_ENUMERIC, "x contains NaN");
    x[7] = INFINITY;
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 8, y), LCT_ENUMERIC, "x contains");
    x[7] = keep;
    /* nothing changed by the failures: running statistics still at their defaults, step 0 */
    float rv[4];
    uint64_t step;
    lct_params_get(lct_encoder_params(enc), 5, rv, 4);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(rv[i], 1.0f);
    lct_encoder_step(enc, &step);
    ck_assert_uint_eq(step, 0);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 8, y), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_backward(NULL, dy, 8, dx), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, NULL, 8, dx), LCT_EINVAL, "'dy'");
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, dy, 4, dx), LCT_ESTATE, "batch is 4 but the last forward pass had batch 8");
    dy[3] = NAN;
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, dy, 8, dx), LCT_ENUMERIC, "dy contains NaN");
    float g[24];
    lct_params_get_grad(lct_encoder_params(enc), 0, g, 24);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(g[i], 0.0f);
    dy[3] = 0.5f;
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 8, dx), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 8, NULL), LCT_OK);
    /* two backward passes accumulate twice the gradient */
    float g2[24];
    lct_params_get_grad(lct_encoder_params(enc), 0, g2, 24);
    ck_assert_int_eq(lct_encoder_zero_grad(enc), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 8, NULL), LCT_OK);
    lct_params_get_grad(lct_encoder_params(enc), 0, g, 24);
    for (int i = 0; i < 24; i++) ck_assert_float_eq_tol(g2[i], 2 * g[i], 1e-6);
    /* a mode change forgets the forward pass */
    ck_assert_int_eq(lct_encoder_set_mode(enc, LCT_ENCODER_EVAL), LCT_OK);
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, dy, 8, dx), LCT_ESTATE, "no forward");
    /* eval mode accepts a single sample */
    ck_assert_int_eq(lct_encoder_forward(enc, x, 1, y), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 1, dx), LCT_OK);
    lct_encoder_free(enc);
    /* check_finite = 0 skips the scan */
    lct_encoder_options o;
    lct_encoder_options_init(&o, LCT_ENCODER_OPTIONS_VERSION);
    o.check_finite = 0;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt, "in 6; linear 4", &o), LCT_OK);
    x[0] = NAN;
    ck_assert_int_eq(lct_encoder_forward(enc, x, 8, y), LCT_OK);
    ck_assert(isnan(y[0]));
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_identity_encoder)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    uint32_t shape[2] = {3, 4};
    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new(&enc, rt, shape, 2, NULL), LCT_OK);
    ck_assert_str_eq(lct_encoder_spec(enc), "in 3x4");
    float x[24], y[24], dx[24];
    fill_uniform(x, 24, 3, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    ck_assert(memcmp(x, y, sizeof x) == 0);
    ck_assert_int_eq(lct_encoder_backward(enc, y, 2, dx), LCT_OK);
    ck_assert(memcmp(x, dx, sizeof x) == 0);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* Forward + backward of `spec` with `threads` at `precision`; returns y, dx and all gradients concatenated
 * (NULL if the CPU cannot run that precision). */
static float *run_step(const char *spec, unsigned threads, size_t batch, int precision, size_t *n_out)
{
    lct_runtime *rt = lct_test_runtime(threads, 99);
    lct_encoder *enc = spec_encoder(rt, spec);
    int rc = lct_encoder_set_precision(enc, precision);
    if (rc != LCT_OK) {
        ck_assert_int_eq(rc, LCT_EUNSUPPORTED);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
        return NULL;
    }
    size_t in = enc_in(enc), out = enc_out(enc), total;
    lct_params *p = lct_encoder_params(enc);
    lct_params_total(p, &total);
    size_t n = batch * out + batch * in + total;
    float *res = malloc(n * sizeof *res), *x = malloc(batch * in * sizeof *x), *dy = malloc(batch * out * sizeof *dy);
    fill_uniform(x, batch * in, 5, -1, 1);
    fill_uniform(dy, batch * out, 6, -1, 1);
    for (int rep = 0; rep < 2; rep++) { /* a second step: dropout masks move, running stats update */
        ck_assert_int_eq(lct_encoder_forward(enc, x, batch, res), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, batch, res + batch * out), LCT_OK);
    }
    float *q = res + batch * out + batch * in;
    for (int i = 0; i < lct_params_count(p); i++) {
        size_t c;
        int tr;
        lct_params_info(p, (size_t)i, NULL, &c, &tr);
        if (tr) lct_params_get_grad(p, (size_t)i, q, c);
        else lct_params_get(p, (size_t)i, q, c);
        q += c;
    }
    free(x);
    free(dy);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    *n_out = n;
    return res;
}

START_TEST(test_identical_for_1_and_2_threads)
{
    static const char *const specs[] = {
        "in 784; linear 256; bn; relu; linear 128; bn; relu; dropout 0.3; linear 64; l2norm",
        "in 1x28x28; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; maxpool 2; flatten; "
        "linear 64; relu; linear 32; l2norm",
        "in 1x400; conv1d 16 k10 s5; bn; relu; conv1d 16 k4 s2 p1; relu; transpose; gru 24",
        /* CPC's encoder scaled down: every conv1d with its ReLU fused, the polyphase input kept for backward */
        "in 1x640; conv1d 32 k10 s5 p3; relu; conv1d 32 k8 s4 p2; relu; conv1d 32 k4 s2 p1; relu; transpose; gru 16",
        /* odd sizes and a batch that leaves the last group of a chunk short */
        "in 3x13x11; conv2d 8 k3 p1; bn; relu; maxpool 2; conv2d 6 k3 s2 nobias; bn; relu; maxpool 2; flatten; "
        "linear 8",
        /* bf16: odd widths leave partial tile blocks in every product, and sequences make rows = batch × T */
        "in 300; linear 200; bn; relu; linear 70; bn; relu; linear 33",
        "in 1x14x14; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; maxpool 2; flatten; "
        "linear 40; relu; linear 24",
        "in 5x48; linear 40; relu; linear 20",
        /* bf16 convolutions without a batch norm: columns packed from the images (3x3 p1), then im2col (s2) */
        "in 3x13x11; conv2d 8 k3 p1; relu; conv2d 6 k3 s2 nobias; relu; flatten; linear 8",
    };
    size_t batch[] = {64, 40, 20, 9, 37, 37, 45, 19, 37};
    int bf16[] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        size_t n1, n2;
        int prec = bf16[s] ? LCT_PRECISION_BF16 : LCT_PRECISION_FP32;
        float *a = run_step(specs[s], 1, batch[s], prec, &n1);
        if (a == NULL) {
            printf("bf16: no AMX-BF16 tiles here, '%s' not run\n", specs[s]);
            continue;
        }
        float *b = run_step(specs[s], 2, batch[s], prec, &n2);
        ck_assert_uint_eq(n1, n2);
        size_t diff = 0;
        for (size_t i = 0; i < n1; i++) diff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
        ck_assert_msg(diff == 0, "%s: %zu of %zu values differ between 1 and 2 threads", specs[s], diff, n1);
        free(a);
        free(b);
    }
}
END_TEST

static long n_allocs;
static void *counting_alloc(void *user, size_t size)
{
    (void)user;
    n_allocs++;
    return malloc(size);
}
static void counting_free(void *user, void *p)
{
    (void)user;
    free(p);
}

START_TEST(test_no_allocation_in_steady_step)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = 2;
    o.alloc = counting_alloc;
    o.free = counting_free;
    lct_runtime *rt;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    const char *specs[] = {MLP, CNN, "in 1x200; conv1d 8 k10 s5; relu; transpose; gru 8", MLP, CNN};
    for (size_t s = 0; s < 5; s++) {
        lct_encoder *enc = spec_encoder(rt, specs[s]);
        if (s >= 3 && lct_encoder_set_precision(enc, LCT_PRECISION_BF16) != LCT_OK) { /* no AMX tiles here */
            lct_encoder_free(enc);
            continue;
        }
        lct_optimizer_options oo;
        lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
        oo.momentum = 0.9;
        lct_optimizer *opt;
        ck_assert_int_eq(lct_optimizer_new(&opt, rt, &oo), LCT_OK);
        ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
        size_t in = enc_in(enc), out = enc_out(enc);
        float *x = malloc(32 * in * sizeof *x), *y = malloc(32 * out * sizeof *y), *dy = malloc(32 * out * sizeof *dy);
        fill_uniform(x, 32 * in, 1, -1, 1);
        fill_uniform(dy, 32 * out, 2, -1, 1);
        long before = 0;
        for (int step = 0; step < 4; step++) {
            if (step == 1) before = n_allocs;
            size_t batch = step == 3 ? 16 : 32; /* a smaller batch reuses the workspace */
            ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
            ck_assert_int_eq(lct_encoder_forward(enc, x, batch, y), LCT_OK);
            ck_assert_int_eq(lct_encoder_backward(enc, dy, batch, NULL), LCT_OK);
            ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
        }
        ck_assert_msg(n_allocs == before, "%s: %ld allocations in steady steps", specs[s], n_allocs - before);
        free(x);
        free(y);
        free(dy);
        lct_optimizer_free(opt);
        lct_encoder_free(enc);
    }
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0);
    lct_runtime_free(rt);
}
END_TEST

static int fail_allocs;
static void *flaky_alloc(void *user, size_t size)
{
    (void)user;
    return fail_allocs ? NULL : malloc(size);
}

START_TEST(test_out_of_memory_leaves_nothing_changed)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.alloc = flaky_alloc;
    o.free = counting_free;
    lct_runtime *rt;
    fail_allocs = 0;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    lct_encoder *enc = spec_encoder(rt, "in 1x8x8; conv2d 4 k3; relu; flatten");
    size_t before, after, layers;
    lct_runtime_memory(rt, &before, NULL);
    fail_allocs = 1;
    LCT_ASSERT_FAILS(lct_encoder_add_linear(enc, 10, 1), LCT_ENOMEM, "linear");
    lct_encoder *none = (lct_encoder *)&o;
    LCT_ASSERT_FAILS(lct_encoder_new_from_spec(&none, rt, "in 3; linear 2", NULL), LCT_ENOMEM, "");
    ck_assert_ptr_null(none);
    fail_allocs = 0;
    ck_assert_ptr_nonnull(enc);
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_uint_eq(before, after);
    lct_encoder_layer_count(enc, &layers);
    ck_assert_uint_eq(layers, 3);
    ck_assert_str_eq(lct_encoder_spec(enc), "in 1x8x8; conv2d 4 k3 s1 p0; relu; flatten");
    /* forward without memory for its workspace: ENOMEM, nothing sealed or stepped */
    float x[2 * 64], y[2 * 144];
    fill_uniform(x, 128, 1, -1, 1);
    fail_allocs = 1;
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, x, 2, y), LCT_ENOMEM, "");
    fail_allocs = 0;
    ck_assert_int_eq(lct_encoder_add_linear(enc, 5, 1), LCT_OK); /* not sealed */
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    /* a larger batch needs a larger workspace: failing keeps the old one usable */
    float *xb = calloc(64 * 64, sizeof *xb), *yb = malloc(64 * 5 * sizeof *yb);
    fail_allocs = 1;
    LCT_ASSERT_FAILS(lct_encoder_forward(enc, xb, 64, yb), LCT_ENOMEM, "batch 64");
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    /* the optimiser: creation and attach fail cleanly */
    lct_optimizer *opt = NULL;
    LCT_ASSERT_FAILS(lct_optimizer_new(&opt, rt, NULL), LCT_ENOMEM, "");
    fail_allocs = 0;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, NULL), LCT_OK);
    fail_allocs = 1;
    LCT_ASSERT_FAILS(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_ENOMEM, "optimiser state");
    fail_allocs = 0;
    ck_assert_int_eq(lct_params_count(lct_optimizer_state(opt)), 0);
    ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
    free(xb);
    free(yb);
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    lct_test_assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_cpc_encoder_shapes)
{
    /* CPC's g_enc (strides 5,4,2,2,2, kernels 10,8,4,4,4) maps 20480 samples to 128 steps; then g_ar */
    lct_runtime *rt = lct_test_runtime(2, 0);
    lct_encoder *enc = spec_encoder(rt, "in 1x20480; conv1d 16 k10 s5 p3; relu; conv1d 16 k8 s4 p2; relu; "
                                        "conv1d 16 k4 s2 p1; relu; conv1d 16 k4 s2 p1; relu; conv1d 16 k4 s2 p1; "
                                        "relu; transpose; gru 8");
    uint32_t shape[3];
    size_t rank;
    lct_encoder_output_shape(enc, shape, 3, &rank);
    ck_assert_uint_eq(rank, 2);
    ck_assert_uint_eq(shape[0], 128);
    ck_assert_uint_eq(shape[1], 8);
    float *x = malloc(2 * 20480 * sizeof *x), *y = malloc(2 * 128 * 8 * sizeof *y), *dx = malloc(2 * 20480 * sizeof *dx);
    fill_uniform(x, 2 * 20480, 3, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    for (size_t i = 0; i < 2 * 128 * 8; i++) ck_assert(fabsf(y[i]) < 1.0f); /* GRU states lie in (-1, 1) */
    ck_assert_int_eq(lct_encoder_backward(enc, y, 2, dx), LCT_OK);
    ck_assert(lct__all_finite(dx, 2 * 20480));
    free(x);
    free(y);
    free(dx);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_training_reduces_loss)
{
    /* A small end-to-end check: regress random targets; the loss must fall well below its start. */
    lct_runtime *rt = lct_test_runtime(2, 3);
    lct_encoder *enc = spec_encoder(rt, "in 1x8x8; conv2d 8 k3 p1; bn; relu; maxpool 2; flatten; linear 32; relu; linear 4");
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = LCT_OPTIMIZER_ADAM;
    oo.lr = 3e-3;
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, &oo), LCT_OK);
    ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
    float x[32 * 64], t[32 * 4], y[32 * 4], dy[32 * 4];
    fill_uniform(x, 32 * 64, 1, -1, 1);
    fill_uniform(t, 32 * 4, 2, -1, 1);
    double first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        lct_optimizer_zero_grad(opt);
        ck_assert_int_eq(lct_encoder_forward(enc, x, 32, y), LCT_OK);
        double l = 0;
        for (int i = 0; i < 128; i++) {
            l += 0.5 * (y[i] - t[i]) * (y[i] - t[i]) / 32;
            dy[i] = (y[i] - t[i]) / 32;
        }
        if (step == 0) first = l;
        last = l;
        ck_assert_int_eq(lct_encoder_backward(enc, dy, 32, NULL), LCT_OK);
        ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    }
    ck_assert_msg(last < 0.1 * first, "loss %g -> %g", first, last);
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* Zeroing a linear layer's weight gradient only flags it, and its next backward writes instead of adding:
 * the zero must still be what every reader sees, and later passes must add. */
START_TEST(test_zeroed_gradient_reads_as_zero)
{
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_encoder *enc = spec_encoder(rt, "in 20; linear 16; relu; linear 8");
    if (_i && lct_encoder_set_precision(enc, LCT_PRECISION_BF16) != LCT_OK) {
        printf("bf16: no AMX-BF16 tiles here, the bf16 round of the zeroed-gradient test not run\n");
        goto done;
    }
    lct_params *p = lct_encoder_params(enc);
    float x[4 * 20], y[4 * 8], dy[4 * 8], g1[16 * 20], g[16 * 20], w0[16 * 20], w[16 * 20];
    fill_uniform(x, 4 * 20, 1, -1, 1);
    fill_uniform(dy, 4 * 8, 2, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_params_get_grad(p, 0, g, 16 * 20), LCT_OK);
    size_t nonzero = 0;
    for (int i = 0; i < 16 * 20; i++) nonzero += g[i] != 0.0f;
    ck_assert_uint_gt(nonzero, 16 * 20 / 2);
    /* zeroed, then read: by lct_params_get_grad and by an optimiser step, which must not move W */
    ck_assert_int_eq(lct_encoder_zero_grad(enc), LCT_OK);
    ck_assert_int_eq(lct_params_get_grad(p, 0, g, 16 * 20), LCT_OK);
    for (int i = 0; i < 16 * 20; i++) ck_assert_float_eq(g[i], 0.0f);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, &oo), LCT_OK);
    ck_assert_int_eq(lct_optimizer_attach(opt, p), LCT_OK);
    ck_assert_int_eq(lct_params_get(p, 0, w0, 16 * 20), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 4, NULL), LCT_OK); /* leaves stale values behind the flag */
    ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
    ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    ck_assert_int_eq(lct_params_get(p, 0, w, 16 * 20), LCT_OK);
    ck_assert(memcmp(w, w0, sizeof w) == 0);
    /* the first backward after zeroing writes, the next one adds */
    ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_params_get_grad(p, 0, g1, 16 * 20), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_params_get_grad(p, 0, g, 16 * 20), LCT_OK);
    for (int i = 0; i < 16 * 20; i++) ck_assert_float_eq_tol(g[i], 2.0f * g1[i], 1e-6f * (1.0f + fabsf(g1[i])));
    ck_assert(memcmp(g, g1, sizeof g) != 0);
    lct_optimizer_free(opt);
done:
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* A weight gradient that overflows in backward stops the optimiser's step, whether the optimiser scans
 * it or the layer's bound on its factors (bf16) would have spared the scan; the Inf is placed in the
 * last block of dW, which the second thread packs. */
START_TEST(test_overflowing_gradient_stops_step)
{
    static const struct {
        const char *spec;
        size_t in, out;
    } shapes[] = {{"in 8; linear 4", 8, 4},
                  {"in 64; linear 32", 64, 32},
                  {"in 40; linear 45", 40, 45},
                  {"in 1024; linear 1024", 1024, 1024}}; /* large enough to pack on 2 threads */
    for (int prec = 0; prec < 2; prec++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            lct_runtime *rt = lct_test_runtime(1 + (int)s % 2, 8);
            lct_encoder *enc = spec_encoder(rt, shapes[s].spec);
            if (prec && lct_encoder_set_precision(enc, LCT_PRECISION_BF16) != LCT_OK) {
                printf("bf16: no AMX-BF16 tiles here, '%s' checked in fp32 only\n", shapes[s].spec);
                lct_encoder_free(enc);
                lct_runtime_free(rt);
                continue;
            }
            size_t in = shapes[s].in, out = shapes[s].out, B = 3;
            float *x = calloc(B * in, sizeof *x), *y = calloc(B * out, sizeof *y), *dy = calloc(B * out, sizeof *dy);
            float *w0 = malloc(in * out * sizeof *w0), *w = malloc(in * out * sizeof *w);
            fill_uniform(x, B * in, 3, -1, 1);
            fill_uniform(dy, B * out, 4, -1, 1);
            x[in - 1] = 1e20f; /* sample 0: dW[out − 1][in − 1] = 1e20 · 1e20 overflows */
            dy[out - 1] = 1e20f;
            lct_optimizer_options oo;
            lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
            lct_optimizer *opt;
            ck_assert_int_eq(lct_optimizer_new(&opt, rt, &oo), LCT_OK);
            ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
            ck_assert_int_eq(lct_params_get(lct_encoder_params(enc), 0, w0, in * out), LCT_OK);
            for (int round = 0; round < 2; round++) { /* after zeroing (written), then accumulated into */
                if (round == 0) ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
                ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
                ck_assert_int_eq(lct_encoder_backward(enc, dy, B, NULL), LCT_OK);
                LCT_ASSERT_FAILS(lct_optimizer_step(opt), LCT_ENUMERIC, "0.linear.weight");
                ck_assert_int_eq(lct_params_get(lct_encoder_params(enc), 0, w, in * out), LCT_OK);
                ck_assert(memcmp(w, w0, in * out * sizeof *w) == 0);
            }
            /* with the overflow gone, the step goes through */
            x[in - 1] = 0.5f;
            ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
            ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
            ck_assert_int_eq(lct_encoder_backward(enc, dy, B, NULL), LCT_OK);
            ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
            free(x);
            free(y);
            free(dy);
            free(w0);
            free(w);
            lct_optimizer_free(opt);
            lct_encoder_free(enc);
            lct_runtime_free(rt);
        }
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_options_init);
    tcase_add_test(tc, test_new_bad_input);
    tcase_add_test(tc, test_builder_bad_input_leaves_encoder_unchanged);
    tcase_add_test(tc, test_seal_explicit_and_getters_leave_it_open);
    tcase_add_test(tc, test_plan_follows_mode);
    tcase_add_test(tc, test_spec_errors_point_at_token);
    tcase_add_test(tc, test_spec_and_builder_identical);
    tcase_add_test(tc, test_init_follows_pytorch_defaults);
    tcase_add_test(tc, test_queries);
    tcase_add_test(tc, test_forward_backward_bad_input);
    tcase_add_test(tc, test_identity_encoder);
    tcase_add_loop_test(tc, test_zeroed_gradient_reads_as_zero, 0, 2);
    tcase_add_test(tc, test_overflowing_gradient_stops_step);
    tcase_add_test(tc, test_identical_for_1_and_2_threads);
    tcase_add_test(tc, test_no_allocation_in_steady_step);
    tcase_add_test(tc, test_out_of_memory_leaves_nothing_changed);
    tcase_add_test(tc, test_cpc_encoder_shapes);
    tcase_add_test(tc, test_training_reduces_loss);
}

int main(void)
{
    return lct_test_main("encoder", "api", 120, add_tests);
}
