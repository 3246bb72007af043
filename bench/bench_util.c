#include "bench_util.h"

#include <pthread.h>

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

static lct_runtime *runtime_with(unsigned threads, unsigned long long seed, const lct_scheduler *sched)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = threads;
    o.seed = seed;
    o.scheduler = sched;
    lct_runtime *rt;
    if (lct_runtime_new(&rt, &o) != LCT_OK) {
        fprintf(stderr, "lct-bench: %s\n", lct_error_last());
        exit(1);
    }
    return rt;
}

lct_runtime *bench_runtime(unsigned threads, unsigned long long seed)
{
    return runtime_with(threads, seed, NULL);
}

/* A host's job system for --host-jobs: workers pull the tasks of one batch at a time from a shared
 * counter, the calling thread takes part, and idle workers wait on a condition variable. */
typedef struct host_jobs {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    lct_task_fn fn;
    void *ctx;
    size_t n, next, finished;
} host_jobs;

static void host_take(host_jobs *h)
{
    while (h->next < h->n) {
        size_t i = h->next++;
        lct_task_fn fn = h->fn;
        void *ctx = h->ctx;
        pthread_mutex_unlock(&h->mu);
        fn(ctx, i);
        pthread_mutex_lock(&h->mu);
        if (++h->finished == h->n) pthread_cond_broadcast(&h->done);
    }
}

static void *host_worker(void *arg)
{
    host_jobs *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        host_take(h);
        pthread_cond_wait(&h->work, &h->mu);
    }
    return NULL;
}

static void host_run(void *user, size_t n, lct_task_fn fn, void *ctx)
{
    host_jobs *h = user;
    pthread_mutex_lock(&h->mu);
    h->fn = fn, h->ctx = ctx, h->n = n, h->next = 0, h->finished = 0;
    pthread_cond_broadcast(&h->work);
    host_take(h);
    while (h->finished < h->n) pthread_cond_wait(&h->done, &h->mu);
    h->n = h->next = 0;
    pthread_mutex_unlock(&h->mu);
}

lct_runtime *bench_runtime_host_jobs(unsigned threads, unsigned long long seed)
{
    static host_jobs h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
                          0, 0, 0};
    for (unsigned i = 1; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, host_worker, &h) != 0) break;
        pthread_detach(t);
    }
    lct_scheduler s;
    lct_scheduler_init(&s, LCT_SCHEDULER_VERSION);
    s.workers = threads;
    s.run = host_run;
    s.user = &h;
    return runtime_with(threads, seed, &s);
}

const char *bench_dir(void)
{
    const char *d = getenv("LCT_BENCH_DIR");
    return d ? d : LCT_BENCH_DIR;
}

const char *bench_peer_arch(void)
{
    const char *v = getenv("BLIS_ARCH_TYPE");
    return v != NULL && v[0] != '\0' ? v : "0";
}

void bench_print_isa(void)
{
    const char *isa = getenv("LCT_ISA"), *aten = getenv("ATEN_CPU_CAPABILITY"), *dnnl = getenv("DNNL_MAX_CPU_ISA");
    printf("Instruction sets: libcontrast LCT_ISA=%s; PyTorch ATEN_CPU_CAPABILITY=%s DNNL_MAX_CPU_ISA=%s; both BLIS_ARCH_TYPE=%s%s\n",
           isa ? isa : "native", aten ? aten : "default", dnnl ? dnnl : "ALL", bench_peer_arch(),
           getenv("BLIS_ARCH_TYPE") ? "" : " (peer only; the library picks its own)");
}
