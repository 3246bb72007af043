/*
 * Small training loops of the five methods (InstDisc NCE, non-parametric softmax, InvaSpread,
 * CPC, CMC with three views), split into the calls of one step, and snapshots of every piece of
 * state the calls may change. Shared by the reliability and thread tests.
 */
#ifndef LCT_TRAIN_WORLD_H
#define LCT_TRAIN_WORLD_H

#include "testutil.h"

#include "bank/bank.h"

#define MAX_H 4

/* ---- every handle of one method's training loop ------------------------------------------ */

typedef struct world {
    int method;
    lct_runtime *rt;
    lct_augmenter *aug;
    lct_encoder *enc[MAX_H];
    size_t n_enc;
    lct_bank *bank[MAX_H];
    size_t n_bank;
    lct_loss *loss;
    lct_optimizer *opt;
    /* buffers of the step */
    uint8_t *images;
    float *signals;
    float *x, *f, *f2, *df, *df2, *c, *dc, *dz2;
    float loss_value[2];
    int step_no;
} world;

enum { M_NCE, M_NPSOFTMAX, M_INVASPREAD, M_CPC, M_CMC, N_METHODS };
static const char *method_name[N_METHODS] = {"InstDisc NCE", "non-parametric softmax", "InvaSpread", "CPC InfoNCE",
                                             "CMC"};

/* Sizes of the small problems. */
enum { B = 4, IMG_C = 3, IMG_H = 8, IMG_W = 8, DIM = 8, N_ROWS = 16, VIEWS = 3 };
enum { SIG_IN = 64, SIG_OUT = 48, CPC_T = 12, CPC_D = 6, CPC_H = 5, CPC_B = 3 };
static const int64_t batch_idx[2][B] = {{1, 5, 9, 5}, {2, 14, 0, 7}};

static void must(int rc, const char *what)
{
    ck_assert_msg(rc == LCT_OK, "%s failed: %d %s", what, rc, lct_error_last());
}

static void world_build(world *w, lct_runtime *rt, int method)
{
    memset(w, 0, sizeof *w);
    w->method = method;
    w->rt = rt;
    lct_augmenter_options ao;
    must(lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION), "aug options");
    if (method == M_CPC) {
        ao.input = LCT_AUG_SIGNAL_F32, ao.channels = 1, ao.height = 1, ao.width = SIG_IN, ao.out_width = SIG_OUT;
        must(lct_augmenter_new(&w->aug, rt, &ao), "augmenter");
        must(lct_augmenter_preset(w->aug, LCT_AUG_PRESET_CPC), "preset");
        must(lct_augmenter_add_gaussian_noise(w->aug, 0.5, 0.01), "noise");
    } else {
        ao.channels = IMG_C, ao.height = IMG_H, ao.width = IMG_W;
        must(lct_augmenter_new(&w->aug, rt, &ao), "augmenter");
        must(lct_augmenter_preset(w->aug, method == M_CMC ? LCT_AUG_PRESET_CMC : LCT_AUG_PRESET_INSTDISC), "preset");
    }
    lct_optimizer_options oo;
    must(lct_optimizer_options_init(&oo, LCT_OPTIMIZER_OPTIONS_VERSION), "opt options");
    if (method == M_CPC) {
        oo.kind = LCT_OPTIMIZER_ADAM, oo.lr = 2e-4;
    } else {
        oo.lr = 0.03, oo.momentum = 0.9, oo.weight_decay = 5e-4;
    }
    must(lct_optimizer_new(&w->opt, rt, &oo), "optimizer");

    const char *image_spec = "in 3x8x8; conv2d 4 k3 p1; bn; relu; maxpool 2; flatten; linear 8; dropout 0.1; l2norm";
    lct_bank_options bo;
    must(lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION), "bank options");
    bo.normalize = 1;
    switch (method) {
    case M_NCE:
    case M_NPSOFTMAX:
        must(lct_encoder_new_from_spec(&w->enc[0], rt, image_spec, NULL), "encoder");
        w->n_enc = 1;
        must(lct_bank_new(&w->bank[0], rt, N_ROWS, DIM, &bo), "bank");
        w->n_bank = 1;
        if (method == M_NCE) {
            lct_loss_nce_options lo;
            must(lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION), "nce options");
            lo.k = 6, lo.sample_mode = LCT_BANK_SAMPLE_SHARED_EXCLUDE;
            must(lct_loss_new_nce(&w->loss, rt, w->bank[0], &lo), "nce");
        } else {
            lct_loss_npsoftmax_options lo;
            must(lct_loss_npsoftmax_options_init(&lo, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION), "np options");
            lo.chunk = 6; /* three chunks over 16 rows */
            must(lct_loss_new_npsoftmax(&w->loss, rt, w->bank[0], &lo), "npsoftmax");
        }
        break;
    case M_INVASPREAD:
        must(lct_encoder_new_from_spec(&w->enc[0], rt, image_spec, NULL), "encoder");
        w->n_enc = 1;
        must(lct_loss_new_invaspread(&w->loss, rt, DIM, NULL), "invaspread");
        break;
    case M_CPC: {
        must(lct_encoder_new_from_spec(&w->enc[0], rt,
                                       "in 1x48; conv1d 6 k4 s2 p1; relu; conv1d 6 k4 s2 p1; relu; transpose", NULL),
             "g_enc");
        must(lct_encoder_new_from_spec(&w->enc[1], rt, "in 12x6; gru 5", NULL), "g_ar");
        w->n_enc = 2;
        lct_loss_infonce_options lo;
        must(lct_loss_infonce_options_init(&lo, LCT_LOSS_INFONCE_OPTIONS_VERSION), "infonce options");
        lo.steps = 3;
        must(lct_loss_new_infonce(&w->loss, rt, CPC_T, CPC_D, CPC_H, &lo), "infonce");
        must(lct_optimizer_attach(w->opt, lct_loss_params(w->loss)), "attach W_k");
        break;
    }
    default:
        for (size_t v = 0; v < VIEWS; v++) {
            must(lct_encoder_new_from_spec(&w->enc[v], rt,
                                           "in 1x8x8; conv2d 3 k3 p1; bn; relu; flatten; linear 8; l2norm", NULL),
                 "view encoder");
            must(lct_bank_new(&w->bank[v], rt, N_ROWS, DIM, &bo), "view bank");
        }
        w->n_enc = w->n_bank = VIEWS;
        lct_loss_cmc_options lo;
        must(lct_loss_cmc_options_init(&lo, LCT_LOSS_CMC_OPTIONS_VERSION), "cmc options");
        lo.graph = LCT_CMC_FULL, lo.k = 5;
        must(lct_loss_new_cmc(&w->loss, rt, VIEWS, DIM, w->bank, &lo), "cmc");
        break;
    }
    for (size_t i = 0; i < w->n_enc; i++) must(lct_optimizer_attach(w->opt, lct_encoder_params(w->enc[i])), "attach");

    /* host buffers (plain malloc: not the runtime's) */
    size_t big = 4096;
    w->x = calloc(big, sizeof(float)), w->f = calloc(big, sizeof(float)), w->f2 = calloc(big, sizeof(float));
    w->df = calloc(big, sizeof(float)), w->df2 = calloc(big, sizeof(float)), w->c = calloc(big, sizeof(float));
    w->dc = calloc(big, sizeof(float)), w->dz2 = calloc(big, sizeof(float));
    w->images = malloc(B * IMG_C * IMG_H * IMG_W);
    w->signals = malloc(CPC_B * SIG_IN * sizeof(float));
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)B * IMG_C * IMG_H * IMG_W; i++)
        w->images[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 24);
    for (size_t i = 0; i < (size_t)CPC_B * SIG_IN; i++)
        w->signals[i] = (float)sin(0.3 * (double)i) + 0.1f * (float)(i % 5);
}

static void world_free(world *w)
{
    lct_loss_free(w->loss);
    lct_optimizer_free(w->opt);
    for (size_t i = 0; i < w->n_bank; i++) lct_bank_free(w->bank[i]);
    for (size_t i = 0; i < w->n_enc; i++) lct_encoder_free(w->enc[i]);
    lct_augmenter_free(w->aug);
    free(w->x), free(w->f), free(w->f2), free(w->df), free(w->df2), free(w->c), free(w->dc), free(w->dz2);
    free(w->images), free(w->signals);
}

/* ---- the step, call by call ----------------------------------------------------------------- */

/* Calls of each method's step; the bank update comes before the optimiser step, which allocates
 * nothing, so a failure never leaves a step half-applied to parameters and bank. */
static const int n_calls[N_METHODS] = {7, 7, 7, 9, 13};

static float *view_of(world *w, size_t v)
{
    return w->f + v * B * DIM;
}

static int call(world *w, int j)
{
    const int64_t *idx = batch_idx[w->step_no];
    const size_t img = IMG_C * IMG_H * IMG_W;
    float *loss_out = &w->loss_value[w->step_no];
    switch (w->method) {
    case M_NCE:
    case M_NPSOFTMAX:
        switch (j) {
        case 0: return lct_augmenter_apply(w->aug, w->images, B, 1, w->x);
        case 1: return lct_optimizer_zero_grad(w->opt);
        case 2: return lct_encoder_forward(w->enc[0], w->x, B, w->f);
        case 3:
            return w->method == M_NCE ? lct_loss_nce_compute(w->loss, w->f, idx, B, loss_out, w->df)
                                      : lct_loss_npsoftmax_compute(w->loss, w->f, idx, B, loss_out, w->df);
        case 4: return lct_encoder_backward(w->enc[0], w->df, B, NULL);
        case 5: return lct_bank_update(w->bank[0], w->f, idx, B, 0.5f);
        default: return lct_optimizer_step(w->opt);
        }
    case M_INVASPREAD:
        switch (j) {
        case 0: return lct_augmenter_apply(w->aug, w->images, B, 2, w->x); /* sample-major: b0v0 b0v1 b1v0 ... */
        case 1: return lct_optimizer_zero_grad(w->opt);
        case 2: {
            int rc = lct_encoder_forward(w->enc[0], w->x, 2 * B, w->f2);
            if (rc) return rc;
            for (size_t b = 0; b < B; b++) /* rows 0..B-1 the first views, B..2B-1 the second */
                for (size_t v = 0; v < 2; v++) memcpy(w->f + (v * B + b) * DIM, w->f2 + (b * 2 + v) * DIM, DIM * 4);
            return LCT_OK;
        }
        case 3: {
            int rc = lct_loss_invaspread_compute(w->loss, w->f, B, loss_out, w->df);
            if (rc) return rc;
            for (size_t b = 0; b < B; b++)
                for (size_t v = 0; v < 2; v++) memcpy(w->df2 + (b * 2 + v) * DIM, w->df + (v * B + b) * DIM, DIM * 4);
            return LCT_OK;
        }
        case 4: return lct_encoder_backward(w->enc[0], w->df2, 2 * B, NULL);
        case 5: return LCT_OK; /* no bank */
        default: return lct_optimizer_step(w->opt);
        }
    case M_CPC:
        switch (j) {
        case 0: return lct_augmenter_apply(w->aug, w->signals, CPC_B, 1, w->x);
        case 1: return lct_optimizer_zero_grad(w->opt);
        case 2: return lct_encoder_forward(w->enc[0], w->x, CPC_B, w->f);        /* z: B x T x D */
        case 3: return lct_encoder_forward(w->enc[1], w->f, CPC_B, w->c);        /* c: B x T x H */
        case 4: return lct_loss_infonce_compute(w->loss, w->f, w->c, CPC_B, loss_out, w->df, w->dc, NULL);
        case 5: return lct_encoder_backward(w->enc[1], w->dc, CPC_B, w->dz2);    /* through g_ar into z */
        case 6:
            for (size_t i = 0; i < (size_t)CPC_B * CPC_T * CPC_D; i++) w->df[i] += w->dz2[i];
            return LCT_OK;
        case 7: return lct_encoder_backward(w->enc[0], w->df, CPC_B, NULL);
        default: return lct_optimizer_step(w->opt);
        }
    default: /* CMC: the three channels of the augmented image are the three views */
        if (j == 0) return lct_augmenter_apply(w->aug, w->images, B, 1, w->f2);
        if (j == 1) {
            for (size_t b = 0; b < B; b++)
                for (size_t v = 0; v < VIEWS; v++)
                    memcpy(w->x + (v * B + b) * IMG_H * IMG_W, w->f2 + b * img + v * IMG_H * IMG_W, IMG_H * IMG_W * 4);
            return lct_optimizer_zero_grad(w->opt);
        }
        if (j >= 2 && j < 2 + VIEWS)
            return lct_encoder_forward(w->enc[j - 2], w->x + (size_t)(j - 2) * B * IMG_H * IMG_W, B,
                                       view_of(w, (size_t)j - 2));
        if (j == 2 + VIEWS) {
            const float *fv[VIEWS];
            float *dfv[VIEWS];
            for (size_t v = 0; v < VIEWS; v++) fv[v] = view_of(w, v), dfv[v] = w->df + v * B * DIM;
            return lct_loss_cmc_compute(w->loss, fv, idx, B, loss_out, dfv);
        }
        if (j >= 3 + VIEWS && j < 3 + 2 * VIEWS) {
            size_t v = (size_t)j - 3 - VIEWS;
            return lct_encoder_backward(w->enc[v], w->df + v * B * DIM, B, NULL);
        }
        if (j >= 3 + 2 * VIEWS && j < 3 + 3 * VIEWS) {
            size_t v = (size_t)j - 3 - 2 * VIEWS;
            return lct_bank_update(w->bank[v], view_of(w, v), idx, B, 0.5f);
        }
        return lct_optimizer_step(w->opt);
    }
}

/* ---- snapshots of the whole state ------------------------------------------------------------ */

typedef struct snap {
    unsigned char *d;
    size_t n, cap;
    size_t model_end; /* bytes [0, model_end): parameters, bank rows, optimiser step count */
} snap;

static void put(snap *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2 + 256;
        s->d = realloc(s->d, s->cap);
        ck_assert_ptr_nonnull(s->d);
    }
    memcpy(s->d + s->n, p, n);
    s->n += n;
}

/* what: 0 the values of trainable tensors, 1 the values of state tensors, 2 the gradients. */
static void put_params(snap *s, const lct_params *p, int what)
{
    int count = lct_params_count(p);
    ck_assert_int_ge(count, 0);
    for (int i = 0; i < count; i++) {
        size_t n;
        int trainable;
        must(lct_params_info(p, (size_t)i, NULL, &n, &trainable), "params info");
        float *buf = malloc((n ? n : 1) * sizeof(float));
        if (what == 2 && trainable) {
            must(lct_params_get_grad(p, (size_t)i, buf, n), "params grad");
            put(s, buf, n * sizeof(float));
        } else if (what == (trainable ? 0 : 1)) {
            must(lct_params_get(p, (size_t)i, buf, n), "params get");
            put(s, buf, n * sizeof(float));
        }
        free(buf);
    }
}

static void take(snap *s, world *w, int with_memory)
{
    s->n = 0;
    /* model: trainable parameters, bank rows, optimiser step count */
    for (size_t i = 0; i < w->n_enc; i++) put_params(s, lct_encoder_params(w->enc[i]), 0);
    put_params(s, lct_loss_params(w->loss), 0);
    float rows[N_ROWS * DIM];
    for (size_t i = 0; i < w->n_bank; i++) {
        must(lct_bank_get_rows(w->bank[i], 0, N_ROWS, rows), "bank rows");
        put(s, rows, sizeof rows);
    }
    uint64_t u;
    must(lct_optimizer_step_count(w->opt, &u), "step count");
    put(s, &u, sizeof u);
    s->model_end = s->n;
    /* everything else a call may change */
    for (size_t i = 0; i < w->n_enc; i++) {
        put_params(s, lct_encoder_params(w->enc[i]), 1);
        put_params(s, lct_encoder_params(w->enc[i]), 2);
        must(lct_encoder_step(w->enc[i], &u), "encoder step");
        put(s, &u, sizeof u);
    }
    put_params(s, lct_loss_params(w->loss), 2);
    put_params(s, lct_optimizer_state(w->opt), 1);
    for (size_t i = 0; i < w->n_bank; i++) {
        uint64_t st, calls;
        lct__bank_rng_state(w->bank[i], &st, &calls);
        put(s, &st, sizeof st), put(s, &calls, sizeof calls);
        double log_z = 0.0;
        int32_t known = 0;
        if (w->method == M_NCE || w->method == M_CMC) must(lct_loss_get_log_z(w->loss, i, &log_z, &known), "log z");
        put(s, &log_z, sizeof log_z), put(s, &known, sizeof known);
    }
    must(lct_augmenter_get_counter(w->aug, &u), "aug counter");
    put(s, &u, sizeof u);
    if (with_memory) {
        size_t cur;
        must(lct_runtime_memory(w->rt, &cur, NULL), "memory");
        put(s, &cur, sizeof cur);
    }
}

/* First differing byte (for messages), or n if none. */
static size_t first_diff(const snap *a, const snap *b)
{
    size_t n = a->n < b->n ? a->n : b->n, i = 0;
    while (i < n && a->d[i] == b->d[i]) i++;
    return i;
}

static int same(const snap *a, const snap *b, size_t n)
{
    return a->n >= n && b->n >= n && memcmp(a->d, b->d, n) == 0;
}

#endif
