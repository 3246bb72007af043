/*
 * The library's single GEMM entry: validates everything BLIS would abort on, then multiplies with a
 * macro-kernel of its own around the micro-kernel of the BLIS kernel set the library chose.
 *
 * Why not bli_sgemm: BLIS packs the operands itself, per call and per thread. Cutting C into blocks
 * for the tasks of a region made every task pack the shared operand again, and BLIS 0.9 packs the
 * 32-row panels of its skx kernels with a generic element-by-element loop. Here a product runs as
 * BLIS's five loops do (columns by NC, depth by KC, rows by MC, then micro-panels), but
 *  - the operands are packed by the library's own loops, once per block, into buffers the runtime
 *    keeps (lct__scratch_take): a steady step allocates nothing;
 *  - with threads, the tasks of one region claim small rectangles of micro-tiles and pack the
 *    panels a rectangle needs on the way, each panel once for all tasks: a task that starts late,
 *    or is preempted, holds up little, and one region serves a whole k-block.
 * Every element of C is summed in the same order as bli_sgemm sums it: the same micro-kernel, the
 * same k-blocks (BLIS's rule: the rest whole if it fits KC's maximum, else KC), the same operand
 * order (the problem is transposed when the kernel prefers columns, as BLIS does for row-major C),
 * and micro-tiles that start at multiples of MR and NR. So the results are bit-identical to
 * bli_sgemm's blocked path and to themselves for any thread count.
 *
 * Built against a BLIS that does not export its kernel contexts (-Dblis=system), or when no
 * packing buffer can be had, a product falls back to bli_sgemm_ex on one thread per block of C.
 */
#include <blis.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"
#include "kernels.h"

/* Products below this many multiply-adds run on one thread: a region costs more than it saves. */
#define PAR_MIN ((size_t)1 << 17)
/* Rectangles of micro-tiles a region aims at per task, so that a late task finds the rest taken. */
#define ITEMS_PER_TASK 6
/* Most bytes of packed rows of A' one threaded region holds (several MC blocks). */
#define SUPER_BYTES ((size_t)8 << 20)

/* The chosen kernel set's float micro-kernel and block sizes. */
typedef struct kernel {
    sgemm_ukr_ft ukr;
    void *cntx;
    size_t mr, nr, packmr, packnr, kc, kc_max, mc, nc;
    int rows; /* the micro-kernel prefers row-stored C: the problem is not transposed */
} kernel;

static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;
static kernel kern; /* ukr NULL: no context, bli_sgemm_ex serves */

static void kernel_init(void)
{
    cntx_t *c = lct__kernels_context();
    if (c == NULL) return;
    kernel k = {
        .cntx = c,
        .mr = (size_t)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, c),
        .nr = (size_t)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, c),
        .packmr = (size_t)bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_MR, c),
        .packnr = (size_t)bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_NR, c),
        .kc = (size_t)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, c),
        .kc_max = (size_t)bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_KC, c),
        .mc = (size_t)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, c),
        .nc = (size_t)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NC, c),
        .rows = bli_cntx_l3_nat_ukr_prefers_rows_dt(BLIS_FLOAT, BLIS_GEMM_UKR, c),
    };
    int sane = k.mr > 0 && k.nr > 0 && k.packmr >= k.mr && k.packnr >= k.nr && k.kc > 0 && k.kc_max >= k.kc &&
               k.mc >= k.mr && k.mc % k.mr == 0 && k.nc >= k.nr && k.nc % k.nr == 0 && k.kc_max <= 4096 &&
               k.mc <= 4096 && k.nc <= 16384;
    k.ukr = sane ? (sgemm_ukr_ft)bli_cntx_get_l3_nat_ukr_dt(BLIS_FLOAT, BLIS_GEMM_UKR, c) : NULL;
    kern = k;
}

/* The product in the micro-kernel's orientation: C' (m x n) = alpha A' (m x k) B' (k x n) + beta C'.
 * Element (i, p) of A' is a[i*rsa + p*csa], (p, j) of B' is b[p*rsb + j*csb], (i, j) of C' is
 * c[i*rsc + j*csc]. */
typedef struct problem {
    size_t m, n, k;
    const float *a, *b;
    float *c;
    size_t rsa, csa, rsb, csb, rsc, csc;
    float alpha, beta;
} problem;

/* One block of the loops: columns [jc, jc + nc), depth [pc, pc + kc), rows [ic, ic + mcs) of C'. */
typedef struct block {
    const kernel *kn;
    const problem *pr;
    size_t jc, nc, pc, kc, ic, mcs;
    float beta;           /* pr->beta for the first k-block, 1 after */
    float *ap, *bp;       /* packed rows of A' (mcs) and columns of B' (nc) */
    atomic_int *sa, *sb;  /* per micro-panel of A' and of B': 0 unpacked, 1 being packed, 2 packed */
    size_t npa, npb;      /* micro-panels of A' and B' in this block */
    size_t groups, per;   /* column groups of micro-panels per MC block, and panels per group */
} block;

/* Packing: w (<= W) rows of width kc into a micro-panel, dst[p*W + r] = src[r*rs + p*cs], with
 * zeros for w <= r < W. One of rs and cs is 1 in every product the library makes: either each step
 * of k is a contiguous run of the panel's rows (a copy), or each row is contiguous along k (a
 * transpose). */
/* The short row tails of a panel stay loops (LCT__NO_LIBCALLS): as calls to memcpy and memset, per
 * step of k, they cost a tenth of a CPC step. */
LCT__NO_LIBCALLS static void pack_panel_generic(float *restrict dst, const float *restrict src, size_t rs, size_t cs,
                                           size_t w, size_t W, size_t kc)
{
    for (size_t p = 0; p < kc; p++) {
        for (size_t r = 0; r < w; r++) dst[p * W + r] = src[r * rs + p * cs];
        for (size_t r = w; r < W; r++) dst[p * W + r] = 0.0f;
    }
}

#if LCT__X86
#include <immintrin.h>

/* Rows r0..r0+7, columns p..p+7 of the transpose case: eight loads, an 8 x 8 transpose, eight stores. */
LCT__TARGET_AVX2 static inline void transpose8(float *dst, const float *src, size_t rs, size_t W)
{
    __m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(src), _mm256_loadu_ps(src + rs));
    __m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(src), _mm256_loadu_ps(src + rs));
    __m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(src + 2 * rs), _mm256_loadu_ps(src + 3 * rs));
    __m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(src + 2 * rs), _mm256_loadu_ps(src + 3 * rs));
    __m256 t4 = _mm256_unpacklo_ps(_mm256_loadu_ps(src + 4 * rs), _mm256_loadu_ps(src + 5 * rs));
    __m256 t5 = _mm256_unpackhi_ps(_mm256_loadu_ps(src + 4 * rs), _mm256_loadu_ps(src + 5 * rs));
    __m256 t6 = _mm256_unpacklo_ps(_mm256_loadu_ps(src + 6 * rs), _mm256_loadu_ps(src + 7 * rs));
    __m256 t7 = _mm256_unpackhi_ps(_mm256_loadu_ps(src + 6 * rs), _mm256_loadu_ps(src + 7 * rs));
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + W, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * W, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * W, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * W, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * W, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * W, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * W, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* Rows r0..r0+3, columns p..p+7: four loads, eight stores of four. */
LCT__TARGET_AVX2 static inline void transpose4(float *dst, const float *src, size_t rs, size_t W)
{
    __m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(src), _mm256_loadu_ps(src + rs));
    __m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(src), _mm256_loadu_ps(src + rs));
    __m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(src + 2 * rs), _mm256_loadu_ps(src + 3 * rs));
    __m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(src + 2 * rs), _mm256_loadu_ps(src + 3 * rs));
    __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                   _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    for (int i = 0; i < 4; i++) {
        _mm_storeu_ps(dst + i * W, _mm256_castps256_ps128(u[i]));
        _mm_storeu_ps(dst + (i + 4) * W, _mm256_extractf128_ps(u[i], 1));
    }
}

LCT__TARGET_AVX2 LCT__NO_LIBCALLS static void pack_panel_avx(float *restrict dst, const float *restrict src, size_t rs, size_t cs,
                                            size_t w, size_t W, size_t kc)
{
    if (rs == 1) {
        for (size_t p = 0; p < kc; p++) {
            float *d = dst + p * W;
            const float *s = src + p * cs;
            size_t r = 0;
            for (; r + 8 <= w; r += 8) _mm256_storeu_ps(d + r, _mm256_loadu_ps(s + r));
            for (; r < w; r++) d[r] = s[r];
            for (; r < W; r++) d[r] = 0.0f;
        }
        return;
    }
    if (cs != 1) {
        pack_panel_generic(dst, src, rs, cs, w, W, kc);
        return;
    }
    size_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        float *d = dst + p * W;
        const float *s = src + p;
        size_t r = 0;
        for (; r + 8 <= w; r += 8) transpose8(d + r, s + r * rs, rs, W);
        for (; r + 4 <= w; r += 4) transpose4(d + r, s + r * rs, rs, W);
        for (; r < w; r++)
            for (size_t q = 0; q < 8; q++) d[q * W + r] = s[r * rs + q];
        for (; r < W; r++)
            for (size_t q = 0; q < 8; q++) d[q * W + r] = 0.0f;
    }
    if (p < kc) pack_panel_generic(dst + p * W, src + p, rs, 1, w, W, kc - p);
}
#endif

/* The packer for this CPU. */
static void pack_panel(float *restrict dst, const float *restrict src, size_t rs, size_t cs, size_t w, size_t W,
                       size_t kc)
{
    LCT__SIMD_PICK(pack_panel)(dst, src, rs, cs, w, W, kc);
}

static void pack_a(const block *bl, size_t q)
{
    const kernel *kn = bl->kn;
    const problem *pr = bl->pr;
    size_t i = q * kn->mr, w = bl->mcs - i < kn->mr ? bl->mcs - i : kn->mr;
    pack_panel(bl->ap + q * kn->packmr * bl->kc, pr->a + (bl->ic + i) * pr->rsa + bl->pc * pr->csa, pr->rsa, pr->csa,
               w, kn->packmr, bl->kc);
}

static void pack_b(const block *bl, size_t q)
{
    const kernel *kn = bl->kn;
    const problem *pr = bl->pr;
    size_t j = q * kn->nr, w = bl->nc - j < kn->nr ? bl->nc - j : kn->nr;
    pack_panel(bl->bp + q * kn->packnr * bl->kc, pr->b + bl->pc * pr->rsb + (bl->jc + j) * pr->csb, pr->csb, pr->rsb,
               w, kn->packnr, bl->kc);
}

/* Micro-panels [q0, q1) packed, by this task or another: first pack every one nobody has claimed,
 * then wait for those another task is packing. The packer waits for nothing while it packs, so this
 * ends even when a host's scheduler runs the tasks one after another. */
static void ensure(const block *bl, atomic_int *st, size_t q0, size_t q1, void (*pack)(const block *, size_t))
{
    for (size_t q = q0; q < q1; q++) {
        int idle = 0;
        if (atomic_load_explicit(&st[q], memory_order_acquire) == 0 &&
            atomic_compare_exchange_strong(&st[q], &idle, 1)) {
            pack(bl, q);
            atomic_store_explicit(&st[q], 2, memory_order_release);
        }
    }
    for (size_t q = q0; q < q1; q++)
        for (unsigned spin = 0; atomic_load_explicit(&st[q], memory_order_acquire) != 2; spin++)
            if (spin > 64) sched_yield();
}

/* Rectangles [begin, end) of micro-tiles: rectangle t covers the rows of MC block t / groups and the
 * column panels of group t % groups; columns outer, rows inner, as BLIS's macro-kernel runs them.
 * The panels a rectangle needs are packed on the way, once, by whichever task needs them first. */
static void compute_range(void *ctx, size_t begin, size_t end, size_t slot)
{
    (void)slot;
    const block *bl = ctx;
    const kernel *kn = bl->kn;
    const problem *pr = bl->pr;
    float alpha = pr->alpha, beta = bl->beta;
    auxinfo_t aux;
    memset(&aux, 0, sizeof aux);
    size_t ir_per = kn->mc / kn->mr;
    for (size_t t = begin; t < end; t++) {
        size_t ir0 = t / bl->groups * ir_per, ir1 = ir0 + ir_per < bl->npa ? ir0 + ir_per : bl->npa;
        size_t jr0 = t % bl->groups * bl->per, jr1 = jr0 + bl->per < bl->npb ? jr0 + bl->per : bl->npb;
        ensure(bl, bl->sa, ir0, ir1, pack_a);
        ensure(bl, bl->sb, jr0, jr1, pack_b);
        for (size_t jr = jr0; jr < jr1; jr++) {
            size_t j = jr * kn->nr, nw = bl->nc - j < kn->nr ? bl->nc - j : kn->nr;
            float *bp = bl->bp + jr * kn->packnr * bl->kc;
            for (size_t ir = ir0; ir < ir1; ir++) {
                size_t i = ir * kn->mr, mw = bl->mcs - i < kn->mr ? bl->mcs - i : kn->mr;
                float *ap = bl->ap + ir * kn->packmr * bl->kc;
                int last = ir + 1 == ir1;
                bli_auxinfo_set_next_a(last ? bl->ap + ir0 * kn->packmr * bl->kc : ap + kn->packmr * bl->kc, &aux);
                bli_auxinfo_set_next_b(last ? bp + kn->packnr * bl->kc : bp, &aux);
                kn->ukr((dim_t)mw, (dim_t)nw, (dim_t)bl->kc, &alpha, ap, bp, &beta,
                        pr->c + (bl->ic + i) * pr->rsc + (bl->jc + j) * pr->csc, (inc_t)pr->rsc, (inc_t)pr->csc,
                        &aux, kn->cntx);
            }
        }
    }
}

/* Rows of A' one region packs and multiplies: one MC block on one thread; with threads, as many MC
 * blocks as fit SUPER_BYTES, so that most products are one region per k-block. */
static size_t super_rows(const kernel *kn, int threads)
{
    if (threads <= 1) return kn->mc;
    size_t rows = SUPER_BYTES / (kn->kc_max * sizeof(float)) / kn->mc * kn->mc;
    return rows > kn->mc ? rows : kn->mc;
}

/* The packing space of a product: panels of B' and of A', then their states. */
typedef struct layout {
    size_t bpan, apan, a_off, s_off, bytes; /* offsets in floats from the aligned start */
} layout;

static layout layout_of(const kernel *kn, const problem *pr, size_t rows)
{
    size_t ncp = pr->n < kn->nc ? pr->n : kn->nc, kcp = pr->k < kn->kc_max ? pr->k : kn->kc_max;
    size_t mrows = pr->m < rows ? pr->m : rows, line = LCT__ALIGN / sizeof(float);
    layout l = {.bpan = (ncp + kn->nr - 1) / kn->nr, .apan = (mrows + kn->mr - 1) / kn->mr};
    l.a_off = (l.bpan * kn->packnr * kcp + line - 1) / line * line;
    l.s_off = (l.a_off + l.apan * kn->packmr * kcp + line - 1) / line * line;
    l.bytes = l.s_off * sizeof(float) + (l.bpan + l.apan) * sizeof(atomic_int) + LCT__ALIGN;
    return l;
}

static void multiply(lct_runtime *rt, int threads, const kernel *kn, const problem *pr, float *ws, size_t rows)
{
    layout l = layout_of(kn, pr, rows);
    block bl = {.kn = kn, .pr = pr, .bp = ws, .ap = ws + l.a_off};
    bl.sb = (atomic_int *)(ws + l.s_off);
    bl.sa = bl.sb + l.bpan;
    for (bl.jc = 0; bl.jc < pr->n; bl.jc += bl.nc) {
        bl.nc = pr->n - bl.jc < kn->nc ? pr->n - bl.jc : kn->nc;
        bl.npb = (bl.nc + kn->nr - 1) / kn->nr;
        for (bl.pc = 0; bl.pc < pr->k; bl.pc += bl.kc) {
            bl.kc = pr->k - bl.pc <= kn->kc_max ? pr->k - bl.pc : kn->kc;
            bl.beta = bl.pc == 0 ? pr->beta : 1.0f;
            for (size_t q = 0; q < bl.npb; q++) atomic_init(&bl.sb[q], 0);
            for (bl.ic = 0; bl.ic < pr->m; bl.ic += bl.mcs) {
                bl.mcs = pr->m - bl.ic < rows ? pr->m - bl.ic : rows;
                bl.npa = (bl.mcs + kn->mr - 1) / kn->mr;
                for (size_t q = 0; q < bl.npa; q++) atomic_init(&bl.sa[q], 0);
                size_t mcb = (bl.mcs + kn->mc - 1) / kn->mc, want = (size_t)threads * ITEMS_PER_TASK;
                bl.groups = threads > 1 && mcb < want ? (want + mcb - 1) / mcb : 1;
                if (bl.groups > bl.npb) bl.groups = bl.npb;
                bl.per = (bl.npb + bl.groups - 1) / bl.groups;
                bl.groups = (bl.npb + bl.per - 1) / bl.per;
                lct__parallel(rt, threads, mcb * bl.groups, 1, compute_range, &bl);
            }
        }
    }
}

/* ---- fallback: bli_sgemm_ex per block of C -------------------------------------------------- */

typedef struct gemm_job {
    int ta, tb, split_n;
    size_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_job;

/* C[i0:i1, j0:j1] on one thread. BLIS's small-matrix path is off: it picks its k-blocking from m
 * and n, so a block would sum in another order than the whole product. */
static void gemm_block(const gemm_job *g, size_t i0, size_t i1, size_t j0, size_t j1)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads_only(1, &rntm);
    bli_rntm_disable_l3_sup(&rntm);
    float al = g->alpha, be = g->beta;
    const float *a = g->a + (g->ta ? i0 : i0 * g->lda), *b = g->b + (g->tb ? j0 * g->ldb : j0);
    bli_sgemm_ex(g->ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, g->tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 (dim_t)(i1 - i0), (dim_t)(j1 - j0), (dim_t)g->k, &al, (float *)a, (inc_t)g->lda, 1, (float *)b,
                 (inc_t)g->ldb, 1, &be, g->c + i0 * g->ldc + j0, (inc_t)g->ldc, 1, lct__kernels_context(), &rntm);
}

static void gemm_range(void *ctx, size_t begin, size_t end, size_t slot)
{
    (void)slot;
    const gemm_job *g = ctx;
    if (g->split_n) gemm_block(g, 0, g->m, begin, end);
    else gemm_block(g, begin, end, 0, g->n);
}

static void fallback(lct_runtime *rt, int threads, const gemm_job *g)
{
    size_t len = g->split_n ? g->n : g->m;
    if (threads > 1 && len >= 32) {
        size_t chunk = ((len + 2 * (size_t)threads - 1) / (2 * (size_t)threads) + 15) / 16 * 16;
        lct__parallel(rt, threads, len, chunk, gemm_range, (void *)g);
    } else {
        gemm_block(g, 0, g->m, 0, g->n);
    }
}

/* ---- the entry ------------------------------------------------------------------------------- */

/* 1 if a matrix of `rows` rows of `len` floats, `ld` apart, fits one buffer that can exist. */
static int extent_fits(size_t rows, size_t ld, size_t len)
{
    size_t e;
    return lct__mul_size(rows - 1, ld, &e) == 0 && e <= SIZE_MAX - len && lct__fits(e + len, sizeof(float));
}

static int check(const char *func, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                 const float *a, size_t lda, const float *b, size_t ldb, float beta, const float *c, size_t ldc)
{
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
        return lct__fail(LCT_EINVAL, func, "trans_a is %d and trans_b is %d; each must be 0 or 1", trans_a,
                         trans_b);
    if (!isfinite(alpha) || !isfinite(beta))
        return lct__fail(LCT_EINVAL, func, "alpha (%g) and beta (%g) must be finite", (double)alpha,
                         (double)beta);
    const size_t lim = (size_t)INT64_MAX / 4;
    if (m > lim || n > lim || k > lim || lda > lim || ldb > lim || ldc > lim)
        return lct__fail(LCT_ESHAPE, func, "a size or stride exceeds %zu", lim);
    if (m == 0 || n == 0) return LCT_OK;
    if (c == NULL) return lct__fail(LCT_EINVAL, func, "argument 'c' is NULL");
    if (ldc < n) return lct__fail(LCT_ESHAPE, func, "ldc (%zu) is smaller than n (%zu)", ldc, n);
    if (!extent_fits(m, ldc, n))
        return lct__fail(LCT_ESHAPE, func, "C (%zu rows of stride %zu) is larger than any buffer", m, ldc);
    if (k == 0 || alpha == 0.0f) return LCT_OK;
    if (a == NULL) return lct__fail(LCT_EINVAL, func, "argument 'a' is NULL");
    if (b == NULL) return lct__fail(LCT_EINVAL, func, "argument 'b' is NULL");
    size_t arow = trans_a ? m : k, brow = trans_b ? k : n;
    if (lda < arow) return lct__fail(LCT_ESHAPE, func, "lda (%zu) is smaller than a row of A (%zu)", lda, arow);
    if (ldb < brow) return lct__fail(LCT_ESHAPE, func, "ldb (%zu) is smaller than a row of B (%zu)", ldb, brow);
    if (!extent_fits(trans_a ? k : m, lda, arow) || !extent_fits(trans_b ? n : k, ldb, brow))
        return lct__fail(LCT_ESHAPE, func, "A or B (strides %zu and %zu) is larger than any buffer", lda, ldb);
    return LCT_OK;
}

static int gemm_impl(lct_runtime *rt, int threads, const char *func, int trans_a, int trans_b,
                     size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                     const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    if (rt == NULL) return lct__fail(LCT_EINVAL, func, "argument 'rt' is NULL");
    int st = check(func, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (st != LCT_OK || m == 0 || n == 0) return st;
    if (k == 0 || alpha == 0.0f) {
        /* Nothing to multiply: C = beta * C without reading A or B (BLIS would still touch them). */
        for (size_t i = 0; i < m; i++) {
            float *row = c + i * ldc;
            if (beta == 0.0f) memset(row, 0, n * sizeof *row);
            else for (size_t j = 0; j < n; j++) row[j] *= beta;
        }
        return LCT_OK;
    }
    size_t mn = m * n; /* m, n <= INT64_MAX / 4, but their product may not fit */
    int big = mn / m == n && mn <= SIZE_MAX / k ? mn * k >= PAR_MIN : 1;
    if (!big || lct__in_region()) threads = 1;
    pthread_once(&kernel_once, kernel_init);
    if (kern.ukr != NULL && !lct__test_gemm_blis()) {
        /* op(A) is m x k: element (i, p) at a[i*lda + p], or a[p*lda + i] with trans_a; op(B) likewise. */
        size_t ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1, brs = trans_b ? 1 : ldb, bcs = trans_b ? ldb : 1;
        problem pr = kern.rows
            ? (problem){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c, .rsa = ars, .csa = acs, .rsb = brs,
                        .csb = bcs, .rsc = ldc, .csc = 1, .alpha = alpha, .beta = beta}
            : (problem){.m = n, .n = m, .k = k, .a = b, .b = a, .c = c, .rsa = bcs, .csa = brs, .rsb = acs,
                        .csb = ars, .rsc = 1, .csc = ldc, .alpha = alpha, .beta = beta};
        size_t rows = super_rows(&kern, threads);
        lct__scratch ws;
        if (lct__scratch_take(rt, layout_of(&kern, &pr, rows).bytes, &ws)) {
            float *base = (float *)(((uintptr_t)ws.mem + LCT__ALIGN - 1) & ~(uintptr_t)(LCT__ALIGN - 1));
            multiply(rt, threads, &kern, &pr, base, rows);
            lct__scratch_give(rt, &ws);
            return LCT_OK;
        }
    }
    gemm_job g = {.ta = trans_a, .tb = trans_b, .split_n = n >= m, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb,
                  .ldc = ldc, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c};
    fallback(rt, threads, &g);
    return LCT_OK;
}

int lct__gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
              const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return gemm_impl(rt, rt ? lct__threads(rt) : 1, "lct_gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b,
                     ldb, beta, c, ldc);
}

int lct__gemm1(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
               const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return gemm_impl(rt, 1, "lct_gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int lct_gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
             const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return lct__gemm(rt, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
