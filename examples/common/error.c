/* Thread-local error message of the example helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[512];

const char *ex_error(void)
{
    return last_message;
}

int ex_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}
