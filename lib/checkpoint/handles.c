/*
 * Sections of the library's handles: encoders (spec, dropout step, stream + parameters),
 * optimisers (step + state tensors), banks (rows fp32/fp16 + sampling stream), losses (Z per
 * bank + W_k) and augmenters (stream + counter). Each record starts with a u32 version (1).
 * A handle with tensors adds a second section "<name>.params" (or ".state"); its load is
 * all-or-nothing over both.
 */
#include <stdio.h>

#include "checkpoint_internal.h"
#include "../augment/augment_internal.h"
#include "../bank/bank_internal.h"
#include "../encoder/encoder.h"
#include "../loss/loss_internal.h"
#include "../optimizer/optimizer.h"

#define RECORD_VERSION 1u
#define MAX_SPEC ((size_t)1 << 20)

/* "<name><suffix>" into buf; LCT_EINVAL if the result would be too long for a section name. */
static int sub_name(char *buf, const char *name, const char *suffix, const char *func)
{
    size_t n = strnlen(name, LCT_CHECKPOINT_MAX_NAME + 1), k = strlen(suffix);
    if (n + k > LCT_CHECKPOINT_MAX_NAME)
        return lct__fail(LCT_EINVAL, func, "name '%.40s' is longer than %zu bytes (the section '%s' is added to it)",
                         name, (size_t)LCT_CHECKPOINT_MAX_NAME - k, suffix);
    memcpy(buf, name, n);
    memcpy(buf + n, suffix, k + 1);
    return LCT_OK;
}

/* Add a record section and, if params is not NULL, "<name><suffix>"; all or nothing. */
static int add_record(lct_checkpoint_writer *w, const char *name, uint32_t type, lct__ckpt_put *rec,
                      const void *extra, size_t extra_size, int extra_swap, const char *suffix, const lct_params *params,
                      const char *func)
{
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = lct__ckpt_put_status(rec);
    if (rc == LCT_OK && params) rc = sub_name(sub, name, suffix, func);
    if (rc == LCT_OK && params) rc = lct_checkpoint_add_params(w, sub, params);
    if (rc == LCT_OK) {
        lct__ckpt_piece pieces[2] = {{rec->data, rec->size, 0}, {extra, extra_size, extra_swap}};
        rc = lct__ckpt_add_pieces(w, name, type, pieces, extra ? 2 : 1, 0, func);
        if (rc != LCT_OK && params) lct__ckpt_writer_remove(w, sub);
    }
    lct__ckpt_put_free(rec);
    return rc;
}

/* Read record section `name` of `type` whose size is at most max; checks its version. */
static int read_record(lct_checkpoint_reader *r, const char *name, uint32_t type, size_t max, void **data,
                       size_t *size, lct__ckpt_get *g, const char *func)
{
    int rc = lct__ckpt_read(r, name, type, max, data, size, func);
    if (rc != LCT_OK) return rc;
    lct__ckpt_get_init(g, *data, *size);
    uint32_t version = lct__ckpt_get_u32(g);
    if (g->failed) return lct__fail(LCT_EFORMAT, func, "section '%s' is too short", name);
    if (version != RECORD_VERSION)
        return lct__fail(version > RECORD_VERSION ? LCT_EVERSION : LCT_EFORMAT, func,
                         "section '%s' has record version %u; this library reads version %u", name, (unsigned)version,
                         RECORD_VERSION);
    return LCT_OK;
}

/* ---- encoder ------------------------------------------------------------------ */

int lct_checkpoint_add_encoder(lct_checkpoint_writer *w, const char *name, lct_encoder *enc)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(enc);
    lct_params *params = lct_encoder_params(enc);
    if (params == NULL) return LCT__FAIL(LCT_EINVAL, "the encoder has no parameter set");
    const char *spec = lct_encoder_spec(enc);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, RECORD_VERSION);
    lct__ckpt_put_u64(&rec, enc->step);
    lct__ckpt_put_u64(&rec, enc->stream);
    lct__ckpt_put_str(&rec, spec, strlen(spec));
    return add_record(w, name, LCT__CKPT_TYPE_ENCODER_SPEC, &rec, NULL, 0, 0, ".params", params, __func__);
}

static void commit_encoder(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_encoder *enc = target;
    const unsigned char *p = payload;
    enc->step = lct__le64_load(p + 4);
    enc->stream = lct__le64_load(p + 12);
}

int lct_checkpoint_load_encoder(lct_checkpoint_reader *r, const char *name, lct_encoder *enc)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(enc);
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = sub_name(sub, name, ".params", __func__);
    if (rc) return rc;
    lct_params *params = lct_encoder_params(enc);
    const char *spec = lct_encoder_spec(enc);
    if (params == NULL || spec == NULL) return LCT__FAIL(LCT_EINVAL, "the encoder has no parameter set");
    int opened = lct__ckpt_implicit_begin(r);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = read_record(r, name, LCT__CKPT_TYPE_ENCODER_SPEC, 24 + MAX_SPEC, &data, &size, &g, __func__);
    if (rc == LCT_OK) {
        lct__ckpt_get_u64(&g);
        lct__ckpt_get_u64(&g);
        size_t len = 0;
        const char *saved = lct__ckpt_get_str(&g, MAX_SPEC, &len);
        if (g.failed || lct__ckpt_get_left(&g) != 0)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is malformed", name);
        else if (len != strlen(spec) || memcmp(saved, spec, len) != 0)
            rc = LCT__FAIL(LCT_ESHAPE, "the encoder's architecture '%.80s' differs from the saved '%.*s'", spec,
                           (int)(len > 80 ? 80 : len), saved);
    }
    rc = lct__ckpt_finish(r, rc, enc, commit_encoder, data, size);
    if (rc == LCT_OK) rc = lct_checkpoint_load_params(r, sub, params);
    return lct__ckpt_implicit_end(r, opened, rc);
}

int lct_checkpoint_new_encoder(lct_checkpoint_reader *r, const char *name, lct_runtime *rt, lct_encoder **out)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(rt);
    if (lct__ckpt_in_group(r))
        return LCT__FAIL(LCT_ESTATE, "handles cannot be created inside a group of loads; commit it first");
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    int rc = read_record(r, name, LCT__CKPT_TYPE_ENCODER_SPEC, 24 + MAX_SPEC,
                         &data, &size, &g, __func__);
    char *spec = NULL;
    if (rc == LCT_OK) {
        lct__ckpt_get_u64(&g);
        lct__ckpt_get_u64(&g);
        size_t len = 0;
        const char *saved = lct__ckpt_get_str(&g, MAX_SPEC, &len);
        if (g.failed) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is malformed", name);
        else if ((spec = lct__malloc(rt, len + 1)) == NULL) rc = LCT_ENOMEM;
        else {
            memcpy(spec, saved, len);
            spec[len] = '\0';
        }
    }
    lct__free(lct__ckpt_reader_runtime(r), data);
    lct_encoder *enc = NULL;
    if (rc == LCT_OK) {
        rc = lct_encoder_new_from_spec(&enc, rt, spec, NULL);
        if (rc == LCT_EFORMAT || rc == LCT_ESHAPE)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds a spec this library cannot build: %s", name,
                           lct_error_last());
    }
    lct__free(rt, spec);
    if (rc == LCT_OK) rc = lct_checkpoint_load_encoder(r, name, enc);
    if (rc != LCT_OK) {
        lct_encoder_free(enc);
        return rc;
    }
    *out = enc;
    return LCT_OK;
}

/* ---- optimizer ------------------------------------------------------------------ */

int lct_checkpoint_add_optimizer(lct_checkpoint_writer *w, const char *name, lct_optimizer *opt)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(opt);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, RECORD_VERSION);
    lct__ckpt_put_u64(&rec, opt->step);
    return add_record(w, name, LCT__CKPT_TYPE_OPTIMIZER, &rec, NULL, 0, 0, ".state", lct_optimizer_state(opt),
                      __func__);
}

static void commit_optimizer(void *target, const void *payload, size_t size)
{
    (void)size;
    ((lct_optimizer *)target)->step = lct__le64_load((const unsigned char *)payload + 4);
}

int lct_checkpoint_load_optimizer(lct_checkpoint_reader *r, const char *name, lct_optimizer *opt)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(opt);
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = sub_name(sub, name, ".state", __func__);
    if (rc) return rc;
    int opened = lct__ckpt_implicit_begin(r);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = read_record(r, name, LCT__CKPT_TYPE_OPTIMIZER, 12, &data, &size, &g, __func__);
    if (rc == LCT_OK && size != 12) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes, not 12", name, size);
    rc = lct__ckpt_finish(r, rc, opt, commit_optimizer, data, size);
    if (rc == LCT_OK) rc = lct_checkpoint_load_params(r, sub, lct_optimizer_state(opt));
    return lct__ckpt_implicit_end(r, opened, rc);
}

/* ---- memory bank ----------------------------------------------------------------- */

#define BANK_HEADER 40u

int lct_checkpoint_add_bank(lct_checkpoint_writer *w, const char *name, const lct_bank *bank)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(bank);
    uint64_t stream, calls;
    lct__bank_rng_state(bank, &stream, &calls);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, RECORD_VERSION);
    lct__ckpt_put_u32(&rec, (uint32_t)lct__bank_storage(bank));
    lct__ckpt_put_u64(&rec, lct__bank_n(bank));
    lct__ckpt_put_u64(&rec, lct__bank_d(bank));
    lct__ckpt_put_u64(&rec, stream);
    lct__ckpt_put_u64(&rec, calls);
    int swap = lct__bank_storage(bank) == LCT_BANK_FP16 ? 2 : 4;
    return add_record(w, name, LCT__CKPT_TYPE_BANK, &rec, lct__bank_data((lct_bank *)bank),
                      lct__bank_data_bytes(bank), swap, NULL, NULL, __func__);
}

static void commit_bank(void *target, const void *payload, size_t size)
{
    lct_bank *bank = target;
    const unsigned char *p = payload;
    memcpy(lct__bank_data(bank), p + BANK_HEADER, size - BANK_HEADER);
    lct__bank_set_rng_state(bank, lct__le64_load(p + 24), lct__le64_load(p + 32));
}

/* Header fields of a bank section; LCT_OK if it describes a bank of this library. */
static int parse_bank_header(const unsigned char *p, const char *name, uint32_t *storage, uint64_t *n, uint64_t *d,
                             const char *func)
{
    uint32_t version = lct__le32_load(p);
    if (version != RECORD_VERSION)
        return lct__fail(version > RECORD_VERSION ? LCT_EVERSION : LCT_EFORMAT, func,
                         "section '%s' has record version %u; this library reads version %u", name, (unsigned)version,
                         RECORD_VERSION);
    *storage = lct__le32_load(p + 4);
    *n = lct__le64_load(p + 8);
    *d = lct__le64_load(p + 16);
    if (*storage > LCT_BANK_FP16 || *n == 0 || *d == 0)
        return lct__fail(LCT_EFORMAT, func, "section '%s' describes an impossible bank (storage %u, %llu x %llu)",
                         name, (unsigned)*storage, (unsigned long long)*n, (unsigned long long)*d);
    return LCT_OK;
}

int lct_checkpoint_load_bank(lct_checkpoint_reader *r, const char *name, lct_bank *bank)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(bank);
    size_t bytes = lct__bank_data_bytes(bank);
    void *data = NULL;
    size_t size = 0;
    int rc = lct__ckpt_read(r, name, LCT__CKPT_TYPE_BANK, BANK_HEADER + bytes, &data, &size, __func__);
    uint32_t storage = 0;
    uint64_t n = 0, d = 0;
    if (rc == LCT_OK && size < BANK_HEADER) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is too short", name);
    if (rc == LCT_OK) rc = parse_bank_header(data, name, &storage, &n, &d, __func__);
    if (rc == LCT_OK && (n != lct__bank_n(bank) || d != lct__bank_d(bank) || (int)storage != lct__bank_storage(bank)))
        rc = LCT__FAIL(LCT_ESHAPE, "section '%s' holds a %llu x %llu %s bank; the bank is %zu x %zu %s", name,
                       (unsigned long long)n, (unsigned long long)d, storage == LCT_BANK_FP16 ? "fp16" : "fp32",
                       lct__bank_n(bank), lct__bank_d(bank), lct__bank_storage(bank) == LCT_BANK_FP16 ? "fp16" : "fp32");
    if (rc == LCT_OK && size != BANK_HEADER + bytes)
        rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes of rows, its header calls for %zu", name,
                       size - BANK_HEADER, bytes);
    if (rc == LCT_OK) {
        unsigned char *rows = (unsigned char *)data + BANK_HEADER;
        int finite = 1;
        if (storage == LCT_BANK_FP16) {
            lct__swap16_if_be(rows, bytes / 2);
            const uint16_t *h = (const uint16_t *)rows;
            for (size_t i = 0; i < bytes / 2; i++) finite &= (h[i] & 0x7c00u) != 0x7c00u;
        } else {
            lct__swap32_if_be(rows, bytes / 4);
            finite = lct__all_finite((const float *)rows, bytes / 4);
        }
        if (!finite) rc = LCT__FAIL(LCT_ENUMERIC, "section '%s' holds NaN or Inf rows; the bank was not changed", name);
    }
    return lct__ckpt_finish(r, rc, bank, commit_bank, data, size);
}

int lct_checkpoint_new_bank(lct_checkpoint_reader *r, const char *name, lct_runtime *rt, lct_bank **out)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(rt);
    if (lct__ckpt_in_group(r))
        return LCT__FAIL(LCT_ESTATE, "handles cannot be created inside a group of loads; commit it first");
    int idx = lct_checkpoint_find(r, name);
    if (idx < 0) return idx;
    uint32_t type;
    uint64_t raw;
    lct_checkpoint_section_info(r, (size_t)idx, NULL, &type, &raw);
    if (type != LCT__CKPT_TYPE_BANK)
        return LCT__FAIL(LCT_EFORMAT, "section '%s' has type %u, not a bank (%u)", name, (unsigned)type,
                         (unsigned)LCT__CKPT_TYPE_BANK);
    unsigned char head[BANK_HEADER];
    int rc = lct__ckpt_read_prefix(r, (size_t)idx, head, BANK_HEADER, __func__);
    uint32_t storage;
    uint64_t n, d;
    if (rc == LCT_OK) rc = parse_bank_header(head, name, &storage, &n, &d, __func__);
    if (rc) return rc;
    size_t need;
    /* the claimed shape must match the bytes the section really inflates to: no allocation from the claim */
    if (lct_bank_bytes((size_t)n, (size_t)d, (int)storage, &need) != LCT_OK ||
        raw != BANK_HEADER + (uint64_t)n * d * (storage == LCT_BANK_FP16 ? 2 : 4))
        return LCT__FAIL(LCT_EFORMAT, "section '%s' holds %llu bytes, not a %llu x %llu bank", name,
                         (unsigned long long)raw, (unsigned long long)n, (unsigned long long)d);
    lct_bank_options o;
    lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
    o.storage = (int32_t)storage;
    o.init = LCT_BANK_INIT_ZERO;
    lct_bank *bank = NULL;
    rc = lct_bank_new(&bank, rt, (size_t)n, (size_t)d, &o);
    if (rc == LCT_OK) rc = lct_checkpoint_load_bank(r, name, bank);
    if (rc != LCT_OK) {
        lct_bank_free(bank);
        return rc;
    }
    *out = bank;
    return LCT_OK;
}

/* ---- loss ----------------------------------------------------------------------- */

int lct_checkpoint_add_loss(lct_checkpoint_writer *w, const char *name, lct_loss *loss)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(loss);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, RECORD_VERSION);
    lct__ckpt_put_u32(&rec, (uint32_t)loss->kind);
    size_t views = loss->log_z ? loss->n_banks : 0;
    lct__ckpt_put_u64(&rec, views);
    for (size_t v = 0; v < views; v++) {
        uint64_t bits;
        memcpy(&bits, &loss->log_z[v], 8);
        lct__ckpt_put_u64(&rec, bits);
        lct__ckpt_put_u32(&rec, (uint32_t)(loss->z_known[v] != 0));
    }
    lct_params *params = lct_loss_params(loss);
    return add_record(w, name, LCT__CKPT_TYPE_LOSS, &rec, NULL, 0, 0, ".params",
                      params && params->n_tensors ? params : NULL, __func__);
}

static void commit_loss(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_loss *loss = target;
    const unsigned char *p = payload;
    size_t views = (size_t)lct__le64_load(p + 8);
    for (size_t v = 0; v < views; v++) {
        uint64_t bits = lct__le64_load(p + 16 + 12 * v);
        memcpy(&loss->log_z[v], &bits, 8);
        loss->z_known[v] = (int)lct__le32_load(p + 24 + 12 * v);
    }
}

int lct_checkpoint_load_loss(lct_checkpoint_reader *r, const char *name, lct_loss *loss)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(loss);
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = sub_name(sub, name, ".params", __func__);
    if (rc) return rc;
    lct_params *params = lct_loss_params(loss);
    size_t views = loss->log_z ? loss->n_banks : 0;
    int opened = lct__ckpt_implicit_begin(r);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = read_record(r, name, LCT__CKPT_TYPE_LOSS, 16 + 12 * LCT__LOSS_MAX_VIEWS, &data, &size, &g, __func__);
    if (rc == LCT_OK) {
        uint32_t kind = lct__ckpt_get_u32(&g);
        uint64_t n = lct__ckpt_get_u64(&g);
        if (g.failed || n > lct__ckpt_get_left(&g) / 12 || lct__ckpt_get_left(&g) != 12 * n)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is malformed", name);
        else if ((int)kind != loss->kind || n != views)
            rc = LCT__FAIL(LCT_ESHAPE, "section '%s' holds a loss of kind %u with %llu banks; the loss is kind %d with %zu",
                           name, (unsigned)kind, (unsigned long long)n, loss->kind, views);
        for (size_t v = 0; rc == LCT_OK && v < views; v++) {
            uint64_t bits = lct__ckpt_get_u64(&g);
            uint32_t known = lct__ckpt_get_u32(&g);
            double z;
            memcpy(&z, &bits, 8);
            if (!(z - z == 0.0) || known > 1)
                rc = LCT__FAIL(LCT_ENUMERIC, "section '%s' holds a non-finite log Z for bank %zu", name, v);
        }
    }
    rc = lct__ckpt_finish(r, rc, loss, commit_loss, data, size);
    if (rc == LCT_OK && params && params->n_tensors) rc = lct_checkpoint_load_params(r, sub, params);
    return lct__ckpt_implicit_end(r, opened, rc);
}

/* ---- augmenter ---------------------------------------------------------------------- */

int lct_checkpoint_add_augmenter(lct_checkpoint_writer *w, const char *name, const lct_augmenter *aug)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(aug);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, RECORD_VERSION);
    lct__ckpt_put_u64(&rec, aug->stream);
    lct__ckpt_put_u64(&rec, aug->counter);
    return add_record(w, name, LCT__CKPT_TYPE_AUGMENT, &rec, NULL, 0, 0, NULL, NULL, __func__);
}

static void commit_augmenter(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_augmenter *aug = target;
    aug->stream = lct__le64_load((const unsigned char *)payload + 4);
    aug->counter = lct__le64_load((const unsigned char *)payload + 12);
}

int lct_checkpoint_load_augmenter(lct_checkpoint_reader *r, const char *name, lct_augmenter *aug)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(aug);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    int rc = read_record(r, name, LCT__CKPT_TYPE_AUGMENT, 20, &data, &size, &g, __func__);
    if (rc == LCT_OK && size != 20) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes, not 20", name, size);
    return lct__ckpt_finish(r, rc, aug, commit_augmenter, data, size);
}
