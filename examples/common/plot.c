/* Canvas primitives, axes, legend and the two ready-made figures. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"
#include "numeric.h"
#include "png.h"

/* The "Tableau 10" colours: ten hues chosen to be told apart on white. */
const rgb8 plot_palette[10] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

static const rgb8 black = {0, 0, 0}, white = {255, 255, 255}, grid_grey = {228, 228, 228},
                  frame_grey = {90, 90, 90}, text_grey = {40, 40, 40};

int canvas_init(canvas *c, int width, int height, rgb8 bg)
{
    if (!c) return ex_fail(LCT_EINVAL, "canvas_init: 'c' is NULL");
    c->width = c->height = 0;
    c->pixels = NULL;
    if (width < 1 || width > 16384) return ex_fail(LCT_EINVAL, "canvas_init: width is %d (1..16384)", width);
    if (height < 1 || height > 16384) return ex_fail(LCT_EINVAL, "canvas_init: height is %d (1..16384)", height);
    size_t n = (size_t)width * (size_t)height;
    c->pixels = malloc(n * 3);
    if (!c->pixels) return ex_fail(LCT_ENOMEM, "canvas_init: cannot allocate %d x %d pixels", width, height);
    c->width = width;
    c->height = height;
    for (size_t i = 0; i < n; i++) {
        c->pixels[3 * i] = bg.r;
        c->pixels[3 * i + 1] = bg.g;
        c->pixels[3 * i + 2] = bg.b;
    }
    return 0;
}

void canvas_release(canvas *c)
{
    if (!c) return;
    free(c->pixels);
    c->pixels = NULL;
    c->width = c->height = 0;
}

static uint8_t mix(uint8_t old, uint8_t new_, float a)
{
    return (uint8_t)lrintf((float)old + ((float)new_ - (float)old) * a);
}

void canvas_blend(canvas *c, int x, int y, rgb8 color, float alpha)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height || !(alpha > 0.0f)) return;
    if (alpha > 1.0f) alpha = 1.0f;
    uint8_t *p = c->pixels + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
    p[0] = mix(p[0], color.r, alpha);
    p[1] = mix(p[1], color.g, alpha);
    p[2] = mix(p[2], color.b, alpha);
}

void canvas_fill_rect(canvas *c, int x, int y, int w, int h, rgb8 color)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w, y1 = y + h > c->height ? c->height : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) {
            uint8_t *p = c->pixels + ((size_t)yy * (size_t)c->width + (size_t)xx) * 3;
            p[0] = color.r;
            p[1] = color.g;
            p[2] = color.b;
        }
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Pixels of the bounding box [x0, x1] x [y0, y1] clipped to the canvas. */
static void clip_box(const canvas *c, double x0, double y0, double x1, double y1, int *ix0, int *iy0, int *ix1,
                     int *iy1)
{
    *ix0 = (int)clampd(floor(x0), 0, c->width);
    *iy0 = (int)clampd(floor(y0), 0, c->height);
    *ix1 = (int)clampd(ceil(x1), -1, c->width - 1);
    *iy1 = (int)clampd(ceil(y1), -1, c->height - 1);
}

void canvas_line(canvas *c, double x0, double y0, double x1, double y1, double width, rgb8 color, float alpha)
{
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || !(width > 0)) return;
    double half = width / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    int bx0, by0, bx1, by1;
    clip_box(c, fmin(x0, x1) - half - 1, fmin(y0, y1) - half - 1, fmax(x0, x1) + half + 1, fmax(y0, y1) + half + 1,
             &bx0, &by0, &bx1, &by1);
    /* Coverage of a pixel = how far its centre lies inside the stroke, clamped to [0, 1]. */
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) {
            double t = len2 > 0 ? clampd(((x - x0) * dx + (y - y0) * dy) / len2, 0, 1) : 0;
            double ex = x - (x0 + t * dx), ey = y - (y0 + t * dy);
            double cover = clampd(half + 0.5 - sqrt(ex * ex + ey * ey), 0, 1);
            if (cover > 0) canvas_blend(c, x, y, color, alpha * (float)cover);
        }
}

void canvas_disc(canvas *c, double cx, double cy, double r, rgb8 color, float alpha)
{
    if (!isfinite(cx) || !isfinite(cy) || !(r > 0)) return;
    int bx0, by0, bx1, by1;
    clip_box(c, cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1, &bx0, &by0, &bx1, &by1);
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) {
            double cover = clampd(r + 0.5 - hypot(x - cx, y - cy), 0, 1);
            if (cover > 0) canvas_blend(c, x, y, color, alpha * (float)cover);
        }
}

int text_width(const char *s, int scale)
{
    size_t n = s ? strlen(s) : 0;
    return n ? (int)n * FONT_ADVANCE * scale - scale : 0;
}

int text_height(int scale)
{
    return FONT_H * scale;
}

int canvas_text(canvas *c, int x, int y, const char *s, rgb8 color, int scale)
{
    if (!s) return 0;
    for (size_t i = 0; s[i]; i++) {
        const char *const *g = font_glyph(s[i]);
        int gx = x + (int)i * FONT_ADVANCE * scale;
        for (int r = 0; r < FONT_H; r++)
            for (int k = 0; k < FONT_W; k++)
                if (g[r][k] == '#') canvas_fill_rect(c, gx + k * scale, y + r * scale, scale, scale, color);
    }
    return text_width(s, scale);
}

void canvas_text_up(canvas *c, int x, int y, const char *s, rgb8 color, int scale)
{
    if (!s) return;
    int w = text_width(s, scale);
    for (size_t i = 0; s[i]; i++) {
        const char *const *g = font_glyph(s[i]);
        for (int r = 0; r < FONT_H; r++)
            for (int k = 0; k < FONT_W; k++) {
                if (g[r][k] != '#') continue;
                int u = ((int)i * FONT_ADVANCE + k) * scale; /* distance along the text */
                canvas_fill_rect(c, x + r * scale, y + w - u - scale, scale, scale, color);
            }
    }
}

int canvas_write_png(const canvas *c, const char *path)
{
    if (!c || !c->pixels) return ex_fail(LCT_EINVAL, "canvas_write_png: canvas '%s' is %s", "c", c ? "empty" : "NULL");
    return rgb_write_png(path, c->pixels, (uint32_t)c->width, (uint32_t)c->height);
}

/* ---- axes ---------------------------------------------------------------------------------- */

double axes_px(const plot_axes *a, double x)
{
    return a->left + (x - a->x0) / (a->x1 - a->x0) * (a->width - 1);
}

double axes_py(const plot_axes *a, double y)
{
    return a->top + (a->y1 - y) / (a->y1 - a->y0) * (a->height - 1);
}

int nice_ticks(double lo, double hi, int max_ticks, double *first, double *step)
{
    *first = *step = 0;
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo) || max_ticks < 1 || !isfinite(hi - lo)) return 0;
    static const double mult[3] = {1, 2, 5};
    double p = pow(10.0, floor(log10((hi - lo) / max_ticks)) - 1);
    for (int iter = 0; iter < 64; iter++, p *= 10)
        for (int m = 0; m < 3; m++) {
            double s = mult[m] * p;
            double a = ceil(lo / s - 1e-9), b = floor(hi / s + 1e-9);
            if (b - a + 1 <= max_ticks) {
                *first = a * s;
                *step = s;
                return (int)(b - a + 1);
            }
        }
    return 0;
}

void format_tick(double v, double step, char *buf, size_t size)
{
    step = fabs(step);
    if (fabs(v) < step * 1e-9) v = 0; /* no "-0" from rounding */
    if (fabs(v) < 1e9 && step >= 1e-6) {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, size, "%.*f", dec, v);
    } else {
        /* enough significant digits to tell neighbouring ticks apart */
        int digits = step > 0 ? (int)(floor(log10(fmax(fabs(v), step)) + 1e-9) - floor(log10(step) + 1e-9)) : 2;
        digits = digits < 2 ? 2 : digits > 9 ? 9 : digits;
        snprintf(buf, size, "%.*E", digits, v);
    }
}

int axes_ticks(const plot_axes *a, int axis, double *first, double *step)
{
    if (axis != 0) return nice_ticks(a->y0, a->y1, 7, first, step);
    int n = nice_ticks(a->x0, a->x1, 8, first, step);
    if (a->x_integer && n > 0 && *step < 1) {
        /* Whole numbers only: there are fewer of them than ticks at the finer step. */
        *step = 1;
        *first = ceil(a->x0 - 1e-9);
        n = (int)(floor(a->x1 + 1e-9) - *first) + 1;
    }
    return n;
}

/* Pixels left of the plot area that the y tick labels and the y-axis label need. */
static int y_margin(double y0, double y1)
{
    double first, step;
    char label[64];
    int widest = 0, n = nice_ticks(y0, y1, 7, &first, &step);
    for (int i = 0; i < n; i++) {
        format_tick(first + i * step, step, label, sizeof label);
        int w = text_width(label, 2);
        if (w > widest) widest = w;
    }
    return 6 + 6 + widest + 14 + text_height(2) + 16;
}

void plot_draw_axes(canvas *c, const plot_axes *a, const char *xlabel, const char *ylabel)
{
    const int scale = 2, tick = 6;
    char label[64];
    double first, step;
    int right = a->left + a->width - 1, bottom = a->top + a->height - 1;

    int nx = axes_ticks(a, 0, &first, &step);
    int label_y = bottom + tick + 6;
    for (int i = 0; i < nx; i++) {
        double v = first + i * step;
        int px = (int)lrint(axes_px(a, v));
        canvas_fill_rect(c, px, a->top, 1, a->height, grid_grey);
        canvas_fill_rect(c, px, bottom + 1, 1, tick, frame_grey);
        format_tick(v, step, label, sizeof label);
        canvas_text(c, px - text_width(label, scale) / 2, label_y, label, text_grey, scale);
    }
    int ny = axes_ticks(a, 1, &first, &step);
    int widest = 0;
    for (int i = 0; i < ny; i++) {
        double v = first + i * step;
        int py = (int)lrint(axes_py(a, v));
        canvas_fill_rect(c, a->left, py, a->width, 1, grid_grey);
        canvas_fill_rect(c, a->left - tick, py, tick, 1, frame_grey);
        format_tick(v, step, label, sizeof label);
        int w = text_width(label, scale);
        if (w > widest) widest = w;
        canvas_text(c, a->left - tick - 6 - w, py - text_height(scale) / 2, label, text_grey, scale);
    }
    /* frame on top of the grid */
    canvas_fill_rect(c, a->left - 1, a->top - 1, a->width + 2, 1, frame_grey);
    canvas_fill_rect(c, a->left - 1, bottom + 1, a->width + 2, 1, frame_grey);
    canvas_fill_rect(c, a->left - 1, a->top - 1, 1, a->height + 2, frame_grey);
    canvas_fill_rect(c, right + 1, a->top - 1, 1, a->height + 2, frame_grey);

    if (xlabel)
        canvas_text(c, a->left + a->width / 2 - text_width(xlabel, scale) / 2,
                    label_y + text_height(scale) + 12, xlabel, black, scale);
    if (ylabel) {
        int x = a->left - tick - 6 - widest - 14 - text_height(scale);
        canvas_text_up(c, x < 2 ? 2 : x, a->top + a->height / 2 - text_width(ylabel, scale) / 2, ylabel, black,
                       scale);
    }
}

int plot_legend(canvas *c, int x, int y, const char *const *names, const rgb8 *colors, int n, int lines, int scale)
{
    const int pad = 10, marker = 7 * scale + 2, gap = 8, row = text_height(scale) + 10;
    int widest = 0;
    for (int i = 0; i < n; i++) {
        int w = text_width(names[i], scale);
        if (w > widest) widest = w;
    }
    int w = pad + marker + gap + widest + pad, h = pad + n * row - 10 + pad;
    canvas_fill_rect(c, x, y, w, h, frame_grey);
    canvas_fill_rect(c, x + 1, y + 1, w - 2, h - 2, white);
    for (int i = 0; i < n; i++) {
        int ry = y + pad + i * row, cy = ry + text_height(scale) / 2;
        if (lines)
            canvas_line(c, x + pad, cy, x + pad + marker, cy, 3.0, colors[i], 1.0f);
        else
            canvas_disc(c, x + pad + marker / 2.0, cy, marker / 2.0, colors[i], 1.0f);
        canvas_text(c, x + pad + marker + gap, ry, names[i], black, scale);
    }
    return h;
}

static void draw_title(canvas *c, const char *title)
{
    if (title && title[0]) canvas_text(c, c->width / 2 - text_width(title, 3) / 2, 16, title, black, 3);
}

/* [lo, hi] widened by `pad` of its span on each side; a single value gets +-10 % of itself (+-0.5 at 0). */
static void padded_range(double lo, double hi, double pad, double *out_lo, double *out_hi)
{
    double span = hi - lo;
    if (!(span > 0)) {
        span = fabs(lo) > 0 ? fabs(lo) * 0.2 : 1.0;
        pad = 0.5;
    }
    *out_lo = lo - pad * span;
    *out_hi = hi + pad * span;
}

/* ---- loss curve ---------------------------------------------------------------------------- */

static rgb8 lighten(rgb8 c, float amount)
{
    rgb8 r = {mix(c.r, 255, amount), mix(c.g, 255, amount), mix(c.b, 255, amount)};
    return r;
}

/* Connect consecutive finite values of y (x = index + 1), breaking the line at gaps. */
static void draw_series(canvas *c, const plot_axes *a, const double *y, size_t n, double width, rgb8 color)
{
    int have = 0;
    double px = 0, py = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            have = 0;
            continue;
        }
        double qx = axes_px(a, (double)(i + 1)), qy = axes_py(a, y[i]);
        if (have)
            canvas_line(c, px, py, qx, qy, width, color, 1.0f);
        else
            canvas_disc(c, qx, qy, width / 2, color, 1.0f); /* a lone point stays visible */
        px = qx;
        py = qy;
        have = 1;
    }
}

int plot_loss_curve_smoothed(const char *path, const float *loss, size_t n, const char *title, size_t window)
{
    if (!path) return ex_fail(LCT_EINVAL, "plot_loss_curve: 'path' is NULL");
    if (!loss) return ex_fail(LCT_EINVAL, "plot_loss_curve: 'loss' is NULL");
    if (n == 0) return ex_fail(LCT_EINVAL, "plot_loss_curve: n is 0");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(loss[i])) {
            lo = fmin(lo, loss[i]);
            hi = fmax(hi, loss[i]);
        }
    if (!(lo <= hi)) return ex_fail(LCT_EINVAL, "plot_loss_curve: none of the %zu values is finite", n);
    if (window == 0) window = n / 50;
    if (window >= 3 && window % 2 == 0) window++; /* centred windows have odd length */
    if (window > n) window = n % 2 ? n : n - 1;

    double *raw = malloc(n * sizeof *raw), *avg = NULL, *prefix = NULL;
    size_t *count = NULL;
    if (!raw) return ex_fail(LCT_ENOMEM, "plot_loss_curve: out of memory");
    for (size_t i = 0; i < n; i++) raw[i] = isfinite(loss[i]) ? loss[i] : NAN;
    int smooth = window >= 3;
    if (smooth) {
        /* Centred moving average of the finite values, from prefix sums. */
        avg = malloc(n * sizeof *avg);
        prefix = malloc((n + 1) * sizeof *prefix);
        count = malloc((n + 1) * sizeof *count);
        if (!avg || !prefix || !count) {
            free(raw), free(avg), free(prefix), free(count);
            return ex_fail(LCT_ENOMEM, "plot_loss_curve: out of memory");
        }
        prefix[0] = 0;
        count[0] = 0;
        for (size_t i = 0; i < n; i++) {
            int ok = isfinite(raw[i]);
            prefix[i + 1] = prefix[i] + (ok ? raw[i] : 0);
            count[i + 1] = count[i] + (size_t)ok;
        }
        for (size_t i = 0; i < n; i++) {
            /* Symmetric about i, narrowing near both ends: no lag and no flat start. */
            size_t half = (window - 1) / 2;
            if (half > i) half = i;
            if (half > n - 1 - i) half = n - 1 - i;
            size_t a = i - half, b = i + half + 1;
            size_t k = count[b] - count[a];
            avg[i] = k ? (prefix[b] - prefix[a]) / (double)k : NAN;
        }
    }

    canvas c;
    int rc = canvas_init(&c, 960, 600, white);
    if (rc == 0) {
        plot_axes a = {.top = 64, .height = 600 - 64 - 100, .x_integer = 1};
        padded_range(lo, hi, 0.05, &a.y0, &a.y1);
        a.left = y_margin(a.y0, a.y1) > 110 ? y_margin(a.y0, a.y1) : 110;
        a.width = 960 - a.left - 36;
        a.x0 = n > 1 ? 1 : 0.5;
        a.x1 = n > 1 ? (double)n : 1.5;
        draw_title(&c, title);
        plot_draw_axes(&c, &a, "STEP", "LOSS");
        rgb8 blue = plot_palette[0];
        draw_series(&c, &a, raw, n, smooth ? 1.2 : 2.0, smooth ? lighten(blue, 0.6f) : blue);
        if (smooth) {
            draw_series(&c, &a, avg, n, 2.6, blue);
            char avg_name[64];
            snprintf(avg_name, sizeof avg_name, "MEAN OF %zu STEPS", window);
            const char *names[2] = {"PER STEP", avg_name};
            rgb8 colors[2] = {lighten(blue, 0.6f), blue};
            int lw = 10 + 16 + 8 + text_width(avg_name, 2) + 10;
            plot_legend(&c, a.left + a.width - lw - 12, a.top + 12, names, colors, 2, 1, 2);
        }
        rc = canvas_write_png(&c, path);
        canvas_release(&c);
    }
    free(raw), free(avg), free(prefix), free(count);
    return rc;
}

int plot_loss_curve(const char *path, const float *loss, size_t n, const char *title)
{
    return plot_loss_curve_smoothed(path, loss, n, title, 0);
}

/* ---- several series; a histogram ------------------------------------------------------------ */

int plot_series(const char *path, const double *ys, size_t n, int series, const char *const *names,
                const char *title, const char *xlabel, const char *ylabel)
{
    if (!path || !ys) return ex_fail(LCT_EINVAL, "plot_series: 'path' or 'ys' is NULL");
    if (n == 0 || series < 1 || series > 10)
        return ex_fail(LCT_EINVAL, "plot_series: %zu points of %d series (1..10 series)", n, series);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n * (size_t)series; i++)
        if (isfinite(ys[i])) lo = fmin(lo, ys[i]), hi = fmax(hi, ys[i]);
    if (!(lo <= hi)) return ex_fail(LCT_EINVAL, "plot_series: no finite value");
    canvas c;
    int rc = canvas_init(&c, 960, 600, white);
    if (rc) return rc;
    plot_axes a = {.top = 64, .height = 600 - 64 - 100, .x_integer = 1};
    padded_range(lo, hi, 0.08, &a.y0, &a.y1);
    a.left = y_margin(a.y0, a.y1) > 110 ? y_margin(a.y0, a.y1) : 110;
    a.width = 960 - a.left - 36;
    a.x0 = 0.75;
    a.x1 = (double)n + 0.25;
    draw_title(&c, title);
    plot_draw_axes(&c, &a, xlabel, ylabel);
    for (int s = 0; s < series; s++) {
        const double *y = ys + (size_t)s * n;
        draw_series(&c, &a, y, n, 2.6, plot_palette[s]);
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i])) canvas_disc(&c, axes_px(&a, (double)(i + 1)), axes_py(&a, y[i]), 5.0, plot_palette[s], 1.0f);
    }
    if (names) {
        int widest = 0;
        for (int s = 0; s < series; s++) widest = text_width(names[s], 2) > widest ? text_width(names[s], 2) : widest;
        int lw = 10 + 16 + 8 + widest + 10;
        plot_legend(&c, a.left + a.width - lw - 12, a.top + 12, names, plot_palette, series, 1, 2);
    }
    rc = canvas_write_png(&c, path);
    canvas_release(&c);
    return rc;
}

int plot_histogram(const char *path, const double *values, size_t n, int bins, double xmax, double marker,
                   const char *title, const char *xlabel)
{
    if (!path || !values) return ex_fail(LCT_EINVAL, "plot_histogram: 'path' or 'values' is NULL");
    if (n == 0 || bins < 1 || bins > 1000) return ex_fail(LCT_EINVAL, "plot_histogram: %zu values, %d bins", n, bins);
    double hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) hi = fmax(hi, values[i]);
    if (isfinite(marker)) hi = fmax(hi, marker);
    if (xmax > 0 && hi > xmax) hi = xmax; /* the values above fall in the last bin */
    if (!(hi > -INFINITY)) return ex_fail(LCT_EINVAL, "plot_histogram: no finite value");
    if (!(hi > 0)) hi = 1;
    double *frac = calloc((size_t)bins, sizeof *frac), top = 0;
    if (!frac) return ex_fail(LCT_ENOMEM, "plot_histogram: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        int b = (int)(fmax(values[i], 0.0) / hi * bins);
        frac[b < bins ? b : bins - 1] += 1.0 / (double)n;
    }
    for (int b = 0; b < bins; b++) top = fmax(top, frac[b]);
    canvas c;
    int rc = canvas_init(&c, 960, 600, white);
    if (rc == 0) {
        plot_axes a = {.top = 64, .height = 600 - 64 - 100, .x0 = 0, .x1 = hi * 1.02, .y0 = 0, .y1 = top * 1.08};
        a.left = y_margin(a.y0, a.y1) > 110 ? y_margin(a.y0, a.y1) : 110;
        a.width = 960 - a.left - 36;
        draw_title(&c, title);
        plot_draw_axes(&c, &a, xlabel, "FRACTION");
        for (int b = 0; b < bins; b++) {
            if (frac[b] <= 0) continue;
            int x0 = (int)lrint(axes_px(&a, hi * b / bins)), x1 = (int)lrint(axes_px(&a, hi * (b + 1) / bins));
            int y0 = (int)lrint(axes_py(&a, frac[b])), y1 = (int)lrint(axes_py(&a, 0));
            canvas_fill_rect(&c, x0, y0, x1 - x0 > 1 ? x1 - x0 - 1 : 1, y1 - y0 + 1, plot_palette[0]);
        }
        if (isfinite(marker)) {
            double px = axes_px(&a, marker);
            canvas_line(&c, px, a.top, px, a.top + a.height - 1, 2.5, plot_palette[3], 1.0f);
        }
        rc = canvas_write_png(&c, path);
        canvas_release(&c);
    }
    free(frac);
    return rc;
}

/* ---- embedding scatter --------------------------------------------------------------------- */

int plot_embedding_2d_labeled(const char *path, const float *xy, const int32_t *labels, size_t n, int n_classes,
                              const char *const *class_names, const char *title, const char *xlabel,
                              const char *ylabel)
{
    if (!path) return ex_fail(LCT_EINVAL, "plot_embedding_2d: 'path' is NULL");
    if (!xy) return ex_fail(LCT_EINVAL, "plot_embedding_2d: 'xy' is NULL");
    if (n == 0) return ex_fail(LCT_EINVAL, "plot_embedding_2d: n is 0");
    if (labels && (n_classes < 1 || n_classes > 10))
        return ex_fail(LCT_EINVAL, "plot_embedding_2d: n_classes is %d (1..10)", n_classes);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
    }
    if (!(xlo <= xhi)) return ex_fail(LCT_EINVAL, "plot_embedding_2d: none of the %zu points is finite", n);

    char names_buf[10][32];
    const char *names[10];
    int legend_w = 0, n_legend = labels ? n_classes : 0;
    for (int k = 0; k < n_legend; k++) {
        if (class_names && class_names[k]) {
            names[k] = class_names[k];
        } else {
            snprintf(names_buf[k], sizeof names_buf[k], "CLASS %d", k);
            names[k] = names_buf[k];
        }
        int w = 10 + 16 + 8 + text_width(names[k], 2) + 10;
        if (w > legend_w) legend_w = w;
    }

    const int W = 1100, H = 800;
    canvas c;
    int rc = canvas_init(&c, W, H, white);
    if (rc) return rc;
    plot_axes a = {.top = 64, .height = H - 64 - 100};
    padded_range(xlo, xhi, 0.03, &a.x0, &a.x1);
    padded_range(ylo, yhi, 0.03, &a.y0, &a.y1);
    a.left = y_margin(a.y0, a.y1) > 110 ? y_margin(a.y0, a.y1) : 110;
    a.width = W - a.left - 36 - (legend_w ? legend_w + 24 : 0);
    draw_title(&c, title);
    plot_draw_axes(&c, &a, xlabel ? xlabel : "COMPONENT 1", ylabel ? ylabel : "COMPONENT 2");

    /* Visit the points with a stride coprime to n: a permutation that interleaves the classes. */
    size_t stride = n > 2 ? (size_t)(0.618 * (double)n) | 1 : 1;
    while (ex_gcd(stride, n) != 1) stride++;
    double r = n <= 2000 ? 3.2 : n <= 20000 ? 2.4 : 1.6;
    rgb8 grey = {160, 160, 160};
    for (size_t k = 0, i = 0; k < n; k++, i = (i + stride) % n) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        rgb8 col = !labels ? plot_palette[0] : labels[i] >= 0 && labels[i] < n_classes ? plot_palette[labels[i]] : grey;
        canvas_disc(&c, axes_px(&a, x), axes_py(&a, y), r, col, 0.7f);
    }
    if (n_legend) plot_legend(&c, a.left + a.width + 24, a.top, names, plot_palette, n_legend, 0, 2);
    rc = canvas_write_png(&c, path);
    canvas_release(&c);
    return rc;
}

int plot_embedding_2d(const char *path, const float *xy, const int32_t *labels, size_t n, int n_classes,
                      const char *const *class_names, const char *title)
{
    return plot_embedding_2d_labeled(path, xy, labels, n, n_classes, class_names, title, NULL, NULL);
}
