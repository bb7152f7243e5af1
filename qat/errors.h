// Typed errors of qat/: each message names the file, field or value and the rule it broke.
#pragma once

#include <stdexcept>

namespace hilq::qat {

class QatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// A configuration (model, quant, training) that breaks a rule.
class ConfigError : public QatError {
 public:
  using QatError::QatError;
};
// Data that is absent or malformed (the message names the command that fetches it).
class DataError : public QatError {
 public:
  using QatError::QatError;
};

}  // namespace hilq::qat
