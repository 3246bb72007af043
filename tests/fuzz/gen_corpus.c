/* Writes the seed corpus of the fuzz targets: real small checkpoints and .npy files. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

static void must(int rc, const char *what)
{
    if (rc != LCT_OK) {
        fprintf(stderr, "%s: %s\n", what, lct_error_last());
        exit(1);
    }
}

static void write_ckpt(lct_runtime *rt, const char *dir, const char *file, int what, int level)
{
    fuzz_params fp;
    fuzz_params_init(&fp, rt);
    lct_checkpoint_options o;
    lct_checkpoint_options_init(&o, LCT_CHECKPOINT_OPTIONS_VERSION);
    o.level = level;
    lct_checkpoint_writer *w;
    must(lct_checkpoint_writer_new(&w, rt, &o), "writer");
    if (what & 1) must(lct_checkpoint_add_params(w, "encoder", &fp.p), "params");
    if (what & 2) {
        must(lct_checkpoint_add_meta(w, "method", "instdisc"), "meta");
        must(lct_checkpoint_add_meta(w, "note", ""), "meta");
    }
    if (what & 4) {
        must(lct_checkpoint_add_counter(w, "step", 1234), "counter");
        must(lct_checkpoint_add_counter(w, "epoch", 7), "counter");
    }
    if (what & 8) must(lct_checkpoint_add_runtime(w), "runtime");
    if (what & 16) must(lct_checkpoint_add_blob(w, "host", LCT_CHECKPOINT_TYPE_USER, "0123456789", 10), "blob");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    must(lct_checkpoint_write_file(w, path), path);
    lct_checkpoint_writer_free(w);
}

/* dir/file: the handles of `part` (FUZZ_TRAINING or FUZZ_STREAM). */
static void write_handles(lct_runtime *rt, const char *dir, const char *file, const fuzz_handles *h, int part)
{
    lct_checkpoint_writer *w;
    must(lct_checkpoint_writer_new(&w, rt, NULL), "writer");
    must(fuzz_handles_add(w, h, part), file);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    must(lct_checkpoint_write_file(w, p), p);
    lct_checkpoint_writer_free(w);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CHECKPOINT_CORPUS_DIR NPY_CORPUS_DIR\n", argv[0]);
        return 2;
    }
    lct_runtime *rt;
    must(lct_runtime_new(&rt, NULL), "runtime");
    write_ckpt(rt, argv[1], "full.ckpt", 31, 6);
    write_ckpt(rt, argv[1], "stored.ckpt", 31, 0);
    write_ckpt(rt, argv[1], "params.ckpt", 1, 9);
    write_ckpt(rt, argv[1], "meta_counters.ckpt", 6, 6);
    write_ckpt(rt, argv[1], "runtime_blob.ckpt", 24, 1);
    write_ckpt(rt, argv[1], "empty.ckpt", 0, 6);
    {
        fuzz_handles h;
        must(fuzz_handles_new(&h, rt), "handles");
        write_handles(rt, argv[1], "handles.ckpt", &h, FUZZ_TRAINING);
        fuzz_handles_free(&h);
    }
    {
        /* a stream's handles: a MinRed replay with samples, changed slots queued, and its novelty scorer */
        fuzz_handles h;
        must(fuzz_handles_new(&h, rt), "handles");
        for (int i = 0; i < 9; i++) {
            uint8_t s[2] = {(uint8_t)i, (uint8_t)(2 * i)};
            float e[3] = {(float)(i % 3) - 1.0f, 0.5f, (float)(i % 2)};
            must(lct_replay_insert(h.replay, s, 1, e, NULL), "insert");
            must(lct_novelty_score(h.nv, e, 1, i < 6 ? (size_t)i + 1 : 6, &e[0], NULL), "novelty");
        }
        int64_t slots[2];
        must(lct_replay_sample(h.replay, 2, NULL, slots), "sample");
        write_handles(rt, argv[1], "stream.ckpt", &h, FUZZ_STREAM);
        fuzz_handles_free(&h);
    }
    float m[12];
    for (int i = 0; i < 12; i++) m[i] = (float)i - 5.5f;
    char path[4096];
    snprintf(path, sizeof path, "%s/matrix.npy", argv[2]);
    must(lct_npy_write(path, m, 3, 4), path);
    snprintf(path, sizeof path, "%s/vector.npy", argv[2]);
    must(lct_npy_write_vector(path, m, 5), path);
    lct_runtime_free(rt);
    return 0;
}
