/* PNG encoder (RGB8, deflate via zlib) and atomic file write. */
#include "png.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append one chunk at p: length, type, data, CRC-32 of type + data. Returns the bytes written. */
static size_t put_chunk(uint8_t *p, const char type[4], const uint8_t *data, uint32_t len)
{
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, 4);
    /* crc32 takes a uInt length: feed large chunks piecewise. */
    for (size_t off = 0; off < len;) {
        size_t step = len - off < (size_t)1 << 30 ? len - off : (size_t)1 << 30;
        crc = crc32(crc, p + 8 + off, (uInt)step);
        off += step;
    }
    put_be32(p + 8 + len, (uint32_t)crc);
    return (size_t)len + 12;
}

int rgb_encode_png(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t **out, size_t *out_size)
{
    if (!out || !out_size) return ex_fail(LCT_EINVAL, "rgb_encode_png: '%s' is NULL", out ? "out_size" : "out");
    *out = NULL;
    *out_size = 0;
    if (!rgb) return ex_fail(LCT_EINVAL, "rgb_encode_png: 'rgb' is NULL");
    if (width == 0 || width > 0x7fffffffu)
        return ex_fail(LCT_EINVAL, "rgb_encode_png: width is %u (1..2147483647)", width);
    if (height == 0 || height > 0x7fffffffu)
        return ex_fail(LCT_EINVAL, "rgb_encode_png: height is %u (1..2147483647)", height);
    size_t row = (size_t)width * 3 + 1;
    if (row - 1 != (size_t)width * 3 || row > (SIZE_MAX >> 2) / height)
        return ex_fail(LCT_EINVAL, "rgb_encode_png: %u x %u pixels do not fit in memory", width, height);
    size_t raw_size = row * height;
    if (raw_size > (size_t)0xffffffffu - 1024) /* compressBound and chunk lengths are 32-bit */
        return ex_fail(LCT_EINVAL, "rgb_encode_png: %u x %u pixels exceed the 4 GiB this writer supports",
                       width, height);

    uint8_t *raw = malloc(raw_size);
    uLong bound = compressBound((uLong)raw_size);
    uint8_t *z = malloc(bound);
    if (!raw || !z) {
        free(raw);
        free(z);
        return ex_fail(LCT_ENOMEM, "rgb_encode_png: cannot allocate %zu bytes", raw_size + (size_t)bound);
    }
    for (uint32_t y = 0; y < height; y++) {
        raw[y * row] = 0; /* filter type None: plots are flat colours, deflate does the rest */
        memcpy(raw + y * row + 1, rgb + (size_t)y * width * 3, (size_t)width * 3);
    }
    uLongf zlen = bound;
    int zrc = compress2(z, &zlen, raw, (uLong)raw_size, 6);
    free(raw);
    if (zrc != Z_OK) {
        free(z);
        return ex_fail(zrc == Z_MEM_ERROR ? LCT_ENOMEM : LCT_EINVAL, "rgb_encode_png: deflate failed (%d)", zrc);
    }

    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t total = 8 + (12 + 13) + (12 + (size_t)zlen) + 12;
    uint8_t *png = malloc(total);
    if (!png) {
        free(z);
        return ex_fail(LCT_ENOMEM, "rgb_encode_png: cannot allocate %zu bytes", total);
    }
    uint8_t ihdr[13];
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering (per-row filter byte) */
    ihdr[12] = 0; /* no interlace */
    size_t at = 8;
    memcpy(png, signature, 8);
    at += put_chunk(png + at, "IHDR", ihdr, 13);
    at += put_chunk(png + at, "IDAT", z, (uint32_t)zlen);
    at += put_chunk(png + at, "IEND", NULL, 0);
    free(z);
    *out = png;
    *out_size = at;
    return 0;
}

int rgb_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height)
{
    if (!path) return ex_fail(LCT_EINVAL, "rgb_write_png: 'path' is NULL");
    uint8_t *png;
    size_t size;
    int rc = rgb_encode_png(rgb, width, height, &png, &size);
    if (rc) return rc;

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) {
        free(png);
        return ex_fail(LCT_ENOMEM, "rgb_write_png: out of memory");
    }
    snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = ex_fail(LCT_EIO, "rgb_write_png: cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, png + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = ex_fail(LCT_EIO, "rgb_write_png: cannot write '%s': %s", tmp, w < 0 ? strerror(errno) : "no space");
            break;
        }
        done += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = ex_fail(LCT_EIO, "rgb_write_png: cannot sync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = ex_fail(LCT_EIO, "rgb_write_png: cannot close '%s': %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ex_fail(LCT_EIO, "rgb_write_png: cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
out:
    free(tmp);
    free(png);
    return rc;
}
