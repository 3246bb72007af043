/*
 * cpc_speech: Contrastive Predictive Coding (van den Oord et al. 2018) on raw speech, written
 * against libcontrast's public API, evaluated as the CPC paper's Table 1: a linear probe for
 * speaker identification on the learned context features.
 *
 * Data: English sentences read by ten espeak-ng voices (speech.c lists them), synthesised on
 * the first run into a cache folder (--data) and reused afterwards; each utterance is resampled
 * from espeak-ng's 22,050 Hz to 16 kHz and normalised (zero mean, unit RMS, silence trimmed).
 *
 * Model: g_enc is the paper's strided convolution stack (strides 5, 4, 2, 2, 2, kernels 10, 8,
 * 4, 4, 4: one latent z_t per 160 samples = 10 ms) with --channels (32) channels instead of 512;
 * g_ar is a GRU (--hidden units, 64) giving the context c_t. Training windows of --window samples
 * (10,240 = 0.64 s = 64 latents by default) are cropped at random from the utterances of the
 * probe's training sentences; InfoNCE trains g_enc, g_ar and one W_k per step to pick z_{t+k},
 * k = 1..K (--steps, 12 = 120 ms as in the paper), among the candidates --negatives names.
 *
 * Evaluation: every utterance is cut into windows of the training length (the last one aligned
 * to the utterance's end); its feature is the context c_t averaged over every step of every
 * window (--embed mean, the default) or the context after the last step of the last window
 * (--embed last). A softmax regression (probe.c) is trained on the utterances of the first two
 * thirds of the sentences and tested on the rest, so it recognises the speaker of words it has
 * not heard. Reported for the trained encoder and for the same encoder before training.
 *
 *   cpc_speech [--epochs N] [--batch N] [--threads N] [--seed N] [--out DIR] [--save F] [--resume F]
 *              [--data DIR] [--limit N] [--voices N] [--window N] [--channels N] [--hidden N]
 *              [--steps K] [--negatives batch|all|sequence] [--lr LR] [--embed mean|last] [--augment]
 */
#include <libcontrast/libcontrast.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "flags.h"
#include "pca.h"
#include "plot.h"
#include "probe.h"
#include "loop.h"
#include "speech.h"
#include "train.h"

#define RATE 16000
#define HOP 160 /* samples per latent: 5 * 4 * 2 * 2 * 2 */

static const char *enc_spec_fmt = "in 1x%d; conv1d %d k10 s5 p3; relu; conv1d %d k8 s4 p2; relu; "
                                  "conv1d %d k4 s2 p1; relu; conv1d %d k4 s2 p1; relu; conv1d %d k4 s2 p1; relu; "
                                  "transpose";
static const char *ar_spec_fmt = "in %dx%d; gru %d";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A reproducible draw in [0, n) for (seed, epoch, step, index): the host's own randomness. */
static uint64_t draw(uint64_t seed, uint64_t epoch, uint64_t step, uint64_t index, uint64_t n)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (epoch + 1) * 0xBF58476D1CE4E5B9ull ^
                 (step + 1) * 0x94D049BB133111EBull ^ (index + 1) * 0xD6E8FEB86659FD93ull;
    for (int r = 0; r < 2; r++) { /* splitmix64 finaliser, twice */
        x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 27, x *= 0x94D049BB133111EBull;
        x ^= x >> 31;
    }
    return x % n;
}

typedef struct model {
    lct_encoder *g_enc, *g_ar;
    int window, t; /* samples per window, latents per window */
    size_t d, h;   /* latent and context sizes */
} model;

/*
 * Features of utterances `ids` (count of them) into feat (count x h): the context averaged over
 * every step of every window of the utterance (mean = 1) or the last context of its last window.
 * Windows are embedded CHUNK at a time in eval mode.
 */
static void utterance_features(model *m, const speech_corpus *c, const int *ids, size_t count, int mean,
                               float *feat)
{
    enum { CHUNK = 32 };
    size_t W = (size_t)m->window, T = (size_t)m->t, H = m->h;
    float *x = malloc(CHUNK * W * sizeof *x), *z = malloc(CHUNK * T * m->d * sizeof *z);
    float *ctx = malloc(CHUNK * T * H * sizeof *ctx);
    double *acc = calloc(count * H, sizeof *acc);
    size_t *owner = malloc(CHUNK * sizeof *owner), *windows = calloc(count, sizeof *windows);
    int *is_last = malloc(CHUNK * sizeof *is_last);
    if (!x || !z || !ctx || !acc || !owner || !windows || !is_last) {
        fprintf(stderr, "cpc_speech: out of memory\n");
        exit(1);
    }
    CHECK(lct_encoder_set_mode(m->g_enc, LCT_ENCODER_EVAL));
    CHECK(lct_encoder_set_mode(m->g_ar, LCT_ENCODER_EVAL));
    size_t filled = 0;
    for (size_t u = 0; u < count; u++) {
        const float *s = c->utt[ids[u]];
        size_t len = c->len[ids[u]], nw = (len + W - 1) / W;
        for (size_t k = 0; k < nw; k++) {
            size_t start = k * W + W <= len ? k * W : len - W;
            memcpy(x + filled * W, s + start, W * sizeof *x);
            owner[filled] = u;
            is_last[filled] = k + 1 == nw;
            windows[u]++;
            if (++filled == CHUNK || (u + 1 == count && k + 1 == nw)) {
                CHECK(lct_encoder_forward(m->g_enc, x, filled, z));
                CHECK(lct_encoder_forward(m->g_ar, z, filled, ctx));
                for (size_t i = 0; i < filled; i++) {
                    double *a = acc + owner[i] * H;
                    if (mean) {
                        for (size_t t = 0; t < T; t++)
                            for (size_t j = 0; j < H; j++) a[j] += ctx[(i * T + t) * H + j];
                    } else if (is_last[i]) {
                        for (size_t j = 0; j < H; j++) a[j] = ctx[(i * T + T - 1) * H + j];
                    }
                }
                filled = 0;
            }
        }
    }
    for (size_t u = 0; u < count; u++)
        for (size_t j = 0; j < H; j++)
            feat[u * H + j] = (float)(mean ? acc[u * H + j] / (double)(windows[u] * T) : acc[u * H + j]);
    CHECK(lct_encoder_set_mode(m->g_enc, LCT_ENCODER_TRAIN));
    CHECK(lct_encoder_set_mode(m->g_ar, LCT_ENCODER_TRAIN));
    free(is_last);
    free(windows);
    free(owner);
    free(acc);
    free(ctx);
    free(z);
    free(x);
}

/* The probe's split by sentence: the first train_sentences of every voice train the probe (and
 * are the unsupervised training's only data), the others test it. */
typedef struct split {
    int voices, sentences, train_sentences;
    size_t n, q;                        /* utterances on each side */
    int *train_ids, *test_ids;          /* corpus indices */
    int32_t *train_y, *test_y;          /* speakers */
    size_t train_samples, test_samples; /* samples on each side */
} split;

/* The corpus at 16 kHz in windows of `window` samples, synthesised first where the cache args->data
 * lacks it, and its split. Exits with 2 without espeak-ng, with 1 on another failure. */
static void load_corpus(const example_args *args, int voices, int sentences, int window, double t_start,
                        speech_corpus *corpus, split *sp)
{
    int made = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = speech_synthesise(args->data, voices, sentences, cpus > 1 ? (int)cpus : 1, &made);
    if (rc == LCT_EUNSUPPORTED) {
        fprintf(stderr, "cpc_speech: %s\n", ex_error());
        exit(2);
    }
    if (rc != 0) train_fail("cpc_speech");
    double t_synth = now();
    if (made)
        printf("cpc_speech: synthesised %d utterances with espeak-ng into %s in %.1f s\n", made, args->data,
               t_synth - t_start);
    if (speech_load(args->data, voices, sentences, RATE, (size_t)window, corpus) != 0) train_fail("cpc_speech");
    printf("cpc_speech: loaded and resampled the corpus in %.1f s\n", now() - t_synth);
    *sp = (split){.voices = voices, .sentences = sentences,
                  .train_sentences = sentences * 2 / 3 > 0 ? sentences * 2 / 3 : 1};
    sp->n = (size_t)voices * (size_t)sp->train_sentences;
    sp->q = (size_t)voices * (size_t)(sentences - sp->train_sentences);
    sp->train_ids = train_alloc("cpc_speech", sp->n * sizeof *sp->train_ids);
    sp->test_ids = train_alloc("cpc_speech", sp->q * sizeof *sp->test_ids);
    sp->train_y = train_alloc("cpc_speech", sp->n * sizeof *sp->train_y);
    sp->test_y = train_alloc("cpc_speech", sp->q * sizeof *sp->test_y);
    size_t ni = 0, qi = 0;
    for (int v = 0; v < voices; v++)
        for (int s = 0; s < sentences; s++) {
            int id = v * sentences + s;
            if (s < sp->train_sentences) {
                sp->train_ids[ni] = id, sp->train_y[ni++] = v;
                sp->train_samples += corpus->len[id];
            } else {
                sp->test_ids[qi] = id, sp->test_y[qi++] = v;
                sp->test_samples += corpus->len[id];
            }
        }
}

/* Speaker probe: features of the train and test utterances, softmax regression, test accuracy. */
static double speaker_accuracy(model *m, const speech_corpus *c, const split *sp, int mean, float *train_feat,
                               float *test_feat)
{
    size_t n = sp->n, q = sp->q;
    double t0 = now();
    utterance_features(m, c, sp->train_ids, n, mean, train_feat);
    utterance_features(m, c, sp->test_ids, q, mean, test_feat);
    double t1 = now();
    double acc = probe_accuracy(train_feat, sp->train_y, n, test_feat, sp->test_y, q, m->h, c->voices, 1e-3, 2000);
    printf("cpc_speech: features of %zu utterances in %.1f s, probe in %.1f s\n", n + q, t1 - t0, now() - t1);
    if (acc < 0) {
        fprintf(stderr, "cpc_speech: probe: %s\n", ex_error());
        exit(1);
    }
    return acc;
}

/* loss.png and embedding.png (PCA of the test features, one colour per speaker). */
static int write_speech_figures(const char *dir, const float *curve, size_t steps, const float *feat,
                                const int32_t *labels, size_t q, size_t h, int voices)
{
    char path[4096], title[128];
    int rc = make_dirs(dir);
    if (rc == 0 && steps > 0 && (rc = join_path(path, sizeof path, dir, "loss.png")) == 0)
        rc = plot_loss_curve(path, curve, steps, "CPC on speech: training loss");
    if (rc != 0) return rc;
    float *xy = malloc(q * 2 * sizeof *xy);
    if (xy == NULL) return ex_fail(LCT_ENOMEM, "cannot allocate the 2-D projection");
    char label[SPEECH_VOICES][48];
    const char *names[SPEECH_VOICES];
    for (int v = 0; v < voices; v++) {
        snprintf(label[v], sizeof label[v], "%s p%d s%d", speech_voices[v].voice, speech_voices[v].pitch,
                 speech_voices[v].speed);
        names[v] = label[v];
    }
    rc = pca_2d(feat, q, h, xy, NULL);
    if (rc == 0) rc = join_path(path, sizeof path, dir, "embedding.png");
    if (rc == 0) {
        snprintf(title, sizeof title, "CPC on speech: PCA of %zu test utterances", q);
        rc = plot_embedding_2d(path, xy, labels, q, voices, names, title);
    }
    free(xy);
    return rc;
}

/* --window and --steps give more than --steps latents per window, --limit at least 2 sentences;
 * returns the sentences per voice, or exits with 2. */
static int check_sizes(int window, int steps_ahead, int limit)
{
    if (window % HOP != 0 || steps_ahead >= window / HOP) {
        fprintf(stderr, "cpc_speech: --window %d must be a multiple of %d and give more than --steps %d latents\n",
                window, HOP, steps_ahead);
        exit(2);
    }
    int sentences = limit ? limit : SPEECH_SENTENCES;
    if (sentences < 2) {
        fprintf(stderr, "cpc_speech: --limit needs at least 2 sentences (one to train the probe, one to test it)\n");
        exit(2);
    }
    return sentences;
}

/* `count` floats, or exit with 1. */
static float *floats(size_t count)
{
    return train_alloc("cpc_speech", count * sizeof(float));
}

/* Step `step` of `epoch`: batch windows of the training utterances into x (batch x window), each
 * from a random utterance at a random offset. */
static void draw_windows(const speech_corpus *corpus, const split *sp, uint64_t seed, int epoch, size_t step,
                         size_t batch, size_t window, float *x)
{
    for (size_t b = 0; b < batch; b++) {
        int id = sp->train_ids[draw(seed, (uint64_t)epoch, step, 2 * b, sp->n)];
        size_t span = corpus->len[id] - window + 1;
        size_t off = (size_t)draw(seed, (uint64_t)epoch, step, 2 * b + 1, span);
        memcpy(x + b * window, corpus->utt[id] + off, window * sizeof *x);
    }
}

/* g_enc (the strided convolution stack over a window, `channels` wide) and g_ar (a GRU of `hidden`
 * units over its latents). */
static model new_model(lct_runtime *rt, const example_args *args, int window, int channels, int hidden)
{
    model m = {.window = window, .t = window / HOP, .d = (size_t)channels, .h = (size_t)hidden};
    char enc_spec[512], ar_spec[64];
    snprintf(enc_spec, sizeof enc_spec, enc_spec_fmt, window, channels, channels, channels, channels, channels);
    snprintf(ar_spec, sizeof ar_spec, ar_spec_fmt, m.t, channels, hidden);
    m.g_enc = train_encoder(rt, enc_spec, args);
    m.g_ar = train_encoder(rt, ar_spec, args);
    return m;
}

/* The augmenter of the cropped windows (float signals of 1 channel): with --augment a random gain
 * and noise, else none. */
static lct_augmenter *new_augmenter(lct_runtime *rt, int window, int augment)
{
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.input = LCT_AUG_SIGNAL_F32;
    ao.channels = 1;
    ao.height = 1;
    ao.width = (uint32_t)window;
    lct_augmenter *aug;
    CHECK(lct_augmenter_new(&aug, rt, &ao));
    if (augment) {
        CHECK(lct_augmenter_add_gain(aug, 1.0, -6.0, 6.0));
        CHECK(lct_augmenter_add_gaussian_noise(aug, 0.5, 0.05));
    }
    return aug;
}

/* The opening lines: the corpus, the windows and the two networks. */
static void print_start(const split *sp, const model *m, int steps_ahead, const char *negatives, int use_mean)
{
    printf("cpc_speech: %d voices x %d sentences (%d for the probe's training, %d held out): %zu + %zu utterances, "
           "%.1f + %.1f s at %d Hz\n",
           sp->voices, sp->sentences, sp->train_sentences, sp->sentences - sp->train_sentences, sp->n, sp->q,
           (double)sp->train_samples / RATE, (double)sp->test_samples / RATE, RATE);
    printf("cpc_speech: windows of %d samples (%d latents of 10 ms), K = %d, negatives %s, probe on the %s context\n",
           m->window, m->t, steps_ahead, negatives, use_mean ? "mean" : "last");
    printf("cpc_speech: g_enc %s\ncpc_speech: g_ar %s\n", lct_encoder_spec(m->g_enc), lct_encoder_spec(m->g_ar));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    char default_dir[4096];
    speech_default_dir(default_dir, sizeof default_dir);
    args.data = default_dir;
    args.epochs = 8;
    args.batch = 32;
    /* One thread by default: the model is small (32 channels, a 64-unit GRU stepping through 64
     * latents), so its parallel regions are short, and on a shared machine a second thread that
     * is not scheduled stalls every barrier (measured 4x slower at load 7, docs/benchmarks.md). */
    args.threads = 1;
    int limit = 0, voices = SPEECH_VOICES, window = 10240, channels = 32, hidden = 64, steps_ahead = 12, augment = 0;
    float lr = 1e-3f;
    const char *negatives = "batch", *embed = "mean";
    flag table[] = {
        FLAGS_COMMON(&args),
        {"limit", FLAG_INT, &limit, "use only the first N sentences of every voice (0: all 48; at least 2)", 0, 48},
        {"voices", FLAG_INT, &voices, "number of speakers (2..10)", 2, SPEECH_VOICES},
        {"window", FLAG_INT, &window, "samples per training window (a multiple of 160)", 1600, 1 << 20},
        {"channels", FLAG_INT, &channels, "channels of every convolution of g_enc (the paper: 512)", 1, 4096},
        {"hidden", FLAG_INT, &hidden, "GRU units of g_ar: the size of c_t (the paper: 256)", 1, 4096},
        {"steps", FLAG_INT, &steps_ahead, "prediction steps K (10 ms each), below window / 160", 1, 4096},
        {"negatives", FLAG_STRING, &negatives,
         "InfoNCE candidates: batch (other windows, same step), all (every step of every window), sequence (same window)",
         0, 0},
        {"lr", FLAG_FLOAT, &lr, "Adam learning rate (cosine schedule)", 1e-7, 1},
        {"embed", FLAG_STRING, &embed, "probe feature: mean (c_t averaged over the utterance) or last (last c_t)", 0, 0},
        {"augment", FLAG_BOOL, &augment, "random gain (+-6 dB) and noise (std 0.05) on the training windows", 0, 0},
    };
    /* The shared flags' help speaks of images; say what they mean here. */
    table[0].help = "passes over the training audio (an epoch draws as many windows as it holds)";
    table[1].help = "windows per training step";
    table[7].help = "cache folder of the synthesised corpus (made on the first run, reused afterwards)";
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv,
                        "CPC on raw speech synthesised by espeak-ng, with a speaker-identification linear probe");
    int neg_id = train_negatives(negatives);
    int use_mean = strcmp(embed, "mean") == 0 ? 1 : strcmp(embed, "last") == 0 ? 0 : -1;
    if (neg_id < 0 || use_mean < 0) {
        fprintf(stderr, "cpc_speech: --negatives is batch, all or sequence; --embed mean or last (got '%s', '%s')\n",
                negatives, embed);
        return 2;
    }
    int T = window / HOP, sentences = check_sizes(window, steps_ahead, limit);

    /* The corpus: synthesise what the cache lacks, then load it at 16 kHz. */
    double t_start = now();
    speech_corpus corpus;
    split sp;
    load_corpus(&args, voices, sentences, window, t_start, &corpus, &sp);
    size_t batch = (size_t)args.batch, n = sp.n, q = sp.q;
    if (batch < 2 && neg_id == LCT_INFONCE_BATCH) {
        fprintf(stderr, "cpc_speech: --negatives batch needs --batch 2 or more\n");
        return 2;
    }
    size_t steps = sp.train_samples / ((size_t)window * batch);
    if (steps == 0) steps = 1;

    /* Handles: runtime, g_enc, g_ar, InfoNCE (owns the W_k), Adam over all three, augmenter. */
    lct_runtime *rt = train_runtime(&args);
    model m = new_model(rt, &args, window, channels, hidden);
    lct_loss *loss = train_infonce(rt, (size_t)T, m.d, m.h, steps_ahead, neg_id);
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_ADAM, lr, 0, 0, (uint64_t)args.epochs * steps, 0);
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(m.g_enc)));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(m.g_ar)));
    CHECK(lct_optimizer_attach(opt, lct_loss_params(loss)));
    lct_augmenter *aug = new_augmenter(rt, window, augment);

    train_loop l;
    train_loop_init(&l, "cpc_speech", &args, rt, 0, steps, batch, NULL, 0);
    l.st = (run_state){.method = "cpc_speech", .optimizer = opt, .loss = loss, .augmenter = aug};
    l.st.encoder[l.st.encoders++] = m.g_enc;
    l.st.encoder[l.st.encoders++] = m.g_ar;
    float *train_feat = floats(n * m.h), *test_feat = floats(q * m.h);
    float *x = floats(batch * (size_t)window), *xa = floats(batch * (size_t)window);
    float *z = floats(batch * T * m.d), *dz = floats(batch * T * m.d), *dz_ar = floats(batch * T * m.d);
    float *c = floats(batch * T * m.h), *dc = floats(batch * T * m.h);

    double chance = 1.0 / voices;
    print_start(&sp, &m, steps_ahead, negatives, use_mean);
    double t_eval = now(), untrained = speaker_accuracy(&m, &corpus, &sp, use_mean, train_feat, test_feat);
    printf("cpc_speech: speaker accuracy before training %.4f (chance %.4f) in %.1f s; BLIS kernels %s, %d thread(s)\n",
           untrained, chance, now() - t_eval, lct_runtime_kernel(rt, NULL), lct_runtime_threads(rt));

    /* Training: random windows -> g_enc -> z -> g_ar -> c; InfoNCE gives dz and dc (and the W_k
     * gradients); dc flows back through g_ar into z, where it joins InfoNCE's own dz. An epoch
     * draws as many windows as the training utterances hold. */
    train_loop_begin(&l);
    double t_train = now();
    while (train_loop_next(&l)) {
        draw_windows(&corpus, &sp, args.seed, l.epoch, l.s, batch, (size_t)window, x);
        CHECK(lct_augmenter_apply(aug, x, batch, 1, xa));
        CHECK(lct_encoder_forward(m.g_enc, xa, batch, z)); /* batch x T x d */
        CHECK(lct_encoder_forward(m.g_ar, z, batch, c));   /* batch x T x h */
        CHECK(lct_optimizer_zero_grad(opt));
        float value;
        CHECK(lct_loss_infonce_compute(loss, z, c, batch, &value, dz, dc, NULL));
        CHECK(lct_encoder_backward(m.g_ar, dc, batch, dz_ar));
        for (size_t i = 0; i < batch * T * m.d; i++) dz[i] += dz_ar[i];
        CHECK(lct_encoder_backward(m.g_enc, dz, batch, NULL));
        CHECK(lct_optimizer_step(opt));
        train_loop_step_done(&l, value);
    }
    printf("cpc_speech: trained %zu steps in %.1f s\n", l.step, now() - t_train);
    train_loop_save(&l);

    double trained = speaker_accuracy(&m, &corpus, &sp, use_mean, train_feat, test_feat);
    printf("cpc_speech: speaker accuracy after training %.4f; whole run %.1f s\n", trained, now() - t_start);
    train_loop_figures(&l, write_speech_figures(args.out, l.curve, l.step, test_feat, sp.test_y, q, m.h, voices));
    printf("speaker accuracy: %.4f (untrained: %.4f, chance: %.4f)\n", trained, untrained, chance);

    float *buffers[] = {dc, c, dz_ar, dz, z, xa, x, test_feat, train_feat};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) free(buffers[i]);
    free(sp.test_y), free(sp.train_y), free(sp.test_ids), free(sp.train_ids);
    train_loop_free(&l);
    speech_free(&corpus);
    return 0;
}
