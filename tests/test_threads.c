/*
 * Threads: distinct handle sets driven from several threads at once give the same results, bit
 * for bit, as running them one after another: each set with its own runtime (four methods in
 * four threads), and two sets sharing one runtime (docs/threading.md allows it). Built also
 * with ThreadSanitizer by scripts/test.sh (build-tsan), which reports any data race.
 */
#include <pthread.h>

#include "train_world.h"

#define STEPS 2

typedef struct job {
    world *w;
    int rc, call, step;
} job;

/* Runs in a worker thread: no Check assertions here (they cannot fail from another thread). */
static void *run_steps(void *arg)
{
    job *jb = arg;
    jb->rc = LCT_OK;
    for (int s = 0; s < STEPS; s++) {
        for (int j = 0; j < n_calls[jb->w->method]; j++) {
            int rc = call(jb->w, j);
            if (rc != LCT_OK) {
                jb->rc = rc, jb->call = j, jb->step = s;
                return NULL;
            }
        }
        jb->w->step_no++;
    }
    return NULL;
}

static void check_job(const job *jb)
{
    ck_assert_msg(jb->rc == LCT_OK, "%s: step %d call %d returned %d", method_name[jb->w->method], jb->step, jb->call,
                  jb->rc);
}

/* Run the worlds one after another, or each in its own thread at once. */
static void run_all(world *ws, size_t n, int parallel)
{
    job jobs[8];
    pthread_t th[8];
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (job){&ws[i], 0, 0, 0};
        if (parallel)
            ck_assert_int_eq(pthread_create(&th[i], NULL, run_steps, &jobs[i]), 0);
        else
            run_steps(&jobs[i]);
    }
    if (parallel)
        for (size_t i = 0; i < n; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (size_t i = 0; i < n; i++) check_job(&jobs[i]);
}

static const int methods[] = {M_NCE, M_INVASPREAD, M_CPC, M_CMC};
#define N_SETS (sizeof methods / sizeof *methods)

START_TEST(test_own_runtimes)
{
    snap want[N_SETS], got[N_SETS];
    float want_loss[N_SETS][STEPS];
    memset(want, 0, sizeof want), memset(got, 0, sizeof got);
    for (int parallel = 0; parallel < 2; parallel++) {
        lct_runtime *rts[N_SETS];
        world ws[N_SETS];
        for (size_t i = 0; i < N_SETS; i++) {
            rts[i] = lct_test_runtime(1, 100 + i);
            world_build(&ws[i], rts[i], methods[i]);
        }
        run_all(ws, N_SETS, parallel);
        for (size_t i = 0; i < N_SETS; i++) {
            if (!parallel) {
                take(&want[i], &ws[i], 1);
                memcpy(want_loss[i], ws[i].loss_value, sizeof want_loss[i]);
            } else {
                take(&got[i], &ws[i], 1);
                ck_assert_msg(got[i].n == want[i].n && same(&got[i], &want[i], want[i].n),
                              "%s: state after threaded steps differs from the sequential run (byte %zu)",
                              method_name[methods[i]], first_diff(&got[i], &want[i]));
                ck_assert(memcmp(want_loss[i], ws[i].loss_value, sizeof want_loss[i]) == 0);
                ck_assert(isfinite(ws[i].loss_value[0]) && isfinite(ws[i].loss_value[1]));
            }
            world_free(&ws[i]);
            size_t cur;
            lct_runtime_memory(rts[i], &cur, NULL);
            ck_assert_uint_eq(cur, 0);
            lct_runtime_free(rts[i]);
        }
    }
    for (size_t i = 0; i < N_SETS; i++) free(want[i].d), free(got[i].d);
}
END_TEST

START_TEST(test_shared_runtime)
{
    snap want[2] = {{0}}, got[2] = {{0}};
    for (int parallel = 0; parallel < 2; parallel++) {
        lct_runtime *rt = lct_test_runtime(1, 7);
        world ws[2];
        world_build(&ws[0], rt, M_NCE); /* the creation order fixes the random streams */
        world_build(&ws[1], rt, M_CMC);
        run_all(ws, 2, parallel);
        for (size_t i = 0; i < 2; i++) take(parallel ? &got[i] : &want[i], &ws[i], 1);
        if (parallel)
            for (size_t i = 0; i < 2; i++)
                ck_assert_msg(got[i].n == want[i].n && same(&got[i], &want[i], want[i].n),
                              "%s on a shared runtime: threaded state differs (byte %zu)", method_name[ws[i].method],
                              first_diff(&got[i], &want[i]));
        world_free(&ws[0]);
        world_free(&ws[1]);
        size_t cur;
        lct_runtime_memory(rt, &cur, NULL);
        ck_assert_uint_eq(cur, 0);
        lct_runtime_free(rt);
    }
    for (size_t i = 0; i < 2; i++) free(want[i].d), free(got[i].d);
}
END_TEST

/* Error messages are thread-local: a failure in one thread does not show in another. */
static void *fail_here(void *arg)
{
    (void)arg;
    lct_error_clear();
    int rc = lct_runtime_set_threads(NULL, 1);
    return (void *)(intptr_t)(rc == LCT_EINVAL && strstr(lct_error_last(), "rt") != NULL);
}

START_TEST(test_thread_local_errors)
{
    lct_error_clear();
    pthread_t th;
    void *ok = NULL;
    ck_assert_int_eq(pthread_create(&th, NULL, fail_here, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &ok), 0);
    ck_assert(ok != NULL);
    ck_assert_str_eq(lct_error_last(), "");
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_own_runtimes);
    tcase_add_test(tc, test_shared_runtime);
    tcase_add_test(tc, test_thread_local_errors);
}

int main(void)
{
    return lct_test_main("threads", "threads", 300, add_tests);
}
