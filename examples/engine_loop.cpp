/*
 * engine_loop: libcontrast in a C++ engine built without exceptions, through <libcontrast/libcontrast.hpp>.
 *
 * A fixed-step loop as a game or a robot controller runs it. Each tick a "sensor" delivers a batch of
 * 16x16 observations of some of 128 places (generated: a blob per place, with noise that changes every
 * tick), and the agent takes one InstDisc step on them: augment, encode, non-parametric softmax over a
 * memory bank with one row per place, backward, SGD, bank update. The library's parallel work runs as
 * jobs on the engine's job system (lct::scheduler), so libcontrast creates no thread. The handles are
 * RAII members of one struct, declared in the order they borrow one another: nothing is freed by hand.
 * The build has no exceptions (-fno-exceptions): calls return lct::Status, and the first failure ends
 * the loop with libcontrast's message.
 *
 *   engine_loop [TICKS [WORKERS [CHECKPOINT]]]      (defaults: 300 ticks, 2 workers, no checkpoint)
 *
 * The last line reads "engine_loop: T ticks, loss A -> B, p50 X ms, p99 Y ms per tick, Z over the 8 ms budget".
 */
#include <libcontrast/libcontrast.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t PLACES = 128, BATCH = 16, SIDE = 16, PIXELS = SIDE * SIDE, DIM = 32;
constexpr double BUDGET_MS = 8.0;

/* The engine's job system: worker threads take the tasks of one batch; the calling thread takes part. */
class JobSystem {
public:
    explicit JobSystem(unsigned helpers)
    {
        for (unsigned i = 0; i < helpers; i++) threads_.emplace_back([this] { work(); });
    }
    ~JobSystem()
    {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        wake_.notify_all();
        for (std::thread &t : threads_) t.join();
    }
    /* lct_scheduler's run: fn(ctx, i) for every i < n, back when all have returned (one caller at a time here). */
    void run(std::size_t n, lct_task_fn fn, void *ctx)
    {
        std::unique_lock<std::mutex> lock(mu_);
        fn_ = fn, ctx_ = ctx, n_ = n, next_ = 0, done_ = 0;
        wake_.notify_all();
        take(lock);
        finished_.wait(lock, [this] { return done_ == n_; });
    }

private:
    void take(std::unique_lock<std::mutex> &lock)
    {
        while (next_ < n_) {
            std::size_t i = next_++;
            lock.unlock();
            fn_(ctx_, i);
            lock.lock();
            if (++done_ == n_) finished_.notify_all();
        }
    }
    void work()
    {
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            wake_.wait(lock, [this] { return stop_ || next_ < n_; });
            if (stop_) return;
            take(lock);
        }
    }

    std::mutex mu_;
    std::condition_variable wake_, finished_;
    std::vector<std::thread> threads_;
    lct_task_fn fn_ = nullptr;
    void *ctx_ = nullptr;
    std::size_t n_ = 0, next_ = 0, done_ = 0;
    bool stop_ = false;
};

/* The learning part of the agent. Members are destroyed in reverse order: the runtime last. */
struct Agent {
    lct::Runtime rt;
    lct::Augmenter aug;
    lct::Encoder enc;
    lct::Bank bank;
    lct::Loss loss;
    lct::Optimizer opt;
    std::vector<float> x = std::vector<float>(BATCH * PIXELS), f = std::vector<float>(BATCH * DIM),
                       df = std::vector<float>(BATCH * DIM);

    lct::Status init(const lct_scheduler &jobs)
    {
        rt = lct::Runtime(jobs, 11);
        if (!rt) return rt.status();
        lct_augmenter_options ao = lct::options<lct_augmenter_options>();
        ao.input = LCT_AUG_IMAGE_F32, ao.channels = 1, ao.height = SIDE, ao.width = SIDE;
        aug = lct::Augmenter(rt, ao);
        if (!aug) return aug.status();
        lct::Status s = aug.call(lct_augmenter_add_random_resized_crop, 1.0, 0.6, 1.0, 0.75, 4.0 / 3);
        if (s) s = aug.call(lct_augmenter_add_gaussian_noise, 0.5, 0.05);
        if (!s) return s;
        enc = lct::Encoder(rt, "in 1x16x16; conv2d 8 k3 p1; relu; maxpool 2; flatten; linear 32; l2norm");
        if (!enc) return enc.status();
        bank = lct::Bank(rt, PLACES, DIM);
        if (!bank) return bank.status();
        loss = lct::Loss::npsoftmax(rt, bank);
        if (!loss) return loss.status();
        lct_optimizer_options oo = lct::options<lct_optimizer_options>();
        oo.lr = 0.03, oo.momentum = 0.9, oo.weight_decay = 5e-4;
        opt = lct::Optimizer(rt, oo);
        if (!opt) return opt.status();
        return opt.attach(enc.params());
    }

    /* One training step on the tick's observations of places @p idx. */
    lct::Status step(lct::View<const float> obs, lct::View<const std::int64_t> idx, float &value)
    {
        lct::Status s = aug.apply(obs, BATCH, 1, x);
        if (s) s = enc.forward(x, BATCH, f);
        if (s) s = loss.compute(f, idx, BATCH, value, df);
        if (s) s = opt.zero_grad();
        if (s) s = enc.backward(df, BATCH);
        if (s) s = opt.step();
        if (s) s = bank.update(f, idx, BATCH, 0.5f);
        return s;
    }
};

/* The sensor: place p seen at tick t, a blob at the place's position plus noise of the tick. */
void observe(std::size_t tick, const std::int64_t *idx, float *out)
{
    std::uint64_t noise = tick * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t b = 0; b < BATCH; b++) {
        double cx = 3 + static_cast<double>(idx[b] % 10), cy = 3 + static_cast<double>(idx[b] / 10 % 10);
        double width = 1.5 + static_cast<double>(idx[b] % 3);
        for (std::size_t p = 0; p < PIXELS; p++) {
            noise ^= noise << 13, noise ^= noise >> 7, noise ^= noise << 17;
            double dx = static_cast<double>(p % SIDE) - cx, dy = static_cast<double>(p / SIDE) - cy;
            double v = std::exp(-(dx * dx + dy * dy) / (2 * width * width)) + 0.1 * static_cast<double>(noise % 1000) / 1000;
            out[b * PIXELS + p] = static_cast<float>(std::min(v, 1.0));
        }
    }
}

int fail(const char *what, lct::Status s)
{
    std::fprintf(stderr, "engine_loop: %s failed (%s): %s\n", what, s.name(), lct_error_last());
    return 1;
}

} // namespace

int main(int argc, char **argv)
{
    const std::size_t ticks = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 300;
    const unsigned workers = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 2;
    if (ticks < 1 || workers < 1 || workers > 64) {
        std::fprintf(stderr, "usage: engine_loop [TICKS [WORKERS [CHECKPOINT]]]\n");
        return 2;
    }
    JobSystem jobs(workers - 1);
    lct_scheduler sched = lct::scheduler(jobs, workers);
    Agent agent;
    if (lct::Status s = agent.init(sched); !s) return fail("setting up the agent", s);

    std::vector<float> obs(BATCH * PIXELS);
    std::vector<std::int64_t> idx(BATCH);
    std::vector<double> ms;
    double first = 0, last = 0;
    const std::size_t window = std::max<std::size_t>(1, std::min<std::size_t>(PLACES / BATCH, ticks / 2));
    for (std::size_t t = 0; t < ticks; t++) {
        for (std::size_t b = 0; b < BATCH; b++) idx[b] = static_cast<std::int64_t>((t * BATCH + b * 9) % PLACES);
        observe(t, idx.data(), obs.data());
        auto start = std::chrono::steady_clock::now();
        float value = 0;
        if (lct::Status s = agent.step(obs, idx, value); !s) return fail("a training step", s);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        if (t < window) first += value / static_cast<double>(window);
        if (t >= ticks - window) last += value / static_cast<double>(window);
    }
    if (argc > 3) {
        lct::CheckpointWriter w(agent.rt);
        lct::Status s = w ? w.add("encoder", agent.enc) : w.status();
        if (s) s = w.add("bank", agent.bank);
        if (s) s = w.add_counter("ticks", ticks);
        if (s) s = w.write_file(argv[3]);
        if (!s) return fail("saving the checkpoint", s);
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    auto over = std::count_if(ms.begin(), ms.end(), [](double v) { return v > BUDGET_MS; });
    std::printf("engine_loop: %zu ticks, loss %.4f -> %.4f, p50 %.2f ms, p99 %.2f ms per tick, %ld over the %.0f ms budget\n",
                ticks, first, last, sorted[sorted.size() / 2], sorted[sorted.size() * 99 / 100], static_cast<long>(over),
                BUDGET_MS);
    return 0;
}
