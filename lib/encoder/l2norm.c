/* L2 normalisation along the last axis: y = x / max(‖x‖, eps), as torch.nn.functional.normalize. */
#include <math.h>

#include "encoder_internal.h"

int lct__l2norm_init(lct__layer *l, const char *func)
{
    if (!(l->eps > 0.0f) || !isfinite(l->eps))
        return lct__fail(LCT_EINVAL, func, "l2norm eps is %g; it must be finite and > 0", (double)l->eps);
    if (l->in.rank > 2)
        return lct__fail(LCT_ESHAPE, func,
                         "l2norm normalises the last axis of a rank 1 or 2 input; got rank %u (add flatten first)",
                         l->in.rank);
    return LCT_OK;
}

size_t lct__l2norm_ws(const lct__layer *l, size_t batch)
{
    return lct__round16(batch * (l->in.rank == 2 ? l->in.d[0] : 1)); /* the norm of each row */
}

/* What the row loops read: rows of d values and their norms (the layer's scratch); dy NULL: forward. */
typedef struct l2_job {
    float *norm;
    float eps;
    size_t d;
    const float *x, *y, *dy;
    float *out; /* y forward, dx backward */
} l2_job;

static void forward_row(const l2_job *j, size_t r)
{
    size_t d = j->d;
    const float *x = j->x + r * d;
    float *y = j->out + r * d;
    double s = 0.0;
    for (size_t i = 0; i < d; i++) s += (double)x[i] * x[i];
    float nr = (float)sqrt(s);
    j->norm[r] = nr;
    float inv = 1.0f / (nr > j->eps ? nr : j->eps);
    for (size_t i = 0; i < d; i++) y[i] = x[i] * inv;
}

static void backward_row(const l2_job *j, size_t r)
{
    size_t d = j->d;
    const float *yr = j->y + r * d, *dyr = j->dy + r * d;
    float *dxr = j->out + r * d;
    if (j->norm[r] > j->eps) {
        /* dx = (dy − y (y·dy)) / ‖x‖ */
        double dot = 0.0;
        for (size_t i = 0; i < d; i++) dot += (double)yr[i] * dyr[i];
        float inv = 1.0f / j->norm[r], fd = (float)dot;
        for (size_t i = 0; i < d; i++) dxr[i] = (dyr[i] - yr[i] * fd) * inv;
    } else {
        float inv = 1.0f / j->eps;
        for (size_t i = 0; i < d; i++) dxr[i] = dyr[i] * inv;
    }
}

static void run_rows(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const l2_job *j = ctx;
    for (size_t r = r0; r < r1; r++) {
        if (j->dy) backward_row(j, r);
        else forward_row(j, r);
    }
}

static void run(const lct__layer *l, const lct__pass *p, l2_job *j)
{
    size_t d = l->in.d[l->in.rank - 1], rows = p->batch * (l->in_size / d);
    j->norm = l->ws;
    j->eps = l->eps;
    j->d = d;
    lct__parallel(p->rt, rows * d > LCT__PAR_MIN ? p->threads : 1, rows, 1, run_rows, j);
}

void lct__l2norm_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    l2_job j = {.x = x, .out = y};
    run(l, p, &j);
}

void lct__l2norm_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                          float *dx)
{
    (void)x;
    l2_job j = {.y = y, .dy = dy, .out = dx};
    run(l, p, &j);
}

static int spec_l2norm(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "l2norm eps=%.9g", (double)l->eps);
}

const lct__layer_ops lct__l2norm_ops = {lct__l2norm_init, lct__no_tensors, lct__l2norm_ws, lct__l2norm_forward,
                                        lct__l2norm_backward, spec_l2norm, 0};
