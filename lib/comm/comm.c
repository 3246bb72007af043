/* The communicator handle: a copied table of collective callbacks, checked calls into it. */
#include "comm_internal.h"

#define LCT__COMM_SUM_MAX 128

int lct_comm_ops_init(lct_comm_ops *ops, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_comm_ops, ops, version, LCT__OPT_COMM_OPS);
}

int lct_comm_new(lct_comm **out, lct_runtime *rt, const lct_comm_ops *ops, void *user)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(ops);
    lct_comm_ops local; /* a table built against an older header is smaller: copy what its version defines */
    lct_comm_ops_init(&local, LCT_COMM_OPS_VERSION);
    int rc_ops = lct__options_load(LCT__OPT_COMM_OPS, &local, ops, __func__);
    if (rc_ops) return rc_ops;
    ops = &local;
    const struct {
        const char *name;
        int set;
    } need[] = {{"rank", ops->rank != NULL},           {"size", ops->size != NULL},
                {"allreduce_sum_f32", ops->allreduce_sum_f32 != NULL}, {"allgather", ops->allgather != NULL},
                {"broadcast", ops->broadcast != NULL},   {"barrier", ops->barrier != NULL}};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!need[i].set)
            return LCT__FAIL(LCT_EINVAL, "ops->%s is NULL; every callback but allgatherv and release is required",
                             need[i].name);
    int size = ops->size(user), rank = ops->rank(user);
    if (size < 1) return LCT__FAIL(LCT_ERANGE, "ops->size returned %d; a communicator has at least 1 rank", size);
    if (rank < 0 || rank >= size)
        return LCT__FAIL(LCT_ERANGE, "ops->rank returned %d; it must be in 0..%d (size %d)", rank, size - 1, size);
    lct_comm *c = lct__calloc(rt, 1, sizeof *c);
    double *scratch = lct__calloc(rt, (size_t)size * LCT__COMM_SUM_MAX, sizeof *scratch);
    if (!c || !scratch) {
        lct__free(rt, c);
        lct__free(rt, scratch);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate a communicator of %d ranks", size);
    }
    c->rt = rt;
    c->ops = *ops;
    c->ops.version = LCT_COMM_OPS_VERSION;
    c->user = user;
    c->rank = rank;
    c->size = size;
    c->scratch = scratch;
    c->scratch_cap = LCT__COMM_SUM_MAX;
    *out = c;
    return LCT_OK;
}

void lct_comm_free(lct_comm *comm)
{
    if (comm == NULL) return;
    if (comm->ops.release) comm->ops.release(comm->user);
    lct__free(comm->rt, comm->scratch);
    lct__free(comm->rt, comm);
}

int lct_comm_rank(const lct_comm *comm)
{
    LCT__REQUIRE(comm);
    return comm->rank;
}

int lct_comm_size(const lct_comm *comm)
{
    LCT__REQUIRE(comm);
    return comm->size;
}

/* ---- the single-process communicator ---------------------------------------- */

static int self_rank(void *user) { (void)user; return 0; }
static int self_size(void *user) { (void)user; return 1; }
static int self_allreduce(void *user, float *buf, size_t count) { (void)user; (void)buf; (void)count; return 0; }
static int self_allgather(void *user, const void *send, void *recv, size_t bytes)
{
    (void)user;
    if (send != recv) memmove(recv, send, bytes);
    return 0;
}
static int self_broadcast(void *user, void *buf, size_t bytes, int root) { (void)user; (void)buf; (void)bytes; (void)root; return 0; }
static int self_barrier(void *user) { (void)user; return 0; }

int lct_comm_new_self(lct_comm **out, lct_runtime *rt)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_comm_ops ops;
    lct_comm_ops_init(&ops, LCT_COMM_OPS_VERSION);
    ops.rank = self_rank;
    ops.size = self_size;
    ops.allreduce_sum_f32 = self_allreduce;
    ops.allgather = self_allgather;
    ops.broadcast = self_broadcast;
    ops.barrier = self_barrier;
    return lct_comm_new(out, rt, &ops, NULL);
}

/* ---- the view of the other modules ------------------------------------------------ */

int lct__comm_rank(const lct_comm *c) { return c ? c->rank : 0; }
int lct__comm_size(const lct_comm *c) { return c ? c->size : 1; }
int lct__comm_active(const lct_comm *c) { return c != NULL && c->size > 1; }
lct_runtime *lct__comm_runtime(const lct_comm *c) { return c->rt; }

/* ---- checked collectives ------------------------------------------------------ */

static int comm_failed(const char *func, const char *op, int code)
{
    return lct__fail(LCT_ECOMM, func, "the communicator's %s callback failed (returned %d)", op, code);
}

int lct__comm_allreduce_f32(lct_comm *c, float *buf, size_t count, const char *func)
{
    if (c->size == 1 || count == 0) return LCT_OK;
    int e = c->ops.allreduce_sum_f32(c->user, buf, count);
    return e ? comm_failed(func, "allreduce_sum_f32", e) : LCT_OK;
}

int lct__comm_allgather(lct_comm *c, const void *send, void *recv, size_t bytes, const char *func)
{
    if (bytes == 0) return LCT_OK;
    if (c->size == 1) {
        if (send != recv) memmove(recv, send, bytes);
        return LCT_OK;
    }
    int e = c->ops.allgather(c->user, send, recv, bytes);
    return e ? comm_failed(func, "allgather", e) : LCT_OK;
}

int lct__comm_bcast(lct_comm *c, void *buf, size_t bytes, int root, const char *func)
{
    if (c->size == 1 || bytes == 0) return LCT_OK;
    int e = c->ops.broadcast(c->user, buf, bytes, root);
    return e ? comm_failed(func, "broadcast", e) : LCT_OK;
}

int lct__comm_sum_f64(lct_comm *c, double *vals, size_t n, const char *func)
{
    if (c->size == 1 || n == 0) return LCT_OK;
    if (n > c->scratch_cap) return lct__fail(LCT_EINVAL, func, "internal: %zu doubles exceed the comm scratch", n);
    int rc = lct__comm_allgather(c, vals, c->scratch, n * sizeof *vals, func);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < c->size; r++) s += c->scratch[(size_t)r * n + i];
        vals[i] = s;
    }
    return LCT_OK;
}

int lct__comm_check_same(lct_comm *c, uint64_t value, const char *what, const char *func)
{
    if (c->size == 1) return LCT_OK;
    uint64_t *all = (uint64_t *)(void *)c->scratch;
    int rc = lct__comm_allgather(c, &value, all, sizeof value, func);
    if (rc) return rc;
    for (int r = 0; r < c->size; r++)
        if (all[r] != all[0])
            return lct__fail(LCT_EMISMATCH, func, "%s differs between ranks: %llu on rank 0, %llu on rank %d", what,
                             (unsigned long long)all[0], (unsigned long long)all[r], r);
    return LCT_OK;
}

int lct__comm_agree(lct_comm *c, int rc, uint64_t value, const char *what, const char *func)
{
    if (c->size == 1) return rc;
    uint64_t mine[2] = {(uint64_t)(int64_t)rc, value};
    uint64_t *all = (uint64_t *)(void *)c->scratch; /* 2 * size <= 64 * size words */
    int e = lct__comm_allgather(c, mine, all, sizeof mine, func);
    if (e) return e;
    if (rc) return rc;
    for (int r = 0; r < c->size; r++)
        if (all[2 * r] != 0)
            return lct__fail(LCT_EMISMATCH, func, "rank %d failed (status %d); no rank went on", r,
                             (int)(int64_t)all[2 * r]);
    for (int r = 0; r < c->size; r++)
        if (all[2 * r + 1] != all[1])
            return lct__fail(LCT_EMISMATCH, func, "%s differs between ranks: %llu on rank 0, %llu on rank %d", what,
                             (unsigned long long)all[1], (unsigned long long)all[2 * r + 1], r);
    return LCT_OK;
}

/* ---- public collectives ----------------------------------------------------------- */

int lct_comm_allreduce_sum(lct_comm *comm, float *buf, size_t count)
{
    LCT__REQUIRE(comm);
    LCT__REQUIRE(buf);
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    if (!lct__fits(count, sizeof *buf)) return LCT__FAIL(LCT_ESHAPE, "count (%zu) floats overflow", count);
    return lct__comm_allreduce_f32(comm, buf, count, __func__);
}

int lct_comm_allgather(lct_comm *comm, const void *send, void *recv, size_t bytes)
{
    LCT__REQUIRE(comm);
    LCT__REQUIRE(send);
    LCT__REQUIRE(recv);
    if (bytes == 0) return LCT__FAIL(LCT_EINVAL, "bytes is 0");
    if (!lct__fits2(bytes, (size_t)comm->size, 1))
        return LCT__FAIL(LCT_ESHAPE, "bytes (%zu) x %d ranks overflows", bytes, comm->size);
    return lct__comm_allgather(comm, send, recv, bytes, __func__);
}

int lct_comm_broadcast(lct_comm *comm, void *buf, size_t bytes, int root)
{
    LCT__REQUIRE(comm);
    LCT__REQUIRE(buf);
    if (bytes == 0) return LCT__FAIL(LCT_EINVAL, "bytes is 0");
    if (!lct__fits(bytes, 1)) return LCT__FAIL(LCT_ESHAPE, "bytes (%zu) is larger than any buffer", bytes);
    if (root < 0 || root >= comm->size)
        return LCT__FAIL(LCT_ERANGE, "root is %d; it must be in 0..%d", root, comm->size - 1);
    return lct__comm_bcast(comm, buf, bytes, root, __func__);
}

int lct_comm_barrier(lct_comm *comm)
{
    LCT__REQUIRE(comm);
    if (comm->size == 1) return LCT_OK;
    int e = comm->ops.barrier(comm->user);
    return e ? comm_failed(__func__, "barrier", e) : LCT_OK;
}

/* ---- parameters ---------------------------------------------------------------------- */

int lct_params_broadcast(lct_params *params, lct_comm *comm, int root)
{
    LCT__REQUIRE(params);
    LCT__REQUIRE(comm);
    if (params->rt != comm->rt) return LCT__FAIL(LCT_EMISMATCH, "params and comm belong to different runtimes");
    if (root < 0 || root >= comm->size)
        return LCT__FAIL(LCT_ERANGE, "root is %d; it must be in 0..%d", root, comm->size - 1);
    /* The layout must agree before any value moves: tensor count, then a hash of every size. */
    uint64_t h = params->n_tensors;
    for (size_t i = 0; i < params->n_tensors; i++)
        h = lct__hash64(h, ((uint64_t)params->tensors[i].count << 1) | (params->tensors[i].grad != NULL));
    int rc = lct__comm_check_same(comm, h, "the parameter set's layout (tensor count and sizes)", __func__);
    if (rc) return rc;
    for (size_t i = 0; i < params->n_tensors; i++) {
        lct__tensor *t = &params->tensors[i];
        if ((rc = lct__comm_bcast(comm, t->value, t->count * sizeof(float), root, __func__))) return rc;
    }
    params->version++;
    return LCT_OK;
}
