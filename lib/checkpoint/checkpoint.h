/*
 * Interface of the checkpoint container for the other modules: each module (bank, loss,
 * augmenter, encoder, optimizer, replay) saves and loads its own typed sections with it, in a
 * few lines each. The container knows no module's struct; its own parts are in
 * checkpoint_internal.h.
 *
 * Saving a handle with a record (records.c):
 *     lct__ckpt_put rec;
 *     int rc = lct__ckpt_record_begin(&rec, w, name, h, h ? h->rt : NULL, "h", __func__);
 *     if (rc) return rc;                                (else the version word is written)
 *     lct__ckpt_put_u64(&rec, h->step); ...
 *     return lct__ckpt_add_record(w, name, TYPE, &rec, NULL, 0, 0, NULL, NULL, __func__);
 * Loading it, with static const lct__ckpt_record H_RECORD = {TYPE, "h", check, commit, NULL}:
 *     return lct__ckpt_load_record(r, name, h, h ? h->rt : NULL, &H_RECORD, max, NULL, __func__);
 * Saving a handle from raw pieces:
 *     lct__ckpt_put p;  lct__ckpt_put_init(&p, w->rt);
 *     lct__ckpt_put_u64(&p, n_rows); ...               (little-endian header fields)
 *     lct__ckpt_piece pieces[] = {{p.data, p.size, 0}, {rows, rows_bytes, 4}};
 *     rc = lct__ckpt_add_pieces(w, name, LCT__CKPT_TYPE_BANK, pieces, 2, 0, __func__);
 *     lct__ckpt_put_free(&p);
 * Loading a section of another shape (all-or-nothing, also inside reader_begin/commit groups):
 *     void *data; size_t size;
 *     rc = lct__ckpt_read(r, name, LCT__CKPT_TYPE_BANK, max_bytes, &data, &size, __func__);
 *     if (rc == LCT_OK) rc = validate(bank, data, size);    (must not change the bank)
 *     return lct__ckpt_finish(r, rc, bank, commit, data, size);  (commit copies, cannot fail)
 */
#ifndef LCT_CHECKPOINT_CHECKPOINT_H
#define LCT_CHECKPOINT_CHECKPOINT_H

#include "../core/internal.h"

/* Section types of the other modules (below LCT_CHECKPOINT_TYPE_USER). */
enum {
    LCT__CKPT_TYPE_ENCODER_SPEC = 16, /* encoder architecture spec text */
    LCT__CKPT_TYPE_OPTIMIZER = 32,    /* optimizer state (step, schedule, moments) */
    LCT__CKPT_TYPE_BANK = 48,         /* memory bank rows (fp32/fp16) and RNG stream */
    LCT__CKPT_TYPE_BANK_SHARD = 49,   /* one rank's shard of a sharded bank, with the layout (N, P, rank, offset) */
    LCT__CKPT_TYPE_LOSS = 64,         /* loss state (Z, counters) */
    LCT__CKPT_TYPE_AUGMENT = 80,      /* augmenter stream and counter */
    LCT__CKPT_TYPE_REPLAY = 96,       /* replay: samples, slots' ages, counters, MinRed's measures */
    LCT__CKPT_TYPE_NOVELTY = 112      /* novelty: the running statistics of the scores */
};

/* ---- little-endian payload builder --------------------------------------- */
typedef struct lct__ckpt_put {
    lct_runtime *rt;
    unsigned char *data;
    size_t size, cap;
    int failed;         /* an allocation failed; every later put is ignored */
} lct__ckpt_put;

void lct__ckpt_put_init(lct__ckpt_put *p, lct_runtime *rt);
void lct__ckpt_put_free(lct__ckpt_put *p);
void lct__ckpt_put_bytes(lct__ckpt_put *p, const void *data, size_t n);
void lct__ckpt_put_u32(lct__ckpt_put *p, uint32_t v);
void lct__ckpt_put_u64(lct__ckpt_put *p, uint64_t v);
/* u32 length then the bytes (no NUL). */
void lct__ckpt_put_str(lct__ckpt_put *p, const char *s, size_t n);
/* LCT_OK, or LCT_ENOMEM (recorded) if an append failed. */
int lct__ckpt_put_status(const lct__ckpt_put *p);

/* ---- bounds-checked little-endian parser --------------------------------- */
typedef struct lct__ckpt_get {
    const unsigned char *data;
    size_t size, pos;
    int failed;         /* read past the end: every later get returns 0 */
} lct__ckpt_get;

void lct__ckpt_get_init(lct__ckpt_get *g, const void *data, size_t size);
uint32_t lct__ckpt_get_u32(lct__ckpt_get *g);
uint64_t lct__ckpt_get_u64(lct__ckpt_get *g);
/* Pointer to the next n bytes (NULL and failed if fewer remain). */
const void *lct__ckpt_get_bytes(lct__ckpt_get *g, size_t n);
/* u32 length (<= max) then bytes; sets *len. NULL and failed if malformed. */
const char *lct__ckpt_get_str(lct__ckpt_get *g, size_t max, size_t *len);
static inline size_t lct__ckpt_get_left(const lct__ckpt_get *g) { return g->size - g->pos; }

/* Little-endian load/store whatever the host's byte order. */
static inline void lct__le32_store(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void lct__le64_store(unsigned char *p, uint64_t v)
{
    lct__le32_store(p, (uint32_t)v);
    lct__le32_store(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t lct__le32_load(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lct__le64_load(const unsigned char *p)
{
    return (uint64_t)lct__le32_load(p) | (uint64_t)lct__le32_load(p + 4) << 32;
}
/* The little-endian u64 at byte offset off of a payload. */
static inline uint64_t lct__ckpt_u64_at(const void *payload, size_t off)
{
    return lct__le64_load((const unsigned char *)payload + off);
}
static inline int lct__host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}
/* Convert n 4-byte (2-byte) words between host and little-endian order (no-op on LE hosts). */
void lct__swap32_if_be(void *data, size_t n);
void lct__swap16_if_be(void *data, size_t n);

/* ---- writer side ---------------------------------------------------------- */

/* One piece of a section's payload; pieces are concatenated. */
typedef struct lct__ckpt_piece {
    const void *data;
    size_t size;
    int swap;           /* 0: bytes; 4: host 32-bit words (float32), 2: host 16-bit words (fp16),
                           stored little-endian */
} lct__ckpt_piece;

/*
 * Add section (name, type) whose payload is the concatenation of the pieces; copied and
 * compressed during the call. Checks the name (1..255 bytes, unique, "lct." prefix only if
 * reserved_ok). On failure the writer is unchanged.
 */
int lct__ckpt_add_pieces(lct_checkpoint_writer *w, const char *name, uint32_t type,
                         const lct__ckpt_piece *pieces, size_t n_pieces, int reserved_ok, const char *func);
lct_runtime *lct__ckpt_writer_runtime(const lct_checkpoint_writer *w);
/* Remove section `name` if the writer holds it (undo of a multi-section add). */
void lct__ckpt_writer_remove(lct_checkpoint_writer *w, const char *name);

/* ---- reader side ---------------------------------------------------------- */

lct_runtime *lct__ckpt_reader_runtime(const lct_checkpoint_reader *r);

/* LCT_EMISMATCH unless a handle (`what`, created from `theirs`) comes from the same runtime as the
 * writer or reader (`mine`): their memory and streams must not mix. */
static inline int lct__ckpt_same_runtime(const lct_runtime *mine, const lct_runtime *theirs, const char *what,
                                         const char *side, const char *func)
{
    if (mine == theirs) return LCT_OK;
    return lct__fail(LCT_EMISMATCH, func, "%s was created from another runtime than the %s", what, side);
}
#define LCT__CKPT_WRITER_RT(w, rt, what) \
    do { int rc__ = lct__ckpt_same_runtime(lct__ckpt_writer_runtime(w), (rt), (what), "writer", __func__); \
         if (rc__) return rc__; } while (0)
#define LCT__CKPT_READER_RT(r, rt, what) \
    do { if (!lct__ckpt_reader_accepts((r), (rt))) \
             return lct__ckpt_same_runtime(lct__ckpt_reader_runtime(r), (rt), (what), "reader", __func__); \
    } while (0)
/* 1 if a handle of `rt` may be loaded: the reader's runtime, or the one a lct_checkpoint_new_*()
 * call creates its handle from (set for the duration of that call). */
int lct__ckpt_reader_accepts(const lct_checkpoint_reader *r, const lct_runtime *rt);
void lct__ckpt_reader_set_creating(lct_checkpoint_reader *r, lct_runtime *rt);

/*
 * Decompress section (name, type) into a new block (lct__free it, or hand it to
 * lct__ckpt_finish). Refuses before allocating: missing section (LCT_ENOTFOUND), other type
 * (LCT_EFORMAT), raw size above max_size (LCT_ESHAPE).
 */
int lct__ckpt_read(lct_checkpoint_reader *r, const char *name, uint32_t type, size_t max_size,
                   void **data, size_t *size, const char *func);
/* Decompress only the first n bytes of section index into dst (n <= its raw size). */
int lct__ckpt_read_prefix(lct_checkpoint_reader *r, size_t index, void *dst, size_t n, const char *func);

/* Apply a validated payload to its target; must not fail. */
typedef void (*lct__ckpt_commit_fn)(void *target, const void *payload, size_t size);

/*
 * End of every load: if rc != LCT_OK, free payload, mark an open group as failed and return
 * rc. Otherwise commit now (no group) or stage until lct_checkpoint_reader_commit (group);
 * takes ownership of payload (allocated with lct__malloc on the reader's runtime; may be NULL).
 */
int lct__ckpt_finish(lct_checkpoint_reader *r, int rc, void *target, lct__ckpt_commit_fn commit,
                     void *payload, size_t size);

/*
 * A load made of several sections (an encoder's spec and parameters) is all-or-nothing on
 * its own: open a group unless the caller already did (returns 1 if it opened one), then
 * end it with the load's status: commit on LCT_OK, drop the staged parts otherwise (the
 * failing part's message is kept). Inside a caller's group both do nothing.
 */
int lct__ckpt_implicit_begin(lct_checkpoint_reader *r);
int lct__ckpt_implicit_end(lct_checkpoint_reader *r, int opened, int rc);
/* 1 while a group (explicit or implicit) is open. */
int lct__ckpt_in_group(const lct_checkpoint_reader *r);

/* ---- handle records (records.c) ------------------------------------------ */
#define LCT__CKPT_RECORD_VERSION 1u
/* "<name><suffix>" into buf (LCT_CHECKPOINT_MAX_NAME + 1 bytes); LCT_EINVAL if too long. */
int lct__ckpt_sub_name(char *buf, const char *name, const char *suffix, const char *func);
/* Add record section (name, type) from rec (freed here) followed by `extra` bytes (stored with
 * extra_swap), and, if params is not NULL, the parameter section "<name><suffix>"; all or nothing. */
int lct__ckpt_add_record(lct_checkpoint_writer *w, const char *name, uint32_t type, lct__ckpt_put *rec,
                         const void *extra, size_t extra_size, int extra_swap, const char *suffix,
                         const lct_params *params, const char *func);
/* Read record section (name, type) of at most max bytes, check its version; g parses the rest. */
int lct__ckpt_read_record(lct_checkpoint_reader *r, const char *name, uint32_t type, size_t max, void **data,
                          size_t *size, lct__ckpt_get *g, const char *func);
/* Check of a record payload before it is staged: g stands past the version word (on the payload of
 * g->size bytes, which the check may convert in place); must not change target. */
typedef int (*lct__ckpt_check_fn)(const void *target, lct__ckpt_get *g, unsigned char *payload, const char *name,
                                  const char *func);

/* What a module's record is: its section type, the handle's argument name (for messages), how a
 * payload is checked (NULL: it must hold exactly the maximum size) and applied, and the suffix of
 * the handle's parameter section (NULL: none). */
typedef struct lct__ckpt_record {
    uint32_t type;
    const char *what;
    lct__ckpt_check_fn check;
    lct__ckpt_commit_fn commit;
    const char *suffix;
} lct__ckpt_record;

/* Opening of a handle's save: LCT_EINVAL naming a NULL w, name or handle (`what`), LCT_EMISMATCH
 * unless rt (the handle's runtime) is the writer's; then rec holds the record's version word. */
int lct__ckpt_record_begin(lct__ckpt_put *rec, lct_checkpoint_writer *w, const char *name, const void *handle,
                           const lct_runtime *rt, const char *what, const char *func);
/* The whole load of a handle's record section of at most max bytes: the argument and runtime checks
 * as lct__ckpt_record_begin, read, check, commit (or stage). With a suffix, the load also takes the
 * parameter section "<name><suffix>" into params (unless params is NULL), all or nothing. */
int lct__ckpt_load_record(lct_checkpoint_reader *r, const char *name, void *handle, const lct_runtime *rt,
                          const lct__ckpt_record *rec, size_t max, lct_params *params, const char *func);
/* Opening of every lct_checkpoint_new_*() after *out = NULL: LCT_EINVAL naming a NULL argument,
 * LCT_ESTATE inside a group of loads (the new handle could not be dropped with it). */
int lct__ckpt_new_begin(lct_checkpoint_reader *r, const char *name, const lct_runtime *rt, const char *func);
/* In lct_checkpoint_new_*(), if rc is LCT_OK, rc = load (the call that loads the handle just
 * created from rt), the reader accepting a handle of rt for that call. */
#define LCT__CKPT_LOAD_CREATED(r, rt, rc, load) \
    do { \
        lct__ckpt_reader_set_creating((r), (rt)); \
        if ((rc) == LCT_OK) (rc) = (load); \
        lct__ckpt_reader_set_creating((r), NULL); \
    } while (0)

#endif /* LCT_CHECKPOINT_CHECKPOINT_H */
