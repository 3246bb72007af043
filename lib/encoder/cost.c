/* What a step of an encoder costs before it runs: FLOPs per layer from the shapes, and the workspace. */
#include "encoder_internal.h"

/* Forward and backward FLOPs of one sample through layer l; the first layer computes no input gradient. */
static void layer_flops(const lct__layer *l, int first, double *fwd, double *bwd)
{
    const double in = (double)l->in_size, out = (double)l->out_size;
    double prod = 0.0, elem = 0.0, elem_b = 0.0; /* products (2 per multiply-add); element-wise, fwd and bwd */
    switch (l->kind) {
    case LCT__L_LINEAR: {
        double rows = l->in.rank == 2 ? (double)l->in.d[0] : 1.0, i = (double)l->in.d[l->in.rank - 1];
        prod = rows * 2.0 * i * (double)l->units;
        elem = elem_b = l->has_bias ? out : 0.0;
        break;
    }
    case LCT__L_CONV1D:
    case LCT__L_CONV2D: {
        double taps = (double)l->in.d[0] * (double)l->kernel * (l->kind == LCT__L_CONV2D ? (double)l->kernel : 1.0);
        prod = 2.0 * taps * out; /* out = C_out x output positions */
        elem = elem_b = l->has_bias ? out : 0.0;
        break;
    }
    case LCT__L_BATCHNORM: elem = 4.0 * in, elem_b = 8.0 * in; break;
    case LCT__L_RELU: elem = elem_b = in; break;
    case LCT__L_MAXPOOL:
    case LCT__L_AVGPOOL: {
        double window = (double)l->kernel;
        for (uint32_t i = 2; i < l->in.rank; i++) window *= (double)l->kernel;
        elem = elem_b = out * window;
        break;
    }
    case LCT__L_GAP: elem = elem_b = in; break;
    case LCT__L_DROPOUT: elem = 2.0 * in, elem_b = in; break;
    case LCT__L_L2NORM: elem = 3.0 * in, elem_b = 6.0 * in; break;
    case LCT__L_GRU: {
        double t = (double)l->in.d[0], d = (double)l->in.d[1], h = (double)l->units;
        *fwd = t * (6.0 * d * h + 6.0 * h * h + 12.0 * h);
        *bwd = t * ((first ? 6.0 : 12.0) * d * h + 12.0 * h * h + 24.0 * h);
        return;
    }
    default: break; /* flatten, transpose: copies */
    }
    *fwd = prod + elem;
    /* backward: the weight gradient (a product as large as the forward one) and, except for the first layer,
     * the input gradient (another); element-wise layers only pass the gradient on */
    *bwd = first ? prod + (prod > 0.0 ? elem_b : 0.0) : 2.0 * prod + elem_b;
}

int lct_encoder_cost(const lct_encoder *enc, size_t batch, uint64_t *forward_flops, uint64_t *backward_flops,
                     size_t *workspace_bytes)
{
    LCT__REQUIRE(enc);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    double fwd = 0.0, bwd = 0.0;
    for (size_t i = 0; i < enc->n_layers; i++) {
        double f = 0.0, b = 0.0;
        layer_flops(enc->layers[i], i == 0, &f, &b);
        fwd += f;
        bwd += b;
    }
    fwd *= (double)batch;
    bwd *= (double)batch;
    if (!(fwd < 1.8e19) || !(bwd < 1.8e19))
        return LCT__FAIL(LCT_ESHAPE, "the FLOPs at batch %zu overflow 64 bits", batch);
    size_t ws = 0;
    if (workspace_bytes) {
        int rc = lct_encoder_workspace_bytes(enc, batch, &ws);
        if (rc) return LCT__FAIL(LCT_ESHAPE, "the workspace for batch %zu overflows", batch);
    }
    if (forward_flops) *forward_flops = (uint64_t)fwd;
    if (backward_flops) *backward_flops = (uint64_t)bwd;
    if (workspace_bytes) *workspace_bytes = ws;
    return LCT_OK;
}
