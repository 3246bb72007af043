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

#endif
