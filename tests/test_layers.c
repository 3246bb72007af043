/*
 * Every layer kind and composed encoders against finite differences (input and
 * parameter gradients, train and eval modes), and forward passes against
 * plain double-precision reference code.
 */
#include "enc_testutil.h"

/* L = Σ r ⊙ y in double. */
static double probe_loss(lct_encoder *enc, const float *x, size_t batch, const float *r, float *y)
{
    ck_assert_int_eq(lct_encoder_set_step(enc, 5), LCT_OK); /* the same dropout masks every time */
    int rc = lct_encoder_forward(enc, x, batch, y);
    ck_assert_msg(rc == LCT_OK, "forward: %s", lct_error_last());
    size_t n = batch * enc_out(enc);
    double l = 0.0;
    for (size_t i = 0; i < n; i++) l += (double)r[i] * y[i];
    return l;
}

static int close_enough(double num, double ana, double rtol, double atol)
{
    return fabs(num - ana) <= atol + rtol * fmax(fabs(num), fabs(ana));
}

/* What a probe needs: the encoder, its input and the loss's weights, and the running statistics to put
 * back before every forward pass (a train forward moves them). */
typedef struct probe_ctx {
    lct_encoder *enc;
    float *x, *r, *y;
    size_t batch;
    lct_params *p;
    float **saved;
    int nt;
} probe_ctx;

static const double FD_H = 5e-4, FD_RTOL = 2e-2, FD_ATOL = 2e-3;

/* The loss with element i of buf (the input if t < 0, else parameter tensor t of `count` floats) set
 * to value; buf is left as it was. */
static double loss_at(const probe_ctx *c, float *buf, int t, size_t count, size_t i, float value)
{
    float keep = buf[i];
    buf[i] = value;
    if (t >= 0) lct_params_set(c->p, (size_t)t, buf, count);
    for (int j = 0; j < c->nt; j++)
        if (c->saved[j]) {
            size_t n;
            lct_params_info(c->p, (size_t)j, NULL, &n, NULL);
            lct_params_set(c->p, (size_t)j, c->saved[j], n);
        }
    double l = probe_loss(c->enc, c->x, c->batch, c->r, c->y);
    buf[i] = keep;
    if (t >= 0) lct_params_set(c->p, (size_t)t, buf, count);
    return l;
}

/*
 * Central difference at element i against the analytic `ana`: 0 if they agree, 1 if the probe
 * straddles a kink (ReLU, max pool; in train mode a batch norm spreads one weight's step over every
 * output of its channel) — one side alone, or the central difference over a step 8 times shorter,
 * agrees — and -1 otherwise. *num: the central difference.
 */
static int probe(const probe_ctx *c, float *buf, int t, size_t count, size_t i, double ana, double *num)
{
    const double h = FD_H;
    float keep = buf[i];
    double lp = loss_at(c, buf, t, count, i, keep + (float)h), lm = loss_at(c, buf, t, count, i, keep - (float)h);
    double l0 = loss_at(c, buf, t, count, i, keep);
    *num = (lp - lm) / (2 * h);
    if (close_enough(*num, ana, FD_RTOL, FD_ATOL)) return 0;
    double lp8 = loss_at(c, buf, t, count, i, keep + (float)(h / 8));
    double lm8 = loss_at(c, buf, t, count, i, keep - (float)(h / 8));
    return close_enough((lp - l0) / h, ana, FD_RTOL, FD_ATOL) || close_enough((l0 - lm) / h, ana, FD_RTOL, FD_ATOL) ||
                   close_enough((lp8 - lm8) / (h / 4), ana, FD_RTOL, FD_ATOL)
               ? 1
               : -1;
}

/*
 * Central differences on up to `probes` elements of the input and of every trainable tensor.
 * In eval mode the running statistics are first moved off their defaults by a train pass.
 * A probe that straddles a kink is skipped; at most a third of them may.
 */
static void gradcheck(const char *spec, size_t batch, int mode, uint64_t seed)
{
    lct_runtime *rt = lct_test_runtime(1, seed);
    lct_encoder *enc = spec_encoder(rt, spec);
    size_t in = enc_in(enc), out = enc_out(enc);
    float *x = malloc(batch * in * sizeof *x), *y = malloc(batch * out * sizeof *y);
    float *r = malloc(batch * out * sizeof *r), *dx = malloc(batch * in * sizeof *dx);
    fill_uniform(x, batch * in, seed, -1.0f, 1.0f);
    fill_uniform(r, batch * out, seed + 1, -1.0f, 1.0f);
    lct_params *p = lct_encoder_params(enc);
    ck_assert_ptr_nonnull(p);
    /* Move biases and affine parameters off their defaults so every path is exercised. */
    for (int i = 0; i < lct_params_count(p); i++) {
        const char *name;
        size_t count;
        int trainable;
        lct_params_info(p, (size_t)i, &name, &count, &trainable);
        float *v = malloc(count * sizeof *v);
        lct_params_get(p, (size_t)i, v, count);
        if (strstr(name, "batchnorm.weight")) {
            fill_uniform(v, count, seed + 10 + (uint64_t)i, 0.5f, 1.5f);
            /* a max pool after the batch norm and ReLU picks the smallest input where γ < 0 */
            if (strstr(spec, "maxpool"))
                for (size_t c = 1; c < count; c += 2) v[c] = -v[c];
        }
        else if (strstr(name, "batchnorm.bias")) fill_uniform(v, count, seed + 10 + (uint64_t)i, -0.5f, 0.5f);
        else if (strstr(name, "running_var")) fill_uniform(v, count, seed + 10 + (uint64_t)i, 0.5f, 2.0f);
        else if (strstr(name, "running_mean")) fill_uniform(v, count, seed + 10 + (uint64_t)i, -0.3f, 0.3f);
        ck_assert_int_eq(lct_params_set(p, (size_t)i, v, count), LCT_OK);
        free(v);
    }
    ck_assert_int_eq(lct_encoder_set_mode(enc, mode), LCT_OK);
    probe_loss(enc, x, batch, r, y);
    ck_assert_int_eq(lct_encoder_zero_grad(enc), LCT_OK);
    /* Running statistics move with each train forward; save them so every probe sees the same values. */
    int nt = lct_params_count(p);
    float *saved[64] = {0};
    ck_assert_int_le(nt, 64);
    for (int i = 0; i < nt; i++) {
        size_t count;
        int trainable;
        lct_params_info(p, (size_t)i, NULL, &count, &trainable);
        if (!trainable) {
            saved[i] = malloc(count * sizeof(float));
            lct_params_get(p, (size_t)i, saved[i], count);
        }
    }
    probe_ctx c = {enc, x, r, y, batch, p, saved, nt};
    loss_at(&c, x, -1, 0, 0, x[0]);
    int rc = lct_encoder_backward(enc, r, batch, dx);
    ck_assert_msg(rc == LCT_OK, "backward: %s", lct_error_last());
    size_t skipped = 0, tried = 0;
    const size_t probes = 24;
    lct__rng pick;
    lct__rng_seed(&pick, seed, 99);
    for (size_t k = 0; k < probes && k < batch * in; k++) {
        size_t i = batch * in <= probes ? k : (size_t)lct__rng_below(&pick, batch * in);
        double num;
        int verdict = probe(&c, x, -1, 0, i, dx[i], &num);
        tried++;
        skipped += verdict == 1;
        ck_assert_msg(verdict >= 0, "%s (%s): dx[%zu] analytic %.6g numeric %.6g", spec, mode ? "train" : "eval", i,
                      (double)dx[i], num);
    }
    for (int t = 0; t < nt; t++) {
        const char *name;
        size_t count;
        int trainable;
        lct_params_info(p, (size_t)t, &name, &count, &trainable);
        if (!trainable) continue;
        float *v = malloc(count * sizeof *v), *g = malloc(count * sizeof *g);
        lct_params_get(p, (size_t)t, v, count);
        ck_assert_int_eq(lct_params_get_grad(p, (size_t)t, g, count), LCT_OK);
        for (size_t k = 0; k < probes && k < count; k++) {
            size_t i = count <= probes ? k : (size_t)lct__rng_below(&pick, count);
            double num;
            int verdict = probe(&c, v, t, count, i, g[i], &num);
            tried++;
            skipped += verdict == 1;
            ck_assert_msg(verdict >= 0, "%s (%s): %s[%zu] analytic %.6g numeric %.6g", spec, mode ? "train" : "eval",
                          name, i, (double)g[i], num);
        }
        free(v);
        free(g);
    }
    ck_assert_msg(skipped * 3 <= tried, "%s: %zu of %zu probes straddle a kink", spec, skipped, tried);
    for (int i = 0; i < nt; i++) free(saved[i]);
    free(x);
    free(y);
    free(r);
    free(dx);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}

static const struct {
    const char *spec;
    size_t batch;
} cases[] = {
    {"in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; conv2d 6 k3 p1; bn; relu; maxpool 2; flatten; linear 4", 3},
    {"in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; conv2d 6 k3 p1; bn; flatten; linear 4", 3},
    {"in 1x8x8; conv2d 4 k3 p1; bn; relu; conv2d 6 k3 p1; bn; flatten; linear 4", 3},
    {"in 1x8x8; conv2d 4 k3 p1; bn; conv2d 6 k3 p1; bn; flatten; linear 4", 3},
    {"in 1x8x8; conv2d 4 k3 p1; conv2d 6 k3 p1; bn; flatten; linear 4", 3},
    {"in 4x8x8; conv2d 6 k3 p1; bn; flatten; linear 4", 3},
    {"in 6; linear 5", 3},
    {"in 6; linear 5 nobias", 3},
    {"in 3x4; linear 5", 2},
    {"in 2x7x6; conv2d 3 k3 s2 p1", 2},
    {"in 2x5x5; conv2d 4 k1", 2},
    {"in 2x6x6; conv2d 3 k3 p1", 2},
    {"in 1x7x7; conv2d 2 k5 p2", 2},
    {"in 2x5x5; conv2d 3 k2 nobias", 3},
    {"in 3x20; conv1d 4 k4 s2 p1", 2},
    {"in 1x50; conv1d 3 k10 s5", 2},
    /* C·k > 16: the polyphase path (k a multiple of s, not, s = 1, s > k, padding, odd lengths, batch 1) */
    {"in 5x23; conv1d 4 k4 s2 p1", 2},
    {"in 3x30; conv1d 4 k7 s3 p2", 2},
    {"in 6x17; conv1d 3 k3 p1", 3},
    {"in 5x30; conv1d 3 k4 s5", 2},
    {"in 4x41; conv1d 5 k8 s4 p3 nobias", 2},
    {"in 4x40; conv1d 5 k8 s4 p2; bn; relu; conv1d 4 k4 s2 p1", 1},
    /* conv1d with the following ReLU fused (small kernels, every deal stride, a max pool after it) */
    {"in 1x50; conv1d 3 k10 s5 p3; relu", 2},
    {"in 2x30; conv1d 6 k5 s2 p2 nobias; relu; conv1d 3 k4 s2 p1; relu", 2},
    {"in 3x30; conv1d 4 k7 s3 p2; relu", 2},
    {"in 6x17; conv1d 3 k3 p1; relu", 3},
    {"in 3x40; conv1d 6 k8 s4 p2; relu; maxpool 2; conv1d 4 k2; relu", 2},
    /* two taps (the three-product form): an even number of columns, a partial second tap, batch 1 and 3 */
    {"in 6x45; conv1d 5 k8 s4 p2; relu", 3},
    {"in 5x40; conv1d 4 k6 s4 p1", 2},
    {"in 9x30; conv1d 6 k4 s2 p1; relu; conv1d 5 k4 s2 p1 nobias", 1},
    {"in 5; bn", 4},
    {"in 3x3x3; conv2d 4 k3; bn; flatten; linear 2", 5},
    {"in 3x4x4; bn momentum=0.2 eps=0.001", 3},
    {"in 3x6; bn", 2},
    {"in 10; linear 8; relu; linear 3", 3},
    {"in 2x6x6; maxpool 2", 2},
    {"in 2x7x7; bn; relu; maxpool 3 s2", 2},
    {"in 2x6x7; conv2d 3 k3 p1; bn; relu; maxpool 2; flatten; linear 2", 2},
    {"in 2x7x7; maxpool 3 s2", 2},
    {"in 2x9; maxpool 3 s2", 2},
    {"in 2x6x6; avgpool 2", 2},
    {"in 2x7x7; avgpool 3 s2", 2},
    {"in 2x9; avgpool 3 s2", 2},
    {"in 3x4x5; gap; linear 2", 2},
    {"in 3x4; gap", 2},
    {"in 2x3x3; flatten; linear 4", 2},
    {"in 3x4; transpose; linear 2", 2},
    {"in 10; dropout 0.3; linear 3", 3},
    {"in 7; l2norm", 3},
    {"in 3x5; l2norm", 2},
    {"in 4x3; gru 5", 2},
    {"in 5x4; gru 3; linear 2", 3},
    {"in 1x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; conv2d 6 k3 p1; bn; relu; maxpool 2; flatten; linear 8; relu; "
     "dropout 0.25; linear 4; l2norm", 3},
    {"in 12; linear 10; bn; relu; linear 10; bn; relu; linear 4; l2norm", 4},
    {"in 1x64; conv1d 4 k8 s4 p2; bn; relu; conv1d 4 k4 s2 p1; relu; transpose; gru 6", 2},
    /* conv2d with batch norm, ReLU and 2x2 max pool fused: one input channel (small kernels) and several
     * (GEMM, grouped samples), stride 1 and 2, padding 0 and 1, odd heights and widths (a row or column
     * no window covers; odd widths take the row-by-row pool), batch 1, no bias */
    {"in 1x9x8; conv2d 3 k3 p1; bn; relu; maxpool 2; flatten; linear 2", 2},
    {"in 1x11x11; conv2d 2 k3 p1 nobias; bn; relu; maxpool 2", 1},
    {"in 1x9x9; conv2d 3 k3 s2; bn; relu; maxpool 2", 2},
    {"in 3x9x9; conv2d 4 k3 nobias; bn; relu; maxpool 2; conv2d 5 k2 s2 p1; bn; relu; maxpool 2", 1},
    {"in 2x6x6; conv2d 3 k3 p1; bn; relu; maxpool 2; flatten; linear 2", 37},
    {"in 5x7x10; conv2d 4 k3 s2 p1; bn; relu; maxpool 2; flatten; linear 3", 3},
    {"in 3x6x6; conv2d 4 k1; bn; relu; maxpool 2; flatten; linear 2", 2}, /* 1x1: the input is the column block */
};

START_TEST(test_gradcheck_train)
{
    gradcheck(cases[_i].spec, cases[_i].batch, LCT_ENCODER_TRAIN, 100 + (uint64_t)_i);
}
END_TEST

START_TEST(test_gradcheck_eval)
{
    gradcheck(cases[_i].spec, cases[_i].batch, LCT_ENCODER_EVAL, 200 + (uint64_t)_i);
}
END_TEST

/* ---- forward passes against reference code ------------------------------------ */

static void get_tensor(lct_params *p, size_t i, float *dst)
{
    size_t count;
    lct_params_info(p, i, NULL, &count, NULL);
    ck_assert_int_eq(lct_params_get(p, i, dst, count), LCT_OK);
}

/* The weights (tensor 0) and biases (tensor 1) of enc's parameters into w and b. */
static void get_weight_bias(lct_encoder *enc, float *w, float *b)
{
    lct_params *p = lct_encoder_params(enc);
    get_tensor(p, 0, w);
    get_tensor(p, 1, b);
}

/* Direct convolution in double, for several geometries (strided, padded, "same" width, 1x1). */
START_TEST(test_conv2d_forward_reference)
{
    static const struct {
        size_t c, h, w, o, k, s, p;
    } geo[] = {{2, 7, 6, 3, 3, 2, 1}, {2, 9, 9, 4, 3, 1, 1}, {3, 8, 10, 2, 5, 1, 2}, {2, 6, 5, 3, 1, 1, 0},
               {1, 12, 12, 4, 3, 1, 0}, {2, 5, 7, 3, 3, 1, 2}, {1, 6, 6, 2, 2, 1, 1}};
    for (size_t t = 0; t < sizeof geo / sizeof *geo; t++) {
        lct_runtime *rt = lct_test_runtime(2, 3);
        const size_t B = 21, C = geo[t].c, H = geo[t].h, W = geo[t].w, O = geo[t].o, K = geo[t].k, S = geo[t].s,
                     P = geo[t].p;
        const size_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
        char spec[128];
        snprintf(spec, sizeof spec, "in %zux%zux%zu; conv2d %zu k%zu s%zu p%zu", C, H, W, O, K, S, P);
        lct_encoder *enc = spec_encoder(rt, spec);
        uint32_t shape[3];
        size_t rank;
        lct_encoder_output_shape(enc, shape, 3, &rank);
        ck_assert_uint_eq(rank, 3);
        ck_assert_uint_eq(shape[0], O);
        ck_assert_uint_eq(shape[1], OH);
        ck_assert_uint_eq(shape[2], OW);
        float *x = malloc(B * C * H * W * sizeof *x), *y = malloc(B * O * OH * OW * sizeof *y);
        float *w = malloc(O * C * K * K * sizeof *w), b[8];
        fill_uniform(x, B * C * H * W, 5 + t, -1, 1);
        get_weight_bias(enc, w, b);
        ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
        for (size_t n = 0; n < B; n++)
            for (size_t o = 0; o < O; o++)
                for (size_t i = 0; i < OH; i++)
                    for (size_t j = 0; j < OW; j++) {
                        double s = b[o];
                        for (size_t c = 0; c < C; c++)
                            for (size_t u = 0; u < K; u++)
                                for (size_t v = 0; v < K; v++) {
                                    long iy = (long)(i * S + u) - (long)P, ix = (long)(j * S + v) - (long)P;
                                    if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                                    s += (double)w[((o * C + c) * K + u) * K + v] * x[((n * C + c) * H + iy) * W + ix];
                                }
                        ck_assert_msg(fabs(y[((n * O + o) * OH + i) * OW + j] - s) < 1e-5, "%s: y[%zu,%zu,%zu,%zu]",
                                      spec, n, o, i, j);
                    }
        free(x);
        free(y);
        free(w);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
    }
}
END_TEST

/* Output t of channel o of sample n of a conv1d (weights O x C x K, input C x L), in double. */
static double conv1d_ref(const float *w, const float *b, const float *x, size_t n, size_t o, size_t t, size_t C,
                         size_t L, size_t K, size_t S, size_t P)
{
    double s = b[o];
    for (size_t c = 0; c < C; c++)
        for (size_t k = 0; k < K; k++) {
            long ix = (long)(t * S + k) - (long)P;
            if (ix >= 0 && ix < (long)L) s += (double)w[(o * C + c) * K + k] * x[(n * C + c) * L + ix];
        }
    return s;
}

START_TEST(test_conv1d_forward_reference)
{
    lct_runtime *rt = lct_test_runtime(1, 4);
    /* CPC's first layer shape, scaled down: kernel 10, stride 5, padding 3 */
    const size_t B = 2, C = 2, L = 43, O = 4, K = 10, S = 5, P = 3, OL = (L + 2 * P - K) / S + 1;
    lct_encoder *enc = spec_encoder(rt, "in 2x43; conv1d 4 k10 s5 p3");
    ck_assert_uint_eq(enc_out(enc), O * OL);
    float x[2 * 2 * 43], y[2 * 4 * 8], w[4 * 2 * 10], b[4];
    fill_uniform(x, sizeof x / sizeof *x, 6, -1, 1);
    get_weight_bias(enc, w, b);
    ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
    for (size_t n = 0; n < B; n++)
        for (size_t o = 0; o < O; o++)
            for (size_t t = 0; t < OL; t++) {
                ck_assert_double_eq_tol(y[(n * O + o) * OL + t], conv1d_ref(w, b, x, n, o, t, C, L, K, S, P), 1e-5);
            }
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* conv1d + ReLU (fused) against double-precision reference code, forward and backward, for the small
 * kernels and each deal stride; a second backward after the same forward gives the same dx and adds
 * the same gradients again (the polyphase input kept from the forward pass is still intact). */
START_TEST(test_conv1d_relu_reference)
{
    static const struct {
        size_t c, l, o, k, s, p;
    } geo[] = {{1, 53, 5, 10, 5, 3}, {6, 41, 5, 8, 4, 2}, {5, 30, 4, 7, 3, 2}, {6, 17, 3, 3, 1, 1},
               {5, 31, 3, 4, 5, 0}, {4, 28, 3, 4, 2, 1}, {6, 45, 5, 8, 4, 2}, {5, 40, 4, 6, 4, 1},
               {9, 30, 6, 4, 2, 1}};
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
        lct_runtime *rt = lct_test_runtime(1 + gi % 2, 4);
        const size_t B = 3, C = geo[gi].c, L = geo[gi].l, O = geo[gi].o, K = geo[gi].k, S = geo[gi].s,
                     P = geo[gi].p, OL = (L + 2 * P - K) / S + 1;
        char spec[96];
        snprintf(spec, sizeof spec, "in %zux%zu; conv1d %zu k%zu s%zu p%zu; relu", C, L, O, K, S, P);
        lct_encoder *enc = spec_encoder(rt, spec);
        ck_assert_uint_eq(enc_out(enc), O * OL);
        float *x = malloc(B * C * L * sizeof *x), *y = malloc(B * O * OL * sizeof *y);
        float *dy = malloc(B * O * OL * sizeof *dy), *dx = malloc(B * C * L * sizeof *dx);
        float *dx2 = malloc(B * C * L * sizeof *dx2), *w = malloc(O * C * K * sizeof *w), b[8];
        float *gw = malloc(O * C * K * sizeof *gw), *gw2 = malloc(O * C * K * sizeof *gw2), gb[8], gb2[8];
        double *rw = calloc(O * C * K, sizeof *rw), *rx = calloc(B * C * L, sizeof *rx), rb[8] = {0};
        fill_uniform(x, B * C * L, 6 + gi, -1, 1);
        fill_uniform(dy, B * O * OL, 16 + gi, -1, 1);
        lct_params *p = lct_encoder_params(enc);
        get_tensor(p, 0, w);
        get_tensor(p, 1, b);
        ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        size_t positive = 0;
        for (size_t n = 0; n < B; n++)
            for (size_t o = 0; o < O; o++)
                for (size_t t = 0; t < OL; t++) {
                    double s = conv1d_ref(w, b, x, n, o, t, C, L, K, S, P);
                    float got = y[(n * O + o) * OL + t];
                    ck_assert_msg(fabs(got - (s > 0 ? s : 0.0)) < 1e-5, "%s: y[%zu,%zu,%zu] %g, reference %g", spec,
                                  n, o, t, (double)got, s);
                    if (got <= 0.0f) continue; /* the mask the library used (s within 1e-5 of 0 either way) */
                    positive++;
                    double g = dy[(n * O + o) * OL + t];
                    rb[o] += g;
                    for (size_t c = 0; c < C; c++)
                        for (size_t k = 0; k < K; k++) {
                            long ix = (long)(t * S + k) - (long)P;
                            if (ix < 0 || ix >= (long)L) continue;
                            rw[(o * C + c) * K + k] += g * x[(n * C + c) * L + ix];
                            rx[(n * C + c) * L + ix] += g * w[(o * C + c) * K + k];
                        }
                }
        ck_assert_msg(positive > 0 && positive < B * O * OL, "%s: the ReLU should clamp some outputs only", spec);
        lct_params_get_grad(p, 0, gw, O * C * K);
        lct_params_get_grad(p, 1, gb, O);
        for (size_t i = 0; i < O * C * K; i++)
            ck_assert_msg(fabs(gw[i] - rw[i]) < 1e-4, "%s: dW[%zu] %g, reference %g", spec, i, (double)gw[i], rw[i]);
        for (size_t o = 0; o < O; o++)
            ck_assert_msg(fabs(gb[o] - rb[o]) < 1e-4, "%s: db[%zu] %g, reference %g", spec, o, (double)gb[o], rb[o]);
        for (size_t i = 0; i < B * C * L; i++)
            ck_assert_msg(fabs(dx[i] - rx[i]) < 1e-5, "%s: dx[%zu] %g, reference %g", spec, i, (double)dx[i], rx[i]);
        /* again, without a new forward pass */
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx2), LCT_OK);
        ck_assert(memcmp(dx, dx2, B * C * L * sizeof *dx) == 0);
        lct_params_get_grad(p, 0, gw2, O * C * K);
        lct_params_get_grad(p, 1, gb2, O);
        for (size_t i = 0; i < O * C * K; i++) ck_assert_float_eq(gw2[i], gw[i] + gw[i]);
        for (size_t o = 0; o < O; o++) ck_assert_float_eq(gb2[o], gb[o] + gb[o]);
        free(x); free(y); free(dy); free(dx); free(dx2); free(w); free(gw); free(gw2); free(rw); free(rx);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
    }
}
END_TEST

START_TEST(test_batchnorm_forward_reference)
{
    lct_runtime *rt = lct_test_runtime(2, 4);
    const size_t B = 4, C = 3, S = 5;
    lct_encoder *enc = spec_encoder(rt, "in 3x5; bn momentum=0.25 eps=0.01");
    float x[4 * 3 * 5], y[4 * 3 * 5], rm[3], rv[3];
    fill_uniform(x, B * C * S, 7, -2, 3);
    lct_params *p = lct_encoder_params(enc);
    ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
    get_tensor(p, 2, rm);
    get_tensor(p, 3, rv);
    for (size_t c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (size_t n = 0; n < B; n++)
            for (size_t s = 0; s < S; s++) m += x[(n * C + c) * S + s];
        m /= B * S;
        for (size_t n = 0; n < B; n++)
            for (size_t s = 0; s < S; s++) v += pow(x[(n * C + c) * S + s] - m, 2);
        v /= B * S;
        for (size_t n = 0; n < B; n++)
            for (size_t s = 0; s < S; s++)
                ck_assert_double_eq_tol(y[(n * C + c) * S + s], (x[(n * C + c) * S + s] - m) / sqrt(v + 0.01), 1e-5);
        ck_assert_double_eq_tol(rm[c], 0.25 * m, 1e-6);
        ck_assert_double_eq_tol(rv[c], 0.75 + 0.25 * v * (B * S) / (B * S - 1.0), 1e-6);
    }
    /* eval: the running statistics */
    lct_encoder_set_mode(enc, LCT_ENCODER_EVAL);
    ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
    for (size_t n = 0; n < B; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t s = 0; s < S; s++)
                ck_assert_double_eq_tol(y[(n * C + c) * S + s], (x[(n * C + c) * S + s] - rm[c]) / sqrt(rv[c] + 0.01),
                                        1e-5);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* Batch statistics stay accurate when the mean dwarfs the spread (raw pixel values, say). */
START_TEST(test_batchnorm_large_offset)
{
    lct_runtime *rt = lct_test_runtime(2, 4);
    lct_encoder *enc = spec_encoder(rt, "in 1x6x6; conv2d 2 k1 nobias; bn");
    const size_t B = 40, S = 36;
    float *x = malloc(B * S * sizeof *x), *y = malloc(B * 2 * S * sizeof *y), w[2];
    fill_uniform(x, B * S, 13, -1, 1);
    for (size_t i = 0; i < B * S; i++) x[i] += 500.0f;
    get_tensor(lct_encoder_params(enc), 0, w);
    ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
    for (size_t c = 0; c < 2; c++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < B * S; i++) m += (double)w[c] * x[i];
        m /= B * S;
        for (size_t i = 0; i < B * S; i++) v += pow((double)w[c] * x[i] - m, 2);
        v /= B * S;
        for (size_t b = 0; b < B; b++)
            for (size_t i = 0; i < S; i++) {
                double ref = ((double)w[c] * x[b * S + i] - m) / sqrt(v + 1e-5);
                /* the float conv output itself carries ~500·2^-24 of rounding: compare at that scale */
                ck_assert_msg(fabs(y[(b * 2 + c) * S + i] - ref) < 2e-3, "channel %zu: %g vs %g", c,
                              (double)y[(b * 2 + c) * S + i], ref);
            }
    }
    free(x);
    free(y);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

START_TEST(test_gru_forward_reference)
{
    lct_runtime *rt = lct_test_runtime(2, 8);
    enum { B = 3, T = 4, D = 5, H = 6 };
    lct_encoder *enc = spec_encoder(rt, "in 4x5; gru 6");
    float x[B * T * D], y[B * T * H], wih[3 * H * D], whh[3 * H * H], bih[3 * H], bhh[3 * H];
    fill_uniform(x, B * T * D, 9, -1, 1);
    lct_params *p = lct_encoder_params(enc);
    get_tensor(p, 0, wih);
    get_tensor(p, 1, whh);
    get_tensor(p, 2, bih);
    get_tensor(p, 3, bhh);
    ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
    for (size_t b = 0; b < B; b++) {
        double h[H] = {0}, hn[H];
        for (size_t t = 0; t < T; t++) {
            const float *xt = x + (b * T + t) * D;
            for (size_t j = 0; j < H; j++) {
                double gi[3], gh[3];
                for (int g = 0; g < 3; g++) {
                    gi[g] = bih[g * H + j];
                    gh[g] = bhh[g * H + j];
                    for (size_t d = 0; d < D; d++) gi[g] += (double)wih[(g * H + j) * D + d] * xt[d];
                    for (size_t k = 0; k < H; k++) gh[g] += (double)whh[(g * H + j) * H + k] * h[k];
                }
                double r = sigmoid(gi[0] + gh[0]), z = sigmoid(gi[1] + gh[1]), n = tanh(gi[2] + r * gh[2]);
                hn[j] = (1 - z) * n + z * h[j];
            }
            memcpy(h, hn, sizeof h);
            for (size_t j = 0; j < H; j++) ck_assert_double_eq_tol(y[(b * T + t) * H + j], h[j], 1e-5);
        }
    }
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_pool_l2norm_forward_reference)
{
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_encoder *enc = spec_encoder(rt, "in 2x5x5; maxpool 3 s2; flatten; l2norm");
    float x[2 * 2 * 25], y[2 * 8];
    fill_uniform(x, 100, 10, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 2, y), LCT_OK);
    for (size_t n = 0; n < 2; n++) {
        double ref[8], s = 0;
        for (size_t c = 0; c < 2; c++)
            for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 2; j++) {
                    double m = -1e30;
                    for (size_t u = 0; u < 3; u++)
                        for (size_t v = 0; v < 3; v++) m = fmax(m, x[((n * 2 + c) * 5 + i * 2 + u) * 5 + j * 2 + v]);
                    ref[(c * 2 + i) * 2 + j] = m;
                    s += m * m;
                }
        for (size_t k = 0; k < 8; k++) ck_assert_double_eq_tol(y[n * 8 + k], ref[k] / sqrt(s), 1e-6);
    }
    lct_encoder_free(enc);
    enc = spec_encoder(rt, "in 2x6; avgpool 2");
    float x1[2 * 6], y1[2 * 3];
    fill_uniform(x1, 12, 11, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x1, 1, y1), LCT_OK);
    for (size_t c = 0; c < 2; c++)
        for (size_t t = 0; t < 3; t++)
            ck_assert_double_eq_tol(y1[c * 3 + t], (x1[c * 6 + 2 * t] + x1[c * 6 + 2 * t + 1]) / 2.0, 1e-6);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_dropout_statistics_and_eval_identity)
{
    lct_runtime *rt = lct_test_runtime(1, 12);
    lct_encoder *enc = spec_encoder(rt, "in 1000; dropout 0.3");
    float *x = malloc(4000 * sizeof *x), *y = malloc(4000 * sizeof *y), *y2 = malloc(4000 * sizeof *y2);
    for (size_t i = 0; i < 4000; i++) x[i] = 1.0f;
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y), LCT_OK);
    size_t zeros = 0;
    for (size_t i = 0; i < 4000; i++) {
        ck_assert(y[i] == 0.0f || fabsf(y[i] - 1.0f / 0.7f) < 1e-6f);
        zeros += y[i] == 0.0f;
    }
    ck_assert_msg(zeros > 1100 && zeros < 1300, "%zu of 4000 dropped at p = 0.3", zeros);
    /* the next step draws other masks; restoring the step gives the same ones */
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y2), LCT_OK);
    ck_assert(memcmp(y, y2, 4000 * sizeof *y) != 0);
    ck_assert_int_eq(lct_encoder_set_step(enc, 0), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y2), LCT_OK);
    ck_assert(memcmp(y, y2, 4000 * sizeof *y) == 0);
    uint64_t step;
    ck_assert_int_eq(lct_encoder_step(enc, &step), LCT_OK);
    ck_assert_uint_eq(step, 1);
    lct_encoder_set_mode(enc, LCT_ENCODER_EVAL);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 4, y), LCT_OK);
    for (size_t i = 0; i < 4000; i++) ck_assert_float_eq(y[i], 1.0f);
    free(x);
    free(y);
    free(y2);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

/* Batch norm, ReLU and 2x2 max pool run fused (one pass per plane, the pool choosing by the raw input
 * and the sign of γ) give what the three layers give one after the other: "dropout 0" between ReLU and
 * pool keeps them apart. Both signs of γ, odd sizes, batch 1, train and eval. */
START_TEST(test_fused_bn_relu_pool_equals_chain)
{
    static const char *const fused[] = {
        "in 1x13x12; conv2d 6 k3 p1; bn; relu; maxpool 2; conv2d 5 k3 p1; bn; relu; maxpool 2; flatten; linear 3",
        "in 3x9x9; conv2d 4 k3 nobias; bn; relu; maxpool 2",
        "in 2x10x7; conv2d 4 k3 s2 p1; bn; relu; maxpool 2",
        "in 3x6x8; conv2d 4 k1 nobias; bn; relu; maxpool 2",
    };
    static const char *const chain[] = {
        "in 1x13x12; conv2d 6 k3 p1; bn; relu; dropout 0; maxpool 2; conv2d 5 k3 p1; bn; relu; dropout 0; "
        "maxpool 2; flatten; linear 3",
        "in 3x9x9; conv2d 4 k3 nobias; bn; relu; dropout 0; maxpool 2",
        "in 2x10x7; conv2d 4 k3 s2 p1; bn; relu; dropout 0; maxpool 2",
        "in 3x6x8; conv2d 4 k1 nobias; bn; relu; dropout 0; maxpool 2",
    };
    static const size_t batches[] = {5, 1, 4, 3};
    /* also in bf16 (both sides), where the convolutions' products take the fused batch norm's gradient
     * planes (the same operands up to fp32 rounding, so the same bounds hold) */
    for (size_t run = 0; run < 8; run++)
        for (int mode = 0; mode < 2; mode++) {
            size_t k = run % 4;
            int prec = run >= 4;
            lct_runtime *rt = lct_test_runtime(1, 3);
            lct_encoder *a = spec_encoder(rt, fused[k]), *b = spec_encoder(rt, chain[k]);
            if (prec && (lct_encoder_set_precision(a, LCT_PRECISION_BF16) != LCT_OK ||
                         lct_encoder_set_precision(b, LCT_PRECISION_BF16) != LCT_OK)) { /* no AMX tiles here */
                lct_encoder_free(a);
                lct_encoder_free(b);
                lct_runtime_free(rt);
                continue;
            }
            size_t B = batches[k], in = enc_in(a), out = enc_out(a);
            ck_assert_uint_eq(out, enc_out(b));
            lct_params *pa = lct_encoder_params(a), *pb = lct_encoder_params(b);
            ck_assert_int_eq(lct_params_count(pa), lct_params_count(pb));
            for (int i = 0; i < lct_params_count(pa); i++) {
                const char *name;
                size_t count;
                lct_params_info(pa, (size_t)i, &name, &count, NULL);
                float *v = malloc(count * sizeof *v);
                lct_params_get(pa, (size_t)i, v, count);
                if (strstr(name, "batchnorm.weight")) {
                    fill_uniform(v, count, 20 + (uint64_t)i, 0.5f, 1.5f);
                    for (size_t c = 0; c < count; c += 2) v[c] = -v[c];
                } else if (strstr(name, "batchnorm.bias") || strstr(name, "running_mean")) {
                    fill_uniform(v, count, 40 + (uint64_t)i, -0.3f, 0.3f);
                } else if (strstr(name, "running_var")) {
                    fill_uniform(v, count, 60 + (uint64_t)i, 0.5f, 2.0f);
                }
                ck_assert_int_eq(lct_params_set(pa, (size_t)i, v, count), LCT_OK);
                ck_assert_int_eq(lct_params_set(pb, (size_t)i, v, count), LCT_OK);
                free(v);
            }
            ck_assert_int_eq(lct_encoder_set_mode(a, mode), LCT_OK);
            ck_assert_int_eq(lct_encoder_set_mode(b, mode), LCT_OK);
            float *x = malloc(B * in * sizeof *x), *dy = malloc(B * out * sizeof *dy);
            float *ya = malloc(B * out * sizeof *ya), *yb = malloc(B * out * sizeof *yb);
            float *dxa = malloc(B * in * sizeof *dxa), *dxb = malloc(B * in * sizeof *dxb);
            fill_uniform(x, B * in, 7 + k, -1, 1);
            fill_uniform(dy, B * out, 8 + k, -1, 1);
            for (int rep = 0; rep < 2; rep++) { /* twice: the running statistics move in train mode */
                ck_assert_int_eq(lct_encoder_forward(a, x, B, ya), LCT_OK);
                ck_assert_int_eq(lct_encoder_forward(b, x, B, yb), LCT_OK);
                ck_assert_int_eq(lct_encoder_backward(a, dy, B, dxa), LCT_OK);
                ck_assert_int_eq(lct_encoder_backward(b, dy, B, dxb), LCT_OK);
            }
            ck_assert_msg(lct_test_max_rel(ya, yb, B * out, 1e-3) < 1e-5, "%s: y differs", fused[k]);
            ck_assert_msg(lct_test_max_rel(dxa, dxb, B * in, 1e-3) < 1e-4, "%s: dx differs", fused[k]);
            for (int i = 0; i < lct_params_count(pa); i++) {
                const char *name;
                size_t count;
                int tr;
                lct_params_info(pa, (size_t)i, &name, &count, &tr);
                float *ga = malloc(count * sizeof *ga), *gb = malloc(count * sizeof *gb);
                if (tr) {
                    lct_params_get_grad(pa, (size_t)i, ga, count);
                    lct_params_get_grad(pb, (size_t)i, gb, count);
                } else {
                    lct_params_get(pa, (size_t)i, ga, count);
                    lct_params_get(pb, (size_t)i, gb, count);
                }
                /* floor 1: a convolution's bias before a train-mode batch norm has a gradient of ~0 (rounding) */
                double e = lct_test_max_rel(ga, gb, count, 1.0);
                ck_assert_msg(e < 1e-4, "%s (%s, %s): %s differs by %g", fused[k], mode ? "train" : "eval",
                              prec ? "bf16" : "fp32", name, e);
                free(ga);
                free(gb);
            }
            free(x); free(dy); free(ya); free(yb); free(dxa); free(dxb);
            lct_encoder_free(a);
            lct_encoder_free(b);
            lct_runtime_free(rt);
        }
}
END_TEST

/* Batched passes (grouped GEMMs over several samples) must equal the same samples run one by one. */
START_TEST(test_conv_batch_equals_single_samples)
{
    static const char *const specs[] = {"in 3x9x9; conv2d 5 k3 s1 p1", "in 4x6x6; conv2d 3 k1",
                                        "in 2x30; conv1d 4 k5 s2 p2", "in 2x7x7; conv2d 4 k3 s2 nobias",
                                        "in 1x50; conv1d 4 k10 s5 p3; relu", "in 6x40; conv1d 5 k8 s4 p2; relu"};
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        lct_runtime *rt = lct_test_runtime(2, 1);
        lct_encoder *enc = spec_encoder(rt, specs[k]);
        const size_t B = 45;
        size_t in = enc_in(enc), out = enc_out(enc);
        float *x = malloc(B * in * sizeof *x), *dy = malloc(B * out * sizeof *dy), *y = malloc(B * out * sizeof *y);
        float *dx = malloc(B * in * sizeof *dx), *y1 = malloc(out * sizeof *y1), *dx1 = malloc(in * sizeof *dx1);
        fill_uniform(x, B * in, 3, -1, 1);
        fill_uniform(dy, B * out, 4, -1, 1);
        lct_params *p = lct_encoder_params(enc);
        size_t nw, nb = 0;
        lct_params_info(p, 0, NULL, &nw, NULL);
        int has_bias = lct_params_count(p) > 1;
        if (has_bias) lct_params_info(p, 1, NULL, &nb, NULL);
        float *gw = malloc(nw * sizeof *gw), *gb = malloc((nb + 1) * sizeof *gb);
        float *gw1 = malloc(nw * sizeof *gw1), *gb1 = malloc((nb + 1) * sizeof *gb1);
        ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        lct_params_get_grad(p, 0, gw, nw);
        if (has_bias) lct_params_get_grad(p, 1, gb, nb);
        lct_encoder_zero_grad(enc);
        for (size_t b = 0; b < B; b++) {
            ck_assert_int_eq(lct_encoder_forward(enc, x + b * in, 1, y1), LCT_OK);
            ck_assert_int_eq(lct_encoder_backward(enc, dy + b * out, 1, dx1), LCT_OK);
            /* (two-tap conv1d pairs columns across the whole batch: a sample's parity changes its rounding) */
            ck_assert_double_lt(lct_test_max_rel(y1, y + b * out, out, 1e-3), 1e-5 * (k < 4 ? 1 : 10));
            ck_assert_double_lt(lct_test_max_rel(dx1, dx + b * in, in, 1e-3), 1e-5 * (k < 4 ? 1 : 10));
        }
        lct_params_get_grad(p, 0, gw1, nw);
        ck_assert_double_lt(lct_test_max_rel(gw1, gw, nw, 1e-2), 1e-3); /* other summation order */
        if (has_bias) {
            lct_params_get_grad(p, 1, gb1, nb);
            ck_assert_double_lt(lct_test_max_rel(gb1, gb, nb, 1e-2), 1e-3);
        }
        free(x); free(dy); free(y); free(dx); free(y1); free(dx1); free(gw); free(gb); free(gw1); free(gb1);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
    }
}
END_TEST

/* 1 if the encoder took bf16; 0 (the test then checks only the error) where the CPU or OS has no AMX tiles. */
static int try_bf16(lct_encoder *enc)
{
    int rc = lct_encoder_set_precision(enc, LCT_PRECISION_BF16);
    if (rc == LCT_OK) return 1;
    ck_assert_int_eq(rc, LCT_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(lct_error_last(), "AMX"));
    ck_assert_int_eq(lct_encoder_get_precision(enc), LCT_PRECISION_FP32);
    printf("bf16: no AMX-BF16 tiles here, only the refusal is checked\n");
    return 0;
}

static double bf(float v)
{
    return (double)lct__bf16_to_float(lct__to_bf16(v));
}

/* Linear layers in bf16 against double sums of the bf16-rounded operands: forward, dW (accumulated over
 * two backward passes), db and dx, for shapes that leave every kind of partial tile block, a sequence
 * input (rows = batch × T) and no bias; in train and eval mode, first in the encoder (W packed for dx
 * in backward) and behind a flatten (in train mode, packed in forward). The results must also differ
 * from the fp32 sums somewhere. */
START_TEST(test_bf16_linear_reference)
{
    static const struct {
        const char *spec;
        size_t batch;
    } lin[] = {{"in 3; linear 5", 1},           {"in 31; linear 17", 33},   {"in 784; linear 130", 37},
                 {"in 64; linear 32 nobias", 64}, {"in 4x40; linear 48", 9},  {"in 1024; linear 128", 256},
                 {"in 2x5x7; flatten; linear 33", 19}, {"in 1x64x20; flatten; linear 40 nobias", 32}};
    for (size_t u = 0; u < 2 * sizeof lin / sizeof *lin; u++) {
        size_t t = u / 2;
        lct_runtime *rt = lct_test_runtime(2, 8);
        lct_encoder *enc = spec_encoder(rt, lin[t].spec);
        if (!try_bf16(enc)) {
            lct_encoder_free(enc);
            lct_runtime_free(rt);
            return;
        }
        ck_assert_int_eq(lct_encoder_get_precision(enc), LCT_PRECISION_BF16);
        ck_assert_int_eq(lct_encoder_set_mode(enc, u % 2 ? LCT_ENCODER_EVAL : LCT_ENCODER_TRAIN), LCT_OK);
        size_t B = lin[t].batch, in = enc_in(enc), out = enc_out(enc);
        uint32_t shape[3];
        size_t rank;
        lct_encoder_output_shape(enc, shape, 3, &rank);
        size_t O = shape[rank - 1], D = in / (out / O), M = B * (out / O); /* rows of the product */
        lct_params *p = lct_encoder_params(enc);
        int has_bias = lct_params_count(p) == 2;
        float *w = malloc(O * D * sizeof *w), *b = calloc(O, sizeof *b), *x = malloc(M * D * sizeof *x);
        float *y = malloc(M * O * sizeof *y), *dy = malloc(M * O * sizeof *dy), *dx = malloc(M * D * sizeof *dx);
        float *dw = malloc(O * D * sizeof *dw), *db = calloc(O, sizeof *db);
        get_tensor(p, 0, w);
        if (has_bias) get_tensor(p, 1, b);
        fill_uniform(x, M * D, 40 + t, -2, 2);
        fill_uniform(dy, M * O, 50 + t, -1, 1);
        ck_assert_int_eq(lct_encoder_zero_grad(enc), LCT_OK);
        ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        lct_params_get_grad(p, 0, dw, O * D);
        if (has_bias) lct_params_get_grad(p, 1, db, O);
        double off32 = 0; /* largest distance of y from the fp32 sums: bf16 rounding must show */
        for (size_t i = 0; i < M; i++)
            for (size_t o = 0; o < O; o++) {
                double s = b[o], s32 = b[o], mag = fabs(b[o]);
                for (size_t q = 0; q < D; q++) {
                    s += bf(x[i * D + q]) * bf(w[o * D + q]);
                    s32 += (double)x[i * D + q] * w[o * D + q];
                    mag += fabs(bf(x[i * D + q]) * bf(w[o * D + q]));
                }
                ck_assert_msg(fabs(y[i * O + o] - s) <= 1e-5 * mag + 1e-6, "%s: y[%zu,%zu] = %.7g, not %.7g",
                              lin[t].spec, i, o, y[i * O + o], s);
                if (fabs(y[i * O + o] - s32) > off32) off32 = fabs(y[i * O + o] - s32);
            }
        ck_assert_msg(off32 > 1e-4, "%s: y equals the fp32 sums (%g): no bf16 rounding", lin[t].spec, off32);
        for (size_t o = 0; o < O; o++) {
            double sb = 0;
            for (size_t i = 0; i < M; i++) sb += dy[i * O + o];
            if (has_bias) ck_assert_msg(fabs(db[o] - 2 * sb) <= 1e-4 * (1 + fabs(sb)), "%s: db[%zu]", lin[t].spec, o);
            for (size_t q = 0; q < D; q++) {
                double s = 0, mag = 0;
                for (size_t i = 0; i < M; i++) {
                    s += bf(dy[i * O + o]) * bf(x[i * D + q]);
                    mag += fabs(bf(dy[i * O + o]) * bf(x[i * D + q]));
                }
                ck_assert_msg(fabs(dw[o * D + q] - 2 * s) <= 2e-5 * mag + 1e-6, "%s: dW[%zu,%zu] = %.7g, not 2 × %.7g",
                              lin[t].spec, o, q, dw[o * D + q], s);
            }
        }
        for (size_t i = 0; i < M; i++)
            for (size_t q = 0; q < D; q++) {
                double s = 0, mag = 0;
                for (size_t o = 0; o < O; o++) {
                    s += bf(dy[i * O + o]) * bf(w[o * D + q]);
                    mag += fabs(bf(dy[i * O + o]) * bf(w[o * D + q]));
                }
                ck_assert_msg(fabs(dx[i * D + q] - s) <= 1e-5 * mag + 1e-6, "%s: dx[%zu,%zu] = %.7g, not %.7g",
                              lin[t].spec, i, q, dx[i * D + q], s);
            }
        free(w), free(b), free(x), free(y), free(dy), free(dx), free(dw), free(db);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
    }
}
END_TEST

/* conv2d in bf16 against double sums of the bf16-rounded operands: forward, dW (accumulated over two
 * backward passes), db and dx, for strides 1 and 2, padding 0 and 1, 1x1 kernels (no im2col), one
 * sample, odd batches (grouped GEMMs, several groups per chunk, a short last group), more than 32 output
 * channels and more than 512 output pixels (one sample per GEMM), with and without bias; "same-width"
 * geometries (stride 1, padding (k − 1)/2) pack their columns straight from the images, with groups of 16
 * columns that straddle two samples, and add dx into the images from the tiles. The results must differ
 * from the fp32 sums somewhere. A layer with C·k·k <= 16 runs its register kernels, which stay fp32: it
 * must match the fp32 sums instead. */
START_TEST(test_bf16_conv2d_reference)
{
    static const struct {
        size_t c, h, w, o, k, s, p, batch, bias;
    } geo[] = {{2, 9, 9, 5, 3, 1, 1, 1, 1},   {3, 10, 9, 4, 3, 2, 0, 37, 1}, {5, 8, 8, 33, 3, 1, 1, 37, 0},
               {4, 13, 11, 6, 3, 2, 1, 5, 1}, {20, 6, 5, 3, 1, 1, 0, 9, 1},  {24, 4, 4, 8, 1, 1, 0, 37, 0},
               {32, 23, 23, 10, 3, 1, 1, 37, 1}, {6, 17, 17, 9, 3, 1, 0, 67, 1}, {6, 17, 17, 9, 3, 1, 1, 67, 0},
               {3, 11, 10, 7, 5, 1, 2, 37, 1},   {1, 9, 9, 4, 3, 1, 1, 7, 1}};
    for (size_t t = 0; t < sizeof geo / sizeof *geo; t++) {
        lct_runtime *rt = lct_test_runtime(2, 9);
        const size_t B = geo[t].batch, C = geo[t].c, H = geo[t].h, W = geo[t].w, O = geo[t].o, K = geo[t].k,
                     S = geo[t].s, P = geo[t].p;
        const size_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1, KK = C * K * K;
        const int tiles = KK > 16; /* else the fp32 register kernels */
        char spec[128];
        snprintf(spec, sizeof spec, "in %zux%zux%zu; conv2d %zu k%zu s%zu p%zu%s", C, H, W, O, K, S, P,
                 geo[t].bias ? "" : " nobias");
        lct_encoder *enc = spec_encoder(rt, spec);
        if (!try_bf16(enc)) {
            lct_encoder_free(enc);
            lct_runtime_free(rt);
            return;
        }
        lct_params *p = lct_encoder_params(enc);
        ck_assert_int_eq(lct_params_count(p), geo[t].bias ? 2 : 1);
        size_t nx = B * C * H * W, ny = B * O * OH * OW;
        float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy);
        float *dx = malloc(nx * sizeof *dx), *w = malloc(O * KK * sizeof *w), *dw = malloc(O * KK * sizeof *dw);
        float *b = calloc(O, sizeof *b), *db = calloc(O, sizeof *db);
        double *rx = calloc(nx, sizeof *rx), *mx = calloc(nx, sizeof *mx); /* reference dx and its Σ|terms| */
        get_tensor(p, 0, w);
        if (geo[t].bias) get_tensor(p, 1, b);
        fill_uniform(x, nx, 60 + t, -2, 2);
        fill_uniform(dy, ny, 70 + t, -1, 1);
        ck_assert_int_eq(lct_encoder_zero_grad(enc), LCT_OK);
        ck_assert_int_eq(lct_encoder_forward(enc, x, B, y), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, B, dx), LCT_OK);
        lct_params_get_grad(p, 0, dw, O * KK);
        if (geo[t].bias) lct_params_get_grad(p, 1, db, O);
        double off32 = 0; /* largest distance of y from the fp32 sums */
        for (size_t o = 0; o < O; o++) {
            double sb = 0;
            for (size_t n = 0; n < B; n++)
                for (size_t i = 0; i < OH * OW; i++) sb += dy[(n * O + o) * OH * OW + i];
            if (geo[t].bias) ck_assert_msg(fabs(db[o] - 2 * sb) <= 1e-4 * (1 + fabs(sb)), "%s: db[%zu]", spec, o);
            for (size_t r = 0; r < KK; r++) {
                size_t c = r / (K * K), u = r / K % K, v = r % K;
                double sw = 0, mw = 0;
                double wb = tiles ? bf(w[o * KK + r]) : w[o * KK + r];
                for (size_t n = 0; n < B; n++)
                    for (size_t i = 0; i < OH; i++)
                        for (size_t j = 0; j < OW; j++) {
                            long iy = (long)(i * S + u) - (long)P, ix = (long)(j * S + v) - (long)P;
                            if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                            size_t xi = ((n * C + c) * H + (size_t)iy) * W + (size_t)ix;
                            float g = dy[((n * O + o) * OH + i) * OW + j];
                            double xv = tiles ? bf(x[xi]) : x[xi], gv = tiles ? bf(g) : g;
                            sw += gv * xv, mw += fabs(gv * xv);
                            rx[xi] += gv * wb, mx[xi] += fabs(gv * wb);
                        }
                ck_assert_msg(fabs(dw[o * KK + r] - 2 * sw) <= 2e-5 * mw + 1e-6, "%s: dW[%zu,%zu] = %.7g, not 2 × %.7g",
                              spec, o, r, dw[o * KK + r], sw);
            }
            for (size_t n = 0; n < B; n++)
                for (size_t i = 0; i < OH; i++)
                    for (size_t j = 0; j < OW; j++) {
                        double s = b[o], s32 = b[o], mag = fabs(b[o]);
                        for (size_t r = 0; r < KK; r++) {
                            size_t c = r / (K * K), u = r / K % K, v = r % K;
                            long iy = (long)(i * S + u) - (long)P, ix = (long)(j * S + v) - (long)P;
                            if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                            float xv = x[((n * C + c) * H + (size_t)iy) * W + (size_t)ix], wv = w[o * KK + r];
                            s += bf(xv) * bf(wv), mag += fabs(bf(xv) * bf(wv));
                            s32 += (double)xv * wv;
                        }
                        float got = y[((n * O + o) * OH + i) * OW + j];
                        double want = tiles ? s : s32;
                        ck_assert_msg(fabs(got - want) <= 1e-5 * mag + 1e-6, "%s: y[%zu,%zu,%zu,%zu] = %.7g, not %.7g",
                                      spec, n, o, i, j, got, want);
                        if (fabs(got - s32) > off32) off32 = fabs(got - s32);
                    }
        }
        if (tiles) ck_assert_msg(off32 > 1e-4, "%s: y equals the fp32 sums (%g): no bf16 rounding", spec, off32);
        for (size_t i = 0; i < nx; i++)
            ck_assert_msg(fabs(dx[i] - rx[i]) <= 1e-5 * mx[i] + 1e-6, "%s: dx[%zu] = %.7g, not %.7g", spec, i, dx[i],
                          rx[i]);
        free(x), free(y), free(dy), free(dx), free(w), free(dw), free(b), free(db), free(rx), free(mx);
        lct_encoder_free(enc);
        lct_runtime_free(rt);
    }
}
END_TEST

/* Switching precision: fp32 again gives the fp32 result, a pending backward is forgotten, and the
 * precision carries to layers added later. */
START_TEST(test_bf16_switch)
{
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_encoder *enc = spec_encoder(rt, "in 40; linear 24; relu");
    lct_encoder *ref = spec_encoder(rt, "in 40");
    float x[3 * 40], y32[3 * 24], y[3 * 24], dy[3 * 24], dx[3 * 40];
    fill_uniform(x, sizeof x / sizeof *x, 3, -1, 1);
    fill_uniform(dy, sizeof dy / sizeof *dy, 4, -1, 1);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 3, y32), LCT_OK);
    if (!try_bf16(enc)) goto done;
    LCT_ASSERT_FAILS(lct_encoder_backward(enc, dy, 3, dx), LCT_ESTATE, "no forward pass");
    ck_assert_int_eq(lct_encoder_forward(enc, x, 3, y), LCT_OK);
    ck_assert(memcmp(y, y32, sizeof y) != 0);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 3, dx), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_precision(enc, LCT_PRECISION_BF16), LCT_OK); /* no change: keeps the pass */
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 3, dx), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_precision(enc, LCT_PRECISION_FP32), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 3, y), LCT_OK);
    ck_assert(memcmp(y, y32, sizeof y) == 0);
    /* set before the layer exists */
    ck_assert_int_eq(lct_encoder_set_precision(ref, LCT_PRECISION_BF16), LCT_OK);
    ck_assert_int_eq(lct_encoder_add_linear(ref, 24, 1), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(ref, x, 3, y), LCT_OK);
    ck_assert(memcmp(y, y32, sizeof y) != 0);
done:
    LCT_ASSERT_FAILS(lct_encoder_set_precision(enc, 2), LCT_EINVAL, "precision is 2");
    LCT_ASSERT_FAILS(lct_encoder_set_precision(enc, -1), LCT_EINVAL, "precision is -1");
    LCT_ASSERT_FAILS(lct_encoder_set_precision(NULL, 0), LCT_EINVAL, "'enc'");
    LCT_ASSERT_FAILS(lct_encoder_get_precision(NULL), LCT_EINVAL, "'enc'");
    /* a CPU without tiles: refused, and the encoder keeps fp32 */
    lct__test_control(LCT__TESTCTRL_AMX_OFF, 1);
    LCT_ASSERT_FAILS(lct_encoder_set_precision(enc, LCT_PRECISION_BF16), LCT_EUNSUPPORTED, "AMX");
    ck_assert_int_eq(lct_encoder_get_precision(enc), LCT_PRECISION_FP32);
    lct__test_control(LCT__TESTCTRL_AMX_OFF, 0);
    lct_encoder_free(enc);
    lct_encoder_free(ref);
    lct_runtime_free(rt);
}
END_TEST

/* A forward and backward pass of enc against a fresh encoder given enc's parameters: its packed copies
 * of W are made from scratch, so any stale copy kept by enc shows as a difference. */
static void same_as_fresh(lct_encoder *enc, const char *spec, const float *x, const float *dy, size_t batch,
                          const char *when)
{
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_encoder *ref = spec_encoder(rt, spec);
    ck_assert_int_eq(lct_encoder_set_precision(ref, LCT_PRECISION_BF16), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_mode(ref, lct_encoder_get_mode(enc)), LCT_OK);
    lct_params *p = lct_encoder_params(enc), *q = lct_encoder_params(ref);
    for (size_t i = 0; i < (size_t)lct_params_count(p); i++) {
        size_t count;
        lct_params_info(p, i, NULL, &count, NULL);
        float *v = malloc(count * sizeof *v);
        ck_assert_int_eq(lct_params_get(p, i, v, count), LCT_OK);
        ck_assert_int_eq(lct_params_set(q, i, v, count), LCT_OK);
        free(v);
    }
    size_t in = enc_in(enc), out = enc_out(enc);
    float *y = malloc(batch * out * sizeof *y), *yr = malloc(batch * out * sizeof *yr);
    float *dx = malloc(batch * in * sizeof *dx), *dxr = malloc(batch * in * sizeof *dxr);
    ck_assert_int_eq(lct_encoder_forward(enc, x, batch, y), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(ref, x, batch, yr), LCT_OK);
    ck_assert_msg(memcmp(y, yr, batch * out * sizeof *y) == 0, "%s: the output differs from a fresh encoder's", when);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, batch, dx), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(ref, dy, batch, dxr), LCT_OK);
    ck_assert_msg(memcmp(dx, dxr, batch * in * sizeof *dx) == 0, "%s: dx differs from a fresh encoder's", when);
    free(y);
    free(yr);
    free(dx);
    free(dxr);
    lct_encoder_free(ref);
    lct_runtime_free(rt);
}

/* In bf16 a linear layer keeps W packed while the parameters' version is unchanged: every way W can
 * change must reach the next pass. */
START_TEST(test_bf16_packed_weights_follow_writes)
{
    static const char *spec = "in 70; linear 45; relu; linear 33";
    lct_runtime *rt = lct_test_runtime(_i ? 2 : 1, 8);
    lct_encoder *enc = spec_encoder(rt, spec);
    if (!try_bf16(enc)) goto done;
    float x[5 * 70], dy[5 * 33], dx[5 * 70], y[5 * 33];
    fill_uniform(x, sizeof x / sizeof *x, 5, -1, 1);
    fill_uniform(dy, sizeof dy / sizeof *dy, 6, -1, 1);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = _i ? LCT_OPTIMIZER_ADAMW : LCT_OPTIMIZER_SGD;
    oo.momentum = _i ? 0.0 : 0.9;
    oo.lr = 0.05;
    lct_optimizer *opt;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt, &oo), LCT_OK);
    ck_assert_int_eq(lct_optimizer_attach(opt, lct_encoder_params(enc)), LCT_OK);
    for (int step = 0; step < 3; step++) {
        ck_assert_int_eq(lct_optimizer_zero_grad(opt), LCT_OK);
        ck_assert_int_eq(lct_encoder_forward(enc, x, 5, y), LCT_OK);
        ck_assert_int_eq(lct_encoder_backward(enc, dy, 5, dx), LCT_OK);
        ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    }
    same_as_fresh(enc, spec, x, dy, 5, "after optimiser steps");
    /* a write through the parameter set */
    float w[33 * 45];
    lct_params *p = lct_encoder_params(enc);
    ck_assert_int_eq(lct_params_get(p, 2, w, 33 * 45), LCT_OK);
    for (size_t i = 0; i < 33 * 45; i += 7) w[i] = -w[i];
    ck_assert_int_eq(lct_params_set(p, 2, w, 33 * 45), LCT_OK);
    same_as_fresh(enc, spec, x, dy, 5, "after lct_params_set");
    /* eval mode packs only forward's copy; back in train mode backward needs the other */
    ck_assert_int_eq(lct_encoder_set_mode(enc, LCT_ENCODER_EVAL), LCT_OK);
    same_as_fresh(enc, spec, x, dy, 5, "in eval mode");
    ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_mode(enc, LCT_ENCODER_TRAIN), LCT_OK);
    same_as_fresh(enc, spec, x, dy, 5, "after a step taken in eval mode");
    /* another batch size moves the workspace, and so the packed copies */
    same_as_fresh(enc, spec, x, dy, 3, "at batch 3");
    same_as_fresh(enc, spec, x, dy, 5, "back at batch 5");
    /* through fp32 and back */
    ck_assert_int_eq(lct_encoder_set_precision(enc, LCT_PRECISION_FP32), LCT_OK);
    ck_assert_int_eq(lct_encoder_forward(enc, x, 5, y), LCT_OK);
    ck_assert_int_eq(lct_encoder_backward(enc, dy, 5, NULL), LCT_OK);
    ck_assert_int_eq(lct_optimizer_step(opt), LCT_OK);
    ck_assert_int_eq(lct_encoder_set_precision(enc, LCT_PRECISION_BF16), LCT_OK);
    same_as_fresh(enc, spec, x, dy, 5, "after a step in fp32");
    lct_optimizer_free(opt);
done:
    lct_encoder_free(enc);
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(Suite *s)
{
    TCase *tc = lct_test_case(s, "gradients", 120);
    size_t n = sizeof cases / sizeof *cases;
    tcase_add_loop_test(tc, test_gradcheck_train, 0, (int)n);
    tcase_add_loop_test(tc, test_gradcheck_eval, 0, (int)n);
    TCase *tf = lct_test_case(s, "forward", 0);
    tcase_add_test(tf, test_conv2d_forward_reference);
    tcase_add_test(tf, test_conv1d_forward_reference);
    tcase_add_test(tf, test_conv1d_relu_reference);
    tcase_add_test(tf, test_batchnorm_forward_reference);
    tcase_add_test(tf, test_batchnorm_large_offset);
    tcase_add_test(tf, test_gru_forward_reference);
    tcase_add_test(tf, test_pool_l2norm_forward_reference);
    tcase_add_test(tf, test_dropout_statistics_and_eval_identity);
    tcase_add_test(tf, test_conv_batch_equals_single_samples);
    tcase_add_test(tf, test_fused_bn_relu_pool_equals_chain);
    tcase_add_test(tf, test_bf16_linear_reference);
    tcase_add_test(tf, test_bf16_conv2d_reference);
    tcase_add_test(tf, test_bf16_switch);
    tcase_add_loop_test(tf, test_bf16_packed_weights_follow_writes, 0, 2);
}

int main(void)
{
    return lct_test_suite_main("layers", add_tests);
}
