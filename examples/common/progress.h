/*
 * Training progress: on a terminal, one line redrawn in place
 *     epoch 2/10 step 120/234 [##########..............] loss 4.3210 samples/s 1234 ETA 02:13
 * and, when the output is not a terminal (a log file, a pipe), plain lines of the same text
 * without the bar at every tenth of an epoch and at its end.
 * The formatting pieces are pure functions, usable (and tested) on their own.
 */
#ifndef LCT_EXAMPLES_PROGRESS_H
#define LCT_EXAMPLES_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#define PROGRESS_BAR_WIDTH 24

typedef struct progress {
    FILE *out;
    int tty;            /* 1: redraw a single line; 0: log lines at a bounded rate */
    int epochs;         /* total epochs */
    size_t steps;       /* steps per epoch */
    size_t batch;       /* samples per step */
    int epoch;          /* epoch of the last update (1-based; 0 before the first) */
    int last_tenth;     /* last tenth of the epoch logged (non-terminal mode) */
    double started;     /* clock at the start of the current epoch */
    double last_event;  /* clock at the last update / init / epoch_begin */
    double last_draw;   /* clock at the last redraw (terminal mode) */
    double (*clock)(void); /* seconds, monotonic; replaceable for tests */
} progress;

/* Set up for `epochs` epochs of `steps` steps of `batch` samples, writing to out (NULL = stdout);
 * terminal mode when isatty(out). */
void progress_init(progress *p, FILE *out, int epochs, size_t steps, size_t batch);

/* Restart the epoch clock (call after work that is not training, e.g. an evaluation); optional:
 * a new epoch otherwise starts timing at the previous update. */
void progress_epoch_begin(progress *p);

/* Report that `step` steps (1..steps) of epoch `epoch` (1..epochs) are done, the last with `loss`.
 * At step == steps the epoch's final line is printed (terminal mode ends it with a newline). */
void progress_update(progress *p, int epoch, size_t step, double loss);

/* ---- pure pieces ------------------------------------------------------------------------ */

/* Seconds as "mm:ss" (rounded), "h:mm:ss" from one hour on, "--:--" when negative or not finite. */
void progress_format_eta(double seconds, char *buf, size_t size);

/* samples / seconds; 0 when seconds <= 0. */
double progress_rate(double samples, double seconds);

/* Seconds left when `done` of `total` steps took `elapsed` seconds at a constant rate;
 * -1 (unknown) when done is 0. */
double progress_eta(size_t done, size_t total, double elapsed);

/* The status line (with a bar of bar_width characters when bar_width > 0) into buf; returns the
 * length snprintf reports. */
int progress_format_line(char *buf, size_t size, int epoch, int epochs, size_t step, size_t steps, double loss,
                         double samples_per_s, double eta_s, int bar_width);

/* Non-terminal mode: 1 when step (1..steps) completes a new tenth of the epoch since *last_tenth
 * (updated), or is the last step. Returns 0 otherwise. */
int progress_log_due(size_t step, size_t steps, int *last_tenth);

#endif
