/* Status strings and the thread-local last-error message. */
#include <math.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char lct__last_error[512];

const char *lct_status_string(int status)
{
    switch (status) {
    case LCT_OK: return "success";
    case LCT_EINVAL: return "invalid argument";
    case LCT_ENOMEM: return "out of memory";
    case LCT_ESHAPE: return "shape mismatch";
    case LCT_EIO: return "input/output error";
    case LCT_EFORMAT: return "malformed input";
    case LCT_ENUMERIC: return "non-finite value (NaN or Inf)";
    case LCT_EVERSION: return "unsupported version";
    case LCT_ESTATE: return "invalid state for this call";
    case LCT_ERANGE: return "value out of range";
    case LCT_EUNSUPPORTED: return "not supported";
    case LCT_ECHECKSUM: return "checksum mismatch";
    case LCT_EMISMATCH: return "handles do not belong together";
    default: return "unknown status";
    }
}

const char *lct_error_last(void)
{
    return lct__last_error;
}

void lct_error_clear(void)
{
    lct__last_error[0] = '\0';
}

int lct__fail(int status, const char *func, const char *fmt, ...)
{
    int n = snprintf(lct__last_error, sizeof lct__last_error, "%s: ", func);
    if (n < 0 || (size_t)n >= sizeof lct__last_error) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lct__last_error + n, sizeof lct__last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

int lct__all_finite(const float *x, size_t n)
{
    /* Sum of x*0 is NaN iff some x is NaN or Inf; branch-free so it vectorises. */
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++) acc += x[i] * 0.0f;
    return acc == 0.0f;
}
