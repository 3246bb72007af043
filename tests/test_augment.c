/* Augmenter: image and signal transforms against reference code, determinism, bad input. */
#include "testutil.h"

#include "core/internal.h"

/* ---- helpers --------------------------------------------------------------- */

static lct_augmenter *make_aug(lct_runtime *rt, int input, unsigned c, unsigned h, unsigned w, unsigned oh,
                               unsigned ow)
{
    lct_augmenter_options o;
    ck_assert_int_eq(lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION), LCT_OK);
    o.input = input;
    o.channels = c, o.height = h, o.width = w;
    o.out_height = oh, o.out_width = ow;
    lct_augmenter *aug = NULL;
    ck_assert_int_eq(lct_augmenter_new(&aug, rt, &o), LCT_OK);
    ck_assert_ptr_nonnull(aug);
    return aug;
}

static float *random_floats(size_t n, unsigned seed, float lo, float hi)
{
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    lct__rng r;
    lct__rng_seed(&r, seed, 99);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lct__rng_uniform(&r);
    return x;
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
    uint8_t *x = malloc(n);
    ck_assert_ptr_nonnull(x);
    lct__rng r;
    lct__rng_seed(&r, seed, 98);
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)lct__rng_below(&r, 256);
    return x;
}

static float *out_buf(const lct_augmenter *aug, size_t batch, size_t views)
{
    size_t oc;
    ck_assert_int_eq(lct_augmenter_sizes(aug, NULL, &oc), LCT_OK);
    float *y = calloc(batch * views * oc, sizeof *y);
    ck_assert_ptr_nonnull(y);
    return y;
}

/* Bilinear resize reference (align_corners=False, no antialias) of one plane region, in double. */
static double ref_bilinear(const double *plane, size_t W, size_t top, size_t left, size_t h, size_t w,
                           size_t OH, size_t OW, size_t y, size_t x)
{
    double sy = ((double)y + 0.5) * (double)h / (double)OH - 0.5, sx = ((double)x + 0.5) * (double)w / (double)OW - 0.5;
    if (sy < 0) sy = 0;
    if (sx < 0) sx = 0;
    size_t y0 = (size_t)sy, x0 = (size_t)sx;
    if (y0 > h - 1) y0 = h - 1;
    if (x0 > w - 1) x0 = w - 1;
    size_t y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
    double ly = sy - (double)y0, lx = sx - (double)x0;
    if (y1 == y0) ly = 0;
    if (x1 == x0) lx = 0;
#define P(yy, xx) plane[(top + (yy)) * W + left + (xx)]
    return (1 - ly) * ((1 - lx) * P(y0, x0) + lx * P(y0, x1)) + ly * ((1 - lx) * P(y1, x0) + lx * P(y1, x1));
#undef P
}

/* ---- bad input --------------------------------------------------------------- */

START_TEST(test_new_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_augmenter_options o;
    LCT_ASSERT_FAILS(lct_augmenter_options_init(NULL, LCT_AUGMENTER_OPTIONS_VERSION), LCT_EINVAL, "opts");
    LCT_ASSERT_FAILS(lct_augmenter_options_init(&o, 0), LCT_EVERSION, "version is 0");
    LCT_ASSERT_FAILS(lct_augmenter_options_init(&o, 2), LCT_EVERSION, "version is 2");
    ck_assert_int_eq(lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION), LCT_OK);
    ck_assert_int_eq(o.input, LCT_AUG_IMAGE_U8);
    ck_assert_uint_eq(o.channels, 3);
    ck_assert_uint_eq(o.height, 32);

    lct_augmenter *aug = (lct_augmenter *)&o; /* must come back NULL on failure */
    LCT_ASSERT_FAILS(lct_augmenter_new(NULL, rt, &o), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, NULL, &o), LCT_EINVAL, "'rt'");
    ck_assert_ptr_null(aug);
#define BAD(field, value, code, needle)                                   \
    do {                                                                  \
        lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);    \
        o.field = value;                                                  \
        aug = (lct_augmenter *)&o;                                        \
        LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), code, needle);  \
        ck_assert_ptr_null(aug);                                          \
    } while (0)
    BAD(version, 7, LCT_EVERSION, "version is 7");
    BAD(input, 5, LCT_EINVAL, "opts->input is 5");
    BAD(channels, 2, LCT_EINVAL, "opts->channels is 2");
    BAD(height, 0, LCT_EINVAL, "opts->height is 0");
    BAD(width, 70000, LCT_EINVAL, "opts->width is 70000");
    BAD(out_height, 70000, LCT_EINVAL, "opts->out_height is 70000");
    BAD(out_width, 65537, LCT_EINVAL, "opts->out_width is 65537");
    /* signals */
    lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);
    o.input = LCT_AUG_SIGNAL_F32;
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_EINVAL, "opts->height is 32");
    o.height = 1;
    o.out_height = 2;
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_EINVAL, "opts->out_height is 2");
    o.out_height = 0;
    o.out_width = 33;
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_ESHAPE, "opts->out_width is 33");
    o.out_width = 0;
    o.channels = 0;
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_EINVAL, "opts->channels is 0");
    o.channels = 2;
    o.width = 0;
    LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_EINVAL, "opts->width");
    ck_assert_ptr_null(aug);
#undef BAD
    size_t current;
    lct_runtime_memory(rt, &current, NULL);
    ck_assert_uint_eq(current, 0); /* nothing half-built left behind */

    /* defaults */
    ck_assert_int_eq(lct_augmenter_new(&aug, rt, NULL), LCT_OK);
    size_t ic = 0, oc = 0;
    ck_assert_int_eq(lct_augmenter_sizes(aug, &ic, &oc), LCT_OK);
    ck_assert_uint_eq(ic, 3 * 32 * 32);
    ck_assert_uint_eq(oc, 3 * 32 * 32);
    ck_assert_int_eq(lct_augmenter_op_count(aug), 0);
    LCT_ASSERT_FAILS(lct_augmenter_sizes(NULL, &ic, &oc), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_op_count(NULL), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_clear(NULL), LCT_EINVAL, "'aug'");
    uint64_t ctr;
    LCT_ASSERT_FAILS(lct_augmenter_get_counter(NULL, &ctr), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_get_counter(aug, NULL), LCT_EINVAL, "'counter'");
    LCT_ASSERT_FAILS(lct_augmenter_set_counter(NULL, 3), LCT_EINVAL, "'aug'");
    lct_augmenter_free(aug);
    lct_augmenter_free(NULL);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_builders_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_augmenter *img = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 16, 16, 8, 8);
    lct_augmenter *sig = make_aug(rt, LCT_AUG_SIGNAL_F32, 2, 1, 100, 1, 50);
    const double nan = NAN;

    /* NULL handle, for every builder */
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(NULL, 1, 0.2, 1, 0.75, 1.33), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(NULL, 0.5), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(NULL, 1, .4, .4, .4, .4), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_grayscale(NULL, 0.2), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_blur(NULL, 0.5, 0.1, 2), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_noise(NULL, 0.5, 0.1), LCT_EINVAL, "'aug'");
    float m3[3] = {0.5f, 0.5f, 0.5f}, s3[3] = {0.2f, 0.2f, 0.2f};
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(NULL, m3, s3, 3), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_window_crop(NULL, 1), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_gain(NULL, 1, -6, 6), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_mask(NULL, 1, 5), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_shift(NULL, 1, 5), LCT_EINVAL, "'aug'");

    /* transforms of the other kind */
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(sig, 1, 0.2, 1, 0.75, 1.33), LCT_EINVAL, "images");
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(sig, 0.5), LCT_EINVAL, "images");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(sig, 1, .4, .4, .4, .4), LCT_EINVAL, "images");
    LCT_ASSERT_FAILS(lct_augmenter_add_grayscale(sig, 0.2), LCT_EINVAL, "images");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_blur(sig, 0.5, 0.1, 2), LCT_EINVAL, "images");
    LCT_ASSERT_FAILS(lct_augmenter_add_window_crop(img, 1), LCT_EINVAL, "signals");
    LCT_ASSERT_FAILS(lct_augmenter_add_gain(img, 1, -6, 6), LCT_EINVAL, "signals");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_mask(img, 1, 5), LCT_EINVAL, "signals");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_shift(img, 1, 5), LCT_EINVAL, "signals");

    /* probabilities and parameter bounds */
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(img, 1.5), LCT_ERANGE, "p is 1.5");
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(img, -0.1), LCT_ERANGE, "p is -0.1");
    LCT_ASSERT_FAILS(lct_augmenter_add_grayscale(img, nan), LCT_ERANGE, "p is nan");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0, 1, 0.75, 1.33), LCT_ERANGE, "scale_min is 0");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.5, 0.4, 0.75, 1.33), LCT_ERANGE, "scale_max is 0.4");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.5, 1.1, 0.75, 1.33), LCT_ERANGE, "scale_max is 1.1");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.2, 1, -1, 1.33), LCT_ERANGE, "ratio_min is -1");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.2, 1, 2, 1), LCT_ERANGE, "ratio_max is 1");
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.2, 1, 0.75, nan), LCT_ERANGE, "ratio_max is nan");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(img, 1, -0.1, .4, .4, .4), LCT_ERANGE, "brightness is -0.1");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(img, 1, .4, nan, .4, .4), LCT_ERANGE, "contrast is nan");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(img, 1, .4, .4, 101, .4), LCT_ERANGE, "saturation is 101");
    LCT_ASSERT_FAILS(lct_augmenter_add_color_jitter(img, 1, .4, .4, .4, 0.6), LCT_ERANGE, "hue is 0.6");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_blur(img, 1, 0, 2), LCT_ERANGE, "sigma_min is 0");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_blur(img, 1, 1, 65), LCT_ERANGE, "sigma_max is 65");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_blur(img, 1, 2, 1), LCT_ERANGE, "sigma_max is 1");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_noise(img, 1, -1), LCT_ERANGE, "std is -1");
    LCT_ASSERT_FAILS(lct_augmenter_add_gaussian_noise(sig, 1, INFINITY), LCT_ERANGE, "std is inf");
    LCT_ASSERT_FAILS(lct_augmenter_add_gain(sig, 1, -200, 6), LCT_ERANGE, "min_db is -200");
    LCT_ASSERT_FAILS(lct_augmenter_add_gain(sig, 1, 6, -6), LCT_ERANGE, "max_db is -6");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_mask(sig, 1, 51), LCT_ERANGE, "max_width is 51");
    LCT_ASSERT_FAILS(lct_augmenter_add_time_shift(sig, 1, 50), LCT_ERANGE, "max_shift is 50");

    /* normalise arguments */
    float bad_s[3] = {0.2f, 0.0f, 0.2f}, bad_m[3] = {0.5f, NAN, 0.5f};
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(img, NULL, s3, 3), LCT_EINVAL, "'mean'");
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(img, m3, NULL, 3), LCT_EINVAL, "'std'");
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(img, m3, s3, 2), LCT_ESHAPE, "channels is 2");
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(img, m3, bad_s, 3), LCT_ERANGE, "std[1] is 0");
    LCT_ASSERT_FAILS(lct_augmenter_add_normalize(img, bad_m, s3, 3), LCT_ERANGE, "mean[1] is nan");
    ck_assert_int_eq(lct_augmenter_op_count(img), 0);
    ck_assert_int_eq(lct_augmenter_op_count(sig), 0);

    /* order: crop first, nothing after normalise, at most 32 */
    ck_assert_int_eq(lct_augmenter_add_hflip(img, 0.5), LCT_OK);
    LCT_ASSERT_FAILS(lct_augmenter_add_random_resized_crop(img, 1, 0.2, 1, 0.75, 1.33), LCT_ESTATE, "first");
    ck_assert_int_eq(lct_augmenter_add_normalize(img, m3, s3, 3), LCT_OK);
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(img, 0.5), LCT_ESTATE, "normalisation");
    ck_assert_int_eq(lct_augmenter_op_count(img), 2);
    ck_assert_int_eq(lct_augmenter_clear(img), LCT_OK);
    ck_assert_int_eq(lct_augmenter_op_count(img), 0);
    for (int i = 0; i < 32; i++) ck_assert_int_eq(lct_augmenter_add_hflip(img, 0.5), LCT_OK);
    LCT_ASSERT_FAILS(lct_augmenter_add_hflip(img, 0.5), LCT_ESTATE, "32");
    ck_assert_int_eq(lct_augmenter_add_gain(sig, 1, -6, 6), LCT_OK);
    LCT_ASSERT_FAILS(lct_augmenter_add_window_crop(sig, 1), LCT_ESTATE, "first");

    /* presets */
    LCT_ASSERT_FAILS(lct_augmenter_preset(NULL, LCT_AUG_PRESET_INSTDISC), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_preset(img, 99), LCT_EINVAL, "preset is 99");
    LCT_ASSERT_FAILS(lct_augmenter_preset(img, LCT_AUG_PRESET_CPC), LCT_EINVAL, "signals");
    LCT_ASSERT_FAILS(lct_augmenter_preset(sig, LCT_AUG_PRESET_CMC), LCT_EINVAL, "images");
    ck_assert_int_eq(lct_augmenter_op_count(img), 32);
    ck_assert_int_eq(lct_augmenter_op_count(sig), 1);
    ck_assert_int_eq(lct_augmenter_preset(img, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_op_count(img), 4);
    ck_assert_int_eq(lct_augmenter_preset(img, LCT_AUG_PRESET_INVASPREAD), LCT_OK);
    ck_assert_int_eq(lct_augmenter_op_count(img), 4);
    ck_assert_int_eq(lct_augmenter_preset(img, LCT_AUG_PRESET_CMC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_op_count(img), 2);
    ck_assert_int_eq(lct_augmenter_preset(sig, LCT_AUG_PRESET_CPC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_op_count(sig), 1);
    lct_augmenter_free(img);
    lct_augmenter_free(sig);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_apply_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 1, 4, 4, 0, 0);
    float x[2 * 16] = {0}, y[2 * 2 * 16];
    LCT_ASSERT_FAILS(lct_augmenter_apply(NULL, x, 2, 2, y), LCT_EINVAL, "'aug'");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, NULL, 2, 2, y), LCT_EINVAL, "'in'");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 2, 2, NULL), LCT_EINVAL, "'out'");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 0, 2, y), LCT_EINVAL, "batch is 0");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 2, 0, y), LCT_EINVAL, "n_views is 0");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, SIZE_MAX / 4, 2, y), LCT_ESHAPE, "overflows");
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 2, SIZE_MAX / 2, y), LCT_ESHAPE, "overflows");
    x[21] = NAN;
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 2, 2, y), LCT_ENUMERIC, "in[21] is nan");
    x[21] = -INFINITY;
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 2, 2, y), LCT_ENUMERIC, "in[21] is -inf");
    uint64_t c = 99;
    ck_assert_int_eq(lct_augmenter_get_counter(aug, &c), LCT_OK);
    ck_assert_uint_eq(c, 0); /* failed calls do not advance the counter */
    x[21] = 0.5f;
    ck_assert_int_eq(lct_augmenter_apply(aug, x, 2, 2, y), LCT_OK);
    ck_assert_int_eq(lct_augmenter_get_counter(aug, &c), LCT_OK);
    ck_assert_uint_eq(c, 1);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

/* ---- image transforms ----------------------------------------------------------- */

START_TEST(test_identity_and_conversion)
{
    lct_runtime *rt = lct_test_runtime(1, 3);
    const size_t C = 3, H = 7, W = 9, n = C * H * W, B = 3;
    lct_augmenter *af = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 7, 9, 0, 0);
    float *x = random_floats(B * n, 1, -0.2f, 1.2f); /* values outside [0,1] are clamped */
    float *y = out_buf(af, B, 2);
    ck_assert_int_eq(lct_augmenter_apply(af, x, B, 2, y), LCT_OK);
    for (size_t b = 0; b < B; b++)
        for (size_t v = 0; v < 2; v++)
            for (size_t i = 0; i < n; i++) {
                double e = fmin(1.0, fmax(0.0, x[b * n + i]));
                ck_assert_float_eq(y[(b * 2 + v) * n + i], (float)e);
            }
    lct_augmenter *au = make_aug(rt, LCT_AUG_IMAGE_U8, 3, 7, 9, 0, 0);
    uint8_t *xb = random_bytes(B * n, 2);
    ck_assert_int_eq(lct_augmenter_apply(au, xb, B, 1, y), LCT_OK);
    for (size_t i = 0; i < B * n; i++) ck_assert_double_eq_tol(y[i], xb[i] / 255.0, 1e-7);
    /* hflip and grayscale with p = 0 never apply */
    ck_assert_int_eq(lct_augmenter_add_hflip(au, 0.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_grayscale(au, 0.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(au, xb, B, 1, y), LCT_OK);
    for (size_t i = 0; i < B * n; i++) ck_assert_double_eq_tol(y[i], xb[i] / 255.0, 1e-7);
    free(x);
    free(xb);
    free(y);
    lct_augmenter_free(af);
    lct_augmenter_free(au);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_resize_matches_reference)
{
    lct_runtime *rt = lct_test_runtime(1, 3);
    const size_t C = 3, H = 20, W = 30, B = 2;
    const size_t sizes[3][2] = {{13, 17}, {41, 55}, {20, 7}}; /* down, up, mixed */
    uint8_t *xb = random_bytes(B * C * H * W, 5);
    double *plane = malloc(H * W * sizeof *plane);
    for (int s = 0; s < 3; s++) {
        size_t OH = sizes[s][0], OW = sizes[s][1];
        lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_U8, 3, 20, 30, (unsigned)OH, (unsigned)OW);
        float *y = out_buf(aug, B, 1);
        ck_assert_int_eq(lct_augmenter_apply(aug, xb, B, 1, y), LCT_OK);
        double worst = 0;
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++) {
                for (size_t i = 0; i < H * W; i++) plane[i] = xb[(b * C + c) * H * W + i] / 255.0;
                for (size_t yy = 0; yy < OH; yy++)
                    for (size_t xx = 0; xx < OW; xx++) {
                        double e = ref_bilinear(plane, W, 0, 0, H, W, OH, OW, yy, xx);
                        double d = fabs(e - y[((b * C + c) * OH + yy) * OW + xx]);
                        if (d > worst) worst = d;
                    }
            }
        ck_assert_msg(worst < 2e-6, "resize to %zux%zu differs from the reference by %g", OH, OW, worst);
        free(y);
        lct_augmenter_free(aug);
    }
    free(plane);
    free(xb);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_crop_area_within_scale_range)
{
    /* Pixels encode their coordinates (channel 0: x/(W-1), channel 1: y/(H-1)); a crop downscaled
     * to OWxOH samples x = left + (j + 0.5) w/OW - 0.5, so its extent gives back w, h and left, top. */
    lct_runtime *rt = lct_test_runtime(2, 11);
    const size_t H = 96, W = 128, OH = 24, OW = 24, B = 150, V = 2;
    const double smin = 0.2, smax = 1.0, rmin = 3.0 / 4.0, rmax = 4.0 / 3.0;
    float *x = malloc(3 * H * W * sizeof *x);
    for (size_t yy = 0; yy < H; yy++)
        for (size_t xx = 0; xx < W; xx++) {
            x[yy * W + xx] = (float)((double)xx / (W - 1));
            x[H * W + yy * W + xx] = (float)((double)yy / (H - 1));
            x[2 * H * W + yy * W + xx] = 0.5f;
        }
    float *xs = malloc(B * 3 * H * W * sizeof *xs);
    for (size_t b = 0; b < B; b++) memcpy(xs + b * 3 * H * W, x, 3 * H * W * sizeof *x);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, (unsigned)H, (unsigned)W, (unsigned)OH, (unsigned)OW);
    ck_assert_int_eq(lct_augmenter_add_random_resized_crop(aug, 1.0, smin, smax, rmin, rmax), LCT_OK);
    float *y = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, xs, B, V, y), LCT_OK);
    double amin = 2, amax = 0;
    const size_t n = OH * OW;
    for (size_t k = 0; k < B * V; k++) {
        const float *o = y + k * 3 * n;
        double x0 = o[0] * (double)(W - 1), x1 = o[OW - 1] * (double)(W - 1);
        double y0 = o[n] * (double)(H - 1), y1 = o[n + (OH - 1) * OW] * (double)(H - 1);
        double w = (x1 - x0) * OW / (OW - 1), h = (y1 - y0) * OH / (OH - 1);
        ck_assert_msg(fabs(w - nearbyint(w)) < 2e-3 && fabs(h - nearbyint(h)) < 2e-3, "view %zu: w %g h %g", k, w, h);
        w = nearbyint(w);
        h = nearbyint(h);
        double left = x0 - (0.5 * w / OW - 0.5), top = y0 - (0.5 * h / OH - 0.5);
        ck_assert_msg(fabs(left - nearbyint(left)) < 2e-3 && fabs(top - nearbyint(top)) < 2e-3, "view %zu", k);
        ck_assert(nearbyint(left) >= 0 && nearbyint(left) + w <= W);
        ck_assert(nearbyint(top) >= 0 && nearbyint(top) + h <= H);
        /* w and h are sqrt(area * ratio) and sqrt(area / ratio) rounded to integers */
        ck_assert_msg((w + 0.5) * (h + 0.5) >= smin * H * W && (w - 0.5) * (h - 0.5) <= smax * H * W,
                      "view %zu: crop %gx%g outside the scale range", k, w, h);
        ck_assert_msg((w + 0.5) / (h - 0.5) >= rmin && (w - 0.5) / (h + 0.5) <= rmax, "view %zu: ratio %g", k, w / h);
        double a = w * h / (double)(H * W);
        if (a < amin) amin = a;
        if (a > amax) amax = a;
        /* the third channel stays constant */
        for (size_t i = 0; i < n; i++) ck_assert_float_eq_tol(o[2 * n + i], 0.5f, 1e-6f);
    }
    ck_assert_msg(amin < 0.3 && amax > 0.85, "crop areas do not span the range: %g..%g", amin, amax);
    free(x);
    free(xs);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_flip)
{
    lct_runtime *rt = lct_test_runtime(1, 4);
    const size_t C = 3, H = 5, W = 8, n = C * H * W, B = 4;
    float *x = random_floats(B * n, 3, 0, 1);
    float *y = malloc(B * n * sizeof *y);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 5, 8, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_hflip(aug, 1.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    for (size_t b = 0; b < B; b++)
        for (size_t row = 0; row < C * H; row++)
            for (size_t j = 0; j < W; j++)
                ck_assert_float_eq(y[b * n + row * W + j], x[b * n + row * W + (W - 1 - j)]);
    ck_assert_int_eq(lct_augmenter_add_hflip(aug, 1.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    ck_assert_int_eq(memcmp(x, y, B * n * sizeof *x), 0);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_grayscale_weights)
{
    lct_runtime *rt = lct_test_runtime(1, 4);
    const size_t n = 6 * 6, B = 3;
    float *x = random_floats(B * 3 * n, 4, 0, 1);
    float *y = malloc(B * 3 * n * sizeof *y);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 6, 6, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_grayscale(aug, 1.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < n; i++) {
            const float *p = x + b * 3 * n;
            double l = 0.299 * p[i] + 0.587 * p[n + i] + 0.114 * p[2 * n + i];
            for (size_t c = 0; c < 3; c++) ck_assert_double_eq_tol(y[b * 3 * n + c * n + i], l, 1e-6);
        }
    /* one channel: a no-op */
    lct_augmenter *g1 = make_aug(rt, LCT_AUG_IMAGE_F32, 1, 6, 6, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_grayscale(g1, 1.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(g1, x, B, 1, y), LCT_OK);
    ck_assert_int_eq(memcmp(x, y, B * n * sizeof *x), 0);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_augmenter_free(g1);
    lct_runtime_free(rt);
}
END_TEST

/* Run a 3-channel float image batch through one colour jitter and return the output. */
static float *jitter_run(lct_runtime *rt, const float *x, size_t B, size_t V, double b, double c, double s,
                         double h)
{
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 8, 8, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_color_jitter(aug, 1.0, b, c, s, h), LCT_OK);
    float *y = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    lct_augmenter_free(aug);
    return y;
}

START_TEST(test_color_jitter)
{
    lct_runtime *rt = lct_test_runtime(1, 5);
    const size_t n = 64, B = 6, V = 4;
    float *x = random_floats(B * 3 * n, 6, 0.4f, 0.6f); /* mid-range: no clamping for factors in [0.6, 1.4] */

    /* all zero: identity */
    float *y = jitter_run(rt, x, B, 1, 0, 0, 0, 0);
    ck_assert_int_eq(memcmp(x, y, B * 3 * n * sizeof *x), 0);
    free(y);

    /* brightness: y = f x with one f per view in [0.6, 1.4] */
    y = jitter_run(rt, x, B, V, 0.4, 0, 0, 0);
    double fmin_ = 9, fmax_ = 0;
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * 3 * n, *yi = y + k * 3 * n;
        double f = (double)yi[0] / xi[0];
        ck_assert(f >= 0.6 - 1e-6 && f <= 1.4 + 1e-6);
        for (size_t i = 0; i < 3 * n; i++) ck_assert_double_eq_tol(yi[i], f * xi[i], 2e-6);
        fmin_ = fmin(fmin_, f);
        fmax_ = fmax(fmax_, f);
    }
    ck_assert(fmax_ - fmin_ > 0.2);
    free(y);

    /* contrast: y = f x + (1 - f) mean(gray(x)) */
    y = jitter_run(rt, x, B, V, 0, 0.4, 0, 0);
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * 3 * n, *yi = y + k * 3 * n;
        double m = 0;
        for (size_t i = 0; i < n; i++) m += 0.299 * xi[i] + 0.587 * xi[n + i] + 0.114 * xi[2 * n + i];
        m /= n;
        double f = ((double)yi[0] - yi[1]) / ((double)xi[0] - xi[1]);
        ck_assert(f >= 0.6 - 1e-4 && f <= 1.4 + 1e-4);
        for (size_t i = 0; i < 3 * n; i++) ck_assert_double_eq_tol(yi[i], f * xi[i] + (1 - f) * m, 1e-5);
    }
    free(y);

    /* saturation: y = f x + (1 - f) gray(x) per pixel, so gray(y) = gray(x) */
    y = jitter_run(rt, x, B, V, 0, 0, 0.4, 0);
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * 3 * n, *yi = y + k * 3 * n;
        double g0 = 0.299 * xi[0] + 0.587 * xi[n] + 0.114 * xi[2 * n];
        double f = ((double)yi[0] - g0) / ((double)xi[0] - g0);
        for (size_t i = 0; i < n; i++) {
            double g = 0.299 * xi[i] + 0.587 * xi[n + i] + 0.114 * xi[2 * n + i];
            for (size_t c = 0; c < 3; c++) ck_assert_double_eq_tol(yi[c * n + i], f * xi[c * n + i] + (1 - f) * g, 1e-4);
        }
    }
    free(y);

    /* hue: value (max) and min of every pixel are kept, the colours move */
    y = jitter_run(rt, x, B, V, 0, 0, 0, 0.4);
    double moved = 0;
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * 3 * n, *yi = y + k * 3 * n;
        for (size_t i = 0; i < n; i++) {
            double mx = fmax(xi[i], fmax(xi[n + i], xi[2 * n + i])), mn = fmin(xi[i], fmin(xi[n + i], xi[2 * n + i]));
            double my = fmax(yi[i], fmax(yi[n + i], yi[2 * n + i])), ny = fmin(yi[i], fmin(yi[n + i], yi[2 * n + i]));
            ck_assert_double_eq_tol(my, mx, 1e-5);
            ck_assert_double_eq_tol(ny, mn, 1e-5);
            moved += fabs((double)yi[i] - xi[i]);
        }
    }
    ck_assert(moved > 1.0);
    free(y);

    /* a full jitter with a hue shift of exactly 0 in a 1-channel image: saturation and hue are no-ops */
    lct_augmenter *g1 = make_aug(rt, LCT_AUG_IMAGE_F32, 1, 8, 8, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_color_jitter(g1, 1.0, 0, 0, 0.4, 0.4), LCT_OK);
    y = out_buf(g1, B, 1);
    ck_assert_int_eq(lct_augmenter_apply(g1, x, B, 1, y), LCT_OK);
    ck_assert_int_eq(memcmp(x, y, B * n * sizeof *x), 0);
    free(y);
    lct_augmenter_free(g1);
    free(x);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_hue_reference)
{
    /* Full-range colours against an HSV round trip written here in double. */
    lct_runtime *rt = lct_test_runtime(1, 8);
    const size_t n = 64, B = 16;
    const double hmax = 0.2;
    double widest = 0;
    float *x = random_floats(B * 3 * n, 7, 0, 1);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 8, 8, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_color_jitter(aug, 1.0, 0, 0, 0, hmax), LCT_OK);
    float *y = out_buf(aug, B, 1);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    for (size_t b = 0; b < B; b++) {
        const float *xi = x + b * 3 * n, *yi = y + b * 3 * n;
        /* recover the shift from pixel 0, then check every pixel */
        double shift = NAN;
        for (size_t i = 0; i < n; i++) {
            double rgb[3] = {xi[i], xi[n + i], xi[2 * n + i]}, out[3] = {yi[i], yi[n + i], yi[2 * n + i]};
            double hsv[2][3];
            for (int t = 0; t < 2; t++) {
                const double *p = t ? out : rgb;
                double mx = fmax(p[0], fmax(p[1], p[2])), mn = fmin(p[0], fmin(p[1], p[2])), d = mx - mn, h;
                if (d == 0) h = 0;
                else if (mx == p[0]) h = fmod((p[1] - p[2]) / d + 6.0, 6.0);
                else if (mx == p[1]) h = (p[2] - p[0]) / d + 2.0;
                else h = (p[0] - p[1]) / d + 4.0;
                hsv[t][0] = h / 6.0;
                hsv[t][1] = mx > 0 ? d / mx : 0;
                hsv[t][2] = mx;
            }
            double dh = hsv[1][0] - hsv[0][0];
            dh -= floor(dh + 0.5); /* into [-0.5, 0.5) */
            if (isnan(shift)) shift = dh;
            double e = dh - shift;
            e -= floor(e + 0.5);
            ck_assert_msg(fabs(e) < 1e-4, "pixel %zu: hue moved by %g, pixel 0 by %g", i, dh, shift);
            ck_assert_double_eq_tol(hsv[1][1], hsv[0][1], 1e-4);
            ck_assert_double_eq_tol(hsv[1][2], hsv[0][2], 1e-6);
        }
        ck_assert_msg(fabs(shift) <= hmax + 1e-4, "hue shift %g beyond %g", shift, hmax);
        widest = fmax(widest, fabs(shift));
    }
    ck_assert(widest > 0.6 * hmax);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_blur_matches_reference)
{
    lct_runtime *rt = lct_test_runtime(1, 9);
    const size_t C = 3, H = 9, W = 13, n = C * H * W, B = 2;
    const double sigma = 1.3;
    float *x = random_floats(B * n, 9, 0, 1);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 3, 9, 13, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_gaussian_blur(aug, 1.0, sigma, sigma), LCT_OK);
    float *y = out_buf(aug, B, 1);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    int rad = (int)ceil(3 * sigma);
    double k[64], sum = 0;
    for (int i = -rad; i <= rad; i++) sum += k[i + rad] = exp(-0.5 * (i / sigma) * (i / sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= sum;
#define REFL(i, len) ((i) < 0 ? -(i) : ((i) >= (int)(len) ? 2 * ((int)(len) - 1) - (i) : (i)))
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            for (int yy = 0; yy < (int)H; yy++)
                for (int xx = 0; xx < (int)W; xx++) {
                    double acc = 0;
                    for (int dy = -rad; dy <= rad; dy++)
                        for (int dx = -rad; dx <= rad; dx++)
                            acc += k[dy + rad] * k[dx + rad] *
                                   x[b * n + c * H * W + (size_t)REFL(yy + dy, H) * W + (size_t)REFL(xx + dx, W)];
                    ck_assert_double_eq_tol(y[b * n + c * H * W + (size_t)yy * W + (size_t)xx], acc, 1e-5);
                }
#undef REFL
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_output_ranges_and_normalize)
{
    lct_runtime *rt = lct_test_runtime(2, 10);
    const size_t B = 20, V = 2;
    uint8_t *x = random_bytes(B * 3 * 40 * 36, 10);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_U8, 3, 40, 36, 32, 32);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_gaussian_blur(aug, 0.5, 0.1, 2.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_gaussian_noise(aug, 0.5, 0.3), LCT_OK);
    size_t oc;
    lct_augmenter_sizes(aug, NULL, &oc);
    ck_assert_uint_eq(oc, 3 * 32 * 32);
    float *y = out_buf(aug, B, V), *z = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    size_t zeros = 0, ones = 0;
    for (size_t i = 0; i < B * V * oc; i++) {
        ck_assert_msg(y[i] >= 0.0f && y[i] <= 1.0f, "y[%zu] = %g", i, (double)y[i]);
        zeros += y[i] == 0.0f;
        ones += y[i] == 1.0f;
    }
    ck_assert(zeros > 0 && ones > 0); /* noise of 0.3 reaches both ends */
    /* the same draws with a normalisation at the end: (y - m) / s */
    const float m[3] = {0.4914f, 0.4822f, 0.4465f}, s[3] = {0.2023f, 0.1994f, 0.2010f};
    ck_assert_int_eq(lct_augmenter_add_normalize(aug, m, s, 3), LCT_OK);
    ck_assert_int_eq(lct_augmenter_set_counter(aug, 0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, z), LCT_OK);
    for (size_t k = 0; k < B * V; k++)
        for (size_t c = 0; c < 3; c++)
            for (size_t i = 0; i < 1024; i++) {
                size_t j = k * oc + c * 1024 + i;
                ck_assert_double_eq_tol(z[j], (y[j] - (double)m[c]) / s[c], 1e-5);
            }
    free(x);
    free(y);
    free(z);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_gaussian_noise_statistics)
{
    lct_runtime *rt = lct_test_runtime(1, 12);
    const size_t n = 64 * 64;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 0.5f;
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_F32, 1, 64, 64, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_gaussian_noise(aug, 1.0, 0.05), LCT_OK);
    float *y = out_buf(aug, 1, 1);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, 1, 1, y), LCT_OK);
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += y[i];
    m /= n;
    for (size_t i = 0; i < n; i++) v += (y[i] - m) * (y[i] - m);
    v /= n - 1;
    /* standard errors: mean 0.05/64, std about 0.05/sqrt(2*4096) */
    ck_assert_msg(fabs(m - 0.5) < 4 * 0.05 / 64, "mean %g", m);
    ck_assert_msg(fabs(sqrt(v) - 0.05) < 4 * 0.05 / sqrt(2.0 * n), "std %g", sqrt(v));
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------ */

static float *preset_run(uint64_t seed, unsigned threads, size_t B, size_t V, const uint8_t *x, uint64_t counter)
{
    lct_runtime *rt = lct_test_runtime(threads, seed);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_U8, 3, 32, 32, 28, 28);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_gaussian_blur(aug, 0.5, 0.1, 1.5), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_gaussian_noise(aug, 0.5, 0.05), LCT_OK);
    ck_assert_int_eq(lct_augmenter_set_counter(aug, counter), LCT_OK);
    float *y = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
    return y;
}

START_TEST(test_determinism_seed_threads_counter)
{
    const size_t B = 37, V = 3, oc = 3 * 28 * 28, bytes = B * V * oc * sizeof(float);
    uint8_t *x = random_bytes(B * 3 * 32 * 32, 13);
    float *a = preset_run(7, 1, B, V, x, 0);
    float *b = preset_run(7, 2, B, V, x, 0);
    float *c = preset_run(7, 1, B, V, x, 0);
    float *d = preset_run(8, 1, B, V, x, 0);
    float *e = preset_run(7, 2, B, V, x, 1);
    ck_assert_int_eq(memcmp(a, b, bytes), 0); /* 1 and 2 threads */
    ck_assert_int_eq(memcmp(a, c, bytes), 0); /* same seed */
    ck_assert_int_ne(memcmp(a, d, bytes), 0); /* another seed */
    ck_assert_int_ne(memcmp(a, e, bytes), 0); /* another call */
    /* the views of one sample differ from each other */
    for (size_t bb = 0; bb < B; bb++) ck_assert_int_ne(memcmp(a + (bb * V) * oc, a + (bb * V + 1) * oc, oc * sizeof(float)), 0);
    /* view v does not depend on how many views are asked for */
    float *one = preset_run(7, 2, B, 1, x, 0);
    for (size_t bb = 0; bb < B; bb++) ck_assert_int_eq(memcmp(one + bb * oc, a + bb * V * oc, oc * sizeof(float)), 0);

    /* the counter advances per call, and setting it back repeats a call */
    lct_runtime *rt = lct_test_runtime(2, 7);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_IMAGE_U8, 3, 32, 32, 28, 28);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    float *p = out_buf(aug, B, V), *q = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, p), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, q), LCT_OK);
    ck_assert_int_ne(memcmp(p, q, bytes), 0);
    uint64_t ctr;
    ck_assert_int_eq(lct_augmenter_get_counter(aug, &ctr), LCT_OK);
    ck_assert_uint_eq(ctr, 2);
    ck_assert_int_eq(lct_augmenter_set_counter(aug, 1), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, p), LCT_OK);
    ck_assert_int_eq(memcmp(p, q, bytes), 0);
    /* no allocation after the first call */
    size_t cur0, peak0, cur1, peak1;
    lct_runtime_memory(rt, &cur0, &peak0);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, p), LCT_OK);
    ck_assert_int_eq(lct_runtime_set_threads(rt, 1), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, p), LCT_OK);
    lct_runtime_memory(rt, &cur1, &peak1);
    ck_assert_uint_eq(cur0, cur1);
    ck_assert_uint_eq(peak0, peak1);
    lct_augmenter_free(aug);
    lct_runtime_memory(rt, &cur1, NULL);
    ck_assert_uint_eq(cur1, 0);
    lct_runtime_free(rt);
    free(p);
    free(q);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(one);
    free(x);
}
END_TEST

/* ---- signals ----------------------------------------------------------------------- */

/* Signal C x T whose value encodes (channel, time) and is never 0: 1000 c + t + 1. */
static float *ramp_signal(size_t B, size_t C, size_t T)
{
    float *x = malloc(B * C * T * sizeof *x);
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            for (size_t t = 0; t < T; t++) x[(b * C + c) * T + t] = (float)(100000 * b + 1000 * c + t + 1);
    return x;
}

START_TEST(test_signal_window_crop)
{
    lct_runtime *rt = lct_test_runtime(2, 14);
    const size_t B = 50, V = 4, C = 2, T = 300, OT = 100;
    float *x = ramp_signal(B, C, T);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_SIGNAL_F32, 2, 1, 300, 0, 100);
    float *y = out_buf(aug, B, V);
    /* without a window crop: the centre window */
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    for (size_t k = 0; k < B * V; k++)
        for (size_t c = 0; c < C; c++)
            for (size_t t = 0; t < OT; t++) ck_assert_float_eq(y[(k * C + c) * OT + t], x[((k / V) * C + c) * T + 100 + t]);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_CPC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    size_t smin = T, smax = 0;
    for (size_t k = 0; k < B * V; k++) {
        size_t b = k / V;
        size_t start = (size_t)(y[k * C * OT] - 100000.0f * b - 1);
        ck_assert(start <= T - OT);
        for (size_t c = 0; c < C; c++)
            for (size_t t = 0; t < OT; t++) ck_assert_float_eq(y[(k * C + c) * OT + t], x[(b * C + c) * T + start + t]);
        if (start < smin) smin = start;
        if (start > smax) smax = start;
    }
    ck_assert_msg(smin < 20 && smax > 180, "window starts span only %zu..%zu", smin, smax);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_signal_gain_noise)
{
    lct_runtime *rt = lct_test_runtime(1, 15);
    const size_t B = 10, V = 3, C = 3, T = 200, n = C * T;
    float *x = random_floats(B * n, 15, -1, 1);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_SIGNAL_F32, 3, 1, 200, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_gain(aug, 1.0, -6.0, 3.0), LCT_OK);
    float *y = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    double gmin = 99, gmax = -99;
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * n, *yi = y + k * n;
        double f = (double)yi[0] / xi[0], db = 20 * log10(f);
        ck_assert_msg(db >= -6.0 - 1e-4 && db <= 3.0 + 1e-4, "gain %g dB", db);
        for (size_t i = 0; i < n; i++) ck_assert_double_eq_tol(yi[i], f * xi[i], 1e-5);
        gmin = fmin(gmin, db);
        gmax = fmax(gmax, db);
    }
    ck_assert(gmin < -3 && gmax > 0);
    /* noise: the difference has mean 0 and the requested std; no clamping for signals */
    ck_assert_int_eq(lct_augmenter_clear(aug), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_gaussian_noise(aug, 1.0, 2.0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    double m = 0, v = 0, big = 0;
    const size_t N = B * V * n;
    for (size_t k = 0; k < B * V; k++)
        for (size_t i = 0; i < n; i++) {
            double d = (double)y[k * n + i] - x[(k / V) * n + i];
            m += d;
            v += d * d;
            big = fmax(big, fabs(y[k * n + i]));
        }
    m /= N;
    v = v / N - m * m;
    ck_assert_msg(fabs(m) < 4 * 2.0 / sqrt((double)N), "noise mean %g", m);
    ck_assert_msg(fabs(sqrt(v) - 2.0) < 4 * 2.0 / sqrt(2.0 * N), "noise std %g", sqrt(v));
    ck_assert(big > 4.0);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_signal_time_mask_and_shift)
{
    lct_runtime *rt = lct_test_runtime(2, 16);
    const size_t B = 30, V = 3, C = 2, T = 80, n = C * T, maxw = 25, maxs = 30;
    float *x = ramp_signal(B, C, T);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_SIGNAL_F32, 2, 1, 80, 0, 0);
    ck_assert_int_eq(lct_augmenter_add_time_mask(aug, 1.0, (uint32_t)maxw), LCT_OK);
    float *y = out_buf(aug, B, V);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    size_t wmax = 0, wmin = T;
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * n, *yi = y + k * n;
        size_t first = T, last = 0, zeros = 0;
        for (size_t t = 0; t < T; t++)
            if (yi[t] == 0.0f) {
                if (first == T) first = t;
                last = t;
                zeros++;
            }
        size_t w = zeros ? last - first + 1 : 0;
        ck_assert_uint_eq(w, zeros); /* one contiguous span */
        ck_assert(w <= maxw);
        for (size_t c = 0; c < C; c++)
            for (size_t t = 0; t < T; t++) {
                int masked = zeros && t >= first && t <= last;
                ck_assert_float_eq(yi[c * T + t], masked ? 0.0f : xi[c * T + t]);
            }
        wmax = w > wmax ? w : wmax;
        wmin = w < wmin ? w : wmin;
    }
    ck_assert(wmin < 5 && wmax > 18);

    ck_assert_int_eq(lct_augmenter_clear(aug), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_time_shift(aug, 1.0, (uint32_t)maxs), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
    int smin = 99, smax = -99;
    for (size_t k = 0; k < B * V; k++) {
        const float *xi = x + (k / V) * n, *yi = y + k * n;
        /* find s from the first non-zero sample: y[t] = x[t - s] */
        int s;
        if (yi[0] == 0.0f) {
            size_t t = 0;
            while (yi[t] == 0.0f) t++;
            s = (int)t;
        } else {
            s = -(int)(yi[0] - xi[0]);
        }
        ck_assert(abs(s) <= (int)maxs);
        for (size_t c = 0; c < C; c++)
            for (int t = 0; t < (int)T; t++) {
                int src = t - s;
                float e = (src >= 0 && src < (int)T) ? xi[c * T + (size_t)src] : 0.0f;
                ck_assert_float_eq(yi[c * T + (size_t)t], e);
            }
        smin = s < smin ? s : smin;
        smax = s > smax ? s : smax;
    }
    ck_assert(smin < -15 && smax > 15);

    /* normalisation of signals, per channel */
    ck_assert_int_eq(lct_augmenter_clear(aug), LCT_OK);
    const float m[2] = {10.0f, -3.0f}, sd[2] = {4.0f, 0.5f};
    ck_assert_int_eq(lct_augmenter_add_normalize(aug, m, sd, 2), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 1, y), LCT_OK);
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            for (size_t t = 0; t < T; t++)
                ck_assert_double_eq_tol(y[b * n + c * T + t], (x[b * n + c * T + t] - m[c]) / sd[c],
                                        1e-6 * fabs(x[b * n + c * T + t]) / sd[c] + 1e-6);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_signal_scratch_is_small)
{
    /* Long signals: the augmenter keeps no per-thread copy of them (signal transforms work in place). */
    lct_runtime *rt = lct_test_runtime(2, 17);
    const size_t T = 1000000, OT = 20480, B = 2;
    float *x = random_floats(B * T, 17, -1, 1);
    lct_augmenter *aug = make_aug(rt, LCT_AUG_SIGNAL_F32, 1, 1, (unsigned)T, 0, (unsigned)OT);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_CPC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_time_shift(aug, 0.5, 100), LCT_OK);
    ck_assert_int_eq(lct_augmenter_add_time_mask(aug, 0.5, 1000), LCT_OK);
    float *y = out_buf(aug, B, 2);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, B, 2, y), LCT_OK);
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_msg(cur < 8192, "augmenter holds %zu bytes", cur);
    free(x);
    free(y);
    lct_augmenter_free(aug);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_u8_and_float_inputs_agree)
{
    /* The same images as bytes and as floats in [0,1] give the same views for the same seed. */
    const size_t B = 9, V = 2, n = 3 * 30 * 26;
    uint8_t *xb = random_bytes(B * n, 19);
    float *xf = malloc(B * n * sizeof *xf);
    for (size_t i = 0; i < B * n; i++) xf[i] = xb[i] / 255.0f;
    float *y[2];
    for (int kind = 0; kind < 2; kind++) {
        lct_runtime *rt = lct_test_runtime(2, 21);
        lct_augmenter *aug = make_aug(rt, kind ? LCT_AUG_IMAGE_F32 : LCT_AUG_IMAGE_U8, 3, 30, 26, 24, 24);
        ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INVASPREAD), LCT_OK);
        y[kind] = out_buf(aug, B, V);
        ck_assert_int_eq(lct_augmenter_apply(aug, kind ? (const void *)xf : (const void *)xb, B, V, y[kind]), LCT_OK);
        lct_augmenter_free(aug);
        lct_runtime_free(rt);
    }
    double worst = 0;
    /* A plain comparison, not fmax: GCC 12 for aarch64 fails (ICE) to vectorise that fmax reduction. */
    for (size_t i = 0; i < B * V * 3 * 24 * 24; i++) {
        double d = fabs((double)y[0][i] - y[1][i]);
        if (d > worst) worst = d;
    }
    ck_assert_msg(worst < 1e-5, "u8 and float inputs differ by %g", worst);
    free(xb);
    free(xf);
    free(y[0]);
    free(y[1]);
}
END_TEST

START_TEST(test_random_pipelines)
{
    /* Random shapes (down to 1x1) and random valid pipelines: outputs stay finite and in range. */
    lct_runtime *rt = lct_test_runtime(1, 20);
    lct__rng g;
    lct__rng_seed(&g, 20, 1);
    for (int iter = 0; iter < 300; iter++) {
        int signal = iter % 3 == 2;
        unsigned c = signal ? 1 + (unsigned)lct__rng_below(&g, 3) : (lct__rng_below(&g, 2) ? 3 : 1);
        unsigned h = signal ? 1 : 1 + (unsigned)lct__rng_below(&g, 40), w = 1 + (unsigned)lct__rng_below(&g, 40);
        unsigned oh = signal ? 0 : 1 + (unsigned)lct__rng_below(&g, 40);
        unsigned ow = signal ? 1 + (unsigned)lct__rng_below(&g, w) : 1 + (unsigned)lct__rng_below(&g, 40);
        int u8 = !signal && lct__rng_below(&g, 2);
        lct_augmenter *aug = make_aug(rt, signal ? LCT_AUG_SIGNAL_F32 : (u8 ? LCT_AUG_IMAGE_U8 : LCT_AUG_IMAGE_F32), c, h,
                                      w, oh, ow);
        double p = lct__rng_uniform_d(&g);
        if (lct__rng_below(&g, 2)) {
            if (signal) ck_assert_int_eq(lct_augmenter_add_window_crop(aug, p), LCT_OK);
            else {
                double s0 = 0.01 + 0.99 * lct__rng_uniform_d(&g), r0 = 0.2 + 2 * lct__rng_uniform_d(&g);
                ck_assert_int_eq(lct_augmenter_add_random_resized_crop(aug, p, s0, s0 + (1 - s0) * lct__rng_uniform_d(&g),
                                                                       r0, r0 * (1 + 3 * lct__rng_uniform_d(&g))), LCT_OK);
            }
        }
        int n_ops = (int)lct__rng_below(&g, 8);
        for (int k = 0; k < n_ops; k++) {
            p = lct__rng_uniform_d(&g);
            double a = lct__rng_uniform_d(&g), b = lct__rng_uniform_d(&g);
            switch (signal ? 4 + lct__rng_below(&g, 4) : lct__rng_below(&g, 5)) {
            case 0: ck_assert_int_eq(lct_augmenter_add_hflip(aug, p), LCT_OK); break;
            case 1: ck_assert_int_eq(lct_augmenter_add_color_jitter(aug, p, 2 * a, 2 * b, a, 0.5 * b), LCT_OK); break;
            case 2: ck_assert_int_eq(lct_augmenter_add_grayscale(aug, p), LCT_OK); break;
            case 3: ck_assert_int_eq(lct_augmenter_add_gaussian_blur(aug, p, 0.05 + a, 0.05 + a + 5 * b), LCT_OK); break;
            case 4: ck_assert_int_eq(lct_augmenter_add_gaussian_noise(aug, p, a), LCT_OK); break;
            case 5: ck_assert_int_eq(lct_augmenter_add_gain(aug, p, -20 * a, 20 * b), LCT_OK); break;
            case 6: ck_assert_int_eq(lct_augmenter_add_time_mask(aug, p, (uint32_t)lct__rng_below(&g, ow + 1)), LCT_OK); break;
            default: ck_assert_int_eq(lct_augmenter_add_time_shift(aug, p, (uint32_t)lct__rng_below(&g, ow)), LCT_OK); break;
            }
        }
        size_t ic, oc;
        lct_augmenter_sizes(aug, &ic, &oc);
        const size_t B = 3, V = 2;
        void *x = u8 ? (void *)random_bytes(B * ic, (unsigned)iter) : (void *)random_floats(B * ic, (unsigned)iter, -0.1f, 1.1f);
        float *y = out_buf(aug, B, V);
        ck_assert_int_eq(lct_augmenter_apply(aug, x, B, V, y), LCT_OK);
        for (size_t i = 0; i < B * V * oc; i++) {
            ck_assert_msg(isfinite(y[i]), "iteration %d: y[%zu] = %g", iter, i, (double)y[i]);
            if (!signal) ck_assert_msg(y[i] >= 0.0f && y[i] <= 1.0f, "iteration %d: y[%zu] = %g", iter, i, (double)y[i]);
        }
        free(x);
        free(y);
        lct_augmenter_free(aug);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_allocation_failures)
{
    lct_test_alloc a;
    lct_runtime *rt = lct_test_failing_runtime(&a, 2, 18);
    lct_augmenter_options o;
    lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);
    lct_augmenter *aug = NULL;
    for (long n = 1; n <= 2; n++) { /* the handle, then its normalisation arrays */
        lct_test_alloc_arm(&a, n);
        aug = (lct_augmenter *)&o;
        LCT_ASSERT_FAILS(lct_augmenter_new(&aug, rt, &o), LCT_ENOMEM, "cannot allocate");
        ck_assert_ptr_null(aug);
        ck_assert_int_eq(a.live, 1); /* only the runtime: nothing half-built left */
    }
    lct_test_alloc_arm(&a, 0);
    ck_assert_int_eq(lct_augmenter_new(&aug, rt, &o), LCT_OK);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    uint8_t *x = random_bytes(4 * 3 * 32 * 32, 18);
    float *y = out_buf(aug, 4, 2), *z = out_buf(aug, 4, 2);
    lct_test_alloc_arm(&a, 1); /* the scratch of the first call */
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 4, 2, y), LCT_ENOMEM, "cannot allocate");
    uint64_t c;
    ck_assert_int_eq(lct_augmenter_get_counter(aug, &c), LCT_OK);
    ck_assert_uint_eq(c, 0);
    lct_test_alloc_arm(&a, 0);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, 4, 2, y), LCT_OK);
    /* a wider blur needs more scratch: a failure keeps the old one usable */
    ck_assert_int_eq(lct_augmenter_add_gaussian_blur(aug, 1.0, 5.0, 10.0), LCT_OK);
    lct_test_alloc_arm(&a, 1);
    LCT_ASSERT_FAILS(lct_augmenter_apply(aug, x, 4, 2, z), LCT_ENOMEM, "cannot allocate");
    ck_assert_int_eq(lct_augmenter_clear(aug), LCT_OK);
    ck_assert_int_eq(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC), LCT_OK);
    ck_assert_int_eq(lct_augmenter_set_counter(aug, 0), LCT_OK);
    ck_assert_int_eq(lct_augmenter_apply(aug, x, 4, 2, z), LCT_OK); /* no allocation needed */
    ck_assert_int_eq(memcmp(y, z, 4 * 2 * 3 * 32 * 32 * sizeof(float)), 0);
    lct_test_alloc_arm(&a, 0);
    lct_augmenter_free(aug);
    ck_assert_int_eq(a.live, 1);
    lct_runtime_free(rt);
    free(x);
    free(y);
    free(z);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_new_bad_input);
    tcase_add_test(tc, test_builders_bad_input);
    tcase_add_test(tc, test_apply_bad_input);
    tcase_add_test(tc, test_identity_and_conversion);
    tcase_add_test(tc, test_resize_matches_reference);
    tcase_add_test(tc, test_crop_area_within_scale_range);
    tcase_add_test(tc, test_flip);
    tcase_add_test(tc, test_grayscale_weights);
    tcase_add_test(tc, test_color_jitter);
    tcase_add_test(tc, test_hue_reference);
    tcase_add_test(tc, test_blur_matches_reference);
    tcase_add_test(tc, test_output_ranges_and_normalize);
    tcase_add_test(tc, test_gaussian_noise_statistics);
    tcase_add_test(tc, test_determinism_seed_threads_counter);
    tcase_add_test(tc, test_signal_window_crop);
    tcase_add_test(tc, test_signal_gain_noise);
    tcase_add_test(tc, test_signal_time_mask_and_shift);
    tcase_add_test(tc, test_signal_scratch_is_small);
    tcase_add_test(tc, test_u8_and_float_inputs_agree);
    tcase_add_test(tc, test_random_pipelines);
    tcase_add_test(tc, test_allocation_failures);
}

int main(void)
{
    return lct_test_main("augment", "augment", 120, add_tests);
}
