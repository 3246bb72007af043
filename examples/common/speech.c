#define _GNU_SOURCE
#include "speech.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"
#include "files.h"

extern char **environ;

/* Ten speakers. Voice variants differ in formants, breathiness and pitch range; pitch and
 * speed are fixed per speaker, and several speakers share a sex and a similar pitch, so that
 * pitch alone does not tell them apart. */
const speech_voice speech_voices[SPEECH_VOICES] = {
    {"m1", "en+m1", 40, 160}, {"m2", "en+m2", 45, 150}, {"m3", "en+m3", 40, 170}, {"m4", "en-us+m4", 50, 155},
    {"m7", "en+m7", 45, 165}, {"f1", "en+f1", 55, 160}, {"f2", "en+f2", 60, 150}, {"f4", "en-us+f4", 55, 170},
    {"croak", "en+croak", 45, 155}, {"klatt", "en+klatt", 50, 160},
};

const char *const speech_sentences[SPEECH_SENTENCES] = {
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "A gentle breeze carried the smell of fresh bread through the open window.",
    "Please remember to switch off the lights before you leave the office.",
    "The old lighthouse keeper watched the ships sail past the rocky coast.",
    "Seven children played football in the park until the sun went down.",
    "My grandmother keeps a small garden full of tomatoes and green beans.",
    "The train to the northern city departs from platform number nine.",
    "Heavy rain flooded the narrow streets of the village last Tuesday.",
    "He opened the heavy wooden door and stepped into the dark hallway.",
    "Scientists discovered a new species of frog in the tropical forest.",
    "Could you tell me the way to the nearest post office, please?",
    "The orchestra played a beautiful symphony to a full concert hall.",
    "We packed our bags and drove to the mountains for a long weekend.",
    "A curious cat climbed onto the roof and refused to come back down.",
    "The museum displays paintings from many different centuries and countries.",
    "Fresh snow covered the fields and the hills behind the farmhouse.",
    "Her brother fixed the broken bicycle with a wrench and some wire.",
    "The committee will announce its decision at the end of the month.",
    "Bright yellow sunflowers turned their faces toward the morning light.",
    "Our neighbours invited us to a barbecue on Saturday afternoon.",
    "The pilot announced that the plane would land in twenty minutes.",
    "Thousands of birds fly south across the ocean every autumn.",
    "He wrote a long letter to his friend who lives across the sea.",
    "The bakery on the corner sells the best chocolate cake in town.",
    "Water boils at one hundred degrees at the level of the sea.",
    "The detective examined the footprints in the mud beside the gate.",
    "Every evening the fishermen return to the harbour with their catch.",
    "Learning a musical instrument takes patience and daily practice.",
    "The children built a tall castle of sand on the beach.",
    "A loud thunderstorm kept everyone awake for most of the night.",
    "The library closes early on Sundays and public holidays.",
    "She painted the kitchen walls a pale shade of blue.",
    "The engineer explained how the bridge could carry such heavy loads.",
    "Wild horses galloped across the open plain toward the distant hills.",
    "Please put the milk back in the fridge when you have finished.",
    "The famous author signed copies of her latest novel at the bookshop.",
    "A small boat drifted slowly down the river in the afternoon sun.",
    "The farmer woke before dawn to feed the cows and the chickens.",
    "Nobody expected the quiet student to win the national chess prize.",
    "The city council plans to plant a thousand trees along the avenue.",
    "He forgot his umbrella and arrived at work completely soaked.",
    "The astronauts spent six months on the space station above the earth.",
    "Warm soup and fresh bread make a perfect dinner on a cold day.",
    "The old clock in the tower strikes twelve at noon and midnight.",
    "They walked along the cliffs and watched the waves crash below.",
    "The teacher asked the class to read the first chapter by Friday.",
    "Bees collect nectar from flowers and turn it into golden honey.",
};

void speech_default_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(buf, size, "%s/libcontrast/speech", xdg);
    else if (home && home[0] == '/')
        snprintf(buf, size, "%s/.cache/libcontrast/speech", home);
    else
        snprintf(buf, size, "speech-data");
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return (h ^ 0xff) * 16777619u;
}

int speech_file(char *buf, size_t size, const char *dir, int v, int s)
{
    const speech_voice *vo = &speech_voices[v];
    char args[96];
    snprintf(args, sizeof args, "%s|%d|%d", vo->voice, vo->pitch, vo->speed);
    uint32_t h = fnv1a(fnv1a(2166136261u, args), speech_sentences[s]);
    int len = snprintf(buf, size, "%s/%s-%02d-%08x.wav", dir, vo->name, s, h);
    if (len < 0 || (size_t)len >= size) return ex_fail(LCT_EINVAL, "speech: path in %s is too long", dir);
    return 0;
}

typedef struct job {
    pid_t pid;
    char path[4096], tmp[4096 + 32];
} job;

/* Wait for one running job; rename its file into place. 0 or LCT_EIO. */
static int finish_one(job *jobs, int *running)
{
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) return ex_fail(LCT_EIO, "speech: waitpid failed: %s", strerror(errno));
    for (int i = 0; i < *running; i++) {
        if (jobs[i].pid != pid) continue;
        job j = jobs[i];
        jobs[i] = jobs[--*running];
        struct stat st;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(j.tmp, &st) != 0 || st.st_size <= 44) {
            unlink(j.tmp);
            return ex_fail(LCT_EIO, "speech: espeak-ng failed for %s (status %d)", j.path, status);
        }
        if (rename(j.tmp, j.path) != 0) {
            unlink(j.tmp);
            return ex_fail(LCT_EIO, "speech: cannot rename %s: %s", j.tmp, strerror(errno));
        }
        return 0;
    }
    return 0; /* a child that is not ours (cannot happen in the examples) */
}

int speech_synthesise(const char *dir, int voices, int sentences, int jobs_max, int *made)
{
    if (made) *made = 0;
    if (dir == NULL) return ex_fail(LCT_EINVAL, "speech_synthesise: dir is NULL");
    if (voices < 1 || voices > SPEECH_VOICES || sentences < 1 || sentences > SPEECH_SENTENCES)
        return ex_fail(LCT_EINVAL, "speech_synthesise: %d voices (1..%d), %d sentences (1..%d)", voices,
                       SPEECH_VOICES, sentences, SPEECH_SENTENCES);
    if (jobs_max < 1) jobs_max = 1;
    if (jobs_max > 16) jobs_max = 16;
    int rc = make_dirs(dir);
    if (rc != 0) return rc;
    job jobs[16];
    int running = 0, count = 0;
    for (int v = 0; v < voices && rc == 0; v++)
        for (int s = 0; s < sentences && rc == 0; s++) {
            job j;
            if ((rc = speech_file(j.path, sizeof j.path, dir, v, s)) != 0) break;
            if (access(j.path, R_OK) == 0) continue;
            snprintf(j.tmp, sizeof j.tmp, "%s.%ld.tmp", j.path, (long)getpid());
            char pitch[16], speed[16];
            snprintf(pitch, sizeof pitch, "%d", speech_voices[v].pitch);
            snprintf(speed, sizeof speed, "%d", speech_voices[v].speed);
            char *argv[] = {"espeak-ng", "-v", (char *)speech_voices[v].voice, "-p", pitch, "-s", speed,
                            "-w", j.tmp, (char *)speech_sentences[s], NULL};
            while (running >= jobs_max && rc == 0) rc = finish_one(jobs, &running);
            if (rc != 0) break;
            int err = posix_spawnp(&j.pid, "espeak-ng", NULL, NULL, argv, environ);
            if (err == ENOENT) {
                rc = ex_fail(LCT_EUNSUPPORTED,
                             "espeak-ng is not installed; install it (Debian: apt-get install espeak-ng, or "
                             "scripts/deps.sh) to synthesise the speech corpus");
                break;
            }
            if (err != 0) {
                rc = ex_fail(LCT_EIO, "speech: cannot start espeak-ng: %s", strerror(err));
                break;
            }
            jobs[running++] = j;
            count++;
        }
    /* Let the running jobs end (and keep the first error). */
    while (running > 0) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", ex_error());
        int r = finish_one(jobs, &running);
        if (rc == 0) rc = r;
        else ex_fail(rc, "%s", keep);
    }
    if (made) *made = count;
    return rc;
}

void speech_free(speech_corpus *c)
{
    if (c == NULL) return;
    if (c->utt)
        for (int i = 0; i < c->voices * c->sentences; i++) free(c->utt[i]);
    free(c->utt);
    free(c->len);
    memset(c, 0, sizeof *c);
}

int speech_load(const char *dir, int voices, int sentences, uint32_t rate, size_t min_len, speech_corpus *c)
{
    if (c == NULL || dir == NULL) return ex_fail(LCT_EINVAL, "speech_load: %s is NULL", c ? "dir" : "c");
    memset(c, 0, sizeof *c);
    if (voices < 1 || voices > SPEECH_VOICES || sentences < 1 || sentences > SPEECH_SENTENCES)
        return ex_fail(LCT_EINVAL, "speech_load: %d voices, %d sentences", voices, sentences);
    size_t total = (size_t)voices * (size_t)sentences;
    c->voices = voices;
    c->sentences = sentences;
    c->rate = rate;
    c->utt = calloc(total, sizeof *c->utt);
    c->len = calloc(total, sizeof *c->len);
    if (!c->utt || !c->len) {
        speech_free(c);
        return ex_fail(LCT_ENOMEM, "speech_load: cannot allocate %zu utterances", total);
    }
    for (int v = 0; v < voices; v++)
        for (int s = 0; s < sentences; s++) {
            char path[4096];
            audio a;
            int rc = speech_file(path, sizeof path, dir, v, s);
            if (rc == 0) rc = wav_read(path, &a);
            float *y = NULL;
            size_t n = 0;
            if (rc == 0) {
                rc = resample(a.samples, a.n, a.rate, rate, 24, &y, &n);
                audio_free(&a);
            }
            if (rc == 0) {
                audio_normalise(y, &n, 1e-3f);
                if (n < min_len) {
                    float *p = realloc(y, min_len * sizeof *y);
                    if (p == NULL) {
                        rc = ex_fail(LCT_ENOMEM, "speech_load: cannot pad %s", path);
                    } else {
                        y = p;
                        memset(y + n, 0, (min_len - n) * sizeof *y);
                        n = min_len;
                    }
                }
            }
            if (rc != 0) {
                free(y);
                speech_free(c);
                return rc;
            }
            c->utt[v * sentences + s] = y;
            c->len[v * sentences + s] = n;
        }
    return 0;
}
