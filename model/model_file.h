// The model file: the safetensors layout, read and written with full validation.
// QAT checkpoints and packed models exported for the boards are both model files; the on-device
// runtime reads them with this code (no Eigen, no qat).
//
//   [u64 little-endian N][N bytes JSON header, space-padded][raw little-endian tensor bytes]
//   header: {"__metadata__": {string: string}, "<tensor>": {"dtype": "F32", "shape": [..],
//            "data_offsets": [begin, end]}, ...}   offsets relative to the byte after the header;
//   tensors tile the data buffer in order with no gaps or overlaps.
//
// Metadata keys of hilq files (values are strings, JSON where structured):
//   format        "hilq.checkpoint.v1" (training state) or "hilq.packed.v1" (deployable model)
//   architecture  model config JSON (kind, sizes, rope, norm eps)
//   vocabulary    tokenizer JSON (model/tokenizer.h)
//   quant_config  canonical quant config JSON (model/quant_spec.h), packed files and QAT states
//   packing       {"<tensor base name>": {"format", "rows", "cols", "w_bits", "group", ...}}
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hilq::model {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

// Safetensors spelling ("F32", "I8", ...); nullptr for an invalid value.
const char* dtype_name(DType t);
// Bytes per element.
int dtype_size(DType t);
// Returns false for an unknown name.
bool dtype_from_name(const std::string& name, DType* out);

struct ModelTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // little-endian, numel * dtype_size bytes

  int64_t numel() const;
};

struct ModelFile {
  std::map<std::string, std::string> metadata;
  std::vector<ModelTensor> tensors;  // written in this order; names unique

  const ModelTensor* find(const std::string& name) const;
  // Appends a tensor copying n = numel(shape) elements from src (host little-endian).
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* src);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* src) {
    add(name, DType::kF32, std::move(shape), src);
  }
  // Copies an F32 tensor out; returns false (and says why) when absent or of another dtype/size.
  bool get_f32(const std::string& name, std::vector<float>* out, std::string* error) const;
  // Metadata value or "" when absent.
  std::string meta(const std::string& key) const;
};

// Largest header accepted: a bound against corrupt length fields (safetensors uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// All functions return "" on success, else what is wrong (file, tensor, field, value, rule).
std::string serialize_model_file(const ModelFile& file, std::vector<uint8_t>* out);
std::string parse_model_file(const uint8_t* bytes, size_t size, ModelFile* out);
std::string write_model_file(const std::string& path, const ModelFile& file);
std::string read_model_file(const std::string& path, ModelFile* out);

}  // namespace hilq::model
