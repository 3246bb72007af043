/*
 * API misuse matrix: every public function (lib/libcontrast.map) called with a NULL handle;
 * the computing calls with NULL buffers and sizes that overflow; every constructor with option
 * structs of unknown versions (0 and latest + 1) and with a version-1 struct at the very end of
 * a guarded page (no over-read); and every call that takes handles of two kinds with handles of
 * different runtimes. Each must return its documented code with a message naming the argument,
 * crash nothing and leak nothing. Bad values of single parameters are the module suites' job.
 */
#include "testutil.h"

#include "checkpoint/checkpoint_internal.h"
#include "core/internal.h"

/* The call returns `code` and the message names `needle`. */
#define EXPECT(call, code, needle) LCT_ASSERT_FAILS(call, code, needle)

/* ---- NULL handles ---------------------------------------------------------------------------- */

START_TEST(test_null_handles)
{
    float buf[16] = {0};
    int64_t idx[4] = {0};
    int32_t lab[4] = {0};
    size_t sz;
    uint64_t u;
    double dv;
    int iv;
    const char *s;
    uint32_t shape[3] = {1, 1, 1};

    /* runtime, GEMM, parameter sets */
    EXPECT(lct_runtime_new(NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_runtime_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_runtime_threads(NULL), LCT_EINVAL, "rt");
    EXPECT(lct_runtime_set_threads(NULL, 1), LCT_EINVAL, "rt");
    EXPECT(lct_runtime_memory(NULL, &sz, NULL), LCT_EINVAL, "rt");
    EXPECT(lct_gemm(NULL, 0, 0, 1, 1, 1, 1.0f, buf, 1, buf, 1, 0.0f, buf, 1), LCT_EINVAL, "rt");
    ck_assert_uint_eq(lct_runtime_seed(NULL), 0);
    EXPECT(lct_runtime_get_seed(NULL, &u), LCT_EINVAL, "rt");
    iv = 7;
    ck_assert_str_eq(lct_runtime_kernel(NULL, &iv), "");
    EXPECT(lct_params_count(NULL), LCT_EINVAL, "p");
    EXPECT(lct_params_info(NULL, 0, &s, &sz, &iv), LCT_EINVAL, "p");
    EXPECT(lct_params_total(NULL, &sz), LCT_EINVAL, "p");
    EXPECT(lct_params_get(NULL, 0, buf, 1), LCT_EINVAL, "p");
    EXPECT(lct_params_set(NULL, 0, buf, 1), LCT_EINVAL, "p");
    EXPECT(lct_params_get_grad(NULL, 0, buf, 1), LCT_EINVAL, "p");
    EXPECT(lct_params_zero_grad(NULL), LCT_EINVAL, "p");

    /* encoder */
    lct_encoder *enc = NULL;
    EXPECT(lct_encoder_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_encoder_new(NULL, NULL, shape, 1, NULL), LCT_EINVAL, "out");
    EXPECT(lct_encoder_new(&enc, NULL, shape, 1, NULL), LCT_EINVAL, "rt");
    EXPECT(lct_encoder_new_from_spec(NULL, NULL, "in 1", NULL), LCT_EINVAL, "out");
    EXPECT(lct_encoder_add_linear(NULL, 1, 1), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_conv2d(NULL, 1, 1, 1, 0, 1), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_conv1d(NULL, 1, 1, 1, 0, 1), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_batchnorm(NULL, 0.1f, 1e-5f), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_relu(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_maxpool(NULL, 2, 2), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_avgpool(NULL, 2, 2), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_global_avgpool(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_flatten(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_transpose(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_dropout(NULL, 0.5f), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_l2norm(NULL, 1e-12f), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_add_gru(NULL, 4), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_set_mode(NULL, 0), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_get_mode(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_set_precision(NULL, LCT_PRECISION_FP32), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_get_precision(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_forward(NULL, buf, 1, buf), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_backward(NULL, buf, 1, buf), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_zero_grad(NULL), LCT_EINVAL, "enc");
    ck_assert_ptr_null(lct_encoder_params(NULL));
    EXPECT(lct_encoder_seal(NULL), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_input_shape(NULL, shape, 3, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_output_shape(NULL, shape, 3, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_input_size(NULL, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_output_size(NULL, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_layer_count(NULL, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_param_count(NULL, &sz, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_workspace_bytes(NULL, 1, &sz), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_cost(NULL, 1, &u, &u, &sz), LCT_EINVAL, "enc");
    ck_assert_ptr_null(lct_encoder_spec(NULL));
    EXPECT(lct_encoder_step(NULL, &u), LCT_EINVAL, "enc");
    EXPECT(lct_encoder_set_step(NULL, 0), LCT_EINVAL, "enc");

    /* optimizer */
    EXPECT(lct_optimizer_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_optimizer_new(NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_optimizer_attach(NULL, NULL), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_step(NULL), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_zero_grad(NULL), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_lr(NULL, &dv), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_step_count(NULL, &u), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_set_step_count(NULL, 0), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_set_param(NULL, LCT_OPTIMIZER_LR, 0.1), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_get_param(NULL, LCT_OPTIMIZER_LR, &dv), LCT_EINVAL, "opt");
    EXPECT(lct_optimizer_param_bounds(-1, &dv, &dv), LCT_EINVAL, "param");
    EXPECT(lct_optimizer_set_milestones(NULL, &u, 1), LCT_EINVAL, "opt");
    ck_assert_ptr_null(lct_optimizer_state(NULL));

    /* bank and kNN */
    EXPECT(lct_bank_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_bank_bytes(1, 1, LCT_BANK_FP32, NULL), LCT_EINVAL, "bytes");
    EXPECT(lct_bank_new(NULL, NULL, 1, 1, NULL), LCT_EINVAL, "out");
    EXPECT(lct_bank_info(NULL, &sz, &sz, &iv), LCT_EINVAL, "bank");
    EXPECT(lct_bank_get_rows(NULL, 0, 1, buf), LCT_EINVAL, "bank");
    EXPECT(lct_bank_set_rows(NULL, 0, 1, buf), LCT_EINVAL, "bank");
    EXPECT(lct_bank_gather(NULL, idx, 1, buf), LCT_EINVAL, "bank");
    EXPECT(lct_bank_sample(NULL, idx, 1, 1, 0, idx), LCT_EINVAL, "bank");
    EXPECT(lct_bank_similarity(NULL, buf, 1, idx, idx, 1, 0, buf), LCT_EINVAL, "bank");
    EXPECT(lct_bank_similarity_all(NULL, buf, 1, 0, 1, buf, 1), LCT_EINVAL, "bank");
    EXPECT(lct_bank_update_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_bank_update(NULL, buf, idx, 1, 0.5f), LCT_EINVAL, "bank");
    EXPECT(lct_bank_update_ex(NULL, buf, idx, 1, NULL), LCT_EINVAL, "bank");
    EXPECT(lct_bank_proximal(NULL, buf, idx, 1, 1.0f, buf, &dv), LCT_EINVAL, "bank");
    EXPECT(lct_knn_topk(NULL, buf, 1, 1, buf, 1, 1, idx, buf), LCT_EINVAL, "rt");
    EXPECT(lct_knn_topk_bank(NULL, buf, 1, 1, idx, buf), LCT_EINVAL, "bank");
    EXPECT(lct_knn_classify(NULL, buf, lab, 1, 1, buf, 1, 1, 0.07f, 1, lab, buf), LCT_EINVAL, "rt");
    EXPECT(lct_knn_classify_bank(NULL, lab, buf, 1, 1, 0.07f, 1, lab, buf), LCT_EINVAL, "bank");

    /* augmenter */
    EXPECT(lct_augmenter_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_augmenter_new(NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_augmenter_sizes(NULL, &sz, &sz), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_op_count(NULL), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_clear(NULL), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_preset(NULL, LCT_AUG_PRESET_INSTDISC), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_random_resized_crop(NULL, 1, 0.2, 1, 0.75, 1.33), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_hflip(NULL, 0.5), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_color_jitter(NULL, 1, 0.4, 0.4, 0.4, 0.1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_grayscale(NULL, 0.2), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_gaussian_blur(NULL, 0.5, 0.1, 2.0), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_gaussian_noise(NULL, 0.5, 0.1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_normalize(NULL, buf, buf, 1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_window_crop(NULL, 1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_gain(NULL, 1, -6, 6), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_time_mask(NULL, 1, 1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_add_time_shift(NULL, 1, 1), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_apply(NULL, buf, 1, 1, buf), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_get_counter(NULL, &u), LCT_EINVAL, "aug");
    EXPECT(lct_augmenter_set_counter(NULL, 0), LCT_EINVAL, "aug");

    /* losses */
    EXPECT(lct_loss_nce_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_loss_npsoftmax_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_loss_invaspread_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_loss_infonce_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_loss_cmc_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_loss_new_nce(NULL, NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_loss_new_npsoftmax(NULL, NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_loss_new_invaspread(NULL, NULL, 4, NULL), LCT_EINVAL, "out");
    EXPECT(lct_loss_new_infonce(NULL, NULL, 4, 4, 4, NULL), LCT_EINVAL, "out");
    EXPECT(lct_loss_new_cmc(NULL, NULL, 2, 4, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_loss_get_kind(NULL), LCT_EINVAL, "loss");
    EXPECT(lct_loss_set_param(NULL, LCT_LOSS_PARAM_TEMPERATURE, 0.1), LCT_EINVAL, "loss");
    EXPECT(lct_loss_get_param(NULL, LCT_LOSS_PARAM_TEMPERATURE, &dv), LCT_EINVAL, "loss");
    EXPECT(lct_loss_param_bounds(NULL, LCT_LOSS_PARAM_TEMPERATURE, &dv, &dv), LCT_EINVAL, "loss");
    EXPECT(lct_loss_get_log_z(NULL, 0, &dv, NULL), LCT_EINVAL, "loss");
    EXPECT(lct_loss_set_log_z(NULL, 0, 1.0), LCT_EINVAL, "loss");
    EXPECT(lct_loss_reset_z(NULL), LCT_EINVAL, "loss");
    ck_assert_ptr_null(lct_loss_params(NULL));
    EXPECT(lct_loss_workspace_bytes(NULL, 1, &sz), LCT_EINVAL, "loss");
    EXPECT(lct_loss_cost(NULL, 1, &u, &sz), LCT_EINVAL, "loss");
    float lv;
    const float *views[2] = {buf, buf};
    float *grads[2] = {buf, buf};
    EXPECT(lct_loss_nce_compute(NULL, buf, idx, 1, &lv, buf), LCT_EINVAL, "loss");
    EXPECT(lct_loss_nce_compute_pos(NULL, buf, buf, idx, 1, &lv, buf, buf), LCT_EINVAL, "loss");
    EXPECT(lct_loss_npsoftmax_compute(NULL, buf, idx, 1, &lv, buf), LCT_EINVAL, "loss");
    EXPECT(lct_loss_invaspread_compute(NULL, buf, 1, &lv, buf), LCT_EINVAL, "loss");
    EXPECT(lct_loss_infonce_compute(NULL, buf, buf, 1, &lv, buf, buf, buf), LCT_EINVAL, "loss");
    EXPECT(lct_loss_cmc_compute(NULL, views, idx, 1, &lv, grads), LCT_EINVAL, "loss");

    /* replay and novelty */
    lct_replay *rp = NULL;
    lct_novelty *nv = NULL;
    EXPECT(lct_replay_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_replay_bytes(1, shape, 1, NULL, NULL), LCT_EINVAL, "bytes");
    EXPECT(lct_replay_new(NULL, NULL, 1, shape, 1, NULL), LCT_EINVAL, "out");
    EXPECT(lct_replay_new(&rp, NULL, 1, shape, 1, NULL), LCT_EINVAL, "rt");
    EXPECT(lct_replay_info(NULL, &sz, &sz, &u, &sz), LCT_EINVAL, "rp");
    EXPECT(lct_replay_bind_bank(NULL, NULL), LCT_EINVAL, "rp");
    EXPECT(lct_replay_insert(NULL, buf, 1, NULL, idx), LCT_EINVAL, "rp");
    EXPECT(lct_replay_sample(NULL, 1, buf, idx), LCT_EINVAL, "rp");
    EXPECT(lct_replay_get(NULL, idx, 1, buf, NULL), LCT_EINVAL, "rp");
    EXPECT(lct_replay_touch(NULL, idx, 1), LCT_EINVAL, "rp");
    EXPECT(lct_novelty_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_novelty_new(NULL, NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_novelty_new(&nv, NULL, NULL, NULL), LCT_EINVAL, "rt");
    EXPECT(lct_novelty_score(NULL, buf, 1, 1, buf, buf), LCT_EINVAL, "nv");
    EXPECT(lct_novelty_stats(NULL, &dv, &dv, &u), LCT_EINVAL, "nv");
    EXPECT(lct_novelty_reset(NULL), LCT_EINVAL, "nv");
    ck_assert(rp == NULL && nv == NULL);

    /* checkpoint and .npy */
    EXPECT(lct_checkpoint_options_init(NULL, 1), LCT_EINVAL, "opts");
    EXPECT(lct_checkpoint_writer_new(NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_checkpoint_add_params(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_add_meta(NULL, "a", "b"), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_add_counter(NULL, "a", 1), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_add_runtime(NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_add_blob(NULL, "a", LCT_CHECKPOINT_TYPE_USER, buf, 4), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_write_file(NULL, "/nonexistent/x"), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_write_cb(NULL, NULL, NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_reader_open_file(NULL, NULL, "x"), LCT_EINVAL, "out");
    EXPECT(lct_checkpoint_reader_open_cb(NULL, NULL, NULL, NULL), LCT_EINVAL, "out");
    EXPECT(lct_checkpoint_reader_open_memory(NULL, NULL, buf, 4), LCT_EINVAL, "out");
    EXPECT(lct_checkpoint_reader_format_version(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_section_count(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_section_info(NULL, 0, &s, NULL, NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_find(NULL, "a"), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_load_params(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_load_runtime(NULL, NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_get_meta(NULL, "a", &s), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_meta_count(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_meta_at(NULL, 0, &s, &s), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_get_counter(NULL, "a", &u), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_read_blob(NULL, "a", LCT_CHECKPOINT_TYPE_USER, buf, 4), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_reader_begin(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_reader_commit(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_reader_rollback(NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_encoder(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_encoder(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_new_encoder(NULL, "a", NULL, &enc), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_optimizer(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_optimizer(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_bank(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_bank(NULL, "a", NULL), LCT_EINVAL, "r");
    lct_bank *bank = NULL;
    EXPECT(lct_checkpoint_new_bank(NULL, "a", NULL, &bank), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_loss(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_loss(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_augmenter(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_augmenter(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_replay(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_replay(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_checkpoint_add_novelty(NULL, "a", NULL), LCT_EINVAL, "w");
    EXPECT(lct_checkpoint_load_novelty(NULL, "a", NULL), LCT_EINVAL, "r");
    EXPECT(lct_npy_write(NULL, buf, 1, 1), LCT_EINVAL, "path");
    EXPECT(lct_npy_write_vector(NULL, buf, 1), LCT_EINVAL, "path");
    EXPECT(lct_npy_info(NULL, &sz, &sz, shape), LCT_EINVAL, "path");
    EXPECT(lct_npy_read(NULL, buf, 1, 1), LCT_EINVAL, "path");
    float *data = NULL;
    EXPECT(lct_npy_read_alloc(NULL, "x", &data, &sz, &sz), LCT_EINVAL, "rt");

    /* every free accepts NULL; status strings and the version never fail */
    lct_runtime_free(NULL);
    lct_encoder_free(NULL);
    lct_optimizer_free(NULL);
    lct_bank_free(NULL);
    lct_augmenter_free(NULL);
    lct_loss_free(NULL);
    lct_replay_free(NULL);
    lct_novelty_free(NULL);
    lct_checkpoint_writer_free(NULL);
    lct_checkpoint_reader_free(NULL);
    lct_npy_free(NULL, NULL);
    ck_assert_str_eq(lct_status_string(-999), "unknown status");
    ck_assert_str_eq(lct_status_string(1), "unknown status");
    for (int code = LCT_EMISMATCH; code <= LCT_OK; code++) ck_assert_str_ne(lct_status_string(code), "unknown status");
    lct_error_clear();
    ck_assert_ptr_nonnull(lct_error_last());
    ck_assert_str_eq(lct_error_last(), "");
    ck_assert_int_eq(lct_version_number(), LCT_VERSION_NUMBER);
    ck_assert_str_eq(lct_version_string(), LCT_VERSION_STRING);
}
END_TEST

/* ---- NULL buffers and sizes that overflow, on valid handles ------------------------------------ */

START_TEST(test_null_buffers_and_huge_sizes)
{
    lct_runtime *rt = lct_test_runtime(1, 3);
    lct_encoder *enc;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt, "in 4; linear 4; l2norm", NULL), LCT_OK);
    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 8, 4, NULL), LCT_OK);
    lct_augmenter *aug;
    ck_assert_int_eq(lct_augmenter_new(&aug, rt, NULL), LCT_OK);
    lct_loss *nce, *inva;
    ck_assert_int_eq(lct_loss_new_nce(&nce, rt, bank, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_new_invaspread(&inva, rt, 4, NULL), LCT_OK);
    float buf[64] = {0}, lv;
    int64_t idx[4] = {0, 1, 2, 3};
    size_t sz;
    const size_t huge = SIZE_MAX / 2 + 1, before = lct_test_bytes(rt);

    EXPECT(lct_encoder_forward(enc, NULL, 1, buf), LCT_EINVAL, "x");
    EXPECT(lct_encoder_forward(enc, buf, 1, NULL), LCT_EINVAL, "y");
    EXPECT(lct_encoder_forward(enc, buf, 0, buf), LCT_EINVAL, "batch");
    EXPECT(lct_encoder_forward(enc, buf, huge, buf), LCT_ESHAPE, "overflows");
    EXPECT(lct_encoder_backward(enc, NULL, 1, buf), LCT_EINVAL, "dy");
    EXPECT(lct_encoder_workspace_bytes(enc, huge, &sz), LCT_ESHAPE, "overflow");
    EXPECT(lct_bank_get_rows(bank, 0, 1, NULL), LCT_EINVAL, "out");
    EXPECT(lct_bank_get_rows(bank, huge, huge, buf), LCT_ERANGE, "");
    EXPECT(lct_bank_set_rows(bank, SIZE_MAX, 2, buf), LCT_ERANGE, "");
    EXPECT(lct_bank_gather(bank, NULL, 1, buf), LCT_EINVAL, "idx");
    EXPECT(lct_bank_sample(bank, idx, huge, huge, LCT_BANK_SAMPLE_REPLACE, idx), LCT_ESHAPE, "");
    EXPECT(lct_bank_similarity_all(bank, buf, huge, 0, 8, buf, 8), LCT_ESHAPE, "");
    EXPECT(lct_bank_update(bank, NULL, idx, 1, 0.5f), LCT_EINVAL, "f");
    EXPECT(lct_bank_update(bank, buf, idx, huge, 0.5f), LCT_ESHAPE, "overflows");
    EXPECT(lct_bank_bytes(SIZE_MAX, SIZE_MAX, LCT_BANK_FP32, &sz), LCT_EINVAL, "n is");
    ck_assert_int_eq(lct_bank_bytes((size_t)1 << 40, 65536, LCT_BANK_FP32, &sz), LCT_OK); /* the largest: no overflow */
    EXPECT(lct_knn_topk(rt, buf, huge, 4, buf, 1, 1, idx, NULL), LCT_ESHAPE, "");
    EXPECT(lct_knn_topk(rt, NULL, 4, 4, buf, 1, 1, idx, NULL), LCT_EINVAL, "features");
    EXPECT(lct_gemm(rt, 0, 0, huge, huge, 2, 1.0f, buf, 2, buf, huge, 0.0f, buf, huge), LCT_ESHAPE, "");
    EXPECT(lct_augmenter_apply(aug, NULL, 1, 1, buf), LCT_EINVAL, "in");
    EXPECT(lct_augmenter_apply(aug, buf, huge, 2, buf), LCT_ESHAPE, "overflows");
    EXPECT(lct_loss_nce_compute(nce, NULL, idx, 1, &lv, buf), LCT_EINVAL, "f");
    EXPECT(lct_loss_nce_compute(nce, buf, NULL, 1, &lv, buf), LCT_EINVAL, "idx");
    EXPECT(lct_loss_nce_compute(nce, buf, idx, 1, NULL, buf), LCT_EINVAL, "loss_out");
    EXPECT(lct_loss_nce_compute(nce, buf, idx, huge, &lv, buf), LCT_EINVAL, "batch"); /* above the loss limit 2^24 */
    EXPECT(lct_loss_invaspread_compute(inva, NULL, 2, &lv, buf), LCT_EINVAL, "x");
    EXPECT(lct_loss_invaspread_compute(inva, buf, huge, &lv, buf), LCT_EINVAL, "batch");
    EXPECT(lct_loss_workspace_bytes(nce, huge, &sz), LCT_ESHAPE, "");
    EXPECT(lct_loss_workspace_bytes(nce, 1, NULL), LCT_EINVAL, "bytes");
    EXPECT(lct_params_get(lct_encoder_params(enc), 0, buf, 3), LCT_ESHAPE, "");
    EXPECT(lct_params_get(lct_encoder_params(enc), 99, buf, 3), LCT_ERANGE, "");

    /* zero sizes */
    EXPECT(lct_bank_gather(bank, idx, 0, buf), LCT_EINVAL, "count");
    EXPECT(lct_bank_update(bank, buf, idx, 0, 0.5f), LCT_EINVAL, "batch");
    EXPECT(lct_bank_sample(bank, idx, 1, 0, LCT_BANK_SAMPLE_REPLACE, idx), LCT_EINVAL, "k");
    EXPECT(lct_knn_topk(rt, buf, 4, 4, buf, 1, 0, idx, NULL), LCT_EINVAL, "k");
    EXPECT(lct_augmenter_apply(aug, buf, 0, 1, buf), LCT_EINVAL, "batch");
    EXPECT(lct_augmenter_apply(aug, buf, 1, 0, buf), LCT_EINVAL, "n_views");
    EXPECT(lct_loss_nce_compute(nce, buf, idx, 0, &lv, buf), LCT_EINVAL, "batch");
    EXPECT(lct_loss_invaspread_compute(inva, buf, 0, &lv, buf), LCT_EINVAL, "batch");
    EXPECT(lct_encoder_workspace_bytes(enc, 0, &sz), LCT_EINVAL, "batch");

    ck_assert_uint_eq(lct_test_bytes(rt), before); /* refused calls allocate nothing */
    lct_loss_free(inva);
    lct_loss_free(nce);
    lct_augmenter_free(aug);
    lct_bank_free(bank);
    lct_encoder_free(enc);
    lct_test_assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- counts that no buffer can hold, with buffers that end at an inaccessible page ------------- */

/*
 * Issue 20's audit: every call whose count, multiplied by the size of what it reads or writes,
 * asks for more than any buffer can hold (PTRDIFF_MAX bytes) is refused before it touches memory.
 * Each of these calls used to pass its overflow check (which bounded the product by SIZE_MAX or
 * checked only one of its buffers) and read on past the caller's buffer; the buffers here end at
 * an inaccessible page, so that would crash the test, with or without a sanitizer.
 */
START_TEST(test_counts_past_any_buffer)
{
    lct_runtime *rt = lct_test_runtime(1, 4);
    lct_test_guard gf, gi, go;
    float *f = lct_test_guarded(&gf, 256 * sizeof *f);
    int64_t *idx = lct_test_guarded(&gi, 256 * sizeof *idx);
    float *out = lct_test_guarded(&go, 256 * sizeof *out);
    memset(f, 0, 256 * sizeof *f);
    memset(idx, 0, 256 * sizeof *idx);
    lct_bank *thin;
    ck_assert_int_eq(lct_bank_new(&thin, rt, 50, 1, NULL), LCT_OK);
    lct_encoder *big;
    ck_assert_int_eq(lct_encoder_new_from_spec(&big, rt, "in 65536x65536x256", NULL), LCT_OK);
    lct_augmenter_options ao;
    lct_augmenter_options_init(&ao, LCT_AUGMENTER_OPTIONS_VERSION);
    ao.input = LCT_AUG_SIGNAL_F32, ao.channels = 1, ao.height = 1, ao.width = INT32_MAX, ao.out_width = 1;
    lct_augmenter *sig;
    ck_assert_int_eq(lct_augmenter_new(&sig, rt, &ao), LCT_OK);
    lct_comm *self;
    ck_assert_int_eq(lct_comm_new_self(&self, rt), LCT_OK);
    int32_t *lab = (int32_t *)(void *)idx, *pred = (int32_t *)(void *)out;
    const size_t p61 = (size_t)1 << 61, p62 = (size_t)1 << 62, half = SIZE_MAX / 2 + 1;
    size_t before, after;
    lct_runtime_memory(rt, &before, NULL);

    /* a bank of D = 1: rows fit, the indices (8 bytes each) do not */
    EXPECT(lct_bank_gather(thin, idx, p61, out), LCT_ESHAPE, "overflows");
    EXPECT(lct_bank_update(thin, f, idx, p61, 0.5f), LCT_ESHAPE, "overflows");
    EXPECT(lct_bank_proximal(thin, f, idx, p61, 1.0f, NULL, NULL), LCT_ESHAPE, "overflows");
    EXPECT(lct_bank_similarity(thin, f, (size_t)1 << 58, idx, idx, 8, LCT_BANK_SAMPLE_REPLACE, out), LCT_ESHAPE,
           "overflows");
    EXPECT(lct_bank_sample(thin, idx, (size_t)1 << 60, 1, LCT_BANK_SAMPLE_SHARED_EXCLUDE, idx), LCT_ESHAPE,
           "overflows");
    /* kNN over 2^61 features of one float: 2^63 bytes */
    EXPECT(lct_knn_topk(rt, f, p61, 1, f, 1, 1, idx, out), LCT_ESHAPE, "overflow");
    EXPECT(lct_knn_classify(rt, f, lab, p61, 1, f, 1, 1, 0.07f, 2, pred, NULL), LCT_ESHAPE, "overflow");
    /* 2^59 queries of one float fit, their scores over 5 classes do not: the queries used to be read first
     * (found by fuzz_api) */
    EXPECT(lct_knn_classify(rt, f, lab, 50, 1, f, (size_t)1 << 59, 1, 0.07f, 5, pred, out), LCT_ESHAPE, "overflows");
    EXPECT(lct_knn_classify_bank(thin, lab, f, (size_t)1 << 59, 1, 0.07f, 5, pred, out), LCT_ESHAPE, "overflows");
    /* an encoder with 2^40 floats per sample: 2^21 samples are 2^63 bytes */
    EXPECT(lct_encoder_forward(big, f, (size_t)1 << 21, out), LCT_ESHAPE, "overflows");
    /* a signal augmenter with long inputs and one-float outputs: the input overflows, the output does not */
    EXPECT(lct_augmenter_apply(sig, f, (size_t)1 << 33, 1, out), LCT_ESHAPE, "overflows");
    /* GEMM: each size below its limit, but A (2^31 rows, 2^31 apart) or C is larger than memory */
    EXPECT(lct_gemm(rt, 0, 0, (size_t)1 << 31, 1, 1, 1.0f, f, (size_t)1 << 31, f, 1, 0.0f, out, 1), LCT_ESHAPE,
           "larger than any buffer");
    EXPECT(lct_gemm(rt, 0, 0, (size_t)1 << 31, 1, 0, 1.0f, f, 1, f, 1, 0.0f, out, (size_t)1 << 31), LCT_ESHAPE,
           "larger than any buffer");
    /* collectives, .npy export and checkpoints */
    EXPECT(lct_comm_allreduce_sum(self, f, p62), LCT_ESHAPE, "overflow");
    EXPECT(lct_comm_allgather(self, f, out, half), LCT_ESHAPE, "overflows");
    EXPECT(lct_comm_broadcast(self, f, half, 0), LCT_ESHAPE, "larger than any buffer");
    EXPECT(lct_npy_write("/nonexistent/lct_misuse.npy", f, p61, 1), LCT_ESHAPE, "overflows");
    EXPECT(lct_npy_write_vector("/nonexistent/lct_misuse.npy", f, p61), LCT_ESHAPE, "overflows");
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    size_t with_writer;
    lct_runtime_memory(rt, &with_writer, NULL);
    EXPECT(lct_checkpoint_add_blob(w, "host", LCT_CHECKPOINT_TYPE_USER, f, (size_t)1 << 41), LCT_EINVAL, "size");
    lct_runtime_memory(rt, &after, NULL);
    ck_assert_uint_eq(after, with_writer);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r = NULL;
    EXPECT(lct_checkpoint_reader_open_memory(&r, rt, f, half), LCT_EINVAL, "size");
    /* a spec whose weight sum wrapped around to a small store, then filled past it */
    lct_encoder *e = NULL;
    EXPECT(lct_encoder_new_from_spec(&e, rt, "in 4294967295; linear 2147483648", NULL), LCT_ESHAPE, "overflow");
    ck_assert_ptr_null(e);

    ck_assert_uint_eq(lct_test_bytes(rt), before); /* refused calls allocate nothing */
    lct_comm_free(self);
    lct_augmenter_free(sig);
    lct_encoder_free(big);
    lct_bank_free(thin);
    lct_test_unguard(&gf);
    lct_test_unguard(&gi);
    lct_test_unguard(&go);
    lct_test_assert_no_memory(rt);
    lct_runtime_free(rt);
}
END_TEST

/* ---- option-struct versions ----------------------------------------------------------------- */

/* Run `body` three times with `o` (a `type *`) set up as: version 1 at the end of a guarded
 * page (must succeed), version 0 and latest+1 (LCT_EVERSION naming opts->version). */
#define VERSIONS(type, init, latest, body)                                                        \
    do {                                                                                          \
        lct_test_guard g_;                                                                        \
        type *o = lct_test_guarded(&g_, sizeof(type));                                            \
        ck_assert_int_eq(init(o, 1), LCT_OK);                                                     \
        lct_error_clear();                                                                        \
        {                                                                                         \
            int rc = (body);                                                                      \
            ck_assert_msg(rc == LCT_OK, #type " v1: %d %s", rc, lct_error_last());                 \
        }                                                                                         \
        o->version = 0;                                                                           \
        EXPECT(body, LCT_EVERSION, "opts->version is 0");                                         \
        o->version = (latest) + 1;                                                                \
        EXPECT(body, LCT_EVERSION, "opts->version");                                              \
        EXPECT(init(o, (latest) + 1), LCT_EVERSION, "version");                                   \
        EXPECT(init(o, 0), LCT_EVERSION, "version");                                              \
        lct_test_unguard(&g_);                                                                    \
    } while (0)

static lct_runtime *vrt;
static lct_bank *vbank, *vbanks[2];
static lct_encoder *venc;
static lct_optimizer *vopt;
static lct_augmenter *vaug;
static lct_loss *vloss;
static lct_checkpoint_writer *vw;
static lct_runtime *vrt2;

static int keep_enc(int rc)
{
    lct_encoder_free(venc);
    venc = NULL;
    return rc;
}

START_TEST(test_option_versions)
{
    vrt = lct_test_runtime(1, 5);
    ck_assert_int_eq(lct_bank_new(&vbank, vrt, 8, 4, NULL), LCT_OK);
    vbanks[0] = vbanks[1] = vbank;
    uint32_t shape[1] = {4};
    float f[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    int64_t idx[2] = {1, 2};

    VERSIONS(lct_runtime_options, lct_runtime_options_init, LCT_RUNTIME_OPTIONS_VERSION,
             (lct_runtime_free(vrt2), vrt2 = NULL, lct_runtime_new(&vrt2, o)));
    VERSIONS(lct_encoder_options, lct_encoder_options_init, LCT_ENCODER_OPTIONS_VERSION,
             keep_enc(lct_encoder_new(&venc, vrt, shape, 1, o)));
    VERSIONS(lct_encoder_options, lct_encoder_options_init, LCT_ENCODER_OPTIONS_VERSION,
             keep_enc(lct_encoder_new_from_spec(&venc, vrt, "in 4; relu", o)));
    VERSIONS(lct_optimizer_options, lct_optimizer_options_init, LCT_OPTIMIZER_OPTIONS_VERSION,
             (lct_optimizer_free(vopt), vopt = NULL, lct_optimizer_new(&vopt, vrt, o)));
    vbanks[1] = NULL;
    VERSIONS(lct_bank_options, lct_bank_options_init, LCT_BANK_OPTIONS_VERSION,
             (lct_bank_free(vbanks[1]), vbanks[1] = NULL, lct_bank_new(&vbanks[1], vrt, 4, 4, o)));
    lct_bank_free(vbanks[1]);
    vbanks[1] = vbank;
    VERSIONS(lct_bank_update_options, lct_bank_update_options_init, LCT_BANK_UPDATE_OPTIONS_VERSION,
             lct_bank_update_ex(vbank, f, idx, 2, o));
    VERSIONS(lct_augmenter_options, lct_augmenter_options_init, LCT_AUGMENTER_OPTIONS_VERSION,
             (lct_augmenter_free(vaug), vaug = NULL, lct_augmenter_new(&vaug, vrt, o)));
    VERSIONS(lct_loss_nce_options, lct_loss_nce_options_init, LCT_LOSS_NCE_OPTIONS_VERSION,
             (lct_loss_free(vloss), vloss = NULL, lct_loss_new_nce(&vloss, vrt, vbank, o)));
    VERSIONS(lct_loss_npsoftmax_options, lct_loss_npsoftmax_options_init, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION,
             (lct_loss_free(vloss), vloss = NULL, lct_loss_new_npsoftmax(&vloss, vrt, vbank, o)));
    VERSIONS(lct_loss_invaspread_options, lct_loss_invaspread_options_init, LCT_LOSS_INVASPREAD_OPTIONS_VERSION,
             (lct_loss_free(vloss), vloss = NULL, lct_loss_new_invaspread(&vloss, vrt, 4, o)));
    VERSIONS(lct_loss_infonce_options, lct_loss_infonce_options_init, LCT_LOSS_INFONCE_OPTIONS_VERSION,
             (lct_loss_free(vloss), vloss = NULL, lct_loss_new_infonce(&vloss, vrt, 16, 4, 4, o)));
    VERSIONS(lct_loss_cmc_options, lct_loss_cmc_options_init, LCT_LOSS_CMC_OPTIONS_VERSION,
             (lct_loss_free(vloss), vloss = NULL, lct_loss_new_cmc(&vloss, vrt, 2, 4, vbanks, o)));
    static const uint32_t rshape[1] = {4};
    static lct_replay *vrp;
    static lct_novelty *vnv;
    size_t vbytes;
    VERSIONS(lct_replay_options, lct_replay_options_init, LCT_REPLAY_OPTIONS_VERSION,
             (lct_replay_free(vrp), vrp = NULL, lct_replay_new(&vrp, vrt, 4, rshape, 1, o)));
    VERSIONS(lct_replay_options, lct_replay_options_init, LCT_REPLAY_OPTIONS_VERSION,
             lct_replay_bytes(4, rshape, 1, o, &vbytes));
    VERSIONS(lct_novelty_options, lct_novelty_options_init, LCT_NOVELTY_OPTIONS_VERSION,
             (lct_novelty_free(vnv), vnv = NULL, lct_novelty_new(&vnv, vrt, vbank, o)));
    lct_replay_free(vrp);
    lct_novelty_free(vnv);
    VERSIONS(lct_checkpoint_options, lct_checkpoint_options_init, LCT_CHECKPOINT_OPTIONS_VERSION,
             (lct_checkpoint_writer_free(vw), vw = NULL, lct_checkpoint_writer_new(&vw, vrt, o)));

    /* an older struct at the very end of a page: init and create read and write its bytes only */
    {
        lct_test_guard g;
        size_t v1 = lct__options_size(LCT__OPT_RUNTIME, 1);
        ck_assert_uint_lt(v1, sizeof(lct_runtime_options));
        lct_runtime_options *o = lct_test_guarded(&g, v1);
        ck_assert_int_eq(lct_runtime_options_init(o, 1), LCT_OK);
        ck_assert_uint_eq(o->threads, 1);
        lct_runtime *old = NULL;
        ck_assert_int_eq(lct_runtime_new(&old, o), LCT_OK);
        lct_runtime_free(old);
        lct_test_unguard(&g);
    }

    /* the helper itself: sizes by version, nothing for unknown versions or kinds */
    ck_assert_uint_eq(lct__options_size(LCT__OPT_ENCODER, 1), sizeof(lct_encoder_options));
    ck_assert_uint_eq(lct__options_size(LCT__OPT_LOSS_CMC, 1), sizeof(lct_loss_cmc_options));
    ck_assert_uint_eq(lct__options_size(LCT__OPT_ENCODER, 0), 0);
    ck_assert_uint_eq(lct__options_size(LCT__OPT_ENCODER, LCT_ENCODER_OPTIONS_VERSION + 1), 0);
    ck_assert_uint_eq(lct__options_size(LCT__OPT_COUNT, 1), 0);
    for (int k = 0; k < LCT__OPT_COUNT; k++) {
        ck_assert_uint_ge(lct__options_latest(k), 1);
        for (uint32_t v = 1; v <= lct__options_latest(k); v++) {
            size_t n = lct__options_size(k, v);
            ck_assert(n >= sizeof(uint32_t) && (v == 1 || n >= lct__options_size(k, v - 1)));
        }
    }
    /* a copy takes the caller's bytes and keeps the defaults after them */
    lct_loss_cmc_options dst, src;
    lct_loss_cmc_options_init(&dst, LCT_LOSS_CMC_OPTIONS_VERSION);
    memset(&src, 0x5a, sizeof src);
    src.version = 1;
    ck_assert_int_eq(lct__options_load(LCT__OPT_LOSS_CMC, &dst, &src, "t"), LCT_OK);
    ck_assert_mem_eq(&dst, &src, lct__options_size(LCT__OPT_LOSS_CMC, 1));
    ck_assert_int_eq(lct__options_load(LCT__OPT_LOSS_CMC, &dst, NULL, "t"), LCT_OK);

    lct_checkpoint_writer_free(vw);
    lct_loss_free(vloss);
    lct_augmenter_free(vaug);
    lct_optimizer_free(vopt);
    lct_bank_free(vbank);
    lct_runtime_free(vrt2);
    size_t cur;
    lct_runtime_memory(vrt, &cur, NULL);
    ck_assert_uint_eq(cur, 0);
    lct_runtime_free(vrt);
}
END_TEST

/* ---- handles from different runtimes ------------------------------------------------------- */

/* Write w (and free it) to a new temporary file and open that on rt; the file is removed at once. */
static lct_checkpoint_reader *reopen(lct_checkpoint_writer *w, lct_runtime *rt)
{
    char path[] = "/tmp/lct_misuse_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(lct_checkpoint_write_file(w, path), LCT_OK);
    lct_checkpoint_writer_free(w);
    lct_checkpoint_reader *r;
    ck_assert_int_eq(lct_checkpoint_reader_open_file(&r, rt, path), LCT_OK);
    unlink(path);
    return r;
}

START_TEST(test_mixed_runtimes)
{
    lct_runtime *a = lct_test_runtime(1, 11), *b = lct_test_runtime(1, 11);
    lct_encoder *enc_b;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc_b, b, "in 4; linear 4", NULL), LCT_OK);
    lct_bank *bank_a, *bank_b;
    ck_assert_int_eq(lct_bank_new(&bank_a, a, 8, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_bank_new(&bank_b, b, 8, 4, NULL), LCT_OK);
    lct_optimizer *opt_a;
    ck_assert_int_eq(lct_optimizer_new(&opt_a, a, NULL), LCT_OK);
    lct_loss *loss_b, *loss_a;
    ck_assert_int_eq(lct_loss_new_nce(&loss_b, b, bank_b, NULL), LCT_OK);
    lct_loss_infonce_options io;
    lct_loss_infonce_options_init(&io, 1);
    io.steps = 1;
    ck_assert_int_eq(lct_loss_new_infonce(&loss_a, a, 4, 4, 4, &io), LCT_OK);
    lct_augmenter *aug_b;
    ck_assert_int_eq(lct_augmenter_new(&aug_b, b, NULL), LCT_OK);
    lct_optimizer *opt_b;
    ck_assert_int_eq(lct_optimizer_new(&opt_b, b, NULL), LCT_OK);

    /* optimiser attached to the sets of another runtime */
    EXPECT(lct_optimizer_attach(opt_a, lct_encoder_params(enc_b)), LCT_EMISMATCH, "another runtime");
    EXPECT(lct_optimizer_attach(opt_b, lct_loss_params(loss_a)), LCT_EMISMATCH, "another runtime");
    /* losses given banks of another runtime */
    lct_loss *l = NULL;
    EXPECT(lct_loss_new_nce(&l, a, bank_b, NULL), LCT_EMISMATCH, "bank");
    EXPECT(lct_loss_new_npsoftmax(&l, a, bank_b, NULL), LCT_EMISMATCH, "bank");
    lct_bank *mixed[2] = {bank_a, bank_b};
    EXPECT(lct_loss_new_cmc(&l, a, 2, 4, mixed, NULL), LCT_EMISMATCH, "banks[1]");
    ck_assert_ptr_null(l);
    /* a replay or a novelty scorer given a bank of another runtime */
    uint32_t rshape[1] = {2};
    lct_replay *rp_a;
    ck_assert_int_eq(lct_replay_new(&rp_a, a, 8, rshape, 1, NULL), LCT_OK);
    EXPECT(lct_replay_bind_bank(rp_a, bank_b), LCT_EMISMATCH, "another runtime");
    lct_novelty *nv = NULL;
    EXPECT(lct_novelty_new(&nv, a, bank_b, NULL), LCT_EMISMATCH, "another runtime");
    ck_assert_ptr_null(nv);
    /* checkpoint writers and readers given handles of another runtime */
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, a, NULL), LCT_OK);
    EXPECT(lct_checkpoint_add_encoder(w, "e", enc_b), LCT_EMISMATCH, "enc");
    EXPECT(lct_checkpoint_add_params(w, "p", lct_encoder_params(enc_b)), LCT_EMISMATCH, "params");
    EXPECT(lct_checkpoint_add_bank(w, "b", bank_b), LCT_EMISMATCH, "bank");
    EXPECT(lct_checkpoint_add_loss(w, "l", loss_b), LCT_EMISMATCH, "loss");
    EXPECT(lct_checkpoint_add_optimizer(w, "o", opt_b), LCT_EMISMATCH, "opt");
    EXPECT(lct_checkpoint_add_augmenter(w, "g", aug_b), LCT_EMISMATCH, "aug");
    ck_assert_int_eq(lct_checkpoint_add_replay(w, "rp", rp_a), LCT_OK);
    lct_novelty *nv_b;
    ck_assert_int_eq(lct_novelty_new(&nv_b, b, bank_b, NULL), LCT_OK);
    EXPECT(lct_checkpoint_add_novelty(w, "nv", nv_b), LCT_EMISMATCH, "nv");
    ck_assert_int_eq(lct_checkpoint_add_bank(w, "b", bank_a), LCT_OK);
    ck_assert_int_eq(lct_checkpoint_add_loss(w, "l", loss_a), LCT_OK);
    lct_checkpoint_reader *r = reopen(w, a);
    EXPECT(lct_checkpoint_load_bank(r, "b", bank_b), LCT_EMISMATCH, "bank");
    EXPECT(lct_checkpoint_load_loss(r, "l", loss_b), LCT_EMISMATCH, "loss");
    EXPECT(lct_checkpoint_load_encoder(r, "e", enc_b), LCT_EMISMATCH, "enc");
    EXPECT(lct_checkpoint_load_params(r, "p", lct_encoder_params(enc_b)), LCT_EMISMATCH, "params");
    EXPECT(lct_checkpoint_load_optimizer(r, "o", opt_b), LCT_EMISMATCH, "opt");
    EXPECT(lct_checkpoint_load_augmenter(r, "g", aug_b), LCT_EMISMATCH, "aug");
    EXPECT(lct_checkpoint_load_novelty(r, "nv", nv_b), LCT_EMISMATCH, "nv");
    lct_replay *rp_b;
    ck_assert_int_eq(lct_replay_new(&rp_b, b, 8, rshape, 1, NULL), LCT_OK);
    EXPECT(lct_checkpoint_load_replay(r, "rp", rp_b), LCT_EMISMATCH, "rp");
    ck_assert_int_eq(lct_checkpoint_load_replay(r, "rp", rp_a), LCT_OK);
    lct_replay_free(rp_b);
    lct_novelty_free(nv_b);
    lct_replay_free(rp_a);
    ck_assert_int_eq(lct_checkpoint_load_bank(r, "b", bank_a), LCT_OK);
    /* creating a new handle from a checkpoint may use any runtime */
    lct_bank *copy = NULL;
    ck_assert_int_eq(lct_checkpoint_new_bank(r, "b", b, &copy), LCT_OK);
    lct_bank_free(copy);
    lct_checkpoint_reader_free(r);

    lct_optimizer_free(opt_b);
    lct_augmenter_free(aug_b);
    lct_loss_free(loss_a);
    lct_loss_free(loss_b);
    lct_optimizer_free(opt_a);
    lct_bank_free(bank_b);
    lct_bank_free(bank_a);
    lct_encoder_free(enc_b);
    size_t ca, cb;
    lct_runtime_memory(a, &ca, NULL);
    lct_runtime_memory(b, &cb, NULL);
    ck_assert(ca == 0 && cb == 0);
    lct_runtime_free(a);
    lct_runtime_free(b);
}
END_TEST

/* ---- the headers' error lists ------------------------------------------------------------------ */

/*
 * Every EXPECT above (LCT_ASSERT_FAILS, in every suite) also requires the code to be in the called
 * function's @return list (tests/doc_codes.h). This checks the reader itself: every exported
 * function is declared with a doc comment that names a failure code, the references and groups
 * resolve, and a retyped bank section (issue 20, item 3) gives a code its header lists.
 */
static lct_doc docs;

static int documents(const char *fn, int code)
{
    return (lct_doc_codes(&docs, fn, 0) >> -code) & 1u;
}

START_TEST(test_header_error_lists)
{
    ck_assert_int_eq(lct_doc_load(&docs, LCT_SOURCE_ROOT "/include/libcontrast"), 0);
    ck_assert_msg(docs.unknown_tokens == 0, "the headers name %zu codes that do not exist, first %s",
                  docs.unknown_tokens, docs.first_unknown);
    FILE *map = fopen(LCT_SOURCE_ROOT "/lib/libcontrast.map", "r");
    ck_assert_ptr_nonnull(map);
    char line[256];
    size_t symbols = 0;
    while (fgets(line, sizeof line, map)) {
        char name[64];
        if (sscanf(line, " %63[a-z0-9_];", name) != 1 || strncmp(name, "lct_", 4) != 0) continue;
        symbols++;
        const lct_doc_fn *f = lct_doc_find(&docs, name);
        ck_assert_msg(f != NULL, "%s is exported but not declared with LCT_API in a public header", name);
        /* the version, and lct_error_set, which returns the status it is given, are not calls that fail */
        if (f->returns_int && strcmp(name, "lct_version_number") != 0 && strcmp(name, "lct_error_set") != 0)
            ck_assert_msg(lct_doc_codes(&docs, name, 0) & ~1u, "%s returns int but its header lists no error", name);
    }
    fclose(map);
    ck_assert_uint_ge(symbols, 190);
    /* the reader: @return lists, "as lct_x()" references, groups and their end */
    ck_assert(documents("lct_bank_gather", LCT_ESHAPE) && documents("lct_bank_gather", LCT_ERANGE));
    ck_assert(!documents("lct_runtime_threads", LCT_ENOMEM) && documents("lct_runtime_threads", LCT_EINVAL));
    ck_assert(documents("lct_knn_topk_bank", LCT_ENUMERIC) && documents("lct_knn_topk_bank", LCT_ECOMM));
    ck_assert(documents("lct_npy_write_vector", LCT_ESHAPE));
    ck_assert(documents("lct_augmenter_add_hflip", LCT_ESTATE) && !documents("lct_augmenter_apply", LCT_ESTATE));
    ck_assert(documents("lct_encoder_add_relu", LCT_ESTATE) && !documents("lct_encoder_forward", LCT_ESTATE));
    ck_assert(documents("lct_checkpoint_load_bank", LCT_EMISMATCH) && !documents("lct_npy_read", LCT_EMISMATCH));
    char name[64];
    lct_doc_call_name("keep_enc(lct_encoder_new(&venc, vrt, shape, 1, o))", name, sizeof name);
    ck_assert_str_eq(name, "lct_encoder_new");
    lct_doc_call_name("(lct_runtime_free(vrt2), vrt2 = NULL, lct_runtime_new(&vrt2, o))", name, sizeof name);
    ck_assert_str_eq(name, "lct_runtime_new");
    lct_doc_call_name("lct_params_get(lct_encoder_params(enc), 0, buf, 3)", name, sizeof name);
    ck_assert_str_eq(name, "lct_params_get");

    /* a bank section retyped as one rank's shard: LCT_EMISMATCH, which checkpoint.h now lists */
    lct_runtime *rt = lct_test_runtime(1, 8);
    lct_bank *bank;
    ck_assert_int_eq(lct_bank_new(&bank, rt, 6, 3, NULL), LCT_OK);
    lct_checkpoint_writer *w;
    ck_assert_int_eq(lct_checkpoint_writer_new(&w, rt, NULL), LCT_OK);
    unsigned char payload[72 + 18 * 4] = {1};
    lct__ckpt_piece piece = {payload, sizeof payload, 0};
    ck_assert_int_eq(lct__ckpt_add_pieces(w, "b", LCT__CKPT_TYPE_BANK_SHARD, &piece, 1, 0, "test"), LCT_OK);
    lct_checkpoint_reader *r = reopen(w, rt);
    EXPECT(lct_checkpoint_load_bank(r, "b", bank), LCT_EMISMATCH, "shard");
    lct_bank *copy = NULL;
    EXPECT(lct_checkpoint_new_bank(r, "b", rt, &copy), LCT_EMISMATCH, "shard");
    ck_assert_ptr_null(copy);
    lct_checkpoint_reader_free(r);
    lct_bank_free(bank);
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_null_handles);
    tcase_add_test(tc, test_null_buffers_and_huge_sizes);
    tcase_add_test(tc, test_counts_past_any_buffer);
    tcase_add_test(tc, test_option_versions);
    tcase_add_test(tc, test_mixed_runtimes);
    tcase_add_test(tc, test_header_error_lists);
}

int main(void)
{
    return lct_test_main("misuse", "misuse", 0, add_tests);
}
