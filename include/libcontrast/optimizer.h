/**
 * @file libcontrast/optimizer.h
 * @brief Optimisers (SGD with momentum/Nesterov, Adam, AdamW) and learning-rate schedules.
 *
 * An optimiser updates the trainable tensors of one or more parameter sets
 * (::lct_params) from their accumulated gradients: an encoder's
 * (lct_encoder_params()), a loss's trainable part, or several at once. It borrows
 * the runtime and every attached set; they must outlive it. The update rules
 * are PyTorch's (torch.optim.SGD, Adam, AdamW), and so is the default of
 * applying weight decay to every tensor.
 *
 * The learning rate of step s (counted from 0) is base_lr × schedule(s):
 * constant; step decay (× gamma at each milestone); or cosine from base_lr to
 * min_lr over total_steps; any of them preceded by a linear warm-up over
 * warmup_steps (lr × (s+1)/warmup_steps). Formulas are in docs/optimizer.md.
 *
 * Its state (momentum buffers, Adam moments) is exposed as a parameter set
 * of state tensors (lct_optimizer_state()) and the step counter through
 * lct_optimizer_step_count() / lct_optimizer_set_step_count(), so a checkpoint
 * can save and restore it generically.
 */
#ifndef LIBCONTRAST_OPTIMIZER_H
#define LIBCONTRAST_OPTIMIZER_H

#include "params.h"
#include "comm.h"

LCT_BEGIN_DECLS

typedef struct lct_optimizer lct_optimizer;

/** Update rules. */
typedef enum lct_optimizer_kind {
    LCT_OPTIMIZER_SGD = 0,   /**< SGD with optional momentum, dampening, Nesterov, L2 weight decay */
    LCT_OPTIMIZER_ADAM = 1,  /**< Adam, L2 weight decay added to the gradient */
    LCT_OPTIMIZER_ADAMW = 2  /**< Adam with decoupled weight decay */
} lct_optimizer_kind;

/** Learning-rate schedules (all in optimiser steps). */
typedef enum lct_schedule_kind {
    LCT_SCHEDULE_CONSTANT = 0, /**< base_lr */
    LCT_SCHEDULE_STEP = 1,     /**< base_lr × gamma^(number of milestones <= step) */
    LCT_SCHEDULE_COSINE = 2    /**< min_lr + (base_lr − min_lr)(1 + cos(π·s/S))/2 after warm-up, S = total − warmup */
} lct_schedule_kind;

#define LCT_OPTIMIZER_OPTIONS_VERSION 1

/** Optimiser options. Initialise with lct_optimizer_options_init(); fields are only ever added at the end. */
typedef struct lct_optimizer_options {
    uint32_t version;          /**< LCT_OPTIMIZER_OPTIONS_VERSION */
    int32_t kind;              /**< ::lct_optimizer_kind (default SGD) */
    double lr;                 /**< base learning rate, > 0 (default 0.01) */
    double momentum;           /**< SGD momentum in [0, 1) (default 0) */
    double dampening;          /**< SGD dampening in [0, 1] (default 0) */
    int32_t nesterov;          /**< SGD Nesterov momentum, 0 or 1; needs momentum > 0 and dampening 0 (default 0) */
    double weight_decay;       /**< >= 0 (default 0) */
    int32_t decay_all;         /**< 1 (default, as PyTorch): decay every tensor; 0: skip biases and batch-norm affine */
    double beta1;              /**< Adam β1 in [0, 1) (default 0.9) */
    double beta2;              /**< Adam β2 in [0, 1) (default 0.999) */
    double eps;                /**< Adam ε > 0 (default 1e-8) */
    int32_t schedule;          /**< ::lct_schedule_kind (default constant) */
    uint64_t warmup_steps;     /**< linear warm-up steps before the schedule (default 0) */
    uint64_t total_steps;      /**< cosine: steps of the whole run, > warmup_steps (default 0: required for cosine) */
    double min_lr;             /**< cosine: final learning rate, >= 0 (default 0) */
    double gamma;              /**< step schedule: factor at each milestone, > 0 (default 0.1) */
    const uint64_t *milestones;/**< step schedule: strictly increasing steps; copied by lct_optimizer_new() */
    size_t n_milestones;       /**< number of milestones (<= 64) */
} lct_optimizer_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION.
 */
LCT_API int lct_optimizer_options_init(lct_optimizer_options *opts, uint32_t version);

/**
 * Create an optimiser with no parameter set attached.
 * @param out   receives the optimiser; NULL on failure
 * @param rt    runtime, borrowed
 * @param opts  options, or NULL for defaults (SGD, lr 0.01, no momentum, constant schedule)
 * @return LCT_OK; LCT_EINVAL (NULL argument, unknown kind or schedule, a hyper-parameter outside its
 *         domain: the message names it); LCT_EVERSION; LCT_ENOMEM.
 */
LCT_API int lct_optimizer_new(lct_optimizer **out, lct_runtime *rt, const lct_optimizer_options *opts);

/** Free an optimiser (not the attached sets). Accepts NULL. */
LCT_API void lct_optimizer_free(lct_optimizer *opt);

/**
 * Attach a parameter set: its trainable tensors will be updated by each step. Several sets may
 * be attached (an encoder and a loss, two encoders ...), each once, before the first step.
 * Allocates the state of the set's tensors (zero).
 * @return LCT_OK; LCT_EINVAL (NULL argument, the set is already attached); LCT_EMISMATCH (the set
 *         belongs to another runtime); LCT_ESTATE (a step was already taken); LCT_ENOMEM.
 */
LCT_API int lct_optimizer_attach(lct_optimizer *opt, lct_params *params);

/**
 * One update of every attached trainable tensor from its gradient, at the learning rate of the
 * current step; then the step counter advances. Gradients are not cleared (call
 * lct_optimizer_zero_grad()). With a communicator (lct_optimizer_set_comm()) this call is
 * collective: the gradients are first replaced, in place, by their mean over the ranks.
 * @return LCT_OK; LCT_EINVAL (NULL); LCT_ESTATE (nothing attached); LCT_ENUMERIC (a gradient holds
 *         NaN or Inf: the message names the tensor, nothing is updated and the counter stays; with a
 *         communicator the gradients have been averaged already, and every rank fails alike);
 *         LCT_ECOMM; LCT_ENOMEM (the all-reduce bucket, first step only).
 */
LCT_API int lct_optimizer_step(lct_optimizer *opt);

/**
 * Data parallelism: before each step, average the gradients of every attached set over the ranks
 * of @p comm (borrowed; it must outlive the optimiser or be replaced). Small tensors are
 * concatenated into buckets of 4 MiB, each one all-reduce; a tensor of 4 MiB or more goes alone,
 * in place; the sum is then multiplied by 1/P. Pass NULL to stop averaging. Every rank must attach
 * the same sets in the same order (the same model). A communicator of size 1 changes nothing.
 * Start every rank from the same weights with lct_params_broadcast().
 * @return LCT_OK; LCT_EINVAL (NULL @p opt); LCT_EMISMATCH (@p comm belongs to another runtime).
 */
LCT_API int lct_optimizer_set_comm(lct_optimizer *opt, lct_comm *comm);

/** Zero the gradients of every attached set. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_optimizer_zero_grad(lct_optimizer *opt);

/** Learning rate the next step will use (schedule applied) into @p lr. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_optimizer_lr(const lct_optimizer *opt, double *lr);

/** Steps taken so far into @p step. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_optimizer_step_count(const lct_optimizer *opt, uint64_t *step);

/** Restore the step counter (for checkpoints; the schedule and Adam's bias correction follow it). @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_optimizer_set_step_count(lct_optimizer *opt, uint64_t step);

/** Tunable scalars for lct_optimizer_set_param() / lct_optimizer_get_param(). */
typedef enum lct_optimizer_param {
    LCT_OPTIMIZER_LR = 0,           /**< base learning rate, (0, 1e6] */
    LCT_OPTIMIZER_MOMENTUM = 1,     /**< [0, 1) */
    LCT_OPTIMIZER_WEIGHT_DECAY = 2, /**< [0, 1e6] */
    LCT_OPTIMIZER_BETA1 = 3,        /**< [0, 1) */
    LCT_OPTIMIZER_BETA2 = 4,        /**< [0, 1) */
    LCT_OPTIMIZER_EPS = 5,          /**< (0, 1] */
    LCT_OPTIMIZER_MIN_LR = 6,       /**< [0, 1e6] */
    LCT_OPTIMIZER_GAMMA = 7,        /**< (0, 1e6] */
    LCT_OPTIMIZER_WARMUP_STEPS = 8, /**< [0, 2^53] */
    LCT_OPTIMIZER_TOTAL_STEPS = 9,  /**< [0, 2^53] */
    LCT_OPTIMIZER_SCHEDULE = 10     /**< an ::lct_schedule_kind */
} lct_optimizer_param;

/**
 * Set a tunable scalar (integers are passed as doubles).
 * @return LCT_OK; LCT_EINVAL (NULL, unknown param); LCT_ERANGE (outside the bounds of
 *         lct_optimizer_param_bounds(), or a combination that cannot work, e.g. cosine with
 *         total_steps <= warmup_steps); nothing changes on failure.
 */
LCT_API int lct_optimizer_set_param(lct_optimizer *opt, int param, double value);

/** Read a tunable scalar into @p value. @return LCT_OK, LCT_EINVAL. */
LCT_API int lct_optimizer_get_param(const lct_optimizer *opt, int param, double *value);

/** Bounds of a tunable scalar (either pointer may be NULL). @return LCT_OK, LCT_EINVAL (unknown param). */
LCT_API int lct_optimizer_param_bounds(int param, double *lower, double *upper);

/**
 * Replace the milestones of the step schedule (@p n <= 64 strictly increasing steps; copied).
 * @return LCT_OK, LCT_EINVAL (NULL @p opt, NULL @p milestones with n > 0, not increasing, n > 64).
 */
LCT_API int lct_optimizer_set_milestones(lct_optimizer *opt, const uint64_t *milestones, size_t n);

/**
 * The optimiser's state as a parameter set of state tensors, owned by the optimiser and valid
 * until it is freed (it grows with each attach). Names are "<set>.<tensor>.<buffer>", e.g.
 * "0.2.conv2d.weight.momentum", "1.0.linear.bias.exp_avg_sq". NULL if @p opt is NULL.
 */
LCT_API lct_params *lct_optimizer_state(lct_optimizer *opt);

LCT_END_DECLS

#endif /* LIBCONTRAST_OPTIMIZER_H */
