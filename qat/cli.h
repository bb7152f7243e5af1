// hil-train's command line: subcommands tokenizer, train, qat, eval, export, experiment.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "qat/errors.h"

namespace hilq::qat {

// A usage error (exit code 2): unknown subcommand or flag, missing or malformed value.
class UsageError : public QatError {
 public:
  using QatError::QatError;
};

// --key value pairs and bare --flags (for keys in `flags`).
class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags);
  std::string str(const std::string& key, const std::string& fallback) const;
  std::string required(const std::string& key) const;
  int integer(const std::string& key, int fallback) const;
  double number(const std::string& key, double fallback) const;
  bool flag(const std::string& key) const { return values_.count(key) != 0; }
  // Throws UsageError when a key outside `known` was given.
  void only(const std::vector<std::string>& known) const;

 private:
  std::map<std::string, std::string> values_;
};

// Runs one subcommand; returns the process exit code (0 ok). Throws UsageError / QatError.
int run_cli(const std::vector<std::string>& args);
std::string usage();

}  // namespace hilq::qat
