/*
 * The speech corpus of cpc_speech: English sentences read by espeak-ng voices, synthesised once
 * into a cache folder and loaded as 16 kHz, normalised utterances.
 *
 * Every utterance is one file DIR/<voice>-<hash>.wav, where the hash covers the voice's
 * espeak-ng arguments and the sentence's text: a file that exists is complete (it is written
 * under a temporary name and renamed into place), a changed sentence or voice gets a new name,
 * and synthesis only makes the files that are missing. espeak-ng runs through posix_spawnp with
 * an argument vector (no shell), several at a time.
 */
#ifndef LCT_EXAMPLES_SPEECH_H
#define LCT_EXAMPLES_SPEECH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* One speaker: an espeak-ng voice (language + variant), pitch (0..99) and speed (words/min). */
typedef struct speech_voice {
    const char *name;  /* short label for the plots */
    const char *voice; /* espeak-ng -v */
    int pitch;         /* espeak-ng -p */
    int speed;         /* espeak-ng -s */
} speech_voice;

#define SPEECH_VOICES 10
#define SPEECH_SENTENCES 48
extern const speech_voice speech_voices[SPEECH_VOICES];
extern const char *const speech_sentences[SPEECH_SENTENCES];

/* The cache folder when none is given: $XDG_CACHE_HOME/libcontrast/speech, else
 * $HOME/.cache/libcontrast/speech, else ./speech-data. Written into buf. */
void speech_default_dir(char *buf, size_t size);

/* Path of the file of (voice v, sentence s) in dir. 0 or LCT_EINVAL (does not fit). */
int speech_file(char *buf, size_t size, const char *dir, int v, int s);

/*
 * Make the missing files of voices 0..voices-1 and sentences 0..sentences-1 in dir (created if
 * needed), running up to `jobs` espeak-ng processes at once. *made (may be NULL) receives the
 * number of files synthesised. Returns 0; LCT_EINVAL (counts out of range); LCT_EIO (cannot
 * create the folder; espeak-ng failed or wrote nothing); LCT_EUNSUPPORTED when espeak-ng is not
 * installed (message says how to install it).
 */
int speech_synthesise(const char *dir, int voices, int sentences, int jobs, int *made);

/* The loaded corpus: utterance (v, s) is utt[v * sentences + s], at `rate` Hz. */
typedef struct speech_corpus {
    int voices, sentences;
    uint32_t rate;
    float **utt;    /* owned */
    size_t *len;    /* owned: samples of each utterance */
} speech_corpus;

/*
 * Read every file, resample it to `rate` Hz (resample() with 24 zero crossings), trim the
 * silence at both ends and normalise to zero mean and unit RMS (audio_normalise()); utterances
 * shorter than min_len samples are padded with zeros to min_len. Returns 0 or the first failing
 * file's status (LCT_EIO when missing, LCT_EFORMAT, LCT_ENOMEM); on failure *c holds no memory.
 */
int speech_load(const char *dir, int voices, int sentences, uint32_t rate, size_t min_len, speech_corpus *c);

void speech_free(speech_corpus *c);

#endif
