/*
 * Internal API shared by every module. Nothing here is exported: symbols are
 * hidden by -fvisibility=hidden and the version script; names start with lct__.
 */
#ifndef LCT_INTERNAL_H
#define LCT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "libcontrast/libcontrast.h"

#if defined(__GNUC__) || defined(__clang__)
#  define LCT__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define LCT__PRINTF(f, a)
#endif

/* Alignment of every block from lct__malloc: a cache line, and enough for AVX-512. */
#define LCT__ALIGN 64

/* ---- errors -------------------------------------------------------------- */

/* Record "func: message" as the thread's last error and return status (< 0). */
int lct__fail(int status, const char *func, const char *fmt, ...) LCT__PRINTF(3, 4);
#define LCT__FAIL(status, ...) lct__fail((status), __func__, __VA_ARGS__)

/* Return LCT_EINVAL naming the argument when a required pointer is NULL. */
#define LCT__REQUIRE(ptr) \
    do { if ((ptr) == NULL) return LCT__FAIL(LCT_EINVAL, "argument '%s' is NULL", #ptr); } while (0)
/* The body of a getter: both pointers checked, then *out = value (which may read the handle). */
#define LCT__GET(handle, out, value) \
    do { LCT__REQUIRE(handle); LCT__REQUIRE(out); *(out) = (value); return LCT_OK; } while (0)
/* The body of a setter that cannot fail but for a NULL handle: handle->field = value. */
#define LCT__SET(handle, field, value) \
    do { LCT__REQUIRE(handle); (handle)->field = (value); return LCT_OK; } while (0)


/* The body of every lct_X_options_init() for option struct `type` of kind `kind` (LCT__OPT_*): the
 * defaults of the latest version as data (the version field first, then designated initialisers;
 * unnamed fields are 0), of which
 * lct__options_init copies only the bytes the caller's version defines (a caller built against an
 * older header passes a smaller struct), then stamps the version. */
#define LCT__OPTIONS_DEFAULTS(type, opts, ver, kind, ...) \
    static const type defaults_opts__ = {0, __VA_ARGS__}; \
    return lct__options_init((kind), (opts), (ver), &defaults_opts__, #opts, __func__)

/* ---- option structs --------------------------------------------------------
 * Constructors never copy the caller's struct with `o = *opts`: a caller compiled against an
 * older header passes a smaller struct. lct__options_load copies only the bytes the caller's
 * version defines over a struct already holding the defaults of the latest version.
 */
enum {
    LCT__OPT_RUNTIME,
    LCT__OPT_ENCODER,
    LCT__OPT_OPTIMIZER,
    LCT__OPT_BANK,
    LCT__OPT_BANK_UPDATE,
    LCT__OPT_AUGMENTER,
    LCT__OPT_LOSS_NCE,
    LCT__OPT_LOSS_NPSOFTMAX,
    LCT__OPT_LOSS_INVASPREAD,
    LCT__OPT_LOSS_INFONCE,
    LCT__OPT_LOSS_CMC,
    LCT__OPT_CHECKPOINT,
    LCT__OPT_COMM_OPS,
    LCT__OPT_SCHEDULER,
    LCT__OPT_REPLAY,
    LCT__OPT_NOVELTY,
    LCT__OPT_COUNT
};
#define LCT__OPTIONS_MAX_VERSIONS 8

/* Latest version of option struct `kind` (0 for an unknown kind). */
uint32_t lct__options_latest(int kind);
/* Bytes of struct `kind` that `version` defines; 0 for an unknown version. */
size_t lct__options_size(int kind, uint32_t version);
/* LCT__OPTIONS_DEFAULTS: LCT_EINVAL for a NULL opts (named `name`), LCT_EVERSION for a version the
 * library does not know, both before anything is written. */
int lct__options_init(int kind, void *opts, uint32_t version, const void *defaults, const char *name,
                      const char *func);
/* NULL src: keep dst. Else check src->version (LCT_EVERSION with a message for func) and copy
 * the bytes it defines into dst, leaving the later fields of dst (the defaults) alone. */
int lct__options_load(int kind, void *dst, const void *src, const char *func);

/* In a constructor taking `const T *opts`: fill `local` with the defaults (init_fn), load the
 * caller's struct over them, and point opts at `local`. Returns from the caller on a bad version. */
#define LCT__OPTIONS_COPY(kind, init_fn, local, opts) \
    do { \
        init_fn(&(local), lct__options_latest(kind)); \
        int rc_opts__ = lct__options_load((kind), &(local), (opts), __func__); \
        if (rc_opts__) return rc_opts__; \
        (opts) = &(local); \
    } while (0)

/* a*b into *out; returns 0 on success, -1 on overflow. */
static inline int lct__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

/* No object is larger than PTRDIFF_MAX bytes, so a caller's buffer of more elements than this
 * cannot exist: a count that asks for one is refused before any element is read or written. */
#define LCT__MAX_BYTES ((size_t)PTRDIFF_MAX)

/* 1 if count elements of elem bytes fit one caller buffer. */
static inline int lct__fits(size_t count, size_t elem)
{
    return elem == 0 || count <= LCT__MAX_BYTES / elem;
}

/* 1 if a x b elements of elem bytes fit one caller buffer. */
static inline int lct__fits2(size_t a, size_t b, size_t elem)
{
    size_t n;
    return lct__mul_size(a, b, &n) == 0 && lct__fits(n, elem);
}

/* 1 if every element is finite. */
int lct__all_finite(const float *x, size_t n);

/* ---- memory (through the runtime's hooks; counted in lct_runtime_memory) -- */

/* 64-byte aligned; NULL and LCT_ENOMEM recorded on failure or size overflow. */
void *lct__malloc(lct_runtime *rt, size_t size);
/* Zeroed count*size bytes, overflow-checked. */
void *lct__calloc(lct_runtime *rt, size_t count, size_t size);
/* Accepts NULL. */
void lct__free(lct_runtime *rt, void *p);
/* lct__free of each of the n blocks (NULL entries skipped), in order. */
void lct__free_each(lct_runtime *rt, void *const *blocks, size_t n);
/* Raw hooks, unaligned, for zlib's zalloc/zfree (still counted). */
void *lct__hook_alloc(lct_runtime *rt, size_t size);
void lct__hook_free(lct_runtime *rt, void *p);

/* ---- workspace reservation --------------------------------------------------
 * A workspace's layout is written once, as a function that takes its pieces in order, and run
 * twice (zstd's cwksp): over lct__wksp_begin(NULL) it only adds up the bytes (the size to
 * allocate); over the block (from lct__malloc, 64-byte aligned) it hands out the same pieces. Each
 * piece starts on a 64-byte boundary, so the pieces never share a cache line. */
typedef struct lct__wksp {
    unsigned char *base; /* NULL: the sizing pass */
    size_t used;         /* bytes taken so far, a multiple of 64 */
    int overflow;        /* a size did not fit size_t */
} lct__wksp;

static inline lct__wksp lct__wksp_begin(void *base)
{
    lct__wksp w = {(unsigned char *)base, 0, 0};
    return w;
}

/* The next piece of count x size bytes: a pointer into the block, NULL in the sizing pass. */
static inline void *lct__wksp_take(lct__wksp *w, size_t count, size_t size)
{
    size_t bytes;
    if (w->overflow || lct__mul_size(count, size, &bytes) || bytes > SIZE_MAX - 63 - w->used) {
        w->overflow = 1;
        return NULL;
    }
    void *p = w->base ? w->base + w->used : NULL;
    w->used += (bytes + 63) & ~(size_t)63;
    return p;
}

/* End of the sizing pass: *bytes the pieces need and 0, or *bytes 0 and 1 if a size overflowed. */
static inline int lct__wksp_size(const lct__wksp *w, size_t *bytes)
{
    *bytes = w->overflow ? 0 : w->used;
    return w->overflow;
}

/* ---- CPU features ----------------------------------------------------------
 * Portable across compilers (no __builtin_cpu_supports feature names, which differ). */
enum {
    LCT__CPU_SSE3 = 1 << 0,
    LCT__CPU_AVX = 1 << 1,     /* AVX with YMM state saved by the OS */
    LCT__CPU_FMA = 1 << 2,
    LCT__CPU_F16C = 1 << 3,
    LCT__CPU_AVX2 = 1 << 4,
    LCT__CPU_AVX512 = 1 << 5,  /* AVX-512 F, DQ, CD, BW, VL with ZMM state saved (BLIS's "skx" set) */
    LCT__CPU_AMD = 1 << 6,
    LCT__CPU_AMX = 1 << 7,     /* AMX-TILE and AMX-BF16 with tile state enabled in XCR0 (use needs lct__amx_ready) */
    LCT__CPU_FAMILY_SHIFT = 8  /* AMD family in bits 8..15 */
};
int lct__cpu_features(void);
/* 1 if `value` is a valid LCT_ISA setting (NULL, "", "native", "avx512" or "avx2"). */
int lct__cpu_isa_name_ok(const char *value);
/* 1 if this thread may execute AMX tile instructions: the CPU has them (LCT__CPU_AMX), the
 * environment does not disable them (LCT_AMX=0), and the OS granted the process the tile-data
 * state (Linux arch_prctl ARCH_REQ_XCOMP_PERM, asked once per process). 0 otherwise. */
int lct__amx_ready(void);

/* AMX tiles from the compiler (GCC 11, Clang 12 on x86-64 Linux); use them only if lct__amx_ready(). */
#if defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#  define LCT__AMX 1
#else
#  define LCT__AMX 0
#endif

/* ---- SIMD dispatch -----------------------------------------------------------
 * The one way the library picks instructions the baseline x86-64 lacks; nothing is built with -march.
 *  - Plain C loops that the compiler vectorises are marked LCT__VEC (or LCT__VEC_ISA): GCC clones
 *    them for AVX-512, AVX2 and the baseline and the loader picks the clone. No fast-math: the same
 *    IEEE operations in the same order on every clone.
 *  - Kernels written with intrinsics are compiled for their level with LCT__TARGET_AVX2 or
 *    LCT__AMX_TARGET and called only behind a run-time check of that level: lct__simd_level() >=
 *    LCT__SIMD_AVX2 (AVX2, FMA and F16C; LCT__SIMD_PICK chooses between a kernel's _avx and _generic
 *    forms), or lct__amx_ready() for tiles (LCT_AMX=0 turns those off).
 * Both checks are cached; tests lower them with lct__test_control to exercise the portable paths. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#  define LCT__VEC_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#  define LCT__VEC __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#  define LCT__VEC_ISA
#  define LCT__VEC
#endif
/* Loops that must stay loops: GCC otherwise turns short copy and fill loops into memcpy/memset
 * calls, whose fixed cost dominates runs of a few dozen bytes made hundreds of thousands of times
 * (im2col, GEMM packing). */
#if defined(__GNUC__) && !defined(__clang__)
#  define LCT__NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#  define LCT__NO_LIBCALLS
#endif
/* LCT__VEC_ISA for kernels that call static inline helpers: GCC does not inline across differing
 * optimize attributes, so those keep the file's optimisation level. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  define LCT__X86 1
#  define LCT__TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#  define LCT__X86 0
#  define LCT__TARGET_AVX2
#endif
#if LCT__AMX
#  define LCT__AMX_TARGET                                                                                 \
      __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")))
#endif
enum { LCT__SIMD_GENERIC = 0, LCT__SIMD_AVX2 = 1 };
/* The level the intrinsic kernels may use (-1 until first asked); lct__simd_level() reads it. */
extern int lct__simd_cached;
int lct__simd_detect(void);
static inline int lct__simd_level(void)
{
    int l = lct__simd_cached; /* benign race: every thread computes the same value */
    return l >= 0 ? l : lct__simd_detect();
}
/* The kernel for this CPU among name##_avx (LCT__TARGET_AVX2) and name##_generic. */
#if LCT__X86
#  define LCT__SIMD_PICK(name) (lct__simd_level() >= LCT__SIMD_AVX2 ? name##_avx : name##_generic)
#else
#  define LCT__SIMD_PICK(name) name##_generic
#endif

/* ---- test control ----------------------------------------------------------
 * The single entry through which the test suites reach into the library (SQLite's
 * sqlite3_test_control): not exported, not thread-safe, for tests only. Returns the previous value
 * of the setting (or the value asked for); -1 for an unknown op. */
enum {
    LCT__TESTCTRL_SIMD_GENERIC = 1, /* int: nonzero makes the intrinsic kernels take their portable paths */
    LCT__TESTCTRL_AMX_OFF,          /* int: nonzero makes lct__amx_ready() answer 0 (a CPU without tiles) */
    LCT__TESTCTRL_KNN_AMX,          /* int: kNN on AMX: -1 (default) when ready, 0 never, 1 whenever ready */
    LCT__TESTCTRL_INFONCE_BLOCK,    /* size_t: score floats per LCT_INFONCE_ALL chunk; 0 the default (4 Mi) */
    LCT__TESTCTRL_GET_AMX_OFF,      /* no argument: the AMX_OFF setting */
    LCT__TESTCTRL_GET_KNN_AMX,      /* no argument: the KNN_AMX setting */
    LCT__TESTCTRL_GET_INFONCE_BLOCK, /* no argument: the INFONCE_BLOCK setting (floats) */
    LCT__TESTCTRL_GEMM_BLIS,        /* int: nonzero makes every product go through bli_sgemm_ex */
    LCT__TESTCTRL_SCRATCH_BLOCKS,   /* lct_runtime *: the packing buffers it keeps (allocations) */
    LCT__TESTCTRL_POOL_PAUSES       /* lct_runtime *: how often its pool found the cores taken and paused */
};
long long lct__test_control(int op, ...);
/* The GEMM_BLIS setting. */
int lct__test_gemm_blis(void);

/* ---- number conversions (convert.c) -------------------------------------------
 * Scalar forms round exactly like the instructions: fp16 as F16C (nearest even), bf16 as
 * AVX512-BF16 (nearest even, subnormals to a signed zero, NaN made quiet). */
float lct__h2f(uint16_t h);
uint16_t lct__f2h(float f);
void lct__half_to_float(const uint16_t *h, float *f, size_t n);
void lct__float_to_half(const float *f, uint16_t *h, size_t n);
uint16_t lct__to_bf16(float x);
static inline float lct__bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- vector kernels against fp32 or fp16 rows (vec.c) ----------------------- */
float lct__dot_f32(const float *a, const float *b, size_t n);
float lct__dot_f16(const float *a, const uint16_t *h, size_t n);
/* y += a * x, x fp32 or fp16 */
void lct__axpy_f32(float a, const float *x, float *y, size_t n);
void lct__axpy_f16(float a, const uint16_t *x, float *y, size_t n);
/* Positions (ascending) of the elements of s[0..n) greater than thr into pos; returns their count. */
size_t lct__scan_greater(const float *s, size_t n, float thr, uint32_t *pos);

/* ---- bf16 products on AMX tiles (gemm_bf16.c) ------------------------------- */

/* Load the tile configuration (eight tiles of 16 rows x 64 bytes) on this thread / release it. */
void lct__amx_begin(void);
void lct__amx_end(void);
/* Bytes of packing space lct__gemm_bf16 needs for these sizes (0 without LCT__AMX). */
size_t lct__gemm_bf16_ws(size_t m, size_t n, size_t k);
/* C (m x n, ldc) = op(A) op(B) (beta 0) or C + op(A) op(B) (beta 1), both operands rounded to bf16 and
 * the products summed in fp32 on AMX tiles. op(A) is m x k, a[i*lda + p] or, with ta, a[p*lda + i];
 * op(B) is k x n, b[p*ldb + j] or, with tb, b[j*ldb + p]. ws: lct__gemm_bf16_ws(m, n, k) bytes, 64-byte
 * aligned. Only after lct__amx_ready(); identical results for any thread count. With amax set, amax[0]
 * and amax[1] receive the largest |value| of op(A) and of op(B), read while they are packed (Inf if one
 * is NaN or Inf). */
void lct__gemm_bf16(lct_runtime *rt, int threads, int ta, int tb, size_t m, size_t n, size_t k, const float *a,
                    size_t lda, const float *b, size_t ldb, int beta, float *c, size_t ldc, void *ws, float *amax);

/* ---- threads and logging -------------------------------------------------- */

/* Most threads a runtime runs (lct_runtime_options.threads, lct_scheduler.workers). */
#define LCT__MAX_THREADS 256
int lct__threads(const lct_runtime *rt);

/* ---- parallel regions (parallel.c, pool.c) ----------------------------------
 * Every parallel loop of the library runs through lct__parallel: on the host's scheduler when the
 * runtime has one, else on the runtime's own pool (workers that sleep when idle). No OpenMP. */

/* fn(ctx, begin, end, slot) over disjoint ranges that cover [0, n), each of at least `grain` items
 * but the last (grain 0 counts as 1). `slot` < max(threads, 1) names the task that runs the range:
 * no two ranges of one call with the same slot run at once, so slot-indexed scratch is safe. Ranges
 * are claimed dynamically, so which slot runs which range varies from run to run: results must not
 * depend on it. Runs inline as fn(ctx, 0, n, 0) when threads <= 1, n <= grain, inside another
 * region's task, or while the runtime's pool serves another thread. */
typedef void (*lct__range_fn)(void *ctx, size_t begin, size_t end, size_t slot);
void lct__parallel(lct_runtime *rt, int threads, size_t n, size_t grain, lct__range_fn fn, void *ctx);
/* Exactly max(threads, 1) tasks fn(ctx, t, t + 1, t), t < threads, for loops that split their work
 * by the thread count themselves (column blocks per thread, a reduction per thread). Inline as above,
 * where the tasks then run one after another on the caller. */
void lct__parallel_tasks(lct_runtime *rt, int threads, lct__range_fn fn, void *ctx);
/* 1 while the calling thread runs a task of a parallel region. */
int lct__in_region(void);
/* The slot of the task the calling thread runs (0 outside a region). */
size_t lct__region_slot(void);
/* The host's scheduler (NULL: none) and the runtime's pool (NULL if its locks could not be made). */
const lct_scheduler *lct__runtime_scheduler(const lct_runtime *rt);
struct lct__threadpool *lct__runtime_pool(lct_runtime *rt);

/* Vectorisation hints for the compiler (-fopenmp-simd: OpenMP's simd directive only, no runtime,
 * no threads). LCT__SIMD_WITH(reduction(+ : s)) lets the loop reorder that one sum, as before. */
#define LCT__PRAGMA(x) _Pragma(#x)
#define LCT__SIMD LCT__PRAGMA(omp simd)
#define LCT__SIMD_WITH(...) LCT__PRAGMA(omp simd __VA_ARGS__)
void lct__log(lct_runtime *rt, int level, const char *fmt, ...) LCT__PRINTF(3, 4);
/* 1 if a message at `level` would reach the log hook: lets a caller skip work done only to report. */
int lct__log_enabled(const lct_runtime *rt, int level);

/* ---- GEMM: the one entry every module uses (validates before BLIS) -------- */

/* Same contract as lct_gemm(); callers inside the library use this name. */
int lct__gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
              float alpha, const float *a, size_t lda, const float *b, size_t ldb,
              float beta, float *c, size_t ldc);
/* Packing buffers the runtime keeps for its products, one per product running at once: taken for a
 * product and given back after it, grown (never shrunk, sizes rounded up to powers of two) through
 * the allocator hooks, freed by lct_runtime_free. Not counted by lct_runtime_memory. A product
 * outside a region takes buffer 0 first, one in task t of a region buffer 1 + t, so the same step
 * finds the same buffers the next time and allocates nothing; any free one else. Take returns 0 if
 * no buffer of `bytes` can be had (the caller then multiplies without one). */
#define LCT__SCRATCH_SLOTS 64
typedef struct lct__scratch {
    void *mem;
    int slot; /* -1: allocated for this product alone */
} lct__scratch;
int lct__scratch_take(lct_runtime *rt, size_t bytes, lct__scratch *out);
size_t lct__scratch_blocks(const lct_runtime *rt);
void lct__scratch_give(lct_runtime *rt, const lct__scratch *s);
/* As lct__gemm but always single-threaded: for use inside parallel batch loops. */
int lct__gemm1(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
               float alpha, const float *a, size_t lda, const float *b, size_t ldb,
               float beta, float *c, size_t ldc);

/* ---- random numbers --------------------------------------------------------
 * xoshiro256** seeded through splitmix64 from (seed, stream). Streams make
 * results independent of thread count: give each sample/row its own stream
 * derived from (handle stream, step, index) instead of sharing one generator.
 */
typedef struct lct__rng {
    uint64_t s[4];
} lct__rng;

void lct__rng_seed(lct__rng *r, uint64_t seed, uint64_t stream);
uint64_t lct__rng_next(lct__rng *r);
/* Uniform float in [0, 1) with 24 random bits. */
float lct__rng_uniform(lct__rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double lct__rng_uniform_d(lct__rng *r);
/* Unbiased integer in [0, n); n > 0. */
uint64_t lct__rng_below(lct__rng *r, uint64_t n);
/* Standard normal (Box-Muller, both values used in turn is NOT done: one per call). */
double lct__rng_normal(lct__rng *r);
/* Mix several words into one 64-bit value (for deriving per-sample streams). */
uint64_t lct__hash64(uint64_t a, uint64_t b);

/* A fresh stream id for a new handle: 1, 2, 3, ... in creation order per runtime. */
uint64_t lct__runtime_next_stream(lct_runtime *rt);
/* Runtime stream counter, for checkpoints (get and restore). */
uint64_t lct__runtime_stream_state(const lct_runtime *rt);
void lct__runtime_set_stream_state(lct_runtime *rt, uint64_t state);

/* ---- parameter sets (public type lct_params, see params.h) ------------------
 * Every handle with tensors (encoders, losses such as CPC's W_k) embeds a
 * struct lct_params describing them; the optimizer and checkpoints work on
 * this list only, so they need no knowledge of the owner's type.
 */
typedef struct lct__tensor {
    const char *name;   /* stable, for checkpoints and messages ("3.conv2d.weight"); owned by the owner */
    float *value;       /* count floats */
    float *grad;        /* count floats accumulated by backward passes; NULL for state tensors */
    size_t count;
    int no_decay;       /* 1: weight decay does not apply (biases, batch-norm affine) */
    /* Optional, for an owner whose backward can overwrite its gradient (a linear layer's weight): while
     * *grad_unset is set, the gradient is zero but its memory was not cleared (zeroing it only sets the
     * flag); the owner's next backward writes it instead of adding to it and clears the flag. Code
     * other than the owner reads grad only after lct__grad_settle(). */
    int *grad_unset;
    /* Optional: while *grad_finite is set, the owner vouches that grad holds no NaN or Inf (it proved
     * that its sums cannot overflow, or zeroed it), and the optimiser skips its own scan. */
    int *grad_finite;
} lct__tensor;

struct lct_params {
    lct_runtime *rt;
    lct__tensor *tensors;   /* owned by the owner handle */
    size_t n_tensors;
    uint64_t version;       /* bumped by every write of values (lct_params_set, checkpoints, broadcasts, the
                             * optimiser), so copies derived from them can tell they are stale */
};

/* Make t's gradient memory hold its value: clear it if it is zero only by its grad_unset flag. */
void lct__grad_settle(lct__tensor *t);
/* Zero every gradient of the set with `threads` (lct_params_zero_grad, lct_optimizer_zero_grad). */
void lct__params_zero_grads(lct_params *p, int threads);

#endif /* LCT_INTERNAL_H */
