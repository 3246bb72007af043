/* Status strings and the thread-local last-error message. */
#include <math.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char lct__last_error[512];

const char *lct_status_string(int status)
{
    switch (status) {
#define LCT__STATUS_CASE(name, value, message) case LCT_##name: return message;
    LCT_STATUS_MAP(LCT__STATUS_CASE)
#undef LCT__STATUS_CASE
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

int lct_error_set(int status, const char *message)
{
    char msg[sizeof lct__last_error]; /* message may be lct_error_last() itself */
    snprintf(msg, sizeof msg, "%s", message ? message : "");
    memcpy(lct__last_error, msg, sizeof msg);
    return status;
}

int lct__fail(int status, const char *func, const char *fmt, ...)
{
    /* Formatted aside first: an argument may be the last message itself (a failure wrapping another). */
    char msg[sizeof lct__last_error];
    int n = snprintf(msg, sizeof msg, "%s: ", func);
    if (n < 0 || (size_t)n >= sizeof msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    memcpy(lct__last_error, msg, sizeof msg);
    return status;
}

typedef uint32_t __attribute__((may_alias)) lct__u32a;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#endif
int lct__all_finite(const float *x, size_t n)
{
    /* NaN and Inf are the floats whose exponent bits are all set: an integer max over the exponent
     * fields finds one; it is an exact, order-free reduction, so it vectorises. */
    const lct__u32a *u = (const lct__u32a *)x;
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t e = u[i] & 0x7f800000u;
        m = e > m ? e : m;
    }
    return m != 0x7f800000u;
}
