/* Progress line / log lines for training loops. */
#include "progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void progress_format_eta(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, size, "--:--");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%02ld:%02ld", s / 60, s % 60);
}

double progress_rate(double samples, double seconds)
{
    return seconds > 0 ? samples / seconds : 0.0;
}

double progress_eta(size_t done, size_t total, double elapsed)
{
    if (done == 0) return -1.0;
    return done >= total ? 0.0 : elapsed / (double)done * (double)(total - done);
}

int progress_format_line(char *buf, size_t size, int epoch, int epochs, size_t step, size_t steps, double loss,
                         double samples_per_s, double eta_s, int bar_width)
{
    char bar[256] = "", eta[32];
    if (bar_width > 0) {
        if (bar_width > 200) bar_width = 200;
        int fill = steps ? (int)((double)bar_width * (double)(step < steps ? step : steps) / (double)steps) : 0;
        bar[0] = '[';
        for (int i = 0; i < bar_width; i++) bar[1 + i] = i < fill ? '#' : '.';
        bar[1 + bar_width] = ']';
        bar[2 + bar_width] = ' ';
        bar[3 + bar_width] = '\0';
    }
    progress_format_eta(eta_s, eta, sizeof eta);
    return snprintf(buf, size, "epoch %d/%d step %zu/%zu %sloss %.4f samples/s %.0f ETA %s", epoch, epochs, step,
                    steps, bar, loss, samples_per_s, eta);
}

int progress_log_due(size_t step, size_t steps, int *last_tenth)
{
    if (steps == 0) return 0;
    if (step >= steps) {
        *last_tenth = 10;
        return 1;
    }
    int tenth = (int)((double)step * 10.0 / (double)steps);
    if (tenth > *last_tenth) {
        *last_tenth = tenth;
        return 1;
    }
    return 0;
}

void progress_init(progress *p, FILE *out, int epochs, size_t steps, size_t batch)
{
    memset(p, 0, sizeof *p);
    p->out = out ? out : stdout;
    p->tty = isatty(fileno(p->out));
    p->epochs = epochs;
    p->steps = steps;
    p->batch = batch;
    p->clock = monotonic_seconds;
    p->started = p->last_event = p->clock();
    p->last_draw = -1e300;
}

void progress_epoch_begin(progress *p)
{
    p->last_event = p->clock();
}

void progress_update(progress *p, int epoch, size_t step, double loss)
{
    double now = p->clock();
    if (epoch != p->epoch) {
        p->epoch = epoch;
        p->started = p->last_event; /* the epoch began right after the previous report */
        p->last_tenth = 0;
    }
    p->last_event = now;
    double elapsed = now - p->started;
    /* ETA: the current epoch's pace applied to every step still to come, this epoch and later. */
    size_t left_epochs = epoch < p->epochs ? (size_t)(p->epochs - epoch) : 0;
    double eta = progress_eta(step, p->steps, elapsed);
    if (eta >= 0 && step > 0) eta += elapsed / (double)step * (double)(left_epochs * p->steps);
    double rate = progress_rate((double)step * (double)p->batch, elapsed);
    int last = step >= p->steps;
    char line[512];
    if (p->tty) {
        if (!last && now - p->last_draw < 0.1) return;
        p->last_draw = now;
        progress_format_line(line, sizeof line, epoch, p->epochs, step, p->steps, loss, rate, eta,
                             PROGRESS_BAR_WIDTH);
        fprintf(p->out, "\r%s\033[K%s", line, last ? "\n" : "");
    } else {
        if (!progress_log_due(step, p->steps, &p->last_tenth)) return;
        progress_format_line(line, sizeof line, epoch, p->epochs, step, p->steps, loss, rate, eta, 0);
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}
