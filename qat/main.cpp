// hil-train: trains the FP teachers, runs LSQ/Squat QAT, evaluates and exports packed models.
// Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "qat/cli.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return hilq::qat::run_cli(args);
  } catch (const hilq::qat::UsageError& e) {
    std::fprintf(stderr, "hil-train: %s\n(run hil-train --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-train: %s\n", e.what());
    return 1;
  }
}
