#include "audio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numeric.h"

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void audio_free(audio *a)
{
    if (a == NULL) return;
    free(a->samples);
    a->samples = NULL;
    a->n = 0;
}

int wav_parse(const uint8_t *bytes, size_t size, audio *out)
{
    if (out == NULL) return ex_fail(LCT_EINVAL, "wav_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (bytes == NULL) return ex_fail(LCT_EINVAL, "wav_parse: bytes is NULL");
    if (size < 12 || memcmp(bytes, "RIFF", 4) != 0 || memcmp(bytes + 8, "WAVE", 4) != 0)
        return ex_fail(LCT_EFORMAT, "wav: not a RIFF/WAVE file (%zu bytes)", size);
    uint32_t riff = rd32(bytes + 4);
    size_t end = size;
    if (riff != 0xFFFFFFFFu && riff != 0) {
        if ((size_t)riff > size - 8)
            return ex_fail(LCT_EFORMAT, "wav: RIFF size %u is beyond the %zu bytes of the file", riff, size);
        end = (size_t)riff + 8;
    }
    int have_fmt = 0;
    uint16_t channels = 0, bits = 0;
    uint32_t rate = 0;
    size_t pos = 12;
    while (pos + 8 <= end) {
        const uint8_t *ck = bytes + pos;
        uint32_t ck_size = rd32(ck + 4);
        size_t body = pos + 8;
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (have_fmt) return ex_fail(LCT_EFORMAT, "wav: two fmt chunks");
            if (ck_size < 16 || ck_size > end - body)
                return ex_fail(LCT_EFORMAT, "wav: fmt chunk of %u bytes (16 or more, within the file)", ck_size);
            const uint8_t *f = bytes + body;
            uint16_t format = rd16(f);
            channels = rd16(f + 2);
            rate = rd32(f + 4);
            uint32_t byte_rate = rd32(f + 8);
            uint16_t align = rd16(f + 12);
            bits = rd16(f + 14);
            if (format == 0xFFFE) {
                /* WAVE_FORMAT_EXTENSIBLE: cbSize 22, the sub-format GUID starts with the format tag. */
                if (ck_size < 40 || rd16(f + 16) < 22 || rd16(f + 24) != 1)
                    return ex_fail(LCT_EFORMAT, "wav: extensible format whose sub-format is not PCM");
            } else if (format != 1) {
                return ex_fail(LCT_EFORMAT, "wav: format %u is not integer PCM (1)", format);
            }
            if (channels < 1 || channels > 2) return ex_fail(LCT_EFORMAT, "wav: %u channels (1 or 2)", channels);
            if (bits != 8 && bits != 16) return ex_fail(LCT_EFORMAT, "wav: %u bits per sample (8 or 16)", bits);
            if (rate < 1 || rate > 1000000) return ex_fail(LCT_EFORMAT, "wav: sample rate %u Hz (1..1000000)", rate);
            if (align != channels * bits / 8 || byte_rate != rate * align)
                return ex_fail(LCT_EFORMAT, "wav: block align %u / byte rate %u do not match %u channels of %u bits at %u Hz",
                               align, byte_rate, channels, bits, rate);
            have_fmt = 1;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) return ex_fail(LCT_EFORMAT, "wav: data chunk before the fmt chunk");
            size_t avail = end - body, len = ck_size;
            if (ck_size == 0xFFFFFFFFu || (ck_size == 0 && riff == 0xFFFFFFFFu)) {
                size_t frame = (size_t)channels * bits / 8;
                len = avail - avail % frame; /* streamed: up to the end */
            } else if (len > avail) {
                return ex_fail(LCT_EFORMAT, "wav: data chunk of %u bytes, only %zu left in the file", ck_size, avail);
            }
            size_t frame = (size_t)channels * bits / 8;
            if (len % frame != 0)
                return ex_fail(LCT_EFORMAT, "wav: data size %zu is not a whole number of %zu-byte frames", len, frame);
            size_t n = len / frame;
            if (n == 0) return ex_fail(LCT_EFORMAT, "wav: no samples");
            float *x = malloc(n * sizeof *x);
            if (x == NULL) return ex_fail(LCT_ENOMEM, "wav: cannot allocate %zu samples", n);
            const uint8_t *d = bytes + body;
            for (size_t i = 0; i < n; i++) {
                float acc = 0;
                for (unsigned c = 0; c < channels; c++) {
                    const uint8_t *s = d + i * frame + (size_t)c * (bits / 8);
                    acc += bits == 16 ? (float)(int16_t)rd16(s) * (1.0f / 32768.0f) : ((float)s[0] - 128.0f) * (1.0f / 128.0f);
                }
                x[i] = acc / (float)channels;
            }
            out->samples = x;
            out->n = n;
            out->rate = rate;
            return 0;
        }
        if (ck_size > end - body) return ex_fail(LCT_EFORMAT, "wav: chunk '%.4s' of %u bytes runs past the end", (const char *)ck, ck_size);
        pos = body + ck_size + (ck_size & 1u);
    }
    return ex_fail(LCT_EFORMAT, have_fmt ? "wav: no data chunk" : "wav: no fmt chunk");
}

int wav_read(const char *path, audio *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (path == NULL || out == NULL) return ex_fail(LCT_EINVAL, "wav_read: %s is NULL", path ? "out" : "path");
    FILE *f = fopen(path, "rb");
    if (f == NULL) return ex_fail(LCT_EIO, "wav: cannot open %s", path);
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return ex_fail(LCT_ENOMEM, "wav: cannot hold %s in memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return ex_fail(LCT_EIO, "wav: cannot read %s", path);
    }
    int rc = wav_parse(buf, size, out);
    free(buf);
    if (rc != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ex_error());
        return ex_fail(rc, "%s: %s", path, msg);
    }
    return 0;
}

/* Modified Bessel function of the first kind, order 0 (power series; converges fast for x < 50). */
static double bessel_i0(double x)
{
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

int resample(const float *in, size_t n, uint32_t from, uint32_t to, int zeros, float **out, size_t *out_n)
{
    if (out) *out = NULL;
    if (out_n) *out_n = 0;
    if (in == NULL || out == NULL || out_n == NULL)
        return ex_fail(LCT_EINVAL, "resample: %s is NULL", in == NULL ? "in" : out == NULL ? "out" : "out_n");
    if (n == 0) return ex_fail(LCT_EINVAL, "resample: n is 0");
    if (from < 1 || from > 1000000 || to < 1 || to > 1000000)
        return ex_fail(LCT_EINVAL, "resample: rates %u -> %u Hz (1..1000000)", from, to);
    if (zeros < 1 || zeros > 256) return ex_fail(LCT_EINVAL, "resample: zeros is %d (1..256)", zeros);
    uint64_t g = ex_gcd(from, to), L = to / g, M = from / g;
    /* Cutoff in cycles per input sample, and the filter's half-width in input samples. */
    double fc = 0.5 * 0.95 * (L < M ? (double)L / (double)M : 1.0);
    double half = zeros / (2 * fc);
    long w = (long)ceil(half);
    size_t taps = (size_t)(2 * w);
    if (L > (1u << 20) || L * taps > ((size_t)1 << 26))
        return ex_fail(LCT_EINVAL, "resample: %u -> %u Hz needs a %llu x %zu filter table", from, to,
                       (unsigned long long)L, taps);
    if (n > (SIZE_MAX - L) / L) return ex_fail(LCT_EINVAL, "resample: n = %zu is too large", n);
    size_t m_out = (size_t)((n * L + M - 1) / M);
    float *table = malloc(L * taps * sizeof *table), *y = malloc(m_out * sizeof *y);
    double *h = malloc(taps * sizeof *h);
    if (table == NULL || y == NULL || h == NULL) {
        free(h);
        free(table);
        free(y);
        return ex_fail(LCT_ENOMEM, "resample: cannot allocate %zu outputs", m_out);
    }
    const double beta = 8.6, i0b = bessel_i0(beta);
    for (uint64_t p = 0; p < L; p++) {
        double frac = (double)p / (double)L, sum = 0;
        for (size_t k = 0; k < taps; k++) {
            double t = (double)((long)k - w + 1) - frac; /* input index minus output time */
            double u = t / half, v = 0;
            if (fabs(u) < 1) {
                double a = 2 * fc * t;
                double sinc = a == 0 ? 1 : sin(M_PI * a) / (M_PI * a);
                v = 2 * fc * sinc * bessel_i0(beta * sqrt(1 - u * u)) / i0b;
            }
            h[k] = v;
            sum += v;
        }
        for (size_t k = 0; k < taps; k++) table[p * taps + k] = (float)(h[k] / sum);
    }
    for (size_t j = 0; j < m_out; j++) {
        uint64_t pos = (uint64_t)j * M;
        long base = (long)(pos / L);
        const float *hp = table + (pos % L) * taps;
        long first = base - w + 1;
        double acc = 0;
        if (first >= 0 && (size_t)first + taps <= n) {
            /* Interior: four partial sums, no bounds checks. */
            const float *xp = in + first;
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            size_t k = 0;
            for (; k + 4 <= taps; k += 4) {
                a0 += (double)hp[k] * xp[k];
                a1 += (double)hp[k + 1] * xp[k + 1];
                a2 += (double)hp[k + 2] * xp[k + 2];
                a3 += (double)hp[k + 3] * xp[k + 3];
            }
            for (; k < taps; k++) a0 += (double)hp[k] * xp[k];
            acc = (a0 + a1) + (a2 + a3);
        } else {
            for (size_t k = 0; k < taps; k++) {
                long i = first + (long)k;
                if (i >= 0 && (size_t)i < n) acc += (double)hp[k] * in[i];
            }
        }
        y[j] = (float)acc;
    }
    free(h);
    free(table);
    *out = y;
    *out_n = m_out;
    return 0;
}

void audio_normalise(float *x, size_t *n, float trim)
{
    if (x == NULL || n == NULL || *n == 0) return;
    size_t len = *n, lo = 0, hi = len;
    if (trim > 0) {
        float peak = 0;
        for (size_t i = 0; i < len; i++) peak = fabsf(x[i]) > peak ? fabsf(x[i]) : peak;
        float thr = trim * peak;
        while (lo < len && fabsf(x[lo]) < thr) lo++;
        while (hi > lo && fabsf(x[hi - 1]) < thr) hi--;
        if (hi > lo) {
            memmove(x, x + lo, (hi - lo) * sizeof *x);
            len = hi - lo;
        }
    }
    double mean = 0, ss = 0;
    for (size_t i = 0; i < len; i++) mean += x[i];
    mean /= (double)len;
    for (size_t i = 0; i < len; i++) ss += (x[i] - mean) * (x[i] - mean);
    double rms = sqrt(ss / (double)len);
    float scale = rms > 0 ? (float)(1.0 / rms) : 0.0f;
    for (size_t i = 0; i < len; i++) x[i] = (float)(x[i] - mean) * scale;
    *n = len;
}
