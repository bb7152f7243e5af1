// Safetensors reader and writer with full validation; errors are returned as text, never thrown
// (nlohmann's exceptions are caught here), so the runtime can report a bad file as a value.
#include "model/model_file.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "base/file.h"

namespace hilq::model {

static_assert(std::endian::native == std::endian::little,
              "model files are little-endian; a big-endian host needs byte swapping here");

namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  int size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4},   {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kF64, "F64", 8},   {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

// numel of a shape, or -1 on a negative dimension or overflow past 2^62.
int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > (int64_t{1} << 62) / d) return -1;
    n *= d;
  }
  return n;
}

}  // namespace

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes) {
    if (d.type == t) return d.name;
  }
  return nullptr;
}

int dtype_size(DType t) {
  for (const auto& d : kDTypes) {
    if (d.type == t) return d.size;
  }
  return 0;
}

bool dtype_from_name(const std::string& name, DType* out) {
  for (const auto& d : kDTypes) {
    if (name == d.name) {
      *out = d.type;
      return true;
    }
  }
  return false;
}

int64_t ModelTensor::numel() const { return checked_numel(shape); }

const ModelTensor* ModelFile::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void ModelFile::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                    const void* src) {
  ModelTensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  const int64_t n = std::max<int64_t>(0, checked_numel(t.shape));
  t.data.resize(static_cast<size_t>(n) * static_cast<size_t>(dtype_size(dtype)));
  if (!t.data.empty()) std::memcpy(t.data.data(), src, t.data.size());
  tensors.push_back(std::move(t));
}

bool ModelFile::get_f32(const std::string& name, std::vector<float>* out,
                        std::string* error) const {
  const ModelTensor* t = find(name);
  if (!t) {
    *error = "tensor " + name + " is missing";
    return false;
  }
  if (t->dtype != DType::kF32) {
    *error = "tensor " + name + " has dtype " + dtype_name(t->dtype) + ", expected F32";
    return false;
  }
  out->resize(t->data.size() / 4);
  if (!out->empty()) std::memcpy(out->data(), t->data.data(), t->data.size());
  return true;
}

std::string ModelFile::meta(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : it->second;
}

std::string serialize_model_file(const ModelFile& file, std::vector<uint8_t>* out) {
  nlohmann::json header = nlohmann::json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : file.tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return "tensor name '" + t.name + "' is reserved or empty";
    }
    if (!names.insert(t.name).second) return "tensor " + t.name + " appears twice";
    const char* dn = dtype_name(t.dtype);
    const int64_t n = checked_numel(t.shape);
    if (!dn) return "tensor " + t.name + " has an invalid dtype";
    if (n < 0) return "tensor " + t.name + " has a negative or overflowing shape";
    if (static_cast<uint64_t>(n) * static_cast<uint64_t>(dtype_size(t.dtype)) != t.data.size()) {
      return "tensor " + t.name + " holds " + std::to_string(t.data.size()) +
             " bytes, its shape needs " + std::to_string(n * dtype_size(t.dtype));
    }
    header[t.name] = {
        {"dtype", dn}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    return std::string("header cannot be written as JSON (metadata must be UTF-8): ") + e.what();
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // tensor data starts 8-byte aligned
  const uint64_t n = text.size();
  out->clear();
  out->reserve(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(n >> (8 * i)));
  out->insert(out->end(), text.begin(), text.end());
  for (const auto& t : file.tensors) out->insert(out->end(), t.data.begin(), t.data.end());
  return {};
}

std::string parse_model_file(const uint8_t* bytes, size_t size, ModelFile* out) {
  *out = ModelFile{};
  if (size < 8)
    return "file has " + std::to_string(size) + " bytes, fewer than the 8-byte header length";
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  if (n > kMaxHeaderBytes)
    return "header length " + std::to_string(n) + " exceeds the limit of 100 MB";
  if (n > size - 8) {
    return "header length " + std::to_string(n) + " runs past the end of the " +
           std::to_string(size) + "-byte file";
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    return std::string("header is not valid JSON: ") + e.what();
  }
  if (!header.is_object()) return "header is not a JSON object";
  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = bytes + 8 + n;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return "__metadata__ is not an object";
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return "__metadata__." + m.key() + " is not a string";
        out->metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (name.empty()) return "a tensor has an empty name";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets")) {
      return "tensor " + name + ": needs dtype, shape and data_offsets";
    }
    ModelTensor t;
    t.name = name;
    if (!v["dtype"].is_string() || !dtype_from_name(v["dtype"].get<std::string>(), &t.dtype)) {
      return "tensor " + name + ": unknown dtype " + v["dtype"].dump();
    }
    if (!v["shape"].is_array()) return "tensor " + name + ": shape is not an array";
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return "tensor " + name + ": shape entry " + d.dump() + " is not a non-negative integer";
      }
      t.shape.push_back(d.get<int64_t>());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned()) {
      return "tensor " + name + ": data_offsets must be two non-negative integers";
    }
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size) {
      return "tensor " + name + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
             "] lie outside the " + std::to_string(data_size) + "-byte data section";
    }
    const int64_t numel = checked_numel(t.shape);
    if (numel < 0 ||
        static_cast<uint64_t>(numel) * static_cast<uint64_t>(dtype_size(t.dtype)) != e - b) {
      return "tensor " + name + ": " + std::to_string(e - b) +
             " bytes do not match its shape and dtype";
    }
    t.data.assign(data + b, data + e);
    spans.push_back({b, e, name});
    out->tensors.push_back(std::move(t));
  }
  // The tensors must tile the data section exactly: no gaps, no overlaps, nothing left over.
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t at = 0;
  for (const auto& s : spans) {
    if (s.begin != at) {
      return "tensor " + s.name + " starts at byte " + std::to_string(s.begin) +
             " of the data section, expected " + std::to_string(at) + " (gap or overlap)";
    }
    at = s.end;
  }
  if (at != data_size) {
    return "data section has " + std::to_string(data_size - at) + " bytes no tensor covers";
  }
  // Restore file order (JSON objects are unordered; nlohmann iterates sorted by key).
  std::vector<ModelTensor> ordered;
  ordered.reserve(out->tensors.size());
  for (const auto& s : spans) {
    for (auto& t : out->tensors) {
      if (t.name == s.name) ordered.push_back(std::move(t));
    }
  }
  out->tensors = std::move(ordered);
  return {};
}

std::string write_model_file(const std::string& path, const ModelFile& file) {
  std::vector<uint8_t> bytes;
  std::string err = serialize_model_file(file, &bytes);
  if (!err.empty()) return path + ": " + err;
  // A crash never leaves a truncated checkpoint.
  return write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string read_model_file(const std::string& path, ModelFile* out) {
  // A directory opens as a stream on Linux and "sizes" to a huge seek offset: say what it is.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return path + ": is a directory, not a model file (give the .safetensors file itself)";
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return path + ": cannot open for reading";
  const std::streamsize size = f.tellg();
  if (size < 0) return path + ": cannot determine its size";
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    return path + ": read failed";
  std::string err = parse_model_file(bytes.data(), bytes.size(), out);
  return err.empty() ? err : path + ": " + err;
}

}  // namespace hilq::model
