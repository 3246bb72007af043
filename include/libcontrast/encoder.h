/**
 * @file libcontrast/encoder.h
 * @brief Encoders: sequences of layers with forward and backward passes.
 *
 * An encoder maps a batch of inputs (images C×H×W, signals C×L, sequences
 * T×D or plain vectors D) to a batch of outputs. It is built either layer by
 * layer with the lct_encoder_add_*() calls or at once from a text spec
 * (grammar in docs/encoder.md), and both ways give identical encoders for the
 * same runtime seed. lct_encoder_spec() returns the canonical spec text of any
 * encoder, so the architecture can be rebuilt from it.
 *
 * Buffers cross the API as contiguous row-major floats: `batch` samples of
 * lct_encoder_input_size() floats in, `batch` samples of
 * lct_encoder_output_size() floats out. The encoder keeps what backward
 * needs (it copies the input), in workspaces sized on the first call at a batch
 * size and reused afterwards: a steady training step allocates nothing.
 *
 * The encoder owns its parameters; lct_encoder_params() hands them out as an
 * ::lct_params set (weights and biases are trainable, batch-norm running
 * statistics are state). Initial values follow PyTorch's defaults
 * (Kaiming-uniform) and depend only on the runtime seed and the order in which
 * handles were created from the runtime, never on the thread count.
 *
 * An encoder borrows its runtime, which must outlive it. One thread at a time
 * per encoder.
 */
#ifndef LIBCONTRAST_ENCODER_H
#define LIBCONTRAST_ENCODER_H

#include "params.h"
#include "comm.h"

LCT_BEGIN_DECLS

typedef struct lct_encoder lct_encoder;

/** Largest rank of a per-sample shape (C×H×W). */
#define LCT_ENCODER_MAX_RANK 3

#define LCT_ENCODER_OPTIONS_VERSION 1

/** Encoder options. Initialise with lct_encoder_options_init(); fields are only ever added at the end. */
typedef struct lct_encoder_options {
    uint32_t version;      /**< LCT_ENCODER_OPTIONS_VERSION */
    uint32_t check_finite; /**< 1 (default): forward rejects NaN/Inf in x and backward in dy (LCT_ENUMERIC); 0: no check */
} lct_encoder_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION.
 */
LCT_API int lct_encoder_options_init(lct_encoder_options *opts, uint32_t version);

/**
 * Create an empty encoder whose samples have shape @p shape (@p rank 1..3 dimensions, each >= 1):
 * D for vectors, C×L for signals (or T×D for sequences), C×H×W for images. Add layers with
 * the lct_encoder_add_*() calls; an encoder without layers is the identity.
 *
 * @param out   receives the encoder; NULL on failure
 * @param rt    runtime, borrowed
 * @return LCT_OK; LCT_EINVAL (NULL argument, rank 0 or > 3, a zero dimension);
 *         LCT_ESHAPE (sample size overflows); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_encoder_new(lct_encoder **out, lct_runtime *rt, const uint32_t *shape, size_t rank,
                            const lct_encoder_options *opts);

/**
 * Create an encoder from a text spec such as
 * `"in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; flatten; linear 128; l2norm"`.
 * The grammar is in docs/encoder.md. The result is identical to the same builder calls.
 *
 * @return LCT_OK; LCT_EINVAL (NULL argument); LCT_EFORMAT (malformed or unknown token: the
 *         message gives its column and text); LCT_ESHAPE (a layer does not fit its input shape,
 *         message names the layer); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_encoder_new_from_spec(lct_encoder **out, lct_runtime *rt, const char *spec,
                                      const lct_encoder_options *opts);

/** Free an encoder and everything it owns (its parameter set included). Accepts NULL. */
LCT_API void lct_encoder_free(lct_encoder *enc);

/**
 * @name Builder calls
 * Each appends one layer. Layers can be added only until the encoder is *sealed*
 * (lct_encoder_seal(), or its first forward pass, lct_encoder_params() or a checkpoint call that
 * hands out its parameters); afterwards they return LCT_ESTATE. On failure the
 * encoder is unchanged. Common errors: LCT_EINVAL (NULL @p enc, a zero or out-of-range
 * hyper-parameter), LCT_ESHAPE (the layer does not fit the current output shape; the message
 * says why), LCT_ESTATE (sealed), LCT_ENOMEM.
 * @{
 */

/** Fully connected layer on the last axis (rank 1 or 2 inputs): y = x Wᵀ + b, W is @p out_features × in. */
LCT_API int lct_encoder_add_linear(lct_encoder *enc, uint32_t out_features, int bias);

/** 2-d convolution of a C×H×W input with square @p kernel, @p stride >= 1 and zero @p padding. */
LCT_API int lct_encoder_add_conv2d(lct_encoder *enc, uint32_t out_channels, uint32_t kernel, uint32_t stride,
                                   uint32_t padding, int bias);

/** 1-d convolution of a C×L input. */
LCT_API int lct_encoder_add_conv1d(lct_encoder *enc, uint32_t out_channels, uint32_t kernel, uint32_t stride,
                                   uint32_t padding, int bias);

/**
 * Batch normalisation over the first axis (features of a vector D, channels of C×L or C×H×W):
 * train mode uses batch statistics and updates the running ones with @p momentum
 * (running = (1 - momentum) running + momentum batch, unbiased variance); eval mode uses the
 * running ones. PyTorch's defaults are momentum 0.1 and @p eps 1e-5.
 */
LCT_API int lct_encoder_add_batchnorm(lct_encoder *enc, float momentum, float eps);

/** max(x, 0), element-wise. */
LCT_API int lct_encoder_add_relu(lct_encoder *enc);

/** Max pooling over windows of @p kernel (square for C×H×W, 1-d for C×L) with @p stride, no padding. */
LCT_API int lct_encoder_add_maxpool(lct_encoder *enc, uint32_t kernel, uint32_t stride);

/** Average pooling, as max pooling; every window holds kernel (×kernel) inputs. */
LCT_API int lct_encoder_add_avgpool(lct_encoder *enc, uint32_t kernel, uint32_t stride);

/** Global average pooling of C×H×W or C×L to a vector of C. */
LCT_API int lct_encoder_add_global_avgpool(lct_encoder *enc);

/** Flatten any shape to a vector. */
LCT_API int lct_encoder_add_flatten(lct_encoder *enc);

/** Swap the two axes of a rank-2 sample (C×L to L×C, e.g. convolution output to GRU input). */
LCT_API int lct_encoder_add_transpose(lct_encoder *enc);

/** Dropout with drop probability @p p in [0, 1): train mode zeroes and scales by 1/(1-p); eval is the identity. */
LCT_API int lct_encoder_add_dropout(lct_encoder *enc, float p);

/** y = x / max(‖x‖₂, @p eps) along the last axis of a rank 1 or 2 input (PyTorch's default eps is 1e-12). */
LCT_API int lct_encoder_add_l2norm(lct_encoder *enc, float eps);

/**
 * GRU over the time axis of a T×D input, returning every step's hidden state (T×H), h₀ = 0.
 * Gates follow PyTorch (order r, z, n): r = σ(W_ir x + b_ir + W_hr h + b_hr),
 * z = σ(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
 * h' = (1 − z) ⊙ n + z ⊙ h. Tensors: weight_ih (3H×D), weight_hh (3H×H), bias_ih, bias_hh (3H).
 */
LCT_API int lct_encoder_add_gru(lct_encoder *enc, uint32_t hidden);

/** @} */

/** Modes of an encoder. */
typedef enum lct_encoder_mode {
    LCT_ENCODER_EVAL = 0,  /**< batch norm uses running statistics, dropout is the identity */
    LCT_ENCODER_TRAIN = 1  /**< batch statistics (and running updates), dropout active (default) */
} lct_encoder_mode;

/**
 * Switch between ::LCT_ENCODER_TRAIN and ::LCT_ENCODER_EVAL. Changing the mode forgets the
 * last forward pass (a following backward is LCT_ESTATE).
 * @return LCT_OK, LCT_EINVAL (NULL, unknown mode).
 */
LCT_API int lct_encoder_set_mode(lct_encoder *enc, int mode);

/** The current ::lct_encoder_mode, or LCT_EINVAL for NULL. */
LCT_API int lct_encoder_get_mode(const lct_encoder *enc);

/** Arithmetic of an encoder's linear and conv2d layers (lct_encoder_set_precision()). */
typedef enum lct_precision {
    LCT_PRECISION_FP32 = 0, /**< every product in fp32 (default) */
    LCT_PRECISION_BF16 = 1  /**< linear and conv2d layers multiply bf16-rounded operands, summed in fp32 (AMX) */
} lct_precision;

/**
 * Choose the arithmetic of the encoder's linear and conv2d layers. With ::LCT_PRECISION_BF16 each
 * of a linear layer's three products (y = x Wᵀ in forward; dW += dyᵀ x and dx = dy W in backward)
 * and of a conv2d layer's three (its output, weight gradient and input gradient, as products of W
 * with the im2col columns of x or dy) rounds both of its operands to bf16 (8 significant bits,
 * nearest even) and sums the products in fp32, on the CPU's AMX-BF16 tiles. A conv2d layer with
 * in_channels × kernel × kernel ≤ 16 (such as a first layer on one grey channel) stays fp32: its
 * products are too thin for the tiles. Weights, gradients, the optimiser and every other layer
 * (conv1d, GRU, batch norm, ...) stay fp32, as under PyTorch's bf16 autocast, but the outputs of
 * linear and conv2d layers are kept in fp32.
 * Results stay identical for any thread count. The precision applies to layers added later too,
 * and is not part of the spec text or of checkpoints.
 *
 * Changing the precision forgets the last forward pass (a following backward is LCT_ESTATE)
 * and resizes the workspace at the next forward.
 * @return LCT_OK; LCT_EINVAL (NULL @p enc, unknown @p precision); LCT_EUNSUPPORTED (bf16 on a
 *         CPU, OS or build without AMX-BF16 tiles, or with LCT_AMX=0 in the environment; the
 *         precision is left as it was).
 */
LCT_API int lct_encoder_set_precision(lct_encoder *enc, int precision);

/** The current ::lct_precision, or LCT_EINVAL for NULL. */
LCT_API int lct_encoder_get_precision(const lct_encoder *enc);

/**
 * Forward pass of @p batch samples @p x into @p y. In train mode it also updates batch-norm
 * running statistics and advances the dropout step. The first call seals the encoder; the
 * first call at a batch size larger than any before allocates the workspace.
 * @p x is copied: the caller may reuse it at once. @p x and @p y must not overlap.
 *
 * @return LCT_OK; LCT_EINVAL (NULL argument, @p batch 0, or 1 in train mode with batch norm);
 *         LCT_ESHAPE (batch × sample size overflows); LCT_ENUMERIC (NaN or Inf in @p x when
 *         check_finite; nothing changed); LCT_ENOMEM; LCT_ECOMM (synchronised batch norm,
 *         lct_encoder_set_comm(): the exchange failed).
 */
LCT_API int lct_encoder_forward(lct_encoder *enc, const float *x, size_t batch, float *y);

/**
 * Backward pass of the last forward: given dL/dy (@p batch × output size), *accumulate*
 * dL/dθ into the parameter gradients and, if @p dx is not NULL, write dL/dx (@p batch × input size).
 * May be repeated after one forward (each call accumulates again). @p dy and @p dx must not overlap.
 *
 * @return LCT_OK; LCT_EINVAL (NULL @p enc or @p dy); LCT_ESTATE (no forward since creation or since
 *         the last mode change, or @p batch differs from the last forward's);
 *         LCT_ENUMERIC (NaN or Inf in @p dy when check_finite; nothing changed); LCT_ECOMM (synchronised
 *         batch norm: the exchange failed).
 */
LCT_API int lct_encoder_backward(lct_encoder *enc, const float *dy, size_t batch, float *dx);

/** Set every parameter gradient to zero. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_zero_grad(lct_encoder *enc);

/**
 * Synchronised batch norm: with @p comm (borrowed; NULL to stop), every train-mode batch-norm layer
 * normalises with the mean and variance of the *global* batch (every rank's samples) and its
 * backward pass uses the global sums Σdy and Σdy·x̂, so P ranks reproduce one process given the
 * whole batch (the running statistics too). Each rank's (mean, M2) and sums per channel are
 * all-gathered and merged in rank order: 16·C·P bytes per batch-norm layer and pass. Train-mode
 * lct_encoder_forward() and lct_encoder_backward() then become collective (every rank calls them,
 * with the same batch size); evaluation mode exchanges nothing. Without it (the default) each rank
 * keeps its own statistics (docs/distributed.md).
 * @return LCT_OK; LCT_EINVAL (NULL @p enc); LCT_EMISMATCH (@p comm belongs to another runtime).
 *         Afterwards forward and backward may also return LCT_ECOMM (the pass is abandoned, running
 *         statistics unchanged) and LCT_ENOMEM (the exchange buffer, first train-mode pass).
 */
LCT_API int lct_encoder_set_comm(lct_encoder *enc, lct_comm *comm);


/**
 * The encoder's parameter set (trainable weights and biases, batch-norm running statistics as
 * state), owned by the encoder and valid until lct_encoder_free(). Tensor names are
 * "<layer index>.<kind>.<tensor>", e.g. "0.conv2d.weight", "1.batchnorm.running_var".
 * Seals the encoder (lct_encoder_seal()). NULL if @p enc is NULL.
 */
LCT_API lct_params *lct_encoder_params(lct_encoder *enc);

/**
 * Seal the encoder: no more layers can be added (the builder calls return LCT_ESTATE afterwards).
 * Sealing fixes the architecture, so the encoder can plan how its layers run once. It is not
 * needed before use, as the calls that depend on the architecture being final seal the encoder
 * themselves: lct_encoder_forward() (once its arguments are checked), lct_encoder_params(),
 * lct_checkpoint_add_encoder() and lct_checkpoint_load_encoder(). Every other call, the getters
 * included, leaves it as it is. Sealing a sealed encoder does nothing.
 * @return LCT_OK; LCT_EINVAL (NULL @p enc).
 */
LCT_API int lct_encoder_seal(lct_encoder *enc);

/**
 * Per-sample input shape: its rank into @p rank and up to @p cap dimensions into @p shape
 * (@p shape may be NULL when @p cap is 0). @return LCT_OK, LCT_EINVAL.
 */
LCT_API int lct_encoder_input_shape(const lct_encoder *enc, uint32_t *shape, size_t cap, size_t *rank);

/** Per-sample output shape, as lct_encoder_input_shape(). @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_output_shape(const lct_encoder *enc, uint32_t *shape, size_t cap, size_t *rank);

/** Floats per input sample into @p size. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_input_size(const lct_encoder *enc, size_t *size);

/** Floats per output sample into @p size. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_output_size(const lct_encoder *enc, size_t *size);

/** Number of layers into @p count. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_layer_count(const lct_encoder *enc, size_t *count);

/**
 * Number of trainable parameters (floats) into @p trainable and of state floats (running
 * statistics) into @p state; either may be NULL. @return LCT_OK, LCT_EINVAL.
 */
LCT_API int lct_encoder_param_count(const lct_encoder *enc, size_t *trainable, size_t *state);

/**
 * Bytes of working memory that forward + backward need at batch size @p batch (activations,
 * saved statistics, gradient buffers, scratch), not counting the parameters.
 * @return LCT_OK, LCT_EINVAL (NULL, @p batch 0), LCT_ESHAPE (overflow).
 */
LCT_API int lct_encoder_workspace_bytes(const lct_encoder *enc, size_t batch, size_t *bytes);

/**
 * What a training step of the encoder costs at batch size @p batch, before running one: the
 * floating-point operations of a forward pass (@p forward_flops) and of the backward pass that
 * follows it (@p backward_flops: input and weight gradients, without the input gradient of the first
 * layer, which lct_encoder_backward() skips when dx is NULL), and the workspace bytes of
 * lct_encoder_workspace_bytes(). Products count 2 operations per multiply-add (a linear layer of
 * I inputs and O outputs: 2·I·O per sample forward, twice that backward); element-wise layers count
 * their arithmetic per element (batch norm 4 forward and 8 backward, ReLU 1, pooling one per window
 * element, L2-normalise 3 and 6, GRU gates 12 per unit and step). A host divides the FLOPs by a rate
 * it measured (docs/stream.md) to predict a step's time. Any out pointer may be NULL.
 * @return LCT_OK; LCT_EINVAL (NULL @p enc, @p batch 0); LCT_ESHAPE (a count overflows 64 bits, or
 *         the workspace overflows).
 */
LCT_API int lct_encoder_cost(const lct_encoder *enc, size_t batch, uint64_t *forward_flops, uint64_t *backward_flops,
                             size_t *workspace_bytes);

/**
 * Canonical spec text of the encoder (every hyper-parameter explicit), owned by the encoder and
 * valid until the next builder call or lct_encoder_free(). lct_encoder_new_from_spec() on it
 * builds the same architecture. NULL if @p enc is NULL.
 */
LCT_API const char *lct_encoder_spec(const lct_encoder *enc);

/**
 * Dropout step counter: the number of train-mode forward passes so far. Dropout masks are drawn
 * per (encoder stream, step, layer, sample), so saving and restoring it resumes bit-identically.
 * @return LCT_OK, LCT_EINVAL.
 */
LCT_API int lct_encoder_step(const lct_encoder *enc, uint64_t *step);

/** Restore the dropout step counter. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_encoder_set_step(lct_encoder *enc, uint64_t step);

LCT_END_DECLS

#endif /* LIBCONTRAST_ENCODER_H */
