/* The layer interface: one ops table per layer kind, and the rules every kind shares. */
#include <math.h>
#include <stdio.h>

#include "encoder_internal.h"

static const char *const kind_names[LCT__L_COUNT] = {
    "linear", "conv1d", "conv2d", "batchnorm", "relu", "maxpool", "avgpool",
    "gap", "flatten", "transpose", "dropout", "l2norm", "gru",
};

const char *lct__layer_kind_name(int kind)
{
    return kind >= 0 && kind < LCT__L_COUNT ? kind_names[kind] : "?";
}

size_t lct__shape_size(const lct__shape *s)
{
    size_t n = 1;
    for (uint32_t i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

/* ---- tensors ---------------------------------------------------------------------------------------- */

static size_t no_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    (void)l;
    (void)d;
    return 0;
}

/* linear, conv1d, conv2d: weight (units x fan-in) and bias, U(-1/sqrt(fan-in), 1/sqrt(fan-in)) */
static size_t dense_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t n = 0;
    size_t in = l->kind == LCT__L_LINEAR ? l->in.d[l->in.rank - 1] : l->in.d[0];
    size_t fan_in = in * (l->kind == LCT__L_CONV2D ? (size_t)l->kernel * l->kernel
                          : l->kind == LCT__L_CONV1D ? l->kernel : 1);
    double bound = 1.0 / sqrt((double)fan_in);
    d[n++] = (lct__tensor_desc){"weight", (size_t)l->units * fan_in, 1, 0, LCT__INIT_UNIFORM, bound};
    if (l->has_bias) d[n++] = (lct__tensor_desc){"bias", l->units, 1, 1, LCT__INIT_UNIFORM, bound};
    return n;
}

static size_t bn_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t c = l->in.d[0];
    d[0] = (lct__tensor_desc){"weight", c, 1, 1, LCT__INIT_ONES, 0};
    d[1] = (lct__tensor_desc){"bias", c, 1, 1, LCT__INIT_ZEROS, 0};
    d[2] = (lct__tensor_desc){"running_mean", c, 0, 0, LCT__INIT_ZEROS, 0};
    d[3] = (lct__tensor_desc){"running_var", c, 0, 0, LCT__INIT_ONES, 0};
    return 4;
}

static size_t gru_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t h = l->units, in = l->in.d[1];
    double bound = 1.0 / sqrt((double)h);
    d[0] = (lct__tensor_desc){"weight_ih", 3 * h * in, 1, 0, LCT__INIT_UNIFORM, bound};
    d[1] = (lct__tensor_desc){"weight_hh", 3 * h * h, 1, 0, LCT__INIT_UNIFORM, bound};
    d[2] = (lct__tensor_desc){"bias_ih", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
    d[3] = (lct__tensor_desc){"bias_hh", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
    return 4;
}

/* ---- canonical spec tokens -------------------------------------------------------------------------- */

static int spec_name(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s", kind_names[l->kind]);
}

static int spec_linear(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "linear %u%s", l->units, l->has_bias ? "" : " nobias");
}

static int spec_conv(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s %u k%u s%u p%u%s", kind_names[l->kind], l->units, l->kernel, l->stride,
                    l->padding, l->has_bias ? "" : " nobias");
}

static int spec_bn(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "batchnorm momentum=%.9g eps=%.9g", (double)l->momentum, (double)l->eps);
}

static int spec_pool(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s %u s%u", kind_names[l->kind], l->kernel, l->stride);
}

static int spec_dropout(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "dropout %.9g", (double)l->p);
}

static int spec_l2norm(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "l2norm eps=%.9g", (double)l->eps);
}

static int spec_gru(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "gru %u", l->units);
}

/* ---- the ops tables --------------------------------------------------------------------------------- */

static int no_init(lct__layer *l, const char *func)
{
    (void)l;
    (void)func;
    return LCT_OK;
}

/* A kind's table: its init, tensors, scratch (NULL: none), passes (lct__<passes>_forward/_backward), spec
 * token, and whether its backward runs without dx (it has parameter gradients). */
#define OPS(init, tensors, ws, passes, spec, params) \
    {init, tensors, ws, lct__##passes##_forward, lct__##passes##_backward, spec, params}

static const lct__layer_ops kind_ops[LCT__L_COUNT] = {
    /* layers with parameters: their backward runs for the parameter gradients even without dx */
    [LCT__L_LINEAR] = OPS(lct__linear_init, dense_tensors, lct__linear_ws, linear, spec_linear, 1),
    [LCT__L_CONV1D] = OPS(lct__conv_init, dense_tensors, lct__conv1d_ws, conv1d, spec_conv, 1),
    [LCT__L_CONV2D] = OPS(lct__conv_init, dense_tensors, lct__conv_ws, conv, spec_conv, 1),
    [LCT__L_BATCHNORM] = OPS(lct__bn_init, bn_tensors, lct__bn_ws, bn, spec_bn, 1),
    [LCT__L_GRU] = OPS(lct__gru_init, gru_tensors, lct__gru_ws, gru, spec_gru, 1),
    /* pooling (pooling.c): only a max pool keeps its choices */
    [LCT__L_MAXPOOL] = OPS(lct__pool_init, no_tensors, lct__pool_ws, pool, spec_pool, 0),
    [LCT__L_AVGPOOL] = OPS(lct__pool_init, no_tensors, NULL, pool, spec_pool, 0),
    [LCT__L_GAP] = OPS(lct__pool_init, no_tensors, NULL, pool, spec_name, 0),
    /* element-wise and reshaping layers */
    [LCT__L_RELU] = OPS(no_init, no_tensors, NULL, relu, spec_name, 0),
    [LCT__L_DROPOUT] = OPS(lct__dropout_init, no_tensors, lct__dropout_ws, dropout, spec_dropout, 0),
    [LCT__L_L2NORM] = OPS(lct__l2norm_init, no_tensors, lct__l2norm_ws, l2norm, spec_l2norm, 0),
    [LCT__L_FLATTEN] = OPS(lct__flatten_init, no_tensors, NULL, flatten, spec_name, 0),
    [LCT__L_TRANSPOSE] = OPS(lct__transpose_init, no_tensors, NULL, transpose, spec_name, 0),
};
#undef OPS

int lct__layer_init(lct__layer *l, const lct__shape *in, const char *func)
{
    if (l->kind < 0 || l->kind >= LCT__L_COUNT) return lct__fail(LCT_EINVAL, func, "unknown layer kind %d", l->kind);
    l->in = *in;
    l->in_size = lct__shape_size(in);
    l->out = *in;
    int rc = kind_ops[l->kind].init(l, func);
    if (rc) return rc;
    l->out_size = lct__shape_size(&l->out);
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
    return kind_ops[l->kind].tensors(l, d);
}

size_t lct__layer_ws(const lct__layer *l, size_t batch)
{
    return kind_ops[l->kind].ws ? kind_ops[l->kind].ws(l, batch) : 0;
}

void lct__layer_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    kind_ops[l->kind].forward(l, p, x, y);
}

void lct__layer_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                         float *dx)
{
    /* a layer without parameters has nothing to do when no dx is wanted */
    if (dx || kind_ops[l->kind].params) kind_ops[l->kind].backward(l, p, x, y, dy, dx);
}

int lct__layer_spec(const lct__layer *l, char *buf, size_t size)
{
    return kind_ops[l->kind].spec(l, buf, size);
}
