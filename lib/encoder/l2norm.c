/* L2 normalisation along the last axis: y = x / max(‖x‖, eps), as torch.nn.functional.normalize. */
#include <math.h>

#include "layer.h"

void lct__l2norm_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t d = l->in.d[l->in.rank - 1], rows = p->batch * (l->in_size / d);
    float *norm = l->ws;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (rows * d > LCT__PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t i = 0; i < d; i++) s += (double)x[r * d + i] * x[r * d + i];
        float nr = (float)sqrt(s);
        norm[r] = nr;
        float inv = 1.0f / (nr > l->eps ? nr : l->eps);
        for (size_t i = 0; i < d; i++) y[r * d + i] = x[r * d + i] * inv;
    }
}

void lct__l2norm_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                          float *dx)
{
    (void)x;
    size_t d = l->in.d[l->in.rank - 1], rows = p->batch * (l->in_size / d);
    const float *norm = l->ws;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (rows * d > LCT__PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * d, *dyr = dy + r * d;
        float *dxr = dx + r * d;
        if (norm[r] > l->eps) {
            /* dx = (dy − y (y·dy)) / ‖x‖ */
            double dot = 0.0;
            for (size_t i = 0; i < d; i++) dot += (double)yr[i] * dyr[i];
            float inv = 1.0f / norm[r], fd = (float)dot;
            for (size_t i = 0; i < d; i++) dxr[i] = (dyr[i] - yr[i] * fd) * inv;
        } else {
            float inv = 1.0f / l->eps;
            for (size_t i = 0; i < d; i++) dxr[i] = dyr[i] * inv;
        }
    }
}
