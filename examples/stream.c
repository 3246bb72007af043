/*
 * stream: learning on the device from a camera stream (Fashion-MNIST, one image per frame).
 *
 * The 60,000 training images arrive one per simulated frame, class-incremental: 5 tasks of 2
 * classes, in order, each image once (--order iid shuffles the same stream instead). Each frame the
 * host embeds the new image, scores its novelty against the memory bank, and pushes it into a replay
 * (lct_replay) whose slots own the bank's rows; then it spends what is left of its per-frame budget
 * (--budget-ms, on 1 thread) on InstDisc steps drawn from the replay: augment, forward, the
 * non-parametric softmax over the bank rows, backward, SGD, bank update. The batch is chosen before
 * the first step from the encoder's and the loss's FLOPs (lct_encoder_cost, lct_loss_cost) and a rate
 * measured on three warm steps; each frame then runs a step only if its measured time still fits.
 * Frames are simulated time: nothing sleeps. After each task, weighted kNN (k = 200) on the test
 * images of the classes seen so far shows what is remembered and what is forgotten.
 *
 * By default the same stream shuffled (i.i.d.) runs beside it, on a second thread with its own
 * runtime, for the comparison of the last line:
 *   stream kNN top-1: 0.XXXX (iid stream: 0.XXXX, untrained: 0.XXXX); frame p99 X.XX ms of X.XX ms budget;
 *   peak memory XX.X MiB
 *
 *   stream [--budget-ms MS] [--order class|iid] [--policy fifo|reservoir|minred] [--capacity N] [--batch B]
 *          [--iid-pass] [--clock cpu|wall] [--threads N] [--seed N] [--out DIR] [--data DIR] [--limit N]
 *          [--lr LR] [--tau T] [--spec S]
 */
#define _GNU_SOURCE
#include <libcontrast/libcontrast.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "eval.h"
#include "files.h"
#include "flags.h"
#include "idx.h"
#include "numeric.h"
#include "plot.h"
#include "progress.h"
#include "train.h"

#define PIXELS FMNIST_PIXELS
#define TASKS 5
#define PROBE_SMALL 8  /* the batches of the probe steps that measure the machine */
#define PROBE_LARGE 32
#define PROBES 6       /* small, large, small, large, ...: the last two of each are warm */
#define EVAL_BATCH 100

static const char *default_spec = "in 1x28x28; conv2d 16 k5 s2 p2; bn; relu; maxpool 2; conv2d 32 k3 p1; bn; relu; "
                                  "maxpool 2; flatten; linear 128; l2norm";

typedef struct config {
    example_args args;
    float budget_ms, lr, tau;
    int capacity, batch, policy, iid_order, iid_pass, cpu_clock, limit;
    const char *spec;
    train_aug aug;
} config;

/* The evaluation sets: train and test images sorted by task (stable), so that the classes seen after
 * task k are a prefix of each; train_upto[k] and test_upto[k] are those prefixes' lengths. */
typedef struct eval_sets {
    uint8_t *train, *test;
    int32_t *train_labels, *test_labels;
    size_t train_upto[TASKS], test_upto[TASKS];
} eval_sets;

/* One stream run and what it measured. */
typedef struct pass {
    const config *cfg;
    const char *name;
    const fmnist *data;
    const eval_sets *eval;
    const int64_t *order; /* frame t shows training image order[t] */
    size_t frames;
    int report;           /* prints progress */
    double knn[TASKS];    /* after each task, on the classes of the first k + 1 tasks */
    double *frame_ms;     /* library time of each frame */
    float *novelty_z;
    double p50, p99, max, steps_per_frame, loss;
    size_t peak, batch;
} pass;


/* ---- the host's cost model: FLOPs from the library, a rate from the machine -------------------- */

/* FLOPs of one training step at batch b: encoder forward and backward, loss, bank update. */
static double step_flops(lct_encoder *enc, lct_loss *loss, size_t b, size_t dim)
{
    uint64_t fwd, bwd, fl;
    CHECK(lct_encoder_cost(enc, b, &fwd, &bwd, NULL));
    CHECK(lct_loss_cost(loss, b, &fl, NULL));
    return (double)fwd + (double)bwd + (double)fl + 6.0 * (double)b * (double)dim;
}

/* The host's model of a step's time: t(b) = fixed + flops(b) / rate, fitted to two warm steps at the
 * batches PROBE_SMALL and PROBE_LARGE (the fixed part: the optimiser, packing, per-call work). */
typedef struct step_model {
    double fixed_ms, rate; /* rate in FLOPs per millisecond */
} step_model;

static double predict_ms(const step_model *m, lct_encoder *enc, lct_loss *loss, size_t b, size_t dim)
{
    return m->fixed_ms + step_flops(enc, loss, b, dim) / m->rate;
}

static step_model fit_model(lct_encoder *enc, lct_loss *loss, size_t dim, double small_ms, double large_ms)
{
    double fs = step_flops(enc, loss, PROBE_SMALL, dim), fl = step_flops(enc, loss, PROBE_LARGE, dim);
    step_model m;
    m.rate = large_ms > small_ms ? (fl - fs) / (large_ms - small_ms) : fl / large_ms;
    m.fixed_ms = fmax(0.0, small_ms - fs / m.rate);
    return m;
}

/* The largest batch (a multiple of 4, 4..PROBE_LARGE, at most the replay's samples) predicted, with the
 * measured correction `corr`, to fit in `ms`; 0 if none does. */
static size_t choose_batch(const step_model *m, double corr, lct_encoder *enc, lct_loss *loss, size_t dim, double ms,
                           size_t held)
{
    size_t best = 0;
    for (size_t b = 4; b <= PROBE_LARGE && b <= held; b += 4)
        if (corr * predict_ms(m, enc, loss, b, dim) <= ms) best = b;
    return best;
}

/* ---- one stream run ----------------------------------------------------------------------- */

typedef struct handles {
    lct_runtime *rt;
    lct_encoder *enc;
    lct_bank *bank;
    lct_replay *rp;
    lct_novelty *nv;
    lct_loss *loss;
    lct_optimizer *opt;
    lct_augmenter *aug;
    size_t dim;
} handles;

static void handles_new(handles *h, const config *c)
{
    h->rt = train_runtime(&c->args);
    h->enc = train_encoder(h->rt, c->spec, &c->args); /* created first: the same weights as the baseline's */
    CHECK(lct_encoder_output_size(h->enc, &h->dim));
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.init = LCT_BANK_INIT_ZERO; /* rows are set by the replay as samples arrive */
    CHECK(lct_bank_new(&h->bank, h->rt, (size_t)c->capacity, h->dim, &bo));
    lct_replay_options ro;
    lct_replay_options_init(&ro, LCT_REPLAY_OPTIONS_VERSION);
    ro.policy = c->policy;
    const uint32_t shape[3] = {1, FMNIST_SIDE, FMNIST_SIDE};
    CHECK(lct_replay_new(&h->rp, h->rt, (size_t)c->capacity, shape, 3, &ro));
    CHECK(lct_replay_bind_bank(h->rp, h->bank));
    CHECK(lct_novelty_new(&h->nv, h->rt, h->bank, NULL));
    CHECK(lct_loss_new_npsoftmax(&h->loss, h->rt, h->bank, NULL));
    CHECK(lct_loss_set_param(h->loss, LCT_LOSS_PARAM_TEMPERATURE, c->tau));
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.lr = c->lr; /* constant: a stream has no end to schedule towards */
    oo.momentum = 0.9;
    oo.weight_decay = 5e-4;
    CHECK(lct_optimizer_new(&h->opt, h->rt, &oo));
    CHECK(lct_optimizer_attach(h->opt, lct_encoder_params(h->enc)));
    h->aug = train_augmenter(h->rt, &c->aug);
}

static void handles_free(handles *h)
{
    lct_augmenter_free(h->aug);
    lct_optimizer_free(h->opt);
    lct_loss_free(h->loss);
    lct_novelty_free(h->nv);
    lct_replay_free(h->rp);
    lct_bank_free(h->bank);
    lct_encoder_free(h->enc);
    lct_runtime_free(h->rt);
}

/* Scratch of a training step at batch up to B. */
typedef struct step_buf {
    uint8_t *images;
    float *x, *f, *df;
    int64_t *slots;
} step_buf;

/* One InstDisc step on a batch drawn from the replay; returns its loss. */
static float train_step(handles *h, step_buf *s, size_t b)
{
    float value;
    CHECK(lct_replay_sample(h->rp, b, s->images, s->slots));
    CHECK(lct_augmenter_apply(h->aug, s->images, b, 1, s->x));
    CHECK(lct_encoder_forward(h->enc, s->x, b, s->f));
    CHECK(lct_loss_npsoftmax_compute(h->loss, s->f, s->slots, b, &value, s->df));
    CHECK(lct_optimizer_zero_grad(h->opt));
    CHECK(lct_encoder_backward(h->enc, s->df, b, NULL));
    CHECK(lct_optimizer_step(h->opt));
    CHECK(lct_bank_update(h->bank, s->f, s->slots, b, 0.5f));
    return value;
}

/* kNN top-1 of the first q test images against the first n training images of the task-sorted sets. */
static double evaluate(handles *h, const eval_sets *e, size_t n, size_t q, float *train_emb, float *test_emb)
{
    if (embed_images(h->enc, e->train, n, PIXELS, EVAL_BATCH, train_emb) != 0 ||
        embed_images(h->enc, e->test, q, PIXELS, EVAL_BATCH, test_emb) != 0) {
        fprintf(stderr, "stream: %s\n", ex_error());
        exit(1);
    }
    double acc = knn_accuracy(h->rt, train_emb, e->train_labels, n, test_emb, e->test_labels, q, h->dim);
    if (acc < 0) {
        fprintf(stderr, "stream: %s\n", ex_error());
        exit(1);
    }
    return acc;
}

static void *run_pass(void *arg)
{
    pass *p = arg;
    const config *c = p->cfg;
    const int cpu = c->cpu_clock;
    handles h;
    handles_new(&h, c);
    size_t bmax = c->batch > PROBE_LARGE ? (size_t)c->batch : PROBE_LARGE;
    step_buf s = {malloc(bmax * PIXELS), malloc(bmax * PIXELS * sizeof(float)), malloc(bmax * h.dim * sizeof(float)),
                  malloc(bmax * h.dim * sizeof(float)), malloc(bmax * sizeof(int64_t))};
    float *x1 = malloc(PIXELS * sizeof *x1), *e = malloc(h.dim * sizeof *e);
    float *train_emb = malloc(p->data->train.n * h.dim * sizeof *train_emb);
    float *test_emb = malloc(p->data->test.n * h.dim * sizeof *test_emb);
    p->frame_ms = malloc(p->frames * sizeof *p->frame_ms);
    p->novelty_z = malloc(p->frames * sizeof *p->novelty_z);
    if (!s.images || !s.x || !s.f || !s.df || !s.slots || !x1 || !e || !train_emb || !test_emb || !p->frame_ms ||
        !p->novelty_z)
        train_die("malloc", LCT_ENOMEM);

    const double budget = c->budget_ms;
    double probe[PROBES], corr = 1.0, corr_dev = 0.0;
    step_model model = {0, 0};
    int probes = 0;
    uint64_t steps = 0, samples = 0;
    float loss = NAN;
    progress bar;
    progress_init(&bar, stdout, TASKS, p->eval->train_upto[0], 1);
    for (size_t t = 0, task = 0; t < p->frames; t++) {
        const uint8_t *img = p->data->train.images + (size_t)p->order[t] * PIXELS;
        double t0 = ex_clock_ms(cpu);
        /* the frame: embed it, score its novelty against what the bank holds, keep it in the replay */
        images_to_float(img, PIXELS, x1);
        CHECK(lct_encoder_set_mode(h.enc, LCT_ENCODER_EVAL));
        CHECK(lct_encoder_forward(h.enc, x1, 1, e));
        CHECK(lct_encoder_set_mode(h.enc, LCT_ENCODER_TRAIN));
        size_t held;
        CHECK(lct_replay_info(h.rp, NULL, &held, NULL, NULL));
        float score, z = 0;
        if (held > 0) CHECK(lct_novelty_score(h.nv, e, 1, held, &score, &z));
        p->novelty_z[t] = z;
        CHECK(lct_replay_insert(h.rp, img, 1, e, NULL));
        held += held < (size_t)c->capacity;
        double t1 = ex_clock_ms(cpu);
        if (probes < PROBES && held >= PROBE_LARGE) {
            /* before choosing batches: probe steps at two sizes, one per frame, and the model from the warm ones */
            size_t pb = probes % 2 ? PROBE_LARGE : PROBE_SMALL;
            loss = train_step(&h, &s, pb);
            probe[probes++] = ex_clock_ms(cpu) - t1;
            steps++, samples += pb;
            if (probes == PROBES) {
                model = fit_model(h.enc, h.loss, h.dim, fmin(probe[PROBES - 4], probe[PROBES - 2]),
                                  fmin(probe[PROBES - 3], probe[PROBES - 1]));
                if (p->report) {
                    printf("%s stream: a step costs %.2f ms + its FLOPs at %.1f GFLOP/s (fitted to warm steps at batch "
                           "%d and %d): batch 8 %.2f ms, batch 16 %.2f ms; the frame itself %.2f ms\n", p->name,
                           model.fixed_ms, model.rate / 1e6, PROBE_SMALL, PROBE_LARGE,
                           predict_ms(&model, h.enc, h.loss, 8, h.dim), predict_ms(&model, h.enc, h.loss, 16, h.dim),
                           t1 - t0);
                    fflush(stdout);
                }
            }
        } else if (probes == PROBES) {
            /* steps while one still fits in what is left of the budget: the largest batch the model (corrected by
             * the measured ratio, plus three of its mean deviations) predicts to fit */
            int stepped = 0;
            for (;; stepped = 1) {
                double t2 = ex_clock_ms(cpu), margin = corr + 3 * corr_dev;
                size_t b = (size_t)c->batch > 0 ? (size_t)c->batch : choose_batch(&model, margin, h.enc, h.loss, h.dim,
                                                                                   budget - (t2 - t0), held);
                if (b == 0 || b > held || margin * predict_ms(&model, h.enc, h.loss, b, h.dim) > budget - (t2 - t0))
                    break;
                loss = train_step(&h, &s, b);
                double ratio = (ex_clock_ms(cpu) - t2) / predict_ms(&model, h.enc, h.loss, b, h.dim);
                corr_dev = 0.98 * corr_dev + 0.02 * fabs(ratio - corr);
                corr = 0.98 * corr + 0.02 * ratio;
                steps++, samples += b;
            }
            /* a frame without a step relaxes the correction towards the model, so that a burst of slow steps
             * (the machine busy elsewhere) cannot stop training for good */
            if (!stepped) {
                corr = 0.995 * corr + 0.005;
                corr_dev *= 0.995;
            }
        }
        p->frame_ms[t] = ex_clock_ms(cpu) - t0;
        if (p->report) {
            bar.steps = p->eval->train_upto[task] - (task ? p->eval->train_upto[task - 1] : 0);
            progress_update(&bar, (int)task + 1, t + 1 - (task ? p->eval->train_upto[task - 1] : 0), loss);
        }
        if (t + 1 == p->eval->train_upto[task]) {
            p->knn[task] = evaluate(&h, p->eval, p->eval->train_upto[task], p->eval->test_upto[task], train_emb,
                                    test_emb);
            if (p->report) {
                printf("%s stream: task %zu/%d done (classes 0-%zu): kNN top-1 %.4f on %zu test images; %.2f steps "
                       "per frame, mean batch %.1f\n", p->name, task + 1, TASKS, 2 * task + 1, p->knn[task],
                       p->eval->test_upto[task], (double)steps / (double)(t + 1), steps ? (double)samples / steps : 0.0);
                fflush(stdout);
                progress_epoch_begin(&bar);
            }
            task++;
        }
    }
    CHECK(lct_runtime_memory(h.rt, NULL, &p->peak));
    p->batch = steps ? (size_t)(samples / steps) : 0;
    p->loss = loss;
    p->steps_per_frame = (double)steps / (double)p->frames;
    double *sorted = malloc(p->frames * sizeof *sorted);
    if (sorted == NULL) train_die("malloc", LCT_ENOMEM);
    memcpy(sorted, p->frame_ms, p->frames * sizeof *sorted);
    p->p50 = ex_quantile(sorted, p->frames, 0.50);
    p->p99 = ex_quantile(sorted, p->frames, 0.99);
    p->max = sorted[p->frames - 1];
    free(sorted);
    free(s.images), free(s.x), free(s.f), free(s.df), free(s.slots), free(x1), free(e), free(train_emb), free(test_emb);
    handles_free(&h);
    return NULL;
}

/* ---- data, baseline, figures -------------------------------------------------------------------- */

/* Indices 0..n-1 stably sorted by task (label / 2). */
static int64_t *task_order(const uint8_t *labels, size_t n, size_t upto[TASKS])
{
    int64_t *o = malloc(n * sizeof *o);
    if (o == NULL) train_die("malloc", LCT_ENOMEM);
    size_t k = 0;
    for (int task = 0; task < TASKS; task++) {
        for (size_t i = 0; i < n; i++)
            if (labels[i] / 2 == task) o[k++] = (int64_t)i;
        upto[task] = k;
    }
    return o;
}

static void gather(const fmnist_split *s, const int64_t *o, size_t n, uint8_t **images, int32_t **labels)
{
    *images = malloc(n * PIXELS);
    *labels = malloc(n * sizeof **labels);
    if (!*images || !*labels) train_die("malloc", LCT_ENOMEM);
    for (size_t i = 0; i < n; i++) {
        memcpy(*images + i * PIXELS, s->images + (size_t)o[i] * PIXELS, PIXELS);
        (*labels)[i] = s->labels[o[i]];
    }
}

/* kNN of the encoder before any training, on every class (the same weights as each pass starts with). */
static double untrained_knn(const config *c, const eval_sets *e)
{
    handles h = {0};
    h.rt = train_runtime(&c->args);
    h.enc = train_encoder(h.rt, c->spec, &c->args);
    CHECK(lct_encoder_output_size(h.enc, &h.dim));
    float *a = malloc(e->train_upto[TASKS - 1] * h.dim * sizeof *a), *b = malloc(e->test_upto[TASKS - 1] * h.dim * sizeof *b);
    if (!a || !b) train_die("malloc", LCT_ENOMEM);
    double acc = evaluate(&h, e, e->train_upto[TASKS - 1], e->test_upto[TASKS - 1], a, b);
    free(a), free(b);
    lct_encoder_free(h.enc);
    lct_runtime_free(h.rt);
    return acc;
}

static void write_plots(const config *c, const pass *main_pass, const pass *iid)
{
    char path[4096], title[256];
    double ys[2 * TASKS];
    const char *names[2] = {main_pass->name, "IID STREAM"};
    for (int k = 0; k < TASKS; k++) ys[k] = main_pass->knn[k], ys[TASKS + k] = iid ? iid->knn[k] : NAN;
    snprintf(title, sizeof title, "KNN TOP-1 AFTER EACH TASK (%s REPLAY)",
             c->policy == LCT_REPLAY_FIFO ? "FIFO" : c->policy == LCT_REPLAY_RESERVOIR ? "RESERVOIR" : "MINRED");
    int rc = make_dirs(c->args.out);
    if (rc == 0) rc = join_path(path, sizeof path, c->args.out, "knn.png");
    if (rc == 0) rc = plot_series(path, ys, TASKS, iid ? 2 : 1, names, title, "TASK (CLASSES SEEN: 2 PER TASK)", "KNN TOP-1");
    if (rc == 0) rc = join_path(path, sizeof path, c->args.out, "frame_time.png");
    snprintf(title, sizeof title, "LIBRARY TIME PER FRAME, %zu FRAMES (BUDGET IN RED)", main_pass->frames);
    if (rc == 0)
        rc = plot_histogram(path, main_pass->frame_ms, main_pass->frames, 60, 2.0 * c->budget_ms, c->budget_ms, title,
                            "MILLISECONDS (THE LAST BAR HOLDS EVERY LONGER FRAME)");
    if (rc != 0)
        fprintf(stderr, "stream: figures not written: %s\n", ex_error());
    else
        printf("stream: wrote %s/knn.png and %s/frame_time.png\n", c->args.out, c->args.out);
}

/* Mean novelty z of the first 25 frames of tasks 2..5 and of the other frames of those tasks. */
static void novelty_summary(const pass *p, double *fresh, double *settled)
{
    double a = 0, b = 0;
    size_t na = 0, nb = 0;
    for (int k = 1; k < TASKS; k++)
        for (size_t t = p->eval->train_upto[k - 1]; t < p->eval->train_upto[k]; t++) {
            if (t < p->eval->train_upto[k - 1] + 25) a += p->novelty_z[t], na++;
            else b += p->novelty_z[t], nb++;
        }
    *fresh = na ? a / (double)na : 0;
    *settled = nb ? b / (double)nb : 0;
}

int main(int argc, char **argv)
{
    config c = {.budget_ms = 3.0f, .lr = 0.03f, .tau = 0.1f, .capacity = 2048, .iid_pass = 1,
                .cpu_clock = 1, .spec = default_spec,
                .aug = {.crop_min = 0.5f, .crop_max = 1.0f, .jitter = 0.4f, .jitter_p = 1.0f, .flip = 0.5f}};
    example_args_defaults(&c.args);
    c.args.threads = 1;
    c.args.out = "out/stream";
    const char *order = "class", *policy = "minred", *clock_name = "cpu";
    flag table[] = {
        {"budget-ms", FLAG_FLOAT, &c.budget_ms, "library time per frame: the frame, its novelty and training steps", 0.1, 1000},
        {"order", FLAG_STRING, &order, "class (5 tasks of 2 classes, in order) or iid (the same stream shuffled)", 0, 0},
        {"policy", FLAG_STRING, &policy, "replay policy: fifo, reservoir or minred", 0, 0},
        {"capacity", FLAG_INT, &c.capacity, "replay slots (and bank rows)", 64, 1 << 20},
        {"batch", FLAG_INT, &c.batch, "images per training step (0: chosen from the budget)", 0, 4096},
        {"iid-pass", FLAG_BOOL, &c.iid_pass, "also run the stream shuffled on a second thread, for comparison", 0, 0},
        {"clock", FLAG_STRING, &clock_name, "cpu (the frame thread's CPU time) or wall (elapsed time)", 0, 0},
        {"threads", FLAG_INT, &c.args.threads, "threads of each stream's runtime", 1, 256},
        {"seed", FLAG_U64, &c.args.seed, "seed of every random stream", 0, 0},
        {"out", FLAG_STRING, &c.args.out, "folder for knn.png and frame_time.png", 0, 0},
        {"data", FLAG_STRING, &c.args.data, "folder with the Fashion-MNIST *-idx?-ubyte(.gz) files", 0, 0},
        FLAG_LIMIT(&c.limit),
        {"lr", FLAG_FLOAT, &c.lr, "SGD learning rate (constant)", 1e-6, 10},
        {"tau", FLAG_FLOAT, &c.tau, "temperature of the softmax over the bank", 1e-3, 10},
        {"spec", FLAG_STRING, &c.spec, "encoder spec (docs/encoder.md)", 0, 0},
        FLAGS_AUG(&c.aug),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv,
                        "Learn from Fashion-MNIST as a camera stream, under a per-frame time budget.");
    c.iid_order = strcmp(order, "iid") == 0;
    c.policy = strcmp(policy, "fifo") == 0 ? LCT_REPLAY_FIFO : strcmp(policy, "reservoir") == 0 ? LCT_REPLAY_RESERVOIR
               : strcmp(policy, "minred") == 0 ? LCT_REPLAY_MINRED : -1;
    c.cpu_clock = strcmp(clock_name, "cpu") == 0 ? 1 : strcmp(clock_name, "wall") == 0 ? 0 : -1;
    if ((!c.iid_order && strcmp(order, "class") != 0) || c.policy < 0 || c.cpu_clock < 0) {
        fprintf(stderr, "stream: --order must be class or iid, --policy fifo, reservoir or minred, --clock cpu or "
                        "wall (got %s, %s, %s)\n", order, policy, clock_name);
        return FLAGS_ERROR;
    }

    fmnist data;
    size_t n, q, unused;
    train_load_data(&c.args, c.limit, &data, &n, &q, &unused);
    data.train.n = n, data.test.n = q;
    eval_sets ev;
    int64_t *class_order = task_order(data.train.labels, n, ev.train_upto), *test_order = task_order(data.test.labels, q, ev.test_upto);
    gather(&data.train, class_order, n, &ev.train, &ev.train_labels);
    gather(&data.test, test_order, q, &ev.test, &ev.test_labels);
    int64_t *iid_order = malloc(n * sizeof *iid_order);
    if (iid_order == NULL) train_die("malloc", LCT_ENOMEM);
    train_shuffle(iid_order, n, c.args.seed, 0);

    double untrained = untrained_knn(&c, &ev);
    printf("stream: %zu frames (%s order), %zu test images, replay of %d (%s), budget %.2f ms per frame on %d "
           "thread(s) (%s clock), kNN before training %.4f\n", n, c.iid_order ? "i.i.d." : "class-incremental", q,
           c.capacity, policy, (double)c.budget_ms, c.args.threads, clock_name, untrained);
    fflush(stdout);

    pass main_pass = {.cfg = &c, .name = c.iid_order ? "IID" : "CLASS-INCREMENTAL", .data = &data, .eval = &ev,
                      .order = c.iid_order ? iid_order : class_order, .frames = n, .report = 1};
    pass iid = {.cfg = &c, .name = "IID", .data = &data, .eval = &ev, .order = iid_order, .frames = n};
    const int second = c.iid_pass && !c.iid_order;
    pthread_t thread;
    if (second && pthread_create(&thread, NULL, run_pass, &iid) != 0) train_die("pthread_create", LCT_ENOMEM);
    run_pass(&main_pass);
    if (second) pthread_join(thread, NULL);
    const pass *cmp = second ? &iid : c.iid_order ? &main_pass : NULL;

    printf("kNN top-1 after each task (test images of the classes seen so far):\n");
    for (int k = 0; k < TASKS; k++) {
        printf("  task %d (classes 0-%d): %s %.4f", k + 1, 2 * k + 1, main_pass.name, main_pass.knn[k]);
        if (second) printf(", IID %.4f", iid.knn[k]);
        printf("\n");
    }
    double fresh, settled;
    novelty_summary(&main_pass, &fresh, &settled);
    printf("novelty z: %.2f over the first 25 frames of tasks 2-5, %.2f over their other frames\n", fresh, settled);
    size_t peak = main_pass.peak > (second ? iid.peak : 0) ? main_pass.peak : iid.peak;
    printf("per-frame library time: p50 %.2f ms, p99 %.2f ms, max %.2f ms (budget %.2f ms); batch %zu, %.2f steps "
           "per frame; peak runtime memory %.1f MiB\n", main_pass.p50, main_pass.p99, main_pass.max,
           (double)c.budget_ms, main_pass.batch, main_pass.steps_per_frame, (double)main_pass.peak / 1048576.0);
    if (second)
        printf("iid stream: p50 %.2f ms, p99 %.2f ms; mean batch %zu, %.2f steps per frame; peak %.1f MiB\n", iid.p50,
               iid.p99, iid.batch, iid.steps_per_frame, (double)iid.peak / 1048576.0);
    write_plots(&c, &main_pass, cmp != &main_pass ? cmp : NULL);
    printf("stream kNN top-1: %.4f (iid stream: %.4f, untrained: %.4f); frame p99 %.2f ms of %.2f ms budget; "
           "peak memory %.1f MiB\n", main_pass.knn[TASKS - 1], cmp ? cmp->knn[TASKS - 1] : NAN, untrained,
           main_pass.p99, (double)c.budget_ms, (double)peak / 1048576.0);

    free(main_pass.frame_ms), free(main_pass.novelty_z), free(iid.frame_ms), free(iid.novelty_z);
    free(class_order), free(test_order), free(iid_order);
    free(ev.train), free(ev.test), free(ev.train_labels), free(ev.test_labels);
    fmnist_free(&data);
    return 0;
}
