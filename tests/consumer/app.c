/* A consumer of an installed or subproject libcontrast: one forward pass of a small encoder. */
#include <libcontrast/libcontrast.h>

#include <stdio.h>

int main(void)
{
    lct_runtime *rt = NULL;
    lct_encoder *enc = NULL;
    float x[2 * 8] = {0}, y[2 * 4];
    for (int i = 0; i < 16; i++) x[i] = (float)i / 16;
    int rc = lct_runtime_new(&rt, NULL);
    if (rc == LCT_OK) rc = lct_encoder_new_from_spec(&enc, rt, "in 8; linear 4; l2norm", NULL);
    if (rc == LCT_OK) rc = lct_encoder_forward(enc, x, 2, y);
    if (rc != LCT_OK) fprintf(stderr, "app: %s\n", lct_error_last());
    else printf("libcontrast %s: y[0] = %.4f\n", lct_version_string(), (double)y[0]);
    lct_encoder_free(enc);
    lct_runtime_free(rt);
    return rc != LCT_OK || lct_version_number() != LCT_VERSION_NUMBER;
}
