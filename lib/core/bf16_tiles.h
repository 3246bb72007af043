/*
 * Packed bf16 operands of the AMX tile products (lct__gemm_bf16 and its pieces in gemm_bf16.c), for
 * the files that build such operands themselves (e.g. straight from an image, without im2col).
 *
 * Both operands are rounded to bf16 (nearest even) while they are packed, in blocks of 32 rows
 * (of op(A)) or columns (of op(B)) and chunks of 32 along k, 1024 values (2 KB, two tiles) each; a
 * block holds its chunks in order of k, and the blocks follow one another:
 *   A (m × k): tile h of a chunk holds rows 16h .. 16h + 15 of the block, row-major, 32 values of k each;
 *   B (k × n): tile h of a chunk holds columns 16h .. 16h + 15, in the pair-interleaved layout the tile
 *     multiply reads: line t holds (k = 2t, 2t + 1) of each of the 16 columns.
 * Padding rows, columns and coordinates are zero.
 *
 * Only for x86-64 sources compiled with LCT__AMX, inside functions marked LCT__AMX_TARGET.
 */
#ifndef LCT_CORE_BF16_TILES_H
#define LCT_CORE_BF16_TILES_H

#include "internal.h"

#if LCT__AMX

#include <immintrin.h>

/* 32 floats (lo, then hi) to bf16 as lct__to_bf16 does (one AVX512-BF16 conversion: nearest even,
 * subnormals to zero). */
LCT__AMX_TARGET static inline __m512i lct__bf16x32(__m512 lo, __m512 hi)
{
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* The first min(left, 16) lanes. */
static inline __mmask16 lct__mask16(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* 16 floats from each of two rows as 16 words (bf16(a[j]), bf16(b[j])): line t of a B tile from rows
 * k = 2t, 2t + 1. One conversion of both, then one word shuffle. */
LCT__AMX_TARGET static inline __m512i lct__bf16_pair(__m512 a, __m512 b)
{
    static const uint16_t zip[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                     8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(zip), (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

#endif /* LCT__AMX */

/* uint16 values of a packed operand with `rows` rows of op(A) (or columns of op(B)) and k coordinates. */
static inline size_t lct__bf16_packed(size_t rows, size_t k)
{
    return ((rows + 31) / 32) * ((k + 31) / 32) * 1024;
}

/* Pack all of op(A) (m × k) or op(B) (k × n) on this thread, as described above. */
void lct__bf16_pack_a(int ta, const float *a, size_t lda, size_t m, size_t k, uint16_t *dst);
void lct__bf16_pack_b(int tb, const float *b, size_t ldb, size_t k, size_t n, uint16_t *dst);
/* C (m × n, ldc) = A B (beta 0) or C + A B (beta 1) from packed operands, on this thread. Only after
 * lct__amx_ready(). */
void lct__bf16_multiply(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, int beta, float *c,
                        size_t ldc);
/* Receives one 32 × 32 block of C: rows i0 .. i0 + rows − 1 and columns j0 .. j0 + cols − 1 of the
 * product, at blk[(i − i0)·32 + (j − j0)] (the rest of blk is to be ignored). */
typedef void (*lct__bf16_sink)(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols, const float *blk);
/* As lct__bf16_multiply with beta 0, but each block of C goes to sink(ctx, ...) instead of memory, column
 * block by column block (each with its row blocks in order), on this thread. */
void lct__bf16_multiply_sink(size_t m, size_t n, size_t k, const uint16_t *ap, const uint16_t *bp, lct__bf16_sink sink,
                             void *ctx);

/* W (out × in, row-major) packed from one pass over it, with `threads`: if fwd is set, into fwd
 * (lct__bf16_packed(out, in) values) as the B operand of x Wᵀ; if bwd is set, into bwd
 * (lct__bf16_packed(in, out) values) as that of dy W. Both 64-byte aligned. */
void lct__bf16_pack_w(lct_runtime *rt, int threads, const float *w, size_t out, size_t in, uint16_t *fwd,
                      uint16_t *bwd);
/* C = op(A) B, plus bias (n values, or NULL) in every row, with B already packed at bp; otherwise as
 * lct__gemm_bf16, whose ws it takes (only its A part is used). The bias seeds the tiles: C is written
 * once, never read. */
void lct__gemm_bf16_pb(lct_runtime *rt, int threads, int ta, size_t m, size_t n, size_t k, const float *a,
                       size_t lda, const uint16_t *bp, const float *bias, float *c, size_t ldc, void *ws);

#endif
