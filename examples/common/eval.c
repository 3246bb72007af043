#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "files.h"
#include "idx.h"
#include "pca.h"
#include "plot.h"

void images_to_float(const uint8_t *u8, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = (float)u8[i] * (1.0f / 255.0f);
}

int embed_images(lct_encoder *enc, const uint8_t *images, size_t n, size_t pixels, size_t batch, float *out)
{
    size_t dim;
    int rc = lct_encoder_output_size(enc, &dim);
    if (rc != LCT_OK) return ex_fail(rc, "%s", lct_error_last());
    float *x = malloc(batch * pixels * sizeof *x);
    if (x == NULL) return ex_fail(LCT_ENOMEM, "cannot allocate the evaluation batch");
    int mode = lct_encoder_get_mode(enc);
    lct_encoder_set_mode(enc, LCT_ENCODER_EVAL);
    for (size_t first = 0; first < n && rc == LCT_OK; first += batch) {
        size_t b = n - first < batch ? n - first : batch;
        images_to_float(images + first * pixels, b * pixels, x);
        rc = lct_encoder_forward(enc, x, b, out + first * dim);
        if (rc != LCT_OK) ex_fail(rc, "%s", lct_error_last());
    }
    lct_encoder_set_mode(enc, mode);
    free(x);
    return rc;
}

int32_t *labels_int32(const uint8_t *labels, size_t n)
{
    int32_t *out = malloc(n * sizeof *out);
    if (out)
        for (size_t i = 0; i < n; i++) out[i] = labels[i];
    return out;
}

double knn_accuracy(lct_runtime *rt, const float *train, const int32_t *train_labels, size_t n, const float *test,
                    const int32_t *test_labels, size_t q, size_t d)
{
    int32_t *pred = malloc(q * sizeof *pred);
    if (pred == NULL) return ex_fail(LCT_ENOMEM, "cannot allocate kNN predictions");
    size_t k = n < EVAL_KNN_K ? n : EVAL_KNN_K; /* a small prefix of a stream has fewer than k images */
    int rc = lct_knn_classify(rt, train, train_labels, n, d, test, q, k, EVAL_KNN_TAU, FMNIST_CLASSES, pred, NULL);
    if (rc != LCT_OK) {
        free(pred);
        return ex_fail(rc, "kNN: %s", lct_error_last());
    }
    size_t correct = 0;
    for (size_t i = 0; i < q; i++) correct += pred[i] == test_labels[i];
    free(pred);
    return (double)correct / (double)q;
}

void l2_normalise_rows(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (size_t j = 0; j < d; j++) x[i * d + j] *= inv;
    }
}

double raw_pixel_knn(lct_runtime *rt, const uint8_t *train, const int32_t *train_labels, size_t n,
                     const uint8_t *test, const int32_t *test_labels, size_t q, size_t pixels)
{
    float *a = malloc(n * pixels * sizeof *a), *b = malloc(q * pixels * sizeof *b);
    double acc = ex_fail(LCT_ENOMEM, "cannot allocate raw-pixel features");
    if (a && b) {
        images_to_float(train, n * pixels, a);
        images_to_float(test, q * pixels, b);
        l2_normalise_rows(a, n, pixels);
        l2_normalise_rows(b, q, pixels);
        acc = knn_accuracy(rt, a, train_labels, n, b, test_labels, q, pixels);
    }
    free(a);
    free(b);
    return acc;
}

int write_figures(const char *dir, const char *method, const float *loss, size_t steps, const float *test_emb,
                  const int32_t *test_labels, size_t q, size_t d)
{
    char path[4096], title[256];
    int rc = make_dirs(dir);
    if (rc != 0) return rc;
    if (steps > 0) {
        snprintf(title, sizeof title, "%s training loss", method);
        if ((rc = join_path(path, sizeof path, dir, "loss.png")) != 0) return rc;
        if ((rc = plot_loss_curve(path, loss, steps, title)) != 0) return rc;
    }
    float *xy = malloc(q * 2 * sizeof *xy);
    if (xy == NULL) return ex_fail(LCT_ENOMEM, "cannot allocate the 2-D projection");
    double explained[2];
    rc = pca_2d(test_emb, q, d, xy, explained);
    if (rc == 0) {
        snprintf(title, sizeof title, "%s: PCA of %zu test embeddings", method, q);
        rc = join_path(path, sizeof path, dir, "embedding.png");
        if (rc == 0)
            rc = plot_embedding_2d(path, xy, test_labels, q, FMNIST_CLASSES, fmnist_class_names, title);
    }
    free(xy);
    return rc;
}

int knn_eval_init(knn_eval *e, lct_runtime *rt, const fmnist *data, size_t n, size_t q, size_t dim)
{
    *e = (knn_eval){.data = data, .n = n, .q = q, .dim = dim};
    if (n == 0 || q == 0 || n > data->train.n || q > data->test.n)
        return ex_fail(LCT_EINVAL, "knn_eval: %zu train / %zu test images of a set of %zu / %zu", n, q,
                       data->train.n, data->test.n);
    e->train_labels = labels_int32(data->train.labels, n);
    e->test_labels = labels_int32(data->test.labels, q);
    if (dim > 0) {
        e->train_emb = malloc(n * dim * sizeof *e->train_emb);
        e->test_emb = malloc(q * dim * sizeof *e->test_emb);
    }
    if (!e->train_labels || !e->test_labels || (dim > 0 && (!e->train_emb || !e->test_emb))) {
        knn_eval_free(e);
        return ex_fail(LCT_ENOMEM, "cannot allocate the evaluation buffers");
    }
    e->raw = raw_pixel_knn(rt, data->train.images, e->train_labels, n, data->test.images, e->test_labels, q,
                           FMNIST_PIXELS);
    if (e->raw < 0) {
        int rc = (int)e->raw;
        knn_eval_free(e);
        return rc;
    }
    return 0;
}

double knn_eval_encoder(knn_eval *e, lct_runtime *rt, lct_encoder *enc)
{
    size_t out = 0;
    int rc = lct_encoder_output_size(enc, &out);
    if (rc != LCT_OK) return ex_fail(rc, "knn_eval: %s", lct_error_last());
    if (e->train_emb == NULL || out != e->dim)
        return ex_fail(LCT_EINVAL, "knn_eval: the encoder gives %zu outputs, the buffers hold %zu", out, e->dim);
    rc = embed_images(enc, e->data->train.images, e->n, FMNIST_PIXELS, 500, e->train_emb);
    if (rc == 0) rc = embed_images(enc, e->data->test.images, e->q, FMNIST_PIXELS, 500, e->test_emb);
    if (rc != 0) return rc;
    return knn_accuracy(rt, e->train_emb, e->train_labels, e->n, e->test_emb, e->test_labels, e->q, e->dim);
}

void knn_eval_print_start(const char *name, const knn_eval *e, lct_runtime *rt, const lct_encoder *enc,
                          double untrained)
{
    printf("%s: %zu train / %zu test images, encoder %s\n", name, e->n, e->q, lct_encoder_spec(enc));
    printf("%s: kNN before training %.4f, raw pixels %.4f; BLIS kernels %s, %d thread(s)\n", name, untrained, e->raw,
           lct_runtime_kernel(rt, NULL), lct_runtime_threads(rt));
    fflush(stdout);
}

void knn_eval_free(knn_eval *e)
{
    free(e->train_labels);
    free(e->test_labels);
    free(e->train_emb);
    free(e->test_emb);
    e->train_labels = e->test_labels = NULL;
    e->train_emb = e->test_emb = NULL;
}
