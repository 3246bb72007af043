/*
 * Memory banks in checkpoints: shape, storage, rows as stored (fp32/fp16) and sampling stream.
 * Record layout in docs/checkpoint-format.md; helpers in records.c.
 */
#include "checkpoint_internal.h"
#include "../bank/bank_internal.h"

#define BANK_HEADER 40u
#define SHARD_HEADER 72u

int lct_checkpoint_add_bank(lct_checkpoint_writer *w, const char *name, const lct_bank *bank)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(bank);
    LCT__CKPT_WRITER_RT(w, lct__bank_runtime(bank), "bank");
    uint64_t stream, calls;
    lct__bank_rng_state(bank, &stream, &calls);
    const int sharded = lct__bank_sharded(bank);
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u32(&rec, (uint32_t)lct__bank_storage(bank));
    lct__ckpt_put_u64(&rec, lct__bank_n(bank));
    lct__ckpt_put_u64(&rec, lct__bank_d(bank));
    lct__ckpt_put_u64(&rec, stream);
    lct__ckpt_put_u64(&rec, calls);
    if (sharded) {
        /* the layout, so that a load can refuse another one */
        lct__ckpt_put_u64(&rec, (uint64_t)lct__comm_size(bank->comm));
        lct__ckpt_put_u64(&rec, (uint64_t)lct__comm_rank(bank->comm));
        lct__ckpt_put_u64(&rec, bank->first);
        lct__ckpt_put_u64(&rec, bank->count);
    }
    int swap = lct__bank_storage(bank) == LCT_BANK_FP16 ? 2 : 4;
    return lct__ckpt_add_record(w, name, sharded ? LCT__CKPT_TYPE_BANK_SHARD : LCT__CKPT_TYPE_BANK, &rec,
                                lct__bank_data((lct_bank *)bank), lct__bank_data_bytes(bank), swap, NULL, NULL,
                                __func__);
}

static void commit_bank(void *target, const void *payload, size_t size)
{
    lct_bank *bank = target;
    const unsigned char *p = payload;
    size_t head = lct__bank_sharded(bank) ? SHARD_HEADER : BANK_HEADER;
    memcpy(lct__bank_data(bank), p + head, size - head);
    lct__bank_set_rng_state(bank, lct__le64_load(p + 24), lct__le64_load(p + 32));
}

/* The section's sharding against the bank's: LCT_EMISMATCH unless both are unsharded or both hold
 * the same shard of the same layout. A different number of ranks is refused, never resharded. */
static int check_layout(lct_checkpoint_reader *r, const char *name, const lct_bank *bank, uint32_t *type,
                        const char *func)
{
    int idx = lct_checkpoint_find(r, name);
    if (idx < 0) return idx;
    uint32_t real = 0;
    lct_checkpoint_section_info(r, (size_t)idx, NULL, &real, NULL);
    /* a section of another type is read as a bank, and the read refuses it as usual */
    *type = real == LCT__CKPT_TYPE_BANK_SHARD ? real : LCT__CKPT_TYPE_BANK;
    const int sharded = lct__bank_sharded(bank);
    if (real == LCT__CKPT_TYPE_BANK_SHARD && !sharded)
        return lct__fail(LCT_EMISMATCH, func, "section '%s' holds one shard of a sharded bank; the bank is not "
                         "sharded (create it with lct_bank_new_sharded over the same number of ranks)", name);
    if (real == LCT__CKPT_TYPE_BANK && sharded)
        return lct__fail(LCT_EMISMATCH, func, "section '%s' holds an unsharded bank; the bank is shard %d of %d",
                         name, lct__comm_rank(bank->comm), lct__comm_size(bank->comm));
    if (*type != LCT__CKPT_TYPE_BANK_SHARD) return LCT_OK;
    unsigned char head[SHARD_HEADER];
    int rc = lct__ckpt_read_prefix(r, (size_t)idx, head, SHARD_HEADER, func);
    if (rc) return rc;
    uint64_t p = lct__le64_load(head + 40), rank = lct__le64_load(head + 48), first = lct__le64_load(head + 56),
             count = lct__le64_load(head + 64);
    if (p != (uint64_t)lct__comm_size(bank->comm))
        return lct__fail(LCT_EMISMATCH, func, "section '%s' was saved by a run on %llu ranks; this bank is sharded over "
                         "%d: resuming on a different number of ranks is not supported", name, (unsigned long long)p,
                         lct__comm_size(bank->comm));
    if (rank != (uint64_t)lct__comm_rank(bank->comm) || first != bank->first || count != bank->count)
        return lct__fail(LCT_EMISMATCH, func, "section '%s' holds rank %llu's rows [%llu, %llu); this is rank %d with "
                         "rows [%zu, %zu): load each rank's own checkpoint", name, (unsigned long long)rank,
                         (unsigned long long)first, (unsigned long long)(first + count), lct__comm_rank(bank->comm), bank->first,
                         bank->first + bank->count);
    return LCT_OK;
}

/* Header fields of a bank section; LCT_OK if it describes a bank of this library. */
static int parse_bank_header(const unsigned char *p, const char *name, uint32_t *storage, uint64_t *n, uint64_t *d,
                             const char *func)
{
    uint32_t version = lct__le32_load(p);
    if (version != LCT__CKPT_RECORD_VERSION)
        return lct__fail(version > LCT__CKPT_RECORD_VERSION ? LCT_EVERSION : LCT_EFORMAT, func,
                         "section '%s' has record version %u; this library reads version %u", name, (unsigned)version,
                         LCT__CKPT_RECORD_VERSION);
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
    LCT__CKPT_READER_RT(r, lct__bank_runtime(bank), "bank");
    size_t bytes = lct__bank_data_bytes(bank);
    void *data = NULL;
    size_t size = 0;
    uint32_t type = LCT__CKPT_TYPE_BANK;
    int rc = check_layout(r, name, bank, &type, __func__);
    if (rc) return lct__ckpt_finish(r, rc, bank, commit_bank, NULL, 0);
    const size_t head = type == LCT__CKPT_TYPE_BANK_SHARD ? SHARD_HEADER : BANK_HEADER;
    rc = lct__ckpt_read(r, name, type, head + bytes, &data, &size, __func__);
    uint32_t storage = 0;
    uint64_t n = 0, d = 0;
    if (rc == LCT_OK && size < head) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is too short", name);
    if (rc == LCT_OK) rc = parse_bank_header(data, name, &storage, &n, &d, __func__);
    if (rc == LCT_OK && (n != lct__bank_n(bank) || d != lct__bank_d(bank) || (int)storage != lct__bank_storage(bank)))
        rc = LCT__FAIL(LCT_ESHAPE, "section '%s' holds a %llu x %llu %s bank; the bank is %zu x %zu %s", name,
                       (unsigned long long)n, (unsigned long long)d, storage == LCT_BANK_FP16 ? "fp16" : "fp32",
                       lct__bank_n(bank), lct__bank_d(bank), lct__bank_storage(bank) == LCT_BANK_FP16 ? "fp16" : "fp32");
    if (rc == LCT_OK && size != head + bytes)
        rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes of rows, its header calls for %zu", name,
                       size - head, bytes);
    if (rc == LCT_OK) {
        unsigned char *rows = (unsigned char *)data + head;
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
    if (type == LCT__CKPT_TYPE_BANK_SHARD)
        return LCT__FAIL(LCT_EMISMATCH, "section '%s' holds one shard of a sharded bank: create the bank with "
                         "lct_bank_new_sharded() and load it with lct_checkpoint_load_bank()", name);
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
    lct__ckpt_reader_set_creating(r, rt); /* the new bank may come from any runtime */
    if (rc == LCT_OK) rc = lct_checkpoint_load_bank(r, name, bank);
    lct__ckpt_reader_set_creating(r, NULL);
    if (rc != LCT_OK) {
        lct_bank_free(bank);
        return rc;
    }
    *out = bank;
    return LCT_OK;
}

