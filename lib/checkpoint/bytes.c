/* Little-endian payload building and bounds-checked parsing, shared by every section type. */
#include "checkpoint_internal.h"

const unsigned char lct__ckpt_magic[8] = {0x89, 'L', 'C', 'T', '\r', '\n', 0x1a, '\n'};

void lct__swap32_if_be(void *data, size_t n)
{
    if (lct__host_is_le()) return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned char t0 = p[0], t1 = p[1];
        p[0] = p[3]; p[1] = p[2]; p[2] = t1; p[3] = t0;
    }
}

void lct__swap16_if_be(void *data, size_t n)
{
    if (lct__host_is_le()) return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += 2) {
        unsigned char t = p[0];
        p[0] = p[1];
        p[1] = t;
    }
}

void lct__ckpt_put_init(lct__ckpt_put *p, lct_runtime *rt)
{
    memset(p, 0, sizeof *p);
    p->rt = rt;
}

void lct__ckpt_put_free(lct__ckpt_put *p)
{
    lct__free(p->rt, p->data);
    p->data = NULL;
    p->size = p->cap = 0;
}

void lct__ckpt_put_bytes(lct__ckpt_put *p, const void *data, size_t n)
{
    if (p->failed || n == 0) return;
    if (n > SIZE_MAX / 2 - p->size) {
        p->failed = 1;
        return;
    }
    if (p->size + n > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < p->size + n) cap *= 2;
        unsigned char *grown = lct__malloc(p->rt, cap);
        if (grown == NULL) {
            p->failed = 1;
            return;
        }
        if (p->size) memcpy(grown, p->data, p->size);
        lct__free(p->rt, p->data);
        p->data = grown;
        p->cap = cap;
    }
    memcpy(p->data + p->size, data, n);
    p->size += n;
}

void lct__ckpt_put_u32(lct__ckpt_put *p, uint32_t v)
{
    unsigned char b[4];
    lct__le32_store(b, v);
    lct__ckpt_put_bytes(p, b, 4);
}

void lct__ckpt_put_u64(lct__ckpt_put *p, uint64_t v)
{
    unsigned char b[8];
    lct__le64_store(b, v);
    lct__ckpt_put_bytes(p, b, 8);
}

void lct__ckpt_put_str(lct__ckpt_put *p, const char *s, size_t n)
{
    if (n > UINT32_MAX) {
        p->failed = 1;
        return;
    }
    lct__ckpt_put_u32(p, (uint32_t)n);
    lct__ckpt_put_bytes(p, s, n);
}

int lct__ckpt_put_status(const lct__ckpt_put *p)
{
    if (p->failed) return LCT__FAIL(LCT_ENOMEM, "cannot grow a section payload beyond %zu bytes", p->size);
    return LCT_OK;
}

void lct__ckpt_get_init(lct__ckpt_get *g, const void *data, size_t size)
{
    g->data = data;
    g->size = data ? size : 0;
    g->pos = 0;
    g->failed = 0;
}

const void *lct__ckpt_get_bytes(lct__ckpt_get *g, size_t n)
{
    if (g->failed || n > g->size - g->pos) {
        g->failed = 1;
        return NULL;
    }
    const void *at = g->data + g->pos;
    g->pos += n;
    return at;
}

uint32_t lct__ckpt_get_u32(lct__ckpt_get *g)
{
    const unsigned char *b = lct__ckpt_get_bytes(g, 4);
    return b ? lct__le32_load(b) : 0;
}

uint64_t lct__ckpt_get_u64(lct__ckpt_get *g)
{
    const unsigned char *b = lct__ckpt_get_bytes(g, 8);
    return b ? lct__le64_load(b) : 0;
}

const char *lct__ckpt_get_str(lct__ckpt_get *g, size_t max, size_t *len)
{
    uint32_t n = lct__ckpt_get_u32(g);
    if (g->failed || n > max) {
        g->failed = 1;
        return NULL;
    }
    const char *s = lct__ckpt_get_bytes(g, n);
    if (s && memchr(s, '\0', n) != NULL) {
        g->failed = 1;
        return NULL;
    }
    if (s) *len = n;
    return s;
}
