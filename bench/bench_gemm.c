/*
 * lct-bench gemm: the library's GEMM entry against BLIS's default path.
 * BLIS picks its kernel set once per process, so the default path runs in a
 * child process (this program, re-executed with --blis-default) that calls
 * BLIS directly, without libcontrast's kernel selection.
 */
#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

typedef void (*gemm_fn)(void *ctx, size_t m, size_t n, size_t k, const float *a, const float *b, float *c);

static void lib_gemm(void *ctx, size_t m, size_t n, size_t k, const float *a, const float *b, float *c)
{
    lct_gemm((lct_runtime *)ctx, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}

static void blis_gemm(void *ctx, size_t m, size_t n, size_t k, const float *a, const float *b, float *c)
{
    rntm_t *rntm = ctx;
    float one = 1.0f, zero = 0.0f;
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, (float *)a, (inc_t)k, 1,
                 (float *)b, (inc_t)n, 1, &zero, c, (inc_t)n, 1, NULL, rntm);
}

/* Best GFLOP/s over 3 rounds of at least 0.2 s each. */
static double measure(gemm_fn fn, void *ctx, size_t m, size_t n, size_t k)
{
    float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b), *c = malloc(m * n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "lct-bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < m * k; i++) a[i] = (float)((i * 7) % 23) / 23.0f - 0.5f;
    for (size_t i = 0; i < k * n; i++) b[i] = (float)((i * 5) % 19) / 19.0f - 0.5f;
    fn(ctx, m, n, k, a, b, c);
    double best = 0.0, flop = 2.0 * (double)m * (double)n * (double)k;
    for (int round = 0; round < 3; round++) {
        int reps = 0;
        double t0 = bench_seconds(), dt;
        do {
            fn(ctx, m, n, k, a, b, c);
            reps++;
            dt = bench_seconds() - t0;
        } while (dt < 0.2);
        double g = flop * reps / dt / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static const size_t shapes[][3] = {{256, 784, 1024}, {256, 1024, 1024}, {256, 128, 4096}, {1024, 1024, 1024},
                                    {128, 512, 1028}, {64, 288, 588}}; /* the last two: a CPC and a conv product */

int bench_gemm(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--blis-default") == 0) {
        if (argc != 6) return 2;
        size_t m = strtoul(argv[2], NULL, 10), k = strtoul(argv[3], NULL, 10), n = strtoul(argv[4], NULL, 10);
        rntm_t rntm = BLIS_RNTM_INITIALIZER;
        bli_rntm_set_num_threads_only(atoi(argv[5]), &rntm);
        bli_init();
        printf("%s %.3f\n", bli_arch_string(bli_arch_query_id()), measure(blis_gemm, &rntm, m, n, k));
        return 0;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "lct-bench: cannot find its own executable\n");
        return 1;
    }
    self[len] = '\0';
    lct_runtime *rt = bench_runtime(1, 0);
    printf("lct-bench gemm: C[m x n] = A[m x k] B[k x n], best of 3, GFLOP/s\n");
    printf("libcontrast kernels: %s; BLIS default path: run in a child process without libcontrast\n\n",
           lct_runtime_kernel(rt, NULL));
    printf("| m x k x n | threads | libcontrast | BLIS default (kernels) | ratio |\n");
    printf("|---|---|---|---|---|\n");
    for (unsigned threads = 1; threads <= 2; threads++) {
        lct_runtime_set_threads(rt, threads);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            double lib = measure(lib_gemm, rt, m, n, k);
            char cmd[4400], out[256], arch[64] = "?";
            double def = 0.0;
            snprintf(cmd, sizeof cmd, "env -u BLIS_ARCH_TYPE '%s' gemm --blis-default %zu %zu %zu %u", self, m, k, n,
                     threads);
            if (bench_run_capture(cmd, out, sizeof out) != 0 || sscanf(out, "%63s %lf", arch, &def) != 2) def = 0.0;
            printf("| %zu x %zu x %zu | %u | %.1f | %.1f (%s) | %.2fx |\n", m, k, n, threads, lib, def, arch,
                   def > 0 ? lib / def : 0.0);
            fflush(stdout);
        }
    }
    lct_runtime_free(rt);
    return 0;
}
