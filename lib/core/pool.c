/*
 * The runtime's own thread pool, used when the host hands over no scheduler. Workers are started
 * lazily by the first region that needs them and joined by lct_runtime_free. A worker that finds
 * no work spins for a few tens of microseconds (regions inside one training step follow each other
 * closely), then sleeps on a condition variable: an idle runtime, or one whose host keeps the cores
 * busy, costs no CPU. One region at a time: a second thread that finds the pool busy runs its region
 * on itself (results never depend on the thread count).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "internal.h"
#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#  define CPU_RELAX() __asm__ __volatile__("yield")
#else
#  define CPU_RELAX() ((void)0)
#endif

/* How long a worker, or the caller waiting for the last task, spins before it sleeps. */
#define SPIN_NS 50000
/* Oversubscription. Over every WINDOW_NS of regions the pool checks that its threads got the cores
 * when they needed them: that running tasks, a thread got MIN_SHARE of the time as CPU time (it was
 * not preempted), and that the workers were late (or missed a region the caller finished alone) for
 * at most MAX_LATE of the regions' time. On an idle machine a worker starts within microseconds and
 * keeps its core. When the cores are taken by someone else (the host's own threads, another process)
 * the region's threads only queue behind each other and behind them: the caller then runs regions
 * alone for a pause, BACKOFF_MIN_NS at first, doubled (to BACKOFF_MAX_NS) each time the next window
 * finds the cores still taken and halved each time one finds them free. An uneven region (one long
 * task) does not count against the pool. */
#define WINDOW_NS 20000000u
#define MIN_SHARE 0.8
#define MAX_LATE 0.3
#define BACKOFF_MIN_NS 100000000u
#define BACKOFF_MAX_NS 1600000000u

struct lct__threadpool {
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* workers wait here for a new generation */
    pthread_cond_t finished;  /* the caller waits here for the last task */
    pthread_t tid[LCT__MAX_THREADS - 1];
    size_t nworkers;
    uint64_t fork_gen;        /* lct__fork_generation() when created: the threads exist in this process */
    atomic_int busy;          /* a region owns the pool */
    atomic_int stop;
    atomic_uint sleepers;
    /* The region: generation in the high 32 bits of `ticket`, next unclaimed task in the low 32. A claim
     * is a compare-and-swap on the whole word, so a late worker never takes a task of a newer region
     * with the function of an older one. */
    _Atomic uint64_t ticket;
    atomic_size_t done;
    /* Atomic because a late worker may read them while the owner writes the next region's; the claim
     * below tells it whether what it read was current. */
    _Atomic(lct_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_size_t ntasks;
    _Atomic uint64_t cpu_ns;  /* CPU time the region's threads got while they ran its tasks */
    _Atomic uint64_t wall_ns; /* and the time they spent running them */
    _Atomic uint64_t start_ns; /* when the region was published */
    _Atomic uint64_t late_ns; /* how long after it the workers that joined it started */
    atomic_size_t joined;     /* how many workers joined it */
    /* The region owner's alone (the busy flag orders owners): the current window and the pause. */
    uint64_t win_cpu, win_task, win_late, win_region, solo_until, backoff;
    uint64_t solo_pauses;     /* how many pauses so far (lct__threads_pauses) */
    uint32_t born_gen;        /* the generation when the last workers were started (before pthread_create) */
};

static atomic_ulong fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* Nanoseconds on `clock` (0 if it cannot be read). */
static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread. */
static uint64_t thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}


/* Claim and run tasks of generation `gen` until none is left; `worker`: not the region's owner. */
static void run_tasks(lct__threadpool *p, uint32_t gen, int worker)
{
    uint64_t cur = atomic_load(&p->ticket), cpu0 = 0, wall0 = 0;
    if (worker && (uint32_t)(cur >> 32) == gen) {
        /* How late this worker came, whether or not a task is left for it. */
        uint64_t st = atomic_load_explicit(&p->start_ns, memory_order_relaxed), t = now_ns();
        atomic_fetch_add(&p->late_ns, t > st ? t - st : 0);
        atomic_fetch_add(&p->joined, 1);
    }
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen) return;
        /* Read while the generation is current: a successful claim below proves these belong to it. */
        lct_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        size_t n = atomic_load_explicit(&p->ntasks, memory_order_relaxed);
        uint32_t t = (uint32_t)cur;
        if (t >= n) return;
        if (!atomic_compare_exchange_weak(&p->ticket, &cur, cur + 1)) continue;
        if (wall0 == 0) wall0 = now_ns(), cpu0 = thread_cpu_ns();
        fn(ctx, t);
        /* Counted before `done`: the owner reads the sums once every task is done. */
        uint64_t wall1 = now_ns(), cpu1 = thread_cpu_ns();
        atomic_fetch_add(&p->cpu_ns, cpu1 - cpu0);
        atomic_fetch_add(&p->wall_ns, wall1 - wall0);
        cpu0 = cpu1, wall0 = wall1;
        if (atomic_fetch_add(&p->done, 1) + 1 == n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->finished);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load(&p->ticket);
    }
}

static void *worker_main(void *arg)
{
    lct__threadpool *p = arg;
    /* The generation before the region that started this worker: it takes part in that region even
     * if it starts after the region was published. */
    uint32_t seen = p->born_gen;
    for (;;) {
        uint32_t gen = (uint32_t)(atomic_load(&p->ticket) >> 32);
        if (gen == seen && !atomic_load(&p->stop)) {
            uint64_t until = now_ns() + SPIN_NS;
            for (unsigned i = 1;; i++) {
                CPU_RELAX();
                gen = (uint32_t)(atomic_load(&p->ticket) >> 32);
                if (gen != seen || atomic_load(&p->stop)) break;
                if ((i & 63) == 0 && now_ns() > until) break;
            }
        }
        if (gen == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((gen = (uint32_t)(atomic_load(&p->ticket) >> 32)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        run_tasks(p, gen, 1);
    }
}

size_t lct__threads_bytes(void)
{
    return sizeof(lct__threadpool) + LCT__ALIGN;
}

lct__threadpool *lct__threads_init(void *mem)
{
    pthread_once(&atfork_once, register_atfork);
    /* The runtime's hooks promise no alignment. */
    lct__threadpool *p = (lct__threadpool *)(((uintptr_t)mem + LCT__ALIGN - 1) & ~(uintptr_t)(LCT__ALIGN - 1));
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL) != 0) return NULL;
    if (pthread_cond_init(&p->wake, NULL) != 0) goto fail_wake;
    if (pthread_cond_init(&p->finished, NULL) != 0) goto fail_finished;
    p->fork_gen = atomic_load(&fork_gen);
    atomic_init(&p->busy, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
    return p;
fail_finished:
    pthread_cond_destroy(&p->wake);
fail_wake:
    pthread_mutex_destroy(&p->mu);
    return NULL;
}

size_t lct__threads_workers(const lct__threadpool *p)
{
    return p ? p->nworkers : 0;
}

void lct__threads_destroy(lct__threadpool *p)
{
    if (p == NULL) return;
    /* In a child of fork() the workers do not exist: nothing to wake or join, and the locks may be
     * held by threads of the parent. Leave them. */
    if (p->fork_gen != atomic_load(&fork_gen)) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nworkers; i++) pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->finished);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
}

/* Start workers up to `want`; keeps what it could start. Called by the region owner only. */
static void grow(lct__threadpool *p, size_t want)
{
    if (want > LCT__MAX_THREADS - 1) want = LCT__MAX_THREADS - 1;
    p->born_gen = (uint32_t)(atomic_load(&p->ticket) >> 32);
    /* Workers take no signal: the host's handlers run on the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->nworkers < want && pthread_create(&p->tid[p->nworkers], NULL, worker_main, p) == 0) p->nworkers++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* After a region of `wall` ns with `workers` workers asked to join: close the window when it is
 * full, and pause the workers if the region's threads got too little of the cores. */
static void judge(lct__threadpool *p, uint64_t wall, size_t workers, uint64_t now)
{
    size_t joined = atomic_load(&p->joined);
    p->win_cpu += atomic_load(&p->cpu_ns);
    p->win_task += atomic_load(&p->wall_ns);
    p->win_late += atomic_load(&p->late_ns) + (workers > joined ? workers - joined : 0) * wall;
    p->win_region += wall * workers;
    if (p->win_region < (uint64_t)WINDOW_NS * workers) return;
    if ((double)p->win_cpu < MIN_SHARE * (double)p->win_task || (double)p->win_late > MAX_LATE * (double)p->win_region) {
        p->backoff = p->backoff ? (p->backoff * 2 < BACKOFF_MAX_NS ? p->backoff * 2 : BACKOFF_MAX_NS) : BACKOFF_MIN_NS;
        p->solo_until = now + p->backoff;
        p->solo_pauses++;
    } else {
        /* Halved, not forgotten: beside a busy host, one lucky window does not bring back short pauses. */
        p->backoff = p->backoff / 2 >= BACKOFF_MIN_NS ? p->backoff / 2 : 0;
    }
    p->win_cpu = p->win_task = p->win_late = p->win_region = 0;
}

int lct__threads_run(lct__threadpool *p, size_t ntasks, lct_task_fn fn, void *ctx)
{
    if (p->fork_gen != atomic_load(&fork_gen)) return 0; /* created before fork(): no workers here */
    int expected = 0;
    if (!atomic_compare_exchange_strong(&p->busy, &expected, 1)) return 0;
    if (p->solo_until != 0 && now_ns() < p->solo_until) {
        atomic_store(&p->busy, 0);
        return 0;
    }
    if (p->nworkers < ntasks - 1) grow(p, ntasks - 1);
    if (p->nworkers == 0) {
        atomic_store(&p->busy, 0);
        return 0;
    }
    atomic_store(&p->cpu_ns, 0);
    atomic_store(&p->wall_ns, 0);
    atomic_store(&p->late_ns, 0);
    atomic_store(&p->joined, 0);
    uint64_t start = now_ns();
    atomic_store_explicit(&p->start_ns, start, memory_order_relaxed);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->ntasks, ntasks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    uint32_t gen = (uint32_t)(atomic_load(&p->ticket) >> 32) + 1;
    atomic_store(&p->ticket, (uint64_t)gen << 32);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_tasks(p, gen, 0);
    if (atomic_load(&p->done) < ntasks) {
        uint64_t until = now_ns() + SPIN_NS;
        for (unsigned i = 1; atomic_load(&p->done) < ntasks; i++) {
            CPU_RELAX();
            if ((i & 63) == 0 && now_ns() > until) break;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->done) < ntasks) pthread_cond_wait(&p->finished, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    uint64_t end = now_ns();
    judge(p, end - start, (ntasks < p->nworkers + 1 ? ntasks : p->nworkers + 1) - 1, end);
    atomic_store(&p->busy, 0);
    return 1;
}

uint64_t lct__threads_pauses(const lct__threadpool *p)
{
    return p ? p->solo_pauses : 0;
}
