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

void ThreadPool::drain() {
  for (;;) {
    const int task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    fn_(ctx_, task);
  }
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
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
    if (index < active_) drain();
    finished_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::run(int n_tasks, TaskFn fn, void* ctx, int max_threads) {
  if (max_threads <= 1 || workers_.empty() || n_tasks <= 1) {
    for (int i = 0; i < n_tasks; ++i) fn(ctx, i);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  active_ = max_threads;
  next_task_.store(0, std::memory_order_relaxed);
  finished_.store(0, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: pairs with the sleepers_ increment of a worker
  if (sleepers_.load() > 0) {
    // A sleeper checks the generation under the mutex: taking it here orders the check.
    { std::lock_guard<std::mutex> lock(sleep_mutex_); }
    wake_.notify_all();
  }
  drain();
  const int n_workers = static_cast<int>(workers_.size());
  for (int spins = 0; finished_.load(std::memory_order_acquire) < n_workers; ++spins) {
    if (spins < 256)
      cpu_relax();
    else
      std::this_thread::yield();  // a worker may be waiting for this core
  }
}

}  // namespace hilq::kernels
