// A small persistent thread pool for the kernels: the caller runs tasks too, idle workers spin
// briefly (calls come back-to-back during decode) and then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace hilq::kernels {

class ThreadPool {
 public:
  using TaskFn = void (*)(void* ctx, int task);

  // threads: total including the caller (>= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(ctx, i) for i in [0, n_tasks) on at most max_threads threads; tasks are claimed in
  // order, so with n_tasks == threads every thread gets one contiguous share.
  void run(int n_tasks, TaskFn fn, void* ctx, int max_threads);

 private:
  void worker(int index);
  void drain();

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> next_task_{0};
  std::atomic<int> finished_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int n_tasks_ = 0;
  int active_ = 0;
};

}  // namespace hilq::kernels
