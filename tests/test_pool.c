/*
 * Who runs the library's parallel work: the runtime's own pool (workers that sleep when idle, joined
 * by lct_runtime_free, usable again in a child of fork()) or a scheduler the host hands over (then the
 * library starts no thread). Also built with ThreadSanitizer by scripts/test.sh.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "train_world.h"

/* ---- a host's job system: N workers pulling tasks from a queue ------------------------------ */

typedef struct host_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t tid[8];
    int nthreads, stop;
    /* the batch being run */
    lct_task_fn fn;
    void *ctx;
    size_t n, next, finished;
    long batches, tasks_by_workers;
    pthread_mutex_t call_mu; /* one batch at a time */
} host_pool;

static void *host_worker(void *arg)
{
    host_pool *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stop && h->next >= h->n) pthread_cond_wait(&h->work, &h->mu);
        if (h->stop) break;
        size_t i = h->next++;
        h->tasks_by_workers++;
        pthread_mutex_unlock(&h->mu);
        h->fn(h->ctx, i);
        pthread_mutex_lock(&h->mu);
        if (++h->finished == h->n) pthread_cond_broadcast(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* lct_scheduler.run: queue the n tasks, take part, wait for all. */
static void host_run(void *user, size_t n, lct_task_fn fn, void *ctx)
{
    host_pool *h = user;
    pthread_mutex_lock(&h->call_mu);
    pthread_mutex_lock(&h->mu);
    h->fn = fn, h->ctx = ctx, h->n = n, h->next = 0, h->finished = 0;
    h->batches++;
    pthread_cond_broadcast(&h->work);
    while (h->next < h->n) {
        size_t i = h->next++;
        pthread_mutex_unlock(&h->mu);
        fn(ctx, i);
        pthread_mutex_lock(&h->mu);
        if (++h->finished == h->n) pthread_cond_broadcast(&h->done);
    }
    while (h->finished < h->n) pthread_cond_wait(&h->done, &h->mu);
    h->n = 0;
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_unlock(&h->call_mu);
}

static void host_start(host_pool *h, int nthreads)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->call_mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->done, NULL);
    h->nthreads = nthreads;
    for (int i = 0; i < nthreads; i++) ck_assert_int_eq(pthread_create(&h->tid[i], NULL, host_worker, h), 0);
}

static void host_stop(host_pool *h)
{
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < h->nthreads; i++) pthread_join(h->tid[i], NULL);
    pthread_cond_destroy(&h->work);
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->call_mu);
}

/* Threads of this process now. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- work that has parallel regions at every level ---------------------------------------- */

enum { GM = 192, GN = 160, GK = 128 };

/* A product large enough to be split, then two steps of InvaSpread and CMC; fills out[0..GM*GN). */
static void workload(lct_runtime *rt, float *out, world *ws)
{
    float *a = malloc(sizeof(float) * GM * GK), *b = malloc(sizeof(float) * GK * GN);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < (size_t)GM * GK; i++) a[i] = (float)((i * 7) % 23) / 23.0f - 0.5f;
    for (size_t i = 0; i < (size_t)GK * GN; i++) b[i] = (float)((i * 5) % 19) / 19.0f - 0.25f;
    ck_assert_int_eq(lct_gemm(rt, 0, 0, GM, GN, GK, 1.0f, a, GK, b, GN, 0.0f, out, GN), LCT_OK);
    ck_assert_int_eq(lct_gemm(rt, 1, 1, GN, GM, GK, 0.5f, b, GN, a, GK, 0.0f, out + GM * GN, GM), LCT_OK);
    free(a);
    free(b);
    const int methods[2] = {M_INVASPREAD, M_CMC};
    for (int m = 0; m < 2; m++) {
        world_build(&ws[m], rt, methods[m]);
        for (int s = 0; s < 2; s++) {
            for (int j = 0; j < n_calls[methods[m]]; j++) must(call(&ws[m], j), method_name[methods[m]]);
            ws[m].step_no++;
        }
    }
}

static void compare_worlds(world *a, world *b)
{
    for (int m = 0; m < 2; m++) {
        snap sa = {0}, sb = {0};
        take(&sa, &a[m], 0);
        take(&sb, &b[m], 0);
        ck_assert_msg(sa.n == sb.n && same(&sa, &sb, sa.n), "%s: state differs at byte %zu",
                      method_name[a[m].method], first_diff(&sa, &sb));
        free(sa.d);
        free(sb.d);
    }
}

static lct_runtime *scheduled_runtime(host_pool *h, uint32_t workers)
{
    lct_scheduler s;
    ck_assert_int_eq(lct_scheduler_init(&s, LCT_SCHEDULER_VERSION), LCT_OK);
    s.workers = workers;
    s.run = host_run;
    s.user = h;
    lct_runtime_options o;
    ck_assert_int_eq(lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION), LCT_OK);
    o.scheduler = &s;
    o.seed = 7;
    lct_runtime *rt = NULL;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    return rt;
}

/* With a host scheduler the library creates no thread, runs its regions on the host's workers, and
 * gives what one thread gives, bit for bit. */
START_TEST(test_host_scheduler)
{
    float *ref = malloc(sizeof(float) * 2 * GM * GN), *got = malloc(sizeof(float) * 2 * GM * GN);
    world wa[2], wb[2];
    lct_runtime *one = lct_test_runtime(1, 7);
    workload(one, ref, wa);

    host_pool h;
    host_start(&h, 2);
    int before = thread_count();
    lct_runtime *rt = scheduled_runtime(&h, 3);
    ck_assert_int_eq(lct_runtime_threads(rt), 3);
    workload(rt, got, wb);
    ck_assert_int_eq(thread_count(), before);
    ck_assert_msg(h.batches > 0, "the scheduler was never called");
    ck_assert_int_eq(memcmp(ref, got, sizeof(float) * 2 * GM * GN), 0);
    compare_worlds(wa, wb);
    for (int m = 0; m < 2; m++) world_free(&wa[m]), world_free(&wb[m]);
    lct_runtime_free(rt);
    lct_runtime_free(one);
    ck_assert_int_eq(thread_count(), before);
    host_stop(&h);
    free(ref);
    free(got);
}
END_TEST

/* Misuse of the scheduler is refused before anything is created. */
START_TEST(test_scheduler_misuse)
{
    host_pool h = {0};
    lct_scheduler s;
    LCT_ASSERT_OPTIONS_INIT(lct_scheduler_init, s, LCT_SCHEDULER_VERSION, "sched");
    ck_assert_int_eq(s.workers, 1);
    ck_assert_ptr_null(s.run);

    lct_runtime_options o;
    ck_assert_int_eq(lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION), LCT_OK);
    o.scheduler = &s;
    lct_runtime *rt = (lct_runtime *)&h;
    LCT_ASSERT_FAILS(lct_runtime_new(&rt, &o), LCT_EINVAL, "run");
    ck_assert_ptr_null(rt);
    s.run = host_run, s.user = &h, s.workers = 0;
    LCT_ASSERT_FAILS(lct_runtime_new(&rt, &o), LCT_EINVAL, "workers");
    s.workers = 257;
    LCT_ASSERT_FAILS(lct_runtime_new(&rt, &o), LCT_EINVAL, "257");
    s.workers = 2, s.version = 0;
    LCT_ASSERT_FAILS(lct_runtime_new(&rt, &o), LCT_EVERSION, "lct_scheduler");
    s.version = 99;
    LCT_ASSERT_FAILS(lct_runtime_new(&rt, &o), LCT_EVERSION, "lct_scheduler");
    ck_assert_ptr_null(rt);
    ck_assert_int_eq(h.batches, 0);
    /* A caller built against version 1 of the runtime options has no scheduler field: nothing past it
     * is written or read. */
    size_t v1 = offsetof(lct_runtime_options, scheduler);
    _Alignas(16) unsigned char raw[sizeof(lct_runtime_options) + 16];
    memset(raw, 0xAA, sizeof raw);
    ck_assert_int_eq(lct_runtime_options_init((lct_runtime_options *)(void *)raw, 1), LCT_OK);
    for (size_t i = v1; i < sizeof raw; i++) ck_assert_msg(raw[i] == 0xAA, "byte %zu past version 1 written", i);
    o.version = 1;
    o.threads = 2;
    ck_assert_int_eq(lct_runtime_new(&rt, &o), LCT_OK);
    ck_assert_int_eq(lct_runtime_threads(rt), 2);
    lct_runtime_free(rt);
}
END_TEST

/* lct__parallel visits every index once, with slots below the thread count, from two threads of one
 * runtime at once (one of them runs inline while the pool serves the other). */
typedef struct visit {
    atomic_int *seen;
    int threads, bad_slot;
} visit;

static void visit_range(void *ctx, size_t b, size_t e, size_t slot)
{
    visit *v = ctx;
    if (slot >= (size_t)v->threads) v->bad_slot = 1;
    for (size_t i = b; i < e; i++) atomic_fetch_add(&v->seen[i], 1);
}

typedef struct visit_job {
    lct_runtime *rt;
    int ok;
} visit_job;

static void *visit_many(void *arg)
{
    visit_job *j = arg;
    enum { N = 1000 };
    static const size_t grains[] = {0, 1, 3, 64, 999, 5000};
    j->ok = 1;
    for (int rep = 0; rep < 50; rep++) {
        for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
            atomic_int seen[N];
            for (int i = 0; i < N; i++) atomic_init(&seen[i], 0);
            visit v = {seen, 3, 0};
            lct__parallel(j->rt, 3, N - (size_t)rep, grains[g], visit_range, &v);
            for (int i = 0; i < N; i++)
                if (atomic_load(&seen[i]) != (i < N - rep ? 1 : 0)) j->ok = 0;
            if (v.bad_slot) j->ok = 0;
        }
    }
    return NULL;
}

START_TEST(test_parallel_covers_once)
{
    lct_runtime *rt = lct_test_runtime(3, 1);
    visit_job a = {rt, 0}, b = {rt, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, visit_many, &a), 0);
    visit_many(&b);
    pthread_join(t, NULL);
    ck_assert(a.ok);
    ck_assert(b.ok);
    lct_runtime_free(rt);
}
END_TEST

/* A product split into blocks sums every element in the order of the whole product, for every kernel
 * set (tests/kerneltest.sh runs this suite again on the AVX2 kernels, whose small-matrix path would
 * not), every transpose and shapes on both sides of BLIS's small-matrix thresholds. */
START_TEST(test_gemm_split_is_exact)
{
    static const size_t shapes[][3] = {{192, 160, 128}, {256, 128, 1024}, {64, 1000, 300},
                                       {512, 512, 512}, {37, 530, 61},    {700, 33, 250}};
    lct_runtime *rt[4];
    for (unsigned t = 0; t < 4; t++) rt[t] = lct_test_runtime(t + 1, 1);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
        float *c1 = malloc(sizeof(float) * m * n), *c = malloc(sizeof(float) * m * n);
        for (size_t i = 0; i < m * k; i++) a[i] = (float)((i * 7) % 23) / 23.0f - 0.5f;
        for (size_t i = 0; i < k * n; i++) b[i] = (float)((i * 5) % 19) / 19.0f - 0.25f;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                ck_assert_int_eq(lct_gemm(rt[0], ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c1, n),
                                 LCT_OK);
                for (unsigned t = 1; t < 4; t++) {
                    ck_assert_int_eq(
                        lct_gemm(rt[t], ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n), LCT_OK);
                    ck_assert_msg(memcmp(c1, c, sizeof(float) * m * n) == 0,
                                  "%zu x %zu x %zu, trans %d %d: %u threads differ from one", m, n, k, ta, tb, t + 1);
                }
            }
        free(a), free(b), free(c1), free(c);
    }
    for (unsigned t = 0; t < 4; t++) lct_runtime_free(rt[t]);
}
END_TEST

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* An idle runtime with two threads sleeps: after a step, one second costs next to no CPU. */
START_TEST(test_idle_pool_sleeps)
{
    lct_runtime *rt = lct_test_runtime(2, 3);
    float *out = malloc(sizeof(float) * 2 * GM * GN);
    world ws[2];
    int before = thread_count();
    workload(rt, out, ws);
    ck_assert_int_eq(thread_count(), before + 1); /* one worker beside the caller */
    double c0 = cpu_seconds();
    struct timespec sec = {1, 0};
    nanosleep(&sec, NULL);
    double used = cpu_seconds() - c0;
    /* < 1 % of a core is the target (docs/benchmarks.md); the bound leaves room for slow machines. */
    ck_assert_msg(used < 0.05, "an idle runtime used %.3f s of CPU in 1 s", used);
    for (int m = 0; m < 2; m++) world_free(&ws[m]);
    lct_runtime_free(rt);
    ck_assert_int_eq(thread_count(), before);
    free(out);
}
END_TEST

/* After the parent has trained on two threads, a child of fork() trains too: on a runtime of its own
 * (with its own workers) and on the parent's (whose workers it does not have: it runs on one thread),
 * and both give the parent's results. */
START_TEST(test_fork_child_trains)
{
    lct_runtime *rt = lct_test_runtime(2, 11);
    float *ref = malloc(sizeof(float) * 2 * GM * GN);
    world ws[2];
    uint64_t streams = lct__runtime_stream_state(rt);
    workload(rt, ref, ws);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        int bad = 0;
        float *got = malloc(sizeof(float) * 2 * GM * GN);
        world mine[2], theirs[2];
        lct_runtime_options o;
        lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
        o.threads = 2, o.seed = 11;
        lct_runtime *crt = NULL;
        if (lct_runtime_new(&crt, &o) != LCT_OK) _exit(2);
        workload(crt, got, mine);
        bad |= memcmp(ref, got, sizeof(float) * 2 * GM * GN) != 0;
        lct__runtime_set_stream_state(rt, streams); /* the same random streams as the parent's worlds */
        workload(rt, got, theirs);
        bad |= memcmp(ref, got, sizeof(float) * 2 * GM * GN) != 0;
        for (int m = 0; m < 2; m++) {
            snap a = {0}, b = {0}, c = {0};
            take(&a, &ws[m], 0);
            take(&b, &mine[m], 0);
            take(&c, &theirs[m], 0);
            bad |= a.n != b.n || a.n != c.n || !same(&a, &b, a.n) || !same(&a, &c, a.n);
            free(a.d), free(b.d), free(c.d);
            world_free(&mine[m]);
            world_free(&theirs[m]);
        }
        lct_runtime_free(crt);
        free(got);
        /* The parent's handles too: freeing a runtime made before the fork joins no thread. */
        for (int m = 0; m < 2; m++) world_free(&ws[m]);
        lct_runtime_free(rt);
        free(ref);
        _exit(bad ? 3 : 0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);
    for (int m = 0; m < 2; m++) world_free(&ws[m]);
    lct_runtime_free(rt);
    free(ref);
}
END_TEST

/* The library's own macro-kernel sums every element exactly as bli_sgemm does (same micro-kernel,
 * k-blocks, operand order and tile grid): bit-identical to the BLIS path, at 1 and 2 threads, for
 * every transpose, edges of every micro-tile size, k across several KC blocks, and each beta. */
START_TEST(test_gemm_bit_identical_to_blis)
{
    lct_runtime *rt1 = lct_test_runtime(1, 0), *rt2 = lct_test_runtime(2, 0);
    static const size_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {37, 29, 41}, {33, 13, 385}, {96, 65, 1000},
                                       {130, 700, 97}, {500, 40, 512}, {1000, 1030, 33}};
    const size_t pad = 5;
    lct__rng r;
    lct__rng_seed(&r, 3, 4);
    size_t most = 1100 * 1100;
    float *a = malloc(most * sizeof(float)), *b = malloc(most * sizeof(float)), *c0 = malloc(most * sizeof(float));
    float *got = malloc(most * sizeof(float)), *want = malloc(most * sizeof(float));
    for (size_t i = 0; i < most; i++) a[i] = lct__rng_uniform(&r) - 0.5f, b[i] = lct__rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < most; i++) c0[i] = lct__rng_uniform(&r) - 0.5f;
    static const float betas[] = {0.0f, 1.0f, 0.75f};
    int checked = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 3; bi++) {
                    size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                    size_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                    float alpha = bi == 2 ? -1.5f : 1.0f;
                    memcpy(want, c0, m * ldc * sizeof(float));
                    lct__test_control(LCT__TESTCTRL_GEMM_BLIS, 1);
                    ck_assert_int_eq(lct_gemm(rt1, ta, tb, m, n, k, alpha, a, lda, b, ldb, betas[bi], want, ldc),
                                     LCT_OK);
                    lct__test_control(LCT__TESTCTRL_GEMM_BLIS, 0);
                    for (int t = 0; t < 2; t++) {
                        memcpy(got, c0, m * ldc * sizeof(float));
                        ck_assert_int_eq(lct_gemm(t ? rt2 : rt1, ta, tb, m, n, k, alpha, a, lda, b, ldb, betas[bi],
                                                  got, ldc),
                                         LCT_OK);
                        ck_assert_msg(memcmp(got, want, m * ldc * sizeof(float)) == 0,
                                      "%zu x %zu x %zu, ta %d tb %d beta %g, %d thread(s): differs from BLIS", m, n,
                                      k, ta, tb, (double)betas[bi], t + 1);
                        checked++;
                    }
                }
    ck_assert_int_eq(checked, 8 * 4 * 3 * 2);
    free(a), free(b), free(c0), free(got), free(want);
    lct_runtime_free(rt1);
    lct_runtime_free(rt2);
}
END_TEST

/* Two threads on one core: the pool sees its threads queue behind each other and lets the caller run
 * the regions alone for a while. Results do not change. */
START_TEST(test_pool_steps_aside_when_cores_are_taken)
{
    cpu_set_t old, one;
    ck_assert_int_eq(sched_getaffinity(0, sizeof old, &old), 0);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0); /* the workers inherit it */
    lct_runtime *rt = lct_test_runtime(2, 3), *rt1 = lct_test_runtime(1, 3);
    const size_t n = 384;
    float *a = malloc(n * n * sizeof(float)), *c = malloc(n * n * sizeof(float)), *c1 = malloc(n * n * sizeof(float));
    for (size_t i = 0; i < n * n; i++) a[i] = (float)(i % 97) * 0.01f - 0.4f;
    ck_assert_int_eq(lct_gemm(rt1, 0, 1, n, n, n, 1.0f, a, n, a, n, 0.0f, c1, n), LCT_OK);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int runs = 0;
    do {
        ck_assert_int_eq(lct_gemm(rt, 0, 1, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n), LCT_OK);
        ck_assert_int_eq(memcmp(c, c1, n * n * sizeof(float)), 0);
        runs++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (lct__test_control(LCT__TESTCTRL_POOL_PAUSES, rt) == 0 && t.tv_sec - t0.tv_sec < 10);
    ck_assert_msg(lct__test_control(LCT__TESTCTRL_POOL_PAUSES, rt) > 0,
                  "two threads shared one core for %d products and the pool never stepped aside", runs);
    ck_assert_int_eq(sched_setaffinity(0, sizeof old, &old), 0);
    free(a), free(c), free(c1);
    lct_runtime_free(rt);
    lct_runtime_free(rt1);
}
END_TEST

/* A product whose packing buffer cannot be allocated runs through bli_sgemm instead: it succeeds,
 * with the same bits, and the runtime keeps no buffer. */
START_TEST(test_gemm_without_packing_memory)
{
    lct_test_alloc al;
    lct_runtime *rt = lct_test_failing_runtime(&al, 2, 0), *ok = lct_test_runtime(2, 0);
    const size_t m = 70, n = 300, k = 500;
    float *a = malloc(m * k * sizeof(float)), *b = malloc(k * n * sizeof(float));
    float *c = malloc(m * n * sizeof(float)), *want = malloc(m * n * sizeof(float));
    for (size_t i = 0; i < m * k; i++) a[i] = (float)(i % 13) * 0.1f - 0.6f;
    for (size_t i = 0; i < k * n; i++) b[i] = (float)(i % 7) * 0.2f - 0.5f;
    ck_assert_int_eq(lct_gemm(ok, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, want, n), LCT_OK);
    lct_test_alloc_arm(&al, 1); /* every allocation from now on fails */
    ck_assert_int_eq(lct_gemm(rt, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n), LCT_OK);
    ck_assert_int_ge(al.count, 1); /* it tried */
    ck_assert_int_eq(memcmp(c, want, m * n * sizeof(float)), 0);
    ck_assert_int_eq(lct__test_control(LCT__TESTCTRL_SCRATCH_BLOCKS, rt), 0);
    lct_test_alloc_arm(&al, 0);
    ck_assert_int_eq(lct_gemm(rt, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n), LCT_OK);
    ck_assert_int_eq(memcmp(c, want, m * n * sizeof(float)), 0);
    ck_assert_int_gt(lct__test_control(LCT__TESTCTRL_SCRATCH_BLOCKS, rt), 0); /* grown on the next product */
    free(a), free(b), free(c), free(want);
    lct_runtime_free(rt);
    lct_runtime_free(ok);
    ck_assert_int_eq(al.live, 0);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_scheduler_misuse);
    tcase_add_test(tc, test_host_scheduler);
    tcase_add_test(tc, test_parallel_covers_once);
    tcase_add_test(tc, test_gemm_split_is_exact);
    tcase_add_test(tc, test_gemm_bit_identical_to_blis);
    tcase_add_test(tc, test_gemm_without_packing_memory);
    tcase_add_test(tc, test_idle_pool_sleeps);
    tcase_add_test(tc, test_pool_steps_aside_when_cores_are_taken);
    tcase_add_test(tc, test_fork_child_trains);
}

int main(void)
{
    return lct_test_main("pool", "pool", 300, add_tests);
}
