/*
 * Helpers shared by the handle sections (encoder, optimizer, bank, loss, augmenter, replay): each
 * record starts with a u32 version; a handle with tensors adds "<name><suffix>" as a
 * parameter section, and its load is all-or-nothing over both.
 */
#include "checkpoint_internal.h"

/* "<name><suffix>" into buf; LCT_EINVAL if the result would be too long for a section name. */
int lct__ckpt_sub_name(char *buf, const char *name, const char *suffix, const char *func)
{
    size_t n = strnlen(name, LCT_CHECKPOINT_MAX_NAME + 1), k = strlen(suffix);
    if (n + k > LCT_CHECKPOINT_MAX_NAME)
        return lct__fail(LCT_EINVAL, func, "name '%.40s' is longer than %zu bytes (the section '%s' is added to it)",
                         name, (size_t)LCT_CHECKPOINT_MAX_NAME - k, suffix);
    memcpy(buf, name, n);
    memcpy(buf + n, suffix, k + 1);
    return LCT_OK;
}

/* Add a record section and, if params is not NULL, "<name><suffix>"; all or nothing. */
int lct__ckpt_add_record(lct_checkpoint_writer *w, const char *name, uint32_t type, lct__ckpt_put *rec,
                         const void *extra, size_t extra_size, int extra_swap, const char *suffix,
                         const lct_params *params, const char *func)
{
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = lct__ckpt_put_status(rec);
    if (rc == LCT_OK && params) rc = lct__ckpt_sub_name(sub, name, suffix, func);
    if (rc == LCT_OK && params) rc = lct_checkpoint_add_params(w, sub, params);
    if (rc == LCT_OK) {
        lct__ckpt_piece pieces[2] = {{rec->data, rec->size, 0}, {extra, extra_size, extra_swap}};
        rc = lct__ckpt_add_pieces(w, name, type, pieces, extra ? 2 : 1, 0, func);
        if (rc != LCT_OK && params) lct__ckpt_writer_remove(w, sub);
    }
    lct__ckpt_put_free(rec);
    return rc;
}

/* Read record section `name` of `type` whose size is at most max; checks its version. */
int lct__ckpt_read_record(lct_checkpoint_reader *r, const char *name, uint32_t type, size_t max, void **data,
                          size_t *size, lct__ckpt_get *g, const char *func)
{
    int rc = lct__ckpt_read(r, name, type, max, data, size, func);
    if (rc != LCT_OK) return rc;
    lct__ckpt_get_init(g, *data, *size);
    uint32_t version = lct__ckpt_get_u32(g);
    if (g->failed) return lct__fail(LCT_EFORMAT, func, "section '%s' is too short", name);
    if (version != LCT__CKPT_RECORD_VERSION)
        return lct__fail(version > LCT__CKPT_RECORD_VERSION ? LCT_EVERSION : LCT_EFORMAT, func,
                         "section '%s' has record version %u; this library reads version %u", name, (unsigned)version,
                         LCT__CKPT_RECORD_VERSION);
    return LCT_OK;
}


int lct__ckpt_require(const void *const *args, const char *const *names, int n, const char *func)
{
    for (int i = 0; i < n; i++)
        if (args[i] == NULL) return lct__fail(LCT_EINVAL, func, "argument '%s' is NULL", names[i]);
    return LCT_OK;
}

int lct__ckpt_record_begin(lct__ckpt_put *rec, lct_checkpoint_writer *w, const char *name, const void *handle,
                           const lct_runtime *rt, const char *what, const char *func)
{
    int rc = lct__ckpt_require((const void *[]){w, name, handle}, (const char *[]){"w", "name", what}, 3, func);
    if (rc == LCT_OK) rc = lct__ckpt_same_runtime(lct__ckpt_writer_runtime(w), rt, what, "writer", func);
    if (rc) return rc;
    lct__ckpt_put_init(rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(rec, LCT__CKPT_RECORD_VERSION);
    return LCT_OK;
}

int lct__ckpt_load_record(lct_checkpoint_reader *r, const char *name, void *handle, const lct_runtime *rt,
                          const lct__ckpt_record *rec, size_t max, lct_params *params, const char *func)
{
    int rc = lct__ckpt_require((const void *[]){r, name, handle}, (const char *[]){"r", "name", rec->what}, 3, func);
    if (rc) return rc;
    if (!lct__ckpt_reader_accepts(r, rt))
        return lct__ckpt_same_runtime(lct__ckpt_reader_runtime(r), rt, rec->what, "reader", func);
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    if (rec->suffix && (rc = lct__ckpt_sub_name(sub, name, rec->suffix, func))) return rc;
    int opened = rec->suffix ? lct__ckpt_implicit_begin(r) : 0;
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = lct__ckpt_read_record(r, name, rec->type, max, &data, &size, &g, func);
    if (rc == LCT_OK && rec->check) rc = rec->check(handle, &g, data, name, func);
    else if (rc == LCT_OK && size != max)
        rc = lct__fail(LCT_EFORMAT, func, "section '%s' holds %zu bytes, not %zu", name, size, max);
    rc = lct__ckpt_finish(r, rc, handle, rec->commit, data, size);
    if (rc == LCT_OK && params) rc = lct_checkpoint_load_params(r, sub, params);
    return rec->suffix ? lct__ckpt_implicit_end(r, opened, rc) : rc;
}

int lct__ckpt_new_begin(lct_checkpoint_reader *r, const char *name, const lct_runtime *rt, const char *func)
{
    int rc = lct__ckpt_require((const void *[]){r, name, rt}, (const char *[]){"r", "name", "rt"}, 3, func);
    if (rc) return rc;
    if (lct__ckpt_in_group(r))
        return lct__fail(LCT_ESTATE, func, "handles cannot be created inside a group of loads; commit it first");
    return LCT_OK;
}
