/*
 * Vector kernels against fp32 or fp16 rows: dot products, axpy, a threshold scan. CPUs at
 * LCT__SIMD_AVX2 (AVX2, FMA, F16C) take the vector paths, every other CPU the portable ones; both
 * sum in a fixed order of their own.
 */
#include <math.h>

#include "internal.h"

#if LCT__X86
#  include <immintrin.h>
#endif

/* ---- portable paths ---------------------------------------------------------- */

/* Element i of an fp32 or fp16 row, as float. */
static inline float elem_f32(const float *x, size_t i)
{
    return x[i];
}

static inline float elem_f16(const uint16_t *x, size_t i)
{
    return lct__h2f(x[i]);
}

/* One dot product per storage type: eight partial sums in a fixed order. */
#define LCT__DOT_GENERIC(name, type, elem)                                                   \
    static float name(const float *a, const type *b, size_t n)                              \
    {                                                                                         \
        float s[8] = {0};                                                                     \
        size_t i = 0;                                                                         \
        for (; i + 8 <= n; i += 8)                                                            \
            for (int j = 0; j < 8; j++) s[j] += a[i + j] * elem(b, i + j);                    \
        for (; i < n; i++) s[0] += a[i] * elem(b, i);                                         \
        return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));             \
    }
LCT__DOT_GENERIC(dot_f32_generic, float, elem_f32)
LCT__DOT_GENERIC(dot_f16_generic, uint16_t, elem_f16)

#if LCT__X86
#  define LCT__AVX LCT__TARGET_AVX2

LCT__AVX static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

LCT__AVX static inline __m256 load8_f32(const float *x)
{
    return _mm256_loadu_ps(x);
}

LCT__AVX static inline __m256 load8_f16(const uint16_t *h)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h));
}

/* Dot product and axpy per storage type: four accumulators of eight lanes, summed in a fixed order. */
#define LCT__AVX_KERNELS(suffix, type, load8, elem)                                                         \
    LCT__AVX static float dot_##suffix##_avx(const float *a, const type *b, size_t n)                       \
    {                                                                                                        \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 32 <= n; i += 32) {                                                                       \
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b + i), s0);                                  \
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8(b + i + 8), s1);                          \
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), load8(b + i + 16), s2);                        \
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), load8(b + i + 24), s3);                        \
        }                                                                                                    \
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b + i), s0);          \
        float r = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));                      \
        for (; i < n; i++) r += a[i] * elem(b, i);                                                           \
        return r;                                                                                            \
    }                                                                                                        \
    LCT__AVX static void axpy_##suffix##_avx(float a, const type *x, float *y, size_t n)                    \
    {                                                                                                        \
        __m256 va = _mm256_set1_ps(a);                                                                       \
        size_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8(x + i), _mm256_loadu_ps(y + i))); \
        for (; i < n; i++) y[i] = fmaf(a, elem(x, i), y[i]);                                                 \
    }
LCT__AVX_KERNELS(f32, float, load8_f32, elem_f32)
LCT__AVX_KERNELS(f16, uint16_t, load8_f16, elem_f16)
#endif

static void axpy_f32_generic(float a, const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

static void axpy_f16_generic(float a, const uint16_t *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = fmaf(a, lct__h2f(x[i]), y[i]);
}

float lct__dot_f32(const float *a, const float *b, size_t n) { return LCT__SIMD_PICK(dot_f32)(a, b, n); }
float lct__dot_f16(const float *a, const uint16_t *h, size_t n) { return LCT__SIMD_PICK(dot_f16)(a, h, n); }
void lct__axpy_f32(float a, const float *x, float *y, size_t n) { LCT__SIMD_PICK(axpy_f32)(a, x, y, n); }
void lct__axpy_f16(float a, const uint16_t *x, float *y, size_t n) { LCT__SIMD_PICK(axpy_f16)(a, x, y, n); }

#if LCT__X86
LCT__AVX static size_t scan_greater_avx(const float *s, size_t n, float thr, uint32_t *pos)
{
    size_t cnt = 0, i = 0;
    __m256 t = _mm256_set1_ps(thr);
    for (; i + 32 <= n; i += 32) {
        __m256 a = _mm256_loadu_ps(s + i), b = _mm256_loadu_ps(s + i + 8);
        __m256 c = _mm256_loadu_ps(s + i + 16), e = _mm256_loadu_ps(s + i + 24);
        __m256 any = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(a, t, _CMP_GT_OQ), _mm256_cmp_ps(b, t, _CMP_GT_OQ)),
                                  _mm256_or_ps(_mm256_cmp_ps(c, t, _CMP_GT_OQ), _mm256_cmp_ps(e, t, _CMP_GT_OQ)));
        if (_mm256_movemask_ps(any) == 0) continue; /* the common case once the threshold has settled */
        /* Positions from the lane masks, without a branch per element. */
        uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a, t, _CMP_GT_OQ)) |
                        (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(b, t, _CMP_GT_OQ)) << 8 |
                        (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(c, t, _CMP_GT_OQ)) << 16 |
                        (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(e, t, _CMP_GT_OQ)) << 24;
        while (mask) {
            pos[cnt++] = (uint32_t)(i + (size_t)__builtin_ctz(mask));
            mask &= mask - 1;
        }
    }
    for (; i < n; i++)
        if (s[i] > thr) pos[cnt++] = (uint32_t)i;
    return cnt;
}
#endif

static size_t scan_greater_generic(const float *s, size_t n, float thr, uint32_t *pos)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] > thr) pos[cnt++] = (uint32_t)i;
    return cnt;
}

size_t lct__scan_greater(const float *s, size_t n, float thr, uint32_t *pos)
{
    return LCT__SIMD_PICK(scan_greater)(s, n, thr, pos);
}
