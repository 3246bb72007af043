/*
 * The speech helpers of the examples (examples/common): WAV reader, polyphase resampler,
 * normalisation, the softmax-regression probe, and the espeak-ng corpus (synthesis is tested
 * only when espeak-ng is installed).
 */
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio.h"
#include "probe.h"
#include "speech.h"

#define EX_ASSERT_FAILS(call, code, needle)                                                        \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        ck_assert_msg(rc__ == (code), "%s returned %d, expected %d; message: %s", #call, rc__,     \
                      (int)(code), ex_error());                                                    \
        ck_assert_msg(strstr(ex_error(), (needle)) != NULL, "message '%s' lacks '%s'", ex_error(), \
                      (const char *)(needle));                                                     \
    } while (0)

/* ---- WAV ---------------------------------------------------------------------------------- */

static void le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff), le16(p + 2, v >> 16); }

/*
 * A WAV in buf: RIFF header, an odd-sized "LIST" chunk (padded), "fmt " (format, channels,
 * rate, bits), then "data" with `frames` frames of a known pattern. Returns the size.
 */
static size_t make_wav(uint8_t *buf, unsigned format, unsigned channels, uint32_t rate, unsigned bits, size_t frames)
{
    size_t pos = 12;
    memcpy(buf + pos, "LIST", 4), le32(buf + pos + 4, 3), memcpy(buf + pos + 8, "abc", 3), buf[pos + 11] = 0;
    pos += 12;
    memcpy(buf + pos, "fmt ", 4), le32(buf + pos + 4, 16);
    unsigned align = channels * bits / 8;
    le16(buf + pos + 8, format), le16(buf + pos + 10, channels), le32(buf + pos + 12, rate);
    le32(buf + pos + 16, rate * align), le16(buf + pos + 20, align), le16(buf + pos + 22, bits);
    pos += 24;
    size_t data = frames * align;
    memcpy(buf + pos, "data", 4), le32(buf + pos + 4, (uint32_t)data);
    pos += 8;
    for (size_t i = 0; i < frames * channels; i++) {
        if (bits == 16)
            le16(buf + pos + 2 * i, (unsigned)(uint16_t)(int16_t)((int)(i * 2731 % 65536) - 32768));
        else
            buf[pos + i] = (uint8_t)(i * 37 % 256);
    }
    pos += data;
    memcpy(buf, "RIFF", 4), le32(buf + 4, (uint32_t)(pos - 8)), memcpy(buf + 8, "WAVE", 4);
    return pos;
}

START_TEST(test_wav_parse_pcm)
{
    uint8_t buf[4096];
    audio a;
    size_t size = make_wav(buf, 1, 1, 22050, 16, 100);
    ck_assert_int_eq(wav_parse(buf, size, &a), 0);
    ck_assert_uint_eq(a.n, 100);
    ck_assert_uint_eq(a.rate, 22050);
    for (size_t i = 0; i < 100; i++) {
        double want = (double)((int)(i * 2731 % 65536) - 32768) / 32768.0;
        ck_assert_double_eq_tol(a.samples[i], want, 1e-7);
    }
    audio_free(&a);
    ck_assert_ptr_null(a.samples);
    audio_free(&a); /* twice is fine */

    /* 8-bit stereo: the channels are averaged. */
    size = make_wav(buf, 1, 2, 8000, 8, 50);
    ck_assert_int_eq(wav_parse(buf, size, &a), 0);
    ck_assert_uint_eq(a.n, 50);
    for (size_t i = 0; i < 50; i++) {
        double l = ((double)(2 * i * 37 % 256) - 128) / 128, r = ((double)((2 * i + 1) * 37 % 256) - 128) / 128;
        ck_assert_double_eq_tol(a.samples[i], (l + r) / 2, 1e-7);
    }
    audio_free(&a);

    /* A streamed file: RIFF and data sizes unknown (0xFFFFFFFF), read to the end. */
    size = make_wav(buf, 1, 1, 16000, 16, 40);
    le32(buf + 4, 0xFFFFFFFFu);
    le32(buf + 12 + 12 + 24 + 4, 0xFFFFFFFFu);
    ck_assert_int_eq(wav_parse(buf, size + 1, &a), 0); /* a stray byte is not a whole frame: dropped */
    ck_assert_uint_eq(a.n, 40);
    audio_free(&a);

    /* wav_read on a file; a missing file is LCT_EIO. */
    char path[] = "/tmp/lct-speech-wav-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size = make_wav(buf, 1, 1, 22050, 16, 64);
    ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
    close(fd);
    ck_assert_int_eq(wav_read(path, &a), 0);
    ck_assert_uint_eq(a.n, 64);
    audio_free(&a);
    unlink(path);
    EX_ASSERT_FAILS(wav_read(path, &a), LCT_EIO, "cannot open");
    ck_assert_ptr_null(a.samples);
}
END_TEST

START_TEST(test_wav_parse_rejects)
{
    uint8_t buf[4096], bad[4096];
    audio a;
    size_t size = make_wav(buf, 1, 1, 22050, 16, 100);
    const size_t fmt = 12 + 12 + 8, data_hdr = 12 + 12 + 24;
    EX_ASSERT_FAILS(wav_parse(NULL, size, &a), LCT_EINVAL, "bytes");
    EX_ASSERT_FAILS(wav_parse(buf, size, NULL), LCT_EINVAL, "out");
    EX_ASSERT_FAILS(wav_parse(buf, 8, &a), LCT_EFORMAT, "RIFF/WAVE");
#define MUTATE(stmt, needle)                                \
    do {                                                    \
        memcpy(bad, buf, size);                             \
        stmt;                                               \
        EX_ASSERT_FAILS(wav_parse(bad, size, &a), LCT_EFORMAT, needle); \
        ck_assert_ptr_null(a.samples);                      \
    } while (0)
    MUTATE(memcpy(bad + 8, "AVI ", 4), "RIFF/WAVE");
    MUTATE(le32(bad + 4, (uint32_t)size), "RIFF size");
    MUTATE(le16(bad + fmt, 3), "format 3");
    MUTATE(le16(bad + fmt + 2, 3), "3 channels");
    MUTATE(le16(bad + fmt + 14, 24), "24 bits");
    MUTATE(le32(bad + fmt + 4, 0), "sample rate 0");
    MUTATE(le16(bad + fmt + 12, 4), "block align");
    MUTATE(le32(bad + fmt - 4, 12), "fmt chunk of 12");
    MUTATE(le32(bad + data_hdr + 4, 199), "whole number");
    MUTATE(le32(bad + data_hdr + 4, 100000), "only 200 left");
    MUTATE(le32(bad + data_hdr + 4, 0), "no samples");
    MUTATE(memcpy(bad + data_hdr, "junk", 4), "no data chunk");
    MUTATE(memcpy(bad + fmt - 8, "junk", 4), "data chunk before");
    MUTATE(le32(bad + 16, 5000), "runs past the end");
#undef MUTATE
}
END_TEST

/* ---- resampler ------------------------------------------------------------------------------ */

/* Straight double-precision reference of resample(): the same Kaiser-windowed sinc evaluated at
 * every tap directly from the output time (no tables), normalised to unit sum. */
static double ref_i0(double x)
{
    double s = 1, t = 1;
    for (int k = 1; k < 300; k++) {
        t *= (x / 2) * (x / 2) / ((double)k * k);
        s += t;
    }
    return s;
}

static void ref_resample(const float *in, size_t n, double from, double to, int zeros, double *out, size_t m)
{
    double ratio = to / from, fc = 0.5 * 0.95 * (ratio < 1 ? ratio : 1), half = zeros / (2 * fc);
    for (size_t j = 0; j < m; j++) {
        double t = (double)j / ratio, acc = 0, sum = 0;
        long lo = (long)ceil(t - half) - 1, hi = (long)floor(t + half) + 1;
        for (long i = lo; i <= hi; i++) {
            double d = (double)i - t, u = d / half;
            if (fabs(u) >= 1) continue;
            double a = 2 * fc * d, h = (a == 0 ? 1 : sin(M_PI * a) / (M_PI * a)) * ref_i0(8.6 * sqrt(1 - u * u));
            sum += h;
            if (i >= 0 && (size_t)i < n) acc += h * in[i];
        }
        out[j] = acc / sum;
    }
}

static double tone_rms_error(uint32_t from, uint32_t to, double freq, double expect_gain)
{
    size_t n = from; /* one second */
    float *x = malloc(n * sizeof *x), *y;
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(2 * M_PI * freq * (double)i / from);
    size_t m;
    ck_assert_int_eq(resample(x, n, from, to, 24, &y, &m), 0);
    ck_assert_uint_eq(m, (n * to + from - 1) / from);
    /* Compare the middle half (away from the zero-padded ends) with the ideal tone. */
    double se = 0;
    size_t cnt = 0;
    for (size_t j = m / 4; j < 3 * m / 4; j++, cnt++) {
        double e = y[j] - expect_gain * sin(2 * M_PI * freq * (double)j / to);
        se += e * e;
    }
    free(x);
    free(y);
    return sqrt(se / (double)cnt);
}

START_TEST(test_resample_tones)
{
    /* Pass band: tones come out as the same tones at the new rate. */
    ck_assert_double_lt(tone_rms_error(22050, 16000, 1000, 1), 1e-4);
    ck_assert_double_lt(tone_rms_error(22050, 16000, 6500, 1), 1e-3);
    ck_assert_double_lt(tone_rms_error(8000, 16000, 440, 1), 1e-4);
    ck_assert_double_lt(tone_rms_error(44100, 16000, 3000, 1), 1e-4);
    /* Stop band: a 10 kHz tone cannot be represented at 16 kHz and must not alias (> 60 dB down). */
    ck_assert_double_lt(tone_rms_error(22050, 16000, 10000, 0), 1e-3 / sqrt(2));
    /* DC passes with gain 1. */
    float ones[2000], *y;
    size_t m;
    for (int i = 0; i < 2000; i++) ones[i] = 1;
    ck_assert_int_eq(resample(ones, 2000, 22050, 16000, 24, &y, &m), 0);
    for (size_t j = 100; j < m - 100; j++) ck_assert_double_eq_tol(y[j], 1.0, 1e-6);
    free(y);
}
END_TEST

START_TEST(test_resample_matches_reference)
{
    const uint32_t rates[][2] = {{22050, 16000}, {16000, 22050}, {48000, 16000}, {7, 5}};
    for (int r = 0; r < 4; r++) {
        size_t n = 1500;
        float *x = malloc(n * sizeof *x), *y;
        uint64_t s = 12345 + (uint64_t)r;
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[i] = (float)((double)(s % 20001) / 10000.0 - 1.0);
        }
        size_t m;
        ck_assert_int_eq(resample(x, n, rates[r][0], rates[r][1], 16, &y, &m), 0);
        double *want = malloc(m * sizeof *want);
        ref_resample(x, n, rates[r][0], rates[r][1], 16, want, m);
        for (size_t j = 0; j < m; j++)
            ck_assert_msg(fabs(y[j] - want[j]) < 2e-5, "%u -> %u: y[%zu] = %g, reference %g", rates[r][0],
                          rates[r][1], j, y[j], want[j]);
        free(want);
        free(y);
        free(x);
    }
}
END_TEST

START_TEST(test_resample_bad_input)
{
    float x[4] = {0}, *y = (float *)1;
    size_t m = 7;
    EX_ASSERT_FAILS(resample(NULL, 4, 2, 1, 8, &y, &m), LCT_EINVAL, "in is NULL");
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(m, 0);
    EX_ASSERT_FAILS(resample(x, 4, 2, 1, 8, NULL, &m), LCT_EINVAL, "out is NULL");
    EX_ASSERT_FAILS(resample(x, 4, 2, 1, 8, &y, NULL), LCT_EINVAL, "out_n is NULL");
    EX_ASSERT_FAILS(resample(x, 0, 2, 1, 8, &y, &m), LCT_EINVAL, "n is 0");
    EX_ASSERT_FAILS(resample(x, 4, 0, 1, 8, &y, &m), LCT_EINVAL, "rates 0 -> 1");
    EX_ASSERT_FAILS(resample(x, 4, 2, 2000000, 8, &y, &m), LCT_EINVAL, "rates");
    EX_ASSERT_FAILS(resample(x, 4, 2, 1, 0, &y, &m), LCT_EINVAL, "zeros is 0");
    EX_ASSERT_FAILS(resample(x, 4, 999983, 1000000, 256, &y, &m), LCT_EINVAL, "filter table");
}
END_TEST

START_TEST(test_audio_normalise)
{
    float x[20] = {0, 0, 0.0001f, 0, 1, -2, 3, 0.5f, -1, 0, 0.0001f, 0, 0};
    size_t n = 20;
    audio_normalise(x, &n, 0.01f);
    ck_assert_uint_eq(n, 5); /* 1, -2, 3, 0.5, -1 */
    double mean = (1 - 2 + 3 + 0.5 - 1) / 5.0, v[5] = {1, -2, 3, 0.5, -1}, ss = 0;
    for (int i = 0; i < 5; i++) ss += (v[i] - mean) * (v[i] - mean);
    double rms = sqrt(ss / 5);
    for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(x[i], (v[i] - mean) / rms, 1e-6);
    float z[3] = {0, 0, 0};
    n = 3;
    audio_normalise(z, &n, 0.5f); /* silence stays silence, nothing trimmed */
    ck_assert_uint_eq(n, 3);
    ck_assert_float_eq(z[1], 0);
}
END_TEST

/* ---- softmax probe ------------------------------------------------------------------------- */

/* Gaussian-ish random value in (-1.7, 1.7): sum of three uniforms. */
static double rnd(uint64_t *s)
{
    double acc = 0;
    for (int k = 0; k < 3; k++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        acc += (double)(*s >> 11) / 9007199254740992.0 - 0.5;
    }
    return acc;
}

START_TEST(test_softmax_fit_reaches_the_optimum)
{
    enum { N = 90, D = 6, K = 3 };
    float x[N * D];
    int32_t y[N];
    uint64_t s = 99;
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)(3.0 * j + 0.5 * (j + 1) * rnd(&s) + (j < 3 && y[i] == j ? 0.8 : 0.0));
    }
    x[5] = x[11]; /* nothing special; data stays non-degenerate */
    const double l2 = 0.01;
    softmax_model m;
    ck_assert_int_eq(softmax_fit(&m, x, y, N, D, K, l2, 4000), 0);
    /* Reference standardisation in double. */
    double mean[D] = {0}, sd[D] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[i * D + j] / (double)N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) sd[j] += (x[i * D + j] - mean[j]) * (x[i * D + j] - mean[j]) / N;
    for (int j = 0; j < D; j++) {
        ck_assert_double_eq_tol(m.mean[j], mean[j], 1e-9 * (1 + fabs(mean[j])));
        ck_assert_double_eq_tol(m.scale[j], 1 / sqrt(sd[j]), 1e-9 / sqrt(sd[j]));
    }
    /* Gradient of J at the returned weights, computed here from the definition: ~0 at the optimum. */
    double g[K][D + 1] = {{0}}, J = 0;
    for (int i = 0; i < N; i++) {
        double z[D + 1], sc[K], mx = -1e300, sum = 0;
        for (int j = 0; j < D; j++) z[j] = (x[i * D + j] - mean[j]) / sqrt(sd[j]);
        z[D] = 1;
        for (int c = 0; c < K; c++) {
            sc[c] = 0;
            for (int j = 0; j <= D; j++) sc[c] += m.w[c * (D + 1) + j] * z[j];
            mx = sc[c] > mx ? sc[c] : mx;
        }
        for (int c = 0; c < K; c++) sum += exp(sc[c] - mx);
        J += (mx + log(sum) - sc[y[i]]) / N;
        for (int c = 0; c < K; c++) {
            double p = exp(sc[c] - mx) / sum - (c == y[i]);
            for (int j = 0; j <= D; j++) g[c][j] += p * z[j] / N;
        }
    }
    for (int c = 0; c < K; c++)
        for (int j = 0; j < D; j++) {
            g[c][j] += l2 * m.w[c * (D + 1) + j];
            J += 0.5 * l2 * m.w[c * (D + 1) + j] * m.w[c * (D + 1) + j];
        }
    for (int c = 0; c < K; c++)
        for (int j = 0; j <= D; j++) ck_assert_msg(fabs(g[c][j]) < 1e-6, "gradient [%d][%d] = %g", c, j, g[c][j]);
    ck_assert_double_eq_tol(m.loss, J, 1e-6);
    ck_assert_int_eq(m.iterations, 4000);
    /* Predictions are the arg max of the scores. */
    double sc[N * K];
    int32_t pred[N];
    softmax_scores(&m, x, N, sc);
    softmax_predict(&m, x, N, pred);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < K; c++) ck_assert_double_le(sc[i * K + c], sc[i * K + pred[i]]);
    softmax_free(&m);
    softmax_free(&m);
}
END_TEST

START_TEST(test_probe_accuracy_separable_and_chance)
{
    enum { N = 200, Q = 100, D = 8, K = 4 };
    float tr[N * D], te[Q * D];
    int32_t ytr[N], yte[Q];
    uint64_t s = 7;
    for (int i = 0; i < N + Q; i++) {
        float *row = i < N ? tr + i * D : te + (i - N) * D;
        int32_t c = i % K;
        *(i < N ? &ytr[i] : &yte[i - N]) = c;
        for (int j = 0; j < D; j++) row[j] = (float)(rnd(&s) + (j == c ? 4.0 : 0.0) + (j == 7 ? 100.0 : 0.0));
        row[6] = 5.0f; /* a constant feature is ignored */
    }
    ck_assert_double_eq(probe_accuracy(tr, ytr, N, te, yte, Q, D, K, 1e-3, 500), 1.0);
    /* Labels that do not depend on the features: near chance on held-out rows. */
    for (int i = 0; i < N; i++) ytr[i] = (int32_t)((i * 7 + i / 3) % K);
    for (int i = 0; i < Q; i++) yte[i] = (int32_t)((i * 5 + i / 7) % K);
    for (int i = 0; i < N + Q; i++) {
        float *row = i < N ? tr + i * D : te + (i - N) * D;
        for (int j = 0; j < D; j++) row[j] = (float)rnd(&s);
    }
    double acc = probe_accuracy(tr, ytr, N, te, yte, Q, D, K, 1e-3, 500);
    ck_assert_double_lt(acc, 0.45);
}
END_TEST

START_TEST(test_softmax_bad_input)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    int32_t y[3] = {0, 1, 0};
    softmax_model m;
    EX_ASSERT_FAILS(softmax_fit(NULL, x, y, 3, 2, 2, 0, 10), LCT_EINVAL, "m is NULL");
    EX_ASSERT_FAILS(softmax_fit(&m, NULL, y, 3, 2, 2, 0, 10), LCT_EINVAL, "x is NULL");
    ck_assert_ptr_null(m.w);
    EX_ASSERT_FAILS(softmax_fit(&m, x, NULL, 3, 2, 2, 0, 10), LCT_EINVAL, "y is NULL");
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 0, 2, 2, 0, 10), LCT_EINVAL, "n = 0");
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 1, 0, 10), LCT_EINVAL, "classes is 1");
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 2, -1, 10), LCT_EINVAL, "l2 is -1");
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 2, NAN, 10), LCT_EINVAL, "l2 is nan");
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 2, 0, 0), LCT_EINVAL, "iterations is 0");
    y[2] = 2;
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 2, 0, 10), LCT_EINVAL, "label 2 of row 2");
    y[2] = 0;
    x[3] = INFINITY;
    EX_ASSERT_FAILS(softmax_fit(&m, x, y, 3, 2, 2, 0, 10), LCT_ENUMERIC, "x[3]");
    ck_assert_ptr_null(m.w);
    x[3] = 4;
    ck_assert_double_lt(probe_accuracy(x, y, 3, NULL, y, 3, 2, 2, 0, 10), 0);
    ck_assert_double_eq(probe_accuracy(x, y, 3, x, y, 0, 2, 2, 0, 10), LCT_EINVAL);
}
END_TEST

/* ---- corpus --------------------------------------------------------------------------------- */

START_TEST(test_speech_paths)
{
    char a[256], b[256], c[16];
    ck_assert_int_eq(speech_file(a, sizeof a, "/x", 0, 0), 0);
    ck_assert_int_eq(speech_file(b, sizeof b, "/x", 0, 1), 0);
    ck_assert_str_ne(a, b);
    ck_assert(strncmp(a, "/x/m1-00-", 9) == 0);
    ck_assert(strcmp(a + strlen(a) - 4, ".wav") == 0);
    EX_ASSERT_FAILS(speech_file(c, sizeof c, "/a/long/folder", 0, 0), LCT_EINVAL, "too long");
    /* Every (voice, sentence) has its own file name. */
    for (int v = 0; v < SPEECH_VOICES; v++)
        for (int s = 0; s < SPEECH_SENTENCES; s++) {
            ck_assert_int_eq(speech_file(a, sizeof a, "", v, s), 0);
            for (int w = 0; w < SPEECH_VOICES; w++) {
                if (w == v) continue;
                ck_assert_int_eq(speech_file(b, sizeof b, "", w, s), 0);
                ck_assert_str_ne(a, b);
            }
        }
    setenv("XDG_CACHE_HOME", "/cache", 1);
    speech_default_dir(a, sizeof a);
    ck_assert_str_eq(a, "/cache/libcontrast/speech");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    speech_default_dir(a, sizeof a);
    ck_assert_str_eq(a, "/home/u/.cache/libcontrast/speech");
    EX_ASSERT_FAILS(speech_synthesise(NULL, 1, 1, 1, NULL), LCT_EINVAL, "dir is NULL");
    EX_ASSERT_FAILS(speech_synthesise("/tmp", 0, 1, 1, NULL), LCT_EINVAL, "0 voices");
    EX_ASSERT_FAILS(speech_synthesise("/tmp", 1, 49, 1, NULL), LCT_EINVAL, "49 sentences");
    speech_corpus corpus;
    EX_ASSERT_FAILS(speech_load(NULL, 1, 1, 16000, 0, &corpus), LCT_EINVAL, "dir is NULL");
    EX_ASSERT_FAILS(speech_load("/nonexistent-lct", 1, 1, 16000, 0, &corpus), LCT_EIO, "cannot open");
    ck_assert_ptr_null(corpus.utt);
}
END_TEST

START_TEST(test_speech_synthesis)
{
    if (system("command -v espeak-ng >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_speech_synthesis: espeak-ng not installed, synthesis not tested\n");
        return;
    }
    char dir[] = "/tmp/lct-speech-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int made = -1;
    ck_assert_int_eq(speech_synthesise(dir, 2, 2, 2, &made), 0);
    ck_assert_int_eq(made, 4);
    ck_assert_int_eq(speech_synthesise(dir, 2, 2, 2, &made), 0); /* all present: nothing to do */
    ck_assert_int_eq(made, 0);
    speech_corpus c;
    ck_assert_int_eq(speech_load(dir, 2, 2, 16000, 40000, &c), 0);
    ck_assert_int_eq(c.voices, 2);
    ck_assert_uint_eq(c.rate, 16000);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_ge(c.len[i], 40000); /* padded up to min_len at least */
        ck_assert_uint_lt(c.len[i], 16000 * 10);
        double ss = 0, mean = 0;
        size_t n = c.len[i];
        for (size_t k = 0; k < n; k++) mean += c.utt[i][k] / (double)n, ss += (double)c.utt[i][k] * c.utt[i][k];
        ck_assert_double_gt(ss / (double)n, 0.3); /* unit RMS before any padding */
        ck_assert_double_le(ss / (double)n, 1.0 + 1e-4);
        ck_assert_double_lt(fabs(mean), 0.05);
    }
    speech_free(&c);
    speech_free(&c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static void add_tests(Suite *s)
{
    TCase *wav = lct_test_case(s, "audio", 60), *probe = lct_test_case(s, "probe", 0),
          *corpus = lct_test_case(s, "corpus", 60);
    tcase_add_test(wav, test_wav_parse_pcm);
    tcase_add_test(wav, test_wav_parse_rejects);
    tcase_add_test(wav, test_resample_tones);
    tcase_add_test(wav, test_resample_matches_reference);
    tcase_add_test(wav, test_resample_bad_input);
    tcase_add_test(wav, test_audio_normalise);
    tcase_add_test(probe, test_softmax_fit_reaches_the_optimum);
    tcase_add_test(probe, test_probe_accuracy_separable_and_chance);
    tcase_add_test(probe, test_softmax_bad_input);
    tcase_add_test(corpus, test_speech_paths);
    tcase_add_test(corpus, test_speech_synthesis);
}

int main(void)
{
    return lct_test_suite_main("examples_speech", add_tests);
}
