#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double bench_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int bench_run_capture(const char *cmd, char *buf, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) return -1;
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    return pclose(p) == 0 ? 0 : -1;
}

int bench_have_torch(void)
{
    char buf[64];
    return bench_run_capture("/usr/bin/python3 -c 'import torch' 2>/dev/null && echo yes", buf, sizeof buf) == 0 &&
           strncmp(buf, "yes", 3) == 0;
}

lct_runtime *bench_runtime(unsigned threads, unsigned long long seed)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = threads;
    o.seed = seed;
    lct_runtime *rt;
    if (lct_runtime_new(&rt, &o) != LCT_OK) {
        fprintf(stderr, "lct-bench: %s\n", lct_error_last());
        exit(1);
    }
    return rt;
}

const char *bench_dir(void)
{
    const char *d = getenv("LCT_BENCH_DIR");
    return d ? d : LCT_BENCH_DIR;
}
