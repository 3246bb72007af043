/*
 * The encoder's execution plan: which layers run fused, worked out once (when a layer is added, the
 * encoder is sealed, or its mode or precision changes) rather than on every pass, and the steps the
 * forward and backward passes walk.
 */
#include "encoder_internal.h"

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

/* Layer i's fusion fields; those of the layers before it are set. */
static void fuse(lct_encoder *enc, size_t i, int train)
{
    size_t n = enc->n_layers;
    lct__layer *l = enc->layers[i], *next = i + 1 < n ? enc->layers[i + 1] : NULL;
    l->fuse_relu = i + 1 < n && fused_relu(enc, i + 1);
    /* BN, ReLU, max pool: the pool's backward applies the ReLU mask (pooled value > 0 exactly where the
     * winning input passed the ReLU), so the batch norm's backward need not read it again */
    l->mask_in_pool = l->fuse_relu && i + 2 < n && enc->layers[i + 2]->kind == LCT__L_MAXPOOL;
    l->relu_mask = l->kind == LCT__L_MAXPOOL && i >= 2 && enc->layers[i - 2]->mask_in_pool;
    /* convolution then train-mode batch norm: the statistics are gathered while each output is hot
     * (a 1x1 output has no partials) */
    l->stats_in = l->kind == LCT__L_BATCHNORM && train && i > 0 && l->in_size > l->in.d[0] &&
                  (enc->layers[i - 1]->kind == LCT__L_CONV1D || enc->layers[i - 1]->kind == LCT__L_CONV2D);
    l->pool = fused_pool(enc, i) ? enc->layers[i + 2] : NULL;
    l->pooled = i >= 2 && fused_pool(enc, i - 2);
    l->fused_bn = l->kind == LCT__L_CONV2D && next && next->kind == LCT__L_BATCHNORM && fused_pool(enc, i + 1)
                     ? next : NULL;
    l->by_conv = i > 0 && enc->layers[i - 1]->fused_bn == l;
    /* (a small convolution before a fused batch norm stores nothing either: its planes are recomputed) */
    l->alias = fused_relu(enc, i) || l->kind == LCT__L_FLATTEN || l->pool != NULL ||
               (i + 3 < n && lct__conv_recomputes(l, next, enc->layers[i + 2], enc->layers[i + 3]));
}

static lct__step step_at(const lct__layer *l)
{
    if (l->fused_bn) return (lct__step){LCT__STEP_CONV_BN_RELU_POOL, l->index, 4};
    if (l->pool) return (lct__step){LCT__STEP_BN_RELU_POOL, l->index, 3};
    if (l->fuse_relu) return (lct__step){LCT__STEP_LAYER_RELU, l->index, 2};
    if (l->kind == LCT__L_FLATTEN) return (lct__step){LCT__STEP_ALIAS, l->index, 1};
    return (lct__step){LCT__STEP_LAYER, l->index, 1};
}

void lct__plan_compile(lct_encoder *enc)
{
    int train = enc->mode == LCT_ENCODER_TRAIN;
    for (size_t i = 0; i < enc->n_layers; i++) fuse(enc, i, train);
    enc->n_steps = 0;
    for (size_t i = 0; i < enc->n_layers; i += enc->steps[enc->n_steps++].count)
        enc->steps[enc->n_steps] = step_at(enc->layers[i]);
    enc->laid_batch = 0; /* the workspace is laid out afresh, and the pointers below with it */
}

void lct__plan_link(lct_encoder *enc)
{
    for (size_t i = 0; i < enc->n_layers; i++) {
        lct__layer *l = enc->layers[i], *next = i + 1 < enc->n_layers ? enc->layers[i + 1] : NULL;
        l->stats_out = next && next->stats_in ? lct__bn_partials(next) : NULL;
        l->pool_y = l->pool ? enc->act[i + 3] : NULL;
        l->bn_x = l->by_conv && enc->act[i] != enc->act[i - 1] ? enc->act[i] : NULL; /* NULL: recomputed */
    }
}

/* ---- the passes ------------------------------------------------------------------------------------- */

/* Where the backward pass is: the gradient of the current activation, the free ping-pong buffer. */
typedef struct back {
    const float *g;
    int cur;
    float *dx;
} back;

static void forward_layer(lct_encoder *enc, const lct__pass *p, size_t i)
{
    lct__layer_forward(enc->layers[i], p, enc->act[i], enc->act[i + 1]);
}

/* Layer i's backward into the free buffer (dx for the first layer); chain: that becomes the gradient. */
static void backward_layer(lct_encoder *enc, const lct__pass *p, size_t i, back *b, int chain)
{
    float *out = i == 0 ? b->dx : enc->grad[b->cur];
    lct__layer_backward(enc->layers[i], p, enc->act[i], enc->act[i + 1], b->g, out);
    if (!chain) return;
    b->g = out;
    b->cur ^= 1;
}

/* One layer computes, the rest of the step pass through (a fused ReLU, a fused pool). */
static void fwd_one(lct_encoder *enc, const lct__pass *p, const lct__step *s)
{
    forward_layer(enc, p, s->first);
}

static void bwd_one(lct_encoder *enc, const lct__pass *p, const lct__step *s, back *b)
{
    backward_layer(enc, p, s->first, b, 1);
}

/* The convolution, then its batch norm (with the ReLU and the pool); backward, the batch norm stops at
 * its sums and the convolution, given the same pooled gradient, makes the batch norm's dx itself. */
static void fwd_conv_bn(lct_encoder *enc, const lct__pass *p, const lct__step *s)
{
    forward_layer(enc, p, s->first);
    if (*p->comm_rc == LCT_OK) forward_layer(enc, p, s->first + 1);
}

static void bwd_conv_bn(lct_encoder *enc, const lct__pass *p, const lct__step *s, back *b)
{
    backward_layer(enc, p, s->first + 1, b, 0);
    if (*p->comm_rc == LCT_OK) backward_layer(enc, p, s->first, b, 1);
}

/* Nothing computes: the output is the input's memory, the gradient passes unchanged. */
static void fwd_none(lct_encoder *enc, const lct__pass *p, const lct__step *s)
{
    (void)enc;
    (void)p;
    (void)s;
}

static void bwd_none(lct_encoder *enc, const lct__pass *p, const lct__step *s, back *b)
{
    if (s->first == 0 && b->dx) lct__copy(p, p->batch * enc->layers[0]->in_size, b->g, b->dx);
}

static const struct {
    void (*forward)(lct_encoder *enc, const lct__pass *p, const lct__step *s);
    void (*backward)(lct_encoder *enc, const lct__pass *p, const lct__step *s, back *b);
} step_ops[LCT__STEP_COUNT] = {
    [LCT__STEP_LAYER] = {fwd_one, bwd_one},
    [LCT__STEP_LAYER_RELU] = {fwd_one, bwd_one},
    [LCT__STEP_BN_RELU_POOL] = {fwd_one, bwd_one},
    [LCT__STEP_CONV_BN_RELU_POOL] = {fwd_conv_bn, bwd_conv_bn},
    [LCT__STEP_ALIAS] = {fwd_none, bwd_none},
};

int lct__plan_forward(lct_encoder *enc, const lct__pass *p)
{
    for (size_t s = 0; s < enc->n_steps && *p->comm_rc == LCT_OK; s++)
        step_ops[enc->steps[s].kind].forward(enc, p, &enc->steps[s]);
    return *p->comm_rc;
}

int lct__plan_backward(lct_encoder *enc, const lct__pass *p, const float *dy, float *dx)
{
    back b = {dy, 0, dx};
    for (size_t s = enc->n_steps; s-- > 0 && *p->comm_rc == LCT_OK;)
        step_ops[enc->steps[s].kind].backward(enc, p, &enc->steps[s], &b);
    return *p->comm_rc;
}
