/*
 * Evaluation shared by the training programs: embedding a whole image set with an encoder,
 * InstDisc's weighted kNN (k = 200, tau = 0.07, cosine) and its raw-pixel baseline, and the
 * two figures every program writes. Uses libcontrast's public API only.
 */
#ifndef LCT_EXAMPLES_EVAL_H
#define LCT_EXAMPLES_EVAL_H

#include <libcontrast/libcontrast.h>
#include <stddef.h>
#include <stdint.h>

#include "idx.h"

#define EVAL_KNN_K 200
#define EVAL_KNN_TAU 0.07f

/* Grey levels 0..255 to floats in [0, 1], n values. */
void images_to_float(const uint8_t *u8, size_t n, float *out);

/*
 * Embed n images (n x `pixels` grey levels) in eval mode, `batch` at a time, into out
 * (n x output size of enc). The encoder's mode is restored afterwards. Returns 0 or a status.
 */
int embed_images(lct_encoder *enc, const uint8_t *images, size_t n, size_t pixels, size_t batch, float *out);

/* Copy of `labels` (uint8 class indices) as int32, allocated with malloc; NULL on failure. */
int32_t *labels_int32(const uint8_t *labels, size_t n);

/*
 * Weighted kNN top-1 accuracy of test features against train features (both L2-normalised rows
 * of d floats): k = EVAL_KNN_K (n when there are fewer training rows), tau = EVAL_KNN_TAU. Returns the
 * accuracy in [0, 1] or a negative status.
 */
double knn_accuracy(lct_runtime *rt, const float *train, const int32_t *train_labels, size_t n,
                    const float *test, const int32_t *test_labels, size_t q, size_t d);

/* The same protocol on raw pixels (each image L2-normalised), the baseline every method must beat. */
double raw_pixel_knn(lct_runtime *rt, const uint8_t *train, const int32_t *train_labels, size_t n,
                     const uint8_t *test, const int32_t *test_labels, size_t q, size_t pixels);

/* L2-normalise n rows of d floats in place (zero rows stay zero). */
void l2_normalise_rows(float *x, size_t n, size_t d);

/*
 * Write DIR/loss.png (the loss per step) and DIR/embedding.png (2-D PCA of the test embeddings
 * coloured by class). Returns 0 or a status (message in ex_error()).
 */
int write_figures(const char *dir, const char *method, const float *loss, size_t steps, const float *test_emb,
                  const int32_t *test_labels, size_t q, size_t d);

/*
 * The kNN evaluation of a program trained on the first n training and q test images of a
 * Fashion-MNIST set: their labels as int32, the raw-pixel baseline, and (dim > 0) the embedding
 * buffers of a single encoder with dim outputs.
 */
typedef struct knn_eval {
    const fmnist *data;                  /* borrowed */
    size_t n, q, dim;
    int32_t *train_labels, *test_labels; /* owned */
    float *train_emb, *test_emb;         /* owned, n x dim and q x dim (NULL when dim is 0): the last embedding */
    double raw;                          /* kNN top-1 on raw pixels */
} knn_eval;

/* Fill e (labels, buffers) and compute the raw-pixel baseline. Returns 0 or a status (message in
 * ex_error()); LCT_EINVAL when n or q is 0 or above the set's size. On failure e holds no memory. */
int knn_eval_init(knn_eval *e, lct_runtime *rt, const fmnist *data, size_t n, size_t q, size_t dim);

/* Embed the n train and q test images with enc (e->dim outputs) into e's buffers and return the
 * kNN top-1 accuracy, or a negative status (LCT_EINVAL when e has no buffers or enc another width). */
double knn_eval_encoder(knn_eval *e, lct_runtime *rt, lct_encoder *enc);

/* The opening lines of a single-encoder program: "<name>: N train / Q test images, encoder SPEC" and
 * "<name>: kNN before training A, raw pixels R; BLIS kernels K, T thread(s)". */
void knn_eval_print_start(const char *name, const knn_eval *e, lct_runtime *rt, const lct_encoder *enc,
                          double untrained);

/* Free what knn_eval_init allocated; e may be zeroed. */
void knn_eval_free(knn_eval *e);

#endif
