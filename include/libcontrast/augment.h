/**
 * @file libcontrast/augment.h
 * @brief Augmenters: seeded, deterministic pipelines of image and 1-D signal transforms.
 *
 * An ::lct_augmenter turns a batch of raw samples into @c n_views independently
 * augmented views of each sample, as float tensors ready for an encoder. It
 * holds the input kind and per-sample shape (fixed at creation) and a pipeline:
 * an ordered list of transforms, each applied with its own probability.
 *
 * Images are C×H×W (C = 1 or 3), either uint8 (0..255, mapped to [0,1] by
 * /255) or float in [0,1]. Signals (audio, IMU, trajectories) are float C×T.
 * Every image output value lies in [0,1] unless the pipeline ends with a
 * normalisation; signal outputs are not clamped.
 *
 * Randomness: view @c v of sample @c b in the call numbered @c counter draws
 * from its own generator seeded by (runtime seed, augmenter stream, counter,
 * b, v). Results are therefore identical for any thread count, view @c v of a
 * sample does not depend on how many views are asked for, and a run repeats
 * exactly for a seed. The counter advances by one per successful
 * lct_augmenter_apply(); save and restore it with lct_augmenter_get_counter()
 * and lct_augmenter_set_counter() for checkpoints. The stream is the
 * augmenter's creation rank in its runtime (1, 2, ... across all handles).
 *
 * The image transforms follow torchvision's definitions; docs/augment.md
 * lists the formulas and the few places where libcontrast differs.
 *
 * One thread at a time per augmenter; the batch is processed in parallel
 * with the runtime's threads.
 */
#ifndef LIBCONTRAST_AUGMENT_H
#define LIBCONTRAST_AUGMENT_H

#include "runtime.h"

LCT_BEGIN_DECLS

typedef struct lct_augmenter lct_augmenter;

/** Kind of input an augmenter takes (::lct_augmenter_options.input). */
typedef enum lct_aug_input {
    LCT_AUG_IMAGE_U8 = 0,   /**< uint8_t C×H×W images, 0..255 */
    LCT_AUG_IMAGE_F32 = 1,  /**< float C×H×W images in [0,1] (values outside are clamped) */
    LCT_AUG_SIGNAL_F32 = 2  /**< float C×T signals (height 1, width T) */
} lct_aug_input;

/** Recipes of the original methods, for lct_augmenter_preset(). */
typedef enum lct_aug_preset {
    /** InstDisc: random resized crop (scale 0.2–1, ratio 3/4–4/3), grayscale p 0.2,
     *  colour jitter 0.4/0.4/0.4/0.4, horizontal flip p 0.5 (images). */
    LCT_AUG_PRESET_INSTDISC = 1,
    /** InvaSpread: crop (0.2–1), colour jitter 0.4 ×4, grayscale p 0.2, flip p 0.5 (images). */
    LCT_AUG_PRESET_INVASPREAD = 2,
    /** CMC: crop (0.2–1) and flip p 0.5 (images; the Lab split of views is the host's). */
    LCT_AUG_PRESET_CMC = 3,
    /** CPC: a random window of the output length from each signal (signals). */
    LCT_AUG_PRESET_CPC = 4
} lct_aug_preset;

#define LCT_AUGMENTER_OPTIONS_VERSION 1

/**
 * Augmenter options. Initialise with lct_augmenter_options_init(); fields are
 * only ever added at the end. Defaults: uint8 RGB images 3×32×32 → 3×32×32.
 */
typedef struct lct_augmenter_options {
    uint32_t version;     /**< LCT_AUGMENTER_OPTIONS_VERSION */
    int32_t input;        /**< ::lct_aug_input (default LCT_AUG_IMAGE_U8) */
    uint32_t channels;    /**< C: 1 or 3 for images, 1..65536 for signals (default 3) */
    uint32_t height;      /**< H of images, 1..65536; must be 1 (or 0) for signals (default 32) */
    uint32_t width;       /**< W of images (1..65536) or length T of signals (1..2^31−1) (default 32) */
    uint32_t out_height;  /**< output H; 0 = @c height. Signals: 0 or 1 */
    uint32_t out_width;   /**< output W or signal length T' (<= T); 0 = @c width */
} lct_augmenter_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION (unknown version).
 */
LCT_API int lct_augmenter_options_init(lct_augmenter_options *opts, uint32_t version);

/**
 * Create an augmenter with an empty pipeline (which only converts, and for
 * images resizes bilinearly, or for signals takes the centre window, when the
 * output shape differs from the input's). The augmenter borrows @p rt: free it first.
 *
 * @param out   receives the augmenter; set to NULL on failure
 * @param rt    runtime (threads, seed, allocator)
 * @param opts  options, or NULL for the defaults
 * @return LCT_OK; LCT_EINVAL (NULL @p out or @p rt, unknown input kind, channels not 1/3 for
 *         images, a zero or too large dimension, signal height not 1); LCT_ESHAPE (signal output
 *         longer than its input, sizes overflowing); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_augmenter_new(lct_augmenter **out, lct_runtime *rt, const lct_augmenter_options *opts);

/** Free an augmenter. Accepts NULL. */
LCT_API void lct_augmenter_free(lct_augmenter *aug);

/**
 * Elements of one input sample (C×H×W or C×T) into @p in_count and floats of one
 * output view (C×H'×W' or C×T') into @p out_count; either pointer may be NULL.
 * @return LCT_OK, LCT_EINVAL (NULL @p aug).
 */
LCT_API int lct_augmenter_sizes(const lct_augmenter *aug, size_t *in_count, size_t *out_count);

/** Number of transforms in the pipeline (>= 0), or LCT_EINVAL for NULL. */
LCT_API int lct_augmenter_op_count(const lct_augmenter *aug);

/** Empty the pipeline. @return LCT_OK, LCT_EINVAL (NULL). */
LCT_API int lct_augmenter_clear(lct_augmenter *aug);

/**
 * Replace the pipeline by the recipe of an original method (::lct_aug_preset).
 * No normalisation is included: add one with lct_augmenter_add_normalize().
 * On 1-channel images colour jitter's saturation and hue, and grayscale, are no-ops.
 * @return LCT_OK; LCT_EINVAL (NULL, unknown preset, an image preset on a signal
 *         augmenter or the reverse). On failure the pipeline is unchanged.
 */
LCT_API int lct_augmenter_preset(lct_augmenter *aug, int preset);

/**
 * @name Pipeline builders
 * Each appends one transform, applied with probability
 * @p p in [0,1] (drawn per view). Common errors: LCT_EINVAL (NULL @p aug, or a
 * transform of the other input kind), LCT_ERANGE (a parameter outside its
 * bounds, NaN included; the message names it), LCT_ESTATE (the pipeline holds
 * 32 transforms already, a crop that is not first or comes twice, anything
 * after a normalisation). On failure the pipeline is unchanged.
 * @{
 */

/**
 * Images, first transform only: torchvision's RandomResizedCrop. A region of area
 * fraction s ~ U[scale_min, scale_max] and aspect ratio r (log-uniform in
 * [ratio_min, ratio_max]) is drawn up to 10 times until it fits, else a centre
 * crop clamped to the ratio range is taken; it is resized bilinearly to the
 * output size. With probability 1-p the whole image is resized instead.
 * Bounds: 0 < scale_min <= scale_max <= 1; 0 < ratio_min <= ratio_max <= 100.
 */
LCT_API int lct_augmenter_add_random_resized_crop(lct_augmenter *aug, double p, double scale_min,
                                                  double scale_max, double ratio_min, double ratio_max);

/** Images: mirror left-right. */
LCT_API int lct_augmenter_add_hflip(lct_augmenter *aug, double p);

/**
 * Images: torchvision's ColorJitter. Factors b, c, s ~ U[max(0, 1-x), 1+x] for
 * brightness, contrast, saturation, and a hue shift ~ U[-hue, hue]; the four
 * adjustments run in a random order; a 0 disables its adjustment.
 * Bounds: brightness, contrast, saturation in [0, 100]; hue in [0, 0.5].
 * On 1-channel images saturation and hue are no-ops.
 */
LCT_API int lct_augmenter_add_color_jitter(lct_augmenter *aug, double p, double brightness, double contrast,
                                           double saturation, double hue);

/** Images: replace R, G, B by 0.299 R + 0.587 G + 0.114 B (a no-op on 1-channel images). */
LCT_API int lct_augmenter_add_grayscale(lct_augmenter *aug, double p);

/**
 * Images: Gaussian blur with sigma ~ U[sigma_min, sigma_max], kernel radius
 * ceil(3 sigma), reflected borders. Bounds: 0 < sigma_min <= sigma_max <= 64.
 */
LCT_API int lct_augmenter_add_gaussian_blur(lct_augmenter *aug, double p, double sigma_min, double sigma_max);

/**
 * Images and signals: add independent N(0, std²) noise to every value (images
 * are clamped back to [0,1] afterwards). Bounds: 0 <= std <= 1e6.
 */
LCT_API int lct_augmenter_add_gaussian_noise(lct_augmenter *aug, double p, double std);

/**
 * Images and signals, last transform: x ← (x − mean[c]) / std[c] per channel.
 * Always applied. @p mean and @p std hold @p channels values (copied), which must
 * equal the augmenter's C (LCT_ESHAPE otherwise); means finite, std finite and > 0
 * (LCT_ERANGE); NULL arrays give LCT_EINVAL.
 */
LCT_API int lct_augmenter_add_normalize(lct_augmenter *aug, const float *mean, const float *std,
                                        size_t channels);

/**
 * Signals, first transform only: take a window of the output length T' starting
 * at a uniform offset in [0, T − T']; with probability 1-p the centre window.
 */
LCT_API int lct_augmenter_add_window_crop(lct_augmenter *aug, double p);

/**
 * Signals: multiply by 10^(g/20), g ~ U[min_db, max_db] decibels.
 * Bounds: -120 <= min_db <= max_db <= 120.
 */
LCT_API int lct_augmenter_add_gain(lct_augmenter *aug, double p, double min_db, double max_db);

/**
 * Signals: set a span of w ~ U{0..max_width} consecutive time steps, starting at a
 * uniform offset in [0, T' − w], to 0 in every channel. Bounds: max_width <= T'.
 */
LCT_API int lct_augmenter_add_time_mask(lct_augmenter *aug, double p, uint32_t max_width);

/**
 * Signals: shift every channel by s ~ U{−max_shift..max_shift} steps
 * (out[t] = in[t − s]); steps shifted in are 0. Bounds: max_shift < T'.
 */
LCT_API int lct_augmenter_add_time_shift(lct_augmenter *aug, double p, uint32_t max_shift);

/** @} */

/**
 * Augment a batch: @p n_views views of each of @p batch samples.
 *
 * @param in       batch × input-count elements: uint8_t for LCT_AUG_IMAGE_U8, float otherwise
 * @param batch    samples in @p in (>= 1)
 * @param n_views  views per sample (>= 1)
 * @param out      batch × n_views × output-count floats, sample-major: view v of
 *                 sample b starts at out + (b × n_views + v) × output-count
 * The first call sizes the per-thread workspaces (again only if the thread count
 * grows or a wider blur is added); later calls do not allocate.
 * @return LCT_OK; LCT_EINVAL (NULL pointer, zero batch or views); LCT_ESHAPE (sizes overflow);
 *         LCT_ENUMERIC (a float input value is NaN or Inf); LCT_ENOMEM. On failure @p out may
 *         be partly written but the counter is unchanged.
 */
LCT_API int lct_augmenter_apply(lct_augmenter *aug, const void *in, size_t batch, size_t n_views, float *out);

/** The counter of the next lct_augmenter_apply() into @p counter. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_augmenter_get_counter(const lct_augmenter *aug, uint64_t *counter);

/** Set the counter (e.g. from a checkpoint) so the next call repeats that call's draws. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_augmenter_set_counter(lct_augmenter *aug, uint64_t counter);

LCT_END_DECLS

#endif /* LIBCONTRAST_AUGMENT_H */
