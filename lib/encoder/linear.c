/* Fully connected layer on the last axis: y = x Wᵀ + b, one GEMM over every row of the batch (fp32
 * through BLIS, or bf16 operands on AMX tiles when the encoder's precision says so). */
#include <float.h>

#include "encoder_internal.h"

#include "../core/bf16_tiles.h"

int lct__linear_init(lct__layer *l, const char *func)
{
    if (l->units == 0) return lct__fail(LCT_EINVAL, func, "linear: out_features is 0");
    if (l->in.rank > 2)
        return lct__fail(LCT_ESHAPE, func,
                         "linear acts on the last axis of a rank 1 or 2 input; got rank %u (add flatten first)",
                         l->in.rank);
    l->out.d[l->in.rank - 1] = l->units;
    return LCT_OK;
}

/* Rows of the GEMM: batch × every axis but the last. */
static size_t rows_of(const lct__layer *l, size_t batch)
{
    return batch * (l->in.rank == 2 ? l->in.d[0] : 1);
}

/* bf16 workspace: W packed for forward and for dx (kept while W is unchanged), then packing space for
 * the largest of the three products. */
static uint16_t *packed_w(const lct__layer *l, int bwd)
{
    size_t in = l->in.d[l->in.rank - 1], out = l->units;
    return (uint16_t *)l->ws + (bwd ? lct__bf16_packed(out, in) : 0);
}

static void *scratch(const lct__layer *l)
{
    size_t in = l->in.d[l->in.rank - 1], out = l->units;
    return (uint16_t *)l->ws + lct__bf16_packed(out, in) + lct__bf16_packed(in, out);
}

size_t lct__linear_ws(const lct__layer *l, size_t batch)
{
    if (!l->bf16) return 0;
    size_t in = l->in.d[l->in.rank - 1], out = l->units, m = rows_of(l, batch);
    size_t f = lct__max_size(lct__max_size(lct__gemm_bf16_ws(m, out, in), lct__gemm_bf16_ws(out, in, m)),
                             lct__gemm_bf16_ws(m, in, out));
    f += (lct__bf16_packed(out, in) + lct__bf16_packed(in, out)) * sizeof(uint16_t);
    return (f + sizeof(float) - 1) / sizeof(float);
}

/* Bring the packed copies of W in `need` up to date. W changes only through writes that bump the
 * parameters' version (the optimiser's step among them), so a training step packs W once, in its
 * first forward pass, and evaluation passes between steps pack it only once. */
static void ensure_packed(lct__layer *l, const lct__pass *p, unsigned need)
{
    size_t in = l->in.d[l->in.rank - 1], out = l->units;
    if (l->wpack_version != p->version) l->wpack = 0;
    unsigned miss = need & ~l->wpack;
    if (miss == 0) return;
    lct__bf16_pack_w(p->rt, p->threads, l->value[0], out, in, miss & LCT__WPACK_FWD ? packed_w(l, 0) : NULL,
                     miss & LCT__WPACK_BWD ? packed_w(l, 1) : NULL);
    l->wpack |= miss;
    l->wpack_version = p->version;
}

void lct__linear_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t in = l->in.d[l->in.rank - 1], out = l->units, m = rows_of(l, p->batch);
    const float *w = l->value[0], *b = l->has_bias ? l->value[1] : NULL;
    if (l->bf16) {
        /* In train mode a later layer's dx will be wanted: pack W for it in the same pass. */
        ensure_packed(l, p, LCT__WPACK_FWD | (p->train && l->index > 0 ? LCT__WPACK_BWD : 0));
        lct__gemm_bf16_pb(p->rt, p->threads, 0, m, out, in, x, in, packed_w(l, 0), b, y, out, scratch(l));
        return;
    }
    if (b) lct__rows_set(p, b, m, out, y); /* the GEMM adds x Wᵀ to it */
    lct__gemm(p->rt, 0, 1, m, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

/* 1 if no value of dW = dyᵀ x (m rows each) can be NaN or Inf, given the largest |dy| and |x| (Inf
 * for a NaN or Inf among them): |dW| <= m·max|dy|·max|x| stays below FLT_MAX / 2. The margin covers
 * bf16 rounding (a factor of (1 + 2⁻⁸)² at most) and the rounding of m fp32 additions (a factor below
 * 4/3 for m <= 2²²). It spares the optimiser its scan of dW. */
static int sums_bounded(size_t m, const float amax[2])
{
    return m <= ((size_t)1 << 22) && 2.0 * (double)m * (double)amax[0] * (double)amax[1] < (double)FLT_MAX;
}

void lct__linear_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                          float *dx)
{
    (void)y;
    size_t in = l->in.d[l->in.rank - 1], out = l->units, m = rows_of(l, p->batch);
    /* dW += dyᵀ x, or dW = dyᵀ x over a gradient zeroed only by its flag. BLIS never splits the k (batch)
     * loop across threads, so the sum order is fixed. */
    int add = !l->grad_unset;
    float amax[2] = {0.0f, 0.0f}; /* in bf16 the packing finds the factors' largest magnitudes */
    if (l->bf16)
        lct__gemm_bf16(p->rt, p->threads, 1, 0, out, in, m, dy, out, x, in, add, l->grad[0], in, scratch(l), amax);
    else
        lct__gemm(p->rt, 1, 0, out, in, m, 1.0f, dy, out, x, in, add ? 1.0f : 0.0f, l->grad[0], in);
    l->grad_finite = l->bf16 && !add && sums_bounded(m, amax);
    l->grad_unset = 0;
    if (l->has_bias) lct__colsum_add(p, dy, m, out, l->grad[1]);
    if (dx && l->bf16) {
        ensure_packed(l, p, LCT__WPACK_BWD);
        lct__gemm_bf16_pb(p->rt, p->threads, 0, m, in, out, dy, out, packed_w(l, 1), NULL, dx, in, scratch(l));
    } else if (dx) {
        lct__gemm(p->rt, 0, 0, m, in, out, 1.0f, dy, out, l->value[0], in, 0.0f, dx, in);
    }
}

static int spec_linear(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "linear %u%s", l->units, l->has_bias ? "" : " nobias");
}

const lct__layer_ops lct__linear_ops = {lct__linear_init, lct__dense_tensors, lct__linear_ws, lct__linear_forward,
                                        lct__linear_backward, spec_linear, 1};
