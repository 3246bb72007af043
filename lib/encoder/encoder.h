/* Internal view of the encoder handle, shared by the builder, the spec parser and the passes. */
#ifndef LCT_ENCODER_ENCODER_H
#define LCT_ENCODER_ENCODER_H

#include "layer.h"

struct lct_encoder {
    lct_runtime *rt;
    lct_encoder_options opts;
    uint64_t stream;            /* this handle's random stream (init and dropout) */
    lct__shape in;
    lct__layer **layers;
    size_t n_layers;
    lct_params params;          /* tensors of every layer, in layer order */
    char *spec;                 /* canonical spec text */
    int sealed;                 /* no more layers once forward ran or params were handed out */
    int mode;
    int precision;              /* lct_precision of the linear and conv2d layers */
    uint64_t step;              /* train-mode forward passes so far (dropout) */
    /* workspace, sized for ws_batch samples and reused for any batch up to it */
    float *ws;
    size_t ws_batch;
    float **act;                /* n_layers + 1 activations: act[0] = input copy */
    float *grad[2];             /* ping-pong buffers of the backward pass */
    size_t fwd_batch;           /* batch of the last forward, 0 if backward is not allowed */
    int fwd_train;
    lct_comm *comm;             /* synchronised batch norm over its ranks (borrowed), or NULL */
    double *sync;               /* exchange buffer of the synchronised statistics, grown on first use */
    size_t sync_cap;            /* doubles in sync */
};

/* What a spec describes, found without creating anything (lct__encoder_plan): a checkpoint compares it
 * with the sections really present before it builds an encoder from a spec it holds. */
typedef struct lct__spec_plan {
    uint32_t shape[LCT_ENCODER_MAX_RANK]; /* the input shape */
    size_t rank;
    size_t layers, tensors;
    size_t values;      /* floats of every tensor, trainable and state */
    size_t name_bytes;  /* bytes of every tensor's name ("<layer>.<kind>.<tensor>") */
    size_t store;       /* floats the encoder would allocate for them (values, gradients, padding) */
} lct__spec_plan;

/* Parse and shape-check spec as lct_encoder_new_from_spec() does (the same errors), without allocating. */
int lct__encoder_plan(const char *spec, lct__spec_plan *plan);

/* Append a layer built from the prototype (kind and hyper-parameters set). */
int lct__encoder_add(lct_encoder *enc, const lct__layer *proto, const char *func);

#endif
