/*
 * Fuzz target for the option structs and parameter setters: the input is decoded into a
 * sequence of calls on a small set of handles (optimiser, losses, encoder, augmenters, bank)
 * and of constructors with option structs filled from the input, with training steps in
 * between. Every call must return a status (no crash, no leak); a setter that succeeds must
 * leave a value inside its bounds; a loss that succeeds must be finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_budget.h"
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A double that is often interesting: edges, specials, small integers, or raw bits. */
static double dbl(rd *r)
{
    static const double special[] = {0.0, 1.0, -1.0, 0.5, 0.07, 0.1, 0.9, 0.999, 1e-4, 1e4, 1e6, 1e7, -1e-300,
                                     1e-300, 1e300, 2.0, 3.0, 9007199254740992.0, 1e-8, 0.99999};
    uint8_t sel = u8(r);
    if (sel < 160) return special[sel % (sizeof special / sizeof *special)];
    if (sel < 200) return (double)(int8_t)u8(r);
    if (sel == 200) return NAN;
    if (sel == 201) return INFINITY;
    if (sel == 202) return -INFINITY;
    uint64_t bits = u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

typedef struct world {
    lct_runtime *rt;
    lct_encoder *enc;
    lct_optimizer *opt;
    lct_bank *bank, *bank2;
    lct_loss *nce, *cmc, *infonce, *inva;
    lct_augmenter *aug, *sig;
} world;

enum { B = 4, D = 4, N = 8 };

static void check_loss_param(lct_loss *l, int param, int rc, double v)
{
    if (rc != LCT_OK) {
        if (rc >= 0 || lct_error_last()[0] == '\0') abort();
        return;
    }
    double lo, hi, got;
    if (lct_loss_param_bounds(l, param, &lo, &hi) != LCT_OK || lct_loss_get_param(l, param, &got) != LCT_OK) abort();
    if (!(got >= lo && got <= hi) || got != v) abort();
}

static void step(world *w)
{
    uint8_t img[B * 16];
    for (int i = 0; i < B * 16; i++) img[i] = (uint8_t)(i * 29);
    float x[B * 16], f[B * D], df[B * D], loss;
    int64_t idx[B] = {0, 3, 5, 3};
    if (lct_augmenter_apply(w->aug, img, B, 1, x) != LCT_OK) return;
    if (lct_encoder_forward(w->enc, x, B, f) != LCT_OK) return;
    int rc = lct_loss_nce_compute(w->nce, f, idx, B, &loss, df);
    if (rc != LCT_OK) return;
    if (!isfinite(loss)) abort();
    for (int i = 0; i < B * D; i++)
        if (!isfinite(df[i])) abort();
    if (lct_optimizer_zero_grad(w->opt) != LCT_OK) abort();
    if (lct_encoder_backward(w->enc, df, B, NULL) != LCT_OK) return;
    if (lct_optimizer_step(w->opt) != LCT_OK) return;
    lct_bank_update(w->bank, f, idx, B, 0.5f);
    float g[B * D];
    const float *views[2] = {f, f};
    float *grads[2] = {g, df};
    rc = lct_loss_cmc_compute(w->cmc, views, idx, B, &loss, grads);
    if (rc == LCT_OK && !isfinite(loss)) abort();
    float *xx = malloc(2 * B * D * sizeof(float)), *dxx = malloc(2 * B * D * sizeof(float));
    if (xx && dxx) {
        memcpy(xx, f, sizeof f);
        memcpy(xx + B * D, f, sizeof f);
        rc = lct_loss_invaspread_compute(w->inva, xx, B, &loss, dxx);
        if (rc == LCT_OK && !isfinite(loss)) abort();
    }
    free(xx), free(dxx);
    float sig_in[B * 12], sig_out[B * 8];
    for (int i = 0; i < B * 12; i++) sig_in[i] = (float)i / 7.0f - 3.0f;
    lct_augmenter_apply(w->sig, sig_in, B, 1, sig_out);
}

static int build(world *w)
{
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.channels = 1, ao.height = 4, ao.width = 4;
    if (lct_augmenter_new(&w->aug, w->rt, &ao) != LCT_OK) return -1;
    ao.input = LCT_AUG_SIGNAL_F32, ao.channels = 1, ao.height = 1, ao.width = 12, ao.out_width = 8;
    if (lct_augmenter_new(&w->sig, w->rt, &ao) != LCT_OK) return -1;
    const char *spec = "in 1x4x4; flatten; linear 6; bn; relu; dropout 0.25; linear 4; l2norm";
    if (lct_encoder_new_from_spec(&w->enc, w->rt, spec, NULL) != LCT_OK)
        return -1;
    if (lct_optimizer_new(&w->opt, w->rt, NULL) != LCT_OK) return -1;
    if (lct_optimizer_attach(w->opt, lct_encoder_params(w->enc)) != LCT_OK) return -1;
    if (lct_bank_new(&w->bank, w->rt, N, D, NULL) != LCT_OK) return -1;
    if (lct_bank_new(&w->bank2, w->rt, N, D, NULL) != LCT_OK) return -1;
    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, LCT_LOSS_NCE_OPTIONS_VERSION);
    no.k = 5;
    if (lct_loss_new_nce(&w->nce, w->rt, w->bank, &no) != LCT_OK) return -1;
    lct_loss_cmc_options co;
    lct_loss_cmc_options_init(&co, LCT_LOSS_CMC_OPTIONS_VERSION);
    co.k = 5;
    lct_bank *banks[2] = {w->bank, w->bank2};
    if (lct_loss_new_cmc(&w->cmc, w->rt, 2, D, banks, &co) != LCT_OK) return -1;
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    io.steps = 2;
    if (lct_loss_new_infonce(&w->infonce, w->rt, 4, 3, 2, &io) != LCT_OK) return -1;
    if (lct_loss_new_invaspread(&w->inva, w->rt, D, NULL) != LCT_OK) return -1;
    return 0;
}

static void destroy(world *w)
{
    lct_loss_free(w->inva);
    lct_loss_free(w->infonce);
    lct_loss_free(w->cmc);
    lct_loss_free(w->nce);
    lct_bank_free(w->bank2);
    lct_bank_free(w->bank);
    lct_optimizer_free(w->opt);
    lct_encoder_free(w->enc);
    lct_augmenter_free(w->sig);
    lct_augmenter_free(w->aug);
}

/* Constructors fed option structs whose every field comes from the input. */
static void construct(world *w, rd *r)
{
    uint32_t version = u8(r) % 4; /* 0 and 2 are unknown versions */
    switch (u8(r) % 7) {
    case 0: {
        lct_optimizer_options o;
        memset(&o, 0, sizeof o);
        uint64_t ms[8];
        for (int i = 0; i < 8; i++) ms[i] = u8(r);
        o.version = version, o.kind = (int8_t)u8(r), o.lr = dbl(r), o.momentum = dbl(r), o.dampening = dbl(r);
        o.nesterov = (int8_t)u8(r), o.weight_decay = dbl(r), o.decay_all = (int8_t)u8(r), o.beta1 = dbl(r);
        o.beta2 = dbl(r), o.eps = dbl(r), o.schedule = (int8_t)u8(r), o.warmup_steps = u64(r);
        o.total_steps = u64(r), o.min_lr = dbl(r), o.gamma = dbl(r);
        o.n_milestones = u8(r) % 10;
        o.milestones = o.n_milestones ? ms : NULL;
        if (o.n_milestones > 8) o.milestones = NULL;
        lct_optimizer *opt = NULL;
        if (lct_optimizer_new(&opt, w->rt, &o) == LCT_OK) {
            double lr;
            if (lct_optimizer_attach(opt, lct_encoder_params(w->enc)) != LCT_OK) abort();
            if (lct_optimizer_lr(opt, &lr) != LCT_OK || !isfinite(lr) || lr < 0) abort();
        } else if (opt != NULL) {
            abort();
        }
        lct_optimizer_free(opt);
        break;
    }
    case 1: {
        lct_bank_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.storage = (int8_t)u8(r), o.init = (int8_t)u8(r), o.normalize = (int8_t)u8(r);
        lct_bank *b = NULL;
        size_t n = u8(r), d = u8(r);
        if (lct_bank_new(&b, w->rt, n, d, &o) != LCT_OK && b != NULL) abort();
        lct_bank_free(b);
        break;
    }
    case 2: {
        lct_loss_nce_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.k = u32(r) % (1u << 25), o.sample_mode = (int8_t)u8(r), o.z_policy = (int8_t)u8(r);
        lct_loss *l = NULL;
        if (lct_loss_new_nce(&l, w->rt, w->bank, &o) != LCT_OK && l != NULL) abort();
        lct_loss_free(l);
        break;
    }
    case 3: {
        lct_loss_cmc_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.graph = (int8_t)u8(r), o.objective = (int8_t)u8(r), o.k = u32(r) % 64;
        o.sample_mode = (int8_t)u8(r), o.z_policy = (int8_t)u8(r);
        lct_bank *banks[4] = {w->bank, w->bank2, w->bank, w->bank2}; /* views go up to 4 */
        size_t views = u8(r) % 5;
        lct_loss *l = NULL;
        if (lct_loss_new_cmc(&l, w->rt, views, D, (u8(r) & 1) ? banks : NULL, &o) != LCT_OK && l != NULL) abort();
        lct_loss_free(l);
        break;
    }
    case 4: {
        lct_loss_infonce_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.steps = u8(r), o.negatives = (int8_t)u8(r);
        lct_loss *l = NULL;
        if (lct_loss_new_infonce(&l, w->rt, u8(r), u8(r) % 16, u8(r) % 16, &o) != LCT_OK && l != NULL) abort();
        lct_loss_free(l);
        lct_loss_npsoftmax_options p;
        memset(&p, 0, sizeof p);
        p.version = version, p.chunk = u32(r);
        if (lct_loss_new_npsoftmax(&l, w->rt, w->bank, &p) != LCT_OK && l != NULL) abort();
        lct_loss_free(l);
        lct_loss_invaspread_options q;
        memset(&q, 0, sizeof q);
        q.version = version, q.form = (int8_t)u8(r);
        if (lct_loss_new_invaspread(&l, w->rt, u32(r) % 100000, &q) != LCT_OK && l != NULL) abort();
        lct_loss_free(l);
        break;
    }
    case 5: {
        lct_augmenter_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.input = (int8_t)u8(r), o.channels = u8(r), o.height = u8(r), o.width = u8(r);
        o.out_height = u8(r), o.out_width = u8(r);
        lct_augmenter *a = NULL;
        if (lct_augmenter_new(&a, w->rt, &o) != LCT_OK && a != NULL) abort();
        lct_augmenter_free(a);
        break;
    }
    default: {
        lct_encoder_options o;
        memset(&o, 0, sizeof o);
        o.version = version, o.check_finite = u8(r);
        uint32_t shape[4] = {u8(r), u8(r), u8(r), u8(r)};
        lct_encoder *e = NULL;
        if (lct_encoder_new(&e, w->rt, shape, u8(r) % 5, &o) != LCT_OK && e != NULL) abort();
        lct_encoder_free(e);
        lct_checkpoint_options c;
        memset(&c, 0, sizeof c);
        c.version = version, c.level = (int8_t)u8(r);
        lct_checkpoint_writer *wr = NULL;
        if (lct_checkpoint_writer_new(&wr, w->rt, &c) != LCT_OK && wr != NULL) abort();
        lct_checkpoint_writer_free(wr);
        lct_bank_update_options u;
        memset(&u, 0, sizeof u);
        u.version = version, u.rule = (int8_t)u8(r), u.momentum = (float)dbl(r), u.lambda = (float)dbl(r);
        u.normalize = (int8_t)u8(r);
        float f[2 * D];
        for (int i = 0; i < 2 * D; i++) f[i] = (float)i / 5.0f - 0.5f;
        int64_t idx[2] = {(int64_t)u8(r) - 2, 1};
        lct_bank_update_ex(w->bank, f, idx, 2, (u8(r) & 1) ? &u : NULL);
        break;
    }
    }
}

static void augment_op(lct_augmenter *a, rd *r)
{
    int before = lct_augmenter_op_count(a), rc;
    double p = dbl(r), x = dbl(r), y = dbl(r), z = dbl(r), t = dbl(r);
    switch (u8(r) % 16) {
    case 0: rc = lct_augmenter_add_random_resized_crop(a, p, x, y, z, t); break;
    case 1: rc = lct_augmenter_add_hflip(a, p); break;
    case 2: rc = lct_augmenter_add_color_jitter(a, p, x, y, z, t); break;
    case 3: rc = lct_augmenter_add_grayscale(a, p); break;
    case 4: rc = lct_augmenter_add_gaussian_blur(a, p, x, y); break;
    case 5: rc = lct_augmenter_add_gaussian_noise(a, p, x); break;
    case 6: {
        float mean[2] = {(float)x, (float)y}, std[2] = {(float)z, (float)t};
        rc = lct_augmenter_add_normalize(a, mean, std, u8(r) % 3);
        break;
    }
    case 7: rc = lct_augmenter_add_window_crop(a, p); break;
    case 8: rc = lct_augmenter_add_gain(a, p, x, y); break;
    case 9: rc = lct_augmenter_add_time_mask(a, p, u32(r) % 16); break;
    case 10: rc = lct_augmenter_add_time_shift(a, p, u32(r) % 16); break;
    case 11: rc = lct_augmenter_preset(a, (int8_t)u8(r)); break;
    case 12: rc = lct_augmenter_clear(a); break;
    case 13: rc = lct_augmenter_set_counter(a, u64(r)); break;
    default: return;
    }
    if (rc != LCT_OK && (rc >= 0 || lct_augmenter_op_count(a) != before)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048) return 0;
    rd r = {data, size};
    fuzz_budget budget;
    world w;
    memset(&w, 0, sizeof w);
    w.rt = fuzz_budget_runtime(&budget, 32u << 20, 1);
    if (build(&w) != 0) abort();
    for (int ops = 0; r.n > 0 && ops < 64; ops++) {
        uint8_t op = u8(&r);
        switch (op % 12) {
        case 0: {
            int param = (int)(u8(&r) % 14) - 1;
            double v = dbl(&r), before = 0, lo, hi, got;
            int known = lct_optimizer_get_param(w.opt, param, &before) == LCT_OK;
            int rc = lct_optimizer_set_param(w.opt, param, v);
            if (rc == LCT_OK) {
                if (lct_optimizer_param_bounds(param, &lo, &hi) != LCT_OK ||
                    lct_optimizer_get_param(w.opt, param, &got) != LCT_OK)
                    abort();
                if (!(got >= lo && got <= hi)) abort();
            } else if (known && (lct_optimizer_get_param(w.opt, param, &got) != LCT_OK || got != before)) {
                abort(); /* nothing changes on failure */
            }
            break;
        }
        case 1: {
            uint64_t ms[72];
            size_t n = u8(&r) % 72;
            uint64_t acc = 0;
            for (size_t i = 0; i < n; i++) ms[i] = (acc += (uint64_t)u8(&r) - 8);
            lct_optimizer_set_milestones(w.opt, (u8(&r) & 7) ? ms : NULL, n);
            double lr;
            if (lct_optimizer_lr(w.opt, &lr) != LCT_OK || !isfinite(lr)) abort();
            break;
        }
        case 2: {
            lct_loss *ls[4] = {w.nce, w.cmc, w.infonce, w.inva};
            lct_loss *l = ls[u8(&r) % 4];
            int param = (int)(u8(&r) % 5) - 1;
            double v = dbl(&r);
            check_loss_param(l, param, lct_loss_set_param(l, param, v), v);
            break;
        }
        case 3: {
            lct_loss *l = (u8(&r) & 1) ? w.nce : w.cmc;
            size_t view = u8(&r) % 3;
            double v = dbl(&r), got;
            int32_t known;
            if (lct_loss_set_log_z(l, view, v) == LCT_OK &&
                (lct_loss_get_log_z(l, view, &got, &known) != LCT_OK || got != v || known != 1))
                abort();
            if (u8(&r) & 1) lct_loss_reset_z(l);
            break;
        }
        case 4:
            lct_encoder_set_mode(w.enc, (int)(u8(&r) % 5) - 1);
            lct_encoder_set_step(w.enc, u64(&r));
            break;
        case 5: augment_op(w.aug, &r); break;
        case 6: augment_op(w.sig, &r); break;
        case 7: construct(&w, &r); break;
        case 8: lct_optimizer_set_step_count(w.opt, u64(&r) >> (u8(&r) % 64)); break;
        case 9: {
            lct_bank_update_options u;
            lct_bank_update_options_init(&u, LCT_BANK_UPDATE_OPTIONS_VERSION);
            u.rule = (int8_t)u8(&r), u.momentum = (float)dbl(&r), u.lambda = (float)dbl(&r), u.normalize = u8(&r) % 3;
            float f[D];
            for (int i = 0; i < D; i++) f[i] = (float)dbl(&r);
            int64_t idx = (int64_t)(u8(&r) % (N + 2));
            lct_bank_update_ex(w.bank, f, &idx, 1, &u);
            float row[N * D];
            if (lct_bank_get_rows(w.bank, 0, N, row) != LCT_OK) abort();
            for (int i = 0; i < N * D; i++)
                if (!isfinite(row[i])) abort(); /* updates never let NaN or Inf in */
            break;
        }
        default: step(&w); break;
        }
    }
    step(&w);
    destroy(&w);
    fuzz_budget_check_empty(w.rt);
    lct_runtime_free(w.rt);
    return 0;
}
