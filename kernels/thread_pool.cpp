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

// How long an idle worker spins before sleeping: long enough to cover the gap between the
// matmuls of one decode step, short enough not to steal a shared core for long.
constexpr auto kSpin = std::chrono::microseconds(200);

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
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
      const auto until = std::chrono::steady_clock::now() + kSpin;
      int spins = 0;
      while ((g = generation_.load(std::memory_order_acquire)) == seen) {
        cpu_relax();
        if (++spins % 64 == 0 && std::chrono::steady_clock::now() > until) break;
      }
      if (g == seen) {
        sleepers_.fetch_add(1);
        while ((g = generation_.load()) == seen) generation_.wait(seen);
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
  if (sleepers_.load() > 0) generation_.notify_all();
  drain();
  const int n_workers = static_cast<int>(workers_.size());
  while (finished_.load(std::memory_order_acquire) < n_workers) cpu_relax();
}

}  // namespace hilq::kernels
