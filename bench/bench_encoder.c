/*
 * lct-bench encoder: one training step (forward + backward + SGD with momentum)
 * at batch 256 for an MLP and a small CNN on 1×28×28 inputs, against the same
 * models in PyTorch (bench/peer_encoder.py, run with /usr/bin/python3 in the
 * same run with the same thread count), plus the achieved GFLOP/s as a fraction
 * of the sgemm peak measured in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

typedef struct model {
    const char *name;
    const char *spec;
} model;

static const model models[] = {
    {"mlp", "in 784; linear 1024; bn; relu; linear 1024; bn; relu; linear 128"},
    {"cnn", "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; flatten; "
            "linear 512; relu; linear 128"},
};

/* Multiply-add FLOPs of one step: every GEMM-shaped layer counted 3× (forward, dW, dx) except the first dx. */
static double step_flops(const char *name, double b)
{
    if (strcmp(name, "mlp") == 0) {
        double f1 = 2 * b * 784 * 1024, f2 = 2 * b * 1024 * 1024, f3 = 2 * b * 1024 * 128;
        return 2 * f1 + 3 * f2 + 3 * f3;
    }
    double c1 = 2 * b * 32 * 9 * 784, c2 = 2 * b * 64 * 288 * 196, l1 = 2 * b * 3136 * 512, l2 = 2 * b * 512 * 128;
    return 2 * c1 + 3 * c2 + 3 * l1 + 3 * l2;
}

static double sgemm_peak(lct_runtime *rt)
{
    size_t n = 1024;
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *c = malloc(n * n * sizeof *c);
    for (size_t i = 0; i < n * n; i++) {
        a[i] = (float)(i % 17) / 17.0f;
        b[i] = (float)(i % 13) / 13.0f;
    }
    lct_gemm(rt, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_seconds();
        lct_gemm(rt, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * n / (bench_seconds() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static void die(const char *what)
{
    fprintf(stderr, "lct-bench encoder: %s: %s\n", what, lct_error_last());
    exit(1);
}

/* CPU time of the whole process (every thread): on a loaded machine, at one thread, it still measures the work. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best samples/s over 3 rounds of seconds/3 each, after 3 warm-up steps; *cpu_ms: the best round's CPU
 * milliseconds per step. */
static double run_lib(lct_runtime *rt, const model *m, size_t batch, double seconds, int precision, double *cpu_ms)
{
    lct_encoder *enc;
    if (lct_encoder_new_from_spec(&enc, rt, m->spec, NULL) != LCT_OK) die("encoder");
    if (lct_encoder_set_precision(enc, precision) != LCT_OK) die("precision");
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.momentum = 0.9;
    oo.lr = 1e-5; /* the step repeats one fixed gradient; a larger rate drives the weights to Inf */
    lct_optimizer *opt;
    if (lct_optimizer_new(&opt, rt, &oo) != LCT_OK || lct_optimizer_attach(opt, lct_encoder_params(enc)) != LCT_OK)
        die("optimizer");
    size_t in, out;
    lct_encoder_input_size(enc, &in);
    lct_encoder_output_size(enc, &out);
    float *x = malloc(batch * in * sizeof *x), *y = malloc(batch * out * sizeof *y), *dy = malloc(batch * out * sizeof *dy);
    for (size_t i = 0; i < batch * in; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (size_t i = 0; i < batch * out; i++) dy[i] = ((float)((i * 104729) % 1000) / 500.0f - 1.0f) / (float)batch;
    double best = 0;
    *cpu_ms = 0;
    for (int r = -1; r < 3; r++) {
        int n = 0;
        double t0 = bench_seconds(), c0 = cpu_seconds(), dt;
        do {
            if (lct_optimizer_zero_grad(opt) || lct_encoder_forward(enc, x, batch, y) ||
                lct_encoder_backward(enc, dy, batch, NULL) || lct_optimizer_step(opt))
                die("step");
            n++;
            dt = bench_seconds() - t0;
        } while (r >= 0 ? dt < seconds / 3 : n < 3);
        if (r >= 0 && n * (double)batch / dt > best) best = n * (double)batch / dt;
        double c = (cpu_seconds() - c0) * 1e3 / n;
        if (r >= 0 && (*cpu_ms == 0 || c < *cpu_ms)) *cpu_ms = c;
    }
    free(x);
    free(y);
    free(dy);
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    return best;
}

int bench_encoder(int argc, char **argv)
{
    size_t batch = 256;
    double seconds = 3.0;
    int peer = 1, tmin = 1, tmax = 2, repeat = 3, cpu = 0, precision = LCT_PRECISION_FP32;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) tmin = tmax = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-peer") == 0) peer = 0;
        else if (strcmp(argv[i], "--cpu") == 0) cpu = 1;
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc && strcmp(argv[i + 1], "fp32") == 0) i++;
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc && strcmp(argv[i + 1], "bf16") == 0)
            precision = LCT_PRECISION_BF16, i++;
        else {
            fprintf(stderr, "usage: lct-bench encoder [--batch N] [--seconds S] [--threads N] [--model mlp|cnn] [--repeat N] [--precision fp32|bf16] [--no-peer] [--cpu]\n");
            return 2;
        }
    }
    if (batch < 2 || seconds <= 0 || tmin < 1 || tmin > 256 || repeat < 1 || repeat > 10) {
        fprintf(stderr, "lct-bench encoder: bad --batch, --seconds or --threads\n");
        return 2;
    }
    int torch = peer && bench_have_torch();
    lct_runtime *rt = bench_runtime((unsigned)tmin, 0);
    char peer_info[256] = "not run";
    printf("lct-bench encoder: forward + backward + SGD(momentum 0.9) step, batch %zu; libcontrast and PyTorch run\n"
           "alternately %d times, each time best of 3 rounds of %.1f s; the best of each is shown. sgemm peak: best\n"
           "1024^3 lct_gemm before each run.\n",
           batch, repeat, seconds / 3);
    bench_print_isa();
    printf("libcontrast BLIS kernels: %s; PyTorch peer: %s\n", lct_runtime_kernel(rt, NULL),
           torch ? "/usr/bin/python3 bench/peer_encoder.py"
                 : "skipped (no torch in /usr/bin/python3, or --no-peer)");
    if (precision == LCT_PRECISION_BF16)
        printf("Precision bf16: libcontrast's linear layers on AMX tiles (lct_encoder_set_precision), PyTorch under\n"
               "torch.autocast(\"cpu\", torch.bfloat16); %% of peak is against the fp32 sgemm peak.\n");
    printf("\n");
    printf("| model | threads | libcontrast samples/s | PyTorch samples/s | ratio | GFLOP/s | sgemm peak GFLOP/s | %% of peak |%s\n",
           cpu ? " libcontrast CPU ms/step |" : "");
    printf("|---|---|---|---|---|---|---|---|%s\n", cpu ? "---|" : "");
    for (int t = tmin; t <= tmax; t++) {
        lct_runtime_set_threads(rt, (uint32_t)t);
        for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
            if (only && strcmp(only, models[k].name) != 0) continue;
            double lib = 0, py = 0, peak = 0, cpu_ms = 0;
            for (int r = 0; r < repeat; r++) {
                double c, pk = sgemm_peak(rt), l = run_lib(rt, &models[k], batch, seconds, precision, &c), q = 0;
                if (cpu_ms == 0 || c < cpu_ms) cpu_ms = c;
                if (pk > peak) peak = pk;
                if (l > lib) lib = l;
                if (torch) {
                    char cmd[1024], out[512];
                    snprintf(cmd, sizeof cmd,
                             "BLIS_ARCH_TYPE=%s OMP_NUM_THREADS=%d /usr/bin/python3 '%s/peer_encoder.py' --model %s "
                             "--threads %d --batch %zu --seconds %g --precision %s 2>/dev/null",
                             bench_peer_arch(), t, bench_dir(), models[k].name, t, batch, seconds,
                             precision == LCT_PRECISION_BF16 ? "bf16" : "fp32");
                    char ver[64], blas[160];
                    if (bench_run_capture(cmd, out, sizeof out) == 0 && sscanf(out, "%lf %63s %159s", &q, ver, blas) == 3)
                        snprintf(peer_info, sizeof peer_info, "torch %s, %s", ver, blas);
                    else
                        q = 0;
                }
                if (q > py) py = q;
            }
            double gf = step_flops(models[k].name, (double)batch) * lib / (double)batch / 1e9;
            char pys[32] = "-", ratio[32] = "-";
            if (py > 0) {
                snprintf(pys, sizeof pys, "%.0f", py);
                snprintf(ratio, sizeof ratio, "%.2fx", lib / py);
            }
            printf("| %s | %d | %.0f | %s | %s | %.1f | %.1f | %.0f%% |", models[k].name, t, lib, pys, ratio, gf, peak,
                   100 * gf / peak);
            if (cpu) printf(" %.2f |", cpu_ms);
            printf("\n");
            fflush(stdout);
        }
    }
    printf("\nPeer: %s. Peak RSS of this process: %.0f MiB.\n", peer_info, bench_peak_rss_mib());
    lct_runtime_free(rt);
    return 0;
}
