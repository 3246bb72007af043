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
#include "progress.h"
#include "run_state.h"
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

/* Speaker probe: features of the train and test utterances, softmax regression, test accuracy. */
static double speaker_accuracy(model *m, const speech_corpus *c, const int *train_ids, const int32_t *train_y,
                               size_t n, const int *test_ids, const int32_t *test_y, size_t q, int mean,
                               float *train_feat, float *test_feat)
{
    double t0 = now();
    utterance_features(m, c, train_ids, n, mean, train_feat);
    utterance_features(m, c, test_ids, q, mean, test_feat);
    double t1 = now();
    double acc = probe_accuracy(train_feat, train_y, n, test_feat, test_y, q, m->h, c->voices, 1e-3, 2000);
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
    int neg_id = strcmp(negatives, "batch") == 0      ? LCT_INFONCE_BATCH
                 : strcmp(negatives, "all") == 0      ? LCT_INFONCE_ALL
                 : strcmp(negatives, "sequence") == 0 ? LCT_INFONCE_SEQUENCE
                                                      : -1;
    int use_mean = strcmp(embed, "mean") == 0 ? 1 : strcmp(embed, "last") == 0 ? 0 : -1;
    if (neg_id < 0 || use_mean < 0) {
        fprintf(stderr, "cpc_speech: --negatives is batch, all or sequence; --embed mean or last (got '%s', '%s')\n",
                negatives, embed);
        return 2;
    }
    int T = window / HOP;
    if (window % HOP != 0 || steps_ahead >= T) {
        fprintf(stderr, "cpc_speech: --window %d must be a multiple of %d and give more than --steps %d latents\n",
                window, HOP, steps_ahead);
        return 2;
    }
    int sentences = limit ? limit : SPEECH_SENTENCES;
    if (sentences < 2) {
        fprintf(stderr, "cpc_speech: --limit needs at least 2 sentences (one to train the probe, one to test it)\n");
        return 2;
    }
    int train_sentences = sentences * 2 / 3 > 0 ? sentences * 2 / 3 : 1;

    /* The corpus: synthesise what the cache lacks, then load it at 16 kHz. */
    int made = 0;
    double t_start = now();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = speech_synthesise(args.data, voices, sentences, cpus > 1 ? (int)cpus : 1, &made);
    if (rc == LCT_EUNSUPPORTED) {
        fprintf(stderr, "cpc_speech: %s\n", ex_error());
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "cpc_speech: %s\n", ex_error());
        return 1;
    }
    double t_synth = now();
    if (made) printf("cpc_speech: synthesised %d utterances with espeak-ng into %s in %.1f s\n", made, args.data, t_synth - t_start);
    speech_corpus corpus;
    if (speech_load(args.data, voices, sentences, RATE, (size_t)window, &corpus) != 0) {
        fprintf(stderr, "cpc_speech: %s\n", ex_error());
        return 1;
    }
    printf("cpc_speech: loaded and resampled the corpus in %.1f s\n", now() - t_synth);
    /* Probe split by sentence; the unsupervised training sees the training sentences only. */
    size_t n = (size_t)voices * (size_t)train_sentences, q = (size_t)voices * (size_t)(sentences - train_sentences);
    int *train_ids = malloc(n * sizeof *train_ids), *test_ids = malloc(q * sizeof *test_ids);
    int32_t *train_y = malloc(n * sizeof *train_y), *test_y = malloc(q * sizeof *test_y);
    if (!train_ids || !test_ids || !train_y || !test_y) {
        fprintf(stderr, "cpc_speech: out of memory\n");
        return 1;
    }
    size_t ni = 0, qi = 0, train_samples = 0, test_samples = 0;
    for (int v = 0; v < voices; v++)
        for (int s = 0; s < sentences; s++) {
            int id = v * sentences + s;
            if (s < train_sentences) {
                train_ids[ni] = id, train_y[ni++] = v;
                train_samples += corpus.len[id];
            } else {
                test_ids[qi] = id, test_y[qi++] = v;
                test_samples += corpus.len[id];
            }
        }
    size_t batch = (size_t)args.batch;
    if (batch < 2 && neg_id == LCT_INFONCE_BATCH) {
        fprintf(stderr, "cpc_speech: --negatives batch needs --batch 2 or more\n");
        return 2;
    }
    size_t steps_per_epoch = train_samples / ((size_t)window * batch);
    if (steps_per_epoch == 0) steps_per_epoch = 1;

    /* Handles: runtime, g_enc, g_ar, InfoNCE (owns the W_k), Adam over all three, augmenter. */
    lct_runtime *rt = train_runtime(&args);
    model m = {.window = window, .t = T};
    char enc_spec[512], ar_spec[64];
    snprintf(enc_spec, sizeof enc_spec, enc_spec_fmt, window, channels, channels, channels, channels, channels);
    snprintf(ar_spec, sizeof ar_spec, ar_spec_fmt, T, channels, hidden);
    m.g_enc = train_encoder(rt, enc_spec, &args);
    m.g_ar = train_encoder(rt, ar_spec, &args);
    m.d = (size_t)channels;
    m.h = (size_t)hidden;

    lct_loss_infonce_options lo;
    lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    lo.steps = (uint32_t)steps_ahead;
    lo.negatives = neg_id;
    lct_loss *loss;
    CHECK(lct_loss_new_infonce(&loss, rt, (size_t)T, m.d, m.h, &lo));

    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.kind = LCT_OPTIMIZER_ADAM;
    oo.lr = lr;
    oo.schedule = LCT_SCHEDULE_COSINE;
    oo.total_steps = (uint64_t)args.epochs * steps_per_epoch;
    lct_optimizer *opt;
    CHECK(lct_optimizer_new(&opt, rt, &oo));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(m.g_enc)));
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(m.g_ar)));
    CHECK(lct_optimizer_attach(opt, lct_loss_params(loss)));

    /* The augmenter works on the cropped windows (float signals of 1 channel). */
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

    float *train_feat = malloc(n * m.h * sizeof(float)), *test_feat = malloc(q * m.h * sizeof(float));
    float *x = malloc(batch * (size_t)window * sizeof(float)), *xa = malloc(batch * (size_t)window * sizeof(float));
    float *z = malloc(batch * T * m.d * sizeof(float)), *dz = malloc(batch * T * m.d * sizeof(float));
    float *dz_ar = malloc(batch * T * m.d * sizeof(float));
    float *c = malloc(batch * T * m.h * sizeof(float)), *dc = malloc(batch * T * m.h * sizeof(float));
    float *curve = malloc(((size_t)args.epochs * steps_per_epoch + 1) * sizeof *curve);
    if (!train_feat || !test_feat || !x || !xa || !z || !dz || !dz_ar || !c || !dc || !curve) {
        fprintf(stderr, "cpc_speech: out of memory\n");
        return 1;
    }

    double chance = 1.0 / voices;
    printf("cpc_speech: %d voices x %d sentences (%d for the probe's training, %d held out): %zu + %zu utterances, "
           "%.1f + %.1f s at %d Hz\n",
           voices, sentences, train_sentences, sentences - train_sentences, n, q, (double)train_samples / RATE,
           (double)test_samples / RATE, RATE);
    printf("cpc_speech: windows of %d samples (%d latents of 10 ms), K = %d, negatives %s, probe on the %s context\n",
           window, T, steps_ahead, negatives, use_mean ? "mean" : "last");
    printf("cpc_speech: g_enc %s\ncpc_speech: g_ar %s\n", lct_encoder_spec(m.g_enc), lct_encoder_spec(m.g_ar));
    fflush(stdout);
    double t_eval = now();
    double untrained = speaker_accuracy(&m, &corpus, train_ids, train_y, n, test_ids, test_y, q, use_mean,
                                        train_feat, test_feat);
    printf("cpc_speech: speaker accuracy before training %.4f (chance %.4f) in %.1f s; BLIS kernels %s, %d thread(s)\n",
           untrained, chance, now() - t_eval, lct_runtime_kernel(rt, NULL), lct_runtime_threads(rt));
    fflush(stdout);

    run_state st = {.method = "cpc_speech", .optimizer = opt, .loss = loss, .augmenter = aug};
    st.encoder[st.encoders++] = m.g_enc;
    st.encoder[st.encoders++] = m.g_ar;
    int first_epoch = 1;
    if (args.resume) {
        if (run_state_load(&st, rt, args.resume, &first_epoch) != 0) {
            fprintf(stderr, "cpc_speech: %s\n", ex_error());
            return 1;
        }
        printf("cpc_speech: resumed from %s at epoch %d\n", args.resume, first_epoch);
    }

    /* Training: random windows -> g_enc -> z -> g_ar -> c; InfoNCE gives dz and dc (and the W_k
     * gradients); dc flows back through g_ar into z, where it joins InfoNCE's own dz. An epoch
     * draws as many windows as the training utterances hold. */
    double t_train = now();
    progress bar;
    progress_init(&bar, stdout, args.epochs, steps_per_epoch, batch);
    size_t step = 0;
    for (int epoch = first_epoch; epoch <= args.epochs; epoch++) {
        progress_epoch_begin(&bar);
        for (size_t s = 0; s < steps_per_epoch; s++) {
            for (size_t b = 0; b < batch; b++) {
                int id = train_ids[draw(args.seed, (uint64_t)epoch, s, 2 * b, n)];
                size_t span = corpus.len[id] - (size_t)window + 1;
                size_t off = (size_t)draw(args.seed, (uint64_t)epoch, s, 2 * b + 1, span);
                memcpy(x + b * (size_t)window, corpus.utt[id] + off, (size_t)window * sizeof *x);
            }
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
            curve[step++] = value;
            progress_update(&bar, epoch, s + 1, value);
        }
    }

    printf("cpc_speech: trained %zu steps in %.1f s\n", step, now() - t_train);
    if (args.save) {
        if (run_state_save(&st, rt, args.save, args.epochs) != 0) {
            fprintf(stderr, "cpc_speech: %s\n", ex_error());
            return 1;
        }
        printf("cpc_speech: saved %s\n", args.save);
    }

    double trained = speaker_accuracy(&m, &corpus, train_ids, train_y, n, test_ids, test_y, q, use_mean, train_feat,
                                      test_feat);
    printf("cpc_speech: speaker accuracy after training %.4f; whole run %.1f s\n", trained, now() - t_start);
    if (write_speech_figures(args.out, curve, step, test_feat, test_y, q, m.h, voices) != 0)
        fprintf(stderr, "cpc_speech: figures not written: %s\n", ex_error());
    else
        printf("cpc_speech: wrote %s/loss.png and %s/embedding.png\n", args.out, args.out);

    printf("speaker accuracy: %.4f (untrained: %.4f, chance: %.4f)\n", trained, untrained, chance);

    free(curve);
    free(dc);
    free(c);
    free(dz_ar);
    free(dz);
    free(z);
    free(xa);
    free(x);
    free(test_feat);
    free(train_feat);
    free(test_y);
    free(train_y);
    free(test_ids);
    free(train_ids);
    lct_augmenter_free(aug);
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_encoder_free(m.g_ar);
    lct_encoder_free(m.g_enc);
    lct_runtime_free(rt);
    speech_free(&corpus);
    return 0;
}
