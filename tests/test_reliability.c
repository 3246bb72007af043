/*
 * Reliability: allocation failures inside a whole training step of every method.
 *
 * For each method the handles are built on a runtime whose allocator can be told to fail, after
 * one step of throw-away handles has grown the packing buffers the runtime keeps for its matrix
 * products (their failures are not errors: a product then runs without them); then the first step
 * is run with allocation 1, 2, ... N failing in turn (fresh handles for each N) until a step needs
 * fewer than N allocations. Every call of the step that fails must
 * return LCT_ENOMEM with a message, free what it took (runtime memory as before the call) and
 * change nothing (parameters, batch-norm statistics, gradients, optimiser state and counters,
 * bank rows and draws, loss Z, augmenter and dropout counters); trainable parameters, bank
 * rows and the optimiser's step count must still equal their values at the start of the step.
 * The host then retries the failed call, finishes the step and runs a second one, which must
 * allocate nothing: both must match, bit for bit, the same two steps on a runtime whose
 * allocations never failed.
 */
#include "train_world.h"

/* ---- the loop -------------------------------------------------------------------------------- */

/* Run one step; with `a` armed, check each failing call and retry it. Returns the failures seen. */
static int run_step(world *w, lct_test_alloc *a, long fail_at)
{
    snap start = {0}, before = {0}, after = {0};
    int failures = 0;
    if (a) take(&start, w, 1);
    if (a) lct_test_alloc_arm(a, fail_at);
    for (int j = 0; j < n_calls[w->method]; j++) {
        if (a) take(&before, w, 1);
        lct_error_clear();
        int rc = call(w, j);
        if (rc == LCT_OK) continue;
        ck_assert_msg(a != NULL && a->fail_at != 0, "%s step %d call %d failed without injection: %d %s",
                      method_name[w->method], w->step_no, j, rc, lct_error_last());
        ck_assert_msg(rc == LCT_ENOMEM, "%s call %d, allocation %ld failing: returned %d (%s)", method_name[w->method],
                      j, fail_at, rc, lct_error_last());
        ck_assert_msg(lct_error_last()[0] != '\0', "%s call %d left no message", method_name[w->method], j);
        lct_test_alloc_arm(a, 0);
        take(&after, w, 1);
        ck_assert_msg(after.n == before.n && same(&before, &after, before.n),
                      "%s call %d changed state or leaked after allocation %ld failed (byte %zu of %zu/%zu)",
                      method_name[w->method], j, fail_at, first_diff(&before, &after), before.n, after.n);
        ck_assert_msg(same(&start, &after, start.model_end),
                      "%s call %d: parameters, bank rows or step count moved in a step that failed",
                      method_name[w->method], j);
        failures++;
        must(call(w, j), "retry of the failed call");
    }
    if (a) lct_test_alloc_arm(a, 0);
    w->step_no++;
    free(start.d), free(before.d), free(after.d);
    return failures;
}

/* One step of a throw-away world: the runtime grows the packing buffers its products keep (they are
 * the runtime's, not the handles'), so that the steps checked below allocate for their handles only. */
static void warm(lct_runtime *rt, int method)
{
    world w;
    world_build(&w, rt, method);
    run_step(&w, NULL, 0);
    world_free(&w);
    ck_assert_int_gt(lct__test_control(LCT__TESTCTRL_SCRATCH_BLOCKS, rt), 0);
}

static void check_method(int method, unsigned threads)
{
    /* reference: two steps on a runtime that never fails */
    lct_runtime *ref_rt = lct_test_runtime(threads, 99);
    warm(ref_rt, method);
    world ref;
    world_build(&ref, ref_rt, method);
    run_step(&ref, NULL, 0);
    run_step(&ref, NULL, 0);
    snap want = {0};
    take(&want, &ref, 1);

    long n;
    int total_failures = 0;
    for (n = 1; n < 2000; n++) {
        lct_test_alloc a;
        lct_runtime *rt = lct_test_failing_runtime(&a, threads, 99);
        warm(rt, method);
        long base = a.live;
        world w;
        world_build(&w, rt, method);
        int failures = run_step(&w, &a, n);
        total_failures += failures;
        lct_test_alloc_arm(&a, 0); /* count the second step's allocations: a steady step makes none */
        run_step(&w, NULL, 0);
        ck_assert_msg(a.count == 0, "%s: the second step made %ld allocations", method_name[method], a.count);
        snap got = {0};
        take(&got, &w, 1);
        ck_assert_msg(got.n == want.n && same(&got, &want, want.n),
                      "%s: after allocation %ld failed and was retried, the two steps differ from the reference",
                      method_name[method], n);
        ck_assert_msg(w.loss_value[0] == ref.loss_value[0] && w.loss_value[1] == ref.loss_value[1],
                      "%s: losses %.9g %.9g differ from the reference %.9g %.9g (allocation %ld)", method_name[method],
                      (double)w.loss_value[0], (double)w.loss_value[1], (double)ref.loss_value[0],
                      (double)ref.loss_value[1], n);
        ck_assert(isfinite(w.loss_value[0]) && isfinite(w.loss_value[1]));
        free(got.d);
        world_free(&w);
        ck_assert_int_eq(a.live, base);
        lct_runtime_free(rt);
        ck_assert_int_eq(a.live, 0);
        if (failures == 0) break; /* the step needed fewer than n allocations */
    }
    printf("%s: the first step makes %ld allocations; each failed once, was retried, and matched\n",
           method_name[method], n - 1);
    ck_assert_msg(n > 1 && total_failures >= n - 1, "%s: %d failures over %ld runs", method_name[method],
                  total_failures, n);
    free(want.d);
    world_free(&ref);
    lct_runtime_free(ref_rt);
}

START_TEST(test_step_nce) { check_method(M_NCE, 2); }
END_TEST
START_TEST(test_step_npsoftmax) { check_method(M_NPSOFTMAX, 2); }
END_TEST
START_TEST(test_step_invaspread) { check_method(M_INVASPREAD, 2); }
END_TEST
START_TEST(test_step_cpc) { check_method(M_CPC, 2); }
END_TEST
START_TEST(test_step_cmc) { check_method(M_CMC, 2); }
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_step_nce);
    tcase_add_test(tc, test_step_npsoftmax);
    tcase_add_test(tc, test_step_invaspread);
    tcase_add_test(tc, test_step_cpc);
    tcase_add_test(tc, test_step_cmc);
}

int main(void)
{
    return lct_test_main("reliability", "allocation failures in a training step", 600, add_tests);
}
