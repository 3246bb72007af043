/* lct-bench: speed of libcontrast, side by side with its peers, in one run. */
#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

typedef struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} command;

static const command commands[] = {
    {"gemm", bench_gemm, "library GEMM entry vs BLIS's default kernels, GFLOP/s"},
    {"idle", bench_idle, "CPU an idle runtime's pool burns (getrusage), % of a core"},
#ifdef LCT_BENCH_ENCODER
    {"encoder", bench_encoder, "encoder forward+backward+SGD step vs PyTorch"},
#endif
#ifdef LCT_BENCH_BANK
    {"bank", bench_bank, "memory bank step and kNN vs PyTorch"},
#endif
#ifdef LCT_BENCH_STEP
    {"step", bench_step, "one whole training step per method vs PyTorch"},
#endif
};

static void usage(void)
{
    fprintf(stderr, "usage: lct-bench COMMAND [options] [--isa avx2|avx512|amx]\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(stderr, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(stderr, "--isa: the library and its PyTorch peer both restricted to one instruction set\n");
}

/* --isa: both sides restricted to one instruction set, through the environment that every child
 * (the library's runs and the PyTorch peers) inherits. The library: LCT_ISA caps its own dispatch,
 * BLIS_ARCH_TYPE its BLIS kernel set. PyTorch: ATen's vector kernels (ATEN_CPU_CAPABILITY), oneDNN
 * (DNNL_MAX_CPU_ISA) and the BLIS behind its BLAS (BLIS_ARCH_TYPE). */
typedef struct {
    const char *name, *lct, *aten, *dnnl;
    int blis;
} isa_limit;

static const isa_limit isas[] = {
    {"avx2", "avx2", "avx2", "AVX2", BLIS_ARCH_HASWELL},
    {"avx512", "avx512", "avx512", "AVX512_CORE_FP16", BLIS_ARCH_SKX},
    {"amx", "native", "avx512", "ALL", BLIS_ARCH_SKX},
};

/* 1 if the kernel reports AMX tiles (the bench runs on Linux). */
static int cpu_has_amx(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = strncmp(line, "flags", 5) == 0 && strstr(line, " amx_tile") != NULL;
    if (f != NULL) fclose(f);
    return found;
}

/* Applies and removes "--isa NAME" from argv; -1 on an unknown name. */
static int take_isa(int *argc, char **argv)
{
    for (int i = 1; i + 1 < *argc; i++) {
        if (strcmp(argv[i], "--isa") != 0) continue;
        const isa_limit *l = NULL;
        for (size_t k = 0; k < sizeof isas / sizeof *isas; k++)
            if (strcmp(argv[i + 1], isas[k].name) == 0) l = &isas[k];
        if (l == NULL) {
            fprintf(stderr, "lct-bench: --isa takes avx2, avx512 or amx, not '%s'\n", argv[i + 1]);
            return -1;
        }
        if (strcmp(l->name, "amx") == 0 && !cpu_has_amx()) {
            fprintf(stderr, "lct-bench: --isa amx: this CPU has no AMX tiles (amx_tile in /proc/cpuinfo)\n");
            return -1;
        }
        char blis[16];
        snprintf(blis, sizeof blis, "%d", l->blis);
        setenv("LCT_ISA", l->lct, 1);
        setenv("BLIS_ARCH_TYPE", blis, 1);
        setenv("ATEN_CPU_CAPABILITY", l->aten, 1);
        setenv("DNNL_MAX_CPU_ISA", l->dnnl, 1);
        if (strcmp(l->name, "amx") != 0) setenv("LCT_AMX", "0", 1);
        memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 1) * sizeof *argv); /* keeps argv[argc] NULL */
        *argc -= 2;
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || take_isa(&argc, argv) < 0) {
        usage();
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    usage();
    return 2;
}
