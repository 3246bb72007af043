/* lct-info: shows the runtime libcontrast sets up on this machine and what its GEMM does. */
#include <libcontrast/libcontrast.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    unsigned threads = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    lct_runtime_options opts;
    lct_runtime_options_init(&opts, LCT_RUNTIME_OPTIONS_VERSION);
    opts.threads = threads;
    lct_runtime *rt;
    int rc = lct_runtime_new(&rt, &opts);
    if (rc != LCT_OK) {
        fprintf(stderr, "lct-info: %s (%s)\n", lct_error_last(), lct_status_string(rc));
        return 1;
    }
    int source;
    const char *kernel = lct_runtime_kernel(rt, &source);
    static const char *sources[] = {"chosen by libcontrast", "from BLIS_ARCH_TYPE", "BLIS's own choice"};
    printf("libcontrast %s (headers %s)\n", lct_version_string(), LCT_VERSION_STRING);
    printf("BLIS kernels: %s (%s)\n", kernel, sources[source]);
    printf("threads: %d\n", lct_runtime_threads(rt));

    const size_t n = 1024;
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *c = malloc(n * n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n * n; i++) {
        a[i] = (float)(i % 17) / 17.0f;
        b[i] = (float)(i % 13) / 13.0f;
    }
    lct_gemm(rt, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    int reps = 5;
    double t0 = seconds();
    for (int r = 0; r < reps; r++) lct_gemm(rt, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double dt = seconds() - t0;
    printf("sgemm 1024x1024x1024: %.1f GFLOP/s\n", 2.0 * (double)n * n * n * reps / dt / 1e9);
    free(a);
    free(b);
    free(c);
    lct_runtime_free(rt);
    return 0;
}
