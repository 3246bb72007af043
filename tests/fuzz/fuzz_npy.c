/* Fuzz target for the .npy header parser: any bytes, as a whole file. Must never crash. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "checkpoint/checkpoint_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lct__npy_header h;
    if (lct__npy_parse_header(data, size, size, &h, "fuzz") != LCT_OK) return 0;
    /* An accepted header promises exactly rows*cols floats after data_offset. */
    if (h.ndim < 1 || h.ndim > 2 || h.rows == 0 || h.cols == 0) abort();
    if (h.data_offset > size || (size - h.data_offset) / 4 != h.rows * h.cols || (size - h.data_offset) % 4) abort();
    float sum = 0.0f, v;
    for (size_t i = 0; i < h.rows * h.cols; i++) {
        memcpy(&v, data + h.data_offset + 4 * i, 4);
        sum += v;
    }
    (void)sum;
    return 0;
}
