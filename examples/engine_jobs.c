/*
 * engine_jobs: libcontrast inside an engine that owns its threads.
 *
 * The host here is a small game-engine loop with a job system of its own: W worker threads pull
 * tasks from one queue, and the frame's thread takes part too. The host hands that job system to
 * libcontrast as an lct_scheduler, so the library creates no thread: every parallel region of its
 * calls (GEMMs, convolutions, augmentation, losses) runs as jobs on the engine's workers. Each
 * simulated frame runs the host's own jobs (a stand-in for physics), then one InstDisc training step
 * (augment, forward, non-parametric softmax against the memory bank, backward, SGD, bank update) on
 * a small batch of Fashion-MNIST images, the "camera" of the frame. Frames are simulated time: nothing
 * sleeps.
 *
 *   engine_jobs [--frames N] [--batch B] [--workers W] [--own-pool] [--data DIR]
 *
 * --own-pool runs the same loop on the runtime's own pool instead (W + 1 threads), for comparison.
 * The last line reads: "engine_jobs: N frames, library p50 X ms, p99 Y ms per frame; host jobs
 * p50 Z ms; T thread(s) created by libcontrast".
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libcontrast/libcontrast.h>

#include "flags.h"
#include "idx.h"
#include "numeric.h"
#include "train.h"

/* ---- the engine's job system ------------------------------------------------------------------ */

typedef struct jobs {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *tid;
    int nworkers, stop;
    void (*fn)(void *, size_t); /* the batch being run: fn(ctx, i), i < n */
    void *ctx;
    size_t n, next, finished;
} jobs;

/* Take jobs of the current batch until none is left; called with mu held, returns with it held. */
static void take_jobs(jobs *j)
{
    while (j->next < j->n) {
        size_t i = j->next++;
        void (*fn)(void *, size_t) = j->fn;
        void *ctx = j->ctx;
        pthread_mutex_unlock(&j->mu);
        fn(ctx, i);
        pthread_mutex_lock(&j->mu);
        if (++j->finished == j->n) pthread_cond_broadcast(&j->done);
    }
}

static void *worker(void *arg)
{
    jobs *j = arg;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        take_jobs(j);
        if (!j->stop) pthread_cond_wait(&j->work, &j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Run fn(ctx, i) for i < n on the workers and the calling thread; return when all are done. This is
 * exactly lct_scheduler.run's contract, so the engine passes it to libcontrast unchanged. */
static void jobs_run(void *user, size_t n, lct_task_fn fn, void *ctx)
{
    jobs *j = user;
    pthread_mutex_lock(&j->mu);
    j->fn = fn, j->ctx = ctx, j->n = n, j->next = 0, j->finished = 0;
    pthread_cond_broadcast(&j->work);
    take_jobs(j);
    while (j->finished < j->n) pthread_cond_wait(&j->done, &j->mu);
    j->n = j->next = 0;
    pthread_mutex_unlock(&j->mu);
}

static void jobs_start(jobs *j, int nworkers)
{
    memset(j, 0, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->work, NULL);
    pthread_cond_init(&j->done, NULL);
    j->tid = calloc((size_t)nworkers + 1, sizeof *j->tid);
    if (j->tid == NULL) train_die("calloc", LCT_ENOMEM);
    for (j->nworkers = 0; j->nworkers < nworkers; j->nworkers++)
        if (pthread_create(&j->tid[j->nworkers], NULL, worker, j) != 0) break;
}

static void jobs_stop(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    pthread_cond_broadcast(&j->work);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->nworkers; i++) pthread_join(j->tid[i], NULL);
    free(j->tid);
    pthread_cond_destroy(&j->work);
    pthread_cond_destroy(&j->done);
    pthread_mutex_destroy(&j->mu);
}

/* ---- the host's own work of a frame: a stand-in for physics, 64 jobs ------------------------ */

static void physics_job(void *ctx, size_t i)
{
    float *state = ctx;
    float x = state[i];
    for (int k = 0; k < 20000; k++) x = x * 0.999f + 0.001f * (float)(k & 7);
    state[i] = x;
}

/* ---- threads of this process ------------------------------------------------------------------ */

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (d == NULL) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    int frames = 300, batch = 32, workers = 1, own_pool = 0;
    const char *data_dir = NULL;
    const flag flags[] = {
        {"frames", FLAG_INT, &frames, "simulated frames, one training step each", 1, 1000000},
        {"batch", FLAG_INT, &batch, "images per training step", 2, 1024},
        {"workers", FLAG_INT, &workers, "the engine's worker threads (the frame's thread also runs jobs)", 0, 63},
        {"own-pool", FLAG_BOOL, &own_pool, "use the runtime's own pool instead of the engine's jobs", 0, 0},
        {"data", FLAG_STRING, &data_dir, "Fashion-MNIST folder (default " FMNIST_DEFAULT_DIR ")", 0, 0},
    };
    flags_parse_or_exit(flags, FLAGS_COUNT(flags), argc, argv,
                        "InstDisc steps between the frames of an engine that hands libcontrast its job system.");

    fmnist_split train;
    if (fmnist_load_split(data_dir, 0, &train) != 0) {
        fprintf(stderr, "engine_jobs: cannot read Fashion-MNIST: %s\n", ex_error());
        return 1;
    }

    jobs engine;
    jobs_start(&engine, workers);
    int threads_before = thread_count();

    /* The runtime runs its parallel work on the engine's jobs (or on its own pool with --own-pool). */
    lct_scheduler sched;
    CHECK(lct_scheduler_init(&sched, LCT_SCHEDULER_VERSION));
    sched.workers = (uint32_t)engine.nworkers + 1;
    sched.run = jobs_run;
    sched.user = &engine;
    lct_runtime_options ro;
    CHECK(lct_runtime_options_init(&ro, LCT_RUNTIME_OPTIONS_VERSION));
    ro.seed = 1;
    if (own_pool) ro.threads = (uint32_t)engine.nworkers + 1;
    else ro.scheduler = &sched;
    lct_runtime *rt;
    CHECK(lct_runtime_new(&rt, &ro));

    /* InstDisc: a small CNN, a memory bank of every image seen, the non-parametric softmax. */
    lct_encoder *enc;
    CHECK(lct_encoder_new_from_spec(&enc, rt,
                                    "in 1x28x28; conv2d 16 k3 p1; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; "
                                    "maxpool 2; flatten; linear 128; l2norm",
                                    NULL));
    lct_augmenter_options ao;
    CHECK(lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION));
    ao.channels = 1, ao.height = FMNIST_SIDE, ao.width = FMNIST_SIDE;
    lct_augmenter *aug;
    CHECK(lct_augmenter_new(&aug, rt, &ao));
    CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC));
    lct_bank_options bo;
    CHECK(lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION));
    bo.normalize = 1;
    lct_bank *bank;
    CHECK(lct_bank_new(&bank, rt, train.n, 128, &bo));
    lct_loss *loss;
    CHECK(lct_loss_new_npsoftmax(&loss, rt, bank, NULL));
    lct_optimizer_options oo;
    CHECK(lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION));
    oo.lr = 0.03, oo.momentum = 0.9, oo.weight_decay = 5e-4;
    lct_optimizer *opt;
    CHECK(lct_optimizer_new(&opt, rt, &oo));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));

    size_t B = (size_t)batch;
    uint8_t *images = malloc(B * FMNIST_PIXELS);
    float *x = malloc(B * FMNIST_PIXELS * sizeof *x), *f = malloc(B * 128 * sizeof *f),
          *df = malloc(B * 128 * sizeof *df), physics[64] = {0};
    int64_t *idx = malloc(B * sizeof *idx);
    double *lib_ms = malloc((size_t)frames * sizeof *lib_ms), *host_ms = malloc((size_t)frames * sizeof *host_ms);
    if (!images || !x || !f || !df || !idx || !lib_ms || !host_ms) train_die("malloc", LCT_ENOMEM);

    float value = 0.0f;
    for (int fr = 0; fr < frames; fr++) {
        double t0 = ex_clock_ms(0);
        jobs_run(&engine, 64, physics_job, physics); /* the engine's own work of the frame */
        double t1 = ex_clock_ms(0);
        /* The frame's camera: the next B images of the stream. */
        for (size_t b = 0; b < B; b++) {
            idx[b] = (int64_t)(((size_t)fr * B + b) % train.n);
            memcpy(images + b * FMNIST_PIXELS, train.images + (size_t)idx[b] * FMNIST_PIXELS, FMNIST_PIXELS);
        }
        CHECK(lct_augmenter_apply(aug, images, B, 1, x));
        CHECK(lct_encoder_forward(enc, x, B, f));
        CHECK(lct_loss_npsoftmax_compute(loss, f, idx, B, &value, df));
        CHECK(lct_optimizer_zero_grad(opt));
        CHECK(lct_encoder_backward(enc, df, B, NULL));
        CHECK(lct_optimizer_step(opt));
        CHECK(lct_bank_update(bank, f, idx, B, 0.5f));
        double t2 = ex_clock_ms(0);
        host_ms[fr] = t1 - t0;
        lib_ms[fr] = t2 - t1;
        if ((fr + 1) % 50 == 0 || fr + 1 == frames)
            printf("frame %d/%d: loss %.4f, library %.2f ms, host jobs %.2f ms\n", fr + 1, frames, (double)value,
                   lib_ms[fr], host_ms[fr]);
    }
    int created = thread_count() - threads_before;
    size_t n = (size_t)frames;
    double p50 = ex_quantile(lib_ms, n, 0.50), p99 = ex_quantile(lib_ms, n, 0.99), h50 = ex_quantile(host_ms, n, 0.50);
    printf("engine_jobs: %d frames, library p50 %.2f ms, p99 %.2f ms per frame; host jobs p50 %.2f ms; "
           "%d thread(s) created by libcontrast (%s)\n",
           frames, p50, p99, h50, created, own_pool ? "its own pool" : "on the engine's jobs");

    free(images), free(x), free(f), free(df), free(idx), free(lib_ms), free(host_ms);
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_augmenter_free(aug);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    jobs_stop(&engine);
    fmnist_split_free(&train);
    return 0;
}
