#include "probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void softmax_free(softmax_model *m)
{
    if (m == NULL) return;
    free(m->mean);
    free(m->scale);
    free(m->w);
    m->mean = m->scale = m->w = NULL;
}

/* Dot product of n doubles with four partial sums (the order is fixed: results do not vary). */
static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++) s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

/* Standardised copy of row x into z (d values) and a trailing 1 for the bias. */
static void standardise_row(const softmax_model *m, const float *x, double *z)
{
    for (size_t j = 0; j < m->d; j++) z[j] = ((double)x[j] - m->mean[j]) * m->scale[j];
    z[m->d] = 1.0;
}

/* Softmax of K scores in place (max subtracted first); returns log of the normaliser. */
static double softmax_inplace(double *s, int k)
{
    double mx = s[0];
    for (int c = 1; c < k; c++) mx = s[c] > mx ? s[c] : mx;
    double sum = 0;
    for (int c = 0; c < k; c++) sum += (s[c] = exp(s[c] - mx));
    for (int c = 0; c < k; c++) s[c] /= sum;
    return mx + log(sum);
}

int softmax_fit(softmax_model *m, const float *x, const int32_t *y, size_t n, size_t d, int classes, double l2,
                int iterations)
{
    if (m == NULL) return ex_fail(LCT_EINVAL, "softmax_fit: m is NULL");
    memset(m, 0, sizeof *m);
    if (x == NULL || y == NULL) return ex_fail(LCT_EINVAL, "softmax_fit: %s is NULL", x ? "y" : "x");
    if (n == 0 || d == 0 || d > (1u << 20)) return ex_fail(LCT_EINVAL, "softmax_fit: n = %zu, d = %zu (both 1.., d <= 2^20)", n, d);
    if (classes < 2 || classes > 4096) return ex_fail(LCT_EINVAL, "softmax_fit: classes is %d (2..4096)", classes);
    if (!(l2 >= 0 && l2 <= 1e6)) return ex_fail(LCT_EINVAL, "softmax_fit: l2 is %g (0..1e6)", l2);
    if (iterations < 1 || iterations > 1000000) return ex_fail(LCT_EINVAL, "softmax_fit: iterations is %d (1..10^6)", iterations);
    if (n > SIZE_MAX / 8 / (d + 1)) return ex_fail(LCT_EINVAL, "softmax_fit: %zu x %zu features are too many", n, d);
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return ex_fail(LCT_EINVAL, "softmax_fit: label %d of row %zu is out of 0..%d", y[i], i, classes - 1);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return ex_fail(LCT_ENUMERIC, "softmax_fit: x[%zu] is not finite", i);

    size_t D = d + 1, K = (size_t)classes;
    m->d = d;
    m->classes = classes;
    m->mean = calloc(d, sizeof(double));
    m->scale = calloc(d, sizeof(double));
    m->w = calloc(K * D, sizeof(double));
    double *z = malloc(n * D * sizeof *z), *v = calloc(K * D, sizeof *v), *look = malloc(K * D * sizeof *look);
    double *g = malloc(K * D * sizeof *g), *p = malloc(K * sizeof *p), *u = malloc(D * sizeof *u), *t = malloc(D * sizeof *t);
    if (!m->mean || !m->scale || !m->w || !z || !v || !look || !g || !p || !u || !t) {
        free(z), free(v), free(look), free(g), free(p), free(u), free(t);
        softmax_free(m);
        return ex_fail(LCT_ENOMEM, "softmax_fit: cannot allocate for %zu x %zu features", n, d);
    }
    /* Column statistics (two passes, double). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) m->mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++) m->mean[j] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double e = x[i * d + j] - m->mean[j];
            m->scale[j] += e * e;
        }
    for (size_t j = 0; j < d; j++) {
        double sd = sqrt(m->scale[j] / (double)n);
        m->scale[j] = sd > 1e-12 * (1 + fabs(m->mean[j])) ? 1.0 / sd : 0.0;
    }
    for (size_t i = 0; i < n; i++) standardise_row(m, x + i * d, z + i * D);

    /* Largest eigenvalue of Z^T Z / n by power iteration (30 steps, from a fixed start). */
    for (size_t j = 0; j < D; j++) u[j] = 1.0 / sqrt((double)D) * (1 + 0.01 * (double)(j % 7));
    double lambda = 1;
    for (int it = 0; it < 30; it++) {
        memset(t, 0, D * sizeof *t);
        for (size_t i = 0; i < n; i++) {
            const double *zi = z + i * D;
            double dot = 0;
            for (size_t j = 0; j < D; j++) dot += zi[j] * u[j];
            for (size_t j = 0; j < D; j++) t[j] += dot * zi[j];
        }
        double nrm = 0;
        for (size_t j = 0; j < D; j++) nrm += t[j] * t[j];
        nrm = sqrt(nrm);
        if (nrm == 0) break;
        lambda = nrm / (double)n;
        for (size_t j = 0; j < D; j++) u[j] = t[j] / nrm;
    }
    /* The power iteration approaches lambda from below: a 10 % margin keeps the step safe. */
    double step = 1.0 / (0.5 * lambda * 1.1 + l2);

    /* Nesterov: look = w + mu (w - w_prev); w_new = look - step grad(look). v holds w_prev. */
    double loss = 0;
    for (int it = 1; it <= iterations; it++) {
        double mu = (double)(it - 1) / (double)(it + 2);
        for (size_t k = 0; k < K * D; k++) look[k] = m->w[k] + mu * (m->w[k] - v[k]);
        memset(g, 0, K * D * sizeof *g);
        loss = 0;
        for (size_t i = 0; i < n; i++) {
            const double *zi = z + i * D;
            for (size_t c = 0; c < K; c++) p[c] = dot(look + c * D, zi, D);
            double sy = p[y[i]];
            double lse = softmax_inplace(p, classes);
            loss += lse - sy;
            p[y[i]] -= 1;
            for (size_t c = 0; c < K; c++) {
                double pc = p[c], *gc = g + c * D;
                for (size_t j = 0; j < D; j++) gc[j] += pc * zi[j];
            }
        }
        double reg = 0;
        for (size_t c = 0; c < K; c++)
            for (size_t j = 0; j < D; j++) {
                size_t k = c * D + j;
                g[k] /= (double)n;
                if (j < d) {
                    g[k] += l2 * look[k];
                    reg += look[k] * look[k];
                }
            }
        loss = loss / (double)n + 0.5 * l2 * reg; /* J at the look-ahead point */
        for (size_t k = 0; k < K * D; k++) {
            v[k] = m->w[k];
            m->w[k] = look[k] - step * g[k];
        }
    }
    m->loss = loss;
    m->iterations = iterations;
    free(z), free(v), free(look), free(g), free(p), free(u), free(t);
    return 0;
}

void softmax_scores(const softmax_model *m, const float *x, size_t n, double *scores)
{
    size_t D = m->d + 1, K = (size_t)m->classes;
    double *z = malloc(D * sizeof *z);
    if (z == NULL) {
        for (size_t i = 0; i < n * K; i++) scores[i] = 0;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        standardise_row(m, x + i * m->d, z);
        for (size_t c = 0; c < K; c++) scores[i * K + c] = dot(m->w + c * D, z, D);
    }
    free(z);
}

void softmax_predict(const softmax_model *m, const float *x, size_t n, int32_t *pred)
{
    size_t K = (size_t)m->classes;
    double *s = malloc(K * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        if (s == NULL) {
            pred[i] = 0;
            continue;
        }
        softmax_scores(m, x + i * m->d, 1, s);
        int32_t best = 0;
        for (size_t c = 1; c < K; c++)
            if (s[c] > s[best]) best = (int32_t)c;
        pred[i] = best;
    }
    free(s);
}

double probe_accuracy(const float *train, const int32_t *train_labels, size_t n, const float *test,
                      const int32_t *test_labels, size_t q, size_t d, int classes, double l2, int iterations)
{
    if (test == NULL || test_labels == NULL || q == 0)
        return ex_fail(LCT_EINVAL, "probe_accuracy: %s", q == 0 ? "q is 0" : "test or test_labels is NULL");
    softmax_model m;
    int rc = softmax_fit(&m, train, train_labels, n, d, classes, l2, iterations);
    if (rc != 0) return rc;
    int32_t *pred = malloc(q * sizeof *pred);
    if (pred == NULL) {
        softmax_free(&m);
        return ex_fail(LCT_ENOMEM, "probe_accuracy: cannot allocate %zu predictions", q);
    }
    softmax_predict(&m, test, q, pred);
    size_t right = 0;
    for (size_t i = 0; i < q; i++) right += pred[i] == test_labels[i];
    free(pred);
    softmax_free(&m);
    return (double)right / (double)q;
}
