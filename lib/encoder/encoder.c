/* The encoder handle: builder, parameter set, workspaces, forward and backward passes. */
#include <math.h>
#include <stdio.h>

#include "../comm/comm.h"
#include "encoder.h"

int lct_encoder_options_init(lct_encoder_options *opts, uint32_t version)
{
    LCT__OPTIONS_INIT(opts, version, LCT__OPT_ENCODER);
    opts->check_finite = 1;
    return LCT_OK;
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

int lct__encoder_add(lct_encoder *enc, const lct__layer *proto, const char *func)
{
    if (enc == NULL) return lct__fail(LCT_EINVAL, func, "argument 'enc' is NULL");
    if (enc->sealed)
        return lct__fail(LCT_ESTATE, func,
                         "the encoder is sealed (it has run forward or handed out its parameters): no more layers");
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
    lct__layer **layers = lct__malloc(rt, (enc->n_layers + 1) * sizeof *layers);
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
        /* One generator per tensor: values depend on (seed, stream, tensor index) only. */
        lct__rng r;
        lct__rng_seed(&r, lct_runtime_seed(rt), lct__hash64(enc->stream, base + k));
        for (size_t i = 0; i < desc[k].count; i++) {
            switch (desc[k].init) {
            case LCT__INIT_UNIFORM:
                l->value[k][i] = (float)((2.0 * lct__rng_uniform_d(&r) - 1.0) * desc[k].bound);
                break;
            case LCT__INIT_ONES: l->value[k][i] = 1.0f; break;
            default: l->value[k][i] = 0.0f;
            }
        }
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
    enc->n_layers++;
    lct__free(rt, enc->params.tensors);
    enc->params.tensors = tensors;
    enc->params.n_tensors = base + nt;
    lct__free(rt, enc->spec);
    enc->spec = spec;
    /* Workspaces depend on the layers: drop any (only possible before sealing, so none exists). */
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

int lct_encoder_add_relu(lct_encoder *enc)
{
    lct__layer l = proto(LCT__L_RELU);
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_maxpool(lct_encoder *enc, uint32_t kernel, uint32_t stride)
{
    lct__layer l = proto(LCT__L_MAXPOOL);
    l.kernel = kernel;
    l.stride = stride;
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_avgpool(lct_encoder *enc, uint32_t kernel, uint32_t stride)
{
    lct__layer l = proto(LCT__L_AVGPOOL);
    l.kernel = kernel;
    l.stride = stride;
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_global_avgpool(lct_encoder *enc)
{
    lct__layer l = proto(LCT__L_GAP);
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_flatten(lct_encoder *enc)
{
    lct__layer l = proto(LCT__L_FLATTEN);
    return lct__encoder_add(enc, &l, __func__);
}

int lct_encoder_add_transpose(lct_encoder *enc)
{
    lct__layer l = proto(LCT__L_TRANSPOSE);
    return lct__encoder_add(enc, &l, __func__);
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

/* BN or conv1d followed by ReLU: that layer applies the ReLU (and its mask in backward) in its own passes. */
static int fused_relu(const lct_encoder *enc, size_t i)
{
    return i > 0 && enc->layers[i]->kind == LCT__L_RELU &&
           (enc->layers[i - 1]->kind == LCT__L_BATCHNORM || enc->layers[i - 1]->kind == LCT__L_CONV1D);
}

/* BN, ReLU, 2x2 max pool on C×H×W: the batch norm writes the pool's output in the same pass over each plane. */
static int fused_pool(const lct_encoder *enc, size_t i)
{
    return i + 2 < enc->n_layers && lct__bn_fuses_pool(enc->layers[i], enc->layers[i + 1], enc->layers[i + 2]);
}

/* Layers that compute nothing: their output is their input's memory (fused ReLU, flatten, and a batch
 * norm fused with its pool, whose own output is never stored). */
static int alias_layer(const lct_encoder *enc, size_t i)
{
    return fused_relu(enc, i) || enc->layers[i]->kind == LCT__L_FLATTEN || fused_pool(enc, i);
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
    size_t in_size = 1;
    for (uint32_t i = 0; i < enc->in.rank; i++) in_size *= enc->in.d[i];
    TAKE(enc->act[0], in_size);
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__layer *l = enc->layers[i];
        /* (a small convolution before a fused batch norm stores nothing either: its planes are recomputed) */
        if (alias_layer(enc, i) ||
            (i + 3 < enc->n_layers &&
             lct__conv_recomputes(l, enc->layers[i + 1], enc->layers[i + 2], enc->layers[i + 3]))) {
            if (base) enc->act[i + 1] = enc->act[i];
        } else {
            TAKE(enc->act[i + 1], l->out_size);
        }
        size_t ws = lct__layer_ws(l, batch);
        /* a max pool fused into its batch norm also keeps the winners' inputs (lct__pool_sel) */
        if (i >= 2 && fused_pool(enc, i - 2)) ws = lct__round16(ws) + lct__round16(batch * l->out_size);
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
    }
    enc->act = act;
    layout(enc, batch, enc->ws, &floats);
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
    if (mode != enc->mode) enc->fwd_batch = 0;
    enc->mode = mode;
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
    enc->sealed = 1;
    lct__pass p = make_pass(enc, batch, train);
    int comm_rc = LCT_OK;
    p.comm_rc = &comm_rc;
    p.func = __func__;
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__layer *l = enc->layers[i];
        l->fuse_relu = i + 1 < enc->n_layers && fused_relu(enc, i + 1);
        /* BN, ReLU, max pool: the pool's backward applies the ReLU mask (pooled value > 0 exactly where
         * the winning input passed the ReLU), so the batch norm's backward need not read it again */
        l->mask_in_pool = l->fuse_relu && i + 2 < enc->n_layers && enc->layers[i + 2]->kind == LCT__L_MAXPOOL;
        if (l->kind == LCT__L_MAXPOOL) l->relu_mask = i >= 2 && enc->layers[i - 2]->mask_in_pool;
        /* convolution then train-mode batch norm: the statistics are gathered while each output is hot */
        lct__layer *next = i + 1 < enc->n_layers ? enc->layers[i + 1] : NULL;
        int feed = train && next && next->kind == LCT__L_BATCHNORM && next->in_size > next->in.d[0] &&
                   (l->kind == LCT__L_CONV1D || l->kind == LCT__L_CONV2D); /* (a 1x1 output has no partials) */
        l->stats_out = feed ? lct__bn_partials(next) : NULL;
        if (l->kind == LCT__L_BATCHNORM) l->stats_in = train && i > 0 && enc->layers[i - 1]->stats_out != NULL;
        l->pool = fused_pool(enc, i) ? enc->layers[i + 2] : NULL;
        l->pool_y = l->pool ? enc->act[i + 3] : NULL;
        l->pooled = i >= 2 && fused_pool(enc, i - 2);
        l->fused_bn = l->kind == LCT__L_CONV2D && next && next->kind == LCT__L_BATCHNORM && fused_pool(enc, i + 1)
                         ? next : NULL;
        l->by_conv = i > 0 && enc->layers[i - 1]->fused_bn == l;
        l->bn_x = l->by_conv && enc->act[i] != enc->act[i - 1] ? enc->act[i] : NULL; /* NULL: recomputed */
    }
    lct__copy(&p, n_in, x, enc->act[0]);
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__layer *l = enc->layers[i];
        if (l->pooled || (alias_layer(enc, i) && !l->pool)) continue;
        lct__layer_forward(l, &p, enc->act[i], enc->act[i + 1]);
        if (comm_rc) {
            enc->fwd_batch = 0;
            return comm_rc;
        }
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
    const float *g = dy;
    int cur = 0;
    for (size_t i = enc->n_layers; i-- > 0;) {
        lct__layer *l = enc->layers[i];
        if (l->pooled || (alias_layer(enc, i) && !l->pool)) {
            /* the gradient passes through unchanged (a fused ReLU's mask is applied by its batch norm) */
            if (i == 0 && dx) lct__copy(&p, batch * in_size, g, dx);
            continue;
        }
        float *out = i == 0 ? dx : enc->grad[cur];
        lct__layer_backward(l, &p, enc->act[i], enc->act[i + 1], g, out);
        if (comm_rc) return comm_rc;
        if (l->by_conv) continue; /* the convolution below takes the same g and makes this dx itself */
        g = out;
        cur ^= 1;
    }
    return LCT_OK;
}

int lct_encoder_zero_grad(lct_encoder *enc)
{
    LCT__REQUIRE(enc);
    return lct_params_zero_grad(&enc->params);
}

lct_params *lct_encoder_params(lct_encoder *enc)
{
    if (enc == NULL) return NULL;
    enc->sealed = 1;
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

static size_t size_of(const lct__shape *s)
{
    size_t n = 1;
    for (uint32_t i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

int lct_encoder_input_size(const lct_encoder *enc, size_t *size)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(size);
    *size = size_of(&enc->in);
    return LCT_OK;
}

int lct_encoder_output_size(const lct_encoder *enc, size_t *size)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(size);
    *size = size_of(current_shape(enc));
    return LCT_OK;
}

int lct_encoder_layer_count(const lct_encoder *enc, size_t *count)
{
    LCT__REQUIRE(enc);
    LCT__REQUIRE(count);
    *count = enc->n_layers;
    return LCT_OK;
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
    LCT__REQUIRE(enc);
    LCT__REQUIRE(step);
    *step = enc->step;
    return LCT_OK;
}

int lct_encoder_set_step(lct_encoder *enc, uint64_t step)
{
    LCT__REQUIRE(enc);
    enc->step = step;
    return LCT_OK;
}
