/*
 * Helper of the PyTorch comparison (tests/torch_compare.py): for each spec, runs
 * one train-mode forward and backward and writes what PyTorch needs to repeat
 * it and what it must reproduce, as raw float32 arrays plus a manifest.
 *   torch_export DIR  ->  DIR/case<k>.spec, DIR/case<k>.bin, DIR/case<k>.txt ("name count" lines)
 */
#include <libcontrast/libcontrast.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *spec;
    size_t batch;
    int mode;
} cases[] = {
    {"in 784; linear 64; bn; relu; linear 64; bn; relu; linear 16; l2norm", 32, LCT_ENCODER_TRAIN},
    {"in 1x28x28; conv2d 8 k3 p1; bn; relu; maxpool 2; conv2d 16 k3 p1; bn; relu; maxpool 2; flatten; linear 32; "
     "relu; linear 16", 16, LCT_ENCODER_TRAIN},
    {"in 3x17x15; conv2d 6 k5 s2 p2 nobias; bn momentum=0.3 eps=0.001; relu; avgpool 3 s2; conv2d 8 k1; gap; "
     "linear 5 nobias; l2norm", 6, LCT_ENCODER_TRAIN},
    {"in 1x1280; conv1d 16 k10 s5 p3; bn; relu; conv1d 16 k8 s4 p2; bn; relu; conv1d 16 k4 s2 p1; relu; transpose; "
     "gru 12", 4, LCT_ENCODER_TRAIN},
    {"in 7x9; gru 11; linear 6; l2norm", 5, LCT_ENCODER_TRAIN},
    {"in 2x40; conv1d 4 k4 s2; maxpool 3 s2; bn; flatten; linear 3", 8, LCT_ENCODER_EVAL},
    /* batches large enough for grouped convolution GEMMs (several samples per GEMM) */
    {"in 1x12x12; conv2d 8 k3 p1; bn; relu; maxpool 2; conv2d 16 k3 p1; bn; relu; maxpool 2; flatten; linear 10",
     70, LCT_ENCODER_TRAIN},
    {"in 6x5x5; conv2d 7 k1; bn; relu; conv2d 4 k3 s2 p1; flatten; linear 3", 50, LCT_ENCODER_TRAIN},
    {"in 1x300; conv1d 8 k10 s5 p3; bn; relu; conv1d 8 k4 s2 p1; relu; transpose; gru 6", 40, LCT_ENCODER_TRAIN},
};

static FILE *bin, *man;

static void put(const char *name, const float *v, size_t n)
{
    fprintf(man, "%s %zu\n", name, n);
    if (fwrite(v, sizeof *v, n, bin) != n) {
        fprintf(stderr, "torch_export: write failed\n");
        exit(1);
    }
}

static void fill(float *x, size_t n, unsigned seed, float scale)
{
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = scale * ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: torch_export DIR\n");
        return 2;
    }
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = 2;
    o.seed = 2024;
    lct_runtime *rt;
    if (lct_runtime_new(&rt, &o) != LCT_OK) return 1;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/case%zu.spec", argv[1], k);
        FILE *f = fopen(path, "w");
        lct_encoder *enc;
        if (f == NULL || lct_encoder_new_from_spec(&enc, rt, cases[k].spec, NULL) != LCT_OK) {
            fprintf(stderr, "torch_export: %s\n", lct_error_last());
            return 1;
        }
        fprintf(f, "%s\n%zu\n%d\n", lct_encoder_spec(enc), cases[k].batch, cases[k].mode);
        fclose(f);
        snprintf(path, sizeof path, "%s/case%zu.bin", argv[1], k);
        bin = fopen(path, "wb");
        snprintf(path, sizeof path, "%s/case%zu.txt", argv[1], k);
        man = fopen(path, "w");
        if (!bin || !man) return 1;
        size_t B = cases[k].batch, in, out;
        lct_encoder_input_size(enc, &in);
        lct_encoder_output_size(enc, &out);
        float *x = malloc(B * in * sizeof *x), *dy = malloc(B * out * sizeof *dy), *y = malloc(B * out * sizeof *y),
              *dx = malloc(B * in * sizeof *dx);
        fill(x, B * in, (unsigned)k + 1, 1.0f);
        fill(dy, B * out, (unsigned)k + 100, 1.0f);
        lct_params *p = lct_encoder_params(enc);
        int nt = lct_params_count(p);
        /* move the state off its defaults so eval mode is a real test */
        for (int i = 0; i < nt; i++) {
            const char *name;
            size_t c;
            lct_params_info(p, (size_t)i, &name, &c, NULL);
            float *v = malloc(c * sizeof *v);
            lct_params_get(p, (size_t)i, v, c);
            if (strstr(name, "running_var") || strstr(name, "batchnorm.weight")) {
                fill(v, c, (unsigned)(k * 10 + (size_t)i), 0.4f);
                for (size_t j = 0; j < c; j++) v[j] += 1.0f;
            } else if (strstr(name, "running_mean") || strstr(name, "batchnorm.bias")) {
                fill(v, c, (unsigned)(k * 10 + (size_t)i), 0.3f);
            }
            lct_params_set(p, (size_t)i, v, c);
            char label[160];
            snprintf(label, sizeof label, "%s:before", name);
            put(label, v, c);
            free(v);
        }
        lct_encoder_set_mode(enc, cases[k].mode);
        if (lct_encoder_forward(enc, x, B, y) || lct_encoder_backward(enc, dy, B, dx)) {
            fprintf(stderr, "torch_export: %s\n", lct_error_last());
            return 1;
        }
        put("x", x, B * in);
        put("dy", dy, B * out);
        put("y", y, B * out);
        put("dx", dx, B * in);
        for (int i = 0; i < nt; i++) {
            const char *name;
            size_t c;
            int tr;
            lct_params_info(p, (size_t)i, &name, &c, &tr);
            float *v = malloc(c * sizeof *v);
            char label[160];
            if (tr) {
                lct_params_get_grad(p, (size_t)i, v, c);
                snprintf(label, sizeof label, "%s:grad", name);
            } else {
                lct_params_get(p, (size_t)i, v, c);
                snprintf(label, sizeof label, "%s:after", name);
            }
            put(label, v, c);
            free(v);
        }
        fclose(bin);
        fclose(man);
        free(x);
        free(dy);
        free(y);
        free(dx);
        lct_encoder_free(enc);
    }
    lct_runtime_free(rt);
    return 0;
}
