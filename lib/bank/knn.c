/*
 * kNN: blocked GEMM (a block of queries × a chunk of rows at a time) and a
 * bounded min-heap per query holding its best k so far. Each query block is
 * one unit of work; a block's result depends only on its own data, so the
 * thread count changes nothing. Neighbours are totally ordered by
 * (similarity descending, index ascending), which makes the top-k set unique.
 * Each query keeps a buffer of up to 4k candidates above a threshold; a
 * vector scan skips the (by far most common) rows below it.
 */
#include <math.h>
#include <stdatomic.h>

#include "bank_internal.h"
#include "../core/bf16_tiles.h"

#define KNN_QB 256          /* queries per block (fewer when there are few queries per thread) */
#define KNN_NB 512          /* rows per chunk: a block of similarities stays in L2 */
#define KNN_CAP 4           /* candidate buffer per query: KNN_CAP * k */
#define KNN_HEAP_BYTES (32u << 20) /* per-thread cap on the candidate buffers: fewer queries per block for huge k */
#define KNN_MAX_CLASSES (1 << 24)

typedef struct {
    const float *f32;     /* fp32 rows, or NULL */
    const uint16_t *f16;  /* fp16 rows, or NULL */
    size_t n, d;
} knn_rows;

typedef struct {
    const int32_t *labels;
    float tau;
    int32_t n_classes;
    int32_t *pred;
    float *scores;
} knn_vote;

/* A candidate neighbour. */
typedef struct {
    float s;
    int64_t i;
} knn_cand;

/* a ranks before b: larger similarity, or equal similarity and smaller index (a strict total order). */
static inline int better(const knn_cand *a, const knn_cand *b)
{
    return a->s > b->s || (a->s == b->s && a->i < b->i);
}

static inline void swap_cand(knn_cand *a, knn_cand *b)
{
    knn_cand t = *a;
    *a = *b;
    *b = t;
}

/* Branch-free form of better() for the partition loop (its outcome is data-dependent and unpredictable). */
static inline int better_nb(const knn_cand *a, const knn_cand *b)
{
    return (a->s > b->s) | ((a->s == b->s) & (a->i < b->i));
}

/* Partition a[lo..hi) around a median-of-three pivot; returns the pivot's final position. */
static size_t partition(knn_cand *a, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (better(&a[mid], &a[lo])) swap_cand(&a[mid], &a[lo]);
    if (better(&a[last], &a[lo])) swap_cand(&a[last], &a[lo]);
    if (better(&a[mid], &a[last])) swap_cand(&a[mid], &a[last]); /* median now at last */
    knn_cand p = a[last];
    size_t store = lo;
    for (size_t t = lo; t < last; t++) {
        knn_cand x = a[t];
        int c = better_nb(&x, &p);
        a[t] = a[store];
        a[store] = x;
        store += (size_t)c;
    }
    swap_cand(&a[store], &a[last]);
    return store;
}

/* The k-th largest of x[0..n), 1 <= k <= n; x is reordered. Quickselect with branch-free
 * partitions (the comparisons are unpredictable): first the larger values to the front, then
 * the values equal to the pivot after them, so repeated values cannot make it quadratic. */
static float kth_largest(float *x, size_t n, size_t k)
{
    size_t lo = 0, hi = n, target = k - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        float a = x[lo], b = x[mid], c = x[last];
        float p = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b)); /* median of three */
        size_t gt = lo;
        for (size_t t = lo; t < hi; t++) {
            float v = x[t];
            x[t] = x[gt];
            x[gt] = v;
            gt += (size_t)(v > p);
        }
        size_t eq = gt;
        for (size_t t = gt; t < hi; t++) {
            float v = x[t];
            x[t] = x[eq];
            x[eq] = v;
            eq += (size_t)(v == p);
        }
        if (target < gt) hi = gt;
        else if (target < eq) return p;
        else lo = eq;
    }
    return x[target];
}

/*
 * Keep the k best of a[0..n) (n > k), in place and in their current order. The buffer is in
 * increasing index order, so among candidates equal to the k-th similarity the first ones are
 * the better ones. Returns the k-th similarity: the new threshold.
 */
static float keep_best(knn_cand *a, size_t n, size_t k, float *scratch)
{
    for (size_t t = 0; t < n; t++) scratch[t] = a[t].s;
    float v = kth_largest(scratch, n, k);
    size_t greater = 0;
    for (size_t t = 0; t < n; t++) greater += a[t].s > v;
    size_t ties = k - greater, w = 0;
    for (size_t t = 0; t < n; t++) {
        int eq = (a[t].s == v) & (ties > 0);
        int keep = (a[t].s > v) | eq;
        ties -= (size_t)eq;
        a[w] = a[t];
        w += (size_t)keep;
    }
    return v;
}

/* Sort a[0..n) best first: quicksort on the larger side's loop, insertion sort below 16. */
static void sort_best(knn_cand *a, size_t n)
{
    while (n > 16) {
        size_t p = partition(a, 0, n);
        if (p < n - p - 1) {
            sort_best(a, p);
            a += p + 1;
            n -= p + 1;
        } else {
            sort_best(a + p + 1, n - p - 1);
            n = p;
        }
    }
    for (size_t i = 1; i < n; i++) {
        knn_cand x = a[i];
        size_t j = i;
        for (; j > 0 && better(&x, &a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = x;
    }
}

/*
 * Per-query state: a buffer of up to KNN_CAP·k candidates, all better than thr. When it fills, the best
 * k are kept and thr becomes the worst of them: a later row (larger index) must beat it strictly.
 */
static size_t offer(knn_cand *buf, size_t cnt, size_t k, float *thr, const float *s, size_t m, int64_t r0,
                    uint32_t *pos, float *scratch)
{
    if (cnt == 0 && m > k) {
        /* First chunk: start from its k-th similarity v and take every row >= v (at least k rows, so
         * every row left out is worse than k kept ones), instead of filling the buffer blindly. */
        memcpy(scratch, s, m * sizeof *s);
        float v = kth_largest(scratch, m, k);
        if (m <= KNN_CAP * k) {
            for (size_t j = 0; j < m; j++) { /* branch-free append */
                buf[cnt].s = s[j];
                buf[cnt].i = r0 + (int64_t)j;
                cnt += (size_t)(s[j] >= v);
            }
        } else {
            for (size_t j = 0; j < m; j++)
                if (s[j] >= v && cnt < KNN_CAP * k) {
                    buf[cnt].s = s[j];
                    buf[cnt].i = r0 + (int64_t)j;
                    cnt++;
                }
        }
        *thr = v;
        if (cnt == KNN_CAP * k) *thr = keep_best(buf, cnt, k, scratch), cnt = k;
        return cnt;
    }
    size_t hits = lct__scan_greater(s, m, *thr, pos);
    for (size_t h = 0; h < hits; h++) {
        float v = s[pos[h]];
        if (!(v > *thr)) continue; /* the threshold rose within this chunk */
        buf[cnt].s = v;
        buf[cnt].i = r0 + (int64_t)pos[h];
        if (++cnt == KNN_CAP * k) {
            *thr = keep_best(buf, cnt, k, scratch);
            cnt = k;
        }
    }
    return cnt;
}

static void vote(const knn_vote *v, const knn_cand *nb, size_t k, double *acc, size_t query)
{
    size_t c = (size_t)v->n_classes;
    memset(acc, 0, c * sizeof *acc);
    double top = nb[0].s, inv = 1.0 / (double)v->tau;
    for (size_t j = 0; j < k; j++) acc[v->labels[nb[j].i]] += exp(((double)nb[j].s - top) * inv);
    size_t best = 0;
    for (size_t i = 1; i < c; i++)
        if (acc[i] > acc[best]) best = i;
    v->pred[query] = (int32_t)best;
    if (v->scores)
        for (size_t i = 0; i < c; i++) v->scores[query * c + i] = (float)acc[i];
}

/* Write query `query`'s k sorted neighbours: its vote, or its indices and similarities. */
static void emit(const knn_vote *v, const knn_cand *c, size_t k, double *acc, size_t query, int64_t *idx, float *sim)
{
    if (v) {
        vote(v, c, k, acc, query);
        return;
    }
    for (size_t j = 0; j < k; j++) {
        idx[query * k + j] = c[j].i;
        if (sim) sim[query * k + j] = c[j].s;
    }
}

/* A slot's workspace for one query block of either search (base NULL: the sizing pass). The exact
 * search scores chunks of nb rows (conv: fp16 rows converted, conv_rows of them); the AMX search
 * also packs its queries (qp_halves bf16 values) and keeps each query's margin. */
typedef struct {
    uint16_t *qp;
    float *sbuf, *conv;
    knn_cand *cand;
    uint32_t *pos;
    float *scratch;
    double *acc, *margin;
    float *thr;
    size_t *cnt;
} knn_ws;

static lct__wksp knn_layout(void *base, size_t qb, size_t nb, size_t cap, size_t conv_floats, size_t qp_halves,
                            size_t classes, int margins, knn_ws *p)
{
    lct__wksp w = lct__wksp_begin(base);
    p->qp = lct__wksp_take(&w, qp_halves, sizeof(uint16_t));
    p->sbuf = lct__wksp_take(&w, qb, nb * sizeof(float));
    p->conv = lct__wksp_take(&w, conv_floats, sizeof(float));
    p->cand = lct__wksp_take(&w, qb, cap * sizeof(knn_cand));
    p->pos = lct__wksp_take(&w, nb, sizeof(uint32_t));
    p->scratch = lct__wksp_take(&w, cap > nb ? cap : nb, sizeof(float));
    p->acc = lct__wksp_take(&w, classes, sizeof(double));
    p->margin = lct__wksp_take(&w, margins ? qb : 0, sizeof(double));
    p->thr = lct__wksp_take(&w, qb, sizeof(float));
    p->cnt = lct__wksp_take(&w, qb, sizeof(size_t));
    return w;
}

/* One exact search: its inputs, block sizes, per-slot workspaces and failure flag. */
typedef struct {
    lct_runtime *rt;
    const knn_rows *rows;
    const float *queries;
    size_t q, k, qoff, qb, conv_floats;
    int64_t *idx;
    float *sim;
    const knn_vote *v;
    unsigned char **ws;
    atomic_int failed;
} knn_exact_job;

static void knn_exact_blocks(void *ctx, size_t blk0, size_t blk1, size_t slot)
{
    knn_exact_job *job = ctx;
    lct_runtime *rt = job->rt;
    const knn_rows *rows = job->rows;
    const float *queries = job->queries;
    const size_t q = job->q, k = job->k, qoff = job->qoff, qb = job->qb, d = rows->d, n = rows->n;
    const knn_vote *v = job->v;
    int64_t *idx = job->idx;
    float *sim = job->sim;
    knn_ws w;
    knn_layout(job->ws[slot], qb, KNN_NB, KNN_CAP * k, job->conv_floats, 0, v ? (size_t)v->n_classes : 0, 0, &w);
    float *sbuf = w.sbuf, *conv = w.conv, *scratch = w.scratch, *thr = w.thr;
    knn_cand *cand = w.cand;
    uint32_t *pos = w.pos;
    double *acc = w.acc;
    size_t *cnt = w.cnt;
    for (size_t blk = blk0; blk < blk1; blk++) {
        size_t q0 = blk * qb, m = q - q0 < qb ? q - q0 : qb;
        for (size_t i = 0; i < m; i++) {
            cnt[i] = 0;
            thr[i] = -INFINITY;
        }
        for (size_t r0 = 0; r0 < n; r0 += KNN_NB) {
            size_t nb = n - r0 < KNN_NB ? n - r0 : KNN_NB;
            const float *b;
            if (rows->f32) {
                b = rows->f32 + r0 * d;
            } else {
                lct__half_to_float(rows->f16 + r0 * d, conv, nb * d);
                b = conv;
            }
            if (lct__gemm1(rt, 0, 1, m, nb, d, 1.0f, queries + q0 * d, d, b, d, 0.0f, sbuf, nb) != LCT_OK) {
                atomic_store_explicit(&job->failed, 1, memory_order_relaxed);
                break;
            }
            for (size_t i = 0; i < m; i++)
                cnt[i] = offer(cand + i * KNN_CAP * k, cnt[i], k, &thr[i], sbuf + i * nb, nb, (int64_t)r0, pos,
                               scratch);
        }
        int blk_failed = atomic_load_explicit(&job->failed, memory_order_relaxed);
        for (size_t i = 0; i < m && !blk_failed; i++) {
            knn_cand *c = cand + i * KNN_CAP * k;
            if (cnt[i] > k) keep_best(c, cnt[i], k, scratch);
            sort_best(c, k);
            emit(v, c, k, acc, qoff + q0 + i, idx, sim);
        }
    }
}

/* The exact search in fp32: BLIS GEMM blocks and the threshold scan. Outputs go to query qoff + i. */
static int knn_run_exact(lct_runtime *rt, const knn_rows *rows, const float *queries, size_t q, size_t k,
                         int64_t *idx, float *sim, const knn_vote *v, size_t qoff)
{
    int threads = lct__threads(rt);
    size_t d = rows->d;
    /* Query blocks: at most KNN_QB, fewer when there are few queries per thread or k is huge. */
    size_t qb = (q + (size_t)threads - 1) / (size_t)threads;
    if (qb > KNN_QB) qb = KNN_QB;
    size_t cap = KNN_HEAP_BYTES / (KNN_CAP * k * sizeof(knn_cand));
    if (qb > cap) qb = cap;
    if (qb < 1) qb = 1;
    size_t nblocks = (q + qb - 1) / qb;
    if ((size_t)threads > nblocks) threads = (int)nblocks;

    /* Per-thread workspace: similarities, converted rows (fp16), candidates, scan positions, votes. */
    size_t conv_floats = rows->f16 ? (size_t)KNN_NB * d : 0, bytes;
    knn_ws w;
    lct__wksp sizing = knn_layout(NULL, qb, KNN_NB, KNN_CAP * k, conv_floats, 0, v ? (size_t)v->n_classes : 0, 0, &w);
    if (lct__wksp_size(&sizing, &bytes)) return LCT__FAIL(LCT_ENOMEM, "the kNN workspace for k %zu overflows", k);
    unsigned char *ws[256] = {0};
    for (int t = 0; t < threads; t++) {
        ws[t] = lct__malloc(rt, bytes);
        if (ws[t] == NULL) {
            for (int u = 0; u < t; u++) lct__free(rt, ws[u]);
            return LCT_ENOMEM;
        }
    }
    knn_exact_job job = {rt, rows, queries, q, k, qoff, qb, conv_floats, idx, sim, v, ws, 0};
    atomic_init(&job.failed, 0);
    lct__parallel(rt, threads, nblocks, 1, knn_exact_blocks, &job); /* a slot's workspace serves its blocks */
    for (int t = 0; t < threads; t++) lct__free(rt, ws[t]);
    return atomic_load(&job.failed) ? LCT__FAIL(LCT_EINVAL, "internal GEMM failed") : LCT_OK;
}

#if LCT__AMX
/*
 * The search with bf16 similarities on AMX tiles, exact all the same. If a(j) is row j's bf16
 * similarity and s(j) its fp32 one, |a(j) - s(j)| <= eps = C·|q|·max|row| (C covers the bf16
 * rounding of both operands, 2^-8, and fp32 accumulation in both sums). The k-th largest s is
 * then >= A - eps, where A is the k-th largest a, and every one of the k nearest rows has
 * a >= A - 2·eps. So the scan keeps every row whose a is within 2·eps of the k-th best a seen so
 * far (a running value that only rises towards A), and the survivors are ranked by s in fp32.
 * A query block whose candidates do not fit the buffer (many rows within 2·eps: near-duplicate
 * rows) is searched again by the exact path.
 */
#define KNN_AQB 64   /* queries per block, a multiple of 32 */
static size_t knn_amx_redone; /* query blocks searched again by the exact path (tests read it) */
#define KNN_ANB 2048 /* rows per chunk, a multiple of 32 */
#define KNN_NORM_MAX 1e18 /* larger norms could overflow bf16 or the bound: exact path */

static float below(float x)
{
    return nextafterf(nextafterf(x, -INFINITY), -INFINITY);
}

/* Keep the entries of a[0..n) above (k-th largest - margin), in order; returns the count. */
static size_t compact_margin(knn_cand *a, size_t n, size_t k, double margin, float *thr, float *scratch)
{
    for (size_t t = 0; t < n; t++) scratch[t] = a[t].s;
    float t0 = below((float)((double)kth_largest(scratch, n, k) - margin));
    size_t w = 0;
    for (size_t t = 0; t < n; t++) {
        a[w] = a[t];
        w += (size_t)(a[t].s > t0);
    }
    *thr = t0;
    return w;
}

/* Candidate buffer per query on the AMX path: room for the rows within the margin too. */
#define KNN_ACAP(k) (KNN_CAP * (k) + 256)

/* offer() with a margin; returns SIZE_MAX when the buffer cannot make room. */
static size_t offer_margin(knn_cand *buf, size_t cnt, size_t k, float *thr, double margin, const float *s, size_t m,
                           int64_t r0, uint32_t *pos, float *scratch)
{
    size_t cap = KNN_ACAP(k);
    if (cnt == 0 && m > k) {
        memcpy(scratch, s, m * sizeof *s);
        *thr = below((float)((double)kth_largest(scratch, m, k) - margin));
    }
    size_t hits = lct__scan_greater(s, m, *thr, pos);
    for (size_t h = 0; h < hits; h++) {
        float v = s[pos[h]];
        if (!(v > *thr)) continue;
        buf[cnt].s = v;
        buf[cnt].i = r0 + (int64_t)pos[h];
        if (++cnt == cap) {
            cnt = compact_margin(buf, cnt, k, margin, thr, scratch);
            if (cnt > cap - cap / 8) return SIZE_MAX; /* less than an eighth free: give up */
        }
    }
    return cnt;
}

static double row_norm(const knn_rows *rows, size_t i, float *tmp)
{
    size_t d = rows->d;
    const float *r = rows->f32 ? rows->f32 + i * d : tmp;
    if (!rows->f32) lct__half_to_float(rows->f16 + i * d, tmp, d);
    double acc = 0;
    for (size_t j = 0; j < d; j++) acc += (double)r[j] * r[j];
    return sqrt(acc);
}

/* One search on AMX tiles: its inputs, block sizes, the packed rows and per-slot workspaces. */
typedef struct {
    const knn_rows *rows;
    const float *queries;
    size_t q, k, qb, cap, dp, conv_floats;
    double bound, maxnorm;
    int64_t *idx;
    float *sim;
    const knn_vote *v;
    uint16_t *packed;
    unsigned char *redo;
    unsigned char **ws;
} knn_amx_job;

/* A slot's workspace on the AMX path. */
static knn_ws amx_ws(const knn_amx_job *job, size_t slot)
{
    knn_ws w;
    knn_layout(job->ws[slot], job->qb, KNN_ANB, job->cap, job->conv_floats, lct__bf16_packed(job->qb, job->rows->d),
               job->v ? (size_t)job->v->n_classes : 0, 1, &w);
    return w;
}

/* The rows as the B operand of lct__bf16_multiply (bf16_tiles.h: blocks of 32 rows, each 32·dp halves),
 * 1024 rows per range item, a block at a time; fp16 rows go through the slot's workspace as fp32. */
static void knn_amx_pack(void *ctx, size_t c0, size_t c1, size_t slot)
{
    const knn_amx_job *job = ctx;
    const knn_rows *rows = job->rows;
    const size_t n = rows->n, d = rows->d;
    float *conv = rows->f16 ? amx_ws(job, slot).conv : NULL;
    for (size_t j0 = c0 * 1024; j0 < c1 * 1024 && j0 < n; j0 += 32) {
        size_t cnt = n - j0 < 32 ? n - j0 : 32;
        if (conv) lct__half_to_float(rows->f16 + j0 * d, conv, cnt * d);
        lct__bf16_pack_b(1, conv ? conv : rows->f32 + j0 * d, d, d, cnt, job->packed + j0 * job->dp);
    }
}

/* fp32 dot product of a query with an fp32 (r32) or fp16 (r16) row, in a fixed order (16 lanes). */
LCT__AMX_TARGET static float amx_dot(const float *q, const float *r32, const uint16_t *r16, size_t d)
{
    __m512 acc = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        __m512 r = r32 ? _mm512_loadu_ps(r32 + j) : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r16 + j)));
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), r, acc);
    }
    if (j < d) {
        __mmask16 m = (__mmask16)((1u << (d - j)) - 1u);
        __m512 r = r32 ? _mm512_maskz_loadu_ps(m, r32 + j)
                       : _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const __m256i *)(r16 + j)));
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + j), r, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void knn_amx_blocks(void *ctx, size_t blk0, size_t blk1, size_t slot)
{
    const knn_amx_job *job = ctx;
    const knn_rows *rows = job->rows;
    const float *queries = job->queries;
    const size_t q = job->q, k = job->k, qb = job->qb, cap = job->cap, dp = job->dp, d = rows->d, n = rows->n;
    const double bound = job->bound, maxnorm = job->maxnorm;
    const knn_vote *v = job->v;
    const uint16_t *packed = job->packed;
    unsigned char *redo = job->redo;
    int64_t *idx = job->idx;
    float *sim = job->sim;
    for (size_t blk = blk0; blk < blk1; blk++) {
        knn_ws w = amx_ws(job, slot);
        uint16_t *qp = w.qp;
        float *sbuf = w.sbuf, *scratch = w.scratch, *thr = w.thr;
        knn_cand *cand = w.cand;
        uint32_t *pos = w.pos;
        double *acc = w.acc, *margin = w.margin;
        size_t *cnt = w.cnt;
        size_t q0 = blk * qb, m = q - q0 < qb ? q - q0 : qb;
        lct__bf16_pack_a(0, queries + q0 * d, d, m, d, qp);
        knn_rows qr = {queries + q0 * d, NULL, m, d};
        for (size_t i = 0; i < m; i++) {
            cnt[i] = 0;
            thr[i] = -INFINITY;
            margin[i] = 2.0 * (bound * row_norm(&qr, i, NULL) * maxnorm + 1e-17);
        }
        int over = 0;
        for (size_t r0 = 0; r0 < n && !over; r0 += KNN_ANB) {
            size_t nb = n - r0 < KNN_ANB ? n - r0 : KNN_ANB;
            lct__bf16_multiply(m, nb, d, qp, packed + r0 * dp, 0, sbuf, KNN_ANB);
            for (size_t i = 0; i < m; i++) {
                cnt[i] = offer_margin(cand + i * cap, cnt[i], k, &thr[i], margin[i], sbuf + i * KNN_ANB, nb,
                                      (int64_t)r0, pos, scratch);
                if (cnt[i] == SIZE_MAX) {
                    over = 1;
                    break;
                }
            }
        }
        if (over) {
            redo[blk] = 1;
            continue;
        }
        for (size_t i = 0; i < m; i++) {
            knn_cand *c = cand + i * cap;
            const float *qi = queries + (q0 + i) * d;
            if (cnt[i] > k) cnt[i] = compact_margin(c, cnt[i], k, margin[i], &thr[i], scratch); /* final margin */
            for (size_t j = 0; j < cnt[i]; j++) {
                size_t r = (size_t)c[j].i;
                c[j].s = amx_dot(qi, rows->f32 ? rows->f32 + r * d : NULL, rows->f16 ? rows->f16 + r * d : NULL,
                                      d);
            }
            if (cnt[i] > k) keep_best(c, cnt[i], k, scratch);
            sort_best(c, k);
            emit(v, c, k, acc, q0 + i, idx, sim);
        }
    }
}

/* Returns 1 (and does nothing) when the inputs are outside what the bound covers or its memory
 * is not available; otherwise 0 with the status in *rc_out. */
static int knn_run_amx(lct_runtime *rt, const knn_rows *rows, const float *queries, size_t q, size_t k, int64_t *idx,
                       float *sim, const knn_vote *v, int *rc_out)
{
    size_t d = rows->d, n = rows->n, dp = (d + 31) / 32 * 32;
    if (d > 4096) return 1;
    double maxnorm = 0;
    {
        float tmp[4096];
        for (size_t i = 0; i < n; i++) {
            double r = row_norm(rows, i, tmp);
            if (r > maxnorm) maxnorm = r;
        }
    }
    if (!(maxnorm < KNN_NORM_MAX)) return 1;
    for (size_t i = 0; i < q; i++) {
        knn_rows qr = {queries, NULL, q, d};
        if (!(row_norm(&qr, i, NULL) < KNN_NORM_MAX)) return 1;
    }
    const double bound = ldexp(1.0, -8) + ldexp(1.0, -17) + 4.0 * (double)d * ldexp(1.0, -24);

    int threads = lct__threads(rt);
    size_t qb = KNN_AQB, nblocks = (q + qb - 1) / qb, cap = KNN_ACAP(k);
    if ((size_t)threads > nblocks) threads = (int)nblocks;
    size_t bytes;
    knn_ws w;
    size_t conv_floats = rows->f16 ? 32 * d : 0;
    lct__wksp sizing = knn_layout(NULL, qb, KNN_ANB, cap, conv_floats, lct__bf16_packed(qb, d),
                                  v ? (size_t)v->n_classes : 0, 1, &w);
    if (lct__wksp_size(&sizing, &bytes) || bytes > ((size_t)1 << 31)) return 1; /* huge k: exact path */

    unsigned char *ws[256] = {0};
    uint16_t *packed = lct__malloc(rt, lct__bf16_packed(n, d) * sizeof *packed);
    unsigned char *redo = lct__calloc(rt, nblocks, 1);
    int ok = packed != NULL && redo != NULL;
    for (int t = 0; ok && t < threads; t++) ok = (ws[t] = lct__malloc(rt, bytes)) != NULL;
    if (!ok) { /* the bf16 copy is an optimisation: without it, the exact path's bounded workspace */
        for (int t = 0; t < threads; t++) lct__free(rt, ws[t]);
        lct__free(rt, packed);
        lct__free(rt, redo);
        return 1;
    }
    knn_amx_job job = {rows, queries, q, k, qb, cap, dp, conv_floats, bound, maxnorm, idx, sim, v, packed, redo, ws};
    lct__parallel(rt, threads, (n + 1023) / 1024, 1, knn_amx_pack, &job);
    lct__parallel(rt, threads, nblocks, 1, knn_amx_blocks, &job); /* a slot's workspace serves its blocks */
    for (int t = 0; t < threads; t++) lct__free(rt, ws[t]);
    lct__free(rt, packed);
    int rc = LCT_OK;
    for (size_t blk = 0; blk < nblocks && rc == LCT_OK; blk++) {
        if (!redo[blk]) continue;
        knn_amx_redone++;
        size_t q0 = blk * qb, m = q - q0 < qb ? q - q0 : qb;
        rc = knn_run_exact(rt, rows, queries + q0 * d, m, k, idx, sim, v, q0);
    }
    lct__free(rt, redo);
    *rc_out = rc;
    return 0;
}
#endif

size_t lct__knn_amx_redone(void)
{
#if LCT__AMX
    return knn_amx_redone;
#else
    return 0;
#endif
}

static int knn_run(lct_runtime *rt, const knn_rows *rows, const float *queries, size_t q, size_t k, int64_t *idx,
                   float *sim, const knn_vote *v)
{
#if LCT__AMX
    if (lct__test_control(LCT__TESTCTRL_GET_KNN_AMX) != 0 && lct__amx_ready()) {
        int rc;
        if (knn_run_amx(rt, rows, queries, q, k, idx, sim, v, &rc) == 0) return rc;
    }
#endif
    return knn_run_exact(rt, rows, queries, q, k, idx, sim, v, 0);
}

static int check_common(const char *func, size_t n, size_t d, const float *queries, size_t q, size_t k)
{
    if (queries == NULL) return lct__fail(LCT_EINVAL, func, "argument 'queries' is NULL");
    if (n == 0) return lct__fail(LCT_EINVAL, func, "n is 0");
    if (d == 0) return lct__fail(LCT_EINVAL, func, "d is 0");
    if (q == 0) return lct__fail(LCT_EINVAL, func, "q is 0");
    if (k == 0) return lct__fail(LCT_EINVAL, func, "k is 0");
    if (k > n) return lct__fail(LCT_EINVAL, func, "k (%zu) exceeds the number of rows n (%zu)", k, n);
    /* features (or labels), queries, idx and sim must be buffers that can exist, before any is read */
    if (!lct__fits2(n, d, sizeof(float)) || !lct__fits2(q, d, sizeof(float)) || !lct__fits2(q, k, sizeof(int64_t)) ||
        k > SIZE_MAX / 4096)
        return lct__fail(LCT_ESHAPE, func, "sizes overflow (n %zu, d %zu, q %zu, k %zu)", n, d, q, k);
    return LCT_OK;
}

/* After every size is checked (check_common, check_vote): the queries are read only then. */
static int check_queries(const char *func, const float *queries, size_t q, size_t d)
{
    if (!lct__all_finite(queries, q * d)) return lct__fail(LCT_ENUMERIC, func, "queries hold NaN or Inf");
    return LCT_OK;
}

static int check_vote(const char *func, const int32_t *labels, size_t n, float tau, int32_t n_classes, int32_t *pred,
                      size_t q, float *scores)
{
    if (labels == NULL) return lct__fail(LCT_EINVAL, func, "argument 'labels' is NULL");
    if (pred == NULL) return lct__fail(LCT_EINVAL, func, "argument 'pred' is NULL");
    if (!(tau > 0.0f) || !isfinite(tau))
        return lct__fail(LCT_EINVAL, func, "tau is %g; it must be finite and > 0", (double)tau);
    if (n_classes < 1 || n_classes > KNN_MAX_CLASSES)
        return lct__fail(LCT_EINVAL, func, "n_classes is %d; it must be in 1..2^24", (int)n_classes);
    if (scores && !lct__fits2(q, (size_t)n_classes, sizeof *scores))
        return lct__fail(LCT_ESHAPE, func, "q (%zu) x n_classes (%d) overflows", q, (int)n_classes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return lct__fail(LCT_EINVAL, func, "labels[%zu] is %d; classes are 0..%d", i, (int)labels[i],
                             (int)n_classes - 1);
    return LCT_OK;
}

int lct_knn_topk(lct_runtime *rt, const float *features, size_t n, size_t d, const float *queries, size_t q, size_t k,
                 int64_t *idx, float *sim)
{
    LCT__REQUIRE(rt);
    LCT__REQUIRE(features);
    LCT__REQUIRE(idx);
    int rc = check_common(__func__, n, d, queries, q, k);
    if (rc == LCT_OK) rc = check_queries(__func__, queries, q, d);
    if (rc) return rc;
    if (!lct__all_finite(features, n * d)) return LCT__FAIL(LCT_ENUMERIC, "features hold NaN or Inf");
    knn_rows rows = {features, NULL, n, d};
    return knn_run(rt, &rows, queries, q, k, idx, sim, NULL);
}

/* FNV-1a over bytes: a fingerprint of the queries, compared across ranks. */
static uint64_t fingerprint(const void *p, size_t bytes, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/*
 * kNN over a sharded bank, collective: each rank its top-min(k, shard) over its own rows (global
 * indices), padded to k; an all-gather of those q x k candidates; the merge under the same total order
 * (similarity descending, index ascending) gives every rank the top-k of the whole bank.
 */
static int knn_sharded(const lct_bank *bank, const float *queries, size_t q, size_t k, int64_t *idx, float *sim,
                       const knn_vote *v, int rc, const char *func)
{
    lct_comm *c = bank->comm;
    lct_runtime *rt = bank->rt;
    const size_t P = (size_t)lct__comm_size(c), kl = k < bank->count ? k : bank->count;
    knn_cand *local = NULL, *all = NULL, *merged = NULL;
    int64_t *li = NULL;
    float *ls = NULL;
    if (rc == LCT_OK) {
        local = lct__malloc(rt, q * k * sizeof *local);
        all = lct__malloc(rt, P * q * k * sizeof *all);
        merged = lct__malloc(rt, P * k * sizeof *merged + (v ? (size_t)v->n_classes * sizeof(double) : 0));
        li = lct__malloc(rt, q * kl * sizeof *li);
        ls = lct__malloc(rt, q * kl * sizeof *ls);
        if (!local || !all || !merged || !li || !ls) rc = lct__fail(LCT_ENOMEM, func, "cannot allocate the merge of %zu x %zu candidates", P * q, k);
    }
    uint64_t h = fingerprint(&q, sizeof q, fingerprint(&k, sizeof k, 0xcbf29ce484222325ull));
    if (rc == LCT_OK) h = fingerprint(queries, q * bank->d * sizeof *queries, h); /* sizes checked: readable */
    rc = lct__comm_agree(c, rc, h, "the queries (every rank must pass the same q x D queries and k)", func);
    if (rc == LCT_OK) {
        knn_rows rows = {bank->storage == LCT_BANK_FP32 ? bank->rows : NULL,
                         bank->storage == LCT_BANK_FP16 ? bank->rows : NULL, bank->count, bank->d};
        rc = knn_run(rt, &rows, queries, q, kl, li, ls, NULL);
        /* a local failure here would leave the others waiting in the all-gather: agree once more */
        rc = lct__comm_agree(c, rc, 0, "", func);
    }
    if (rc == LCT_OK) {
        for (size_t i = 0; i < q; i++)
            for (size_t j = 0; j < k; j++)
                local[i * k + j] = j < kl ? (knn_cand){ls[i * kl + j], li[i * kl + j] + (int64_t)bank->first}
                                          : (knn_cand){-INFINITY, INT64_MAX};
        rc = lct__comm_allgather(c, local, all, q * k * sizeof *local, func);
    }
    if (rc == LCT_OK) {
        double *acc = (double *)(void *)(merged + P * k);
        for (size_t i = 0; i < q; i++) {
            for (size_t r = 0; r < P; r++) memcpy(merged + r * k, all + (r * q + i) * k, k * sizeof *merged);
            sort_best(merged, P * k);
            if (v) {
                vote(v, merged, k, acc, i);
            } else {
                for (size_t j = 0; j < k; j++) {
                    idx[i * k + j] = merged[j].i;
                    if (sim) sim[i * k + j] = merged[j].s;
                }
            }
        }
    }
    lct__free(rt, local);
    lct__free(rt, all);
    lct__free(rt, merged);
    lct__free(rt, li);
    lct__free(rt, ls);
    return rc;
}

int lct_knn_topk_bank(const lct_bank *bank, const float *queries, size_t q, size_t k, int64_t *idx, float *sim)
{
    LCT__REQUIRE(bank);
    int rc = idx ? LCT_OK : LCT__FAIL(LCT_EINVAL, "argument 'idx' is NULL");
    if (rc == LCT_OK) rc = check_common(__func__, bank->n, bank->d, queries, q, k);
    if (rc == LCT_OK) rc = check_queries(__func__, queries, q, bank->d);
    if (lct__bank_sharded(bank)) return knn_sharded(bank, queries, q, k, idx, sim, NULL, rc, __func__);
    if (rc) return rc;
    knn_rows rows = {bank->storage == LCT_BANK_FP32 ? bank->rows : NULL,
                     bank->storage == LCT_BANK_FP16 ? bank->rows : NULL, bank->n, bank->d};
    return knn_run(bank->rt, &rows, queries, q, k, idx, sim, NULL);
}

int lct_knn_classify(lct_runtime *rt, const float *features, const int32_t *labels, size_t n, size_t d,
                     const float *queries, size_t q, size_t k, float tau, int32_t n_classes, int32_t *pred,
                     float *scores)
{
    LCT__REQUIRE(rt);
    LCT__REQUIRE(features);
    int rc = check_common(__func__, n, d, queries, q, k);
    if (rc) return rc;
    rc = check_vote(__func__, labels, n, tau, n_classes, pred, q, scores);
    if (rc == LCT_OK) rc = check_queries(__func__, queries, q, d);
    if (rc) return rc;
    if (!lct__all_finite(features, n * d)) return LCT__FAIL(LCT_ENUMERIC, "features hold NaN or Inf");
    knn_rows rows = {features, NULL, n, d};
    knn_vote v = {labels, tau, n_classes, pred, scores};
    return knn_run(rt, &rows, queries, q, k, NULL, NULL, &v);
}

int lct_knn_classify_bank(const lct_bank *bank, const int32_t *labels, const float *queries, size_t q, size_t k,
                          float tau, int32_t n_classes, int32_t *pred, float *scores)
{
    LCT__REQUIRE(bank);
    int rc = check_common(__func__, bank->n, bank->d, queries, q, k);
    if (rc == LCT_OK) rc = check_vote(__func__, labels, bank->n, tau, n_classes, pred, q, scores);
    if (rc == LCT_OK) rc = check_queries(__func__, queries, q, bank->d);
    knn_vote v = {labels, tau, n_classes, pred, scores};
    if (lct__bank_sharded(bank)) return knn_sharded(bank, queries, q, k, NULL, NULL, &v, rc, __func__);
    if (rc) return rc;
    knn_rows rows = {bank->storage == LCT_BANK_FP32 ? bank->rows : NULL,
                     bank->storage == LCT_BANK_FP16 ? bank->rows : NULL, bank->n, bank->d};
    return knn_run(bank->rt, &rows, queries, q, k, NULL, NULL, &v);
}
