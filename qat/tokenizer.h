// The byte-level BPE lives with the runtime (model/tokenizer.h), which needs it without
// the training code; qat/ uses it under its own namespace.
#pragma once

#include "model/tokenizer.h"

namespace hilq::qat {

using model::BpeTokenizer;
using model::pretokenize;
using model::TokenizerError;

}  // namespace hilq::qat
