/*
 * Fuzz target for counts at the edges of the public API. The input is decoded into up to 48
 * calls (bank, kNN, encoder, augmenter, GEMM, parameter sets, optimiser, losses, collectives,
 * checkpoints, .npy) whose counts are drawn from the edges: 0, 1, 2, small values, 2^24 + 1,
 * 2^31, 2^32, 2^40, 2^60, 2^61, 2^62, SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX, or raw bytes.
 * Every buffer a call reads or writes ends where an inaccessible page begins, so reading or
 * writing one byte past it faults.
 *
 * For each call the harness works out, on its own, the bytes each buffer must hold for the
 * call's counts, and what the header says must be refused (zero counts, documented limits):
 *  - a buffer larger than any object can be (PTRDIFF_MAX bytes), or a documented limit: the
 *    call must fail, with a message, a code its header lists, and no memory kept. Buffers that
 *    the harness cannot provide are then given as zero bytes before the guard page: the call
 *    must refuse before it touches them;
 *  - every buffer within the harness's 64 KiB arenas (and the work small): the buffers hold
 *    exactly what the counts ask for, and the call must return LCT_OK or a listed code;
 *  - anything else (a size that could exist but that the harness cannot provide) is skipped.
 * The listed codes come from the headers (tests/doc_codes.h, like the unit suites).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../doc_codes.h"
#include "fuzz_budget.h"
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef LCT_SOURCE_ROOT
#  error "LCT_SOURCE_ROOT must name the source tree (its headers hold the error lists)"
#endif

/* ---- input ------------------------------------------------------------------------------------- */

static const size_t edges[] = {0, 1, 2, 3, 4, 7, 16, 50, 64, (size_t)1 << 24, ((size_t)1 << 24) + 1,
                               (size_t)1 << 31, (size_t)1 << 32, (size_t)1 << 40, (size_t)1 << 60,
                               (size_t)1 << 61, (size_t)1 << 62, SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX - 1,
                               SIZE_MAX};
#define N_EDGES (sizeof edges / sizeof *edges)

/* A count: mostly an edge, sometimes a small raw value, rarely any 64 bits. */
static size_t count(rd *r)
{
    uint8_t s = u8(r);
    if (s < 224) return edges[s % N_EDGES];
    if (s < 254) return u8(r);
    return (size_t)u64(r);
}

/* ---- guarded buffers ------------------------------------------------------------------------------ */

#define ARENA ((size_t)1 << 16)
#define SLOTS 8
/* Calls whose buffers fit but whose work (about the flops) exceeds this are skipped: time, not safety. */
#define WORK_CAP ((size_t)1 << 18)

static unsigned char *arena[SLOTS];

/* SLOTS regions of ARENA bytes, each followed by an inaccessible page; made once per process. */
static void arenas_init(void)
{
    if (arena[0]) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < SLOTS; i++) {
        unsigned char *m = mmap(NULL, ARENA + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m + ARENA, page, PROT_NONE) != 0) abort();
        arena[i] = m;
    }
}

enum { RUN, MUST_FAIL, SKIP };

typedef struct need {
    size_t bytes[SLOTS];
    int n;
    int impossible; /* a buffer larger than PTRDIFF_MAX bytes */
    int too_big;    /* a buffer larger than an arena */
    int refused;    /* a documented limit or a zero count */
    size_t work;
} need;

/* Buffer `w->n` holds a x b elements of elem bytes. */
static int want(need *w, size_t a, size_t b, size_t elem)
{
    size_t n;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_mul_overflow(n, elem, &n) || n > (size_t)PTRDIFF_MAX) {
        w->impossible = 1;
        n = 0;
    } else if (n > ARENA) {
        w->too_big = 1;
    }
    w->bytes[w->n] = n;
    return w->n++;
}

/* A matrix of rows x len elements of elem bytes, rows ld apart (len <= ld for a valid call). */
static int want_matrix(need *w, size_t rows, size_t ld, size_t len, size_t elem)
{
    size_t e;
    if (rows == 0 || len == 0) return want(w, 0, 0, elem);
    if (__builtin_mul_overflow(rows - 1, ld, &e) || __builtin_add_overflow(e, len, &e)) {
        w->impossible = 1;
        w->bytes[w->n] = 0;
        return w->n++;
    }
    return want(w, e, 1, elem);
}

static void work(need *w, size_t a, size_t b, size_t c)
{
    size_t n;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_mul_overflow(n, c, &n)) n = SIZE_MAX;
    if (n > w->work) w->work = n;
}

static int decide(const need *w)
{
    if (w->impossible || w->refused) return MUST_FAIL;
    if (w->too_big || w->work > WORK_CAP) return SKIP;
    return RUN;
}

enum { FILL_F32, FILL_IDX, FILL_LABEL, FILL_BYTES, FILL_ZERO };

/* Buffer i of w, right before its guard page, filled; a buffer the harness cannot provide is empty. */
static void *slot(const need *w, int i, int fill, rd *r, size_t modulo)
{
    size_t bytes = w->bytes[i] <= ARENA ? w->bytes[i] : 0;
    unsigned char *p = arena[i] + ARENA - bytes;
    uint8_t seed = u8(r);
    switch (fill) {
    case FILL_F32:
        for (size_t k = 0; k + 4 <= bytes; k += 4) {
            float v = (float)((int)((k / 4 * 37u + seed) % 41u) - 20) / 16.0f;
            memcpy(p + k, &v, 4);
        }
        break;
    case FILL_IDX:
        for (size_t k = 0; k + 8 <= bytes; k += 8) {
            int64_t v = (int64_t)((k / 8 * 7u + seed) % (modulo ? modulo : 1));
            if (seed == 255 && k == 0) v = -1; /* now and then an index out of range */
            memcpy(p + k, &v, 8);
        }
        break;
    case FILL_LABEL:
        for (size_t k = 0; k + 4 <= bytes; k += 4) {
            int32_t v = (int32_t)((k / 4 + seed) % (modulo ? modulo : 1));
            memcpy(p + k, &v, 4);
        }
        break;
    case FILL_BYTES:
        for (size_t k = 0; k < bytes; k++) p[k] = r->n ? r->p[k % r->n] : (uint8_t)k;
        break;
    default: memset(p, 0, bytes);
    }
    return p;
}

/* ---- the library's answer --------------------------------------------------------------------- */

static lct_doc docs;

static void check(lct_runtime *rt, const char *fn, int mode, int rc, size_t mem_before)
{
    if (rc < 0) {
        if (lct_error_last()[0] == '\0') {
            fprintf(stderr, "%s failed (%d) without a message\n", fn, rc);
            abort();
        }
        if (rc <= -32 || !((lct_doc_codes(&docs, fn, 0) >> -rc) & 1u)) {
            fprintf(stderr, "%s returned %d (%s), which its header does not list\n", fn, rc, lct_status_string(rc));
            abort();
        }
    }
    if (mode == MUST_FAIL) {
        if (rc >= 0) {
            fprintf(stderr, "%s accepted counts that its header or the size of memory rules out\n", fn);
            abort();
        }
        size_t now = 0;
        lct_runtime_memory(rt, &now, NULL);
        if (now != mem_before) {
            fprintf(stderr, "%s kept %zd bytes on a refused call\n", fn, (ptrdiff_t)(now - mem_before));
            abort();
        }
    }
}

/* Calls made (RUN, MUST_FAIL) and skipped so far; LCT_FUZZ_API_STATS=1 prints them at exit. */
static size_t tally[3];

static void print_tally(void)
{
    fprintf(stderr, "fuzz_api: %zu calls run, %zu refusals checked, %zu skipped\n", tally[RUN], tally[MUST_FAIL],
            tally[SKIP]);
}

/* Call `expr` (returning int) unless the plan skips it, and check its result. */
#define CALL(fn, expr)                                                 \
    do {                                                               \
        tally[mode]++;                                                 \
        if (mode == SKIP) break;                                       \
        size_t before__ = 0;                                           \
        lct_runtime_memory(w->rt, &before__, NULL);                    \
        lct_error_clear();                                             \
        int rc__ = (expr);                                             \
        check(w->rt, fn, mode, rc__, before__);                        \
        w->last_rc = rc__;                                             \
    } while (0)

/* ---- the handles --------------------------------------------------------------------------------- */

enum { N = 50, D = 4, IMG = 16, SIG_IN = 12, SIG_OUT = 8, T = 4, ZD = 3, CD = 2, STEPS = 2, K = 5 };

typedef struct world {
    fuzz_budget budget;
    lct_runtime *rt;
    lct_bank *bank, *bank2, *bank16, *thin;
    lct_encoder *enc;
    lct_augmenter *aug, *sig;
    lct_loss *nce, *nps, *inva, *cpc, *cmc;
    lct_optimizer *opt;
    lct_comm *self;
    lct_checkpoint_writer *wr;
    lct_checkpoint_reader *rd;
    size_t fwd_batch; /* batch of the last successful forward, 0 if none */
    int last_rc;      /* what the last call returned */
} world;

static int build(world *w)
{
    w->rt = fuzz_budget_runtime(&w->budget, 64u << 20, 1);
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    if (lct_bank_new(&w->bank, w->rt, N, D, NULL) || lct_bank_new(&w->bank2, w->rt, N, D, NULL) ||
        lct_bank_new(&w->thin, w->rt, N, 1, NULL))
        return -1;
    bo.storage = LCT_BANK_FP16;
    if (lct_bank_new(&w->bank16, w->rt, N, D, &bo)) return -1;
    if (lct_encoder_new_from_spec(&w->enc, w->rt, "in 4; linear 4; relu", NULL)) return -1;
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.channels = 1, ao.height = 4, ao.width = 4;
    if (lct_augmenter_new(&w->aug, w->rt, &ao) || lct_augmenter_add_hflip(w->aug, 0.5)) return -1;
    ao.input = LCT_AUG_SIGNAL_F32, ao.channels = 1, ao.height = 1, ao.width = SIG_IN, ao.out_width = SIG_OUT;
    if (lct_augmenter_new(&w->sig, w->rt, &ao)) return -1;
    lct_loss_nce_options no;
    lct_loss_nce_options_init(&no, LCT_LOSS_NCE_OPTIONS_VERSION);
    no.k = K;
    if (lct_loss_new_nce(&w->nce, w->rt, w->bank, &no) || lct_loss_new_npsoftmax(&w->nps, w->rt, w->bank, NULL) ||
        lct_loss_new_invaspread(&w->inva, w->rt, D, NULL))
        return -1;
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    io.steps = STEPS;
    if (lct_loss_new_infonce(&w->cpc, w->rt, T, ZD, CD, &io)) return -1;
    lct_loss_cmc_options co;
    lct_loss_cmc_options_init(&co, LCT_LOSS_CMC_OPTIONS_VERSION);
    co.k = K;
    lct_bank *banks[2] = {w->bank, w->bank2};
    if (lct_loss_new_cmc(&w->cmc, w->rt, 2, D, banks, &co)) return -1;
    if (lct_optimizer_new(&w->opt, w->rt, NULL) || lct_optimizer_attach(w->opt, lct_encoder_params(w->enc)))
        return -1;
    if (lct_comm_new_self(&w->self, w->rt)) return -1;
    if (lct_checkpoint_writer_new(&w->wr, w->rt, NULL)) return -1;
    return 0;
}

/* A checkpoint written through a callback into a malloc'ed buffer. */
typedef struct membuf {
    unsigned char *data;
    size_t size;
} membuf;

static int mem_write(void *user, const void *data, size_t size)
{
    membuf *m = user;
    unsigned char *p = realloc(m->data, m->size + size);
    if (p == NULL) return -1;
    memcpy(p + m->size, data, size);
    m->data = p;
    m->size += size;
    return 0;
}

/* The reader of lct_checkpoint_read_blob: a checkpoint holding a 16-byte blob. */
static int open_reader(world *w)
{
    lct_checkpoint_writer *tmp;
    if (lct_checkpoint_writer_new(&tmp, w->rt, NULL)) return -1;
    membuf m = {NULL, 0};
    int rc = lct_checkpoint_add_blob(tmp, "blob", LCT_CHECKPOINT_TYPE_USER, "0123456789abcdef", 16);
    if (rc == LCT_OK) rc = lct_checkpoint_write_cb(tmp, mem_write, &m);
    lct_checkpoint_writer_free(tmp);
    if (rc == LCT_OK) rc = lct_checkpoint_reader_open_memory(&w->rd, w->rt, m.data, m.size);
    free(m.data);
    return rc == LCT_OK ? 0 : -1;
}

static void destroy(world *w)
{
    lct_checkpoint_reader_free(w->rd);
    lct_checkpoint_writer_free(w->wr);
    lct_comm_free(w->self);
    lct_optimizer_free(w->opt);
    lct_loss_free(w->cmc);
    lct_loss_free(w->cpc);
    lct_loss_free(w->inva);
    lct_loss_free(w->nps);
    lct_loss_free(w->nce);
    lct_augmenter_free(w->sig);
    lct_augmenter_free(w->aug);
    lct_encoder_free(w->enc);
    lct_bank_free(w->bank16);
    lct_bank_free(w->thin);
    lct_bank_free(w->bank2);
    lct_bank_free(w->bank);
}

/* A bank of the world and its D. */
static lct_bank *pick_bank(world *w, rd *r, size_t *d)
{
    switch (u8(r) % 3) {
    case 0: *d = D; return w->bank;
    case 1: *d = D; return w->bank16;
    default: *d = 1; return w->thin;
    }
}

/* ---- the calls ------------------------------------------------------------------------------------ */

static void bank_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t d, c = count(r), k = count(r);
    lct_bank *b = pick_bank(w, r, &d);
    switch (op) {
    case 0: { /* gather */
        int i = want(&n, c, 1, 8), o = want(&n, c, d, 4);
        n.refused = c == 0;
        work(&n, c, d, 1);
        mode = decide(&n);
        CALL("lct_bank_gather", lct_bank_gather(b, slot(&n, i, FILL_IDX, r, N), c, slot(&n, o, FILL_ZERO, r, 0)));
        break;
    }
    case 1: { /* rows */
        size_t first = count(r);
        int o = want(&n, c, d, 4);
        n.refused = c == 0 || first >= N || c > N - first;
        mode = decide(&n);
        float *buf = slot(&n, o, FILL_F32, r, 0);
        if (u8(r) & 1) CALL("lct_bank_get_rows", lct_bank_get_rows(b, first, c, buf));
        else CALL("lct_bank_set_rows", lct_bank_set_rows(b, first, c, buf));
        break;
    }
    case 2: { /* sample */
        int m = u8(r) % 5; /* 4: an unknown mode */
        int shared = m >= LCT_BANK_SAMPLE_SHARED, exclude = m == 1 || m == 3;
        int s = want(&n, exclude || (u8(r) & 1) ? c : 0, 1, 8), o = want(&n, shared ? 1 : c, k, 8);
        n.refused = c == 0 || k == 0 || m > 3;
        work(&n, c, k, 1);
        mode = decide(&n);
        int64_t *self = n.bytes[s] || exclude ? slot(&n, s, FILL_IDX, r, N) : NULL;
        CALL("lct_bank_sample", lct_bank_sample(b, self, c, k, m, slot(&n, o, FILL_ZERO, r, 0)));
        break;
    }
    case 3: { /* similarity */
        int m = u8(r) % 4, shared = m >= LCT_BANK_SAMPLE_SHARED;
        size_t k1 = k == SIZE_MAX ? 0 : k + 1;
        int f = want(&n, c, d, 4), p = want(&n, c, 1, 8), g = want(&n, shared ? 1 : c, k, 8);
        int o = want(&n, c, k1, 4);
        n.impossible |= k == SIZE_MAX;
        n.refused = c == 0 || k == 0;
        work(&n, c, k, d);
        mode = decide(&n);
        CALL("lct_bank_similarity",
             lct_bank_similarity(b, slot(&n, f, FILL_F32, r, 0), c, slot(&n, p, FILL_IDX, r, N),
                                 slot(&n, g, FILL_IDX, r, N), k, m, slot(&n, o, FILL_ZERO, r, 0)));
        break;
    }
    case 4: { /* similarity with a range of rows */
        size_t first = count(r), ldo = (u8(r) & 1) ? k : count(r);
        int f = want(&n, c, d, 4), o = want_matrix(&n, c, ldo, k, 4);
        n.refused = c == 0 || k == 0 || first >= N || k > N - first || ldo < k;
        work(&n, c, k, d);
        mode = decide(&n);
        CALL("lct_bank_similarity_all", lct_bank_similarity_all(b, slot(&n, f, FILL_F32, r, 0), c, first, k,
                                                                slot(&n, o, FILL_ZERO, r, 0), ldo));
        break;
    }
    case 5: { /* update */
        int f = want(&n, c, d, 4), i = want(&n, c, 1, 8);
        n.impossible |= c > (size_t)PTRDIFF_MAX / 16; /* the bank's work entries: 16 bytes per sample */
        n.refused = c == 0;
        work(&n, c, d, 1);
        mode = decide(&n);
        lct_bank_update_options o;
        lct_bank_update_options_init(&o, LCT_BANK_UPDATE_OPTIONS_VERSION);
        o.rule = u8(r) % 2;
        CALL("lct_bank_update_ex",
             lct_bank_update_ex(b, slot(&n, f, FILL_F32, r, 0), slot(&n, i, FILL_IDX, r, N), c, &o));
        break;
    }
    default: { /* proximal */
        int f = want(&n, c, d, 4), i = want(&n, c, 1, 8), g = want(&n, c, d, 4);
        n.refused = c == 0;
        work(&n, c, d, 1);
        mode = decide(&n);
        double pen;
        float *grad = (u8(r) & 1) ? slot(&n, g, FILL_F32, r, 0) : NULL;
        CALL("lct_bank_proximal",
             lct_bank_proximal(b, slot(&n, f, FILL_F32, r, 0), slot(&n, i, FILL_IDX, r, N), c, 0.5f, grad, &pen));
        break;
    }
    }
}

static void knn_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t q = count(r), k = count(r);
    int32_t classes = (int32_t)(u8(r) % 6);
    int with_scores = u8(r) & 1;
    if (op == 0) {
        size_t nn = count(r), d = count(r);
        int f = want(&n, nn, d, 4), qq = want(&n, q, d, 4), idx = want(&n, q, k, 8), sim = want(&n, q, k, 4);
        int lab = want(&n, nn, 1, 4), pred = want(&n, q, 1, 4), sc = want(&n, q, classes, 4);
        n.refused = nn == 0 || d == 0 || q == 0 || k == 0 || k > nn;
        work(&n, nn, q, d);
        if (u8(r) & 1) {
            n.refused |= classes < 1;
            mode = decide(&n);
            CALL("lct_knn_classify",
                 lct_knn_classify(w->rt, slot(&n, f, FILL_F32, r, 0), slot(&n, lab, FILL_LABEL, r, (size_t)classes),
                                  nn, d, slot(&n, qq, FILL_F32, r, 0), q, k, 0.07f, classes,
                                  slot(&n, pred, FILL_ZERO, r, 0), with_scores ? slot(&n, sc, FILL_ZERO, r, 0) : NULL));
        } else {
            mode = decide(&n);
            CALL("lct_knn_topk", lct_knn_topk(w->rt, slot(&n, f, FILL_F32, r, 0), nn, d, slot(&n, qq, FILL_F32, r, 0),
                                              q, k, slot(&n, idx, FILL_ZERO, r, 0),
                                              with_scores ? slot(&n, sim, FILL_ZERO, r, 0) : NULL));
        }
        return;
    }
    size_t d;
    lct_bank *b = pick_bank(w, r, &d);
    int qq = want(&n, q, d, 4), idx = want(&n, q, k, 8), sim = want(&n, q, k, 4);
    int lab = want(&n, N, 1, 4), pred = want(&n, q, 1, 4), sc = want(&n, q, classes, 4);
    n.refused = q == 0 || k == 0 || k > N;
    work(&n, N, q, d);
    if (op == 1) {
        mode = decide(&n);
        CALL("lct_knn_topk_bank", lct_knn_topk_bank(b, slot(&n, qq, FILL_F32, r, 0), q, k,
                                                    slot(&n, idx, FILL_ZERO, r, 0),
                                                    with_scores ? slot(&n, sim, FILL_ZERO, r, 0) : NULL));
    } else {
        n.refused |= classes < 1;
        mode = decide(&n);
        CALL("lct_knn_classify_bank",
             lct_knn_classify_bank(b, slot(&n, lab, FILL_LABEL, r, (size_t)classes), slot(&n, qq, FILL_F32, r, 0), q,
                                   k, 0.07f, classes, slot(&n, pred, FILL_ZERO, r, 0),
                                   with_scores ? slot(&n, sc, FILL_ZERO, r, 0) : NULL));
    }
}

static void encoder_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t c = count(r);
    switch (op) {
    case 0: { /* forward, then maybe backward */
        int x = want(&n, c, 4, 4), y = want(&n, c, 4, 4);
        n.refused = c == 0;
        work(&n, c, 16, 1);
        mode = decide(&n);
        w->last_rc = -1;
        CALL("lct_encoder_forward",
             lct_encoder_forward(w->enc, slot(&n, x, FILL_F32, r, 0), c, slot(&n, y, FILL_ZERO, r, 0)));
        if (mode == RUN && w->last_rc == LCT_OK) w->fwd_batch = c;
        break;
    }
    case 1: { /* backward */
        int dy = want(&n, c, 4, 4), dx = want(&n, c, 4, 4);
        n.refused = w->fwd_batch == 0 || c != w->fwd_batch;
        mode = decide(&n);
        CALL("lct_encoder_backward", lct_encoder_backward(w->enc, slot(&n, dy, FILL_F32, r, 0), c,
                                                          (u8(r) & 1) ? slot(&n, dx, FILL_ZERO, r, 0) : NULL));
        break;
    }
    case 2: { /* shapes: up to cap dimensions are written (the encoder's are rank 1) */
        int s = want(&n, c < 1 ? c : 1, 1, 4);
        mode = decide(&n);
        size_t rank;
        uint32_t *shape = c ? slot(&n, s, FILL_ZERO, r, 0) : NULL;
        if (u8(r) & 1) CALL("lct_encoder_input_shape", lct_encoder_input_shape(w->enc, shape, c, &rank));
        else CALL("lct_encoder_output_shape", lct_encoder_output_shape(w->enc, shape, c, &rank));
        break;
    }
    case 3: { /* a new encoder of `c` dimensions: refused above rank 3 before the shape is read */
        int s = want(&n, c, 1, 4);
        n.refused = c == 0 || c > LCT_ENCODER_MAX_RANK;
        mode = decide(&n);
        uint32_t *shape = slot(&n, s, FILL_ZERO, r, 0);
        for (size_t i = 0; i < c && i < LCT_ENCODER_MAX_RANK && mode == RUN; i++) shape[i] = 1u + u8(r) % 5u;
        lct_encoder *e = NULL;
        CALL("lct_encoder_new", lct_encoder_new(&e, w->rt, shape, c, NULL));
        lct_encoder_free(e);
        break;
    }
    default: { /* workspace size: no buffer */
        mode = RUN;
        size_t bytes;
        CALL("lct_encoder_workspace_bytes", lct_encoder_workspace_bytes(w->enc, c, &bytes));
        break;
    }
    }
}

static void augment_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t c = count(r), v = count(r);
    if (op == 0) {
        int signal = u8(r) & 1;
        size_t in_count = signal ? SIG_IN : IMG, elem = signal ? 4 : 1, out_count = signal ? SIG_OUT : IMG;
        int in = want(&n, c, in_count, elem);
        size_t views;
        int o = __builtin_mul_overflow(c, v, &views) ? (n.impossible = 1, want(&n, 0, 0, 4))
                                                     : want(&n, views, out_count, 4);
        n.refused = c == 0 || v == 0;
        work(&n, c, v, out_count * 8);
        mode = decide(&n);
        CALL("lct_augmenter_apply", lct_augmenter_apply(signal ? w->sig : w->aug,
                                                        slot(&n, in, signal ? FILL_F32 : FILL_BYTES, r, 0), c, v,
                                                        slot(&n, o, FILL_ZERO, r, 0)));
    } else {
        /* normalisation of a fresh (3-channel) augmenter: channels must be 3 before mean or std is read */
        int mean = want(&n, c, 1, 4), sd = want(&n, c, 1, 4);
        n.refused = c != 3;
        mode = decide(&n);
        float *m = slot(&n, mean, FILL_F32, r, 0), *s = slot(&n, sd, FILL_ZERO, r, 0);
        for (size_t i = 0; mode == RUN && i < c; i++) s[i] = 0.5f;
        lct_augmenter *a = NULL;
        if (lct_augmenter_new(&a, w->rt, NULL) != LCT_OK) return;
        CALL("lct_augmenter_add_normalize", lct_augmenter_add_normalize(a, m, s, c));
        lct_augmenter_free(a);
    }
}

static void gemm_call(world *w, rd *r)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    int ta = u8(r) & 1, tb = u8(r) & 1;
    size_t m = count(r), nn = count(r), k = count(r);
    size_t lda = (u8(r) & 1) ? (ta ? m : k) : count(r), ldb = (u8(r) & 1) ? (tb ? k : nn) : count(r);
    size_t ldc = (u8(r) & 1) ? nn : count(r);
    size_t arow = ta ? m : k, brow = tb ? k : nn;
    int touches = m > 0 && nn > 0;
    int a = want_matrix(&n, touches && k ? (ta ? k : m) : 0, lda, arow, 4);
    int b = want_matrix(&n, touches && k ? (tb ? nn : k) : 0, ldb, brow, 4);
    int c = want_matrix(&n, touches ? m : 0, ldc, nn, 4);
    const size_t lim = (size_t)INT64_MAX / 4;
    n.refused = m > lim || nn > lim || k > lim || lda > lim || ldb > lim || ldc > lim ||
                (touches && (ldc < nn || (k && (lda < arow || ldb < brow))));
    work(&n, m, nn, k ? k : 1);
    mode = decide(&n);
    CALL("lct_gemm", lct_gemm(w->rt, ta, tb, m, nn, k, 1.0f, slot(&n, a, FILL_F32, r, 0), lda,
                              slot(&n, b, FILL_F32, r, 0), ldb, (u8(r) & 1) ? 0.5f : 0.0f,
                              slot(&n, c, FILL_F32, r, 0), ldc));
}

static void params_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t c = count(r);
    if (op == 0) {
        lct_params *p = lct_encoder_params(w->enc);
        size_t index = u8(r) % 4, have = 0; /* 2 tensors: 2 and 3 are past the end */
        if (index < 2) lct_params_info(p, index, NULL, &have, NULL);
        int b = want(&n, c, 1, 4);
        n.refused = index >= 2 || c != have;
        mode = decide(&n);
        float *buf = slot(&n, b, FILL_F32, r, 0);
        switch (u8(r) % 3) {
        case 0: CALL("lct_params_get", lct_params_get(p, index, buf, c)); break;
        case 1: CALL("lct_params_set", lct_params_set(p, index, buf, c)); break;
        default: CALL("lct_params_get_grad", lct_params_get_grad(p, index, buf, c)); break;
        }
    } else {
        int b = want(&n, c, 1, 8);
        n.refused = c > 64;
        mode = decide(&n);
        uint64_t *ms = slot(&n, b, FILL_ZERO, r, 0);
        for (size_t i = 0; mode == RUN && i < c; i++) ms[i] = i * 10 + u8(r) % 10;
        CALL("lct_optimizer_set_milestones", lct_optimizer_set_milestones(w->opt, c ? ms : NULL, c));
    }
}

static void loss_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t c = count(r);
    const size_t limit = (size_t)1 << 24;
    float loss;
    int grads = u8(r) & 1;
    switch (op) {
    case 0:
    case 1:
    case 2: { /* NCE, NCE with host positives, non-parametric softmax */
        int f = want(&n, c, D, 4), i = want(&n, c, 1, 8), df = want(&n, c, D, 4), pos = want(&n, c, D, 4),
            dpos = want(&n, c, D, 4);
        n.refused = c == 0 || c > limit;
        work(&n, c, op == 2 ? N : K + 1, D);
        mode = decide(&n);
        float *g = grads ? slot(&n, df, FILL_ZERO, r, 0) : NULL;
        if (op == 0)
            CALL("lct_loss_nce_compute", lct_loss_nce_compute(w->nce, slot(&n, f, FILL_F32, r, 0),
                                                              slot(&n, i, FILL_IDX, r, N), c, &loss, g));
        else if (op == 1)
            CALL("lct_loss_nce_compute_pos",
                 lct_loss_nce_compute_pos(w->nce, slot(&n, f, FILL_F32, r, 0), slot(&n, pos, FILL_F32, r, 0),
                                          slot(&n, i, FILL_IDX, r, N), c, &loss, g,
                                          grads ? slot(&n, dpos, FILL_ZERO, r, 0) : NULL));
        else
            CALL("lct_loss_npsoftmax_compute", lct_loss_npsoftmax_compute(w->nps, slot(&n, f, FILL_F32, r, 0),
                                                                          slot(&n, i, FILL_IDX, r, N), c, &loss, g));
        break;
    }
    case 3: { /* InvaSpread: 2 x batch rows */
        size_t rows = c > SIZE_MAX / 2 ? SIZE_MAX : 2 * c;
        int x = want(&n, rows, D, 4), dx = want(&n, rows, D, 4);
        n.impossible |= c > SIZE_MAX / 2;
        n.refused = c == 0 || c > limit;
        work(&n, rows, rows, D);
        mode = decide(&n);
        CALL("lct_loss_invaspread_compute", lct_loss_invaspread_compute(w->inva, slot(&n, x, FILL_F32, r, 0), c, &loss,
                                                                        grads ? slot(&n, dx, FILL_ZERO, r, 0) : NULL));
        break;
    }
    case 4: { /* InfoNCE: batch x T x D latents, batch x T x H contexts */
        int z = want(&n, c, T * ZD, 4), ctx = want(&n, c, T * CD, 4), dz = want(&n, c, T * ZD, 4),
            dc = want(&n, c, T * CD, 4), acc = want(&n, STEPS, 1, 4);
        n.refused = c < 2 || c > limit; /* batch negatives need two samples */
        work(&n, c * T, c * T, ZD * STEPS);
        mode = decide(&n);
        CALL("lct_loss_infonce_compute",
             lct_loss_infonce_compute(w->cpc, slot(&n, z, FILL_F32, r, 0), slot(&n, ctx, FILL_F32, r, 0), c, &loss,
                                      grads ? slot(&n, dz, FILL_ZERO, r, 0) : NULL,
                                      grads ? slot(&n, dc, FILL_ZERO, r, 0) : NULL, slot(&n, acc, FILL_ZERO, r, 0)));
        break;
    }
    case 5: { /* CMC over two views */
        int f0 = want(&n, c, D, 4), f1 = want(&n, c, D, 4), i = want(&n, c, 1, 8), g0 = want(&n, c, D, 4),
            g1 = want(&n, c, D, 4);
        n.refused = c == 0 || c > limit;
        work(&n, c, 2 * (K + 1), D);
        mode = decide(&n);
        const float *views[2] = {slot(&n, f0, FILL_F32, r, 0), slot(&n, f1, FILL_F32, r, 0)};
        float *dfs[2] = {slot(&n, g0, FILL_ZERO, r, 0), slot(&n, g1, FILL_ZERO, r, 0)};
        CALL("lct_loss_cmc_compute",
             lct_loss_cmc_compute(w->cmc, views, slot(&n, i, FILL_IDX, r, N), c, &loss, grads ? dfs : NULL));
        break;
    }
    default: { /* workspace sizes: no buffer */
        lct_loss *ls[5] = {w->nce, w->nps, w->inva, w->cpc, w->cmc};
        size_t bytes;
        mode = RUN;
        CALL("lct_loss_workspace_bytes", lct_loss_workspace_bytes(ls[u8(r) % 5], c, &bytes));
        break;
    }
    }
}

static void io_calls(world *w, rd *r, int op)
{
    need n = {{0}, 0, 0, 0, 0, 0};
    int mode;
    size_t c = count(r);
    switch (op) {
    case 0: { /* collectives of the one-process communicator */
        int kind = u8(r) % 3;
        int b = want(&n, c, kind == 0 ? 4 : 1, 1), o = want(&n, c, 1, 1);
        n.refused = c == 0;
        mode = decide(&n);
        void *buf = slot(&n, b, FILL_F32, r, 0);
        if (kind == 0) CALL("lct_comm_allreduce_sum", lct_comm_allreduce_sum(w->self, buf, c));
        else if (kind == 1) CALL("lct_comm_allgather", lct_comm_allgather(w->self, buf, slot(&n, o, FILL_ZERO, r, 0), c));
        else CALL("lct_comm_broadcast", lct_comm_broadcast(w->self, buf, c, 0));
        break;
    }
    case 1: { /* a blob into the writer (at most 8 per input, each under a new name) */
        static unsigned serial;
        int b = want(&n, c, 1, 1);
        n.refused = c > ((size_t)1 << 40);
        mode = decide(&n);
        char name[32];
        snprintf(name, sizeof name, "blob%u", serial++);
        CALL("lct_checkpoint_add_blob", lct_checkpoint_add_blob(w->wr, name, LCT_CHECKPOINT_TYPE_USER,
                                                                c ? slot(&n, b, FILL_BYTES, r, 0) : NULL, c));
        break;
    }
    case 2: { /* a blob out of the reader: only its 16 bytes */
        int b = want(&n, c, 1, 1);
        n.refused = c != 16;
        mode = decide(&n);
        CALL("lct_checkpoint_read_blob",
             lct_checkpoint_read_blob(w->rd, "blob", LCT_CHECKPOINT_TYPE_USER, c ? slot(&n, b, FILL_ZERO, r, 0) : NULL,
                                      c));
        break;
    }
    case 3: { /* a reader over c bytes of the input */
        int b = want(&n, c, 1, 1);
        mode = decide(&n);
        lct_checkpoint_reader *rr = NULL;
        CALL("lct_checkpoint_reader_open_memory",
             lct_checkpoint_reader_open_memory(&rr, w->rt, c ? slot(&n, b, FILL_BYTES, r, 0) : NULL, c));
        lct_checkpoint_reader_free(rr);
        break;
    }
    default: { /* .npy export into a folder that does not exist: refused or LCT_EIO, nothing written */
        int vector = u8(r) & 1;
        size_t cols = vector ? 1 : count(r);
        int b = want(&n, c, cols, 4);
        n.refused = c == 0 || cols == 0;
        mode = decide(&n);
        const char *path = "/nonexistent-lct-fuzz/x.npy";
        if (vector) CALL("lct_npy_write_vector", lct_npy_write_vector(path, slot(&n, b, FILL_F32, r, 0), c));
        else CALL("lct_npy_write", lct_npy_write(path, slot(&n, b, FILL_F32, r, 0), c, cols));
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    arenas_init();
    if (docs.loaded == 0) {
        if (lct_doc_load(&docs, LCT_SOURCE_ROOT "/include/libcontrast") != 0) {
            fprintf(stderr, "fuzz_api: cannot read the headers under %s\n", LCT_SOURCE_ROOT);
            abort();
        }
        const char *stats = getenv("LCT_FUZZ_API_STATS");
        if (stats && stats[0] == '1') atexit(print_tally);
    }
    rd r = {data, size};
    world w;
    memset(&w, 0, sizeof w);
    if (build(&w) != 0 || open_reader(&w) != 0) {
        fprintf(stderr, "fuzz_api: cannot build the handles: %s\n", lct_error_last());
        abort();
    }
    int blobs = 0;
    for (int calls = 0; r.n > 0 && calls < 48; calls++) {
        uint8_t op = u8(&r);
        switch (op % 32) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6: bank_calls(&w, &r, op % 32); break;
        case 7: case 8: case 9: knn_calls(&w, &r, op % 32 - 7); break;
        case 10: case 11: case 12: case 13: case 14: encoder_calls(&w, &r, op % 32 - 10); break;
        case 15: case 16: augment_calls(&w, &r, op % 32 - 15); break;
        case 17: gemm_call(&w, &r); break;
        case 18: case 19: params_calls(&w, &r, op % 32 - 18); break;
        case 20: case 21: case 22: case 23: case 24: case 25: case 26: loss_calls(&w, &r, op % 32 - 20); break;
        default: {
            int k = op % 32 - 27;
            if (k == 1 && blobs++ >= 8) break;
            io_calls(&w, &r, k);
            break;
        }
        }
    }
    destroy(&w);
    fuzz_budget_check_empty(w.rt);
    lct_runtime_free(w.rt);
    return 0;
}
