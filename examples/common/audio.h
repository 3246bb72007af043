/*
 * Audio helpers of the examples: a small strict WAV reader (RIFF/WAVE, integer PCM), a
 * windowed-sinc polyphase resampler for rational rate changes (e.g. espeak-ng's 22,050 Hz to
 * 16 kHz), and per-utterance normalisation.
 */
#ifndef LCT_EXAMPLES_AUDIO_H
#define LCT_EXAMPLES_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A mono signal: n floats at `rate` samples per second (owned, malloc'ed). */
typedef struct audio {
    float *samples;
    size_t n;
    uint32_t rate;
} audio;

/*
 * Parse a WAV file held in memory: "RIFF" size "WAVE", then chunks; a "fmt " chunk (at least
 * 16 bytes) with format 1 (PCM) or 0xFFFE (extensible with the PCM sub-format), 1 or 2
 * channels, 8 or 16 bits, a rate of 1..1,000,000 Hz and consistent block align / byte rate;
 * then a "data" chunk whose size is a whole number of frames. Unknown chunks are skipped
 * (padded to even sizes). A RIFF or data size beyond the buffer is an error, except the
 * 0xFFFFFFFF / 0 "unknown size" some streaming writers leave, which is read to the end of the
 * buffer. Channels are averaged; values are scaled to [-1, 1).
 * Returns 0, LCT_EINVAL (NULL argument), LCT_EFORMAT (message names what is wrong), LCT_ENOMEM.
 * On failure *out holds no memory.
 */
int wav_parse(const uint8_t *bytes, size_t size, audio *out);

/* Read and parse a WAV file. As wav_parse(), plus LCT_EIO when the file cannot be read. */
int wav_read(const char *path, audio *out);

/* Release the samples (NULL and released signals are fine). */
void audio_free(audio *a);

/*
 * Resample from rate `from` to rate `to` (both 1..1,000,000) by the ratio to/from reduced by
 * their gcd (L/M): output sample j sits at input time j*M/L and is the sum of the input
 * around it weighted by a Kaiser-windowed sinc (beta 8.6) whose cutoff is 0.95 x the lower of
 * the two Nyquist frequencies and which spans `zeros` zero crossings of that sinc on each side
 * (1..256; 24 gives > 80 dB stop-band rejection). The L phases of the filter are tabulated once
 * and each is normalised to unit DC gain. Samples beyond both ends count as 0.
 * *out_n = ceil(n * L / M). Returns 0, LCT_EINVAL (NULL, n = 0, rate or zeros out of range,
 * table too large), LCT_ENOMEM; *out (malloc'ed, caller frees) holds *out_n floats.
 */
int resample(const float *in, size_t n, uint32_t from, uint32_t to, int zeros, float **out, size_t *out_n);

/*
 * Normalise an utterance in place: trim leading and trailing samples whose magnitude is below
 * `trim` x the peak (0 = no trim; the kept part is moved to the start and *n updated), remove
 * the mean and scale to unit RMS (an all-zero signal stays zero).
 */
void audio_normalise(float *x, size_t *n, float trim);

#endif
