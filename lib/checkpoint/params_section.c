/*
 * Parameter sets in checkpoints. Payload (little-endian):
 *   u32 n; n × {u32 name_len, name, u64 count, u32 flags (bit 0: trainable)}; then each
 *   tensor's count float32 values in table order.
 */
#include "checkpoint_internal.h"

#define FLAG_TRAINABLE 1u

static size_t table_entry_size(const lct__tensor *t)
{
    return 4 + strlen(t->name) + 8 + 4;
}

int lct_checkpoint_add_params(lct_checkpoint_writer *w, const char *name, const lct_params *params)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(params);
    LCT__CKPT_WRITER_RT(w, params->rt, "params");
    lct_runtime *rt = lct__ckpt_writer_runtime(w);
    if (params->n_tensors > UINT32_MAX)
        return LCT__FAIL(LCT_EINVAL, "params has %zu tensors, more than a section can hold", params->n_tensors);
    for (size_t i = 0; i < params->n_tensors; i++) {
        const lct__tensor *t = &params->tensors[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(params->tensors[j].name, t->name) == 0)
                return LCT__FAIL(LCT_EINVAL, "params names two tensors '%s': they could not be told apart on load",
                                 t->name);
        if (!lct__all_finite(t->value, t->count))
            return LCT__FAIL(LCT_ENUMERIC, "tensor '%s' of params holds NaN or Inf; it could not be loaded back",
                             t->name);
    }
    lct__ckpt_put table;
    lct__ckpt_put_init(&table, rt);
    lct__ckpt_put_u32(&table, (uint32_t)params->n_tensors);
    for (size_t i = 0; i < params->n_tensors; i++) {
        const lct__tensor *t = &params->tensors[i];
        lct__ckpt_put_str(&table, t->name, strlen(t->name));
        lct__ckpt_put_u64(&table, t->count);
        lct__ckpt_put_u32(&table, t->grad ? FLAG_TRAINABLE : 0);
    }
    int rc = lct__ckpt_put_status(&table);
    lct__ckpt_piece stack_pieces[16];
    lct__ckpt_piece *pieces = stack_pieces;
    size_t n_pieces = 1 + params->n_tensors;
    if (rc == LCT_OK && n_pieces > 16 && (pieces = lct__calloc(rt, n_pieces, sizeof *pieces)) == NULL)
        rc = LCT_ENOMEM;
    if (rc == LCT_OK) {
        pieces[0] = (lct__ckpt_piece){table.data, table.size, 0};
        for (size_t i = 0; i < params->n_tensors; i++)
            pieces[1 + i] = (lct__ckpt_piece){params->tensors[i].value, params->tensors[i].count * sizeof(float), 4};
        rc = lct__ckpt_add_pieces(w, name, LCT_CHECKPOINT_TYPE_PARAMS, pieces, n_pieces, 0, __func__);
    }
    if (pieces != stack_pieces) lct__free(rt, pieces);
    lct__ckpt_put_free(&table);
    return rc;
}

/* Index of the tensor called name (length len) in p, trying `hint` first; -1 if none. */
static long find_tensor(const lct_params *p, const char *name, size_t len, size_t hint)
{
    if (hint < p->n_tensors && strlen(p->tensors[hint].name) == len && memcmp(p->tensors[hint].name, name, len) == 0)
        return (long)hint;
    for (size_t i = 0; i < p->n_tensors; i++)
        if (strlen(p->tensors[i].name) == len && memcmp(p->tensors[i].name, name, len) == 0) return (long)i;
    return -1;
}

/*
 * Check the table in buf (len bytes, possibly only a prefix of the section) against p.
 * On success *table_end is the offset of the first value. Every mismatch is LCT_ESHAPE naming
 * the tensor; a table that runs past len is LCT_EFORMAT (or, for a prefix, a size mismatch).
 */
static int match_table(const lct_params *p, const char *section, const unsigned char *buf, size_t len,
                       size_t *table_end, const char *func)
{
    lct__ckpt_get g;
    lct__ckpt_get_init(&g, buf, len);
    uint32_t n = lct__ckpt_get_u32(&g);
    if (g.failed) return lct__fail(LCT_EFORMAT, func, "section '%s' is too short for a tensor table", section);
    if (n != p->n_tensors)
        return lct__fail(LCT_ESHAPE, func, "section '%s' holds %u tensors but params has %zu", section, (unsigned)n,
                         p->n_tensors);
    for (uint32_t i = 0; i < n; i++) {
        size_t name_len = 0;
        const char *name = lct__ckpt_get_str(&g, 4096, &name_len);
        uint64_t count = lct__ckpt_get_u64(&g);
        lct__ckpt_get_u32(&g); /* flags: informational */
        if (g.failed)
            return lct__fail(LCT_EFORMAT, func, "the tensor table of section '%s' is malformed at entry %u", section,
                             (unsigned)i);
        long j = find_tensor(p, name, name_len, i);
        if (j < 0)
            return lct__fail(LCT_ESHAPE, func, "section '%s' holds tensor '%.*s', which params does not have", section,
                             (int)name_len, name);
        if (count != p->tensors[j].count)
            return lct__fail(LCT_ESHAPE, func, "tensor '%s' has %llu elements in section '%s' but %zu in params",
                             p->tensors[j].name, (unsigned long long)count, section, p->tensors[j].count);
    }
    *table_end = g.pos;
    return LCT_OK;
}

/* Expected table and total sizes for p; LCT_OK or LCT_ESHAPE on overflow. */
static int expected_sizes(const lct_params *p, size_t *table, size_t *total)
{
    size_t t = 4, v = 0;
    for (size_t i = 0; i < p->n_tensors; i++) {
        size_t bytes;
        if (lct__mul_size(p->tensors[i].count, sizeof(float), &bytes)) return -1;
        t += table_entry_size(&p->tensors[i]);
        if (v > SIZE_MAX - bytes) return -1;
        v += bytes;
    }
    if (t > SIZE_MAX - v) return -1;
    *table = t;
    *total = t + v;
    return 0;
}

static void commit_params(void *target, const void *payload, size_t size)
{
    lct_params *p = target;
    const unsigned char *buf = payload;
    lct__ckpt_get g;
    lct__ckpt_get_init(&g, buf, size);
    uint32_t n = lct__ckpt_get_u32(&g);
    /* Values follow the table; walk both in step (validated before staging). */
    size_t table_pos = 4, values = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t name_len = lct__le32_load(buf + table_pos);
        table_pos += 4 + name_len + 8 + 4;
    }
    values = table_pos;
    for (uint32_t i = 0; i < n; i++) {
        size_t name_len = 0;
        const char *name = lct__ckpt_get_str(&g, 4096, &name_len);
        uint64_t count = lct__ckpt_get_u64(&g);
        lct__ckpt_get_u32(&g);
        long j = find_tensor(p, name, name_len, i);
        memcpy(p->tensors[j].value, buf + values, (size_t)count * sizeof(float));
        values += (size_t)count * sizeof(float);
    }
    p->version++;
}

int lct_checkpoint_load_params(lct_checkpoint_reader *r, const char *name, lct_params *params)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(params);
    LCT__CKPT_READER_RT(r, params->rt, "params");
    lct_runtime *rt = lct__ckpt_reader_runtime(r);
    int idx = lct_checkpoint_find(r, name);
    if (idx < 0) return lct__ckpt_finish(r, idx, NULL, NULL, NULL, 0);
    uint32_t type;
    uint64_t raw;
    lct_checkpoint_section_info(r, (size_t)idx, NULL, &type, &raw);
    size_t table = 0, total = 0;
    int rc = LCT_OK;
    if (type != LCT_CHECKPOINT_TYPE_PARAMS)
        rc = LCT__FAIL(LCT_EFORMAT, "section '%s' has type %u, not a parameter set (%u)", name, (unsigned)type,
                       LCT_CHECKPOINT_TYPE_PARAMS);
    else if (expected_sizes(params, &table, &total) != 0)
        rc = LCT__FAIL(LCT_ESHAPE, "params is too large to load");
    if (rc == LCT_OK && raw != total) {
        /* Sizes differ: inflate only enough of the table to say which tensor differs,
         * never the claimed size of the section. */
        size_t n = raw < (uint64_t)table + 65536 ? (size_t)raw : table + 65536;
        unsigned char *prefix = lct__malloc(rt, n ? n : 1);
        if (prefix == NULL) return lct__ckpt_finish(r, LCT_ENOMEM, NULL, NULL, NULL, 0);
        size_t end;
        rc = lct__ckpt_read_prefix(r, (size_t)idx, prefix, n, __func__);
        if (rc == LCT_OK) rc = match_table(params, name, prefix, n, &end, __func__);
        if (rc == LCT_OK)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %llu bytes; its table calls for %zu", name,
                           (unsigned long long)raw, total);
        lct__free(rt, prefix);
        return lct__ckpt_finish(r, rc, NULL, NULL, NULL, 0);
    }
    void *data = NULL;
    size_t size = 0, end = 0;
    if (rc == LCT_OK) rc = lct__ckpt_read(r, name, LCT_CHECKPOINT_TYPE_PARAMS, total, &data, &size, __func__);
    if (rc == LCT_OK) rc = match_table(params, name, data, size, &end, __func__);
    if (rc == LCT_OK && end != table)
        rc = LCT__FAIL(LCT_EFORMAT, "the tensor table of section '%s' has %zu bytes, expected %zu", name, end, table);
    if (rc == LCT_OK) {
        /* The same tensor named twice would leave another one unloaded. */
        lct__ckpt_get g;
        lct__ckpt_get_init(&g, data, size);
        uint32_t n = lct__ckpt_get_u32(&g);
        unsigned char *seen = n ? lct__calloc(rt, n, 1) : NULL;
        if (n && seen == NULL) rc = LCT_ENOMEM;
        for (uint32_t i = 0; rc == LCT_OK && i < n; i++) {
            size_t len = 0;
            const char *tn = lct__ckpt_get_str(&g, 4096, &len);
            lct__ckpt_get_u64(&g);
            lct__ckpt_get_u32(&g);
            long j = find_tensor(params, tn, len, i);
            if (seen[j]++)
                rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds tensor '%s' twice", name, params->tensors[j].name);
        }
        lct__free(rt, seen);
    }
    if (rc == LCT_OK) {
        float *values = (float *)((unsigned char *)data + table);
        size_t count = (total - table) / sizeof(float);
        lct__swap32_if_be(values, count);
        /* Past the table the values need not be 4-byte aligned: read them through memcpy then. */
        int finite = 1;
        if (((uintptr_t)values & 3u) == 0) {
            finite = lct__all_finite(values, count);
        } else {
            for (size_t i = 0; finite && i < count; i++) {
                float v;
                memcpy(&v, (unsigned char *)values + i * 4, 4);
                finite = v - v == 0.0f;
            }
        }
        if (!finite) rc = LCT__FAIL(LCT_ENUMERIC, "section '%s' holds NaN or Inf; params was not changed", name);
    }
    return lct__ckpt_finish(r, rc, params, commit_params, data, size);
}
