/* Pieces every training program shares: failing loudly on a library error, and the epoch shuffle. */
#ifndef LCT_EXAMPLES_TRAIN_H
#define LCT_EXAMPLES_TRAIN_H

#include <libcontrast/libcontrast.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "idx.h"

/* Print "<program>: <call> failed: <library message> (<status>)" to stderr and exit with 1. */
void train_die(const char *call, int status) __attribute__((noreturn));

/* Run a libcontrast call; on a negative status, report it and exit (the examples' error policy). */
#define CHECK(call)                           \
    do {                                      \
        int rc_ = (call);                     \
        if (rc_ < 0) train_die(#call, rc_);   \
    } while (0)

/* A reproducible shuffle of 0..n-1 for (seed, epoch): the host's own randomness (xorshift64 + Fisher-Yates). */
void train_shuffle(int64_t *order, size_t n, uint64_t seed, int epoch);

/*
 * Load Fashion-MNIST from args->data, keep the first `limit` train and test images (0: all) in
 * *n and *q, and clamp args->batch to *n in *batch. Reports and exits with 1 if loading fails.
 */
void train_load_data(const example_args *args, int limit, fmnist *data, size_t *n, size_t *q, size_t *batch);

/* The runtime of a training program, with args->threads and args->seed; reports and exits on failure. */
lct_runtime *train_runtime(const example_args *args);

#endif
