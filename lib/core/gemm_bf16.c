/*
 * Products with bf16 operands on AMX tiles, summed in fp32: the encoder's bf16 precision
 * (lct_encoder_set_precision) and the kNN's candidate filter share the tile set-up here.
 *
 * Both operands are rounded to bf16 (nearest even) while they are packed, in the layout described
 * in bf16_tiles.h: blocks of 32 rows of A or columns of B, chunks of 32 along k, two 1 KB tiles per
 * chunk. One 32 × 32 block of C is four fp32 tiles that run over all of k in order: each element is
 * summed by one thread in a fixed order, so the result is the same for any thread count.
 */
#include "bf16_tiles.h"

#include <math.h>

#if LCT__AMX

#define AMX_TARGET LCT__AMX_TARGET

typedef struct __attribute__((packed)) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

/* Eight tiles of 16 rows × 64 bytes. */
AMX_TARGET void lct__amx_begin(void)
{
    /* A constant in memory: a configuration built on the stack can lose its stores, since the
     * compiler does not see ldtilecfg read them. */
    static const amx_config cfg = {.palette = 1,
                                   .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
                                   .rows = {16, 16, 16, 16, 16, 16, 16, 16}};
    _tile_loadconfig(&cfg);
}

AMX_TARGET void lct__amx_end(void)
{
    _tile_release();
}

/* With mx set, the lane-wise largest |v| as bits: for finite values their integer order, with NaN and
 * Inf above all of them. The packers keep it for lct__gemm_bf16's amax, at one max per 16 values. */
AMX_TARGET static inline void track(__m512i *mx, __m512 v)
{
    if (mx) *mx = _mm512_max_epu32(*mx, _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

/* 16 floats from each of rows r0 and r1 (or zeros for a NULL row) as 16 words: (r0[j], r1[j]) in bf16. */
AMX_TARGET static inline __m512i zip_rows(const float *r0, const float *r1, __mmask16 mk, __m512i *mx)
{
    __m512 a = r0 ? _mm512_maskz_loadu_ps(mk, r0) : _mm512_setzero_ps();
    __m512 b = r1 ? _mm512_maskz_loadu_ps(mk, r1) : _mm512_setzero_ps();
    track(mx, a);
    track(mx, b);
    return lct__bf16_pair(a, b);
}

/* Transpose 16 × 16 32-bit words in place: swap the off-diagonal blocks of 8, then of 4, 2 and 1. */
AMX_TARGET static inline void transpose16(__m512i *r)
{
    /* Fully unrolled, every index is a constant and the 16 rows stay in registers. */
#pragma GCC unroll 4
    for (int b = 8; b >= 1; b /= 2) {
        int32_t lo[16], hi[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            lo[j] = (j & b) ? 16 + j - b : j; /* row i keeps its own lanes j < b of each block, takes row i + b's */
            hi[j] = (j & b) ? 16 + j : j + b;
        }
        __m512i il = _mm512_loadu_si512(lo), ih = _mm512_loadu_si512(hi);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            __m512i x = r[i], y = r[i + b];
            r[i] = _mm512_permutex2var_epi32(x, il, y);
            r[i + b] = _mm512_permutex2var_epi32(x, ih, y);
        }
    }
}

size_t lct__gemm_bf16_ws(size_t m, size_t n, size_t k)
{
    return (lct__bf16_packed(m, k) + lct__bf16_packed(n, k)) * sizeof(uint16_t);
}

/* The `left` (any number; 0 gives zeros) floats from src, up to 32, as 32 bf16 values, zero padded. */
AMX_TARGET static inline __m512i row32(const float *src, size_t left, __m512i *mx)
{
    __m512 lo = left > 0 ? _mm512_maskz_loadu_ps(lct__mask16(left), src) : _mm512_setzero_ps();
    __m512 hi = left > 16 ? _mm512_maskz_loadu_ps(lct__mask16(left - 16), src + 16) : _mm512_setzero_ps();
    track(mx, lo);
    track(mx, hi);
    return lct__bf16x32(lo, hi);
}

/* Row block ib of op(A) into dst (chunks KB of tiles); mx as for track(). */
AMX_TARGET static void pack_a(int ta, const float *a, size_t lda, size_t m, size_t k, size_t ib, uint16_t *dst,
                              __m512i *mx)
{
    size_t chunks = (k + 31) / 32, i0 = ib * 32;
    if (!ta) {
        for (size_t r = 0; r < 32; r++) {
            size_t i = i0 + r;
            uint16_t *row = dst + (r / 16) * 512 + (r % 16) * 32;
            for (size_t c = 0; c < chunks; c++)
                _mm512_store_si512((__m512i *)(row + c * 1024),
                                   row32(a + i * lda + c * 32, i < m ? k - c * 32 : 0, mx));
        }
        return;
    }
    /* op(A)[i][p] = a[p * lda + i]: rows p = 2t, 2t + 1 of a zip into word t of each tile row, which
     * a transpose puts in place. */
    for (size_t h = 0; h < 2; h++) {
        size_t c0 = i0 + h * 16;
        __mmask16 mk = c0 < m ? lct__mask16(m - c0) : 0;
        for (size_t c = 0; c < chunks; c++) {
            __m512i w[16];
#pragma GCC unroll 16
            for (size_t t = 0; t < 16; t++) {
                size_t p = c * 32 + 2 * t;
                w[t] = zip_rows(p < k ? a + p * lda + c0 : NULL, p + 1 < k ? a + (p + 1) * lda + c0 : NULL, mk, mx);
            }
            transpose16(w);
            uint16_t *tile = dst + c * 1024 + h * 512;
#pragma GCC unroll 16
            for (size_t r = 0; r < 16; r++) _mm512_store_si512((__m512i *)(tile + r * 32), w[r]);
        }
    }
}

/* Column block jb of op(B) into dst (chunks KB of tiles); mx as for track(). */
AMX_TARGET static void pack_b(int tb, const float *b, size_t ldb, size_t n, size_t k, size_t jb, uint16_t *dst,
                              __m512i *mx)
{
    size_t chunks = (k + 31) / 32;
    for (size_t h = 0; h < 2; h++) {
        size_t j0 = jb * 32 + h * 16;
        __mmask16 mk = j0 < n ? lct__mask16(n - j0) : 0;
        for (size_t c = 0; c < chunks; c++) {
            __m512i w[16];
            size_t p0 = c * 32;
            if (!tb) {
                /* op(B)[p][j] = b[p * ldb + j]: rows 2t and 2t + 1 zip into line t */
#pragma GCC unroll 16
                for (size_t t = 0; t < 16; t++) {
                    size_t p = p0 + 2 * t;
                    w[t] = zip_rows(p < k ? b + p * ldb + j0 : NULL, p + 1 < k ? b + (p + 1) * ldb + j0 : NULL, mk,
                                    mx);
                }
            } else {
                /* op(B)[p][j] = b[j * ldb + p]: a column's pair (2t, 2t + 1) is one word of its row in b;
                 * 16 such rows, transposed, are the 16 lines */
#pragma GCC unroll 16
                for (size_t r = 0; r < 16; r++) w[r] = row32(b + (j0 + r) * ldb + p0, j0 + r < n ? k - p0 : 0, mx);
                transpose16(w);
            }
            uint16_t *tile = dst + c * 1024 + h * 512;
#pragma GCC unroll 16
            for (size_t t = 0; t < 16; t++) _mm512_store_si512((__m512i *)(tile + t * 32), w[t]);
        }
    }
}

/* Row block ob of W (out × in) into the tiles of x Wᵀ's B operand (fwd: k = in, n = out) and of dy W's
 * (bwd: k = out, n = in), each only if set. */
AMX_TARGET static void pack_w_rows(const float *w, size_t out, size_t in, size_t ob, size_t ic_n, size_t ob_n,
                                   uint16_t *fwd, uint16_t *bwd)
{
    __m512i zip[2];
    for (int h = 0; h < 2; h++) {
        uint16_t idx[32];
        for (int q = 0; q < 32; q++) idx[q] = (uint16_t)((q & 1 ? 32 : 0) + h * 16 + q / 2);
        zip[h] = _mm512_loadu_si512(idx);
    }
    /* Rows are read a window of WIN chunks (1 KB) at a time, each row's window in one sequential run:
     * chunk by chunk, the 32 rows at once were more streams than the prefetcher follows. */
    enum { WIN = 8 };
    __m512i win[32][WIN];
    for (size_t c = 0; c < ic_n; c++) {
        __m512i r[32];
        size_t p = c * 32;
        if (c % WIN == 0)
            for (size_t i = 0; i < 32; i++) {
                size_t row = ob * 32 + i;
                for (size_t q = 0; q < WIN && c + q < ic_n; q++)
                    win[i][q] = row32(w + row * in + p + q * 32, row < out ? in - p - q * 32 : 0, NULL);
            }
        for (size_t i = 0; i < 32; i++) r[i] = win[i][c % WIN];
        if (bwd) {
            /* dy W: column block c (in), chunk ob (out); line t zips rows 2t and 2t + 1 */
            for (int h = 0; h < 2; h++) {
                uint16_t *tile = bwd + (c * ob_n + ob) * 1024 + h * 512;
#pragma GCC unroll 16
                for (size_t t = 0; t < 16; t++)
                    _mm512_store_si512((__m512i *)(tile + t * 32), _mm512_permutex2var_epi16(r[2 * t], zip[h], r[2 * t + 1]));
            }
        }
        /* x Wᵀ: column block ob (out), chunk c (in); each half of the rows transposed */
        for (int h = 0; h < 2 && fwd; h++) {
            transpose16(r + h * 16);
            uint16_t *tile = fwd + (ob * ic_n + c) * 1024 + h * 512;
#pragma GCC unroll 16
            for (size_t t = 0; t < 16; t++) _mm512_store_si512((__m512i *)(tile + t * 32), r[h * 16 + t]);
        }
    }
}

/* One 32 × 32 block of C (ldc in floats) from packed blocks of A and B: C + A B if accumulate, else
 * A B plus, if set, the 32 values at bias in every row (tile loads with stride 0). */
AMX_TARGET static void tile_block(const uint16_t *ap, const uint16_t *bp, size_t chunks, float *c, size_t ldc,
                                  int accumulate, const float *bias)
{
    size_t s = ldc * sizeof(float);
    if (accumulate) {
        _tile_loadd(0, c, s);
        _tile_loadd(1, c + 16, s);
        _tile_loadd(2, c + 16 * ldc, s);
        _tile_loadd(3, c + 16 * ldc + 16, s);
    } else if (bias) {
        _tile_loadd(0, bias, 0);
        _tile_loadd(1, bias + 16, 0);
        _tile_loadd(2, bias, 0);
        _tile_loadd(3, bias + 16, 0);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (size_t q = 0; q < chunks; q++) {
        _tile_loadd(4, ap + q * 1024, 64);
        _tile_loadd(5, ap + q * 1024 + 512, 64);
        _tile_loadd(6, bp + q * 1024, 64);
        _tile_loadd(7, bp + q * 1024 + 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, s);
    _tile_stored(1, c + 16, s);
    _tile_stored(2, c + 16 * ldc, s);
    _tile_stored(3, c + 16 * ldc + 16, s);
}

/* Blocks of C whose rows are not all whole 64-byte lines (partial blocks, or a C that is not aligned)
 * go through an aligned buffer: tile loads and stores that split cache lines run at a fraction of
 * their speed. Rows past m and columns past n of the buffer are zero, then dropped. With a sink, every
 * block goes through the buffer to the sink instead of C (beta 0). With bias (n values) and beta 0,
 * C = A B + bias in every row. */
AMX_TARGET static void multiply(size_t m, size_t n, size_t chunks, const uint16_t *ap, const uint16_t *bp, int beta,
                                const float *bias, float *c, size_t ldc, size_t first, size_t last,
                                lct__bf16_sink sink, void *ctx)
{
    size_t mb = (m + 31) / 32;
    int lines = (uintptr_t)c % 64 == 0 && ldc % 16 == 0;
    float buf[32 * 32] __attribute__((aligned(64)));
    lct__amx_begin();
    for (size_t it = first; it < last; it++) {
        size_t jb = it / mb, ib = it % mb, i0 = ib * 32, j0 = jb * 32;
        const uint16_t *a = ap + ib * chunks * 1024, *b = bp + jb * chunks * 1024;
        size_t rows = m - i0 < 32 ? m - i0 : 32, cols = n - j0 < 32 ? n - j0 : 32;
        if (sink) {
            tile_block(a, b, chunks, buf, 32, 0, NULL);
            sink(ctx, i0, j0, rows, cols, buf);
            continue;
        }
        float *dst = c + i0 * ldc + j0;
        if (lines && i0 + 32 <= m && j0 + 32 <= n) {
            tile_block(a, b, chunks, dst, ldc, beta, bias && !beta ? bias + j0 : NULL);
            continue;
        }
        __mmask16 lo = lct__mask16(cols), hi = cols > 16 ? lct__mask16(cols - 16) : 0;
        if (beta || bias)
            for (size_t r = 0; r < 32; r++) {
                __mmask16 l = r < rows ? lo : 0, h = r < rows ? hi : 0;
                const float *src = beta ? dst + r * ldc : bias + j0;
                _mm512_store_ps(buf + r * 32, _mm512_maskz_loadu_ps(l, src));
                _mm512_store_ps(buf + r * 32 + 16, _mm512_maskz_loadu_ps(h, src + 16));
            }
        tile_block(a, b, chunks, buf, 32, beta || bias, NULL);
        for (size_t r = 0; r < rows; r++) {
            _mm512_mask_storeu_ps(dst + r * ldc, lo, _mm512_load_ps(buf + r * 32));
            _mm512_mask_storeu_ps(dst + r * ldc + 16, hi, _mm512_load_ps(buf + r * 32 + 16));
        }
    }
    lct__amx_end();
}

/* The float whose bits are the largest of the lanes of mx, or Inf if they stand for NaN or Inf. */
AMX_TARGET static float lane_max(__m512i mx)
{
    uint32_t u = _mm512_reduce_max_epu32(mx);
    if (u >= 0x7f800000u) return INFINITY;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Row blocks ib0 .. ib1 − 1 of op(A) into ap, or column blocks of op(B) into bp (the other NULL); with
 * amax set, *amax = the largest |value| read (see lane_max). */
AMX_TARGET static void pack_blocks(int t, const float *x, size_t ld, size_t rows, size_t k, size_t b0, size_t b1,
                                   uint16_t *ap, uint16_t *bp, float *amax)
{
    size_t chunks = (k + 31) / 32;
    __m512i mx = _mm512_setzero_si512();
    for (size_t q = b0; q < b1; q++) {
        if (ap)
            pack_a(t, x, ld, rows, k, q, ap + q * chunks * 1024, amax ? &mx : NULL);
        else
            pack_b(t, x, ld, rows, k, q, bp + q * chunks * 1024, amax ? &mx : NULL);
    }
    if (amax) *amax = lane_max(mx);
}

void lct__bf16_pack_a(int ta, const float *a, size_t lda, size_t m, size_t k, uint16_t *dst)
{
    pack_blocks(ta, a, lda, m, k, 0, (m + 31) / 32, dst, NULL, NULL);
}

void lct__bf16_pack_b(int tb, const float *b, size_t ldb, size_t k, size_t n, uint16_t *dst)
{
    pack_blocks(tb, b, ldb, n, k, 0, (n + 31) / 32, NULL, dst, NULL);
}

void lct__bf16_multiply(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, int beta, float *c,
                        size_t ldc)
{
    multiply(m, n, (k + 31) / 32, ap, bp, beta, NULL, c, ldc, 0, ((m + 31) / 32) * ((n + 31) / 32), NULL, NULL);
}

void lct__bf16_multiply_sink(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, lct__bf16_sink sink,
                             void *ctx)
{
    multiply(m, n, (k + 31) / 32, ap, bp, 0, NULL, NULL, 0, 0, ((m + 31) / 32) * ((n + 31) / 32), sink, ctx);
}

typedef struct bf16_job {
    int ta, tb, beta;
    size_t m, n, k, lda, ldb, ldc, mb, nb, tn;
    const float *a, *b, *bias;
    const uint16_t *bp;
    uint16_t *ap, *bw;
    float *c;
    float *amax_a, *amax_b; /* one per task, or NULL */
} bf16_job;

/* Task t of tn packs its share of the blocks of op(A), and of op(B) unless it comes packed. */
static void pack_task(void *ctx, size_t t, size_t t1, size_t slot)
{
    (void)t1, (void)slot;
    const bf16_job *j = ctx;
    pack_blocks(j->ta, j->a, j->lda, j->m, j->k, j->mb * t / j->tn, j->mb * (t + 1) / j->tn, j->ap, NULL,
                j->amax_a ? &j->amax_a[t] : NULL);
    if (j->bp == NULL)
        pack_blocks(j->tb, j->b, j->ldb, j->n, j->k, j->nb * t / j->tn, j->nb * (t + 1) / j->tn, NULL, j->bw,
                    j->amax_b ? &j->amax_b[t] : NULL);
}

/* Contiguous runs of blocks per task, column block outermost: a task keeps its B block. */
static void multiply_task(void *ctx, size_t t, size_t t1, size_t slot)
{
    (void)t1, (void)slot;
    const bf16_job *j = ctx;
    size_t total = j->mb * j->nb;
    multiply(j->m, j->n, (j->k + 31) / 32, j->ap, j->bp ? j->bp : j->bw, j->beta, j->bias, j->c, j->ldc,
             total * t / j->tn, total * (t + 1) / j->tn, NULL, NULL);
}

/* Pack op(A), and op(B) unless it comes packed (bp), then multiply: two regions, since every block of
 * C needs every packed block of its row and column. */
static void gemm(lct_runtime *rt, int threads, int ta, int tb, size_t m, size_t n, size_t k, const float *a,
                 size_t lda, const float *b, size_t ldb, const uint16_t *bp, int beta, const float *bias, float *c,
                 size_t ldc, void *ws, float *amax)
{
    int nt = threads > 1 && m * n * k >= ((size_t)1 << 20) ? threads : 1;
    float ma[LCT__MAX_THREADS] = {0}, mbx[LCT__MAX_THREADS] = {0};
    bf16_job j = {.ta = ta, .tb = tb, .beta = beta, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
                  .mb = (m + 31) / 32, .nb = (n + 31) / 32, .tn = (size_t)nt, .a = a, .b = b, .bias = bias, .bp = bp,
                  .ap = ws, .bw = (uint16_t *)ws + lct__bf16_packed(m, k), .c = c, .amax_a = amax ? ma : NULL,
                  .amax_b = amax ? mbx : NULL};
    lct__parallel_tasks(rt, nt, pack_task, &j);
    lct__parallel_tasks(rt, nt, multiply_task, &j);
    if (amax) {
        amax[0] = amax[1] = 0.0f;
        for (int t = 0; t < nt; t++) {
            if (ma[t] > amax[0]) amax[0] = ma[t];
            if (mbx[t] > amax[1]) amax[1] = mbx[t];
        }
    }
}

void lct__gemm_bf16(lct_runtime *rt, int threads, int ta, int tb, size_t m, size_t n, size_t k, const float *a,
                    size_t lda, const float *b, size_t ldb, int beta, float *c, size_t ldc, void *ws, float *amax)
{
    gemm(rt, threads, ta, tb, m, n, k, a, lda, b, ldb, NULL, beta, NULL, c, ldc, ws, amax);
}

void lct__gemm_bf16_pb(lct_runtime *rt, int threads, int ta, size_t m, size_t n, size_t k, const float *a,
                       size_t lda, const uint16_t *bp, const float *bias, float *c, size_t ldc, void *ws)
{
    gemm(rt, threads, ta, 0, m, n, k, a, lda, NULL, 0, bp, 0, bias, c, ldc, ws, NULL);
}

/* Each 32 × 32 block of W is read once: its rows, rounded, are transposed into fwd's tiles and
 * zipped in pairs into bwd's. */
typedef struct pack_w_job {
    const float *w;
    size_t out, in, ob_n, ic_n;
    uint16_t *fwd, *bwd;
} pack_w_job;

static void pack_w_range(void *ctx, size_t ob0, size_t ob1, size_t slot)
{
    (void)slot;
    const pack_w_job *j = ctx;
    for (size_t ob = ob0; ob < ob1; ob++) pack_w_rows(j->w, j->out, j->in, ob, j->ic_n, j->ob_n, j->fwd, j->bwd);
}

void lct__bf16_pack_w(lct_runtime *rt, int threads, const float *w, size_t out, size_t in, uint16_t *fwd,
                      uint16_t *bwd)
{
    pack_w_job j = {.w = w, .out = out, .in = in, .ob_n = (out + 31) / 32, .ic_n = (in + 31) / 32, .fwd = fwd,
                    .bwd = bwd};
    lct__parallel(rt, threads > 1 && out * in >= ((size_t)1 << 16) ? threads : 1, j.ob_n, 1, pack_w_range, &j);
}

#else

size_t lct__gemm_bf16_ws(size_t m, size_t n, size_t k)
{
    (void)m, (void)n, (void)k;
    return 0;
}

void lct__bf16_pack_w(lct_runtime *rt, int threads, const float *w, size_t out, size_t in, uint16_t *fwd,
                      uint16_t *bwd)
{
    (void)rt, (void)threads, (void)w, (void)out, (void)in, (void)fwd, (void)bwd;
}

void lct__gemm_bf16_pb(lct_runtime *rt, int threads, int ta, size_t m, size_t n, size_t k, const float *a,
                       size_t lda, const uint16_t *bp, const float *bias, float *c, size_t ldc, void *ws)
{
    (void)rt, (void)threads, (void)ta, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bp, (void)bias, (void)c, (void)ldc;
    (void)ws;
}

void lct__bf16_pack_a(int ta, const float *a, size_t lda, size_t m, size_t k, uint16_t *dst)
{
    (void)ta, (void)a, (void)lda, (void)m, (void)k, (void)dst;
}

void lct__bf16_pack_b(int tb, const float *b, size_t ldb, size_t k, size_t n, uint16_t *dst)
{
    (void)tb, (void)b, (void)ldb, (void)k, (void)n, (void)dst;
}

void lct__bf16_multiply(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, int beta, float *c,
                        size_t ldc)
{
    (void)m, (void)n, (void)k, (void)ap, (void)bp, (void)beta, (void)c, (void)ldc;
}

void lct__bf16_multiply_sink(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, lct__bf16_sink sink,
                             void *ctx)
{
    (void)m, (void)n, (void)k, (void)ap, (void)bp, (void)sink, (void)ctx;
}

void lct__gemm_bf16(lct_runtime *rt, int threads, int ta, int tb, size_t m, size_t n, size_t k, const float *a,
                    size_t lda, const float *b, size_t ldb, int beta, float *c, size_t ldc, void *ws, float *amax)
{
    (void)rt, (void)threads, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc, (void)ws, (void)amax;
}

#endif
