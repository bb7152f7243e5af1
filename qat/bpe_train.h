// BPE training: learns the merges of a byte-level BPE (model/tokenizer.h) from a corpus. Only
// the trainer needs it; models carry the trained vocabulary and the runtime just encodes with it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace hilq::qat {

// Trains merges on texts until vocab_size tokens exist (256 bytes + merges + specials).
// Deterministic: the most frequent pair wins, ties go to the smaller (left id, right id). Layout:
// ids 0..255 are the single bytes, then each new token in merge order (a merge that spells an
// existing token reuses its id), specials last. Throws model::TokenizerError when vocab_size
// cannot hold the bytes and the specials.
model::BpeTokenizer train_bpe(const std::vector<std::string_view>& texts, int vocab_size,
                              const std::vector<std::string>& specials);

}  // namespace hilq::qat
