/*
 * lct-augment-speed: images per second of lct_augmenter_apply with a preset
 * recipe, for 1 and 2 threads. Usage: lct-augment-speed [C H W OH OW batch views]
 * (default 1 28 28 28 28 256 2: MNIST-sized images, InstDisc recipe, two views).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libcontrast/libcontrast.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    unsigned v[7] = {1, 28, 28, 28, 28, 256, 2};
    if (argc != 1 && argc != 8) {
        fprintf(stderr, "usage: %s [C H W OH OW batch views]\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) v[i - 1] = (unsigned)strtoul(argv[i], NULL, 10);
    const size_t batch = v[5], views = v[6];
    printf("| input | output | batch | views | threads | images/s | views/s | ms/call |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (unsigned threads = 1; threads <= 2; threads++) {
        lct_runtime_options ro;
        lct_runtime_options_init(&ro, LCT_RUNTIME_OPTIONS_VERSION);
        ro.threads = threads;
        lct_runtime *rt = NULL;
        lct_augmenter *aug = NULL;
        lct_augmenter_options o;
        lct_augmenter_options_init(&o, LCT_AUGMENTER_OPTIONS_VERSION);
        o.channels = v[0];
        o.height = v[1];
        o.width = v[2];
        o.out_height = v[3];
        o.out_width = v[4];
        size_t in_count, out_count;
        if (lct_runtime_new(&rt, &ro) || lct_augmenter_new(&aug, rt, &o) ||
            lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC) || lct_augmenter_sizes(aug, &in_count, &out_count)) {
            fprintf(stderr, "setup failed: %s\n", lct_error_last());
            return 1;
        }
        unsigned char *x = malloc(batch * in_count);
        float *y = malloc(batch * views * out_count * sizeof *y);
        if (!x || !y) return 1;
        for (size_t i = 0; i < batch * in_count; i++) x[i] = (unsigned char)((i * 2654435761u) >> 24);
        lct_augmenter_apply(aug, x, batch, views, y); /* sizes the workspaces */
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            int calls = 0;
            double t0 = now(), t;
            do {
                if (lct_augmenter_apply(aug, x, batch, views, y)) {
                    fprintf(stderr, "apply failed: %s\n", lct_error_last());
                    return 1;
                }
                calls++;
                t = now() - t0;
            } while (t < 0.2);
            if (t / calls < best) best = t / calls;
        }
        printf("| %ux%ux%u u8 | %ux%ux%u | %zu | %zu | %u | %.0f | %.0f | %.3f |\n", v[0], v[1], v[2], v[0], v[3],
               v[4], batch, views, threads, batch / best, batch * views / best, best * 1e3);
        free(x);
        free(y);
        lct_augmenter_free(aug);
        lct_runtime_free(rt);
    }
    return 0;
}
