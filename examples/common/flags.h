/*
 * Command-line flags of the example programs: a small table-driven parser.
 *
 *     example_args args;
 *     example_args_defaults(&args);
 *     int k = 200;
 *     flag table[] = {FLAGS_COMMON(&args), {"k", FLAG_INT, &k, "neighbours of the kNN", 1, 100000}};
 *     flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "Train InstDisc on Fashion-MNIST.");
 *
 * Flags read `--name value` or `--name=value`; a FLAG_BOOL reads `--name` (on) and `--no-name`
 * (off). `--help` / `-h` prints the table with the current values as defaults.
 */
#ifndef LCT_EXAMPLES_FLAGS_H
#define LCT_EXAMPLES_FLAGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum flag_type {
    FLAG_INT,    /* int *          */
    FLAG_U64,    /* uint64_t *     */
    FLAG_FLOAT,  /* float *        */
    FLAG_STRING, /* const char ** (points into argv, not copied) */
    FLAG_BOOL    /* int *, set to 0 or 1 */
} flag_type;

typedef struct flag {
    const char *name; /* without the leading "--" */
    flag_type type;
    void *ptr;        /* where the value goes; its value before parsing is shown as the default */
    const char *help;
    double min, max;  /* numeric flags: accepted range when min < max (else any value of the type) */
} flag;

#define FLAGS_COUNT(table) (sizeof(table) / sizeof((table)[0]))

/* Results of flags_parse(). FLAGS_ERROR is also the exit code for a usage error. */
#define FLAGS_OK 0
#define FLAGS_HELP 1
#define FLAGS_ERROR 2

/* The flags every training program shares. */
typedef struct example_args {
    int epochs;
    int batch;
    int threads;
    uint64_t seed;
    const char *out;    /* output folder for loss.png / embedding.png */
    const char *save;   /* checkpoint to write after training, or NULL */
    const char *resume; /* checkpoint to continue from, or NULL */
    const char *data;   /* Fashion-MNIST folder */
    int bf16;           /* encoders in bf16 precision (lct_encoder_set_precision) */
} example_args;

/* epochs 1, batch 256, threads = online CPUs (1..256), seed 1, out "out", no save/resume,
 * data FMNIST_DEFAULT_DIR, fp32. Programs change what they need before parsing. */
void example_args_defaults(example_args *a);

/* Table entries of the shared flags, for the start of a program's table. */
#define FLAGS_COMMON(a)                                                                                  \
    {"epochs", FLAG_INT, &(a)->epochs, "passes over the training images", 1, 1000000},                   \
    {"batch", FLAG_INT, &(a)->batch, "images per training step", 1, 1 << 20},                            \
    {"threads", FLAG_INT, &(a)->threads, "worker threads", 1, 256},                                      \
    {"seed", FLAG_U64, &(a)->seed, "seed of every random stream", 0, 0},                                 \
    {"out", FLAG_STRING, &(a)->out, "folder for loss.png and embedding.png", 0, 0},                      \
    {"save", FLAG_STRING, &(a)->save, "write a checkpoint to this file after training", 0, 0},           \
    {"resume", FLAG_STRING, &(a)->resume, "continue training from this checkpoint", 0, 0},               \
    {"data", FLAG_STRING, &(a)->data, "folder with the Fashion-MNIST *-idx?-ubyte(.gz) files", 0, 0},  \
    {"bf16", FLAG_BOOL, &(a)->bf16, "encoders' products in bf16 on AMX tiles (CPUs with AMX-BF16)", 0, 0}

/*
 * Parse argv[1..argc-1] into the table. Returns FLAGS_OK; FLAGS_HELP after printing the help to
 * out (NULL = stdout); FLAGS_ERROR after printing "PROG: message" and a hint to err (NULL =
 * stderr) for an unknown flag (with a suggestion when one is close), a missing or malformed
 * value, a value out of range, a positional argument or a bad table. ex_error() holds the
 * message. Flags parsed before an error keep their new values.
 */
int flags_parse(const flag *table, size_t n, int argc, char **argv, const char *summary, FILE *out, FILE *err);

/* flags_parse() that exits: status 0 after --help, 2 on a usage error. */
void flags_parse_or_exit(const flag *table, size_t n, int argc, char **argv, const char *summary);

/* Index of `value` among names[0..count), or -1 when it is none of them. */
int flags_find(const char *value, const char *const *names, size_t count);

/* A flag with two values: 0 when `value` is a, 1 when it is b; otherwise print
 * "<prog>: --<flag> must be <a> or <b>, not '<value>'" to stderr and exit with FLAGS_ERROR. */
int flags_pick2(const char *prog, const char *name, const char *value, const char *a, const char *b);

/* Print "usage: PROG [flags]", the summary and one line per flag with its current value. */
void flags_print_help(const flag *table, size_t n, const char *prog, const char *summary, FILE *out);

#endif
