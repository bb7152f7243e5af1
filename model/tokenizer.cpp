// Byte-level BPE: GPT-2's pre-tokenizer over Unicode classes, rank-ordered merging, loading of
// GPT-2's files or of trained parts (qat/bpe_train.cpp) and the JSON form saved with a model.
#include "model/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hilq::model {
namespace {

struct CodeRange {
  uint32_t lo, hi;
};
#include "model/unicode_ranges.inc"

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

template <size_t N>
bool in_ranges(const CodeRange (&r)[N], uint32_t cp) {
  const CodeRange* it = std::upper_bound(std::begin(r), std::end(r), cp,
                                         [](uint32_t v, const CodeRange& c) { return v < c.lo; });
  return it != std::begin(r) && cp <= (it - 1)->hi;
}

CharClass classify(uint32_t cp) {
  if (in_ranges(kLetterRanges, cp)) return CharClass::kLetter;
  if (in_ranges(kNumberRanges, cp)) return CharClass::kNumber;
  if (in_ranges(kSpaceRanges, cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (uint32_t c = 0; c < 128; ++c) t[c] = classify(c);
    return t;
  }();
  return table;
}

struct CodePoint {
  uint32_t cp;  // 0xFFFFFFFF for an invalid byte
  uint32_t offset;
  uint32_t length;
  CharClass cls;
};

std::vector<CodePoint> decode_utf8(std::string_view s) {
  std::vector<CodePoint> out;
  out.reserve(s.size());
  const auto& ascii = ascii_classes();
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) {
      out.push_back({b0, static_cast<uint32_t>(i), 1, ascii[b0]});
      ++i;
      continue;
    }
    uint32_t len = b0 >= 0xF0 && b0 < 0xF8 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 && b0 < 0xE0 ? 2 : 0;
    uint32_t cp = len == 4 ? (b0 & 0x07u) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x1Fu);
    bool ok = len != 0 && i + len <= s.size();
    for (uint32_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      ok = (b & 0xC0u) == 0x80u;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    ok = ok && !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
         !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      out.push_back({0xFFFFFFFFu, static_cast<uint32_t>(i), 1, CharClass::kOther});
      ++i;
    } else {
      out.push_back({cp, static_cast<uint32_t>(i), len, classify(cp)});
      i += len;
    }
  }
  return out;
}

// A line of GPT-2's vocab.bpe that cannot be a merge.
[[noreturn]] void bad_merge_line(const std::string& file, const std::string& line,
                                 const char* why) {
  throw TokenizerError(file + ": merge line '" + line + "' " + why);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw TokenizerError("cannot read " + path + "; fetch the data with scripts/setup.sh");
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Inverse of byte_to_unicode on a whole string: unicode-alphabet text -> raw bytes.
std::string unicode_to_bytes(const std::string& s) {
  static const std::unordered_map<uint32_t, uint8_t> inverse = [] {
    std::unordered_map<uint32_t, uint8_t> m;
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b)
      m[decode_utf8(fwd[static_cast<size_t>(b)])[0].cp] = static_cast<uint8_t>(b);
    return m;
  }();
  std::string out;
  for (const auto& c : decode_utf8(s)) {
    auto it = inverse.find(c.cp);
    if (it == inverse.end()) {
      throw TokenizerError("BPE token '" + s + "' has a character outside GPT-2's byte alphabet");
    }
    out.push_back(static_cast<char>(it->second));
  }
  return out;
}

std::string bytes_to_unicode_str(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) out += byte_to_unicode()[b];
  return out;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto utf8 = [](uint32_t cp) {
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      return s;
    };
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = utf8(printable ? b : 256 + n++);
    }
    return t;
  }();
  return table;
}

std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text) {
  const std::vector<CodePoint> cps = decode_utf8(text);
  std::vector<std::pair<size_t, size_t>> pieces;
  const size_t n = cps.size();
  auto emit = [&](size_t a, size_t b) {  // code point range [a, b)
    const size_t start = cps[a].offset;
    const size_t end = b < n ? cps[b].offset : text.size();
    pieces.emplace_back(start, end - start);
  };
  auto is_cp = [&](size_t k, char c) { return k < n && cps[k].cp == static_cast<uint32_t>(c); };
  size_t i = 0;
  while (i < n) {
    // 's|'t|'re|'ve|'m|'ll|'d
    if (cps[i].cp == '\'') {
      if (is_cp(i + 1, 's') || is_cp(i + 1, 't') || is_cp(i + 1, 'm') || is_cp(i + 1, 'd')) {
        emit(i, i + 2);
        i += 2;
        continue;
      }
      if ((is_cp(i + 1, 'r') && is_cp(i + 2, 'e')) || (is_cp(i + 1, 'v') && is_cp(i + 2, 'e')) ||
          (is_cp(i + 1, 'l') && is_cp(i + 2, 'l'))) {
        emit(i, i + 3);
        i += 3;
        continue;
      }
    }
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
    size_t j = i;
    if (cps[i].cp == ' ' && i + 1 < n && cps[i + 1].cls != CharClass::kSpace) j = i + 1;
    const CharClass c = cps[j].cls;
    if (c != CharClass::kSpace) {
      size_t k = j + 1;
      while (k < n && cps[k].cls == c) ++k;
      emit(i, k);
      i = k;
      continue;
    }
    // '\s+(?!\S)' then '\s+'
    size_t k = i + 1;
    while (k < n && cps[k].cls == CharClass::kSpace) ++k;
    if (k < n && k - i >= 2) k -= 1;  // leave the last space to prefix the next word
    emit(i, k);
    i = k;
  }
  return pieces;
}

void BpeTokenizer::add_merge(int32_t left, int32_t right, int32_t id) {
  merges_[key(left, right)] = Merge{static_cast<int32_t>(merge_pairs_.size()), id};
  merge_pairs_.emplace_back(left, right);
}

BpeTokenizer BpeTokenizer::from_gpt2_files(const std::string& encoder_json_path,
                                           const std::string& vocab_bpe_path) {
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_file(encoder_json_path));
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError(encoder_json_path + ": not valid JSON: " + e.what());
  }
  BpeTokenizer t;
  std::unordered_map<std::string, int32_t> by_bytes;
  t.token_bytes_.resize(enc.size());
  for (const auto& [tok, id_json] : enc.items()) {
    const int32_t id = id_json.get<int32_t>();
    if (id < 0 || static_cast<size_t>(id) >= enc.size()) {
      throw TokenizerError(encoder_json_path + ": id " + std::to_string(id) + " out of range");
    }
    const bool special = tok == "<|endoftext|>";
    t.token_bytes_[static_cast<size_t>(id)] = special ? tok : unicode_to_bytes(tok);
    if (special) {
      t.specials_[tok] = id;
    } else {
      by_bytes[t.token_bytes_[static_cast<size_t>(id)]] = id;
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = by_bytes.find(std::string(1, static_cast<char>(b)));
    if (it == by_bytes.end()) throw TokenizerError(encoder_json_path + ": a byte has no token");
    t.byte_id_[static_cast<size_t>(b)] = it->second;
  }
  std::istringstream lines(read_file(vocab_bpe_path));
  std::string line;
  std::getline(lines, line);  // "#version: 0.2"
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) bad_merge_line(vocab_bpe_path, line, "is not two tokens");
    const std::string a = unicode_to_bytes(line.substr(0, sp));
    const std::string b = unicode_to_bytes(line.substr(sp + 1));
    auto ia = by_bytes.find(a), ib = by_bytes.find(b), iab = by_bytes.find(a + b);
    if (ia == by_bytes.end() || ib == by_bytes.end() || iab == by_bytes.end()) {
      bad_merge_line(vocab_bpe_path, line, "names a token not in the encoder");
    }
    t.add_merge(ia->second, ib->second, iab->second);
  }
  return t;
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>* out) const {
  std::vector<int32_t> w;
  w.reserve(piece.size());
  for (unsigned char b : piece) w.push_back(byte_id_[b]);
  while (w.size() > 1) {
    int32_t best_rank = INT32_MAX;
    Merge best{};
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      auto it = merges_.find(key(w[i], w[i + 1]));
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best = it->second;
      }
    }
    if (best_rank == INT32_MAX) break;
    const auto [a, b] = merge_pairs_[static_cast<size_t>(best_rank)];
    size_t o = 0;
    for (size_t i = 0; i < w.size(); ++o) {
      if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
        w[o] = best.id;
        i += 2;
      } else {
        w[o] = w[i++];
      }
    }
    w.resize(o);
  }
  out->insert(out->end(), w.begin(), w.end());
}

std::string Normalization::apply(std::string_view text) const {
  std::string s;
  s.reserve(text.size() + 1);
  if (prefix_space && !text.empty() && text.front() != ' ') s.push_back(' ');
  s.append(text);
  if (lowercase)
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string Normalization::to_string() const {
  if (none()) return "none";
  std::string s = lowercase ? "lowercase" : "";
  if (prefix_space) s += s.empty() ? "prefix-space" : ",prefix-space";
  return s;
}

Normalization Normalization::parse(std::string_view spec, const std::string& source) {
  Normalization n;
  if (spec == "none") return n;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view step = spec.substr(start, comma - start);
    if (step == "lowercase") {
      n.lowercase = true;
    } else if (step == "prefix-space") {
      n.prefix_space = true;
    } else {
      throw TokenizerError(source + ": unknown normalization step '" + std::string(step) +
                           "' (none, or a comma list of lowercase, prefix-space)");
    }
    start = comma + 1;
  }
  return n;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view raw) const {
  std::string normalized;
  std::string_view text = raw;
  if (!normalization_.none()) {
    normalized = normalization_.apply(raw);
    text = normalized;
  }
  std::vector<int32_t> out;
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;  // piece -> span in out
  for (const auto& [off, len] : pretokenize(text)) {
    const std::string_view piece = text.substr(off, len);
    auto it = cache.find(piece);
    if (it != cache.end()) {
      const auto [s, l] = it->second;
      for (size_t k = 0; k < l; ++k) out.push_back(out[s + k]);
      continue;
    }
    const size_t start = out.size();
    encode_piece(piece, &out);
    cache.emplace(piece, std::make_pair(start, out.size() - start));
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) {
      throw TokenizerError("decode: id " + std::to_string(id) + " is outside the vocabulary of " +
                           std::to_string(vocab_size()));
    }
    s += token_bytes_[static_cast<size_t>(id)];
  }
  return s;
}

int32_t BpeTokenizer::special_id(const std::string& name) const {
  auto it = specials_.find(name);
  if (it == specials_.end()) throw TokenizerError("tokenizer has no special token " + name);
  return it->second;
}

BpeTokenizer BpeTokenizer::from_parts(std::vector<std::string> token_bytes,
                                      const std::vector<MergeRule>& merges,
                                      std::map<std::string, int32_t> specials) {
  BpeTokenizer t;
  const auto n = static_cast<int64_t>(token_bytes.size());
  std::vector<bool> special(token_bytes.size(), false);
  for (const auto& [name, id] : specials) {
    if (id < 0 || id >= n || token_bytes[static_cast<size_t>(id)] != name) {
      throw TokenizerError("tokenizer parts: special " + name + " has id " + std::to_string(id) +
                           ", which is not a token spelling its name");
    }
    special[static_cast<size_t>(id)] = true;
  }
  std::unordered_map<std::string, int32_t> by_bytes;
  for (int64_t id = 0; id < n; ++id) {
    if (!special[static_cast<size_t>(id)])
      by_bytes.emplace(token_bytes[static_cast<size_t>(id)], static_cast<int32_t>(id));
  }
  for (int b = 0; b < 256; ++b) {
    auto it = by_bytes.find(std::string(1, static_cast<char>(b)));
    if (it == by_bytes.end())
      throw TokenizerError("tokenizer parts: byte " + std::to_string(b) + " has no token");
    t.byte_id_[static_cast<size_t>(b)] = it->second;
  }
  t.token_bytes_ = std::move(token_bytes);
  t.specials_ = std::move(specials);
  for (const MergeRule& m : merges) {
    const bool ids_ok =
        m.left >= 0 && m.left < n && m.right >= 0 && m.right < n && m.merged >= 0 && m.merged < n;
    if (!ids_ok || t.token_bytes_[static_cast<size_t>(m.merged)] !=
                       t.token_bytes_[static_cast<size_t>(m.left)] +
                           t.token_bytes_[static_cast<size_t>(m.right)]) {
      throw TokenizerError("tokenizer parts: merge " + std::to_string(m.left) + " + " +
                           std::to_string(m.right) + " -> " + std::to_string(m.merged) +
                           " does not spell the merged token");
    }
    t.add_merge(m.left, m.right, m.merged);
  }
  return t;
}

std::string BpeTokenizer::to_json() const {
  nlohmann::json j;
  j["type"] = "byte_bpe";
  j["pretokenizer"] = "gpt2";
  std::vector<bool> special(token_bytes_.size(), false);
  for (const auto& [name, id] : specials_) special[static_cast<size_t>(id)] = true;
  nlohmann::json tokens = nlohmann::json::array();
  for (size_t id = 0; id < token_bytes_.size(); ++id) {
    tokens.push_back(special[id] ? token_bytes_[id] : bytes_to_unicode_str(token_bytes_[id]));
  }
  j["tokens"] = std::move(tokens);
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [a, b] : merge_pairs_) {
    merges.push_back(bytes_to_unicode_str(token_bytes_[static_cast<size_t>(a)]) + " " +
                     bytes_to_unicode_str(token_bytes_[static_cast<size_t>(b)]));
  }
  j["merges"] = std::move(merges);
  j["specials"] = specials_;
  if (!normalization_.none()) {  // absent otherwise, so earlier vocabularies keep their bytes
    nlohmann::json steps = nlohmann::json::array();
    if (normalization_.lowercase) steps.push_back("lowercase");
    if (normalization_.prefix_space) steps.push_back("prefix-space");
    j["normalize"] = std::move(steps);
  }
  return j.dump();
}

BpeTokenizer BpeTokenizer::from_json(std::string_view json) {
  BpeTokenizer t;
  try {
    const auto j = nlohmann::json::parse(json);
    if (j.at("type") != "byte_bpe" || j.at("pretokenizer") != "gpt2") {
      throw TokenizerError("vocabulary: type must be byte_bpe with the gpt2 pre-tokenizer");
    }
    t.specials_ = j.at("specials").get<std::map<std::string, int32_t>>();
    const auto& tokens = j.at("tokens");
    std::vector<bool> special(tokens.size(), false);
    for (const auto& [name, id] : t.specials_) {
      if (id < 0 || static_cast<size_t>(id) >= tokens.size()) {
        throw TokenizerError("vocabulary: special " + name + " has id " + std::to_string(id) +
                             " outside the token list");
      }
      special[static_cast<size_t>(id)] = true;
    }
    std::unordered_map<std::string, int32_t> by_bytes;
    for (size_t id = 0; id < tokens.size(); ++id) {
      const auto s = tokens[id].get<std::string>();
      t.token_bytes_.push_back(special[id] ? s : unicode_to_bytes(s));
      if (!special[id]) by_bytes.emplace(t.token_bytes_.back(), static_cast<int32_t>(id));
    }
    for (int b = 0; b < 256; ++b) {
      auto it = by_bytes.find(std::string(1, static_cast<char>(b)));
      if (it == by_bytes.end())
        throw TokenizerError("vocabulary: byte " + std::to_string(b) + " has no token");
      t.byte_id_[static_cast<size_t>(b)] = it->second;
    }
    for (const auto& mj : j.at("merges")) {
      const auto line = mj.get<std::string>();
      const size_t sp = line.find(' ');
      if (sp == std::string::npos) throw TokenizerError("vocabulary: bad merge '" + line + "'");
      const std::string a = unicode_to_bytes(line.substr(0, sp));
      const std::string b = unicode_to_bytes(line.substr(sp + 1));
      auto ia = by_bytes.find(a), ib = by_bytes.find(b), iab = by_bytes.find(a + b);
      if (ia == by_bytes.end() || ib == by_bytes.end() || iab == by_bytes.end()) {
        throw TokenizerError("vocabulary: merge '" + line + "' names an unknown token");
      }
      t.add_merge(ia->second, ib->second, iab->second);
    }
    if (j.contains("normalize")) {
      std::string spec;
      for (const auto& step : j.at("normalize"))
        spec += (spec.empty() ? "" : ",") + step.get<std::string>();
      if (spec.empty()) throw TokenizerError("vocabulary: normalize lists no step");
      t.normalization_ = Normalization::parse(spec, "vocabulary: normalize");
    }
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError(std::string("vocabulary: malformed JSON: ") + e.what());
  }
  return t;
}

}  // namespace hilq::model
