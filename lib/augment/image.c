/* Image transforms of one view: crop + bilinear resize, flip, colour jitter, grayscale, blur. */
#include <math.h>

#include "augment_internal.h"

#define GRAY_R 0.299f
#define GRAY_G 0.587f
#define GRAY_B 0.114f

/* ---- random resized crop ---------------------------------------------------- */

typedef struct region {
    size_t top, left, h, w;
} region;

/* torchvision's RandomResizedCrop.get_params: 10 tries, then a centre crop clamped to the ratio range. */
static region rrc_region(const lct__aug_op *op, lct__rng *r, size_t H, size_t W)
{
    const double area = (double)H * (double)W;
    const double lr0 = log(op->a[2]), lr1 = log(op->a[3]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * lct__aug_uniform(r, op->a[0], op->a[1]);
        double ratio = exp(lct__aug_uniform(r, lr0, lr1));
        double w = nearbyint(sqrt(target * ratio)); /* round half to even, as Python's round() */
        double h = nearbyint(sqrt(target / ratio));
        if (w > 0 && w <= (double)W && h > 0 && h <= (double)H) {
            region g = {0, 0, (size_t)h, (size_t)w};
            g.top = (size_t)lct__rng_below(r, H - g.h + 1);
            g.left = (size_t)lct__rng_below(r, W - g.w + 1);
            return g;
        }
    }
    double in_ratio = (double)W / (double)H;
    region g = {0, 0, H, W};
    if (in_ratio < op->a[2]) {
        g.h = (size_t)nearbyint((double)W / op->a[2]);
    } else if (in_ratio > op->a[3]) {
        g.w = (size_t)nearbyint((double)H * op->a[3]);
    }
    if (g.h < 1) g.h = 1;
    if (g.w < 1) g.w = 1;
    if (g.h > H) g.h = H;
    if (g.w > W) g.w = W;
    g.top = (H - g.h) / 2;
    g.left = (W - g.w) / 2;
    return g;
}

/*
 * Source index and weight of each output position along one axis, bilinear with
 * align_corners=False: src = (dst + 0.5) * in/out - 0.5, clamped below at 0.
 */
static void axis_table(size_t start, size_t in, size_t out, int32_t *idx, float *wt)
{
    const double scale = (double)in / (double)out;
    for (size_t d = 0; d < out; d++) {
        double src = ((double)d + 0.5) * scale - 0.5;
        if (src < 0.0) src = 0.0;
        size_t i0 = (size_t)src;
        if (i0 > in - 1) i0 = in - 1;
        idx[d] = (int32_t)(start + i0);
        wt[d] = (i0 < in - 1) ? (float)(src - (double)i0) : 0.0f;
    }
}

/*
 * Crop region g of the input and resize it to the output size, as floats in [0,1].
 * Separable: each source row the output needs is resampled along x once (into
 * `rows`), then output rows blend two of those, a contiguous loop.
 */
#define LCT__RESAMPLE_ROWS(T, SCALE, LOAD)                                                         \
    do {                                                                                       \
        const T *plane = (const T *)in + ch * H * W;                                           \
        for (size_t r = ylo; r <= yhi; r++) {                                                  \
            const T *src = plane + r * W;                                                      \
            float *dst = rows + (r - ylo) * OW;                                                \
            for (size_t x = 0; x < OW; x++) {                                                  \
                size_t x0 = (size_t)xi[x], x1 = x0 + (xw[x] > 0.0f ? 1 : 0);                   \
                const float lx = xw[x];                                                        \
                dst[x] = (LOAD(src[x0]) * (1.0f - lx) + LOAD(src[x1]) * lx) * (SCALE);         \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define LOAD_U8(v) ((float)(v))
#define LOAD_F32(v) lct__aug_clamp01(v)

static void resample(const lct_augmenter *aug, const void *in, region g, float *out, lct__aug_scratch *s)
{
    const size_t C = aug->c, H = aug->h, W = aug->w, OH = aug->oh, OW = aug->ow;
    int32_t *xi = s->xi, *yi = s->xi + OW;
    float *xw = s->xw, *yw = s->xw + OW, *rows = s->rows;
    axis_table(g.left, g.w, OW, xi, xw);
    axis_table(g.top, g.h, OH, yi, yw);
    const size_t ylo = (size_t)yi[0];
    size_t yhi = (size_t)yi[OH - 1] + (yw[OH - 1] > 0.0f ? 1 : 0);
    for (size_t ch = 0; ch < C; ch++) {
        if (aug->input == LCT_AUG_IMAGE_U8)
            LCT__RESAMPLE_ROWS(uint8_t, 1.0f / 255.0f, LOAD_U8);
        else
            LCT__RESAMPLE_ROWS(float, 1.0f, LOAD_F32);
        float *dst = out + ch * OH * OW;
        for (size_t y = 0; y < OH; y++) {
            const float *r0 = rows + ((size_t)yi[y] - ylo) * OW;
            const float ly = yw[y], ky = 1.0f - ly;
            const float *r1 = ly > 0.0f ? r0 + OW : r0;
            float *d = dst + y * OW;
LCT__SIMD
            for (size_t x = 0; x < OW; x++) d[x] = lct__aug_clamp01(r0[x] * ky + r1[x] * ly);
        }
    }
}

/* ---- flip, grayscale ------------------------------------------------------- */

static void hflip(float *x, size_t C, size_t H, size_t W)
{
    for (size_t row = 0; row < C * H; row++) {
        float *p = x + row * W;
        for (size_t i = 0, j = W - 1; i < j; i++, j--) {
            float t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
}

static void grayscale(float *x, size_t n)
{
    float *r = x, *g = x + n, *b = x + 2 * n;
LCT__SIMD
    for (size_t i = 0; i < n; i++) {
        float l = GRAY_R * r[i] + GRAY_G * g[i] + GRAY_B * b[i];
        r[i] = g[i] = b[i] = l;
    }
}

/* ---- colour jitter ----------------------------------------------------------- */

/* Blend with a constant: x <- clamp(f x + (1 - f) c). Brightness uses c = 0, contrast the gray mean. */
static void blend_const(float *x, size_t n, float f, float c)
{
    const float k = (1.0f - f) * c;
LCT__SIMD
    for (size_t i = 0; i < n; i++) x[i] = lct__aug_clamp01(f * x[i] + k);
}

static float gray_mean(const float *x, size_t C, size_t n)
{
    double sum = 0.0;
    if (C == 3) {
        for (size_t i = 0; i < n; i++) sum += (double)(GRAY_R * x[i] + GRAY_G * x[n + i] + GRAY_B * x[2 * n + i]);
    } else {
        for (size_t i = 0; i < n; i++) sum += (double)x[i];
    }
    return (float)(sum / (double)n);
}

static void saturation(float *x, size_t n, float f)
{
    float *r = x, *g = x + n, *b = x + 2 * n;
LCT__SIMD
    for (size_t i = 0; i < n; i++) {
        float l = (1.0f - f) * (GRAY_R * r[i] + GRAY_G * g[i] + GRAY_B * b[i]);
        r[i] = lct__aug_clamp01(f * r[i] + l);
        g[i] = lct__aug_clamp01(f * g[i] + l);
        b[i] = lct__aug_clamp01(f * b[i] + l);
    }
}

/*
 * Shift the hue of every pixel by `shift` turns through HSV, as torchvision's tensor path
 * does, with the algebra simplified: in HSV->RGB, v(1-s) is the minimum channel and
 * v(1-sf), v(1-s(1-f)) are max - cr f and min + cr f, so one reciprocal per pixel suffices.
 */
static void hue(float *x, size_t n, float shift)
{
    float *R = x, *G = x + n, *B = x + 2 * n;
    for (size_t i = 0; i < n; i++) {
        float r = R[i], g = G[i], b = B[i];
        float maxc = r > g ? r : g, minc = r < g ? r : g;
        maxc = maxc > b ? maxc : b;
        minc = minc < b ? minc : b;
        float cr = maxc - minc;
        if (cr == 0.0f) continue; /* gray: no hue to shift */
        float inv = 1.0f / cr, h;
        if (maxc == r) h = (g - b) * inv;
        else if (maxc == g) h = 2.0f + (b - r) * inv;
        else h = 4.0f + (r - g) * inv;
        h = h * (1.0f / 6.0f) + shift + 2.0f; /* > 0, so truncation is floor */
        h -= (float)(int)h;
        float h6 = h * 6.0f;
        int sector = (int)h6;
        float f = h6 - (float)sector;
        if (sector >= 6) sector -= 6;
        float v = maxc, p = minc;
        float q = lct__aug_clamp01(maxc - cr * f), t = lct__aug_clamp01(minc + cr * f);
        switch (sector) {
        case 0: r = v; g = t; b = p; break;
        case 1: r = q; g = v; b = p; break;
        case 2: r = p; g = v; b = t; break;
        case 3: r = p; g = q; b = v; break;
        case 4: r = t; g = p; b = v; break;
        default: r = v; g = p; b = q; break;
        }
        R[i] = r;
        G[i] = g;
        B[i] = b;
    }
}

static void color_jitter(const lct__aug_op *op, lct__rng *r, float *x, size_t C, size_t n)
{
    /* torchvision order of draws: a random permutation of the four, then the factors. */
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)lct__rng_below(r, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    float f[4];
    for (int k = 0; k < 3; k++) {
        double a = op->a[k];
        f[k] = a > 0.0 ? (float)lct__aug_uniform(r, fmax(0.0, 1.0 - a), 1.0 + a) : 1.0f;
    }
    f[3] = op->a[3] > 0.0 ? (float)lct__aug_uniform(r, -op->a[3], op->a[3]) : 0.0f;
    for (int k = 0; k < 4; k++) {
        int which = order[k];
        if (op->a[which] <= 0.0) continue;
        switch (which) {
        case 0: blend_const(x, C * n, f[0], 0.0f); break;
        case 1: blend_const(x, C * n, f[1], gray_mean(x, C, n)); break;
        case 2: if (C == 3) saturation(x, n, f[2]); break;
        default: if (C == 3) hue(x, n, f[3]); break;
        }
    }
}

/* ---- blur -------------------------------------------------------------------- */

/* Reflect an index into [0, n) without repeating the edge (torch's "reflect" padding). */
static inline size_t mirror(ptrdiff_t i, size_t n)
{
    if (n == 1) return 0;
    ptrdiff_t period = 2 * (ptrdiff_t)n - 2;
    i %= period;
    if (i < 0) i += period;
    return (size_t)(i >= (ptrdiff_t)n ? period - i : i);
}

static void blur(const lct__aug_op *op, lct__rng *r, float *x, size_t C, size_t H, size_t W, lct__aug_scratch *s)
{
    double sigma = lct__aug_uniform(r, op->a[0], op->a[1]);
    ptrdiff_t rad = (ptrdiff_t)ceil(3.0 * sigma);
    float *k = s->kernel;
    double sum = 0.0;
    for (ptrdiff_t i = -rad; i <= rad; i++) sum += exp(-0.5 * ((double)i / sigma) * ((double)i / sigma));
    for (ptrdiff_t i = -rad; i <= rad; i++)
        k[i + rad] = (float)(exp(-0.5 * ((double)i / sigma) * ((double)i / sigma)) / sum);
    float *t = s->tmp;
    for (size_t row = 0; row < C * H; row++) { /* horizontal pass into tmp */
        const float *src = x + row * W;
        float *dst = t + row * W;
        for (size_t j = 0; j < W; j++) {
            float acc = 0.0f;
            if ((ptrdiff_t)j >= rad && (ptrdiff_t)j + rad < (ptrdiff_t)W) { /* interior: no reflection */
                const float *c = src + j - (size_t)rad;
                for (ptrdiff_t i = 0; i <= 2 * rad; i++) acc += k[i] * c[i];
            } else {
                for (ptrdiff_t i = -rad; i <= rad; i++) acc += k[i + rad] * src[mirror((ptrdiff_t)j + i, W)];
            }
            dst[j] = acc;
        }
    }
    for (size_t ch = 0; ch < C; ch++) { /* vertical pass back into x */
        for (size_t y = 0; y < H; y++) {
            float *dst = x + (ch * H + y) * W;
            for (size_t j = 0; j < W; j++) dst[j] = 0.0f;
            for (ptrdiff_t i = -rad; i <= rad; i++) {
                const float *src = t + (ch * H + mirror((ptrdiff_t)y + i, H)) * W;
                const float w = k[i + rad];
LCT__SIMD
                for (size_t j = 0; j < W; j++) dst[j] += w * src[j];
            }
            for (size_t j = 0; j < W; j++) dst[j] = lct__aug_clamp01(dst[j]);
        }
    }
}

/* ---- one view ------------------------------------------------------------------ */

void lct__aug_image_view(const lct_augmenter *aug, lct__rng *r, const void *in, float *out, lct__aug_scratch *s)
{
    const size_t C = aug->c, OH = aug->oh, OW = aug->ow, n = OH * OW;
    size_t first = 0;
    region g = {0, 0, aug->h, aug->w};
    if (aug->n_ops > 0 && aug->ops[0].kind == LCT__AUG_RRC) {
        first = 1;
        if (lct__rng_uniform_d(r) < aug->ops[0].p) g = rrc_region(&aug->ops[0], r, aug->h, aug->w);
    }
    resample(aug, in, g, out, s);
    for (size_t i = first; i < aug->n_ops; i++) {
        const lct__aug_op *op = lct__aug_drawn(aug, i, r, out, n);
        if (op == NULL) continue;
        switch (op->kind) {
        case LCT__AUG_HFLIP: hflip(out, C, OH, OW); break;
        case LCT__AUG_JITTER: color_jitter(op, r, out, C, n); break;
        case LCT__AUG_GRAY: if (C == 3) grayscale(out, n); break;
        case LCT__AUG_BLUR: blur(op, r, out, C, OH, OW, s); break;
        case LCT__AUG_NOISE: lct__aug_noise(r, out, C * n, op->a[0], 1); break;
        default: break;
        }
    }
}
