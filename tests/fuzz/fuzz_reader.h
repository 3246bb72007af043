/* Reading a fuzz input as a stream of little-endian integers (fuzz_setters, fuzz_api); past its
 * end every read gives 0, so any input decodes to some sequence of calls. */
#ifndef LCT_FUZZ_READER_H
#define LCT_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static inline uint8_t u8(rd *r)
{
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}

static inline uint32_t u32(rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)u8(r) << (8 * i);
    return v;
}

static inline uint64_t u64(rd *r)
{
    return (uint64_t)u32(r) | (uint64_t)u32(r) << 32;
}

#endif
