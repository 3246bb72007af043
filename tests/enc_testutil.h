/* Helpers shared by the encoder, layer and optimiser suites. */
#ifndef LCT_ENC_TESTUTIL_H
#define LCT_ENC_TESTUTIL_H

#include "testutil.h"

#include "core/internal.h"

/* Uniform floats in [lo, hi) from a fixed stream. */
static inline void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    lct__rng r;
    lct__rng_seed(&r, seed, 777);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lct__rng_uniform(&r);
}

static inline lct_encoder *spec_encoder(lct_runtime *rt, const char *spec)
{
    lct_encoder *enc = NULL;
    int rc = lct_encoder_new_from_spec(&enc, rt, spec, NULL);
    ck_assert_msg(rc == LCT_OK, "spec '%s': %s", spec, lct_error_last());
    return enc;
}

static inline size_t enc_in(const lct_encoder *e)
{
    size_t n;
    ck_assert_int_eq(lct_encoder_input_size(e, &n), LCT_OK);
    return n;
}

static inline size_t enc_out(const lct_encoder *e)
{
    size_t n;
    ck_assert_int_eq(lct_encoder_output_size(e, &n), LCT_OK);
    return n;
}

#endif
