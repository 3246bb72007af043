/*
 * lct-plot-demo: the example helpers on real data. Loads the Fashion-MNIST test images,
 * projects their raw pixels to 2-D with PCA, and writes embedding.png (coloured by class) and
 * loss.png (a synthetic decreasing loss curve, to show the figure) into --out.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "files.h"
#include "flags.h"
#include "idx.h"
#include "pca.h"
#include "plot.h"

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Uniform in [0, 1) from a 64-bit LCG: enough for the noise of a made-up curve. */
static double next_uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) * (1.0 / 9007199254740992.0);
}

int main(int argc, char **argv)
{
    example_args args;
    example_args_defaults(&args);
    int points = 10000, steps = 3000;
    flag table[] = {
        {"data", FLAG_STRING, &args.data, "folder with the Fashion-MNIST *-idx?-ubyte(.gz) files", 0, 0},
        {"out", FLAG_STRING, &args.out, "folder for embedding.png and loss.png", 0, 0},
        {"points", FLAG_INT, &points, "test images to project (the first N)", 1, 10000},
        {"steps", FLAG_INT, &steps, "length of the synthetic loss curve", 1, 10000000},
        {"seed", FLAG_U64, &args.seed, "seed of the loss curve's noise", 0, 0},
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv,
                        "Plot a 2-D PCA of the raw Fashion-MNIST test images and a synthetic loss curve.");

    fmnist_split test;
    if (fmnist_load_split(args.data, 1, &test)) {
        fprintf(stderr, "lct-plot-demo: %s\n", ex_error());
        return 1;
    }
    size_t n = test.n < (size_t)points ? test.n : (size_t)points;
    float *x = malloc(n * FMNIST_PIXELS * sizeof *x), *xy = malloc(n * 2 * sizeof *xy);
    int32_t *labels = malloc(n * sizeof *labels);
    float *loss = malloc((size_t)steps * sizeof *loss);
    if (!x || !xy || !labels || !loss) {
        fprintf(stderr, "lct-plot-demo: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n * FMNIST_PIXELS; i++) x[i] = test.images[i] / 255.0f;
    for (size_t i = 0; i < n; i++) labels[i] = test.labels[i];
    fmnist_split_free(&test);

    double t0 = seconds(), explained[2];
    if (pca_2d(x, n, FMNIST_PIXELS, xy, explained)) {
        fprintf(stderr, "lct-plot-demo: %s\n", ex_error());
        return 1;
    }
    printf("PCA of %zu raw test images (784 pixels): components explain %.1f%% and %.1f%% of the variance "
           "(%.2f s)\n", n, 100 * explained[0], 100 * explained[1], seconds() - t0);

    /* A made-up training curve: exponential decay to a floor, with noise that shrinks over time. */
    uint64_t state = args.seed;
    for (int t = 0; t < steps; t++) {
        double u = (double)t / steps, noise = next_uniform(&state) + next_uniform(&state) - 1.0;
        loss[t] = (float)(2.0 + 4.5 * exp(-5.0 * u) + noise * (0.15 + 0.5 * exp(-3.0 * u)));
    }

    char emb_path[4096], loss_path[4096], title[128];
    if (make_dirs(args.out) || join_path(emb_path, sizeof emb_path, args.out, "embedding.png") ||
        join_path(loss_path, sizeof loss_path, args.out, "loss.png")) {
        fprintf(stderr, "lct-plot-demo: %s\n", ex_error());
        return 1;
    }
    snprintf(title, sizeof title, "Fashion-MNIST test images: PCA of raw pixels (%zu)", n);
    t0 = seconds();
    if (plot_embedding_2d(emb_path, xy, labels, n, FMNIST_CLASSES, fmnist_class_names, title)) {
        fprintf(stderr, "lct-plot-demo: %s\n", ex_error());
        return 1;
    }
    printf("wrote %s (%zu points, %d classes, %.2f s)\n", emb_path, n, FMNIST_CLASSES, seconds() - t0);
    t0 = seconds();
    if (plot_loss_curve(loss_path, loss, (size_t)steps, "Synthetic loss curve")) {
        fprintf(stderr, "lct-plot-demo: %s\n", ex_error());
        return 1;
    }
    printf("wrote %s (%d steps, %.2f s)\n", loss_path, steps, seconds() - t0);
    free(x);
    free(xy);
    free(labels);
    free(loss);
    return 0;
}
