/*
 * lct-bench bank: one InstDisc memory-bank step (sampling K negatives per
 * sample, similarities of the batch with its positive and negatives, momentum
 * update of the batch's rows) at N = 60,000 and N = 1,281,167, and weighted
 * kNN of 10,000 queries against 60,000 rows; side by side with the same
 * operations written as the original InstDisc PyTorch code (bench/peer_bank.py),
 * run in the same invocation with the same thread count.
 *
 * options: --threads N (default 2)  --steps S (default 10)  --no-peer  --small (N = 60,000 only)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define D 128
#define B 256
#define K 4096
#define KNN_Q 10000
#define KNN_N 60000
#define KNN_K 200
#define KNN_TAU 0.07f
#define KNN_CLASSES 10

static void die(const char *what)
{
    fprintf(stderr, "lct-bench bank: %s: %s\n", what, lct_error_last());
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "lct-bench bank: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t lcg = 88172645463325252ull;
static float urand(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) * 0x1p-24f;
}

static void random_unit_rows(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = 2.0f * urand() - 1.0f;
            ss += (double)x[i * d + j] * x[i * d + j];
        }
        float s = (float)(1.0 / sqrt(ss));
        for (size_t j = 0; j < d; j++) x[i * d + j] *= s;
    }
}

/* CPU seconds of this process (all threads): less sensitive than wall time to a busy machine. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n timings: the machine is shared, so one slow step says little. */
static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct {
    lct_bank *bank;
    float *f, *sim;
    int64_t *pos, *neg;
    size_t n;
    int mode;
} step_ctx;

static void one_step(step_ctx *c)
{
    for (size_t b = 0; b < B; b++) c->pos[b] = (int64_t)(urand() * (float)c->n) % (int64_t)c->n;
    if (lct_bank_sample(c->bank, c->pos, B, K, c->mode, c->neg) != LCT_OK) die("sample");
    if (lct_bank_similarity(c->bank, c->f, B, c->pos, c->neg, K, c->mode, c->sim) != LCT_OK) die("similarity");
    if (lct_bank_update(c->bank, c->f, c->pos, B, 0.5f) != LCT_OK) die("update");
}

/* Median wall and CPU seconds per step of the library at bank size n. */
static double lib_step(lct_runtime *rt, size_t n, int storage, int mode, int steps, double *cpu)
{
    lct_bank_options o;
    lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
    o.storage = storage;
    step_ctx c = {NULL, xmalloc(B * D * 4), xmalloc((size_t)B * (K + 1) * 4), xmalloc(B * 8),
                  xmalloc((size_t)B * K * 8), n, mode};
    if (lct_bank_new(&c.bank, rt, n, D, &o) != LCT_OK) die("bank_new");
    random_unit_rows(c.f, B, D);
    one_step(&c); /* sizes the workspaces */
    double *t = xmalloc((size_t)steps * sizeof *t), *u = xmalloc((size_t)steps * sizeof *u);
    for (int s = 0; s < steps; s++) {
        double t0 = bench_seconds(), u0 = cpu_seconds();
        one_step(&c);
        t[s] = bench_seconds() - t0;
        u[s] = cpu_seconds() - u0;
    }
    double dt = median(t, steps);
    *cpu = median(u, steps);
    free(t);
    free(u);
    lct_bank_free(c.bank);
    free(c.f);
    free(c.sim);
    free(c.pos);
    free(c.neg);
    return dt;
}

/* One table row: wall and CPU figures of both sides and their ratios ("-" where the peer has none). */
static void row(const char *what, const char *unit, double scale, double lib, double peer, double lib_cpu,
                double peer_cpu)
{
    printf("| %s | %.2f %s |", what, lib * scale, unit);
    if (peer > 0) printf(" %.2f %s | %.1fx |", peer * scale, unit, peer / lib);
    else printf(" - | - |");
    printf(" %.2f %s |", lib_cpu * scale, unit);
    if (peer_cpu > 0) printf(" %.2f %s | %.1fx |\n", peer_cpu * scale, unit, peer_cpu / lib_cpu);
    else printf(" - | - |\n");
}

static int write_file(const char *path, const void *p, size_t bytes)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) return -1;
    size_t w = fwrite(p, 1, bytes, fp);
    return fclose(fp) == 0 && w == bytes ? 0 : -1;
}

int bench_bank(int argc, char **argv)
{
    unsigned threads = 2;
    int steps = 10, peer = 1, small = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-peer") == 0) peer = 0;
        else if (strcmp(argv[i], "--small") == 0) small = 1;
        else {
            fprintf(stderr, "usage: lct-bench bank [--threads N] [--steps S] [--no-peer] [--small]\n");
            return 2;
        }
    }
    if (threads < 1 || steps < 1) return 2;
    if (peer && !bench_have_torch()) {
        printf("(python3-torch not found: PyTorch columns left empty)\n");
        peer = 0;
    }
    const size_t sizes[2] = {60000, 1281167};
    int nsizes = small ? 1 : 2;
    lct_runtime *rt = bench_runtime(threads, 1);

    /* kNN data, shared with the peer through files so both classify the same points. */
    float *feat = xmalloc((size_t)KNN_N * D * 4), *qs = xmalloc((size_t)KNN_Q * D * 4);
    int32_t *labels = xmalloc(KNN_N * 4), *pred = xmalloc(KNN_Q * 4), *ppred = xmalloc(KNN_Q * 4);
    random_unit_rows(feat, KNN_N, D);
    random_unit_rows(qs, KNN_Q, D);
    for (size_t i = 0; i < KNN_N; i++) labels[i] = (int32_t)(urand() * KNN_CLASSES) % KNN_CLASSES;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/tmp/lct-bench-bank-%d", (int)getpid());

    /* The peer runs first, alone on the machine's cores. */
    double p_step[2] = {0, 0}, p_knn = 0, p_rss = 0, p_step_cpu[2] = {0, 0}, p_knn_cpu = 0;
    double agree = -1;
    if (peer) {
        char path[128];
        snprintf(path, sizeof path, "%s.features", prefix);
        int ok = write_file(path, feat, (size_t)KNN_N * D * 4) == 0;
        snprintf(path, sizeof path, "%s.labels", prefix);
        ok = ok && write_file(path, labels, KNN_N * 4) == 0;
        snprintf(path, sizeof path, "%s.queries", prefix);
        ok = ok && write_file(path, qs, (size_t)KNN_Q * D * 4) == 0;
        if (!ok) {
            fprintf(stderr, "lct-bench bank: cannot write the kNN data under /tmp\n");
            return 1;
        }
        char cmd[1024], out[1024];
        snprintf(cmd, sizeof cmd,
                 "BLIS_ARCH_TYPE=%s OMP_NUM_THREADS=%u BLIS_NUM_THREADS=%u /usr/bin/python3 '%s/peer_bank.py' %u %d %d %d "
                 "%d %zu%s --knn %s %d %d %d %d %g %d",
                 bench_peer_arch(), threads, threads, bench_dir(), threads, steps, D, B, K, sizes[0], small ? "" : " 1281167", prefix,
                 KNN_Q, KNN_N, D, KNN_K, (double)KNN_TAU, KNN_CLASSES);
        if (bench_run_capture(cmd, out, sizeof out) != 0) {
            fprintf(stderr, "lct-bench bank: the PyTorch peer failed:\n%s\n", out);
        } else {
            for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                size_t n;
                double v, w;
                if (sscanf(line, "step %zu %lf %lf", &n, &v, &w) == 3) {
                    p_step[n == sizes[0] ? 0 : 1] = v;
                    p_step_cpu[n == sizes[0] ? 0 : 1] = w;
                } else if (sscanf(line, "knn %lf %lf", &v, &w) == 2) {
                    p_knn = v;
                    p_knn_cpu = w;
                }
                else if (sscanf(line, "rss %lf", &v) == 1) p_rss = v;
            }
            snprintf(path, sizeof path, "%s.peer_pred", prefix);
            FILE *fp = fopen(path, "rb");
            if (fp && fread(ppred, 4, KNN_Q, fp) == KNN_Q) agree = 0;
            if (fp) fclose(fp);
            unlink(path);
        }
        const char *ext[] = {"features", "labels", "queries"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s.%s", prefix, ext[i]);
            unlink(path);
        }
    }

    double l_step[2], l_step16[2], l_shared[2], c_step[2], c_step16[2], c_shared[2];
    for (int s = 0; s < nsizes; s++) {
        l_step[s] = lib_step(rt, sizes[s], LCT_BANK_FP32, LCT_BANK_SAMPLE_REPLACE, steps, &c_step[s]);
        l_step16[s] = lib_step(rt, sizes[s], LCT_BANK_FP16, LCT_BANK_SAMPLE_REPLACE, steps, &c_step16[s]);
        l_shared[s] = lib_step(rt, sizes[s], LCT_BANK_FP32, LCT_BANK_SAMPLE_SHARED, steps, &c_shared[s]);
    }
    /* kNN: one warm-up-free run, as an evaluation pass is run once. */
    double t0 = bench_seconds(), u0 = cpu_seconds();
    if (lct_knn_classify(rt, feat, labels, KNN_N, D, qs, KNN_Q, KNN_K, KNN_TAU, KNN_CLASSES, pred, NULL) != LCT_OK)
        die("knn_classify");
    double l_knn = bench_seconds() - t0, c_knn = cpu_seconds() - u0;
    if (agree == 0) {
        size_t same = 0;
        for (size_t i = 0; i < KNN_Q; i++) same += pred[i] == ppred[i];
        agree = 100.0 * (double)same / KNN_Q;
    }

    bench_print_isa();
    printf("lct-bench bank: D = %d, B = %d, K = %d, momentum 0.5; %u threads, median of %d steps; kernels %s\n", D, B, K,
           threads, steps, lct_runtime_kernel(rt, NULL));
    printf("step = sample K negatives per sample + B x (K+1) similarities + momentum update of B rows\n");
    printf("wall-clock and CPU seconds (all threads of the process), medians over the steps\n\n");
    printf("| operation | libcontrast | PyTorch (InstDisc code) | ratio | libcontrast CPU | PyTorch CPU | CPU ratio |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int s = 0; s < nsizes; s++) {
        char what[96];
        snprintf(what, sizeof what, "step, N = %zu, fp32 bank", sizes[s]);
        row(what, "ms", 1e3, l_step[s], p_step[s], c_step[s], p_step_cpu[s]);
        snprintf(what, sizeof what, "step, N = %zu, fp16 bank", sizes[s]);
        row(what, "ms", 1e3, l_step16[s], 0, c_step16[s], 0);
        snprintf(what, sizeof what, "step, N = %zu, shared negatives (one GEMM)", sizes[s]);
        row(what, "ms", 1e3, l_shared[s], 0, c_shared[s], 0);
    }
    char what[96];
    snprintf(what, sizeof what, "kNN, %d queries x %d rows, k = %d", KNN_Q, KNN_N, KNN_K);
    row(what, "s", 1, l_knn, p_knn, c_knn, p_knn_cpu);
    printf("\npeak RSS: libcontrast %.0f MiB", bench_peak_rss_mib());
    if (p_rss > 0) printf(", PyTorch peer %.0f MiB", p_rss);
    printf("\n");
    if (agree >= 0) printf("kNN predictions identical to the peer's for %.2f%% of the queries\n", agree);
    lct_runtime_free(rt);
    free(feat);
    free(qs);
    free(labels);
    free(pred);
    free(ppred);
    return 0;
}
