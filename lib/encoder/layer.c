/* The layer interface: dispatch to each kind's ops table, and the rules every kind shares. */
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

size_t lct__no_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    (void)l;
    (void)d;
    return 0;
}

/* linear, conv1d, conv2d: weight (units x fan-in) and bias, U(-1/sqrt(fan-in), 1/sqrt(fan-in)) */
size_t lct__dense_tensors(const lct__layer *l, lct__tensor_desc *d)
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

/* ---- canonical spec tokens -------------------------------------------------------------------------- */

int lct__spec_name(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s", kind_names[l->kind]);
}

/* Each kind's entry points, from the file of that kind. */
static const lct__layer_ops *const kind_ops[LCT__L_COUNT] = {
    [LCT__L_LINEAR] = &lct__linear_ops, [LCT__L_CONV1D] = &lct__conv1d_ops, [LCT__L_CONV2D] = &lct__conv2d_ops,
    [LCT__L_BATCHNORM] = &lct__bn_ops, [LCT__L_RELU] = &lct__relu_ops, [LCT__L_MAXPOOL] = &lct__maxpool_ops,
    [LCT__L_AVGPOOL] = &lct__avgpool_ops, [LCT__L_GAP] = &lct__gap_ops, [LCT__L_FLATTEN] = &lct__flatten_ops,
    [LCT__L_TRANSPOSE] = &lct__transpose_ops, [LCT__L_DROPOUT] = &lct__dropout_ops,
    [LCT__L_L2NORM] = &lct__l2norm_ops, [LCT__L_GRU] = &lct__gru_ops,
};

int lct__layer_init(lct__layer *l, const lct__shape *in, const char *func)
{
    if (l->kind < 0 || l->kind >= LCT__L_COUNT) return lct__fail(LCT_EINVAL, func, "unknown layer kind %d", l->kind);
    l->in = *in;
    l->in_size = lct__shape_size(in);
    l->out = *in;
    int rc = kind_ops[l->kind]->init(l, func);
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
    return kind_ops[l->kind]->tensors(l, d);
}

size_t lct__layer_ws(const lct__layer *l, size_t batch)
{
    return kind_ops[l->kind]->ws ? kind_ops[l->kind]->ws(l, batch) : 0;
}

void lct__layer_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    kind_ops[l->kind]->forward(l, p, x, y);
}

void lct__layer_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                         float *dx)
{
    /* a layer without parameters has nothing to do when no dx is wanted */
    if (dx || kind_ops[l->kind]->params) kind_ops[l->kind]->backward(l, p, x, y, dy, dx);
}

int lct__layer_spec(const lct__layer *l, char *buf, size_t size)
{
    return kind_ops[l->kind]->spec(l, buf, size);
}
