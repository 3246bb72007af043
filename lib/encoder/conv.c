/*
 * conv2d through im2col + GEMM, one sample at a time, the batch split into
 * LCT__CHUNKS fixed chunks run in parallel (one single-threaded GEMM per
 * sample). Weight gradients are summed per chunk, then over chunks in order,
 * so they do not depend on the thread count. (The geometry also covers conv1d
 * as conv2d with H = 1, but the encoder runs conv1d through conv1d.c.)
 *
 * In bf16 precision (l->bf16, lct_encoder_set_precision) the three products
 * (Y = W·col, dWᵀ = col·dYᵀ, dcol = Wᵀ·dY) round both operands to bf16 and sum
 * in fp32 on AMX tiles (bf16_tiles.h), W packed once per pass. Stride-1
 * "same-width" layers (output as wide as the input, e.g. 3×3 with padding 1)
 * skip the fp32 column matrix: the columns are packed straight from x, and
 * dx is added into the images from each block of Wᵀ·dY as the tiles make it.
 * Layers with C·kh·kw ≤ SMALL_K run the register kernels below, which stay
 * fp32 in either precision (their products are too thin for tiles).
 */
#include "encoder_internal.h"

#include "../core/bf16_tiles.h"

/* Few rows of columns (C·kh·kw, e.g. a first layer on one channel): GEMMs that thin run far below
 * BLIS's speed (and the tiles' too), so forward and dW use the small fp32 kernels below instead. */
#define SMALL_K 16

typedef lct__geom geom;

static geom geometry(const lct__layer *l)
{
    geom g = lct__geom_of(l);
    g.bf16 = l->bf16 && g.k > SMALL_K;
    return g;
}

int lct__conv_init(lct__layer *l, const char *func)
{
    int two = l->kind == LCT__L_CONV2D;
    const char *k = two ? "conv2d" : "conv1d";
    if (l->units == 0) return lct__fail(LCT_EINVAL, func, "%s: out_channels is 0", k);
    if (l->kernel == 0) return lct__fail(LCT_EINVAL, func, "%s: kernel is 0", k);
    if (l->stride == 0) return lct__fail(LCT_EINVAL, func, "%s: stride is 0", k);
    if (l->kernel > 65536 || l->padding > 65536 || l->stride > 65536)
        return lct__fail(LCT_EINVAL, func, "%s: kernel %u, stride %u or padding %u exceeds 65536", k, l->kernel,
                         l->stride, l->padding);
    if (l->in.rank != (two ? 3u : 2u))
        return lct__fail(LCT_ESHAPE, func, "%s needs a rank-%d input (%s), got rank %u", k, two ? 3 : 2,
                         two ? "C x H x W" : "C x L", l->in.rank);
    for (uint32_t i = 1; i < l->in.rank; i++) {
        uint64_t span = (uint64_t)l->in.d[i] + 2u * l->padding;
        if (span < l->kernel)
            return lct__fail(LCT_ESHAPE, func, "%s: kernel %u is larger than the padded input (%llu)", k, l->kernel,
                             (unsigned long long)span);
        l->out.d[i] = (uint32_t)((span - l->kernel) / l->stride + 1);
    }
    l->out.d[0] = l->units;
    size_t kk;
    if (lct__mul_size((size_t)l->in.d[0] * l->kernel, two ? l->kernel : 1, &kk) || kk > ((size_t)1 << 32))
        return lct__fail(LCT_ESHAPE, func, "%s: weight too large", k);
    return LCT_OK;
}

static size_t chunks(size_t batch)
{
    return batch < LCT__CHUNKS ? batch : LCT__CHUNKS;
}

/* Threads that share the nch chunks, each with one scratch slot for columns and outputs: a contiguous
 * run of chunks per thread. Which thread runs a chunk never changes what the chunk computes. */
static size_t slots(const lct__pass *p, size_t nch)
{
    size_t t = p->threads > 0 ? (size_t)p->threads : 1;
    return t < nch ? t : nch;
}

/* bf16 with stride 1 and the output as wide as the input: the products read and write the images
 * directly, without the column matrix (see pack_cols_b). */
#define FUSED_TAPS 64

static int fused(const geom *g)
{
    return LCT__AMX && g->bf16 && g->sw == 1 && g->sh == 1 && g->ow == g->w && g->pw < g->w && g->n >= 16 &&
           g->kh * g->kw <= FUSED_TAPS && g->h * g->w < ((size_t)1 << 30); /* positions fit int32 lanes */
}

/* 1×1 kernels with stride 1 and no padding need no im2col: the input is already the column matrix. */
static int direct(const geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/*
 * Samples per GEMM: small outputs (N = oh·ow) are grouped so each GEMM has at least ~576 columns,
 * which amortises the packing of W while the group's columns (K × G·N, e.g. 288 × 588) stay about the
 * size of L2 (outputs of 512 or more stay per sample); the group's columns are then scattered to the samples.
 */
static size_t group_of(const geom *g, size_t batch)
{
    if (g->k <= SMALL_K) return 1;
    size_t per_chunk = (batch + chunks(batch) - 1) / chunks(batch);
    size_t gs = g->n >= 512 ? 1 : (576 + g->n - 1) / g->n;
    if (gs > 8) gs = 8;
    return gs < per_chunk ? gs : per_chunk;
}

/* What a pass's tasks read: the layer, its geometry and chunks, the operands, W packed (bf16) or NULL. */
typedef struct conv_job {
    const lct__pass *p;
    const lct__layer *l;
    const geom *g;
    size_t nch, gs, nt;
    const float *x, *dy;
    float *y, *dx;
    const uint16_t *wp;
} conv_job;

static conv_job job_of(const lct__layer *l, const lct__pass *p, const geom *g, const uint16_t *wp)
{
    size_t nch = chunks(p->batch);
    return (conv_job){.p = p, .l = l, .g = g, .nch = nch, .gs = group_of(g, p->batch), .nt = slots(p, nch), .wp = wp};
}

int lct__conv_recomputes(const lct__layer *conv, const lct__layer *bn, const lct__layer *relu,
                         const lct__layer *pool)
{
    if (conv->kind != LCT__L_CONV2D || !lct__bn_fuses_pool(bn, relu, pool)) return 0;
    geom g = geometry(conv);
    return g.k <= SMALL_K;
}

/* Scratch of one chunk: columns (K × G·N), a gathered output/gradient (O × G·N), partial dW and db,
 * and in bf16 the packing space of the operands of its products other than W (64-byte aligned, as
 * every part is). */
typedef struct scratch {
    float *col, *out, *dw, *db;
    uint16_t *pack;
} scratch;

static size_t floats_of(size_t u16)
{
    return lct__round16((u16 + 1) / 2);
}

/* bf16: W packed once per pass, shared by the chunks: as op(A) = W (O × K) forward, Wᵀ (K × O) backward. */
static size_t wpack_floats(const geom *g)
{
    return g->bf16 ? floats_of(lct__max_size(lct__bf16_packed(g->o, g->k), lct__bf16_packed(g->k, g->o))) : 0;
}

/* bf16, per chunk: the column operand of forward (K × G·N), or col and dYᵀ of dW, or dY of dcol. */
static size_t pack_floats(const geom *g, size_t gs)
{
    if (!g->bf16) return 0;
    size_t ld = gs * g->n, fwd = lct__bf16_packed(ld, g->k), dw = lct__bf16_packed(g->k, ld) + lct__bf16_packed(g->o, ld);
    return floats_of(lct__max_size(lct__max_size(fwd, dw), lct__bf16_packed(ld, g->o)));
}

/* Row stride of the products' outputs in the scratch (the forward's outputs, the backward's columns)
 * for ld columns: in bf16, whole 64-byte lines, which the tiles store at full speed. */
static size_t out_ld(const geom *g, size_t ld)
{
    return g->bf16 ? lct__round16(ld) : ld;
}

/* Floats of the column matrix (none when the products read the images directly). */
static size_t col_floats(const geom *g, size_t gs)
{
    return fused(g) ? 0 : lct__round16(g->k * out_ld(g, gs * g->n));
}

static size_t scratch_floats(const geom *g, size_t gs)
{
    size_t ld = out_ld(g, gs * g->n);
    return col_floats(g, gs) + lct__round16(g->o * ld) + lct__round16(g->o * g->k) + lct__round16(g->o) +
           pack_floats(g, gs);
}

static scratch scratch_of(const geom *g, size_t gs, float *base, size_t c)
{
    scratch s;
    s.col = base + wpack_floats(g) + c * scratch_floats(g, gs);
    s.out = s.col + col_floats(g, gs);
    s.dw = s.out + lct__round16(g->o * out_ld(g, gs * g->n));
    s.db = s.dw + lct__round16(g->o * g->k);
    s.pack = (uint16_t *)(s.db + lct__round16(g->o));
    return s;
}

size_t lct__conv_ws(const lct__layer *l, size_t batch)
{
    geom g = geometry(l);
    return wpack_floats(&g) + chunks(batch) * scratch_floats(&g, group_of(&g, batch));
}


/* C = op(A) op(B) (+ C with beta 1) on this thread: fp32 through BLIS, or bf16 operands on AMX tiles,
 * where `packed` is op(A) already packed (W) or NULL. */
static void gemm(const lct__pass *p, const geom *g, const scratch *sc, int ta, int tb, size_t m, size_t n, size_t k,
                 const float *a, size_t lda, const uint16_t *packed, const float *b, size_t ldb, int beta, float *c,
                 size_t ldc)
{
    if (!g->bf16) {
        lct__gemm1(p->rt, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta ? 1.0f : 0.0f, c, ldc);
        return;
    }
    uint16_t *bp = sc->pack;
    if (!packed) {
        lct__bf16_pack_a(ta, a, lda, m, k, sc->pack);
        packed = sc->pack;
        bp += lct__bf16_packed(m, k);
    }
    lct__bf16_pack_b(tb, b, ldb, k, n, bp);
    lct__bf16_multiply(m, n, k, packed, bp, beta, c, ldc);
}

/* dst[0..n) = src[0..n) and dst[0..n) = 0 in 16-float vectors, without library calls (the callers
 * are LCT__NO_LIBCALLS): im2col makes hundreds of thousands of runs of a few hundred bytes per pass,
 * where a call's fixed cost dominates. The last vector overlaps the one before it instead of a
 * scalar tail. */

static inline void copy_run(float *dst, const float *src, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        return;
    }
    lct__v16 v;
    for (size_t i = 0; i + 16 < n; i += 16) {
        LCT__LOAD(v, src + i);
        LCT__STORE(dst + i, v);
    }
    LCT__LOAD(v, src + n - 16);
    LCT__STORE(dst + n - 16, v);
}

static inline void zero_run(float *dst, size_t n)
{
    lct__v16 z = {0};
    if (n < 16) {
        for (size_t i = 0; i < n; i++) dst[i] = 0.0f;
        return;
    }
    for (size_t i = 0; i + 16 < n; i += 16) LCT__STORE(dst + i, z);
    LCT__STORE(dst + n - 16, z);
}

/*
 * "Same-width" rows (stride 1 along x, output as wide as the input): the rows of one (c, i, j) plane
 * that fall inside the input form one contiguous run in both the input and the columns, shifted by
 * the kernel offset. Copy it at once, then zero the few columns that fell off either edge.
 */
LCT__VEC_ISA LCT__NO_LIBCALLS static void im2col_rows(const geom *g, const float *plane, float *row, size_t i,
                                                 ptrdiff_t off)
{
    size_t ow = g->ow;
    ptrdiff_t oy0 = (ptrdiff_t)g->ph - (ptrdiff_t)i, oy1 = (ptrdiff_t)g->h + (ptrdiff_t)g->ph - (ptrdiff_t)i;
    if (oy0 < 0) oy0 = 0;
    if (oy1 > (ptrdiff_t)g->oh) oy1 = (ptrdiff_t)g->oh;
    if (oy1 < oy0) oy1 = oy0;
    zero_run(row, (size_t)oy0 * ow);
    zero_run(row + (size_t)oy1 * ow, (g->oh - (size_t)oy1) * ow);
    if (oy1 == oy0) return;
    ptrdiff_t lo = off < 0 ? -off : 0, hi = (ptrdiff_t)ow - (off > 0 ? off : 0);
    size_t n = (size_t)(oy1 - oy0) * ow;
    float *dst = row + (size_t)oy0 * ow;
    const float *src = plane + (size_t)(oy0 + (ptrdiff_t)i - (ptrdiff_t)g->ph) * g->w + off;
    /* [lo, n − (ow − hi)) stays inside the input */
    copy_run(dst + lo, src + lo, n - (size_t)lo - (ow - (size_t)hi));
    for (ptrdiff_t r = oy0; r < oy1; r++) {
        float *d = row + (size_t)r * ow;
        for (ptrdiff_t ox = 0; ox < lo; ox++) d[ox] = 0.0f;
        for (ptrdiff_t ox = hi; ox < (ptrdiff_t)ow; ox++) d[ox] = 0.0f;
    }
}

/* Row (c, i, j) of the columns from input plane c, any stride. */
static void im2col_strided(const geom *g, const float *plane, float *row, size_t i, ptrdiff_t off)
{
    for (size_t oy = 0; oy < g->oh; oy++) {
        float *dst = row + oy * g->ow;
        ptrdiff_t iy = (ptrdiff_t)(oy * g->sh + i) - (ptrdiff_t)g->ph;
        if (iy < 0 || iy >= (ptrdiff_t)g->h) {
            memset(dst, 0, g->ow * sizeof *dst);
            continue;
        }
        const float *src = plane + (size_t)iy * g->w;
        if (g->sw == 1) {
            /* valid ox: 0 <= ox + off < w */
            ptrdiff_t lo = off < 0 ? -off : 0, hi = (ptrdiff_t)g->w - off;
            if (hi > (ptrdiff_t)g->ow) hi = (ptrdiff_t)g->ow;
            if (hi < lo) hi = lo;
            for (ptrdiff_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
            if (hi > lo) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
            for (ptrdiff_t ox = hi; ox < (ptrdiff_t)g->ow; ox++) dst[ox] = 0.0f;
        } else {
            for (size_t ox = 0; ox < g->ow; ox++) {
                ptrdiff_t ix = (ptrdiff_t)(ox * g->sw) + off;
                dst[ox] = ix >= 0 && ix < (ptrdiff_t)g->w ? src[ix] : 0.0f;
            }
        }
    }
}

/* Σ x[0..n), in 16 fixed lanes (vectorised; the order never depends on threads). */
LCT__VEC float lct__sum_lanes(const float *x, size_t n)
{
    float a[16] = {0}, s = 0.0f;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) a[j] += x[i + j];
    for (; i < n; i++) s += x[i];
    for (int j = 0; j < 16; j++) s += a[j];
    return s;
}

LCT__VEC static void fill(float *dst, float v, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = v;
}

LCT__VEC static void add_bias(float *dst, const float *src, float b, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i] + b;
}

LCT__VEC static void add_to(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* dx += col2im(dcol); dx must be zeroed by the caller. */
/* Same-width planes (see im2col_rows): zero the column entries that fall off either edge (the
 * columns are scratch), then add the whole in-range run of rows at once. */
static void col2im_rows(const geom *g, float *row, float *plane, size_t i, ptrdiff_t off)
{
    size_t ow = g->ow;
    ptrdiff_t oy0 = (ptrdiff_t)g->ph - (ptrdiff_t)i, oy1 = (ptrdiff_t)g->h + (ptrdiff_t)g->ph - (ptrdiff_t)i;
    if (oy0 < 0) oy0 = 0;
    if (oy1 > (ptrdiff_t)g->oh) oy1 = (ptrdiff_t)g->oh;
    if (oy1 <= oy0) return;
    ptrdiff_t lo = off < 0 ? -off : 0, hi = (ptrdiff_t)ow - (off > 0 ? off : 0);
    for (ptrdiff_t r = oy0; r < oy1; r++) {
        float *d = row + (size_t)r * ow;
        for (ptrdiff_t ox = 0; ox < lo; ox++) d[ox] = 0.0f;
        for (ptrdiff_t ox = hi; ox < (ptrdiff_t)ow; ox++) d[ox] = 0.0f;
    }
    size_t n = (size_t)(oy1 - oy0) * ow;
    float *src = row + (size_t)oy0 * ow;
    float *dst = plane + (size_t)(oy0 + (ptrdiff_t)i - (ptrdiff_t)g->ph) * g->w + off;
    add_to(dst + lo, src + lo, n - (size_t)lo - (ow - (size_t)hi));
}

/* Row (c, i, j) of the column gradients added into plane c of dx, any stride. */
static void col2im_strided(const geom *g, const float *row, float *plane, size_t i, ptrdiff_t off)
{
    for (size_t oy = 0; oy < g->oh; oy++) {
        const float *src = row + oy * g->ow;
        ptrdiff_t iy = (ptrdiff_t)(oy * g->sh + i) - (ptrdiff_t)g->ph;
        if (iy < 0 || iy >= (ptrdiff_t)g->h) continue;
        float *dst = plane + (size_t)iy * g->w;
        if (g->sw == 1) {
            ptrdiff_t lo = off < 0 ? -off : 0, hi = (ptrdiff_t)g->w - off;
            if (hi > (ptrdiff_t)g->ow) hi = (ptrdiff_t)g->ow;
            if (hi > lo) add_to(dst + lo + off, src + lo, (size_t)(hi - lo));
            continue;
        }
        for (size_t ox = 0; ox < g->ow; ox++) {
            ptrdiff_t ix = (ptrdiff_t)(ox * g->sw) + off;
            if (ix >= 0 && ix < (ptrdiff_t)g->w) dst[ix] += src[ox];
        }
    }
}

/* Every row (c, i, j) of the columns (row stride ld): made from the images x (im2col), or with x NULL
 * added into dx (col2im; dx must be zeroed by the caller, and the same-width path overwrites edge
 * entries of col). */
static void window_rows(const geom *g, const float *x, float *col, size_t ld, float *dx)
{
    int same = g->sw == 1 && g->sh == 1 && g->ow == g->w && (ptrdiff_t)g->pw < (ptrdiff_t)g->w;
    for (size_t c = 0; c < g->c; c++)
        for (size_t i = 0; i < g->kh; i++)
            for (size_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                ptrdiff_t off = (ptrdiff_t)j - (ptrdiff_t)g->pw;
                size_t plane = c * g->h * g->w;
                if (x && same) im2col_rows(g, x + plane, row, i, off);
                else if (x) im2col_strided(g, x + plane, row, i, off);
                else if (same) col2im_rows(g, row, dx + plane, i, off);
                else col2im_strided(g, row, dx + plane, i, off);
            }
}

static void im2col(const geom *g, const float *x, float *col, size_t ld)
{
    window_rows(g, x, col, ld, NULL);
}

static void col2im(const geom *g, float *col, size_t ld, float *dx)
{
    window_rows(g, NULL, col, ld, dx);
}

/* Columns of samples b .. b+n−1 side by side (row stride ld = n·N). */
static void group_cols(const geom *g, const float *x, size_t in_size, size_t n, int dir, float *col, size_t ld)
{
    for (size_t s = 0; s < n; s++) {
        if (dir)
            for (size_t r = 0; r < g->k; r++) memcpy(col + r * ld + s * g->n, x + s * in_size + r * g->n, g->n * sizeof(float));
        else
            im2col(g, x + s * in_size, col + s * g->n, ld);
    }
}

/*
 * bf16 operands straight from the images, without the fp32 columns: for "same-width" geometries
 * (stride 1, output as wide as the input; see im2col_rows) column q of a sample reads, for the kernel
 * tap (c, i, j), input element q + c·H·W + (i − ph)·W + (j − pw) where it falls inside the image, so 16
 * consecutive columns are one masked load. The group's columns run over its samples side by side, and
 * 16 of them span at most two samples when N ≥ 16: one load per sample, with a mask per tap.
 */

#if LCT__AMX

/* Columns j .. j + 15 of the group: lane l reads first + l (its sample s) or second + l (sample s + 1),
 * each offset by the tap's place, under the tap's masks. */
typedef struct lanes16 {
    const float *first, *second;
    __mmask16 m1[FUSED_TAPS], m2[FUSED_TAPS];
    ptrdiff_t tap[FUSED_TAPS]; /* (i − ph)·W + (j − pw) */
} lanes16;

LCT__AMX_TARGET static void lanes_at(const geom *g, const float *x, size_t in_size, size_t ns, size_t j, lanes16 *L)
{
    size_t s = j / g->n, q = j % g->n, pos = q, oy = q / g->w, ox = q % g->w, ss = s;
    int32_t vy[16], vx[16];
    __mmask16 one = 0, two = 0;
    for (int l = 0; l < 16; l++) {
        vy[l] = (int32_t)oy, vx[l] = (int32_t)ox;
        if (ss < ns) {
            if (ss == s) one |= (__mmask16)(1u << l);
            else two |= (__mmask16)(1u << l);
        }
        if (++ox == g->w) ox = 0, oy++;
        if (++pos == g->n) pos = 0, oy = 0, ox = 0, ss++;
    }
    /* lane l of `second` is column q + l − N of sample s + 1 (only read when that sample exists) */
    L->first = (const float *)((uintptr_t)x + (s * in_size + q) * sizeof(float));
    L->second = (const float *)((uintptr_t)L->first + (in_size - g->n) * sizeof(float));
    __m512i y = _mm512_loadu_si512(vy), xx = _mm512_loadu_si512(vx);
    for (size_t i = 0, t = 0; i < g->kh; i++) {
        __m512i iy = _mm512_add_epi32(y, _mm512_set1_epi32((int32_t)i - (int32_t)g->ph));
        __mmask16 rows = _mm512_cmplt_epu32_mask(iy, _mm512_set1_epi32((int32_t)g->h));
        for (size_t jx = 0; jx < g->kw; jx++, t++) {
            __m512i ix = _mm512_add_epi32(xx, _mm512_set1_epi32((int32_t)jx - (int32_t)g->pw));
            __mmask16 in = rows & _mm512_cmplt_epu32_mask(ix, _mm512_set1_epi32((int32_t)g->w));
            L->m1[t] = in & one;
            L->m2[t] = in & two;
            L->tap[t] = ((ptrdiff_t)i - (ptrdiff_t)g->ph) * (ptrdiff_t)g->w + (ptrdiff_t)jx - (ptrdiff_t)g->pw;
        }
    }
}

/* Rows of the columns in order: row r is kernel tap t of input channel c (r = c·taps + t). */
typedef struct row_walk {
    size_t r, t, taps;
    ptrdiff_t plane; /* c·H·W */
} row_walk;

/* The walk's row of the 16 columns (zeros past the last row). Addresses of masked-off lanes may lie
 * outside the images: masked loads do not touch them. */
LCT__AMX_TARGET static inline __m512 row_of(const geom *g, const lanes16 *L, const row_walk *w)
{
    if (w->r >= g->k) return _mm512_setzero_ps();
    size_t t = w->t;
    uintptr_t off = (uintptr_t)(w->plane + L->tap[t]) * sizeof(float);
    __m512 v = _mm512_maskz_loadu_ps(L->m1[t], (const void *)((uintptr_t)L->first + off));
    if (L->m2[t]) v = _mm512_mask_loadu_ps(v, L->m2[t], (const void *)((uintptr_t)L->second + off));
    return v;
}

static inline void next_row(const geom *g, row_walk *w)
{
    w->r++;
    if (++w->t == w->taps) w->t = 0, w->plane += (ptrdiff_t)(g->h * g->w);
}

/* The columns (K × ns·N) of samples x .. as packed op(B) of the forward product W · col. */
LCT__AMX_TARGET static void pack_cols_b(const geom *g, const float *x, size_t in_size, size_t ns, uint16_t *dst)
{
    size_t ld = ns * g->n, chunks = (g->k + 31) / 32;
    lanes16 L;
    for (size_t j0 = 0; j0 < ld; j0 += 16) {
        lanes_at(g, x, in_size, ns, j0, &L);
        uint16_t *tiles = dst + (j0 / 32) * chunks * 1024 + (j0 / 16 % 2) * 512;
        row_walk w = {0, 0, g->kh * g->kw, 0};
        for (size_t c = 0; c < chunks; c++)
            for (size_t t = 0; t < 16; t++) {
                __m512 r0 = row_of(g, &L, &w);
                next_row(g, &w);
                __m512 r1 = row_of(g, &L, &w);
                next_row(g, &w);
                _mm512_store_si512((__m512i *)(tiles + c * 1024 + t * 32), lct__bf16_pair(r0, r1));
            }
    }
    if (ld % 32 && ld % 32 <= 16) /* the last block's second tiles are padding */
        for (size_t c = 0; c < chunks; c++) memset(dst + ((ld / 32) * chunks + c) * 1024 + 512, 0, 1024);
}

/* The same columns as packed op(A) of the weight-gradient product col · dYᵀ (K × ns·N): 32 columns
 * (one chunk of k) at a time, so each row of a tile is stored whole. */
LCT__AMX_TARGET static void pack_cols_a(const geom *g, const float *x, size_t in_size, size_t ns, uint16_t *dst)
{
    size_t ld = ns * g->n, chunks = (ld + 31) / 32, rows = (g->k + 31) / 32 * 32;
    lanes16 L0, L1;
    for (size_t c = 0; c < chunks; c++) {
        lanes_at(g, x, in_size, ns, c * 32, &L0); /* past ld: every mask is empty, the values zeros */
        lanes_at(g, x, in_size, ns, c * 32 + 16, &L1);
        uint16_t *col = dst + c * 1024;
        row_walk w = {0, 0, g->kh * g->kw, 0};
        for (size_t r = 0; r < rows; r++, next_row(g, &w)) {
            _mm512_store_si512((__m512i *)(col + (r / 32) * chunks * 1024 + (r % 32) * 32),
                               lct__bf16x32(row_of(g, &L0, &w), row_of(g, &L1, &w)));
        }
    }
}

/* dx += col2im(Wᵀ dY) block by block as the tiles make it (no column matrix): row r of a block is
 * kernel tap t of input channel c, its columns the group's output positions, and each value adds into
 * the input element that column read for that tap in forward (lanes16 with dx for x). */
typedef struct dx_sink {
    const geom *g;
    float *dx; /* the group's first sample */
    size_t in_size, ns, j0;
    lanes16 L[2]; /* columns j0 .. j0 + 15 and j0 + 16 .. j0 + 31 */
} dx_sink;

LCT__AMX_TARGET static inline void add_lanes(const lanes16 *L, size_t t, uintptr_t off, __m512 v)
{
    if (L->m1[t]) {
        float *a = (float *)((uintptr_t)L->first + off);
        _mm512_mask_storeu_ps(a, L->m1[t], _mm512_add_ps(_mm512_maskz_loadu_ps(L->m1[t], a), v));
    }
    if (L->m2[t]) {
        float *a = (float *)((uintptr_t)L->second + off);
        _mm512_mask_storeu_ps(a, L->m2[t], _mm512_add_ps(_mm512_maskz_loadu_ps(L->m2[t], a), v));
    }
}

LCT__AMX_TARGET static void add_block(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols, const float *blk)
{
    dx_sink *d = ctx;
    const geom *g = d->g;
    (void)cols; /* the lanes' masks end at the group's last column */
    if (j0 != d->j0) {
        lanes_at(g, d->dx, d->in_size, d->ns, j0, &d->L[0]);
        lanes_at(g, d->dx, d->in_size, d->ns, j0 + 16, &d->L[1]);
        d->j0 = j0;
    }
    size_t taps = g->kh * g->kw, hw = g->h * g->w;
    /* tap by tap over the block's channels: consecutive additions go to different planes, so a load
     * does not wait for the overlapping store just before it */
    for (size_t t = 0; t < taps; t++)
        for (size_t r = i0 + (t + taps - i0 % taps) % taps; r < i0 + rows; r += taps) {
            ptrdiff_t plane = (ptrdiff_t)((r / taps) * hw);
            const float *row = blk + (r - i0) * 32;
            add_lanes(&d->L[0], t, (uintptr_t)(plane + d->L[0].tap[t]) * sizeof(float), _mm512_load_ps(row));
            add_lanes(&d->L[1], t, (uintptr_t)(plane + d->L[1].tap[t]) * sizeof(float), _mm512_load_ps(row + 16));
        }
}

/* dx of the group's ns samples (zeroed here) from dY (O × ns·N, row stride ld) and Wᵀ packed. */
static void dx_fused(const geom *g, const uint16_t *wt, const float *grads, size_t ld, float *dx, size_t in_size,
                     size_t ns, uint16_t *pack)
{
    memset(dx, 0, ns * in_size * sizeof *dx);
    lct__bf16_pack_b(0, grads, ld, g->o, ns * g->n, pack);
    dx_sink d = {.g = g, .dx = dx, .in_size = in_size, .ns = ns, .j0 = SIZE_MAX};
    lct__bf16_multiply_sink(g->k, ns * g->n, g->o, wt, pack, add_block, &d);
}

#else

static void dx_fused(const geom *g, const uint16_t *wt, const float *grads, size_t ld, float *dx, size_t in_size,
                     size_t ns, uint16_t *pack)
{
    (void)g, (void)wt, (void)grads, (void)ld, (void)dx, (void)in_size, (void)ns, (void)pack;
}

static void pack_cols_b(const geom *g, const float *x, size_t in_size, size_t ns, uint16_t *dst)
{
    (void)g, (void)x, (void)in_size, (void)ns, (void)dst;
}

static void pack_cols_a(const geom *g, const float *x, size_t in_size, size_t ns, uint16_t *dst)
{
    (void)g, (void)x, (void)in_size, (void)ns, (void)dst;
}

#endif

/* y[q] = bias + Σ_r w[r]·col[r][q] for one output channel, 16 outputs at a time in one register. */
LCT__VEC static void small_fwd(const float *w, float bias, const float *col, size_t ld, size_t k, size_t n, float *y)
{
    size_t q = 0;
    for (; q + 16 <= n; q += 16) {
        lct__v16 acc = {0}, c;
        acc += bias;
        for (size_t r = 0; r < k; r++) {
            LCT__LOAD(c, col + r * ld + q);
            acc += w[r] * c;
        }
        LCT__STORE(y + q, acc);
    }
    for (; q < n; q++) {
        float acc = bias;
        for (size_t r = 0; r < k; r++) acc += w[r] * col[r * ld + q];
        y[q] = acc;
    }
}

/* dw[r] (+)= Σ_q dy[q]·col[r][q] for one output channel, 16 fixed lanes per dot product; all k ≤ SMALL_K
 * rows at once, so each 16 values of dy are loaded once. */
LCT__VEC static void small_dw(const float *dy, const float *col, size_t ld, size_t k, size_t n, float *dw, int first)
{
    lct__v16 a[SMALL_K];
    float s[SMALL_K];
#pragma GCC unroll 16
    for (size_t r = 0; r < SMALL_K; r++) {
        a[r] = (lct__v16){0};
        s[r] = 0.0f;
    }
    size_t q = 0;
    for (; q + 16 <= n; q += 16) {
        lct__v16 u, v;
        LCT__LOAD(u, dy + q);
#pragma GCC unroll 16
        for (size_t r = 0; r < SMALL_K; r++)
            if (r < k) {
                LCT__LOAD(v, col + r * ld + q);
                a[r] += u * v;
            }
    }
    for (; q < n; q++)
        for (size_t r = 0; r < k; r++) s[r] += dy[q] * col[r * ld + q];
    for (size_t r = 0; r < k; r++) {
        float t = s[r];
        for (int j = 0; j < 16; j++) t += a[r][j];
        dw[r] = first ? t : dw[r] + t;
    }
}

/* One group of a chunk: n samples from b (the chunk starts at b0), ld = n·N columns, output stride lo. */
typedef struct group {
    size_t b, b0, n, ld, lo;
} group;

/* The tasks t0..t1 of a pass: each walks the groups of its chunks with its own scratch (columns and
 * outputs stay in its cache); with parts set, the partial dW and db are the chunk's. */
static void each_group(const conv_job *job, size_t t0, size_t t1, int parts,
                       void (*run)(const conv_job *job, scratch *sc, const group *gr))
{
    const geom *g = job->g;
    size_t nch = job->nch, gs = job->gs, nt = job->nt, batch = job->p->batch;
    for (size_t t = t0; t < t1; t++) {
        scratch sc = scratch_of(g, gs, job->l->ws, t);
        for (size_t c = nch * t / nt; c < nch * (t + 1) / nt; c++) {
            if (parts) {
                scratch part = scratch_of(g, gs, job->l->ws, c);
                sc.dw = part.dw;
                sc.db = part.db;
            }
            size_t b0 = batch * c / nch, b1 = batch * (c + 1) / nch;
            for (size_t b = b0; b < b1; b += gs) {
                size_t n = b + gs <= b1 ? gs : b1 - b;
                group gr = {b, b0, n, n * g->n, out_ld(g, n * g->n)};
                run(job, &sc, &gr);
            }
        }
    }
}

/* After output plane o of sample b is made: the partial statistics of a train-mode batch norm next, and
 * the pool's choice of a fused one (lct__bn_pool_plane), while the plane is in cache. */
static inline void plane_made(const conv_job *job, size_t b, size_t o, const float *plane)
{
    const lct__layer *l = job->l;
    if (l->stats_out) lct__bn_partial(plane, job->g->n, l->stats_out + (b * job->g->o + o) * 3);
    if (l->fused_bn) lct__bn_pool_plane(l->fused_bn, job->p, b, o, plane);
}

/* One sample, straight into its output. */
static void forward_one(const conv_job *job, scratch *sc, size_t b)
{
    const lct__layer *l = job->l;
    const geom g = *job->g;
    const float *xb = job->x + b * l->in_size, *w = l->value[0], *bias = l->has_bias ? l->value[1] : NULL;
    float *yb = job->y + b * l->out_size;
    int dir = direct(&g), fz = fused(&g);
    if (!dir && !fz) im2col(&g, xb, sc->col, g.n);
    if (g.k <= SMALL_K) {
        for (size_t o = 0; o < g.o; o++) {
            /* before a fused batch norm the plane stays on the stack: backward recomputes it */
            float plane[LCT__FUSE_PLANE] __attribute__((aligned(64)));
            float *yo = l->fused_bn ? plane : yb + o * g.n;
            small_fwd(w + o * g.k, bias ? bias[o] : 0.0f, dir ? xb : sc->col, g.n, g.k, g.n, yo);
            plane_made(job, b, o, yo);
        }
        return;
    }
    if (bias)
        for (size_t o = 0; o < g.o; o++) fill(yb + o * g.n, bias[o], g.n);
    if (fz) {
        pack_cols_b(&g, xb, l->in_size, 1, sc->pack);
        lct__bf16_multiply(g.o, g.n, g.k, job->wp, sc->pack, bias != NULL, yb, g.n);
    } else {
        gemm(job->p, &g, sc, 0, 0, g.o, g.n, g.k, w, g.k, job->wp, dir ? xb : sc->col, g.n, bias != NULL, yb, g.n);
    }
    for (size_t o = 0; o < g.o; o++) plane_made(job, b, o, yb + o * g.n);
}

static void forward_group(const conv_job *job, scratch *sc, const group *gr)
{
    if (gr->n == 1) {
        forward_one(job, sc, gr->b);
        return;
    }
    const lct__layer *l = job->l;
    const geom g = *job->g;
    const float *xb = job->x + gr->b * l->in_size, *bias = l->has_bias ? l->value[1] : NULL;
    size_t n = gr->n, ld = gr->ld, lo = gr->lo;
    if (fused(&g)) {
        pack_cols_b(&g, xb, l->in_size, n, sc->pack);
        lct__bf16_multiply(g.o, ld, g.k, job->wp, sc->pack, 0, sc->out, lo);
    } else {
        group_cols(&g, xb, l->in_size, n, direct(&g), sc->col, ld);
        gemm(job->p, &g, sc, 0, 0, g.o, ld, g.k, l->value[0], g.k, job->wp, sc->col, ld, 0, sc->out, lo);
    }
    for (size_t s = 0; s < n; s++)
        for (size_t o = 0; o < g.o; o++) {
            float *dst = job->y + (gr->b + s) * l->out_size + o * g.n;
            const float *src = sc->out + o * lo + s * g.n;
            if (bias) add_bias(dst, src, bias[o], g.n);
            else memcpy(dst, src, g.n * sizeof(float));
            plane_made(job, gr->b + s, o, dst);
        }
}

static void forward_tasks(void *ctx, size_t t0, size_t t1, size_t slot)
{
    (void)slot;
    each_group(ctx, t0, t1, 0, forward_group);
}

void lct__conv_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    geom g = geometry(l);
    uint16_t *wp = g.bf16 ? (uint16_t *)l->ws : NULL;
    if (wp) lct__bf16_pack_a(0, l->value[0], g.k, g.o, g.k, wp);
    conv_job job = job_of(l, p, &g, wp);
    job.x = x;
    job.y = y;
    lct__parallel_tasks(p->rt, (int)job.nt, forward_tasks, &job);
}

/* Add the chunks' partial dW and db to the gradients, chunk 0 first: each element sees the same
 * order of additions for any thread count. Slices of the weights go to the threads. The GEMM path's
 * partials are dWᵀ (K × O), the small kernels' dW (O × K). */
#define SLICE 4096

static void sum_slices(void *ctx, size_t t0, size_t t1, size_t slot)
{
    (void)slot;
    const conv_job *job = ctx;
    const geom *g = job->g;
    size_t gs = job->gs, nch = job->nch;
    const lct__layer *l = job->l;
    size_t nw = g->o * g->k, slice = SLICE;
    int tr = g->k > SMALL_K;
    float *gw = l->grad[0];
    for (size_t t = t0; t < t1; t++) {
        size_t i0 = t * slice, i1 = i0 + slice < nw ? i0 + slice : nw;
        for (size_t c = 0; c < nch; c++) {
            const float *dw = scratch_of(g, gs, l->ws, c).dw;
            if (tr)
                for (size_t i = i0, o = i0 / g->k, r = i0 % g->k; i < i1; i++) {
                    gw[i] += dw[r * g->o + o];
                    if (++r == g->k) r = 0, o++;
                }
            else
                for (size_t i = i0; i < i1; i++) gw[i] += dw[i];
        }
    }
}

static void sum_chunks(conv_job *job)
{
    const geom *g = job->g;
    size_t gs = job->gs, nch = job->nch, nw = g->o * g->k;
    const lct__layer *l = job->l;
    const lct__pass *p = job->p;
    lct__parallel(p->rt, nw * nch > LCT__PAR_MIN ? p->threads : 1, (nw + SLICE - 1) / SLICE, 1, sum_slices, job);
    if (l->has_bias) {
        float *gb = l->grad[1];
        for (size_t c = 0; c < nch; c++) {
            const float *db = scratch_of(g, gs, l->ws, c).db;
            for (size_t o = 0; o < g->o; o++) gb[o] += db[o];
        }
    }
}

/* The group's columns and output gradients (dY, one row per output channel, ld wide) for the products
 * of backward. dy is the pooled gradient of a fused batch norm whose dx this makes plane by plane, in
 * cache, recomputing a plane that was never stored (lct__conv_recomputes). */
static void backward_operands(const conv_job *job, scratch *sc, const group *gr, const float **cols,
                              const float **grads)
{
    const lct__layer *l = job->l, *from = l->fused_bn;
    const geom g = *job->g;
    const float *xb = job->x + gr->b * l->in_size, *dy = job->dy;
    int dir = direct(&g), fz = fused(&g);
    if (gr->n > 1) {
        if (!fz) group_cols(&g, xb, l->in_size, gr->n, dir, sc->col, gr->ld);
        for (size_t s = 0; s < gr->n; s++)
            for (size_t o = 0; o < g.o; o++) {
                float *dst = sc->out + o * gr->ld + s * g.n;
                if (from) lct__bn_dx_plane(from, job->p, dy, gr->b + s, o, NULL, dst);
                else memcpy(dst, dy + (gr->b + s) * l->out_size + o * g.n, g.n * sizeof(float));
            }
        *cols = sc->col;
        *grads = sc->out;
        return;
    }
    if (!dir && !fz) im2col(&g, xb, sc->col, g.n);
    *cols = dir ? xb : sc->col;
    *grads = dy + gr->b * l->out_size;
    if (!from) return;
    for (size_t o = 0; o < g.o; o++) {
        if (g.k > SMALL_K) {
            lct__bn_dx_plane(from, job->p, dy, gr->b, o, NULL, sc->out + o * g.n);
            continue;
        }
        float plane[LCT__FUSE_PLANE] __attribute__((aligned(64)));
        small_fwd(l->value[0] + o * g.k, l->has_bias ? l->value[1][o] : 0.0f, *cols, g.n, g.k, g.n, plane);
        lct__bn_dx_plane(from, job->p, dy, gr->b, o, plane, sc->out + o * g.n);
    }
    *grads = sc->out;
}

/* The chunk's partial dW = Σ dY colᵀ and db = Σ dY (the chunk's first group overwrites them). */
static void backward_params(const conv_job *job, scratch *sc, const group *gr, const float *cols,
                            const float *grads)
{
    const lct__layer *l = job->l;
    const geom g = *job->g;
    size_t ld = gr->ld;
    int first = gr->b == gr->b0;
    if (g.k <= SMALL_K)
        for (size_t o = 0; o < g.o; o++) small_dw(grads + o * ld, cols, ld, g.k, ld, sc->dw + o * g.k, first);
    else if (fused(&g)) { /* the columns packed straight from the images */
        uint16_t *bp = sc->pack + lct__bf16_packed(g.k, ld);
        pack_cols_a(&g, job->x + gr->b * l->in_size, l->in_size, gr->n, sc->pack);
        lct__bf16_pack_b(1, grads, ld, ld, g.o, bp);
        lct__bf16_multiply(g.k, g.o, ld, sc->pack, bp, !first, sc->dw, g.o);
    } else /* as dWᵀ = col · dYᵀ (K × O): BLIS runs this shape faster than dY · colᵀ */
        gemm(job->p, &g, sc, 0, 1, g.k, g.o, ld, cols, ld, NULL, grads, ld, !first, sc->dw, g.o);
    if (l->has_bias)
        for (size_t o = 0; o < g.o; o++) {
            float sum = lct__sum_lanes(grads + o * ld, ld);
            sc->db[o] = first ? sum : sc->db[o] + sum;
        }
}

/* dx of the group's samples from dY. */
static void backward_dx(const conv_job *job, scratch *sc, const group *gr, const float *grads)
{
    const lct__layer *l = job->l;
    const geom g = *job->g;
    const float *w = l->value[0];
    size_t in_size = l->in_size, ld = gr->ld, lo = gr->lo;
    float *dx = job->dx + gr->b * in_size;
    int dir = direct(&g);
    if (dir && gr->n == 1) {
        gemm(job->p, &g, sc, 1, 0, g.k, g.n, g.o, w, g.k, job->wp, grads, g.n, 0, dx, g.n);
        return;
    }
    if (fused(&g)) {
        dx_fused(&g, job->wp, grads, ld, dx, in_size, gr->n, sc->pack);
        return;
    }
    /* the column buffer is free again once dW is done: dcol = Wᵀ dY */
    gemm(job->p, &g, sc, 1, 0, g.k, ld, g.o, w, g.k, job->wp, grads, ld, 0, sc->col, lo);
    for (size_t s = 0; s < gr->n; s++) {
        float *dxb = dx + s * in_size;
        if (dir) {
            for (size_t r = 0; r < g.k; r++) memcpy(dxb + r * g.n, sc->col + r * lo + s * g.n, g.n * sizeof(float));
        } else {
            memset(dxb, 0, in_size * sizeof *dxb);
            col2im(&g, sc->col + s * g.n, lo, dxb);
        }
    }
}

static void backward_group(const conv_job *job, scratch *sc, const group *gr)
{
    const float *cols, *grads;
    backward_operands(job, sc, gr, &cols, &grads);
    backward_params(job, sc, gr, cols, grads);
    if (job->dx) backward_dx(job, sc, gr, grads);
}

static void backward_tasks(void *ctx, size_t t0, size_t t1, size_t slot)
{
    (void)slot;
    each_group(ctx, t0, t1, 1, backward_group);
}

void lct__conv_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                        float *dx)
{
    (void)y;
    geom g = geometry(l);
    uint16_t *wp = g.bf16 && dx ? (uint16_t *)l->ws : NULL;
    if (wp) lct__bf16_pack_a(1, l->value[0], g.k, g.k, g.o, wp);
    conv_job job = job_of(l, p, &g, wp);
    job.x = x;
    job.dy = dy;
    job.dx = dx;
    lct__parallel_tasks(p->rt, (int)job.nt, backward_tasks, &job);
    sum_chunks(&job);
}

int lct__conv_spec(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s %u k%u s%u p%u%s", lct__layer_kind_name(l->kind), l->units, l->kernel, l->stride,
                    l->padding, l->has_bias ? "" : " nobias");
}

const lct__layer_ops lct__conv2d_ops = {lct__conv_init, lct__dense_tensors, lct__conv_ws, lct__conv_forward,
                                        lct__conv_backward, lct__conv_spec, 1};
