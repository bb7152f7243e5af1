// The exit codes every hilq binary shares and the two places a main turns a parse error or an
// exception into one: header-only, included by the thin main.cpp files only (no library uses it).
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"

namespace hilq::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // a runtime error (one line saying what)
inline constexpr int kExitUsage = 2;  // a command line that cannot be run
inline constexpr int kExitInterrupted = 130;

// "a,b,c" -> {"a", "b", "c"}; "" -> {""} (validators refuse empty names where they matter).
inline std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> names;
  size_t start = 0;
  while (true) {
    const size_t comma = value.find(',', start);
    names.push_back(value.substr(start, comma - start));
    if (comma == std::string::npos) return names;
    start = comma + 1;
  }
}

// What every binary's parser shares: a repeated option takes its last value (as the hand-written
// parsers did: `scripts/hilq run --boards X` repeats --boards), and the usage line is ours.
inline void configure(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(28);
}

// A finite number in [lo, hi], or (lo, hi] with lo_open: CLI::PositiveNumber and
// CLI::NonNegativeNumber would print DBL_MAX in their messages.
inline CLI::Validator number_in(double lo, double hi, bool lo_open = false) {
  char range[64];
  std::snprintf(range, sizeof range, "%c%g, %g]", lo_open ? '(' : '[', lo, hi);
  const std::string text = range;
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(input, v) && std::isfinite(v) &&
            (lo_open ? v > lo : v >= lo) && v <= hi)
          return {};
        return "needs a number in " + text + ", not '" + input + "'";
      },
      "NUMBER in " + text);
}

// The exit code of a failed app.parse(): 0 after --help (the help on stdout), else 2 with one
// line on stderr naming the flag ("hil-agent: --liveness: Value 0 not in range 1 to 1000").
inline int parse_error_exit(CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    app.exit(e, std::cout, std::cerr);
    return kExitOk;
  }
  std::fprintf(stderr, "%s: %s (see --help)\n", app.get_name().c_str(), e.what());
  return kExitUsage;
}

// The exit code of an exception that reached main: 2 for a usage error (hilq::UsageError), else 1.
inline int exit_code(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  return error && error->category() == ErrorCategory::kUsage ? kExitUsage : kExitError;
}

// main()'s last line: runs the program's body; what escapes it (building the parser, ...) is one
// line on stderr and the exit code above, so main itself never throws.
template <typename Body>
int guard(const char* program, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return exit_code(e);
  } catch (...) {
    std::fprintf(stderr, "%s: unknown error\n", program);
    return kExitError;
  }
}

}  // namespace hilq::cli
