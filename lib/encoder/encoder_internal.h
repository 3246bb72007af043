/*
 * Structs of the encoder module, for its own files only (other modules call encoder.h). Every layer
 * kind lives in its own file and exposes init (shape inference + validation), tensor descriptions,
 * workspace size, forward, backward and its spec token in one ops table (lct__layer_ops); the
 * encoder runs the layers through an execution plan (plan.c).
 */
#ifndef LCT_ENCODER_ENCODER_INTERNAL_H
#define LCT_ENCODER_ENCODER_INTERNAL_H

#include <stdio.h>

#include "encoder.h"

/* Fixed number of batch chunks for work that reduces over samples (conv weight gradients):
 * it depends on the batch only, so sums are identical for any thread count. */
#define LCT__CHUNKS 16

enum lct__layer_kind {
    LCT__L_LINEAR,
    LCT__L_CONV1D,
    LCT__L_CONV2D,
    LCT__L_BATCHNORM,
    LCT__L_RELU,
    LCT__L_MAXPOOL,
    LCT__L_AVGPOOL,
    LCT__L_GAP,
    LCT__L_FLATTEN,
    LCT__L_TRANSPOSE,
    LCT__L_DROPOUT,
    LCT__L_L2NORM,
    LCT__L_GRU,
    LCT__L_COUNT
};

typedef struct lct__shape {
    uint32_t d[LCT_ENCODER_MAX_RANK];
    uint32_t rank;
} lct__shape;

/* How a tensor starts: U(-bound, bound), ones or zeros. */
enum { LCT__INIT_UNIFORM, LCT__INIT_ONES, LCT__INIT_ZEROS };

typedef struct lct__tensor_desc {
    const char *suffix;  /* "weight", "bias", "running_mean", ... */
    size_t count;
    int trainable;
    int no_decay;
    int init;
    double bound;
} lct__tensor_desc;

#define LCT__MAX_LAYER_TENSORS 4

typedef struct lct__layer {
    int kind;
    uint32_t index;                 /* position in the encoder */
    lct__shape in, out;
    size_t in_size, out_size;       /* floats per sample */
    /* hyper-parameters (meaning depends on kind) */
    uint32_t units, kernel, stride, padding, has_bias;
    float p, eps, momentum;
    /* tensors: value/grad pointers into `store` (grad NULL for state) */
    size_t n_tensors;
    float *value[LCT__MAX_LAYER_TENSORS];
    float *grad[LCT__MAX_LAYER_TENSORS];
    char names[LCT__MAX_LAYER_TENSORS][48];
    float *store;
    /* per-forward: scratch in the encoder's workspace (ws_floats(batch) floats) */
    float *ws;
    int bf16;                       /* linear, conv2d: products on bf16 operands (lct_encoder_set_precision) */
    /* linear with bf16: which packed copies of W in ws are current (LCT__WPACK_FWD for x Wᵀ, LCT__WPACK_BWD
     * for dy W), for version wpack_version of the encoder's parameters */
    unsigned wpack;
    uint64_t wpack_version;
    int grad_unset;                 /* linear: the weight's lct__tensor.grad_unset flag */
    int grad_finite;                /* linear: the weight's lct__tensor.grad_finite flag */
    /* The fields below, down to by_conv, are the execution plan's (lct__plan_compile sets them once; the
     * pointers into the workspace are set where it is laid out, lct__plan_link). */
    int alias;                      /* its output is its input's memory (fused ReLU, flatten, a batch norm fused
                                     * with its pool, a conv2d that recomputes its planes) */
    int fuse_relu;                  /* batch norm, conv1d: a following ReLU is applied in the same pass */
    int mask_in_pool;               /* batch norm: the max pool after that ReLU applies its mask in backward */
    int relu_mask;                  /* max pool: its input came out of a ReLU; gradients pass only where y > 0 */
    float *stats_out;               /* convolution before a train-mode batch norm: per (sample, channel) partial
                                     * statistics for it, computed while each output is still in cache */
    int stats_in;                   /* batch norm: those partials are ready (no pass over x for the statistics) */
    /* batch norm followed by ReLU and a 2x2 max pool (lct__bn_fuses_pool): the three run as one pass over
     * each plane, forward and backward; the batch norm's own output is never stored */
    struct lct__layer *pool;        /* batch norm: that max pool, or NULL */
    float *pool_y;                  /* batch norm: the pool's output */
    int pooled;                     /* max pool: its batch norm does its work (forward and backward skip it) */
    /* conv2d, then such a fused batch norm: the convolution makes the pool's choice on each output
     * plane while it is in cache (lct__bn_pool_plane), and in backward the batch norm stops at its sums
     * while the convolution makes each of its dx planes as its own dy (lct__bn_dx_plane) */
    struct lct__layer *fused_bn;    /* conv2d: that batch norm, or NULL */
    int by_conv;                    /* batch norm: the convolution before it does those two parts */
    const float *bn_x;              /* batch norm with by_conv: its input */
} lct__layer;

/* What a pass needs besides the layer. */
typedef struct lct__pass {
    lct_runtime *rt;
    int threads;
    int train;
    size_t batch;
    uint64_t seed, stream, step;    /* dropout masks */
    uint64_t version;               /* of the encoder's parameters */
    lct_comm *comm;                 /* synchronised batch norm: the ranks of the global batch (NULL: none) */
    double *sync;                   /* its exchange buffer, (P + 1) * 2 * C doubles for the widest batch norm */
    int *comm_rc;                   /* a failed exchange records its status here */
    const char *func;               /* the public call, for messages */
} lct__pass;

/* Shape inference and hyper-parameter checks; fills in/out shapes and sizes. Records an error. */
int lct__layer_init(lct__layer *l, const lct__shape *in, const char *func);
/* Tensor descriptions (at most LCT__MAX_LAYER_TENSORS); returns their number. */
size_t lct__layer_tensors(const lct__layer *l, lct__tensor_desc *d);
/* Floats the layer's tensors take in its store: values and gradients, each rounded up to 16 floats.
 * lct__layer_init has checked that this sum fits one buffer. */
size_t lct__layer_store_floats(const lct__layer *l);
/* Scratch floats for a batch; 0 on overflow is impossible here: sizes are checked at init and
 * the encoder checks the total with lct__mul_size. */
size_t lct__layer_ws(const lct__layer *l, size_t batch);
void lct__layer_forward(lct__layer *l, const lct__pass *p, const float *x, float *y);
/* dx may be NULL (first layer, caller does not want it). */
void lct__layer_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                         float *dx);
/* Canonical spec token of the layer, e.g. "conv2d 32 k3 s1 p1". */
int lct__layer_spec(const lct__layer *l, char *buf, size_t size);
/* Kind name used in tensor names and messages ("linear", "conv2d", "batchnorm", ...). */
const char *lct__layer_kind_name(int kind);

/* A layer kind's entry points: the file of each kind defines its table (lct__<kind>_ops), layer.c
 * dispatches through them. */
typedef struct lct__layer_ops {
    int (*init)(lct__layer *l, const char *func);          /* hyper-parameters, out shape (in is set) */
    size_t (*tensors)(const lct__layer *l, lct__tensor_desc *d);
    size_t (*ws)(const lct__layer *l, size_t batch);       /* NULL: no scratch */
    void (*forward)(lct__layer *l, const lct__pass *p, const float *x, float *y);
    void (*backward)(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                     float *dx);
    int (*spec)(const lct__layer *l, char *buf, size_t size);
    int params;                                             /* backward runs without dx (parameter gradients) */
} lct__layer_ops;
extern const lct__layer_ops lct__linear_ops, lct__conv1d_ops, lct__conv2d_ops, lct__bn_ops, lct__relu_ops,
    lct__maxpool_ops, lct__avgpool_ops, lct__gap_ops, lct__flatten_ops, lct__transpose_ops, lct__dropout_ops,
    lct__l2norm_ops, lct__gru_ops;
/* Shared by several kinds (layer.c): no tensors; weight and bias of linear, conv1d and conv2d; the spec
 * token that is the kind's name alone. conv.c: the convolutions' spec token. */
size_t lct__no_tensors(const lct__layer *l, lct__tensor_desc *d);
size_t lct__dense_tensors(const lct__layer *l, lct__tensor_desc *d);
int lct__spec_name(const lct__layer *l, char *buf, size_t size);
int lct__conv_spec(const lct__layer *l, char *buf, size_t size);

/* Per-kind entry points (one file each). Every kind's passes have the signatures of lct__layer_forward and
 * lct__layer_backward. */
#define LCT__LAYER_PASSES(kind)                                                                              \
    void lct__##kind##_forward(lct__layer *l, const lct__pass *p, const float *x, float *y);                 \
    void lct__##kind##_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy, \
                                float *dx)
int lct__linear_init(lct__layer *l, const char *func);
size_t lct__linear_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(linear);
enum { LCT__WPACK_FWD = 1, LCT__WPACK_BWD = 2 };

int lct__conv_init(lct__layer *l, const char *func);
size_t lct__conv_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(conv);
/* Σ x[0..n) in 16 fixed lanes, the order independent of threads (conv.c; the convolutions' bias gradients). */
float lct__sum_lanes(const float *x, size_t n);
/* conv1d (conv1d.c; init is lct__conv_init). The backward pass reads y for a fused ReLU's mask and the
 * polyphase input its forward pass left in the workspace. */
size_t lct__conv1d_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(conv1d);

int lct__bn_init(lct__layer *l, const char *func);
size_t lct__bn_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(bn);

/* Planes up to this many floats can fuse batch norm, ReLU and a 2x2 max pool (one plane on the stack). */
#define LCT__FUSE_PLANE 4096
/* Whether batch norm `bn` (C x H x W), ReLU and max pool `pool` may run fused. */
int lct__bn_fuses_pool(const lct__layer *bn, const lct__layer *relu, const lct__layer *pool);

/* The fused pool's choice on plane (sample b, channel c) of a batch norm's input x (H·W floats): the
 * window's largest input where γ >= 0, its smallest where γ < 0. */
void lct__bn_pool_plane(const lct__layer *bn, const lct__pass *p, size_t b, size_t c, const float *x);
/* Plane (sample b, channel c) of the dx of a batch norm with by_conv, from dy = the pooled gradient given
 * to its backward (which has run): n = H·W floats into dst. x is that plane of the batch norm's input,
 * or NULL to read it from the stored input. */
void lct__bn_dx_plane(const lct__layer *bn, const lct__pass *p, const float *dy, size_t b, size_t c, const float *x,
                      float *dst);
/* conv2d with few column rows (small kernels) before a fused batch norm: its output is never stored,
 * each plane is recomputed where it is needed (cheaper than writing and reading it back). */
int lct__conv_recomputes(const lct__layer *conv, const lct__layer *bn, const lct__layer *relu,
                         const lct__layer *pool);

/* Partial statistics of one channel of one sample (n values): shift k = their mean, Σ(y−k), Σ(y−k)². */
void lct__bn_partial(const float *y, size_t n, float *out3);
/* Where a batch norm keeps the partials of its input (batch × channels × 3 floats). */
float *lct__bn_partials(const lct__layer *bn);

int lct__pool_init(lct__layer *l, const char *func);
size_t lct__pool_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(pool);

/* 2x2 max pool with stride 2 of one h x w plane (first maximum wins; arg = index in the plane); backward
 * writes the whole dx plane, dy passing only where mask (the pooled output after a ReLU) is > 0 if set. */
int lct__pool_is_max2x2(const lct__layer *l);
void lct__max2x2_plane(const float *x, size_t h, size_t w, float *y, int32_t *arg);
/* The same for planes of even width up to LCT__FUSE_PLANE floats (others go to lct__max2x2_plane): flat pair
 * maxima, then rows of 8 outputs at a time. */
void lct__max2x2_plane_fast(const float *x, size_t h, size_t w, float *y, int32_t *arg);
/* dx (hw floats) = 0 but dy[q] at arg[q] for the n pooled positions (where mask[q] > 0 if mask is set). */
void lct__unmax2x2_scatter(const float *dy, const float *mask, const int32_t *arg, size_t n, size_t hw, float *dx);
/* The inputs that won each window of a max pool fused into its batch norm (after its argmax). */
float *lct__pool_sel(const lct__layer *pool, size_t batch);
void lct__unmax2x2_plane(const float *dy, const float *mask, const int32_t *arg, size_t h, size_t w, float *dx);

LCT__LAYER_PASSES(relu);
int lct__dropout_init(lct__layer *l, const char *func);
size_t lct__dropout_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(dropout);

int lct__flatten_init(lct__layer *l, const char *func);
LCT__LAYER_PASSES(flatten);
int lct__transpose_init(lct__layer *l, const char *func);
LCT__LAYER_PASSES(transpose);

int lct__l2norm_init(lct__layer *l, const char *func);
size_t lct__l2norm_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(l2norm);

int lct__gru_init(lct__layer *l, const char *func);
size_t lct__gru_ws(const lct__layer *l, size_t batch);
LCT__LAYER_PASSES(gru);

/* Shared helpers (ops.c). */
/* The sliding window of a convolution or pooling layer: 2-d on C×H×W, 1-d on C×L as H = 1. */
typedef struct lct__geom {
    size_t c, h, w;       /* input */
    size_t kh, kw, sh, sw, ph, pw;
    size_t o, oh, ow;     /* output (o: a convolution's channels) */
    size_t k, n;          /* a convolution's GEMM: K = c·kh·kw rows of col, N = oh·ow columns */
    int bf16;             /* conv2d: the GEMMs take bf16 operands on AMX tiles (conv.c sets it) */
} lct__geom;
lct__geom lct__geom_of(const lct__layer *l);
/* out[j] += sum_i a[i*cols + j], rows summed in order; parallel over column blocks. */
void lct__colsum_add(const lct__pass *p, const float *a, size_t rows, size_t cols, float *out);
/* Each of the rows of y (cols floats) = b, parallel (a bias before a GEMM adds to it). */
void lct__rows_set(const lct__pass *p, const float *b, size_t rows, size_t cols, float *y);
/* y = x (n floats), parallel. */
void lct__copy(const lct__pass *p, size_t n, const float *x, float *y);
/* Portable GCC vector types for kernels the auto-vectoriser handles badly (selects, strided loads).
 * Each target clone compiles them to its own register width. Unaligned access goes through memcpy. */
typedef float lct__v16 __attribute__((vector_size(64)));
typedef int32_t lct__vi16 __attribute__((vector_size(64)));
typedef float lct__v4 __attribute__((vector_size(16)));
typedef int32_t lct__vi4 __attribute__((vector_size(16)));
#define LCT__LOAD(v, p) memcpy(&(v), (p), sizeof(v))
/* Lanes i0..i3 of the 8 lanes of (a, b): GCC's and Clang's spellings of a two-vector shuffle. */
#if defined(__clang__)
#  define LCT__SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector((a), (b), i0, i1, i2, i3)
#else
#  define LCT__SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle((a), (b), (lct__vi4){i0, i1, i2, i3})
#endif
#define LCT__STORE(p, v) memcpy((p), &(v), sizeof(v))
/* 64 floats at p in four vectors a0..a3 (the register blocks of the conv1d and GRU kernels), and back. */
#define LCT__LOAD64(a0, a1, a2, a3, p)                                                                       \
    do {                                                                                                     \
        LCT__LOAD(a0, (p));                                                                                  \
        LCT__LOAD(a1, (p) + 16);                                                                             \
        LCT__LOAD(a2, (p) + 32);                                                                             \
        LCT__LOAD(a3, (p) + 48);                                                                             \
    } while (0)
#define LCT__STORE64(p, a0, a1, a2, a3)                                                                      \
    do {                                                                                                     \
        LCT__STORE((p), a0);                                                                                 \
        LCT__STORE((p) + 16, a1);                                                                            \
        LCT__STORE((p) + 32, a2);                                                                            \
        LCT__STORE((p) + 48, a3);                                                                            \
    } while (0)
/* a0..a3 += s · src[0..64). */
#define LCT__AXPY64(a0, a1, a2, a3, s, src)                                                                  \
    do {                                                                                                     \
        lct__v16 r0__, r1__, r2__, r3__;                                                                     \
        LCT__LOAD64(r0__, r1__, r2__, r3__, (src));                                                          \
        float s__ = (s);                                                                                     \
        a0 += s__ * r0__;                                                                                    \
        a1 += s__ * r1__;                                                                                    \
        a2 += s__ * r2__;                                                                                    \
        a3 += s__ * r3__;                                                                                    \
    } while (0)

/* Element-wise loops run in parallel only above this many floats (below, threads cost more). */
#define LCT__PAR_MIN 32768

static inline size_t lct__max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Round a float count up to a multiple of 16 (64 bytes). */
static inline size_t lct__round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}


/* ---- execution plan (plan.c) ---------------------------------------------------------------------- */

/* What one step of the plan runs: a layer, or layers that run fused. */
enum lct__step_kind {
    LCT__STEP_LAYER,             /* one layer on its own */
    LCT__STEP_LAYER_RELU,        /* batch norm or conv1d applying the ReLU after it in its own passes */
    LCT__STEP_BN_RELU_POOL,      /* batch norm, ReLU and a 2x2 max pool in one pass over each plane */
    LCT__STEP_CONV_BN_RELU_POOL, /* conv2d before such a batch norm: it makes the pool's choice and, in
                                  * backward, the batch norm's dx planes while they are in cache */
    LCT__STEP_ALIAS,             /* flatten: the output is the input's memory */
    LCT__STEP_COUNT
};

typedef struct lct__step {
    int kind;
    uint32_t first;              /* its first layer */
    uint32_t count;              /* layers it covers */
} lct__step;

struct lct_encoder {
    lct_runtime *rt;
    lct_encoder_options opts;
    uint64_t stream;            /* this handle's random stream (init and dropout) */
    lct__shape in;
    lct__layer **layers;
    size_t n_layers;
    lct__step *steps;           /* the execution plan: n_steps steps over the layers (lct__plan_compile) */
    size_t n_steps;
    lct_params params;          /* tensors of every layer, in layer order */
    char *spec;                 /* canonical spec text */
    int sealed;                 /* no more layers (lct_encoder_seal) */
    int mode;
    int precision;              /* lct_precision of the linear and conv2d layers */
    uint64_t step;              /* train-mode forward passes so far (dropout) */
    /* workspace, sized for ws_batch samples and reused for any batch up to it */
    float *ws;
    size_t ws_batch;
    size_t laid_batch;          /* the batch the workspace pointers are laid out for, 0 if none */
    float **act;                /* n_layers + 1 activations: act[0] = input copy */
    float *grad[2];             /* ping-pong buffers of the backward pass */
    size_t fwd_batch;           /* batch of the last forward, 0 if backward is not allowed */
    int fwd_train;
    lct_comm *comm;             /* synchronised batch norm over its ranks (borrowed), or NULL */
    double *sync;               /* exchange buffer of the synchronised statistics, grown on first use */
    size_t sync_cap;            /* doubles in sync */
};

/* Append a layer built from the prototype (kind and hyper-parameters set). */
int lct__encoder_add(lct_encoder *enc, const lct__layer *proto, const char *func);
/* Product of a shape's dimensions. */
size_t lct__shape_size(const lct__shape *s);

/* Steps and fusion fields of every layer for the encoder's layers, mode and precision; steps has room
 * for n_layers steps. Called whenever one of those changes; cannot fail. */
void lct__plan_compile(lct_encoder *enc);
/* The plan's pointers into the workspace, once it is laid out (activations and layer scratch set). */
void lct__plan_link(lct_encoder *enc);
/* The passes: forward from act[0] to act[n_layers]; backward from dy into dx (may be NULL). Return the
 * status of a failed batch-norm exchange, else LCT_OK. */
int lct__plan_forward(lct_encoder *enc, const lct__pass *p);
int lct__plan_backward(lct_encoder *enc, const lct__pass *p, const float *dy, float *dx);

#endif
