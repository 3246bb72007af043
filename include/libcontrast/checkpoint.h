/**
 * @file libcontrast/checkpoint.h
 * @brief Checkpoints (one compressed, checksummed, atomically written file) and .npy export.
 *
 * A checkpoint is a list of named, typed sections (docs/checkpoint-format.md):
 * parameter sets, the runtime's random-stream state, counters (step, epoch,
 * ...), user key-value strings, opaque blobs, and the state other modules add
 * (banks, losses, augmenters). Saving goes through a *writer*: add sections,
 * then write to a path (atomically) or through a callback. Loading goes
 * through a *reader*: opening reads the whole file and verifies every
 * checksum and length before anything can be loaded; each load then checks
 * that the section fits its target (names, shapes, finite values) before
 * changing it. Several loads can be grouped with lct_checkpoint_reader_begin()
 * / lct_checkpoint_reader_commit() so that either all of them apply or none.
 *
 * A damaged or hostile file never crashes the host: it gives LCT_EFORMAT
 * (malformed, truncated, impossible lengths), LCT_ECHECKSUM (a CRC-32 fails)
 * or LCT_EVERSION (written by a newer format version), and the loader never
 * allocates more than the bytes really present (plus the size of its targets).
 */
#ifndef LIBCONTRAST_CHECKPOINT_H
#define LIBCONTRAST_CHECKPOINT_H

#include "augment.h"
#include "bank.h"
#include "encoder.h"
#include "loss.h"
#include "optimizer.h"
#include "params.h"
#include "replay.h"

LCT_BEGIN_DECLS

typedef struct lct_checkpoint_writer lct_checkpoint_writer;
typedef struct lct_checkpoint_reader lct_checkpoint_reader;

/** Version of the container format this library writes; it reads versions 1..this. */
#define LCT_CHECKPOINT_FORMAT_VERSION 1

/** Section types. Types below LCT_CHECKPOINT_TYPE_USER are reserved for the library. */
typedef enum lct_checkpoint_type {
    LCT_CHECKPOINT_TYPE_META = 1,       /**< user key-value strings ("lct.meta") */
    LCT_CHECKPOINT_TYPE_COUNTERS = 2,   /**< named 64-bit counters ("lct.counters") */
    LCT_CHECKPOINT_TYPE_RUNTIME = 3,    /**< seed and random-stream state of the runtime ("lct.runtime") */
    LCT_CHECKPOINT_TYPE_PARAMS = 4,     /**< a parameter set: tensor names, sizes and values */
    LCT_CHECKPOINT_TYPE_USER = 65536    /**< first type free for hosts' own blobs */
} lct_checkpoint_type;

/** Limits checked by writers and readers (see docs/checkpoint-format.md). */
#define LCT_CHECKPOINT_MAX_SECTIONS 65536u
#define LCT_CHECKPOINT_MAX_NAME 255u       /**< bytes of a section name, counter name or meta key */
#define LCT_CHECKPOINT_MAX_VALUE 65536u    /**< bytes of a meta value */

/**
 * Sink for lct_checkpoint_write_cb(): store @p size bytes from @p data.
 * Return 0 on success, anything else to abort the save (the writer then returns LCT_EIO).
 */
typedef int (*lct_checkpoint_write_fn)(void *user, const void *data, size_t size);

/**
 * Source for lct_checkpoint_reader_open_cb(): copy up to @p size bytes into @p buf.
 * Return the number of bytes copied (1..size), 0 at the end of the data, or a negative
 * number on error (the open then returns LCT_EIO).
 */
typedef int64_t (*lct_checkpoint_read_fn)(void *user, void *buf, size_t size);

#define LCT_CHECKPOINT_OPTIONS_VERSION 1

/** Writer options. Initialise with lct_checkpoint_options_init(); fields are only ever added at the end. */
typedef struct lct_checkpoint_options {
    uint32_t version;   /**< LCT_CHECKPOINT_OPTIONS_VERSION */
    int32_t level;      /**< deflate level 0 (store) .. 9 (smallest); default 1: float data gains
                             little from higher levels, which cost several times the time */
} lct_checkpoint_options;

/**
 * Fill @p opts with defaults for struct version @p version.
 * @return LCT_OK, LCT_EINVAL (NULL @p opts), LCT_EVERSION (unknown version).
 */
LCT_API int lct_checkpoint_options_init(lct_checkpoint_options *opts, uint32_t version);

/* ---- writing ----------------------------------------------------------- */

/**
 * Create an empty checkpoint writer. It borrows @p rt (all its memory, zlib's included,
 * comes from the runtime's allocator hooks).
 * @param out   receives the writer; set to NULL on failure
 * @param opts  options, or NULL for defaults
 * @return LCT_OK, LCT_EINVAL (NULL @p out or @p rt, level outside 0..9), LCT_EVERSION, LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_writer_new(lct_checkpoint_writer **out, lct_runtime *rt,
                                      const lct_checkpoint_options *opts);

/** Free a writer and the sections it holds. Accepts NULL. */
LCT_API void lct_checkpoint_writer_free(lct_checkpoint_writer *w);

/**
 * Add parameter set @p params as section @p name (type LCT_CHECKPOINT_TYPE_PARAMS): every
 * tensor's name, element count, kind (trainable or state) and values, as they are *now*
 * (the values are copied and compressed during this call).
 * Section names are 1..255 bytes, unique in a checkpoint; names starting with "lct." are
 * reserved for the library.
 * @return LCT_OK; LCT_EINVAL (NULL argument, bad or duplicate name, too many sections);
 *         LCT_EMISMATCH (@p params belongs to a handle of another runtime than the writer's);
 *         LCT_ENUMERIC (a tensor holds NaN or Inf: it could not be loaded back); LCT_ENOMEM.
 *         On failure the writer is unchanged.
 */
LCT_API int lct_checkpoint_add_params(lct_checkpoint_writer *w, const char *name, const lct_params *params);

/**
 * Add (or replace) the user string @p value under @p key. Keys are 1..255 bytes, values
 * 0..65536 bytes (NUL-terminated, stored as bytes: UTF-8 is the caller's choice).
 * @return LCT_OK, LCT_EINVAL (NULL argument, empty or too long key or value), LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_add_meta(lct_checkpoint_writer *w, const char *key, const char *value);

/**
 * Add (or replace) the 64-bit counter @p name (1..255 bytes), e.g. "step" or "epoch".
 * @return LCT_OK, LCT_EINVAL, LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_add_counter(lct_checkpoint_writer *w, const char *name, uint64_t value);

/**
 * Record the writer's runtime state as it is now: its seed and the counter from which new
 * handles draw their random streams. Loading it back (lct_checkpoint_load_runtime()) makes
 * handles created afterwards draw the same streams as in the saved run. Calling it again
 * replaces the earlier record.
 * @return LCT_OK, LCT_EINVAL, LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_add_runtime(lct_checkpoint_writer *w);

/**
 * Add @p size bytes from @p data as section @p name of type @p type (>= LCT_CHECKPOINT_TYPE_USER):
 * a host's own state. @p data may be NULL when @p size is 0. The bytes are copied.
 * @return LCT_OK, LCT_EINVAL (NULL argument, bad or duplicate name, reserved type, size above the
 *         format's 2^40 bytes per section, too many sections), LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_add_blob(lct_checkpoint_writer *w, const char *name, uint32_t type,
                                    const void *data, size_t size);

/**
 * Write the checkpoint to @p path atomically: into a temporary file in the same folder,
 * flushed and fsync'ed, renamed over @p path, then the folder is fsync'ed. If anything
 * fails (full disk, missing or read-only folder, @p path is a folder), the temporary file is
 * removed and the file previously at @p path is left as it was. The writer keeps its
 * sections and can write again.
 * @return LCT_OK, LCT_EINVAL (NULL argument, empty path), LCT_EIO (the message names the
 *         failing step and the system's reason), LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_write_file(lct_checkpoint_writer *w, const char *path);

/**
 * Write the checkpoint through @p fn (called several times, in order). If @p fn fails,
 * the save stops and returns LCT_EIO; keeping the previous copy intact is then the sink's
 * business (write to a new place and switch over only after LCT_OK).
 * @return LCT_OK, LCT_EINVAL, LCT_EIO, LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_write_cb(lct_checkpoint_writer *w, lct_checkpoint_write_fn fn, void *user);

/* ---- reading ----------------------------------------------------------- */

/**
 * Open the checkpoint at @p path: read it whole and verify its structure, every length and
 * every CRC-32. The reader borrows @p rt and holds the (compressed) file in memory.
 * @param out  receives the reader; set to NULL on failure
 * @return LCT_OK; LCT_EINVAL (NULL argument); LCT_EIO (cannot open or read);
 *         LCT_EFORMAT (empty, truncated, wrong magic, impossible counts or lengths, trailing
 *         bytes, malformed library section); LCT_ECHECKSUM (a header or payload CRC-32 fails);
 *         LCT_EVERSION (a newer format version); LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_reader_open_file(lct_checkpoint_reader **out, lct_runtime *rt, const char *path);

/**
 * As lct_checkpoint_reader_open_file(), reading through @p fn until it returns 0.
 * @return as lct_checkpoint_reader_open_file(); LCT_EIO when @p fn returns a negative number
 *         or more bytes than asked for.
 */
LCT_API int lct_checkpoint_reader_open_cb(lct_checkpoint_reader **out, lct_runtime *rt,
                                          lct_checkpoint_read_fn fn, void *user);

/**
 * As lct_checkpoint_reader_open_file(), from @p size bytes at @p data (copied: the buffer may
 * be released after the call).
 * @return as lct_checkpoint_reader_open_file(), plus LCT_EINVAL (NULL @p data with a size, a size
 *         larger than any buffer).
 */
LCT_API int lct_checkpoint_reader_open_memory(lct_checkpoint_reader **out, lct_runtime *rt,
                                              const void *data, size_t size);

/** Free a reader (and discard loads staged by lct_checkpoint_reader_begin()). Accepts NULL. */
LCT_API void lct_checkpoint_reader_free(lct_checkpoint_reader *r);

/** Format version of the opened file (1..LCT_CHECKPOINT_FORMAT_VERSION), or LCT_EINVAL. */
LCT_API int lct_checkpoint_reader_format_version(const lct_checkpoint_reader *r);

/** Number of sections in the file, or LCT_EINVAL for NULL. */
LCT_API int lct_checkpoint_section_count(const lct_checkpoint_reader *r);

/**
 * Describe section @p index: its name (valid as long as the reader), type and uncompressed
 * size in bytes. Any out pointer may be NULL. Sections of types this library does not know
 * are listed too; loads simply never use them.
 * @return LCT_OK, LCT_EINVAL, LCT_ERANGE (index past the end).
 */
LCT_API int lct_checkpoint_section_info(const lct_checkpoint_reader *r, size_t index, const char **name,
                                        uint32_t *type, uint64_t *size);

/**
 * Index of the section called @p name, or LCT_ENOTFOUND if there is none (LCT_EINVAL for NULL).
 * @return the index (>= 0), LCT_EINVAL, LCT_ENOTFOUND.
 */
LCT_API int lct_checkpoint_find(const lct_checkpoint_reader *r, const char *name);

/**
 * Load section @p name into @p params. The section must hold exactly the tensors of
 * @p params (matched by name, in any order) with the same element counts, and only finite
 * values; otherwise nothing is changed. Trainable and state tensors are both loaded;
 * gradients are not touched.
 * @return LCT_OK; LCT_EINVAL (NULL argument); LCT_ENOTFOUND (no such section); LCT_EFORMAT
 *         (not a parameter section, or malformed); LCT_ESHAPE (tensor count, a name or an
 *         element count differs: the message names it); LCT_EMISMATCH (@p params belongs to a
 *         handle of another runtime than the reader's); LCT_ENUMERIC; LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_load_params(lct_checkpoint_reader *r, const char *name, lct_params *params);

/**
 * Restore the random-stream counter of @p rt from the "lct.runtime" section. The seed of
 * @p rt must equal the saved one (a different seed could not resume the same streams).
 * @return LCT_OK, LCT_EINVAL, LCT_ENOTFOUND (no runtime section), LCT_EFORMAT,
 *         LCT_EMISMATCH (different seed), LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_load_runtime(lct_checkpoint_reader *r, lct_runtime *rt);

/**
 * The value of meta key @p key (valid as long as the reader) into @p value.
 * @return LCT_OK, LCT_EINVAL, LCT_ENOTFOUND (no such key).
 */
LCT_API int lct_checkpoint_get_meta(const lct_checkpoint_reader *r, const char *key, const char **value);

/** Number of meta entries, or LCT_EINVAL for NULL. */
LCT_API int lct_checkpoint_meta_count(const lct_checkpoint_reader *r);

/**
 * Meta entry @p index (in the order they were added): key and value, valid as long as the reader.
 * @return LCT_OK, LCT_EINVAL, LCT_ERANGE.
 */
LCT_API int lct_checkpoint_meta_at(const lct_checkpoint_reader *r, size_t index, const char **key,
                                   const char **value);

/**
 * The value of counter @p name into @p value.
 * @return LCT_OK, LCT_EINVAL, LCT_ENOTFOUND (no such counter).
 */
LCT_API int lct_checkpoint_get_counter(const lct_checkpoint_reader *r, const char *name, uint64_t *value);

/**
 * Copy the uncompressed bytes of section @p name, of type @p type, into @p dst, which holds
 * exactly @p size bytes (lct_checkpoint_section_info() gives the size). @p dst may be NULL
 * when @p size is 0.
 * @return LCT_OK, LCT_EINVAL, LCT_ENOTFOUND (no such section), LCT_EFORMAT (different type,
 *         or malformed), LCT_ESHAPE (@p size differs), LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_read_blob(lct_checkpoint_reader *r, const char *name, uint32_t type, void *dst,
                                     size_t size);

/**
 * Start a group of loads: until lct_checkpoint_reader_commit(), every lct_checkpoint_load_*
 * call validates its section against its target and stages it without changing the target.
 * The targets stay borrowed until the commit.
 * @return LCT_OK, LCT_EINVAL, LCT_ESTATE (a group is already open).
 */
LCT_API int lct_checkpoint_reader_begin(lct_checkpoint_reader *r);

/**
 * Close the group: if every load since lct_checkpoint_reader_begin() succeeded, apply them all
 * (this step cannot fail) and return LCT_OK; otherwise apply none and return the first load's
 * error code again. Either way the group is closed.
 * @return LCT_OK, LCT_EINVAL, LCT_ESTATE (no group open), or the first failed load's code:
 *         LCT_ENOTFOUND, LCT_EFORMAT, LCT_EVERSION, LCT_ESHAPE, LCT_EMISMATCH, LCT_ENUMERIC or LCT_ENOMEM.
 */
LCT_API int lct_checkpoint_reader_commit(lct_checkpoint_reader *r);

/** Close the group without applying anything. @return LCT_OK, LCT_EINVAL, LCT_ESTATE (no group open). */
LCT_API int lct_checkpoint_reader_rollback(lct_checkpoint_reader *r);

/* ---- handles ------------------------------------------------------------- */

/**
 * @name Handles
 * Each handle is saved under a name of your choice; handles with tensors add a second section
 * "<name>.params" (optimisers: "<name>.state"), so @p name may have at most 248 bytes. A handle's
 * load checks every part before changing anything and applies all of it or nothing (inside a
 * lct_checkpoint_reader_begin() group, it is staged with the rest). Errors common to these
 * functions: LCT_EINVAL (NULL argument, bad or duplicate name); LCT_EMISMATCH (the handle was
 * created from another runtime than the writer or reader, while lct_checkpoint_new_encoder() and
 * lct_checkpoint_new_bank() may create theirs from any runtime; and, for banks, a section saved
 * from one shard of a sharded bank loaded into an unsharded bank, into another rank's shard or a
 * bank sharded over another number of ranks, an unsharded bank's section loaded into a shard, or a
 * shard's section given to lct_checkpoint_new_bank()); LCT_ENUMERIC (a tensor to save, or a
 * value to load, is NaN or Inf); LCT_ENOMEM; for loads LCT_ENOTFOUND (no such section),
 * LCT_EFORMAT (malformed, or a section of another type), LCT_EVERSION (a newer record version),
 * LCT_ESHAPE (the handle's shape or architecture differs, or for lct_checkpoint_new_encoder() the
 * saved spec's parameters differ from its parameter section: the message says how); for
 * lct_checkpoint_new_encoder() and lct_checkpoint_new_bank() LCT_ESTATE (inside a group).
 * @{
 */

/** Save an encoder: its canonical spec, dropout step and random stream, and its parameters
 *  (trainable and batch-norm running statistics). Hands out the encoder's parameter set (which
 *  seals it, as lct_encoder_params() does). */
LCT_API int lct_checkpoint_add_encoder(lct_checkpoint_writer *w, const char *name, lct_encoder *enc);

/** Load an encoder saved by lct_checkpoint_add_encoder() into @p enc, whose spec must equal the
 *  saved one (LCT_ESHAPE otherwise). Gradients and mode are not touched. */
LCT_API int lct_checkpoint_load_encoder(lct_checkpoint_reader *r, const char *name, lct_encoder *enc);

/**
 * Create an encoder from the spec saved under @p name and load its state; the encoder borrows
 * @p rt. Not allowed inside a group (LCT_ESTATE). @p out is NULL on failure.
 */
LCT_API int lct_checkpoint_new_encoder(lct_checkpoint_reader *r, const char *name, lct_runtime *rt,
                                       lct_encoder **out);

/** Save an optimiser's step counter (which places the schedule and Adam's bias correction) and its
 *  state tensors (momenta, Adam moments). Its hyper-parameters are the host's: create the
 *  optimiser with the same options and attach the same sets before loading. */
LCT_API int lct_checkpoint_add_optimizer(lct_checkpoint_writer *w, const char *name, lct_optimizer *opt);

/** Load an optimiser saved by lct_checkpoint_add_optimizer(); its state tensors must match by name and size. */
LCT_API int lct_checkpoint_load_optimizer(lct_checkpoint_reader *r, const char *name, lct_optimizer *opt);

/** Save a memory bank: shape, storage (rows stored as they are, fp32 or fp16) and sampling stream. */
LCT_API int lct_checkpoint_add_bank(lct_checkpoint_writer *w, const char *name, const lct_bank *bank);

/** Load a bank saved by lct_checkpoint_add_bank() into @p bank of the same N, D and storage. */
LCT_API int lct_checkpoint_load_bank(lct_checkpoint_reader *r, const char *name, lct_bank *bank);

/** Create a bank (rows owned by the bank) of the saved shape and storage and load it; it borrows
 *  @p rt. Not allowed inside a group (LCT_ESTATE). @p out is NULL on failure. */
LCT_API int lct_checkpoint_new_bank(lct_checkpoint_reader *r, const char *name, lct_runtime *rt, lct_bank **out);

/** Save a loss's state: log Z and whether it is known, per bank (NCE, CMC-NCE), and its trainable
 *  tensors (CPC's W_k). The banks a loss borrows are saved on their own (lct_checkpoint_add_bank()). */
LCT_API int lct_checkpoint_add_loss(lct_checkpoint_writer *w, const char *name, lct_loss *loss);

/** Load a loss saved by lct_checkpoint_add_loss() into a loss of the same kind and bank count. */
LCT_API int lct_checkpoint_load_loss(lct_checkpoint_reader *r, const char *name, lct_loss *loss);

/** Save an augmenter's random stream and call counter (its pipeline is the host's to rebuild). */
LCT_API int lct_checkpoint_add_augmenter(lct_checkpoint_writer *w, const char *name, const lct_augmenter *aug);

/** Load an augmenter saved by lct_checkpoint_add_augmenter(): the next call repeats the saved run's draws. */
LCT_API int lct_checkpoint_load_augmenter(lct_checkpoint_reader *r, const char *name, lct_augmenter *aug);

/** Save a replay: its samples, each slot's sample number, its counters and random stream, and MinRed's
 *  measures (each slot's nearest neighbour and the queue of slots to re-measure). A bound bank is saved
 *  on its own (lct_checkpoint_add_bank()). */
LCT_API int lct_checkpoint_add_replay(lct_checkpoint_writer *w, const char *name, const lct_replay *rp);

/** Load a replay saved by lct_checkpoint_add_replay() into @p rp, created with the same capacity, shape,
 *  element type and policy (LCT_ESHAPE otherwise): the next insertions and batches repeat the saved
 *  run's. Its bank binding is the host's, as is loading the bound bank. */
LCT_API int lct_checkpoint_load_replay(lct_checkpoint_reader *r, const char *name, lct_replay *rp);

/** Save a novelty scorer's running statistics (its k, momentum and bank are the host's configuration). */
LCT_API int lct_checkpoint_add_novelty(lct_checkpoint_writer *w, const char *name, const lct_novelty *nv);

/** Load the running statistics saved by lct_checkpoint_add_novelty() into @p nv. */
LCT_API int lct_checkpoint_load_novelty(lct_checkpoint_reader *r, const char *name, lct_novelty *nv);

/** @} */

/* ---- .npy export ------------------------------------------------------- */

/**
 * Write @p rows × @p cols floats (row-major) to @p path as a NumPy .npy file (format 1.0,
 * dtype '<f4', C order, shape (rows, cols)), atomically as lct_checkpoint_write_file().
 * @return LCT_OK, LCT_EINVAL (NULL argument, zero rows or cols), LCT_ESHAPE (size overflows), LCT_EIO.
 */
LCT_API int lct_npy_write(const char *path, const float *data, size_t rows, size_t cols);

/** As lct_npy_write() for a 1-D array of @p n floats (shape (n,)). */
LCT_API int lct_npy_write_vector(const char *path, const float *data, size_t n);

/**
 * Shape of the .npy float32 array at @p path: @p ndim is 1 or 2; for a 1-D array of n
 * elements, @p rows is n and @p cols is 1. Any out pointer may be NULL.
 * @return LCT_OK; LCT_EINVAL; LCT_EIO; LCT_EFORMAT (not .npy 1.0/2.0, not '<f4', Fortran
 *         order, not 1-D or 2-D, an empty array, malformed header, data size wrong).
 */
LCT_API int lct_npy_info(const char *path, size_t *rows, size_t *cols, uint32_t *ndim);

/**
 * Read the array at @p path into @p dst, which holds @p rows × @p cols floats; the file's
 * shape must match (a 1-D file of n elements matches rows n, cols 1).
 * @return as lct_npy_info(); LCT_ESHAPE (shape differs; @p dst untouched).
 */
LCT_API int lct_npy_read(const char *path, float *dst, size_t rows, size_t cols);

/**
 * Read the array at @p path into memory allocated from @p rt; release it with lct_npy_free().
 * @param out   receives the data; NULL on failure
 * @param rows, cols  receive the shape (either may be NULL)
 * @return as lct_npy_info(); LCT_ENOMEM.
 */
LCT_API int lct_npy_read_alloc(lct_runtime *rt, const char *path, float **out, size_t *rows, size_t *cols);

/** Release an array returned by lct_npy_read_alloc() with the same @p rt. Accepts NULL @p data. */
LCT_API void lct_npy_free(lct_runtime *rt, float *data);

LCT_END_DECLS

#endif /* LIBCONTRAST_CHECKPOINT_H */
