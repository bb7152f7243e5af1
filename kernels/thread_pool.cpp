// Thread pool (see thread_pool.h).
#include "kernels/thread_pool.h"

#include <chrono>

namespace hilq::kernels {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// An idle worker spins (pause) briefly, then yields its core between checks, then sleeps: the
// gap between the matmuls of one decode step is covered without sleeping, and on a busy or
// oversubscribed machine (or under qemu) spinning never starves the thread that has the work.
constexpr auto kSpin = std::chrono::microseconds(20);
constexpr auto kYield = std::chrono::microseconds(300);
// The task index of a claim word no call is open on: above every task count.
constexpr uint32_t kClosed = 0xFFFFFFFFu;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::drain(uint32_t gen, int index) {
  int ran = 0;
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(c >> 32) != gen) return ran;  // a later call: not ours
    const auto task = static_cast<uint32_t>(c);
    if (auto* hook = hooks_.worker_read.load(std::memory_order_relaxed); hook && index > 0) hook();
    // Read before the claim. They may already be the next call's (run() writes them before it
    // opens that call's claims); then the fence orders run()'s closing of the claim word before
    // the compare-exchange below, which therefore fails. A successful claim thus proves the
    // fields and the task belong to one call that was still running (it cannot end with a task
    // unclaimed).
    const bool take = task < static_cast<uint32_t>(n_tasks_.load(std::memory_order_relaxed)) &&
                      index < active_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (!take) return ran;
    if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed),
                                          static_cast<int>(task));
      ++ran;
      c = claim_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      const auto start = std::chrono::steady_clock::now();
      int spins = 0;
      bool yielding = false;
      while ((g = generation_.load(std::memory_order_acquire)) == seen) {
        if (yielding) {
          std::this_thread::yield();
        } else {
          cpu_relax();
        }
        if (++spins % 64 == 0) {
          const auto waited = std::chrono::steady_clock::now() - start;
          if (waited > kSpin + kYield) break;
          yielding = waited > kSpin;
        }
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1);  // seq_cst: pairs with run()'s generation bump
        while ((g = generation_.load()) == seen) wake_.wait(lock);
        sleepers_.fetch_sub(1);
      }
    }
    seen = g;
    if (stop_.load()) return;
    const int ran = drain(g, index);
    if (ran) done_.fetch_add(ran, std::memory_order_release);
  }
}

void ThreadPool::run(int n_tasks, TaskFn fn, void* ctx, int max_threads) {
  if (max_threads <= 1 || workers_.empty() || n_tasks <= 1) {
    for (int i = 0; i < n_tasks; ++i) fn(ctx, i);
    return;
  }
  const uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
  // Close the last call's claims before its fields are overwritten: a worker that read the last
  // call's word (every task claimed) and then this call's n_tasks could otherwise claim "task
  // n_last" of this call before this call opens, and that task would run twice. The release
  // fence pairs with the acquire fence in drain().
  claim_.store(uint64_t{gen} << 32 | kClosed, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  n_tasks_.store(n_tasks, std::memory_order_relaxed);
  active_.store(max_threads, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  if (auto* hook = hooks_.caller_setup.load(std::memory_order_relaxed)) hook();
  claim_.store(uint64_t{gen} << 32, std::memory_order_release);
  generation_.store(gen);  // seq_cst: pairs with the sleepers_ increment of a worker
  if (sleepers_.load() > 0) {
    // A sleeper checks the generation under the mutex: taking it here orders the check.
    { std::lock_guard<std::mutex> lock(sleep_mutex_); }
    wake_.notify_all();
  }
  const int mine = drain(gen, 0);
  for (int spins = 0; done_.load(std::memory_order_acquire) + mine < n_tasks; ++spins) {
    if (spins < 256)
      cpu_relax();
    else
      std::this_thread::yield();  // the worker running a task may be waiting for this core
  }
}

}  // namespace hilq::kernels
