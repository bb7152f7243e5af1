// Typed errors of qat/: each message names the file, field or value and the rule it broke.
#pragma once

#include "base/error.h"

namespace hilq::qat {

using QatError = hilq::Error;
// A configuration (model, quant, training) that breaks a rule.
using ConfigError = hilq::ConfigError;
// Data that is absent or malformed (the message names the command that fetches it).
using DataError = hilq::DataError;

}  // namespace hilq::qat
