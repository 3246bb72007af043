/* Helpers shared by the lct-bench subcommands. */
#ifndef LCT_BENCH_UTIL_H
#define LCT_BENCH_UTIL_H

#include <libcontrast/libcontrast.h>
#include <stddef.h>

double bench_seconds(void);
/* Peak resident set size of this process in MiB. */
double bench_peak_rss_mib(void);
/* Runs `cmd` with the peer environment (fastest BLAS kernels for PyTorch), reads its stdout into buf.
 * Returns 0 on success, -1 if the command failed. */
int bench_run_capture(const char *cmd, char *buf, size_t size);
/* 1 if /usr/bin/python3 can import torch. */
int bench_have_torch(void);
/* Create a runtime with the given thread count or exit with a message. */
lct_runtime *bench_runtime(unsigned threads, unsigned long long seed);
/* The same on a host's job system (threads - 1 workers and the caller) handed over as an lct_scheduler. */
lct_runtime *bench_runtime_host_jobs(unsigned threads, unsigned long long seed);
/* Directory holding the peer scripts (bench/ in the source tree). */
const char *bench_dir(void);
/* The BLIS kernel set the PyTorch peers run with: BLIS_ARCH_TYPE when set (lct-bench --isa sets it),
 * else 0 (skx). */
const char *bench_peer_arch(void);
/* Prints the instruction-set restriction both sides run under (lct-bench --isa), one line. */
void bench_print_isa(void);

int bench_gemm(int argc, char **argv);
int bench_idle(int argc, char **argv);
int bench_encoder(int argc, char **argv);
int bench_bank(int argc, char **argv);
int bench_step(int argc, char **argv);

#endif
