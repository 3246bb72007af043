/*
 * Fuzz target for the encoder spec parser: any bytes as spec text. An accepted spec must
 * round-trip through lct_encoder_spec() to the same canonical text, and a small encoder must
 * run a forward and backward pass without a crash or a non-finite output. Never leaks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes of parameters + workspace beyond which the passes are skipped (time, not safety). */
#define PASS_LIMIT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_budget budget;
    lct_runtime *rt = fuzz_budget_runtime(&budget, 64u << 20, 1);
    lct_encoder *enc = NULL;
    int rc = lct_encoder_new_from_spec(&enc, rt, text, NULL);
    if (rc != LCT_OK) {
        if (enc != NULL || rc >= 0 || lct_error_last()[0] == '\0') abort();
        fuzz_budget_check_empty(rt); /* a refused spec leaves nothing behind */
    } else {
        const char *canon = lct_encoder_spec(enc);
        if (canon == NULL) abort();
        lct_encoder *again = NULL;
        rc = lct_encoder_new_from_spec(&again, rt, canon, NULL);
        if (rc != LCT_OK && rc != LCT_ENOMEM) abort();
        if (rc == LCT_OK && strcmp(lct_encoder_spec(again), canon) != 0) abort();
        lct_encoder_free(again);
        size_t in = 0, out = 0, ws = 0, trainable = 0, state = 0;
        if (lct_encoder_input_size(enc, &in) != LCT_OK || lct_encoder_output_size(enc, &out) != LCT_OK ||
            lct_encoder_param_count(enc, &trainable, &state) != LCT_OK)
            abort();
        if (lct_encoder_workspace_bytes(enc, 2, &ws) == LCT_OK && ws < PASS_LIMIT && in < 65536 && out < 65536 &&
            trainable + state < PASS_LIMIT) {
            float *x = malloc(2 * in * sizeof(float)), *y = malloc(2 * out * sizeof(float));
            float *dy = malloc(2 * out * sizeof(float)), *dx = malloc(2 * in * sizeof(float));
            if (x && y && dy && dx) {
                for (size_t i = 0; i < 2 * in; i++) x[i] = (float)((i * 37u) % 17u) / 8.0f - 1.0f;
                for (size_t i = 0; i < 2 * out; i++) dy[i] = (float)((i * 11u) % 7u) / 4.0f - 0.75f;
                rc = lct_encoder_forward(enc, x, 2, y);
                if (rc != LCT_OK && rc != LCT_ENOMEM) abort();
                if (rc == LCT_OK) {
                    for (size_t i = 0; i < 2 * out; i++)
                        if (!isfinite(y[i])) abort();
                    rc = lct_encoder_backward(enc, dy, 2, dx);
                    if (rc != LCT_OK && rc != LCT_ENOMEM) abort();
                }
            }
            free(x), free(y), free(dy), free(dx);
        }
        lct_encoder_free(enc);
        fuzz_budget_check_empty(rt);
    }
    lct_runtime_free(rt);
    free(text);
    return 0;
}
