/* PCA to 2-D: covariance in double, power iteration with deflation. */
#include "pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PCA_MAX_ITER 5000
#define PCA_BLOCK 64

void pca2_free(pca2 *m)
{
    if (!m) return;
    free(m->mean);
    free(m->axis[0]);
    free(m->axis[1]);
    memset(m, 0, sizeof *m);
}

static double dot(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

/* y = C v for the symmetric d x d matrix C (full storage). */
static void symv(const double *c, const double *v, double *y, size_t d)
{
    for (size_t i = 0; i < d; i++) y[i] = dot(c + i * d, v, d);
}

/*
 * Leading eigenvector of C restricted to the complement of `prev` (NULL for the first axis).
 * Stops when the direction changes by less than 1e-10 between iterations. Returns the
 * eigenvalue (0 with a zero vector when C has no variance left).
 */
static double power_iterate(const double *c, size_t d, const double *prev, double *v, double *tmp, int *iters)
{
    /* A start vector with a component along every axis, without favouring any. */
    for (size_t i = 0; i < d; i++) v[i] = 1.0 + 0.5 * sin(1.0 + (double)i * 2.3999632);
    double lambda = 0;
    int it;
    for (it = 1; it <= PCA_MAX_ITER; it++) {
        if (prev) {
            double p = dot(v, prev, d);
            for (size_t i = 0; i < d; i++) v[i] -= p * prev[i];
        }
        double norm = sqrt(dot(v, v, d));
        if (!(norm > 1e-300)) break;
        for (size_t i = 0; i < d; i++) v[i] /= norm;
        symv(c, v, tmp, d);
        if (prev) {
            double p = dot(tmp, prev, d);
            for (size_t i = 0; i < d; i++) tmp[i] -= p * prev[i];
        }
        lambda = dot(v, tmp, d);
        double tn = sqrt(dot(tmp, tmp, d));
        if (!(tn > 1e-300)) {
            lambda = 0;
            break;
        }
        double change = 0;
        for (size_t i = 0; i < d; i++) {
            double w = tmp[i] / tn, e = w - v[i];
            change += e * e;
            v[i] = w;
        }
        if (change < 1e-20) break;
    }
    *iters = it > PCA_MAX_ITER ? PCA_MAX_ITER : it;
    if (!(lambda > 0)) {
        memset(v, 0, d * sizeof *v);
        return 0;
    }
    /* Sign convention: the entry of largest magnitude is positive, so results are reproducible. */
    size_t big = 0;
    for (size_t i = 1; i < d; i++)
        if (fabs(v[i]) > fabs(v[big])) big = i;
    if (v[big] < 0)
        for (size_t i = 0; i < d; i++) v[i] = -v[i];
    return lambda;
}

int pca2_fit(pca2 *m, const float *x, size_t n, size_t d)
{
    if (!m) return ex_fail(LCT_EINVAL, "pca2_fit: 'model' is NULL");
    memset(m, 0, sizeof *m);
    if (!x) return ex_fail(LCT_EINVAL, "pca2_fit: 'x' is NULL");
    if (n == 0) return ex_fail(LCT_EINVAL, "pca2_fit: n is 0");
    if (d == 0 || d > 8192) return ex_fail(LCT_EINVAL, "pca2_fit: d is %zu (1..8192)", d);
    if (n > SIZE_MAX / d) return ex_fail(LCT_EINVAL, "pca2_fit: n x d (%zu x %zu) overflows", n, d);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return ex_fail(LCT_ENUMERIC, "pca2_fit: x[%zu][%zu] is %g", i / d, i % d, (double)x[i]);

    double *mean = calloc(d, sizeof *mean), *cov = calloc(d * d, sizeof *cov);
    double *block = malloc(PCA_BLOCK * d * sizeof *block), *tmp = malloc(d * sizeof *tmp);
    m->axis[0] = malloc(d * sizeof *m->axis[0]);
    m->axis[1] = malloc(d * sizeof *m->axis[1]);
    if (!mean || !cov || !block || !tmp || !m->axis[0] || !m->axis[1]) {
        free(mean), free(cov), free(block), free(tmp);
        pca2_free(m);
        return ex_fail(LCT_ENOMEM, "pca2_fit: cannot allocate the %zu x %zu covariance", d, d);
    }
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < d; j++) mean[j] += x[r * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;

    /* Upper triangle of sum (x - mean)(x - mean)^T, a block of centred rows at a time. */
    for (size_t r0 = 0; r0 < n; r0 += PCA_BLOCK) {
        size_t rows = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < d; j++) block[r * d + j] = (double)x[(r0 + r) * d + j] - mean[j];
        for (size_t i = 0; i < d; i++) {
            double *ci = cov + i * d;
            size_t r = 0;
            /* Four rows per sweep: each load and store of the covariance row serves four products. */
            for (; r + 4 <= rows; r += 4) {
                const double *b0 = block + r * d, *b1 = b0 + d, *b2 = b1 + d, *b3 = b2 + d;
                double a0 = b0[i], a1 = b1[i], a2 = b2[i], a3 = b3[i];
                for (size_t j = i; j < d; j++) ci[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
            }
            for (; r < rows; r++) {
                const double *b = block + r * d;
                double bi = b[i];
                for (size_t j = i; j < d; j++) ci[j] += bi * b[j];
            }
        }
    }
    double denom = n > 1 ? (double)(n - 1) : 1.0, trace = 0;
    for (size_t i = 0; i < d; i++) {
        for (size_t j = i; j < d; j++) {
            cov[i * d + j] /= denom;
            cov[j * d + i] = cov[i * d + j];
        }
        trace += cov[i * d + i];
    }

    m->d = d;
    m->mean = mean;
    m->total_variance = trace;
    m->variance[0] = power_iterate(cov, d, NULL, m->axis[0], tmp, &m->iterations[0]);
    /* Deflate: C - lambda_1 v_1 v_1^T, so the second axis is the next one down. */
    const double *v1 = m->axis[0];
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) cov[i * d + j] -= m->variance[0] * v1[i] * v1[j];
    if (d > 1 && m->variance[0] > 0)
        m->variance[1] = power_iterate(cov, d, v1, m->axis[1], tmp, &m->iterations[1]);
    else
        memset(m->axis[1], 0, d * sizeof *m->axis[1]);
    free(cov);
    free(block);
    free(tmp);
    return 0;
}

void pca2_project(const pca2 *m, const float *x, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++) {
        const float *row = x + r * m->d;
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (size_t j = 0; j < m->d; j++) s += ((double)row[j] - m->mean[j]) * m->axis[k][j];
            out[2 * r + k] = (float)s;
        }
    }
}

int pca_2d(const float *x, size_t n, size_t d, float *out, double explained[2])
{
    if (!out) return ex_fail(LCT_EINVAL, "pca_2d: 'out' is NULL");
    pca2 m;
    int rc = pca2_fit(&m, x, n, d);
    if (rc) return rc;
    pca2_project(&m, x, n, out);
    if (explained)
        for (int k = 0; k < 2; k++) explained[k] = m.total_variance > 0 ? m.variance[k] / m.total_variance : 0;
    pca2_free(&m);
    return 0;
}
