/*
 * A few training steps of each distributed code path, shared by the thread-communicator suite
 * (test_comm.c) and the MPI test program (mpi/mpi_steps.c). With comm NULL (P = 1) they are the
 * one-process reference on the whole global batch; with a communicator, rank r takes slice r.
 * They use the public API only and never assert: they return a status.
 */
#ifndef LCT_DIST_STEPS_H
#define LCT_DIST_STEPS_H

#include <libcontrast/libcontrast.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parameters after a few distributed steps equal the one-process run within this (max abs error
 * relative to max(1, |value|)): sums over ranks and over the batch are taken in different orders.
 * The documented tolerance of docs/distributed.md. */
#define TOL_PARAMS 2e-5
#define TOL_LOSS 2e-5

/* Deterministic pseudo-random floats in [-1, 1). */
static inline void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

static inline double max_err(const float *a, const float *b, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (e > w) w = e;
    }
    return w;
}

/* All tensors of a set, concatenated; returns the float count. */
static inline size_t params_flat(const lct_params *p, float *out, size_t cap)
{
    size_t off = 0;
    for (size_t i = 0; i < (size_t)lct_params_count(p); i++) {
        size_t n;
        lct_params_info(p, i, NULL, &n, NULL);
        if (out && off + n <= cap) lct_params_get(p, i, out + off, n);
        off += n;
    }
    return off;
}

#define DP_B 6
#define DP_STEPS 3
#define DP_MAXP (1 << 21)


/* One rank (or, with comm NULL, the single process) of DP_STEPS SGD steps on a squared loss. */
static inline int dp_train(lct_runtime *rt, lct_comm *comm, const char *spec, int rank, int P, float *out, size_t *np)
{
    lct_encoder *enc = NULL;
    lct_optimizer *opt = NULL;
    int rc = lct_encoder_new_from_spec(&enc, rt, spec, NULL);
    if (rc) return rc;
    size_t din, dout;
    lct_encoder_input_size(enc, &din);
    lct_encoder_output_size(enc, &dout);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.lr = 0.05;
    oo.momentum = 0.9;
    oo.weight_decay = 1e-3;
    if ((rc = lct_optimizer_new(&opt, rt, &oo))) goto done;
    if ((rc = lct_optimizer_attach(opt, lct_encoder_params(enc)))) goto done;
    if (comm) {
        if ((rc = lct_params_broadcast(lct_encoder_params(enc), comm, 0))) goto done;
        if ((rc = lct_optimizer_set_comm(opt, comm))) goto done;
    }
    size_t bl = DP_B / (size_t)P, first = (size_t)rank * bl;
    float *x = malloc(DP_B * din * sizeof(float)), *t = malloc(DP_B * dout * sizeof(float));
    float *y = malloc(bl * dout * sizeof(float));
    for (int s = 0; s < DP_STEPS && rc == LCT_OK; s++) {
        fill(x, DP_B * din, 100 + (uint64_t)s);
        fill(t, DP_B * dout, 200 + (uint64_t)s);
        lct_optimizer_zero_grad(opt);
        if ((rc = lct_encoder_forward(enc, x + first * din, bl, y))) break;
        /* L = 1/(2B) sum ||y - t||^2 over the local slice: dy = (y - t) / B_local */
        for (size_t i = 0; i < bl * dout; i++) y[i] = (y[i] - t[first * dout + i]) / (float)bl;
        if ((rc = lct_encoder_backward(enc, y, bl, NULL))) break;
        rc = lct_optimizer_step(opt);
    }
    free(x);
    free(t);
    free(y);
    if (rc == LCT_OK) *np = params_flat(lct_encoder_params(enc), out, DP_MAXP);
done:
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    return rc;
}


#endif
