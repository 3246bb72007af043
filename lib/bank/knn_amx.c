/*
 * bf16 similarity blocks on AMX tiles for the kNN search (knn.c).
 *
 * Rows are converted once per search to bf16 in the layout the tile multiply reads for its
 * right-hand operand: groups of 16 rows, each group cut into chunks of 32 coordinates, and a
 * chunk stored as 16 lines of (row 0: coordinates 2t, 2t+1; row 1: ...; row 15: ...), 1 KB.
 * Queries are converted to plain row-major bf16 padded to 32 coordinates. One tile multiply
 * then gives a 16 × 16 block of similarities accumulated in fp32.
 *
 * These similarities are approximate (bf16 keeps 8 significant bits); knn.c uses them only to
 * discard rows that provably cannot be among the k nearest, and ranks the survivors with fp32.
 */
#include "bank_internal.h"

#if LCT__KNN_AMX

#include <immintrin.h>

#define AMX_TARGET LCT__AMX_TARGET

size_t lct__amx_dpad(size_t d)
{
    return (d + 31) / 32 * 32;
}

size_t lct__amx_npad(size_t n)
{
    return (n + 31) / 32 * 32;
}

void lct__amx_pack_rows(const float *f32, const uint16_t *f16, size_t n, size_t d, size_t g0, size_t g1,
                        uint16_t *out)
{
    size_t dp = lct__amx_dpad(d), chunks = dp / 32;
    float row[16];
    for (size_t g = g0; g < g1; g++) {
        uint16_t *blk = out + g * chunks * 512;
        memset(blk, 0, chunks * 512 * sizeof *blk);
        for (size_t r = 0; r < 16; r++) {
            size_t i = g * 16 + r;
            if (i >= n) break;
            for (size_t j0 = 0; j0 < d; j0 += 16) {
                size_t m = d - j0 < 16 ? d - j0 : 16;
                if (f32) memcpy(row, f32 + i * d + j0, m * sizeof *row);
                else lct__half_to_float(f16 + i * d + j0, row, m);
                for (size_t t = 0; t < m; t++) {
                    size_t j = j0 + t, c = j / 32, w = j % 32;
                    blk[c * 512 + (w / 2) * 32 + r * 2 + (w & 1)] = lct__to_bf16(row[t]);
                }
            }
        }
    }
}

void lct__amx_pack_queries(const float *q, size_t m, size_t d, size_t mpad, uint16_t *out)
{
    size_t dp = lct__amx_dpad(d);
    memset(out, 0, mpad * dp * sizeof *out);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++) out[i * dp + j] = lct__to_bf16(q[i * d + j]);
}

/* Tiles (lct__amx_begin) 0-3: a 32 × 32 block of similarities; 4, 5: 16 queries × 32 coordinates;
 * 6, 7: 32 coordinates × 16 rows. */
AMX_TARGET void lct__amx_sims(const uint16_t *qp, size_t mpad, const uint16_t *rp, size_t npad, size_t d,
                              float *out, size_t ldo)
{
    size_t dp = lct__amx_dpad(d), chunks = dp / 32, qs = dp * sizeof *qp, os = ldo * sizeof *out;
    for (size_t j = 0; j < npad; j += 32) {
        const uint16_t *b0 = rp + (j / 16) * chunks * 512, *b1 = b0 + chunks * 512;
        for (size_t i = 0; i < mpad; i += 32) {
            const uint16_t *a0 = qp + i * dp, *a1 = a0 + 16 * dp;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (size_t c = 0; c < chunks; c++) {
                _tile_loadd(4, a0 + c * 32, qs);
                _tile_loadd(5, a1 + c * 32, qs);
                _tile_loadd(6, b0 + c * 512, 64);
                _tile_loadd(7, b1 + c * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            float *o = out + i * ldo + j;
            _tile_stored(0, o, os);
            _tile_stored(1, o + 16, os);
            _tile_stored(2, o + 16 * ldo, os);
            _tile_stored(3, o + 16 * ldo + 16, os);
        }
    }
}

AMX_TARGET float lct__amx_dot(const float *q, const float *r32, const uint16_t *r16, size_t d)
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

#endif /* LCT__KNN_AMX */
