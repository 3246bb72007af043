/**
 * @file libcontrast/knn.h
 * @brief Weighted k-nearest-neighbour evaluation (InstDisc's protocol) and top-k retrieval.
 *
 * Similarity is the dot product of a query with a feature row: the cosine
 * similarity when both are L2-normalised, as bank rows and the outputs of an
 * encoder ending in an L2-normalise layer are. Neighbours are ranked by
 * similarity, descending, ties broken by the smaller row index, so results
 * are fully deterministic and independent of the thread count.
 *
 * The computation is blocked (a block of queries × a chunk of rows at a time)
 * with a workspace per thread that does not grow with N or the number of
 * queries: about 0.8 MiB + 16 KiB·k (+ 2 KiB·D for fp16 banks, + 8 bytes per
 * class), allocated for the call and released before it returns. On CPUs with
 * AMX tiles (Intel Xeon 4th generation and later, Linux) rows are first
 * screened with bf16 similarities; the call then also holds a bf16 copy of
 * the rows (N × D rounded up to 32 × 2 bytes) and falls back to the fp32
 * search if that copy cannot be allocated. Results are the same either way:
 * the screen only discards rows that provably cannot be among the k nearest,
 * and the survivors are ranked in fp32. Setting the environment variable
 * LCT_AMX=0 before the first kNN call of the process disables AMX. See docs/bank.md.
 */
#ifndef LIBCONTRAST_KNN_H
#define LIBCONTRAST_KNN_H

#include "bank.h"

LCT_BEGIN_DECLS

/**
 * Top-k retrieval: for each query, the @p k rows of @p features most similar to it.
 *
 * @param rt        runtime (threads)
 * @param features  n × d row-major matrix (borrowed for the call)
 * @param queries   q × d row-major matrix
 * @param k         neighbours per query, 1..n
 * @param idx       q × k row indices, per query in decreasing similarity (ties: smaller index first)
 * @param sim       q × k similarities matching @p idx, or NULL
 * @return LCT_OK; LCT_EINVAL (NULL argument, n, d, q or k zero, k > n); LCT_ESHAPE (sizes overflow);
 *         LCT_ENUMERIC (NaN/Inf in @p features or @p queries); LCT_ENOMEM.
 */
LCT_API int lct_knn_topk(lct_runtime *rt, const float *features, size_t n, size_t d, const float *queries, size_t q,
                         size_t k, int64_t *idx, float *sim);

/**
 * lct_knn_topk() against the rows of @p bank (its runtime and threads; fp16 rows converted per block).
 * Collective over a sharded bank (lct_bank_new_sharded()): every rank passes the same queries and
 * receives the merged top-k.
 * @return as lct_knn_topk(), plus for a sharded bank LCT_EMISMATCH (the ranks' queries or k differ, or
 *         another rank failed) and LCT_ECOMM.
 */
LCT_API int lct_knn_topk_bank(const lct_bank *bank, const float *queries, size_t q, size_t k, int64_t *idx,
                              float *sim);

/**
 * Weighted kNN classification (InstDisc): the k nearest rows of each query vote for their
 * labels with weight exp(s/τ); the prediction is the class with the largest total (ties: the
 * smaller class). InstDisc uses k = 200, τ = 0.07.
 *
 * @param labels     n labels in [0, n_classes)
 * @param tau        temperature τ > 0
 * @param n_classes  number of classes, 1..2^24
 * @param pred       q predicted classes
 * @param scores     q × n_classes vote totals, or NULL. scores[c] = Σ exp((s_j − s_1)/τ) over the
 *                   neighbours j of class c, s_1 the best similarity: InstDisc's votes divided by
 *                   exp(s_1/τ), which keeps them finite; ranking and prediction are the same.
 * @return as lct_knn_topk(), plus LCT_EINVAL (τ not finite and > 0, n_classes out of range, a label
 *         outside [0, n_classes), NULL @p labels or @p pred).
 */
LCT_API int lct_knn_classify(lct_runtime *rt, const float *features, const int32_t *labels, size_t n, size_t d,
                             const float *queries, size_t q, size_t k, float tau, int32_t n_classes, int32_t *pred,
                             float *scores);

/**
 * lct_knn_classify() with the rows of @p bank as the features (@p labels has N entries); collective over
 * a sharded bank, as lct_knn_topk_bank().
 * @return as lct_knn_classify(), plus for a sharded bank LCT_EMISMATCH and LCT_ECOMM.
 */
LCT_API int lct_knn_classify_bank(const lct_bank *bank, const int32_t *labels, const float *queries, size_t q,
                                  size_t k, float tau, int32_t n_classes, int32_t *pred, float *scores);

LCT_END_DECLS

#endif /* LIBCONTRAST_KNN_H */
