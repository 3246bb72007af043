/*
 * Principal component analysis down to two dimensions, for plotting embeddings.
 * The D x D covariance is accumulated in double; the top two eigenvectors come from power
 * iteration, the second after deflating the first (and re-orthogonalising against it).
 */
#ifndef LCT_EXAMPLES_PCA_H
#define LCT_EXAMPLES_PCA_H

#include <stddef.h>

#include "error.h"

/* The fitted model: mean and the two leading principal axes. */
typedef struct pca2 {
    size_t d;              /* input dimension */
    double *mean;          /* owned, d values */
    double *axis[2];       /* owned, d values each: unit vectors, largest |entry| positive */
    double variance[2];    /* variance along each axis (eigenvalues, divisor n - 1) */
    double total_variance; /* trace of the covariance: variance[k] / total = explained fraction */
    int iterations[2];     /* power iterations used for each axis */
} pca2;

/*
 * Fit on the n x d row-major matrix x (n >= 1, 1 <= d <= 8192). Axes of zero variance come
 * out as zero vectors (variance 0). Returns 0, LCT_EINVAL (NULL argument, n or d out of
 * range), LCT_ENUMERIC (NaN or Inf in x), LCT_ENOMEM. On failure *model holds no memory.
 */
int pca2_fit(pca2 *model, const float *x, size_t n, size_t d);

/* Project n rows of x (d = model->d columns) to out (n x 2): (x_i - mean) . axis_k. */
void pca2_project(const pca2 *model, const float *x, size_t n, float *out);

void pca2_free(pca2 *model);

/* Fit and project in one call; explained (may be NULL) receives the two explained fractions. */
int pca_2d(const float *x, size_t n, size_t d, float *out, double explained[2]);

#endif
