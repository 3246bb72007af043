/*
 * lct-bench idle: what a runtime costs its host when it has nothing to do. A runtime with N threads
 * runs a few encoder steps (so that its pool's workers exist), then the process sleeps; the CPU time
 * the process uses meanwhile (getrusage) is the pool's idle burn.
 */
#include "bench_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
           1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (d == NULL) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int bench_idle(int argc, char **argv)
{
    unsigned threads = 2;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: lct-bench idle [--threads N] [--seconds S]\n");
            return 2;
        }
    }
    int before = thread_count();
    lct_runtime *rt = bench_runtime(threads, 1);
    lct_encoder *enc = NULL;
    enum { B = 256 };
    if (lct_encoder_new_from_spec(&enc, rt, "in 784; linear 1024; bn; relu; linear 1024; bn; relu; linear 128; l2norm",
                                  NULL) != LCT_OK) {
        fprintf(stderr, "lct-bench idle: %s\n", lct_error_last());
        return 1;
    }
    float *x = calloc((size_t)B * 784, sizeof *x), *y = calloc((size_t)B * 128, sizeof *y);
    for (size_t i = 0; i < (size_t)B * 784; i++) x[i] = (float)(i % 97) / 97.0f;
    for (int s = 0; s < 5; s++) {
        lct_encoder_forward(enc, x, B, y);
        lct_encoder_backward(enc, y, B, NULL);
    }
    int during = thread_count();
    double c0 = cpu_seconds(), t0 = bench_seconds();
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    double used = cpu_seconds() - c0, wall = bench_seconds() - t0;
    printf("lct-bench idle: runtime with %u thread(s), %d thread(s) started by libcontrast; after 5 encoder steps, "
           "%.2f s idle used %.4f s of CPU = %.3f %% of one core\n",
           threads, during - before, wall, used, 100.0 * used / wall);
    free(x), free(y);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    return 0;
}
