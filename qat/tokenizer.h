// The byte-level BPE lives with the runtime (kernels/runtime/tokenizer.h), which needs it without
// the training code; qat/ uses it under its own namespace.
#pragma once

#include "kernels/runtime/tokenizer.h"

namespace hilq::qat {

using runtime::BpeTokenizer;
using runtime::pretokenize;
using runtime::TokenizerError;

}  // namespace hilq::qat
