/* The augmenter handle: options, lifecycle, pipeline builders, presets, counter. */
#include <math.h>

#include "augment_internal.h"

int lct_augmenter_options_init(lct_augmenter_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_augmenter_options, opts, version, LCT__OPT_AUGMENTER,
                          .input = LCT_AUG_IMAGE_U8, .channels = 3, .height = 32,
                          .width = 32);
}

static int is_image(const lct_augmenter *aug)
{
    return aug->input != LCT_AUG_SIGNAL_F32;
}

int lct_augmenter_new(lct_augmenter **out, lct_runtime *rt, const lct_augmenter_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_augmenter_options local;
    LCT__OPTIONS_COPY(LCT__OPT_AUGMENTER, lct_augmenter_options_init, local, opts);
    int input = opts->input;
    if (input != LCT_AUG_IMAGE_U8 && input != LCT_AUG_IMAGE_F32 && input != LCT_AUG_SIGNAL_F32)
        return LCT__FAIL(LCT_EINVAL, "opts->input is %d; it must be LCT_AUG_IMAGE_U8 (0), LCT_AUG_IMAGE_F32 (1) "
                                     "or LCT_AUG_SIGNAL_F32 (2)", input);
    size_t c = opts->channels, h = opts->height, w = opts->width;
    size_t oh = opts->out_height ? opts->out_height : h, ow = opts->out_width ? opts->out_width : w;
    if (input == LCT_AUG_SIGNAL_F32) {
        if (c == 0 || c > LCT__AUG_MAX_DIM)
            return LCT__FAIL(LCT_EINVAL, "opts->channels is %zu; signals have 1..%u channels", c, LCT__AUG_MAX_DIM);
        if (h > 1)
            return LCT__FAIL(LCT_EINVAL, "opts->height is %zu; signals are C x T and need height 1 (or 0)", h);
        if (opts->out_height > 1)
            return LCT__FAIL(LCT_EINVAL, "opts->out_height is %u; signals need out_height 1 (or 0)",
                             (unsigned)opts->out_height);
        if (w == 0 || w > INT32_MAX)
            return LCT__FAIL(LCT_EINVAL, "opts->width (signal length) is %zu; it must be 1..%d", w, INT32_MAX);
        if (ow > w)
            return LCT__FAIL(LCT_ESHAPE, "opts->out_width is %zu, longer than the signal length %zu", ow, w);
        h = oh = 1;
    } else {
        if (c != 1 && c != 3)
            return LCT__FAIL(LCT_EINVAL, "opts->channels is %zu; images have 1 or 3 channels", c);
        if (h == 0 || h > LCT__AUG_MAX_DIM)
            return LCT__FAIL(LCT_EINVAL, "opts->height is %zu; it must be 1..%u", h, LCT__AUG_MAX_DIM);
        if (w == 0 || w > LCT__AUG_MAX_DIM)
            return LCT__FAIL(LCT_EINVAL, "opts->width is %zu; it must be 1..%u", w, LCT__AUG_MAX_DIM);
        if (oh > LCT__AUG_MAX_DIM)
            return LCT__FAIL(LCT_EINVAL, "opts->out_height is %zu; it must be 0..%u", oh, LCT__AUG_MAX_DIM);
        if (ow > LCT__AUG_MAX_DIM)
            return LCT__FAIL(LCT_EINVAL, "opts->out_width is %zu; it must be 0..%u", ow, LCT__AUG_MAX_DIM);
    }
    size_t in_count, out_count, t;
    if (lct__mul_size(c, h, &t) || lct__mul_size(t, w, &in_count) || lct__mul_size(c, oh, &t) ||
        lct__mul_size(t, ow, &out_count) || out_count > SIZE_MAX / 8)
        return LCT__FAIL(LCT_ESHAPE, "sample sizes overflow (channels %zu, %zu x %zu -> %zu x %zu)", c, h, w, oh, ow);

    lct_augmenter *aug = lct__calloc(rt, 1, sizeof *aug);
    if (aug == NULL) return LCT_ENOMEM;
    aug->norm_mean = lct__calloc(rt, 2 * c, sizeof(float));
    if (aug->norm_mean == NULL) {
        lct__free(rt, aug);
        return LCT_ENOMEM;
    }
    aug->norm_std = aug->norm_mean + c;
    aug->rt = rt;
    aug->input = input;
    aug->c = c;
    aug->h = h;
    aug->w = w;
    aug->oh = oh;
    aug->ow = ow;
    aug->in_count = in_count;
    aug->out_count = out_count;
    aug->stream = lct__runtime_next_stream(rt);
    *out = aug;
    return LCT_OK;
}

void lct_augmenter_free(lct_augmenter *aug)
{
    if (aug == NULL) return;
    lct__free(aug->rt, aug->ws);
    lct__free(aug->rt, aug->norm_mean);
    lct__free(aug->rt, aug);
}

int lct_augmenter_sizes(const lct_augmenter *aug, size_t *in_count, size_t *out_count)
{
    LCT__REQUIRE(aug);
    if (in_count) *in_count = aug->in_count;
    if (out_count) *out_count = aug->out_count;
    return LCT_OK;
}

int lct_augmenter_op_count(const lct_augmenter *aug)
{
    LCT__REQUIRE(aug);
    return (int)aug->n_ops;
}

int lct_augmenter_clear(lct_augmenter *aug)
{
    LCT__REQUIRE(aug);
    aug->n_ops = 0;
    return LCT_OK;
}

int lct_augmenter_get_counter(const lct_augmenter *aug, uint64_t *counter)
{
    LCT__REQUIRE(aug);
    LCT__REQUIRE(counter);
    *counter = aug->counter;
    return LCT_OK;
}

int lct_augmenter_set_counter(lct_augmenter *aug, uint64_t counter)
{
    LCT__REQUIRE(aug);
    aug->counter = counter;
    return LCT_OK;
}

/* ---- builders ------------------------------------------------------------ */

static const char *kind_name(int kind)
{
    switch (kind) {
    case LCT__AUG_RRC: return "random resized crop";
    case LCT__AUG_HFLIP: return "horizontal flip";
    case LCT__AUG_JITTER: return "colour jitter";
    case LCT__AUG_GRAY: return "grayscale";
    case LCT__AUG_BLUR: return "Gaussian blur";
    case LCT__AUG_NOISE: return "Gaussian noise";
    case LCT__AUG_NORMALIZE: return "normalise";
    case LCT__AUG_WINDOW: return "window crop";
    case LCT__AUG_GAIN: return "gain";
    case LCT__AUG_MASK: return "time mask";
    case LCT__AUG_SHIFT: return "time shift";
    default: return "?";
    }
}

/* 1: images only, 2: signals only, 3: both. */
static int kind_domain(int kind)
{
    switch (kind) {
    case LCT__AUG_NOISE:
    case LCT__AUG_NORMALIZE: return 3;
    case LCT__AUG_WINDOW:
    case LCT__AUG_GAIN:
    case LCT__AUG_MASK:
    case LCT__AUG_SHIFT: return 2;
    default: return 1;
    }
}

/* Checks shared by every builder; `func` names the public call in messages. */
static int check_append(const lct_augmenter *aug, int kind, double p, const char *func)
{
    if (aug == NULL) return lct__fail(LCT_EINVAL, func, "argument 'aug' is NULL");
    int dom = kind_domain(kind);
    if (dom == 1 && !is_image(aug))
        return lct__fail(LCT_EINVAL, func, "%s applies to images; this augmenter takes signals", kind_name(kind));
    if (dom == 2 && is_image(aug))
        return lct__fail(LCT_EINVAL, func, "%s applies to signals; this augmenter takes images", kind_name(kind));
    if (!(p >= 0.0 && p <= 1.0)) return lct__fail(LCT_ERANGE, func, "p is %g; it must be in [0, 1]", p);
    if (aug->n_ops == LCT__AUG_MAX_OPS)
        return lct__fail(LCT_ESTATE, func, "the pipeline already holds %d transforms", LCT__AUG_MAX_OPS);
    if (aug->n_ops > 0 && aug->ops[aug->n_ops - 1].kind == LCT__AUG_NORMALIZE)
        return lct__fail(LCT_ESTATE, func, "no transform may follow the normalisation (it must be last)");
    if ((kind == LCT__AUG_RRC || kind == LCT__AUG_WINDOW) && aug->n_ops > 0)
        return lct__fail(LCT_ESTATE, func, "the %s must be the first transform (the pipeline holds %zu already)",
                         kind_name(kind), aug->n_ops);
    return LCT_OK;
}

/* Check of a builder's own parameters a[] (after check_append); records the error under func. */
typedef int (*param_check_fn)(const lct_augmenter *aug, int kind, const double *a, const char *func);

/* Every builder: the shared checks, the builder's check of its parameters (if any), then the op
 * (parameters a[0..4), NULL for none) goes to the end of the pipeline. */
static int add_op(lct_augmenter *aug, int kind, double p, const double *a, param_check_fn check, const char *func)
{
    int rc = check_append(aug, kind, p, func);
    if (rc == LCT_OK && check) rc = check(aug, kind, a, func);
    if (rc) return rc;
    lct__aug_op *op = &aug->ops[aug->n_ops++];
    op->kind = kind;
    op->p = p;
    for (int i = 0; i < 4; i++) op->a[i] = a ? a[i] : 0.0;
    op->a[4] = 0.0;
    return LCT_OK;
}

/* lo <= x <= hi, false for NaN. */
static int within(double x, double lo, double hi)
{
    return x >= lo && x <= hi;
}

/* lo < x <= hi, false for NaN. */
static int above_upto(double x, double lo, double hi)
{
    return x > lo && x <= hi;
}

static int range_fail(const char *func, const char *name, double value, const char *bounds)
{
    return lct__fail(LCT_ERANGE, func, "%s is %g; it must be %s", name, value, bounds);
}

static int check_crop(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    if (!above_upto(a[0], 0.0, 1.0)) return range_fail(func, "scale_min", a[0], "in (0, 1]");
    if (!within(a[1], a[0], 1.0)) return range_fail(func, "scale_max", a[1], "in [scale_min, 1]");
    if (!above_upto(a[2], 0.0, 100.0)) return range_fail(func, "ratio_min", a[2], "in (0, 100]");
    if (!within(a[3], a[2], 100.0)) return range_fail(func, "ratio_max", a[3], "in [ratio_min, 100]");
    return LCT_OK;
}

static int check_jitter(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    static const char *const names[3] = {"brightness", "contrast", "saturation"};
    for (int i = 0; i < 3; i++)
        if (!within(a[i], 0.0, 100.0)) return range_fail(func, names[i], a[i], "in [0, 100]");
    if (!within(a[3], 0.0, 0.5)) return range_fail(func, "hue", a[3], "in [0, 0.5]");
    return LCT_OK;
}

static int check_blur(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    if (!above_upto(a[0], 0.0, LCT__AUG_MAX_SIGMA)) return range_fail(func, "sigma_min", a[0], "in (0, 64]");
    if (!within(a[1], a[0], LCT__AUG_MAX_SIGMA)) return range_fail(func, "sigma_max", a[1], "in [sigma_min, 64]");
    return LCT_OK;
}

static int check_noise(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    return within(a[0], 0.0, 1e6) ? LCT_OK : range_fail(func, "std", a[0], "in [0, 1e6]");
}

static int check_gain(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    if (!within(a[0], -120.0, 120.0)) return range_fail(func, "min_db", a[0], "in [-120, 120]");
    if (!within(a[1], a[0], 120.0)) return range_fail(func, "max_db", a[1], "in [min_db, 120]");
    return LCT_OK;
}

/* The time mask's width may reach the output length, the shift must stay below it. */
static int check_time(const lct_augmenter *aug, int kind, const double *a, const char *func)
{
    const int mask = kind == LCT__AUG_MASK;
    if (mask ? a[0] <= (double)aug->ow : a[0] < (double)aug->ow) return LCT_OK;
    return lct__fail(LCT_ERANGE, func, "%s is %u; it must be %s the output length %zu", mask ? "max_width" : "max_shift",
                     (unsigned)a[0], mask ? "<=" : "<", aug->ow);
}

int lct_augmenter_add_random_resized_crop(lct_augmenter *aug, double p, double scale_min, double scale_max,
                                          double ratio_min, double ratio_max)
{
    return add_op(aug, LCT__AUG_RRC, p, (const double[4]){scale_min, scale_max, ratio_min, ratio_max}, check_crop,
                  __func__);
}

int lct_augmenter_add_hflip(lct_augmenter *aug, double p)
{
    return add_op(aug, LCT__AUG_HFLIP, p, NULL, NULL, __func__);
}

int lct_augmenter_add_color_jitter(lct_augmenter *aug, double p, double brightness, double contrast,
                                   double saturation, double hue)
{
    return add_op(aug, LCT__AUG_JITTER, p, (const double[4]){brightness, contrast, saturation, hue}, check_jitter,
                  __func__);
}

int lct_augmenter_add_grayscale(lct_augmenter *aug, double p)
{
    return add_op(aug, LCT__AUG_GRAY, p, NULL, NULL, __func__);
}

int lct_augmenter_add_gaussian_blur(lct_augmenter *aug, double p, double sigma_min, double sigma_max)
{
    return add_op(aug, LCT__AUG_BLUR, p, (const double[4]){sigma_min, sigma_max}, check_blur, __func__);
}

int lct_augmenter_add_gaussian_noise(lct_augmenter *aug, double p, double std)
{
    return add_op(aug, LCT__AUG_NOISE, p, (const double[4]){std}, check_noise, __func__);
}

int lct_augmenter_add_normalize(lct_augmenter *aug, const float *mean, const float *std, size_t channels)
{
    int rc = check_append(aug, LCT__AUG_NORMALIZE, 1.0, __func__);
    if (rc) return rc;
    LCT__REQUIRE(mean);
    LCT__REQUIRE(std);
    if (channels != aug->c)
        return LCT__FAIL(LCT_ESHAPE, "channels is %zu; the augmenter's images/signals have %zu", channels, aug->c);
    for (size_t i = 0; i < channels; i++) {
        if (!isfinite(mean[i])) return LCT__FAIL(LCT_ERANGE, "mean[%zu] is %g; it must be finite", i, (double)mean[i]);
        if (!(isfinite(std[i]) && std[i] > 0.0f))
            return LCT__FAIL(LCT_ERANGE, "std[%zu] is %g; it must be finite and > 0", i, (double)std[i]);
    }
    memcpy(aug->norm_mean, mean, channels * sizeof(float));
    memcpy(aug->norm_std, std, channels * sizeof(float));
    return add_op(aug, LCT__AUG_NORMALIZE, 1.0, NULL, NULL, __func__);
}

int lct_augmenter_add_window_crop(lct_augmenter *aug, double p)
{
    return add_op(aug, LCT__AUG_WINDOW, p, NULL, NULL, __func__);
}

int lct_augmenter_add_gain(lct_augmenter *aug, double p, double min_db, double max_db)
{
    return add_op(aug, LCT__AUG_GAIN, p, (const double[4]){min_db, max_db}, check_gain, __func__);
}

int lct_augmenter_add_time_mask(lct_augmenter *aug, double p, uint32_t max_width)
{
    return add_op(aug, LCT__AUG_MASK, p, (const double[4]){(double)max_width}, check_time, __func__);
}

int lct_augmenter_add_time_shift(lct_augmenter *aug, double p, uint32_t max_shift)
{
    return add_op(aug, LCT__AUG_SHIFT, p, (const double[4]){(double)max_shift}, check_time, __func__);
}

/* ---- presets ------------------------------------------------------------- */

int lct_augmenter_preset(lct_augmenter *aug, int preset)
{
    LCT__REQUIRE(aug);
    int for_images;
    switch (preset) {
    case LCT_AUG_PRESET_INSTDISC:
    case LCT_AUG_PRESET_INVASPREAD:
    case LCT_AUG_PRESET_CMC: for_images = 1; break;
    case LCT_AUG_PRESET_CPC: for_images = 0; break;
    default:
        return LCT__FAIL(LCT_EINVAL, "preset is %d; it must be one of LCT_AUG_PRESET_INSTDISC (1), "
                                     "_INVASPREAD (2), _CMC (3), _CPC (4)", preset);
    }
    if (for_images != is_image(aug))
        return LCT__FAIL(LCT_EINVAL, "preset %d is for %s; this augmenter takes %s", preset,
                         for_images ? "images" : "signals", is_image(aug) ? "images" : "signals");
    /* The recipes fit in an empty pipeline, so the builders below cannot fail. */
    aug->n_ops = 0;
    const double s_min = 0.2, r_min = 3.0 / 4.0, r_max = 4.0 / 3.0, j = 0.4;
    switch (preset) {
    case LCT_AUG_PRESET_INSTDISC:
        lct_augmenter_add_random_resized_crop(aug, 1.0, s_min, 1.0, r_min, r_max);
        lct_augmenter_add_grayscale(aug, 0.2);
        lct_augmenter_add_color_jitter(aug, 1.0, j, j, j, j);
        lct_augmenter_add_hflip(aug, 0.5);
        break;
    case LCT_AUG_PRESET_INVASPREAD:
        lct_augmenter_add_random_resized_crop(aug, 1.0, s_min, 1.0, r_min, r_max);
        lct_augmenter_add_color_jitter(aug, 1.0, j, j, j, j);
        lct_augmenter_add_grayscale(aug, 0.2);
        lct_augmenter_add_hflip(aug, 0.5);
        break;
    case LCT_AUG_PRESET_CMC:
        lct_augmenter_add_random_resized_crop(aug, 1.0, s_min, 1.0, r_min, r_max);
        lct_augmenter_add_hflip(aug, 0.5);
        break;
    default:
        lct_augmenter_add_window_crop(aug, 1.0);
        break;
    }
    return LCT_OK;
}
