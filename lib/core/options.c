/*
 * Copies of the caller's option structs. A struct only ever grows at the end, and a caller built
 * against an older header passes a smaller one: copy exactly the bytes its version defines and
 * keep the defaults for the rest, never reading past the caller's struct.
 */
#include "internal.h"

/* Bytes of each struct by version (index version - 1). When a version 2 adds fields, its row gains
 * sizeof(struct) and version 1's entry becomes offsetof(struct, first field of version 2). */
typedef struct opt_sizes {
    const char *name;
    uint32_t latest;
    size_t size[LCT__OPTIONS_MAX_VERSIONS];
} opt_sizes;

static const opt_sizes table[LCT__OPT_COUNT] = {
    [LCT__OPT_RUNTIME] = {"lct_runtime_options", LCT_RUNTIME_OPTIONS_VERSION,
                          {offsetof(lct_runtime_options, scheduler), sizeof(lct_runtime_options)}},
    [LCT__OPT_SCHEDULER] = {"lct_scheduler", LCT_SCHEDULER_VERSION, {sizeof(lct_scheduler)}},
    [LCT__OPT_ENCODER] = {"lct_encoder_options", LCT_ENCODER_OPTIONS_VERSION, {sizeof(lct_encoder_options)}},
    [LCT__OPT_OPTIMIZER] = {"lct_optimizer_options", LCT_OPTIMIZER_OPTIONS_VERSION, {sizeof(lct_optimizer_options)}},
    [LCT__OPT_BANK] = {"lct_bank_options", LCT_BANK_OPTIONS_VERSION, {sizeof(lct_bank_options)}},
    [LCT__OPT_BANK_UPDATE] = {"lct_bank_update_options", LCT_BANK_UPDATE_OPTIONS_VERSION,
                              {sizeof(lct_bank_update_options)}},
    [LCT__OPT_AUGMENTER] = {"lct_augmenter_options", LCT_AUGMENTER_OPTIONS_VERSION, {sizeof(lct_augmenter_options)}},
    [LCT__OPT_LOSS_NCE] = {"lct_loss_nce_options", LCT_LOSS_NCE_OPTIONS_VERSION, {sizeof(lct_loss_nce_options)}},
    [LCT__OPT_LOSS_NPSOFTMAX] = {"lct_loss_npsoftmax_options", LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION,
                                 {sizeof(lct_loss_npsoftmax_options)}},
    [LCT__OPT_LOSS_INVASPREAD] = {"lct_loss_invaspread_options", LCT_LOSS_INVASPREAD_OPTIONS_VERSION,
                                  {sizeof(lct_loss_invaspread_options)}},
    [LCT__OPT_LOSS_INFONCE] = {"lct_loss_infonce_options", LCT_LOSS_INFONCE_OPTIONS_VERSION,
                               {sizeof(lct_loss_infonce_options)}},
    [LCT__OPT_LOSS_CMC] = {"lct_loss_cmc_options", LCT_LOSS_CMC_OPTIONS_VERSION, {sizeof(lct_loss_cmc_options)}},
    [LCT__OPT_CHECKPOINT] = {"lct_checkpoint_options", LCT_CHECKPOINT_OPTIONS_VERSION,
                             {sizeof(lct_checkpoint_options)}},
    [LCT__OPT_REPLAY] = {"lct_replay_options", LCT_REPLAY_OPTIONS_VERSION, {sizeof(lct_replay_options)}},
    [LCT__OPT_NOVELTY] = {"lct_novelty_options", LCT_NOVELTY_OPTIONS_VERSION, {sizeof(lct_novelty_options)}},
    [LCT__OPT_COMM_OPS] = {"lct_comm_ops", LCT_COMM_OPS_VERSION, {sizeof(lct_comm_ops)}},
};

uint32_t lct__options_latest(int kind)
{
    return kind >= 0 && kind < LCT__OPT_COUNT ? table[kind].latest : 0;
}

size_t lct__options_size(int kind, uint32_t version)
{
    if (kind < 0 || kind >= LCT__OPT_COUNT || version == 0 || version > table[kind].latest ||
        version > LCT__OPTIONS_MAX_VERSIONS)
        return 0;
    return table[kind].size[version - 1];
}

int lct__options_init(int kind, void *opts, uint32_t version, const void *defaults, const char *name,
                      const char *func)
{
    if (opts == NULL) return lct__fail(LCT_EINVAL, func, "argument '%s' is NULL", name);
    size_t size = lct__options_size(kind, version);
    if (size == 0)
        return lct__fail(LCT_EVERSION, func, "version is %u; this library knows versions 1..%u", (unsigned)version,
                         (unsigned)lct__options_latest(kind));
    memcpy(opts, defaults, size);
    memcpy(opts, &version, sizeof version); /* every version starts with it */
    return LCT_OK;
}

int lct__options_load(int kind, void *dst, const void *src, const char *func)
{
    if (src == NULL) return LCT_OK;
    uint32_t version;
    memcpy(&version, src, sizeof version); /* every version starts with it */
    size_t size = lct__options_size(kind, version);
    if (size == 0)
        return lct__fail(LCT_EVERSION, func, "opts->version is %u; this library knows %s versions 1..%u",
                         (unsigned)version, table[kind].name, (unsigned)table[kind].latest);
    memcpy(dst, src, size);
    return LCT_OK;
}
