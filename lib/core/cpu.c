/* CPU features usable by the library: what the CPU reports and the OS saves on context switches. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static int detect(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0, max_leaf = 0;
    int f = 0;
    if (!__get_cpuid(0, &max_leaf, &b, &c, &d)) return 0;
    if (b == 0x68747541u) f |= LCT__CPU_AMD; /* "Auth"enticAMD */
    __get_cpuid(1, &a, &b, &c, &d);
    if (f & LCT__CPU_AMD) {
        unsigned fam = (a >> 8) & 0xf;
        if (fam == 0xf) fam += (a >> 20) & 0xff;
        f |= (int)(fam & 0xff) << LCT__CPU_FAMILY_SHIFT;
    }
    if (c & 1u) f |= LCT__CPU_SSE3;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return f;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 0x6) != 0x6) return f; /* the OS does not save YMM state */
    f |= LCT__CPU_AVX;
    if ((c >> 12) & 1) f |= LCT__CPU_FMA;
    if ((c >> 29) & 1) f |= LCT__CPU_F16C;
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    if ((b >> 5) & 1) f |= LCT__CPU_AVX2;
    int all512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (all512 && (lo & 0xe0) == 0xe0) f |= LCT__CPU_AVX512; /* F, DQ, CD, BW, VL and ZMM state saved */
    /* AMX-BF16 (EDX 22) and AMX-TILE (EDX 24), XTILECFG and XTILEDATA (XCR0 bits 17, 18) enabled, and
     * AVX512-BF16 (leaf 7.1 EAX 5) for the conversions that pack the tiles' operands */
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);
    (void)b1, (void)c1, (void)d1;
    if ((f & LCT__CPU_AVX512) && ((d >> 22) & 1) && ((d >> 24) & 1) && (lo & 0x60000u) == 0x60000u &&
        ((a1 >> 5) & 1))
        f |= LCT__CPU_AMX;
    return f;
}
#else
static int detect(void)
{
    return 0;
}
#endif

/* LCT_ISA caps what the library's own dispatch uses (its BLIS kernel set, vector paths, AMX). The
 * features a setting hides, or -1 for a setting the library does not know (lct_runtime_new refuses
 * it, lct__kernels_init; here it hides nothing). */
static int isa_hides(const char *value)
{
    static const struct {
        const char *name;
        int hides;
    } caps[] = {{"", 0}, {"native", 0}, {"avx512", LCT__CPU_AMX}, {"avx2", LCT__CPU_AVX512 | LCT__CPU_AMX}};
    if (value == NULL) return 0;
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
        if (strcmp(value, caps[i].name) == 0) return caps[i].hides;
    return -1;
}

int lct__cpu_isa_name_ok(const char *value)
{
    return isa_hides(value) >= 0;
}

int lct__cpu_features(void)
{
    static int cached = -1; /* benign race: every thread computes the same value */
    if (cached < 0) {
        int hides = isa_hides(getenv("LCT_ISA"));
        cached = detect() & ~(hides > 0 ? hides : 0);
    }
    return cached;
}

/* Only a build that can emit tile instructions (LCT__AMX, which implies x86-64 Linux) asks for them:
 * elsewhere the bf16 products are compiled out, and lct__amx_ready() must say so. */
#if LCT__AMX
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux grants the AMX tile-data state (XFEATURE 18) to a process on request; until then a tile
 * instruction faults. The request fails (and AMX stays unused) if the kernel lacks support or a
 * thread's alternate signal stack is too small for the larger signal frame. */
static int request_amx(void)
{
    const char *env = getenv("LCT_AMX");
    if (env && env[0] == '0' && env[1] == '\0') return 0;
    if (!(lct__cpu_features() & LCT__CPU_AMX)) return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

int lct__amx_ready(void)
{
    static int cached = -1; /* benign race: the request is idempotent */
    if (cached < 0) cached = request_amx();
    return cached && !lct__test_control(LCT__TESTCTRL_GET_AMX_OFF);
}
#else
int lct__amx_ready(void)
{
    return 0;
}
#endif

int lct__simd_cached = -1;

int lct__simd_detect(void)
{
    const int need = LCT__CPU_AVX2 | LCT__CPU_FMA | LCT__CPU_F16C;
    int level = (lct__cpu_features() & need) == need ? LCT__SIMD_AVX2 : LCT__SIMD_GENERIC;
    lct__simd_cached = level;
    return level;
}
