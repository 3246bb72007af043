/* Small shared pieces of the encoder: the window geometry, column sums and parallel copies. */
#include "encoder_internal.h"

lct__geom lct__geom_of(const lct__layer *l)
{
    lct__geom g;
    int two = l->in.rank == 3;
    g.c = l->in.d[0];
    g.h = two ? l->in.d[1] : 1;
    g.w = two ? l->in.d[2] : l->in.d[1];
    g.kh = two ? l->kernel : 1;
    g.kw = l->kernel;
    g.sh = two ? l->stride : 1;
    g.sw = l->stride;
    g.ph = two ? l->padding : 0;
    g.pw = l->padding;
    g.o = l->units;
    g.oh = two ? l->out.d[1] : 1;
    g.ow = two ? l->out.d[2] : l->out.d[1];
    g.k = g.c * g.kh * g.kw;
    g.n = g.oh * g.ow;
    g.bf16 = 0;
    return g;
}

#define COLBLOCK 256

LCT__VEC static void colsum_block(const float *a, size_t rows, size_t cols, size_t j0, size_t j1, float *out)
{
    for (size_t i = 0; i < rows; i++) {
        const float *r = a + i * cols;
        for (size_t j = j0; j < j1; j++) out[j] += r[j];
    }
}

/* What the block loops read: rows x cols of src (copies: cols values), summed or copied into dst. */
typedef struct ops_job {
    const float *src;
    float *dst;
    size_t rows, cols;
} ops_job;

static void colsum_blocks(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const ops_job *j = ctx;
    const float *a = j->src;
    float *out = j->dst;
    size_t rows = j->rows, cols = j->cols;
    for (size_t b = b0; b < b1; b++) {
        size_t j0 = b * COLBLOCK, j1 = j0 + COLBLOCK < cols ? j0 + COLBLOCK : cols;
        colsum_block(a, rows, cols, j0, j1, out);
    }
}

void lct__colsum_add(const lct__pass *p, const float *a, size_t rows, size_t cols, float *out)
{
    /* Each column is summed over the rows in order by one thread: the same result for any thread count. */
    size_t nblk = (cols + COLBLOCK - 1) / COLBLOCK;
    ops_job j = {.src = a, .dst = out, .rows = rows, .cols = cols};
    lct__parallel(p->rt, rows * cols > LCT__PAR_MIN && nblk > 1 ? p->threads : 1, nblk, 1, colsum_blocks, &j);
}

static void set_rows(void *ctx, size_t i0, size_t i1, size_t slot)
{
    (void)slot;
    const ops_job *j = ctx;
    for (size_t i = i0; i < i1; i++) memcpy(j->dst + i * j->cols, j->src, j->cols * sizeof *j->dst);
}

void lct__rows_set(const lct__pass *p, const float *b, size_t rows, size_t cols, float *y)
{
    ops_job j = {.src = b, .dst = y, .rows = rows, .cols = cols};
    lct__parallel(p->rt, rows * cols > LCT__PAR_MIN ? p->threads : 1, rows, 1, set_rows, &j);
}

#define COPYBLOCK 16384

static void copy_blocks(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const ops_job *j = ctx;
    const float *x = j->src;
    float *y = j->dst;
    size_t n = j->cols;
    const size_t blk = COPYBLOCK;
    for (size_t b = b0; b < b1; b++) {
        size_t i0 = b * blk, len = i0 + blk < n ? blk : n - i0;
        memcpy(y + i0, x + i0, len * sizeof *y);
    }
}

void lct__copy(const lct__pass *p, size_t n, const float *x, float *y)
{
    if (x == y) return;
    size_t nblk = (n + COPYBLOCK - 1) / COPYBLOCK;
    ops_job j = {.src = x, .dst = y, .rows = 1, .cols = n};
    lct__parallel(p->rt, n > 4 * LCT__PAR_MIN ? p->threads : 1, nblk, 1, copy_blocks, &j);
}
