// The kernels' thread pool: every task of a call runs exactly once, on at most max_threads
// threads, and never with the state of another call (a worker that wakes late must not claim a
// task of a later call).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "kernels/thread_pool.h"

namespace hilq::kernels {
namespace {

// $HILQ_TEST_THREADS (the cross build sets 1: qemu-aarch64 7.2 hangs in pthread_create), else 3.
int test_threads() {
  const char* v = std::getenv("HILQ_TEST_THREADS");
  return v ? std::max(1, std::atoi(v)) : 3;
}

struct Call {
  int id = 0;
  std::vector<std::atomic<int>> runs;
  std::vector<std::thread::id> by;
  explicit Call(int n) : runs(static_cast<size_t>(n)), by(static_cast<size_t>(n)) {}
};

std::atomic<int> current_call{-1};
std::atomic<int> stale_calls{0};

void task(void* ctx, int i) {
  auto* c = static_cast<Call*>(ctx);
  if (c->id != current_call.load()) stale_calls.fetch_add(1);
  c->runs[static_cast<size_t>(i)].fetch_add(1);
  c->by[static_cast<size_t>(i)] = std::this_thread::get_id();
  if (i % 7 == 0) std::this_thread::yield();  // uneven tasks: claims interleave
}

TEST_CASE("every task runs once per call, on at most max_threads threads", "[kernels][pool]") {
  const int threads = test_threads();
  ThreadPool pool(threads);
  CHECK(pool.threads() == threads);
  for (int call = 0; call < 3000; ++call) {
    const int n = 1 + call % 37, max_threads = 1 + call % (threads + 1);
    Call c(n);
    c.id = call;
    current_call.store(call);
    pool.run(n, &task, &c, max_threads);
    current_call.store(-1);
    CAPTURE(call, n, max_threads);
    std::vector<std::thread::id> distinct;
    for (int i = 0; i < n; ++i) {
      REQUIRE(c.runs[static_cast<size_t>(i)].load() == 1);
      const auto t = c.by[static_cast<size_t>(i)];
      if (std::find(distinct.begin(), distinct.end(), t) == distinct.end()) distinct.push_back(t);
    }
    CHECK(static_cast<int>(distinct.size()) <= std::min(max_threads, threads));
    if (max_threads == 1) CHECK(distinct == std::vector{std::this_thread::get_id()});
  }
  CHECK(stale_calls.load() == 0);
}

TEST_CASE("a call completes when its workers are asleep or busy elsewhere", "[kernels][pool]") {
  if (test_threads() < 2) return;
  ThreadPool pool(2);
  // Let the worker fall asleep (past its spin and yield phases), then call: the caller may run
  // every task itself; the call must still return with all of them done, and the next one too.
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    Call c(64);
    c.id = 10000 + round;
    current_call.store(c.id);
    pool.run(64, &task, &c, 2);
    current_call.store(-1);
    for (auto& r : c.runs) REQUIRE(r.load() == 1);
  }
  CHECK(stale_calls.load() == 0);
}

// Sleeps a pseudo-random 0-40 us: stretches the window a hook sits in.
void stretch() {
  thread_local uint32_t state =
      0x9e3779b9u ^ static_cast<uint32_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  state = state * 1664525u + 1013904223u;
  std::this_thread::sleep_for(std::chrono::microseconds((state >> 16) % 41));
}

TEST_CASE("a worker late from the last call never claims a task of the next one",
          "[kernels][pool]") {
  if (test_threads() < 3) return;
  // A worker that read the finished call's claim word (every task claimed) and then the next
  // call's task count must not claim "task n_last" on the old word: the next call would run it
  // again. The hooks stretch the worker between its two reads and the caller between writing
  // the next call's fields and opening its claims; calls of 9 and 10 tasks alternate so that the
  // count grows across the boundary.
  ThreadPool pool(3);
  pool.test_hooks().worker_read.store(&stretch);
  pool.test_hooks().caller_setup.store(&stretch);
  for (int call = 0; call < 400; ++call) {
    const int n = 9 + call % 2;
    Call c(n);
    c.id = 20000 + call;
    current_call.store(c.id);
    pool.run(n, &task, &c, 3);
    current_call.store(-1);
    CAPTURE(call, n);
    for (int i = 0; i < n; ++i) REQUIRE(c.runs[static_cast<size_t>(i)].load() == 1);
  }
  pool.test_hooks().worker_read.store(nullptr);
  pool.test_hooks().caller_setup.store(nullptr);
  CHECK(stale_calls.load() == 0);
}

}  // namespace
}  // namespace hilq::kernels
