/* xoshiro256** with splitmix64 seeding: small, fast, and splittable by stream id. */
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t lct__hash64(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xD6E8FEB86659FD93ull);
    uint64_t h = splitmix64(&x);
    x ^= h;
    return splitmix64(&x);
}

void lct__rng_seed(lct__rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = lct__hash64(seed, stream);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1; /* all-zero state is a fixed point */
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t lct__rng_next(lct__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float lct__rng_uniform(lct__rng *r)
{
    return (float)(lct__rng_next(r) >> 40) * 0x1.0p-24f;
}

double lct__rng_uniform_d(lct__rng *r)
{
    return (double)(lct__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t lct__rng_below(lct__rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased for every n. */
    uint64_t x = lct__rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            x = lct__rng_next(r);
            m = (__uint128_t)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double lct__rng_normal(lct__rng *r)
{
    double u1 = lct__rng_uniform_d(r);
    double u2 = lct__rng_uniform_d(r);
    if (u1 < 0x1.0p-60) u1 = 0x1.0p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
