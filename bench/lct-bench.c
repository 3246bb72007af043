/* lct-bench: speed of libcontrast, side by side with its peers, in one run. */
#include <stdio.h>
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
    fprintf(stderr, "usage: lct-bench COMMAND [options]\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(stderr, "  %-8s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    usage();
    return 2;
}
