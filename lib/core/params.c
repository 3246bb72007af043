/* Generic access to the tensors of any parameter-owning handle. */
#include "internal.h"

static int check_index(const lct_params *p, size_t index, const char *func)
{
    if (p == NULL) return lct__fail(LCT_EINVAL, func, "argument 'p' is NULL");
    if (index >= p->n_tensors)
        return lct__fail(LCT_ERANGE, func, "index %zu is past the last tensor (the set has %zu)", index,
                         p->n_tensors);
    return LCT_OK;
}

static int check_count(const lct__tensor *t, size_t count, const char *func)
{
    if (count != t->count)
        return lct__fail(LCT_ESHAPE, func, "count is %zu but tensor '%s' has %zu elements", count, t->name,
                         t->count);
    return LCT_OK;
}

int lct_params_count(const lct_params *p)
{
    LCT__REQUIRE(p);
    return (int)p->n_tensors;
}

int lct_params_info(const lct_params *p, size_t index, const char **name, size_t *count, int *trainable)
{
    int rc = check_index(p, index, __func__);
    if (rc) return rc;
    const lct__tensor *t = &p->tensors[index];
    if (name) *name = t->name;
    if (count) *count = t->count;
    if (trainable) *trainable = t->grad != NULL;
    return LCT_OK;
}

int lct_params_total(const lct_params *p, size_t *total)
{
    LCT__REQUIRE(p);
    LCT__REQUIRE(total);
    size_t n = 0;
    for (size_t i = 0; i < p->n_tensors; i++) n += p->tensors[i].count;
    *total = n;
    return LCT_OK;
}

/* Tensor `index` of p for a copy through `buf` (the argument named `what`), or NULL with *rc set. */
static lct__tensor *tensor_for(const lct_params *p, size_t index, const void *buf, const char *what,
                               const char *func, int *rc)
{
    if ((*rc = check_index(p, index, func))) return NULL;
    if (buf == NULL) {
        *rc = lct__fail(LCT_EINVAL, func, "argument '%s' is NULL", what);
        return NULL;
    }
    return &p->tensors[index];
}

int lct_params_get(const lct_params *p, size_t index, float *dst, size_t count)
{
    int rc;
    const lct__tensor *t = tensor_for(p, index, dst, "dst", __func__, &rc);
    if (t == NULL) return rc;
    if ((rc = check_count(t, count, __func__))) return rc;
    memcpy(dst, t->value, count * sizeof *dst);
    return LCT_OK;
}

int lct_params_set(lct_params *p, size_t index, const float *src, size_t count)
{
    int rc;
    lct__tensor *t = tensor_for(p, index, src, "src", __func__, &rc);
    if (t == NULL) return rc;
    if ((rc = check_count(t, count, __func__))) return rc;
    if (!lct__all_finite(src, count))
        return LCT__FAIL(LCT_ENUMERIC, "src for tensor '%s' contains NaN or Inf; nothing was written", t->name);
    memcpy(t->value, src, count * sizeof *src);
    p->version++;
    return LCT_OK;
}

int lct_params_get_grad(const lct_params *p, size_t index, float *dst, size_t count)
{
    int rc;
    const lct__tensor *t = tensor_for(p, index, dst, "dst", __func__, &rc);
    if (t == NULL) return rc;
    if (t->grad == NULL)
        return LCT__FAIL(LCT_EINVAL, "tensor %zu ('%s') is state, not trainable: it has no gradient", index,
                         t->name);
    if ((rc = check_count(t, count, __func__))) return rc;
    if (t->grad_unset && *t->grad_unset)
        memset(dst, 0, count * sizeof *dst);
    else
        memcpy(dst, t->grad, count * sizeof *dst);
    return LCT_OK;
}

void lct__grad_settle(lct__tensor *t)
{
    if (t->grad_unset && *t->grad_unset) {
        memset(t->grad, 0, t->count * sizeof(float));
        *t->grad_unset = 0;
    }
}

#define ZERO_BLK 32768

static void zero_range(void *ctx, size_t i0, size_t i1, size_t slot)
{
    (void)slot;
    memset((float *)ctx + i0, 0, (i1 - i0) * sizeof(float));
}

void lct__params_zero_grads(lct_params *p, int threads)
{
    for (size_t i = 0; i < p->n_tensors; i++) {
        lct__tensor *t = &p->tensors[i];
        if (!t->grad) continue;
        if (t->grad_finite) *t->grad_finite = 1; /* zeros are */
        if (t->grad_unset) { /* its owner's next backward overwrites it */
            *t->grad_unset = 1;
            continue;
        }
        lct__parallel(p->rt, threads, t->count, ZERO_BLK, zero_range, t->grad);
    }
}

int lct_params_zero_grad(lct_params *p)
{
    LCT__REQUIRE(p);
    lct__params_zero_grads(p, lct__threads(p->rt));
    return LCT_OK;
}
