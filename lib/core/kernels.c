/*
 * BLIS kernel selection. Debian's BLIS 0.9 identifies CPUs by model number and falls back to slower
 * kernels on CPUs newer than it (e.g. "haswell" or "generic" on AVX-512 machines). libcontrast links
 * its own copy of BLIS (the single-threaded static archive, hidden inside the library), which
 * registers a context for every kernel set it was built with: the library picks the best one the CPU
 * runs and passes it to every GEMM call. Nothing process-wide changes: no environment variable is
 * written, and a BLIS the host loads keeps its own choice. A user's BLIS_ARCH_TYPE is still honoured,
 * after validation (BLIS aborts on an id it was not built with, and a set the CPU lacks would raise
 * SIGILL). Built against the system's shared BLIS (-Dblis=system), whose exports do not include the
 * context table, BLIS's own choice stands.
 */
#include <blis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "kernels.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_status = LCT_OK;
static char init_message[256];
static int source = LCT_KERNEL_BLIS;
static const char *name = "";
static cntx_t *context; /* the kernel set every GEMM call uses; NULL: BLIS's own */

/* The registered context of kernel set `id`, or NULL. */
static cntx_t *context_of(long id)
{
#ifdef LCT_BLIS_PRIVATE
    cntx_t **c = bli_gks_lookup_id((arch_t)id);
    return c ? c[BLIS_NAT] : NULL;
#else
    (void)id;
    return NULL;
#endif
}

#if LCT__X86
enum { ISA_NONE, ISA_SSE3, ISA_AVX, ISA_AVX2, ISA_AVX512 };

/* Highest vector ISA both the CPU and the OS support, and the AMD family (0 for others). */
static int cpu_isa(int *amd_family)
{
    int f = lct__cpu_features();
    *amd_family = (f & LCT__CPU_AMD) ? (f >> LCT__CPU_FAMILY_SHIFT) & 0xff : 0;
    if (f & LCT__CPU_AVX512) return ISA_AVX512;
    if ((f & LCT__CPU_AVX2) && (f & LCT__CPU_FMA)) return ISA_AVX2;
    if (f & LCT__CPU_AVX) return ISA_AVX;
    return (f & LCT__CPU_SSE3) ? ISA_SSE3 : ISA_NONE;
}

/* Kernel sets Debian's x86_64 BLIS 0.9 is built with, and the ISA each needs. */
static int arch_isa(long id)
{
    switch (id) {
    case BLIS_ARCH_SKX: return ISA_AVX512;
    case BLIS_ARCH_HASWELL: case BLIS_ARCH_ZEN3: case BLIS_ARCH_ZEN2: case BLIS_ARCH_ZEN:
    case BLIS_ARCH_EXCAVATOR: return ISA_AVX2;
    case BLIS_ARCH_STEAMROLLER: case BLIS_ARCH_PILEDRIVER: case BLIS_ARCH_SANDYBRIDGE: return ISA_AVX;
    case BLIS_ARCH_PENRYN: case BLIS_ARCH_GENERIC: return ISA_NONE;
    default: return -1;
    }
}

static long best_arch(int isa, int amd_family)
{
    if (isa >= ISA_AVX512) return BLIS_ARCH_SKX;
    if (isa >= ISA_AVX2) {
        if (amd_family >= 0x19) return BLIS_ARCH_ZEN3;
        if (amd_family == 0x17) return BLIS_ARCH_ZEN2;
        return BLIS_ARCH_HASWELL;
    }
    return -1;
}
#endif

static void init_once(void)
{
    const char *isa_env = getenv("LCT_ISA");
    if (!lct__cpu_isa_name_ok(isa_env)) {
        init_status = LCT_EINVAL;
        snprintf(init_message, sizeof init_message, "LCT_ISA='%s' is none of native, avx512, avx2", isa_env);
        return;
    }
    const char *env = getenv("BLIS_ARCH_TYPE");
    long id = -1;
#if LCT__X86
    int amd_family;
    int isa = cpu_isa(&amd_family);
    if (env != NULL && env[0] != '\0') {
        char *end;
        id = strtol(env, &end, 10);
        int need = (end != env && *end == '\0') ? arch_isa(id) : -1;
        if (need < 0) {
            init_status = LCT_EINVAL;
            snprintf(init_message, sizeof init_message,
                     "BLIS_ARCH_TYPE='%s' names no kernel set this BLIS is built with", env);
            return;
        }
        if (need > isa) {
            init_status = LCT_EUNSUPPORTED;
            snprintf(init_message, sizeof init_message,
                     "BLIS_ARCH_TYPE='%s' names a kernel set this CPU cannot run", env);
            return;
        }
        source = LCT_KERNEL_ENV;
    } else {
        id = best_arch(isa, amd_family);
    }
#else
    if (env != NULL && env[0] != '\0') source = LCT_KERNEL_ENV;
#endif
    bli_init();
    context = id >= 0 ? context_of(id) : NULL;
    if (context != NULL) {
        if (source != LCT_KERNEL_ENV) source = LCT_KERNEL_AUTO;
        name = bli_arch_string((arch_t)id);
    } else {
        if (source != LCT_KERNEL_ENV) source = LCT_KERNEL_BLIS;
        name = bli_arch_string(bli_arch_query_id());
    }
}

int lct__kernels_init(void)
{
    pthread_once(&once, init_once);
    if (init_status != LCT_OK) return lct__fail(init_status, "lct_runtime_new", "%s", init_message);
    return LCT_OK;
}

const char *lct__kernels_name(void)
{
    return name;
}

int lct__kernels_source(void)
{
    return source;
}

void *lct__kernels_context(void)
{
    return context;
}
