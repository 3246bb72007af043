/* lct__test_control: the settings the test suites change, kept in one place (see internal.h). */
#include <stdarg.h>

#include "internal.h"
#include "pool.h"

static int amx_off;
static int knn_amx = -1;
static size_t infonce_block = (size_t)1 << 22;
static int gemm_blis;

int lct__test_gemm_blis(void)
{
    return gemm_blis;
}

long long lct__test_control(int op, ...)
{
    va_list ap;
    va_start(ap, op);
    long long old = -1;
    switch (op) {
    case LCT__TESTCTRL_SIMD_GENERIC: {
        old = lct__simd_level() == LCT__SIMD_GENERIC;
        int on = va_arg(ap, int);
        if (on) lct__simd_cached = LCT__SIMD_GENERIC;
        else lct__simd_detect();
        break;
    }
    case LCT__TESTCTRL_AMX_OFF:
        old = amx_off;
        amx_off = va_arg(ap, int) != 0;
        break;
    case LCT__TESTCTRL_KNN_AMX:
        old = knn_amx;
        knn_amx = va_arg(ap, int);
        break;
    case LCT__TESTCTRL_INFONCE_BLOCK: {
        old = (long long)infonce_block;
        size_t floats = va_arg(ap, size_t);
        infonce_block = floats ? floats : (size_t)1 << 22;
        break;
    }
    case LCT__TESTCTRL_GEMM_BLIS:
        old = gemm_blis;
        gemm_blis = va_arg(ap, int) != 0;
        break;
    case LCT__TESTCTRL_SCRATCH_BLOCKS: old = (long long)lct__scratch_blocks(va_arg(ap, lct_runtime *)); break;
    case LCT__TESTCTRL_POOL_PAUSES:
        old = (long long)lct__threads_pauses(lct__runtime_pool(va_arg(ap, lct_runtime *)));
        break;
    case LCT__TESTCTRL_GET_AMX_OFF: old = amx_off; break;
    case LCT__TESTCTRL_GET_KNN_AMX: old = knn_amx; break;
    case LCT__TESTCTRL_GET_INFONCE_BLOCK: old = (long long)infonce_block; break;
    default: break;
    }
    va_end(ap);
    return old;
}
