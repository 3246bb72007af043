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
/* sync_bn: batch norm with the statistics of the global batch (lct_encoder_set_comm). */
static inline int dp_train(lct_runtime *rt, lct_comm *comm, const char *spec, int sync_bn, int rank, int P, float *out,
                           size_t *np)
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
        if (sync_bn && (rc = lct_encoder_set_comm(enc, comm))) goto done;
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


/* ---- InstDisc: encoder, (sharded) bank, NCE, data-parallel SGD, bank update -------------------- */

#define ID_N 30
#define ID_D 8
#define ID_IN 10
#define ID_B 6
#define ID_K 16
#define ID_MAXP 512

typedef struct {
    lct_runtime *rt;
    lct_encoder *enc;
    lct_bank *bank;
    lct_loss *loss;
    lct_optimizer *opt;
    int rank, P;
} id_run;

/* Frees the handles of a run (NULL ones are skipped), each before those it borrows. */
static inline void dist_free_handles(lct_optimizer *opt, lct_loss *loss, lct_bank *bank, lct_encoder *ar,
                                     lct_encoder *enc)
{
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_encoder_free(ar);
    lct_encoder_free(enc);
}

static inline void id_free(id_run *s)
{
    dist_free_handles(s->opt, s->loss, s->bank, NULL, s->enc);
    memset(s, 0, sizeof *s);
}

/* Handles of one rank (comm NULL: the one-process reference), in the same order on every rank. */
static inline int id_setup(id_run *s, lct_runtime *rt, lct_comm *comm, int mode)
{
    memset(s, 0, sizeof *s);
    s->rt = rt;
    s->rank = comm ? lct_comm_rank(comm) : 0;
    s->P = comm ? lct_comm_size(comm) : 1;
    int rc = lct_encoder_new_from_spec(&s->enc, rt, "in 10; linear 16; relu; linear 8; l2norm", NULL);
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.normalize = 1;
    if (rc == LCT_OK) rc = comm ? lct_bank_new_sharded(&s->bank, rt, ID_N, ID_D, comm, &bo)
                                : lct_bank_new(&s->bank, rt, ID_N, ID_D, &bo);
    lct_loss_nce_options lo;
    lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION);
    lo.k = ID_K;
    lo.sample_mode = mode;
    if (rc == LCT_OK) rc = lct_loss_new_nce(&s->loss, rt, s->bank, &lo);
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    oo.lr = 0.1;
    oo.momentum = 0.9;
    oo.weight_decay = 5e-4;
    if (rc == LCT_OK) rc = lct_optimizer_new(&s->opt, rt, &oo);
    if (rc == LCT_OK) rc = lct_optimizer_attach(s->opt, lct_encoder_params(s->enc));
    if (rc == LCT_OK && comm) rc = lct_params_broadcast(lct_encoder_params(s->enc), comm, 0);
    if (rc == LCT_OK && comm) rc = lct_optimizer_set_comm(s->opt, comm);
    if (rc) id_free(s);
    return rc;
}

/* Global batch of step `step`: inputs and data-set indices (with a repeated index). */
static inline void id_batch(int step, float *x, int64_t *idx)
{
    fill(x, ID_B * ID_IN, 300 + (uint64_t)step);
    for (int b = 0; b < ID_B; b++) idx[b] = (step * 7 + b * 5) % ID_N;
    idx[ID_B - 1] = idx[0];
}

/* One step on this rank's slice of the global batch; the loss of the global batch into *loss. */
static inline int id_step(id_run *s, int step, float *loss)
{
    float x[ID_B * ID_IN], f[ID_B * ID_D], df[ID_B * ID_D];
    int64_t idx[ID_B];
    id_batch(step, x, idx);
    size_t bl = ID_B / (size_t)s->P, first = (size_t)s->rank * bl;
    int rc = lct_optimizer_zero_grad(s->opt);
    if (rc == LCT_OK) rc = lct_encoder_forward(s->enc, x + first * ID_IN, bl, f);
    if (rc == LCT_OK) rc = lct_loss_nce_compute(s->loss, f, idx + first, bl, loss, df);
    if (rc == LCT_OK) rc = lct_encoder_backward(s->enc, df, bl, NULL);
    if (rc == LCT_OK) rc = lct_optimizer_step(s->opt);
    if (rc == LCT_OK) rc = lct_bank_update(s->bank, f, idx + first, bl, 0.5f);
    return rc;
}

/* Parameters (flat) and this rank's bank rows, placed at their global rows of bank (N x D). */
static inline int id_state(id_run *s, float *params, size_t *np, float *bank)
{
    size_t first, count;
    *np = params_flat(lct_encoder_params(s->enc), params, ID_MAXP);
    int rc = lct_bank_shard(s->bank, &first, &count, NULL, NULL);
    if (rc == LCT_OK) rc = lct_bank_get_rows(s->bank, first, count, bank + first * ID_D);
    return rc;
}

/* A checkpoint in memory. */
typedef struct {
    unsigned char *data;
    size_t size, cap;
} mem_sink;

static inline int mem_write(void *user, const void *data, size_t size)
{
    mem_sink *m = user;
    if (m->size + size > m->cap) {
        size_t cap = (m->size + size) * 2;
        unsigned char *p = realloc(m->data, cap);
        if (p == NULL) return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->size, data, size);
    m->size += size;
    return 0;
}

static inline int id_save(id_run *s, mem_sink *m)
{
    lct_checkpoint_writer *w = NULL;
    int rc = lct_checkpoint_writer_new(&w, s->rt, NULL);
    if (rc == LCT_OK) rc = lct_checkpoint_add_encoder(w, "encoder", s->enc);
    if (rc == LCT_OK) rc = lct_checkpoint_add_optimizer(w, "optimizer", s->opt);
    if (rc == LCT_OK) rc = lct_checkpoint_add_bank(w, "bank", s->bank);
    if (rc == LCT_OK) rc = lct_checkpoint_add_loss(w, "loss", s->loss);
    if (rc == LCT_OK) rc = lct_checkpoint_add_runtime(w);
    if (rc == LCT_OK) rc = lct_checkpoint_write_cb(w, mem_write, m);
    lct_checkpoint_writer_free(w);
    return rc;
}

static inline int id_load(id_run *s, const mem_sink *m)
{
    lct_checkpoint_reader *r = NULL;
    int rc = lct_checkpoint_reader_open_memory(&r, s->rt, m->data, m->size);
    if (rc == LCT_OK) rc = lct_checkpoint_load_encoder(r, "encoder", s->enc);
    if (rc == LCT_OK) rc = lct_checkpoint_load_optimizer(r, "optimizer", s->opt);
    if (rc == LCT_OK) rc = lct_checkpoint_load_bank(r, "bank", s->bank);
    if (rc == LCT_OK) rc = lct_checkpoint_load_loss(r, "loss", s->loss);
    if (rc == LCT_OK) rc = lct_checkpoint_load_runtime(r, s->rt);
    lct_checkpoint_reader_free(r);
    return rc;
}

/* ---- InvaSpread and CPC: global in-batch negatives ----------------------------------------------- */

#define IS_B 6
#define IS_IN 10
#define IS_D 6
#define CP_B 6
#define CP_L 24  /* input samples per sequence */
#define CP_T 6   /* latent steps (conv1d k4 s4) */
#define CP_D 4
#define CP_H 3

typedef struct {
    lct_runtime *rt;
    lct_encoder *enc, *ar;
    lct_loss *loss;
    lct_optimizer *opt;
    int rank, P, cpc;
} ib_run;

static inline void ib_free(ib_run *s)
{
    dist_free_handles(s->opt, s->loss, NULL, s->ar, s->enc);
    memset(s, 0, sizeof *s);
}

/* cpc 0: InvaSpread (variant: its form); cpc 1: CPC with InfoNCE (variant: its negatives mode). */
static inline int ib_setup(ib_run *s, lct_runtime *rt, lct_comm *comm, int cpc, int variant)
{
    memset(s, 0, sizeof *s);
    s->rt = rt;
    s->cpc = cpc;
    s->rank = comm ? lct_comm_rank(comm) : 0;
    s->P = comm ? lct_comm_size(comm) : 1;
    int rc;
    lct_optimizer_options oo;
    lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION);
    if (!cpc) {
        rc = lct_encoder_new_from_spec(&s->enc, rt, "in 10; linear 12; relu; linear 6; l2norm", NULL);
        lct_loss_invaspread_options lo;
        lct_loss_invaspread_options_init(&lo, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
        lo.form = variant;
        if (rc == LCT_OK) rc = lct_loss_new_invaspread(&s->loss, rt, IS_D, &lo);
        oo.lr = 0.1;
        oo.momentum = 0.9;
    } else {
        rc = lct_encoder_new_from_spec(&s->enc, rt, "in 1x24; conv1d 4 k4 s4; relu; transpose", NULL);
        if (rc == LCT_OK) rc = lct_encoder_new_from_spec(&s->ar, rt, "in 6x4; gru 3", NULL);
        lct_loss_infonce_options lo;
        lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION);
        lo.steps = 2;
        lo.negatives = variant;
        if (rc == LCT_OK) rc = lct_loss_new_infonce(&s->loss, rt, CP_T, CP_D, CP_H, &lo);
        oo.kind = LCT_OPTIMIZER_ADAM;
        oo.lr = 2e-3;
    }
    if (rc == LCT_OK && comm) rc = lct_loss_set_comm(s->loss, comm);
    if (rc == LCT_OK) rc = lct_optimizer_new(&s->opt, rt, &oo);
    lct_params *sets[3] = {s->enc ? lct_encoder_params(s->enc) : NULL, s->ar ? lct_encoder_params(s->ar) : NULL,
                           cpc && s->loss ? lct_loss_params(s->loss) : NULL};
    for (int i = 0; i < 3 && rc == LCT_OK; i++) {
        if (!sets[i]) continue;
        rc = lct_optimizer_attach(s->opt, sets[i]);
        if (rc == LCT_OK && comm) rc = lct_params_broadcast(sets[i], comm, 0);
    }
    if (rc == LCT_OK && comm) rc = lct_optimizer_set_comm(s->opt, comm);
    if (rc) ib_free(s);
    return rc;
}

static inline int ib_step(ib_run *s, int step, float *loss)
{
    size_t bl = (s->cpc ? CP_B : IS_B) / (size_t)s->P, first = (size_t)s->rank * bl;
    int rc = lct_optimizer_zero_grad(s->opt);
    if (!s->cpc) {
        float x1[IS_B * IS_IN], x2[IS_B * IS_IN], x[2 * IS_B * IS_IN], f[2 * IS_B * IS_D], df[2 * IS_B * IS_D];
        fill(x1, IS_B * IS_IN, 600 + (uint64_t)step);
        fill(x2, IS_B * IS_IN, 700 + (uint64_t)step);
        for (size_t i = 0; i < IS_B * IS_IN; i++) x2[i] = x1[i] + 0.3f * x2[i];
        /* this rank's samples: first views, then second views */
        memcpy(x, x1 + first * IS_IN, bl * IS_IN * sizeof *x);
        memcpy(x + bl * IS_IN, x2 + first * IS_IN, bl * IS_IN * sizeof *x);
        if (rc == LCT_OK) rc = lct_encoder_forward(s->enc, x, 2 * bl, f);
        if (rc == LCT_OK) rc = lct_loss_invaspread_compute(s->loss, f, bl, loss, df);
        if (rc == LCT_OK) rc = lct_encoder_backward(s->enc, df, 2 * bl, NULL);
    } else {
        float x[CP_B * CP_L], z[CP_B * CP_T * CP_D], c[CP_B * CP_T * CP_H], dz[CP_B * CP_T * CP_D],
            dz2[CP_B * CP_T * CP_D], dc[CP_B * CP_T * CP_H];
        fill(x, CP_B * CP_L, 800 + (uint64_t)step);
        if (rc == LCT_OK) rc = lct_encoder_forward(s->enc, x + first * CP_L, bl, z);
        if (rc == LCT_OK) rc = lct_encoder_forward(s->ar, z, bl, c);
        if (rc == LCT_OK) rc = lct_loss_infonce_compute(s->loss, z, c, bl, loss, dz, dc, NULL);
        if (rc == LCT_OK) rc = lct_encoder_backward(s->ar, dc, bl, dz2);
        for (size_t i = 0; i < bl * CP_T * CP_D; i++) dz[i] += dz2[i];
        if (rc == LCT_OK) rc = lct_encoder_backward(s->enc, dz, bl, NULL);
    }
    if (rc == LCT_OK) rc = lct_optimizer_step(s->opt);
    return rc;
}

/* Every trainable set, flat: encoder, context network, loss. */
static inline size_t ib_params(ib_run *s, float *out, size_t cap)
{
    size_t n = params_flat(lct_encoder_params(s->enc), out, cap);
    if (s->ar) n += params_flat(lct_encoder_params(s->ar), out + n, cap - n);
    if (s->cpc) n += params_flat(lct_loss_params(s->loss), out + n, cap - n);
    return n;
}

#endif
