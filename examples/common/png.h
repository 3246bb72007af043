/*
 * A minimal PNG writer: 8-bit RGB, no interlace, filter type 0 on every row, one zlib (deflate)
 * IDAT chunk, CRC-32 from zlib. The file is written beside its final name and renamed into
 * place, so a reader never sees half a picture.
 */
#ifndef LCT_EXAMPLES_PNG_H
#define LCT_EXAMPLES_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Write width x height RGB pixels (rgb: height rows of width*3 bytes, top row first) to path.
 * Returns 0, or LCT_EINVAL (NULL path or rgb, a size of 0 or above 2^31-1, or too large to
 * hold in memory), LCT_ENOMEM, LCT_EIO (cannot write, sync or rename; the temporary file is
 * removed and path is left as it was).
 */
int rgb_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height);

/*
 * Encode the same PNG into a malloc'ed buffer (*out, *out_size; caller frees). Same checks and
 * codes as rgb_write_png() except LCT_EIO.
 */
int rgb_encode_png(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t **out, size_t *out_size);

#endif
