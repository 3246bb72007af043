/* The encoder handle: builder, parameter set, workspaces, forward and backward passes. */
#include <math.h>
#include <stdio.h>

#include "../comm/comm.h"
#include "encoder_internal.h"

int lct_encoder_options_init(lct_encoder_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_encoder_options, opts, version, LCT__OPT_ENCODER, .check_finite = 1);
}

static int build_spec(lct_encoder *enc, lct__layer *extra, char **out)
{
    size_t n = enc->n_layers + (extra ? 1 : 0);
    size_t cap = 64 + (n + 1) * 112;
    char *s = lct__malloc(enc->rt, cap);
    if (s == NULL) return LCT_ENOMEM;
    size_t len = (size_t)snprintf(s, cap, "in %u", enc->in.d[0]);
    for (uint32_t i = 1; i < enc->in.rank; i++) len += (size_t)snprintf(s + len, cap - len, "x%u", enc->in.d[i]);
    for (size_t i = 0; i < n; i++) {
        const lct__layer *l = i < enc->n_layers ? enc->layers[i] : extra;
        len += (size_t)snprintf(s + len, cap - len, "; ");
        len += (size_t)lct__layer_spec(l, s + len, cap - len);
    }
    *out = s;
    return LCT_OK;
}

int lct_encoder_new(lct_encoder **out, lct_runtime *rt, const uint32_t *shape, size_t rank,
                    const lct_encoder_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(shape);
    lct_encoder_options local;
    LCT__OPTIONS_COPY(LCT__OPT_ENCODER, lct_encoder_options_init, local, opts);
    if (opts->check_finite > 1)
        return LCT__FAIL(LCT_EINVAL, "opts->check_finite is %u; it must be 0 or 1", (unsigned)opts->check_finite);
    if (rank == 0 || rank > LCT_ENCODER_MAX_RANK)
        return LCT__FAIL(LCT_EINVAL, "rank is %zu; it must be 1..%d", rank, LCT_ENCODER_MAX_RANK);
    size_t size = 1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] == 0) return LCT__FAIL(LCT_EINVAL, "shape[%zu] is 0", i);
        if (lct__mul_size(size, shape[i], &size) || size > ((size_t)1 << 40))
            return LCT__FAIL(LCT_ESHAPE, "the sample size (product of shape) exceeds 2^40");
    }
    lct_encoder *enc = lct__calloc(rt, 1, sizeof *enc);
    if (enc == NULL) return LCT__FAIL(LCT_ENOMEM, "cannot allocate the encoder");
    enc->rt = rt;
    enc->opts = *opts;
    enc->opts.version = LCT_ENCODER_OPTIONS_VERSION;
    enc->in.rank = (uint32_t)rank;
    for (size_t i = 0; i < rank; i++) enc->in.d[i] = shape[i];
    enc->params.rt = rt;
    enc->mode = LCT_ENCODER_TRAIN;
    if (build_spec(enc, NULL, &enc->spec) != LCT_OK) {
        lct__free(rt, enc);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate the encoder's spec text");
    }
    enc->stream = lct__runtime_next_stream(rt);
    *out = enc;
    return LCT_OK;
}

void lct_encoder_free(lct_encoder *enc)
{
    if (enc == NULL) return;
    lct_runtime *rt = enc->rt;
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__free(rt, enc->layers[i]->store);
        lct__free(rt, enc->layers[i]);
    }
    lct__free(rt, enc->layers);
    lct__free(rt, enc->params.tensors);
    lct__free(rt, enc->spec);
    lct__free(rt, enc->ws);
    lct__free(rt, enc->act);
    lct__free(rt, enc->sync);
    lct__free(rt, enc);
}

static const lct__shape *current_shape(const lct_encoder *enc)
{
    return enc->n_layers ? &enc->layers[enc->n_layers - 1]->out : &enc->in;
}

/* Layers whose products follow the bf16 precision: linear and conv2d (conv1d and the GRU stay fp32, and
 * so does a conv2d thin enough for its register kernels: conv.c). */
static int takes_bf16(int kind)
{
    return kind == LCT__L_LINEAR || kind == LCT__L_CONV2D;
}

/* A tensor's first values: one generator per tensor, so they depend on (seed, stream, tensor index) only. */
static void init_values(const lct_encoder *enc, const lct__tensor_desc *d, size_t tensor, float *v)
{
    lct__rng r;
    lct__rng_seed(&r, lct_runtime_seed(enc->rt), lct__hash64(enc->stream, tensor));
    for (size_t i = 0; i < d->count; i++) {
        switch (d->init) {
        case LCT__INIT_UNIFORM: v[i] = (float)((2.0 * lct__rng_uniform_d(&r) - 1.0) * d->bound); break;
        case LCT__INIT_ONES: v[i] = 1.0f; break;
        default: v[i] = 0.0f;
        }
    }
}

int lct__encoder_add(lct_encoder *enc, const lct__layer *proto, const char *func)
{
    if (enc == NULL) return lct__fail(LCT_EINVAL, func, "argument 'enc' is NULL");
    if (enc->sealed)
        return lct__fail(LCT_ESTATE, func,
                         "the encoder is sealed (lct_encoder_seal, or a call that seals it): no more layers");
    lct_runtime *rt = enc->rt;
    lct__layer *l = lct__calloc(rt, 1, sizeof *l);
    if (l == NULL)
        return lct__fail(LCT_ENOMEM, func, "cannot allocate the %s layer", lct__layer_kind_name(proto->kind));
    *l = *proto;
    l->index = (uint32_t)enc->n_layers;
    l->bf16 = takes_bf16(l->kind) && enc->precision == LCT_PRECISION_BF16;
    l->ws = NULL;
    l->store = NULL;
    int rc = lct__layer_init(l, current_shape(enc), func);
    if (rc) {
        lct__free(rt, l);
        return rc;
    }
    lct__tensor_desc desc[LCT__MAX_LAYER_TENSORS];
    size_t nt = lct__layer_tensors(l, desc), floats = lct__layer_store_floats(l);
    char *spec = NULL;
    /* the layer table, then room for the plan's steps (at most one per layer) */
    size_t n = enc->n_layers + 1;
    lct__layer **layers = lct__malloc(rt, n * (sizeof *layers + sizeof(lct__step)));
    lct__tensor *tensors = lct__malloc(rt, (enc->params.n_tensors + nt + 1) * sizeof *tensors);
    float *store = floats ? lct__calloc(rt, floats, sizeof(float)) : NULL;
    if (layers == NULL || tensors == NULL || (floats && store == NULL) || build_spec(enc, l, &spec) != LCT_OK) {
        lct__free(rt, layers);
        lct__free(rt, tensors);
        lct__free(rt, store);
        int kind = l->kind; /* read before the layer is freed */
        lct__free(rt, l);
        return lct__fail(LCT_ENOMEM, func, "cannot allocate the %s layer (%zu parameter floats)",
                         lct__layer_kind_name(kind), floats);
    }
    /* Commit: nothing below can fail. */
    l->store = store;
    l->n_tensors = nt;
    float *q = store;
    size_t base = enc->params.n_tensors;
    if (enc->params.n_tensors) memcpy(tensors, enc->params.tensors, enc->params.n_tensors * sizeof *tensors);
    for (size_t k = 0; k < nt; k++) {
        l->value[k] = q;
        q += lct__round16(desc[k].count);
        l->grad[k] = NULL;
        if (desc[k].trainable) {
            l->grad[k] = q;
            q += lct__round16(desc[k].count);
        }
        snprintf(l->names[k], sizeof l->names[k], "%u.%s.%s", l->index, lct__layer_kind_name(l->kind),
                 desc[k].suffix);
        init_values(enc, &desc[k], base + k, l->value[k]);
        tensors[base + k] = (lct__tensor){.name = l->names[k], .value = l->value[k], .grad = l->grad[k],
                                          .count = desc[k].count, .no_decay = desc[k].no_decay};
        if (l->kind == LCT__L_LINEAR && k == 0) { /* its backward overwrites a zeroed gradient */
            tensors[base + k].grad_unset = &l->grad_unset;
            tensors[base + k].grad_finite = &l->grad_finite;
        }
    }
    if (enc->n_layers) memcpy(layers, enc->layers, enc->n_layers * sizeof *layers);
    layers[enc->n_layers] = l;
    lct__free(rt, enc->layers);
    enc->layers = layers;
    enc->steps = (lct__step *)(layers + n);
    enc->n_layers = n;
    lct__free(rt, enc->params.tensors);
    enc->params.tensors = tensors;
    enc->params.n_tensors = base + nt;
    lct__free(rt, enc->spec);
    enc->spec = spec;
    /* Workspaces depend on the layers: drop any (only possible before sealing, so none exists). */
    lct__plan_compile(enc);
    return LCT_OK;
}

static lct__layer proto(int kind)
{
    lct__layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    return l;
}

int lct_encoder_add_linear(lct_encoder *enc, uint32_t out_features, int bias)
{
    lct__layer l = proto(LCT__L_LINEAR);
    l.units = out_features;
    l.has_bias = bias != 0;
    return lct__encoder_add(enc, &l, __func__);
}

static int add_conv(lct_encoder *enc, int kind, uint32_t out_channels, uint32_t kernel, uint32_t stride,
                    uint32_t padding, int bias, const char *func)
{
    lct__layer l = proto(kind);
    l.units = out_channels;
    l.kernel = kernel;
    l.stride = stride;
    l.padding = padding;
    l.has_bias = bias != 0;
    return lct__encoder_add(enc, &l, func);
}

int lct_encoder_add_conv2d(lct_encoder *enc, uint32_t out_channels, uint32_t kernel, uint32_t stride,
                           uint32_t padding, int bias)
{
    return add_conv(enc, LCT__L_CONV2D, out_channels, kernel, stride, padding, bias, __func__);
}

int lct_encoder_add_conv1d(lct_encoder *enc, uint32_t out_channels, uint32_t kernel, uint32_t stride,
                           uint32_t padding, int bias)
{
    return add_conv(enc, LCT__L_CONV1D, out_channels, kernel, stride, padding, bias, __func__);
}

int lct_encoder_add_batchnorm(lct_encoder *enc, float momentum, float eps)
{
    lct__layer l = proto(LCT__L_BATCHNORM);
    l.momentum = momentum;
    l.eps = eps;
    return lct__encoder_add(enc, &l, __func__);
}

/* A layer without hyper-parameters, or a pool's window. */
static int add_plain(lct_encoder *enc, int kind, uint32_t kernel, uint32_t stride, const char *func)
{
    lct__layer l = proto(kind);
    l.kernel = kernel;
    l.stride = stride;
    return lct__encoder_add(enc, &l, func);
}

int lct_encoder_add_relu(lct_encoder *enc)
{
    return add_plain(enc, LCT__L_RELU, 0, 0, __func__);
}

int lct_encoder_add_maxpool(lct_encoder *enc, uint32_t kernel, uint32_t stride)
{
    return add_plain(enc, LCT__L_MAXPOOL, kernel, stride, __func__);
}

int lct_encoder_add_avgpool(lct_encoder *enc, uint32_t kernel, uint32_t stride)
{
    return add_plain(enc, LCT__L_AVGPOOL, kernel, stride, __func__);
}

int lct_encoder_add_global_avgpool(lct_encoder *enc)
{
    return add_plain(enc, LCT__L_GAP, 0, 0, __func__);
}

int lct_encoder_add_flatten(lct_encoder *enc)
{
    return add_plain(enc, LCT__L_FLATTEN, 0, 0, __func__);
}

int lct_encoder_add_transpose(lct_encoder *enc)
{
    return add_plain(enc, LCT__L_TRANSPOSE, 0, 0, __func__);
}

int lct_encoder_add_dropout(lct_encoder *enc, float p)
{
    lct__layer l = proto(LCT__L_DROPOUT);
    l.p = p;
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_l2norm(lct_encoder *enc, float eps)
{
    lct__layer l = proto(LCT__L_L2NORM);
    l.eps = eps;
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_gru(lct_encoder *enc, uint32_t hidden)
{
    lct__layer l = proto(LCT__L_GRU);
    l.units = hidden;
    return lct__encoder_add(enc, &l, __func__);
}

/* ---- workspace ------------------------------------------------------------ */

static int add_floats(size_t *total, size_t batch, size_t per)
{
    size_t n;
    if (lct__mul_size(batch, per, &n) || n > SIZE_MAX / 8 - *total) return -1;
    *total += lct__round16(n);
    return 0;
}

/* Floats the workspace needs for `batch`; if base is set, also assign every pointer inside it. */
static int layout(lct_encoder *enc, size_t batch, float *base, size_t *floats)
{
    size_t total = 0, maxsz = enc->n_layers ? 0 : 1;
    float *q = base;
#define TAKE(ptr, per)                                                  \
    do {                                                                \
        size_t before__ = total;                                        \
        if (add_floats(&total, batch, (per))) return LCT_ESHAPE;        \
        if (base) (ptr) = q + before__;                                 \
    } while (0)
    TAKE(enc->act[0], lct__shape_size(&enc->in));
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__layer *l = enc->layers[i];
        if (l->alias) {
            if (base) enc->act[i + 1] = enc->act[i];
        } else {
            TAKE(enc->act[i + 1], l->out_size);
        }
        size_t ws = lct__layer_ws(l, batch);
        /* a max pool fused into its batch norm also keeps the winners' inputs (lct__pool_sel) */
        if (l->pooled) ws = lct__round16(ws) + lct__round16(batch * l->out_size);
        if (ws > SIZE_MAX / 8 - total) return LCT_ESHAPE;
        if (base) {
            if (l->ws != q + total) l->wpack = 0; /* packed copies of W do not move with it */
            l->ws = q + total;
        }
        total += lct__round16(ws);
        if (l->in_size > maxsz) maxsz = l->in_size;
    }
    TAKE(enc->grad[0], maxsz);
    TAKE(enc->grad[1], maxsz);
#undef TAKE
    *floats = total;
    return LCT_OK;
}

int lct_encoder_workspace_bytes(const lct_encoder *enc, size_t batch, size_t *bytes)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(bytes);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    size_t floats;
    if (layout((lct_encoder *)enc, batch, NULL, &floats) != LCT_OK || floats > SIZE_MAX / sizeof(float))
        return LCT__FAIL(LCT_ESHAPE, "the workspace for batch %zu overflows", batch);
    *bytes = floats * sizeof(float) + (enc->n_layers + 1) * sizeof(float *);
    return LCT_OK;
}

static int ensure_workspace(lct_encoder *enc, size_t batch, const char *func)
{
    size_t floats;
    if (layout(enc, batch, NULL, &floats) != LCT_OK || floats > SIZE_MAX / sizeof(float))
        return lct__fail(LCT_ESHAPE, func, "the workspace for batch %zu overflows", batch);
    float **act = enc->act;
    if (act == NULL) {
        act = lct__calloc(enc->rt, enc->n_layers + 1, sizeof *act);
        if (act == NULL) return lct__fail(LCT_ENOMEM, func, "cannot allocate the activation table");
    }
    if (batch > enc->ws_batch) {
        float *ws = lct__malloc(enc->rt, floats * sizeof(float));
        if (ws == NULL) {
            if (act != enc->act) lct__free(enc->rt, act); /* a failed call keeps nothing */
            return lct__fail(LCT_ENOMEM, func, "cannot allocate %zu bytes of workspace for batch %zu",
                             floats * sizeof(float), batch);
        }
        lct__free(enc->rt, enc->ws);
        enc->ws = ws;
        enc->ws_batch = batch;
        for (size_t i = 0; i < enc->n_layers; i++) enc->layers[i]->wpack = 0;
        enc->laid_batch = 0;
    }
    enc->act = act;
    if (batch != enc->laid_batch) {
        layout(enc, batch, enc->ws, &floats);
        lct__plan_link(enc);
        enc->laid_batch = batch;
    }
    return LCT_OK;
}

/* ---- passes ----------------------------------------------------------------- */

static lct__pass make_pass(const lct_encoder *enc, size_t batch, int train)
{
    lct__pass p;
    p.rt = enc->rt;
    p.threads = lct__threads(enc->rt);
    p.train = train;
    p.batch = batch;
    p.version = enc->params.version;
    p.seed = lct_runtime_seed(enc->rt);
    p.stream = enc->stream;
    p.step = enc->step;
    p.comm = lct__comm_active(enc->comm) ? enc->comm : NULL;
    p.sync = enc->sync;
    p.comm_rc = NULL;
    p.func = "";
    return p;
}

int lct_encoder_set_comm(lct_encoder *enc, lct_comm *comm)
{
    LCT__REQUIRE(enc);
    if (comm && lct__comm_runtime(comm) != enc->rt) return LCT__FAIL(LCT_EMISMATCH, "comm belongs to another runtime than the encoder");
    enc->comm = comm;
    return LCT_OK;
}

/* The synchronised batch norm's buffer: (P + 1) * 2 * C doubles for the widest batch norm. */
static int ensure_sync(lct_encoder *enc, const char *func)
{
    if (!lct__comm_active(enc->comm)) return LCT_OK;
    size_t cmax = 0;
    for (size_t i = 0; i < enc->n_layers; i++)
        if (enc->layers[i]->kind == LCT__L_BATCHNORM && enc->layers[i]->in.d[0] > cmax) cmax = enc->layers[i]->in.d[0];
    size_t need = ((size_t)lct__comm_size(enc->comm) + 1) * 2 * cmax;
    if (need <= enc->sync_cap) return LCT_OK;
    double *s = lct__malloc(enc->rt, need * sizeof *s);
    if (s == NULL) return lct__fail(LCT_ENOMEM, func, "cannot allocate the %zu-double batch-norm exchange", need);
    lct__free(enc->rt, enc->sync);
    enc->sync = s;
    enc->sync_cap = need;
    return LCT_OK;
}

int lct_encoder_set_mode(lct_encoder *enc, int mode)
{
    LCT__REQUIRE(enc);
    if (mode != LCT_ENCODER_TRAIN && mode != LCT_ENCODER_EVAL)
        return LCT__FAIL(LCT_EINVAL, "mode is %d; it must be LCT_ENCODER_TRAIN (1) or LCT_ENCODER_EVAL (0)", mode);
    if (mode == enc->mode) return LCT_OK;
    enc->fwd_batch = 0;
    enc->mode = mode;
    lct__plan_compile(enc);
    return LCT_OK;
}

int lct_encoder_get_mode(const lct_encoder *enc)
{
    LCT__REQUIRE(enc);
    return enc->mode;
}

int lct_encoder_set_precision(lct_encoder *enc, int precision)
{
    LCT__REQUIRE(enc);
    if (precision != LCT_PRECISION_FP32 && precision != LCT_PRECISION_BF16)
        return LCT__FAIL(LCT_EINVAL, "precision is %d; it must be LCT_PRECISION_FP32 (0) or LCT_PRECISION_BF16 (1)",
                         precision);
    if (precision == LCT_PRECISION_BF16 && !lct__amx_ready())
        return LCT__FAIL(LCT_EUNSUPPORTED, "bf16 needs AMX-BF16 tiles, which this CPU, OS or build does not offer "
                                           "(or LCT_AMX=0 turned them off); the precision is unchanged");
    if (precision == enc->precision) return LCT_OK;
    for (size_t i = 0; i < enc->n_layers; i++)
        enc->layers[i]->bf16 = takes_bf16(enc->layers[i]->kind) && precision == LCT_PRECISION_BF16;
    enc->precision = precision;
    /* the linear and conv2d layers' packing space changes the layout: the next forward lays it out afresh */
    enc->ws_batch = 0;
    enc->fwd_batch = 0;
    lct__plan_compile(enc);
    return LCT_OK;
}

int lct_encoder_get_precision(const lct_encoder *enc)
{
    LCT__REQUIRE(enc);
    return enc->precision;
}

int lct_encoder_forward(lct_encoder *enc, const float *x, size_t batch, float *y)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(x);
    LCT__REQUIRE(y);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    size_t in_size, out_size, n_in;
    lct_encoder_input_size(enc, &in_size);
    lct_encoder_output_size(enc, &out_size);
    if (lct__mul_size(batch, in_size, &n_in) || !lct__fits(n_in, sizeof *x) || !lct__fits2(batch, out_size, sizeof *y))
        return LCT__FAIL(LCT_ESHAPE, "batch %zu x sample size overflows", batch);
    int train = enc->mode == LCT_ENCODER_TRAIN;
    if (train)
        for (size_t i = 0; i < enc->n_layers; i++) {
            const lct__layer *l = enc->layers[i];
            if (l->kind == LCT__L_BATCHNORM && batch * (l->in_size / l->in.d[0]) < 2)
                return LCT__FAIL(LCT_EINVAL,
                                 "batch is %zu: layer %zu (batchnorm) needs more than one value per channel in "
                                 "train mode", batch, i);
        }
    if (enc->opts.check_finite && !lct__all_finite(x, n_in))
        return LCT__FAIL(LCT_ENUMERIC, "x contains NaN or Inf; nothing was computed");
    int rc = ensure_workspace(enc, batch, __func__);
    if (rc == LCT_OK && train) rc = ensure_sync(enc, __func__);
    if (rc) return rc;
    lct_encoder_seal(enc);
    lct__pass p = make_pass(enc, batch, train);
    int comm_rc = LCT_OK;
    p.comm_rc = &comm_rc;
    p.func = __func__;
    lct__copy(&p, n_in, x, enc->act[0]);
    if (lct__plan_forward(enc, &p) != LCT_OK) {
        enc->fwd_batch = 0;
        return comm_rc;
    }
    lct__copy(&p, batch * out_size, enc->act[enc->n_layers], y);
    if (train) enc->step++;
    enc->fwd_batch = batch;
    enc->fwd_train = train;
    return LCT_OK;
}

int lct_encoder_backward(lct_encoder *enc, const float *dy, size_t batch, float *dx)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(dy);
    if (enc->fwd_batch == 0)
        return LCT__FAIL(LCT_ESTATE, "no forward pass to go back through (none yet, or the mode changed since)");
    if (batch != enc->fwd_batch)
        return LCT__FAIL(LCT_ESTATE, "batch is %zu but the last forward pass had batch %zu", batch, enc->fwd_batch);
    size_t in_size, out_size;
    lct_encoder_input_size(enc, &in_size);
    lct_encoder_output_size(enc, &out_size);
    if (enc->opts.check_finite && !lct__all_finite(dy, batch * out_size))
        return LCT__FAIL(LCT_ENUMERIC, "dy contains NaN or Inf; nothing was computed");
    lct__pass p = make_pass(enc, batch, enc->fwd_train);
    int comm_rc = LCT_OK;
    p.comm_rc = &comm_rc;
    p.func = __func__;
    if (enc->n_layers == 0) {
        if (dx) lct__copy(&p, batch * in_size, dy, dx);
        return LCT_OK;
    }
    return lct__plan_backward(enc, &p, dy, dx);
}

int lct_encoder_zero_grad(lct_encoder *enc)
{
    LCT__REQUIRE(enc);
    return lct_params_zero_grad(&enc->params);
}

int lct_encoder_seal(lct_encoder *enc)
{
    LCT__REQUIRE(enc);
    if (enc->sealed) return LCT_OK;
    enc->sealed = 1;
    lct__plan_compile(enc);
    return LCT_OK;
}

lct_params *lct_encoder_params(lct_encoder *enc)
{
    if (enc == NULL) return NULL;
    lct_encoder_seal(enc); /* the optimizer and checkpoints hold on to the tensors: no more layers */
    return &enc->params;
}

static int shape_out(const lct__shape *s, uint32_t *shape, size_t cap, size_t *rank)
{
    if (cap > 0 && shape == NULL) return LCT__FAIL(LCT_EINVAL, "argument 'shape' is NULL but cap is %zu", cap);
    for (size_t i = 0; i < s->rank && i < cap; i++) shape[i] = s->d[i];
    if (rank) *rank = s->rank;
    return LCT_OK;
}

int lct_encoder_input_shape(const lct_encoder *enc, uint32_t *shape, size_t cap, size_t *rank)
{
    LCT__REQUIRE(enc);
    return shape_out(&enc->in, shape, cap, rank);
}

int lct_encoder_output_shape(const lct_encoder *enc, uint32_t *shape, size_t cap, size_t *rank)
{
    LCT__REQUIRE(enc);
    return shape_out(current_shape(enc), shape, cap, rank);
}

int lct_encoder_input_size(const lct_encoder *enc, size_t *size)
{
    LCT__GET(enc, size, lct__shape_size(&enc->in));
}

int lct_encoder_output_size(const lct_encoder *enc, size_t *size)
{
    LCT__GET(enc, size, lct__shape_size(current_shape(enc)));
}

int lct_encoder_layer_count(const lct_encoder *enc, size_t *count)
{
    LCT__GET(enc, count, enc->n_layers);
}

int lct_encoder_param_count(const lct_encoder *enc, size_t *trainable, size_t *state)
{
    LCT__REQUIRE(enc);
    size_t t = 0, s = 0;
    for (size_t i = 0; i < enc->params.n_tensors; i++) {
        if (enc->params.tensors[i].grad) t += enc->params.tensors[i].count;
        else s += enc->params.tensors[i].count;
    }
    if (trainable) *trainable = t;
    if (state) *state = s;
    return LCT_OK;
}

const char *lct_encoder_spec(const lct_encoder *enc)
{
    return enc ? enc->spec : NULL;
}

int lct_encoder_step(const lct_encoder *enc, uint64_t *step)
{
    LCT__GET(enc, step, enc->step);
}

int lct_encoder_set_step(lct_encoder *enc, uint64_t step)
{
    LCT__SET(enc, step, step);
}
