/**
 * @file libcontrast/params.h
 * @brief Parameter sets: the one interface every handle that owns tensors exposes.
 *
 * Encoders, and losses with trainable parts (CPC's W_k), hand out an
 * ::lct_params view of their tensors. Optimisers attach to it, checkpoints
 * save it, and hosts read or load weights through it. A parameter set is
 * owned by its handle: it stays valid until that handle is freed.
 *
 * A tensor is either *trainable* (it has a gradient, which backward passes
 * accumulate) or *state* (no gradient; e.g. batch-norm running statistics),
 * which optimisers skip and checkpoints save.
 */
#ifndef LIBCONTRAST_PARAMS_H
#define LIBCONTRAST_PARAMS_H

#include "runtime.h"

LCT_BEGIN_DECLS

typedef struct lct_params lct_params;

/** Number of tensors in the set, or LCT_EINVAL for NULL. */
LCT_API int lct_params_count(const lct_params *p);

/**
 * Describe tensor @p index: its stable name (e.g. "2.conv2d.weight"; valid as long as the
 * owner), its element count, and whether it is trainable (1) or state (0). Any out pointer may be NULL.
 * @return LCT_OK, LCT_EINVAL (NULL set), LCT_ERANGE (index past the end).
 */
LCT_API int lct_params_info(const lct_params *p, size_t index, const char **name, size_t *count,
                            int *trainable);

/** Total floats over all tensors (trainable + state) into @p total. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_params_total(const lct_params *p, size_t *total);

/**
 * Copy tensor @p index into @p dst, which holds exactly @p count floats.
 * @return LCT_OK, LCT_EINVAL, LCT_ERANGE (index), LCT_ESHAPE (@p count differs from the tensor's).
 */
LCT_API int lct_params_get(const lct_params *p, size_t index, float *dst, size_t count);

/**
 * Overwrite tensor @p index from @p src (@p count floats). Values are checked first: nothing
 * is written if one is NaN or Inf.
 * @return LCT_OK, LCT_EINVAL, LCT_ERANGE, LCT_ESHAPE, LCT_ENUMERIC.
 */
LCT_API int lct_params_set(lct_params *p, size_t index, const float *src, size_t count);

/**
 * Copy the gradient of trainable tensor @p index into @p dst (@p count floats).
 * @return LCT_OK, LCT_EINVAL (also for a state tensor, which has no gradient), LCT_ERANGE, LCT_ESHAPE.
 */
LCT_API int lct_params_get_grad(const lct_params *p, size_t index, float *dst, size_t count);

/** Set every gradient of the set to zero. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_params_zero_grad(lct_params *p);

LCT_END_DECLS

#endif /* LIBCONTRAST_PARAMS_H */
