/*
 * lct-bench step: one whole training step of each method (augment, forward, loss, backward,
 * optimiser step, bank update) on Fashion-MNIST-shaped data, side by side with the same step in
 * PyTorch (bench/peer_step.py) at the same thread count. Each method runs in a child process of
 * its own, so each peak RSS is that method's alone.
 */
#include "bench_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CNN_SPEC                                                                                         \
    "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; flatten; " \
    "linear 512; relu; linear 128; l2norm"
/* CPC's audio encoder (strides 5,4,2,2,2, kernels 10,8,4,4,4) scaled down: 128 channels instead of 512,
 * 5120-sample windows instead of 20480 (T = 32 latents instead of 128), GRU of 64 instead of 256. */
#define CPC_WINDOW 5120
#define CPC_SIGNAL 5600
#define CPC_SPEC                                                                                         \
    "in 1x5120; conv1d 128 k10 s5 p3; relu; conv1d 128 k8 s4 p2; relu; conv1d 128 k4 s2 p1; relu; "       \
    "conv1d 128 k4 s2 p1; relu; conv1d 128 k4 s2 p1; relu; transpose"
#define CPC_T 32
#define CPC_D 128
#define CPC_H 64
#define CPC_K 12

#define N_ROWS 60000
#define IMG 784
#define POOL 4096 /* distinct synthetic images; sample i shows image i % POOL */

/* CPU seconds of this process (all threads): under a loaded machine a fairer clock than the wall. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct method {
    const char *name;
    size_t batch;
    const char *what;
} method;

static const method methods[] = {
    {"instdisc", 256, "NCE, K=4096, N=60000"},
    {"npsoftmax", 256, "softmax over N=60000"},
    {"invaspread", 128, "2 views, code form"},
    {"cpc", 8, "InfoNCE, K=12 steps, batch negatives"},
    {"cmc", 128, "2 views, 2 encoders, NCE K=4096"},
};

#define CHECK(call)                                                                                      \
    do {                                                                                                 \
        int rc__ = (call);                                                                               \
        if (rc__ != LCT_OK) {                                                                            \
            fprintf(stderr, "lct-bench step: %s failed: %s\n", #call, lct_error_last());                 \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static lct_encoder *make_encoder(lct_runtime *rt, const char *spec)
{
    lct_encoder *enc = NULL;
    CHECK(lct_encoder_new_from_spec(&enc, rt, spec, NULL));
    return enc;
}

static lct_optimizer *make_sgd(lct_runtime *rt, double wd)
{
    lct_optimizer_options o;
    lct_optimizer_options_init(&o, LCT_OPTIMIZER_OPTIONS_VERSION);
    o.kind = LCT_OPTIMIZER_SGD;
    o.lr = 0.03;
    o.momentum = 0.9;
    o.weight_decay = wd;
    lct_optimizer *opt = NULL;
    CHECK(lct_optimizer_new(&opt, rt, &o));
    return opt;
}

static lct_augmenter *make_image_aug(lct_runtime *rt, int preset)
{
    lct_augmenter_options o;
    lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);
    o.input = LCT_AUG_IMAGE_U8;
    o.channels = 1;
    o.height = 28;
    o.width = 28;
    lct_augmenter *aug = NULL;
    CHECK(lct_augmenter_new(&aug, rt, &o));
    CHECK(lct_augmenter_preset(aug, preset));
    return aug;
}

static lct_bank *make_bank(lct_runtime *rt)
{
    lct_bank_options o;
    lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
    o.normalize = 1;
    lct_bank *bank = NULL;
    CHECK(lct_bank_new(&bank, rt, N_ROWS, 128, &o));
    return bank;
}

/* The child: run one method for `steps` timed steps after one warm-up; print samples/s and peak RSS. */
static int host_jobs; /* --host-jobs: run on a host's job system instead of the runtime's pool */

static int run_one(const char *name, unsigned threads, int steps)
{
    const method *m = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strcmp(methods[i].name, name) == 0) m = &methods[i];
    if (m == NULL) return 2;
    lct_runtime *rt = host_jobs ? bench_runtime_host_jobs(threads, 1) : bench_runtime(threads, 1);
    const size_t B = m->batch;
    int is_cpc = strcmp(name, "cpc") == 0, is_cmc = strcmp(name, "cmc") == 0;
    int is_inv = strcmp(name, "invaspread") == 0, is_np = strcmp(name, "npsoftmax") == 0;

    /* synthetic data set */
    size_t in_count = is_cpc ? CPC_SIGNAL : IMG;
    uint8_t *images = NULL;
    float *signals = NULL;
    if (is_cpc) {
        signals = malloc((size_t)POOL / 8 * in_count * sizeof *signals);
        for (size_t i = 0; i < (size_t)POOL / 8 * in_count; i++)
            signals[i] = (float)((double)(mix(i) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    } else {
        images = malloc((size_t)POOL * IMG);
        for (size_t i = 0; i < (size_t)POOL * IMG; i++) images[i] = (uint8_t)(mix(i) >> 56);
    }

    lct_encoder *enc = NULL, *enc2 = NULL, *ar = NULL;
    lct_augmenter *aug = NULL;
    lct_bank *bank = NULL, *bank2 = NULL;
    lct_loss *loss = NULL;
    lct_optimizer *opt = NULL;
    if (is_cpc) {
        enc = make_encoder(rt, CPC_SPEC);
        char spec[64];
        snprintf(spec, sizeof spec, "in %dx%d; gru %d", CPC_T, CPC_D, CPC_H);
        ar = make_encoder(rt, spec);
        lct_augmenter_options o;
        lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);
        o.input = LCT_AUG_SIGNAL_F32;
        o.channels = 1;
        o.height = 1;
        o.width = CPC_SIGNAL;
        o.out_width = CPC_WINDOW;
        CHECK(lct_augmenter_new(&aug, rt, &o));
        CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_CPC));
        lct_loss_infonce_options lo;
        lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION);
        lo.steps = CPC_K;
        CHECK(lct_loss_new_infonce(&loss, rt, CPC_T, CPC_D, CPC_H, &lo));
        lct_optimizer_options oo;
        lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
        oo.kind = LCT_OPTIMIZER_ADAM;
        oo.lr = 2e-4;
        CHECK(lct_optimizer_new(&opt, rt, &oo));
        CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));
        CHECK(lct_optimizer_attach(opt, lct_encoder_params(ar)));
        CHECK(lct_optimizer_attach(opt, lct_loss_params(loss)));
    } else {
        enc = make_encoder(rt, CNN_SPEC);
        aug = make_image_aug(rt, is_inv ? LCT_AUG_PRESET_INVASPREAD : is_cmc ? LCT_AUG_PRESET_CMC
                                                                              : LCT_AUG_PRESET_INSTDISC);
        opt = make_sgd(rt, is_cmc ? 1e-4 : 5e-4);
        CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));
        if (is_cmc) {
            enc2 = make_encoder(rt, CNN_SPEC);
            CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc2)));
            bank = make_bank(rt);
            bank2 = make_bank(rt);
            lct_bank *banks[2] = {bank, bank2};
            lct_loss_cmc_options co;
            lct_loss_cmc_options_init(&co, LCT_LOSS_CMC_OPTIONS_VERSION);
            co.k = 4096;
            CHECK(lct_loss_new_cmc(&loss, rt, 2, 128, banks, &co));
        } else if (is_inv) {
            lct_loss_invaspread_options io;
            lct_loss_invaspread_options_init(&io, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
            io.form = LCT_INVASPREAD_CODE;
            CHECK(lct_loss_new_invaspread(&loss, rt, 128, &io));
        } else {
            bank = make_bank(rt);
            if (is_np) CHECK(lct_loss_new_npsoftmax(&loss, rt, bank, NULL));
            else CHECK(lct_loss_new_nce(&loss, rt, bank, NULL));
        }
    }

    size_t views = (is_inv || is_cmc) ? 2 : 1, out_count = is_cpc ? CPC_WINDOW : IMG;
    size_t emb = is_cpc ? (size_t)CPC_T * CPC_D : 128;
    uint8_t *batch_img = malloc(B * in_count);
    float *batch_sig = malloc(B * in_count * sizeof(float));
    float *x = malloc(views * B * out_count * sizeof(float));
    float *f = malloc(views * B * emb * sizeof(float)), *df = malloc(views * B * emb * sizeof(float));
    float *c = malloc(B * CPC_T * CPC_H * sizeof(float)), *dc = malloc(B * CPC_T * CPC_H * sizeof(float));
    float *dz2 = malloc(B * emb * sizeof(float));
    int64_t *idx = malloc(B * sizeof *idx);
    double t0 = 0.0, c0 = 0.0, loss_time = 0.0;
    float value = 0.0f;
    for (int s = 0; s <= steps; s++) {
        if (s == 1) {
            t0 = bench_seconds();
            c0 = cpu_seconds();
        }
        for (size_t b = 0; b < B; b++) {
            idx[b] = (int64_t)(mix((uint64_t)s * 1000003u + b) % N_ROWS);
            if (is_cpc)
                memcpy(batch_sig + b * in_count, signals + (size_t)(idx[b] % (POOL / 8)) * in_count,
                       in_count * sizeof(float));
            else
                memcpy(batch_img + b * IMG, images + (size_t)(idx[b] % POOL) * IMG, IMG);
        }
        CHECK(lct_optimizer_zero_grad(opt));
        if (is_cpc) {
            CHECK(lct_augmenter_apply(aug, batch_sig, B, 1, x));
            CHECK(lct_encoder_forward(enc, x, B, f));
            CHECK(lct_encoder_forward(ar, f, B, c));
            double tl = bench_seconds();
            CHECK(lct_loss_infonce_compute(loss, f, c, B, &value, df, dc, NULL));
            if (s > 0) loss_time += bench_seconds() - tl;
            CHECK(lct_encoder_backward(ar, dc, B, dz2));
            for (size_t i = 0; i < B * emb; i++) df[i] += dz2[i];
            CHECK(lct_encoder_backward(enc, df, B, NULL));
        } else if (is_inv) {
            /* view-major: first views of the batch, then second views */
            CHECK(lct_augmenter_apply(aug, batch_img, B, 1, x));
            CHECK(lct_augmenter_apply(aug, batch_img, B, 1, x + B * IMG));
            CHECK(lct_encoder_forward(enc, x, 2 * B, f));
            double tl = bench_seconds();
            CHECK(lct_loss_invaspread_compute(loss, f, B, &value, df));
            if (s > 0) loss_time += bench_seconds() - tl;
            CHECK(lct_encoder_backward(enc, df, 2 * B, NULL));
        } else if (is_cmc) {
            CHECK(lct_augmenter_apply(aug, batch_img, B, 1, x));
            CHECK(lct_augmenter_apply(aug, batch_img, B, 1, x + B * IMG));
            CHECK(lct_encoder_forward(enc, x, B, f));
            CHECK(lct_encoder_forward(enc2, x + B * IMG, B, f + B * 128));
            const float *fv[2] = {f, f + B * 128};
            float *dv[2] = {df, df + B * 128};
            double tl = bench_seconds();
            CHECK(lct_loss_cmc_compute(loss, fv, idx, B, &value, dv));
            if (s > 0) loss_time += bench_seconds() - tl;
            CHECK(lct_encoder_backward(enc, df, B, NULL));
            CHECK(lct_encoder_backward(enc2, df + B * 128, B, NULL));
        } else {
            CHECK(lct_augmenter_apply(aug, batch_img, B, 1, x));
            CHECK(lct_encoder_forward(enc, x, B, f));
            double tl = bench_seconds();
            if (is_np) CHECK(lct_loss_npsoftmax_compute(loss, f, idx, B, &value, df));
            else CHECK(lct_loss_nce_compute(loss, f, idx, B, &value, df));
            if (s > 0) loss_time += bench_seconds() - tl;
            CHECK(lct_encoder_backward(enc, df, B, NULL));
        }
        CHECK(lct_optimizer_step(opt));
        if (bank) CHECK(lct_bank_update(bank, f, idx, B, 0.5f));
        if (bank2) CHECK(lct_bank_update(bank2, f + B * 128, idx, B, 0.5f));
    }
    double dt = bench_seconds() - t0, dc_ = cpu_seconds() - c0;
    printf("%.3f %.1f %.5f %.2f %.3f\n", (double)B * steps / dt, bench_peak_rss_mib(), (double)value,
           loss_time / steps * 1e3, (double)B * steps / dc_);
    lct_loss_free(loss);
    lct_optimizer_free(opt);
    lct_bank_free(bank);
    lct_bank_free(bank2);
    lct_augmenter_free(aug);
    lct_encoder_free(enc);
    lct_encoder_free(enc2);
    lct_encoder_free(ar);
    lct_runtime_free(rt);
    free(images);
    free(signals);
    free(batch_img);
    free(batch_sig);
    free(x);
    free(f);
    free(df);
    free(c);
    free(dc);
    free(dz2);
    free(idx);
    return 0;
}

/* A host's own CPU-bound work beside the library (an engine's render or physics thread): processes
 * that spin until the benchmark ends. */
static pid_t busy_pids[64];
static int n_busy;

static void busy_start(int n)
{
    for (n_busy = 0; n_busy < n && n_busy < 64; n_busy++) {
        pid_t pid = fork();
        if (pid == 0) {
            volatile uint64_t x = 0;
            for (;;) x = x * 6364136223846793005ull + 1;
        }
        if (pid < 0) break;
        busy_pids[n_busy] = pid;
    }
}

static void busy_stop(void)
{
    for (int i = 0; i < n_busy; i++) {
        kill(busy_pids[i], SIGKILL);
        waitpid(busy_pids[i], NULL, 0);
    }
    n_busy = 0;
}

int bench_step(int argc, char **argv)
{
    unsigned threads = 2;
    int steps = 3, repeats = 3, busy = 0, peer = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--one") == 0 && i + 1 < argc) return run_one(argv[++i], threads, steps);
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--busy") == 0 && i + 1 < argc) busy = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-peer") == 0) peer = 0;
        else if (strcmp(argv[i], "--host-jobs") == 0) host_jobs = 1;
        else if (argv[i][0] != '-') only = argv[i];
        else {
            fprintf(stderr, "usage: lct-bench step [METHOD] [--threads N] [--steps S] [--repeat R] [--busy B] "
                            "[--no-peer] [--host-jobs]\n"
                            "methods: instdisc npsoftmax invaspread cpc cmc (default: all)\n"
                            "--busy B: B processes spin beside the benchmark, as a host's own threads would\n"
                            "--host-jobs: libcontrast runs on a host's job system (lct_scheduler), not its pool\n");
            return 2;
        }
    }
    /* --one must see the options given before it, so the parent passes them first. */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "lct-bench: cannot find its own executable\n");
        return 1;
    }
    self[len] = '\0';
    int torch = peer && bench_have_torch();
    char load[128] = "?";
    bench_run_capture("cat /proc/loadavg", load, sizeof load);
    load[strcspn(load, "\n")] = '\0';
    busy_start(busy);
    printf("lct-bench step: one training step (augment, forward, loss, backward, optimiser, bank update),\n");
    printf("Fashion-MNIST-shaped 1x28x28 u8 images through the CNN of the encoder benchmark (CPC: 1x5120\n");
    if (repeats < 1) repeats = 1;
    printf("signals, conv1d 128 ch, GRU 64, K=12); %u thread(s), %d timed steps after 1 warm-up; libcontrast and\n"
           "PyTorch run alternately %d times, each in a fresh process, and the best run of each is shown; load %s\n",
           threads, steps, repeats, load);
    if (busy) printf("%d CPU-bound process(es) spin beside both sides throughout\n", n_busy);
    bench_print_isa();
    printf("PyTorch: %s\n\n", torch ? "/usr/bin/python3 bench/peer_step.py, torch.set_num_threads"
                                    : "not installed (python3-torch), column left empty");
    printf("| method | batch | what | libcontrast samples/s | PyTorch samples/s | ratio | libcontrast samples/CPU-s | "
           "PyTorch samples/CPU-s | CPU ratio | libcontrast peak RSS MiB | PyTorch peak RSS MiB | "
           "libcontrast loss ms/step |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        const method *m = &methods[i];
        if (only && strcmp(only, m->name) != 0) continue;
        char cmd[4600], out[256];
        double lib = 0, lib_rss = 0, lib_ms = 0, lib_cpu = 0, py = 0, py_rss = 0, py_cpu = 0;
        /* Alternate the two sides so a slow spell of the machine hits both; keep each side's best run
         * (its wall rate, with that run's CPU rate and step time) and the largest peak RSS. */
        for (int r = 0; r < repeats; r++) {
            double v[5];
            snprintf(cmd, sizeof cmd, "'%s' step --threads %u --steps %d%s --one %s", self, threads, steps,
                     host_jobs ? " --host-jobs" : "", m->name);
            if (bench_run_capture(cmd, out, sizeof out) == 0 &&
                sscanf(out, "%lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4]) == 5) {
                if (v[0] > lib) lib = v[0], lib_ms = v[3], lib_cpu = v[4];
                if (v[1] > lib_rss) lib_rss = v[1];
            }
            if (!torch) continue;
            snprintf(cmd, sizeof cmd, "BLIS_ARCH_TYPE=%s /usr/bin/python3 '%s/peer_step.py' %s %u %d", bench_peer_arch(), bench_dir(),
                     m->name, threads, steps);
            if (bench_run_capture(cmd, out, sizeof out) == 0 &&
                sscanf(out, "%lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]) == 4) {
                if (v[0] > py) py = v[0], py_cpu = v[3];
                if (v[1] > py_rss) py_rss = v[1];
            }
        }
        printf("| %s | %zu | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.0f | %.0f | %.1f |\n", m->name, m->batch,
               m->what, lib, py, py > 0 ? lib / py : 0.0, lib_cpu, py_cpu, py_cpu > 0 ? lib_cpu / py_cpu : 0.0, lib_rss,
               py_rss, lib_ms);
        fflush(stdout);
    }
    busy_stop();
    return 0;
}
