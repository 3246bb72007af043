/* What a compute call of a loss costs before it runs: FLOPs from the shapes, and the workspace. */
#include "loss_internal.h"

/* Score and gradient of `scores` similarities of dimension d (forward dot, backward axpy and the row's
 * gradient), plus the exponentials and logarithms around them. */
static double scored(double scores, double d)
{
    return scores * (4.0 * d + 10.0);
}

int lct_loss_cost(const lct_loss *loss, size_t batch, uint64_t *flops, size_t *workspace_bytes)
{
    LCT__REQUIRE(loss);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (batch > LCT__LOSS_MAX_BATCH) return LCT__FAIL(LCT_ESHAPE, "batch %zu exceeds the limit %zu", batch,
                                                      LCT__LOSS_MAX_BATCH);
    const double b = (double)batch, d = (double)loss->dim;
    double f = 0.0;
    switch (loss->kind) {
    case LCT_LOSS_NCE: f = scored(b * ((double)loss->k + 1.0), d); break;
    case LCT_LOSS_NPSOFTMAX: f = scored(b * (double)loss->n_rows, d); break;
    case LCT_LOSS_INVASPREAD: f = (2.0 * b) * (2.0 * b) * (6.0 * d + 10.0); break;
    case LCT_LOSS_INFONCE: {
        double t = (double)loss->seq_len, h = (double)loss->ctx_dim;
        for (size_t k = 1; k <= loss->steps; k++) {
            double anchors = b * (t - (double)k);
            double cand = loss->negatives == LCT_INFONCE_BATCH ? b : loss->negatives == LCT_INFONCE_ALL ? b * t : t;
            f += 4.0 * anchors * d * h + scored(anchors * cand, d);
        }
        break;
    }
    default: { /* CMC: both directions of every pair */
        double v = (double)loss->views, pairs = loss->graph == LCT_CMC_FULL ? v * (v - 1.0) / 2.0 : v - 1.0;
        double per = loss->objective == LCT_CMC_NCE ? scored(b * ((double)loss->k + 1.0), d) : scored(b * b, d);
        f = 2.0 * pairs * per;
        break;
    }
    }
    if (!(f < 1.8e19)) return LCT__FAIL(LCT_ESHAPE, "the FLOPs at batch %zu overflow 64 bits", batch);
    size_t ws = 0;
    if (workspace_bytes && lct_loss_workspace_bytes(loss, batch, &ws) != LCT_OK)
        return LCT__FAIL(LCT_ESHAPE, "the workspace for batch %zu overflows", batch);
    if (flops) *flops = (uint64_t)f;
    if (workspace_bytes) *workspace_bytes = ws;
    return LCT_OK;
}
