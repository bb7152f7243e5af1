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
  // order, so with n_tasks == threads every thread gets one contiguous share. Returns when every
  // task has finished: it waits for the tasks, never for a worker that claimed none (one that is
  // asleep or preempted when the call comes), so a busy machine costs this call only the tasks
  // the caller runs itself.
  void run(int n_tasks, TaskFn fn, void* ctx, int max_threads);

  // Tests only (null otherwise): called where the interleavings of two back-to-back calls meet,
  // so that a test can stretch them. `worker_read` by a worker between reading the claim word and
  // the call's fields; `caller_setup` by run() between writing a call's fields and opening its
  // claims.
  struct TestHooks {
    std::atomic<void (*)()> worker_read{nullptr};
    std::atomic<void (*)()> caller_setup{nullptr};
  };
  TestHooks& test_hooks() { return hooks_; }

 private:
  void worker(int index);
  // Claims and runs tasks of generation gen until none is left; returns how many it ran.
  int drain(uint32_t gen, int index);

  std::vector<std::thread> workers_;
  // generation << 32 | index of the next unclaimed task. A claim is a compare-exchange on the
  // whole word, so a worker that wakes late can never claim a task of a later call; run()
  // closes the word (a task index above any count) before it writes the next call's fields, so
  // a late worker that read those cannot claim on the finished call's word either.
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint32_t> generation_{0};  // what idle workers wait on
  std::atomic<int> done_{0};             // tasks of the current call finished by workers
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  // The current call; written before its generation is published, stable until it returns.
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> n_tasks_{0};
  std::atomic<int> active_{0};
  TestHooks hooks_;
};

}  // namespace hilq::kernels
