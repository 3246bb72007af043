// The C++ wrapper (libcontrast.hpp), built four times by tests/meson.build: C++17 and C++20, with and
// without exceptions, under -Wall -Wextra -pedantic -Werror. The same source runs in every mode: a
// failure is an lct::Error with exceptions and a returned lct::Status without. Prints "N passed, N failed".
#include <libcontrast/libcontrast.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if __cplusplus >= 202002L
#  include <span>
#endif

namespace {

int failures = 0; // of the test function running

void expect(bool ok, const char *what, int line)
{
    if (!ok) {
        failures++;
        std::printf("FAIL (line %d): %s\n", line, what);
    }
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

// The status of whatever @p f does, however the wrapper reports it in this build.
template <class F>
int status_of(F &&f, std::string *message = nullptr)
{
#if LCT_CPP_EXCEPTIONS
    try {
        return f().code();
    } catch (const lct::Error &e) {
        if (message) *message = e.what();
        return e.status();
    }
#else
    int code = f().code();
    if (message) *message = lct_error_last();
    return code;
#endif
}

// Every call of a test that must succeed; with exceptions a failure would throw out of main instead.
#define OK(call) EXPECT(status_of([&] { return (call); }) == LCT_OK)

static_assert(!std::is_copy_constructible_v<lct::Encoder> && !std::is_copy_assignable_v<lct::Encoder>);
static_assert(std::is_nothrow_move_constructible_v<lct::Runtime> && std::is_nothrow_move_assignable_v<lct::Bank>);
static_assert(sizeof(lct::View<float>) == sizeof(float *) + sizeof(std::size_t));

constexpr std::size_t N = 64, BATCH = 16, SIDE = 8, PIXELS = SIDE * SIDE, EPOCHS = 6;

// A host's job system in miniature: runs the tasks in the calling thread and counts them.
struct InlineJobs {
    std::size_t batches = 0, tasks = 0;
    void run(std::size_t n, lct_task_fn fn, void *ctx)
    {
        batches++;
        for (std::size_t i = 0; i < n; i++, tasks++) fn(ctx, i);
    }
};

// InstDisc on 64 generated 8x8 images: mean loss of the first and of the last epoch.
std::array<double, 2> train(lct::Runtime &rt)
{
    std::vector<std::uint8_t> data(N * PIXELS), images(BATCH * PIXELS);
    for (std::size_t i = 0; i < data.size(); i++) data[i] = static_cast<std::uint8_t>((i * 37 + (i / PIXELS) * 11) % 251);

    lct_augmenter_options ao = lct::options<lct_augmenter_options>();
    ao.channels = 1, ao.height = SIDE, ao.width = SIDE;
    lct::Augmenter aug(rt, ao);
    OK(aug.call(lct_augmenter_add_hflip, 0.5));
    lct::Encoder enc(rt, "in 1x8x8; flatten; linear 32; relu; linear 16; l2norm");
    lct::Bank bank(rt, N, enc.output_size());
    lct::Loss loss = lct::Loss::npsoftmax(rt, bank);
    lct_optimizer_options oo = lct::options<lct_optimizer_options>();
    oo.lr = 0.05, oo.momentum = 0.9;
    lct::Optimizer opt(rt, oo);
    OK(opt.attach(enc.params()));
    EXPECT(aug && enc && bank && loss && opt && loss.dim() == 16);

    std::vector<float> x(BATCH * PIXELS), f(BATCH * 16), df(BATCH * 16);
    std::array<std::int64_t, BATCH> idx{};
    std::array<double, 2> epoch_loss{};
    for (std::size_t e = 0; e < EPOCHS; e++) {
        double sum = 0;
        for (std::size_t s = 0; s < N / BATCH; s++) {
            for (std::size_t b = 0; b < BATCH; b++) idx[b] = static_cast<std::int64_t>(((s * BATCH + b) * 5 + e) % N);
            for (std::size_t b = 0; b < BATCH; b++)
                std::memcpy(&images[b * PIXELS], &data[static_cast<std::size_t>(idx[b]) * PIXELS], PIXELS);
            float value = 0;
            OK(aug.apply(lct::View<const std::uint8_t>(images), BATCH, 1, x));
            OK(enc.forward(x, BATCH, f));
            OK(loss.compute(f, idx, BATCH, value, df));
            OK(opt.zero_grad());
            OK(enc.backward(df, BATCH));
            OK(opt.step());
            OK(bank.update(f, idx, BATCH, 0.5f));
            sum += value;
        }
        if (e == 0) epoch_loss[0] = sum;
        epoch_loss[1] = sum;
    }
    return epoch_loss;
}

void test_training()
{
    lct::Runtime rt(1, 7);
    EXPECT(rt && rt.status().ok() && rt.seed() == 7 && rt.threads() == 1 && std::strlen(rt.kernel()) > 0);
    std::array<double, 2> l = train(rt);
    std::printf("InstDisc loss: first epoch %.4f, last epoch %.4f\n", l[0] / 4, l[1] / 4);
    EXPECT(std::isfinite(l[1]) && l[1] < l[0]);

    // The same run on a host's scheduler (two workers, run inline here) gives the same losses.
    InlineJobs jobs;
    lct_scheduler sched = lct::scheduler(jobs, 2);
    lct::Runtime hosted(sched, 7);
    EXPECT(hosted.threads() == 2);
    std::array<double, 2> h = train(hosted);
    EXPECT(h[0] == l[0] && h[1] == l[1]);
    EXPECT(jobs.batches > 0 && jobs.tasks >= 2 * jobs.batches);
}

void test_errors()
{
    lct::Runtime rt(1, 1);
    std::string msg;
    // A constructor: the exception, or an empty handle that keeps the status.
    EXPECT(status_of([&] {
               lct::Encoder e(rt, "in 4; linaer 3");
               EXPECT(!e);
               return e.status();
           }, &msg) == LCT_EFORMAT);
    EXPECT(msg.find("linaer") != std::string::npos);
    // A method, with the C library's message.
    lct::Encoder enc(rt, "in 4; linear 3");
    EXPECT(status_of([&] { return enc.set_mode(7); }, &msg) == LCT_EINVAL);
    EXPECT(msg.find("lct_encoder_set_mode") != std::string::npos);
    // A view too small for the call is refused before it reaches the library.
    std::vector<float> x(8), y(5);
    EXPECT(status_of([&] { return enc.forward(x, 2, y); }, &msg) == LCT_ESHAPE);
    EXPECT(msg.find("Encoder::forward") != std::string::npos && msg.find("'y'") != std::string::npos);
    // Any C function through call().
    EXPECT(status_of([&] { return enc.call(lct_encoder_set_step, std::uint64_t{3}); }) == LCT_OK);
    std::uint64_t step = 0;
    EXPECT(status_of([&] { return enc.call(lct_encoder_step, &step); }) == LCT_OK && step == 3);
    EXPECT(lct::Status(LCT_ENOMEM).name() == std::string(lct_status_string(LCT_ENOMEM)));
    // Sealed explicitly: the builder calls are refused afterwards.
    const std::uint32_t four[] = {4};
    lct::Encoder open(rt, four);
    EXPECT(status_of([&] { return open.call(lct_encoder_add_linear, std::uint32_t{2}, 1); }) == LCT_OK);
    EXPECT(status_of([&] { return open.seal(); }) == LCT_OK);
    EXPECT(status_of([&] { return open.call(lct_encoder_add_relu); }) == LCT_ESTATE);
}

void test_ownership_and_views()
{
    lct::Runtime rt(1, 2);
    lct::Encoder a(rt, "in 4; linear 2");
    lct_encoder *raw = a.get();
    lct::Encoder b(std::move(a));
    EXPECT(!a && b.get() == raw); // NOLINT(bugprone-use-after-move): a moved-from handle is empty
    a = std::move(b);
    EXPECT(a.get() == raw && !b);
    lct_encoder *released = a.release();
    EXPECT(!a && released == raw);
    a.reset(released);
    EXPECT(a.get() == raw);

    float c_array[8] = {};
    std::array<float, 8> arr{};
    std::vector<float> vec(8);
    lct::View<float> v1 = c_array, v2 = arr, v3 = vec, v4(vec.data(), 6);
    lct::View<const float> cv = v4;
    EXPECT(v1.size() == 8 && v2.data() == arr.data() && v3.size() == 8 && cv.size() == 6 && cv.data() == vec.data());
#if __cplusplus >= 202002L
    std::span<float> sp(vec);
    lct::View<const float> from_span = sp;
    EXPECT(from_span.data() == vec.data() && from_span.size() == 8);
#endif
    std::vector<float> y(2 * 2);
    OK(a.forward(v3, 2, y));

    // Option structs by reference, by pointer, or none (the library's defaults).
    lct_optimizer_options oo = lct::options<lct_optimizer_options>();
    oo.lr = 0.5;
    lct::Optimizer by_ref(rt, oo), by_ptr(rt, &oo), defaults(rt, nullptr), none(rt);
    EXPECT(by_ref.lr() == 0.5 && by_ptr.lr() == 0.5 && defaults.lr() == 0.01 && none.lr() == 0.01);
}

void test_checkpoint(const char *path)
{
    std::vector<float> w0(8), w1(8);
    {
        lct::Runtime rt(1, 3);
        lct::Encoder enc(rt, "in 4; linear 2");
        OK(enc.params().read(0, w0));
        lct::CheckpointWriter w(rt);
        OK(w.add("enc", enc));
        OK(w.add_counter("step", 42));
        OK(w.write_file(path));
    }
    lct::Runtime rt(1, 4);
    lct::Encoder enc(rt, "in 4; linear 2");
    lct::CheckpointReader r(rt, path);
    std::uint64_t step = 0;
    OK(r.load("enc", enc));
    OK(r.counter("step", step));
    OK(enc.params().read(0, w1));
    EXPECT(step == 42 && w0 == w1);
    EXPECT(status_of([&] { return r.load("nothing", enc); }) == LCT_ENOTFOUND);
}

} // namespace

int main(int argc, char **argv)
{
    std::printf("libcontrast %s, C++%ld, %s\n", lct_version_string(), static_cast<long>(__cplusplus / 100 % 100),
                LCT_CPP_EXCEPTIONS ? "exceptions" : "no exceptions");
    const char *path = argc > 1 ? argv[1] : "test_wrapper.ckpt";
    struct {
        const char *name;
        void (*run)(const char *);
    } tests[] = {
        {"version", [](const char *) { EXPECT(lct_version_number() == LCT_VERSION_NUMBER); }},
        {"training", [](const char *) { test_training(); }},
        {"errors", [](const char *) { test_errors(); }},
        {"ownership and views", [](const char *) { test_ownership_and_views(); }},
        {"checkpoint", test_checkpoint},
    };
    int passed = 0, failed = 0;
    for (const auto &t : tests) {
        failures = 0;
        t.run(path);
        std::printf("%s: %s\n", failures ? "FAIL" : "ok", t.name);
        (failures ? failed : passed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
