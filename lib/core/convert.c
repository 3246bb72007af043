/*
 * Number conversions between fp32 and the 16-bit formats: fp16 (IEEE half) and bf16. The scalar
 * forms round exactly like the instructions (F16C, AVX512-BF16), so every path gives the same bits.
 */
#include "internal.h"

#if LCT__X86
#  include <immintrin.h>
#endif

/* ---- fp16 ------------------------------------------------------------------------ */

float lct__h2f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* zero or subnormal: exact in fp32 */
        memcpy(&x, &v, sizeof x);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0); /* Inf, or a quiet NaN */
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t lct__f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* quiet NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                        /* rounds past 65504 */
    if (ax < 0x38800000u) {                                                            /* half subnormal */
        if (ax <= 0x33000000u) return sign; /* at most half the smallest subnormal: ties to even = 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        unsigned shift = 126u - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++; /* a carry moves into the exponent, as it should */
    return (uint16_t)(sign | r);
}

#if LCT__X86
LCT__TARGET_AVX2 static void h2f_avx(const uint16_t *h, float *f, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i))));
    for (; i < n; i++) f[i] = lct__h2f(h[i]);
}

LCT__TARGET_AVX2 static void f2h_avx(const float *f, uint16_t *h, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = lct__f2h(f[i]);
}
#endif

static void h2f_generic(const uint16_t *h, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) f[i] = lct__h2f(h[i]);
}

static void f2h_generic(const float *f, uint16_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) h[i] = lct__f2h(f[i]);
}

void lct__half_to_float(const uint16_t *h, float *f, size_t n) { LCT__SIMD_PICK(h2f)(h, f, n); }
void lct__float_to_half(const float *f, uint16_t *h, size_t n) { LCT__SIMD_PICK(f2h)(f, h, n); }

/* ---- bf16 ------------------------------------------------------------------------ */

uint16_t lct__to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u); /* zero or subnormal: ±0 */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN, made quiet */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
