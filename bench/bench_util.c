#include "bench_util.h"

#include <pthread.h>
#include <stdatomic.h>

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

/* A host's job system for --host-jobs, built as engines' job systems are: workers claim the tasks
 * of one batch at a time from an atomic counter, the calling thread takes part, and a thread with
 * nothing to do spins for up to 50 us (a frame's jobs follow each other closely), then waits on a
 * condition variable. LCT_BENCH_HOST_SPIN_US sets the spin (0: sleep at once). */
typedef struct host_jobs {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    _Atomic(lct_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_size_t n, finished;
    /* The batch in the high 32 bits, its next unclaimed task in the low 32: a claim is a
     * compare-and-swap of both, so a late worker never runs a task of a newer batch with an older
     * batch's function. */
    _Atomic uint64_t ticket;
    long spin_ns;
} host_jobs;

static long host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Spin until cond(h, arg) holds or the spin is over; then wait on cv under the lock until it holds. */
static void host_wait(host_jobs *h, pthread_cond_t *cv, int (*cond)(host_jobs *, unsigned), unsigned arg)
{
    for (long until = host_now_ns() + h->spin_ns; !cond(h, arg) && host_now_ns() < until;) {
    }
    if (cond(h, arg)) return;
    pthread_mutex_lock(&h->mu);
    while (!cond(h, arg)) pthread_cond_wait(cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static int host_new_batch(host_jobs *h, unsigned seen)
{
    return (unsigned)(atomic_load(&h->ticket) >> 32) != seen;
}

static int host_all_done(host_jobs *h, unsigned n)
{
    return atomic_load(&h->finished) == n;
}

static void host_take(host_jobs *h, unsigned batch)
{
    for (uint64_t cur = atomic_load(&h->ticket);;) {
        if ((unsigned)(cur >> 32) != batch) return;
        size_t n = atomic_load(&h->n), i = (uint32_t)cur;
        lct_task_fn fn = atomic_load(&h->fn);
        void *ctx = atomic_load(&h->ctx);
        if (i >= n) return;
        if (!atomic_compare_exchange_weak(&h->ticket, &cur, cur + 1)) continue;
        fn(ctx, i);
        if (atomic_fetch_add(&h->finished, 1) + 1 == n) {
            pthread_mutex_lock(&h->mu);
            pthread_cond_broadcast(&h->done);
            pthread_mutex_unlock(&h->mu);
        }
        cur = atomic_load(&h->ticket);
    }
}

static void *host_worker(void *arg)
{
    host_jobs *h = arg;
    for (unsigned seen = 0;;) {
        host_wait(h, &h->work, host_new_batch, seen);
        seen = (unsigned)(atomic_load(&h->ticket) >> 32);
        host_take(h, seen);
    }
    return NULL;
}

/* One batch at a time: the library calls run only from the thread that made its call. */
static void host_run(void *user, size_t n, lct_task_fn fn, void *ctx)
{
    host_jobs *h = user;
    atomic_store(&h->fn, fn);
    atomic_store(&h->ctx, ctx);
    atomic_store(&h->finished, 0);
    atomic_store(&h->n, n);
    unsigned batch = (unsigned)(atomic_load(&h->ticket) >> 32) + 1;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->ticket, (uint64_t)batch << 32);
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->mu);
    host_take(h, batch);
    host_wait(h, &h->done, host_all_done, (unsigned)n);
}

lct_runtime *bench_runtime_host_jobs(unsigned threads, unsigned long long seed)
{
    static host_jobs h = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
                          .done = PTHREAD_COND_INITIALIZER, .spin_ns = 50000};
    const char *spin = getenv("LCT_BENCH_HOST_SPIN_US");
    if (spin != NULL) h.spin_ns = atol(spin) * 1000;
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
