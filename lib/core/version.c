#include "internal.h"

int lct_version_number(void)
{
    return LCT_VERSION_NUMBER;
}

const char *lct_version_string(void)
{
    return LCT_VERSION_STRING;
}
