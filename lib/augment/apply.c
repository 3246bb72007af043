/* Applying the pipeline to a batch: validation, per-thread scratch, the parallel loop. */
#include <math.h>

#include "augment_internal.h"

static size_t round_up(size_t n)
{
    return (n + LCT__ALIGN - 1) / LCT__ALIGN * LCT__ALIGN;
}

/* Largest blur radius in the pipeline, or -1 without blur. */
static ptrdiff_t max_blur_radius(const lct_augmenter *aug)
{
    ptrdiff_t r = -1;
    for (size_t i = 0; i < aug->n_ops; i++)
        if (aug->ops[i].kind == LCT__AUG_BLUR) {
            ptrdiff_t k = (ptrdiff_t)ceil(3.0 * aug->ops[i].a[1]);
            if (k > r) r = k;
        }
    return r;
}

/* Scratch layout of one thread: blur image and taps (only with a blur), resampled rows, axis tables. */
typedef struct layout {
    size_t tmp, rows, taps, lines, total;
} layout;

static layout scratch_layout(const lct_augmenter *aug)
{
    layout l = {0, 0, 0, 0, 0};
    if (aug->input != LCT_AUG_SIGNAL_F32) { /* signal transforms work in place */
        ptrdiff_t rad = max_blur_radius(aug);
        l.tmp = rad >= 0 ? round_up(aug->out_count * sizeof(float)) : 0;
        l.taps = rad >= 0 ? round_up((size_t)(2 * rad + 1) * sizeof(float)) : 0;
        l.rows = round_up(aug->h * aug->ow * sizeof(float));
        l.lines = round_up((aug->ow + aug->oh) * sizeof(int32_t));
    }
    l.total = l.tmp + l.taps + l.rows + 2 * l.lines + LCT__ALIGN;
    return l;
}

size_t lct__aug_scratch_bytes(const lct_augmenter *aug)
{
    return scratch_layout(aug).total;
}

void lct__aug_scratch_bind(const lct_augmenter *aug, unsigned char *block, lct__aug_scratch *s)
{
    layout l = scratch_layout(aug);
    s->tmp = (float *)block;
    block += l.tmp;
    s->kernel = (float *)block;
    block += l.taps;
    s->rows = (float *)block;
    block += l.rows;
    s->xi = (int32_t *)block;
    block += l.lines;
    s->xw = (float *)block;
}

/* Make sure every thread has scratch for the current pipeline; allocates only when it grows. */
static int ensure_scratch(lct_augmenter *aug, size_t threads)
{
    size_t stride = lct__aug_scratch_bytes(aug);
    if (aug->ws != NULL && stride <= aug->ws_stride && threads <= aug->ws_threads) return LCT_OK;
    if (stride < aug->ws_stride) stride = aug->ws_stride;
    if (threads < aug->ws_threads) threads = aug->ws_threads;
    size_t bytes;
    if (lct__mul_size(stride, threads, &bytes))
        return LCT__FAIL(LCT_ENOMEM, "scratch of %zu threads x %zu bytes overflows", threads, stride);
    unsigned char *ws = lct__malloc(aug->rt, bytes);
    if (ws == NULL) return LCT_ENOMEM;
    lct__free(aug->rt, aug->ws);
    aug->ws = ws;
    aug->ws_stride = stride;
    aug->ws_threads = threads;
    return LCT_OK;
}

typedef struct views_job {
    lct_augmenter *aug;
    const unsigned char *in;
    float *out;
    size_t n_views, elem;
    uint64_t seed, call;
} views_job;

/* Views [k0, k1) of the call; each slot has its own scratch. */
static void make_views(void *ctx, size_t k0, size_t k1, size_t slot)
{
    const views_job *j = ctx;
    lct_augmenter *aug = j->aug;
    lct__aug_scratch s;
    lct__aug_scratch_bind(aug, aug->ws + slot * aug->ws_stride, &s);
    for (size_t k = k0; k < k1; k++) {
        size_t b = k / j->n_views, v = k % j->n_views;
        /* Each view has its own generator: results do not depend on the thread count. */
        lct__rng r;
        lct__rng_seed(&r, j->seed, lct__hash64(lct__hash64(j->call, b), v));
        const void *x = j->in + b * aug->in_count * j->elem;
        float *y = j->out + k * aug->out_count;
        if (aug->input == LCT_AUG_SIGNAL_F32)
            lct__aug_signal_view(aug, &r, (const float *)x, y, &s);
        else
            lct__aug_image_view(aug, &r, x, y, &s);
    }
}

int lct_augmenter_apply(lct_augmenter *aug, const void *in, size_t batch, size_t n_views, float *out)
{
    LCT__REQUIRE(aug);
    LCT__REQUIRE(in);
    LCT__REQUIRE(out);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0; it must be >= 1");
    if (n_views == 0) return LCT__FAIL(LCT_EINVAL, "n_views is 0; it must be >= 1");
    size_t in_total, views, out_total;
    const size_t elem = aug->input == LCT_AUG_IMAGE_U8 ? 1 : sizeof(float);
    /* in and out must be buffers that can exist before either is touched */
    if (lct__mul_size(batch, aug->in_count, &in_total) || !lct__fits(in_total, elem) ||
        lct__mul_size(batch, n_views, &views) || lct__mul_size(views, aug->out_count, &out_total) ||
        !lct__fits(out_total, sizeof(float)) || views > (size_t)INT64_MAX)
        return LCT__FAIL(LCT_ESHAPE, "batch %zu x n_views %zu x %zu floats per view overflows", batch, n_views,
                         aug->out_count);
    if (aug->input != LCT_AUG_IMAGE_U8 && !lct__all_finite((const float *)in, in_total)) {
        size_t i = 0;
        const float *x = (const float *)in;
        while (i < in_total && isfinite(x[i])) i++;
        return LCT__FAIL(LCT_ENUMERIC, "in[%zu] is %g; inputs must be finite", i, (double)x[i]);
    }
    int threads = lct__threads(aug->rt);
    int rc = ensure_scratch(aug, (size_t)threads);
    if (rc) return rc;

    views_job job = {.aug = aug, .in = (const unsigned char *)in, .out = out, .n_views = n_views,
                     .elem = elem, .seed = lct_runtime_seed(aug->rt),
                     .call = lct__hash64(aug->stream, aug->counter)};
    lct__parallel(aug->rt, threads, views, 1, make_views, &job);
    aug->counter++;
    return LCT_OK;
}
