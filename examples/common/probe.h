/*
 * A linear probe: multinomial logistic (softmax) regression on standardised features, trained
 * by full-batch gradient descent with Nesterov momentum. The evaluation of cpc_speech (speaker
 * identification from context features, as in the CPC paper's Table 1).
 *
 * Objective over n training rows x_i (standardised with the training mean and standard
 * deviation of every column; constant columns become 0) with labels y_i in 0..K-1:
 *     J(W, b) = (1/n) sum_i -log softmax(W x_i + b)[y_i] + (l2/2) |W|^2
 * (the bias is not penalised). The step is 1 / Lipschitz bound of the gradient, from the
 * largest eigenvalue of X^T X / n (power iteration): J decreases at the O(1/t^2) rate.
 */
#ifndef LCT_EXAMPLES_PROBE_H
#define LCT_EXAMPLES_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct softmax_model {
    size_t d;       /* feature dimension */
    int classes;    /* K */
    double *mean;   /* owned, d: training mean of each feature */
    double *scale;  /* owned, d: 1 / training standard deviation (0 for a constant feature) */
    double *w;      /* owned, K x (d + 1): row k holds W_k then the bias b_k */
    double loss;    /* J at the end of training */
    int iterations; /* gradient steps taken */
} softmax_model;

/*
 * Fit on x (n x d floats, row-major) with labels y (0..classes-1): `iterations` steps (1..10^6),
 * weight decay l2 (0..1e6). Returns 0, LCT_EINVAL (NULL argument, n or d 0, classes < 2 or above
 * 4096, a label out of range, l2 or iterations out of range), LCT_ENUMERIC (NaN or Inf in x),
 * LCT_ENOMEM. On failure *m holds no memory.
 */
int softmax_fit(softmax_model *m, const float *x, const int32_t *y, size_t n, size_t d, int classes, double l2,
                int iterations);

/* Class scores (n x classes, doubles) of n rows of x under the fitted model. */
void softmax_scores(const softmax_model *m, const float *x, size_t n, double *scores);

/* Most likely class of each of n rows (the first one on ties). */
void softmax_predict(const softmax_model *m, const float *x, size_t n, int32_t *pred);

void softmax_free(softmax_model *m);

/*
 * Fit on (train, train_labels) and return the accuracy on (test, test_labels) in [0, 1], or a
 * negative status (message in ex_error()). l2 = 1e-3 and 2000 iterations are good defaults for
 * a few hundred rows of a few hundred features.
 */
double probe_accuracy(const float *train, const int32_t *train_labels, size_t n, const float *test,
                      const int32_t *test_labels, size_t q, size_t d, int classes, double l2, int iterations);

#endif
