/*
 * Error reporting of the example helpers: every fallible helper returns 0 or a negative
 * lct_status code (LCT_EINVAL, LCT_ENOMEM, LCT_EIO, LCT_EFORMAT) and leaves a message for
 * ex_error(), the same model as the library itself.
 */
#ifndef LCT_EXAMPLES_ERROR_H
#define LCT_EXAMPLES_ERROR_H

#include <libcontrast/common.h>

/* Message of the last failing helper call in this thread; "" if none. Never NULL. */
const char *ex_error(void);

/* Record a printf-style message and return `code` (for the helpers' own use). */
int ex_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
