/* zlib compression of section payloads (zlib allocates through the runtime's hooks) and the CRC-32. */
#include <zlib.h>

#include "checkpoint_internal.h"

/* zlib's avail_in/avail_out are 32-bit: feed large buffers in slices. */
#define SLICE ((size_t)1 << 30)

uint32_t lct__ckpt_crc(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        uInt k = n > SLICE ? (uInt)SLICE : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size)
{
    size_t bytes;
    if (lct__mul_size(items, size, &bytes) != 0) return Z_NULL;
    return lct__hook_alloc(opaque, bytes);
}

static void zfree_hook(voidpf opaque, voidpf p)
{
    lct__hook_free(opaque, p);
}

static int grow(lct_runtime *rt, unsigned char **buf, size_t *cap, size_t used, const char *func)
{
    size_t cap2 = *cap < 4096 ? 4096 : *cap + *cap / 2;
    if (cap2 < *cap) return lct__fail(LCT_ENOMEM, func, "compressed section would exceed %zu bytes", *cap);
    unsigned char *b = lct__malloc(rt, cap2);
    if (b == NULL) return LCT_ENOMEM; /* recorded by lct__malloc */
    if (used) memcpy(b, *buf, used);
    lct__free(rt, *buf);
    *buf = b;
    *cap = cap2;
    return LCT_OK;
}

/* Run deflate on the current input until it is consumed (or the stream ends with Z_FINISH). */
static int pump(lct_runtime *rt, z_stream *zs, int flush, unsigned char **buf, size_t *cap, const char *func)
{
    for (;;) {
        if (zs->avail_out == 0) {
            size_t used = (size_t)(zs->next_out - *buf);
            int rc = grow(rt, buf, cap, used, func);
            if (rc) return rc;
            zs->next_out = *buf + used;
            size_t room = *cap - used;
            zs->avail_out = (uInt)(room > SLICE ? SLICE : room);
        }
        int z = deflate(zs, flush);
        if (z == Z_STREAM_END) return LCT_OK;
        if (z != Z_OK && z != Z_BUF_ERROR)
            return lct__fail(LCT_ENOMEM, func, "deflate failed (zlib code %d, %s)", z, zs->msg ? zs->msg : "no message");
        if (flush == Z_NO_FLUSH && zs->avail_in == 0) return LCT_OK;
        if (z == Z_BUF_ERROR && zs->avail_out != 0)
            return lct__fail(LCT_ENOMEM, func, "deflate made no progress (zlib code %d)", z);
    }
}

int lct__ckpt_deflate(lct_runtime *rt, int level, const lct__ckpt_piece *pieces, size_t n_pieces,
                      unsigned char **out, size_t *out_size, uint64_t *raw_size, const char *func)
{
    *out = NULL;
    *out_size = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n_pieces; i++) total += pieces[i].size;
    if (total > LCT__CKPT_MAX_RAW)
        return lct__fail(LCT_EINVAL, func, "section payload of %llu bytes exceeds the format's limit of %llu",
                         (unsigned long long)total, (unsigned long long)LCT__CKPT_MAX_RAW);

    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zalloc_hook;
    zs.zfree = zfree_hook;
    zs.opaque = rt;
    if (deflateInit(&zs, level) != Z_OK) return lct__fail(LCT_ENOMEM, func, "cannot initialise zlib's deflate");

    /* deflateBound is an upper bound for the whole stream: one allocation in the usual case. */
    size_t cap = (size_t)deflateBound(&zs, (uLong)total);
    unsigned char *buf = lct__malloc(rt, cap);
    int rc = buf ? LCT_OK : LCT_ENOMEM;
    zs.next_out = buf;
    zs.avail_out = (uInt)(cap > SLICE ? SLICE : cap);

    unsigned char swapped[4096];
    for (size_t i = 0; rc == LCT_OK && i < n_pieces; i++) {
        const unsigned char *src = pieces[i].data;
        size_t left = pieces[i].size;
        while (rc == LCT_OK && left > 0) {
            size_t n = left > SLICE ? SLICE : left;
            if (pieces[i].swap && !lct__host_is_le()) {
                n = n > sizeof swapped ? sizeof swapped : n;
                memcpy(swapped, src, n);
                if (pieces[i].swap == 4) lct__swap32_if_be(swapped, n / 4);
                else lct__swap16_if_be(swapped, n / 2);
                zs.next_in = swapped;
            } else {
                zs.next_in = (Bytef *)src;
            }
            zs.avail_in = (uInt)n;
            rc = pump(rt, &zs, Z_NO_FLUSH, &buf, &cap, func);
            src += n;
            left -= n;
        }
    }
    if (rc == LCT_OK) {
        zs.next_in = NULL;
        zs.avail_in = 0;
        rc = pump(rt, &zs, Z_FINISH, &buf, &cap, func);
    }
    size_t produced = buf ? (size_t)(zs.next_out - buf) : 0;
    deflateEnd(&zs);
    if (rc != LCT_OK) {
        lct__free(rt, buf);
        return rc;
    }
    /* The writer keeps the stream until it is freed: give back what deflateBound over-reserved. */
    if (produced < cap - cap / 8) {
        unsigned char *fit = lct__malloc(rt, produced ? produced : 1);
        if (fit != NULL) {
            memcpy(fit, buf, produced);
            lct__free(rt, buf);
            buf = fit;
        }
    }
    *out = buf;
    *out_size = produced;
    *raw_size = total;
    return LCT_OK;
}

int lct__ckpt_inflate(lct_runtime *rt, const unsigned char *src, size_t src_size, void *dst, size_t n,
                      int whole, const char *func)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zalloc_hook;
    zs.zfree = zfree_hook;
    zs.opaque = rt;
    if (inflateInit(&zs) != Z_OK) return lct__fail(LCT_ENOMEM, func, "cannot initialise zlib's inflate");

    unsigned char *out = dst;
    size_t in_left = src_size, out_left = n;
    zs.next_in = (Bytef *)src;
    int rc = LCT_OK, ended = 0;
    for (;;) {
        if (zs.avail_in == 0 && in_left > 0) {
            size_t k = in_left > SLICE ? SLICE : in_left;
            zs.avail_in = (uInt)k;
            in_left -= k;
        }
        if (zs.avail_out == 0 && out_left > 0) {
            size_t k = out_left > SLICE ? SLICE : out_left;
            zs.next_out = out;
            zs.avail_out = (uInt)k;
            out += k;
            out_left -= k;
        }
        if (!whole && zs.avail_out == 0 && out_left == 0) break; /* the prefix is complete */
        /* A whole stream must end exactly when the output is full: give inflate one spare byte
         * of room by probing with a 1-byte scratch once the caller's buffer is exhausted. */
        unsigned char probe;
        int probing = 0;
        if (zs.avail_out == 0 && out_left == 0) {
            zs.next_out = &probe;
            zs.avail_out = 1;
            probing = 1;
        }
        int z = inflate(&zs, Z_NO_FLUSH);
        if (probing && zs.avail_out == 0) {
            rc = lct__fail(LCT_EFORMAT, func, "section inflates to more than the %zu bytes its header states", n);
            break;
        }
        if (probing) zs.avail_out = 0;
        if (z == Z_STREAM_END) {
            ended = 1;
            break;
        }
        if (z == Z_NEED_DICT || z == Z_DATA_ERROR || z == Z_STREAM_ERROR) {
            rc = lct__fail(LCT_EFORMAT, func, "compressed data is malformed (zlib: %s)", zs.msg ? zs.msg : "error");
            break;
        }
        if (z == Z_MEM_ERROR) {
            rc = lct__fail(LCT_ENOMEM, func, "zlib's inflate ran out of memory");
            break;
        }
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) {
            rc = lct__fail(LCT_EFORMAT, func, "compressed data ends before its stream does");
            break;
        }
    }
    if (rc == LCT_OK && !whole && (zs.avail_out != 0 || out_left != 0))
        rc = lct__fail(LCT_EFORMAT, func, "compressed stream ends before %zu bytes", n);
    if (rc == LCT_OK && whole) {
        if (!ended || zs.avail_out != 0 || out_left != 0)
            rc = lct__fail(LCT_EFORMAT, func, "section inflates to %llu bytes, its header states %zu",
                           (unsigned long long)zs.total_out, n);
        else if (zs.avail_in != 0 || in_left != 0)
            rc = lct__fail(LCT_EFORMAT, func, "%zu stray bytes follow the compressed stream",
                           (size_t)zs.avail_in + in_left);
    }
    inflateEnd(&zs);
    return rc;
}
