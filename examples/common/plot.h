/*
 * Plotting for the examples: an RGB canvas with anti-aliased lines and discs, filled
 * rectangles, text in a built-in 5 x 7 font (rendered upper-case), axes with "nice" tick
 * labels, a legend, and two ready-made figures: a loss curve and a 2-D embedding scatter.
 * Pictures are saved as PNG (png.h).
 */
#ifndef LCT_EXAMPLES_PLOT_H
#define LCT_EXAMPLES_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct rgb8 {
    uint8_t r, g, b;
} rgb8;

/* Ten colours that stay distinguishable from each other on white (class c gets plot_palette[c]). */
extern const rgb8 plot_palette[10];

typedef struct canvas {
    int width, height;
    uint8_t *pixels; /* owned: height rows of width * 3 bytes, top row first */
} canvas;

/* Allocate a width x height canvas (1..16384 each) filled with bg. 0, LCT_EINVAL or LCT_ENOMEM. */
int canvas_init(canvas *c, int width, int height, rgb8 bg);
/* Release the pixels; NULL and released canvases are fine. */
void canvas_release(canvas *c);

/* Blend colour into pixel (x, y) with opacity alpha in [0, 1]; pixels outside are ignored. */
void canvas_blend(canvas *c, int x, int y, rgb8 color, float alpha);
/* Fill the w x h rectangle whose top-left pixel is (x, y), clipped to the canvas. */
void canvas_fill_rect(canvas *c, int x, int y, int w, int h, rgb8 color);
/* Straight line between pixel-centre coordinates, `width` pixels wide, anti-aliased. */
void canvas_line(canvas *c, double x0, double y0, double x1, double y1, double width, rgb8 color, float alpha);
/* Filled disc of radius r centred at (cx, cy), anti-aliased, with opacity alpha. */
void canvas_disc(canvas *c, double cx, double cy, double r, rgb8 color, float alpha);

/* Width in pixels of s drawn at the given scale (each font pixel becomes scale x scale). */
int text_width(const char *s, int scale);
/* Height in pixels of a line of text at the given scale. */
int text_height(int scale);
/* Draw s (upper-cased) with its top-left corner at (x, y). Returns the width drawn. */
int canvas_text(canvas *c, int x, int y, const char *s, rgb8 color, int scale);
/* Draw s turned 90 degrees counter-clockwise (reading upwards); (x, y) is the top-left corner
 * of its bounding box, which is text_height(scale) wide and text_width(s, scale) tall. */
void canvas_text_up(canvas *c, int x, int y, const char *s, rgb8 color, int scale);

/* Save the canvas as an RGB PNG (rgb_write_png()). */
int canvas_write_png(const canvas *c, const char *path);

/* ---- axes ---------------------------------------------------------------------------------- */

/* A plot area in pixels and the data range it shows. */
typedef struct plot_axes {
    int left, top, width, height; /* plot area on the canvas */
    double x0, x1, y0, y1;        /* data coordinates at its left, right, bottom and top edges */
    int x_integer;                /* 1: x ticks only on whole numbers (steps, epochs) */
} plot_axes;

/* Pixel coordinates of data point (x, y). */
double axes_px(const plot_axes *a, double x);
double axes_py(const plot_axes *a, double y);

/*
 * Tick positions for [lo, hi]: a step of 1, 2 or 5 times a power of ten giving at most
 * max_ticks ticks (at least 2 when lo < hi). Writes the first tick (>= lo) and the step;
 * returns the number of ticks, 0 if the range is empty or not finite.
 */
int nice_ticks(double lo, double hi, int max_ticks, double *first, double *step);

/* The ticks plot_draw_axes() puts on the x axis (axis 0: at most 8, whole numbers when
 * a->x_integer) or the y axis (axis 1: at most 7). Returns their number, as nice_ticks(). */
int axes_ticks(const plot_axes *a, int axis, double *first, double *step);

/* Tick label of v with as many decimals as `step` needs ("0.25", "1500", "-3"); scientific
 * notation ("3.00E-07") for steps below 1e-6 or values from 1e9 on. */
void format_tick(double v, double step, char *buf, size_t size);

/* Draw frame, light grid, ticks with labels, and the axis labels (either may be NULL). */
void plot_draw_axes(canvas *c, const plot_axes *a, const char *xlabel, const char *ylabel);

/* A boxed legend with its top-left corner at (x, y): a marker (disc, or a line if `lines`) per
 * entry in colors[i], then names[i]. Returns the legend's height in pixels. */
int plot_legend(canvas *c, int x, int y, const char *const *names, const rgb8 *colors, int n, int lines, int scale);

/* ---- ready-made figures ------------------------------------------------------------------ */

/*
 * Loss per step as a line chart, with axes "STEP" and "LOSS", saved as PNG at path.
 * Non-finite values are skipped. When n is large enough (window >= 3), a centred moving
 * average (narrowing near both ends so that it stays centred) is drawn over a light copy of
 * the raw curve. Returns 0, LCT_EINVAL (NULL path or loss, n = 0, no finite value) or a
 * canvas/PNG error code.
 */
int plot_loss_curve(const char *path, const float *loss, size_t n, const char *title);

/* As plot_loss_curve() with the moving-average window chosen: 0 = automatic (about n / 50),
 * 1 or 2 = raw curve only, w >= 3 = average over w steps (an even w is rounded up to w + 1,
 * so that the window is centred). */
int plot_loss_curve_smoothed(const char *path, const float *loss, size_t n, const char *title, size_t window);

/*
 * `series` line charts over the same x = 1..n (whole numbers), ys[s * n + i] the value of series s at
 * x = i + 1 (non-finite values leave a gap), each in plot_palette[s] with a disc at every point, a
 * legend of `names` (NULL: none, else in the top right corner) and the axis labels given. series 1..10. Returns 0, LCT_EINVAL
 * (NULL path or ys, n = 0, series out of range, no finite value) or a canvas/PNG error code.
 */
int plot_series(const char *path, const double *ys, size_t n, int series, const char *const *names,
                const char *title, const char *xlabel, const char *ylabel);

/*
 * Histogram of n values in `bins` equal bins over [0, max value] (bins 1..1000; over [0, xmax] when
 * xmax > 0 is smaller, the values above it counted in the last bin), the bar heights the fraction of
 * values in each, with a vertical red line at x = marker when it is finite (a limit, a target) and the
 * x-axis label given. Returns 0, LCT_EINVAL (NULL path or values, n = 0, bad bins, no finite value) or a
 * canvas/PNG error code.
 */
int plot_histogram(const char *path, const double *values, size_t n, int bins, double xmax, double marker,
                   const char *title, const char *xlabel);

/*
 * Scatter plot of n points xy[2i], xy[2i+1], point i coloured by class labels[i] (0..n_classes-1,
 * n_classes 1..10; other labels are drawn grey), with a legend of class_names (NULL = "CLASS k").
 * labels may be NULL (one colour, no legend). Axis labels "COMPONENT 1" / "COMPONENT 2".
 * Points are drawn in an interleaved order so that no class hides the others. Returns 0,
 * LCT_EINVAL (NULL path or xy, n = 0, n_classes out of range, no finite point), or a
 * canvas/PNG error code.
 */
int plot_embedding_2d(const char *path, const float *xy, const int32_t *labels, size_t n, int n_classes,
                      const char *const *class_names, const char *title);

/* As plot_embedding_2d() with the axis labels given (NULL = the defaults). */
int plot_embedding_2d_labeled(const char *path, const float *xy, const int32_t *labels, size_t n, int n_classes,
                              const char *const *class_names, const char *title, const char *xlabel,
                              const char *ylabel);

#endif
