/* Dispatch of the layer interface to the per-kind files; shape rules of the parameter-free layers. */
#include <math.h>
#include <stdio.h>

#include "layer.h"

static const char *const kind_names[LCT__L_COUNT] = {
    "linear", "conv1d", "conv2d", "batchnorm", "relu", "maxpool", "avgpool",
    "gap", "flatten", "transpose", "dropout", "l2norm", "gru",
};

const char *lct__layer_kind_name(int kind)
{
    return kind >= 0 && kind < LCT__L_COUNT ? kind_names[kind] : "?";
}

static size_t shape_size(const lct__shape *s)
{
    size_t n = 1;
    for (uint32_t i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

int lct__layer_init(lct__layer *l, const lct__shape *in, const char *func)
{
    l->in = *in;
    l->in_size = shape_size(in);
    l->out = *in;
    int rc = LCT_OK;
    switch (l->kind) {
    case LCT__L_LINEAR: rc = lct__linear_init(l, func); break;
    case LCT__L_CONV1D:
    case LCT__L_CONV2D: rc = lct__conv_init(l, func); break;
    case LCT__L_BATCHNORM: rc = lct__bn_init(l, func); break;
    case LCT__L_MAXPOOL:
    case LCT__L_AVGPOOL:
    case LCT__L_GAP: rc = lct__pool_init(l, func); break;
    case LCT__L_GRU: rc = lct__gru_init(l, func); break;
    case LCT__L_RELU: break;
    case LCT__L_FLATTEN:
        l->out.rank = 1;
        l->out.d[0] = (uint32_t)l->in_size;
        if (l->in_size > UINT32_MAX)
            rc = lct__fail(LCT_ESHAPE, func, "flatten: %zu features do not fit a 32-bit dimension", l->in_size);
        break;
    case LCT__L_TRANSPOSE:
        if (in->rank != 2)
            rc = lct__fail(LCT_ESHAPE, func, "transpose needs a rank-2 input (C x L), got rank %u", in->rank);
        else {
            l->out.d[0] = in->d[1];
            l->out.d[1] = in->d[0];
        }
        break;
    case LCT__L_DROPOUT:
        if (!(l->p >= 0.0f && l->p < 1.0f))
            rc = lct__fail(LCT_EINVAL, func, "dropout p is %g; it must be in [0, 1)", (double)l->p);
        break;
    case LCT__L_L2NORM:
        if (!(l->eps > 0.0f) || !isfinite(l->eps))
            rc = lct__fail(LCT_EINVAL, func, "l2norm eps is %g; it must be finite and > 0", (double)l->eps);
        else if (in->rank > 2)
            rc = lct__fail(LCT_ESHAPE, func,
                           "l2norm normalises the last axis of a rank 1 or 2 input; got rank %u (add flatten first)",
                           in->rank);
        break;
    default: rc = lct__fail(LCT_EINVAL, func, "unknown layer kind %d", l->kind);
    }
    if (rc) return rc;
    l->out_size = shape_size(&l->out);
    if (l->out_size == 0) return lct__fail(LCT_ESHAPE, func, "%s layer would produce an empty output", kind_names[l->kind]);
    /* Each tensor's count fits size_t, but their padded sum with the gradients may not: a wrapped sum would
     * allocate a small store and then fill the real counts into it. */
    lct__tensor_desc desc[LCT__MAX_LAYER_TENSORS];
    size_t nt = lct__layer_tensors(l, desc), floats = 0;
    for (size_t k = 0; k < nt; k++) {
        size_t one = desc[k].count > SIZE_MAX - 15 ? SIZE_MAX : lct__round16(desc[k].count), both;
        if (one == SIZE_MAX || lct__mul_size(one, desc[k].trainable ? 2 : 1, &both) || both > SIZE_MAX - floats ||
            !lct__fits(floats + both, sizeof(float)))
            return lct__fail(LCT_ESHAPE, func, "%s layer: its parameters (%s of %zu floats) overflow",
                             kind_names[l->kind], desc[k].suffix, desc[k].count);
        floats += both;
    }
    return LCT_OK;
}

size_t lct__layer_store_floats(const lct__layer *l)
{
    lct__tensor_desc desc[LCT__MAX_LAYER_TENSORS];
    size_t nt = lct__layer_tensors(l, desc), floats = 0;
    for (size_t k = 0; k < nt; k++) floats += lct__round16(desc[k].count) * (desc[k].trainable ? 2 : 1);
    return floats;
}

size_t lct__layer_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t n = 0;
    switch (l->kind) {
    case LCT__L_LINEAR:
    case LCT__L_CONV1D:
    case LCT__L_CONV2D: {
        size_t in = l->kind == LCT__L_LINEAR ? l->in.d[l->in.rank - 1] : l->in.d[0];
        size_t fan_in = in * (l->kind == LCT__L_CONV2D ? (size_t)l->kernel * l->kernel
                              : l->kind == LCT__L_CONV1D ? l->kernel : 1);
        double bound = 1.0 / sqrt((double)fan_in);
        d[n++] = (lct__tensor_desc){"weight", (size_t)l->units * fan_in, 1, 0, LCT__INIT_UNIFORM, bound};
        if (l->has_bias) d[n++] = (lct__tensor_desc){"bias", l->units, 1, 1, LCT__INIT_UNIFORM, bound};
        break;
    }
    case LCT__L_BATCHNORM: {
        size_t c = l->in.d[0];
        d[n++] = (lct__tensor_desc){"weight", c, 1, 1, LCT__INIT_ONES, 0};
        d[n++] = (lct__tensor_desc){"bias", c, 1, 1, LCT__INIT_ZEROS, 0};
        d[n++] = (lct__tensor_desc){"running_mean", c, 0, 0, LCT__INIT_ZEROS, 0};
        d[n++] = (lct__tensor_desc){"running_var", c, 0, 0, LCT__INIT_ONES, 0};
        break;
    }
    case LCT__L_GRU: {
        size_t h = l->units, in = l->in.d[1];
        double bound = 1.0 / sqrt((double)h);
        d[n++] = (lct__tensor_desc){"weight_ih", 3 * h * in, 1, 0, LCT__INIT_UNIFORM, bound};
        d[n++] = (lct__tensor_desc){"weight_hh", 3 * h * h, 1, 0, LCT__INIT_UNIFORM, bound};
        d[n++] = (lct__tensor_desc){"bias_ih", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
        d[n++] = (lct__tensor_desc){"bias_hh", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
        break;
    }
    default: break;
    }
    return n;
}

size_t lct__layer_ws(const lct__layer *l, size_t batch)
{
    switch (l->kind) {
    case LCT__L_LINEAR: return lct__linear_ws(l, batch);
    case LCT__L_CONV1D: return lct__conv1d_ws(l, batch);
    case LCT__L_CONV2D: return lct__conv_ws(l, batch);
    case LCT__L_BATCHNORM: return lct__bn_ws(l, batch);
    case LCT__L_MAXPOOL: return lct__pool_ws(l, batch);
    case LCT__L_DROPOUT: return lct__dropout_ws(l, batch);
    case LCT__L_GRU: return lct__gru_ws(l, batch);
    case LCT__L_L2NORM: return lct__round16(batch * (l->in.rank == 2 ? l->in.d[0] : 1));
    default: return 0;
    }
}

void lct__layer_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    switch (l->kind) {
    case LCT__L_LINEAR: lct__linear_forward(l, p, x, y); break;
    case LCT__L_CONV1D: lct__conv1d_forward(l, p, x, y); break;
    case LCT__L_CONV2D: lct__conv_forward(l, p, x, y); break;
    case LCT__L_BATCHNORM: lct__bn_forward(l, p, x, y); break;
    case LCT__L_RELU: lct__relu_forward(p, p->batch * l->in_size, x, y); break;
    case LCT__L_MAXPOOL:
    case LCT__L_AVGPOOL:
    case LCT__L_GAP: lct__pool_forward(l, p, x, y); break;
    case LCT__L_FLATTEN: lct__copy(p, p->batch * l->in_size, x, y); break;
    case LCT__L_TRANSPOSE: lct__transpose_forward(l, p, x, y); break;
    case LCT__L_DROPOUT: lct__dropout_forward(l, p, x, y); break;
    case LCT__L_L2NORM: lct__l2norm_forward(l, p, x, y); break;
    case LCT__L_GRU: lct__gru_forward(l, p, x, y); break;
    default: break;
    }
}

void lct__layer_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                         float *dx)
{
    switch (l->kind) {
    case LCT__L_LINEAR: lct__linear_backward(l, p, x, dy, dx); break;
    case LCT__L_CONV1D: lct__conv1d_backward(l, p, x, y, dy, dx); break;
    case LCT__L_CONV2D: lct__conv_backward(l, p, x, dy, dx); break;
    case LCT__L_BATCHNORM: lct__bn_backward(l, p, x, y, dy, dx); break;
    case LCT__L_RELU:
        if (dx) lct__relu_backward(p, p->batch * l->in_size, y, dy, dx);
        break;
    case LCT__L_MAXPOOL:
    case LCT__L_AVGPOOL:
    case LCT__L_GAP:
        if (dx) lct__pool_backward(l, p, y, dy, dx);
        break;
    case LCT__L_FLATTEN:
        if (dx) lct__copy(p, p->batch * l->in_size, dy, dx);
        break;
    case LCT__L_TRANSPOSE:
        if (dx) lct__transpose_backward(l, p, dy, dx);
        break;
    case LCT__L_DROPOUT:
        if (dx) lct__dropout_backward(l, p, dy, dx);
        break;
    case LCT__L_L2NORM:
        if (dx) lct__l2norm_backward(l, p, x, y, dy, dx);
        break;
    case LCT__L_GRU: lct__gru_backward(l, p, x, y, dy, dx); break;
    default: break;
    }
}

int lct__layer_spec(const lct__layer *l, char *buf, size_t size)
{
    const char *k = kind_names[l->kind];
    switch (l->kind) {
    case LCT__L_LINEAR: return snprintf(buf, size, "linear %u%s", l->units, l->has_bias ? "" : " nobias");
    case LCT__L_CONV1D:
    case LCT__L_CONV2D:
        return snprintf(buf, size, "%s %u k%u s%u p%u%s", k, l->units, l->kernel, l->stride, l->padding,
                        l->has_bias ? "" : " nobias");
    case LCT__L_BATCHNORM:
        return snprintf(buf, size, "batchnorm momentum=%.9g eps=%.9g", (double)l->momentum, (double)l->eps);
    case LCT__L_MAXPOOL:
    case LCT__L_AVGPOOL: return snprintf(buf, size, "%s %u s%u", k, l->kernel, l->stride);
    case LCT__L_DROPOUT: return snprintf(buf, size, "dropout %.9g", (double)l->p);
    case LCT__L_L2NORM: return snprintf(buf, size, "l2norm eps=%.9g", (double)l->eps);
    case LCT__L_GRU: return snprintf(buf, size, "gru %u", l->units);
    default: return snprintf(buf, size, "%s", k);
    }
}
