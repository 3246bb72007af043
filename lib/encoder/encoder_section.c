/*
 * Encoders in checkpoints: spec, dropout step and stream, plus "<name>.params".
 * Record layout in docs/checkpoint-format.md; the container's record API in checkpoint/checkpoint.h.
 */
#include "encoder_internal.h"
#include "../checkpoint/checkpoint.h"

#define MAX_SPEC ((size_t)1 << 20)

int lct_checkpoint_add_encoder(lct_checkpoint_writer *w, const char *name, lct_encoder *enc)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, enc, enc ? enc->rt : NULL, "enc", __func__);
    if (rc) return rc;
    const char *spec = lct_encoder_spec(enc);
    lct__ckpt_put_u64(&rec, enc->step);
    lct__ckpt_put_u64(&rec, enc->stream);
    lct__ckpt_put_str(&rec, spec, strlen(spec));
    /* handing out the parameter set seals the encoder */
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_ENCODER_SPEC, &rec, NULL, 0, 0, ".params",
                                lct_encoder_params(enc), __func__);
}

static void commit_encoder(void *target, const void *payload, size_t size)
{
    ((lct_encoder *)target)->step = lct__ckpt_u64_at(payload, 4);
    ((lct_encoder *)target)->stream = lct__ckpt_u64_at(payload, 12);
}

/* The saved spec of a record (g past its version word): the step and stream come first. */
static const char *saved_spec(lct__ckpt_get *g, size_t *len)
{
    lct__ckpt_get_u64(g);
    lct__ckpt_get_u64(g);
    return lct__ckpt_get_str(g, MAX_SPEC, len);
}

/* The record against the encoder: the same architecture. */
static int check_encoder(const void *target, lct__ckpt_get *g, unsigned char *payload, const char *name,
                         const char *func)
{
    (void)payload;
    const char *spec = lct_encoder_spec((lct_encoder *)target);
    size_t len = 0;
    const char *saved = saved_spec(g, &len);
    if (g->failed || lct__ckpt_get_left(g) != 0)
        return lct__fail(LCT_EFORMAT, func, "section '%s' is malformed", name);
    if (len != strlen(spec) || memcmp(saved, spec, len) != 0)
        return lct__fail(LCT_ESHAPE, func, "the encoder's architecture '%.80s' differs from the saved '%.*s'", spec,
                         (int)(len > 80 ? 80 : len), saved);
    return LCT_OK;
}

static const lct__ckpt_record ENCODER_RECORD = {LCT__CKPT_TYPE_ENCODER_SPEC, "enc", check_encoder, commit_encoder,
                                                 ".params"};

int lct_checkpoint_load_encoder(lct_checkpoint_reader *r, const char *name, lct_encoder *enc)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(enc);
    LCT__CKPT_READER_RT(r, enc->rt, "enc");
    /* a name too long for its parameter section fails before the encoder is sealed */
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = lct__ckpt_sub_name(sub, name, ".params", __func__);
    if (rc) return rc;
    lct_params *params = lct_encoder_params(enc);
    if (params == NULL || lct_encoder_spec(enc) == NULL)
        return LCT__FAIL(LCT_EINVAL, "the encoder has no parameter set");
    return lct__ckpt_load_record(r, name, enc, enc->rt, &ENCODER_RECORD, 24 + MAX_SPEC, params, __func__);
}

/*
 * Before an encoder is built from a saved spec, the parameters the spec implies must be exactly what
 * "<name>.params" holds: the spec alone could claim gigabytes in a file of a few hundred bytes, and the
 * section's size is bounded by the bytes really present (deflate expands at most ~1032:1).
 */
static int check_params_size(lct_checkpoint_reader *r, const char *name, const char *spec, const char *func)
{
    lct__spec_plan plan;
    int rc = lct__encoder_plan(spec, &plan);
    if (rc == LCT_EFORMAT || rc == LCT_ESHAPE || rc == LCT_EINVAL)
        return lct__fail(LCT_EFORMAT, func, "section '%s' holds a spec this library cannot build: %s", name,
                         lct_error_last());
    if (rc) return rc;
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    if ((rc = lct__ckpt_sub_name(sub, name, ".params", func))) return rc;
    int idx = lct_checkpoint_find(r, sub);
    if (idx < 0) return lct__fail(idx, func, "the checkpoint has no section named '%s'", sub);
    uint32_t type;
    uint64_t raw;
    lct_checkpoint_section_info(r, (size_t)idx, NULL, &type, &raw);
    if (type != LCT_CHECKPOINT_TYPE_PARAMS)
        return lct__fail(LCT_EFORMAT, func, "section '%s' has type %u, not a parameter set (%u)", sub, (unsigned)type,
                         LCT_CHECKPOINT_TYPE_PARAMS);
    /* the parameter section's layout: u32 n; per tensor u32 name length, name, u64 count, u32 flags; values */
    uint64_t want = 4 + 16 * (uint64_t)plan.tensors + (uint64_t)plan.name_bytes;
    int over = plan.values > (UINT64_MAX - want) / 4;
    if (!over) want += 4 * (uint64_t)plan.values;
    if (over || raw != want)
        return lct__fail(LCT_ESHAPE, func,
                         "the spec in section '%s' has %zu tensors of %zu floats in all, %s%llu bytes in '%s'; the "
                         "section holds %llu: the encoder is not built", name, plan.tensors, plan.values,
                         over ? "more than " : "", (unsigned long long)want, sub, (unsigned long long)raw);
    return LCT_OK;
}

int lct_checkpoint_new_encoder(lct_checkpoint_reader *r, const char *name, lct_runtime *rt, lct_encoder **out)
{
    LCT__REQUIRE(out);
    *out = NULL;
    int rc = lct__ckpt_new_begin(r, name, rt, __func__);
    if (rc) return rc;
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = lct__ckpt_read_record(r, name, LCT__CKPT_TYPE_ENCODER_SPEC, 24 + MAX_SPEC, &data, &size, &g, __func__);
    char *spec = NULL;
    if (rc == LCT_OK) {
        size_t len = 0;
        const char *saved = saved_spec(&g, &len);
        if (g.failed) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is malformed", name);
        else if ((spec = lct__malloc(rt, len + 1)) == NULL) rc = LCT_ENOMEM;
        else {
            memcpy(spec, saved, len);
            spec[len] = '\0';
        }
    }
    lct__free(lct__ckpt_reader_runtime(r), data);
    if (rc == LCT_OK) rc = check_params_size(r, name, spec, __func__);
    lct_encoder *enc = NULL;
    if (rc == LCT_OK) {
        rc = lct_encoder_new_from_spec(&enc, rt, spec, NULL);
        if (rc == LCT_EFORMAT || rc == LCT_ESHAPE)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds a spec this library cannot build: %s", name,
                           lct_error_last());
    }
    lct__free(rt, spec);
    LCT__CKPT_LOAD_CREATED(r, rt, rc, lct_checkpoint_load_encoder(r, name, enc)); /* rt may be any runtime */
    if (rc == LCT_OK) *out = enc;
    else lct_encoder_free(enc);
    return rc;
}

