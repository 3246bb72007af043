/* What other modules may call of the encoder module (its structs are in encoder_internal.h). */
#ifndef LCT_ENCODER_ENCODER_H
#define LCT_ENCODER_ENCODER_H

#include "../core/internal.h"

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

#endif
