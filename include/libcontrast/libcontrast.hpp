/**
 * @file libcontrast/libcontrast.hpp
 * @brief Header-only C++17 wrapper: move-only owning handles, size-checked buffer views, errors as
 *        exceptions or as status codes.
 *
 * Every handle of the C API has one move-only class here that frees it in its destructor:
 * lct::Runtime, lct::Encoder, lct::Optimizer, lct::Bank, lct::Augmenter, lct::Loss,
 * lct::CheckpointWriter and lct::CheckpointReader (lct::Params is a non-owning view of a parameter
 * set). A handle borrows the handles it was created from, as in C: declare the runtime first, then
 * banks, then the losses over them, so that C++'s reverse destruction order frees them correctly.
 *
 * Errors. With exceptions (the default when the compiler has them), a failing call throws
 * lct::Error, which carries the ::lct_status and the message of lct_error_last(). Built with
 * -fno-exceptions (or with LCT_CPP_EXCEPTIONS defined to 0), nothing throws: calls return an
 * lct::Status that must be checked ([[nodiscard]]), and a constructor that fails leaves an empty
 * handle (false in a boolean context) whose status() tells why. The same code compiles either way.
 *
 * Buffers are lct::View<T>: a pointer and a size, made implicitly from a std::vector, std::array,
 * std::span, a C array or (pointer, size). The wrapper checks that a view holds at least what the
 * call reads or writes (::LCT_ESHAPE otherwise) and passes the pointer on: it never copies or
 * allocates. The C function behind any method is also reachable directly: h.get() is the C handle,
 * and h.call(lct_encoder_add_gru, 256u) calls any C function that takes the handle first, with the
 * wrapper's error handling.
 */
#ifndef LIBCONTRAST_HPP
#define LIBCONTRAST_HPP

#include "libcontrast.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <type_traits>
#include <utility>

#ifndef LCT_CPP_EXCEPTIONS
#  if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#    define LCT_CPP_EXCEPTIONS 1
#  else
#    define LCT_CPP_EXCEPTIONS 0
#  endif
#endif

#if LCT_CPP_EXCEPTIONS
#  include <exception>
#  include <string>
#  define LCT__CPP_NODISCARD
#else
#  define LCT__CPP_NODISCARD [[nodiscard]]
#endif

namespace lct {

/** The outcome of a call: ::LCT_OK or a negative ::lct_status. Must be checked without exceptions. */
class LCT__CPP_NODISCARD Status {
public:
    constexpr Status(int code = LCT_OK) noexcept : code_(code) {}
    constexpr int code() const noexcept { return code_; }
    constexpr bool ok() const noexcept { return code_ == LCT_OK; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    /** lct_status_string() of the code. */
    const char *name() const noexcept { return lct_status_string(code_); }

private:
    int code_;
};

#if LCT_CPP_EXCEPTIONS
/** What a failing call throws: its ::lct_status and lct_error_last() (or the status's name). */
class Error : public std::exception {
public:
    Error(int status, const char *message) : status_(status), message_(*message ? message : lct_status_string(status)) {}
    int status() const noexcept { return status_; }
    const char *what() const noexcept override { return message_.c_str(); }

private:
    int status_;
    std::string message_;
};
#endif

/** A C return code in the wrapper's form: throws lct::Error on failure with exceptions, else returns it. */
inline Status check(int rc)
{
#if LCT_CPP_EXCEPTIONS
    if (rc < 0) throw Error(rc, lct_error_last());
#endif
    return Status(rc < 0 ? rc : LCT_OK);
}

/** A contiguous buffer the caller owns: a pointer and an element count. */
template <class T>
class View {
public:
    constexpr View() noexcept = default;
    constexpr View(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <std::size_t N>
    constexpr View(T (&array)[N]) noexcept : data_(array), size_(N) {}
    /** Any container or view with data() and size() whose elements convert (std::vector, std::span, View). */
    template <class C, class = std::enable_if_t<std::is_convertible_v<decltype(std::declval<C &>().data()), T *>>,
              class = decltype(std::declval<C &>().size())>
    constexpr View(C &c) noexcept : data_(c.data()), size_(c.size()) {}
    template <class U, class = std::enable_if_t<std::is_convertible_v<U *, T *>>>
    constexpr View(const View<U> &v) noexcept : data_(v.data()), size_(v.size()) {}
    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }

private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};

/** An option struct, given by pointer (nullptr: the library's defaults) or by reference. */
template <class O>
class Options {
public:
    constexpr Options(const O *p = nullptr) noexcept : p_(p) {}
    constexpr Options(const O &o) noexcept : p_(&o) {}
    constexpr const O *get() const noexcept { return p_; }

private:
    const O *p_;
};

namespace detail {

/** What a call needs of one buffer: @c count items of @c per elements (none if optional and empty). */
struct Need {
    const void *data;
    std::size_t size, count, per;
    const char *what;
    bool optional;
};
template <class T>
constexpr Need need(const View<T> &v, std::size_t count, std::size_t per, const char *what, bool optional = false)
{
    return Need{v.data(), v.size(), count, per, what, optional};
}

/** LCT_ESHAPE, in the wrapper's form, for the first buffer that is too small, naming the call and the buffer. */
inline Status check_sizes(const char *where, std::initializer_list<Need> needs)
{
    for (const Need &n : needs) {
        if ((n.optional && n.data == nullptr) || n.per == 0 || (n.data != nullptr && n.size / n.per >= n.count))
            continue;
        char msg[192];
        std::snprintf(msg, sizeof msg, "lct::%s: '%s' holds %zu elements, %zu x %zu needed", where, n.what, n.size,
                      n.count, n.per);
        return check(lct_error_set(LCT_ESHAPE, msg));
    }
    return Status();
}

/** The owning, move-only part every handle shares: the C pointer, its free function, its creation status. */
template <class T, void (*Free)(T *)>
class Handle {
public:
    using c_type = T;
    Handle() noexcept = default;
    /** Take ownership of a C handle. */
    explicit Handle(T *p) noexcept : p_(p) {}
    Handle(Handle &&o) noexcept : p_(o.release()), status_(o.status_) {}
    Handle &operator=(Handle &&o) noexcept
    {
        if (this != &o) {
            reset(o.release());
            status_ = o.status_;
        }
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { Free(p_); }

    T *get() const noexcept { return p_; }
    /** Give up ownership: the caller frees the C handle. */
    T *release() noexcept { return std::exchange(p_, nullptr); }
    void reset(T *p = nullptr) noexcept { Free(std::exchange(p_, p)); }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    /** The status of the call that created the handle (LCT_OK, or why it is empty). */
    Status status() const noexcept { return Status(status_); }

    /** Call a C function that takes this handle first and returns a status. */
    template <class... P, class... A>
    Status call(int (*fn)(T *, P...), A &&...args) const
    {
        return check(fn(p_, std::forward<A>(args)...));
    }
    template <class... P, class... A>
    Status call(int (*fn)(const T *, P...), A &&...args) const
    {
        return check(fn(p_, std::forward<A>(args)...));
    }

protected:
    /** Run a C constructor (`int fn(T **out, ...)`) into this handle. */
    template <class... P, class... A>
    void create(int (*fn)(T **, P...), A &&...args)
    {
        reset();
        status_ = LCT_OK;
        status_ = check(fn(&p_, std::forward<A>(args)...)).code();
    }
    /** A size read through a C getter; 0 when it fails (without exceptions). */
    std::size_t size_of(int (*fn)(const T *, std::size_t *)) const
    {
        std::size_t n = 0;
        (void)check(fn(p_, &n));
        return n;
    }

    T *p_ = nullptr;
    int status_ = LCT_OK;
};

template <class O>
struct OptionsInit;
#define LCT__CPP_OPTIONS(type, init, version)                                                                         \
    template <>                                                                                                        \
    struct OptionsInit<type> {                                                                                         \
        static int run(type *o) { return init(o, version); }                                                           \
    };
LCT__CPP_OPTIONS(lct_scheduler, lct_scheduler_init, LCT_SCHEDULER_VERSION)
LCT__CPP_OPTIONS(lct_runtime_options, lct_runtime_options_init, LCT_RUNTIME_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_encoder_options, lct_encoder_options_init, LCT_ENCODER_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_optimizer_options, lct_optimizer_options_init, LCT_OPTIMIZER_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_bank_options, lct_bank_options_init, LCT_BANK_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_bank_update_options, lct_bank_update_options_init, LCT_BANK_UPDATE_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_augmenter_options, lct_augmenter_options_init, LCT_AUGMENTER_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_checkpoint_options, lct_checkpoint_options_init, LCT_CHECKPOINT_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_loss_nce_options, lct_loss_nce_options_init, LCT_LOSS_NCE_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_loss_npsoftmax_options, lct_loss_npsoftmax_options_init, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_loss_invaspread_options, lct_loss_invaspread_options_init, LCT_LOSS_INVASPREAD_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_loss_infonce_options, lct_loss_infonce_options_init, LCT_LOSS_INFONCE_OPTIONS_VERSION)
LCT__CPP_OPTIONS(lct_loss_cmc_options, lct_loss_cmc_options_init, LCT_LOSS_CMC_OPTIONS_VERSION)
#undef LCT__CPP_OPTIONS

} // namespace detail

/** An option struct (or scheduler table) filled with the defaults of the version these headers know. */
template <class O>
inline O options()
{
    O o{};
    (void)detail::OptionsInit<O>::run(&o);
    return o;
}

/**
 * A scheduler table over a host's job system, without std::function: @p host must have
 * `void run(std::size_t n, lct_task_fn fn, void *task_ctx)` with the contract of lct_scheduler::run
 * (call fn(task_ctx, i) for every i < n, return when all have returned; it must not throw). The table
 * points at @p host, which must outlive the runtime it is given to.
 */
template <class Host>
inline lct_scheduler scheduler(Host &host, std::uint32_t workers)
{
    lct_scheduler s = options<lct_scheduler>();
    s.workers = workers;
    s.user = &host;
    s.run = [](void *user, std::size_t n, lct_task_fn fn, void *task_ctx) noexcept {
        static_cast<Host *>(user)->run(n, fn, task_ctx);
    };
    return s;
}

/** Threads, seed, allocator and log hooks, the host's scheduler (see runtime.h). Free it last. */
class Runtime : public detail::Handle<lct_runtime, lct_runtime_free> {
public:
    Runtime() noexcept = default;
    explicit Runtime(const lct_runtime_options &opts) { create(lct_runtime_new, &opts); }
    explicit Runtime(std::uint32_t threads, std::uint64_t seed = 0)
    {
        lct_runtime_options o = options<lct_runtime_options>();
        o.threads = threads;
        o.seed = seed;
        create(lct_runtime_new, &o);
    }
    /** A runtime that runs its parallel work on the host's scheduler (copied; its user is borrowed). */
    Runtime(const lct_scheduler &sched, std::uint64_t seed)
    {
        lct_runtime_options o = options<lct_runtime_options>();
        o.scheduler = &sched;
        o.seed = seed;
        create(lct_runtime_new, &o);
    }
    int threads() const noexcept { return lct_runtime_threads(p_); }
    std::uint64_t seed() const noexcept { return lct_runtime_seed(p_); }
    const char *kernel() const noexcept { return lct_runtime_kernel(p_, nullptr); }
};

/** A parameter set, owned by its encoder, loss or optimiser (valid as long as that handle). */
class Params {
public:
    constexpr Params(lct_params *p = nullptr) noexcept : p_(p) {}
    lct_params *get() const noexcept { return p_; }
    /** Number of tensors (0 for an empty view). */
    std::size_t count() const noexcept { return p_ ? static_cast<std::size_t>(lct_params_count(p_)) : 0; }
    Status info(std::size_t index, const char **name, std::size_t *size, int *trainable) const
    {
        return check(lct_params_info(p_, index, name, size, trainable));
    }
    Status read(std::size_t index, View<float> dst) const { return check(lct_params_get(p_, index, dst.data(), dst.size())); }
    Status write(std::size_t index, View<const float> src) const
    {
        return check(lct_params_set(p_, index, src.data(), src.size()));
    }
    Status read_grad(std::size_t index, View<float> dst) const
    {
        return check(lct_params_get_grad(p_, index, dst.data(), dst.size()));
    }
    Status zero_grad() const { return check(lct_params_zero_grad(p_)); }

private:
    lct_params *p_;
};

/** A sequence of layers (see encoder.h), from a spec text or from builder calls through call(). */
class Encoder : public detail::Handle<lct_encoder, lct_encoder_free> {
public:
    Encoder() noexcept = default;
    Encoder(Runtime &rt, const char *spec, Options<lct_encoder_options> opts = {})
    {
        create(lct_encoder_new_from_spec, rt.get(), spec, opts.get());
    }
    /** An encoder without layers for samples of @p shape; add layers with call(lct_encoder_add_..., ...). */
    Encoder(Runtime &rt, View<const std::uint32_t> shape, Options<lct_encoder_options> opts = {})
    {
        create(lct_encoder_new, rt.get(), shape.data(), shape.size(), opts.get());
    }
    std::size_t input_size() const { return size_of(lct_encoder_input_size); }
    std::size_t output_size() const { return size_of(lct_encoder_output_size); }
    const char *spec() const noexcept { return lct_encoder_spec(p_); }
    Params params() const noexcept { return Params(lct_encoder_params(p_)); }
    /** No more layers (lct_encoder_seal()); forward(), params() and saving a checkpoint seal it too. */
    Status seal() const { return check(lct_encoder_seal(p_)); }
    Status set_mode(int mode) const { return check(lct_encoder_set_mode(p_, mode)); }
    Status zero_grad() const { return check(lct_encoder_zero_grad(p_)); }
    /** y = encoder(x) for @p batch samples. */
    Status forward(View<const float> x, std::size_t batch, View<float> y) const
    {
        Status s = detail::check_sizes("Encoder::forward", {detail::need(x, batch, input_size(), "x"),
                                                            detail::need(y, batch, output_size(), "y")});
        return s.ok() ? check(lct_encoder_forward(p_, x.data(), batch, y.data())) : s;
    }
    /** Accumulate the parameter gradients of the last forward from dL/dy; dL/dx into @p dx unless it is empty. */
    Status backward(View<const float> dy, std::size_t batch, View<float> dx = {}) const
    {
        Status s = detail::check_sizes("Encoder::backward", {detail::need(dy, batch, output_size(), "dy"),
                                                             detail::need(dx, batch, input_size(), "dx", true)});
        return s.ok() ? check(lct_encoder_backward(p_, dy.data(), batch, dx.data())) : s;
    }
};

/** SGD, Adam or AdamW over the parameter sets attached to it (see optimizer.h). */
class Optimizer : public detail::Handle<lct_optimizer, lct_optimizer_free> {
public:
    Optimizer() noexcept = default;
    explicit Optimizer(Runtime &rt, Options<lct_optimizer_options> opts = {})
    {
        create(lct_optimizer_new, rt.get(), opts.get());
    }
    Status attach(Params p) const { return check(lct_optimizer_attach(p_, p.get())); }
    Status step() const { return check(lct_optimizer_step(p_)); }
    Status zero_grad() const { return check(lct_optimizer_zero_grad(p_)); }
    double lr() const
    {
        double lr = 0;
        (void)check(lct_optimizer_lr(p_, &lr));
        return lr;
    }
    Params state() const noexcept { return Params(lct_optimizer_state(p_)); }
};

/** A memory bank of N rows of D (see bank.h). */
class Bank : public detail::Handle<lct_bank, lct_bank_free> {
public:
    Bank() noexcept = default;
    Bank(Runtime &rt, std::size_t n, std::size_t d, Options<lct_bank_options> opts = {})
    {
        create(lct_bank_new, rt.get(), n, d, opts.get());
    }
    std::size_t rows() const noexcept { return dims().first; }
    std::size_t dim() const noexcept { return dims().second; }
    /** Momentum update of rows @p idx from the batch's embeddings @p f. */
    Status update(View<const float> f, View<const std::int64_t> idx, std::size_t batch, float momentum) const
    {
        Status s = detail::check_sizes("Bank::update", {detail::need(f, batch, dim(), "f"), detail::need(idx, batch, 1, "idx")});
        return s.ok() ? check(lct_bank_update(p_, f.data(), idx.data(), batch, momentum)) : s;
    }
    /** Copy rows [first, first + count) into @p out. */
    Status read_rows(std::size_t first, std::size_t count, View<float> out) const
    {
        Status s = detail::check_sizes("Bank::read_rows", {detail::need(out, count, dim(), "out")});
        return s.ok() ? check(lct_bank_get_rows(p_, first, count, out.data())) : s;
    }

private:
    std::pair<std::size_t, std::size_t> dims() const noexcept
    {
        std::size_t n = 0, d = 0;
        lct_bank_info(p_, &n, &d, nullptr);
        return {n, d};
    }
};

/** Seeded augmentation pipelines (see augment.h). */
class Augmenter : public detail::Handle<lct_augmenter, lct_augmenter_free> {
public:
    Augmenter() noexcept = default;
    explicit Augmenter(Runtime &rt, Options<lct_augmenter_options> opts = {})
    {
        create(lct_augmenter_new, rt.get(), opts.get());
    }
    Status preset(int preset) const { return check(lct_augmenter_preset(p_, preset)); }
    /** @p views views of each of @p batch samples: uint8 images, or float images and signals, as created. */
    Status apply(View<const std::uint8_t> in, std::size_t batch, std::size_t views, View<float> out) const
    {
        return apply_any(in, batch, views, out);
    }
    Status apply(View<const float> in, std::size_t batch, std::size_t views, View<float> out) const
    {
        return apply_any(in, batch, views, out);
    }

private:
    template <class E>
    Status apply_any(View<const E> in, std::size_t batch, std::size_t views, View<float> out) const
    {
        std::size_t in_count = 0, out_count = 0;
        Status s = check(lct_augmenter_sizes(p_, &in_count, &out_count));
        if (s.ok())
            s = detail::check_sizes("Augmenter::apply", {detail::need(in, batch, in_count, "in"),
                                                         detail::need(out, batch, views * out_count, "out")});
        return s.ok() ? check(lct_augmenter_apply(p_, in.data(), batch, views, out.data())) : s;
    }
};

/** A contrastive objective (see loss.h); made by the factories, which name the method. */
class Loss : public detail::Handle<lct_loss, lct_loss_free> {
public:
    Loss() noexcept = default;
    /** InstDisc NCE over @p bank (borrowed). */
    static Loss nce(Runtime &rt, Bank &bank, Options<lct_loss_nce_options> opts = {})
    {
        return made(bank.dim(), lct_loss_new_nce, rt.get(), bank.get(), opts.get());
    }
    /** InstDisc non-parametric softmax over every row of @p bank (borrowed). */
    static Loss npsoftmax(Runtime &rt, Bank &bank, Options<lct_loss_npsoftmax_options> opts = {})
    {
        return made(bank.dim(), lct_loss_new_npsoftmax, rt.get(), bank.get(), opts.get());
    }
    static Loss invaspread(Runtime &rt, std::size_t dim, Options<lct_loss_invaspread_options> opts = {})
    {
        return made(dim, lct_loss_new_invaspread, rt.get(), dim, opts.get());
    }
    static Loss infonce(Runtime &rt, std::size_t seq_len, std::size_t latent_dim, std::size_t context_dim,
                        Options<lct_loss_infonce_options> opts = {})
    {
        return made(latent_dim, lct_loss_new_infonce, rt.get(), seq_len, latent_dim, context_dim, opts.get());
    }
    /** CMC over @p views views of size @p dim; @p banks (one per view, borrowed) for CMC-NCE, else NULL. */
    static Loss cmc(Runtime &rt, std::size_t views, std::size_t dim, lct_bank *const *banks,
                    Options<lct_loss_cmc_options> opts = {})
    {
        return made(dim, lct_loss_new_cmc, rt.get(), views, dim, banks, opts.get());
    }
    int kind() const noexcept { return lct_loss_get_kind(p_); }
    /** Embedding size the loss takes. */
    std::size_t dim() const noexcept { return dim_; }
    Params params() const noexcept { return Params(lct_loss_params(p_)); }
    Status set_param(int param, double value) const { return check(lct_loss_set_param(p_, param, value)); }

    /**
     * NCE or non-parametric softmax: embeddings @p f (batch x D) of the samples @p idx; the gradient
     * into @p df unless it is empty. InvaSpread: @p f holds both views (2 batch x D) and @p idx is empty.
     */
    Status compute(View<const float> f, View<const std::int64_t> idx, std::size_t batch, float &loss,
                   View<float> df = {}) const
    {
        int k = kind();
        std::size_t rows = k == LCT_LOSS_INVASPREAD ? 2 * batch : batch;
        Status s = detail::check_sizes("Loss::compute", {detail::need(f, rows, dim_, "f"),
                                                         detail::need(idx, batch, 1, "idx", k == LCT_LOSS_INVASPREAD),
                                                         detail::need(df, rows, dim_, "df", true)});
        if (!s.ok()) return s;
        switch (k) {
        case LCT_LOSS_NCE: return check(lct_loss_nce_compute(p_, f.data(), idx.data(), batch, &loss, df.data()));
        case LCT_LOSS_NPSOFTMAX:
            return check(lct_loss_npsoftmax_compute(p_, f.data(), idx.data(), batch, &loss, df.data()));
        case LCT_LOSS_INVASPREAD: return check(lct_loss_invaspread_compute(p_, f.data(), batch, &loss, df.data()));
        default:
            return check(lct_error_set(LCT_EINVAL, "lct::Loss::compute: for NCE, non-parametric softmax and InvaSpread; "
                                                   "call lct_loss_infonce_compute or lct_loss_cmc_compute through call()"));
        }
    }

private:
    template <class... P, class... A>
    static Loss made(std::size_t dim, int (*fn)(lct_loss **, P...), A &&...args)
    {
        Loss l;
        l.create(fn, std::forward<A>(args)...);
        l.dim_ = dim;
        return l;
    }
    std::size_t dim_ = 0;
};

/** Collects handles' state and writes one checkpoint file (see checkpoint.h). */
class CheckpointWriter : public detail::Handle<lct_checkpoint_writer, lct_checkpoint_writer_free> {
public:
    CheckpointWriter() noexcept = default;
    explicit CheckpointWriter(Runtime &rt, Options<lct_checkpoint_options> opts = {})
    {
        create(lct_checkpoint_writer_new, rt.get(), opts.get());
    }
    Status add(const char *name, const Encoder &h) const { return call(lct_checkpoint_add_encoder, name, h.get()); }
    Status add(const char *name, const Optimizer &h) const { return call(lct_checkpoint_add_optimizer, name, h.get()); }
    Status add(const char *name, const Bank &h) const { return call(lct_checkpoint_add_bank, name, h.get()); }
    Status add(const char *name, const Loss &h) const { return call(lct_checkpoint_add_loss, name, h.get()); }
    Status add(const char *name, const Augmenter &h) const { return call(lct_checkpoint_add_augmenter, name, h.get()); }
    Status add(const char *name, Params p) const { return call(lct_checkpoint_add_params, name, p.get()); }
    Status add_counter(const char *name, std::uint64_t value) const
    {
        return call(lct_checkpoint_add_counter, name, value);
    }
    Status add_runtime() const { return call(lct_checkpoint_add_runtime); }
    /** Write atomically to @p path (the previous file survives a failure). */
    Status write_file(const char *path) const { return call(lct_checkpoint_write_file, path); }
};

/** Opens a checkpoint, verifies it whole, and loads its sections into handles. */
class CheckpointReader : public detail::Handle<lct_checkpoint_reader, lct_checkpoint_reader_free> {
public:
    CheckpointReader() noexcept = default;
    CheckpointReader(Runtime &rt, const char *path) { create(lct_checkpoint_reader_open_file, rt.get(), path); }
    CheckpointReader(Runtime &rt, View<const unsigned char> bytes)
    {
        create(lct_checkpoint_reader_open_memory, rt.get(), static_cast<const void *>(bytes.data()), bytes.size());
    }
    Status load(const char *name, const Encoder &h) const { return call(lct_checkpoint_load_encoder, name, h.get()); }
    Status load(const char *name, const Optimizer &h) const
    {
        return call(lct_checkpoint_load_optimizer, name, h.get());
    }
    Status load(const char *name, const Bank &h) const { return call(lct_checkpoint_load_bank, name, h.get()); }
    Status load(const char *name, const Loss &h) const { return call(lct_checkpoint_load_loss, name, h.get()); }
    Status load(const char *name, const Augmenter &h) const
    {
        return call(lct_checkpoint_load_augmenter, name, h.get());
    }
    Status load(const char *name, Params p) const { return call(lct_checkpoint_load_params, name, p.get()); }
    Status counter(const char *name, std::uint64_t &value) const
    {
        return call(lct_checkpoint_get_counter, name, &value);
    }
};

} // namespace lct

#endif /* LIBCONTRAST_HPP */
