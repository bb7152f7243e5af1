// HILQ_CHECK: the kernels' invariant check. Kernels never throw; a front function validates its
// inputs once and a broken invariant aborts with the file, line, condition and a message.
#pragma once

#include <cstdio>
#include <cstdlib>

#define HILQ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: HILQ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fputc('\n', stderr);                                                          \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
