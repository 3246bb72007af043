/*
 * Forced into every file of the clang fuzz build (scripts/fuzz.sh) for GCC-only builtins
 * some modules use, so that libFuzzer's instrumentation can be applied to the whole library.
 * Results only need to be right, not fast: the fuzz targets exercise the loaders.
 */
#ifndef LCT_FUZZ_CLANG_COMPAT_H
#define LCT_FUZZ_CLANG_COMPAT_H
#if defined(__clang__)
/* clang 14 knows fewer feature names ("f16c" is refused): report none, keep portable paths. */
#define __builtin_cpu_supports(feature) 0
/* GCC's two-operand vector shuffle with a mask vector, for the 4-lane vectors used here. */
#define __builtin_shuffle(a, b, m)                                                        \
    __extension__({                                                                       \
        __typeof__(a) lct_a_ = (a), lct_b_ = (b), lct_r_;                                 \
        __typeof__(m) lct_m_ = (m);                                                       \
        for (int lct_i_ = 0; lct_i_ < 4; lct_i_++)                                        \
            lct_r_[lct_i_] = (lct_m_[lct_i_] & 4) ? lct_b_[lct_m_[lct_i_] & 3]              \
                                                  : lct_a_[lct_m_[lct_i_] & 3];             \
        lct_r_;                                                                           \
    })
#endif
#endif
